"""recipes.c2_matching: official defaults, stage chaining teacher -> student -> restoration (frozen extractor)."""

import json
import os

import numpy as np
import pytest

import keras

from keras_sr.image_io import save_image
from keras_sr.recipes.c2_matching import OFFICIAL_VIEWS, C2MatchingRecipe, main


def test_defaults_follow_the_official_options():
    recipe = C2MatchingRecipe.for_scale(4)
    assert (recipe.teacher_steps, recipe.student_steps, recipe.student_lr_milestones) == (5000, 75000, (72545,))
    assert (recipe.contrastive_learning_rate, recipe.contrastive_batch_size, recipe.contrastive_patch_size) == \
        (1e-3, 8, 160)
    assert (recipe.margin, recipe.safe_radius, recipe.distill_weight, recipe.temperature) == (1.0, 4, 15.0, 0.15)
    assert (recipe.steps, recipe.lr_milestones, recipe.lr_gamma, recipe.batch_size, recipe.hr_patch_size) == \
        (255000, (72545, 211040), 0.1, 9, 160)
    assert (recipe.perceptual_weight, recipe.adversarial_weight, recipe.gp_weight, recipe.tpl_weight) == \
        (1e-4, 1e-6, 10.0, 0.0)
    assert (recipe.init_steps, recipe.d_steps, recipe.rec_weight) == (10000, 1, 0.5)
    assert (recipe.critic, recipe.perceptual_criterion, recipe.perceptual_layer, recipe.d_filters) == \
        ("c2_matching", "fro", "relu5_1", 32)
    teacher, student = recipe.contrastive_config("teacher"), recipe.contrastive_config("student")
    assert teacher.lr_milestones == () and student.lr_milestones == (72545,)
    assert teacher.view_params == OFFICIAL_VIEWS and teacher.min_valid == 128
    assert recipe.model_config()["contrastive_widths"] == (64, 128, 256)
    with pytest.raises(ValueError, match="x4"):
        C2MatchingRecipe.for_scale(2)


def _images(folder, count=3, size=80):
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        rng = np.random.default_rng(i)
        layers = [np.asarray(Image.fromarray(rng.integers(0, 256, (s, s, 3), dtype=np.uint8)).resize(
            (size, size), Image.BICUBIC), np.float32) for s in (5, 10, 20)]
        save_image(os.path.join(folder, f"img{i}.png"), np.clip(sum(layers) / 3, 0, 255).astype(np.uint8))
    return folder


TINY = ["--contrastive-widths", "4", "8", "16", "--vgg-widths", "4", "8", "16", "--ngf", "8", "--n-blocks", "1",
        "--groups", "2", "--contrastive-patch-size", "48", "--contrastive-batch-size", "2", "--min-valid", "8",
        "--eval-batches", "1", "--patch-size", "8", "--batch-size", "2", "--steps", "2", "--teacher-steps", "2",
        "--student-steps", "2", "--student-lr-milestones", "--lr-milestones", "--checkpoint-every", "2",
        "--val-every", "2", "--steps-per-epoch", "2", "--val-images", "1", "--workers", "1", "--jit-compile", "off",
        "--variant", "rec", "--quiet"]


def test_stages_chain_and_restoration_loads_the_frozen_student(tmp_path):
    data = _images(str(tmp_path / "train"))
    val = _images(str(tmp_path / "val"), count=1)
    out = str(tmp_path / "run")
    assert main(["--data", data, "--val-data", val, "--out", out, "--stage", "all", *TINY]) == 0
    for stage in ("teacher", "student"):
        summary = json.load(open(os.path.join(out, stage, "summary.json"), encoding="utf-8"))
        assert summary["steps"] == 2 and 0.0 <= summary["accuracy_after"] <= 1.0
    student_config = json.load(open(os.path.join(out, "student", "config.json"), encoding="utf-8"))
    assert student_config["teacher_weights"] == os.path.join(out, "teacher", "extractor.npz")
    restoration = os.path.join(out, "restoration")
    assert json.load(open(os.path.join(restoration, "summary.json"), encoding="utf-8"))["steps"] == 2
    model = keras.models.load_model(os.path.join(restoration, "final.keras"), safe_mode=True)
    extractor = model.get_layer("contrastive_extractor")
    assert not extractor.trainable
    with np.load(os.path.join(out, "student", "extractor.npz")) as student:
        for prefix, trunk in (("feature_extraction_image1.model.", extractor.input_extractor),
                              ("feature_extraction_image2.model.", extractor.reference_extractor)):
            for name, conv in trunk.convs.items():
                np.testing.assert_array_equal(keras.ops.convert_to_numpy(conv.kernel),
                                              np.transpose(student[f"{prefix}{name}.weight"], (2, 3, 1, 0)))
    # a later restoration-only run finds the student in the same run directory; a missing one is named
    missing = str(tmp_path / "empty")
    with pytest.raises(SystemExit, match="student's extractor"):
        main(["--data", data, "--out", missing, "--stage", "restoration", *TINY])


def _restoration_batches(recipe, folder, count=3):
    """One epoch of one batch of `recipe`'s restoration inputs from `count` synthetic images in `folder`."""
    from keras_sr.data.refsr_dataset import RefSRPatchDataset

    folder = _images(folder, count=count)
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    return RefSRPatchDataset(paths, recipe.input_names(), patch_size=recipe.patch_size, batch_size=recipe.batch_size,
                             steps_per_epoch=1, workers=1)


C2_TINY = dict(ngf=8, n_blocks=1, groups=2, vgg_widths=(8, 8, 16), contrastive_widths=(4, 8, 16), patch_size=8,
               batch_size=2, steps=1, steps_per_epoch=1, val_every=100, checkpoint_every=1, jit_compile="off",
               variant="rec", lr_milestones=(), epsilon=1e-30)


def test_offset_convolutions_train_at_the_official_group_rates(tmp_path):
    """relu3_1 / relu2_1 offset convs step at 1e-6 / 1e-5 (official lr_relu3_offset / lr_relu2_offset), the rest 1e-4.

    Adam's first step moves every weight by lr * |g| / (|g| + eps): with eps 1e-30, by the group's learning
    rate wherever the gradient is not zero, and never by more.
    """
    from keras_sr.training.refsr import train_refsr

    recipe = C2MatchingRecipe.for_scale(4, **C2_TINY)
    assert (recipe.offset_relu3_learning_rate, recipe.offset_relu2_learning_rate) == (1e-6, 1e-5)
    groups = {name: (rate, sorted(v.path for v in variables))
              for name, rate, variables in recipe.learning_rate_groups(recipe.build_model())}
    for name, layer in (("offset_relu3", "small_dyn_agg"), ("offset_relu2", "medium_dyn_agg")):
        assert groups[name][1] == sorted(f"{layer}/{part}/{kind}" for part in ("offset_conv1", "offset_conv2",
                                                                               "dyn_agg/conv_offset_mask")
                                         for kind in ("kernel", "bias"))
    seen = {}

    def hook(model):  # non-zero offset/mask convs (zero-initialized as DCNv2): every offset conv gets a gradient
        rng = np.random.default_rng(0)
        for v in model.trainable_variables:
            if "conv_offset_mask" in v.path:
                v.assign(rng.normal(0.0, 0.1, v.shape).astype("float32"))
        seen["before"] = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables}

    data = _restoration_batches(recipe, str(tmp_path / "train"))
    messages = []
    result = train_refsr(recipe, out=str(tmp_path / "run"), train_data=data, val_triples=[], model_hook=hook,
                         log=messages.append)
    assert any("learning-rate group offset_relu3: 6 variables at 1e-06" in m for m in messages), messages
    rate_of = {path: rate for rate, group in groups.values() for path in group}
    moved = {}
    for v in result.model.trainable_variables:
        step = float(np.abs(keras.ops.convert_to_numpy(v) - seen["before"][v.path]).max())
        rate = rate_of.get(v.path, recipe.learning_rate)
        assert step <= rate * 1.05, (v.path, step, rate)  # float32 spacing of the weights: ~1%
        moved[rate] = max(moved.get(rate, 0.0), step)
    assert moved == pytest.approx({1e-6: 1e-6, 1e-5: 1e-5, 1e-4: 1e-4}, rel=0.05), moved
    optimizers = result.train_model.generator_optimizers
    assert [float(keras.ops.convert_to_numpy(o.learning_rate)) for o in optimizers] == pytest.approx([1e-4, 1e-6, 1e-5])
    assert hasattr(result.train_model, "offset_relu3_optimizer")  # checkpoints hold each group's Adam state


def _torch_image_discriminator(torch, ndf):
    """The official `ImageDiscriminator` (C2-Matching `mmsr/models/archs/discriminator_arch.py`), in PyTorch."""
    nn = torch.nn

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2),
                nn.Conv2d(cout, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]

    widths = [3, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 16 * ndf]
    layers = [layer for a, b in zip(widths[:-1], widths[1:]) for layer in block(a, b)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(16 * ndf, 1024, 1), nn.LeakyReLU(0.2), nn.Conv2d(1024, 1, 1),
               nn.Sigmoid()]
    return nn.Sequential(*layers)


def test_c2_matching_critic_is_the_official_image_discriminator(tmp_path):
    """Official size (5,242,529 parameters at ndf 32) and, with copied weights, the official output (eval mode)."""
    torch = pytest.importorskip("torch")
    from keras_sr.models.c2_matching import c2_matching_discriminator
    from keras_sr.training.refsr_losses import build_critic

    assert c2_matching_discriminator(32).count_params() - 4 * (32 + 64 + 128 + 256 + 512) == \
        sum(p.numel() for p in _torch_image_discriminator(torch, 32).parameters()) == 5_242_529  # BN statistics
    critic, peer = build_critic("c2_matching", 0, 4), _torch_image_discriminator(torch, 4).eval()
    rng = np.random.default_rng(0)
    convs = [m for m in peer if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in peer if isinstance(m, torch.nn.BatchNorm2d)]
    keras_convs = [layer for layer in critic.layers if isinstance(layer, keras.layers.Conv2D)]
    keras_norms = [layer for layer in critic.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(convs) == len(keras_convs) == 12 and len(norms) == len(keras_norms) == 10
    with torch.no_grad():
        for conv, layer in zip(convs, keras_convs):
            shape = tuple(layer.kernel.shape)  # unit-variance activations: the sigmoid does not saturate
            kernel = rng.normal(0, 1.0 / np.sqrt(np.prod(shape[:-1])), shape).astype("float32")
            bias = rng.normal(0, 0.01, shape[-1:]).astype("float32")
            layer.set_weights([kernel, bias])
            conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(bias))
        for norm, layer in zip(norms, keras_norms):
            values = [rng.uniform(0.5, 1.5, norm.num_features).astype("float32") if i in (0, 3) else
                      rng.normal(0, 0.1, norm.num_features).astype("float32") for i in range(4)]
            layer.set_weights(values)  # gamma, beta, moving mean, moving variance
            for target, value in zip((norm.weight, norm.bias, norm.running_mean, norm.running_var), values):
                target.copy_(torch.from_numpy(value))
        image = rng.uniform(0, 255, (2, 37, 45, 3)).astype("float32")  # odd sizes: the stride-2 padding matters
        expected = peer(torch.from_numpy(image.transpose(0, 3, 1, 2) / 255.0)).numpy().reshape(2, 1)
    got = keras.ops.convert_to_numpy(critic(image, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    critic.save_weights(str(tmp_path / "critic.weights.h5"))  # as the trainer writes discriminator.weights.h5
    reloaded = build_critic("c2_matching", 0, 4)
    reloaded.load_weights(str(tmp_path / "critic.weights.h5"))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(image, training=False)), got)
    with pytest.raises(ValueError, match="Unknown critic"):
        build_critic("patchgan", 160, 32)


def test_gan_variant_trains_with_the_official_critic_and_frobenius_perceptual(tmp_path):
    from keras_sr.training.refsr import train_refsr

    recipe = C2MatchingRecipe.for_scale(4, **{**C2_TINY, "variant": "gan", "steps": 1, "init_steps": 0,
                                              "vgg_weights": "random", "perceptual_layer": "relu1_1",
                                              "d_filters": 4, "patch_size": 6, "epsilon": 1e-8})
    data = _restoration_batches(recipe, str(tmp_path / "train"), count=2)
    result = train_refsr(recipe, out=str(tmp_path / "run"), train_data=data, val_triples=[], log=None)
    assert result.train_model.discriminator.name == "c2_matching_discriminator"  # any patch size (24 px here)
    history = result.history
    for key in ("g_perceptual", "g_adversarial", "d_loss", "d_penalty"):
        assert np.isfinite(history[key][-1]), key
    assert 0.0 < -history["g_adversarial"][-1] < 1.0  # -mean(sigmoid(D(SR)))
    assert int(keras.ops.convert_to_numpy(result.train_model.d_optimizer.iterations)) == 1
