"""Figures for runs and predictions: training curves, confusion matrices, sample panels, maps.

All figures are drawn on plain :class:`matplotlib.figure.Figure` objects with the Agg canvas (no
pyplot state), written atomically, and returned as paths.
"""

from terralearn.viz.colors import DEFAULT_CLASS_COLORS, class_colormap, rgb_composite
from terralearn.viz.confusion import normalize_confusion, plot_confusion_matrix
from terralearn.viz.curves import plot_training_curves, read_epoch_metrics
from terralearn.viz.maps import overview, plot_class_map, plot_scalar_map
from terralearn.viz.panels import plot_sample_panels

__all__ = [
    "DEFAULT_CLASS_COLORS",
    "class_colormap",
    "normalize_confusion",
    "overview",
    "plot_class_map",
    "plot_confusion_matrix",
    "plot_sample_panels",
    "plot_scalar_map",
    "plot_training_curves",
    "read_epoch_metrics",
    "rgb_composite",
]
