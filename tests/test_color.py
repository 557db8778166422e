import numpy as np
import pytest

from srcnn.color import CHANNEL_NAMES, channel_count, channel_name, from_planes, rgb2y, rgb2ycbcr, to_planes, ycbcr2rgb
from srcnn.errors import SRCNNError


def test_known_values_uint8():
    px = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    ycc = rgb2ycbcr(px)
    # MATLAB: rgb2ycbcr(uint8([255 0 0])) = [81 90 240], green [145 54 34], blue [41 240 110]
    np.testing.assert_array_equal(ycc[0], [[16, 128, 128], [235, 128, 128], [81, 90, 240],
                                          [145, 54, 34], [41, 240, 110]])
    assert ycc.dtype == np.uint8


def test_float_matches_uint8_scaled(make_image):
    img = make_image(20, 20, 3)
    f = rgb2ycbcr(img.astype(np.float64) / 255)
    assert f.dtype == np.float64
    np.testing.assert_allclose(f * 255, rgb2ycbcr(img).astype(np.float64), atol=0.5 + 1e-9)
    assert 16 / 255 - 1e-12 <= f[..., 0].min() and f[..., 0].max() <= 235 / 255 + 1e-12


def test_round_trip(make_image):
    img = make_image(16, 24, 3)
    back = ycbcr2rgb(rgb2ycbcr(img))
    assert back.dtype == np.uint8
    assert np.abs(back.astype(int) - img.astype(int)).max() <= 2
    f = img.astype(np.float64) / 255
    np.testing.assert_allclose(ycbcr2rgb(rgb2ycbcr(f)), f, atol=1e-12)


def test_grayscale_handling(make_image):
    g = make_image(10, 12, 0)
    # A 2-D or single-channel image is its own luminance (the SRCNN authors' code).
    np.testing.assert_array_equal(rgb2y(g), g)
    np.testing.assert_array_equal(rgb2y(g[:, :, None]), g)
    # A 3-channel grey image goes through rgb2ycbcr: v -> 16 + 219 v / 255.
    g3 = np.repeat(g[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(rgb2y(g3), np.round(16 + 219 * g.astype(float) / 255).astype(np.uint8))


def test_rgba_uses_rgb_only(make_image):
    img = make_image(8, 8, 3)
    rgba = np.concatenate([img, np.full((8, 8, 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(rgb2y(rgba), rgb2y(img))


def test_bad_shape():
    with pytest.raises(ValueError):
        rgb2ycbcr(np.zeros((4, 4)))
    with pytest.raises(ValueError):
        ycbcr2rgb(np.zeros((4, 4, 2)))


@pytest.mark.parametrize("channels", [1, 3])
def test_planes_round_trip(make_image, channels):
    """to_planes puts the network's planes first (Y or RGB; grey is its own Y, repeated for RGB), then
    the pass-through ones (Cb, Cr, alpha); from_planes of an unchanged output gives the image back."""
    rgba = np.concatenate([make_image(9, 11, 3), make_image(9, 11, 0, seed=1)[:, :, None]], axis=2) / 255.0
    for img in (rgba, rgba[:, :, :3], rgba[:, :, 0]):
        planes = to_planes(img, channels)
        gray = img.ndim == 2
        assert planes.shape[2] == (channels if gray else channels + (2 if channels == 1 else 0)
                                   + img.shape[2] - 3)
        if channels == 1 and not gray:
            assert np.array_equal(planes[:, :, 0], rgb2y(img[:, :, :3]))
        out, alpha = from_planes(planes[:, :, :channels], planes[:, :, channels:], gray)
        np.testing.assert_allclose(out, img if gray else img[:, :, :3], atol=1e-12)
        if img.ndim == 3 and img.shape[2] == 4:
            assert np.array_equal(alpha, img[:, :, 3])
        else:
            assert alpha is None
    with pytest.raises(SRCNNError, match="2 channels are not supported"):
        to_planes(rgba, 2)


def test_channel_names_and_counts():
    """The one conversion between the files' and command lines' "y"/"rgb" and the models' 1/3."""
    assert CHANNEL_NAMES == ("y", "rgb")
    assert [channel_count(n) for n in CHANNEL_NAMES] == [1, 3]
    assert [channel_name(c) for c in (1, 3)] == ["y", "rgb"]
    with pytest.raises(ValueError, match="got 'ycbcr'"):
        channel_count("ycbcr")
    with pytest.raises(ValueError, match="got 4"):
        channel_name(4)
