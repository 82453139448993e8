"""LocalImplicitFunction: LIIF's decoder, RGB at continuous coordinates from a latent feature map.

Chen, Liu, Wang, "Learning Continuous Image Representation with Local
Implicit Image Function", CVPR 2021 (https://arxiv.org/abs/2012.09161),
Sec. 3.2-3.3; structure as the official `query_rgb` (yinboc/liif
`models/liif.py`, `models/mlp.py`). For every query `(coord, cell)`:

1. feature unfolding: each latent code is concatenated with its 3 x 3 neighbours (zero padded), 9 C channels;
2. local ensemble: the query is shifted by `(+-1/H, +-1/W)` latent half-cells (plus 1e-6, clamped to
   `(-1 + 1e-6, 1 - 1e-6)`) and the nearest latent code of each shifted point is taken (grid_sample nearest);
3. the MLP gets `[code, (coord - code_centre) * (H, W), cell * (H, W)]` (the relative coordinate and the
   cell in latent pixels) and predicts RGB;
4. the four predictions are averaged with weights `area_k / sum(area)`, `area_k = |dy_k dx_k| + 1e-9`
   of the rectangle between the query and code k, where code k gets the area of its diagonally opposite
   code (the official swap 0 <-> 3, 1 <-> 2), so the nearer code weighs more.

Without `local_ensemble` only the unshifted nearest code is used (the paper's ablation); without
`cell_decode` the cell is not an input (LIIF (-c)). The MLP is ReLU Dense layers (`hidden_units`, 256 x 4
in the paper) and a linear output.

Example:
    >>> liif = LocalImplicitFunction(hidden_units=(256, 256, 256, 256), out_channels=3)
    >>> feat, coord, cell = keras.ops.ones((1, 8, 8, 64)), keras.ops.zeros((1, 5, 2)), keras.ops.ones((1, 5, 2)) / 8
    >>> rgb = liif([feat, coord, cell])                     # (1, 5, 3)
"""

import keras
from keras import ops

from keras_sr.layers.coordinate_sampling import gather_pixels, nearest_index, pixel_center, unfold_3x3

__all__ = ["LocalImplicitFunction", "ENSEMBLE_SHIFT", "CLAMP_EPS"]

ENSEMBLE_SHIFT = 1e-6  # official eps_shift: moves the shifted queries off the latent cell borders
CLAMP_EPS = 1e-6       # official clamp of the shifted queries to (-1 + eps, 1 - eps)
AREA_EPS = 1e-9        # official: added to every area before normalising


@keras.saving.register_keras_serializable(package="keras_sr")
class LocalImplicitFunction(keras.layers.Layer):
    """LIIF's query: `[features (B, h, w, C), coord (B, Q, 2), cell (B, Q, 2)] -> (B, Q, out_channels)`.

    Args:
        hidden_units: widths of the ReLU hidden layers of the MLP (256, 256, 256, 256 in LIIF).
        out_channels: predicted channels (3, RGB).
        feat_unfold: concatenate each code with its 3 x 3 neighbours (LIIF default True).
        local_ensemble: blend the 4 nearest codes by area (LIIF default True).
        cell_decode: feed the cell size to the MLP (LIIF default True).
        kernel_initializer: for the Dense layers (default: PyTorch's nn.Linear init, as the official MLP).
    """

    def __init__(self, hidden_units=(256, 256, 256, 256), out_channels=3, feat_unfold=True, local_ensemble=True,
                 cell_decode=True, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        if any(u < 1 for u in self.hidden_units):
            raise ValueError(f"LocalImplicitFunction hidden_units must be positive, got {hidden_units!r}.")
        self.out_channels = int(out_channels)
        self.feat_unfold = bool(feat_unfold)
        self.local_ensemble = bool(local_ensemble)
        self.cell_decode = bool(cell_decode)
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        common = dict(kernel_initializer=self.kernel_initializer, dtype=self.dtype_policy)
        self.hidden = [keras.layers.Dense(u, activation="relu", name=f"mlp_{i}", **common)
                       for i, u in enumerate(self.hidden_units)]
        self.head = keras.layers.Dense(self.out_channels, name=f"mlp_{len(self.hidden_units)}", **common)

    def mlp_input_dim(self, channels):
        """Width of the MLP input for `channels` latent channels (580 for LIIF's 64)."""
        return channels * (9 if self.feat_unfold else 1) + 2 + (2 if self.cell_decode else 0)

    def build(self, input_shape):
        feat_shape, coord_shape, cell_shape = input_shape
        if feat_shape[-1] is None:
            raise ValueError("LocalImplicitFunction needs the feature channels known.")
        if coord_shape[-1] != 2 or cell_shape[-1] != 2:
            raise ValueError(f"LocalImplicitFunction coord and cell must end in 2 (y, x), got {coord_shape} "
                             f"and {cell_shape}.")
        width = self.mlp_input_dim(int(feat_shape[-1]))
        for layer in self.hidden:
            layer.build((None, None, width))
            width = layer.units
        self.head.build((None, None, width))

    def _mlp(self, x):
        for layer in self.hidden:
            x = layer(x)
        return self.head(x)

    def call(self, inputs):
        feat, coord, cell = inputs
        coord = ops.cast(coord, "float32")
        cell = ops.cast(cell, "float32")
        if self.feat_unfold:
            feat = unfold_3x3(feat)
        shape = ops.shape(feat)
        h, w = shape[1], shape[2]
        h_f, w_f = ops.cast(h, "float32"), ops.cast(w, "float32")
        size = ops.stack([h_f, w_f])
        if self.local_ensemble:
            shifts, eps = [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)], ENSEMBLE_SHIFT
        else:
            shifts, eps = [(0.0, 0.0)], 0.0
        inputs_k, rel_k = [], []
        for vy, vx in shifts:
            shift = ops.stack([vy / h_f + eps, vx / w_f + eps])  # vy * (2 / h) / 2, as the official rx, ry
            shifted = ops.clip(coord + shift, -1.0 + CLAMP_EPS, 1.0 - CLAMP_EPS)
            iy = nearest_index(shifted[..., 0], h)
            ix = nearest_index(shifted[..., 1], w)
            q_feat = gather_pixels(feat, iy, ix)
            q_coord = ops.stack([pixel_center(iy, h), pixel_center(ix, w)], axis=-1)
            rel = (coord - q_coord) * size
            parts = [ops.cast(q_feat, self.compute_dtype), ops.cast(rel, self.compute_dtype)]
            if self.cell_decode:
                parts.append(ops.cast(cell * size, self.compute_dtype))
            inputs_k.append(ops.concatenate(parts, axis=-1))
            rel_k.append(rel)
        if len(shifts) == 1:
            return self._mlp(inputs_k[0])
        # One MLP pass over the four shifted queries (stacked on the query axis).
        q = ops.shape(coord)[1]
        preds = self._mlp(ops.concatenate(inputs_k, axis=1))
        preds = [ops.cast(preds[:, k * q:(k + 1) * q], "float32") for k in range(4)]
        areas = [ops.abs(r[..., 0] * r[..., 1]) + AREA_EPS for r in rel_k]
        total = areas[0] + areas[1] + areas[2] + areas[3]
        areas = [areas[3], areas[2], areas[1], areas[0]]  # the official diagonal swap
        out = 0.0
        for pred, area in zip(preds, areas):
            out = out + pred * (area / total)[..., None]
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1][:-1]) + (self.out_channels,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "hidden_units": list(self.hidden_units),
            "out_channels": self.out_channels,
            "feat_unfold": self.feat_unfold,
            "local_ensemble": self.local_ensemble,
            "cell_decode": self.cell_decode,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        })
        return config
