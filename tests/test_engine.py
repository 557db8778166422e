"""srcnn.engine: optimisation details, validation, checkpoints, bit-identical resume, NaN and signals."""
import json
import math
import os
import signal
import sys

import numpy as np
import pytest
import torch

from h5fixtures import write_patches
from srcnn.checkpoint import load_checkpoint
from srcnn.engine import DEFAULTS, Trainer, lr_factor, parse_filters, train_command
from srcnn.errors import SRCNNError


pytestmark = pytest.mark.usefixtures("light_training")


@pytest.fixture
def data(tmp_path):
    return write_patches(tmp_path / "train.h5", n=40, patch=11, chunk=8, val_images=2, val_size=20)


def make_hp(tmp_path, **kw):
    hp = dict(DEFAULTS, data=str(tmp_path / "train.h5"), out_dir=str(tmp_path / "ck"), filters="3-1-3",
              n1=8, n2=4, batch_size=8, num_epoch=3, save_freq=1, lr=1e-3)
    hp.update(kw)
    return hp


def trainer(hp, ckpt_path=None, lines=None):
    log = (lambda *a: lines.append(" ".join(map(str, a)))) if lines is not None else (lambda *a: None)
    if ckpt_path is None:
        return Trainer(hp, log=log)
    return Trainer(hp, resume=load_checkpoint(ckpt_path), resume_path=ckpt_path, log=log)


def weights(path):
    return load_checkpoint(path)["state_dict"]


def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_helpers():
    assert parse_filters("11-1-7") == (11, 1, 7)
    for bad in ("9-5", "9-4-5", "a-b-c", "0-1-1"):
        with pytest.raises(ValueError):
            parse_filters(bad)
    hp = dict(DEFAULTS, num_epoch=10, lr_step=3, lr_gamma=0.5)
    assert [lr_factor(e, {**hp, "schedule": "step"}) for e in (0, 2, 3, 7)] == [1, 1, 0.5, 0.25]
    cos = [lr_factor(e, {**hp, "schedule": "cosine"}) for e in (0, 5, 10)]
    assert cos[0] == 1 and abs(cos[1] - 0.5) < 1e-12 and abs(cos[2]) < 1e-12
    assert lr_factor(7, hp) == 1
    cmd = train_command(dict(DEFAULTS, amp=True, val_set="Set5"))
    assert cmd.startswith("python train.py train --data train.h5") and "--amp" in cmd
    assert "--val-set Set5" in cmd and "--channels-last" not in cmd and "--workers" not in cmd


def test_train_writes_everything(tmp_path, data):
    lines = []
    hp = make_hp(tmp_path, num_epoch=4, save_freq=2, lr=3e-3)
    assert trainer(hp, lines=lines).run() == 0
    ck = tmp_path / "ck"
    names = sorted(p.name for p in ck.iterdir())
    assert {"checkpoint.2", "checkpoint.4", "checkpoint.best", "checkpoint.last", "log.jsonl"} <= set(names)
    assert "checkpoint.1" not in names and "checkpoint.3" not in names
    last = load_checkpoint(ck / "checkpoint.last")
    assert last["epoch"] == 4 and last["step"] == 4 * 5 and last["scale"] == 3 and last["channels"] == "y"
    assert last["model"] == {"name": "srcnn", "f1": 3, "f2": 1, "f3": 3, "n1": 8, "n2": 4, "channels": 1,
                             "padding": "none"}
    assert last["data"]["count"] == 40 and last["data"]["fingerprint"] == \
        load_checkpoint(ck / "checkpoint.2")["data"]["fingerprint"]
    assert last["hparams"]["lr"] == 3e-3 and last["partial"] is None and last["time_spent"] > 0
    assert last["recipe"]["prepare"].startswith("python prepare_data.py")
    assert last["recipe"]["train"].startswith("python train.py train") and "--lr 0.003" in last["recipe"]["train"]
    hist = last["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4] and hist[-1]["loss"] < hist[0]["loss"]
    assert all(h["val_psnr"] > 0 and 0 < h["val_ssim"] <= 1 and h["samples_per_s"] > 0 for h in hist)
    best = max(hist, key=lambda h: h["val_psnr"])
    assert last["best"] == {"epoch": best["epoch"], "val_psnr": best["val_psnr"]}
    assert load_checkpoint(ck / "checkpoint.best")["epoch"] == best["epoch"]
    log = [json.loads(s) for s in (ck / "log.jsonl").read_text().splitlines()]
    assert log == hist
    assert any(s.startswith("epoch    4/4  loss") for s in lines) and lines[-1].startswith("done: 4 epochs")


def test_optimizers_and_layers(tmp_path, data):
    tr = trainer(make_hp(tmp_path, optimizer="sgd", lr=0.02, loss="l1", schedule="step", lr_step=1,
                         lr_gamma=0.5, num_epoch=2))
    assert isinstance(tr.opt, torch.optim.SGD) and tr.loss_fn is torch.nn.functional.l1_loss
    assert all(g["momentum"] == 0.9 for g in tr.opt.param_groups)
    g1, g2 = tr.opt.param_groups
    assert [p.shape for p in g2["params"]] == [tr.model.conv3.weight.shape, tr.model.conv3.bias.shape]
    assert len(g1["params"]) == 4
    tr.run()
    assert math.isclose(g1["lr"], 0.01) and math.isclose(g2["lr"], 0.001)  # epoch 2: gamma^1; last layer /10
    assert [h["lr"] for h in tr.history] == [0.02, 0.01]
    tr = trainer(make_hp(tmp_path))
    assert isinstance(tr.opt, torch.optim.Adam) and tr.loss_fn is torch.nn.functional.mse_loss


def test_init(tmp_path, data):
    paper = trainer(make_hp(tmp_path, n1=64, n2=32)).model
    w = paper.conv1.weight.detach()
    assert float(paper.conv3.weight.detach().std()) < 2e-3
    assert abs(float(w.std()) - 1e-3) < 2e-4 and float(paper.conv1.bias.detach().abs().max()) == 0
    default = trainer(make_hp(tmp_path, n1=64, n2=32, init="default")).model
    assert float(default.conv1.weight.detach().std()) > 0.05
    assert float(default.conv1.bias.detach().abs().max()) > 0


def test_label_cropping(tmp_path):
    write_patches(tmp_path / "train.h5", n=16, patch=11, label=7, val_images=0)
    tr = trainer(make_hp(tmp_path))  # 3-1-3 without padding: 11 -> 7 = label
    assert (tr.crop_label, tr.crop_out) == (0, 0)
    tr = trainer(make_hp(tmp_path, padding="replicate"))  # output 11, label 7: the output is cropped
    assert (tr.crop_label, tr.crop_out) == (0, 2)
    assert tr.run() == 0
    write_patches(tmp_path / "train.h5", n=16, patch=11, val_images=0)
    tr = trainer(make_hp(tmp_path))  # output 7, label 11: the label is cropped
    assert (tr.crop_label, tr.crop_out) == (2, 0)
    assert tr.run() == 0


def test_label_cropping_impossible(tmp_path):
    write_patches(tmp_path / "train.h5", n=16, patch=11, val_images=0)  # 9-5-5 needs more than 11 px
    with pytest.raises(SRCNNError, match="cannot be centre-aligned"):
        trainer(make_hp(tmp_path, filters="9-5-5"))


@pytest.mark.parametrize("loader", ["memory", "stream"])
def test_resume_bit_identical(tmp_path, data, loader):
    full = make_hp(tmp_path, num_epoch=4, loader=loader, workers=0, out_dir=str(tmp_path / "a"))
    assert trainer(full).run() == 0
    half = dict(full, num_epoch=2, out_dir=str(tmp_path / "b"))
    assert trainer(half).run() == 0
    tr = trainer(dict(full, out_dir=str(tmp_path / "b")), tmp_path / "b" / "checkpoint.2")
    assert tr.epoch == 2 and tr.step == 10
    assert tr.run(fresh=False) == 0
    a, b = load_checkpoint(tmp_path / "a/checkpoint.last"), load_checkpoint(tmp_path / "b/checkpoint.last")
    assert_same(a["state_dict"], b["state_dict"])
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    assert [h["val_psnr"] for h in a["history"]] == [h["val_psnr"] for h in b["history"]]
    assert a["step"] == b["step"] == 20
    assert torch.equal(a["optimizer"]["state"][0]["exp_avg"], b["optimizer"]["state"][0]["exp_avg"])


def test_rng_state_restored(tmp_path, data):
    trainer(make_hp(tmp_path, num_epoch=1)).run()
    ck = load_checkpoint(tmp_path / "ck/checkpoint.1")
    torch.manual_seed(123)
    np.random.seed(5)
    trainer(make_hp(tmp_path), tmp_path / "ck/checkpoint.1")
    assert torch.equal(torch.get_rng_state(), ck["rng"]["torch"])
    assert np.random.get_state()[1].tolist() == ck["rng"]["numpy"][1]


def _stop_during(tr, epoch, batch, action):
    """Wrap the loader so that ``action(tr)`` runs when batch ``batch + 1`` of 0-based ``epoch`` is
    fetched (after ``batch`` trained steps), like a signal arriving while the loader works."""
    inner = tr.loader.epoch

    def epoch_fn(e, skip=0):
        for i, b in enumerate(inner(e, skip), 1):
            yield b
            if e == epoch and i == batch:
                action(tr)
    tr.loader.epoch = epoch_fn


def test_mid_epoch_stop_and_resume(tmp_path, data):
    full = make_hp(tmp_path, num_epoch=3, out_dir=str(tmp_path / "a"))
    trainer(full).run()
    hp = dict(full, out_dir=str(tmp_path / "b"))
    tr = trainer(hp)
    _stop_during(tr, 1, 2, lambda t: t.request_stop(signal.SIGINT))
    lines = []
    tr.log = lambda *a: lines.append(" ".join(map(str, a)))
    assert tr.run() == 130
    p = tmp_path / "b" / "checkpoint.interrupted"
    ck = load_checkpoint(p)
    assert ck["epoch"] == 1 and ck["partial"]["samples"] == 24 and ck["step"] == 8  # the batch in flight ends
    assert f"resume with: python train.py resume {p}" in lines[-1]
    assert not (tmp_path / "b" / "checkpoint.2").exists()
    tr = trainer(hp, p)
    assert tr.run(fresh=False) == 0
    a, b = load_checkpoint(tmp_path / "a/checkpoint.last"), load_checkpoint(tmp_path / "b/checkpoint.last")
    assert_same(a["state_dict"], b["state_dict"])
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]


def test_real_sigterm_in_process(tmp_path, data):
    """A real SIGTERM delivered to this process goes through the handler: save, exit code 143."""
    tr = trainer(make_hp(tmp_path, num_epoch=5))
    _stop_during(tr, 2, 5, lambda t: os.kill(os.getpid(), signal.SIGTERM))  # the last batch of epoch 3
    before = signal.getsignal(signal.SIGTERM)
    assert tr.run() == 143
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert ck["epoch"] == 3 and ck["partial"] is None  # the epoch was complete: saved as usual
    assert not (tmp_path / "ck/checkpoint.interrupted").exists()


def test_second_signal_aborts(tmp_path, data):
    tr = trainer(make_hp(tmp_path, num_epoch=3))

    def twice(t):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
    _stop_during(tr, 0, 1, twice)
    with pytest.raises(KeyboardInterrupt):
        tr.run()
    assert not (tmp_path / "ck/checkpoint.interrupted").exists()


def test_nan_stops_keeping_last_good(tmp_path, data):
    tr = trainer(make_hp(tmp_path, num_epoch=5))
    calls = []

    def loss_fn(out, y):
        calls.append(1)
        loss = torch.nn.functional.mse_loss(out, y)
        return loss * float("nan") if len(calls) > 12 else loss  # epoch 3, batch 3
    tr.loss_fn = loss_fn
    with pytest.raises(SRCNNError, match=r"training loss became nan in epoch 3 .*last good checkpoint is "
                                         r".*checkpoint.last \(epoch 2\).*lower --lr"):
        tr.run()
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert ck["epoch"] == 2 and all(torch.isfinite(v).all() for v in ck["state_dict"].values())
    assert not (tmp_path / "ck/checkpoint.3").exists()


def test_nan_in_data_first_epoch(tmp_path):
    import h5py
    p = write_patches(tmp_path / "train.h5", n=16, patch=11, val_images=0)
    with h5py.File(p, "r+") as f:
        lr = f["train/lr"][...]
        lr[:] = np.inf
        f["train/lr"][...] = lr
    with pytest.raises(SRCNNError, match="loss became (nan|inf).*no checkpoint was written"):
        trainer(make_hp(tmp_path, loader="stream", workers=0)).run()


def test_no_val_no_best(tmp_path):
    write_patches(tmp_path / "train.h5", n=16, patch=11, val_images=0)
    lines = []
    assert trainer(make_hp(tmp_path, num_epoch=1), lines=lines).run() == 0
    assert any("checkpoint.best is not written" in s for s in lines)
    assert not (tmp_path / "ck/checkpoint.best").exists()
    assert load_checkpoint(tmp_path / "ck/checkpoint.last")["history"][0]["val_psnr"] is None


def test_val_set_folder(tmp_path, data, make_image):
    from srcnn.images import write_image
    folder = tmp_path / "MySet"
    folder.mkdir()
    write_image(folder / "a.png", make_image(20, 26, 3, 1))
    write_image(folder / "b.png", make_image(18, 18, 0, 2))
    tr = trainer(make_hp(tmp_path, val_set="MySet", data_root=str(tmp_path), num_epoch=1))
    assert len(tr.val) == 2 and tr.val[0]["lr"].shape == (1, 1, 18, 24)
    tr.run()
    assert tr.history[0]["val_psnr"] > 0
    with pytest.raises(SRCNNError, match="Nope"):
        trainer(make_hp(tmp_path, val_set="Nope", data_root=str(tmp_path)))


def test_rgb_training(tmp_path, make_image):
    write_patches(tmp_path / "train.h5", n=16, patch=11, channels=3, scales=(2, 3), val_images=1, val_size=14)
    tr = trainer(make_hp(tmp_path, num_epoch=1, channels_last=True))
    assert tr.run() == 0
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert ck["channels"] == "rgb" and ck["scale"] == [2, 3] and ck["model"]["channels"] == 3
    assert ck["state_dict"]["conv1.weight"].is_contiguous()
    assert ck["history"][0]["val_psnr"] > 0 and ck["history"][0]["val_ssim"] is None  # too small for SSIM


def test_devices(tmp_path, data):
    if not torch.cuda.is_available():
        with pytest.raises(SRCNNError, match="--cuda was given but no CUDA GPU"):
            trainer(make_hp(tmp_path, cuda=True))
    with pytest.raises(SRCNNError, match="--amp .* needs --cuda"):
        trainer(make_hp(tmp_path, amp=True))


def test_out_dir_reuse_and_stale_tmp(tmp_path, data):
    trainer(make_hp(tmp_path, num_epoch=1)).run()
    (tmp_path / "ck/.checkpoint.last.tmp-99999").write_bytes(b"half")
    lines = []
    trainer(make_hp(tmp_path, num_epoch=1), lines=lines).run()
    moved = [p for p in (tmp_path / "ck").iterdir() if p.name.startswith("previous-")]
    assert len(moved) == 1 and (moved[0] / "checkpoint.last").is_file()
    assert any("held another run" in s for s in lines)
    assert not list((tmp_path / "ck").glob(".*tmp*"))


def test_resume_mismatch(tmp_path, data):
    trainer(make_hp(tmp_path, num_epoch=1)).run()
    write_patches(tmp_path / "train.h5", n=40, patch=11, channels=3)
    with pytest.raises(SRCNNError, match="trained on channels 'y' scale 3, but .* has channels 'rgb'"):
        trainer(make_hp(tmp_path), tmp_path / "ck/checkpoint.1")


def test_plot_optional(tmp_path, data, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    lines = []
    trainer(make_hp(tmp_path, num_epoch=1), lines=lines).run()
    assert any("matplotlib is not installed" in s for s in lines)
    assert not (tmp_path / "ck/plot.png").exists()
    monkeypatch.undo()
    pytest.importorskip("matplotlib")
    trainer(make_hp(tmp_path, num_epoch=1)).run()
    assert (tmp_path / "ck/plot.png").stat().st_size > 1000


@pytest.mark.filterwarnings("ignore:.*CUDA is not available")
@pytest.mark.filterwarnings("ignore:.*is enabled, but CUDA")
def test_amp_code_path_runs(tmp_path, data):
    """The --amp branch (autocast + GradScaler, its state in the checkpoint), run where the scaler and
    autocast disable themselves when there is no GPU."""
    tr = trainer(make_hp(tmp_path, num_epoch=1, cuda=torch.cuda.is_available(), amp=torch.cuda.is_available()))
    if tr.scaler is None:
        tr.scaler = torch.amp.GradScaler("cuda")
    assert tr.run() == 0
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert isinstance(ck["scaler"], dict) and math.isfinite(ck["history"][0]["loss"])
