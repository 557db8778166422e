"""GPU speed of SRCNN 9-5-5: training and inference samples/s and the share of the GPU's peak, for
fp32, TF32, bf16 autocast, fp16 autocast (+ gradient scaling), each with and without channels-last,
and torch.compile; plus whether the input pipeline keeps the GPU busy (real HDF5 data through
train.py's loaders against synthetic batches already on the GPU).

    python benchmarks/bench_gpu.py                       # on a CUDA machine; ~2 minutes
    python benchmarks/bench_gpu.py --device cpu --seconds 1 --no-compile   # smoke run anywhere

Not a unit test. FLOPs are counted analytically (2 x multiply-adds of the three convolutions;
training = 3 x forward). The peak is looked up by GPU name (dense tensor-core / FP32 figures from
the vendor's datasheet) or given with --peak-tflops.
"""
from __future__ import annotations

import argparse
import os
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_train import synthetic  # noqa: E402
from srcnn.data import make_loader, open_patches  # noqa: E402
from srcnn.models import SRCNN  # noqa: E402

# Dense peak TFLOP/s by (name fragment, precision): NVIDIA datasheets (SXM parts).
PEAKS = {"H100": {"fp32": 67, "tf32": 495, "bf16": 989, "fp16": 989},
         "H200": {"fp32": 67, "tf32": 495, "bf16": 989, "fp16": 989},
         "A100": {"fp32": 19.5, "tf32": 156, "bf16": 312, "fp16": 312}}


def conv_macs(model: SRCNN, h: int, w: int) -> int:
    """Multiply-adds of one forward pass on an (h, w) input."""
    macs = 0
    for conv in (model.conv1, model.conv2, model.conv3):
        k = conv.kernel_size[0]
        if model.padding == "none":
            h, w = h - k + 1, w - k + 1
        macs += h * w * k * k * conv.in_channels * conv.out_channels
    return macs


def peak_tflops(device: torch.device, precision: str, given: float | None) -> float | None:
    if given:
        return given
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for frag, table in PEAKS.items():
        if frag in name:
            return table[precision]
    return None


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, device, seconds: float, warmup: int = 5) -> tuple[int, float]:
    for _ in range(warmup):
        step()
    sync(device)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += step()
    sync(device)
    return n, time.perf_counter() - t0


def variant(precision: str, channels_last: bool, compile_: bool, device, batch: int, seconds: float,
            batches=None):
    """samples/s of training steps; ``batches``: an iterator of (x, y) or None for one synthetic batch."""
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.manual_seed(0)
    model = SRCNN(padding="none").to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    net = torch.compile(model) if compile_ else model
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    x0 = torch.rand(batch, 1, 33, 33, device=device).contiguous(memory_format=fmt)
    y0 = torch.rand(batch, 1, 17, 17, device=device)

    def step():
        x, y = (x0, y0) if batches is None else next(batches)
        x = x.contiguous(memory_format=fmt)
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with ctx:
            out = net(x)
        loss = F.mse_loss(out.float(), y[..., 8:-8, 8:-8] if y.shape[-1] == 33 else y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return len(x)

    n, dt = timed(step, device, seconds)
    return n / dt


def infer(precision: str, channels_last: bool, device, size: int, seconds: float) -> float:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = SRCNN(padding="replicate").to(device).eval().to(memory_format=fmt)
    x = torch.rand(1, 1, size, size, device=device).contiguous(memory_format=fmt)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    @torch.inference_mode()
    def step():
        ctx = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with ctx:
            model(x)
        return 1

    n, dt = timed(step, device, seconds)
    return n * size * size / dt / 1e6


def looping(loader):
    epoch = 0
    while True:
        yield from loader.epoch(epoch)
        epoch += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu for a smoke run")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=5.0, help="timed seconds per variant")
    ap.add_argument("--data", help="a prepare_data.py HDF5 for the input-pipeline rows (default: synthetic, T91 size)")
    ap.add_argument("--infer-size", type=int, default=1024, help="side of the inference input")
    ap.add_argument("--peak-tflops", type=float, help="override the GPU's dense peak for every precision")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: no CUDA GPU here; use --device cpu for a smoke run")
    model = SRCNN(padding="none")
    train_flop = 3 * 2 * conv_macs(model, 33, 33)  # per training sample
    infer_flop = 2 * conv_macs(SRCNN(padding="replicate"), 1000, 1000) / 1e6  # per output pixel
    print(f"device {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
          + f", torch {torch.__version__}, batch {args.batch_size}, {train_flop / 1e6:.1f} MFLOP per training sample")

    print(f"\n{'training':<28}{'samples/s':>12}{'TFLOP/s':>10}{'% of peak':>11}")
    rows = [(p, cl, False) for p in ("fp32", "tf32", "bf16", "fp16") for cl in (False, True)]
    if not args.no_compile:
        rows += [(p, True, True) for p in ("tf32", "bf16")]
    for p, cl, comp in rows:
        sps = variant(p, cl, comp, device, args.batch_size, args.seconds)
        tf = sps * train_flop / 1e12
        peak = peak_tflops(device, p, args.peak_tflops)
        name = p + (" channels-last" if cl else "") + (" compiled" if comp else "")
        print(f"{name:<28}{sps:>12,.0f}{tf:>10.2f}{(f'{100 * tf / peak:.1f}%' if peak else '-'):>11}")

    print(f"\n{'inference ' + str(args.infer_size) + 'px':<28}{'MP/s':>12}{'TFLOP/s':>10}{'% of peak':>11}")
    for p in ("fp32", "tf32", "bf16"):
        for cl in (False, True):
            mps = infer(p, cl, device, args.infer_size, args.seconds)
            tf = mps * 1e6 * infer_flop / 1e12
            peak = peak_tflops(device, p, args.peak_tflops)
            name = p + (" channels-last" if cl else "")
            print(f"{name:<28}{mps:>12,.1f}{tf:>10.2f}{(f'{100 * tf / peak:.1f}%' if peak else '-'):>11}")

    with tempfile.TemporaryDirectory() as tmp:
        path = args.data or synthetic(Path(tmp) / "bench.h5", 21884)
        pf = open_patches(path)
        print(f"\ninput pipeline (fp32 training step), data {path}")
        synth = variant("fp32", False, False, device, args.batch_size, args.seconds)
        print(f"  synthetic batch already on the device: {synth:,.0f} samples/s")
        for mode in ("memory", "stream"):
            loader = make_loader(pf, mode, args.batch_size, seed=0, device=device, workers=min(4, os.cpu_count() or 1))
            real = variant("fp32", False, False, device, args.batch_size, args.seconds, looping(loader))
            print(f"  {mode:<6} loader: {real:,.0f} samples/s  (ratio to synthetic {real / synth:.2f})")


if __name__ == "__main__":
    main()
