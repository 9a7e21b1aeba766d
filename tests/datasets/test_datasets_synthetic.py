"""The synthetic benchmark scene: determinism, georeferencing, classes, spectra, edges, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

import terralearn
from terralearn.datasets import spectra
from terralearn.datasets.landscape import CLASS_NAMES, NO_LABEL
from terralearn.datasets.synthetic import make_scene, nodata_edge
from terralearn.errors import ConfigError, OutputExistsError

B2, B3, B4, B8, B11, B12 = range(6)
WATER, FOREST, CROP, GRASS, BARE, BUILT = range(6)


def _read(path):
    with rasterio.open(path) as src:
        return src.read()


def _scene(tmp_path, name="s", **kw):
    kw.setdefault("size", (200, 180))
    kw.setdefault("progress", False)
    img, lab = tmp_path / f"{name}.tif", tmp_path / f"{name}_labels.tif"
    info = make_scene(img, lab, **kw)
    return info, img, lab


@pytest.fixture(scope="module")
def scene_1k(tmp_path_factory):
    """A 1024 x 1024 scene (10 km at 10 m), generated once for the class and spectra tests."""
    tmp = tmp_path_factory.mktemp("scene1k")
    info, img, lab = _scene(tmp, size=(1024, 1024), seed=2)
    return info, _read(img).astype(np.float64), _read(lab)[0]


def test_same_pixels_whatever_the_block_size(tmp_path):
    kw = {"size": (600, 520), "seed": 7, "clouds": True, "nodata_edges": True}
    _, img_a, lab_a = _scene(tmp_path, "a", block_size=256, **kw)
    _, img_b, lab_b = _scene(tmp_path, "b", block_size=1024, **kw)
    np.testing.assert_array_equal(_read(img_a), _read(img_b))
    np.testing.assert_array_equal(_read(lab_a), _read(lab_b))


def test_deterministic_by_seed(tmp_path):
    _, img_a, lab_a = _scene(tmp_path, "a", seed=3)
    _, img_b, lab_b = _scene(tmp_path, "b", seed=3)
    _, img_c, _ = _scene(tmp_path, "c", seed=4)
    np.testing.assert_array_equal(_read(img_a), _read(img_b))
    np.testing.assert_array_equal(_read(lab_a), _read(lab_b))
    assert (_read(img_a) != _read(img_c)).mean() > 0.5


def test_a_window_of_a_larger_scene_is_the_same_landscape(tmp_path):
    # the landscape is a function of world coordinates: a smaller scene is the top-left crop
    # (edge pixels aside, whose blur sees the same neighbours too, so all pixels match)
    _, img_small, lab_small = _scene(tmp_path, "small", size=(100, 90), seed=5)
    _, img_big, lab_big = _scene(tmp_path, "big", size=(160, 150), seed=5)
    np.testing.assert_array_equal(_read(img_small), _read(img_big)[:, :100, :90])
    np.testing.assert_array_equal(_read(lab_small), _read(lab_big)[:, :100, :90])


def test_georeferencing_and_metadata(tmp_path):
    info, img, lab = _scene(
        tmp_path, size=(130, 150), resolution=20.0, crs="EPSG:32610", origin=(400000.0, 4100000.0)
    )
    with rasterio.open(img) as src:
        assert (src.height, src.width, src.count) == (130, 150, 6)
        assert src.crs.to_epsg() == 32610
        assert tuple(src.transform)[:6] == (20.0, 0.0, 400000.0, 0.0, -20.0, 4100000.0)
        assert src.descriptions == ("B2", "B3", "B4", "B8", "B11", "B12")
        assert src.dtypes == ("uint16",) * 6
        assert src.nodata == 0
        assert src.profile["tiled"] and src.block_shapes[0] == (512, 512)
        assert src.compression.name == "deflate"
        assert src.tags()["synthetic"] == "true"
        image = src.read()
    with rasterio.open(lab) as src:
        assert (src.height, src.width, src.count) == (130, 150, 1)
        assert src.crs.to_epsg() == 32610 and src.transform == rasterio.open(img).transform
        assert src.dtypes == ("uint8",) and src.nodata == NO_LABEL
        assert json.loads(src.tags()["class_names"]) == {
            "0": "water",
            "1": "forest",
            "2": "cropland",
            "3": "grassland",
            "4": "bare soil",
            "5": "built-up",
        }
        cmap = src.colormap(1)
        assert cmap[0][2] > cmap[0][0]  # water is blue
        assert cmap[1][1] > cmap[1][0] and cmap[1][1] > cmap[1][2]  # forest is green
        labels = src.read(1)
    assert image.min() >= 1  # no nodata without --nodata-edges
    assert set(np.unique(labels)) <= set(range(6))
    assert info.height == 130 and info.width == 150 and info.crs == "EPSG:32610"
    assert sum(info.class_counts.values()) == 130 * 150
    assert info.class_counts == {
        int(k): int(n) for k, n in enumerate(np.bincount(labels.ravel())) if n
    }


def test_all_classes_present_with_sensible_shares(scene_1k):
    info, _, labels = scene_1k
    shares = np.bincount(labels.ravel(), minlength=6)[:6] / labels.size
    assert shares.sum() == 1.0
    assert shares.min() > 0.02, dict(zip(CLASS_NAMES, shares, strict=True))
    assert shares.max() < 0.5
    assert info.class_shares()["water"] == pytest.approx(shares[WATER])


def test_class_mean_spectra_are_ordered_like_sentinel2(scene_1k):
    _, image, labels = scene_1k
    mean = np.stack([image[:, labels == k].mean(axis=1) for k in range(6)])  # (class, band)
    nir, red, swir1 = mean[:, B8], mean[:, B4], mean[:, B11]
    assert nir[WATER] < 500 and all(nir[WATER] < nir[k] for k in range(1, 6))
    assert all(swir1[WATER] < swir1[k] for k in range(1, 6))
    assert 2300 < nir[FOREST] < 3700 and 150 < red[FOREST] < 400
    assert nir[FOREST] > nir[BUILT] and nir[GRASS] > nir[BUILT]
    assert swir1[BUILT] > swir1[FOREST] and mean[BUILT, B12] > mean[FOREST, B12]
    assert red[BARE] > red[GRASS] > red[FOREST]
    assert swir1[BARE] > nir[BARE] > red[BARE]  # bare soil rises into the SWIR
    assert swir1[BARE] == max(swir1)
    # vegetation: NIR well above red
    for k in (FOREST, CROP, GRASS):
        assert nir[k] > 2 * red[k]
    # within-class variation: objects differ, so the spread is well above sensor noise
    forest_nir = image[B8, labels == FOREST]
    assert forest_nir.std() > 200


def test_noise_is_per_pixel_and_texture_spatially_correlated(scene_1k):
    _, image, labels = scene_1k
    nir = image[B8]
    diff = nir[:, 1:] - nir[:, :-1]
    same = (labels[:, 1:] == FOREST) & (labels[:, :-1] == FOREST)
    # neighbours differ (noise) but much less than two random forest pixels (correlation)
    assert 0 < diff[same].std() < 0.8 * np.sqrt(2) * nir[labels == FOREST].std()


def test_nodata_edges_are_zero_in_the_image_and_255_in_the_labels(tmp_path):
    _, img, lab = _scene(tmp_path, size=(300, 260), nodata_edges=True, seed=1)
    image, labels = _read(img), _read(lab)[0]
    edge = labels == NO_LABEL
    expected = nodata_edge(np.arange(300), np.arange(260), 300, 260)
    np.testing.assert_array_equal(edge, expected)
    assert 0.05 < edge.mean() < 0.3
    assert edge[-1, 0] and edge[0, -1] and not edge[150, 130]  # bottom-left, top-right corners
    assert (image[:, edge] == 0).all()
    assert (image[:, ~edge] > 0).all()


def test_clouds_brighten_the_image_and_keep_the_ground_labels(tmp_path):
    kw = {"size": (512, 512), "seed": 0}
    _, img_clear, lab_clear = _scene(tmp_path, "clear", **kw)
    _, img_cloud, lab_cloud = _scene(tmp_path, "cloud", clouds=True, **kw)
    np.testing.assert_array_equal(_read(lab_clear), _read(lab_cloud))
    blue_clear, blue_cloud = _read(img_clear)[B2], _read(img_cloud)[B2]
    cloudy = blue_cloud > 4000
    assert cloudy.any() and not (blue_clear > 4000).any()


def test_clouds_cover_part_of_a_large_scene():
    ys = xs = (np.arange(0, 8192, 8) + 0.5) * 10.0
    cover = spectra.cloud_cover(0, ys, xs)
    assert 0.03 < (cover > 0.3).mean() < 0.4
    assert cover.max() <= 0.9  # always partly transparent


@pytest.mark.parametrize("size", [(63, 100), (100, 100_001), (0, 0)])
def test_size_out_of_range(tmp_path, size):
    with pytest.raises(ConfigError, match=r"out of range: --size takes HEIGHT WIDTH between 64"):
        _scene(tmp_path, size=size)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(tmp_path):
    info, img, lab = _scene(tmp_path, seed=1)
    before = img.read_bytes()
    with pytest.raises(OutputExistsError, match=r"already exists; pass --overwrite"):
        _scene(tmp_path, seed=2)
    assert img.read_bytes() == before
    lab.unlink()
    with pytest.raises(OutputExistsError, match=r"s\.tif' already exists"):
        _scene(tmp_path, seed=2)  # the image alone blocks the run: no lone labels written
    assert not lab.exists()
    _scene(tmp_path, seed=2, overwrite=True)
    assert img.read_bytes() != before and lab.exists()


def test_same_path_for_image_and_labels(tmp_path):
    with pytest.raises(ConfigError, match="same file"):
        make_scene(tmp_path / "x.tif", tmp_path / "x.tif", size=(64, 64), progress=False)


def test_failure_mid_way_leaves_neither_file(tmp_path, monkeypatch):
    calls = []

    def failing(image):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return np.clip(np.rint(image), 1, 65535).astype(np.uint16)

    monkeypatch.setattr(spectra, "to_uint16", failing)
    with pytest.raises(RuntimeError, match="killed"):
        _scene(tmp_path, size=(200, 200), block_size=128)
    assert list(tmp_path.iterdir()) == []


def test_exported_at_top_level():
    assert terralearn.make_scene is make_scene
