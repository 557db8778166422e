"""Training speed of every architecture family on each numeric path (float32 / autocast: bfloat16 on the
CPU, float16 on CUDA; default or channels-last layout): samples/s of a full training step (forward,
MSE loss, backward, Adam) on random batches of the model's default training patches
(srcnn.models.data_defaults), with the best path's label pixels/s and achieved GFLOP/s next to the
machine's measured matmul peak (a large torch.matmul in the same dtype).

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


def train_flops_per_sample(model, x) -> float:
    """FLOPs of one training step per sample: 2 x multiply-adds of the forward convolutions on x's shape
    (hooks, exact borders), times 3 (forward + backward for inputs and weights)."""
    macs = 0

    def hook(m, inputs, out):
        nonlocal macs
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, torch.nn.ConvTranspose2d):
            macs += inputs[0][0].numel() * m.out_channels // m.groups * k
        else:
            macs += out[0].numel() * m.in_channels // m.groups * k
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.no_grad():
        model(x[:1])
    for h in hs:
        h.remove()
    return 3 * 2 * macs


def matmul_peak(dtype, device, n: int = 2048, seconds: float = 1.0) -> float:
    """GFLOP/s of a large square torch.matmul (the machine's practical peak for dtype)."""
    a, b = torch.rand(n, n, device=device).to(dtype), torch.rand(n, n, device=device).to(dtype)
    a @ b
    k, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        k += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * n ** 3 * k / (time.perf_counter() - t0) / 1e9


PATHS = {"fp32": (False, False), "fp32-cl": (False, True), "bf16": (True, False), "bf16-cl": (True, True)}


def samples_per_s(name: str, scale: int, bs: int, path: str, seconds: float, repeats: int, device):
    """(samples/s, training FLOPs per sample, label pixels per sample) of a full training step."""
    amp, cl = PATHS[path]
    kw = {"scale": scale} if input_kind(name) == "lr" else {}
    if name == "srcnn":
        kw["padding"] = "none"  # as train.py trains it
    model = build_model(name, **kw).to(device)
    x, y = batch(name, scale, bs, device)
    flops = train_flops_per_sample(model, x)
    if cl:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    dtype = torch.bfloat16 if device.type == "cpu" else torch.float16
    out_side = [0]

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            out = model(x)
        c = (y.shape[-1] - out.shape[-1]) // 2  # SRCNN without padding: the centre of the label
        out_side[0] = out.shape[-1]
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
    return statistics.median(rates), flops, out_side[0] ** 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(FAMILIES), help="registry names (default: the four families)")
    ap.add_argument("--scale", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per window")
    ap.add_argument("--repeats", type=int, default=3, help="timed windows per row (the median counts)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS),
                    help="numeric paths to time (default: all four; bf16 = bfloat16 autocast on the CPU, "
                         "float16 on CUDA; -cl = channels-last)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    from srcnn.precision import cpu_native_bf16
    peak32 = matmul_peak(torch.float32, device)
    peak16 = matmul_peak(torch.bfloat16 if device.type == "cpu" else torch.float16, device)
    print(f"device {device}, threads {torch.get_num_threads()}, x{a.scale}, batch {a.batch_size}; native bf16: "
          f"{cpu_native_bf16() if device.type == 'cpu' else '-'}; matmul peak fp32 {peak32:,.0f} GFLOP/s, "
          f"{'bf16' if device.type == 'cpu' else 'fp16'} {peak16:,.0f} GFLOP/s")
    print("| model | patch | " + " | ".join(f"{p} samples/s" for p in a.paths)
          + " | best | label Mpx/s | GFLOP/s (share of its matmul peak) |")
    print("|---|---|" + "---:|" * (len(a.paths) + 3))
    for name in a.models:
        res = {p: samples_per_s(name, a.scale, a.batch_size, p, a.seconds, a.repeats, device) for p in a.paths}
        best = max(res, key=lambda p: res[p][0])
        rate, flops, label_px = res[best]
        gflops = rate * flops / 1e9
        peak = peak16 if best.startswith("bf16") else peak32
        p = data_defaults(name, a.scale)["patch_size"]
        print(f"| {name} | {p}x{p} | " + " | ".join(f"{res[q][0]:,.0f}" for q in a.paths)
              + f" | {best} | {rate * label_px / 1e6:.2f} | {gflops:,.1f} ({gflops / peak:.0%}) |", flush=True)


if __name__ == "__main__":
    main()
