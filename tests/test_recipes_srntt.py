"""Recipes of SRNTT (official defaults), SSEN, E2ENT and CIMR-SR (paper-based, marked choices): fields only."""

import pytest

from keras_sr.recipes.cimr import CIMRRecipe
from keras_sr.recipes.e2ent import E2ENTRecipe
from keras_sr.recipes.srntt import SRNTTRecipe, main as srntt_main
from keras_sr.recipes.ssen import SSENRecipe
from keras_sr.training.refsr import CUFED_STEPS_PER_EPOCH


def test_srntt_defaults_are_the_official_ones():
    r = SRNTTRecipe.for_scale(4)
    # ZZUTK/SRNTT SRNTT/model.py SRNTT.train: batch 9, input_size 40, 5 init + 100 epochs, Adam 1e-4 beta1 0.9,
    # x0.1 (staircase) halfway through the main epochs, weights (per 1e-4, tex 1e-4, adv 1e-6, bp 1, rec 1), L1,
    # WGAN-GP 10; the critic's Adam beta1 0.9.
    assert (r.batch_size, r.patch_size, r.hr_patch_size, r.ref_size) == (9, 40, 160, 160)
    assert r.steps == 105 * CUFED_STEPS_PER_EPOCH and r.init_steps == 5 * CUFED_STEPS_PER_EPOCH
    assert (r.learning_rate, r.beta_1, r.schedule, r.lr_milestones, r.lr_gamma) == (1e-4, 0.9, "step",
                                                                                      (55 * CUFED_STEPS_PER_EPOCH,), 0.1)
    assert (r.loss, r.rec_weight, r.perceptual_weight, r.adversarial_weight, r.gp_weight) == ("l1", 1.0, 1e-4, 1e-6,
                                                                                             10.0)
    assert (r.perceptual_layer, r.perceptual_criterion, r.d_beta_1) == ("relu5_1", "l2", 0.9)
    assert r.tpl_weight == 0.0  # SRNTT's Gram texture loss is not implemented (documented)
    assert r.variant == "gan" and r.refs_per_sample == 1
    assert r.model_config() == {"scale": 4, "num_res_blocks": 16, "content_blocks": 16, "n_feats": 64,
                                "vgg_widths": (64, 128, 256)}


def test_family_recipes_and_their_choices():
    e2ent, cimr, ssen = E2ENTRecipe.for_scale(4), CIMRRecipe.for_scale(4), SSENRecipe.for_scale(4)
    assert e2ent.model == "e2ent" and e2ent.steps == SRNTTRecipe.for_scale(4).steps
    assert (cimr.model, cimr.variant, cimr.refs_per_sample) == ("cimr", "rec", 2)
    assert cimr.input_names() == ("lr", "lr_up", "refs", "refs_down_up")
    assert (ssen.model, ssen.variant, ssen.batch_size, ssen.patch_size) == ("ssen", "rec", 9, 40)
    assert ssen.model_config() == {"scale": 4, "n_feats": 64, "num_blocks": 16, "feature_blocks": 4, "num_dcn": 3,
                                   "deformable_groups": 8}
    assert ssen.input_names() == ("lr", "ref")
    assert SRNTTRecipe.for_scale(4, matching_vgg_weights="vgg.npz").model_config()["vgg_weights"] == "vgg.npz"
    demo = SRNTTRecipe.for_scale(4, **SRNTTRecipe.demo_defaults(4))
    assert (demo.variant, demo.steps, demo.n_feats) == ("rec", 200, 32)


def test_recipe_errors(tmp_path):
    with pytest.raises(ValueError, match="x4 architecture"):
        SRNTTRecipe.for_scale(2)
    with pytest.raises(ValueError, match="multiple of deformable_groups"):
        SSENRecipe.for_scale(4, n_feats=12, deformable_groups=8)
    with pytest.raises(ValueError, match="refs_per_sample must be >= 1"):
        CIMRRecipe.for_scale(4, refs_per_sample=0)
    missing = str(tmp_path / "missing.weights.h5")
    with pytest.raises(SystemExit, match="--content-weights .*missing.weights.h5: file not found"):
        SRNTTRecipe.for_scale(4, variant="rec", content_weights=missing).check_files()


def test_help_documents_the_flags(capsys):
    with pytest.raises(SystemExit):
        srntt_main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--content-weights", "--matching-vgg-weights", "--refs-per-sample", "--num-res-blocks"):
        assert flag in text
