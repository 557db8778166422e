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

# Groups and datasets (shapes and dtypes in docs/formats.md):
TRAIN = "train"  # /train/{lr,hr,scale}: the training patches; attribute "count"
VAL = "val"      # /val/<n>/{hr,lr_x<s>}: held-out whole images; attribute "name"
LR, HR, SCALE = "lr", "hr", "scale"  # datasets of /train; HR is also the ground truth of each /val image
# LR ("lr", and /val's lr_x<s>) holds the network input, whatever the name says: the LR image only for
# input "lr"; for input "upscaled" (SRCNN) the LR image bicubic-upscaled to HR size.


def val_input(scale: int) -> str:
    """Name of a /val image's network input at ``scale`` ("lr_x3")."""
    return f"lr_x{scale}"
