"""User-facing errors.

Every mistake a user can make with their input has its own exception type. The message is one
line that says what is wrong, where (file or option), and how to fix it. The CLI prints that line
and exits with code 2; library users catch :class:`TerralearnError`.
"""

from __future__ import annotations


class TerralearnError(Exception):
    """Base class for mistakes in user input (files, options, configs)."""


class InputNotFoundError(TerralearnError, FileNotFoundError):
    """An input path does not exist."""


class NotARasterError(TerralearnError):
    """A file exists but cannot be read as a raster."""


class NotAVectorError(TerralearnError):
    """A file exists but cannot be read as vector features."""


class MissingCRSError(TerralearnError):
    """A raster or vector has no coordinate reference system."""


class NoOverlapError(TerralearnError):
    """Two inputs (image and labels, image and region) do not overlap."""


class UnknownColumnError(TerralearnError, KeyError):
    """A named attribute column is absent from a vector file."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it a plain line
        return str(self.args[0]) if self.args else ""


class BandNotFoundError(TerralearnError, KeyError):
    """Requested band names are not in the image."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class AllNodataError(TerralearnError):
    """An image has no valid pixel."""


class ConfigError(TerralearnError, ValueError):
    """An option or config value is invalid or inconsistent with others."""


class OutputExistsError(TerralearnError, FileExistsError):
    """The output path exists and ``overwrite`` was not given."""


class NotAStoreError(TerralearnError):
    """A path is not a terralearn chip store."""


class NotARunError(TerralearnError):
    """A path is not a terralearn run directory (or lacks what is needed)."""


class IncompatibleError(TerralearnError):
    """Two artefacts do not fit together (model vs checkpoint, image vs model, ...)."""


class EarthEngineError(TerralearnError):
    """Earth Engine refused or failed a request (authentication, quota, unknown asset, size)."""


class MissingExtraError(ConfigError):
    """An optional dependency (an extra such as ``ee``, ``tf`` or ``onnx``) is not installed."""
