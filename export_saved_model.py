"""Export a trained keras-sr model as a SavedModel (and optionally TFLite and ONNX).

    python export_saved_model.py --run runs/edsr_x4 [--tflite float fp16 dynamic int8] [--onnx]
    python export_saved_model.py --model model.keras --out exported/edsr_x4 [--tflite int8 \\
        --representative-data ../shared/data/T91/HR] [--onnx]

`--run DIR` reads `DIR/final.keras` and writes `DIR/saved_model` (and
`DIR/model[_fp16|_dynamic|_int8].tflite`, `DIR/model.onnx`); `--model FILE
--out DIR` exports any `.keras` file, the TFLite and ONNX files going beside
the `DIR` folder (into its parent). The SavedModel has three signatures
(`keras_sr.export.saved_model`): `serving_default` (float32 `[1, H, W, C]`
in 0-255, dynamic H and W -> `sr`), `upscale_uint8` (uint8 RGB -> uint8
RGB) and `upscale_bytes` (encoded images -> PNG, for TF Serving). TFLite
variants (`keras_sr.export.tflite`): `float`, `fp16`, `dynamic`
(dynamic-range, int8 weights) and `int8` (full integer, calibrated on
`--representative-data` image folders/files, else on the embedded
scikit-image photographs). `--onnx` needs the `onnx` extra
(`keras_sr.export.onnx`). Runs on the TensorFlow backend (set here unless
KERAS_BACKEND says otherwise, in which case the export runs in a TensorFlow
subprocess).
"""

import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tflite_name(quantize):
    from keras_sr.export.tflite import tflite_filename

    return tflite_filename(quantize)


def main(argv=None):
    from keras_sr.export.tflite import QUANTIZATIONS

    parser = argparse.ArgumentParser(prog="export_saved_model.py", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a training run directory (uses its final.keras)")
    source.add_argument("--model", help="a .keras model file")
    parser.add_argument("--out", help="SavedModel folder (default: RUN/saved_model; required with --model)")
    parser.add_argument("--tflite", nargs="+", action="extend", choices=QUANTIZATIONS, metavar="VARIANT",
                        help=f"also write TFLite files beside the SavedModel, one per variant ({', '.join(QUANTIZATIONS)})")
    parser.add_argument("--representative-data", nargs="+", metavar="DIR_OR_FILE", default=None,
                        help="HR training images (folders or files) to calibrate --tflite int8 "
                             "(default: the embedded scikit-image photographs)")
    parser.add_argument("--onnx", action="store_true", help="also write model.onnx (needs tf2onnx, onnxruntime)")
    args = parser.parse_args(argv)
    if args.run:
        model_path = os.path.join(args.run, "final.keras")
        out = args.out or os.path.join(args.run, "saved_model")
        if not os.path.isfile(model_path):
            parser.error(f"{args.run}: no final.keras (is it a finished keras-sr training run?)")
    else:
        model_path, out = args.model, args.out
        if not out:
            parser.error("--out is required with --model")
        if not os.path.isfile(model_path):
            parser.error(f"{model_path}: no such file")
    if args.representative_data and "int8" not in (args.tflite or []):
        parser.error("--representative-data calibrates --tflite int8; add --tflite int8")
    for entry in args.representative_data or []:
        if not os.path.exists(entry):
            parser.error(f"--representative-data {entry}: no such file or folder")
    if args.onnx:
        import importlib.util

        missing = [name for name in ("tf2onnx", "onnx") if importlib.util.find_spec(name) is None]
        if missing:
            parser.error(f"--onnx needs {' and '.join(missing)}: pip install \"keras-sr[onnx]\"")
    from keras_sr.export.saved_model import export_saved_model

    export_saved_model(model_path, out)
    print(f"SavedModel: {out} (signatures serving_default: image float32 [1, H, W, C] in 0-255 -> sr; "
          "upscale_uint8: image uint8 [1, H, W, 3] -> sr; upscale_bytes: image_bytes [N] PNG/JPEG -> sr_bytes PNG)")
    folder = os.path.dirname(os.path.abspath(out))
    if args.tflite:
        from keras_sr.export.tflite import convert_saved_model

        for quantize in dict.fromkeys(args.tflite):  # in order, once each
            path = os.path.join(folder, tflite_name(quantize))
            convert_saved_model(out, path, quantize, representative_data=args.representative_data)
            print(f"TFLite ({quantize}): {path}")
    if args.onnx:
        from keras_sr.export.onnx import export_onnx

        path = export_onnx(model_path, os.path.join(folder, "model.onnx"))
        print(f"ONNX: {path} (input image [1, height, width, C] float32 -> sr; checked with onnxruntime when installed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
