"""Pictures without a CRS for the pixel-grid tests: cut-outs of the Dubai tiles, integer masks."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import rasterio

from terralearn.io.pairs import read_colour_mask

DUBAI = Path(__file__).resolve().parent / "fixtures" / "dubai"
# class index -> colour of the Dubai masks (see tests/fixtures/dubai/README.md)
DUBAI_COLOURS = {0: "#8429F6", 1: "#E2A929", 2: "#3C1098", 3: "#FEDD3A", 4: "#6EC1E4"}


def decode_colours(rgb: np.ndarray) -> np.ndarray:
    """A ``(3, H, W)`` colour mask as class indices (255 for any other colour)."""
    out = np.full(rgb.shape[1:], 255, np.uint8)
    for index, colour in DUBAI_COLOURS.items():
        value = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        out[(rgb == np.array(value)[:, None, None]).all(axis=0)] = index
    return out


def write_png(path: Path, data: np.ndarray) -> Path:
    """Write ``(C, H, W)`` uint8 as a PNG without georeferencing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(
            path, "w", driver="PNG", height=data.shape[1], width=data.shape[2],
            count=data.shape[0], dtype="uint8",
        ) as ds:  # fmt: skip
            ds.write(data)
    return path


def dubai_copy(dest: Path) -> Path:
    """Copy the cut-outs to ``dest`` (``Tile K/images``, ``Tile K/masks``) and add
    ``Tile K/labels/*.png``: one-band masks of class indices decoded from the colours."""
    shutil.copytree(DUBAI, dest)
    for mask in sorted(dest.glob("Tile */masks/*.png")):
        rgb = read_colour_mask(mask)
        write_png(mask.parent.parent / "labels" / mask.name, decode_colours(rgb)[None])
    return dest
