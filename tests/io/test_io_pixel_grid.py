"""Pictures without georeferencing (JPEG/PNG, TIFFs with pixel_grid=True) on their pixel grid."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine

from pixel_grid_helpers import DUBAI, decode_colours, dubai_copy, write_png
from raster_helpers import write_raster
from terralearn.errors import ConfigError, MissingCRSError
from terralearn.io import describe_image, open_image, open_labels
from terralearn.io.pairs import read_colour_mask
from terralearn.io.rasterio_ import open_quietly
from terralearn.io.readers import crs_text, is_pixel_grid

JPEG = DUBAI / "Tile 1" / "images" / "image_part_001.jpg"
MASK = DUBAI / "Tile 1" / "masks" / "image_part_001.png"


def _write_plain_tiff(path, data: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(
            path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2],
            count=data.shape[0], dtype=data.dtype,
        ) as ds:  # fmt: skip
            ds.write(data)
    return path


def test_a_jpeg_opens_on_its_pixel_grid():
    image = open_image(JPEG)
    with open_quietly(str(JPEG)) as ds:
        pixels = ds.read()
    assert image.dims == ("band", "y", "x") and image.shape == (3, 96, 96)
    assert list(image.band.values) == ["red", "green", "blue"]
    assert image.attrs["pixel_grid"] is True and is_pixel_grid(image)
    assert image.rio.crs is None and crs_text(image) == ""
    assert image.rio.transform() == Affine.identity()
    # pixel centres: x = column + 0.5, y = row + 0.5, y grows downwards
    np.testing.assert_array_equal(image.x.values, np.arange(96) + 0.5)
    np.testing.assert_array_equal(image.y.values, np.arange(96) + 0.5)
    np.testing.assert_array_equal(image.values, pixels)
    assert image.dtype == np.uint8 and image.rio.nodata is None
    summary = describe_image(image)
    assert summary["crs"] is None and summary["units"] == "pixel"
    assert summary["resolution"] == (1.0, 1.0) and summary["bounds"] == (0.0, 0.0, 96.0, 96.0)


def test_an_opened_picture_passes_through_open_image_unchanged():
    image = open_image(JPEG)
    again = open_image(image, bands=["blue", "red"])
    np.testing.assert_array_equal(again.values, image.values[[2, 0]])
    np.testing.assert_array_equal(again.y.values, image.y.values)  # not flipped "north-up"
    assert again.attrs["pixel_grid"] is True


def test_a_tiff_without_crs_needs_the_flag(tmp_path):
    data = np.arange(2 * 20 * 30, dtype=np.uint16).reshape(2, 20, 30)
    path = _write_plain_tiff(tmp_path / "plain.tif", data)
    with pytest.raises(
        MissingCRSError, match=r"plain.tif has no CRS; set one .* or pass --pixel-grid"
    ):
        open_image(path)
    image = open_image(path, pixel_grid=True)
    assert is_pixel_grid(image) and image.rio.crs is None
    assert list(image.band.values) == ["B1", "B2"]
    np.testing.assert_array_equal(image.values, data)


def test_a_georeferenced_image_is_not_a_pixel_grid(tmp_path):
    path = write_raster(tmp_path / "geo.tif", np.ones((2, 16, 16), np.float32))
    image = open_image(path, pixel_grid=True)
    assert not is_pixel_grid(image) and "pixel_grid" not in image.attrs
    assert image.rio.crs is not None and crs_text(image) == image.rio.crs.to_string()


def test_read_colour_mask_gives_three_uint8_bands():
    mask = read_colour_mask(MASK)
    assert mask.shape == (3, 96, 96) and mask.dtype == np.uint8
    colours = {"#{:02X}{:02X}{:02X}".format(*c) for c in mask.reshape(3, -1).T}
    assert colours <= {"#8429F6", "#E2A929", "#3C1098", "#FEDD3A", "#6EC1E4", "#9B9B9B", "#000000"}
    assert (decode_colours(mask) != 255).sum() == 96 * 96 - 65  # 65 unlabeled grey pixels


def test_a_paletted_mask_is_read_through_its_colour_table():
    path = DUBAI / "Tile 2" / "masks" / "image_part_004.png"
    with open_quietly(str(path)) as ds:
        indices, palette = ds.read(1), ds.colormap(1)
    mask = read_colour_mask(path)
    assert mask.shape == (3, 96, 96) and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask[:, 5, 7], palette[int(indices[5, 7])][:3])
    assert {"#{:02X}{:02X}{:02X}".format(*c) for c in mask.reshape(3, -1).T} == {
        "#3C1098", "#6EC1E4", "#FEDD3A", "#8429F6",
    }  # fmt: skip


@pytest.mark.parametrize("mask", [MASK, DUBAI / "Tile 2" / "masks" / "image_part_004.png"])
def test_a_colour_mask_without_a_class_table_is_refused(mask):
    with pytest.raises(ConfigError) as err:
        open_labels(mask, like=open_image(JPEG))
    assert str(err.value) == (
        f"colour-coded mask {mask} needs --classes FILE mapping #RRGGBB colours to names"
    )


def test_a_georeferenced_paletted_raster_holds_codes(tmp_path):
    path = write_raster(tmp_path / "codes.tif", np.array([[0, 1], [2, 1]], np.uint8))
    with rasterio.open(path, "r+") as ds:
        ds.write_colormap(1, {0: (255, 0, 0), 1: (0, 255, 0), 2: (0, 0, 255)})
    labels = open_labels(path, like=open_image(path))
    np.testing.assert_array_equal(labels.data.values, [[0, 1], [2, 1]])


def test_an_integer_png_mask_is_read_on_the_pixel_grid(tmp_path):
    root = dubai_copy(tmp_path / "dubai")
    labels = open_labels(root / "Tile 1" / "labels" / "image_part_001.png", like=open_image(JPEG))
    codes = decode_colours(read_colour_mask(MASK))  # codes 0, 1, 3, 4 and 255 (no label)
    contiguous = np.full(256, 255, np.uint8)
    contiguous[[0, 1, 3, 4]] = [0, 1, 2, 3]
    np.testing.assert_array_equal(labels.data.values, contiguous[codes])
    assert labels.classes == {0: "class_0", 1: "class_1", 2: "class_3", 3: "class_4"}
    assert labels.data.rio.crs is None and labels.data.shape == (96, 96)


def test_a_mask_of_another_size_names_both_files(tmp_path):
    small = write_png(tmp_path / "small.png", np.zeros((1, 90, 96), np.uint8))
    with pytest.raises(ConfigError) as err:
        open_labels(small, like=open_image(JPEG))
    assert str(err.value) == (
        f"image '{JPEG}' is 96 x 96 px but its mask '{small}' is 96 x 90 px; "
        "a mask without a CRS must have the size of its image"
    )


def test_georeferenced_labels_for_a_picture_are_refused(tmp_path):
    labels = write_raster(tmp_path / "labels.tif", np.zeros((1, 96, 96), np.uint8))
    with pytest.raises(ConfigError, match="are georeferenced .* has no CRS \\(pixel grid\\)"):
        open_labels(labels, like=open_image(JPEG))
