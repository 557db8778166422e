"""srcnn: single-image super-resolution (SRCNN and successors) with the paper's protocol.

    import srcnn
    sr = srcnn.load("fsrcnn", scale=3)   # bundled weights by name, or a checkpoint / .pt / .mat / .onnx path
    out = sr(img)                         # numpy (H,W[,C]) uint8/uint16 -> (3H,3W[,C]) same dtype; tensors too
    out = srcnn.upscale(img, scale=3)     # the bundled SRCNN in one call
    srcnn.list_models()                   # bundled weights: name, scale, parameters, Set5 PSNR

Also: create_model (the architectures, timm-style), imresize (MATLAB-compatible bicubic), rgb2ycbcr,
psnr, ssim, evaluate_set (the paper's protocol), SRCNNError. Names are imported on first use, so
``import srcnn`` does not import torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAZY = {
    "load": "api", "upscale": "api", "list_models": "api", "create_model": "api", "SuperResolver": "api",
    "imresize": "resize", "rgb2ycbcr": "color", "ycbcr2rgb": "color", "psnr": "metrics", "ssim": "metrics",
    "evaluate_set": "evaluation", "SRCNNError": "errors", "read_image": "images", "write_image": "images",
}
__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on first use
    from .api import SuperResolver, create_model, list_models, load, upscale  # noqa: F401
    from .color import rgb2ycbcr, ycbcr2rgb  # noqa: F401
    from .errors import SRCNNError  # noqa: F401
    from .evaluation import evaluate_set  # noqa: F401
    from .images import read_image, write_image  # noqa: F401
    from .metrics import psnr, ssim  # noqa: F401
    from .resize import imresize  # noqa: F401


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'srcnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
