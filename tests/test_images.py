"""srcnn.images: reading/writing odd image files; every failure is one clear SRCNNError line."""
import os
import struct
import zlib

import cv2
import numpy as np
import pytest

from srcnn import images
from srcnn.errors import SRCNNError
from srcnn.images import IMAGE_EXTS, list_images, read_image, to_rgb8, write_image

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def raises_for(path, match):
    """Expect read_image(path) to fail with one line '<path>: ...<match>...'."""
    with pytest.raises(SRCNNError) as e:
        read_image(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg and match in msg, msg
    return msg


# ---------------------------------------------------------------- hand-made container pieces

def png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def raw_png(rows: np.ndarray, color_type: int, depth: int = 8, extra: bytes = b"") -> bytes:
    """A PNG from raw row bytes (H, W*samples*depth/8) uint8, filter 0; `extra` chunks go before IDAT."""
    h, row_bytes = rows.shape
    spp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    ihdr = struct.pack(">IIBBBBB", row_bytes * 8 // (spp * depth), h, depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + r.tobytes() for r in rows))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def exif_block(orientation: int, endian: str = "<") -> bytes:
    """TIFF-structured EXIF with one IFD0 entry: Orientation (0x0112, SHORT)."""
    mark = b"II*\x00" if endian == "<" else b"MM\x00*"
    return (mark + struct.pack(endian + "I", 8) + struct.pack(endian + "H", 1)
            + struct.pack(endian + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(endian + "I", 0))


def jpeg_with_exif(bgr: np.ndarray, orientation: int, endian: str = "<") -> bytes:
    data = cv2.imencode(".jpg", bgr)[1].tobytes()
    payload = b"Exif\x00\x00" + exif_block(orientation, endian)
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def png_with_exif(bgr: np.ndarray, orientation: int) -> bytes:
    data = cv2.imencode(".png", bgr)[1].tobytes()
    return data[:33] + png_chunk(b"eXIf", exif_block(orientation)) + data[33:]   # after IHDR


def webp_with_exif(bgr: np.ndarray, orientation: int) -> bytes:
    data = cv2.imencode(".webp", bgr)[1].tobytes()                      # lossless, simple format
    h, w = bgr.shape[:2]

    def chunk(t, b):
        return t + struct.pack("<I", len(b)) + b + (b"\x00" if len(b) % 2 else b"")
    vp8x = bytes([0x08, 0, 0, 0]) + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    body = b"WEBP" + chunk(b"VP8X", vp8x) + data[12:] + chunk(b"EXIF", exif_block(orientation))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def raw_tiff(img: np.ndarray, orientation: int) -> bytes:
    """Minimal uncompressed little-endian TIFF (gray or RGB, 8/16 bit) with an Orientation tag."""
    h, w = img.shape[:2]
    spp = 1 if img.ndim == 2 else img.shape[2]
    bits = img.dtype.itemsize * 8
    pixels = img.astype(img.dtype.newbyteorder("<")).tobytes()
    n = 10
    ifd_size = 2 + 12 * n + 4
    bps_off = 8 + ifd_size
    data_off = bps_off + 2 * spp
    entries = [(256, 4, 1, w), (257, 4, 1, h),
               (258, 3, spp, bits if spp == 1 else bps_off), (259, 3, 1, 1),
               (262, 3, 1, 1 if spp == 1 else 2), (273, 4, 1, data_off), (274, 3, 1, orientation),
               (277, 3, 1, spp), (278, 4, 1, h), (279, 4, 1, len(pixels))]
    out = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", n)
    for tag, typ, count, value in entries:
        val = struct.pack("<HH", value, 0) if typ == 3 and count == 1 else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, typ, count) + val
    out += struct.pack("<I", 0) + struct.pack("<" + "H" * spp, *([bits] * spp))
    return out + pixels


# EXIF orientation: how the stored pixels are turned upright (EXIF 2.3, tag 0x0112).
UPRIGHT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, -1)[::-1],
    8: lambda a: np.rot90(a, 1),
}


# ---------------------------------------------------------------- round trips and layouts

@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".tiff", ".webp", ".PNG"])
@pytest.mark.parametrize("channels", [0, 3])
def test_lossless_roundtrip_uint8(tmp_path, make_image, ext, channels):
    img = make_image(13, 17, channels, seed=1)
    p = tmp_path / f"a{ext}"
    write_image(p, img)
    out = read_image(p)
    if ext == ".webp" and channels == 0:                  # WebP has no gray mode: stored as RGB
        img = np.stack([img] * 3, axis=-1)
    assert out.dtype == np.uint8 and out.shape == img.shape and np.array_equal(out, img)
    assert out.flags.c_contiguous


def test_jpeg_roundtrip_is_close(tmp_path, make_image):
    img = make_image(32, 40, 3, seed=2)
    write_image(tmp_path / "a.jpg", img)
    out = read_image(tmp_path / "a.jpg")
    assert out.shape == img.shape and np.abs(out.astype(int) - img).mean() < 8


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("shape", [(9, 11), (9, 11, 3), (9, 11, 4)])
def test_uint16_roundtrip(tmp_path, ext, shape):
    img = np.random.default_rng(3).integers(0, 65536, size=shape, dtype=np.uint16)
    write_image(tmp_path / f"a{ext}", img)
    out = read_image(tmp_path / f"a{ext}")
    assert out.dtype == np.uint16 and np.array_equal(out, img)


@pytest.mark.parametrize("ext", [".png", ".webp", ".tiff"])
def test_rgba_roundtrip_keeps_alpha(tmp_path, make_image, ext):
    img = np.dstack([make_image(10, 12, 3, seed=4), np.arange(120, dtype=np.uint8).reshape(10, 12)])
    write_image(tmp_path / f"a{ext}", img)
    out = read_image(tmp_path / f"a{ext}")
    assert out.shape == (10, 12, 4) and np.array_equal(out[..., 3], img[..., 3])
    seen = img[..., 3] > 0                 # libwebp drops the colour of fully transparent pixels
    assert np.array_equal(out[seen], img[seen])
    if ext != ".webp":
        assert np.array_equal(out, img)


def test_single_channel_written_and_read_as_2d(tmp_path, make_image):
    img = make_image(8, 9, 1, seed=5)
    write_image(tmp_path / "g.png", img)
    out = read_image(tmp_path / "g.png")
    assert out.shape == (8, 9) and np.array_equal(out, img[:, :, 0])


def test_channel_order_is_rgb_on_disk_and_in_memory(tmp_path):
    red = np.zeros((4, 5, 3), np.uint8)
    red[..., 0] = 255
    write_image(tmp_path / "r.png", red)
    assert tuple(cv2.imread(str(tmp_path / "r.png"))[0, 0]) == (0, 0, 255)      # cv2 sees BGR
    cv2.imwrite(str(tmp_path / "b.png"), np.full((4, 5, 3), (255, 0, 0), np.uint8))  # BGR blue
    assert tuple(read_image(tmp_path / "b.png")[0, 0]) == (0, 0, 255)


def test_palette_png_expanded(tmp_path):
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]], np.uint8)
    idx = np.array([[0, 1, 2, 3], [3, 2, 1, 0], [1, 1, 3, 3]], np.uint8)
    (tmp_path / "p.png").write_bytes(raw_png(idx, 3, extra=png_chunk(b"PLTE", palette.tobytes())))
    out = read_image(tmp_path / "p.png")
    assert out.shape == (3, 4, 3) and np.array_equal(out, palette[idx])
    # with a tRNS chunk the palette carries alpha: RGBA
    trns = png_chunk(b"tRNS", bytes([0, 128, 255, 255]))
    (tmp_path / "pt.png").write_bytes(raw_png(idx, 3, extra=png_chunk(b"PLTE", palette.tobytes()) + trns))
    out = read_image(tmp_path / "pt.png")
    assert out.shape == (3, 4, 4)
    assert np.array_equal(out[..., :3], palette[idx]) and np.array_equal(out[..., 3], np.array([0, 128, 255, 255])[idx])


def test_gray_png_and_gray_alpha_png(tmp_path):
    g = np.arange(20, dtype=np.uint8).reshape(4, 5) * 12
    (tmp_path / "g.png").write_bytes(raw_png(g, 0))
    assert np.array_equal(read_image(tmp_path / "g.png"), g)
    ga = np.stack([g, 255 - g], -1).reshape(4, 10)
    (tmp_path / "ga.png").write_bytes(raw_png(ga, 4))
    out = read_image(tmp_path / "ga.png")
    assert out.shape == (4, 5, 4)
    assert all(np.array_equal(out[..., c], g) for c in range(3)) and np.array_equal(out[..., 3], 255 - g)


def test_16bit_gray_png_from_raw_bytes(tmp_path):
    g = np.array([[0, 1, 256, 65535]], np.uint16)
    (tmp_path / "g16.png").write_bytes(raw_png(g.astype(">u2").view(np.uint8).reshape(1, 8), 0, depth=16))
    out = read_image(tmp_path / "g16.png")
    assert out.dtype == np.uint16 and np.array_equal(out, g)


def test_content_sniffed_not_extension(tmp_path, make_image):
    img = make_image(6, 7, 3, seed=6)
    (tmp_path / "really_png.jpg").write_bytes(cv2.imencode(".png", img[..., ::-1])[1].tobytes())
    assert np.array_equal(read_image(tmp_path / "really_png.jpg"), img)


def test_float_tiff_rejected(tmp_path):
    p = tmp_path / "f.tif"
    cv2.imwrite(str(p), np.zeros((4, 4), np.float32))
    raises_for(p, "unsupported sample type float32")


# ---------------------------------------------------------------- EXIF orientation

@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["jpeg-II", "jpeg-MM", "png", "webp"])
def test_exif_orientation_matches_cv2_imread_color(tmp_path, make_image, fmt, orientation):
    """cv2.IMREAD_COLOR honours EXIF but loses alpha/16 bits; read_image must turn pixels the same way."""
    bgr = make_image(12, 20, 3, seed=7)
    if fmt.startswith("jpeg"):
        data = jpeg_with_exif(bgr, orientation, "<" if fmt.endswith("II") else ">")
    elif fmt == "png":
        data = png_with_exif(bgr, orientation)
    else:
        data = webp_with_exif(bgr, orientation)
    p = tmp_path / "o.img"
    p.write_bytes(data)
    ref = cv2.imread(str(p), cv2.IMREAD_COLOR_RGB)
    out = read_image(p)
    assert out.shape == ref.shape and np.array_equal(out, ref)
    # and independently of cv2: the stored (unrotated) pixels turned per the EXIF table
    stored = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert np.array_equal(out, UPRIGHT[orientation](stored))
    assert out.flags.c_contiguous


def test_exif_rotated_gray_jpeg(tmp_path, make_image):
    g = make_image(10, 16, 0, seed=8)
    p = tmp_path / "g.jpg"
    p.write_bytes(jpeg_with_exif(g, 6))
    plain = cv2.imdecode(cv2.imencode(".jpg", g)[1], cv2.IMREAD_UNCHANGED)
    out = read_image(p)
    assert out.shape == (16, 10) and np.array_equal(out, np.rot90(plain, -1))


@pytest.mark.parametrize("orientation", [1, 2, 3, 6, 8])
@pytest.mark.parametrize("dtype,channels", [(np.uint8, 3), (np.uint16, 0)])
def test_tiff_orientation(tmp_path, make_image, orientation, dtype, channels):
    """OpenCV's TIFF decoder applies the tag itself (even with IMREAD_UNCHANGED): no double turn."""
    img = make_image(6, 10, channels, seed=9).astype(dtype) * (257 if dtype == np.uint16 else 1)
    p = tmp_path / "o.tif"
    p.write_bytes(raw_tiff(img, orientation))
    out = read_image(p)
    assert out.dtype == dtype and np.array_equal(out, UPRIGHT[orientation](img))


def test_malformed_exif_is_ignored(tmp_path, make_image):
    bgr = make_image(8, 8, 3, seed=10)
    data = cv2.imencode(".jpg", bgr)[1].tobytes()
    junk = b"Exif\x00\x00MM\x00*\x00\x00\xff\xff"            # IFD offset past the end
    p = tmp_path / "j.jpg"
    p.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk + data[2:])
    assert read_image(p).shape == (8, 8, 3)


# ---------------------------------------------------------------- broken files

@pytest.mark.parametrize("keep", [0.3, 0.9, -2, -1])
def test_truncated_jpeg(tmp_path, make_image, keep):
    data = cv2.imencode(".jpg", make_image(40, 48, 3, seed=11))[1].tobytes()
    p = tmp_path / "t.jpg"
    p.write_bytes(data[:int(len(data) * keep)] if keep > 0 else data[:keep])
    raises_for(p, "truncated JPEG")


@pytest.mark.parametrize("keep", [20, 0.5, -13, -1])
def test_truncated_png(tmp_path, make_image, keep):
    data = cv2.imencode(".png", make_image(40, 48, 3, seed=12))[1].tobytes()
    p = tmp_path / "t.png"
    p.write_bytes(data[:int(len(data) * keep)] if isinstance(keep, float) else data[:keep])
    raises_for(p, "truncated PNG")


def test_corrupt_png_crc(tmp_path, make_image):
    data = bytearray(cv2.imencode(".png", make_image(20, 20, 3, seed=13))[1].tobytes())
    data[60] ^= 0xFF                                      # inside IDAT
    (tmp_path / "c.png").write_bytes(bytes(data))
    raises_for(tmp_path / "c.png", "CRC mismatch")


@pytest.mark.parametrize("ext", [".bmp", ".tif", ".webp"])
def test_truncated_other_formats(tmp_path, make_image, ext):
    data = cv2.imencode(ext, make_image(40, 48, 3, seed=14))[1].tobytes()
    p = tmp_path / f"t{ext}"
    p.write_bytes(data[:len(data) // 2])
    with pytest.raises(SRCNNError, match=r"^.*t\.\w+: .*(truncated|cannot decode)"):
        read_image(p)


def test_zero_byte_file(tmp_path):
    (tmp_path / "z.png").touch()
    raises_for(tmp_path / "z.png", "empty file (0 bytes)")


def test_text_file_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image\n")
    raises_for(tmp_path / "notes.png", "not an image")


def test_missing_file_and_directory(tmp_path):
    raises_for(tmp_path / "nope.png", "no such file")
    (tmp_path / "d.png").mkdir()
    raises_for(tmp_path / "d.png", "is a folder")


@pytest.mark.skipif(ROOT, reason="root can read any file")
def test_unreadable_file(tmp_path, make_image):
    p = tmp_path / "u.png"
    write_image(p, make_image(4, 4, 3))
    p.chmod(0)
    try:
        raises_for(p, "cannot read")
    finally:
        p.chmod(0o644)


# ---------------------------------------------------------------- to_rgb8

def test_to_rgb8_16bit_rounding_all_values():
    x = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    assert np.array_equal(to_rgb8(x), np.round(x / 257.0).astype(np.uint8))


def test_to_rgb8_layouts():
    rgba = np.random.default_rng(0).integers(0, 256, (3, 4, 4), dtype=np.uint8)
    assert np.array_equal(to_rgb8(rgba), rgba[..., :3]) and to_rgb8(rgba).flags.c_contiguous
    assert to_rgb8(rgba[..., :1]).shape == (3, 4)
    assert to_rgb8(rgba[..., 0]).shape == (3, 4)
    assert to_rgb8(rgba[..., :3]).dtype == np.uint8
    with pytest.raises(SRCNNError, match="uint8 or uint16"):
        to_rgb8(rgba.astype(np.float32))
    with pytest.raises(SRCNNError, match="shape"):
        to_rgb8(np.zeros((2, 2, 5), np.uint8))


# ---------------------------------------------------------------- writing: atomic, clear failures

def test_write_overwrites_atomically_and_leaves_no_temp(tmp_path, make_image):
    p = tmp_path / "a.png"
    write_image(p, make_image(5, 5, 3, seed=1))
    write_image(p, make_image(5, 5, 3, seed=2))
    assert np.array_equal(read_image(p), make_image(5, 5, 3, seed=2))
    assert os.listdir(tmp_path) == ["a.png"]


def test_written_file_mode_follows_umask(tmp_path, make_image):
    old = os.umask(0o022)
    try:
        write_image(tmp_path / "m.png", make_image(3, 3, 3))
    finally:
        os.umask(old)
    assert (tmp_path / "m.png").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("name,img,match", [
    ("a.jpg", np.zeros((4, 4), np.uint16), "cannot store 16-bit"),
    ("a.webp", np.zeros((4, 4), np.uint16), "cannot store 16-bit"),
    ("a.jpg", np.zeros((4, 4, 4), np.uint8), "alpha"),
    ("a.png", np.zeros((4, 4), np.float32), "uint8 or uint16"),
    ("a.png", np.zeros((4, 4, 2), np.uint8), "shape"),
    ("a.png", np.zeros((0, 4), np.uint8), "empty image"),
    ("a.gif", np.zeros((4, 4), np.uint8), "unsupported image extension"),
])
def test_write_rejects_bad_input_and_creates_nothing(tmp_path, name, img, match):
    (tmp_path / "keep.jpg").write_bytes(b"old")
    target = tmp_path / name
    before = target.read_bytes() if target.exists() else None
    with pytest.raises(SRCNNError, match=match) as e:
        write_image(target, img)
    assert str(e.value).startswith(f"{target}: ")
    assert sorted(os.listdir(tmp_path)) == sorted(["keep.jpg"] + ([name] if before is not None else []))
    assert (tmp_path / "keep.jpg").read_bytes() == b"old"


def test_write_missing_folder_or_file_as_folder(tmp_path, make_image):
    with pytest.raises(SRCNNError, match="does not exist"):
        write_image(tmp_path / "no" / "a.png", make_image(3, 3, 3))
    assert not (tmp_path / "no").exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(SRCNNError, match="is not a folder"):
        write_image(tmp_path / "f" / "a.png", make_image(3, 3, 3))
    (tmp_path / "d.png").mkdir()
    with pytest.raises(SRCNNError, match="is a folder"):
        write_image(tmp_path / "d.png", make_image(3, 3, 3))


@pytest.mark.skipif(ROOT, reason="root can write into read-only folders")
def test_write_unwritable_folder(tmp_path, make_image):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(SRCNNError, match="not writable"):
            write_image(ro / "a.png", make_image(3, 3, 3))
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o755)


def test_write_permission_error_is_clear(tmp_path, make_image, monkeypatch):
    """Same path as above, simulated so that it also runs as root."""
    def deny(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(images.os, "open", deny)
    with pytest.raises(SRCNNError, match=r"a\.png: cannot write, folder .* is not writable"):
        write_image(tmp_path / "a.png", make_image(3, 3, 3))
    assert os.listdir(tmp_path) == []


def test_failed_replace_keeps_old_file_and_removes_temp(tmp_path, make_image, monkeypatch):
    p = tmp_path / "a.png"
    write_image(p, make_image(4, 4, 3, seed=1))
    old = p.read_bytes()

    def boom(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(images.os, "replace", boom)
    with pytest.raises(SRCNNError, match="No space left"):
        write_image(p, make_image(4, 4, 3, seed=2))
    assert p.read_bytes() == old and os.listdir(tmp_path) == ["a.png"]


# ---------------------------------------------------------------- listing

def test_list_images(tmp_path):
    for rel in ["b.png", "a.JPG", "sub/c.tif", "sub/deep/d.webp", "notes.txt", ".hidden.png",
                ".git/x.png", "e.jpeg", "f.bmp", "g.tiff", "h.GIF"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "dir.png").mkdir()
    got = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert got == ["a.JPG", "b.png", "e.jpeg", "f.bmp", "g.tiff", "h.GIF", "sub/c.tif", "sub/deep/d.webp"]
    flat = [p.name for p in list_images(tmp_path, recursive=False)]
    assert flat == ["a.JPG", "b.png", "e.jpeg", "f.bmp", "g.tiff", "h.GIF"]
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"} == IMAGE_EXTS


def test_list_images_errors(tmp_path):
    with pytest.raises(SRCNNError, match="no such folder"):
        list_images(tmp_path / "missing")
    (tmp_path / "f.png").write_bytes(b"")
    with pytest.raises(SRCNNError, match="not a folder"):
        list_images(tmp_path / "f.png")


@pytest.mark.parametrize("kind", ["fifo", "device", "long_name"])
def test_special_files_and_long_names_refused(tmp_path, kind):
    """issue 13 items 7 and 11: a FIFO (blocked forever), a device (/dev/zero read until memory ran out)
    or a name over 255 bytes: one line, nothing read."""
    from specialfiles import fifo, finishes
    path = {"fifo": lambda: fifo(tmp_path / "pipe.png"), "device": lambda: "/dev/null",
            "long_name": lambda: tmp_path / ("n" * 300 + ".png")}[kind]()
    done, result = finishes(lambda: read_image(path))
    assert done, "read_image blocked"
    assert isinstance(result, SRCNNError), result
    msg = {"fifo": "is a FIFO (named pipe), not a regular file", "device": "is a character device, not a regular file",
           "long_name": "cannot read (File name too long)"}[kind]
    assert str(result) == f"{path}: {msg}"


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp"])
def test_max_pixels_refuses_large_images_with_one_line(tmp_path, make_image, monkeypatch, ext):
    """issue 13 item 10: a valid 30000 x 30000 PNG ended prepare_data.py and evaluate.py with a numpy
    MemoryError. read_image(max_pixels=N) refuses more than N pixels with one line: a PNG from its header
    without decoding, the other formats right after the decode; at the limit, or with none, it reads."""
    path = tmp_path / f"a{ext}"
    write_image(path, make_image(20, 30, 3))  # 600 pixels
    assert read_image(path, max_pixels=600).shape == (20, 30, 3)
    assert read_image(path).shape == (20, 30, 3) and images.MAX_PIXELS == 16384 * 16384
    if ext == ".png":  # refused before cv2 decodes anything
        monkeypatch.setattr(images.cv2, "imdecode", lambda *a: pytest.fail("decoded an over-limit PNG"))
    with pytest.raises(SRCNNError) as e:
        read_image(path, max_pixels=599)
    assert str(e.value) == (f"{path}: 30 x 20 = 0.0006 megapixels, over the limit of 0.000599 "
                            "(raise it with --max-pixels)")
