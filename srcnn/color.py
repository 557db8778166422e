"""MATLAB-compatible colour conversion (ITU-R BT.601, studio range: Y in [16, 235]), and the planes a
network works on (``to_planes`` / ``from_planes``: Y or RGB, grey, alpha).

Channels have two spellings: models and arrays count them (1 = Y, 3 = RGB), files (checkpoints, the
training HDF5, weights metadata) and the command lines name them ("y", "rgb"). ``channel_count`` and
``channel_name`` are the one conversion between the two (CHANNEL_NAMES: the names).

The SR literature computes PSNR/SSIM on Y from MATLAB's ``rgb2ycbcr``. Greyscale images are
handled as the SRCNN authors' code does: a 2-D (or single-channel) image *is* the luminance and
is used as Y unchanged, while a 3-channel image goes through rgb2ycbcr even when R == G == B
(Set14's man.png), which maps grey level v to 16 + 219 * v / 255.
"""
from __future__ import annotations

import numpy as np

from .errors import SRCNNError
from .resize import matlab_round

# MATLAB's matrix for R, G, B in [0, 1] -> Y, Cb, Cr in [0, 255], and its offset.
_T = np.array([[65.481, 128.553, 24.966],
               [-37.797, -74.203, 112.0],
               [112.0, -93.786, -18.214]])
_OFFSET = np.array([16.0, 128.0, 128.0])
_TINV = np.linalg.inv(_T)
# The same conversions as 3x4 affine matrices in float32 for cv2.transform (the fast inference paths).
_T32 = np.hstack([_T / 255.0, _OFFSET[:, None] / 255.0]).astype(np.float32)
_TINV32 = np.hstack([_TINV * 255.0, -(_TINV @ _OFFSET)[:, None]]).astype(np.float32)

_COUNTS = {"y": 1, "rgb": 3}   # channels as files and the command lines name them -> as models count them
CHANNEL_NAMES = tuple(_COUNTS)  # ("y", "rgb")


def channel_count(name: str) -> int:
    """Channels by name -> by count: "y" -> 1, "rgb" -> 3. ValueError for another name (callers check
    ``name in CHANNEL_NAMES`` first, with their own message)."""
    if name not in _COUNTS:
        raise ValueError(f"channels must be one of {CHANNEL_NAMES}, got {name!r}")
    return _COUNTS[name]


def channel_name(count: int) -> str:
    """Channels by count -> by name: 1 -> "y", 3 -> "rgb". ValueError for another count."""
    for name, c in _COUNTS.items():
        if c == count:
            return name
    raise ValueError(f"channels must be 1 (Y) or 3 (RGB), got {count!r}")


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


def to_planes(img: np.ndarray, channels: int) -> np.ndarray:
    """An image -> the planes a network with ``channels`` channels works on, then those it passes through.

    img: (H,W) grey, (H,W,3) RGB or (H,W,4) RGBA, float. Returns (H,W,P): for a 1-channel (Y) model
    [grey] (a grey image is its own Y) or [Y, Cb, Cr] of rgb2ycbcr; for a 3-channel model [grey]*3 or
    [R, G, B]; then alpha, if any. The network sees planes[:, :, :channels]; :func:`from_planes` takes
    its output and the rest back to an image. float32 in: computed in float32 with OpenCV (the fast
    inference paths; within 1e-6 of MATLAB's float64 arithmetic), else in float64 as rgb2ycbcr.
    """
    if channels not in (1, 3):
        raise SRCNNError(f"models with {channels} channels are not supported (1 = Y or 3 = RGB)")
    if img.ndim == 2:
        return img[:, :, None] if channels == 1 else np.repeat(img[:, :, None], 3, axis=2)
    color, alpha = img[:, :, :3], img[:, :, 3:]
    if channels == 3:
        planes = color
    elif img.dtype == np.float32:
        import cv2
        planes = cv2.transform(np.ascontiguousarray(color), _T32)
    else:
        planes = rgb2ycbcr(color)
    return np.ascontiguousarray(np.concatenate([planes, alpha], axis=2)) if alpha.shape[2] else planes


def from_planes(net: np.ndarray, rest: np.ndarray, gray: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The network's output planes and the pass-through ones back to an image (the inverse of
    :func:`to_planes`, on any grid both share).

    net: (h,w,C) the network's output (C = 1: Y; 3: RGB); rest: (h,w,K) the pass-through planes as
    to_planes put them; gray: the image was grey. Returns (image, alpha): image (h,w) grey (the mean of
    the network's planes) or (h,w,3) RGB (ycbcr2rgb of [Y, Cb, Cr] for a Y model, clipped to [0,1]; the
    network's planes for an RGB model); alpha (h,w), the last plane of ``rest`` when it holds one,
    else None. Computed in the dtype given (float32: with OpenCV, as :func:`to_planes`).
    """
    if gray:   # (one plane: itself, without numpy's mean over an axis of 1, slow on a 1080p frame)
        return (net[:, :, 0] if net.shape[2] == 1 else net.mean(axis=2)), None
    c = net.shape[2]
    if c == 3:
        color = net
    elif net.dtype == np.float32:
        import cv2
        color = np.clip(cv2.transform(np.concatenate([net, rest[:, :, :2]], axis=2), _TINV32), 0.0, 1.0)
    else:
        color = ycbcr2rgb(np.concatenate([net, rest[:, :, :2]], axis=2))
    return color, (rest[:, :, -1] if rest.shape[2] > (2 if c == 1 else 0) else None)
