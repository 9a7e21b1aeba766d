"""`stack_vrt`: one-band files as the bands of one VRT, with mixed dtypes and nodata values."""

from __future__ import annotations

import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio

from raster_helpers import write_raster
from terralearn.errors import ConfigError
from terralearn.io import open_image, stack_vrt, valid_mask
from terralearn.io.vrt import StackedBand, common_dtype_and_nodata, names_from_files
from terralearn.store.chips import iter_chips, read_unit

H, W = 40, 48


def _bands(tmp_path: Path) -> tuple[list[Path], np.ndarray]:
    """Two float32 bands (nodata -99999) and one int16 band (nodata -32768), nodata in different
    places; returns the files and the expected (3, H, W) float32 stack with nodata -99999."""
    rng = np.random.default_rng(0)
    b2 = rng.uniform(0, 1, (H, W)).astype(np.float32)
    b3 = rng.uniform(0, 1, (H, W)).astype(np.float32)
    b8 = rng.integers(-500, 5000, (H, W)).astype(np.int16)
    b2[0, :5] = -99999
    b3[10, 10] = -99999
    b8[20:22, 30:40] = -32768
    files = [
        write_raster(tmp_path / "S2_T32_B02.tif", b2, nodata=-99999),
        write_raster(tmp_path / "S2_T32_B03.tif", b3, nodata=-99999),
        write_raster(tmp_path / "S2_T32_B08.tif", b8, nodata=-32768),
    ]
    expected = np.stack([b2, b3, b8.astype(np.float32)])
    expected[2][b8 == -32768] = -99999
    return files, expected


def test_vrt_gives_the_chips_and_valid_mask_of_a_prestacked_geotiff(tmp_path):
    files, expected = _bands(tmp_path)
    stacked = write_raster(tmp_path / "stacked.tif", expected, nodata=-99999)
    result = stack_vrt(files, tmp_path / "scene.vrt")
    assert result.names == ["B02", "B03", "B08"]
    assert (result.dtype, result.nodata) == ("float32", -99999.0)

    vrt, tif = open_image(tmp_path / "scene.vrt"), open_image(stacked)
    assert list(vrt["band"].values) == ["B02", "B03", "B08"]
    assert vrt.dtype == np.float32 and vrt.rio.nodata == -99999
    assert vrt.rio.transform() == tif.rio.transform() and vrt.rio.crs == tif.rio.crs
    np.testing.assert_array_equal(vrt.values, expected)
    np.testing.assert_array_equal(valid_mask(vrt).values, valid_mask(tif).values)
    assert int((~valid_mask(vrt).values).sum()) == 5 + 1 + 20
    chips_vrt = list(iter_chips(vrt, 16, stride=8))
    chips_tif = list(iter_chips(tif, 16, stride=8))
    assert len(chips_vrt) == len(chips_tif) == 4 * 5
    for (r1, c1, a), (r2, c2, b) in zip(chips_vrt, chips_tif, strict=True):
        assert (r1, c1) == (r2, c2)
        np.testing.assert_array_equal(a, b)


def test_each_file_nodata_reads_as_the_one_vrt_nodata(tmp_path):
    files, _ = _bands(tmp_path)
    stack_vrt(files, tmp_path / "scene.vrt")
    with rasterio.open(tmp_path / "scene.vrt") as ds, rasterio.open(files[2]) as src:
        assert ds.dtypes == ("float32",) * 3 and ds.nodatavals == (-99999.0,) * 3
        assert ds.descriptions == ("B02", "B03", "B08")
        band, own = ds.read(3), src.read(1)
    assert not (band == -32768).any()
    np.testing.assert_array_equal(band == -99999, own == -32768)
    np.testing.assert_array_equal(band[own != -32768], own[own != -32768])


def test_integer_bands_widen_to_the_type_that_holds_both(tmp_path):
    # uint16 nodata 0 beside int16 nodata -32768: int32; 0 is a valid int16 value, -32768 is no uint16
    u = np.full((H, W), 7, np.uint16)
    u[0, 0] = 0
    s = np.full((H, W), -3, np.int16)
    s[1, 1] = -32768
    files = [write_raster(tmp_path / "a_u.tif", u, nodata=0)]
    files.append(write_raster(tmp_path / "a_s.tif", s, nodata=-32768))
    result = stack_vrt(files, tmp_path / "int.vrt")
    assert (result.dtype, result.nodata) == ("int32", -32768.0)
    with rasterio.open(tmp_path / "int.vrt") as ds:
        data = ds.read()
    assert data.dtype == np.int32
    assert data[0, 0, 0] == -32768 and data[1, 1, 1] == -32768
    assert data[0, 1, 1] == 7 and data[1, 0, 0] == -3


def test_masked_file_reads_its_masked_pixels_as_nodata(tmp_path):
    # an internal mask and no nodata: any uint8 value may be valid, so the VRT is float32 + NaN
    data = np.full((H, W), 5, np.uint8)
    masked = tmp_path / "m_1.tif"
    with rasterio.open(
        masked,
        "w",
        driver="GTiff",
        height=H,
        width=W,
        count=1,
        dtype="uint8",
        crs="EPSG:32633",
        transform=rasterio.transform.from_origin(500000.0, 5000000.0, 10.0, 10.0),
    ) as dst:
        dst.write(data, 1)
        mask = np.full((H, W), 255, np.uint8)
        mask[3, 4] = 0
        dst.write_mask(mask)
    other = write_raster(tmp_path / "m_2.tif", np.full((H, W), 9, np.uint8), nodata=0)
    result = stack_vrt([masked, other], tmp_path / "m.vrt")
    assert result.dtype == "float32" and math.isnan(result.nodata)
    image = open_image(tmp_path / "m.vrt")
    values = image.values
    assert np.isnan(values[0, 3, 4]) and np.isnan(values).sum() == 1
    assert values[0, 0, 0] == 5 and values[1, 3, 4] == 9
    assert int((~valid_mask(image).values).sum()) == 1


@pytest.mark.parametrize(
    ("bands", "expected"),
    [
        ([("float32", -99999), ("int16", -32768)], ("float32", -99999.0)),
        ([("int16", -32768), ("float32", -99999)], ("float32", -99999.0)),  # -32768 fits float32
        ([("float32", -9999), ("int16", -32768)], ("float32", math.nan)),  # -9999 fits int16
        ([("uint16", 0), ("int16", -32768)], ("int32", -32768.0)),
        ([("uint16", 0), ("uint16", None)], ("float32", math.nan)),  # 0 may be a valid pixel
        ([("uint16", 0), ("uint16", 0)], ("uint16", 0.0)),
        ([("uint8", None), ("uint8", None)], ("uint8", None)),
        ([("float32", -99999), ("float32", math.nan)], ("float32", math.nan)),
        ([("int32", -1), ("float32", -1)], ("float64", -1.0)),
    ],
)
def test_common_dtype_and_nodata(bands, expected):
    stacked = [StackedBand(f"b{i}", f"b{i}.tif", d, n, False) for i, (d, n) in enumerate(bands)]
    dtype, nodata = common_dtype_and_nodata(stacked)
    assert dtype == expected[0]
    if expected[1] is not None and math.isnan(expected[1]):
        assert math.isnan(nodata)
    else:
        assert nodata == expected[1]


@pytest.mark.parametrize(
    ("files", "names"),
    [
        (["lsat7_2000_10.tif", "lsat7_2000_20.tif", "lsat7_2000_70.tif"], ["10", "20", "70"]),
        (
            [
                "LC09_L2SP_014035_20230101_02_T1_SR_B2.TIF",
                "LC09_L2SP_014035_20230101_02_T1_SR_B3.TIF",
            ],
            ["B2", "B3"],
        ),
        (["x/LC09_T1_SR_B2.TIF", "x/LC09_T1_QA_PIXEL.TIF"], ["SR_B2", "QA_PIXEL"]),
        (["T32TQM_20230101_B02_10m.jp2", "T32TQM_20230101_B8A_10m.jp2"], ["B02", "B8A"]),
        (["red.tif", "nir.tif"], ["red", "nir"]),
        (["scene.tif", "scene_b2.tif"], ["scene", "scene_b2"]),  # nothing left of one: stems
    ],
)
def test_names_from_files(files, names):
    assert names_from_files(files) == names


def test_same_file_name_twice_asks_for_names():
    with pytest.raises(ConfigError, match="name the bands with --names"):
        names_from_files(["a/B2.tif", "b/B2.tif"])


def test_sources_in_the_vrt_folder_are_relative_and_move_with_it(tmp_path):
    (tmp_path / "product").mkdir()
    files, expected = _bands(tmp_path / "product")
    result = stack_vrt(files, tmp_path / "product" / "scene.vrt")
    assert result.relative
    root = ET.parse(tmp_path / "product" / "scene.vrt").getroot()
    names = root.findall(".//SourceFilename")
    assert [(n.text, n.get("relativeToVRT")) for n in names] == [
        ("S2_T32_B02.tif", "1"),
        ("S2_T32_B03.tif", "1"),
        ("S2_T32_B08.tif", "1"),
    ]
    shutil.move(tmp_path / "product", tmp_path / "moved")
    np.testing.assert_array_equal(open_image(tmp_path / "moved" / "scene.vrt").values, expected)


def test_sources_elsewhere_are_absolute(tmp_path):
    (tmp_path / "bands").mkdir()
    (tmp_path / "out").mkdir()
    files, _ = _bands(tmp_path / "bands")
    result = stack_vrt(files, tmp_path / "out" / "scene.vrt")
    assert not result.relative
    root = ET.parse(tmp_path / "out" / "scene.vrt").getroot()
    sources = [(n.text, n.get("relativeToVRT")) for n in root.findall(".//SourceFilename")]
    assert sources == [(str(f.resolve()), "0") for f in files]


def test_read_unit_of_a_vrt_is_that_of_its_geotiffs(tmp_path):
    kw = {"tiled": True, "blockxsize": 16}
    a = write_raster(tmp_path / "t_a.tif", np.ones((64, 64), np.uint8), blockysize=16, **kw)
    kw32 = {"tiled": True, "blockxsize": 32}
    b = write_raster(tmp_path / "t_b.tif", np.ones((64, 64), np.uint8), blockysize=32, **kw32)
    stack_vrt([a, b], tmp_path / "t.vrt")
    assert read_unit(open_image(tmp_path / "t.vrt", chunks=48)) == 32


def test_real_nc_band_files_match_the_prestacked_scene(nc_real_dir, tmp_path):
    files = [nc_real_dir / f"lsat7_2000_{b}.tif" for b in (10, 20, 30, 40, 50)]
    stack_vrt(files, tmp_path / "nc.vrt")
    vrt = open_image(tmp_path / "nc.vrt")
    tif = open_image(nc_real_dir / "landsat_multiband.tif")
    assert list(vrt["band"].values) == ["10", "20", "30", "40", "50"]
    assert vrt.shape == tif.shape == (5, 443, 489) and vrt.rio.nodata == tif.rio.nodata == -99999
    np.testing.assert_array_equal(vrt.values, tif.values)
    valid = valid_mask(vrt).values
    np.testing.assert_array_equal(valid, valid_mask(tif).values)
    assert int(valid.sum()) == 183418


def test_real_nc_int16_band_reads_as_float32_with_the_float_nodata(nc_real_dir, tmp_path):
    files = sorted(nc_real_dir.glob("lsat7_2000_*.tif"))
    result = stack_vrt(files, tmp_path / "nc6.vrt")
    assert result.names == ["10", "20", "30", "40", "50", "70"]
    assert (result.dtype, result.nodata) == ("float32", -99999.0)
    image = open_image(tmp_path / "nc6.vrt")
    with rasterio.open(nc_real_dir / "lsat7_2000_70.tif") as src:
        own = src.read(1)
    band7 = image.sel(band="70").values
    np.testing.assert_array_equal(band7 == -99999, own == -32768)
    np.testing.assert_array_equal(band7[own != -32768], own[own != -32768])
    # band 7 has more nodata than bands 1-5: the image is valid where every band is
    bands_1_to_5 = valid_mask(open_image(nc_real_dir / "landsat_multiband.tif")).values
    assert int(valid_mask(image).values.sum()) == int((bands_1_to_5 & (own != -32768)).sum())


def test_a_list_of_files_with_different_nodata_points_to_stack(tmp_path):
    files, _ = _bands(tmp_path)
    with pytest.raises(ConfigError, match=r"`terralearn stack FILES --out scene.vrt`"):
        open_image(files)
