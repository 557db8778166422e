"""srcnn.precision: the numeric path of a training step, detected and measured."""
import pytest
import torch

from srcnn import precision
from srcnn.models import build_model
from srcnn.precision import NumericPath, choose, describe, probe

CPU = torch.device("cpu")


def batch():
    return torch.rand(4, 1, 11, 11), torch.rand(4, 1, 11, 11)


def small():
    return build_model("srcnn", f1=3, f2=1, f3=3, n1=4, n2=2, padding="none")


def test_forced_paths_need_no_probe(monkeypatch):
    monkeypatch.setattr(precision, "probe", lambda *a, **k: pytest.fail("probed"))
    x, y = batch()
    assert choose("fp32", CPU, small(), x, y) == NumericPath("fp32", None, False, reason="--precision fp32")
    assert choose("fp32", CPU, small(), x, y, channels_last=True).name == "fp32-cl"
    p = choose("bf16", CPU, small(), x, y)
    assert (p.name, p.autocast, p.channels_last, p.scaler) == ("bf16-cl", torch.bfloat16, True, False)
    assert choose("auto", CPU, small(), x, y, amp=True).name == "bf16-cl"  # --amp is an alias
    assert choose("fp32", CPU, small(), x, y, amp=True).name == "bf16-cl"
    assert choose("fp16", CPU, small(), x, y).autocast == torch.float16
    with pytest.raises(ValueError, match="precision must be one of"):
        choose("int8", CPU, small(), x, y)


@pytest.mark.parametrize("native, rates, expected", [
    (False, {"fp32": 100.0, "fp32-cl": 150.0}, "fp32-cl"),
    (False, {"fp32": 150.0, "fp32-cl": 100.0}, "fp32"),
    (True, {"fp32": 100.0, "fp32-cl": 120.0, "bf16-cl": 900.0}, "bf16-cl"),
    (True, {"fp32": 100.0, "fp32-cl": 120.0, "bf16-cl": 125.0}, "fp32-cl"),  # under the 10% margin
])
def test_auto_takes_the_fastest_measured(monkeypatch, native, rates, expected):
    asked = []

    def fake_probe(model, x, y, names, device):
        asked.append(list(names))
        return {n: rates[n] for n in names}
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: native)
    monkeypatch.setattr(precision, "probe", fake_probe)
    p = choose("auto", CPU, small(), *batch())
    assert p.name == expected and p.probe == rates
    assert ("bf16-cl" in asked[0]) == native  # emulated bfloat16 is never tried
    assert p.autocast == (torch.bfloat16 if expected == "bf16-cl" else None)
    rec = p.record()
    assert rec["name"] == expected and set(rec["probe_samples_per_s"]) == set(rates)
    assert all(isinstance(v, (str, bool, dict, type(None))) for v in rec.values())
    assert expected in describe(p) and "probe samples/s" in describe(p)


def test_probe_measures_without_touching_the_model():
    m = small()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    rates = probe(m, *batch(), ["fp32", "fp32-cl"], CPU)
    assert set(rates) == {"fp32", "fp32-cl"} and all(r > 0 for r in rates.values())
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_cpu_flags_reads_cpuinfo(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor : 0\nflags\t\t: fpu avx2 avx512_bf16 amx_tile\n")
    monkeypatch.setattr(precision, "Path", lambda p: info)
    assert precision.cpu_flags() >= {"avx2", "avx512_bf16"} and precision.cpu_native_bf16()
    info.write_text("flags : fpu avx2\n")
    assert not precision.cpu_native_bf16()


# ---------------------------------------------------------------- inference (--precision auto|fp32|bf16)

def test_inference_path_choices(monkeypatch):
    from srcnn.errors import SRCNNError
    from srcnn.precision import FP32, ORT, inference_path
    assert inference_path("fp32", CPU) == FP32 and FP32.autocast is None and not FP32.channels_last
    assert FP32.exact and not ORT.exact and ORT.engine == "onnxruntime"
    p = inference_path("bf16", CPU)
    assert (p.name, p.autocast, p.channels_last) == ("bf16-cl", torch.bfloat16, True)  # fast only channels-last
    assert not p.exact
    # auto on the CPU: onnxruntime where installed, else native bfloat16, else float32 channels-last
    monkeypatch.setattr(precision, "onnxruntime_available", lambda: True)
    for native in (False, True):
        monkeypatch.setattr(precision, "cpu_native_bf16", lambda: native)
        assert inference_path("auto", CPU).engine == "onnxruntime" and inference_path("auto", CPU).name == "ort"
    assert inference_path("ort", CPU) == ORT
    assert inference_path("auto", CPU, runtime="torchscript").name == "bf16-cl"   # not exportable here
    monkeypatch.setattr(precision, "onnxruntime_available", lambda: False)
    assert inference_path("auto", CPU).name == "bf16-cl"
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: False)
    auto = inference_path("auto", CPU)
    assert (auto.name, auto.autocast, auto.channels_last, auto.exact) == ("fp32-cl", None, True, False)
    assert "emulated" in auto.reason and "emulated" in inference_path("bf16", CPU).reason
    with pytest.raises(SRCNNError, match="precision ort needs onnxruntime"):
        inference_path("ort", CPU)
    cuda = torch.device("cuda")
    monkeypatch.setattr(precision, "onnxruntime_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert [inference_path(n, cuda).name for n in ("auto", "bf16", "fp32")] == ["bf16", "bf16", "fp32"]
    assert not inference_path("bf16", cuda).channels_last          # plain autocast on CUDA
    with pytest.raises(SRCNNError, match="onnxruntime runs on the CPU"):
        inference_path("ort", cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert inference_path("auto", cuda).name == "fp32"
    assert inference_path(p, CPU) is p                               # a resolved path passes through
    onnx = {n: inference_path(n, CPU, runtime="onnxruntime") for n in ("auto", "ort", "fp32")}
    assert onnx["auto"] == onnx["ort"] == ORT and onnx["fp32"].exact   # onnxruntime computes in float32
    with pytest.raises(SRCNNError, match="ONNX model runs in onnxruntime, in float32 only"):
        inference_path("bf16", CPU, runtime="onnxruntime")
    for bad in ("fp16", "int8", "BF16"):
        with pytest.raises(SRCNNError, match="must be one of auto, fp32, bf16, ort"):
            inference_path(bad, CPU)


def test_inference_numerics_applies_and_restores():
    from srcnn.precision import FP32, inference_input, inference_numerics, inference_path
    m = build_model("srcnn", f1=3, f2=1, f3=3, n1=4, n2=2).eval()
    before = [(prm.data_ptr(), prm.stride()) for prm in m.parameters()]
    x = torch.rand(1, 1, 12, 12)
    seen = []
    m.conv1.register_forward_hook(lambda mod, i, o: seen.append(
        (o.dtype, o.is_contiguous(memory_format=torch.channels_last), mod.weight.stride())))
    with inference_numerics(FP32, m), torch.inference_mode():
        ref = m(inference_input(FP32, x))
    path = inference_path("bf16", CPU)
    with inference_numerics(path, m), torch.inference_mode():
        y = m(inference_input(path, x))
    assert seen[0][0] == torch.float32 and seen[1][0] == torch.bfloat16
    assert seen[1][1] and seen[1][2] == (9, 1, 3, 1)    # channels-last for real, also with one input channel
    assert y.dtype == torch.bfloat16 and (y.float() - ref).abs().max() < 0.05
    assert [(prm.data_ptr(), prm.stride()) for prm in m.parameters()] == before   # the same tensors back
    assert inference_input(path, x).stride() == (144, 1, 12, 1) and inference_input(FP32, x) is x
