"""The class table (code -> name) of a class map.

Sources, first found wins:

1. what a label raster declares itself (:func:`terralearn.io.labels.raster_class_metadata`: a
   ``class_names`` tag, GDAL category names or a raster attribute table in the ``.aux.xml``
   sidecar), which is what ``terralearn predict`` writes;
2. the dataset tag ``CLASSES`` (JSON ``{"code": name}``) of maps from older versions;
3. band tags ``class_<code>=name``.

Codes present in the map but absent from the table are named ``class_<code>`` by the caller.
"""

from __future__ import annotations

import json
from pathlib import Path

from terralearn.io.labels import raster_class_metadata
from terralearn.io.rasterio_ import open_quietly


def read_class_table(path: str | Path) -> dict[int, str]:
    """Class code -> name of band 1 of the class map ``path`` ({} when it carries none)."""
    with open_quietly(path) as ds:
        tags, band_tags = ds.tags(), ds.tags(1)
    names, _ = raster_class_metadata(path, tags)
    if names:
        return dict(sorted(names.items()))
    if "CLASSES" in tags:
        try:
            return {int(code): str(name) for code, name in json.loads(tags["CLASSES"]).items()}
        except (ValueError, TypeError, AttributeError):
            pass  # malformed tag: fall through to the band tags
    table = {}
    for key, name in band_tags.items():
        code = key.removeprefix("class_")
        if key.startswith("class_") and code.lstrip("-").isdigit():
            table[int(code)] = name
    return dict(sorted(table.items()))
