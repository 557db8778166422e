"""The arithmetic of a training step besides the model: the losses, VDSR's adjustable gradient
clipping, the learning-rate schedule, the on-the-fly dihedral augmentation and the exponential moving
average of the weights (srcnn.engine's Trainer applies them)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

CHARBONNIER_EPS = 1e-3


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


def lr_factor(epoch: int, hp: dict) -> float:
    """Learning-rate multiplier for 0-based ``epoch``: constant, step (x lr_gamma every lr_step epochs)
    or cosine (from 1 to 0 over num_epoch)."""
    if hp["schedule"] == "step":
        return hp["lr_gamma"] ** (epoch // hp["lr_step"])
    if hp["schedule"] == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, hp["num_epoch"]) / hp["num_epoch"]))
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
