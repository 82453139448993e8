"""keras-sr's layers import only downward: a check over the whole import graph, parsed with `ast`.

The layers (README "Architecture"), bottom to top:

0   protocol: numpy-level imresize, color, metrics, cropping, image_io, degradation, fileio
1   layers (1.0) -> models (1.1) -> data (1.2): RefSR input preparation lives with the
    models (`keras_sr.models.refsr_inputs`, each model's `prepare_inputs`); data may
    import models, never the reverse
2   upscalers (any model reference -> `upscale(lr, ref=None)`) and scoring (takes an
    upscaler, never imports `keras_sr.models`); export and tiled inference use upscalers
3   training code (training core, tuning, benchmarks)
4   CLIs: `keras_sr.cli`, the evaluate/upscale commands, `keras_sr.training.cli`, recipes, tools

Every import of a keras-sr module, at module level or inside a function, must go to
the same or a lower layer, and the graph must have no cycle. Imports under
`if __name__ == "__main__":` are not counted: they run only when the file is the
program itself, never when it is imported. A submodule's import of its own parent
package (e.g. `keras_sr.models.presets` -> `keras_sr.models`, the registry) is not an
edge: Python has always initialised the parent before the child.

Function-local imports of keras-sr modules are allowed when they keep a heavy package
out of the importer's import: the imported module imports (at module level, itself
or through keras-sr modules) Keras, TensorFlow, JAX, torch or another package of
HEAVY that the importer does not. Everything else is imported at module level, so a
function-local import can no longer hide a cycle. The exceptions are listed in
ALLOWED_LOCAL with their reason.
"""

import ast
import os
import sys

from conftest import REPO_ROOT

# Repository folder -> package (setup.py's package_dir).
PACKAGE_DIRS = {"keras_sr": "keras_sr", "layers": "keras_sr.layers", "recipes": "keras_sr.recipes",
                "tfrecords": "keras_sr.tfrecords", "tools": "tools"}

# Module prefix -> layer; the longest matching prefix wins.
LAYERS = {
    "keras_sr": 0, "keras_sr.color": 0, "keras_sr.cropping": 0, "keras_sr.imresize": 0, "keras_sr.metrics": 0,
    "keras_sr.image_io": 0, "keras_sr.degradation": 0, "keras_sr.fileio": 0, "keras_sr.torch_backend_fixes": 0,
    "keras_sr.arbitrary_scale": 0, "keras_sr.png_stream": 0, "keras_sr.data_errors": 0,
    "keras_sr.row_writer": 0, "keras_sr.tiff_stream": 0,
    "keras_sr.blur_kernels": 0,  # blind-SR blur kernels + degradation (DASR's training data, --degradation)
    "keras_sr.quality": 0,  # IFC / NIQE / LPIPS: numpy metrics (LPIPS runs keras.ops, imported lazily)
    "keras_sr.layers": 1.0, "keras_sr.keras_metrics": 1.0,
    "keras_sr.models": 1.1, "keras_sr.convert": 1.1,
    "keras_sr.data": 1.2, "keras_sr.tfrecords": 1.2,
    "keras_sr.degradations": 1.2,  # Real-ESRGAN's degradation data stage (numpy / Pillow host, keras.ops device)
    "keras_sr.upscalers": 2.0, "keras_sr.diffusion": 2.0, "keras_sr.scoring": 2.0, "keras_sr.results_table": 2.0,
    "keras_sr.testing": 2.0,  # the test harness: builds, fits and saves registered models
    # Former homes that only re-export (nothing in keras-sr imports them; checked below).
    "keras_sr.models.inference": 2.0, "keras_sr.refsr_evaluation": 2.0,
    "keras_sr.benchmarks.published": 2.0,  # the published tables (data), read by results_table
    "keras_sr.tiled_inference": 2.1, "keras_sr.dynamic_inference": 2.1, "keras_sr.streamed_upscale": 2.1, "keras_sr.export": 2.1, "keras_sr.export.cli": 4,
    "keras_sr.analysis": 2.1,  # LAM: gradients of any model, on an upscaler-level model object
    "keras_sr.convert.preset": 4, "keras_sr.convert.cli": 4,  # presets from checkpoints score them; the CLI
    "keras_sr.training": 3, "keras_sr.benchmarks": 3,
    "keras_sr.export.quantization_aware": 3,  # quantization-aware fine-tuning trains (training.losses)
    "keras_sr.cli": 4, "keras_sr.tuning": 4, "keras_sr.evaluation": 4, "keras_sr.upscale_cli": 4, "keras_sr.training.cli": 4,
    "keras_sr.recipes": 4, "tools": 4,
}
PROTOCOL = 0
CLI = 4
COMPAT_ALIASES = ("keras_sr.models.inference", "keras_sr.refsr_evaluation")

# Third-party packages a keras-sr module may keep out of its importers with a function-local import.
HEAVY = ("keras", "tensorflow", "jax", "torch", "tensorflow_datasets", "tf2onnx", "onnxruntime", "keras_tuner",
         "ai_edge_litert", "spandrel", "safetensors", "h5py", "skimage", "PIL", "scipy")

# (importer, imported): function-local imports of keras-sr modules kept for a reason other than HEAVY.
ALLOWED_LOCAL = {
    # `keras_sr.upscale` is a lazy attribute of the package (PEP 562 __getattr__): `import keras_sr` stays
    # numpy-only, and the package's own layer is the protocol.
    ("keras_sr", "keras_sr.tiled_inference"),
    # The registry imports a model family's module the first time its name is asked for (BUILTIN_MODULES,
    # through importlib, so not an edge here) and the torch fixes then, so `import keras_sr.models` is
    # registry-only.
    ("keras_sr.models", "keras_sr.torch_backend_fixes"),
    # `models.from_checkpoint` is a convenience door into keras_sr.convert (a layer beside the models that
    # builds them): imported when called, so the registry never loads the converters.
    ("keras_sr.models", "keras_sr.convert"),
}

# Modules whose function-local imports are not checked (none: the training core and the recipes were sorted
# into "heavy" and "needless" too, and the needless ones moved to module level).
LOCAL_IMPORTS_UNCHECKED = ()

# Upward imports that remain, each with the change that removes it. The test fails on any other. (None since
# the training core moved the GAN and RefSR recipe entry points into the recipe CLI.)
KNOWN_UPWARD = set()


def _module_name(path):
    rel = os.path.relpath(path, REPO_ROOT)
    top, _, rest = rel.partition(os.sep)
    parts = [PACKAGE_DIRS[top]] + (rest[:-3].split(os.sep) if rest else [])
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules():
    modules = {}
    for top in PACKAGE_DIRS:
        for folder, dirs, files in os.walk(os.path.join(REPO_ROOT, top)):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__"))]
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(folder, f)
                    modules[_module_name(path)] = path
    return modules


MODULES = _modules()


def _is_main_guard(node):
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators))


def _nearest_module(name):
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _resolve(importer, node):
    """The keras-sr modules (in MODULES) and the top-level third-party packages an import statement names.

    `from keras_sr import models` names the module `keras_sr.models`; `from keras_sr.models import
    register` names `keras_sr.models` (a name in it, not a module).
    """
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = importer if MODULES[importer].endswith("__init__.py") else importer.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    internal, external = set(), set()
    for name in targets:
        if name.split(".")[0] in ("keras_sr", "tools"):
            module = _nearest_module(name)
            if module:
                internal.add(module)
        else:
            external.add(name.split(".")[0])
    return internal, external


def _imports(module):
    """`[(imported_module_or_package, is_local, is_external, line)]` of one file."""
    tree = ast.parse(open(MODULES[module], encoding="utf-8").read())
    found = []

    def visit(node, local):
        for child in ast.iter_child_nodes(node):
            if _is_main_guard(child):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                internal, external = _resolve(module, child)
                found.extend((m, local, False, child.lineno) for m in internal if m != module)
                found.extend((m, local, True, child.lineno) for m in external)
            visit(child, local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


IMPORTS = {module: _imports(module) for module in MODULES}


def _is_ancestor(package, module):
    return module.startswith(package + ".")


def _edges(module, local=None):
    return {m for m, is_local, external, _ in IMPORTS[module]
            if not external and not _is_ancestor(m, module) and (local is None or is_local == local)}


def layer(module):
    matches = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"{module}: no layer in tests/test_layering.py LAYERS; add its package there.")
    return LAYERS[max(matches, key=len)]


def _module_level_heavy():
    """module -> the HEAVY packages its import pulls in (module-level imports, through keras-sr modules too)."""
    cache = {}

    def heavy(module, stack=()):
        if module in cache:
            return cache[module]
        if module in stack:
            return set()
        own = {m for m, local, external, _ in IMPORTS[module] if external and not local and m in HEAVY}
        for m in _edges(module, local=False):
            own |= heavy(m, stack + (module,))
        for ancestor in [p for p in MODULES if _is_ancestor(p, module)]:
            own |= heavy(ancestor, stack + (module,))
        cache[module] = own
        return own

    return {module: heavy(module) for module in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer(module)


def test_imports_only_go_down():
    upward = []
    for module in MODULES:
        for imported, local, external, line in IMPORTS[module]:
            if external or _is_ancestor(imported, module) or (module, imported) in ALLOWED_LOCAL | KNOWN_UPWARD:
                continue
            if layer(imported) > layer(module):
                upward.append(f"{MODULES[module]}:{line}: {module} (layer {layer(module)}) imports {imported} "
                              f"(layer {layer(imported)})")
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_no_import_cycle():
    graph = {m: {t for t in _edges(m) if (m, t) not in ALLOWED_LOCAL | KNOWN_UPWARD} for m in MODULES}
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = "done"

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_function_local_imports_only_keep_heavy_packages_out():
    heavy = _module_level_heavy()
    needless = []
    for module in MODULES:
        if module.startswith(LOCAL_IMPORTS_UNCHECKED):
            continue
        for imported, local, external, line in IMPORTS[module]:
            if not local or external or _is_ancestor(imported, module) or (module, imported) in ALLOWED_LOCAL:
                continue
            if not heavy[imported] - heavy[module]:
                needless.append(f"{MODULES[module]}:{line}: {module} imports {imported} inside a function; "
                                f"it keeps nothing heavy out ({sorted(heavy[imported]) or 'numpy only'}): import it "
                                "at module level")
    assert not needless, "\n".join(needless)


def test_scoring_never_imports_models():
    reached, todo = set(), ["keras_sr.scoring"]
    while todo:
        module = todo.pop()
        for imported in _edges(module):
            if imported not in reached:
                reached.add(imported)
                todo.append(imported)
    assert not [m for m in reached if m == "keras_sr.models" or m.startswith("keras_sr.models.")], sorted(reached)


def test_protocol_layer_is_numpy_level():
    heavy = _module_level_heavy()
    for module in MODULES:
        if layer(module) == PROTOCOL:
            assert not heavy[module] & {"keras", "tensorflow", "jax", "torch"}, (module, heavy[module])


def test_argparse_only_in_clis():
    for module in MODULES:
        if any(m == "argparse" for m, _, external, _ in IMPORTS[module] if external):
            assert layer(module) == CLI, f"{MODULES[module]}: argparse outside a CLI module ({module})"


def test_compat_aliases_are_not_imported_inside_keras_sr():
    for module in MODULES:
        for alias in COMPAT_ALIASES:
            assert alias not in _edges(module) or module in COMPAT_ALIASES, f"{module} imports {alias}"


def test_light_modules_import_without_keras():
    """The protocol, scoring, upscalers, the evaluate command and the registry load without Keras/TensorFlow."""
    import subprocess

    modules = ["keras_sr", "keras_sr.scoring", "keras_sr.upscalers", "keras_sr.evaluation", "keras_sr.models"]
    code = (f"import sys, {', '.join(modules)}; heavy = {{'keras', 'tensorflow', 'jax', 'torch'}} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, timeout=120)
