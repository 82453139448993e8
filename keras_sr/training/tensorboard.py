"""TensorBoard scalars and image summaries for any Keras backend, written with TensorFlow's core writer.

`keras.callbacks.TensorBoard` needs the separate `tensorboard` package for its
summary ops; this writer uses only `tf.summary.create_file_writer` /
`tf.summary.write` with the scalar and image plugin metadata, so it works
wherever TensorFlow (a keras-sr dependency) imports, whichever backend trains.
With a non-TensorFlow backend TensorFlow is kept off the GPUs.

Logged: `train/loss`, `train/learning_rate` every epoch (= checkpoint grid),
`val/psnr`, `val/ssim`, `val/bicubic_psnr` and an image strip per validation
(LR nearest | bicubic | SR | HR crops of the first held-out image).

Example:
    >>> board = TensorBoardLogger("runs/x/tensorboard")
    >>> model.fit(..., callbacks=[board])
    >>> board.images(step, "val/comparison", [strip_uint8])
"""

import io

import numpy as np

import keras
from keras_sr.training.report import comparison_image

__all__ = ["TensorBoardLogger", "import_tensorflow_for_logging", "open_run_logger", "validation_image_hook"]


def import_tensorflow_for_logging():
    """TensorFlow, kept off the accelerators when it is not the Keras backend; None if missing."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    if keras.backend.backend() != "tensorflow":
        try:
            tf.config.set_visible_devices([], "GPU")
        except (RuntimeError, ValueError):  # already initialized
            pass
    return tf


def _metadata(plugin):
    from tensorflow.core.framework import summary_pb2

    data_class = summary_pb2.DATA_CLASS_SCALAR if plugin == "scalars" else summary_pb2.DATA_CLASS_BLOB_SEQUENCE
    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin),
                                       data_class=data_class)


def _png(img):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(img, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


class TensorBoardLogger(keras.callbacks.Callback):
    """Writes scalars at epoch ends and images on request to `log_dir` (event files)."""

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self.tf = import_tensorflow_for_logging()
        self.writer = self.tf.summary.create_file_writer(log_dir) if self.tf is not None else None

    @property
    def enabled(self):
        return self.writer is not None

    def scalars(self, step, values):
        if not self.enabled:
            return
        tf = self.tf
        with self.writer.as_default():
            for tag, value in values.items():
                tf.summary.write(tag, tf.constant(float(value), tf.float32), step=int(step), metadata=_metadata("scalars"))
        self.writer.flush()

    def images(self, step, tag, images):
        """`images`: list of uint8 HxWx3 arrays, one summary holding all of them."""
        if not self.enabled or not images:
            return
        tf = self.tf
        h, w = images[0].shape[:2]
        blob = tf.constant([str(w).encode(), str(h).encode(), *[_png(img) for img in images]])
        with self.writer.as_default():
            tf.summary.write(tag, blob, step=int(step), metadata=_metadata("images"))
        self.writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        values = {}
        for key, value in logs.items():
            if isinstance(value, (int, float, np.floating, np.integer)) or np.ndim(value) == 0:
                tag = f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"
                values[tag] = float(value)
        lr = self.model.optimizer.learning_rate
        values["train/learning_rate"] = float(keras.ops.convert_to_numpy(lr))
        self.scalars(step, values)

    def on_train_end(self, logs=None):
        if self.enabled:
            self.writer.flush()


def open_run_logger(out, enabled=True, log=None):
    """The run's `TensorBoardLogger` under `out/tensorboard`, or None (off, or TensorFlow not importable)."""
    import os

    if not enabled:
        return None
    board = TensorBoardLogger(os.path.join(out, "tensorboard"))
    if not board.enabled:
        if log:
            log("TensorBoard logging off: TensorFlow is not importable")
        return None
    return board


def validation_image_hook(board, val_pairs, scale, enabled=True):
    """`on_result(step, scores)` for `ValidationCallback`: an LR / bicubic / SR / HR strip of the first pair."""

    def on_validation(step, scores):
        if board is None or not enabled or not scores.get("outputs"):
            return
        lr, hr = val_pairs[0]
        strip = comparison_image(lr, hr, scores["outputs"][0], scale, zoom=1)
        board.images(step, "val/lr_bicubic_sr_hr", [strip])

    return on_validation
