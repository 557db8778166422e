"""Many images at once: ``ordered_results`` runs ``process_image`` in a pool of worker processes and
yields the results in image order, with bounded memory; ``Interrupt`` turns SIGINT/SIGTERM into
KeyboardInterrupt in the parent, at points where the writer can keep what it has done.

Results are the same for any number of workers (see srcnn.prepare.patches), so the output is too.
"""
from __future__ import annotations

import collections
import contextlib
import math
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np

from .config import PrepareConfig
from .patches import ImageResult, process_image

_WORKER_CFG: PrepareConfig | None = None


def _init_worker(cfg: PrepareConfig) -> None:
    global _WORKER_CFG
    _WORKER_CFG = cfg
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled (once) by the parent
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # Pool.terminate() must always stop a worker
    cv2.setNumThreads(1)


def _pool(workers: int, cfg: PrepareConfig):
    """A process pool that never forks the (multi-threaded: tqdm, OpenCV) parent itself, which can
    deadlock the child: workers come from a forkserver that has imported this module once (spawn
    where there is none)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
    else:
        ctx = multiprocessing.get_context("spawn")
    return ctx.Pool(workers, initializer=_init_worker, initargs=(cfg,))


def _work(task, spool: str) -> ImageResult:
    """process_image in a worker. The patch arrays (tens of MB per image with --augment) go back
    through a file in ``spool`` (page cache, ~1 GB/s) rather than the pool's pipe (~150 MB/s)."""
    res = process_image(*task, _WORKER_CFG)
    if res.lr is not None:
        path = os.path.join(spool, f"{res.index}.bin")
        with open(path, "wb") as f:
            for a in (res.lr, res.hr, res.scale):
                a.tofile(f)
        res.spooled = (path, res.lr.shape, res.hr.shape)
        res.lr = res.hr = res.scale = None
    return res


def _unspool(res: ImageResult) -> ImageResult:
    if res.spooled:
        path, lr_shape, hr_shape = res.spooled
        with open(path, "rb") as f:
            res.lr = np.fromfile(f, np.float16, math.prod(lr_shape)).reshape(lr_shape)
            res.hr = np.fromfile(f, np.uint8, math.prod(hr_shape)).reshape(hr_shape)
            res.scale = np.fromfile(f, np.uint8, lr_shape[0])
        os.unlink(path)
        res.spooled = None
    return res


class Interrupt:
    """Within ``with Interrupt() as stop:`` (main thread only), SIGINT and SIGTERM raise
    KeyboardInterrupt, and ``stop.check()`` raises it again if the first one got lost: Python drops
    an exception raised by a signal handler while a weakref callback or __del__ runs, which happens
    while a process pool is busy. Inside ``with stop.deferred():`` a signal is only noted, and raised
    by the next ``check()``. Other threads: a no-op."""

    def __init__(self):
        self.hit, self.old, self.defer = None, {}, 0

    def __enter__(self) -> "Interrupt":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.old[sig] = signal.signal(sig, self._handler)
            self.old_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        return self

    def _unraisable(self, u) -> None:
        if not (self.hit and isinstance(u.exc_value, KeyboardInterrupt)):  # the lost one: check() redoes it
            self.old_hook(u)

    def _handler(self, signum, frame):
        self.hit = signal.Signals(signum).name
        if not self.defer:
            raise KeyboardInterrupt(self.hit)

    @contextlib.contextmanager
    def deferred(self):
        self.defer += 1
        try:
            yield
        finally:
            self.defer -= 1

    def check(self) -> None:
        if self.hit:
            raise KeyboardInterrupt(self.hit)

    def __exit__(self, *exc) -> None:
        for sig, handler in self.old.items():
            signal.signal(sig, handler)
        if self.old:
            sys.unraisablehook = self.old_hook


def ordered_results(tasks: list, cfg: PrepareConfig, workers: int, spool_parent: Path | str | None = None,
                    check=lambda: None):
    """Yield process_image results in task order, with at most 2 results per worker in flight
    (bounded memory even when the writer is slower than the workers). With workers > 1 the patches
    pass through a temporary folder in ``spool_parent`` (default: the system temp folder);
    ``check()`` is called at least every 0.2 s while waiting for a worker."""
    if workers <= 1 or not tasks:
        for t in tasks:
            yield process_image(*t, cfg)
        return
    spool = tempfile.mkdtemp(prefix=".prepare-spool-", dir=spool_parent)
    pool = None
    try:
        pool = _pool(workers, cfg)
        pending: collections.deque = collections.deque()
        it = iter(tasks)
        for t in it:
            pending.append(pool.apply_async(_work, (t, spool)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            job = pending.popleft()
            while not job.ready():
                check()
                job.wait(0.2)
            res = _unspool(job.get())
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.apply_async(_work, (nxt, spool)))
            yield res
        pool.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        shutil.rmtree(spool, ignore_errors=True)

