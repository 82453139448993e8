"""The shipped presets re-scored against their recorded numbers (within 0.01 dB), and the demo's before/after.

* Always: `chelsea` (the first held-out photograph of the recipes' default data, bundled with
  scikit-image) through the evaluation protocol (`keras_sr.scoring.evaluate_images` of
  `keras_sr.upscalers.load(preset)`). The numbers below were measured with the command in
  README "Presets and measured results" (chelsea + coffee; the preset alone, no fine-tuning).
* With ../shared/data present: Set5 against the `metrics` each preset's JSON records
  (the cheap presets and `edsr_baseline_x4`; x2/x3 EDSR on Set5 cost tens of seconds each).
"""

import pytest

from conftest import shared_dataset
from keras_sr import scoring, upscalers
from keras_sr.data.sources import default_images
from keras_sr.image_io import list_images
from keras_sr.models import presets

# PSNR on Y, border = scale, of the preset alone on chelsea (mean of chelsea + coffee in brackets).
CHELSEA_PSNR = {
    "edsr_baseline_x2": 36.6843,  # (34.9385)
    "edsr_baseline_x3": 33.6695,  # (31.9427)
    "edsr_baseline_x4": 32.2080,  # (30.5371)
    "espcn_x3": 33.4419,  # (31.4006)
    "fsrcnn_x3": 33.3959,  # (31.4347)
    "srcnn_x3": 33.3145,  # (31.1762)
}
SET5_PRESETS = ("espcn_x3", "fsrcnn_x3", "srcnn_x3", "edsr_baseline_x4")


def test_every_preset_has_a_recorded_embedded_score():
    assert sorted(CHELSEA_PSNR) == sorted(p.name for p in presets.list_presets())


@pytest.mark.parametrize("name", sorted(CHELSEA_PSNR))
def test_preset_rescores_on_the_embedded_photograph(name):
    preset = presets.get_preset(name)
    chelsea = [p for p in default_images()[1] if p.endswith("chelsea.png")]
    result = scoring.evaluate_images(upscalers.load(name), chelsea, int(preset.config["scale"]))
    assert abs(result["psnr"] - CHELSEA_PSNR[name]) <= 0.01, (name, result["psnr"])


@pytest.mark.parametrize("name", SET5_PRESETS)
def test_preset_rescores_on_set5(name):
    folder = shared_dataset("Set5")
    preset = presets.get_preset(name)
    scale = int(preset.config["scale"])
    recorded = preset.metrics["Set5"][str(scale)]
    result = scoring.evaluate_images(upscalers.load(name), list_images(folder), scale)
    assert result["n_images"] == recorded["n_images"]
    assert abs(result["psnr"] - recorded["psnr"]) <= 0.01, (name, result["psnr"], recorded["psnr"])
    assert abs(result["ssim"] - recorded["ssim"]) <= 1e-4, (name, result["ssim"], recorded["ssim"])


def test_preset_demo_prints_the_preset_before_and_after_fine_tuning(tmp_path, capsys):
    from keras_sr.recipes.fsrcnn import main

    assert main(["--scale", "3", "--steps", "1", "--no-export", "--quiet", "--out", str(tmp_path / "run")]) in (0, None)
    out = capsys.readouterr().out
    before = next(line for line in out.splitlines() if "fsrcnn_x3 preset, before fine-tuning" in line)
    # chelsea + coffee, the preset alone (the recipe's held-out images)
    assert abs(float(before.split("|")[2]) - 31.4347) <= 0.01, before
    assert "the fsrcnn_x3 preset alone: +" in out and "this run's 1 fine-tuning steps:" in out
