"""The paper's evaluation protocol (SRCNN, and the SR literature after it).

1. modcrop the HR image to a multiple of the scale;
2. take Y of MATLAB rgb2ycbcr as uint8, then /255 (a greyscale image is its own Y);
3. degrade: MATLAB-bicubic down by 1/scale (an LR-input model takes this), then up by scale, in float;
4. the method's output is quantised like MATLAB ``uint8(y * 255)``;
5. PSNR and SSIM on Y in [0, 255] with ``scale`` pixels shaved from every border.
"""
from __future__ import annotations

import numpy as np

from .color import rgb2y
from .imresize import imresize, matlab_round, modcrop
from .metrics import psnr, ssim


def hr_y(img: np.ndarray, scale: int) -> np.ndarray:
    """Ground-truth luminance: (H,W[,C]) uint8 image -> (H',W') float64 in [0,1], H' = H - H % scale."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError(f"hr_y expects a uint8 image, got {img.dtype}")
    return rgb2y(modcrop(img, scale)).astype(np.float64) / 255.0


def degrade(x: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The degradation, both halves: (H,W[,C]) float in [0,1] -> (lr, bicubic), float64, unclipped:
    lr (H/s,W/s[,C]) = MATLAB-bicubic down by 1/scale (the input of an LR-input model), bicubic (H,W[,C])
    = lr MATLAB-bicubic back up (the baseline, and the input of an upscaled-input model).
    H and W must be multiples of the scale (modcrop first)."""
    h, w = x.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"size {h}x{w} is not a multiple of the scale {scale}; modcrop first")
    lr = imresize(x, 1.0 / scale)
    return lr, imresize(lr, output_shape=(h, w))


def bicubic(x: np.ndarray, scale: int) -> np.ndarray:
    """The degraded image at full size: the second half of :func:`degrade`."""
    return degrade(x, scale)[1]


def bicubic_y(y: np.ndarray, scale: int) -> np.ndarray:
    """The network input and bicubic baseline: (H,W) float in [0,1] -> same shape, float64, unclipped."""
    return bicubic(y, scale)


def quantize(y: np.ndarray) -> np.ndarray:
    """MATLAB ``uint8(y * 255)`` as float64 in [0,255]: round half away from zero, saturate."""
    return np.clip(matlab_round(np.asarray(y, dtype=np.float64) * 255.0), 0, 255)


def score(sr_y: np.ndarray, gt_y: np.ndarray, scale: int) -> tuple[float, float]:
    """(PSNR dB, SSIM) of an output against the ground truth; both (H,W) float in [0,1]."""
    a, b = quantize(sr_y), quantize(gt_y)
    return psnr(a, b, shave=scale), ssim(a, b, shave=scale)
