"""Data-parallel training on every backend: `--strategy auto|mirrored|multiworker|tpu|none`.

TensorFlow backend (`tf.distribute`, imported only here):

* `auto`: `TF_CONFIG` set -> MultiWorkerMirroredStrategy; a TPU visible
  (`TPU_NAME` / `COLAB_TPU_ADDR`) -> TPUStrategy; more than one GPU ->
  MirroredStrategy; otherwise the default (single-device) strategy.
* `mirrored`: MirroredStrategy over all GPUs; without GPUs, over all logical
  CPU devices (see `split_cpu`), which is how the tests run it.
* `multiworker`: MultiWorkerMirroredStrategy (cluster from `TF_CONFIG`).
* `tpu`: TPUStrategy (resolver from `TPU_NAME`, or the local TPU).
* `none`: the default strategy.

JAX backend (`keras.distribution`): `auto` / `mirrored` / `tpu` ->
`DataParallel` over all local devices when there are several; `multiworker`
-> `keras.distribution.initialize()` (JAX multi-process, from the usual
`JAX_COORDINATOR_ADDRESS` ... variables) and `DataParallel` over all devices
of all processes; `none` -> one device. PyTorch: `auto` / `none` only.

The batch size given to the trainer is global (EDSR's 16 is split over the
replicas) and must be divisible by the replica count.

Example:
    >>> dist = resolve_distribution("auto")
    >>> with dist.scope():
    ...     model = build(); model.compile(...); model.fit(...)
    >>> dist.name, dist.num_replicas                  # ("mirrored", 2)
"""

import contextlib
import dataclasses
import json
import os

import keras

__all__ = ["STRATEGIES", "Distribution", "resolve_distribution", "split_cpu"]

STRATEGIES = ("auto", "mirrored", "multiworker", "tpu", "none")


@dataclasses.dataclass
class Distribution:
    """The chosen strategy: its name, replica count and a `scope()` for building, compiling and fitting."""

    name: str
    num_replicas: int = 1
    tf_strategy: object = None
    keras_distribution: object = None
    description: str = ""

    def scope(self):
        if self.tf_strategy is not None:
            return self.tf_strategy.scope()
        if self.keras_distribution is not None:
            return self.keras_distribution.scope()
        return contextlib.nullcontext()

    def check_batch_size(self, batch_size):
        if batch_size % self.num_replicas:
            raise ValueError(f"batch size {batch_size} is not divisible by the {self.num_replicas} replicas "
                             f"of the {self.name} strategy.")


def split_cpu(count):
    """Make TensorFlow expose `count` logical CPU devices (before TensorFlow initializes), for tests."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])


def _tf_distribution(name):
    import tensorflow as tf

    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multiworker"
        elif os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
            name = "tpu"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "none"
    if name == "none":
        return Distribution("none", 1, None, None, "single device")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        return Distribution("mirrored", strategy.num_replicas_in_sync, strategy, None,
                            f"MirroredStrategy over {', '.join(devices)}")
    if name == "multiworker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
        return Distribution("multiworker", strategy.num_replicas_in_sync, strategy, None,
                            f"MultiWorkerMirroredStrategy, cluster {cluster or 'single worker'}")
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
        return Distribution("tpu", strategy.num_replicas_in_sync, strategy, None, "TPUStrategy")
    raise ValueError(f"Unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}.")


def _jax_distribution(name):
    import jax

    if name == "multiworker":
        keras.distribution.initialize()
    if name == "none":
        return Distribution("none", 1, None, None, f"single device ({jax.devices()[0]})")
    devices = jax.devices()
    if len(devices) == 1:
        if name in ("mirrored", "tpu", "multiworker"):
            print(f"[keras-sr] --strategy {name}: only one JAX device ({devices[0]}), training on it.")
        return Distribution("none", 1, None, None, f"single device ({devices[0]})")
    distribution = keras.distribution.DataParallel(devices=devices)
    return Distribution("data_parallel", len(devices), None, distribution,
                        f"keras.distribution.DataParallel over {len(devices)} {devices[0].platform} devices")


def resolve_distribution(name="auto"):
    """The `Distribution` for `--strategy name` on the current Keras backend."""
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}.")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tf_distribution(name)
    if backend == "jax":
        return _jax_distribution(name)
    if name not in ("auto", "none"):
        raise ValueError(f"--strategy {name} is not available on the {backend} backend; use auto or none.")
    return Distribution("none", 1, None, None, "single device")
