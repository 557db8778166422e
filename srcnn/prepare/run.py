"""``prepare()``: a folder of images -> the HDF5 file(s) of their training patches, start to end.

Check the options and the output path; start, continue (``resume``) or refuse the partial folder
(srcnn.prepare.segments); process the images in order (srcnn.prepare.pool) committing a segment every
few tens of thousands of samples; then assemble the final file(s) from the segments and rename them
into place. Results are written in image order and every image draws its noise from its own
generator, so the output is byte-identical for any number of workers, and for a run interrupted and
resumed. ``shard_size`` splits the samples into shards OUT-00000.h5, ... that are each a complete
file. The layout is "srcnn-patches" version 1 (srcnn.h5format; docs/formats.md).
"""
from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from .. import __version__
from ..errors import SRCNNError
from ..files import InputFiles, atomic_text, finish_temporary, fsync_dir, output_name, rename_all, temporaries, \
    temporary_name
from ..h5format import FORMAT, FORMAT_VERSION, HR, LR, SCALE, TRAIN, VAL
from ..images import list_images
from .config import PrepareConfig
from .patches import AUGMENT_SCALES, OutOfMemory
from .pool import Interrupt, ordered_results
from .segments import (Segment, key_difference, lock_partial, partial_path, read_json, read_segments, run_key,
                       write_json)
from .writer import WRITE_BLOCK, NoSpace, PatchWriter, fingerprint, h5_create, write_failure

DEGRADATION = ("hr = modcrop(img, s); lr = imresize(imresize(blur(hr/255, blur_sigma), 1/s) "
               "+ N(0, noise_sigma/255), size(hr)); MATLAB bicubic, float64, unclipped")
DEGRADATION_LR = ("hr = modcrop(img, s); lr = imresize(blur(hr/255, blur_sigma), 1/s) + N(0, noise_sigma/255) "
                  "(not upscaled); MATLAB bicubic, float64, unclipped")

DEGRADATION_REAL = ("hr = modcrop(img, s); lr = jpeg(uint8(downscale(blur(hr), 1/s) + noise)) drawn per image "
                    "version (srcnn.degradation): {}; the network input is lr's {} /255{}")


def degradation_text(cfg: PrepareConfig) -> str:
    """The ``degradation`` attribute: the recipe in words (the numbers are in the ``params`` too)."""
    if cfg.degradation is not None:
        return DEGRADATION_REAL.format(cfg.degradation.describe(), "Y (MATLAB rgb2ycbcr, float)" if
                                       cfg.n_channels == 1 else "RGB",
                                       "" if cfg.input == "lr" else ", MATLAB-bicubic upscaled")
    return DEGRADATION_LR if cfg.input == "lr" else DEGRADATION


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


def _check_out_path(out: Path) -> None:
    """SRCNNError for an --out that cannot be a file: under a file (not "folder does not exist"), or a
    name over the file system's limit (its own or that of the .OUT.partial folder beside it)."""
    output_name(out, "output", beside=[partial_path(out)])


def shard_path(out: Path | str, index: int) -> Path:
    """train.h5 -> train-00000.h5, train-00001.h5, ..."""
    out = Path(out)
    return out.with_name(f"{out.stem}-{index:05d}{out.suffix}")


def existing_shards(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f"{glob_escape(out.stem)}-[0-9][0-9][0-9][0-9][0-9]{glob_escape(out.suffix)}"))


def glob_escape(s: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in s)


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
    like ``command``; ``cfg.input`` is what decides the content), and whose smallest usable patch
    ``cfg`` must respect (PrepareConfig.validate). None: no such attribute or check.

    workers > 1 starts a process pool (forkserver, else spawn): a script calling this must guard its
    entry point with ``if __name__ == "__main__":``, as usual for multiprocessing."""
    out, root = Path(out), Path(root)
    _check_request(paths, root, out, cfg, workers, overwrite, shard_size, model)
    splits = split_images(len(paths), cfg.val_fraction, cfg.seed)
    tasks = [(i, str(p), Path(p).relative_to(root).as_posix() if Path(p).is_relative_to(root) else str(p), s)
             for i, (p, s) in enumerate(zip(paths, splits))]
    key = run_key(cfg, tasks, strict)
    part = partial_path(out)
    t0 = time.perf_counter()
    if part.exists() and not part.is_dir():
        raise SRCNNError(f"{part}: exists and is not a folder; remove it")
    part.mkdir(exist_ok=True)
    lock = lock_partial(part)
    try:
        segs, manifest = _partial_state(part, key, command, resume, overwrite, shard_size)
        done = len(tasks) if manifest is not None else segs[-1]["stop"] if segs else 0
        with _progress_kept(part, out):
            summary = _prepare_in(part, segs, manifest, tasks, root, out, cfg, workers, overwrite, strict,
                                  progress, command, shard_size, done, t0, model)
    finally:
        lock.close()
    shutil.rmtree(part, ignore_errors=True)
    fsync_dir(out.parent)
    return summary


def _check_request(paths: list, root: Path, out: Path, cfg: PrepareConfig, workers: int, overwrite: bool,
                   shard_size: int, model: str | None) -> None:
    """SRCNNError, before any work, for options or an output that cannot be: --workers < 1, a negative
    --shard-size, no images, an --out that cannot be a file or is an input image, a folder, exists (or
    its shards do) without ``overwrite``, or is in a missing or read-only folder."""
    cfg.validate(model)
    if workers < 1:
        raise SRCNNError(f"--workers must be >= 1, got {workers}")
    if shard_size < 0:
        raise SRCNNError(f"--shard-size must be >= 1, got {shard_size}")
    if not paths:
        raise SRCNNError(f"no images found in {root}")
    _check_out_path(out)
    inputs = InputFiles(paths, "an input image")
    for o in [out, *(existing_shards(out) if shard_size else [])]:  # even with --overwrite
        inputs.check(o, "--out")
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


def _partial_state(part: Path, key: dict, command: str, resume: bool, overwrite: bool,
                   shard_size: int) -> tuple[list[dict], dict | None]:
    """(committed segments, assemble manifest or None) to go on from in the locked partial folder: a run
    there is continued with ``resume`` (the same ``key``, checked), refused without ``resume`` or
    ``overwrite``, else dropped; everything but the committed state is removed, and a new run records
    its key and command in run.json."""
    state_file = part / "run.json"
    old = None
    if state_file.exists():
        try:
            old = json.loads(state_file.read_text())
        except ValueError:
            old = None
    # all images done and the output being assembled: assemble.json (see _assemble)
    manifest = read_json(part / "assemble.json") if old is not None else None
    segs = read_segments(part) if old is not None and manifest is None else []
    if old is not None and resume:
        diff = key_difference(old["key"], key)
        if diff:
            raise SRCNNError(f"--resume: {part} was started with different options or images ({diff}); "
                             f"rerun its command ({old.get('command', '?')}) with --resume, or drop --resume "
                             f"and add --overwrite to start again")
        if manifest is not None and manifest["shard_size"] != shard_size:
            raise SRCNNError(f"--resume: {part} is already assembling the output with --shard-size "
                             f"{manifest['shard_size']}; rerun with that --shard-size")
    elif old is not None and not overwrite and (manifest or segs or temporaries(part)):
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
        atomic_text(state_file, json.dumps({"key": key, "command": command}))
    return segs, manifest


@contextlib.contextmanager
def _progress_kept(part: Path, out: Path):
    """The failures of a run as one SRCNNError line: a full disk (checked before a write, or met by any
    writer; HDF5 reports it as RuntimeError) or an image that did not fit in memory keep the partial
    folder ``part`` for --resume; a deterministic failure (an SRCNNError: --strict, nothing usable)
    removes it, as its state is of no use."""
    try:
        yield
    except NoSpace as e:  # checked before the write: every committed segment is intact
        raise SRCNNError(f"{e}; the images done so far are kept in {part}: free space and rerun the "
                         "command with --resume") from None
    except OutOfMemory as e:  # an image within --max-pixels that still did not fit: keep the progress
        raise SRCNNError(f"{e}; the images done so far are kept in {part}: free memory (or use fewer "
                         "--workers, or skip such images with a lower --max-pixels) and rerun the command "
                         "with --resume") from None
    except SRCNNError:
        shutil.rmtree(part, ignore_errors=True)
        raise
    except (OSError, RuntimeError) as e:
        why = write_failure(e)
        if why is None:
            raise
        raise SRCNNError(f"{out}: cannot write ({why}); the images done so far are kept in {part}: free "
                         f"space and rerun the command with --resume") from None


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
        except OutOfMemory:  # not this run's fault: keep the images done before it for --resume
            if seg is not None:
                with stop.deferred():
                    try:
                        seg.commit()
                    except Exception:  # noqa: BLE001 (the memory error is what matters)
                        seg.discard()
            raise
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
        manifest = _new_manifest(part, segs, len(tasks), root, shard_size)
    sources, skipped, total = manifest["sources"], manifest["skipped"], manifest["total"]
    segments = [(part / name, count, val) for name, count, val in manifest["segments"]]
    ends = np.cumsum([c for _, c, _ in segments]).tolist()
    n_val = sum(len(v) for _, _, v in segments)
    val_width = max(3, len(str(max(sum(t[3] == "val" for t in tasks) - 1, 0))))  # of the planned /val names
    n_shards = math.ceil(total / shard_size) if shard_size else 1
    per = shard_size or total
    finals = [shard_path(out, k) for k in range(n_shards)] if shard_size else [out]
    done_files = [part / f"final-{k:05d}.h5" for k in range(n_shards)]
    fp = fingerprint(cfg, sources)
    attrs = _root_attrs(cfg, manifest, command, fp, model)
    bar = tqdm(total=total, unit="patch", desc="assemble", disable=not progress, dynamic_ncols=True,
               unit_scale=True)
    with bar:
        for k, final in enumerate(done_files):
            a, b = k * per, min((k + 1) * per, total)
            if final.exists():  # finished by the interrupted run
                bar.update(b - a)
                continue
            shard = dict(shard_index=k, shard_count=n_shards, shard_offset=a, total_count=total) if shard_size else {}
            tmp = temporary_name(final)
            with h5_create(tmp, rdcc_nbytes=64 << 20) as f:
                _write_final(f, cfg, segments, (a, b), {**attrs, **shard}, val_width if k == 0 and n_val else 0,
                             stop, bar)
            with stop.deferred():
                finish_temporary(tmp, final)
                if shard_size:  # segments wholly in shards 0..k are no longer needed
                    for (path, _, _), end in zip(segments, ends):
                        if end <= b:
                            path.unlink(missing_ok=True)
            stop.check()
    with stop.deferred():  # all or (short of a SIGKILL) none
        rename_all(zip(done_files, finals))
    if shard_size and overwrite:  # shards of an earlier, longer run would pass for part of this one
        for p in existing_shards(out):
            if p not in finals:
                p.unlink()
    return Summary(finals[0], len(tasks), len(sources) - n_val, n_val, total, skipped,
                   time.perf_counter() - t0, sum(p.stat().st_size for p in finals), fp, finals, resumed)


def _new_manifest(part: Path, segs: list[dict], n_images: int, root: Path, shard_size: int) -> dict:
    """What the final files will hold, from the committed segments, written to assemble.json: the shard
    size, the total sample count, sources, skipped files, the creation time and the segments (name,
    count, /val names). SRCNNError when there is no training patch."""
    sources = [x for s in segs for x in s["sources"]]
    skipped = [x for s in segs for x in s["skipped"]]
    total = sum(s["count"] for s in segs)
    if total == 0:
        why = f"; {len(skipped)} of {n_images} files skipped, first: {skipped[0]['reason']}" if skipped else ""
        raise SRCNNError(f"no training patches from {root}{why}")
    manifest = {"shard_size": shard_size, "total": total, "sources": sources, "skipped": skipped,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "segments": [[s["path"].name, s["count"], s["val"]] for s in segs]}
    write_json(part / "assemble.json", manifest)
    return manifest


def _root_attrs(cfg: PrepareConfig, manifest: dict, command: str, fp: str, model: str | None) -> dict:
    """The root attributes of every final file (docs/formats.md), shard attributes aside."""
    attrs = {"format": FORMAT, "format_version": FORMAT_VERSION,
             "scales": np.array(cfg.scales, np.int64), "patch_size": cfg.patch_size,
             "label_size": cfg.label, "stride": cfg.stride, "channels": cfg.channels,
             "blur_sigma": float(cfg.blur_sigma), "noise_sigma": float(cfg.noise_sigma),
             "augment": bool(cfg.augment), "val_fraction": float(cfg.val_fraction), "seed": cfg.seed,
             "created": manifest["created"], "command": command, "srcnn_version": __version__,
             "sources": json.dumps(manifest["sources"]), "skipped": json.dumps(manifest["skipped"]),
             "fingerprint": fp,
             # how the data was cut and degraded (docs/formats.md), for inspect/train
             "input": cfg.input, "degradation": degradation_text(cfg),
             "augment_scales": np.array(AUGMENT_SCALES if cfg.augment else (1.0,), np.float64)}
    if model is not None:
        attrs["model"] = model
    if cfg.degradation is not None:
        attrs["degradation_params"] = json.dumps(cfg.degradation.params())
    return attrs


def _write_final(f: h5py.File, cfg: PrepareConfig, segments: list, rows: tuple[int, int], attrs: dict,
                 val_width: int, stop: Interrupt, bar) -> None:
    """Fill the final file ``f``: the training samples [a, b) = ``rows`` of the ``segments`` (path, count,
    /val names), with ``val_width`` > 0 their /val images (names zero-padded to that width), and the
    root ``attrs``."""
    writer = PatchWriter(f.create_group(TRAIN), cfg.n_channels, cfg.input_size, cfg.label)
    if val_width:
        val_group = f.create_group(VAL)
        for path, _, val in segments:
            if val:
                with h5py.File(path, "r") as sf:
                    for name in val:
                        g = val_group.create_group(f"{int(name):0{val_width}d}")
                        g.attrs["name"] = sf[VAL][name].attrs["name"]
                        for ds_name, ds in sf[VAL][name].items():
                            g.create_dataset(ds_name, data=ds[()])
    for block in _segment_rows(segments, *rows):
        stop.check()
        writer.append(*block)
        bar.update(len(block[0]))
    writer.flush()
    f[TRAIN].attrs["count"] = writer.count
    for name, v in attrs.items():
        f.attrs[name] = v


def _segment_rows(segments: list, a: int, b: int):
    """(lr, hr, scale) blocks of at most WRITE_BLOCK samples covering the global rows [a, b) of the
    segments (path, count, /val names), in order."""
    s0 = 0
    for path, count, _ in segments:
        lo, hi, start = max(a, s0), min(b, s0 + count), s0
        s0 += count
        if lo >= hi:
            continue
        if not path.exists():  # only if final files were moved out by hand
            raise SRCNNError(f"{path}: segment missing, the interrupted run cannot be finished; "
                             f"start again with --overwrite")
        with h5py.File(path, "r") as f:
            g = f[TRAIN]
            for i in range(lo - start, hi - start, WRITE_BLOCK):
                j = min(i + WRITE_BLOCK, hi - start)
                yield g[LR][i:j], g[HR][i:j], g[SCALE][i:j]


def find_images(folder: Path | str) -> list[Path]:
    """All images under ``folder`` (recursive, sorted); SRCNNError when the folder is missing or has none."""
    paths = list_images(folder, recursive=True)
    if not paths:
        raise SRCNNError(f"no images found in {folder} (looked for .png .jpg .jpeg .bmp .tif .tiff .webp, recursively)")
    return paths
