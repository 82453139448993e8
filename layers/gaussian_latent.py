"""GaussianLatent: the reparameterization of a diagonal Gaussian posterior (a VAE's latent sample).

Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014: a latent
`z = mean + exp(log_var / 2) * eps`, `eps ~ N(0, I)`, differentiable in the
mean and log-variance. RefVAE (Liu, Siu, Wang, CVPRW 2021; official
`model.py` `reparameterize` and `encode`) splits the output of its fully
connected encoder into `(mean, log_var)` halves (`chunk(2, dim=1)`) and
samples at training and at test time (its diverse SR outputs).

Here the input is the encoder's output `(B, 2L)`: the first `L` values are the
mean, the last `L` the log-variance. In training (`training=True`) the layer
samples. At inference it returns the mean (deterministic, keras-sr's default
for scoring) unless `sample_at_inference=True`, then it samples with its own
seed generator (`seed`: reproducible draws; each call draws anew). The KL
term is not added here: trainers read the layer's input (see
`kl_divergence`).

Example:
    >>> latent = GaussianLatent(name="latent")
    >>> z = latent(stats)                                   # (B, L): the mean at inference
    >>> kl = kl_divergence(stats)                           # (B,): KL(q(z | x) || N(0, I)) per sample
"""

import keras
from keras import ops

__all__ = ["GaussianLatent", "split_posterior", "kl_divergence"]


def split_posterior(stats):
    """`(mean, log_var)` halves of `(B, 2L)` posterior statistics."""
    size = stats.shape[-1]
    if size is None or size % 2:
        raise ValueError(f"GaussianLatent: the posterior statistics need an even last axis, got {stats.shape}.")
    return stats[:, : size // 2], stats[:, size // 2:]


def kl_divergence(stats):
    """`KL(N(mean, exp(log_var)) || N(0, I))` summed over the latent, per sample: `(B,)` float32.

    `-0.5 * sum(1 + log_var - mean^2 - exp(log_var))`, the official RefVAE `KL` (which also sums over the batch).
    """
    mean, log_var = split_posterior(ops.cast(stats, "float32"))
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)


@keras.saving.register_keras_serializable(package="keras_sr")
class GaussianLatent(keras.layers.Layer):
    """`(B, 2L)` posterior statistics -> `(B, L)` latent: a sample in training, the mean at inference.

    Args:
        sample_at_inference: sample outside training too (diverse outputs; default: the mean).
        seed: seed of the layer's `keras.random.SeedGenerator` (None: random).
    """

    def __init__(self, sample_at_inference=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.sample_at_inference = bool(sample_at_inference)
        self.seed = None if seed is None else int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs, training=False):
        mean, log_var = split_posterior(inputs)
        if not (training or self.sample_at_inference):
            return mean
        eps = keras.random.normal(ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None if input_shape[-1] is None else input_shape[-1] // 2)

    def get_config(self):
        config = super().get_config()
        config.update({"sample_at_inference": self.sample_at_inference, "seed": self.seed})
        return config
