"""benchmarks/bench_onnx.py: one row per model with PyTorch and onnxruntime agreeing, and bad options
or a missing onnxruntime as one line with exit 2."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_onnx  # noqa: E402


def _main(monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["bench_onnx.py", *argv])
    return bench_onnx.run(bench_onnx.main)


def test_rows_agree(monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    assert _main(monkeypatch, "--models", "fsrcnn", "--size", "12x10", "--threads", "1", "--repeat", "1") == 0
    out = capsys.readouterr().out
    assert "LR 12x10 -> x3 36x30" in out
    row = next(ln for ln in out.splitlines() if ln.startswith("fsrcnn"))
    assert float(row.split()[-1]) < 1e-4   # max |diff| between the runtimes


def test_missing_onnxruntime_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)   # import fails
    assert _main(monkeypatch, "--models", "fsrcnn") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: this benchmark needs onnxruntime") and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["--size", "12"], ["--size", "0x4"], ["--size", "axb"], ["--threads", "0"],
                                  ["--repeat", "-1"], ["--models", "nope"]])
def test_bad_options_are_refused(argv, monkeypatch, capsys):
    with pytest.raises(SystemExit) as e:
        _main(monkeypatch, *argv)
    assert e.value.code == 2 and "error: argument" in capsys.readouterr().err
