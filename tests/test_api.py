"""srcnn's Python API (srcnn/__init__.py, srcnn/api.py): lazy imports, load/upscale/list_models/
create_model, arrays and tensors through the same path as super_resolve.py."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import srcnn
from srcnn import api, inference, weightfiles
from srcnn.errors import SRCNNError
from srhelpers import save_model, save_tiny_checkpoint, write_official_mat

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """Tiny bundled weights (srcnn x2/x3, fsrcnn-s x3) in a temporary srcnn/weights, and no cache."""
    d = tmp_path / "weights"
    save_tiny_checkpoint(d / "srcnn_x3.pt", scale=3, seed=1)
    save_tiny_checkpoint(d / "srcnn_x2.pt", scale=2, seed=2)
    save_model(d / "fsrcnn-s_x3.pt", "fsrcnn-s", 3, scale=3)
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", d)
    monkeypatch.setattr(api, "_CACHE", {})
    return d


def test_import_is_lazy_and_fast():
    """`import srcnn` imports neither torch nor numpy (~0.01 s); `srcnn.imresize` is the function, also
    when its module srcnn.resize was imported first by something else."""
    code = ("import sys, time; t = time.perf_counter(); import srcnn; dt = time.perf_counter() - t; "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules); "
            "import numpy as np, srcnn.resize as module; assert module.imresize is srcnn.imresize; "
            "assert srcnn.imresize(np.zeros((4, 4), np.uint8), 2).shape == (8, 8); print(dt)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) < 0.5   # torch alone takes seconds


def test_public_names():
    from srcnn.color import rgb2ycbcr
    from srcnn.evaluation import evaluate_set
    from srcnn.metrics import psnr, ssim
    from srcnn.resize import imresize
    assert (srcnn.rgb2ycbcr, srcnn.psnr, srcnn.ssim, srcnn.evaluate_set) == (rgb2ycbcr, psnr, ssim, evaluate_set)
    img = np.arange(36, dtype=np.uint8).reshape(6, 6)
    assert np.array_equal(srcnn.imresize(img, 2), imresize(img, 2))   # also after srcnn.resize (its module) loads
    assert srcnn.SRCNNError is SRCNNError and srcnn.load is api.load and "upscale" in dir(srcnn)
    assert {"load", "upscale", "list_models", "create_model", "imresize", "rgb2ycbcr", "psnr", "ssim",
            "evaluate_set"} <= set(srcnn.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        srcnn.nonesuch  # noqa: B018


def test_load_by_name_calls_the_same_path_as_super_resolve(bundled, make_image):
    img = make_image(9, 11, 3)
    sr = srcnn.load("srcnn")   # default scale 3
    model = weightfiles.load_weights("srcnn", 3).model
    assert sr.scale == 3 and sr.channels == 1 and sr.input_kind == "upscaled" and "srcnn_x3.pt" in repr(sr)
    assert np.array_equal(sr(img), inference.super_resolve(img, model, 3))
    f = srcnn.load("fsrcnn-s", scale=3)
    assert f.input_kind == "lr" and f.name == "fsrcnn-s"
    assert np.array_equal(f(img, tile=8), f(img, tile=0))
    assert srcnn.load("srcnn", scale=2)(img).shape == (18, 22, 3)


@pytest.mark.parametrize("layout", ["gray", "gray1", "rgb", "rgba"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_layouts_and_dtypes_round_trip(bundled, make_image, layout, dtype):
    base = {"gray": make_image(8, 10, 0), "gray1": make_image(8, 10, 0)[:, :, None], "rgb": make_image(8, 10, 3),
            "rgba": make_image(8, 10, 4)}[layout]
    img = base.astype(dtype) * (257 if dtype == np.uint16 else 1)
    out = srcnn.load("fsrcnn-s")(img)
    assert out.dtype == dtype and out.shape == (24, 30) + img.shape[2:]


def test_tensors_in_and_out(bundled, make_image):
    sr = srcnn.load("srcnn")
    img = make_image(8, 10, 3)
    x = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    batch = torch.stack([x, x.flip(2)])
    y = sr(batch)
    assert y.shape == (2, 3, 24, 30) and y.dtype == torch.float32 and 0 <= y.min() and y.max() <= 1
    u8 = sr(img).astype(np.float64) / 255            # the uint8 path quantises the same values
    assert np.abs(y[0].permute(1, 2, 0).numpy() - u8).max() <= 0.5 / 255 + 1e-6
    assert torch.equal(sr(x), y[0]) and torch.allclose(y[1], sr(x.flip(2)))
    grey = sr(batch[:, :1])
    assert grey.shape == (2, 1, 24, 30)
    f = sr(img.astype(np.float32) / 255)               # float numpy: the same as the tensor path
    assert f.dtype == np.float32 and np.array_equal(f, y[0].permute(1, 2, 0).numpy())
    with pytest.raises(SRCNNError, match="float tensor"):
        sr(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(SRCNNError, match=r"\(B,C,H,W\) tensor with C = 1, 3 or 4, got \(1, 2, 8, 8\)"):
        sr(torch.zeros(1, 2, 8, 8))


def test_load_paths(tmp_path, make_image, capsys):
    from srcnn.cli.train import main as train_cli
    img = make_image(7, 9, 3)
    ck = save_tiny_checkpoint(tmp_path / "checkpoint.4", scale=2)
    sr = srcnn.load(ck)
    assert sr.scale == 2 and np.array_equal(sr(img), srcnn.load(str(ck), scale=2)(img))
    assert train_cli(["export", str(ck), str(tmp_path / "w.pt")]) == 0
    assert np.array_equal(srcnn.load(tmp_path / "w.pt")(img), sr(img))
    write_official_mat(tmp_path / "x3.mat")
    m = srcnn.load(tmp_path / "x3.mat")
    assert m.scale == 3 and "(authors)" in m.name
    assert train_cli(["export", str(ck), str(tmp_path / "m.onnx")]) == 0
    o = srcnn.load(tmp_path / "m.onnx")
    assert o.name.endswith("(onnxruntime)") and np.abs(o(img).astype(int) - sr(img).astype(int)).max() <= 1
    capsys.readouterr()


def test_load_errors(tmp_path, bundled):
    with pytest.raises(SRCNNError, match="nonesuch: no such file, and not a model name"):
        srcnn.load("nonesuch")
    with pytest.raises(SRCNNError, match="no bundled fsrcnn-s weights for x2"):
        srcnn.load("fsrcnn-s", scale=2)
    for call in (lambda: srcnn.load("vdsr"), lambda: srcnn.create_model("vdsr", pretrained=True)):
        with pytest.raises(SRCNNError, match=r"^no bundled vdsr weights \(none in .*\): train them with "
                                             r"prepare_data\.py --model vdsr .*pass --checkpoint FILE"):
            call()
    ck = save_tiny_checkpoint(tmp_path / "c.3", scale=3)
    with pytest.raises(SRCNNError, match="trained for scale 3, but scale 4"):
        srcnn.load(ck, scale=4)
    for bad in (1, 2.5, True):
        with pytest.raises(SRCNNError, match="must be an integer >= 2"):
            srcnn.load(ck, scale=bad)
    with pytest.raises(SRCNNError, match="expected a model name or a path"):
        srcnn.load(3)
    with pytest.raises(SRCNNError, match="unsupported pixel type int32"):
        srcnn.load(ck)(np.zeros((4, 4), np.int32))


def test_precision_keyword(bundled, tmp_path, make_image, capsys):
    """load(precision=...): fp32 by default (the same bits as super_resolve), bf16 computed in bfloat16
    and close, a per-call override, an .onnx model in float32 (bf16 refused), a bad value refused."""
    from srcnn.cli.train import main as train_cli
    img = make_image(9, 11, 3)
    sr = srcnn.load("srcnn")
    model = weightfiles.load_weights("srcnn", 3).model
    assert sr.precision == "fp32" and sr.path.name == "fp32" and "fp32" in repr(sr)
    ref = inference.super_resolve(img, model, 3)
    assert np.array_equal(sr(img), ref)
    b = srcnn.load("srcnn", precision="bf16")
    assert b.path.name == "bf16-cl" and b.path.channels_last and "bf16-cl" in repr(b)
    seen = []
    b.model.conv2.register_forward_hook(lambda mod, i, o: seen.append(o.dtype))
    out = b(img)
    assert seen == [torch.bfloat16] and np.abs(out.astype(int) - ref).max() <= 3
    assert np.array_equal(b(img, precision="fp32"), ref) and seen[-1] == torch.float32   # per-call override
    x = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    t = b(x)
    assert t.dtype == torch.float32 and np.abs(t.permute(1, 2, 0).numpy() - ref / 255).max() <= 3.5 / 255
    assert np.abs(srcnn.load("fsrcnn-s", precision="bf16")(img).astype(int)
                  - srcnn.load("fsrcnn-s")(img)).max() <= 3
    with pytest.raises(SRCNNError, match="precision 'fp16': must be one of auto, fp32, bf16"):
        srcnn.load("srcnn", precision="fp16")
    ck = save_tiny_checkpoint(tmp_path / "checkpoint.4", scale=3)
    assert train_cli(["export", str(ck), str(tmp_path / "m.onnx")]) == 0
    with pytest.raises(SRCNNError, match="ONNX model runs in onnxruntime, in float32 only"):
        srcnn.load(tmp_path / "m.onnx", precision="bf16")
    o = srcnn.load(tmp_path / "m.onnx", precision="auto")
    assert o.path.autocast is None and o(img).shape == (27, 33, 3)
    capsys.readouterr()


def test_upscale_keeps_the_model(bundled, make_image):
    img = make_image(6, 7, 3)
    out = srcnn.upscale(img, scale=3)
    assert np.array_equal(out, srcnn.load("srcnn", scale=3)(img)) and len(api._CACHE) == 1
    srcnn.upscale(img, scale=3)
    assert len(api._CACHE) == 1
    assert srcnn.upscale(img, scale=3, model="fsrcnn-s").shape == (18, 21, 3) and len(api._CACHE) == 2


def test_list_models_of_the_shipped_weights():
    rows = srcnn.list_models()
    have = {(r["name"], r["scale"]) for r in rows}
    assert {(m, s) for m in ("srcnn", "fsrcnn", "espcn") for s in (2, 3, 4)} <= have
    assert set(api.SET5_PSNR) == have   # a figure for every bundled file, none for unshipped ones (vdsr)
    fs3 = next(r for r in rows if (r["name"], r["scale"]) == ("fsrcnn", 3))
    assert fs3["input"] == "lr" and fs3["channels"] == "y" and fs3["parameters"] == 12809
    assert fs3["set5_psnr"] == api.SET5_PSNR[("fsrcnn", 3)] and fs3["file"].endswith("fsrcnn_x3.pt")


def test_set5_figures_match_the_readme_table():
    readme = (REPO / "README.md").read_text()
    labels = {"srcnn": "SRCNN 9-5-5 (this project, bundled)", "fsrcnn": "FSRCNN (this project, bundled)",
              "espcn": "ESPCN (this project, bundled)"}
    for name, label in labels.items():
        row = re.search(rf"^\| {re.escape(label)} \| (.*)$", readme, re.M).group(1).split(" | ")
        for i, s in enumerate((2, 3, 4)):
            assert float(row[i].split(" / ")[0].strip("*")) == api.SET5_PSNR[(name, s)], (name, s)   # **bold**


def test_create_model(bundled):
    m = srcnn.create_model("fsrcnn", scale=2, d=8)
    assert m.upscale == 2 and m.kwargs["d"] == 8 and m.training
    assert srcnn.create_model("vdsr", scale=3, depth=3).upscale == 1   # one network for every scale
    assert srcnn.create_model().config() == srcnn.create_model("srcnn").config()
    p = srcnn.create_model("fsrcnn-s", pretrained=True)
    ref, _ = weightfiles.load_file(bundled / "fsrcnn-s_x3.pt")
    assert not p.training and all(torch.equal(a, b) for a, b in zip(p.state_dict().values(), ref.state_dict().values()))
    with pytest.raises(SRCNNError, match="unknown model 'nope'"):
        srcnn.create_model("nope")
    with pytest.raises(SRCNNError, match="the bundled architecture is fixed; drop d"):
        srcnn.create_model("fsrcnn", pretrained=True, d=8)


def test_names_are_names_paths_are_paths(bundled, tmp_path, monkeypatch, make_image, capsys):
    """A bundled name always means the bundled weights, even in a folder holding a file of that name
    (srcnn.load, srcnn.upscale, super_resolve.py --model and its default); "./srcnn" or a Path is the
    file; any other text is a path."""
    from srcnn.cli.super_resolve import main as sr_cli
    from srcnn.images import write_image
    monkeypatch.chdir(tmp_path)
    for name in ("srcnn", "fsrcnn-s"):   # files named like models, here x2 weights the bundled ones are not
        save_tiny_checkpoint(tmp_path / name, scale=2, seed=7)
    bundled_x3 = str(bundled / "srcnn_x3.pt")
    assert srcnn.load("srcnn").meta["path"] == bundled_x3
    assert srcnn.load("fsrcnn-s").meta["path"] == str(bundled / "fsrcnn-s_x3.pt")
    img = make_image(6, 7, 3)
    assert np.array_equal(srcnn.upscale(img), srcnn.load(Path(bundled_x3))(img))
    for path in ("./srcnn", Path("srcnn"), str(tmp_path / "srcnn")):
        assert srcnn.load(path).meta["path"].endswith("srcnn") and srcnn.load(path).scale == 2
    write_image(tmp_path / "a.png", img)
    assert sr_cli(["a.png", "-o", "o.png"]) == 0 and bundled_x3 in capsys.readouterr().out
    assert sr_cli(["--model", "srcnn", "a.png", "-o", "p.png", "--overwrite"]) == 0
    assert bundled_x3 in capsys.readouterr().out
    assert sr_cli(["--checkpoint", "srcnn", "a.png", "-o", "q.png"]) == 0   # --checkpoint is always a file
    assert " x2 (srcnn), device" in capsys.readouterr().out


def test_hostile_arguments_are_one_line(bundled, tmp_path, make_image):
    """Every scale goes through the one scale check (srcnn.errors.check_scale): upscale(img, 3.7) after
    upscale(img, 3) is refused, not served x3 from the cache; tiles, devices and batches are checked
    at the edge: SRCNNError, not a traceback."""
    from srcnn.images import write_image
    img = make_image(6, 7, 3)
    assert srcnn.upscale(img, 3).shape == (18, 21, 3)
    for bad in (3.7, None, "3", 0, 1, 256, True):
        with pytest.raises(SRCNNError, match=r"scale .*: must be an integer >= 2 \(at most 255\)"):
            srcnn.upscale(img, bad)
    for bad in (0, 256, 3.0):
        with pytest.raises(SRCNNError, match=r"must be an integer >= 2 \(at most 255\)"):
            srcnn.load("srcnn", scale=bad)
    (tmp_path / "set").mkdir()
    write_image(tmp_path / "set" / "a.png", make_image(12, 12, 3))
    for bad in (0, 1, 2.5, None):
        with pytest.raises(SRCNNError, match=r"scale .*: must be an integer >= 2"):
            srcnn.evaluate_set(tmp_path / "set", bad)
    sr = srcnn.load("srcnn")
    for bad in ("8", 2.5, -1, True, float("nan")):
        with pytest.raises(SRCNNError, match=r"tile .*: must be 0 \(no tiling\) or a positive number of pixels"):
            srcnn.load("srcnn", tile=bad)
        with pytest.raises(SRCNNError, match=r"tile .*: must be 0 \(no tiling\) or a positive number of pixels"):
            sr(img, tile=bad)
    for bad in ("meta", "cuda:x", "", 3):
        with pytest.raises(SRCNNError, match="device"):
            srcnn.load("srcnn", device=bad)
    with pytest.raises(SRCNNError, match=r"an empty batch \(0, 3, 5, 5\)"):
        sr(torch.zeros(0, 3, 5, 5))
    for bad in ("yes", 1):
        with pytest.raises(SRCNNError, match="ensemble"):
            sr(img, ensemble=bad)
