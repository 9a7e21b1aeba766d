"""RowBandReader: windows in overlapping tile rows, each row of the file read from GDAL once."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from raster_helpers import write_raster
from terralearn.io import open_image, rasterio_
from terralearn.io.rasterio_ import RowBandReader
from terralearn.predict import engine
from terralearn.predict.windows import TileLayout


def _scene(tmp_path, **creation):
    rng = np.random.default_rng(0)
    array = rng.integers(1, 4000, (4, 300, 340), dtype=np.uint16)
    array[:, :20, :30] = 0  # a nodata corner
    path = write_raster(
        tmp_path / "scene.tif", array, nodata=0, descriptions=["blue", "green", "red", "nir"],
        **creation,
    )  # fmt: skip
    return path, array


def _recording(reader):
    """Wrap the open dataset's ``read`` to record each window GDAL is asked for."""
    calls = []
    read = reader._dataset.read

    def recorded(*args, window, **kwargs):
        calls.append(window)
        return read(*args, window=window, **kwargs)

    reader._dataset.read = recorded
    return calls


def test_tile_rows_read_each_file_row_once_and_give_the_pixels_xarray_gives(tmp_path):
    path, array = _scene(tmp_path, tiled=True, blockxsize=64, blockysize=64)
    image = open_image(path, chunks=None).sel(band=["nir", "blue"])  # a subset, reordered
    reader = RowBandReader.of(image)
    assert reader.indexes == [4, 1] and reader.block_height == 64
    layout = TileLayout(300, 340, 96, 32, "crop")  # tile rows start 16 px above a core
    starts, ends = layout.row_starts, layout.row_ends
    with reader:
        calls = _recording(reader)
        for r, (y0, y1) in enumerate(zip(starts, ends, strict=True)):
            next_y0 = starts[r + 1] if r + 1 < len(starts) else None
            got = reader.read(y0, y1, 30, 200, next_y0)
            np.testing.assert_array_equal(got, array[[3, 0], y0:y1, 30:200])
    rows = [(int(w.row_off), int(w.row_off + w.height)) for w in calls]
    # one pass down the file: every read starts where the last one ended, on a block row
    # (tile rows overlap by 32 px; those rows were kept, not read again)
    assert rows[0][0] == 0 and rows[-1][1] == 300
    assert all(a[1] == b[0] for a, b in zip(rows, rows[1:], strict=False))
    assert all(end % 64 == 0 for _, end in rows[:-1])
    assert {(int(w.col_off), int(w.width)) for w in calls} == {(30, 170)}


def test_predicting_blocks_read_through_the_reader_equal_blocks_read_through_xarray(tmp_path):
    path, _ = _scene(tmp_path, tiled=True, blockxsize=64, blockysize=64)
    image = open_image(path, chunks=None)
    layout = TileLayout(300, 340, 128, 32, "crop")

    def blocks(img):
        return [
            (b.row, b.c0, b.valid, [(c, x0, t.copy()) for c, x0, t, _ in b.tiles])
            for rows, cols in engine.shape_groups(layout)
            for b in engine.read_blocks(img, layout, 2, rows, cols)
        ]

    direct, through_xarray = blocks(image), blocks(image.load())  # in memory: no reader
    assert RowBandReader.of(image.load()) is None and len(direct) == len(through_xarray) == 12
    for (r, c0, valid, tiles), (r2, c02, valid2, tiles2) in zip(
        direct, through_xarray, strict=True
    ):
        assert (r, c0) == (r2, c02)
        np.testing.assert_array_equal(valid, valid2)
        assert [t[:2] for t in tiles] == [t[:2] for t in tiles2]
        for (_, _, a), (_, _, b) in zip(tiles, tiles2, strict=True):
            np.testing.assert_array_equal(a, b)
    assert not direct[0][2][:20, :30].any()  # the nodata corner is invalid either way


def test_a_file_of_blocks_taller_than_the_limit_is_read_as_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(rasterio_, "MAX_CARRIED_BLOCK", 256)  # one strip of 300 rows is taller
    path, array = _scene(tmp_path)
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read()
    one_strip = tmp_path / "strip.tif"
    with rasterio.open(
        one_strip, "w", **{**profile, "blockysize": 300, "compress": "deflate"}
    ) as dst:
        dst.write(data)
    reader = RowBandReader.of(open_image(one_strip, chunks=None))
    assert reader.block_height == 300
    with reader:
        calls = _recording(reader)
        got = reader.read(0, 96, 0, 340, next_y0=64)
    np.testing.assert_array_equal(got, array[:, :96])
    assert [(int(w.row_off), int(w.height)) for w in calls] == [(0, 96)]  # not the whole file
    monkeypatch.undo()  # within the limit, the strip is read whole and kept for the next rows
    with RowBandReader.of(open_image(one_strip, chunks=None)) as reader:
        calls = _recording(reader)
        reader.read(0, 96, 0, 340, next_y0=64)
        np.testing.assert_array_equal(reader.read(64, 160, 0, 340, next_y0=None), array[:, 64:160])
    assert [(int(w.row_off), int(w.height)) for w in calls] == [(0, 300)]


@pytest.mark.parametrize("case", ["dask", "cropped", "computed", "masked", "stack"])
def test_no_reader_unless_the_image_is_its_file_as_it_is(tmp_path, case):
    path, array = _scene(tmp_path)
    if case == "dask":
        image = open_image(path)  # chunked
    elif case == "cropped":
        image = open_image(path, chunks=None).isel(x=slice(1, None))
    elif case == "computed":
        image = open_image(path, chunks=None) * 2
    elif case == "masked":  # an internal mask band and no nodata: masked pixels read as NaN
        masked = tmp_path / "masked.tif"
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            with rasterio.open(path) as src:
                profile = {**src.profile, "nodata": None}
            with rasterio.open(masked, "w", **profile) as dst:
                dst.write(array)
                dst.write_mask(np.full(array.shape[1:], 255, np.uint8))
        image = open_image(masked, chunks=None)
    else:
        image = open_image(
            [path, write_raster(tmp_path / "b.tif", array[0], nodata=0)], chunks=None
        )
    assert RowBandReader.of(image) is None
