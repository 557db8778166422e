"""benchmarks/real_photos.py and its results file: the README's "Real photos" table is the file's rendering,
and the file's figures are those of the shipped weights."""
import importlib.util
import json
from pathlib import Path

import pytest

from srcnn import weightfiles
from srcnn.datasets import resolve_set
from srcnn.degradation import RealDegradation
from srcnn.evaluation import evaluate_set

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "srcnn" / "weights" / "results_real.json"
spec = importlib.util.spec_from_file_location("real_photos", REPO / "benchmarks" / "real_photos.py")
real_photos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real_photos)


@pytest.fixture(scope="module")
def results() -> dict:
    return json.loads(RESULTS.read_text())


def test_the_readme_table_is_the_results_file(results):
    assert real_photos.markdown(results) in (REPO / "README.md").read_text()


def test_the_results_cover_every_bundled_real_model(results):
    real = real_photos.real_names()
    assert real, "no -real weights are bundled"
    for cell in results["degraded"].values():
        assert set(real) <= set(cell) and "bicubic" in cell
    for key, cell in results["clean"].items():
        for name in real:
            scale = int(key.split("x")[1])
            if any(scale in b.scales for b in weightfiles.bundled_models() if b.name == name):
                assert name in cell
    assert results["degradation"] == RealDegradation().params()


@pytest.mark.slow
def test_a_degraded_figure_is_that_of_the_shipped_weights(results, data_root):
    """Set14 x3 of the first -real model, re-scored from the bundled file: the results file is current."""
    name = real_photos.real_names()[0]
    model = weightfiles.load_weights(name, 3).model
    rows = evaluate_set(resolve_set("Set14", data_root), 3, model, degradation=RealDegradation())
    assert rows[0]["psnr"] == pytest.approx(results["degraded"]["Set14 x3"]["bicubic"][0], abs=1e-3)
    assert rows[1]["psnr"] == pytest.approx(results["degraded"]["Set14 x3"][name][0], abs=1e-3)


def test_only_updates_an_existing_file(tmp_path, capsys):
    assert real_photos.main(["table", "--only", "srcnn", "--json", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "--only updates an existing results file" in err and err.count("\n") == 1
    assert not (tmp_path / "r.json").exists()
    for text, why in (("not json", "not a results file (Expecting value"), ('{"rows": {}}', 'no "degraded"')):
        (tmp_path / "r.json").write_text(text)
        assert real_photos.main(["table", "--only", "srcnn", "--json", str(tmp_path / "r.json")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {tmp_path / 'r.json'}: ") and why in err and err.count("\n") == 1
        assert (tmp_path / "r.json").read_text() == text


def test_list_models_figures_of_the_real_models_are_the_results_files(results):
    from srcnn import api
    for name in real_photos.real_names():
        for b in weightfiles.bundled_models():
            if b.name == name:
                for s in b.scales:
                    assert api.SET5_PSNR[(name, s)] == round(results["clean"][f"Set5 x{s}"][name][0], 2)
