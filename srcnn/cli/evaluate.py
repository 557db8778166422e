"""evaluate.py: PSNR/SSIM of models and of bicubic on test sets, with the SRCNN paper's protocol."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .. import __version__
from ..api import SuperResolver, load
from ..datasets import data_root, resolve_set, sha256_file
from ..errors import SRCNNError
from ..files import atomic_text
from .common import (add_degradation_options, add_weights_options, degradation, nonempty, nonempty_list, number, run,
                     scale_list)
from ..evaluation import evaluate_set, protocol
from ..images import MAX_PIXELS, list_images
from ..precision import INFERENCE_PRECISIONS
from ..weightfiles import DEFAULT_SCALE, bundled_models, bundled_names, check_weights_name, resolve_device

PROTOCOL_HELP = """\
protocol (the SRCNN paper's; every published SR table uses it; in full: docs/protocol.md):
  1. modcrop: crop the HR image at the bottom/right to a multiple of the scale;
  2. Y of MATLAB rgb2ycbcr (studio range) as uint8, /255; a greyscale image is its own Y;
  3. degrade: MATLAB bicubic imresize by 1/scale, then back up by scale (float, unrounded);
     this is the bicubic baseline and the input of SRCNN/VDSR-style models; LR-input models
     (FSRCNN, ESPCN, ...) take the downscaled image itself;
  4. outputs quantised like MATLAB uint8(y*255);
  5. PSNR and SSIM on Y in [0,255], with `scale` pixels shaved from every border.
--rgb scores RGB instead (labelled "rgb"; not the paper's protocol, lower numbers).
--degradation real replaces step 3 with a random blur, downscaling kernel, noise and JPEG drawn
per image from a seed of its name (the same degraded set on every run; srcnn/degradation.py);
the 8-bit result goes to bicubic and the models as a user's file would.
--self-ensemble adds a row "<model>+se": the mean output over the 8 flips/rotations of the input.

examples:
  python evaluate.py --set Set5
  python evaluate.py --set Set5,Set14 --scale 2,3,4 --json results.json
  python evaluate.py --set Set5,Set14 --model all --scale 2,3,4 --json results.json
  python evaluate.py --set Set5 --model fsrcnn --scale 3 --self-ensemble
  python evaluate.py --set Set5 --scale 3 --model srcnn --precision bf16   # bfloat16: speed and PSNR cost
  python evaluate.py --set Set14 --checkpoint checkpoints/checkpoint.best --compare out/compare
  python evaluate.py --set Set14,B100 --model fsrcnn,fsrcnn-real --degradation real   # blur, noise, JPEG
  python evaluate.py --set my_photos/ --checkpoint x3.mat --save-images out/sr
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evaluate.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=PROTOCOL_HELP,
        description="Score a super-resolution model and bicubic side by side on test sets: a table "
                    "per image and the mean (PSNR, SSIM, gain over bicubic).")
    p.add_argument("--set", action="append", metavar="NAME|DIR", type=nonempty_list,
                   help="set name under the datasets root (Set5, Set14, B100, Urban100, ...) or a folder "
                        "of HR images; repeat or comma-separate for several (default: Set5)")
    p.add_argument("--scale", nargs="+", type=scale_list(), metavar="S",
                   help="upscaling factor(s), e.g. 3 or 2 3 4 or 2,3,4 (default: the checkpoint's "
                        "scale, 3 for the bundled weights)")
    add_weights_options(p, every=True)
    p.add_argument("--self-ensemble", action="store_true",
                   help="also score each model's self-ensemble (8 flips/rotations of the input, outputs "
                        "mapped back and averaged; 8x the time) as a separate row '<model>+se'")
    p.add_argument("--precision", choices=INFERENCE_PRECISIONS, default="fp32",
                   help="numeric path of the networks: fp32 (default; float32, the reference), ort (the "
                        "network in onnxruntime, CPU), bf16 (bfloat16 autocast, channels-last on the CPU: "
                        "faster only where the CPU has native bfloat16, AMX or AVX-512 BF16, or on a CUDA "
                        "GPU), auto (the fastest path measured to cost <= 0.05 dB on Set5: ort on the CPU "
                        "where onnxruntime is installed, else bf16 where native, else float32 "
                        "channels-last). An .onnx model runs in float32 (bf16 refused)")
    p.add_argument("--json", metavar="FILE", type=nonempty, help="also write the results as JSON")
    p.add_argument("--save-images", metavar="DIR", type=nonempty,
                   help="write the outputs as PNG: DIR/<set>/x<s>/<name>_bicubic.png and <name>_<model>.png")
    p.add_argument("--compare", metavar="DIR", type=nonempty,
                   help="write side-by-side crops (bicubic | model | ground truth) where the model gains "
                        "most: DIR/<set>/x<s>/<name>_compare.png")
    add_degradation_options(p, "test images")
    p.add_argument("--rgb", action="store_true",
                   help="score on RGB instead of Y (not the paper's protocol; labelled 'rgb')")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the network runs (default: auto = cuda if available)")
    p.add_argument("--data-root", metavar="DIR", type=nonempty,
                   help="datasets root for set names (default: $SRCNN_DATA, else ./datasets)")
    p.add_argument("--max-pixels", type=number(int, 1), default=MAX_PIXELS, metavar="N",
                   help="refuse an HR image of more than N pixels with one line, before any conversion (a PNG "
                        f"before it is decoded) (default: {MAX_PIXELS:,} = 16384 x 16384, far above any test set or photo)")
    return p


def _check_json_out(path: Path, checkpoint=None, folders=()) -> None:
    """SRCNNError unless ``path`` can be written: a folder, a missing folder or one that is a file, a
    name over the limit, no permission, or an input of the run (the --checkpoint, an image of a set).
    Temporaries a killed earlier run left for it are removed."""
    from ..files import InputFiles, output_name, remove_stale_temporaries
    output_name(path, "--json")
    inputs = InputFiles([checkpoint] if checkpoint else [], "the --checkpoint")
    for folder in folders:
        inputs.add(list_images(folder, recursive=False), f"an image of the set {folder}")
    inputs.check(path, "--json")
    remove_stale_temporaries([path])
    if path.is_dir():
        raise SRCNNError(f"{path}: is a folder; --json takes a file name")
    if not path.parent.is_dir():
        raise SRCNNError(f"{path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise SRCNNError(f"{path}: folder {path.parent} is not writable")


class Table:
    """Prints the per-image table as the images are scored, then the mean."""

    def __init__(self, title: str, width: int, ensemble: bool = False):
        self.w = max(width, 8)
        print(f"\n{title}")
        head = (f"{'image':<{self.w}}  {'bicubic PSNR':>12} {'SSIM':>7}  {'model PSNR':>10} {'SSIM':>7}"
                f"  {'gain dB':>7}")
        if ensemble:
            head += f"  {'+se PSNR':>10} {'SSIM':>7}  {'gain dB':>7}"
        self.rule = "-" * len(head)
        print(head)
        print(self.rule)

    def row(self, name: str, bic, sr, se=None) -> None:
        line = (f"{name:<{self.w}}  {bic[0]:12.2f} {bic[1]:7.4f}  {sr[0]:10.2f} {sr[1]:7.4f}  "
                f"{sr[0] - bic[0]:+7.2f}")
        if se is not None:
            line += f"  {se[0]:10.2f} {se[1]:7.4f}  {se[0] - bic[0]:+7.2f}"
        print(line, flush=True)


def load_models(args, names: list[str], scale: int | None, device) -> list[tuple[SuperResolver, str]]:
    """[(model loaded by srcnn.load, as super_resolve.py loads it, with --precision; its file)] to evaluate
    at ``scale`` (None: the checkpoint's own): --checkpoint, or the bundled weights of each name of --model
    (each labelled as srcnn.weightfiles.load_weights says: fsrcnn-real, srcnn-9-5-5, ...).

    --model all: every bundled model with weights for the scale (the others skipped with a note)."""
    if args.checkpoint is not None:
        sr = load(Path(args.checkpoint), scale, str(device), precision=args.precision, trust_code=args.trust_code)
        return [(sr, str(args.checkpoint))]
    every = names == ["all"]
    scale = DEFAULT_SCALE if scale is None and every else scale
    loaded = []
    for name in (bundled_names() if every else names):
        if every and not any(scale in b.scales for b in bundled_models() if b.name == name):
            print(f"note: no bundled {name} weights for x{scale}; {name} skipped at x{scale}")
            continue
        sr = load(name, scale, str(device), precision=args.precision)
        loaded.append((sr, sr.meta.get("path")))
    return loaded


def model_args(text: str | None) -> list[str]:
    """--model's names ("fsrcnn,espcn"; default srcnn), each checked; "all" alone."""
    names = [n.strip() for n in (text or "srcnn").split(",")]
    if "all" in names:
        if names != ["all"]:
            raise SRCNNError(f"--model {text}: 'all' already names every bundled model; give it alone")
        if not bundled_names():
            raise SRCNNError("--model all: there are no bundled weights (srcnn/weights/<name>_x<s>.pt)")
        return names
    for n in names:
        check_weights_name(n, every=True)
    if len(set(names)) < len(names):
        raise SRCNNError(f"--model {text}: a name is given twice")
    return names


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    return run(lambda: evaluate(args, argv))


def evaluate(args: argparse.Namespace, argv: list[str]) -> int:
    """The tables (and --json, --save-images, --compare) for the parsed options; 0."""
    sets = [s.strip() for item in (args.set or ["Set5"]) for s in item.split(",") if s.strip()]
    scales = list(dict.fromkeys(s for group in args.scale for s in group)) if args.scale else [None]
    wanted = model_args(args.model)
    real = degradation(args)
    prot = protocol(args.rgb, real)   # (refuses --rgb with --degradation real)
    device = resolve_device(args.device)
    root = data_root(args.data_root)
    folders = [resolve_set(s, root) for s in sets]
    for d in (args.save_images, args.compare):
        if d and Path(d).exists() and not Path(d).is_dir():
            raise SRCNNError(f"{d}: exists and is not a folder")
    if args.json:  # checked before the work, not after it
        _check_json_out(Path(args.json), args.checkpoint, folders)
    digests = {}
    rows, t0 = [], time.time()
    mode = "RGB (not the paper's protocol)" if args.rgb else "Y, the paper's protocol"
    if real is not None:
        mode = f"Y on degraded inputs ({real.describe()}; seeded per image)"
    for scale in scales:
        models = load_models(args, wanted, scale, device)
        for folder in folders:
            set_name = folder.name
            names = [p.stem for p in list_images(folder, recursive=False)]
            for i, (sr, ckpt) in enumerate(models):
                if ckpt not in digests and Path(ckpt).is_file():
                    digests[ckpt] = sha256_file(Path(ckpt))
                numeric = "" if args.precision == "fp32" else f"   numeric: {sr.path.name}"
                table = Table(f"{set_name} x{sr.scale}   model: {sr.name} ({ckpt}){numeric}   scores: {mode}",
                              max(map(len, names), default=8), args.self_ensemble)
                set_rows = evaluate_set(
                    folder, sr.scale, sr.model, set_name=set_name, method=sr.name, checkpoint=ckpt,
                    sha256=digests.get(ckpt), rgb=args.rgb, self_ensemble=args.self_ensemble,
                    save_dir=args.save_images, compare_dir=args.compare, precision=sr.path,
                    max_pixels=args.max_pixels, degradation=real,
                    progress=lambda name, r: table.row(name, r["bicubic"], r["model"], r.get("ensemble")))
                print(table.rule)
                means = [(r["psnr"], r["ssim"]) for r in set_rows]
                table.row(f"mean ({set_rows[0]['count']})", *means)
                for r in set_rows:
                    r["model"] = sr.meta.get("model") if r["method"] != "bicubic" else None
                rows += set_rows if i == 0 else set_rows[1:]   # one bicubic row per set and scale
    if args.json:
        atomic_text(args.json, json.dumps({
            "protocol": prot, "rows": rows, "device": str(device), "precision": args.precision,
            "srcnn_version": __version__, "command": " ".join(["evaluate.py", *argv]),
            "seconds": round(time.time() - t0, 2)}, indent=2) + "\n", "results")
        print(f"\nwrote {args.json}")
    for label, d in (("outputs", args.save_images), ("comparisons", args.compare)):
        if d:
            print(f"{label} in {d}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
