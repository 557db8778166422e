"""benchmarks/training_curve.py: samples seen accumulate across chained stages, a resumed run's
history is not counted twice, the fit's slope has the sign of the curve, REV:PATH reads a file from
git, and bad input is one line naming it with exit 2."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srcnn.checkpoint import FORMAT, FORMAT_VERSION, save_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import training_curve  # noqa: E402


def _obj(count, psnrs, start=1):
    hist = [{"epoch": start + i, "loss": 1e-3, "lr": 1e-4, "val_psnr": p, "time": 3600.0, "samples_per_s": 100.0}
            for i, p in enumerate(psnrs)]
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "model": {"name": "srcnn"},
            "state_dict": {"w": torch.zeros(2)}, "scale": 3, "channels": "y",
            "data": {"path": "train.h5", "fingerprint": "f", "count": count}, "history": hist}


def _ck(path, count, psnrs, start=1):
    return str(save_checkpoint(_obj(count, psnrs, start), path))


def _main(monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["training_curve.py", *argv])
    return training_curve.run(training_curve.main)


def test_stages_chain_and_resume(tmp_path):
    a = _ck(tmp_path / "a.pt", 1000, [20.0, 21.0])
    resumed = _ck(tmp_path / "b.pt", 5000, [20.0, 21.0, 22.0])          # a continued on more data
    warm = _ck(tmp_path / "c.pt", 5000, [21.5, 22.5])                    # a new run from b's weights
    rows = training_curve.stages([a, resumed, warm])
    assert [r["samples"] for r in rows] == [1000, 2000, 7000, 12000, 17000]
    assert [r["best"] for r in rows] == [20.0, 21.0, 22.0, 22.0, 22.5]
    assert rows[-1]["hours"] == 5.0
    a0, b = training_curve.fit(rows)
    assert b > 0


def _parent(path, ck, recorded=True):
    """The record a run started with --init-from keeps of its starting weights (train_model.lineage)."""
    rec = {"weights": str(path), "epoch": ck["epoch"], "best": ck["best"], "recipe": ck.get("recipe", {})}
    return {**rec, "history": ck["history"], "count": ck["data"]["count"]} if recorded else rec


def _run(count, psnrs, parent=None):
    """A checkpoint object of a run of len(psnrs) epochs, best at its last, started from ``parent``."""
    o = _obj(count, psnrs)
    o.update(epoch=len(psnrs), best={"epoch": len(psnrs), "val_psnr": psnrs[-1]},
             recipe={"train": "python train.py train ...", **({"parent": parent} if parent else {})})
    return o


def test_recorded_ancestors_are_counted(tmp_path, capsys):
    a = _run(1000, [20.0, 21.0])                                   # from scratch
    b = _run(2000, [21.5, 22.0], _parent(tmp_path / "a.pt", a))    # from a; its file is gone
    c = _run(3000, [22.2, 22.4], _parent(tmp_path / "b.pt", b))    # from b
    pa = str(save_checkpoint(a, tmp_path / "a.pt"))
    pc = str(save_checkpoint(c, tmp_path / "c.pt"))
    full = [1000, 2000, 4000, 6000, 9000, 12000]
    assert [r["samples"] for r in training_curve.stages([pc])] == full           # c alone: its whole lineage
    assert [r["samples"] for r in training_curve.stages([pa, pc])] == full       # a, then c: b between them
    assert [r["stage"] for r in training_curve.stages([pa, pc])] == [1, 1, 2, 2, 3, 3]
    assert capsys.readouterr().err == ""
    # b recorded the old way (no history): c alone counts its own run, a then c misses b; both say so
    c_old = _run(3000, [22.2, 22.4], {**_parent(tmp_path / "b.pt", b, recorded=False),
                                      "recipe": {"parent": _parent(tmp_path / "a.pt", a)}})
    pc = str(save_checkpoint(c_old, tmp_path / "c_old.pt"))
    assert [r["samples"] for r in training_curve.stages([pc])] == [3000, 6000]
    assert "lineage is not fully recorded" in capsys.readouterr().err
    assert [r["samples"] for r in training_curve.stages([pa, pc])] == [1000, 2000, 5000, 8000]
    err = capsys.readouterr().err
    assert "b.pt (epoch 2), whose history is not recorded" in err and err.count("\n") == 1
    # an unrelated file after a: no ancestor matches a, nothing is inserted
    other = str(save_checkpoint(_run(500, [19.0, 19.5], _parent(tmp_path / "z.pt", _run(7, [1.0]))), tmp_path / "o.pt"))
    assert [r["samples"] for r in training_curve.stages([pa, other])] == [1000, 2000, 2500, 3000]


def test_main_estimates_and_refuses_too_little(tmp_path, capsys, monkeypatch):
    f = _ck(tmp_path / "a.pt", 1000, [20.0, 20.5, 21.0, 21.2])
    assert _main(monkeypatch, f, "--gain", "0.5", "--every", "3") == 0
    out = capsys.readouterr().out
    assert "dB per doubling" in out and "more hours at 100 samples/s" in out
    assert "| 1 | 1 |" in out and "| 1 | 2 |" not in out and "| 1 | 4 |" in out  # every 3rd, and the last
    assert _main(monkeypatch, _ck(tmp_path / "one.pt", 10, [20.0])) == 2
    assert "error: fewer than two validated epochs" in capsys.readouterr().err


def test_bad_files_are_one_line_errors(tmp_path, capsys, monkeypatch):
    good = _ck(tmp_path / "a.pt", 1000, [20.0, 21.0])
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(Path(good).read_bytes()[:100])
    bare = tmp_path / "bare.pt"
    torch.save({"w": torch.zeros(2)}, bare)
    nodata = tmp_path / "nodata.pt"
    save_checkpoint({k: v for k, v in _obj(10, [20.0, 21.0]).items() if k != "data"}, nodata)  # e.g. hand-made
    for f, why in [(corrupt, "truncated or corrupt"), (bare, "not a srcnn checkpoint"),
                   (tmp_path / "missing.pt", "missing.pt"), (nodata, "no patch count")]:
        assert _main(monkeypatch, good, str(f)) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and why in err and err.count("\n") == 1, err


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


def test_rev_path_and_bundled_read_a_lineage_from_git(tmp_path, capsys, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "srcnn" / "weights").mkdir(parents=True)
    _git(repo, "init", "-q")
    w = repo / "srcnn" / "weights" / "m_x3.pt"
    torch.save(_obj(1000, [20.0, 21.0]), w)  # an older file: no tensor digest
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    _ck(w, 1000, [21.5, 22.0])               # a warm restart, committed
    _git(repo, "commit", "-q", "-am", "second")
    _ck(w, 1000, [22.1, 22.2])               # and one more, not yet committed
    monkeypatch.setattr(training_curve, "REPO", repo)
    rel = "srcnn/weights/m_x3.pt"
    assert _main(monkeypatch, f"HEAD~1:{rel}", str(w)) == 0
    out, err = capsys.readouterr()
    assert "| 1 | 2 | 0.00 M | 21.000 |" in out and "| 2 | 2 | 0.00 M | 22.200 | 22.200 |" in out
    assert "no tensor digest" not in err  # git vouches for a revision's bytes: no note about old files
    lin = training_curve.lineage("m_x3")
    assert len(lin) == 3 and lin[0] != lin[1] and all(f.endswith(":" + rel) for f in lin[:2]) and lin[2] == str(w)
    assert [r["samples"] for r in training_curve.stages(lin)] == [
        1000, 2000, 3000, 4000, 5000, 6000]                             # three stages, oldest first
    assert _main(monkeypatch, "--bundled", "m_x3", "--every", "5") == 0
    assert "| 3 | 2 | 0.01 M | 22.200 | 22.200 |" in capsys.readouterr().out
    for argv, why in [(["HEAD~5:" + rel], "HEAD~5:" + rel + ": not a file, and not readable as REV:PATH"),
                      (["--bundled", "nope"], "--bundled nope: srcnn/weights/nope.pt has no git history")]:
        assert _main(monkeypatch, *argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: " + why) and err.count("\n") == 1, err


@pytest.mark.parametrize("argv", [[], ["--every", "0"], ["--gain", "-1"], ["--gain", "nan"]])
def test_bad_options_are_refused(argv, monkeypatch, capsys):
    with pytest.raises(SystemExit) as e:
        _main(monkeypatch, *argv)
    assert e.value.code == 2 and "error:" in capsys.readouterr().err
