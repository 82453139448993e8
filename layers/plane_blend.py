"""PlaneBlend: per-pixel weighted sum over the planes of a plane sweep volume (Cross-MPI's view synthesis).

Zhou, Wu, Fu, Li, Liu, "Cross-MPI", CVPR 2021 (official `crossmpi/nets.py`
`guided_att_hr_syn_net`, "Transfer psv to construct hr_syn"): with softmax
attention weights `A` over the D planes, the synthesized view is
`sum_i A[b, y, x, i] * psv[b, i, y, x]`, the reference rendered onto the
target view through the plane-aware attention (an MPI with the attention as
per-plane alpha, summed instead of over-composited, as the official code).

Inputs: `[weights (B, H, W, D), planes (B * D, H, W, C)]` (planes folded into the batch, row `b * D + i`);
output `(B, H, W, C)`.

Example:
    >>> view = PlaneBlend(4)([keras.layers.Softmax()(scores), psv])     # (B, H, W, 3)
"""

import keras
from keras import ops

__all__ = ["PlaneBlend"]


@keras.saving.register_keras_serializable(package="keras_sr")
class PlaneBlend(keras.layers.Layer):
    """`[(B, H, W, D), (B * D, H, W, C)] -> (B, H, W, C)` (no weights).

    Args:
        num_planes: D.
    """

    def __init__(self, num_planes, **kwargs):
        super().__init__(**kwargs)
        if int(num_planes) < 1:
            raise ValueError(f"PlaneBlend: num_planes must be >= 1, got {num_planes!r}.")
        self.num_planes = int(num_planes)

    def call(self, inputs):
        weights, planes = inputs
        shape = ops.shape(weights)
        planes = ops.reshape(planes, (-1, self.num_planes, shape[1], shape[2], planes.shape[-1]))
        return ops.einsum("bhwd,bdhwc->bhwc", weights, planes)

    def compute_output_shape(self, input_shape):
        weights, planes = input_shape
        return (*weights[:3], planes[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"num_planes": self.num_planes})
        return config
