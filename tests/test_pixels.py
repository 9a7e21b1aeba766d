"""terralearn.pixels: the no-label constant, the valid-pixel rule and the fill for invalid pixels."""

from __future__ import annotations

import numpy as np

from terralearn import classes, io, pixels
from terralearn.pixels import NO_LABEL, fill_invalid, valid_pixels


def test_no_label_is_255_under_one_name():
    assert NO_LABEL == 255
    assert classes.NO_LABEL == NO_LABEL  # the module's own import of the one constant
    assert not any(hasattr(module, "IGNORE_INDEX") for module in (classes, io))
    assert pixels.CODE_NODATA_16 == 65535


def test_valid_pixels_any_band_nodata_or_nan_is_invalid():
    raw = np.array(
        [[[1.0, -99999.0, 3.0], [np.nan, 5.0, 6.0]], [[1.0, 2.0, 3.0], [4.0, 5.0, -99999.0]]],
        dtype=np.float32,
    )  # (2 bands, 2, 3)
    np.testing.assert_array_equal(
        valid_pixels(raw, -99999.0), [[True, False, True], [False, True, False]]
    )
    np.testing.assert_array_equal(
        valid_pixels(raw, None), [[True, True, True], [False, True, True]]
    )
    bands_last = np.moveaxis(raw, 0, -1)
    np.testing.assert_array_equal(
        valid_pixels(bands_last, -99999.0, axis=-1), valid_pixels(raw, -99999.0)
    )


def test_valid_pixels_integer_raster_compares_in_its_own_type():
    raw = np.array([[[0, 255, 7]]], dtype=np.uint8)
    np.testing.assert_array_equal(valid_pixels(raw, 255.0), [[True, False, True]])
    np.testing.assert_array_equal(valid_pixels(raw, -99999.0), [[True, True, True]])  # out of range
    np.testing.assert_array_equal(valid_pixels(raw, float("nan")), [[True, True, True]])


def test_fill_invalid_sets_each_band_to_its_fill_and_leaves_the_input():
    raw = np.arange(8, dtype=np.int16).reshape(2, 2, 2)
    valid = np.array([[True, False], [False, True]])
    out = fill_invalid(raw, valid, [10.5, -1.0])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[[0, 10.5], [10.5, 3]], [[4, -1], [-1, 7]]])
    np.testing.assert_array_equal(raw, np.arange(8).reshape(2, 2, 2))
