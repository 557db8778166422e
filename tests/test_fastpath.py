"""The fast inference paths: srcnn.fastpath (the network in onnxruntime, FSRCNN without PReLU), the float32
colour and bicubic arithmetic around it, and precision="auto" picking it. Each is checked against the
exact fp32 path within its tolerance (the Set5 cost is the benchmark's: benchmarks/bench_video.py)."""
import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from srcnn import fastpath, precision  # noqa: E402
from srcnn.color import from_planes, to_planes  # noqa: E402
from srcnn.inference import BicubicUpscale, forward_array, super_resolve, tile_size  # noqa: E402
from srcnn.models import build_model  # noqa: E402
from srcnn.precision import FP32, ORT  # noqa: E402
from srcnn.resize import imresize, upscale_float32  # noqa: E402
from srhelpers import tiny_model  # noqa: E402


def fsrcnn(single_slope: bool = False):
    """A small FSRCNN x3 whose PReLU slopes span negative, (0,1) and > 1 values."""
    torch.manual_seed(1)
    m = build_model("fsrcnn", scale=3, d=8, s=4, m=2).eval()
    with torch.no_grad():
        for p in m.modules():
            if isinstance(p, torch.nn.PReLU):
                if single_slope:
                    p.weight = torch.nn.Parameter(torch.tensor([1.7]))
                else:
                    p.weight.copy_(torch.linspace(-1.5, 2.5, p.weight.numel()))
    return m


@pytest.mark.parametrize("single_slope", [False, True])
def test_relu_form_is_fsrcnn_without_prelu(single_slope):
    m = fsrcnn(single_slope)
    form = fastpath.relu_form(m)
    assert not any(isinstance(x, torch.nn.PReLU) for x in form.modules())
    x = torch.rand(2, 1, 13, 17)
    with torch.no_grad():
        assert torch.allclose(form(x), m(x), atol=1e-5)
    assert (form.channels, form.upscale, form.shrink, form.config()) == (1, 3, m.shrink, m.config())
    assert fastpath.relu_form(tiny_model()).__class__.__name__ == "SRCNN"   # others export as they are


def test_onnx_twin_is_cached_per_parameter_state():
    m = build_model("espcn", scale=2, n1=8, n2=4).eval()
    twin = fastpath.onnx_twin(m)
    assert twin.runtime == "onnxruntime" and fastpath.onnx_twin(m) is twin
    x = torch.rand(1, 1, 10, 12)
    with torch.no_grad():
        assert torch.allclose(twin(x), m(x), atol=1e-5)
        m.conv1.weight.mul_(2)              # in place: a new version, a new twin
        again = fastpath.onnx_twin(m)
        assert again is not twin and torch.allclose(again(x), m(x), atol=1e-5)


def test_onnx_twin_threads_sleep_between_calls():
    twin = fastpath.onnx_twin(build_model("espcn", scale=2, n1=8, n2=4).eval())
    opts = twin.session.get_session_options()
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_float32_bicubic_and_colour_match_matlab_arithmetic():
    rng = np.random.default_rng(0)
    for shape, s in (((2, 5), 2), ((9, 7, 2), 3), ((6, 11, 4), 4), ((5, 6, 1), 3)):
        x = rng.random(shape)
        pad = [(2, 2), (2, 2)] + [(0, 0)] * (x.ndim - 2)
        up = upscale_float32(np.pad(x, pad, mode="symmetric").astype(np.float32), s)
        assert up.dtype == np.float32 and np.abs(up - imresize(x, s)).max() < 1e-6, (shape, s)
    img = rng.random((13, 10, 4))
    exact, fast = BicubicUpscale(img, 3), BicubicUpscale(img.astype(np.float32), 3)
    for box in ((0, 39, 0, 30), (4, 20, 7, 29), (38, 39, 1, 2)):   # regions at any offset
        a, b = exact(*box), fast(*box)
        assert b.dtype == np.float32 and a.shape == b.shape and np.abs(a - b).max() < 1e-6, box
    assert fast(0, 39, 0, 30).shape == (39, 30, 4) and BicubicUpscale(img[:, :, :0].astype(np.float32), 3)(0, 6, 0, 6).shape == (6, 6, 0)
    p64, p32 = to_planes(img, 1), to_planes(img.astype(np.float32), 1)
    assert p32.dtype == np.float32 and np.abs(p64 - p32).max() < 1e-6
    (c64, a64), (c32, a32) = from_planes(p64[:, :, :1], p64[:, :, 1:], False), from_planes(p32[:, :, :1], p32[:, :, 1:], False)
    assert c32.dtype == np.float32 and np.abs(c64 - c32).max() < 1e-6 and np.abs(a64 - a32).max() < 1e-6


@pytest.mark.parametrize("make", [lambda: tiny_model(), lambda: fsrcnn()], ids=["srcnn", "fsrcnn"])
@pytest.mark.parametrize("layout", [(3,), (4,), ()])
def test_ort_path_is_close_to_fp32(make, layout, make_image):
    """The "ort" path (onnxruntime, float32 colour) within one grey level of the exact path, for RGB,
    RGBA and grey, 8 and 16 bits, tiled or not; the model itself is never run."""
    model = make()
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    img = make_image(17, 23, *layout, seed=2)
    ref = super_resolve(img, model, 3).astype(int)
    fastpath.onnx_twin(model)             # the export runs the model (tracing, its check)
    calls.clear()
    for tile in (0, 24, None):
        out = super_resolve(img, model, 3, tile=tile, precision="ort")
        assert out.dtype == np.uint8 and out.shape == ref.shape
        d = np.abs(out.astype(int) - ref)
        assert d.max() <= 1 and d.mean() < 0.05, (tile, d.max(), d.mean())
    assert not calls
    img16 = img.astype(np.uint16) * 257
    d16 = np.abs(super_resolve(img16, model, 3, precision="ort").astype(int) - super_resolve(img16, model, 3))
    assert d16.max() <= 257 and d16.mean() < 20
    x = img.astype(np.float64) / 255
    y = forward_array(model, x[:, :, 0] if x.ndim == 3 else x, precision=ORT)
    assert y.dtype == np.float32


def test_auto_is_the_onnxruntime_path_and_fast_tiles(monkeypatch, make_image):
    monkeypatch.setattr(precision, "onnxruntime_available", lambda: True)
    model = fsrcnn()
    img = make_image(12, 14, 3)
    auto = super_resolve(img, model, 3, precision="auto")
    assert np.array_equal(auto, super_resolve(img, model, 3, precision="ort"))
    assert tile_size(None, "cpu", ORT) > tile_size(None, "cpu", FP32) == tile_size(None, "cpu")
