"""TrainConfig: the options of a training run (train.py's), frozen and validated when it is made.

Checkpoints keep them as a plain dict under "hparams" (``as_dict``: every field, in this order, lists
for lists), which ``torch.load(weights_only=True)`` loads and ``from_dict`` reads back (a key that
older checkpoints lack takes its default).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .errors import SRCNNError, check_number
from .models import PADDINGS, model_names
from .optim import LOSSES
from .precision import PRECISIONS

# --model srcnn only, with their defaults (None for other models, which take --model-arg KEY=VALUE)
SRCNN_OPTIONS = {"filters": "9-5-5", "n1": 64, "n2": 32, "padding": "none"}
# the options that take one of a list of values: what train.py offers (argparse) and what TrainConfig accepts
CHOICES = {"optimizer": ("adam", "sgd"), "loss": tuple(LOSSES), "schedule": ("none", "step", "cosine"),
           "init": ("paper", "default"), "precision": PRECISIONS, "loader": ("auto", "memory", "stream"),
           "padding": PADDINGS}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def srcnn_only(model: str, given) -> None:
    """SRCNNError when options of --model srcnn (SRCNN_OPTIONS among the field names ``given``) are set for
    another model, even at their default values."""
    flags = [_flag(k) for k in SRCNN_OPTIONS if k in given]
    if model != "srcnn" and flags:
        raise SRCNNError(f"{' '.join(flags)}: option(s) of --model srcnn; {model} takes its settings as "
                         f"--model-arg KEY=VALUE (e.g. --model-arg depth=8)")


@dataclass(frozen=True)
class TrainConfig:
    """One field per train.py option (the flag is ``--`` + the name with "-" for "_")."""
    data: str | list[str] = "train.h5"     # one file or pattern, or a list of them read as one dataset
    out_dir: str = "checkpoints"
    lr: float = 3e-4
    batch_size: int = 16                   # per process (the global batch is this x world size)
    num_epoch: int = 100
    save_freq: int = 10
    optimizer: str = "adam"
    loss: str = "mse"
    schedule: str = "none"
    lr_step: int = 30
    lr_gamma: float = 0.1
    init: str = "default"
    seed: int = 0
    model: str = "srcnn"
    model_arg: list[str] = field(default_factory=list)   # "KEY=VALUE" constructor arguments
    filters: str | None = None             # the SRCNN_OPTIONS: None = not given (srcnn: its default)
    n1: int | None = None
    n2: int | None = None
    padding: str | None = None
    clip: float = 0.0
    weight_decay: float = 0.0
    amp: bool = False
    channels_last: bool = False
    val_set: str | None = None
    data_root: str | None = None
    cuda: bool = False
    loader: str = "auto"
    workers: int = 2
    precision: str = "auto"
    init_from: str | None = None
    augment: bool = True
    ema: float = 0.999
    last_layer_lr: float = 1.0             # the last layer's lr factor (SRCNN's paper: 0.1)

    def __post_init__(self):
        """Check every value (finite numbers in range, known names); the SRCNN-only options take their
        defaults for --model srcnn and must be None for other models (``srcnn_only``)."""
        for k in ("lr", "batch_size", "num_epoch", "save_freq", "lr_step", "lr_gamma", "last_layer_lr"):
            check_number(_flag(k), getattr(self, k), 0, lo_open=True)
        for k in ("clip", "weight_decay"):
            check_number(_flag(k), getattr(self, k), 0)
        check_number("--ema", self.ema, 0, 1, hi_open=True)
        if self.model not in model_names():
            raise SRCNNError(f"unknown --model {self.model!r}; known: {', '.join(model_names())}")
        srcnn_only(self.model, [k for k in SRCNN_OPTIONS if getattr(self, k) is not None])
        if self.model == "srcnn":
            for k, default in SRCNN_OPTIONS.items():
                object.__setattr__(self, k, default if getattr(self, k) is None else getattr(self, k))
        for k, allowed in CHOICES.items():
            if getattr(self, k) not in allowed and not (k == "padding" and self.model != "srcnn"):
                raise SRCNNError(f"{_flag(k)} must be one of {', '.join(allowed)}, got {getattr(self, k)!r}")
        object.__setattr__(self, "model_arg", list(self.model_arg or ()))
        if isinstance(self.data, (list, tuple)):
            object.__setattr__(self, "data", list(self.data))

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """The config of a dict with some or all of the fields (e.g. a checkpoint's "hparams")."""
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise SRCNNError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**d)

    def as_dict(self) -> dict:
        """Every field in order, as plain Python values: the "hparams" of a checkpoint."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["model_arg"] = list(self.model_arg)
        if isinstance(self.data, list):
            d["data"] = list(self.data)
        return d


DEFAULTS = TrainConfig().as_dict()   # the train.py defaults (argparse), by field name (--model srcnn)


def stored_hparams(hp: dict) -> dict:
    """A checkpoint's "hparams" with every field: a key it lacks (the option is newer than the run) takes
    the value the run trained with, which is not always today's default (no EMA, no on-the-fly flips and
    rotations; SRCNN's last layer at lr/10, before --last-layer-lr)."""
    srcnn = hp.get("model", "srcnn") == "srcnn"
    before = {"ema": 0.0, "augment": False, "last_layer_lr": 0.1 if srcnn else 1.0,
              **({} if srcnn else dict.fromkeys(SRCNN_OPTIONS))}
    return {**DEFAULTS, **before, **hp}
