"""Packaging guard rails: the wheel holds only keras_sr; mapped folders are never imported bare."""

import ast
import os
import re
import subprocess
import sys
import zipfile


from conftest import REPO_ROOT

MAPPED = {"layers", "recipes", "tfrecords"}
SOURCE_DIRS = ["keras_sr", "layers", "recipes", "tfrecords", "tools", "tests"]


def python_files():
    for top in SOURCE_DIRS:
        for root, _, files in os.walk(os.path.join(REPO_ROOT, top)):
            for f in files:
                if f.endswith(".py"):
                    yield os.path.join(root, f)
    for f in os.listdir(REPO_ROOT):
        if f.endswith(".py"):
            yield os.path.join(REPO_ROOT, f)


def imported_modules(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level


def test_no_bare_imports_of_mapped_folders():
    offenders = []
    for path in python_files():
        for module, level in imported_modules(path):
            if level == 0 and module.split(".")[0] in MAPPED:
                offenders.append(f"{os.path.relpath(path, REPO_ROOT)} imports {module}")
    assert not offenders, offenders


def test_no_relative_imports_in_package_code():
    offenders = []
    for path in python_files():
        rel = os.path.relpath(path, REPO_ROOT)
        if rel.split(os.sep)[0] in MAPPED | {"keras_sr"}:
            offenders += [f"{rel}: from {'.' * level}{module}" for module, level in imported_modules(path) if level > 0]
    assert not offenders, offenders


def test_tests_live_only_under_tests():
    strays = [os.path.relpath(p, REPO_ROOT) for p in python_files()
              if re.match(r"(test_.*|.*_test)\.py$", os.path.basename(p)) and os.path.relpath(p, REPO_ROOT).split(os.sep)[0] != "tests"]
    assert not strays, strays


def test_explicit_package_list_names_every_package_folder():
    setup_src = open(os.path.join(REPO_ROOT, "setup.py"), encoding="utf-8").read()
    listed = set(re.findall(r'"(keras_sr(?:\.\w+)*)"', setup_src))
    expected = set()
    for top, package in (("keras_sr", "keras_sr"), ("layers", "keras_sr.layers"), ("recipes", "keras_sr.recipes"), ("tfrecords", "keras_sr.tfrecords")):
        for root, dirs, files in os.walk(os.path.join(REPO_ROOT, top)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            if "__init__.py" in files:
                rel = os.path.relpath(root, os.path.join(REPO_ROOT, top))
                expected.add(package if rel == "." else package + "." + rel.replace(os.sep, "."))
    assert expected <= listed, f"missing from setup.py PACKAGES: {sorted(expected - listed)}"


def test_importing_keras_sr_does_not_import_tensorflow():
    code = "import sys, keras_sr, keras_sr.models, keras_sr.evaluation; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_installed_mapping_works_from_anywhere():
    code = "import keras_sr.layers, keras_sr.recipes, keras_sr.tfrecords; print(keras_sr.layers.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert out.returncode == 0, out.stderr


def test_wheel_contains_only_keras_sr(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), REPO_ROOT],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = [f for f in os.listdir(tmp_path) if f.endswith(".whl")]
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"keras_sr"}
    for sub in ("keras_sr/layers/__init__.py", "keras_sr/recipes/__init__.py", "keras_sr/tfrecords/__init__.py", "keras_sr/models/__init__.py"):
        assert sub in names
