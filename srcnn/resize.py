"""MATLAB-compatible bicubic resize: ``imresize(img, scale, 'bicubic')``.

Published super-resolution numbers are computed with MATLAB's imresize, which differs from OpenCV's
and PIL's bicubic: the cubic kernel (a = -0.5) is stretched by 1/scale when shrinking (antialiasing),
borders are mirrored (symmetric), and for uint8 images the result is rounded to uint8 after each 1-D
pass. The passes run along the dimension with the smaller scale first, rows (height) on ties.
"""
from __future__ import annotations

import math

import numpy as np


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, as MATLAB's imresize."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def contributions(in_len: int, out_len: int, scale: float, antialias: bool = True):
    """Weights and source indices of one 1-D pass.

    Returns (weights, indices): (out_len, P) float64 and (out_len, P) int64 with 0-based indices
    into the input axis (mirrored at the borders), the same numbers MATLAB's contributions() builds.
    """
    kernel_width = 4.0
    if scale < 1 and antialias:
        kernel_width /= scale
        kernel = lambda x: scale * cubic(scale * x)  # noqa: E731
    else:
        kernel = cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based, may fall outside [1, in_len]
    w = kernel(u[:, None] - idx)
    w /= w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(w != 0, axis=0)  # drop taps that are zero for every output pixel
    return w[:, keep], idx[:, keep]


def _plan(in_hw, scale, output_shape):
    """Per-axis scales and output sizes, and the order of the passes (MATLAB's rules)."""
    if output_shape is not None:
        out_hw = (int(output_shape[0]), int(output_shape[1]))
        scales = (out_hw[0] / in_hw[0], out_hw[1] / in_hw[1])
    elif scale is not None:
        scales = (float(scale), float(scale))
        out_hw = (int(math.ceil(in_hw[0] * scale)), int(math.ceil(in_hw[1] * scale)))
    else:
        raise ValueError("imresize needs a scale or an output_shape")
    if min(out_hw) < 1 or min(in_hw) < 1:
        raise ValueError(f"imresize: empty input or output ({in_hw} -> {out_hw})")
    order = sorted(range(2), key=lambda d: (scales[d], d))  # smaller scale first, rows on ties
    return scales, out_hw, order


def imresize(img: np.ndarray, scale: float | None = None,
             output_shape: tuple[int, int] | None = None, antialias: bool = True) -> np.ndarray:
    """Resize like MATLAB ``imresize(img, scale, 'bicubic')``.

    img: (H,W) or (H,W,C), uint8 or float. uint8 in -> uint8 out (rounded and clipped after each
    1-D pass, like MATLAB); float in -> float64 out, not clipped (bicubic overshoots).
    output_shape: (H_out, W_out), overrides scale.
    """
    img = np.asarray(img)
    is_uint8 = img.dtype == np.uint8
    scales, out_hw, order = _plan(img.shape[:2], scale, output_shape)
    out = img.astype(np.float64)
    for dim in order:
        if img.shape[dim] == out_hw[dim] and scales[dim] == 1:
            continue
        w, idx = contributions(img.shape[dim], out_hw[dim], scales[dim], antialias)
        moved = np.moveaxis(out, dim, 0)  # (L, ...)
        gathered = moved[idx]  # (out_len, P, ...)
        w = w.reshape(w.shape + (1,) * (moved.ndim - 1))
        out = np.moveaxis((gathered * w).sum(axis=1), 0, dim)
        if is_uint8:
            out = np.clip(matlab_round(out), 0, 255)
    return out.astype(np.uint8) if is_uint8 else out


PHASE_RADIUS = 2   # input pixels either side of an output pixel that an upscale's cubic kernel reaches


def upscale_phases(scale: int) -> np.ndarray:
    """The weights of an integer upscale, one row per output phase: (scale, 2*PHASE_RADIUS+1) float64.

    Output pixel s*q + p sits at input coordinate q + (p + 0.5)/s - 0.5 (0-based), so phase p applies
    row p to the input pixels q-2 .. q+2; the same weights :func:`contributions` gives every output
    pixel of that phase (borders included, once the input is mirrored as MATLAB does).
    """
    t = np.arange(-PHASE_RADIUS, PHASE_RADIUS + 1, dtype=np.float64)
    w = cubic((np.arange(scale)[:, None] + 0.5) / scale - 0.5 - t[None, :])
    return w / w.sum(axis=1, keepdims=True)


def upscale_float32(padded: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB's bicubic upscale by an integer ``scale`` in float32 (OpenCV), for the fast inference paths.

    padded: (h+4, w+4[, C]) float32, the input with PHASE_RADIUS pixels of MATLAB's mirror border
    (``np.pad(x, 2, mode="symmetric")`` on the two image axes, or real neighbours of a region) ->
    (scale*h, scale*w[, C]) float32: the same numbers as :func:`imresize` up to float32 rounding (one
    separable filter per pair of output phases, interleaved).
    """
    import cv2
    r = PHASE_RADIUS
    h, w = padded.shape[0] - 2 * r, padded.shape[1] - 2 * r
    k = upscale_phases(scale).astype(np.float32)
    out = np.empty((h, scale, w, scale) + padded.shape[2:], np.float32)
    if out.size:
        for py in range(scale):
            for px in range(scale):
                f = cv2.sepFilter2D(padded, -1, k[px], k[py])   # (drops a last axis of 1)
                out[:, py, :, px] = f[r:r + h, r:r + w].reshape(out.shape[:1] + out.shape[2:3] + out.shape[4:])
    return out.reshape((scale * h, scale * w) + padded.shape[2:])


def matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB's round(): halves go away from zero (numpy's round goes to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def modcrop(img, scale: int):
    """Crop the bottom/right so that height and width are multiples of ``scale`` (MATLAB modcrop)."""
    h, w = img.shape[0], img.shape[1]
    return img[:h - h % scale, :w - w % scale]

