"""srcnn.checkpoint: atomic save, safe load (nothing executed), models from checkpoints (read with
srcnn.weightfiles.load_file), compatibility checks, model_name."""
import os
import pickle
import re
import sys

import pytest
import torch

from srcnn.checkpoint import check_compatible, load_checkpoint, model_name, save_checkpoint, tensor_digest
from srcnn.color import channel_name
from srcnn.errors import SRCNNError
from srcnn.models import SRCNN, build_model
from srcnn.weightfiles import load_file


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
    with pytest.raises(SRCNNError, match="checkpoint.last: cannot write the checkpoint .disk full.; an earlier"):
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
        load_file(p)
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


def test_checkpoint_model_runs_full_size(tmp_path):
    ck, m = make_ckpt(padding="none")
    p = save_checkpoint(ck, tmp_path / "c")
    model, meta = load_file(p)
    assert model.padding == "replicate" and not model.training
    assert meta["train_padding"] == "none" and meta["scale"] == 3 and meta["path"] == str(p)
    assert not {"state_dict", "optimizer", "rng"} & set(meta)
    x = torch.rand(1, 1, 12, 10)
    y = model(x)
    assert y.shape == x.shape
    assert torch.allclose(y[..., 2:-2, 2:-2], m(x))  # same weights; interior equals the unpadded net
    zeros, _ = load_file(save_checkpoint(make_ckpt(padding="zeros")[0], tmp_path / "z"))
    assert zeros.padding == "zeros"


def test_checkpoint_model_mismatched_weights(tmp_path):
    ck, _ = make_ckpt()
    ck["model"] = {**ck["model"], "n1": 8}
    with pytest.raises(SRCNNError, match="do not match the architecture"):
        load_file(save_checkpoint(ck, tmp_path / "c"))
    ck["model"] = {"name": "edsr"}
    with pytest.raises(SRCNNError, match="unknown architecture"):
        load_file(save_checkpoint(ck, tmp_path / "c"))


@pytest.mark.parametrize("name, kwargs", [("fsrcnn", dict(scale=3)), ("espcn", dict(scale=2, channels=3)),
                                          ("vdsr", dict(depth=4)), ("srcnn-res", {}),
                                          ("srcnn-subpixel", dict(scale=4))])
def test_checkpoint_model_builds_every_architecture(tmp_path, name, kwargs):
    torch.manual_seed(1)
    m = build_model(name, **kwargs).eval()
    ck = {"format": "srcnn-checkpoint", "format_version": 1, "model": m.config(), "state_dict": m.state_dict(),
          "scale": kwargs.get("scale", [2, 3, 4]), "channels": channel_name(m.channels)}
    model, meta = load_file(save_checkpoint(ck, tmp_path / "c"))
    assert type(model) is type(m) and model.config() == m.config() and not model.training
    assert meta["model"]["name"] == name and meta["train_padding"] is None
    x = torch.rand(1, m.channels, 10, 12)
    with torch.no_grad():
        assert torch.equal(model(x), m(x))
    assert model(x).shape[-2:] == (10 * m.upscale, 12 * m.upscale)


def test_check_compatible():
    meta = {"path": "c.pt", "scale": [2, 3], "channels": "y"}
    check_compatible(meta, scale=3, channels="y")
    with pytest.raises(SRCNNError, match=r"c.pt: trained for scale \[2, 3\], but scale 4"):
        check_compatible(meta, scale=4)
    with pytest.raises(SRCNNError, match="trained on channels 'y', but 'rgb'"):
        check_compatible(meta, channels="rgb")


def _flip_one_bit(src, dst, key="conv2.weight", index=3, bit=7):
    """Load ``src`` raw, flip one bit of one weight and torch.save it again, keeping the stored digest."""
    raw = torch.load(src, weights_only=True)
    t = raw["state_dict"][key]
    t.view(-1).view(torch.uint8)[index * t.element_size()] ^= 1 << bit
    torch.save(raw, dst)
    return raw


def test_bytes_from_elsewhere_are_named_by_path(tmp_path, capsys):
    """data=: a checkpoint's bytes read elsewhere (a git revision) load from memory, and every message
    names ``path`` (never a file on disk: nothing is written)."""
    ck, _ = make_ckpt()
    raw = save_checkpoint(ck, tmp_path / "c.pt").read_bytes()
    back = load_checkpoint("HEAD~2:runs/c.pt", data=raw)
    assert back["epoch"] == 2 and torch.equal(back["state_dict"]["conv1.weight"], ck["state_dict"]["conv1.weight"])
    for bad, msg in ((raw[: len(raw) // 2], "truncated or corrupt"), (b"junk", "not a srcnn checkpoint|corrupt")):
        with pytest.raises(SRCNNError, match=msg) as e:
            load_checkpoint("HEAD~2:runs/c.pt", data=bad)
        assert str(e.value).startswith("HEAD~2:runs/c.pt: ") and "\n" not in str(e.value)
    assert sorted(os.listdir(tmp_path)) == ["c.pt"]
    old = {k: v for k, v in ck.items()}  # written before digests: git vouches for it, so no note
    torch.save(old, tmp_path / "old.pt")
    load_checkpoint("HEAD~2:old.pt", data=(tmp_path / "old.pt").read_bytes())
    assert capsys.readouterr().err == ""


def test_digest_refuses_one_flipped_bit(tmp_path):
    ck, _ = make_ckpt()
    good = save_checkpoint(ck, tmp_path / "good")
    assert set(torch.load(good, weights_only=True)["sha256"]) == {"state_dict"}
    load_checkpoint(good)
    _flip_one_bit(good, tmp_path / "rotten")
    with pytest.raises(SRCNNError, match="do not match their SHA-256 digest") as e:
        load_checkpoint(tmp_path / "rotten")
    assert str(tmp_path / "rotten") in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SRCNNError, match="digest"):
        load_file(tmp_path / "rotten")
    # an exported-style file (weights only) is protected the same way, and a renamed tensor too
    small = save_checkpoint({k: ck[k] for k in ("format", "format_version", "model", "state_dict", "scale",
                                                "channels")}, tmp_path / "w.pt")
    raw = torch.load(small, weights_only=True)
    raw["state_dict"]["conv9.bias"] = raw["state_dict"].pop("conv3.bias")
    torch.save(raw, tmp_path / "renamed.pt")
    with pytest.raises(SRCNNError, match="digest"):
        load_checkpoint(tmp_path / "renamed.pt")
    raw["sha256"] = "deadbeef"
    torch.save(raw, tmp_path / "baddigest.pt")
    with pytest.raises(SRCNNError, match="not a dict of digests"):
        load_checkpoint(tmp_path / "baddigest.pt")


def test_digest_ignores_device_and_stale_copies(tmp_path):
    ck, _ = make_ckpt()
    first = save_checkpoint(ck, tmp_path / "a")
    copied = load_checkpoint(first)  # carries a digest; changing the weights and saving recomputes it
    copied["state_dict"] = {k: v + 1 for k, v in copied["state_dict"].items()}
    load_checkpoint(save_checkpoint(copied, tmp_path / "b"))
    assert torch.load(tmp_path / "a", weights_only=True)["sha256"] != torch.load(tmp_path / "b",
                                                                                  weights_only=True)["sha256"]


def test_file_without_digest_loads_with_one_note(tmp_path, capsys):
    ck, _ = make_ckpt()
    torch.save(ck, tmp_path / "old")  # as written before digests existed
    assert load_checkpoint(tmp_path / "old")["epoch"] == 2
    load_checkpoint(tmp_path / "old")
    err = capsys.readouterr().err
    assert err.count("no tensor digest") == 1 and str(tmp_path / "old") in err


@pytest.mark.parametrize("field, value, msg", [
    ("scale", "3", "'scale' is '3', not an integer in 2..255"), ("scale", [2, "x"], "'scale'"),
    ("scale", True, "'scale'"), ("scale", 10**9, "'scale'"), ("channels", 1, "'channels' is 1, not 'y' or 'rgb'"),
    ("model", "srcnn", "'model' is 'srcnn', not an architecture"), ("epoch", "2", "'epoch' is '2'"),
    ("time_spent", float("nan"), "'time_spent' must be finite"), ("best", {"epoch": "1", "val_psnr": 30.0}, "'best'"),
    ("history", "none", "'history'"), ("hparams", [1], "'hparams'"), ("state_dict", {"w": "text"},
                                                                     "'state_dict' entry 'w' is a str"),
])
def test_damaged_metadata_is_refused(tmp_path, field, value, msg):
    """issue 13 item 9: types and ranges of the fields, not only their presence (scale as a string...)."""
    ck, _ = make_ckpt()
    ck[field] = value
    torch.save(ck, tmp_path / "c")
    with pytest.raises(SRCNNError, match=re.escape(msg)) as e:
        load_checkpoint(tmp_path / "c")
    assert str(e.value).startswith(f"{tmp_path / 'c'}: damaged checkpoint: ") and "\n" not in str(e.value)


def test_architecture_checked_without_building_it(tmp_path):
    """A hand-made model config of absurd size is refused from its shapes (meta device), not by allocating
    it; the mismatch message carries the detail."""
    ck, _ = make_ckpt()
    ck["model"] = {**ck["model"], "n1": 4096}   # the largest width (larger ones: see the test below)
    with pytest.raises(SRCNNError, match=r"conv1\.weight is 4x1x3x3 in the file, 4096x1x3x3 in the model"):
        load_file(save_checkpoint(ck, tmp_path / "c"))
    ck, _ = make_ckpt()
    ck["state_dict"] = {k: v for k, v in ck["state_dict"].items() if k != "conv2.bias"}
    with pytest.raises(SRCNNError, match=r"do not match the architecture .*\(missing conv2\.bias\)"):
        load_file(save_checkpoint(ck, tmp_path / "c"))


@pytest.mark.parametrize("kind", ["fifo", "device", "folder", "long_name", "under_file"])
def test_only_regular_files_are_loaded(tmp_path, kind):
    """issue 13 items 7, 11 and 'a folder is called no such file': one precise line, nothing blocks."""
    from specialfiles import fifo, finishes
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    path = {"fifo": lambda: fifo(tmp_path / "pipe.pt"), "device": lambda: "/dev/zero", "folder": lambda: tmp_path / "d",
            "long_name": lambda: tmp_path / ("n" * 300), "under_file": lambda: tmp_path / "f" / "c.pt"}[kind]()
    msg = {"fifo": "is a FIFO (named pipe), not a regular file", "device": "is a character device, not a "
           "regular file", "folder": "is a folder, not a checkpoint file", "long_name": "cannot read (File name too "
           "long)", "under_file": f"{tmp_path / 'f'} is a file, not a folder"}[kind]
    for load in (load_checkpoint, load_file):
        done, result = finishes(lambda: load(path))
        assert done and isinstance(result, SRCNNError), result
        assert str(result) == f"{path}: {msg}"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full for a real ENOSPC")
def test_disk_full_is_one_line_and_keeps_the_old_file(tmp_path):
    """issue 13 item 6 (checkpoints and exports): a real ENOSPC (the temporary is /dev/full) -> one line
    with the size needed; the earlier file is intact and no temporary is left."""
    ck, _ = make_ckpt()
    p = save_checkpoint(ck, tmp_path / "checkpoint.last")
    (tmp_path / f".checkpoint.last.tmp-{os.getpid()}").symlink_to("/dev/full")
    with pytest.raises(SRCNNError, match=r"checkpoint.last: cannot write the checkpoint \(No space left on device\); "
                                         r"it needs about [0-9.]+ MB; an earlier file of that name, if any, is kept"):
        save_checkpoint({**ck, "epoch": 9}, p)
    assert load_checkpoint(p)["epoch"] == 2 and os.listdir(tmp_path) == ["checkpoint.last"]


def test_save_to_a_folder_or_under_a_file(tmp_path):
    """issue 13 items 7 and 8 (train.py export CKPT FOLDER, export CKPT FILE/x.pt, long names)."""
    ck, _ = make_ckpt()
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("a file")
    for dst, msg in ((tmp_path / "d", "is a folder; give a file name"),
                     (tmp_path / "f" / "x.pt", f"{tmp_path / 'f'} is a file, not a folder"),
                     (tmp_path / ("n" * 300 + ".pt"), "cannot write the checkpoint (File name too long)")):
        with pytest.raises(SRCNNError, match=re.escape(msg)) as e:
            save_checkpoint(ck, dst)
        assert str(e.value).startswith(str(dst)) and "\n" not in str(e.value)
    assert (tmp_path / "f").read_text() == "a file" and sorted(os.listdir(tmp_path)) == ["d", "f"]
    assert os.listdir(tmp_path / "d") == []
    long_ok = save_checkpoint(ck, tmp_path / ("n" * 250))  # legal name, too long for the usual temporary
    assert load_checkpoint(long_ok)["epoch"] == 2


@pytest.mark.parametrize("name, kwargs, msg", [
    ("vdsr", dict(depth=10**6), r"depth must be an int in \[2, 1000\], got 1000000"),
    ("fsrcnn", dict(scale=3, m=10**6), r"m must be an int in \[0, 1000\]"),
    ("srcnn-deep8", dict(depth=10**6), r"depth must be an int in \[2, 1000\]"),
    ("srcnn", dict(n1=10**9), r"n1 must be an int in \[1, 4096\]"),
    ("srcnn", dict(f1=10**5 + 1), r"f1 must be an int in \[1, 99\]"),
    ("espcn", dict(scale=3, n2=10**7), r"n2 must be an int in \[1, 4096\]"),
    ("espcn", dict(scale=300), r"scale must be an int in \[2, 255\]"),
])
def test_declared_sizes_are_bounded_before_anything_is_built(tmp_path, name, kwargs, msg):
    """A small file declaring a network of a million layers is refused at once, not built for minutes."""
    import time
    m = build_model("vdsr", depth=2, features=2)
    ck = {"format": "srcnn-checkpoint", "format_version": 1, "model": {"name": name, **kwargs},
          "state_dict": m.state_dict(), "scale": 3, "channels": "y"}
    path = save_checkpoint(ck, tmp_path / "huge.pt")
    t0 = time.time()
    with pytest.raises(SRCNNError, match=rf"huge\.pt: .*{msg}"):
        load_file(path)
    assert time.time() - t0 < 5


def _chain(depth: int) -> dict:
    r = {"train": "python train.py train"}
    for i in range(depth):
        r = {"train": "python train.py train", "parent": {"weights": f"w{i}.pt", "epoch": 1, "recipe": r}}
    return r


@pytest.mark.parametrize("field, value, msg", [
    ("history", [{"epoch": 1, "lr": 1e-3, "time": 1.0, "samples_per_s": 9.0, "val_psnr": None}],
     "'history[0].loss' is missing, not a finite number"),
    ("history", [{"epoch": 1, "loss": "x", "lr": 1e-3, "time": 1.0, "samples_per_s": 9.0, "val_psnr": None}],
     "'history[0].loss' is 'x', not a finite number"),
    ("recipe", {"train": "t", "changes": "--lr 1"}, "'recipe.changes' is '--lr 1', not a list of commands"),
    ("recipe", {"train": 3}, "'recipe.train' is 3, not text (or None)"),
    ("data", {"path": "t.h5", "count": 3}, "'data.fingerprint' is missing, not text"),
    ("data", {"path": "t.h5", "fingerprint": "f", "count": 3, "files": [{}]}, "'data.files[0].path' is missing"),
    ("partial", {"samples": -3, "loss_sum": 0.0, "time": 0.0}, "'partial.samples' is -3, not a whole number >= 0"),
    ("distributed", {"world_size": 2}, "'distributed.global_batch_size' is missing"),
    ("exported_from", {"path": 3}, "'exported_from.path' is 3, not text"),
    ("recipe", {"parent": {"best": {"epoch": 1}}}, "'recipe.parent.best.val_psnr' is missing"),
    ("recipe", {"parent": {"history": [{"epoch": 1}]}}, "'recipe.parent.history[0].loss' is missing"),
    ("recipe", _chain(3000), "'recipe' records more than 100 --init-from ancestors"),
])
def test_damaged_nested_fields_are_one_line_in_inspect_and_resume(tmp_path, field, value, msg, capsys):
    """Hand-made nested fields of the wrong shape are refused once, at load, with one line: train.py
    inspect and resume never reach a KeyError or a RecursionError."""
    from srcnn.cli.train import main as train_cli
    ck, _ = make_ckpt()
    ck[field] = value
    path = tmp_path / "c"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(50000)   # so that torch.save can write the 3000-deep chain an attacker can
    try:
        torch.save({**ck, "sha256": {"state_dict": tensor_digest(ck["state_dict"])}}, path)
    finally:
        sys.setrecursionlimit(limit)
    with pytest.raises(SRCNNError, match=re.escape(msg)):
        load_checkpoint(path)
    for cmd in ("inspect", "resume"):
        assert train_cli([cmd, str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and msg in err and "Traceback" not in err, err
    assert load_checkpoint(save_checkpoint({**make_ckpt()[0], "recipe": _chain(11)}, tmp_path / "ok"))


@pytest.mark.parametrize("meta, label", [
    ({"model": {"name": "srcnn", "f1": 9, "f2": 5, "f3": 5, "channels": 1}}, "srcnn-9-5-5"),
    ({"model": {"name": "srcnn", "f1": 9, "f2": 1, "f3": 5, "channels": 3}}, "srcnn-9-1-5-rgb"),
    ({"model": {"f1": 9, "f2": 5, "f3": 5}}, "srcnn-9-5-5"),   # an old config without a name
    ({"format": "matlab-srcnn", "name": "SRCNN 9-5-5 (authors)",
      "model": {"name": "srcnn", "f1": 9, "f2": 5, "f3": 5, "channels": 1}}, "srcnn-9-5-5 (authors)"),
    ({"model": {"name": "fsrcnn", "scale": 3, "channels": 1}}, "fsrcnn"),
    ({"model": {"name": "espcn", "scale": 2, "channels": 3}}, "espcn-rgb"),
    ({"model": {"name": "srcnn-res", "channels": 1}}, "srcnn-res"),
    ({}, "srcnn")])
def test_model_name(meta, label):
    assert model_name(meta) == label
