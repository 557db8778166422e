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
