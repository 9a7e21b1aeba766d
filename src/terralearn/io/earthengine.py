"""Earth Engine sources through xee: Sentinel-2 composites and label products on one grid.

A request is described by :class:`EarthEngineSource` (the ``earthengine:`` section of a prepare
config, or ``terralearn ee`` options). :func:`fetch` builds the Earth Engine expressions,
derives the pixel grid from the region with ``xee.fit_geometry`` (xee 0.1: ``crs``,
``crs_transform``, ``shape_2d``; the older ``geometry=`` / ``scale=`` arguments are gone) and reads
image and labels on that same grid with :func:`terralearn.io.ee_fetch.open_ee` (tiled requests,
quota retries, Zarr cache). Labels come from Dynamic World (mode of the ``label`` band over the
dates) or ESA WorldCover (codes 10..100 remapped to ids 0..10), so no hand labels are needed.

Authentication: :func:`initialize` calls ``ee.Initialize(project=...)`` once; without credentials
it raises one line saying how to authenticate.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from terralearn._extras import require
from terralearn.errors import ConfigError, EarthEngineError, InputNotFoundError
from terralearn.io.ee_fetch import cache_key, import_ee, open_ee
from terralearn.pixels import NO_LABEL

log = logging.getLogger(__name__)

S2_COLLECTION = "COPERNICUS/S2_SR_HARMONIZED"
S2_DEFAULT_BANDS = ["B2", "B3", "B4", "B8", "B11", "B12"]
SCL_MASKED = (0, 1, 3, 8, 9, 10)  # no data, saturated, cloud shadow, cloud medium/high, cirrus
QA60_CLOUD_BITS = (10, 11)  # opaque clouds, cirrus

DYNAMIC_WORLD = "GOOGLE/DYNAMICWORLD/V1"
DYNAMIC_WORLD_CLASSES = {
    0: "water",
    1: "trees",
    2: "grass",
    3: "flooded_vegetation",
    4: "crops",
    5: "shrub_and_scrub",
    6: "built",
    7: "bare",
    8: "snow_and_ice",
}
WORLDCOVER = "ESA/WorldCover/v200"
WORLDCOVER_CODES = {
    10: "tree_cover",
    20: "shrubland",
    30: "grassland",
    40: "cropland",
    50: "built_up",
    60: "bare_sparse_vegetation",
    70: "snow_and_ice",
    80: "permanent_water_bodies",
    90: "herbaceous_wetland",
    95: "mangroves",
    100: "moss_and_lichen",
}
WORLDCOVER_CLASSES = dict(enumerate(WORLDCOVER_CODES.values()))
LABEL_PRODUCTS = ("dynamic_world", "worldcover")
CLOUD_MASKS = ("scl", "qa60", "none")

_initialized: set[tuple[int, str | None]] = set()  # (id of the ee module, project)


@dataclass
class EarthEngineSource:
    """An Earth Engine request (the ``earthengine:`` section of a prepare config).

    Attributes:
        region: ``[minx, miny, maxx, maxy]`` in lon/lat, a GeoJSON geometry/Feature(Collection)
            mapping, or a path to a GeoJSON file.
        start, end: date range ``YYYY-MM-DD`` (end exclusive).
        collection: image collection id (Sentinel-2 SR harmonized by default).
        bands: bands to keep, in order.
        scale: pixel size in units of ``crs`` (metres for UTM).
        crs: output CRS; default the UTM zone of the region's centre.
        cloud_mask: ``scl`` (scene classification), ``qa60`` (QA60 bits 10/11) or ``none``.
        reducer: ``median`` or a percentile ``p<k>`` (e.g. ``p25``).
        max_cloud: drop scenes with a larger CLOUDY_PIXEL_PERCENTAGE.
        labels: ``dynamic_world``, ``worldcover`` or None (no labels).
        project: Google Cloud project for ``ee.Initialize(project=...)``.
        cache: Zarr cache folder (a second run makes no Earth Engine call).
        tile: request tile side in pixels.
        retries: quota (HTTP 429) retries per tile.
        max_pixels: refuse regions with more pixels than this.
    """

    region: Any = None
    start: str = ""
    end: str = ""
    collection: str = S2_COLLECTION
    bands: list[str] = field(default_factory=lambda: list(S2_DEFAULT_BANDS))
    scale: float = 10.0
    crs: str | None = None
    cloud_mask: str = "scl"
    reducer: str = "median"
    max_cloud: float = 60.0
    labels: str | None = "dynamic_world"
    project: str | None = None
    cache: str = ".terralearn-ee-cache"
    tile: int = 512
    retries: int = 5
    max_pixels: int = 10**8

    def validate(self) -> None:
        if self.region is None:
            raise ConfigError(
                "earthengine: no region given; set region to [minx, miny, maxx, maxy] or a GeoJSON file"
            )
        if not self.start or not self.end:
            raise ConfigError("earthengine: give start and end dates (YYYY-MM-DD)")
        if self.cloud_mask not in CLOUD_MASKS:
            raise ConfigError(
                f"earthengine: cloud_mask {self.cloud_mask!r} is unknown; use one of {', '.join(CLOUD_MASKS)}"
            )
        if self.labels is not None and self.labels not in LABEL_PRODUCTS:
            raise ConfigError(
                f"earthengine: labels {self.labels!r} is unknown; use one of {', '.join(LABEL_PRODUCTS)} or none"
            )
        _percentile(self.reducer)
        if self.scale <= 0:
            raise ConfigError(f"earthengine: scale {self.scale} must be positive")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EarthEngineSource:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown earthengine config key(s) {unknown}; known keys: {', '.join(sorted(known))}"
            )
        source = cls(**values)
        if isinstance(source.bands, str):
            source.bands = [b.strip() for b in source.bands.split(",")]
        if source.labels in ("none", ""):
            source.labels = None
        return source


def initialize(project: str | None = None) -> Any:
    """``ee.Initialize(project=project)`` once per process; one clear line when it fails."""
    ee = import_ee()
    if (id(ee), project) in _initialized:
        return ee
    try:
        ee.Initialize(project=project)
    except Exception as exc:  # ee raises EEException or google.auth errors
        first = " ".join(str(exc).split())[:120]
        raise EarthEngineError(
            f"Earth Engine is not authenticated or has no project ({first}); run "
            "`earthengine authenticate` once, then pass --project YOUR_CLOUD_PROJECT "
            "(or set EARTHENGINE_PROJECT)"
        ) from None
    _initialized.add((id(ee), project))
    return ee


def parse_region(region: Any):
    """A shapely geometry in lon/lat from a bbox list, a ``"minx,miny,maxx,maxy"`` string,
    a GeoJSON mapping or a GeoJSON file path."""
    import shapely.geometry as sg
    from shapely.ops import unary_union

    if isinstance(region, str) and region.count(",") == 3 and not Path(region).exists():
        region = [float(v) for v in region.split(",")]
    if isinstance(region, list | tuple) and len(region) == 4:
        minx, miny, maxx, maxy = (float(v) for v in region)
        if not (minx < maxx and miny < maxy):
            raise ConfigError(
                f"region {list(region)} must be [minx, miny, maxx, maxy] with min < max (lon/lat)"
            )
        return sg.box(minx, miny, maxx, maxy)
    if isinstance(region, str | os.PathLike):
        path = Path(region)
        if not path.exists():
            raise InputNotFoundError(
                f"region file {str(path)!r} does not exist; give a GeoJSON file or a bbox"
            )
        try:
            region = json.loads(path.read_text())
        except ValueError:
            raise ConfigError(f"region file {str(path)!r} is not GeoJSON") from None
    if isinstance(region, dict):
        kind = region.get("type")
        if kind == "FeatureCollection":
            return unary_union([sg.shape(f["geometry"]) for f in region["features"]])
        if kind == "Feature":
            return sg.shape(region["geometry"])
        try:
            return sg.shape(region)
        except Exception:
            pass
    raise ConfigError(
        f"region {str(region)[:60]!r} is not a bbox [minx, miny, maxx, maxy], GeoJSON or a GeoJSON file"
    )


def utm_crs(geometry) -> str:
    """The UTM zone (WGS 84) of a lon/lat geometry's centre, e.g. ``EPSG:32632``."""
    lon, lat = geometry.centroid.x, geometry.centroid.y
    zone = int((lon + 180) // 6) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def grid_for(geometry, scale: float, crs: str | None = None) -> dict[str, Any]:
    """xee pixel grid covering ``geometry`` (lon/lat) at ``scale`` in ``crs``, north-up."""
    fit_geometry = require("xee", "ee").fit_geometry

    crs = crs or utm_crs(geometry)
    with warnings.catch_warnings():  # xee 0.1.2 calls the deprecated shapely.ops.transform
        warnings.simplefilter("ignore", DeprecationWarning)
        grid = fit_geometry(
            geometry,
            geometry_crs="EPSG:4326",
            grid_crs=crs,
            grid_scale=(float(scale), -float(scale)),
        )
    return dict(grid)


def _percentile(reducer: str) -> float | None:
    if reducer == "median":
        return None
    try:
        value = float(reducer.removeprefix("p"))
    except ValueError:
        value = -1.0
    if not reducer.startswith("p") or not 0 <= value <= 100:
        raise ConfigError(
            f"earthengine: reducer {reducer!r} is unknown; use median or p<0-100> (e.g. p25)"
        )
    return value


def sentinel2_composite(
    geometry,
    start: str,
    end: str,
    bands: list[str] | None = None,
    cloud_mask: Literal["scl", "qa60", "none"] = "scl",
    reducer: str = "median",
    max_cloud: float = 60.0,
    collection: str = S2_COLLECTION,
):
    """A cloud-masked Sentinel-2 composite (``ee.Image``) over a region and dates.

    Scenes are filtered by region, dates and CLOUDY_PIXEL_PERCENTAGE < ``max_cloud``; cloud masking
    uses the SCL band (classes 0, 1, 3, 8, 9, 10 masked) or QA60 (bits 10 and 11); the reduction is
    the per-pixel median or a percentile of the remaining observations.
    """
    ee = import_ee()
    bands = list(bands or S2_DEFAULT_BANDS)
    region = ee.Geometry(geometry.__geo_interface__)
    scenes = (
        ee.ImageCollection(collection)
        .filterBounds(region)
        .filterDate(start, end)
        .filter(ee.Filter.lt("CLOUDY_PIXEL_PERCENTAGE", max_cloud))
    )

    def mask_scl(image):
        scl = image.select("SCL")
        keep = scl.neq(SCL_MASKED[0])
        for value in SCL_MASKED[1:]:
            keep = keep.And(scl.neq(value))
        return image.updateMask(keep).select(bands)

    def mask_qa60(image):
        qa = image.select("QA60")
        keep = qa.bitwiseAnd(1 << QA60_CLOUD_BITS[0]).eq(0)
        keep = keep.And(qa.bitwiseAnd(1 << QA60_CLOUD_BITS[1]).eq(0))
        return image.updateMask(keep).select(bands)

    match cloud_mask:
        case "scl":
            scenes = scenes.map(mask_scl)
        case "qa60":
            scenes = scenes.map(mask_qa60)
        case _:
            scenes = scenes.select(bands)
    q = _percentile(reducer)
    if q is None:
        return scenes.median()
    return scenes.reduce(ee.Reducer.percentile([q])).rename(bands)


def label_image(product: str, geometry, start: str, end: str) -> tuple[Any, dict[int, str]]:
    """A one-band ``label`` image of class ids and its class names.

    ``dynamic_world``: the most frequent Dynamic World ``label`` over the dates (ids 0..8).
    ``worldcover``: ESA WorldCover v200 with codes 10, 20, ..., 100 remapped to ids 0..10.
    """
    ee = import_ee()
    region = ee.Geometry(geometry.__geo_interface__)
    if product == "dynamic_world":
        image = (
            ee.ImageCollection(DYNAMIC_WORLD)
            .filterBounds(region)
            .filterDate(start, end)
            .select("label")
            .mode()
            .rename(["label"])
        )
        return image, dict(DYNAMIC_WORLD_CLASSES)
    if product == "worldcover":
        codes = list(WORLDCOVER_CODES)
        image = (
            ee.ImageCollection(WORLDCOVER)
            .first()
            .select("Map")
            .remap(codes, list(range(len(codes))))
            .rename(["label"])
        )
        return image, dict(WORLDCOVER_CLASSES)
    raise ConfigError(f"labels {product!r} is unknown; use one of {', '.join(LABEL_PRODUCTS)}")


@dataclass
class Fetched:
    """What :func:`fetch` returns: the image, labels on its grid and the grid itself."""

    image: xr.DataArray
    labels: xr.DataArray | None
    classes: dict[int, str] | None
    grid: dict[str, Any]


def fetch(source: EarthEngineSource, progress: bool = True, sleep=None) -> Fetched:
    """Read the composite (and labels) of ``source`` on one grid, through the cache.

    Returns:
        ``image``: ``(band, y, x)`` float32, NaN where no clear observation; ``labels``: ``(y, x)``
        uint8 class ids with 255 (ignore) where the product has no data.

    Raises:
        EarthEngineError: authentication, quota after retries, unknown collection, request size.
        ConfigError: invalid options, region too large.
    """
    import time

    source.validate()
    geometry = parse_region(source.region)
    grid = grid_for(geometry, source.scale, source.crs)
    common = dict(
        tile=source.tile,
        retries=source.retries,
        max_pixels=source.max_pixels,
        cache=source.cache,
        progress=progress,
        sleep=sleep or time.sleep,
    )
    request = asdict(source)
    for k in ("project", "cache", "tile", "retries", "max_pixels", "labels"):
        request.pop(k)
    request["region"] = geometry.wkt
    cached = _cached(source.cache, [request, grid]) and (
        source.labels is None or _cached(source.cache, [source.labels, request, grid])
    )
    if not cached:
        initialize(source.project)
    composite = None
    if not cached:
        composite = sentinel2_composite(
            geometry,
            source.start,
            source.end,
            source.bands,
            source.cloud_mask,  # type: ignore[arg-type]
            source.reducer,
            source.max_cloud,
            source.collection,
        )
    image = open_ee(
        composite,
        grid,
        bands=source.bands,
        key=cache_key([request, grid]),
        what="composite",
        **common,
    )
    if source.labels is None:
        return Fetched(image, None, None, grid)
    product = source.labels
    if cached:
        ids = DYNAMIC_WORLD_CLASSES if product == "dynamic_world" else WORLDCOVER_CLASSES
        label_obj, classes = None, dict(ids)
    else:
        label_obj, classes = label_image(product, geometry, source.start, source.end)
    raw = open_ee(
        label_obj,
        grid,
        bands=["label"],
        key=cache_key([product, request, grid]),
        what=f"{product} labels",
        **common,
    )
    labels = to_label_ids(raw.isel(band=0, drop=True))
    return Fetched(image, labels, classes, grid)


def _cached(cache: str | None, description: Any) -> bool:
    if not cache:
        return False
    record = Path(cache) / f"{cache_key(description)}.json"
    try:
        return bool(json.loads(record.read_text()).get("complete"))
    except (OSError, ValueError):
        return False


def to_label_ids(da: xr.DataArray) -> xr.DataArray:
    """Float class ids with NaN (from xee) -> uint8 with 255 (NO_LABEL) where missing."""

    values = np.asarray(da.values)
    ids = np.where(np.isnan(values), NO_LABEL, values).astype(np.uint8)
    out = da.copy(data=ids)
    out.name = "labels"
    return out.rio.write_nodata(NO_LABEL, encoded=False)


def write_prepare_inputs(fetched: Fetched, folder: str | os.PathLike) -> tuple[str, str | None]:
    """Write the labels as a GeoTIFF (with a ``class_names`` tag) beside the cached image.

    Returns:
        ``(image, labels)`` paths for :class:`terralearn.store.PrepareConfig`: the image is the
        cache Zarr when cached (else written as a GeoTIFF too), labels a GeoTIFF or None.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source = fetched.image.attrs.get("source")
    if isinstance(source, str) and source.endswith(".zarr"):
        image_path = source
    else:
        image_path = str(folder / "ee_image.tif")
        fetched.image.rio.to_raster(image_path, tiled=True)
    if fetched.labels is None:
        return image_path, None
    labels_path = folder / f"ee_labels_{cache_key([fetched.grid, fetched.classes])}.tif"
    tags = {"class_names": json.dumps({str(k): v for k, v in (fetched.classes or {}).items()})}
    fetched.labels.rio.to_raster(labels_path, tags=tags, dtype="uint8")
    return image_path, str(labels_path)


def expand_prepare_values(values: dict[str, Any], progress: bool = True) -> dict[str, Any]:
    """Resolve an ``earthengine:`` section of prepare config values into ``images``/``labels``.

    The section is an :class:`EarthEngineSource` mapping; the composite and labels are fetched
    (or read from the cache) and their paths put in ``images`` and ``labels``. Values without
    the section are returned unchanged.
    """
    section = values.get("earthengine")
    if section is None:
        return values
    if not isinstance(section, dict):
        raise ConfigError("the earthengine config section must be a mapping of option: value")
    if values.get("images"):
        raise ConfigError(
            "give either images or an earthengine section in the prepare config, not both"
        )
    source = EarthEngineSource.from_dict(section)
    fetched = fetch(source, progress=progress)
    image_path, labels_path = write_prepare_inputs(fetched, source.cache)
    out = {k: v for k, v in values.items() if k != "earthengine"}
    out["images"] = [image_path]
    if labels_path is not None and not out.get("labels"):
        out["labels"] = [labels_path]
    return out
