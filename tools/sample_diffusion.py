"""Sample a diffusion SR model (SR3) on held-out images: PSNR/SSIM (the protocol) and seconds per sampling step.

`python -m tools.sample_diffusion --model RUN/final.keras --scale 4 --images chelsea --sampler ddim --steps 25`

Each HR image is degraded by the evaluation protocol (modcrop + MATLAB bicubic),
upscaled by `keras_sr.diffusion.diffusion_upscaler` with the chosen sampler (default: the model's own,
`--sampler model`), and scored on Y with `scale` pixels cropped; the seconds of every denoiser call are
timed on the host after the device finishes (the first call includes tracing and is reported apart).
`--images` takes HR image files or the names of the embedded photographs (`chelsea`, `coffee`, ...).

Example:
    $ python -m tools.sample_diffusion --model runs/sr3/final.keras --scale 4 --images chelsea --json out.json
    $ python -m tools.sample_diffusion --model runs/sr3/final.keras --scale 4 --sampler ancestral --steps 100
"""

import argparse
import json
import os
import sys

import numpy as np

from keras_sr.data.sources import DEFAULT_TRAIN_IMAGES, DEFAULT_VAL_IMAGES
from keras_sr.degradation import degrade
from keras_sr.diffusion import AncestralSampler, DDIMSampler, NoiseSchedule, diffusion_upscaler
from keras_sr.image_io import load_image
from keras_sr.models.loading import resolve_model
from keras_sr.scoring import score_pair


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.sample_diffusion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a .keras file (or registered name + --weights)")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--scale", type=int, required=True)
    parser.add_argument("--images", nargs="+", default=["chelsea"], help="HR files or embedded photograph names")
    parser.add_argument("--sampler", default="model", choices=("model", "ddim", "ancestral"))
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's / 100 / 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    import skimage.data

    model = resolve_model(args.model, weights=args.weights)
    sampler = None
    if args.sampler == "ddim":
        sampler = DDIMSampler(steps=args.steps or 50)
    elif args.sampler == "ancestral":
        sampler = AncestralSampler(NoiseSchedule.linear(args.steps or 100, 1e-4, 0.1))
    upscale = diffusion_upscaler(model, sampler=sampler, seed=args.seed)
    names = {**DEFAULT_TRAIN_IMAGES, **DEFAULT_VAL_IMAGES}
    results = []
    for image in args.images:
        path = os.path.join(skimage.data.data_dir, names[image]) if image in names else image
        hr, lr = degrade(load_image(path), args.scale, path)
        sr = upscale(lr, None, args.scale)
        psnr, ssim = score_pair(sr, hr, args.scale)
        times = upscale.sampler.step_times
        row = {"image": image, "hr_size": list(hr.shape[:2]), "steps": len(times), "psnr": psnr, "ssim": ssim,
               "first_step_s": times[0], "seconds_per_step": float(np.mean(times[1:] or times))}
        results.append(row)
        print(f"{image} {hr.shape[1]}x{hr.shape[0]}: PSNR {psnr:.2f} dB / SSIM {ssim:.4f}, {len(times)} steps, "
              f"{row['seconds_per_step']:.2f} s/step (first {times[0]:.2f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
