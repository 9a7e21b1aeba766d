"""The pixel rules every package shares: no label, valid pixels, and the fill for invalid ones.

- :data:`NO_LABEL` (255): the label of a pixel without a class. Labels are uint8 class indices
  ``0..254``; losses and metrics skip 255 (``ignore_index``), chip stores write it where the
  image is invalid, and class maps write it where nothing was predicted.
- :func:`valid_pixels`: a pixel is valid when no band equals the image's nodata value and no
  band is NaN. Chip stores (``valid_mask``), prediction's windows, attention maps and the
  pretraining streams all ask this function.
- :func:`fill_invalid`: invalid pixels enter the network as the training band mean, which is
  :data:`NORMALIZED_FILL` (0) after normalisation
  (:func:`terralearn.data.augment.normalize_bands` applies the same rule to tensors).

numpy only: this module sits at the bottom of the layers and imports nothing of terralearn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NO_LABEL = 255
"""Label index of unlabelled pixels (labels are uint8, class indices 0..254)."""
CODE_NODATA_16 = 65535
"""Nodata of uint16 class-code maps (written when a code exceeds 254; codes are at most 65534)."""
NORMALIZED_FILL = 0.0
"""The value of an invalid pixel after normalisation: the training band mean, standardised."""


def valid_pixels(raw: np.ndarray, nodata: float | None, axis: int = 0) -> np.ndarray:
    """The valid-pixel rule: True where every band is valid, i.e. not ``nodata`` and not NaN.

    Args:
        raw: pixel values with the bands along ``axis``, e.g. ``(C, h, w)``.
        nodata: the declared nodata value, or None (NaN counts as invalid in any case).
        axis: the band axis.

    Returns:
        bool array of ``raw``'s shape without ``axis``.
    """
    match = None  # the nodata value in the raster's own type, or None when it cannot occur
    if nodata is not None and not np.isnan(nodata):
        if raw.dtype.kind in "ui" and float(nodata).is_integer():
            # compare in the raster's own type: a float nodata would upcast a float64 copy, and
            # a nodata outside the type's range matches no pixel
            info = np.iinfo(raw.dtype)
            match = raw.dtype.type(nodata) if info.min <= nodata <= info.max else None
        else:
            match = nodata
    is_float = raw.dtype.kind in "fc"
    invalid = np.zeros(np.delete(raw.shape, axis), dtype=bool)
    # band by band into one mask: no temporary of the raster's size (about twice as fast)
    for band in np.moveaxis(raw, axis, 0):
        if is_float:
            invalid |= np.isnan(band)
        if match is not None:
            invalid |= band == match
    return np.logical_not(invalid, out=invalid)


def fill_invalid(
    raw: np.ndarray, valid: np.ndarray, fill: Sequence[float] | np.ndarray
) -> np.ndarray:
    """A float32 copy of ``raw`` (bands first) with the pixels where ``valid`` is False set to ``fill``.

    Args:
        raw: ``(C, h, w)`` pixel values, any dtype; never changed.
        valid: ``(h, w)`` bool, from :func:`valid_pixels`.
        fill: one value per band: the training band mean (0 after normalisation).

    Returns:
        ``(C, h, w)`` float32.
    """
    data = np.array(raw, dtype=np.float32)  # a copy: never fill the caller's array
    if not valid.all():
        data[:, ~valid] = np.asarray(fill, dtype=np.float32)[:, None]
    return data
