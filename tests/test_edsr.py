"""EDSR and the bicubic model: parameter counts against the official architecture, shapes, serialization,
and `keras_sr.models.inference` (registered name + weights, .keras, SavedModel) through tools.evaluate."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from keras_sr import models
from keras_sr.evaluation import bicubic_upscaler
from keras_sr.image_io import save_image
from keras_sr.models.edsr import VARIANTS, official_parameter_count
from keras_sr.models.inference import load_upscaler, write_model_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# sum(p.numel() for p in EDSR(args).parameters()) of the official EDSR-PyTorch model, written out by hand:
# head 3->F, 2*B convs F->F, body end F->F, upsampler (x2 steps F->4F, x3 F->9F), tail F->3, all 3x3 with
# bias, plus the two frozen 1x1 MeanShift convs (2 x 12).
OFFICIAL = {
    ("baseline", 2): 1792 + 32 * 36928 + 36928 + 147712 + 1731 + 24,
    ("baseline", 3): 1792 + 32 * 36928 + 36928 + 332352 + 1731 + 24,
    ("baseline", 4): 1792 + 32 * 36928 + 36928 + 2 * 147712 + 1731 + 24,
    ("full", 2): 7168 + 64 * 590080 + 590080 + 2360320 + 6915 + 24,
    ("full", 3): 7168 + 64 * 590080 + 590080 + 5310720 + 6915 + 24,
    ("full", 4): 7168 + 64 * 590080 + 590080 + 2 * 2360320 + 6915 + 24,
}
# The figures the paper / README quote (rounded).
QUOTED = {("baseline", 2): 1.37e6, ("baseline", 4): 1.52e6, ("full", 2): 40.7e6, ("full", 4): 43.1e6}


@pytest.mark.parametrize("variant,scale", sorted(OFFICIAL))
def test_parameter_counts_match_official(variant, scale):
    model = models.build("edsr", scale=scale, variant=variant)
    # keras-sr's MeanShift is a constant offset, the official one a frozen 1x1 conv with 24 parameters.
    assert model.count_params() + 24 == OFFICIAL[(variant, scale)]
    assert official_parameter_count(scale, **{k: VARIANTS[variant][k] for k in ("num_blocks", "filters")},
                                     include_mean_shift=True) == OFFICIAL[(variant, scale)]
    assert len(model.non_trainable_weights) == 0
    if (variant, scale) in QUOTED:
        assert abs(model.count_params() - QUOTED[(variant, scale)]) / QUOTED[(variant, scale)] < 0.01
    del model
    keras.backend.clear_session()


def test_variant_defaults_and_overrides():
    model = models.build("edsr", scale=2, variant="full", num_blocks=2, filters=16)
    blocks = [layer for layer in model.layers if layer.name.startswith("block_")]
    assert len(blocks) == 2 and blocks[0].res_scale == 0.1 and blocks[0].filters == 16
    assert model.name == "edsr_full_x2"
    with pytest.raises(ValueError, match="variant"):
        models.build("edsr", variant="huge")
    with pytest.raises(ValueError, match="scales"):
        models.build("edsr", scale=5)


def _tiny(scale=4):
    return models.build("edsr", scale=scale, num_blocks=1, filters=8)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_any_input_size(rng, scale):
    model = _tiny(scale)
    assert model.input_shape == (None, None, None, 3)
    for h, w in [(5, 7), (16, 9)]:
        x = rng.uniform(0, 255, (1, h, w, 3)).astype("float32")
        assert tuple(model(x).shape) == (1, h * scale, w * scale, 3)


def test_untrained_output_is_near_the_input_mean(rng):
    # mean shift in and out: zero-initialized convs would return the DIV2K mean, and the output is 0-255 RGB
    model = _tiny(2)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    y = keras.ops.convert_to_numpy(model(np.zeros((1, 4, 4, 3), "float32")))
    np.testing.assert_allclose(y[0, 0, 0], 255 * np.array([0.4488, 0.4371, 0.4040]), atol=1e-3)


def test_save_load_safe_mode_and_config_round_trip(tmp_path, rng):
    model = _tiny(3)
    x = rng.uniform(0, 255, (1, 6, 5, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x))
    path = str(tmp_path / "edsr.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), expected, atol=1e-4)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), expected, atol=1e-4)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


def test_bicubic_model_matches_the_evaluation_baseline(natural_image):
    lr = natural_image[:40, :48]
    model = models.build("bicubic", scale=4)
    out = keras.ops.convert_to_numpy(model(lr[None].astype("float32")))[0]
    reference = bicubic_upscaler(lr, 4).astype(np.float64)
    # float vs MATLAB's uint8 rounding between the two passes: at most a level or two
    assert out.shape == reference.shape
    assert np.abs(out - reference).max() <= 2.0
    assert model.count_params() == 0


def _images(folder, rng, n=2, size=48):
    os.makedirs(folder, exist_ok=True)
    from skimage import data

    photo = data.astronaut()
    for i in range(n):
        save_image(os.path.join(folder, f"img{i}.png"), photo[100 + 40 * i:100 + 40 * i + size, 150:150 + size])
    return folder


def test_load_upscaler_all_model_kinds(tmp_path, rng):
    model = _tiny(2)
    lr = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    expected = keras.ops.convert_to_numpy(model(lr[None].astype("float32")))[0]
    # registered name + weights, config from model.json beside them
    write_model_json(str(tmp_path), "edsr", {"scale": 2, "num_blocks": 1, "filters": 8})
    weights = str(tmp_path / "final.weights.h5")
    model.save_weights(weights)
    up = load_upscaler("edsr", scale=2, weights=weights)
    np.testing.assert_allclose(up(lr, 2), expected, atol=1e-3)
    with pytest.raises(ValueError, match="x3"):
        load_upscaler("edsr", scale=3, weights=weights)
    # .keras
    path = str(tmp_path / "m.keras")
    model.save(path)
    up = load_upscaler(path, scale=2)
    np.testing.assert_allclose(up(lr, 2), expected, atol=1e-3)
    with pytest.raises(ValueError, match="x2"):
        up(lr, 4)
    # no weights and no preset: a clear message (RCAN ships no preset)
    with pytest.raises(ValueError, match="no weights"):
        load_upscaler("rcan", scale=2)
    assert load_upscaler("edsr", scale=2)(lr, 2).shape == (20, 24, 3)  # the shipped edsr_baseline_x2 preset
    # the model object itself, and bicubic
    assert load_upscaler(model)(lr, 2).shape == (20, 24, 3)
    assert load_upscaler("bicubic") is bicubic_upscaler


def test_load_upscaler_saved_model(tmp_path, rng):
    pytest.importorskip("tensorflow")
    from keras_sr.export.saved_model import export_saved_model

    model = _tiny(2)
    out = export_saved_model(model, str(tmp_path / "sm"))
    lr = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    expected = keras.ops.convert_to_numpy(model(lr[None].astype("float32")))[0]
    np.testing.assert_allclose(load_upscaler(out, scale=2)(lr, 2), expected, atol=1e-3)


def test_tools_evaluate_with_weights_and_keras_file(tmp_path, rng):
    hr_dir = _images(str(tmp_path / "set" / "HR"), rng)
    model = _tiny(2)
    run = tmp_path / "run"
    run.mkdir()
    write_model_json(str(run), "edsr", {"scale": 2, "num_blocks": 1, "filters": 8})
    model.save_weights(str(run / "final.weights.h5"))
    model.save(str(run / "final.keras"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-m", "tools.evaluate", "--model", "edsr", "--weights",
                          str(run / "final.weights.h5"), "--scale", "2", "--data", hr_dir, "--json",
                          str(tmp_path / "w.json"), "--quiet"], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| set |" in out.stdout
    from keras_sr.cli import main

    assert main(["evaluate", "--model", str(run / "final.keras"), "--scale", "2", "--data", hr_dir,
                 "--json", str(tmp_path / "k.json"), "--quiet"]) == 0
    by_weights = json.loads((tmp_path / "w.json").read_text())["set"]["2"]
    by_keras = json.loads((tmp_path / "k.json").read_text())["set"]["2"]
    assert by_weights["n_images"] == 2
    assert by_weights["psnr"] == pytest.approx(by_keras["psnr"], abs=1e-6)
