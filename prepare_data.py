#!/usr/bin/env python
"""Cut HR images into SRCNN training patches (HDF5). See `python prepare_data.py --help`."""
import sys

from srcnn.cli.prepare import main

if __name__ == "__main__":
    sys.exit(main())
