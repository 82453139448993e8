"""RefSR evaluation (`tools.evaluate --ref-mode`) and the warped-view benchmark builder (`tools.make_refsr_benchmark`)."""

import argparse
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT
from keras_sr import evaluation
from keras_sr.data.reference_sources import open_reference_source
from keras_sr.evaluation import bicubic_upscaler, degrade, evaluate_folders, score_pair
from keras_sr.image_io import ImageError, load_image
from keras_sr.imresize import imresize
from keras_sr.refsr_evaluation import (degrade_for, evaluate_reference_source, pil_bicubic_degrade,
                                       resolve_ref_upscaler)

TINY_TTSR = dict(num_res_blocks=(1, 1, 1, 1), n_feats=8, texture_widths=(8, 8, 8))
TINY_C2 = dict(ngf=8, n_blocks=1, groups=2, vgg_widths=(8, 8, 8), contrastive_widths=(8, 8, 8))


def photos():
    from skimage import data

    return [data.astronaut()[50:146, 150:246], data.coffee()[100:196, 200:296], data.chelsea()[50:146, 100:196],
            data.rocket()[100:196, 200:296], data.astronaut()[300:396, 300:396]]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """`Tiny/HR` (three 48x52 crops), a CUFED5 folder with two groups, and a pairs file over `Tiny`."""
    root = tmp_path_factory.mktemp("refsr_eval")
    images = photos()
    (root / "Tiny" / "HR").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.ascontiguousarray(images[i][:48, :52])).save(root / "Tiny" / "HR" / f"t{i}.png")
    (root / "CUFED5").mkdir()
    for g in range(2):
        Image.fromarray(np.ascontiguousarray(images[g][:50, :46])).save(root / "CUFED5" / f"00{g}_0.png")
        for level in range(1, 6):
            ref = np.ascontiguousarray(images[(g + level) % 5][level:level + 44, :40])
            Image.fromarray(ref).save(root / "CUFED5" / f"00{g}_{level}.png")
    (root / "pairs.txt").write_text("# dataset: Tiny\n# reference: next image\n"
                                    "Tiny/HR/t0.png Tiny/HR/t1.png\nTiny/HR/t1.png Tiny/HR/t2.png\n")
    return root


@pytest.fixture(scope="module")
def tiny_ttsr(root):
    from keras_sr import models

    model = models.build("ttsr", **TINY_TTSR)
    path = str(root / "tiny_ttsr.keras")
    model.save(path)
    return model, path


def test_cufed5_takes_pil_bicubic_lr(root):
    hr = load_image(root / "CUFED5" / "000_0.png")  # 50x46: modcrop to 48x44
    cropped, lr = pil_bicubic_degrade(hr, 4)
    expected = np.asarray(Image.fromarray(hr[:48, :44]).resize((11, 12), Image.BICUBIC))
    np.testing.assert_array_equal(cropped, hr[:48, :44])
    np.testing.assert_array_equal(lr, expected)
    assert np.abs(lr.astype(int) - imresize(hr[:48, :44], 0.25).astype(int)).max() > 0  # PIL is not MATLAB
    assert degrade_for("matlab") is degrade and degrade_for("pil") is pil_bicubic_degrade
    with pytest.raises(ValueError, match="unknown LR method"):
        degrade_for("opencv")

    cufed = open_reference_source("cufed5:1", str(root / "CUFED5"))
    result = evaluate_reference_source(resolve_ref_upscaler("bicubic", 4), cufed, 4)
    assert result["n_images"] == 2 and "PIL" in result["lr_method"] and result["reference"]["level"] == 1
    p, s = score_pair(imresize(expected, 4), hr[:48, :44], 4)
    assert result["images"][0]["psnr"] == pytest.approx(p) and result["images"][0]["ssim"] == pytest.approx(s)

    self_lr = open_reference_source("self-lr", str(root / "Tiny" / "HR"))
    result = evaluate_reference_source(resolve_ref_upscaler("bicubic", 4), self_lr, 4)
    assert "MATLAB" in result["lr_method"]
    sisr = evaluate_folders(bicubic_upscaler, [str(root / "Tiny" / "HR")], [4])["Tiny"][4]
    assert result["psnr"] == pytest.approx(sisr["psnr"]) and result["ssim"] == pytest.approx(sisr["ssim"])


def test_untrained_ttsr_and_bicubic_on_the_same_pairs(root, tiny_ttsr):
    from keras_sr.models import ttsr

    model, path = tiny_ttsr
    upscale = resolve_ref_upscaler(path, scale=4)
    assert upscale.kind == "ttsr"
    source = open_reference_source(f"pairs:{root / 'pairs.txt'}")
    result = evaluate_reference_source(upscale, source, 4)
    assert result["n_images"] == 2 and np.isfinite(result["psnr"])
    hr, lr = degrade(source.hr(1), 4)
    sr = keras.ops.convert_to_numpy(model(ttsr.prepare_inputs(lr, source.reference(1))))[0]
    p, s = score_pair(sr, hr, 4)
    assert result["images"][1]["psnr"] == pytest.approx(p, abs=1e-4) and result["images"][1]["ssim"] == pytest.approx(s, abs=1e-5)
    # the reference really reaches the model: another reference, another output
    other = upscale(lr, source.reference(0), 4)
    assert np.abs(other - upscale(lr, source.reference(1), 4)).max() > 1e-3
    with pytest.raises(ValueError, match="x4 model, asked for x2"):
        resolve_ref_upscaler(path, scale=2)

    baseline = evaluate_reference_source(resolve_ref_upscaler("bicubic", 4), source, 4)
    assert [r["image"] for r in baseline["images"]] == [r["image"] for r in result["images"]]
    sisr = evaluate_folders(bicubic_upscaler, [str(root / "Tiny" / "HR")], [4])["Tiny"][4]["images"]
    assert baseline["images"][1]["psnr"] == pytest.approx(sisr[1]["psnr"])  # SISR ignores the reference


def test_registered_ttsr_with_weights(root, tiny_ttsr, tmp_path):
    from keras_sr.models.inference import write_model_json

    model, _ = tiny_ttsr
    model.save_weights(str(tmp_path / "final.weights.h5"))
    write_model_json(str(tmp_path), "ttsr", {"scale": 4, **{k: list(v) if isinstance(v, tuple) else v for k, v in TINY_TTSR.items()}})
    upscale = resolve_ref_upscaler("ttsr", scale=4, weights=str(tmp_path / "final.weights.h5"))
    lr = imresize(load_image(root / "Tiny" / "HR" / "t0.png"), 0.25)
    ref = load_image(root / "Tiny" / "HR" / "t1.png")
    from keras_sr.models import ttsr

    expected = keras.ops.convert_to_numpy(model(ttsr.prepare_inputs(lr, ref)))[0]
    np.testing.assert_allclose(upscale(lr, ref, 4), expected, atol=1e-4)
    with pytest.raises(ValueError, match="no weights"):
        resolve_ref_upscaler("ttsr", scale=4)


def test_c2_matching_output_is_cropped_back(root):
    from keras_sr import models
    from keras_sr.models import c2_matching

    model = models.build("c2_matching", **TINY_C2)
    upscale = resolve_ref_upscaler(model, scale=4)
    assert upscale.kind == "c2_matching"
    source = open_reference_source("self-lr", str(root / "Tiny" / "HR"))  # the reference (12x13) is smaller than HR
    result = evaluate_reference_source(upscale, source, 4)
    assert result["n_images"] == 3 and np.isfinite(result["psnr"])
    hr, lr = degrade(source.hr(0), 4)
    sr = upscale(lr, lr, 4)
    assert sr.shape == hr.shape
    inputs, (h, w) = c2_matching.prepare_inputs(lr, lr)
    np.testing.assert_allclose(sr, keras.ops.convert_to_numpy(model(inputs))[0, :h, :w], atol=1e-4)
    assert result["images"][0]["psnr"] == pytest.approx(score_pair(sr, hr, 4)[0], abs=1e-4)


def parse(*argv):
    return evaluation.add_arguments(argparse.ArgumentParser()).parse_args(list(argv))


def test_run_writes_make_table_json(root, tiny_ttsr, tmp_path, capsys):
    from keras_sr.results_table import format_runs, load_run

    _, path = tiny_ttsr
    out = tmp_path / "ttsr_tiny" / "eval.json"
    evaluation.run(parse("--model", path, "--scale", "4", "--data", str(root / "Tiny" / "HR"), "--quiet",
                         "--ref-mode", "synthetic:1", f"pairs:{root / 'pairs.txt'}", "--json", str(out)))
    assert "| Tiny (next image) |" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert list(data) == ["Tiny (synthetic ref, seed 1)", "Tiny (next image)"]
    assert data["Tiny (synthetic ref, seed 1)"]["4"]["n_images"] == 3 and data["Tiny (next image)"]["4"]["n_images"] == 2
    assert data["Tiny (synthetic ref, seed 1)"]["4"]["reference"]["seed"] == 1
    assert "MATLAB" in data["Tiny (next image)"]["4"]["lr_method"]
    run = load_run(str(out))
    assert run["results"]["Tiny (next image)"][4]["psnr"] == pytest.approx(data["Tiny (next image)"]["4"]["psnr"])
    assert "| Tiny (next image) |" in format_runs([run])
    # TTSR needs a reference of at least 16x16: the 12x13 LR of self-lr is too small, and the error names the image
    with pytest.raises(ImageError, match=r"t0\.png \(Tiny \(LR ref\)\): images too small"):
        evaluation.run(parse("--model", path, "--scale", "4", "--data", str(root / "Tiny" / "HR"), "--quiet",
                             "--ref-mode", "self-lr"))


def run_tool(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_cufed5_and_errors(root, tmp_path):
    out = tmp_path / "eval.json"
    proc = run_tool("tools.evaluate", "--model", "bicubic", "--scale", "4", "--data", str(root / "CUFED5"),
                    "--ref-mode", "cufed5:2", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "| CUFED5 (ref 2) |" in proc.stdout and "LR: pil bicubic" in proc.stdout
    entry = json.loads(out.read_text())["CUFED5 (ref 2)"]["4"]
    assert entry["n_images"] == 2 and entry["lr_method"].startswith("PIL bicubic")
    proc = run_tool("tools.evaluate", "--model", "bicubic", "--scale", "4", "--ref-mode", f"pairs:{tmp_path / 'no.txt'}")
    assert proc.returncode == 2 and "no.txt: pairs file not found" in proc.stderr and "Traceback" not in proc.stderr


def correlation_with_hr(hr, ref):
    """Best normalized cross-correlation of the HR centre (grey) anywhere in the reference."""
    from skimage.feature import match_template

    grey = [np.asarray(x, np.float64) @ [0.299, 0.587, 0.114] for x in (hr, ref)]
    h, w = grey[0].shape
    return float(match_template(grey[1], grey[0][h // 3:2 * h // 3, w // 3:2 * w // 3]).max())


def test_benchmark_is_deterministic_and_relevant(tmp_path):
    from tools.make_refsr_benchmark import build_benchmark, derangement, main

    hr_dir = tmp_path / "data" / "Tiny" / "HR"
    hr_dir.mkdir(parents=True)
    for i, image in enumerate(photos()):
        Image.fromarray(np.ascontiguousarray(image)).save(hr_dir / f"p{i}.png")
    build_benchmark([str(hr_dir)], str(tmp_path / "a"), seed=0)
    assert main(["--data", str(hr_dir), "--out", str(tmp_path / "b"), "--seed", "0"]) == 0
    build_benchmark([str(hr_dir)], str(tmp_path / "c"), seed=1)

    def files(folder):
        return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
                for d, _, names in os.walk(folder) for f in names}

    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert len(a) == 1 + 1 + 3 + 2 * 5 and a == b  # README, benchmark.json, 2 pairs + transforms, 10 references
    assert a["Tiny/relevant/p0.png"] != c["Tiny/relevant/p0.png"]
    summary = json.loads(a["benchmark.json"])
    assert summary["seed"] == 0 and summary["view_params"]["rotation_degrees"] == 15.0
    partners = summary["datasets"][0]["unrelated_partner"]
    assert all(k != v for k, v in partners.items()) and sorted(partners.values()) == sorted(partners)

    relevant = open_reference_source(f"pairs:{tmp_path / 'a' / 'Tiny' / 'relevant.txt'}")
    unrelated = open_reference_source(f"pairs:{tmp_path / 'a' / 'Tiny' / 'unrelated.txt'}")
    assert relevant.label == "Tiny (warped ref)" and unrelated.label == "Tiny (unrelated ref)"
    synthetic = open_reference_source("synthetic:0", str(hr_dir))
    transforms = json.loads(a["Tiny/relevant_transforms.json"])["transforms"]
    scores = []
    for i in range(len(relevant)):
        hr, ref, other = relevant.hr(i), relevant.reference(i), unrelated.reference(i)
        assert ref.shape == other.shape == hr.shape
        np.testing.assert_array_equal(ref, synthetic.reference(i))  # = the synthetic:0 source's reference
        np.testing.assert_array_equal(unrelated.hr(i), hr)
        np.testing.assert_allclose(transforms[f"p{i}.png"], synthetic.reference_and_transform(i)[1], atol=1e-8)
        scores.append((correlation_with_hr(hr, ref), correlation_with_hr(hr, other)))
    scores = np.array(scores)
    assert np.all(scores[:, 0] > scores[:, 1]), scores
    assert scores[:, 0].mean() > 0.75 and scores[:, 0].mean() - scores[:, 1].mean() > 0.3, scores

    rng = np.random.default_rng(0)
    for n in (2, 3, 7):
        order = derangement(n, rng)
        assert sorted(order) == list(range(n)) and not np.any(order == np.arange(n))
    with pytest.raises(ValueError, match="at least 2"):
        derangement(1, rng)
    single = tmp_path / "single"
    single.mkdir()
    Image.fromarray(photos()[0]).save(single / "x.png")
    with pytest.raises(ValueError, match="single: the unrelated references need at least 2 images"):
        build_benchmark([str(single)], str(tmp_path / "d"))
