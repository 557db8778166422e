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
- ``pt`` (``.pt``, ``.pth``): a weights-only srcnn checkpoint (no optimizer/RNG state), what the bundled
  ``srcnn/weights/*.pt`` are.

Every file is written to a temporary name in the output folder and renamed when complete, and an ONNX or
TorchScript export is run once (onnxruntime / TorchScript) at a size other than the traced one and
compared with PyTorch: a model the exporter cannot express is an SRCNNError, never a broken file.

:class:`OnnxModel` / :class:`TorchScriptModel` wrap an exported file as a model that
srcnn.inference.super_resolve runs with the same tiling and colour handling as the PyTorch model.
"""
from __future__ import annotations

import io
import json
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from .errors import SRCNNError, check_number, check_scale
from .files import InputFiles, atomic_path, regular_file

OPSET = 17
OPSETS = (7, 20)                 # the opsets torch.onnx's TorchScript-based exporter writes (first, last)
FORMATS = ("onnx", "torchscript", "pt")
SUFFIXES = {".onnx": "onnx", ".ts": "torchscript", ".torchscript": "torchscript", ".pt": "pt", ".pth": "pt"}
TS_META = "srcnn.json"           # the metadata file inside a TorchScript archive
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


def _scales(s) -> list[int]:
    return [int(x) for x in s] if isinstance(s, (list, tuple)) else [int(s)]


def export_metadata(model, meta: dict, opset: int | None = OPSET) -> dict[str, str]:
    """The ``srcnn.*`` metadata of an exported model (all values strings)."""
    from . import __version__
    from .inference import model_name
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
        "srcnn.scale": ",".join(map(str, _scales(meta["scale"]))),
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
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SRCNNError(f"{path}: the exported {what} model does not run ({msg[:300]})") from None
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
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SRCNNError(f"{path}: {props['srcnn.name']} cannot be exported to ONNX opset {opset} "
                         f"({type(e).__name__}: {msg[:300]})") from None
    with _temporary(path, "ONNX model") as tmp:
        with open(tmp, "wb") as f:  # a full disk: atomic_path's one line, the old file kept
            f.write(data)
        try:
            sess = _ort_session(tmp)
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
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SRCNNError(f"{path}: {props['srcnn.name']} cannot be exported to TorchScript "
                             f"({type(e).__name__}: {msg[:300]})") from None
        # written by Python, not by torch.jit.save's C++ writer, which aborts the process on a full disk
        tmp.write_bytes(archive.getvalue())
        with torch.inference_mode():
            _verify(lambda x: traced(x).numpy(), model, path, "TorchScript")
    return props


def export_file(checkpoint, output, fmt: str | None = None, opset: int = OPSET) -> tuple[str, dict]:
    """Export a checkpoint (train.py's, exported weights, or the authors' .mat) to ``output``;
    returns (format, metadata). The "pt" format is train.py's own weights-only export, not handled here."""
    from .checkpoint import load_model
    fmt = format_for(output, fmt)
    src, dst = Path(checkpoint), Path(output)
    InputFiles(src, "the checkpoint it is exported from").check(dst)
    if dst.is_dir():
        raise SRCNNError(f"{dst}: is a folder")
    model, meta = load_model(src)   # SRCNN trained without padding runs (and exports) with replicate padding
    model.requires_grad_(False)
    if meta.get("scale") is None:
        raise SRCNNError(f"{src}: the file does not say its scale")
    if fmt == "onnx":
        return fmt, export_onnx(model, meta, dst, opset)
    if fmt == "torchscript":
        return fmt, export_torchscript(model, meta, dst)
    raise SRCNNError(f"{dst}: format {fmt!r} is written by train.py export itself")


# ----------------------------------------------------------------------------------------------
# running an exported file

def _ort_session(path):
    """An onnxruntime CPU session of the file ``path``. Its worker threads sleep between calls instead of
    spinning: spinning took CPU from the decoder, the encoder and the colour path that run between the
    network's calls (sr.video 1.07x the frames/s for FSRCNN and 1.36x for ESPCN, benchmarks/README.md)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _model_from_props(props: dict, path) -> tuple[dict, dict]:
    """(attributes, meta) of an exported model from its srcnn.* metadata, every value range-checked
    (scales by srcnn.errors.check_scale): SRCNNError naming the file and the key."""
    from .models import MAX_SHRINK
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
            "channels": "y" if attrs["channels"] == 1 else "rgb", "path": str(path), "metadata": props}
    return attrs, meta


class OnnxModel(torch.nn.Module):
    """An exported .onnx file run by onnxruntime (CPU), with the attributes srcnn.inference needs
    (channels, upscale, shrink). forward: (N,C,h,w) float tensor -> (N,C,u*h,u*w) float32 tensor."""
    runtime = "onnxruntime"

    def __init__(self, path):
        super().__init__()
        try:
            self.session = _ort_session(path)
        except ImportError:
            raise SRCNNError(f"{path}: running an ONNX model needs onnxruntime: pip install onnxruntime") from None
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SRCNNError(f"{path}: not a loadable ONNX model ({msg[:300]})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        attrs, self.meta = _model_from_props(props, path)
        self.channels, self.upscale, self.shrink = attrs["channels"], attrs["upscale"], attrs["shrink"]
        self.input_name = self.session.get_inputs()[0].name
        self.meta["format"] = "onnx"

    @property
    def input_kind(self) -> str:
        return "upscaled" if self.upscale == 1 else "lr"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        try:
            y = self.session.run(None, {self.input_name: a})[0]
        except Exception as e:  # noqa: BLE001 - onnxruntime's InvalidArgument, Fail, ...
            raise _run_error(self.meta["path"], x, e) from None
        return torch.from_numpy(y).to(x.device)


def _run_error(path, x: torch.Tensor, e: Exception) -> SRCNNError:
    """An exported model's failure on an input as one line naming the file."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return SRCNNError(f"{path}: the exported model failed on a {tuple(x.shape)} input ({type(e).__name__}"
                      f"{': ' + msg[:300] if msg else ''})")


class TorchScriptModel(torch.nn.Module):
    """An exported TorchScript file with the attributes srcnn.inference needs. A TorchScript archive
    holds code (its ``__setstate__`` runs at load, its ``forward`` on every tile), so it is loaded only
    when the caller trusts it: ``trust_code`` and a .ts/.torchscript name (:func:`check_trusted`)."""
    runtime = "torchscript"

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
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SRCNNError(f"{path}: not a loadable TorchScript file ({msg[:300]})") from None
        self.channels, self.upscale, self.shrink = attrs["channels"], attrs["upscale"], attrs["shrink"]
        self.meta["format"] = "torchscript"

    @property
    def input_kind(self) -> str:
        return "upscaled" if self.upscale == 1 else "lr"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        try:
            return self.net(x)
        except Exception as e:  # noqa: BLE001 - torch.jit.Error, RuntimeError, ...
            raise _run_error(self.meta["path"], x, e) from None


TS_SUFFIXES = (".ts", ".torchscript")   # the only names a TorchScript file is run from (when trusted)


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


def is_torchscript(path) -> bool:
    """A TorchScript archive: named .ts/.torchscript, or, whatever its name, a zip holding TorchScript's
    records (code/, constants.pkl) or srcnn.json (so that a renamed one is named as what it is)."""
    path = Path(path)
    if path.suffix.lower() in TS_SUFFIXES:
        return True
    if not path.is_file():  # a folder, FIFO or device: the loader's regular-file check names it
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.split("/")[1:2] in (["code"], ["constants.pkl"]) or n.endswith(f"/extra/{TS_META}")
                       for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def is_exported(path) -> bool:
    """An .onnx or TorchScript file (run through load_exported), not a checkpoint."""
    return Path(path).suffix.lower() == ".onnx" or is_torchscript(path)


def load_exported(path, device="cpu", trust_code: bool = False) -> tuple[torch.nn.Module, dict]:
    """(model, meta) for an exported .onnx (onnxruntime, CPU) or TorchScript file (its code runs, so
    only with ``trust_code`` and a .ts/.torchscript name: :func:`check_trusted`)."""
    path = regular_file(path, "exported model")
    model = OnnxModel(path) if path.suffix.lower() == ".onnx" else TorchScriptModel(path, device, trust_code)
    return model.eval(), model.meta


def read_metadata(path) -> dict[str, str]:
    """The srcnn.* metadata of an exported .onnx or TorchScript file (a TorchScript file's read as data:
    nothing in it runs)."""
    path = regular_file(path, "exported model")
    if path.suffix.lower() == ".onnx":
        return dict(load_exported(path)[1]["metadata"])
    return dict(_model_from_props(torchscript_metadata(path), path)[1]["metadata"])


__all__ = ["OPSET", "FORMATS", "format_for", "export_metadata", "export_onnx", "export_torchscript",
           "export_file", "OnnxModel", "TorchScriptModel", "load_exported", "read_metadata", "is_exported",
           "check_trusted"]
