"""FlowWarp: backward warping of features by a dense flow field (bilinear), in `keras.ops`.

Used by CrossNet's multiscale warping (Zheng et al., ECCV 2018; official
`Model/Backward_warp_layer.py`: sampling coordinates clamped to the image,
i.e. border replication) and by DATSR's pre-warping of the reference
features (Cao et al., ECCV 2022; official `flow_warp`: `F.grid_sample` with
`align_corners=True` and zero padding). `out[b, y, x] = x_in[b, y + fy, x + fx]`
sampled bilinearly at the pixel coordinates `(y + fy, x + fx)`.

* `padding="border"`: coordinates clamped to `[0, H-1] x [0, W-1]` first (CrossNet);
* `padding="zeros"`: each bilinear corner outside the image contributes zero
  (`grid_sample(padding_mode="zeros", align_corners=True)`, DATSR);
* `flow_order="xy"`: `flow[..., 0]` is the horizontal displacement (both
  official codes), `"yx"` the vertical one first (keras-sr's `patch_flow`).

Example:
    >>> warp = FlowWarp(padding="border")
    >>> aligned = warp([reference_features, flow])       # the flow's grid, the features' channels
    >>> flow_warp(x, flow, padding="zeros")              # the functional form
"""

import keras
from keras import ops

__all__ = ["FlowWarp", "flow_warp"]

PADDINGS = ("border", "zeros")


def flow_warp(x, flow, padding="border", flow_order="xy"):
    """Bilinear backward warp of `x` `(B, H, W, C)` by `flow` `(B, H, W, 2)` (pixels); see the module docstring."""
    if padding not in PADDINGS:
        raise ValueError(f"flow_warp: padding must be one of {PADDINGS}, got {padding!r}.")
    if flow_order not in ("xy", "yx"):
        raise ValueError(f"flow_warp: flow_order must be 'xy' or 'yx', got {flow_order!r}.")
    shape = ops.shape(x)
    batch, height, width = shape[0], shape[1], shape[2]
    channels = x.shape[-1]
    flow = ops.cast(flow, "float32")
    fx, fy = (flow[..., 0], flow[..., 1]) if flow_order == "xy" else (flow[..., 1], flow[..., 0])
    ys = ops.cast(ops.arange(height), "float32")[None, :, None] + fy
    xs = ops.cast(ops.arange(width), "float32")[None, None, :] + fx
    h_f, w_f = ops.cast(height, "float32"), ops.cast(width, "float32")
    if padding == "border":
        ys = ops.clip(ys, 0.0, h_f - 1.0)
        xs = ops.clip(xs, 0.0, w_f - 1.0)
    y0 = ops.floor(ops.stop_gradient(ys))
    x0 = ops.floor(ops.stop_gradient(xs))
    wy1, wx1 = ys - y0, xs - x0
    flat = ops.reshape(x, (-1, channels))
    base = ops.reshape(ops.arange(batch, dtype="int32"), (-1, 1, 1)) * ops.cast(height * width, "int32")
    h_i, w_i = ops.cast(height, "int32"), ops.cast(width, "int32")
    out = None
    for dy, wy in ((0, 1.0 - wy1), (1, wy1)):
        for dx, wx in ((0, 1.0 - wx1), (1, wx1)):
            yy = ops.cast(y0, "int32") + dy
            xx = ops.cast(x0, "int32") + dx
            weight = wy * wx
            if padding == "zeros":
                weight = weight * ops.cast((yy >= 0) & (yy < h_i) & (xx >= 0) & (xx < w_i), "float32")
            yy = ops.clip(yy, 0, h_i - 1)
            xx = ops.clip(xx, 0, w_i - 1)
            values = ops.take(flat, ops.reshape(base + yy * w_i + xx, (-1,)), axis=0)
            values = ops.reshape(values, (batch, height, width, channels))
            term = values * ops.cast(weight, x.dtype)[..., None]
            out = term if out is None else out + term
    return out


@keras.saving.register_keras_serializable(package="keras_sr")
class FlowWarp(keras.layers.Layer):
    """`[features (B, H, W, C), flow (B, H, W, 2)] -> (B, H, W, C)`: bilinear backward warping (no weights).

    Args:
        padding: "border" (clamped coordinates, CrossNet) or "zeros" (grid_sample zeros, DATSR).
        flow_order: "xy" (`flow[..., 0]` horizontal, the official codes) or "yx".

    Example:
        >>> FlowWarp()([keras.ops.ones((1, 4, 5, 3)), keras.ops.zeros((1, 4, 5, 2))]).shape   # (1, 4, 5, 3)
    """

    def __init__(self, padding="border", flow_order="xy", **kwargs):
        super().__init__(**kwargs)
        if padding not in PADDINGS:
            raise ValueError(f"FlowWarp: padding must be one of {PADDINGS}, got {padding!r}.")
        if flow_order not in ("xy", "yx"):
            raise ValueError(f"FlowWarp: flow_order must be 'xy' or 'yx', got {flow_order!r}.")
        self.padding = padding
        self.flow_order = flow_order

    def call(self, inputs):
        features, flow = inputs
        return flow_warp(features, flow, self.padding, self.flow_order)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "flow_order": self.flow_order})
        return config
