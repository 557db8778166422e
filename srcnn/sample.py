"""The bundled sample: a test chart drawn in code (no image file ships with the package).

``sample_image()`` is a deterministic (384, 576, 3) uint8 RGB chart with text, a zone plate, a Siemens
star, circles, colour gradients, line gratings and a texture: the things super-resolution helps or
hurts. Its size is a multiple of 12, so it divides by 2, 3 and 4. ``sample_lr(scale)`` is its MATLAB
bicubic downscale, the input of the quick start.
"""
from __future__ import annotations

import cv2
import numpy as np

from .resize import imresize

H, W = 384, 576
CELL = 192


def _zone_plate(n: int) -> np.ndarray:
    """(n,n) float in [0,1]: cos(k r^2); the frequency rises to ~0.4 x Nyquist at the cell's corners,
    i.e. past the Nyquist limit of the x3 low-resolution image there (moire in bicubic)."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64) - (n - 1) / 2
    return 0.5 + 0.5 * np.cos(0.3 * np.pi * (xx ** 2 + yy ** 2) / n)


def _siemens_star(n: int, spokes: int = 24) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64) - (n - 1) / 2
    star = (np.sin(spokes * np.arctan2(yy, xx)) > 0).astype(np.float64)
    star[np.hypot(xx, yy) > n / 2 - 4] = 1.0
    return star


def _texture(n: int, seed: int = 3) -> np.ndarray:
    """(n,n,3) float: smoothed noise at two scales, a stand-in for foliage or fabric."""
    rng = np.random.default_rng(seed)
    fine = cv2.GaussianBlur(rng.random((n, n, 3)), (0, 0), 1.5)
    coarse = cv2.resize(rng.random((n // 16, n // 16, 3)), (n, n), interpolation=cv2.INTER_CUBIC)
    t = 0.6 * coarse + 1.2 * (fine - 0.5)
    return np.clip((t - t.min()) / np.ptp(t), 0, 1)


def sample_image() -> np.ndarray:
    """The test chart: (384, 576, 3) uint8 RGB, identical on every call and machine."""
    img = np.zeros((H, W, 3), np.float64)
    c = CELL
    # top left: zone plate, blue-tinted
    img[:c, :c] = _zone_plate(c)[:, :, None] * np.array([0.85, 0.9, 1.0])
    # top middle: text on white
    img[:c, c:2 * c] = 1.0
    # top right: Siemens star
    img[:c, 2 * c:] = _siemens_star(c)[:, :, None]
    # bottom left: hue ramp over a vertical brightness ramp, then colour bars
    yy, xx = np.mgrid[0:c, 0:c] / (c - 1)
    hsv = np.stack([xx * 179, np.full_like(xx, 220), 60 + 195 * (1 - yy)], -1).astype(np.uint8)
    img[c:, :c] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) / 255.0
    bars = [(1, 1, 1), (1, 1, 0), (0, 1, 1), (0, 1, 0), (1, 0, 1), (1, 0, 0), (0, 0, 1), (0, 0, 0)]
    for i, col in enumerate(bars):
        img[2 * c - 24:, i * 24:(i + 1) * 24] = col
    # bottom middle: texture
    img[c:, c:2 * c] = _texture(c)
    # bottom right: line gratings of falling period, then a checkerboard
    for i, period in enumerate((16, 12, 8, 6)):
        x = np.arange(c)
        rows = slice(c + i * 24, c + (i + 1) * 24)
        img[rows, 2 * c:] = ((x // (period // 2 or 1)) % 2)[None, :, None] * 0.9 + 0.05
    yy, xx = np.mgrid[0:c - 96, 0:c]
    img[c + 96:, 2 * c:] = (((yy // 6) + (xx // 6)) % 2)[:, :, None] * np.array([0.9, 0.3, 0.1]) + 0.05

    out = np.round(img * 255).astype(np.uint8)
    aa = cv2.LINE_AA
    texts = [("SRCNN", 1.6, 3, 48), ("super-resolution", 0.75, 2, 84), ("Dong et al. 2014", 0.6, 1, 112),
             ("The quick brown fox", 0.45, 1, 138), ("jumps over the lazy dog", 0.4, 1, 158),
             ("0123456789 x2 x3 x4", 0.35, 1, 178)]
    for text, size, thick, y in texts:
        cv2.putText(out, text, (c + 8, y), cv2.FONT_HERSHEY_SIMPLEX, size, (20, 20, 20), thick, aa)
    # circles over the star and the texture, a thin ring set over the gradient
    for r in range(10, 90, 14):
        cv2.circle(out, (2 * c + c // 2, c // 2), r, (200, 30, 30), 1, aa)
    cv2.circle(out, (c + c // 2, c + c // 2), 50, (255, 255, 255), 3, aa)
    cv2.circle(out, (c + c // 2, c + c // 2), 30, (0, 0, 0), 2, aa)
    for i, r in enumerate(range(6, 60, 9)):
        cv2.circle(out, (c // 2, c + 80), r, (255, 255, 255) if i % 2 else (0, 0, 0), 1, aa)
    cv2.line(out, (0, c), (W - 1, c), (128, 128, 128), 1)
    return out


def sample_lr(scale: int) -> np.ndarray:
    """The chart downscaled by ``scale`` with MATLAB bicubic: (384/scale, 576/scale, 3) uint8."""
    if H % scale or W % scale:
        raise ValueError(f"the sample divides by 2, 3, 4, 6 and 12, not by {scale}")
    return imresize(sample_image(), 1.0 / scale)
