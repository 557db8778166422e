import numpy as np
import pytest

from srcnn.metrics import psnr, ssim


def test_psnr_known_value():
    a = np.zeros((10, 10))
    b = np.full((10, 10), 1.0)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2))
    assert psnr(a, a) == float("inf")


def test_psnr_shave_ignores_border():
    a = np.zeros((10, 10))
    b = a.copy()
    b[0, :] = 255
    assert psnr(a, b, shave=1) == float("inf")
    assert psnr(a, b) < 20


def test_ssim_matches_scikit_image(make_image):
    skm = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    a = make_image(64, 80, 0).astype(np.float64)
    for noise in (2.0, 10.0, 40.0):
        b = np.clip(a + rng.normal(0, noise, a.shape), 0, 255)
        ref = skm.structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                        data_range=255)
        assert ssim(a, b) == pytest.approx(ref, abs=1e-4)
        ref_shaved = skm.structural_similarity(a[3:-3, 3:-3], b[3:-3, 3:-3], gaussian_weights=True, sigma=1.5,
                                               use_sample_covariance=False, data_range=255)
        assert ssim(a, b, shave=3) == pytest.approx(ref_shaved, abs=1e-4)


def test_ssim_identity_and_order(make_image):
    a = make_image(32, 32, 0).astype(np.float64)
    assert ssim(a, a) == pytest.approx(1.0)
    b1 = a + 5 * np.sin(np.arange(32))[None, :]
    b2 = a + 20 * np.sin(np.arange(32))[None, :]
    assert ssim(a, b1) > ssim(a, b2)


def test_errors():
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4)), np.zeros((4, 4)), shave=2)
    with pytest.raises(ValueError):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))
