"""srcnn.inference: colour handling, dtypes, alpha, and tiled == untiled exactly; srcnn.sample."""
import numpy as np
import pytest
import torch
from torch import nn

from srcnn import inference
from srcnn.color import rgb2ycbcr, ycbcr2rgb
from srcnn.errors import SRCNNError
from srcnn.models import build_model
from srcnn.inference import BicubicUpscale, forward_array, run_model, super_resolve, tile_size, tiled_forward
from srcnn.resize import imresize
from srcnn.sample import sample_image, sample_lr
from srcnn.weightfiles import load_weights
from srhelpers import identity_model, save_tiny_checkpoint, tiny_model


class TinyLR(nn.Module):
    """A tiny LR-input model (upscale = scale): 3x3 conv (zero padding) -> ReLU -> either a sub-pixel
    conv (3x3 to C*s*s maps, PixelShuffle) or a 9x9 transposed conv of stride s, plus the nearest-
    neighbour upscale of the input (so outputs look like images)."""

    def __init__(self, scale: int = 3, channels: int = 1, up: str = "subpixel", seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.channels, self.upscale, self.scale = channels, scale, scale
        self.conv = nn.Conv2d(channels, 5, 3, padding=1)
        if up == "subpixel":
            self.up = nn.Sequential(nn.Conv2d(5, channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale))
            self.shrink = 2
        else:  # output (n-1)*s - 2p + 9 + op = n*s
            op = (9 - scale) % 2
            self.up = nn.ConvTranspose2d(5, channels, 9, stride=scale, padding=(9 - scale + op) // 2,
                                         output_padding=op)
            self.shrink = 1 + 2
        with torch.no_grad():
            for prm in self.parameters():
                prm.mul_(0.3)

    def forward(self, x):
        near = x.repeat_interleave(self.scale, 2).repeat_interleave(self.scale, 3)
        return near + self.up(torch.relu(self.conv(x)))


def full_pass(model, x: np.ndarray) -> np.ndarray:
    """The untiled reference: (H,W,C) float -> the model on the whole image at once, (H,W,C) float32
    (through run_model, which picks the same kernels for any size; a plain model(x) agrees to ~1e-7)."""
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))[None]
    with torch.no_grad():
        out = run_model(model, t)[0]
        assert torch.allclose(out, model(t)[0], atol=1e-5)
        return out.permute(1, 2, 0).numpy()


def q(x, dtype=np.uint8):
    return np.floor(np.clip(x, 0, 1) * np.iinfo(dtype).max + 0.5).astype(dtype)


def reference_sr(img: np.ndarray, model, scale: int) -> np.ndarray:
    """super_resolve written out plainly (no tiles): bicubic of the whole image, the network on it."""
    top = np.iinfo(img.dtype).max
    f = img.astype(np.float64) / top
    lr_input = getattr(model, "upscale", 1) > 1
    if f.ndim == 2:
        return q(full_pass(model, (f if lr_input else imresize(f, scale))[:, :, None])[:, :, 0], img.dtype)
    ycc = rgb2ycbcr(f[:, :, :3])
    up = imresize(ycc, scale)
    y = full_pass(model, (ycc if lr_input else up)[:, :, :1]).astype(np.float64)
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


# ---------------------------------------------------------------- LR-input models (upscale > 1)

@pytest.mark.parametrize("up", ["subpixel", "deconv"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_model_tiled_equals_full_pass_exactly(up, scale):
    model = TinyLR(scale, up=up).eval()
    x = np.random.default_rng(scale).random((23, 31))
    ref = full_pass(model, x[:, :, None])[:, :, 0]
    assert ref.shape == (23 * scale, 31 * scale)
    for tile in (scale, 2 * scale + 1, 20, 0, None):   # output pixels: input tiles of 1, 2, ... LR pixels
        out = forward_array(model, x, tile=tile)
        assert out.shape == ref.shape and np.array_equal(out, ref), (tile, np.abs(out - ref).max())


@pytest.mark.parametrize("name, kwargs", [("fsrcnn", dict(scale=3)), ("fsrcnn-s", dict(scale=2)),
                                          ("espcn", dict(scale=4, n1=16, n2=8)),
                                          ("vdsr", dict(depth=5, features=8))])
def test_registered_models_tile_exactly(name, kwargs):
    """Random weights; an input over ONEDNN_MIN_ELEMENTS pixels, so the one pass and the tiles run on
    different batch sizes and the kernels must still agree bit for bit."""
    torch.manual_seed(0)
    model = build_model(name, **kwargs).eval()
    for p in model.parameters():   # paper-like magnitudes everywhere (PyTorch's default deconv is tiny)
        torch.nn.init.normal_(p, 0.0, 0.2)
    u = model.upscale
    x = np.random.default_rng(5).random((151, 140))
    ref = forward_array(model, x, tile=0)
    assert ref.shape == (151 * u, 140 * u)
    assert not np.allclose(ref[:, :, None] if ref.ndim == 2 else ref, 0)
    for tile in (24 * u, 100 * u):
        assert np.array_equal(forward_array(model, x, tile=tile), ref), tile


@pytest.mark.parametrize("up", ["subpixel", "deconv"])
def test_lr_tiling_needs_the_margin(up, monkeypatch):
    model = TinyLR(2, up=up).eval()
    x = np.random.default_rng(1).random((20, 20))
    monkeypatch.setattr(inference, "_margin", lambda m: 0)
    assert not np.array_equal(forward_array(model, x, tile=16), full_pass(model, x[:, :, None])[:, :, 0])


def test_lr_tiles_cover_the_output_once():
    model = TinyLR(3).eval()
    seen = np.zeros((30, 42), int)
    region = lambda r0, r1, c0, c1: np.zeros((r1 - r0, c1 - c0, 3))  # noqa: E731
    for (r0, r1, c0, c1), y, core in tiled_forward(model, region, (10, 14), tile=12):   # LR tiles of 4
        seen[r0:r1, c0:c1] += 1
        assert y.shape == (r1 - r0, c1 - c0, 1) and core.shape == ((r1 - r0) // 3, (c1 - c0) // 3, 3)
        assert (r0 % 12, c0 % 12) == (0, 0)
    assert (seen == 1).all()


@pytest.mark.parametrize("layout", ["rgb", "rgba", "gray"])
@pytest.mark.parametrize("up", ["subpixel", "deconv"])
def test_lr_super_resolve_tiled_equals_the_plain_recipe(layout, up, make_image):
    """Y from the LR Y through the network, Cb/Cr (and alpha) MATLAB-bicubic upscaled."""
    model = TinyLR(3, up=up).eval()
    img = make_image(17, 22, {"rgb": 3, "rgba": 4, "gray": 0}[layout], seed=6)
    ref = reference_sr(img, model, 3)
    assert ref.shape[:2] == (51, 66)
    for tile in (0, 4, 13, 30, None):
        assert np.array_equal(super_resolve(img, model, 3, tile=tile), ref), tile


def test_lr_rgb_model_with_alpha_and_16bit(make_image):
    model = TinyLR(2, channels=3).eval()
    img = make_image(9, 11, 4, seed=8)
    out = super_resolve(img, model, 2, tile=6)
    assert out.shape == (18, 22, 4)
    assert np.array_equal(out[:, :, :3], q(full_pass(model, img[:, :, :3] / 255.0)))
    assert np.array_equal(out[:, :, 3], q(imresize(img[:, :, 3] / 255.0, 2)))
    img16 = img[:, :, :3].astype(np.uint16) * 257
    out16 = super_resolve(img16, model, 2, tile=5)
    ref16 = q(full_pass(model, img16 / 65535.0).astype(np.float64), np.uint16)
    assert out16.dtype == np.uint16 and np.array_equal(out16, ref16)
    assert super_resolve(img[:, :, 0], model, 2).shape == (18, 22)   # grey through an RGB model


def test_lr_model_for_another_scale_is_refused(make_image):
    with pytest.raises(SRCNNError, match="upscales by 3 .* cannot super-resolve x2"):
        super_resolve(make_image(8, 8, 3), TinyLR(3).eval(), 2)


def test_output_of_the_wrong_size_is_an_error():
    model = TinyLR(2).eval()
    model.upscale = 3   # says x3, computes x2
    with pytest.raises(SRCNNError, match="not 3 times larger"):
        forward_array(model, np.zeros((6, 6)))


# ---------------------------------------------------------------- self-ensemble

def _dihedral_mean(model, x: np.ndarray) -> np.ndarray:
    """The 8 flips/rotations in numpy: (H,W) -> mean of T^-1(model(T(x)))."""
    outs = []
    for k in range(4):
        for flip in (False, True):
            t = np.rot90(x, k)
            t = t[:, ::-1] if flip else t
            y = full_pass(model, np.ascontiguousarray(t)[:, :, None])[:, :, 0]
            y = y[:, ::-1] if flip else y
            outs.append(np.rot90(y, -k))
    return np.mean(outs, axis=0)


@pytest.mark.parametrize("make", [lambda: tiny_model(), lambda: TinyLR(2, up="deconv").eval()])
def test_self_ensemble_is_the_mean_of_8_transforms_and_tiles_exactly(make):
    model = make()
    x = np.random.default_rng(2).random((21, 26))
    plain = forward_array(model, x, tile=0)
    ens = forward_array(model, x, tile=0, ensemble=True)
    assert ens.shape == plain.shape and not np.allclose(ens, plain, atol=1e-4)
    assert np.allclose(ens, _dihedral_mean(model, x), atol=1e-5)
    for tile in (6, 10, 17):
        assert np.array_equal(forward_array(model, x, tile=tile, ensemble=True), ens), tile
    # the ensemble commutes with the flips and rotations of its input (up to float rounding)
    assert np.allclose(forward_array(model, np.ascontiguousarray(x[:, ::-1]), tile=0, ensemble=True), ens[:, ::-1],
                       atol=1e-5)


def test_self_ensemble_super_resolve(make_image):
    img = make_image(13, 15, 3, seed=9)
    for model in (tiny_model(), TinyLR(3).eval()):
        ens = super_resolve(img, model, 3, tile=0, ensemble=True)
        assert ens.shape == (39, 45, 3)
        assert np.array_equal(super_resolve(img, model, 3, tile=7, ensemble=True), ens)
        assert not np.array_equal(ens, super_resolve(img, model, 3))
    x = torch.rand(1, 1, 9, 7)
    assert torch.allclose(run_model(identity_model(), x, ensemble=True), identity_model()(x), atol=1e-6)


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


def test_model_trained_without_padding_runs_full_size(tmp_path, make_image):
    path = save_tiny_checkpoint(tmp_path / "c.pt", padding="none")
    model = load_weights(path, 3).model
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


# ---------------------------------------------------------------- numeric path (--precision)

def _conv_dtypes(model) -> list:
    """Records the output dtype of every (transposed) convolution of ``model`` in the returned list."""
    seen = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.register_forward_hook(lambda mod, i, o: seen.append(o.dtype))
    return seen


def test_fp32_precision_is_the_reference_bit_for_bit(make_image):
    """precision="fp32" (the default) is the float32 path: the plain recipe and every tile size, bit for
    bit; the same after a bfloat16 run of the same model."""
    model = tiny_model()
    img = make_image(19, 26, 3, seed=3)
    ref = reference_sr(img, model, 3)
    for tile in (0, 20, None):
        assert np.array_equal(super_resolve(img, model, 3, tile=tile, precision="fp32"), ref), tile
    super_resolve(img, model, 3, precision="bf16")
    assert np.array_equal(super_resolve(img, model, 3, tile=30), ref)   # the model is left as it was
    lr = TinyLR(3, up="deconv").eval()
    x = np.random.default_rng(4).random((17, 20))
    full = full_pass(lr, x[:, :, None])[:, :, 0]
    for tile in (0, 27):
        assert np.array_equal(forward_array(lr, x, tile=tile, precision="fp32"), full), tile


@pytest.mark.parametrize("make", [lambda: tiny_model(), lambda: TinyLR(3, up="subpixel").eval(),
                                  lambda: TinyLR(3, up="deconv").eval()], ids=["srcnn", "subpixel", "deconv"])
def test_bf16_is_computed_in_bfloat16_close_to_fp32_and_tiles(make, make_image):
    model = make()
    seen = _conv_dtypes(model)
    img = make_image(19, 26, 3, seed=3)
    fp32 = super_resolve(img, model, 3, tile=0).astype(int)
    assert set(seen) == {torch.float32}
    seen.clear()
    weights = [(p.data_ptr(), p.stride()) for p in model.parameters()]
    for tile in (0, 30, None):   # one pass and tiles: bfloat16 everywhere, a few grey levels off
        out = super_resolve(img, model, 3, tile=tile, precision="bf16")
        assert out.dtype == np.uint8 and out.shape == fp32.shape
        assert seen and set(seen) == {torch.bfloat16}, tile
        diff = np.abs(out.astype(int) - fp32)
        assert diff.max() <= 3 and diff.mean() < 0.5, (tile, diff.max(), diff.mean())
        seen.clear()
    ens = super_resolve(img, model, 3, tile=40, ensemble=True, precision="bf16")
    assert np.abs(ens.astype(int) - super_resolve(img, model, 3, ensemble=True)).max() <= 3
    y = forward_array(model, img[:, :, 0] / 255.0, tile=12, precision="bf16")
    assert y.dtype == np.float32        # back in float32 before clamping / quantising
    assert [(p.data_ptr(), p.stride()) for p in model.parameters()] == weights


def test_auto_precision_follows_the_hardware(make_image, monkeypatch):
    from srcnn import precision
    model = tiny_model()
    seen = _conv_dtypes(model)
    img = make_image(12, 14, 3)
    monkeypatch.setattr(precision, "onnxruntime_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: True)    # AMX / AVX-512 BF16
    super_resolve(img, model, 3, precision="auto")
    assert set(seen) == {torch.bfloat16}
    seen.clear()
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: False)   # float32 channels-last
    out = super_resolve(img, model, 3, precision="auto")
    assert set(seen) == {torch.float32}
    assert np.abs(out.astype(int) - super_resolve(img, model, 3)).max() <= 1
    with pytest.raises(SRCNNError, match="must be one of auto, fp32, bf16, ort"):
        super_resolve(img, model, 3, precision="fp16")


def test_non_finite_weights_output_and_input_are_refused(tmp_path, make_image, capsys):
    """A checkpoint with one NaN weight or an inf bias (valid digest) is refused at load with one line
    naming the file (it would give an all-black or all-white image); finite weights that overflow give an
    error, not an image; NaN/inf or 0..255 float input to the API is refused."""
    import srcnn
    from srcnn.checkpoint import load_checkpoint, save_checkpoint
    from srcnn.cli.super_resolve import main as sr_cli
    from srcnn.cli.train import main as train_cli
    from srcnn.images import write_image
    from srhelpers import save_tiny_checkpoint
    ck = load_checkpoint(save_tiny_checkpoint(tmp_path / "good.pt"))
    img = make_image(8, 9, 3)
    write_image(tmp_path / "a.png", img)
    for name, key, value in (("nan.pt", "conv2.weight", float("nan")), ("inf.pt", "conv3.bias", float("inf"))):
        sd = {k: v.clone() for k, v in ck["state_dict"].items()}
        sd[key].view(-1)[0] = value
        path = save_checkpoint({**ck, "state_dict": sd}, tmp_path / name)
        for call in (lambda: srcnn.load(path), lambda: load_checkpoint(path)):
            with pytest.raises(SRCNNError, match=rf"{name}: the state_dict tensor '{key}' holds NaN or infinite"):
                call()
        assert sr_cli(["--checkpoint", str(path), str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png")]) == 2
        assert train_cli(["inspect", str(path)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 2 and all("NaN or infinite" in e for e in err), err
    sd = {k: v * 1e30 for k, v in ck["state_dict"].items()}   # finite, but float32 overflows
    path = save_checkpoint({**ck, "state_dict": sd}, tmp_path / "huge.pt")
    with pytest.raises(SRCNNError, match="the network's output holds NaN or infinite values"):
        srcnn.load(path)(img)
    assert sr_cli(["--checkpoint", str(path), str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "a.png: the network's output holds NaN" in err and "memory" not in err
    assert not (tmp_path / "o.png").exists()
    sr = srcnn.load(tmp_path / "good.pt")
    f = img.astype(np.float32) / 255
    assert sr(f).dtype == np.float32
    for bad, what in ((np.where(f > 0.5, np.nan, f), "NaN or infinite"), (f * np.inf, "NaN or infinite"),
                      (img.astype(np.float64), r"values in \[0, 1\]; got values up to 2\d\d")):
        with pytest.raises(SRCNNError, match=what):
            sr(bad)
        with pytest.raises(SRCNNError, match=what):
            sr(torch.from_numpy(bad).permute(2, 0, 1).contiguous())


def test_a_model_returning_other_channels_is_one_line(make_image):
    """A network whose output has other channels than its input (an exported graph that does not match
    its metadata) is an SRCNNError, not a numpy broadcast error."""
    class Wrong(torch.nn.Module):
        channels, upscale, shrink = 1, 1, 0

        def forward(self, x):
            return torch.cat([x, x], 1)
    with pytest.raises(SRCNNError, match=r"turned a 1-channel input into an output of shape \(2, \d+, \d+\)"):
        super_resolve(make_image(6, 7, 3), Wrong().eval(), 2)
