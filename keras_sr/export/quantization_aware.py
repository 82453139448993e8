"""Quantization-aware fine-tuning (QAT) for TFLite full-integer int8, written with `keras.ops`.

Jacob et al., "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference", CVPR 2018 (https://arxiv.org/abs/1712.05877):
the float model is trained with its int8 rounding simulated in the forward
pass ("fake quantization") and a straight-through estimator (STE) in the
backward pass, so that the weights learn to live with the rounding.

`QuantizationAwareModel(float_model)` runs the float model's own layers (it
shares their variables; the architecture and saved format do not change)
with fake quantization exactly where TFLite's int8 converter
(`keras_sr.export.tflite`, `quantize="int8"`) quantizes, for the linear
chains of classic SISR models (FSRCNN, ESPCN, SRCNN, ...):

* the model input (per-tensor asymmetric int8, calibrated min/max, widened
  to contain 0 as TFLite does);
* every Conv2D / Conv2DTranspose output. TFLite fuses ReLU / ReLU6 into the
  convolution (one quantized tensor, after the activation) but not tanh,
  sigmoid or PReLU: those are separate TANH / LOGISTIC / PRELU ops, so the
  pre-activation tensor is quantized too, then the activation output: tanh
  with TFLite's fixed scale 1/128 (zero point 0), sigmoid with 1/256 (zero
  point -128), PReLU with a calibrated range (its slopes per-tensor symmetric
  int8, scale max|alpha|/127);
* weights per output channel symmetric int8 (scale max|w|/127, values in
  [-127, 127]); biases int32 at scale input_scale * weight_scale;
* `Rescaling` is folded into a neighbouring convolution (no tensor of its
  own: `Rescaling(1/255)` before the first convolution, `Rescaling(255)`
  after FSRCNN's deconvolution, where the deconvolution output is not
  quantized but the rescaled one is); elsewhere (after ESPCN's
  `DepthToSpace`) it is a MUL whose output is quantized;
* `DepthToSpace` keeps its input's quantization (TFLite requires it).

Ranges are calibrated first as TFLite's calibrator does: the float model on
the representative crops (`keras_sr.export.tflite.representative_inputs`,
the very crops the converter uses), global min and max per tensor. During
fine-tuning they are either `frozen` (the default; `fine_tune` can
re-calibrate them on the same crops every N steps) or tracked by an
exponential moving average of batch min/max (`range_mode="ema"`). Frozen +
re-calibration is the default because it is what TFLite will compute: on
the ESPCN x3 preset the EMA of 200 training batches gives the pre-tanh
tensor +-3.25 where TFLite calibrates +-4.15, and the simulation with EMA
ranges scores 31.14 dB on Set5 where the TFLite int8 model scores 30.74
(with the calibrated ranges the simulation gives 30.74 too).

Range targets (`set_range_target`, `saturation_targets`): TFLite takes the
plain min/max, so a few outlier channels set the int8 step of a whole
tensor (ESPCN's second pre-tanh tensor: +-4.2 from 7 of 32 channels, most
channels within +-0.5). With `range_penalty` > 0 fine-tuning adds the
squared excess beyond the target to the loss, so the fine-tuned float model,
and with it TFLite's calibration, ends up with a tighter range.

After fine-tuning, `float_model_from(qat)` returns an ordinary float model
of the same config with the fine-tuned weights, which the existing int8
converter converts.

Example:
    >>> qat = QuantizationAwareModel(models.from_preset("espcn_x3"))
    >>> qat.calibrate(representative_inputs(["T91/HR"], scale=3, channels=1))
    >>> sr_int8_like = qat(lr_y[None])                     # what TFLite int8 would output
"""

import keras
import numpy as np
from keras import ops

from keras_sr import models
from keras_sr.layers.depth_to_space import DepthToSpace
from keras_sr.training.losses import get_loss


__all__ = ["fake_quant", "fake_quant_ste", "quant_params", "quantize_weights", "QuantizationAwareModel",
           "float_model_from", "quantization_points", "RANGE_MODES"]

QMIN, QMAX = -128, 127
RANGE_MODES = ("frozen", "ema")
# TFLite's fixed output quantization of the activation ops it does not fuse: (scale, zero point).
FIXED_OUTPUT = {"tanh": (1.0 / 128.0, 0), "sigmoid": (1.0 / 256.0, -128)}
FUSED_ACTIVATIONS = ("linear", "relu", "relu6")
_SUPPORTED = "Conv2D, Conv2DTranspose, PReLU, Activation, ReLU, Rescaling, DepthToSpace"


def quant_params(minimum, maximum):
    """TFLite's asymmetric int8 `(scale, zero_point)` of a `[minimum, maximum]` range (tensors or floats).

    The range is widened to contain 0, `scale = (max - min) / 255` and the
    zero point is `round(-128 - min / scale)` clipped to [-128, 127].
    """
    minimum = ops.minimum(ops.convert_to_tensor(minimum, "float32"), 0.0)
    maximum = ops.maximum(ops.convert_to_tensor(maximum, "float32"), 0.0)
    scale = ops.maximum((maximum - minimum) / float(QMAX - QMIN), 1e-12)
    zero_point = ops.clip(ops.round(QMIN - minimum / scale), QMIN, QMAX)
    return scale, zero_point


def fake_quant(x, scale, zero_point, qmin=QMIN, qmax=QMAX):
    """Quantize to int8 and back: `(clip(round(x / scale) + zp, qmin, qmax) - zp) * scale` (no gradient trick)."""
    q = ops.clip(ops.round(x / scale) + zero_point, qmin, qmax)
    return (q - zero_point) * scale


def fake_quant_ste(x, scale, zero_point, qmin=QMIN, qmax=QMAX):
    """`fake_quant` with the straight-through estimator: gradient 1 inside the int8 range, 0 outside."""
    lo = (qmin - zero_point) * scale
    hi = (qmax - zero_point) * scale
    clipped = ops.clip(x, lo, hi)
    return clipped + ops.stop_gradient(fake_quant(clipped, scale, zero_point, qmin, qmax) - clipped)


def quantize_weights(kernel, channel_axis):
    """`(fake-quantized kernel, per-channel scale)`: symmetric int8, scale `max|w| / 127` per output channel, STE."""
    rank = len(kernel.shape)
    channel_axis = channel_axis % rank
    axes = tuple(a for a in range(rank) if a != channel_axis)
    scale = ops.maximum(ops.max(ops.abs(kernel), axis=axes, keepdims=True) / 127.0, 1e-12)
    quantized = kernel + ops.stop_gradient(fake_quant(kernel, scale, 0.0, -127, 127) - kernel)
    return quantized, ops.reshape(scale, (-1,))


def _activation_name(activation):
    name = getattr(activation, "__name__", None) or str(activation)
    return name.split(".")[-1]


def _layer_kind(layer):
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return "conv_transpose"
    if isinstance(layer, keras.layers.Conv2D):
        return "conv"
    if isinstance(layer, keras.layers.PReLU):
        return "prelu"
    if isinstance(layer, keras.layers.Rescaling):
        return "rescaling"
    if isinstance(layer, DepthToSpace):
        return "depth_to_space"
    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    if isinstance(layer, keras.layers.Activation):
        return "activation"
    return None


def _chain(model):
    """The layers of a single-input, single-output linear functional model, in order (InputLayer excluded)."""
    label = getattr(model, "name", "model")
    if not isinstance(model, keras.Model) or not hasattr(model, "inputs") or model.inputs is None:
        raise ValueError(f"QuantizationAwareModel: {label} is not a functional keras.Model.")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"QuantizationAwareModel: {label} has {len(model.inputs)} inputs and {len(model.outputs)} "
                         "outputs; only single-input, single-output linear models are supported.")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = model.inputs[0]
    for layer in layers:
        if _layer_kind(layer) is None:
            raise ValueError(f"QuantizationAwareModel: layer {layer.name!r} ({type(layer).__name__}) of {label} is "
                             f"not supported (supported: {_SUPPORTED}).")
        if len(layer._inbound_nodes) != 1 or layer.input is not previous:
            raise ValueError(f"QuantizationAwareModel: {label} is not a linear chain at layer {layer.name!r} "
                             "(QAT supports the classic sequential SISR models).")
        previous = layer.output
    if previous is not model.outputs[0]:
        raise ValueError(f"QuantizationAwareModel: the last layer of {label} is not its output.")
    return layers


def quantization_points(model):
    """The plan: `[(layer, steps)]`, steps being what runs after the layer's op (see the module docstring).

    Each step is `("calibrated", name)` (an asymmetric int8 tensor with a
    calibrated range), `("fixed", name, scale, zero_point)` or
    `("activation", fn)` (an unfused activation applied between the two).
    The first entry is `(None, [("calibrated", "input")])`.
    """
    layers = _chain(model)
    kinds = [_layer_kind(layer) for layer in layers]
    plan = [(None, [("calibrated", "input")])]
    for i, (layer, kind) in enumerate(zip(layers, kinds)):
        nxt = kinds[i + 1] if i + 1 < len(kinds) else None
        prev = kinds[i - 1] if i > 0 else None
        steps = []
        if kind in ("conv", "conv_transpose"):
            act = _activation_name(layer.activation)
            if act in FUSED_ACTIVATIONS:
                # A linear convolution followed by Rescaling: the rescaling folds into it (no tensor between).
                if not (act == "linear" and nxt == "rescaling"):
                    steps.append(("calibrated", layer.name))
            else:
                steps.append(("calibrated", f"{layer.name}/pre_activation"))
                steps.append(("activation", layer.activation))
                steps.append(_activation_output(act, layer.name))
        elif kind == "rescaling":
            folded_before = prev in ("conv", "conv_transpose") and _activation_name(layers[i - 1].activation) == "linear"
            folded_after = nxt in ("conv", "conv_transpose") and not folded_before
            if folded_before or not folded_after:
                steps.append(("calibrated", layer.name))
        elif kind == "prelu":
            steps.append(("calibrated", layer.name))
        elif kind in ("activation", "relu"):
            act = "relu" if kind == "relu" else _activation_name(layer.activation)
            if act in FUSED_ACTIVATIONS and prev in ("conv", "conv_transpose") and act != "linear":
                # Fused into the preceding convolution: that convolution's tensor is this one.
                previous_steps = plan[-1][1]
                if previous_steps and previous_steps[-1][0] == "calibrated":
                    previous_steps.pop()
                steps.append(("calibrated", layer.name))
            elif act == "linear":
                pass
            else:
                steps.append(_activation_output(act, layer.name))
        plan.append((layer, steps))
    return plan


def _activation_output(act, name):
    if act in FIXED_OUTPUT:
        scale, zero_point = FIXED_OUTPUT[act]
        return ("fixed", f"{name}/{act}", scale, zero_point)
    return ("calibrated", f"{name}/{act}")


class QuantizationAwareModel(keras.Model):
    """The float model's layers with TFLite int8 fake quantization (see the module docstring).

    Args:
        float_model: a trained single-input, single-output linear functional
            model (its variables are shared, so fine-tuning this model
            fine-tunes it).
        range_mode: `"frozen"` (calibrated ranges stay fixed while training)
            or `"ema"` (ranges follow an exponential moving average of the
            training batches' min/max).
        ema_decay: decay of the `"ema"` ranges.
        quantize_weights: fake-quantize kernels, PReLU slopes and biases.
        quantize_activations: fake-quantize activations (False: the float model).
    """

    def __init__(self, float_model, range_mode="frozen", ema_decay=0.999, quantize_weights=True,
                 quantize_activations=True, range_penalty=0.0, name=None, **kwargs):
        super().__init__(name=name or f"{float_model.name}_qat", **kwargs)
        if range_mode not in RANGE_MODES:
            raise ValueError(f"QuantizationAwareModel: range_mode={range_mode!r}; choose from {', '.join(RANGE_MODES)}.")
        self.float_model = float_model
        self.range_mode = range_mode
        self.ema_decay = float(ema_decay)
        self.weights_quantized = bool(quantize_weights)
        self.activations_quantized = bool(quantize_activations)
        self.plan = quantization_points(float_model)
        self.range_names = [s[1] for _, steps in self.plan for s in steps if s[0] == "calibrated"]
        self.ranges = {}
        for index, point in enumerate(self.range_names):
            self.ranges[point] = (
                self.add_weight(shape=(), initializer="zeros", trainable=False, name=f"range_min_{index}"),
                self.add_weight(shape=(), initializer="zeros", trainable=False, name=f"range_max_{index}"))
        self.calibrated = False
        # Range targets (`set_range_target`): while training, `range_penalty` * (per-sample sum of squared
        # excesses of the float tensor beyond its target + the batch's largest excess squared), so that TFLite's min/max calibration of the fine-tuned model finds a
        # tighter range (a finer int8 step) there.
        self.range_penalty = float(range_penalty)
        self.range_targets = {}

    # -- ranges -------------------------------------------------------------------------------------------

    def calibrate(self, batches):
        """Set every calibrated range to the global min/max of the float model over `batches` (TFLite's calibrator).

        `batches`: an iterable of model inputs `(N, H, W, C)` in [0, 255].
        Returns `{point: (min, max)}`.
        """
        lows = {p: np.inf for p in self.range_names}
        highs = {p: -np.inf for p in self.range_names}
        count = 0
        for batch in batches:
            count += 1
            for point, value in self._float_tensors(ops.convert_to_tensor(np.asarray(batch, np.float32))):
                value = ops.convert_to_numpy(value)
                lows[point] = min(lows[point], float(value.min()))
                highs[point] = max(highs[point], float(value.max()))
        if not count:
            raise ValueError("QuantizationAwareModel.calibrate: no calibration batch given.")
        for point in self.range_names:
            self.ranges[point][0].assign(lows[point])
            self.ranges[point][1].assign(highs[point])
        self.calibrated = True
        return self.range_values()

    def set_range_target(self, point, minimum, maximum):
        """Ask fine-tuning to keep the float tensor at `point` inside `[minimum, maximum]` (see `range_penalty`)."""
        if point not in self.ranges:
            raise ValueError(f"QuantizationAwareModel: no quantized tensor {point!r}; "
                             f"tensors: {', '.join(self.range_names)}.")
        if not minimum < maximum:
            raise ValueError(f"QuantizationAwareModel: range target of {point!r} needs minimum < maximum, "
                             f"got [{minimum}, {maximum}].")
        self.range_targets[point] = (float(minimum), float(maximum))

    def saturation_targets(self, bound=1.5):
        """Range targets `[-bound, bound]` for every tensor before a tanh (where TFLite's min/max wastes levels).

        Pre-tanh values beyond about +-2.6 all give the same int8 tanh output
        (127/128 or -1), so a calibrated range of +-4 spends a third of the
        256 levels on values that make no difference. Returns the targets set.
        """
        for _, steps in self.plan:
            for i, step in enumerate(steps):
                if step[0] == "calibrated" and step[1].endswith("/pre_activation") and i + 1 < len(steps) \
                        and _activation_name(steps[i + 1][1]) == "tanh":
                    self.set_range_target(step[1], -bound, bound)
        return dict(self.range_targets)

    def range_values(self):
        """`{point: (min, max)}` as floats."""
        return {p: (float(ops.convert_to_numpy(lo)), float(ops.convert_to_numpy(hi))) for p, (lo, hi) in
                self.ranges.items()}

    def quantization(self):
        """`{point: (scale, zero_point)}` as floats, for comparison with the TFLite model's tensors."""
        out = {}
        for point, (lo, hi) in self.ranges.items():
            scale, zp = quant_params(lo, hi)
            out[point] = (float(ops.convert_to_numpy(scale)), int(ops.convert_to_numpy(zp)))
        return out

    def _float_tensors(self, x):
        """`[(point, tensor)]` of the float model: the tensors TFLite's calibrator observes."""
        found = []
        for layer, steps in self.plan:
            if layer is not None:
                x = self._layer_op(layer, x, None, quantize=False)
            for step in steps:
                if step[0] == "calibrated":
                    found.append((step[1], x))
                elif step[0] == "activation":
                    x = step[1](x)
        return found

    # -- forward ------------------------------------------------------------------------------------------

    def _kernel(self, layer, axis):
        if not self.weights_quantized:
            return layer.kernel, None
        return quantize_weights(layer.kernel, axis)

    def _bias(self, layer, in_scale, w_scale):
        bias = layer.bias
        if not self.weights_quantized or in_scale is None or w_scale is None:
            return bias
        scale = in_scale * w_scale
        return bias + ops.stop_gradient(ops.round(bias / scale) * scale - bias)

    def _layer_op(self, layer, x, in_scale, quantize=True):
        """The layer's computation up to (not including) an unfused activation."""
        kind = _layer_kind(layer)
        if kind in ("conv", "conv_transpose"):
            if quantize:
                kernel, w_scale = self._kernel(layer, -1 if kind == "conv" else -2)
            else:
                kernel, w_scale = layer.kernel, None
            if kind == "conv":
                y = layer.convolution_op(x, kernel)
            else:
                y = ops.conv_transpose(x, kernel, strides=list(layer.strides), padding=layer.padding,
                                       output_padding=layer.output_padding, dilation_rate=layer.dilation_rate,
                                       data_format=layer.data_format)
            if layer.use_bias:
                bias = self._bias(layer, in_scale, w_scale) if quantize else layer.bias
                shape = (1, 1, 1, layer.filters) if layer.data_format == "channels_last" else (1, layer.filters, 1, 1)
                y = y + ops.reshape(bias, shape)
            act = _activation_name(layer.activation)
            if act in FUSED_ACTIVATIONS and act != "linear":
                y = layer.activation(y)
            return y
        if kind == "prelu":
            alpha = layer.alpha
            if quantize and self.weights_quantized:
                scale = ops.maximum(ops.max(ops.abs(alpha)) / 127.0, 1e-12)
                alpha = alpha + ops.stop_gradient(fake_quant(alpha, scale, 0.0, -127, 127) - alpha)
            return ops.relu(x) - alpha * ops.relu(-x)
        if kind == "activation":
            act = _activation_name(layer.activation)
            return layer(x) if act in FUSED_ACTIVATIONS else x
        return layer(x)  # rescaling, depth_to_space, relu

    def _quantize_point(self, x, point, training):
        lo_var, hi_var = self.ranges[point]
        if training and self.range_penalty and point in self.range_targets:
            low, high = self.range_targets[point]
            excess = ops.relu(x - high) + ops.relu(low - x)
            # Per sample: the sum of squared excesses (rare outliers set the range) plus the batch maximum's.
            per_sample = ops.mean(ops.sum(ops.reshape(ops.square(excess), (ops.shape(x)[0], -1)), axis=1))
            self.add_loss(self.range_penalty * (per_sample + ops.square(ops.max(excess))))
        lo, hi = lo_var, hi_var
        if training and self.range_mode == "ema":
            d = self.ema_decay
            lo = d * lo_var + (1.0 - d) * ops.stop_gradient(ops.min(x))
            hi = d * hi_var + (1.0 - d) * ops.stop_gradient(ops.max(x))
            lo_var.assign(lo)
            hi_var.assign(hi)
        scale, zero_point = quant_params(lo, hi)
        return fake_quant_ste(x, scale, zero_point), scale

    def call(self, inputs, training=False):
        x = ops.convert_to_tensor(inputs, "float32")
        in_scale = None  # the scale of the quantized tensor feeding the next op, through folded rescalings
        for layer, steps in self.plan:
            if layer is not None:
                x = self._layer_op(layer, x, in_scale)
                kind = _layer_kind(layer)
                if kind == "rescaling" and in_scale is not None:
                    in_scale = in_scale * float(layer.scale)
                elif kind in ("conv", "conv_transpose", "prelu"):
                    in_scale = None
            for step in steps:
                if step[0] == "activation":
                    x = step[1](x)
                    in_scale = None
                elif not self.activations_quantized:
                    continue
                elif step[0] == "calibrated":
                    x, in_scale = self._quantize_point(x, step[1], training)
                else:  # fixed
                    _, _, scale, zero_point = step
                    x = fake_quant_ste(x, scale, float(zero_point))
                    in_scale = scale
        return x

    def compute_output_shape(self, input_shape):
        return self.float_model.compute_output_shape(input_shape)

    @property
    def input_shape(self):
        """The float model's input shape (`keras_sr.upscalers.model_upscaler` reads it)."""
        return self.float_model.input_shape


def float_model_from(qat_or_model, builder=None, config=None):
    """An ordinary float model of the same config holding the (fine-tuned) weights of `qat_or_model`.

    `builder`/`config`: a registered model name and its builder config
    (`keras_sr.models.build(builder, **config)`); by default the float
    model is re-created from its own Keras config (`keras.Model.from_config`).
    """
    source = qat_or_model.float_model if isinstance(qat_or_model, QuantizationAwareModel) else qat_or_model
    if builder is not None:
        target = models.build(builder, **(config or {}))
    else:
        target = source.__class__.from_config(source.get_config())
    target.set_weights(source.get_weights())
    return target


def fine_tune(qat, train_data, steps, learning_rate=1e-4, loss="l2", final_learning_rate=None,
              recalibrate_every=0, calibration=None, verbose=0, log=None):
    """Fine-tune a calibrated `QuantizationAwareModel` for `steps` optimizer steps; returns the loss history.

    `train_data` yields `(lr, hr)` batches in [0, 255] (`keras_sr.training.data.make_train_data`);
    Adam with a cosine decay from `learning_rate` to `final_learning_rate`
    (default a tenth of it) and the recipe's pixel `loss`. With
    `recalibrate_every` > 0 the ranges are re-calibrated on `calibration`
    (the representative crops) every that many steps, as TFLite will on the
    fine-tuned float model.
    """
    if not qat.calibrated:
        raise ValueError("fine_tune: calibrate the QuantizationAwareModel first (qat.calibrate(crops)).")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"fine_tune: steps must be at least 1, got {steps}.")
    final = learning_rate / 10.0 if final_learning_rate is None else final_learning_rate
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=final / learning_rate)
    qat.compile(optimizer=keras.optimizers.Adam(schedule), loss=get_loss(loss))
    chunk = int(recalibrate_every) if recalibrate_every else min(steps, 100)
    epochs = -(-steps // chunk)

    class _Hook(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(ops.convert_to_numpy(self.model.optimizer.iterations)) >= steps:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if recalibrate_every and calibration is not None:
                qat.calibrate(calibration)
            if log:
                ranges = qat.range_values()
                targets = "".join(f"; {p} range [{ranges[p][0]:.3g}, {ranges[p][1]:.3g}]" for p in qat.range_targets)
                log(f"QAT step {min(steps, (epoch + 1) * chunk)}/{steps}: loss "
                    f"{(logs or {}).get('loss', float('nan')):.4g}{targets}")

    fit = qat.fit(train_data, steps_per_epoch=chunk, epochs=epochs, verbose=verbose, callbacks=[_Hook()])
    return fit.history.get("loss", [])
