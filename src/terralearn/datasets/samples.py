"""Paths of the small real sample scenes shipped with terralearn.

See ``terralearn/datasets/data/README.md`` for what each file holds and where it comes from.
For a benchmark with exact ground truth use :func:`terralearn.datasets.synthetic.make_scene`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from terralearn.errors import ConfigError

# sample name -> file name in terralearn/datasets/data
SAMPLES: dict[str, str] = {
    "landsat8": "landsat8_sample.tif",
    "landsat8_polygons": "landsat8_sample_polygons.gpkg",
    "sentinel2": "sentinel2_sample.tif",
}


def list_samples() -> list[str]:
    """Names accepted by :func:`sample_path`, sorted."""
    return sorted(SAMPLES)


def sample_path(name: str) -> Path:
    """Path of a shipped sample file.

    Args:
        name: ``"landsat8"`` (Landsat 8 OLI, 3 bands, nodata edges), ``"landsat8_polygons"``
            (four land-cover polygons over it) or ``"sentinel2"`` (6-band Sentinel-2 L2A).

    Raises:
        ConfigError: unknown name (the message lists the known ones).
    """
    file_name = SAMPLES.get(name)
    if file_name is None:
        raise ConfigError(f"unknown sample {name!r}; choose one of: {', '.join(list_samples())}")
    # the package is installed as files (not zipped), so the traversable is a real path
    return Path(str(resources.files("terralearn.datasets").joinpath("data", file_name)))
