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
"""
from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

from ..checkpoint import TRAINING_STATE, build_from_checkpoint, load_checkpoint, load_model, save_checkpoint
from .. import distributed
from ..data import expand_data, open_patches, same_data
from ..engine import (DEFAULTS, FIXED_OPTIONS, RUN_OPTIONS, SRCNN_OPTIONS, Trainer, model_summary,
                      parse_filters, parse_model_args)
from ..errors import SRCNNError
from ..models import count_parameters, macs_per_pixel, model_names
from . import number


def _positive(kind):
    return number(kind, 0, lo_open=True)  # finite: "inf" and "nan" are refused (srcnn.cli.number)


_nonnegative_int = number(int, 0)
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


# (flags, dest, argparse keywords, help). Defaults come from srcnn.engine.DEFAULTS.
OPTIONS = [
    (["--data"], "data", dict(metavar="FILE", nargs="+"),
     "training HDF5 made by prepare_data.py; several files or a quoted glob ('shards/train-*.h5') are "
     "read as one dataset"),
    (["--out-dir"], "out_dir", dict(metavar="DIR"),
     "folder for checkpoint.<epoch>, checkpoint.best, checkpoint.last, log.jsonl, plot.png"),
    (["--cuda"], "cuda", dict(action="store_true"), "train on the CUDA GPU (an error if there is none)"),
    (["--precision"], "precision", dict(choices=["auto", "fp32", "bf16", "fp16"]),
     "numeric path of the training step (validation and export stay float32). auto: on the CPU, float32 "
     "or bfloat16 autocast with channels-last where the CPU has native bfloat16 (AMX / AVX-512 BF16), in "
     "the memory layout a short probe at start-up measures fastest; on CUDA bfloat16 autocast (float16 "
     "with gradient scaling where bfloat16 is not supported). The choice and probe speeds are printed "
     "and recorded in the checkpoint"),
    (["--amp"], "amp", dict(action=argparse.BooleanOptionalAction),
     "alias of --precision bf16 on the CPU, --precision fp16 on CUDA"),
    (["--channels-last"], "channels_last", dict(action=argparse.BooleanOptionalAction),
     "force the channels-last memory format (otherwise --precision picks the layout)"),
    (["--init-from"], "init_from", dict(metavar="WEIGHTS"),
     "start from these weights with a fresh optimizer (fine-tuning, warm restarts): a bundled name "
     "(srcnn_x3, fsrcnn_x3, vdsr_x2-3-4 ...), an exported .pt, a checkpoint or the authors' .mat; the "
     "architecture, channels and scale must match"),
    (["--augment"], "augment", dict(action=argparse.BooleanOptionalAction),
     "random flips/90-degree rotations on the fly, one of 8 per batch (input and label together)"),
    (["--ema"], "ema", dict(type=_ema_decay, metavar="DECAY"),
     "keep an exponential moving average of the weights (e.g. 0.999; 0 = off): it is validated, picks "
     "checkpoint.best and is what export writes; the raw weights stay in the checkpoint for resume"),
    (["--lr"], "lr", dict(type=_positive(float)),
     "learning rate (SRCNN's last layer: lr/10, as the paper; other models: lr everywhere)"),
    (["--batch-size"], "batch_size", dict(type=_positive(int)),
     "patches per step and process (under torchrun the global batch is this x the number of processes)"),
    (["--num-epoch"], "num_epoch", dict(type=_positive(int)), "total epochs (one epoch = every patch once)"),
    (["--save-freq"], "save_freq", dict(type=_positive(int)), "write checkpoint.<epoch> every N epochs"),
    (["--optimizer"], "optimizer", dict(choices=["adam", "sgd"]), "Adam, or the paper's SGD (momentum 0.9)"),
    (["--loss"], "loss", dict(choices=["mse", "l1", "charbonnier"]),
     "per-pixel loss, mean over pixels and batch (charbonnier: sqrt(d^2 + 1e-6), a smooth L1)"),
    (["--clip"], "clip", dict(type=_nonnegative_float, metavar="THETA"),
     "VDSR's adjustable gradient clipping: each gradient element clipped to [-THETA/lr, THETA/lr] with "
     "the current lr; 0 = off"),
    (["--weight-decay"], "weight_decay", dict(type=_nonnegative_float, metavar="W"),
     "L2 weight decay of the optimizer (VDSR: 1e-4)"),
    (["--schedule"], "schedule", dict(choices=["none", "step", "cosine"]), "learning-rate schedule"),
    (["--lr-step"], "lr_step", dict(type=_positive(int), metavar="EPOCHS"),
     "step schedule: multiply the lr by --lr-gamma every this many epochs"),
    (["--lr-gamma"], "lr_gamma", dict(type=_positive(float)), "step schedule factor"),
    (["--init"], "init", dict(choices=["paper", "default"]),
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
    (["--padding"], "padding", dict(choices=["none", "zeros", "replicate"]),
     "--model srcnn: training padding: none = the paper (output smaller, labels centre-cropped)"),
    (["--val-set"], "val_set", dict(metavar="NAME"),
     "validate on this image set from the datasets root instead of the HDF5 /val images"),
    (["--data-root"], "data_root", dict(metavar="DIR"), "datasets root for --val-set (default $SRCNN_DATA or ./datasets)"),
    (["--loader"], "loader", dict(choices=["auto", "memory", "stream"]),
     "memory: load /train once (onto the GPU with --cuda); stream: bounded-memory reading; "
     "auto: memory up to 2 GiB"),
    (["--workers"], "workers", dict(type=_nonnegative_int), "reader processes for --loader stream"),
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
    p.add_argument("checkpoint", help="checkpoint.<epoch>, checkpoint.last, checkpoint.interrupted ...")
    add_options(p, resume=True)
    p.set_defaults(func=cmd_resume)
    p = sub.add_parser("inspect", help="print what a checkpoint holds (no GPU needed)",
                       description="Print architecture, parameters, scale, channels, epoch, options, "
                                   "training data, loss/PSNR history, time spent and the recipe.")
    p.add_argument("checkpoint", help="a train.py checkpoint (or the authors' .mat weights)")
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
                                   "never a broken file." % _onnx_opset(),
                       epilog="examples:\n  python train.py export checkpoints/checkpoint.best srcnn_x3.pt\n"
                              "  python train.py export srcnn/weights/fsrcnn_x3.pt fsrcnn_x3.onnx\n"
                              "  python train.py export --format torchscript checkpoint.best model.jit",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a train.py checkpoint (e.g. checkpoints/checkpoint.best), an exported "
                                      ".pt or the authors' .mat (onnx/torchscript only)")
    p.add_argument("output", help="the file to write (atomically: a temporary name, then renamed)")
    p.add_argument("--format", choices=("onnx", "torchscript", "pt"),
                   help="output format (default: from the output's suffix: .onnx = onnx, .ts/.torchscript = "
                        "torchscript, anything else = pt)")
    p.add_argument("--opset", type=int, default=None, metavar="N",
                   help="ONNX opset (default %d)" % _onnx_opset())
    p.set_defaults(func=cmd_export)
    return top


def _data_value(v):
    """--data as stored in hparams: a string for one file or pattern (as before), a list for several."""
    return v[0] if isinstance(v, list) and len(v) == 1 else v


def _run(hp: dict, fresh: bool, resume=None, path=None, changes=()) -> int:
    """Train in this process, or as one rank of a torchrun job when WORLD_SIZE > 1."""
    d = distributed.from_env(hp["cuda"])
    try:
        trainer = Trainer(hp, resume=resume, resume_path=path, dist=d)
        if changes:
            trainer.recipe["changes"].append(f"resumed at epoch {resume['epoch']} with " + ", ".join(changes))
        return trainer.run(fresh=fresh)
    finally:
        d.close()


def _is_main() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) <= 1 or os.environ.get("RANK", "0") == "0"


def _srcnn_only(model: str, given) -> None:
    """SRCNNError when an SRCNN option (--filters --n1 --n2 --padding) is given with another model."""
    flags = [f"--{k}" for k in SRCNN_OPTIONS if k in given]
    if model != "srcnn" and flags:
        raise SRCNNError(f"{' '.join(flags)}: option(s) of --model srcnn; {model} takes its settings as "
                         f"--model-arg KEY=VALUE (e.g. --model-arg depth=8)")


def cmd_train(ns) -> int:
    hp = {k: getattr(ns, k) for k in DEFAULTS}
    hp["data"] = _data_value(hp["data"])
    hp["model_arg"] = list(hp["model_arg"])
    _srcnn_only(hp["model"], [k for k in SRCNN_OPTIONS if hp[k] is not None])
    for k in SRCNN_OPTIONS:  # srcnn: the defaults; other models: None (not recorded)
        if hp[k] is None and hp["model"] == "srcnn":
            hp[k] = DEFAULTS[k]
    return _run(hp, fresh=True)


def cmd_resume(ns) -> int:
    path = Path(ns.checkpoint)
    ckpt = load_checkpoint(path)
    if "hparams" not in ckpt or "data" not in ckpt or "optimizer" not in ckpt:
        raise SRCNNError(f"{path}: holds weights but no training state, so it cannot be resumed")
    old = {**DEFAULTS, **ckpt["hparams"]}
    given = {k: v for k, v in vars(ns).items() if k in DEFAULTS}
    if "data" in given:
        given["data"] = _data_value(given["data"])
    hp = dict(old)
    hp.update({k: given.get(k, DEFAULTS[k]) for k in RUN_OPTIONS})
    hp["data"], hp["out_dir"] = ckpt["data"]["path"], str(path.parent)
    _srcnn_only(hp["model"], given)
    changes = []
    for k, v in given.items():
        if k in RUN_OPTIONS:
            continue
        before = hp[k]
        same = (same_data(v, before) if k == "data" else Path(v).resolve() == Path(before).resolve()
                if k == "out_dir" else v == before)
        if same:
            continue
        if k in FIXED_OPTIONS:
            raise SRCNNError(f"{path}: --{k.replace('_', '-')} cannot change on resume (checkpoint: "
                             f"{_fmt(before)}, given: {_fmt(v)}); start a new run with 'python train.py train' instead")
        hp[k] = v
        changes.append(f"{k} {before} -> {v}")
    if "data" not in given and not all(p.is_file() for p in expand_data(hp["data"])):
        raise SRCNNError(f"{path}: its training data {hp['data']} is gone; pass --data FILE "
                         "(the file's fingerprint is checked)")
    pf = open_patches(hp["data"])
    if pf.fingerprint != ckpt["data"]["fingerprint"]:
        if "data" not in given:
            raise SRCNNError(f"{pf.path}: the data file changed since {path} was written (fingerprint "
                             f"{ckpt['data']['fingerprint'][:12]}..., now {pf.fingerprint[:12]}...); pass "
                             f"--data FILE to continue on different data on purpose")
        changes.append(f"data fingerprint {ckpt['data']['fingerprint'][:12]}... -> {pf.fingerprint[:12]}...")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    before_world = (ckpt.get("distributed") or {}).get("world_size", 1)
    if world != before_world:
        changes.append(f"processes {before_world} -> {world} (global batch {hp['batch_size'] * before_world} "
                       f"-> {hp['batch_size'] * world})")
    part = ckpt.get("partial")
    where = (f", {part['samples']:,} samples into epoch {ckpt['epoch'] + 1}" if part else "")
    if _is_main():
        print(f"resuming {path}: epoch {ckpt['epoch']} of {hp['num_epoch']}{where}, step {ckpt.get('step', 0)}")
        print("overridden: " + ", ".join(changes) if changes else "overridden: nothing (same options)")
    return _run(hp, fresh=False, resume=ckpt, path=path, changes=changes)


def _fmt(v) -> str:
    if v is None or v == []:
        return "-"
    if isinstance(v, list):
        return " ".join(map(str, v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def _describe(model, scale, state_dict=None) -> None:
    """The architecture lines of inspect: summary, layer shapes, input kind, parameters, multiply-adds per
    output pixel."""
    s = scale[0] if isinstance(scale, (list, tuple)) else scale
    print(f"architecture  {model_summary(model)}")
    width = max([12, *(len(n) for n in state_dict or {})]) + 2
    for name, t in (state_dict or {}).items():
        print(f"  {name:<{width}}{'x'.join(map(str, t.shape))}")
    print("input         " + (f"the LR image (upscale x{model.upscale} inside the network)"
                              if model.input_kind == "lr" else "the bicubic-upscaled image"))
    print(f"parameters    {count_parameters(model):,}")
    print(f"MACs/pixel    {macs_per_pixel(model, s):,.0f} multiply-adds per output pixel")


def cmd_inspect(ns) -> int:
    path = Path(ns.checkpoint)
    if path.suffix.lower() == ".mat":
        model, meta = load_model(path)
        print(f"file          {path}  (the authors' MATLAB weights)")
        _describe(model, meta.get("scale"))
        print(f"scale         {meta.get('scale')}\nchannels      {meta.get('channels')}")
        return 0
    ck = load_checkpoint(path)
    model = build_from_checkpoint(ck, path)
    cfg = ck["model"]
    print(f"file          {path}  ({ck['format']} v{ck['format_version']}, srcnn {ck.get('srcnn_version', '?')})")
    _describe(model, ck["scale"], ck["state_dict"])
    print(f"scale         {ck['scale']}")
    print(f"channels      {ck['channels']} ({cfg.get('channels')})")
    part = ck.get("partial")
    print(f"epoch         {ck.get('epoch', '-')}" + (f" (step {ck['step']})" if "step" in ck else "")
          + (f", interrupted {part['samples']:,} samples into epoch {ck['epoch'] + 1}" if part else ""))
    print(f"time spent    {timedelta(seconds=round(ck.get('time_spent', 0.0)))}")
    best = ck.get("best")
    print("best          " + (f"epoch {best['epoch']}, val PSNR {best['val_psnr']:.3f} dB" if best else "-"))
    print("hyperparameters")
    for k, v in ck.get("hparams", {}).items():
        print(f"  {k:<14}{_fmt(v)}")
    d = ck.get("data")
    if d:
        print("data")
        paths = d["path"] if isinstance(d["path"], list) else [d["path"]]
        print(f"  path          {paths[0]}" + "".join(f"\n                {p}" for p in paths[1:]))
        print(f"  fingerprint   {d['fingerprint']}")
        print(f"  samples       {d['count']:,}")
        for k, v in d.get("attrs", {}).items():
            print(f"  {k:<14}{_fmt(v)}")
    dd = ck.get("distributed")
    if dd and dd.get("world_size", 1) > 1:
        print(f"distributed   {dd['world_size']} processes ({dd.get('backend')}), global batch "
              f"{dd['global_batch_size']}")
    hist = ck.get("history", [])
    print(f"history       {len(hist)} epoch(s)")
    if hist:
        print(f"  {'epoch':>5}  {'loss':>10}  {'val PSNR':>8}  {'val SSIM':>8}  {'lr':>8}  {'samples/s':>9}  {'time s':>7}")
        for h in hist:
            vp = f"{h['val_psnr']:.3f}" if h.get("val_psnr") is not None else "-"
            vs = f"{h['val_ssim']:.4f}" if h.get("val_ssim") is not None else "-"
            print(f"  {h['epoch']:>5}  {h['loss']:>10.4e}  {vp:>8}  {vs:>8}  {h['lr']:>8.2e}  "
                  f"{h['samples_per_s']:>9.0f}  {h['time']:>7.1f}")
    if ck.get("exported_from"):
        e = ck["exported_from"]
        print(f"exported from {e['path']} (epoch {e['epoch']}); weights only, cannot be resumed")
    r = ck.get("recipe") or {}
    if r:
        print("recipe")
        _print_recipe(r, "  ")
    return 0


def _print_recipe(r: dict, pad: str) -> None:
    """The recipe lines; a run started with --init-from first shows its starting weights' recipe (and so on
    up the chain), indented."""
    parent = r.get("parent")
    if isinstance(parent, dict):
        best = parent.get("best") or {}
        val = f", val PSNR {best['val_psnr']:.3f} dB" if isinstance(best.get("val_psnr"), (int, float)) else ""
        print(f"{pad}{'from':<14}{parent.get('weights')} (epoch {parent.get('epoch', '-')}{val})")
        if isinstance(parent.get("recipe"), dict):
            _print_recipe(parent["recipe"], pad + "  ")
    print(f"{pad}{'prepare':<14}{r.get('prepare') or '-'}")
    print(f"{pad}{'train':<14}{r.get('train') or '-'}")
    for c in r.get("changes", []):
        print(f"{pad}{'then':<14}{c}")


def _onnx_opset() -> int:
    from ..export import OPSET
    return OPSET


def cmd_export(ns) -> int:
    src, dst = Path(ns.checkpoint), Path(ns.output)
    from ..export import export_file, format_for
    fmt = ns.format or format_for(dst, "pt" if dst.suffix.lower() not in (".onnx", ".ts", ".torchscript") else None)
    if ns.opset is not None and fmt != "onnx":
        raise SRCNNError(f"--opset is for ONNX export, not {fmt}")
    if fmt != "pt":
        fmt, props = export_file(src, dst, fmt, opset=ns.opset or _onnx_opset())
        print(f"wrote {dst} ({fmt}, {dst.stat().st_size / 1024:.0f} KiB) from {src}")
        for k, v in props.items():
            print(f"  {k:<16}{v}")
        return 0
    ck = load_checkpoint(src)
    build_from_checkpoint(ck, src)  # refuse weights that do not fit their architecture
    if dst.exists() and dst.resolve() == src.resolve():
        raise SRCNNError(f"{dst}: the output would overwrite the checkpoint it is exported from")
    small = {k: v for k, v in ck.items() if k not in TRAINING_STATE or k == "state_dict"}
    small.pop("partial", None)
    ema = small.pop("ema_state_dict", None)
    if ema is not None:  # a --ema run: the averaged weights are the validated ones
        small["state_dict"] = ema
    small["exported_from"] = {"path": str(src), "epoch": ck.get("epoch"),
                              "weights": "ema" if ema is not None else "raw"}
    save_checkpoint(small, dst)
    print(f"wrote {dst} ({dst.stat().st_size / 1024:.0f} KiB): {ck['model']}, scale {ck['scale']}, "
          f"epoch {ck.get('epoch', '-')} of {src}")
    return 0


def main(argv=None) -> int:
    """Run train.py with ``argv`` (default sys.argv[1:]); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "train")
    ns = build_parser().parse_args(argv)
    try:
        return ns.func(ns)
    except SRCNNError as e:
        rank = "" if _is_main() else f"[rank {os.environ.get('RANK')}] "
        print(f"error: {rank}{e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing saved (checkpoints written before are intact)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
