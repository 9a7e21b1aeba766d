"""Class colours and true-colour composites.

Class ids keep their colour across every figure of a run: id ``i`` takes ``DEFAULT_CLASS_COLORS[i]``
unless the caller gives a colour, so a class absent from one map does not shift the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch

from terralearn.errors import ConfigError
from terralearn.viz._figure import NODATA_RGBA, as_numpy


def _rgb255(rgba) -> tuple[int, int, int]:
    return tuple(int(round(c * 255)) for c in rgba[:3])  # type: ignore[return-value]


# tab10 first (strong, distinct), then the light tab20 partners, then tab20b/tab20c for big legends
DEFAULT_CLASS_COLORS: list[tuple[int, int, int]] = (
    [_rgb255(c) for c in colormaps["tab10"].colors]
    + [_rgb255(c) for c in colormaps["tab20"].colors[1::2]]
    + [_rgb255(c) for c in colormaps["tab20b"].colors]
    + [_rgb255(c) for c in colormaps["tab20c"].colors]
)

# Band names (lower case) of (red, green, blue), most specific first
_RGB_NAMES: tuple[tuple[str, str, str], ...] = (
    ("b4", "b3", "b2"),  # Sentinel-2 and Landsat 8/9 OLI
    ("b04", "b03", "b02"),  # Sentinel-2 zero-padded (SAFE, Planetary Computer)
    ("red", "green", "blue"),
    ("sr_b4", "sr_b3", "sr_b2"),  # Landsat Collection 2 surface reflectance
    ("r", "g", "b"),
)


# Land-cover names people expect in a given colour (matched on the lower-cased class name).
NAMED_CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "water": (30, 90, 200),
    "forest": (20, 100, 40),
    "tree": (20, 100, 40),
    "trees": (20, 100, 40),
    "cropland": (235, 200, 50),
    "crop": (235, 200, 50),
    "crops": (235, 200, 50),
    "grassland": (140, 210, 100),
    "grass": (140, 210, 100),
    "bare soil": (160, 110, 70),
    "bare": (160, 110, 70),
    "built-up": (200, 40, 40),
    "built": (200, 40, 40),
    "developed": (200, 40, 40),
    "urban": (200, 40, 40),
    "snow": (230, 240, 250),
    "cloud": (250, 250, 250),
    "wetland": (90, 170, 170),
    "shrubland": (180, 150, 60),
}


def named_colors(classes: Mapping[int, str]) -> dict[int, tuple[int, int, int]]:
    """Colours for the classes whose names are well-known land-cover names."""
    return {
        int(k): NAMED_CLASS_COLORS[name.lower()]
        for k, name in classes.items()
        if name.lower() in NAMED_CLASS_COLORS
    }


def class_color(class_id: int, colors: Mapping[int, Sequence[int]] | None = None) -> tuple:
    """RGB colour (0-255 ints) of ``class_id``: the given one, else the default palette entry."""
    if colors is not None and class_id in colors:
        rgb = tuple(int(c) for c in colors[class_id])
        if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
            raise ConfigError(
                f"class colour for id {class_id} is {colors[class_id]!r}; "
                "give three integers 0-255 (red, green, blue)"
            )
        return rgb
    return DEFAULT_CLASS_COLORS[int(class_id) % len(DEFAULT_CLASS_COLORS)]


def class_colormap(
    classes: Mapping[int, str],
    colors: Mapping[int, Sequence[int]] | None = None,
) -> tuple[ListedColormap, BoundaryNorm, list[Patch]]:
    """Colormap, norm and legend handles that draw each class id in its own colour.

    Args:
        classes: class id -> name.
        colors: optional class id -> (r, g, b) in 0-255; ids not given take the colour of their
            name when it is a common land-cover name (water blue, forest green, ...), else the
            default palette.

    Returns:
        ``(cmap, norm, handles)``: use ``imshow(arr, cmap=cmap, norm=norm,
        interpolation="nearest")``; ``cmap(norm(i))`` is exactly the colour of id ``i``. Values
        that are not class ids fall in the bin of the next lower id, so mask them first (masked
        pixels draw light grey). ``handles`` are legend patches labelled with the class names,
        in id order.
    """
    if not classes:
        raise ConfigError("no classes given for the class colormap; pass at least one id -> name")
    ids = sorted(int(i) for i in classes)
    colors = {**named_colors(classes), **(colors or {})}
    rgb = [class_color(i, colors) for i in ids]
    cmap = ListedColormap(
        [tuple(c / 255 for c in col) for col in rgb], name="terralearn_classes"
    ).with_extremes(bad=NODATA_RGBA)
    # bins [id_k - 0.5, id_{k+1} - 0.5): each id sits inside its own bin, also for sparse ids
    boundaries = [i - 0.5 for i in ids] + [ids[-1] + 0.5]
    norm = BoundaryNorm(boundaries, ncolors=len(ids))
    handles = [
        Patch(
            facecolor=tuple(c / 255 for c in col), edgecolor="0.3", linewidth=0.5, label=classes[i]
        )
        for i, col in zip(ids, rgb, strict=True)
    ]
    return cmap, norm, handles


def nodata_handle(label: str = "nodata") -> Patch:
    """Legend patch for masked (ignored / nodata) pixels."""
    return Patch(facecolor=NODATA_RGBA, edgecolor="0.3", linewidth=0.5, label=label)


def rgb_band_indices(bands: Sequence[str]) -> list[int]:
    """Indices of the bands shown as red, green, blue (or one index for a grey image).

    Names are matched case-insensitively: ``B4 B3 B2`` (Sentinel-2, Landsat 8/9), ``B04 B03 B02``,
    ``red green blue``, ``SR_B4 SR_B3 SR_B2``, ``R G B``. Otherwise the first three bands are
    taken in order, or the first band alone as grey when there are fewer than three.
    """
    names = [str(b).strip().lower() for b in bands]
    for triple in _RGB_NAMES:
        if all(n in names for n in triple):
            return [names.index(n) for n in triple]
    return [0, 1, 2] if len(names) >= 3 else [0]


def percentile_limits(
    image: np.ndarray, valid: np.ndarray | None = None, q: tuple[float, float] = (2, 98)
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band low/high percentiles of a (C, H, W) image over valid, finite pixels.

    Bands without any valid pixel get (0, 1).
    """
    image = np.asarray(image, dtype=np.float64)
    low = np.zeros(image.shape[0])
    high = np.ones(image.shape[0])
    for c, band in enumerate(image):
        ok = np.isfinite(band)
        if valid is not None:
            ok &= valid
        if ok.any():
            low[c], high[c] = np.percentile(band[ok], q)
    return low, high


def _limits_for(
    values: Sequence[float] | None, picked: list[int], n_bands: int, name: str
) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == n_bands:
        return arr[picked]
    if arr.size == len(picked):
        return arr
    raise ConfigError(
        f"rgb_composite: {name} has {arr.size} values; give one per image band ({n_bands}) "
        f"or one per displayed channel ({len(picked)})"
    )


def rgb_composite(
    image: np.ndarray,
    bands: Sequence[str],
    low: Sequence[float] | None = None,
    high: Sequence[float] | None = None,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """A displayable (H, W, 3) true-colour (or grey) image in [0, 1] from a (C, H, W) array.

    Args:
        image: (C, H, W) array in any units (numpy, dask, xarray or torch).
        bands: the C band names; red/green/blue are picked by name (see
            :func:`rgb_band_indices`).
        low, high: stretch limits, one per image band (e.g. a chip store's p2/p98 statistics)
            or one per displayed channel. When omitted, each channel is stretched between its own
            2nd and 98th percentiles over valid pixels.
        valid: optional (H, W) boolean mask of valid pixels; non-finite values are invalid too.
            Invalid pixels are drawn white.

    Returns:
        float32 array (H, W, 3), values clipped to [0, 1].
    """
    image = as_numpy(image)
    if image.ndim == 2:
        image = image[None]
    if image.ndim != 3:
        raise ConfigError(f"rgb_composite: image has shape {image.shape}; expected (bands, H, W)")
    if len(bands) != image.shape[0]:
        raise ConfigError(
            f"rgb_composite: {len(bands)} band names for an image with {image.shape[0]} bands; "
            "give one name per band"
        )
    picked = rgb_band_indices(bands)
    data = image[picked].astype(np.float32)
    ok = np.isfinite(data).all(axis=0)
    if valid is not None:
        valid = as_numpy(valid).astype(bool)
        if valid.shape != ok.shape:
            raise ConfigError(
                f"rgb_composite: valid mask has shape {valid.shape}; expected {ok.shape}"
            )
        ok &= valid
    lo = _limits_for(low, picked, image.shape[0], "low")
    hi = _limits_for(high, picked, image.shape[0], "high")
    if lo is None or hi is None:
        own_lo, own_hi = percentile_limits(data, ok)
        lo = own_lo if lo is None else lo
        hi = own_hi if hi is None else hi
    span = np.where(hi > lo, hi - lo, 1.0)
    out = (data - lo[:, None, None].astype(np.float32)) / span[:, None, None].astype(np.float32)
    out = np.clip(np.nan_to_num(out, nan=1.0), 0.0, 1.0)
    out[:, ~ok] = 1.0
    if out.shape[0] == 1:
        out = np.repeat(out, 3, axis=0)
    return np.ascontiguousarray(np.moveaxis(out, 0, -1))
