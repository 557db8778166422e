"""The weights shipped in srcnn/weights: present, small, loadable, with their recipe, and scoring what
the README's results table says (real sets)."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import srcnn
from srcnn.checkpoint import DIGEST, load_checkpoint, tensor_digest
from srcnn.cli.evaluate import main as evaluate
from srcnn.cli.super_resolve import main as super_resolve
from srcnn.datasets import resolve_set
from srcnn.errors import SRCNNError
from srcnn.evaluation import evaluate_set
from srcnn.images import read_image, write_image
from srcnn.weightfiles import REAL, architecture, bundled_file, bundled_models, load_file
from srcnn.models import count_parameters

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SCALES = (2, 3, 4)
BUNDLED = bundled_models()
sys.path.insert(0, str(REPO / "benchmarks"))
from results_table import title  # noqa: E402  (the README table's row labels)


def test_every_family_and_scale_is_bundled():
    have = {(b.name, s) for b in BUNDLED for s in b.scales}
    assert {(m, s) for m in ("srcnn", "fsrcnn", "espcn") for s in SCALES} <= have
    # VDSR is not shipped: the bundled ESPCN beats it at every scale at a fraction of the cost (README)
    assert "vdsr" not in {b.name for b in BUNDLED}


def test_vdsr_without_checkpoint_says_how_to_get_it(tmp_path, capsys):
    msg = "no bundled vdsr weights (none in "
    how = "train them with prepare_data.py --model vdsr and train.py --model vdsr (docs/training.md), then " \
          "pass --checkpoint FILE"
    with pytest.raises(SRCNNError) as e:
        srcnn.load("vdsr")
    assert str(e.value).startswith(msg) and how in str(e.value)
    lr = tmp_path / "a.png"
    write_image(lr, np.zeros((12, 12, 3), np.uint8))
    for main, argv in ((super_resolve, ["--model", "vdsr", "--scale", "3", str(lr)]),
                       (evaluate, ["--model", "vdsr", "--scale", "3", "--set", str(tmp_path),
                                  "--data-root", str(tmp_path)])):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: " + msg) and how in err and err.count("\n") == 1


@pytest.mark.parametrize("b", BUNDLED, ids=lambda b: b.path.name)
def test_bundled_weights_load_with_their_recipe(b):
    ck = load_checkpoint(b.path)
    assert "optimizer" not in ck and ck["channels"] == "y"
    assert ck[DIGEST] == {"state_dict": tensor_digest(ck["state_dict"])}   # verified at load: no note
    scales = ck["scale"] if isinstance(ck["scale"], list) else [ck["scale"]]
    arch = architecture(b.name)
    assert tuple(scales) == b.scales and ck["model"]["name"] == arch
    assert ck["recipe"]["train"].startswith("python train.py train")
    assert f"--model {arch}" in ck["recipe"]["train"] or arch == "srcnn"
    if b.name.endswith(REAL):  # trained on the real-photo degradation, recorded in its data's command
        assert "--degradation real" in ck["recipe"]["prepare"]
    assert "--scale " + ",".join(map(str, b.scales)) in ck["recipe"]["prepare"]
    assert ck["data"]["fingerprint"] and ck["history"]
    model, meta = load_file(b.path)
    assert b.path.stat().st_size < 4 * count_parameters(model) + 200_000  # weights and provenance only
    if b.name == "srcnn":
        assert (meta["model"]["f1"], meta["model"]["f2"], meta["model"]["f3"]) == (9, 5, 5)


def test_quick_start_sample_uses_bundled_weights(tmp_path, capsys):
    assert super_resolve(["--sample", "-o", str(tmp_path)]) == 0
    assert read_image(tmp_path / "sample_x3.png").shape == (384, 576, 3)
    assert (tmp_path / "sample_compare.png").is_file() and "wrote" in capsys.readouterr().out


def _readme_row(label: str) -> dict:
    """{(set, scale): PSNR} of the README results row ``| <label> (this project, bundled) | ...``."""
    start = f"| {label} (this project, bundled) |"
    line = next(ln for ln in README.read_text().splitlines() if ln.startswith(start))
    cells = [c.strip() for c in line.strip("|").split("|")[1:]]
    cols = [(s, k) for s in ("Set5", "Set14") for k in SCALES]
    return {c: float(m.group(1)) for c, v in zip(cols, cells) if (m := re.match(r"([\d.]+) /", v))}


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted({b.name for b in BUNDLED if not b.name.endswith(REAL)}))
def test_bundled_weights_score_what_the_readme_says(data_root, name):
    """The clean models' rows of the README results table (the -real ones: tests/test_real_photos.py)."""
    _, meta = load_file(next(b.path for b in BUNDLED if b.name == name))
    expected = _readme_row(title(name, meta["model"]))
    assert expected, f"no README results for {name}"
    for set_name, scale in expected:
        model, _ = load_file(bundled_file(name, scale))
        bic, sr = evaluate_set(resolve_set(set_name, data_root), scale, model)
        assert sr["psnr"] == pytest.approx(expected[set_name, scale], abs=0.005), (set_name, scale)
        assert sr["psnr"] > bic["psnr"] + 0.5


def test_results_table_without_datasets_is_one_line_error(tmp_path):
    json_out = tmp_path / "table.json"
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "results_table.py"), "--data-root",
                        str(tmp_path / "missing"), "--json", str(json_out)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error: Set5: image folder not found") and "Traceback" not in r.stderr
    assert not json_out.exists() and list(tmp_path.iterdir()) == []
