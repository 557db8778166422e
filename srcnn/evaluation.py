"""Score a model (and bicubic beside it) on a set of HR images with the paper's protocol.

Y protocol (the paper's, the default; srcnn.protocol): modcrop the HR image to a multiple of the scale;
Y of MATLAB rgb2ycbcr as uint8, /255 (a greyscale image is its own Y); MATLAB bicubic down by 1/scale
(float, unrounded: the LR image) and back up, in float (the bicubic baseline); the network refines the
bicubic image (upscale-1 models: SRCNN, VDSR, ...) or takes the LR image itself (LR-input models: FSRCNN,
ESPCN, ...); outputs quantised like MATLAB uint8(y*255); PSNR and SSIM on Y in [0,255] with ``scale``
pixels shaved from every border. With self-ensemble the network's output is the mean over the 8
flips/rotations of its input (scored as a separate method, "<method>+se"). ``precision`` (fp32, the
default; bf16; auto) is the network's numeric path (srcnn.precision.inference_path); scoring stays float64.

RGB variant (``rgb=True``, *not* the paper's protocol, labelled "rgb" everywhere): the same on the
three RGB channels (bicubic per channel; a Y model refines Y and takes Cb/Cr from bicubic); PSNR from
the MSE over all three channels, SSIM the mean of the per-channel SSIMs.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from .color import rgb2y, rgb2ycbcr, ycbcr2rgb
from .errors import SRCNNError
from .imresize import modcrop
from .images import list_images, read_image, to_rgb8, write_image
from .inference import check_upscale, forward_array, numeric_path
from .metrics import psnr, ssim
from .protocol import degrade, hr_y, quantize, score

PROTOCOL_Y = {
    "name": "srcnn-y",
    "description": "the SRCNN paper's protocol (Y channel)",
    "modcrop": "HR cropped at the bottom/right to a multiple of the scale",
    "channel": "Y of MATLAB rgb2ycbcr as uint8, /255; a greyscale image is its own Y",
    "degradation": "MATLAB imresize bicubic by 1/scale, then by scale, in float (unrounded)",
    "network_input": "the bicubic-upscaled image; for an LR-input model (FSRCNN, ESPCN, ...) the "
                     "downscaled image itself (float, unrounded)",
    "quantisation": "outputs as MATLAB uint8(y*255)",
    "shave": "scale pixels from every border",
    "metrics": "PSNR (peak 255) and SSIM (Wang et al. 2004, 11x11 Gaussian, sigma 1.5) on Y in [0,255]",
}
PROTOCOL_RGB = {
    "name": "srcnn-rgb",
    "description": "RGB variant, NOT the paper's protocol: scores are on RGB and are lower than Y scores",
    "modcrop": PROTOCOL_Y["modcrop"],
    "channel": "RGB /255 (a greyscale image stays one channel); a Y model refines Y of MATLAB rgb2ycbcr "
               "and takes Cb/Cr from bicubic",
    "degradation": "MATLAB imresize bicubic by 1/scale, then by scale, per channel, in float",
    "network_input": PROTOCOL_Y["network_input"],
    "quantisation": "outputs as MATLAB uint8(x*255) per channel",
    "shave": "scale pixels from every border",
    "metrics": "PSNR (peak 255) from the MSE over all channels; SSIM = mean of per-channel SSIM",
}


def protocol(rgb: bool = False) -> dict:
    return dict(PROTOCOL_RGB if rgb else PROTOCOL_Y)


def slug(text: str) -> str:
    """"SRCNN 9-5-5 (authors)" -> "srcnn-9-5-5-authors" (for file names)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


# ----------------------------------------------------------------------------------------------
# one image

def _rgb_psnr_ssim(sr: np.ndarray, gt: np.ndarray, scale: int) -> tuple[float, float]:
    """(PSNR, SSIM) of two float (H,W[,3]) images in [0,1], quantised, border shaved."""
    a, b = quantize(sr), quantize(gt)
    if a.ndim == 2:
        return psnr(a, b, shave=scale), ssim(a, b, shave=scale)
    s = scale
    mse = np.mean((a[s:-s, s:-s] - b[s:-s, s:-s]) ** 2)
    p = float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
    return p, float(np.mean([ssim(a[:, :, c], b[:, :, c], shave=s) for c in range(a.shape[2])]))


def _net_rgb(model, bic: np.ndarray, lr: np.ndarray | None, tile, ensemble: bool,
             precision="fp32") -> np.ndarray:
    """A model on a float image (H,W) grey or (H,W,3) RGB in [0,1] -> same layout, float64 [0,1].

    bic: the bicubic-upscaled image; lr: the low-resolution one (the input of an LR-input model). A Y
    model refines Y and keeps the Cb/Cr of bic.
    """
    src = lr if model.upscale > 1 else bic
    net = lambda a: forward_array(model, a, tile, ensemble, precision)  # noqa: E731
    if model.channels == 1:
        if src.ndim == 2:
            return net(src).astype(np.float64)
        ycc = rgb2ycbcr(bic)
        ycc[:, :, 0] = net(rgb2ycbcr(src)[:, :, 0] if src is lr else ycc[:, :, 0])
        return ycbcr2rgb(ycc)
    if src.ndim == 2:
        return net(np.repeat(src[:, :, None], 3, axis=2)).mean(axis=2).astype(np.float64)
    return np.clip(net(src).astype(np.float64), 0.0, 1.0)


def evaluate_image(hr: np.ndarray, scale: int, model=None, rgb: bool = False, tile=None,
                   images: bool = False, self_ensemble: bool = False, precision="fp32") -> dict:
    """Score bicubic (and ``model`` if given) on one HR image.

    hr: (H,W) or (H,W,3) uint8. Returns {"bicubic": (psnr, ssim), "model": (psnr, ssim) or None} plus,
    with self_ensemble, "ensemble": (psnr, ssim) of the model's 8-transform self-ensemble; with
    images=True, "views": {"bicubic", "model"[, "ensemble"], "gt"}: viewable (H',W'[,3]) uint8 images
    (for the Y protocol the model's view is its scored Y with bicubic Cb/Cr). The model takes the
    bicubic-upscaled image, or the LR image itself when model.upscale > 1. precision: the network's
    numeric path ("fp32" default, "bf16", "auto" or a srcnn.precision.NumericPath).
    """
    gt_rgb = modcrop(hr, scale).astype(np.float64) / 255.0
    if min(gt_rgb.shape[:2]) < 2 * scale + 11:
        raise SRCNNError(f"image {hr.shape[1]}x{hr.shape[0]} is too small to score at x{scale}")
    runs = [] if model is None else [("model", False)] + ([("ensemble", True)] if self_ensemble else [])
    if model is not None:
        check_upscale(model, scale)
    lr_input = model is not None and model.upscale > 1
    lr_rgb = bic_rgb = None
    if rgb or images or (model is not None and model.channels == 3):   # the protocol's bicubic, in RGB
        lr_rgb, bic_rgb = degrade(gt_rgb, scale)
    res, views = {"model": None}, {}
    if rgb:
        res["bicubic"] = _rgb_psnr_ssim(bic_rgb, gt_rgb, scale)
        for key, ens in runs:
            views[key] = _net_rgb(model, bic_rgb, lr_rgb, tile, ens, precision)
            res[key] = _rgb_psnr_ssim(views[key], gt_rgb, scale)
    else:
        gt = hr_y(hr, scale)
        lr, bic = degrade(gt, scale)
        res["bicubic"] = score(bic, gt, scale)
        for key, ens in runs:
            if model.channels == 1:
                sr = forward_array(model, lr if lr_input else bic, tile, ens, precision).astype(np.float64)
                if images:
                    views[key] = sr if sr.ndim == bic_rgb.ndim else ycbcr2rgb(
                        np.concatenate([sr[:, :, None], rgb2ycbcr(bic_rgb)[:, :, 1:]], axis=2))
            else:  # an RGB model, scored on the Y of its output
                views[key] = _net_rgb(model, bic_rgb, lr_rgb, tile, ens, precision)
                sr = rgb2y(views[key])
            res[key] = score(sr, gt, scale)
    if images:
        views = {"bicubic": bic_rgb, **views, "gt": gt_rgb}
        res["views"] = {k: quantize(v).astype(np.uint8) for k, v in views.items()}
    return res


# ----------------------------------------------------------------------------------------------
# side-by-side pictures

def side_by_side(panels: list[np.ndarray], labels: list[str], zoom: int = 1, gap: int = 4) -> np.ndarray:
    """Panels (H,W) or (H,W,3) uint8 of one size, enlarged ``zoom`` x (nearest), each under a label bar.

    Returns (bar + H*zoom, n*W*zoom + (n-1)*gap, 3) uint8 RGB on a white background.
    """
    panels = [np.repeat(p[:, :, None], 3, axis=2) if p.ndim == 2 else p for p in panels]
    if zoom > 1:
        panels = [np.repeat(np.repeat(p, zoom, axis=0), zoom, axis=1) for p in panels]
    h, w = panels[0].shape[:2]
    bar = 22
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    out = np.full((bar + h, len(panels) * w + (len(panels) - 1) * gap, 3), 255, np.uint8)
    for i, (p, text) in enumerate(zip(panels, labels)):
        x = i * (w + gap)
        out[bar:, x:x + w] = p
        while size > 0.25 and cv2.getTextSize(text, font, size, 1)[0][0] > w - 6:
            size -= 0.05
        cv2.putText(out, text, (x + 3, bar - 7), font, size, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def best_crop(bic: np.ndarray, sr: np.ndarray, gt: np.ndarray, size: int) -> tuple[int, int, int]:
    """(top, left, side) of the square crop where the model gains most over bicubic (squared error)."""
    def y(v):
        return rgb2y(v).astype(np.float64) if v.ndim == 3 else v.astype(np.float64)
    g, b, s = y(gt), y(bic), y(sr)
    gain = (b - g) ** 2 - (s - g) ** 2
    side = min(size, *g.shape)
    box = cv2.boxFilter(gain, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
    half = side // 2
    valid = box[half:g.shape[0] - (side - half) + 1, half:g.shape[1] - (side - half) + 1]
    top, left = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return int(top), int(left), side


def compare_picture(views: dict, labels: dict, crop: int = 128, zoom: int = 2) -> np.ndarray:
    """Crops of bicubic | model [| model+se] | ground truth where the model helps most, side by side
    (uint8 RGB)."""
    order = [k for k in ("bicubic", "model", "ensemble", "gt") if k in views]
    if "model" in views:
        top, left, side = best_crop(views["bicubic"], views["model"], views["gt"], crop)
    else:
        top, left, side = 0, 0, min(crop, *views["gt"].shape[:2])
    crops = [views[k][top:top + side, left:left + side] for k in order]
    return side_by_side(crops, [labels[k] for k in order], zoom=zoom)


# ----------------------------------------------------------------------------------------------
# a whole set

def _mean_row(base: dict, items: list[dict]) -> dict:
    return {**base, "psnr": float(np.mean([i["psnr"] for i in items])),
            "ssim": float(np.mean([i["ssim"] for i in items])), "count": len(items), "images": items}


def evaluate_set(set_dir, scale: int, model=None, *, set_name: str | None = None, method: str = "model",
                 checkpoint: str | None = None, sha256: str | None = None, rgb: bool = False, tile=None,
                 self_ensemble: bool = False, save_dir=None, compare_dir=None, progress=None,
                 precision="fp32") -> list[dict]:
    """Evaluate bicubic and ``model`` (None: bicubic only) on every image in ``set_dir``.

    Returns the JSON rows: [bicubic row, model row(, self-ensemble row "<method>+se")]; each {"set",
    "scale", "method", "checkpoint", "sha256", "protocol", "psnr", "ssim", "count", "images": [{"name",
    "psnr", "ssim"}]} (means over the images). save_dir: writes <save_dir>/<set>/x<scale>/<name>_bicubic.png
    and <name>_<method>.png (and <name>_<method>-se.png); compare_dir: writes
    <compare_dir>/<set>/x<scale>/<name>_compare.png (crops bicubic | model [| model+se] | GT).
    progress(name, result) is called after each image (result: see evaluate_image). precision: the
    network's numeric path (see evaluate_image).
    """
    set_dir = Path(set_dir)
    set_name = set_name or set_dir.name
    files = list_images(set_dir, recursive=False)
    if not files:
        raise SRCNNError(f"{set_dir}: no images in this folder")
    outs = [Path(d) / set_name / f"x{scale}" for d in (save_dir, compare_dir) if d is not None]
    for d in outs:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SRCNNError(f"{d}: cannot create the output folder ({e.strerror or e})") from None
    if model is not None:   # resolved once (and an impossible one refused) before any image
        precision = numeric_path(model, precision)
    methods = {"bicubic": "bicubic", "model": method, "ensemble": method + "+se"}
    prot = protocol(rgb)["name"]
    items = {"bicubic": [], "model": [], "ensemble": []}
    for f in files:
        hr = to_rgb8(read_image(f))
        try:
            r = evaluate_image(hr, scale, model, rgb=rgb, tile=tile, images=bool(outs),
                               self_ensemble=self_ensemble, precision=precision)
        except SRCNNError as e:
            raise SRCNNError(f"{f}: {e}") from None
        for key in items:
            if r.get(key) is not None:
                items[key].append({"name": f.stem, "psnr": r[key][0], "ssim": r[key][1]})
        if save_dir is not None:
            d = Path(save_dir) / set_name / f"x{scale}"
            for key, view in r["views"].items():
                if key != "gt":
                    write_image(d / f"{f.stem}_{slug(methods[key])}.png", view)
        if compare_dir is not None:
            labels = {k: f"{methods[k]} {r[k][0]:.2f} dB" for k in methods if r.get(k) is not None}
            labels["gt"] = "ground truth"
            pic = compare_picture(r["views"], labels)
            write_image(Path(compare_dir) / set_name / f"x{scale}" / f"{f.stem}_compare.png", pic)
        if progress is not None:
            progress(f.stem, r)
    base = {"set": set_name, "set_path": str(set_dir), "scale": scale, "protocol": prot}
    rows = [_mean_row({**base, "method": "bicubic", "checkpoint": None, "sha256": None}, items["bicubic"])]
    for key in ("model", "ensemble"):
        if items[key]:
            rows.append(_mean_row({**base, "method": methods[key], "checkpoint": checkpoint, "sha256": sha256},
                                  items[key]))
    return rows
