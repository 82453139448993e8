"""PlanesToChannels: a plane sweep volume folded into the batch, stacked along the channels instead.

Cross-MPI (Zhou et al., CVPR 2021; official `crossmpi/mpi.py`
`format_network_input`) feeds its guidance encoder the target view and the
D reference planes as one image of `3 (D + 1)` channels:
`[target | psv_0 | psv_1 | ... ]`, plane-major. This layer turns the folded
planes `(B * D, H, W, C)` (row `b * D + i`, as `PlaneSweepVolume`) into
`(B, H, W, D * C)` in that order.

Example:
    >>> stacked = PlanesToChannels(4)(psv)                     # (B, H, W, 4 * C)
"""

import keras
from keras import ops

__all__ = ["PlanesToChannels"]


@keras.saving.register_keras_serializable(package="keras_sr")
class PlanesToChannels(keras.layers.Layer):
    """`(B * D, H, W, C) -> (B, H, W, D * C)`, channel `i * C + c` = plane `i`, channel `c` (no weights).

    Args:
        num_planes: D.
    """

    def __init__(self, num_planes, **kwargs):
        super().__init__(**kwargs)
        if int(num_planes) < 1:
            raise ValueError(f"PlanesToChannels: num_planes must be >= 1, got {num_planes!r}.")
        self.num_planes = int(num_planes)

    def call(self, inputs):
        shape = ops.shape(inputs)
        channels = inputs.shape[-1]
        planes = ops.reshape(inputs, (-1, self.num_planes, shape[1], shape[2], channels))
        planes = ops.transpose(planes, (0, 2, 3, 1, 4))
        return ops.reshape(planes, (-1, shape[1], shape[2], self.num_planes * channels))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (None if b is None else b // self.num_planes, h, w, None if c is None else c * self.num_planes)

    def get_config(self):
        config = super().get_config()
        config.update({"num_planes": self.num_planes})
        return config
