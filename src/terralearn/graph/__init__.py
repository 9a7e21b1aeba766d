"""Graphs over irregularly spaced data: points I/O, graph construction, GNNs, baselines.

- :mod:`~terralearn.graph.points`: read CSV / GeoPackage / GeoJSON / GeoParquet points.
- :mod:`~terralearn.graph.build`: kNN, radius and Delaunay graphs, Gaussian edge weights.
- GCN / GraphSAGE / GAT layers live in :mod:`terralearn.models.gnn_layers` (registered as
  ``gcn``, ``sage``, ``gat`` in :mod:`terralearn.models`), the learned kriging layer in
  :mod:`terralearn.models.kriging`.
- :mod:`~terralearn.graph.learner`: GNN training for interpolation / classification (a learned
  local-kriging layer plus a GNN residual, mini-batched; :mod:`~terralearn.graph.batches`: masks,
  validation cells, neighbourhoods).
- :mod:`~terralearn.graph.baselines`: IDW, ordinary kriging, random forest.
- :mod:`~terralearn.graph.validation`: spatial block cross-validation of all of them.
- :mod:`~terralearn.graph.grid`: prediction to a GeoTIFF grid; :mod:`~terralearn.graph.runs`:
  run folders; :mod:`~terralearn.graph.segments`: region adjacency and segment labels;
  :mod:`~terralearn.graph.objects`: SLIC superpixels and the segment classifier;
  :mod:`~terralearn.graph.segment_runs`: segment classification runs (train, predict to a raster).

PyTorch Geometric (slow to import) loads only when a GNN is built.
"""

from terralearn.graph.baselines import IDW, Kriging, RandomForest, make_estimator
from terralearn.graph.build import (
    Graph,
    GraphSpec,
    build_graph,
    delaunay_graph,
    gaussian_weights,
    knn_graph,
    radius_graph,
)
from terralearn.graph.learner import GraphLearner
from terralearn.graph.points import PointSet, read_points
from terralearn.graph.validation import cross_validate

__all__ = [
    "IDW",
    "Graph",
    "GraphLearner",
    "GraphSpec",
    "Kriging",
    "PointSet",
    "RandomForest",
    "build_graph",
    "cross_validate",
    "delaunay_graph",
    "gaussian_weights",
    "knn_graph",
    "make_estimator",
    "radius_graph",
    "read_points",
]
