"""Cross-MPI from the official TensorFlow 1 checkpoints (Mayzazhou/Cross-MPI, `tf.train.Saver`) -> `cross_mpi`.

Zhou, Wu, Fu, Li, Liu, "Cross-MPI: Cross-scale Stereo for Image Super-Resolution using
Multiplane Images", CVPR 2021. Official TF1 / TF-slim code: `crossmpi/nets.py`
(`f_extract_net(dense_res_aspp=True)`, `guided_att_hr_syn_net(nnup=True)`, `res_fuse_net`),
`crossmpi/mpi.py` (`attention_ref_sr`, `train`), `train.py`, `test.py`. The final model is
`which_model_predict=guided_nnup_denseASPP_lowres_image_psv_lowresL1`; its third training stage
(`scripts/train_pretrained.sh`) writes the directory
`AttentionRefSR_pretrain_hr_syn_guided_nnup_denseASPP_lowres_image_psv_lowresL1_pretrained_plus_fuse_net/`
that `scripts/test_testset.sh` restores: `model.latest-<step>.index` / `.data-00000-of-00001` /
`.meta` and a `checkpoint` file (`mpi.py` saves `tf.model_variables() + [global_step]` every 2,000
steps, up to 302,050). The README's "pre-trained cross-mpi model" is a Google Drive link
(`drive.google.com/file/d/16Gobd1moYZIAeyQm9HxFhJ6C3EllPebK`; the archive's file name is not
stated): unpack it and pass the directory (or a `model.latest-<step>` prefix, or its `.index`).
The reader is `keras_sr.convert.tf_checkpoint` (TensorFlow's `tf.train.load_checkpoint`).

Layout (slim scopes; every conv is `<scope>/weights` (kh, kw, in, out), already Keras' HWIO,
assigned without a transpose, and `<scope>/biases`):

    f_extract_net/conv_in, res_in/c{1,2}                 -> feature_extractor conv_in, res_in_c{1,2}
    f_extract_net/module0/aspp{j}/c1d1, c2d4, c3d8       -> feature_extractor aspp{j}_d{1,4,8} (dilation 1, 4, 8)
    f_extract_net/aspp0/co                               -> feature_extractor aspp_co: ONE 1x1 conv shared by the
                                                            ASPP steps (`tf.AUTO_REUSE`), stored once
    f_extract_net/res0/c{1,2}, res0/co, conv_out         -> feature_extractor res0_c{1,2}, res0_co, conv_out
    net/attention_out_{0,1,2}, net/attention_out         -> attention_out_{0,1,2}, attention_out
    net/guid_lv{0,1,2}_res/{in,b{j}/c{1,2,3},out}        -> guid_lv{0,1,2}_{in,b{j}_c{1,2,3},out}
    net/guid_lv{1,2}_down                                -> guid_lv{1,2}_down (stride 2)
    net/a_lv2_res0, a_lv2_res_com2, a_lv1_res_com1, a_lv0_res_com0 (same block layout)
                                                         -> a_lv2_res0, a_lv2_com, a_lv1_com, a_lv0_com
    net/a_out1                                           -> a_out
    fuse_part/in_f_lr, in_f_hr, conv1_1                  -> fuse_in_lr, fuse_in_hr, fuse_conv1
    fuse_part/conv2_1/b{i}/c{1,2}, conv3_2, conv4_1, sr_output -> fuse_b{i}_c{1,2}, fuse_conv3, fuse_conv4, sr_output

Detected from the shapes: `num_planes` (D, `a_out1`'s outputs, checked against the guidance
encoder's 3 (D + 1) inputs), `ngf`, `extractor_ngf`, `feature_channels`, `fuse_ngf`, and from the
scope counts `aspp_levels`, `res_repeat`, `fuse_blocks`. Not in the weights: the scale (official
x8: `scale=8`, `scale_from_weights` False, so a `scale=` override replaces it; the network works
at the HR size either way) and the planes. The official planes are homographies of depths 1 ... 100
(furthest first) from calibrated cameras; keras-sr sweeps rectified stereo by disparity
(`min_disparity` ... `max_disparity`, default 0 ... 64 HR pixels, furthest = smallest disparity
first, the official order): pass the pair's range as overrides.

Checked and skipped by name: TF1 training state by `tf_checkpoint.TRAINING_STATE` (`global_step`,
which the official saver stores; Adam's `beta1_power`, `beta2_power`, `<var>/Adam`, `<var>/Adam_1`
where a checkpoint holds them). A stage-1 / stage-2 checkpoint (`..._pretrain`, `..._pretrained`:
no `fuse_part/`) is refused with that reason; any other extra variable is an unused-key error.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("AttentionRefSR_..._plus_fuse_net/", max_disparity=64.0)  # D 32: 3,807,627
    >>> model.save("cross_mpi_x8.keras")
"""

from keras_sr.convert.registry import CheckpointMismatch, assign, register_converter
from keras_sr.convert.tf_checkpoint import training_state

__all__ = ["detect", "load", "BLOCKS", "EXTRACTOR", "NET", "FUSE"]

EXTRACTOR, NET, FUSE = "f_extract_net", "net", "fuse_part"
# official residue blocks of `guided_att_hr_syn_net` -> keras-sr layer-name prefixes
BLOCKS = {"guid_lv0_res": "guid_lv0", "guid_lv1_res": "guid_lv1", "guid_lv2_res": "guid_lv2",
          "a_lv2_res0": "a_lv2_res0", "a_lv2_res_com2": "a_lv2_com", "a_lv1_res_com1": "a_lv1_com",
          "a_lv0_res_com0": "a_lv0_com"}
_MARKER = f"{EXTRACTOR}/conv_in/weights"


def _count(state, template):
    n = 0
    while state.has(template.format(n)):
        n += 1
    return n


def detect(state):
    if not (state.has(_MARKER) and state.has(f"{NET}/a_out1/weights")):
        return None
    if not state.has(f"{FUSE}/sr_output/weights"):
        raise CheckpointMismatch(f"{state.source}: a Cross-MPI checkpoint without `{FUSE}/` (the fusion network): "
                                 "a stage-1 / stage-2 checkpoint (..._pretrain / ..._pretrained); convert the third "
                                 "stage's ..._plus_fuse_net checkpoint")
    d = state.shape(f"{NET}/a_out1/weights")[3]
    guidance = state.shape(f"{NET}/guid_lv0_res/in/weights")[2]
    if guidance != 3 * (d + 1):
        raise CheckpointMismatch(f"{state.source}: '{NET}/guid_lv0_res/in/weights' takes {guidance} channels, not "
                                 f"3 (D + 1) = {3 * (d + 1)} for D = {d} planes ('{NET}/a_out1/weights')")
    config = {
        "scale": 8,
        "num_planes": d,
        "ngf": state.shape(f"{NET}/attention_out_0/weights")[3],
        "extractor_ngf": state.shape(_MARKER)[3],
        "feature_channels": state.shape(f"{EXTRACTOR}/conv_out/weights")[3],
        "fuse_ngf": state.shape(f"{FUSE}/in_f_lr/weights")[3],
        "fuse_blocks": _count(state, FUSE + "/conv2_1/b{}/c1/weights"),
        "res_repeat": _count(state, NET + "/guid_lv0_res/b{}/c1/weights"),
        "aspp_levels": _count(state, EXTRACTOR + "/module0/aspp{}/c1d1/weights"),
    }
    return {"model": "cross_mpi", "config": config, "scale_from_weights": False}


def _load(layer, state, scope):
    """A slim conv `<scope>/weights` (HWIO, as Keras) and `<scope>/biases` into a Keras Conv2D, shapes checked."""
    assign(layer.kernel, state.take(f"{scope}/weights"), state, f"{scope}/weights")
    assign(layer.bias, state.take(f"{scope}/biases"), state, f"{scope}/biases")


def _block(model, state, official, ours, repeat):
    _load(model.get_layer(f"{ours}_in"), state, f"{NET}/{official}/in")
    for j in range(repeat):
        for c in ("c1", "c2", "c3"):
            _load(model.get_layer(f"{ours}_b{j}_{c}"), state, f"{NET}/{official}/b{j}/{c}")
    _load(model.get_layer(f"{ours}_out"), state, f"{NET}/{official}/out")


def load(model, state, config):
    state.skip(*training_state(state.keys()))
    extractor = model.get_layer("feature_extractor")
    for ours, official in (("conv_in", "conv_in"), ("res_in_c1", "res_in/c1"), ("res_in_c2", "res_in/c2"),
                           ("aspp_co", "aspp0/co"), ("res0_c1", "res0/c1"), ("res0_c2", "res0/c2"),
                           ("res0_co", "res0/co"), ("conv_out", "conv_out")):
        _load(extractor.get_layer(ours), state, f"{EXTRACTOR}/{official}")
    for j in range(int(config["aspp_levels"])):
        for rate, official in ((1, "c1d1"), (4, "c2d4"), (8, "c3d8")):
            _load(extractor.get_layer(f"aspp{j}_d{rate}"), state, f"{EXTRACTOR}/module0/aspp{j}/{official}")

    for name in ("attention_out_0", "attention_out_1", "attention_out_2", "attention_out", "guid_lv1_down",
                 "guid_lv2_down"):
        _load(model.get_layer(name), state, f"{NET}/{name}")
    for official, ours in BLOCKS.items():
        _block(model, state, official, ours, int(config["res_repeat"]))
    _load(model.get_layer("a_out"), state, f"{NET}/a_out1")

    for ours, official in (("fuse_in_lr", "in_f_lr"), ("fuse_in_hr", "in_f_hr"), ("fuse_conv1", "conv1_1"),
                           ("fuse_conv3", "conv3_2"), ("fuse_conv4", "conv4_1"), ("sr_output", "sr_output")):
        _load(model.get_layer(ours), state, f"{FUSE}/{official}")
    for i in range(int(config["fuse_blocks"])):
        for c in ("c1", "c2"):
            _load(model.get_layer(f"fuse_b{i}_{c}"), state, f"{FUSE}/conv2_1/b{i}/{c}")
    return model


register_converter("cross_mpi", detect, load, priority=20)
