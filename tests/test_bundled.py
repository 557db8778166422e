"""The weights shipped in srcnn/weights: present, small, loadable, with their recipe, and scoring what
the README's results table says (real sets)."""
import re
from pathlib import Path

import pytest

from srcnn.checkpoint import load_checkpoint, load_model
from srcnn.cli.super_resolve import main as super_resolve
from srcnn.datasets import resolve_set
from srcnn.evaluation import evaluate_set
from srcnn.images import read_image
from srcnn.inference import bundled_checkpoint

README = Path(__file__).resolve().parents[1] / "README.md"
SCALES = (2, 3, 4)


@pytest.mark.parametrize("scale", SCALES)
def test_bundled_weights_load_with_their_recipe(scale):
    path = bundled_checkpoint(scale)
    assert path.stat().st_size < 300_000  # weights and provenance only
    ck = load_checkpoint(path)
    assert "optimizer" not in ck and ck["scale"] == scale and ck["channels"] == "y"
    assert ck["recipe"]["train"].startswith("python train.py train")
    assert f"--scale {scale}" in ck["recipe"]["prepare"]
    assert ck["data"]["fingerprint"] and ck["history"]
    model, meta = load_model(path)
    assert meta["model"]["f1"] == 9 and meta["model"]["f2"] == 5 and meta["model"]["f3"] == 5


def test_quick_start_sample_uses_bundled_weights(tmp_path, capsys):
    assert super_resolve(["--sample", "-o", str(tmp_path)]) == 0
    assert read_image(tmp_path / "sample_x3.png").shape == (384, 576, 3)
    assert (tmp_path / "sample_compare.png").is_file() and "wrote" in capsys.readouterr().out


def _readme_row() -> dict:
    line = next(ln for ln in README.read_text().splitlines() if ln.startswith("| SRCNN 9-5-5 (this project"))
    cells = [c.strip() for c in line.strip("|").split("|")[1:]]
    cols = [(s, k) for s in ("Set5", "Set14") for k in SCALES]
    return {c: float(re.match(r"([\d.]+) /", v).group(1)) for c, v in zip(cols, cells)}


@pytest.mark.slow
@pytest.mark.realdata
def test_bundled_weights_score_what_the_readme_says(data_root):
    expected = _readme_row()
    for scale in SCALES:
        model, _ = load_model(bundled_checkpoint(scale))
        for set_name in ("Set5", "Set14"):
            bic, sr = evaluate_set(resolve_set(set_name, data_root), scale, model)
            assert sr["psnr"] == pytest.approx(expected[set_name, scale], abs=0.005), (set_name, scale)
            assert sr["psnr"] > bic["psnr"] + 0.8
