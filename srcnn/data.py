"""Training data: the "srcnn-patches" HDF5 file written by prepare_data.py (format in docs/formats.md).

``open_patches(path)`` validates the file and returns a ``PatchFile`` (metadata only). Batches come from
one of two loaders with the same interface, ``loader.epoch(epoch, skip=0)`` yielding ``(x, y)`` on the
training device: x (B,C,P,P) float32 about [0,1] (network input; bicubic overshoot is kept) and
y (B,C,L,L) float32 in [0,1] (label). For a file of input kind "lr" (``PatchFile.input``, for LR-input
models) x is the low-resolution patch, (B,C,P/s,P/s) (``PatchFile.input_size`` = P/s), and y the HR patch
(B,C,P,P); files without the ``input`` attribute are "upscaled".

- ``MemoryLoader``: the whole /train group loaded once as tensors (on the GPU when training there) and
  batched by random index tensors; no per-sample Python work.
- ``StreamLoader``: bounded memory for files of any size. Contiguous chunk-aligned blocks are read,
  the block order is shuffled per epoch and samples are shuffled within a buffer of blocks; DataLoader
  workers each open their own h5py handle and read a disjoint share of the blocks.

The sample order depends only on (seed, epoch), so an epoch can be replayed exactly after a resume.

Several files (a list, or a glob such as ``shards/train-*.h5`` from ``prepare_data.py --shard-size``)
are read as one dataset: their /train arrays concatenated in the order given (globs sorted), /val from
every file that has one. They must agree on channels, scales, patch and label size and input kind.

Distributed training (``rank``/``world`` of the loaders): the memory loader gives each rank a disjoint
slice of every global batch of the epoch's permutation (rank r: samples [r*B, (r+1)*B) of each
B*world), so the union over ranks is the single-process order with batch B*world; the streaming loader
deals the shuffled blocks out over all (rank, worker) pairs.
"""
from __future__ import annotations

import glob
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .color import CHANNEL_NAMES, channel_count
from .errors import SRCNNError
from .files import regular_file
from .h5format import FORMAT, FORMAT_VERSION, HR, INPUTS, LR, SCALE, TRAIN, VAL, val_input

IN_MEMORY_MAX_BYTES = 2 * 2**30  # auto mode loads files whose /train arrays fit in this
BLOCK_BYTES = 4 * 2**20          # streaming: bytes read per contiguous block (rounded to whole chunks)
BUFFER_BYTES = 64 * 2**20        # streaming: shuffle buffer per worker
DEGRADATION_ATTRS = ("input", "model", "scales", "patch_size", "label_size", "stride", "channels", "blur_sigma",
                     "noise_sigma", "augment", "val_fraction", "seed", "created", "command",
                     "srcnn_version", "shard_index", "shard_count")
SHARED_ATTRS = ("input", "channels", "scales", "patch_size", "label_size")  # files read together must agree


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
    """A validated training file. Shapes: /train/lr (count,C,R,R) float16, the network input (despite
    the dataset's name the bicubic-upscaled image for input "upscaled"), with R = input_size (P for
    "upscaled", P/s for "lr"); /train/hr (count,C,L,L) uint8 (L = P for "lr")."""
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
    parts: list = field(default_factory=list)  # [(Path, count, fingerprint)] read in this order
    val_parts: list = field(default_factory=list)  # [(Path, /val group name)]
    notes: list = field(default_factory=list)  # things the trainer should tell the user
    input: str = "upscaled"  # "upscaled": lr is the bicubic-upscaled image; "lr": the LR image itself
    input_size: int = 0  # R, side of /train/lr (the network input): patch_size (0 = that) or P / scale for "lr"

    def __post_init__(self):
        if not self.input_size:
            self.input_size = self.patch_size
        if not self.parts:
            self.parts = [(self.path, self.count, self.fingerprint)]
        if not self.val_parts:
            self.val_parts = [(self.path, n) for n in self.val_names]

    @property
    def name(self) -> str:
        """The file, or the first file and how many more."""
        extra = len(self.parts) - 1
        return str(self.path) + (f" (+{extra} more file{'s' * (extra > 1)})" if extra else "")

    @property
    def scale(self) -> int | list[int]:
        return self.scales[0] if len(self.scales) == 1 else list(self.scales)

    def provenance(self) -> dict:
        """The checkpoint's "data" entry ("path" a list and "files" per file when several)."""
        if len(self.parts) == 1:
            return {"path": str(self.path.resolve()), "fingerprint": self.fingerprint,
                    "count": self.count, "attrs": dict(self.attrs)}
        return {"path": [str(p.resolve()) for p, _, _ in self.parts], "fingerprint": self.fingerprint,
                "count": self.count, "attrs": dict(self.attrs),
                "files": [{"path": str(p.resolve()), "fingerprint": fp, "count": n} for p, n, fp in self.parts]}


def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_data(spec) -> list[Path]:
    """``--data`` value(s) -> files: a path, a glob (matches sorted), or a list of either."""
    items = [spec] if isinstance(spec, (str, Path)) else list(spec)
    if not items:
        raise SRCNNError("--data: no training file given")
    out = []
    for item in items:
        item = str(item)
        if _has_magic(item) and not Path(item).exists():
            hits = sorted(glob.glob(item))
            if not hits:
                raise SRCNNError(f"{item}: no file matches this pattern; {prepare_hint('train.h5')}")
            out += [Path(h) for h in hits]
        else:
            out.append(Path(item))
    seen = set()
    for p in out:
        key = p.resolve()
        if key in seen:
            raise SRCNNError(f"{p}: given twice in --data")
        seen.add(key)
    return out


def same_data(a, b) -> bool:
    """Whether two --data values name the same files in the same order."""
    try:
        return [p.resolve() for p in expand_data(a)] == [p.resolve() for p in expand_data(b)]
    except SRCNNError:
        return False


def open_patches(spec) -> PatchFile:
    """Validate the training file(s) without loading them; SRCNNError naming the file and the problem.
    ``spec``: a path, a glob, or a list of them (several files: one concatenated dataset)."""
    files = expand_data(spec)
    if len(files) == 1:
        return _open_one(files[0])
    pfs = [_open_one(p) for p in files]
    first = pfs[0]
    for pf in pfs[1:]:
        for k in SHARED_ATTRS:
            a, b = getattr(first, "mode" if k == "channels" else k), getattr(pf, "mode" if k == "channels" else k)
            if a != b and k == "input":
                raise SRCNNError(f"{pf.path}: prepared for input {b!r}, but {first.path} for {a!r} "
                                 f"(prepare_data.py --model); files read together must share the input kind")
            if a != b:
                raise SRCNNError(f"{pf.path}: {k} is {b}, but {first.path} has {a}; files read together "
                                 f"must share {', '.join(SHARED_ATTRS)}")
    lines = [f"{pf.fingerprint} {pf.attrs.get('shard_index', '-')} {pf.count}" for pf in pfs]
    notes = []
    counts = {pf.attrs.get("shard_count") for pf in pfs if "shard_index" in pf.attrs}
    if len(counts) == 1:
        have = sorted(pf.attrs["shard_index"] for pf in pfs if "shard_index" in pf.attrs)
        if have != list(range(counts.pop())):
            notes.append(f"note: the files hold shards {have} of a set of {pfs[0].attrs['shard_count']}")
    attrs = {k: v for k, v in first.attrs.items() if k not in ("shard_index", "shard_count")}
    attrs["n_files"] = len(pfs)
    attrs["commands"] = list(dict.fromkeys(str(pf.attrs["command"]) for pf in pfs if pf.attrs.get("command")))
    attrs["n_val_images"] = sum(pf.attrs.get("n_val_images", 0) for pf in pfs)
    return PatchFile(path=first.path, count=sum(pf.count for pf in pfs), channels=first.channels,
                     mode=first.mode, patch_size=first.patch_size, label_size=first.label_size,
                     scales=first.scales, fingerprint=hashlib.sha256("\n".join(lines).encode()).hexdigest(),
                     chunk_rows=first.chunk_rows, nbytes=sum(pf.nbytes for pf in pfs),
                     val_names=[n for pf in pfs for n in pf.val_names], attrs=attrs,
                     parts=[(pf.path, pf.count, pf.fingerprint) for pf in pfs],
                     val_parts=[vp for pf in pfs for vp in pf.val_parts], notes=notes,
                     input=first.input, input_size=first.input_size)


def _open_one(path) -> PatchFile:
    path = Path(path)  # missing, a folder, FIFO or device: one clear line, never a hang
    regular_file(path, "training file (.h5)", missing=f"training file; {prepare_hint(path)}")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SRCNNError(f"{path}: cannot open as HDF5 ({e}); the file is truncated, corrupt or not "
                         f"made by prepare_data.py") from None
    with f:
        a = {k: _plain(v) for k, v in f.attrs.items()}
        geo = _geometry(path, a)
        lr, n = _check_train(path, f, geo)
        val_names = _check_val(path, f, geo)
        info = {k: a[k] for k in DEGRADATION_ATTRS if k in a}
        info["input"] = geo["input"]
        try:
            info["n_sources"] = len(json.loads(a.get("sources", "[]")))
            info["n_skipped"] = len(json.loads(a.get("skipped", "[]")))
        except (TypeError, ValueError):
            raise SRCNNError(f"{path}: sources/skipped attributes are not JSON lists") from None
        info["n_val_images"] = len(val_names)
        return PatchFile(path=path, count=n, channels=geo["c"], mode=geo["mode"], patch_size=geo["p"],
                         label_size=geo["lab"], scales=geo["scales"], fingerprint=str(a["fingerprint"]),
                         chunk_rows=(lr.chunks or (256,))[0],
                         nbytes=lr.size * lr.dtype.itemsize + n * geo["c"] * geo["lab"] ** 2,  # (+ hr, uint8)
                         val_names=val_names, attrs=info, input=geo["input"], input_size=geo["r"])


def _geometry(path: Path, a: dict) -> dict:
    """The checked root attributes ``a`` of a training file: {"mode": "y" | "rgb", "c": channels,
    "p": patch size, "lab": label size, "scales": [int], "input": "upscaled" | "lr", "r": the side of
    /train/lr (p, or p / scale for "lr")}."""
    if a.get("format") != FORMAT:
        raise SRCNNError(f"{path}: not a srcnn training file (format attribute {a.get('format')!r}, "
                         f"expected {FORMAT!r}); {prepare_hint(path)}")
    if a.get("format_version") != FORMAT_VERSION:
        raise SRCNNError(f"{path}: format version {a.get('format_version')}, but this srcnn reads "
                         f"version {FORMAT_VERSION}; re-create it with prepare_data.py")
    missing = [k for k in ("scales", "patch_size", "label_size", "channels", "fingerprint") if k not in a]
    if missing:
        raise SRCNNError(f"{path}: missing root attribute(s) {', '.join(missing)}")
    mode = a["channels"]
    if mode not in CHANNEL_NAMES:
        raise SRCNNError(f"{path}: channels attribute is {mode!r}, expected 'y' or 'rgb'")
    p, lab = int(a["patch_size"]), int(a["label_size"])
    scales = [int(s) for s in (a["scales"] if isinstance(a["scales"], list) else [a["scales"]])]
    kind = a.get("input", "upscaled")  # files made before the attribute existed: upscaled input
    if kind not in INPUTS:
        raise SRCNNError(f"{path}: input attribute is {kind!r}, expected 'upscaled' or 'lr'")
    r = p
    if kind == "lr":
        if len(scales) != 1 or p % scales[0] or lab != p:
            raise SRCNNError(f"{path}: input 'lr' needs one scale, a patch_size that is a multiple of it "
                             f"and label_size == patch_size; got scales {scales}, patch_size {p}, "
                             f"label_size {lab}")
        r = p // scales[0]
    return {"mode": mode, "c": channel_count(mode), "p": p, "lab": lab, "scales": scales, "input": kind, "r": r}


def _check_train(path: Path, f: h5py.File, geo: dict) -> tuple[h5py.Dataset, int]:
    """(/train/lr, sample count) of the open training file ``f`` once /train is checked against
    ``geo`` (``_geometry``): the datasets, their shapes and dtypes, the count attribute, and the first
    and last chunks readable."""
    for name in (f"{TRAIN}/{LR}", f"{TRAIN}/{HR}", f"{TRAIN}/{SCALE}"):
        if not isinstance(f.get(name), h5py.Dataset):
            raise SRCNNError(f"{path}: missing dataset /{name}")
    lr, hr, sc = f[TRAIN][LR], f[TRAIN][HR], f[TRAIN][SCALE]
    n = lr.shape[0] if lr.ndim else 0
    c, p, lab, r, kind = geo["c"], geo["p"], geo["lab"], geo["r"], geo["input"]
    want = {LR: (n, c, r, r), HR: (n, c, lab, lab), SCALE: (n,)}
    for ds, key in ((lr, LR), (hr, HR), (sc, SCALE)):
        if ds.shape != want[key]:
            raise SRCNNError(f"{path}: /{TRAIN}/{key} has shape {ds.shape}, expected {want[key]} "
                             f"(input={kind}, channels={geo['mode']}, patch_size={p}, label_size={lab})")
    if n == 0:
        raise SRCNNError(f"{path}: /train holds no patches")
    if lr.dtype.kind != "f" or hr.dtype != np.uint8:
        raise SRCNNError(f"{path}: /train/lr must be float16 and /train/hr uint8, got {lr.dtype} and {hr.dtype}")
    if lab > p or (p - lab) % 2:
        raise SRCNNError(f"{path}: label_size {lab} must be <= patch_size {p} with an even difference")
    count = _plain(f[TRAIN].attrs.get("count", n))
    if count != n:
        raise SRCNNError(f"{path}: /train count attribute says {count} but the arrays hold {n}")
    try:  # touch the first and last chunks: a damaged tail shows up here, before training
        lr[0], lr[-1], hr[0], hr[-1], sc[-1]
    except (OSError, RuntimeError) as e:
        raise SRCNNError(f"{path}: cannot read /train ({e}); the file is truncated or corrupt") from None
    return lr, n


def _check_val(path: Path, f: h5py.File, geo: dict) -> list[str]:
    """The names of the /val groups of the open training file ``f``, each checked against ``geo``: an
    (H,W,C) uint8 "hr" and the network input of every scale (H/s,W/s,C for "lr", H,W,C else)."""
    names = []
    if VAL not in f:
        return names
    c, kind = geo["c"], geo["input"]
    for name in sorted(f[VAL]):
        g = f[VAL][name]
        if HR not in g or g[HR].ndim != 3 or g[HR].shape[2] != c or g[HR].dtype != np.uint8:
            raise SRCNNError(f"{path}: /val/{name}/hr must be (H,W,{c}) uint8")
        for s in geo["scales"]:
            h, w = g[HR].shape[:2]
            shape = (h // s, w // s, c) if kind == "lr" else (h, w, c)
            if kind == "lr" and (h % s or w % s):
                raise SRCNNError(f"{path}: /val/{name}/hr is {h}x{w}, not a multiple of the scale {s}")
            if val_input(s) not in g or g[val_input(s)].shape != shape:
                raise SRCNNError(f"{path}: /{VAL}/{name}/{val_input(s)} missing or not of shape {shape} "
                                 f"(input={kind}, hr {g['hr'].shape})")
        names.append(name)
    return names


def read_val(pf: PatchFile) -> list[tuple[str, np.ndarray, dict[int, np.ndarray]]]:
    """The /val images as stored (docs/formats.md), in file order: (name, HR image (H,W,C) uint8, modcropped
    to every scale, {scale: the network's input (h,w,C) float16 about [0,1], degraded when the file was
    written: h,w = H,W for input "upscaled", H/s,W/s (the LR image) for "lr"}). train.py validates on
    their srcnn.evaluation.validation_items."""
    out = []
    for path in dict.fromkeys(p for p, _ in pf.val_parts):
        try:
            with h5py.File(path, "r") as f:
                for name in (n for p, n in pf.val_parts if p == path):
                    g = f[VAL][name]
                    out.append((_plain(g.attrs.get("name", name)), g[HR][...],
                                {s: g[val_input(s)][...] for s in pf.scales}))
        except OSError as e:
            raise SRCNNError(f"{path}: cannot read /val ({e})") from None
    return out


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 63-bit seed for the sample order of one epoch."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def _to_batch(lr: torch.Tensor, hr: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
    nb = torch.device(device).type == "cuda"
    return (lr.to(device, non_blocking=nb).float(),
            hr.to(device, non_blocking=nb).float().div_(255.0))


class MemoryLoader:
    """All of /train on ``device``: lr float16 and hr uint8, one row per sample; batches by index.
    With ``world`` > 1 this rank yields its ``batch_size`` slice of each global batch of batch_size*world."""

    kind = "memory"

    def __init__(self, pf: PatchFile, batch_size: int, seed: int, device="cpu", rank: int = 0, world: int = 1):
        self.pf, self.batch_size, self.seed, self.device = pf, batch_size, seed, torch.device(device)
        self.rank, self.world = rank, world
        lrs, hrs = [], []
        for path, _, _ in pf.parts:
            try:
                with h5py.File(path, "r") as f:
                    lrs.append(torch.from_numpy(f[TRAIN][LR][...].astype(np.float16, copy=False)))
                    hrs.append(torch.from_numpy(f[TRAIN][HR][...]))
            except OSError as e:
                raise SRCNNError(f"{path}: cannot read /train ({e}); the file is truncated or corrupt") from None
        lr, hr = (lrs[0], hrs[0]) if len(lrs) == 1 else (torch.cat(lrs), torch.cat(hrs))
        if not torch.isfinite(lr).all():
            raise SRCNNError(f"{pf.path}: /train/lr holds NaN or inf values")
        if lr.min() < -1 or lr.max() > 2:  # bicubic overshoot and noise are fine; 0-255 data is not
            raise SRCNNError(f"{pf.path}: /train/lr spans [{float(lr.min()):g}, {float(lr.max()):g}], "
                             "expected about [0,1]")
        # kept as (N, C*P*P) rows: gathering rows of a 2-D tensor is ~100x faster on the CPU than of (N,C,P,P)
        self.lr, self.hr = lr.reshape(len(lr), -1).to(self.device), hr.reshape(len(hr), -1).to(self.device)
        self.lr_shape, self.hr_shape = tuple(lr.shape[1:]), tuple(hr.shape[1:])

    def __len__(self) -> int:
        return math.ceil(self.pf.count / (self.batch_size * self.world))

    def describe(self) -> str:
        return f"in memory on {self.device} ({self.pf.nbytes / 2**20:.1f} MiB)"

    def epoch(self, epoch: int, skip: int = 0):
        """Yield (x, y) batches of epoch ``epoch`` (0-based), leaving out the first ``skip`` samples of the
        epoch's order (over all ranks). A rank's share of the last global batch may be empty."""
        g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        perm = torch.randperm(self.pf.count, generator=g)[skip:].to(self.device)
        bs, a = self.batch_size, self.rank * self.batch_size
        for i in range(0, len(perm), bs * self.world):
            idx = perm[i + a:i + a + bs]
            yield (self.lr[idx].view(len(idx), *self.lr_shape).float(),
                   self.hr[idx].view(len(idx), *self.hr_shape).float().div_(255.0))


class _BlockStream(IterableDataset):
    """Yields (lr float16, hr uint8) CPU batches from shuffled contiguous blocks of /train.

    ``parts``: [(path, count)] read as one dataset; blocks never straddle two files. The shuffled block
    order is dealt out over the ``world`` x workers readers: reader g = rank * workers + worker takes
    blocks g, g + world*workers, ..."""

    def __init__(self, parts, block_rows: int, buffer_blocks: int, batch_size: int, seed: int,
                 rank: int = 0, world: int = 1):
        self.parts = [(str(p), n) for p, n in parts]
        self.block_rows, self.buffer_blocks, self.batch_size, self.seed = block_rows, buffer_blocks, batch_size, seed
        self.rank, self.world = rank, world
        self.blocks = [(k, a, min(a + block_rows, n)) for k, (_, n) in enumerate(self.parts)
                       for a in range(0, n, block_rows)]  # (part, first row, end row)
        self.epoch = 0

    def plan(self, epoch: int, workers: int, rank: int | None = None) -> list[np.ndarray]:
        """Block indices of each worker of ``rank`` (default: this one) for this epoch (the block order is
        shuffled per epoch)."""
        rank = self.rank if rank is None else rank
        order = np.random.default_rng([self.seed, epoch, 7]).permutation(len(self.blocks))
        readers = workers * self.world
        return [order[rank * workers + w::readers] for w in range(workers)]

    def worker_samples(self, blocks) -> int:
        return sum(self.blocks[b][2] - self.blocks[b][1] for b in blocks)

    def __iter__(self):
        info = get_worker_info()
        w, nw = (info.id, info.num_workers) if info else (0, 1)
        blocks = self.plan(self.epoch, nw)[w]
        rng = np.random.default_rng([self.seed, self.epoch, self.rank * nw + w, 11])
        bs = self.batch_size
        files = {}
        try:
            carry_lr = carry_hr = None
            for i in range(0, len(blocks), self.buffer_blocks):
                lrs, hrs = [], []
                if carry_lr is not None:
                    lrs.append(carry_lr), hrs.append(carry_hr)
                for b in blocks[i:i + self.buffer_blocks]:
                    k, a, z = self.blocks[b]
                    if k not in files:  # each worker opens its own handles
                        files[k] = h5py.File(self.parts[k][0], "r")
                    lrs.append(files[k][TRAIN][LR][a:z]), hrs.append(files[k][TRAIN][HR][a:z])
                lr, hr = np.concatenate(lrs), np.concatenate(hrs)
                perm = rng.permutation(len(lr))
                lr, hr = lr[perm], hr[perm]
                full = len(lr) // bs * bs
                for j in range(0, full, bs):
                    yield torch.from_numpy(lr[j:j + bs]), torch.from_numpy(hr[j:j + bs])
                carry_lr, carry_hr = (lr[full:], hr[full:]) if full < len(lr) else (None, None)
            if carry_lr is not None:
                yield torch.from_numpy(carry_lr), torch.from_numpy(carry_hr)
        finally:
            for f in files.values():
                f.close()


class StreamLoader:
    """Bounded-memory loader: about workers x (buffer + 2 prefetched batches) of RAM at any time.
    With ``world`` > 1 this rank reads only its share of the blocks (ranks may get a batch or so more
    or fewer than each other; the training loop lets the short ones take empty steps)."""

    kind = "stream"

    def __init__(self, pf: PatchFile, batch_size: int, seed: int, device="cpu", workers: int = 2,
                 block_bytes: int = BLOCK_BYTES, buffer_bytes: int = BUFFER_BYTES, rank: int = 0, world: int = 1):
        self.pf, self.batch_size, self.device, self.workers = pf, batch_size, torch.device(device), workers
        self.rank, self.world = rank, world
        row_bytes = pf.nbytes // pf.count
        chunks = max(1, block_bytes // (pf.chunk_rows * row_bytes))
        self.block_rows = pf.chunk_rows * chunks
        self.buffer_blocks = max(1, buffer_bytes // (self.block_rows * row_bytes))
        self.ds = _BlockStream([(p, n) for p, n, _ in pf.parts], self.block_rows, self.buffer_blocks,
                               batch_size, seed, rank, world)

    def __len__(self) -> int:
        """Batches of the busiest rank in epoch 0 (= steps per epoch when distributed)."""
        w = max(1, self.workers)
        return max(sum(math.ceil(self.ds.worker_samples(b) / self.batch_size) for b in self.ds.plan(0, w, r))
                   for r in range(self.world))

    def describe(self) -> str:
        mb = self.block_rows * self.buffer_blocks * (self.pf.nbytes / self.pf.count) / 2**20
        return (f"streamed from disk ({self.pf.nbytes / 2**20:.1f} MiB; {self.workers} worker(s)"
                + (" per rank" if self.world > 1 else "") +
                f", blocks of {self.block_rows} samples, shuffle buffer {mb:.0f} MiB per worker)")

    def epoch(self, epoch: int, skip: int = 0):
        """Yield (x, y) batches of epoch ``epoch``; batches until ``skip`` samples are passed are dropped
        (distributed: skip / world of this rank's own samples, so a mid-epoch resume of a distributed
        streamed run replays the rest of the epoch approximately)."""
        self.ds.epoch = epoch
        dl = DataLoader(self.ds, batch_size=None, num_workers=self.workers,
                        pin_memory=self.device.type == "cuda")
        seen, skip = 0, skip // self.world
        for lr, hr in dl:
            if seen < skip:
                seen += len(lr)
                continue
            yield _to_batch(lr, hr, self.device)


def make_loader(pf: PatchFile, mode: str, batch_size: int, seed: int, device="cpu", workers: int = 2,
                memory_limit: int = IN_MEMORY_MAX_BYTES, rank: int = 0, world: int = 1):
    """mode "memory", "stream", or "auto" (memory when /train is at most ``memory_limit`` bytes).
    ``rank``/``world``: this process's share in distributed training (``batch_size`` is per process)."""
    if mode == "auto":
        mode = "memory" if pf.nbytes <= memory_limit else "stream"
    if mode == "memory":
        return MemoryLoader(pf, batch_size, seed, device, rank=rank, world=world)
    if mode == "stream":
        return StreamLoader(pf, batch_size, seed, device, workers, rank=rank, world=world)
    raise ValueError(f"unknown loader mode {mode!r}")
