"""The preset factory (`tools.preset_factory`, `tools.device_run --tasks presets`, `tools.make_preset --from-run`).

The whole factory runs as a CPU dry run: tiny networks, the same job code,
the same packing and unpacking, the same preset writing.
"""

import argparse
import json
import os
import subprocess

import numpy as np
import pytest

from keras_sr.training import cli

from tools import preset_factory


def _write_sets(root, names, size=(60, 72)):
    from keras_sr.image_io import save_image
    from skimage import data

    photo = data.astronaut()
    for k, name in enumerate(names):
        for i in range(2):
            y, x = 40 * i + 7 * k, 50 * i + 11 * k
            save_image(str(root / name / "HR" / f"{i}.png"), photo[y: y + size[0], x: x + size[1]])
    return str(root)


def test_default_queue_and_schedule_compression(tmp_path):
    from keras_sr.recipes.edsr import EDSRRecipe
    from keras_sr.recipes.fsrcnn import FSRCNNRecipe

    jobs = preset_factory.read_queue(preset_factory.DEFAULT_QUEUE)
    assert [j["name"] for j in jobs] == ["edsr_baseline_x2", "edsr_baseline_x3", "edsr_baseline_x4", "fsrcnn_x3",
                                         "espcn_x3", "srcnn_x3", "vdsr_x3", "swinir_light_x4", "liif_edsr_baseline"]
    for job in jobs:  # every job's planned command is its recipe's own command line (the dry-run sizes too)
        recipe_cls = preset_factory._recipe_class(job["recipe"])
        for dry in (False, True):
            parser = cli.add_recipe_arguments(argparse.ArgumentParser(), recipe_cls)
            recipe = cli.recipe_from_args(recipe_cls, parser.parse_args(
                preset_factory.job_command(job, "D", 3000, "OUT", dry_run=dry)))
            assert recipe.steps == 3000 and recipe.scale == job["scale"], job["name"]
    swinir = next(j for j in jobs if j["recipe"] == "swinir")
    assert "--variant" in preset_factory.job_command(swinir, "D", 10, "OUT") and "variant" in str(
        preset_factory.BENCH_FLAGS)  # the rate is measured on the lightweight network it trains
    assert preset_factory.compressed_schedule(EDSRRecipe, 4, 3000) == ["--lr-milestones", "2000"]  # 2e5 of 3e5
    assert preset_factory.compressed_schedule(FSRCNNRecipe, 3, 3000) == []  # cosine follows --steps
    argv = preset_factory.job_command(jobs[2], "D", 3000, "OUT")
    assert argv[argv.index("--steps") + 1] == "3000" and argv[argv.index("--init") + 1] == "preset"
    assert "D/T91/HR" in argv and "D/Set14/HR" in argv
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps({"jobs": [{"name": "a", "recipe": "edsr"}]}))
    with pytest.raises(preset_factory.QueueError, match="q.json: job 0 has no scale"):
        preset_factory.read_queue(str(bad))
    bad.write_text(json.dumps({"jobs": [{"name": "a", "recipe": "edsr", "scale": 2}] * 2}))
    with pytest.raises(preset_factory.QueueError, match="appears twice"):
        preset_factory.read_queue(str(bad))


def test_pack_round_trip_float16_and_parts(tmp_path):
    from keras_sr import models

    run = tmp_path / "work" / "tiny_x2"
    run.mkdir(parents=True)
    model = models.build("edsr", scale=2, num_blocks=1, filters=8)
    model.save_weights(str(run / "final.weights.h5"))
    (run / "model.json").write_text(json.dumps({"name": "edsr", "config": {"scale": 2, "num_blocks": 1, "filters": 8}}))
    (run / "job.json").write_text(json.dumps({"name": "tiny_x2"}))
    (run / "checkpoints").mkdir()  # not returned
    out = tmp_path / "out"
    out.mkdir()
    files = preset_factory.pack_runs([str(run)], str(out), fp16_above_mb=0.0, log=lambda *_: None)
    assert [os.path.basename(f) for f in files] == [preset_factory.BUNDLE]
    runs = preset_factory.unpack_bundle(str(out), str(tmp_path / "back"))
    restored = models.build("edsr", scale=2, num_blocks=1, filters=8)
    restored.load_weights(os.path.join(runs[0], "final.weights.h5"))
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a.astype(np.float16).astype(np.float32), b)
    assert not os.path.exists(os.path.join(runs[0], "checkpoints"))
    parts_out = tmp_path / "parts"
    parts_out.mkdir()
    parts = preset_factory.pack_runs([str(run)], str(parts_out), fp16_above_mb=99.0, part_mb=0.01,
                                     log=lambda *_: None)
    assert len(parts) > 1 and all(".part" in p for p in parts)
    runs = preset_factory.unpack_bundle(str(parts_out), str(tmp_path / "back2"))
    restored.load_weights(os.path.join(runs[0], "final.weights.h5"))  # float32 file, travelled whole
    np.testing.assert_array_equal(restored.get_weights()[0], model.get_weights()[0])


def test_factory_dry_run_to_presets(tmp_path):
    from keras_sr.models import presets
    from tools import device_run, make_preset

    data = _write_sets(tmp_path / "data", ["T91", "BSD200", "Set5", "Set14", "BSD100", "Urban100"])
    out = str(tmp_path / "out")
    lines = []
    code = device_run.main(["--data-root", data, "--out", out, "--minutes", "5", "--tasks", "presets", "--dry-run",
                            "--concurrency", "inline", "--only", "edsr_baseline_x2", "--work", str(tmp_path / "w"),
                            "--payload", data], log=lines.append)
    assert code == 0, "\n".join(lines)
    assert any(line.startswith("payload carried in:") for line in lines)
    assert any("total training throughput, inline" in line for line in lines)
    assert sorted(os.listdir(out)) == ["factory.json", preset_factory.BUNDLE]
    factory = json.load(open(os.path.join(out, "factory.json")))
    job = factory["jobs"][0]
    assert job["steps"] == 2 and job["command"].startswith("python -m recipes.edsr --scale 2")
    assert {"psnr_fp32", "psnr_fp16", "delta_db"} <= set(job["fp16"])
    folder = str(tmp_path / "presets")
    assert make_preset.main(["--from-run", out, "--data-root", data, "--folder", folder,
                             "--unpack-to", str(tmp_path / "unpacked")]) == 0
    preset = presets.get_preset("edsr_baseline_x2", folder)
    assert set(preset.metrics) == {"Set5", "Set14", "BSD100", "Urban100"}
    meta = json.load(open(os.path.join(folder, "edsr_baseline_x2.json")))
    gpu = meta["training"]["gpu"]
    assert meta["training"]["steps"] == 2 and meta["training"]["command"] == job["command"]
    assert gpu["scored_on_cpu"] == ["BSD100", "Urban100"] and gpu["cpu_evaluate_command"].startswith(
        "python -m tools.evaluate --model")
    assert gpu["device"] == job["device"] and gpu["float16_transport"] == job["fp16"]


def test_payload_counts_what_a_device_call_carries(tmp_path):
    """In a git work tree: tracked + untracked-not-ignored files and the carried `.whl/`, not `build/`."""
    payload_mb = preset_factory.payload_mb
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/build/\n/.whl/\n")
    (tmp_path / "tracked.bin").write_bytes(b"x" * 2**20)
    (tmp_path / "untracked.bin").write_bytes(b"x" * 2**19)
    for folder, size in (("build", 2**22), (".whl", 2**18)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "f.bin").write_bytes(b"x" * size)
    subprocess.run(["git", "-C", str(tmp_path), "add", "tracked.bin", ".gitignore"], check=True)
    expected = (2**20 + 2**19 + 2**18 + len("/build/\n/.whl/\n")) / 2**20
    assert abs(payload_mb([str(tmp_path)]) - expected) < 1e-9
    assert abs(payload_mb([str(tmp_path / "build")]) - 4.0) < 1e-9  # a plain folder counts every file
