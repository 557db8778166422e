"""Shared fixtures: the datasets root for the real-set checks and small synthetic images."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
_DEFAULT_SHARED = REPO.parent / "shared" / "datasets"

# Tests read real sets from SRCNN_DATA, else ../shared/datasets beside the checkout.
if "SRCNN_DATA" not in os.environ and _DEFAULT_SHARED.is_dir():
    os.environ["SRCNN_DATA"] = str(_DEFAULT_SHARED)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The datasets root holding Set5/, Set14/, T91/, reference/; skips loudly when absent."""
    root = Path(os.environ.get("SRCNN_DATA", _DEFAULT_SHARED))
    if not (root / "Set5").is_dir():
        pytest.skip(f"REAL-DATA CHECK SKIPPED: no datasets root at {root} "
                    "(set SRCNN_DATA or place ../shared/datasets beside the checkout)")
    return root


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def smooth_image(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A natural-looking synthetic test image: (H,W,C) uint8 (or (H,W) when channels == 0)."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for c in range(max(channels, 1)):
        f = r.uniform(0.02, 0.2, size=4)
        v = (np.sin(xx * f[0] + c) * np.cos(yy * f[1]) + np.sin((xx + yy) * f[2]) * 0.5
             + np.cos(np.hypot(xx - w / 2, yy - h / 2) * f[3]))
        v = (v - v.min()) / (np.ptp(v) + 1e-9)
        v = v * 200 + 28 + r.normal(0, 6, size=v.shape)
        chans.append(np.clip(np.round(v), 0, 255).astype(np.uint8))
    if channels == 0:
        return chans[0]
    return np.stack(chans, axis=-1)


@pytest.fixture
def make_image():
    return smooth_image


@pytest.fixture
def light_training(monkeypatch):
    """Keep tiny training runs cheap on a busy 2-core machine (used by the engine and train CLI tests):
    - fsync only matters on power loss and costs ~0.2 s per call on a busy disk: skipped in-process
      (the subprocess kill tests keep it);
    - one torch thread: with the cores shared, 2 OpenMP threads on these tiny convolutions spend ~10x
      longer waiting for each other than computing. Subprocesses get OMP_NUM_THREADS=1 so that their
      runs are comparable bit for bit."""
    import torch
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 300 KiB tmpfs (root with mount rights only): a real disk-full for the writers. Skips loudly
    where it cannot be mounted."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"DISK-FULL TEST NOT RUN: cannot mount a small tmpfs here ({r.stderr.strip() or 'not root'})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def fill_disk(folder: Path) -> None:
    """Write a filler file in ``folder`` until its file system has no space left."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
