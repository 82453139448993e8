"""tools.benchmark quantization: TFLite's per-tensor int8 debugger table and the layer-output simulation."""

import argparse

import numpy as np
import pytest

from keras_sr import models
from keras_sr.image_io import save_image

pytest.importorskip("tensorflow")


def test_debugger_and_simulation_tables(tmp_path):
    from skimage import data

    from keras_sr.benchmarks import quantization

    photo = data.astronaut()
    for i in range(2):
        save_image(str(tmp_path / "hr" / f"h{i}.png"), photo[100 * i:100 * i + 120, 50:170])
    model = models.build("espcn", scale=3, filters=(8, 4))
    model.save(str(tmp_path / "tiny_espcn.keras"))
    args = argparse.Namespace(model=str(tmp_path / "tiny_espcn.keras"), weights=None, data=[str(tmp_path / "hr")],
                              representative_data=[str(tmp_path / "hr")], debug_samples=4)
    result = quantization.measure(args)
    ops = [row["op"] for row in result["debugger"]]
    # TFLite splits Conv2D(activation="tanh") in two: the pre-activation tensor is quantized as well
    assert ops.count("CONV_2D") == 3 and ops.count("TANH") == 2 and "DEPTH_TO_SPACE" in ops
    assert all(np.isfinite(row["mse"]) and row["scale"] > 0 for row in result["debugger"])
    sim = result["simulation"]
    assert set(sim["per_layer"]) == {"to_unit_range", "conv_1", "conv_2", "subpixel_conv", "pixel_shuffle",
                                     "to_pixel_range"}
    assert np.isfinite(sim["float"]) and sim["all"] != 0.0
    text = quantization.format_tables(result)
    assert "| TANH |" in text and "| all of them |" in text
