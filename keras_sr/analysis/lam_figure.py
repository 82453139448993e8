"""Pictures of Local Attribution Maps: the heat map over the LR image and the window on the HR image.

The colouring follows the official LAM demo (X-Lowlevel-Vision/LAM_Demo,
`SaliencyModel/utils.py: vis_saliency`, `blend_input`): the map in [0, 1] is
coloured by the upper half of matplotlib's `seismic` map (white -> red -> dark
red), enlarged by nearest-neighbour to the HR size, and blended 60/40 with the
image. Pure numpy + PIL, no matplotlib.

Example:
    >>> panel = heat_map_overlay(result.attribution, lr_rgb, scale=4)   # (s*h, s*w, 3) uint8
    >>> hr_panel = draw_window(hr_rgb, *result.window)
    >>> save_image("lam.png", hstack_panels([hr_panel, panel], ["HR", "EDSR DI 12.3"]))
"""

import numpy as np

__all__ = ["seismic_upper", "heat_map_overlay", "draw_window", "zoom_around", "hstack_panels", "vstack_rows"]


def seismic_upper(values):
    """matplotlib `seismic` at 0.5 + 0.5 * values: white (0) -> red (0.5) -> dark red (1); RGB uint8."""
    v = np.clip(np.asarray(values, np.float64), 0.0, 1.0)
    first = np.minimum(v, 0.5) / 0.5  # white -> (1, 0, 0)
    second = np.maximum(v - 0.5, 0.0) / 0.5  # (1, 0, 0) -> (0.5, 0, 0)
    r = 1.0 - 0.5 * second
    gb = 1.0 - first
    return np.round(np.stack([r, gb, gb], axis=-1) * 255.0).astype(np.uint8)


def _rgb(img):
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    return np.clip(img.astype(np.float64), 0, 255)


def heat_map_overlay(attribution, lr, scale, alpha=0.4):
    """The map coloured, enlarged `scale` times (nearest) and blended with the enlarged LR image (weight `alpha`)."""
    colours = seismic_upper(attribution).astype(np.float64)
    colours = np.repeat(np.repeat(colours, scale, axis=0), scale, axis=1)
    base = np.repeat(np.repeat(_rgb(lr), scale, axis=0), scale, axis=1)
    return np.round((1.0 - alpha) * colours + alpha * base).astype(np.uint8)


def draw_window(img, x, y, size, colour=(255, 0, 0), width=2):
    """`img` (RGB or grey) with a `size x size` box at (x, y), lines `width` pixels thick, drawn outside the window."""
    out = _rgb(img).astype(np.uint8).copy()
    h, w = out.shape[:2]
    x0, y0, x1, y1 = max(x - width, 0), max(y - width, 0), min(x + size + width, w), min(y + size + width, h)
    out[y0:y1, x0:x0 + width] = colour
    out[y0:y1, x1 - width:x1] = colour
    out[y0:y0 + width, x0:x1] = colour
    out[y1 - width:y1, x0:x1] = colour
    return out


def zoom_around(panel, x, y, window, size, out_size):
    """The `size x size` part of `panel` centred on the window, enlarged (nearest) to about `out_size` pixels."""
    h, w = panel.shape[:2]
    size = min(size, h, w)
    top = int(np.clip(y + window // 2 - size // 2, 0, h - size))
    left = int(np.clip(x + window // 2 - size // 2, 0, w - size))
    factor = max(1, out_size // size)
    part = panel[top:top + size, left:left + size]
    return np.repeat(np.repeat(part, factor, axis=0), factor, axis=1)


def hstack_panels(panels, labels=None, gap=4, label_height=14):
    """Panels of the same height side by side on white, each with its label written above (PIL's default font)."""
    from PIL import Image, ImageDraw

    height = max(p.shape[0] for p in panels) + (label_height if labels else 0)
    width = sum(p.shape[1] for p in panels) + gap * (len(panels) - 1)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    left = 0
    for i, panel in enumerate(panels):
        canvas.paste(Image.fromarray(np.asarray(panel, np.uint8)), (left, label_height if labels else 0))
        if labels:
            draw.text((left + 2, 1), str(labels[i]), fill=(0, 0, 0))
        left += panel.shape[1] + gap
    return np.asarray(canvas)


def vstack_rows(rows, gap=4):
    """Rows (RGB uint8) one above the other on white, left-aligned."""
    width = max(r.shape[1] for r in rows)
    height = sum(r.shape[0] for r in rows) + gap * (len(rows) - 1)
    canvas = np.full((height, width, 3), 255, np.uint8)
    top = 0
    for r in rows:
        canvas[top:top + r.shape[0], :r.shape[1]] = r
        top += r.shape[0] + gap
    return canvas
