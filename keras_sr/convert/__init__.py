"""Convert released PyTorch checkpoints into registered keras-sr models.

`from_checkpoint(path)` reads a `.pth`/`.pt` (torch, `weights_only=True`),
`.safetensors` (no torch) or `.npz` file (numpy; TensorLayer's `params` lists),
unwraps the usual containers, detects the architecture and its hyperparameters from the keys and shapes (as spandrel
does), builds the registered keras-sr model and assigns every weight. A key that
is missing, mis-shaped or left unused is a `CheckpointMismatch` naming it:
nothing is loaded half-way. The result is an ordinary keras-sr model (save it as
`.keras`, evaluate, upscale, export it).

Supported layouts (one converter module each, see `registry.BUILTIN_CONVERTERS`): EDSR / EDSR-baseline
(EDSR-PyTorch and BasicSR), MDSR, RDN (EDSR-PyTorch), RCAN (official), RRDBNet in the ESRGAN old (`model.0 ...
model.10`; also x8 / x2 / x1 and ESRGAN+), new (`conv_first`/`RRDB_trunk`) and BasicSR (`body`/`rdb1`) layouts
incl. Real-ESRGAN x4plus / x2plus, SRVGGNetCompact (Real-ESRGAN), WDSR-A / -B (wdsr_ntire2018 and the reloaded
ychfan/wdsr), MSRResNet (BasicSR), SwinIR, HAT, TTSR (researchmm/TTSR `TTSR.pt`), C2-Matching
(yumingj/C2-Matching: restoration + feature-extraction files + torchvision VGG19, passed together as a list),
LIIF (yinboc/liif `{'model': {'name', 'args', 'sd'}}`), Meta-RDN (XuecaiHu/Meta-SR-Pytorch `model_1000.pt`),
DASR (`model_600.pt`, BlindSR `G.`/`E.`), SMSR (`model_1000.pt`), ClassSR (`ClassSR_FSRCNN.pth`,
`ClassSR_RCAN.pth`), MASA-SR (`masa_rec.pth`, `masa.pth`), CrossNet (`MultiscaleWarpingNet` state dicts),
DATSR (caojiezhang/DATSR: `restoration_mse.pth` or `restoration_gan.pth` + `feature_extraction.pth` +
torchvision VGG19, a list), RefVAE (Holmes-Alan/RefVAE `ConVAE_8x.pth` / `ConVAE_4x.pth` + `vgg_r41.pth`,
passed together), GLEAN (mmagic's full `glean_*.pth` files) and StyleGAN2 generator files (mmagic, rosinality)
as GLEAN's latent bank; SRNTT's TensorLayer `.npz` files (ZZUTK/SRNTT `upscale.npz` + `srntt.npz` /
`srntt_init.npz` + torchvision VGG19, passed together; `.npz` object arrays are read by a restricted unpickler
that builds numpy arrays only); Cross-MPI (Mayzazhou/Cross-MPI's TF1 `tf.train.Saver` checkpoints
`model.latest-<step>`, read with TensorFlow: `tf_checkpoint`); and, for fine-tuning GANs, the discriminators:
Real-ESRGAN's (`RealESRGAN_x4plus_netD.pth`), ESRGAN's VGG-style one (BasicSR `net_d_*.pth`, old BasicSR
`*_D.pth`) and GLEAN's StyleGAN2 one (the `discriminator.*` of mmagic's GLEAN / StyleGAN2 files:
`from_checkpoint(path, name="stylegan2_discriminator")`).

Example:
    >>> from keras_sr.convert import from_checkpoint
    >>> model = from_checkpoint("EDSR_x4.pt")             # detected: edsr, scale 4, full
    >>> model.save("edsr_x4.keras")
"""

import os

from keras_sr.convert.reader import read_arrays, read_checkpoint, unwrap_state_dict
from keras_sr.convert.registry import (CheckpointMismatch, StateDict, get_converter, list_converters, merge_states,
                                       register_converter)
from keras_sr import models

__all__ = ["CheckpointMismatch", "StateDict", "get_converter", "list_converters", "register_converter", "merge_states",
           "from_checkpoint", "builder_config", "detect", "read_checkpoint", "read_arrays", "unwrap_state_dict"]


def _as_state(checkpoint):
    if isinstance(checkpoint, StateDict):
        return checkpoint
    if isinstance(checkpoint, dict):
        meta = {}
        arrays = unwrap_state_dict(checkpoint, meta=meta)
        return StateDict({k: _numpy(v) for k, v in arrays.items()}, meta=meta)
    if isinstance(checkpoint, (list, tuple)):
        return merge_states([_as_state(part) for part in checkpoint])
    return read_checkpoint(checkpoint)


def _numpy(value):
    return value.detach().cpu().float().numpy() if hasattr(value, "detach") else value


def _describe_keys(state, count=8):
    keys = state.keys()
    return ", ".join(keys[:count]) + (f" ... ({len(keys)} keys)" if len(keys) > count else "")


# keras-sr model names that converters produce under another converter name
MODEL_TO_CONVERTERS = {"rrdbnet": ["esrgan"], "srresnet": ["msrresnet"], "glean": ["glean_full", "stylegan2"]}


def _by_model(name):
    if name in MODEL_TO_CONVERTERS:
        return MODEL_TO_CONVERTERS[name]
    get_converter(name)  # raises, listing the converters
    return [name]


def detect(checkpoint, name=None):
    """`(converter_name, {"model": registered_name, "config": {...}})` for a checkpoint path, dict or StateDict.

    `name` forces one converter (its detection still reads the hyperparameters from the shapes); the keras-sr
    model names `rrdbnet` and `srresnet` name the `esrgan` and `msrresnet` converters.
    """
    state = _as_state(checkpoint)
    names = list_converters() if not name else [name] if name in list_converters() else _by_model(name)
    for converter_name in names:
        found = get_converter(converter_name).detect(state)
        if found is not None:
            return converter_name, found
    if name:
        raise CheckpointMismatch(f"{state.source}: not a {name!r} checkpoint layout (keys: {_describe_keys(state)})")
    raise CheckpointMismatch(f"{state.source}: no converter recognises this checkpoint (keys: {_describe_keys(state)})."
                             f" Converters: {', '.join(list_converters())}; pass name= / --model to force one.")


def from_checkpoint(checkpoint, name=None, **overrides):
    """The registered keras-sr model holding the weights of a PyTorch checkpoint.

    Args:
        checkpoint: a `.pth`/`.pt`/`.safetensors` path, a TF1 checkpoint (prefix, `.index` or directory), a
            state dict, a `StateDict`, or a list of them merged into one (C2-Matching: `[restoration.pth,
            feature_extraction.pth, vgg19.pth]`).
        name: converter name (`list_converters()`; e.g. "edsr", "esrgan") to skip detection.
        **overrides: builder arguments the weights cannot show (e.g. `res_scale` of EDSR, `scale` to take
            one branch of MDSR, `act_type` of a PReLU-free SRVGGNetCompact); they replace the detected values.
            A `scale` that differs from the detected one is an error, unless detection says the weights do
            not show it (`"scale_from_weights": False`, e.g. RefVAE's x8 / x4 files: the same layers).
            A converter's detection may list arguments as `required` (`{name: why}`): without them the
            conversion is refused with that reason, and `aliases` (`{override name: builder argument}`, e.g.
            WDSR's `res_scale` -> `residual_scale`): see `builder_config`.
    """

    state = _as_state(checkpoint)
    converter_name, found = detect(state, name)
    converter = get_converter(converter_name)
    if "scale" in overrides and found["model"] != "mdsr" and "scale" in found["config"] \
            and found.get("scale_from_weights", True) and overrides["scale"] != found["config"]["scale"]:
        raise CheckpointMismatch(f"{state.source}: the weights are a x{found['config'].get('scale')} "
                                 f"{found['model']}, not x{overrides['scale']}")
    missing = [why for key, why in found.get("required", {}).items() if key not in overrides]
    if missing:
        raise CheckpointMismatch(f"{state.source}: " + "; ".join(missing))
    config = builder_config(found, overrides)
    model = models.build(found["model"], **config)
    model = converter.load(model, state, config) or model
    state.check_all_used()
    return model


def builder_config(found, overrides):
    """The builder arguments: the detected config with `overrides` applied, each under the name the detection's
    `aliases` map it to (one override name, e.g. `res_scale` / `--res-scale`, for every family that has it)."""
    aliases = found.get("aliases", {})
    return {**found["config"], **{aliases.get(key, key): value for key, value in overrides.items()}}


def default_output_name(checkpoint):
    """`<checkpoint stem>.keras` beside the current directory (the first file of a list)."""
    if isinstance(checkpoint, (list, tuple)):
        checkpoint = checkpoint[0]
    return os.path.splitext(os.path.basename(os.fspath(checkpoint)))[0] + ".keras"
