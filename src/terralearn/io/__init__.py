"""Imagery readers and label alignment.

``open_image`` turns any imagery source into one canonical ``(band, y, x)`` DataArray;
``open_labels`` puts vector or raster labels on that image's grid.
"""

from terralearn.io.labels import Labels, open_labels
from terralearn.io.readers import describe_image, open_image, select_bands, valid_mask
from terralearn.io.vrt import stack_vrt

__all__ = [
    "Labels",
    "describe_image",
    "open_image",
    "open_labels",
    "select_bands",
    "stack_vrt",
    "valid_mask",
]
