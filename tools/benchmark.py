"""Benchmarks: `python -m tools.benchmark <name> [flags]`; each prints a table.

Names map to modules of `keras_sr.benchmarks` exposing `add_arguments(parser)`
and `run(args)`. Performance is shown here, never in timed tests.
"""

import argparse
import importlib
import sys

# name -> (module, help). Add a line for each benchmark module.
BENCHMARKS = {
    "train": ("keras_sr.benchmarks.train", "training throughput (patches/s) of the keras-sr training path"),
    "data": ("keras_sr.benchmarks.data", "input pipeline patches/s: tf.data TFRecord reader and PyDataset loader"),
    "refsr_matching": ("keras_sr.benchmarks.refsr_matching", "memory of RefSR patch matching, chunked vs full"),
    "tflite": ("keras_sr.benchmarks.tflite", "TFLite variants (float, fp16, dynamic, int8): size, PSNR vs Keras, latency"),
    "inference": ("keras_sr.benchmarks.inference", "inference time per image of registered models; SavedModel/TFLite check"),
    "quantization": ("keras_sr.benchmarks.quantization", "where TFLite int8 loses PSNR: per-tensor debugger and layer simulation"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHMARKS:
        names = ", ".join(BENCHMARKS) or "none yet"
        print(f"usage: python -m tools.benchmark NAME [flags]; NAME is one of: {names}", file=sys.stderr)
        return 0 if argv[:1] in ([], ["-h"], ["--help"]) else 2
    module_name, help_text = BENCHMARKS[argv[0]]
    module = importlib.import_module(module_name)
    parser = module.add_arguments(argparse.ArgumentParser(prog=f"tools.benchmark {argv[0]}", description=help_text))
    module.run(parser.parse_args(argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
