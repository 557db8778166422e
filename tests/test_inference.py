"""srcnn.inference: colour handling, dtypes, alpha, and tiled == untiled exactly; srcnn.sample."""
import numpy as np
import pytest
import torch

from srcnn import inference
from srcnn.color import rgb2ycbcr, ycbcr2rgb
from srcnn.errors import SRCNNError
from srcnn.imresize import imresize
from srcnn.inference import (BicubicUpscale, forward_array, load_for_scale, resolve_device, super_resolve,
                             tile_size, tiled_forward)
from srcnn.sample import sample_image, sample_lr
from srhelpers import identity_model, save_tiny_checkpoint, tiny_model


def full_pass(model, x: np.ndarray) -> np.ndarray:
    """The untiled reference: (H,W,C) float -> the model on the whole image at once, (H,W,C) float32."""
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))[None]
    with torch.no_grad():
        return model(t)[0].permute(1, 2, 0).numpy()


def q(x, dtype=np.uint8):
    return np.floor(np.clip(x, 0, 1) * np.iinfo(dtype).max + 0.5).astype(dtype)


def reference_sr(img: np.ndarray, model, scale: int) -> np.ndarray:
    """super_resolve written out plainly (no tiles): bicubic of the whole image, the network on it."""
    top = np.iinfo(img.dtype).max
    f = img.astype(np.float64) / top
    if f.ndim == 2:
        return q(full_pass(model, imresize(f, scale)[:, :, None])[:, :, 0], img.dtype)
    up = imresize(rgb2ycbcr(f[:, :, :3]), scale)
    y = full_pass(model, up[:, :, :1]).astype(np.float64)
    out = q(ycbcr2rgb(np.concatenate([y, up[:, :, 1:]], axis=2)), img.dtype)
    if f.shape[2] == 4:
        out = np.concatenate([out, q(imresize(f[:, :, 3], scale), img.dtype)[:, :, None]], axis=2)
    return out


# ---------------------------------------------------------------- bicubic regions

@pytest.mark.parametrize("h, w, s", [(37, 53, 3), (20, 41, 2), (33, 16, 4), (5, 7, 3)])
def test_bicubic_regions_are_bit_identical_to_imresize(h, w, s):
    img = np.random.default_rng(h).random((h, w, 3))
    full = imresize(img, s)
    up = BicubicUpscale(img, s)
    assert up.shape == full.shape[:2]
    H, W = full.shape[:2]
    regions = [(0, H, 0, W), (5, 17, 9, 19), (0, 7, W - 11, W), (H - 3, H, 0, 1), (H // 2, H // 2 + 1, 3, W)]
    for r0, r1, c0, c1 in regions:
        assert np.array_equal(up(r0, r1, c0, c1), full[r0:r1, c0:c1]), (r0, r1, c0, c1)


# ---------------------------------------------------------------- tiled == untiled

@pytest.mark.parametrize("padding", ["replicate", "zeros"])
@pytest.mark.parametrize("tile", [3, 4, 7, 16, 29, 1000])
def test_tiled_network_equals_full_pass_exactly(padding, tile):
    model = tiny_model(padding=padding)
    x = np.random.default_rng(0).random((45, 58))
    ref = full_pass(model, x[:, :, None])[:, :, 0]
    out = forward_array(model, x, tile=tile)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert np.array_equal(out, ref), np.abs(out - ref).max()


@pytest.mark.parametrize("padding", ["replicate", "zeros"])
def test_tiling_needs_the_margin(padding, monkeypatch):
    """The check above can fail: without the receptive-field margin the tile seams differ."""
    model = tiny_model(padding=padding)
    x = np.random.default_rng(0).random((40, 40))
    monkeypatch.setattr(inference, "_margin", lambda m: 0)
    assert not np.array_equal(forward_array(model, x, tile=16), full_pass(model, x[:, :, None])[:, :, 0])


@pytest.mark.parametrize("padding", ["replicate", "zeros"])
@pytest.mark.parametrize("layout", ["rgb", "rgba", "gray"])
def test_super_resolve_tiled_equals_untiled_and_the_plain_recipe(padding, layout, make_image):
    model = tiny_model(padding=padding)
    c = {"rgb": 3, "rgba": 4, "gray": 0}[layout]
    img = make_image(19, 26, c, seed=3)
    ref = reference_sr(img, model, 3)
    whole = super_resolve(img, model, 3, tile=0)
    assert np.array_equal(whole, ref)
    for tile in (5, 13, 32, None):
        assert np.array_equal(super_resolve(img, model, 3, tile=tile), ref), tile


def test_tiles_cover_the_image_once():
    model = tiny_model()
    seen = np.zeros((30, 41), int)
    region = lambda r0, r1, c0, c1: np.zeros((r1 - r0, c1 - c0, 1))  # noqa: E731
    n = 0
    for (r0, r1, c0, c1), y, core in tiled_forward(model, region, (30, 41), tile=8):
        seen[r0:r1, c0:c1] += 1
        assert y.shape == core.shape == (r1 - r0, c1 - c0, 1)
        n += 1
    assert n == 4 * 6 and (seen == 1).all()


def test_tile_size():
    assert tile_size(None, "cpu") == inference.AUTO_TILE["cpu"]
    assert tile_size(None, torch.device("cuda")) == inference.AUTO_TILE["cuda"]
    assert tile_size(0, "cpu") == 0 and tile_size(64, "cpu") == 64
    with pytest.raises(SRCNNError, match="--tile -3"):
        tile_size(-3, "cpu")


# ---------------------------------------------------------------- colour, layouts, dtypes

def test_identity_network_gives_matlab_bicubic(make_image):
    """Y through the network, Cb/Cr bicubic: with a pass-through network the result is plain bicubic."""
    img = make_image(16, 21, 3, seed=1)
    out = super_resolve(img, identity_model(), 2)
    bic = q(imresize(img.astype(np.float64) / 255, 2))
    assert out.shape == (32, 42, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - bic).max() <= 1 and np.mean(out != bic) < 0.01


def test_three_channel_model_runs_on_rgb(make_image):
    img = make_image(12, 15, 3, seed=2)
    model = tiny_model(channels=3)
    out = super_resolve(img, model, 2, tile=7)
    up = imresize(img.astype(np.float64) / 255, 2)
    assert np.array_equal(out, q(full_pass(model, up)))
    gray = super_resolve(img[:, :, 0], model, 2)  # grey through an RGB model: stays grey
    assert gray.ndim == 2 and gray.shape == (24, 30)
    assert np.array_equal(super_resolve(img, identity_model(3), 2), q(up))


def test_gray_stays_gray_and_single_channel_keeps_its_axis(make_image):
    g = make_image(14, 17, 0)
    model = tiny_model()
    out = super_resolve(g, model, 3)
    assert out.shape == (42, 51) and out.dtype == np.uint8
    assert np.array_equal(super_resolve(g[:, :, None], model, 3), out[:, :, None])


def test_alpha_is_upscaled_and_kept(make_image):
    img = make_image(10, 12, 4, seed=4)
    img[:, :6, 3] = 0
    img[:, 6:, 3] = 255
    out = super_resolve(img, tiny_model(), 2, tile=5)
    assert out.shape == (20, 24, 4)
    assert np.array_equal(out[:, :, 3], q(imresize(img[:, :, 3].astype(np.float64) / 255, 2)))
    assert (out[:, :8, 3] == 0).all() and (out[:, 16:, 3] == 255).all()
    assert np.array_equal(out[:, :, :3], super_resolve(img[:, :, :3], tiny_model(), 2))


@pytest.mark.parametrize("c", [0, 3, 4])
def test_16bit_in_16bit_out(make_image, c):
    img8 = make_image(11, 13, c, seed=5)
    img16 = img8.astype(np.uint16) * 257
    model = tiny_model()
    out16 = super_resolve(img16, model, 2)
    out8 = super_resolve(img8, model, 2)
    assert out16.dtype == np.uint16 and out16.shape == out8.shape
    assert np.array_equal(out16, reference_sr(img16, model, 2))
    assert np.abs(out16 / 257.0 - out8).max() <= 0.51 + 1e-9
    assert len(np.unique(out16 % 257)) > 1  # real 16-bit precision, not 8-bit values scaled


@pytest.mark.parametrize("shape, dtype, match", [
    ((1, 1, 3), np.uint8, "only 1x1 pixels"), ((1, 9), np.uint8, "only 9x1 pixels"),
    ((0, 5, 3), np.uint8, "only 5x0 pixels"), ((4, 4, 3), np.float32, "pixel type float32"),
    ((4, 4, 2), np.uint8, "layout"), ((4, 4, 4, 1), np.uint8, "layout")])
def test_bad_arrays(shape, dtype, match):
    with pytest.raises(SRCNNError, match=match):
        super_resolve(np.zeros(shape, dtype), tiny_model(), 2)


def test_model_without_padding_is_refused():
    with pytest.raises(SRCNNError, match="padding 'none'"):
        forward_array(tiny_model(padding="none"), np.zeros((8, 8)))


def test_channel_mismatch():
    with pytest.raises(SRCNNError, match="takes 3 channel"):
        forward_array(tiny_model(channels=3), np.zeros((8, 8)))


# ---------------------------------------------------------------- devices and weights

def test_resolve_device(monkeypatch):
    assert resolve_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(SRCNNError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_bundled_weights_missing_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setattr(inference, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(SRCNNError, match=r"srcnn_x3\.pt is missing\): train them with prepare_data\.py"):
        load_for_scale(None, None, "cpu")


def test_load_for_scale(tmp_path, monkeypatch):
    monkeypatch.setattr(inference, "WEIGHTS_DIR", tmp_path)
    save_tiny_checkpoint(tmp_path / "srcnn_x2.pt", scale=2)
    model, meta, scale = load_for_scale(None, 2, "cpu")
    assert scale == 2 and meta["path"].endswith("srcnn_x2.pt") and not model.training
    multi = save_tiny_checkpoint(tmp_path / "multi.pt", scale=[3, 4])
    assert load_for_scale(multi, None, "cpu")[2] == 3
    assert load_for_scale(multi, 4, "cpu")[2] == 4
    with pytest.raises(SRCNNError, match="trained for scale"):
        load_for_scale(multi, 2, "cpu")
    assert inference.model_name(meta) == "SRCNN 5-3-3"


def test_model_trained_without_padding_runs_full_size(tmp_path, make_image):
    path = save_tiny_checkpoint(tmp_path / "c.pt", padding="none")
    model, meta, _ = load_for_scale(path, 3, "cpu")
    img = make_image(9, 10, 3)
    assert super_resolve(img, model, 3).shape == (27, 30, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_matches_cpu(make_image):
    img = make_image(40, 50, 3, seed=7)
    model = tiny_model()
    cpu = super_resolve(img, model, 3)
    gpu_model = tiny_model().cuda()
    assert np.abs(super_resolve(img, gpu_model, 3).astype(int) - cpu).max() <= 1
    assert np.array_equal(super_resolve(img, gpu_model, 3, tile=0), super_resolve(img, gpu_model, 3, tile=0))


# ---------------------------------------------------------------- the bundled sample

def test_sample_is_deterministic_and_divisible():
    a, b = sample_image(), sample_image()
    assert a.shape == (384, 576, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert a.std() > 40  # not blank: it has content everywhere
    assert all(a[r:r + 192, c:c + 192].std() > 10 for r in (0, 192) for c in (0, 192, 384))
    for s in (2, 3, 4):
        assert sample_lr(s).shape == (384 // s, 576 // s, 3)
    with pytest.raises(ValueError, match="not by 5"):
        sample_lr(5)
