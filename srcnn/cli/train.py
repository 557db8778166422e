"""train.py: train a model (SRCNN by default; --model picks FSRCNN, ESPCN, VDSR or an SRCNN variant) from a
prepare_data.py HDF5 file, resume a run, or inspect a checkpoint.

    python train.py --data train.h5 --cuda                      # "train" is the default sub-command
    python train.py --model fsrcnn --data fsrcnn_x3.h5 --lr 1e-3   # data from prepare_data.py --model fsrcnn
    python train.py --model srcnn-deep8 --model-arg depth=6 --model-arg act=prelu
    python train.py train --lr=0.001 --batch-size=128 --num-epoch=20 --save-freq=2
    python train.py resume checkpoints/checkpoint.10 --batch-size=16 --num-epoch=200
    python train.py inspect checkpoints/checkpoint.best
    python train.py export checkpoints/checkpoint.best srcnn_x3.pt   # weights + provenance, no optimizer
    python train.py export checkpoints/checkpoint.best srcnn_x3.onnx # ONNX (or .ts TorchScript) + metadata
    torchrun --nproc_per_node=4 train.py --data 'shards/train-*.h5' --cuda   # 4 GPUs, DDP (srcnn.distributed)

Here: the options (argparse, straight into a srcnn.config.TrainConfig), the train and resume commands,
``build_trainer`` (TrainConfig -> srcnn.engine.Trainer: the data, the model on its device, its numeric
path, the validation images) and the command lines a run records or prints (its recipe, "resume with:
..."). The model from the options is srcnn.cli.train_model; inspect and export are srcnn.cli.train_inspect.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint
from .. import distributed
from ..config import CHOICES, DEFAULTS, SRCNN_OPTIONS, TrainConfig, srcnn_only, stored_hparams
from ..data import expand_data, open_patches, read_val, same_data
from ..distributed import SINGLE, Dist
from ..engine import Trainer
from ..errors import SRCNNError
from ..evaluation import load_val_set, validation_items
from ..models import model_names
from ..precision import NUMERIC_PATHS, NumericPath, choose, named_path
from .common import check_workers, nonempty, number, run
from .train_model import check_fits_data, lineage, new_model, parse_filters, parse_model_args, resumed_model, \
    weights_source
from .train_inspect import cmd_export, cmd_inspect, fmt_value, onnx_opset, onnx_opsets

RUN_OPTIONS = ("cuda", "loader", "workers")                 # per invocation, not taken from a checkpoint
FIXED_OPTIONS = ("model", "model_arg", *SRCNN_OPTIONS, "init", "init_from")  # cannot change once a model exists


def _positive(kind):
    return number(kind, 0, lo_open=True)  # finite: "inf" and "nan" are refused (srcnn.cli.common.number)


_nonnegative_float = number(float, 0)
_ema_decay = number(float, 0, 1, hi_open=True, unit="(e.g. 0.999; 0 = off)")


def _model_arg(text):
    try:
        parse_model_args([text])
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _filters(text):
    try:
        parse_filters(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


# (flags, dest, argparse keywords, help). Defaults come from srcnn.config.DEFAULTS.
OPTIONS = [
    (["--data"], "data", dict(metavar="FILE", nargs="+", type=nonempty),
     "training HDF5 made by prepare_data.py; several files or a quoted glob ('shards/train-*.h5') are "
     "read as one dataset"),
    (["--out-dir"], "out_dir", dict(metavar="DIR", type=nonempty),
     "folder for checkpoint.<epoch>, checkpoint.best, checkpoint.last, log.jsonl, plot.png"),
    (["--cuda"], "cuda", dict(action="store_true"), "train on the CUDA GPU (an error if there is none)"),
    (["--precision"], "precision", dict(choices=CHOICES["precision"]),
     "numeric path of the training step (validation and export stay float32). auto: on the CPU, float32 "
     "or bfloat16 autocast with channels-last where the CPU has native bfloat16 (AMX / AVX-512 BF16), in "
     "the memory layout a short probe at start-up measures fastest; on CUDA bfloat16 autocast (float16 "
     "with gradient scaling where bfloat16 is not supported). The choice and probe speeds are printed "
     "and recorded in the checkpoint"),
    (["--amp"], "amp", dict(action=argparse.BooleanOptionalAction),
     "alias of --precision bf16 on the CPU, --precision fp16 on CUDA"),
    (["--channels-last"], "channels_last", dict(action=argparse.BooleanOptionalAction),
     "force the channels-last memory format (otherwise --precision picks the layout)"),
    (["--init-from"], "init_from", dict(metavar="WEIGHTS", type=nonempty),
     "start from these weights with a fresh optimizer (fine-tuning, warm restarts): a bundled name "
     "(srcnn_x3, fsrcnn_x3, espcn_x4 ...), an exported .pt, a checkpoint or the authors' .mat; the "
     "architecture, channels and scale must match"),
    (["--augment"], "augment", dict(action=argparse.BooleanOptionalAction),
     "random flips/90-degree rotations on the fly, one of 8 per batch (input and label together)"),
    (["--ema"], "ema", dict(type=_ema_decay, metavar="DECAY"),
     "keep an exponential moving average of the weights (e.g. 0.999; 0 = off): it is validated, picks "
     "checkpoint.best and is what export writes; the raw weights stay in the checkpoint for resume"),
    (["--lr"], "lr", dict(type=_positive(float)),
     "learning rate of Adam (or SGD)"),
    (["--last-layer-lr"], "last_layer_lr", dict(type=_positive(float), metavar="FACTOR"),
     "the last layer learns at lr x FACTOR (SRCNN's paper: 0.1)"),
    (["--batch-size"], "batch_size", dict(type=_positive(int)),
     "patches per step and process (under torchrun the global batch is this x the number of processes)"),
    (["--num-epoch"], "num_epoch", dict(type=_positive(int)), "total epochs (one epoch = every patch once)"),
    (["--save-freq"], "save_freq", dict(type=_positive(int)), "write checkpoint.<epoch> every N epochs"),
    (["--optimizer"], "optimizer", dict(choices=CHOICES["optimizer"]), "Adam, or the paper's SGD (momentum 0.9)"),
    (["--loss"], "loss", dict(choices=CHOICES["loss"]),
     "per-pixel loss, mean over pixels and batch (charbonnier: sqrt(d^2 + 1e-6), a smooth L1)"),
    (["--clip"], "clip", dict(type=_nonnegative_float, metavar="THETA"),
     "VDSR's adjustable gradient clipping: each gradient element clipped to [-THETA/lr, THETA/lr] with "
     "the current lr; 0 = off"),
    (["--weight-decay"], "weight_decay", dict(type=_nonnegative_float, metavar="W"),
     "L2 weight decay of the optimizer (VDSR: 1e-4)"),
    (["--schedule"], "schedule", dict(choices=CHOICES["schedule"]), "learning-rate schedule"),
    (["--lr-step"], "lr_step", dict(type=_positive(int), metavar="EPOCHS"),
     "step schedule: multiply the lr by --lr-gamma every this many epochs"),
    (["--lr-gamma"], "lr_gamma", dict(type=_positive(float)), "step schedule factor"),
    (["--init"], "init", dict(choices=CHOICES["init"]),
     "the model's paper initialisation (SRCNN: weights ~ N(0, 0.001), zero biases), or PyTorch's default"),
    (["--seed"], "seed", dict(type=int), "seed of the initialisation and of the sample order"),
    (["--model"], "model", dict(choices=model_names(), metavar="NAME"),
     f"architecture: {', '.join(model_names())}; the data must be prepared for it (prepare_data.py --model)"),
    (["--model-arg"], "model_arg", dict(action="append", type=_model_arg, metavar="KEY=VALUE"),
     "a constructor argument of --model, repeatable (e.g. --model-arg depth=8 --model-arg act=prelu); "
     "values are read as int, float, true/false, else text; channels and scale come from the data"),
    (["--filters"], "filters", dict(type=_filters, metavar="F1-F2-F3"),
     "--model srcnn: filter sizes, e.g. 9-5-5, 9-1-5, 9-3-5, 11-1-7"),
    (["--n1"], "n1", dict(type=_positive(int)), "--model srcnn: feature maps of layer 1"),
    (["--n2"], "n2", dict(type=_positive(int)), "--model srcnn: feature maps of layer 2"),
    (["--padding"], "padding", dict(choices=CHOICES["padding"]),
     "--model srcnn: training padding: none = the paper (output smaller, labels centre-cropped)"),
    (["--val-set"], "val_set", dict(metavar="NAME", type=nonempty),
     "validate on this image set from the datasets root instead of the HDF5 /val images"),
    (["--data-root"], "data_root", dict(metavar="DIR", type=nonempty), "datasets root for --val-set (default $SRCNN_DATA or ./datasets)"),
    (["--loader"], "loader", dict(choices=CHOICES["loader"]),
     "memory: load /train once (onto the GPU with --cuda); stream: bounded-memory reading; "
     "auto: memory up to 2 GiB"),
    (["--workers"], "workers", dict(type=number(int, 0)),
     "reader processes for --loader stream, at most the number of CPUs (0: read in the training process)"),
]


def add_options(p: argparse.ArgumentParser, resume: bool) -> None:
    for flags, dest, kw, text in OPTIONS:
        kw = dict(kw)
        if resume:
            kw["default"] = argparse.SUPPRESS
            if dest not in RUN_OPTIONS:
                text += " (default: the checkpoint's)"
        elif dest in SRCNN_OPTIONS:  # None: "not given", so that cmd_train can tell (srcnn only)
            kw["default"] = None
            text += f" (default: {DEFAULTS[dest]})"
        elif dest == "model_arg":
            kw["default"] = []
        else:
            kw["default"] = DEFAULTS[dest]
            if kw.get("action") != "store_true" and DEFAULTS[dest] is not None:
                text += " (default: %(default)s)"
        p.add_argument(*flags, dest=dest, help=text, **kw)


def build_parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="train.py", description="Train SRCNN (or FSRCNN, ESPCN, VDSR, an SRCNN variant: --model) on a "
                                     "prepare_data.py HDF5 file (CPU or CUDA).",
        epilog="'train' is the default: 'python train.py --data train.h5' = 'python train.py train --data "
               "train.h5'. See 'python train.py train --help' for the training options.")
    sub = top.add_subparsers(dest="command", required=True, metavar="{train,resume,inspect,export}")
    p = sub.add_parser("train", help="train a new model (the default)",
                       description="Train a new model (--model, default srcnn). Checkpoints go to --out-dir; "
                                   "Ctrl-C saves a resumable checkpoint.")
    add_options(p, resume=False)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("resume", help="continue a run from a checkpoint, optionally changing options",
                       description="Continue training from a checkpoint with everything it saved (model, "
                                   "optimizer, schedule, epoch, RNG, options, data file). Options given here "
                                   "override the saved ones and are listed. --cuda, --loader and --workers "
                                   "are per run; --out-dir defaults to the checkpoint's folder.")
    p.add_argument("checkpoint", type=nonempty, help="checkpoint.<epoch>, checkpoint.last, checkpoint.interrupted ...")
    add_options(p, resume=True)
    p.set_defaults(func=cmd_resume)
    p = sub.add_parser("inspect", help="print what a checkpoint holds (no GPU needed)",
                       description="Print architecture, parameters, scale, channels, epoch, options, "
                                   "training data, loss/PSNR history, time spent and the recipe.")
    p.add_argument("checkpoint", type=nonempty, help="a train.py checkpoint (or the authors' .mat weights)")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("export", help="write a small weights file (.pt), ONNX (.onnx) or TorchScript (.ts)",
                       description="pt (.pt/.pth): copy a checkpoint without its training state (optimizer, RNG, "
                                   "schedule): weights, architecture, scale, channels, options, data provenance, "
                                   "history and recipe stay, so 'inspect' still shows how it was made. The "
                                   "bundled srcnn/weights/*.pt files are made this way. It cannot be resumed. "
                                   "onnx (.onnx, opset %d, needs the onnx package) / torchscript (.ts): the "
                                   "network for other runtimes: input and output (N,C,H,W) float32 in [0,1], "
                                   "dynamic N, H, W; the input is the bicubic-upscaled image for an upscaled-input "
                                   "model (SRCNN, VDSR), the LR image for an LR-input model (FSRCNN, ESPCN); "
                                   "input kind, scale, channels and colour convention are stored as metadata "
                                   "(ONNX metadata_props srcnn.*) and printed. The export is run once and "
                                   "compared with PyTorch; a model the exporter cannot express is an error, "
                                   "never a broken file." % onnx_opset(),
                       epilog="examples:\n  python train.py export checkpoints/checkpoint.best srcnn_x3.pt\n"
                              "  python train.py export srcnn/weights/fsrcnn_x3.pt fsrcnn_x3.onnx\n"
                              "  python train.py export --format torchscript checkpoint.best model.jit",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=nonempty, help="a train.py checkpoint (e.g. checkpoints/checkpoint.best), an exported "
                                      ".pt or the authors' .mat (onnx/torchscript only)")
    p.add_argument("output", type=nonempty,
                   help="the file to write (atomically: a temporary name, then renamed); an existing file is "
                        "refused without --overwrite, and so is the folder of a running training")
    p.add_argument("--format", choices=("onnx", "torchscript", "pt"),
                   help="output format (default: from the output's suffix: .onnx = onnx, .ts/.torchscript = "
                        "torchscript, anything else = pt)")
    p.add_argument("--opset", type=number(int, *onnx_opsets()), default=None, metavar="N",
                   help="ONNX opset, %d to %d (default %d)" % (*onnx_opsets(), onnx_opset()))
    p.add_argument("--overwrite", action="store_true",
                   help="replace the output if it exists (never the checkpoint exported from, nor a file in "
                        "the folder of a running training)")
    p.set_defaults(func=cmd_export)
    return top


def _data_value(v):
    """--data as stored in hparams: a string for one file or pattern (as before), a list for several."""
    return v[0] if isinstance(v, list) and len(v) == 1 else v


# ---------------------------------------------------------------------------------------------- the run
def build_trainer(cfg: TrainConfig, resume: dict | None = None, resume_path=None, dist: Dist = SINGLE,
                  **kw) -> Trainer:
    """The Trainer of the options ``cfg``: the data opened, the model built and initialised from the
    options (``new_model``) or from the checkpoint ``resume`` read from ``resume_path`` (whose run it then
    continues), checked against the data, on its device (srcnn.distributed.Dist.device) with its
    ``numeric_path``, the ``validation`` images and the recipe; ``kw``: Trainer's (log)."""
    pf = open_patches(cfg.data)
    if resume is None:
        model, parent = new_model(cfg, pf)
    else:
        model, parent = resumed_model(resume, resume_path, cfg, pf), None
    check_fits_data(pf, model)
    model.to(dist.device(cfg.cuda))
    numeric = numeric_path(cfg, model, pf, resume, dist)
    val, val_source = validation(cfg, pf, model.input_kind, dist)
    return Trainer(cfg, model, pf, numeric, val, val_source=val_source, resume=resume, resume_path=resume_path,
                   recipe=recipe(cfg, pf, resume, parent),
                   resume_command=lambda path: resume_command(path, cfg.cuda, dist), dist=dist, **kw)


def numeric_path(cfg: TrainConfig, model, pf, resume: dict | None, dist: Dist = SINGLE) -> NumericPath:
    """srcnn.precision.choose for --precision/--amp/--channels-last, probing ``model`` (on its device) on a
    random batch of the data's shapes; a resumed run on the CPU keeps the path its checkpoint ``resume``
    recorded unless those options changed. Distributed, every rank takes rank 0's choice (the probes can
    differ; DDP needs one layout)."""
    device = next(model.parameters()).device
    rec = (resume or {}).get("numeric")
    old = stored_hparams((resume or {}).get("hparams", {}))
    same = all(old[k] == getattr(cfg, k) for k in ("precision", "amp", "channels_last"))
    if rec and same and device.type == "cpu" and rec.get("name") in ("fp32", "fp32-cl", "bf16-cl"):
        return named_path(rec["name"], probe=dict(rec.get("probe_samples_per_s") or {}),
                          reason="as recorded in the checkpoint")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(cfg.batch_size, pf.channels, pf.input_size, pf.input_size, generator=g)
    y = torch.rand(cfg.batch_size, pf.channels, pf.label_size, pf.label_size, generator=g)
    try:
        path = choose(cfg.precision, device, model, x, y, amp=cfg.amp, channels_last=cfg.channels_last)
    except ValueError as e:
        raise SRCNNError(str(e)) from None
    if dist.enabled:
        pick = torch.tensor([NUMERIC_PATHS.index(path.name) if dist.is_main else 0], device=device)
        name = NUMERIC_PATHS[int(dist.all_sum(pick).item())]
        if name != path.name:
            path = named_path(name, scaler=path.scaler, probe=path.probe, reason="rank 0's choice")
    return path


def validation(cfg: TrainConfig, pf, input_kind: str, dist: Dist = SINGLE) -> tuple[list, str | None]:
    """(items, source) of the run's validation (srcnn.evaluation.validation_item, for a model taking
    ``input_kind``): --val-set's images from the datasets root, else the data's /val images; none on ranks
    other than 0, which do not validate."""
    if not dist.is_main:
        return [], None
    if cfg.val_set:
        return (load_val_set(cfg.val_set, cfg.data_root, pf.scales, pf.channels, input_kind),
                f"--val-set {cfg.val_set}")
    return validation_items(read_val(pf)), f"{pf.name}:/val"


# ---------------------------------------------------------------------------------------------- command lines
def recipe(cfg: TrainConfig, pf, resume: dict | None, parent: dict | None) -> dict:
    """How to reproduce the run (saved in its checkpoints): the prepare and train commands, the options
    changed at each resume, and the --init-from weights' lineage ("parent"); a resumed run keeps its own."""
    r = {"prepare": prepare_command(pf), "train": train_command(cfg), "changes": []}
    if resume is None:
        if parent is not None:
            r["parent"] = parent
        return r
    r = {**r, **(resume.get("recipe") or {})}
    r["changes"] = list(r.get("changes", []))
    if cfg.init_from and "parent" not in r:  # a run started before parents were recorded
        r["parent"] = lineage(weights_source(cfg.init_from)[1])
    return r


def train_command(cfg: TrainConfig) -> str:
    """The full ``python train.py train ...`` command line that reproduces ``cfg``."""
    args = ["python", "train.py", "train"]
    for k, v in cfg.as_dict().items():
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


def prepare_command(pf) -> str:
    """The prepare_data.py command(s) that made the data ("A && B" for several files)."""
    cmds = [str(c) for c in pf.attrs.get("commands") or [pf.attrs.get("command", "")] if c]
    return " && ".join(c if c.startswith("python") else "python " + c for c in cmds)


def resume_command(path: Path, cuda: bool, dist: Dist = SINGLE) -> str:
    """The command line that continues a run from the checkpoint ``path`` (torchrun for a distributed run)."""
    args = ["train.py", "resume", str(path)] + (["--cuda"] if cuda else [])
    if not dist.enabled:
        return shlex.join(["python"] + args)
    lead = ["torchrun", f"--nproc_per_node={dist.local_world_size}"]
    if dist.nnodes > 1:
        return shlex.join(lead + [f"--nnodes={dist.nnodes}"] + args) + \
            " (on every node, with the same rendezvous options as before)"
    return shlex.join(lead + args)


# ---------------------------------------------------------------------------------------------- commands
def _run(cfg: TrainConfig, fresh: bool, resume=None, path=None, changes=()) -> int:
    """Train in this process, or as one rank of a torchrun job when WORLD_SIZE > 1."""
    check_workers(cfg.workers, DEFAULTS["workers"])
    d = distributed.from_env(cfg.cuda)
    try:
        trainer = build_trainer(cfg, resume, path, dist=d)
        if changes:
            trainer.recipe["changes"].append(f"resumed at epoch {resume['epoch']} with " + ", ".join(changes))
        return trainer.run(fresh=fresh)
    finally:
        d.close()


def _is_main() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) <= 1 or os.environ.get("RANK", "0") == "0"


def cmd_train(ns) -> int:
    # the SRCNN options are None unless given (TrainConfig: srcnn's defaults, an error for another model)
    cfg = TrainConfig(**{k: getattr(ns, k) for k in DEFAULTS if k != "data"}, data=_data_value(ns.data))
    return _run(cfg, fresh=True)


def cmd_resume(ns) -> int:
    path = Path(ns.checkpoint)
    ckpt = load_checkpoint(path)
    if "hparams" not in ckpt or "data" not in ckpt or "optimizer" not in ckpt:
        raise SRCNNError(f"{path}: holds weights but no training state, so it cannot be resumed")
    given = {k: v for k, v in vars(ns).items() if k in DEFAULTS}
    if "data" in given:
        given["data"] = _data_value(given["data"])
    cfg, changes = _resumed_config(path, ckpt, given)
    if "data" not in given and not all(p.is_file() for p in expand_data(cfg.data)):
        raise SRCNNError(f"{path}: its training data {cfg.data} is gone; pass --data FILE "
                         "(the file's fingerprint is checked)")
    pf = open_patches(cfg.data)
    if pf.fingerprint != ckpt["data"]["fingerprint"]:
        if "data" not in given:
            raise SRCNNError(f"{pf.path}: the data file changed since {path} was written (fingerprint "
                             f"{ckpt['data']['fingerprint'][:12]}..., now {pf.fingerprint[:12]}...); pass "
                             f"--data FILE to continue on different data on purpose")
        changes.append(f"data fingerprint {ckpt['data']['fingerprint'][:12]}... -> {pf.fingerprint[:12]}...")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    before_world = (ckpt.get("distributed") or {}).get("world_size", 1)
    if world != before_world:
        changes.append(f"processes {before_world} -> {world} (global batch {cfg.batch_size * before_world} "
                       f"-> {cfg.batch_size * world})")
    part = ckpt.get("partial")
    where = (f", {part['samples']:,} samples into epoch {ckpt['epoch'] + 1}" if part else "")
    if _is_main():
        print(f"resuming {path}: epoch {ckpt['epoch']} of {cfg.num_epoch}{where}, step {ckpt.get('step', 0)}")
        print("overridden: " + ", ".join(changes) if changes else "overridden: nothing (same options)")
    return _run(cfg, fresh=False, resume=ckpt, path=path, changes=changes)


def _resumed_config(path: Path, ckpt: dict, given: dict) -> tuple[TrainConfig, list[str]]:
    """The options of the checkpoint ``ckpt`` (its data, its folder as --out-dir) with those ``given`` on
    the command line (RUN_OPTIONS: as given, else their defaults), and the changes ("lr 0.001 -> 0.01");
    SRCNNError for an option of a model that cannot change, or an SRCNN option for another model."""
    old = TrainConfig.from_dict(stored_hparams(ckpt["hparams"]))
    old = replace(old, data=ckpt["data"]["path"], out_dir=str(path.parent),
                              **{k: given.get(k, DEFAULTS[k]) for k in RUN_OPTIONS})
    srcnn_only(old.model, given)
    new, changes = {}, []
    for k, v in given.items():
        before = getattr(old, k)
        if k in RUN_OPTIONS or (same_data(v, before) if k == "data" else Path(v).resolve() == Path(before).resolve()
                                if k == "out_dir" else v == before):
            continue
        if k in FIXED_OPTIONS:
            raise SRCNNError(f"{path}: --{k.replace('_', '-')} cannot change on resume (checkpoint: "
                             f"{fmt_value(before)}, given: {fmt_value(v)}); start a new run with 'python train.py train' instead")
        new[k] = v
        changes.append(f"{k} {before} -> {v}")
    return replace(old, **new), changes


def main(argv=None) -> int:
    """Run train.py with ``argv`` (default sys.argv[1:]); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "train")
    ns = build_parser().parse_args(argv)
    return run(lambda: ns.func(ns), "interrupted; nothing saved (checkpoints written before are intact)",
               prefix="" if _is_main() else f"[rank {os.environ.get('RANK')}] ")


if __name__ == "__main__":
    sys.exit(main())
