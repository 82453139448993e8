"""The converter registry: PyTorch state-dict layouts -> registered keras-sr models.

A converter module knows one family's official checkpoint layout. It registers a
`Converter` with two functions:

- `detect(state) -> dict | None`: given a `StateDict` (read-only use: `keys()`,
  `shape(key)`, `has(key)`), return `{"model": registered_model_name, "config":
  {...builder kwargs...}}` when the keys and shapes are this family's layout (the
  hyperparameters read from the shapes, as spandrel does), else `None`. A detected `scale` that
  the weights cannot show (RefVAE's x8 and x4 files are the same layers) is marked
  `"scale_from_weights": False`: `from_checkpoint` then lets a `scale` override replace it.
- `load(model, state, config)`: assign every weight of the built `model` from
  `state` through `state.take(key)` (which marks the key as used and returns a
  float32 numpy array in PyTorch's layout). Helpers below convert layouts
  (`conv_kernel`, `dense_kernel`) and assign them with shape checks (`load_conv`,
  `assign`). `load` may return another model than the one it was given (MDSR
  returns one scale's branch of the model it loaded); `None` means `model`.
  `StateDict.peek(key)` reads a value during detection without marking it used.

`keras_sr.convert.from_checkpoint` builds the model, calls `load`, then
`state.check_all_used()`: a key that no converter took is an error naming it, so
nothing is ever loaded silently half-way.

Example:
    >>> @register_converter("edsr", priority=10)
    ... def _(): ...
"""

import importlib

import numpy as np

__all__ = ["Converter", "register_converter", "get_converter", "list_converters", "StateDict",
           "CheckpointMismatch", "conv_kernel", "conv_transpose_kernel", "dense_kernel", "BUILTIN_CONVERTERS",
           "assign", "load_conv", "load_dense", "load_batch_norm", "indices", "merge_states"]

# architecture name -> module that registers its converter. Add a line for every converter module.
BUILTIN_CONVERTERS = {
    "edsr": "keras_sr.convert.edsr",
    "mdsr": "keras_sr.convert.mdsr",
    "rdn": "keras_sr.convert.rdn",
    "rcan": "keras_sr.convert.rcan",
    "esrgan": "keras_sr.convert.rrdbnet",
    "msrresnet": "keras_sr.convert.srresnet",
    "swinir": "keras_sr.convert.swinir",
    "hat": "keras_sr.convert.hat",
    "srvgg_compact": "keras_sr.convert.srvgg",
    "unet_discriminator_sn": "keras_sr.convert.unet_discriminator",
    "esrgan_discriminator": "keras_sr.convert.esrgan_discriminator",
    "stylegan2_discriminator": "keras_sr.convert.stylegan2_discriminator",
    "stylegan2": "keras_sr.convert.stylegan2",
    "glean_full": "keras_sr.convert.glean",
    "dasr": "keras_sr.convert.dasr",
    "smsr": "keras_sr.convert.smsr",
    "classsr": "keras_sr.convert.classsr",
    "ttsr": "keras_sr.convert.ttsr",
    "c2_matching": "keras_sr.convert.c2_matching",
    "masa_sr": "keras_sr.convert.masa_sr",
    "crossnet": "keras_sr.convert.crossnet",
    "datsr": "keras_sr.convert.datsr",
    "liif": "keras_sr.convert.liif",
    "meta_rdn": "keras_sr.convert.meta_sr",
    "wdsr": "keras_sr.convert.wdsr",
    "refvae": "keras_sr.convert.refvae",
    "cross_mpi": "keras_sr.convert.cross_mpi",
    "srntt": "keras_sr.convert.srntt",
}

_CONVERTERS = {}


class CheckpointMismatch(ValueError):
    """A checkpoint does not fit the architecture: names the missing, unused or mis-shaped keys."""


class Converter:
    """`detect(state) -> {"model", "config"} | None` and `load(model, state, config)` for one layout."""

    def __init__(self, name, detect, load, priority=0):
        self.name, self.detect, self.load, self.priority = name, detect, load, priority

    def __repr__(self):
        return f"Converter({self.name!r})"


def register_converter(name, detect, load, priority=0):
    """Register the converter `name` (higher `priority` is tried first by detection)."""
    if name in _CONVERTERS and _CONVERTERS[name].load is not load:
        raise ValueError(f"Converter {name!r} is already registered.")
    _CONVERTERS[name] = Converter(name, detect, load, priority)
    return _CONVERTERS[name]


def _import_all():
    for module in BUILTIN_CONVERTERS.values():
        importlib.import_module(module)


def get_converter(name):
    """The converter registered as `name` (imports the built-in converter modules first)."""
    _import_all()
    if name not in _CONVERTERS:
        raise ValueError(f"No converter for {name!r}. Converters: {', '.join(list_converters())}.")
    return _CONVERTERS[name]


def list_converters():
    """Converter names, highest detection priority first."""
    _import_all()
    return [c.name for c in sorted(_CONVERTERS.values(), key=lambda c: (-c.priority, c.name))]


class StateDict:
    """A PyTorch state dict as numpy arrays, recording which keys a converter used.

    `source` names the file in every error message. `meta` holds what a container said besides the
    tensors (e.g. LIIF's `{"name": "liif", "args": {...}}` model spec), for detection.
    """

    def __init__(self, arrays, source="<state dict>", meta=None):
        self._arrays = {k: np.asarray(v) for k, v in arrays.items()}
        self.source = source
        self.meta = dict(meta or {})
        self.used = set()

    def keys(self):
        return list(self._arrays)

    def has(self, key):
        return key in self._arrays

    def shape(self, key):
        if key not in self._arrays:
            raise CheckpointMismatch(f"{self.source}: missing key {key!r}")
        return tuple(self._arrays[key].shape)

    def peek(self, key):
        """The tensor `key` as float32 without marking it used (for detection, e.g. a constant's value)."""
        if key not in self._arrays:
            raise CheckpointMismatch(f"{self.source}: missing key {key!r}")
        return self._arrays[key].astype(np.float32)

    def take(self, key, shape=None):
        """The tensor `key` as float32, marked used; `shape` (PyTorch layout) is checked when given."""
        if key not in self._arrays:
            raise CheckpointMismatch(f"{self.source}: missing key {key!r}")
        value = self._arrays[key]
        if shape is not None and tuple(value.shape) != tuple(shape):
            raise CheckpointMismatch(f"{self.source}: {key!r} has shape {tuple(value.shape)}, expected {tuple(shape)}")
        self.used.add(key)
        return value.astype(np.float32)

    def skip(self, *keys):
        """Mark buffers the Keras model does not need (e.g. `num_batches_tracked`) as used."""
        for key in keys:
            if key in self._arrays:
                self.used.add(key)

    def check_all_used(self):
        unused = sorted(set(self._arrays) - self.used)
        if unused:
            shown = ", ".join(unused[:10]) + (f" (and {len(unused) - 10} more)" if len(unused) > 10 else "")
            raise CheckpointMismatch(f"{self.source}: {len(unused)} unused key(s): {shown}")


def merge_states(states):
    """One `StateDict` of several files (e.g. C2-Matching's restoration + feature-extraction + VGG19 files).

    A key in two files is a `CheckpointMismatch` naming both; `source` reads "a.pth + b.pth". Ordered
    parameter lists (`meta["tensorlayer"]`, TensorLayer `.npz` files: `params.{i}`) of several files become
    `npz{n}.params.{i}` (n: the file's position), their entries in `meta["tensorlayer"]` saying which file each is.
    """
    states = list(states)
    if len(states) == 1:
        return states[0]
    arrays, owner, meta, lists = {}, {}, {}, []
    several_lists = sum(bool(s.meta.get("tensorlayer")) for s in states) > 1
    for number, state in enumerate(states):
        rename = {}
        for entry in state.meta.get("tensorlayer") or ():
            # ordered lists (TensorLayer `params.{i}`) of several files are kept apart as `npz{number}.params.{i}`
            prefix = f"npz{number}." + entry["prefix"] if several_lists else entry["prefix"]
            lists.append(dict(entry, prefix=prefix))
            rename[entry["prefix"]] = prefix
        for key in state.keys():
            old = next((p for p in rename if key.startswith(p + "params.")), None)
            new = key if old is None else rename[old] + key[len(old):]
            if new in arrays:
                raise CheckpointMismatch(f"{owner[new]} and {state.source} both hold {new!r}: pass each part once")
            arrays[new] = state._arrays[key]
            owner[new] = state.source
        meta.update({k: v for k, v in state.meta.items() if k != "tensorlayer"})
    if lists:
        meta["tensorlayer"] = lists
    return StateDict(arrays, source=" + ".join(s.source for s in states), meta=meta)


def conv_kernel(weight):
    """PyTorch Conv2d weight (out, in, kh, kw) -> Keras Conv2D kernel (kh, kw, in, out)."""
    return np.transpose(weight, (2, 3, 1, 0))


def conv_transpose_kernel(weight):
    """PyTorch ConvTranspose2d weight (in, out, kh, kw) -> Keras Conv2DTranspose kernel (kh, kw, out, in).

    Keras' transposed convolution does not flip the kernel relative to PyTorch's; padding must match.
    """
    return np.transpose(weight, (2, 3, 1, 0))


def dense_kernel(weight):
    """PyTorch Linear weight (out, in) -> Keras Dense kernel (in, out)."""
    return np.transpose(weight, (1, 0))


def load_dense(layer, state, prefix):
    """Load PyTorch Linear `{prefix}.weight` (transposed) / `{prefix}.bias` into a Keras `Dense`."""
    assign(layer.kernel, dense_kernel(state.take(f"{prefix}.weight")), state, f"{prefix}.weight")
    if layer.use_bias:
        assign(layer.bias, state.take(f"{prefix}.bias"), state, f"{prefix}.bias")


def load_batch_norm(layer, state, prefix, folded_bias=None):
    """Load PyTorch `BatchNorm*d` `{prefix}.weight / .bias / .running_mean / .running_var` into a Keras
    `BatchNormalization` (`num_batches_tracked` skipped by name).

    `folded_bias`: the bias of a conv right before the norm, folded into the moving mean (`running_mean - b`;
    exact: batch norm removes a constant shift, and PyTorch gives that bias no gradient).
    """
    assign(layer.gamma, state.take(f"{prefix}.weight"), state, f"{prefix}.weight")
    assign(layer.beta, state.take(f"{prefix}.bias"), state, f"{prefix}.bias")
    mean = state.take(f"{prefix}.running_mean")
    assign(layer.moving_mean, mean if folded_bias is None else mean - folded_bias, state, f"{prefix}.running_mean")
    assign(layer.moving_variance, state.take(f"{prefix}.running_var"), state, f"{prefix}.running_var")
    state.skip(f"{prefix}.num_batches_tracked")


def indices(state, prefix, suffix=""):
    """Sorted integer indices `i` of the keys `f"{prefix}{i}.{...}{suffix}"` (e.g. blocks of an `nn.Sequential`)."""
    found = set()
    for key in state.keys():
        if key.startswith(prefix) and key.endswith(suffix):
            head = key[len(prefix):].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def assign(variable, value, state, key):
    """Set a Keras variable from a converted numpy array; a shape difference is a `CheckpointMismatch` naming `key`."""
    if tuple(variable.shape) != tuple(value.shape):
        raise CheckpointMismatch(f"{state.source}: {key!r} converts to shape {tuple(value.shape)} but the Keras "
                                 f"weight {variable.path!r} has shape {tuple(variable.shape)}")
    variable.assign(value.astype(np.float32))


def load_conv(layer, state, prefix, out_permutation=None, in_permutation=None):
    """Load PyTorch `{prefix}.weight` / `{prefix}.bias` into a Keras `Conv2D` (or a layer with kernel/bias).

    `out_permutation` / `in_permutation` reorder output / input channels (Keras index k takes PyTorch index
    p[k]), e.g. `pytorch_to_dcr_permutation` for a convolution before a pixel shuffle.
    """
    kernel = conv_kernel(state.take(f"{prefix}.weight"))
    if out_permutation is not None:
        kernel = kernel[..., out_permutation]
    if in_permutation is not None:
        kernel = kernel[:, :, in_permutation, :]
    assign(layer.kernel, kernel, state, f"{prefix}.weight")
    if layer.use_bias if hasattr(layer, "use_bias") else layer.bias is not None:
        bias = state.take(f"{prefix}.bias")
        if out_permutation is not None:
            bias = bias[out_permutation]
        assign(layer.bias, bias, state, f"{prefix}.bias")
