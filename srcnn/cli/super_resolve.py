"""super_resolve.py: upscale your own low-resolution images with an SRCNN (or FSRCNN, ESPCN, VDSR...) model."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import SRCNNError
from . import add_weights_options
from ..images import IMAGE_EXTS, list_images, read_image, write_image
from ..inference import AUTO_TILE, load_for_scale, model_name, resolve_device, super_resolve
from ..models import model_names

EPILOG = """\
The input is the low-resolution image: it is upscaled with MATLAB-compatible bicubic, then the network
restores detail (SRCNN, VDSR); an LR-input model (FSRCNN, ESPCN) upscales the image itself. A Y model
(the paper's) works on the Y channel and keeps bicubic Cb/Cr; an RGB model on RGB. Greyscale stays
greyscale, alpha is upscaled and kept, 16-bit in gives 16-bit out, EXIF orientation is applied. Large
images are processed in tiles; the result is the same for every --tile.

examples:
  python super_resolve.py lr.bmp                      # bundled x3 weights -> lr_x3.png
  python super_resolve.py --model fsrcnn lr.bmp       # bundled FSRCNN x3 weights
  python super_resolve.py --self-ensemble lr.bmp      # 8 flips/rotations averaged: a little better, 8x slower
  python super_resolve.py --checkpoint checkpoints/checkpoint.100 lr.bmp
  python super_resolve.py --scale 2 photos/ -o out/   # every image in photos/ -> out/<name>_x2.png
  python super_resolve.py --checkpoint x3.mat a.png -o a_big.png
  python super_resolve.py --sample -o demo/           # the bundled sample: lr, result, comparison
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="super_resolve.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Super-resolve images: bicubic upscale by the scale, then the network (or the network "
                    "on the image itself for an LR-input model).")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="image files and/or folders (the images directly inside; earlier "
                        "<name>_x<scale>.png outputs there are skipped)")
    add_weights_options(p)
    p.add_argument("--scale", type=int, metavar="S",
                   help="upscaling factor (default: the checkpoint's; 3 for the bundled weights)")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="output file (one input) or folder (created if needed); default: "
                        "<name>_x<scale>.png beside each input (or the current folder for --sample)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the network runs (default: auto = cuda if available)")
    p.add_argument("--tile", type=int, metavar="N",
                   help=f"output tile side in pixels, bounds memory (default: automatic, "
                        f"{AUTO_TILE['cpu']} on CPU, {AUTO_TILE['cuda']} on CUDA; 0 = whole image at once)")
    p.add_argument("--self-ensemble", action="store_true",
                   help="average the network's outputs over the 8 flips/rotations of its input (each mapped "
                        "back): usually a little sharper, 8x the time")
    p.add_argument("--sample", action="store_true",
                   help="super-resolve the bundled test chart: writes sample_lr.png, sample_x<scale>.png "
                        "and sample_compare.png (bicubic | model | original)")
    return p


def _is_file_target(out: Path, n_inputs: int) -> bool:
    return n_inputs == 1 and out.suffix.lower() in IMAGE_EXTS and not out.is_dir()


def plan(inputs: list[str], output: str | None, scale: int):
    """[(input, output path or None, problem or None)] for every image to do."""
    items, sources = [], []
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            found = [f for f in list_images(p, recursive=False) if not f.stem.endswith(f"_x{scale}")]
            if not found:
                items.append((p, None, f"{p}: no images in this folder"))
            sources += found
        else:
            sources.append(p)
    single = output is not None and _is_file_target(Path(output), len(sources)) and not any(
        Path(a).is_dir() for a in inputs)
    if output is not None and not single:
        out_dir = Path(output)
        if out_dir.exists() and not out_dir.is_dir():
            raise SRCNNError(f"{out_dir}: exists and is not a folder (with several inputs -o is a folder)")
        if out_dir.suffix.lower() in IMAGE_EXTS and not out_dir.exists():
            raise SRCNNError(f"{out_dir}: -o names a file but there are {len(sources)} inputs; give a folder")
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SRCNNError(f"{out_dir}: cannot create the output folder ({e.strerror or e})") from None
    taken = {}
    for src in sources:
        if single:
            dst = Path(output)
        else:
            dst = (Path(output) if output is not None else src.parent) / f"{src.stem}_x{scale}.png"
        problem = None
        if dst.resolve() == src.resolve():
            problem = f"{src}: the output {dst} would overwrite the input"
        elif dst.resolve() in taken:
            problem = f"{src}: the output {dst} is already the output of {taken[dst.resolve()]}"
        else:
            taken[dst.resolve()] = src
        items.append((src, dst, problem))
    return items


def run_sample(model, scale: int, method: str, output: str | None, tile, ensemble: bool = False) -> None:
    from ..color import rgb2y
    from ..evaluation import side_by_side
    from ..imresize import imresize
    from ..protocol import score
    from ..sample import sample_image, sample_lr

    out = Path(output) if output else Path.cwd()
    if out.exists() and not out.is_dir():
        raise SRCNNError(f"{out}: exists and is not a folder (--sample writes three files into -o)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SRCNNError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    hr = sample_image()
    try:
        lr = sample_lr(scale)
    except ValueError as e:
        raise SRCNNError(f"--sample: {e}") from None
    sr = super_resolve(lr, model, scale, tile=tile, ensemble=ensemble)
    bic = imresize(lr, scale)
    gt_y = rgb2y(hr) / 255.0

    def label(name, img):
        return f"{name}  PSNR(Y) {score(rgb2y(img) / 255.0, gt_y, scale)[0]:.2f} dB"

    compare = side_by_side([bic, sr, hr], [label(f"bicubic x{scale}", bic), label(method, sr), "original"])
    for name, img in (("sample_lr.png", lr), (f"sample_x{scale}.png", sr), ("sample_compare.png", compare)):
        write_image(out / name, img)
        print(f"wrote {out / name}  ({img.shape[1]}x{img.shape[0]})")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sample and args.inputs:
        print("error: --sample takes no input files", file=sys.stderr)
        return 2
    if not args.sample and not args.inputs:
        print("error: give input images or folders (or --sample); see --help", file=sys.stderr)
        return 2
    failures, done = [], 0
    try:
        if args.tile is not None and args.tile < 0:
            raise SRCNNError(f"--tile {args.tile}: must be 0 (no tiling) or a positive number of pixels")
        if args.scale is not None and args.scale < 2:
            raise SRCNNError(f"--scale {args.scale}: must be an integer >= 2")
        if args.model is not None and args.model not in model_names():
            raise SRCNNError(f"--model {args.model}: unknown model; one of {', '.join(model_names())}")
        device = resolve_device(args.device)
        model, meta, scale = load_for_scale(args.checkpoint, args.scale, device, model=args.model)
        method = model_name(meta) + ("+se" if args.self_ensemble else "")
        if args.sample:
            run_sample(model, scale, method, args.output, args.tile, args.self_ensemble)
            return 0
        items = plan(args.inputs, args.output, scale)
        print(f"model: {method} x{scale} ({meta.get('path')}), device {device}")
        for src, dst, problem in items:
            try:
                if problem:
                    raise SRCNNError(problem)
                t0 = time.time()
                img = read_image(src)
                try:
                    out = super_resolve(img, model, scale, tile=args.tile, ensemble=args.self_ensemble)
                except SRCNNError as e:
                    raise SRCNNError(f"{src}: {e}") from None
                except (MemoryError, RuntimeError) as e:  # allocation failures (CPU or CUDA)
                    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                    raise SRCNNError(f"{src}: out of memory or device error ({msg}); try a smaller --tile") from None
                write_image(dst, out)
                h, w = img.shape[:2]
                print(f"{src} -> {dst}  ({w}x{h} -> {out.shape[1]}x{out.shape[0]}, "
                      f"{'16' if out.dtype == np.uint16 else '8'}-bit, {time.time() - t0:.1f} s)", flush=True)
                done += 1
            except SRCNNError as e:
                print(f"error: {e}", file=sys.stderr, flush=True)
                failures.append(str(e))
    except SRCNNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (finished files are complete; nothing is half-written)", file=sys.stderr)
        return 130
    if failures:
        print(f"\n{len(failures)} of {len(failures) + done} input(s) failed:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
