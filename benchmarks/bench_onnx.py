"""onnxruntime against PyTorch on the CPU for the exported bundled weights (x3), not a unit test.

    python benchmarks/bench_onnx.py                          # srcnn fsrcnn espcn, 128x128 LR, 2 threads
    python benchmarks/bench_onnx.py --size 256x256 --threads 1 --models espcn

For each model: the bundled x3 weights exported with srcnn.export (ONNX opset 17), then the network alone
on a (1,1,h,w) float32 input (the LR image for FSRCNN/ESPCN, its 3x bicubic upscale for SRCNN/VDSR)
in PyTorch and in onnxruntime (CPUExecutionProvider), median of --repeat runs after one warm-up.
Speed is megapixels of *output* per second; "max |diff|" is the largest difference between the two.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from srcnn.cli.common import image_size, number, run  # noqa: E402
from srcnn.errors import SRCNNError  # noqa: E402
from srcnn.models import model_names  # noqa: E402


def _median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["srcnn", "fsrcnn", "espcn"], choices=model_names(),
                   help="bundled families with x3 weights (default: srcnn fsrcnn espcn)")
    p.add_argument("--size", type=image_size(), default=(128, 128), help="LR image WxH (default 128x128)")
    p.add_argument("--threads", type=number(int, 1), default=2, help="threads of both runtimes (default 2)")
    p.add_argument("--repeat", type=number(int, 1), default=5, help="timed runs per measurement (default 5)")
    args = p.parse_args(argv)
    try:
        import onnxruntime as ort
    except ImportError:
        raise SRCNNError("this benchmark needs onnxruntime: pip install -c constraints.txt -e \".[onnx]\"") from None
    from srcnn.export import export_file
    from srcnn.weightfiles import bundled_file, load_file

    w, h = args.size
    torch.set_num_threads(args.threads)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = args.threads, 1
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} thread(s), "
          f"LR {w}x{h} -> x3 {3 * w}x{3 * h}")
    print(f"{'model':<8} {'PyTorch MP/s':>13} {'onnxruntime MP/s':>17} {'ratio':>6} {'max |diff|':>11}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        for name in args.models:
            ck = bundled_file(name, 3)
            path = Path(d) / f"{name}.onnx"
            export_file(ck, path)
            model = load_file(ck)[0]
            lr = model.upscale > 1
            x = torch.from_numpy(rng.random((1, 1, h if lr else 3 * h, w if lr else 3 * w), dtype=np.float32))
            sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
            with torch.inference_mode():
                t_pt = _median_time(lambda: model(x), args.repeat)
                ref = model(x).numpy()
            t_ort = _median_time(lambda: sess.run(None, {"input": x.numpy()}), args.repeat)
            diff = float(np.abs(sess.run(None, {"input": x.numpy()})[0] - ref).max())
            mp = 9 * w * h / 1e6
            print(f"{name:<8} {mp / t_pt:>13.2f} {mp / t_ort:>17.2f} {t_pt / t_ort:>6.2f} {diff:>11.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
