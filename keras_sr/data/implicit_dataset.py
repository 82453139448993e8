"""`ImplicitSRDataset`: `(lr, coord, cell) -> rgb` query batches for arbitrary-scale SR (LIIF, Meta-SR).

LIIF's training wrapper (yinboc/liif `datasets/wrappers.py`,
`SRImplicitDownsampled`), numpy only, as a `keras.utils.PyDataset` (so `fit`
runs on TensorFlow, JAX and PyTorch):

1. draw a scale `s` (LIIF: `U(scale_min, scale_max)` for every image; Meta-SR: one scale of `scales` for
   the whole batch, `scale_per="batch"`);
2. crop a random `round(p * s)` HR square and resize it to the `p x p` LR patch with **PIL bicubic**, as
   the official code (`resize_fn`: torchvision `Resize(..., Image.BICUBIC)`); keras-sr's evaluation stays
   MATLAB bicubic (`keras_sr.evaluation`);
3. augment both with random horizontal, vertical and diagonal flips (LIIF's `augment: true`);
4. the queries are the HR crop's pixel centres (`make_coord`), their cells `2 / round(p s)` and their RGB
   values; `sample_q` of them are drawn without replacement (2,304 in LIIF; 0 keeps all pixels, which
   needs one size per batch, i.e. `scale_per="batch"`).

Inputs are `{"lr": (B, p, p, 3), "coord": (B, Q, 2), "cell": (B, Q, 2)}`, the target `(B, Q, 3)`, float32
in [0, 255]. Batch `i` of epoch `e` depends only on `(seed, e, i)`.

Example:
    >>> ds = ImplicitSRDataset(images, patch_size=48, batch_size=16, sample_q=2304, steps_per_epoch=1000)
    >>> inputs, rgb = ds[0]            # inputs["lr"] (16, 48, 48, 3), rgb (16, 2304, 3)
    >>> model.fit(ds, epochs=10)
"""

import keras
import numpy as np

from keras_sr.image_io import ImageError, load_image
from keras_sr.layers.coordinate_sampling import make_coord

__all__ = ["ImplicitSRDataset", "pil_bicubic", "meta_sr_scales"]


def meta_sr_scales(low=1.1, high=4.0, step=0.1):
    """Meta-SR's training scales: 1.1, 1.2, ..., 4.0 (30 scales)."""
    count = int(round((high - low) / step)) + 1
    return tuple(round(low + i * step, 6) for i in range(count))


def pil_bicubic(img, size):
    """`img` (uint8 HWC) resized to `size = (h, w)` with PIL's bicubic filter (LIIF's `resize_fn`)."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).resize((int(size[1]), int(size[0])),
                                                                        Image.BICUBIC))


class ImplicitSRDataset(keras.utils.PyDataset):
    """Query batches from whole HR images (module docstring).

    Args:
        images: HR images, a list of paths or uint8 arrays (loaded once into memory).
        patch_size: LR patch side `p` (48 in LIIF, 50 in Meta-SR).
        batch_size: images per batch (16).
        sample_q: queries per image (2304; 0: every HR pixel, needs `scale_per="batch"`).
        scale_min, scale_max: LIIF's continuous scale range (1, 4).
        scales: a discrete set of scales instead (Meta-SR: `meta_sr_scales()`).
        scale_per: "image" (LIIF) or "batch" (Meta-SR).
        augment: random flips (LIIF: horizontal, vertical, diagonal).
        steps_per_epoch: batches per epoch.
        seed: batches depend only on (seed, epoch, index).
    """

    def __init__(self, images, patch_size=48, batch_size=16, sample_q=2304, scale_min=1.0, scale_max=4.0, scales=None,
                 scale_per="image", augment=True, steps_per_epoch=1000, seed=0, **kwargs):
        super().__init__(**kwargs)
        if scale_per not in ("image", "batch"):
            raise ValueError(f"scale_per must be 'image' or 'batch', got {scale_per!r}.")
        if int(sample_q) == 0 and scale_per != "batch":
            raise ValueError("sample_q=0 (every pixel) needs scale_per='batch': the HR size varies with the scale.")
        self.patch_size, self.batch_size, self.sample_q = int(patch_size), int(batch_size), int(sample_q)
        self.scales = tuple(float(s) for s in scales) if scales else None
        self.scale_min, self.scale_max = float(scale_min), float(scale_max)
        if not self.scales and not 1.0 <= self.scale_min <= self.scale_max:
            raise ValueError(f"need 1 <= scale_min <= scale_max, got {scale_min}, {scale_max}.")
        self.scale_per, self.augment = scale_per, bool(augment)
        self.steps_per_epoch, self.seed, self.epoch = int(steps_per_epoch), int(seed), 0
        top = max(self.scales) if self.scales else self.scale_max
        need = int(round(self.patch_size * top))
        self.images = []
        for item in images:
            path = item if isinstance(item, str) else "<array>"
            img = load_image(item) if isinstance(item, str) else np.asarray(item, np.uint8)
            if min(img.shape[:2]) < need:
                raise ImageError(f"{path}: image is {img.shape[1]}x{img.shape[0]}, too small for an HR crop of "
                                 f"{need} (LR patch {self.patch_size} at x{top}).")
            self.images.append(img)
        if not self.images:
            raise ImageError("ImplicitSRDataset: no training images.")
        if self.sample_q and self.sample_q > self.patch_size ** 2:
            raise ValueError(f"sample_q={self.sample_q} exceeds the {self.patch_size ** 2} pixels of the smallest "
                             "HR crop (x1).")

    def __len__(self):
        return self.steps_per_epoch

    def on_epoch_end(self):
        self.epoch += 1

    def _draw_scale(self, rng):
        if self.scales:
            return float(self.scales[rng.integers(len(self.scales))])
        return float(rng.uniform(self.scale_min, self.scale_max))

    def sample(self, rng, scale):
        """One `(lr, coord, cell, rgb)` example at `scale`."""
        img = self.images[rng.integers(len(self.images))]
        size = int(round(self.patch_size * scale))
        top = rng.integers(img.shape[0] - size + 1)
        left = rng.integers(img.shape[1] - size + 1)
        hr = img[top:top + size, left:left + size]
        lr = pil_bicubic(hr, (self.patch_size, self.patch_size))
        if self.augment:
            hflip, vflip, dflip = rng.random(3) < 0.5
            for flip, fn in ((hflip, lambda x: x[:, ::-1]), (vflip, lambda x: x[::-1]),
                             (dflip, lambda x: x.transpose(1, 0, 2))):
                if flip:
                    lr, hr = fn(lr), fn(hr)
        coord = make_coord(size, size)
        rgb = hr.reshape(-1, 3).astype(np.float32)
        if self.sample_q:
            keep = rng.choice(coord.shape[0], self.sample_q, replace=False)
            coord, rgb = coord[keep], rgb[keep]
        cell = np.full_like(coord, 2.0 / size)
        return lr.astype(np.float32), coord, cell, rgb

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        batch_scale = self._draw_scale(rng)
        examples = [self.sample(rng, batch_scale if self.scale_per == "batch" else self._draw_scale(rng))
                    for _ in range(self.batch_size)]
        lr, coord, cell, rgb = (np.stack(parts) for parts in zip(*examples))
        return {"lr": lr, "coord": coord, "cell": cell}, rgb
