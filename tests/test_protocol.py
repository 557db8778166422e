import numpy as np
import pytest

from srcnn.images import list_images, read_image
from srcnn.protocol import degrade, gaussian_blur, hr_y, quantize, score
from srcnn.resize import imresize

# The published bicubic baselines (SRCNN, TPAMI 2015, Table 2 and 3): PSNR on Y, border shaved.
PUBLISHED_BICUBIC = {("Set5", 2): 33.66, ("Set5", 3): 30.39, ("Set5", 4): 28.42,
                     ("Set14", 2): 30.23, ("Set14", 3): 27.54, ("Set14", 4): 26.00}


def test_hr_y_modcrops_and_scales(make_image):
    img = make_image(31, 26, 3)
    y = hr_y(img, 3)
    assert y.shape == (30, 24) and y.dtype == np.float64
    assert 16 / 255 <= y.min() and y.max() <= 235 / 255
    with pytest.raises(ValueError):
        hr_y(img.astype(np.float32), 3)


def test_degrade_shape_and_error(make_image):
    y = hr_y(make_image(30, 24, 3), 3)
    assert degrade(y, 3)[1].shape == y.shape
    with pytest.raises(ValueError):
        degrade(y[:29], 3)


def test_degrade_gives_both_halves(make_image):
    y = hr_y(make_image(30, 24, 3), 3)
    lr, bic = degrade(y, 3)
    assert lr.shape == (10, 8) and np.array_equal(lr, imresize(y, 1 / 3))
    assert bic.shape == y.shape and np.array_equal(bic, imresize(lr, output_shape=y.shape))
    with pytest.raises(ValueError, match="multiple of the scale"):
        degrade(y[:, :23], 3)


def test_blur_and_noise(make_image):
    hr = make_image(30, 30, 0, seed=3)[:, :, None] / 255.0
    blurred = gaussian_blur(hr, 1.5)
    assert abs(blurred.sum() - hr.sum()) / hr.sum() < 0.01 and blurred.std() < hr.std()
    np.testing.assert_array_equal(gaussian_blur(hr, 0), hr)
    clean = degrade(hr, 3)[1]
    assert not np.allclose(degrade(hr, 3, blur_sigma=1.2)[1], clean)
    n1 = degrade(hr, 3, noise_sigma=10, rng=np.random.default_rng(0))[1]
    n2 = degrade(hr, 3, noise_sigma=10, rng=np.random.default_rng(0))[1]
    np.testing.assert_array_equal(n1, n2)
    # noise of 10 grey levels on the 10x10 LR image, bicubic-upscaled: a few grey levels per pixel
    assert 2 < (n1 - clean).std() * 255 < 10


def test_quantize_rounds_half_away_and_saturates():
    np.testing.assert_array_equal(quantize(np.array([0.5 / 255, 1.5 / 255, -0.1, 1.2])), [1, 2, 0, 255])


def test_score_perfect_and_shaved(make_image):
    y = hr_y(make_image(30, 30, 3), 3)
    p, s = score(y, y, 3)
    assert p == float("inf") and s == pytest.approx(1.0)
    z = y.copy()
    z[:3] = 0  # damage only the shaved border
    assert score(z, y, 3)[0] == float("inf")


@pytest.mark.realdata
@pytest.mark.parametrize("set_name", ["Set5", "Set14"])
def test_bicubic_baseline_equals_published_table(data_root, set_name):
    files = list_images(data_root / set_name)
    for scale in (2, 3, 4):
        psnrs = []
        for f in files:
            gt = hr_y(read_image(f), scale)
            psnrs.append(score(degrade(gt, scale)[1], gt, scale)[0])
        assert np.mean(psnrs) == pytest.approx(PUBLISHED_BICUBIC[set_name, scale], abs=0.01), (set_name, scale)
