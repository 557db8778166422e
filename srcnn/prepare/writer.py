"""Writing HDF5 files of patches: ``PatchWriter`` appends blocks of samples to a /train group (checking
the free space first: ``NoSpace``), ``h5_create`` / ``abandon_h5`` open and give up files being
written without HDF5 crashing the process after a failed write, ``write_failure`` recognises such a
failure, and ``fingerprint`` is the identity of a file's content. The layout is "srcnn-patches"
(srcnn.h5format; docs/formats.md).
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from pathlib import Path

import h5py
import numpy as np

from ..errors import SRCNNError
from ..h5format import FORMAT_VERSION, HR, LR, SCALE
from .config import PrepareConfig

CHUNK = 256  # samples per HDF5 chunk (axis 0)
WRITE_BLOCK = 4096  # samples buffered before a write


def fingerprint(cfg: PrepareConfig, sources: list[dict]) -> str:
    """sha256 hex over the format version, the parameters and the source list (path, sha256, split, size)."""
    blob = json.dumps({"format_version": FORMAT_VERSION, "params": cfg.params(), "sources": sources},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class NoSpace(SRCNNError):
    """Not enough free space for the next write (checked before HDF5 writes: a failed HDF5 write
    cannot be recovered from, the library crashes the process later)."""


SPACE_MARGIN = 1 << 20  # bytes kept free beyond a write and the file's chunk cache, for HDF5 metadata


def check_space(f: h5py.File, nbytes: int, written: int = 0) -> None:
    """NoSpace naming the file and the space needed when writing ``nbytes`` more to ``f`` (plus what
    of the ``written`` bytes may still sit in its chunk cache, and a margin) would not fit."""
    try:
        st = os.statvfs(Path(f.filename).parent)
        cache = f.id.get_access_plist().get_cache()[2]
    except (OSError, AttributeError, ValueError):  # no statvfs: HDF5 reports a failed write itself
        return
    free, need = st.f_bavail * st.f_frsize, nbytes + min(cache, written) + SPACE_MARGIN
    if need > free:
        raise NoSpace(f"{f.filename}: not enough free space: the next write needs about {need / 1e6:.1f} MB, "
                      f"{free / 1e6:.1f} MB are free there")


class PatchWriter:
    """Appends patch blocks to /train/{lr,hr,scale}: lr (N,C,R,R) float16, hr (N,C,L,L) uint8, scale (N,)
    uint8 (resizable, chunked along axis 0), buffering up to WRITE_BLOCK samples. R: the input side
    (p, or p/s for input "lr")."""

    def __init__(self, group: h5py.Group, c: int, r: int, l: int):
        self.lr = group.create_dataset(LR, (0, c, r, r), np.float16, maxshape=(None, c, r, r), chunks=(CHUNK, c, r, r))
        self.hr = group.create_dataset(HR, (0, c, l, l), np.uint8, maxshape=(None, c, l, l), chunks=(CHUNK, c, l, l))
        self.scale = group.create_dataset(SCALE, (0,), np.uint8, maxshape=(None,), chunks=(CHUNK * 16,))
        self.count = 0
        self.buf: list[tuple] = []
        self.buffered = 0
        self.written = 0  # bytes handed to HDF5 so far (some may still sit in its chunk cache)

    def append(self, lr: np.ndarray, hr: np.ndarray, scale: np.ndarray) -> None:
        self.buf.append((lr, hr, scale))
        self.buffered += len(lr)
        if self.buffered >= WRITE_BLOCK:
            self.flush()

    def flush(self) -> None:
        if not self.buffered:
            return
        nbytes = sum(a.nbytes for b in self.buf for a in b)
        check_space(self.lr.file, nbytes, self.written)
        self.written += nbytes
        n0, n1 = self.count, self.count + self.buffered
        for ds, k in ((self.lr, 0), (self.hr, 1), (self.scale, 2)):
            ds.resize(n1, axis=0)
            ds[n0:n1] = np.concatenate([b[k] for b in self.buf])
        self.count, self.buf, self.buffered = n1, [], 0


_WRITE_ERRNOS = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded",
                 errno.EIO: "Input/output error", errno.EROFS: "Read-only file system"}


def write_failure(e: BaseException) -> str | None:
    """The reason when ``e`` is a failed write (disk full, quota, I/O error, read-only), else None.
    h5py reports these as RuntimeError/OSError text holding "errno = N"."""
    if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
        return e.strerror or _WRITE_ERRNOS[e.errno]
    text = str(e)
    for code, why in _WRITE_ERRNOS.items():
        if f"errno = {code}," in text or why in text:
            return why
    return None


def abandon_h5(f) -> None:
    """Close an HDF5 file being written that is given up (maybe after a failed write: disk full).
    HDF5 retries the failed writes at every later close and, failing again, crashes the process
    when the objects are freed (a segmentation fault after the error message); so its descriptor is
    pointed at /dev/null first, where they succeed. The caller deletes the file."""
    with contextlib.suppress(Exception):
        if f.id.valid:  # still open: the descriptor is HDF5's own
            fd = f.id.get_vfd_handle()
            nul = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(nul, fd)
            finally:
                os.close(nul)
    with contextlib.suppress(Exception):
        f.close()


@contextlib.contextmanager
def h5_create(path: Path, **kw):
    """``h5py.File(path, "w", **kw)`` closed on success; on any error abandoned (see abandon_h5) and
    deleted, then the error goes on."""
    f = h5py.File(path, "w", **kw)
    try:
        yield f
    except BaseException:
        abandon_h5(f)
        Path(path).unlink(missing_ok=True)
        raise
    f.close()

