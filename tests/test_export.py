"""srcnn.export and 'train.py export': ONNX and TorchScript files that compute what PyTorch computes, in
onnxruntime and in OpenCV's dnn module, with their metadata, and run again through srcnn.weightfiles;
failures leave no file behind."""
from pathlib import Path

import numpy as np
import pytest
import torch

from srcnn import export
from srcnn.cli.train import main as train_cli
from srcnn.errors import SRCNNError
from srcnn.weightfiles import bundled_file, load_file, read_metadata
from srhelpers import save_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")

TOL = 1e-5   # max abs difference from PyTorch, float32 in [0,1]

# (registry name, trained scale(s), small kwargs): every architecture family and each upsampling kind
ARCHS = {
    "srcnn": ("srcnn", 3, dict(f1=5, f2=3, f3=3, n1=6, n2=4)),
    "srcnn-nopad": ("srcnn", 3, dict(f1=5, f2=3, f3=3, n1=6, n2=4, padding="none")),  # runs with replicate
    "fsrcnn": ("fsrcnn", 3, dict(d=8, s=4, m=1)),
    "espcn": ("espcn", 2, dict(n1=6, n2=4)),
    "vdsr": ("vdsr", [2, 3, 4], dict(depth=4, features=6)),
    "srcnn-subpixel-res": ("srcnn-subpixel", 4, dict(n1=6, n2=4, residual=True)),
    "srcnn-ca": ("srcnn-ca", 2, dict(n1=8, n2=8)),
}
TS_ARCHS = ("srcnn", "fsrcnn", "espcn", "vdsr")
SIZES = [(1, 7, 9), (2, 12, 5), (1, 23, 31)]   # (N, H, W) of the network input


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{arch: (torch model, .onnx path, .ts path)}, each exported once for the module."""
    d = tmp_path_factory.mktemp("export")
    out = {}
    for arch, (name, scales, kw) in ARCHS.items():
        ck = save_model(d / f"{arch}.ckpt", name, scales, **kw)
        export.export_file(ck, d / f"{arch}.onnx")
        if arch in TS_ARCHS:
            export.export_file(ck, d / f"{arch}.ts")
        out[arch] = (load_file(ck)[0], d / f"{arch}.onnx", d / f"{arch}.ts", ck)
    return out


def _inputs(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, model.channels, h, w, generator=g) for n, h, w in SIZES]


def _reference(model, x):
    with torch.inference_mode():
        return model(x).numpy()


@pytest.mark.parametrize("arch", ARCHS)
def test_onnxruntime_equals_pytorch(exported, arch):
    model, path, _, _ = exported[arch]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input"] and [o.name for o in sess.get_outputs()] == ["output"]
    dims = sess.get_inputs()[0].shape
    assert isinstance(dims[0], str) and isinstance(dims[2], str) and isinstance(dims[3], str) and dims[1] == 1
    for x in _inputs(model):
        got = sess.run(None, {"input": x.numpy()})[0]
        want = _reference(model, x)
        assert got.shape == want.shape == (x.shape[0], 1, model.upscale * x.shape[2], model.upscale * x.shape[3])
        assert np.abs(got - want).max() <= TOL, arch


@pytest.mark.parametrize("arch", ARCHS)
def test_opencv_dnn_equals_pytorch(exported, arch):
    """OpenCV 5's dnn reads and runs every architecture (transposed conv, PixelShuffle, edge padding,
    bicubic Resize, the channel attention's average pools included)."""
    model, path, _, _ = exported[arch]
    net = cv2.dnn.readNetFromONNX(str(path))
    for x in _inputs(model, seed=1)[::2]:
        x = x[:1]
        net.setInput(x.numpy())
        got = net.forward()
        assert np.abs(got - _reference(model, x)).max() <= TOL, arch


@pytest.mark.parametrize("arch", TS_ARCHS)
def test_torchscript_equals_pytorch(exported, arch):
    model, _, ts, _ = exported[arch]
    loaded, meta = load_file(ts, trust_code=True)
    assert loaded.upscale == model.upscale and loaded.shrink == model.shrink and meta["format"] == "torchscript"
    for x in _inputs(model, seed=2):
        with torch.inference_mode():
            assert np.abs(loaded(x).numpy() - _reference(model, x)).max() <= TOL


def test_metadata_says_what_to_feed(exported):
    for arch, (model, path, ts, _) in exported.items():
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert props == read_metadata(path)
        if arch in TS_ARCHS:
            assert props == read_metadata(ts) | {"srcnn.opset": str(export.OPSET)}
        assert props["srcnn.input"] == model.input_kind and props["srcnn.upscale"] == str(model.upscale)
        assert props["srcnn.channels"] == "1" and props["srcnn.color"].startswith("Y of MATLAB rgb2ycbcr")
        assert props["srcnn.shrink"] == str(model.shrink) and props["srcnn.opset"] == "17"
    assert read_metadata(exported["vdsr"][1])["srcnn.scale"] == "2,3,4"
    assert read_metadata(exported["fsrcnn"][1])["srcnn.input"] == "lr"
    assert onnx.load(str(exported["srcnn"][1])).opset_import[0].version == export.OPSET


def test_bundled_weights_on_a_natural_image(tmp_path, make_image):
    """The real bundled SRCNN and FSRCNN x3: onnxruntime = PyTorch on a natural-looking image, as arrays
    and through srcnn.load (tiles, Y/CbCr) where the 8-bit results differ by at most one level."""
    import srcnn
    img = make_image(45, 61, 3)
    for name in ("srcnn", "fsrcnn"):
        ck = bundled_file(name, 3)
        path = tmp_path / f"{name}.onnx"
        export.export_file(ck, path)
        model = load_file(ck)[0]
        lr = torch.from_numpy(img[:, :, 0].astype(np.float32) / 255)[None, None]
        x = lr if model.upscale > 1 else torch.from_numpy(
            srcnn.imresize(img[:, :, 0].astype(np.float64) / 255, 3).astype(np.float32))[None, None]
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert np.abs(sess.run(None, {"input": x.numpy()})[0] - _reference(model, x)).max() <= TOL
        a = srcnn.load(path)(img, tile=40).astype(int)
        b = srcnn.load(name, scale=3)(img).astype(int)
        assert a.shape == b.shape == (135, 183, 3) and np.abs(a - b).max() <= 1 and (a != b).mean() < 0.01


@pytest.mark.realdata
def test_real_image_set5(data_root, tmp_path):
    from srcnn.images import read_image
    img = read_image(sorted((data_root / "Set5").glob("*"))[0])[:120, :120]
    path = tmp_path / "espcn.onnx"
    export.export_file(bundled_file("espcn", 3), path)
    import srcnn
    a, b = srcnn.load(path)(img).astype(int), srcnn.load("espcn", scale=3)(img).astype(int)
    assert np.abs(a - b).max() <= 1


def test_onnx_runs_tiled_with_colour_handling(exported, make_image):
    import srcnn
    _, path, _, ck = exported["fsrcnn"]
    rgba = np.dstack([make_image(20, 17, 3), make_image(20, 17, 0, seed=4)])
    sr = srcnn.load(path)
    assert sr.name == "fsrcnn (onnxruntime)" and sr.scale == 3 and sr.input_kind == "lr"
    whole, tiled = sr(rgba, tile=0).astype(int), sr(rgba, tile=7).astype(int)
    ref = srcnn.load(ck)(rgba).astype(int)
    assert whole.shape == (60, 51, 4) and np.abs(whole - tiled).max() <= 1 and np.abs(whole - ref).max() <= 1
    with pytest.raises(SRCNNError, match="trained for scale 3, but scale 2"):
        srcnn.load(path, scale=2)


def test_cli_export_prints_metadata(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ck = save_model(tmp_path / "c.ckpt", "espcn", 3, n1=4, n2=4)
    assert train_cli(["export", str(ck), "m.onnx"]) == 0
    out = capsys.readouterr().out
    assert "wrote m.onnx (onnx" in out and "srcnn.input     lr" in out and "srcnn.opset     17" in out
    assert train_cli(["export", "--format", "torchscript", str(ck), "m.jit"]) == 0
    assert "(torchscript" in capsys.readouterr().out and read_metadata(Path("m.jit"))["srcnn.upscale"] == "3"
    assert train_cli(["export", "--opset", "13", str(ck), "m13.onnx"]) == 0
    assert onnx.load("m13.onnx").opset_import[0].version == 13
    assert train_cli(["export", str(ck), "w.pt"]) == 0 and "KiB): {'name': 'espcn'" in capsys.readouterr().out
    assert train_cli(["export", "--opset", "13", str(ck), "x.pt"]) == 2
    assert "error: --opset is for ONNX export, not pt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_cli(["export", "--format", "tflite", str(ck), "m.tfl"])
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
    assert train_cli(["export", str(tmp_path / "missing"), "m2.onnx"]) == 2
    assert capsys.readouterr().err.startswith("error: ") and not Path("m2.onnx").exists()


def test_unexportable_model_is_one_error_and_no_file(tmp_path, capsys, monkeypatch):
    ck = save_model(tmp_path / "c.ckpt", "fsrcnn", 3, d=4, s=2, m=0)
    out = tmp_path / "m.onnx"
    out.write_bytes(b"old")

    def refuse(*a, **k):
        raise torch.onnx.errors.UnsupportedOperatorError("aten::fancy", 17, "")
    monkeypatch.setattr(torch.onnx, "export", refuse)
    assert train_cli(["export", "--overwrite", str(ck), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {out}: fsrcnn cannot be exported to ONNX opset 17 "
                                                   "(UnsupportedOperatorError")
    assert out.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["c.ckpt", "m.onnx"]
    monkeypatch.undo()
    monkeypatch.setattr(export, "VERIFY_TOL", -1.0)   # an export that computes something else is refused
    for name in ("m.onnx", "m.ts"):
        with pytest.raises(SRCNNError, match="differs from PyTorch by"):
            export.export_file(ck, tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ckpt", "m.onnx"]


def test_pt_export_keeps_the_weights_and_names_its_source(tmp_path):
    """The "pt" format (export_file / export_pt): a weights-only checkpoint that loads as the same network,
    with exported_from naming its source; nothing of the training state."""
    ck = save_model(tmp_path / "c.ckpt", "espcn", 3, n1=4, n2=4)
    fmt, small = export.export_file(ck, tmp_path / "w.pt")
    assert fmt == "pt" and small["exported_from"] == {"path": str(ck), "epoch": None, "weights": "raw"}
    model, meta = load_file(tmp_path / "w.pt")
    ref, _ = load_file(ck)
    assert meta["exported_from"] == small["exported_from"] and meta["model"] == ref.config()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ref.state_dict().values()))
    with pytest.raises(SRCNNError, match="would overwrite the checkpoint"):
        export.export_file(ck, ck, "pt")


def test_bad_exported_files(tmp_path, exported):
    _, path, _, _ = exported["espcn"]
    bare = onnx.load(str(path))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "foreign.onnx"))
    with pytest.raises(SRCNNError, match="foreign.onnx: no srcnn metadata"):
        load_file(tmp_path / "foreign.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx at all")
    with pytest.raises(SRCNNError, match="junk.onnx: not a loadable ONNX model"):
        load_file(tmp_path / "junk.onnx")
    with pytest.raises(SRCNNError, match="cannot tell the format from the suffix '.zip'"):
        export.format_for("m.zip")
    with pytest.raises(SRCNNError, match="would overwrite the checkpoint"):
        export.export_file(path, path)


def test_super_resolve_cli_runs_an_onnx_file(tmp_path, exported, make_image, capsys):
    from srcnn.cli.super_resolve import main
    from srcnn.images import read_image, write_image
    _, path, _, ck = exported["vdsr"]
    write_image(tmp_path / "a.png", make_image(11, 14, 3))
    assert main(["--checkpoint", str(path), "--scale", "4", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png")]) == 0
    assert "model: vdsr (onnxruntime) x4" in capsys.readouterr().out
    assert main(["--checkpoint", str(ck), "--scale", "4", str(tmp_path / "a.png"), "-o", str(tmp_path / "p.png")]) == 0
    a, b = read_image(tmp_path / "o.png").astype(int), read_image(tmp_path / "p.png").astype(int)
    assert a.shape == (44, 56, 3) and np.abs(a - b).max() <= 1


def test_help_lists_formats(capsys):
    with pytest.raises(SystemExit) as e:
        train_cli(["export", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--format {onnx,torchscript,pt}" in out and "--opset N" in out
    assert "metadata_props" in out and "opset 17" in out


def test_torchscript_runs_only_when_trusted_and_named_ts(tmp_path, exported, make_image, capsys, monkeypatch):
    """Loading is data: a TorchScript archive holds code, so srcnn.load, super_resolve.py and evaluate.py
    refuse it with one line whatever its name (.ts, or renamed .pt / checkpoint.best), and torch.jit.load
    is never reached; with trust_code / --trust-code a file named .ts runs, with a warning, while one named
    like a checkpoint is still refused (never chosen by sniffing). train.py's loader names it too."""
    import srcnn
    from srcnn.checkpoint import load_checkpoint
    from srcnn.cli.evaluate import main as evaluate_cli
    from srcnn.cli.super_resolve import main as sr_cli
    from srcnn.images import write_image
    _, _, ts, ck = exported["fsrcnn"]
    write_image(tmp_path / "a.png", make_image(11, 14, 3))
    (tmp_path / "hr").mkdir()
    write_image(tmp_path / "hr" / "b.png", make_image(24, 27, 3))
    real_load, calls = torch.jit.load, []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    out = tmp_path / "o.png"
    for name in ("m.ts", "evil.pt", "checkpoint.best", "m.jit"):
        f = tmp_path / name
        f.write_bytes(ts.read_bytes())
        with pytest.raises(SRCNNError, match=rf"{name}: a TorchScript file: it holds code"):
            srcnn.load(f)
        with pytest.raises(SRCNNError, match=rf"{name}: a TorchScript file"):
            load_checkpoint(f)
        assert sr_cli(["--checkpoint", str(f), str(tmp_path / "a.png"), "-o", str(out)]) == 2
        assert evaluate_cli(["--set", str(tmp_path / "hr"), "--checkpoint", str(f)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 2 and all("TorchScript" in e and "--trust-code" in e for e in err), err
        assert not any("corrupt" in e for e in err)
        if name != "m.ts":
            with pytest.raises(SRCNNError, match=rf"{name}: .*only from a file named \.ts or \.torchscript"):
                srcnn.load(f, trust_code=True)
    assert not calls and not out.exists()
    sr = srcnn.load(tmp_path / "m.ts", trust_code=True)
    assert "warning:" in capsys.readouterr().err and sr.name == "fsrcnn (torchscript)" and len(calls) == 1
    img = make_image(11, 14, 3)
    assert np.abs(sr(img).astype(int) - srcnn.load(ck)(img).astype(int)).max() <= 1
    assert sr_cli(["--trust-code", "--checkpoint", str(tmp_path / "m.ts"), str(tmp_path / "a.png"), "-o", str(out)]) == 0
    assert evaluate_cli(["--trust-code", "--set", str(tmp_path / "hr"), "--checkpoint", str(tmp_path / "m.ts")]) == 0
    assert out.exists() and capsys.readouterr().err.count("warning: ") == 2


def _with_props(src, dst, **changes):
    """A copy of the exported file ``src`` (.onnx or .ts) at ``dst`` with metadata keys changed."""
    import json
    import zipfile
    changes = {f"srcnn.{k}": v for k, v in changes.items()}
    if src.suffix == ".onnx":
        m = onnx.load(str(src))
        props = {p.key: p.value for p in m.metadata_props} | changes
        onnx.helper.set_model_props(m, props)
        onnx.save(m, str(dst))
        return dst
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for n in z.namelist():
            data = z.read(n)
            if n.endswith("/extra/srcnn.json"):
                data = json.dumps(json.loads(data) | changes).encode()
            out.writestr(n, data)
    return dst


@pytest.mark.parametrize("changes, msg", [
    (dict(scale="0"), r"srcnn\.scale 0: must be an integer >= 2"),
    (dict(scale="1"), r"srcnn\.scale 1: must be an integer >= 2"),
    (dict(scale="3,999"), r"srcnn\.scale 999: must be an integer >= 2 \(at most 255\)"),
    (dict(upscale="0"), r"srcnn\.upscale 0: must be 1 \(an upscaled-input model\) or the scale"),
    (dict(upscale="2"), r"srcnn\.upscale 2: must be 1 \(an upscaled-input model\) or the scale"),
    (dict(channels="2"), r"srcnn\.channels 2: must be 1 \(Y\) or 3 \(RGB\)"),
    (dict(shrink="-1"), r"srcnn\.shrink must be in \[0, "),
    (dict(model="[" * 100000 + "]" * 100000), r"srcnn\.model is not an architecture"),
    (dict(model="[1]"), r"srcnn\.model is not an architecture"),
])
@pytest.mark.parametrize("kind", ["onnx", "ts"])
def test_exported_metadata_is_range_checked(tmp_path, exported, changes, msg, kind, make_image):
    """Scales and sizes read from an exported file's metadata go through the same checks as a
    checkpoint's: one line naming the file, before a TorchScript file's code would run."""
    import srcnn
    _, onnx_path, ts, _ = exported["fsrcnn"]
    bad = _with_props(onnx_path if kind == "onnx" else ts, tmp_path / f"bad.{kind}", **changes)
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.jit, "load", lambda *a, **k: calls.append(a))
        with pytest.raises(SRCNNError, match=rf"bad\.{kind}: .*{msg}"):
            srcnn.load(bad, trust_code=True)
        with pytest.raises(SRCNNError, match=rf"bad\.{kind}: .*{msg}"):
            read_metadata(bad)
    assert not calls


def test_exported_model_failures_are_one_line(tmp_path, exported, make_image, capsys):
    """An exported file whose graph does not take what its metadata says (3 channels declared, a 1-channel
    graph): onnxruntime's InvalidArgument / torch.jit.Error become one SRCNNError line naming the file,
    not a traceback and not "out of memory ... try a smaller --tile"."""
    import srcnn
    from srcnn.cli.super_resolve import main as sr_cli
    from srcnn.images import write_image
    _, onnx_path, ts, _ = exported["fsrcnn"]
    write_image(tmp_path / "a.png", make_image(9, 10, 3))
    for kind, src in (("onnx", onnx_path), ("ts", ts)):
        bad = _with_props(src, tmp_path / f"rgb.{kind}", channels="3")
        sr = srcnn.load(bad, trust_code=True)
        with pytest.raises(SRCNNError, match=rf"rgb\.{kind}: the exported model failed on a \(1, 3, \d+, \d+\) input"):
            sr(make_image(9, 10, 3))
        assert sr_cli(["--trust-code", "--checkpoint", str(bad), str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png")]) == 2
        err = [e for e in capsys.readouterr().err.splitlines() if not e.startswith("warning: ")]
        assert err[0].startswith("error: ") and "failed on a" in err[0] and "memory" not in err[0]
        assert "1 of 1 input(s) failed:" in err and not any("Traceback" in e for e in err)
    assert not (tmp_path / "o.png").exists()


def test_checkpoint_channels_must_match_its_architecture(tmp_path):
    ck = save_model(tmp_path / "c.pt", "espcn", 3, n1=4, n2=4, channels=3)   # says "y"
    with pytest.raises(SRCNNError, match=r"c\.pt: damaged checkpoint: 'channels' is 'y' but the architecture has 3"):
        load_file(ck)
