"""The chip store on disk: names of its parts and its metadata record.

```
STORE/
  store.json       format, version, chip size, bands, dtype, classes (index -> name, 0..K-1),
                   class_table (per class: index, code in the labels, name, colour), ignore
                   index, counts
  chips.zarr/      image (N, C, S, S) source dtype; mask (N, S, S) uint8; valid (N, S, S) bool
  index.parquet    one row per chip: chip_id, source, row_off, col_off, height, width,
                   minx, miny, maxx, maxy, crs, split, valid_fraction, weight, count_<k>
  stats.json       per-band statistics of the training split
  config.yaml      the resolved prepare config
```
Chip ``i`` of the arrays is row ``i`` of the index. The layout is plain arrays plus a table so
other exporters (TFRecord, WebDataset) only need to walk the index and slice the arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

FORMAT = "terralearn-chip-store"
VERSION = 1

META_FILE = "store.json"
ARRAYS_DIR = "chips.zarr"
INDEX_FILE = "index.parquet"
STATS_FILE = "stats.json"
CONFIG_FILE = "config.yaml"


@dataclass
class StoreMeta:
    """What ``store.json`` records about a chip store."""

    chip_size: int
    bands: list[str]
    dtype: str
    num_chips: int
    classes: dict[int, str] | None
    ignore_index: int
    sources: list[str]
    labels: list[str] | None
    crs: list[str]
    resolution: list[float]
    splits: dict[str, int] = field(default_factory=dict)
    # [{index, code, name, color[, values]}, ...]: see terralearn.classes.ClassTable.to_json;
    # None in stores written before class tables (code = index then)
    class_table: list[dict[str, Any]] | None = None
    format: str = FORMAT
    version: int = VERSION

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.classes is not None:
            data["classes"] = {str(k): v for k, v in self.classes.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoreMeta:
        data = dict(data)
        if data.get("classes") is not None:
            data["classes"] = {int(k): v for k, v in data["classes"].items()}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def num_classes(self) -> int:
        return 0 if not self.classes else max(self.classes) + 1
