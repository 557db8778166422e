"""srcnn.engine: optimisation details, validation, checkpoints, bit-identical resume, NaN and signals."""
import json
import math
import os
import re
import signal
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from h5fixtures import write_patches
from srcnn.checkpoint import load_checkpoint
from srcnn.cli.train import build_trainer, train_command
from srcnn.cli.train_model import parse_filters, parse_model_args
from srcnn.config import TrainConfig
from srcnn.optim import charbonnier_loss, lr_factor
from srcnn.errors import SRCNNError


pytestmark = pytest.mark.usefixtures("light_training")


@pytest.fixture
def data(tmp_path):
    return write_patches(tmp_path / "train.h5", n=40, patch=11, chunk=8, val_images=2, val_size=20)


def make_cfg(tmp_path, **kw) -> TrainConfig:
    small = dict(data=str(tmp_path / "train.h5"), out_dir=str(tmp_path / "ck"), filters="3-1-3", n1=8, n2=4,
                 batch_size=8, num_epoch=3, save_freq=1, lr=1e-3, precision="fp32")
    return TrainConfig(**{**small, **kw})


def trainer(cfg, ckpt_path=None, lines=None):
    log = (lambda *a: lines.append(" ".join(map(str, a)))) if lines is not None else (lambda *a: None)
    if ckpt_path is None:
        return build_trainer(cfg, log=log)
    return build_trainer(cfg, resume=load_checkpoint(ckpt_path), resume_path=ckpt_path, log=log)


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
    cfg = TrainConfig(num_epoch=10, lr_step=3, lr_gamma=0.5)
    assert [lr_factor(e, replace(cfg, schedule="step")) for e in (0, 2, 3, 7)] == [1, 1, 0.5, 0.25]
    cos = [lr_factor(e, replace(cfg, schedule="cosine")) for e in (0, 5, 10)]
    assert cos[0] == 1 and abs(cos[1] - 0.5) < 1e-12 and abs(cos[2]) < 1e-12
    assert lr_factor(7, cfg) == 1
    cmd = train_command(TrainConfig(amp=True, val_set="Set5"))
    assert cmd.startswith("python train.py train --data train.h5") and "--amp" in cmd
    assert "--val-set Set5" in cmd and "--channels-last" not in cmd and "--workers" not in cmd
    assert "--model srcnn --filters 9-5-5" in cmd and "--model-arg" not in cmd
    cmd = train_command(TrainConfig(model="vdsr", model_arg=["depth=8", "act=p q"], clip=0.4, weight_decay=1e-4))
    assert "--model vdsr --model-arg depth=8 --model-arg 'act=p q' --clip 0.4 --weight-decay 0.0001" in cmd
    assert "--filters" not in cmd and "--n1" not in cmd and "--padding" not in cmd


def test_parse_model_args():
    assert parse_model_args(["depth=8", "lr=1e-3", "act=PReLU", "residual=True", "bn=false", "x= 2 ", "e="]) == \
        {"depth": 8, "lr": 1e-3, "act": "PReLU", "residual": True, "bn": False, "x": 2, "e": ""}
    assert parse_model_args(None) == {} and parse_model_args([]) == {}
    for bad, msg in ((["depth"], "KEY=VALUE"), (["=3"], "KEY=VALUE"), (["a b=1"], "KEY=VALUE"),
                     (["d=1", "d=2"], "given twice")):
        with pytest.raises(ValueError, match=msg):
            parse_model_args(bad)


def test_recipe_lists_the_prepare_command_of_every_file(tmp_path, data):
    """Several --data files (e.g. T91 + BSD200): the recipe keeps each file's prepare_data.py command."""
    other = write_patches(tmp_path / "more.h5", n=24, patch=11, chunk=8, val_images=0, seed=1)
    t = trainer(make_cfg(tmp_path, data=[str(data), str(other)]))
    assert t.recipe["prepare"] == ("python prepare_data.py --scale 3 --out train.h5 && "
                                   "python prepare_data.py --scale 3 --out more.h5")
    assert trainer(make_cfg(tmp_path)).recipe["prepare"] == "python prepare_data.py --scale 3 --out train.h5"


def test_train_writes_everything(tmp_path, data):
    lines = []
    cfg = make_cfg(tmp_path, num_epoch=4, save_freq=2, lr=3e-3)
    assert trainer(cfg, lines=lines).run() == 0
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
    tr = trainer(make_cfg(tmp_path, optimizer="sgd", lr=0.02, loss="l1", schedule="step", lr_step=1,
                         lr_gamma=0.5, num_epoch=2, last_layer_lr=0.1))
    assert isinstance(tr.opt, torch.optim.SGD) and tr.loss_fn is torch.nn.functional.l1_loss
    assert all(g["momentum"] == 0.9 for g in tr.opt.param_groups)
    g1, g2 = tr.opt.param_groups
    assert [p.shape for p in g2["params"]] == [tr.model.conv3.weight.shape, tr.model.conv3.bias.shape]
    assert len(g1["params"]) == 4
    tr.run()
    assert math.isclose(g1["lr"], 0.01) and math.isclose(g2["lr"], 0.001)  # epoch 2: gamma^1; last layer /10
    assert [h["lr"] for h in tr.history] == [0.02, 0.01]
    tr = trainer(make_cfg(tmp_path))
    assert isinstance(tr.opt, torch.optim.Adam) and tr.loss_fn is torch.nn.functional.mse_loss
    assert [g["lr"] for g in tr.opt.param_groups] == [1e-3, 1e-3]  # --last-layer-lr 1 by default


def test_init(tmp_path, data):
    paper = trainer(make_cfg(tmp_path, n1=64, n2=32, init="paper")).model
    w = paper.conv1.weight.detach()
    assert float(paper.conv3.weight.detach().std()) < 2e-3
    assert abs(float(w.std()) - 1e-3) < 2e-4 and float(paper.conv1.bias.detach().abs().max()) == 0
    default = trainer(make_cfg(tmp_path, n1=64, n2=32, init="default")).model
    assert float(default.conv1.weight.detach().std()) > 0.05
    assert float(default.conv1.bias.detach().abs().max()) > 0


def test_label_cropping(tmp_path):
    write_patches(tmp_path / "train.h5", n=16, patch=11, label=7, val_images=0)
    tr = trainer(make_cfg(tmp_path))  # 3-1-3 without padding: 11 -> 7 = label
    assert (tr.crop_label, tr.crop_out) == (0, 0)
    tr = trainer(make_cfg(tmp_path, padding="replicate"))  # output 11, label 7: the output is cropped
    assert (tr.crop_label, tr.crop_out) == (0, 2)
    assert tr.run() == 0
    write_patches(tmp_path / "train.h5", n=16, patch=11, val_images=0)
    tr = trainer(make_cfg(tmp_path))  # output 7, label 11: the label is cropped
    assert (tr.crop_label, tr.crop_out) == (2, 0)
    assert tr.run() == 0


def test_label_cropping_impossible(tmp_path):
    write_patches(tmp_path / "train.h5", n=16, patch=11, val_images=0)  # 9-5-5 needs more than 11 px
    with pytest.raises(SRCNNError, match="cannot be centre-aligned"):
        trainer(make_cfg(tmp_path, filters="9-5-5"))


@pytest.mark.parametrize("loader", ["memory", "stream"])
def test_resume_bit_identical(tmp_path, data, loader):
    full = make_cfg(tmp_path, num_epoch=4, loader=loader, workers=0, out_dir=str(tmp_path / "a"))
    assert trainer(full).run() == 0
    half = replace(full, num_epoch=2, out_dir=str(tmp_path / "b"))
    assert trainer(half).run() == 0
    tr = trainer(replace(full, out_dir=str(tmp_path / "b")), tmp_path / "b" / "checkpoint.2")
    assert tr.epoch == 2 and tr.step == 10
    assert tr.run(fresh=False) == 0
    a, b = load_checkpoint(tmp_path / "a/checkpoint.last"), load_checkpoint(tmp_path / "b/checkpoint.last")
    assert_same(a["state_dict"], b["state_dict"])
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    assert [h["val_psnr"] for h in a["history"]] == [h["val_psnr"] for h in b["history"]]
    assert a["step"] == b["step"] == 20
    assert torch.equal(a["optimizer"]["state"][0]["exp_avg"], b["optimizer"]["state"][0]["exp_avg"])


def test_rng_state_restored(tmp_path, data):
    trainer(make_cfg(tmp_path, num_epoch=1)).run()
    ck = load_checkpoint(tmp_path / "ck/checkpoint.1")
    torch.manual_seed(123)
    np.random.seed(5)
    trainer(make_cfg(tmp_path), tmp_path / "ck/checkpoint.1")
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
    full = make_cfg(tmp_path, num_epoch=3, out_dir=str(tmp_path / "a"))
    trainer(full).run()
    cfg = replace(full, out_dir=str(tmp_path / "b"))
    tr = trainer(cfg)
    _stop_during(tr, 1, 2, lambda t: t.stop.request(signal.SIGINT))
    lines = []
    tr.log = lambda *a: lines.append(" ".join(map(str, a)))
    assert tr.run() == 130
    p = tmp_path / "b" / "checkpoint.interrupted"
    ck = load_checkpoint(p)
    assert ck["epoch"] == 1 and ck["partial"]["samples"] == 24 and ck["step"] == 8  # the batch in flight ends
    assert f"resume with: python train.py resume {p}" in lines[-1]
    assert not (tmp_path / "b" / "checkpoint.2").exists()
    tr = trainer(cfg, p)
    assert tr.run(fresh=False) == 0
    a, b = load_checkpoint(tmp_path / "a/checkpoint.last"), load_checkpoint(tmp_path / "b/checkpoint.last")
    assert_same(a["state_dict"], b["state_dict"])
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]


def test_real_sigterm_in_process(tmp_path, data):
    """A real SIGTERM delivered to this process goes through the handler: save, exit code 143."""
    tr = trainer(make_cfg(tmp_path, num_epoch=5))
    _stop_during(tr, 2, 5, lambda t: os.kill(os.getpid(), signal.SIGTERM))  # the last batch of epoch 3
    before = signal.getsignal(signal.SIGTERM)
    assert tr.run() == 143
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert ck["epoch"] == 3 and ck["partial"] is None  # the epoch was complete: saved as usual
    assert not (tmp_path / "ck/checkpoint.interrupted").exists()


def test_second_signal_aborts(tmp_path, data):
    tr = trainer(make_cfg(tmp_path, num_epoch=3))

    def twice(t):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
    _stop_during(tr, 0, 1, twice)
    with pytest.raises(KeyboardInterrupt):
        tr.run()
    assert not (tmp_path / "ck/checkpoint.interrupted").exists()


def test_nan_stops_keeping_last_good(tmp_path, data):
    tr = trainer(make_cfg(tmp_path, num_epoch=5))
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
        trainer(make_cfg(tmp_path, loader="stream", workers=0)).run()


def test_no_val_no_best(tmp_path):
    write_patches(tmp_path / "train.h5", n=16, patch=11, val_images=0)
    lines = []
    assert trainer(make_cfg(tmp_path, num_epoch=1), lines=lines).run() == 0
    assert any("checkpoint.best is not written" in s for s in lines)
    assert not (tmp_path / "ck/checkpoint.best").exists()
    assert load_checkpoint(tmp_path / "ck/checkpoint.last")["history"][0]["val_psnr"] is None


def test_val_set_folder(tmp_path, data, make_image):
    from srcnn.images import write_image
    folder = tmp_path / "MySet"
    folder.mkdir()
    write_image(folder / "a.png", make_image(20, 26, 3, 1))
    write_image(folder / "b.png", make_image(18, 18, 0, 2))
    tr = trainer(make_cfg(tmp_path, val_set="MySet", data_root=str(tmp_path), num_epoch=1))
    assert len(tr.val) == 2 and tr.val[0]["input"].shape == (1, 1, 18, 24)
    tr.run()
    assert tr.history[0]["val_psnr"] > 0
    with pytest.raises(SRCNNError, match="Nope"):
        trainer(make_cfg(tmp_path, val_set="Nope", data_root=str(tmp_path)))


def test_rgb_training(tmp_path, make_image):
    write_patches(tmp_path / "train.h5", n=16, patch=11, channels=3, scales=(2, 3), val_images=1, val_size=14)
    tr = trainer(make_cfg(tmp_path, num_epoch=1, channels_last=True))
    assert tr.run() == 0
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert ck["channels"] == "rgb" and ck["scale"] == [2, 3] and ck["model"]["channels"] == 3
    assert ck["state_dict"]["conv1.weight"].is_contiguous()
    assert ck["history"][0]["val_psnr"] > 0 and ck["history"][0]["val_ssim"] is None  # too small for SSIM


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of --cuda without a GPU")
def test_cuda_without_a_gpu_is_an_error(tmp_path, data):
    with pytest.raises(SRCNNError, match="--cuda was given but no CUDA GPU"):
        trainer(make_cfg(tmp_path, cuda=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training(tmp_path, data):
    """--cuda: the model, its EMA and the batches on the GPU; the checkpoint's tensors on the CPU, loadable
    anywhere."""
    tr = trainer(make_cfg(tmp_path, cuda=True, num_epoch=1, ema=0.9))
    assert tr.device.type == "cuda" and all(p.is_cuda for p in tr.model.parameters())
    assert all(p.is_cuda for p in tr.ema.parameters()) and all(p.is_cuda for p in tr.eval_model.parameters())
    x, y = next(iter(tr.loader.epoch(0)))
    assert x.is_cuda and y.is_cuda
    assert tr.run() == 0 and math.isfinite(tr.history[0]["loss"]) and tr.history[0]["val_psnr"] > 0
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert all(v.device.type == "cpu" for v in ck["state_dict"].values())
    assert all(v.device.type == "cpu" for v in ck["ema_state_dict"].values())



def test_amp_on_cpu_is_bfloat16(tmp_path, data):
    tr = trainer(make_cfg(tmp_path, amp=True, num_epoch=1))
    assert tr.amp_dtype == torch.bfloat16 and tr.scaler is None
    seen = []
    tr.model.conv1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    lines = []
    tr.log = lambda *a: lines.append(" ".join(map(str, a)))
    assert tr.run() == 0
    assert seen == [torch.bfloat16] * 5  # the 5 training steps (validation runs eval_model in float32)
    assert any("numeric bf16-cl" in s for s in lines) and math.isfinite(tr.history[0]["loss"])


def test_out_dir_reuse_and_stale_tmp(tmp_path, data):
    trainer(make_cfg(tmp_path, num_epoch=1)).run()
    (tmp_path / "ck/.checkpoint.last.tmp-99999").write_bytes(b"half")
    lines = []
    trainer(make_cfg(tmp_path, num_epoch=1), lines=lines).run()
    moved = [p for p in (tmp_path / "ck").iterdir() if p.name.startswith("previous-")]
    assert len(moved) == 1 and (moved[0] / "checkpoint.last").is_file()
    assert any("held another run" in s for s in lines)
    assert not list((tmp_path / "ck").glob(".*tmp*"))


def test_resume_mismatch(tmp_path, data):
    trainer(make_cfg(tmp_path, num_epoch=1)).run()
    write_patches(tmp_path / "train.h5", n=40, patch=11, channels=3)
    with pytest.raises(SRCNNError, match="trained on channels 'y' scale 3, but .* has channels 'rgb'"):
        trainer(make_cfg(tmp_path), tmp_path / "ck/checkpoint.1")


def test_plot_optional(tmp_path, data, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    lines = []
    trainer(make_cfg(tmp_path, num_epoch=1), lines=lines).run()
    assert any("matplotlib is not installed" in s for s in lines)
    assert not (tmp_path / "ck/plot.png").exists()
    monkeypatch.undo()
    pytest.importorskip("matplotlib")
    trainer(make_cfg(tmp_path, num_epoch=1)).run()
    assert (tmp_path / "ck/plot.png").stat().st_size > 1000


@pytest.mark.filterwarnings("ignore:.*CUDA is not available")
@pytest.mark.filterwarnings("ignore:.*is enabled, but CUDA")
def test_amp_code_path_runs(tmp_path, data):
    """The gradient-scaler branch (its state in the checkpoint) with the autocast dtype actually used:
    --amp on CUDA is float16 autocast with a GradScaler; without a GPU the branch runs with a scaler that
    disables itself, and the step stays float32."""
    cuda = torch.cuda.is_available()
    tr = trainer(make_cfg(tmp_path, num_epoch=1, cuda=cuda, amp=cuda))
    if tr.scaler is None:
        tr.scaler = torch.amp.GradScaler("cuda")
    seen = []
    tr.model.conv1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    assert tr.run() == 0
    want = torch.float16 if cuda else torch.float32
    assert tr.amp_dtype == (torch.float16 if cuda else None)
    assert seen == [want] * 5  # the 5 training steps (validation runs eval_model in float32)
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert isinstance(ck["scaler"], dict) and math.isfinite(ck["history"][0]["loss"])


# ---------------------------------------------------------------------------------------------- other models
NOT_SRCNN = dict(filters=None, n1=None, n2=None, padding=None)
FAMILIES = [  # name, tiny --model-arg, input kind of the data
    ("fsrcnn", ["d=8", "s=4", "m=1"], "lr"),
    ("espcn", ["n1=8", "n2=4"], "lr"),
    ("vdsr", ["depth=3", "features=8"], "upscaled"),
    ("srcnn-resblocks", ["depth=4", "f1=3", "f2=3", "f3=3", "n1=8", "n2=8"], "upscaled"),
    ("srcnn-subpixel", ["f1=3", "f2=1", "f3=3", "n1=8", "n2=4"], "lr"),
]


def lr_data(tmp_path, name="lr.h5", **kw):
    """32 LR patches of 6 px (HR 12 px) at x2; one 20x20 validation image."""
    return write_patches(tmp_path / name, n=32, scales=(2,), chunk=8, val_images=1, val_size=20, input="lr", **kw)


def model_cfg(tmp_path, data, name, args, **kw):
    return make_cfg(tmp_path, data=str(data), model=name, model_arg=list(args), **{"num_epoch": 2, **NOT_SRCNN, **kw})


@pytest.mark.parametrize("name,args,kind", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_model_families_train(tmp_path, name, args, kind):
    from srcnn.checkpoint import build_from_checkpoint
    data = lr_data(tmp_path) if kind == "lr" else write_patches(
        tmp_path / "up.h5", n=32, patch=11, chunk=8, val_images=1, val_size=20, input="upscaled")
    tr = trainer(model_cfg(tmp_path, data, name, args))
    assert tr.model.name == name and tr.pf.input == kind and tr.model.input_kind == kind
    assert tr.model.upscale == (2 if kind == "lr" else 1) and (tr.crop_label, tr.crop_out) == (0, 0)
    assert tr.run() == 0
    h = tr.history
    assert h[1]["loss"] < h[0]["loss"] and all(e["val_psnr"] > 0 for e in h)
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert ck["model"]["name"] == name and ck["model"]["channels"] == 1
    assert ck["model"].get("scale") == (2 if kind == "lr" else None)
    assert ck["hparams"]["model_arg"] == args and ck["hparams"]["filters"] is None
    assert f"--model {name} --model-arg {args[0]}" in ck["recipe"]["train"] and "--filters" not in ck["recipe"]["train"]
    m = build_from_checkpoint(ck, "ck")
    assert_same(m.state_dict(), ck["state_dict"])


def test_lr_model_resume_bit_identical(tmp_path):
    data = lr_data(tmp_path)
    args = ["d=8", "s=4", "m=1"]
    full = model_cfg(tmp_path, data, "fsrcnn", args, num_epoch=2, out_dir=str(tmp_path / "a"), loss="charbonnier",
                    weight_decay=1e-3, clip=0.01, loader="stream", workers=0)
    assert trainer(full).run() == 0
    assert trainer(replace(full, num_epoch=1, out_dir=str(tmp_path / "b"))).run() == 0
    tr = trainer(replace(full, out_dir=str(tmp_path / "b")), tmp_path / "b/checkpoint.1")
    assert tr.model.name == "fsrcnn" and tr.run(fresh=False) == 0
    a, b = load_checkpoint(tmp_path / "a/checkpoint.last"), load_checkpoint(tmp_path / "b/checkpoint.last")
    assert_same(a["state_dict"], b["state_dict"])
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    with pytest.raises(SRCNNError, match="holds a fsrcnn model, not --model espcn"):
        trainer(replace(full, model="espcn"), tmp_path / "b/checkpoint.1")


def test_input_kind_mismatch(tmp_path):
    up = write_patches(tmp_path / "train.h5", n=16, patch=12, val_images=0)  # an old file: no input attribute
    with pytest.raises(SRCNNError, match=r"train.h5 was prepared for bicubic-upscaled input; fsrcnn takes the LR "
                                         r"image: run python prepare_data.py --model fsrcnn --scale 3 --out train_fsrcnn.h5$"):
        trainer(model_cfg(tmp_path, up, "fsrcnn", []))
    lr = lr_data(tmp_path, attrs={"command": "prepare_data.py --model fsrcnn --scale 2 --out lr.h5"})
    with pytest.raises(SRCNNError, match=r"lr.h5 was prepared for LR input; vdsr takes the bicubic-upscaled image: "
                                         r"run python prepare_data.py --model vdsr --scale 2 --out lr_vdsr.h5$"):
        trainer(model_cfg(tmp_path, lr, "vdsr", []))
    with pytest.raises(SRCNNError, match="lr.h5 was prepared for LR input; srcnn takes"):
        trainer(make_cfg(tmp_path, data=str(lr)))
    # the suggested --out never names the existing file (--out=FILE and a folder kept)
    lr2 = lr_data(tmp_path, "lr2.h5", attrs={"command": "prepare_data.py --model=fsrcnn --out=d/lr.h5 --scale 2"})
    with pytest.raises(SRCNNError, match=r"run python prepare_data.py --model vdsr --out=d/lr_vdsr.h5 --scale 2$"):
        trainer(model_cfg(tmp_path, lr2, "vdsr", []))
    # a variant made LR-input by its arguments follows them
    tr = trainer(model_cfg(tmp_path, lr, "srcnn-res", ["upsample=subpixel", "f1=3", "f2=1", "f3=3", "n1=4", "n2=4"]))
    assert tr.model.upscale == 2
    multi = write_patches(tmp_path / "multi.h5", n=16, patch=12, scales=(2, 3), val_images=0)
    with pytest.raises(SRCNNError, match=r"has scales \[2, 3\], but espcn takes the LR image of one scale"):
        trainer(model_cfg(tmp_path, multi, "espcn", []))


def test_model_options_errors(tmp_path, data):
    with pytest.raises(SRCNNError, match="--filters --n1 --n2: option\\(s\\) of --model srcnn; vdsr takes its "
                                         "settings as --model-arg"):
        trainer(make_cfg(tmp_path, model="vdsr"))  # make_cfg's filters 3-1-3
    for args, msg in ((["depth=0"], "--model vdsr: .*depth"), (["nope=1"], "--model vdsr: .*nope.*check --model-arg"),
                      (["channels=3"], "--model-arg channels: set by the training data"),
                      (["depth=2", "depth=3"], "given twice"), (["depth"], "KEY=VALUE")):
        with pytest.raises(SRCNNError, match=msg):
            trainer(make_cfg(tmp_path, model="vdsr", model_arg=args, **NOT_SRCNN))
    with pytest.raises(SRCNNError, match="--model-arg n1: use --n1 for --model srcnn"):
        trainer(make_cfg(tmp_path, model_arg=["n1=3"]))
    with pytest.raises(SRCNNError, match="unknown --model 'nope'"):
        trainer(make_cfg(tmp_path, model="nope"))
    with pytest.raises(SRCNNError, match="--clip must be >= 0"):
        trainer(make_cfg(tmp_path, clip=-1.0))


def test_clip_and_weight_decay_in_the_step(tmp_path, data):
    """--clip bounds every element of the first SGD step by theta (the lr cancels); --weight-decay and
    --last-layer-lr reach the optimizer, also when changed on resume."""
    def first_step_change(**kw):
        tr = trainer(make_cfg(tmp_path, optimizer="sgd", lr=10.0, init="default", **kw))
        before = [p.detach().clone() for p in tr.model.parameters()]
        x, y = next(iter(tr.loader.epoch(0)))
        tr._train_step(x, y)
        return max(float((p.detach() - b).abs().max()) for p, b in zip(tr.model.parameters(), before))
    assert first_step_change(clip=1e-4) <= 1.001e-4  # (float32 rounding of the weights)
    assert first_step_change() > 1e-3
    tr = trainer(make_cfg(tmp_path, weight_decay=1e-4, num_epoch=1))
    assert [g["weight_decay"] for g in tr.opt.param_groups] == [1e-4, 1e-4]
    tr.run()
    tr = trainer(make_cfg(tmp_path, weight_decay=0.5, num_epoch=2, last_layer_lr=0.25), tmp_path / "ck/checkpoint.1")
    assert [g["weight_decay"] for g in tr.opt.param_groups] == [0.5, 0.5]
    assert [g["lr_scale"] for g in tr.opt.param_groups] == [1.0, 0.25]  # --last-layer-lr also wins on resume
    tr = trainer(make_cfg(tmp_path, loss="charbonnier"))
    assert tr.loss_fn is charbonnier_loss


def test_val_set_for_lr_models(tmp_path, make_image):
    from srcnn.images import write_image
    from srcnn.protocol import hr_y
    from srcnn.resize import imresize
    folder = tmp_path / "MySet"
    folder.mkdir()
    img = make_image(21, 26, 3, 1)
    write_image(folder / "a.png", img)
    data = lr_data(tmp_path)
    tr = trainer(model_cfg(tmp_path, data, "espcn", ["n1=8", "n2=4"], val_set="MySet", data_root=str(tmp_path),
                          num_epoch=1))
    (item,) = tr.val
    assert item["input"].shape == (1, 1, 10, 13) and item["gt_y"].shape == (20, 26)
    want = imresize(hr_y(img, 2), 0.5)
    assert np.allclose(item["input"][0, 0].numpy(), want, atol=1e-6)
    assert tr.run() == 0 and tr.history[0]["val_psnr"] > 0


@pytest.mark.parametrize("key, value, msg", [("lr", float("inf"), "--lr must be finite and positive"),
                                             ("lr_gamma", float("nan"), "--lr-gamma must be finite"),
                                             ("clip", float("inf"), "--clip must be finite and >= 0"),
                                             ("weight_decay", "0.1", "--weight-decay must be a number")])
def test_hparams_finite_numbers(tmp_path, data, key, value, msg):
    """issue 13 items 2 and 9: the library check (also what a resumed checkpoint's hparams go through)."""
    with pytest.raises(SRCNNError, match=re.escape(msg)):
        trainer(make_cfg(tmp_path, **{key: value}))
    assert not (tmp_path / "ck").exists()


def test_failed_new_run_leaves_the_old_one_in_place(tmp_path, data):
    """issue 13 item 5: the old run is moved aside only with the new run's first checkpoint."""
    trainer(make_cfg(tmp_path, num_epoch=1)).run()
    before = sorted(p.name for p in (tmp_path / "ck").iterdir())
    tr = trainer(make_cfg(tmp_path, num_epoch=2))
    tr.loss_fn = lambda out, y: torch.nn.functional.mse_loss(out, y) * float("nan")  # fails at once
    with pytest.raises(SRCNNError, match="loss became nan"):
        tr.run()
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == before  # nothing moved, nothing new
    assert load_checkpoint(tmp_path / "ck/checkpoint.last")["epoch"] == 1


def test_previous_folder_of_the_same_second(tmp_path, data, monkeypatch):
    """issue 13 item 8: previous-<time> already there (two runs in one second) -> previous-<time>-2."""
    import srcnn.rundir as rundir

    class Frozen(rundir.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 1, 2, 3, 4, 5)
    monkeypatch.setattr(rundir, "datetime", Frozen)
    ck = tmp_path / "ck"
    for n in range(3):
        lines = []
        assert trainer(make_cfg(tmp_path, num_epoch=1), lines=lines).run() == 0
    names = sorted(p.name for p in ck.iterdir() if p.name.startswith("previous-"))
    assert names == ["previous-20260102-030405", "previous-20260102-030405-2"]
    assert all((ck / n / "checkpoint.last").is_file() for n in names)
    assert any("moved its" in s and "-2" in s for s in lines)


@pytest.mark.parametrize("where", ["file", "under_file", "long_name"])
def test_out_dir_that_cannot_be_a_folder(tmp_path, data, where):
    """issue 13 items 7 and 8: --out-dir a file, under a file, or a name over 255 bytes: one line."""
    (tmp_path / "f").write_text("a file")
    out = {"file": tmp_path / "f", "under_file": tmp_path / "f" / "x",
           "long_name": tmp_path / ("n" * 300)}[where]
    msg = {"file": "is a file, not a folder", "under_file": f"{tmp_path / 'f'} is a file, not a folder",
           "long_name": "cannot create the folder"}[where]
    with pytest.raises(SRCNNError, match=re.escape(msg)) as e:
        trainer(make_cfg(tmp_path, out_dir=str(out), num_epoch=1)).run()
    assert str(out) in str(e.value) and "\n" not in str(e.value)
    assert (tmp_path / "f").read_text() == "a file"


def test_init_from_exported_weights_and_errors(tmp_path, data, capsys):
    from srcnn.cli.train import main as train_main
    assert trainer(make_cfg(tmp_path, num_epoch=1)).run() == 0
    assert train_main(["export", str(tmp_path / "ck/checkpoint.last"), str(tmp_path / "w.pt")]) == 0
    src = weights(tmp_path / "w.pt")
    lines = []
    tr = trainer(make_cfg(tmp_path, out_dir=str(tmp_path / "ft"), init_from=str(tmp_path / "w.pt"), seed=7),
                 lines=lines)
    assert_same({k: v.contiguous() for k, v in tr.model.state_dict().items()}, src)
    assert tr.opt.state == {}  # a fresh optimizer
    tr.run()
    ck = load_checkpoint(tmp_path / "ft/checkpoint.last")
    assert ck["hparams"]["init_from"] == str(tmp_path / "w.pt") and "--init-from" in ck["recipe"]["train"]
    parent = ck["recipe"]["parent"]  # the lineage: the starting weights' own recipe
    assert parent["weights"] == str(tmp_path / "w.pt") and parent["epoch"] == 1
    w = load_checkpoint(tmp_path / "w.pt")
    assert parent["recipe"]["train"] == w["recipe"]["train"]
    assert parent["history"] == w["history"] and parent["count"] == w["data"]["count"] > 0  # its samples seen
    assert any("weights from" in s and "w.pt" in s for s in lines)
    with pytest.raises(SRCNNError, match="does not match the model to train"):
        trainer(make_cfg(tmp_path, n1=6, out_dir=str(tmp_path / "x"), init_from=str(tmp_path / "w.pt")))
    with pytest.raises(SRCNNError, match="not a bundled weights name"):
        trainer(make_cfg(tmp_path, out_dir=str(tmp_path / "x"), init_from="srcnn_x7"))
    capsys.readouterr()
    assert train_main(["resume", str(tmp_path / "ft/checkpoint.last"), "--init-from", str(tmp_path / "x.pt")]) == 2
    assert "--init-from cannot change on resume" in capsys.readouterr().err


def test_init_from_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "srcnn_x3").mkdir()  # a run folder named like the weights does not hide them
    write_patches(tmp_path / "train.h5", n=16, patch=33, label=21, chunk=8, scales=(3,), val_images=1, val_size=20)
    from srcnn.weightfiles import WEIGHTS_DIR, load_file
    tr = trainer(make_cfg(tmp_path, filters="9-5-5", n1=64, n2=32, init_from="srcnn_x3", num_epoch=1))
    ref, _ = load_file(WEIGHTS_DIR / "srcnn_x3.pt")
    assert all(torch.equal(a, b) for a, b in zip(tr.model.state_dict().values(), ref.state_dict().values()))


def test_augment_and_ema_resume_bit_identical(tmp_path, data):
    full = make_cfg(tmp_path, num_epoch=4, augment=True, ema=0.9, out_dir=str(tmp_path / "a"))
    lines = []
    assert trainer(full, lines=lines).run() == 0
    assert any("on-the-fly flips" in s and "EMA" in s for s in lines)
    assert trainer(replace(full, num_epoch=2, out_dir=str(tmp_path / "b"))).run() == 0
    assert trainer(replace(full, out_dir=str(tmp_path / "b")), tmp_path / "b/checkpoint.2").run(fresh=False) == 0
    a, b = load_checkpoint(tmp_path / "a/checkpoint.last"), load_checkpoint(tmp_path / "b/checkpoint.last")
    assert_same(a["state_dict"], b["state_dict"])
    assert_same(a["ema_state_dict"], b["ema_state_dict"])
    assert [h["val_psnr"] for h in a["history"]] == [h["val_psnr"] for h in b["history"]]
    plain = make_cfg(tmp_path, num_epoch=4, augment=False, out_dir=str(tmp_path / "c"))
    assert trainer(plain).run() == 0
    c = load_checkpoint(tmp_path / "c/checkpoint.last")
    assert not torch.equal(a["state_dict"]["conv1.weight"], c["state_dict"]["conv1.weight"])  # augment acts


def test_ema_is_validated_and_exported(tmp_path, data):
    from srcnn.weightfiles import load_file
    from srcnn.cli.train import main as train_main
    from srcnn.optim import ema_update
    tr = trainer(make_cfg(tmp_path, num_epoch=2, ema=0.9))
    assert tr.run() == 0
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    ema, raw = ck["ema_state_dict"], ck["state_dict"]
    assert not torch.equal(ema["conv1.weight"], raw["conv1.weight"])
    # validation scored the EMA weights: loading them into a fresh trainer's eval model gives the same PSNR
    tr2 = trainer(make_cfg(tmp_path, out_dir=str(tmp_path / "v")))
    tr2.model.load_state_dict(ema)
    assert tr2.validate()[0] == pytest.approx(ck["history"][-1]["val_psnr"], abs=1e-9)
    assert train_main(["export", str(tmp_path / "ck/checkpoint.last"), str(tmp_path / "w.pt")]) == 0
    w = load_checkpoint(tmp_path / "w.pt")
    assert_same(w["state_dict"], ema) and "ema_state_dict" not in w and w["exported_from"]["weights"] == "ema"
    model, meta = load_file(tmp_path / "ck/checkpoint.last")  # evaluate.py on the checkpoint: EMA too
    assert torch.equal(model.conv1.weight, ema["conv1.weight"]) and "ema_state_dict" not in meta
    # the update rule: d = min(decay, (1 + step) / (10 + step))
    e, m = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = e.weight.detach().clone()
    ema_update(e, m, 0.5, step=1000)
    assert torch.allclose(e.weight, 0.5 * before + 0.5 * m.weight)
    ema_update(e, m, 0.999, step=0)  # d = 0.1 at the first step
    assert torch.allclose(e.weight, 0.1 * (0.5 * before + 0.5 * m.weight) + 0.9 * m.weight)


def test_auto_precision_recorded(tmp_path, data):
    tr = trainer(make_cfg(tmp_path, num_epoch=1, precision="auto"))
    assert tr.numeric.name in ("fp32", "fp32-cl", "bf16-cl") and tr.numeric.probe
    tr.run()
    ck = load_checkpoint(tmp_path / "ck/checkpoint.last")
    assert ck["numeric"]["name"] == tr.numeric.name and ck["numeric"]["probe_samples_per_s"]
    again = trainer(make_cfg(tmp_path, precision="auto", num_epoch=2), tmp_path / "ck/checkpoint.last")
    assert again.numeric.name == tr.numeric.name and again.numeric.reason == "as recorded in the checkpoint"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full for a real ENOSPC")
def test_disk_full_while_training_is_one_error(tmp_path, data, monkeypatch):
    """issue 13 item 6: a writer of the run (here log.jsonl, written to /dev/full) failing with ENOSPC is
    one SRCNNError naming what is kept, not a traceback; the checkpoints written before load."""
    import srcnn.rundir as rundir

    def full(path, text):
        with open("/dev/full", "w") as f:
            f.write(text)
    monkeypatch.setattr(rundir, "atomic_text", full)
    with pytest.raises(SRCNNError, match=r"No space left on device; the checkpoints written before are kept "
                                         r"\(last good: .*checkpoint\.last\)") as e:
        trainer(make_cfg(tmp_path, num_epoch=2)).run()
    assert "\n" not in str(e.value)
    assert load_checkpoint(tmp_path / "ck/checkpoint.last")["epoch"] == 1
    assert not (tmp_path / "ck/.lock").exists()  # released
