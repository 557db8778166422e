"""Simulate an ImageNet-scale preparation on this machine: generate a large folder of synthetic
natural-ish images once (cached outside the repository), run prepare_data.py on it, stream the result
with srcnn.data's bounded-memory loader, and train SRCNN 9-5-5 from the stream for a few hundred steps.

    python benchmarks/bench_large.py                          # 50,000 images, 128..256 px, cached in /tmp
    python benchmarks/bench_large.py --images 500             # a one-minute try
    nice -n 10 python benchmarks/bench_large.py --images 12000 --workers 2 --shard-size 200000

Measured (each phase in its own process, so peak RSS is per phase): preparation wall time, images/s,
patches/s, peak RSS of the whole process tree (sampled from /proc every 0.2 s; workers included)
and the output size; streaming: samples/s and peak RSS of the reader (DataLoader workers included);
training: samples/s of 9-5-5 (no padding, Adam, MSE) fed by the stream, against the same steps on one
batch already in memory (ratio ~1: the input pipeline keeps up). Not a unit test: run it by hand and
copy the printed figures (and the command) into the notes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from srcnn.cli.common import run  # noqa: E402


# ----------------------------------------------------------------------------- synthetic folder

def synthetic_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h,w,3) uint8 that looks vaguely natural: smooth multi-octave colour noise (1/f-like), a few
    sharp-edged shapes and lines (edges for the network to learn), mild sensor noise."""
    import cv2
    img = np.zeros((h, w, 3), np.float32)
    for octave, amp in ((8, 1.0), (24, 0.5), (64, 0.25)):
        small = rng.random((max(2, h // (256 // octave)), max(2, w // (256 // octave)), 3), dtype=np.float32)
        img += amp * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / (np.ptp(img) + 1e-6) * 255
    for _ in range(int(rng.integers(2, 8))):
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.circle(img, (x, y), int(rng.integers(4, max(5, min(h, w) // 3))), colour, -1, cv2.LINE_AA)
        else:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour,
                     int(rng.integers(1, 5)), cv2.LINE_AA)
    img += rng.normal(0, 2, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_folder(root: Path, n: int, min_size: int, max_size: int, seed: int = 0) -> Path:
    """``root/synthetic-N-MIN-MAX/DDD/IIIIIII.jpg``, written once (a ``complete`` marker at the end)."""
    import cv2
    folder = root / f"synthetic-{n}-{min_size}-{max_size}"
    if (folder / "complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    t0 = time.perf_counter()
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        h, w = (int(v) for v in rng.integers(min_size, max_size + 1, 2))
        sub = folder / f"{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        # ImageNet is JPEG; quality 90 keeps most of the synthetic detail
        _, buf = cv2.imencode(".jpg", synthetic_image(rng, h, w)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        (sub / f"{i:07d}.jpg").write_bytes(buf.tobytes())
        if (i + 1) % 5000 == 0:
            print(f"  generated {i + 1}/{n} images ({(i + 1) / (time.perf_counter() - t0):.0f}/s)", flush=True)
    (folder / "complete").write_text(str(n))
    print(f"generated {n} images in {folder} in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder


# ----------------------------------------------------------------------------- measuring a process tree

def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{d}/statm") as f:
                rss[int(d)] = int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(parts[1]), []).append(int(d))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def run_measured(cmd: list[str]) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds (user + system, the whole tree), peak RSS of its process
    tree (sampled every 0.2 s), exit code, stdout."""
    import resource
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            done.wait(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = proc.communicate()
    done.set()
    t.join()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": cpu, "peak_rss_mb": peak[0] / 2**20,
            "rc": proc.returncode, "stdout": out}


# ----------------------------------------------------------------------------- read / train phases

def phase_read(path: str, batch_size: int, workers: int, max_samples: int) -> dict:
    """Stream one epoch (or max_samples) with make_loader(mode='stream'); samples/s."""
    from srcnn.data import make_loader, open_patches
    pf = open_patches(path)
    loader = make_loader(pf, "stream", batch_size, seed=0, workers=workers)
    n, t0 = 0, time.perf_counter()
    for x, y in loader.epoch(0):
        n += len(x)
        if n >= max_samples:
            break
    dt = time.perf_counter() - t0
    return {"samples": n, "seconds": dt, "samples_per_s": n / dt, "file_samples": pf.count,
            "loader": loader.describe()}


def phase_train(path: str, batch_size: int, workers: int, steps: int) -> dict:
    """``steps`` Adam steps of 9-5-5 (no padding, MSE on the centre of the label) from the stream, and
    the same steps on one batch held in memory; samples/s of both."""
    import torch
    import torch.nn.functional as F

    from srcnn.data import make_loader, open_patches
    from srcnn.models import SRCNN
    pf = open_patches(path)
    loader = make_loader(pf, "stream", batch_size, seed=0, workers=workers)
    torch.manual_seed(0)
    model = SRCNN(9, 5, 5, channels=pf.channels, padding="none")
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(x, y):
        out = model(x)
        c = (y.shape[-1] - out.shape[-1]) // 2
        loss = F.mse_loss(out, y[..., c:c + out.shape[-2], c:c + out.shape[-1]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def timed(batches) -> tuple[int, float]:
        n, t0 = 0, None
        for i, (x, y) in enumerate(batches):
            if i == 5:  # warm-up
                n, t0 = 0, time.perf_counter()
            step(x, y)
            n += len(x)
            if i + 1 >= steps + 5:
                break
        return n, time.perf_counter() - t0

    def stream():
        e = 0
        while True:
            yield from loader.epoch(e)
            e += 1

    n_s, t_s = timed(stream())
    x, y = next(loader.epoch(1))
    n_m, t_m = timed((x, y) for _ in iter(int, 1))
    return {"steps": steps, "batch_size": batch_size, "stream_samples_per_s": n_s / t_s,
            "memory_samples_per_s": n_m / t_m, "ratio": (n_s / t_s) / (n_m / t_m),
            "threads": torch.get_num_threads()}


# ----------------------------------------------------------------------------- main

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=50_000, help="synthetic images (default: 50,000)")
    p.add_argument("--min-size", type=int, default=128)
    p.add_argument("--max-size", type=int, default=256)
    p.add_argument("--cache", default="/tmp/srcnn-bench-large", help="folder for the images and the output")
    p.add_argument("--workers", type=int, default=1, help="prepare_data.py --workers (default: 1)")
    p.add_argument("--shard-size", type=int, default=0, help="prepare_data.py --shard-size (default: one file)")
    p.add_argument("--scale", default="3")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--loader-workers", type=int, default=2, help="DataLoader workers of the stream (default: 2)")
    p.add_argument("--read-samples", type=int, default=1_000_000, help="stream at most this many (default: 1e6)")
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--keep", action="store_true", help="keep the prepared HDF5 (default: delete it at the end)")
    p.add_argument("--phase", choices=("read", "train"), help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    a = p.parse_args()

    if a.phase == "read":
        print(json.dumps(phase_read(a.file, a.batch_size, a.loader_workers, a.read_samples)))
        return 0
    if a.phase == "train":
        print(json.dumps(phase_train(a.file, a.batch_size, a.loader_workers, a.train_steps)))
        return 0

    cache = Path(a.cache)
    cache.mkdir(parents=True, exist_ok=True)
    folder = make_folder(cache, a.images, a.min_size, a.max_size)
    src_bytes = sum(f.stat().st_size for f in folder.rglob("*.jpg"))
    out = cache / "bench.h5"
    for old in [out, *cache.glob("bench-*.h5")]:
        old.unlink(missing_ok=True)
    shutil.rmtree(cache / ".bench.h5.partial", ignore_errors=True)
    cmd = [sys.executable, "prepare_data.py", "--images", str(folder), "--out", str(out), "--scale", a.scale,
           "--workers", str(a.workers)] + (["--shard-size", str(a.shard_size)] if a.shard_size else [])
    print("prepare:", " ".join(cmd[1:]), flush=True)
    r = run_measured(cmd)
    if r["rc"] != 0:
        print(f"prepare_data.py failed with exit code {r['rc']}", file=sys.stderr)
        return 1
    files = sorted(cache.glob("bench-*.h5")) if a.shard_size else [out]
    import h5py
    with h5py.File(files[0]) as f:
        n = int(f.attrs["total_count"]) if a.shard_size else int(f["train"].attrs["count"])
    size = sum(f.stat().st_size for f in files)
    res = {"images": a.images, "size_range": [a.min_size, a.max_size], "source_mb": src_bytes / 1e6,
           "prepare": {"seconds": r["seconds"], "images_per_s": a.images / r["seconds"],
                       "cpu_seconds": r["cpu_seconds"], "images_per_cpu_s": a.images / r["cpu_seconds"],
                       "patches": n, "patches_per_image": n / a.images, "patches_per_s": n / r["seconds"],
                       "peak_rss_mb": r["peak_rss_mb"], "files": len(files), "bytes": size,
                       "bytes_per_patch": size / n, "workers": a.workers,
                       "summary": r["stdout"].strip().splitlines()[0]}}
    print(json.dumps(res["prepare"], indent=1), flush=True)
    common = [sys.executable, __file__, "--file", str(files[0]), "--batch-size", str(a.batch_size),
              "--loader-workers", str(a.loader_workers)]
    r = run_measured([*common, "--phase", "read", "--read-samples", str(a.read_samples)])
    res["read"] = {**json.loads(r["stdout"].strip().splitlines()[-1]), "peak_rss_mb": r["peak_rss_mb"]}
    print(json.dumps(res["read"], indent=1), flush=True)
    r = run_measured([*common, "--phase", "train", "--train-steps", str(a.train_steps)])
    res["train"] = {**json.loads(r["stdout"].strip().splitlines()[-1]), "peak_rss_mb": r["peak_rss_mb"]}
    print(json.dumps(res["train"], indent=1), flush=True)
    (cache / f"result-{a.images}.json").write_text(json.dumps(res, indent=1))
    print(f"results in {cache / f'result-{a.images}.json'}")
    if not a.keep:
        for f in files:
            f.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
