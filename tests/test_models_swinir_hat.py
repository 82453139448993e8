"""SwinIR and HAT: official parameter counts, equality with spandrel's PyTorch copies of the official
architectures (same random weights, through keras_sr.convert's converters), serialization."""

import os

import numpy as np
import pytest

import keras

from keras_sr import models
from keras_sr.convert.registry import StateDict

ZEROS = "zeros"


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def count_by_depth(name, scale, config):
    """Trainable parameters of the full-size model, from three one- and two-block builds at full width.

    The count is affine in the blocks per group and the number of groups (every block and every group of
    a config has the same weights), so `base + groups * group + blocks * block` with `block` and
    `group` measured on the Keras layers; a third build checks the affinity.
    """
    depths, heads = config.pop("depths"), config.pop("num_heads")
    assert len(set(heads)) == 1

    def build(d):
        model = models.build(name, scale=scale, depths=d, num_heads=(heads[0],) * len(d), kernel_initializer=ZEROS,
                             conv_initializer=ZEROS, **config)
        return trainable_count(model)

    one, two_blocks, two_groups = build((1,)), build((2,)), build((1, 1))
    block, group = two_blocks - one, two_groups - one - (two_blocks - one)
    base = one - group - block
    assert block > 0 and group > 0
    return base + len(depths) * group + sum(depths) * block


SWINIR_LIGHT = dict(variant="lightweight", embed_dim=60, depths=(6,) * 4, num_heads=(6,) * 4)
SWINIR_CLASSICAL = dict(variant="classical", embed_dim=180, depths=(6,) * 6, num_heads=(6,) * 6)


def test_swinir_lightweight_x4_full_build_count():
    model = models.build("swinir", scale=4, variant="lightweight", kernel_initializer=ZEROS, conv_initializer=ZEROS)
    assert trainable_count(model) == 929_628  # official network_swinir.py, counted on spandrel's copy
    assert not model.non_trainable_weights


@pytest.mark.parametrize("config,scale,official", [
    (SWINIR_LIGHT, 2, 910_152),       # paper 878K + 32,400 bias-table entries
    (SWINIR_LIGHT, 4, 929_628),       # paper 897K + 32,400
    (SWINIR_CLASSICAL, 4, 11_900_199),
])
def test_swinir_full_size_counts(config, scale, official):
    assert count_by_depth("swinir", scale, dict(config)) == official


def test_official_counts_from_spandrel():
    # The literal figures above are the official architectures' parameters() (spandrel copies them).
    from spandrel_oracle import import_spandrel

    import_spandrel()
    from spandrel.architectures.SwinIR import SwinIR

    def count(net):
        return sum(p.numel() for p in net.parameters())

    # The 11.9M classical x4 (11,900,199) and HAT (20,772,507 / 9,621,183) figures were counted the same
    # way once; re-counting them here would cost ~20 s of PyTorch initialization.
    common = dict(img_size=64, window_size=8, img_range=1.0, mlp_ratio=2, resi_connection="1conv")
    for scale, expected in [(2, 910_152), (4, 929_628)]:
        assert count(SwinIR(upscale=scale, depths=[6] * 4, embed_dim=60, num_heads=[6] * 4,
                            upsampler="pixelshuffledirect", **common)) == expected


# ----------------------------------------------------------------------------- parity with spandrel
def randomized(net, seed):
    """Random weights large enough that every part shows in the output (zeroing HAT's OCAB bias table
    moves it by 0.2, the 0.01-scaled channel attention conv by 0.008: far above the 1e-4 tolerance)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if "relative_position_bias_table" in name:
                p.copy_(noise)
            elif p.dim() > 1:
                p.copy_(noise / p[0].numel() ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * noise)
            else:
                p.copy_(0.1 * noise)
    return net.eval()


def keras_from_state(converter, net):
    state = StateDict({k: v.numpy() for k, v in net.state_dict().items()}, source="spandrel")
    found = converter.detect(state)
    model = models.build(found["model"], **found["config"])
    converter.load(model, state, found["config"])
    state.check_all_used()
    return model, found


def compare(model, net, height=10, width=13, seed=0):
    import torch

    x = np.random.default_rng(seed).uniform(0, 1, (1, height, width, 3)).astype("float32")
    with torch.no_grad():
        expected = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    out = keras.ops.convert_to_numpy(model(x * 255.0)) / 255.0
    assert out.shape == expected.shape
    err = float(np.abs(out - expected).max())
    print(f"parity {model.name} vs spandrel: max abs {err:.2g} (0-1 units), rel {err / float(np.abs(expected).max()):.2g}")
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("scale,upsampler,resi", [(2, "pixelshuffle", "1conv"), (3, "pixelshuffledirect", "3conv"),
                                                  (4, "pixelshuffle", "1conv")])
def test_swinir_equals_spandrel(scale, upsampler, resi):
    from spandrel_oracle import import_spandrel

    import_spandrel()
    from spandrel.architectures.SwinIR import SwinIR

    from keras_sr.convert import swinir as converter

    net = randomized(SwinIR(upscale=scale, img_size=16, window_size=4, img_range=1.0, depths=[2, 2], embed_dim=12,
                            num_heads=[2, 3], mlp_ratio=2, upsampler=upsampler, resi_connection=resi), seed=scale)
    model, found = keras_from_state(converter, net)
    assert found["config"] == dict(scale=scale, embed_dim=12, depths=[2, 2], num_heads=[2, 3], window_size=4,
                                   mlp_ratio=2.0, upsampler=upsampler, resi_connection=resi, channels=3, qkv_bias=True)
    compare(model, net)  # 10x13: not a multiple of the window


HAT_TINY = dict(img_size=16, window_size=4, compress_ratio=3, squeeze_factor=4, conv_scale=0.01, overlap_ratio=0.5,
                img_range=1.0, depths=[2, 2], embed_dim=12, num_heads=[2, 3], mlp_ratio=2, upsampler="pixelshuffle",
                resi_connection="1conv", num_feat=8)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_hat_equals_spandrel(scale):
    # Window 4 with overlap 0.5: 6x6 overlapping key windows (HAT's 16 -> 24), on a 10x13 input.
    from spandrel_oracle import import_spandrel

    import_spandrel()
    from spandrel.architectures.HAT import HAT

    from keras_sr.convert import hat as converter

    net = randomized(HAT(upscale=scale, **HAT_TINY), seed=10 + scale)
    model, found = keras_from_state(converter, net)
    assert found["config"] == dict(scale=scale, embed_dim=12, depths=[2, 2], num_heads=[2, 3], window_size=4,
                                   overlap_ratio=0.5, compress_ratio=3, squeeze_factor=4, mlp_ratio=2.0, num_feat=8,
                                   channels=3, qkv_bias=True)
    compare(model, net)


@pytest.mark.parametrize("variant,official", [("hat", 20_772_507), ("hat_s", 9_621_183)])
def test_hat_full_size_counts(variant, official):
    # Official hat_arch.py HAT / HAT-S x4 (counted on spandrel's copy).
    assert count_by_depth("hat", 4, dict(variant=variant, depths=(6,) * 6, num_heads=(6,) * 6)) == official


# ----------------------------------------------------------------------------- serialization, training
def test_swinir_safe_mode_round_trip(tmp_path):
    model = models.build("swinir", scale=3, variant="lightweight", embed_dim=8, depths=(2,), num_heads=(2,),
                         window_size=4)
    x = np.random.default_rng(3).uniform(0, 255, (1, 9, 6, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x))
    path = os.path.join(tmp_path, "swinir.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), y, atol=1e-3)
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), y, atol=1e-3)


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="variant"):
        models.build("swinir", variant="huge")
    with pytest.raises(ValueError, match="upsampler"):
        models.build("swinir", upsampler="nearest+conv")
    with pytest.raises(ValueError, match="same length"):
        models.build("swinir", depths=(2, 2), num_heads=(2,))
