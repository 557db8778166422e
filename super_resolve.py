#!/usr/bin/env python
"""Super-resolve images with SRCNN. See `python super_resolve.py --help`."""
import sys

from srcnn.cli.super_resolve import main

if __name__ == "__main__":
    sys.exit(main())
