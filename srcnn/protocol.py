"""The paper's evaluation protocol (SRCNN, and the SR literature after it; in full: docs/protocol.md),
and its degradation.

1. modcrop the HR image to a multiple of the scale;
2. take Y of MATLAB rgb2ycbcr as uint8, then /255 (a greyscale image is its own Y);
3. degrade: MATLAB-bicubic down by 1/scale (an LR-input model takes this), then up by scale, in float;
4. the method's output is quantised like MATLAB ``uint8(y * 255)``;
5. PSNR and SSIM on Y in [0, 255] with ``scale`` pixels shaved from every border.

The degradation of step 3 is the one of the training data too (srcnn.prepare), which may add a
Gaussian blur before the downscale and Gaussian noise on the LR image: :func:`degrade_lr` makes the
LR image, :func:`degrade` the LR image and its bicubic upscale; evaluation uses neither option.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .color import rgb2y
from .metrics import psnr, ssim
from .resize import imresize, matlab_round, modcrop


def hr_y(img: np.ndarray, scale: int) -> np.ndarray:
    """Ground-truth luminance: (H,W[,C]) uint8 image -> (H',W') float64 in [0,1], H' = H - H % scale."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError(f"hr_y expects a uint8 image, got {img.dtype}")
    return rgb2y(modcrop(img, scale)).astype(np.float64) / 255.0


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """(H,W,C) float -> (H,W,C) float64, isotropic Gaussian of std ``sigma`` pixels.

    Kernel radius ceil(3 sigma), normalised to sum 1, borders replicated (MATLAB imfilter 'replicate').
    """
    if sigma <= 0:
        return img.astype(np.float64)
    r = max(1, math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = cv2.sepFilter2D(np.ascontiguousarray(img, np.float64), cv2.CV_64F, k, k,
                          borderType=cv2.BORDER_REPLICATE)
    return out.reshape(img.shape)


def degrade_lr(hr: np.ndarray, scale: int, blur_sigma: float = 0.0, noise_sigma: float = 0.0,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """The low-resolution image of one HR image: (H,W[,C]) float in [0,1], H and W multiples of
    ``scale`` -> (H/s,W/s[,C]) float64, about [0,1] (bicubic overshoot and noise are not clipped).

    blur (optional, ``blur_sigma`` > 0, in HR pixels) -> MATLAB-bicubic down by 1/scale -> + N(0,
    noise_sigma/255) (optional, drawn from ``rng``, on the small image, i.e. the noise a real
    low-resolution input carries). The input of LR-input models.
    """
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"size {h}x{w} is not a multiple of the scale {scale}; modcrop first")
    lr = imresize(gaussian_blur(hr, blur_sigma) if blur_sigma > 0 else hr, 1.0 / scale)
    if noise_sigma > 0:
        lr = lr + rng.normal(0.0, noise_sigma / 255.0, size=lr.shape)
    return lr


def degrade(hr: np.ndarray, scale: int, blur_sigma: float = 0.0, noise_sigma: float = 0.0,
            rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The degradation, both halves: (H,W[,C]) float in [0,1] -> (lr, bicubic), float64, unclipped:
    lr (H/s,W/s[,C]) = :func:`degrade_lr` (the input of an LR-input model), bicubic (H,W[,C]) = lr
    MATLAB-bicubic back up (the baseline, and the input of an upscaled-input model).
    H and W must be multiples of the scale (modcrop first)."""
    lr = degrade_lr(hr, scale, blur_sigma, noise_sigma, rng)
    return lr, imresize(lr, output_shape=hr.shape[:2])


def quantize(y: np.ndarray) -> np.ndarray:
    """MATLAB ``uint8(y * 255)`` as float64 in [0,255]: round half away from zero, saturate."""
    return np.clip(matlab_round(np.asarray(y, dtype=np.float64) * 255.0), 0, 255)


def score(sr_y: np.ndarray, gt_y: np.ndarray, scale: int) -> tuple[float, float]:
    """(PSNR dB, SSIM) of an output against the ground truth; both (H,W) float in [0,1]."""
    a, b = quantize(sr_y), quantize(gt_y)
    return psnr(a, b, shave=scale), ssim(a, b, shave=scale)
