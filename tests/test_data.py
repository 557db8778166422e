"""srcnn.data: HDF5 validation, the in-memory and streaming loaders, /val loading."""
import pickle

import h5py
import numpy as np
import pytest
import torch

from h5fixtures import write_patches
from srcnn.data import MemoryLoader, StreamLoader, _BlockStream, make_loader, open_patches, read_val
from srcnn.evaluation import validation_items
from srcnn.errors import SRCNNError


def tagged(path, n=50, start=0, **kw):
    """A valid file whose lr[i, 0, 0, 0] = (start + i) / 1024 identifies each sample."""
    write_patches(path, n=n, **kw)
    with h5py.File(path, "r+") as f:
        lr = f["train/lr"][...]
        lr[:, 0, 0, 0] = (start + np.arange(n)) / 1024
        f["train/lr"][...] = lr
    return path


def ids(x: torch.Tensor) -> list[int]:
    return torch.round(x[:, 0, 0, 0] * 1024).long().tolist()


def test_open_valid(tmp_path):
    p = write_patches(tmp_path / "t.h5", n=40, channels=3, patch=13, label=9, scales=(2, 3), chunk=8)
    pf = open_patches(p)
    assert (pf.count, pf.channels, pf.mode, pf.patch_size, pf.label_size) == (40, 3, "rgb", 13, 9)
    assert pf.scales == [2, 3] and pf.scale == [2, 3] and pf.chunk_rows == 8
    assert pf.val_names == ["000", "001"] and len(pf.fingerprint) == 64
    prov = pf.provenance()
    assert prov["count"] == 40 and prov["attrs"]["patch_size"] == 13 and prov["attrs"]["n_sources"] == 3
    assert "sources" not in prov["attrs"]


def _set_attr(key, value):
    def mutate(f):
        f.attrs[key] = value
    return mutate


def _replace(name, data):
    def mutate(f):
        del f[name]
        f.create_dataset(name, data=data)
    return mutate


BAD = [
    ("format", _set_attr("format", "something-else"), "not a srcnn training file"),
    ("version", _set_attr("format_version", 2), "format version 2"),
    ("channels", _set_attr("channels", "cmyk"), "channels attribute"),
    ("patch_attr", _set_attr("patch_size", 15), "/train/lr has shape"),
    ("label_attr", _set_attr("label_size", 9), "/train/hr has shape"),
    ("lr_shape", _replace("train/lr", np.zeros((20, 1, 11, 9), np.float16)), "/train/lr has shape"),
    ("hr_count", _replace("train/hr", np.zeros((19, 1, 11, 11), np.uint8)), "/train/hr has shape"),
    ("hr_dtype", _replace("train/hr", np.zeros((20, 1, 11, 11), np.float32)), "must be float16"),
    ("no_scale", lambda f: f.__delitem__("train/scale"), "missing dataset /train/scale"),
    ("count", lambda f: f["train"].attrs.__setitem__("count", 7), "count attribute says 7"),
    ("missing_attr", lambda f: f.attrs.__delitem__("fingerprint"), "missing root attribute"),
    ("val_lr", lambda f: f.__delitem__("val/000/lr_x3"), "/val/000/lr_x3 missing"),
    ("sources", _set_attr("sources", "not json"), "not JSON"),
]


def test_missing_truncated_garbage(tmp_path):
    with pytest.raises(SRCNNError, match=r"no such training file; make it with: python prepare_data.py "
                                         r"--scale 3 --out .*nope.h5"):
        open_patches(tmp_path / "nope.h5")
    p = write_patches(tmp_path / "t.h5", n=100, patch=11)
    data = p.read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(SRCNNError, match="truncated"):
        open_patches(tmp_path / "cut.h5")
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF junk" * 100)
    with pytest.raises(SRCNNError, match="cannot open as HDF5"):
        open_patches(tmp_path / "junk.h5")


def test_memory_loader_epoch(tmp_path):
    pf = open_patches(tagged(tmp_path / "t.h5", n=50, patch=9, label=5))
    ld = MemoryLoader(pf, batch_size=16, seed=1)
    batches = list(ld.epoch(0))
    assert len(batches) == len(ld) == 4 and [len(x) for x, _ in batches] == [16, 16, 16, 2]
    x, y = batches[0]
    assert x.dtype == y.dtype == torch.float32 and x.shape[1:] == (1, 9, 9) and y.shape[1:] == (1, 5, 5)
    assert 0 <= float(y.min()) and float(y.max()) <= 1
    order = sum((ids(x) for x, _ in batches), [])
    assert sorted(order) == list(range(50)) and order != list(range(50))
    # a pure function of (seed, epoch): replayable, different per epoch and per seed
    assert order == sum((ids(x) for x, _ in MemoryLoader(pf, 16, 1).epoch(0)), [])
    assert order != sum((ids(x) for x, _ in ld.epoch(1)), [])
    assert order != sum((ids(x) for x, _ in MemoryLoader(pf, 16, 2).epoch(0)), [])
    assert sum((ids(x) for x, _ in ld.epoch(0, skip=32)), []) == order[32:]
    # labels travel with their inputs
    with h5py.File(pf.path) as f:
        hr = f["train/hr"][...]
    for x, y in batches:
        assert torch.equal(y, torch.from_numpy(hr[ids(x)]).float() / 255)


def test_memory_loader_checks_values(tmp_path):
    p = write_patches(tmp_path / "t.h5", n=20, patch=9)
    with h5py.File(p, "r+") as f:
        lr = f["train/lr"][...]
        lr[3, 0, 1, 1] = np.nan
        f["train/lr"][...] = lr
    with pytest.raises(SRCNNError, match="NaN"):
        MemoryLoader(open_patches(p), 8, 0)
    with h5py.File(p, "r+") as f:
        lr = np.nan_to_num(lr).clip(0, 1)
        f["train/lr"][...] = lr * 1.1 - 0.05  # bicubic overshoot: accepted
    MemoryLoader(open_patches(p), 8, 0)
    with h5py.File(p, "r+") as f:
        f["train/lr"][...] = lr * 255  # 0-255 data: refused
    with pytest.raises(SRCNNError, match=r"spans \[.*\], expected about \[0,1\]"):
        MemoryLoader(open_patches(p), 8, 0)


@pytest.mark.parametrize("workers", [0, 2])
def test_stream_loader(tmp_path, workers):
    pf = open_patches(tagged(tmp_path / "t.h5", n=75, patch=9, chunk=8))
    row = pf.nbytes // pf.count
    ld = StreamLoader(pf, batch_size=10, seed=3, workers=workers, block_bytes=1, buffer_bytes=2 * 8 * row)
    assert ld.block_rows == 8 and ld.buffer_blocks == 2  # whole chunks; buffer bounded by bytes
    batches = list(ld.epoch(0))
    assert len(batches) == len(ld)
    assert all(len(x) <= 10 for x, _ in batches)
    order = sum((ids(x) for x, _ in batches), [])
    assert sorted(order) == list(range(75)) and order != list(range(75))
    assert order == sum((ids(x) for x, _ in ld.epoch(0)), [])       # replayable
    assert order != sum((ids(x) for x, _ in ld.epoch(1)), [])       # reshuffled per epoch
    k = sum(len(x) for x, _ in batches[:3])
    assert sum((ids(x) for x, _ in ld.epoch(0, skip=k)), []) == order[k:]
    with h5py.File(pf.path) as f:
        hr = f["train/hr"][...]
    for x, y in batches:
        assert x.dtype == torch.float32 and torch.equal(y, torch.from_numpy(hr[ids(x)]).float() / 255)


def test_stream_dataset_holds_no_open_handle(tmp_path):
    """Workers get a pickled copy and open the file themselves."""
    pf = open_patches(write_patches(tmp_path / "t.h5", n=20, patch=9))
    ds = StreamLoader(pf, 4, 0, workers=2).ds
    next(iter(ds))
    clone = pickle.loads(pickle.dumps(ds))
    assert isinstance(clone, _BlockStream) and sum(len(x) for x, _ in clone) == 20


def test_make_loader_auto(tmp_path):
    pf = open_patches(write_patches(tmp_path / "t.h5", n=20, patch=9))
    assert isinstance(make_loader(pf, "auto", 8, 0), MemoryLoader)
    assert isinstance(make_loader(pf, "auto", 8, 0, memory_limit=pf.nbytes - 1), StreamLoader)
    assert isinstance(make_loader(pf, "stream", 8, 0), StreamLoader)
    assert isinstance(make_loader(pf, "memory", 8, 0, memory_limit=0), MemoryLoader)
    assert "in memory" in make_loader(pf, "memory", 8, 0).describe()
    assert "streamed" in make_loader(pf, "stream", 8, 0).describe()


@pytest.mark.parametrize("channels", [1, 3])
def test_read_val(tmp_path, channels):
    p = write_patches(tmp_path / "t.h5", n=20, patch=9, channels=channels, scales=(2, 4), val_images=3,
                      val_size=20)
    images = read_val(open_patches(p))
    assert [(n, hr.shape, sorted(x)) for n, hr, x in images][0] == ("val0.png", (20, 20, channels), [2, 4])
    items = validation_items(images)
    assert len(items) == 6 and {it["scale"] for it in items} == {2, 4}
    it = items[0]
    assert it["input"].shape == (1, channels, 20, 20) and it["input"].dtype == torch.float32
    assert it["gt_y"].shape == (20, 20) and it["gt_y"].dtype == np.float64 and it["gt_y"].max() <= 1
    assert it["name"] == "val0.png"
    assert read_val(open_patches(write_patches(tmp_path / "n.h5", n=20, patch=9, val_images=0))) == []


def test_memory_loader_ranks(tmp_path):
    """Distributed: rank r takes [r*B, (r+1)*B) of every global batch of B*world; the union over the ranks
    is the single-process order with batch B*world, the slices are disjoint, skip counts global samples."""
    pf = open_patches(tagged(tmp_path / "t.h5", n=50, patch=9, label=5))
    whole = [ids(x) for x, _ in MemoryLoader(pf, 24, seed=1).epoch(2)]
    for skip in (0, 24):
        ranks = [[ids(x) for x, _ in MemoryLoader(pf, 8, 1, rank=r, world=3).epoch(2, skip=skip)] for r in range(3)]
        assert all(len(b) == 3 - skip // 24 for b in ranks) and len(MemoryLoader(pf, 8, 1, rank=1, world=3)) == 3
        assert [sum((ranks[r][i] for r in range(3)), []) for i in range(len(ranks[0]))] == whole[skip // 24:]
    assert [[len(b) for b in r] for r in ranks] == [[8, 2], [8, 0], [8, 0]]  # 26 left: 24, then 2 + 0 + 0
    x, y = list(MemoryLoader(pf, 8, 1, rank=2, world=3).epoch(0))[-1]
    assert x.shape == (0, 1, 9, 9) and y.shape == (0, 1, 5, 5)


def test_stream_plan_ranks(tmp_path):
    """The shuffled blocks are dealt out over (rank, worker): disjoint, together all of them; rank 0 of 1
    keeps the single-process plan."""
    pf = open_patches(tagged(tmp_path / "t.h5", n=75, patch=9, chunk=8))
    one = StreamLoader(pf, 10, 3, workers=2, block_bytes=1).ds
    plans = [StreamLoader(pf, 10, 3, workers=2, block_bytes=1, rank=r, world=2).ds.plan(4, 2) for r in range(2)]
    blocks = np.concatenate([b for p in plans for b in p])
    assert sorted(blocks.tolist()) == list(range(10))
    assert [b.tolist() for b in one.plan(4, 2)] == [b.tolist() for b in _BlockStream(
        [(pf.path, 75)], 8, one.buffer_blocks, 10, 3).plan(4, 2)]
    got = [sum((ids(x) for x, _ in StreamLoader(pf, 10, 3, workers=0, block_bytes=1, rank=r, world=2).epoch(1)), [])
           for r in range(2)]
    assert sorted(got[0] + got[1]) == list(range(75)) and not set(got[0]) & set(got[1])


def test_several_files(tmp_path):
    """Shards (a list or a glob) read as one dataset: arrays concatenated in order, /val from each file."""
    a = tagged(tmp_path / "s-00000.h5", n=30, patch=9, chunk=8, val_images=2,
               attrs={"shard_index": 0, "shard_count": 2})
    b = tagged(tmp_path / "s-00001.h5", n=21, start=30, patch=9, chunk=8, val_images=0, seed=1,
               attrs={"shard_index": 1, "shard_count": 2})
    pf = open_patches(str(tmp_path / "s-*.h5"))
    assert pf.count == 51 and [p for p, _, _ in pf.parts] == [a, b] and pf.notes == []
    assert pf.name == f"{a} (+1 more file)" and pf.attrs["n_files"] == 2 and "shard_index" not in pf.attrs
    assert open_patches([str(a), str(b)]).fingerprint == pf.fingerprint
    assert open_patches([str(b), str(a)]).fingerprint != pf.fingerprint != open_patches(a).fingerprint
    prov = pf.provenance()
    assert prov["path"] == [str(a.resolve()), str(b.resolve())] and len(prov["files"]) == 2
    assert open_patches(a).provenance()["path"] == str(a.resolve())  # one file: as before
    assert len(validation_items(read_val(pf))) == 2
    order = sum((ids(x) for x, _ in MemoryLoader(pf, 16, 0).epoch(0)), [])
    assert sorted(order) == list(range(51))
    for workers in (0, 2):
        ld = StreamLoader(pf, 10, 0, workers=workers, block_bytes=1)
        assert sorted(sum((ids(x) for x, _ in ld.epoch(0)), [])) == list(range(51))
    with h5py.File(a) as f:
        hr = np.concatenate([f["train/hr"][...], h5py.File(b)["train/hr"][...]])
    for x, y in MemoryLoader(pf, 16, 0).epoch(1):
        assert torch.equal(y, torch.from_numpy(hr[ids(x)]).float() / 255)
    assert open_patches([str(a), str(tmp_path / "s-00001.h5")]).notes == []


def test_several_files_errors(tmp_path):
    a = write_patches(tmp_path / "a.h5", n=16, patch=9)
    write_patches(tmp_path / "b.h5", n=16, patch=11)
    write_patches(tmp_path / "c.h5", n=16, patch=9, attrs={"shard_index": 2, "shard_count": 3})
    with pytest.raises(SRCNNError, match=r"b.h5: patch_size is 11, but .*a.h5 has 9; files read together"):
        open_patches([str(a), str(tmp_path / "b.h5")])
    with pytest.raises(SRCNNError, match=r"nothing-\*.h5: no file matches this pattern"):
        open_patches(str(tmp_path / "nothing-*.h5"))
    with pytest.raises(SRCNNError, match="given twice"):
        open_patches([str(a), str(tmp_path / "." / "a.h5")])
    with pytest.raises(SRCNNError, match="missing.h5: no such training file"):
        open_patches([str(a), str(tmp_path / "missing.h5")])
    write_patches(tmp_path / "d.h5", n=16, patch=9, attrs={"shard_index": 0, "shard_count": 3})
    assert "shards [0, 2] of a set of 3" in open_patches([str(tmp_path / "d.h5"), str(tmp_path / "c.h5")]).notes[0]


# ----------------------------------------------------------------------------- input kind "lr" (LR-input models)

def test_lr_input_file(tmp_path):
    """A file for LR-input models: x is the small (B,C,P/s,P/s) patch, y the (B,C,P,P) HR patch, /val the LR image."""
    p = write_patches(tmp_path / "t.h5", n=40, channels=3, scales=(2,), patch=12, chunk=8, val_size=20,
                      input="lr", model="espcn")
    pf = open_patches(p)
    assert (pf.input, pf.input_size, pf.patch_size, pf.label_size, pf.scale) == ("lr", 6, 12, 12, 2)
    assert pf.attrs["input"] == "lr" and pf.attrs["model"] == "espcn" and pf.provenance()["attrs"]["input"] == "lr"
    for mode in ("memory", "stream"):
        x, y = next(iter(make_loader(pf, mode, 16, 0, workers=0).epoch(0)))
        assert x.shape == (16, 3, 6, 6) and y.shape == (16, 3, 12, 12), mode
    x, y = list(MemoryLoader(pf, 8, 1, rank=2, world=3).epoch(0))[-1]  # an empty share keeps the shapes
    assert x.shape == (0, 3, 6, 6) and y.shape == (0, 3, 12, 12)
    items = validation_items(read_val(pf))
    assert len(items) == 2 and items[0]["input"].shape == (1, 3, 10, 10) and items[0]["gt_y"].shape == (20, 20)
    old = open_patches(write_patches(tmp_path / "old.h5", n=20, patch=9))  # no input attribute: upscaled
    assert (old.input, old.input_size, old.attrs["input"]) == ("upscaled", 9, "upscaled") and "model" not in old.attrs
    up = open_patches(write_patches(tmp_path / "up.h5", n=20, patch=9, input="upscaled"))
    assert (up.input, up.input_size, up.attrs["model"]) == ("upscaled", 9, "srcnn")


BAD_LR = [
    ("upscaled_lr", _replace("train/lr", np.zeros((20, 1, 18, 18), np.float16)), r"/train/lr has shape \(20, 1, 18, 18\), "
                                                                                 r"expected \(20, 1, 6, 6\) \(input=lr"),
    ("hr_label", _replace("train/hr", np.zeros((20, 1, 6, 6), np.uint8)), r"/train/hr has shape"),
    ("val_size", _replace("val/000/lr_x3", np.zeros((24, 24, 1), np.float16)), r"/val/000/lr_x3 missing or not of "
                                                                              r"shape \(8, 8, 1\)"),
    ("val_modcrop", _replace("val/000/hr", np.zeros((25, 24, 1), np.uint8)), "not a multiple of the scale 3"),
    ("two_scales", _set_attr("scales", np.array([2, 3])), "input 'lr' needs one scale"),
    ("patch_not_multiple", _set_attr("patch_size", 17), "a multiple of it"),
    ("label", _set_attr("label_size", 12), "label_size == patch_size"),
    ("kind", _set_attr("input", "tiny"), "input attribute is 'tiny'"),
]


# (name, mutate, message, write_patches options): upscaled-input files, then LR-input ones
BAD_CASES = [(*b, dict(patch=11)) for b in BAD] + [(*b, dict(patch=18, input="lr")) for b in BAD_LR]


@pytest.mark.parametrize("name,mutate,msg,kw", BAD_CASES, ids=[b[0] for b in BAD_CASES])
def test_bad_files(tmp_path, name, mutate, msg, kw):
    p = write_patches(tmp_path / "t.h5", n=20, **kw)
    open_patches(p)  # valid before
    with h5py.File(p, "r+") as f:
        mutate(f)
    with pytest.raises(SRCNNError, match=msg) as e:
        open_patches(p)
    assert str(p) in str(e.value)


def test_mixed_input_kinds_are_refused(tmp_path):
    a = write_patches(tmp_path / "a.h5", n=16, patch=18, input="lr")
    b = write_patches(tmp_path / "b.h5", n=16, patch=18)  # an old file: upscaled
    c = write_patches(tmp_path / "c.h5", n=16, patch=12, scales=(2,), val_size=20, input="lr")
    with pytest.raises(SRCNNError, match=r"b.h5: prepared for input 'upscaled', but .*a.h5 for 'lr'"):
        open_patches([str(a), str(b)])
    with pytest.raises(SRCNNError, match=r"c.h5: scales is \[2\], but .*a.h5 has \[3\]"):
        open_patches([str(a), str(c)])
    d = write_patches(tmp_path / "d.h5", n=16, patch=18, input="lr", seed=1)
    pf = open_patches([str(a), str(d)])
    assert (pf.input, pf.input_size, pf.count) == ("lr", 6, 32)


@pytest.mark.parametrize("kind", ["fifo", "folder", "long_name"])
def test_data_must_be_a_regular_file(tmp_path, kind):
    """issue 13 items 7 and 11: --data a FIFO (h5py blocked in open), a folder ('no such file' before) or
    a name over 255 bytes: one precise line."""
    from specialfiles import fifo, finishes
    (tmp_path / "d.h5").mkdir()
    path = {"fifo": lambda: fifo(tmp_path / "pipe.h5"), "folder": lambda: tmp_path / "d.h5",
            "long_name": lambda: tmp_path / ("n" * 300 + ".h5")}[kind]()
    msg = {"fifo": "is a FIFO (named pipe), not a regular file", "folder": "is a folder, not a training file (.h5)",
           "long_name": "cannot read (File name too long)"}[kind]
    done, result = finishes(lambda: open_patches(str(path)))
    assert done and isinstance(result, SRCNNError), result
    assert str(result) == f"{path}: {msg}"
