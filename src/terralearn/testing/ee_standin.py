"""A local stand-in for the ``ee`` module (Earth Engine API), serving analytic arrays.

Earth Engine needs credentials and a network; tests and offline trials use this stand-in instead.
It implements the part of the ``ee`` API that xee and :mod:`terralearn.io.earthengine` call, with
lazy images evaluated only inside ``getInfo()`` / ``ee.data.computePixels()``, so xee's real
backend (grid projection, request chunking, ``np.block`` assembly) runs unchanged on top of it.

The catalog holds three products over a small area in lon/lat; every pixel value is a known
function of the pixel centre, so alignment can be checked exactly:

* ``COPERNICUS/S2_SR_HARMONIZED``: scenes with bands B1..B12, B8A, SCL, QA60. The clear-sky value
  of band ``B<k>`` at (lon, lat) is :func:`s2_value`; each scene hides a different square under a
  cloud (value 9000, SCL 9, QA60 bit 10), so a cloud-masked median returns the clear value.
* ``GOOGLE/DYNAMICWORLD/V1``: scenes with a ``label`` band equal to :func:`dw_label` in two of
  three scenes (the third is off by one), so the mode is :func:`dw_label`.
* ``ESA/WorldCover/v200``: one image with a ``Map`` band of WorldCover codes (:func:`wc_code`).

Use :func:`installed` to swap it in for ``ee`` (``sys.modules``, xee's modules) in a ``with`` block.
"""

from __future__ import annotations

import contextlib
import json
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyproj import Transformer

from terralearn._extras import require

EXTENT = (11.0, 46.0, 11.2, 46.15)  # lon/lat box covered by the catalog
S2_BANDS = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
S2_TIMES = [1688169600000 + k * 5 * 86_400_000 for k in range(3)]  # 2023-07-01 + 5 days
REQUEST_LIMIT = 50_331_648  # bytes per computePixels request, as Earth Engine enforces


def s2_value(band: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Clear-sky value of a Sentinel-2 band at (lon, lat): an integer in 1..9999."""
    k = S2_BANDS.index(band) + 1
    return np.floor(1000 + 100 * k + 30000 * (lon - EXTENT[0]) + 20000 * (lat - EXTENT[1]))


def dw_label(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Dynamic World class id (0..8) at (lon, lat): stripes of 0.02 degrees in longitude."""
    return (np.floor((lon - EXTENT[0]) / 0.02) % 9).astype(np.float64)


def wc_code(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """ESA WorldCover code at (lon, lat): stripes in latitude through 10, 20, ..., 100, 95."""
    codes = np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100], dtype=np.float64)
    return codes[(np.floor((lat - EXTENT[1]) / 0.01) % len(codes)).astype(int)]


def _cloud(scene: int, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Scene ``scene`` has a cloud over its own third of the area (a square never shared)."""
    x0 = EXTENT[0] + scene * 0.06
    return (lon >= x0) & (lon < x0 + 0.05) & (lat >= 46.03) & (lat < 46.08)


class EEException(Exception):
    """Raised by the stand-in where Earth Engine raises ``ee.EEException``."""


@dataclass
class World:
    """State of the stand-in: call counters, injected failures, credentials."""

    authenticated: bool = True
    calls: dict[str, int] = field(default_factory=lambda: {"computePixels": 0, "getInfo": 0})
    fail_pixels: list[Exception] = field(default_factory=list)  # raised by the next calls, in order
    initialized_with: dict | None = None
    requests: list[dict] = field(default_factory=list)  # grid of each computePixels call

    def compute_pixels(self, params: dict) -> np.ndarray:
        self.calls["computePixels"] += 1
        if self.fail_pixels:
            raise self.fail_pixels.pop(0)
        grid = params["grid"]
        width, height = grid["dimensions"]["width"], grid["dimensions"]["height"]
        image: Image = params["expression"]
        size = width * height * len(image._info()["bands"]) * (np.dtype(np.float64).itemsize + 1)
        if size > REQUEST_LIMIT:
            raise EEException(
                f"Total request size ({size} bytes) must be less than or equal to "
                f"{REQUEST_LIMIT} bytes."
            )
        self.requests.append(grid)
        bands = image._eval(_Grid.from_params(grid))
        names = [f"{name}_{i}" for i, (name, _) in enumerate(bands)]
        out = np.zeros((height, width), dtype=[(n, "<f8") for n in names])
        for n, (_, values) in zip(names, bands, strict=True):
            out[n] = values
        return out


@dataclass
class _Grid:
    lon: np.ndarray
    lat: np.ndarray

    @classmethod
    def from_params(cls, grid: dict) -> _Grid:
        t = grid["affineTransform"]
        w, h = grid["dimensions"]["width"], grid["dimensions"]["height"]
        col, row = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
        x = t["translateX"] + col * t["scaleX"] + row * t["shearX"]
        y = t["translateY"] + col * t["shearY"] + row * t["scaleY"]
        to_lonlat = Transformer.from_crs(grid["crsCode"], "EPSG:4326", always_xy=True)
        lon, lat = to_lonlat.transform(x, y)
        return cls(np.asarray(lon), np.asarray(lat))


Bands = list[tuple[str, np.ma.MaskedArray]]


def _masked(values: np.ndarray, mask: np.ndarray | None = None) -> np.ma.MaskedArray:
    return np.ma.masked_array(values.astype(np.float64), mask=mask if mask is not None else False)


class Image:
    """A lazy image: ``_fn(grid) -> [(band, masked array)]`` plus properties."""

    def __init__(self, arg: Any = None, _fn: Callable[[_Grid], Bands] | None = None, _props=None):
        if isinstance(arg, Image):
            _fn, _props = arg._fn, arg._props
        elif isinstance(arg, str):
            asset = arg

            def _fn(grid: _Grid) -> Bands:
                raise EEException(
                    f"Image.load: Image asset '{asset}' not found (does not exist or caller "
                    "does not have access)."
                )
        elif isinstance(arg, int | float):
            value = float(arg)
            _fn = _fn or (lambda g: [("constant", _masked(np.full(g.lon.shape, value)))])
        elif arg is None and _fn is None:  # ee.Image(): one fully masked band "constant"
            _fn = lambda g: [("constant", _masked(np.zeros(g.lon.shape), True))]  # noqa: E731
        self._fn = _fn
        self._props = dict(_props or {})

    def _eval(self, grid: _Grid) -> Bands:
        return self._fn(grid)

    def _derive(self, fn: Callable[[Bands, _Grid], Bands]) -> Image:
        parent = self
        return Image(_fn=lambda g: fn(parent._eval(g), g), _props=self._props)

    def _band_op(self, op: Callable[[np.ma.MaskedArray], np.ma.MaskedArray]) -> Image:
        return self._derive(lambda bands, g: [(n, op(v)) for n, v in bands])

    # -- band selection and naming
    def select(self, *selectors: Any) -> Image:
        sel = selectors[0] if len(selectors) == 1 else list(selectors)

        def pick(bands: Bands, g: _Grid) -> Bands:
            if isinstance(sel, _BandNames):
                return [bands[i] for i in sel.positions(len(bands))]
            items = sel if isinstance(sel, list) else [sel]
            out = []
            for item in items:
                if isinstance(item, int):
                    out.append(bands[item])
                    continue
                found = [b for b in bands if b[0] == item]
                if not found:
                    have = [n for n, _ in bands]
                    raise EEException(
                        f"Image.select: Band pattern '{item}' did not match any bands. Available bands: {have}"
                    )
                out.extend(found)
            return out

        return self._derive(pick)

    def bandNames(self) -> _BandNames:  # noqa: N802  (Earth Engine's names)
        return _BandNames(self)

    def rename(self, *names: Any) -> Image:
        new = list(names[0]) if len(names) == 1 and isinstance(names[0], list) else list(names)
        return self._derive(lambda bands, g: [(n, v) for n, (_, v) in zip(new, bands, strict=True)])

    def addBands(self, other: Image, names: list[str] | None = None, overwrite=False) -> Image:  # noqa: N802
        first = self

        def add(g: _Grid) -> Bands:
            extra = other._eval(g)
            if names is not None:
                extra = [b for b in extra if b[0] in names]
            return first._eval(g) + extra

        return Image(_fn=add, _props=self._props)

    # -- masks and arithmetic
    def unmask(self, value: float = 0, sameFootprint: bool = True) -> Image:  # noqa: N803
        return self._band_op(lambda v: _masked(np.ma.filled(v, value)))

    def updateMask(self, mask: Image) -> Image:  # noqa: N802
        def apply(bands: Bands, g: _Grid) -> Bands:
            m = mask._eval(g)[0][1]
            hide = np.ma.getmaskarray(m) | (np.ma.filled(m, 0) == 0)
            return [(n, np.ma.masked_array(v.data, np.ma.getmaskarray(v) | hide)) for n, v in bands]

        return self._derive(apply)

    def eq(self, value: float) -> Image:
        return self._band_op(lambda v: (v == value).astype(np.float64))

    def neq(self, value: float) -> Image:
        return self._band_op(lambda v: (v != value).astype(np.float64))

    def bitwiseAnd(self, value: int) -> Image:  # noqa: N802
        return self._band_op(
            lambda v: np.ma.masked_array(
                np.bitwise_and(v.data.astype(np.int64), value).astype(np.float64), v.mask
            )
        )

    def remap(self, src: list, dst: list, defaultValue: Any = None, bandName: Any = None) -> Image:  # noqa: N803
        table = dict(zip(src, dst, strict=True))

        def fn(v: np.ma.MaskedArray) -> np.ma.MaskedArray:
            out = np.array([table.get(float(x), np.nan) for x in v.data.ravel()]).reshape(v.shape)
            return np.ma.masked_array(np.nan_to_num(out), np.ma.getmaskarray(v) | np.isnan(out))

        return self._band_op(fn)

    def And(self, other: Image) -> Image:  # noqa: N802
        return self._binary(other, lambda a, b: ((a != 0) & (b != 0)).astype(np.float64))

    def divide(self, value: float) -> Image:
        return self._band_op(lambda v: v / value)

    def _binary(self, other: Image, op) -> Image:
        return self._derive(lambda bands, g: [(n, op(v, other._eval(g)[0][1])) for n, v in bands])

    def toUint8(self) -> Image:  # noqa: N802
        return self

    def toFloat(self) -> Image:  # noqa: N802
        return self

    def copyProperties(self, source: Image, properties: list[str] | None = None) -> Image:  # noqa: N802
        props = {
            **self._props,
            **{k: v for k, v in source._props.items() if properties is None or k in properties},
        }
        return Image(_fn=self._fn, _props=props)

    def set(self, key: str, value: Any) -> Image:
        return Image(_fn=self._fn, _props={**self._props, key: value})

    def clip(self, geometry: Any) -> Image:
        return self

    # -- client side
    def getInfo(self) -> dict:  # noqa: N802
        _world().calls["getInfo"] += 1
        return self._info()

    def _info(self) -> dict:
        probe = _Grid(np.array([[EXTENT[0] + 1e-4]]), np.array([[EXTENT[1] + 1e-4]]))
        bands = [
            {
                "id": n,
                "data_type": {"type": "PixelType", "precision": "double"},
                "crs": "EPSG:4326",
                "crs_transform": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                "dimensions": [1, 1],
            }
            for n, _ in self._eval(probe)
        ]
        return {"type": "Image", "bands": bands, "properties": dict(self._props)}

    def serialize(self) -> str:
        return json.dumps({"standin-image": id(self._fn)})


class _BandNames:
    """``image.bandNames()``, sliceable (xee drops the first, empty, band this way)."""

    def __init__(self, image: Image, start: int = 0):
        self.image, self.start = image, start

    def slice(self, start: int, end: int | None = None) -> _BandNames:
        return _BandNames(self.image, self.start + start)

    def positions(self, n: int) -> range:
        return range(self.start, n)


class _Lazy:
    """A server-side value: ``getInfo()`` evaluates it."""

    def __init__(self, fn: Callable[[], Any]):
        self._fn = fn

    def getInfo(self) -> Any:  # noqa: N802
        _world().calls["getInfo"] += 1
        return self._value()

    def _value(self) -> Any:
        return self._fn()

    def get(self, key: str) -> _Lazy:
        return _Lazy(lambda: self._value()[key])


class List(_Lazy):
    def __init__(self, items: Any):
        if isinstance(items, _Lazy):
            super().__init__(items._value)
        else:
            super().__init__(
                lambda: [i._value() if isinstance(i, _Lazy) else _resolve(i) for i in items]
            )

    def slice(self, start: int, end: int | None = None, step: int = 1) -> List:
        return List(_Lazy(lambda: self._value()[start:end:step]))


def _resolve(item: Any) -> Any:
    if isinstance(item, Image):
        return item._info()
    if isinstance(item, ImageCollection):
        return [im._info() for im in item._images()]
    return item


class ImageCollection:
    """A lazy collection; the catalog is consulted only when images are needed."""

    def __init__(self, arg: Any = None, _images: Callable[[], list[Image]] | None = None):
        if _images is not None:
            self._images = _images
        elif isinstance(arg, str):
            self._images = lambda: _catalog(arg)
        elif isinstance(arg, Image):
            self._images = lambda: [arg]
        elif isinstance(arg, List):
            self._images = lambda: list(arg._value())
        elif isinstance(arg, list):
            self._images = lambda: list(arg)
        else:
            raise TypeError(
                f"ImageCollection({type(arg).__name__}) is not supported by the stand-in"
            )

    def _derive(self, fn: Callable[[list[Image]], list[Image]]) -> ImageCollection:
        parent = self
        return ImageCollection(_images=lambda: fn(parent._images()))

    def filterBounds(self, geometry: Any) -> ImageCollection:  # noqa: N802
        return self

    def filterDate(self, start: str, end: str) -> ImageCollection:  # noqa: N802
        import pandas as pd

        t0, t1 = (pd.Timestamp(t).value // 1_000_000 for t in (start, end))
        return self._derive(
            lambda ims: [i for i in ims if t0 <= i._props.get("system:time_start", t0) < t1]
        )

    def filter(self, flt: Filter) -> ImageCollection:
        return self._derive(lambda ims: [i for i in ims if flt.test(i._props)])

    def map(self, fn: Callable[[Image], Image]) -> ImageCollection:
        return self._derive(lambda ims: [fn(i) for i in ims])

    def select(self, *bands: Any) -> ImageCollection:
        return self.map(lambda i: i.select(*bands).copyProperties(i))

    def limit(self, n: int, *args: Any) -> ImageCollection:
        return self._derive(lambda ims: ims[:n])

    def first(self) -> Image:
        parent = self
        return Image(_fn=lambda g: parent._images()[0]._eval(g))

    def size(self) -> _Lazy:
        return _Lazy(lambda: len(self._images()))

    def toDictionary(self) -> _Lazy:  # noqa: N802
        return _Lazy(lambda: {})

    def reduceColumns(self, reducer: Any, columns: list[str]) -> _Lazy:  # noqa: N802
        def lists() -> dict:
            ims = self._images()
            return {"list": [[i._props[c] for i in ims if c in i._props] for c in columns]}

        return _Lazy(lists)

    def toList(self, count: int, offset: int = 0) -> List:  # noqa: N802
        return List(_Lazy(lambda: self._images()[offset : offset + count]))

    def iterate(self, fn: Callable[[Image, Image], Image], first: Image) -> Image:
        def run(g: _Grid) -> Bands:
            acc = first
            for im in self._images():
                acc = fn(im, acc)
            return acc._eval(g)

        return Image(_fn=run)

    def _reduce(
        self, how: Callable[[np.ma.MaskedArray], np.ma.MaskedArray], suffix: str = ""
    ) -> Image:
        def run(g: _Grid) -> Bands:
            stacks = [im._eval(g) for im in self._images()]
            if not stacks:
                return []
            out = []
            for b, (name, _) in enumerate(stacks[0]):
                stack = np.ma.stack([s[b][1] for s in stacks])
                out.append((name + suffix, how(stack)))
            return out

        return Image(_fn=run)

    def median(self) -> Image:
        return self._reduce(lambda s: np.ma.median(s, axis=0))

    def mode(self) -> Image:
        def mode(stack: np.ma.MaskedArray) -> np.ma.MaskedArray:
            values = np.ma.filled(stack, -1).astype(np.int64) + 1
            counts = np.stack([(values == k).sum(0) for k in range(1, values.max() + 2)])
            best = counts.argmax(0).astype(np.float64)
            return np.ma.masked_array(best, counts.max(0) == 0)

        return self._reduce(mode)

    def reduce(self, reducer: Reducer) -> Image:
        q = reducer.percentiles[0]
        return self._reduce(lambda s: _percentile(s, q), suffix=f"_p{q}")

    def mosaic(self) -> Image:
        return self._reduce(lambda s: s[-1])

    def serialize(self) -> str:
        return json.dumps({"standin-collection": id(self)})


def _percentile(stack: np.ma.MaskedArray, q: float) -> np.ma.MaskedArray:
    data = np.where(np.ma.getmaskarray(stack), np.nan, stack.data)
    with np.errstate(all="ignore"), contextlib.suppress(RuntimeWarning):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out = np.nanpercentile(data, q, axis=0)
    return np.ma.masked_invalid(out)


@dataclass
class Filter:
    prop: str
    op: str
    value: Any

    @classmethod
    def lt(cls, prop: str, value: Any) -> Filter:
        return cls(prop, "lt", value)

    @classmethod
    def lte(cls, prop: str, value: Any) -> Filter:
        return cls(prop, "lte", value)

    def test(self, props: dict) -> bool:
        v = props.get(self.prop)
        return v is not None and (v < self.value if self.op == "lt" else v <= self.value)


@dataclass
class Reducer:
    percentiles: list[float] = field(default_factory=list)

    @classmethod
    def percentile(cls, percentiles: list[float]) -> Reducer:
        return cls(list(percentiles))

    @classmethod
    def toList(cls) -> Reducer:  # noqa: N802
        return cls()

    def repeat(self, n: int) -> Reducer:
        return self


class Geometry:
    """Only what terralearn builds: a GeoJSON geometry (the stand-in ignores footprints)."""

    def __init__(self, geojson: dict, proj: Any = None, geodesic: Any = None):
        self.geojson = geojson

    @classmethod
    def Rectangle(cls, coords: list[float], proj: Any = None, geodesic: Any = None) -> Geometry:  # noqa: N802
        x0, y0, x1, y1 = coords
        return cls(
            {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}
        )


# -- the catalog
def _s2_scene(k: int) -> Image:
    def fn(g: _Grid) -> Bands:
        inside = _inside(g)
        cloud = _cloud(k, g.lon, g.lat)
        out = []
        for band in S2_BANDS:
            values = np.where(cloud, 9000.0, s2_value(band, g.lon, g.lat))
            out.append((band, _masked(values, ~inside)))
        scl = np.where(cloud, 9.0, 4.0)
        qa = np.where(cloud, float(1 << 10), 0.0)
        return out + [("SCL", _masked(scl, ~inside)), ("QA60", _masked(qa, ~inside))]

    props = {
        "system:time_start": S2_TIMES[k],
        "system:id": f"COPERNICUS/S2_SR_HARMONIZED/2023070{k}",
        "CLOUDY_PIXEL_PERCENTAGE": 10.0 + k,
    }
    return Image(_fn=fn, _props=props)


def _dw_scene(k: int) -> Image:
    def fn(g: _Grid) -> Bands:
        label = dw_label(g.lon, g.lat)
        if k == 2:
            label = (label + 1) % 9
        return [("label", _masked(label, ~_inside(g)))]

    return Image(_fn=fn, _props={"system:time_start": S2_TIMES[k], "system:id": f"DW/{k}"})


def _wc_image() -> Image:
    fn = lambda g: [("Map", _masked(wc_code(g.lon, g.lat), ~_inside(g)))]  # noqa: E731
    return Image(
        _fn=fn, _props={"system:time_start": 1609459200000, "system:id": "ESA/WorldCover/v200/2021"}
    )


def _inside(g: _Grid) -> np.ndarray:
    return (g.lon >= EXTENT[0]) & (g.lon < EXTENT[2]) & (g.lat >= EXTENT[1]) & (g.lat < EXTENT[3])


def _catalog(asset: str) -> list[Image]:
    if asset == "COPERNICUS/S2_SR_HARMONIZED":
        return [_s2_scene(k) for k in range(3)]
    if asset == "GOOGLE/DYNAMICWORLD/V1":
        return [_dw_scene(k) for k in range(3)]
    if asset == "ESA/WorldCover/v200":
        return [_wc_image()]
    raise EEException(
        f"ImageCollection.load: ImageCollection asset '{asset}' not found (does not exist or "
        "caller does not have access)."
    )


# -- the module object
_WORLD: list[World] = []


def _world() -> World:
    return _WORLD[-1]


def make_module(world: World) -> types.ModuleType:
    """An object standing in for the ``ee`` module, bound to ``world``."""
    mod = types.ModuleType("ee")
    mod.__standin__ = world  # type: ignore[attr-defined]

    def initialize(project: str | None = None, **kwargs: Any) -> None:
        if not world.authenticated:
            raise EEException(
                "Please authorize access to your Earth Engine account by running\n\n"
                "earthengine authenticate\n\nin your command line, or ee.Authenticate() in Python."
            )
        world.initialized_with = {"project": project, **kwargs}

    data = types.SimpleNamespace(
        computePixels=world.compute_pixels,
        getUserAgent=lambda: "standin",
        setUserAgent=lambda agent: None,
        is_initialized=lambda: world.initialized_with is not None,
        listAssets=lambda params: {"assets": []},
    )
    exc_mod = types.SimpleNamespace(EEException=EEException)
    for name, value in {
        "Initialize": initialize,
        "Authenticate": lambda *a, **k: None,
        "EEException": EEException,
        "ee_exception": exc_mod,
        "data": data,
        "Image": Image,
        "ImageCollection": ImageCollection,
        "List": List,
        "Filter": Filter,
        "Reducer": Reducer,
        "Geometry": Geometry,
        "__version__": "standin",
    }.items():
        setattr(mod, name, value)
    return mod


@contextlib.contextmanager
def installed(world: World | None = None) -> Iterator[World]:
    """Replace ``ee`` (for terralearn and xee) by the stand-in inside a ``with`` block."""
    xee_ext, xee_helpers = require("xee.ext", "ee"), require("xee.helpers", "ee")

    world = world or World()
    module = make_module(world)
    saved = sys.modules.get("ee"), xee_ext.ee, xee_helpers.ee
    _WORLD.append(world)
    sys.modules["ee"] = module
    xee_ext.ee = module
    xee_helpers.ee = module
    try:
        yield world
    finally:
        _WORLD.pop()
        if saved[0] is None:
            sys.modules.pop("ee", None)
        else:
            sys.modules["ee"] = saved[0]
        xee_ext.ee, xee_helpers.ee = saved[1], saved[2]
