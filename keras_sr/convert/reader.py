"""Read released checkpoints (`.pth`/`.pt`, `.safetensors`, `.npz`) into a `StateDict` of numpy arrays.

`.pth` / `.pt` / `.ckpt` / `.bin` files are read with `torch.load(weights_only=True)`
(torch is needed only here, and nothing in the file is executed); `.safetensors`
files with the `safetensors` package alone (no torch). The usual training
containers are unwrapped: `params_ema` (preferred, as BasicSR and Real-ESRGAN
inference do), `params`, `state_dict`, `model`, `net`, `generator`, `model_state_dict`
(trainers saving `{"epoch", "model_state_dict", "optimizer_state_dict", ...}`, e.g. ychfan/wdsr), and LIIF's
model spec `{"name", "args", "sd"}` (whose `name`/`args` are kept as
`StateDict.meta["spec"]`); a `module.` prefix (DataParallel) is removed.
TensorFlow 1 `tf.train.Saver` checkpoints (a prefix with its `.index`, one of its
files, or a directory with a `checkpoint` file; `tf_checkpoint`) are read with
TensorFlow, variable names as keys (`scope/conv1/weights`, HWIO kernels as saved),
`StateDict.meta["format"] = "tf1"`.

`.npz` files are read with numpy and no code from the file is run: plain archives of named arrays
(`np.savez(path, **arrays)`) give those names, and TensorLayer's `tl.files.save_npz` files (one entry
`params`, an object array holding the network's `all_params` list in creation order, e.g. SRNTT's
`srntt.npz`) give the keys `params.0`, `params.1`, ... with `StateDict.meta["tensorlayer"]` =
`[{"prefix": "", "source": path, "count": n}]` (`tl.files.save_npz_dict`'s keys `0`, `1`, ... too).
Object arrays need pickle: they are read by `SafeArrayUnpickler`, which builds only numpy arrays and
dtypes (`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`, ...) and refuses any
other global (`os.system`, ...) with an error naming the file; `np.load(allow_pickle=True)` is never used.

Example:
    >>> state = read_checkpoint("RealESRGAN_x4plus.pth")
    >>> state.shape("conv_first.weight")             # (64, 3, 3, 3)
    >>> unwrap_state_dict({"params": {"module.a": t}})  # {"a": t}
"""

import os
import pickle
import zipfile

import numpy as np

from keras_sr.convert.registry import CheckpointMismatch, StateDict, merge_states
from keras_sr.convert.tf_checkpoint import checkpoint_prefix, is_tf_checkpoint, read_tf_checkpoint

__all__ = ["read_checkpoint", "read_arrays", "read_npz", "unwrap_state_dict", "SafeArrayUnpickler", "CONTAINER_KEYS",
           "TORCH_SUFFIXES"]

# Searched in this order: the EMA generator first, as the official inference scripts do.
CONTAINER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "generator", "g_ema", "sd", "model_state_dict")
TORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


def _is_tensor(value):
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _to_numpy(value):
    if isinstance(value, np.ndarray):
        return value
    # a torch tensor: half / bfloat16 have no (or no exact) numpy type, so go through float32
    if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
        value = value.float()
    return value.detach().cpu().numpy()


def unwrap_state_dict(obj, source="<checkpoint>", meta=None):
    """The flat `name -> tensor` mapping inside a checkpoint object (containers unwrapped, `module.` removed).

    `meta`, a dict, receives `"spec": {"name", "args"}` when a LIIF-style model spec holds the tensors.
    """
    seen = []
    while isinstance(obj, dict) and obj and not all(_is_tensor(v) for v in obj.values()):
        key = next((k for k in CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
        if key == "sd" and meta is not None and "name" in obj:
            meta["spec"] = {"name": obj.get("name"), "args": obj.get("args") or {}}
        if key is None:
            tensors = [k for k, v in obj.items() if _is_tensor(v)]
            others = [k for k in obj if k not in tensors]
            raise CheckpointMismatch(
                f"{source}: not a state dict: entries {others[:8]} are not tensors and none of the container keys "
                f"{list(CONTAINER_KEYS)} holds one" + (f" (inside {'/'.join(seen)})" if seen else ""))
        seen.append(key)
        obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise CheckpointMismatch(f"{source}: no tensors found (got {type(obj).__name__})")
    keys = list(obj)
    while keys and all(k.startswith("module.") for k in keys):
        obj = {k[len("module."):]: v for k, v in obj.items()}
        keys = list(obj)
    return obj


def _safetensors_with_torch(path, error):
    """bfloat16 tensors have no numpy type: read through torch when it is installed."""
    try:
        import torch  # noqa: F401
        from safetensors.torch import load_file
    except ImportError:
        raise CheckpointMismatch(f"{path}: cannot read as safetensors with numpy ({error}); bfloat16 files need "
                                 "torch installed") from error
    try:
        return load_file(path, device="cpu")
    except Exception as second:
        raise CheckpointMismatch(f"{path}: cannot read as safetensors: {second}") from second


def _numpy_globals():
    """The globals numpy's own array pickles name (protocols 2 to 5, numpy 1 and 2), resolved here."""
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    import _codecs
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _codecs.encode}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = frombuffer
    return allowed


class SafeArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays (object arrays of arrays included) and nothing else.

    `find_class` returns only numpy's array-reconstruction globals; any other global (`os.system`,
    `builtins.eval`, a class of the writer's program, ...) is a `CheckpointMismatch` naming `source`.
    """

    _ALLOWED = None

    def __init__(self, file, source="<npz>"):
        super().__init__(file, encoding="latin1")  # TensorLayer's files may come from Python 2
        self.source = source
        if SafeArrayUnpickler._ALLOWED is None:
            SafeArrayUnpickler._ALLOWED = _numpy_globals()

    def find_class(self, module, name):
        found = self._ALLOWED.get((module, name))
        if found is None:
            raise CheckpointMismatch(f"{self.source}: refused to unpickle the global {module}.{name}: only numpy "
                                     "arrays are read from .npz files (nothing in the file is executed)")
        return found

    def persistent_load(self, pid):
        raise CheckpointMismatch(f"{self.source}: refused a pickle persistent id: only numpy arrays are read")


def _read_header(f, member, path):
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    raise CheckpointMismatch(f"{path}: {member} is a .npy version {version} entry; versions 1.0 and 2.0 are read")


def _object_entry(zf, member, path):
    """The numeric arrays of an object-array entry, unpickled with `SafeArrayUnpickler` (checked to be arrays)."""
    key = member[:-len(".npy")]
    with zf.open(member) as f:
        _read_header(f, member, path)
        try:
            value = SafeArrayUnpickler(f, source=path).load()
        except CheckpointMismatch:
            raise
        except Exception as error:  # a corrupt or truncated pickle
            raise CheckpointMismatch(f"{path}: cannot read the object array {key}: {error}") from error
    if not isinstance(value, np.ndarray) or value.dtype != object or value.ndim != 1:
        raise CheckpointMismatch(f"{path}: {key} is not a list of arrays (got {type(value).__name__})")
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, np.ndarray) or item.dtype.kind not in "fiub":
            raise CheckpointMismatch(f"{path}: {key}[{i}] is not a numeric array (got {type(item).__name__})")
    return items


def read_npz(path, meta=None):
    """`name -> array` of a `.npz` file: named arrays, or a TensorLayer `params` list as `params.{i}`.

    `meta` (a dict) receives `"tensorlayer": [{"prefix": "", "source": path, "count": n}]` for a list file.
    """
    path = os.fspath(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise CheckpointMismatch(f"{path}: not a .npz (zip) archive: {error}") from error
    arrays, lists = {}, {}
    with zf:
        for member in zf.namelist():
            if not member.endswith(".npy"):
                raise CheckpointMismatch(f"{path}: unexpected entry {member!r} (a .npz holds .npy entries)")
            key = member[:-len(".npy")]
            with zf.open(member) as f:
                _, _, dtype = _read_header(f, member, path)
            if dtype.hasobject:
                lists[key] = _object_entry(zf, member, path)
            else:
                with zf.open(member) as f:
                    arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
    if lists:
        if set(lists) != {"params"} or arrays:
            raise CheckpointMismatch(f"{path}: object arrays {sorted(lists)} beside {sorted(arrays)[:4]}: only "
                                     "TensorLayer's single `params` list (tl.files.save_npz) is read")
        items = lists["params"]
    elif arrays and all(k.isdigit() for k in arrays):  # tl.files.save_npz_dict: "0", "1", ...
        order = sorted(arrays, key=int)
        if [int(k) for k in order] != list(range(len(order))):
            raise CheckpointMismatch(f"{path}: numbered entries {order[:8]}... are not 0, 1, 2, ...")
        items = [arrays[k] for k in order]
    else:
        if not arrays:
            raise CheckpointMismatch(f"{path}: no arrays found")
        return arrays
    if meta is not None:
        meta["tensorlayer"] = [{"prefix": "", "source": path, "count": len(items)}]
    return {f"params.{i}": a for i, a in enumerate(items)}


def read_arrays(path, meta=None):
    """`name -> numpy array` of the checkpoint file at `path` (containers unwrapped; `meta` as `unwrap_state_dict`)."""
    path = os.fspath(path)
    if is_tf_checkpoint(path):
        if meta is not None:
            meta["format"] = "tf1"
        return read_tf_checkpoint(path)[0]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    lower = path.lower()
    if lower.endswith(".npz"):
        return read_npz(path, meta)
    if lower.endswith(".safetensors"):
        try:
            from safetensors import safe_open
        except ImportError as error:
            raise ImportError(f"{path}: reading .safetensors needs the safetensors package "
                              "(pip install safetensors)") from error
        try:
            with safe_open(path, framework="numpy") as f:
                raw = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as error:  # safetensors raises its own error types for corrupt headers / bf16
            raw = _safetensors_with_torch(path, error)
    elif lower.endswith(TORCH_SUFFIXES):
        try:
            import torch
        except ImportError as error:
            raise ImportError(f"{path}: reading PyTorch checkpoints needs torch (pip install torch); "
                              ".safetensors files need only the safetensors package") from error
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # pickle errors, unsafe globals refused by weights_only, zip errors
            raise CheckpointMismatch(f"{path}: torch.load(weights_only=True) failed: {error}") from error
    else:
        raise ValueError(f"{path}: unknown checkpoint type; expected one of "
                         f"{', '.join(TORCH_SUFFIXES + ('.safetensors', '.npz'))}")
    state = unwrap_state_dict(raw, source=path, meta=meta)
    return {k: _to_numpy(v) for k, v in state.items()}


def read_checkpoint(path):
    """The checkpoint at `path` as a `StateDict` whose errors name the file.

    A list or tuple of paths is read file by file and merged (`registry.merge_states`): C2-Matching's
    released weights are three files.
    """
    if isinstance(path, (list, tuple)):
        return merge_states([read_checkpoint(p) for p in path])
    meta = {}
    arrays = read_arrays(path, meta)
    source = checkpoint_prefix(path) if meta.get("format") == "tf1" else os.fspath(path)  # a TF1 one: its prefix
    return StateDict(arrays, source=source, meta=meta)
