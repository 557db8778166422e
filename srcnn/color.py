"""MATLAB-compatible colour conversion (ITU-R BT.601, studio range: Y in [16, 235]).

The SR literature computes PSNR/SSIM on Y from MATLAB's ``rgb2ycbcr``. Greyscale images are
handled as the SRCNN authors' code does: a 2-D (or single-channel) image *is* the luminance and
is used as Y unchanged, while a 3-channel image goes through rgb2ycbcr even when R == G == B
(Set14's man.png), which maps grey level v to 16 + 219 * v / 255.
"""
from __future__ import annotations

import numpy as np

from .imresize import matlab_round

# MATLAB's matrix for R, G, B in [0, 1] -> Y, Cb, Cr in [0, 255], and its offset.
_T = np.array([[65.481, 128.553, 24.966],
               [-37.797, -74.203, 112.0],
               [112.0, -93.786, -18.214]])
_OFFSET = np.array([16.0, 128.0, 128.0])
_TINV = np.linalg.inv(_T)


def _round_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB's uint8(): round half away from zero, saturate."""
    return np.clip(matlab_round(x), 0, 255).astype(np.uint8)


def rgb2ycbcr(img: np.ndarray) -> np.ndarray:
    """(H,W,3) RGB -> (H,W,3) YCbCr like MATLAB.

    uint8 in [0,255] -> uint8 (Y in [16,235]); float in [0,1] -> float64 (Y in [16/255, 235/255]).
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb2ycbcr expects (H,W,3), got {img.shape}")
    if img.dtype == np.uint8:
        return _round_uint8(img.astype(np.float64) @ (_T.T / 255.0) + _OFFSET)
    return img.astype(np.float64) @ (_T.T / 255.0) + _OFFSET / 255.0


def ycbcr2rgb(img: np.ndarray) -> np.ndarray:
    """(H,W,3) YCbCr -> (H,W,3) RGB like MATLAB: uint8 -> uint8; float -> float64 in [0,1] (clipped)."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"ycbcr2rgb expects (H,W,3), got {img.shape}")
    if img.dtype == np.uint8:
        rgb = (img.astype(np.float64) - _OFFSET) @ (_TINV.T * 255.0)
        return _round_uint8(rgb)
    rgb = (img.astype(np.float64) - _OFFSET / 255.0) @ (_TINV.T * 255.0)
    return np.clip(rgb, 0.0, 1.0)


def rgb2y(img: np.ndarray) -> np.ndarray:
    """Luminance (H,W) the way the SR literature takes it.

    (H,W,3) -> Y of rgb2ycbcr (uint8 -> uint8, float -> float); (H,W) or (H,W,1) -> the image itself.
    """
    img = np.asarray(img)
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    return rgb2ycbcr(img[:, :, :3])[:, :, 0]


def is_gray(img: np.ndarray) -> bool:
    """True for (H,W), (H,W,1), or 3-channel images whose R, G and B are equal everywhere."""
    img = np.asarray(img)
    if img.ndim == 2 or img.shape[2] == 1:
        return True
    return bool(np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 1], img[..., 2]))
