"""The Python API: load a model by name or path and call it on images or tensors.

    import srcnn
    sr = srcnn.load("fsrcnn", scale=3)     # bundled weights by name, or a path (see load)
    out = sr(img)                           # numpy (H,W[,C]) uint8/uint16 -> (3H,3W[,C]), same dtype
    out = srcnn.upscale(img, scale=3)       # the bundled SRCNN in one call
    sr.video("clip.mp4", "clip_x3.mp4", crf=18)   # a video file, audio and timestamps kept (PyAV)
    fast = srcnn.load("fsrcnn", precision="auto")   # bfloat16 where the hardware has it natively
    srcnn.list_models()                     # the bundled weights: name, scales, parameters, Set5 PSNR

Weights are found and loaded by srcnn.weightfiles.load_weights, as evaluate.py and super_resolve.py load
them; every call goes through srcnn.inference.super_resolve (tiles, Y or RGB as the model, alpha and 16
bits kept): the same path as super_resolve.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import inference
from .checkpoint import model_name
from .errors import SRCNNError, check_scale
from .models import build_model, count_parameters, input_kind, input_kind_of
from .weightfiles import DEFAULT_SCALE, REAL, WEIGHTS_DIR, bundled_models, load_file, load_weights

RESULTS = "results.json"  # in srcnn/weights: the clean models' figures (benchmarks/results_table.py table)
RESULTS_REAL = "results_real.json"  # the -real models' (benchmarks/real_photos.py table)


def _set5_psnr(folder: Path) -> dict[tuple[str, int], float]:
    """{(bundled name, scale): Set5 PSNR in dB to 0.01 (the paper's Y protocol, clean inputs)} as the
    results files in ``folder`` record it: the README's tables' figures. Empty for a missing file."""
    out = {}
    clean, real = folder / RESULTS, folder / RESULTS_REAL
    if clean.is_file():
        for name, row in json.loads(clean.read_text())["rows"].items():
            if row["kind"] == "bundled":
                out.update({(name, int(k.split(" x")[1])): v[0] for k, v in row["scores"].items()
                            if k.startswith("Set5 x")})
    if real.is_file():
        for key, cell in json.loads(real.read_text())["clean"].items():
            if key.startswith("Set5 x"):
                out.update({(name, int(key.split(" x")[1])): v[0] for name, v in cell.items()
                            if name.endswith(REAL)})
    return {k: float(f"{v:.2f}") for k, v in out.items()}


# Set5 PSNR of the bundled weights (list_models), read from the results files shipped beside them.
SET5_PSNR = _set5_psnr(WEIGHTS_DIR)


@dataclass
class SuperResolver:
    """A loaded model, ready to call. ``sr(img)`` or ``sr(tensor)``; see :meth:`__call__`.

    model: the network (torch.nn.Module; an onnxruntime/TorchScript wrapper for exported files);
    meta: what its file says (architecture, scale(s), channels, provenance); scale: the factor it upscales
    by; tile: output tile side (None automatic, 0 one pass); ensemble: self-ensemble (8 flips/rotations
    averaged, 8x the time); precision: "fp32" (default, bit-exact), "ort", "bf16" or "auto" (the fastest
    path measured to cost <= 0.05 dB on Set5; srcnn.precision.inference_path; ``path`` is the resolved
    one); name: a short label ("fsrcnn", "fsrcnn-real", "srcnn-9-5-5", ...; by default
    srcnn.checkpoint.model_name of meta).
    """
    model: torch.nn.Module
    meta: dict
    scale: int
    tile: int | None = None
    ensemble: bool = False
    precision: str = "fp32"
    name: str | None = None
    path: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.name is None:
            self.name = model_name(self.meta)
        self.path = inference.numeric_path(self.model, self.precision)

    @property
    def channels(self) -> int:
        """1 (the network refines Y of rgb2ycbcr; Cb/Cr are bicubic) or 3 (RGB)."""
        return int(self.model.channels)

    @property
    def input_kind(self) -> str:
        """"upscaled" (the network refines the bicubic upscale) or "lr" (it takes the image itself)."""
        return input_kind_of(self.model)

    @property
    def device(self) -> torch.device:
        return inference._device_of(self.model)

    def __repr__(self) -> str:
        return (f"SuperResolver({self.name} x{self.scale}, {self.input_kind} input, {self.channels} channel(s), "
                f"{self.meta.get('path')}, device {self.device}, {self.path.name})")

    def __call__(self, img: Any, tile: int | None = None, ensemble: bool | None = None,
                 precision: str | None = None):
        """Super-resolve ``img`` by ``self.scale``.

        - numpy (H,W), (H,W,1), (H,W,3) RGB or (H,W,4) RGBA, uint8 or uint16 -> (sH,sW[,C]) same dtype
          (alpha bicubic-upscaled and kept);
        - numpy float (same layouts) in [0,1] -> float32 in [0,1];
        - torch tensor (B,C,H,W) or (C,H,W), float in [0,1], C = 1 (grey), 3 (RGB) or 4 (RGBA) ->
          (B,C,sH,sW) float32 in [0,1] on the tensor's device.
        tile / ensemble / precision: override the loader's for this call.
        """
        tile = self.tile if tile is None else inference.check_tile(tile, "tile")
        ensemble = self.ensemble if ensemble is None else ensemble
        if not isinstance(ensemble, bool):
            raise SRCNNError(f"ensemble {ensemble!r}: must be True or False")
        path = self.path if precision is None else inference.numeric_path(self.model, precision)
        if isinstance(img, torch.Tensor):
            return self._tensor(img, tile, ensemble, path)
        a = np.asarray(img)
        if np.issubdtype(a.dtype, np.floating):
            return inference.super_resolve_float(a, self.model, self.scale, tile, ensemble, path)
        return inference.super_resolve(a, self.model, self.scale, tile, ensemble, path)

    def video(self, src, dst, codec: str | None = None, crf: int | None = None, preset: str | None = None,
              overwrite: bool = False, progress: bool = False, precision: str = "auto"):
        """Super-resolve the video file ``src`` into the video file ``dst`` (srcnn.video: every frame,
        a Y model on the Y plane; audio, subtitles, timestamps, rotation and colour metadata kept; the
        container follows dst's suffix). codec: the encoder (default libx264; libvpx-vp9 for .webm);
        crf: quality, 0 = lossless (default 18); preset: x264/x265 speed (default "medium"); overwrite:
        replace an existing dst; progress: a tqdm bar on stderr; precision: "auto" (default: the fastest
        path measured to cost <= 0.05 dB on Set5) or any of __call__'s ("fp32": each Y plane exactly the
        image path's). Needs PyAV (the ``video`` extra).
        Returns a srcnn.video.VideoResult (frames, size, out_size, codec, seconds); SRCNNError for a bad
        input or output, with nothing written under dst."""
        from .video import super_resolve_video
        return super_resolve_video(self, src, dst, codec=codec, crf=crf, preset=preset, overwrite=overwrite,
                                   progress=progress, precision=precision)

    def _tensor(self, x: torch.Tensor, tile, ensemble, path) -> torch.Tensor:
        if not x.is_floating_point():
            raise SRCNNError(f"expected a float tensor in [0,1], got {x.dtype}")
        single = x.dim() == 3
        if single:
            x = x[None]
        if x.dim() != 4 or x.shape[1] not in (1, 3, 4):
            raise SRCNNError(f"expected a (B,C,H,W) tensor with C = 1, 3 or 4, got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise SRCNNError(f"expected at least one image, got an empty batch {tuple(x.shape)}")
        outs = []
        for b in x.detach().to("cpu", torch.float64):
            a = b.permute(1, 2, 0).numpy()
            y = inference.super_resolve_float(a[:, :, 0] if a.shape[2] == 1 else a, self.model, self.scale,
                                              tile, ensemble, path)
            outs.append(torch.from_numpy(y[:, :, None] if y.ndim == 2 else y).permute(2, 0, 1))
        out = torch.stack(outs).to(x.device)
        return out[0] if single else out


def load(name_or_path: str | Path = "srcnn", scale: int | None = None, device: str | None = "cpu",
         tile: int | None = None, ensemble: bool = False, precision: str = "fp32",
         trust_code: bool = False) -> SuperResolver:
    """A callable :class:`SuperResolver` for

    - a bundled model name ("srcnn", "fsrcnn", "espcn"; "fsrcnn-real" for JPEG photos, noise, blur and
      resizes other than MATLAB's bicubic): its weights for ``scale`` (default 3), whatever
      files the current folder holds (a file named like a model: "./srcnn" or Path("srcnn"));
    - a path: a train.py checkpoint, a weights file from ``train.py export`` (.pt), the SRCNN authors'
      MATLAB .mat, or an exported .onnx (run by onnxruntime) / TorchScript (.ts) file;
      ``scale`` defaults to the file's own (the first of a multi-scale model's).

    Loading is data: nothing in a file runs, except a TorchScript file, which is code and is refused
    unless ``trust_code=True`` and it is named .ts or .torchscript (a warning then says it runs).

    device: "cpu" (default), "cuda" or "auto" (an .onnx file always runs on the CPU). precision: "fp32"
    (default: float32, the same bits for every tile size), "bf16" (bfloat16 autocast, channels-last on the
    CPU: fast only on hardware with native bfloat16) or "auto" (bf16 only there); an .onnx file runs in
    float32 (bf16 is refused). SRCNNError for an unknown name or precision, a missing or foreign file, or
    a scale the weights were not trained for.
    """
    inference.check_tile(tile, "tile")
    if not isinstance(ensemble, bool):
        raise SRCNNError(f"ensemble {ensemble!r}: must be True or False")
    w = load_weights(name_or_path, scale, device, trust_code=trust_code is True)
    return SuperResolver(w.model, w.meta, w.scale, tile=tile, ensemble=ensemble, precision=precision, name=w.name)


_CACHE: dict[tuple, SuperResolver] = {}


def upscale(img, scale: int = 3, model: str = "srcnn", device: str | None = "cpu", tile: int | None = None):
    """``load(model, scale)(img)`` with the loaded model kept for the next call (same model, scale, device)."""
    key = (str(model), check_scale(scale), str(device))
    if key not in _CACHE:
        _CACHE[key] = load(model, scale=scale, device=device)
    return _CACHE[key](img, tile=tile)


def list_models() -> list[dict]:
    """The bundled weights, one dict per (model, scale): name, scale, file, input ("upscaled"/"lr"),
    channels ("y"), parameters, set5_psnr (dB: SET5_PSNR, from the results files the README's tables
    render; None if not measured)."""
    rows = []
    for b in bundled_models():
        model, meta = load_file(b.path)
        for s in b.scales:
            rows.append({"name": b.name, "scale": s, "file": str(b.path), "input": model.input_kind,
                         "channels": meta.get("channels"), "parameters": count_parameters(model),
                         "set5_psnr": SET5_PSNR.get((b.name, s))})
    return rows


def create_model(name: str = "srcnn", pretrained: bool = False, scale: int | None = None, **kwargs):
    """An architecture from the registry (srcnn.models.build_model), timm-style: ``create_model("fsrcnn",
    scale=3, d=32)``. With ``pretrained`` the bundled weights of ``name`` for ``scale`` (default 3) are
    loaded (no other kwargs then). Returns the torch.nn.Module (train mode unless pretrained)."""
    if pretrained:
        if kwargs:
            raise SRCNNError(f"create_model({name!r}, pretrained=True): the bundled architecture is fixed; "
                             f"drop {', '.join(kwargs)}")
        return load_weights(name, scale or DEFAULT_SCALE).model
    if scale is not None:
        if input_kind(name, **kwargs) == "lr":   # upscaled-input models serve every scale
            kwargs["scale"] = scale
    try:
        return build_model(name, **kwargs)
    except ValueError as e:
        raise SRCNNError(str(e)) from None


__all__ = ["SuperResolver", "load", "upscale", "list_models", "create_model", "SET5_PSNR"]
