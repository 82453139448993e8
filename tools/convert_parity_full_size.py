"""Full-size conversion parity of TTSR, C2-Matching, DATSR, LIIF and Meta-RDN (a check, not a unit test: ~2 min of CPU).

`tests/test_convert_refsr.py` compares tiny configurations. This script builds the official
layouts at their papers' sizes (`tools/torch_refsr_layouts.py`, `tools/torch_datsr_layout.py`,
`tools/torch_arbitrary_scale_layouts.py`)
with random weights, converts them with `keras_sr.convert.from_checkpoint` and prints the largest
relative difference of the outputs on small random inputs, plus the parameter counts.

For TTSR it also reports how many hard-attention indices differ and the top-2 relevance gap there:
at full width (256 relu3_1 channels) random features give near-ties whose gap is at float32
resolution, where keras-sr (`q . k / |k|`, chunked) and PyTorch (`normalize(q) . normalize(k)`)
may pick different patches. It then compares with a fixed correspondence: keras-sr's transfer with
PyTorch's indices, and keras-sr's main network on PyTorch's `S`, `T_lv3`, `T_lv2`, `T_lv1`.

Example:
    $ python -m tools.convert_parity_full_size
    ttsr whole model: rel ...; indices differing: 3 of 100 (top-2 gap there <= 1.0e-06)
    ttsr main network on PyTorch's S and T (fixed correspondence): rel ...
"""

import argparse
import sys

import numpy as np

from keras_sr.convert import from_checkpoint

__all__ = ["main"]


def _randomize(net, seed, gain=0.5):
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=generator) * gain / np.sqrt(p[0].numel()))
    return net.eval()


def _rel(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


def _nchw(x, scale, offset):
    import torch

    return torch.from_numpy(x.transpose(0, 3, 1, 2) * scale + offset)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def check_ttsr(rng, size):
    import keras
    import torch
    import torch.nn.functional as F

    from keras_sr.layers.texture_transformer import transfer_patches
    from tools import torch_refsr_layouts as ref

    net = _randomize(ref.TTSR(), 1)
    model = from_checkpoint({k: v for k, v in net.state_dict().items()})
    shapes = {"lr": size, "lr_up": 4 * size, "ref": 4 * size, "ref_down_up": 4 * size}
    x = {k: rng.uniform(0, 255, (1, s, s, 3)).astype("float32") for k, s in shapes.items()}
    t = {k: _nchw(v, 1 / 127.5, -1.0) for k, v in x.items()}
    got = keras.ops.convert_to_numpy(model(x))
    with torch.no_grad():
        want = (_nhwc(net(t["lr"], t["lr_up"], t["ref"], t["ref_down_up"])) + 1.0) * 127.5
        _, _, q = net.LTE((t["lr_up"] + 1) / 2)
        _, _, k = net.LTE((t["ref_down_up"] + 1) / 2)
        v1, v2, v3 = net.LTE((t["ref"] + 1) / 2)
        s, t3, t2, t1 = ref.search_transfer(q, k, v1, v2, v3)
        relevance = torch.bmm(F.normalize(F.unfold(k, 3, padding=1), dim=1).transpose(1, 2),
                              F.normalize(F.unfold(q, 3, padding=1), dim=1))[0]
        top = relevance.topk(2, dim=0)
    torch_index = top.indices[0].numpy()
    gap = (top.values[0] - top.values[1]).numpy()
    lte, transformer = model.get_layer("lte"), model.get_layer("texture_transformer")
    keras_index, _ = transformer.relevance(lte(x["lr_up"])[2], lte(x["ref_down_up"])[2])
    differ = torch_index != keras.ops.convert_to_numpy(keras_index)[0]
    note = f" (top-2 gap there <= {gap[differ].max():.1e})" if differ.any() else ""
    print(f"ttsr whole model: rel {_rel(got, want):.2g}; indices differing: {int(differ.sum())} of {differ.size}{note}"
          f"; {model.count_params():,} parameters")
    fixed = torch.from_numpy(torch_index)[None]
    for level, values, factor, expected in ((3, v3, 1, t3), (2, v2, 2, t2), (1, v1, 4, t1)):
        mine = transfer_patches(_nhwc(values), fixed, (size, size), (size, size), factor, "constant")
        print(f"ttsr T_lv{level} with PyTorch's indices: rel {_rel(keras.ops.convert_to_numpy(mine), _nhwc(expected)):.2g}")
    main_net = model.get_layer("main_net")
    with torch.no_grad():
        want_main = _nhwc(net.MainNet(t["lr"], s, t3, t2, t1))
    got_main = keras.ops.convert_to_numpy(main_net([x["lr"] / 127.5 - 1.0, _nhwc(s), _nhwc(t3), _nhwc(t2),
                                                    _nhwc(t1)]))
    print(f"ttsr main network on PyTorch's S and T (fixed correspondence): rel {_rel(got_main, want_main):.2g}")


def _check_matching_refsr(label, net, rng, size):
    """A C2-Matching-style network (restoration + extractor + VGG19 files) as a whole model, on random images."""
    import keras
    import torch

    model = from_checkpoint([{k: v for k, v in m.state_dict().items()} for m in (net.restoration, net.extractor,
                                                                                net.vgg)])
    shapes = {"lr": size, "lr_up": 4 * size, "ref": 4 * size}
    x = {k: rng.uniform(0, 255, (1, s, s, 3)).astype("float32") for k, s in shapes.items()}
    t = {k: _nchw(v, 1 / 255.0, 0.0) for k, v in x.items()}
    with torch.no_grad():
        want = _nhwc(net(t["lr"], t["lr_up"], t["ref"])) * 255.0
    print(f"{label}: rel {_rel(keras.ops.convert_to_numpy(model(x)), want):.2g}; {model.count_params():,} parameters")


def check_c2_matching(rng, size):
    from tools import torch_refsr_layouts as ref

    _check_matching_refsr("c2_matching whole model", _randomize(ref.C2Matching(), 2), rng, size)


def check_datsr(rng, size):
    """DATSR at the paper size (18,026,971 official restoration parameters): LR rounded up to a multiple of 8."""
    from tools import torch_datsr_layout as ref

    size = -(-size // 8) * 8  # the 8x8 attention windows at LR size
    _check_matching_refsr(f"datsr whole model (LR {size}x{size})", _randomize(ref.DATSR(), 5), rng, size)


def check_arbitrary_scale(rng, size):
    import keras
    import torch

    from keras_sr.layers.coordinate_sampling import make_cell, make_coord
    from tools import torch_arbitrary_scale_layouts as ref

    x = rng.uniform(0, 255, (1, size, size + 2, 3)).astype("float32")
    out_h, out_w = int(2.5 * size), int(2.5 * (size + 2))
    coord = keras.ops.convert_to_numpy(make_coord(out_h, out_w))[None]
    cell = keras.ops.convert_to_numpy(make_cell(out_h, out_w))[None]
    for encoder in ("edsr-baseline", "rdn"):
        net = _randomize(ref.LIIF(encoder), 3)
        model = from_checkpoint(net.spec())
        with torch.no_grad():
            want = (net(_nchw(x, 2 / 255.0, -1.0), torch.from_numpy(coord), torch.from_numpy(cell)).numpy() * 0.5
                    + 0.5) * 255.0
        print(f"liif {encoder} x2.5: rel {_rel(keras.ops.convert_to_numpy(model([x, coord, cell])), want):.2g}; "
              f"{model.count_params():,} parameters")
    net = _randomize(ref.MetaRDN(), 4)
    model = from_checkpoint({k: v for k, v in net.state_dict().items()})
    with torch.no_grad():
        want = net(_nchw(x, 1.0, 0.0), 2.5).numpy().transpose(0, 2, 3, 1).reshape(1, -1, 3)
    print(f"meta_rdn x2.5: rel {_rel(keras.ops.convert_to_numpy(model([x, coord, cell])), want):.2g}; "
          f"{model.count_params():,} parameters")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools.convert_parity_full_size", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10, help="LR height (and width) of the random inputs (even)")
    args = parser.parse_args(argv)
    if args.size % 2 or args.size < 4:
        raise SystemExit(f"error: --size must be an even number >= 4, got {args.size}")
    rng = np.random.default_rng(0)
    check_ttsr(rng, args.size)
    check_c2_matching(rng, args.size)
    check_datsr(rng, args.size)
    check_arbitrary_scale(rng, args.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
