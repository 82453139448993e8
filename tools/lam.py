"""Local Attribution Map of SR models for one HR window: `python -m tools.lam --model NAME --image FILE --window X Y`.

The HR image is modcropped to the scale (optionally cut to `--crop` pixels
around the window first, as the official demo works on 256x256 crops), the LR
image is the evaluation protocol's MATLAB bicubic downscale, and for each
`--model` (a preset, a registered model with `--weights`, or a .keras file)
`keras_sr.analysis.lam` attributes the window's summed gradient magnitude to
the LR pixels. Y-channel models get the LR luma in [16, 235] (as
`keras_sr.upscalers.rgb_or_y`). The PNG holds the HR image with the
window, then one heat map over the enlarged LR image per model; the Diffusion
Index of each model is printed and written above its panel.

Example:
    $ python -m tools.lam --model edsr_baseline_x4 --image img_004.png --window 120 64 --out lam.png
    $ python -m tools.lam --model srcnn_x3 edsr_baseline_x3 --scale 3 --image img.png --window 300 200 --crop 192
"""

import argparse
import os
import sys

import numpy as np
from keras_sr import models
from keras_sr.models import loading as inference, presets
from keras_sr.color import rgb_to_y
from keras_sr.analysis import lam, lam_figure
from keras_sr.cropping import modcrop
from keras_sr.image_io import load_image, save_image
from keras_sr.imresize import imresize
from keras_sr.upscalers import model_scale

__all__ = ["load_keras_model", "crop_around_window", "main"]


def load_keras_model(name, scale=None, weights=None):
    """A `keras.Model` from a preset name, a registered model (+ weights) or a .keras file."""

    if presets.get_preset(name) is not None and weights is None:
        return presets.load_preset(name)
    if name.endswith(".keras"):
        if not os.path.isfile(name):
            raise ValueError(f"{name}: .keras file not found.")
        return inference.load_model(name)
    if name in models.list_models():
        inference.register_custom_objects()
        return inference.build_registered_model(name, scale, weights)
    raise ValueError(f"--model {name!r}: not a preset ({', '.join(models.list_presets())}), a registered model "
                     "or a .keras file.")


def crop_around_window(hr, x, y, window, crop, scale):
    """`(hr_crop, x, y)`: an HR crop of side `crop` (multiple of `scale`) holding the window, and its new corner."""
    h, w = hr.shape[:2]
    crop = min(int(crop) // scale * scale, h // scale * scale, w // scale * scale)
    if crop < window + 2:
        raise ValueError(f"--crop {crop} is smaller than the window ({window}) plus its border.")
    top = int(np.clip((y + window // 2 - crop // 2) // scale * scale, 0, (h - crop) // scale * scale))
    left = int(np.clip((x + window // 2 - crop // 2) // scale * scale, 0, (w - crop) // scale * scale))
    return hr[top:top + crop, left:left + crop], x - left, y - top


def _model_input(lr_rgb, channels):

    if channels == 3:
        return lr_rgb.astype(np.float32)
    if channels == 1:
        return rgb_to_y(lr_rgb)[..., None].astype(np.float32)
    raise ValueError(f"LAM: the model takes {channels} channels; RGB (3) or Y (1) models are supported.")


def add_arguments(parser):
    parser.add_argument("--model", nargs="+", required=True,
                        help="presets, registered models (with --weights) or .keras files")
    parser.add_argument("--weights", default=None, help="weights file for a registered --model (one model only)")
    parser.add_argument("--scale", type=int, default=None, help="SR scale (default: the first model's)")
    parser.add_argument("--image", required=True, help="HR image file")
    parser.add_argument("--window", type=int, nargs=2, required=True, metavar=("X", "Y"),
                        help="top-left corner of the window in HR pixels (of the full image)")
    parser.add_argument("--window-size", type=int, default=16, help="window side in HR pixels (official: 16)")
    parser.add_argument("--crop", type=int, default=0,
                        help="work on an HR crop of this side around the window (0: whole image)")
    parser.add_argument("--sigma", type=float, default=1.2, help="blur of the path's start (official: 1.2)")
    parser.add_argument("--steps", type=int, default=50, help="path steps (official: 50)")
    parser.add_argument("--kernel-size", type=int, default=9, help="Gaussian kernel side (official: 9)")
    parser.add_argument("--batch-size", type=int, default=10, help="path steps differentiated together")
    parser.add_argument("--detail", type=int, default=0,
                        help="add a second row: every panel cut to this many HR pixels around the window, enlarged "
                             "to the panel size (0: none)")
    parser.add_argument("--out", default="lam.png", help="PNG to write")
    return parser


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.lam", description=__doc__.splitlines()[0])
    args = add_arguments(parser).parse_args(argv)

    if args.weights is not None and len(args.model) != 1:
        raise SystemExit("error: --weights goes with exactly one --model.")
    hr_full = load_image(args.image)
    loaded = []
    for name in args.model:
        model = load_keras_model(name, args.scale, args.weights)
        channels = int(model.input_shape[-1])
        scale = model_scale(lambda b, m=model: np.asarray(m(b, training=False)), channels)
        loaded.append((name, model, channels, scale))
    scale = args.scale or loaded[0][3]
    for name, _, _, s in loaded:
        if s != scale:
            raise SystemExit(f"error: {name} is an x{s} model; every --model must be x{scale}.")
    x, y = args.window
    hr = modcrop(hr_full, scale)
    if args.crop:
        hr, x, y = crop_around_window(hr, x, y, args.window_size, args.crop, scale)
    lr = imresize(hr, 1.0 / scale)
    panels = [lam_figure.draw_window(hr, x, y, args.window_size)]
    labels = [f"HR {os.path.basename(args.image)}"]
    for name, model, channels, _ in loaded:
        result = lam.local_attribution_map(model, _model_input(lr, channels), x, y, args.window_size, args.sigma,
                                           args.steps, args.kernel_size, args.batch_size)
        print(f"{name}: DI {result.diffusion_index:.2f} (window {args.window_size}x{args.window_size} at "
              f"x={args.window[0]}, y={args.window[1]}, x{scale})", flush=True)
        panels.append(lam_figure.heat_map_overlay(result.attribution, lr, scale))
        labels.append(f"{name} DI {result.diffusion_index:.2f}")
    figure = lam_figure.hstack_panels(panels, labels)
    if args.detail:
        cut = [lam_figure.zoom_around(p, x, y, args.window_size, args.detail, p.shape[0]) for p in panels]
        figure = lam_figure.vstack_rows([figure, lam_figure.hstack_panels(cut)])
    save_image(args.out, figure)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
