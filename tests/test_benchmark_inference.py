"""`tools.benchmark inference`: builder keyword arguments in `--model`, and arbitrary-scale (query) models."""

import argparse

import numpy as np
import pytest

from keras_sr.benchmarks import inference as bench

TINY_LIIF = dict(num_blocks=1, filters=4, hidden_units=(8, 8))


def test_model_specs_take_a_variant_or_builder_keywords():
    assert bench.parse_spec("liif") == ("liif", {})
    assert bench.parse_spec("swinir:lightweight") == ("swinir", {"variant": "lightweight"})
    assert bench.parse_spec("liif:encoder=rdn,num_blocks=2,res_scale=0.1,cell_decode=false") == (
        "liif", {"encoder": "rdn", "num_blocks": 2, "res_scale": 0.1, "cell_decode": False})
    with pytest.raises(SystemExit, match="liif:encoder=rdn,2"):
        bench.parse_spec("liif:encoder=rdn,2")


def test_query_models_are_timed_on_the_query_upscalers_grid():
    """The compiled predictor the benchmark times gives the query upscaler's image (same size, same values)."""
    from keras_sr import models
    from keras_sr.models.query_inference import query_upscaler

    model = models.build("liif", **TINY_LIIF)
    lr = np.random.default_rng(0).integers(0, 256, (5, 6, 3)).astype(np.uint8)
    expected = query_upscaler(model, chunk=60)(lr, 3)
    got = bench.query_predictor(model, chunk=60)(lr, 3)  # 540 queries: 9 chunks
    assert got.shape == expected.shape == (15, 18, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)


def test_the_command_times_a_query_model_beside_a_single_image_model(capsys):
    args = bench.add_arguments(argparse.ArgumentParser()).parse_args(
        ["--model", "liif:num_blocks=1,filters=4", "meta_rdn:num_blocks=1,num_layers=1,growth_rate=4,"
         "filters=4,hidden_units=4", "edsr:num_blocks=1,filters=4", "--scale", "2", "--size", "6"])
    bench.run(args)
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| model | parameters | first call (s, 6x6, x2)")
    rows = {line.split(" | ")[0][2:]: line for line in table[1:]}
    assert len(rows) == 3 and rows["edsr:num_blocks=1,filters=4"].split(" | ")[1] == "1,259"
    for row in rows.values():
        first, second = (float(v) for v in row.strip(" |").split(" | ")[2:4])
        assert first > 0 and second >= 0  # two decimals: a tiny model's second call can print 0.00
