"""Class tables: each class's code in the labels, its index in the model, its name and colour.

A label product stores classes as codes (NLCD 11..95, CORINE 111..523, a colour in an RGB mask);
a model wants contiguous indices ``0..K-1``. A :class:`ClassTable` holds both sides: the chip store
keeps indices (uint8, :data:`NO_LABEL` = no label), ``predict`` writes the codes back.

Tables come from (highest precedence first) a ``--classes`` file (:func:`read_class_file`), the
label raster's own category names and colour table (:mod:`terralearn.io.labels`), a built-in
product (:func:`product_table`, :func:`recognise_product`) or polygon class names. Pure Python
and numpy: no torch, no rasterio.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from terralearn.errors import ConfigError, InputNotFoundError
from terralearn.pixels import NO_LABEL

log = logging.getLogger(__name__)

IGNORE_NAME = "ignore"
"""A class name that means "no label" in a ``--classes`` file."""
MAX_CODE = 65534
"""Highest label code (``predict`` writes codes as uint16 with nodata 65535 above 254)."""

_HEX = re.compile(r"#[0-9a-fA-F]{6}")

# The default palette (matplotlib tab10, then the light tab20 partners): the same as
# ``terralearn.viz.colors.DEFAULT_CLASS_COLORS`` starts with, so figures and maps agree.
DEFAULT_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip


def default_color(index: int) -> str:
    """The palette colour of class ``index`` (``#rrggbb``)."""
    return DEFAULT_COLORS[index % len(DEFAULT_COLORS)]


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``"#RRGGBB"`` -> ``(r, g, b)`` ints 0..255."""
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def rgb_to_hex(rgb: Sequence[int]) -> str:
    """``(r, g, b)`` -> ``"#rrggbb"``."""
    return "#" + "".join(f"{int(c):02x}" for c in rgb[:3])


@dataclass(frozen=True)
class ClassInfo:
    """One class.

    Attributes:
        index: contiguous index in the model and in the chip store's masks (0..254).
        code: the value ``predict`` writes for it (the label code; the index for colour masks).
        name: display name.
        color: ``#rrggbb``.
        values: every label value that means this class (codes, or ``#RRGGBB`` mask colours);
            more than one when a ``--classes`` file merges values.
    """

    index: int
    code: int
    name: str
    color: str
    values: tuple = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "index": self.index,
            "code": self.code,
            "name": self.name,
            "color": self.color,
        }
        if self.values and list(self.values) != [self.code]:
            data["values"] = list(self.values)
        return data


class ClassTable:
    """Classes in index order, with lookups from label values to indices.

    Args:
        classes: the classes; their ``index`` must be ``0..K-1`` in order.
        ignore: label values that mean "no label" (mapped to :data:`NO_LABEL`).
    """

    def __init__(self, classes: Sequence[ClassInfo], ignore: Iterable = ()) -> None:
        self.classes = tuple(classes)
        for i, c in enumerate(self.classes):
            if c.index != i:
                raise ValueError(f"class {c.name!r} has index {c.index}, expected {i}")
        if len(self.classes) > NO_LABEL:
            raise ConfigError(
                f"{len(self.classes)} classes; at most {NO_LABEL} fit in uint8 labels: merge "
                "classes with a --classes file"
            )
        self.ignore = tuple(ignore)
        self._index: dict = {}
        for c in self.classes:
            for v in c.values or (c.code,):
                self._index[_key(v)] = c.index
        for v in self.ignore:
            self._index[_key(v)] = NO_LABEL

    # --- views ---

    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self) -> Iterator[ClassInfo]:
        return iter(self.classes)

    def __getitem__(self, index: int) -> ClassInfo:
        return self.classes[index]

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ClassTable)
            and self.classes == other.classes
            and self.ignore == other.ignore
        )

    def __repr__(self) -> str:
        return f"ClassTable({[(c.code, c.name) for c in self.classes]})"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def colors(self) -> list[str]:
        return [c.color for c in self.classes]

    @property
    def codes(self) -> list[int]:
        return [c.code for c in self.classes]

    @property
    def as_dict(self) -> dict[int, str]:
        """Index -> name (what ``store.json`` and ``run.json`` keep as ``classes``)."""
        return {c.index: c.name for c in self.classes}

    @property
    def is_color_mask(self) -> bool:
        """True when the label values are ``#RRGGBB`` mask colours."""
        return any(isinstance(v, str) for c in self.classes for v in c.values) or any(
            isinstance(v, str) for v in self.ignore
        )

    def index_of(self, value) -> int | None:
        """The index of a label value (:data:`NO_LABEL` for ignore values), None if unknown."""
        return self._index.get(_key(value))

    def rgb(self, index: int) -> tuple[int, int, int]:
        return hex_to_rgb(self.classes[index].color)

    def colormap(self, by: str = "code") -> dict[int, tuple[int, int, int, int]]:
        """A GDAL colour table: ``code`` (or ``index``) -> RGBA, for every class."""
        return {
            (c.code if by == "code" else c.index): (*hex_to_rgb(c.color), 255) for c in self.classes
        }

    # --- (de)serialisation ---

    def to_json(self) -> list[dict[str, Any]]:
        """``[{index, code, name, color[, values]}, ...]`` (ignore values as ``{name: "ignore"}``)."""
        data = [c.to_json() for c in self.classes]
        if self.ignore:
            data.append({"name": IGNORE_NAME, "values": list(self.ignore)})
        return data

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> ClassTable:
        classes, ignore = [], []
        for item in data:
            if item.get("index") is None:
                ignore.extend(item.get("values", []))
                continue
            values = tuple(item.get("values") or (item["code"],))
            classes.append(
                ClassInfo(
                    int(item["index"]),
                    int(item["code"]),
                    str(item["name"]),
                    str(item["color"]),
                    values,
                )
            )
        return cls(classes, ignore)

    @classmethod
    def from_names(cls, names: Mapping[int, str]) -> ClassTable:
        """A table for index -> name (stores and runs written before class tables): code = index."""
        return cls(
            [
                ClassInfo(i, i, str(names.get(i, f"class_{i}")), default_color(i), (i,))
                for i in range(max(names) + 1 if names else 0)
            ]
        )

    # --- label values -> indices ---

    def unknown(self, counts: Mapping) -> dict:
        """The values of ``counts`` (value -> pixels) that the table does not know."""
        return {v: n for v, n in counts.items() if self.index_of(v) is None}

    def check_values(
        self, counts: Mapping, source: str, what: str = "--classes", unit: str = "px"
    ) -> None:
        """Raise ConfigError naming the label values (with pixel counts) not in the table."""
        unknown = self.unknown(counts)
        if unknown:
            shown = ", ".join(f"{_fmt(v)} ({n} {unit})" for v, n in sorted(unknown.items())[:8])
            more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
            fix = (
                "check that the labels are that product, or name their classes with --classes FILE"
                if what.startswith("--label-product")
                else f"add them to the table (name {IGNORE_NAME!r} for no label)"
            )
            raise ConfigError(
                f"labels {source} hold {len(unknown)} value(s) not in {what}: {shown}{more} "
                f"({sum(unknown.values())} {unit} in all); {fix}"
            )

    def lookup(self, values: Sequence) -> np.ndarray:
        """uint8 indices of ``values`` (:data:`NO_LABEL` for ignore and unknown values)."""
        out = [self.index_of(v) for v in values]
        return np.array([NO_LABEL if i is None else i for i in out], dtype=np.uint8)


def _key(value):
    """Lookup key of a label value: ints for codes (1.0 == 1), upper-case ``#RRGGBB`` colours."""
    if isinstance(value, str):
        return value.upper() if _HEX.fullmatch(value) else value
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# --- --classes files ---------------------------------------------------------------------------


def read_class_file(path: str | os.PathLike) -> ClassTable:
    """A class table from a CSV or YAML file of ``value,name[,color]`` rows.

    ``value`` is a label code (integer) or a ``#RRGGBB`` mask colour; the name ``ignore`` means
    "no label"; rows sharing a name merge their values into one class (its code is the first
    value). Classes are indexed in order of first appearance. YAML: a list of mappings with the
    same keys, or a mapping ``value: name`` / ``value: {name, color}``.

    Raises:
        InputNotFoundError: the file does not exist.
        ConfigError: a row is malformed (missing name, bad value or colour, duplicate value).
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"--classes {str(path)!r} does not exist; check the path")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--classes {path} is not valid YAML ({exc})") from None
        if isinstance(data, Mapping):
            data = [
                {"value": k, **(v if isinstance(v, Mapping) else {"name": v})}
                for k, v in data.items()
            ]
        if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
            raise ConfigError(
                f"--classes {path}: give a list of {{value, name, color}} mappings or a mapping "
                "value: name"
            )
        rows = [(i + 1, r) for i, r in enumerate(data)]
    elif path.suffix.lower() in (".csv", ".txt"):
        reader = csv.DictReader(io.StringIO(text))
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "value" not in fields or "name" not in fields:
            raise ConfigError(
                f"--classes {path} has columns {fields}; the header must be value,name[,color]"
            )
        rows = [
            (i + 2, {str(k).strip().lower(): v for k, v in r.items() if k is not None})
            for i, r in enumerate(reader)
        ]
    else:
        raise ConfigError(
            f"--classes {path}: unknown file type {path.suffix!r}; give a .csv or .yaml file"
        )
    return _table_from_rows(rows, str(path))


def _parse_value(raw, where: str):
    if isinstance(raw, str):
        text = raw.strip()
        if _HEX.fullmatch(text):
            return text.upper()
        try:
            number = float(text)
        except ValueError:
            number = None
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        number = float(raw)
    else:
        number = None
    if number is None or not number.is_integer() or not 0 <= number <= MAX_CODE:
        raise ConfigError(
            f"{where}: value {raw!r} is neither a label code (integer 0..{MAX_CODE}) nor a "
            "#RRGGBB mask colour"
        )
    return int(number)


def _parse_color(raw, where: str) -> str | None:
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip()
    if not _HEX.fullmatch(text):
        raise ConfigError(f"{where}: colour {raw!r} is not #RRGGBB (e.g. #1a9641)")
    return text.lower()


def _table_from_rows(rows: list[tuple[int, Mapping]], source: str) -> ClassTable:
    order: list[str] = []
    values: dict[str, list] = {}
    colors: dict[str, str | None] = {}
    ignore: list = []
    seen: dict = {}
    for line, row in rows:
        where = f"--classes {source} line {line}"
        value = _parse_value(row.get("value"), where)
        name = str(row.get("name") or "").strip()
        if not name:
            raise ConfigError(f"{where}: value {_fmt(value)} has no name")
        color = _parse_color(row.get("color"), where)
        key = _key(value)
        if key in seen:
            raise ConfigError(
                f"{where}: value {_fmt(value)} is listed twice (also line {seen[key]}); give "
                "each value once"
            )
        seen[key] = line
        if name.lower() == IGNORE_NAME:
            ignore.append(value)
            continue
        if name not in values:
            order.append(name)
            values[name] = []
            colors[name] = None
        values[name].append(value)
        colors[name] = colors[name] or color
    if not order:
        raise ConfigError(f"--classes {source} names no class (only {IGNORE_NAME!r} rows)")
    kinds = {isinstance(v, str) for vs in values.values() for v in vs} | {
        isinstance(v, str) for v in ignore
    }
    if len(kinds) > 1:
        raise ConfigError(
            f"--classes {source} mixes label codes and #RRGGBB colours; use one kind of value"
        )
    classes = []
    for i, name in enumerate(order):
        first = values[name][0]
        code = first if isinstance(first, int) else i
        color = colors[name] or (first.lower() if isinstance(first, str) else default_color(i))
        classes.append(ClassInfo(i, code, name, color, tuple(values[name])))
    return ClassTable(classes, ignore)


# --- built-in products -------------------------------------------------------------------------

_NLCD = {
    11: ("Open Water", "#466b9f"),
    12: ("Perennial Ice/Snow", "#d1def8"),
    21: ("Developed, Open Space", "#dec5c5"),
    22: ("Developed, Low Intensity", "#d99282"),
    23: ("Developed, Medium Intensity", "#eb0000"),
    24: ("Developed, High Intensity", "#ab0000"),
    31: ("Barren Land (Rock/Sand/Clay)", "#b3ac9f"),
    41: ("Deciduous Forest", "#68ab5f"),
    42: ("Evergreen Forest", "#1c5f2c"),
    43: ("Mixed Forest", "#b5c58f"),
    51: ("Dwarf Scrub", "#af963c"),
    52: ("Shrub/Scrub", "#ccb879"),
    71: ("Grassland/Herbaceous", "#dfdfc2"),
    72: ("Sedge/Herbaceous", "#d1d182"),
    73: ("Lichens", "#a3cc51"),
    74: ("Moss", "#82ba9e"),
    81: ("Pasture/Hay", "#dcd939"),
    82: ("Cultivated Crops", "#ab6c28"),
    90: ("Woody Wetlands", "#b8d9eb"),
    95: ("Emergent Herbaceous Wetlands", "#6c9fb8"),
}
_WORLDCOVER = {
    10: ("Tree cover", "#006400"),
    20: ("Shrubland", "#ffbb22"),
    30: ("Grassland", "#ffff4c"),
    40: ("Cropland", "#f096ff"),
    50: ("Built-up", "#fa0000"),
    60: ("Bare / sparse vegetation", "#b4b4b4"),
    70: ("Snow and ice", "#f0f0f0"),
    80: ("Permanent water bodies", "#0064c8"),
    90: ("Herbaceous wetland", "#0096a0"),
    95: ("Mangroves", "#00cf75"),
    100: ("Moss and lichen", "#fae6a0"),
}
_DYNAMIC_WORLD = {
    0: ("water", "#419bdf"),
    1: ("trees", "#397d49"),
    2: ("grass", "#88b053"),
    3: ("flooded_vegetation", "#7a87c6"),
    4: ("crops", "#e49635"),
    5: ("shrub_and_scrub", "#dfc35a"),
    6: ("built", "#c4281b"),
    7: ("bare", "#a59b8f"),
    8: ("snow_and_ice", "#b39fe1"),
}
# CORINE Land Cover level 3 (CLC nomenclature and its standard RGB legend)
_CORINE = {
    111: ("Continuous urban fabric", "#e6004d"),
    112: ("Discontinuous urban fabric", "#ff0000"),
    121: ("Industrial or commercial units", "#cc4df2"),
    122: ("Road and rail networks and associated land", "#cc0000"),
    123: ("Port areas", "#e6cccc"),
    124: ("Airports", "#e6cce6"),
    131: ("Mineral extraction sites", "#a600cc"),
    132: ("Dump sites", "#a64d00"),
    133: ("Construction sites", "#ff4dff"),
    141: ("Green urban areas", "#ffa6ff"),
    142: ("Sport and leisure facilities", "#ffe6ff"),
    211: ("Non-irrigated arable land", "#ffffa8"),
    212: ("Permanently irrigated land", "#ffff00"),
    213: ("Rice fields", "#e6e600"),
    221: ("Vineyards", "#e68000"),
    222: ("Fruit trees and berry plantations", "#f2a64d"),
    223: ("Olive groves", "#e6a600"),
    231: ("Pastures", "#e6e64d"),
    241: ("Annual crops associated with permanent crops", "#ffe6a6"),
    242: ("Complex cultivation patterns", "#ffe64d"),
    243: (
        "Land principally occupied by agriculture, with significant areas of natural vegetation",
        "#e6cc4d",
    ),
    244: ("Agro-forestry areas", "#f2cca6"),
    311: ("Broad-leaved forest", "#80ff00"),
    312: ("Coniferous forest", "#00a600"),
    313: ("Mixed forest", "#4dff00"),
    321: ("Natural grasslands", "#ccf24d"),
    322: ("Moors and heathland", "#a6ff80"),
    323: ("Sclerophyllous vegetation", "#a6e64d"),
    324: ("Transitional woodland-shrub", "#a6f200"),
    331: ("Beaches, dunes, sands", "#e6e6e6"),
    332: ("Bare rocks", "#cccccc"),
    333: ("Sparsely vegetated areas", "#ccffcc"),
    334: ("Burnt areas", "#000000"),
    335: ("Glaciers and perpetual snow", "#a6e6cc"),
    411: ("Inland marshes", "#a6a6ff"),
    412: ("Peat bogs", "#4d4dff"),
    421: ("Salt marshes", "#ccccff"),
    422: ("Salines", "#e6e6ff"),
    423: ("Intertidal flats", "#a6a6e6"),
    511: ("Water courses", "#00ccf2"),
    512: ("Water bodies", "#80f2e6"),
    521: ("Coastal lagoons", "#00ffa6"),
    522: ("Estuaries", "#a6ffe6"),
    523: ("Sea and ocean", "#e6f2ff"),
}

PRODUCTS: dict[str, dict[int, tuple[str, str]]] = {
    "nlcd": _NLCD,
    "worldcover": _WORLDCOVER,
    "dynamic-world": _DYNAMIC_WORLD,
    "corine": _CORINE,
}
"""Built-in label products: code -> (official name, official colour)."""
PRODUCT_TITLES = {
    "nlcd": "NLCD (USGS National Land Cover Database)",
    "worldcover": "ESA WorldCover",
    "dynamic-world": "Dynamic World",
    "corine": "CORINE Land Cover (level 3)",
}
_ALIASES = {
    "esa-worldcover": "worldcover",
    "esa_worldcover": "worldcover",
    "dynamic_world": "dynamic-world",
    "dynamicworld": "dynamic-world",
    "clc": "corine",
    "corine-land-cover": "corine",
}
# Products recognised from their codes alone: sparse codes (Dynamic World's 0..8 are plain
# small integers that any label raster may hold, so it is only used when named).
RECOGNISABLE = ("nlcd", "worldcover", "corine")


def product_name(name: str) -> str:
    """The canonical key of a product name (``"ESA WorldCover"`` -> ``"worldcover"``)."""
    key = name.strip().lower().replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key not in PRODUCTS:
        raise ConfigError(
            f"--label-product {name!r} is unknown; use one of {', '.join(PRODUCTS)} (or give the "
            "classes with --classes FILE)"
        )
    return key


def product_table(name: str) -> ClassTable:
    """The full class table of a built-in product (every code, in code order)."""
    entries = PRODUCTS[product_name(name)]
    return ClassTable(
        [
            ClassInfo(i, code, label, color, (code,))
            for i, (code, (label, color)) in enumerate(sorted(entries.items()))
        ]
    )


def recognise_product(codes: Iterable[int]) -> str | None:
    """The one built-in product whose codes the (sparse) ``codes`` all belong to, else None.

    Recognises only sets of at least two codes that are not a run of consecutive integers and
    fit exactly one of :data:`RECOGNISABLE` (plain codes such as 1..7 are never a product).
    """
    present = sorted({int(c) for c in codes})
    if len(present) < 2 or present[-1] - present[0] + 1 == len(present):
        return None
    fits = [p for p in RECOGNISABLE if set(present) <= set(PRODUCTS[p])]
    return fits[0] if len(fits) == 1 else None


def table_for_codes(
    codes: Iterable[int],
    names: Mapping[int, str] | None = None,
    colors: Mapping[int, str] | None = None,
    product: str | None = None,
) -> ClassTable:
    """A table of exactly ``codes`` (sorted; index = rank), named and coloured.

    Names and colours come from ``names``/``colors`` (the raster's own metadata), then the
    built-in ``product``, then ``class_<code>`` and the default palette.
    """
    names, colors = names or {}, colors or {}
    entries = PRODUCTS[product_name(product)] if product else {}
    classes = []
    for i, code in enumerate(sorted({int(c) for c in codes})):
        name = names.get(code) or entries.get(code, (f"class_{code}", ""))[0]
        color = colors.get(code) or entries.get(code, ("", ""))[1] or default_color(i)
        classes.append(ClassInfo(i, code, name, color, (code,)))
    return ClassTable(classes)


# --- colour-coded masks ------------------------------------------------------------------------


def decode_color_mask(rgb: np.ndarray, table: ClassTable, source: str = "mask") -> np.ndarray:
    """Class indices of an RGB mask whose colours are the ``#RRGGBB`` values of ``table``.

    Args:
        rgb: ``(3, H, W)`` uint8.
        table: a table with colour values (``ignore`` colours give :data:`NO_LABEL`).
        source: the mask file, for messages.

    Returns:
        ``(H, W)`` uint8 class indices.

    Raises:
        ConfigError: a colour of the mask is not in the table (lists the first few with their
            pixel counts).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ConfigError(f"mask {source}: expected 3 colour bands (3, H, W), got {rgb.shape}")
    packed = (
        (rgb[0].astype(np.uint32) << 16)
        | (rgb[1].astype(np.uint32) << 8)
        | rgb[2].astype(np.uint32)
    )
    colors, inverse, counts = np.unique(packed.ravel(), return_inverse=True, return_counts=True)
    hexes = [f"#{int(c):06X}" for c in colors]
    unknown = [(h, int(n)) for h, n in zip(hexes, counts, strict=True) if table.index_of(h) is None]
    if unknown:
        unknown.sort(key=lambda item: -item[1])
        shown = ", ".join(f"{h} ({n} px)" for h, n in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise ConfigError(
            f"mask {source} has {len(unknown)} colour(s) not in the class table: {shown}{more}; "
            f"add them to --classes (name {IGNORE_NAME!r} for no label)"
        )
    return table.lookup(hexes)[inverse].reshape(packed.shape)
