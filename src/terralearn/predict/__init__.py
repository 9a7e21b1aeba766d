"""Sliding-window prediction over rasters of any size.

``predict_raster`` streams a raster through a model tile row by tile row, blends overlapping
tiles with smooth weights and writes a Cloud-Optimized GeoTIFF (or Zarr) on the input's grid;
``predict_array`` returns the probabilities of a small image in memory.
"""

from terralearn.predict.api import PredictionResult, predict_array, predict_raster
from terralearn.predict.model import Predictor, load_predictor
from terralearn.predict.windows import TileLayout, axis_starts, axis_weights

__all__ = [
    "PredictionResult",
    "Predictor",
    "TileLayout",
    "axis_starts",
    "axis_weights",
    "load_predictor",
    "predict_array",
    "predict_raster",
]
