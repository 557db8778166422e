"""The SRCNN authors' released MATLAB weights (SRCNN_v1 ``model/<net>/x<s>.mat``) as an SRCNN module.

Layout of the .mat (float64): weights_conv1 (f1*f1, n1), biases_conv1 (n1, 1),
weights_conv2 (n1, f2*f2, n2) [or 2-D (n1, n2) when f2 = 1], biases_conv2 (n2, 1),
weights_conv3 (n2, f3*f3), biases_conv3 (1, 1).

The authors run every layer as MATLAB ``imfilter(x, k, 'same', 'replicate')``: a correlation (what
PyTorch's conv2d computes) with replicate padding, each f x f kernel being the column-major reshape
of its f*f column; ReLU after layers 1 and 2. So the model is ``SRCNN(..., padding="replicate")``
with ``weight[o, i] = reshape(column, (f, f), order="F")``. Input: Y in [0,1] (one channel).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch

from .errors import SRCNNError, check_scale
from .files import regular_file
from .models import SRCNN

_KEYS = ("weights_conv1", "biases_conv1", "weights_conv2", "biases_conv2", "weights_conv3", "biases_conv3")


def _side(n: int, what: str, path) -> int:
    f = math.isqrt(n)
    if f * f != n or f % 2 == 0:
        raise SRCNNError(f"{path}: {what} has {n} taps, not an odd square (f*f)")
    return f


def _kernel(column: np.ndarray, f: int) -> np.ndarray:
    """An f*f column -> (f, f) kernel, column-major like MATLAB's reshape."""
    return np.reshape(column, (f, f), order="F")


def load_official(path) -> tuple[SRCNN, dict]:
    """Read the authors' .mat into ``SRCNN(f1, f2, f3, n1, n2, channels=1, padding="replicate")``.

    Returns (model in eval mode on the CPU, float32; meta). meta has "format" ("matlab-srcnn"), "path",
    "model" (= model.config()), "channels" ("y"), "scale" (from the file name ``x<s>.mat``, else None)
    and "name" (e.g. "SRCNN 9-5-5 (authors)").
    """
    path = Path(path)
    try:
        import scipy.io
    except ImportError:
        raise SRCNNError(f"{path}: reading the authors' .mat weights needs scipy: "
                         "install scipy (pip install srcnn[mat])") from None
    regular_file(path, "file")  # missing, a folder, FIFO or device
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # scipy raises ValueError, TypeError, MatReadError... for foreign files
        raise SRCNNError(f"{path}: not a readable MATLAB .mat file ({type(e).__name__}: {e})") from None
    missing = [k for k in _KEYS if k not in mat]
    if missing:
        raise SRCNNError(f"{path}: not an SRCNN weight file (missing {', '.join(missing)})")
    arrays = []
    for k in _KEYS:  # numbers, finite: a hand-made file may hold text, structs or NaN there
        a = np.asarray(mat[k])
        if a.dtype.kind not in "fiu" or a.size == 0:
            what = "text" if a.dtype.kind in "SU" else "no values" if a.size == 0 else f"{a.dtype} data"
            raise SRCNNError(f"{path}: {k} holds {what}, not real numbers")
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise SRCNNError(f"{path}: {k} holds NaN or infinite values")
        arrays.append(a)
    w1, b1, w2, b2, w3, b3 = arrays

    try:
        if w1.ndim != 2:
            raise ValueError(f"weights_conv1 has shape {w1.shape}, expected (f1*f1, n1)")
        f1, n1 = _side(w1.shape[0], "weights_conv1", path), w1.shape[1]
        if w2.ndim == 2:  # f2 = 1 may be saved as (n1, n2)
            w2 = w2[:, None, :]
        if w2.ndim != 3 or w2.shape[0] != n1:
            raise ValueError(f"weights_conv2 has shape {w2.shape}, expected ({n1}, f2*f2, n2)")
        f2, n2 = _side(w2.shape[1], "weights_conv2", path), w2.shape[2]
        if w3.ndim != 2 or w3.shape[0] != n2:
            raise ValueError(f"weights_conv3 has shape {w3.shape}, expected ({n2}, f3*f3)")
        f3 = _side(w3.shape[1], "weights_conv3", path)
        for b, n, name in ((b1, n1, "biases_conv1"), (b2, n2, "biases_conv2"), (b3, 1, "biases_conv3")):
            if b.size != n:
                raise ValueError(f"{name} has {b.size} values, expected {n}")
    except ValueError as e:
        raise SRCNNError(f"{path}: {e}") from None

    model = SRCNN(f1=f1, f2=f2, f3=f3, n1=n1, n2=n2, channels=1, padding="replicate")
    k1 = np.stack([_kernel(w1[:, o], f1) for o in range(n1)])[:, None]                 # (n1, 1, f1, f1)
    k2 = np.stack([np.stack([_kernel(w2[i, :, o], f2) for i in range(n1)]) for o in range(n2)])  # (n2, n1, f2, f2)
    k3 = np.stack([_kernel(w3[i, :], f3) for i in range(n2)])[None]                    # (1, n2, f3, f3)
    with torch.no_grad():
        for conv, k, b in ((model.conv1, k1, b1), (model.conv2, k2, b2), (model.conv3, k3, b3)):
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(k)))
            conv.bias.copy_(torch.from_numpy(b.reshape(-1)))
    model.eval()

    m = re.fullmatch(r"x(\d+)\.mat", path.name, flags=re.IGNORECASE)
    scale = check_scale(int(m.group(1)), f"{path}: the scale in the file name") if m else None
    meta = {"format": "matlab-srcnn", "path": str(path), "model": model.config(), "channels": "y",
            "scale": scale, "name": f"SRCNN {f1}-{f2}-{f3} (authors)"}
    return model, meta
