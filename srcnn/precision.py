"""The numeric path of a training step: float32 or autocast (bfloat16 / float16), default or channels-last
memory layout, chosen by measurement.

The same model trains at very different speeds depending on both choices, and machines differ:
on a CPU with native bfloat16 (AMX or AVX-512 BF16) bfloat16 autocast with a channels-last model and
input is several times faster than float32, while bfloat16 on the default layout can be several times
*slower*; on a CPU without native bfloat16 (AVX2 only) bfloat16 is emulated and slower than float32 in
every layout. So ``--precision auto`` (the default) detects what the hardware has, times a few real
training steps of each candidate on the actual model and batch shape (``probe``), and takes the fastest.
``--precision fp32`` is the reference: float32 in the default layout, no probe (deterministic).

``choose(...) -> NumericPath``: ``name`` ("fp32", "fp32-cl", "bf16-cl", "fp16-cl", ...), ``autocast``
(None | torch.bfloat16 | torch.float16), ``channels_last``, ``scaler`` (float16 on CUDA needs gradient
scaling), ``probe`` {name: samples/s} and ``reason``. Validation and export always run in float32.

Inference (super_resolve.py, evaluate.py, srcnn.load) takes ``--precision auto|fp32|bf16|ort`` through
``inference_path(precision, device, runtime) -> NumericPath``, the one place that decides it: fp32 (the
default) is the bit-exact reference; bf16 is bfloat16 autocast, with a channels-last model and input on
the CPU; ort runs the network in onnxruntime (float32, ``engine`` "onnxruntime": srcnn.fastpath);
auto is the fastest path measured to cost at most AUTO_BUDGET_DB on Set5 (benchmarks/bench_video.py,
benchmarks/README.md): ort on the CPU where onnxruntime is installed, else bf16 where the hardware has
it natively (``cpu_native_bf16()``, or CUDA with bfloat16), else float32 channels-last (fp32-cl) on the
CPU and fp32 on CUDA. Every path but fp32 (``NumericPath.exact``) also converts colours and upscales
chroma in float32 with OpenCV instead of MATLAB's float64 arithmetic. ``inference_numerics(path,
model)`` applies a path around forward passes and ``inference_input(path, x)`` puts an input in its
layout; outputs go back to float32 before use.
"""
from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
NUMERIC_PATHS = ("fp32", "fp32-cl", "bf16", "bf16-cl", "fp16", "fp16-cl")  # every NumericPath.name
INFERENCE_PRECISIONS = ("auto", "fp32", "bf16", "ort")
AUTO_BUDGET_DB = 0.05     # inference "auto" takes only paths measured to cost at most this on Set5
PROBE_SECONDS = 0.3       # timed per candidate (at least PROBE_MIN_STEPS, at most PROBE_MAX_STEPS steps)
PROBE_MIN_STEPS = 3
PROBE_MAX_STEPS = 50
BF16_MARGIN = 1.10        # auto takes a reduced precision only when it is at least this much faster


@dataclass(frozen=True)
class NumericPath:
    name: str
    autocast: torch.dtype | None = None
    channels_last: bool = False
    scaler: bool = False
    probe: dict = field(default_factory=dict)
    reason: str = ""
    engine: str = "torch"   # inference only: "torch", or "onnxruntime" (the "ort" path, srcnn.fastpath)

    @property
    def exact(self) -> bool:
        """True for the reference inference path (float32 PyTorch, default layout): MATLAB's float64
        colour arithmetic around the network and the same bits for every tile size."""
        return self.name == "fp32" and self.engine == "torch"

    def record(self) -> dict:
        """What a checkpoint keeps: plain types only."""
        return {"name": self.name, "channels_last": self.channels_last,
                "autocast": str(self.autocast).removeprefix("torch.") if self.autocast else None,
                "probe_samples_per_s": {k: round(v, 1) for k, v in self.probe.items()}, "reason": self.reason}


def cpu_flags() -> set[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_native_bf16() -> bool:
    """True when the CPU computes bfloat16 in hardware (AMX-BF16 or AVX-512 BF16)."""
    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})


def named_path(name: str, **kw) -> NumericPath:
    """The NumericPath of a name in NUMERIC_PATHS ("bf16-cl": bfloat16 autocast, channels-last); ``kw``:
    its scaler / probe / reason."""
    prec, _, layout = name.partition("-")
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[prec]
    return NumericPath(name, dtype, layout == "cl", **kw)


def probe(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, names, device: torch.device,
          seconds: float = PROBE_SECONDS) -> dict[str, float]:
    """Samples/s of a full training step (forward, MSE, backward, SGD step) of a copy of ``model`` on the
    batch (x, y) for each numeric path name; the model itself is not changed. y is centre-cropped to
    the output's size."""
    rates = {}
    for name in names:
        p = named_path(name)
        m = copy.deepcopy(model).to(device).train()
        xb = x.to(device)
        if p.channels_last:
            m = m.to(memory_format=torch.channels_last)
            xb = xb.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(m.parameters(), lr=0.0)

        def step():
            with torch.autocast(device.type, dtype=p.autocast or torch.bfloat16, enabled=p.autocast is not None):
                out = m(xb)
            c = max(0, (y.shape[-1] - out.shape[-1]) // 2)
            yy = y.to(device)[..., c:c + out.shape[-2], c:c + out.shape[-1]]
            c = max(0, (out.shape[-1] - yy.shape[-1]) // 2)
            out = out[..., c:c + yy.shape[-2], c:c + yy.shape[-1]]
            loss = F.mse_loss(out.float(), yy)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        step()  # warm-up (oneDNN primitive creation)
        if device.type == "cuda":
            torch.cuda.synchronize()
        n, t0 = 0, time.perf_counter()
        while n < PROBE_MIN_STEPS or (n < PROBE_MAX_STEPS and time.perf_counter() - t0 < seconds):
            step()
            n += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates[name] = n * len(x) / (time.perf_counter() - t0)
    return rates


def choose(precision: str, device: torch.device, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
           amp: bool = False, channels_last: bool = False) -> NumericPath:
    """The numeric path for ``--precision`` (``--amp`` = bf16 on the CPU / fp16 on CUDA, ``--channels-last``
    forces that layout). x, y: one training batch of the real shapes (for the probe)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if amp and precision in ("auto", "fp32"):
        precision = "fp16" if device.type == "cuda" else "bf16"
    if device.type == "cuda":
        if precision == "auto":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            reason = "CUDA: autocast with TF32 matmuls"
        else:
            reason = f"--precision {precision}"
        return named_path(f"{precision}-cl" if (channels_last or precision != "fp32") else precision,
                          scaler=precision == "fp16", reason=reason)
    if precision == "fp16":  # no fast float16 kernels on the CPU: allowed, but said
        return named_path("fp16-cl" if channels_last else "fp16",
                          reason="--precision fp16 (slow on the CPU: no float16 kernels)")
    if precision == "bf16":  # bfloat16 convolutions are fast only in channels-last
        return named_path("bf16-cl", reason="--precision bf16")
    if precision == "fp32":  # the reference path: float32, default layout unless --channels-last
        return named_path("fp32-cl" if channels_last else "fp32", reason="--precision fp32")
    native = cpu_native_bf16()
    names = ["fp32-cl"] if channels_last else ["fp32", "fp32-cl"]
    if native:
        names.append("bf16-cl")
    rates = probe(model, x, y, names, device)
    fp32_best = max((n for n in rates if n.startswith("fp32")), key=rates.get)
    best = fp32_best
    if native and rates["bf16-cl"] >= BF16_MARGIN * rates[fp32_best]:
        best = "bf16-cl"
    why = ("CPU with native bfloat16 (AMX/AVX-512 BF16)" if native else
           "CPU without native bfloat16 (it would be emulated, slower than float32): float32")
    return named_path(best, probe=rates, reason=f"auto: {why}, fastest probed")


def describe(p: NumericPath) -> str:
    """One line for the training log: the path, why, and the probe figures."""
    speeds = ", ".join(f"{k} {v:,.0f}" for k, v in p.probe.items())
    return f"numeric {p.name} ({p.reason}" + (f"; probe samples/s: {speeds}" if speeds else "") + ")"


# ----------------------------------------------------------------------------------------------
# inference

FP32 = NumericPath("fp32", reason="--precision fp32")


def onnxruntime_available() -> bool:
    """True when onnxruntime can be imported (the "ort" inference path)."""
    import importlib.util
    return importlib.util.find_spec("onnxruntime") is not None


ORT = NumericPath("ort", engine="onnxruntime", reason="--precision ort: the network in onnxruntime (float32)")


def inference_path(precision: str | NumericPath, device, runtime: str = "torch") -> NumericPath:
    """The numeric path of inference for ``--precision`` (auto | fp32 | bf16 | ort) on ``device``; a
    NumericPath is returned as it is. ``runtime``: the model's (``model.runtime``; "torch" for a plain
    module). An ONNX model (onnxruntime) computes in float32 only: auto and ort are ort for it, fp32 the
    exact path around it, bf16 an SRCNNError.

    fp32: the reference (float32, default layout; tiles bit-identical to one pass; MATLAB's colour
    arithmetic). bf16: bfloat16 autocast, with a channels-last model and input on the CPU (bfloat16
    convolutions are fast only in that layout), the default layout on CUDA. ort: the network exported to
    ONNX and run by onnxruntime on the CPU (SRCNNError on CUDA or without onnxruntime). auto: the fastest
    path measured to cost <= AUTO_BUDGET_DB on Set5: on the CPU ort where onnxruntime is installed, else
    bf16 where the CPU has native bfloat16 (AMX or AVX-512 BF16), else fp32-cl (float32 channels-last);
    on CUDA bf16 where the GPU supports it, else fp32.
    """
    from .errors import SRCNNError
    if isinstance(precision, NumericPath):
        return precision
    if precision not in INFERENCE_PRECISIONS:
        raise SRCNNError(f"precision {precision!r}: must be one of {', '.join(INFERENCE_PRECISIONS)}")
    device = torch.device(device)
    cuda = device.type == "cuda"
    if runtime == "onnxruntime":
        if precision == "bf16":
            raise SRCNNError("precision bf16: an ONNX model runs in onnxruntime, in float32 only; use fp32, "
                             "ort or auto (or the model's .pt weights for bfloat16)")
        if precision == "fp32":
            return NumericPath("fp32", reason="--precision fp32: onnxruntime computes in float32")
        return ORT
    if precision == "fp32":
        return FP32
    if precision == "ort":
        if cuda:
            raise SRCNNError("precision ort: onnxruntime runs on the CPU here; use --device cpu, or bf16 on CUDA")
        if runtime != "torch":
            raise SRCNNError(f"precision ort: a {runtime} model cannot be exported to ONNX here; use fp32 or bf16")
        if not onnxruntime_available():
            raise SRCNNError("precision ort needs onnxruntime: pip install onnx onnxruntime")
        return ORT
    if precision == "auto":
        if not cuda and runtime == "torch" and onnxruntime_available():
            return NumericPath("ort", engine="onnxruntime",
                               reason="auto: onnxruntime, the fastest CPU path measured (benchmarks/bench_video.py)")
        native = torch.cuda.is_bf16_supported() if cuda else cpu_native_bf16()
        if not native:
            if cuda:
                return NumericPath("fp32", reason="auto: this GPU has no bfloat16")
            return named_path("fp32-cl", reason="auto: no onnxruntime and no native bfloat16 (it would be "
                              "emulated, slower than float32): float32 channels-last")
        why = "auto: CUDA GPU with bfloat16" if cuda else "auto: CPU with native bfloat16 (AMX/AVX-512 BF16)"
    else:
        why = "--precision bf16" + ("" if cuda or cpu_native_bf16() else
                                    " (this CPU has no native bfloat16: emulated, slower than float32)")
    if cuda:
        return named_path("bf16", reason=why)
    return named_path("bf16-cl", reason=why)


def inference_input(path: NumericPath, x: torch.Tensor) -> torch.Tensor:
    """x in the memory layout of ``path`` (channels-last or as it is)."""
    return x.to(memory_format=torch.channels_last) if path.channels_last else x  # real strides also for C=1


@contextmanager
def inference_numerics(path: NumericPath, model: torch.nn.Module):
    """Forward passes of ``model`` inside run on ``path``: autocast to its dtype, and for a channels-last
    path the model's 4-D parameters in that layout; on exit the original parameter tensors are put back
    (so a float32 pass afterwards is bit-identical to one before). Nothing changes for fp32. The swap is
    in place: do not run the same model on other paths from other threads meanwhile."""
    if path.autocast is None and not path.channels_last:
        yield
        return
    saved = []
    if path.channels_last and hasattr(model, "parameters"):
        with torch.no_grad():
            for prm in model.parameters():
                if prm.dim() == 4:
                    saved.append((prm, prm.data))
                    prm.data = prm.data.to(memory_format=torch.channels_last)
    try:
        dtype = path.autocast or torch.bfloat16
        with torch.autocast(_device_type(model), dtype=dtype, enabled=path.autocast is not None):
            yield
    finally:
        for prm, data in saved:
            prm.data = data


def _device_type(model) -> str:
    prm = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return prm.device.type if prm is not None else "cpu"
