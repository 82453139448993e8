"""`tools.make_table --refsr-family`: the RefSR family table and its robustness gate, from evaluation JSONs."""

import json

import pytest

from keras_sr.results_table import format_refsr_family, load_family_runs, robustness_gate
from tools.make_table import main


def _entry(psnr, ssim=0.7, n=20):
    return {"4": {"psnr": psnr, "ssim": ssim, "n_images": n}}


def _run(root, name, model, bsd, urban_lr, params, ms):
    run = root / name
    run.mkdir()
    (run / "recipe.json").write_text(json.dumps({"model": {"name": model, "config": {"scale": 4}},
                                                 "data": ["x/T91/HR", "x/BSD200/HR"]}))
    (run / "summary.json").write_text(json.dumps({"steps": 1000, "seconds": 900.0}))
    (run / "eval_bsd100.json").write_text(json.dumps({"BSD100 (warped ref)": _entry(bsd[0]),
                                                      "BSD100 (unrelated ref)": _entry(bsd[1])}))
    (run / "eval_urban100.json").write_text(json.dumps({"Urban100 (LR ref)": _entry(urban_lr, n=10)}))
    (run / "cpu_time.json").write_text(json.dumps({"params": params, "cpu_ms": ms}))
    return [str(run / "eval_bsd100.json"), str(run / "eval_urban100.json")]


def test_family_table_and_gate(tmp_path, capsys):
    files = _run(tmp_path, "bicubic", None, (24.0, 24.0), 21.0, None, None)
    files += _run(tmp_path, "edsr", "edsr", (25.0, 25.0), 22.0, 1_517_571, 120.0)
    files += _run(tmp_path, "masa", "masa_sr", (25.3, 24.95), 22.1, 60_000, 300.0)
    files += _run(tmp_path, "bad", "ttsr", (25.2, 24.5), 21.0, 850_000, 500.0)
    rows = load_family_runs(files)
    assert [r["label"] for r in rows] == ["bicubic", "EDSR", "MASA_SR", "TTSR"]
    assert format_refsr_family(rows).splitlines()[0].endswith("gate vs bicubic (relevant gain / unrelated loss, dB) |")
    rows = rows[1:]
    assert rows[1]["cells"][("BSD100", "warped ref")]["psnr"] == 25.3 and rows[1]["params"] == 60_000
    assert robustness_gate(rows[1], rows[0])[0] is True        # +0.30 with the view, -0.05 with an unrelated one
    assert robustness_gate(rows[2], rows[0])[0] is False       # -0.50 with an unrelated reference
    text = format_refsr_family(rows)
    lines = text.splitlines()
    assert "Urban100 x4 (LR ref, n=10)" in lines[0] and "BSD100 x4 (warped ref, n=20)" in lines[0]
    assert "gate vs EDSR" in lines[0] and "(baseline)" in lines[2]
    assert "pass (BSD100: +0.30 / -0.05)" in lines[3] and "FAIL (BSD100: +0.20 / -0.50)" in lines[4]
    assert "| 1,517,571 |" in lines[2] and "| 300 |" in lines[3]
    assert main(["--refsr-family", *files, "--baseline", "EDSR", "--out", str(tmp_path / "table.md")]) == 0
    saved = (tmp_path / "table.md").read_text()
    assert "| (SISR: reference ignored) |" in saved and "pass (BSD100: +0.30 / -0.05)" in saved
    assert main(["--refsr-family", *files, "--baseline", "NOPE"]) == 2
    assert "no such row" in capsys.readouterr().err
