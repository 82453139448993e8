"""Every registered model through the shared harness (`keras_sr.testing.run_model_test`), on every backend.

Parametrized over `keras_sr.models.list_models()`: a model added to the registry is
covered here with no new test, and one registered without a tiny config (its
`@register(..., test_config=...)` or a line in `keras_sr.testing.TINY_MODELS`) fails.
On TensorFlow (this process) each model gets every check: registry contract, eager and
symbolic calls, config round trips, `.keras` save/load with `safe_mode=True`, one fit
step, mixed precision. The same module re-runs in one subprocess per backend under
KERAS_BACKEND=jax and KERAS_BACKEND=torch with the build, the eager and symbolic calls and the
fit step of the SISR models (see below); mixed precision, the config round trips and the `.keras`
round trip are Keras's own, backend-independent logic and run on TensorFlow.
"""

import os

import keras
import numpy as np
import pytest

from conftest import run_modules_on_backend
from keras_sr import models, testing

BACKEND = keras.backend.backend()
MAIN = BACKEND == "tensorflow" and not os.environ.get("KERAS_SR_HARNESS_SUBPROCESS")


@pytest.mark.parametrize("name", models.list_models())
def test_registered_model_passes_the_harness(name, tmp_path):
    # RefSR models (patch matching: thousands of small ops) on JAX/torch: build + eager/symbolic calls +
    # config round trip only; their fit steps on those backends are in tests/test_models_refsr.py
    # (re-run on torch by tests/test_torch_backend.py). Every check runs for them on TensorFlow.
    # On JAX and torch (subprocesses): the build and the eager and symbolic calls of every model; the fit step
    # for the single-input SISR models (the RefSR and arbitrary-scale fit steps on those backends are in their
    # own test files); `.keras` saving and the config round trips are Keras's own, backend-independent code
    # (serialization, the registry rebuild) and run on TensorFlow.
    sisr = models.get_spec(name).kind == "sisr"
    testing.run_model_test(name, tmp_dir=str(tmp_path), run_mixed_precision=MAIN, run_fit=MAIN or sisr,
                           run_saving=MAIN, run_round_trips=MAIN)


# Builder options that the converters added (old-arch / ESRGAN+ RRDBNet, BasicSR's 256-crop discriminator): the
# same checks as the registered tiny configs, here and on JAX / torch. (RCAN's unshuffle_mod head needs sizes that
# are multiples of 2 / 4, not the harness's 6x7: its .keras round trip is in tests/test_convert_spandrel.py.)
VARIANTS = [
    ("rrdbnet", dict(scale=8, num_blocks=1, filters=4, growth_rate=2, plus=True)),
    ("rrdbnet", dict(scale=2, num_blocks=1, filters=4, growth_rate=2, pixel_unshuffle=False)),
    ("esrgan_discriminator", dict(input_size=64, filters=2, dense_units=4, num_stages=6)),
]


@pytest.mark.parametrize("name,config", VARIANTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VARIANTS)])
def test_converter_builder_options_pass_the_harness(name, config, tmp_path):
    sisr = models.get_spec(name).kind == "sisr"
    testing.run_model_test(name, config, tmp_dir=str(tmp_path), run_mixed_precision=MAIN, run_fit=MAIN or sisr,
                           run_saving=MAIN, run_round_trips=MAIN)


LAYER_CASES = [
    ("ResidualBlock", dict(filters=4), (1, 6, 7, 4), (1, 6, 7, 4)),
    ("SubPixelUpsampling", dict(scale=2, filters=4), (1, 6, 7, 4), (1, 12, 14, 4)),
    ("ChannelAttention", dict(reduction=2), (1, 6, 7, 4), (1, 6, 7, 4)),
    ("MeanShift", dict(sign=-1), (1, 6, 7, 3), (1, 6, 7, 3)),
]


@pytest.mark.parametrize("name,kwargs,shape,expected", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_harness(name, kwargs, shape, expected):
    import keras_sr.layers

    x = np.random.default_rng(0).uniform(0, 1, shape).astype("float32")  # features, not pixels: no saturation
    testing.run_layer_test(getattr(keras_sr.layers, name), kwargs, x, expected_output_shape=expected,
                           run_mixed_precision=MAIN)


def test_a_model_without_a_tiny_config_fails():
    @models.register("harness_probe_without_config")
    def probe(scale=2):  # pragma: no cover - never built
        raise AssertionError("not built")

    try:
        with pytest.raises(AssertionError, match="no tiny test config"):
            testing.tiny_config("harness_probe_without_config")
        assert "harness_probe_without_config" in models.list_models()
    finally:
        models._REGISTRY.pop("harness_probe_without_config")


def test_registry_kinds():
    assert models.list_models(kind="refsr") == [
        "c2_matching",
        "cimr",
        "cross_mpi",
        "crossnet",
        "datsr",
        "e2ent",
        "masa_sr",
        "refvae",
        "srntt",
        "ssen",
        "ttsr",
    ]
    assert models.list_models(kind="discriminator") == [
        "c2_matching_discriminator",
        "esrgan_discriminator",
        "srgan_discriminator",
        "stylegan2_discriminator",
        "ttsr_discriminator",
        "unet_discriminator_sn",
    ]
    assert models.list_models(kind="diffusion") == ["sr3"]
    assert models.get_spec("ttsr").inputs == ("lr", "lr_up", "ref", "ref_down_up")
    with pytest.raises(ValueError, match="kind must be one of"):
        models.register("harness_bad_kind", kind="video")


@pytest.mark.skipif(not MAIN, reason="the subprocess itself")
@pytest.mark.parametrize("backend,package", [("jax", "jax"), ("torch", "torch")])
def test_harness_on_other_backends(backend, package):
    extra = {"JAX_PLATFORMS": "cpu"} if backend == "jax" else {}
    run_modules_on_backend(backend, package, ["tests/test_model_harness.py"], KERAS_SR_HARNESS_SUBPROCESS="1", **extra)
