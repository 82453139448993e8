import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT, shared_dataset
from keras_sr.evaluation import bicubic_upscaler, dataset_name, degrade, evaluate_folders, format_table
from keras_sr.image_io import ImageError, list_images, load_image
from keras_sr.imresize import imresize
from keras_sr.metrics import psnr, ssim


@pytest.fixture
def hr_folder(tmp_path, natural_image):
    folder = tmp_path / "Tiny" / "HR"
    folder.mkdir(parents=True)
    Image.fromarray(natural_image[:130, :121]).save(folder / "a.png")
    Image.fromarray(natural_image[200:290, 250:347]).save(folder / "b.png")
    return folder


def test_protocol_by_hand(hr_folder):
    results = evaluate_folders(bicubic_upscaler, [str(hr_folder)], [3])
    assert list(results) == ["Tiny"]
    r = results["Tiny"][3]
    assert r["n_images"] == 2
    hr = np.asarray(Image.open(hr_folder / "a.png"))[:129, :120]  # modcrop 3
    sr = imresize(imresize(hr, 1 / 3), 3)
    assert r["images"][0]["psnr"] == pytest.approx(psnr(sr, hr, 3))
    assert r["images"][0]["ssim"] == pytest.approx(ssim(sr, hr, 3))
    assert r["psnr"] == pytest.approx(np.mean([i["psnr"] for i in r["images"]]))
    assert "| Tiny | " in format_table(results)


def test_degrade_modcrops_first(natural_image):
    hr, lr = degrade(natural_image[:101, :98], 4)
    assert hr.shape == (100, 96, 3) and lr.shape == (25, 24, 3) and lr.dtype == np.uint8


def test_dataset_names():
    assert dataset_name("/x/Set5/HR") == "Set5"
    assert dataset_name("/x/Urban100/") == "Urban100"


def run_tool(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, "-m", "tools.evaluate", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_cli_writes_json(hr_folder, tmp_path):
    out = tmp_path / "eval.json"
    proc = run_tool("--model", "bicubic", "--scale", "2", "4", "--data", str(hr_folder), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "| Tiny |" in proc.stdout
    data = json.loads(out.read_text())
    assert set(data["Tiny"]) == {"2", "4"}
    assert set(data["Tiny"]["4"]) == {"psnr", "ssim", "n_images"}
    direct = evaluate_folders(bicubic_upscaler, [str(hr_folder)], [4])["Tiny"][4]
    assert data["Tiny"]["4"]["psnr"] == pytest.approx(direct["psnr"])


def test_console_script_subcommand(hr_folder):
    proc = subprocess.run([sys.executable, "-m", "keras_sr.cli", "evaluate", "--scale", "2", "--data", str(hr_folder), "--rgb", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "on RGB" in proc.stdout


# --- inputs: documented conversions and clear errors -------------------------------------


def test_grayscale_rgba_16bit_are_converted(tmp_path, natural_image):
    gray = natural_image[..., 1]
    Image.fromarray(gray).save(tmp_path / "g.png")
    rgba = np.concatenate([natural_image, np.full(natural_image.shape[:2] + (1,), 7, np.uint8)], -1)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    Image.fromarray(natural_image).convert("P").save(tmp_path / "p.png")
    g = load_image(tmp_path / "g.png")
    assert g.shape == natural_image.shape[:2] + (3,) and (g == gray[..., None]).all()
    np.testing.assert_array_equal(load_image(tmp_path / "rgba.png"), natural_image)
    np.testing.assert_array_equal(load_image(tmp_path / "g16.png"), g)
    assert load_image(tmp_path / "p.png").shape == natural_image.shape


def test_exif_orientation_is_applied(tmp_path, natural_image):
    img = Image.fromarray(natural_image[:40, :60])
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    assert load_image(tmp_path / "r.jpg").shape == (60, 40, 3)


def test_bad_inputs_name_the_file(tmp_path, natural_image):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    (tmp_path / "notes.jpg").write_text("not an image")
    for name, words in (("empty.png", "0 bytes"), ("corrupt.png", "corrupt"), ("notes.jpg", "corrupt")):
        with pytest.raises(ImageError, match=name) as info:
            load_image(tmp_path / name)
        assert words in str(info.value)
    with pytest.raises(ImageError, match="missing.png"):
        load_image(tmp_path / "missing.png")
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(ImageError, match="no images found"):
        list_images(empty)


def test_truncated_file_and_too_small_image(tmp_path, natural_image):
    folder = tmp_path / "Set" / "HR"
    folder.mkdir(parents=True)
    Image.fromarray(natural_image[:14, :40]).save(folder / "small.png")
    with pytest.raises(ImageError, match=r"small\.png.*too small"):
        evaluate_folders(bicubic_upscaler, [str(folder)], [4])
    Image.fromarray(natural_image).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png"):
        load_image(tmp_path / "cut.png")


def test_cli_reports_bad_folder_without_traceback(tmp_path):
    empty = tmp_path / "Empty"
    empty.mkdir()
    proc = run_tool("--scale", "2", "--data", str(empty))
    assert proc.returncode == 2
    assert "no images found" in proc.stderr and "Traceback" not in proc.stderr


# --- the published bicubic table (when the shared benchmark data is present) ------------

PUBLISHED_SET5 = {2: (33.66, 0.9299), 3: (30.39, 0.8682), 4: (28.42, 0.8104)}


def test_reproduces_published_bicubic_set5():
    results = evaluate_folders(bicubic_upscaler, [shared_dataset("Set5")], [2, 3, 4])["Set5"]
    for scale, (p, s) in PUBLISHED_SET5.items():
        assert abs(results[scale]["psnr"] - p) <= 0.02
        assert abs(results[scale]["ssim"] - s) <= 0.002
