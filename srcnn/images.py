"""Image files in and out: RGB(A) channel order, uint8 or uint16 as stored, clear errors.

Decoding and encoding use OpenCV only (no PIL). On top of cv2 this module:
- reads the bytes itself and checks the container before decoding, so a truncated PNG (no IEND) or
  JPEG (no end-of-image marker after the scan) is rejected instead of half-decoded (cv2.imread returns
  the decoded top part of a truncated JPEG and only prints a libjpeg warning);
- honours the EXIF orientation of JPEG, PNG (eXIf chunk) and WebP. cv2.IMREAD_UNCHANGED, the only
  flag that keeps alpha and 16 bits, ignores it for those formats, so the tag is parsed here. TIFF
  orientation is already applied by OpenCV's TIFF decoder, even with IMREAD_UNCHANGED;
- converts BGR(A) to RGB(A) and returns C-contiguous arrays (torch.from_numpy-ready).
"""
from __future__ import annotations

import os
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from srcnn.errors import SRCNNError
from srcnn.files import atomic_path, read_regular

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
# read (a GIF: its first frame) but not written: what a folder contributes is what a file named directly
# may be; an output must be one of IMAGE_EXTS
READ_EXTS = IMAGE_EXTS | {".gif"}

_U16_EXTS = {".png", ".tif", ".tiff"}          # formats cv2 writes losslessly at 16 bits
_ALPHA_EXTS = {".png", ".tif", ".tiff", ".webp"}


# ----------------------------------------------------------------------------------------------
# listing

def list_images(folder, recursive: bool = True) -> list[Path]:
    """Image files (extension in READ_EXTS, any case) under `folder`, sorted by path.

    Hidden files and folders (name starting with ".", e.g. macOS "._x.png") are skipped.
    Raises SRCNNError if `folder` does not exist or is not a folder.
    """
    folder = Path(folder)
    if not folder.exists():
        raise SRCNNError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise SRCNNError(f"{folder}: not a folder")
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")] if recursive else []
        for name in filenames:
            p = Path(dirpath) / name
            if not name.startswith(".") and p.suffix.lower() in READ_EXTS and p.is_file():
                found.append(p)
    return sorted(found)


# ----------------------------------------------------------------------------------------------
# container checks and EXIF orientation (all on the raw bytes)

def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    return None


def _tiff_orientation(tiff: bytes) -> int:
    """Orientation tag (0x0112) of IFD0 of a TIFF-structured EXIF block; 1 if absent or malformed."""
    if tiff[:4] not in (b"II*\x00", b"MM\x00*") or len(tiff) < 8:
        return 1
    e = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(e + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (n,) = struct.unpack(e + "H", tiff[ifd:ifd + 2])
    for k in range(n):
        off = ifd + 2 + 12 * k
        if off + 12 > len(tiff):
            break
        tag, typ, count = struct.unpack(e + "HHI", tiff[off:off + 8])
        if tag == 0x0112 and typ == 3 and count >= 1:   # SHORT, value stored inline
            (v,) = struct.unpack(e + "H", tiff[off + 8:off + 10])
            return v if 1 <= v <= 8 else 1
    return 1


def _check_png(data: bytes) -> tuple[str | None, int]:
    """Walk the chunks: (problem or None, EXIF orientation). Checks chunk CRCs and IEND."""
    pos, orientation = 8, 1
    while True:
        if pos + 8 > len(data):
            return "truncated PNG (file ends before the IEND chunk)", orientation
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            return f"truncated PNG (chunk {ctype!r} cut short, no IEND)", orientation
        body = data[pos + 4:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:end])
        if zlib.crc32(body) != crc:
            return f"corrupt PNG (CRC mismatch in chunk {ctype!r})", orientation
        if ctype == b"eXIf":
            orientation = _tiff_orientation(body[4:])
        if ctype == b"IEND":
            return None, orientation
        pos = end


def _check_jpeg(data: bytes) -> tuple[str | None, int]:
    """Walk the marker segments up to the first scan: (problem or None, EXIF orientation).

    A complete JPEG has an EOI marker (FFD9) after the start of scan; entropy-coded data cannot
    contain FFD9 (0xFF is byte-stuffed), so its absence means the file was cut short.
    """
    pos, orientation = 2, 1
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return "corrupt JPEG (bad marker structure)", orientation
        marker = data[pos + 1]
        if marker == 0xFF:                           # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:
            return "corrupt JPEG (end-of-image before any image data)", orientation
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\x00\x00" and orientation == 1:
            orientation = _tiff_orientation(data[pos + 10:pos + 2 + length])
        if marker == 0xDA:                           # start of scan
            if data.find(b"\xff\xd9", pos + 2 + length) < 0:
                return "truncated JPEG (no end-of-image marker)", orientation
            return None, orientation
        pos += 2 + length
    return "truncated JPEG (file ends before the image data)", orientation


def _check_webp(data: bytes) -> tuple[str | None, int]:
    """RIFF size check and EXIF chunk: (problem or None, EXIF orientation)."""
    (size,) = struct.unpack("<I", data[4:8])
    if len(data) < 8 + size:
        return f"truncated WebP ({len(data)} of {8 + size} bytes)", 1
    pos, orientation = 12, 1
    while pos + 8 <= 8 + size:
        ctype, clen = struct.unpack("<4sI", data[pos:pos + 8])
        if ctype == b"EXIF":
            body = data[pos + 8:pos + 8 + clen]
            orientation = _tiff_orientation(body[6:] if body.startswith(b"Exif\x00\x00") else body)
        pos += 8 + clen + (clen & 1)
    return None, orientation


def _orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1..8 to an (H,W[,C]) array (turns the stored pixels upright)."""
    if orientation == 2:
        return img[:, ::-1]
    if orientation == 3:
        return img[::-1, ::-1]
    if orientation == 4:
        return img[::-1]
    if orientation == 5:
        return img.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(img, -1)                      # 90 degrees clockwise
    if orientation == 7:
        return img[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(img, 1)                       # 90 degrees counter-clockwise
    return img


@contextmanager
def _quiet_cv2():
    """Silence OpenCV's own log lines; every failure is reported as an SRCNNError instead."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


# ----------------------------------------------------------------------------------------------
# reading

# Default --max-pixels of prepare_data.py and evaluate.py: 2**28 = 16384 x 16384, ~268 megapixels. Every
# training or test set (DIV2K's largest is ~2040 x 2040, ImageNet's a few megapixels), an 8K frame (33 MP)
# and the photos of 100-200 MP cameras pass; a 30000 x 30000 image (900 MP: 2.7 GB as 8-bit RGB, about
# 22 GB once float64) is refused with one line before any float copy. OpenCV's own decoder limit is 2**30.
MAX_PIXELS = 1 << 28


def read_image(path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file exactly as stored.

    Returns (H,W) gray, (H,W,3) RGB or (H,W,4) RGBA, dtype uint8 or uint16 (as stored), C-contiguous.
    Palette images are expanded (RGB, or RGBA with a tRNS chunk); gray+alpha comes back as RGBA;
    EXIF orientation is applied. Raises SRCNNError("<path>: <problem>") for a missing, unreadable,
    empty, truncated or corrupt file, or one that is not an image; with ``max_pixels``, also for an
    image of more pixels than that ("PATH: W x H = N megapixels, over the limit of M (raise it with
    --max-pixels)"), refused from the PNG header before decoding, else right after the decode.
    """
    def check_size(w: int, h: int) -> None:
        if max_pixels is not None and w * h > max_pixels:
            raise SRCNNError(f"{path}: {w} x {h} = {w * h / 1e6:.4g} megapixels, over the limit of "
                             f"{max_pixels / 1e6:.4g} (raise it with --max-pixels)")

    path = Path(path)
    data = read_regular(path, "image file", missing="file")  # a FIFO or /dev/zero: refused, not read
    if not data:
        raise SRCNNError(f"{path}: empty file (0 bytes)")

    kind = _sniff(data)
    problem, orientation = None, 1
    if kind == "png":
        problem, orientation = _check_png(data)
    elif kind == "jpeg":
        problem, orientation = _check_jpeg(data)
    elif kind == "webp":
        problem, orientation = _check_webp(data)
    if problem:
        raise SRCNNError(f"{path}: {problem}")
    if kind == "png":  # the IHDR chunk, checked above, comes first: refuse a huge image undecoded
        check_size(*struct.unpack(">II", data[16:24]))

    try:
        with _quiet_cv2():
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        img = None
    if img is None:
        if kind is None:
            raise SRCNNError(f"{path}: not an image (unknown file format)")
        raise SRCNNError(f"{path}: cannot decode {kind.upper()} data (corrupt or truncated file)")
    if img.dtype not in (np.uint8, np.uint16):
        raise SRCNNError(f"{path}: unsupported sample type {img.dtype} (only 8- and 16-bit images)")
    check_size(img.shape[1], img.shape[0])  # before any copy below

    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 3:
        img = img[:, :, ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, [2, 1, 0, 3]]
    elif img.ndim != 2:
        raise SRCNNError(f"{path}: unsupported image layout {img.shape}")
    return np.ascontiguousarray(_orient(img, orientation))


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """(H,W) / (H,W,1..4) uint8 or uint16 -> (H,W) gray or (H,W,3) RGB uint8.

    Drops alpha (no compositing), maps 16 bits to 8 with round(x / 257), squeezes (H,W,1) to (H,W).
    """
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)   # == round(x / 257)
    elif img.dtype != np.uint8:
        raise SRCNNError(f"to_rgb8: expected uint8 or uint16 pixels, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] in (1, 2):
        img = img[:, :, 0]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    elif not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise SRCNNError(f"to_rgb8: expected (H,W) or (H,W,C) with C in 1..4, got shape {img.shape}")
    return np.ascontiguousarray(img)


# ----------------------------------------------------------------------------------------------
# writing

def write_image(path, img: np.ndarray) -> None:
    """Write (H,W), (H,W,1), (H,W,3) RGB or (H,W,4) RGBA, uint8 or uint16, format from the extension.

    uint16 only for .png/.tif/.tiff; alpha only for .png/.tif/.tiff/.webp. JPEG is written at
    quality 95, WebP losslessly (OpenCV defaults). Atomic (srcnn.files.atomic_path): the bytes go to a
    temporary file in the same folder which then replaces `path`; on any failure nothing is created or changed.
    The folder must exist. Raises SRCNNError("<path>: <problem>").
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in IMAGE_EXTS:
        raise SRCNNError(f"{path}: unsupported image extension {path.suffix!r} "
                         f"(use one of {', '.join(sorted(IMAGE_EXTS))})")
    img = np.asarray(img)
    if img.dtype not in (np.uint8, np.uint16):
        raise SRCNNError(f"{path}: can only write uint8 or uint16 pixels, got {img.dtype}")
    if img.dtype == np.uint16 and ext not in _U16_EXTS:
        raise SRCNNError(f"{path}: {ext} cannot store 16-bit pixels (use .png or .tif)")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[:, :, ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        if ext not in _ALPHA_EXTS:
            raise SRCNNError(f"{path}: {ext} cannot store an alpha channel (use .png)")
        img = img[:, :, [2, 1, 0, 3]]
    elif img.ndim != 2:
        raise SRCNNError(f"{path}: cannot write an array of shape {img.shape} "
                         "(expected (H,W), (H,W,1), (H,W,3) or (H,W,4))")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise SRCNNError(f"{path}: cannot write an empty image of shape {img.shape}")

    try:
        with _quiet_cv2():
            ok, buf = cv2.imencode(ext, np.ascontiguousarray(img))
    except cv2.error as e:
        ok, buf = False, str(e).strip().splitlines()[-1]
    if not ok:
        raise SRCNNError(f"{path}: OpenCV could not encode the image ({buf if isinstance(buf, str) else ext})")

    folder = path.parent
    if not folder.exists():
        raise SRCNNError(f"{path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise SRCNNError(f"{path}: {folder} is not a folder")
    if path.is_dir():
        raise SRCNNError(f"{path}: is a folder")
    with atomic_path(path) as tmp:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
        except PermissionError:
            raise SRCNNError(f"{path}: cannot write, folder {folder} is not writable") from None
        with os.fdopen(fd, "wb") as f:
            f.write(buf.tobytes())
