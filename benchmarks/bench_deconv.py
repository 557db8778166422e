"""FSRCNN's last layer, the 9x9 transposed convolution, timed in its two forms: PyTorch's transposed
convolution (what srcnn.models.Deconv evaluates with) and the exact sub-pixel form it trains with, alone
(forward + backward) and inside a whole FSRCNN training step (Adam, MSE, bf16 autocast + channels-last
on a CPU with native bfloat16, else float32), at batch 16.

    python benchmarks/bench_deconv.py --threads 1 --repeats 3

The two forms are timed in interleaved 1-second windows; the median samples/s (or ms per batch) of
--repeats windows is printed. On a machine shared with other work, read the ratios.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from srcnn.models import Deconv, build_model  # noqa: E402
from srcnn.precision import cpu_native_bf16  # noqa: E402

LR_SIDE = {2: 16, 3: 11, 4: 8}   # LR patch side for the 32/33-pixel HR patches of prepare_data.py


def transposed(layer: Deconv):
    """``layer`` forced onto PyTorch's transposed convolution in training mode too."""
    layer.forward = lambda x, d=layer: nn.ConvTranspose2d.forward(d, x)
    return layer


def windows(fns: dict, repeats: int, batch: int) -> dict:
    """{name: median samples/s} of fns, each timed in ``repeats`` interleaved 1-second windows."""
    res = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            for _ in range(3):
                f()
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < 1.0:
                f()
                n += 1
            res[k].append(n * batch / (time.perf_counter() - t0))
    return {k: sorted(v)[len(v) // 2] for k, v in res.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[4, 3, 2], choices=sorted(LR_SIDE))
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    bf16 = cpu_native_bf16()
    cl = torch.channels_last
    print(f"{a.threads} thread(s), batch {a.batch_size}, {'bf16 autocast + channels-last' if bf16 else 'float32'}")
    print("| scale | layer alone, ms per batch: transposed / sub-pixel | FSRCNN step, samples/s: transposed / "
          "sub-pixel | step speed-up |")
    print("|---:|---|---|---:|")
    for s in a.scales:
        side, bs = LR_SIDE[s], a.batch_size
        models, opts = {}, {}
        for form in ("transposed", "sub-pixel"):
            torch.manual_seed(0)
            m = build_model("fsrcnn", scale=s).to(memory_format=cl).train()
            if form == "transposed":
                transposed(m.deconv)
            models[form], opts[form] = m, torch.optim.Adam(m.parameters(), 3e-4)
        x = torch.rand(bs, 1, side, side).contiguous(memory_format=cl)
        y = torch.rand(bs, 1, side * s, side * s)
        feat = torch.randn(bs, 56, side, side).contiguous(memory_format=cl)

        def layer(form):
            def f():
                xi = feat.detach().requires_grad_(True)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    out = models[form].deconv(xi)
                out.float().sum().backward()
            return f

        def step(form):
            def f():
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    out = models[form](x)
                loss = F.mse_loss(out.float(), y)
                opts[form].zero_grad(set_to_none=True)
                loss.backward()
                opts[form].step()
            return f

        lay = windows({k: layer(k) for k in models}, a.repeats, bs)
        stp = windows({k: step(k) for k in models}, a.repeats, bs)
        ms = {k: bs / v * 1e3 for k, v in lay.items()}
        print(f"| x{s} | {ms['transposed']:.2f} / {ms['sub-pixel']:.2f} | {stp['transposed']:,.0f} / "
              f"{stp['sub-pixel']:,.0f} | {stp['sub-pixel'] / stp['transposed']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
