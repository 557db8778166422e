"""A training run's folder (train.py --out-dir): its lock, its named checkpoints, log.jsonl and plot.png.

``open`` creates and locks the folder for one training (srcnn.locks: a second training into it is
refused, naming the running pid; the lock of a killed run is taken over) and removes temporary files a
killed run left (``.*.tmp-*``, srcnn.files). A new run in a folder that holds another run's files
(checkpoint.*, log.jsonl, plot.png) moves them to ``previous-<time>[-N]/`` there when it writes its
first checkpoint, so that a run that fails before that leaves the old one in place. Every file is
written atomically (srcnn.files).

``StopRequest``: SIGINT/SIGTERM while a run trains ask it to stop after the current batch and save a
checkpoint (exit codes 130/143); distributed, all ranks agree on it each step.
"""
from __future__ import annotations

import json
import os
import signal
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from .checkpoint import save_checkpoint
from .files import atomic_path, atomic_text, move_aside, temporaries
from .errors import SRCNNError
from .locks import lock_folder, lock_holder, make_folder

RUN_FILES = ("log.jsonl", "plot.png")   # besides checkpoint.*: what a run writes
LOCK = ".lock"                          # the run's lock file (srcnn.locks)
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


def refuse_running(path, what: str = "the output") -> None:
    """SRCNNError when ``path`` is in the folder of a training that is running now (its lock is held):
    nothing else writes there meanwhile (train.py export into a running run's folder)."""
    folder = Path(path).parent
    pid = lock_holder(folder, LOCK)
    if pid is not None:
        held = f" (pid {pid})" if pid else ""
        raise SRCNNError(f"{path}: {folder} is the folder of a running training{held}; write {what} elsewhere "
                         "or wait for the training to end")


class RunDir:
    def __init__(self, path, log=print):
        self.path, self.log = Path(path), log
        self._lock = None
        self._previous: list[Path] = []

    def open(self, fresh: bool) -> None:
        """Create and lock the folder, remove stale temporary files; ``fresh`` (a new run): note an old
        run's files, which the first ``save`` moves aside."""
        make_folder(self.path, "--out-dir")
        self._lock = lock_folder(self.path, "training", name=LOCK, remove=True)
        for tmp in temporaries(self.path):
            tmp.unlink(missing_ok=True)
        if not fresh:
            return
        self._previous = sorted(p for p in self.path.iterdir() if p.is_file() and
                                (p.name.startswith("checkpoint.") or p.name in RUN_FILES))
        if self._previous:
            self.log(f"note: {self.path} holds another run ({len(self._previous)} file(s)); they are moved "
                     "to previous-<time>/ there when this run writes its first checkpoint")

    def close(self) -> None:
        """Release the lock (nothing when not open)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def save(self, name: str, state: dict) -> Path:
        """Write the checkpoint ``state`` as ``name`` (the first of a new run moves the old run aside)."""
        if self._previous:
            self._move_previous_run()
        return save_checkpoint(state, self.path / name)

    def _move_previous_run(self) -> None:
        old, self._previous = self._previous, []
        dest = move_aside(old, self.path, datetime.now().strftime("previous-%Y%m%d-%H%M%S"))  # (-2: same second)
        self.log(f"note: {self.path} held another run; moved its {len(old)} file(s) to {dest}")

    def write_log(self, history: list[dict], loss_name: str) -> None:
        """log.jsonl (one JSON object per epoch, rewritten from the history) and, with matplotlib,
        plot.png (training loss and validation PSNR per epoch)."""
        atomic_text(self.path / "log.jsonl", "".join(json.dumps(h) + "\n" for h in history))
        try:
            import matplotlib
        except ImportError:
            return
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        ep = [h["epoch"] for h in history]
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(ep, [h["loss"] for h in history], color="tab:blue")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"training loss ({loss_name})", color="tab:blue")
        ax.set_yscale("log")
        val = [(h["epoch"], h["val_psnr"]) for h in history if h["val_psnr"] is not None]
        if val:
            ax2 = ax.twinx()
            ax2.plot(*zip(*val), color="tab:red")
            ax2.set_ylabel("validation PSNR (dB)", color="tab:red")
        fig.tight_layout()
        try:
            with atomic_path(self.path / "plot.png", "plot") as tmp:
                fig.savefig(tmp, dpi=100, format="png")
        finally:
            plt.close(fig)


class StopRequest:
    """A request to stop a run after the current batch: from SIGINT/SIGTERM while ``handled()`` runs (a
    second signal raises KeyboardInterrupt: stop at once, no saving), or from ``request``. ``agreed``: the
    signal the run stops for (None: go on); distributed (``dist``, srcnn.distributed), each rank records
    its own in ``local`` and ``sync`` decides for all ranks together."""

    def __init__(self, dist, log=print):
        self.dist, self.log = dist, log
        self.agreed = self.local = None
        self._pid = os.getpid()

    def request(self, signum=signal.SIGINT) -> None:
        """Ask to stop, as the signal ``signum`` would (distributed: every rank stops at the same step,
        the next time the ranks compare notes)."""
        if self.dist.enabled:
            self.local = signum
        else:
            self.agreed = signum

    def sync(self, n_local: int = 0) -> int:
        """Distributed: agree on stopping (``agreed`` set on every rank when any rank got a signal) and
        return the samples of this step over all ranks; single process: ``n_local``."""
        if not self.dist.enabled:
            return n_local
        n, sig = self.dist.sync_step(n_local, self.local)
        if sig is not None and self.agreed is None:
            self.agreed = sig
        return n

    def exit_code(self) -> int:
        return EXIT_SIGNAL.get(self.agreed, 1)

    @contextmanager
    def handled(self):
        """SIGINT/SIGTERM handlers that ``request`` a stop while the block runs; the handlers before are
        restored after it (none outside the main thread)."""
        handlers = {}
        try:
            for s in EXIT_SIGNAL:
                handlers[s] = signal.signal(s, self._on_signal)
        except ValueError:  # not the main thread: no signal handling
            pass
        try:
            yield
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)

    def _on_signal(self, signum, frame):
        if os.getpid() != self._pid:  # a forked DataLoader worker: the main process handles it
            return
        if self.agreed is not None or self.local is not None:  # second: stop now, no saving
            raise KeyboardInterrupt
        self.request(signum)
        self.log(f"\n{signal.Signals(signum).name}: stopping after this batch and saving a checkpoint "
                 "(send it again to quit without saving)")
