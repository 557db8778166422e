"""What a prepared file holds: ``PrepareConfig``, the options that decide its content (the fingerprint
is taken over them), checked once by ``validate``."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..color import CHANNEL_NAMES, channel_count
from ..degradation import RealDegradation
from ..errors import SRCNNError, check_number, check_scale
from ..h5format import INPUTS
from ..images import MAX_PIXELS

BLUR_SIGMA_MAX = 50.0  # HR pixels: a kernel of 301 taps, wider than a training image is useful
NOISE_SIGMA_MAX = 255.0  # grey levels: noise as strong as the whole signal range


def _model_names() -> list[str]:
    from ..models import model_names  # here, not at the top: the workers never import torch
    return model_names()


@dataclass(frozen=True)
class PrepareConfig:
    """Everything that determines the content of the file (the fingerprint is taken over it), and
    ``max_pixels``, the largest image read (not fingerprinted: the source list shows what was used)."""
    scales: tuple[int, ...] = (3,)
    patch_size: int = 33
    stride: int = 14
    label_size: int | None = None  # None: the full patch
    channels: str = "y"  # "y" or "rgb"
    blur_sigma: float = 0.0  # Gaussian blur of HR before the downscale, in HR pixels; 0 = none
    noise_sigma: float = 0.0  # additive Gaussian noise on the LR image, grey levels of 255; 0 = none
    augment: bool = False  # 8 flips/rotations x FSRCNN's 5 copies: 40 versions, ~25x the patches
    val_fraction: float = 0.0  # fraction of the images held out whole in /val
    seed: int = 0
    input: str = "upscaled"  # "upscaled": lr = the LR image bicubic-upscaled to HR size; "lr": the LR image
    max_pixels: int = MAX_PIXELS  # larger images are skipped unread (not a content option: see params)
    degradation: RealDegradation | None = None  # None: the paper's (bicubic, blur_sigma, noise_sigma); else "real"

    def __post_init__(self):
        object.__setattr__(self, "scales", tuple(self.scales))  # a list from library callers
        if isinstance(self.degradation, dict):  # as params() records it
            d = {k: v for k, v in self.degradation.items() if k != "name"}
            object.__setattr__(self, "degradation", RealDegradation(**d))

    @property
    def label(self) -> int:
        return self.patch_size if self.label_size is None else self.label_size

    @property
    def n_channels(self) -> int:
        """The channels as a count (1, 3); ``channels`` names them ("y", "rgb")."""
        return channel_count(self.channels)

    @property
    def input_size(self) -> int:
        """Side of a network-input patch: patch_size, or patch_size / scale for input "lr"."""
        return self.patch_size // self.scales[0] if self.input == "lr" else self.patch_size

    def validate(self, model: str | None = None) -> "PrepareConfig":
        """Raise SRCNNError for an impossible combination; returns self. With ``model`` (a registry
        name, prepare_data.py's --model) the patch must also be large enough for that network
        (``min_patch_size``); another name (a library caller's own network) is not checked."""
        try:
            scales_ok = bool(self.scales) and all(check_scale(s) for s in self.scales)
        except SRCNNError:
            scales_ok = False
        if not scales_ok:
            raise SRCNNError(f"--scale must be integers in 2..255, got {list(self.scales)}")
        if len(set(self.scales)) != len(self.scales):
            raise SRCNNError(f"--scale lists a scale twice: {list(self.scales)}")
        if self.patch_size < 1 or self.stride < 1:
            raise SRCNNError(f"--patch-size and --stride must be >= 1, got {self.patch_size} and {self.stride}")
        if not 1 <= self.label <= self.patch_size or (self.patch_size - self.label) % 2:
            raise SRCNNError(f"--label-size must be in 1..{self.patch_size} with patch_size - label_size even "
                             f"(a centred label), got {self.label}")
        if self.channels not in CHANNEL_NAMES:
            raise SRCNNError(f"--channels must be 'y' or 'rgb', got {self.channels!r}")
        # finite and in range (NaN, inf and 1e7 are refused: they would write NaN or exhaust memory)
        check_number("--blur-sigma", self.blur_sigma, 0, BLUR_SIGMA_MAX, unit="(HR pixels)")
        check_number("--noise-sigma", self.noise_sigma, 0, NOISE_SIGMA_MAX, unit="(grey levels of 255)")
        check_number("--val-fraction", self.val_fraction, 0, 1, hi_open=True)
        if self.degradation is not None:
            if not isinstance(self.degradation, RealDegradation):
                raise SRCNNError(f"degradation must be None (the paper's) or a RealDegradation, "
                                 f"got {self.degradation!r}")
            self.degradation.validate()
            if self.blur_sigma or self.noise_sigma:
                raise SRCNNError("--blur-sigma and --noise-sigma belong to the paper's degradation; with "
                                 "--degradation real give their ranges (--blur-range, --noise-range)")
        if self.seed < 0:
            raise SRCNNError(f"--seed must be >= 0, got {self.seed}")
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, (int, np.integer)) \
                or self.max_pixels < 1:
            raise SRCNNError(f"--max-pixels must be a whole number of pixels >= 1, got {self.max_pixels!r}")
        if self.input not in INPUTS:
            raise SRCNNError(f"input must be 'upscaled' or 'lr', got {self.input!r}")
        if self.input == "lr" and len(self.scales) != 1:
            raise SRCNNError(f"--scale {','.join(map(str, self.scales))}: an LR-input model has one scale; "
                             f"prepare one file per scale")
        if model is not None and model in _model_names():
            need, why = self.min_patch_size(model)
            if self.patch_size < need:
                at = f" at x{self.scales[0]}" if self.input == "lr" else ""
                raise SRCNNError(f"--patch-size {self.patch_size} is too small for --model {model}{at}: "
                                 f"the minimum is {need} ({why})")
        if self.input == "lr":
            s = self.scales[0]
            if self.patch_size % s or self.stride % s:
                raise SRCNNError(f"--patch-size {self.patch_size} and --stride {self.stride} must be multiples "
                                 f"of the scale {s} for an LR-input model (LR patches of patch_size/scale)")
            if self.label != self.patch_size:
                raise SRCNNError(f"--label-size {self.label}: an LR-input model is trained on the whole HR "
                                 f"patch; leave --label-size out (it is the patch size, {self.patch_size})")
        return self

    def min_patch_size(self, model: str) -> tuple[int, str]:
        """(smallest --patch-size in HR pixels, why, in words) for the registry model ``model`` at the
        first scale. The one place of this rule: validate applies it, prepare_data.py raises its default
        patch size to it.

        The network input, R pixels a side (the patch, or patch / scale for LR input), must span at
        least a third of the model's receptive field F (srcnn.models.receptive_field): R >= ceil(F / 3).
        Smaller, over two thirds of what an output pixel sees in each direction is zero padding; 1 and 2
        are always refused (F >= 9 for every model). A third and not all of F, because published
        settings train below F: FSRCNN's own x4 sub-images are 6 LR pixels for F = 15, and this
        project's FSRCNN x3/x4 defaults are 11 and 8 LR pixels for F = 17 and 15.
        A label smaller than the patch (--label-size) is for SRCNN trained without padding (the paper,
        train.py's default), whose output is the patch less F - 1 pixels: the patch must then be at
        least F, or that output (and the label the training keeps of it) is empty."""
        from ..models import receptive_field  # here, not at the top: the workers never import torch
        s = self.scales[0]
        f = receptive_field(model, s)
        if model == "srcnn" and self.label < self.patch_size:
            return f, (f"its {f} px receptive field: a --label-size below the patch is for SRCNN without "
                       f"padding, whose output is the patch less {f - 1} px")
        r = -(-f // 3)
        if self.input == "lr":
            return r * s, f"LR patches of at least {r} px, a third of its {f} px receptive field"
        return r, f"a third of its {f} px receptive field"

    def params(self) -> dict:
        """The parameters as stored in the root attributes (JSON-able). ``input`` is listed only when it
        is "lr", so files of bicubic-upscaled input keep the fingerprints they had before it existed."""
        d = asdict(self)
        d["scales"] = [int(s) for s in self.scales]
        d["label_size"] = self.label
        del d["max_pixels"]  # decides only which images are read: the source list (fingerprinted) shows it
        if self.degradation is None:  # the paper's: files keep the fingerprints they had before "real"
            del d["degradation"]
        else:
            d["degradation"] = self.degradation.params()
        if self.input == "upscaled":
            del d["input"]
        return d
