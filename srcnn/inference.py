"""Super-resolve an image array: MATLAB-bicubic upscale, then the network, tile by tile.

The paper's recipe: the low-resolution image is upscaled by the scale with MATLAB's bicubic imresize;
a 1-channel (Y) model refines the Y channel of MATLAB's rgb2ycbcr while Cb and Cr stay bicubic; a
3-channel model refines RGB. Greyscale stays greyscale (the grey level is the Y the network sees, as
in the authors' code), an alpha channel is bicubic-upscaled and kept, 16-bit in gives 16-bit out.

Memory is bounded by tiling the *output*: each tile of ``tile`` x ``tile`` output pixels is computed
from the bicubic upscale of that tile plus a margin of ``model.shrink`` pixels (the network's
receptive-field radius), cut out of the full upscaled image (computed strip by strip with exactly the
arithmetic of :func:`srcnn.imresize.imresize`) and the margin is thrown away. Where a tile touches the
image border, the border is the network's own padding border, as in a full-image pass. So the tiled
result equals the untiled one exactly (bit for bit on the CPU; on CUDA cuDNN may pick a different
algorithm for a different tile shape, a last-bit difference).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .color import rgb2ycbcr, ycbcr2rgb
from .errors import SRCNNError
from .imresize import contributions

# Output pixels per tile side when tile=None: a 9-5-5 tile then needs ~0.3 GB (CPU) / ~1.2 GB (CUDA).
AUTO_TILE = {"cpu": 512, "cuda": 1024}
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MIN_SIDE = 2  # smaller inputs (1-pixel images) are refused


# ----------------------------------------------------------------------------------------------
# devices, bundled weights, loading

def resolve_device(name: str | None = "auto") -> torch.device:
    """"auto" -> cuda when available, else cpu; "cuda" without a GPU is an SRCNNError."""
    name = name or "auto"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SRCNNError(f"--device {name}: no CUDA GPU is available here (use --device cpu)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise SRCNNError(f"--device {name}: unknown device (use cpu or cuda)") from None


def bundled_checkpoint(scale: int) -> Path:
    """srcnn/weights/srcnn_x<scale>.pt; SRCNNError saying how to get it when it is not there."""
    path = WEIGHTS_DIR / f"srcnn_x{scale}.pt"
    if not path.is_file():
        raise SRCNNError(
            f"no bundled weights for x{scale} ({path} is missing): train them with prepare_data.py and "
            f"train.py (README, 'Training') and copy the best checkpoint there, or pass --checkpoint FILE "
            f"(a checkpoint.N from train.py or the authors' x{scale}.mat)")
    return path


def load_for_scale(checkpoint, scale: int | None, device) -> tuple[torch.nn.Module, dict, int]:
    """(model in eval mode on device, meta, scale) for a checkpoint (or the bundled one for ``scale``).

    scale None = the checkpoint's own scale (its first one for a multi-scale model; 3 for the bundled
    default). A checkpoint trained for other scales is an SRCNNError.
    """
    from .checkpoint import check_compatible, load_model
    if checkpoint is None:
        scale = 3 if scale is None else scale
        checkpoint = bundled_checkpoint(scale)
    model, meta = load_model(checkpoint, device=device)
    if scale is None:
        s = meta.get("scale")
        if s is None:
            raise SRCNNError(f"{checkpoint}: the file does not say its scale; pass --scale")
        scale = int(s[0] if isinstance(s, (list, tuple)) else s)
    elif meta.get("scale") is not None:
        check_compatible(meta, scale=scale)
    model.requires_grad_(False)
    return model, meta, int(scale)


def model_name(meta: dict) -> str:
    """A short label such as "SRCNN 9-5-5" (or the .mat loader's "SRCNN 9-5-5 (authors)")."""
    if meta.get("name"):
        return str(meta["name"])
    cfg = meta.get("model", {})
    if cfg.get("name", "srcnn") == "srcnn" and "f1" in cfg:
        label = f"SRCNN {cfg['f1']}-{cfg['f2']}-{cfg['f3']}"
        return label + (" RGB" if cfg.get("channels", 1) == 3 else "")
    return str(cfg.get("name", "model"))


# ----------------------------------------------------------------------------------------------
# tiled forward pass

def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    return [(a, min(a + tile, n)) for a in range(0, n, tile)]


def _margin(model) -> int:
    if getattr(model, "padding", None) == "none":
        raise SRCNNError("a model with padding 'none' shrinks its output; load it with "
                         "srcnn.checkpoint.load_model, which runs it with replicate padding")
    try:
        return int(model.shrink)
    except AttributeError:
        raise SRCNNError(f"{type(model).__name__} has no 'shrink' (receptive-field margin)") from None


def _device_of(model) -> torch.device:
    return next(model.parameters()).device


def tile_size(tile: int | None, device) -> int:
    """Core tile side in output pixels: ``tile`` if given (0 = the whole image at once), else AUTO_TILE."""
    if tile is None:
        return AUTO_TILE.get(torch.device(device).type, AUTO_TILE["cpu"])
    if tile < 0:
        raise SRCNNError(f"--tile {tile}: must be 0 (no tiling) or a positive number of pixels")
    return tile


def tiled_forward(model, region, hw: tuple[int, int], tile: int | None = None):
    """Run ``model`` over an image it sees only through ``region``, one tile at a time.

    region(r0, r1, c0, c1) -> (r1-r0, c1-c0, P) float array, P >= model.channels: the network input in
    its first model.channels planes (any further planes are passed through). hw = full (H, W).
    Yields ((r0, r1, c0, c1), net (h, w, C) float32 numpy, planes (h, w, P) float) per output tile.
    """
    H, W = hw
    m = _margin(model)
    device = _device_of(model)
    t = tile_size(tile, device) or max(H, W)
    c = model.channels
    with torch.inference_mode():
        for r0, r1 in _spans(H, t):
            for c0, c1 in _spans(W, t):
                a0, a1, b0, b1 = max(r0 - m, 0), min(r1 + m, H), max(c0 - m, 0), min(c1 + m, W)
                planes = region(a0, a1, b0, b1)
                x = np.ascontiguousarray(planes[:, :, :c].transpose(2, 0, 1), dtype=np.float32)
                y = model(torch.from_numpy(x)[None].to(device))[0]
                y = y[:, r0 - a0:r1 - a0, c0 - b0:c1 - b0].permute(1, 2, 0).cpu().numpy()
                yield (r0, r1, c0, c1), y, planes[r0 - a0:r1 - a0, c0 - b0:c1 - b0]


def forward_array(model, x: np.ndarray, tile: int | None = None) -> np.ndarray:
    """The network on a whole (already bicubic-upscaled) image, tiled to bound memory.

    x: (H,W) (1-channel model) or (H,W,C) float in [0,1] -> the same shape, float32, not clipped.
    """
    x3 = x[:, :, None] if x.ndim == 2 else x
    if x3.shape[2] != model.channels:
        raise SRCNNError(f"the model takes {model.channels} channel(s), the image has {x3.shape[2]}")
    out = np.empty(x3.shape, np.float32)
    region = lambda r0, r1, c0, c1: x3[r0:r1, c0:c1]  # noqa: E731
    for (r0, r1, c0, c1), y, _ in tiled_forward(model, region, x3.shape[:2], tile):
        out[r0:r1, c0:c1] = y
    return out[:, :, 0] if x.ndim == 2 else out


# ----------------------------------------------------------------------------------------------
# bicubic upscale, one region at a time

class BicubicUpscale:
    """Regions of ``imresize(img, scale)`` (float) computed on demand, bit-identical to the full resize.

    img: (h,w,P) float64. Rows are resized first, then columns, like imresize for an integer scale;
    each region uses the same weights, gathers and reduction as the full-image resize.
    """

    def __init__(self, img: np.ndarray, scale: int):
        self.img, self.scale = img, scale
        h, w = img.shape[:2]
        self.shape = (h * scale, w * scale)
        self.wr, self.ir = contributions(h, h * scale, float(scale))
        self.wc, self.ic = contributions(w, w * scale, float(scale))

    def __call__(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        if self.scale == 1:
            return self.img[r0:r1, c0:c1]
        ic = self.ic[c0:c1]
        lo, hi = int(ic.min()), int(ic.max()) + 1
        src = self.img[:, lo:hi]                                   # the LR columns this region needs
        out = (src[self.ir[r0:r1]] * self.wr[r0:r1, :, None, None]).sum(axis=1)       # rows pass
        moved = np.moveaxis(out, 1, 0)
        out = (moved[ic - lo] * self.wc[c0:c1, :, None, None]).sum(axis=1)            # columns pass
        return np.moveaxis(out, 0, 1)


# ----------------------------------------------------------------------------------------------
# whole images

def _quantize(x: np.ndarray, dtype) -> np.ndarray:
    """float [0,1] (clipped here) -> uint8/uint16, rounded half up."""
    top = np.iinfo(dtype).max
    return np.floor(np.clip(x, 0.0, 1.0) * top + 0.5).astype(dtype)


def check_image(img: np.ndarray) -> None:
    """SRCNNError for arrays super_resolve cannot take (dtype, layout, too small)."""
    if img.dtype not in (np.uint8, np.uint16):
        raise SRCNNError(f"unsupported pixel type {img.dtype} (8- or 16-bit images only)")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3, 4))):
        raise SRCNNError(f"unsupported image layout {img.shape}")
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise SRCNNError(f"image is only {w}x{h} pixels; need at least {MIN_SIDE}x{MIN_SIDE}")


def super_resolve(img: np.ndarray, model, scale: int, tile: int | None = None) -> np.ndarray:
    """Upscale a low-resolution image by ``scale`` with bicubic + the network.

    img: (H,W) grey, (H,W,1), (H,W,3) RGB or (H,W,4) RGBA; uint8 or uint16.
    Returns (H*scale, W*scale[, C]) with img's layout and dtype. The model (on its device, eval mode)
    has 1 channel (Y) or 3 (RGB); tile = output tile side (None: automatic, 0: one pass).
    """
    img = np.asarray(img)
    check_image(img)
    if img.ndim == 3 and img.shape[2] == 1:
        return super_resolve(img[:, :, 0], model, scale, tile)[:, :, None]
    dtype, top = img.dtype, np.iinfo(img.dtype).max
    f = img.astype(np.float64) / top
    gray = f.ndim == 2
    color, alpha = (f[:, :, None], None) if gray else (f[:, :, :3], f[:, :, 3:])
    if model.channels == 1:
        planes = color if gray else rgb2ycbcr(color)          # the network refines plane 0 (Y)
    elif model.channels == 3:
        planes = np.repeat(color, 3, axis=2) if gray else color
    else:
        raise SRCNNError(f"models with {model.channels} channels are not supported (1 = Y or 3 = RGB)")
    if alpha is not None and alpha.shape[2]:
        planes = np.concatenate([planes, alpha], axis=2)
    source = BicubicUpscale(np.ascontiguousarray(planes), scale)

    H, W = source.shape
    out = np.empty((H, W) if gray else (H, W, img.shape[2]), dtype)
    for (r0, r1, c0, c1), y, core in tiled_forward(model, source, (H, W), tile):
        y = y.astype(np.float64)
        if gray:
            out[r0:r1, c0:c1] = _quantize(y.mean(axis=2), dtype)
            continue
        rgb = ycbcr2rgb(np.concatenate([y, core[:, :, 1:3]], axis=2)) if model.channels == 1 else y
        out[r0:r1, c0:c1, :3] = _quantize(rgb, dtype)
        if img.shape[2] == 4:
            out[r0:r1, c0:c1, 3] = _quantize(core[:, :, -1], dtype)
    return out
