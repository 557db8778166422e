"""srcnn.degradation (the "real" pipeline) and its two users: prepare_data.py --degradation real (training
data) and evaluate.py --degradation real (scores on degraded inputs)."""
import json

import cv2
import h5py
import numpy as np
import pytest

from srcnn.cli.evaluate import main as evaluate_main
from srcnn.cli.prepare import main as prepare_main
from srcnn.cli.train import main as train_main
from srcnn.color import rgb2y
from srcnn.degradation import KERNELS, RealDegradation, degrade_image, degrade_real, image_seed
from srcnn.errors import SRCNNError
from srcnn.images import write_image
from srcnn.metrics import psnr
from srcnn.prepare import PrepareConfig


def hr_image(make_image, h=48, w=60, seed=0):
    return make_image(h, w, 3, seed=seed)


# ----------------------------------------------------------------------------- the pipeline

def test_same_seed_same_image_other_seed_other_image(make_image):
    hr = hr_image(make_image)
    d = RealDegradation()
    a = degrade_real(hr, 3, d, np.random.default_rng([0, 1]))
    b = degrade_real(hr, 3, d, np.random.default_rng([0, 1]))
    c = degrade_real(hr, 3, d, np.random.default_rng([0, 2]))
    assert a.shape == (16, 20, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_mild_settings_are_close_to_a_plain_resize(make_image):
    """No blur, no noise, JPEG quality 100: the image is the chosen kernel's resize, to JPEG's rounding."""
    hr = hr_image(make_image)
    d = RealDegradation(blur=(0, 0), noise=(0, 0), jpeg=(100, 100), kernels=("area",))
    lr = degrade_real(hr, 2, d, np.random.default_rng(0))
    ref = cv2.resize(hr, (30, 24), interpolation=cv2.INTER_AREA)
    assert psnr(rgb2y(lr).astype(float), rgb2y(ref).astype(float)) > 40


def test_strong_settings_degrade_more(make_image):
    hr = hr_image(make_image, 96, 96)
    mild = RealDegradation(blur=(0.2, 0.2), noise=(0, 0), jpeg=(95, 95), kernels=("matlab",))
    strong = RealDegradation(blur=(2.5, 2.5), noise=(25, 25), jpeg=(30, 30), kernels=("matlab",))
    ref = cv2.resize(hr, (32, 32), interpolation=cv2.INTER_AREA).astype(float)
    err = [np.abs(degrade_real(hr, 3, d, np.random.default_rng(0)).astype(float) - ref).mean() for d in (mild, strong)]
    assert err[1] > 2 * err[0]


def test_every_kernel_is_drawn(make_image):
    hr = hr_image(make_image)
    d = RealDegradation(blur=(0, 0), noise=(0, 0), jpeg=(100, 100))
    outs = {degrade_real(hr[:, :56], 4, d, np.random.default_rng(i)).tobytes() for i in range(40)}
    assert len(outs) == len(KERNELS)  # at x4 no two coincide (x2: OpenCV's linear is its area; x3: its cubic)


def test_grey_stays_grey_and_bad_shapes_are_refused(make_image):
    grey = make_image(30, 33, 0)
    lr = degrade_image(grey[:30, :30], 3, RealDegradation(), np.random.default_rng(0))
    assert lr.shape == (10, 10) and lr.dtype == np.uint8
    with pytest.raises(ValueError, match="multiple of the scale"):
        degrade_real(hr_image(make_image, 31, 30), 3, RealDegradation(), np.random.default_rng(0))


def test_image_seed_depends_on_name_and_scale_only():
    assert image_seed("baby", 3) == image_seed("baby", 3)
    assert image_seed("baby", 3) != image_seed("bird", 3) and image_seed("baby", 3) != image_seed("baby", 2)


@pytest.mark.parametrize("kw, msg", [
    ({"blur": (2.0, 1.0)}, "--blur-range"), ({"blur": (0, 11)}, "--blur-range"),
    ({"noise": (-1, 5)}, "--noise-range"), ({"noise": (0, float("nan"))}, "--noise-range"),
    ({"jpeg": (0, 50)}, "--jpeg-range"), ({"jpeg": (30, 101)}, "--jpeg-range"), ({"jpeg": (30.5, 50)}, "--jpeg-range"),
    ({"kernels": ("lanczos",)}, "--kernels"), ({"kernels": ()}, "--kernels"), ({"kernels": ("area", "area")}, "--kernels"),
])
def test_bad_ranges_are_refused(kw, msg):
    with pytest.raises(SRCNNError, match=msg):
        RealDegradation(**kw).validate()


# ----------------------------------------------------------------------------- prepare_data.py

def folder(tmp_path, make_image, n=3):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(n):
        write_image(d / f"img{i}.png", make_image(54 + 3 * i, 60, 3, seed=i))
    return d


def prepare(tmp_path, src, out, *extra):
    return prepare_main(["--images", str(src), "--out", str(tmp_path / out), "--model", "fsrcnn", "--scale", "3",
                         "--patch-size", "18", "--stride", "9", *map(str, extra)])


def test_prepare_real_is_deterministic_and_recorded(tmp_path, make_image, capsys):
    src = folder(tmp_path, make_image)
    opts = ["--degradation", "real", "--noise-range", "0,10", "--jpeg-range", "50,90", "--val-fraction", "0.34"]
    assert prepare(tmp_path, src, "a.h5", *opts) == 0
    assert prepare(tmp_path, src, "b.h5", *opts, "--workers", "2") == 0
    assert prepare(tmp_path, src, "clean.h5", "--val-fraction", "0.34") == 0
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b, h5py.File(tmp_path / "clean.h5") as c:
        assert np.array_equal(a["train/lr"][()], b["train/lr"][()])
        v = next(iter(a["val"]))
        assert np.array_equal(a["val"][v]["lr_x3"][()], b["val"][v]["lr_x3"][()])
        assert a.attrs["fingerprint"] == b.attrs["fingerprint"] != c.attrs["fingerprint"]
        params = json.loads(a.attrs["degradation_params"])
        assert params == {"name": "real", "blur": [0.2, 2.5], "noise": [0.0, 10.0], "jpeg": [50, 90],
                          "kernels": list(KERNELS)}
        assert "JPEG q50-90" in a.attrs["degradation"] and "degradation_params" not in c.attrs
        # the labels are the clean HR patches; the inputs differ from the paper's degradation
        assert np.array_equal(a["train/hr"][()], c["train/hr"][()])
        assert not np.allclose(a["train/lr"][()], c["train/lr"][()], atol=0.02)
        assert a["train/lr"].shape[1:] == (1, 6, 6)


def test_prepare_real_augment_draws_per_version(tmp_path, make_image):
    """With --augment every one of the 8 orientations draws its own degradation: the patches of two
    orientations of one image are not flips of each other."""
    src = folder(tmp_path, make_image, n=1)
    assert prepare(tmp_path, src, "a.h5", "--degradation", "real", "--augment", "--patch-size", "54",
                   "--stride", "54") == 0
    with h5py.File(tmp_path / "a.h5") as f:
        lr = f["train/lr"][()].astype(np.float32)
    assert len(lr) >= 8
    assert not np.allclose(np.rot90(lr[0, 0], 1), lr[2, 0], atol=0.02)


@pytest.mark.parametrize("args, msg", [
    (["--degradation", "real", "--jpeg-range", "0,50"], "--jpeg-range must be LOW,HIGH whole numbers"),
    (["--degradation", "real", "--blur-range", "3,1"], "--blur-range must be"),
    (["--degradation", "real", "--kernels", "nearest"], "--kernels must be"),
    (["--jpeg-range", "30,90"], "--jpeg-range is an option of --degradation real"),
    (["--degradation", "real", "--blur-sigma", "1"], "--blur-sigma and --noise-sigma belong to the paper's"),
])
def test_prepare_bad_degradation_options(tmp_path, make_image, capsys, args, msg):
    src = folder(tmp_path, make_image, n=1)
    assert prepare(tmp_path, src, "x.h5", *args) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1 and not (tmp_path / "x.h5").exists()


def test_prepare_unparsable_range(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        prepare_main(["--out", str(tmp_path / "x.h5"), "--degradation", "real", "--noise-range", "a,b"])
    assert e.value.code == 2 and "expected LOW,HIGH numbers" in capsys.readouterr().err


def test_config_round_trips_through_its_params():
    cfg = PrepareConfig(degradation=RealDegradation(jpeg=(40, 60)))
    again = PrepareConfig(degradation=cfg.params()["degradation"])
    assert again.degradation == cfg.degradation and again.params() == cfg.params()
    assert "degradation" not in PrepareConfig().params()  # the paper's files keep their fingerprints


def test_tiny_training_on_degraded_data(tmp_path, make_image, light_training, capsys):
    src = folder(tmp_path, make_image)
    assert prepare(tmp_path, src, "real.h5", "--degradation", "real", "--val-fraction", "0.34") == 0
    rc = train_main(["train", "--model", "fsrcnn", "--data", str(tmp_path / "real.h5"), "--out-dir",
                     str(tmp_path / "run"), "--num-epoch", "2", "--batch-size", "8", "--precision", "fp32"])
    assert rc == 0, capsys.readouterr().err
    log = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    psnrs = [r["val_psnr"] for r in log if "val_psnr" in r]
    assert len(psnrs) == 2 and all(np.isfinite(psnrs)) and (tmp_path / "run/checkpoint.best").is_file()


# ----------------------------------------------------------------------------- evaluate.py

def test_evaluate_real_is_seeded_and_recorded(tmp_path, make_image, capsys):
    sets = tmp_path / "data" / "Mine"
    sets.mkdir(parents=True)
    for i in range(2):
        write_image(sets / f"im{i}.png", make_image(45, 48, 3, seed=i))
    base = ["--set", "Mine", "--data-root", str(tmp_path / "data"), "--scale", "3", "--model", "fsrcnn"]
    for name in ("a", "b", "clean"):
        extra = [] if name == "clean" else ["--degradation", "real"]
        assert evaluate_main([*base, *extra, "--json", str(tmp_path / f"{name}.json")]) == 0
    out = capsys.readouterr().out
    assert "Y on degraded inputs (real: blur sigma 0.2-2.5" in out
    a, b, clean = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("a", "b", "clean"))
    assert a["rows"] == b["rows"]
    assert a["rows"][0]["psnr"] < clean["rows"][0]["psnr"] - 0.5  # bicubic on degraded inputs
    assert a["rows"][1]["degradation"]["jpeg"] == [30, 95] and "degradation" not in clean["rows"][1]
    assert a["protocol"]["degradation_params"]["name"] == "real"
    assert evaluate_main([*base, "--degradation", "real", "--rgb"]) == 2
    assert "drop --rgb" in capsys.readouterr().err
