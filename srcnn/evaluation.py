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

Validation items (``validation_item``) and their score (``score_item``, ``score_model``) are the one path
from an image to a Y-protocol score: evaluate.py's reports and train.py's validation (hence
checkpoint.best) both run it. An image too small for SSIM's window once the border is shaved is refused
by evaluate.py (a report has both metrics for every image) and scored on PSNR alone in training.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import torch

from .color import from_planes, rgb2y, to_planes
from .datasets import data_root, resolve_set
from .degradation import RealDegradation, degrade_image, image_seed
from .errors import SRCNNError, check_scale, one_line
from .images import list_images, read_image, to_rgb8, write_image
from .inference import forward_array, numeric_path
from .metrics import psnr, ssim
from .models import check_upscale, input_kind_of
from .protocol import degrade, hr_y, quantize, score
from .resize import imresize, modcrop

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


def protocol(rgb: bool = False, degradation: RealDegradation | None = None) -> dict:
    """The protocol as recorded in evaluate.py's JSON: the paper's, or with ``degradation`` step 3 replaced.
    SRCNNError for ``rgb`` with a ``degradation``: the RGB variant scores the paper's degradation only (the
    one check of that pair: evaluate_set and evaluate_image ask here, and evaluate.py through them)."""
    if rgb and degradation is not None:
        raise SRCNNError("--rgb scores the paper's degradation only; drop --rgb for --degradation real")
    p = dict(PROTOCOL_RGB if rgb else PROTOCOL_Y)
    if degradation is not None:
        p["degradation"] = (degradation.describe() + "; drawn per image from a generator seeded by "
                            "srcnn.degradation.image_seed(name, scale); the 8-bit result is bicubic's and the "
                            "network's input, as a user's file")
        p["degradation_params"] = degradation.params()
    return p


def slug(text: str) -> str:
    """"SRCNN 9-5-5 (authors)" -> "srcnn-9-5-5-authors" (for file names)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


# ----------------------------------------------------------------------------------------------
# validation items: train.py validates (and so picks checkpoint.best) and evaluate.py reports with these

SSIM_WINDOW = 11  # srcnn.metrics.ssim's window side


def too_small_for_ssim(shape, scale: int) -> bool:
    """True when an image of ``shape`` (H,W[,C]), ``scale`` pixels shaved from every border, is smaller than
    SSIM's window."""
    return min(shape[:2]) - 2 * scale < SSIM_WINDOW


def validation_item(hr: np.ndarray, scale: int, channels: int = 1, input_kind: str = "upscaled",
                    name: str = "", net_input: np.ndarray | None = None) -> dict:
    """One image at one scale as the model's input and the ground truth (scored by :func:`score_item`):
    {"name", "scale", "input": (1,C,h,w) float32 tensor, the network input; "gt_y": (H,W) float64 in [0,1], the
    ground-truth Y; "gray": whether the image is grey (the Y of an RGB model's output is then its mean)}.

    hr: (H,W) grey or (H,W,C) uint8 (C = 1 or 3), modcropped here to the scale; gt_y is its Y as
    srcnn.protocol.hr_y takes it. The network input (channels: the model's, 1 = Y, 3 = RGB) is the
    protocol's degradation (srcnn.protocol.degrade, float, unrounded) of that Y for a Y model, of the image
    for an RGB model (srcnn.color.to_planes: a grey image in all three planes): the bicubic-upscaled
    image for input_kind "upscaled" (h,w = H,W), the downscaled one for "lr" (h,w = H/s,W/s).
    net_input (h,w,C) float, when given, is the input instead and ``hr`` is taken as it is: prepare_data.py's
    /val images, modcropped and degraded (blur and noise included) when the file was written.
    """
    if net_input is None:
        hr = modcrop(hr, scale)
    gt = rgb2y(hr).astype(np.float64) / 255.0
    if net_input is None:
        src = gt if channels == 1 else hr.astype(np.float64) / 255.0
        net_input = to_planes(degrade(src, scale)[1 if input_kind == "upscaled" else 0], channels)
    x = torch.from_numpy(np.ascontiguousarray(np.transpose(net_input, (2, 0, 1)), dtype=np.float32))[None]
    return {"name": name, "scale": scale, "input": x, "gt_y": gt, "gray": hr.ndim == 2 or hr.shape[2] == 1}


def validation_items(images) -> list[dict]:
    """The validation items (:func:`validation_item`) of a training file's /val images, one per image and
    scale: ``images`` as srcnn.data.read_val returns them, [(name, HR (H,W,C) uint8, {scale: the network's
    input (h,w,C) float, as stored})]."""
    return [validation_item(hr, s, name=name, net_input=x) for name, hr, inputs in images for s, x in inputs.items()]


def load_val_set(name, root, scales, channels: int, input_kind: str = "upscaled") -> list[dict]:
    """The images of a set (a name like Set5 under the datasets root ``root``, or a folder, searched
    recursively) as validation items (:func:`validation_item`), one per image and scale: train.py's --val-set."""
    folder = resolve_set(name, data_root(root))
    items = []
    for path in list_images(folder):
        hr = to_rgb8(read_image(path))
        items += [validation_item(hr, s, channels, input_kind, path.name) for s in scales]
    if not items:
        raise SRCNNError(f"{folder}: no images for --val-set {name}")
    return items


def score_item(model, item: dict, tile=None, ensemble: bool = False, precision="fp32"
               ) -> tuple[np.ndarray, tuple[float, float | None]]:
    """``model`` (eval mode, any srcnn.models architecture, on its device) on a :func:`validation_item`,
    scored on Y with the protocol (srcnn.protocol.score). Returns (output, (PSNR dB, SSIM)): output the
    model's Y (H,W) float64 (unclipped; a Y model) or its clipped (H,W) grey / (H,W,3) RGB image (an RGB
    model, whose Y is scored); SSIM None for an image too small for its window (PSNR only). tile,
    ensemble, precision: see srcnn.inference.forward_array.
    """
    y = forward_array(model, item["input"][0].permute(1, 2, 0).numpy(), tile, ensemble, precision)
    if model.channels == 1:
        out = y[:, :, 0].astype(np.float64)
    else:
        out = np.clip(from_planes(y, y[:, :, :0], item["gray"])[0].astype(np.float64), 0.0, 1.0)
    sr, gt, scale = rgb2y(out), item["gt_y"], item["scale"]
    if too_small_for_ssim(gt.shape, scale):
        return out, (psnr(quantize(sr), quantize(gt), shave=scale), None)
    return out, score(sr, gt, scale)


def score_model(model, items: list[dict]) -> tuple[float, float | None]:
    """Mean (PSNR dB, SSIM) of ``model`` over validation items (:func:`score_item`, float32, tiled as
    evaluate.py runs it); the SSIM mean is over the items large enough for it, None when none is."""
    scores = [score_item(model, item)[1] for item in items]
    ssims = [s for _, s in scores if s is not None]
    return float(np.mean([p for p, _ in scores])), (float(np.mean(ssims)) if ssims else None)


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


def _net_rgb(model, bic: np.ndarray, lr: np.ndarray, tile, ensemble: bool, precision) -> np.ndarray:
    """A model on a float image (H,W) grey or (H,W,3) RGB in [0,1] -> same layout, float64 [0,1] (the RGB
    variant). bic: the bicubic-upscaled image; lr: the low-resolution one (the input of an LR-input
    model). A Y model refines Y and keeps the Cb/Cr of bic."""
    c = model.channels
    planes = to_planes(bic, c)
    src = to_planes(lr, c) if input_kind_of(model) == "lr" else planes
    y = forward_array(model, src[:, :, :c], tile, ensemble, precision)
    return np.clip(from_planes(y, planes[:, :, c:], bic.ndim == 2)[0].astype(np.float64), 0.0, 1.0)


def evaluate_image(hr: np.ndarray, scale: int, model=None, rgb: bool = False, tile=None,
                   images: bool = False, self_ensemble: bool = False, precision="fp32",
                   degradation: RealDegradation | None = None, rng: np.random.Generator | None = None) -> dict:
    """Score bicubic (and ``model`` if given) on one HR image.

    hr: (H,W) or (H,W,3) uint8. Returns {"bicubic": (psnr, ssim), "model": (psnr, ssim) or None} plus,
    with self_ensemble, "ensemble": (psnr, ssim) of the model's 8-transform self-ensemble; with
    images=True, "views": {"bicubic", "model"[, "ensemble"], "gt"}: viewable (H',W'[,3]) uint8 images
    (for the Y protocol the model's view is its scored Y with bicubic Cb/Cr). The model takes the
    bicubic-upscaled image, or the LR image itself when model.upscale > 1 (on the Y protocol through
    :func:`validation_item` and :func:`score_item`, as train.py validates). An image too small for SSIM
    is refused. precision: the network's numeric path ("fp32" default, "bf16", "auto" or a
    srcnn.precision.NumericPath). degradation: None for the paper's; a RealDegradation draws the
    low-resolution 8-bit image from ``rng`` (srcnn.degradation.degrade_image), which bicubic and the
    model then take as they would take a user's file (Y protocol only).
    """
    gt_rgb = modcrop(hr, scale).astype(np.float64) / 255.0
    if too_small_for_ssim(gt_rgb.shape, scale):
        raise SRCNNError(f"image {hr.shape[1]}x{hr.shape[0]} is too small to score at x{scale}")
    runs = [] if model is None else [("model", False)] + ([("ensemble", True)] if self_ensemble else [])
    if model is not None:
        check_upscale(model, scale)
    protocol(rgb, degradation)   # (refuses rgb with a degradation)
    lr_rgb = bic_rgb = net_input = None
    if degradation is not None:
        hr = modcrop(hr, scale)
        lr_rgb = degrade_image(hr, scale, degradation, rng).astype(np.float64) / 255.0
        bic_rgb = imresize(lr_rgb, output_shape=hr.shape[:2])
    elif rgb or images:   # the protocol's bicubic, in RGB
        lr_rgb, bic_rgb = degrade(gt_rgb, scale)
    res, views = {"model": None}, {}
    if rgb:
        res["bicubic"] = _rgb_psnr_ssim(bic_rgb, gt_rgb, scale)
        for key, ens in runs:
            views[key] = _net_rgb(model, bic_rgb, lr_rgb, tile, ens, precision)
            res[key] = _rgb_psnr_ssim(views[key], gt_rgb, scale)
    else:
        gt = hr_y(hr, scale)
        res["bicubic"] = score(degrade(gt, scale)[1] if degradation is None else to_planes(bic_rgb, 1)[:, :, 0],
                               gt, scale)
        if model is not None:
            kind = input_kind_of(model)
            if degradation is not None:  # the network's planes of the degraded file, as super_resolve.py takes them
                x = to_planes(lr_rgb, model.channels)[:, :, :model.channels]
                net_input = x if kind == "lr" else imresize(x, output_shape=gt.shape)
            item = validation_item(hr, scale, model.channels, kind, net_input=net_input)
        for key, ens in runs:
            out, res[key] = score_item(model, item, tile, ens, precision)
            if images:   # a Y model's Y on a colour image: with the bicubic Cb/Cr
                views[key] = out if out.ndim == bic_rgb.ndim else from_planes(
                    out[:, :, None], to_planes(bic_rgb, 1)[:, :, 1:], False)[0]
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
                 precision="fp32", max_pixels: int | None = None,
                 degradation: RealDegradation | None = None) -> list[dict]:
    """Evaluate bicubic and ``model`` (None: bicubic only) on every image in ``set_dir``.

    Returns the JSON rows: [bicubic row, model row(, self-ensemble row "<method>+se")]; each {"set",
    "scale", "method", "checkpoint", "sha256", "protocol", "psnr", "ssim", "count", "images": [{"name",
    "psnr", "ssim"}]} (means over the images). save_dir: writes <save_dir>/<set>/x<scale>/<name>_bicubic.png
    and <name>_<method>.png (and <name>_<method>-se.png); compare_dir: writes
    <compare_dir>/<set>/x<scale>/<name>_compare.png (crops bicubic | model [| model+se] | GT).
    progress(name, result) is called after each image (result: see evaluate_image). precision: the
    network's numeric path (see evaluate_image). max_pixels: an image of more pixels is refused with
    SRCNNError (srcnn.images.read_image); one that does not fit in memory all the same, too.
    degradation: None (the paper's), or a RealDegradation drawn per image from a generator seeded by
    the image's name and the scale (srcnn.degradation.image_seed): the same degraded set on every run;
    rows then carry "degradation" (its parameters).
    """
    check_scale(scale)
    prot = protocol(rgb, degradation)["name"]   # (refuses rgb with a degradation before any image)
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
            raise SRCNNError(f"{d}: cannot create the output folder ({one_line(e)})") from None
    if model is not None:   # resolved once (and an impossible one refused) before any image
        precision = numeric_path(model, precision)
    methods = {"bicubic": "bicubic", "model": method, "ensemble": method + "+se"}
    items = {"bicubic": [], "model": [], "ensemble": []}
    for f in files:
        try:
            hr = to_rgb8(read_image(f, max_pixels=max_pixels))
        except MemoryError as e:  # within max_pixels, yet its pixels do not fit
            raise SRCNNError(f"{f}: the decoded image does not fit in memory ({e})") from None
        try:
            rng = None if degradation is None else np.random.default_rng(image_seed(f.stem, scale))
            r = evaluate_image(hr, scale, model, rgb=rgb, tile=tile, images=bool(outs),
                               self_ensemble=self_ensemble, precision=precision, degradation=degradation, rng=rng)
        except SRCNNError as e:
            raise SRCNNError(f"{f}: {e}") from None
        except MemoryError as e:  # the float copies of a large image: one line, not a numpy traceback
            raise SRCNNError(f"{f}: {hr.shape[1]} x {hr.shape[0]} image does not fit in memory ({e})") from None
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
    if degradation is not None:
        base["degradation"] = degradation.params()
    rows = [_mean_row({**base, "method": "bicubic", "checkpoint": None, "sha256": None}, items["bicubic"])]
    for key in ("model", "ensemble"):
        if items[key]:
            rows.append(_mean_row({**base, "method": methods[key], "checkpoint": checkpoint, "sha256": sha256},
                                  items[key]))
    return rows
