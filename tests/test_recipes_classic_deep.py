"""The deep classic recipes (VDSR, DRCN, DRRN, LapSRN, RED-Net, SRDenseNet): paper defaults, mixed-scale batches,
multi-output losses, and tiny training runs whose exported model holds the trained weights."""

import json
import os

import numpy as np
import pytest

import keras

from keras_sr.image_io import load_image, save_image
from keras_sr.imresize import imresize
from keras_sr.recipes.drcn import DRCNRecipe
from keras_sr.recipes.drrn import DRRNRecipe
from keras_sr.recipes.lapsrn import LapSRNRecipe
from keras_sr.recipes.rednet import RedNetRecipe
from keras_sr.recipes.srdensenet import SRDenseNetRecipe
from keras_sr.recipes.vdsr import VDSRRecipe
from keras_sr.training.engine import train
from keras_sr.training.multi_output import MultiOutputTrainer
from keras_sr.training.losses import PyramidLoss, RecursiveSupervisionLoss


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """Three 64x64 training crops of a textured part of astronaut and one 24x24 held-out crop."""
    from skimage import data

    root = tmp_path_factory.mktemp("classic_deep_data")
    photo = data.astronaut()
    for i in range(3):
        save_image(str(root / "train" / f"t{i}.png"), photo[150 + 60 * i:214 + 60 * i, 180:244])
    save_image(str(root / "val" / "v0.png"), photo[300:324, 330:354])
    return str(root / "train"), str(root / "val")


# Paper defaults ----------------------------------------------------------------------------------------------


def test_vdsr_defaults_are_the_papers():
    # Kim et al., CVPR 2016, Sec. 4: 20 layers of 64 filters, 41x41 sub-images, batch 64, MSE, 291 images,
    # one model for x2, x3 and x4.
    recipe = VDSRRecipe.for_scale(3)
    assert (recipe.depth, recipe.filters, recipe.patch_size, recipe.hr_patch_size) == (20, 64, 41, 41)
    assert (recipe.batch_size, recipe.loss, recipe.y_only) == (64, "l2", True)
    assert recipe.scales == (2, 3, 4) and recipe.train_scales == (2, 3, 4)
    assert recipe.model_config() == {"scale": 3, "channels": 1, "depth": 20, "filters": 64}
    assert recipe.train_model_config() == {"scale": None, "channels": 1, "depth": 20, "filters": 64}
    assert "291" in recipe.paper_data and recipe.clip_theta == 0.0
    aug = " ".join(VDSRRecipe.paper_data_aug(3))
    assert "--width 41 --height 41 --stride 41 -uf 2 3 4" in aug and "--same_size" in aug
    assert "--input T91/HR BSD200/HR" in VDSRRecipe.describe()
    assert VDSRRecipe.for_scale(4, scales=(4,)).train_scales == (4,)
    with pytest.raises(ValueError, match="batch_size"):
        VDSRRecipe.for_scale(3, batch_size=2)


def test_drrn_defaults_are_the_papers():
    # Tai et al., CVPR 2017, Sec. 4.1: B1U25 with 128 filters, 31x31 patches, batch 128, 291 images, x2/x3/x4 mixed.
    recipe = DRRNRecipe.for_scale(4)
    assert (recipe.num_blocks, recipe.num_units, recipe.filters, recipe.batch_norm) == (1, 25, 128, True)
    assert (recipe.patch_size, recipe.batch_size, recipe.loss, recipe.train_scales) == (31, 128, "l2", (2, 3, 4))
    assert recipe.train_model_config()["scale"] is None and recipe.model_config()["scale"] == 4
    assert "291" in recipe.paper_data and "--stride 21" in " ".join(DRRNRecipe.paper_data_aug(4))


def test_drcn_defaults_are_the_papers():
    # Kim et al., CVPR 2016 (DRCN), Sec. 4.1: 16 recursions of 256 filters, 41x41 patches, batch 64, 91 images,
    # recursive supervision with alpha decaying from 1 to 0.
    recipe = DRCNRecipe.for_scale(3, steps=1000)
    assert (recipe.filters, recipe.recursions, recipe.patch_size, recipe.batch_size) == (256, 16, 41, 64)
    assert recipe.loss == "l2" and recipe.train_scales == (3,) and recipe.paper_data.startswith("T91")
    assert recipe.model_config() == {"scale": 3, "channels": 1, "filters": 256, "recursions": 16}
    assert recipe.train_model_config() == {"scale": None, "channels": 1, "filters": 256, "recursions": 16,
                                           "intermediate_outputs": True}
    loss = recipe.training_loss()
    assert isinstance(loss, RecursiveSupervisionLoss) and loss.decay_steps == 250
    assert float(loss.alpha(0)) == 1.0 and float(loss.alpha(250)) == 0.0


@pytest.mark.parametrize("scale, lr_patch", [(2, 64), (4, 32), (8, 16)])
def test_lapsrn_defaults_are_the_papers(scale, lr_patch):
    # Lai et al., CVPR 2017, Sec. 4.1: 128x128 HR patches, batch 64, Charbonnier (epsilon 1e-3), 291 images.
    recipe = LapSRNRecipe.for_scale(scale)
    assert (recipe.patch_size, recipe.hr_patch_size, recipe.batch_size) == (lr_patch, 128, 64)
    assert (recipe.loss, recipe.charbonnier_epsilon, recipe.depth, recipe.filters) == ("charbonnier", 1e-3, 10, 64)
    assert recipe.train_model_config() == {**recipe.model_config(), "intermediate_outputs": True}
    assert isinstance(recipe.training_loss(), PyramidLoss) and "291" in recipe.paper_data


def test_rednet_and_srdensenet_defaults_are_the_papers():
    # Mao et al., NIPS 2016: RED30, 128 maps, 50x50 patches, MSE, Adam 1e-4.
    red = RedNetRecipe.for_scale(2)
    assert (red.num_layers, red.filters, red.skip_step, red.patch_size) == (15, 128, 2, 50)
    assert (red.loss, red.learning_rate, red.train_scales) == ("l2", 1e-4, (2,))
    assert red.train_model_config()["scale"] is None
    # Tong et al., ICCV 2017: SRDenseNet_All 8x8 blocks, growth 16, 256-map bottleneck, 25x25 LR / 100x100 HR
    # patches at x4, batch 32, MSE, Adam 1e-4.
    dense = SRDenseNetRecipe.for_scale(4)
    assert (dense.skip, dense.num_blocks, dense.num_layers, dense.growth_rate, dense.bottleneck) == \
        ("all", 8, 8, 16, 256)
    assert (dense.patch_size, dense.hr_patch_size, dense.batch_size, dense.loss, dense.learning_rate) == \
        (25, 100, 32, "l2", 1e-4)
    assert not hasattr(dense, "train_model_config") and "ImageNet" in dense.paper_data


# Mixed-scale batches ----------------------------------------------------------------------------------------


def _locate(image, patch):
    """Every `(top, left)` where `patch` is an exact crop of `image`."""
    from numpy.lib.stride_tricks import sliding_window_view

    h = patch.shape[0]
    windows = sliding_window_view(image, (h, h, image.shape[2]))[..., 0, :, :, :]
    hits = np.argwhere(np.all(windows == patch[None, None], axis=(2, 3, 4)))
    return [tuple(int(v) for v in hit) for hit in hits]


@pytest.mark.parametrize("loader", ["tfdata", "pydataset"])
def test_mixed_scale_loader_yields_every_scale_in_every_batch(tiny_data, loader):
    from keras_sr.data.sources import resolve_data
    from keras_sr.evaluation import degrade
    from keras_sr.training.multiscale import batch_layout, make_mixed_scale_data

    if loader == "tfdata":
        pytest.importorskip("tensorflow")
    train_dir, val_dir = tiny_data
    split = resolve_data([train_dir], [val_dir])
    hr_patch, scales = 16, (2, 3, 4)
    recipe = VDSRRecipe.for_scale(3, batch_size=5, augment=False, y_only=False)
    batches = make_mixed_scale_data(split, recipe, scales, hr_patch, seed=0, steps_per_epoch=2, loader=loader)
    layout = batch_layout(scales, 5)
    assert layout == [2, 3, 4, 2, 3]
    images = [load_image(p) for p in split.train]
    # Every row is a (bicubic, HR) pair of its scale: the HR patch is a crop of a training image and the input is
    # the same crop of that image's MATLAB-bicubic LR upsampled whole by MATLAB bicubic, for that scale only.
    bicubic = [{s: imresize(degrade(image, s)[1].astype(np.float64), s) for s in scales} for image in images]
    stream = iter(batches) if loader == "tfdata" else None
    for index in range(2):
        x, y = batches[index] if stream is None else next(stream)
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        assert x.shape == y.shape == (5, hr_patch, hr_patch, 3)
        for row, scale in enumerate(layout):
            errors = []  # per location of the HR patch: max |x - bicubic crop| for every scale
            for image, ups in zip(images, bicubic):
                for top, left in _locate(image.astype(np.float64), y[row]):
                    errors.append({s: np.abs(up[top:top + hr_patch, left:left + hr_patch] - x[row]).max()
                                   for s, up in ups.items()
                                   if top + hr_patch <= up.shape[0] and left + hr_patch <= up.shape[1]})
            assert errors, f"row {row}: the HR patch is not a crop of any training image"
            assert any(e[scale] < 1e-2 and all(v > 1.0 for s, v in e.items() if s != scale) for e in errors), \
                f"row {row} is not a x{scale} pair: {errors}"


# Multi-output losses ----------------------------------------------------------------------------------------


def test_drcn_loss_matches_numpy(rng):
    hr = rng.uniform(0, 255, (2, 6, 6, 1)).astype(np.float32)
    outputs = {"output": rng.uniform(0, 255, hr.shape).astype(np.float32)}
    outputs.update({f"recursion_{d}": rng.uniform(0, 255, hr.shape).astype(np.float32) for d in (1, 2, 3)})
    loss = RecursiveSupervisionLoss("l2", decay_steps=10)

    def expected(step):
        alpha = max(0.0, 1.0 - step / 10)
        mse = {k: np.mean((v.astype(np.float64) - hr) ** 2) for k, v in outputs.items()}
        return alpha * np.mean([mse[f"recursion_{d}"] for d in (1, 2, 3)]) + (1 - alpha) * mse["output"]

    for step in (0, 4, 10, 25):
        value = float(keras.ops.convert_to_numpy(loss(hr, outputs, step=step)))
        assert value == pytest.approx(expected(step), rel=1e-5)


@pytest.mark.parametrize("levels", [("x2", "x4"), ("x2", "x4", "x8")])
def test_lapsrn_loss_matches_numpy(rng, levels):
    finest = int(levels[-1][1:])
    hr = rng.uniform(0, 255, (2, 32, 32, 1)).astype(np.float32)
    outputs = {k: rng.uniform(0, 255, (2, 32 * int(k[1:]) // finest, 32 * int(k[1:]) // finest, 1)).astype(np.float32)
               for k in levels}
    eps = 1e-3 * 255
    total = 0.0
    for key, pred in outputs.items():
        factor = int(key[1:]) / finest
        target = np.stack([imresize(h.astype(np.float64), factor) if factor < 1 else h for h in hr])
        assert target.shape == pred.shape
        total += factor ** 2 * np.mean(np.sqrt((pred - target) ** 2 + eps ** 2))
    value = float(keras.ops.convert_to_numpy(PyramidLoss("charbonnier", epsilon=1e-3)(hr, outputs)))
    assert value == pytest.approx(total, rel=1e-5)


def test_multi_output_trainer_counts_steps_inside_the_compiled_step():
    inputs = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(1, 3, padding="same")
    net = keras.Model(inputs, {"a": conv(inputs), "b": conv(inputs) * 2.0})

    def loss(y, outputs, step):  # constant in the weights: the reported loss is the step counter itself
        return 0.0 * keras.ops.mean(outputs["a"] - y) + keras.ops.cast(step, "float32")

    trainer = MultiOutputTrainer(net, loss)
    trainer.compile(optimizer="sgd", jit_compile=False)
    x = np.ones((2, 4, 4, 1), np.float32)
    history = trainer.fit(x, x, batch_size=2, epochs=2, steps_per_epoch=1, verbose=0).history
    assert history["loss"] == [0.0, 1.0]
    assert float(keras.ops.convert_to_numpy(trainer.train_steps)) == 2.0
    assert len(trainer.trainable_weights) == len(net.trainable_weights) == 2


def test_adjustable_clipping_is_adam_on_clipped_gradients():
    from keras_sr.training.optimizers import AdjustableClippingAdam

    def schedule():
        return keras.optimizers.schedules.PiecewiseConstantDecay([0], [0.1, 0.01])  # 0.1 at step 0, then 0.01

    theta = 0.01  # bounds theta / lr: 0.1 at step 0, 1.0 at step 1
    grads = [np.array([100.0, 0.05, -3.0], np.float32), np.array([0.5, -5.0, 2.0], np.float32)]
    clipped_var, reference_var, plain_var = (keras.Variable(np.zeros(3, np.float32)) for _ in range(3))
    clipped = AdjustableClippingAdam(learning_rate=schedule(), clip_theta=theta)
    reference, plain = keras.optimizers.Adam(learning_rate=schedule()), keras.optimizers.Adam(learning_rate=schedule())
    for step, g in enumerate(grads):
        bound = theta / float(keras.ops.convert_to_numpy(schedule()(step)))
        assert bound == pytest.approx(0.1 if step == 0 else 1.0)
        clipped.apply([keras.ops.convert_to_tensor(g)], [clipped_var])
        reference.apply([keras.ops.convert_to_tensor(np.clip(g, -bound, bound))], [reference_var])
        plain.apply([keras.ops.convert_to_tensor(g)], [plain_var])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clipped_var), keras.ops.convert_to_numpy(reference_var),
                               rtol=1e-6)
    assert not np.allclose(keras.ops.convert_to_numpy(clipped_var), keras.ops.convert_to_numpy(plain_var))


# Tiny training runs -----------------------------------------------------------------------------------------

RUN = dict(steps=2, steps_per_epoch=2, val_every=2, checkpoint_every=2, keep_checkpoints=1, learning_rate=1e-3,
           jit_compile="off")
CASES = {
    "vdsr": (VDSRRecipe, 3, dict(depth=3, filters=8, patch_size=12, batch_size=3), "tfdata"),
    "drrn": (DRRNRecipe, 4, dict(num_units=1, filters=8, patch_size=12, batch_size=3), "pydataset"),
    "drcn": (DRCNRecipe, 2, dict(filters=8, recursions=2, patch_size=12, batch_size=2, ema_decay=0.5), "pydataset"),
    "lapsrn": (LapSRNRecipe, 4, dict(filters=8, depth=1, patch_size=6, batch_size=2), "pydataset"),
    "rednet": (RedNetRecipe, 2, dict(num_layers=2, filters=8, patch_size=12, batch_size=2), "pydataset"),
    "srdensenet": (SRDenseNetRecipe, 4, dict(num_blocks=1, num_layers=2, growth_rate=4, bottleneck=8, patch_size=6,
                                             batch_size=2), "pydataset"),
}


def _train_tiny(name, train_dir, val_dir, out):
    """Train CASES[name] for 2 steps; VDSR goes through its command line (`--scales`, mixed x2/x3/x4)."""
    cls, scale, config, loader = CASES[name]
    if name != "vdsr":
        recipe = cls.for_scale(scale, **config, **RUN)
        return train(recipe, data=[train_dir], val_data=[val_dir], out=out, strategy="none", loader=loader,
                     verbose=0, log=None, tensorboard=False)
    import argparse

    from keras_sr.training.cli import add_recipe_arguments, run_recipe

    flags = ["--scale", str(scale), "--scales", "2", "3", "4", "--data", train_dir, "--val-data", val_dir,
             "--out", out, "--strategy", "none", "--loader", loader, "--no-export", "--quiet"]
    for key, value in {**config, **RUN}.items():
        flags += [f"--{key.replace('_', '-')}", str(value)]
    args = add_recipe_arguments(argparse.ArgumentParser(), cls).parse_args(flags)
    return run_recipe(cls, args, log=lambda *_: None)


@pytest.mark.parametrize("name", list(CASES))
def test_tiny_training_run_exports_the_trained_weights(tiny_data, tmp_path, name):
    cls, scale, config, loader = CASES[name]
    if loader == "tfdata":
        pytest.importorskip("tensorflow")
    train_dir, val_dir = tiny_data
    out = str(tmp_path / name)
    result = _train_tiny(name, train_dir, val_dir, out)
    recipe = result.recipe
    assert recipe.scale == scale and result.steps == 2 and [v["step"] for v in result.validation] == [2]
    assert np.isfinite(result.final["psnr"]) and np.isfinite(result.history["loss"][-1])

    final = keras.saving.load_model(os.path.join(out, "final.keras"), safe_mode=True)
    assert [layer.name for layer in final.layers] == [layer.name for layer in result.model.layers]
    lr = np.full((1, 8, 8, 1), 100.0, np.float32)
    assert tuple(final(lr).shape) == (1, 8 * scale, 8 * scale, 1)  # the exported model takes LR at --scale

    trainer = result.train_model
    multi_output = name in ("drcn", "lapsrn")
    assert isinstance(trainer, MultiOutputTrainer) == multi_output
    network = trainer.network if multi_output else trainer
    trained = network.get_weights()  # with EMA (DRCN) the averages are written into the trained model at the end
    assert len(trained) == len(final.get_weights())
    for a, b in zip(trained, final.get_weights()):
        np.testing.assert_array_equal(a, b)
    stored = json.load(open(os.path.join(out, "recipe.json")))
    assert stored["model"]["config"] == recipe.model_config()
    if hasattr(recipe, "train_model_config"):  # trained as another graph of the same variables
        assert stored["train_model"]["config"] == recipe.train_model_config() != recipe.model_config()
    if name in ("vdsr", "drrn", "drcn", "rednet"):
        assert network.inputs[0].name == "bicubic"  # trained on bicubic patches, whose weights are scale-agnostic:
        other = 2 if scale != 2 else 3  # the x`other` model takes them
        from keras_sr import models

        moved = models.build(recipe.model, **{**recipe.model_config(), "scale": other})
        moved.load_weights(os.path.join(out, "final.weights.h5"))
        assert tuple(moved(lr).shape) == (1, 8 * other, 8 * other, 1)
    if name == "vdsr":
        assert stored["recipe"]["scales"] == [2, 3, 4]
    if multi_output:
        assert float(keras.ops.convert_to_numpy(trainer.train_steps)) == 2.0
        outputs = network(lr)
        assert isinstance(outputs, dict) and len(outputs) == (3 if name == "drcn" else 2)


def test_drcn_resume_restores_the_step_counter(tiny_data, tmp_path):
    train_dir, val_dir = tiny_data
    recipe = DRCNRecipe.for_scale(2, filters=4, recursions=1, patch_size=8, batch_size=2, **RUN)
    kwargs = dict(data=[train_dir], val_data=[val_dir], out=str(tmp_path / "r"), strategy="none", loader="pydataset",
                  verbose=0, log=None, tensorboard=False)
    train(recipe, **kwargs)
    resumed = train(recipe.replace(steps=4), resume=True, **kwargs)
    assert resumed.resumed_from == 2 and resumed.steps == 4
    assert float(keras.ops.convert_to_numpy(resumed.train_model.train_steps)) == 4.0
