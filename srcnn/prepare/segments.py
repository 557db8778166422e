"""Progress that survives an interruption: the partial folder ``.OUT.partial/`` beside the output.

Results are committed in segments (``Segment``: the samples of consecutive images, a few tens of
thousands at most, in ``NNNNNN.h5``, each made permanent by an atomic rename of its temporary,
srcnn.files.finish_temporary); the chain of committed
segments (``read_segments``) is the progress record. ``run.json`` holds the ``run_key`` of the run
(its options and images, which a resumed run must share: ``key_difference``) and ``assemble.json``
what the final files will hold once every image is done (see srcnn.prepare.run). ``lock_partial``
keeps two runs out of one folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import h5py

from ..errors import SRCNNError
from ..files import finish_temporary, replacing, temporary_name
from ..h5format import FORMAT_VERSION, TRAIN, VAL
from ..images import MAX_PIXELS
from ..locks import lock_folder
from .config import PrepareConfig
from .patches import ImageResult
from .writer import PatchWriter, abandon_h5

SEGMENT_SAMPLES = 32768  # a progress record is committed at least every this many samples ...
SEGMENT_SECONDS = 60.0   # ... or this many seconds (and on Ctrl-C, SIGTERM or a crash)


def partial_path(out: Path | str) -> Path:
    """The folder holding an unfinished run's state, beside --out: train.h5 -> .train.h5.partial/."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, obj) -> None:
    """Atomically (srcnn.files.replacing: temporary file, fsync, rename, fsync of the folder). Not
    srcnn.files.atomic_text: a failed write must stay an OSError, which prepare() reports keeping the
    progress for --resume (an SRCNNError is a deterministic failure there, and discards it)."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(obj))


class Segment:
    """The results of consecutive images [start, stop), written to a temporary name in the partial
    folder and committed by an atomic rename to ``NNNNNN.h5`` (fsynced): a committed segment is
    always complete, so the chain of committed segments is the progress record. What ``add`` has
    fully recorded is what ``commit`` keeps, whatever exception interrupted it."""

    def __init__(self, folder: Path, number: int, start: int, cfg: PrepareConfig):
        self.path = folder / f"{number:06d}.h5"
        self.tmp = temporary_name(self.path)
        self.f = h5py.File(self.tmp, "w")
        self.writer = PatchWriter(self.f.create_group(TRAIN), cfg.n_channels, cfg.input_size, cfg.label)
        self.val = self.f.create_group(VAL)
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
        finish_temporary(self.tmp, self.path)
        return {"path": self.path, "start": self.start, "stop": self.stop, "count": self.rows,
                "sources": self.sources, "skipped": self.skipped, "val": self.val_names}

    def discard(self) -> None:
        abandon_h5(self.f)
        self.tmp.unlink(missing_ok=True)


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
    key = {"format_version": FORMAT_VERSION, "params": cfg.params(), "strict": bool(strict),
           "n_images": len(tasks), "images": h.hexdigest()}
    if cfg.max_pixels != MAX_PIXELS:  # decides which images are skipped; the default is left out (older keys)
        key["max_pixels"] = int(cfg.max_pixels)
    return key


def key_difference(old: dict, new: dict) -> str:
    diffs = []
    for k in sorted(set(old.get("params", {})) | set(new["params"])):
        a, b = old.get("params", {}).get(k), new["params"].get(k)
        if k == "input":  # listed only when "lr"
            a, b = a or "upscaled", b or "upscaled"
        if a != b:
            diffs.append(f"{k} {a} -> {b}")
    if old.get("max_pixels", MAX_PIXELS) != new.get("max_pixels", MAX_PIXELS):
        diffs.append(f"max_pixels {old.get('max_pixels', MAX_PIXELS)} -> {new.get('max_pixels', MAX_PIXELS)}")
    if old.get("strict") != new["strict"]:
        diffs.append(f"strict {old.get('strict')} -> {new['strict']}")
    if old.get("n_images") != new["n_images"]:
        diffs.append(f"{old.get('n_images')} images -> {new['n_images']}")
    elif old.get("images") != new["images"]:
        diffs.append("an image was added, removed or modified")
    if old.get("format_version") != new["format_version"]:
        diffs.append(f"format_version {old.get('format_version')} -> {new['format_version']}")
    return ", ".join(diffs)


def lock_partial(folder: Path):
    """An exclusive lock on the partial folder (released by ``.close()``; srcnn.locks)."""
    return lock_folder(folder, "prepare_data.py run")


