"""The training loop: any srcnn.models architecture on "srcnn-patches" HDF5 data, with crash-safe,
resumable checkpoints.

``Trainer(hp).run()`` trains a new model; ``Trainer(hp, resume=ckpt, resume_path=p).run()`` continues one.
``hp`` is a dict with every key of ``DEFAULTS`` (the train.py options). Per epoch: train on /train
(sample order a pure function of (seed, epoch)), validate (full-image PSNR/SSIM on Y with the paper's
protocol: srcnn.protocol.score), append to the history, write checkpoint.last, checkpoint.<epoch>
every save_freq epochs, checkpoint.best on a new best validation PSNR, log.jsonl and plot.png.

The model: ``hp["model"]`` (a srcnn.models registry name) built with ``hp["model_arg"]`` ("KEY=VALUE"
strings), channels from the data and, for LR-input models, the data's single scale; SRCNN takes
filters/n1/n2/padding instead (None for other models). The data's input kind (PatchFile.input:
"upscaled" | "lr") must be the model's. A training step: x (B,C,R,R) float32 -> model -> (B,C,O,O),
centre-aligned with the label y (B,C,L,L) float32 in [0,1] (O = model.out_size(R)); loss mse | l1 |
charbonnier; optional VDSR gradient clipping (clip / lr per element) and weight decay; --amp autocasts to
float16 with gradient scaling on CUDA, to bfloat16 on the CPU. The last layer learns at
lr * model.last_layer_lr_scale (SRCNN 0.1, the paper).

Exit codes of ``run``: 0 done; 130 / 143 stopped by SIGINT / SIGTERM after saving checkpoint.interrupted.
A non-finite loss raises SRCNNError (no checkpoint is written from the diverged state).

Distributed (``dist`` from srcnn.distributed.from_env, under torchrun): the model is wrapped in
DistributedDataParallel, each rank trains on its share of every global batch (batch_size per process,
batch_size x world_size per step), and every decision is collective: each step all ranks agree on the
step's sample count and on whether a stop signal arrived anywhere; the non-finite-loss check looks at
the loss summed over the ranks. Only rank 0 validates and writes (checkpoints, log.jsonl, plot.png,
progress bar, messages); the others wait for it at a barrier. Checkpoints hold the plain model's
state_dict, so a run can be resumed with any number of processes.
"""
from __future__ import annotations

import errno
import json
import math
import os
import random
import shlex
import signal
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import __version__
from .checkpoint import FORMAT, FORMAT_VERSION, build_from_checkpoint, save_checkpoint
from .data import load_val, make_loader, open_patches
from .distributed import SINGLE, Dist
from .errors import SRCNNError, check_number
from .locks import lock_folder, make_folder
from .models import SRModel, build_model, count_parameters, model_names
from .models import input_kind as model_input_kind
from .metrics import psnr
from .precision import NUMERIC_PATHS, NumericPath, choose as choose_numeric, describe as describe_numeric, named_path
from .protocol import quantize, score

DEFAULTS = dict(
    data="train.h5", out_dir="checkpoints", lr=1e-3, batch_size=128, num_epoch=100, save_freq=10,
    optimizer="adam", loss="mse", schedule="none", lr_step=30, lr_gamma=0.1, init="default", seed=0,
    model="srcnn", model_arg=[], filters="9-5-5", n1=64, n2=32, padding="none", clip=0.0, weight_decay=0.0,
    amp=False, channels_last=False, val_set=None, data_root=None, cuda=False, loader="auto", workers=2,
    precision="auto", init_from=None, augment=False, ema=0.0)
RUN_OPTIONS = ("cuda", "loader", "workers")                 # per invocation, not taken from a checkpoint
SRCNN_OPTIONS = ("filters", "n1", "n2", "padding")          # --model srcnn only (None for other models)
FIXED_OPTIONS = ("model", "model_arg", *SRCNN_OPTIONS, "init", "init_from")  # cannot change once a model exists
DATA_KWARGS = ("channels", "scale")                         # model kwargs that come from the data
SGD_MOMENTUM = 0.9
CHARBONNIER_EPS = 1e-3
CHECK_EVERY = 10           # steps between non-finite-loss checks (each one syncs with the GPU)
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


def parse_filters(text: str) -> tuple[int, int, int]:
    """ "9-5-5" -> (9, 5, 5); odd positive sizes."""
    try:
        f = tuple(int(v) for v in text.split("-"))
    except ValueError:
        f = ()
    if len(f) != 3 or any(v < 1 or v % 2 == 0 for v in f):
        raise ValueError(f"filters must look like 9-5-5 (three odd sizes), got {text!r}")
    return f


def parse_model_args(items) -> dict:
    """["depth=8", "act=prelu", "residual=true"] -> {"depth": 8, "act": "prelu", "residual": True}:
    each value an int, else a float, else true/false (any case), else the string. ValueError for an item
    without "KEY=", a key that is not an identifier, or a key given twice."""
    out = {}
    for item in items or ():
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"--model-arg wants KEY=VALUE (e.g. depth=8), got {item!r}")
        if key in out:
            raise ValueError(f"--model-arg {key} is given twice")
        out[key] = _parse_value(text.strip())
    return out


def _parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    low = text.lower()
    return True if low == "true" else False if low == "false" else text


def charbonnier_loss(out: torch.Tensor, y: torch.Tensor, eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    """mean(sqrt((out - y)^2 + eps^2)): a differentiable L1 (Charbonnier penalty); scalar tensor."""
    return torch.sqrt((out - y).square() + eps * eps).mean()


LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "charbonnier": charbonnier_loss}


def clip_gradients(opt: torch.optim.Optimizer, theta: float) -> None:
    """VDSR's adjustable gradient clipping: every gradient element clamped to [-theta/lr, theta/lr] with
    the current lr of its parameter group (so no single step moves a weight by more than about theta)."""
    for g in opt.param_groups:
        bound = theta / g["lr"] if g["lr"] > 0 else math.inf
        for p in g["params"]:
            if p.grad is not None:
                p.grad.clamp_(-bound, bound)


def lr_factor(epoch: int, hp: dict) -> float:
    """Learning-rate multiplier for 0-based ``epoch``: constant, step (x lr_gamma every lr_step epochs)
    or cosine (from 1 to 0 over num_epoch)."""
    if hp["schedule"] == "step":
        return hp["lr_gamma"] ** (epoch // hp["lr_step"])
    if hp["schedule"] == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, hp["num_epoch"]) / hp["num_epoch"]))
    return 1.0


def pick_device(cuda: bool, dist: Dist = SINGLE) -> torch.device:
    if not cuda:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA (CPU-only build)"
        raise SRCNNError(f"--cuda was given but no CUDA GPU is available (torch {torch.__version__}, built "
                         f"with {built}); run without --cuda to train on the CPU")
    return torch.device("cuda", dist.local_rank) if dist.enabled else torch.device("cuda")


def train_command(hp: dict) -> str:
    """The full ``python train.py train ...`` command line that reproduces ``hp``."""
    args = ["python", "train.py", "train"]
    for k, v in hp.items():
        flag = "--" + k.replace("_", "-")
        if k in ("loader", "workers") or v is None:
            continue
        if k == "model_arg":  # repeated flag: --model-arg depth=8 --model-arg act=prelu
            for item in v:
                args += [flag, str(item)]
        elif isinstance(v, (list, tuple)):
            args += [flag, *map(str, v)]
        elif isinstance(v, bool):
            if v:
                args.append(flag)
        else:
            args += [flag, str(v)]
    return shlex.join(args)


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": [np_state[0], np_state[1].tolist(), *[v for v in np_state[2:]]],
            "python": json.loads(json.dumps(random.getstate())),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state((s["numpy"][0], np.array(s["numpy"][1], dtype=np.uint32), *s["numpy"][2:]))
    py = s["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if s.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _print(*args) -> None:
    print(*args, flush=True)


def load_val_set(name: str, root, scales, channels: int, input_kind: str = "upscaled") -> list[dict]:
    """Images of a named set (e.g. Set5) as validation items like srcnn.data.load_val's:
    {"name", "scale", "lr": (1,C,h,w) float32, "gt_y": (H,W) float64 in [0,1]}, HR modcropped to the scale,
    for C=1 the Y channel. input_kind "upscaled": lr = MATLAB bicubic down and up (the paper's protocol, h,w = H,W);
    "lr": lr = the MATLAB bicubic downscale itself (float, unrounded; h,w = H/s,W/s)."""
    from .color import rgb2y
    from .datasets import data_root, resolve_set
    from .images import list_images, read_image, to_rgb8
    from .imresize import modcrop
    from .protocol import degrade, hr_y
    folder = resolve_set(name, data_root(root))
    half = 1 if input_kind == "upscaled" else 0  # degrade() gives (LR image, bicubic upscale)
    items = []
    for path in list_images(folder):
        img = to_rgb8(read_image(path))
        for s in scales:
            if channels == 1:
                gt = hr_y(img, s)
                lr = degrade(gt, s)[half][:, :, None]
            else:
                hr = modcrop(img if img.ndim == 3 else np.stack([img] * 3, -1), s)
                gt = rgb2y(hr).astype(np.float64) / 255.0
                lr = degrade(hr.astype(np.float64) / 255.0, s)[half]
            x = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1), dtype=np.float32))[None]
            items.append({"name": path.name, "scale": s, "lr": x, "gt_y": gt})
    if not items:
        raise SRCNNError(f"{folder}: no images for --val-set {name}")
    return items


def model_summary(model: SRModel) -> str:
    """One line: SRCNN's own repr (``SRCNN(9-5-5, n1=64, ...)``), else ``fsrcnn(scale=3, d=56, ...)``."""
    if type(model).__repr__ is not torch.nn.Module.__repr__:
        return repr(model)
    cfg = model.config()
    name = cfg.pop("name")
    return f"{name}({', '.join(f'{k}={v}' for k, v in cfg.items())})"


def _prepare_for(pf, name: str) -> str:
    """The data's prepare_data.py command with ``--model name`` instead of its own (a hint)."""
    cmd = str(pf.attrs.get("command", "")) or f"prepare_data.py --scale {pf.scales[0]} --out {pf.path.name}"
    try:
        words = shlex.split(cmd)
    except ValueError:
        words = cmd.split()
    words = [w for w in words if w != "python"]
    out, skip = [], False
    for w in words:
        if skip:
            skip = False
        elif w == "--model":
            skip = True
        elif not w.startswith("--model="):
            out.append(w)
    i = next((j + 1 for j, w in enumerate(out) if w.endswith("prepare_data.py")), None)
    if i is None:
        out, i = ["prepare_data.py", *out], 1
    return "python " + shlex.join(out[:i] + ["--model", name] + out[i:])


def _quiet(*args) -> None:
    pass


def _weights_source(source: str):
    """(model, meta) of an --init-from source: a path, else a bundled weights name."""
    from .checkpoint import load_model
    from .inference import WEIGHTS_DIR
    path, bundled = Path(source), WEIGHTS_DIR / f"{source}.pt"
    if not path.is_file() and "/" not in source and bundled.is_file():  # a name, even beside a folder of that name
        path = bundled
    elif not path.exists():
        names = ", ".join(sorted(f.stem for f in WEIGHTS_DIR.glob("*.pt")))
        raise SRCNNError(f"--init-from {source}: no such file, and not a bundled weights name ({names})")
    return load_model(path)


def lineage(meta: dict) -> dict:
    """What a run started with --init-from records of its starting weights (recipe["parent"]): their file,
    epoch, best validation and recipe, which holds their own parent: the whole chain, shown by inspect."""
    return {"weights": meta.get("path"), "epoch": meta.get("epoch"), "best": meta.get("best"),
            "recipe": meta.get("recipe")}


def init_from(model: SRModel, source: str) -> dict:
    """Load the weights of ``source`` into ``model`` (fine-tuning / a warm restart with a fresh optimizer):
    a bundled name ("srcnn_x3", "fsrcnn_x3", "vdsr_x2-3-4"), an exported .pt, a train.py checkpoint (its EMA
    weights when it has them) or the authors' .mat. The architecture, channels and (LR-input models) scale
    must match; SRCNN's padding may differ (it has no weights). Returns their ``lineage``."""
    src, meta = _weights_source(source)
    path = meta.get("path", source)
    mine, theirs = dict(model.config()), dict(src.config())
    mine.pop("padding", None), theirs.pop("padding", None)
    if mine != theirs:
        raise SRCNNError(f"--init-from {path}: holds {model_summary(src)}, which does not match the model to "
                         f"train, {model_summary(model)}; pick weights of the same architecture, channels "
                         "and scale")
    model.load_state_dict(src.state_dict())
    return lineage(meta)


def augment_choice(seed: int, step: int) -> int:
    """Which of the 8 flips/rotations (0..7) the batch of global step ``step`` gets: a pure function of
    (seed, step), so a resumed run continues the same sequence."""
    return int(np.random.SeedSequence([seed, step, 8]).generate_state(1)[0] % 8)


def dihedral(t: torch.Tensor, k: int) -> torch.Tensor:
    """(...,H,W) tensor under the k-th element (0..7) of the square's symmetry group: k % 4 quarter turns,
    then a horizontal flip when k >= 4. Applied to input and label together it keeps them aligned (each
    patch's centre stays its centre)."""
    t = torch.rot90(t, k % 4, dims=(-2, -1)) if k % 4 else t
    return torch.flip(t, dims=(-1,)) if k >= 4 else t


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """ema <- d * ema + (1 - d) * model with d = min(decay, (1 + step) / (10 + step)), so that the average
    does not lag far behind in the first steps of a run; buffers are copied."""
    d = min(decay, (1 + step) / (10 + step))
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1.0 - d)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


@torch.no_grad()
def validate_model(model: torch.nn.Module, items: list[dict], device) -> tuple[float, float | None]:
    """Mean (PSNR dB, SSIM) of ``model`` (eval mode, whole images) over validation items (srcnn.data.load_val /
    load_val_set: "lr" (1,C,h,w) float32 input, "gt_y" (H,W) float64 in [0,1], "scale"), scored on Y with the
    paper's protocol (srcnn.protocol.score). SSIM None when every image is smaller than its 11x11 window
    after shaving (PSNR only for those)."""
    from .color import rgb2y
    psnrs, ssims = [], []
    for item in items:
        out = model(item["lr"].to(device))[0].clamp_(0, 1)
        sr = out.permute(1, 2, 0).double().cpu().numpy()
        sr_y = sr[:, :, 0] if sr.shape[2] == 1 else rgb2y(sr)
        try:
            p, s = score(sr_y, item["gt_y"], item["scale"])
        except ValueError:  # smaller than SSIM's 11x11 window after shaving: PSNR only
            p, s = psnr(quantize(sr_y), quantize(item["gt_y"]), shave=item["scale"]), None
        psnrs.append(p)
        if s is not None:
            ssims.append(s)
    return float(np.mean(psnrs)), (float(np.mean(ssims)) if ssims else None)


class Trainer:
    def __init__(self, hp: dict, resume: dict | None = None, resume_path=None, log=_print, dist: Dist = SINGLE):
        self.dist = dist
        self.hp, self.log = dict(hp), (log if dist.is_main else _quiet)
        self.init_source = hp.get("init_from")
        self.out_dir = Path(hp["out_dir"])
        self.device = pick_device(hp["cuda"], dist)
        for k in ("lr", "batch_size", "num_epoch", "save_freq", "lr_step", "lr_gamma"):
            check_number(f"--{k.replace('_', '-')}", hp[k], 0, lo_open=True)  # finite too (also on resume)
        for k in ("clip", "weight_decay"):
            check_number(f"--{k.replace('_', '-')}", hp[k], 0)
        self.pf = open_patches(hp["data"])

        # model
        if resume is not None:
            if resume["channels"] != self.pf.mode or resume["scale"] != self.pf.scale:
                raise SRCNNError(f"{resume_path}: trained on channels {resume['channels']!r} scale "
                                 f"{resume['scale']}, but {self.pf.name} has channels {self.pf.mode!r} "
                                 f"scale {self.pf.scale}")
            self.model = build_from_checkpoint(resume, resume_path)
            if self.model.name != hp["model"]:
                raise SRCNNError(f"{resume_path}: holds a {self.model.name} model, not --model {hp['model']}")
        else:
            torch.manual_seed(hp["seed"])
            self.model = self._new_model()
            if hp["init"] == "paper":
                self.model.init_paper()
            parent = init_from(self.model, hp["init_from"]) if hp["init_from"] else None
            self.init_source = parent and parent["weights"]
        if hp["model"] != "srcnn":  # the SRCNN-only options do not apply: not recorded
            self.hp.update({k: None for k in SRCNN_OPTIONS})
        self.input_kind = self._check_input_kind()
        cfg = self.model.config()
        self.in_size = self.pf.lr_size if self.input_kind == "lr" else self.pf.patch_size
        out, lab = self.model.out_size(self.in_size), self.pf.label_size
        if out < 1 or (lab - out) % 2:
            raise SRCNNError(f"{self.pf.path}: {self.in_size} px input patches give {out} px outputs with "
                             f"{model_summary(self.model)}, which cannot be centre-aligned with the {lab} px labels")
        self.crop_label, self.crop_out = max(0, (lab - out) // 2), max(0, (out - lab) // 2)
        self.model.to(self.device)
        self.numeric = self._numeric_path(resume)
        if self.numeric.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.net = dist.wrap(self.model)  # what the training step calls (DDP when distributed)
        # validation runs on whole images: SRCNN trained without padding runs with replicate padding
        # (as the authors run theirs); every other model as it is
        eval_cfg = {**cfg, "padding": "replicate"} if cfg.get("padding") == "none" else cfg
        self.eval_model = build_model(**eval_cfg).to(self.device).eval()

        # optimiser: the last layer (last child module with parameters) learns at lr * last_layer_lr_scale
        layers = [m for m in self.model.children() if any(True for _ in m.parameters())]
        last = {id(p) for p in layers[-1].parameters()}
        groups = [{"params": [p for p in self.model.parameters() if id(p) not in last], "lr_scale": 1.0},
                  {"params": [p for p in self.model.parameters() if id(p) in last],
                   "lr_scale": float(getattr(self.model, "last_layer_lr_scale", 1.0))}]
        groups = [g for g in groups if g["params"]]
        wd = hp["weight_decay"]
        if hp["optimizer"] == "sgd":
            self.opt = torch.optim.SGD(groups, lr=hp["lr"], momentum=SGD_MOMENTUM, weight_decay=wd)
        else:
            self.opt = torch.optim.Adam(groups, lr=hp["lr"], weight_decay=wd)
        self.loss_fn = LOSSES[hp["loss"]]
        # autocast dtype of the numeric path (srcnn.precision); CUDA float16 needs gradient scaling
        self.amp_dtype = self.numeric.autocast
        self.scaler = None
        if self.numeric.scaler:  # torch.amp.GradScaler appeared in torch 2.3
            self.scaler = torch.amp.GradScaler("cuda") if hasattr(torch.amp, "GradScaler") \
                else torch.cuda.amp.GradScaler()

        # state
        self.epoch, self.step, self.time_spent = 0, 0, 0.0
        self.history, self.best, self.partial = [], None, None
        self.last_good = (resume_path, resume.get("epoch", 0)) if resume is not None else None
        # how to reproduce: the prepare and train commands, plus the options changed at each resume
        self.recipe = {"prepare": self._prepare_command(), "train": train_command(self.hp), "changes": []}
        if resume is None and hp["init_from"]:
            self.recipe["parent"] = parent
        if resume is not None:
            self.recipe = {**self.recipe, **(resume.get("recipe") or {})}
            self.recipe["changes"] = list(self.recipe.get("changes", []))
            if hp["init_from"] and "parent" not in self.recipe:  # a run started before parents were recorded
                self.recipe["parent"] = lineage(_weights_source(hp["init_from"])[1])
            self.epoch, self.step = resume.get("epoch", 0), resume.get("step", 0)
            self.time_spent = resume.get("time_spent", 0.0)
            self.history, self.best = list(resume.get("history", [])), resume.get("best")
            self.partial = resume.get("partial")
            if resume.get("optimizer") and resume.get("hparams", {}).get("optimizer") == hp["optimizer"]:
                self.opt.load_state_dict(resume["optimizer"])
                for g in self.opt.param_groups:  # the saved groups carry the old value: --weight-decay wins
                    g["weight_decay"] = wd
            elif resume.get("optimizer"):
                log(f"note: optimizer changed to {hp['optimizer']}; its state starts fresh")
            if self.scaler is not None and resume.get("scaler"):
                self.scaler.load_state_dict(resume["scaler"])
            if resume.get("rng"):
                _set_rng_state(resume["rng"])
        # --ema: an exponential moving average of the weights, validated, kept for checkpoint.best and exported
        self.ema = None
        if hp["ema"]:
            self.ema = build_model(**cfg).to(self.device).eval()
            src = (resume or {}).get("ema_state_dict") or self.model.state_dict()
            self.ema.load_state_dict(src)
            for p in self.ema.parameters():
                p.requires_grad_(False)

        self.loader = make_loader(self.pf, hp["loader"], hp["batch_size"], hp["seed"], self.device,
                                  hp["workers"], rank=dist.rank, world=dist.world_size)
        self.global_batch = hp["batch_size"] * dist.world_size
        if not dist.is_main:  # only rank 0 validates
            self.val, self.val_source = [], None
        elif hp["val_set"]:
            self.val = load_val_set(hp["val_set"], hp["data_root"], self.pf.scales, self.pf.channels,
                                    self.input_kind)
            self.val_source = f"--val-set {hp['val_set']}"
        else:
            self.val = load_val(self.pf)
            self.val_source = f"{self.pf.name}:/val"
        # stop_signal: the decision to stop (in a distributed run taken by all ranks together from the
        # local_signal each rank's handler records)
        self.stop_signal, self.local_signal, self.pid = None, None, os.getpid()
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    # ------------------------------------------------------------------ model
    def _new_model(self) -> SRModel:
        """build_model(--model, channels and (LR-input models) scale from the data, SRCNN's --filters
        --n1 --n2 --padding, --model-arg ...), before initialisation."""
        hp, pf, name = self.hp, self.pf, self.hp["model"]
        if name not in model_names():
            raise SRCNNError(f"unknown --model {name!r}; known: {', '.join(model_names())}")
        try:
            args = parse_model_args(hp["model_arg"])
        except ValueError as e:
            raise SRCNNError(str(e)) from None
        for k in DATA_KWARGS:
            if k in args:
                raise SRCNNError(f"--model-arg {k}: set by the training data ({pf.name}: channels {pf.mode!r}, "
                                 f"scale {pf.scale}); leave it out")
        if name == "srcnn":
            flags = {"f1": "--filters", "f2": "--filters", "f3": "--filters", "n1": "--n1", "n2": "--n2",
                     "padding": "--padding"}
            for k in args:
                if k in flags:
                    raise SRCNNError(f"--model-arg {k}: use {flags[k]} for --model srcnn")
            f1, f2, f3 = parse_filters(hp["filters"])
            kwargs = dict(f1=f1, f2=f2, f3=f3, n1=hp["n1"], n2=hp["n2"], padding=hp["padding"])
        else:
            given = [k for k in SRCNN_OPTIONS if hp[k] is not None and hp[k] != DEFAULTS[k]]
            if given:
                raise SRCNNError(f"--{given[0]} is an option of --model srcnn; {name} takes its settings as "
                                 f"--model-arg KEY=VALUE")
            kwargs = {}
        kwargs.update(args, channels=pf.channels)
        try:
            lr_input = model_input_kind(name, **args) == "lr"
        except ValueError as e:
            raise SRCNNError(str(e)) from None
        if lr_input:  # the model upsamples by the data's (single) scale
            if len(pf.scales) > 1:
                raise SRCNNError(f"{pf.name}: has scales {pf.scales}, but {name} takes the LR image of one "
                                 f"scale; prepare one file per scale (prepare_data.py --model {name} --scale S)")
            kwargs["scale"] = pf.scales[0]
        try:
            return build_model(name, **kwargs)
        except (TypeError, ValueError) as e:
            raise SRCNNError(f"--model {name}: {e} (check --model-arg)") from None

    def _numeric_path(self, resume: dict | None) -> NumericPath:
        """srcnn.precision.choose for --precision/--amp/--channels-last, probing on a random batch of the
        real shapes; a resumed run keeps the path it recorded unless those options changed."""
        hp = self.hp
        rec = (resume or {}).get("numeric")
        old = (resume or {}).get("hparams", {})
        same = all(old.get(k, DEFAULTS[k]) == hp[k] for k in ("precision", "amp", "channels_last"))
        if rec and same and self.device.type == "cpu" and rec.get("name") in ("fp32", "fp32-cl", "bf16-cl"):
            return named_path(rec["name"], probe=dict(rec.get("probe_samples_per_s") or {}),
                              reason="as recorded in the checkpoint")
        c, lab = self.pf.channels, self.pf.label_size
        g = torch.Generator().manual_seed(0)
        x = torch.rand(hp["batch_size"], c, self.in_size, self.in_size, generator=g)
        y = torch.rand(hp["batch_size"], c, lab, lab, generator=g)
        try:
            path = choose_numeric(hp["precision"], self.device, self.model, x, y, amp=hp["amp"],
                                  channels_last=hp["channels_last"])
        except ValueError as e:
            raise SRCNNError(str(e)) from None
        if self.dist.enabled:  # every rank runs rank 0's choice (probes can differ; DDP needs one layout)
            pick = torch.tensor([NUMERIC_PATHS.index(path.name) if self.dist.is_main else 0], device=self.device)
            name = NUMERIC_PATHS[int(self.dist.all_sum(pick).item())]
            if name != path.name:
                path = named_path(name, scaler=path.scaler, probe=path.probe, reason="rank 0's choice")
        return path

    def _check_input_kind(self) -> str:
        """The data's input kind ("upscaled" | "lr"; files without the attribute are "upscaled"); an
        SRCNNError with the prepare_data.py command to run when the model takes the other kind."""
        pf, m = self.pf, self.model
        data_kind = getattr(pf, "input", "upscaled")
        if data_kind == m.input_kind:
            return data_kind
        what = {"upscaled": "bicubic-upscaled input", "lr": "LR input"}
        takes = {"upscaled": "the bicubic-upscaled image", "lr": "the LR image"}
        raise SRCNNError(f"{pf.name} was prepared for {what[data_kind]}; {m.name} takes {takes[m.input_kind]}: "
                         f"run {_prepare_for(pf, m.name)}")

    # ------------------------------------------------------------------ checkpoint content
    def state(self) -> dict:
        sd = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "srcnn_version": __version__,
            "model": self.model.config(), "state_dict": sd, "scale": self.pf.scale,
            **({"ema_state_dict": {k: v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()}}
               if self.ema is not None else {}),
            "numeric": self.numeric.record(),
            "channels": self.pf.mode, "epoch": self.epoch, "step": self.step,
            "optimizer": self.opt.state_dict(),
            "scheduler": {"schedule": self.hp["schedule"], "lr_factor": lr_factor(self.epoch, self.hp)},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": _rng_state(), "hparams": dict(self.hp), "data": self.pf.provenance(),
            "history": list(self.history), "best": self.best, "time_spent": self.time_spent,
            "partial": self.partial,
            "recipe": self.recipe,
            "distributed": {"world_size": self.dist.world_size, "global_batch_size": self.global_batch,
                            "backend": self.dist.backend},
        }

    def _prepare_command(self) -> str:
        """The prepare_data.py command(s) that made the data ("A && B" for several files)."""
        cmds = [str(c) for c in self.pf.attrs.get("commands") or [self.pf.attrs.get("command", "")] if c]
        return " && ".join(c if c.startswith("python") else "python " + c for c in cmds)

    def save(self, name: str, state: dict | None = None) -> Path:
        """Write a checkpoint (rank 0 only; the path is returned on every rank)."""
        if not self.dist.is_main:
            return self.out_dir / name
        if getattr(self, "_previous", None):  # the first checkpoint of a new run: the old one goes aside
            self._move_previous_run()
        return save_checkpoint(state or self.state(), self.out_dir / name)

    # ------------------------------------------------------------------ signals
    def _on_signal(self, signum, frame):
        if os.getpid() != self.pid:  # a forked DataLoader worker: the main process handles it
            return
        if self.stop_signal is not None or self.local_signal is not None:  # second: stop now, no saving
            raise KeyboardInterrupt
        self.request_stop(signum)
        self.log(f"\n{signal.Signals(signum).name}: stopping after this batch and saving a checkpoint "
                 "(send it again to quit without saving)")

    def request_stop(self, signum=signal.SIGINT) -> None:
        """Ask the loop to stop after the current batch, as a signal would (distributed: every rank
        stops at the same step, the next time the ranks compare notes)."""
        if self.dist.enabled:
            self.local_signal = signum
        else:
            self.stop_signal = signum

    def _sync_stop(self, n_local: int = 0) -> int:
        """Distributed: agree on stopping (sets stop_signal on every rank when any rank got a signal);
        returns the samples of this step over all ranks. Single process: returns n_local."""
        if not self.dist.enabled:
            return n_local
        n, sig = self.dist.sync_step(n_local, self.local_signal)
        if sig is not None and self.stop_signal is None:
            self.stop_signal = sig
        return n

    # ------------------------------------------------------------------ training
    def _lr(self, epoch: int) -> float:
        f = lr_factor(epoch, self.hp)
        for g in self.opt.param_groups:
            g["lr"] = self.hp["lr"] * g["lr_scale"] * f
        return self.hp["lr"] * f

    def _train_step(self, x: torch.Tensor, y: torch.Tensor, n_global: int | None = None) -> torch.Tensor:
        """One optimiser step on this process's batch; returns its mean loss (0 for an empty batch).
        Distributed: ``n_global`` = the step's samples over all ranks. DDP averages the ranks' gradients,
        so each rank's loss is weighted by n_local * world / n_global: the step then follows the mean
        loss over all n_global samples, as one process with the whole global batch would."""
        if self.hp["augment"]:
            k = augment_choice(self.hp["seed"], self.step)
            x, y = dihedral(x, k), dihedral(y, k)
        if self.numeric.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.bfloat16,
                            enabled=self.amp_dtype is not None):
            out = self.net(x)
        if self.crop_out:
            c = self.crop_out
            out = out[..., c:-c, c:-c]
        if self.crop_label:
            c = self.crop_label
            y = y[..., c:-c, c:-c]
        n, world = len(x), self.dist.world_size
        if n == 0:  # a rank out of data while others still have some: a zero gradient, same collectives
            loss = out.float().sum() * 0.0
            objective = loss
        else:
            loss = self.loss_fn(out.float(), y)
            objective = loss if n_global is None or n * world == n_global else loss * (n * world / n_global)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(objective).backward()
            if self.hp["clip"]:
                self.scaler.unscale_(self.opt)  # clip the true gradients
                clip_gradients(self.opt, self.hp["clip"])
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            objective.backward()
            if self.hp["clip"]:
                clip_gradients(self.opt, self.hp["clip"])
            self.opt.step()
        if self.ema is not None:
            ema_update(self.ema, self.model, self.hp["ema"], self.step)
        return loss.detach()

    def _check_finite(self, loss_sum: torch.Tensor, batch: int) -> float:
        """The loss sum over all ranks (collective when distributed, so all ranks stop together)."""
        v = self.dist.all_sum(loss_sum).item() if self.dist.enabled else loss_sum.item()
        if not math.isfinite(v):
            kept = (f"the last good checkpoint is {self.last_good[0]} (epoch {self.last_good[1]})"
                    if self.last_good else "no checkpoint was written")
            raise SRCNNError(f"training loss became {v} in epoch {self.epoch + 1} (batch {batch}); stopped. "
                             f"{kept}. Try a lower --lr (now {self.hp['lr']:g})")
        return v

    def train_epoch(self) -> dict | None:
        """One epoch (or the rest of an interrupted one). Returns its stats, or None when stopped."""
        e, bs = self.epoch, self.global_batch
        lr = self._lr(e)
        self.model.train()
        p = self.partial or {"samples": 0, "loss_sum": 0.0, "time": 0.0}
        done, t_before = p["samples"], p["time"]
        # per-rank sum of loss x samples; rank 0 carries the interrupted epoch's part (summed over ranks)
        loss_sum = torch.tensor(p["loss_sum"] if self.dist.is_main else 0.0, dtype=torch.float64,
                                device=self.device)
        t0, new = time.perf_counter(), 0
        bar = tqdm(total=len(self.loader), initial=math.ceil(done / bs), desc=f"epoch {e + 1}",
                   unit="batch", leave=False, dynamic_ncols=True, disable=None if self.dist.is_main else True)
        i = 0
        batches = self.loader.epoch(e, skip=done)
        try:
            while True:
                batch = next(batches, None)
                if self.dist.enabled:  # every rank takes the same steps; one out of data takes empty ones
                    n = self._sync_stop(0 if batch is None else len(batch[0]))
                    if n == 0:
                        break
                    if batch is None:
                        batch = self._empty_batch()
                elif batch is None:
                    break
                else:
                    n = len(batch[0])
                x, y = batch
                i += 1
                loss = self._train_step(x, y, n)
                loss_sum += loss.double() * len(x)
                done, new, self.step = done + n, new + n, self.step + 1
                bar.update()
                if i % CHECK_EVERY == 0:
                    v = self._check_finite(loss_sum, i)
                    bar.set_postfix(loss=f"{v / done:.3e}", sps=f"{new / (time.perf_counter() - t0):.0f}")
                if self.stop_signal is not None:
                    break
        finally:
            bar.close()
            if hasattr(batches, "close"):
                batches.close()
        self._sync_stop()  # a signal during the last step: all ranks must see it
        total = self._check_finite(loss_sum, i)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        self.time_spent += dt
        if self.stop_signal is not None and done < self.pf.count:
            self.partial = {"samples": done, "loss_sum": total, "time": t_before + dt}
            return None
        return {"loss": total / done, "lr": lr, "time": t_before + dt, "samples_per_s": new / max(dt, 1e-9)}

    def _empty_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        c, p, lab = self.pf.channels, self.in_size, self.pf.label_size
        return (torch.zeros(0, c, p, p, device=self.device), torch.zeros(0, c, lab, lab, device=self.device))

    def validate(self) -> tuple[float | None, float | None]:
        """Mean (PSNR dB, SSIM) of the float32 eval model (the EMA weights with --ema) over the validation
        images and scales (srcnn.engine.validate_model); (None, None) without any."""
        if not self.val:
            return None, None
        self.eval_model.load_state_dict((self.model if self.ema is None else self.ema).state_dict())
        return validate_model(self.eval_model, self.val, self.device)

    def end_epoch(self, stats: dict) -> str:
        t0 = time.perf_counter()
        val_psnr, val_ssim = self.validate()
        dt = time.perf_counter() - t0
        self.time_spent += dt
        self.epoch += 1
        self.partial = None
        entry = {"epoch": self.epoch, "loss": stats["loss"], "val_psnr": val_psnr, "val_ssim": val_ssim,
                 "lr": stats["lr"], "time": stats["time"] + dt, "samples_per_s": stats["samples_per_s"]}
        if self.dist.enabled:
            entry.update(world_size=self.dist.world_size, global_batch_size=self.global_batch)
        self.history.append(entry)
        improved = val_psnr is not None and (self.best is None or val_psnr > self.best["val_psnr"])
        if improved:
            self.best = {"epoch": self.epoch, "val_psnr": val_psnr}
        t0 = time.perf_counter()
        state = self.state() if self.dist.is_main else None
        if improved:
            self.save("checkpoint.best", state)
        if self.epoch % self.hp["save_freq"] == 0:
            self.save(f"checkpoint.{self.epoch}", state)
        self.last_good = (self.save("checkpoint.last", state), self.epoch)
        if self.dist.is_main:
            self.write_log()
        self.time_spent += time.perf_counter() - t0  # (the saved time_spent leaves out its own saving)
        val = f"  val {val_psnr:.3f} dB" if val_psnr is not None else ""
        val += f" / {val_ssim:.4f}" if val_ssim is not None else ""
        return (f"epoch {self.epoch:>4}/{self.hp['num_epoch']}  loss {stats['loss']:.4e}{val}  "
                f"lr {stats['lr']:.2e}  {stats['samples_per_s']:,.0f} samples/s  {entry['time']:.1f} s"
                + ("  *best*" if improved else ""))

    def write_log(self) -> None:
        """log.jsonl (one JSON object per epoch, rewritten from the history) and plot.png."""
        _atomic_text(self.out_dir / "log.jsonl", "".join(json.dumps(h) + "\n" for h in self.history))
        try:
            import matplotlib
        except ImportError:
            return
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        ep = [h["epoch"] for h in self.history]
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(ep, [h["loss"] for h in self.history], color="tab:blue")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"training loss ({self.hp['loss']})", color="tab:blue")
        ax.set_yscale("log")
        val = [(h["epoch"], h["val_psnr"]) for h in self.history if h["val_psnr"] is not None]
        if val:
            ax2 = ax.twinx()
            ax2.plot(*zip(*val), color="tab:red")
            ax2.set_ylabel("validation PSNR (dB)", color="tab:red")
        fig.tight_layout()
        tmp = self.out_dir / f".plot.tmp-{os.getpid()}.png"
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        os.replace(tmp, self.out_dir / "plot.png")

    # ------------------------------------------------------------------ main loop
    def prepare_out_dir(self, fresh: bool) -> None:
        """Create out_dir and lock it for this run (srcnn.locks: a second training into it is refused,
        naming the running pid; the lock of a killed run is taken over); remove stale temporary files;
        for a new run, note an old run's files, which save() moves aside with the first checkpoint
        (a run that fails before it leaves them where they are). Rank 0 only."""
        self._previous = []
        if not self.dist.is_main:
            return
        make_folder(self.out_dir, "--out-dir")
        self._run_lock = lock_folder(self.out_dir, "training", name=".lock", remove=True)
        for tmp in self.out_dir.glob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)
        if not fresh:
            return
        self._previous = sorted(p for p in self.out_dir.iterdir() if p.is_file() and
                                (p.name.startswith("checkpoint.") or p.name in ("log.jsonl", "plot.png")))
        if self._previous:
            self.log(f"note: {self.out_dir} holds another run ({len(self._previous)} file(s)); they are moved "
                     "to previous-<time>/ there when this run writes its first checkpoint")

    def _move_previous_run(self) -> None:
        """Move the old run's files (see prepare_out_dir) into a new previous-<time>[-N] folder."""
        old, self._previous = self._previous, []
        stamp = datetime.now().strftime("previous-%Y%m%d-%H%M%S")
        for n in range(1, 1000):  # two runs in the same second: previous-<time>-2, ...
            dest = self.out_dir / (stamp if n == 1 else f"{stamp}-{n}")
            try:
                dest.mkdir()
                break
            except FileExistsError:
                continue
        for p in old:
            os.replace(p, dest / p.name)
        self.log(f"note: {self.out_dir} held another run; moved its {len(old)} file(s) to {dest}")

    def _release_out_dir(self) -> None:
        lock = getattr(self, "_run_lock", None)
        if lock is not None:
            lock.release()
            self._run_lock = None

    def resume_command(self, path: Path) -> str:
        args = ["train.py", "resume", str(path)] + (["--cuda"] if self.hp["cuda"] else [])
        if not self.dist.enabled:
            return shlex.join(["python"] + args)
        lead = ["torchrun", f"--nproc_per_node={self.dist.local_world_size}"]
        if self.dist.nnodes > 1:
            return shlex.join(lead + [f"--nnodes={self.dist.nnodes}"] + args) + \
                " (on every node, with the same rendezvous options as before)"
        return shlex.join(lead + args)

    def run(self, fresh: bool = True) -> int:
        """Train to hp["num_epoch"]; the run folder stays locked until this returns or raises."""
        try:
            return self._run(fresh)
        except OSError as e:  # disk full, quota, I/O error, read-only: one line (every writer of the run)
            if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS):
                raise
            raise SRCNNError(f"{e.filename or self.out_dir}: {e.strerror}; the checkpoints written before "
                             f"are kept (last good: {getattr(self, 'last_good', None) and self.last_good[0] or 'none yet'})") from None
        finally:
            self._release_out_dir()

    def _run(self, fresh: bool) -> int:
        self.prepare_out_dir(fresh)
        self.dist.barrier()
        self.log(f"model   {model_summary(self.model)}, {count_parameters(self.model):,} parameters, on {self.device}"
                 + (f", weights from {self.init_source}" if self.init_source else ""))
        self.log(describe_numeric(self.numeric))
        if self.hp["augment"] or self.ema is not None:
            self.log("extras  " + ", ".join(
                (["on-the-fly flips/rotations (one of 8 per batch)"] if self.hp["augment"] else []) +
                ([f"EMA of the weights (decay {self.hp['ema']:g}): validated and exported"] if self.ema is not None else [])))
        if self.dist.enabled:
            self.log(f"ranks   {self.dist.world_size} processes ({self.dist.nnodes} node(s), {self.dist.backend}), "
                     f"DistributedDataParallel; batch {self.hp['batch_size']} per process = global batch "
                     f"{self.global_batch}; lr {self.hp['lr']:g} (as given, not scaled with the global batch)")
        for note in self.pf.notes:
            self.log(note)
        self.log(f"data    {self.pf.name}: {self.pf.count:,} patches, scale {self.pf.scale}, "
                 f"channels {self.pf.mode}, {self.loader.describe()}")
        self.log(f"val     {len(self.val)} image(s) from {self.val_source}" if self.val else
                 "val     none (no /val group in the data and no --val-set): checkpoint.best is not written")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            self.log("note: matplotlib is not installed, so no plot.png (pip install 'srcnn[plot]')")
        if self.epoch >= self.hp["num_epoch"]:
            self.log(f"nothing to do: already at epoch {self.epoch} of {self.hp['num_epoch']} "
                     "(pass --num-epoch to train longer)")
            return 0
        handlers = {}
        try:
            for s in EXIT_SIGNAL:
                handlers[s] = signal.signal(s, self._on_signal)
        except ValueError:  # not the main thread: no signal handling
            pass
        try:
            while self.epoch < self.hp["num_epoch"]:
                stats = self.train_epoch()
                if stats is None:
                    path = self.save("checkpoint.interrupted")
                    self.dist.barrier()  # no rank exits before the checkpoint is written
                    return self._stopped(path, f"in epoch {self.epoch + 1} after "
                                         f"{self.partial['samples']:,} of {self.pf.count:,} samples")
                self.log(self.end_epoch(stats))
                self.dist.barrier()  # the others wait while rank 0 validates and saves
                self._sync_stop()    # a signal during validation or saving
                if self.stop_signal is not None:
                    return self._stopped(self.out_dir / "checkpoint.last", f"after epoch {self.epoch}")
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
        best = (f"; best val PSNR {self.best['val_psnr']:.3f} dB at epoch {self.best['epoch']} "
                f"({self.out_dir / 'checkpoint.best'})" if self.best else "")
        self.log(f"done: {self.epoch} epochs in {self.time_spent:.1f} s{best}")
        return 0

    def _stopped(self, path: Path, where: str) -> int:
        name = signal.Signals(self.stop_signal).name
        self.log(f"{name}: stopped {where}; saved {path}\nresume with: {self.resume_command(path)}")
        return EXIT_SIGNAL.get(self.stop_signal, 1)
