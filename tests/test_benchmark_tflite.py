"""`python -m tools.benchmark tflite`: table and JSON structure on a tiny model and a two-image dataset.

No timing is asserted (performance is shown by the benchmark, not tested); latencies must only be finite and
positive. The float variant runs the same math as Keras up to ~1e-4 in 0-255 units, so after rounding to
uint8 its PSNR equals the Keras PSNR within 0.01 dB.
"""

import argparse
import json
import math

import pytest

import keras

from keras_sr import models

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from skimage import data

    from keras_sr.image_io import save_image

    root = tmp_path_factory.mktemp("bench")
    save_image(str(root / "tiny" / "HR" / "a.png"), data.astronaut()[100:151, 180:240])
    save_image(str(root / "tiny" / "HR" / "b.png"), data.chelsea()[50:98, 100:157])
    keras.utils.set_random_seed(0)
    model = models.build("edsr", scale=3, num_blocks=1, filters=8)
    model.save(str(root / "tiny_edsr.keras"))
    return root, model


def _args(root, *extra):
    from keras_sr.benchmarks import tflite

    parser = tflite.add_arguments(argparse.ArgumentParser())
    return parser.parse_args(["--model", str(root / "tiny_edsr.keras"), "--data", str(root / "tiny" / "HR"),
                              "--representative-data", str(root / "tiny" / "HR"), "--representative-samples", "4",
                              "--sizes", "24x16", "--repeats", "2", "--threads", "1", *extra])


def test_benchmark_table_and_json(setup, capsys):
    from keras_sr.benchmarks import tflite
    from keras_sr.evaluation import evaluate_folders
    from keras_sr.models.inference import model_upscaler

    root, model = setup
    json_path = root / "out.json"
    result = tflite.run(_args(root, "--variants", "float", "int8", "--json", str(json_path), "--out", str(root / "x")))
    table = capsys.readouterr().out.strip().splitlines()
    assert table[1] == "| model | variant | size (KB) | tiny PSNR (Δ) | 24x16 (ms) |"
    assert [line.split(" | ")[1] for line in table[3:]] == ["keras", "float", "int8"]
    assert json.loads(json_path.read_text()) == json.loads(json.dumps(result))
    rows = {row["variant"]: row for row in result["rows"]}
    assert result["datasets"] == ["tiny"] and result["sizes"] == ["24x16"] and set(rows) == {"keras", "float", "int8"}
    expected = evaluate_folders(model_upscaler(model), [str(root / "tiny" / "HR")], [3])["tiny"][3]["psnr"]
    assert rows["keras"]["psnr"]["tiny"] == pytest.approx(expected, abs=1e-9)
    assert rows["keras"]["latency_ms"] == {"24x16": None}
    for variant in ("float", "int8"):
        row = rows[variant]
        assert row["model"] == "tiny_edsr" and row["scale"] == 3 and row["channels"] == 3
        assert math.isfinite(row["psnr"]["tiny"]) and 0 < row["latency_ms"]["24x16"] < 60_000
        assert row["psnr_delta"]["tiny"] == pytest.approx(row["psnr"]["tiny"] - expected)
        assert 0 < row["file_kb"] < rows["keras"]["file_kb"]
        assert (root / "x" / "tiny_edsr" / ("model.tflite" if variant == "float" else "model_int8.tflite")).is_file()
    assert abs(rows["float"]["psnr_delta"]["tiny"]) < 0.01
    assert rows["int8"]["file_kb"] < rows["float"]["file_kb"]
    cells = table[5].split(" | ")  # the int8 row: "PSNR (+delta)" and a latency
    assert cells[3] == f"{rows['int8']['psnr']['tiny']:.2f} ({rows['int8']['psnr_delta']['tiny']:+.2f})"


def test_benchmark_bad_arguments(setup):
    from keras_sr.benchmarks import tflite

    root, _ = setup
    with pytest.raises(ValueError, match="expected WIDTHxHEIGHT"):
        tflite.measure(_args(root, "--sizes", "320"))
    args = _args(root)
    args.model = ["no_such_model"]
    with pytest.raises(ValueError, match="'no_such_model': not a .keras file, a preset"):
        tflite.measure(args)
    assert tflite.parse_size("320x180") == (320, 180)  # width x height
    with pytest.raises(ValueError, match="must be positive"):
        tflite.parse_size("0x5")


def test_registered_in_tools_benchmark():
    from tools.benchmark import BENCHMARKS

    assert BENCHMARKS["tflite"][0] == "keras_sr.benchmarks.tflite"
