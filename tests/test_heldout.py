"""benchmarks/heldout.py: scores a weight file with train.py's own validation, and a bad file is one
error line (exit 2) before any table is printed."""
import subprocess
import sys
from pathlib import Path

import pytest

from h5fixtures import write_patches
from srcnn.checkpoint import load_model
from srcnn.data import load_val, open_patches
from srcnn.evaluation import score_model
from srcnn.inference import bundled_checkpoint

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import heldout  # noqa: E402
from srcnn.cli.common import run  # noqa: E402


def test_row_is_the_training_validation(tmp_path, capsys, monkeypatch):
    data = write_patches(tmp_path / "p.h5", val_images=2, val_size=24)
    weights = str(bundled_checkpoint(3, "srcnn"))
    monkeypatch.setattr(sys, "argv", ["heldout.py", "--data", str(data), weights])
    assert run(heldout.main) == 0
    out = capsys.readouterr().out
    psnr, ssim = score_model(load_model(weights)[0], load_val(open_patches(data)))
    assert out.startswith(f"2 held-out image(s) of {data}")
    assert f"| {weights} | {psnr:.3f} | {ssim:.4f} |" in out


@pytest.mark.parametrize("bad", ["weights", "data"])
def test_bad_file_is_one_line_before_the_table(tmp_path, bad):
    data = write_patches(tmp_path / "p.h5", val_images=1, val_size=24)
    missing = tmp_path / "missing.pt"
    args = ["--data", str(data), str(bundled_checkpoint(3, "srcnn")), str(missing)] if bad == "weights" \
        else ["--data", str(tmp_path / "missing.h5"), str(bundled_checkpoint(3, "srcnn"))]
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "heldout.py"), *args],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "missing" in r.stderr
