"""srcnn.evaluation: the protocol applied to a model and bicubic, rows, pictures."""
import numpy as np
import pytest

import torch

from srcnn.color import rgb2y, rgb2ycbcr, ycbcr2rgb
from srcnn.errors import SRCNNError
from srcnn.evaluation import (best_crop, evaluate_image, evaluate_set, protocol, side_by_side, slug)
from srcnn.images import read_image, write_image
from srcnn.inference import forward_array
from srcnn.models import build_model
from srcnn.protocol import degrade, hr_y, score
from srcnn.resize import imresize, modcrop
from srhelpers import identity_model, tiny_model


def lr_model(name="espcn", scale=3, channels=1, **kwargs):
    """A small random LR-input model (upscale = scale)."""
    torch.manual_seed(0)
    small = {"espcn": dict(n1=8, n2=4), "fsrcnn": dict(d=8, s=4, m=1)}[name]
    return build_model(name, scale=scale, channels=channels, **small, **kwargs).eval()


@pytest.fixture
def set_dir(tmp_path, make_image):
    d = tmp_path / "Tiny"
    d.mkdir()
    write_image(d / "a.png", make_image(40, 47, 3, seed=1))
    write_image(d / "b.png", make_image(38, 36, 0, seed=2))   # greyscale
    return d


def test_y_protocol_numbers(make_image):
    hr = make_image(41, 44, 3, seed=3)
    model = tiny_model()
    r = evaluate_image(hr, 3, model)
    gt = hr_y(hr, 3)
    bic = degrade(gt, 3)[1]
    assert r["bicubic"] == score(bic, gt, 3)
    import torch
    with torch.no_grad():
        sr = model(torch.from_numpy(bic).float()[None, None])[0, 0].double().numpy()
    assert r["model"] == score(sr, gt, 3)
    assert "views" not in r


def test_pass_through_model_scores_like_bicubic(make_image):
    hr = make_image(30, 33, 3, seed=4)
    r = evaluate_image(hr, 2, identity_model())
    assert r["model"] == r["bicubic"]
    assert evaluate_image(hr, 2, None)["model"] is None


def test_rgb_variant(make_image):
    hr = make_image(36, 36, 3, seed=5)
    r = evaluate_image(hr, 3, identity_model(3), rgb=True)
    gt = modcrop(hr, 3).astype(np.float64) / 255
    bic = np.clip(np.round(imresize(imresize(gt, 1 / 3), 3) * 255), 0, 255)
    mse = np.mean((bic[3:-3, 3:-3] - gt[3:-3, 3:-3] * 255) ** 2)
    assert r["bicubic"][0] == pytest.approx(10 * np.log10(255 ** 2 / mse), abs=1e-9)
    assert r["model"] == pytest.approx(r["bicubic"])
    y = evaluate_image(hr, 3, identity_model(3))   # an RGB model on the Y protocol: close to bicubic
    assert abs(y["model"][0] - y["bicubic"][0]) < 0.1
    assert protocol(True)["name"] == "srcnn-rgb" and "NOT the paper" in protocol(True)["description"]
    assert protocol()["name"] == "srcnn-y"


def test_views(make_image):
    hr = make_image(30, 31, 3, seed=6)
    r = evaluate_image(hr, 3, tiny_model(), images=True)
    v = r["views"]
    assert set(v) == {"bicubic", "model", "gt"}
    assert all(a.shape == (30, 30, 3) and a.dtype == np.uint8 for a in v.values())
    assert np.array_equal(v["gt"], modcrop(hr, 3))
    g = evaluate_image(hr[:, :, 0], 3, tiny_model(), images=True)["views"]
    assert all(a.shape == (30, 30) for a in g.values())


@pytest.mark.parametrize("name", ["espcn", "fsrcnn"])
def test_lr_input_model_takes_the_downscaled_y(make_image, name):
    """LR = MATLAB bicubic downscale (float, unrounded) of the modcropped HR Y; scored like the others."""
    hr = make_image(40, 43, 3, seed=7)
    model = lr_model(name, scale=2)
    r = evaluate_image(hr, 2, model)
    gt = hr_y(hr, 2)
    lr = imresize(gt, 0.5)
    assert lr.shape == (20, 21) and lr.dtype == np.float64
    assert np.array_equal(imresize(lr, output_shape=gt.shape), degrade(gt, 2)[1])  # the same degradation
    with torch.no_grad():
        sr = model(torch.from_numpy(lr).float()[None, None])[0, 0].double().numpy()
    assert sr.shape == gt.shape
    assert r["model"][0] == pytest.approx(score(sr, gt, 2)[0], abs=1e-6)
    assert r["model"] == score(forward_array(model, lr).astype(np.float64), gt, 2)
    assert r["bicubic"] == score(degrade(gt, 2)[1], gt, 2)
    g = evaluate_image(hr[:, :, 0], 2, model, images=True)   # greyscale: its own Y
    assert g["views"]["model"].shape == (40, 42)


def test_lr_input_models_rgb_and_views(make_image):
    hr = make_image(36, 39, 3, seed=8)
    gt = modcrop(hr, 3).astype(np.float64) / 255
    lr = imresize(gt, 1 / 3)
    y_model, rgb_model = lr_model(scale=3), lr_model(scale=3, channels=3)
    # an RGB model on the Y protocol: its RGB output from the RGB LR image, scored on Y
    r = evaluate_image(hr, 3, rgb_model, images=True)
    out = np.clip(forward_array(rgb_model, lr).astype(np.float64), 0, 1)
    assert r["model"] == score(rgb2y(out), hr_y(hr, 3), 3)
    assert np.array_equal(r["views"]["model"], np.clip(np.round(out * 255), 0, 255).astype(np.uint8))
    # a Y model on the RGB variant: Y from the LR Y, Cb/Cr of the bicubic image
    r = evaluate_image(hr, 3, y_model, rgb=True, images=True)
    ycc = rgb2ycbcr(degrade(gt, 3)[1])
    ycc[:, :, 0] = forward_array(y_model, rgb2ycbcr(lr)[:, :, 0])
    assert np.array_equal(r["views"]["model"], np.clip(np.round(ycbcr2rgb(ycc) * 255), 0, 255).astype(np.uint8))
    assert set(r["views"]) == {"bicubic", "model", "gt"} and r["views"]["model"].shape == (36, 39, 3)
    with pytest.raises(SRCNNError, match="upscales by 3"):
        evaluate_image(hr, 2, y_model)


@pytest.mark.parametrize("make", [tiny_model, lambda: lr_model(scale=2)])
def test_self_ensemble_is_a_separate_result(make_image, make):
    hr = make_image(34, 30, 3, seed=9)
    model = make()
    r = evaluate_image(hr, 2, model, self_ensemble=True, images=True)
    assert r["model"] == evaluate_image(hr, 2, model)["model"]
    gt = hr_y(hr, 2)
    x = imresize(gt, 0.5) if model.upscale > 1 else degrade(gt, 2)[1]
    assert r["ensemble"] == score(forward_array(model, x, ensemble=True).astype(np.float64), gt, 2)
    assert r["ensemble"] != r["model"]
    assert set(r["views"]) == {"bicubic", "model", "ensemble", "gt"}
    assert "ensemble" not in evaluate_image(hr, 2, model)


def test_too_small_image(make_image):
    with pytest.raises(SRCNNError, match="too small to score at x4"):
        evaluate_image(make_image(16, 16, 3), 4, None)


def test_evaluate_set_rows_and_files(set_dir, tmp_path):
    seen = []
    rows = evaluate_set(set_dir, 2, tiny_model(), method="SRCNN 5-3-3", checkpoint="c.pt", sha256="ab",
                        save_dir=tmp_path / "save", compare_dir=tmp_path / "cmp",
                        progress=lambda name, r: seen.append(name))
    assert seen == ["a", "b"]
    bic, sr = rows
    assert bic["method"] == "bicubic" and bic["checkpoint"] is None and bic["sha256"] is None
    assert sr["method"] == "SRCNN 5-3-3" and sr["checkpoint"] == "c.pt" and sr["sha256"] == "ab"
    for row in rows:
        assert row["set"] == "Tiny" and row["scale"] == 2 and row["protocol"] == "srcnn-y"
        assert [i["name"] for i in row["images"]] == ["a", "b"] and row["count"] == 2
        assert row["psnr"] == pytest.approx(np.mean([i["psnr"] for i in row["images"]]))
        assert row["ssim"] == pytest.approx(np.mean([i["ssim"] for i in row["images"]]))
    out = tmp_path / "save" / "Tiny" / "x2"
    assert sorted(p.name for p in out.iterdir()) == ["a_bicubic.png", "a_srcnn-5-3-3.png",
                                                     "b_bicubic.png", "b_srcnn-5-3-3.png"]
    assert read_image(out / "a_srcnn-5-3-3.png").shape == (40, 46, 3)
    assert read_image(out / "b_bicubic.png").shape == (38, 36)
    cmp = read_image(tmp_path / "cmp" / "Tiny" / "x2" / "a_compare.png")
    assert cmp.ndim == 3 and cmp.shape[1] == 3 * 2 * 40 + 2 * 4   # 3 crops of 40 px, zoom 2, 2 gaps


def test_evaluate_set_self_ensemble_rows_and_files(set_dir, tmp_path):
    rows = evaluate_set(set_dir, 2, tiny_model(), method="srcnn-5-3-3", checkpoint="c.pt", sha256="ab",
                        self_ensemble=True, save_dir=tmp_path / "save", compare_dir=tmp_path / "cmp")
    assert [r["method"] for r in rows] == ["bicubic", "srcnn-5-3-3", "srcnn-5-3-3+se"]
    se = rows[2]
    assert se["checkpoint"] == "c.pt" and se["sha256"] == "ab" and se["count"] == 2
    assert se["psnr"] != rows[1]["psnr"]
    assert se["psnr"] == pytest.approx(np.mean([i["psnr"] for i in se["images"]]))
    out = tmp_path / "save" / "Tiny" / "x2"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("a_")) == [
        "a_bicubic.png", "a_srcnn-5-3-3-se.png", "a_srcnn-5-3-3.png"]
    cmp = read_image(tmp_path / "cmp" / "Tiny" / "x2" / "a_compare.png")
    assert cmp.shape[1] == 4 * 2 * 40 + 3 * 4   # bicubic | model | model+se | ground truth


def test_evaluate_set_bicubic_only_and_errors(set_dir, tmp_path):
    rows = evaluate_set(set_dir, 3, None)
    assert len(rows) == 1 and rows[0]["method"] == "bicubic"
    (tmp_path / "empty").mkdir()
    with pytest.raises(SRCNNError, match="empty: no images"):
        evaluate_set(tmp_path / "empty", 3, None)
    (set_dir / "c.png").write_bytes(b"junk")
    with pytest.raises(SRCNNError, match=r"c\.png: not an image"):
        evaluate_set(set_dir, 3, None)


def test_side_by_side_and_best_crop():
    a = np.zeros((10, 12, 3), np.uint8)
    pic = side_by_side([a, a[:, :, 0], a], ["x", "y", "a very long label that must shrink"], zoom=2)
    assert pic.shape == (22 + 20, 3 * 24 + 2 * 4, 3)
    gt = np.zeros((40, 50))
    bic = np.full((40, 50), 20.0)
    sr = bic.copy()
    sr[25:35, 30:40] = 0  # the model is right only there
    top, left, side = best_crop(bic, sr, gt, 10)
    assert (top, left, side) == (25, 30, 10)
    assert best_crop(bic, sr, gt, 100)[2] == 40


def test_slug():
    assert slug("SRCNN 9-5-5 (authors)") == "srcnn-9-5-5-authors"
    assert slug("!!") == "model"


@pytest.mark.usefixtures("light_training")
@pytest.mark.parametrize("channels, name, args", [
    (1, "srcnn", []),                        # the paper's SRCNN: trained without padding, validated with replicate
    (3, "srcnn", []),                        # an RGB model: the grey image's Y is the mean of its output planes
    (1, "fsrcnn", ["d=8", "s=4", "m=1"]),    # an LR-input model
], ids=["srcnn-y", "srcnn-rgb", "fsrcnn"])
def test_checkpoint_best_scores_what_evaluate_reports(tmp_path, make_image, channels, name, args):
    """train.py's validation of checkpoint.best (--val-set) and evaluate.py's report on the same images agree
    to the bit: checkpoint.best is chosen by the code that evaluate.py reports with."""
    import json
    from h5fixtures import write_patches
    from srcnn.checkpoint import load_checkpoint
    from srcnn.cli.evaluate import main
    from srcnn.cli.train import build_trainer
    from srcnn.config import TrainConfig
    folder = tmp_path / "Val"
    folder.mkdir()
    write_image(folder / "a.png", make_image(30, 33, 3, seed=1))
    write_image(folder / "b.png", make_image(28, 26, 0, seed=2))   # greyscale
    lr_input = name != "srcnn"
    data = write_patches(tmp_path / "t.h5", n=32, chunk=8, channels=channels, scales=(2,), val_images=0,
                         **({"input": "lr"} if lr_input else {"patch": 11}))
    srcnn = {} if lr_input else dict(filters="3-1-3", n1=8, n2=4)
    cfg = TrainConfig(data=str(data), out_dir=str(tmp_path / "ck"), model=name, model_arg=args, **srcnn,
                      batch_size=8, num_epoch=2, save_freq=1, lr=1e-3, precision="fp32", val_set=str(folder))
    assert build_trainer(cfg, log=lambda *a: None).run() == 0
    ck = load_checkpoint(tmp_path / "ck" / "checkpoint.best")
    (trained,) = [h for h in ck["history"] if h["epoch"] == ck["best"]["epoch"]]
    assert trained["val_psnr"] == ck["best"]["val_psnr"] and trained["val_ssim"] is not None
    if name == "srcnn":
        assert ck["model"]["padding"] == "none"
    assert main(["--set", str(folder), "--checkpoint", str(tmp_path / "ck" / "checkpoint.best"), "--scale", "2",
                 "--device", "cpu", "--json", str(tmp_path / "r.json")]) == 0
    bicubic, row = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert row["count"] == 2
    assert (row["psnr"], row["ssim"]) == (trained["val_psnr"], trained["val_ssim"])
