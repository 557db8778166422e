"""Image quality metrics on luminance, as the SR literature computes them.

Both take (H,W) arrays in [0, 255] (any real dtype) and shave ``shave`` pixels from every border.
"""
from __future__ import annotations

import cv2
import numpy as np


def _prepare(a, b, shave: int):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    if a.ndim != 2:
        raise ValueError(f"expected (H,W) luminance arrays, got {a.shape}")
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    if a.size == 0:
        raise ValueError("nothing left after shaving the border")
    return a, b


def psnr(a, b, shave: int = 0, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; inf for identical images."""
    a, b = _prepare(a, b, shave)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(data_range ** 2 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    return np.outer(g, g)


def ssim(a, b, shave: int = 0, data_range: float = 255.0) -> float:
    """SSIM of Wang et al. 2004: 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03.

    Statistics are taken over 'valid' windows only (no padding), as the authors' ssim.m does;
    the result is the mean of the SSIM map.
    """
    a, b = _prepare(a, b, shave)
    win = _gaussian_window()
    r = win.shape[0] // 2
    if min(a.shape) < win.shape[0]:
        raise ValueError(f"image {a.shape} smaller than the 11x11 SSIM window")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def filt(x):
        return cv2.filter2D(x, cv2.CV_64F, win, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a ** 2
    var_b = filt(b * b) - mu_b ** 2
    cov = filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))
