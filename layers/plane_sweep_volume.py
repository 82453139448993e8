"""PlaneSweepVolume: a reference view swept over fronto-parallel depth planes, for a rectified stereo pair.

Cross-MPI (Zhou, Wu, Fu, Li, Liu, CVPR 2021; official `crossmpi/mpi.py`
`format_network_input`, after Stereo Magnification's `plane_sweep`) warps the
high-resolution reference view onto the low-resolution target view once per
depth plane with the plane's homography (camera intrinsics and poses). For a
**rectified** pair (keras-sr's reduction; the RefSR inputs carry no camera
geometry) the homography of a fronto-parallel plane is a horizontal shift by
the plane's disparity `d = f B / depth`: plane `i` is
`psv_i[y, x] = ref[y, x - d_i]`, linearly interpolated, zero outside the
reference (the official warp samples with zero padding, on [-1, 1] images).
Planes uniform in inverse depth (the official `inv_depths`) are uniform in
disparity, so `disparities` is usually `linspace(d_min, d_max, D)`.

The output folds the planes into the batch, row `b * D + i` (as
`FoldReferences`), so one 2-D feature extractor serves every plane.

Example:
    >>> psv = PlaneSweepVolume([0.0, 2.5, 5.0])(keras.ops.ones((2, 16, 16, 3)))   # (6, 16, 16, 3)
    >>> PlaneSweepVolume.from_config(PlaneSweepVolume([1.0]).get_config()).disparities   # (1.0,)
"""

import math

import keras
from keras import ops

__all__ = ["PlaneSweepVolume", "shift_columns"]


def shift_columns(x, shift):
    """`out[..., x, :] = x[..., x - shift, :]` along axis 2 of NHWC, linear between columns, zeros outside."""
    width = ops.shape(x)[2]
    base = math.floor(shift)
    frac = shift - base
    columns = ops.arange(width)

    def take(offset):  # x[:, :, c - offset], zero where c - offset is outside [0, width)
        source = columns - offset
        valid = ops.cast(ops.logical_and(source >= 0, source < width), x.dtype)
        gathered = ops.take(x, ops.clip(source, 0, width - 1), axis=2)
        return gathered * ops.reshape(valid, (1, 1, -1, 1))

    # position x - shift lies between columns x - base - 1 (weight frac) and x - base (weight 1 - frac)
    out = take(base)
    if frac:
        out = out * (1.0 - frac) + take(base + 1) * frac
    return out


@keras.saving.register_keras_serializable(package="keras_sr")
class PlaneSweepVolume(keras.layers.Layer):
    """`(B, H, W, C) -> (B * D, H, W, C)`: the reference shifted by each of the D disparities (no weights).

    Args:
        disparities: the planes' disparities in pixels of the input (positive: the reference is the right view,
            content moves left in it).
    """

    def __init__(self, disparities, **kwargs):
        super().__init__(**kwargs)
        disparities = tuple(float(d) for d in disparities)
        if not disparities:
            raise ValueError("PlaneSweepVolume: give at least one disparity.")
        self.disparities = disparities

    def call(self, inputs):
        planes = ops.stack([shift_columns(inputs, d) for d in self.disparities], axis=1)  # (B, D, H, W, C)
        shape = ops.shape(inputs)
        return ops.reshape(planes, (-1, shape[1], shape[2], inputs.shape[-1]))

    def compute_output_shape(self, input_shape):
        b = input_shape[0]
        return (None if b is None else b * len(self.disparities), *input_shape[1:])

    def get_config(self):
        config = super().get_config()
        config.update({"disparities": list(self.disparities)})
        return config
