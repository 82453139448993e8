"""NoiseInjection: StyleGAN's per-pixel noise, `x + strength * noise`, with a fixed (stored) or a fresh noise map.

Karras et al., "A Style-Based Generator Architecture for GANs" (CVPR 2019),
Sec. 2 ("stochastic variation"), kept in StyleGAN2: a single-channel Gaussian
noise map broadcast over the channels and scaled by a learned scalar
(initialised to 0). mmagic's `NoiseInjection` (stylegan1_modules.py) draws the
noise per call unless given one; GLEAN passes the generator's stored
`injected_noise_*` buffers, i.e. a fixed noise map, which is `mode="fixed"`
here: the map is a non-trainable weight of shape (1, H, W, 1) (so the
StyleGAN2 converter loads the released buffers into it and `.keras` files keep
it). `mode="random"` draws a new map at every call.

Example:
    >>> noise = NoiseInjection(mode="fixed")              # GLEAN's latent bank
    >>> y = noise(keras.random.normal((2, 8, 8, 16)))    # same shape; strength 0 at first: y == x
    >>> NoiseInjection(mode="random", seed=0)
"""

import keras
from keras import ops

__all__ = ["NoiseInjection"]


@keras.saving.register_keras_serializable(package="keras_sr")
class NoiseInjection(keras.layers.Layer):
    """`x + strength * noise` with a (1, H, W, 1) noise map.

    Args:
        mode: "fixed" (a stored map, the input's spatial size must be known) or "random" (a fresh map per call).
        strength_init: initial strength (0).
        seed: seed of the stored map's initializer / of the random draws.
    """

    def __init__(self, mode="fixed", strength_init=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("fixed", "random"):
            raise ValueError(f"NoiseInjection mode must be 'fixed' or 'random', got {mode!r}.")
        self.mode = mode
        self.strength_init = float(strength_init)
        self.seed = seed
        if mode == "random":
            self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.strength = self.add_weight(shape=(1,), name="strength",
                                        initializer=keras.initializers.Constant(self.strength_init))
        if self.mode == "fixed":
            h, w = input_shape[1], input_shape[2]
            if h is None or w is None:
                raise ValueError(f"NoiseInjection(mode='fixed') needs a known spatial size, got {input_shape}.")
            self.noise = self.add_weight(shape=(1, int(h), int(w), 1), name="noise", trainable=False,
                                         initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed))

    def call(self, inputs):
        if self.mode == "fixed":
            noise = ops.cast(self.noise, self.compute_dtype)
        else:
            shape = ops.shape(inputs)
            noise = keras.random.normal((shape[0], shape[1], shape[2], 1), seed=self.seed_generator,
                                        dtype=self.compute_dtype)
        return inputs + ops.cast(self.strength, self.compute_dtype) * noise

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "strength_init": self.strength_init, "seed": self.seed})
        return config
