"""benchmarks/training_curve.py: samples seen accumulate across chained stages, a resumed run's
history is not counted twice, and the fit's slope has the sign of the curve."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import training_curve  # noqa: E402


def _ck(path, count, psnrs, start=1):
    hist = [{"epoch": start + i, "val_psnr": p, "time": 3600.0, "samples_per_s": 100.0} for i, p in enumerate(psnrs)]
    torch.save({"data": {"count": count}, "history": hist}, path)
    return str(path)


def test_stages_chain_and_resume(tmp_path):
    a = _ck(tmp_path / "a.pt", 1000, [20.0, 21.0])
    resumed = _ck(tmp_path / "b.pt", 5000, [20.0, 21.0, 22.0])          # a continued on more data
    warm = _ck(tmp_path / "c.pt", 5000, [21.5, 22.5])                    # a new run from b's weights
    rows = training_curve.stages([a, resumed, warm])
    assert [r["samples"] for r in rows] == [1000, 2000, 7000, 12000, 17000]
    assert [r["best"] for r in rows] == [20.0, 21.0, 22.0, 22.0, 22.5]
    assert rows[-1]["hours"] == 5.0
    a0, b = training_curve.fit(rows)
    assert b > 0


def test_main_estimates_and_refuses_too_little(tmp_path, capsys, monkeypatch):
    f = _ck(tmp_path / "a.pt", 1000, [20.0, 20.5, 21.0, 21.2])
    monkeypatch.setattr(sys, "argv", ["training_curve.py", f, "--gain", "0.5", "--every", "3"])
    assert training_curve.main() == 0
    out = capsys.readouterr().out
    assert "dB per doubling" in out and "more hours at 100 samples/s" in out
    assert "| 1 | 1 |" in out and "| 1 | 2 |" not in out and "| 1 | 4 |" in out  # every 3rd, and the last
    monkeypatch.setattr(sys, "argv", ["training_curve.py", _ck(tmp_path / "one.pt", 10, [20.0])])
    assert training_curve.main() == 2
