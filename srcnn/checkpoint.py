"""Checkpoints: atomic saving, the training run's checkpoint in and out (``training_checkpoint``,
``restore_training``), safe loading, building a model from one, and what their metadata says.

A checkpoint is ``torch.save`` of a dict of plain types and tensors (layout in docs/formats.md). It is
only ever read with ``torch.load(weights_only=True)``, which refuses pickled code; a TorchScript archive
(code) given as a checkpoint is named as such (:func:`is_torchscript`, :func:`check_trusted`). Reading
a weight file of any kind into a model to run is srcnn.weightfiles; ``model_name`` labels a model from
the metadata of any of them.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
import random
import re
import struct
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .color import CHANNEL_NAMES, channel_count
from .errors import MAX_SCALE, SRCNNError, check_number, check_scale, one_line
from .files import atomic_path, regular_file
from .locks import make_folder
from .models import build_model
from .optim import lr_factor

FORMAT = "srcnn-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("model", "state_dict", "scale", "channels")
TRAINING_STATE = ("state_dict", "optimizer", "scheduler", "rng", "scaler")
TS_META = "srcnn.json"           # the srcnn metadata inside a TorchScript archive (srcnn.export writes it)
TS_SUFFIXES = (".ts", ".torchscript")   # the only names a TorchScript file is run from (when trusted)
DIGEST = "sha256"  # {name of a tensor dict in the checkpoint: SHA-256 hex of its tensors}, see tensor_digest
_noted: set = set()


def tensor_digest(tensors: dict, where: str = "state_dict") -> str:
    """SHA-256 (hex) over a dict of tensors in a fixed order: for each key in sorted order its name,
    dtype, shape and raw bytes (CPU, contiguous). Independent of device and of how the file was
    pickled, so it identifies the numbers themselves. SRCNNError for a value that is not a tensor."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name]
        if not isinstance(name, str) or not isinstance(t, torch.Tensor):
            raise SRCNNError(f"{where}[{name!r}] is a {type(t).__name__}, not a tensor")
        t = t.detach().to("cpu").contiguous().reshape(-1)
        head = f"{name}\0{str(t.dtype)}\0{'x'.join(map(str, tensors[name].shape))}\0{t.numel() * t.element_size()}\0"
        h.update(head.encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _digested(obj: dict) -> list[str]:
    """The tensor dicts of a checkpoint that carry a digest: "state_dict" and any other "*state_dict"
    (e.g. an EMA copy of the weights)."""
    return [k for k, v in obj.items() if isinstance(k, str) and k.endswith("state_dict") and isinstance(v, dict)]


def save_checkpoint(obj: dict, path) -> Path:
    """Write ``obj`` to ``path`` atomically (srcnn.files.atomic_path): serialised in memory, then a
    temporary file in the same folder, fsynced, renamed over ``path`` (and the folder fsynced). A crash or
    a full disk at any moment leaves either the old file or the new one, never a partial one; a full disk
    is one SRCNNError line."""
    path = Path(path)
    obj = {**obj, DIGEST: {k: tensor_digest(obj[k], k) for k in _digested(obj)}}  # always fresh
    try:
        is_dir = path.is_dir()
    except OSError:  # e.g. a name over the limit: reported by the write below
        is_dir = False
    if is_dir:
        raise SRCNNError(f"{path}: is a folder; give a file name for the checkpoint")
    make_folder(path.parent, target=path)
    with atomic_path(path, "checkpoint", need_bytes=_tensor_bytes(obj)) as tmp, open(tmp, "wb") as f:
        buf = io.BytesIO()  # torch.save's own writer reports a full disk as "unexpected pos": write the bytes here
        torch.save(obj, buf)
        f.write(buf.getbuffer())
    return path


def _tensor_bytes(obj) -> int:
    """Bytes of the tensors in a nested dict/list (about the size of the saved file)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


# ---------------------------------------------------------------------------------------------- training state
PROGRESS = {"epoch": 0, "step": 0, "history": [], "best": None, "time_spent": 0.0, "partial": None}  # and defaults


def _cpu(sd: dict) -> dict:
    return {k: v.detach().cpu().contiguous() for k, v in sd.items()}


def training_checkpoint(model, ema, optimizer, scaler, *, cfg, data, numeric, progress: dict, recipe: dict,
                        distributed: dict) -> dict:
    """The checkpoint of a training run now (docs/formats.md): ``model`` (and its ``ema`` average, or None)
    with the run's options ``cfg`` (a TrainConfig), its data ``data`` (srcnn.data.PatchFile), its numeric
    path, the state of ``optimizer`` and ``scaler`` (a GradScaler or None), the global RNG, the
    ``progress`` {PROGRESS keys}, the ``recipe`` and the ``distributed`` layout."""
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "srcnn_version": __version__,
        "model": model.config(), "state_dict": _cpu(model.state_dict()), "scale": data.scale,
        **({"ema_state_dict": _cpu(ema.state_dict())} if ema is not None else {}),
        "numeric": numeric.record(), "channels": data.mode, "epoch": progress["epoch"], "step": progress["step"],
        "optimizer": optimizer.state_dict(),
        "scheduler": {"schedule": cfg.schedule, "lr_factor": lr_factor(progress["epoch"], cfg)},
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_state(), "hparams": cfg.as_dict(), "data": data.provenance(),
        **{k: progress[k] for k in ("history", "best", "time_spent", "partial")},
        "recipe": recipe, "distributed": distributed,
    }


def restore_training(ckpt: dict, optimizer, scaler, cfg, log=print) -> dict:
    """Continue the training state of the checkpoint ``ckpt`` (``training_checkpoint``'s): the optimizer
    (unless cfg.optimizer changed; cfg.weight_decay and each group's lr_scale as they are now), the
    gradient scaler and the global RNG. Returns its progress {PROGRESS keys}."""
    if ckpt.get("optimizer") and ckpt.get("hparams", {}).get("optimizer") == cfg.optimizer:
        scales = [g["lr_scale"] for g in optimizer.param_groups]
        optimizer.load_state_dict(ckpt["optimizer"])
        for g, scale in zip(optimizer.param_groups, scales):  # the saved groups carry the old values
            g["weight_decay"], g["lr_scale"] = cfg.weight_decay, scale
    elif ckpt.get("optimizer"):
        log(f"note: optimizer changed to {cfg.optimizer}; its state starts fresh")
    if scaler is not None and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    if ckpt.get("rng"):
        set_rng_state(ckpt["rng"])
    return {k: ckpt.get(k, v) for k, v in PROGRESS.items()} | {"history": list(ckpt.get("history", []))}


def rng_state() -> dict:
    """The global random state (torch, numpy, python, CUDA) in plain types."""
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": [np_state[0], np_state[1].tolist(), *[v for v in np_state[2:]]],
            "python": json.loads(json.dumps(random.getstate())),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(s: dict) -> None:
    """Restore a ``rng_state``."""
    torch.set_rng_state(s["torch"])
    np.random.set_state((s["numpy"][0], np.array(s["numpy"][1], dtype=np.uint32), *s["numpy"][2:]))
    py = s["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if s.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


# ---------------------------------------------------------------------------------------------- loading
def load_checkpoint(path, data: bytes | None = None) -> dict:
    """Read a srcnn checkpoint on the CPU. SRCNNError for a missing, truncated, corrupt, foreign or
    code-carrying file; nothing in the file is executed. ``data``: the file's bytes when they come from
    elsewhere (a git revision, which vouches for them: no note for a missing digest), read from memory;
    ``path`` then only names them in messages."""
    if data is None:
        path = src = regular_file(path, "checkpoint file")  # a folder, FIFO or device: refused before reading
    else:
        path, src = Path(path), io.BytesIO(data)
    try:
        with warnings.catch_warnings():  # e.g. "pickle protocol 4" notes: the error below says it all
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(src, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        g = re.search(r"GLOBAL (\S+)", str(e))
        if g:
            raise SRCNNError(f"{path}: refused to load: the file would import {g.group(1)} (pickled code or "
                             "objects, not plain data); only srcnn checkpoints are accepted") from None
        raise SRCNNError(f"{path}: not a srcnn checkpoint (unreadable or unsupported pickle data)") from None
    except (EOFError, zipfile.BadZipFile, struct.error) as e:
        raise SRCNNError(f"{path}: truncated or corrupt checkpoint ({type(e).__name__}: {e})") from None
    except (RuntimeError, OSError, ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        if data is None and is_torchscript(path):   # torch.load refuses it: name it, with the way to run it
            check_trusted(path, trust_code=False)
        raise SRCNNError(f"{path}: truncated or corrupt checkpoint ({one_line(e)})") from None
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
    _check_fields(ckpt, path)
    _verify_digest(ckpt, path, note=data is None)
    _check_finite(ckpt, path)
    return ckpt


def _check_finite(ckpt: dict, path: Path) -> None:
    """SRCNNError when a weight of the checkpoint (state_dict, ema_state_dict) is NaN or infinite: such
    a network gives an all-black or all-white image, so the file is refused at load, naming the tensor."""
    for name in _digested(ckpt):
        for key, t in ckpt[name].items():
            numbers = isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex())
            if numbers and not bool(torch.isfinite(t).all()):
                raise SRCNNError(f"{path}: the {name} tensor {key!r} holds NaN or infinite values (a diverged or "
                                 "damaged file); refused")


def _check_fields(ckpt: dict, path: Path) -> None:
    """Types and ranges of the fields read from a checkpoint (a hand-made or damaged file may hold a
    string where a number belongs): SRCNNError naming the file and the field."""
    def bad(field: str, why: str):
        raise SRCNNError(f"{path}: damaged checkpoint: {field} {why}")

    m = ckpt["model"]
    if not isinstance(m, dict) or not all(isinstance(k, str) for k in m) or not isinstance(m.get("name", ""), str):
        bad("'model'", f"is {_short(m)}, not an architecture like {{'name': 'srcnn', ...}}")
    sd = ckpt["state_dict"]
    if not isinstance(sd, dict) or not sd:
        bad("'state_dict'", f"is {_short(sd)}, not a dict of tensors")
    for k, v in sd.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            bad(f"'state_dict' entry {k!r}", f"is a {type(v).__name__}, not a tensor")
    scales = ckpt["scale"] if isinstance(ckpt["scale"], (list, tuple)) and ckpt["scale"] else [ckpt["scale"]]
    for sc in scales:
        try:
            check_scale(sc)
        except SRCNNError:
            bad("'scale'", f"is {_short(ckpt['scale'])}, not an integer in 2..{MAX_SCALE} (or a list of them)")
    if not isinstance(ckpt["channels"], str) or ckpt["channels"] not in CHANNEL_NAMES:
        bad("'channels'", f"is {_short(ckpt['channels'])}, not 'y' or 'rgb'")
    if m.get("channels", 1) != channel_count(ckpt["channels"]):
        bad("'channels'", f"is {ckpt['channels']!r} but the architecture has {_short(m.get('channels', 1))} channel(s)")
    for k in ("epoch", "step"):
        if k in ckpt and (not isinstance(ckpt[k], int) or isinstance(ckpt[k], bool) or ckpt[k] < 0):
            bad(f"'{k}'", f"is {_short(ckpt[k])}, not a whole number >= 0")
    if "time_spent" in ckpt:
        try:
            check_number("'time_spent'", ckpt["time_spent"], 0)
        except SRCNNError as e:
            raise SRCNNError(f"{path}: damaged checkpoint: {e}") from None
    for k in ("hparams", "data", "best", "partial", "recipe", "distributed", "exported_from"):
        if ckpt.get(k) is not None and not isinstance(ckpt[k], dict):
            bad(f"'{k}'", f"is {_short(ckpt[k])}, not a dict")
    if ckpt.get("best") is not None:
        b = ckpt["best"]
        if not isinstance(b.get("epoch"), int) or not isinstance(b.get("val_psnr"), (int, float)):
            bad("'best'", f"is {_short(b)}, not {{'epoch': N, 'val_psnr': dB}}")
    if not isinstance(ckpt.get("history", []), list) or not all(isinstance(h, dict) for h in ckpt.get("history", [])):
        bad("'history'", "is not a list of per-epoch dicts")
    _check_nested(ckpt, bad)


MAX_LINEAGE = 100   # --init-from ancestors a recipe may record (the bundled weights carry up to 11)
_HISTORY = {"epoch": "int", "loss": "number", "lr": "number", "time": "number", "samples_per_s": "number",
            "val_psnr": "number?", "val_ssim": "number?"}   # "?": may be None; val_ssim may be absent
_DATA = {"path": "paths", "fingerprint": "str", "count": "int"}
_PARTIAL = {"samples": "int", "loss_sum": "number", "time": "number"}


def _kind_ok(v, kind: str) -> bool:
    if kind.endswith("?") and v is None:
        return True
    kind = kind.rstrip("?")
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if kind == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if kind == "str":
        return isinstance(v, str)
    if kind == "paths":
        return isinstance(v, str) or (isinstance(v, list) and bool(v) and all(isinstance(p, str) for p in v))
    if kind == "strs":   # a command or a list of commands
        return isinstance(v, str) or (isinstance(v, list) and all(isinstance(p, str) for p in v))
    raise AssertionError(kind)


def _check_nested(ckpt: dict, bad) -> None:
    """The nested fields that inspect, resume and the lineage tools read (history entries, data,
    partial, distributed, exported_from, the recipe and its chain of parents), checked once at load so
    that every reader can rely on them: ``bad(field, why)`` raises the one-line error."""
    def entry(field: str, d, schema: dict, optional=("val_ssim",)) -> None:
        if not isinstance(d, dict):
            bad(f"'{field}'", f"is {_short(d)}, not a dict")
        for k, kind in schema.items():
            if k not in d and k in optional:
                continue
            if k not in d or not _kind_ok(d[k], kind):
                what = {"int": "a whole number >= 0", "number": "a finite number", "str": "text",
                        "paths": "a path or a list of paths", "strs": "text or a list of text"}[kind.rstrip("?")]
                bad(f"'{field}.{k}'", f"is {_short(d[k]) if k in d else 'missing'}, not {what}"
                                      f"{' (or None)' if kind.endswith('?') else ''}")

    def history(field: str, h) -> None:
        if not isinstance(h, list):
            bad(f"'{field}'", f"is {_short(h)}, not a list of per-epoch dicts")
        for i, e in enumerate(h):
            entry(f"{field}[{i}]", e, _HISTORY)

    history("history", ckpt.get("history", []))
    if ckpt.get("data") is not None:
        d = ckpt["data"]
        entry("data", d, _DATA)
        if not isinstance(d.get("attrs", {}), dict):
            bad("'data.attrs'", f"is {_short(d['attrs'])}, not a dict")
        files = d.get("files", [])
        if not isinstance(files, list):
            bad("'data.files'", f"is {_short(files)}, not a list")
        for i, f in enumerate(files):
            entry(f"data.files[{i}]", f, _DATA)
    if ckpt.get("partial") is not None:
        entry("partial", ckpt["partial"], _PARTIAL)
    if ckpt.get("distributed") is not None:
        entry("distributed", ckpt["distributed"], {"world_size": "int", "global_batch_size": "int"})
    if ckpt.get("exported_from") is not None:
        entry("exported_from", ckpt["exported_from"], {"path": "str", "epoch": "int?"})
    recipe, where = ckpt.get("recipe"), "recipe"
    for _ in range(MAX_LINEAGE + 1):   # a loop, not recursion: a 3000-deep chain is one line too
        if recipe is None:
            return
        entry(where, recipe, {"prepare": "strs?", "train": "str?"}, optional=("prepare", "train"))
        changes = recipe.get("changes", [])
        if not isinstance(changes, list) or not all(isinstance(c, str) for c in changes):
            bad(f"'{where}.changes'", f"is {_short(changes)}, not a list of commands")
        parent = recipe.get("parent")
        if parent is None:
            return
        where += ".parent"
        entry(where, parent, {"weights": "str?", "epoch": "int?", "count": "int"},
              optional=("weights", "epoch", "count"))
        if parent.get("best") is not None:
            entry(f"{where}.best", parent["best"], {"epoch": "int", "val_psnr": "number"})
        if "history" in parent:
            history(f"{where}.history", parent["history"])
        recipe, where = parent.get("recipe"), where + ".recipe"
    bad("'recipe'", f"records more than {MAX_LINEAGE} --init-from ancestors (a hand-made chain)")


def _short(v) -> str:
    """A value for a one-line message: its repr, at most 60 characters, newlines escaped."""
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _verify_digest(ckpt: dict, path: Path, note: bool = True) -> None:
    """Refuse tensors whose bytes differ from the digest stored when the file was written (bit rot, a
    hand edit). A file without a digest (written before srcnn stored one) loads, with a note once
    (``note``: False for bytes whose source vouches for them, a git revision)."""
    stored = ckpt.get(DIGEST)
    if stored is None:
        key = str(path.resolve())
        if note and key not in _noted:
            _noted.add(key)
            print(f"note: {path}: no tensor digest (written by an older srcnn); its weights are not "
                  "verified (export it again to add one)", file=sys.stderr)
        return
    if not isinstance(stored, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in stored.items()):
        raise SRCNNError(f"{path}: corrupt checkpoint (its {DIGEST!r} entry is a {type(stored).__name__}, "
                         "not a dict of digests)")
    for name in sorted(set(stored) | set(_digested(ckpt))):
        if name not in stored or not isinstance(ckpt.get(name), dict):
            raise SRCNNError(f"{path}: corrupt checkpoint ({name!r} has no digest, or a digest but no tensors)")
        try:
            actual = tensor_digest(ckpt[name], name)
        except SRCNNError as e:
            raise SRCNNError(f"{path}: corrupt checkpoint ({e})") from None
        if actual != stored[name]:
            raise SRCNNError(f"{path}: corrupt checkpoint: the {name} tensors do not match their SHA-256 "
                             "digest (bit rot or an edited file); refused")


def inference_config(cfg: dict) -> dict:
    """The architecture ``cfg`` (a model's config()) runs with on whole images, in inference and in
    validation: an SRCNN trained without padding runs with replicate padding, as the authors run theirs,
    so its output keeps the input's size; every other model as it is."""
    if cfg.get("name", "srcnn") == "srcnn" and cfg.get("padding") == "none":
        return {**cfg, "padding": "replicate"}
    return dict(cfg)


def build_from_checkpoint(ckpt: dict, path, inference: bool = False) -> torch.nn.Module:
    """The checkpoint's architecture (any registered model; with ``inference``, as it runs on whole images:
    :func:`inference_config`) holding its weights."""
    cfg = inference_config(ckpt["model"]) if inference else dict(ckpt["model"])
    try:
        with torch.device("meta"):  # shapes only, no memory: a hand-made n1=10**9 allocates nothing
            probe = build_model(**cfg)
    except (TypeError, ValueError) as e:
        raise SRCNNError(f"{path}: unknown architecture {_short(ckpt['model'])} ({e})") from None
    except Exception:  # noqa: BLE001 (an architecture that cannot be built on the meta device: no probe)
        probe = None
    if probe is not None:
        mismatch = _state_dict_mismatch(probe.state_dict(), ckpt["state_dict"])
        if mismatch:
            raise SRCNNError(f"{path}: the weights do not match the architecture {ckpt['model']} ({mismatch})")
    try:
        model = build_model(**cfg)
    except (TypeError, ValueError) as e:
        raise SRCNNError(f"{path}: unknown architecture {_short(ckpt['model'])} ({e})") from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as e:
        raise SRCNNError(f"{path}: the weights do not match the architecture {ckpt['model']} "
                         f"({one_line(e, whole=True)})") from None
    return model


def _state_dict_mismatch(want: dict, have: dict) -> str:
    """'' when ``have`` has exactly the names and shapes of ``want``, else what differs (one line)."""
    parts = []
    missing = [k for k in want if k not in have]
    extra = [k for k in have if k not in want]
    if missing:
        parts.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    if extra:
        parts.append(f"unexpected {', '.join(extra[:4])}{' ...' if len(extra) > 4 else ''}")
    shapes = [f"{k} is {'x'.join(map(str, have[k].shape))} in the file, {'x'.join(map(str, want[k].shape))} in "
              "the model" for k in want if k in have and tuple(have[k].shape) != tuple(want[k].shape)]
    parts += shapes[:3] + (["..."] if len(shapes) > 3 else [])
    return "; ".join(parts)


def as_scales(s) -> list[int]:
    """A checkpoint's (or metadata's) "scale", one integer or a list of them, as a list."""
    return [int(x) for x in s] if isinstance(s, (list, tuple)) else [int(s)]


def check_compatible(meta: dict, scale=None, channels: str | None = None, what: str = "requested") -> None:
    """SRCNNError when a checkpoint's scale(s) or channels ("y"/"rgb") do not cover a request."""
    name = meta.get("path", "checkpoint")
    if scale is not None and not set(as_scales(scale)) <= set(as_scales(meta["scale"])):
        raise SRCNNError(f"{name}: trained for scale {meta['scale']}, but scale {scale} is {what}")
    if channels is not None and channels != meta["channels"]:
        raise SRCNNError(f"{name}: trained on channels {meta['channels']!r}, but {channels!r} is {what}")


def model_name(meta: dict) -> str:
    """A short label starting with the model family: "srcnn-9-5-5" (f1-f2-f3), "fsrcnn", "espcn",
    "vdsr", "srcnn-res", ...; "-rgb" for a 3-channel model; " (authors)" for the SRCNN authors' .mat;
    " (onnxruntime)" / " (torchscript)" for an exported file. ``meta``: the metadata of a loaded weight
    file (srcnn.weightfiles.load_file), or a checkpoint dict."""
    cfg = meta.get("model") or {}
    name = cfg.get("name", "srcnn")
    label = f"srcnn-{cfg['f1']}-{cfg['f2']}-{cfg['f3']}" if name == "srcnn" and "f1" in cfg else str(name)
    if cfg.get("channels", 1) == 3:
        label += "-rgb"
    if meta.get("format") == "matlab-srcnn":
        label += " (authors)"
    if meta.get("format") in ("onnx", "torchscript"):
        label += f" ({'onnxruntime' if meta['format'] == 'onnx' else 'torchscript'})"
    return label


# ----------------------------------------------------------------------------------------------
# TorchScript archives: code, never read as a checkpoint

def check_trusted(path, trust_code: bool) -> None:
    """SRCNNError unless the TorchScript file ``path`` may run: ``trust_code`` (--trust-code) given and
    the file named .ts or .torchscript, so that a file named like a checkpoint never runs code."""
    path = Path(path)
    if not trust_code:
        raise SRCNNError(f"{path}: a TorchScript file: it holds code, which srcnn runs only from a .ts file "
                         "you trust (--trust-code in super_resolve.py / evaluate.py, trust_code=True in "
                         "srcnn.load); otherwise use its checkpoint or an .onnx export")
    if path.suffix.lower() not in TS_SUFFIXES:
        raise SRCNNError(f"{path}: a TorchScript file named like a checkpoint; even with --trust-code srcnn "
                         "runs TorchScript only from a file named .ts or .torchscript (rename it if you trust it)")


def is_torchscript(path) -> bool:
    """A TorchScript archive: named .ts/.torchscript, or, whatever its name, a zip holding TorchScript's
    records (code/, constants.pkl) or srcnn.json (so that a renamed one is named as what it is)."""
    path = Path(path)
    if path.suffix.lower() in TS_SUFFIXES:
        return True
    try:
        if not path.is_file():  # a folder, FIFO or device (or a name over the limit): the loader's check names it
            return False
        with zipfile.ZipFile(path) as z:
            return any(n.split("/")[1:2] in (["code"], ["constants.pkl"]) or n.endswith(f"/extra/{TS_META}")
                       for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
