"""benchmarks/heldout.py: scores a weight file with train.py's own validation, and a bad file is one
error line (exit 2) before any table is printed."""
import subprocess
import sys
from pathlib import Path

import pytest

from h5fixtures import write_patches
from srhelpers import save_tiny_checkpoint
from srcnn.data import open_patches, read_val
from srcnn.evaluation import score_model, validation_items
from srcnn.weightfiles import bundled_file, load_file

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import heldout  # noqa: E402
from srcnn.cli.common import run  # noqa: E402


def test_row_is_the_training_validation(tmp_path, capsys, monkeypatch):
    data = write_patches(tmp_path / "p.h5", val_images=2, val_size=24)
    weights = str(bundled_file("srcnn", 3))
    monkeypatch.setattr(sys, "argv", ["heldout.py", "--data", str(data), weights])
    assert run(heldout.main) == 0
    out = capsys.readouterr().out
    psnr, ssim = score_model(load_file(weights)[0], validation_items(read_val(open_patches(data))))
    assert out.startswith(f"2 held-out image(s) of {data}")
    assert f"| {weights} | {psnr:.3f} | {ssim:.4f} |" in out


@pytest.mark.parametrize("bad", ["weights", "data"])
def test_bad_file_is_one_line_before_the_table(tmp_path, bad):
    data = write_patches(tmp_path / "p.h5", val_images=1, val_size=24)
    missing = tmp_path / "missing.pt"
    args = ["--data", str(data), str(bundled_file("srcnn", 3)), str(missing)] if bad == "weights" \
        else ["--data", str(tmp_path / "missing.h5"), str(bundled_file("srcnn", 3))]
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "heldout.py"), *args],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "missing" in r.stderr


@pytest.mark.parametrize("case", ["scale", "input", "channels"])
def test_model_that_does_not_fit_the_data_is_one_line(tmp_path, case):
    """An x4 FSRCNN on x3 LR data, an SRCNN on LR data, an RGB model on Y data: named, before any table."""
    if case == "scale":
        data, weights = write_patches(tmp_path / "p.h5", scales=(3,), input="lr"), bundled_file("fsrcnn", 4)
        expect = "fsrcnn_x4.pt: " + str(data) + ": the model upscales by 4"
    elif case == "input":
        data, weights = write_patches(tmp_path / "p.h5", scales=(3,), input="lr"), bundled_file("srcnn", 3)
        expect = f"srcnn_x3.pt: {data} was prepared for LR input; srcnn takes the bicubic-upscaled image"
    else:
        data, weights = write_patches(tmp_path / "p.h5"), save_tiny_checkpoint(tmp_path / "rgb.pt", channels=3)
        expect = f"rgb.pt: the model has 3 channel(s), but {data} has channels 'y'"
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "heldout.py"), "--data", str(data), str(weights)],
                       capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and expect in r.stderr, r.stderr
