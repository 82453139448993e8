"""CrossNet: official parameter counts, FlowWarp and the transposed-conv grid against PyTorch, tiny model."""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr import models
from keras_sr.layers.flow_warp import FlowWarp, flow_warp
from keras_sr.models import crossnet as crossnet_module

TINY = dict(flow_widths=(2, 2, 2, 2, 2, 2), features=2)


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_parameter_counts_match_official():
    # Official MultiscaleWarpingNet (htzheng/ECCV2018_CrossNet_RefSR Model/), counted by instantiating the
    # official classes: 35,183,841 in all, FlowNet 33,830,110, Encoder 414,720, UNet_decoder_2 939,011
    # (the 35.18M / 33.83M). The decoder's post_fusion2 (102,464) is never used by the forward
    # pass and is not in the functional graph.
    assert crossnet_module.official_parameter_count() == (35_183_841, 33_830_110)
    model = models.build("crossnet")
    assert model.get_layer("flownet").count_params() == 33_830_110
    assert model.get_layer("encoder").count_params() == 414_720
    assert model.count_params() == 35_183_841 - crossnet_module.UNUSED_POST_FUSION2 == 35_081_377


def test_tiny_formula_matches_the_built_model():
    tiny = models.build("crossnet", **TINY)
    total, flownet = crossnet_module.official_parameter_count(TINY["flow_widths"], TINY["features"],
                                                              include_unused=False)
    assert tiny.count_params() == total and tiny.get_layer("flownet").count_params() == flownet


@pytest.mark.parametrize("padding", ["border", "zeros"])
def test_flow_warp_matches_grid_sample(padding):
    """CrossNet's Backward_warp is grid_sample(border, align_corners=True); DATSR's flow_warp the zeros one."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 7, 3)).astype("float32")
    flow = rng.uniform(-3, 3, (2, 5, 7, 2)).astype("float32")  # (dx, dy), some samples outside
    ours = np_(FlowWarp(padding)([x, flow]))
    h, w = 5, 7
    gy, gx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    grid = np.stack([2 * (gx + flow[..., 0]) / (w - 1) - 1, 2 * (gy + flow[..., 1]) / (h - 1) - 1], -1)
    theirs = torch.nn.functional.grid_sample(torch.from_numpy(x).permute(0, 3, 1, 2),
                                             torch.from_numpy(grid.astype("float32")), mode="bilinear",
                                             padding_mode=padding, align_corners=True).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    yx = np_(flow_warp(x, flow[..., ::-1], padding, flow_order="yx"))
    np.testing.assert_allclose(yx, ours, atol=1e-6)
    with pytest.raises(ValueError, match="padding"):
        FlowWarp("reflect")


def test_stride2_grids_match_pytorch():
    """The explicit padding (stride-2 convs) and Conv2DTranspose(4, 2, same) = ConvTranspose2d(4, 2, padding 1)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 8, 6, 3)).astype("float32")
    deconv = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same")
    ours = np_(deconv(x))
    kernel, bias = (np_(w) for w in deconv.weights)
    theirs = F.conv_transpose2d(torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(kernel).permute(3, 2, 0, 1),
                                torch.from_numpy(bias), stride=2, padding=1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    inp = keras.Input((None, None, 3))
    conv_model = keras.Model(inp, crossnet_module._conv(inp, 2, 7, "probe", stride=2))
    kernel, bias = (np_(w) for w in conv_model.weights)
    theirs = F.conv2d(torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(kernel).permute(3, 2, 0, 1),
                      torch.from_numpy(bias), stride=2, padding=3).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(np_(conv_model(x)), theirs, atol=1e-5)


def test_tiny_model_call_and_prepare_inputs(rng):
    model = models.build("crossnet", **TINY)
    lr = rng.integers(0, 256, (10, 21, 3), dtype=np.uint8)
    inputs, (h, w) = crossnet_module.prepare_inputs(lr, rng.integers(0, 256, (70, 50, 3), dtype=np.uint8))
    assert (h, w) == (40, 84)
    assert inputs["lr_up"].shape == inputs["ref"].shape == (1, 64, 128, 3)
    out = np_(model(inputs))
    assert out.shape == (1, 64, 128, 3) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="RGB"):
        crossnet_module.prepare_inputs(lr[..., 0], lr)
    with pytest.raises(ValueError, match="x4"):
        models.build("crossnet", scale=2)


def test_recipe_defaults_and_rules():
    from keras_sr.recipes.crossnet import CrossNetRecipe

    r = CrossNetRecipe.for_scale(4)
    assert (r.patch_size, r.hr_patch_size, r.ref_size, r.batch_size, r.loss) == (80, 320, 320, 4, "charbonnier")
    assert (r.learning_rate, r.lr_gamma, r.lr_milestones[:2], r.steps) == (1e-4, 0.2, (150_000, 300_000), 1_000_000)
    assert r.input_names() == ("lr_up", "ref")
    with pytest.raises(ValueError, match="multiple of 64"):
        CrossNetRecipe.for_scale(4, patch_size=40)
    with pytest.raises(ValueError, match="HR patch size"):
        CrossNetRecipe.for_scale(4, ref_patch_size=160)
