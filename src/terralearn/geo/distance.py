"""Distances given by users, with one syntax in every command and config.

``512`` is in the data's own unit: pixels of a raster, CRS units of points. ``512px`` is pixels,
``300m`` metres and ``5km`` kilometres, converted with the raster's resolution or the points'
CRS. Used by ``--block-size`` and ``--buffer`` of ``prepare``, ``graph train``,
``graph compare`` and ``graph segments``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pyproj import CRS

from terralearn.errors import ConfigError

METRES = {"m": 1.0, "km": 1000.0}
PATTERN = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(px|m|km)?\s*")
SYNTAX = "write a number (pixels of a raster, CRS units of points), pixels (512px), metres (300m) or km (5km)"


@dataclass(frozen=True)
class Distance:
    """A parsed distance: ``value`` in ``unit`` (None: the data's own unit), as ``text`` gave it."""

    value: float
    unit: str | None
    text: str

    @classmethod
    def parse(cls, value: int | float | str | Distance, option: str) -> Distance:
        """A distance from ``512``, ``"512"``, ``"512px"``, ``"300m"`` or ``"5km"``.

        Raises:
            ConfigError: not a non-negative number with an optional unit (one line naming
                ``option``).
        """
        if isinstance(value, Distance):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not value >= 0:
                raise ConfigError(f"{option} {value!r} is negative; give a distance of 0 or more")
            return cls(float(value), None, str(value))
        match = PATTERN.fullmatch(str(value))
        if not match:
            raise ConfigError(f"{option} {value!r} is not a distance; {SYNTAX}")
        return cls(float(match.group(1)), match.group(2), str(value).strip())

    def pixels(self, resolution: float) -> float:
        """The distance in pixels of side ``resolution`` (CRS units, metres for ``m``/``km``)."""
        if self.unit in (None, "px"):
            return self.value
        return self.value * METRES[self.unit] / resolution

    def crs_units(self, crs: Any, option: str) -> float:
        """The distance in units of ``crs`` (anything pyproj reads; None: no CRS).

        Raises:
            ConfigError: pixels (points have none), or metres for points without a projected CRS.
        """
        if self.unit is None:
            return self.value
        if self.unit == "px":
            raise ConfigError(
                f"{option} {self.text!r}: points have no pixels; give CRS units (e.g. 5000) "
                "or metres (5000m, 5km)"
            )
        crs = CRS.from_user_input(crs) if crs is not None else None
        if crs is None or not crs.is_projected:
            what = "have no CRS" if crs is None else f"are in {crs.name} (degrees)"
            raise ConfigError(
                f"{option} {self.text!r} is in metres, but the points {what}; give the "
                "distance in CRS units (a bare number) or give the points a projected CRS (--crs)"
            )
        return self.value * METRES[self.unit] / crs.axis_info[0].unit_conversion_factor

    def __str__(self) -> str:
        return self.text
