"""Training throughput (samples/s) of SRCNN 9-5-5, input pipeline included, side by side with the
naive loop of common SRCNN repositories (a torch DataLoader over per-sample h5py reads, batch 16).

    python benchmarks/bench_train.py                   # CPU (and CUDA when available), synthetic T91-size file
    python benchmarks/bench_train.py --data train.h5 --seconds 30 --workers 4

Every method runs the same model (9-5-5, no padding, 33x33 inputs, 17x17 outputs), Adam and MSE, for
``--seconds`` after a few warm-up steps; samples/s counts training patches consumed. The methods run
in ``--repeats`` interleaved rounds and the best round is reported (the machine may be shared). The
input pipeline is also timed alone (batches delivered on the device, no training step).
Not a unit test: run it by hand and copy the table into the README.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from srcnn.cli.train import build_trainer  # noqa: E402
from srcnn.config import TrainConfig  # noqa: E402
from srcnn.models import SRCNN  # noqa: E402


def synthetic(path: Path, n: int, patch: int = 33) -> Path:
    """A format-1 file of ``n`` random patches (T91 x3 with the paper's stride has ~22k)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for k, v in {"format": "srcnn-patches", "format_version": 1, "scales": np.array([3]),
                     "patch_size": patch, "label_size": patch, "stride": 14, "channels": "y",
                     "blur_sigma": 0.0, "noise_sigma": 0.0, "augment": False, "val_fraction": 0.0,
                     "seed": 0, "created": "", "command": "benchmark", "srcnn_version": "0.1.0",
                     "sources": "[]", "skipped": "[]", "fingerprint": "0" * 64}.items():
            f.attrs[k] = v
        g = f.create_group("train")
        g.create_dataset("lr", data=rng.random((n, 1, patch, patch), dtype=np.float32).astype(np.float16),
                         chunks=(256, 1, patch, patch))
        g.create_dataset("hr", data=rng.integers(0, 256, (n, 1, patch, patch), dtype=np.uint8),
                         chunks=(256, 1, patch, patch))
        g.create_dataset("scale", data=np.full(n, 3, np.uint8))
        g.attrs["count"] = n
    return path


def timed(batches, step, seconds: float, warmup: int = 3) -> float:
    """samples/s of ``step(x, y)`` over ``batches()`` (restarted as needed) for ``seconds``."""
    done, t0, it = 0, None, iter(batches())
    while True:
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(batches())
            continue
        step(x, y)
        if warmup:
            warmup -= 1
            if not warmup:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            continue
        done += len(x)
        if time.perf_counter() - t0 >= seconds:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            return done / (time.perf_counter() - t0)


def ours(data: Path, out: Path, device: str, loader: str, workers: int, amp=False):
    """(batches, train step) of train.py's own loop: its loader and Trainer._train_step."""
    cfg = TrainConfig(data=str(data), out_dir=str(out), batch_size=128, cuda=device == "cuda",
                      loader=loader, workers=workers, amp=amp)
    tr = build_trainer(cfg, log=lambda *a: None)
    tr.model.train()
    epoch = [0]

    def batches():
        epoch[0] += 1
        return tr.loader.epoch(epoch[0])
    return batches, tr._train_step


class PerSampleH5(Dataset):
    """What many SRCNN repos do: open the file and read one sample per __getitem__."""

    def __init__(self, path):
        self.path = str(path)
        with h5py.File(self.path, "r") as f:
            self.n = len(f["train/lr"])

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        with h5py.File(self.path, "r") as f:
            return (torch.from_numpy(f["train/lr"][i].astype(np.float32)),
                    torch.from_numpy(f["train/hr"][i].astype(np.float32) / 255.0))


def naive(data: Path, device: str, batch: int, workers: int):
    """(batches, train step) of the common loop: DataLoader over per-sample reads, .to(device) per step."""
    model = SRCNN(padding="none").to(device)
    opt = torch.optim.Adam([{"params": list(model.conv1.parameters()) + list(model.conv2.parameters())},
                            {"params": model.conv3.parameters(), "lr": 1e-5}], lr=1e-4)
    dl = DataLoader(PerSampleH5(data), batch_size=batch, shuffle=True, num_workers=workers,
                    pin_memory=device == "cuda")

    def batches():
        return ((x.to(device), y.to(device)) for x, y in dl)

    def step(x, y):
        out = model(x)
        loss = F.mse_loss(out, y[..., 8:-8, 8:-8])  # 9-5-5 without padding: 33 -> 17
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batches, step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="a prepare_data.py file (default: a synthetic one with --samples patches)")
    ap.add_argument("--samples", type=int, default=21_884, help="synthetic patches (default: T91 x3 size)")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per method")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers (streaming and naive)")
    ap.add_argument("--repeats", type=int, default=2, help="rounds over all methods; the best counts")
    ap.add_argument("--cpu-only", action="store_true", help="skip CUDA even when available")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else synthetic(Path(tmp) / "bench.h5", args.samples)
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.cpu_only else [])
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, data {data}, "
              f"{args.seconds:g} s per method, {args.workers} workers")
        tmpdir = Path(tmp) / "o"
        runs = []
        for dev in devices:
            runs += [(dev, "srcnn, in memory, batch 128", lambda dev=dev: ours(data, tmpdir, dev, "memory", 0)),
                     (dev, f"srcnn, streaming ({args.workers} workers), batch 128",
                      lambda dev=dev: ours(data, tmpdir, dev, "stream", args.workers)),
                     (dev, f"naive per-sample h5 DataLoader ({args.workers} workers), batch 16",
                      lambda dev=dev: naive(data, dev, 16, args.workers)),
                     (dev, f"naive per-sample h5 DataLoader ({args.workers} workers), batch 128",
                      lambda dev=dev: naive(data, dev, 128, args.workers))]
            if dev == "cuda":
                runs.insert(len(runs) - 3, (dev, "srcnn, in memory, batch 128, --amp",
                                            lambda dev=dev: ours(data, tmpdir, dev, "memory", 0, amp=True)))
        best = {}
        for r in range(args.repeats):  # rounds interleave the methods; the best round counts
            for dev, name, make in runs:
                batches, step = make()
                for what, fn in (("train", step), ("input only", lambda x, y: None)):
                    sps = timed(batches, fn, args.seconds)
                    best[dev, name, what] = max(best.get((dev, name, what), 0.0), sps)
                    print(f"round {r + 1}  {dev:<5} {name:<58} {what:<10} {sps:>10,.0f} samples/s", flush=True)
        print("\n| device | method | training samples/s (input pipeline included) | input pipeline alone, samples/s |")
        print("|---|---|---:|---:|")
        for dev, name, _ in runs:
            print(f"| {dev} | {name} | {best[dev, name, 'train']:,.0f} | {best[dev, name, 'input only']:,.0f} |")

if __name__ == "__main__":
    main()
