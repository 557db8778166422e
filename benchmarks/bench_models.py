"""Training speed of every architecture family, float32 against autocast (bfloat16 on the CPU, float16
on CUDA): samples/s of a full training step (forward, MSE loss, backward, Adam) on random batches of
the model's default training patches (srcnn.models.data_defaults).

    python benchmarks/bench_models.py                          # CPU, the threads torch picks
    OMP_NUM_THREADS=1 python benchmarks/bench_models.py --threads 1 --models vdsr srcnn
    python benchmarks/bench_models.py --device cuda

Not a unit test. The figure is the median of --repeats timed windows of --seconds each.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from srcnn.models import build_model, data_defaults, input_kind  # noqa: E402

FAMILIES = ("srcnn", "fsrcnn", "espcn", "vdsr")


def batch(name: str, scale: int, size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    d = data_defaults(name, scale)
    p = d["patch_size"]
    side = p // scale if d["input"] == "lr" else p
    return torch.rand(size, 1, side, side, device=device), torch.rand(size, 1, p, p, device=device)


def samples_per_s(name: str, scale: int, bs: int, amp: bool, seconds: float, repeats: int, device) -> float:
    kw = {"scale": scale} if input_kind(name) == "lr" else {}
    if name == "srcnn":
        kw["padding"] = "none"  # as train.py trains it
    model = build_model(name, **kw).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, y = batch(name, scale, bs, device)
    dtype = torch.bfloat16 if device.type == "cpu" else torch.float16

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            out = model(x)
        c = (y.shape[-1] - out.shape[-1]) // 2  # SRCNN without padding: the centre of the label
        loss = F.mse_loss(out.float(), y[..., c:c + out.shape[-2], c:c + out.shape[-1]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    rates = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            step()
            n += bs
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(FAMILIES), help="registry names (default: the four families)")
    ap.add_argument("--scale", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per window")
    ap.add_argument("--repeats", type=int, default=3, help="timed windows per row (the median counts)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    amp_name = "bf16 autocast" if device.type == "cpu" else "fp16 autocast"
    print(f"device {device}, threads {torch.get_num_threads()}, x{a.scale}, batch {a.batch_size}")
    print(f"| model | patch | float32 samples/s | {amp_name} samples/s | speed-up |")
    print("|---|---|---|---|---|")
    for name in a.models:
        fp32 = samples_per_s(name, a.scale, a.batch_size, False, a.seconds, a.repeats, device)
        mixed = samples_per_s(name, a.scale, a.batch_size, True, a.seconds, a.repeats, device)
        p = data_defaults(name, a.scale)["patch_size"]
        print(f"| {name} | {p}x{p} | {fp32:,.0f} | {mixed:,.0f} | {mixed / fp32:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
