"""Weight files of every kind, found and loaded in one place: from a name or a path to a model ready to run.

- bundled weights: ``srcnn/weights/<name>_x<s>.pt`` (a multi-scale model: ``<name>_x2-3-4.pt``), named by a
  model name and a scale (:func:`bundled_file`). A name is an architecture of the registry ("srcnn",
  "fsrcnn", "espcn", ...) or other weights of one ("fsrcnn-real": :func:`architecture`);
- a train.py checkpoint or its weights-only export (.pt): srcnn.checkpoint reads it as data only;
- an exported .onnx (run by onnxruntime, CPU) or TorchScript .ts file: :class:`OnnxModel`,
  :class:`TorchScriptModel`, with the ``srcnn.*`` metadata srcnn.export writes. A TorchScript file holds
  code, so it runs only with ``trust_code`` and a .ts/.torchscript name (srcnn.checkpoint.check_trusted);
- the SRCNN authors' MATLAB .mat: parsed by srcnn.official.

Two entry points: :func:`load_weights` resolves a name or a path and a scale (the model, its metadata, the
scale it runs at and its label), used by srcnn.load and both CLIs; :func:`load_file` reads one file of any
kind. A fresh architecture is srcnn.models.build_model; a checkpoint dict already read becomes a model
with srcnn.checkpoint.build_from_checkpoint.
"""
from __future__ import annotations

import json
import re
import sys
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from . import official
from .checkpoint import (TRAINING_STATE, TS_META, build_from_checkpoint, check_compatible, check_trusted,
                         is_torchscript, load_checkpoint, model_name)
from .color import channel_name
from .errors import SRCNNError, check_number, check_scale, one_line
from .files import regular_file
from .models import MAX_SHRINK, check_upscale, input_kind_of, model_names

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"   # the bundled weights (package data)
DEFAULT_SCALE = 3   # the scale of bundled weights when none is asked for
REAL = "-real"      # suffix of the bundled weights trained on the real-photo degradation (fsrcnn-real)
_BUNDLED_RE = re.compile(r"(?P<name>[a-z0-9][a-z0-9-]*)_x(?P<scales>\d+(?:-\d+)*)\.pt")


def resolve_device(name: str | None = "auto") -> torch.device:
    """"auto" (or None) -> cuda when available, else cpu; "cpu", "cuda" or "cuda:N" as it is. Any other
    value ("meta", "", a number), or "cuda" without a GPU, is an SRCNNError."""
    name = "auto" if name is None else name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise SRCNNError(f"--device {name!r}: unknown device (use auto, cpu or cuda)")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SRCNNError(f"--device {name}: no CUDA GPU is available here (use --device cpu)")
    return torch.device(name)


# ----------------------------------------------------------------------------------------------
# bundled weights

class Bundled(NamedTuple):
    """One file in srcnn/weights: model name, the scales it serves, its path."""
    name: str
    scales: tuple[int, ...]
    path: Path


def bundled_models() -> list[Bundled]:
    """Every bundled weight file, from the file names in WEIGHTS_DIR: ``<name>_x<s>.pt`` (one scale) or
    ``<name>_x2-3-4.pt`` (a multi-scale model). Sorted by name, then by first scale."""
    if not WEIGHTS_DIR.is_dir():
        return []
    found = []
    for f in WEIGHTS_DIR.iterdir():
        m = _BUNDLED_RE.fullmatch(f.name)
        if m and f.is_file():
            found.append(Bundled(m["name"], tuple(int(x) for x in m["scales"].split("-")), f))
    return sorted(found, key=lambda b: (b.name, b.scales))


def bundled_names() -> list[str]:
    """The model names that have bundled weights (each once, sorted)."""
    return sorted({b.name for b in bundled_models()})


def architecture(name: str) -> str:
    """The registry architecture of a bundled name: "fsrcnn-real" -> "fsrcnn", "srcnn" -> "srcnn"."""
    return name.removesuffix(REAL)


def weights_names() -> list[str]:
    """The names --model and srcnn.load take: every architecture of the registry (its bundled weights, or
    an error saying how to get them) and every bundled name (``fsrcnn-real``: other weights of one)."""
    names = model_names()
    return names + [n for n in bundled_names() if n not in names]


def check_weights_name(name: str, every: bool = False) -> None:
    """SRCNNError naming the choices when ``name`` is not one of :func:`weights_names` (or "all" with
    ``every``)."""
    if name in weights_names() or (every and name == "all"):
        return
    raise SRCNNError(f"--model {name}: unknown model; one of {', '.join(weights_names())}"
                     + (", or all" if every else ""))


def bundled_file(name: str, scale: int) -> Path:
    """The bundled weights of the model ``name`` for ``scale``: srcnn/weights/<name>_x<scale>.pt, else a
    multi-scale <name>_x<s1>-<s2>-....pt that covers the scale. SRCNNError saying how to get them
    when there is none."""
    files = [b for b in bundled_models() if b.name == name and scale in b.scales]
    if files:
        return min(files, key=lambda b: len(b.scales)).path  # a single-scale file wins
    path = WEIGHTS_DIR / f"{name}_x{scale}.pt"
    if name == "srcnn":
        raise SRCNNError(
            f"no bundled weights for x{scale} ({path} is missing): train them with prepare_data.py and "
            f"train.py (docs/training.md) and copy the best checkpoint there, or pass --checkpoint FILE "
            f"(a checkpoint.N from train.py or the authors' x{scale}.mat)")
    have = [f"x{'-'.join(map(str, b.scales))}" for b in bundled_models() if b.name == name]
    arch, real = architecture(name), " --degradation real" if name.endswith(REAL) else ""
    train = f"train them with prepare_data.py --model {arch}{real} and train.py --model {arch} (docs/training.md)"
    if not have:   # a family that ships no weights (vdsr): nothing is missing
        raise SRCNNError(f"no bundled {name} weights (none in {WEIGHTS_DIR}): {train}, then pass "
                         f"--checkpoint FILE (a checkpoint.N from train.py or its export)")
    raise SRCNNError(
        f"no bundled {name} weights for x{scale} (bundled {name} weights: {', '.join(have)}): {train} and "
        f"export the best checkpoint to {path.name} there, or pass --checkpoint FILE")


# ----------------------------------------------------------------------------------------------
# exported files (srcnn.export writes them)

def ort_session(path):
    """An onnxruntime CPU session of the .onnx file ``path`` (ImportError without onnxruntime). Its worker
    threads sleep between calls instead of spinning: spinning took CPU from the decoder, the encoder and
    the colour path that run between the network's calls (benchmarks/README.md, "Video frames")."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _model_from_props(props: dict, path) -> tuple[dict, dict]:
    """(attributes, meta) of an exported model from its srcnn.* metadata, every value range-checked
    (scales by srcnn.errors.check_scale): SRCNNError naming the file and the key."""
    try:
        attrs = dict(channels=int(props["srcnn.channels"]), upscale=int(props["srcnn.upscale"]),
                     shrink=int(props["srcnn.shrink"]))
        scales = [int(s) for s in props["srcnn.scale"].split(",")]
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise SRCNNError(f"{path}: no srcnn metadata ({e}); export the model with 'python train.py export "
                         "CKPT out.onnx' (or give --scale with a checkpoint)") from None
    try:
        scales = [check_scale(s, "srcnn.scale") for s in scales]
        if attrs["upscale"] != 1 and attrs["upscale"] not in scales:
            raise SRCNNError(f"srcnn.upscale {attrs['upscale']}: must be 1 (an upscaled-input model) or the "
                             f"scale {props['srcnn.scale']}")
        if attrs["channels"] not in (1, 3):
            raise SRCNNError(f"srcnn.channels {attrs['channels']}: must be 1 (Y) or 3 (RGB)")
        check_number("srcnn.shrink", attrs["shrink"], 0, MAX_SHRINK)
        try:
            config = json.loads(props.get("srcnn.model") or "null")
        except (ValueError, RecursionError):
            config = []
        if config is not None and not (isinstance(config, dict) and isinstance(config.get("name", ""), str)):
            raise SRCNNError("srcnn.model is not an architecture like {\"name\": \"fsrcnn\", ...}")
    except SRCNNError as e:
        raise SRCNNError(f"{path}: bad srcnn metadata: {e}") from None
    meta = {"model": config, "scale": scales[0] if len(scales) == 1 else scales,
            "channels": channel_name(attrs["channels"]), "path": str(path), "metadata": props}
    return attrs, meta


def _run_error(path, x: torch.Tensor, e: Exception) -> SRCNNError:
    """An exported model's failure on an input as one line naming the file."""
    kind, msg = type(e).__name__, one_line(e, 300)
    return SRCNNError(f"{path}: the exported model failed on a {tuple(x.shape)} input ({kind}"
                      f"{'' if msg == kind else ': ' + msg})")


class OnnxModel(torch.nn.Module):
    """An exported .onnx file run by onnxruntime (CPU), with the attributes srcnn.inference needs
    (channels, upscale, shrink). forward: (N,C,h,w) float tensor -> (N,C,u*h,u*w) float32 tensor."""
    runtime = "onnxruntime"
    input_kind = property(input_kind_of)

    def __init__(self, path):
        super().__init__()
        try:
            self.session = ort_session(path)
        except ImportError:
            raise SRCNNError(f"{path}: running an ONNX model needs onnxruntime: pip install onnxruntime") from None
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise SRCNNError(f"{path}: not a loadable ONNX model ({one_line(e, 300)})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        attrs, self.meta = _model_from_props(props, path)
        self.channels, self.upscale, self.shrink = attrs["channels"], attrs["upscale"], attrs["shrink"]
        self.input_name = self.session.get_inputs()[0].name
        self.meta["format"] = "onnx"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        try:
            y = self.session.run(None, {self.input_name: a})[0]
        except Exception as e:  # noqa: BLE001 - onnxruntime's InvalidArgument, Fail, ...
            raise _run_error(self.meta["path"], x, e) from None
        return torch.from_numpy(y).to(x.device)


class TorchScriptModel(torch.nn.Module):
    """An exported TorchScript file with the attributes srcnn.inference needs. A TorchScript archive
    holds code (its ``__setstate__`` runs at load, its ``forward`` on every tile), so it is loaded only
    when the caller trusts it: ``trust_code`` and a .ts/.torchscript name (srcnn.checkpoint.check_trusted)."""
    runtime = "torchscript"
    input_kind = property(input_kind_of)

    def __init__(self, path, device="cpu", trust_code: bool = False):
        super().__init__()
        check_trusted(path, trust_code)
        attrs, self.meta = _model_from_props(torchscript_metadata(path), path)   # read as data
        print(f"warning: {path}: running the TorchScript code in this file (trusted: --trust-code / "
              "trust_code=True)", file=sys.stderr)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.net = torch.jit.load(str(path), map_location=device)
        except Exception as e:  # noqa: BLE001
            raise SRCNNError(f"{path}: not a loadable TorchScript file ({one_line(e, 300)})") from None
        self.channels, self.upscale, self.shrink = attrs["channels"], attrs["upscale"], attrs["shrink"]
        self.meta["format"] = "torchscript"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:
            return self.net(x)
        except Exception as e:  # noqa: BLE001 - torch.jit.Error, RuntimeError, ...
            raise _run_error(self.meta["path"], x, e) from None


def torchscript_metadata(path) -> dict:
    """The srcnn.* metadata of a TorchScript archive, read from its srcnn.json entry as data (the
    archive's code is not loaded); {} when there is none."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith(f"/extra/{TS_META}")]
            text = z.read(names[0]) if names else b"{}"
    except (OSError, zipfile.BadZipFile) as e:
        raise SRCNNError(f"{path}: not a loadable TorchScript file ({e})") from None
    try:
        props = json.loads(text)
    except (ValueError, RecursionError):
        props = None
    return props if isinstance(props, dict) else {}


def read_metadata(path) -> dict[str, str]:
    """The srcnn.* metadata of an exported .onnx or TorchScript file (a TorchScript file's read as data:
    nothing in it runs)."""
    path = regular_file(path, "exported model")
    if path.suffix.lower() == ".onnx":
        return dict(OnnxModel(path).meta["metadata"])
    return dict(_model_from_props(torchscript_metadata(path), path)[1]["metadata"])


# ----------------------------------------------------------------------------------------------
# loading

def load_file(path, device="cpu", trust_code: bool = False) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on ``device``, meta) for one weight file of any kind, told by its name and,
    for a TorchScript archive named otherwise, its content:

    - .mat: the SRCNN authors' weights (srcnn.official.load_official; needs scipy);
    - .onnx: an :class:`OnnxModel` (onnxruntime, always on the CPU);
    - a TorchScript archive: a :class:`TorchScriptModel`, only with ``trust_code`` and a .ts/.torchscript
      name (otherwise the SRCNNError says so, before any of its code runs);
    - anything else: a srcnn checkpoint (train.py's, or its .pt export): its architecture as it runs on
      whole images (srcnn.checkpoint.inference_config), its EMA weights when it has them.

    ``model(x)``: x (N,C,h,w) float32 in [0,1] -> (N,C,u*h,u*w), u = model.upscale (1: the input is the
    bicubic-upscaled image; the scale: the LR image). ``meta``: what the file says (model, scale,
    channels "y"/"rgb", provenance), "path", and "format" for the .mat and exported files; a checkpoint's
    is the checkpoint without its training state (epoch, hparams, data, history, best, recipe, ...) plus
    "train_padding" (SRCNN's padding in training; None for models without that option)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        model, meta = official.load_official(path)
        return model.to(device).eval(), meta
    if suffix == ".onnx" or is_torchscript(path):
        path = regular_file(path, "exported model")
        model = OnnxModel(path) if suffix == ".onnx" else TorchScriptModel(path, device, trust_code)
        return model.eval(), model.meta
    ckpt = load_checkpoint(path)
    if isinstance(ckpt.get("ema_state_dict"), dict):  # a --ema run: the averaged weights are the validated ones
        ckpt = {**ckpt, "state_dict": ckpt["ema_state_dict"]}
    cfg = ckpt["model"] if isinstance(ckpt["model"], dict) else {}
    srcnn = cfg.get("name", "srcnn") == "srcnn"
    train_padding = cfg.get("padding", "replicate") if srcnn else cfg.get("padding")
    model = build_from_checkpoint(ckpt, path, inference=True)
    meta = {k: v for k, v in ckpt.items() if k not in TRAINING_STATE and k != "ema_state_dict"}
    meta["path"], meta["train_padding"] = str(path), train_padding
    return model.to(device).eval(), meta


class Loaded(NamedTuple):
    """What :func:`load_weights` returns: the model (eval mode, on the device, no gradients), its file's
    metadata (:func:`load_file`), the scale it runs at, and its label: a bundled name that is not a registry
    architecture's ("fsrcnn-real"), else srcnn.checkpoint.model_name of the metadata ("srcnn-9-5-5")."""
    model: torch.nn.Module
    meta: dict
    scale: int
    name: str


def _source(source) -> tuple[str | None, Path | None]:
    """(model name, None) for a bundled model name, (None, path) for a file. Names are names: a model
    name (:func:`weights_names`) always means the bundled weights, even where a file of that name is in
    the current folder ("./srcnn" or Path("srcnn") is that file); a Path, or any other text, is a file."""
    if isinstance(source, Path):
        return None, source           # a Path is always a file (its loader says when it is missing)
    if isinstance(source, str):
        if source in weights_names():
            return source, None
        if Path(source).is_file():
            return None, Path(source)
        raise SRCNNError(f"{source}: no such file, and not a model name "
                         f"(bundled: {', '.join(bundled_names()) or 'none'})")
    raise SRCNNError(f"load: expected a model name or a path, got {type(source).__name__}")


def load_weights(source: str | Path = "srcnn", scale: int | None = None, device: str | None = "cpu",
                 trust_code: bool = False) -> Loaded:
    """The one resolver of weights: ``source`` a model name (its bundled file for ``scale``:
    :func:`bundled_file`) or a path (:func:`load_file`: a checkpoint, a .pt export, the authors' .mat, an
    exported .onnx or a trusted .ts). scale None = the file's own (the first of a multi-scale model's;
    DEFAULT_SCALE for bundled weights); weights trained for other scales, or an LR-input model of
    another scale, are an SRCNNError. device: "cpu", "cuda[:N]" or "auto" (:func:`resolve_device`)."""
    name, path = _source(source)
    if scale is not None:
        scale = check_scale(scale)
    device = resolve_device(device)
    if path is None:
        scale = DEFAULT_SCALE if scale is None else scale
        path = bundled_file(name, scale)
    model, meta = load_file(path, device, trust_code)
    if scale is None:
        s = meta.get("scale")
        if s is None:
            raise SRCNNError(f"{path}: the file does not say its scale; pass --scale")
        scale = int(s[0] if isinstance(s, (list, tuple)) else s)
    elif meta.get("scale") is not None:
        check_compatible(meta, scale=scale)
    check_upscale(model, scale, where=f"{path}: ")
    model.requires_grad_(False)
    label = name if name is not None and name not in model_names() else model_name(meta)
    return Loaded(model, meta, scale, label)
