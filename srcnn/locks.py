"""One exclusive lock per output folder, held while a program writes there (prepare_data.py's partial
folder, train.py's run folder).

The lock is ``flock`` on a file in the folder, which also records the holder's pid. The kernel drops
it when the holder exits in any way (SIGKILL included), so a lock file left by a killed run never
blocks: the next run simply takes it over. A lock file that is a symbolic link (or any non-regular
file) is refused, never followed: its target would be overwritten with the pid. Where ``fcntl`` does not exist (Windows) nothing is locked.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import SRCNNError, one_line


class FolderLock:
    """An exclusive lock on a folder (see lock_folder); ``release()`` or ``with`` ends it."""

    def __init__(self, handle, path: Path | None = None, remove: bool = False):
        self._fh, self._path, self._remove = handle, path, remove

    def release(self) -> None:
        if self._fh is not None:
            if self._remove and self._path is not None:  # while still held: see lock_folder
                try:
                    self._path.unlink(missing_ok=True)
                except OSError:
                    pass
            self._fh.close()  # closing the file releases the flock
            self._fh = None

    close = release

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def lock_folder(folder, who: str, name: str = "lock", remove: bool = False) -> FolderLock:
    """Lock ``folder`` (which must exist) for this process, or SRCNNError "FOLDER: another WHO is
    writing this output (pid N)" naming the process that holds it. ``who`` says what the holder is,
    e.g. "prepare_data.py run". A lock whose holder died is free again and is taken over silently.
    With ``remove`` the lock file is deleted on release (a lock is only trusted when the file locked
    is still the one at that path, so deleting it cannot let two processes in)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (not POSIX)
        return FolderLock(None)
    folder = Path(folder)
    path = folder / name
    for _ in range(100):
        fh = _open_lock(path)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                fh.seek(0)
                pid = fh.read(32).strip()
            except OSError:
                pid = ""
            fh.close()
            holder = f" (pid {pid})" if pid.isdigit() else ""
            raise SRCNNError(f"{folder}: another {who} is writing this output{holder}; wait for it to end "
                             "or stop it") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()  # the holder released and deleted it meanwhile: lock the new file
    else:  # pragma: no cover
        raise SRCNNError(f"{path}: cannot take the lock (the file keeps changing)")
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return FolderLock(fh, path, remove)


def lock_holder(folder, name: str = "lock") -> str | None:
    """Whether a process holds the lock ``folder/name`` now (see lock_folder), without taking it or creating
    anything: None when free (or no lock file), else the holder's pid as text ("" when unknown)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (not POSIX)
        return None
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(Path(folder) / name, flags)
    except OSError:
        return None
    with os.fdopen(fd, "r") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            try:
                pid = fh.read(32).strip()
            except OSError:
                pid = ""
            return pid if pid.isdigit() else ""
    return None


def _open_lock(path: Path):
    """The lock file ``path`` opened for reading and writing (created if missing), never through a symlink
    (its target would be truncated and overwritten with the pid) nor a FIFO or device: SRCNNError."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as e:
        if os.path.islink(path):  # ELOOP (Linux), EMLINK (FreeBSD), EFTYPE (NetBSD)
            raise SRCNNError(f"{path}: is a symbolic link, not a lock file; remove it (locks never follow "
                             "links)") from None
        raise SRCNNError(f"{path}: cannot create the lock file ({one_line(e)})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise SRCNNError(f"{path}: is not a regular file, so it cannot be a lock file; remove it")
    return os.fdopen(fd, "r+")


def make_folder(folder, option: str = "", target=None) -> Path:
    """Create ``folder`` and its parents (fine if it exists), or SRCNNError in one line: a file in the
    way (the folder itself or one above it), a name over the file system's limit, no permission. The
    message starts with ``target`` (a file to be written in the folder) when given, else the folder."""
    folder = Path(folder)
    what = f" ({option})" if option else ""
    head = f"{target}: {folder}" if target is not None else f"{folder}:"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    except FileExistsError:  # exists, but is not a folder
        raise SRCNNError(f"{head} is a file, not a folder{what}") from None
    except NotADirectoryError:
        above = next((p for p in folder.parents if p.exists() and not p.is_dir()), None)
        raise SRCNNError(f"{target or folder}: {above or 'a folder above it'} is a file, not a folder{what}") from None
    except OSError as e:
        where = f"{target}: cannot create the folder {folder}" if target is not None else \
            f"{folder}: cannot create the folder"
        raise SRCNNError(f"{where}{what} ({one_line(e)})") from None
