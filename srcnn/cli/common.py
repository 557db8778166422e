"""What every command line shares: ``run`` (the error, Ctrl-C and SIGTERM policy of every CLI), argparse
types (``number``, ``scale_list``, ``image_size``, ``nonempty``, ``nonempty_list``), ``check_workers`` and the
weights options of evaluate.py / super_resolve.py.

Values are checked at the edge: an empty file name, set name or list is refused by its argparse type
(never "not given", "the current folder" or "nothing to do"), a count by its range."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from contextlib import contextmanager
from typing import Callable

from ..errors import SRCNNError, check_number, check_scale, one_line


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt (see ``run``): every ``finally`` and every writer's
    cleanup (srcnn.files.atomic_path removes its temporary) runs before the process exits with 143."""


def run(work: Callable[[], int], interrupted: str = "interrupted", prefix: str = "") -> int:
    """``work()``'s exit code; an SRCNNError is one line "error: PREFIX MESSAGE" on stderr and exit 2,
    Ctrl-C (KeyboardInterrupt) the line ``interrupted`` on stderr and exit 130, SIGTERM the same line and
    exit 143 (it raises ``Terminated`` while ``work`` runs, so nothing is left half-written). An OSError
    that no check before it caught (a name over 255 bytes, an I/O error, a full disk) is the same one
    line, naming the file and the system's reason, exit 2."""
    try:
        with _sigterm_raises():
            return work()
    except SRCNNError as e:
        print(f"error: {prefix}{e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {prefix}{os_error(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(interrupted, file=sys.stderr)
        return 128 + signal.SIGTERM if isinstance(e, Terminated) else 130


@contextmanager
def _sigterm_raises():
    """While the block runs (main thread only), SIGTERM raises ``Terminated`` in this process; a process
    forked meanwhile (a data loader worker) still dies of it at once. The handler before is restored."""
    pid = os.getpid()

    def handler(signum, frame):
        if os.getpid() != pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated()
    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def os_error(e: OSError) -> SRCNNError:
    """An OSError as one line: "FILE: REASON" (both files of a failed rename; the reason:
    srcnn.errors.one_line), control characters escaped (srcnn.errors.SRCNNError)."""
    names = [str(n) for n in (e.filename, e.filename2) if n is not None]
    reason = one_line(e)
    return SRCNNError(f"{' -> '.join(names)}: {reason}" if names else reason)


def scale_list(check: bool = True):
    """An argparse ``type``: "3" or "2,3,4" -> (2, 3, 4). Every comma-separated item must be an integer
    (an empty item is refused) and, with ``check``, a scale (srcnn.errors.check_scale: 2..255).
    prepare_data.py passes check=False: its PrepareConfig checks the range and repeats, as one error line."""
    def parse(text):
        try:
            scales = tuple(int(s) for s in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected integers like 3 or 2,3,4, got {text!r}") from None
        try:
            return tuple(check_scale(s) for s in scales) if check else scales
        except SRCNNError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def image_size(minimum: int = 1):
    """An argparse ``type``: "WxH" (e.g. 128x128, "X" too) -> (w, h), each a whole number >= ``minimum``."""
    def parse(text):
        w, x, h = text.lower().partition("x")
        if not (x and w.isdigit() and h.isdigit() and int(w) >= minimum and int(h) >= minimum):
            raise argparse.ArgumentTypeError(f"expected WxH with whole numbers >= {minimum} (e.g. 128x128), "
                                             f"got {text!r}")
        return int(w), int(h)
    return parse


def number(kind=float, lo=None, hi=None, *, lo_open: bool = False, hi_open: bool = False, unit: str = ""):
    """An argparse ``type``: text -> ``kind`` (int or float), finite and in lo..hi (see
    srcnn.errors.check_number; "inf", "nan" and "1e400" are refused with the allowed range)."""
    def parse(text):
        try:
            v = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        try:
            return check_number("the value", v, lo, hi, lo_open=lo_open, hi_open=hi_open, unit=unit)
        except SRCNNError as e:
            raise argparse.ArgumentTypeError(str(e).replace("the value must be", "must be", 1)) from None
    parse.__name__ = kind.__name__  # argparse's "invalid float value" wording for unparsable text
    return parse


def nonempty(text: str) -> str:
    """An argparse ``type``: the text unchanged, refused when empty or blank ('' is not "not given" nor
    "the current folder")."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must not be empty, got {text!r}")
    return text


def nonempty_list(text: str) -> str:
    """An argparse ``type``: a comma-separated list of names ("Set5,Set14"), unchanged; refused when it or
    any item is empty ("", ",", "Set5,")."""
    if not all(item.strip() for item in text.split(",")):
        raise argparse.ArgumentTypeError(f"expected names separated by commas, none empty, got {text!r}")
    return text


def check_workers(n: int, default: int = 1, option: str = "--workers") -> None:
    """SRCNNError for more worker processes than this machine's CPUs (os.cpu_count()): they only wait for
    each other, and each costs its start-up (64 workers took 104 s for 4 images). Checked when the command
    runs, not by argparse, so that a command written for a larger machine still parses; the option's
    ``default`` is always allowed."""
    cpus = os.cpu_count() or 1
    if n > max(cpus, default):
        raise SRCNNError(f"{option} {n}: more than the {cpus} CPU(s) of this machine; extra workers only wait "
                         f"for each other (use at most {cpus})")


def add_weights_options(p: argparse.ArgumentParser, every: bool = False) -> None:
    """--checkpoint FILE | --model NAME (mutually exclusive): which weights evaluate.py / super_resolve.py
    run; with ``every``, --model also takes 'all'."""
    from ..weightfiles import bundled_names
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", metavar="FILE", type=nonempty,
                       help="a train.py checkpoint (checkpoint.N), exported weights (.pt), an exported .onnx "
                            "(run by onnxruntime) or .ts, or the authors' MATLAB x<s>.mat "
                            "(default: the bundled srcnn/weights/srcnn_x<scale>.pt)")
    all_text = ("; several comma-separated (fsrcnn,fsrcnn-real) are scored side by side; 'all' = every "
                "bundled model, skipping those without weights for a scale") if every else ""
    which.add_argument("--model", metavar="NAME[,NAME...]" if every else "NAME", type=nonempty,
                       help="the bundled weights of this model for the scale, srcnn/weights/<NAME>_x<s>.pt (or a "
                            f"multi-scale <NAME>_x2-3-4.pt){all_text} (bundled now: "
                            f"{', '.join(bundled_names()) or 'none'}). The plain names (srcnn, fsrcnn, espcn) expect "
                            "the paper's inputs: clean images downscaled with MATLAB's antialiased bicubic; for "
                            "real photos (JPEG, noise, blur, any resize) use the -real ones; default srcnn")
    p.add_argument("--trust-code", action="store_true",
                   help="run a TorchScript --checkpoint (.ts): it holds code, which runs with your rights, so "
                        "only for a file you trust (refused without this; a warning says it runs)")


def add_degradation_options(p: argparse.ArgumentParser, what: str) -> None:
    """--degradation and the ranges of the "real" one (srcnn.degradation), for prepare_data.py and
    evaluate.py; ``degradation(args)`` reads them back."""
    from ..degradation import KERNELS, RealDegradation
    d = RealDegradation()
    g = p.add_argument_group("degradation", f"how the low-resolution {what} are made")
    g.add_argument("--degradation", choices=("bicubic", "real"), default="bicubic",
                   help="bicubic: the paper's (MATLAB bicubic of a clean image; what the clean bundled models "
                        "expect); real: a random blur, downscaling kernel, noise and JPEG per image, as real "
                        "photos have them (the -real models' data) (default: bicubic)")
    g.add_argument("--blur-range", type=_range(False), metavar="LO,HI",
                   help=f"--degradation real: Gaussian blur sigma in HR pixels, isotropic or anisotropic "
                        f"(default: {d.blur[0]:g},{d.blur[1]:g})")
    g.add_argument("--noise-range", type=_range(False), metavar="LO,HI",
                   help=f"--degradation real: Gaussian noise sigma in grey levels of 255, grey or colour "
                        f"(default: {d.noise[0]:g},{d.noise[1]:g})")
    g.add_argument("--jpeg-range", type=_range(True), metavar="LO,HI",
                   help=f"--degradation real: JPEG quality, whole numbers in 1..100 (default: {d.jpeg[0]},{d.jpeg[1]})")
    g.add_argument("--kernels", type=lambda t: tuple(t.split(",")), metavar="K[,K...]",
                   help=f"--degradation real: downscaling kernels drawn from, of {', '.join(KERNELS)} "
                        f"(default: all)")


def _range(whole: bool):
    from ..degradation import parse_range

    def parse(text):
        try:
            return parse_range(text, whole)
        except ValueError:
            kind = "whole numbers" if whole else "numbers"
            raise argparse.ArgumentTypeError(f"expected LOW,HIGH {kind} (e.g. {'30,95' if whole else '0,25'}), "
                                             f"got {text!r}") from None
    return parse


_RANGE_OPTIONS = (("blur", "blur_range"), ("noise", "noise_range"), ("jpeg", "jpeg_range"), ("kernels", "kernels"))


def degradation(args: argparse.Namespace):
    """The RealDegradation of the parsed options (validated), or None for --degradation bicubic; a range
    given with bicubic is refused (it would be silently ignored)."""
    from ..degradation import RealDegradation
    given = {field: getattr(args, attr) for field, attr in _RANGE_OPTIONS if getattr(args, attr) is not None}
    if args.degradation == "bicubic":
        if given:
            attr = next(attr for field, attr in _RANGE_OPTIONS if field in given)
            raise SRCNNError(f"--{attr.replace('_', '-')} is an option of --degradation real")
        return None
    return RealDegradation(**given).validate()
