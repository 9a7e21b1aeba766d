"""The class table (code -> name) of a class map.

Kept in one small function so it can be swapped for a shared class-table reader later. Sources,
first found wins:

1. GDAL category names of band 1 (``<CategoryNames>`` in the PAM ``.aux.xml`` sidecar, where GDAL
   keeps them for GeoTIFFs; rasterio has no reader for them): position in the list = code;
2. the dataset tag ``CLASSES`` (JSON ``{"code": name}``), written by ``terralearn predict``;
3. band tags ``class_<code>=name``.

Codes present in the map but absent from the table are named ``class_<code>`` by the caller.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import rasterio


def read_class_table(path: str | Path) -> dict[int, str]:
    """Class code -> name of band 1 of the class map ``path`` ({} when it carries none)."""
    with rasterio.open(path) as ds:
        names = _category_names(Path(path))
        if names:
            return names
        tags = ds.tags()
        if "CLASSES" in tags:
            try:
                table = json.loads(tags["CLASSES"])
                return {int(code): str(name) for code, name in table.items()}
            except (ValueError, TypeError, AttributeError):
                pass  # malformed tag: fall through to the band tags
        band_tags = ds.tags(1)
    table = {}
    for key, name in band_tags.items():
        code = key.removeprefix("class_")
        if key.startswith("class_") and code.lstrip("-").isdigit():
            table[int(code)] = name
    return dict(sorted(table.items()))


def _category_names(path: Path) -> dict[int, str]:
    """GDAL category names of band 1 (PAM sidecar), empty names skipped."""
    sidecar = path.with_name(path.name + ".aux.xml")
    entries: list[str] = []
    if sidecar.is_file():
        try:
            root = ET.parse(sidecar).getroot()
        except ET.ParseError:
            root = None
        if root is not None:
            for band in root.iter("PAMRasterBand"):
                if band.get("band", "1") == "1":
                    node = band.find("CategoryNames")
                    if node is not None:
                        entries = [c.text or "" for c in node.findall("Category")]
                    break
    return {code: name for code, name in enumerate(entries) if name}
