"""The Real-ESRGAN visual grid: HR | degraded LR | bicubic | a model, one row per held-out photograph crop.

    python -m tools.realesrgan_grid --model runs/realesrnet_demo/final.keras --out docs/realesrgan_grid.png

Rows are crops of the embedded scikit-image validation photographs (or `--images FILE...`), `--size` HR pixels
a side (centre crops), degraded at `--scale` by the Real-ESRGAN pipeline (`keras_sr.degradations.host`, Pillow
JPEG) with the choices of `(seed, row)` (as `tools.degrade`); "bicubic" is PIL's bicubic upscaling of that LR
image, the LR column is its nearest-neighbour enlargement. The model is any `--model` that `keras_sr.upscalers.load_upscaler`
reads (a `.keras` file, a registered name with `--weights`). A white 2-pixel gutter
separates the tiles; the labels are in the README, not in the image.

Example:
    $ python -m tools.realesrgan_grid --model runs/realesrnet_demo/final.keras --out docs/realesrgan_grid.png
"""

import argparse
import sys

import numpy as np

from keras_sr.data.sources import default_images
from keras_sr.image_io import load_image, save_image
from keras_sr.upscalers import load_upscaler

from tools.degrade import degrade_image

__all__ = ["main", "make_grid"]


def _centre(image, size):
    h, w = image.shape[:2]
    if h < size or w < size:
        raise ValueError(f"image is {w}x{h}, smaller than the {size}x{size} crop.")
    top, left = (h - size) // 2, (w - size) // 2
    return image[top:top + size, left:left + size]


def make_grid(upscale, images, scale=4, size=128, seed=0, gutter=2):
    """`(grid uint8, records)`: rows `[HR, LR (nearest), bicubic, upscale(LR)]` of the centre crops of `images`.

    `upscale(lr_uint8, scale) -> sr`: an upscaler (`keras_sr.upscalers.load_upscaler`).
    """
    from PIL import Image  # Pillow: the display resizes

    rows, records = [], []
    for index, image in enumerate(images):
        hr = _centre(image, size)
        lr, record = degrade_image(hr, scale, seed, index)
        records.append(record)
        near = np.asarray(Image.fromarray(lr).resize((size, size), Image.NEAREST))
        bicubic = np.asarray(Image.fromarray(lr).resize((size, size), Image.BICUBIC))
        sr = np.clip(np.round(np.asarray(upscale(lr, scale), np.float32)), 0, 255).astype(np.uint8)[:size, :size]
        tiles = [hr, near, bicubic, sr]
        row = np.full((size, 4 * size + 3 * gutter, 3), 255, np.uint8)
        for k, tile in enumerate(tiles):
            row[:, k * (size + gutter):k * (size + gutter) + size] = tile
        rows.append(row)
    grid = np.full((len(rows) * size + (len(rows) - 1) * gutter, rows[0].shape[1], 3), 255, np.uint8)
    for k, row in enumerate(rows):
        grid[k * (size + gutter):k * (size + gutter) + size] = row
    return grid, records


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.realesrgan_grid", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a .keras file, SavedModel or registered name")
    parser.add_argument("--weights", help="weights for a registered --model name")
    parser.add_argument("--images", nargs="+", help="HR images (default: the embedded validation photographs)")
    parser.add_argument("--out", required=True, help="the grid PNG")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--size", type=int, default=128, help="HR crop size (a multiple of the scale)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = args.images or default_images()[1]
    upscale = load_upscaler(args.model, scale=args.scale, weights=args.weights)
    grid, _ = make_grid(upscale, [load_image(p) for p in paths], args.scale, args.size, args.seed)
    save_image(args.out, grid)
    print(f"{args.out}: {grid.shape[1]}x{grid.shape[0]}, rows: {', '.join(paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
