"""Training data: the "srcnn-patches" HDF5 file written by prepare_data.py (format in SPEC / README).

``open_patches(path)`` validates the file and returns a ``PatchFile`` (metadata only). Batches come from
one of two loaders with the same interface, ``loader.epoch(epoch, skip=0)`` yielding ``(x, y)`` on the
training device: x (B,C,P,P) float32 about [0,1] (network input; bicubic overshoot is kept) and
y (B,C,L,L) float32 in [0,1] (label).

- ``MemoryLoader``: the whole /train group loaded once as tensors (on the GPU when training there) and
  batched by random index tensors; no per-sample Python work.
- ``StreamLoader``: bounded memory for files of any size. Contiguous chunk-aligned blocks are read,
  the block order is shuffled per epoch and samples are shuffled within a buffer of blocks; DataLoader
  workers each open their own h5py handle and read a disjoint share of the blocks.

The sample order depends only on (seed, epoch), so an epoch can be replayed exactly after a resume.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .errors import SRCNNError
from .prepare import FORMAT, FORMAT_VERSION  # the writer owns the format

IN_MEMORY_MAX_BYTES = 2 * 2**30  # auto mode loads files whose /train arrays fit in this
BLOCK_BYTES = 4 * 2**20          # streaming: bytes read per contiguous block (rounded to whole chunks)
BUFFER_BYTES = 64 * 2**20        # streaming: shuffle buffer per worker
DEGRADATION_ATTRS = ("scales", "patch_size", "label_size", "stride", "channels", "blur_sigma",
                     "noise_sigma", "augment", "val_fraction", "seed", "created", "command",
                     "srcnn_version")


def prepare_hint(path) -> str:
    return f"make it with: python prepare_data.py --scale 3 --out {path}"


def _plain(v):
    """h5py attribute -> JSON-able Python value."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass
class PatchFile:
    """A validated training file. Shapes: lr (count,C,P,P) float16, hr (count,C,L,L) uint8."""
    path: Path
    count: int
    channels: int        # C: 1 for "y", 3 for "rgb"
    mode: str            # "y" or "rgb"
    patch_size: int      # P
    label_size: int      # L
    scales: list[int]
    fingerprint: str
    chunk_rows: int      # chunk length along axis 0 of /train/lr
    nbytes: int          # bytes of /train/lr + /train/hr
    val_names: list[str] = field(default_factory=list)
    attrs: dict = field(default_factory=dict)  # degradation / provenance attributes, JSON-able

    @property
    def scale(self) -> int | list[int]:
        return self.scales[0] if len(self.scales) == 1 else list(self.scales)

    def provenance(self) -> dict:
        """The checkpoint's "data" entry."""
        return {"path": str(self.path.resolve()), "fingerprint": self.fingerprint,
                "count": self.count, "attrs": dict(self.attrs)}


def open_patches(path) -> PatchFile:
    """Validate a training file without loading it; SRCNNError naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise SRCNNError(f"{path}: no such training file; {prepare_hint(path)}")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SRCNNError(f"{path}: cannot open as HDF5 ({e}); the file is truncated, corrupt or not "
                         f"made by prepare_data.py") from None
    with f:
        a = {k: _plain(v) for k, v in f.attrs.items()}
        if a.get("format") != FORMAT:
            raise SRCNNError(f"{path}: not a srcnn training file (format attribute {a.get('format')!r}, "
                             f"expected {FORMAT!r}); {prepare_hint(path)}")
        if a.get("format_version") != FORMAT_VERSION:
            raise SRCNNError(f"{path}: format version {a.get('format_version')}, but this srcnn reads "
                             f"version {FORMAT_VERSION}; re-create it with prepare_data.py")
        missing = [k for k in ("scales", "patch_size", "label_size", "channels", "fingerprint")
                   if k not in a]
        if missing:
            raise SRCNNError(f"{path}: missing root attribute(s) {', '.join(missing)}")
        mode = a["channels"]
        if mode not in ("y", "rgb"):
            raise SRCNNError(f"{path}: channels attribute is {mode!r}, expected 'y' or 'rgb'")
        c = 1 if mode == "y" else 3
        p, lab = int(a["patch_size"]), int(a["label_size"])
        scales = a["scales"] if isinstance(a["scales"], list) else [a["scales"]]
        scales = [int(s) for s in scales]
        for name in ("train/lr", "train/hr", "train/scale"):
            if not isinstance(f.get(name), h5py.Dataset):
                raise SRCNNError(f"{path}: missing dataset /{name}")
        lr, hr, sc = f["train/lr"], f["train/hr"], f["train/scale"]
        n = lr.shape[0] if lr.ndim else 0
        want = {"lr": (n, c, p, p), "hr": (n, c, lab, lab), "scale": (n,)}
        for ds, key in ((lr, "lr"), (hr, "hr"), (sc, "scale")):
            if ds.shape != want[key]:
                raise SRCNNError(f"{path}: /train/{key} has shape {ds.shape}, expected {want[key]} "
                                 f"(channels={mode}, patch_size={p}, label_size={lab})")
        if n == 0:
            raise SRCNNError(f"{path}: /train holds no patches")
        if lr.dtype.kind != "f" or hr.dtype != np.uint8:
            raise SRCNNError(f"{path}: /train/lr must be float16 and /train/hr uint8, "
                             f"got {lr.dtype} and {hr.dtype}")
        if lab > p or (p - lab) % 2:
            raise SRCNNError(f"{path}: label_size {lab} must be <= patch_size {p} with an even difference")
        count = _plain(f["train"].attrs.get("count", n))
        if count != n:
            raise SRCNNError(f"{path}: /train count attribute says {count} but the arrays hold {n}")
        try:  # touch the first and last chunks: a damaged tail shows up here, before training
            lr[0], lr[-1], hr[0], hr[-1], sc[-1]
        except (OSError, RuntimeError) as e:
            raise SRCNNError(f"{path}: cannot read /train ({e}); the file is truncated or corrupt") from None
        val_names = []
        if "val" in f:
            for name in sorted(f["val"]):
                g = f["val"][name]
                if "hr" not in g or g["hr"].ndim != 3 or g["hr"].shape[2] != c or g["hr"].dtype != np.uint8:
                    raise SRCNNError(f"{path}: /val/{name}/hr must be (H,W,{c}) uint8")
                for s in scales:
                    if f"lr_x{s}" not in g or g[f"lr_x{s}"].shape != g["hr"].shape:
                        raise SRCNNError(f"{path}: /val/{name}/lr_x{s} missing or not the shape of hr "
                                         f"{g['hr'].shape}")
                val_names.append(name)
        info = {k: a[k] for k in DEGRADATION_ATTRS if k in a}
        try:
            info["n_sources"] = len(json.loads(a.get("sources", "[]")))
            info["n_skipped"] = len(json.loads(a.get("skipped", "[]")))
        except (TypeError, ValueError):
            raise SRCNNError(f"{path}: sources/skipped attributes are not JSON lists") from None
        info["n_val_images"] = len(val_names)
        return PatchFile(path=path, count=n, channels=c, mode=mode, patch_size=p, label_size=lab,
                         scales=scales, fingerprint=str(a["fingerprint"]),
                         chunk_rows=(lr.chunks or (256,))[0],
                         nbytes=lr.size * lr.dtype.itemsize + hr.size, val_names=val_names, attrs=info)


def load_val(pf: PatchFile) -> list[dict]:
    """The /val images, one item per image and scale: {"name", "scale", "lr": (1,C,H,W) float32 tensor
    in [0,1] (network input), "gt_y": (H,W) float64 in [0,1] (Y of the HR image, as srcnn.protocol.hr_y)}."""
    from .color import rgb2y
    out = []
    try:
        with h5py.File(pf.path, "r") as f:
            for name in pf.val_names:
                g = f["val"][name]
                gt_y = rgb2y(g["hr"][...]).astype(np.float64) / 255.0
                label = _plain(g.attrs.get("name", name))
                for s in pf.scales:
                    lr = torch.from_numpy(g[f"lr_x{s}"][...].astype(np.float32)).permute(2, 0, 1)[None]
                    out.append({"name": label, "scale": s, "lr": lr.contiguous(), "gt_y": gt_y})
    except OSError as e:
        raise SRCNNError(f"{pf.path}: cannot read /val ({e})") from None
    return out


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 63-bit seed for the sample order of one epoch."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def _to_batch(lr: torch.Tensor, hr: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
    nb = torch.device(device).type == "cuda"
    return (lr.to(device, non_blocking=nb).float(),
            hr.to(device, non_blocking=nb).float().div_(255.0))


class MemoryLoader:
    """All of /train on ``device``: lr float16 and hr uint8, one row per sample; batches by index."""

    kind = "memory"

    def __init__(self, pf: PatchFile, batch_size: int, seed: int, device="cpu"):
        self.pf, self.batch_size, self.seed, self.device = pf, batch_size, seed, torch.device(device)
        try:
            with h5py.File(pf.path, "r") as f:
                lr = torch.from_numpy(f["train/lr"][...].astype(np.float16, copy=False))
                hr = torch.from_numpy(f["train/hr"][...])
        except OSError as e:
            raise SRCNNError(f"{pf.path}: cannot read /train ({e}); the file is truncated or corrupt") from None
        if not torch.isfinite(lr).all():
            raise SRCNNError(f"{pf.path}: /train/lr holds NaN or inf values")
        if lr.min() < -1 or lr.max() > 2:  # bicubic overshoot and noise are fine; 0-255 data is not
            raise SRCNNError(f"{pf.path}: /train/lr spans [{float(lr.min()):g}, {float(lr.max()):g}], "
                             "expected about [0,1]")
        # kept as (N, C*P*P) rows: gathering rows of a 2-D tensor is ~100x faster on the CPU than of (N,C,P,P)
        self.lr, self.hr = lr.reshape(len(lr), -1).to(self.device), hr.reshape(len(hr), -1).to(self.device)
        self.lr_shape, self.hr_shape = tuple(lr.shape[1:]), tuple(hr.shape[1:])

    def __len__(self) -> int:
        return math.ceil(self.pf.count / self.batch_size)

    def describe(self) -> str:
        return f"in memory on {self.device} ({self.pf.nbytes / 2**20:.1f} MiB)"

    def epoch(self, epoch: int, skip: int = 0):
        """Yield (x, y) batches of epoch ``epoch`` (0-based), leaving out the first ``skip`` samples."""
        g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        perm = torch.randperm(self.pf.count, generator=g)[skip:].to(self.device)
        for i in range(0, len(perm), self.batch_size):
            idx = perm[i:i + self.batch_size]
            yield (self.lr[idx].view(-1, *self.lr_shape).float(),
                   self.hr[idx].view(-1, *self.hr_shape).float().div_(255.0))


class _BlockStream(IterableDataset):
    """Yields (lr float16, hr uint8) CPU batches from shuffled contiguous blocks of /train."""

    def __init__(self, path, count: int, block_rows: int, buffer_blocks: int, batch_size: int, seed: int):
        self.path, self.count, self.block_rows = str(path), count, block_rows
        self.buffer_blocks, self.batch_size, self.seed = buffer_blocks, batch_size, seed
        self.epoch = 0

    def plan(self, epoch: int, workers: int) -> list[np.ndarray]:
        """Block indices of each worker for this epoch (the block order is shuffled per epoch)."""
        n_blocks = math.ceil(self.count / self.block_rows)
        order = np.random.default_rng([self.seed, epoch, 7]).permutation(n_blocks)
        return [order[w::workers] for w in range(workers)]

    def worker_samples(self, blocks) -> int:
        last = math.ceil(self.count / self.block_rows) - 1
        tail = self.count - last * self.block_rows
        return sum(tail if b == last else self.block_rows for b in blocks)

    def __iter__(self):
        info = get_worker_info()
        w, nw = (info.id, info.num_workers) if info else (0, 1)
        blocks = self.plan(self.epoch, nw)[w]
        rng = np.random.default_rng([self.seed, self.epoch, w, 11])
        bs = self.batch_size
        with h5py.File(self.path, "r") as f:  # each worker opens its own handle
            lr_ds, hr_ds = f["train/lr"], f["train/hr"]
            carry_lr = carry_hr = None
            for i in range(0, len(blocks), self.buffer_blocks):
                lrs, hrs = [], []
                if carry_lr is not None:
                    lrs.append(carry_lr), hrs.append(carry_hr)
                for b in blocks[i:i + self.buffer_blocks]:
                    a, z = b * self.block_rows, min((b + 1) * self.block_rows, self.count)
                    lrs.append(lr_ds[a:z]), hrs.append(hr_ds[a:z])
                lr, hr = np.concatenate(lrs), np.concatenate(hrs)
                perm = rng.permutation(len(lr))
                lr, hr = lr[perm], hr[perm]
                full = len(lr) // bs * bs
                for j in range(0, full, bs):
                    yield torch.from_numpy(lr[j:j + bs]), torch.from_numpy(hr[j:j + bs])
                carry_lr, carry_hr = (lr[full:], hr[full:]) if full < len(lr) else (None, None)
            if carry_lr is not None:
                yield torch.from_numpy(carry_lr), torch.from_numpy(carry_hr)


class StreamLoader:
    """Bounded-memory loader: about workers x (buffer + 2 prefetched batches) of RAM at any time."""

    kind = "stream"

    def __init__(self, pf: PatchFile, batch_size: int, seed: int, device="cpu", workers: int = 2,
                 block_bytes: int = BLOCK_BYTES, buffer_bytes: int = BUFFER_BYTES):
        self.pf, self.batch_size, self.device, self.workers = pf, batch_size, torch.device(device), workers
        row_bytes = pf.nbytes // pf.count
        chunks = max(1, block_bytes // (pf.chunk_rows * row_bytes))
        self.block_rows = pf.chunk_rows * chunks
        self.buffer_blocks = max(1, buffer_bytes // (self.block_rows * row_bytes))
        self.ds = _BlockStream(pf.path, pf.count, self.block_rows, self.buffer_blocks, batch_size, seed)

    def __len__(self) -> int:
        return sum(math.ceil(self.ds.worker_samples(b) / self.batch_size)
                   for b in self.ds.plan(0, max(1, self.workers)))

    def describe(self) -> str:
        mb = self.block_rows * self.buffer_blocks * (self.pf.nbytes / self.pf.count) / 2**20
        return (f"streamed from disk ({self.pf.nbytes / 2**20:.1f} MiB; {self.workers} worker(s), "
                f"blocks of {self.block_rows} samples, shuffle buffer {mb:.0f} MiB per worker)")

    def epoch(self, epoch: int, skip: int = 0):
        """Yield (x, y) batches of epoch ``epoch``; batches until ``skip`` samples are passed are dropped."""
        self.ds.epoch = epoch
        dl = DataLoader(self.ds, batch_size=None, num_workers=self.workers,
                        pin_memory=self.device.type == "cuda")
        seen = 0
        for lr, hr in dl:
            if seen < skip:
                seen += len(lr)
                continue
            yield _to_batch(lr, hr, self.device)


def make_loader(pf: PatchFile, mode: str, batch_size: int, seed: int, device="cpu", workers: int = 2,
                memory_limit: int = IN_MEMORY_MAX_BYTES):
    """mode "memory", "stream", or "auto" (memory when /train is at most ``memory_limit`` bytes)."""
    if mode == "auto":
        mode = "memory" if pf.nbytes <= memory_limit else "stream"
    if mode == "memory":
        return MemoryLoader(pf, batch_size, seed, device)
    if mode == "stream":
        return StreamLoader(pf, batch_size, seed, device, workers)
    raise ValueError(f"unknown loader mode {mode!r}")
