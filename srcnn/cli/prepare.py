"""prepare_data.py: cut a folder of HR images into an HDF5 file of (degraded, clean) training patches.

``--model NAME`` picks what the network input is (the bicubic-upscaled LR image, or the LR image for
LR-input models such as fsrcnn/espcn) and the default patch size and stride, from
``srcnn.models.data_defaults``."""
from __future__ import annotations

import argparse
import shlex
import textwrap
import sys

from ..color import CHANNEL_NAMES
from ..datasets import data_root, resolve_set
from ..errors import SRCNNError
from ..images import MAX_PIXELS
from ..models import data_defaults, model_names
from ..prepare import Interrupted, PrepareConfig, find_images, prepare
from .common import add_degradation_options, check_workers, degradation, nonempty, number, run, scale_list


def build_parser() -> argparse.ArgumentParser:
    names = model_names()
    lr_models = [n for n in names if data_defaults(n, 3)["input"] == "lr"]
    about = ("--model decides the network input: the LR image itself for " + ", ".join(lr_models) +
             " (one scale per file, --patch-size and --stride multiples of it, the label is the whole HR patch), "
             "the bicubic-upscaled image for the others. Default --patch-size/--stride: 33/14 (srcnn and its "
             "upscaled variants), 41/21 (vdsr), s*round(33/s) / s*max(1, round(14/s)) for LR-input models at "
             "scale s (x2 32/14, x3 33/15, x4 32/16; a patch below the model's minimum, at x7 and up, is raised "
             "to it).")
    p = argparse.ArgumentParser(
        prog="prepare_data.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill("Cut HR images into training patches (the paper's degradation: modcrop, "
                                  "MATLAB-bicubic down by the scale, and back up for models that take the "
                                  "upscaled image) and write them to an HDF5 file.", 100),
        epilog="examples:\n"
               "  python prepare_data.py --scale 3 --out train.h5\n"
               "      T91, 33x33 patches at stride 14, Y (SRCNN)\n"
               "  python prepare_data.py --model fsrcnn --scale 2 --out fsrcnn_x2.h5\n"
               "      LR input: 16x16 LR patches of 32x32 HR patches at HR stride 14\n"
               "  python prepare_data.py --model vdsr --scale 2,3,4 --out vdsr.h5\n"
               "      41x41 at stride 21, three scales in one file\n"
               "  python prepare_data.py --model fsrcnn --scale 3 --degradation real --augment --out real_x3.h5\n"
               "      for real photos: blur, any downscaling kernel, noise and JPEG, drawn per image version\n\n" + textwrap.fill(about, 100))
    src = p.add_mutually_exclusive_group()
    src.add_argument("--images", metavar="DIR", type=nonempty, help="folder of HR images (recursive; png jpg bmp tif webp, gif: first frame)")
    src.add_argument("--set", metavar="NAME", default="T91", type=nonempty,
                     help="named set under the datasets root, or a folder path (default: T91)")
    p.add_argument("--data-root", metavar="DIR", type=nonempty,
                   help="datasets root for --set (default: $SRCNN_DATA, else ./datasets)")
    p.add_argument("--out", required=True, metavar="FILE.h5", type=nonempty, help="output HDF5 file")
    p.add_argument("--model", choices=names, default="srcnn", metavar="NAME",
                   help="the model the data is for: sets the input kind (upscaled or LR image) and the default "
                        "--patch-size/--stride; one of " + ", ".join(names) + " (default: srcnn)")
    p.add_argument("--scale", type=scale_list(check=False), default=(3,), metavar="S[,S...]",
                   help="upscaling factor(s); several (e.g. 2,3,4) make a multi-scale set (not for LR-input "
                        "models) (default: 3)")
    p.add_argument("--patch-size", type=int, default=None, metavar="P",
                   help="HR sub-image side; the network input is PxP, or P/s x P/s for LR-input models "
                        "(default: from --model and the first scale: 33 for srcnn). At least what --model can "
                        "use: a network input of a third of its receptive field (srcnn 6, vdsr 14, fsrcnn x3 "
                        "18 = 6 LR px), and for srcnn with a smaller --label-size its whole receptive field "
                        "(17); smaller is refused, naming the minimum")
    p.add_argument("--stride", type=int, default=None,
                   help="step between sub-images in HR pixels (default: from --model and the first scale: 14 for srcnn)")
    p.add_argument("--label-size", type=int, default=None, metavar="L",
                   help="centre LxL of the HR sub-image kept as label: 21 for a 9-1-5 net without "
                        "padding (default: the patch size)")
    p.add_argument("--channels", choices=CHANNEL_NAMES, default="y",
                   help="Y of MATLAB rgb2ycbcr (the paper) or RGB (default: y)")
    p.add_argument("--blur-sigma", type=float, default=0.0, metavar="SIGMA",
                   help="Gaussian blur (std in HR pixels) before the downscale; 0 = none (default)")
    p.add_argument("--noise-sigma", type=float, default=0.0, metavar="SIGMA",
                   help="additive Gaussian noise on the LR image, std in grey levels of 255; 0 = none (default)")
    add_degradation_options(p, "training patches")
    p.add_argument("--augment", action="store_true",
                   help="add 8 flips/90-degree rotations x FSRCNN's copies downscaled by 0.9-0.6 (about 25x the patches)")
    p.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                   help="hold out this fraction of the images, whole, in the /val group (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split and the noise (default: 0)")
    p.add_argument("--workers", type=number(int, 1), default=1,
                   help="worker processes, at most the number of CPUs; the output is identical for any number "
                        "(default: 1)")
    p.add_argument("--shard-size", type=number(int, 1), default=0, metavar="N",
                   help="write shards OUT-00000.h5, OUT-00001.h5, ... of N training samples each, every one a "
                        "complete file (/val in shard 0) (default: one file)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run of the same command (its progress is kept in .OUT.partial "
                        "beside --out); the result is identical to an uninterrupted run")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out (or its shards) if it exists, and discard an interrupted run's progress")
    p.add_argument("--strict", action="store_true",
                   help="fail on the first unusable image (unreadable, truncated, too small, too large) instead "
                        "of skipping it")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS, metavar="N",
                   help="skip (with --strict: refuse) images of more than N pixels, unread, with one line each "
                        f"(default: {MAX_PIXELS:,} = 16384 x 16384, far above any dataset or photo)")
    return p


def config(args: argparse.Namespace) -> PrepareConfig:
    """The validated PrepareConfig of the parsed options: input kind, patch size and stride default to
    ``data_defaults(--model, first scale)``; explicit --patch-size/--stride win."""
    PrepareConfig(scales=args.scale).validate()  # a bad --scale first, before it picks defaults
    d = data_defaults(args.model, args.scale[0])
    patch = d["patch_size"] if args.patch_size is None else args.patch_size
    stride = d["stride"] if args.stride is None else args.stride
    if args.patch_size is None:  # a default never refused: raised to the model's minimum (LR input at x7+)
        probe = PrepareConfig(scales=args.scale, patch_size=patch, label_size=args.label_size, input=d["input"])
        patch = max(patch, probe.min_patch_size(args.model)[0])
    try:
        return PrepareConfig(scales=args.scale, patch_size=patch, stride=stride, label_size=args.label_size,
                             channels=args.channels, blur_sigma=args.blur_sigma, noise_sigma=args.noise_sigma,
                             augment=args.augment, val_fraction=args.val_fraction, seed=args.seed,
                             input=d["input"], max_pixels=args.max_pixels,
                             degradation=degradation(args)).validate(args.model)
    except SRCNNError as e:
        if d["input"] == "lr":
            raise SRCNNError(f"--model {args.model} takes the LR image: {e}") from None
        raise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    return run(lambda: prepare_data(args, argv), f"interrupted: nothing written to {args.out}")


def prepare_data(args: argparse.Namespace, argv: list[str]) -> int:
    """Write --out for the parsed options and print the summary; 0, or 130 when interrupted with
    progress kept (the message says how to resume)."""
    check_workers(args.workers)
    folder = args.images if args.images else resolve_set(args.set, data_root(args.data_root))
    cfg = config(args)
    paths = find_images(folder)
    try:
        summary = prepare(paths, folder, args.out, cfg, workers=args.workers, overwrite=args.overwrite,
                          strict=args.strict, command=shlex.join(["prepare_data.py", *argv]),
                          shard_size=args.shard_size, resume=args.resume, model=args.model)
    except Interrupted as e:
        again = shlex.join(["python", "prepare_data.py", *[a for a in argv if a != "--resume"], "--resume"])
        print(f"interrupted: nothing written to {args.out}; {e.done} of {e.total} images done are kept in "
              f"{e.partial}: continue with\n  {again}", file=sys.stderr)
        return 130
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
