"""LearnedWeightedSum: `sum_d w_d * x_d` with trainable scalar weights (DRCN's output ensemble).

Kim, Lee, Lee, "Deeply-Recursive Convolutional Network for Image
Super-Resolution", CVPR 2016 (https://arxiv.org/abs/1511.04491), Eq. 7: the
final output is `y = sum_{d=1}^{D} w_d * y_d` over the D intermediate
predictions of the recursions, with the `w_d` learned during training. The
weights start at `1 / D` (a plain average) and are not normalized, as in the
paper.

Example:
    >>> ensemble = LearnedWeightedSum()
    >>> y = ensemble([keras.ops.ones((1, 4, 4, 1)), keras.ops.zeros((1, 4, 4, 1))])
    >>> float(y[0, 0, 0, 0])                          # 0.5
"""

import keras
from keras import ops

__all__ = ["LearnedWeightedSum"]


@keras.saving.register_keras_serializable(package="keras_sr")
class LearnedWeightedSum(keras.layers.Layer):
    """Weighted sum of a list of same-shaped tensors with one trainable weight per input.

    Args:
        initial_value: starting value of every weight; None (default) starts
            at `1 / len(inputs)`.
    """

    def __init__(self, initial_value=None, **kwargs):
        super().__init__(**kwargs)
        self.initial_value = None if initial_value is None else float(initial_value)

    def build(self, input_shape):
        shapes = input_shape if isinstance(input_shape, (list, tuple)) else ()
        if not shapes or not isinstance(shapes[0], (list, tuple)):
            raise ValueError("LearnedWeightedSum takes a list of tensors.")
        count = len(input_shape)
        value = 1.0 / count if self.initial_value is None else self.initial_value
        self.ensemble_weights = self.add_weight(
            name="ensemble_weights", shape=(count,), initializer=keras.initializers.Constant(value)
        )

    def call(self, inputs):
        weights = ops.cast(self.ensemble_weights, inputs[0].dtype)
        total = inputs[0] * weights[0]
        for index in range(1, len(inputs)):
            total = total + inputs[index] * weights[index]
        return total

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        config = super().get_config()
        config.update({"initial_value": self.initial_value})
        return config
