"""Export a trained keras-sr model as a SavedModel (and optionally TFLite).

    python export_saved_model.py --run runs/edsr_x4 [--tflite float|fp16|int8]
    python export_saved_model.py --model model.keras --out exported/edsr_x4 [--tflite fp16]

`--run DIR` reads `DIR/final.keras` and writes `DIR/saved_model` (and
`DIR/model[_fp16|_int8].tflite`); `--model FILE --out DIR` exports any
`.keras` file. The serving signature takes a float32 `[1, H, W, 3]` image in
0-255 with dynamic H and W and returns the SR image (`sr`). Runs on the
TensorFlow backend (set here unless KERAS_BACKEND says otherwise, in which
case the export runs in a TensorFlow subprocess).
"""

import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tflite_name(quantize):
    return "model.tflite" if quantize == "float" else f"model_{quantize}.tflite"


def main(argv=None):
    from keras_sr.export.tflite import QUANTIZATIONS

    parser = argparse.ArgumentParser(prog="export_saved_model.py", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a training run directory (uses its final.keras)")
    source.add_argument("--model", help="a .keras model file")
    parser.add_argument("--out", help="SavedModel folder (default: RUN/saved_model; required with --model)")
    parser.add_argument("--tflite", choices=QUANTIZATIONS, help="also write a TFLite file beside the SavedModel")
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
    from keras_sr.export.saved_model import export_saved_model

    export_saved_model(model_path, out)
    print(f"SavedModel: {out} (serving_default: image float32 [1, H, W, 3] in 0-255 -> sr)")
    if args.tflite:
        from keras_sr.export.tflite import convert_saved_model

        path = os.path.join(os.path.dirname(os.path.abspath(out)), tflite_name(args.tflite))
        convert_saved_model(out, path, args.tflite)
        print(f"TFLite ({args.tflite}): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
