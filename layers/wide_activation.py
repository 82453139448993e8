"""Wide-activation residual blocks of WDSR-A and WDSR-B.

Yu et al., "Wide Activation for Efficient and Accurate Image Super-Resolution",
arXiv 2018 (https://arxiv.org/abs/1808.08718); official code
JiahuiYu/wdsr_ntire2018 (`wdsr_a.py`, `wdsr_b.py`). Every convolution is
weight-normalized (`keras_sr.layers.weight_normalization.WeightNormalization`).
"""

import keras

from keras_sr.layers.weight_normalization import WeightNormalization


class _WideActivationBlock(keras.layers.Layer):
    """Shared plumbing: a chain of weight-normalized convs and a scaled residual."""

    def __init__(
        self,
        kernel_size=3,
        residual_scale=1.0,
        weight_norm=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.residual_scale = float(residual_scale)
        self.weight_norm = bool(weight_norm)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _conv_specs(self, channels):
        """[(filters, kernel_size, activation), ...] of the residual branch."""
        raise NotImplementedError

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{type(self).__name__} needs a known channel dimension.")
        self.convs = []
        shape = tuple(input_shape)
        for index, (filters, kernel_size, activation) in enumerate(self._conv_specs(channels)):
            conv = keras.layers.Conv2D(
                filters,
                kernel_size,
                padding="same",
                activation=activation,
                kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer,
                dtype=self.dtype_policy,
                name=f"conv_{index}",
            )
            if self.weight_norm:
                conv = WeightNormalization(conv, dtype=self.dtype_policy, name=f"weight_norm_conv_{index}")
            conv.build(shape)
            shape = shape[:-1] + (filters,)
            self.convs.append(conv)

    def call(self, inputs):
        x = inputs
        for conv in self.convs:
            x = conv(x)
        if self.residual_scale != 1.0:
            x = x * self.residual_scale
        return inputs + x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "residual_scale": self.residual_scale,
                "weight_norm": self.weight_norm,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class WideActivationBlockA(_WideActivationBlock):
    """WDSR-A block: `x + s * conv_k(relu(conv_k(x)))`, widened inside.

    The first convolution expands C channels to `int(C * expansion)` (the
    official `block_feats`; the baseline is 32 -> 128), the second maps back.

    Args:
        expansion: width multiplier before the ReLU (4).
        kernel_size: size of both convolutions (3).
        residual_scale: factor on the residual branch (`res_scale`, 1.0).
        weight_norm: wrap each convolution in `WeightNormalization` (True).
        kernel_initializer, bias_initializer: for every convolution.

    Example:
        >>> block = WideActivationBlockA(expansion=4)
        >>> y = block(keras.random.normal((1, 16, 16, 32)))
        >>> y.shape  # (1, 16, 16, 32)
    """

    def __init__(self, expansion=4, **kwargs):
        super().__init__(**kwargs)
        self.expansion = float(expansion)

    def _conv_specs(self, channels):
        wide = int(channels * self.expansion)
        if wide < 1:
            raise ValueError(f"expansion {self.expansion} leaves no channels out of {channels}.")
        return [(wide, self.kernel_size, "relu"), (channels, self.kernel_size, None)]

    def get_config(self):
        config = super().get_config()
        config["expansion"] = self.expansion
        return config


@keras.saving.register_keras_serializable(package="keras_sr")
class WideActivationBlockB(_WideActivationBlock):
    """WDSR-B block: wider activation with a linear low-rank convolution.

    `x + s * conv_k(conv_1x1(relu(conv_1x1(x))))`: 1x1 from C to
    `C * expansion`, ReLU, 1x1 down to `int(C * low_rank_ratio)`, then a k x k
    convolution back to C (official: expand = 6, linear = 0.8).

    Args:
        expansion: width multiplier before the ReLU (6).
        low_rank_ratio: channels of the linear low-rank 1x1 as a fraction of C (0.8).
        kernel_size: size of the last convolution (3).
        residual_scale: factor on the residual branch (`res_scale`, 1.0).
        weight_norm: wrap each convolution in `WeightNormalization` (True).
        kernel_initializer, bias_initializer: for every convolution.

    Example:
        >>> block = WideActivationBlockB(expansion=6, low_rank_ratio=0.8)
        >>> y = block(keras.random.normal((1, 16, 16, 32)))
        >>> y.shape  # (1, 16, 16, 32)
    """

    def __init__(self, expansion=6, low_rank_ratio=0.8, **kwargs):
        super().__init__(**kwargs)
        self.expansion = float(expansion)
        self.low_rank_ratio = float(low_rank_ratio)

    def _conv_specs(self, channels):
        wide = int(channels * self.expansion)
        low_rank = int(channels * self.low_rank_ratio)
        if wide < 1 or low_rank < 1:
            raise ValueError(
                f"expansion {self.expansion} / low_rank_ratio {self.low_rank_ratio} leave no channels out of {channels}."
            )
        return [(wide, 1, "relu"), (low_rank, 1, None), (channels, self.kernel_size, None)]

    def get_config(self):
        config = super().get_config()
        config.update({"expansion": self.expansion, "low_rank_ratio": self.low_rank_ratio})
        return config
