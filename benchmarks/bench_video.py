"""Video-frame speed of srcnn.load on the CPU against OpenCV's dnn_superres, and each fast path's Set5 cost.
Not a unit test.

    python benchmarks/bench_video.py --opencv-python /path/to/venv/bin/python --opencv-models DIR
    python benchmarks/bench_video.py --models fsrcnn espcn --paths fp32 auto --repeat 15

For each model (bundled x3 weights) and each --paths entry (srcnn.precision: fp32 is the exact path, the
others fast ones), ``srcnn.load(model, scale=3, precision=path)(frame)`` on 640x360 RGB uint8 frames
(-> 1920x1080), and, in the same rounds, OpenCV's ``DnnSuperResImpl.upsample`` with the public
FSRCNN/ESPCN .pb files on the same frames (BGR). OpenCV's dnn_superres lives in opencv-contrib, which
conflicts with this project's opencv-python, so it runs in a separate interpreter (--opencv-python, a
venv with ``opencv-contrib-python-headless==4.*``) as a child process answering one timed call at a time:
both sides are timed interleaved, call by call, median of --repeat calls. Both use --threads threads.

Printed per row: fps, output MP/s, the ratio to OpenCV's row of the same model, GFLOP/s of the network
(srcnn.models.macs_per_pixel) and its share of the matmul peak measured at the start (float32 and
bfloat16 torch.mm, 2048x2048). Then each fast path's Set5 x3 cost against fp32: "protocol" (the paper's
Y protocol, evaluate.py's numbers: the network's numeric path) and "pipeline" (Set5 HR -> MATLAB-bicubic
uint8 LR -> srcnn.load(...)(lr) -> Y PSNR: colour conversion and chroma included); a fast path must cost
<= srcnn.precision.AUTO_BUDGET_DB. The .pb files are read from --opencv-models (never from the repo).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT_W, OUT_H = 1920, 1080
OPENCV_MODELS = {"fsrcnn": "FSRCNN", "espcn": "ESPCN"}


def opencv_child(folder: str, threads: int) -> None:
    """Run under the opencv-contrib interpreter: load the .pb models named on stdin ("load NAME SCALE";
    "none" where this OpenCV has no dnn_superres), time one upsample per "run NAME SCALE FRAME" line
    (frames DIR/frame<i>.npy, BGR uint8), print seconds; "video NAME SCALE SRC DST" times the usual
    loop over a clip; "onnx KEY PATH" reads an ONNX file with cv2.dnn and "net KEY FRAME" times it on
    DIR/y<i>.npy ((1,1,h,w) float32); "save NAME SCALE IN OUT" writes the upsampled .npy."""
    import cv2
    import numpy as np
    cv2.setNumThreads(threads)
    models, frames, nets = {}, {}, {}
    print(f"ready opencv {cv2.__version__}", flush=True)
    for line in sys.stdin:
        cmd, *a = line.split()
        if cmd == "load" and not hasattr(cv2, "dnn_superres"):
            print("none", flush=True)
        elif cmd == "onnx":
            nets[a[0]] = cv2.dnn.readNetFromONNX(a[1])
            print("ok", flush=True)
        elif cmd == "net":
            y = np.load(Path(folder) / f"y{a[1]}.npy")
            t = time.perf_counter()
            nets[a[0]].setInput(y)
            nets[a[0]].forward()
            print(time.perf_counter() - t, flush=True)
        elif cmd == "load":
            sr = cv2.dnn_superres.DnnSuperResImpl_create()
            sr.readModel(str(Path(a[2]) / f"{OPENCV_MODELS[a[0]]}_x{a[1]}.pb"))
            sr.setModel(a[0], int(a[1]))
            models[a[0], a[1]] = sr
            print("ok", flush=True)
        elif cmd == "run":
            if a[2] not in frames:
                frames[a[2]] = np.load(Path(folder) / f"frame{a[2]}.npy")
            t = time.perf_counter()
            models[a[0], a[1]].upsample(frames[a[2]])
            print(time.perf_counter() - t, flush=True)
        elif cmd == "video":           # the usual OpenCV loop: VideoCapture -> upsample -> VideoWriter (mp4v)
            sr, t, n = models[a[0], a[1]], time.perf_counter(), 0
            cap, out = cv2.VideoCapture(a[2]), None
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                up = sr.upsample(frame)
                if out is None:
                    out = cv2.VideoWriter(a[3], cv2.VideoWriter_fourcc(*"mp4v"), cap.get(cv2.CAP_PROP_FPS),
                                          (up.shape[1], up.shape[0]))
                out.write(up)
                n += 1
            out.release()
            print(time.perf_counter() - t, n, flush=True)
        elif cmd == "save":
            np.save(a[3], models[a[0], a[1]].upsample(np.load(a[2])))
            print("ok", flush=True)


class OpenCV:
    """The child process of :func:`opencv_child`."""

    def __init__(self, python: str, folder: str, threads: int):
        self.p = subprocess.Popen([python, __file__, "--opencv-child", folder, "--threads", str(threads)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.version = self.ask("")

    def ask(self, line: str) -> str:
        if line:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        out = self.p.stdout.readline().strip()
        if not out:
            raise SystemExit(f"the OpenCV child stopped (after {line!r})")
        return out

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait()


def frames(n: int, w: int, h: int):
    """n deterministic (h,w,3) uint8 RGB frames with structure at several scales (a panning scene)."""
    import cv2
    import numpy as np
    r = np.random.default_rng(0)
    scene = cv2.resize(r.integers(0, 256, (h // 6, w // 6 + n, 3), dtype=np.uint8), (w + 6 * n, h),
                       interpolation=cv2.INTER_CUBIC)
    scene = np.clip(scene.astype(np.int16) + r.integers(-6, 7, scene.shape), 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(scene[:, 6 * i:6 * i + w]) for i in range(n)]


def matmul_peak(threads: int) -> dict[str, float]:
    """GFLOP/s of a 2048x2048 matrix product, best of 5 calls: float32 the best of torch.mm (MKL),
    numpy (OpenBLAS) and onnxruntime's MatMul (MLAS), since MKL is not always at its best on AMD CPUs;
    bfloat16 torch.mm (oneDNN)."""
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    n, out = 2048, {}
    a32 = np.random.default_rng(0).random((n, n), dtype=np.float32)
    calls = {"float32": [lambda t=torch.from_numpy(a32): torch.mm(t, t), lambda: a32 @ a32, _ort_matmul(a32, threads)],
             "bfloat16": [lambda t=torch.from_numpy(a32).bfloat16(): torch.mm(t, t)]}
    for dt, fns in calls.items():
        best = float("inf")
        for fn in fns:
            fn()
            best = min(best, *(_timed(fn) for _ in range(5)))
        out[dt] = 2 * n ** 3 / best / 1e9
    return out


def _ort_matmul(a, threads: int):
    """A call of onnxruntime's MatMul of ``a`` by itself (float32)."""
    import onnxruntime
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("MatMul", ["a", "a"], ["c"])], "mm",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, list(a.shape))],
                          [helper.make_tensor_value_info("c", TensorProto.FLOAT, list(a.shape))])
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = threads
    sess = onnxruntime.InferenceSession(helper.make_model(g).SerializeToString(), so,
                                        providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, {"a": a})


def _clocked(fn) -> tuple:
    """(fn(), the seconds it took)."""
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _timed(fn) -> float:
    """The seconds fn() took."""
    return _clocked(fn)[1]


def set5_costs(model_name: str, paths: list[str], root: str) -> dict[str, tuple[float, float]]:
    """{path: (protocol PSNR, pipeline PSNR)} on Set5 x3 (see the module's docstring)."""
    import numpy as np
    import srcnn
    from srcnn.evaluation import evaluate_set
    from srcnn.images import list_images, read_image, to_rgb8
    from srcnn.metrics import psnr
    from srcnn.color import rgb2y
    from srcnn.resize import imresize, modcrop
    folder = Path(root) / "Set5"
    hrs = [modcrop(to_rgb8(read_image(f)), 3) for f in list_images(folder)]
    lrs = [imresize(hr, 1 / 3) for hr in hrs]
    out = {}
    for p in paths:
        sr = srcnn.load(model_name, scale=3, precision=p)
        proto = evaluate_set(folder, 3, sr.model, precision=sr.path)[1]["psnr"]
        pipe = float(np.mean([psnr(rgb2y(sr(lr)), rgb2y(hr), shave=3) for lr, hr in zip(lrs, hrs)]))
        out[p] = (proto, pipe)
    return out


def make_clip(path: Path, frames_: list, fps: int = 30) -> None:
    """An H.264 (crf 18, yuv420p) clip of the RGB frames ``frames_``, made with PyAV."""
    import av
    h, w = frames_[0].shape[:2]
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt, v.options = w, h, "yuv420p", {"crf": "18"}
        for f in frames_:
            out.mux(v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(v.encode())


def passthrough(src: Path, dst: Path, scale: int) -> int:
    """Decode ``src``, resize each frame by ``scale`` (swscale bicubic) and encode it as srcnn.video does
    by default (libx264 crf 18 medium): the clip's cost without super-resolution. Returns the frame count."""
    import av
    n = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        v = out.add_stream("libx264", rate=vin.average_rate)
        v.width, v.height, v.pix_fmt = vin.width * scale, vin.height * scale, "yuv420p"
        v.options = {"crf": "18", "preset": "medium"}
        for frame in inp.decode(vin):
            out.mux(v.encode(frame.reformat(width=v.width, height=v.height, interpolation="BICUBIC")))
            n += 1
        out.mux(v.encode())
    return n


def _seconds_frames(answer: str) -> tuple[int, float]:
    """The OpenCV child's "SECONDS FRAMES" answer as (frames, seconds)."""
    t, n = answer.split()
    return int(n), float(t)


def onnx_rows(args, fr: list, folder: str, cv) -> None:
    """Print the network alone on the frames' Y planes: each model's ONNX export (what ``train.py export``
    writes) in the child's cv2.dnn and in onnxruntime, interleaved (see --opencv-onnx)."""
    import numpy as np
    import srcnn
    from srcnn.color import rgb2y
    from srcnn.export import export_onnx
    from srcnn.weightfiles import ort_session
    d = Path(folder)
    for i, f in enumerate(fr):
        np.save(d / f"y{i}.npy", (rgb2y(f) / 255.0).astype(np.float32)[None, None])
    print(f"\nThe network alone on the 640x360 Y plane (FSRCNN, ESPCN), "
          f"the project's ONNX export: OpenCV {cv.version.split()[-1]} cv2.dnn against onnxruntime, "
          f"median of {args.repeat} interleaved calls")
    print("| model | engine | ms per frame | vs onnxruntime |")
    print("|---|---|---:|---:|")
    for name in (m for m in args.models if m != "srcnn"):
        path = d / f"{name}.onnx"
        export_onnx(srcnn.load(name, scale=3).model, {"scale": 3}, path)
        sess = ort_session(path)
        cv.ask(f"onnx {name} {path}")
        ys = [np.load(d / f"y{i}.npy") for i in range(len(fr))]
        calls = {"onnxruntime": lambda i: _timed(lambda: sess.run(None, {"input": ys[i]})),
                 "OpenCV dnn": lambda i, name=name: float(cv.ask(f"net {name} {i}"))}
        times = {k: [] for k in calls}
        for r in range(args.repeat + 1):
            for k, call in calls.items():
                t = call(r % len(fr))
                if r:                          # the first round warms up
                    times[k].append(t)
        med = {k: statistics.median(v) for k, v in times.items()}
        for k, t in med.items():
            print(f"| {name} | {k} | {t * 1e3:.0f} | {med['onnxruntime'] / t:.2f}x |", flush=True)


def int8_rows(args, root: str) -> None:
    """Print onnxruntime's static int8 quantization (QDQ, per-channel int8 weights, uint8 activations,
    MinMax calibration on 96 LR crops of T91, a training set) of each model's ort form against its float
    form: Set5 x3 protocol PSNR and the network's speed on a 640x360 Y plane (see --int8)."""
    import numpy as np
    import onnxruntime
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    import srcnn
    from srcnn.evaluation import validation_item
    from srcnn.export import export_onnx
    from srcnn.resize import imresize, modcrop
    from srcnn.weightfiles import ort_session
    from srcnn.fastpath import relu_form
    from srcnn.images import list_images, read_image, to_rgb8
    from srcnn.color import rgb2y
    from srcnn.protocol import score
    rng, crops = np.random.default_rng(0), []
    for f in list_images(Path(root) / "T91")[:24]:
        lr = imresize(rgb2y(modcrop(to_rgb8(read_image(f)), 3)) / 255.0, 1 / 3).astype(np.float32)
        for _ in range(4):
            i, j = rng.integers(0, lr.shape[0] - 24), rng.integers(0, lr.shape[1] - 24)
            crops.append(lr[None, None, i:i + 24, j:j + 24].copy())

    class Crops(CalibrationDataReader):
        def __init__(self):
            self.it = iter(crops)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"input": x}

    items = [validation_item(to_rgb8(read_image(f)), 3, 1, "lr") for f in list_images(Path(root) / "Set5")]
    x = np.random.default_rng(1).random((1, 1, OUT_H // 3, OUT_W // 3), dtype=np.float32)
    print(f"\nonnxruntime {onnxruntime.__version__} static int8 against float32, the ort form of each x3 model "
          f"(network alone, 640x360 Y plane, median of {args.repeat})")
    print("| model | numbers | Set5 x3 PSNR (protocol) | cost | ms per frame | speed-up |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as d:
        for name in (m for m in args.models if m != "srcnn"):
            fp, q8 = Path(d) / f"{name}.onnx", Path(d) / f"{name}_int8.onnx"
            export_onnx(relu_form(srcnn.load(name, scale=3).model), {"scale": 3}, fp)
            quantize_static(str(fp), str(q8), Crops(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            rows = {}
            for label, path in (("float32", fp), ("int8", q8)):
                sess = ort_session(path)
                psnr = np.mean([score(sess.run(None, {"input": it["input"].numpy()})[0][0, 0].astype(np.float64),
                                      it["gt_y"], 3)[0] for it in items])
                sess.run(None, {"input": x})
                ms = statistics.median(_timed(lambda: sess.run(None, {"input": x})) for _ in range(args.repeat)) * 1e3
                rows[label] = psnr, ms
            for label, (psnr, ms) in rows.items():
                print(f"| {name} | {label} | {psnr:.4f} | {rows['float32'][0] - psnr:+.4f} | {ms:.0f} | "
                      f"{rows['float32'][1] / ms:.2f}x |", flush=True)


def profile_rows(args, clip: Path, d: Path) -> None:
    """Where a clip's time goes: cProfile around one sr.video (precision auto, the default encoder) per
    model, the total split into the network (onnxruntime's run), encoding, decoding and the rest (chroma,
    quantisation, frame copies, Python), in ms per frame."""
    import cProfile
    import pstats
    import srcnn
    stages = {"network": "onnxruntime", "encode": "encode", "decode": "decode"}
    print("\n| model | ms per frame | network | encode (libx264 medium) | decode | the rest |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in (m for m in args.models if m != "srcnn"):
        sr = srcnn.load(name, scale=3, precision="auto")
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.runcall(sr.video, clip, d / "profile.mp4", overwrite=True)
        total = (time.perf_counter() - t) / args.video * 1e3
        got = {k: 0.0 for k in stages}
        for (_, _, fn), (_, _, tottime, _, _) in pstats.Stats(prof).stats.items():
            for k, want in stages.items():
                if fn.startswith(f"<method '{want}' of 'av.") or (want in fn and fn.endswith(".run>")):
                    got[k] += tottime / args.video * 1e3
        rest = total - sum(got.values())
        print(f"| {name} | {total:.1f} | " + " | ".join(f"{v:.1f} ({v / total:.0%})" for v in got.values())
              + f" | {rest:.1f} ({rest / total:.0%}) |", flush=True)


def video_rows(args, fr: list, folder: str, cv) -> None:
    """Print the end-to-end clip rows (see --video): fps per model and path, OpenCV's loop beside them."""
    import srcnn
    d = Path(folder)
    clip = d / "clip.mp4"
    make_clip(clip, frames(args.video, OUT_W // 3, OUT_H // 3))
    print(f"\nWhole clips: {args.video} frames 640x360 H.264 -> 1920x1080, decode + SR + encode, "
          f"median of {args.video_repeat} interleaved runs")
    print("| model | pipeline | encoder | fps | vs OpenCV loop |")
    print("|---|---|---|---:|---:|")
    calls = {("-", "PyAV decode -> resize -> encode, no SR", "libx264 crf 18 medium"):
             lambda: _clocked(lambda: passthrough(clip, d / "pass.mp4", 3))}
    for name in (m for m in args.models if m != "srcnn"):
        sr = srcnn.load(name, scale=3, precision="auto")
        sr(fr[0])
        for enc, codec, preset in (("libx264 crf 18 medium", None, None), ("libx264 crf 18 veryfast", None, "veryfast"),
                                   ("mpeg4", "mpeg4", None)):
            out = d / f"{name}_{codec}_{preset}.mp4"
            calls[name, "srcnn sr.video (auto)", enc] = (
                lambda sr=sr, out=out, codec=codec, preset=preset: _clocked(
                    lambda: sr.video(clip, out, codec=codec, preset=preset, overwrite=True).frames))
        if cv is not None and name in OPENCV_MODELS:
            calls[name, "OpenCV dnn_superres loop", "mp4v (mpeg4)"] = (
                lambda name=name: _seconds_frames(cv.ask(f"video {name} 3 {clip} {d / 'cv.mp4'}")))
    times = {k: [] for k in calls}
    for _ in range(args.video_repeat):
        for k, call in calls.items():
            n, t = call()
            if n != args.video:
                raise SystemExit(f"{k}: {n} frames out of {args.video}")
            times[k].append(t)
    fps = {k: args.video / statistics.median(v) for k, v in times.items()}
    for k, f in fps.items():
        ref = fps.get((k[0], "OpenCV dnn_superres loop", "mp4v (mpeg4)"))
        ratio = f"{f / ref:.2f}x" if ref else "-"
        print(f"| {k[0]} | {k[1]} | {k[2]} | {f:.2f} | {ratio} |", flush=True)
    if args.profile:
        profile_rows(args, clip, d)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["fsrcnn", "espcn", "srcnn"], help="bundled x3 models")
    p.add_argument("--paths", nargs="+", default=["fp32", "auto"],
                   help="precision values to time (fp32 auto bf16 ort; default fp32 auto)")
    p.add_argument("--repeat", type=int, default=15, help="timed calls per row, median kept (default 15)")
    p.add_argument("--srcnn-repeat", type=int, default=3, help="the same for SRCNN, 50x slower (default 3)")
    p.add_argument("--threads", type=int, default=2, help="threads of every engine (default 2)")
    p.add_argument("--frames", type=int, default=4, help="distinct frames, used in turn (default 4)")
    p.add_argument("--opencv-python", help="an interpreter with opencv-contrib-python 4.x (dnn_superres)")
    p.add_argument("--opencv-models", default="../shared/peers/opencv_dnn_superres",
                   help="folder of OpenCV's FSRCNN_x3.pb / ESPCN_x3.pb (default ../shared/peers/opencv_dnn_superres)")
    p.add_argument("--opencv-onnx", action="store_true",
                   help="also time the network alone as the project's ONNX export in --opencv-python's cv2.dnn "
                        "against onnxruntime (which OpenCV versions run the export well)")
    p.add_argument("--int8", action="store_true",
                   help="also measure onnxruntime's static int8 quantization of FSRCNN/ESPCN: Set5 cost and speed")
    p.add_argument("--video", type=int, default=48, metavar="FRAMES",
                   help="also time whole clips end to end: a synthetic 640x360 H.264 clip of FRAMES frames through "
                        "sr.video (precision auto; libx264 crf 18 medium, the default, libx264 veryfast and mpeg4), a PyAV "
                        "decode -> resize -> libx264 pass without SR, and OpenCV's VideoCapture -> upsample -> "
                        "VideoWriter(mp4v) loop; 0 = skip (default 48)")
    p.add_argument("--profile", action="store_true",
                   help="with --video: also split one sr.video per model into network, encode, decode and the rest")
    p.add_argument("--video-repeat", type=int, default=3, help="interleaved runs per clip row, median kept (default 3)")
    p.add_argument("--no-set5", action="store_true", help="skip the Set5 costs")
    p.add_argument("--opencv-child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.opencv_child:
        opencv_child(args.opencv_child, args.threads)
        return 0

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numpy as np
    import onnxruntime
    import torch
    import srcnn
    from srcnn.datasets import data_root
    from srcnn.models import macs_per_pixel
    from srcnn.precision import AUTO_BUDGET_DB, cpu_flags
    torch.set_num_threads(args.threads)
    w, h = OUT_W // 3, OUT_H // 3
    fr = frames(args.frames, w, h)
    peak = matmul_peak(args.threads)
    flags = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16"})
    print(f"# bench_video: {w}x{h} -> {OUT_W}x{OUT_H} (x3), {args.threads} threads; torch {torch.__version__}, "
          f"onnxruntime {onnxruntime.__version__}; {platform.processor() or platform.machine()} "
          f"({', '.join(flags)}), {os.cpu_count()} cores visible")
    print(f"matmul peak (2048^3, {args.threads} threads): float32 {peak['float32']:.0f} GFLOP/s, "
          f"bfloat16 {peak['bfloat16']:.0f} GFLOP/s")
    cv = None
    with tempfile.TemporaryDirectory() as d:
        if args.opencv_python:
            for i, f in enumerate(fr):
                np.save(Path(d) / f"frame{i}.npy", np.ascontiguousarray(f[:, :, ::-1]))   # BGR, as OpenCV reads
            cv = OpenCV(args.opencv_python, d, args.threads)
            print(f"OpenCV side: {cv.version} ({args.opencv_python}), models from {args.opencv_models}")
        mp = OUT_W * OUT_H / 1e6
        print("\n| model | path | engine | fps | output MP/s | vs OpenCV | network GFLOP/s | share of peak |")
        print("|---|---|---|---:|---:|---:|---:|---:|")
        results = {}
        for name in args.models:
            srs = {pth: srcnn.load(name, scale=3, precision=pth) for pth in args.paths}
            for sr in srs.values():
                sr(fr[0])   # warm-up: the onnxruntime export, oneDNN primitives
            calls = {pth: (lambda i, sr=sr: _timed(lambda: sr(fr[i]))) for pth, sr in srs.items()}
            if cv is not None and name in OPENCV_MODELS and cv.ask(f"load {name} 3 {args.opencv_models}") == "ok":
                cv.ask(f"run {name} 3 0")
                calls["opencv dnn_superres"] = lambda i, name=name: float(cv.ask(f"run {name} 3 {i}"))
            times = {k: [] for k in calls}
            n = args.srcnn_repeat if name == "srcnn" else args.repeat
            for r in range(n):
                for k, call in calls.items():
                    times[k].append(call(r % len(fr)))
            med = {k: statistics.median(v) for k, v in times.items()}
            cv_t = med.get("opencv dnn_superres")
            gflop = 2 * macs_per_pixel(srs[args.paths[0]].model, 3) * OUT_W * OUT_H / 1e9
            for k, t in med.items():
                sr = srs.get(k)
                engine = "OpenCV dnn (4.x)" if sr is None else (
                    sr.path.engine + ("" if sr.path.autocast is None else " bf16") + f", {sr.path.name}")
                ratio = f"{cv_t / t:.2f}x" if cv_t else "-"
                share = "-" if sr is None else f"{gflop / t / peak['bfloat16' if sr.path.autocast else 'float32']:.1%}"
                gfs = "-" if sr is None else f"{gflop / t:.1f}"
                print(f"| {name} | {k} | {engine} | {1 / t:.2f} | {mp / t:.2f} | {ratio} | {gfs} | {share} |",
                      flush=True)
                results[name, k] = mp / t
        if args.opencv_onnx and cv is not None:
            onnx_rows(args, fr, d, cv)
        if args.video:
            video_rows(args, fr, d, cv)
        if cv is not None:
            cv.close()
    if args.int8:
        int8_rows(args, str(data_root(None)))
    if not args.no_set5:
        root = str(data_root(None))
        print(f"\nSet5 x3 PSNR (dB) and the cost of each fast path against fp32 (budget {AUTO_BUDGET_DB} dB)")
        print("| model | path | resolved | protocol | cost | pipeline (uint8 LR) | cost | within budget |")
        print("|---|---|---|---:|---:|---:|---:|---|")
        for name in args.models:
            paths = ["fp32"] + [pth for pth in args.paths if pth != "fp32"]
            costs = set5_costs(name, paths, root)
            ref = costs["fp32"]
            for pth, (proto, pipe) in costs.items():
                resolved = srcnn.load(name, scale=3, precision=pth).path.name
                c1, c2 = ref[0] - proto, ref[1] - pipe
                ok = "reference" if pth == "fp32" else ("yes" if max(c1, c2) <= AUTO_BUDGET_DB else "NO")
                print(f"| {name} | {pth} | {resolved} | {proto:.4f} | {c1:+.4f} | {pipe:.4f} | {c2:+.4f} | {ok} |",
                      flush=True)
    print("\n" + json.dumps({f"{m} {k}": round(v, 2) for (m, k), v in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
