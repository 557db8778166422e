"""Training data for SRCNN: whole images -> degraded/clean patch pairs streamed into an HDF5 file.

The paper's recipe (its generate_train.m), generalised:
  HR  = modcrop(image, s); Y of MATLAB rgb2ycbcr as uint8 (or the RGB channels)
  LR  = imresize(imresize(blur(HR / 255), 1/s) + noise, HR size)      all float64, unrounded
  33x33 sub-images of LR at stride 14 (rows outer, columns inner); the label is the centre LxL of HR.

Work is done per image (one task per image, in any number of worker processes). Results are written
in image order and every image draws its noise from its own generator seeded by (seed, image index),
so the datasets are byte-identical for any number of workers. At most a few images' patches are in
memory at a time, whatever the number of images. The HDF5 layout is "srcnn-patches" version 1 (SPEC).
"""
from __future__ import annotations

import collections
import contextlib
import datetime
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
from .errors import SRCNNError
from .images import list_images, read_image, to_rgb8
from .imresize import imresize, modcrop

FORMAT = "srcnn-patches"
FORMAT_VERSION = 1
AUGMENT_SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)  # FSRCNN's downscaled copies of every training image
CHUNK = 256  # samples per HDF5 chunk (axis 0)
WRITE_BLOCK = 4096  # samples buffered before a write
DEGRADATION = ("hr = modcrop(img, s); lr = imresize(imresize(blur(hr/255, blur_sigma), 1/s) "
               "+ N(0, noise_sigma/255), size(hr)); MATLAB bicubic, float64, unclipped")


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

    def __post_init__(self):
        object.__setattr__(self, "scales", tuple(self.scales))  # a list from library callers

    @property
    def label(self) -> int:
        return self.patch_size if self.label_size is None else self.label_size

    @property
    def n_channels(self) -> int:
        return 1 if self.channels == "y" else 3

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
        if not (self.blur_sigma >= 0 and self.noise_sigma >= 0):  # also rejects NaN
            raise SRCNNError(f"--blur-sigma and --noise-sigma must be >= 0, got {self.blur_sigma} and {self.noise_sigma}")
        if not 0 <= self.val_fraction < 1:
            raise SRCNNError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.seed < 0:
            raise SRCNNError(f"--seed must be >= 0, got {self.seed}")
        return self

    def params(self) -> dict:
        """The parameters as stored in the root attributes (JSON-able)."""
        d = asdict(self)
        d["scales"] = [int(s) for s in self.scales]
        d["label_size"] = self.label
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


def degrade(hr: np.ndarray, scale: int, blur_sigma: float = 0.0, noise_sigma: float = 0.0,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """The network input for one HR image: (H,W,C) float in [0,1], H and W multiples of ``scale``
    -> (H,W,C) float64, about [0,1] (bicubic overshoot and noise are not clipped, as in the paper).

    blur (optional) -> MATLAB-bicubic down by 1/scale -> + N(0, noise_sigma/255) (optional, on the
    small LR image, i.e. the noise a real low-resolution input carries) -> bicubic up to H x W.
    With no blur and no noise this is exactly ``protocol.bicubic_y`` channel by channel.
    """
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"size {h}x{w} is not a multiple of the scale {scale}; modcrop first")
    lr = imresize(gaussian_blur(hr, blur_sigma), 1.0 / scale)
    if noise_sigma > 0:
        lr = lr + rng.normal(0.0, noise_sigma / 255.0, size=lr.shape)
    return imresize(lr, output_shape=(h, w))


def patch_grid(h: int, w: int, patch_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of the sub-images, like the paper's loops ``for x = 1:stride:hei-size_input+1``:
    (ys, xs) int arrays; patches are taken rows outer, columns inner. Empty when the image is too small."""
    return np.arange(0, h - patch_size + 1, stride), np.arange(0, w - patch_size + 1, stride)


def patch_count(h: int, w: int, patch_size: int, stride: int) -> int:
    """Number of sub-images of one image: (floor((H-P)/stride)+1) * (floor((W-P)/stride)+1), 0 if too small."""
    ys, xs = patch_grid(h, w, patch_size, stride)
    return len(ys) * len(xs)


def extract_patches(lr: np.ndarray, hr: np.ndarray, patch_size: int, label_size: int,
                    stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-images of one image pair.

    lr: (H,W,C) float, hr: (H,W,C) uint8 -> (N,C,P,P) float16 and (N,C,L,L) uint8, the label being
    the centre LxL of the HR sub-image at the same position (the paper's ``padding``).
    """
    ys, xs = patch_grid(lr.shape[0], lr.shape[1], patch_size, stride)
    c = lr.shape[2]
    if len(ys) == 0 or len(xs) == 0:
        return (np.empty((0, c, patch_size, patch_size), np.float16),
                np.empty((0, c, label_size, label_size), np.uint8))
    pad = (patch_size - label_size) // 2
    # float16 once per image (patches overlap; same values as per patch), C order so that the
    # patches come out C-contiguous (imresize returns other memory layouts)
    lr = np.ascontiguousarray(lr, dtype=np.float16)
    win = np.lib.stride_tricks.sliding_window_view(lr, (patch_size, patch_size), axis=(0, 1))
    lr_p = win[ys[:, None], xs[None, :]].reshape(-1, c, patch_size, patch_size)
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
    lr: np.ndarray | None = None  # (N,C,P,P) float16
    hr: np.ndarray | None = None  # (N,C,L,L) uint8
    scale: np.ndarray | None = None  # (N,) uint8
    val: dict = field(default_factory=dict)  # {"hr": (H,W,C) uint8, "lr_x<s>": (H,W,C) float16}
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
    if split == "val":
        hr = modcrop(to_channels(img, cfg.channels), lcm(cfg.scales))
        res.val["hr"] = np.ascontiguousarray(hr)
        for s in cfg.scales:
            res.val[f"lr_x{s}"] = np.ascontiguousarray(degrade(hr / 255.0, s, **kw), dtype=np.float16)
        return res
    lrs, hrs, scales = [], [], []
    for _, im in versions(img, cfg.augment):
        chans = to_channels(im, cfg.channels)
        for s in cfg.scales:
            hr = modcrop(chans, s)
            if min(hr.shape[:2]) < cfg.patch_size:
                continue  # a downscaled copy too small for a patch: nothing to cut
            lr = degrade(hr / 255.0, s, **kw)
            # Degradation commutes with flips/rotations (the bicubic grid is symmetric for
            # multiples of s), so the 8 orientations reuse one degraded image.
            pairs = zip(dihedral(lr), dihedral(hr)) if cfg.augment else [(lr, hr)]
            for lr_t, hr_t in pairs:
                a, b = extract_patches(lr_t, hr_t, cfg.patch_size, cfg.label, cfg.stride)
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
    while a process pool is busy. Other threads: a no-op."""

    def __init__(self):
        self.hit, self.old = None, {}

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
        raise KeyboardInterrupt(self.hit)

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
    if workers <= 1:
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


class PatchWriter:
    """Appends patch blocks to /train/{lr,hr,scale} (resizable, chunked along axis 0), buffering
    up to WRITE_BLOCK samples."""

    def __init__(self, group: h5py.Group, c: int, p: int, l: int):
        self.lr = group.create_dataset("lr", (0, c, p, p), np.float16, maxshape=(None, c, p, p), chunks=(CHUNK, c, p, p))
        self.hr = group.create_dataset("hr", (0, c, l, l), np.uint8, maxshape=(None, c, l, l), chunks=(CHUNK, c, l, l))
        self.scale = group.create_dataset("scale", (0,), np.uint8, maxshape=(None,), chunks=(CHUNK * 16,))
        self.count = 0
        self.buf: list[tuple] = []
        self.buffered = 0

    def append(self, lr: np.ndarray, hr: np.ndarray, scale: np.ndarray) -> None:
        self.buf.append((lr, hr, scale))
        self.buffered += len(lr)
        if self.buffered >= WRITE_BLOCK:
            self.flush()

    def flush(self) -> None:
        if not self.buffered:
            return
        n0, n1 = self.count, self.count + self.buffered
        for ds, k in ((self.lr, 0), (self.hr, 1), (self.scale, 2)):
            ds.resize(n1, axis=0)
            ds[n0:n1] = np.concatenate([b[k] for b in self.buf])
        self.count, self.buf, self.buffered = n1, [], 0


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

    def lines(self) -> list[str]:
        mb = self.bytes / 1e6
        out = [f"wrote {self.out}: {self.patches} training patches from {self.train_images} images"
               + (f", {self.val_images} validation images" if self.val_images else "")
               + f"; {mb:.1f} MB in {self.seconds:.1f} s ({self.images / max(self.seconds, 1e-9):.1f} images/s)"]
        if self.skipped:
            out.append(f"skipped {len(self.skipped)} of {self.images} files:")
            out += [f"  {s['reason']}" for s in self.skipped]
        return out


def _tmp_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.{os.getpid()}.tmp")


def prepare(paths: list[Path], root: Path, out: Path | str, cfg: PrepareConfig, workers: int = 1,
            overwrite: bool = False, strict: bool = False, progress: bool = True,
            command: str = "") -> Summary:
    """Write the patches of ``paths`` (images under ``root``; their paths are stored relative to it)
    to ``out`` atomically: a temporary file in the same folder, renamed on success, removed on any
    failure, KeyboardInterrupt or SIGTERM (both raise KeyboardInterrupt while this runs in the main
    thread). Unusable images are skipped (listed in the summary and the
    ``skipped`` attribute) unless ``strict``. Raises SRCNNError for every user-facing problem.

    workers > 1 starts a process pool (forkserver, else spawn): a script calling this must guard its
    entry point with ``if __name__ == "__main__":``, as usual for multiprocessing."""
    cfg.validate()
    out = Path(out)
    if workers < 1:
        raise SRCNNError(f"--workers must be >= 1, got {workers}")
    if not paths:
        raise SRCNNError(f"no images found in {root}")
    if out.is_dir():
        raise SRCNNError(f"{out}: is a folder, expected an .h5 file path")
    if out.exists() and not overwrite:
        raise SRCNNError(f"{out}: already exists (use --overwrite to replace it)")
    if not out.parent.is_dir():
        raise SRCNNError(f"{out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise SRCNNError(f"{out}: folder {out.parent} is not writable")
    root = Path(root)
    splits = split_images(len(paths), cfg.val_fraction, cfg.seed)
    tasks = [(i, str(p), Path(p).relative_to(root).as_posix() if Path(p).is_relative_to(root) else str(p), s)
             for i, (p, s) in enumerate(zip(paths, splits))]
    n_val_planned = splits.count("val")
    val_width = max(3, len(str(max(n_val_planned - 1, 0))))
    c = cfg.n_channels
    t0 = time.perf_counter()
    tmp = _tmp_path(out)
    sources, skipped = [], []
    n_val = n_train = 0
    try:
        with h5py.File(tmp, "w", rdcc_nbytes=64 << 20) as f:
            writer = PatchWriter(f.create_group("train"), c, cfg.patch_size, cfg.label)
            val_group = f.create_group("val") if n_val_planned else None
            bar = tqdm(total=len(tasks), unit="img", desc="prepare", disable=not progress, dynamic_ncols=True)
            stop = Interrupt()
            results = ordered_results(tasks, cfg, workers, spool_parent=out.parent, check=stop.check)
            with stop, bar, contextlib.closing(results):  # closing: stop the pool at once on any error
                for res in results:
                    stop.check()
                    bar.update(1)
                    if res.skip:
                        if strict:
                            raise SRCNNError(f"{res.skip} (--strict)")
                        skipped.append({"path": res.rel, "reason": res.skip})
                        continue
                    sources.append({"path": res.rel, "sha256": res.sha256, "split": res.split,
                                    "h": res.h, "w": res.w})
                    if res.split == "val":
                        g = val_group.create_group(f"{n_val:0{val_width}d}")
                        g.attrs["name"] = res.rel
                        for k, v in res.val.items():
                            g.create_dataset(k, data=v)
                        n_val += 1
                    else:
                        writer.append(res.lr, res.hr, res.scale)
                        n_train += 1
                    bar.set_postfix(patches=writer.count + writer.buffered, refresh=False)
            writer.flush()
            if writer.count == 0:
                why = f"; {len(skipped)} of {len(paths)} files skipped, first: {skipped[0]['reason']}" if skipped else ""
                raise SRCNNError(f"no training patches from {root}{why}")
            f["train"].attrs["count"] = writer.count
            fp = fingerprint(cfg, sources)
            attrs = {"format": FORMAT, "format_version": FORMAT_VERSION,
                     "scales": np.array(cfg.scales, np.int64), "patch_size": cfg.patch_size,
                     "label_size": cfg.label, "stride": cfg.stride, "channels": cfg.channels,
                     "blur_sigma": float(cfg.blur_sigma), "noise_sigma": float(cfg.noise_sigma),
                     "augment": bool(cfg.augment), "val_fraction": float(cfg.val_fraction), "seed": cfg.seed,
                     "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "command": command, "srcnn_version": __version__,
                     "sources": json.dumps(sources), "skipped": json.dumps(skipped), "fingerprint": fp,
                     # additions to SPEC's list: how the data was cut and degraded, for inspect/train
                     "degradation": DEGRADATION,
                     "augment_scales": np.array(AUGMENT_SCALES if cfg.augment else (1.0,), np.float64)}
            for k, v in attrs.items():
                f.attrs[k] = v
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Summary(out, len(paths), n_train, n_val, writer.count, skipped, time.perf_counter() - t0,
                   out.stat().st_size, fp)


def find_images(folder: Path | str) -> list[Path]:
    """All images under ``folder`` (recursive, sorted); SRCNNError when the folder is missing or has none."""
    paths = list_images(folder, recursive=True)
    if not paths:
        raise SRCNNError(f"no images found in {folder} (looked for .png .jpg .jpeg .bmp .tif .tiff .webp, recursively)")
    return paths
