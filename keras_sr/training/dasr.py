"""DASR training: the MoCo degradation-encoder warm-up, then L1 + contrastive, on the `fit` engine.

Wang et al., "Unsupervised Degradation Representation Learning for Blind
Super-Resolution", CVPR 2021 (https://arxiv.org/abs/2104.00416), Sec. 3.2 and
4.1, and the official code (The-Learning-And-Vision-Atelier-LAVA/DASR:
`moco/builder.py` MoCo, `trainer.py`, `option.py`), written anew:

* contrastive learning (MoCo, He et al. CVPR 2020): the query encoder is the
  model's `encoder` plus a two-layer MLP head (256 -> 256 -> 256, LeakyReLU
  0.1); the key encoder is a copy updated as `k <- m k + (1 - m) q`
  (m = 0.999) before every training forward pass, never by gradients; the
  negatives are a queue of 8,192 (32 x 256) L2-normalised past keys (a
  non-trainable variable with its write pointer); logits
  `[q . k+, q . queue] / 0.07`, cross entropy with the positive at index 0;
  the batch's keys are then enqueued. The query is one patch of an image,
  the key another patch of the same image under the same degradation
  (`keras_sr.data.blind_pairs`);
* the official schedule: the first `encoder_steps` steps (100 epochs) train
  the encoder alone with the contrastive loss (the generator is not run:
  `ops.cond` on the step counter), then everything with `L1 + contrastive`;
* one Adam over all parameters (as the official `make_optimizer`), with the
  generator's Adam bias correction counting from its first training step
  (`DelayedStartAdam`): PyTorch's Adam keeps a step count per parameter and
  the official generator has no gradient, hence no Adam state, during the
  warm-up. Keras' Adam has one global step; without this the generator's
  first joint steps would be several times larger.

`DASRTrainer` is a `MultiOutputTrainer`: `fit` (keras_sr.training.engine)
trains it through `compute_loss` on TensorFlow and JAX (the key encoder's
momentum update, the queue and the step counter are non-trainable
variables, assigned in `call` / `compute_loss`, which JAX's stateless step
carries). Its `network` is the registered `dasr` model, exported alone.

Example:
    >>> trainer = DASRTrainer(models.build("dasr", scale=4), encoder_steps=97_000)
    >>> trainer.compile(optimizer=DelayedStartAdam(1e-4, delay=97_000))
    >>> trainer.fit(BlindPairDataset(["T91/HR"], 4, 48, 32, 1000), epochs=1)
"""

import numpy as np

import keras
from keras import ops

from keras_sr.layers.degradation_encoder import DegradationEncoder
from keras_sr.training.multi_output import MultiOutputTrainer

__all__ = ["DelayedStartAdam", "DASRTrainer", "moco_logits", "contrastive_cross_entropy"]


@keras.saving.register_keras_serializable(package="keras_sr")
class DelayedStartAdam(keras.optimizers.Adam):
    """Adam whose bias correction for the variables given to `delay_variables` counts from step `delay`.

    For those variables the step used in `1 - beta^t` is `max(iterations + 1 - delay, 1)`, which is
    PyTorch's per-parameter Adam step for parameters that get their first gradient at step `delay`
    (DASR's generator after the encoder warm-up). Before `delay` they must get zero gradients (their
    moments stay 0, so they do not move). Other variables are plain Adam. `amsgrad` is not supported.

    Example:
        >>> optimizer = DelayedStartAdam(1e-4, delay=97_000)
        >>> optimizer.delay_variables(generator.trainable_variables)   # before the first step
    """

    def __init__(self, *args, delay=0, **kwargs):
        super().__init__(*args, **kwargs)
        if self.amsgrad:
            raise ValueError("DelayedStartAdam does not support amsgrad.")
        self.delay = int(delay)
        self._delayed_ids = set()
        self._delays = None

    def delay_variables(self, variables):
        """Mark `variables` as starting at step `delay` (call before the optimizer is built)."""
        if self.built:
            raise RuntimeError("DelayedStartAdam.delay_variables must be called before the first step.")
        self._delayed_ids |= {id(v) for v in variables}

    def build(self, var_list):
        super().build(var_list)
        self._delays = [self.delay if id(v) in self._delayed_ids else 0 for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        delay = self._delays[index] if self._delays else 0
        if not delay:
            return super().update_step(gradient, variable, learning_rate)
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        local_step = ops.maximum(ops.cast(self.iterations + 1 - delay, variable.dtype), 1.0)
        beta_1_power = ops.power(ops.cast(self.beta_1, variable.dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, variable.dtype), local_step)
        m, v = self._momentums[index], self._velocities[index]
        alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))

    def get_config(self):
        return {**super().get_config(), "delay": self.delay}


def _l2_normalize(x):
    return x / ops.maximum(ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True)), 1e-12)


def moco_logits(q, k, queue, temperature):
    """`[q . k, q . queue^T] / temperature` (B, 1 + K): the positive key first (MoCo)."""
    positive = ops.sum(q * k, axis=-1, keepdims=True)
    negative = ops.matmul(q, ops.transpose(queue))
    return ops.concatenate([positive, negative], axis=-1) / temperature


def contrastive_cross_entropy(logits):
    """Mean cross entropy with label 0 (the positive): `logsumexp(logits) - logits[:, 0]`."""
    return ops.mean(ops.logsumexp(logits, axis=-1) - logits[:, 0])


def _mlp_head(width, name, init):
    return keras.Sequential([keras.layers.Dense(width, kernel_initializer=init, name="fc1"),
                             keras.layers.LeakyReLU(negative_slope=0.1, name="act"),
                             keras.layers.Dense(width, kernel_initializer=init, name="fc2")], name=name)


class DASRTrainer(MultiOutputTrainer):
    """The DASR training model: `network` (the `dasr` model) + MLP head, momentum key encoder and key queue.

    Called on `{"query": lr_q, "key": lr_k}`; returns `{"sr", "logits"}` (`sr` is zeros during the
    warm-up). `compute_loss(x, hr, y_pred)` = contrastive + (step >= encoder_steps) * L1(sr, hr);
    the parts are logged as `contrastive` and `l1`.

    Args:
        network: the registered `dasr` model (layers "encoder" and "generator").
        scale: its scale.
        encoder_steps: the contrastive-only warm-up (official 100 epochs).
        queue_size: MoCo's K (official 32 * 256); a multiple of the batch size.
        momentum, temperature: MoCo's m (0.999) and T (0.07).
        seed: of the queue's random initial keys.
    """

    def __init__(self, network, scale, encoder_steps=0, queue_size=8192, momentum=0.999, temperature=0.07, seed=0,
                 name=None, **kwargs):
        super().__init__(network, loss=None, name=name or f"{network.name}_training", **kwargs)
        self.scale = int(scale)
        self.encoder_steps = int(encoder_steps)
        self.queue_size = int(queue_size)
        self.momentum = float(momentum)
        self.temperature = float(temperature)
        self.encoder = network.get_layer("encoder")
        self.generator = network.get_layer("generator")
        width = self.encoder.widths[-1]
        init = self.encoder.kernel_initializer
        self.head = _mlp_head(width, "head", init)
        self.key_encoder = DegradationEncoder(self.encoder.widths, kernel_initializer=init, name="key_encoder")
        self.key_head = _mlp_head(width, "key_head", init)
        self.head.build((None, width))
        self.key_encoder.build((None, None, None, 3))
        self.key_head.build((None, width))
        queries = self.encoder.weights + self.head.weights
        keys = self.key_encoder.weights + self.key_head.weights
        for q, k in zip(queries, keys):  # the key encoder starts as a copy of the query encoder
            k.assign(ops.convert_to_numpy(q))
        # Only the trained weights (conv kernels, biases, BN gamma/beta, MLP) follow the momentum update, as the
        # official `encoder_q.parameters()`; BN moving statistics are buffers. The key layers stay `trainable`
        # so their batch norms normalise with batch statistics in training, as the official key encoder's.
        self._momentum_pairs = [(q, k) for q, k in zip(queries, keys) if q.trainable]
        for _, k in self._momentum_pairs:
            k.trainable = False
        rng = np.random.default_rng(seed)
        initial = rng.standard_normal((self.queue_size, width))
        initial /= np.linalg.norm(initial, axis=1, keepdims=True)
        self.queue = self.add_weight(shape=(self.queue_size, width), initializer="zeros", dtype="float32",
                                     trainable=False, autocast=False, aggregation="only_first_replica", name="queue")
        self.queue.assign(initial.astype(np.float32))
        self.queue_pointer = self.add_weight(shape=(), initializer="zeros", dtype="int32", trainable=False,
                                             autocast=False, aggregation="only_first_replica", name="queue_pointer")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("contrastive", "l1")}

    def compile(self, optimizer="rmsprop", **kwargs):
        """Compile; a `DelayedStartAdam` gets the generator's variables as the ones it starts late."""
        if isinstance(optimizer, DelayedStartAdam):
            optimizer.delay_variables(self.generator.trainable_variables)
        super().compile(optimizer=optimizer, **kwargs)

    def _momentum_update(self):
        m = self.momentum
        for q, k in self._momentum_pairs:
            k.assign(m * k.value + (1.0 - m) * ops.stop_gradient(q.value))

    def _enqueue(self, keys):
        pointer = self.queue_pointer.value
        keys = ops.cast(keys, self.queue.dtype)
        queue = self.queue.value
        self.queue.assign(ops.slice_update(queue, ops.stack([pointer, ops.zeros((), "int32")]), keys))
        self.queue_pointer.assign((pointer + ops.shape(keys)[0]) % self.queue_size)

    def _super_resolve(self, lr, representation, training):
        if not (training and self.encoder_steps > 0):
            return self.generator([lr, representation], training=training)
        shape = ops.shape(lr)
        out_shape = (shape[0], shape[1] * self.scale, shape[2] * self.scale, 3)
        warm_up = self.train_steps.value < float(self.encoder_steps)
        return ops.cond(warm_up, lambda: ops.zeros(out_shape, dtype=self.generator.output.dtype),
                        lambda: self.generator([lr, representation], training=training))

    def call(self, inputs, training=False):
        lr_q, lr_k = ops.convert_to_tensor(inputs["query"]), ops.convert_to_tensor(inputs["key"])
        representation = self.encoder(lr_q, training=training)
        q = _l2_normalize(ops.cast(self.head(representation, training=training), "float32"))
        if training:
            self._momentum_update()
        k = self.key_head(self.key_encoder(lr_k, training=training), training=training)
        k = ops.stop_gradient(_l2_normalize(ops.cast(k, "float32")))
        queue = ops.stop_gradient(self.queue.value)  # read before this batch is enqueued
        logits = moco_logits(q, k, queue, self.temperature)
        if training:
            self._enqueue(k)
        sr = self._super_resolve(lr_q, representation, training)
        return {"sr": sr, "logits": logits}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        step = self.train_steps.value
        contrastive = contrastive_cross_entropy(y_pred["logits"])
        l1 = ops.mean(ops.abs(ops.cast(y_pred["sr"], "float32") - ops.cast(y, "float32")))
        joint = ops.cast(step >= float(self.encoder_steps), "float32")
        loss = contrastive + joint * l1
        if training:
            self.train_steps.assign(step + 1.0)
        self.trackers["contrastive"].update_state(contrastive)
        self.trackers["l1"].update_state(l1)
        return loss
