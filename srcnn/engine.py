"""The training loop: any srcnn.models architecture on "srcnn-patches" HDF5 data, with crash-safe,
resumable checkpoints.

``Trainer(cfg, model, data).run()`` trains ``model`` (built for the data, srcnn.cli.train.build_trainer)
with the options ``cfg`` (a srcnn.config.TrainConfig) on ``data`` (srcnn.data.open_patches); with
``resume=ckpt, resume_path=p`` it continues a checkpoint's run. Per epoch: train on /train (sample order
a pure function of (seed, epoch)), validate (full-image PSNR/SSIM on Y with the paper's protocol, by
evaluate.py's code: srcnn.evaluation.score_model), append to the history, write checkpoint.last,
checkpoint.<epoch> every save_freq epochs, checkpoint.best on a new best validation PSNR, log.jsonl and
plot.png (the run folder: srcnn.rundir).

A training step: x (B,C,R,R) float32 -> model -> (B,C,O,O),
centre-aligned with the label y (B,C,L,L) float32 in [0,1] (O = model.out_size(R)); loss mse | l1 |
charbonnier; optional VDSR gradient clipping (clip / lr per element) and weight decay; --amp autocasts to
float16 with gradient scaling on CUDA, to bfloat16 on the CPU. The last layer learns at
lr * last_layer_lr (1 by default; SRCNN's paper: 0.1).

Exit codes of ``run``: 0 done; 130 / 143 stopped by SIGINT / SIGTERM after saving checkpoint.interrupted.
A non-finite loss raises SRCNNError (no checkpoint is written from the diverged state).

Distributed (``dist`` from srcnn.distributed.from_env, under torchrun): the model is wrapped in
DistributedDataParallel, each rank trains on its share of every global batch (batch_size per process,
batch_size x world_size per step), and every decision is collective: each step all ranks agree on the
step's sample count and on whether a stop signal arrived anywhere; the non-finite-loss check looks at
the loss summed over the ranks. Only rank 0 validates and writes (checkpoints, log.jsonl, plot.png,
progress bar, messages); the others wait for it at a barrier. Checkpoints hold the plain model's
state_dict, so a run can be resumed with any number of processes.

(About 550 lines, one concern: the Trainer's state and the loop over it. The options are
srcnn.config, the model's construction srcnn.cli.train_model, the step's arithmetic srcnn.optim, the
run folder srcnn.rundir.)
"""
from __future__ import annotations

import errno
import json
import math
import os
import random
import signal
import time
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from .checkpoint import FORMAT, FORMAT_VERSION, inference_config
from .config import TrainConfig, stored_hparams
from .data import make_loader, read_val
from .distributed import SINGLE, Dist
from .errors import SRCNNError
from .evaluation import load_val_set, score_model, validation_items
from .models import SRModel, build_model, count_parameters, model_summary
from .optim import LOSSES, augment_choice, clip_gradients, dihedral, ema_update, lr_factor
from .rundir import RunDir
from .precision import NUMERIC_PATHS, NumericPath, choose as choose_numeric, describe as describe_numeric, named_path

SGD_MOMENTUM = 0.9
CHECK_EVERY = 10           # steps between non-finite-loss checks (each one syncs with the GPU)
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


def pick_device(cuda: bool, dist: Dist = SINGLE) -> torch.device:
    if not cuda:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA (CPU-only build)"
        raise SRCNNError(f"--cuda was given but no CUDA GPU is available (torch {torch.__version__}, built "
                         f"with {built}); run without --cuda to train on the CPU")
    return torch.device("cuda", dist.local_rank) if dist.enabled else torch.device("cuda")


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": [np_state[0], np_state[1].tolist(), *[v for v in np_state[2:]]],
            "python": json.loads(json.dumps(random.getstate())),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    np.random.set_state((s["numpy"][0], np.array(s["numpy"][1], dtype=np.uint32), *s["numpy"][2:]))
    py = s["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if s.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def _print(*args) -> None:
    print(*args, flush=True)


def _quiet(*args) -> None:
    pass


class Trainer:
    """One training run: ``Trainer(cfg, model, data).run()`` (see the module docstring)."""

    def __init__(self, cfg: TrainConfig, model: SRModel, data, *, resume: dict | None = None, resume_path=None,
                 recipe: dict | None = None, resume_command=None, log=_print, dist: Dist = SINGLE):
        """``model``: built and initialised for ``data`` (a srcnn.data.open_patches file), on the CPU;
        srcnn.cli.train.build_trainer makes it from the options, or from the checkpoint ``resume`` (read
        from ``resume_path``) whose training state this run then continues. ``recipe``: how the run was
        made, saved in every checkpoint; ``resume_command(path)``: the command line that continues from a
        checkpoint, shown when a signal stops the run."""
        self.cfg, self.model, self.pf, self.dist = cfg, model, data, dist
        self.log = log if dist.is_main else _quiet
        self.recipe, self.resume_command = recipe or {}, resume_command
        self.init_source = cfg.init_from if resume is not None else (self.recipe.get("parent") or {}).get("weights")
        self.out_dir = Path(cfg.out_dir)
        self.rundir = RunDir(self.out_dir, lambda *a: self.log(*a))
        self.device = pick_device(cfg.cuda, dist)
        self.input_kind = model.input_kind
        self.in_size = data.lr_size if self.input_kind == "lr" else data.patch_size
        out, lab = model.out_size(self.in_size), data.label_size
        if out < 1 or (lab - out) % 2:
            raise SRCNNError(f"{data.path}: {self.in_size} px input patches give {out} px outputs with "
                             f"{model_summary(model)}, which cannot be centre-aligned with the {lab} px labels")
        self.crop_label, self.crop_out = max(0, (lab - out) // 2), max(0, (out - lab) // 2)
        self.model.to(self.device)
        self.numeric = self._numeric_path(resume)
        if self.numeric.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.net = dist.wrap(self.model)  # what the training step calls (DDP when distributed)
        # validation runs on whole images, as inference does (srcnn.checkpoint.inference_config)
        self.eval_model = build_model(**inference_config(model.config())).to(self.device).eval()
        self.opt = self._optimizer()
        self.loss_fn = LOSSES[cfg.loss]
        # autocast dtype of the numeric path (srcnn.precision); CUDA float16 needs gradient scaling
        self.amp_dtype = self.numeric.autocast
        self.scaler = None
        if self.numeric.scaler:  # torch.amp.GradScaler appeared in torch 2.3
            self.scaler = torch.amp.GradScaler("cuda") if hasattr(torch.amp, "GradScaler") \
                else torch.cuda.amp.GradScaler()

        # --ema: an exponential moving average of the weights, validated, kept for checkpoint.best and exported
        # (built before the resumed random state is restored: its initialisation draws numbers)
        self.ema = None
        if cfg.ema:
            self.ema = build_model(**model.config()).to(self.device).eval()
            src = (resume or {}).get("ema_state_dict") or self.model.state_dict()
            self.ema.load_state_dict(src)
            for p in self.ema.parameters():
                p.requires_grad_(False)

        self.epoch, self.step, self.time_spent = 0, 0, 0.0
        self.history, self.best, self.partial, self.last_good = [], None, None, None
        self.best_path = None  # the checkpoint.best file of self.best (a resumed run's may be in another folder)
        if resume is not None:
            self._restore(resume, resume_path)

        self.loader = make_loader(data, cfg.loader, cfg.batch_size, cfg.seed, self.device, cfg.workers,
                                  rank=dist.rank, world=dist.world_size)
        self.global_batch = cfg.batch_size * dist.world_size
        if not dist.is_main:  # only rank 0 validates
            self.val, self.val_source = [], None
        elif cfg.val_set:
            self.val = load_val_set(cfg.val_set, cfg.data_root, self.pf.scales, self.pf.channels,
                                    self.input_kind)
            self.val_source = f"--val-set {cfg.val_set}"
        else:
            self.val = validation_items(read_val(self.pf))
            self.val_source = f"{self.pf.name}:/val"
        # stop_signal: the decision to stop (in a distributed run taken by all ranks together from the
        # local_signal each rank's handler records)
        self.stop_signal, self.local_signal, self.pid = None, None, os.getpid()
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def _optimizer(self) -> torch.optim.Optimizer:
        """Adam or SGD (momentum 0.9) with --weight-decay; the last layer (the last child module with
        parameters) in its own group, learning at lr * --last-layer-lr."""
        layers = [m for m in self.model.children() if any(True for _ in m.parameters())]
        last = {id(p) for p in layers[-1].parameters()}
        groups = [{"params": [p for p in self.model.parameters() if id(p) not in last], "lr_scale": 1.0},
                  {"params": [p for p in self.model.parameters() if id(p) in last],
                   "lr_scale": self.cfg.last_layer_lr}]
        groups = [g for g in groups if g["params"]]
        cfg = self.cfg
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=cfg.lr, momentum=SGD_MOMENTUM, weight_decay=cfg.weight_decay)
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _restore(self, resume: dict, path) -> None:
        """Continue the checkpoint's training state: counters, history, best, time, an interrupted
        epoch's progress, the optimizer (unless --optimizer changed; --weight-decay and --last-layer-lr
        as given now), the gradient scaler and the RNG."""
        self.last_good = (path, resume.get("epoch", 0))
        self.epoch, self.step = resume.get("epoch", 0), resume.get("step", 0)
        self.time_spent = resume.get("time_spent", 0.0)
        self.history, self.best = list(resume.get("history", [])), resume.get("best")
        self.best_path = Path(path).parent / "checkpoint.best" if self.best and path is not None else None
        self.partial = resume.get("partial")
        if resume.get("optimizer") and resume.get("hparams", {}).get("optimizer") == self.cfg.optimizer:
            scales = [g["lr_scale"] for g in self.opt.param_groups]
            self.opt.load_state_dict(resume["optimizer"])
            for g, scale in zip(self.opt.param_groups, scales):  # the saved groups carry the old values
                g["weight_decay"], g["lr_scale"] = self.cfg.weight_decay, scale
        elif resume.get("optimizer"):
            self.log(f"note: optimizer changed to {self.cfg.optimizer}; its state starts fresh")
        if self.scaler is not None and resume.get("scaler"):
            self.scaler.load_state_dict(resume["scaler"])
        if resume.get("rng"):
            _set_rng_state(resume["rng"])

    def _numeric_path(self, resume: dict | None) -> NumericPath:
        """srcnn.precision.choose for --precision/--amp/--channels-last, probing on a random batch of the
        real shapes; a resumed run keeps the path it recorded unless those options changed."""
        cfg = self.cfg
        rec = (resume or {}).get("numeric")
        old = (resume or {}).get("hparams", {})
        same = all(stored_hparams(old)[k] == getattr(cfg, k) for k in ("precision", "amp", "channels_last"))
        if rec and same and self.device.type == "cpu" and rec.get("name") in ("fp32", "fp32-cl", "bf16-cl"):
            return named_path(rec["name"], probe=dict(rec.get("probe_samples_per_s") or {}),
                              reason="as recorded in the checkpoint")
        c, lab = self.pf.channels, self.pf.label_size
        g = torch.Generator().manual_seed(0)
        x = torch.rand(cfg.batch_size, c, self.in_size, self.in_size, generator=g)
        y = torch.rand(cfg.batch_size, c, lab, lab, generator=g)
        try:
            path = choose_numeric(cfg.precision, self.device, self.model, x, y, amp=cfg.amp,
                                  channels_last=cfg.channels_last)
        except ValueError as e:
            raise SRCNNError(str(e)) from None
        if self.dist.enabled:  # every rank runs rank 0's choice (probes can differ; DDP needs one layout)
            pick = torch.tensor([NUMERIC_PATHS.index(path.name) if self.dist.is_main else 0], device=self.device)
            name = NUMERIC_PATHS[int(self.dist.all_sum(pick).item())]
            if name != path.name:
                path = named_path(name, scaler=path.scaler, probe=path.probe, reason="rank 0's choice")
        return path

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
            with self._signals_handled():
                while self.epoch < self.cfg.num_epoch:
                    stats = self.train_epoch()          # batches -> steps
                    if stats is None:                   # stopped inside the epoch
                        path = self.save("checkpoint.interrupted")
                        self.dist.barrier()  # no rank exits before the checkpoint is written
                        return self._stopped(path, f"in epoch {self.epoch + 1} after "
                                             f"{self.partial['samples']:,} of {self.pf.count:,} samples")
                    self.log(self.end_epoch(stats))     # validate -> save
                    self.dist.barrier()  # the others wait while rank 0 validates and saves
                    if self._stop_agreed():  # a signal during validation or saving
                        return self._stopped(self.out_dir / "checkpoint.last", f"after epoch {self.epoch}")
            best = (f"; best val PSNR {self.best['val_psnr']:.3f} dB at epoch {self.best['epoch']} "
                    f"({self._best_where()})" if self.best else "")
            self.log(f"done: {self.epoch} epochs in {self.time_spent:.1f} s{best}")
            return 0
        except (OSError, SRCNNError) as e:
            err = self._disk_error(e)
            if err is None:
                raise
            raise err from None
        finally:
            self.rundir.close()

    def train_epoch(self) -> dict | None:
        """One epoch (or the rest of an interrupted one). Returns its stats, or None when stopped."""
        e, bs = self.epoch, self.global_batch
        lr = self._lr(e)
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
                    if self.stop_signal is not None:
                        break
        finally:
            bar.close()
        self._sync_stop()  # a signal during the last step: all ranks must see it
        total = self._check_finite(loss_sum, i)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        self.time_spent += dt
        if self.stop_signal is not None and done < self.pf.count:
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
            c = self.crop_out
            out = out[..., c:-c, c:-c]
        if self.crop_label:
            c = self.crop_label
            y = y[..., c:-c, c:-c]
        n, world = len(x), self.dist.world_size
        if n == 0:  # a rank out of data while others still have some: a zero gradient, same collectives
            loss = out.float().sum() * 0.0
            objective = loss
        else:
            loss = self.loss_fn(out.float(), y)
            objective = loss if n_global is None or n * world == n_global else loss * (n * world / n_global)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(objective).backward()
            if cfg.clip:
                self.scaler.unscale_(self.opt)  # clip the true gradients
                clip_gradients(self.opt, cfg.clip)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            objective.backward()
            if cfg.clip:
                clip_gradients(self.opt, cfg.clip)
            self.opt.step()
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
        """The checkpoint of the run now (srcnn.checkpoint's format)."""
        sd = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        hparams = self.cfg.as_dict()
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "srcnn_version": __version__,
            "model": self.model.config(), "state_dict": sd, "scale": self.pf.scale,
            **({"ema_state_dict": {k: v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()}}
               if self.ema is not None else {}),
            "numeric": self.numeric.record(),
            "channels": self.pf.mode, "epoch": self.epoch, "step": self.step,
            "optimizer": self.opt.state_dict(),
            "scheduler": {"schedule": self.cfg.schedule, "lr_factor": lr_factor(self.epoch, hparams)},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": _rng_state(), "hparams": hparams, "data": self.pf.provenance(),
            "history": list(self.history), "best": self.best, "time_spent": self.time_spent,
            "partial": self.partial,
            "recipe": self.recipe,
            "distributed": {"world_size": self.dist.world_size, "global_batch_size": self.global_batch,
                            "backend": self.dist.backend},
        }

    def _best_where(self) -> str:
        """Where checkpoint.best of self.best is: this run's folder, or (resumed into another --out-dir and
        not beaten since) the earlier run's, which may be gone."""
        if self.best_path is not None and self.best_path.is_file():
            return str(self.best_path)
        return f"before this run; no checkpoint.best in {self.out_dir}"

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
        if cfg.augment or self.ema is not None:
            self.log("extras  " + ", ".join(
                (["on-the-fly flips/rotations (one of 8 per batch)"] if cfg.augment else []) +
                ([f"EMA of the weights (decay {cfg.ema:g}): validated and exported"] if self.ema is not None else [])))
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

    def _lr(self, epoch: int) -> float:
        """Set the optimizer's lr for ``epoch`` (each group's lr_scale applied); returns the base lr."""
        f = lr_factor(epoch, self.cfg.as_dict())
        for g in self.opt.param_groups:
            g["lr"] = self.cfg.lr * g["lr_scale"] * f
        return self.cfg.lr * f

    def _steps(self, epoch: int, skip: int):
        """(x, y, n) per training step of ``epoch`` from its sample ``skip`` on: this process's batch and
        the step's samples over all ranks. Distributed, every rank takes the same steps (agreeing on the
        count, and on a stop signal, each step); a rank out of data takes empty ones."""
        batches = self.loader.epoch(epoch, skip=skip)
        try:
            while True:
                batch = next(batches, None)
                if not self.dist.enabled:
                    if batch is None:
                        return
                    yield (*batch, len(batch[0]))
                    continue
                n = self._sync_stop(0 if batch is None else len(batch[0]))
                if n == 0:
                    return
                yield (*(batch or self._empty_batch()), n)
        finally:
            if hasattr(batches, "close"):
                batches.close()

    def _empty_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        c, p, lab = self.pf.channels, self.in_size, self.pf.label_size
        return (torch.zeros(0, c, p, p, device=self.device), torch.zeros(0, c, lab, lab, device=self.device))

    def _check_finite(self, loss_sum: torch.Tensor, batch: int) -> float:
        """The loss sum over all ranks (collective when distributed, so all ranks stop together)."""
        v = self.dist.all_sum(loss_sum).item() if self.dist.enabled else loss_sum.item()
        if not math.isfinite(v):
            kept = (f"the last good checkpoint is {self.last_good[0]} (epoch {self.last_good[1]})"
                    if self.last_good else "no checkpoint was written")
            raise SRCNNError(f"training loss became {v} in epoch {self.epoch + 1} (batch {batch}); stopped. "
                             f"{kept}. Try a lower --lr (now {self.cfg.lr:g})")
        return v

    def _disk_error(self, e: Exception) -> SRCNNError | None:
        """A full disk, quota, I/O error or read-only file system in any writer of the run (an OSError,
        or srcnn.files' SRCNNError raised from one) as one line naming the last good checkpoint; None
        for any other error."""
        cause = e if isinstance(e, OSError) else e.__context__
        if not isinstance(cause, OSError) or cause.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS):
            return None
        what = f"{e.filename or self.out_dir}: {e.strerror}" if e is cause else str(e)
        return SRCNNError(f"{what}; the checkpoints written before are kept (last good: "
                          f"{self.last_good and self.last_good[0] or 'none yet'})")

    @contextmanager
    def _signals_handled(self):
        """SIGINT/SIGTERM ask the loop to stop and save (a second one stops at once) while the block
        runs; the handlers before are restored after it (none outside the main thread)."""
        handlers = {}
        try:
            for s in EXIT_SIGNAL:
                handlers[s] = signal.signal(s, self._on_signal)
        except ValueError:  # not the main thread: no signal handling
            pass
        try:
            yield
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)

    def _on_signal(self, signum, frame):
        if os.getpid() != self.pid:  # a forked DataLoader worker: the main process handles it
            return
        if self.stop_signal is not None or self.local_signal is not None:  # second: stop now, no saving
            raise KeyboardInterrupt
        self.request_stop(signum)
        self.log(f"\n{signal.Signals(signum).name}: stopping after this batch and saving a checkpoint "
                 "(send it again to quit without saving)")

    def request_stop(self, signum=signal.SIGINT) -> None:
        """Ask the loop to stop after the current batch, as a signal would (distributed: every rank
        stops at the same step, the next time the ranks compare notes)."""
        if self.dist.enabled:
            self.local_signal = signum
        else:
            self.stop_signal = signum

    def _sync_stop(self, n_local: int = 0) -> int:
        """Distributed: agree on stopping (sets stop_signal on every rank when any rank got a signal);
        returns the samples of this step over all ranks. Single process: returns n_local."""
        if not self.dist.enabled:
            return n_local
        n, sig = self.dist.sync_step(n_local, self.local_signal)
        if sig is not None and self.stop_signal is None:
            self.stop_signal = sig
        return n

    def _stop_agreed(self) -> bool:
        """Whether a stop signal arrived (on any rank: collective when distributed)."""
        self._sync_stop()
        return self.stop_signal is not None

    def _stopped(self, path: Path, where: str) -> int:
        name = signal.Signals(self.stop_signal).name
        again = f"\nresume with: {self.resume_command(path)}" if self.resume_command else ""
        self.log(f"{name}: stopped {where}; saved {path}{again}")
        return EXIT_SIGNAL.get(self.stop_signal, 1)
