"""The prepared GPU session (`tools.device_run`): its parsing and planning, and a CPU dry run of its plumbing."""

import json
import os

import numpy as np
import pytest

from tools import device_run

TORCH_OUTPUT = """torch fp32 compile=False: 1754 patches/s, 9.9 TFLOP/s
torch fp32 compile=True: 1801 patches/s, 10.2 TFLOP/s
torch bf16 compile=False: 2410 patches/s, 13.6 TFLOP/s
torch bf16 compile=True: 3007 patches/s, 17.0 TFLOP/s
"""


def test_torch_lines_table_and_ratio():
    rows = device_run.parse_torch_lines(TORCH_OUTPUT)
    assert [(r["precision"], r["compile"]) for r in rows] == [("fp32", False), ("fp32", True), ("bf16", False),
                                                              ("bf16", True)]
    assert rows[-1]["patches_per_second"] == 3007.0
    keras_rows = [{"backend": "jax", "policy": "float32", "patches_per_second": 2624.0},
                  {"backend": "jax", "policy": "mixed_bfloat16", "patches_per_second": 3913.0}]
    table = device_run.throughput_table(keras_rows, rows)
    assert "| PyTorch | bf16, torch.compile | 3007 |" in table
    assert f"{3913 / 3007:.2f}x" in table
    assert "best keras-sr" not in device_run.throughput_table(keras_rows, [])


def test_step_plan_fits_the_budget():
    assert device_run.plan_steps(10.0, 300, 120) == 1800
    assert device_run.plan_steps(10.0, 100, 120) == 1  # never zero steps


def test_dry_run_writes_throughput_and_a_scored_run(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    from keras_sr.image_io import save_image

    rng = np.random.default_rng(0)
    for name in ("T91", "BSD200", "Set5", "Set14", "BSD100"):
        for i in range(2):
            save_image(str(tmp_path / "data" / name / "HR" / f"{i}.png"), rng.integers(0, 256, (120, 112, 3),
                                                                                      dtype=np.uint8))
    out = str(tmp_path / "out")
    code = device_run.main(["--data-root", str(tmp_path / "data"), "--out", out, "--minutes", "5", "--dry-run",
                            "--bench-steps", "2", "--bench-warmup", "1", "--steps", "2", "--batch-size", "2",
                            "--patch-size", "8"])
    assert code == 0
    result = json.load(open(os.path.join(out, "throughput.json")))
    assert [r["policy"] for r in result["keras_sr"]] == ["float32", "mixed_bfloat16"] and result["torch"] == []
    run = os.path.join(out, "edsr_baseline_x4_gpu")
    assert os.path.isfile(os.path.join(run, "final.weights.h5"))
    scores = json.load(open(os.path.join(run, "eval.json")))
    assert {"Set5", "Set14", "BSD100"} <= set(json.dumps(scores).replace('"', " ").split())
    with pytest.raises(SystemExit, match="missing"):
        device_run.main(["--data-root", str(tmp_path / "nowhere"), "--out", out])


def test_dry_run_deep_throughput_measures_rcan_and_rdn(tmp_path):
    pytest.importorskip("tensorflow")
    from keras_sr.image_io import save_image

    rng = np.random.default_rng(1)
    for name in ("T91", "BSD200", "Set5", "Set14", "BSD100"):
        save_image(str(tmp_path / "data" / name / "HR" / "0.png"), rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
    out = str(tmp_path / "out")
    lines = []
    argv = ["--data-root", str(tmp_path / "data"), "--out", out, "--dry-run", "--tasks", "deep_throughput",
            "--bench-steps", "1", "--bench-warmup", "1", "--batch-size", "2", "--patch-size", "8"]
    assert device_run.main(argv + ["--deep-seconds", "1"], log=lines.append) == 0
    for model in device_run.DEEP_MODELS:
        result = json.load(open(os.path.join(out, f"throughput_{model}.json")))
        assert result["model"] == model and result["torch"] == []
        assert [r["policy"] for r in result["keras_sr"]] == ["float32", "mixed_bfloat16"]
    assert not os.path.exists(os.path.join(out, "throughput.json"))  # the EDSR task was not asked for
    device_run.main(argv + ["--minutes", "1", "--deep-seconds", "600"], log=lines.append)
    assert any("deep_throughput rcan skipped" in line for line in lines)
