"""SR3's diffusion process and samplers: noise schedules, the forward process, ancestral and DDIM sampling, upscaling.

Saharia et al., "Image Super-Resolution via Iterative Refinement" (SR3, 2021):

* schedule: `alpha_t = 1 - beta_t`, `gamma_t = prod_{i <= t} alpha_i` (Sec. 2.1);
  training uses T = 2000 linear betas 1e-6 -> 0.01 (`TRAIN_SCHEDULE`; the paper's
  T = 2000, the betas as the unofficial implementation's configs; marked);
* forward process (Eq. 4): `y_gamma = sqrt(gamma) y0 + sqrt(1 - gamma) eps`
  (`q_sample`, keras.ops); training draws t uniformly in {1..T} and gamma
  uniformly in [gamma_t, gamma_{t-1}] (Sec. 2.4, the piecewise p(gamma);
  `sample_training_gamma`);
* the paper's ancestral sampler (Alg. 2): from `y_T ~ N(0, I)`,
  `y_{t-1} = (y_t - (1 - alpha_t) / sqrt(1 - gamma_t) * f(x, y_t, gamma_t)) / sqrt(alpha_t)
  + sqrt(1 - alpha_t) z` (z = 0 at the last step), on an inference schedule of its
  own (`AncestralSampler`; default 100 steps, linear 1e-4 -> 0.1, marked: the
  paper searches it per task);
* DDIM (Song et al., ICLR 2021, Eq. 12) on any sub-sequence of noise levels,
  possible because the denoiser is conditioned on gamma itself (`DDIMSampler`,
  eta = 0 deterministic; `x0` clipped to [-1, 1], marked).

Both samplers run their updates in keras.ops on the backend's device; the
denoiser is a registered "diffusion" model (`keras_sr.models.sr3`) taking
`{"noisy", "lr_up", "gamma"}`. `sampler_from_config(model.model_config["sampler"])`
builds the sampler a model was saved with; `diffusion_upscaler(model)` is the
`upscale(lr, ref, scale)` of `keras_sr.upscalers` for such a model (LR ->
MATLAB bicubic x scale, padded by reflection to the U-Net's multiple, sampled,
cropped, to [0, 255]).

Example:
    >>> sampler = DDIMSampler(TRAIN_SCHEDULE, steps=50)
    >>> sr = sampler.sample(denoiser, lr_up_batch, seed=0)                 # (N, H, W, 3) in [-1, 1]
    >>> upscale = diffusion_upscaler(denoiser); sr = upscale(lr_uint8, None, 4)   # float32 in [0, 255]
"""

import time

import numpy as np

from keras_sr.imresize import imresize

__all__ = ["NoiseSchedule", "TRAIN_SCHEDULE", "q_sample", "sample_training_gamma", "AncestralSampler", "DDIMSampler",
           "sampler_from_config", "diffusion_upscaler", "model_multiple"]


class NoiseSchedule:
    """A discrete schedule: `betas`, `alphas = 1 - betas`, `gammas = cumprod(alphas)` (float64 numpy), T steps.

    Example:
        >>> s = NoiseSchedule.linear(2000, 1e-6, 1e-2)
        >>> s.gammas[-1], s.gamma_prev[0]                   # ~0.0000 ... 1.0
    """

    def __init__(self, betas):
        betas = np.asarray(betas, np.float64)
        if betas.ndim != 1 or not len(betas) or (betas <= 0).any() or (betas >= 1).any():
            raise ValueError("NoiseSchedule betas must be a non-empty 1-D array in (0, 1).")
        self.betas = betas
        self.alphas = 1.0 - betas
        self.gammas = np.cumprod(self.alphas)
        self.gamma_prev = np.concatenate([[1.0], self.gammas[:-1]])

    @classmethod
    def linear(cls, steps, beta_start, beta_end):
        return cls(np.linspace(float(beta_start), float(beta_end), int(steps), dtype=np.float64))

    def __len__(self):
        return len(self.betas)

    def to_config(self):
        return {"steps": len(self), "beta_start": float(self.betas[0]), "beta_end": float(self.betas[-1])}


TRAIN_SCHEDULE = NoiseSchedule.linear(2000, 1e-6, 1e-2)


def q_sample(y0, gamma, noise):
    """The forward process `sqrt(gamma) y0 + sqrt(1 - gamma) noise`; gamma broadcast per sample ((N, 1) or (N,))."""
    from keras import ops

    g = ops.reshape(ops.cast(gamma, y0.dtype), (-1, 1, 1, 1))
    return ops.sqrt(g) * y0 + ops.sqrt(1.0 - g) * ops.cast(noise, y0.dtype)


def sample_training_gamma(schedule, batch, seed):
    """(batch, 1) noise levels of the paper's p(gamma): t ~ U{1..T}, gamma ~ U(gamma_t, gamma_{t-1}) (keras.random)."""
    import keras
    from keras import ops

    t = keras.random.randint((batch,), 0, len(schedule), seed=seed)
    hi = ops.take(ops.convert_to_tensor(schedule.gamma_prev.astype(np.float32)), t)
    lo = ops.take(ops.convert_to_tensor(schedule.gammas.astype(np.float32)), t)
    u = keras.random.uniform((batch,), seed=seed)
    return ops.reshape(lo + u * (hi - lo), (batch, 1))


class _Sampler:
    """Shared loop: `sample(model, lr_up, seed)` from pure noise; `step_times` are the last run's seconds per step."""

    def __init__(self):
        self.step_times = []

    def levels(self):
        raise NotImplementedError

    def step(self, y, eps, index, z):
        raise NotImplementedError

    def sample(self, model, lr_up, seed=0, noise=None):
        """`y0` (N, H, W, 3) in about [-1, 1] for the bicubic-upsampled LR batch `lr_up` ([0, 255])."""
        import keras
        from keras import ops

        lr_up = ops.convert_to_tensor(np.asarray(lr_up, np.float32))
        generator = keras.random.SeedGenerator(seed)
        shape = tuple(lr_up.shape)
        y = keras.random.normal(shape, seed=generator) if noise is None else ops.convert_to_tensor(noise)
        self.step_times = []
        levels = self.levels()
        for index, gamma in enumerate(levels):
            start = time.perf_counter()
            g = ops.full((shape[0], 1), float(gamma), dtype="float32")
            eps = model({"noisy": y, "lr_up": lr_up, "gamma": g}, training=False)
            last = index == len(levels) - 1
            z = None if last or not self.stochastic else keras.random.normal(shape, seed=generator)
            y = self.step(y, eps, index, z)
            ops.convert_to_numpy(y[:1, :1, :1])  # wait for the device: honest per-step times
            self.step_times.append(time.perf_counter() - start)
        return y


class AncestralSampler(_Sampler):
    """The paper's Algorithm 2 on `schedule` (its own inference schedule), from t = T down to 1.

    Args:
        schedule: a `NoiseSchedule` (default: 100 linear steps 1e-4 -> 0.1).
        clip: clip the final output to [-1, 1] (the algorithm itself does not clip).
    """

    stochastic = True

    def __init__(self, schedule=None, clip=True):
        super().__init__()
        self.schedule = schedule or NoiseSchedule.linear(100, 1e-4, 0.1)
        self.clip = bool(clip)

    def levels(self):
        return self.schedule.gammas[::-1]

    def step(self, y, eps, index, z):
        """One update at schedule index `t = T - 1 - index` (0-based); `z` None at the last step."""
        from keras import ops

        t = len(self.schedule) - 1 - index
        alpha, gamma = float(self.schedule.alphas[t]), float(self.schedule.gammas[t])
        y = (y - (1.0 - alpha) / np.sqrt(1.0 - gamma) * ops.cast(eps, y.dtype)) / np.sqrt(alpha)
        if z is not None:
            y = y + np.sqrt(1.0 - alpha) * z
        elif self.clip:
            y = ops.clip(y, -1.0, 1.0)
        return y


class DDIMSampler(_Sampler):
    """DDIM (Song et al. 2021) over `steps` noise levels of `schedule` (default the training schedule), eta = 0.

    Args:
        schedule: the `NoiseSchedule` whose levels are sub-sampled (the training one).
        steps: number of denoiser calls (the levels `gammas[round(linspace(T - 1, 0, steps))]`).
        eta: 0 (deterministic) .. 1 (DDPM-like noise).
        clip_x0: clip the predicted clean image to [-1, 1] at each step.
    """

    def __init__(self, schedule=None, steps=50, eta=0.0, clip_x0=True):
        super().__init__()
        self.schedule = schedule or TRAIN_SCHEDULE
        self.steps = int(steps)
        if not 1 <= self.steps <= len(self.schedule):
            raise ValueError(f"DDIMSampler steps must be in 1..{len(self.schedule)}, got {steps}.")
        self.eta = float(eta)
        self.clip_x0 = bool(clip_x0)
        index = np.unique(np.round(np.linspace(len(self.schedule) - 1, 0, self.steps)).astype(int))[::-1]
        self._gammas = self.schedule.gammas[index]
        self._next = np.concatenate([self._gammas[1:], [1.0]])

    @property
    def stochastic(self):
        return self.eta > 0

    def levels(self):
        return self._gammas

    def step(self, y, eps, index, z):
        """From level `gammas[index]` to the next (1.0 after the last: the clean image)."""
        from keras import ops

        g, g_next = float(self._gammas[index]), float(self._next[index])
        eps = ops.cast(eps, y.dtype)
        x0 = (y - np.sqrt(1.0 - g) * eps) / np.sqrt(g)
        if self.clip_x0:
            x0 = ops.clip(x0, -1.0, 1.0)
        sigma = self.eta * np.sqrt(max((1.0 - g_next) / (1.0 - g) * (1.0 - g / g_next), 0.0))
        y = np.sqrt(g_next) * x0 + np.sqrt(max(1.0 - g_next - sigma ** 2, 0.0)) * eps
        if z is not None and sigma > 0:
            y = y + sigma * z
        return y


def sampler_from_config(config):
    """A sampler from a model config's `sampler` dict (`keras_sr.models.sr3.DEFAULT_SAMPLER` when None)."""
    from keras_sr.models.sr3 import DEFAULT_SAMPLER

    config = dict(DEFAULT_SAMPLER if config is None else config)
    kind = config.pop("kind")
    if kind == "ancestral":
        schedule = NoiseSchedule.linear(config.get("steps", 100), config.get("beta_start", 1e-4),
                                        config.get("beta_end", 0.1))
        return AncestralSampler(schedule, clip=config.get("clip", True))
    if kind == "ddim":
        schedule = NoiseSchedule.linear(config.get("train_steps", 2000), config.get("beta_start", 1e-6),
                                        config.get("beta_end", 1e-2))
        return DDIMSampler(schedule, steps=config.get("steps", 50), eta=config.get("eta", 0.0),
                           clip_x0=config.get("clip_x0", True))
    raise ValueError(f"unknown sampler kind {kind!r} (ancestral or ddim).")


def model_multiple(model):
    """The U-Net's size multiple `2 ** (levels - 1)` of a registered SR3 model."""
    config = getattr(model, "model_config", {}) or {}
    return 2 ** (len(config.get("channel_multipliers", (1, 2, 4, 8, 8))) - 1)


def diffusion_upscaler(model, sampler=None, seed=0, label=None):
    """`upscale(lr, ref, scale) -> sr` (float32 HxWx3 in [0, 255]) running `sampler` (default: the model's own).

    The LR image is upsampled by MATLAB bicubic (the evaluation protocol's resize), reflected up to the
    U-Net's multiple, sampled from noise with `seed`, cropped and mapped to [0, 255]. `upscale.sampler` keeps
    the sampler (its `step_times` after a call).
    """
    config = getattr(model, "model_config", {}) or {}
    sampler = sampler or sampler_from_config(config.get("sampler"))
    model_scale = config.get("scale")
    multiple = model_multiple(model)

    def upscale(lr, ref=None, scale=model_scale):
        from keras import ops

        scale = int(model_scale if scale is None else scale)
        if model_scale is not None and scale != int(model_scale):
            raise ValueError(f"{label or model.name} is an x{model_scale} diffusion model, asked for x{scale}.")
        lr_up = imresize(np.asarray(lr, np.float64), scale)
        h, w = lr_up.shape[:2]
        ph, pw = (-h) % multiple, (-w) % multiple
        padded = np.pad(lr_up, ((0, ph), (0, pw), (0, 0)), mode="symmetric") if ph or pw else lr_up
        y = sampler.sample(model, padded[None].astype(np.float32), seed=seed)
        sr = (np.asarray(ops.convert_to_numpy(y), np.float32)[0, :h, :w] + 1.0) * 127.5
        return np.clip(sr, 0.0, 255.0)

    upscale.scale = model_scale
    upscale.label = label or model.name
    upscale.kind = "sisr"
    upscale.sampler = sampler
    return upscale
