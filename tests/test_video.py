"""Video in, video out (srcnn.video, super_resolve.py on a video, SuperResolver.video): frames,
timestamps, audio and metadata kept, the Y plane through the image path, and one line per bad input."""
import errno
import os
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

import srcnn  # noqa: E402
from srcnn import inference, video  # noqa: E402
from srcnn.cli.super_resolve import main  # noqa: E402
from srcnn.errors import SRCNNError  # noqa: E402
from srcnn.resize import imresize  # noqa: E402
from srhelpers import cli_runner, names, save_tiny_checkpoint  # noqa: E402
from conftest import smooth_image  # noqa: E402

VFR_PTS = [0, 40, 80, 200, 240, 300]   # ms: a variable frame rate


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint.7", scale=3)


def make_video(path, pts=VFR_PTS, size=(32, 24), pix_fmt="yuv420p", audio=True, rotation=None,
               options=None, frames=None):
    """A tiny H.264 video (time base 1 ms, the frames at ``pts``) with an AAC track, BT.709 studio-range
    colour tags and, optionally, a rotation; ``frames``: how many video frames to encode (default all;
    the audio is all there)."""
    w, h = size
    tb = Fraction(1, 1000)
    with av.open(str(path), "w", options=options or {}) as out:
        v = out.add_stream("libx264", rate=25, options={"qp": "0", "preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        v.codec_context.time_base = tb
        cc = v.codec_context
        cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = 1, 1, 1, 1   # MPEG range, BT.709
        if rotation is not None:
            v.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream("aac", rate=8000)
            a.layout = "mono"
        out.metadata["title"] = "a test clip"
        out.start_encoding()     # the header, even with no frames
        for i, p in enumerate(pts):
            if frames is None or i < frames:
                f = av.VideoFrame.from_ndarray(smooth_image(h, w, 3, seed=i), format="rgb24").reformat(
                    format=pix_fmt, dst_colorspace=1, dst_color_range=1)
                f.pts, f.time_base = p, tb
                f.color_range, f.colorspace = 1, 1
                out.mux(v.encode(f))
            if a is not None:
                s = av.AudioFrame.from_ndarray((np.sin(np.arange(400) * 0.05 + i) * 8000).astype(np.int16)[None],
                                               format="s16", layout="mono")
                s.sample_rate, s.pts = 8000, i * 400
                out.mux(a.encode(s))
        out.mux(v.encode())
        if a is not None:
            out.mux(a.encode())
    return Path(path)


def probe(path):
    """(video stream facts, [decoded frames' (pts, Y, Cb, Cr) arrays], [audio packets' bytes])."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        facts = dict(title=c.metadata.get("title"), time_base=v.time_base, frames=v.frames, rate=v.average_rate, size=(v.width, v.height),
                     pix_fmt=v.codec_context.pix_fmt, audio=len(c.streams.audio))
        frames = []
        for f in c.decode(video=0):
            dtype = np.uint16 if "10" in f.format.name else np.uint8
            frames.append((f.pts, *(video._plane(f, i, dtype).copy() for i in range(len(f.planes)))))
            facts.update(rotation=f.rotation, color=(f.color_range, f.colorspace, f.color_primaries,
                                                     f.color_trc))
    with av.open(str(path)) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size] if facts["audio"] else []
    return facts, frames, audio


run = cli_runner(main)


def test_frames_timestamps_audio_and_metadata_are_kept(tmp_path, ckpt, capsys):
    src = make_video(tmp_path / "clip.mp4", rotation=90)
    rc, out, err = run(["--checkpoint", ckpt, src], capsys)
    assert rc == 0, err
    assert "clip.mp4 -> " in out and "(32x24 -> 96x72, 6 frames, libx264" in out
    a, fa, audio_a = probe(src)
    b, fb, audio_b = probe(tmp_path / "clip_x3.mp4")
    assert b["size"] == (96, 72) and b["frames"] == a["frames"] == len(fb) == 6
    assert b["time_base"] == a["time_base"] and [f[0] for f in fb] == [f[0] for f in fa]   # VFR stays VFR
    assert b["rate"] == a["rate"] and b["rotation"] == a["rotation"] == 90
    assert b["color"] == a["color"] == (1, 1, 1, 1) and b["pix_fmt"] == "yuv420p"
    assert b["title"] == a["title"] == "a test clip"
    assert audio_b == audio_a and len(audio_a) > 2                # copied packet for packet


def test_lossless_y_is_the_image_path_and_chroma_bicubic(tmp_path, ckpt, capsys):
    src = make_video(tmp_path / "clip.mkv", pts=[0, 33, 66], audio=False)
    rc, _, err = run(["--checkpoint", ckpt, src, "--crf", 0, "--precision", "fp32", "-o", tmp_path / "out.mkv"],
                     capsys)
    assert rc == 0, err
    sr = srcnn.load(str(ckpt))
    _, fa, _ = probe(src)
    facts, fb, _ = probe(tmp_path / "out.mkv")
    assert facts["time_base"] == Fraction(1, 1000) and len(fb) == 3
    for (pa, y, cb, cr), (pb, y2, cb2, cr2) in zip(fa, fb):
        assert pa == pb
        assert np.array_equal(y2, inference.super_resolve(y, sr.model, 3))     # a grey image is its own Y
        for c, c2 in ((cb, cb2), (cr, cr2)):
            assert np.array_equal(c2, np.floor(np.clip(imresize(c / 255.0, 3), 0, 1) * 255 + 0.5))


def test_ten_bit_in_ten_bit_out(tmp_path, ckpt):
    src = make_video(tmp_path / "clip.mkv", pts=[0, 40], pix_fmt="yuv420p10le", audio=False)
    sr = srcnn.load(str(ckpt))
    r = sr.video(src, tmp_path / "out.mkv", crf=0, precision="fp32")
    assert r.frames == 2 and r.out_size == (96, 72)
    _, fa, _ = probe(src)
    facts, fb, _ = probe(tmp_path / "out.mkv")
    assert facts["pix_fmt"] == "yuv420p10le"
    y, y2 = fa[0][1], fb[0][1]
    assert np.array_equal(y2, np.floor(sr(y / 1023.0) * 1023 + 0.5))


def test_rgb_model_gets_rgb_frames(tmp_path):
    ck = save_tiny_checkpoint(tmp_path / "rgb" / "checkpoint.1", scale=2, channels=3)
    src = make_video(tmp_path / "clip.mov", pts=[0, 40], pix_fmt="yuv444p", audio=False)
    sr = srcnn.load(str(ck))
    sr.video(src, tmp_path / "out.mov", crf=0)
    with av.open(str(src)) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24", src_color_range=1, dst_color_range="JPEG")
    with av.open(str(tmp_path / "out.mov")) as c:
        got = next(c.decode(video=0)).to_ndarray(format="rgb24", src_color_range=1, dst_color_range="JPEG")
    assert got.shape == (48, 64, 3)
    assert np.abs(got.astype(int) - sr(rgb)).mean() < 2.5      # through Y'CbCr and back, 8 bits each way


def test_api_and_mixed_folder(tmp_path, ckpt, capsys):
    from srcnn.images import write_image
    folder = tmp_path / "in"
    folder.mkdir()
    make_video(folder / "clip.mkv", pts=[0, 40], audio=True)
    write_image(folder / "a.png", smooth_image(8, 9, 3))
    rc, out, err = run(["--checkpoint", ckpt, folder, "-o", tmp_path / "out"], capsys)
    assert rc == 0, err
    assert names(tmp_path / "out") == ["a_x3.png", "clip_x3.mkv"]
    sr = srcnn.load(str(ckpt))
    with pytest.raises(SRCNNError, match=r"cannot copy its audio stream #1 \(aac\) into webm"):
        sr.video(folder / "clip.mkv", tmp_path / "clip.webm")
    assert names(tmp_path) == ["in", "out"]
    silent = make_video(tmp_path / "silent.mkv", pts=[0, 40], audio=False)
    capsys.readouterr()
    r = sr.video(silent, tmp_path / "clip.webm", crf=30, progress=True)   # VP9 by default for .webm
    assert (r.frames, r.codec) == (2, "libvpx-vp9")
    assert "2/2" in capsys.readouterr().err                     # the bar: frames, frames/s, time left
    with pytest.raises(SRCNNError, match="exists; pass --overwrite"):
        sr.video(silent, tmp_path / "clip.webm")
    assert sr.video(silent, tmp_path / "clip.webm", overwrite=True).frames == 2


def test_interrupt_leaves_nothing(tmp_path, ckpt, capsys, monkeypatch):
    src = make_video(tmp_path / "clip.mp4")
    real, calls = video._encode, []

    def encode(*a):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a)
    monkeypatch.setattr(video, "_encode", encode)
    rc, _, err = run(["--checkpoint", ckpt, src], capsys)
    assert rc == 130 and "interrupted" in err and "nothing is half-written" in err
    assert names(tmp_path) == ["clip.mp4"]       # no output, no temporary


def test_bad_inputs_one_line_each(tmp_path, ckpt, capsys):
    good = make_video(tmp_path / "good.mp4", pts=[0, 40, 80, 120])
    (tmp_path / "text.mp4").write_text("not a video at all")
    data = good.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) * 2 // 3])               # the index is at the end
    fast = make_video(tmp_path / "fast.mp4", pts=list(range(0, 400, 40)), options={"movflags": "faststart"})
    raw = fast.read_bytes()
    (tmp_path / "short.mp4").write_bytes(raw[:len(raw) - 1500])                 # index first, frames cut
    fast.unlink()
    make_video(tmp_path / "empty.mp4", frames=0, audio=False)          # the empty track is dropped
    make_video(tmp_path / "silent.mkv", frames=0)                       # a video stream, only audio in it
    expect = {"text.mp4": "not a video PyAV can read", "cut.mp4": "not a video PyAV can read",
              "short.mp4": "truncated or corrupt", "empty.mp4": "no video stream",
              "silent.mkv": "no frames"}
    rc, _, err = run(["--checkpoint", ckpt, *(tmp_path / n for n in expect), good, "-o", tmp_path / "out"], capsys)
    assert rc == 2 and "Traceback" not in err
    lines = [l for l in err.splitlines() if l.startswith("error: ")]
    assert len(lines) == len(expect), err
    for name, what in expect.items():
        assert any(l.startswith(f"error: {tmp_path / name}: ") and what in l for l in lines), (name, err)
    assert names(tmp_path / "out") == ["good_x3.mp4"]


def test_bad_outputs_and_options(tmp_path, ckpt, capsys, monkeypatch):
    src = make_video(tmp_path / "clip.mp4", pts=[0, 40])
    (tmp_path / "clip_x3.mp4").write_bytes(b"old")
    rc, _, err = run(["--checkpoint", ckpt, src], capsys)
    assert rc == 2 and "exists; pass --overwrite" in err and (tmp_path / "clip_x3.mp4").read_bytes() == b"old"
    rc, _, err = run(["--checkpoint", ckpt, src, "-o", tmp_path / "clip_x3.mp4"], capsys)   # explicit too
    assert rc == 2 and "exists; pass --overwrite" in err
    assert run(["--checkpoint", ckpt, src, "--overwrite"], capsys)[0] == 0
    assert probe(tmp_path / "clip_x3.mp4")[0]["frames"] == 2
    (tmp_path / "file").write_text("x")
    cases = [(["-o", tmp_path / "file" / "o.mp4"], "is a file, not a folder"),
             (["-o", tmp_path / "o.webm", "--codec", "libx264"], "WebM holds VP8, VP9 or AV1"),
             (["-o", tmp_path / "o.mp4", "--codec", "nosuch"], "not a video encoder"),
             (["-o", tmp_path / "o.mp4", "--crf", 52], "0..51"),
             (["-o", tmp_path / "o.webm", "--preset", "fast"], "libx264/libx265 option"),
             (["-o", tmp_path / "o.mp4", "--preset", "quick"], "unknown; one of"),
             (["-o", tmp_path / "o.png"], "a video needs a video output"),
             (["-o", tmp_path / "o.mp4", "--outscale", 2], "--outscale is for images")]
    for extra, what in cases:
        rc, _, err = run(["--checkpoint", ckpt, src, *extra], capsys)
        assert rc == 2 and what in err and "Traceback" not in err, (extra, err)
    from srcnn.images import write_image
    write_image(tmp_path / "a.png", smooth_image(6, 6, 3))
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "a.png", "--crf", 20], capsys)
    assert rc == 2 and "--codec, --crf and --preset are for video inputs" in err
    real_open = av.open

    def deny(path, mode="r", *a, **k):   # a folder that refuses new files (root writes anywhere)
        if mode == "w":
            raise av.error.PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, mode, *a, **k)
    monkeypatch.setattr(av, "open", deny)
    rc, _, err = run(["--checkpoint", ckpt, src, "-o", tmp_path / "o.mp4"], capsys)
    assert rc == 2 and f"error: {tmp_path / 'o.mp4'}: cannot write the video (Permission denied)" in err
    assert names(tmp_path) == ["a.png", "clip.mp4", "clip_x3.mp4", "file"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_for_real(tmp_path, ckpt, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    src = make_video(ro / "clip.mp4", pts=[0, 40])
    ro.chmod(0o555)
    try:
        rc, _, err = run(["--checkpoint", ckpt, src], capsys)
        assert rc == 2 and "not writable" in err and names(ro) == ["clip.mp4"]
    finally:
        ro.chmod(0o755)


def test_full_disk_simulated(tmp_path, ckpt, capsys, monkeypatch):
    src = make_video(tmp_path / "clip.mp4", pts=[0, 40, 80])
    real_open = av.open

    class Full:   # the output container, whose second write finds the disk full
        def __init__(self, c):
            self.c, self.n = c, 0

        def __getattr__(self, name):
            return getattr(self.c, name)

        def mux(self, packets):
            self.n += 1
            if self.n == 2:
                raise av.error.OSError(errno.ENOSPC, "No space left on device", self.c.name)
            return self.c.mux(packets)

    monkeypatch.setattr(av, "open", lambda path, mode="r", *a, **k: Full(real_open(path, mode, *a, **k))
                        if mode == "w" else real_open(path, mode, *a, **k))
    rc, _, err = run(["--checkpoint", ckpt, src], capsys)
    assert rc == 2 and f"{tmp_path / 'clip_x3.mp4'}: cannot write the video (No space left on device)" in err
    assert names(tmp_path) == ["clip.mp4"]


def test_full_disk_for_real(tmp_path, ckpt, capsys, small_tmpfs):
    from conftest import fill_disk
    src = make_video(tmp_path / "clip.mp4", pts=[0, 40, 80])
    fill_disk(small_tmpfs)
    rc, _, err = run(["--checkpoint", ckpt, src, "-o", small_tmpfs / "o.mp4"], capsys)
    assert rc == 2 and "No space left on device" in err and "Traceback" not in err, err
    assert names(small_tmpfs) == ["filler"]


def test_without_pyav_one_line_names_the_extra(tmp_path, ckpt, capsys, monkeypatch):
    src = tmp_path / "clip.mp4"
    src.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "av", None)
    rc, _, err = run(["--checkpoint", ckpt, src], capsys)
    assert rc == 2 and 'pip install "srcnn[video]"' in err and len(err.strip().splitlines()) == 4, err


def test_videos_default_to_the_fast_path_within_its_budget(tmp_path, ckpt, capsys):
    """Without --precision a video runs "auto" (float32 chroma, the fastest network path): its Y and
    Cb/Cr stay within a grey level of the exact path's."""
    src = make_video(tmp_path / "clip.mkv", pts=[0, 33], audio=False)
    assert run(["--checkpoint", ckpt, src, "--crf", 0, "-o", tmp_path / "fast.mkv"], capsys)[0] == 0
    assert run(["--checkpoint", ckpt, src, "--crf", 0, "--precision", "fp32", "-o", tmp_path / "exact.mkv"],
               capsys)[0] == 0
    _, fast, _ = probe(tmp_path / "fast.mkv")
    _, exact, _ = probe(tmp_path / "exact.mkv")
    for a, b in zip(fast, exact):
        for p, q in zip(a[1:], b[1:]):
            assert np.abs(p.astype(int) - q.astype(int)).max() <= 1
