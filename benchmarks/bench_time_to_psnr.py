"""Time-to-PSNR: how much held-out PSNR a wall-clock budget of training buys, for this project's default
recipe (train.py with no options) and for the naive recipe of typical small SRCNN repositories
(float32, batch 16, Adam lr 1e-4 on every layer, zero padding, PyTorch's default initialisation, a
DataLoader over per-sample h5py reads), on the same data and the same held-out images.

    python prepare_data.py --scale 3 --val-fraction 0.05 --out t91_x3.h5
    python benchmarks/bench_time_to_psnr.py --data t91_x3.h5 --minutes 10 --naive-minutes 60 [--pinned]
    python benchmarks/bench_time_to_psnr.py --data t91_x3.h5 --parity-steps 2000   # fp32 vs bf16, same steps

The two recipes run one after the other in this process (not concurrently), each with --threads torch
threads; or, with --pinned, at the same time in two processes, each pinned to a CPU core of its own
(os.sched_setaffinity) with one torch thread, so that a 10- against 60-minute table takes 60 minutes. Training time only is counted: every --eval-every seconds of it, training pauses and the model
is scored on the file's /val images (the held-out split of the training images, the paper's protocol);
at the end each final model is scored on Set5 x3 (the datasets root: --data-root, $SRCNN_DATA or
./datasets). Prints both curves and a summary row per recipe.

--parity-steps N instead trains the default recipe for N steps twice from the same seed, in float32 and
in bfloat16 autocast with channels-last, and prints the held-out PSNR of both (the PSNR cost of the fast
path). Not a unit test.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from srcnn.datasets import data_root, resolve_set  # noqa: E402
from srcnn.cli.common import run  # noqa: E402
from srcnn.errors import SRCNNError  # noqa: E402
from srcnn.cli.train import build_parser, build_trainer  # noqa: E402
from srcnn.config import DEFAULTS, TrainConfig  # noqa: E402
from srcnn.evaluation import evaluate_set, score_model  # noqa: E402
from srcnn.models import SRCNN  # noqa: E402
from bench_train import PerSampleH5  # noqa: E402  (the naive per-sample h5py reader)


def quiet(*args) -> None:
    pass


def run_project(data: str, out: Path, minutes: float, eval_every: float, hp_extra: dict) -> tuple[list, torch.nn.Module]:
    """train.py's defaults for ``minutes`` of training time: [(seconds, samples, held-out PSNR)], eval model."""
    tr = build_trainer(TrainConfig(data=data, out_dir=str(out), **hp_extra), log=quiet)
    print(f"  project: {tr.numeric.name} ({tr.numeric.reason}), batch {tr.cfg.batch_size}, lr {tr.cfg.lr:g}",
          flush=True)
    curve, spent, seen = [(0.0, 0, tr.validate()[0])], 0.0, 0
    budget = minutes * 60
    while spent < budget - 1e-6:
        window = min(eval_every, budget - spent)
        timer = threading.Timer(window, tr.stop.request)
        t0 = time.perf_counter()
        timer.start()
        done_before = tr.epoch * tr.pf.count + (tr.partial or {}).get("samples", 0)
        stats = tr.train_epoch()
        timer.cancel()
        spent += time.perf_counter() - t0
        if stats is not None:  # a whole epoch ended inside the window
            tr.epoch, tr.partial = tr.epoch + 1, None
        tr.stop.agreed = None
        seen += tr.epoch * tr.pf.count + (tr.partial or {}).get("samples", 0) - done_before
        curve.append((spent, seen, tr.validate()[0]))
        print(f"    {spent:7.0f} s  {seen:>10,} samples  {curve[-1][2]:.3f} dB", flush=True)
    tr.eval_model.load_state_dict((tr.model if tr.ema is None else tr.ema).state_dict())
    return curve, tr.eval_model


def run_naive(data: str, val: list, minutes: float, eval_every: float, seed: int) -> tuple[list, torch.nn.Module]:
    torch.manual_seed(seed)
    model = SRCNN(padding="zeros")
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    dl = DataLoader(PerSampleH5(data), batch_size=16, shuffle=True, num_workers=0)
    model.eval()
    curve, spent, seen, budget = [(0.0, 0, score_model(model, val)[0])], 0.0, 0, minutes * 60
    next_eval = min(eval_every, budget)
    t0 = time.perf_counter()
    model.train()
    while spent < budget:
        for x, y in dl:
            out = model(x)
            c = (out.shape[-1] - y.shape[-1]) // 2
            loss = F.mse_loss(out[..., c:out.shape[-2] - c, c:out.shape[-1] - c] if c else out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(x)
            if spent + time.perf_counter() - t0 >= next_eval:
                spent += time.perf_counter() - t0
                model.eval()
                curve.append((spent, seen, score_model(model, val)[0]))
                model.train()
                print(f"    {spent:7.0f} s  {seen:>10,} samples  {curve[-1][2]:.3f} dB", flush=True)
                next_eval = min(next_eval + eval_every, budget)
                t0 = time.perf_counter()
                if spent >= budget:
                    break
    return curve, model.eval()


def set5(model, root) -> float:
    return evaluate_set(resolve_set("Set5", data_root(root)), 3, model)[1]["psnr"]


def first_reaching(curve: list, target: float) -> float | None:
    return next((t for t, _, p in curve if p >= target), None)


def parity(data: str, steps: int, threads: int, extra: dict) -> None:
    """Same seed, same steps: float32 against bfloat16 + channels-last (train.py's defaults and ``extra``,
    --project-args; with --ema the moving average is what is scored)."""
    rows = []
    for precision in ("fp32", "bf16"):
        with tempfile.TemporaryDirectory() as tmp:
            tr = build_trainer(TrainConfig(data=data, out_dir=tmp, **{**extra, "precision": precision}), log=quiet)
            tr.model.train()
            t0, step, epoch = time.perf_counter(), 0, 0
            while step < steps:
                for x, y in tr.loader.epoch(epoch):
                    tr._train_step(x, y)
                    tr.step = step = step + 1
                    if step >= steps:
                        break
                epoch += 1
            dt = time.perf_counter() - t0
            rows.append((tr.numeric.name, tr.validate()[0], dt))
    print(f"\nparity: {steps} steps of batch {tr.cfg.batch_size}, seed {tr.cfg.seed}, {threads} thread(s)"
          + (f", {a_extra}" if (a_extra := " ".join(f"{k}={v}" for k, v in extra.items())) else ""))
    print("| numeric path | held-out PSNR dB | training s |\n|---|---:|---:|")
    for name, p, dt in rows:
        print(f"| {name} | {p:.3f} | {dt:.0f} |")
    print(f"difference (bf16 - fp32): {rows[1][1] - rows[0][1]:+.3f} dB")


def project_options(a: argparse.Namespace) -> dict:
    """--project-args (train.py train options, e.g. "--ema 0.999 --schedule cosine --num-epoch 48") as the
    TrainConfig fields they change, parsed by train.py's own parser."""
    args = build_parser().parse_args(["train", *shlex.split(a.project_args)])
    return {k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None and v != DEFAULTS[k]}


def run_recipe(which: str, a: argparse.Namespace, core: int | None = None) -> tuple[list, float]:
    """One recipe ("project" or "naive") for its budget: (curve, Set5 x3 PSNR of its final model). With
    ``core``, this process is first pinned to that CPU core with one torch thread (--pinned)."""
    if core is not None:
        os.sched_setaffinity(0, {core})
        torch.set_num_threads(1)
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        if which == "project":
            print(f"project recipe (train.py defaults{' ' + a.project_args if a.project_args else ''}), "
                  f"{a.minutes:g} min, {threads} thread(s):", flush=True)
            curve, model = run_project(a.data, Path(tmp) / "ours", a.minutes, a.eval_every, project_options(a))
        else:
            val = build_trainer(TrainConfig(data=a.data, out_dir=str(Path(tmp) / "v"), precision="fp32"),
                                log=quiet).val
            print(f"naive recipe, {a.naive_minutes:g} min, {threads} thread(s):", flush=True)
            curve, model = run_naive(a.data, val, a.naive_minutes, a.eval_every, DEFAULTS["seed"])
    return curve, set5(model, a.data_root)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a prepare_data.py x3 file with a /val split (T91 x3)")
    ap.add_argument("--minutes", type=float, default=10.0, help="training minutes of this project's recipe")
    ap.add_argument("--naive-minutes", type=float, default=None, help="training minutes of the naive recipe "
                                                                      "(default: --minutes; 0: not trained)")
    ap.add_argument("--eval-every", type=float, default=60.0, help="seconds of training between evaluations")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for both recipes")
    ap.add_argument("--pinned", action="store_true",
                    help="run the two recipes at the same time, each pinned to a core of its own with one thread "
                         "(needs two cores; --threads is then ignored)")
    ap.add_argument("--project-args", default="", metavar="OPTIONS",
                    help="train.py train options added to the defaults for this project's recipe (quoted), "
                         "to measure a candidate default, e.g. \"--ema 0.999\" or --augment")
    ap.add_argument("--data-root", default=None, help="datasets root for Set5 (default $SRCNN_DATA or ./datasets)")
    ap.add_argument("--parity-steps", type=int, default=0, help="instead: fp32 vs bf16 for this many steps")
    argv = sys.argv[1:]
    if "--project-args" in argv[:-1]:  # its value may be a lone option ("--augment"): argparse would take it
        i = argv.index("--project-args")   # for one of this script's, so it is passed as --project-args=VALUE
        argv[i:i + 2] = [f"--project-args={argv[i + 1]}"]
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.parity_steps:
        parity(a.data, a.parity_steps, a.threads, project_options(a))
        return 0
    a.naive_minutes = a.minutes if a.naive_minutes is None else a.naive_minutes
    which = ["project", "naive"] if a.naive_minutes else ["project"]
    if a.pinned:
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < len(which):
            raise SRCNNError("--pinned needs two CPU cores, this process may use one")
        with ProcessPoolExecutor(len(which), mp_context=get_context("spawn")) as pool:
            jobs = [pool.submit(run_recipe, w, a, c) for w, c in zip(which, cores)]
            results = [j.result() for j in jobs]
        how = f"at the same time, pinned to cores {', '.join(map(str, cores[:len(which)]))}, one thread each"
    else:
        results = [run_recipe(w, a) for w in which]
        how = f"one after the other, {a.threads} thread(s) each"
    names = {"project": "train.py defaults" + (f" {a.project_args}" if a.project_args else ""), "naive": "naive"}
    minutes = {"project": a.minutes, "naive": a.naive_minutes}
    print(f"\n{how}\n| recipe | training min | samples | held-out PSNR dB | Set5 x3 PSNR dB |\n"
          "|---|---:|---:|---:|---:|")
    for w, (curve, s5) in zip(which, results):
        t, n, p = curve[-1]
        print(f"| {names[w]} | {minutes[w]:g} | {n:,} | {p:.3f} | {s5:.2f} |")
    for w, (curve, _) in zip(which, results):
        print(f"{names[w]} curve (training min: held-out dB): "
              + ", ".join(f"{t / 60:.1f}: {p:.3f}" for t, _, p in curve))
    if len(results) == 2:
        (ours, _), (naive, _) = results
        best = max(p for _, _, p in naive)
        t = first_reaching(ours, best)
        print(f"\n{names['project']} reach the naive recipe's best held-out PSNR ({best:.3f} dB) "
              + (f"after {t / 60:.1f} min" if t is not None else f"not within {a.minutes:g} min"))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
