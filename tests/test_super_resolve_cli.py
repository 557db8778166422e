"""super_resolve.py: every flag, batches, and one clear line per bad input."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from srcnn import images, inference, weightfiles
from srcnn.cli.super_resolve import main
from srcnn.images import read_image, write_image
from srhelpers import cli_runner, jpeg_with_exif, names, save_model, save_tiny_checkpoint, write_official_mat

REPO = Path(__file__).resolve().parents[1]
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def ckpt(tmp_path):
    return save_tiny_checkpoint(tmp_path / "ckpt" / "checkpoint.7", scale=3)


@pytest.fixture
def bundled(tmp_path, monkeypatch):
    """Bundled weights for x2 and x3 in a temporary srcnn/weights."""
    d = tmp_path / "weights"
    save_tiny_checkpoint(d / "srcnn_x3.pt", scale=3, seed=1)
    save_tiny_checkpoint(d / "srcnn_x2.pt", scale=2, seed=2)
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", d)
    return d


run = cli_runner(main)


def test_checkpoint_and_default_output(tmp_path, ckpt, make_image, capsys):
    lr = tmp_path / "lr.bmp"
    write_image(lr, make_image(10, 13, 3))
    rc, out, err = run(["--checkpoint", ckpt, lr], capsys)
    assert rc == 0, err
    res = read_image(tmp_path / "lr_x3.png")
    assert res.shape == (30, 39, 3) and res.dtype == np.uint8
    assert "lr.bmp -> " in out and "(13x10 -> 39x30" in out


def test_bundled_weights_and_scale(tmp_path, bundled, make_image, capsys):
    lr = tmp_path / "a.png"
    write_image(lr, make_image(8, 9, 3))
    assert run([lr], capsys)[0] == 0
    assert read_image(tmp_path / "a_x3.png").shape == (24, 27, 3)
    rc, out, _ = run(["--scale", 2, lr], capsys)
    assert rc == 0 and "srcnn_x2.pt" in out
    assert read_image(tmp_path / "a_x2.png").shape == (16, 18, 3)


def test_model_picks_bundled_weights(tmp_path, bundled, make_image, capsys):
    save_model(bundled / "fsrcnn-s_x3.pt", "fsrcnn-s", 3, scale=3)
    save_model(bundled / "vdsr_x2-3-4.pt", "vdsr", [2, 3, 4], depth=3, features=4)
    lr = tmp_path / "a.png"
    write_image(lr, make_image(8, 9, 3))
    rc, out, err = run(["--model", "fsrcnn-s", lr, "-o", tmp_path / "f.png"], capsys)
    assert rc == 0, err
    assert "model: fsrcnn-s x3" in out and "fsrcnn-s_x3.pt" in out
    assert read_image(tmp_path / "f.png").shape == (24, 27, 3)
    rc, out, err = run(["--model", "vdsr", "--scale", 4, lr, "-o", tmp_path / "v.png"], capsys)
    assert rc == 0 and "model: vdsr x4" in out and read_image(tmp_path / "v.png").shape == (32, 36, 3)
    rc, _, err = run(["--model", "fsrcnn-s", "--scale", 2, lr], capsys)
    assert rc == 2 and "no bundled fsrcnn-s weights for x2 (bundled fsrcnn-s weights: x3)" in err
    rc, _, err = run(["--model", "nonesuch", lr], capsys)
    assert rc == 2 and err.startswith("error: --model nonesuch: unknown model; one of srcnn")
    with pytest.raises(SystemExit) as e:
        main(["--model", "vdsr", "--checkpoint", str(bundled / "srcnn_x3.pt"), str(lr)])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_self_ensemble(tmp_path, ckpt, make_image, capsys):
    write_image(tmp_path / "a.png", make_image(11, 13, 3))
    assert run(["--checkpoint", ckpt, tmp_path / "a.png", "-o", tmp_path / "plain.png"], capsys)[0] == 0
    rc, out, err = run(["--checkpoint", ckpt, "--self-ensemble", "--tile", 0, tmp_path / "a.png", "-o",
                        tmp_path / "se.png"], capsys)
    assert rc == 0, err
    assert "model: srcnn-5-3-3+se x3" in out
    se = read_image(tmp_path / "se.png")
    assert se.shape == (33, 39, 3) and not np.array_equal(se, read_image(tmp_path / "plain.png"))
    assert run(["--checkpoint", ckpt, "--self-ensemble", "--tile", 8, tmp_path / "a.png", "-o",
                tmp_path / "se8.png"], capsys)[0] == 0
    assert np.array_equal(read_image(tmp_path / "se8.png"), se)


def test_missing_bundled_weights(tmp_path, monkeypatch, make_image, capsys):
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", tmp_path / "none")
    write_image(tmp_path / "a.png", make_image(8, 8, 3))
    rc, out, err = run([tmp_path / "a.png"], capsys)
    assert rc == 2 and err.startswith("error: no bundled weights for x3") and "train" in err
    assert err.count("\n") == 1 and names(tmp_path) == ["a.png"]


def test_scale_mismatch_and_bad_numbers(tmp_path, ckpt, make_image, capsys):
    write_image(tmp_path / "a.png", make_image(8, 8, 3))
    rc, _, err = run(["--checkpoint", ckpt, "--scale", 2, tmp_path / "a.png"], capsys)
    assert rc == 2 and "trained for scale 3, but scale 2" in err
    assert run(["--checkpoint", ckpt, "--scale", 1, tmp_path / "a.png"], capsys)[2].startswith("error: --scale 1")
    assert run(["--checkpoint", ckpt, "--tile", -1, tmp_path / "a.png"], capsys)[2].startswith("error: --tile -1")
    assert run([], capsys)[2].startswith("error: give input images")
    assert run(["--sample", tmp_path / "a.png"], capsys)[2] == "error: --sample takes no input files\n"
    assert names(tmp_path) == ["a.png", "ckpt"]


def test_mat_weights(tmp_path, make_image, capsys):
    write_official_mat(tmp_path / "x2.mat")
    write_image(tmp_path / "a.png", make_image(8, 8, 3))
    rc, out, err = run(["--checkpoint", tmp_path / "x2.mat", tmp_path / "a.png"], capsys)
    assert rc == 0, err
    assert "(authors) x2" in out and read_image(tmp_path / "a_x2.png").shape == (16, 16, 3)


def test_output_file_folder_and_batch(tmp_path, ckpt, make_image, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        write_image(src / f"im{i}.png", make_image(6 + i, 7, 3, seed=i))
    write_image(src / "im0_x3.png", make_image(6, 6, 3))   # an earlier output: skipped
    rc, out, err = run(["--checkpoint", ckpt, src, "-o", tmp_path / "out"], capsys)
    assert rc == 0, err
    assert names(tmp_path / "out") == ["im0_x3.png", "im1_x3.png", "im2_x3.png"]
    assert read_image(tmp_path / "out" / "im2_x3.png").shape == (24, 21, 3)
    # -o as a file for one input; --output spelled out
    rc, _, err = run(["--checkpoint", ckpt, src / "im1.png", "--output", tmp_path / "big.png"], capsys)
    assert rc == 0 and read_image(tmp_path / "big.png").shape == (21, 21, 3)
    # several files -> -o must be a folder
    rc, _, err = run(["--checkpoint", ckpt, src / "im1.png", src / "im2.png", "-o", tmp_path / "two.png"], capsys)
    assert rc == 2 and "-o names a file but there are 2 inputs" in err
    # one file into an existing folder: its earlier output is refused without --overwrite
    rc, _, err = run(["--checkpoint", ckpt, src / "im1.png", "-o", tmp_path / "out"], capsys)
    assert rc == 2 and f"error: {src / 'im1.png'}: the output {tmp_path / 'out' / 'im1_x3.png'} exists; pass " \
        "--overwrite to replace it" in err
    rc, _, _ = run(["--checkpoint", ckpt, src / "im1.png", "-o", tmp_path / "out", "--overwrite"], capsys)
    assert rc == 0


def test_output_never_overwrites_input_or_itself(tmp_path, ckpt, make_image, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    write_image(a / "x.png", make_image(6, 6, 3))
    write_image(b / "x.png", make_image(6, 6, 3, seed=1))
    rc, _, err = run(["--checkpoint", ckpt, a / "x.png", b / "x.png", "-o", tmp_path / "o"], capsys)
    assert rc == 2 and "is already the output of" in err and names(tmp_path / "o") == ["x_x3.png"]
    rc, _, err = run(["--checkpoint", ckpt, a / "x.png", "-o", a / "x.png"], capsys)
    assert rc == 2 and "would overwrite the input" in err


@pytest.mark.parametrize("tile", [0, 5, 64])
def test_tile_flag_does_not_change_the_result(tmp_path, ckpt, make_image, capsys, tile):
    write_image(tmp_path / "a.png", make_image(17, 19, 3))
    assert run(["--checkpoint", ckpt, "--tile", 7, tmp_path / "a.png", "-o", tmp_path / "ref.png"], capsys)[0] == 0
    assert run(["--checkpoint", ckpt, "--tile", tile, tmp_path / "a.png"], capsys)[0] == 0
    assert np.array_equal(read_image(tmp_path / "a_x3.png"), read_image(tmp_path / "ref.png"))


def test_precision_flag(tmp_path, ckpt, make_image, capsys, monkeypatch):
    """fp32 (default) is the float32 result bit for bit; bf16 a few grey levels off, also tiled; ort and
    auto (onnxruntime) within a grey level, auto float32 channels-last without onnxruntime and native
    bfloat16; a bad value is refused by argparse."""
    from srcnn import precision
    write_image(tmp_path / "a.png", make_image(17, 19, 3))
    assert run(["--checkpoint", ckpt, tmp_path / "a.png", "-o", tmp_path / "ref.png"], capsys)[0] == 0
    ref = read_image(tmp_path / "ref.png").astype(int)
    rc, out, err = run(["--checkpoint", ckpt, "--precision", "fp32", tmp_path / "a.png", "-o", tmp_path / "f.png"],
                       capsys)
    assert rc == 0 and "numeric" not in out and np.array_equal(read_image(tmp_path / "f.png"), ref)
    for tile in (0, 20):
        rc, out, err = run(["--checkpoint", ckpt, "--precision", "bf16", "--tile", tile, tmp_path / "a.png",
                            "-o", tmp_path / f"b{tile}.png"], capsys)
        assert rc == 0, err
        assert "numeric bf16-cl (--precision bf16" in out
        assert np.abs(read_image(tmp_path / f"b{tile}.png").astype(int) - ref).max() <= 3
    for prec in ("ort", "auto"):
        rc, out, err = run(["--checkpoint", ckpt, "--precision", prec, tmp_path / "a.png", "-o", tmp_path / "o.png"],
                           capsys)
        assert rc == 0 and "numeric ort (" in out, (prec, out)
        assert np.abs(read_image(tmp_path / "o.png").astype(int) - ref).max() <= 1
    monkeypatch.setattr(precision, "onnxruntime_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_native_bf16", lambda: False)
    rc, out, err = run(["--checkpoint", ckpt, "--precision", "auto", tmp_path / "a.png", "-o", tmp_path / "u.png"],
                       capsys)
    assert rc == 0 and "numeric fp32-cl (auto: no onnxruntime and no native bfloat16" in out
    assert np.abs(read_image(tmp_path / "u.png").astype(int) - ref).max() <= 1
    with pytest.raises(SystemExit) as e:
        main(["--checkpoint", str(ckpt), "--precision", "fp16", str(tmp_path / "a.png")])
    assert e.value.code == 2 and "invalid choice: 'fp16'" in capsys.readouterr().err


def test_device_flag(tmp_path, ckpt, make_image, capsys, monkeypatch):
    write_image(tmp_path / "a.png", make_image(6, 6, 3))
    rc, out, _ = run(["--checkpoint", ckpt, "--device", "cpu", tmp_path / "a.png"], capsys)
    assert rc == 0 and "device cpu" in out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc, _, err = run(["--checkpoint", ckpt, "--device", "cuda", tmp_path / "a.png"], capsys)
    assert rc == 2 and "no CUDA GPU" in err


def test_layouts_and_depths_survive(tmp_path, ckpt, make_image, capsys):
    gray, rgba = make_image(7, 8, 0), make_image(7, 8, 4)
    deep = make_image(7, 8, 3).astype(np.uint16) * 257
    for name, img in (("g.png", gray), ("rgba.png", rgba), ("deep.png", deep), ("deep16.tif", deep)):
        write_image(tmp_path / name, img)
    rc, _, err = run(["--checkpoint", ckpt, tmp_path], capsys)
    assert rc == 0, err
    assert read_image(tmp_path / "g_x3.png").shape == (21, 24)
    out = read_image(tmp_path / "rgba_x3.png")
    assert out.shape == (21, 24, 4)
    deep_out = read_image(tmp_path / "deep_x3.png")
    assert deep_out.dtype == np.uint16 and deep_out.shape == (21, 24, 3)


def test_exif_orientation_is_honoured(tmp_path, ckpt, make_image, capsys):
    (tmp_path / "rot.jpg").write_bytes(jpeg_with_exif(make_image(6, 10, 3), 6))  # shown rotated by 90
    assert run(["--checkpoint", ckpt, tmp_path / "rot.jpg"], capsys)[0] == 0
    assert read_image(tmp_path / "rot_x3.png").shape == (30, 18, 3)


def test_bad_inputs_one_line_each_and_the_rest_done(tmp_path, ckpt, make_image, capsys):
    good = tmp_path / "good.png"
    write_image(good, make_image(8, 8, 3))
    (tmp_path / "text.png").write_text("hello")
    (tmp_path / "empty.png").write_bytes(b"")
    data = (tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    write_image(tmp_path / "dot.png", make_image(1, 1, 3))
    write_image(tmp_path / "line.png", make_image(1, 30, 3))
    bad = ["missing.png", "text.png", "empty.png", "cut.png", "dot.png", "line.png"]
    rc, out, err = run(["--checkpoint", ckpt, good] + [tmp_path / b for b in bad] + [tmp_path / "nodir"], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    expect = {"missing.png": "no such file", "text.png": "not an image", "empty.png": "empty file",
              "cut.png": "truncated", "dot.png": "only 1x1 pixels", "line.png": "only 30x1 pixels"}
    for name, what in expect.items():
        assert any(line.startswith(f"error: {tmp_path / name}: ") and what in line for line in lines), (name, err)
    assert f"{len(bad) + 1} of {len(bad) + 2} input(s) failed:" in err
    assert (tmp_path / "good_x3.png").is_file()
    made = [p for p in names(tmp_path) if "_x3" in p or p.startswith(".")]
    assert made == ["good_x3.png"]   # nothing else written, no temporary files left


def test_unwritable_output_folder(tmp_path, ckpt, make_image, capsys, monkeypatch):
    write_image(tmp_path / "a.png", make_image(6, 6, 3))
    write_image(tmp_path / "b.png", make_image(6, 6, 3))
    ro = tmp_path / "ro"
    ro.mkdir()
    real_open = images.os.open

    def deny(path, *a, **k):  # simulated read-only folder (also works as root)
        if Path(path).parent == ro:
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **k)
    monkeypatch.setattr(images.os, "open", deny)
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "a.png", tmp_path / "b.png", "-o", ro], capsys)
    assert rc == 2 and err.count("is not writable") == 4   # one line per file, repeated in the summary
    assert names(ro) == []
    (tmp_path / "file").write_text("x")
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "file"], capsys)
    assert rc == 2 and "exists and is not a folder" in err


@pytest.mark.skipif(ROOT, reason="root can write into read-only folders")
def test_read_only_folder_for_real(tmp_path, ckpt, make_image, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    write_image(ro / "a.png", make_image(6, 6, 3))
    ro.chmod(0o555)
    try:
        rc, _, err = run(["--checkpoint", ckpt, ro / "a.png"], capsys)
        assert rc == 2 and "not writable" in err and names(ro) == ["a.png"]
    finally:
        ro.chmod(0o755)


def test_sample(tmp_path, ckpt, capsys, monkeypatch):
    rc, out, err = run(["--checkpoint", ckpt, "--sample", "-o", tmp_path / "demo"], capsys)
    assert rc == 0, err
    assert names(tmp_path / "demo") == ["sample_compare.png", "sample_lr.png", "sample_x3.png"]
    assert read_image(tmp_path / "demo" / "sample_lr.png").shape == (128, 192, 3)
    assert read_image(tmp_path / "demo" / "sample_x3.png").shape == (384, 576, 3)
    cmp = read_image(tmp_path / "demo" / "sample_compare.png")
    assert cmp.shape == (22 + 384, 3 * 576 + 2 * 4, 3)   # label bar; bicubic | model | original
    monkeypatch.chdir(tmp_path)
    assert run(["--checkpoint", ckpt, "--sample"], capsys)[0] == 0
    assert (tmp_path / "sample_x3.png").is_file()


def test_top_level_script_help():
    r = subprocess.run([sys.executable, str(REPO / "super_resolve.py"), "--help"], capture_output=True,
                       text=True, cwd=REPO)
    assert r.returncode == 0
    for flag in ("--checkpoint", "--model NAME", "--self-ensemble", "--scale", "-o PATH, --output PATH", "--device",
                 "--tile", "--sample"):
        assert flag in r.stdout


# ---------------------------------------------------------------------------------------------------------
# --outscale, --suffix, --ext, --overwrite, stale temporaries, progress and summary

def test_outscale_is_the_network_then_matlab_bicubic(tmp_path, ckpt, make_image, capsys):
    from srcnn import imresize
    img = make_image(10, 13, 3)
    write_image(tmp_path / "a.png", img)
    assert run(["--checkpoint", ckpt, tmp_path / "a.png", "-o", tmp_path / "net.png"], capsys)[0] == 0
    net = read_image(tmp_path / "net.png")
    rc, out, err = run(["--checkpoint", ckpt, "--outscale", 2.5, tmp_path / "a.png"], capsys)
    assert rc == 0, err
    res = read_image(tmp_path / "a_x2.5.png")       # default suffix x<outscale>
    assert res.shape == (25, 33, 3) and "output x2.5 (bicubic after the network)" in out
    assert np.array_equal(res, imresize(net, output_shape=(25, 33)))
    deep = img.astype(np.uint16) * 257
    write_image(tmp_path / "d.png", deep)
    assert run(["--checkpoint", ckpt, "--outscale", 6, "--suffix", "big", tmp_path / "d.png"], capsys)[0] == 0
    d = read_image(tmp_path / "d_big.png")
    assert d.shape == (60, 78, 3) and d.dtype == np.uint16
    for bad in ("0", "-1", "100"):
        rc, _, err = run(["--checkpoint", ckpt, "--outscale", bad, tmp_path / "a.png"], capsys)
        assert rc == 2 and err.startswith(f"error: --outscale {float(bad):g}: must be a number in (0, 64]")


def test_suffix_and_ext(tmp_path, ckpt, make_image, capsys):
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "p.png", make_image(6, 7, 3))
    write_image(src / "b.bmp", make_image(6, 7, 3))
    write_image(src / "t.tif", make_image(6, 7, 3))
    write_image(src / "a.png", make_image(6, 7, 4))
    write_image(src / "old_big.png", make_image(6, 7, 3))    # an earlier output of --suffix big: skipped
    rc, out, err = run(["--checkpoint", ckpt, src, "-o", tmp_path / "o", "--suffix", "big", "--ext", "jpg"], capsys)
    assert rc == 0, err
    assert names(tmp_path / "o") == ["a_big.png", "b_big.jpg", "p_big.jpg", "t_big.jpg"]   # alpha forces png
    assert read_image(tmp_path / "o" / "a_big.png").shape == (18, 21, 4)
    rc, _, err = run(["--checkpoint", ckpt, src, "-o", tmp_path / "auto", "--suffix", "s", "--ext", "auto"], capsys)
    assert rc == 0 and names(tmp_path / "auto") == ["a_s.png", "b_s.png", "old_big_s.png", "p_s.png", "t_s.tif"]
    rc, _, err = run(["--checkpoint", ckpt, src / "p.png", "--ext", "webp"], capsys)
    assert rc == 0 and (src / "p_x3.webp").is_file()
    write_image(tmp_path / "deep.png", make_image(6, 7, 3).astype(np.uint16) * 257)
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "deep.png", "--ext", "jpg"], capsys)
    assert rc == 2 and err.splitlines()[0] == (f"error: {tmp_path / 'deep.png'}: a 16-bit image cannot be written "
                                                f"as .jpg ({tmp_path / 'deep_x3.jpg'}); use --ext png or tif")
    assert not (tmp_path / "deep_x3.jpg").exists()
    for bad in ("", "a/b"):
        rc, _, err = run(["--checkpoint", ckpt, tmp_path / "deep.png", "--suffix", bad], capsys)
        assert rc == 2 and "--suffix" in err and "path separator" in err
    with pytest.raises(SystemExit):
        run(["--checkpoint", ckpt, tmp_path / "deep.png", "--ext", "gif"], capsys)
    assert "invalid choice: 'gif'" in capsys.readouterr().err


def test_overwrite(tmp_path, ckpt, make_image, capsys):
    write_image(tmp_path / "a.png", make_image(6, 7, 3))
    (tmp_path / "a_x3.png").write_bytes(b"keep")
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "a.png"], capsys)
    assert rc == 2 and "a_x3.png exists; pass --overwrite to replace it" in err
    assert (tmp_path / "a_x3.png").read_bytes() == b"keep"
    assert run(["--checkpoint", ckpt, tmp_path / "a.png", "--overwrite"], capsys)[0] == 0
    assert read_image(tmp_path / "a_x3.png").shape == (18, 21, 3)
    (tmp_path / "mine.png").write_bytes(b"x")      # an explicit -o FILE of one input is replaced
    assert run(["--checkpoint", ckpt, tmp_path / "a.png", "-o", tmp_path / "mine.png"], capsys)[0] == 0
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "a.png", "-o", tmp_path / "a.png", "--overwrite"], capsys)
    assert rc == 2 and "would overwrite the input" in err and read_image(tmp_path / "a.png").shape == (6, 7, 3)
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "a.png", "-o", tmp_path, "--suffix", "copy",
                      "--ext", "png", "--overwrite"], capsys)
    assert rc == 0   # into the folder of the input, under another name


@pytest.mark.parametrize("name", ["out.gif", "out.txt"])
def test_unknown_output_suffix_is_an_error_not_a_folder(tmp_path, ckpt, make_image, capsys, name):
    write_image(tmp_path / "a.png", make_image(6, 7, 3))
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "a.png", "-o", tmp_path / name], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {tmp_path / name}: unknown image suffix '{name[3:]}' for the output file")
    assert not (tmp_path / name).exists()


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path, ckpt, make_image, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                   # a finished process: its temporaries are stale
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_image(tmp_path / "a.png", make_image(6, 7, 3))
        write_image(tmp_path / "b.png", make_image(6, 7, 3))
        (tmp_path / f".a_x3.png.tmp-{dead.pid}").write_bytes(b"half")
        (tmp_path / f".b_x3.png.tmp-{live.pid}").write_bytes(b"another run is writing it")
        (tmp_path / f".other.png.tmp-{dead.pid}").write_bytes(b"not ours")
        rc, out, _ = run(["--checkpoint", ckpt, tmp_path / "a.png"], capsys)
        assert rc == 0 and "removed 1 temporary file(s) left by an interrupted earlier run" in out
        rc, out, _ = run(["--checkpoint", ckpt, tmp_path / "b.png"], capsys)
        assert rc == 0 and "temporary" not in out
        assert names(tmp_path) == [f".b_x3.png.tmp-{live.pid}", f".other.png.tmp-{dead.pid}",
                                   "a.png", "a_x3.png", "b.png", "b_x3.png", "ckpt"]
    finally:
        live.kill()
        live.wait()


def test_progress_bar_and_summary(tmp_path, ckpt, make_image, capsys, monkeypatch):
    from srcnn.cli import super_resolve as cli
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", make_image(6, 7, 3))
    write_image(src / "b.png", make_image(6, 7, 3))
    (src / "c.png").write_text("not an image")
    monkeypatch.setattr(cli, "_tty", lambda: True)
    rc, out, err = run(["--checkpoint", ckpt, src, "-o", tmp_path / "o"], capsys)
    assert rc == 2 and names(tmp_path / "o") == ["a_x3.png", "b_x3.png"]
    assert "3/3" in err and "img/s" in err and "failed=1" in err           # the bar, on stderr
    assert re.search(r"done: 2 of 3 image\(s\) in [\d.]+ s \([\d.]+ images/s\), 1 failed", out)
    assert f"error: {src / 'c.png'}: " in err and "1 of 3 input(s) failed:" in err


def test_sample_refuses_image_options(tmp_path, ckpt, capsys):
    rc, _, err = run(["--checkpoint", ckpt, "--sample", "--outscale", 2, "-o", tmp_path], capsys)
    assert rc == 2 and "--sample writes its three fixed files" in err


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for flag in ("--outscale X", "--suffix TEXT", "--ext {auto,png,jpg,tif,webp}", "--overwrite", "--checkpoint",
                 "--tile", "--self-ensemble", "--sample", "--device", "--scale", "--model",
                 "--precision {auto,fp32,bf16,ort}", "--codec NAME", "--crf N", "--preset NAME"):
        assert flag in out, flag
    assert ".onnx" in out


def test_out_of_memory_suggests_a_tile_only_where_tiling_helps(tmp_path, ckpt, make_image, capsys, monkeypatch):
    """issue 13 item 10: super_resolve.py answered every allocation failure with "try a smaller --tile",
    also when the array that failed is the size of the input image, which no tile shrinks. Now: a
    whole-image numpy array -> no --tile hint; the network (torch, one tile at a time) -> the hint;
    and with --tile 0 (one pass) the hint names a tile to try."""
    lr = tmp_path / "lr.png"
    write_image(lr, make_image(12, 10, 3))
    real_planes = inference.to_planes

    def whole_image_fails(f, c):
        np.empty((*f.shape[:2], 1 << 40))  # an input-sized array of petabytes: MemoryError, nothing allocated
        return real_planes(f, c)

    monkeypatch.setattr(inference, "to_planes", whole_image_fails)
    rc, _, err = run(["--checkpoint", ckpt, lr], capsys)
    assert rc == 2 and err.startswith(f"error: {lr}: out of memory for the whole-image arrays of this 10x12 image "
                                      "(Unable to allocate"), err
    assert "--tile" not in err.replace("a smaller --tile does not help", ""), err
    monkeypatch.setattr(inference, "to_planes", real_planes)

    def network_fails(*a, **k):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99 bytes")

    monkeypatch.setattr(inference, "run_model", network_fails)
    rc, _, err = run(["--checkpoint", ckpt, lr], capsys)
    assert rc == 2 and err.startswith(f"error: {lr}: out of memory or device error (DefaultCPUAllocator: can't "
                                      "allocate memory: you tried to allocate 99 bytes); try a smaller --tile"), err
    rc, _, err = run(["--checkpoint", ckpt, "--tile", 0, lr], capsys)
    assert rc == 2 and "; try --tile 512 (0 runs the image in one pass)" in err, err
    assert not (tmp_path / "lr_x3.png").exists()


LONG = "x" * 300  # one path component over the 255-byte limit of Linux file systems


@pytest.mark.parametrize("where", ["input", "output", "sample_folder"])
def test_names_over_255_bytes_are_one_line(tmp_path, ckpt, make_image, capsys, where):
    write_image(tmp_path / "a.png", make_image(6, 7, 3))
    args = {"input": [tmp_path / f"{LONG}.png"],
            "output": [tmp_path / "a.png", "-o", tmp_path / f"{LONG}.png"],
            "sample_folder": ["--sample", "-o", tmp_path / LONG]}[where]
    rc, _, err = run(["--checkpoint", ckpt, *args], capsys)
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "File name too long" in err
    assert names(tmp_path) == ["a.png", "ckpt"]


def test_special_file_as_weights_is_refused_not_read(tmp_path, make_image, capsys):
    from specialfiles import fifo, finishes
    write_image(tmp_path / "a.png", make_image(6, 7, 3))
    for weights, kind in ((Path("/dev/zero"), "character device"), (fifo(tmp_path / "w.pt"), "FIFO")):
        done, rc = finishes(lambda: main(["--checkpoint", str(weights), str(tmp_path / "a.png")]))
        assert done, f"super_resolve.py --checkpoint {weights} blocked"
        err = capsys.readouterr().err
        assert rc == 2 and f"error: {weights}: " in err and kind in err
    assert not (tmp_path / "a_x3.png").exists()


def test_gif_is_read_alike_named_or_in_a_folder(tmp_path, ckpt, make_image, capsys):
    import cv2
    src = tmp_path / "in"
    src.mkdir()
    if not cv2.imwrite(str(src / "a.gif"), make_image(6, 7, 3)):
        pytest.skip("this OpenCV cannot write GIF")
    write_image(src / "b.png", make_image(6, 7, 3))
    rc, _, err = run(["--checkpoint", ckpt, src, "-o", tmp_path / "folder"], capsys)
    assert rc == 0, err
    assert names(tmp_path / "folder") == ["a_x3.png", "b_x3.png"]     # a GIF output would be png
    rc, _, err = run(["--checkpoint", ckpt, src / "a.gif", "-o", tmp_path / "named.png"], capsys)
    assert rc == 0, err
    assert np.array_equal(read_image(tmp_path / "named.png"), read_image(tmp_path / "folder" / "a_x3.png"))


def test_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, ckpt, make_image, capsys, small_tmpfs):
    from conftest import fill_disk
    write_image(tmp_path / "a.png", make_image(40, 50, 3))
    (small_tmpfs / "a_x3.png").write_bytes(b"old")
    fill_disk(small_tmpfs)
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "a.png", "-o", small_tmpfs / "a_x3.png"], capsys)
    assert rc == 2 and "No space left on device" in err and "Traceback" not in err, err
    assert f"{small_tmpfs / 'a_x3.png'}: cannot write" in err
    assert (small_tmpfs / "a_x3.png").read_bytes() == b"old" and names(small_tmpfs) == ["a_x3.png", "filler"]


# ------------------------------------------------------------------ issue 32: hostile files and careless paths
def test_output_never_replaces_another_input_of_the_run(tmp_path, ckpt, make_image, capsys):
    """An output naming another input (by name, a hard link, after the .jpg -> .png rewrite of an image
    with alpha) is refused before anything is written; that input is intact."""
    write_image(tmp_path / "a.png", make_image(6, 7, 3))
    write_image(tmp_path / "a_x3.png", make_image(6, 7, 3, seed=1))
    before = (tmp_path / "a_x3.png").read_bytes()
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "a.png", tmp_path / "a_x3.png", "--overwrite"], capsys)
    assert rc == 2 and f"error: {tmp_path / 'a.png'}: the output {tmp_path / 'a_x3.png'} would overwrite the input " \
        f"{tmp_path / 'a_x3.png'}" in err
    assert (tmp_path / "a_x3.png").read_bytes() == before
    # a hard link of an input as the output of another
    (tmp_path / "h").mkdir()
    write_image(tmp_path / "h" / "b.png", make_image(6, 7, 3, seed=2))
    os.link(tmp_path / "a.png", tmp_path / "h" / "b_x3.png")
    a_bytes = (tmp_path / "a.png").read_bytes()
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "a.png", tmp_path / "h" / "b.png", "--overwrite"], capsys)
    assert rc == 2 and "b_x3.png would overwrite the input" in err and (tmp_path / "a.png").read_bytes() == a_bytes
    # alpha: c.png -> c_x3.jpg becomes c_x3.png, which is another input
    (tmp_path / "j").mkdir()
    write_image(tmp_path / "j" / "c.png", np.dstack([make_image(6, 7, 3, seed=3), np.full((6, 7), 128, np.uint8)]))
    write_image(tmp_path / "j" / "c_x3.png", make_image(6, 7, 3, seed=4))
    keep = (tmp_path / "j" / "c_x3.png").read_bytes()
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "j" / "c.png", tmp_path / "j" / "c_x3.png", "--ext", "jpg",
                      "--overwrite", "--suffix", "x3"], capsys)
    assert rc == 2 and f"the output {tmp_path / 'j' / 'c_x3.png'} would overwrite the input" in err
    assert (tmp_path / "j" / "c_x3.png").read_bytes() == keep


def test_folder_runs_name_every_skipped_file(tmp_path, ckpt, make_image, capsys):
    d = tmp_path / "in"
    d.mkdir()
    write_image(d / "scan.png", make_image(6, 7, 3))
    write_image(d / "scan_2.png", make_image(6, 7, 3, seed=1))
    os.mkfifo(d / "pipe.png")
    (d / "gone.png").symlink_to(tmp_path / "nowhere.png")
    rc, out, err = run(["--checkpoint", ckpt, d, "--suffix", "2", "-o", tmp_path / "out"], capsys)
    assert rc == 0, err
    assert f"skipped {d / 'scan_2.png'}: its name ends with _2, as this run's outputs do" in out
    assert f"skipped {d / 'pipe.png'}: not a regular file" in out
    assert f"skipped {d / 'gone.png'}: a dangling symbolic link" in out
    assert names(tmp_path / "out") == ["scan_2.png"]


@pytest.mark.parametrize("argv", [["--checkpoint", ""], ["--model", ""], ["-o", "", "x.png"], ["--output=", "x.png"],
                                  [""]])
def test_empty_values_are_refused(tmp_path, capsys, argv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv if "x.png" in argv or argv == [""] else [*argv, "x.png"])
    assert e.value.code == 2 and "must not be empty" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_sigterm_leaves_no_temporary_and_stale_ones_are_removed(tmp_path, ckpt, make_image):
    """SIGTERM while the output is being written: exit 143, the 'interrupted' line, no .NAME.tmp-PID left;
    a temporary of a dead process is removed by the next run."""
    write_image(tmp_path / "a.png", make_image(6, 7, 3))
    code = ("import os, signal, sys, time; import srcnn.files as f\n"
            "def slow(path):\n    os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)\n"
            "f._fsync_file = slow\nfrom srcnn.cli.super_resolve import main\n"
            f"sys.exit(main(['--checkpoint', {str(ckpt)!r}, {str(tmp_path / 'a.png')!r}]))")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 143 and p.stderr.strip().splitlines()[-1].startswith("interrupted"), p.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.png", "ckpt"]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from srcnn.files import temporary_name
    temporary_name(tmp_path / "a_x3.png", dead.pid).write_bytes(b"half")
    p = subprocess.run([sys.executable, "super_resolve.py", "--checkpoint", str(ckpt), str(tmp_path / "a.png")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "removed 1 temporary file(s)" in p.stdout, p.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.png", "a_x3.png", "ckpt"]


def test_fully_opaque_alpha_is_dropped(tmp_path, ckpt, make_image, capsys):
    """An alpha channel that is fully opaque (grey+alpha PNG, RGBA PNG) is not written: grey stays grey,
    colour is RGB; a real transparency is kept."""
    import cv2
    grey = make_image(6, 7, 0)
    cv2.imwrite(str(tmp_path / "ga.png"), np.dstack([grey, grey, grey, np.full_like(grey, 255)]))
    write_image(tmp_path / "rgba.png", np.dstack([make_image(6, 7, 3, seed=1), np.full((6, 7), 255, np.uint8)]))
    write_image(tmp_path / "see.png", np.dstack([make_image(6, 7, 3, seed=2), np.full((6, 7), 9, np.uint8)]))
    rc, _, err = run(["--checkpoint", ckpt, tmp_path / "ga.png", tmp_path / "rgba.png", tmp_path / "see.png"], capsys)
    assert rc == 0, err
    assert read_image(tmp_path / "ga_x3.png").shape == (18, 21)
    assert read_image(tmp_path / "rgba_x3.png").shape == (18, 21, 3)
    assert read_image(tmp_path / "see_x3.png").shape == (18, 21, 4)
