"""RefSR training: the patch loader (`keras_sr.data.refsr_dataset`) and the trainer (`keras_sr.training.refsr`).

Tiny TTSR configs on tiny images; the JAX steps run in a subprocess (the suite runs on TensorFlow).
"""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import keras

from conftest import REPO_ROOT
from keras_sr.data.reference_views import ViewParams, project_points
from keras_sr.data.refsr_dataset import RefSRPatchDataset, augment_with_matrix, make_inputs
from keras_sr.data.sources import ImageTooSmall
from keras_sr.models.ttsr import INPUT_NAMES

TINY = dict(num_res_blocks=(1, 1, 1, 1), n_feats=8, texture_widths=(8, 8, 8), patch_size=8, batch_size=2,
            steps_per_epoch=1, val_every=100, checkpoint_every=1, vgg_weights="random", perceptual_layer="relu1_1",
            d_filters=4, jit_compile="off")


def _smooth_image(seed, size=(72, 80)):
    """A smooth random colour image (bicubic-upsampled noise), uint8."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size[1], size[0]), Image.BICUBIC))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refsr_images")
    paths = []
    for i in range(3):
        path = folder / f"img{i}.png"
        Image.fromarray(_smooth_image(i)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def val_triples():
    from keras_sr.data.reference_views import synthesize_reference
    from keras_sr.evaluation import degrade

    hr, lr = degrade(_smooth_image(10, (48, 64)), 4)
    ref, _ = synthesize_reference(hr, np.random.default_rng(0))
    return [(lr, hr, ref)]


# Loader ------------------------------------------------------------------------------------------------------


def test_loader_shapes_dtypes_and_range(images):
    data = RefSRPatchDataset(images, INPUT_NAMES, patch_size=8, batch_size=3, steps_per_epoch=4,
                             return_transforms=True)
    assert len(data) == 4
    inputs, hr = data[0]
    assert set(inputs) == set(INPUT_NAMES) | {"transform"}
    assert inputs["lr"].shape == (3, 8, 8, 3)
    for key in ("lr_up", "ref", "ref_down_up"):
        assert inputs[key].shape == (3, 32, 32, 3)
    assert inputs["transform"].shape == (3, 3, 3)
    assert hr.shape == (3, 32, 32, 3)
    for array in (*inputs.values(), hr):
        assert array.dtype == np.float32
    for key in INPUT_NAMES:
        assert 0.0 <= inputs[key].min() and inputs[key].max() <= 255.0
    # LR is the MATLAB bicubic of HR, and lr_up its x4 bicubic
    from keras_sr.imresize import imresize

    lr = imresize(hr[0].astype(np.uint8), 0.25)
    np.testing.assert_allclose(inputs["lr"][0], lr, atol=0)
    np.testing.assert_allclose(inputs["lr_up"][0], imresize(lr, 4), atol=0)


def test_loader_reference_size_and_c2_names(images):
    data = RefSRPatchDataset(images, ("lr", "lr_up", "ref"), patch_size=8, batch_size=2, ref_patch_size=48)
    inputs, _ = data[3]
    assert set(inputs) == {"lr", "lr_up", "ref"}
    assert inputs["ref"].shape == (2, 48, 48, 3)
    with pytest.raises(ValueError, match="multiple of scale"):
        RefSRPatchDataset(images, INPUT_NAMES, patch_size=8, ref_patch_size=30)
    with pytest.raises(ValueError, match="unknown input name"):
        RefSRPatchDataset(images, ("lr", "bogus"))


def test_loader_is_deterministic_per_seed_epoch_index(images):
    a = RefSRPatchDataset(images, INPUT_NAMES, patch_size=8, batch_size=2, seed=5)
    b = RefSRPatchDataset(images, INPUT_NAMES, patch_size=8, batch_size=2, seed=5)
    first, second = a[2], b[2]
    for key in INPUT_NAMES:
        np.testing.assert_array_equal(first[0][key], second[0][key])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(a[3][1], first[1])                                   # another index
    assert not np.array_equal(RefSRPatchDataset(images, INPUT_NAMES, 8, 2, seed=6)[2][1], first[1])   # another seed
    b.on_epoch_end()
    assert not np.array_equal(b[2][1], first[1])                                   # another epoch
    clone = pickle.loads(pickle.dumps(a))                                          # PyDataset workers
    np.testing.assert_array_equal(clone[2][1], first[1])


@pytest.mark.parametrize("flip_x,flip_y,rot", [(False, False, 0), (True, False, 1), (False, True, 2), (True, True, 3)])
def test_augment_matrix_maps_pixels(flip_x, flip_y, rot):
    image = np.arange(5 * 7).reshape(5, 7, 1)
    (out,), matrix = augment_with_matrix([image], flip_x, flip_y, rot)
    for y in range(5):
        for x in range(7):
            nx, ny = project_points(matrix, [[x, y]])[0]
            assert out[int(round(ny)), int(round(nx)), 0] == image[y, x, 0]


def _bilinear(image, points):
    """`image` (H, W, C) sampled at (N, 2) (x, y) points inside it."""
    x, y = points[:, 0], points[:, 1]
    x0 = np.clip(np.floor(x).astype(int), 0, image.shape[1] - 2)
    y0 = np.clip(np.floor(y).astype(int), 0, image.shape[0] - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def test_transform_maps_reference_pixels_onto_the_hr_patch(images):
    # no rotation / zoom / colour change, a sub-patch shift: the reference is a translated crop of the image;
    # augmentation (flips, rotations) is on, so the transform also carries both augmentations
    params = ViewParams(zoom=(1.0, 1.0), rotation_degrees=0.0, max_shift=0.25, perspective=0.0, brightness=0.0,
                        contrast=0.0, saturation=0.0)
    data = RefSRPatchDataset(images, INPUT_NAMES, patch_size=16, batch_size=6, view_params=params,
                             return_transforms=True, seed=1)
    inputs, hr = data[0]
    matched, unmatched = [], []
    grid = np.stack(np.meshgrid(np.arange(64), np.arange(64)), -1).reshape(-1, 2).astype(float)
    for b in range(6):
        ref, transform = inputs["ref"][b], inputs["transform"][b]
        target = project_points(transform, grid)
        inside = np.all((target >= 0) & (target <= 63), axis=1)
        assert inside.mean() > 0.4                                       # the views overlap the patch
        rx, ry = grid[inside].astype(int).T
        sampled = _bilinear(hr[b], target[inside])
        matched.append(np.abs(ref[ry, rx] - sampled).mean())
        unmatched.append(np.abs(ref[ry, rx] - sampled[::-1]).mean())
    assert max(matched) < 3.0, matched                                  # bicubic vs bilinear resampling only
    assert min(unmatched) > 3 * max(matched), (matched, unmatched)


def test_identity_view_transform_is_exact(images):
    data = RefSRPatchDataset(images, INPUT_NAMES, patch_size=8, batch_size=4, view_params=ViewParams.identity(),
                             return_transforms=True, seed=3)
    inputs, hr = data[1]
    for b in range(4):
        grid = np.stack(np.meshgrid(np.arange(32), np.arange(32)), -1).reshape(-1, 2).astype(float)
        target = np.rint(project_points(inputs["transform"][b], grid)).astype(int)
        assert target.min() >= 0 and target.max() <= 31                  # a permutation of the patch's pixels
        np.testing.assert_allclose(inputs["ref"][b][grid[:, 1].astype(int), grid[:, 0].astype(int)],
                                   hr[b][target[:, 1], target[:, 0]], atol=1.0)


def test_small_image_names_the_file_up_front_or_is_skipped(tmp_path, caplog):
    tiny, big = tmp_path / "tiny.png", tmp_path / "big.png"
    Image.fromarray(_smooth_image(0, (16, 40))).save(tiny)             # 40 wide, 16 high: under the 32 px patch
    Image.fromarray(_smooth_image(1, (48, 48))).save(big)
    with pytest.raises(ImageTooSmall, match=r"tiny.png: image is 40x16, too small for 32x32"):
        RefSRPatchDataset([str(big), str(tiny)], INPUT_NAMES, patch_size=8, batch_size=1)  # when made, not steps later
    with caplog.at_level("WARNING", logger="keras_sr.data"):
        data = RefSRPatchDataset([str(tiny), str(big)], INPUT_NAMES, patch_size=8, batch_size=4, skip_small=True)
    assert data.paths == [str(big)] and data.count == 1 and data.skipped_small == 1
    assert "skipped 1 image(s)" in caplog.text and "tiny.png" in caplog.text
    inputs, hr = data[0]
    assert hr.shape == (4, 32, 32, 3)
    with pytest.raises(ImageTooSmall, match="all 1 training images"):
        RefSRPatchDataset([str(tiny)], INPUT_NAMES, patch_size=8, batch_size=1, skip_small=True)


def test_joint_augment_enlarges_small_arrays_and_keeps_the_view_orientation():
    small = _smooth_image(3, (24, 40))                                 # shorter than the 32 px HR patch
    data = RefSRPatchDataset([small], ("lr_up", "ref"), patch_size=8, batch_size=8, view_params=ViewParams.identity(),
                             return_transforms=True, joint_augment=True, enlarge_small=True, seed=2)
    inputs, hr = data[0]
    assert hr.shape == inputs["ref"].shape == (8, 32, 32, 3)
    # one augmentation for the image, before the crop: an identity view is the patch itself, unrotated
    np.testing.assert_allclose(inputs["transform"], np.broadcast_to(np.eye(3), (8, 3, 3)), atol=1e-5)
    np.testing.assert_allclose(inputs["ref"], hr, atol=1.0)
    assert len({tuple(np.round(h[0, :4, 0])) for h in hr}) > 2          # and the crops / augmentations vary
    with pytest.raises(ImageTooSmall, match="image 0"):
        RefSRPatchDataset([small], ("lr_up", "ref"), patch_size=8, batch_size=1)
    with pytest.raises(ValueError, match="joint_augment"):
        RefSRPatchDataset(None, ("lr_up", "ref"), joint_augment=True, source=[small])


def test_make_inputs_builds_the_bicubic_inputs():
    from keras_sr.imresize import imresize
    from keras_sr.models.ttsr import prepare_inputs

    lr = _smooth_image(1, (12, 16))
    ref = _smooth_image(2, (50, 43))
    batch = make_inputs(INPUT_NAMES, lr, ref)
    cropped = ref[:48, :40]                                            # to multiples of the scale
    expected = {"lr": lr, "lr_up": imresize(lr, 4), "ref": cropped,
                "ref_down_up": imresize(imresize(cropped, 0.25), 4)}
    for key in INPUT_NAMES:
        assert batch[key].shape == (1, *expected[key].shape) and batch[key].dtype == np.float32
        np.testing.assert_array_equal(batch[key][0], expected[key].astype(np.float32))
        np.testing.assert_array_equal(prepare_inputs(lr, ref)[key], batch[key])  # TTSR's entry point
    with pytest.raises(ValueError, match="RGB"):
        make_inputs(INPUT_NAMES, lr[..., 0], ref)


# Trainer (TensorFlow) -----------------------------------------------------------------------------------------


def _recipe(**overrides):
    from keras_sr.recipes.ttsr import TTSRRecipe

    return TTSRRecipe.for_scale(4, **{**TINY, **overrides})


def _data(images, recipe, seed=0):
    return RefSRPatchDataset(images, recipe.input_names(), patch_size=recipe.patch_size, batch_size=recipe.batch_size,
                             steps_per_epoch=recipe.epoch_steps, seed=seed, workers=1)


def test_trainer_data_skips_small_images(tmp_path):
    from keras_sr.training.refsr import make_refsr_train_data

    recipe = _recipe(variant="rec")
    side = recipe.patch_size * recipe.scale
    paths = []
    for name, shape in (("small", (side - 4, side + 8)), ("a", (side + 8, side + 4)), ("b", (side, side))):
        paths.append(str(tmp_path / f"{name}.png"))
        Image.fromarray(_smooth_image(len(paths), shape)).save(paths[-1])
    data = make_refsr_train_data(recipe, paths, workers=1)             # as the recipes build it: skip, not fail
    assert data.paths == paths[1:] and data.skipped_small == 1
    assert data[0][1].shape == (recipe.batch_size, side, side, 3)


@pytest.fixture(scope="module")
def rec_run(images, val_triples, tmp_path_factory):
    from keras_sr.training.refsr import train_refsr

    recipe = _recipe(variant="rec", steps=2)
    out = str(tmp_path_factory.mktemp("rec_run"))
    return train_refsr(recipe, out=out, train_data=_data(images, recipe), val_triples=val_triples, log=None)


def test_rec_variant_trains_checkpoints_and_logs(rec_run):
    assert rec_run.steps == 2
    assert set(rec_run.history) >= {"g_loss", "g_rec", "step"}
    assert "g_adversarial" not in rec_run.history
    assert all(np.isfinite(rec_run.history["g_loss"]))
    ckpts = sorted(os.listdir(os.path.join(rec_run.run_dir, "checkpoints")))
    assert "ckpt-00000002.weights.h5" in ckpts
    for name in ("final.keras", "final.weights.h5", "log.csv", "summary.json", "recipe.json"):
        assert os.path.isfile(os.path.join(rec_run.run_dir, name)), name
    assert np.isfinite(rec_run.final["psnr"]) and np.isfinite(rec_run.bicubic["psnr"])
    networks = rec_run.train_model
    # the LTE has its own optimizer (TTSR's lr 1e-5), both stepped once per step
    assert int(keras.ops.convert_to_numpy(networks.lte_optimizer.iterations)) == 2
    assert float(keras.ops.convert_to_numpy(networks.lte_optimizer.learning_rate)) == pytest.approx(1e-5)


def test_saved_model_reloads_safe_mode_with_same_output(rec_run, val_triples):
    from keras_sr.training.refsr import predict_refsr

    lr, _, ref = val_triples[0]
    reloaded = keras.saving.load_model(os.path.join(rec_run.run_dir, "final.keras"), safe_mode=True)
    a = predict_refsr(rec_run.model, lr, ref, 4)
    b = predict_refsr(reloaded, lr, ref, 4)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_resume_continues_at_the_saved_step(rec_run, images, val_triples, tmp_path):
    from keras_sr.training.refsr import train_refsr

    recipe = _recipe(variant="rec", steps=1)
    out = str(tmp_path / "resumed")
    first = train_refsr(recipe, out=out, train_data=_data(images, recipe), val_triples=val_triples, log=None)
    assert first.steps == 1
    messages = []
    second = train_refsr(recipe.replace(steps=2), out=out, resume=True, train_data=_data(images, recipe),
                         val_triples=val_triples, log=messages.append)
    assert second.resumed_from == 1 and second.steps == 2
    assert any("resumed from" in m and "step 1" in m for m in messages)
    # batch i depends only on the step, so 1 + 1 resumed steps equal the 2 uninterrupted steps
    for a, b in zip(second.model.weights, rec_run.model.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-5,
                                   err_msg=a.path)


def test_gan_variant_runs_init_then_full_steps(images, val_triples, tmp_path):
    from keras_sr.training.refsr import train_refsr

    recipe = _recipe(variant="gan", steps=2, init_steps=1, d_steps=2)
    result = train_refsr(recipe, out=str(tmp_path / "gan"), train_data=_data(images, recipe), val_triples=val_triples,
                         log=None)
    assert result.steps == 2
    history = result.history
    for key in ("g_rec", "g_perceptual", "g_tpl", "g_adversarial", "d_loss", "d_penalty"):
        assert key in history and np.isfinite(history[key][-1]), key
    networks = result.train_model
    assert int(keras.ops.convert_to_numpy(networks.d_optimizer.iterations)) == 2        # one full step x d_steps
    assert os.path.isfile(os.path.join(result.run_dir, "discriminator.weights.h5"))


def test_model_hook_is_called_before_training(images, val_triples, tmp_path):
    from keras_sr.training.refsr import train_refsr

    seen = {}

    def hook(model):
        lte = model.get_layer("lte")
        seen["before"] = [keras.ops.convert_to_numpy(v).copy() for v in lte.weights]
        lte.trainable = False

    recipe = _recipe(variant="rec", steps=1)
    result = train_refsr(recipe, out=str(tmp_path / "hook"), train_data=_data(images, recipe),
                         val_triples=val_triples, model_hook=hook, log=None)
    after = [keras.ops.convert_to_numpy(v) for v in result.model.get_layer("lte").weights]
    for a, b in zip(seen["before"], after):                         # frozen in the hook: untouched by training
        np.testing.assert_array_equal(a, b)
    assert not hasattr(result.train_model, "lte_optimizer")


# Trainer (JAX) --------------------------------------------------------------------------------------------------

JAX_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, keras
    from PIL import Image
    sys.path.insert(0, "tests")
    from test_refsr_training import TINY, _smooth_image
    from keras_sr.data.refsr_dataset import RefSRPatchDataset
    from keras_sr.recipes.ttsr import TTSRRecipe
    from keras_sr.training.refsr import train_refsr
    out, paths = sys.argv[1], []
    for i in range(2):
        paths.append(f"{out}/img{i}.png"); Image.fromarray(_smooth_image(i)).save(paths[-1])
    assert keras.backend.backend() == "jax"
    recipe = TTSRRecipe.for_scale(4, **{**TINY, "variant": "gan", "steps": 2, "init_steps": 1, "d_steps": 1,
                                       "jit_compile": "on"})
    data = RefSRPatchDataset(paths, recipe.input_names(), patch_size=8, batch_size=2, steps_per_epoch=1, workers=1)
    result = train_refsr(recipe, out=out + "/run", train_data=data, val_triples=[], log=None)
    h = result.history
    assert result.steps == 2, result.steps
    assert h["g_rec"][0] > 0 and np.isnan(h["g_tpl"][0])      # step 1: reconstruction only
    for key in ("g_rec", "g_perceptual", "g_tpl", "g_adversarial", "d_loss"):
        assert np.isfinite(h[key][-1]), key
    assert int(keras.ops.convert_to_numpy(result.train_model.d_optimizer.iterations)) == 1
    print("JAX_OK", h["g_loss"])
""")


def test_rec_and_gan_steps_on_jax(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert "JAX_OK" in proc.stdout


class _PairSource:
    """A duck-typed ReferenceSource with given references (one smaller than the reference patch)."""

    needs_lr = False

    def __init__(self):
        self.images = [_smooth_image(20), _smooth_image(21)]
        self.refs = [_smooth_image(22, (40, 48)), _smooth_image(23, (24, 28))]

    def __len__(self):
        return 2

    def name(self, i):
        return f"pair{i}"

    def hr(self, i):
        return self.images[i]

    def reference(self, i, lr=None):
        return self.refs[i]


def _is_crop_of(patch, image):
    size = patch.shape[0]
    return any(np.array_equal(image[top:top + size, left:left + size], patch)
               for top in range(image.shape[0] - size + 1) for left in range(image.shape[1] - size + 1))


def test_loader_with_given_references():
    source = _PairSource()
    data = RefSRPatchDataset(None, INPUT_NAMES, patch_size=8, batch_size=4, source=source, augment=False, seed=2)
    inputs, hr = data[0]
    assert inputs["ref"].shape == (4, 32, 32, 3) and hr.shape == (4, 32, 32, 3)
    for ref, target in zip(inputs["ref"], hr):   # a crop of the pair's given reference (the small one is padded)
        pair = [i for i in range(2) if _is_crop_of(target, source.images[i].astype(np.float32))]
        assert pair, "the HR patch is a crop of a source image"
        given = source.refs[pair[0]].astype(np.float32)
        given = np.pad(given, ((0, max(0, 32 - given.shape[0])), (0, max(0, 32 - given.shape[1])), (0, 0)),
                       mode="symmetric")
        assert _is_crop_of(ref, given)
    with pytest.raises(ValueError, match="return_transforms"):
        RefSRPatchDataset(None, INPUT_NAMES, source=_PairSource(), return_transforms=True)


def test_image_cache_is_bounded_by_bytes():
    images = [_smooth_image(i, (64, 64)) for i in range(4)]                # 12 KB each
    data = RefSRPatchDataset(images, INPUT_NAMES, patch_size=8, batch_size=4, cache_limit_mb=0)
    data[0]
    assert len(data._cache) == 1 and data._cache_bytes == images[0].nbytes  # only the newest stays
    roomy = RefSRPatchDataset(images, INPUT_NAMES, patch_size=8, batch_size=16)
    roomy[0]
    assert len(roomy._cache) == 4 and roomy._cache_bytes == sum(i.nbytes for i in images)
    assert pickle.loads(pickle.dumps(roomy))._cache_bytes == 0               # workers start empty
