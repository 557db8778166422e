"""evaluate.py: every flag, the table, the JSON shape; the authors' weights on Set5 end to end."""
import hashlib
import os
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srcnn import weightfiles
from srcnn.cli.evaluate import main
from srcnn.images import read_image, write_image
from srhelpers import cli_runner, save_model, save_tiny_checkpoint, write_official_mat

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path, make_image):
    """A datasets root with two tiny sets."""
    r = tmp_path / "data"
    for name, seeds in (("SetA", (1, 2)), ("SetB", (3,))):
        (r / name).mkdir(parents=True)
        for s in seeds:
            write_image(r / name / f"img{s}.png", make_image(36 + s, 40, 3 if s != 2 else 0, seed=s))
    return r


@pytest.fixture
def ckpt(tmp_path):
    return save_tiny_checkpoint(tmp_path / "checkpoint.5", scale=[2, 3])


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A temporary srcnn/weights: srcnn x2 and x3, fsrcnn-s x3, espcn x2, a multi-scale vdsr."""
    d = tmp_path / "weights"
    save_tiny_checkpoint(d / "srcnn_x2.pt", scale=2, seed=1)
    save_tiny_checkpoint(d / "srcnn_x3.pt", scale=3, seed=2)
    save_model(d / "fsrcnn-s_x3.pt", "fsrcnn-s", 3)
    save_model(d / "espcn_x2.pt", "espcn", 2, n1=8, n2=4)
    save_model(d / "vdsr_x2-3-4.pt", "vdsr", [2, 3, 4], depth=3, features=4)
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", d)
    return d


run = cli_runner(main)


def test_json_shape_and_table(root, ckpt, tmp_path, capsys):
    rc, out, err = run(["--set", "SetA", "--checkpoint", ckpt, "--scale", 3, "--data-root", root,
                        "--json", tmp_path / "r.json"], capsys)
    assert rc == 0, err
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["protocol"]["name"] == "srcnn-y" and "shave" in data["protocol"]
    rows = data["rows"]
    assert [(r["set"], r["scale"], r["method"]) for r in rows] == [("SetA", 3, "bicubic"), ("SetA", 3, "srcnn-5-3-3")]
    bic, sr = rows
    assert bic["checkpoint"] is None and bic["sha256"] is None
    assert sr["checkpoint"] == str(ckpt)
    assert sr["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert sr["model"]["f1"] == 5
    for r in rows:
        assert [i["name"] for i in r["images"]] == ["img1", "img2"]
        assert set(r["images"][0]) >= {"name", "psnr", "ssim"} and isinstance(r["psnr"], float)
    # the table: one row per image, the mean, bicubic and model side by side, the gain
    assert "SetA x3" in out and "bicubic PSNR" in out and "model PSNR" in out and "gain dB" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(("img", "mean"))}
    assert set(lines) == {"img1", "img2", "mean"}
    assert f"{bic['psnr']:.2f}" in lines["mean"] and f"{sr['psnr']:.2f}" in lines["mean"]
    assert f"{sr['psnr'] - bic['psnr']:+.2f}" in lines["mean"]
    assert "Y, the paper's protocol" in out


def test_sets_repeated_and_comma_separated_scales_listed(root, ckpt, tmp_path, capsys, make_image):
    folder = tmp_path / "loose"
    folder.mkdir()
    write_image(folder / "x.png", make_image(30, 30, 3))
    rc, out, err = run(["--set", "SetA,SetB", "--set", folder, "--checkpoint", ckpt, "--scale", "2,3",
                        "--data-root", root, "--json", tmp_path / "r.json"], capsys)
    assert rc == 0, err
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert [(r["set"], r["scale"]) for r in rows[::2]] == [
        ("SetA", 2), ("SetB", 2), ("loose", 2), ("SetA", 3), ("SetB", 3), ("loose", 3)]
    rc, _, _ = run(["--set", "SetB", "--checkpoint", ckpt, "--scale", 2, 3, "--data-root", root,
                    "--json", tmp_path / "s.json"], capsys)
    assert rc == 0 and [r["scale"] for r in json.loads((tmp_path / "s.json").read_text())["rows"]] == [2, 2, 3, 3]


def test_default_is_bundled_weights_scale_3_on_set5(root, tmp_path, capsys, monkeypatch, make_image):
    (root / "Set5").mkdir()
    write_image(root / "Set5" / "bird.png", make_image(33, 33, 3))
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", tmp_path / "w")
    save_tiny_checkpoint(tmp_path / "w" / "srcnn_x3.pt", scale=3)
    monkeypatch.setenv("SRCNN_DATA", str(root))
    rc, out, err = run(["--json", tmp_path / "r.json"], capsys)
    assert rc == 0, err
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert rows[1]["checkpoint"].endswith("srcnn_x3.pt") and rows[1]["scale"] == 3 and rows[1]["set"] == "Set5"
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", tmp_path / "none")
    rc, _, err = run(["--set", "Set5"], capsys)
    assert rc == 2 and err.startswith("error: no bundled weights for x3") and err.count("\n") == 1


def test_save_images_and_compare(root, ckpt, tmp_path, capsys):
    rc, out, err = run(["--set", "SetA", "--checkpoint", ckpt, "--scale", 2, "--data-root", root,
                        "--save-images", tmp_path / "sr", "--compare", tmp_path / "cmp"], capsys)
    assert rc == 0, err
    d = tmp_path / "sr" / "SetA" / "x2"
    assert sorted(p.name for p in d.iterdir()) == [
        "img1_bicubic.png", "img1_srcnn-5-3-3.png", "img2_bicubic.png", "img2_srcnn-5-3-3.png"]
    assert read_image(d / "img1_srcnn-5-3-3.png").shape == (36, 40, 3)
    c = tmp_path / "cmp" / "SetA" / "x2"
    assert sorted(p.name for p in c.iterdir()) == ["img1_compare.png", "img2_compare.png"]
    assert read_image(c / "img1_compare.png").shape == (22 + 2 * 36, 3 * 2 * 36 + 8, 3)


def test_rgb_flag(root, ckpt, tmp_path, capsys):
    args = ["--set", "SetB", "--checkpoint", ckpt, "--scale", 3, "--data-root", root]
    run(args + ["--json", tmp_path / "y.json"], capsys)
    rc, out, _ = run(args + ["--rgb", "--json", tmp_path / "rgb.json"], capsys)
    assert rc == 0 and "RGB (not the paper's protocol)" in out
    y, rgb = (json.loads((tmp_path / f).read_text()) for f in ("y.json", "rgb.json"))
    assert rgb["protocol"]["name"] == "srcnn-rgb" and all(r["protocol"] == "srcnn-rgb" for r in rgb["rows"])
    assert rgb["rows"][0]["psnr"] != y["rows"][0]["psnr"]


def test_device_flag(root, ckpt, capsys, monkeypatch, tmp_path):
    rc, _, _ = run(["--set", "SetB", "--checkpoint", ckpt, "--device", "cpu", "--data-root", root,
                    "--json", tmp_path / "r.json"], capsys)
    assert rc == 0 and json.loads((tmp_path / "r.json").read_text())["device"] == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc, _, err = run(["--set", "SetB", "--checkpoint", ckpt, "--device", "cuda", "--data-root", root], capsys)
    assert rc == 2 and "no CUDA GPU" in err


def test_mat_checkpoint_takes_its_scale_from_the_name(root, tmp_path, capsys):
    write_official_mat(tmp_path / "x2.mat")
    rc, out, err = run(["--set", "SetB", "--checkpoint", tmp_path / "x2.mat", "--data-root", root], capsys)
    assert rc == 0, err
    assert "SetB x2" in out and "srcnn-5-3-3 (authors)" in out


def test_model_picks_the_bundled_weights(root, weights, tmp_path, capsys):
    rc, out, err = run(["--set", "SetB", "--model", "espcn", "--scale", 2, "--data-root", root,
                        "--json", tmp_path / "r.json"], capsys)
    assert rc == 0, err
    bic, sr = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert sr["method"] == "espcn" and sr["checkpoint"] == str(weights / "espcn_x2.pt")
    assert sr["model"]["name"] == "espcn" and sr["model"]["scale"] == 2
    assert sr["sha256"] == hashlib.sha256((weights / "espcn_x2.pt").read_bytes()).hexdigest()
    assert "model: espcn" in out
    rc, _, err = run(["--set", "SetB", "--model", "vdsr", "--scale", 4, "--data-root", root], capsys)
    assert rc == 0, err   # the multi-scale file
    rc, _, err = run(["--set", "SetB", "--model", "espcn", "--scale", 3, "--data-root", root], capsys)
    assert rc == 2 and "no bundled espcn weights for x3 (bundled espcn weights: x2)" in err and err.count("\n") == 1
    rc, _, err = run(["--set", "SetB", "--model", "nonesuch", "--data-root", root], capsys)
    assert rc == 2 and "--model nonesuch: unknown model; one of srcnn, fsrcnn" in err
    with pytest.raises(SystemExit) as e:   # one source of weights at a time
        main(["--set", "SetB", "--model", "espcn", "--checkpoint", str(weights / "espcn_x2.pt")])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_model_all(root, weights, tmp_path, capsys, monkeypatch):
    """The README's one command: every bundled model on the sets and scales, one JSON."""
    rc, out, err = run(["--set", "SetA,SetB", "--model", "all", "--scale", "2,3,4", "--data-root", root,
                        "--json", tmp_path / "r.json"], capsys)
    assert rc == 0, err
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    got = {}
    for r in rows:
        got.setdefault((r["set"], r["scale"]), []).append(r["method"])
    assert got == {(s, 2): ["bicubic", "espcn", "srcnn-5-3-3", "vdsr"] for s in ("SetA", "SetB")} | \
        {(s, 3): ["bicubic", "fsrcnn-s", "srcnn-5-3-3", "vdsr"] for s in ("SetA", "SetB")} | \
        {(s, 4): ["bicubic", "vdsr"] for s in ("SetA", "SetB")}
    assert [(r["set"], r["scale"]) for r in rows[:5]] == [("SetA", 2)] * 4 + [("SetB", 2)]
    for r in rows:
        fam = r["method"].split("-")[0]
        assert fam in ("bicubic", "srcnn", "fsrcnn", "espcn", "vdsr")
        assert (r["checkpoint"] is None) == (r["method"] == "bicubic")
        if r["method"] != "bicubic":
            assert r["model"]["name"] == r["method"].replace("-5-3-3", "") and r["sha256"]
    assert "note: no bundled espcn weights for x3; espcn skipped at x3" in out
    assert "note: no bundled srcnn weights for x4" in out and "note: no bundled fsrcnn-s weights for x2" in out
    bic = [r for r in rows if r["method"] == "bicubic" and r["set"] == "SetA"]
    assert len(bic) == 3 and bic[0]["psnr"] != bic[1]["psnr"]
    monkeypatch.setattr(weightfiles, "WEIGHTS_DIR", tmp_path / "no-weights")
    rc, _, err = run(["--set", "SetB", "--model", "all", "--data-root", root], capsys)
    assert rc == 2 and "--model all: there are no bundled weights" in err


def test_self_ensemble_rows_and_table(root, ckpt, tmp_path, capsys):
    rc, out, err = run(["--set", "SetB", "--checkpoint", ckpt, "--scale", 2, "--self-ensemble", "--data-root", root,
                        "--json", tmp_path / "r.json"], capsys)
    assert rc == 0, err
    bic, sr, se = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert (bic["method"], sr["method"], se["method"]) == ("bicubic", "srcnn-5-3-3", "srcnn-5-3-3+se")
    assert se["checkpoint"] == sr["checkpoint"] and se["model"] == sr["model"] and se["psnr"] != sr["psnr"]
    assert "+se PSNR" in out
    mean = next(line for line in out.splitlines() if line.startswith("mean"))
    assert f"{se['psnr']:.2f}" in mean and f"{se['psnr'] - bic['psnr']:+.2f}" in mean
    rc, out, _ = run(["--set", "SetB", "--checkpoint", ckpt, "--scale", 2, "--data-root", root], capsys)
    assert rc == 0 and "+se" not in out


def test_precision_flag(root, ckpt, tmp_path, capsys):
    """--precision fp32 is the default bit for bit; bf16 scores within a small PSNR difference, noted in the
    table title and the JSON; an .onnx model refuses bf16 in one line; a bad value is refused by argparse."""
    from srcnn.cli.train import main as train_cli
    base = ["--set", "SetA", "--checkpoint", ckpt, "--scale", 3, "--data-root", root]
    scores = {}
    for prec in (None, "fp32", "bf16"):
        rc, out, err = run(base + (["--precision", prec] if prec else []) + ["--json", tmp_path / f"{prec}.json"],
                           capsys)
        assert rc == 0, err
        data = json.loads((tmp_path / f"{prec}.json").read_text())
        assert data["precision"] == (prec or "fp32")
        scores[prec] = [(i["psnr"], i["ssim"]) for i in data["rows"][1]["images"]]
        assert ("numeric: bf16-cl" in out) == (prec == "bf16")
    assert scores[None] == scores["fp32"]
    assert all(abs(b[0] - f[0]) < 0.3 for b, f in zip(scores["bf16"], scores["fp32"])), scores
    assert train_cli(["export", str(ckpt), str(tmp_path / "m.onnx")]) == 0
    capsys.readouterr()
    rc, _, err = run(["--set", "SetA", "--checkpoint", tmp_path / "m.onnx", "--scale", 3, "--data-root", root,
                      "--precision", "bf16"], capsys)
    assert rc == 2 and "ONNX model runs in onnxruntime, in float32 only" in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in base] + ["--precision", "half"])
    assert e.value.code == 2 and "invalid choice: 'half'" in capsys.readouterr().err


@pytest.mark.parametrize("args, match", [
    (["--set", "Nope"], "Nope: image folder not found"),
    (["--scale", 4], "trained for scale [2, 3], but scale 4"),
    (["--checkpoint", "missing.pt"], "missing.pt: no such checkpoint file"),
])
def test_errors_are_one_line(root, ckpt, capsys, args, match):
    base = ["--set", "SetA", "--checkpoint", ckpt, "--data-root", root]
    rc, _, err = run(base + args, capsys)
    assert rc == 2 and err.startswith("error: ") and match in err and err.count("\n") == 1, err


def test_bad_paths(root, ckpt, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    base = ["--set", "SetB", "--checkpoint", ckpt, "--data-root", root]
    assert "exists and is not a folder" in run(base + ["--compare", tmp_path / "f"], capsys)[2]
    assert "is a folder" in run(base + ["--json", tmp_path], capsys)[2]
    assert "does not exist" in run(base + ["--json", tmp_path / "no" / "r.json"], capsys)[2]
    with pytest.raises(SystemExit):
        main(["--scale", "1"])
    capsys.readouterr()


def test_help_documents_the_protocol():
    r = subprocess.run([sys.executable, str(REPO / "evaluate.py"), "--help"], capture_output=True, text=True,
                       cwd=REPO)
    assert r.returncode == 0
    for text in ("--set", "--scale", "--checkpoint", "--model NAME", "--self-ensemble", "--json", "--save-images",
                 "--compare", "--rgb", "--device", "--data-root", "modcrop", "rgb2ycbcr", "shaved", "--model all",
                 "--precision {auto,fp32,bf16,ort}", "native"):
        assert text in r.stdout, text


@pytest.mark.slow
@pytest.mark.realdata
def test_authors_x3_on_set5_end_to_end(data_root, tmp_path, capsys):
    mat = data_root / "reference" / "srcnn_official" / "9-5-5_imagenet" / "x3.mat"
    if not mat.is_file():
        pytest.skip(f"REAL-DATA CHECK SKIPPED: {mat} missing")
    rc, out, err = run(["--set", "Set5", "--checkpoint", mat, "--data-root", data_root,
                        "--json", tmp_path / "r.json"], capsys)
    assert rc == 0, err
    bic, sr = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert abs(bic["psnr"] - 30.39) <= 0.01 and abs(sr["psnr"] - 32.75) <= 0.01
    assert [i["name"] for i in sr["images"]] == ["baby", "bird", "butterfly", "head", "woman"]


@pytest.mark.parametrize("where, msg", [("missing_folder", "folder {d}/no does not exist"),
                                        ("under_file", "{d}/f is a file, not a folder"),
                                        ("long_name", "unusable --json name (File name too long)")])
def test_json_output_checked_before_the_work(root, ckpt, tmp_path, capsys, where, msg):
    """issue 13 items 7 and 8, 'check outputs before the work': nothing is evaluated (no table row)."""
    (tmp_path / "f").write_text("x")
    out = {"missing_folder": tmp_path / "no" / "r.json", "under_file": tmp_path / "f" / "r.json",
           "long_name": tmp_path / ("n" * 300 + ".json")}[where]
    rc, stdout, err = run(["--set", "SetB", "--checkpoint", ckpt, "--data-root", root, "--json", out], capsys)
    assert rc == 2 and err == f"error: {out}: {msg.format(d=tmp_path)}\n", err
    assert "mean" not in stdout and "PSNR" not in stdout  # failed before evaluating anything


def test_max_pixels_and_out_of_memory_are_one_line(root, ckpt, capsys, monkeypatch):
    """issue 13 item 10: a valid 30000 x 30000 PNG ended evaluate.py with a numpy MemoryError traceback.
    An HR image over --max-pixels (default 16384 x 16384) is refused with one line saying how to raise the
    limit; one within it that still does not fit in memory is one line naming the file and its size."""
    import numpy as np

    from srcnn import evaluation
    base = ["--set", "SetB", "--checkpoint", ckpt, "--scale", 3, "--data-root", root]
    path = root / "SetB" / "img3.png"  # 40 x 39 = 1560 pixels
    rc, _, err = run(base + ["--max-pixels", 1559], capsys)
    assert rc == 2 and err == (f"error: {path}: 40 x 39 = 0.00156 megapixels, over the limit of 0.001559 "
                               "(raise it with --max-pixels)\n"), err
    assert run(base + ["--max-pixels", 1560], capsys)[0] == 0
    with pytest.raises(SystemExit):
        main([str(a) for a in base] + ["--max-pixels", "0"])
    assert "--max-pixels" in capsys.readouterr().err
    monkeypatch.setattr(evaluation, "evaluate_image", lambda *a, **k: np.empty((1 << 40, 1 << 10)))  # 8 PB
    rc, _, err = run(base, capsys)
    assert rc == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: {path}: 40 x 39 image does not fit in memory (Unable to allocate"), err
    r = subprocess.run([sys.executable, str(REPO / "evaluate.py"), "--help"], capture_output=True, text=True,
                       cwd=REPO)
    assert "--max-pixels N" in r.stdout and "16384 x 16384" in " ".join(r.stdout.split())


@pytest.mark.parametrize("option", ["--save-images", "--compare", "--set"])
def test_names_over_255_bytes_are_one_line(root, ckpt, tmp_path, capsys, option):
    long = tmp_path / ("x" * 300)
    args = ["--set", long] if option == "--set" else ["--set", "SetA", option, long]
    rc, _, err = run([*args, "--checkpoint", ckpt, "--scale", 3, "--data-root", root], capsys)
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "too long" in err


@pytest.mark.parametrize("what", ["json", "images"])
def test_full_disk_is_one_line_and_keeps_the_old_file(root, ckpt, tmp_path, capsys, small_tmpfs, what):
    from conftest import fill_disk
    target = small_tmpfs / "r.json"
    target.write_bytes(b"old")
    args = ["--json", target] if what == "json" else ["--save-images", small_tmpfs / "sr"]
    fill_disk(small_tmpfs)
    rc, _, err = run(["--set", "SetB", "--checkpoint", ckpt, "--scale", 3, "--data-root", root, *args], capsys)
    assert rc == 2 and "No space left on device" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and target.read_bytes() == b"old"
    assert not [p for p in small_tmpfs.rglob("*") if ".tmp-" in p.name]


# ------------------------------------------------------------------ issue 32: hostile files and careless paths
def test_json_never_replaces_an_input(root, ckpt, tmp_path, capsys):
    """--json naming the --checkpoint, an image of a set (or a hard link to one): refused before any work."""
    ck_bytes = ckpt.read_bytes()
    img = root / "SetA" / "img1.png"
    img_bytes = img.read_bytes()
    os.link(img, tmp_path / "link.json")
    for target, what in ((ckpt, "the --checkpoint"), (img, f"an image of the set {root / 'SetA'}"),
                         (tmp_path / "link.json", f"an image of the set {root / 'SetA'} ({img})")):
        rc, out, err = run(["--set", "SetA", "--data-root", root, "--checkpoint", ckpt, "--scale", "2",
                            "--json", target], capsys)
        assert rc == 2 and err.splitlines() == [f"error: {target}: --json would overwrite {what}"], err
        assert "mean" not in out
    assert ckpt.read_bytes() == ck_bytes and img.read_bytes() == img_bytes


@pytest.mark.parametrize("argv", [["--checkpoint", ""], ["--set", ""], ["--set", ","], ["--set", "SetA,"],
                                  ["--json", ""], ["--save-images", ""], ["--compare", ""], ["--data-root", ""],
                                  ["--model", ""]])
def test_empty_values_are_refused(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)  # '' was the current folder
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and ("must not be empty" in err or "none empty" in err), err
    assert os.listdir(tmp_path) == []


def test_json_sigterm_leaves_no_temporary_and_stale_ones_are_removed(root, ckpt, tmp_path):
    out = tmp_path / "r.json"
    code = ("import os, signal, sys, time; import srcnn.files as f\n"
            "def slow(path):\n    os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)\n"
            "f._fsync_file = slow\nfrom srcnn.cli.evaluate import main\n"
            f"sys.exit(main(['--set', 'SetA', '--data-root', {str(root)!r}, '--checkpoint', {str(ckpt)!r}, "
            f"'--scale', '2', '--json', {str(out)!r}]))")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 143 and p.stderr.strip().splitlines()[-1] == "interrupted", p.stderr
    assert not list(tmp_path.glob(".r.json.tmp-*")) and not out.exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from srcnn.files import temporary_name
    temporary_name(out, dead.pid).write_text("half")
    assert main(["--set", "SetA", "--data-root", str(root), "--checkpoint", str(ckpt), "--scale", "2",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["rows"] and not list(tmp_path.glob(".r.json.tmp-*"))
