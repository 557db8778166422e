"""Network architectures. Every model maps (N,C,H,W) float32 in [0,1] to (N,C,H',W') float32 (not clipped).

The input contract is part of the model (``SRModel``): ``upscale == 1`` means the input is the
bicubic-upscaled image and the output has (about) its size; ``upscale == s > 1`` means the input is the
low-resolution image itself and the output is s times larger (post-upsampling).

- ``srcnn``  SRCNN (Dong et al., TPAMI 2015): patch extraction (f1 x f1, n1 maps) -> ReLU -> non-linear
  mapping (f2 x f2, n2 maps) -> ReLU -> reconstruction (f3 x f3). Input: the bicubic-upscaled image.
- ``srcnn-*`` ``SRCNNVariant``: SRCNN with "same" zero padding and one modern change each (global residual,
  depth, batch norm, residual blocks, PReLU/LeakyReLU, channel attention, sub-pixel/deconv upsampling).
- ``fsrcnn``, ``fsrcnn-s`` FSRCNN (Dong, Loy, Tang, ECCV 2016): LR input, transposed-conv upsampling.
- ``espcn``  ESPCN (Shi et al., CVPR 2016): LR input, sub-pixel convolution (PixelShuffle).
- ``vdsr``   VDSR (Kim, Lee, Lee, CVPR 2016): 20 3x3 layers + global residual on the upscaled image.

``build_model(name, **kwargs)`` builds any of them (``model_names()``); ``model.config()`` rebuilds it.

One module past 500 lines on purpose: every architecture is a few dozen lines, and they share the
registry, the input kinds and the receptive-field / mult-add arithmetic that the rest of the project
reads from here; a module per network would scatter that one table.
"""
from __future__ import annotations

import functools
import inspect

import torch
import torch.nn.functional as F
from torch import nn

from .errors import MAX_SCALE, SRCNNError

PADDINGS = ("none", "zeros", "replicate")
# Bounds on every declared size (a hand-made checkpoint may declare anything): checked before a layer is built.
MAX_LAYERS = 1000    # depth, FSRCNN's mapping layers m
MAX_WIDTH = 4096     # feature maps of a layer, and channels
MAX_KERNEL = 99      # filter side
MAX_SHRINK = MAX_LAYERS * MAX_KERNEL   # no model's receptive-field radius exceeds this


class SRModel(nn.Module):
    """What every architecture exposes besides ``forward``.

    name: registry name ("srcnn", "fsrcnn", ...); kwargs: the full constructor kwargs (JSON-able).
    channels: 1 (Y) or 3 (RGB). upscale: 1 (input = bicubic-upscaled image) or the scale (input = LR
    image). shrink: receptive-field radius in input pixels (a tile computed with this margin equals the
    full-image result).
    """
    name: str
    kwargs: dict
    channels: int = 1
    upscale: int = 1
    shrink: int = 0

    @property
    def input_kind(self) -> str:
        """"upscaled" (bicubic-upscaled HR-size input) or "lr" (the low-resolution image): input_kind_of."""
        return input_kind_of(self)

    def out_size(self, n: int) -> int:
        """Output side for an input side of n pixels."""
        return n * self.upscale

    def init_paper(self) -> None:
        """The initialisation of the architecture's paper (PyTorch's default unless overridden)."""

    def config(self) -> dict:
        """JSON-able description: ``build_model(**model.config())`` rebuilds the architecture."""
        return {"name": self.name, **self.kwargs}


class SRCNN(SRModel):
    """SRCNN f1-f2-f3 with n1/n2 filters.

    padding: "none" (the paper's training: output shrinks by ``shrink`` pixels per side),
    "zeros", or "replicate" (how the authors run their released model: MATLAB imfilter 'replicate').
    With "zeros"/"replicate" the output has the input's size.
    """

    def __init__(self, f1: int = 9, f2: int = 5, f3: int = 5, n1: int = 64, n2: int = 32,
                 channels: int = 1, padding: str = "replicate"):
        super().__init__()
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        for what, f in (("f1", f1), ("f2", f2), ("f3", f3)):
            _check_int(what, f, 1, MAX_KERNEL)
            if f % 2 == 0:
                raise ValueError(f"filter sizes must be odd and positive, got {f1}-{f2}-{f3}")
        for what, v in (("n1", n1), ("n2", n2), ("channels", channels)):
            _check_int(what, v, 1, MAX_WIDTH)
        self.name = "srcnn"
        self.kwargs = dict(f1=f1, f2=f2, f3=f3, n1=n1, n2=n2, channels=channels, padding=padding)
        self.padding = padding
        self.channels = channels
        self.shrink = (f1 - 1) // 2 + (f2 - 1) // 2 + (f3 - 1) // 2

        def conv(cin, cout, k):
            if padding == "none":
                return nn.Conv2d(cin, cout, k)
            return nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode=padding)

        self.conv1 = conv(channels, n1, f1)
        self.conv2 = conv(n1, n2, f2)
        self.conv3 = conv(n2, channels, f3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N,C,H,W) float in [0,1] (bicubic-upscaled LR) -> (N,C,H',W'), H' = H - 2*shrink for "none"."""
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        return self.conv3(x)

    def init_paper(self, std: float = 1e-3) -> None:
        """The paper's initialisation: weights ~ N(0, std), biases 0 (the authors use std 1e-3)."""
        for m in (self.conv1, self.conv2, self.conv3):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)

    def out_size(self, n: int) -> int:
        return n - 2 * self.shrink if self.padding == "none" else n

    def __repr__(self) -> str:
        k = self.kwargs
        return (f"SRCNN({k['f1']}-{k['f2']}-{k['f3']}, n1={k['n1']}, n2={k['n2']}, "
                f"channels={k['channels']}, padding={k['padding']})")


# ---------------------------------------------------------------------------------------------------------
# building blocks


def _check_int(what: str, value, lo: int, hi: int) -> None:
    """ValueError unless ``value`` is an int in lo..hi (the hi bounds: MAX_LAYERS, MAX_WIDTH, MAX_KERNEL,
    the largest scale), so that a hand-made config is refused before any layer is built."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{what} must be an int in [{lo}, {hi}], got {value!r}")


def _check_choice(what: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{what} must be one of {choices}, got {value!r}")


def _check_kernel(what: str, k) -> None:
    _check_int(what, k, 1, MAX_KERNEL)
    if k % 2 == 0:
        raise ValueError(f"{what} must be odd, got {k}")


def _conv(cin: int, cout: int, k: int, bias: bool = True) -> nn.Conv2d:
    """k x k convolution with "same" zero padding (output has the input's size)."""
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


def _deconv(cin: int, cout: int, k: int, scale: int) -> "Deconv":
    """k x k transposed convolution, stride ``scale``: (N,cin,h,w) -> (N,cout,scale*h,scale*w) exactly.

    Output pixel y = scale*i - k//2 + t (t in [0,k)) receives input pixel i; output_padding = scale-1 makes
    the output side (h-1)*scale - 2*(k//2) + k + scale-1 = scale*h.
    """
    return Deconv(cin, cout, k, stride=scale, padding=k // 2, output_padding=scale - 1)


class Deconv(nn.ConvTranspose2d):
    """``_deconv``'s layer. In training its forward is computed in the equivalent sub-pixel form: one
    L x L convolution to scale^2 maps per output channel and a pixel shuffle, with the kernel gathered from
    this layer's own weight (the same parameters and state-dict keys, the same function and gradients up
    to float rounding). On the CPU at batch 16 that makes FSRCNN's training step 7-12% faster
    (benchmarks/README.md). Evaluation, tiled inference and export keep PyTorch's transposed convolution.

    Phase r of an output row y = scale*q + r reads input rows q + t with kernel row scale*(d - t) + c,
    c = (r + pad) % scale, d = (r + pad) // scale, for every t that gives a row inside the kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, k, pad = self.stride[0], self.kernel_size[0], self.padding[0]
        if not self.training or k != 2 * pad + 1 or self.output_padding[0] != s - 1:
            return super().forward(x)    # (the sub-pixel form below assumes _deconv's geometry)
        rows, lo, hi = _subpixel_rows(k, s, pad)
        w = F.pad(self.weight, (0, 1, 0, 1))        # (cin, cout, k+1, k+1); row/column k is 0
        idx = torch.tensor(rows, device=w.device).view(-1)
        cin, cout, span = w.shape[0], w.shape[1], hi - lo + 1
        w = w[:, :, idx][:, :, :, idx].view(cin, cout, s, span, s, span)
        w = w.permute(1, 2, 4, 0, 3, 5).reshape(cout * s * s, cin, span, span)
        y = F.conv2d(F.pad(x, (-lo, hi, -lo, hi)), w, self.bias.repeat_interleave(s * s))
        return F.pixel_shuffle(y, s)


@functools.lru_cache(maxsize=None)
def _subpixel_rows(k: int, s: int, pad: int) -> tuple[list[list[int]], int, int]:
    """For the sub-pixel form of a k x k, stride-s transposed convolution with padding ``pad`` (and
    output_padding s-1): rows[r][t - lo] = the kernel row that output phase r applies to input row
    q + t (k = none, a zero row), for t in [lo, hi]."""
    taps = []
    for r in range(s):
        c, d = (r + pad) % s, (r + pad) // s
        taps.append({d - j: s * j + c for j in range((k - 1 - c) // s + 1)})
    lo, hi = min(min(t) for t in taps if t), max(max(t) for t in taps if t)
    return [[t.get(o, k) for o in range(lo, hi + 1)] for t in taps], lo, hi


def _deconv_radius(k: int, scale: int) -> int:
    """Receptive-field radius of ``_deconv`` in input (LR) pixels.

    The outputs of LR pixel p (y in [scale*p, scale*p + scale-1]) read inputs i with y - k//2 <= scale*i
    <= y + k//2, i.e. i in [p - floor(r/scale), p + ceil(r/scale)] for r = k//2: radius ceil(r/scale).
    """
    return -(-(k // 2) // scale)


# ---------------------------------------------------------------------------------------------------------
# FSRCNN, ESPCN, VDSR


class FSRCNN(SRModel):
    """FSRCNN (Dong, Loy, Tang, "Accelerating the Super-Resolution CNN", ECCV 2016). LR input.

    x (N,C,h,w) float32 in [0,1], the low-resolution image -> (N,C,scale*h,scale*w). Layers (all "same" zero
    padding, PReLU after every conv): feature extraction 5x5 C->d; shrinking 1x1 d->s; mapping m x 3x3 s->s;
    expanding 1x1 s->d; deconvolution 9x9 d->C, stride scale. Paper: d=56, s=12, m=4 ("fsrcnn"), FSRCNN-s
    d=32, s=5, m=1 ("fsrcnn-s").
    """
    name = "fsrcnn"

    def __init__(self, scale: int, d: int = 56, s: int = 12, m: int = 4, channels: int = 1):
        super().__init__()
        _check_int("scale", scale, 2, MAX_SCALE)
        for what, v, lo, hi in (("d", d, 1, MAX_WIDTH), ("s", s, 1, MAX_WIDTH), ("m", m, 0, MAX_LAYERS),
                                ("channels", channels, 1, MAX_WIDTH)):
            _check_int(what, v, lo, hi)
        self.kwargs = dict(scale=scale, d=d, s=s, m=m, channels=channels)
        self.channels, self.upscale = channels, scale
        self.shrink = 2 + m + _deconv_radius(9, scale)
        self.feature = nn.Sequential(_conv(channels, d, 5), nn.PReLU(d))
        self.shrinking = nn.Sequential(_conv(d, s, 1), nn.PReLU(s))
        self.mapping = nn.Sequential(*[layer for _ in range(m) for layer in (_conv(s, s, 3), nn.PReLU(s))])
        self.expanding = nn.Sequential(_conv(s, d, 1), nn.PReLU(d))
        self.deconv = _deconv(d, channels, 9, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N,C,h,w) LR image in [0,1] -> (N,C,scale*h,scale*w)."""
        x = self.expanding(self.mapping(self.shrinking(self.feature(x))))
        return self.deconv(x)

    def init_paper(self) -> None:
        """The paper's: convs He/MSRA normal for PReLU (a = 0.25), deconv N(0, 0.001), biases 0, PReLU 0.25."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.25, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.PReLU):
                nn.init.constant_(m.weight, 0.25)
        nn.init.normal_(self.deconv.weight, 0.0, 1e-3)
        nn.init.zeros_(self.deconv.bias)


class ESPCN(SRModel):
    """ESPCN (Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
    Convolutional Neural Network", CVPR 2016). LR input.

    x (N,C,h,w) float32 in [0,1] -> (N,C,scale*h,scale*w). Layers ("same" zero padding): 5x5 C->n1 tanh;
    3x3 n1->n2 tanh; 3x3 n2->C*scale^2; PixelShuffle(scale). Paper: n1=64, n2=32.
    """
    name = "espcn"

    def __init__(self, scale: int, n1: int = 64, n2: int = 32, channels: int = 1):
        super().__init__()
        _check_int("scale", scale, 2, MAX_SCALE)
        for what, v in (("n1", n1), ("n2", n2), ("channels", channels)):
            _check_int(what, v, 1, MAX_WIDTH)
        self.kwargs = dict(scale=scale, n1=n1, n2=n2, channels=channels)
        self.channels, self.upscale = channels, scale
        self.shrink = 2 + 1 + 1
        self.conv1 = _conv(channels, n1, 5)
        self.conv2 = _conv(n1, n2, 3)
        self.conv3 = _conv(n2, channels * scale * scale, 3)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N,C,h,w) LR image in [0,1] -> (N,C,scale*h,scale*w)."""
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        return self.shuffle(self.conv3(x))

    def init_paper(self) -> None:
        """The paper states no initialisation: PyTorch's default is drawn afresh."""
        for m in (self.conv1, self.conv2, self.conv3):
            m.reset_parameters()


class VDSR(SRModel):
    """VDSR (Kim, Lee, Lee, "Accurate Image Super-Resolution Using Very Deep Convolutional Networks",
    CVPR 2016). Input: the bicubic-upscaled image (one network for several scales).

    x (N,C,H,W) float32 in [0,1] -> x + r(x), (N,C,H,W). r: ``depth`` 3x3 convs with zero padding, ReLU after
    all but the last: C->features, (depth-2) x features->features, features->C. Paper: depth 20, 64 features.
    """
    name = "vdsr"

    def __init__(self, depth: int = 20, features: int = 64, channels: int = 1):
        super().__init__()
        _check_int("depth", depth, 2, MAX_LAYERS)
        _check_int("features", features, 1, MAX_WIDTH)
        _check_int("channels", channels, 1, MAX_WIDTH)
        self.kwargs = dict(depth=depth, features=features, channels=channels)
        self.channels = channels
        self.shrink = depth
        self.head = nn.Sequential(_conv(channels, features, 3), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*[layer for _ in range(depth - 2)
                                    for layer in (_conv(features, features, 3), nn.ReLU(inplace=True))])
        self.tail = _conv(features, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N,C,H,W) bicubic-upscaled image in [0,1] -> (N,C,H,W)."""
        return x + self.tail(self.body(self.head(x)))

    def init_paper(self) -> None:
        """The paper's He/MSRA normal initialisation (std sqrt(2 / (9 * in_channels))), biases 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------------------------------
# SRCNN variants

ACTS = ("relu", "prelu", "lrelu")
NORMS = ("none", "bn")
ATTENTIONS = ("none", "ca")
UPSAMPLES = ("none", "subpixel", "deconv")
CA_RADIUS = 8     # channel attention squeezes a (2*8+1)^2 window around each pixel
CA_REDUCTION = 8  # ... through a bottleneck of max(4, channels // 8)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation (Hu et al., CVPR 2018) with a LOCAL squeeze: x * sigmoid(W2 relu(W1 mean(x))).

    The mean is over the (2*CA_RADIUS+1)^2 window around each pixel (inside the image), not the whole image,
    so the network stays local (tiling is exact with a margin of CA_RADIUS more) and training patches and
    whole images see the same statistic. x: (N,ch,H,W) -> (N,ch,H,W).
    """

    def __init__(self, ch: int):
        super().__init__()
        hidden = max(4, ch // CA_REDUCTION)
        self.squeeze = nn.Conv2d(ch, hidden, 1)
        self.excite = nn.Conv2d(hidden, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, r = 2 * CA_RADIUS + 1, CA_RADIUS  # a box mean, separably: rows then columns
        s = F.avg_pool2d(x, (1, k), stride=1, padding=(0, r), count_include_pad=False)
        s = F.avg_pool2d(s, (k, 1), stride=1, padding=(r, 0), count_include_pad=False)
        z = self.excite(torch.relu(self.squeeze(s)))
        return x * (0.5 + 0.5 * torch.tanh(0.5 * z))  # = sigmoid(z), but position-exact on the CPU (tiling)


def _act(act: str, ch: int) -> nn.Module:
    if act == "prelu":
        return nn.PReLU(ch)
    return nn.ReLU(inplace=True) if act == "relu" else nn.LeakyReLU(0.2, inplace=True)


class _ResBlock(nn.Module):
    """x + [ca](conv-[bn]-act-conv-[bn](x)), ch -> ch, k x k "same" convs."""

    def __init__(self, ch: int, k: int, act: str, norm: str, attention: str):
        super().__init__()
        bias = norm == "none"
        layers = [_conv(ch, ch, k, bias), *([nn.BatchNorm2d(ch)] if norm == "bn" else []), _act(act, ch),
                  _conv(ch, ch, k, bias), *([nn.BatchNorm2d(ch)] if norm == "bn" else [])]
        if attention == "ca":
            layers.append(ChannelAttention(ch))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRCNNVariant(SRModel):
    """SRCNN with "same" zero padding plus modern changes; every combination through the kwargs.

    Layers: f1 x f1 C->n1, then (depth-2) f2 x f2 convs to n2 maps (``blocks``: grouped in pairs as residual
    blocks conv-act-conv + skip, which needs n1 == n2 and an even depth-2), then the last layer. Every hidden
    conv is followed by [batch norm (``norm="bn"``)], the activation (``act``: relu | prelu | lrelu slope
    0.2) and [local channel attention (``attention="ca"``)]. depth counts the convs (attention's 1x1 aside).

    upsample "none": input (N,C,H,W) bicubic-upscaled in [0,1], last layer f3 x f3 n2->C, output (N,C,H,W).
    upsample "subpixel": input the LR image (N,C,h,w), last layer f3 x f3 n2->C*scale^2 + PixelShuffle;
    "deconv": last layer an f3 x f3 transposed conv with stride scale; output (N,C,scale*h,scale*w).
    residual: output = input (torch-bicubic-upsampled for LR input) + net(input).
    Defaults are SRCNN 9-5-5 64-32 ReLU; the registry presets ("srcnn-res", ...) change a few kwargs.
    """

    def __init__(self, depth: int = 3, f1: int = 9, f2: int = 5, f3: int = 5, n1: int = 64, n2: int = 32,
                 act: str = "relu", norm: str = "none", residual: bool = False, blocks: bool = False,
                 attention: str = "none", upsample: str = "none", scale: int | None = None,
                 channels: int = 1):
        super().__init__()
        _check_int("depth", depth, 2, MAX_LAYERS)
        for what, k in (("f1", f1), ("f2", f2), ("f3", f3)):
            _check_kernel(what, k)
        for what, v in (("n1", n1), ("n2", n2), ("channels", channels)):
            _check_int(what, v, 1, MAX_WIDTH)
        for what, v, choices in (("act", act, ACTS), ("norm", norm, NORMS), ("attention", attention, ATTENTIONS),
                                 ("upsample", upsample, UPSAMPLES), ("residual", residual, (False, True)),
                                 ("blocks", blocks, (False, True))):
            _check_choice(what, v, choices)
        if upsample == "none" and scale is not None:
            raise ValueError(f"scale is for upsample subpixel/deconv (LR input), got scale={scale!r}")
        if upsample != "none":
            _check_int("scale", scale, 2, MAX_SCALE)
        if blocks and (depth < 4 or depth % 2 or n1 != n2):
            raise ValueError(f"residual blocks need an even depth >= 4 and n1 == n2, got depth={depth} "
                             f"n1={n1} n2={n2}")
        self.kwargs = dict(depth=depth, f1=f1, f2=f2, f3=f3, n1=n1, n2=n2, act=act, norm=norm,
                           residual=bool(residual), blocks=bool(blocks), attention=attention,
                           upsample=upsample, scale=scale, channels=channels)
        self.name = _closest_preset(self.kwargs)
        self.channels, self.upscale = channels, (scale if upsample != "none" else 1)
        self.act, self.residual = act, bool(residual)
        ca = CA_RADIUS if attention == "ca" else 0

        def unit(cin, cout, k):  # a hidden conv with its norm, activation, attention
            return [_conv(cin, cout, k, bias=norm == "none"), *([nn.BatchNorm2d(cout)] if norm == "bn" else []),
                    _act(act, cout), *([ChannelAttention(cout)] if attention == "ca" else [])]

        self.head = nn.Sequential(*unit(channels, n1, f1))
        if blocks:
            self.body = nn.Sequential(*[_ResBlock(n2, f2, act, norm, attention) for _ in range((depth - 2) // 2)])
            body_radius = (depth - 2) // 2 * (2 * (f2 // 2) + ca)
        else:
            self.body = nn.Sequential(*[layer for i in range(depth - 2)
                                        for layer in unit(n1 if i == 0 else n2, n2, f2)])
            body_radius = (depth - 2) * (f2 // 2 + ca)
        width = n2 if depth > 2 else n1
        if upsample == "deconv":
            self.tail = _deconv(width, channels, f3, scale)
            tail_radius = _deconv_radius(f3, scale)
        else:
            self.tail = _conv(width, channels * self.upscale ** 2, f3)
            tail_radius = f3 // 2
        self.shuffle = nn.PixelShuffle(scale) if upsample == "subpixel" else nn.Identity()
        self.shrink = f1 // 2 + ca + body_radius + tail_radius
        if self.residual and self.upscale > 1:  # torch bicubic reads LR pixels p-2 .. p+2
            self.shrink = max(self.shrink, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N,C,H,W) in [0,1], bicubic-upscaled (or the LR image when upsampling) -> (N,C,H',W')."""
        y = self.shuffle(self.tail(self.body(self.head(x))))
        if self.residual:
            skip = x if self.upscale == 1 else F.interpolate(x, scale_factor=self.upscale, mode="bicubic",
                                                             align_corners=False)
            y = y + skip
        return y

    def init_paper(self) -> None:
        """He/MSRA normal for the activation (as VDSR/FSRCNN), biases 0, batch norm 1/0, PReLU 0.25; a
        transposed last layer N(0, 0.001) as FSRCNN; channel attention keeps PyTorch's default."""
        a = {"relu": 0.0, "prelu": 0.25, "lrelu": 0.2}[self.act]
        attention = {id(m) for ca in self.modules() if isinstance(ca, ChannelAttention) for m in ca.modules()}
        for m in self.modules():
            if id(m) in attention:
                continue
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=a, nonlinearity="leaky_relu")
            elif isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, 0.0, 1e-3)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
            elif isinstance(m, nn.PReLU):
                nn.init.constant_(m.weight, 0.25)
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)) and m.bias is not None:
                nn.init.zeros_(m.bias)


VARIANTS = {  # registry name -> the SRCNNVariant kwargs that differ from SRCNN 9-5-5 64-32
    "srcnn-res": dict(residual=True),
    "srcnn-deep8": dict(depth=8, f2=3, n2=64),
    "srcnn-deep16": dict(depth=16, f2=3, n2=64),
    "srcnn-bn": dict(norm="bn"),
    "srcnn-resblocks": dict(depth=8, f2=3, n2=64, blocks=True),
    "srcnn-prelu": dict(act="prelu"),
    "srcnn-lrelu": dict(act="lrelu"),
    "srcnn-ca": dict(attention="ca"),
    "srcnn-subpixel": dict(upsample="subpixel"),
    "srcnn-deconv": dict(upsample="deconv", f3=9),
}


def _closest_preset(kwargs: dict) -> str:
    """The variant preset differing from ``kwargs`` in the fewest values (its name, for direct construction)."""
    defaults = {k: p.default for k, p in inspect.signature(SRCNNVariant).parameters.items()}
    ignore = ("scale", "channels")
    return min(VARIANTS, key=lambda n: sum(v != {**defaults, **VARIANTS[n]}[k] for k, v in kwargs.items()
                                           if k not in ignore))


# ---------------------------------------------------------------------------------------------------------
# registry


MODELS: dict[str, tuple[type, dict]] = {
    "srcnn": (SRCNN, {}),
    "fsrcnn": (FSRCNN, {}),
    "fsrcnn-s": (FSRCNN, dict(d=32, s=5, m=1)),
    "espcn": (ESPCN, {}),
    "vdsr": (VDSR, {}),
    **{name: (SRCNNVariant, kwargs) for name, kwargs in VARIANTS.items()},
}


def model_names() -> list[str]:
    """Every registry name, e.g. ["srcnn", "fsrcnn", ...]."""
    return list(MODELS)


def _lookup(name: str) -> tuple[type, dict]:
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


def build_model(name: str = "srcnn", **kwargs) -> SRModel:
    """The model ``name`` built from its preset kwargs overridden by ``kwargs``.

    Raises ValueError for an unknown name, an unknown/missing keyword or a bad value.
    """
    cls, preset = _lookup(name)
    kwargs = {**preset, **kwargs}
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as e:
        raise ValueError(f"model {name}: {e}") from None
    try:
        model = cls(**kwargs)
    except TypeError as e:  # a value of the wrong type deep inside a constructor
        raise ValueError(f"model {name}: {e}") from None
    model.name = name
    return model


def input_kind_of(model) -> str:
    """What a model takes as input, from its ``upscale`` (the input contract above): "upscaled" for 1 (the
    bicubic-upscaled image), "lr" for s > 1 (the low-resolution image). Any model with an ``upscale``: an
    SRModel, an exported file's wrapper (srcnn.weightfiles), a plain module (none: 1)."""
    return "upscaled" if int(getattr(model, "upscale", 1)) == 1 else "lr"


def input_kind(name: str, **kwargs) -> str:
    """"upscaled" or "lr": what ``build_model(name, **kwargs)`` takes as input, without building it (of a
    built model: :func:`input_kind_of`)."""
    cls, preset = _lookup(name)
    if cls in (FSRCNN, ESPCN):
        return "lr"
    if cls is SRCNN or cls is VDSR:
        return "upscaled"
    return "lr" if {**preset, **kwargs}.get("upsample", "none") != "none" else "upscaled"


def check_upscale(model, scale: int, where: str = "") -> None:
    """SRCNNError (prefixed by ``where``) when an LR-input model (upscale s > 1) is asked for another
    scale; an upscaled-input model (upscale 1) serves every scale."""
    up = int(getattr(model, "upscale", 1))
    if up not in (1, scale):
        raise SRCNNError(f"{where}the model upscales by {up} (it takes the low-resolution image), "
                         f"so it cannot super-resolve x{scale}")


def receptive_field(name: str, scale: int, **kwargs) -> int:
    """Side, in network-input pixels, of the square of input one output pixel of ``build_model(name,
    **kwargs)`` depends on: 2 * shrink + 1 (SRCNN 9-5-5: 17, VDSR: 41, FSRCNN x3: 17 LR pixels).

    ``scale`` is used only by LR-input models, whose deconvolution/sub-pixel layer depends on it. The
    model is built on the "meta" device: no weights are allocated or initialised."""
    if input_kind(name, **kwargs) == "lr":
        kwargs = {"scale": scale, **kwargs}
    with torch.device("meta"):
        return 2 * build_model(name, **kwargs).shrink + 1


def data_defaults(name: str, scale: int) -> dict:
    """Training-data layout for model ``name`` at ``scale``: dict(input, patch_size, stride), sizes in HR px.

    Upscaled-input models: SRCNN's 33 / 14 (VDSR: 41 / 21). LR-input models: the nearest multiples of the
    scale, patch scale*round(33/scale), stride scale*max(1, round(14/scale)).
    """
    kind = input_kind(name)
    _check_int("scale", scale, 2 if kind == "lr" else 1, MAX_SCALE)
    if kind == "lr":
        return dict(input="lr", patch_size=scale * round(33 / scale), stride=scale * max(1, round(14 / scale)))
    if name == "vdsr":
        return dict(input="upscaled", patch_size=41, stride=21)
    return dict(input="upscaled", patch_size=33, stride=14)


def model_summary(model: SRModel) -> str:
    """One line: SRCNN's own repr (``SRCNN(9-5-5, n1=64, ...)``), else ``fsrcnn(scale=3, d=56, ...)``."""
    if type(model).__repr__ is not nn.Module.__repr__:
        return repr(model)
    cfg = model.config()
    name = cfg.pop("name")
    return f"{name}({', '.join(f'{k}={v}' for k, v in cfg.items())})"


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs_per_pixel(model: SRModel, scale: int, probe: int = 64) -> float:
    """Multiply-adds per OUTPUT pixel of the convolutions and transposed convolutions.

    Measured with forward hooks on a (1,C,probe,probe) input and counted as if every layer kept its
    resolution (border effects ignored): a conv costs out_channels * in_channels/groups * k*k per pixel of
    its output, a transposed conv in_channels * out_channels/groups * k*k per pixel of its input (the true
    count, as in the FSRCNN paper). ``scale`` must equal ``model.upscale`` for an LR-input model; an
    upscaled-input model costs the same at every scale.
    """
    if model.upscale != 1 and model.upscale != scale:
        raise ValueError(f"{model.name} is built for x{model.upscale}, not x{scale}")
    total = 0.0

    def res(n: int) -> int:  # the layer's resolution relative to the model input
        return max(1, round(n / probe))

    def hook(m, inputs, output):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, nn.ConvTranspose2d):
            total += m.in_channels * m.out_channels // m.groups * k * res(inputs[0].shape[-1]) ** 2
        else:
            total += m.out_channels * m.in_channels // m.groups * k * res(output.shape[-1]) ** 2

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    training = model.training
    try:
        model.eval()
        p = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(1, model.channels, probe, probe, dtype=p.dtype, device=p.device))
    finally:
        model.train(training)
        for h in handles:
            h.remove()
    return total / model.upscale ** 2
