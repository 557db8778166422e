"""Command-line entry points; the top-level scripts call ``main()`` of these modules."""
from __future__ import annotations

import argparse

from ..errors import SRCNNError, check_number


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


def add_weights_options(p: argparse.ArgumentParser, every: bool = False) -> None:
    """--checkpoint FILE | --model NAME (mutually exclusive): which weights evaluate.py / super_resolve.py
    run; with ``every``, --model also takes 'all'."""
    from ..inference import bundled_names
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", metavar="FILE",
                       help="a train.py checkpoint (checkpoint.N), exported weights (.pt), an exported .onnx "
                            "(run by onnxruntime) or .ts, or the authors' MATLAB x<s>.mat "
                            "(default: the bundled srcnn/weights/srcnn_x<scale>.pt)")
    all_text = "; 'all' = every bundled model, skipping those without weights for a scale" if every else ""
    which.add_argument("--model", metavar="NAME",
                       help="the bundled weights of this model for the scale, srcnn/weights/<NAME>_x<s>.pt (or a "
                            f"multi-scale <NAME>_x2-3-4.pt){all_text} (bundled now: "
                            f"{', '.join(bundled_names()) or 'none'}); default srcnn")
