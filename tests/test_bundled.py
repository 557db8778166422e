"""The weights shipped in srcnn/weights: present, small, loadable, with their recipe, and scoring what
their results file (srcnn/weights/results.json) says, which the README's results table and
srcnn.list_models() show."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import srcnn
from srcnn.checkpoint import DIGEST, load_checkpoint, tensor_digest
from srcnn.cli.evaluate import main as evaluate
from srcnn.cli.super_resolve import main as super_resolve
from srcnn.datasets import resolve_set, sha256_file
from srcnn.errors import SRCNNError
from srcnn.evaluation import evaluate_set
from srcnn.images import read_image, write_image
from srcnn.weightfiles import REAL, architecture, bundled_file, bundled_models, load_file
from srcnn.models import count_parameters, macs_per_pixel

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SCALES = (2, 3, 4)
BUNDLED = bundled_models()
sys.path.insert(0, str(REPO / "benchmarks"))
import results_table  # noqa: E402  (the README table's generator)


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


@pytest.fixture(scope="module")
def results() -> dict:
    return json.loads(results_table.RESULTS.read_text())


def test_the_readme_table_is_the_results_file(results):
    """The README's results section is ``results_table.py render --readme`` of the file, to the byte."""
    text = README.read_text()
    start, end = (text.index(m) for m in results_table.MARKERS)
    assert text[start:end] == results_table.MARKERS[0] + "\n" + results_table.markdown(results) + "\n"


def test_the_results_cover_every_bundled_clean_model(results):
    rows = results["rows"]
    assert list(rows) == results_table.row_names()   # bicubic, the authors', each bundled model and its +se
    assert results["sets"] == ["Set5", "Set14", "B100"] and results["scales"] == list(SCALES)
    assert rows["bicubic"]["published"] == results_table.PUBLISHED["bicubic"]   # the file is current with the code
    for name in results_table.clean_names():
        scales = sorted({s for b in BUNDLED if b.name == name for s in b.scales})
        for row in (rows[name], rows[name + results_table.SE]):
            assert row["files"].keys() == {f"x{s}" for s in scales} == row["cost"].keys(), name
            assert row["scores"].keys() == {f"{t} x{s}" for t in results["sets"] for s in scales}, name
        assert rows[name]["published"] == results_table.PUBLISHED.get(name, {})
        for key, (psnr, _) in rows[name]["scores"].items():   # every bundled figure well above bicubic
            assert psnr > rows["bicubic"]["scores"][key][0] + 0.5, (name, key)


def test_the_results_are_those_of_the_shipped_weights(results):
    """Each bundled row names the files it scored by their SHA-256: a weight update without
    ``results_table.py table --only NAME`` fails here. Its cost columns are those of the files."""
    for name in results_table.clean_names():
        for row in (results["rows"][name], results["rows"][name + results_table.SE]):
            for key, ref in row["files"].items():
                path = bundled_file(name, int(key[1:]))
                assert ref["file"] == path.name and ref["sha256"] == sha256_file(path), \
                    f"{path.name}: changed since srcnn/weights/results.json was written; run " \
                    f"python benchmarks/results_table.py table --only {name}"
                model = load_file(path)[0]
                n = 8 if row["kind"] == "self-ensemble" else 1
                assert row["cost"][key] == {"params": count_parameters(model),
                                            "macs_per_pixel": round(n * macs_per_pixel(model, int(key[1:])), 1)}


@pytest.mark.realdata
def test_the_authors_row_is_of_their_weights(results, data_root):
    for key, ref in results["rows"][results_table.AUTHORS]["files"].items():
        assert ref["sha256"] == sha256_file(data_root / ref["file"]), key


def test_list_models_shows_the_results_files_set5_figures(results):
    rows = {(r["name"], r["scale"]): r["set5_psnr"] for r in srcnn.list_models()}
    for name in results_table.clean_names():
        for key, (psnr, _) in results["rows"][name]["scores"].items():
            if key.startswith("Set5 x"):
                assert rows[name, int(key[-1])] == float(f"{psnr:.2f}"), (name, key)


@pytest.mark.slow
@pytest.mark.realdata
def test_a_figure_is_that_of_the_shipped_weights(results, data_root):
    """FSRCNN Set5 x3 (and bicubic) re-scored from the bundled file: the results file is current."""
    model, _ = load_file(bundled_file("fsrcnn", 3))
    bic, sr = evaluate_set(resolve_set("Set5", data_root), 3, model)
    rows = results["rows"]
    assert bic["psnr"] == pytest.approx(rows["bicubic"]["scores"]["Set5 x3"][0], abs=1e-3)
    assert sr["psnr"] == pytest.approx(rows["fsrcnn"]["scores"]["Set5 x3"][0], abs=1e-3)
    assert sr["ssim"] == pytest.approx(rows["fsrcnn"]["scores"]["Set5 x3"][1], abs=1e-4)


def test_render_rewrites_the_readme_section(tmp_path, results, capsys):
    readme = tmp_path / "README.md"
    start, end = results_table.MARKERS
    readme.write_text(f"# x\n\n{start}\n| an old table |\n{end}\n\nafter\n")
    assert results_table.main(["render", "--readme", str(readme)]) == 0
    assert readme.read_text() == f"# x\n\n{start}\n{results_table.markdown(results)}\n{end}\n\nafter\n"
    assert "rewritten" in capsys.readouterr().out
    assert results_table.main(["render", "--readme", str(readme)]) == 0
    assert "already current" in capsys.readouterr().out
    readme.write_text("# no markers\n")
    assert results_table.main(["render", "--readme", str(readme)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {readme}: no results section") and err.count("\n") == 1
    assert readme.read_text() == "# no markers\n"
    assert results_table.main(["render"]) == 0
    assert capsys.readouterr().out == results_table.markdown(results) + "\n"


def test_only_updates_an_existing_file_and_names_rows(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert results_table.main(["table", "--only", "fsrcnn", "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--only updates an existing results file" in err and err.count("\n") == 1 and not out.exists()
    shutil.copy(results_table.RESULTS, out)
    assert results_table.main(["table", "--only", "fsrcnn+se,nope", "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --only fsrcnn+se,nope: not a row; one of bicubic, authors, srcnn") and \
        err.count("\n") == 1
    root = tmp_path / "root"   # the sets, but not the authors' weights: refused before any scoring
    for set_name in results_table.SETS:
        (root / set_name).mkdir(parents=True)
    assert results_table.main(["table", "--only", "authors", "--json", str(out), "--data-root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the authors' weights are missing ({root}") and err.count("\n") == 1
    assert out.read_bytes() == results_table.RESULTS.read_bytes()


def test_results_table_without_datasets_is_one_line_error(tmp_path):
    json_out = tmp_path / "table.json"
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "results_table.py"), "table", "--data-root",
                        str(tmp_path / "missing"), "--json", str(json_out)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error: Set5: image folder not found") and "Traceback" not in r.stderr
    assert not json_out.exists() and list(tmp_path.iterdir()) == []
