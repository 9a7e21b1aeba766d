"""open_image: every source gives the same canonical DataArray; errors; valid_mask; describe_image."""

from __future__ import annotations

from pathlib import Path

import dask.array
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from io_helpers import BANDS, CRS, NODATA, TRANSFORM, H, W, scene, write_tif

from terralearn.errors import (
    BandNotFoundError,
    ConfigError,
    InputNotFoundError,
    MissingCRSError,
    NotARasterError,
)
from terralearn.io import describe_image, open_image, valid_mask

# pixel-centre coordinates of the scene grid
XS = 500000.0 + 10.0 * (np.arange(W) + 0.5)
YS = 4000000.0 - 10.0 * (np.arange(H) + 0.5)


def _bands_dataset(time: bool = False, xee: bool = False) -> xr.Dataset:
    """One variable per band, like a Zarr/NetCDF written by rioxarray, or an xee result."""
    data = scene()
    if xee:  # xee: (time, X, Y), x before y; here y also ascending (south-up order)
        coords = {"time": [np.datetime64("2024-01-01")], "X": XS, "Y": YS[::-1]}
        ds = xr.Dataset(
            {b: (("time", "X", "Y"), data[i].T[None, :, ::-1]) for i, b in enumerate(BANDS)},
            coords=coords,
            attrs={"crs": CRS},
        )
        return ds
    ds = xr.Dataset(
        {b: (("y", "x"), data[i]) for i, b in enumerate(BANDS)}, coords={"y": YS, "x": XS}
    )
    for b in BANDS:
        ds[b] = ds[b].rio.write_nodata(NODATA, encoded=False)
    return ds.rio.write_crs(CRS)


def _source(kind: str, tmp_path: Path, tif: Path):
    match kind:
        case "geotiff":
            return tif
        case "stack":
            data = scene()
            return [write_tif(tmp_path / f"{b}.tif", data[i : i + 1]) for i, b in enumerate(BANDS)]
        case "zarr":
            _bands_dataset().to_zarr(tmp_path / "scene.zarr", mode="w", consolidated=False)
            return tmp_path / "scene.zarr"
        case "netcdf4":
            _bands_dataset().to_netcdf(tmp_path / "scene.nc", engine="h5netcdf")
            return tmp_path / "scene.nc"
        case "netcdf3":
            _bands_dataset().to_netcdf(tmp_path / "scene3.nc", engine="scipy")
            return tmp_path / "scene3.nc"
        case "dataarray":
            da = xr.DataArray(
                scene(), dims=("band", "y", "x"), coords={"band": BANDS, "y": YS, "x": XS}
            )
            return da.rio.write_crs(CRS).rio.write_nodata(NODATA)
        case "xee":
            return _bands_dataset(xee=True)
    raise AssertionError(kind)


FILE_KINDS = ["geotiff", "stack", "zarr", "netcdf4", "netcdf3"]


@pytest.mark.parametrize("kind", [*FILE_KINDS, "dataarray", "xee"])
def test_every_source_gives_the_same_image(kind, tmp_path, tif):
    da = open_image(_source(kind, tmp_path, tif), chunks=4)
    assert da.dims == ("band", "y", "x")
    assert [str(b) for b in da["band"].values] == BANDS
    assert da.rio.crs.to_epsg() == 32633
    assert da.rio.transform() == TRANSFORM
    np.testing.assert_allclose(da["x"].values, XS)
    np.testing.assert_allclose(da["y"].values, YS)
    np.testing.assert_array_equal(da.values, scene())
    assert da.dtype == np.int16
    assert da.name
    assert isinstance(da.attrs["source"], str | list)
    if kind == "xee":
        assert da.rio.nodata is None  # xee marks gaps with NaN, not a fill value
    else:
        assert da.rio.nodata == NODATA
    if kind in FILE_KINDS:
        assert isinstance(da.data, dask.array.Array)
        assert da.chunks == ((3,), (4, 4), (4, 4, 2))
    else:
        assert isinstance(da.data, np.ndarray)


def test_geotiff_metadata(tif):
    da = open_image(tif)
    assert da.name == "scene"
    assert da.attrs["source"] == str(tif)
    assert da.attrs["long_name"] == tuple(BANDS)


def test_stack_names_bands_by_file_stem_and_source_lists_files(tmp_path):
    data = scene()
    paths = [write_tif(tmp_path / f"{b}.tif", data[i : i + 1]) for i, b in enumerate(BANDS)]
    da = open_image(paths[::-1])
    assert [str(b) for b in da["band"].values] == BANDS[::-1]
    assert da.attrs["source"] == [str(p) for p in paths[::-1]]
    np.testing.assert_array_equal(da.values, data[::-1])


def test_geotiff_without_descriptions_gets_b1_b2(tmp_path):
    da = open_image(write_tif(tmp_path / "plain.tif", scene()))
    assert [str(b) for b in da["band"].values] == ["B1", "B2", "B3"]


def test_band_selection_orders_bands(tif):
    da = open_image(tif, bands=["red", "blue"])
    assert [str(b) for b in da["band"].values] == ["red", "blue"]
    np.testing.assert_array_equal(da.values, scene()[[2, 0]])


def test_missing_band_lists_available(tif):
    with pytest.raises(
        BandNotFoundError,
        match=r"\['nir'\] not in .*scene.tif; available bands: \['blue', 'green', 'red'\]",
    ):
        open_image(tif, bands=["red", "nir"])


def test_masked_geotiff_without_nodata_becomes_nan(tmp_path):
    path = tmp_path / "masked.tif"
    data = scene()
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write_tif(path, data, nodata=None)
        with rasterio.open(path, "r+") as ds:
            mask = np.full((H, W), 255, np.uint8)
            mask[3, 4] = 0
            ds.write_mask(mask)
    da = open_image(path)
    assert da.dtype.kind == "f"
    assert np.isnan(da.values[:, 3, 4]).all()
    assert np.isnan(da.rio.nodata)
    valid = valid_mask(da).values
    assert not valid[3, 4] and valid.sum() == H * W - 1
    assert da.values[0, 1, 2] == NODATA  # -1 is an ordinary value here: the file declares no nodata


# --- errors ----------------------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(InputNotFoundError, match="nope.tif' does not exist"):
        open_image(tmp_path / "nope.tif")


@pytest.mark.parametrize("name", ["x.tif", "table.csv"])
def test_not_a_raster(tmp_path, name):
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    with pytest.raises(NotARasterError, match=f"{name} is not a readable raster"):
        open_image(path)


def test_text_file_named_nc_is_not_a_raster(tmp_path):
    path = tmp_path / "x.nc"
    path.write_text("hello")
    with pytest.raises(NotARasterError, match="x.nc is not a NetCDF file"):
        open_image(path)


def test_missing_crs(tmp_path):
    path = write_tif(tmp_path / "nocrs.tif", scene(), crs=None)
    with pytest.raises(
        MissingCRSError, match=r"nocrs.tif has no CRS; set one with `rio edit-info --crs EPSG:XXXX"
    ):
        open_image(path)


def test_in_memory_without_crs():
    da = xr.DataArray(scene(), dims=("band", "y", "x"), coords={"y": YS, "x": XS})
    with pytest.raises(MissingCRSError, match=r"write_crs"):
        open_image(da)


def test_rotated_transform(tmp_path):
    path = write_tif(tmp_path / "rot.tif", scene(), transform=TRANSFORM @ Affine.rotation(10))
    with pytest.raises(ConfigError, match="rot.tif: the affine transform is rotated or sheared"):
        open_image(path)


def test_rotated_in_memory_transform():
    da = xr.DataArray(scene(), dims=("band", "y", "x"), coords={"y": YS, "x": XS})
    da = da.rio.write_crs(CRS).rio.write_transform(TRANSFORM @ Affine.rotation(10))
    with pytest.raises(
        ConfigError, match="<in-memory>: the affine transform is rotated or sheared"
    ):
        open_image(da)


def test_in_memory_rioxarray_array_keeps_band_descriptions(tif):
    import rioxarray

    da = open_image(rioxarray.open_rasterio(tif).compute())
    assert [str(b) for b in da["band"].values] == BANDS
    assert da.rio.nodata == NODATA and da.rio.transform() == TRANSFORM
    assert da.name == "image"  # open_rasterio leaves the name unset


@pytest.mark.parametrize(
    ("kw", "what"),
    [
        ({"transform": Affine.translation(10, 0) @ TRANSFORM}, "transform"),
        ({"crs": "EPSG:32634"}, "CRS EPSG:32634 != EPSG:32633"),
    ],
)
def test_stack_on_different_grids(tmp_path, kw, what):
    data = scene()
    a = write_tif(tmp_path / "a.tif", data[:1])
    b = write_tif(tmp_path / "b.tif", data[1:2], **kw)
    with pytest.raises(ConfigError, match=rf"b.tif is not on the grid of .*a.tif \({what}"):
        open_image([a, b])


def test_stack_with_different_shapes(tmp_path):
    a = write_tif(tmp_path / "a.tif", scene()[:1])
    b = write_tif(tmp_path / "b.tif", scene()[1:2, :4])
    with pytest.raises(ConfigError, match=r"b.tif is not on the grid .*size 10 x 4 != 10 x 8"):
        open_image([a, b])


def test_several_time_steps_must_be_reduced():
    ds = _bands_dataset(xee=True)
    ds = xr.concat([ds, ds], dim="time")
    with pytest.raises(ConfigError, match=r"has 2 steps along 'time'; reduce them .*median"):
        open_image(ds)


def test_unknown_spatial_dims():
    da = xr.DataArray(scene(), dims=("band", "row", "col")).rio.write_crs(CRS)
    with pytest.raises(ConfigError, match="cannot tell the x dimension"):
        open_image(da)


def test_lon_lat_dataarray_without_band_dim():
    da = xr.DataArray(scene()[0], dims=("lat", "lon"), coords={"lat": YS, "lon": XS}, name="ndvi")
    out = open_image(da.assign_attrs(crs=CRS))
    assert out.dims == ("band", "y", "x") and [str(b) for b in out["band"].values] == ["ndvi"]
    assert out.rio.transform() == TRANSFORM


# --- valid_mask / describe_image --------------------------------------------------------------


def test_valid_mask_nodata_and_nan(tif):
    da = open_image(tif, chunks=4)
    mask = valid_mask(da)
    assert isinstance(mask.data, dask.array.Array)
    expected = np.ones((H, W), bool)
    expected[1, 2] = False  # nodata in band 0 only is enough
    assert mask.dims == ("y", "x")
    np.testing.assert_array_equal(mask.values, expected)

    flt = da.astype("float32").compute()
    flt[2, 5, 6] = np.nan
    expected[5, 6] = False
    np.testing.assert_array_equal(valid_mask(flt).values, expected)


def test_describe_image(tif):
    info = describe_image(open_image(tif, chunks=4))
    assert info == {
        "path": str(tif),
        "name": "scene",
        "size": (H, W),
        "bands": BANDS,
        "dtype": "int16",
        "crs": "EPSG:32633",
        "resolution": (10.0, 10.0),
        "units": "metre",
        "bounds": (500000.0, 4000000.0 - 10 * H, 500000.0 + 10 * W, 4000000.0),
        "nodata": -1.0,
        "chunked": True,
        "chunks": (3, 4, 4),
    }
