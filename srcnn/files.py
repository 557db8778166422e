"""Files in and out.

In: only regular files are read (a FIFO would block forever, /dev/zero never ends).
``regular_file`` checks a path before a library opens it by name (h5py, torch.load, scipy);
``read_regular`` reads one whole, opening it without blocking and checking what it opened.
Both raise SRCNNError naming the file: missing, a folder, a FIFO/device/socket, a path through a
file, a name over the file system's limit, no permission.

Out: every file the project writes goes through ``atomic_path`` (or ``atomic_text``):
a temporary ``.NAME.tmp-PID`` beside the target, fsynced, renamed over it, the folder fsynced. A crash, a
full disk or Ctrl-C / SIGTERM (srcnn.cli.common.run makes SIGTERM raise like Ctrl-C) at any moment leaves
the old file or the new one, never a partial one, and no temporary; ``remove_stale_temporaries`` removes
those a killed (SIGKILL) writer left, ``temporaries`` finds those in a folder. The temporary names and
every rename are here: ``replacing`` (atomic_path without its error line, for writers that report
failures themselves), ``finish_temporary`` (a temporary kept open across calls, made final),
``rename_all`` (finished files moved into place) and ``move_aside`` (files moved into a new folder). A library's writer that cannot report a full disk cleanly
(torch.save's "unexpected pos", torch.onnx.export) writes to memory first, and the bytes are written to
the temporary by Python, whose OSError ``atomic_path`` reports. ``disk_error`` makes a full disk, quota,
I/O error or read-only file system met by a long job's writers (a training run) one line saying what is kept.

Outputs never replace inputs of the same run: ``InputFiles`` holds a run's inputs and refuses an output
that is one of them (the same path resolved, or the same file: a hard link or a symlink to it).
"""
from __future__ import annotations

import errno
import os
import hashlib
import stat
from contextlib import contextmanager
from pathlib import Path

from .errors import SRCNNError, one_line

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def _refuse(path, e: OSError, what: str, missing: str | None = None):
    if e.errno == errno.ENOENT:
        raise SRCNNError(f"{path}: no such {missing or what}") from None
    if e.errno == errno.ENOTDIR:
        above = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
        raise SRCNNError(f"{path}: {above or 'a folder above it'} is a file, not a folder") from None
    if e.errno == errno.EISDIR:
        raise SRCNNError(f"{path}: is a folder, not a {what}") from None
    raise SRCNNError(f"{path}: cannot read ({one_line(e)})") from None


def _check_mode(path, mode: int, what: str) -> None:
    if stat.S_ISDIR(mode):
        raise SRCNNError(f"{path}: is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        raise SRCNNError(f"{path}: is {_kind(mode)}, not a regular file")


def regular_file(path, what: str = "file", missing: str | None = None) -> Path:
    """``path`` (a Path) if it names a regular file (symlinks followed); SRCNNError otherwise, with
    "no such MISSING" (default WHAT) for a missing one."""
    try:
        st = os.stat(path)
    except OSError as e:
        _refuse(path, e, what, missing)
    _check_mode(path, st.st_mode, what)
    return Path(path)


def read_regular(path, what: str = "file", missing: str | None = None) -> bytes:
    """The bytes of the regular file ``path``: opened with O_NONBLOCK (a FIFO cannot block the open)
    and checked with fstat before anything is read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        _refuse(path, e, what, missing)
    try:
        _check_mode(path, os.fstat(fd).st_mode, what)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        try:
            return f.read()
        except OSError as e:
            _refuse(path, e, what)


class InputFiles:
    """The input files of one run, to check every output against before any work: an output is refused
    when it is one of them, the same path resolved or the same file (``os.stat`` st_dev/st_ino: a hard
    link, a symlink to it)."""

    def __init__(self, paths=(), what: str = "an input"):
        self._ids: dict = {}
        self.add(paths, what)

    def add(self, paths, what: str = "an input") -> "InputFiles":
        """Add ``paths`` (one path or several), described as ``what`` in messages ("the checkpoint")."""
        for p in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
            for key in _file_keys(p):
                self._ids.setdefault(key, (Path(p), what))
        return self

    def find(self, output) -> tuple[Path, str] | None:
        """(input path, its description) that ``output`` would replace, or None."""
        return next((self._ids[k] for k in _file_keys(output) if k in self._ids), None)

    def check(self, output, what: str = "the output") -> None:
        """SRCNNError "OUTPUT: WHAT would overwrite DESCRIPTION (INPUT)" when ``output`` is one of the inputs
        (the input's own name in brackets where it is spelled differently: a link, a relative path)."""
        hit = self.find(output)
        if hit is not None:
            other = "" if str(hit[0]) == str(output) else f" ({hit[0]})"
            raise SRCNNError(f"{output}: {what} would overwrite {hit[1]}{other}")


def _file_keys(path) -> list:
    """What identifies the file ``path`` names: its resolved path, and (st_dev, st_ino) if it exists."""
    try:
        keys: list = [Path(path).resolve()]
    except (OSError, RuntimeError):
        keys = [Path(os.path.abspath(path))]
    try:
        st = os.stat(path)
        keys.append((st.st_dev, st.st_ino))
    except (OSError, ValueError):
        pass
    return keys


def output_name(path, what: str = "output", beside=()) -> None:
    """SRCNNError for a path that cannot become a file: one under a file ("X is a file, not a folder", not
    "folder does not exist"), or a name the file system refuses (e.g. a component over 255 bytes). Also
    checks the names in ``beside`` (files the writer puts next to it), naming them in the message."""
    path = Path(path)
    for p in (path, *map(Path, beside)):
        try:
            os.stat(p)
        except FileNotFoundError:
            pass
        except NotADirectoryError:
            above = next((q for q in path.parents if q.exists() and not q.is_dir()), path.parent)
            raise SRCNNError(f"{path}: {above} is a file, not a folder") from None
        except OSError as e:
            extra = f" (it also writes {p.name} beside it)" if p != path else ""
            raise SRCNNError(f"{path}: unusable {what} name ({one_line(e)}){extra}") from None


def fsync_dir(folder) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temporary_name(path, pid: int | None = None) -> Path:
    """``.NAME.tmp-PID`` beside ``path`` (PID: this process's, or ``pid``); a hash of the name when that
    would pass the 255-byte limit (the same ``.*.tmp-*`` pattern, which is what stale-file cleanups look
    for)."""
    path = Path(path)
    pid = os.getpid() if pid is None else pid
    name = f".{path.name}.tmp-{pid}"
    if len(name.encode()) > 255:
        name = f".{hashlib.sha256(path.name.encode()).hexdigest()[:16]}.tmp-{pid}"
    return path.with_name(name)


def temporaries(folder) -> list[Path]:
    """The temporary files (:func:`temporary_name`) of any writer in ``folder``, sorted."""
    return sorted(Path(folder).glob(".*.tmp-*"))


def stale_temporaries(paths) -> list[Path]:
    """The temporary files (:func:`temporary_name`) of ``paths`` that a process no longer running left
    behind: those of a live writer (this process included) are in use, not stale."""
    found = []
    for path in {Path(p) for p in paths}:
        stem = temporary_name(path, 0).name[:-1]  # ".NAME.tmp-"
        try:
            entries = list(path.parent.iterdir())
        except OSError:
            continue
        for f in entries:
            pid = f.name[len(stem):]
            if f.name.startswith(stem) and pid.isdigit() and not _running(int(pid)) and f.is_file():
                found.append(f)
    return sorted(found)


def remove_stale_temporaries(paths) -> int:
    """Remove the :func:`stale_temporaries` of ``paths`` (what a killed earlier run left beside these
    outputs, only theirs); returns how many."""
    removed = 0
    for f in stale_temporaries(paths):
        try:
            f.unlink()
            removed += 1
        except OSError:
            pass
    return removed


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process (or no possible one)
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def finish_temporary(tmp, path) -> Path:
    """Make the written temporary ``tmp`` (:func:`temporary_name` of ``path``) the file ``path``: fsync it,
    rename it over ``path``, fsync the folder. Until the rename ``path`` is the old file (or none)."""
    path = Path(path)
    _fsync_file(Path(tmp))
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


def rename_all(pairs) -> None:
    """Rename each finished file ``src`` of the (src, dst) ``pairs`` to ``dst`` (replacing a file there;
    the same file system), then fsync every folder involved once."""
    folders = {}
    for src, dst in pairs:
        os.replace(src, dst)
        folders.update(dict.fromkeys([Path(src).parent, Path(dst).parent]))
    for folder in folders:
        fsync_dir(folder)


def move_aside(paths, folder, stem: str) -> Path:
    """Move the files ``paths`` into a new folder ``folder/stem`` (``stem-2``, ``stem-3``, ... when that
    name is taken: two in the same second); returns it."""
    for n in range(1, 1000):
        dest = Path(folder) / (stem if n == 1 else f"{stem}-{n}")
        try:
            dest.mkdir()
            break
        except FileExistsError:
            continue
    rename_all((p, dest / Path(p).name) for p in paths)
    return dest


@contextmanager
def replacing(path):
    """Yield a temporary path beside ``path`` (:func:`temporary_name`) for a writer that opens files by
    name; when the block ends normally the file is made ``path`` (:func:`finish_temporary`). On any
    exception the temporary is removed, ``path`` is left as it was and the exception goes on unchanged
    (an OSError stays one: for callers that report write failures themselves; else ``atomic_path``)."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        finish_temporary(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path, what: str = "", need_bytes: int | None = None):
    """Yield a temporary path beside ``path`` for a writer that opens files by name (torch.save,
    h5py, cv2, savefig, open); when the block ends normally the file is fsynced and renamed over
    ``path`` and the folder fsynced (:func:`replacing`). On any exception the temporary is removed and
    ``path`` is left as it was; an OSError becomes one SRCNNError line: "PATH: cannot write[ the WHAT]
    (REASON)", with "it needs about N MB" on a full disk when ``need_bytes`` is given. The folder must
    exist."""
    path = Path(path)
    try:
        with replacing(path) as tmp:
            yield tmp
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM) and not os.access(path.parent, os.W_OK):
            raise SRCNNError(f"{path}: cannot write, folder {path.parent} is not writable") from None
        need = (f"; it needs about {need_bytes / 1e6:.1f} MB"
                if need_bytes and e.errno in (errno.ENOSPC, errno.EDQUOT) else "")
        the = f" the {what}" if what else ""
        raise SRCNNError(f"{path}: cannot write{the} ({one_line(e)}){need}; an earlier file of that "
                         "name, if any, is kept") from None


def atomic_text(path, text: str, what: str = "") -> None:
    """Write ``text`` (UTF-8) to ``path`` through ``atomic_path``."""
    with atomic_path(path, what) as tmp:
        tmp.write_text(text, encoding="utf-8")


DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS)


def disk_error(e: BaseException, where, kept: str) -> SRCNNError | None:
    """A full disk, quota, I/O error or read-only file system in a writer (an OSError, or the SRCNNError
    ``atomic_path`` raised from one) as one line "FILE: REASON; KEPT" (FILE: the OSError's, else
    ``where``); None for any other error, which the caller lets go on."""
    cause = e if isinstance(e, OSError) else e.__context__
    if not isinstance(cause, OSError) or cause.errno not in DISK_ERRNOS:
        return None
    what = f"{e.filename or where}: {e.strerror}" if e is cause else str(e)
    return SRCNNError(f"{what}; {kept}")
