"""Checkpoint conversion of Cross-MPI from the official TF1 checkpoints: parity with an independent oracle; errors.

The oracle is tools/torch_cross_mpi_layout.py, a PyTorch Cross-MPI network written from the paper and
the official TF-slim code's structure (`f_extract_net`, `guided_att_hr_syn_net`, `res_fuse_net`) whose
weights are exported under the official variable names (`tf_variables`, HWIO kernels). Random weights
are written as the official `train.py` writes them: a real TF1 checkpoint (`tf.compat.v1` graph +
`tf.compat.v1.train.Saver`, model variables + `global_step`, `model.latest-<step>` in the experiment's
directory, its `checkpoint` file naming an absolute path of another machine), then converted from the
directory.

Compared (float32, CPU, 1e-4 relative): keras-sr's plane sweep differs from the official homography
sweep, so both sides get the same planes: the oracle is fed keras-sr's own `[target | planes]` at HR and
at 1/4 (the official `net_input` / `net_input_lowres` packing, read off the converted model), and its
learned parts are compared: the initial attention (extractor + plane-aware attention + refinement), the
low-res synthesis, the HR attention and synthesis (guided upsampling) and the SR output (fusion).
"""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr.convert import CheckpointMismatch, StateDict, detect, from_checkpoint, read_checkpoint  # noqa: E402
from keras_sr.convert.tf_checkpoint import checkpoint_prefix, is_tf_checkpoint, training_state  # noqa: E402
from keras_sr.models import cross_mpi as cmpi  # noqa: E402
from torch_oracles import load_tool, randomize, nchw, nhwc, report_parity, torch_params  # noqa: E402

RELATIVE = 1e-4
oracle = load_tool("torch_cross_mpi_layout")
EXPERIMENT = "AttentionRefSR_pretrain_hr_syn_guided_nnup_denseASPP_lowres_image_psv_lowresL1_pretrained_plus_fuse_net"
SMALL = dict(num_planes=3, ngf=4, extractor_ngf=8, feature_channels=2, fuse_ngf=4, fuse_blocks=2, res_repeat=2,
             aspp_levels=2)


def _save_tf1(variables, directory, step=302050, foreign_state_file=True):
    """`variables` (name -> array) saved as `train.py` does: `tf.train.Saver(...).save(..., global_step=step)`."""
    tf = pytest.importorskip("tensorflow")
    os.makedirs(directory, exist_ok=True)
    graph = tf.Graph()
    with graph.as_default():
        var_list = [tf.compat.v1.get_variable(name, initializer=tf.constant(value)) for name, value in
                    variables.items()]
        saver = tf.compat.v1.train.Saver(var_list)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            prefix = saver.save(session, os.path.join(directory, "model.latest"), global_step=step)
    if foreign_state_file:  # TF1 records absolute paths: those of the training machine in a released archive
        with open(os.path.join(directory, "checkpoint"), "w") as f:
            f.write(f'model_checkpoint_path: "/media/NASzym/cvpr21/CrossMPI_models/{EXPERIMENT}/'
                    f'model.latest-{step}"\n')
    return prefix


def _official(net):
    return {**oracle.tf_variables(net), "global_step": np.int64(302050)}


def _packed(planes, target, d):
    """keras-sr's folded planes (B * D, H, W, 3) and target -> the official `[target | psv_0 | ...]` NCHW input."""
    b = target.shape[0]
    planes = planes.reshape(b, d, *planes.shape[1:])
    return nchw(np.concatenate([target] + [planes[:, i] for i in range(d)], axis=-1))


def test_cross_mpi_equals_official_layout_from_a_tf1_checkpoint(tmp_path):
    net = randomize(oracle.CrossMPI(**SMALL), 0, gain=1.0)  # visible, unsaturated attention and tanh output
    directory = str(tmp_path / EXPERIMENT)
    prefix = _save_tf1(_official(net), directory)
    assert sorted(os.listdir(directory)) == ["checkpoint", "model.latest-302050.data-00000-of-00001",
                                             "model.latest-302050.index", "model.latest-302050.meta"]
    for path in (directory, prefix, prefix + ".index", prefix + ".data-00000-of-00001"):
        assert is_tf_checkpoint(path) and checkpoint_prefix(path) == prefix
    name, found = detect(directory)
    assert name == "cross_mpi" and found["config"] == dict(scale=8, **SMALL)
    model = from_checkpoint(directory, min_disparity=-1.5, max_disparity=2.5)
    shape = {k: v for k, v in SMALL.items()}
    assert model.count_params() == torch_params(net) == cmpi.official_parameter_count(**shape)[0]

    rng = np.random.default_rng(0)
    # 1/4 of the HR size is 24 x 28: the ASPP's dilation-8 taps fall inside the image
    inputs, (h, w) = cmpi.prepare_inputs(rng.integers(0, 256, (12, 14, 3), dtype=np.uint8),
                                         rng.integers(0, 256, (96, 112, 3), dtype=np.uint8), scale=8)
    assert (h, w) == (96, 112)
    names = ("lr_up_to_signed", "plane_sweep", "lowres_target", "lowres_psv", "init_attention", "hr_attention",
             "hr_syn")
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names]
                        + [cmpi.lowres_synthesis(model), model.output])
    target, planes, target_low, planes_low, init_attention, attention, hr_syn, init_syn, sr = (
        keras.ops.convert_to_numpy(t) for t in probe(inputs))
    d = SMALL["num_planes"]
    folded = planes.reshape(1, d, h, w, 3)
    assert np.abs(folded[:, 1:] - folded[:, :1]).max() > 0.1 and init_attention.std() > 0.05
    with torch.no_grad():
        want = net(_packed(planes, target, d), _packed(planes_low, target_low, d))
    assert float(np.std(sr)) > 5.0 and float(np.mean(np.abs(want["sr_out"].numpy()) > 0.99)) < 0.5
    assert report_parity("cross_mpi initial attention (extractor, plane attention, refinement)", init_attention,
                   nhwc(want["init_attention_map"])) < RELATIVE
    assert report_parity("cross_mpi init_syn (low-res synthesis)", init_syn, nhwc(want["init_syn"])) < RELATIVE
    assert report_parity("cross_mpi HR attention (guided upsampling)", attention,
                         nhwc(want["attention_map"])) < RELATIVE
    assert report_parity("cross_mpi hr_syn", hr_syn, nhwc(want["hr_syn"])) < RELATIVE
    assert report_parity("cross_mpi x8 SR output (fusion)", sr, (nhwc(want["sr_out"]) + 1) * 127.5) < RELATIVE

    # The comparison sees a wrong layout: a stride-2 kernel transposed (h <-> w) moves the HR attention by > 1e-3.
    variables = oracle.tf_variables(net)
    key = "net/guid_lv1_down/weights"
    wrong = from_checkpoint(dict(variables, **{key: np.ascontiguousarray(variables[key].transpose(1, 0, 2, 3))}),
                            min_disparity=-1.5, max_disparity=2.5)
    moved = keras.ops.convert_to_numpy(keras.Model(wrong.inputs, wrong.get_layer("hr_attention").output)(inputs))
    assert np.abs(moved - attention).max() / np.abs(attention).max() > 1e-3

    # keras-sr convert DIR --min-disparity --max-disparity: the same network in a .keras file
    from keras_sr.cli import main

    out = str(tmp_path / "cross_mpi.keras")
    main(["convert", directory, "--min-disparity", "-1.5", "--max-disparity", "2.5", "--out", out])
    saved = keras.saving.load_model(out, compile=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(saved(inputs)), sr, rtol=0, atol=1e-3)


def test_training_state_is_skipped_by_name_and_layout_errors(tmp_path):
    net = randomize(oracle.CrossMPI(**SMALL), 1)
    variables = _official(net)
    # Adam's accumulators and slots, as a checkpoint of all global variables would hold them
    slots = {"beta1_power": np.float32(0.9), "beta2_power": np.float32(0.999),
             "f_extract_net/conv_in/weights/Adam": variables["f_extract_net/conv_in/weights"] * 0,
             "f_extract_net/conv_in/weights/Adam_1": variables["f_extract_net/conv_in/weights"] * 0}
    assert sorted(training_state([*variables, *slots])) == sorted(["global_step", *slots])
    assert training_state(["net/a_out1/weights", "fuse_part/sr_output/biases"]) == []
    prefix = _save_tf1({**variables, **slots}, str(tmp_path / "with_adam"), step=2000, foreign_state_file=False)
    state = read_checkpoint(prefix + ".index")
    assert state.source == prefix and state.meta == {"format": "tf1"}
    assert state.shape("f_extract_net/aspp0/co/weights") == (1, 1, 3 * SMALL["extractor_ngf"], SMALL["extractor_ngf"])
    model = from_checkpoint(state)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("sr_output").kernel),
                                  variables["fuse_part/sr_output/weights"])          # HWIO as stored: no transpose
    assert len(state.used) == len(variables) + len(slots)

    def convert(arrays, source):
        return from_checkpoint(StateDict(arrays, source=source))

    removed, reshaped = "net/a_lv1_res_com1/b1/c2/weights", "fuse_part/conv2_1/b1/c1/biases"
    with pytest.raises(CheckpointMismatch, match=rf"removed: missing key '{removed}'"):
        convert({k: v for k, v in variables.items() if k != removed}, "removed")
    with pytest.raises(CheckpointMismatch, match=rf"renamed: .*{removed}"):
        convert({(k + "_renamed" if k == removed else k): v for k, v in variables.items()}, "renamed")
    with pytest.raises(CheckpointMismatch, match=rf"reshaped: '{reshaped}' converts to shape \(5,\)"):
        convert(dict(variables, **{reshaped: np.zeros((5,), np.float32)}), "reshaped")
    with pytest.raises(CheckpointMismatch, match=r"extra: 1 unused key\(s\): net/color_pred/weights"):
        convert(dict(variables, **{"net/color_pred/weights": np.zeros((1, 1, 3, 3), np.float32)}), "extra")
    with pytest.raises(CheckpointMismatch, match=r"stage: .*without `fuse_part/`.*stage-1 / stage-2"):
        convert({k: v for k, v in variables.items() if not k.startswith("fuse_part/")}, "stage")
    bad = dict(variables, **{"net/guid_lv0_res/in/weights": np.zeros((3, 3, 9, SMALL["ngf"]), np.float32)})
    with pytest.raises(CheckpointMismatch, match=r"takes 9 channels, not 3 \(D \+ 1\) = 12"):
        convert(bad, "planes")
    assert not is_tf_checkpoint(str(tmp_path / "nothing")) and not is_tf_checkpoint(str(tmp_path))


def test_paper_size_detected_from_shapes_only():
    paper = oracle.CrossMPI()
    shapes = {k: np.broadcast_to(np.float32(0), v.shape) for k, v in oracle.tf_variables(paper).items()}
    shapes["global_step"] = np.int64(0)
    assert detect(shapes)[1]["config"] == dict(scale=8, num_planes=32, ngf=64, extractor_ngf=64, feature_channels=8,
                                               fuse_ngf=32, fuse_blocks=6, res_repeat=3, aspp_levels=3)
    # counted from nets.py: extractor 531,656 + attention / guided upsampling 3,126,144 + fusion 149,827
    assert torch_params(paper) == sum(int(np.prod(v.shape)) for k, v in shapes.items() if k != "global_step") \
        == cmpi.official_parameter_count()[0] == 3_807_627
    assert torch_params(paper.f_extract_net) == 531_656 and torch_params(paper.fuse_part) == 149_827
    assert len(shapes) - 1 == 2 * 119  # 119 slim convs (the shared aspp0/co once)
