"""train.py inspect and export: what a checkpoint holds (architecture, options, data, history, recipe),
and its weights as a small .pt, ONNX or TorchScript file (srcnn.export)."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from ..checkpoint import build_from_checkpoint, load_checkpoint
from ..errors import SRCNNError
from ..models import count_parameters, macs_per_pixel, model_summary
from ..weightfiles import load_file


def fmt_value(v) -> str:
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
        model, meta = load_file(path)
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
        print(f"  {k:<14}{fmt_value(v)}")
    d = ck.get("data")
    if d:
        print("data")
        paths = d["path"] if isinstance(d["path"], list) else [d["path"]]
        print(f"  path          {paths[0]}" + "".join(f"\n                {p}" for p in paths[1:]))
        print(f"  fingerprint   {d['fingerprint']}")
        print(f"  samples       {d['count']:,}")
        for k, v in d.get("attrs", {}).items():
            print(f"  {k:<14}{fmt_value(v)}")
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
        hist, count = parent.get("history"), parent.get("count")
        seen = (f", {len(hist)} epoch(s) of history on {count:,} patches" if isinstance(hist, list)
                and isinstance(count, int) and not isinstance(count, bool) else "")
        print(f"{pad}{'from':<14}{parent.get('weights')} (epoch {parent.get('epoch', '-')}{val}{seen})")
        if isinstance(parent.get("recipe"), dict):
            _print_recipe(parent["recipe"], pad + "  ")
    print(f"{pad}{'prepare':<14}{r.get('prepare') or '-'}")
    print(f"{pad}{'train':<14}{r.get('train') or '-'}")
    for c in r.get("changes", []):
        print(f"{pad}{'then':<14}{c}")


def onnx_opset() -> int:
    from ..export import OPSET
    return OPSET


def onnx_opsets() -> tuple[int, int]:
    """The first and last ONNX opset the exporter writes (--opset's range)."""
    from ..export import OPSETS
    return OPSETS


def _check_output(src: Path, dst: Path, fmt: str, given_format: str | None, overwrite: bool) -> None:
    """Before any work, SRCNNError for an export output that: has a suffix of another format than
    --format (a .pt holding ONNX that nothing reads as such), is the checkpoint itself (a link to it
    included), exists without --overwrite, or is in the folder of a running training."""
    from ..export import SUFFIXES
    from ..files import InputFiles
    from ..rundir import refuse_running
    named = SUFFIXES.get(dst.suffix.lower())
    if given_format and named and named != given_format:
        right = ", ".join(k for k, v in SUFFIXES.items() if v == given_format)
        raise SRCNNError(f"{dst}: --format {given_format}, but a {dst.suffix} file is read as {named}; name it "
                         f"{right} (or drop --format)")
    InputFiles(src, "the checkpoint it is exported from").check(dst)
    refuse_running(dst, "the export")
    if not overwrite and not dst.is_dir() and (dst.exists() or dst.is_symlink()):  # (a folder: the writer's error)
        raise SRCNNError(f"{dst}: exists; pass --overwrite to replace it")


def cmd_export(ns) -> int:
    src, dst = Path(ns.checkpoint), Path(ns.output)
    from ..export import export_file, format_for
    from ..files import remove_stale_temporaries
    fmt = ns.format or format_for(dst, "pt" if dst.suffix.lower() not in (".onnx", ".ts", ".torchscript") else None)
    if ns.opset is not None and fmt != "onnx":
        raise SRCNNError(f"--opset is for ONNX export, not {fmt}")
    _check_output(src, dst, fmt, ns.format, ns.overwrite)
    if remove_stale_temporaries([dst]):
        print(f"removed the temporary file(s) of an interrupted earlier export to {dst}")
    fmt, stored = export_file(src, dst, fmt, opset=ns.opset or onnx_opset())
    if fmt == "pt":   # the weights-only checkpoint
        print(f"wrote {dst} ({dst.stat().st_size / 1024:.0f} KiB): {stored['model']}, scale {stored['scale']}, "
              f"epoch {stored.get('epoch', '-')} of {src}")
        return 0
    print(f"wrote {dst} ({fmt}, {dst.stat().st_size / 1024:.0f} KiB) from {src}")
    for k, v in stored.items():
        print(f"  {k:<16}{v}")
    return 0
