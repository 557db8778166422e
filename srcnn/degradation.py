"""The "real" degradation: what happens to a photo between the camera and a user's low-resolution file,
drawn at random per image (docs/training.md, "Models for real photos").

    blur -> downscale by 1/s -> noise -> 8-bit -> JPEG

1. **Blur** (HR pixels): a Gaussian, isotropic (half the draws) with sigma ~ U(blur), or anisotropic with
   two sigmas ~ U(blur) each and a random angle; kernel radius ceil(3 sigma), borders reflected.
2. **Downscale** by 1/scale with a kernel drawn from ``kernels``: "matlab" (MATLAB's antialiased
   bicubic, the paper's), "cubic", "linear", "area" (OpenCV's ``cv2.resize``, the first two without
   antialiasing: how many users make small images; at x2 OpenCV's linear equals its area, at x3 its
   cubic, which then picks every third pixel).
3. **Noise**: Gaussian, sigma ~ U(noise) grey levels of 255; the same for the three channels (grey
   noise, 40% of the draws) or per channel (colour noise).
4. Rounded and clipped to 8 bits, as every image file is.
5. **JPEG** with OpenCV's encoder (libjpeg: 4:2:0 chroma), quality ~ U{jpeg} (whole numbers, both ends
   included).

Every draw comes from the ``rng`` given, in a fixed order, so a seeded generator gives the same image
bit for bit (prepare_data.py seeds one per image, evaluate.py one per image name). The defaults are
Real-ESRGAN's first-order ranges (blur up to sigma 3, noise 1-30, JPEG 30-95), made a little milder
for networks of this size: blur 0.2-2.5, noise 0-25, JPEG 30-95.

Torch-free: prepare_data.py's workers import it.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import SRCNNError
from .resize import imresize

KERNELS = ("matlab", "cubic", "linear", "area")
_CV2 = {"cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}
GREY_NOISE = 0.4  # share of the noise draws that are grey (one noise image for R, G and B)
BLUR_MAX, NOISE_MAX = 10.0, 100.0  # bounds of the ranges a user may ask for (HR pixels, grey levels)


@dataclass(frozen=True)
class RealDegradation:
    """The ranges of the random pipeline (module docstring): blur sigma (HR pixels), noise sigma (grey
    levels of 255), JPEG quality (1..100), each (low, high) with low <= high; kernels: names of KERNELS."""
    blur: tuple[float, float] = (0.2, 2.5)
    noise: tuple[float, float] = (0.0, 25.0)
    jpeg: tuple[int, int] = (30, 95)
    kernels: tuple[str, ...] = KERNELS

    def __post_init__(self):
        for name in ("blur", "noise", "jpeg", "kernels"):  # lists from JSON or library callers
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def validate(self) -> "RealDegradation":
        """Raise SRCNNError naming the option for a range out of bounds or reversed; returns self."""
        _check_range("--blur-range", self.blur, 0.0, BLUR_MAX, "HR pixels")
        _check_range("--noise-range", self.noise, 0.0, NOISE_MAX, "grey levels of 255")
        _check_range("--jpeg-range", self.jpeg, 1, 100, "JPEG quality", whole=True)
        if not self.kernels or any(k not in KERNELS for k in self.kernels) or len(set(self.kernels)) < len(self.kernels):
            raise SRCNNError(f"--kernels must be distinct names from {', '.join(KERNELS)}, got "
                             f"{','.join(map(str, self.kernels)) or 'nothing'}")
        return self

    def params(self) -> dict:
        """JSON-able, as recorded in a prepared file and in an evaluation's protocol."""
        return {"name": "real", "blur": [float(v) for v in self.blur], "noise": [float(v) for v in self.noise],
                "jpeg": [int(v) for v in self.jpeg], "kernels": list(self.kernels)}

    def describe(self) -> str:
        b, n, j = self.blur, self.noise, self.jpeg
        return (f"real: blur sigma {b[0]:g}-{b[1]:g} HR px (iso/aniso), downscale {'/'.join(self.kernels)}, "
                f"noise sigma {n[0]:g}-{n[1]:g} (grey/colour), 8-bit, JPEG q{j[0]}-{j[1]}")


def _check_range(name: str, r, lo, hi, unit: str, whole: bool = False) -> None:
    ok = len(r) == 2 and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                             and math.isfinite(v) and lo <= v <= hi and (not whole or float(v).is_integer())
                             for v in r)
    if not ok or r[0] > r[1]:
        kind = "whole numbers" if whole else "numbers"
        raise SRCNNError(f"{name} must be LOW,HIGH {kind} with {lo:g} <= LOW <= HIGH <= {hi:g} ({unit}), "
                         f"got {','.join(f'{v:g}' if isinstance(v, (int, float)) else repr(v) for v in r)}")


def parse_range(text: str, whole: bool = False) -> tuple:
    """"0.2,2.5" -> (0.2, 2.5); "30" -> (30, 30). ValueError for anything else (argparse's message)."""
    parts = text.split(",")
    if len(parts) not in (1, 2):
        raise ValueError(text)
    vals = tuple(int(p) if whole else float(p) for p in parts)
    return vals * 2 if len(vals) == 1 else vals


def image_seed(name: str, scale: int, seed: int = 0) -> list[int]:
    """The generator seed of one named image at one scale (evaluate.py's): the same degraded image
    whatever the set's order or the other images."""
    return [seed, zlib.crc32(name.encode()), scale]


def gaussian_kernel(sx: float, sy: float, theta: float) -> np.ndarray:
    """A normalised 2-D Gaussian of std ``sx`` along the angle ``theta`` and ``sy`` across it."""
    r = max(1, math.ceil(3 * max(sx, sy)))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    k = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return k / k.sum()


def degrade_real(hr: np.ndarray, scale: int, d: RealDegradation, rng: np.random.Generator) -> np.ndarray:
    """One draw of the pipeline: (H,W,3) uint8 RGB, H and W multiples of ``scale`` -> (H/s,W/s,3) uint8 RGB,
    the low-resolution image a user would have."""
    h, w = hr.shape[:2]
    if hr.ndim != 3 or hr.shape[2] != 3 or hr.dtype != np.uint8:
        raise ValueError(f"degrade_real expects (H,W,3) uint8, got {hr.shape} {hr.dtype}")
    if h % scale or w % scale:
        raise ValueError(f"size {h}x{w} is not a multiple of the scale {scale}; modcrop first")
    x = hr.astype(np.float32)
    # 1. blur
    if rng.random() < 0.5:
        sx = sy = rng.uniform(*d.blur)
        theta = 0.0
    else:
        sx, sy, theta = rng.uniform(*d.blur), rng.uniform(*d.blur), rng.uniform(0.0, math.pi)
    if max(sx, sy) > 0:
        x = cv2.filter2D(x, -1, gaussian_kernel(max(sx, 1e-3), max(sy, 1e-3), theta).astype(np.float32),
                         borderType=cv2.BORDER_REFLECT)
    # 2. downscale
    kernel = d.kernels[int(rng.integers(len(d.kernels)))]
    if kernel == "matlab":
        x = imresize(x.astype(np.float64), 1.0 / scale).astype(np.float32)
    else:
        x = cv2.resize(x, (w // scale, h // scale), interpolation=_CV2[kernel])
    # 3. noise
    sigma = rng.uniform(*d.noise)
    grey = rng.random() < GREY_NOISE
    noise = rng.standard_normal(x.shape[:2] + ((1,) if grey else (3,)), dtype=np.float32) * np.float32(sigma)
    x = x + noise
    # 4. 8 bits
    lr = np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)
    # 5. JPEG
    q = int(rng.integers(d.jpeg[0], d.jpeg[1] + 1))
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(lr[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:  # pragma: no cover - OpenCV's JPEG encoder does not fail on an in-memory uint8 image
        raise SRCNNError("OpenCV could not JPEG-encode an image")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def degrade_image(img: np.ndarray, scale: int, d: RealDegradation, rng: np.random.Generator) -> np.ndarray:
    """:func:`degrade_real` of an (H,W) grey or (H,W,3) RGB uint8 image (H, W multiples of ``scale``), in
    the same layout: a grey image goes through as RGB and comes back grey (the rounded channel mean)."""
    if img.ndim == 2:
        lr = degrade_real(np.repeat(img[:, :, None], 3, axis=2), scale, d, rng)
        return np.floor(lr.mean(axis=2) + 0.5).astype(np.uint8)
    return degrade_real(img, scale, d, rng)
