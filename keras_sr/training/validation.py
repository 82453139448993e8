"""Validation during training with the evaluation protocol of `tools.evaluate`.

Every `every` steps (checked at epoch ends) and at the end of training, each
held-out image pair `(lr_uint8, hr_uint8)` from
`keras_sr.data.sources.load_validation_pairs` (modcrop + MATLAB bicubic,
`keras_sr.degradation.degrade`) is upscaled whole by the model (with its EMA
weights when EMA is on) and scored by `keras_sr.scoring.score_pair` (PSNR
and SSIM on Y, border = scale). The means go into the epoch logs as
`val_psnr` / `val_ssim` (so the checkpoint callback can keep the best model,
and CSV/TensorBoard loggers see them); the bicubic scores of the same pairs
are computed once for comparison.

Example:
    >>> pairs = load_validation_pairs(split.val, scale=4)
    >>> callback = ValidationCallback(pairs, scale=4, every=1000)
    >>> scores = evaluate_pairs(model, pairs, 4)       # {"psnr":..., "ssim":..., "images": [...]}
"""

import keras

from keras_sr.models.query_inference import is_query_model, query_upscaler
from keras_sr.scoring import score_examples
from keras_sr.upscalers import bicubic_upscaler, rgb_or_y


__all__ = ["predict_image", "evaluate_pairs", "bicubic_scores", "ValidationCallback"]


def predict_image(model, lr, scale):
    """`model` on one RGB uint8 LR image -> RGB float SR; Y (1-channel) models get Y, Cb/Cr go bicubic;
    arbitrary-scale models (inputs lr, coord, cell) are queried at every output pixel.

    The same rule as `keras_sr.upscalers` (the evaluation protocol), so
    validation during training scores Y-channel models (SRCNN, FSRCNN, ...)
    exactly as `tools.evaluate` does.
    """
    if is_query_model(model):  # LIIF / Meta-SR: the query grid of the output size, as tools.evaluate
        return query_upscaler(model)(lr, scale)

    def predict(batch):
        return keras.ops.convert_to_numpy(model(batch, training=False))

    return rgb_or_y(predict, int(model.input_shape[-1]), lr, int(scale))


def evaluate_pairs(model, pairs, scale, y_only=True, keep_outputs=False):
    """PSNR/SSIM of `model` over `(lr, hr)` uint8 pairs (`keras_sr.scoring.score_examples`: Y, border = scale)."""
    return score_examples(lambda lr, s: predict_image(model, lr, s), pairs, scale, y_only, keep_outputs)


def bicubic_scores(pairs, scale, y_only=True):
    """The bicubic baseline's PSNR/SSIM on the same pairs (or `(lr, hr, ref)` triples: the reference is unused)."""
    return score_examples(bicubic_upscaler, [example[:2] for example in pairs], scale, y_only)


class ValidationCallback(keras.callbacks.Callback):
    """Scores the held-out pairs every `every` steps and at the end; adds `val_psnr`/`val_ssim` to the logs.

    Args:
        pairs: `[(lr_uint8, hr_uint8), ...]`.
        scale: the SR scale (also the cropped border).
        every: interval in optimizer steps.
        total_steps: the planned number of steps (validation always runs there).
        weights_context: `callable(model)` returning a context manager that
            swaps the EMA weights in (`keras_sr.training.ema.ema_weights`).
        on_result: `callable(step, scores)` after each validation (e.g. image summaries).
        log: `callable(str)` for one line per validation (None: silent).
    """

    def __init__(self, pairs, scale, every, total_steps, y_only=True, weights_context=None, on_result=None, log=print):
        super().__init__()
        self.pairs = list(pairs)
        self.scale = int(scale)
        self.every = int(every)
        self.total_steps = int(total_steps)
        self.y_only = y_only
        self.weights_context = weights_context
        self.on_result = on_result
        self.log = log
        self.history = []
        self.bicubic = bicubic_scores(self.pairs, self.scale, y_only) if self.pairs else None

    def _step(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def scored_model(self):
        """The model scored at each validation: the model being trained (subclasses may score another)."""
        return self.model

    def validate(self, step):
        import contextlib

        model = self.scored_model()
        context = self.weights_context(model) if self.weights_context else contextlib.nullcontext()
        with context:
            scores = evaluate_pairs(model, self.pairs, self.scale, self.y_only, keep_outputs=self.on_result is not None)
        outputs = scores.pop("outputs", None)
        entry = {"step": step, "psnr": scores["psnr"], "ssim": scores["ssim"], "seconds": scores["seconds"]}
        self.history.append(entry)
        if self.log:
            self.log(f"step {step}: held-out PSNR {scores['psnr']:.2f} dB / SSIM {scores['ssim']:.4f} "
                     f"(bicubic {self.bicubic['psnr']:.2f} / {self.bicubic['ssim']:.4f}, {len(self.pairs)} images)")
        if self.on_result:
            self.on_result(step, {**scores, "outputs": outputs})
        return entry

    def on_epoch_end(self, epoch, logs=None):
        if not self.pairs:
            return
        step = self._step()
        if step % self.every == 0 or step >= self.total_steps:
            entry = self.validate(step)
            if logs is not None:
                logs["val_psnr"] = entry["psnr"]
                logs["val_ssim"] = entry["ssim"]
