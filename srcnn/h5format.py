"""The "srcnn-patches" HDF5 file: the names that its writer (srcnn.prepare) and its reader
(srcnn.data) both spell. The layout itself (groups, datasets, attributes) is described in
docs/formats.md.

A file is recognised by its root attributes ``format`` == FORMAT and ``format_version`` ==
FORMAT_VERSION; its ``input`` attribute is one of INPUTS (absent: "upscaled", files written before
LR-input models existed).
"""
from __future__ import annotations

FORMAT = "srcnn-patches"
FORMAT_VERSION = 1
INPUTS = ("upscaled", "lr")  # network input: bicubic-upscaled LR image (SRCNN, VDSR) or the LR image
