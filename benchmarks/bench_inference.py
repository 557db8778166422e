"""Inference speed and memory of super_resolve (x3, SRCNN 9-5-5 or --model NAME), not a unit test.

    python benchmarks/bench_inference.py                    # CPU (and CUDA when available)
    python benchmarks/bench_inference.py --size 1200x900 --repeat 3 --big 4000x3000
    python benchmarks/bench_inference.py --model fsrcnn     # any registered architecture

Throughput is megapixels of *output* per second for an RGB image, best of --repeat runs:
  opencv bicubic    cv2.resize INTER_CUBIC (not MATLAB-compatible; the speed floor)
  matlab bicubic    srcnn.imresize of the RGB image (what the pipeline upscales with)
  network only      the forward pass on a (1,1,H,W) tensor (LR-input models: (1,1,H/3,W/3)), at once
  <model>, one pass super_resolve(tile=0): bicubic + YCbCr + network on the whole image + RGB
  <model>, tiled    super_resolve(tile=None): the same, in automatic tiles (the CLI default)
Memory: peak RSS of a fresh process that super-resolves and writes (PNG) a --big output, tiled, and
the same at a quarter of the size (bytes per output pixel and the fixed part follow), and of one
untiled pass at the throughput size for contrast.
The weights are random (speed does not depend on them).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from srcnn.cli.common import image_size  # noqa: E402
from srcnn.inference import AUTO_TILE, super_resolve  # noqa: E402
from srcnn.models import build_model, input_kind, model_names  # noqa: E402
from srcnn.resize import imresize  # noqa: E402

SCALE = 3


def network(name: str) -> torch.nn.Module:
    """The architecture ``name`` for x3 with random weights (speed does not depend on them)."""
    torch.manual_seed(0)
    return build_model(name, **({"scale": SCALE} if input_kind(name) == "lr" else {})).eval()


def size(text: str) -> tuple[int, int]:
    """argparse type: "WxH" (each >= SCALE) -> (w, h) rounded down to multiples of SCALE."""
    w, h = image_size(SCALE)(text)
    return w - w % SCALE, h - h % SCALE


def lr_image(w: int, h: int) -> np.ndarray:
    """A deterministic (h/3, w/3, 3) uint8 RGB image with some structure."""
    r = np.random.default_rng(0)
    small = r.integers(0, 256, (h // (8 * SCALE) + 1, w // (8 * SCALE) + 1, 3), dtype=np.uint8)
    img = cv2.resize(small, (w // SCALE, h // SCALE), interpolation=cv2.INTER_CUBIC)
    return np.clip(img.astype(np.int16) + r.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)


def best_time(fn, repeat: int, sync=lambda: None) -> float:
    times = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def throughput(name: str, device: str, w: int, h: int, repeat: int) -> list[tuple[str, float, float]]:
    model = network(name).to(device)
    lr = lr_image(w, h)
    mp = w * h / 1e6
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    u = model.upscale
    x = torch.rand(1, 1, h // u, w // u, device=device)

    def net():
        with torch.inference_mode():
            model(x)
    rows = []
    if device == "cpu":
        cubic = cv2.INTER_CUBIC
        rows.append(("opencv bicubic", best_time(lambda: cv2.resize(lr, (w, h), interpolation=cubic), repeat)))
        rows.append(("matlab bicubic (srcnn.imresize)",
                     best_time(lambda: imresize(lr.astype(np.float64), SCALE), repeat)))
    super_resolve(lr[:32, :32], model, SCALE)   # warm-up (cuDNN autotune, allocator)
    net()
    rows.append(("network only, one pass", best_time(net, repeat, sync)))
    rows.append((f"{name}, one pass (tile=0)",
                 best_time(lambda: super_resolve(lr, model, SCALE, tile=0), repeat, sync)))
    rows.append((f"{name}, tiled (auto, {AUTO_TILE[device]} px)",
                 best_time(lambda: super_resolve(lr, model, SCALE), repeat, sync)))
    return [(name, t, mp / t) for name, t in rows]


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it is not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: ru_maxrss (KiB on Linux/BSD)


def child_memory(name: str, w: int, h: int, tile: int | None) -> None:
    """Run in a fresh process: print peak RSS (MiB), seconds, and the RSS before the call (MiB)."""
    from srcnn.images import write_image
    model = network(name)
    lr = lr_image(w, h)
    with torch.inference_mode():
        model(torch.rand(1, 1, 40, 40))   # load the kernels before the baseline
    base = peak_rss_mib()
    t0 = time.perf_counter()
    out = super_resolve(lr, model, SCALE, tile=tile)
    with tempfile.TemporaryDirectory() as d:
        write_image(Path(d) / "out.png", out)
    peak = peak_rss_mib()
    print(f"{peak:.1f} {time.perf_counter() - t0:.2f} {base:.1f}")


def memory(name: str, w: int, h: int, tile: int | None) -> tuple[float, float, float]:
    cmd = [sys.executable, __file__, "--model", name, "--child", f"{w}x{h}",
           "--tile", str(-1 if tile is None else tile)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=size, default=(1200, 900), help="output WxH for throughput (default 1200x900)")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement, best kept (default 3)")
    p.add_argument("--big", type=size, default=(4002, 3000), help="output WxH for the memory test (default 4002x3000)")
    p.add_argument("--model", default="srcnn", choices=model_names(), metavar="NAME",
                   help="architecture to time, random weights (default srcnn = 9-5-5)")
    p.add_argument("--child", type=size, help=argparse.SUPPRESS)
    p.add_argument("--tile", type=int, default=-1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child_memory(args.model, *args.child, None if args.tile < 0 else args.tile)

    print(f"# bench_inference: x{SCALE}, {args.model}, RGB input; torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores visible")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    w, h = args.size
    for dev in devices:
        name = torch.cuda.get_device_name() if dev == "cuda" else "CPU"
        print(f"\n## throughput, {dev} ({name}), output {w}x{h} ({w * h / 1e6:.2f} MP), best of {args.repeat}")
        print("| method | seconds | output MP/s |\n|---|---:|---:|")
        for label, t, mps in throughput(args.model, dev, w, h, args.repeat):
            print(f"| {label} | {t:.4f} | {mps:.2f} |", flush=True)

    bw, bh = args.big
    print("\n## peak memory (CPU; super_resolve + PNG write; fresh process each)")
    print("| output | tile | peak RSS MiB | before the call MiB | seconds |\n|---|---|---:|---:|---:|")
    half = (bw // 2 - (bw // 2) % SCALE, bh // 2 - (bh // 2) % SCALE)
    results = []
    for (cw, ch), tile in ((half, None), ((bw, bh), None), ((w, h), 0)):
        peak, secs, base = memory(args.model, cw, ch, tile)
        results.append((cw * ch, peak, base))
        label = f"auto ({AUTO_TILE['cpu']} px)" if tile is None else "none (one pass)"
        print(f"| {cw}x{ch} ({cw * ch / 1e6:.1f} MP) | {label} | {peak:.0f} | {base:.0f} | {secs:.1f} |", flush=True)
    (p1, m1, base), (p2, m2, _), (p3, m3, b3) = results
    per_px = (m2 - m1) * 2 ** 20 / (p2 - p1)
    fixed = m2 - per_px * p2 / 2 ** 20
    fit = (4096 - fixed) * 2 ** 20 / per_px
    print(f"\ntiled: {per_px:.1f} bytes per output pixel + {fixed:.0f} MiB fixed (python, torch, model, tiles); "
          f"one pass: ~{(m3 - b3) * 2 ** 20 / p3:.0f} bytes per output pixel")
    print(f"largest RGB output in 4 GiB (whole process, tiled): ~{fit / 1e6:.0f} MP "
          f"(e.g. {int((fit * 4 / 3) ** 0.5)}x{int((fit * 3 / 4) ** 0.5)})")

if __name__ == "__main__":
    main()
