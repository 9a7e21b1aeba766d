"""Image / label pairs given as files or quoted glob patterns, and colour-coded label masks.

Many segmentation data sets come as folders of pictures and masks without georeferencing, e.g.
``"data/Tile */images/*.jpg"`` with ``"data/Tile */masks/*.png"``. :func:`expand_pairs` expands such
patterns (sorted) and pairs images and masks in that order; :func:`read_colour_mask` reads an RGB
mask (RGB, or paletted) for the decoder of a ``--classes`` table of ``#RRGGBB`` colours.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from terralearn.errors import ConfigError, InputNotFoundError, TerralearnError
from terralearn.io.rasterio_ import RasterMeta, inspect_raster, is_remote, open_quietly


def expand_paths(entries: Sequence[str | os.PathLike], what: str) -> tuple[list[str], bool]:
    """Expand glob patterns among ``entries`` (each pattern sorted); keep other entries as given.

    A path that exists is never treated as a pattern (file names may hold ``[`` or ``*``).

    Returns:
        The paths and whether any entry was a pattern.

    Raises:
        InputNotFoundError: a pattern matches no file (``what`` names the argument).
    """
    paths: list[str] = []
    used_pattern = False
    for entry in entries:
        text = os.fspath(entry)
        if is_remote(text) or Path(text).exists() or not glob.has_magic(text):
            paths.append(text)
            continue
        used_pattern = True
        matches = sorted(glob.glob(text))
        if not matches:
            raise InputNotFoundError(
                f"{what} pattern {text!r} matches no file; check the pattern (quote it so that "
                "the shell does not expand it)"
            )
        paths.extend(matches)
    return paths, used_pattern


def expand_pairs(
    images: Sequence[str | os.PathLike], labels: Sequence[str | os.PathLike] | None
) -> tuple[list[str], list[str] | None]:
    """Expand image and label patterns and pair them in sorted order.

    One label entry that is not a pattern is kept for all images (e.g. one polygon file); otherwise
    there must be as many labels as images. Pairs of rasters without a CRS (pictures and masks on
    their pixel grid) must have the same size, since nothing can align them.

    Args:
        images: image paths or quoted glob patterns.
        labels: label paths or patterns, or None.

    Returns:
        ``(images, labels)``: lists of paths (labels None when not given).

    Raises:
        InputNotFoundError: a pattern matches no file.
        ConfigError: unequal numbers of images and labels; a pixel-grid pair of different sizes.
    """
    image_paths, _ = expand_paths(images, "IMAGES")
    if not labels:
        return image_paths, None
    label_paths, label_pattern = expand_paths(labels, "--labels")
    if len(label_paths) == 1 and not label_pattern:
        return image_paths, label_paths
    if len(label_paths) != len(image_paths):
        raise ConfigError(
            f"{len(image_paths)} images but {len(label_paths)} labels; give one label file per "
            "image (patterns are paired in sorted order) or one labels source for all images"
        )
    for image, label in zip(image_paths, label_paths, strict=True):
        check_pair_size(image, label)
    return image_paths, label_paths


def _header(path: str) -> RasterMeta | None:
    if is_remote(path) or not Path(path).is_file():
        return None
    try:
        return inspect_raster(path, require_crs=False)
    except TerralearnError:  # not a raster (e.g. polygons): open_labels deals with it
        return None


def check_pair_size(image: str, label: str) -> None:
    """Refuse a picture and a mask without CRS whose sizes differ (headers only).

    Raises:
        ConfigError: names both files and their sizes.
    """
    image_meta, label_meta = _header(image), _header(label)
    if image_meta is None or label_meta is None:
        return
    if image_meta.crs is None and label_meta.crs is None and image_meta.shape != label_meta.shape:
        raise ConfigError(
            f"image {image!r} is {_size(image_meta.shape)} px but its mask {label!r} is "
            f"{_size(label_meta.shape)} px; a mask without a CRS must have the size of its image"
        )


def _size(shape: tuple[int, int]) -> str:
    return f"{shape[1]} x {shape[0]}"


def is_colour_mask(meta: RasterMeta) -> bool:
    """True for a colour-coded label raster: 3 (RGB) or 4 (RGBA) bands of uint8, or a paletted
    one-band picture without a CRS (its indices differ from file to file: only colours count).

    Georeferenced paletted rasters (land-cover products, terralearn's own class maps) hold class
    codes and are not colour masks.
    """
    if meta.count not in (1, 3, 4):
        return False
    with open_quietly(meta.path) as ds:
        if not all(dtype == "uint8" for dtype in ds.dtypes):
            return False
    if meta.count == 1:
        return meta.crs is None and meta.colorinterp[:1] == ("palette",)
    return True


def colour_mask_message(path: str | os.PathLike) -> str:
    """The error for a colour-coded mask given without a class table."""
    return (
        f"colour-coded mask {os.fspath(path)} needs --classes FILE mapping #RRGGBB colours to names"
    )


def read_colour_mask(path: str | os.PathLike) -> np.ndarray:
    """A colour-coded mask as ``(3, H, W)`` uint8: red, green, blue.

    An alpha band is dropped; a paletted mask is looked up in its colour table.

    Raises:
        ConfigError: the raster is not a colour mask (see :func:`is_colour_mask`).
    """
    meta = inspect_raster(os.fspath(path), require_crs=False)
    if not is_colour_mask(meta):
        raise ConfigError(
            f"mask {os.fspath(path)} is not colour-coded ({meta.count} band(s)); a colour mask "
            "has 3 (RGB) or 4 (RGBA) bands of 8-bit values, or one band with a colour table"
        )
    with open_quietly(meta.path) as ds:
        if meta.count > 1:
            return ds.read((1, 2, 3))
        lut = np.zeros((256, 3), np.uint8)
        for index, rgba in ds.colormap(1).items():
            lut[index] = rgba[:3]
        return np.moveaxis(lut[ds.read(1)], -1, 0)


__all__ = [
    "check_pair_size",
    "colour_mask_message",
    "expand_pairs",
    "expand_paths",
    "is_colour_mask",
    "read_colour_mask",
]
