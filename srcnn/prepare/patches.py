"""One image -> its training samples: the paper's recipe (its generate_train.m), generalised.

  HR  = modcrop(image, s); Y of MATLAB rgb2ycbcr as uint8 (or the RGB channels)
  LR  = imresize(imresize(blur(HR / 255), 1/s) + noise, HR size)      all float64, unrounded
  33x33 sub-images of LR at stride 14 (rows outer, columns inner); the label is the centre LxL of HR.
For LR-input models (input "lr": FSRCNN, ESPCN, ...) the LR image is not upscaled back: the network
input of the HR sub-image at (y, x) of side P is lr[y/s:(y+P)/s, x/s:(x+P)/s], the label the whole
HR sub-image (P, the stride and the image size are multiples of s, so the two are aligned).
The degradation is srcnn.protocol's (``degrade_lr``, ``degrade``), the evaluation's own.

``process_image`` does it all for one image (the task of a worker, srcnn.prepare.pool); the noise of
an image comes from its own generator seeded by (seed, image index), so the result does not depend on
which worker made it or when.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..color import rgb2y, to_planes
from ..degradation import degrade_image
from ..errors import SRCNNError
from ..images import read_image, to_rgb8
from ..h5format import HR, val_input
from ..protocol import degrade, degrade_lr
from ..resize import imresize, modcrop
from .config import PrepareConfig

AUGMENT_SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)  # FSRCNN's downscaled copies of every training image


def patch_grid(h: int, w: int, patch_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of the sub-images, like the paper's loops ``for x = 1:stride:hei-size_input+1``:
    (ys, xs) int arrays; patches are taken rows outer, columns inner. Empty when the image is too small."""
    return np.arange(0, h - patch_size + 1, stride), np.arange(0, w - patch_size + 1, stride)


def extract_patches(lr: np.ndarray, hr: np.ndarray, patch_size: int, label_size: int,
                    stride: int, factor: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sub-images of one image pair.

    lr: (H/f,W/f,C) float, hr: (H,W,C) uint8 -> (N,C,P/f,P/f) float16 and (N,C,L,L) uint8: HR
    sub-images of side P at stride ``stride`` (the grid of ``patch_grid(H, W, P, stride)``), the label
    being the centre LxL of each (the paper's ``padding``) and the input the region of ``lr`` under
    it. f = 1: ``lr`` is HR-sized (bicubic-upscaled input); f = s (input "lr"): ``lr`` is the LR image
    and P, stride, H and W are multiples of s, so the input of the HR patch at (y, x) is
    lr[y/s:(y+P)/s, x/s:(x+P)/s].
    """
    ys, xs = patch_grid(hr.shape[0], hr.shape[1], patch_size, stride)
    c, r = hr.shape[2], patch_size // factor
    if len(ys) == 0 or len(xs) == 0:
        return (np.empty((0, c, r, r), np.float16),
                np.empty((0, c, label_size, label_size), np.uint8))
    pad = (patch_size - label_size) // 2
    # float16 once per image (patches overlap; same values as per patch), C order so that the
    # patches come out C-contiguous (imresize returns other memory layouts)
    lr = np.ascontiguousarray(lr, dtype=np.float16)
    win = np.lib.stride_tricks.sliding_window_view(lr, (r, r), axis=(0, 1))
    lr_p = win[ys[:, None] // factor, xs[None, :] // factor].reshape(-1, c, r, r)
    win = np.lib.stride_tricks.sliding_window_view(np.ascontiguousarray(hr), (label_size, label_size), axis=(0, 1))
    hr_p = win[ys[:, None] + pad, xs[None, :] + pad].reshape(-1, c, label_size, label_size)
    return np.ascontiguousarray(lr_p), np.ascontiguousarray(hr_p)


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """(H,W) or (H,W,3) uint8 -> (H,W,C) uint8, C = channels: Y of MATLAB rgb2ycbcr (a grey image is
    its own Y, as in the paper's code) for 1, or RGB (grey replicated) for 3."""
    if channels == 1:
        return rgb2y(img)[:, :, None]
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img


def dihedral(img: np.ndarray):
    """The 8 flips/90-degree rotations of an (H,W,...) array (identity first)."""
    for k in range(4):
        r = np.rot90(img, k, axes=(0, 1))
        yield r
        yield r[:, ::-1]


def versions(img: np.ndarray, augment: bool):
    """(factor, image) for the identity, or with ``augment`` FSRCNN's copies downscaled by
    0.9, 0.8, 0.7, 0.6 (MATLAB bicubic, uint8 in -> uint8 out, as its data_aug.m)."""
    if not augment:
        yield 1.0, img
        return
    for f in AUGMENT_SCALES:
        if f == 1.0:
            yield f, img
        elif min(math.ceil(img.shape[0] * f), math.ceil(img.shape[1] * f)) >= 1:
            yield f, imresize(img, f)


def lcm(values) -> int:
    return math.lcm(*[int(v) for v in values])


def network_input(hr: np.ndarray, scale: int, cfg: PrepareConfig, rng: np.random.Generator) -> np.ndarray:
    """The network input made of one HR image (float in [0,1]) by the paper's degradation (cfg's blur and
    noise): the LR image (input "lr") or its bicubic upscale to the HR size (input "upscaled"); float64,
    unclipped."""
    if cfg.input == "lr":
        return degrade_lr(hr, scale, cfg.blur_sigma, cfg.noise_sigma, rng)
    return degrade(hr, scale, cfg.blur_sigma, cfg.noise_sigma, rng)[1]


def real_pair(rgb: np.ndarray, scale: int, cfg: PrepareConfig, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """One draw of the "real" degradation (srcnn.degradation) of an (H,W,3) uint8 RGB image, H and W
    multiples of ``scale`` -> (network input (h,w,C) float64, HR (H,W,C) uint8). The input is what
    super_resolve.py gives the network for that low-resolution 8-bit file: its Y of MATLAB rgb2ycbcr in
    float (or its RGB) /255, bicubic-upscaled to the HR size for input "upscaled"; a grey (H,W) image
    stays grey (srcnn.degradation.degrade_image)."""
    lr = degrade_image(rgb, scale, cfg.degradation, rng)
    c = cfg.n_channels
    x = to_planes(lr.astype(np.float64) / 255.0, c)[:, :, :c]
    if cfg.input != "lr":
        x = imresize(x, output_shape=rgb.shape[:2])
    return x, to_channels(rgb, cfg.n_channels)


# ----------------------------------------------------------------------------- one image

@dataclass
class ImageResult:
    """What a worker returns for one source image (only small arrays beyond the patches)."""
    index: int
    rel: str
    split: str
    sha256: str = ""
    h: int = 0
    w: int = 0
    skip: str = ""  # reason; empty when the image was used
    lr: np.ndarray | None = None  # (N,C,R,R) float16, R = cfg.input_size
    hr: np.ndarray | None = None  # (N,C,L,L) uint8
    scale: np.ndarray | None = None  # (N,) uint8
    val: dict = field(default_factory=dict)  # {"hr": (H,W,C) uint8, "lr_x<s>": (H,W,C) float16 (H/s,W/s,C for "lr")}
    spooled: tuple | None = None  # (file, lr shape, hr shape) while the arrays travel via a file


def too_small(h: int, w: int, cfg: PrepareConfig, split: str) -> str:
    """Why an image of h x w gives no usable sample, or ''."""
    p = cfg.patch_size
    mods = [lcm(cfg.scales)] if split == "val" else list(cfg.scales)
    for s in mods:
        if h - h % s < p or w - w % s < p:
            crop = f" after modcrop by {s}" if (h % s or w % s) else ""
            return f"{w}x{h} image is smaller than a {p}x{p} patch{crop}"
    return ""


class OutOfMemory(SRCNNError):
    """An image within --max-pixels whose processing still ran out of memory: not the image's fault
    (fewer workers or more memory may do), so the run stops with its progress kept instead of skipping it."""


def process_image(index: int, path: str, rel: str, split: str, cfg: PrepareConfig) -> ImageResult:
    """Read, degrade and cut one image; unreadable, too small or too large (over ``cfg.max_pixels``)
    images come back with ``skip`` set. A MemoryError becomes OutOfMemory, one line naming the file
    and its size."""
    res = ImageResult(index, rel, split)
    try:
        return _process_image(res, path, cfg)
    except MemoryError as e:
        size = f"{res.w} x {res.h} image" if res.w else "image"
        raise OutOfMemory(f"{path}: {size} does not fit in memory ({e})") from None


def _process_image(res: ImageResult, path: str, cfg: PrepareConfig) -> ImageResult:
    index, rel, split = res.index, res.rel, res.split
    try:
        res.sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        img = to_rgb8(read_image(path, max_pixels=cfg.max_pixels))
    except (SRCNNError, OSError) as e:
        msg = str(e)
        res.skip = msg if rel in msg or str(path) in msg else f"{rel}: {msg}"
        return res
    res.h, res.w = int(img.shape[0]), int(img.shape[1])
    reason = too_small(res.h, res.w, cfg, split)
    if reason:
        res.skip = f"{rel}: {reason}"
        return res
    rng = np.random.default_rng([cfg.seed, index])  # per image: independent of workers and order
    small = cfg.input == "lr"
    if split == "val":
        if cfg.degradation is not None:
            rgb = modcrop(img, lcm(cfg.scales))
            inputs = {s: real_pair(rgb, s, cfg, rng)[0] for s in cfg.scales}
            hr = to_channels(rgb, cfg.n_channels)
        else:
            hr = modcrop(to_channels(img, cfg.n_channels), lcm(cfg.scales))
            inputs = {s: network_input(hr / 255.0, s, cfg, rng) for s in cfg.scales}
        res.val[HR] = np.ascontiguousarray(hr)
        for s in cfg.scales:
            res.val[val_input(s)] = np.ascontiguousarray(inputs[s], dtype=np.float16)
        return res
    lrs, hrs, scales = [], [], []
    for _, im in versions(img, cfg.augment):
        for s in cfg.scales:
            for lr, hr in _degraded_pairs(im, s, cfg, rng):
                a, b = extract_patches(lr, hr, cfg.patch_size, cfg.label, cfg.stride, s if small else 1)
                lrs.append(a)
                hrs.append(b)
                scales.append(np.full(len(a), s, np.uint8))
    res.lr, res.hr, res.scale = np.concatenate(lrs), np.concatenate(hrs), np.concatenate(scales)
    return res


def _degraded_pairs(im: np.ndarray, s: int, cfg: PrepareConfig, rng: np.random.Generator):
    """(network input, HR) of one image version at scale ``s``, modcropped (none for a downscaled copy too
    small for a patch), in the 8 orientations with ``augment``. The paper's degradation commutes with
    flips/rotations (the bicubic grid is symmetric for multiples of s; tested), so its orientations reuse
    one degraded image; the "real" one draws a degradation per orientation (40 per image with augment)."""
    if min(modcrop(im, s).shape[:2]) < cfg.patch_size:
        return
    if cfg.degradation is not None:
        rgb = modcrop(im, s)
        for t in (dihedral(rgb) if cfg.augment else [rgb]):
            yield real_pair(np.ascontiguousarray(t), s, cfg, rng)
        return
    hr = modcrop(to_channels(im, cfg.n_channels), s)
    lr = network_input(hr / 255.0, s, cfg, rng)
    yield from (zip(dihedral(lr), dihedral(hr)) if cfg.augment else [(lr, hr)])
