"""Super-resolve an image array: the network on the right input, tile by tile.

Two kinds of model (``model.upscale``, srcnn.models.SRModel):
- upscale 1 (SRCNN, VDSR, ...): the low-resolution image is first upscaled by the scale with MATLAB's
  bicubic imresize and the network refines it;
- upscale s > 1 (FSRCNN, ESPCN, ...): the network takes the low-resolution image itself and returns an
  image s times larger.
A 1-channel (Y) model works on the Y channel of MATLAB's rgb2ycbcr while Cb and Cr are bicubic-upscaled;
a 3-channel model works on RGB. Greyscale stays greyscale (the grey level is the Y the network sees, as
in the SRCNN authors' code), an alpha channel is bicubic-upscaled and kept, 16-bit in gives 16-bit out.

Memory is bounded by tiling: the network's input grid (the bicubic upscale, or the LR image) is cut into
tiles, each computed with a margin of ``model.shrink`` input pixels (the receptive-field radius) that is
thrown away afterwards; a tile of t input pixels gives ``upscale * t`` output pixels. The bicubic
upscale is computed region by region with exactly the arithmetic of :func:`srcnn.resize.imresize`.
Where a tile touches the image border, the border is the network's own padding border, as in a
full-image pass. So the tiled result equals the untiled one exactly: bit for bit on the CPU, where
run_model keeps PyTorch on the same kernels for every tile size (see there); on CUDA cuDNN may pick a
different algorithm for a different tile shape, a last-bit difference. The same holds with
self-ensemble (the 8 flips/rotations of each tile's input, each output mapped back, averaged).

That is the float32 path (``precision="fp32"``, the default). The fast paths (srcnn.precision.
inference_path: "auto", "ort", "bf16") trade those exact bits for speed within a measured budget
(<= 0.05 dB on Set5, benchmarks/bench_video.py): "ort" runs the network in onnxruntime
(srcnn.fastpath), "bf16" in bfloat16 autocast (channels-last on the CPU), its output back in float32
before anything else; and all of them convert colours and upscale chroma (and SRCNN's input) in float32
with OpenCV (srcnn.color, srcnn.resize.upscale_float32) instead of MATLAB's float64 arithmetic, in
tiles of AUTO_TILE_FAST. Tiles then agree with one pass only to the path's rounding.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

from .color import from_planes, to_planes
from .errors import SRCNNError
from .models import check_upscale, input_kind_of
from .precision import FP32, NumericPath, inference_input, inference_numerics, inference_path
from .resize import PHASE_RADIUS, contributions, upscale_float32

# Output pixels per tile side when tile=None: a 9-5-5 tile then needs ~0.3 GB (CPU) / ~1.2 GB (CUDA).
AUTO_TILE = {"cpu": 512, "cuda": 1024}
# The fast paths' automatic tile (output pixels per side): a 1080p output in one tile (sr.video 1.2-1.3x
# the frames/s of 1024's four tiles, whose overlaps and calls cost; benchmarks/README.md), still bounded
# memory for large images (a 2048^2 SRCNN tile: about 2 GB; FSRCNN, ESPCN: less).
AUTO_TILE_FAST = 2048
MIN_SIDE = 2  # smaller inputs (1-pixel images) are refused
FLOAT_SLACK = 0.25  # a float image may overshoot [0,1] this much (resampling ringing), not more (0..255 floats)


# ----------------------------------------------------------------------------------------------
# tiled forward pass

def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    return [(a, min(a + tile, n)) for a in range(0, n, tile)]


def _margin(model) -> int:
    if getattr(model, "padding", None) == "none":
        raise SRCNNError("a model with padding 'none' shrinks its output; load it with "
                         "srcnn.weightfiles.load_file, which runs it with replicate padding")
    try:
        return int(model.shrink)
    except AttributeError:
        raise SRCNNError(f"{type(model).__name__} has no 'shrink' (receptive-field margin)") from None


def _device_of(model) -> torch.device:
    """The model's device; a model without parameters (an onnxruntime session wrapper) takes CPU tensors."""
    p = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return p.device if p is not None else torch.device("cpu")


def check_tile(tile: int | None, name: str = "--tile") -> int | None:
    """``tile`` when it is None (automatic), 0 (no tiling) or a positive integer; SRCNNError naming it
    ``name`` for anything else (a negative number, 2.5, "8", True)."""
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, numbers.Integral) or tile < 0):
        raise SRCNNError(f"{name} {tile!r}: must be 0 (no tiling) or a positive number of pixels")
    return tile


def tile_size(tile: int | None, device, path: NumericPath = FP32) -> int:
    """Core tile side in output pixels: ``tile`` if given (0 = the whole image at once), else AUTO_TILE
    (AUTO_TILE_FAST on the CPU for a fast path: one that is not ``path.exact``)."""
    if tile is None:
        if not path.exact and torch.device(device).type == "cpu":
            return AUTO_TILE_FAST
        return AUTO_TILE.get(torch.device(device).type, AUTO_TILE["cpu"])
    return check_tile(tile)


# PyTorch runs a float32 CPU convolution with oneDNN or with its own kernels depending on the input's
# size (oneDNN for batch > 1 or more than 20480 input elements, unless 1x1 single-threaded; kernels over
# 3x3 always), and the two differ in the last bits; oneDNN's transposed convolution moreover differs with
# the image shape. So that a tile gives the same bits as the whole image, an input of at most
# ONEDNN_MIN_ELEMENTS pixels runs as a batch of two (every convolution on oneDNN, as for a large image)
# and transposed convolutions run on PyTorch's own kernel.
ONEDNN_MIN_ELEMENTS = 20480


def _onednn(enabled: bool):
    def hook(*_):
        torch.backends.mkldnn.enabled = enabled
    return hook


def numeric_path(model, precision: str | NumericPath = "fp32") -> NumericPath:
    """The numeric path of ``precision`` (auto | fp32 | bf16 | ort) for this model on its device and runtime."""
    return inference_path(precision, _device_of(model), getattr(model, "runtime", "torch"))


def _forward(model, x: torch.Tensor, path: NumericPath = FP32) -> torch.Tensor:
    """model(x), computed with the same kernels whatever the size of x (on the CPU, see above); on a
    reduced-precision path (inside inference_numerics) model(x) in its layout, back to float32."""
    if path.autocast is not None or path.channels_last:
        return model(inference_input(path, x)).float()
    if x.device.type != "cpu" or getattr(model, "runtime", "torch") != "torch":  # e.g. onnxruntime
        return model(x)
    if x.shape[0] == 1 and x.shape[-2] * x.shape[-1] <= ONEDNN_MIN_ELEMENTS:
        return _forward(model, torch.cat([x, x]))[:1]
    handles = []
    for m in model.modules():
        if isinstance(m, torch.nn.ConvTranspose2d):
            handles += [m.register_forward_pre_hook(_onednn(False)), m.register_forward_hook(_onednn(True))]
    enabled = torch.backends.mkldnn.enabled
    try:
        return model(x)
    finally:
        torch.backends.mkldnn.enabled = enabled
        for h in handles:
            h.remove()


def run_model(model, x: torch.Tensor, ensemble: bool = False, path: NumericPath = FP32) -> torch.Tensor:
    """The network on a batch, with the same result for any image size (a tile = the same region of the
    whole image's result); with ``ensemble`` the mean of the 8 flips/rotations of x, each output
    mapped back (summed in a fixed order, then / 8). path: the numeric path (srcnn.precision; float32
    by default); a reduced-precision one is applied by the caller (tiled_forward, inference_numerics).

    x: (N,C,h,w) float32 -> (N,C,u*h,u*w) float32, u = model.upscale.
    """
    if not ensemble:
        return _forward(model, x, path)
    total = None
    for k in range(4):
        for flip in (False, True):
            t = torch.rot90(x, k, (2, 3))
            t = t.flip(3) if flip else t
            y = _forward(model, t.contiguous(), path)
            y = y.flip(3) if flip else y
            y = torch.rot90(y, -k, (2, 3))
            total = y if total is None else total + y
    return total / 8


def tiled_forward(model, region, hw: tuple[int, int], tile: int | None = None, ensemble: bool = False,
                  precision: str | NumericPath = "fp32"):
    """Run ``model`` over an input image it sees only through ``region``, one tile at a time.

    hw = (H, W) of the network's input grid (the bicubic-upscaled image for upscale 1, the LR image
    for an LR-input model). region(r0, r1, c0, c1) -> (r1-r0, c1-c0, P) float array of that grid,
    P >= model.channels: the network input in its first model.channels planes (any further planes are
    passed through). tile = output tile side (None: automatic, 0: one pass); input tiles are
    tile // upscale. ensemble: self-ensemble (see run_model). precision: "fp32" (default), "bf16", "ort",
    "auto" or a NumericPath (srcnn.precision.inference_path); the "ort" engine runs srcnn.fastpath.onnx_twin.
    Yields ((R0, R1, C0, C1) output box = upscale x the input box, net (R1-R0, C1-C0, C) float32 numpy,
    planes (r1-r0, c1-c0, P) float: the region of the tile's core, on the input grid).
    """
    H, W = hw
    u = int(getattr(model, "upscale", 1))
    m = _margin(model)
    path = numeric_path(model, precision)
    if path.engine == "onnxruntime" and getattr(model, "runtime", "torch") == "torch":
        from .fastpath import onnx_twin
        model = onnx_twin(model)
    device = _device_of(model)
    t = tile_size(tile, device, path)
    t = max(1, t // u) if t else max(H, W)
    c = model.channels
    with torch.inference_mode():
        for r0, r1 in _spans(H, t):
            for c0, c1 in _spans(W, t):
                a0, a1, b0, b1 = max(r0 - m, 0), min(r1 + m, H), max(c0 - m, 0), min(c1 + m, W)
                planes = region(a0, a1, b0, b1)
                x = np.ascontiguousarray(planes[:, :, :c].transpose(2, 0, 1), dtype=np.float32)
                with inference_numerics(path, model):
                    y = run_model(model, torch.from_numpy(x)[None].to(device), ensemble, path)[0]
                if y.dim() != 3 or y.shape[0] != c:   # (an exported file's graph may not match its metadata)
                    raise SRCNNError(f"{type(model).__name__} turned a {c}-channel input into an output of shape "
                                     f"{tuple(y.shape)}, not {c} channel(s)")
                if tuple(y.shape[1:]) != (u * (a1 - a0), u * (b1 - b0)):
                    raise SRCNNError(f"{type(model).__name__} turned a {a1 - a0}x{b1 - b0} input into "
                                     f"{y.shape[1]}x{y.shape[2]}, not {u} times larger")
                if not bool(torch.isfinite(y).all()):   # it would be quantised to black or white
                    raise SRCNNError("the network's output holds NaN or infinite values (its weights overflow "
                                     "float32 on this input); no image written")
                y = y[:, u * (r0 - a0):u * (r1 - a0), u * (c0 - b0):u * (c1 - b0)]
                yield ((u * r0, u * r1, u * c0, u * c1), y.permute(1, 2, 0).cpu().numpy(),
                       planes[r0 - a0:r1 - a0, c0 - b0:c1 - b0])


def forward_array(model, x: np.ndarray, tile: int | None = None, ensemble: bool = False,
                  precision: str | NumericPath = "fp32") -> np.ndarray:
    """The network on a whole input image, tiled to bound memory.

    x: the network input, (H,W) (1-channel model) or (H,W,C) float in [0,1]: the bicubic-upscaled
    image for upscale 1, the low-resolution image for an LR-input model. Returns (u*H, u*W[,C])
    float32, not clipped (u = model.upscale). ensemble: self-ensemble (see run_model); precision: see
    tiled_forward.
    """
    x3 = x[:, :, None] if x.ndim == 2 else x
    if x3.shape[2] != model.channels:
        raise SRCNNError(f"the model takes {model.channels} channel(s), the image has {x3.shape[2]}")
    u = int(getattr(model, "upscale", 1))
    out = np.empty((u * x3.shape[0], u * x3.shape[1], x3.shape[2]), np.float32)
    region = lambda r0, r1, c0, c1: x3[r0:r1, c0:c1]  # noqa: E731
    for (r0, r1, c0, c1), y, _ in tiled_forward(model, region, x3.shape[:2], tile, ensemble, precision):
        out[r0:r1, c0:c1] = y
    return out[:, :, 0] if x.ndim == 2 else out


# ----------------------------------------------------------------------------------------------
# bicubic upscale, one region at a time

class BicubicUpscale:
    """Regions of ``imresize(img, scale)`` (float) computed on demand.

    img: (h,w,P) float64: bit-identical to the full resize (rows are resized first, then columns, like
    imresize for an integer scale; each region uses the same weights, gathers and reduction). float32:
    in float32 with OpenCV (srcnn.resize.upscale_float32, the fast paths), within 1e-6 of it.
    A region (r0, r1, c0, c1) of the output grid -> (r1-r0, c1-c0, P) in img's dtype.
    """

    def __init__(self, img: np.ndarray, scale: int):
        self.img, self.scale = img, scale
        h, w = img.shape[:2]
        self.shape = (h * scale, w * scale)
        if img.dtype == np.float32:   # the LR image with MATLAB's mirror border, once
            r = PHASE_RADIUS
            self.padded = np.pad(img, ((r, r), (r, r), (0, 0)), mode="symmetric") if scale > 1 else None
            return
        self.wr, self.ir = contributions(h, h * scale, float(scale))
        self.wc, self.ic = contributions(w, w * scale, float(scale))

    def __call__(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        if self.scale == 1:
            return self.img[r0:r1, c0:c1]
        s = self.scale
        if self.img.dtype == np.float32:   # the LR pixels covering the region, and PHASE_RADIUS around
            a0, a1, b0, b1 = r0 // s, -(-r1 // s), c0 // s, -(-c1 // s)
            up = upscale_float32(self.padded[a0:a1 + 2 * PHASE_RADIUS, b0:b1 + 2 * PHASE_RADIUS], s)
            return up[r0 - s * a0:r1 - s * a0, c0 - s * b0:c1 - s * b0]
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
    """float [0,1] (clipped here) -> uint8/uint16, rounded half up; float32 (the fast paths) with OpenCV,
    rounded half to even."""
    top = np.iinfo(dtype).max
    if x.dtype == np.float32:
        import cv2
        flat = np.ascontiguousarray(x).reshape(x.shape[0], -1)   # one channel: the scalar multiplies all
        return cv2.multiply(flat, top, dtype=cv2.CV_8U if dtype == np.uint8 else cv2.CV_16U).reshape(x.shape)
    return np.floor(np.clip(x, 0.0, 1.0) * top + 0.5).astype(dtype)


def check_image(img: np.ndarray) -> None:
    """SRCNNError for arrays super_resolve cannot take (dtype, layout, too small)."""
    if img.dtype not in (np.uint8, np.uint16):
        raise SRCNNError(f"unsupported pixel type {img.dtype} (8- or 16-bit images only)")
    _check_layout(img)


def _check_layout(img: np.ndarray) -> None:
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3, 4))):
        raise SRCNNError(f"unsupported image layout {img.shape}")
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise SRCNNError(f"image is only {w}x{h} pixels; need at least {MIN_SIDE}x{MIN_SIDE}")


def _sr_tiles(f: np.ndarray, model, scale: int, tile: int | None, ensemble: bool, precision="fp32"):
    """The one path from an image to the network and back, tile by tile.

    f: (H,W) grey or (H,W,3|4) RGB[A] in [0,1], float64 for the exact path, float32 for a fast one
    (:func:`float_dtype`), which the colour conversion and bicubic upscales then compute in. Yields
    ((R0, R1, C0, C1) output box, (h,w) grey or (h,w,3) RGB in f's dtype (not clipped; a Y model's RGB
    clipped), (h,w) alpha or None).
    """
    check_upscale(model, scale)
    gray = f.ndim == 2
    c = model.channels
    planes = to_planes(f, c)   # (H,W,P): the network's c planes first, then the pass-through ones (Cb, Cr, alpha)
    lr_input = input_kind_of(model) == "lr"
    if lr_input:   # the network sees the LR planes; the pass-through planes are bicubic-upscaled
        source = lambda r0, r1, c0, c1: planes[r0:r1, c0:c1]  # noqa: E731
        hw = planes.shape[:2]
        passthrough = BicubicUpscale(np.ascontiguousarray(planes[:, :, c:]), scale)
    else:          # the network and the pass-through planes share one bicubic upscale
        source = BicubicUpscale(np.ascontiguousarray(planes), scale)
        hw = source.shape
    for box, y, core in tiled_forward(model, source, hw, tile, ensemble, precision):
        r0, r1, c0, c1 = box
        extra = passthrough(r0, r1, c0, c1) if lr_input else core[:, :, c:]   # output grid
        yield (box, *from_planes(y.astype(f.dtype), extra, gray))


def float_dtype(model, precision) -> type:
    """The float type an image goes through the network's path in: float64 for the exact path (MATLAB's
    arithmetic), float32 for a fast one."""
    return np.float64 if numeric_path(model, precision).exact else np.float32


def super_resolve(img: np.ndarray, model, scale: int, tile: int | None = None,
                  ensemble: bool = False, precision: str | NumericPath = "fp32") -> np.ndarray:
    """Upscale a low-resolution image by ``scale`` with the network (after a MATLAB-bicubic upscale
    for an upscale-1 model; on the image itself for an LR-input model).

    img: (H,W) grey, (H,W,1), (H,W,3) RGB or (H,W,4) RGBA; uint8 or uint16.
    Returns (H*scale, W*scale[, C]) with img's layout and dtype. The model (on its device, eval mode)
    has 1 channel (Y) or 3 (RGB); tile = output tile side (None: automatic, 0: one pass);
    ensemble: self-ensemble (the 8 flips/rotations averaged); precision: "fp32" (default, bit-exact for
    every tile size, MATLAB's arithmetic), "bf16", "ort" or "auto" (srcnn.precision.inference_path; a
    fast path within its measured budget).
    """
    img = np.asarray(img)
    check_image(img)
    if img.ndim == 3 and img.shape[2] == 1:
        return super_resolve(img[:, :, 0], model, scale, tile, ensemble, precision)[:, :, None]
    dtype, top = img.dtype, np.iinfo(img.dtype).max
    precision = numeric_path(model, precision)
    fd = float_dtype(model, precision)
    f = img.astype(fd) * fd(1 / top) if fd == np.float32 else img.astype(fd) / top
    H, W = f.shape[0] * scale, f.shape[1] * scale
    out = np.empty((H, W) if img.ndim == 2 else (H, W, img.shape[2]), dtype)
    for (r0, r1, c0, c1), rgb, alpha in _sr_tiles(f, model, scale, tile, ensemble, precision):
        if img.ndim == 2:
            out[r0:r1, c0:c1] = _quantize(rgb, dtype)
            continue
        out[r0:r1, c0:c1, :3] = _quantize(rgb, dtype)
        if alpha is not None:
            out[r0:r1, c0:c1, 3] = _quantize(alpha, dtype)
    return out


def super_resolve_float(x: np.ndarray, model, scale: int, tile: int | None = None,
                        ensemble: bool = False, precision: str | NumericPath = "fp32") -> np.ndarray:
    """:func:`super_resolve` on a float image in [0,1] (the same path, without the quantisation):
    (H,W), (H,W,1), (H,W,3) or (H,W,4) float -> (H*scale, W*scale[, C]) float32, clipped to [0,1]."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise SRCNNError(f"expected a float image in [0,1], got {x.dtype}")
    _check_layout(x)
    if not np.isfinite(x).all():
        raise SRCNNError("the float image holds NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -FLOAT_SLACK or hi > 1 + FLOAT_SLACK:
        raise SRCNNError(f"expected a float image with values in [0, 1]; got values up to {hi:g} and down to "
                         f"{lo:g} (for 0..255 floats divide by 255, or pass the uint8 image)")
    if x.ndim == 3 and x.shape[2] == 1:
        return super_resolve_float(x[:, :, 0], model, scale, tile, ensemble, precision)[:, :, None]
    precision = numeric_path(model, precision)
    f = x.astype(float_dtype(model, precision))
    H, W = f.shape[0] * scale, f.shape[1] * scale
    out = np.empty((H, W) if f.ndim == 2 else (H, W, f.shape[2]), np.float32)
    for (r0, r1, c0, c1), rgb, alpha in _sr_tiles(f, model, scale, tile, ensemble, precision):
        if f.ndim == 2:
            out[r0:r1, c0:c1] = np.clip(rgb, 0.0, 1.0)
            continue
        out[r0:r1, c0:c1, :3] = np.clip(rgb, 0.0, 1.0)
        if alpha is not None:
            out[r0:r1, c0:c1, 3] = np.clip(alpha, 0.0, 1.0)
    return out
