"""predict_raster: georeferenced COG / Zarr outputs, options, Dask, and bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import xarray as xr
from predict_helpers import (
    CRS,
    RES,
    band_logits_model,
    blocks_scene,
    make_run,
    smooth_scene,
    transform,
    write_image,
)
from rio_cogeo.cogeo import cog_validate

from terralearn.errors import (
    ConfigError,
    IncompatibleError,
    NotARunError,
    OutputExistsError,
)
from terralearn.predict import predict_array, predict_raster
from terralearn.predict.engine import entropy


def test_cog_has_the_input_grid_colours_names_and_nodata(run_dir, image_path, tmp_path):
    out = tmp_path / "classes.tif"
    result = predict_raster(
        run_dir, image_path, out, tile_size=128, probabilities=True, uncertainty=True,
        progress=False,
    )  # fmt: skip
    assert set(result.paths) == {"class", "probabilities", "uncertainty"}
    assert result.paths["probabilities"] == tmp_path / "classes_probabilities.tif"
    with rasterio.open(image_path) as src:
        grid = (src.crs, src.transform, src.width, src.height)
        invalid = src.read(1) == -9999.0
    assert invalid.sum() == 600
    with rasterio.open(out) as dst:
        assert (dst.crs, dst.transform, dst.width, dst.height) == grid
        assert dst.dtypes == ("uint8",) and dst.nodata == 255
        assert dst.compression.name == "lzw"  # the class map: LZW (writers.CLASS_COG)
        classes = dst.read(1)
        assert dst.colormap(1)[0][:3] != dst.colormap(1)[1][:3]
        assert json.loads(dst.tags()["CLASSES"]) == {"0": "water", "1": "forest", "2": "urban"}
        assert dst.tags(1)["class_2"] == "urban" and dst.descriptions == ("class",)
    assert (classes[invalid] == 255).all() and (classes[~invalid] < 3).all()
    with rasterio.open(result.paths["probabilities"]) as src:
        assert src.count == 3 and src.descriptions == ("water", "forest", "urban")
        assert (
            src.compression.name == "deflate" and src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
        )  # floating-point predictor
        assert (src.crs, src.transform) == grid[:2]
        p = src.read()
    assert np.isnan(p[:, invalid]).all()
    np.testing.assert_allclose(p[:, ~invalid].sum(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.argmax(p[:, ~invalid], 0), classes[~invalid])
    with rasterio.open(result.paths["uncertainty"]) as src:
        np.testing.assert_allclose(src.read(1)[~invalid], entropy(p[:, ~invalid]), atol=1e-5)
    for path in result.paths.values():
        valid, errors, _ = cog_validate(path)
        assert valid and not errors
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_big_cog_opens_with_overviews(tmp_path):
    image = write_image(tmp_path / "big.tif", blocks_scene(600, 1100))
    out = tmp_path / "big_classes.tif"
    predict_raster(band_logits_model(), image, out, progress=False)
    assert cog_validate(out)[0]
    with rasterio.open(out) as dst:
        assert dst.overviews(1) == [2, 4]
        classes = dst.read(1)
        overview = dst.read(1, out_shape=(300, 550))  # served from the overview
    np.testing.assert_array_equal(classes, np.argmax(blocks_scene(600, 1100), 0))
    assert set(np.unique(overview)) <= {0, 1, 2}


def test_zarr_output_holds_every_array_and_the_crs(run_dir, image_path, tmp_path):
    tif = predict_raster(run_dir, image_path, tmp_path / "a.tif", tile_size=128, progress=False)
    out = tmp_path / "a.zarr"
    result = predict_raster(
        run_dir, image_path, out, tile_size=128, probabilities=True, uncertainty=True,
        progress=False,
    )  # fmt: skip
    assert set(result.paths) == {"class"} and out.is_dir()
    with rasterio.open(tif.paths["class"]) as src:
        expected = src.read(1)
    with xr.open_zarr(out, mask_and_scale=False, decode_coords="all") as ds:
        assert ds.rio.crs.to_epsg() == 32633 and "UTM zone 33N" in ds.attrs["crs_wkt"]
        assert ds.rio.transform() == transform()
        assert ds["class"].dtype == np.uint8 and ds["class"].shape == (300, 340)
        np.testing.assert_array_equal(ds["class"].values, expected)
        assert ds["probabilities"].shape == (3, 300, 340)
        assert list(ds["probabilities"]["band"].values) == ["water", "forest", "urban"]
        assert json.loads(ds["class"].attrs["class_names"])["2"] == "urban"
        assert ds["uncertainty"].attrs["units"] == "nats"
    with xr.open_zarr(out) as ds:
        assert np.isnan(ds["class"].values[:20, :30]).all()  # nodata is the fill value


def test_vectorize_writes_class_polygons_with_min_area(tmp_path):
    image = write_image(tmp_path / "img.tif", blocks_scene(80, 100))
    result = predict_raster(
        band_logits_model(), image, tmp_path / "c.tif", vectorize=True, progress=False
    )
    frame = gpd.read_file(result.paths["vectors"])
    assert result.paths["vectors"] == tmp_path / "c.gpkg"
    assert frame.crs.to_epsg() == 32633
    assert sorted(frame.columns) == ["area", "class_id", "class_name", "geometry"]
    urban = frame[frame.class_id == 2].sort_values("area")
    assert urban.area.tolist() == [4 * RES**2, 100 * RES**2]
    assert set(frame.class_name) == {"water", "forest", "urban"}
    assert frame.area.sum() == pytest.approx(80 * 100 * RES**2)
    kept = predict_raster(
        band_logits_model(), image, tmp_path / "d.tif", vectorize=True, min_area=5 * RES**2,
        progress=False,
    )  # fmt: skip
    urban = gpd.read_file(kept.paths["vectors"]).query("class_id == 2")
    assert urban.area.tolist() == [100 * RES**2]


def test_in_memory_input_and_predict_array_agree(run_dir, image_path, tmp_path):
    from terralearn.io import open_image

    image = open_image(image_path)
    probs = predict_array(run_dir, image, tile_size=128)
    assert probs.dims == ("class", "y", "x") and probs.rio.crs.to_epsg() == 32633
    result = predict_raster(
        run_dir, image.load(), tmp_path / "m.tif", tile_size=128, progress=False
    )
    with rasterio.open(result.paths["class"]) as src:
        classes = src.read(1)
    valid = ~np.isnan(probs.values[0])
    np.testing.assert_array_equal(classes[valid], probs.values[:, valid].argmax(0))
    assert (classes[~valid] == 255).all()


def test_gdal_block_cache_is_capped_while_reading_unless_smaller():
    from rasterio.env import get_gdal_config

    from terralearn.geo import READ_CACHE, gdal_env

    with rasterio.Env(GDAL_CACHEMAX=4 * READ_CACHE):
        with gdal_env():
            assert get_gdal_config("GDAL_CACHEMAX") == READ_CACHE
        assert get_gdal_config("GDAL_CACHEMAX") == 4 * READ_CACHE
    with rasterio.Env(GDAL_CACHEMAX=READ_CACHE // 4), gdal_env():
        assert get_gdal_config("GDAL_CACHEMAX") == READ_CACHE // 4


def test_dask_local_cluster_gives_the_same_output(run_dir, image_path, tmp_path):
    distributed = pytest.importorskip("distributed")
    import torch

    from terralearn.predict.dask_ import _set_torch_threads

    single = predict_raster(
        run_dir, image_path, tmp_path / "s.tif", tile_size=96, probabilities=True, progress=False
    )
    # workers on as many torch threads as this process: the same sums in the same order
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.run(_set_torch_threads, torch.get_num_threads())
        scaled = predict_raster(
            run_dir, image_path, tmp_path / "d.tif", tile_size=96, probabilities=True,
            dask=client, progress=False,
        )  # fmt: skip
    for kind in ("class", "probabilities"):
        with rasterio.open(single.paths[kind]) as a, rasterio.open(scaled.paths[kind]) as b:
            np.testing.assert_array_equal(a.read(), b.read())


def test_dask_local_spec_starts_workers_sharing_the_cores(run_dir, image_path, tmp_path):
    pytest.importorskip("distributed")
    from terralearn.predict.dask_ import dask_client, worker_threads

    with dask_client("local:2") as client:
        threads = client.run(lambda: __import__("torch").get_num_threads())
    assert sorted(threads.values()) == [worker_threads(2)] * 2
    single = predict_raster(run_dir, image_path, tmp_path / "s.tif", tile_size=96, progress=False)
    scaled = predict_raster(
        run_dir, image_path, tmp_path / "d.tif", tile_size=96, dask="local:2", progress=False
    )
    with rasterio.open(single.paths["class"]) as a, rasterio.open(scaled.paths["class"]) as b:
        assert (a.crs, a.transform, a.shape) == (b.crs, b.transform, b.shape)
        # another thread count may only flip pixels where two classes tie (see predict.dask_)
        assert np.count_nonzero(a.read() != b.read()) <= a.width * a.height // 10_000


# ---- bad input -------------------------------------------------------------------------------


def test_band_names_must_match_training(run_dir, tmp_path):
    image = write_image(tmp_path / "x.tif", smooth_scene(40, 40), bands=["B2", "B3", "B8"])
    with pytest.raises(IncompatibleError) as info:
        predict_raster(run_dir, image, tmp_path / "o.tif", progress=False)
    message = str(info.value)
    assert "['B2', 'B3', 'B8']" in message and "['B2', 'B3', 'B4']" in message
    assert "missing ['B4']" in message and "\n" not in message
    assert not (tmp_path / "o.tif").exists()


def test_band_count_must_match_training(run_dir, tmp_path):
    image = write_image(tmp_path / "x.tif", smooth_scene(40, 40, bands=2), bands=["B2", "B3"])
    with pytest.raises(IncompatibleError, match=r"has 2 band\(s\) .* trained on 3 band\(s\)"):
        predict_raster(run_dir, image, tmp_path / "o.tif", progress=False)


def test_extra_bands_are_selected_by_name(run_dir, tmp_path):
    data = np.concatenate([smooth_scene(40, 40, bands=1, seed=5), smooth_scene(40, 40)])
    image = write_image(tmp_path / "x.tif", data[[1, 0, 2, 3]], bands=["B2", "B8", "B3", "B4"])
    plain = write_image(tmp_path / "p.tif", data[1:], bands=["B2", "B3", "B4"])
    a = predict_array(run_dir, image, tile_size=64).values
    np.testing.assert_array_equal(a, predict_array(run_dir, plain, tile_size=64).values)


def test_pixel_size_far_from_training_is_refused(run_dir, tmp_path):
    image = write_image(tmp_path / "x.tif", smooth_scene(40, 40), res=30.0)
    with pytest.raises(IncompatibleError) as info:
        predict_raster(run_dir, image, tmp_path / "o.tif", progress=False)
    message = str(info.value)
    assert "pixel size of 30" in message and "trained at 10" in message
    assert "gdalwarp -tr 10 10" in message
    ok = write_image(tmp_path / "ok.tif", smooth_scene(40, 40), res=15.0)  # within 2x
    assert predict_raster(run_dir, ok, tmp_path / "ok_out.tif", progress=False).width == 40


def test_unsupported_output_extension(run_dir, image_path, tmp_path):
    with pytest.raises(ConfigError, match=r"unsupported extension '\.jpg'; end it in \.tif"):
        predict_raster(run_dir, image_path, tmp_path / "o.jpg", progress=False)


def test_overlap_must_be_below_tile_size_and_is_checked_first(tmp_path, image_path):
    with pytest.raises(ConfigError, match="--overlap 64 must be smaller than --tile-size 64"):
        predict_raster(tmp_path / "no-run", image_path, tmp_path / "o.tif", tile_size=64,
                       overlap=64, progress=False)  # fmt: skip


def test_run_without_checkpoint(tmp_path, image_path):
    run = make_run(tmp_path / "empty", checkpoint=False)
    with pytest.raises(NotARunError, match="has no checkpoint best.ckpt in checkpoints/"):
        predict_raster(run, image_path, tmp_path / "o.tif", progress=False)


def test_existing_output_needs_overwrite(run_dir, image_path, tmp_path):
    out = tmp_path / "o.tif"
    out.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        predict_raster(run_dir, image_path, out, tile_size=128, progress=False)
    assert out.read_bytes() == b"old"
    predict_raster(run_dir, image_path, out, tile_size=128, overwrite=True, progress=False)
    with rasterio.open(out) as src:
        assert src.crs.to_string() == CRS
