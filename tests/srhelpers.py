"""Tiny models and weight files for the inference / evaluation / CLI tests (milliseconds to make)."""
from __future__ import annotations

import struct
from pathlib import Path

import cv2

import numpy as np
import torch

from srcnn.checkpoint import save_checkpoint
from srcnn.color import channel_name
from srcnn.models import SRCNN, build_model, input_kind


def tiny_model(seed: int = 0, channels: int = 1, padding: str = "replicate", f=(5, 3, 3), n=(6, 4)) -> SRCNN:
    """A random SRCNN 5-3-3 (shrink 4) whose output stays near its input (so images look like images)."""
    torch.manual_seed(seed)
    m = SRCNN(f1=f[0], f2=f[1], f3=f[2], n1=n[0], n2=n[1], channels=channels, padding=padding)
    with torch.no_grad():
        for conv in (m.conv1, m.conv2, m.conv3):
            conv.weight.mul_(0.5)
        m.conv1.bias.fill_(0.05)
    return m.eval()


def identity_model(channels=1) -> SRCNN:
    """3-1-3 SRCNN that passes its input through (ReLU-clipped at 0)."""
    m = SRCNN(f1=3, f2=1, f3=3, n1=channels, n2=channels, channels=channels)
    with torch.no_grad():
        for conv in (m.conv1, m.conv2, m.conv3):
            conv.weight.zero_()
            conv.bias.zero_()
            k = conv.weight.shape[-1] // 2
            for i in range(channels):
                conv.weight[i, i, k, k] = 1.0
    return m.eval()


def save_tiny_checkpoint(path, scale=3, channels: int = 1, seed: int = 0, padding: str = "replicate") -> Path:
    """A checkpoint in the checkpoint format (docs/formats.md) holding ``tiny_model``; returns its path."""
    m = tiny_model(seed, channels, padding)
    ckpt = {"format": "srcnn-checkpoint", "format_version": 1, "srcnn_version": "test",
            "model": m.config(), "state_dict": m.state_dict(), "scale": scale,
            "channels": channel_name(channels), "epoch": 1, "step": 1, "hparams": {},
            "history": [], "best": {"epoch": 1, "val_psnr": 0.0}, "time_spent": 0.0}
    return save_checkpoint(ckpt, path)


def save_model(path, name: str, scales, **kwargs) -> Path:
    """A checkpoint of a small random registered ``name`` model that says it was trained for ``scales``
    (an int or a list); an LR-input model is built for its single scale unless kwargs give one."""
    torch.manual_seed(0)
    if input_kind(name, **kwargs) == "lr" and "scale" not in kwargs and not isinstance(scales, list):
        kwargs["scale"] = scales
    m = build_model(name, **kwargs)
    return save_checkpoint({"format": "srcnn-checkpoint", "format_version": 1, "model": m.config(),
                            "state_dict": m.state_dict(), "scale": scales, "channels": "y"}, path)


def write_official_mat(path, f=(5, 3, 3), n=(6, 4), seed: int = 0, f2_as_2d: bool = False) -> dict:
    """An authors'-layout .mat with random float64 weights (scipy.io.savemat); returns the arrays."""
    import scipy.io
    r = np.random.default_rng(seed)
    f1, f2, f3 = f
    n1, n2 = n
    arrays = {
        "weights_conv1": r.normal(0, 0.2, (f1 * f1, n1)),
        "biases_conv1": r.normal(0, 0.1, (n1, 1)),
        "weights_conv2": r.normal(0, 0.2, (n1, f2 * f2, n2)),
        "biases_conv2": r.normal(0, 0.1, (n2, 1)),
        "weights_conv3": r.normal(0, 0.2, (n2, f3 * f3)),
        "biases_conv3": r.normal(0, 0.1, (1, 1)),
    }
    if f2_as_2d:
        assert f2 == 1
        arrays["weights_conv2"] = arrays["weights_conv2"][:, 0, :]
    scipy.io.savemat(str(path), arrays)
    return arrays


def jpeg_with_exif(rgb: np.ndarray, orientation: int) -> bytes:
    """JPEG bytes of an RGB image with an EXIF Orientation tag (1-8) in an APP1 segment."""
    data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]))[1].tobytes()
    ifd = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
           + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0))
    payload = b"Exif\x00\x00" + ifd
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def cli_runner(main):
    """``run(args, capsys) -> (exit code, stdout, stderr)`` of a CLI's ``main`` (args: str()-ed first)."""
    def run(args, capsys):
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out, err
    return run


def names(folder) -> list[str]:
    """The sorted names of the entries of ``folder``."""
    return sorted(p.name for p in Path(folder).iterdir())
