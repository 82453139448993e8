"""What a training run shows a person: the comparison figure and the closing PSNR/SSIM table.

`comparison_image(lr, hr, sr, scale)` puts four crops of the same region side
by side: LR (nearest-neighbour enlarged), bicubic, the model's SR, and HR,
each captioned with its PSNR (Y, border = scale) against HR on the whole
image. The crop is the most detailed `crop x crop` window of HR (highest
gradient energy), so the difference is visible.

Example:
    >>> panel = comparison_image(lr, hr, sr, scale=4, labels=("LR", "bicubic", "EDSR", "HR"))
    >>> save_image("runs/x/comparison.png", panel)
    >>> print(format_scores({"bicubic": {...}, "EDSR": {...}}))
"""

import numpy as np

from keras_sr.metrics import to_uint8
from keras_sr.scoring import score_pair
from keras_sr.upscalers import bicubic_upscaler


__all__ = ["detailed_window", "comparison_panels", "comparison_image", "format_scores"]


def detailed_window(hr, crop, multiple=1):
    """`(top, left)` of the `crop x crop` HR window with the most gradient energy, on a `multiple` grid."""
    h, w = hr.shape[:2]
    crop = min(crop, h, w)
    gray = hr.astype(np.float64).mean(axis=-1)
    energy = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1, :]
    energy = np.pad(energy, ((0, 1), (0, 1)))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, where = -1.0, (0, 0)
    stride = max(multiple, crop // 8 // multiple * multiple)
    for top in range(0, h - crop + 1, stride):
        for left in range(0, w - crop + 1, stride):
            total = (integral[top + crop, left + crop] - integral[top, left + crop]
                     - integral[top + crop, left] + integral[top, left])
            if total > best:
                best, where = total, (top, left)
    return where


def comparison_panels(lr, hr, sr, scale, crop=96):
    """`[(name, crop_uint8, psnr_or_None), ...]` for LR-nearest, bicubic, SR, HR (same HR region)."""
    lr, hr = to_uint8(lr), to_uint8(hr)
    sr = to_uint8(sr)
    bic = to_uint8(bicubic_upscaler(lr, scale))
    crop = min(crop - crop % scale, hr.shape[0] - hr.shape[0] % scale, hr.shape[1] - hr.shape[1] % scale)
    top, left = detailed_window(hr, crop, multiple=scale)
    nearest = np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)

    def cut(img):
        return img[top:top + crop, left:left + crop]

    return [
        ("LR (nearest)", cut(nearest), None),
        ("bicubic", cut(bic), score_pair(bic, hr, scale)[0]),
        ("SR", cut(sr), score_pair(sr, hr, scale)[0]),
        ("HR", cut(hr), None),
    ]


def comparison_image(lr, hr, sr, scale, crop=96, labels=None, zoom=2):
    """The four crops side by side (zoomed `zoom` times, nearest), captioned with name and PSNR; uint8."""
    from PIL import Image, ImageDraw

    panels = comparison_panels(lr, hr, sr, scale, crop)
    if labels:
        panels = [(label, img, p) for label, (_, img, p) in zip(labels, panels)]
    size = panels[0][1].shape[0] * zoom
    caption, gap = 18, 4
    canvas = Image.new("RGB", (len(panels) * size + (len(panels) - 1) * gap, size + caption), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (name, img, p) in enumerate(panels):
        tile = Image.fromarray(img).resize((size, size), Image.NEAREST)
        x = i * (size + gap)
        canvas.paste(tile, (x, caption))
        text = name if p is None else f"{name}: {p:.2f} dB"
        draw.text((x + 2, 3), text, fill="black")
    return np.asarray(canvas)


def format_scores(rows, title=None):
    """Markdown table `| method | PSNR | SSIM |` from `{method: {"psnr": .., "ssim": ..}}`."""
    lines = [title] if title else []
    lines += ["| method | PSNR (dB) | SSIM |", "|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['psnr']:.2f} | {r['ssim']:.4f} |")
    return "\n".join(lines)
