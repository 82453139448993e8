"""tools.evaluate --metrics: IFC/NIQE/LPIPS columns in the same table and JSON."""

import json

import numpy as np
import pytest

from keras_sr.cli import main


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory):
    from skimage import data

    from keras_sr.image_io import save_image

    folder = tmp_path_factory.mktemp("quality_eval") / "Tiny" / "HR"
    save_image(str(folder / "a.png"), data.astronaut()[40:240, 150:350])
    return str(folder)


def test_evaluate_adds_metric_columns(hr_folder, tmp_path, capsys):
    from keras_sr.evaluation import degrade, bicubic_upscaler
    from keras_sr.image_io import load_image
    from keras_sr.quality import ifc, niqe

    out = tmp_path / "eval.json"
    assert main(["evaluate", "--model", "bicubic", "--scale", "2", "--data", hr_folder, "--metrics", "psnr", "ssim",
                 "ifc", "niqe", "--json", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "x2 (PSNR / SSIM / IFC / NIQE)" in table
    row = json.loads(out.read_text())["Tiny"]["2"]
    assert set(row) == {"psnr", "ssim", "ifc", "niqe", "n_images"}
    hr, lr = degrade(load_image(hr_folder + "/a.png"), 2)
    sr = bicubic_upscaler(lr, 2)
    assert row["ifc"] == pytest.approx(ifc.ifc(sr, hr, crop_border=2))
    assert row["niqe"] == pytest.approx(niqe.niqe(sr, crop_border=2))
    assert f"{row['ifc']:.4f} / {row['niqe']:.4f}" in table


def test_lpips_without_backbone_is_refused(hr_folder):
    with pytest.raises(ValueError, match="--lpips-backbone"):
        main(["evaluate", "--model", "bicubic", "--scale", "2", "--data", hr_folder, "--metrics", "lpips"])
    with pytest.raises(ValueError, match="unknown psnr2"):
        main(["evaluate", "--model", "bicubic", "--scale", "2", "--data", hr_folder, "--metrics", "psnr2"])
