"""Deep SISR models of issue 6: official parameter counts, shapes per scale, serialization.

Parameter counts: every `*_official` function below is the parameter count of
the official PyTorch architecture, written from the official code (the source
is named on each); full-size models are built with zero initializers only to
count (cheap on every backend), and forward passes use tiny configs.
PyTorch's `sum(p.numel() for p in model.parameters())` counts batch-norm
affine weights but not running statistics (buffers), and counts EDSR-style
frozen MeanShift convs (2 x 12 parameters), which keras-sr implements as
constants; both differences are spelled out where they apply.
"""

import math
import os

import numpy as np
import pytest

import keras

from keras_sr import models
from keras_sr.models.mdsr import mdsr_branch

ZEROS = "zeros"


def conv(cin, cout, k=3, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def non_trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.non_trainable_weights))


def edsr_upsampler(filters, scale, out_filters=None):
    """EDSR-PyTorch common.Upsampler (conv to 4F per x2 step, 9F for x3); RDN's UPNet with out_filters=G."""
    out_filters = out_filters or filters
    if scale == 3:
        return conv(filters, 9 * out_filters)
    steps = int(math.log2(scale))
    return conv(filters, 4 * out_filters) + (steps - 1) * conv(out_filters, 4 * out_filters)


# ----------------------------------------------------------------------------- official counts
def rdn_official(scale, D=16, C=8, G=64, G0=64):
    """EDSR-PyTorch src/model/rdn.py: SFENet1/2, D x RDB (C x RDB_Conv + LFF 1x1), GFF (1x1, 3x3), UPNet, no mean shift."""
    rdb = sum(conv(G0 + c * G, G) for c in range(C)) + conv(G0 + C * G, G0, 1)
    return conv(3, G0) + conv(G0, G0) + D * rdb + conv(D * G0, G0, 1) + conv(G0, G0) + edsr_upsampler(G0, scale, G) + conv(G, 3)


def rcan_official(scale, groups=10, blocks=20, F=64, r=16):
    """EDSR-PyTorch src/model/rcan.py, trainable parameters (the two frozen MeanShift convs add 24)."""
    rcab = 2 * conv(F, F) + conv(F, F // r, 1) + conv(F // r, F, 1)
    return conv(3, F) + groups * (blocks * rcab + conv(F, F)) + conv(F, F) + edsr_upsampler(F, scale) + conv(F, 3)


def mdsr_official(scales=(2, 3, 4), blocks=16, F=64):
    """EDSR-PyTorch src/model/mdsr.py: per scale 2 ResBlocks of 5x5 convs and an Upsampler; trainable (+24 MeanShift)."""
    return (conv(3, F) + len(scales) * 2 * 2 * conv(F, F, 5) + blocks * 2 * conv(F, F) + conv(F, F)
            + sum(edsr_upsampler(F, s) for s in scales) + conv(F, 3))


def wn_conv(cin, cout, k):
    """torch.nn.utils.weight_norm(nn.Conv2d): weight_v, weight_g (one per output channel), bias."""
    return k * k * cin * cout + 2 * cout


def wdsr_official(scale, variant="a", blocks=16, F=32, wide=None):
    """JiahuiYu/wdsr_ntire2018 wdsr_a.py / wdsr_b.py (block_feats for A; expand 6, linear 0.8 for B)."""
    out = 3 * scale * scale
    if variant == "a":
        wide = wide or 4 * F
        block = wn_conv(F, wide, 3) + wn_conv(wide, F, 3)
    else:
        wide, low = wide or 6 * F, int(F * 0.8)
        block = wn_conv(F, wide, 1) + wn_conv(wide, low, 1) + wn_conv(low, F, 3)
    return wn_conv(3, F, 3) + blocks * block + wn_conv(F, out, 3) + wn_conv(3, out, 5)


def msrresnet_official(scale, blocks=16, F=64):
    """BasicSR basicsr/archs/srresnet_arch.py MSRResNet: conv_first, ResidualBlockNoBN x B, upconv(s), conv_hr, conv_last."""
    up = conv(F, 9 * F) if scale == 3 else int(math.log2(scale)) * conv(F, 4 * F)
    return conv(3, F) + blocks * 2 * conv(F, F) + up + conv(F, F) + conv(F, 3)


def srgan_generator_paper(scale, blocks=16, F=64):
    """Ledig et al. 2017 Fig. 4 (no official code): (trainable, BN moving statistics); PReLU per channel."""
    steps = [3] if scale == 3 else [2] * int(math.log2(scale))
    trainable = (conv(3, F, 9) + F + blocks * (2 * conv(F, F) + 2 * 2 * F + F) + conv(F, F) + 2 * F
                 + sum(conv(F, r * r * F) + F for r in steps) + conv(F, 3, 9))
    return trainable, (2 * blocks + 1) * 2 * F


def rrdbnet_official(scale=4, blocks=23, F=64, gc=32):
    """xinntao/ESRGAN RRDBNet_arch.py (BasicSR rrdbnet_arch.py; x2/x1 pixel-unshuffle the input by 2/4)."""
    rdb = sum(conv(F + c * gc, gc) for c in range(4)) + conv(F + 4 * gc, F)
    in_channels = 3 * (4 // scale) ** 2
    return conv(in_channels, F) + blocks * 3 * rdb + conv(F, F) + 2 * conv(F, F) + conv(F, F) + conv(F, 3)


def esrgan_discriminator_official(size=128, F=64, units=100):
    """ESRGAN/mmsr Discriminator_VGG_128 = BasicSR VGGStyleDiscriminator: (parameters, BN running statistics)."""
    layers = [(F, F, 4), (F, 2 * F, 3), (2 * F, 2 * F, 4), (2 * F, 4 * F, 3), (4 * F, 4 * F, 4),
              (4 * F, 8 * F, 3), (8 * F, 8 * F, 4), (8 * F, 8 * F, 3), (8 * F, 8 * F, 4)]
    params = conv(3, F) + sum(conv(cin, cout, k, bias=False) + 2 * cout for cin, cout, k in layers)
    params += (size // 32) ** 2 * 8 * F * units + units + units + 1
    return params, sum(2 * cout for _, cout, _ in layers)


def srgan_discriminator_paper(size=96, F=64, units=1024):
    """Ledig et al. 2017 Fig. 4 (no official code): conv-BN-LReLU stages without conv bias: (trainable, BN stats)."""
    stages = [(F, F), (F, 2 * F), (2 * F, 2 * F), (2 * F, 4 * F), (4 * F, 4 * F), (4 * F, 8 * F), (8 * F, 8 * F)]
    params = conv(3, F) + sum(conv(cin, cout, bias=False) + 2 * cout for cin, cout in stages)
    params += (size // 16) ** 2 * 8 * F * units + units + units + 1
    return params, sum(2 * cout for _, cout in stages)


def within_table(count, millions):
    """Within 1% of a figure of standard_tables.md, or equal to it at the figure's printed precision."""
    text = str(millions)
    half_unit = 0.5 * 10 ** -(len(text.split(".")[1]) if "." in text else 0) * 1e6
    return abs(count - millions * 1e6) <= max(0.01 * millions * 1e6, half_unit)


# ----------------------------------------------------------------------------- full-size counts
FULL_SIZE = [
    # name, config, trainable, non-trainable, exact official figure and source, standard_tables.md figure (M)
    ("rdn", dict(scale=4), 22_271_107, 0, "EDSR-PyTorch rdn.py RDN(B) x4: 22,271,107", 22.3),
    ("rcan", dict(scale=4), 15_592_355, 0, "EDSR-PyTorch rcan.py x4: 15,592,379 incl. 24 frozen MeanShift", 15.6),
    ("rrdbnet", dict(scale=4, dense_kernel_initializer=ZEROS), 16_697_987, 0, "ESRGAN RRDBNet_arch.py: 16,697,987", 16.7),
    ("srresnet", dict(scale=4), 1_517_571, 0, "BasicSR MSRResNet x4: 1,517,571", 1.5),
    ("mdsr", dict(), 3_227_203, 0, "EDSR-PyTorch mdsr.py r16f64: 3,227,227 incl. 24 frozen MeanShift", None),
    ("mdsr", dict(variant="full"), 7_953_987, 0, "EDSR-PyTorch mdsr.py r80f64: 7,954,011 incl. MeanShift (paper 8.0M)", None),
    ("wdsr", dict(scale=2, variant="a"), 1_190_100, 0, "wdsr_ntire2018 README, WDSR baseline x2: 1,190,100", None),
    ("wdsr", dict(scale=2, variant="b"), 303_604, 0, "wdsr_b.py, n_feats 32, 16 blocks, x2", None),
    ("srresnet", dict(scale=4, variant="srgan"), 1_550_659, 4_224, "Ledig et al. Fig. 4 (no official code)", None),
    ("esrgan_discriminator", dict(), 14_499_401, 5_760, "BasicSR VGGStyleDiscriminator(128): 14,499,401", None),
    ("srgan_discriminator", dict(), 23_563_649, 3_712, "Ledig et al. Fig. 4, 96x96 input (no official code)", None),
]


def test_full_size_counts_equal_official_formulas():
    # The literal figures of FULL_SIZE, re-derived from the official architectures.
    assert rdn_official(4) == 22_271_107
    assert rcan_official(4) + 24 == 15_592_379
    assert rrdbnet_official(4) == 16_697_987
    assert msrresnet_official(4) == 1_517_571
    assert mdsr_official() + 24 == 3_227_227 and mdsr_official(blocks=80) + 24 == 7_954_011
    assert wdsr_official(2, "a") == 1_190_100 and wdsr_official(2, "b") == 303_604
    assert srgan_generator_paper(4) == (1_550_659, 4_224)
    assert esrgan_discriminator_official() == (14_499_401, 5_760)
    assert srgan_discriminator_paper() == (23_563_649, 3_712)


@pytest.mark.parametrize("name,config,trainable,non_trainable,source,table", FULL_SIZE, ids=lambda v: str(v)[:24])
def test_full_size_parameter_counts(name, config, trainable, non_trainable, source, table):
    model = models.build(name, kernel_initializer=ZEROS, **config)
    assert (trainable_count(model), non_trainable_count(model)) == (trainable, non_trainable), source
    if table is not None:
        assert within_table(trainable, table), f"{name}: {trainable} vs {table}M in standard_tables.md"


# ----------------------------------------------------------------------------- tiny configs per scale
TINY = {
    "rdn": dict(num_blocks=2, num_layers=2, growth_rate=4, filters=6),
    "rcan": dict(num_groups=2, num_blocks=2, filters=8, reduction=4),
    "wdsr_a": dict(variant="a", num_blocks=2, filters=4),
    "wdsr_b": dict(variant="b", num_blocks=2, filters=5),
    "msrresnet": dict(variant="msrresnet", num_blocks=2, filters=4),
    "srresnet": dict(variant="srgan", num_blocks=2, filters=4),
    "rrdbnet": dict(num_blocks=1, filters=4, growth_rate=2),
}
TINY_OFFICIAL = {
    "rdn": lambda s: rdn_official(s, D=2, C=2, G=4, G0=6),
    "rcan": lambda s: rcan_official(s, groups=2, blocks=2, F=8, r=4),
    "wdsr_a": lambda s: wdsr_official(s, "a", blocks=2, F=4),
    "wdsr_b": lambda s: wdsr_official(s, "b", blocks=2, F=5),
    "msrresnet": lambda s: msrresnet_official(s, blocks=2, F=4),
    "srresnet": lambda s: srgan_generator_paper(s, blocks=2, F=4)[0],
    "rrdbnet": lambda s: rrdbnet_official(s, blocks=1, F=4, gc=2),
}
SCALES = {"rdn": (2, 3, 4), "rcan": (2, 3, 4, 8), "wdsr_a": (2, 3, 4), "wdsr_b": (2, 3, 4),
          "msrresnet": (2, 3, 4), "srresnet": (2, 3, 4), "rrdbnet": (1, 2, 4)}
CASES = [(key, scale) for key in TINY for scale in SCALES[key]]


def build_tiny(key, scale, **extra):
    name = "wdsr" if key.startswith("wdsr") else "srresnet" if key == "msrresnet" else key
    return models.build(name, scale=scale, kernel_initializer=ZEROS, **TINY[key], **extra)


def randomize(model, seed=0, scale=0.1):
    """Random trainable weights from numpy (BN statistics keep their init)."""
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        weight.assign(rng.normal(0.0, scale, size=tuple(weight.shape)).astype("float32"))


def lr_image(seed=0, height=8, width=12):
    return np.random.default_rng(seed).uniform(0, 255, size=(1, height, width, 3)).astype("float32")


@pytest.mark.parametrize("key,scale", CASES)
def test_tiny_models_shapes_and_counts_per_scale(key, scale):
    model = build_tiny(key, scale)
    assert trainable_count(model) == TINY_OFFICIAL[key](scale)
    assert model.input_shape == (None, None, None, 3)
    randomize(model)
    y = keras.ops.convert_to_numpy(model(lr_image()))
    assert y.shape == (1, 8 * scale, 12 * scale, 3)
    assert y.dtype == np.float32 and np.isfinite(y).all()


@pytest.mark.parametrize("key,scale", [("rdn", 3), ("rcan", 2), ("wdsr_b", 3), ("msrresnet", 4), ("srresnet", 2), ("rrdbnet", 2)])
def test_tiny_models_safe_mode_round_trip_and_from_config(key, scale, tmp_path):
    model = build_tiny(key, scale)
    randomize(model, seed=1)
    x = lr_image(seed=2)
    y = keras.ops.convert_to_numpy(model(x))
    path = os.path.join(tmp_path, f"{key}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), y, rtol=1e-5, atol=1e-3)
    clone = keras.Model.from_config(model.get_config())
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), y, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name,config", [
    ("rcan", dict(num_groups=1, num_blocks=2, filters=8, reduction=2)),
    ("wdsr", dict(variant="b", num_blocks=2, filters=5)),
])
def test_one_training_step_updates_every_weight(name, config):
    # Channel attention maps, weight-norm magnitudes and directions all receive gradients
    # (4 images and 4 attention units, so that no attention ReLU is dead for the whole batch).
    model = models.build(name, scale=2, kernel_initializer=ZEROS, **config)
    randomize(model, seed=7)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mae", jit_compile=False)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    lr = np.concatenate([lr_image(seed=seed) for seed in range(4)])
    model.train_on_batch(lr, np.random.default_rng(9).uniform(0, 255, (4, 16, 24, 3)).astype("float32"))
    unchanged = [w.path for w, b in zip(model.trainable_weights, before) if np.allclose(keras.ops.convert_to_numpy(w), b)]
    assert not unchanged


# ----------------------------------------------------------------------------- model-specific behavior
def test_mdsr_multi_scale_outputs_branches_and_round_trip(tmp_path):
    model = models.build("mdsr", num_blocks=2, filters=4, kernel_initializer=ZEROS)
    assert trainable_count(model) == mdsr_official(blocks=2, F=4)
    randomize(model, seed=3)
    x = lr_image(seed=4)
    outputs = {k: keras.ops.convert_to_numpy(v) for k, v in model(x).items()}
    assert {k: v.shape for k, v in outputs.items()} == {f"x{s}": (1, 8 * s, 12 * s, 3) for s in (2, 3, 4)}
    for s in (2, 3, 4):
        branch = mdsr_branch(model, s)
        # One branch: shared head/body/tail, its own pre-processing and upsampler.
        assert trainable_count(branch) == mdsr_official(scales=(s,), blocks=2, F=4)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(branch(x)), outputs[f"x{s}"], rtol=1e-5, atol=1e-3)
    path = os.path.join(tmp_path, "mdsr.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)["x3"]), outputs["x3"], rtol=1e-5, atol=1e-3)
    single = models.build("mdsr", scale=4, num_blocks=2, filters=4, kernel_initializer=ZEROS)
    assert single.output_shape == (None, None, None, 3) and single.name == "mdsr_baseline_x4"
    with pytest.raises(ValueError, match="not one of the model's scales"):
        models.build("mdsr", scale=3, scales=(2, 4))
    with pytest.raises(ValueError, match="no MDSR branch"):
        mdsr_branch(model, 8)


def test_wdsr_normalization_round_trips_the_mean():
    # All-zero weights: body and skip are 0 in the normalized space, so the output is 255 * DIV2K mean.
    model = build_tiny("wdsr_a", 2)
    y = keras.ops.convert_to_numpy(model(lr_image()))
    np.testing.assert_allclose(y[0, 0, 0], 255.0 * np.array([0.4488, 0.4371, 0.4040]), rtol=1e-6)
    normalize = model.get_layer("normalize")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(normalize(np.full((1, 1, 1, 3), 255.0 * 0.4488, "float32")))[0, 0, 0, 0], 0.0, atol=1e-6)


def test_msrresnet_adds_bilinear_base():
    # All-zero weights leave only the bilinear-upsampled input: a flat image stays flat.
    model = build_tiny("msrresnet", 4)
    y = keras.ops.convert_to_numpy(model(np.full((1, 5, 7, 3), 77.0, "float32")))
    np.testing.assert_allclose(y, 77.0, rtol=1e-5)


@pytest.mark.parametrize("name,size,extra", [("srgan_discriminator", 16, {}), ("esrgan_discriminator", 32, {})])
def test_discriminators_give_one_logit_per_image(name, size, extra, tmp_path):
    model = models.build(name, input_size=size, filters=2, dense_units=4, kernel_initializer=ZEROS)
    official = srgan_discriminator_paper if name == "srgan_discriminator" else esrgan_discriminator_official
    assert (trainable_count(model), non_trainable_count(model)) == official(size, F=2, units=4)
    randomize(model, seed=5)
    x = np.random.default_rng(6).uniform(0, 255, size=(3, size, size, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (3, 1) and np.isfinite(y).all()
    path = os.path.join(tmp_path, f"{name}.keras")
    model.save(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.saving.load_model(path, safe_mode=True)(x)), y, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of"):
        models.build(name, input_size=size + 8)


@pytest.mark.parametrize("name,scale", [("rdn", 8), ("rcan", 5), ("wdsr", 5), ("srresnet", 5), ("rrdbnet", 3)])
def test_unsupported_scales_are_rejected(name, scale):
    with pytest.raises(ValueError, match="scale"):
        models.build(name, scale=scale)


def test_registry_lists_the_deep_models():
    names = set(models.list_models())
    assert {"rdn", "rcan", "mdsr", "wdsr", "srresnet", "srgan_discriminator", "rrdbnet", "esrgan_discriminator"} <= names
