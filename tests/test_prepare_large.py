"""prepare_data.py at scale: resuming after a real interruption (SIGKILL), --shard-size, and their errors."""
import json
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_prepare import make_folder, read_h5, same

import srcnn.prepare.run as prepare_run
from srcnn.cli.prepare import main
from srcnn.data import open_patches
from srcnn.prepare.segments import lock_partial

REPO = Path(__file__).resolve().parents[1]

# One committed segment per image; after the third commit the process waits to be killed.
KILLABLE = """
import sys, time
import srcnn.prepare.segments as p
p.SEGMENT_SAMPLES = 1
real, n = p.Segment.commit, [0]
def commit(self):
    rec = real(self)
    n[0] += 1
    if n[0] == 3:
        print("COMMITTED", flush=True)
        time.sleep(60)
    return rec
p.Segment.commit = commit
from srcnn.cli.prepare import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def folder(tmp_path, make_image):
    sizes = [(60 + 9 * (i % 3), 64 + 5 * i) for i in range(8)]
    make_folder(tmp_path / "imgs", make_image, sizes=sizes)
    return tmp_path / "imgs"


def options(folder, out, *extra):
    return ["--images", str(folder), "--out", str(out), "--scale", "2,3", "--noise-sigma", "3",
            "--val-fraction", "0.25", "--seed", "5", *map(str, extra)]


def sigkill_at(script: str, marker: str, args) -> None:
    """Run prepare_data.py's main(args) through ``script`` in a subprocess; SIGKILL it when it prints ``marker``."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == marker
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL


def kill_after_three_commits(args) -> None:
    sigkill_at(KILLABLE, "COMMITTED", args)


def test_resume_after_sigkill_is_identical(tmp_path, folder, capsys):
    ref, out = tmp_path / "ref.h5", tmp_path / "t.h5"
    assert main(options(folder, ref)) == 0
    kill_after_three_commits(options(folder, out, "--workers", 1))
    part = tmp_path / ".t.h5.partial"
    assert not out.exists() and len(list(part.glob("0*.h5"))) == 3
    capsys.readouterr()
    assert main(options(folder, out, "--workers", 2, "--resume")) == 0  # workers may differ
    assert "continued after 3 images done before" in capsys.readouterr().out
    a, b = read_h5(ref), read_h5(out)
    assert same(a, b) and a["@fingerprint"] == b["@fingerprint"]
    assert "val/000/hr" in b and not part.exists()


def test_shards_split_the_samples_and_are_valid_files(tmp_path, folder):
    ref, out = tmp_path / "ref.h5", tmp_path / "train.h5"
    assert main(options(folder, ref)) == 0
    assert main(options(folder, out, "--shard-size", 50, "--workers", 2)) == 0
    whole = read_h5(ref)
    n = len(whole["train/lr"])
    shards = sorted(tmp_path.glob("train-*.h5"))
    assert [p.name for p in shards] == [f"train-{k:05d}.h5" for k in range(-(-n // 50))] and len(shards) > 2
    assert not out.exists()
    parts = [read_h5(p) for p in shards]
    for key in ("train/lr", "train/hr", "train/scale"):
        joined = np.concatenate([p[key] for p in parts])
        assert joined.dtype == whole[key].dtype and joined.tobytes() == whole[key].tobytes()
    offset = 0
    for k, (p, d) in enumerate(zip(shards, parts)):
        pf = open_patches(p)  # each shard is a complete training file
        assert pf.count == min(50, n - offset) == d["train@count"]
        assert d["@shard_index"] == k and d["@shard_count"] == len(shards)
        assert d["@shard_offset"] == offset and d["@total_count"] == n
        assert d["@fingerprint"] == whole["@fingerprint"] and d["@sources"] == whole["@sources"]
        assert bool(pf.val_names) == (k == 0)  # /val only in shard 0
        offset += pf.count
    # shard 0 minus the shard attributes and its part of /train equals the single file
    shard_keys = {"@shard_index", "@shard_count", "@shard_offset", "@total_count"}
    head = {k: v for k, v in parts[0].items() if k not in shard_keys and not k.startswith("train")}
    assert same(head, {k: v for k, v in whole.items() if not k.startswith("train")})


def test_sharded_resume_after_sigkill_is_identical(tmp_path, folder):
    (tmp_path / "ref").mkdir()
    assert main(options(folder, tmp_path / "ref" / "t.h5", "--shard-size", 64)) == 0
    kill_after_three_commits(options(folder, tmp_path / "t.h5", "--shard-size", 64))
    assert not list(tmp_path.glob("t-*.h5"))
    assert main(options(folder, tmp_path / "t.h5", "--shard-size", 64, "--resume")) == 0
    refs, got = sorted((tmp_path / "ref").glob("t-*.h5")), sorted(tmp_path.glob("t-*.h5"))
    assert [p.name for p in refs] == [p.name for p in got] and len(got) > 1
    for a, b in zip(refs, got):
        assert same(read_h5(a), read_h5(b))


def test_resume_with_other_options_is_refused_and_keeps_progress(tmp_path, folder, capsys):
    out = tmp_path / "t.h5"
    kill_after_three_commits(options(folder, out))
    part = tmp_path / ".t.h5.partial"
    committed = sorted(p.name for p in part.glob("0*.h5"))
    # a different option: refused, naming what differs; the progress stays
    assert main([*options(folder, out, "--resume"), "--stride", "10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: --resume:") and "stride 14 -> 10" in err and "--overwrite" in err
    # a changed image folder: refused too
    (folder / "img0.png").write_bytes((folder / "img1.png").read_bytes())
    assert main(options(folder, out, "--resume")) == 2
    assert "an image was added, removed or modified" in capsys.readouterr().err
    assert sorted(p.name for p in part.glob("0*.h5")) == committed
    # without --resume: refused, pointing at --resume / --overwrite
    assert main(options(folder, out)) == 2
    assert "3 of 8 images done): add --resume to continue it, or --overwrite" in capsys.readouterr().err
    # --overwrite discards it and starts again
    assert main(options(folder, out, "--overwrite")) == 0 and out.exists() and not part.exists()
    # another run writing the same output holds a lock
    part.mkdir()
    lock = lock_partial(part)
    try:
        assert main(options(folder, tmp_path / "t.h5", "--overwrite")) == 2
        assert "another prepare_data.py run is writing" in capsys.readouterr().err
    finally:
        lock.close()


def test_shard_errors_and_overwrite(tmp_path, folder, capsys):
    out = tmp_path / "s.h5"
    with pytest.raises(SystemExit) as e:   # refused by the parser, before any work
        main(options(folder, out, "--shard-size", "-5"))
    assert e.value.code == 2 and "--shard-size: must be >= 1" in capsys.readouterr().err
    assert main(options(folder, out, "--shard-size", 50)) == 0
    n_before = len(list(tmp_path.glob("s-*.h5")))
    assert main(options(folder, out, "--shard-size", 50)) == 2
    assert "s-00000.h5: already exists" in capsys.readouterr().err
    # fewer, larger shards with --overwrite: the stale higher-numbered shards go
    assert main(options(folder, out, "--shard-size", 400, "--overwrite")) == 0
    shards = sorted(tmp_path.glob("s-*.h5"))
    assert n_before > len(shards)
    with h5py.File(shards[-1]) as f:
        assert f.attrs["shard_count"] == len(shards) and f.attrs["shard_index"] == len(shards) - 1
        assert json.loads(f.attrs["skipped"]) == []


def test_interrupt_while_assembling_keeps_everything(tmp_path, folder, monkeypatch, capsys):
    ref, out = tmp_path / "ref.h5", tmp_path / "t.h5"
    assert main(options(folder, ref)) == 0
    real = prepare_run.fingerprint

    def fingerprint(*a):  # called once all images are done, while the file is assembled
        raise KeyboardInterrupt("SIGINT")

    monkeypatch.setattr(prepare_run, "fingerprint", fingerprint)
    assert main(options(folder, out)) == 130
    assert "8 of 8 images done are kept" in capsys.readouterr().err and not out.exists()
    monkeypatch.setattr(prepare_run, "fingerprint", real)
    assert main(options(folder, out, "--resume")) == 0
    assert same(read_h5(ref), read_h5(out)) and not (tmp_path / ".t.h5.partial").exists()


# Killed while assembling the third shard: shards 0 and 1 are finished and their segments deleted.
KILLED_ASSEMBLING = """
import sys, time
import srcnn.prepare.segments as p
p.SEGMENT_SAMPLES = 1
real, n = p.PatchWriter.__init__, [0]
def init(self, group, *a):
    if "final-00002" in group.file.filename:
        print("ASSEMBLING", flush=True)
        time.sleep(60)
    real(self, group, *a)
p.PatchWriter.__init__ = init
from srcnn.cli.prepare import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_while_assembling_shards_resumes_without_the_consumed_segments(tmp_path, folder, capsys):
    (tmp_path / "ref").mkdir()
    assert main(options(folder, tmp_path / "ref" / "t.h5", "--shard-size", 40)) == 0
    args = options(folder, tmp_path / "t.h5", "--shard-size", 40)
    sigkill_at(KILLED_ASSEMBLING, "ASSEMBLING", args)
    part = tmp_path / ".t.h5.partial"
    assert sorted(p.name for p in part.glob("final-*.h5")) == ["final-00000.h5", "final-00001.h5"]
    manifest = json.loads((part / "assemble.json").read_text())
    left = {p.name for p in part.glob("0*.h5")}
    assert 0 < len(left) < len(manifest["segments"])  # the segments of shards 0 and 1 are gone
    assert not list(tmp_path.glob("t-*.h5"))
    assert main([*options(folder, tmp_path / "t.h5", "--shard-size", 80), "--resume"]) == 2
    assert "rerun with that --shard-size" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    refs, got = sorted((tmp_path / "ref").glob("t-*.h5")), sorted(tmp_path.glob("t-*.h5"))
    assert [p.name for p in refs] == [p.name for p in got] and len(got) > 2
    for a, b in zip(refs, got):
        assert same(read_h5(a), read_h5(b))
    assert not part.exists()
