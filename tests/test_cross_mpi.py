"""Cross-MPI: official parameter count, parity with an independent PyTorch re-implementation, the plane sweep, the recipe.

The PyTorch oracle below is written for this test from the structure of the official TF1 code
(Mayzazhou/Cross-MPI `crossmpi/nets.py` `f_extract_net`, `guided_att_hr_syn_net`, `res_fuse_net`;
`crossmpi/mpi.py` `attention_ref_sr` with `guided_nnup_denseASPP_lowres_image_psv_lowresL1`): NCHW
tensors, the plane sweep by `F.grid_sample` (zeros outside), TF's asymmetric "SAME" padding of the
stride-2 convs written out, nearest x2 by `repeat_interleave`, and the x1/4 bicubic by the numpy
`keras_sr.imresize`; weights are copied from the Keras model.
"""

import numpy as np
import pytest

import keras
from keras import ops

from keras_sr import models
from keras_sr.imresize import imresize
from keras_sr.layers.plane_sweep_volume import PlaneSweepVolume
from keras_sr.models import cross_mpi as cmpi

SMALL = dict(num_planes=3, min_disparity=-2.0, max_disparity=3.5, ngf=3, extractor_ngf=3, feature_channels=2,
             fuse_ngf=3, fuse_blocks=2, res_repeat=2, aspp_levels=2)


def np_(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_parameter_count_matches_official():
    # Official final model at num_psv_planes 32 (train.py), counted by formula from nets.py (TF1 slim: the graph
    # does not run here): f_extract_net(dense_res_aspp) 531,656 (the 1x1 `aspp0/co` shared by the three ASPP
    # steps under AUTO_REUSE), guided_att_hr_syn_net(nnup) 3,126,144, res_fuse_net(ngf 32) 149,827.
    model = models.build("cross_mpi")
    assert cmpi.official_parameter_count() == (3_807_627, 531_656, 3_126_144, 149_827)
    assert model.count_params() == 3_807_627
    assert model.get_layer("feature_extractor").count_params() == 531_656
    shape = {k: v for k, v in SMALL.items() if "disparity" not in k}
    assert models.build("cross_mpi", **SMALL).count_params() == cmpi.official_parameter_count(**shape)[0]


def test_plane_sweep_shifts_with_zeros_outside(rng):
    x = rng.normal(size=(2, 3, 9, 2)).astype("float32")
    out = np_(PlaneSweepVolume([0.0, 2.0, -1.25])(x)).reshape(2, 3, 3, 9, 2)
    np.testing.assert_array_equal(out[:, 0], x)
    expected = np.zeros_like(x)
    expected[:, :, 2:] = x[:, :, :-2]
    np.testing.assert_array_equal(out[:, 1], expected)
    # x + 1.25: 0.75 of column x + 1, 0.25 of column x + 2 (zero past the right edge)
    padded = np.concatenate([x, np.zeros_like(x[:, :, :2])], axis=2)
    np.testing.assert_allclose(out[:, 2], 0.75 * padded[:, :, 1:10] + 0.25 * padded[:, :, 2:11], atol=1e-6)


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 4
        w.assign(rng.normal(0, 1.0 / np.sqrt(fan_in), shape).astype("float32"))


def _torch_cross_mpi(model, cfg):
    import torch
    import torch.nn.functional as F

    extractor = model.get_layer("feature_extractor")
    d = cfg["num_planes"]
    disparities = cmpi.plane_disparities(d, cfg["min_disparity"], cfg["max_disparity"])

    def weights(name):
        names = {layer.name for layer in extractor.layers}
        layer = extractor.get_layer(name) if name in names else model.get_layer(name)
        kernel, bias = (torch.from_numpy(np_(v)) for v in layer.weights)
        return kernel.permute(3, 2, 0, 1), bias, layer.dilation_rate[0]

    def conv(x, name, relu=True, stride=1, act=None):
        kernel, bias, rate = weights(name)
        if stride == 2:  # TF "SAME" for stride 2, even sizes: one pixel of padding at the bottom/right
            x = F.pad(x, (0, 1, 0, 1))
            y = F.conv2d(x, kernel, bias, stride=2)
        else:
            y = F.conv2d(x, kernel, bias, padding=rate * (kernel.shape[-1] // 2), dilation=rate)
        return (act or F.relu)(y) if relu else y

    def extract(x):
        net = conv(x, "conv_in")
        net = net + conv(conv(net, "res_in_c1"), "res_in_c2")
        aspp = net
        for j in range(cfg["aspp_levels"]):
            aspp = conv(torch.cat([conv(aspp, f"aspp{j}_d{r}") for r in (1, 4, 8)], 1), "aspp_co")
            net = net + aspp
        net = conv(net + conv(conv(net, "res0_c1"), "res0_c2"), "res0_co")
        return conv(net, "conv_out", relu=False)

    def block(x, name):
        x = conv(x, f"{name}_in")
        for j in range(cfg["res_repeat"]):
            x = x + conv(conv(conv(x, f"{name}_b{j}_c1"), f"{name}_b{j}_c2"), f"{name}_b{j}_c3")
        return conv(x, f"{name}_out")

    def sweep(ref):
        n, _, h, w = ref.shape
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                indexing="ij")
        planes = []
        for disparity in disparities:
            grid = torch.stack([2 * (xs - disparity) / (w - 1) - 1, 2 * ys / (h - 1) - 1], -1)
            planes.append(F.grid_sample(ref, grid[None].expand(n, h, w, 2), mode="bilinear", padding_mode="zeros",
                                        align_corners=True))
        return planes

    def quarter(x):  # numpy MATLAB bicubic x1/4, NCHW in and out
        images = [imresize(img.permute(1, 2, 0).numpy().astype(np.float64), 0.25) for img in x]
        return torch.from_numpy(np.stack(images).astype(np.float32)).permute(0, 3, 1, 2)

    def up(x):
        return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)

    def blend(weights_, planes):
        return sum(weights_[:, i:i + 1] * p for i, p in enumerate(planes))

    def forward(lr_up, ref):
        target, ref = lr_up / 127.5 - 1, ref / 127.5 - 1
        planes = sweep(ref)
        guidance = torch.cat([target, *planes], 1)
        f_lr = extract(quarter(target))
        scores = torch.stack([(f_lr * extract(quarter(p))).sum(1) for p in planes], 1)
        x = scores
        for i in range(3):
            x = conv(x, f"attention_out_{i}")
        attention = torch.softmax(conv(x, "attention_out", relu=False), 1)
        init_syn = blend(attention, [quarter(p) for p in planes])
        g0 = block(guidance, "guid_lv0")
        g1 = block(conv(g0, "guid_lv1_down", stride=2), "guid_lv1")
        g2 = block(conv(g1, "guid_lv2_down", stride=2), "guid_lv2")
        a = block(torch.cat([block(attention, "a_lv2_res0"), g2], 1), "a_lv2_com")
        a = block(torch.cat([up(a), g1], 1), "a_lv1_com")
        a = block(torch.cat([up(a), g0], 1), "a_lv0_com")
        hr_syn = blend(torch.softmax(conv(a, "a_out", relu=False), 1), planes)
        f = conv(target, "fuse_in_lr")
        net = conv(torch.cat([f, conv(hr_syn, "fuse_in_hr")], 1), "fuse_conv1")
        for i in range(cfg["fuse_blocks"]):
            net = net + conv(conv(net, f"fuse_b{i}_c1"), f"fuse_b{i}_c2")
        net = conv(f + conv(net, "fuse_conv3"), "fuse_conv4")
        out = conv(net, "sr_output", act=torch.tanh)
        return (out + 1) * 127.5, init_syn

    return forward


def test_matches_the_pytorch_reimplementation(rng):
    """The whole small network (fractional and negative disparities, dilated ASPP, guided upsampling) and its
    low-res synthesis within 1e-3 grey levels / 1e-5 of the oracle."""
    torch = pytest.importorskip("torch")
    model = models.build("cross_mpi", **SMALL)
    _randomize(model)
    inputs, (h, w) = cmpi.prepare_inputs(rng.integers(0, 256, (8, 10, 3), dtype=np.uint8),
                                         rng.integers(0, 256, (32, 40, 3), dtype=np.uint8), scale=4)
    assert inputs["ref"].shape == (1, 32, 40, 3) and (h, w) == (32, 40)
    ours = np_(model(inputs))
    init_net = keras.Model(model.inputs, cmpi.lowres_synthesis(model))
    forward = _torch_cross_mpi(model, SMALL)
    with torch.no_grad():
        theirs, init_syn = forward(*(torch.from_numpy(inputs[k]).permute(0, 3, 1, 2) for k in ("lr_up", "ref")))
    assert ours.std() > 1.0
    np.testing.assert_allclose(ours, theirs.permute(0, 2, 3, 1).numpy(), atol=1e-3, rtol=0)
    np.testing.assert_allclose(np_(init_net(inputs)), init_syn.permute(0, 2, 3, 1).numpy(), atol=1e-5, rtol=0)


def test_prepare_inputs_padding_and_errors(rng):
    lr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    inputs, (h, w) = cmpi.prepare_inputs(lr, rng.integers(0, 256, (15, 21, 3), dtype=np.uint8), scale=3)
    assert (h, w) == (15, 21) and inputs["lr_up"].shape == inputs["ref"].shape == (1, 24, 24, 3)
    inputs, _ = cmpi.prepare_inputs(lr, rng.integers(0, 256, (50, 30, 3), dtype=np.uint8), scale=4)
    assert inputs["ref"].shape == (1, 20, 28, 3)                    # another size: resized to the HR grid
    with pytest.raises(ValueError, match="RGB"):
        cmpi.prepare_inputs(lr, lr[..., 0])


# The recipe -----------------------------------------------------------------------------------------------------


def test_recipe_defaults_are_the_official_ones():
    from keras_sr.recipes.cross_mpi import CrossMPIRecipe

    r = CrossMPIRecipe.for_scale(8)
    assert (r.scale, r.patch_size, r.batch_size, r.learning_rate, r.schedule, r.steps) == (8, 48, 1, 2e-4, "constant",
                                                                                          302_050)
    assert (r.rec_weight, r.lowres_weight, r.num_planes) == (1.0, 0.005, 32)
    assert r.input_names() == ("lr_up", "ref") and r.model_config()["ngf"] == 64
    with pytest.raises(ValueError, match="reference view"):
        CrossMPIRecipe.for_scale(4, patch_size=24, ref_patch_size=160)


def test_the_trainer_objective_adds_the_lowres_supervision(rng):
    """RefSRObjective with the recipe's auxiliary output: L = L1 + 0.005 L1(init_syn, HR / 4), the terms logged."""
    from keras_sr.recipes.cross_mpi import CrossMPIRecipe
    from keras_sr.training.refsr import RefSRObjective

    recipe = CrossMPIRecipe.for_scale(4, patch_size=8, **cmpi.TEST_CONFIG)
    model = recipe.build_model()
    net = keras.Model(model.inputs, {"sr": model.output, **recipe.auxiliary_outputs(model)})
    hr = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    inputs = {"lr_up": hr + rng.normal(0, 5, hr.shape).astype("float32"), "ref": hr[:, :, ::-1].copy()}
    objective = RefSRObjective(recipe, has_textures=False)
    assert objective.log_keys(False) == ["g_loss", "g_rec", "g_lowres"]
    outputs = net(inputs)
    total, logs = objective.generator_terms(hr, outputs)
    assert np_(outputs["init_syn"]).shape == (2, 8, 8, 3)
    np.testing.assert_allclose(float(np_(logs["g_lowres"])), np.mean(np.abs(
        np_(outputs["init_syn"]) - np.stack([imresize(h.astype(np.float64), 0.25) for h in hr]) / 127.5 + 1)),
        rtol=1e-4)
    np.testing.assert_allclose(float(np_(total)), float(np_(logs["g_rec"])) + 0.005 * float(np_(logs["g_lowres"])),
                               rtol=1e-5)
