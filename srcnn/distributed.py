"""Data-parallel training over several processes (torchrun): the process group and the few collectives
the training loop needs.

``torchrun --nproc_per_node=N train.py ...`` starts N copies of train.py with RANK, LOCAL_RANK,
WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT set; ``from_env(cuda)`` joins the process
group when WORLD_SIZE > 1 (NCCL with --cuda, one GPU per process = cuda:LOCAL_RANK; gloo on the CPU) and
returns a ``Dist``. Without torchrun (or with WORLD_SIZE=1) it returns ``SINGLE`` and nothing changes.

Small control messages (the per-step sample count and the stop flags) always go through a CPU gloo
group, so they never wait for the GPU: with NCCL a second, gloo group is made for them.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .errors import SRCNNError

TIMEOUT = timedelta(minutes=30)  # a rank waiting longer than this at a collective fails instead of hanging
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank in [0, world_size), local_rank on its node."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str | None = None
    control: object = None  # process group for CPU control messages (None when single)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def nnodes(self) -> int:
        return max(1, self.world_size // max(1, self.local_world_size))

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier(group=self.control)

    def sync_step(self, n_local: int, local_signal: int | None) -> tuple[int, int | None]:
        """Collective: (samples of this step over all ranks, stop signal if any rank received one).
        SIGINT wins over SIGTERM when ranks received different ones."""
        t = torch.tensor([n_local] + [int(local_signal == s) for s in STOP_SIGNALS], dtype=torch.int64)
        dist.all_reduce(t, group=self.control)
        sig = next((s for s, k in zip(STOP_SIGNALS, t[1:].tolist()) if k), None)
        return int(t[0]), sig

    def all_sum(self, t: torch.Tensor) -> torch.Tensor:
        """Sum of ``t`` over the ranks (a new tensor, on t's device; collective on the default group)."""
        t = t.clone()
        if self.enabled:
            dist.all_reduce(t)
        return t

    def device(self, cuda: bool) -> torch.device:
        """The training device: the CPU, or with ``cuda`` the GPU (this rank's, cuda:LOCAL_RANK, when
        distributed); SRCNNError for ``cuda`` without a CUDA GPU."""
        if not cuda:
            return torch.device("cpu")
        if not torch.cuda.is_available():
            built = torch.version.cuda or "no CUDA (CPU-only build)"
            raise SRCNNError(f"--cuda was given but no CUDA GPU is available (torch {torch.__version__}, built "
                             f"with {built}); run without --cuda to train on the CPU")
        return torch.device("cuda", self.local_rank) if self.enabled else torch.device("cuda")

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module the training step calls: DistributedDataParallel around ``model`` when distributed
        (its gradients are averaged over the ranks during backward), else ``model`` itself. The
        checkpoints always save ``model.state_dict()``: plain names, no 'module.' prefix."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP
        dev = next(model.parameters()).device
        return DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


SINGLE = Dist()


def _env_int(name: str, default: int | None = None) -> int:
    v = os.environ.get(name)
    if v is None:
        if default is None:
            raise SRCNNError(f"WORLD_SIZE is set but {name} is not: start distributed training with torchrun")
        return default
    try:
        return int(v)
    except ValueError:
        raise SRCNNError(f"environment variable {name}={v!r} is not an integer") from None


def from_env(cuda: bool) -> Dist:
    """Join the torchrun process group when WORLD_SIZE > 1 (else SINGLE). With ``cuda`` each process
    takes GPU LOCAL_RANK and NCCL; without it gloo on the CPU."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return SINGLE
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK", 0)
    local_world = _env_int("LOCAL_WORLD_SIZE", world)
    if cuda:
        if not torch.cuda.is_available():
            return SINGLE  # Dist.device gives the clear error
        if local_rank >= torch.cuda.device_count():
            raise SRCNNError(f"rank {rank}: LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} "
                             f"GPU(s) on this node; use --nproc_per_node <= the number of GPUs")
        torch.cuda.set_device(local_rank)
    backend = "nccl" if cuda else "gloo"
    if not dist.is_available() or (backend == "gloo" and not dist.is_gloo_available()):
        raise SRCNNError(f"this torch build has no {backend} support for distributed training")
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=TIMEOUT)
    control = dist.new_group(backend="gloo", timeout=TIMEOUT) if backend == "nccl" else dist.group.WORLD
    return Dist(rank=rank, world_size=world, local_rank=local_rank, local_world_size=local_world,
                backend=backend, control=control)
