"""tools.make_table: README result tables generated from eval.json files, with the published reference."""

import json
import os
import subprocess
import sys

import pytest

from keras_sr.results_table import format_runs, load_run, training_set_name

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(root, name, model, scale, data, results, steps=1000, seconds=600.0):
    run = root / name
    run.mkdir()
    (run / "recipe.json").write_text(json.dumps({"model": {"name": model, "config": {"scale": scale}},
                                                 "data": data, "backend": "jax"}))
    (run / "summary.json").write_text(json.dumps({"steps": steps, "seconds": seconds}))
    (run / "eval.json").write_text(json.dumps(results))
    return str(run / "eval.json")


def test_training_set_names():
    assert training_set_name(["../shared/data/T91/HR"]) == "T91"
    assert training_set_name(["x/T91/HR", "x/BSD200/HR"]) == "291"
    assert training_set_name(None) == "embedded photos"


def test_table_cells_show_ours_and_the_published_reference(tmp_path):
    path = _run(tmp_path, "fsrcnn_x3", "fsrcnn", 3, ["data/T91/HR"],
                {"Set14": {"3": {"psnr": 29.0, "ssim": 0.82, "n_images": 14}},
                 "Set5": {"3": {"psnr": 32.9512, "ssim": 0.91234, "n_images": 5}}})
    text = format_runs([load_run(path)])
    lines = text.splitlines()
    assert lines[0].startswith("**FSRCNN** (trained on T91, 1,000 steps, 10 min, jax backend)")
    assert "FSRCNN, 91 images (seed reproduction)" in lines[0]
    assert lines[2] == "| Dataset | x3 |"
    # datasets in the papers' order, ours PSNR / SSIM (reference PSNR, difference)
    assert lines[4] == "| Set5 | 32.95 / 0.9123 (33.05, -0.10) |"
    assert lines[5] == "| Set14 | 29.00 / 0.8200 (29.33, -0.33) |"


def test_runs_of_one_model_merge_into_scale_columns(tmp_path):
    a = _run(tmp_path, "a", "espcn", 2, ["T91/HR"], {"Set5": {"2": {"psnr": 36.0, "ssim": 0.95, "n_images": 5}}})
    b = _run(tmp_path, "b", "espcn", 3, ["T91/HR"], {"Set5": {"3": {"psnr": 32.0, "ssim": 0.9, "n_images": 5}}})
    text = format_runs([load_run(a), load_run(b)])
    assert "| Dataset | x2 | x3 |" in text
    assert "| Set5 | 36.00 / 0.9500 (36.44, -0.44) | 32.00 / 0.9000 (32.45, -0.45) |" in text


def test_command_line_and_errors(tmp_path):
    path = _run(tmp_path, "r", "srcnn", 3, ["T91/HR"], {"Set5": {"3": {"psnr": 32.0, "ssim": 0.9, "n_images": 5}}})
    out = tmp_path / "table.md"
    proc = subprocess.run([sys.executable, "-m", "tools.make_table", path, "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "| Set5 | 32.00 / 0.9000 (32.18, -0.18) |" in proc.stdout and out.read_text().strip() == proc.stdout.strip()
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    proc = subprocess.run([sys.executable, "-m", "tools.make_table", str(bad)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "not an evaluation JSON" in proc.stderr
    with pytest.raises(ValueError, match="no such file"):
        load_run(str(tmp_path / "missing.json"))
