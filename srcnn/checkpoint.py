"""Checkpoints: atomic saving, safe loading, and building a ready-to-run model from one.

A checkpoint is ``torch.save`` of a dict of plain types and tensors (layout in SPEC / README). It is
only ever read with ``torch.load(weights_only=True)``, which refuses pickled code.
"""
from __future__ import annotations

import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch

from .errors import SRCNNError
from .models import build_model

FORMAT = "srcnn-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("model", "state_dict", "scale", "channels")
TRAINING_STATE = ("state_dict", "optimizer", "scheduler", "rng", "scaler")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on this platform/filesystem
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(obj: dict, path) -> Path:
    """Write ``obj`` to ``path`` atomically: a temporary file in the same folder, flushed and fsynced,
    then renamed over ``path`` (and the folder fsynced). A crash at any moment leaves either the old
    file or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def load_checkpoint(path) -> dict:
    """Read a srcnn checkpoint on the CPU. SRCNNError for a missing, truncated, corrupt, foreign or
    code-carrying file; nothing in the file is executed."""
    path = Path(path)
    if not path.is_file():
        raise SRCNNError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # e.g. "pickle protocol 4" notes: the error below says it all
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        g = re.search(r"GLOBAL (\S+)", str(e))
        if g:
            raise SRCNNError(f"{path}: refused to load: the file would import {g.group(1)} (pickled code or "
                             "objects, not plain data); only srcnn checkpoints are accepted") from None
        raise SRCNNError(f"{path}: not a srcnn checkpoint (unreadable or unsupported pickle data)") from None
    except (EOFError, zipfile.BadZipFile) as e:
        raise SRCNNError(f"{path}: truncated or corrupt checkpoint ({type(e).__name__}: {e})") from None
    except (RuntimeError, OSError, ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SRCNNError(f"{path}: truncated or corrupt checkpoint ({msg})") from None
    if not isinstance(ckpt, dict):
        raise SRCNNError(f"{path}: not a srcnn checkpoint (holds a {type(ckpt).__name__}, not a dict)")
    if ckpt.get("format") != FORMAT:
        hint = " (it looks like a bare state_dict from another project)" if all(
            isinstance(v, torch.Tensor) for v in ckpt.values()) and ckpt else ""
        raise SRCNNError(f"{path}: not a srcnn checkpoint (format {ckpt.get('format')!r}){hint}")
    if not isinstance(ckpt.get("format_version"), int) or ckpt["format_version"] > FORMAT_VERSION:
        raise SRCNNError(f"{path}: checkpoint format version {ckpt.get('format_version')!r}; this srcnn "
                         f"reads version {FORMAT_VERSION} (upgrade srcnn)")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise SRCNNError(f"{path}: incomplete checkpoint, missing {', '.join(missing)}")
    return ckpt


def build_from_checkpoint(ckpt: dict, path, padding: str | None = None) -> torch.nn.Module:
    """The checkpoint's architecture (any registered model; SRCNN with ``padding`` replaced when given)
    holding its weights."""
    cfg = dict(ckpt["model"])
    if padding is not None:
        cfg["padding"] = padding
    try:
        model = build_model(**cfg)
    except (TypeError, ValueError) as e:
        raise SRCNNError(f"{path}: unknown architecture {ckpt['model']!r} ({e})") from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SRCNNError(f"{path}: the weights do not match the architecture {ckpt['model']} ({msg})") from None
    return model


def load_model(path, device="cpu"):
    """A model ready for full-image inference, and its metadata: ``(model in eval mode on device, meta)``.

    Any registered architecture (srcnn.models). ``model(x)``: x (N,C,h,w) float32 in [0,1] -> (N,C,u*h,u*w)
    with u = model.upscale: 1 for a model taking the bicubic-upscaled image (an SRCNN trained without
    padding runs with replicate padding, as the authors run theirs, so its output keeps the input's
    size), the scale for an LR-input model (FSRCNN, ESPCN, ...).
    ``meta``: the checkpoint without its training state (model, scale, channels, epoch, hparams, data,
    history, best, ...) plus "path" and "train_padding" (SRCNN's padding in training; None for models
    without that option). Accepts the authors' MATLAB .mat weights too (via srcnn.official.load_official).
    """
    path = Path(path)
    if path.suffix.lower() == ".mat":
        from .official import load_official  # optional: needs scipy
        model, meta = load_official(path)
        return model.to(device).eval(), meta
    ckpt = load_checkpoint(path)
    cfg = ckpt["model"] if isinstance(ckpt["model"], dict) else {}
    srcnn = cfg.get("name", "srcnn") == "srcnn"
    train_padding = cfg.get("padding", "replicate") if srcnn else cfg.get("padding")
    model = build_from_checkpoint(ckpt, path, "replicate" if srcnn and train_padding == "none" else None)
    meta = {k: v for k, v in ckpt.items() if k not in TRAINING_STATE}
    meta["path"], meta["train_padding"] = str(path), train_padding
    return model.to(device).eval(), meta


def _scales(s) -> list[int]:
    return [int(x) for x in s] if isinstance(s, (list, tuple)) else [int(s)]


def check_compatible(meta: dict, scale=None, channels: str | None = None, what: str = "requested") -> None:
    """SRCNNError when a checkpoint's scale(s) or channels ("y"/"rgb") do not cover a request."""
    name = meta.get("path", "checkpoint")
    if scale is not None and not set(_scales(scale)) <= set(_scales(meta["scale"])):
        raise SRCNNError(f"{name}: trained for scale {meta['scale']}, but scale {scale} is {what}")
    if channels is not None and channels != meta["channels"]:
        raise SRCNNError(f"{name}: trained on channels {meta['channels']!r}, but {channels!r} is {what}")
