"""Earth Engine through xee, against the local stand-in (terralearn.testing.ee_standin).

xee's real backend runs on top of the stand-in: grid projection, request chunking and the
assembly of tiles are xee's; the stand-in only answers getInfo/computePixels with known values.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from pyproj import Transformer

pytest.importorskip("xee")

from terralearn.errors import ConfigError, EarthEngineError  # noqa: E402
from terralearn.io import earthengine as eemod  # noqa: E402
from terralearn.io.ee_fetch import open_ee  # noqa: E402
from terralearn.testing import ee_standin as S  # noqa: E402

BOX = [11.02, 46.02, 11.05, 46.04]


@pytest.fixture
def world():
    eemod._initialized.clear()
    with S.installed() as w:
        yield w
    eemod._initialized.clear()


def lonlat(da):
    x, y = np.meshgrid(da.x.values, da.y.values)
    return Transformer.from_crs(da.rio.crs, "EPSG:4326", always_xy=True).transform(x, y)


def source(**kw) -> eemod.EarthEngineSource:
    values = dict(region=BOX, start="2023-07-01", end="2023-08-01", scale=30.0, cache=None)
    values.update(kw)
    return eemod.EarthEngineSource(**values)


def test_grid_follows_xee_fit_geometry():
    geom = eemod.parse_region(BOX)
    grid = eemod.grid_for(geom, 30.0)
    assert grid["crs"] == "EPSG:32632"
    a, b, c, d, e, f = grid["crs_transform"]
    assert (a, b, d, e) == (30.0, 0.0, 0.0, -30.0)
    assert c % 30 == 0 and f % 30 == 0  # snapped to multiples of the scale
    w, h = grid["shape_2d"]
    minx, miny, maxx, maxy = Transformer.from_crs(
        "EPSG:4326", "EPSG:32632", always_xy=True
    ).transform_bounds(*BOX)
    assert c <= minx and c + w * a >= maxx and f >= maxy and f + h * e <= miny
    assert eemod.utm_crs(eemod.parse_region([-60.1, -10.1, -60.0, -10.0])) == "EPSG:32720"


def test_parse_region_forms(tmp_path):
    assert eemod.parse_region("11,46,11.1,46.1").bounds == (11.0, 46.0, 11.1, 46.1)
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [11, 46]}}
    path = tmp_path / "r.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    assert eemod.parse_region(str(path)).bounds == (11.0, 46.0, 11.0, 46.0)
    with pytest.raises(
        ConfigError, match=r"region \[2, 1, 1, 2\] must be \[minx, miny, maxx, maxy\]"
    ):
        eemod.parse_region([2, 1, 1, 2])


@pytest.mark.parametrize("mask", ["scl", "qa60"])
def test_cloud_masked_composite_is_the_clear_value(world, mask):
    # p100 (the maximum) would pick the cloud (9000) wherever a cloud is left unmasked
    out = eemod.fetch(
        source(labels=None, cloud_mask=mask, reducer="p100", bands=["B2", "B8"]), progress=False
    )
    image = out.image
    assert image.dims == ("band", "y", "x") and list(image.band.values) == ["B2", "B8"]
    assert image.dtype == np.float32
    lon, lat = lonlat(image)
    for band in ("B2", "B8"):
        np.testing.assert_array_equal(image.sel(band=band).values, S.s2_value(band, lon, lat))
    assert tuple(image.rio.transform())[:6] == tuple(out.grid["crs_transform"])
    assert world.initialized_with == {"project": None}


def test_unmasked_composite_keeps_clouds(world):
    out = eemod.fetch(
        source(labels=None, cloud_mask="none", reducer="p100", bands=["B4"]), progress=False
    )
    lon, lat = lonlat(out.image)
    cloudy = S._cloud(0, lon, lat) | S._cloud(1, lon, lat) | S._cloud(2, lon, lat)
    assert cloudy.any() and (~cloudy).any()
    values = out.image.values[0]
    assert (values[cloudy] == 9000).all()
    np.testing.assert_array_equal(values[~cloudy], S.s2_value("B4", lon, lat)[~cloudy])


def test_dynamic_world_labels_are_the_mode_on_the_image_grid(world):
    out = eemod.fetch(source(bands=["B3"]), progress=False)
    assert out.classes == eemod.DYNAMIC_WORLD_CLASSES
    labels = out.labels
    assert labels.dtype == np.uint8 and labels.shape == out.image.shape[1:]
    np.testing.assert_array_equal(labels.x.values, out.image.x.values)
    np.testing.assert_array_equal(labels.y.values, out.image.y.values)
    lon, lat = lonlat(out.image)
    np.testing.assert_array_equal(labels.values, S.dw_label(lon, lat))


def test_worldcover_codes_become_ids_and_missing_data_ignore(world):
    # the region overhangs the catalog's eastern edge (11.2): no data there
    out = eemod.fetch(
        source(region=[11.17, 46.02, 11.23, 46.05], bands=["B2"], labels="worldcover"),
        progress=False,
    )
    lon, lat = lonlat(out.image)
    inside = lon < S.EXTENT[2]
    assert inside.any() and (~inside).any()
    codes = list(eemod.WORLDCOVER_CODES)
    expected = np.vectorize(codes.index)(S.wc_code(lon, lat))
    np.testing.assert_array_equal(out.labels.values[inside], expected[inside])
    assert (out.labels.values[~inside] == 255).all()
    assert np.isnan(out.image.values[0][~inside]).all()
    assert out.classes[0] == "tree_cover" and out.classes[10] == "moss_and_lichen"


def test_requests_are_chunked_into_tiles(world):
    ee = S.make_module(world)
    grid = eemod.grid_for(eemod.parse_region(BOX), 30.0)
    w, h = grid["shape_2d"]
    image = ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED").first()
    da = open_ee(image, grid, bands=["B2", "B3"], tile=32, progress=False)
    n_tiles = -(-w // 32) * -(-h // 32)
    assert world.calls["computePixels"] == 2 * n_tiles
    sizes = [(r["dimensions"]["width"], r["dimensions"]["height"]) for r in world.requests]
    assert max(max(s) for s in sizes) == 32
    assert sum(a * b for a, b in sizes) == 2 * w * h  # every pixel requested exactly once per band
    assert da.shape == (2, h, w)


def test_quota_errors_are_retried_with_backoff(world):
    world.fail_pixels = [S.EEException("Too Many Requests: HTTP 429")] * 2
    waits: list[float] = []
    out = eemod.fetch(source(labels=None, bands=["B2"]), progress=False, sleep=waits.append)
    assert waits == [2.0, 4.0]
    assert not np.isnan(out.image.values).any()


def test_quota_exhausted_is_one_line(world):
    world.fail_pixels = [S.EEException("Quota exceeded (429)")] * 3
    with pytest.raises(
        EarthEngineError, match=r"^Earth Engine quota exceeded while composite \(tile 0,0\)"
    ):
        eemod.fetch(
            source(labels=None, bands=["B2"], retries=2), progress=False, sleep=lambda s: None
        )


def test_other_errors_are_not_retried(world):
    world.fail_pixels = [S.EEException("Image.select: Band pattern 'X' did not match any bands.")]
    waits: list[float] = []
    with pytest.raises(
        EarthEngineError, match=r"Earth Engine failed while composite \(tile 0,0\): Image.select"
    ):
        eemod.fetch(source(labels=None, bands=["B2"]), progress=False, sleep=waits.append)
    assert waits == []


def test_cache_second_run_makes_no_earth_engine_call(world, tmp_path):
    src = source(cache=str(tmp_path / "cache"), bands=["B2", "B4"])
    first = eemod.fetch(src, progress=False)
    calls = dict(world.calls)
    world.authenticated = False  # a second run needs neither credentials nor requests
    eemod._initialized.clear()
    second = eemod.fetch(src, progress=False)
    assert world.calls == calls
    np.testing.assert_array_equal(second.image.values, first.image.values)
    np.testing.assert_array_equal(second.labels.values, first.labels.values)
    assert list(second.image.band.values) == ["B2", "B4"]
    assert second.image.rio.crs == first.image.rio.crs
    assert second.image.rio.transform() == first.image.rio.transform()


def test_interrupted_download_resumes_from_cached_tiles(world, tmp_path):
    src = source(cache=str(tmp_path / "cache"), bands=["B2"], labels=None, tile=32)
    grid = eemod.grid_for(eemod.parse_region(BOX), 30.0)
    n_tiles = -(-grid["shape_2d"][0] // 32) * -(-grid["shape_2d"][1] // 32)
    # fail on the 4th tile: 3 tiles are cached
    original = world.compute_pixels
    count = {"n": 0}

    def flaky(params):
        count["n"] += 1
        if count["n"] == 4:
            raise S.EEException("Internal error")
        return original(params)

    world.compute_pixels = flaky
    with S.installed(world), pytest.raises(EarthEngineError, match="Internal error"):
        eemod.fetch(src, progress=False)
    before = world.calls["computePixels"]
    with S.installed(world):
        out = eemod.fetch(src, progress=False)
    assert world.calls["computePixels"] - before == n_tiles - 3
    lon, lat = lonlat(out.image)
    np.testing.assert_array_equal(out.image.values[0], S.s2_value("B2", lon, lat))


def test_without_credentials_one_line_says_how_to_authenticate(world):
    world.authenticated = False
    with pytest.raises(
        EarthEngineError, match=r"run `earthengine authenticate` once, then pass --project"
    ):
        eemod.fetch(source(), progress=False)


def test_unknown_collection(world):
    with pytest.raises(
        EarthEngineError, match=r"Earth Engine has no image or collection 'NOPE/S2'"
    ):
        eemod.fetch(source(collection="NOPE/S2", labels=None), progress=False)


def test_region_too_large(world):
    with pytest.raises(ConfigError, match=r"more than max_pixels 1,000; use a coarser scale"):
        eemod.fetch(source(max_pixels=1000), progress=False)


def test_request_over_the_size_limit(world):
    # 2400 x 2400 px at 6 m: one band of one tile is over 48 MB in the stand-in's float64
    src = source(region=[11.0, 46.0, 11.2, 46.13], scale=6.0, tile=2400, labels=None, bands=["B2"])
    with pytest.raises(EarthEngineError, match=r"over the 48 MB limit .*use a smaller --tile"):
        eemod.fetch(src, progress=False)


def test_bad_options():
    with pytest.raises(
        ConfigError, match="cloud_mask 'fog' is unknown; use one of scl, qa60, none"
    ):
        source(cloud_mask="fog").validate()
    with pytest.raises(ConfigError, match=r"reducer 'mean' is unknown; use median or p<0-100>"):
        source(reducer="mean").validate()
    with pytest.raises(ConfigError, match=r"unknown earthengine config key\(s\) \['bbox'\]"):
        eemod.EarthEngineSource.from_dict({"bbox": BOX})


def test_several_images_must_be_reduced(world):
    ee = S.make_module(world)
    grid = eemod.grid_for(eemod.parse_region(BOX), 60.0)
    with pytest.raises(ConfigError, match="collection has 3 images; reduce it to one"):
        open_ee(ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED"), grid, progress=False)


def test_prepare_from_an_earthengine_config(world, tmp_path):
    from terralearn.config import build_config
    from terralearn.store import PrepareConfig, open_store, prepare

    values = {
        "earthengine": {
            "region": BOX,
            "start": "2023-07-01",
            "end": "2023-08-01",
            "scale": 30,
            "bands": "B2,B3,B4",
            "cache": str(tmp_path / "cache"),
        },
        "chip_size": 16,
        "split": "random",
        "out": str(tmp_path / "store"),
    }
    resolved = eemod.expand_prepare_values(values, progress=False)
    assert resolved["images"][0].endswith(".zarr") and resolved["labels"][0].endswith(".tif")
    store = open_store(prepare(build_config(PrepareConfig, resolved), progress=False))
    assert store.bands == ["B2", "B3", "B4"]
    assert store.classes == eemod.DYNAMIC_WORLD_CLASSES
    chip = store.read([0])
    row = store.index.iloc[0]
    lon, lat = Transformer.from_crs(row["crs"], "EPSG:4326", always_xy=True).transform(
        row["minx"] + 15.0, row["maxy"] - 15.0
    )
    assert chip["image"][0, 0, 0, 0] == S.s2_value("B2", np.array(lon), np.array(lat))
    assert chip["mask"][0, 0, 0] == S.dw_label(np.array(lon), np.array(lat))
