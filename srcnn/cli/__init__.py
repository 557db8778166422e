"""Command-line entry points; the top-level scripts call ``main()`` of these modules."""
from __future__ import annotations

import argparse


def add_weights_options(p: argparse.ArgumentParser, every: bool = False) -> None:
    """--checkpoint FILE | --model NAME (mutually exclusive): which weights evaluate.py / super_resolve.py
    run; with ``every``, --model also takes 'all'."""
    from ..inference import bundled_names
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", metavar="FILE",
                       help="a train.py checkpoint (checkpoint.N) or the authors' MATLAB x<s>.mat "
                            "(default: the bundled srcnn/weights/srcnn_x<scale>.pt)")
    all_text = "; 'all' = every bundled model, skipping those without weights for a scale" if every else ""
    which.add_argument("--model", metavar="NAME",
                       help="the bundled weights of this model for the scale, srcnn/weights/<NAME>_x<s>.pt (or a "
                            f"multi-scale <NAME>_x2-3-4.pt){all_text} (bundled now: "
                            f"{', '.join(bundled_names()) or 'none'}); default srcnn")
