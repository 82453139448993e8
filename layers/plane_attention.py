"""PlaneAttention: Cross-MPI's initial plane-aware attention, the LR features dotted with each plane's features.

Zhou, Wu, Fu, Li, Liu, "Cross-MPI", CVPR 2021 (Sec. 3.2; official
`crossmpi/nets.py` `guided_att_hr_syn_net`, "Construction of A"): for every
pixel, `A[b, y, x, i] = <f_lr[b, y, x], f_psv[b, i, y, x]>` over the feature
channels, the similarity of the target view's features with plane `i` of the
reference's plane sweep volume (no normalization, no softmax: the official
network refines these scores with convolutions before its softmax).

Inputs: `[f_lr (B, H, W, C), f_planes (B * D, H, W, C)]` (planes folded into the batch, row `b * D + i`, as
`PlaneSweepVolume`); output `(B, H, W, D)`.

Example:
    >>> scores = PlaneAttention(4)([f_lr, f_planes])          # (B, H, W, 4)
"""

import keras
from keras import ops

__all__ = ["PlaneAttention"]


@keras.saving.register_keras_serializable(package="keras_sr")
class PlaneAttention(keras.layers.Layer):
    """`[(B, H, W, C), (B * D, H, W, C)] -> (B, H, W, D)`: per-pixel dot products (no weights).

    Args:
        num_planes: D.
    """

    def __init__(self, num_planes, **kwargs):
        super().__init__(**kwargs)
        if int(num_planes) < 1:
            raise ValueError(f"PlaneAttention: num_planes must be >= 1, got {num_planes!r}.")
        self.num_planes = int(num_planes)

    def call(self, inputs):
        query, planes = inputs
        shape = ops.shape(query)
        planes = ops.reshape(planes, (-1, self.num_planes, shape[1], shape[2], query.shape[-1]))
        return ops.einsum("bhwc,bdhwc->bhwd", query, planes)

    def compute_output_shape(self, input_shape):
        query, _ = input_shape
        return (*query[:3], self.num_planes)

    def get_config(self):
        config = super().get_config()
        config.update({"num_planes": self.num_planes})
        return config
