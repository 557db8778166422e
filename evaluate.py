#!/usr/bin/env python
"""PSNR/SSIM of a model and bicubic on test sets (the paper's protocol). See `python evaluate.py --help`."""
import sys

from srcnn.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
