"""Video in, video out: every frame of a video file through a model, everything else kept.

Decoding and encoding are PyAV's (FFmpeg), imported only when a video is asked for (the ``video``
extra: ``pip install "srcnn[video]"``).

Colour: decoded frames are Y'CbCr already (8- or 10-bit planar 4:2:0, 4:2:2, 4:4:4, or grey), and
SD video is the studio-range BT.601 Y'CbCr that MATLAB's rgb2ycbcr, hence the image path, computes.
So a Y model (the paper's) takes the decoded Y plane itself as a grey image, through the image path's
own grey path (``sr(Y)``, srcnn.inference.super_resolve: a 2-D image is its own Y): each output Y
plane is bit for bit ``sr(Y)`` of the input's. Cb and Cr are upscaled by the scale with MATLAB bicubic
(srcnn.imresize), as the image path does, each on its own grid (4:2:0 stays 4:2:0; the sub-pixel
difference of left-sited MPEG chroma is ignored). An RGB model gets RGB frames (FFmpeg's conversion
with the video's own matrix and range) and its output goes back the same way. 10-bit in gives 10-bit
out (the network sees Y / 1023 as a float image).

Kept: every frame's timestamp (a variable frame rate stays variable) and the stream's time base where
the container allows it, the frame rate, rotation (display matrix), sample aspect ratio, colour
metadata (range, matrix, primaries, transfer), container and stream tags, and every audio and
subtitle stream, copied packet for packet (not re-encoded). Other streams (a second video, data) are
dropped.

The output is written to a temporary name beside it and renamed at the end (srcnn.files.atomic_path):
Ctrl-C, a crash, a full disk or a bad input leave no file under the final name.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import SRCNNError, one_line
from .files import atomic_path, output_name, regular_file
from .resize import PHASE_RADIUS, imresize, upscale_float32

# Inputs are recognised by these suffixes (then opened by PyAV); outputs: a container for each suffix.
VIDEO_EXTS = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v"}
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}
WEBM_CODECS = {"libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1"}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
           "placebo")   # x264 / x265 speed presets
CRF_MAX = {"libx264": 51, "libx265": 51, "libvpx-vp9": 63, "libaom-av1": 63, "libsvtav1": 63}
DEFAULT_CRF, DEFAULT_PRESET = 18, "medium"
# Decoded pixel formats taken as they are: planar Y'CbCr / grey, 8 or 10 bits (yuvj* = full range).
PIX_FMTS = {f"{base}{depth}": bits for base in ("yuv420p", "yuv422p", "yuv444p", "gray")
            for depth, bits in (("", 8), ("10le", 10))} | {"yuvj420p": 8, "yuvj422p": 8, "yuvj444p": 8}


class VideoResult(NamedTuple):
    """What :func:`super_resolve_video` did: frames written, input and output (width, height), the
    encoder, seconds."""
    frames: int
    size: tuple[int, int]
    out_size: tuple[int, int]
    codec: str
    seconds: float


def is_video(path) -> bool:
    """Whether ``path`` has a video suffix (VIDEO_EXTS, any case); the file itself is checked on opening."""
    return Path(path).suffix.lower() in VIDEO_EXTS


def list_videos(folder) -> list[Path]:
    """The files directly inside ``folder`` with a video suffix (hidden ones skipped), sorted."""
    return sorted(f for f in Path(folder).iterdir()
                  if not f.name.startswith(".") and is_video(f) and f.is_file())


def output_suffix(src) -> str:
    """The suffix of a default output name: the input's container where one is written (MUXERS), else .mp4."""
    s = Path(src).suffix.lower()
    return s if s in MUXERS else ".mp4"


def import_av():
    """The PyAV module; SRCNNError naming the ``video`` extra when it is not installed."""
    try:
        import av
    except ImportError:
        raise SRCNNError('video needs PyAV, which is not installed: pip install "srcnn[video]" '
                         "(or pip install av)") from None
    return av


class Encoding(NamedTuple):
    """The container (FFmpeg muxer name), encoder name and its options, from :func:`encoding`."""
    muxer: str
    codec: str
    options: dict


def encoding(dst, codec: str | None = None, crf: int | None = None, preset: str | None = None) -> Encoding:
    """Check the encoder options against the output name ``dst``: the container follows its suffix
    (MUXERS); codec None = libx264 (libvpx-vp9 for .webm); crf None = DEFAULT_CRF (0 = lossless) and
    preset None = DEFAULT_PRESET where the encoder has them (CRF_MAX, x264/x265). SRCNNError for an
    unknown suffix, encoder or preset, a crf out of range, an option the encoder lacks, or a codec the
    container cannot hold."""
    av = import_av()
    dst = Path(dst)
    muxer = MUXERS.get(dst.suffix.lower())
    if muxer is None:
        raise SRCNNError(f"{dst}: unknown video suffix {dst.suffix!r} for the output (use one of "
                         f"{', '.join(sorted(MUXERS))})")
    codec = codec or ("libvpx-vp9" if muxer == "webm" else "libx264")
    try:
        ok = av.Codec(codec, "w").type == "video"
    except Exception:   # av.codec.codec.UnknownCodecError (a ValueError)
        ok = False
    if not ok:
        have = ", ".join(c for c in ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1", "ffv1")
                         if c in av.codecs_available)
        raise SRCNNError(f"--codec {codec}: not a video encoder PyAV has here (e.g. {have})")
    if muxer == "webm" and codec not in WEBM_CODECS:
        raise SRCNNError(f"{dst}: WebM holds VP8, VP9 or AV1 video, not {codec}; use --codec libvpx-vp9 "
                         "(the default for .webm) or an .mp4/.mkv output")
    if crf is not None and codec not in CRF_MAX:
        raise SRCNNError(f"--crf {crf}: the {codec} encoder has no CRF (those that have: {', '.join(CRF_MAX)})")
    if preset is not None and codec not in ("libx264", "libx265"):
        raise SRCNNError(f"--preset {preset}: a libx264/libx265 option, not one of {codec}")
    if preset is not None and preset not in PRESETS:
        raise SRCNNError(f"--preset {preset}: unknown; one of {', '.join(PRESETS)}")
    options = {}
    if codec in CRF_MAX:
        crf = DEFAULT_CRF if crf is None else crf
        if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= CRF_MAX[codec]:
            raise SRCNNError(f"--crf {crf}: must be a whole number in 0..{CRF_MAX[codec]} for {codec}")
        options = {"crf": str(crf)}
        if codec == "libx264" and crf == 0:
            options = {"qp": "0"}            # lossless at every bit depth (crf 0 is only at 8 bits)
        elif codec == "libx265" and crf == 0:
            options["x265-params"] = "lossless=1"
        elif codec == "libvpx-vp9":
            options.update({"b": "0"} if crf else {"lossless": "1"})
    if codec in ("libx264", "libx265"):
        options["preset"] = preset or DEFAULT_PRESET
    return Encoding(muxer, codec, options)


def _plane(frame, i: int, dtype) -> np.ndarray:
    """Plane ``i`` of a PyAV frame as an (h, w) array (a view: the padding of each line cut off)."""
    p = frame.planes[i]
    item = np.dtype(dtype).itemsize
    return np.frombuffer(p, dtype, p.height * p.line_size // item).reshape(p.height, -1)[:, :p.width]


def _quantize(x: np.ndarray, top: int, dtype) -> np.ndarray:
    """float [0,1] (clipped here) -> integers 0..top, rounded half up (as the image path)."""
    return np.floor(np.clip(x, 0.0, 1.0) * top + 0.5).astype(dtype)


def _ycbcr_frame(av, frame, sr, fmt: str, bits: int, precision: str):
    """A Y'CbCr/grey frame through ``sr``: Y as a grey image (``sr(Y)`` for 8 bits, ``sr(Y / 1023)`` for
    10), Cb/Cr MATLAB-bicubic upscaled by the scale on their own grid (float64 for precision "fp32", else
    float32 with OpenCV, srcnn.resize.upscale_float32). Returns the new frame in ``fmt``."""
    dtype, top, s = (np.uint8, 255, sr.scale) if bits == 8 else (np.uint16, 1023, sr.scale)
    out = av.VideoFrame(frame.width * s, frame.height * s, fmt)
    y = _plane(frame, 0, dtype)
    _plane(out, 0, dtype)[:] = (sr(y, precision=precision) if bits == 8
                                else _quantize(sr(y / top, precision=precision), top, dtype))
    for i in range(1, len(out.planes)):
        plane = _plane(frame, i, dtype)
        if precision == "fp32":
            c = imresize(plane / top, s)                          # float64, s x the plane
        else:
            c = upscale_float32(np.pad(plane.astype(np.float32) / top, PHASE_RADIUS, mode="symmetric"), s)
        target = _plane(out, i, dtype)
        target[:] = _quantize(c[:target.shape[0], :target.shape[1]], top, dtype)
    return out


def _rgb_frame(av, frame, sr, fmt: str, bits: int, precision: str):
    """A frame through an RGB model: to RGB and back with the frame's matrix and range."""
    rgb_fmt = "rgb24" if bits == 8 else "rgb48le"
    rgb = frame.to_ndarray(format=rgb_fmt, src_color_range=frame.color_range, dst_color_range="JPEG")
    out = av.VideoFrame.from_ndarray(sr(rgb, precision=precision), format=rgb_fmt)
    return out.reformat(format=fmt, src_color_range="JPEG", dst_colorspace=frame.colorspace,
                        dst_color_range=frame.color_range)


@contextmanager
def _input(av, src: Path):
    """The opened input container; SRCNNError naming ``src`` when PyAV cannot read it."""
    try:
        inp = av.open(str(src), metadata_errors="replace")
    except av.error.FFmpegError as e:
        raise SRCNNError(f"{src}: not a video PyAV can read ({one_line(e)})") from None
    try:
        yield inp
    finally:
        inp.close()


class _Sink:
    """The output file as PyAV writes it (unbuffered: a write error is raised by that write); once
    ``dead`` is set, writes and seeks go nowhere, so that closing the container of a failed run (which
    writes a trailer) touches nothing."""

    def __init__(self, f):
        self.f, self.dead = f, False

    def write(self, data) -> int:
        return len(data) if self.dead else self.f.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0 if self.dead else self.f.seek(offset, whence)

    def tell(self) -> int:
        return 0 if self.dead else self.f.tell()


@contextmanager
def _output(av, path: Path, muxer: str):
    """An output container writing ``path`` through a Python file (closed whatever FFmpeg does; a write
    error is the OSError itself); closed (trailer written) when the block ends normally, and closed
    writing nothing more when it ends with an exception (the caller removes the file)."""
    with open(path, "wb", buffering=0) as f:
        sink = _Sink(f)
        out = av.open(sink, "w", format=muxer)
        try:
            yield out
        except BaseException:
            sink.dead = True
            out.close()
            raise
        out.close()


def _demux(av, inp, streams, src: Path):
    """Packets of ``streams`` in file order, the decoder-flushing empty ones included; a read error is an
    SRCNNError naming ``src``."""
    packets = inp.demux(streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as e:
            raise SRCNNError(f"{src}: truncated or corrupt video ({one_line(e)})") from None
        yield packet


def _display_matrix(frame):
    """The frame's display matrix (9 int32, the rotation/flip a player applies), or None."""
    sd = next((d for d in frame.side_data if d.type.name == "DISPLAYMATRIX"), None)
    return None if sd is None else np.frombuffer(bytes(sd), np.int32).tolist()


_SKIP_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "duration"}


def _tags(metadata: dict) -> dict:
    """Container or stream tags to copy: all but those the muxer writes itself (encoder, brands, duration)."""
    return {k: t for k, t in metadata.items() if k.lower() not in _SKIP_TAGS}


def _open_streams(av, out, vin, others, frame, sr, enc: Encoding, src: Path):
    """Add the output video stream (the input's timing and metadata, ``frame`` = the first decoded frame)
    and a copy of each of ``others``; returns (video stream, {input stream: output stream}, pixel format)."""
    fmt = frame.format.name.replace("yuvj", "yuv")             # full range is said by color_range
    codec = av.Codec(enc.codec, "w")
    if fmt not in {f.name for f in codec.video_formats or ()}:
        raise SRCNNError(f"{src}: the {enc.codec} encoder cannot write {frame.format.name} "
                         f"({PIX_FMTS[frame.format.name]}-bit) frames; try another --codec (libx264 takes 8 and "
                         "10 bits)")
    v = out.add_stream(enc.codec, rate=vin.average_rate or vin.guessed_rate or 25, options=enc.options)
    v.width, v.height, v.pix_fmt = frame.width * sr.scale, frame.height * sr.scale, fmt
    v.time_base = v.codec_context.time_base = vin.time_base
    cc = v.codec_context
    cc.color_range = frame.color_range
    cc.colorspace, cc.color_primaries, cc.color_trc = frame.colorspace, frame.color_primaries, frame.color_trc
    if vin.codec_context.sample_aspect_ratio:
        cc.sample_aspect_ratio = vin.codec_context.sample_aspect_ratio
    matrix = _display_matrix(frame)
    if matrix is not None:
        v.set_display_matrix(matrix)
    v.metadata.update(_tags(vin.metadata))
    copies = {}
    for s in others:
        try:
            copies[s] = out.add_stream_from_template(s)
        except (av.error.FFmpegError, ValueError) as e:
            name = s.codec_context.name if s.codec_context else "?"
            raise SRCNNError(f"{src}: cannot copy its {s.type} stream #{s.index} ({name}) into {enc.muxer} "
                             f"({one_line(e)})") from None
    return v, copies, fmt


def _frames_expected(inp, vin) -> int | None:
    """The stream's frame count, or one estimated from its duration and frame rate where the container
    does not say it (mkv, webm), for the progress bar's time left; None when neither is known."""
    if vin.frames:
        return vin.frames
    seconds = float(vin.duration * vin.time_base) if vin.duration and vin.time_base else (inp.duration or 0) / 1e6
    rate = vin.average_rate or vin.guessed_rate
    return (round(seconds * rate) or None) if seconds and rate else None


def _encode(av, out, v, frame, durations: dict, dst: Path, enc: Encoding) -> None:
    """Encode ``frame`` (None: flush the encoder) and mux its packets, each with the duration of the input
    frame of its pts (``durations``, popped; the encoder guesses the last one's from the frame rate)."""
    try:
        packets = v.encode(frame)
    except av.error.FFmpegError as e:
        raise SRCNNError(f"{dst}: cannot encode with {enc.codec} ({one_line(e)})") from None
    for p in packets:
        p.duration = durations.pop(p.pts, p.duration)
    _mux(av, out, packets, dst)


def _mux(av, out, packets, dst: Path) -> None:
    """Write packets; a write error (an OSError) propagates for atomic_path to name, a muxer's refusal
    (e.g. timestamps it cannot store) is an SRCNNError."""
    try:
        out.mux(packets)
    except av.error.FFmpegError as e:
        if isinstance(e, OSError):
            raise
        raise SRCNNError(f"{dst}: cannot write the video ({one_line(e)})") from None


def _check_paths(src: Path, dst: Path, overwrite: bool) -> None:
    """SRCNNError, before any work, for an input that is not a regular file, or an output that is the
    input, exists without ``overwrite``, cannot be a file or is in a missing folder."""
    regular_file(src, "video")
    if dst.resolve() == src.resolve():
        raise SRCNNError(f"{src}: the output {dst} would overwrite the input")
    if dst.exists() and not overwrite:
        raise SRCNNError(f"{src}: the output {dst} exists; pass --overwrite to replace it")
    output_name(dst, "video")
    if not dst.parent.is_dir():
        raise SRCNNError(f"{dst}: no such folder {dst.parent}")


def _video_stream(inp, src: Path):
    """The first video stream of the open input ``inp``, decoded with threads; SRCNNError when there is
    none or PyAV cannot decode it."""
    if not inp.streams.video:
        raise SRCNNError(f"{src}: no video stream")
    vin = inp.streams.video[0]
    if vin.codec_context is None:
        raise SRCNNError(f"{src}: PyAV has no decoder for its {vin.codec.name} video")
    vin.thread_type = "AUTO"
    return vin


def _upscaled(av, frame, sr, fmt: str, bits: int, precision: str, src: Path):
    """The super-resolved frame of ``frame`` (pixel format ``fmt`` of ``bits`` bits, that of the first
    frame), with its timing and colour description; SRCNNError naming ``src`` when the format changed
    mid-stream or the frame cannot be super-resolved."""
    if frame.format.name.replace("yuvj", "yuv") != fmt:
        raise SRCNNError(f"{src}: the pixel format changes mid-stream ({fmt} -> {frame.format.name})")
    try:
        new = (_ycbcr_frame if sr.channels == 1 or fmt.startswith("gray") else _rgb_frame)(
            av, frame, sr, fmt, bits, precision)
    except SRCNNError as e:
        raise SRCNNError(f"{src}: {e}") from None
    new.pts, new.duration, new.time_base = frame.pts, frame.duration, frame.time_base
    new.color_range, new.colorspace = frame.color_range, frame.colorspace
    new.color_primaries, new.color_trc = frame.color_primaries, frame.color_trc
    return new


def super_resolve_video(sr, src, dst, codec: str | None = None, crf: int | None = None,
                        preset: str | None = None, overwrite: bool = False, progress: bool = False,
                        precision: str = "auto") -> VideoResult:
    """Super-resolve every frame of the video ``src`` with ``sr`` (a srcnn.api.SuperResolver: its scale,
    tile and ensemble) into the video ``dst``, keeping everything else (see the module).

    precision: the numeric path of the frames, "auto" by default (the fastest path measured to cost
    <= 0.05 dB on Set5, with float32 chroma; srcnn.precision), "fp32" for the exact path (each Y plane
    then bit for bit the image path's).

    codec / crf / preset: see :func:`encoding` (libx264, crf 18, medium by default). overwrite: replace
    an existing ``dst`` (refused otherwise). progress: a tqdm bar on stderr (frames/s, ETA).
    SRCNNError, with nothing written under ``dst``, for an input PyAV cannot read or decode, no video
    stream or no frames, a truncated stream, a pixel format the encoder cannot write, or an output
    that cannot be written (a full disk included).
    """
    av = import_av()
    src, dst = Path(src), Path(dst)
    enc = encoding(dst, codec, crf, preset)
    _check_paths(src, dst, overwrite)
    t0 = time.time()
    with _input(av, src) as inp:
        vin = _video_stream(inp, src)
        others = [s for s in inp.streams if s.type in ("audio", "subtitle")]
        from tqdm import tqdm
        with atomic_path(dst, "video") as tmp, _output(av, tmp, enc.muxer) as out, \
                tqdm(total=_frames_expected(inp, vin), unit="frame", file=sys.stderr, dynamic_ncols=True,
                     disable=not progress, desc=src.name) as bar:
            out.metadata.update(_tags(inp.metadata))
            v, copies, fmt, pending, n, durations = None, {}, None, [], 0, {}
            for packet in _demux(av, inp, [vin, *others], src):
                if packet.stream is not vin:
                    if packet.dts is None:          # a flushing packet
                        continue
                    if v is None:
                        pending.append(packet)       # before the first frame: the streams are not added yet
                        continue
                    packet.stream = copies[packet.stream]
                    _mux(av, out, packet, dst)
                    continue
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as e:
                    raise SRCNNError(f"{src}: truncated or corrupt video stream ({one_line(e)})") from None
                for frame in frames:
                    if v is None:
                        bits = PIX_FMTS.get(frame.format.name)
                        if bits is None:
                            raise SRCNNError(f"{src}: pixel format {frame.format.name} is not supported (8- or "
                                             "10-bit planar Y'CbCr or grey)")
                        v, copies, fmt = _open_streams(av, out, vin, others, frame, sr, enc, src)
                        for p in pending:
                            p.stream = copies[p.stream]
                        _mux(av, out, pending, dst)
                        pending = []
                    durations[frame.pts] = frame.duration
                    _encode(av, out, v, _upscaled(av, frame, sr, fmt, bits, precision, src), durations, dst, enc)
                    n += 1
                    bar.update(1)
            if n == 0:
                raise SRCNNError(f"{src}: no frames decode (an empty or corrupt video stream)")
            if vin.frames and n < vin.frames:
                raise SRCNNError(f"{src}: truncated or corrupt: only {n} of its {vin.frames} frames decode")
            _encode(av, out, v, None, durations, dst, enc)
        return VideoResult(n, (vin.width, vin.height), (vin.width * sr.scale, vin.height * sr.scale), enc.codec,
                           time.time() - t0)
