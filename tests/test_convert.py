"""Checkpoint conversion (keras_sr.convert): EDSR, MDSR, RDN, MSRResNet parity; reader; errors; CLI end to end.

EDSR, MDSR, RDN and MSRResNet are not in spandrel: the oracle is
tools/torch_official_layouts.py, PyTorch modules written from the papers and the
official code's structure whose `state_dict()` has the official key names. A
converted keras-sr model must compute their image within 1e-4 relative (float32,
CPU) at every scale, and hold the same trainable parameters (keras-sr's MeanShift
is constant: the official model's 24 frozen MeanShift parameters are not
weights here). RCAN and RRDBNet are checked against spandrel in
tests/test_convert_spandrel.py.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr.convert import CheckpointMismatch, detect, from_checkpoint, unwrap_state_dict  # noqa: E402
from torch_oracles import load_tool, randomize  # noqa: E402

RELATIVE = 1e-4
ref = load_tool("torch_official_layouts")


def _trainable(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def _save(net, path):
    """A training-style container with a DataParallel prefix, or safetensors (by the suffix)."""
    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    if str(path).endswith(".safetensors"):
        from safetensors.numpy import save_file

        save_file({k: v.numpy() for k, v in state.items()}, str(path))
    else:
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, str(path))
    return str(path)


def _relative_difference(model, torch_fn, size=(7, 9), seed=0, unit_range=False, label=None):
    x = np.random.default_rng(seed).uniform(0, 255, (1, *size, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(model(x))
    scale = 1.0 / 255.0 if unit_range else 1.0
    with torch.no_grad():
        want = torch_fn(torch.from_numpy(x.transpose(0, 3, 1, 2) * scale)).numpy().transpose(0, 2, 3, 1) / scale
    assert got.shape == want.shape
    err = float(np.abs(got - want).max())
    label = label or f"{model.name} vs official-layout PyTorch"
    print(f"parity {label}: max abs {err:.2g} (0-255 units), rel {err / float(np.abs(want).max()):.2g}")
    return err / float(np.abs(want).max())


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_equals_official_layout(scale, tmp_path):
    net = randomize(ref.EDSR(scale=scale, n_resblocks=2, n_feats=16, rgb_mean=(0.45, 0.43, 0.41)), scale)
    path = _save(net, tmp_path / ("edsr.safetensors" if scale == 3 else "edsr.pt"))
    model = from_checkpoint(path)
    assert model.name == f"edsr_baseline_x{scale}" and model.count_params() == _trainable(net)
    assert np.allclose(model.get_layer("sub_mean").rgb_mean, (0.45, 0.43, 0.41))
    assert _relative_difference(model, net, seed=scale) < RELATIVE


def test_edsr_full_res_scale_is_detected_and_overridable():
    net = randomize(ref.EDSR(scale=2, n_resblocks=1, n_feats=256, res_scale=0.1), 0)
    assert detect(net.state_dict())[1]["config"]["variant"] == "full"
    assert from_checkpoint(net.state_dict(), res_scale=0.1).get_layer("block_0").res_scale == 0.1
    small = ref.EDSR(scale=2, n_resblocks=1, n_feats=8).state_dict()
    assert from_checkpoint(small, "edsr", res_scale=0.5).get_layer("block_0").res_scale == 0.5


def test_mdsr_all_branches_and_one_branch_equal_official_layout(tmp_path):
    net = randomize(ref.MDSR(scales=(2, 3, 4), n_resblocks=2, n_feats=8), 0)
    path = _save(net, tmp_path / "mdsr_baseline.pt")
    model = from_checkpoint(path)
    assert sorted(model.output) == ["x2", "x3", "x4"] and model.count_params() == _trainable(net)
    for scale in (2, 3, 4):
        branch = keras.Model(model.input, model.output[f"x{scale}"])
        assert _relative_difference(branch, lambda x, s=scale: net(x, s), seed=scale, label=f"mdsr x{scale}") < RELATIVE
    x4 = from_checkpoint(path, scale=4)
    assert x4.output_shape == (None, None, None, 3)
    assert _relative_difference(x4, lambda x: net(x, 4), label="mdsr x4 branch") < RELATIVE


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_rdn_equals_official_layout(scale, tmp_path):
    net = randomize(ref.RDN(scale=scale, g0=16, blocks=3, layers=2, growth=8), scale)
    path = _save(net, tmp_path / f"RDN_BIX{scale}.pt")
    model = from_checkpoint(path)
    assert model.name == f"rdn_B_x{scale}" and model.count_params() == _trainable(net)
    assert _relative_difference(model, net, seed=scale) < RELATIVE


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_msrresnet_equals_official_layout(scale, tmp_path):
    net = randomize(ref.MSRResNet(scale=scale, num_feat=16, num_block=2), scale)
    torch.save({"params": net.state_dict()}, str(tmp_path / "net_g.pth"))
    model = from_checkpoint(str(tmp_path / "net_g.pth"))
    assert model.name == f"msrresnet_x{scale}" and model.count_params() == _trainable(net)
    assert _relative_difference(model, net, seed=scale, unit_range=True) < RELATIVE


def test_full_size_official_layouts_are_detected_with_the_papers_configs():
    """Full-size official layouts (their shapes) detect as the papers' configurations."""
    from keras_sr.models.edsr import official_parameter_count

    edsr, rdn, msrresnet = ref.EDSR(scale=4, n_resblocks=32, n_feats=256, res_scale=0.1), ref.RDN(scale=4), \
        ref.MSRResNet(scale=4)
    expected = [(edsr, "edsr", dict(scale=4, variant="full", num_blocks=32, filters=256, res_scale=0.1)),
                (rdn, "rdn", dict(scale=4, variant="B", num_blocks=16, num_layers=8, growth_rate=64, filters=64)),
                (msrresnet, "msrresnet", dict(scale=4, variant="msrresnet", num_blocks=16, filters=64))]
    for net, name, config in expected:
        state = {k: np.broadcast_to(np.float32(0), tuple(v.shape)) for k, v in net.state_dict().items()}
        if name == "edsr":
            state["add_mean.bias"] = 255.0 * np.asarray(ref.DIV2K_RGB_MEAN, np.float32)
        found_name, found = detect(state)
        assert found_name == name and {k: found["config"][k] for k in config} == config
    # 43,089,923 trainable parameters in the paper's EDSR x4, which keras-sr's edsr builder has (tests/test_edsr.py)
    assert _trainable(edsr) == official_parameter_count(4, 32, 256) == 43_089_923
    assert _trainable(msrresnet) == 1_517_571


class _Pickled:
    """Not a tensor container: torch.load(weights_only=True) refuses to build it."""


def test_unwrap_containers_and_prefix(tmp_path):
    torch.save({"model": _Pickled()}, str(tmp_path / "object.pth"))
    with pytest.raises(CheckpointMismatch, match=r"object\.pth: torch\.load\(weights_only=True\) failed"):
        from_checkpoint(str(tmp_path / "object.pth"))
    with pytest.raises(ValueError, match="unknown checkpoint type"):
        (tmp_path / "w.h5").write_bytes(b"")
        from_checkpoint(str(tmp_path / "w.h5"))
    t = np.zeros((2,), np.float32)
    assert list(unwrap_state_dict({"params_ema": {"a": t}, "params": {"b": t}})) == ["a"]
    assert list(unwrap_state_dict({"model": {"module.module.a": t}})) == ["a"]
    with pytest.raises(CheckpointMismatch, match="not a state dict.*'epoch'"):
        unwrap_state_dict({"epoch": 3, "weights": [t]}, source="x.pth")


@pytest.fixture(scope="module")
def tiny_edsr_state():
    return {k: v.numpy() for k, v in randomize(ref.EDSR(scale=2, n_resblocks=2, n_feats=8), 1).state_dict().items()}


def test_removed_renamed_reshaped_and_extra_tensors_are_named(tiny_edsr_state, tmp_path):
    from safetensors.numpy import save_file

    def convert(state, name):
        path = str(tmp_path / name)
        save_file(state, path)
        return from_checkpoint(path)

    removed = {k: v for k, v in tiny_edsr_state.items() if k != "body.1.body.2.weight"}
    with pytest.raises(CheckpointMismatch, match=r"removed\.safetensors: missing key 'body\.1\.body\.2\.weight'"):
        convert(removed, "removed.safetensors")
    renamed = {("body.1.body.2.kernel" if k == "body.1.body.2.weight" else k): v for k, v in tiny_edsr_state.items()}
    with pytest.raises(CheckpointMismatch, match="missing key 'body.1.body.2.weight'"):
        convert(renamed, "renamed.safetensors")
    reshaped = dict(tiny_edsr_state, **{"body.0.body.0.weight": np.zeros((8, 8, 5, 5), np.float32)})
    with pytest.raises(CheckpointMismatch, match=r"'body\.0\.body\.0\.weight' converts to shape \(5, 5, 8, 8\)"):
        convert(reshaped, "reshaped.safetensors")
    extra = dict(tiny_edsr_state, **{"body.1.body.1.weight": np.zeros((8,), np.float32)})
    with pytest.raises(CheckpointMismatch, match=r"extra\.safetensors: 1 unused key\(s\): body\.1\.body\.1\.weight"):
        convert(extra, "extra.safetensors")
    with pytest.raises(CheckpointMismatch, match="no converter recognises.*conv.weight"):
        from_checkpoint({"conv.weight": np.zeros((3, 3, 3, 3), np.float32)})
    with pytest.raises(CheckpointMismatch, match="not a 'rdn' checkpoint layout"):
        from_checkpoint(tiny_edsr_state, "rdn")
    with pytest.raises(ValueError, match="No converter for 'nope'"):
        from_checkpoint(tiny_edsr_state, "nope")
    mean = dict(tiny_edsr_state, **{"sub_mean.bias": tiny_edsr_state["sub_mean.bias"] / 255.0,
                                    "add_mean.bias": tiny_edsr_state["add_mean.bias"] / 255.0})
    with pytest.raises(CheckpointMismatch, match="rgb_range != 255"):
        from_checkpoint(mean)


def test_convert_cli_keras_file_evaluate_upscale_and_exports(tiny_edsr_state, tmp_path):
    """keras-sr convert -> .keras (safe_mode) -> evaluate, upscale, SavedModel and TFLite, unchanged."""
    from safetensors.numpy import save_file

    from keras_sr.cli import main
    from keras_sr.evaluation import evaluate_images, resolve_upscaler
    from keras_sr.image_io import load_image, save_image

    save_file(tiny_edsr_state, str(tmp_path / "edsr_x2.safetensors"))
    out = str(tmp_path / "edsr_x2.keras")
    assert main(["convert", str(tmp_path / "edsr_x2.safetensors"), "--out", out]) == 0
    model = keras.saving.load_model(out, safe_mode=True)
    x = np.random.default_rng(0).uniform(0, 255, (1, 12, 10, 3)).astype("float32")
    assert np.array_equal(keras.ops.convert_to_numpy(model(x)),
                          keras.ops.convert_to_numpy(from_checkpoint(tiny_edsr_state)(x)))
    with pytest.raises(SystemExit):  # exists, no --overwrite
        main(["convert", str(tmp_path / "edsr_x2.safetensors"), "--out", out])

    hr = np.random.default_rng(1).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    save_image(str(tmp_path / "hr" / "a.png"), hr)
    scores = evaluate_images(resolve_upscaler(out, scale=2), [str(tmp_path / "hr" / "a.png")], 2)
    assert np.isfinite(scores["psnr"])
    save_image(str(tmp_path / "lr" / "a.png"), hr[:12, :10])
    assert main(["upscale", str(tmp_path / "lr"), "--model", out, "--out", str(tmp_path / "sr")]) == 0
    assert load_image(str(tmp_path / "sr" / "a_x2.png")).shape == (24, 20, 3)

    tf = pytest.importorskip("tensorflow")
    from keras_sr.export.saved_model import export_saved_model
    from keras_sr.export.tflite import convert_saved_model, make_interpreter, run_tflite

    saved = export_saved_model(out, str(tmp_path / "saved_model"))
    got = tf.saved_model.load(saved).signatures["serving_default"](image=tf.constant(x))["sr"].numpy()
    expected = keras.ops.convert_to_numpy(model(x))
    assert np.abs(got - expected).max() <= 1e-4 * 255
    tflite = convert_saved_model(saved, str(tmp_path / "model.tflite"))
    assert np.abs(run_tflite(make_interpreter(tflite), x[0]) - expected[0]).max() <= 1e-4 * 255


def test_make_preset_from_checkpoint_scores_and_reloads(tiny_edsr_state, tmp_path):
    from safetensors.numpy import save_file

    from keras_sr.image_io import save_image
    from keras_sr.models.presets import get_preset, load_preset
    from tools.make_preset import main

    save_file(tiny_edsr_state, str(tmp_path / "edsr_x2.safetensors"))
    save_image(str(tmp_path / "Set5" / "HR" / "a.png"), np.random.default_rng(2).integers(0, 256, (20, 18, 3),
                                                                                          dtype=np.uint8))
    argv = ["--from-checkpoint", str(tmp_path / "edsr_x2.safetensors"), "--eval-data", str(tmp_path / "Set5" / "HR"),
            "--folder", str(tmp_path / "presets")]
    assert main(argv) == 0
    preset = get_preset("edsr_baseline_x2_official", str(tmp_path / "presets"))
    assert preset.training["converted_from"]["file"] == "edsr_x2.safetensors"
    assert preset.metrics["Set5"]["2"]["n_images"] == 1 and np.isfinite(preset.metrics["Set5"]["2"]["psnr"])
    x = np.random.default_rng(0).uniform(0, 255, (1, 6, 5, 3)).astype("float32")
    assert np.array_equal(keras.ops.convert_to_numpy(load_preset(preset)(x)),
                          keras.ops.convert_to_numpy(from_checkpoint(tiny_edsr_state)(x)))
    assert main(argv[:2] + ["--model", "rdn", "--folder", str(tmp_path / "presets")]) == 2


@pytest.mark.parametrize("scale", [2, 4])
def test_basicsr_edsr_layout_equals_official_layout(scale, tmp_path):
    net = randomize(ref.BasicSREDSR(scale=scale, num_block=2, num_feat=16), scale)
    torch.save({"params": net.state_dict()}, str(tmp_path / f"EDSR_Mx{scale}_official.pth"))
    model = from_checkpoint(str(tmp_path / f"EDSR_Mx{scale}_official.pth"))
    assert model.name == f"edsr_baseline_x{scale}" and model.count_params() == _trainable(net)
    assert _relative_difference(model, net, seed=scale, unit_range=True,
                                label=f"edsr (BasicSR layout) x{scale} vs official-layout PyTorch") < RELATIVE


def test_model_names_select_converters_and_bfloat16_safetensors_read(tmp_path):
    from safetensors.torch import save_file

    net = ref.MSRResNet(scale=2, num_feat=8, num_block=1)
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(tmp_path / "m.safetensors"))
    assert detect(str(tmp_path / "m.safetensors"), "srresnet")[0] == "msrresnet"
    model = from_checkpoint(str(tmp_path / "m.safetensors"), "srresnet")
    kernel = keras.ops.convert_to_numpy(model.get_layer("conv_last").kernel)
    want = state["conv_last.weight"].float().numpy().transpose(2, 3, 1, 0)
    assert np.array_equal(kernel, want)
    with pytest.raises(CheckpointMismatch, match="are a x2 srresnet, not x4"):
        from_checkpoint(str(tmp_path / "m.safetensors"), scale=4)
