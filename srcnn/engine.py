"""The training loop: any srcnn.models architecture on "srcnn-patches" HDF5 data, with crash-safe,
resumable checkpoints. ``srcnn.cli.train.build_trainer(cfg)`` makes the Trainer of a TrainConfig (the
data, the model on its device, its numeric path, the validation images, a checkpoint to continue).

Per epoch: train on /train (sample order a pure function of (seed, epoch)), validate (PSNR/SSIM on Y
with the paper's protocol, by evaluate.py's code: srcnn.evaluation.score_model), append to the history,
write checkpoint.last, checkpoint.<epoch> every save_freq epochs, checkpoint.best on a new best
validation PSNR, log.jsonl and plot.png (srcnn.rundir; a checkpoint's content: srcnn.checkpoint).
A step: x (B,C,R,R) float32 -> model -> (B,C,O,O) (O = model.out_size(R)), centre-aligned with the label
y (B,C,L,L) float32 in [0,1]; the loss, optimizer update, lr schedule, augmentation and EMA: srcnn.optim;
autocast on the numeric path (srcnn.precision).

``run`` returns 0 when done, 130 / 143 when SIGINT / SIGTERM stopped it after saving a checkpoint
(srcnn.rundir.StopRequest). A non-finite loss raises SRCNNError (nothing is saved from the diverged
state); a full disk is one SRCNNError line (srcnn.files.disk_error).

Distributed (``dist``, srcnn.distributed): DistributedDataParallel, each rank trains on its share of
every global batch (batch_size per process); each step the ranks agree on the step's sample count and
on stopping, and the non-finite check sums the loss over the ranks. Only rank 0 validates and writes;
the others wait at a barrier. Checkpoints hold the plain state_dict: a run resumes on any number of
processes.
"""
from __future__ import annotations

import math
import signal
import time
from contextlib import closing
from pathlib import Path

import torch
from tqdm import tqdm

from .checkpoint import PROGRESS, inference_config, restore_training, training_checkpoint
from .config import TrainConfig
from .data import make_loader
from .distributed import SINGLE, Dist
from .errors import SRCNNError
from .evaluation import score_model
from .files import disk_error
from .models import SRModel, build_model, count_parameters, model_summary
from .optim import LOSSES, augment_choice, dihedral, ema_update, grad_scaler, make_optimizer, set_lr, update
from .precision import NumericPath, describe as describe_numeric
from .rundir import RunDir, StopRequest

CHECK_EVERY = 10           # steps between non-finite-loss checks (each one syncs with the GPU)


def _print(*args) -> None:
    print(*args, flush=True)


def _quiet(*args) -> None:
    pass


class Trainer:
    """One training run (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, model: SRModel, data, numeric: NumericPath, val: list, *,
                 val_source: str | None = None, resume: dict | None = None, resume_path=None,
                 recipe: dict | None = None, resume_command=None, log=_print, dist: Dist = SINGLE):
        """``model``: built and initialised for ``data`` (a srcnn.data.open_patches file that it fits), on
        its training device; ``numeric``: its numeric path; ``val``: the validation items from
        ``val_source`` (none on ranks other than 0). ``resume``: the checkpoint, read from ``resume_path``,
        whose training state this run continues. ``recipe``: how the run was made, saved in every
        checkpoint; ``resume_command(path)``: the command line that continues from a checkpoint, shown
        when a signal stops the run."""
        self.cfg, self.model, self.pf, self.numeric, self.dist = cfg, model, data, numeric, dist
        self.val, self.val_source = val, val_source
        self.log = log if dist.is_main else _quiet
        self.recipe, self.resume_command = recipe or {}, resume_command
        self.init_source = cfg.init_from if resume is not None else (self.recipe.get("parent") or {}).get("weights")
        self.out_dir = Path(cfg.out_dir)
        self.rundir = RunDir(self.out_dir, lambda *a: self.log(*a))
        self.stop = StopRequest(dist, lambda *a: self.log(*a))
        self.device = next(model.parameters()).device
        self.in_size, out = data.input_size, model.out_size(data.input_size)  # (the centre alignment is checked)
        self.crop_label, self.crop_out = max(0, (data.label_size - out) // 2), max(0, (out - data.label_size) // 2)
        if numeric.channels_last:
            model.to(memory_format=torch.channels_last)
        self.net = dist.wrap(model)  # what the training step calls (DDP when distributed)
        # validation runs on whole images, as inference does (srcnn.checkpoint.inference_config)
        self.eval_model = build_model(**inference_config(model.config())).to(self.device).eval()
        self.opt, self.loss_fn = make_optimizer(model, cfg), LOSSES[cfg.loss]
        self.amp_dtype = numeric.autocast
        self.scaler = grad_scaler() if numeric.scaler else None  # float16 on CUDA needs gradient scaling
        # --ema: an exponential moving average of the weights, validated, kept for checkpoint.best and exported
        # (built before the resumed random state is restored: its initialisation draws numbers)
        self.ema = None
        if cfg.ema:
            self.ema = build_model(**model.config()).to(self.device).eval().requires_grad_(False)
            self.ema.load_state_dict((resume or {}).get("ema_state_dict") or model.state_dict())
        p = PROGRESS if resume is None else restore_training(resume, self.opt, self.scaler, cfg, self.log)
        self.epoch, self.step, self.time_spent, self.partial = p["epoch"], p["step"], p["time_spent"], p["partial"]
        self.history, self.best = list(p["history"]), p["best"]
        # the last checkpoint written (path, epoch); checkpoint.best of self.best (a resumed run's may be elsewhere)
        self.last_good = None if resume is None else (resume_path, self.epoch)
        self.best_path = Path(resume_path).parent / "checkpoint.best" if self.best and resume_path else None
        self.loader = make_loader(data, cfg.loader, cfg.batch_size, cfg.seed, self.device, cfg.workers,
                                  rank=dist.rank, world=dist.world_size)
        self.global_batch = cfg.batch_size * dist.world_size
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    # ------------------------------------------------------------------ the loop
    def run(self, fresh: bool = True) -> int:
        """Train to cfg.num_epoch (``fresh``: a new run in out_dir; else the resumed one); the run folder
        stays locked until this returns or raises. Returns the exit code (see the module docstring)."""
        try:
            if self.dist.is_main:
                self.rundir.open(fresh)
            self.dist.barrier()
            self._describe()
            if self.epoch >= self.cfg.num_epoch:
                self.log(f"nothing to do: already at epoch {self.epoch} of {self.cfg.num_epoch} "
                         "(pass --num-epoch to train longer)")
                return 0
            with self.stop.handled():
                while self.epoch < self.cfg.num_epoch:
                    stats = self.train_epoch()          # batches -> steps
                    if stats is None:                   # stopped inside the epoch
                        path = self.save("checkpoint.interrupted")
                        self.dist.barrier()  # no rank exits before the checkpoint is written
                        return self._stopped(path, f"in epoch {self.epoch + 1} after "
                                             f"{self.partial['samples']:,} of {self.pf.count:,} samples")
                    self.log(self.end_epoch(stats))     # validate -> save
                    self.dist.barrier()  # the others wait while rank 0 validates and saves
                    self.stop.sync()     # a signal during validation or saving
                    if self.stop.agreed is not None:
                        return self._stopped(self.out_dir / "checkpoint.last", f"after epoch {self.epoch}")
            self.log(f"done: {self.epoch} epochs in {self.time_spent:.1f} s{self._best_line()}")
            return 0
        except (OSError, SRCNNError) as e:
            err = disk_error(e, self.out_dir, "the checkpoints written before are kept (last good: "
                                              f"{self.last_good and self.last_good[0] or 'none yet'})")
            if err is None:
                raise
            raise err from None
        finally:
            self.rundir.close()

    def train_epoch(self) -> dict | None:
        """One epoch (or the rest of an interrupted one). Returns its stats, or None when stopped."""
        e, bs = self.epoch, self.global_batch
        lr = set_lr(self.opt, e, self.cfg)
        self.model.train()
        p = self.partial or {"samples": 0, "loss_sum": 0.0, "time": 0.0}
        done, t_before = p["samples"], p["time"]
        # per-rank sum of loss x samples; rank 0 carries the interrupted epoch's part (summed over ranks)
        loss_sum = torch.tensor(p["loss_sum"] if self.dist.is_main else 0.0, dtype=torch.float64,
                                device=self.device)
        t0, new, i = time.perf_counter(), 0, 0
        bar = tqdm(total=len(self.loader), initial=math.ceil(done / bs), desc=f"epoch {e + 1}",
                   unit="batch", leave=False, dynamic_ncols=True, disable=None if self.dist.is_main else True)
        try:
            with closing(self._steps(e, skip=done)) as steps:
                for i, (x, y, n) in enumerate(steps, 1):
                    loss_sum += self._train_step(x, y, n).double() * len(x)
                    done, new, self.step = done + n, new + n, self.step + 1
                    bar.update()
                    if i % CHECK_EVERY == 0:
                        v = self._check_finite(loss_sum, i)
                        bar.set_postfix(loss=f"{v / done:.3e}", sps=f"{new / (time.perf_counter() - t0):.0f}")
                    if self.stop.agreed is not None:
                        break
        finally:
            bar.close()
        self.stop.sync()  # a signal during the last step: all ranks must see it
        total = self._check_finite(loss_sum, i)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        self.time_spent += dt
        if self.stop.agreed is not None and done < self.pf.count:
            self.partial = {"samples": done, "loss_sum": total, "time": t_before + dt}
            return None
        return {"loss": total / done, "lr": lr, "time": t_before + dt, "samples_per_s": new / max(dt, 1e-9)}

    def _train_step(self, x: torch.Tensor, y: torch.Tensor, n_global: int | None = None) -> torch.Tensor:
        """One optimiser step on this process's batch; returns its mean loss (0 for an empty batch).
        Distributed: ``n_global`` = the step's samples over all ranks. DDP averages the ranks' gradients,
        so each rank's loss is weighted by n_local * world / n_global: the step then follows the mean
        loss over all n_global samples, as one process with the whole global batch would."""
        cfg = self.cfg
        if cfg.augment:
            k = augment_choice(cfg.seed, self.step)
            x, y = dihedral(x, k), dihedral(y, k)
        if self.numeric.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.bfloat16,
                            enabled=self.amp_dtype is not None):
            out = self.net(x)
        if self.crop_out:
            out = out[..., self.crop_out:-self.crop_out, self.crop_out:-self.crop_out]
        if self.crop_label:
            y = y[..., self.crop_label:-self.crop_label, self.crop_label:-self.crop_label]
        n, world = len(x), self.dist.world_size
        if n == 0:  # a rank out of data while others still have some: a zero gradient, same collectives
            loss = objective = out.float().sum() * 0.0
        else:
            loss = self.loss_fn(out.float(), y)
            objective = loss if n_global is None or n * world == n_global else loss * (n * world / n_global)
        update(self.opt, objective, self.scaler, cfg.clip)
        if self.ema is not None:
            ema_update(self.ema, self.model, cfg.ema, self.step)
        return loss.detach()

    def validate(self) -> tuple[float | None, float | None]:
        """Mean (PSNR dB, SSIM) of the float32 eval model (the EMA weights with --ema) over the validation
        images and scales (srcnn.evaluation.score_model, what evaluate.py reports); (None, None) without any."""
        if not self.val:
            return None, None
        self.eval_model.load_state_dict((self.model if self.ema is None else self.ema).state_dict())
        return score_model(self.eval_model, self.val)

    def end_epoch(self, stats: dict) -> str:
        """Validate, add the epoch to the history, save its checkpoints and log (rank 0); the epoch's line."""
        t0 = time.perf_counter()
        val_psnr, val_ssim = self.validate()
        dt = time.perf_counter() - t0
        self.time_spent += dt
        self.epoch += 1
        self.partial = None
        entry = {"epoch": self.epoch, "loss": stats["loss"], "val_psnr": val_psnr, "val_ssim": val_ssim,
                 "lr": stats["lr"], "time": stats["time"] + dt, "samples_per_s": stats["samples_per_s"]}
        if self.dist.enabled:
            entry.update(world_size=self.dist.world_size, global_batch_size=self.global_batch)
        self.history.append(entry)
        improved = val_psnr is not None and (self.best is None or val_psnr > self.best["val_psnr"])
        if improved:
            self.best = {"epoch": self.epoch, "val_psnr": val_psnr}
        t0 = time.perf_counter()
        state = self.state() if self.dist.is_main else None
        if improved:
            self.best_path = self.save("checkpoint.best", state)
        if self.epoch % self.cfg.save_freq == 0:
            self.save(f"checkpoint.{self.epoch}", state)
        self.last_good = (self.save("checkpoint.last", state), self.epoch)
        if self.dist.is_main:
            self.rundir.write_log(self.history, self.cfg.loss)
        self.time_spent += time.perf_counter() - t0  # (the saved time_spent leaves out its own saving)
        val = f"  val {val_psnr:.3f} dB" if val_psnr is not None else ""
        val += f" / {val_ssim:.4f}" if val_ssim is not None else ""
        return (f"epoch {self.epoch:>4}/{self.cfg.num_epoch}  loss {stats['loss']:.4e}{val}  "
                f"lr {stats['lr']:.2e}  {stats['samples_per_s']:,.0f} samples/s  {entry['time']:.1f} s"
                + ("  *best*" if improved else ""))

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        """The checkpoint of the run now (srcnn.checkpoint.training_checkpoint)."""
        progress = {"epoch": self.epoch, "step": self.step, "history": list(self.history), "best": self.best,
                    "time_spent": self.time_spent, "partial": self.partial}
        layout = {"world_size": self.dist.world_size, "global_batch_size": self.global_batch,
                  "backend": self.dist.backend}
        return training_checkpoint(self.model, self.ema, self.opt, self.scaler, cfg=self.cfg, data=self.pf,
                                   numeric=self.numeric, progress=progress, recipe=self.recipe, distributed=layout)

    def save(self, name: str, state: dict | None = None) -> Path:
        """Write a checkpoint into the run folder (rank 0 only; the path is returned on every rank)."""
        if not self.dist.is_main:
            return self.out_dir / name
        return self.rundir.save(name, state or self.state())

    # ------------------------------------------------------------------ the parts out of the way
    def _describe(self) -> None:
        """The start-up lines: model, numeric path, extras, ranks, data, validation."""
        cfg = self.cfg
        self.log(f"model   {model_summary(self.model)}, {count_parameters(self.model):,} parameters, on {self.device}"
                 + (f", weights from {self.init_source}" if self.init_source else ""))
        self.log(describe_numeric(self.numeric))
        extras = (["on-the-fly flips/rotations (one of 8 per batch)"] if cfg.augment else []) + \
            ([f"EMA of the weights (decay {cfg.ema:g}): validated and exported"] if self.ema is not None else [])
        if extras:
            self.log("extras  " + ", ".join(extras))
        if self.dist.enabled:
            self.log(f"ranks   {self.dist.world_size} processes ({self.dist.nnodes} node(s), {self.dist.backend}), "
                     f"DistributedDataParallel; batch {cfg.batch_size} per process = global batch "
                     f"{self.global_batch}; lr {cfg.lr:g} (as given, not scaled with the global batch)")
        for note in self.pf.notes:
            self.log(note)
        self.log(f"data    {self.pf.name}: {self.pf.count:,} patches, scale {self.pf.scale}, "
                 f"channels {self.pf.mode}, {self.loader.describe()}")
        self.log(f"val     {len(self.val)} image(s) from {self.val_source}" if self.val else
                 "val     none (no /val group in the data and no --val-set): checkpoint.best is not written")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            self.log("note: matplotlib is not installed, so no plot.png (pip install 'srcnn[plot]')")

    def _best_line(self) -> str:
        """The best epoch for the last line, and where its checkpoint.best is: this run's folder, or
        (resumed into another --out-dir and not beaten since) the earlier run's, which may be gone."""
        if not self.best:
            return ""
        where = (str(self.best_path) if self.best_path is not None and self.best_path.is_file() else
                 f"before this run; no checkpoint.best in {self.out_dir}")
        return f"; best val PSNR {self.best['val_psnr']:.3f} dB at epoch {self.best['epoch']} ({where})"

    def _steps(self, epoch: int, skip: int):
        """(x, y, n) per training step of ``epoch`` from its sample ``skip`` on: this process's batch and
        the step's samples over all ranks. Distributed, every rank takes the same steps (agreeing on the
        count, and on a stop, each step); a rank out of data takes empty ones."""
        batches = self.loader.epoch(epoch, skip=skip)
        c, p, lab = self.pf.channels, self.in_size, self.pf.label_size
        empty = (torch.zeros(0, c, p, p, device=self.device), torch.zeros(0, c, lab, lab, device=self.device))
        try:
            while True:
                batch = next(batches, None)
                n = len(batch[0]) if batch is not None else 0
                if self.dist.enabled:
                    n = self.stop.sync(n)
                if n == 0:
                    return
                yield (*(batch or empty), n)
        finally:
            if hasattr(batches, "close"):
                batches.close()

    def _check_finite(self, loss_sum: torch.Tensor, batch: int) -> float:
        """The loss sum over all ranks (collective when distributed, so all ranks stop together)."""
        v = self.dist.all_sum(loss_sum).item() if self.dist.enabled else loss_sum.item()
        if not math.isfinite(v):
            kept = (f"the last good checkpoint is {self.last_good[0]} (epoch {self.last_good[1]})"
                    if self.last_good else "no checkpoint was written")
            raise SRCNNError(f"training loss became {v} in epoch {self.epoch + 1} (batch {batch}); stopped. "
                             f"{kept}. Try a lower --lr (now {self.cfg.lr:g})")
        return v

    def _stopped(self, path: Path, where: str) -> int:
        again = f"\nresume with: {self.resume_command(path)}" if self.resume_command else ""
        self.log(f"{signal.Signals(self.stop.agreed).name}: stopped {where}; saved {path}{again}")
        return self.stop.exit_code()
