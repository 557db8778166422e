"""srcnn.models: every registered architecture against the model contract (shapes, config round-trip,
exact tiling margin, MACs, training step, errors, data defaults)."""
import io
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srcnn.errors import SRCNNError
from srcnn.models import (SRCNN, FSRCNN, ChannelAttention, Deconv, SRCNNVariant, build_model, count_parameters,
                          check_upscale, data_defaults, input_kind, input_kind_of, macs_per_pixel, model_names)

LR_MODELS = {"fsrcnn", "fsrcnn-s", "espcn", "srcnn-subpixel", "srcnn-deconv"}
NAMES = model_names()


def make(name, scale=3, seed=0, **kw):
    """The model ``name`` (LR-input ones at ``scale``), paper-initialised with a fixed seed, eval mode."""
    torch.manual_seed(seed)
    if name in LR_MODELS:
        kw = {"scale": scale, **kw}
    m = build_model(name, **kw)
    m.init_paper()
    return m.eval()


def test_names():
    assert set(NAMES) == {"srcnn", "fsrcnn", "fsrcnn-s", "espcn", "vdsr", "srcnn-res", "srcnn-deep8",
                          "srcnn-deep16", "srcnn-bn", "srcnn-resblocks", "srcnn-prelu", "srcnn-lrelu",
                          "srcnn-ca", "srcnn-subpixel", "srcnn-deconv"}
    assert {n for n in NAMES if input_kind(n) == "lr"} == LR_MODELS


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_contract(name):
    cases = [(2, 1), (3, 3), (4, 1)] if name in LR_MODELS else [(3, 1), (3, 3)]  # (scale, channels)
    for scale, channels in cases:
        m = make(name, scale, channels=channels)
        assert m.name == name and m.channels == channels
        u = scale if name in LR_MODELS else 1
        assert m.upscale == u and m.input_kind == ("lr" if u > 1 else "upscaled") == input_kind(name)
        assert input_kind_of(m) == m.input_kind
        for h, w in ((9, 9), (11, 6)):
            with torch.no_grad():
                y = m(torch.rand(1, channels, h, w))
            assert y.shape == (1, channels, m.out_size(h), m.out_size(w)) and y.dtype == torch.float32
            assert m.out_size(h) == u * h  # "same" padding everywhere but SRCNN's "none"


def test_srcnn_unchanged():
    m = build_model("srcnn", padding="none")
    assert isinstance(m, SRCNN) and m.shrink == 8 and m.out_size(33) == 17 and m.padding == "none"
    assert m(torch.rand(1, 1, 33, 33)).shape == (1, 1, 17, 17)
    assert m.config() == {"name": "srcnn", "f1": 9, "f2": 5, "f3": 5, "n1": 64, "n2": 32, "channels": 1,
                          "padding": "none"}
    assert build_model().config()["padding"] == "replicate"  # the default model


@pytest.mark.parametrize("name", NAMES)
def test_last_layer_is_last_child_with_parameters(name):
    """The trainer gives the last child module with parameters lr * --last-layer-lr: the output layer."""
    m = make(name, 3, channels=3)
    last = [c for c in m.children() if any(True for _ in c.parameters())][-1]
    assert isinstance(last, (nn.Conv2d, nn.ConvTranspose2d))
    assert last.out_channels == (3 * 9 if name in ("espcn", "srcnn-subpixel") else 3)


@pytest.mark.parametrize("name", NAMES)
def test_config_roundtrip(name):
    m = make(name, 4)
    cfg = m.config()
    assert cfg["name"] == name and json.loads(json.dumps(cfg)) == cfg
    torch.manual_seed(1)
    m2 = build_model(**cfg).eval()
    sd, sd2 = m.state_dict(), m2.state_dict()
    assert list(sd) == list(sd2) and all(sd[k].shape == sd2[k].shape for k in sd)
    m2.load_state_dict(sd)
    x = torch.rand(1, 1, 12, 10)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))
    buf = io.BytesIO()
    torch.save({"model": cfg, "state_dict": sd}, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=True)
    assert back["model"] == cfg
    m3 = build_model(**back["model"]).eval()
    m3.load_state_dict(back["state_dict"])
    with torch.no_grad():
        assert torch.equal(m(x), m3(x))


def test_direct_construction_names():
    assert SRCNNVariant(residual=True).name == "srcnn-res"
    assert SRCNNVariant(upsample="deconv", f3=9, scale=2).name == "srcnn-deconv"
    custom = SRCNNVariant(depth=6, n1=16, n2=16, blocks=True, norm="bn", upsample="subpixel", scale=2)
    assert custom.name in NAMES and build_model(**custom.config()).kwargs == custom.kwargs
    f = FSRCNN(scale=3, d=32, s=5, m=1)
    assert f.name == "fsrcnn" and build_model(**f.config()).kwargs == f.kwargs


def centre(m, n, a, L):
    """The output slice over input pixels [a, a+L) of an n-pixel side (SRCNN "none" loses its border)."""
    u, d = m.upscale, (m.upscale * n - m.out_size(n)) // 2
    return slice(u * a - d, u * (a + L) - d)


def tile_vs_full(m, x, a, L, margin):
    """Max |difference| between the full-image output and the output of the crop rows/cols [a-margin,
    a+L+margin) over the centre [a, a+L) (in input pixels), relative to the output's largest value."""
    crop = x[..., a - margin:a + L + margin, a - margin:a + L + margin]
    c, o = centre(m, x.shape[-1], a, L), centre(m, crop.shape[-1], margin, L)
    assert o.start >= 0
    with torch.no_grad():
        full, tile = m(x)[..., c, c], m(crop)[..., o, o]
    return ((full - tile).abs().max() / full.abs().max()).item()


def reach(m, x, a, L):
    """How far (input pixels) the input pixels that the centre outputs [a, a+L)^2 depend on reach beyond
    the centre: the largest distance with a non-zero input gradient."""
    x = x.clone().requires_grad_(True)
    c = centre(m, x.shape[-1], a, L)
    m(x)[..., c, c].sum().backward()
    rows = x.grad[0].abs().sum(dim=(0, 2)).nonzero().flatten()
    cols = x.grad[0].abs().sum(dim=(0, 1)).nonzero().flatten()
    lo, hi = min(rows.min(), cols.min()).item(), max(rows.max(), cols.max()).item()
    return max(a - lo, hi - (a + L - 1))


COMBOS = {  # non-preset SRCNNVariant combinations, checked like the presets
    "all-lr": dict(depth=6, n1=16, n2=16, blocks=True, norm="bn", act="prelu", attention="ca", residual=True,
                   upsample="subpixel"),
    "deconv-res": dict(depth=4, n2=16, residual=True, upsample="deconv", f3=7, act="lrelu"),
}
FAINT = {"vdsr", "srcnn-deep16", "srcnn-ca", *COMBOS}  # the farthest pixels' effect is faint (< 1e-4)


def shrink_cases():
    for name in NAMES:
        for scale in ((2, 3, 4) if name in ("fsrcnn", "srcnn-deconv") else (3,)):
            yield name, scale, {}
    for padding in ("none", "zeros"):
        yield "srcnn", 3, {"padding": padding}
    yield "all-lr", 3, COMBOS["all-lr"]
    yield "deconv-res", 2, COMBOS["deconv-res"]


@pytest.mark.parametrize("name,scale,kw", list(shrink_cases()))
def test_shrink_is_the_exact_tiling_margin(name, scale, kw):
    """A tile with margin ``shrink`` reproduces the full image (what tiled inference relies on); the centre
    depends on input pixels exactly ``shrink`` away (so shrink-1 is not enough), and with a margin of
    shrink-1 the tile differs visibly."""
    if name in COMBOS:
        torch.manual_seed(0)
        m = SRCNNVariant(scale=scale, **kw)
        m.init_paper()
        m.eval()
    else:
        m = make(name, scale, **kw)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):  # non-trivial batch-norm statistics
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
        if isinstance(mod, ChannelAttention):  # every attention gate alive (not ReLU-dead everywhere)
            nn.init.constant_(mod.squeeze.bias, 0.5)
    s, L = m.shrink, 3
    a = s + 2
    torch.manual_seed(1)
    x = torch.rand(1, 1, a + L + s + 2, a + L + s + 2)
    assert tile_vs_full(m, x, a, L, s) < 1e-5
    assert reach(m, x, a, L) == s
    if name not in FAINT and kw.get("padding") != "none":
        assert tile_vs_full(m, x, a, L, s - 1) > 1e-4


def test_macs_per_pixel_upscaled_input():
    srcnn = 64 * 81 + 32 * 64 * 25 + 32 * 25
    assert srcnn == 57184
    assert macs_per_pixel(build_model("srcnn"), 3) == srcnn
    assert macs_per_pixel(build_model("srcnn", padding="none"), 2) == srcnn  # borders ignored
    assert macs_per_pixel(build_model("srcnn", channels=3), 4) == 3 * 64 * 81 + 32 * 64 * 25 + 32 * 3 * 25
    assert macs_per_pixel(build_model("vdsr"), 3) == 9 * 64 + 18 * 9 * 64 * 64 + 9 * 64
    assert macs_per_pixel(build_model("srcnn-ca"), 3) == srcnn + 2 * 64 * 8 + 2 * 32 * 4  # the 1x1 SE convs
    assert macs_per_pixel(build_model("srcnn-deep8"), 3) == 64 * 81 + 6 * 64 * 64 * 9 + 64 * 25


@pytest.mark.parametrize("scale", (2, 3, 4))
def test_macs_per_pixel_lr_input(scale):
    for name, (d, s, m) in (("fsrcnn", (56, 12, 4)), ("fsrcnn-s", (32, 5, 1))):
        per_lr = 25 * d + s * d + 9 * m * s * s + s * d + 81 * d  # the FSRCNN paper's count
        assert macs_per_pixel(build_model(name, scale=scale), scale) == pytest.approx(per_lr / scale ** 2)
    espcn = 25 * 64 + 9 * 64 * 32 + 9 * 32 * scale ** 2
    assert macs_per_pixel(build_model("espcn", scale=scale), scale) == pytest.approx(espcn / scale ** 2)
    sub = 81 * 64 + 25 * 64 * 32 + 25 * 32 * scale ** 2
    assert macs_per_pixel(build_model("srcnn-subpixel", scale=scale), scale) == pytest.approx(sub / scale ** 2)
    dec = 81 * 64 + 25 * 64 * 32 + 81 * 32
    assert macs_per_pixel(build_model("srcnn-deconv", scale=scale), scale) == pytest.approx(dec / scale ** 2)
    with pytest.raises(ValueError, match=f"x{scale}"):
        macs_per_pixel(build_model("espcn", scale=scale), scale + 1)


def test_count_parameters():
    assert count_parameters(build_model("srcnn")) == 57184 + 64 + 32 + 1
    assert count_parameters(build_model("fsrcnn", scale=3)) == 12809  # 12464 weights in the paper + biases/PReLU


@pytest.mark.parametrize("name", NAMES)
def test_one_adam_step_lowers_the_loss(name):
    m = make(name, 2).train()
    torch.manual_seed(2)
    x = torch.rand(2, 1, 10, 10)
    target = torch.rand(2, 1, m.out_size(10), m.out_size(10))
    opt = torch.optim.Adam(m.parameters(), lr=1e-4)
    loss0 = F.mse_loss(m(x), target)
    opt.zero_grad()
    loss0.backward()
    opt.step()
    with torch.no_grad():
        assert F.mse_loss(m(x), target) < loss0.item()


def test_init_paper():
    f = make("fsrcnn", 3)
    assert abs(f.deconv.weight.std().item() - 1e-3) < 2e-4 and not f.deconv.bias.any()
    assert abs(f.feature[0].weight.std().item() - (2 / 1.0625 / 25) ** 0.5) < 0.03  # He for PReLU a=0.25
    v = make("vdsr")
    w = v.body[0].weight
    assert abs(w.std().item() - (2 / (9 * 64)) ** 0.5) < 0.003 and not v.body[0].bias.any()
    s = make("srcnn")
    assert s.conv2.weight.std().item() < 2e-3  # SRCNN's N(0, 0.001), unchanged


@pytest.mark.parametrize("name,kwargs,match", [
    ("nope", {}, "unknown model"),
    ("fsrcnn", {}, "scale"),                              # LR-input models need the scale
    ("fsrcnn", {"scale": 1}, "scale"),
    ("espcn", {"scale": 2.0}, "scale"),
    ("fsrcnn", {"scale": 3, "bogus": 1}, "bogus"),
    ("srcnn", {"scale": 3}, "scale"),
    ("srcnn", {"padding": "reflect"}, "padding"),
    ("srcnn", {"f1": "9"}, "f1 must be an int"),            # a wrong type is a ValueError too
    ("srcnn-res", {"scale": 3}, "scale"),                   # upscaled-input variant
    ("srcnn-subpixel", {}, "scale"),
    ("srcnn-resblocks", {"depth": 7}, "blocks"),
    ("srcnn-resblocks", {"n1": 32}, "blocks"),
    ("srcnn-prelu", {"act": "tanh"}, "act"),
    ("srcnn-bn", {"norm": "group"}, "norm"),
    ("srcnn-deep8", {"f2": 4}, "f2"),
    ("vdsr", {"depth": 1}, "depth"),
])
def test_bad_names_and_kwargs(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model(name, **kwargs)


@pytest.mark.parametrize("scale,patch,stride", [(2, 32, 14), (3, 33, 15), (4, 32, 16)])
def test_data_defaults(scale, patch, stride):
    for name in NAMES:
        d = data_defaults(name, scale)
        if name in LR_MODELS:
            assert d == dict(input="lr", patch_size=patch, stride=stride)
            assert d["patch_size"] % scale == 0 and d["stride"] % scale == 0
        elif name == "vdsr":
            assert d == dict(input="upscaled", patch_size=41, stride=21)
        else:
            assert d == dict(input="upscaled", patch_size=33, stride=14)
    with pytest.raises(ValueError, match="unknown model"):
        data_defaults("srcnn9", scale)
    with pytest.raises(ValueError, match="scale"):
        data_defaults("fsrcnn", 1)


def test_receptive_field_is_what_one_output_pixel_sees():
    """receptive_field (issue 13: the smallest patch prepare_data.py accepts is derived from it):
    2 * shrink + 1, for LR-input models at the given scale, model kwargs honoured; and it is the real
    extent: an unpadded SRCNN's output is smaller by exactly F - 1, and moving one input pixel F // 2
    away from an output pixel changes it while F // 2 + 1 does not."""
    from srcnn.models import receptive_field
    assert receptive_field("srcnn", 3) == 17 and receptive_field("srcnn", 3, f2=1) == 13
    assert receptive_field("vdsr", 2) == 41 and receptive_field("espcn", 4) == 9
    assert (receptive_field("fsrcnn", 2), receptive_field("fsrcnn", 3), receptive_field("fsrcnn", 4)) == (17, 17, 15)
    assert receptive_field("srcnn-ca", 3) == 49
    for name in NAMES:
        for scale in (2, 3, 4):
            kw = {"scale": scale} if name in LR_MODELS else {}
            assert receptive_field(name, scale) == 2 * build_model(name, **kw).shrink + 1, (name, scale)
    f = receptive_field("srcnn", 3)
    torch.manual_seed(0)
    net = build_model("srcnn", padding="none").double().eval()  # PyTorch's init: no vanishing changes
    assert net.out_size(33) == 33 - (f - 1)
    x = torch.rand(1, 1, 2 * f + 1, 2 * f + 1, dtype=torch.float64)
    centre = f  # the output pixel at input position (f, f) is output (f - f//2, f - f//2) when unpadded
    with torch.no_grad():
        y0 = net(x)[0, 0, centre - f // 2, centre - f // 2]
        for d, changes in ((f // 2, True), (f // 2 + 1, False)):
            x2 = x.clone()
            x2[0, 0, centre, centre + d] += 0.5
            assert bool(net(x2)[0, 0, centre - f // 2, centre - f // 2] != y0) == changes, d
    with pytest.raises(ValueError, match="unknown model"):
        receptive_field("srcnn9", 3)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("k", [9, 5, 3])
def test_deconv_training_form_is_the_transposed_convolution(scale, k):
    """Deconv's training forward (a convolution to scale^2 maps + pixel shuffle, its kernel gathered from the
    layer's weight) equals PyTorch's transposed convolution, its evaluation forward, in value and in the
    gradients of input, weight and bias (float64)."""
    torch.manual_seed(scale * 10 + k)
    layer = build_model("srcnn-deconv", scale=scale).tail if k == 9 else None
    layer = Deconv(5, 2, k, stride=scale, padding=k // 2, output_padding=scale - 1) if layer is None else layer
    layer = layer.double()
    x = torch.randn(2, layer.in_channels, 7, 6, dtype=torch.float64)
    results = []
    for training in (False, True):
        layer.train(training)
        xi = x.clone().requires_grad_(True)
        out = layer(xi)
        loss = (out * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape)).sum()
        results.append((out, *torch.autograd.grad(loss, [xi, layer.weight, layer.bias])))
    assert results[0][0].shape == (2, layer.out_channels, 7 * scale, 6 * scale)
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_fsrcnn_trains_through_the_subpixel_form():
    """FSRCNN's last layer is a Deconv: in training mode the model gives its evaluation output (float32)."""
    torch.manual_seed(0)
    m = build_model("fsrcnn", scale=3)
    assert isinstance(m.deconv, Deconv) and isinstance(m.deconv, nn.ConvTranspose2d)
    x = torch.rand(2, 1, 9, 8)
    with torch.no_grad():
        torch.testing.assert_close(m.train()(x), m.eval()(x), rtol=1e-5, atol=1e-6)


def test_input_kind_of_and_check_upscale_take_any_model():
    """The one rule of the input kind (upscale 1: the bicubic-upscaled image; s > 1: the LR image), for any
    module with an ``upscale`` (an exported file's wrapper) or none (1); an LR-input model serves one scale."""
    class LR(nn.Module):
        upscale = 3
    assert (input_kind_of(nn.Identity()), input_kind_of(LR())) == ("upscaled", "lr")
    check_upscale(nn.Identity(), 4)
    check_upscale(LR(), 3)
    with pytest.raises(SRCNNError, match=r"^m\.pt: the model upscales by 3 .* cannot super-resolve x2$"):
        check_upscale(LR(), 2, where="m.pt: ")
