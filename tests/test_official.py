"""srcnn.official: the authors' MATLAB weights, checked against their code and their published numbers."""
import math
import re
import sys

import numpy as np
import pytest
import torch

from srcnn.errors import SRCNNError
from srcnn.evaluation import evaluate_set
from srcnn.official import load_official
from srcnn.protocol import degrade, hr_y, score
from srcnn.weightfiles import load_file
from srhelpers import write_official_mat

pytest.importorskip("scipy")


def imfilter_replicate(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """MATLAB imfilter(x, k, 'same', 'replicate'): correlation (k not flipped), edge-replicated."""
    r = k.shape[0] // 2
    p = np.pad(x, r, mode="edge")
    h, w = x.shape
    return sum(k[u, v] * p[u:u + h, v:v + w] for u in range(k.shape[0]) for v in range(k.shape[1]))


def authors_srcnn(a: dict, x: np.ndarray, order: str = "F") -> np.ndarray:
    """The loops of the authors' SRCNN.m, in float64. order="C" is the wrong (transposed) reshape."""
    w1, b1, w2, b2, w3, b3 = (a[k] for k in ("weights_conv1", "biases_conv1", "weights_conv2",
                                             "biases_conv2", "weights_conv3", "biases_conv3"))
    if w2.ndim == 2:
        w2 = w2[:, None, :]
    f1, f2, f3 = (math.isqrt(n) for n in (w1.shape[0], w2.shape[1], w3.shape[1]))
    k = lambda col, f: np.reshape(col, (f, f), order=order)  # noqa: E731
    c1 = [np.maximum(imfilter_replicate(x, k(w1[:, i], f1)) + b1[i, 0], 0) for i in range(w1.shape[1])]
    c2 = [np.maximum(sum(imfilter_replicate(c1[j], k(w2[j, :, i], f2)) for j in range(len(c1))) + b2[i, 0], 0)
          for i in range(w2.shape[2])]
    return sum(imfilter_replicate(c2[i], k(w3[i, :], f3)) for i in range(len(c2))) + b3[0, 0]


def run(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x).float()[None, None])[0, 0].double().numpy()


@pytest.mark.parametrize("f, f2_as_2d", [((5, 3, 3), False), ((3, 1, 5), False), ((3, 1, 5), True)])
def test_loaded_model_equals_the_authors_loops(tmp_path, f, f2_as_2d):
    path = tmp_path / "x2.mat"
    arrays = write_official_mat(path, f=f, n=(5, 3), f2_as_2d=f2_as_2d)
    model, meta = load_official(path)
    x = np.random.default_rng(1).random((17, 23))
    ref = authors_srcnn(arrays, x)
    out = run(model, x)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, ref, atol=2e-5)
    if f[0] > 1:  # a transposed (row-major) reshape would be caught
        assert np.abs(authors_srcnn(arrays, x, order="C") - out).max() > 1e-3
    assert meta["scale"] == 2 and meta["channels"] == "y" and meta["format"] == "matlab-srcnn"
    cfg = meta["model"]
    assert (cfg["f1"], cfg["f2"], cfg["f3"], cfg["n1"], cfg["n2"]) == (*f, 5, 3)
    assert cfg["padding"] == "replicate" and cfg["channels"] == 1
    assert meta["name"] == f"SRCNN {f[0]}-{f[1]}-{f[2]} (authors)"
    assert not model.training


def test_scale_from_name_only(tmp_path):
    write_official_mat(tmp_path / "weights.mat")
    assert load_official(tmp_path / "weights.mat")[1]["scale"] is None
    write_official_mat(tmp_path / "X4.mat")
    assert load_official(tmp_path / "X4.mat")[1]["scale"] == 4


def test_load_file_dispatches_mat_files(tmp_path):
    path = tmp_path / "x3.mat"
    arrays = write_official_mat(path)
    model, meta = load_file(path)
    x = np.random.default_rng(2).random((12, 12))
    np.testing.assert_allclose(run(model, x), authors_srcnn(arrays, x), atol=2e-5)
    assert meta["scale"] == 3


def test_bad_files(tmp_path):
    with pytest.raises(SRCNNError, match=r"nope\.mat: no such file"):
        load_official(tmp_path / "nope.mat")
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"this is not a mat file at all" * 10)
    with pytest.raises(SRCNNError, match=r"junk\.mat: not a readable MATLAB \.mat file"):
        load_official(junk)
    import scipy.io
    scipy.io.savemat(str(tmp_path / "other.mat"), {"weights_conv1": np.zeros((81, 4))})
    with pytest.raises(SRCNNError, match="not an SRCNN weight file .*missing biases_conv1"):
        load_official(tmp_path / "other.mat")
    arrays = write_official_mat(tmp_path / "bad.mat")
    arrays["weights_conv1"] = arrays["weights_conv1"][:24]  # 24 taps: not a square
    scipy.io.savemat(str(tmp_path / "bad.mat"), arrays)
    with pytest.raises(SRCNNError, match="weights_conv1 has 24 taps"):
        load_official(tmp_path / "bad.mat")
    arrays = write_official_mat(tmp_path / "bad2.mat")
    arrays["weights_conv3"] = arrays["weights_conv3"][:2]
    scipy.io.savemat(str(tmp_path / "bad2.mat"), arrays)
    with pytest.raises(SRCNNError, match=r"weights_conv3 has shape \(2, 9\)"):
        load_official(tmp_path / "bad2.mat")


@pytest.mark.parametrize("value, msg", [("0.1 0.2 0.3", "biases_conv2 holds text, not real numbers"),
                                        (np.full((4, 1), np.nan), "biases_conv2 holds NaN or infinite values"),
                                        (np.zeros((4, 1), complex), "biases_conv2 holds complex128 data")])
def test_weights_that_are_not_numbers(tmp_path, value, msg):
    """issue 13 item 9: a .mat whose weights are text (or NaN, complex) is one clear error."""
    import scipy.io
    arrays = write_official_mat(tmp_path / "x3.mat")
    arrays["biases_conv2"] = value
    scipy.io.savemat(str(tmp_path / "x3.mat"), arrays)
    with pytest.raises(SRCNNError, match=re.escape(msg)) as e:
        load_official(tmp_path / "x3.mat")
    assert str(tmp_path / "x3.mat") in str(e.value)


def test_missing_scipy_is_a_clear_error(tmp_path, monkeypatch):
    write_official_mat(tmp_path / "x3.mat")
    monkeypatch.setitem(sys.modules, "scipy.io", None)  # import scipy.io -> ImportError
    with pytest.raises(SRCNNError, match=r"install scipy \(pip install srcnn\[mat\]\)"):
        load_official(tmp_path / "x3.mat")


# ---------------------------------------------------------------- parity with the published numbers

PARITY = [  # (net, scale, set, published mean PSNR with the paper's protocol)
    ("9-5-5_imagenet", 2, "Set5", 36.66), ("9-5-5_imagenet", 3, "Set5", 32.75), ("9-5-5_imagenet", 4, "Set5", 30.48),
    ("9-5-5_imagenet", 2, "Set14", 32.45), ("9-5-5_imagenet", 3, "Set14", 29.29),
    ("9-5-5_imagenet", 4, "Set14", 27.50), ("9-1-5_91images", 3, "Set5", 32.39),
]


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("net, scale, set_name, expected", PARITY)
def test_authors_weights_reproduce_the_paper(data_root, net, scale, set_name, expected):
    path = data_root / "reference" / "srcnn_official" / net / f"x{scale}.mat"
    if not path.is_file():
        pytest.skip(f"REAL-DATA CHECK SKIPPED: {path} missing")
    model, meta = load_official(path)
    assert meta["scale"] == scale
    bic, sr = evaluate_set(data_root / set_name, scale, model, method=meta["name"])
    assert abs(sr["psnr"] - expected) <= 0.01, (net, scale, set_name, sr["psnr"])
    assert sr["psnr"] > bic["psnr"] + 1.0


@pytest.mark.realdata
def test_authors_x3_on_one_image_directly(data_root):
    """The same pipeline written out by hand on Set5 bird (fast): 9-5-5 x3 beats bicubic by ~2.9 dB."""
    path = data_root / "reference" / "srcnn_official" / "9-5-5_imagenet" / "x3.mat"
    if not path.is_file():
        pytest.skip(f"REAL-DATA CHECK SKIPPED: {path} missing")
    from srcnn.images import read_image, to_rgb8
    model, _ = load_official(path)
    gt = hr_y(to_rgb8(read_image(data_root / "Set5" / "bird.png")), 3)
    bic = degrade(gt, 3)[1]
    p_bic, _ = score(bic, gt, 3)
    p_sr, _ = score(run(model, bic), gt, 3)
    assert 2.5 < p_sr - p_bic < 3.3, (p_bic, p_sr)


@pytest.mark.parametrize("name, scale", [("x1.mat", 1), ("x0.mat", 0), ("x256.mat", 256)])
def test_scale_in_the_file_name_is_range_checked(tmp_path, name, scale, make_image, capsys):
    """x1.mat would 'super-resolve' to the same size and x0.mat divide by zero: the scale a file name
    gives goes through the one scale check, in every loader and command."""
    from srcnn.cli.super_resolve import main as sr_cli
    from srcnn.cli.train import main as train_cli
    from srcnn.images import write_image
    import srcnn
    write_official_mat(tmp_path / name)
    msg = rf"{name}: the scale in the file name {scale}: must be an integer >= 2 \(at most 255\)"
    with pytest.raises(SRCNNError, match=msg):
        load_official(tmp_path / name)
    with pytest.raises(SRCNNError, match=msg):
        srcnn.load(tmp_path / name)
    write_image(tmp_path / "a.png", make_image(6, 7, 3))
    assert sr_cli(["--checkpoint", str(tmp_path / name), str(tmp_path / "a.png")]) == 2
    assert train_cli(["export", str(tmp_path / name), str(tmp_path / "w.onnx")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("must be an integer >= 2" in e for e in err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", name]
