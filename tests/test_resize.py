import glob
import os

import cv2
import numpy as np
import pytest

from srcnn.resize import contributions, cubic, imresize, modcrop


def test_cubic_kernel_values():
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    np.testing.assert_allclose(cubic(x), [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0])
    np.testing.assert_allclose(cubic(-x), cubic(x))


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 1 / 2, 0.7, 2, 3, 2.5])
def test_contribution_weights_sum_to_one_and_indices_in_range(scale):
    w, idx = contributions(17, int(np.ceil(17 * scale)), scale)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert idx.min() >= 0 and idx.max() < 17


def test_upscale_by_integer_reproduces_matlab_phase():
    # Enlarging by 2: output pixel j sits at input coordinate (j + 0.5) / 2 - 0.5, a known 4-tap stencil.
    w, idx = contributions(10, 20, 2.0)
    np.testing.assert_allclose(w[4], [-0.0234375, 0.2265625, 0.8671875, -0.0703125])
    np.testing.assert_array_equal(idx[4], [0, 1, 2, 3])


def test_constant_image_is_preserved(make_image):
    img = np.full((24, 30), 0.37)
    for s in (1 / 3, 0.5, 2, 3, 1.7):
        np.testing.assert_allclose(imresize(img, s), 0.37, atol=1e-12)


def test_shapes_dtypes_and_rgb(make_image):
    rgb = make_image(30, 45, 3)
    out = imresize(rgb, 1 / 3)
    assert out.shape == (10, 15, 3) and out.dtype == np.uint8
    assert imresize(rgb.astype(np.float64) / 255, 2).shape == (60, 90, 3)
    assert imresize(rgb[:, :, 0], output_shape=(7, 9)).shape == (7, 9)
    # 3-D and per-channel 2-D agree: channels are independent.
    np.testing.assert_array_equal(out[:, :, 1], imresize(rgb[:, :, 1], 1 / 3))


def test_uint8_rounds_after_each_pass(make_image):
    img = make_image(33, 33, 0)
    f = imresize(img.astype(np.float64), 1 / 3)
    u = imresize(img, 1 / 3)
    # Rounding between passes makes the uint8 result differ from rounding the float result once ...
    two_step = np.clip(np.round(imresize(np.clip(np.round(
        imresize(img.astype(np.float64), output_shape=(11, 33))), 0, 255), output_shape=(11, 11))), 0, 255)
    np.testing.assert_array_equal(u, two_step)
    # ... but only by rounding.
    assert np.abs(u - f).max() <= 1.0


def test_down_then_up_is_close_on_smooth_images(make_image):
    y = make_image(48, 48, 0).astype(np.float64) / 255
    back = imresize(imresize(y, 0.5), 2)
    assert np.abs(back - y)[4:-4, 4:-4].mean() < 0.02


def test_modcrop():
    a = np.zeros((17, 22, 3))
    assert modcrop(a, 3).shape == (15, 21, 3)
    assert modcrop(a[:, :, 0], 4).shape == (16, 20)


def test_bad_arguments():
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)))
    with pytest.raises(ValueError):
        imresize(np.zeros((0, 4)), 2)


@pytest.mark.realdata
def test_matches_matlab_reference_outputs(data_root):
    """imresize(modcrop(HR, s), 1/s) against MATLAB's outputs (SOURCES.txt, reference/bicubic_lr)."""
    total = same = 0
    for set_name in ("Set5", "Set14"):
        for s in (2, 3, 4):
            files = sorted(glob.glob(str(data_root / "reference" / "bicubic_lr" / set_name / f"x{s}" / "*.png")))
            assert files, f"no reference files for {set_name} x{s}"
            diffs = []
            for f in files:
                ref = cv2.imread(f, cv2.IMREAD_UNCHANGED)
                hr = cv2.imread(str(data_root / set_name / os.path.basename(f)), cv2.IMREAD_UNCHANGED)
                out = imresize(modcrop(hr, s), 1 / s)
                assert out.shape == ref.shape
                diffs.append(np.abs(out.astype(int) - ref.astype(int)).ravel())
            d = np.concatenate(diffs)
            assert d.mean() <= 0.05, f"{set_name} x{s}: mean abs diff {d.mean():.4f}"
            total += d.size
            same += int((d == 0).sum())
    assert same / total >= 0.98, f"only {same / total:.2%} of pixels identical"


def test_matlab_round_goes_away_from_zero():
    from srcnn.resize import matlab_round
    np.testing.assert_array_equal(matlab_round(np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49])),
                                  [1, 2, 3, -1, -3, 0])
