"""SRNTT from its official TensorLayer `.npz` files (ZZUTK/SRNTT `upscale.npz` + `srntt.npz`) -> `srntt`.

Zhang, Wang, Lin, Qi, "Image Super-Resolution by Neural Texture Transfer", CVPR 2019; official
TensorFlow 1 + TensorLayer 1.5 code ZZUTK/SRNTT (`SRNTT/model.py` `SRNTT.model` / `train` / `test`,
`SRNTT_MODEL_NAMES`; the bundled `SRNTT/tensorlayer/layers.py` and `files.py`). The README's models
(`SRNTT/models/SRNTT`): `srntt.npz` (trained with all losses), `srntt_init.npz` (reconstruction
loss only: SRNTT-l2 in the paper), with `upscale.npz` (the content extractor) that both need; the
code also names `srntt_weighted.npz` and `discrim.npz`. Each file is `tl.files.save_npz` of one
network's `all_params`: one pickled object array `params`, the variables in creation order
(`keras_sr.convert.reader.read_npz` reads it without running pickle code: keys `params.{i}`).
Pass the files together (`from_checkpoint([...])`, `keras-sr convert A B C`); which file is which is
read from the shapes, in any order:

    upscale.npz (net_upscale, 13 + 10 n arrays; SRGAN's generator layout):
      0, 1          content_extractor/n64s1/c W_conv2d (3, 3, 3, f), b_conv2d  -> content_extractor head
      2 + 10 i ...  n64s1/c1/{i} W (no bias), n64s1/b1/{i} beta gamma moving_mean moving_variance,
                    n64s1/c2/{i} W, n64s1/b2/{i} (4)                           -> block_{i}_conv1/bn1/conv2/bn2
      then          n64s1/c/m W, n64s1/b/m (4)                                 -> body_conv2, body_bn2
      last 6        n256s1/1, n256s1/2 (W, b: f -> 4f), out (1x1, f -> 3)      the x4 pre-training head:
                                                                               shapes checked, skipped
    srntt.npz / srntt_init.npz / srntt_weighted.npz (net_srntt, 29 + 10 (n + n//2 + n//4) arrays):
      per stage small / medium / large (n, n // 2, n // 4 blocks):
                    {stage}/conv1 W (3, 3, f + C, f), b; {stage}/resblock_{i}/conv1, bn1, conv2, bn2;
                    {stage}/conv2 W, {stage}/bn2 (4); {stage}/conv3 W, b (f -> 4f; large: f -> 32)
                                                                               -> texture_transfer {stage}_*
      last 2        out W (1, 1, 32, 3), b                                     -> texture_transfer out
    the VGG19 (matching features, fixed): the official code loads MatConvNet's
      `imagenet-vgg-verydeep-19.mat` (RGB minus the ImageNet mean); keras-sr's VGG19 normalizes as
      torchvision, so its weights come from torchvision's `vgg19-dcbb9e9d.pth` passed in the list
      (`features.{0,2,5,7,10}` loaded, the deeper `features.*` and `classifier.*` marked used; a VGG16
      is refused) or from `vgg_weights=` (a torchvision `.npz`, see `keras_sr.layers.vgg_features`).
      The `.mat` file is not read (its normalization differs, so its matching would not be the
      official one anyway).

TensorFlow's HWIO kernels are Keras' and `tf.depth_to_space` is keras-sr's `DepthToSpace`, so
nothing is permuted. Every array's shape is checked against its role: a mismatch names the file,
the index, the official variable and both shapes. `discrim.npz` (the WGAN-GP critic, training only)
is refused by name. `srntt_weighted.npz` has `srntt.npz`'s layout: the official code builds the
similarity gates (`small/a`, `small/b`, ...) only with `concat=True`, which neither `train` nor
`test` passes, and they are not in `all_params`; so no file holds keras-sr's `weighted=True`
gates and the conversion refuses that override. Detected: n_feats, the content extractor's and the
texture transfer's block counts, the VGG widths.

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint(["upscale.npz", "srntt.npz", "vgg19-dcbb9e9d.pth"])
    >>> model.get_layer("texture_transfer").count_params()     # 2,865,347 + 7,552 BN moving statistics
"""

from keras_sr.convert.c2_matching import check_torchvision_vgg19, load_torchvision_vgg
from keras_sr.convert.registry import CheckpointMismatch, register_converter

__all__ = ["detect", "load", "content_extractor_roles", "texture_transfer_roles", "classify", "tensorlayer_lists",
           "STAGES"]

STAGES = ("small", "medium", "large")
_BN = (("beta", "beta"), ("gamma", "gamma"), ("moving_mean", "moving_mean"), ("moving_variance", "moving_variance"))
FILES = {"content_extractor": "upscale.npz", "texture_transfer": "srntt.npz (or srntt_init.npz / srntt_weighted.npz)"}


def _conv(roles, scope, layer, kh, cin, cout, bias=True):
    roles.append((f"{scope}/W_conv2d", (kh, kh, cin, cout), layer, "kernel"))
    if bias:
        roles.append((f"{scope}/b_conv2d", (cout,), layer, "bias"))


def _bn(roles, scope, layer, f):
    roles.extend((f"{scope}/{name}", (f,), layer, attr) for name, attr in _BN)


def _blocks(roles, count, f, official, keras_name, parts=("conv1", "bn1", "conv2", "bn2")):
    """`count` residual blocks: official scopes `official.format(i=i, part=...)` (`parts`), Keras layers likewise."""
    names = ("conv1", "bn1", "conv2", "bn2")
    for i in range(count):
        scope = [official.format(i=i, part=p) for p in parts]
        layer = [keras_name.format(i=i, part=p) for p in names]
        _conv(roles, scope[0], layer[0], 3, f, f, bias=False)
        _bn(roles, scope[1], layer[1], f)
        _conv(roles, scope[2], layer[2], 3, f, f, bias=False)
        _bn(roles, scope[3], layer[3], f)


def content_extractor_roles(n_feats, blocks):
    """`upscale.npz`'s list: `(official variable, shape, Keras layer or None (head, skipped), weight)` in order."""
    f, roles, s = n_feats, [], "content_extractor/"
    _conv(roles, s + "n64s1/c", "head", 3, 3, f)
    _blocks(roles, blocks, f, s + "n64s1/{part}/{i}", "block_{i}_{part}", parts=("c1", "b1", "c2", "b2"))
    _conv(roles, s + "n64s1/c/m", "body_conv2", 3, f, f, bias=False)
    _bn(roles, s + "n64s1/b/m", "body_bn2", f)
    _conv(roles, s + "n256s1/1", None, 3, f, 4 * f)
    _conv(roles, s + "n256s1/2", None, 3, f, 4 * f)
    _conv(roles, s + "out", None, 1, f, 3)
    return roles


def texture_transfer_roles(n_feats, num_res_blocks, vgg_widths):
    """`srntt.npz`'s list, as `content_extractor_roles` (every entry loaded)."""
    f, roles, s = n_feats, [], "texture_transfer/"
    c1, c2, c3 = vgg_widths
    counts = (num_res_blocks, num_res_blocks // 2, num_res_blocks // 4)
    for stage, channels, count in zip(STAGES, (c3, c2, c1), counts):
        _conv(roles, f"{s}{stage}/conv1", f"{stage}_conv1", 3, f + channels, f)
        _blocks(roles, count, f, f"{s}{stage}/resblock_{{i}}/{{part}}", f"{stage}_resblock_{{i}}_{{part}}")
        _conv(roles, f"{s}{stage}/conv2", f"{stage}_conv2", 3, f, f, bias=False)
        _bn(roles, f"{s}{stage}/bn2", f"{stage}_bn2", f)
        _conv(roles, f"{s}{stage}/conv3", f"{stage}_conv3", 3, f, f // 2 if stage == "large" else 4 * f)
    _conv(roles, s + "out", "out", 1, f // 2, 3)
    return roles


def tensorlayer_lists(state):
    """`[(prefix, source, shapes)]` of the TensorLayer lists in `state` (`reader.read_npz`'s `meta["tensorlayer"]`)."""
    found = []
    for entry in state.meta.get("tensorlayer") or ():
        prefix, count = entry["prefix"], int(entry["count"])
        found.append((prefix, entry["source"], [state.shape(f"{prefix}params.{i}") for i in range(count)]))
    return found


def classify(shapes):
    """"content_extractor", "texture_transfer", "discriminator" or None, from a list's shapes."""
    if not shapes or len(shapes[0]) != 4 or shapes[0][:2] != (3, 3):
        return None
    if any(len(s) == 2 for s in shapes):  # dense layers: the official discriminator
        return "discriminator" if shapes[0][2] == 3 else None
    if len(shapes) < 2 or shapes[1] != (shapes[0][3],):  # the first conv has a bias
        return None
    return "content_extractor" if shapes[0][2] == 3 else "texture_transfer"


def _groups(state):
    groups = {}
    for prefix, source, shapes in tensorlayer_lists(state):
        kind = classify(shapes)
        if kind == "discriminator":
            raise CheckpointMismatch(f"{source}: the SRNTT discriminator (discrim.npz, the adversarial loss's critic, "
                                     "used only in training) is not part of the SR model: leave it out")
        if kind is None:
            continue
        if kind in groups:
            raise CheckpointMismatch(f"{groups[kind][1]} and {source} are both a {kind.replace('_', ' ')}: pass one "
                                     f"{FILES[kind]}")
        groups[kind] = (prefix, source, shapes)
    return groups


def _content_config(source, shapes):
    n_feats, count = shapes[0][3], len(shapes)
    if (count - 13) % 10 or count < 13:
        raise CheckpointMismatch(f"{source}: {count} arrays: a content extractor (upscale.npz) has 13 + 10 x blocks")
    return n_feats, (count - 13) // 10


def _texture_config(source, shapes, n_feats):
    count = len(shapes)
    blocks = next((n for n in range(count) if 29 + 10 * (n + n // 2 + n // 4) == count), None)
    if blocks is None:
        raise CheckpointMismatch(f"{source}: {count} arrays: a texture transfer network (srntt.npz) has "
                                 "29 + 10 x (n + n // 2 + n // 4) for n residual blocks")
    widths = []
    for index, stage in ((18 + 10 * blocks + 10 * (blocks // 2), "large"), (9 + 10 * blocks, "medium"), (0, "small")):
        shape = shapes[index]
        if len(shape) != 4 or shape[2] <= n_feats:
            raise CheckpointMismatch(f"{source}: params.{index} (texture_transfer/{stage}/conv1/W_conv2d) has shape "
                                     f"{shape}, expected (3, 3, {n_feats} + VGG channels, {n_feats})")
        widths.append(shape[2] - n_feats)
    return blocks, tuple(widths)


def detect(state):
    groups = _groups(state)
    if not groups:
        return None
    missing = [FILES[k] for k in ("content_extractor", "texture_transfer") if k not in groups]
    if missing:
        raise CheckpointMismatch(f"{state.source}: SRNTT weights, but the model also needs {' and '.join(missing)}; "
                                 "pass the files together")
    _, source, shapes = groups["content_extractor"]
    n_feats, content_blocks = _content_config(source, shapes)
    _, source, shapes = groups["texture_transfer"]
    if shapes[0][3] != n_feats:
        raise CheckpointMismatch(f"{source}: {shapes[0][3]} features, the content extractor "
                                 f"({groups['content_extractor'][1]}) has {n_feats}")
    num_res_blocks, vgg_widths = _texture_config(source, shapes, n_feats)
    config = {"scale": 4, "num_res_blocks": num_res_blocks, "content_blocks": content_blocks, "n_feats": n_feats,
              "vgg_widths": vgg_widths, "weighted": False}
    found = {"model": "srntt", "config": config}
    if state.has("features.0.weight"):
        check_torchvision_vgg19(state, "SRNTT matches VGG19 features")
    else:
        found["required"] = {"vgg_weights": "SRNTT's matching needs an ImageNet VGG19 (the official code's "
                             "imagenet-vgg-verydeep-19.mat is not read): pass torchvision's vgg19-dcbb9e9d.pth with "
                             "the .npz files, or vgg_weights= a torchvision VGG19 .npz"}
    return found


def _load_list(net, state, prefix, source, roles):
    count = sum(k.startswith(prefix + "params.") for k in state.keys())
    if count != len(roles):
        raise CheckpointMismatch(f"{source}: {count} arrays, the detected configuration's list has {len(roles)}")
    for i, (name, shape, layer, attr) in enumerate(roles):
        value = state.take(f"{prefix}params.{i}")
        if tuple(value.shape) != shape:
            raise CheckpointMismatch(f"{source}: params.{i} ({name}) has shape {tuple(value.shape)}, expected {shape}")
        if layer is None:
            continue
        variable = getattr(net.get_layer(layer), attr)
        if tuple(variable.shape) != shape:
            raise CheckpointMismatch(f"{source}: params.{i} ({name}) has shape {shape} but the Keras weight "
                                     f"{variable.path!r} has shape {tuple(variable.shape)}")
        variable.assign(value)


def load(model, state, config):
    if config.get("weighted"):
        raise CheckpointMismatch(f"{state.source}: weighted=True adds similarity gates (a, b per level) that no "
                                 "official file holds (srntt_weighted.npz has srntt.npz's layout): convert without it")
    groups = _groups(state)
    f = int(config["n_feats"])
    prefix, source, _ = groups["content_extractor"]
    _load_list(model.get_layer("content_extractor"), state, prefix, source,
               content_extractor_roles(f, int(config["content_blocks"])))
    prefix, source, _ = groups["texture_transfer"]
    _load_list(model.get_layer("texture_transfer"), state, prefix, source,
               texture_transfer_roles(f, int(config["num_res_blocks"]), tuple(config["vgg_widths"])))
    if state.has("features.0.weight"):
        load_torchvision_vgg(model.get_layer("vgg19"), state)
    return model


register_converter("srntt", detect, load, priority=20)
