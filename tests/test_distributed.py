"""Distributed training: a real 2-process gloo run on the CPU (DistributedDataParallel, srcnn.distributed).

Two processes are started once (torch.multiprocessing, spawn) and run several short phases; the parent
compares what they wrote with single-process runs that use the same global batch:
- both ranks end with identical weights, equal (within float rounding) to one process with batch 2B;
- checkpoints of a distributed run resume on one process and the other way round;
- a stop requested on one rank only stops both at the same step with a resumable checkpoint;
- streaming with unequal shares (one rank takes empty steps) keeps the ranks identical.
"""
import os
import signal
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp

from h5fixtures import write_patches
from srcnn.checkpoint import load_checkpoint
from srcnn.cli.train import build_trainer
from srcnn.config import TrainConfig

pytestmark = [pytest.mark.usefixtures("light_training"),
              pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                 reason="this torch build has no gloo backend")]

WORLD, B = 2, 4   # 2 ranks x 4 patches per rank = global batch 8
TOL = 1e-5
TIMEOUT = 240     # seconds before a hung run is killed (normally ~10 s)


def make_cfg(tmp, **kw):
    # precision fp32: "auto" times a probe in each process, and on a busy machine the ranks and the
    # single-process reference can pick different numeric paths (bfloat16 differs by ~1e-4)
    small = dict(data=str(tmp / "train.h5"), filters="3-1-3", n1=8, n2=4, batch_size=B,
                 num_epoch=2, save_freq=1, lr=3e-3, loader="memory", workers=0, precision="fp32")
    return TrainConfig(**{**small, **kw})


def quiet(*a):
    pass


def _stop_on(tr, epoch, batch):
    """A stop request when batch ``batch + 1`` of ``epoch`` is fetched (after ``batch`` steps)."""
    inner = tr.loader.epoch

    def epoch_fn(e, skip=0):
        for i, b in enumerate(inner(e, skip), 1):
            yield b
            if e == epoch and i == batch:
                tr.stop.request(signal.SIGINT)
    tr.loader.epoch = epoch_fn


def _worker(rank, world, port, tmp):
    """One rank: joins the group through srcnn.distributed.from_env, as under torchrun."""
    from pathlib import Path

    from srcnn import distributed
    from srcnn.data import StreamLoader
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world))
    tmp = Path(tmp)
    d = distributed.from_env(cuda=False)
    assert d.enabled and d.rank == rank and d.backend == "gloo"
    res = {}
    try:
        # 1. train two epochs from scratch
        tr = build_trainer(make_cfg(tmp, out_dir=str(tmp / "dist")), log=quiet, dist=d)
        res["train"] = tr.run()
        res["w_train"] = {k: v.clone() for k, v in tr.model.state_dict().items()}
        # 2. resume a single-process checkpoint with two processes (epoch 2 -> 3)
        ck = load_checkpoint(tmp / "single" / "checkpoint.2")
        tr = build_trainer(make_cfg(tmp, out_dir=str(tmp / "s2d"), num_epoch=3), resume=ck,
                     resume_path=tmp / "single" / "checkpoint.2", log=quiet, dist=d)
        res["resume"] = tr.run(fresh=False)
        # 3. a stop seen by rank 1 only (e.g. a signal sent to one process): both stop at the same step
        tr = build_trainer(make_cfg(tmp, out_dir=str(tmp / "stop")), log=quiet, dist=d)
        if rank == 1:
            _stop_on(tr, 1, 2)
        res["stop"] = tr.run()
        res["stop_step"] = tr.step
        # 4. streaming, 5 blocks of 8: rank 0 reads 3 blocks (6 batches), rank 1 2 blocks (4 + 2 empty steps)
        tr = build_trainer(make_cfg(tmp, out_dir=str(tmp / "stream"), loader="stream"), log=quiet, dist=d)
        tr.loader = StreamLoader(tr.pf, B, 0, workers=0, block_bytes=1, rank=rank, world=world)
        res["stream"] = tr.run()
        res["stream_step"] = tr.step
        res["w_stream"] = {k: v.clone() for k, v in tr.model.state_dict().items()}
    finally:
        d.close()
    torch.save(res, tmp / f"rank{rank}.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(tmp):
    ctx = mp.start_processes(_worker, args=(WORLD, _free_port(), str(tmp)), nprocs=WORLD, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + TIMEOUT
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the distributed run did not finish in {TIMEOUT} s (a hang)")
    return [torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def close(a: dict, b: dict, tol=TOL):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=0, atol=tol), (k, (a[k] - b[k]).abs().max())


def equal(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def single(tmp, out, ckpt=None, **kw):
    cfg = make_cfg(tmp, out_dir=str(tmp / out), batch_size=B * WORLD, **kw)
    if ckpt is None:
        return build_trainer(cfg, log=quiet).run()
    return build_trainer(cfg, resume=load_checkpoint(ckpt), resume_path=ckpt, log=quiet).run(fresh=False)


def test_two_process_gloo_training(tmp_path):
    tmp = tmp_path
    write_patches(tmp / "train.h5", n=40, patch=11, chunk=8, val_images=1, val_size=16)
    # the reference: one process, global batch 8, three epochs (checkpoint.2 is where the ranks start phase 2)
    assert single(tmp, "single", num_epoch=3) == 0
    ref2, ref3 = load_checkpoint(tmp / "single/checkpoint.2"), load_checkpoint(tmp / "single/checkpoint.3")
    r0, r1 = _spawn(tmp)

    # 1. identical weights on both ranks, equal to one process with the global batch
    assert r0["train"] == r1["train"] == 0
    equal(r0["w_train"], r1["w_train"])
    close(r0["w_train"], ref2["state_dict"])
    ck = load_checkpoint(tmp / "dist/checkpoint.2")
    assert list(ck["state_dict"]) == list(ref2["state_dict"])  # plain names: no 'module.' prefix
    equal(ck["state_dict"], r0["w_train"])
    assert ck["distributed"] == {"world_size": 2, "global_batch_size": 8, "backend": "gloo"}
    assert ck["step"] == ref2["step"] == 10 and ck["hparams"]["batch_size"] == B
    assert [h["loss"] for h in ck["history"]] == pytest.approx([h["loss"] for h in ref2["history"]], rel=1e-5)
    assert [h["val_psnr"] for h in ck["history"]] == pytest.approx([h["val_psnr"] for h in ref2["history"]],
                                                                   abs=1e-3)
    assert ck["history"][0]["global_batch_size"] == 8 and "global_batch_size" not in ref2["history"][0]
    assert sorted(p.name for p in (tmp / "dist").iterdir() if not p.name.startswith("plot")) == \
        ["checkpoint.1", "checkpoint.2", "checkpoint.best", "checkpoint.last", "log.jsonl"]  # rank 0's only

    # distributed checkpoint -> one process (epoch 2 -> 3) = the single-process epoch 3
    assert single(tmp, "dist", ckpt=tmp / "dist/checkpoint.2", num_epoch=3) == 0
    close(load_checkpoint(tmp / "dist/checkpoint.3")["state_dict"], ref3["state_dict"])

    # 2. single-process checkpoint -> two processes (epoch 2 -> 3)
    assert r0["resume"] == r1["resume"] == 0
    s2d = load_checkpoint(tmp / "s2d/checkpoint.3")
    close(s2d["state_dict"], ref3["state_dict"])
    assert s2d["epoch"] == 3 and s2d["step"] == 15

    # 3. a stop on one rank: both return 130 at the same step; rank 0 wrote a resumable checkpoint
    assert r0["stop"] == r1["stop"] == 130 and r0["stop_step"] == r1["stop_step"] == 5 + 3
    intr = load_checkpoint(tmp / "stop/checkpoint.interrupted")
    assert intr["epoch"] == 1 and intr["partial"]["samples"] == 3 * 8 and intr["step"] == 8
    assert single(tmp, "stop", ckpt=tmp / "stop/checkpoint.interrupted") == 0  # finish epoch 2 on one process
    last = load_checkpoint(tmp / "stop/checkpoint.last")
    close(last["state_dict"], ref2["state_dict"])
    assert last["history"][-1]["loss"] == pytest.approx(ref2["history"][-1]["loss"], rel=1e-5)

    # 4. streaming with unequal shares: same number of steps on both ranks, identical weights
    assert r0["stream"] == r1["stream"] == 0
    assert r0["stream_step"] == r1["stream_step"] == 2 * 6
    equal(r0["w_stream"], r1["w_stream"])
    assert all(torch.isfinite(v).all() for v in r0["w_stream"].values())


def test_torchrun_cli_sigterm_and_resume(tmp_path, capsys):
    """The real command: torchrun --standalone --nproc_per_node=2 train.py ...; SIGTERM to torchrun stops
    both ranks cleanly with one resumable checkpoint, which then resumes on a single process."""
    import subprocess
    import sys
    from pathlib import Path

    from srcnn.cli.train import main as cli
    repo = Path(__file__).resolve().parents[1]
    write_patches(tmp_path / "train.h5", n=400, patch=11, chunk=8, val_images=1, val_size=16)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(repo), PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(repo / "train.py"), "--data", str(tmp_path / "train.h5"), "--out-dir", str(tmp_path / "ck"),
           "--filters", "3-1-3", "--n1", "8", "--n2", "4", "--batch-size", "4", "--num-epoch", "1000",
           "--save-freq", "1000", "--lr", "1e-3"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (tmp_path / "ck/checkpoint.last").exists():  # epoch 1 is done: training runs
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "2 processes (1 node(s), gloo), DistributedDataParallel; batch 4 per process = global batch 8" in out
    assert out.count("SIGTERM: stopping after this batch") == 1, out  # rank 0's messages only
    m = [line for line in out.splitlines() if line.startswith("resume with: ")]
    assert len(m) == 1 and "torchrun --nproc_per_node=2 train.py resume" in m[0], out
    path = Path(m[0].split()[-1])
    ck = load_checkpoint(path)
    assert ck["distributed"]["world_size"] == 2 and not any(k.startswith("module.") for k in ck["state_dict"])
    assert not list((tmp_path / "ck").glob(".*.tmp-*"))
    epoch = ck["epoch"]
    assert cli(["resume", str(path), "--num-epoch", str(epoch + 1)]) == 0
    out = capsys.readouterr().out
    assert "processes 2 -> 1 (global batch 8 -> 4)" in out
    last = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert last["epoch"] == epoch + 1 and last["distributed"]["world_size"] == 1
