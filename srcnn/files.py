"""Input files: only regular files are read (a FIFO would block forever, /dev/zero never ends).

``regular_file`` checks a path before a library opens it by name (h5py, torch.load, scipy);
``read_regular`` reads one whole, opening it without blocking and checking what it opened.
Both raise SRCNNError naming the file: missing, a folder, a FIFO/device/socket, a path through a
file, a name over the file system's limit, no permission.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import SRCNNError

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
    raise SRCNNError(f"{path}: cannot read ({e.strerror or e})") from None


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
            raise SRCNNError(f"{path}: unusable {what} name ({e.strerror or e}){extra}") from None
