"""The export commands `python -m keras_sr.export.saved_model` and `python -m keras_sr.export.onnx` (argparse).

Example:
    python -m keras_sr.export.saved_model --model run/final.keras --out exported/sm
    python -m keras_sr.export.onnx --model run/final.keras --out model.onnx
"""

import argparse

from keras_sr.export import onnx, saved_model

__all__ = ["saved_model_main", "onnx_main"]


def saved_model_main(argv=None):
    """`python -m keras_sr.export.saved_model --model FILE.keras --out DIR`."""
    parser = argparse.ArgumentParser(prog="keras_sr.export.saved_model",
                                     description=saved_model.__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help=".keras file")
    parser.add_argument("--out", required=True, help="SavedModel folder to write")
    args = parser.parse_args(argv)
    saved_model.export_saved_model(args.model, args.out)
    return 0


def onnx_main(argv=None):
    """`python -m keras_sr.export.onnx --model FILE.keras --out FILE.onnx [--opset N]`."""
    parser = argparse.ArgumentParser(prog="keras_sr.export.onnx", description=onnx.__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help=".keras file")
    parser.add_argument("--out", required=True, help=".onnx file to write")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: tf2onnx's)")
    args = parser.parse_args(argv)
    onnx.export_onnx(args.model, args.out, args.opset)
    return 0
