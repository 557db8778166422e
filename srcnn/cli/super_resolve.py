"""super_resolve.py: upscale your own low-resolution images and videos with an SRCNN (or FSRCNN, ESPCN, VDSR...) model."""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import SRCNNError, check_scale, one_line
from ..files import InputFiles, remove_stale_temporaries
from .common import add_weights_options, nonempty, run
from ..images import IMAGE_EXTS, READ_EXTS, list_images, read_image, write_image
from ..inference import AUTO_TILE, check_tile
from ..weightfiles import check_weights_name
from ..precision import INFERENCE_PRECISIONS
from ..video import DEFAULT_CRF, DEFAULT_PRESET, MUXERS, is_video, list_videos, output_suffix

EXTS = ("auto", "png", "jpg", "tif", "webp")

EPILOG = """\
The input is the low-resolution image: it is upscaled with MATLAB-compatible bicubic, then the network
restores detail (SRCNN, VDSR); an LR-input model (FSRCNN, ESPCN) upscales the image itself. A Y model
(the paper's) works on the Y channel and keeps bicubic Cb/Cr; an RGB model on RGB. Greyscale stays
greyscale, alpha is upscaled and kept (an alpha that is fully opaque is dropped, and grey+alpha then
comes out grey), 16-bit in gives 16-bit out, EXIF orientation is applied. Large images are processed
in tiles; the result is the same for every --tile (with the default --precision fp32). A video (mp4,
mkv, mov, webm, avi, m4v) is upscaled frame by frame into a video (H.264 by default; needs PyAV: pip
install "srcnn[video]"): a Y model on each frame's Y plane, Cb/Cr bicubic; audio and subtitles
copied, timestamps, rotation and colour metadata kept.

examples:
  python super_resolve.py lr.bmp                      # bundled x3 weights -> lr_x3.png
  python super_resolve.py --model fsrcnn lr.bmp       # bundled FSRCNN x3 weights (clean, MATLAB-bicubic inputs)
  python super_resolve.py --model fsrcnn-real photo.jpg   # JPEG photos, noise, blur, any resize: the -real weights
  python super_resolve.py --self-ensemble lr.bmp      # 8 flips/rotations averaged: a little better, 8x slower
  python super_resolve.py --precision auto photos/    # bfloat16 where the CPU/GPU has it natively
  python super_resolve.py --checkpoint checkpoints/checkpoint.100 lr.bmp
  python super_resolve.py --scale 2 photos/ -o out/   # every image in photos/ -> out/<name>_x2.png
  python super_resolve.py --checkpoint x3.mat a.png -o a_big.png
  python super_resolve.py --sample -o demo/           # the bundled sample: lr, result, comparison
  python super_resolve.py --model fsrcnn --scale 4 --outscale 2.5 lr.png   # x4 network, then bicubic to x2.5
  python super_resolve.py --checkpoint fsrcnn_x3.onnx lr.png   # an exported model, run by onnxruntime
  python super_resolve.py photos/ -o out/ --ext jpg --suffix big --overwrite   # out/<name>_big.jpg
  python super_resolve.py --model fsrcnn clip.mp4 --crf 20   # -> clip_x3.mp4, H.264, audio copied
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="super_resolve.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Super-resolve images and videos: bicubic upscale by the scale, then the network (or the "
                    "network on the image itself for an LR-input model).")
    p.add_argument("inputs", nargs="*", metavar="INPUT", type=nonempty,
                   help="image or video files and/or folders (the images and videos directly inside; earlier "
                        "<name>_<suffix> outputs there are skipped, each named in one line)")
    add_weights_options(p)
    p.add_argument("--scale", type=int, metavar="S",
                   help="upscaling factor (default: the checkpoint's; 3 for the bundled weights)")
    p.add_argument("-o", "--output", metavar="PATH", type=nonempty,
                   help="output file (one input; its suffix must be an image format, or a video container "
                        "for a video) or folder (created if needed); default: <name>_<suffix>.<ext> beside each "
                        "input (or the current folder for --sample); a video keeps its container (.mp4 for "
                        ".avi)")
    p.add_argument("--outscale", type=float, metavar="X",
                   help="final scale of the output if it differs from the network's (e.g. 2.5, or 8 with an x4 "
                        "model): the network's result is resized with MATLAB-compatible bicubic (srcnn.imresize) "
                        "to ceil(X * the input size), as MATLAB imresize(img, X)")
    p.add_argument("--suffix", metavar="TEXT",
                   help="suffix of the default output names, <name>_<TEXT>.<ext> (default: x<scale>, or "
                        "x<outscale>); inputs in a folder whose name already ends with it are skipped")
    p.add_argument("--ext", choices=EXTS, default="png",
                   help="output format of the default names (default: png); auto = the input's format (png "
                        "for others, e.g. bmp). An image with alpha is written as png instead of jpg; a 16-bit "
                        "image needs png or tif (an error otherwise)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing outputs (without it they are refused, except the explicit -o FILE "
                        "of one input); an output that is its own input is always refused")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where the network runs (default: auto = cuda if available)")
    p.add_argument("--tile", type=int, metavar="N",
                   help=f"output tile side in pixels, bounds memory (default: automatic, "
                        f"{AUTO_TILE['cpu']} on CPU, {AUTO_TILE['cuda']} on CUDA; 0 = whole image at once)")
    p.add_argument("--self-ensemble", action="store_true",
                   help="average the network's outputs over the 8 flips/rotations of its input (each mapped "
                        "back): usually a little sharper, 8x the time")
    p.add_argument("--precision", choices=INFERENCE_PRECISIONS, default=None,
                   help="numeric path: fp32 (the default for images; float32 and MATLAB's float64 colour "
                        "arithmetic, the same result for every --tile); auto is the default for videos; the fast paths, each measured to cost <= 0.05 dB on "
                        "Set5 (benchmarks/bench_video.py), with float32 OpenCV colour conversion: ort (the "
                        "network in onnxruntime, CPU), bf16 (bfloat16 autocast, channels-last on the CPU: "
                        "faster only with native bfloat16 or on a CUDA GPU), auto (the fastest: ort on the "
                        "CPU where onnxruntime is installed, else bf16 where native, else float32 "
                        "channels-last). An .onnx model runs in float32 (bf16 refused)")
    v = p.add_argument_group("video", "encoding of video outputs (the container follows the output's suffix: "
                                      "mp4, m4v, mkv, mov, webm)")
    v.add_argument("--codec", metavar="NAME",
                   help="video encoder (default: libx264, H.264; libvpx-vp9 for .webm); any PyAV has, e.g. "
                        "libx265, libvpx-vp9, libsvtav1, ffv1")
    v.add_argument("--crf", type=int, metavar="N",
                   help=f"quality of libx264/libx265 (0..51), libvpx-vp9/libaom-av1/libsvtav1 (0..63): lower is "
                        f"better and larger; 0 = lossless (x264, x265, VP9) (default: {DEFAULT_CRF})")
    v.add_argument("--preset", metavar="NAME",
                   help=f"libx264/libx265 speed preset, ultrafast .. veryslow, placebo: slower is smaller at "
                        f"the same quality (default: {DEFAULT_PRESET})")
    p.add_argument("--sample", action="store_true",
                   help="super-resolve the bundled test chart: writes sample_lr.png, sample_x<scale>.png "
                        "and sample_compare.png (bicubic | model | original)")
    return p


def _is_file_target(out: Path, n_inputs: int) -> bool:
    """-o names a file: one input and a name with a suffix that is not an existing folder. An unknown
    image suffix (out.gif, out.txt) is an error, not a folder."""
    if n_inputs != 1 or out.is_dir() or not out.suffix:
        return False
    if out.suffix.lower() not in IMAGE_EXTS | MUXERS.keys():
        raise SRCNNError(f"{out}: unknown image suffix {out.suffix!r} for the output file (use one of "
                         f"{', '.join(sorted(IMAGE_EXTS))}; for a video {', '.join(sorted(MUXERS))}; for a "
                         "folder, create it first)")
    return True


def default_suffix(scale: int, outscale: float | None) -> str:
    """x3, or x2.5 / x8 for --outscale."""
    return f"x{scale}" if outscale is None else f"x{outscale:g}"


def output_ext(src: Path, ext: str) -> str:
    """The suffix of a default output name for --ext (auto: the input's format when writable, else png)."""
    if ext == "auto":
        s = src.suffix.lower()
        return s if s in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp") else ".png"
    return f".{ext}"


def plan(inputs: list[str], output: str | None, scale: int, suffix: str | None = None, ext: str = "png"):
    """(items, files, skipped): items [(input, output path or None, problem or None, explicit)] for every
    image to do (explicit: the output is the -o FILE of a single input); files, the run's inputs
    (srcnn.files.InputFiles: no output may be one of them); skipped, one line per file of a folder that
    is left out (an earlier output, a FIFO, a dangling link)."""
    suffix = suffix or f"x{scale}"
    items, sources, skipped = [], [], []
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            found = [f for f in sorted(list_images(p, recursive=False) + list_videos(p))
                     if not f.stem.endswith(f"_{suffix}")]
            skipped += _skipped_in(p, found, suffix)
            if not found:
                items.append((p, None, f"{p}: no images or videos in this folder", False))
            sources += found
        else:
            sources.append(p)
    single = output is not None and not any(Path(a).is_dir() for a in inputs) and _is_file_target(
        Path(output), len(sources))
    if output is not None and not single:
        out_dir = Path(output)
        if out_dir.exists() and not out_dir.is_dir():
            raise SRCNNError(f"{out_dir}: exists and is not a folder (with several inputs -o is a folder)")
        if out_dir.suffix.lower() in IMAGE_EXTS | MUXERS.keys() and not out_dir.exists():
            raise SRCNNError(f"{out_dir}: -o names a file but there are {len(sources)} inputs; give a folder")
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SRCNNError(f"{out_dir}: cannot create the output folder ({one_line(e)})") from None
    taken, files = {}, InputFiles(sources)
    for src in sources:
        if single:
            dst = Path(output)
        else:
            ext_ = output_suffix(src) if is_video(src) else output_ext(src, ext)
            dst = (Path(output) if output is not None else src.parent) / f"{src.stem}_{suffix}{ext_}"
        problem = _overwrites_input(src, dst, files)
        if problem is None and is_video(src) != is_video(dst):
            kind = "a video needs a video" if is_video(src) else "an image needs an image"
            problem = f"{src}: {kind} output, not {dst}"
        elif problem is None and dst.resolve() in taken:
            problem = f"{src}: the output {dst} is already the output of {taken[dst.resolve()]}"
        elif problem is None:
            taken[dst.resolve()] = src
        items.append((src, dst, problem, single))
    return items, files, skipped


def _skipped_in(folder: Path, found: list[Path], suffix: str) -> list[str]:
    """One line per visible file of ``folder`` with an image suffix that is not among ``found``: why it is
    left out. (Hidden files, ".name", are never inputs: temporaries, macOS "._" files.)"""
    lines, chosen = [], set(found)
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in READ_EXTS or p in chosen:
            continue
        if p.is_symlink() and not p.exists():
            why = "a dangling symbolic link"
        elif p.is_dir():
            why = "a folder"
        elif not p.is_file():
            why = "not a regular file (a FIFO, socket or device)"
        elif p.stem.endswith(f"_{suffix}"):
            why = (f"its name ends with _{suffix}, as this run's outputs do (give the file itself, or another "
                   "--suffix, to include it)")
        else:
            why = "not an input"
        lines.append(f"skipped {p}: {why}")
    return lines


def _overwrites_input(src: Path, dst: Path, inputs: InputFiles) -> str | None:
    """The problem line when the output ``dst`` of ``src`` is an input of the run (``src`` itself or another,
    a hard or symbolic link to one included), else None."""
    hit = inputs.find(dst)
    if hit is None:
        return None
    return f"{src}: the output {dst} would overwrite the input" + ("" if hit[0] == src else f" {hit[0]}")


def clean_stale_temporaries(items) -> int:
    """Remove the temporary files (srcnn.files.remove_stale_temporaries) a killed earlier run left beside
    the outputs planned now (only those of these output names); returns how many."""
    return remove_stale_temporaries(d for _, dst, _, _ in items if dst is not None
                                    for d in (dst, dst.with_suffix(".png")))


def final_path(src: Path, dst: Path, img: np.ndarray, ext: str, explicit: bool, overwrite: bool,
               inputs: InputFiles | None = None) -> Path:
    """The output path for this image: a jpg becomes png for an image with alpha (default names only);
    SRCNNError for 16 bits into jpg/webp, an input of the run (``inputs``; else the input itself; checked
    after the png rewrite), or an existing file without --overwrite."""
    suffix = dst.suffix.lower()
    if not explicit and img.ndim == 3 and img.shape[2] == 4 and suffix in (".jpg", ".jpeg"):
        dst = dst.with_suffix(".png")        # alpha forces png
    suffix = dst.suffix.lower()
    if img.dtype == np.uint16 and suffix not in (".png", ".tif", ".tiff"):
        fix = "a .png or .tif output" if explicit else "--ext png or tif"
        raise SRCNNError(f"{src}: a 16-bit image cannot be written as {suffix} ({dst}); use {fix}")
    problem = _overwrites_input(src, dst, inputs if inputs is not None else InputFiles(src))
    if problem:
        raise SRCNNError(problem)
    if dst.exists() and not overwrite and not explicit:
        raise SRCNNError(f"{src}: the output {dst} exists; pass --overwrite to replace it")
    return dst


def drop_opaque_alpha(img: np.ndarray) -> np.ndarray:
    """``img`` without its alpha channel when that is fully opaque (a GIF or PNG decoded with an alpha it
    does not use): no RGBA output for an image without transparency; grey (R = G = B, e.g. a grey+alpha
    PNG) comes back grey."""
    if img.ndim != 3 or img.shape[2] != 4 or not (img[:, :, 3] == np.iinfo(img.dtype).max).all():
        return img
    rgb = img[:, :, :3]
    grey = (rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 1] == rgb[:, :, 2]).all()
    return np.ascontiguousarray(rgb[:, :, 0] if grey else rgb)


def resize_to(img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """MATLAB-compatible bicubic resize of a uint8/uint16 image to (H, W), same dtype and layout."""
    from ..resize import imresize
    if img.shape[:2] == tuple(shape):
        return img
    if img.dtype == np.uint8:
        return imresize(img, output_shape=shape)          # rounded after each pass, as MATLAB
    top = np.iinfo(img.dtype).max
    out = imresize(img.astype(np.float64) / top, output_shape=shape)
    return np.floor(np.clip(out, 0.0, 1.0) * top + 0.5).astype(img.dtype)


def outscale_shape(hw: tuple[int, int], outscale: float) -> tuple[int, int]:
    """The output size for --outscale: ceil(outscale * side), as MATLAB imresize(img, outscale)."""
    return tuple(max(1, math.ceil(n * outscale - 1e-9)) for n in hw)


def _tty() -> bool:
    return sys.stderr.isatty()


def run_sample(sr_model, output: str | None) -> None:
    """The bundled test chart through ``sr_model`` (a srcnn.api.SuperResolver)."""
    from ..color import rgb2y
    from ..evaluation import side_by_side
    from ..protocol import score
    from ..resize import imresize
    from ..sample import sample_image, sample_lr

    out = Path(output) if output else Path.cwd()
    if out.exists() and not out.is_dir():
        raise SRCNNError(f"{out}: exists and is not a folder (--sample writes three files into -o)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SRCNNError(f"{out}: cannot create the output folder ({one_line(e)})") from None
    scale, method = sr_model.scale, sr_model.name + ("+se" if sr_model.ensemble else "")
    hr = sample_image()
    try:
        lr = sample_lr(scale)
    except ValueError as e:
        raise SRCNNError(f"--sample: {e}") from None
    sr = sr_model(lr)
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
    return run(lambda: super_resolve_files(args),
               "interrupted (finished files are complete; nothing is half-written)")


def out_of_memory(e: BaseException, img: np.ndarray, tile: int | None) -> str:
    """Why ``sr(img)`` failed to allocate, suggesting --tile only where tiling helps. The network (and
    the bicubic regions it reads) works one tile at a time, so a torch error or a small numpy array is
    the tile's; numpy's MemoryError names its array's shape, and one with at least the input's pixels
    is a whole-image array (the float copy, the colour planes, the output), which no tile shrinks."""
    msg = one_line(e)
    shape = getattr(e, "shape", None)
    h, w = img.shape[:2]
    if isinstance(e, MemoryError) and shape is not None and tile != 0 and math.prod(shape[:2]) >= h * w:
        return (f"out of memory for the whole-image arrays of this {w}x{h} image ({msg}); the network "
                f"already runs in tiles, so a smaller --tile does not help: free memory or split the image")
    if tile == 0:
        return f"out of memory or device error ({msg}); try --tile {AUTO_TILE['cpu']} (0 runs the image in one pass)"
    return f"out of memory or device error ({msg}); try a smaller --tile"


def super_resolve_video(sr, src: Path, dst: Path, args: argparse.Namespace, say) -> None:
    """One video input through ``sr.video`` (srcnn.video), with a progress bar on a terminal."""
    if args.outscale is not None:
        raise SRCNNError(f"{src}: --outscale is for images, not videos")
    r = sr.video(src, dst, codec=args.codec, crf=args.crf, preset=args.preset, overwrite=args.overwrite,
                 progress=_tty(), precision=args.precision or "auto")
    (w, h), (w2, h2) = r.size, r.out_size
    say(f"{src} -> {dst}  ({w}x{h} -> {w2}x{h2}, {r.frames} frames, {r.codec}, {r.seconds:.1f} s, "
        f"{r.frames / max(r.seconds, 1e-9):.1f} frames/s)")
    sys.stdout.flush()


def check_options(args: argparse.Namespace) -> None:
    """The options that need no model or input: SRCNNError for the first bad one."""
    check_tile(args.tile)
    if args.scale is not None:
        check_scale(args.scale, "--scale")
    if args.outscale is not None and not (0 < args.outscale <= 64):
        raise SRCNNError(f"--outscale {args.outscale:g}: must be a number in (0, 64]")
    if args.suffix is not None and (not args.suffix or any(c in args.suffix for c in "/\\")):
        raise SRCNNError(f"--suffix {args.suffix!r}: must be non-empty text without a path separator")
    if args.model is not None:
        check_weights_name(args.model)
    if args.sample and (args.outscale is not None or args.suffix or args.ext != "png" or args.overwrite
                        or args.codec or args.crf is not None or args.preset):
        raise SRCNNError("--sample writes its three fixed files; --outscale, --suffix, --ext, --overwrite "
                         "and the video options are for input images and videos")


def super_resolve_image(sr, src: Path, dst: Path, explicit: bool, inputs, args: argparse.Namespace, say,
                        t0: float) -> None:
    """One image input: read, super-resolve (then --outscale), write atomically, say what was written."""
    img = drop_opaque_alpha(read_image(src))
    dst = final_path(src, dst, img, args.ext, explicit, args.overwrite, inputs)
    try:
        out = sr(img)
    except SRCNNError as e:
        raise SRCNNError(f"{src}: {e}") from None
    except (MemoryError, RuntimeError) as e:  # allocation failures (CPU or CUDA)
        raise SRCNNError(f"{src}: {out_of_memory(e, img, args.tile)}") from None
    h, w = img.shape[:2]
    if args.outscale is not None:
        out = resize_to(out, outscale_shape((h, w), args.outscale))
    write_image(dst, out)
    say(f"{src} -> {dst}  ({w}x{h} -> {out.shape[1]}x{out.shape[0]}, "
        f"{'16' if out.dtype == np.uint16 else '8'}-bit, {time.time() - t0:.1f} s)")
    sys.stdout.flush()


def summary(done: int, failures: list[str], skipped: list[str], t_start: float) -> int:
    """Print the run's summary (several inputs) and its failures again; the exit code: 0, or 2."""
    total = done + len(failures)
    if total > 1:
        dt = max(time.time() - t_start, 1e-9)
        print(f"done: {done} of {total} image(s) in {dt:.1f} s ({done / dt:.2f} images/s), "
              f"{len(failures)} failed" + (f", {len(skipped)} file(s) skipped" if skipped else ""))
    if failures:
        print(f"\n{len(failures)} of {total} input(s) failed:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 2
    return 0


def super_resolve_files(args: argparse.Namespace) -> int:
    """Check the options, load the model, write every output (or the --sample files) and print the
    summary; 0, or 2 when an input failed (each failure one "error:" line, listed again at the end)."""
    failures, done = [], 0
    t_start = time.time()
    bar = None
    try:
        check_options(args)
        from ..api import load
        sr = load(Path(args.checkpoint) if args.checkpoint else (args.model or "srcnn"), scale=args.scale,
                  device=args.device, tile=args.tile, ensemble=args.self_ensemble, precision=args.precision or "fp32",
                  trust_code=args.trust_code)
        scale, method = sr.scale, sr.name + ("+se" if args.self_ensemble else "")
        if args.sample:
            run_sample(sr, args.output)
            return 0
        suffix = args.suffix or default_suffix(scale, args.outscale)
        items, inputs, skipped = plan(args.inputs, args.output, scale, suffix, args.ext)
        if (args.codec or args.crf is not None or args.preset) and not any(is_video(i[0]) for i in items):
            raise SRCNNError("--codec, --crf and --preset are for video inputs, and there are none")
        stale = clean_stale_temporaries(items)
        print(f"model: {method} x{scale} ({sr.meta.get('path')}), device {sr.device}"
              + (f", numeric {sr.path.name} ({sr.path.reason})" if args.precision not in (None, "fp32") else "")
              + (f", output x{args.outscale:g} (bicubic after the network)" if args.outscale is not None else ""))
        if stale:
            print(f"removed {stale} temporary file(s) left by an interrupted earlier run")
        for line in skipped:
            print(line)
        if len(items) > 1 and _tty():
            from tqdm import tqdm
            bar = tqdm(total=len(items), unit="img", file=sys.stderr, dynamic_ncols=True)
        say = bar.write if bar is not None else print
        for src, dst, problem, explicit in items:
            try:
                if problem:
                    raise SRCNNError(problem)
                t0 = time.time()
                if is_video(src):
                    super_resolve_video(sr, src, dst, args, say)
                    done += 1
                    continue
                super_resolve_image(sr, src, dst, explicit, inputs, args, say, t0)
                done += 1
            except SRCNNError as e:
                if bar is not None:
                    bar.write(f"error: {e}", file=sys.stderr)
                else:
                    print(f"error: {e}", file=sys.stderr, flush=True)
                failures.append(str(e))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(failed=len(failures), refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return summary(done, failures, skipped, t_start)


if __name__ == "__main__":
    sys.exit(main())
