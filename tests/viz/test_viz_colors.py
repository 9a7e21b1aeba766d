import numpy as np
import pytest

from terralearn.errors import ConfigError
from terralearn.viz.colors import (
    DEFAULT_CLASS_COLORS,
    class_colormap,
    rgb_band_indices,
    rgb_composite,
)


def test_default_colors_distinct_rgb_ints():
    assert len(DEFAULT_CLASS_COLORS) >= 20
    assert len(set(DEFAULT_CLASS_COLORS[:20])) == 20
    assert DEFAULT_CLASS_COLORS[0] == (31, 119, 180)  # tab:blue
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in DEFAULT_CLASS_COLORS)


def test_class_colormap_maps_ids_to_given_colours_exactly():
    classes = {0: "water", 2: "crop", 7: "urban"}
    colors = {0: (0, 0, 255), 2: (10, 200, 30), 7: (255, 0, 0)}
    cmap, norm, handles = class_colormap(classes, colors)
    for cid, rgb in colors.items():
        got = cmap(norm(np.array([cid])))[0][:3]
        np.testing.assert_allclose(got, np.array(rgb) / 255)
    assert [h.get_label() for h in handles] == ["water", "crop", "urban"]
    np.testing.assert_allclose(handles[1].get_facecolor()[:3], np.array((10, 200, 30)) / 255)


def test_class_colormap_defaults_follow_the_id_not_the_position():
    cmap, norm, _ = class_colormap({1: "a", 4: "b"}, colors={1: (1, 2, 3)})
    np.testing.assert_allclose(cmap(norm(np.array([1])))[0][:3], np.array((1, 2, 3)) / 255)
    np.testing.assert_allclose(
        cmap(norm(np.array([4])))[0][:3], np.array(DEFAULT_CLASS_COLORS[4]) / 255
    )


def test_class_colormap_rejects_bad_colour():
    with pytest.raises(ConfigError, match="class colour for id 0 is"):
        class_colormap({0: "a"}, {0: (300, 0, 0)})


@pytest.mark.parametrize(
    ("bands", "expected"),
    [
        (["B2", "B3", "B4"], [2, 1, 0]),
        (["B8", "B4", "B3", "B2"], [1, 2, 3]),
        (["b02", "b03", "b04", "b08"], [2, 1, 0]),
        (["Blue", "GREEN", "red", "nir"], [2, 1, 0]),
        (["nir", "swir1", "swir2", "x"], [0, 1, 2]),
        (["dem"], [0]),
        (["vv", "vh"], [0]),
    ],
)
def test_rgb_band_indices(bands, expected):
    assert rgb_band_indices(bands) == expected


def test_rgb_composite_picks_bands_by_name_with_exact_values():
    image = np.stack([np.full((2, 2), v, np.float32) for v in (10, 20, 30)])  # B2, B3, B4
    image[0, 0, 0] = 15
    out = rgb_composite(image, ["B2", "B3", "B4"], low=[10, 0, 20], high=[20, 40, 40])
    assert out.shape == (2, 2, 3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[1, 1], [(30 - 20) / 20, 20 / 40, 0.0])  # R=B4, G=B3, B=B2
    np.testing.assert_allclose(out[0, 0], [0.5, 0.5, 0.5])


def test_rgb_composite_accepts_limits_per_displayed_channel():
    image = np.arange(4 * 1 * 2, dtype=np.float32).reshape(4, 1, 2)
    out = rgb_composite(image, ["B8", "B4", "B3", "B2"], low=[0, 0, 0], high=[10, 10, 10])
    np.testing.assert_allclose(out[0, 1], [0.3, 0.5, 0.7])
    with pytest.raises(ConfigError, match="low has 2 values; give one per image band"):
        rgb_composite(image, ["B8", "B4", "B3", "B2"], low=[0, 0], high=[1, 1])


def test_rgb_composite_stretch_clips_to_unit_range():
    rng = np.random.default_rng(1)
    image = rng.normal(0, 1000, (3, 50, 50))
    out = rgb_composite(image, ["red", "green", "blue"])
    assert out.min() == 0.0 and out.max() == 1.0
    # own 2-98 percentile stretch: about 2% of pixels clip at each end
    assert 0.01 < (out[..., 0] == 0).mean() < 0.03
    out = rgb_composite(image, ["red", "green", "blue"], low=[0, 0, 0], high=[1, 1, 1])
    assert out.min() >= 0 and out.max() <= 1


def test_rgb_composite_invalid_pixels_white_and_excluded_from_stretch():
    image = np.stack([np.array([[0.0, 1.0], [2.0, 1000.0]])] * 3)
    valid = np.array([[True, True], [True, False]])
    image[0, 0, 1] = np.nan
    out = rgb_composite(image, ["a", "b", "c"], valid=valid)
    np.testing.assert_array_equal(out[1, 1], [1, 1, 1])  # invalid: white
    np.testing.assert_array_equal(out[0, 1], [1, 1, 1])  # NaN: white
    # band b's own limits come from the valid values 0, 1, 2 only (not 1000)
    np.testing.assert_allclose(out[1, 0, 1], 1.0)
    np.testing.assert_allclose(out[0, 0, 1], 0.0)


def test_rgb_composite_single_band_is_grey():
    out = rgb_composite(np.array([[[0.0, 5.0, 10.0]]]), ["dem"], low=[0], high=[10])
    np.testing.assert_allclose(out[0], [[0, 0, 0], [0.5, 0.5, 0.5], [1, 1, 1]])


def test_rgb_composite_band_name_count_mismatch():
    with pytest.raises(ConfigError, match="2 band names for an image with 3 bands"):
        rgb_composite(np.zeros((3, 2, 2)), ["B2", "B3"])


def test_common_land_cover_names_get_their_expected_colours():
    from terralearn.viz.colors import class_colormap

    cmap, norm, handles = class_colormap({0: "water", 1: "Forest", 2: "mystery"})
    assert [round(c * 255) for c in cmap(norm(0))[:3]] == [30, 90, 200]
    assert [round(c * 255) for c in cmap(norm(1))[:3]] == [20, 100, 40]
    assert [h.get_label() for h in handles] == ["water", "Forest", "mystery"]
