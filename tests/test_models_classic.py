"""Classic SISR models (issue 5): SRCNN, FSRCNN, ESPCN, VDSR, DRCN, DRRN, LapSRN, RED-Net, SRDenseNet.

Parameter counts are checked against the official architectures by formula (each with its source),
against the literal numbers those formulas give, and the weights-only counts against the rounded
figures of ../shared/reference/standard_tables.md. Forward passes use tiny configs on tiny inputs;
full-size models are only built to count their parameters. Models are built with
`kernel_initializer="zeros"` (random initializers compile once per kernel shape on JAX, seconds each)
and given random weights with numpy where values matter; `test_paper_initializers` covers the defaults.
"""

import json
import os

import numpy as np
import pytest

import keras

from conftest import SHARED_DATA
from keras_sr import models
from keras_sr.imresize import imresize
from keras_sr.layers.bilinear_kernel import BilinearKernel, bilinear_filter
from keras_sr.layers.depth_to_space import DepthToSpace
from keras_sr.layers.learned_weighted_sum import LearnedWeightedSum

CLASSIC = ("srcnn", "fsrcnn", "espcn", "vdsr", "drcn", "drrn", "lapsrn", "rednet", "srdensenet")
PRE_UPSAMPLING = ("srcnn", "vdsr", "drcn", "drrn", "rednet")  # work on the bicubic-upsampled image
SCALES = {"srcnn": (2, 3, 4), "fsrcnn": (2, 3, 4), "espcn": (2, 3, 4), "vdsr": (2, 3, 4), "drcn": (2, 3, 4),
          "drrn": (2, 3, 4), "lapsrn": (2, 4, 8), "rednet": (2, 3, 4), "srdensenet": (2, 4, 8)}
FAST = {"kernel_initializer": "zeros"}
TINY = {
    "srcnn": dict(filters=[4, 2]),
    "fsrcnn": dict(d=4, s=2, m=1),
    "espcn": dict(filters=[4, 2]),
    "vdsr": dict(depth=3, filters=4),
    "drcn": dict(filters=4, recursions=3),
    "drrn": dict(filters=4, num_units=2),
    "lapsrn": dict(filters=4, depth=1),
    "rednet": dict(filters=4, num_layers=3),
    "srdensenet": dict(num_blocks=2, num_layers=2, growth_rate=2, bottleneck=4),
}
TINY = {name: {**config, **FAST} for name, config in TINY.items()}


def build(name, **config):
    """`models.build` with the fast initializer unless the config names one."""
    return models.build(name, **{**FAST, **config})


def conv(k, cin, cout, bias=True):
    """Parameters of a k x k convolution (or transposed convolution)."""
    return k * k * cin * cout + (cout if bias else 0)


def kernel_count(model):
    """Weights only (no biases, PReLU slopes, BN or ensemble weights): the papers' convention."""
    return sum(int(np.prod(w.shape)) for w in model.weights if w.path.endswith("kernel"))


def srdensenet_count(skip, scale=4, c=1, blocks=8, layers=8, growth=16, bottleneck=256, deconv_k=3):
    """SRDenseNet by the paper's description (no official code): see keras_sr/models/srdensenet.py."""
    width = growth * layers  # 128: low-level features and each block's output

    def block(cin):
        return conv(3, cin, growth) + sum(conv(3, growth * j, growth) for j in range(1, layers))

    if skip == "all":
        body = sum(block(width * b) for b in range(1, blocks + 1))  # block b sees low + b-1 block outputs
        concat = width * (blocks + 1)
    else:
        body = blocks * block(width)
        concat = 2 * width if skip == "hl" else width
    deconvs = (scale.bit_length() - 1) * conv(deconv_k, bottleneck, bottleneck)
    return conv(3, c, width) + body + conv(1, concat, bottleneck) + deconvs + conv(3, bottleneck, c)


# (name, config) -> (total parameters of the official architecture, formula/source, literal value)
OFFICIAL = [
    # SRCNN, Dong et al. TPAMI 2016 Sec. 4.2 / official SRCNN_v1 (f1-f2-f3 with n1=64, n2=32, Y channel).
    ("srcnn", {}, conv(9, 1, 64) + conv(5, 64, 32) + conv(5, 32, 1), 57281),
    ("srcnn", {"kernel_sizes": [9, 1, 5]}, conv(9, 1, 64) + conv(1, 64, 32) + conv(5, 32, 1), 8129),
    # FSRCNN(56,12,4), Dong et al. ECCV 2016 Table 1 + per-channel PReLU after every conv (Caffe default).
    ("fsrcnn", {"scale": 3}, conv(5, 1, 56) + 56 + conv(1, 56, 12) + 12 + 4 * (conv(3, 12, 12) + 12)
     + conv(1, 12, 56) + 56 + conv(9, 56, 1), 12809),
    # ESPCN, Shi et al. CVPR 2016 Sec. 3.2/4.1: (5,64)-(3,32)-(3, r^2), Y channel.
    ("espcn", {"scale": 2}, conv(5, 1, 64) + conv(3, 64, 32) + conv(3, 32, 4), 21284),
    ("espcn", {"scale": 3}, conv(5, 1, 64) + conv(3, 64, 32) + conv(3, 32, 9), 22729),
    ("espcn", {"scale": 4}, conv(5, 1, 64) + conv(3, 64, 32) + conv(3, 32, 16), 24752),
    # VDSR, Kim et al. CVPR 2016: 20 3x3 convs, 64 filters.
    ("vdsr", {}, conv(3, 1, 64) + 18 * conv(3, 64, 64) + conv(3, 64, 1), 665921),
    # DRCN, Kim et al. CVPR 2016: embedding 2 convs, 1 recursive conv, reconstruction 2 convs (256 filters),
    # plus 16 learned ensemble weights.
    ("drcn", {}, conv(3, 1, 256) + conv(3, 256, 256) + conv(3, 256, 256) + conv(3, 256, 256) + conv(3, 256, 1) + 16,
     1775121),
    # DRRN_B1U25, official tyshiwo/DRRN_CVPR17 prototxt: entry conv, 2 shared convs, end conv (128 filters),
    # and 52 BatchNorm layers (1 on the input, 2 per unit, 1 before the end conv), 4 numbers per channel in
    # Keras (gamma, beta trainable = Caffe Scale; moving mean/variance = Caffe BatchNorm).
    ("drrn", {}, conv(3, 1, 128) + 2 * conv(3, 128, 128) + conv(3, 128, 1) + 4 * (1 + 2 * 25 * 128 + 128), 323717),
    # LapSRN, official phoenix104104/LapSRN init_LapSRN.m (f=3, n=64, depth=10): input conv, per level
    # 10 convs + 3x3 feature transposed conv (with bias) + residual conv + 4x4 image transposed conv (no bias).
    ("lapsrn", {"scale": 2}, conv(3, 1, 64) + 1 * (10 * conv(3, 64, 64) + conv(3, 64, 64) + conv(3, 64, 1) + 16),
     407441),
    ("lapsrn", {"scale": 4}, conv(3, 1, 64) + 2 * (10 * conv(3, 64, 64) + conv(3, 64, 64) + conv(3, 64, 1) + 16),
     814242),
    ("lapsrn", {"scale": 8}, conv(3, 1, 64) + 3 * (10 * conv(3, 64, 64) + conv(3, 64, 64) + conv(3, 64, 1) + 16),
     1221043),
    # RED30, official REDNet_ch1.prototxt (Mao et al. NIPS 2016): 15 convs + 15 transposed convs, 3x3, 128 maps.
    ("rednet", {}, conv(3, 1, 128) + 14 * conv(3, 128, 128) + 14 * conv(3, 128, 128) + conv(3, 128, 1), 4134785),
    # SRDenseNet, Tong et al. ICCV 2017 (no official code; the paper's layout, see srdensenet_count).
    ("srdensenet", {"skip": "all"}, srdensenet_count("all"), 2659585),
    ("srdensenet", {"skip": "hl"}, srdensenet_count("hl"), 1914113),
    ("srdensenet", {"skip": "h"}, srdensenet_count("h"), 1881345),
]

# Weights-only counts stated by the papers (and the formula giving them).
PAPER_WEIGHTS = [
    ("srcnn", {}, 9 * 9 * 64 + 5 * 5 * 64 * 32 + 5 * 5 * 32, 57184),  # TPAMI 2016 Sec. 4.3.2
    ("srcnn", {"kernel_sizes": [9, 1, 5]}, 9 * 9 * 64 + 64 * 32 + 5 * 5 * 32, 8032),  # ibid.
    ("fsrcnn", {"scale": 3}, 25 * 56 + 12 * 56 + 9 * 4 * 12 ** 2 + 56 * 12 + 81 * 56, 12464),  # Table 1
]

# ../shared/reference/standard_tables.md, "Parameter counts of official implementations" (weights only).
TABLE = {"srcnn": ("SRCNN 9-5-5 ~57K", 57e3), "fsrcnn": ("FSRCNN(56,12,4) ~12K", 12e3), "vdsr": ("VDSR ~665K", 665e3),
         "drrn": ("DRRN B1U25 ~297K", 297e3), "lapsrn": ("LapSRN ~812K", 812e3), "drcn": ("DRCN ~1.77M", 1.77e6)}
TABLE_CONFIG = {"fsrcnn": {"scale": 3}, "lapsrn": {"scale": 4}}


def _label(case):
    return f"{case[0]}-" + "-".join(f"{k}{v}" for k, v in case[1].items())


@pytest.mark.parametrize("case", OFFICIAL, ids=[_label(c) for c in OFFICIAL])
def test_parameter_count_equals_official_architecture(case):
    name, config, formula, literal = case
    assert formula == literal
    assert build(name, **config).count_params() == literal


@pytest.mark.parametrize("case", PAPER_WEIGHTS, ids=[_label(c) for c in PAPER_WEIGHTS])
def test_weight_count_equals_paper(case):
    name, config, formula, literal = case
    assert formula == literal
    assert kernel_count(build(name, **config)) == literal


@pytest.mark.parametrize("name", sorted(TABLE))
def test_weight_count_matches_reference_table(name):
    """Within 1% of the table's figure; "~12K" has two significant digits, so FSRCNN must round to it."""
    text, figure = TABLE[name]
    weights = kernel_count(build(name, **TABLE_CONFIG.get(name, {})))
    if abs(weights - figure) > 0.01 * figure:
        digits_unit = 10 ** (len(str(int(figure))) - 2)  # 12e3 -> 1000
        assert name == "fsrcnn" and round(weights / digits_unit) * digits_unit == figure, (text, weights)


def test_reference_table_figures_are_the_files():
    path = os.path.join(os.path.dirname(SHARED_DATA), "reference", "standard_tables.md")
    if not os.path.isfile(path):
        pytest.skip(f"{path} not present")
    content = open(path, encoding="utf-8").read()
    for text, _ in TABLE.values():
        assert text in content, text


def test_drrn_trainable_parameters_equal_caffe_learnable():
    # Caffe learnables: conv weights + biases, and the Scale layers' gamma/beta (BatchNorm stats have lr 0).
    model = build("drrn")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 297601 + 2 * (1 + 2 * 25 * 128 + 128) == 310659


def test_recursion_shares_weights():
    """More recursions / units add no convolution weights: the recursive convs are shared."""
    assert build("drcn", filters=8, recursions=5).count_params() - build(
        "drcn", filters=8, recursions=2).count_params() == 3  # 3 more ensemble weights only
    no_bn = [build("drrn", filters=8, num_units=u, batch_norm=False).count_params() for u in (2, 6)]
    assert no_bn[0] == no_bn[1] == conv(3, 1, 8) + 2 * conv(3, 8, 8) + conv(3, 8, 1)
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in models.build("drcn", **TINY["drcn"]).layers) == 5


def _predict(model, x):
    out = model(x, training=False)
    if isinstance(out, dict):
        return {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}
    return keras.ops.convert_to_numpy(out)


def _lr(channels=1, h=6, w=7, seed=0):
    return (np.random.default_rng(seed).uniform(0, 255, (1, h, w, channels))).astype("float32")


def _shape_cases():
    for name in CLASSIC:
        for scale in SCALES[name]:
            yield name, scale
        if name in PRE_UPSAMPLING:
            yield name, None


@pytest.mark.parametrize("name,scale", list(_shape_cases()))
def test_output_shape_for_every_scale(name, scale):
    model = models.build(name, **TINY[name], **({} if scale is None else {"scale": scale}))
    _perturb(model)
    out = _predict(model, _lr())
    factor = 1 if scale is None else scale
    assert out.shape == (1, 6 * factor, 7 * factor, 1)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("name", CLASSIC)
def test_rgb_variant(name):
    scale = SCALES[name][0]
    out = _predict(models.build(name, scale=scale, channels=3, **TINY[name]), _lr(channels=3))
    assert out.shape == (1, 6 * scale, 7 * scale, 3)


def test_srcnn_valid_padding_shrinks_by_the_receptive_field():
    model = build("srcnn", filters=[4, 2], padding="valid")
    assert _predict(model, _lr(h=33, w=33)).shape == (1, 17, 17, 1)  # 33 - (9 + 5 + 5 - 3)
    model = build("srcnn", kernel_sizes=[9, 1, 5], filters=[4, 2], padding="valid")
    assert _predict(model, _lr(h=33, w=33)).shape == (1, 21, 21, 1)


def _zero_layer(model, layer_name):
    layer = model.get_layer(layer_name)
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


@pytest.mark.parametrize("name,last", [("vdsr", "conv_3"), ("drcn", "reconstruction_2"), ("drrn", "reconstruction"),
                                       ("rednet", "deconv_3")])
def test_pre_upsampling_models_residual_is_on_matlab_bicubic(name, last):
    """With the residual branch zeroed, residual models return exactly MATLAB's bicubic upsampling."""
    lr = _lr(h=8, w=9)
    model = models.build(name, scale=3, **TINY[name])
    _perturb(model, skip="ensemble")  # DRCN's ensemble weights keep summing to 1
    _zero_layer(model, last)
    expected = imresize(lr[0].astype(np.float64), 3)
    np.testing.assert_allclose(_predict(model, lr)[0], expected, atol=2e-2)


@pytest.mark.parametrize("name", PRE_UPSAMPLING)
def test_scale_argument_puts_matlab_bicubic_inside(name):
    """`scale=N` is the `scale=None` network applied to MATLAB's bicubic upsampling (same weights)."""
    lr = _lr(h=8, w=9)
    inside = models.build(name, scale=3, **TINY[name])
    _perturb(inside)
    outside = models.build(name, **TINY[name])
    outside.set_weights(inside.get_weights())
    bicubic = imresize(lr[0].astype(np.float64), 3)[None].astype("float32")
    np.testing.assert_allclose(_predict(inside, lr), _predict(outside, bicubic), rtol=1e-4, atol=2e-2)


def test_drcn_recursive_supervision_outputs():
    model = models.build("drcn", scale=2, intermediate_outputs=True, **TINY["drcn"])
    _perturb(model, skip="ensemble")
    out = _predict(model, _lr())
    assert sorted(out) == ["output", "recursion_1", "recursion_2", "recursion_3"]
    assert all(v.shape == (1, 12, 14, 1) for v in out.values())
    weights = keras.ops.convert_to_numpy(model.get_layer("ensemble").ensemble_weights)
    np.testing.assert_allclose(weights, [1 / 3] * 3)
    combined = sum(w * out[f"recursion_{i + 1}"] for i, w in enumerate(weights))
    np.testing.assert_allclose(out["output"], combined, rtol=1e-4, atol=1e-3)


def test_lapsrn_pyramid_outputs_and_bilinear_image_branch():
    model = models.build("lapsrn", scale=8, intermediate_outputs=True, **TINY["lapsrn"])
    lr = np.full((1, 6, 7, 1), 100.0, np.float32)
    for level in (1, 2, 3):
        _zero_layer(model, f"level_{level}_residual")
    out = _predict(model, lr)
    assert {k: v.shape for k, v in out.items()} == {"x2": (1, 12, 14, 1), "x4": (1, 24, 28, 1), "x8": (1, 48, 56, 1)}
    # Residuals zeroed: each level is the bilinear transposed conv, exact on a constant away from the border.
    np.testing.assert_allclose(out["x2"][0, 1:-1, 1:-1], 100.0, rtol=1e-5)
    np.testing.assert_allclose(out["x4"][0, 3:-3, 3:-3], 100.0, rtol=1e-5)


@pytest.mark.parametrize("name", ["drcn", "lapsrn"])
def test_intermediate_output_weights_load_into_single_output_model(name, tmp_path):
    scale = 4
    training = models.build(name, scale=scale, intermediate_outputs=True, **TINY[name])
    _perturb(training)
    key = "output" if name == "drcn" else f"x{scale}"
    path = str(tmp_path / "w.weights.h5")
    training.save_weights(path)
    inference = models.build(name, scale=scale, **TINY[name])
    inference.load_weights(path)
    lr = _lr()
    np.testing.assert_allclose(_predict(inference, lr), _predict(training, lr)[key], rtol=1e-5, atol=1e-4)


ROUND_TRIP = [
    ("srcnn", {"scale": 3}), ("fsrcnn", {"scale": 3}), ("espcn", {"scale": 4}), ("vdsr", {"scale": 2}),
    ("drcn", {"scale": 2, "intermediate_outputs": True}), ("drrn", {"scale": 2}),
    ("lapsrn", {"scale": 4, "intermediate_outputs": True}), ("rednet", {}), ("srdensenet", {"skip": "all"}),
    ("srdensenet", {"skip": "hl"}), ("srdensenet", {"skip": "h"}),
]


def _perturb(model, seed=1, skip=None):
    """Random weights everywhere (zero-initialized biases and the BN statistics would hide mistakes)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if skip and skip in w.path:
            continue
        value = rng.normal(0.0, 0.1, w.shape)
        if "variance" in w.path:
            value = np.abs(value) + 0.5
        w.assign(value.astype("float32"))


def _assert_same(a, b):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b)
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-3)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name,config", ROUND_TRIP, ids=[_label(c) for c in ROUND_TRIP])
def test_safe_mode_save_load_and_config_round_trip(name, config, tmp_path):
    model = models.build(name, **config, **TINY[name])
    _perturb(model)
    lr = _lr()
    expected = _predict(model, lr)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    _assert_same(_predict(loaded, lr), expected)
    # get_config / from_config: a JSON-serializable config rebuilding the same graph.
    config_json = json.loads(json.dumps(model.get_config()))
    rebuilt = keras.Model.from_config(config_json)
    rebuilt.set_weights(model.get_weights())
    _assert_same(_predict(rebuilt, lr), expected)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


def test_registered_and_configs_validated():
    assert set(CLASSIC) <= set(models.list_models())
    with pytest.raises(ValueError, match="FSRCNN"):
        models.build("fsrcnn", scale=5)
    with pytest.raises(ValueError, match="LapSRN"):
        models.build("lapsrn", scale=3)
    with pytest.raises(ValueError, match="VDSR"):
        models.build("vdsr", channels=2)
    with pytest.raises(ValueError, match="skip"):
        models.build("srdensenet", skip="dense")


def test_depth_to_space_is_the_periodic_shuffle():
    r = 3
    x = np.arange(2 * 2 * r * r, dtype="float32").reshape(1, 2, 2, r * r)
    y = keras.ops.convert_to_numpy(DepthToSpace(r)(x))
    assert y.shape == (1, 2 * r, 2 * r, 1)
    for i in range(2):
        for j in range(2):
            for dy in range(r):
                for dx in range(r):
                    assert y[0, r * i + dy, r * j + dx, 0] == x[0, i, j, dy * r + dx]


def test_bilinear_kernel_and_weighted_sum_layers():
    np.testing.assert_allclose(bilinear_filter(4)[0], np.array([1, 3, 3, 1]) / 16.0)
    kernel = keras.ops.convert_to_numpy(BilinearKernel()((4, 4, 2, 2)))
    np.testing.assert_allclose(kernel[:, :, 0, 0], bilinear_filter(4))
    assert np.all(kernel[:, :, 0, 1] == 0)
    layer = LearnedWeightedSum(initial_value=0.5)
    y = layer([np.ones((1, 2, 2, 1), "float32"), 3 * np.ones((1, 2, 2, 1), "float32")])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y), 2.0)
    assert len(layer.trainable_weights) == 1 and LearnedWeightedSum.from_config(layer.get_config()).initial_value == 0.5


def _inbound(model, layer_name):
    """Names of the layers feeding each call of `layer_name`, from the public functional config."""
    def history(value, found):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                found.append(value["config"]["keras_history"][0])
            else:
                for item in value.values():
                    history(item, found)
        elif isinstance(value, (list, tuple)):
            for item in value:
                history(item, found)
        return found

    entry = next(layer for layer in model.get_config()["layers"] if layer["name"] == layer_name)
    return [history(node, []) for node in entry["inbound_nodes"]]


def test_rednet_symmetric_skips_every_two_layers():
    model = build("rednet", filters=2)  # RED30 layout, 2 maps wide
    skips = [layer.name for layer in model.layers if layer.name.startswith("skip_") and not layer.name.endswith("relu")]
    assert skips == [f"skip_{i}" for i in (1, 3, 5, 7, 9, 11, 13)]
    for i in (1, 3, 5, 7, 9, 11, 13):
        assert _inbound(model, f"skip_{i}") == [[f"deconv_{i}", f"conv_{15 - i}"]]
    assert _inbound(model, "add_input") == [["to_unit_range", "deconv_15"]]  # global skip from the input


def test_drrn_units_share_convs_and_add_the_block_entry():
    model = build("drrn", filters=2, num_units=4)
    assert len(_inbound(model, "block_1_shared_conv_a")) == 4  # one layer, called by every unit
    assert len(_inbound(model, "block_1_shared_conv_b")) == 4
    for unit in range(1, 5):
        assert _inbound(model, f"block_1_unit_{unit}_add") == [["block_1_entry_conv", "block_1_shared_conv_b"]]
    assert len(_inbound(model, "block_1_unit_3_a_bn")) == 1  # BatchNorm is per unit, as in the prototxt


def test_paper_initializers():
    def initializer_of(model, layer_name):
        return type(model.get_layer(layer_name).kernel_initializer).__name__

    srcnn = models.build("srcnn", filters=[2, 2])
    assert initializer_of(srcnn, "patch_extraction") == "RandomNormal"
    assert srcnn.get_layer("patch_extraction").kernel_initializer.stddev == pytest.approx(1e-3)
    fsrcnn = models.build("fsrcnn", d=2, s=2, m=1)
    assert initializer_of(fsrcnn, "feature_extraction") == "HeNormal"
    assert initializer_of(fsrcnn, "deconvolution") == "RandomNormal"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fsrcnn.get_layer("feature_extraction_prelu").alpha), 0.25)
    lapsrn = models.build("lapsrn", scale=2, filters=2, depth=1)
    assert initializer_of(lapsrn, "input_conv") == "RandomNormal"
    assert initializer_of(lapsrn, "level_1_conv_1") == "HeNormal"
    image_kernel = keras.ops.convert_to_numpy(lapsrn.get_layer("level_1_image_upsampling").kernel)
    np.testing.assert_allclose(image_kernel[..., 0, 0], bilinear_filter(4))
    assert initializer_of(build("lapsrn", scale=2, filters=2, depth=1), "level_1_conv_1") == "Zeros"


def test_multi_output_models_train_with_a_loss_per_output():
    """DRCN's recursive supervision and LapSRN's per-level loss map onto Keras loss dicts."""
    lr = _lr(h=4, w=4)
    drcn = models.build("drcn", scale=2, intermediate_outputs=True, **TINY["drcn"])
    _perturb(drcn, skip="ensemble")
    alpha, depth = 0.5, TINY["drcn"]["recursions"]
    keys = ["output"] + [f"recursion_{d + 1}" for d in range(depth)]
    drcn.compile(optimizer="adam", loss={k: "mse" for k in keys},
                 loss_weights={k: (1 - alpha) if k == "output" else alpha / depth for k in keys})
    hr = np.full((1, 8, 8, 1), 128.0, np.float32)
    history = drcn.fit(lr, {k: hr for k in keys}, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    lapsrn = models.build("lapsrn", scale=4, intermediate_outputs=True, **TINY["lapsrn"])
    _perturb(lapsrn)
    lapsrn.compile(optimizer="adam", loss={"x2": "mae", "x4": "mae"})
    targets = {"x2": np.full((1, 8, 8, 1), 128.0, np.float32), "x4": np.full((1, 16, 16, 1), 128.0, np.float32)}
    before = keras.ops.convert_to_numpy(lapsrn.get_layer("level_1_residual").kernel).copy()
    lapsrn.fit(lr, targets, epochs=1, verbose=0)
    assert not np.allclose(before, keras.ops.convert_to_numpy(lapsrn.get_layer("level_1_residual").kernel))
