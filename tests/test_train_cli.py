"""train.py: the issue's command lines as written, every option, resume overrides, inspect, real kills."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from h5fixtures import write_patches
from srcnn.checkpoint import load_checkpoint
from srcnn.cli.train import OPTIONS
from srcnn.cli.train import main as cli

REPO = Path(__file__).resolve().parents[1]
TINY = ["--filters", "3-1-3", "--n1", "8", "--n2", "4"]
NO_GPU = not torch.cuda.is_available()


pytestmark = pytest.mark.usefixtures("light_training")


def run(capsys, *argv):
    code = cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder holding train.h5 (16 patches of 17 px: the least a 9-5-5 net takes), the current directory."""
    write_patches(tmp_path / "train.h5", n=16, patch=17, chunk=8, val_images=1, val_size=20)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.skipif(not NO_GPU, reason="checks the no-GPU error")
def test_issue_commands_cuda_without_gpu(workdir, capsys):
    for argv in (["--data", "train.h5", "--cuda"],
                 ["train", "--cuda", "--lr=0.0005", "--batch-size=256", "--num-epoch=100", "--save-freq=10"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and err.startswith("error: --cuda was given but no CUDA GPU is available")
    assert not (workdir / "checkpoints").exists()


def test_issue_commands(workdir, capsys):
    code, out, err = run(capsys, "train", "--lr=0.001", "--batch-size=128", "--num-epoch=20", "--save-freq=2")
    assert code == 0, err
    ck = workdir / "checkpoints"
    assert {f"checkpoint.{e}" for e in range(2, 21, 2)} | {"checkpoint.best", "checkpoint.last"} <= \
        {p.name for p in ck.iterdir()}
    assert "SRCNN(9-5-5, n1=64, n2=32, channels=1, padding=none), 57,281 parameters" in out
    last = load_checkpoint(ck / "checkpoint.last")
    assert last["epoch"] == 20 and last["hparams"]["batch_size"] == 128 and last["hparams"]["data"] == "train.h5"

    if NO_GPU:
        code, out, err = run(capsys, "resume", "checkpoints/checkpoint.10", "--cuda")
        assert code == 2 and "no CUDA GPU" in err

    code, out, err = run(capsys, "resume", "checkpoints/checkpoint.10", "--batch-size=16", "--num-epoch=200")
    assert code == 0, err
    assert "resuming checkpoints/checkpoint.10: epoch 10 of 200" in out
    assert "overridden: batch_size 128 -> 16, num_epoch 20 -> 200" in out
    last = load_checkpoint(ck / "checkpoint.last")
    assert last["epoch"] == 200 and last["step"] == 10 + 190
    assert last["recipe"]["changes"] == ["resumed at epoch 10 with batch_size 128 -> 16, num_epoch 20 -> 200"]

    code, out, err = run(capsys, "inspect", "checkpoints/checkpoint.last")
    assert code == 0, err
    for needle in ("architecture  SRCNN(9-5-5, n1=64, n2=32, channels=1, padding=none)",
                   "conv1.weight  64x1x9x9", "parameters    57,281", "scale         3", "channels      y (1)",
                   "epoch         200 (step 200)", "time spent    0:", "best          epoch ",
                   "  batch_size    16", "  num_epoch     200", "  lr            0.001",
                   f"  path          {workdir / 'train.h5'}", "  fingerprint   ", "  samples       16",
                   "  patch_size    17", "  blur_sigma    0", "  noise_sigma   0", "history       200 epoch(s)",
                   "recipe", "  prepare       python prepare_data.py --scale 3",
                   "  train         python train.py train --data train.h5",
                   "  then          resumed at epoch 10 with batch_size 128 -> 16"):
        assert needle in out, needle
    assert len(re.findall(r"^\s+\d+\s+\d\.\d{4}e[-+]\d+\s+\d+\.\d{3}", out, re.M)) == 200


def test_every_option(workdir, capsys, make_image):
    from srcnn.images import write_image
    (workdir / "V").mkdir()
    write_image(workdir / "V" / "a.png", make_image(30, 27, 3, 0))
    write_patches(workdir / "d.h5", n=24, patch=11, chunk=8, val_images=0)
    argv = ["train", "--data", "d.h5", "--out-dir", "out", "--no-amp", "--channels-last", "--lr", "0.01",
            "--batch-size", "8", "--num-epoch", "2", "--save-freq", "1", "--optimizer", "sgd", "--loss", "l1",
            "--schedule", "step", "--lr-step", "1", "--lr-gamma", "0.5", "--init", "default", "--seed", "3",
            "--model", "srcnn", "--filters", "3-1-3", "--n1", "8", "--n2", "4", "--padding", "zeros", "--clip", "0.5",
            "--weight-decay", "1e-5", "--val-set", "V",
            "--data-root", str(workdir), "--loader", "stream", "--workers", "1", "--precision", "fp32",
            "--augment", "--ema", "0.9", "--last-layer-lr", "0.5"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "streamed from disk" in out and "1 image(s) from --val-set V" in out and "numeric fp32-cl" in out
    assert "on-the-fly flips" in out and "EMA of the weights (decay 0.9)" in out
    ck = load_checkpoint(workdir / "out" / "checkpoint.2")
    assert ck["model"] == {"name": "srcnn", "f1": 3, "f2": 1, "f3": 3, "n1": 8, "n2": 4, "channels": 1,
                           "padding": "zeros"}
    want = dict(data="d.h5", out_dir="out", amp=False, channels_last=True, lr=0.01, batch_size=8, num_epoch=2,
                save_freq=1, optimizer="sgd", loss="l1", schedule="step", lr_step=1, lr_gamma=0.5,
                init="default", seed=3, model="srcnn", model_arg=[], filters="3-1-3", n1=8, n2=4, padding="zeros",
                clip=0.5, weight_decay=1e-5, val_set="V", data_root=str(workdir), loader="stream", workers=1,
                cuda=False, precision="fp32", init_from=None, augment=True, ema=0.9, last_layer_lr=0.5)
    assert ck["hparams"] == want
    assert [h["lr"] for h in ck["history"]] == [0.01, 0.005]
    assert ck["history"][1]["val_psnr"] > 0 and (workdir / "out" / "checkpoint.best").is_file()
    # the --no- forms and --amp on the CPU
    code, out, err = run(capsys, "resume", "out/checkpoint.1", "--no-channels-last", "--no-augment", "--loader", "memory")
    assert code == 0 and "overridden: channels_last True -> False, augment True -> False" in out and "in memory" in out
    assert "numeric fp32 (--precision fp32)" in out
    code, out, err = run(capsys, "train", "--data", "d.h5", "--amp", "--num-epoch", "1", "--out-dir", "amp", *TINY)
    assert code == 0 and "numeric bf16-cl" in out  # without --cuda: bfloat16 autocast, channels-last
    # --init-from: the exported weights of the first run, then fine-tuned
    assert run(capsys, "export", "out/checkpoint.2", "w.pt")[0] == 0
    code, out, err = run(capsys, "train", "--data", "d.h5", "--init-from", "w.pt", "--num-epoch", "1",
                         "--out-dir", "ft", "--filters", "3-1-3", "--n1", "8", "--n2", "4", "--padding", "zeros")
    assert code == 0 and "weights from w.pt" in out, err
    code, out, err = run(capsys, "inspect", "ft/checkpoint.last")  # the lineage, indented under its child
    assert code == 0 and re.search(r"\n  from +w.pt \(epoch 2, val PSNR [\d.]+ dB, 2 epoch\(s\) of history on [\d,]+ patches\)\n    prepare .*\n    train +python train.py train --data d.h5 --out-dir out", out), out
    code, out, err = run(capsys, "train", "--data", "d.h5", "--init-from", "w.pt", "--out-dir", "bad")
    assert code == 2 and "does not match the model to train" in err
    with pytest.raises(SystemExit):
        run(capsys, "train", "--data", "d.h5", "--ema", "1", "--out-dir", "bad")
    assert "--ema: must be in [0, 1)" in capsys.readouterr().err


def test_all_options_are_tested():
    src = Path(__file__).read_text()
    for flags, dest, kw, _ in OPTIONS:
        assert f'"{flags[0]}' in src, flags[0]
        if kw.get("action") is not None and "BooleanOptional" in str(kw["action"]):
            assert f'"--no-{flags[0][2:]}"' in src


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "{train,resume,inspect,export}" in out and "'train' is the default" in out
    with pytest.raises(SystemExit):
        cli(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for flags, *_ in OPTIONS:
        assert flags[0] in out
    assert "(default: 0.0003)" in out and "(default: checkpoints)" in out and "None" not in out


@pytest.mark.parametrize("argv,msg", [
    (["--batch-size", "0"], "must be positive"),
    (["--filters", "9-4-5"], "three odd sizes"),
    (["--workers", "-1"], "must be >= 0"),
    (["--optimizer", "rmsprop"], "invalid choice"),
    (["--clip", "-0.1"], "must be >= 0"),
    (["--weight-decay", "-1"], "must be >= 0"),
    (["--model", "srgan"], "invalid choice"),
    (["--model-arg", "depth"], "--model-arg wants KEY=VALUE (e.g. depth=8), got 'depth'"),
    (["--loss", "huber"], "invalid choice"),
])
def test_bad_values(capsys, argv, msg):
    with pytest.raises(SystemExit) as e:
        cli(argv)
    assert e.value.code == 2 and msg in capsys.readouterr().err


def test_missing_data_says_how_to_make_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys)  # no arguments at all: train with --data train.h5
    assert code == 2
    assert err.strip() == ("error: train.h5: no such training file; make it with: "
                           "python prepare_data.py --scale 3 --out train.h5")


def test_resume_rules(workdir, capsys):
    assert run(capsys, "--num-epoch", "2", "--save-freq", "1", *TINY)[0] == 0
    code, out, err = run(capsys, "resume", "checkpoints/checkpoint.2")
    assert code == 0 and "overridden: nothing" in out and "nothing to do: already at epoch 2 of 2" in out
    code, out, err = run(capsys, "resume", "checkpoints/checkpoint.1", "--n1", "16")
    assert code == 2 and "--n1 cannot change on resume (checkpoint: 8, given: 16)" in err
    code, out, err = run(capsys, "resume", "checkpoints/checkpoint.1", "--init", "paper")
    assert code == 2 and "--init cannot change" in err
    code, out, err = run(capsys, "resume", "checkpoints/checkpoint.1", "--optimizer", "sgd", "--lr", "0.01")
    assert code == 0 and "overridden: optimizer adam -> sgd, lr 0.0003 -> 0.01" in out
    assert "optimizer changed to sgd; its state starts fresh" in out
    # the data file was re-made with other content: refused unless --data says so
    write_patches(workdir / "train.h5", n=16, patch=17, seed=5)
    code, out, err = run(capsys, "resume", "checkpoints/checkpoint.1")
    assert code == 2 and "the data file changed since" in err and "pass --data FILE" in err
    code, out, err = run(capsys, "resume", "checkpoints/checkpoint.1", "--data", "train.h5")
    assert code == 0 and "data fingerprint" in out
    os.replace(workdir / "train.h5", workdir / "moved.h5")
    code, out, err = run(capsys, "resume", "checkpoints/checkpoint.1")
    assert code == 2 and "its training data" in err and "is gone; pass --data FILE" in err
    os.replace(workdir / "moved.h5", workdir / "train.h5")
    # another scale: the checkpoint does not match the data
    write_patches(workdir / "x2.h5", n=16, patch=17, scales=(2,))
    code, out, err = run(capsys, "resume", "checkpoints/checkpoint.1", "--data", "x2.h5")
    assert code == 2 and "scale 3, but x2.h5 has channels 'y' scale 2" in err
    # weights without training state
    ck = load_checkpoint(workdir / "checkpoints/checkpoint.1")
    torch.save({k: ck[k] for k in ("format", "format_version", "model", "state_dict", "scale", "channels")},
               workdir / "weights.pt")
    code, out, err = run(capsys, "resume", "weights.pt")
    assert code == 2 and "cannot be resumed" in err
    code, out, err = run(capsys, "inspect", "weights.pt")
    assert code == 0 and "parameters    153" in out and "epoch         -" in out


def test_inspect_bad_file(tmp_path, capsys):
    (tmp_path / "c").write_bytes(b"garbage")
    code, out, err = run(capsys, "inspect", str(tmp_path / "c"))
    assert code == 2 and err.startswith(f"error: {tmp_path / 'c'}: ")


def _train_proc(tmp_path, *extra, env=None):
    cmd = [sys.executable, str(REPO / "train.py"), "train", "--data", "train.h5", *TINY, "--batch-size", "8",
           "--lr", "0.001", *extra]
    e = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)


def _wait_for(path: Path, proc, timeout=60.0):
    t0 = time.time()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.communicate()}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError(f"timed out waiting for {path}")
        time.sleep(0.02)


PAUSE_IN_SAVE = r"""
import io, os, sys, time, torch
real = torch.save
calls = 0
def save(obj, f, *a, **k):  # the PAUSE_AT-th save writes half the file, then hangs: killed there
    global calls
    calls += 1
    if calls == int(os.environ["PAUSE_AT"]):
        buf = io.BytesIO(); real(obj, buf, *a, **k); data = buf.getvalue()
        f.write(data[: len(data) // 2]); f.flush()
        open(os.environ["MARKER"], "w").close()
        time.sleep(120)
    return real(obj, f, *a, **k)
torch.save = save
sys.argv[0] = "train.py"
from srcnn.cli.train import main
sys.exit(main())
"""


def test_sigkill_during_save(tmp_path):
    write_patches(tmp_path / "train.h5", n=40, patch=11, chunk=8, val_images=1, val_size=20)
    (tmp_path / "pause.py").write_text(PAUSE_IN_SAVE)
    cmd = [sys.executable, "pause.py", "--data", "train.h5", *TINY, "--num-epoch", "9", "--save-freq", "1"]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PAUSE_AT="7",
               MARKER=str(tmp_path / "in-save"))
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _wait_for(tmp_path / "in-save", proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    ck = tmp_path / "checkpoints"
    tmps = list(ck.glob(".checkpoint.*.tmp-*"))
    assert len(tmps) == 1  # the half-written temporary: never under a checkpoint name
    files = sorted(p for p in ck.iterdir() if p.name.startswith("checkpoint."))
    assert {p.name for p in files} >= {"checkpoint.1", "checkpoint.2", "checkpoint.last"}
    for p in files:
        load_checkpoint(p)  # every checkpoint loads
    assert load_checkpoint(ck / "checkpoint.last")["epoch"] == 2
    code = cli(["resume", str(ck / "checkpoint.last"), "--num-epoch", "3"])
    assert code == 0 and not list(ck.glob(".checkpoint.*.tmp-*"))
    assert load_checkpoint(ck / "checkpoint.last")["epoch"] == 3


def test_sigint_subprocess_then_resume_bit_identical(tmp_path):
    write_patches(tmp_path / "train.h5", n=40, patch=11, chunk=8, val_images=1, val_size=20)
    # --precision fp32: the same numeric path in both runs (auto's probe may pick another layout per run)
    proc = _train_proc(tmp_path, "--num-epoch", "300", "--save-freq", "100", "--precision", "fp32")
    _wait_for(tmp_path / "checkpoints" / "checkpoint.last", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    m = re.search(r"resume with: python train\.py resume (\S+)", out)
    assert m and "SIGINT: stopped" in out, out
    saved = tmp_path / m.group(1)
    ck = load_checkpoint(saved)
    k = ck["epoch"] + 2
    # finish two more epochs from the interrupted state; compare with an uninterrupted run of k epochs
    assert cli(["resume", str(saved), "--num-epoch", str(k)]) == 0
    resumed = load_checkpoint(tmp_path / "checkpoints" / "checkpoint.last")
    assert resumed["epoch"] == k
    os.chdir(tmp_path)
    try:
        assert cli(["--data", "train.h5", *TINY, "--batch-size", "8", "--lr", "0.001", "--num-epoch", str(k),
                    "--save-freq", "100", "--out-dir", "straight", "--precision", "fp32"]) == 0
    finally:
        os.chdir(REPO)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.last")
    for name, t in straight["state_dict"].items():
        assert torch.equal(t, resumed["state_dict"][name]), name
    assert [h["loss"] for h in straight["history"]] == [h["loss"] for h in resumed["history"]]


def test_inspect_authors_mat(data_root, capsys):
    pytest.importorskip("scipy")
    mat = data_root / "reference" / "srcnn_official" / "9-5-5_imagenet" / "x3.mat"
    code, out, err = run(capsys, "inspect", str(mat))
    assert code == 0, err
    assert "the authors' MATLAB weights" in out and "SRCNN(9-5-5, n1=64, n2=32" in out
    assert "parameters    57,281" in out and "scale         3" in out


def test_export_writes_small_weights_that_load_and_inspect(workdir, capsys):
    from srcnn.weightfiles import load_file
    assert run(capsys, "train", "--num-epoch=1", *TINY)[0] == 0
    code, out, err = run(capsys, "export", "checkpoints/checkpoint.last", "w.pt")
    assert code == 0, err and out.startswith("wrote w.pt")
    full, small = load_checkpoint(workdir / "checkpoints" / "checkpoint.last"), load_checkpoint(workdir / "w.pt")
    assert "optimizer" not in small and "rng" not in small and small["recipe"] == full["recipe"]
    assert (workdir / "w.pt").stat().st_size < (workdir / "checkpoints" / "checkpoint.last").stat().st_size
    model, meta = load_file(workdir / "w.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), full["ema_state_dict"].values()))
    code, out, err = run(capsys, "inspect", "w.pt")
    assert code == 0 and "exported from checkpoints/checkpoint.last (epoch 1)" in out and "recipe" in out
    code, out, err = run(capsys, "resume", "w.pt")
    assert code == 2 and "cannot be resumed" in err
    code, out, err = run(capsys, "export", "w.pt", "w.pt")
    assert code == 2 and "would overwrite" in err
    code, out, err = run(capsys, "export", "missing", "x.pt")
    assert code == 2 and "missing: no such checkpoint file" in err and not (workdir / "x.pt").exists()


def test_data_several_files(workdir, capsys):
    """--data takes several files or a quoted glob (prepare_data.py --shard-size output): one dataset,
    recorded as the resolved list; resume finds the same files; inspect lists them."""
    for i, n in enumerate((24, 16)):
        write_patches(workdir / f"s-{i:05d}.h5", n=n, patch=11, chunk=8, val_images=1 - i, seed=i,
                      attrs={"shard_index": i, "shard_count": 2})
    code, out, err = run(capsys, "--data", "s-*.h5", "--out-dir", "g", "--num-epoch", "1", "--batch-size", "8", *TINY)
    assert code == 0, err
    assert "data    s-00000.h5 (+1 more file): 40 patches" in out and "1 image(s) from s-00000.h5" in out
    ck = load_checkpoint(workdir / "g/checkpoint.last")
    files = [str((workdir / f"s-{i:05d}.h5").resolve()) for i in range(2)]
    assert ck["hparams"]["data"] == "s-*.h5" and ck["data"]["path"] == files and ck["data"]["count"] == 40
    assert ck["step"] == 5
    code, out, err = run(capsys, "--data", "s-00000.h5", "s-00001.h5", "--out-dir", "l", "--num-epoch", "1",
                         "--batch-size", "8", *TINY)
    assert code == 0, err
    ck2 = load_checkpoint(workdir / "l/checkpoint.last")
    assert ck2["hparams"]["data"] == ["s-00000.h5", "s-00001.h5"]
    assert ck2["data"]["fingerprint"] == ck["data"]["fingerprint"]
    assert "--data s-00000.h5 s-00001.h5 --out-dir l" in ck2["recipe"]["train"]
    code, out, err = run(capsys, "resume", "g/checkpoint.last", "--num-epoch", "2", "--data", "s-0000[01].h5")
    assert code == 0, err
    assert "overridden: num_epoch 1 -> 2" in out
    code, out, err = run(capsys, "inspect", "g/checkpoint.last")
    assert "epoch         2" in out
    assert code == 0 and f"  path          {files[0]}\n                {files[1]}\n" in out
    code, out, err = run(capsys, "resume", "g/checkpoint.last", "--data", "s-00000.h5", "--num-epoch", "2")
    assert code == 0 and "data fingerprint" in out  # other data on purpose: recorded
    code, out, err = run(capsys, "--data", "nope-*.h5", *TINY)
    assert code == 2 and "nope-*.h5: no file matches this pattern" in err


def test_other_models(workdir, capsys):
    """--model / --model-arg with an LR-input model: train, the recipe, inspect, resume rules, export."""
    write_patches(workdir / "lr.h5", n=16, scales=(2,), chunk=8, val_images=1, val_size=16, input="lr")
    fs = ["--data", "lr.h5", "--model", "fsrcnn", "--model-arg", "d=8", "--model-arg", "s=4", "--model-arg", "m=1",
          "--batch-size", "8", "--save-freq", "1", "--lr", "0.001"]
    code, out, err = run(capsys, *fs, "--num-epoch", "1", "--out-dir", "f")
    assert code == 0, err
    assert "model   fsrcnn(scale=2, d=8, s=4, m=1, channels=1), 1," in out
    ck = load_checkpoint(workdir / "f/checkpoint.1")
    assert ck["model"] == {"name": "fsrcnn", "scale": 2, "d": 8, "s": 4, "m": 1, "channels": 1}
    assert ck["hparams"]["model_arg"] == ["d=8", "s=4", "m=1"] and ck["hparams"]["n1"] is None
    assert "--model fsrcnn --model-arg d=8 --model-arg s=4 --model-arg m=1 --clip 0.0" in ck["recipe"]["train"]

    code, out, err = run(capsys, "inspect", "f/checkpoint.1")
    assert code == 0, err
    for needle in ("architecture  fsrcnn(scale=2, d=8, s=4, m=1, channels=1)",
                   "input         the LR image (upscale x2 inside the network)", "MACs/pixel    ",
                   "  model         fsrcnn", "  model_arg     d=8 s=4 m=1", "  filters       -", "  clip          0"):
        assert needle in out, needle
    assert re.search(r"^  deconv\.weight +8x1x9x9$", out, re.M) and re.search(r"^  shrinking\.0\.weight +4x8x1x1$", out, re.M)
    macs = int(re.search(r"MACs/pixel +([\d,]+)", out).group(1).replace(",", ""))
    assert 100 < macs < 2000

    # the model is fixed on resume; SRCNN's flags belong to srcnn
    for argv, msg in ((["--model", "espcn"], "--model cannot change on resume (checkpoint: fsrcnn, given: espcn)"),
                      (["--model-arg", "d=16"], "--model-arg cannot change on resume (checkpoint: d=8 s=4 m=1, "
                                                "given: d=16)"),
                      (["--n1", "8"], "--n1: option(s) of --model srcnn; fsrcnn takes its settings as --model-arg")):
        code, out, err = run(capsys, "resume", "f/checkpoint.1", *argv)
        assert code == 2 and msg in err, err
    code, out, err = run(capsys, "resume", "f/checkpoint.1", "--num-epoch", "2", "--weight-decay", "0.001",
                         "--loss", "charbonnier")
    assert code == 0, err
    assert "overridden: num_epoch 1 -> 2, weight_decay 0.0 -> 0.001, loss mse -> charbonnier" in out
    assert load_checkpoint(workdir / "f/checkpoint.2")["optimizer"]["param_groups"][0]["weight_decay"] == 0.001
    code, out, err = run(capsys, "export", "f/checkpoint.2", "f.pt")
    assert code == 0 and "'name': 'fsrcnn'" in out

    # SRCNN options with another model, even at their default values; data of the wrong input kind
    code, out, err = run(capsys, "--model", "vdsr", "--filters", "9-5-5", "--padding", "none")
    assert code == 2 and err.startswith("error: --filters --padding: option(s) of --model srcnn; vdsr takes")
    code, out, err = run(capsys, "--data", "lr.h5", "--model", "vdsr")
    assert code == 2 and "lr.h5 was prepared for LR input; vdsr takes the bicubic-upscaled image: run " \
        "python prepare_data.py --model vdsr --scale 2 --out lr_vdsr.h5" in err
    code, out, err = run(capsys, "--model", "vdsr", "--model-arg", "depth=1")
    assert code == 2 and err.startswith("error: --model vdsr: ") and "depth" in err


@pytest.mark.parametrize("option", ["--lr", "--lr-gamma", "--clip", "--weight-decay", "--ema"])
@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e400"])
def test_float_options_must_be_finite(capsys, option, value):
    """issue 13 item 2: every float option is finite (inf and NaN were taken), for train and resume."""
    for sub in (["train"], ["resume", "checkpoints/checkpoint.1"]):
        with pytest.raises(SystemExit) as e:
            cli([*sub, f"{option}={value}"])
        err = capsys.readouterr().err
        assert e.value.code == 2 and f"argument {option}: must be finite" in err, err


def test_one_training_per_out_dir_and_stale_lock(tmp_path, capsys):
    """issue 13 item 3: a second training into a running one's --out-dir is refused, naming its pid, and
    touches nothing; once that run is killed (SIGKILL: its lock file stays) the folder is free again."""
    write_patches(tmp_path / "train.h5", n=40, patch=11, chunk=8, val_images=1, val_size=20)
    (tmp_path / "pause.py").write_text(PAUSE_IN_SAVE)
    ck = tmp_path / "checkpoints"
    cmd = [sys.executable, "pause.py", "--data", "train.h5", *TINY, "--num-epoch", "9", "--save-freq", "1"]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PAUSE_AT="4",
               MARKER=str(tmp_path / "in-save"))
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    second = ["--data", str(tmp_path / "train.h5"), *TINY, "--num-epoch", "1", "--out-dir", str(ck)]
    try:
        _wait_for(tmp_path / "in-save", proc)
        before = sorted(p.name for p in ck.iterdir())
        code, out, err = run(capsys, *second)
        assert code == 2 and err.splitlines() == [
            f"error: {ck}: another training is writing this output (pid {proc.pid}); wait for it to end or stop it"]
        assert sorted(p.name for p in ck.iterdir()) == before  # nothing moved, not even its temporary file
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    assert (ck / ".lock").read_text().strip() == str(proc.pid)  # left behind by the killed run
    code, out, err = run(capsys, *second)
    assert code == 0 and "moved its" in out, err
    assert load_checkpoint(ck / "checkpoint.last")["epoch"] == 1


def test_outputs_that_are_files_or_under_files(workdir, capsys):
    """issue 13 items 7 and 8: --out-dir FILE, --out-dir FILE/x, a name over 255 bytes, export CKPT FOLDER,
    export CKPT FILE/x.pt: one error line, exit 2, the file in the way untouched."""
    from srhelpers import save_tiny_checkpoint
    (workdir / "f").write_text("a file")
    (workdir / "d").mkdir()
    ckpt = save_tiny_checkpoint(workdir / "c.pt")
    long = "n" * 300
    cases = [(["--out-dir", "f", *TINY, "--num-epoch", "1"], "f: is a file, not a folder (--out-dir)"),
             (["--out-dir", "f/x", *TINY, "--num-epoch", "1"], "f/x: f is a file, not a folder (--out-dir)"),
             (["--out-dir", long, *TINY, "--num-epoch", "1"], f"{long}: cannot create the folder (--out-dir) "
                                                               "(File name too long)"),
             (["export", str(ckpt), "d"], "d: is a folder; give a file name for the checkpoint"),
             (["export", str(ckpt), "f/x.pt"], "f/x.pt: f is a file, not a folder")]
    for argv, msg in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2 and err.splitlines() == [f"error: {msg}"], (argv, err)
    assert (workdir / "f").read_text() == "a file" and os.listdir(workdir / "d") == []


@pytest.mark.parametrize("name", ["w.pt", "w.onnx", "w.ts"])
def test_export_to_a_full_disk_is_one_line_and_keeps_the_old_file(workdir, capsys, name):
    from specialfiles import full_disk_at
    assert run(capsys, "train", "--num-epoch=1", *TINY)[0] == 0
    (workdir / name).write_bytes(b"old")
    tmp = full_disk_at(workdir / name)
    code, out, err = run(capsys, "export", "--overwrite", "checkpoints/checkpoint.last", name)
    assert code == 2 and err.startswith(f"error: {name}: ") and "No space left on device" in err, err
    assert len(err.strip().splitlines()) == 1
    assert (workdir / name).read_bytes() == b"old" and not tmp.exists()


# ------------------------------------------------------------------ issue 32: hostile files and careless paths
def test_lock_symlink_is_refused_not_followed(workdir, capsys):
    """A .lock that is a symbolic link (train, resume): refused in one line; its target is not truncated."""
    victim = workdir / "victim.txt"
    victim.write_text("precious\n")
    (workdir / "run").mkdir()
    (workdir / "run" / ".lock").symlink_to(victim)
    code, out, err = run(capsys, "--out-dir", "run", "--num-epoch", "1", *TINY)
    assert code == 2 and err.splitlines() == [
        "error: run/.lock: is a symbolic link, not a lock file; remove it (locks never follow links)"], err
    assert victim.read_text() == "precious\n" and os.listdir(workdir / "run") == [".lock"]
    assert run(capsys, "--out-dir", "ok", "--num-epoch", "1", *TINY)[0] == 0
    (workdir / "ok" / ".lock").symlink_to(victim)
    code, out, err = run(capsys, "resume", "ok/checkpoint.last", "--num-epoch", "2")
    assert code == 2 and "ok/.lock: is a symbolic link" in err and victim.read_text() == "precious\n"


def test_export_refuses_an_existing_file_without_overwrite(workdir, capsys):
    assert run(capsys, "train", "--num-epoch=1", *TINY)[0] == 0
    for name in ("w.pt", "w.onnx"):
        (workdir / name).write_bytes(b"old")
        code, out, err = run(capsys, "export", "checkpoints/checkpoint.last", name)
        assert code == 2 and err.splitlines() == [f"error: {name}: exists; pass --overwrite to replace it"]
        assert (workdir / name).read_bytes() == b"old"
        code, out, err = run(capsys, "export", "--overwrite", "checkpoints/checkpoint.last", name)
        assert code == 0, err
        assert (workdir / name).read_bytes() != b"old"
    os.link(workdir / "checkpoints" / "checkpoint.last", workdir / "hard.pt")  # a hard link is the same file
    code, out, err = run(capsys, "export", "--overwrite", "checkpoints/checkpoint.last", "hard.pt")
    assert code == 2 and "hard.pt: the output would overwrite the checkpoint it is exported from" in err


def test_export_refuses_the_folder_of_a_running_training(workdir, capsys):
    """export into a run folder whose lock is held (a training running there): refused, even with
    --overwrite; checkpoint.best is not replaced."""
    from srcnn.locks import lock_folder
    assert run(capsys, "train", "--num-epoch=1", *TINY)[0] == 0
    best = workdir / "checkpoints" / "checkpoint.best"
    before = best.read_bytes()
    held = lock_folder(workdir / "checkpoints", "training", name=".lock", remove=True)
    try:
        code, out, err = run(capsys, "export", "--overwrite", "checkpoints/checkpoint.last",
                             "checkpoints/checkpoint.best")
    finally:
        held.release()
    assert code == 2 and err.splitlines() == [
        f"error: checkpoints/checkpoint.best: checkpoints is the folder of a running training (pid {os.getpid()}); "
        "write the export elsewhere or wait for the training to end"]
    assert best.read_bytes() == before
    code, out, err = run(capsys, "export", "--overwrite", "checkpoints/checkpoint.last", "checkpoints/checkpoint.best")
    assert code == 0, err  # no training there now


def test_export_format_must_match_the_suffix_and_opset_is_checked_first(workdir, capsys):
    assert run(capsys, "train", "--num-epoch=1", *TINY)[0] == 0
    code, out, err = run(capsys, "export", "--format", "onnx", "checkpoints/checkpoint.last", "x.pt")
    assert code == 2 and err.splitlines() == [
        "error: x.pt: --format onnx, but a .pt file is read as pt; name it .onnx (or drop --format)"]
    assert not (workdir / "x.pt").exists()
    for bad in ("0", "6", "21", "-1"):
        with pytest.raises(SystemExit) as e:
            cli(["export", "--opset", bad, "checkpoints/checkpoint.last", "x.onnx"])
        err = capsys.readouterr().err
        assert e.value.code == 2 and "argument --opset: must be in [7, 20]" in err and "graph" not in err


@pytest.mark.parametrize("argv", [
    ["--out-dir", ""], ["--init-from", ""], ["--val-set", ""], ["--data", ""], ["--data-root", ""],
    ["resume", ""], ["inspect", ""], ["export", "", "x.pt"], ["export", "c", ""]])
def test_empty_values_are_refused(workdir, capsys, argv):
    with pytest.raises(SystemExit) as e:
        cli(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "must not be empty" in err, err
    assert not (workdir / "checkpoints").exists()


def test_more_workers_than_cpus_is_one_error(workdir, capsys):
    n = (os.cpu_count() or 1) + 1
    code, out, err = run(capsys, "--loader", "stream", "--workers", str(max(n, 3)), *TINY)
    assert code == 2 and err.splitlines() == [
        f"error: --workers {max(n, 3)}: more than the {os.cpu_count()} CPU(s) of this machine; extra workers only "
        f"wait for each other (use at most {os.cpu_count()})"], err
    assert not (workdir / "checkpoints").exists()


def test_resume_into_another_folder_names_where_the_best_checkpoint_is(workdir, capsys):
    """resume --out-dir NEW with no better epoch since: the best checkpoint is the earlier run's, not
    NEW/checkpoint.best (which does not exist)."""
    assert run(capsys, "train", "--num-epoch=1", *TINY)[0] == 0
    code, out, err = run(capsys, "resume", "checkpoints/checkpoint.last", "--num-epoch", "2", "--out-dir", "new",
                         "--lr", "1e-30")  # the weights do not move: epoch 2 does not beat epoch 1
    assert code == 0, err
    assert not (workdir / "new" / "checkpoint.best").exists()
    assert "at epoch 1 (checkpoints/checkpoint.best)" in out and "new/checkpoint.best" not in out


def test_checkpoint_on_a_full_disk_is_one_line(workdir, capsys, small_tmpfs):
    """A real full disk (a 300 KiB tmpfs) while training writes its checkpoints, and export X.pt there:
    one line (not torch.save's "unexpected pos" traceback); the earlier files stay intact."""
    code, out, err = run(capsys, "--out-dir", str(small_tmpfs / "run"), "--num-epoch", "3", "--save-freq", "1")
    assert code == 2 and len(err.splitlines()) == 1 and "No space left on device" in err, err
    assert "cannot write the checkpoint" in err and "the checkpoints written before are kept" in err
    for p in (small_tmpfs / "run").glob("checkpoint.*"):
        load_checkpoint(p)
    assert not list((small_tmpfs / "run").glob(".*.tmp-*"))
    for p in (small_tmpfs / "run").iterdir():
        p.unlink()
    assert run(capsys, "--out-dir", "full", "--num-epoch", "1")[0] == 0
    (small_tmpfs / "w.pt").write_bytes(b"old")
    (small_tmpfs / "filler").write_bytes(b"\0" * 150_000)
    code, out, err = run(capsys, "export", "--overwrite", "full/checkpoint.last", str(small_tmpfs / "w.pt"))
    assert code == 2 and len(err.splitlines()) == 1 and "No space left on device" in err, err
    assert (small_tmpfs / "w.pt").read_bytes() == b"old"


@pytest.mark.parametrize("name", ["w.pt", "w.onnx"])
def test_export_sigterm_leaves_no_temporary_and_stale_ones_are_removed(workdir, capsys, name):
    """SIGTERM while export writes: exit 143, no .NAME.tmp-PID left, an earlier file kept; the temporary
    of a killed earlier export is removed by the next one."""
    from srcnn.files import temporary_name
    assert run(capsys, "train", "--num-epoch=1", *TINY)[0] == 0
    (workdir / name).write_bytes(b"old")
    code = ("import os, signal, sys, time; import srcnn.files as f\n"
            "def slow(path):\n    os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)\n"
            "f._fsync_file = slow\nfrom srcnn.cli.train import main\n"
            f"sys.exit(main(['export', '--overwrite', 'checkpoints/checkpoint.last', {name!r}]))")
    p = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert p.returncode == 143 and p.stderr.strip().splitlines()[-1].startswith("interrupted"), p.stderr
    assert (workdir / name).read_bytes() == b"old" and not list(workdir.glob(f".{name}.tmp-*"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    temporary_name(workdir / name, dead.pid).write_bytes(b"half")
    code, out, err = run(capsys, "export", "--overwrite", "checkpoints/checkpoint.last", name)
    assert code == 0 and "removed the temporary file(s) of an interrupted earlier export" in out, err
    assert not list(workdir.glob(f".{name}.tmp-*"))
