"""MASA-SR's Match & Extraction Module (MEM): coarse block matching, then fine patch matching inside a region.

Lu, Li, Jiang, Tai, Jia, "MASA-SR: Matching Acceleration and Spatial
Adaptation for Reference-Based Image Super-Resolution", CVPR 2021
(https://arxiv.org/abs/2106.02299), Sec. 3.1; layout and constants follow the
official `MASA.forward` / `search` / `search_org` / `transfer`
(github.com/dvlab-research/MASA-SR, `models/archs/MASA_arch.py`), written
here in `keras.ops` from that structure:

1. **Coarse matching.** The LR features (`(B, H, W, C)`, H and W multiples
   of `block_size` = 8) are cut into `py x px` blocks of 8 x 8. Each block is
   represented by its centre pixel's 3x3 neighbourhoods at dilations 1, 2, 3;
   every reference-down position `(Hr, Wr)` by the same dilated 3x3 patches
   (zero padding). The cosine similarities are summed over the three
   dilations; the best position is the block's match.
2. **Region.** Around the match a `(dy + 2) x (dx + 2)` region of the
   reference-down grid is taken, `d = 2 * floor(1.5 * (Hr // (2 py))) + 1`
   (per axis, `ref_block_scale` = 1.5), shifted to lie inside the reference.
3. **Fine matching.** Inside the block, every 3x3 patch of the
   (replicate-padded) LR features is compared by cosine similarity with the
   region's `dy x dx` 3x3 patches of the reference-down features (no
   padding); the argmax is the hard index, the max the soft attention.
4. **Extraction** at x1, x2, x4: the matched reference patch (3s x 3s with
   stride s, `s = 1, 2, 4`, on the reference encoder's L3, L2, L1 features)
   of every LR position is folded back with padding `s` and overlap
   averaging, multiplied by the soft attention (bilinear resized per block,
   half-pixel centres).

The official code crops the region features and unfolds all region patches;
here the matched patches are gathered directly from the whole feature maps
at the region's offset (the same values), and the fold of `3s x 3s`
patches with stride `s` is written as nine shifted `s x s` tiles. No
weights. Indices carry no gradient; the soft attention (a max of cosine
similarities) and the gathered features do, as in the official code.

Inputs `[lr, ref_down, ref_x1, ref_x2, ref_x4]`:

* `lr`: `(B, H, W, C)` LR encoder L1 features;
* `ref_down`: `(B, Hr, Wr, C)` the encoder's L1 features of the reference
  downscaled by 4 (need `Hr >= dy + 2`, `Wr >= dx + 2`; `masa_sr.prepare_inputs`
  pads the images so);
* `ref_x1`, `ref_x2`, `ref_x4`: `(B, Hr, Wr, C)`, `(B, 2Hr, 2Wr, C)`,
  `(B, 4Hr, 4Wr, C)` encoder L3, L2, L1 features of the reference.

Outputs `[warp_x1, warp_x2, warp_x4]` of sizes `(H, W)`, `(2H, 2W)`, `(4H, 4W)`.

Example:
    >>> mem = MatchAndExtraction()
    >>> w1, w2, w4 = mem([lr_l1, ref_down_l1, ref_l3, ref_l2, ref_l1])
    >>> region_diameter(40, 5)          # 13: a 40x40 reference-down grid and 5 blocks per row
"""

import numpy as np

import keras
from keras import ops

from keras_sr.layers.bilinear_upsampling import bilinear_upsample
from keras_sr.layers.patch_matching import flatten_grid, gather_rows, l2_normalize, match_patches, unfold_patches

__all__ = ["MatchAndExtraction", "region_diameter", "dilated_patches", "fold_cell_counts"]


def region_diameter(ref_size, blocks, ref_block_scale=1.5):
    """`2 * int(ref_size // (2 * blocks) * ref_block_scale) + 1` (official `diameter_x/y`); ints or tensors."""
    n = ref_size // (2 * blocks)
    if isinstance(n, (int, np.integer)):
        return 2 * int(n * float(ref_block_scale)) + 1
    scaled = ops.floor(ops.cast(n, "float32") * float(ref_block_scale))
    return 2 * ops.cast(scaled, "int32") + 1


def dilated_patches(x, dilation):
    """Every pixel's 3x3 neighbourhood at `dilation` (zero padding): `(B, H, W, C)` -> `(B, H, W, 9C)`, `(ky, kx, c)`."""
    d = int(dilation)
    shape = ops.shape(x)
    height, width = shape[1], shape[2]
    padded = ops.pad(x, [[0, 0], [d, d], [d, d], [0, 0]])
    slabs = [padded[:, ky * d:ky * d + height, kx * d:kx * d + width, :] for ky in range(3) for kx in range(3)]
    return ops.concatenate(slabs, axis=-1)


def fold_cell_counts(block_size):
    """How many of the 3x3-cell patches of a `block_size` grid cover each cell (fold of ones, padding 1 cell)."""
    k = int(block_size)
    per_axis = np.array([sum(0 <= c - a + 1 < k for a in range(3)) for c in range(k)], np.float32)
    return per_axis[:, None] * per_axis[None, :]


def edge_pad1(x):
    """Replicate padding by one pixel on each side of `(B, H, W, C)` (`F.pad(mode="replicate")`)."""
    x = ops.concatenate([x[:, :1], x, x[:, -1:]], axis=1)
    return ops.concatenate([x[:, :, :1], x, x[:, :, -1:]], axis=2)


def _blockify(x, blocks_y, blocks_x, size):
    """`(B, py * size, px * size, D)` -> `(B * py * px, size, size, D)` (blocks in row-major order)."""
    batch = ops.shape(x)[0]
    depth = x.shape[-1]
    x = ops.reshape(x, (batch, blocks_y, size, blocks_x, size, depth))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (batch * blocks_y * blocks_x, size, size, depth))


def _unblockify(x, batch, blocks_y, blocks_x):
    """The inverse of `_blockify`: `(B * py * px, s, s, D)` -> `(B, py * s, px * s, D)`."""
    size = ops.shape(x)[1]
    depth = x.shape[-1]
    x = ops.reshape(x, (batch, blocks_y, blocks_x, size, size, depth))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (batch, blocks_y * size, blocks_x * size, depth))


@keras.saving.register_keras_serializable(package="keras_sr")
class MatchAndExtraction(keras.layers.Layer):
    """MASA-SR's MEM: `[lr, ref_down, ref_x1, ref_x2, ref_x4] -> [warp_x1, warp_x2, warp_x4]` (no weights).

    Args:
        block_size: LR block side of the coarse matching (official `lr_block_size` 8); H, W of `lr`
            must be multiples of it.
        ref_block_scale: region size factor (official `ref_down_block_size` 1.5).
        dilations: dilations of the coarse block descriptors (official 1, 2, 3); each must be smaller
            than `block_size // 2 + 1`.
        chunk_size: blocks per step of the coarse matching (`match_patches`; None: all at once).

    Example:
        >>> mem = MatchAndExtraction()
        >>> w1, w2, w4 = mem([lr_l1, ref_down_l1, ref_l3, ref_l2, ref_l1])
        >>> mem.compute_output_shape([(1, 16, 24, 8)] * 5)[2]            # (1, 64, 96, 8)
    """

    def __init__(self, block_size=8, ref_block_scale=1.5, dilations=(1, 2, 3), chunk_size=1024, **kwargs):
        super().__init__(**kwargs)
        self.block_size = int(block_size)
        self.ref_block_scale = float(ref_block_scale)
        self.dilations = tuple(int(d) for d in dilations)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        centre = (self.block_size + 2) // 2  # in the block padded by one pixel, as the official code
        if not self.dilations or any(d < 1 or centre - d < 0 or centre + d > self.block_size + 1
                                     for d in self.dilations):
            raise ValueError(f"MatchAndExtraction: dilations {self.dilations} must lie in [1, "
                             f"{min(centre, self.block_size + 1 - centre)}] for block_size {self.block_size}.")

    def _coarse_descriptors(self, lr, blocks_y, blocks_x):
        """`(B, py * px, 9C * len(dilations))`: the normalized dilated centre patches of every block."""
        k = self.block_size
        centre = (k + 2) // 2
        padded = edge_pad1(lr)
        parts = []
        for d in self.dilations:
            slabs = []
            for oy in (-d, 0, d):
                for ox in (-d, 0, d):
                    y0, x0 = centre + oy, centre + ox
                    slabs.append(padded[:, y0:y0 + (blocks_y - 1) * k + 1:k, x0:x0 + (blocks_x - 1) * k + 1:k, :])
            parts.append(l2_normalize(ops.concatenate(slabs, axis=-1)))
        return flatten_grid(ops.concatenate(parts, axis=-1))

    def call(self, inputs):
        lr, ref_down, ref_x1, ref_x2, ref_x4 = inputs
        k = self.block_size
        shape, ref_shape = ops.shape(lr), ops.shape(ref_down)
        batch, height, width = shape[0], shape[1], shape[2]
        ref_h, ref_w = ref_shape[1], ref_shape[2]
        blocks_y, blocks_x = height // k, width // k
        n_blocks = blocks_y * blocks_x

        # 1. Coarse matching of every block's dilated centre patches against every reference-down position.
        query = self._coarse_descriptors(lr, blocks_y, blocks_x)
        key = ops.concatenate([l2_normalize(dilated_patches(ref_down, d)) for d in self.dilations], axis=-1)
        coarse, _ = match_patches(query, flatten_grid(key), chunk_size=self.chunk_size)  # (B, P)

        # 2. The region around each match, shifted inside the reference-down grid.
        dia_y = region_diameter(ref_h, blocks_y, self.ref_block_scale)
        dia_x = region_diameter(ref_w, blocks_x, self.ref_block_scale)
        ref_w_i = ops.cast(ref_w, "int32")
        top = ops.clip(coarse // ref_w_i - dia_y // 2 - 1, 0, ops.cast(ref_h, "int32") - dia_y - 2)
        left = ops.clip(coarse % ref_w_i - dia_x // 2 - 1, 0, ref_w_i - dia_x - 2)

        # 3. Fine matching: the block's 3x3 patches vs. the region's dy x dx patches of the reference-down features.
        ref_patches = flatten_grid(l2_normalize(unfold_patches(ref_down, 3, padding=0)))  # grid (Hr - 2, Wr - 2)
        ry = ops.arange(dia_y, dtype="int32")
        rx = ops.arange(dia_x, dtype="int32")
        rows = (top[:, :, None, None] + ry[None, None, :, None]) * (ref_w_i - 2) \
            + left[:, :, None, None] + rx[None, None, None, :]  # (B, P, dy, dx)
        region = gather_rows(ref_patches, ops.reshape(rows, (batch, -1)))
        region = ops.reshape(region, (batch * n_blocks, dia_y * dia_x, ref_patches.shape[-1]))
        padded = edge_pad1(lr)
        fine_query = l2_normalize(unfold_patches(padded, 3, padding=0))  # (B, H, W, 9C)
        fine_query = ops.reshape(_blockify(fine_query, blocks_y, blocks_x, k), (batch * n_blocks, k * k, fine_query.shape[-1]))
        scores = ops.einsum("nqd,nrd->nqr", fine_query, region)  # (B * P, k * k, dy * dx)
        soft = ops.reshape(ops.max(scores, axis=-1), (batch * n_blocks, k, k, 1))
        local = ops.cast(ops.argmax(ops.stop_gradient(scores), axis=-1), "int32")  # (B * P, k * k)
        match_y = ops.reshape(top, (-1, 1)) + local // dia_x  # top-left of the matched patch, reference-down grid
        match_x = ops.reshape(left, (-1, 1)) + local % dia_x

        # 4. Extraction at x1, x2, x4.
        counts = ops.convert_to_tensor(fold_cell_counts(k)[None, :, :, None, None, None])
        outputs = []
        for scale, features in ((1, ref_x1), (2, ref_x2), (4, ref_x4)):
            outputs.append(_unblockify(
                self._extract(features, match_y, match_x, scale, batch, n_blocks, counts, soft),
                batch, blocks_y, blocks_x))
        return outputs

    def _extract(self, features, match_y, match_x, s, batch, n_blocks, counts, soft):
        """Fold of the matched `3s x 3s` patches (stride s, padding s), averaged, times the soft attention."""
        k = self.block_size
        channels = features.shape[-1]
        f_shape = ops.shape(features)
        f_w = ops.cast(f_shape[2], "int32")
        offsets = ops.arange(3 * s, dtype="int32")
        # Pixel rows/cols of each matched patch: (B * P, k * k, 3s) each.
        ys = match_y[..., None] * s + offsets
        xs = match_x[..., None] * s + offsets
        index = ys[..., :, None] * f_w + xs[..., None, :]  # (B * P, k * k, 3s, 3s)
        index = ops.reshape(index, (batch, -1))
        patches = gather_rows(ops.reshape(features, (batch, -1, channels)), index)
        patches = ops.reshape(patches, (batch * n_blocks, k, k, 3, s, 3, s, channels))
        # Tile (a, b) of the patch at cell (qy, qx) lands on cell (qy + a - 1, qx + b - 1).
        padded = ops.pad(patches, [[0, 0], [1, 1], [1, 1]] + [[0, 0]] * 5)
        total = None
        for a in range(3):
            for b in range(3):
                tile = padded[:, 2 - a:2 - a + k, 2 - b:2 - b + k, a, :, b, :, :]  # (B * P, k, k, s, s, C)
                total = tile if total is None else total + tile
        total = total / ops.cast(counts, total.dtype)
        total = ops.reshape(ops.transpose(total, (0, 1, 3, 2, 4, 5)), (batch * n_blocks, k * s, k * s, channels))
        return total * ops.cast(bilinear_upsample(soft, s), total.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape[0]
        out = []
        for s, shape in zip((1, 2, 4), input_shape[2:]):
            out.append((b, None if h is None else h * s, None if w is None else w * s, shape[-1]))
        return out

    def get_config(self):
        config = super().get_config()
        config.update({"block_size": self.block_size, "ref_block_scale": self.ref_block_scale,
                       "dilations": list(self.dilations), "chunk_size": self.chunk_size})
        return config
