#!/usr/bin/env python
"""Train SRCNN from a prepare_data.py HDF5 file; resume, inspect or export a checkpoint. See `python train.py --help`."""
import sys

from srcnn.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
