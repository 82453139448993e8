"""Several references per image, end to end: reference sources (cufed5:all, multi-reference pairs files,
synthetic:SEED:K), the training loader (num_refs), the upscalers (a list of references: taken whole by
multi-reference models, reduced to the best-matching one for the others), `tools.evaluate --ref-mode`, and
a training step of CIMR-SR on the recipe's loader with a pool of two references. (On JAX and torch, every
new model is built, called and round-tripped by tests/test_model_harness.py; the RefSR trainer's JAX steps are
tested with TTSR in tests/test_refsr_training.py: a JAX run of these models' jit-compiled steps took 304 s
here, too slow for the suite.)
"""

import json

import numpy as np
import pytest
from PIL import Image

from keras_sr import models
from keras_sr.data.reference_sources import ReferenceSourceError, open_reference_source
from keras_sr.data.reference_views import synthesize_reference
from keras_sr.data.refsr_dataset import RefSRPatchDataset
from keras_sr.image_io import load_image
from keras_sr.models import srntt as srntt_module
from keras_sr.models.refsr_inputs import best_reference, reference_similarity
from keras_sr.upscalers import load

TINY_SRNTT = dict(num_res_blocks=2, content_blocks=1, n_feats=8, vgg_widths=(4, 8, 16), chunk_size=64)
TINY_TTSR = dict(num_res_blocks=(1, 1, 1, 1), n_feats=8, texture_widths=(4, 8, 16))


def _photos():
    from skimage import data

    return [data.astronaut()[40:136, 150:246], data.coffee()[100:196, 200:296], data.chelsea()[40:136, 100:196],
            data.rocket()[100:196, 200:296]]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi_ref")
    photos = _photos()
    (root / "HR").mkdir()
    (root / "CUFED5").mkdir()
    for i in range(2):
        Image.fromarray(np.ascontiguousarray(photos[i][:48, :52])).save(root / "HR" / f"t{i}.png")
        Image.fromarray(np.ascontiguousarray(photos[i][:48, :44])).save(root / "CUFED5" / f"00{i}_0.png")
        for level in range(1, 6):
            Image.fromarray(np.ascontiguousarray(photos[(i + level) % 4][level:level + 44, :40])).save(
                root / "CUFED5" / f"00{i}_{level}.png")
    (root / "pairs.txt").write_text("# dataset: Tiny\nHR/t0.png HR/t1.png CUFED5/000_1.png\n"
                                    "HR/t1.png HR/t0.png CUFED5/001_1.png\n")
    return root


def test_sources_with_several_references(root):
    cufed = open_reference_source("cufed5:all", str(root / "CUFED5"))
    assert cufed.num_refs == 5 and cufed.label == "CUFED5 (refs 1-5)" and cufed.describe()["num_refs"] == 5
    refs = cufed.references(1)
    assert len(refs) == 5
    np.testing.assert_array_equal(refs[2], load_image(root / "CUFED5" / "001_3.png"))
    np.testing.assert_array_equal(cufed.reference(1), refs[0])
    pairs = open_reference_source(f"pairs:{root / 'pairs.txt'}")
    assert pairs.num_refs == 2 and len(pairs) == 2
    np.testing.assert_array_equal(pairs.references(0)[1], load_image(root / "CUFED5" / "000_1.png"))
    synthetic = open_reference_source("synthetic:3:4", str(root / "HR"))
    one = open_reference_source("synthetic:3", str(root / "HR"))
    views = synthetic.references(1)
    assert synthetic.num_refs == 4 and len(views) == 4 and synthetic.label.endswith("(synthetic ref x4, seed 3)")
    np.testing.assert_array_equal(views[0], one.reference(1))  # view 0 is the synthetic:SEED reference
    assert not np.array_equal(views[1], views[2])
    np.testing.assert_array_equal(open_reference_source("synthetic:3:4", str(root / "HR")).references(1)[3], views[3])


def test_source_errors(root, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{root}/HR/t0.png {root}/HR/t1.png\n{root}/HR/t1.png {root}/HR/t0.png {root}/HR/t1.png\n")
    with pytest.raises(ReferenceSourceError, match=f"{bad}:2: 2 reference.* 1 on the first"):
        open_reference_source(f"pairs:{bad}")
    with pytest.raises(ReferenceSourceError, match="number of views must be >= 1"):
        open_reference_source("synthetic:0:0", str(root / "HR"))
    with pytest.raises(ReferenceSourceError, match="the number of views must be an integer"):
        open_reference_source("synthetic:0:x", str(root / "HR"))
    with pytest.raises(ReferenceSourceError, match="level must be 1..5 or 'all'"):
        open_reference_source("cufed5:6", str(root / "CUFED5"))


def test_loader_gives_k_references_per_patch(root):
    paths = sorted(str(p) for p in (root / "HR").iterdir())
    data = RefSRPatchDataset(paths, srntt_module.INPUT_NAMES, patch_size=8, batch_size=2, num_refs=3, seed=1)
    inputs, hr = data[0]
    assert inputs["refs"].shape == inputs["refs_down_up"].shape == (2, 3, 32, 32, 3) and hr.shape == (2, 32, 32, 3)
    assert not np.array_equal(inputs["refs"][0, 0], inputs["refs"][0, 1])  # independent views
    np.testing.assert_array_equal(data[0][0]["refs"], inputs["refs"])  # deterministic per (seed, epoch, index)
    given = RefSRPatchDataset(None, srntt_module.INPUT_NAMES, patch_size=8, batch_size=2, num_refs=2,
                              source=open_reference_source("cufed5:all", str(root / "CUFED5")))
    assert given[0][0]["refs"].shape == (2, 2, 32, 32, 3)
    with pytest.raises(ValueError, match="take one reference; num_refs 2 needs a multi-reference model"):
        RefSRPatchDataset(paths, ("lr", "lr_up", "ref", "ref_down_up"), patch_size=8, num_refs=2)
    with pytest.raises(ValueError, match="num_refs 6 asked"):
        RefSRPatchDataset(None, srntt_module.INPUT_NAMES, patch_size=8, num_refs=6,
                          source=open_reference_source("cufed5:all", str(root / "CUFED5")))[0]


def test_best_reference_prefers_a_view_of_the_same_scene():
    from keras_sr.degradation import degrade

    photos = _photos()
    hr, lr = degrade(photos[0], 4)
    view, _ = synthesize_reference(hr, np.random.default_rng(0))
    index, scores = best_reference(lr, [photos[1], view, photos[2]], 4)
    assert index == 1 and scores[1] > max(scores[0], scores[2])
    assert reference_similarity(lr, hr, 4) > scores[0]
    flat = np.full_like(lr, 128)
    assert reference_similarity(flat, view, 4) == 0.0  # no textured patch to match


def test_upscalers_take_a_list_of_references(rng):
    from keras_sr.degradation import degrade

    photos = _photos()
    hr, lr = degrade(photos[0][:48, :48], 4)
    view, _ = synthesize_reference(hr, np.random.default_rng(1))
    ttsr = load(models.build("ttsr", **TINY_TTSR))
    best = ttsr.upscale(lr, view)
    np.testing.assert_array_equal(ttsr.upscale(lr, [photos[1][:48, :48], view]), best)  # the reduction picks the view
    assert ttsr._function.reference_reduction == "best-matching reference"
    srntt = load(models.build("srntt", **TINY_SRNTT))
    assert srntt._function.reference_reduction == "all (multi-reference model)"
    both = srntt.upscale(lr, [photos[1][:48, :48], view])
    assert both.shape == (48, 48, 3) and not np.array_equal(both, srntt.upscale(lr, view))
    with pytest.raises(ValueError, match="an empty list of references"):
        srntt.upscale(lr, [])


def test_evaluate_cli_with_k_synthetic_references(root, tmp_path):
    from keras_sr.cli import main

    model_path = str(tmp_path / "srntt.keras")
    models.build("srntt", **TINY_SRNTT).save(model_path)
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--model", model_path, "--scale", "4", "--data", str(root / "HR"), "--ref-mode",
                 "synthetic:0:2", f"pairs:{root / 'pairs.txt'}", "--json", str(out), "--quiet"]) in (0, None)
    results = json.loads(out.read_text())
    label = open_reference_source("synthetic:0:2", str(root / "HR")).label
    assert set(results) == {label, "Tiny (pairs)"} and label.endswith("(synthetic ref x2, seed 0)")
    assert results[label]["4"]["reference"]["num_refs"] == 2
    assert np.isfinite(results["Tiny (pairs)"]["4"]["psnr"])


def test_cimr_trains_on_the_recipe_loader_with_a_reference_pool(root):
    import keras

    from keras_sr.recipes.cimr import CIMRRecipe
    from keras_sr.training.refsr import make_refsr_train_data

    recipe = CIMRRecipe.for_scale(4, num_res_blocks=2, content_blocks=1, n_feats=8, vgg_widths=(4, 8, 16),
                                  patch_size=8, batch_size=2, steps=2, steps_per_epoch=1)
    assert recipe.refs_per_sample == 2  # CIMR's default pool
    paths = sorted(str(p) for p in (root / "HR").iterdir())
    data = make_refsr_train_data(recipe, paths, workers=1)
    inputs, hr = data[0]
    assert data.num_refs == 2 and inputs["refs"].shape == (2, 2, 32, 32, 3)
    model = recipe.build_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mae", run_eagerly=True)
    model.train_on_batch({k: inputs[k] for k in recipe.input_names()}, hr)
    temperatures = [w for w in model.weights if "temperature" in w.path]
    assert len(temperatures) == 3 and any(float(np.asarray(t)) != 10.0 for t in temperatures)  # the attention learns
