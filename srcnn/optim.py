"""The arithmetic of a training step besides the model: the optimizer and its update, the losses, VDSR's
adjustable gradient clipping, the learning-rate schedule, the on-the-fly dihedral augmentation and the
exponential moving average of the weights (srcnn.engine's Trainer applies them)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

CHARBONNIER_EPS = 1e-3
SGD_MOMENTUM = 0.9


def charbonnier_loss(out: torch.Tensor, y: torch.Tensor, eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    """mean(sqrt((out - y)^2 + eps^2)): a differentiable L1 (Charbonnier penalty); scalar tensor."""
    return torch.sqrt((out - y).square() + eps * eps).mean()


LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "charbonnier": charbonnier_loss}


def clip_gradients(opt: torch.optim.Optimizer, theta: float) -> None:
    """VDSR's adjustable gradient clipping: every gradient element clamped to [-theta/lr, theta/lr] with
    the current lr of its parameter group (so no single step moves a weight by more than about theta)."""
    for g in opt.param_groups:
        bound = theta / g["lr"] if g["lr"] > 0 else math.inf
        for p in g["params"]:
            if p.grad is not None:
                p.grad.clamp_(-bound, bound)


def make_optimizer(model: torch.nn.Module, cfg) -> torch.optim.Optimizer:
    """Adam, or SGD with momentum 0.9 (cfg.optimizer, a TrainConfig's) at cfg.lr with cfg.weight_decay; the
    last layer (the last child module with parameters) in a group of its own that learns at lr x
    cfg.last_layer_lr (each group's "lr_scale", which ``set_lr`` applies)."""
    layers = [m for m in model.children() if any(True for _ in m.parameters())]
    last = {id(p) for p in layers[-1].parameters()}
    groups = [{"params": [p for p in model.parameters() if id(p) not in last], "lr_scale": 1.0},
              {"params": [p for p in model.parameters() if id(p) in last], "lr_scale": cfg.last_layer_lr}]
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=SGD_MOMENTUM, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def grad_scaler():
    """A CUDA gradient scaler (for float16 autocast)."""
    return torch.amp.GradScaler("cuda") if hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler()  # torch < 2.3


def update(opt: torch.optim.Optimizer, objective: torch.Tensor, scaler=None, clip: float = 0.0) -> None:
    """Backward from the scalar ``objective`` and one step of ``opt``: through the GradScaler ``scaler``
    (None: none), with ``clip_gradients`` of the true (unscaled) gradients when ``clip`` > 0."""
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        objective.backward()
        if clip:
            clip_gradients(opt, clip)
        opt.step()
        return
    scaler.scale(objective).backward()
    if clip:
        scaler.unscale_(opt)
        clip_gradients(opt, clip)
    scaler.step(opt)
    scaler.update()


def set_lr(opt: torch.optim.Optimizer, epoch: int, cfg) -> float:
    """Set the lr of every group of ``opt`` for 0-based ``epoch``: cfg.lr x ``lr_factor`` x the group's
    lr_scale; returns the base lr (cfg.lr x lr_factor)."""
    f = lr_factor(epoch, cfg)
    for g in opt.param_groups:
        g["lr"] = cfg.lr * g["lr_scale"] * f
    return cfg.lr * f


def lr_factor(epoch: int, cfg) -> float:
    """Learning-rate multiplier for 0-based ``epoch`` under the schedule of ``cfg`` (a TrainConfig):
    constant, step (x lr_gamma every lr_step epochs) or cosine (from 1 to 0 over num_epoch)."""
    if cfg.schedule == "step":
        return cfg.lr_gamma ** (epoch // cfg.lr_step)
    if cfg.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, cfg.num_epoch) / cfg.num_epoch))
    return 1.0


def augment_choice(seed: int, step: int) -> int:
    """Which of the 8 flips/rotations (0..7) the batch of global step ``step`` gets: a pure function of
    (seed, step), so a resumed run continues the same sequence."""
    return int(np.random.SeedSequence([seed, step, 8]).generate_state(1)[0] % 8)


def dihedral(t: torch.Tensor, k: int) -> torch.Tensor:
    """(...,H,W) tensor under the k-th element (0..7) of the square's symmetry group: k % 4 quarter turns,
    then a horizontal flip when k >= 4. Applied to input and label together it keeps them aligned (each
    patch's centre stays its centre)."""
    t = torch.rot90(t, k % 4, dims=(-2, -1)) if k % 4 else t
    return torch.flip(t, dims=(-1,)) if k >= 4 else t


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """ema <- d * ema + (1 - d) * model with d = min(decay, (1 + step) / (10 + step)), so that the average
    does not lag far behind in the first steps of a run; buffers are copied."""
    d = min(decay, (1 + step) / (10 + step))
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1.0 - d)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)
