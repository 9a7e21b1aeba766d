"""One distance syntax: 512 (the data's unit), 512px, 300m, 5km."""

from __future__ import annotations

import pytest

from terralearn.errors import ConfigError
from terralearn.geo.distance import Distance


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [("512", 512.0, None), (" 2.5 km ", 2.5, "km"), ("300m", 300.0, "m"), ("64px", 64.0, "px"),
     (96, 96.0, None), (0.5, 0.5, None)],
)  # fmt: skip
def test_parse(text, value, unit):
    distance = Distance.parse(text, "--block-size")
    assert (distance.value, distance.unit) == (value, unit)


@pytest.mark.parametrize("text", ["5 miles", "-3", "km", "", "1e3"])
def test_parse_rejects_garbage_with_one_line(text):
    with pytest.raises(ConfigError, match=r"^--buffer .* is not a distance; write a number"):
        Distance.parse(text, "--buffer")


def test_negative_number_is_refused():
    with pytest.raises(ConfigError, match=r"^--buffer -2 is negative"):
        Distance.parse(-2, "--buffer")


def test_pixels_of_a_raster():
    assert Distance.parse("5km", "o").pixels(10.0) == 500.0
    assert Distance.parse("300m", "o").pixels(30.0) == 10.0
    assert Distance.parse("512", "o").pixels(30.0) == 512.0
    assert Distance.parse("64px", "o").pixels(30.0) == 64.0


def test_crs_units_of_points():
    assert Distance.parse("5000", "o").crs_units("EPSG:4326", "o") == 5000.0  # as given
    assert Distance.parse("2km", "o").crs_units("EPSG:32633", "o") == 2000.0
    # NC State Plane in US survey feet: 1 km = 3280.83 ft
    assert Distance.parse("1km", "o").crs_units("EPSG:2264", "o") == pytest.approx(
        3280.8333, abs=1e-3
    )


@pytest.mark.parametrize(
    ("text", "crs", "message"),
    [("64px", "EPSG:32633", "--block-size '64px': points have no pixels"),
     ("5km", "EPSG:4326", "--block-size '5km' is in metres, but the points are in WGS 84 (degrees)"),
     ("5km", None, "--block-size '5km' is in metres, but the points have no CRS")],
)  # fmt: skip
def test_crs_units_refuse_what_points_cannot_mean(text, crs, message):
    with pytest.raises(ConfigError, match=r"^" + message.replace("(", r"\(").replace(")", r"\)")):
        Distance.parse(text, "--block-size").crs_units(crs, "--block-size")
