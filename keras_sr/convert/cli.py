"""`keras-sr convert CKPT [--model NAME] --out FILE.keras`: a released PyTorch checkpoint as a keras-sr model.

Detects the architecture and hyperparameters from the checkpoint's keys and
shapes (`keras_sr.convert.detect`), converts every weight, checks that all keys
were used, prints what was detected and saves the registered keras-sr model as
`.keras` (loadable with `safe_mode=True`; `keras-sr evaluate --model FILE.keras`,
`keras-sr upscale`, `export_saved_model.py --model FILE.keras` take it as is).

Example:
    $ keras-sr convert RealESRGAN_x4plus.pth --out realesrgan_x4plus.keras
    $ keras-sr convert mdsr_baseline-a00cab12.pt --scale 4 --out mdsr_baseline_x4.keras
    $ keras-sr convert edsr_x4-4f62e9ef.pt --model edsr --out edsr_x4.keras
    $ keras-sr convert c2_matching_restoration.pth feature_extraction.pth vgg19-dcbb9e9d.pth --out c2.keras
    $ keras-sr convert ConVAE_4x.pth vgg_r41.pth --model refvae --scale 4 --out refvae_x4.keras
"""

import json
import os
import sys

__all__ = ["add_arguments", "run"]


def add_arguments(parser):
    parser.add_argument("checkpoint", nargs="+",
                        help=".pth / .pt / .safetensors file(s) or a TF1 checkpoint (prefix, .index, or its "
                             "directory); several are merged into one state dict "
                             "(C2-Matching, DATSR: restoration, feature extraction, torchvision VGG19)")
    parser.add_argument("--model", default=None, metavar="NAME",
                        help="converter to use instead of detection (edsr, mdsr, rdn, rcan, esrgan, msrresnet, "
                             "swinir, hat, ttsr, c2_matching, liif, meta_rdn, wdsr, ...: keras_sr.convert.list_converters())")
    parser.add_argument("--out", required=True, help="the .keras file to write")
    parser.add_argument("--scale", type=int, default=None,
                        help="MDSR: keep only this scale's branch (single-output model, as evaluate/upscale take); "
                             "GLEAN, RefVAE: the scale, which the weights cannot show (RefVAE: 8 or 4, default "
                             "from the file name, else 8)")
    parser.add_argument("--res-scale", type=float, default=None,
                        help="EDSR / WDSR: residual scaling, which the weights cannot show (EDSR: default 0.1 for "
                             "256 filters, else 1; WDSR: default 1)")
    parser.add_argument("--act-type", default=None, choices=("relu", "leakyrelu", "prelu"),
                        help="SRVGGNetCompact without PReLU weights: its activation, which the weights cannot show")
    parser.add_argument("--min-disparity", type=float, default=None,
                        help="Cross-MPI: the plane sweep's nearest disparity in HR pixels (not in the weights)")
    parser.add_argument("--max-disparity", type=float, default=None,
                        help="Cross-MPI: the plane sweep's farthest disparity in HR pixels (not in the weights)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    return parser


def run(args):
    from keras_sr.convert import CheckpointMismatch, builder_config, detect, from_checkpoint, read_checkpoint

    if not args.out.endswith(".keras"):
        raise SystemExit(f"error: --out must end in .keras, got {args.out!r}")
    if os.path.exists(args.out) and not args.overwrite:
        raise SystemExit(f"error: {args.out} exists (pass --overwrite to replace it)")
    overrides = {k: v for k, v in (("scale", args.scale), ("res_scale", args.res_scale),
                                                   ("act_type", args.act_type),
                                                   ("min_disparity", args.min_disparity),
                                                   ("max_disparity", args.max_disparity)) if v is not None}
    try:
        checkpoint = args.checkpoint[0] if len(args.checkpoint) == 1 else args.checkpoint
        state = read_checkpoint(checkpoint)
        converter, found = detect(state, args.model)
        model = from_checkpoint(state, converter, **overrides)
    except (CheckpointMismatch, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2)
    config = builder_config(found, overrides)
    print(f"{state.source}: {converter} layout -> keras-sr {found['model']!r} "
          f"{json.dumps(config, default=list)} ({model.count_params():,} parameters, {len(state.used)} tensors)")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    model.save(args.out)
    print(f"wrote {args.out}")
