"""Export a model for use outside this project, and run an exported file here.

Formats (``python train.py export CKPT OUT``; the format comes from OUT's suffix or ``--format``):

- ``onnx`` (``.onnx``): opset :data:`OPSET`, the classic TorchScript-based exporter of
  ``torch.onnx.export(dynamo=False)`` (needs only the ``onnx`` package, not ``onnxscript``). One input
  ``input`` and one output ``output``, both (N,C,H,W) float32 in [0,1] with dynamic N, H and W. The input
  is the bicubic-upscaled image for an upscaled-input model (SRCNN, VDSR, ...; output the same size) and
  the low-resolution image for an LR-input model (FSRCNN, ESPCN, ...; output ``upscale`` times larger).
  What a consumer needs to know is stored as ONNX ``metadata_props`` (:func:`export_metadata`, keys
  ``srcnn.*``): input kind, scale(s), upscale, channels, colour convention, receptive-field margin.
- ``torchscript`` (``.ts``, ``.torchscript``): ``torch.jit.trace`` of the model, the same metadata as
  ``srcnn.json`` in the archive's extra files.
- ``pt`` (``.pt``, ``.pth``): a weights-only srcnn checkpoint (no optimizer/RNG state; a --ema run's
  averaged weights; ``exported_from`` names its source), what the bundled ``srcnn/weights/*.pt`` are.

Every file is written to a temporary name in the output folder and renamed when complete, and an ONNX or
TorchScript export is run once (onnxruntime / TorchScript) at a size other than the traced one and
compared with PyTorch: a model the exporter cannot express is an SRCNNError, never a broken file.

Running an exported file (srcnn.weightfiles.OnnxModel / TorchScriptModel, which srcnn.inference runs with
the same tiling and colour handling as the PyTorch model) is srcnn.weightfiles, with every other way of
loading weights.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from .checkpoint import (TRAINING_STATE, TS_META, as_scales, build_from_checkpoint, load_checkpoint, model_name,
                         save_checkpoint)
from .errors import SRCNNError, one_line
from .files import InputFiles, atomic_path
from .weightfiles import load_file, ort_session

OPSET = 17
OPSETS = (7, 20)                 # the opsets torch.onnx's TorchScript-based exporter writes (first, last)
FORMATS = ("onnx", "torchscript", "pt")
SUFFIXES = {".onnx": "onnx", ".ts": "torchscript", ".torchscript": "torchscript", ".pt": "pt", ".pth": "pt"}
VERIFY_TOL = 1e-4                # an export differing more than this from PyTorch is refused
COLOR = {1: "Y of MATLAB rgb2ycbcr (BT.601 studio range: Y in [16,235]/255), 1 plane",
         3: "RGB, 3 planes"}


def format_for(path, fmt: str | None = None) -> str:
    """The export format: ``fmt`` if given, else from the suffix of ``path``."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise SRCNNError(f"--format {fmt}: unknown format (one of {', '.join(FORMATS)})")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise SRCNNError(f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}; use "
                         f"{', '.join(SUFFIXES)} or --format {'|'.join(FORMATS)}")
    return SUFFIXES[suffix]


def export_metadata(model, meta: dict, opset: int | None = OPSET) -> dict[str, str]:
    """The ``srcnn.*`` metadata of an exported model (all values strings)."""
    from . import __version__
    up = int(getattr(model, "upscale", 1))
    c = int(model.channels)
    lr = up > 1
    props = {
        "srcnn.format": "srcnn-export",
        "srcnn.version": __version__,
        "srcnn.name": model_name(meta),
        "srcnn.model": json.dumps(model.config() if hasattr(model, "config") else meta.get("model")),
        "srcnn.input": "lr" if lr else "upscaled",
        "srcnn.input_doc": ("the low-resolution image; the output is upscale times larger" if lr else
                            "the low-resolution image upscaled by the scale with MATLAB-compatible bicubic "
                            "(srcnn.imresize); the output has the input's size"),
        "srcnn.scale": ",".join(map(str, as_scales(meta["scale"]))),
        "srcnn.upscale": str(up),
        "srcnn.channels": str(c),
        "srcnn.color": COLOR.get(c, f"{c} planes"),
        "srcnn.layout": "NCHW float32 in [0,1], dynamic N, H, W (output not clipped)",
        "srcnn.shrink": str(int(model.shrink)),
    }
    if opset is not None:
        props["srcnn.opset"] = str(opset)
    return props


def _temporary(path: Path, what: str):
    """srcnn.files.atomic_path for ``path``, its folder created first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_path(path, what)


def _probe(model, extra: int = 0) -> torch.Tensor:
    """A small random input covering the receptive field: (1,C,h,w) with h != w."""
    n = 2 * int(model.shrink) + 6 + extra
    g = torch.Generator().manual_seed(extra)
    return torch.rand(1, model.channels, n, n + 3, generator=g)


def _verify(run, model, path: Path, what: str) -> float:
    """Max abs difference between ``run`` (the exported file) and PyTorch on a batch of 2 at a size other
    than the traced one; SRCNNError above VERIFY_TOL."""
    x = torch.cat([_probe(model, 5), _probe(model, 5).flip(3)])
    with torch.inference_mode():
        want = model(x).numpy()
    try:
        got = run(x)
    except Exception as e:  # noqa: BLE001 - any runtime failure means the file is unusable
        raise SRCNNError(f"{path}: the exported {what} model does not run ({one_line(e, 300)})") from None
    if got.shape != want.shape:
        raise SRCNNError(f"{path}: the exported {what} model returned {got.shape} for {tuple(x.shape)}, "
                         f"PyTorch {want.shape} (the exporter fixed a size)")
    err = float(np.abs(got - want).max())
    if not err <= VERIFY_TOL:
        raise SRCNNError(f"{path}: the exported {what} model differs from PyTorch by {err:.3g} (max abs)")
    return err


def export_onnx(model, meta: dict, path, opset: int = OPSET) -> dict[str, str]:
    """Write ``model`` (eval mode, CPU) as ONNX to ``path`` atomically; returns the metadata stored."""
    try:
        import onnx
    except ImportError:
        raise SRCNNError("ONNX export needs the onnx package: pip install onnx onnxruntime") from None
    path = Path(path)
    props = export_metadata(model, meta, opset)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notes
            graph = io.BytesIO()  # in memory: the exporter's writer would report a full disk as its own failure
            torch.onnx.export(model, (_probe(model),), graph, dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "N", 2: "H", 3: "W"},
                                            "output": {0: "N", 2: "H_out", 3: "W_out"}})
        proto = onnx.load_from_string(graph.getvalue())
        onnx.helper.set_model_props(proto, props)
        proto.doc_string = f"srcnn {props['srcnn.name']}: {props['srcnn.input_doc']}"
        onnx.checker.check_model(proto)
        data = proto.SerializeToString()
    except Exception as e:  # noqa: BLE001 - the exporter raises many types for unsupported ops
        raise SRCNNError(f"{path}: {props['srcnn.name']} cannot be exported to ONNX opset {opset} "
                         f"({type(e).__name__}: {one_line(e, 300)})") from None
    with _temporary(path, "ONNX model") as tmp:
        with open(tmp, "wb") as f:  # a full disk: atomic_path's one line, the old file kept
            f.write(data)
        try:
            sess = ort_session(tmp)
        except ImportError:
            sess = None  # no onnxruntime: the file is checked by onnx.checker only
        if sess is not None:
            _verify(lambda x: sess.run(None, {"input": x.numpy()})[0], model, path, "ONNX")
    return props


def export_torchscript(model, meta: dict, path) -> dict[str, str]:
    """Write ``torch.jit.trace(model)`` to ``path`` atomically, metadata in the extra file srcnn.json."""
    path = Path(path)
    props = export_metadata(model, meta, opset=None)
    with _temporary(path, "TorchScript model") as tmp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(model, _probe(model), check_trace=False)
                archive = io.BytesIO()
                torch.jit.save(traced, archive, _extra_files={TS_META: json.dumps(props)})
        except Exception as e:  # noqa: BLE001
            raise SRCNNError(f"{path}: {props['srcnn.name']} cannot be exported to TorchScript "
                             f"({type(e).__name__}: {one_line(e, 300)})") from None
        # written by Python, not by torch.jit.save's C++ writer, which aborts the process on a full disk
        tmp.write_bytes(archive.getvalue())
        with torch.inference_mode():
            _verify(lambda x: traced(x).numpy(), model, path, "TorchScript")
    return props


def export_pt(checkpoint, output) -> dict:
    """Write the weights-only checkpoint of the train.py checkpoint ``checkpoint`` to ``output``
    (srcnn.checkpoint.save_checkpoint, atomic): its model, scale, channels and provenance without the
    optimizer, scheduler, RNG and partial-epoch state; a --ema run's averaged weights (the validated ones)
    as its state_dict; ``exported_from`` {"path", "epoch", "weights": "ema" | "raw"}. Weights that do not
    fit their architecture are refused. Returns the dict written."""
    src = Path(checkpoint)
    ck = load_checkpoint(src)
    build_from_checkpoint(ck, src)  # refuse weights that do not fit their architecture
    small = {k: v for k, v in ck.items() if k not in TRAINING_STATE or k == "state_dict"}
    small.pop("partial", None)
    ema = small.pop("ema_state_dict", None)
    if ema is not None:  # a --ema run: the averaged weights are the validated ones
        small["state_dict"] = ema
    small["exported_from"] = {"path": str(src), "epoch": ck.get("epoch"),
                              "weights": "ema" if ema is not None else "raw"}
    save_checkpoint(small, output)
    return small


def export_file(checkpoint, output, fmt: str | None = None, opset: int = OPSET) -> tuple[str, dict]:
    """Export a checkpoint (train.py's, exported weights, or the authors' .mat; a train.py checkpoint for
    "pt") to ``output``; returns (format, what was stored: the srcnn.* metadata, or the "pt" dict of
    :func:`export_pt`)."""
    fmt = format_for(output, fmt)
    src, dst = Path(checkpoint), Path(output)
    InputFiles(src, "the checkpoint it is exported from").check(dst)
    if fmt == "pt":
        return fmt, export_pt(src, dst)
    if dst.is_dir():
        raise SRCNNError(f"{dst}: is a folder")
    model, meta = load_file(src)   # SRCNN trained without padding runs (and exports) with replicate padding
    if meta.get("format") in ("onnx", "torchscript"):
        raise SRCNNError(f"{src}: an exported file already; export the checkpoint it was made from")
    model.requires_grad_(False)
    if meta.get("scale") is None:
        raise SRCNNError(f"{src}: the file does not say its scale")
    if fmt == "onnx":
        return fmt, export_onnx(model, meta, dst, opset)
    return fmt, export_torchscript(model, meta, dst)


__all__ = ["OPSET", "FORMATS", "format_for", "export_metadata", "export_onnx", "export_torchscript",
           "export_pt", "export_file"]
