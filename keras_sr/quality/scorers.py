from keras_sr.quality.ifc import ifc
from keras_sr.quality.niqe import niqe
from keras_sr.quality.lpips import LPIPS
"""Extra per-image metric columns for the evaluation protocol: `tools.evaluate --metrics psnr ssim ifc niqe lpips`.

PSNR and SSIM are always computed (they are the protocol, `keras_sr.metrics`);
`make_scorers(names)` returns the others as `{name: score(sr_uint8, hr_uint8,
scale, y_only) -> float}`, each with the protocol's conventions: border =
scale; IFC on Y (or per RGB channel with `--rgb`), NIQE on the SR image's Y
alone (no reference), LPIPS on RGB.

Example:
    >>> scorers = make_scorers(["psnr", "ssim", "ifc", "niqe"])
    >>> {name: f(sr, hr, 4, True) for name, f in scorers.items()}
"""

__all__ = ["METRICS", "EXTRA_METRICS", "make_scorers"]

EXTRA_METRICS = ("ifc", "niqe", "lpips")
METRICS = ("psnr", "ssim", *EXTRA_METRICS)


def make_scorers(names, lpips_backbone=None, lpips_net="alex"):
    """The extra metrics among `names` (psnr/ssim are skipped: always computed), in the order given."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"--metrics: unknown {', '.join(unknown)}; choose from {', '.join(METRICS)}.")
    scorers = {}
    for name in dict.fromkeys(names):
        if name == "ifc":

            scorers[name] = lambda sr, hr, scale, y_only: ifc(sr, hr, crop_border=scale, y_only=y_only)
        elif name == "niqe":

            scorers[name] = lambda sr, hr, scale, y_only: niqe(sr, crop_border=scale)
        elif name == "lpips":

            metric = LPIPS(lpips_backbone, net=lpips_net)
            scorers[name] = lambda sr, hr, scale, y_only, metric=metric: metric(sr, hr, crop_border=scale)
    return scorers
