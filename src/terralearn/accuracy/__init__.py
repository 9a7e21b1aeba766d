"""Map accuracy and area estimates from a stratified sample (Olofsson et al. 2013, 2014).

- :func:`estimate_area`: the stratified estimator (pure numpy);
- :mod:`terralearn.accuracy.sampling`: a stratified random sample of a class map, streamed;
- :mod:`terralearn.accuracy.assess`: points + map -> report (JSON, CSV, figure).
"""

from terralearn.accuracy.estimate import AreaEstimate, estimate_area

__all__ = ["AreaEstimate", "estimate_area"]
