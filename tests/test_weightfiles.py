"""srcnn.weightfiles: the bundled weights and their names, the one resolver (load_weights), one file of any
kind (load_file), devices."""
import pytest
import torch

import srcnn.official
from srcnn import weightfiles
from srcnn.checkpoint import model_name
from srcnn.errors import SRCNNError
from srcnn.models import SRCNN
from srcnn.weightfiles import (architecture, bundled_file, bundled_models, bundled_names, load_file, load_weights,
                               resolve_device, weights_names)
from srhelpers import save_tiny_checkpoint


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(SRCNNError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_bundled_weights_missing_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(SRCNNError, match=r"srcnn_x3\.pt is missing\): train them with prepare_data\.py"):
        load_weights()


def test_load_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", tmp_path)
    save_tiny_checkpoint(tmp_path / "srcnn_x2.pt", scale=2)
    model, meta, scale, name = load_weights("srcnn", 2)
    assert scale == 2 and meta["path"].endswith("srcnn_x2.pt") and not model.training and name == "srcnn-5-3-3"
    multi = save_tiny_checkpoint(tmp_path / "multi.pt", scale=[3, 4])
    assert load_weights(multi)[2] == 3
    assert load_weights(multi, 4)[2] == 4
    with pytest.raises(SRCNNError, match="trained for scale"):
        load_weights(multi, 2)
    assert model_name(meta) == "srcnn-5-3-3"


def test_bundled_file_names(tmp_path, monkeypatch):
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", tmp_path)
    assert bundled_models() == []
    for name in ("srcnn_x2.pt", "srcnn_x3.pt", "vdsr_x2-3-4.pt", "fsrcnn-s_x3.pt", "vdsr_x3.pt",
                 "notes.txt", "srcnn_x3.pt.tmp", "Srcnn_x5.pt", "espcn_x.pt"):
        (tmp_path / name).write_bytes(b"")
    found = [(b.name, b.scales, b.path.name) for b in bundled_models()]
    assert found == [("fsrcnn-s", (3,), "fsrcnn-s_x3.pt"), ("srcnn", (2,), "srcnn_x2.pt"),
                     ("srcnn", (3,), "srcnn_x3.pt"), ("vdsr", (2, 3, 4), "vdsr_x2-3-4.pt"),
                     ("vdsr", (3,), "vdsr_x3.pt")]
    assert bundled_names() == ["fsrcnn-s", "srcnn", "vdsr"]
    assert bundled_file("vdsr", 3).name == "vdsr_x3.pt"        # the single-scale file wins
    assert bundled_file("vdsr", 4).name == "vdsr_x2-3-4.pt"
    assert bundled_file("srcnn", 2).name == "srcnn_x2.pt"
    with pytest.raises(SRCNNError, match=r"no bundled vdsr weights for x5 \(bundled vdsr weights: x2-3-4, x3\)"):
        bundled_file("vdsr", 5)
    with pytest.raises(SRCNNError, match=r"^no bundled espcn weights \(none in .*\): train them with "
                                         r"prepare_data\.py --model espcn .*\(docs/training\.md\), then pass "
                                         r"--checkpoint FILE"):
        bundled_file("espcn", 3)
    (tmp_path / "fsrcnn-real_x3.pt").write_bytes(b"")  # a variant of an architecture: its own name, its arch's hint
    assert bundled_names() == ["fsrcnn-real", "fsrcnn-s", "srcnn", "vdsr"]
    assert architecture("fsrcnn-real") == "fsrcnn" and architecture("fsrcnn-s") == "fsrcnn-s"
    assert "fsrcnn-real" in weights_names()
    with pytest.raises(SRCNNError, match=r"train them with prepare_data\.py --model fsrcnn --degradation real "
                                         r"and train\.py --model fsrcnn "):
        bundled_file("fsrcnn-real", 2)
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", tmp_path / "absent")
    assert bundled_models() == []


def test_load_weights_by_model_name(tmp_path, monkeypatch):
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", tmp_path)
    save_tiny_checkpoint(tmp_path / "srcnn_x3.pt", scale=3, seed=1)
    save_tiny_checkpoint(tmp_path / "other_x2-3-4.pt", scale=[2, 3, 4], seed=2)
    _, meta, scale, name = load_weights("other")
    assert scale == 3 and meta["path"].endswith("other_x2-3-4.pt") and name == "other"
    assert load_weights("other", 4)[1]["path"].endswith("other_x2-3-4.pt")
    assert load_weights()[1]["path"].endswith("srcnn_x3.pt")
    with pytest.raises(SRCNNError, match="no bundled other weights for x5"):
        load_weights("other", 5)


def test_load_file_mat_dispatch(tmp_path, monkeypatch):
    seen = []

    def fake(path):
        seen.append(path)
        return SRCNN(padding="replicate"), {"format": "matlab-srcnn", "scale": 3}
    monkeypatch.setattr(srcnn.official, "load_official", fake)
    model, meta = load_file(tmp_path / "x3.MAT")
    assert seen == [tmp_path / "x3.MAT"] and meta["scale"] == 3 and not model.training


def test_folder_or_special_file_named_like_an_export_is_refused_by_kind(tmp_path):
    from specialfiles import fifo, finishes
    (tmp_path / "m.onnx").mkdir()
    with pytest.raises(SRCNNError, match=r"m\.onnx: is a folder|m\.onnx: .*folder"):
        load_file(tmp_path / "m.onnx")
    done, err = finishes(lambda: load_file(fifo(tmp_path / "p.ts")))
    assert done and isinstance(err, SRCNNError) and "FIFO" in str(err)
    with pytest.raises(SRCNNError, match="no such exported model"):
        load_file(tmp_path / "missing.onnx")
