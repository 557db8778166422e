"""srcnn.checkpoint: atomic save, safe load (nothing executed), load_model, compatibility checks."""
import os
import pickle

import pytest
import torch

import srcnn.official
from srcnn.checkpoint import (check_compatible, load_checkpoint, load_model, save_checkpoint)
from srcnn.errors import SRCNNError
from srcnn.models import SRCNN, build_model


def make_ckpt(padding="none", **extra):
    torch.manual_seed(0)
    m = SRCNN(3, 1, 3, n1=4, n2=2, padding=padding)
    ck = {"format": "srcnn-checkpoint", "format_version": 1, "srcnn_version": "0.1.0",
          "model": m.config(), "state_dict": m.state_dict(), "scale": 3, "channels": "y", "epoch": 2,
          "step": 10, "optimizer": {"state": {}, "param_groups": []}, "rng": {"torch": torch.get_rng_state()},
          "hparams": {"lr": 1e-4}, "history": [], "best": None}
    ck.update(extra)
    return ck, m


def test_roundtrip_atomic(tmp_path):
    ck, _ = make_ckpt()
    p = save_checkpoint(ck, tmp_path / "sub" / "checkpoint.1")
    assert p.is_file() and os.listdir(p.parent) == ["checkpoint.1"]  # no temporary left
    back = load_checkpoint(p)
    assert back["epoch"] == 2 and torch.equal(back["state_dict"]["conv1.weight"], ck["state_dict"]["conv1.weight"])
    save_checkpoint({**ck, "epoch": 3}, p)  # replaces
    assert load_checkpoint(p)["epoch"] == 3 and os.listdir(p.parent) == ["checkpoint.1"]


def test_failed_save_keeps_old_file(tmp_path, monkeypatch):
    ck, _ = make_ckpt()
    p = save_checkpoint(ck, tmp_path / "checkpoint.last")

    def broken(obj, f, *a, **k):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({**ck, "epoch": 9}, p)
    monkeypatch.undo()
    assert load_checkpoint(p)["epoch"] == 2 and os.listdir(tmp_path) == ["checkpoint.last"]


class Payload:
    """Unpickling this would create a file."""
    marker = None

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["torch.save", "pickle2", "pickle4"])
def test_malicious_pickle_runs_nothing(tmp_path, how):
    marker = tmp_path / "PWNED"
    Payload.marker = str(marker)
    ck, _ = make_ckpt(evil=Payload())
    p = tmp_path / "checkpoint.evil"
    if how == "torch.save":
        torch.save(ck, p)
    else:  # a plain pickle (torch.load's legacy path), just the payload in a dict
        p.write_bytes(pickle.dumps({"format": "srcnn-checkpoint", "evil": Payload()}, protocol=int(how[-1])))
    with pickle.loads(pickle.dumps(Payload())):  # sanity: the payload does create the file when run
        pass
    assert marker.exists()
    marker.unlink()
    with pytest.raises(SRCNNError, match="refused to load|not a srcnn checkpoint") as e:
        load_checkpoint(p)
    assert str(p) in str(e.value)
    if how != "pickle4":  # protocol 4 framing is refused before the payload is even read
        assert "refused to load: the file would import" in str(e.value) and "open" in str(e.value)
    assert not marker.exists()
    with pytest.raises(SRCNNError):
        load_model(p)
    assert not marker.exists()


def test_bad_files(tmp_path):
    ck, m = make_ckpt()
    good = save_checkpoint(ck, tmp_path / "good")
    data = good.read_bytes()
    cases = {
        "missing": (None, "no such checkpoint"),
        "empty": (b"", "truncated or corrupt"),
        "half": (data[: len(data) // 2], "truncated or corrupt"),
        "tail": (data[:-10], "truncated or corrupt"),
        "junk": (os.urandom(4096), "not a srcnn checkpoint|truncated or corrupt"),
    }
    for name, (content, msg) in cases.items():
        p = tmp_path / name
        if content is not None:
            p.write_bytes(content)
        with pytest.raises(SRCNNError, match=msg):
            load_checkpoint(p)
    foreign = {
        "bare": (m.state_dict(), "bare state_dict"),
        "list": ([1, 2], "holds a list"),
        "newer": ({**ck, "format_version": 7}, "format version 7"),
        "incomplete": ({k: v for k, v in ck.items() if k != "scale"}, "missing scale"),
    }
    for name, (obj, msg) in foreign.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(SRCNNError, match=msg):
            load_checkpoint(tmp_path / name)


def test_load_model_runs_full_size(tmp_path):
    ck, m = make_ckpt(padding="none")
    p = save_checkpoint(ck, tmp_path / "c")
    model, meta = load_model(p)
    assert model.padding == "replicate" and not model.training
    assert meta["train_padding"] == "none" and meta["scale"] == 3 and meta["path"] == str(p)
    assert not {"state_dict", "optimizer", "rng"} & set(meta)
    x = torch.rand(1, 1, 12, 10)
    y = model(x)
    assert y.shape == x.shape
    assert torch.allclose(y[..., 2:-2, 2:-2], m(x))  # same weights; interior equals the unpadded net
    zeros, _ = load_model(save_checkpoint(make_ckpt(padding="zeros")[0], tmp_path / "z"))
    assert zeros.padding == "zeros"


def test_load_model_mismatched_weights(tmp_path):
    ck, _ = make_ckpt()
    ck["model"] = {**ck["model"], "n1": 8}
    with pytest.raises(SRCNNError, match="do not match the architecture"):
        load_model(save_checkpoint(ck, tmp_path / "c"))
    ck["model"] = {"name": "edsr"}
    with pytest.raises(SRCNNError, match="unknown architecture"):
        load_model(save_checkpoint(ck, tmp_path / "c"))


@pytest.mark.parametrize("name, kwargs", [("fsrcnn", dict(scale=3)), ("espcn", dict(scale=2, channels=3)),
                                          ("vdsr", dict(depth=4)), ("srcnn-res", {}),
                                          ("srcnn-subpixel", dict(scale=4))])
def test_load_model_builds_every_architecture(tmp_path, name, kwargs):
    torch.manual_seed(1)
    m = build_model(name, **kwargs).eval()
    ck = {"format": "srcnn-checkpoint", "format_version": 1, "model": m.config(), "state_dict": m.state_dict(),
          "scale": kwargs.get("scale", [2, 3, 4]), "channels": "rgb" if m.channels == 3 else "y"}
    model, meta = load_model(save_checkpoint(ck, tmp_path / "c"))
    assert type(model) is type(m) and model.config() == m.config() and not model.training
    assert meta["model"]["name"] == name and meta["train_padding"] is None
    x = torch.rand(1, m.channels, 10, 12)
    with torch.no_grad():
        assert torch.equal(model(x), m(x))
    assert model(x).shape[-2:] == (10 * m.upscale, 12 * m.upscale)


def test_load_model_mat_dispatch(tmp_path, monkeypatch):
    seen = []

    def fake(path):
        seen.append(path)
        return SRCNN(padding="replicate"), {"format": "matlab-srcnn", "scale": 3}
    monkeypatch.setattr(srcnn.official, "load_official", fake)
    model, meta = load_model(tmp_path / "x3.MAT")
    assert seen == [tmp_path / "x3.MAT"] and meta["scale"] == 3 and not model.training


def test_check_compatible():
    meta = {"path": "c.pt", "scale": [2, 3], "channels": "y"}
    check_compatible(meta, scale=3, channels="y")
    with pytest.raises(SRCNNError, match=r"c.pt: trained for scale \[2, 3\], but scale 4"):
        check_compatible(meta, scale=4)
    with pytest.raises(SRCNNError, match="trained on channels 'y', but 'rgb'"):
        check_compatible(meta, channels="rgb")
