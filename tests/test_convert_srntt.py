"""Checkpoint conversion of SRNTT's official TensorLayer `.npz` files: parity with the official layout; errors.

The oracle is tools/torch_srntt_layout.py, a PyTorch content extractor (with its x4 pre-training head)
and texture transfer network written from the official structure (ZZUTK/SRNTT `SRNTT/model.py`),
whose parameters are exported in TensorLayer's `all_params` order and layouts (HWIO kernels, BN beta /
gamma / moving mean / moving variance) and saved as `tl.files.save_npz` does (`np.savez(params=<object
array>)`): `upscale.npz` and `srntt.npz`, with a torchvision-layout VGG19 `.pth`. Random weights (BN
statistics too), tiny widths; compared (float32, CPU, 1e-4 relative):

* the keras-sr VGG19 relu1_1 / relu2_1 / relu3_1 of the LR-up image against the torchvision-layout VGG19;
* the whole model's SR output against the PyTorch content extractor + texture transfer given the same
  LR and the same swapped texture maps (keras-sr's `patch_swap` outputs: the swap has no weights);
* the content extractor's features.

Also: the reader refuses a malicious pickle; the files in any order; a removed / reshaped entry, a
discriminator, a missing file, two texture files, a VGG16; the paper-size config detected from shapes
only and the official parameter count.
"""

import os
import pickle
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import keras  # noqa: E402

from keras_sr.convert import CheckpointMismatch, StateDict, detect, from_checkpoint, read_checkpoint  # noqa: E402
from torch_oracles import load_tool, randomize, nchw, nhwc, report_parity  # noqa: E402

RELATIVE = 1e-4
ref = load_tool("torch_srntt_layout")
F, CONTENT_BLOCKS, BLOCKS, WIDTHS = 8, 2, 4, (4, 8, 16)


def _size(params):
    return sum(int(np.prod(p.shape)) for p in params)


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """Random oracle networks saved as the official files: (folder, content extractor, texture transfer, vgg)."""
    folder = tmp_path_factory.mktemp("srntt")
    content = randomize(ref.ContentExtractor(F, CONTENT_BLOCKS), 0, batch_norm_statistics=True)
    texture = randomize(ref.TextureTransfer(F, BLOCKS, WIDTHS), 1, batch_norm_statistics=True)
    vgg = randomize(ref.vgg19_features(WIDTHS + (16, 16)), 2)
    ref.save_tensorlayer_npz(str(folder / "upscale.npz"), content.tensorlayer_params())
    ref.save_tensorlayer_npz(str(folder / "srntt.npz"), texture.tensorlayer_params())
    torch.save({f"features.{k}": v for k, v in vgg.state_dict().items()}, str(folder / "vgg19-dcbb9e9d.pth"))
    return folder, content, texture, vgg


def _files(folder, *names):
    return [str(folder / n) for n in names]


def test_reader_reads_tensorlayer_lists_and_refuses_a_malicious_pickle(tmp_path):
    params = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(3, np.float32), np.zeros((2, 3), np.float32)]
    ref.save_tensorlayer_npz(str(tmp_path / "tl.npz"), params)
    state = read_checkpoint(str(tmp_path / "tl.npz"))
    assert state.keys() == ["params.0", "params.1", "params.2"]
    assert [state.shape(k) for k in state.keys()] == [(2, 3), (3,), (2, 3)]  # equal shapes not stacked
    assert np.array_equal(state.peek("params.0"), params[0])
    assert state.meta["tensorlayer"] == [{"prefix": "", "source": str(tmp_path / "tl.npz"), "count": 3}]
    np.savez(str(tmp_path / "named.npz"), **{"features.0.weight": np.ones((4, 3, 3, 3), np.float32)})
    assert read_checkpoint(str(tmp_path / "named.npz")).keys() == ["features.0.weight"]
    np.savez(str(tmp_path / "numbered.npz"), **{"1": np.ones(2), "0": np.zeros(3)})  # tl.files.save_npz_dict
    assert [read_checkpoint(str(tmp_path / "numbered.npz")).shape(f"params.{i}") for i in (0, 1)] == [(3,), (2,)]

    # as numpy 1.x wrote it (the official files: `numpy.core.multiarray`), pickle protocol 2 (bytes via _codecs)
    listed = np.empty(2, dtype=object)
    listed[0], listed[1] = params[0], params[1]
    payload = pickle.dumps(listed, protocol=2).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in payload and b"_codecs" in payload
    with zipfile.ZipFile(str(tmp_path / "numpy1.npz"), "w") as zf, zf.open("params.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": (2,)})
        f.write(payload)
    state = read_checkpoint(str(tmp_path / "numpy1.npz"))
    assert np.array_equal(state.peek("params.0"), params[0]) and state.shape("params.1") == (3,)

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    evil = np.empty(2, dtype=object)
    evil[0], evil[1] = np.ones(2, np.float32), Evil()
    np.savez(str(tmp_path / "evil.npz"), params=evil)
    with pytest.raises(CheckpointMismatch, match=r"evil\.npz: refused to unpickle the global (posix|nt|os)\.system"):
        read_checkpoint(str(tmp_path / "evil.npz"))
    assert not marker.exists()
    strings = np.empty(1, dtype=object)
    strings[0] = "text"
    np.savez(str(tmp_path / "strings.npz"), params=strings)
    with pytest.raises(CheckpointMismatch, match=r"strings\.npz: params\[0\] is not a numeric array"):
        read_checkpoint(str(tmp_path / "strings.npz"))


def test_srntt_equals_official_layout(official, tmp_path):
    from keras_sr.models.srntt import prepare_inputs

    folder, content, texture, vgg = official
    files = _files(folder, "srntt.npz", "vgg19-dcbb9e9d.pth", "upscale.npz")  # any order
    name, found = detect(files)
    assert name == "srntt" and found["config"] == dict(scale=4, num_res_blocks=BLOCKS, content_blocks=CONTENT_BLOCKS,
                                                       n_feats=F, vgg_widths=WIDTHS, weighted=False)
    model = from_checkpoint(files, chunk_size=64)
    content_params, texture_params = content.tensorlayer_params(), texture.tensorlayer_params()
    head = _size(content_params[-6:])  # the x4 pre-training head: checked and skipped
    assert model.get_layer("content_extractor").count_params() == _size(content_params) - head
    assert model.get_layer("texture_transfer").count_params() == _size(texture_params)
    assert model.get_layer("content_extractor").count_params() + model.get_layer("texture_transfer").count_params() \
        == sum(p.numel() for p in content.parameters()) - head + sum(p.numel() for p in texture.parameters()) \
        + sum(b.numel() for n, b in list(content.named_buffers()) + list(texture.named_buffers())
              if n.endswith(("running_mean", "running_var")))

    rng = np.random.default_rng(0)
    refs = [rng.uniform(0, 255, (48, 48, 3)), rng.uniform(0, 255, (40, 44, 3))]
    inputs = prepare_inputs(rng.uniform(0, 255, (12, 12, 3)), refs)
    with torch.no_grad():
        want_vgg = ref.vgg19_relu_features(vgg, nchw(inputs["lr_up"]))
    for level, (g, w) in enumerate(zip(model.get_layer("vgg19")(inputs["lr_up"]), want_vgg)):
        assert report_parity(f"srntt vgg19 relu{level + 1}_1", keras.ops.convert_to_numpy(g), nhwc(w)) < RELATIVE

    probe = keras.Model(model.input, [*model.get_layer("patch_swap").output[:3], model.output])
    t_lv3, t_lv2, t_lv1, got = (keras.ops.convert_to_numpy(t) for t in probe(inputs))
    features = keras.ops.convert_to_numpy(model.get_layer("content_extractor")(inputs["lr"] / 127.5 - 1.0))
    assert float(np.abs(t_lv1).max()) > 0
    lr = nchw(inputs["lr"]) / 127.5 - 1.0  # the official input: patch / 127.5 - 1
    with torch.no_grad():
        want_features, _ = content(lr)
        want = texture(want_features, [nchw(t) for t in (t_lv3, t_lv2, t_lv1)])
    assert report_parity("srntt content extractor", features, nhwc(want_features)) < RELATIVE
    want = (nhwc(want) + 1.0) * 127.5
    assert report_parity("srntt x4 (texture transfer of keras-sr's swapped maps)", got, want) < RELATIVE


def test_srntt_conversion_errors(official, tmp_path):
    folder, content, texture, vgg = official
    params = texture.tensorlayer_params()

    def save(name, arrays):
        ref.save_tensorlayer_npz(str(tmp_path / name), arrays)
        return str(tmp_path / name)

    upscale, torchvision = _files(folder, "upscale.npz", "vgg19-dcbb9e9d.pth")
    removed = save("removed.npz", params[:40] + params[41:])
    with pytest.raises(CheckpointMismatch, match=rf"removed\.npz: {len(params) - 1} arrays: a texture transfer"):
        from_checkpoint([upscale, removed, torchvision])
    reshaped = list(params)
    reshaped[17] = np.zeros((3, 3, F, F + 1), np.float32)
    with pytest.raises(CheckpointMismatch, match=r"reshaped\.npz: params\.17 \(texture_transfer/small/resblock_1/"
                                                 r"conv2/W_conv2d\) has shape \(3, 3, 8, 9\), expected \(3, 3, 8, 8\)"):
        from_checkpoint([upscale, save("reshaped.npz", reshaped), torchvision])
    head = list(content.tensorlayer_params())
    head[-2] = np.zeros((1, 1, F, 4), np.float32)  # the skipped x4 head is still checked
    with pytest.raises(CheckpointMismatch, match=r"head\.npz: params\.\d+ \(content_extractor/out/W_conv2d\)"):
        from_checkpoint([save("head.npz", head), str(folder / "srntt.npz"), torchvision])
    srntt = str(folder / "srntt.npz")
    discrim = save("discrim.npz", [np.zeros(s, np.float32) for s in ref.discriminator_param_shapes(4, 32)])
    with pytest.raises(CheckpointMismatch, match=r"discrim\.npz: the SRNTT discriminator .* leave it out"):
        from_checkpoint([upscale, srntt, discrim, torchvision])
    with pytest.raises(CheckpointMismatch, match=r"also needs upscale\.npz"):
        from_checkpoint([srntt, torchvision])
    with pytest.raises(CheckpointMismatch, match=r"srntt\.npz and .*init\.npz are both a texture transfer"):
        from_checkpoint([upscale, srntt, save("srntt_init.npz", params), torchvision])
    with pytest.raises(CheckpointMismatch, match=r"imagenet-vgg-verydeep-19\.mat is not read"):
        from_checkpoint([upscale, srntt])
    vgg16 = {k: v for k, v in torch.load(torchvision).items() if int(k.split(".")[1]) <= 28}
    torch.save(vgg16, str(tmp_path / "vgg16.pth"))
    with pytest.raises(CheckpointMismatch, match=r"not a torchvision VGG19"):
        from_checkpoint([upscale, srntt, str(tmp_path / "vgg16.pth")])
    with pytest.raises(CheckpointMismatch, match=r"weighted=True adds similarity gates"):
        from_checkpoint([upscale, srntt, torchvision], weighted=True)
    extra = dict(torch.load(torchvision), **{"surplus.weight": torch.zeros(2)})
    torch.save(extra, str(tmp_path / "extra.pth"))
    with pytest.raises(CheckpointMismatch, match=r"1 unused key\(s\): surplus\.weight"):
        from_checkpoint([upscale, srntt, str(tmp_path / "extra.pth")])
    # without the torchvision file, vgg_weights= (a torchvision .npz) gives the VGG19
    np.savez(str(tmp_path / "vgg19.npz"), **{k: v.numpy() for k, v in torch.load(torchvision).items()})
    model = from_checkpoint([upscale, srntt], vgg_weights=str(tmp_path / "vgg19.npz"), chunk_size=64)
    assert np.array_equal(keras.ops.convert_to_numpy(model.get_layer("vgg19").convs["conv2_1"].kernel),
                          vgg[5].weight.detach().numpy().transpose(2, 3, 1, 0))


def test_srntt_paper_size_detected_from_shapes():
    from keras_sr.models.srntt import official_parameter_count

    def shapes_only(name, params):
        arrays = {f"params.{i}": np.broadcast_to(np.float32(0), p.shape) for i, p in enumerate(params)}
        return StateDict(arrays, source=name, meta={"tensorlayer": [{"prefix": "", "source": name,
                                                                      "count": len(params)}]})

    content, texture = ref.ContentExtractor(), ref.TextureTransfer()
    vgg = {f"features.{k}": np.broadcast_to(np.float32(0), tuple(v.shape))
           for k, v in ref.vgg19_features().state_dict().items()}
    content_params, texture_params = content.tensorlayer_params(), texture.tensorlayer_params()
    assert (len(content_params), len(texture_params)) == (173, 309)  # the official all_params lists
    parts = [shapes_only("upscale.npz", content_params), shapes_only("srntt.npz", texture_params),
             StateDict(vgg, source="vgg19-dcbb9e9d.pth")]
    assert detect(parts)[1]["config"] == dict(scale=4, num_res_blocks=16, content_blocks=16, n_feats=64,
                                              vgg_widths=(64, 128, 256), weighted=False)
    # Counted from the official SRNTT.model (64 features, 16 + 16/8/4 blocks): trainable 1,222,528 (content
    # extractor) + 2,865,347 (texture transfer) + the x4 head's 295,619 that only pre-training uses.
    trainable = sum(p.numel() for p in content.parameters()) + sum(p.numel() for p in texture.parameters())
    assert trainable == official_parameter_count(upscale_head=True) == 4_087_875 + 295_619
    moving = 2 * 64 * (33 + 59)  # BN moving statistics, in the files too
    assert _size(content_params) + _size(texture_params) == 4_087_875 + 295_619 + moving
