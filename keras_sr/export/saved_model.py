"""SavedModel export with a serving signature for whole images of any size (TensorFlow only).

The exported SavedModel has one endpoint, `serve`, also the `serving_default`
signature: input `image`, float32 `[1, H, W, C]` in [0, 255] with dynamic
`H` and `W`; output `sr`, float32 `[1, s*H, s*W, C]` (not clipped or
rounded). It is written with `keras.export.ExportArchive` into a temporary
folder and renamed into place, so a kill never leaves a half-written export.

Export needs the TensorFlow backend. From a JAX or PyTorch process,
`export_saved_model` saves the model as `.keras` and runs the export in a
`KERAS_BACKEND=tensorflow` subprocess (the `.keras` format is backend
neutral).

Example:
    >>> export_saved_model(model, "runs/x/saved_model")
    >>> fn = tf.saved_model.load("runs/x/saved_model").signatures["serving_default"]
    >>> fn(image=tf.zeros([1, 50, 70, 3]))["sr"].shape      # (1, 200, 280, 3) for x4
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

__all__ = ["export_saved_model", "main"]


def _replace_dir(tmp, out_dir):
    old = None
    if os.path.exists(out_dir):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old.", dir=os.path.dirname(out_dir))
        os.rmdir(old)
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _export_tf(model, out_dir):
    import tensorflow as tf

    import keras

    channels = int(model.input_shape[-1])
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(image):
        return {"sr": model(image, training=False)}

    archive.add_endpoint("serve", serve, input_signature=[tf.TensorSpec([1, None, None, channels], tf.float32,
                                                                          name="image")])
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.", suffix=".tmp", dir=parent)
    try:
        archive.write_out(tmp, verbose=False)
        _replace_dir(tmp, os.path.abspath(out_dir))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def export_saved_model(model, out_dir):
    """Export `model` (a `keras.Model` or a `.keras` path) as a SavedModel folder; returns `out_dir`."""
    import keras

    if keras.backend.backend() == "tensorflow":
        if isinstance(model, (str, os.PathLike)):
            from keras_sr.models.inference import load_model

            model = load_model(os.fspath(model))
        return _export_tf(model, out_dir)
    with tempfile.TemporaryDirectory() as scratch:
        path = model if isinstance(model, (str, os.PathLike)) else os.path.join(scratch, "model.keras")
        if not isinstance(model, (str, os.PathLike)):
            model.save(path)
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        subprocess.run([sys.executable, "-m", "keras_sr.export.saved_model", "--model", os.fspath(path),
                        "--out", os.fspath(out_dir)], check=True, env=env)
    return out_dir


def main(argv=None):
    parser = argparse.ArgumentParser(prog="keras_sr.export.saved_model", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help=".keras file")
    parser.add_argument("--out", required=True, help="SavedModel folder to write")
    args = parser.parse_args(argv)
    export_saved_model(args.model, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
