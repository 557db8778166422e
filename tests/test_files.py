"""srcnn.files: the one atomic-write helper, temporaries and renames, disk errors (the input checks are
tested where they are used)."""
import os

import pytest

from srcnn.errors import SRCNNError
from srcnn.files import atomic_path, atomic_text, temporary_name


def test_atomic_text_writes_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    atomic_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer crashed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_disk_full_is_one_line_naming_the_file(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    target = tmp_path / "w.pt"
    target.write_text("old")
    temporary_name(target).symlink_to("/dev/full")
    with pytest.raises(SRCNNError, match=r"w\.pt: cannot write the weights \(No space left on device\); it needs "
                                         r"about 2\.0 MB; an earlier file"):
        with atomic_path(target, "weights", need_bytes=2_000_000) as tmp, open(tmp, "wb") as f:
            f.write(b"x" * 100_000)
    assert target.read_text() == "old" and not temporary_name(target).exists()


def test_long_names_get_a_short_temporary(tmp_path):
    target = tmp_path / ("n" * 250 + ".png")
    tmp = temporary_name(target)
    assert len(tmp.name.encode()) <= 255 and tmp.name.startswith(".") and ".tmp-" in tmp.name
    atomic_text(target, "ok")
    assert target.read_text() == "ok"


def test_missing_folder_is_an_error_not_a_traceback(tmp_path):
    with pytest.raises(SRCNNError, match=r"x\.txt: cannot write the report \("):
        atomic_text(tmp_path / "no" / "x.txt", "t", what="report")


def test_stale_temporaries_are_those_of_finished_processes(tmp_path):
    import subprocess
    import sys
    from srcnn.files import stale_temporaries
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "a.png"
    for pid in (dead.pid, os.getpid()):
        temporary_name(target, pid).write_bytes(b"half")
    temporary_name(tmp_path / "b.png", dead.pid).write_bytes(b"another output's")
    assert stale_temporaries([target]) == [temporary_name(target, dead.pid)]


def test_input_files_know_links_and_resolved_names(tmp_path, monkeypatch):
    from srcnn.files import InputFiles
    a = tmp_path / "a.png"
    a.write_bytes(b"a")
    os.link(a, tmp_path / "hard.png")
    (tmp_path / "soft.png").symlink_to(a)
    monkeypatch.chdir(tmp_path)
    inputs = InputFiles([a], "an input")
    for same in (a, tmp_path / "hard.png", tmp_path / "soft.png", "a.png", tmp_path / "x" / ".." / "a.png"):
        assert inputs.find(same) == (a, "an input"), same
    assert inputs.find(tmp_path / "b.png") is None
    with pytest.raises(SRCNNError, match=r"hard\.png: --out would overwrite an input \(.*a\.png\)$"):
        inputs.check(tmp_path / "hard.png", "--out")


def test_remove_stale_temporaries_keeps_live_ones(tmp_path):
    import subprocess
    import sys
    from srcnn.files import remove_stale_temporaries
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "r.json"
    temporary_name(target, dead.pid).write_text("half")
    temporary_name(target).write_text("mine")
    assert remove_stale_temporaries([target]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [temporary_name(target).name]


def test_interrupt_removes_the_temporary(tmp_path):
    for exc in (KeyboardInterrupt, SystemExit):
        with pytest.raises(exc):
            with atomic_path(tmp_path / "a.bin") as tmp:
                tmp.write_bytes(b"half")
                raise exc()
        assert os.listdir(tmp_path) == []


def test_replacing_keeps_an_oserror_and_removes_the_temporary(tmp_path):
    """replacing: atomic_path without the error line (prepare's writers report an OSError themselves)."""
    from srcnn.files import replacing
    target = tmp_path / "run.json"
    target.write_text("old")
    with pytest.raises(OSError, match="disk"):
        with replacing(target) as tmp:
            tmp.write_text("half")
            raise OSError(28, "disk")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
    with replacing(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_finish_temporary_and_temporaries(tmp_path):
    """A temporary written across calls (a prepare segment) is found by ``temporaries`` until
    ``finish_temporary`` makes it the file."""
    from srcnn.files import finish_temporary, temporaries
    target = tmp_path / "000001.h5"
    tmp = temporary_name(target)
    tmp.write_bytes(b"data")
    (tmp_path / "other.txt").write_text("x")
    assert temporaries(tmp_path) == [tmp] and not target.exists()
    assert finish_temporary(tmp, target) == target
    assert target.read_bytes() == b"data" and temporaries(tmp_path) == []


def test_rename_all_and_move_aside(tmp_path):
    from srcnn.files import move_aside, rename_all
    (tmp_path / "a").mkdir()
    for n in ("x", "y"):
        (tmp_path / "a" / n).write_text(n)
    (tmp_path / "y").write_text("old")
    rename_all([(tmp_path / "a" / "x", tmp_path / "x"), (tmp_path / "a" / "y", tmp_path / "y")])
    assert (tmp_path / "x").read_text() == "x" and (tmp_path / "y").read_text() == "y"
    assert list((tmp_path / "a").iterdir()) == []
    first = move_aside([tmp_path / "x"], tmp_path, "previous")
    second = move_aside([tmp_path / "y"], tmp_path, "previous")  # the name is taken: previous-2
    assert first == tmp_path / "previous" and second == tmp_path / "previous-2"
    assert (first / "x").read_text() == "x" and (second / "y").read_text() == "y"
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_disk_error_is_one_line_or_none(tmp_path):
    import errno
    from srcnn.files import disk_error
    e = disk_error(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "log")), tmp_path, "kept: c")
    assert isinstance(e, SRCNNError) and str(e) == f"{tmp_path / 'log'}: No space left on device; kept: c"
    assert str(disk_error(OSError(errno.EROFS, "Read-only file system"), "run", "kept")) == \
        "run: Read-only file system; kept"
    assert disk_error(OSError(errno.ENOENT, "No such file"), "run", "kept") is None
    assert disk_error(ValueError("x"), "run", "kept") is None
    with pytest.raises(SRCNNError) as err:  # atomic_path's line, raised from an OSError that is no disk error
        atomic_text(tmp_path / "no" / "x.txt", "t")
    assert disk_error(err.value, "run", "kept") is None
    if os.path.exists("/dev/full"):  # ... and from one that is: its own line, then what is kept
        temporary_name(tmp_path / "f.txt").symlink_to("/dev/full")
        with pytest.raises(SRCNNError) as err:
            atomic_text(tmp_path / "f.txt", "t" * 100_000)
        assert str(disk_error(err.value, "run", "kept")) == f"{err.value}; kept"
