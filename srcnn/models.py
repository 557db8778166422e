"""Network architectures. Every model maps (N,C,H,W) float32 in [0,1] to (N,C,H',W').

The input contract is part of the model (``SRModel``): ``upscale == 1`` means the input is the
bicubic-upscaled image and the output has (about) its size; ``upscale == s > 1`` means the input is the
low-resolution image itself and the output is s times larger (post-upsampling).

SRCNN (Dong et al., TPAMI 2015): patch extraction (f1 x f1, n1 maps) -> ReLU -> non-linear mapping
(f2 x f2, n2 maps) -> ReLU -> reconstruction (f3 x f3). The input is the bicubic-upscaled image.
"""
from __future__ import annotations

import torch
from torch import nn

PADDINGS = ("none", "zeros", "replicate")


class SRModel(nn.Module):
    """What every architecture exposes besides ``forward``.

    channels: 1 (Y) or 3 (RGB). upscale: 1 (input = bicubic-upscaled image) or the scale (input = LR
    image). shrink: receptive-field radius in input pixels (the margin tiled inference needs).
    last_layer_lr_scale: learning-rate factor of the last layer (SRCNN's paper: 0.1).
    """
    channels: int = 1
    upscale: int = 1
    shrink: int = 0
    last_layer_lr_scale: float = 1.0

    @property
    def input_kind(self) -> str:
        """"upscaled" (bicubic-upscaled HR-size input) or "lr" (the low-resolution image)."""
        return "upscaled" if self.upscale == 1 else "lr"

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
        for f in (f1, f2, f3):
            if f < 1 or f % 2 == 0:
                raise ValueError(f"filter sizes must be odd and positive, got {f1}-{f2}-{f3}")
        self.name = "srcnn"
        self.kwargs = dict(f1=f1, f2=f2, f3=f3, n1=n1, n2=n2, channels=channels, padding=padding)
        self.last_layer_lr_scale = 0.1
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


MODELS = {"srcnn": SRCNN}


def build_model(name: str = "srcnn", **kwargs) -> nn.Module:
    """Construct a model by family name with its keyword arguments."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None
    return cls(**kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
