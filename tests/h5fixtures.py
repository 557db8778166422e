"""Tiny synthetic "srcnn-patches" HDF5 files in the docs/formats.md layout, for tests of anything that reads them.

``write_patches(path)`` writes a valid version-1 file in milliseconds; keyword arguments change the
geometry, and ``attrs`` lets a test break one thing at a time. ``input="lr"`` writes a file for LR-input
models (/train/lr (N,C,P/s,P/s), /val/<i>/lr_x<s> (H/s,W/s,C)); the default (input=None) writes no
``input`` attribute, like files made before it existed (read as "upscaled").
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np

from srcnn.color import channel_name


def _blur(x: np.ndarray) -> np.ndarray:
    """3x3 box blur over the last two axes (edge-replicated), float64."""
    p = np.pad(x.astype(np.float64), [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    h, w = x.shape[-2:]
    return sum(p[..., i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def _images(n: int, c: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(n,c,h,w) uint8 smooth random images with some edges."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.empty((n, c, h, w), np.uint8)
    for i in range(n):
        for k in range(c):
            f = rng.uniform(0.1, 0.9, size=3)
            v = np.sin(xx * f[0] + yy * f[1] + rng.uniform(0, 6)) + (xx * f[2] > w / 2)
            out[i, k] = np.clip(np.round((v + 1.5) * 70 + rng.normal(0, 3, v.shape)), 0, 255)
    return out


def _down(x: np.ndarray, s: int) -> np.ndarray:
    """Box-average downscale by ``s`` over the last two axes (sides multiples of s), float64 in [0,1]."""
    h, w = x.shape[-2:]
    return x.astype(np.float64).reshape(*x.shape[:-2], h // s, s, w // s, s).mean(axis=(-3, -1)) / 255.0


def write_patches(path, n: int = 64, channels: int = 1, patch: int | None = None, label: int | None = None,
                  scales=(3,), val_images: int = 2, val_size: int = 24, chunk: int = 16,
                  seed: int = 0, attrs: dict | None = None, input: str | None = None,
                  model: str | None = None) -> Path:
    """Write a valid format-1 file: /train with ``n`` patches (C=channels, P=patch, L=label or P),
    /val with ``val_images`` images of val_size x val_size (none when 0). Returns the path.

    input: None (no ``input`` attribute: an old file, read as "upscaled"), "upscaled", or "lr" (one
    scale s; P (default 6*s) and val_size multiples of s; /train/lr is (N,C,P/s,P/s), the box-averaged
    HR patch, /val/<i>/lr_x<s> (val_size/s, val_size/s, C)). ``model`` sets the ``model`` attribute
    (default "fsrcnn" for "lr", "srcnn" for "upscaled", none for None)."""
    path = Path(path)
    rng = np.random.default_rng(seed)
    lr_input = input == "lr"
    if lr_input:
        if len(scales) != 1:
            raise ValueError("input='lr' takes one scale")
        s0 = int(scales[0])
        patch = 6 * s0 if patch is None else patch
        if patch % s0 or val_size % s0 or (label is not None and label != patch):
            raise ValueError("input='lr': patch and val_size must be multiples of the scale, label == patch")
    patch = 17 if patch is None else patch
    label = patch if label is None else label
    lr_side = patch // scales[0] if lr_input else patch
    hr_full = _images(n, channels, patch, patch, rng)
    if lr_input:
        lr = np.clip(_down(hr_full, s0), 0, 1).astype(np.float16)
    else:
        lr = np.clip(_blur(hr_full) / 255.0, 0, 1).astype(np.float16)
    off = (patch - label) // 2
    hr = hr_full[:, :, off:off + label, off:off + label]
    scale = np.array([scales[i % len(scales)] for i in range(n)], np.uint8)
    sources = [{"path": f"img{i}.png", "sha256": "0" * 64, "split": "train", "h": 64, "w": 64}
               for i in range(3)]
    root = {"format": "srcnn-patches", "format_version": 1, "scales": np.array(scales, np.int64),
            "patch_size": patch, "label_size": label, "stride": patch // 2,
            "channels": channel_name(channels), "blur_sigma": 0.0, "noise_sigma": 0.0,
            "augment": False, "val_fraction": 0.2 if val_images else 0.0, "seed": seed,
            "created": "2024-01-01T00:00:00", "command": f"prepare_data.py --scale {scales[0]} --out {path.name}",
            "srcnn_version": "0.1.0", "sources": json.dumps(sources), "skipped": "[]",
            "fingerprint": hashlib.sha256(f"{n}-{channels}-{patch}-{label}-{scales}-{seed}{'-' + input if input else ''}"
                                          .encode()).hexdigest()}
    if input is not None:
        root["input"] = input
        root["model"] = model or ("fsrcnn" if lr_input else "srcnn")
    elif model is not None:
        root["model"] = model
    root.update(attrs or {})
    with h5py.File(path, "w") as f:
        for k, v in root.items():
            f.attrs[k] = v
        g = f.create_group("train")
        g.create_dataset("lr", data=lr, chunks=(min(chunk, n), channels, lr_side, lr_side))
        g.create_dataset("hr", data=hr, chunks=(min(chunk, n), channels, label, label))
        g.create_dataset("scale", data=scale)
        g.attrs["count"] = n
        if val_images:
            v = f.create_group("val")
            imgs = _images(val_images, channels, val_size, val_size, rng)
            for i in range(val_images):
                gi = v.create_group(f"{i:03d}")
                hr_i = imgs[i].transpose(1, 2, 0)
                gi.create_dataset("hr", data=hr_i)
                gi.attrs["name"] = f"val{i}.png"
                for s in scales:
                    small = _down(imgs[i], s) if lr_input else _blur(imgs[i]) / 255.0
                    gi.create_dataset(f"lr_x{s}", data=np.clip(small, 0, 1).transpose(1, 2, 0).astype(np.float16))
    return path
