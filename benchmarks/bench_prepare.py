"""Benchmark prepare_data.py: T91 x3 time and size, images/s on BSD200 with --augment, and the cost
of storing the network input (lr) as float16 vs uint8 vs float32.

    python benchmarks/bench_prepare.py [--data-root DIR] [--workers 2] [--bsd-images 20]

Files go to a temporary folder (--tmp) and are deleted afterwards. Prints one line per measurement.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srcnn.datasets import data_root, resolve_set  # noqa: E402
from srcnn.images import read_image, to_rgb8  # noqa: E402
from srcnn.prepare import PrepareConfig, find_images, prepare  # noqa: E402
from srcnn.prepare.patches import extract_patches, to_channels  # noqa: E402
from srcnn.prepare.writer import CHUNK  # noqa: E402
from srcnn.protocol import degrade  # noqa: E402
from srcnn.resize import modcrop  # noqa: E402


def bench_t91(root: Path, tmp: Path, workers: int) -> None:
    folder = resolve_set("T91", root)
    paths = find_images(folder)
    for w in sorted({1, workers}):
        out = tmp / f"t91_w{w}.h5"
        t0 = time.perf_counter()
        s = prepare(paths, folder, out, PrepareConfig(scales=(3,)), workers=w, progress=False)
        dt = time.perf_counter() - t0
        print(f"T91 x3 defaults, workers={w}: {s.patches} patches from {s.train_images} images in {dt:.2f} s "
              f"({len(paths) / dt:.0f} images/s), file {out.stat().st_size / 1e6:.1f} MB")
        out.unlink()


def bench_bsd(root: Path, tmp: Path, workers: int, n: int) -> None:
    folder = resolve_set("BSD200", root)
    paths = find_images(folder)[:n]
    out = tmp / "bsd_aug.h5"
    t0 = time.perf_counter()
    s = prepare(paths, folder, out, PrepareConfig(scales=(3,), augment=True), workers=workers, progress=False)
    dt = time.perf_counter() - t0
    size = out.stat().st_size
    print(f"BSD200 (first {len(paths)} images) x3 --augment, workers={workers}: {s.patches} patches in {dt:.1f} s = "
          f"{len(paths) / dt:.2f} images/s, {s.patches / dt:.0f} patches/s, {size / 1e6:.0f} MB "
          f"({size / len(paths) / 1e6:.1f} MB per image; all 200 would be ~{size / len(paths) * 200 / 1e9:.1f} GB)")
    out.unlink()


def psnr(sse: float, n: int) -> float:
    return 10 * np.log10(1.0 / (sse / n)) if sse > 0 else float("inf")


def bench_storage(root: Path, tmp: Path) -> None:
    """T91 x3 defaults: lr patches kept as float64 here, then quantised three ways."""
    folder = resolve_set("T91", root)
    quant = {"float32": lambda x: x.astype(np.float32),
             "float16": lambda x: x.astype(np.float16),
             "uint8": lambda x: np.clip(np.round(x * 255), 0, 255).astype(np.uint8)}
    back = {"float32": lambda q: q.astype(np.float64), "float16": lambda q: q.astype(np.float64),
            "uint8": lambda q: q.astype(np.float64) / 255}
    sse = {k: 0.0 for k in quant}  # vs the float64 input
    sse_gt = {k: 0.0 for k in quant} | {"float64": 0.0}  # input vs label (the bicubic baseline)
    files = {k: h5py.File(tmp / f"lr_{k}.h5", "w") for k in quant}
    ds = {k: f.create_dataset("lr", (0, 1, 33, 33), np.dtype(k), maxshape=(None, 1, 33, 33), chunks=(CHUNK, 1, 33, 33))
          for k, f in files.items()}
    n = 0
    for p in find_images(folder):
        hr = modcrop(to_channels(to_rgb8(read_image(p)), 1), 3)
        lr = degrade(hr / 255.0, 3)[1]
        win = np.lib.stride_tricks.sliding_window_view(lr, (33, 33), axis=(0, 1))[::14, ::14]
        x = win.reshape(-1, 1, 33, 33)  # float64 patches
        _, y = extract_patches(lr, hr, 33, 33, 14)
        y = y / 255.0
        sse_gt["float64"] += float(((x - y) ** 2).sum())
        for k in quant:
            q = quant[k](x)
            sse[k] += float(((back[k](q) - x) ** 2).sum())
            sse_gt[k] += float(((back[k](q) - y) ** 2).sum())
            ds[k].resize(len(ds[k]) + len(q), axis=0)
            ds[k][-len(q):] = q
        n += x.size
    for f in files.values():
        f.close()
    hr_bytes = n  # uint8 labels, 33x33
    print(f"T91 x3 lr storage ({n // (33 * 33)} patches; labels uint8 add {hr_bytes / 1e6:.1f} MB):")
    print(f"  bicubic input vs label, unquantised float64: {psnr(sse_gt['float64'], n):.4f} dB")
    for k in quant:
        size = (tmp / f"lr_{k}.h5").stat().st_size
        print(f"  lr {k:7s}: {size / 1e6:6.1f} MB, PSNR vs float64 {psnr(sse[k], n):6.2f} dB, "
              f"RMS error {np.sqrt(sse[k] / n) * 255:.4f} grey levels, "
              f"input-vs-label PSNR {psnr(sse_gt[k], n):.4f} dB")
        (tmp / f"lr_{k}.h5").unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", help="datasets root (default: $SRCNN_DATA, else ./datasets)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bsd-images", type=int, default=20, help="BSD200 images for the --augment run (40 versions each)")
    ap.add_argument("--tmp", default=None, help="folder for the temporary files (default: system temp)")
    ap.add_argument("--only", choices=("t91", "bsd", "storage"), help="run one benchmark")
    args = ap.parse_args()
    root = data_root(args.data_root)
    tmp = Path(tempfile.mkdtemp(prefix="bench_prepare_", dir=args.tmp))
    try:
        if args.only in (None, "t91"):
            bench_t91(root, tmp, args.workers)
        if args.only in (None, "storage"):
            bench_storage(root, tmp)
        if args.only in (None, "bsd"):
            bench_bsd(root, tmp, args.workers, args.bsd_images)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
