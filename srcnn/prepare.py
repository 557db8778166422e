"""Training data for SRCNN: whole images -> degraded/clean patch pairs streamed into an HDF5 file.

The paper's recipe (its generate_train.m), generalised:
  HR  = modcrop(image, s); Y of MATLAB rgb2ycbcr as uint8 (or the RGB channels)
  LR  = imresize(imresize(blur(HR / 255), 1/s) + noise, HR size)      all float64, unrounded
  33x33 sub-images of LR at stride 14 (rows outer, columns inner); the label is the centre LxL of HR.
For LR-input models (input "lr": FSRCNN, ESPCN, ...) the LR image is not upscaled back: the network
input of the HR sub-image at (y, x) of side P is lr[y/s:(y+P)/s, x/s:(x+P)/s], the label the whole
HR sub-image (P, the stride and the image size are multiples of s, so the two are aligned).

Work is done per image (one task per image, in any number of worker processes). Results are written
in image order and every image draws its noise from its own generator seeded by (seed, image index),
so the datasets are byte-identical for any number of workers. At most a few images' patches are in
memory at a time, whatever the number of images. The HDF5 layout is "srcnn-patches" version 1 (SPEC).

Resumable: results are committed in segments (a few tens of thousands of samples, an atomic rename
each) to ``.OUT.partial/`` beside the output; an interrupted run (Ctrl-C, SIGTERM, crash, SIGKILL)
continues from the last commit with ``resume=True`` (``--resume``), and the final file(s) are assembled
from the segments and renamed into place only at the end, so the output is identical either way.
``shard_size`` splits the samples into shards OUT-00000.h5, ... that are each a complete file.
"""
from __future__ import annotations

import collections
import contextlib
import datetime
import errno
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import h5py
import numpy as np
from tqdm import tqdm

from . import __version__
from .color import rgb2y
from .errors import SRCNNError, check_number
from .images import list_images, read_image, to_rgb8
from .imresize import imresize, modcrop
from .locks import lock_folder

FORMAT = "srcnn-patches"
FORMAT_VERSION = 1
AUGMENT_SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)  # FSRCNN's downscaled copies of every training image
CHUNK = 256  # samples per HDF5 chunk (axis 0)
WRITE_BLOCK = 4096  # samples buffered before a write
DEGRADATION = ("hr = modcrop(img, s); lr = imresize(imresize(blur(hr/255, blur_sigma), 1/s) "
               "+ N(0, noise_sigma/255), size(hr)); MATLAB bicubic, float64, unclipped")
DEGRADATION_LR = ("hr = modcrop(img, s); lr = imresize(blur(hr/255, blur_sigma), 1/s) + N(0, noise_sigma/255) "
                  "(not upscaled); MATLAB bicubic, float64, unclipped")
BLUR_SIGMA_MAX = 50.0  # HR pixels: a kernel of 301 taps, wider than a training image is useful
NOISE_SIGMA_MAX = 255.0  # grey levels: noise as strong as the whole signal range
INPUTS = ("upscaled", "lr")  # network input: bicubic-upscaled LR image (SRCNN, VDSR) or the LR image


@dataclass(frozen=True)
class PrepareConfig:
    """Everything that determines the content of the file (the fingerprint is taken over it)."""
    scales: tuple[int, ...] = (3,)
    patch_size: int = 33
    stride: int = 14
    label_size: int | None = None  # None: the full patch
    channels: str = "y"  # "y" or "rgb"
    blur_sigma: float = 0.0  # Gaussian blur of HR before the downscale, in HR pixels; 0 = none
    noise_sigma: float = 0.0  # additive Gaussian noise on the LR image, grey levels of 255; 0 = none
    augment: bool = False  # 8 flips/rotations x FSRCNN's 5 copies: 40 versions, ~25x the patches
    val_fraction: float = 0.0  # fraction of the images held out whole in /val
    seed: int = 0
    input: str = "upscaled"  # "upscaled": lr = the LR image bicubic-upscaled to HR size; "lr": the LR image

    def __post_init__(self):
        object.__setattr__(self, "scales", tuple(self.scales))  # a list from library callers

    @property
    def label(self) -> int:
        return self.patch_size if self.label_size is None else self.label_size

    @property
    def n_channels(self) -> int:
        return 1 if self.channels == "y" else 3

    @property
    def lr_size(self) -> int:
        """Side of a network-input patch: patch_size, or patch_size / scale for input "lr"."""
        return self.patch_size // self.scales[0] if self.input == "lr" else self.patch_size

    def validate(self) -> "PrepareConfig":
        """Raise SRCNNError for an impossible combination; returns self."""
        if not self.scales or any(not isinstance(s, (int, np.integer)) or not 2 <= s <= 255 for s in self.scales):
            raise SRCNNError(f"--scale must be integers in 2..255, got {list(self.scales)}")
        if len(set(self.scales)) != len(self.scales):
            raise SRCNNError(f"--scale lists a scale twice: {list(self.scales)}")
        if self.patch_size < 1 or self.stride < 1:
            raise SRCNNError(f"--patch-size and --stride must be >= 1, got {self.patch_size} and {self.stride}")
        if not 1 <= self.label <= self.patch_size or (self.patch_size - self.label) % 2:
            raise SRCNNError(f"--label-size must be in 1..{self.patch_size} with patch_size - label_size even "
                             f"(a centred label), got {self.label}")
        if self.channels not in ("y", "rgb"):
            raise SRCNNError(f"--channels must be 'y' or 'rgb', got {self.channels!r}")
        # finite and in range (NaN, inf and 1e7 are refused: they would write NaN or exhaust memory)
        check_number("--blur-sigma", self.blur_sigma, 0, BLUR_SIGMA_MAX, unit="(HR pixels)")
        check_number("--noise-sigma", self.noise_sigma, 0, NOISE_SIGMA_MAX, unit="(grey levels of 255)")
        check_number("--val-fraction", self.val_fraction, 0, 1, hi_open=True)
        if self.seed < 0:
            raise SRCNNError(f"--seed must be >= 0, got {self.seed}")
        if self.input not in INPUTS:
            raise SRCNNError(f"input must be 'upscaled' or 'lr', got {self.input!r}")
        if self.input == "lr":
            if len(self.scales) != 1:
                raise SRCNNError(f"--scale {','.join(map(str, self.scales))}: an LR-input model has one scale; "
                                 f"prepare one file per scale")
            s = self.scales[0]
            if self.patch_size % s or self.stride % s:
                raise SRCNNError(f"--patch-size {self.patch_size} and --stride {self.stride} must be multiples "
                                 f"of the scale {s} for an LR-input model (LR patches of patch_size/scale)")
            if self.label != self.patch_size:
                raise SRCNNError(f"--label-size {self.label}: an LR-input model is trained on the whole HR "
                                 f"patch; leave --label-size out (it is the patch size, {self.patch_size})")
        return self

    def params(self) -> dict:
        """The parameters as stored in the root attributes (JSON-able). ``input`` is listed only when it
        is "lr", so files of bicubic-upscaled input keep the fingerprints they had before it existed."""
        d = asdict(self)
        d["scales"] = [int(s) for s in self.scales]
        d["label_size"] = self.label
        if self.input == "upscaled":
            del d["input"]
        return d


# ----------------------------------------------------------------------------- image math

def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """(H,W,C) float -> (H,W,C) float64, isotropic Gaussian of std ``sigma`` pixels.

    Kernel radius ceil(3 sigma), normalised to sum 1, borders replicated (MATLAB imfilter 'replicate').
    """
    if sigma <= 0:
        return img.astype(np.float64)
    r = max(1, math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    out = cv2.sepFilter2D(np.ascontiguousarray(img, np.float64), cv2.CV_64F, k, k,
                          borderType=cv2.BORDER_REPLICATE)
    return out.reshape(img.shape)


def degrade_lr(hr: np.ndarray, scale: int, blur_sigma: float = 0.0, noise_sigma: float = 0.0,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """The low-resolution image of one HR image: (H,W,C) float in [0,1], H and W multiples of ``scale``
    -> (H/s,W/s,C) float64, about [0,1] (bicubic overshoot and noise are not clipped).

    blur (optional) -> MATLAB-bicubic down by 1/scale -> + N(0, noise_sigma/255) (optional, on the
    small image, i.e. the noise a real low-resolution input carries). The input of LR-input models.
    """
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"size {h}x{w} is not a multiple of the scale {scale}; modcrop first")
    lr = imresize(gaussian_blur(hr, blur_sigma), 1.0 / scale)
    if noise_sigma > 0:
        lr = lr + rng.normal(0.0, noise_sigma / 255.0, size=lr.shape)
    return lr


def degrade(hr: np.ndarray, scale: int, blur_sigma: float = 0.0, noise_sigma: float = 0.0,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """The network input of bicubic-upscaled-input models for one HR image: (H,W,C) float in [0,1],
    H and W multiples of ``scale`` -> (H,W,C) float64, about [0,1] (bicubic overshoot and noise are
    not clipped, as in the paper): ``degrade_lr`` then MATLAB-bicubic up to H x W.
    With no blur and no noise this is exactly ``protocol.bicubic_y`` channel by channel.
    """
    lr = degrade_lr(hr, scale, blur_sigma, noise_sigma, rng)
    return imresize(lr, output_shape=hr.shape[:2])


def patch_grid(h: int, w: int, patch_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of the sub-images, like the paper's loops ``for x = 1:stride:hei-size_input+1``:
    (ys, xs) int arrays; patches are taken rows outer, columns inner. Empty when the image is too small."""
    return np.arange(0, h - patch_size + 1, stride), np.arange(0, w - patch_size + 1, stride)


def patch_count(h: int, w: int, patch_size: int, stride: int) -> int:
    """Number of sub-images of one image: (floor((H-P)/stride)+1) * (floor((W-P)/stride)+1), 0 if too small."""
    ys, xs = patch_grid(h, w, patch_size, stride)
    return len(ys) * len(xs)


def extract_patches(lr: np.ndarray, hr: np.ndarray, patch_size: int, label_size: int,
                    stride: int, factor: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Sub-images of one image pair.

    lr: (H/f,W/f,C) float, hr: (H,W,C) uint8 -> (N,C,P/f,P/f) float16 and (N,C,L,L) uint8: HR
    sub-images of side P at stride ``stride`` (the grid of ``patch_grid(H, W, P, stride)``), the label
    being the centre LxL of each (the paper's ``padding``) and the input the region of ``lr`` under
    it. f = 1: ``lr`` is HR-sized (bicubic-upscaled input); f = s (input "lr"): ``lr`` is the LR image
    and P, stride, H and W are multiples of s, so the input of the HR patch at (y, x) is
    lr[y/s:(y+P)/s, x/s:(x+P)/s].
    """
    ys, xs = patch_grid(hr.shape[0], hr.shape[1], patch_size, stride)
    c, r = hr.shape[2], patch_size // factor
    if len(ys) == 0 or len(xs) == 0:
        return (np.empty((0, c, r, r), np.float16),
                np.empty((0, c, label_size, label_size), np.uint8))
    pad = (patch_size - label_size) // 2
    # float16 once per image (patches overlap; same values as per patch), C order so that the
    # patches come out C-contiguous (imresize returns other memory layouts)
    lr = np.ascontiguousarray(lr, dtype=np.float16)
    win = np.lib.stride_tricks.sliding_window_view(lr, (r, r), axis=(0, 1))
    lr_p = win[ys[:, None] // factor, xs[None, :] // factor].reshape(-1, c, r, r)
    win = np.lib.stride_tricks.sliding_window_view(np.ascontiguousarray(hr), (label_size, label_size), axis=(0, 1))
    hr_p = win[ys[:, None] + pad, xs[None, :] + pad].reshape(-1, c, label_size, label_size)
    return np.ascontiguousarray(lr_p), np.ascontiguousarray(hr_p)


def to_channels(img: np.ndarray, channels: str) -> np.ndarray:
    """(H,W) or (H,W,3) uint8 -> (H,W,C) uint8: Y of MATLAB rgb2ycbcr (a grey image is its own Y,
    as in the paper's code) for "y", or RGB (grey replicated) for "rgb"."""
    if channels == "y":
        return rgb2y(img)[:, :, None]
    return np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img


def dihedral(img: np.ndarray):
    """The 8 flips/90-degree rotations of an (H,W,...) array (identity first)."""
    for k in range(4):
        r = np.rot90(img, k, axes=(0, 1))
        yield r
        yield r[:, ::-1]


def versions(img: np.ndarray, augment: bool):
    """(factor, image) for the identity, or with ``augment`` FSRCNN's copies downscaled by
    0.9, 0.8, 0.7, 0.6 (MATLAB bicubic, uint8 in -> uint8 out, as its data_aug.m)."""
    if not augment:
        yield 1.0, img
        return
    for f in AUGMENT_SCALES:
        if f == 1.0:
            yield f, img
        elif min(math.ceil(img.shape[0] * f), math.ceil(img.shape[1] * f)) >= 1:
            yield f, imresize(img, f)


def lcm(values) -> int:
    return math.lcm(*[int(v) for v in values])


# ----------------------------------------------------------------------------- one image (worker)

@dataclass
class ImageResult:
    """What a worker returns for one source image (only small arrays beyond the patches)."""
    index: int
    rel: str
    split: str
    sha256: str = ""
    h: int = 0
    w: int = 0
    skip: str = ""  # reason; empty when the image was used
    lr: np.ndarray | None = None  # (N,C,R,R) float16, R = cfg.lr_size
    hr: np.ndarray | None = None  # (N,C,L,L) uint8
    scale: np.ndarray | None = None  # (N,) uint8
    val: dict = field(default_factory=dict)  # {"hr": (H,W,C) uint8, "lr_x<s>": (H,W,C) float16 (H/s,W/s,C for "lr")}
    spooled: tuple | None = None  # (file, lr shape, hr shape) while the arrays travel via a file


def too_small(h: int, w: int, cfg: PrepareConfig, split: str) -> str:
    """Why an image of h x w gives no usable sample, or ''."""
    p = cfg.patch_size
    mods = [lcm(cfg.scales)] if split == "val" else list(cfg.scales)
    for s in mods:
        if h - h % s < p or w - w % s < p:
            crop = f" after modcrop by {s}" if (h % s or w % s) else ""
            return f"{w}x{h} image is smaller than a {p}x{p} patch{crop}"
    return ""


def process_image(index: int, path: str, rel: str, split: str, cfg: PrepareConfig) -> ImageResult:
    """Read, degrade and cut one image; unreadable or too small images come back with ``skip`` set."""
    res = ImageResult(index, rel, split)
    try:
        res.sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        img = to_rgb8(read_image(path))
    except (SRCNNError, OSError) as e:
        msg = str(e)
        res.skip = msg if rel in msg or str(path) in msg else f"{rel}: {msg}"
        return res
    res.h, res.w = int(img.shape[0]), int(img.shape[1])
    reason = too_small(res.h, res.w, cfg, split)
    if reason:
        res.skip = f"{rel}: {reason}"
        return res
    rng = np.random.default_rng([cfg.seed, index])  # per image: independent of workers and order
    kw = dict(blur_sigma=cfg.blur_sigma, noise_sigma=cfg.noise_sigma, rng=rng)
    small = cfg.input == "lr"
    degrade_fn = degrade_lr if small else degrade
    if split == "val":
        hr = modcrop(to_channels(img, cfg.channels), lcm(cfg.scales))
        res.val["hr"] = np.ascontiguousarray(hr)
        for s in cfg.scales:
            res.val[f"lr_x{s}"] = np.ascontiguousarray(degrade_fn(hr / 255.0, s, **kw), dtype=np.float16)
        return res
    lrs, hrs, scales = [], [], []
    for _, im in versions(img, cfg.augment):
        chans = to_channels(im, cfg.channels)
        for s in cfg.scales:
            hr = modcrop(chans, s)
            if min(hr.shape[:2]) < cfg.patch_size:
                continue  # a downscaled copy too small for a patch: nothing to cut
            lr = degrade_fn(hr / 255.0, s, **kw)
            # Degradation commutes with flips/rotations (the bicubic grid is symmetric for
            # multiples of s; tested), so the 8 orientations reuse one degraded image.
            pairs = zip(dihedral(lr), dihedral(hr)) if cfg.augment else [(lr, hr)]
            for lr_t, hr_t in pairs:
                a, b = extract_patches(lr_t, hr_t, cfg.patch_size, cfg.label, cfg.stride, s if small else 1)
                lrs.append(a)
                hrs.append(b)
                scales.append(np.full(len(a), s, np.uint8))
    res.lr, res.hr, res.scale = np.concatenate(lrs), np.concatenate(hrs), np.concatenate(scales)
    return res


_WORKER_CFG: PrepareConfig | None = None


def _init_worker(cfg: PrepareConfig) -> None:
    global _WORKER_CFG
    _WORKER_CFG = cfg
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled (once) by the parent
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # Pool.terminate() must always stop a worker
    cv2.setNumThreads(1)


def _pool(workers: int, cfg: PrepareConfig):
    """A process pool that never forks the (multi-threaded: tqdm, OpenCV) parent itself, which can
    deadlock the child: workers come from a forkserver that has imported this module once (spawn
    where there is none)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
    else:
        ctx = multiprocessing.get_context("spawn")
    return ctx.Pool(workers, initializer=_init_worker, initargs=(cfg,))


def _work(task, spool: str) -> ImageResult:
    """process_image in a worker. The patch arrays (tens of MB per image with --augment) go back
    through a file in ``spool`` (page cache, ~1 GB/s) rather than the pool's pipe (~150 MB/s)."""
    res = process_image(*task, _WORKER_CFG)
    if res.lr is not None:
        path = os.path.join(spool, f"{res.index}.bin")
        with open(path, "wb") as f:
            for a in (res.lr, res.hr, res.scale):
                a.tofile(f)
        res.spooled = (path, res.lr.shape, res.hr.shape)
        res.lr = res.hr = res.scale = None
    return res


def _unspool(res: ImageResult) -> ImageResult:
    if res.spooled:
        path, lr_shape, hr_shape = res.spooled
        with open(path, "rb") as f:
            res.lr = np.fromfile(f, np.float16, math.prod(lr_shape)).reshape(lr_shape)
            res.hr = np.fromfile(f, np.uint8, math.prod(hr_shape)).reshape(hr_shape)
            res.scale = np.fromfile(f, np.uint8, lr_shape[0])
        os.unlink(path)
        res.spooled = None
    return res


class Interrupt:
    """Within ``with Interrupt() as stop:`` (main thread only), SIGINT and SIGTERM raise
    KeyboardInterrupt, and ``stop.check()`` raises it again if the first one got lost: Python drops
    an exception raised by a signal handler while a weakref callback or __del__ runs, which happens
    while a process pool is busy. Inside ``with stop.deferred():`` a signal is only noted, and raised
    by the next ``check()``. Other threads: a no-op."""

    def __init__(self):
        self.hit, self.old, self.defer = None, {}, 0

    def __enter__(self) -> "Interrupt":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.old[sig] = signal.signal(sig, self._handler)
            self.old_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        return self

    def _unraisable(self, u) -> None:
        if not (self.hit and isinstance(u.exc_value, KeyboardInterrupt)):  # the lost one: check() redoes it
            self.old_hook(u)

    def _handler(self, signum, frame):
        self.hit = signal.Signals(signum).name
        if not self.defer:
            raise KeyboardInterrupt(self.hit)

    @contextlib.contextmanager
    def deferred(self):
        self.defer += 1
        try:
            yield
        finally:
            self.defer -= 1

    def check(self) -> None:
        if self.hit:
            raise KeyboardInterrupt(self.hit)

    def __exit__(self, *exc) -> None:
        for sig, handler in self.old.items():
            signal.signal(sig, handler)
        if self.old:
            sys.unraisablehook = self.old_hook


def ordered_results(tasks: list, cfg: PrepareConfig, workers: int, spool_parent: Path | str | None = None,
                    check=lambda: None):
    """Yield process_image results in task order, with at most 2 results per worker in flight
    (bounded memory even when the writer is slower than the workers). With workers > 1 the patches
    pass through a temporary folder in ``spool_parent`` (default: the system temp folder);
    ``check()`` is called at least every 0.2 s while waiting for a worker."""
    if workers <= 1 or not tasks:
        for t in tasks:
            yield process_image(*t, cfg)
        return
    spool = tempfile.mkdtemp(prefix=".prepare-spool-", dir=spool_parent)
    pool = None
    try:
        pool = _pool(workers, cfg)
        pending: collections.deque = collections.deque()
        it = iter(tasks)
        for t in it:
            pending.append(pool.apply_async(_work, (t, spool)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            job = pending.popleft()
            while not job.ready():
                check()
                job.wait(0.2)
            res = _unspool(job.get())
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.apply_async(_work, (nxt, spool)))
            yield res
        pool.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        shutil.rmtree(spool, ignore_errors=True)


# ----------------------------------------------------------------------------- the file

def split_images(n: int, val_fraction: float, seed: int) -> list[str]:
    """'train'/'val' for each of n images: round(n * val_fraction) (at least 1) whole images,
    drawn with the seed. SRCNNError when no training image would remain."""
    if val_fraction <= 0:
        return ["train"] * n
    n_val = max(1, round(n * val_fraction))
    if n_val >= n:
        raise SRCNNError(f"--val-fraction {val_fraction} leaves no training image out of {n}")
    val = set(np.random.default_rng(seed).choice(n, n_val, replace=False).tolist())
    return ["val" if i in val else "train" for i in range(n)]


def fingerprint(cfg: PrepareConfig, sources: list[dict]) -> str:
    """sha256 hex over the format version, the parameters and the source list (path, sha256, split, size)."""
    blob = json.dumps({"format_version": FORMAT_VERSION, "params": cfg.params(), "sources": sources},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class NoSpace(SRCNNError):
    """Not enough free space for the next write (checked before HDF5 writes: a failed HDF5 write
    cannot be recovered from, the library crashes the process later)."""


SPACE_MARGIN = 1 << 20  # bytes kept free beyond a write and the file's chunk cache, for HDF5 metadata


def check_space(f: h5py.File, nbytes: int, written: int = 0) -> None:
    """NoSpace naming the file and the space needed when writing ``nbytes`` more to ``f`` (plus what
    of the ``written`` bytes may still sit in its chunk cache, and a margin) would not fit."""
    try:
        st = os.statvfs(Path(f.filename).parent)
        cache = f.id.get_access_plist().get_cache()[2]
    except (OSError, AttributeError, ValueError):  # no statvfs: HDF5 reports a failed write itself
        return
    free, need = st.f_bavail * st.f_frsize, nbytes + min(cache, written) + SPACE_MARGIN
    if need > free:
        raise NoSpace(f"{f.filename}: not enough free space: the next write needs about {need / 1e6:.1f} MB, "
                      f"{free / 1e6:.1f} MB are free there")


class PatchWriter:
    """Appends patch blocks to /train/{lr,hr,scale}: lr (N,C,R,R) float16, hr (N,C,L,L) uint8, scale (N,)
    uint8 (resizable, chunked along axis 0), buffering up to WRITE_BLOCK samples. R: the input side
    (p, or p/s for input "lr")."""

    def __init__(self, group: h5py.Group, c: int, r: int, l: int):
        self.lr = group.create_dataset("lr", (0, c, r, r), np.float16, maxshape=(None, c, r, r), chunks=(CHUNK, c, r, r))
        self.hr = group.create_dataset("hr", (0, c, l, l), np.uint8, maxshape=(None, c, l, l), chunks=(CHUNK, c, l, l))
        self.scale = group.create_dataset("scale", (0,), np.uint8, maxshape=(None,), chunks=(CHUNK * 16,))
        self.count = 0
        self.buf: list[tuple] = []
        self.buffered = 0
        self.written = 0  # bytes handed to HDF5 so far (some may still sit in its chunk cache)

    def append(self, lr: np.ndarray, hr: np.ndarray, scale: np.ndarray) -> None:
        self.buf.append((lr, hr, scale))
        self.buffered += len(lr)
        if self.buffered >= WRITE_BLOCK:
            self.flush()

    def flush(self) -> None:
        if not self.buffered:
            return
        nbytes = sum(a.nbytes for b in self.buf for a in b)
        check_space(self.lr.file, nbytes, self.written)
        self.written += nbytes
        n0, n1 = self.count, self.count + self.buffered
        for ds, k in ((self.lr, 0), (self.hr, 1), (self.scale, 2)):
            ds.resize(n1, axis=0)
            ds[n0:n1] = np.concatenate([b[k] for b in self.buf])
        self.count, self.buf, self.buffered = n1, [], 0


# ----------------------------------------------------------------------------- resumable writing

SEGMENT_SAMPLES = 32768  # a progress record is committed at least every this many samples ...
SEGMENT_SECONDS = 60.0   # ... or this many seconds (and on Ctrl-C, SIGTERM or a crash)


_WRITE_ERRNOS = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded",
                 errno.EIO: "Input/output error", errno.EROFS: "Read-only file system"}


def _write_failure(e: BaseException) -> str | None:
    """The reason when ``e`` is a failed write (disk full, quota, I/O error, read-only), else None.
    h5py reports these as RuntimeError/OSError text holding "errno = N"."""
    if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
        return e.strerror or _WRITE_ERRNOS[e.errno]
    text = str(e)
    for code, why in _WRITE_ERRNOS.items():
        if f"errno = {code}," in text or why in text:
            return why
    return None


def _check_out_path(out: Path) -> None:
    """SRCNNError for an --out that cannot be a file: under a file (not "folder does not exist"), or a
    name over the file system's limit (its own or that of the .OUT.partial folder beside it)."""
    from .files import output_name
    output_name(out, "output", beside=[partial_path(out)])


def partial_path(out: Path | str) -> Path:
    """The folder holding an unfinished run's state, beside --out: train.h5 -> .train.h5.partial/."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial")


def shard_path(out: Path | str, index: int) -> Path:
    """train.h5 -> train-00000.h5, train-00001.h5, ..."""
    out = Path(out)
    return out.with_name(f"{out.stem}-{index:05d}{out.suffix}")


def existing_shards(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f"{glob_escape(out.stem)}-[0-9][0-9][0-9][0-9][0-9]{glob_escape(out.suffix)}"))


def glob_escape(s: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in s)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, obj) -> None:
    """Atomically (temporary file, fsync, rename, fsync of the folder)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Segment:
    """The results of consecutive images [start, stop), written to ``NNNNNN.h5.tmp`` in the partial
    folder and committed by an atomic rename to ``NNNNNN.h5`` (fsynced): a committed segment is
    always complete, so the chain of committed segments is the progress record. What ``add`` has
    fully recorded is what ``commit`` keeps, whatever exception interrupted it."""

    def __init__(self, folder: Path, number: int, start: int, cfg: PrepareConfig):
        self.path = folder / f"{number:06d}.h5"
        self.tmp = folder / f"{number:06d}.h5.tmp"
        self.f = h5py.File(self.tmp, "w")
        self.writer = PatchWriter(self.f.create_group("train"), cfg.n_channels, cfg.lr_size, cfg.label)
        self.val = self.f.create_group("val")
        self.start = self.stop = start
        self.rows = 0  # samples of the images fully recorded
        self.sources, self.skipped, self.val_names = [], [], []
        self.t0 = time.monotonic()

    def add(self, res: ImageResult, val_index: int) -> bool:
        """Record one image; True when it went to /val."""
        if res.skip:
            self.skipped.append({"path": res.rel, "reason": res.skip})
        elif res.split == "val":
            g = self.val.create_group(str(val_index))
            g.attrs["name"] = res.rel
            for k, v in res.val.items():
                g.create_dataset(k, data=v)
            self.val_names.append(str(val_index))
        else:
            self.writer.append(res.lr, res.hr, res.scale)
        if not res.skip:
            self.sources.append({"path": res.rel, "sha256": res.sha256, "split": res.split, "h": res.h, "w": res.w})
        self.rows = self.writer.count + self.writer.buffered
        self.stop = res.index + 1
        return not res.skip and res.split == "val"

    def full(self) -> bool:
        return self.rows >= SEGMENT_SAMPLES or time.monotonic() - self.t0 >= SEGMENT_SECONDS

    def commit(self) -> dict:
        """Make the segment permanent; returns its record (as read_segments gives it)."""
        w = self.writer
        w.flush()
        if w.count != self.rows:  # an append interrupted half-way: drop its rows
            for ds in (w.lr, w.hr, w.scale):
                ds.resize(self.rows, axis=0)
        for name in list(self.val):
            if name not in self.val_names:
                del self.val[name]
        a = self.f.attrs
        a["start"], a["stop"], a["count"] = self.start, self.stop, self.rows
        a["sources"], a["skipped"] = json.dumps(self.sources), json.dumps(self.skipped)
        a["val"] = json.dumps(self.val_names)
        self.f.close()
        _fsync_file(self.tmp)
        os.replace(self.tmp, self.path)
        _fsync_dir(self.path.parent)
        return {"path": self.path, "start": self.start, "stop": self.stop, "count": self.rows,
                "sources": self.sources, "skipped": self.skipped, "val": self.val_names}

    def discard(self) -> None:
        _abandon_h5(self.f)
        self.tmp.unlink(missing_ok=True)


def _abandon_h5(f) -> None:
    """Close an HDF5 file being written that is given up (maybe after a failed write: disk full).
    HDF5 retries the failed writes at every later close and, failing again, crashes the process
    when the objects are freed (a segmentation fault after the error message); so its descriptor is
    pointed at /dev/null first, where they succeed. The caller deletes the file."""
    with contextlib.suppress(Exception):
        if f.id.valid:  # still open: the descriptor is HDF5's own
            fd = f.id.get_vfd_handle()
            nul = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(nul, fd)
            finally:
                os.close(nul)
    with contextlib.suppress(Exception):
        f.close()


@contextlib.contextmanager
def _h5_create(path: Path, **kw):
    """``h5py.File(path, "w", **kw)`` closed on success; on any error abandoned (see _abandon_h5) and
    deleted, then the error goes on."""
    f = h5py.File(path, "w", **kw)
    try:
        yield f
    except BaseException:
        _abandon_h5(f)
        Path(path).unlink(missing_ok=True)
        raise
    f.close()


def read_segments(folder: Path) -> list[dict]:
    """The committed segments of a partial folder in order: {"path", "start", "stop", "count",
    "sources", "skipped", "val"}; a gap or an unreadable segment ends the chain (later ones are dropped)."""
    segs, stop = [], 0
    for p in sorted(folder.glob("[0-9]*.h5")):
        try:
            with h5py.File(p, "r") as f:
                a = f.attrs
                s = {"path": p, "start": int(a["start"]), "stop": int(a["stop"]), "count": int(a["count"]),
                     "sources": json.loads(a["sources"]), "skipped": json.loads(a["skipped"]),
                     "val": json.loads(a["val"])}
        except (OSError, KeyError, ValueError):
            break
        if s["start"] != stop:
            break
        segs.append(s)
        stop = s["stop"]
    return segs


def run_key(cfg: PrepareConfig, tasks: list, strict: bool) -> dict:
    """What a partial run must share with the current one to be continued: the options that decide
    the content, and the image list (relative path, split, size, mtime of every file)."""
    h = hashlib.sha256()
    for _, path, rel, split in tasks:
        try:
            st = os.stat(path)
        except OSError as e:
            raise SRCNNError(f"{path}: cannot read ({e.strerror})") from None
        h.update(json.dumps([rel, split, st.st_size, st.st_mtime_ns]).encode())
    return {"format_version": FORMAT_VERSION, "params": cfg.params(), "strict": bool(strict),
            "n_images": len(tasks), "images": h.hexdigest()}


def _key_difference(old: dict, new: dict) -> str:
    diffs = []
    for k in sorted(set(old.get("params", {})) | set(new["params"])):
        a, b = old.get("params", {}).get(k), new["params"].get(k)
        if k == "input":  # listed only when "lr"
            a, b = a or "upscaled", b or "upscaled"
        if a != b:
            diffs.append(f"{k} {a} -> {b}")
    if old.get("strict") != new["strict"]:
        diffs.append(f"strict {old.get('strict')} -> {new['strict']}")
    if old.get("n_images") != new["n_images"]:
        diffs.append(f"{old.get('n_images')} images -> {new['n_images']}")
    elif old.get("images") != new["images"]:
        diffs.append("an image was added, removed or modified")
    if old.get("format_version") != new["format_version"]:
        diffs.append(f"format_version {old.get('format_version')} -> {new['format_version']}")
    return ", ".join(diffs)


def _lock(folder: Path):
    """An exclusive lock on the partial folder (released by ``.close()``; srcnn.locks)."""
    return lock_folder(folder, "prepare_data.py run")


@dataclass
class Summary:
    """What prepare() did; printed by the CLI."""
    out: Path
    images: int  # found
    train_images: int
    val_images: int
    patches: int
    skipped: list[dict]  # {"path", "reason"}
    seconds: float
    bytes: int
    fingerprint: str
    files: list[Path] = field(default_factory=list)  # every file written (one, or the shards)
    resumed: int = 0  # images already done by the interrupted run(s) this one continued

    def lines(self) -> list[str]:
        mb = self.bytes / 1e6
        where = (f"{self.files[0]} .. {self.files[-1]} ({len(self.files)} shards)" if len(self.files) > 1
                 else str(self.out))
        rate = (self.images - self.resumed) / max(self.seconds, 1e-9)
        out = [f"wrote {where}: {self.patches} training patches from {self.train_images} images"
               + (f", {self.val_images} validation images" if self.val_images else "")
               + f"; {mb:.1f} MB in {self.seconds:.1f} s ({rate:.1f} images/s)"
               + (f"; continued after {self.resumed} images done before" if self.resumed else "")]
        if self.skipped:
            out.append(f"skipped {len(self.skipped)} of {self.images} files:")
            out += [f"  {s['reason']}" for s in self.skipped]
        return out


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during prepare(); the finished images are kept in ``partial`` (a folder) with
    ``done`` of ``total`` images: the same command with --resume continues."""

    def __init__(self, signal_name: str, partial: Path, done: int, total: int):
        super().__init__(signal_name)
        self.partial, self.done, self.total = partial, done, total


def prepare(paths: list[Path], root: Path, out: Path | str, cfg: PrepareConfig, workers: int = 1,
            overwrite: bool = False, strict: bool = False, progress: bool = True,
            command: str = "", shard_size: int = 0, resume: bool = False, model: str | None = None) -> Summary:
    """Write the patches of ``paths`` (images under ``root``; their paths are stored relative to it)
    to ``out``, or with ``shard_size`` > 0 to shards ``OUT-00000.h5``, ... of at most that many
    samples each (every shard a complete file with the same root attributes plus shard_index,
    shard_count, shard_offset, total_count; /val only in shard 0).

    Resumable and atomic: results are committed every SEGMENT_SAMPLES samples (or SEGMENT_SECONDS)
    to segment files in the folder ``.OUT.partial`` beside ``out``; at the end the output file(s) are
    assembled there and renamed into place, and the folder is removed. Ctrl-C, SIGTERM (both raise
    KeyboardInterrupt while this runs in the main thread) or a crash keep the folder (with the open
    segment committed); after a SIGKILL the last commit survives. ``resume=True`` continues such a run
    (the same options and images, checked; SRCNNError otherwise) and gives the same datasets and
    attributes, apart from 'created' and 'command', as an uninterrupted run. Without ``resume`` an
    existing partial folder is refused, or discarded with ``overwrite``. Unusable images are skipped
    (listed in the summary and the ``skipped`` attribute) unless ``strict``; a user-facing problem
    raises SRCNNError (and removes the partial folder).

    ``model``: the model the data is prepared for, stored in the root attribute ``model`` (informative,
    like ``command``; ``cfg.input`` is what decides the content). None: no such attribute.

    workers > 1 starts a process pool (forkserver, else spawn): a script calling this must guard its
    entry point with ``if __name__ == "__main__":``, as usual for multiprocessing."""
    cfg.validate()
    out = Path(out)
    if workers < 1:
        raise SRCNNError(f"--workers must be >= 1, got {workers}")
    if shard_size < 0:
        raise SRCNNError(f"--shard-size must be >= 1, got {shard_size}")
    if not paths:
        raise SRCNNError(f"no images found in {root}")
    _check_out_path(out)
    if out.is_dir():
        raise SRCNNError(f"{out}: is a folder, expected an .h5 file path")
    if not overwrite:
        there = existing_shards(out) if shard_size else ([out] if out.exists() else [])
        if there:
            raise SRCNNError(f"{there[0]}: already exists (use --overwrite to replace it)")
    if not out.parent.is_dir():
        raise SRCNNError(f"{out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise SRCNNError(f"{out}: folder {out.parent} is not writable")
    root = Path(root)
    splits = split_images(len(paths), cfg.val_fraction, cfg.seed)
    tasks = [(i, str(p), Path(p).relative_to(root).as_posix() if Path(p).is_relative_to(root) else str(p), s)
             for i, (p, s) in enumerate(zip(paths, splits))]
    key = run_key(cfg, tasks, strict)
    part = partial_path(out)
    t0 = time.perf_counter()

    # ---- the partial folder: continue it (--resume), refuse it, or start a new one
    if part.exists() and not part.is_dir():
        raise SRCNNError(f"{part}: exists and is not a folder; remove it")
    part.mkdir(exist_ok=True)
    lock = _lock(part)
    try:
        state_file = part / "run.json"
        old = None
        if state_file.exists():
            try:
                old = json.loads(state_file.read_text())
            except ValueError:
                old = None
        # all images done and the output being assembled: assemble.json (see _assemble)
        manifest = _read_json(part / "assemble.json") if old is not None else None
        segs = read_segments(part) if old is not None and manifest is None else []
        if old is not None and resume:
            diff = _key_difference(old["key"], key)
            if diff:
                raise SRCNNError(f"--resume: {part} was started with different options or images ({diff}); "
                                 f"rerun its command ({old.get('command', '?')}) with --resume, or drop --resume "
                                 f"and add --overwrite to start again")
            if manifest is not None and manifest["shard_size"] != shard_size:
                raise SRCNNError(f"--resume: {part} is already assembling the output with --shard-size "
                                 f"{manifest['shard_size']}; rerun with that --shard-size")
        elif old is not None and not overwrite and (manifest or segs or any(part.glob("*.tmp"))):
            done = old["key"]["n_images"] if manifest else segs[-1]["stop"] if segs else 0
            raise SRCNNError(f"{part}: an interrupted run of this output is there ({done} of {old['key']['n_images']} "
                             f"images done): add --resume to continue it, or --overwrite to start again")
        else:
            segs, manifest = [], None
        # start clean from the committed state: drop everything else (temporary files, stale spools)
        keep = {s["path"].name for s in segs} | {"lock", "run.json"}
        if manifest is not None:
            keep |= {"assemble.json", *(name for name, _, _ in manifest["segments"])}
            keep |= {p.name for p in part.glob("final-[0-9]*.h5")}
        for p in part.iterdir():
            if p.name not in keep:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        if not segs and manifest is None:
            tmp = part / "run.json.tmp"
            tmp.write_text(json.dumps({"key": key, "command": command}))
            os.replace(tmp, state_file)
        done = len(tasks) if manifest is not None else segs[-1]["stop"] if segs else 0
        try:
            summary = _prepare_in(part, segs, manifest, tasks, root, out, cfg, workers, overwrite, strict,
                                  progress, command, shard_size, done, t0, model)
        except NoSpace as e:  # checked before the write: every committed segment is intact
            raise SRCNNError(f"{e}; the images done so far are kept in {part}: free space and rerun the "
                             "command with --resume") from None
        except SRCNNError:  # a deterministic failure (--strict, nothing usable): the partial state is of no use
            shutil.rmtree(part, ignore_errors=True)
            raise
        except (OSError, RuntimeError) as e:  # disk full etc. in any writer (HDF5 reports it as RuntimeError)
            why = _write_failure(e)
            if why is None:
                raise
            raise SRCNNError(f"{out}: cannot write ({why}); the images done so far are kept in {part}: free "
                             f"space and rerun the command with --resume") from None
    finally:
        lock.close()
    shutil.rmtree(part, ignore_errors=True)
    _fsync_dir(out.parent)
    return summary


def _prepare_in(part: Path, segs: list[dict], manifest: dict | None, tasks: list, root: Path, out: Path, cfg: PrepareConfig,
                workers: int, overwrite: bool, strict: bool, progress: bool, command: str,
                shard_size: int, done: int, t0: float, model: str | None = None) -> Summary:
    n_val = sum(len(s["val"]) for s in segs)
    seg, number, resumed = None, len(segs), done
    bar = tqdm(total=len(tasks), initial=done, unit="img", desc="prepare", disable=not progress,
               dynamic_ncols=True)
    patches = sum(s["count"] for s in segs)
    stop = Interrupt()
    results = ordered_results(tasks[done:], cfg, workers, spool_parent=part, check=stop.check)
    with stop, bar, contextlib.closing(results):  # closing: stop the pool at once on any error
        try:
            for res in results:
                stop.check()
                if res.skip and strict:
                    raise SRCNNError(f"{res.skip} (--strict)")
                if seg is None:
                    seg = Segment(part, number, res.index, cfg)
                n_val += seg.add(res, n_val)  # an exception inside leaves seg consistent (see Segment)
                bar.update(1)
                bar.set_postfix(patches=patches + seg.rows, refresh=False)
                if seg.full():
                    with stop.deferred():  # a signal now is raised after the commit
                        segs.append(seg.commit())
                        patches += seg.rows
                        seg, number = None, number + 1
                stop.check()
            if seg is not None:
                with stop.deferred():
                    segs.append(seg.commit())
                    seg = None
                stop.check()
            bar.close()
            return _assemble(part, segs, manifest, tasks, root, out, cfg, overwrite, progress, command,
                             shard_size, t0, stop, resumed, model)
        except SRCNNError:
            if seg is not None:
                seg.discard()
            raise
        except BaseException as e:
            # Ctrl-C, SIGTERM or a crash: keep every finished image for --resume
            if seg is not None:
                with stop.deferred():
                    try:
                        seg.commit()
                        done = seg.stop
                    except Exception:  # noqa: BLE001 (the original error is what matters)
                        seg.discard()
                        done = seg.start
            elif segs:
                done = segs[-1]["stop"]
            if isinstance(e, KeyboardInterrupt):
                raise Interrupted(str(e) or "SIGINT", part, done, len(tasks)) from None
            raise


def _assemble(part: Path, segs: list[dict], manifest: dict | None, tasks: list, root: Path, out: Path,
              cfg: PrepareConfig, overwrite: bool, progress: bool, command: str, shard_size: int, t0: float,
              stop: Interrupt, resumed: int, model: str | None = None) -> Summary:
    """Copy the committed segments into the final file(s), ``final-KKKKK.h5`` in the partial folder,
    then rename them into place (SRCNNError when there is no training patch).

    Resumable too: ``assemble.json`` (written first) records what the files will hold; each finished
    final file is renamed from a temporary name, and with shards the segments it consumed are deleted
    at once, so the disk holds about the output plus one shard, not the output twice."""
    if manifest is None:
        sources = [x for s in segs for x in s["sources"]]
        skipped = [x for s in segs for x in s["skipped"]]
        total = sum(s["count"] for s in segs)
        if total == 0:
            why = f"; {len(skipped)} of {len(tasks)} files skipped, first: {skipped[0]['reason']}" if skipped else ""
            raise SRCNNError(f"no training patches from {root}{why}")
        manifest = {"shard_size": shard_size, "total": total, "sources": sources, "skipped": skipped,
                    "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "segments": [[s["path"].name, s["count"], s["val"]] for s in segs]}
        _write_json(part / "assemble.json", manifest)
    sources, skipped, total = manifest["sources"], manifest["skipped"], manifest["total"]
    segments = [(part / name, count, val) for name, count, val in manifest["segments"]]
    starts = np.cumsum([0] + [c for _, c, _ in segments]).tolist()
    n_val = sum(len(v) for _, _, v in segments)
    n_val_planned = sum(t[3] == "val" for t in tasks)
    val_width = max(3, len(str(max(n_val_planned - 1, 0))))
    n_shards = math.ceil(total / shard_size) if shard_size else 1
    per = shard_size or total
    finals = [shard_path(out, k) for k in range(n_shards)] if shard_size else [out]
    done_files = [part / f"final-{k:05d}.h5" for k in range(n_shards)]
    fp = fingerprint(cfg, sources)
    attrs = {"format": FORMAT, "format_version": FORMAT_VERSION,
             "scales": np.array(cfg.scales, np.int64), "patch_size": cfg.patch_size,
             "label_size": cfg.label, "stride": cfg.stride, "channels": cfg.channels,
             "blur_sigma": float(cfg.blur_sigma), "noise_sigma": float(cfg.noise_sigma),
             "augment": bool(cfg.augment), "val_fraction": float(cfg.val_fraction), "seed": cfg.seed,
             "created": manifest["created"], "command": command, "srcnn_version": __version__,
             "sources": json.dumps(sources), "skipped": json.dumps(skipped), "fingerprint": fp,
             # additions to SPEC's list: how the data was cut and degraded, for inspect/train
             "input": cfg.input, "degradation": DEGRADATION_LR if cfg.input == "lr" else DEGRADATION,
             "augment_scales": np.array(AUGMENT_SCALES if cfg.augment else (1.0,), np.float64)}
    if model is not None:
        attrs["model"] = model

    def rows(a: int, b: int):
        """(lr, hr, scale) blocks of at most WRITE_BLOCK samples covering global rows [a, b)."""
        for (path, count, _), s0 in zip(segments, starts):
            lo, hi = max(a, s0), min(b, s0 + count)
            if lo >= hi:
                continue
            if not path.exists():  # only if final files were moved out by hand
                raise SRCNNError(f"{path}: segment missing, the interrupted run cannot be finished; "
                                 f"start again with --overwrite")
            with h5py.File(path, "r") as f:
                g = f["train"]
                for i in range(lo - s0, hi - s0, WRITE_BLOCK):
                    j = min(i + WRITE_BLOCK, hi - s0)
                    yield g["lr"][i:j], g["hr"][i:j], g["scale"][i:j]

    bar = tqdm(total=total, unit="patch", desc="assemble", disable=not progress, dynamic_ncols=True,
               unit_scale=True)
    with bar:
        for k, final in enumerate(done_files):
            a, b = k * per, min((k + 1) * per, total)
            if final.exists():  # finished by the interrupted run
                bar.update(b - a)
                continue
            tmp = final.with_name(final.name + ".tmp")
            with _h5_create(tmp, rdcc_nbytes=64 << 20) as f:
                writer = PatchWriter(f.create_group("train"), cfg.n_channels, cfg.lr_size, cfg.label)
                if k == 0 and n_val:
                    val_group = f.create_group("val")
                    for path, _, val in segments:
                        if val:
                            with h5py.File(path, "r") as sf:
                                for name in val:
                                    g = val_group.create_group(f"{int(name):0{val_width}d}")
                                    g.attrs["name"] = sf["val"][name].attrs["name"]
                                    for ds_name, ds in sf["val"][name].items():
                                        g.create_dataset(ds_name, data=ds[()])
                for block in rows(a, b):
                    stop.check()
                    writer.append(*block)
                    bar.update(len(block[0]))
                writer.flush()
                f["train"].attrs["count"] = writer.count
                for name, v in attrs.items():
                    f.attrs[name] = v
                if shard_size:
                    f.attrs["shard_index"], f.attrs["shard_count"] = k, n_shards
                    f.attrs["shard_offset"], f.attrs["total_count"] = a, total
            with stop.deferred():
                _fsync_file(tmp)
                os.replace(tmp, final)
                _fsync_dir(part)
                if shard_size:  # segments wholly in shards 0..k are no longer needed
                    for (path, count, _), s0 in zip(segments, starts):
                        if s0 + count <= b:
                            path.unlink(missing_ok=True)
            stop.check()
    with stop.deferred():  # all or (short of a SIGKILL) none
        for tmp, final in zip(done_files, finals):
            os.replace(tmp, final)
    if shard_size and overwrite:  # shards of an earlier, longer run would pass for part of this one
        for p in existing_shards(out):
            if p not in finals:
                p.unlink()
    return Summary(finals[0], len(tasks), len(sources) - n_val, n_val, total, skipped,
                   time.perf_counter() - t0, sum(p.stat().st_size for p in finals), fp, finals, resumed)


def find_images(folder: Path | str) -> list[Path]:
    """All images under ``folder`` (recursive, sorted); SRCNNError when the folder is missing or has none."""
    paths = list_images(folder, recursive=True)
    if not paths:
        raise SRCNNError(f"no images found in {folder} (looked for .png .jpg .jpeg .bmp .tif .tiff .webp, recursively)")
    return paths
