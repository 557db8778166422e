"""The "ort" inference path: a PyTorch model's network run by onnxruntime on the CPU.

``onnx_twin(model)`` exports the model (srcnn.export.export_onnx, verified against PyTorch to
VERIFY_TOL) to a temporary file and loads it as an srcnn.weightfiles.OnnxModel, kept for the model's lifetime
and rebuilt when its parameters change. The network is the same function (float32, about 1e-6 apart).

FSRCNN is exported in an equivalent form without PReLU (``relu_form``): onnxruntime fuses ReLU into its
blocked (NCHWc) convolutions but runs a per-channel PReLU as a separate, unblocked operation with a layout
change on each side, which took about half of FSRCNN's time (benchmarks/README.md). With
PReLU(z) = relu(z) - a * relu(-z), a convolution followed by PReLU becomes one convolution to twice the
maps, [z, -z], with a fused ReLU, and the next layer takes both halves with weights [W, -a W].
That doubles both sides of every layer; FSRCNN's 3x3 mapping layers (s -> s maps) instead first
combine the two halves back into PReLU(z) with a 1x1 convolution [I, -a I] (2s -> s, no bias), so only
their outputs are doubled: 3x3 s -> 2s plus 1x1 2s -> s instead of 3x3 2s -> 2s, about 45% fewer
multiply-adds there and 1.2x the speed of the whole network (benchmarks/README.md; the same combine
before the other layers was measured slower).
"""
from __future__ import annotations

import tempfile
import weakref
from pathlib import Path

import torch
from torch import nn

from .errors import SRCNNError

_TWINS: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, nn.Module]]" = weakref.WeakKeyDictionary()


class ReluForm(nn.Module):
    """An FSRCNN (srcnn.models.FSRCNN) as convolutions with fused ReLU and its transposed convolution:
    the same function, (N,C,h,w) float32 -> (N,C,s*h,s*w). For export only (no training)."""

    def __init__(self, model):
        super().__init__()
        mapping = [model.mapping[i:i + 2] for i in range(0, len(model.mapping), 2)]
        pairs = [model.feature, model.shrinking, *mapping, model.expanding]
        layers, slope = [], None
        for i, (conv, prelu) in enumerate(pairs):
            w, b = conv.weight.detach(), conv.bias.detach()
            if slope is not None and 2 <= i < 2 + len(mapping):   # a mapping layer: combine, then convolve
                layers.append(_combine(slope))
            elif slope is not None:        # this layer reads [relu(z), relu(-z)] of the last one
                w = torch.cat([w, -w * slope.view(1, -1, 1, 1)], 1)
            c = nn.Conv2d(w.shape[1], 2 * w.shape[0], w.shape[-1], padding=conv.padding)
            c.weight.data, c.bias.data = torch.cat([w, -w]), torch.cat([b, -b])
            layers += [c, nn.ReLU()]
            slope = prelu.weight.detach().expand(w.shape[0])
        d = model.deconv
        last = nn.ConvTranspose2d(2 * d.in_channels, d.out_channels, d.kernel_size, stride=d.stride,
                                  padding=d.padding, output_padding=d.output_padding)
        w = d.weight.detach()              # (cin, cout, k, k)
        last.weight.data = torch.cat([w, -w * slope.view(-1, 1, 1, 1)])
        last.bias.data = d.bias.detach().clone()
        self.net = nn.Sequential(*layers, last).eval().requires_grad_(False)
        self.channels, self.upscale, self.shrink = model.channels, model.upscale, model.shrink
        self._config = model.config()

    def config(self) -> dict:
        return self._config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _combine(slope: torch.Tensor) -> nn.Conv2d:
    """The 1x1 convolution [relu(z), relu(-z)] (2n maps) -> PReLU(z) = relu(z) - a relu(-z) (n maps)."""
    n = slope.numel()
    c = nn.Conv2d(2 * n, n, 1, bias=False)
    eye = torch.eye(n)
    c.weight.data = torch.cat([eye, -eye * slope.view(1, -1)], 1).view(n, 2 * n, 1, 1)
    return c


def relu_form(model: nn.Module) -> nn.Module:
    """What onnx_twin exports: :class:`ReluForm` for an FSRCNN, the model itself otherwise."""
    from .models import FSRCNN
    return ReluForm(model) if isinstance(model, FSRCNN) else model


def _fingerprint(model: nn.Module) -> tuple:
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def onnx_twin(model: nn.Module) -> nn.Module:
    """The onnxruntime version of a PyTorch model on the CPU (an srcnn.weightfiles.OnnxModel), made once per
    model and parameter state. SRCNNError when the model is not on the CPU or cannot be exported."""
    from .export import export_onnx
    from .weightfiles import OnnxModel
    p = next(iter(model.parameters()), None)
    if p is not None and p.device.type != "cpu":
        raise SRCNNError(f"precision ort: the model is on {p.device}; onnxruntime runs on the CPU here")
    key = _fingerprint(model)
    hit = _TWINS.get(model)
    if hit is not None and hit[0] == key:
        return hit[1]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "twin.onnx"
        export_onnx(relu_form(model), {"scale": max(2, int(getattr(model, "upscale", 1)))}, path)
        twin = OnnxModel(path).eval()
    _TWINS[model] = (key, twin)
    return twin
