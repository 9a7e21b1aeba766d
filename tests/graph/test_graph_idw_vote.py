"""IDW classification is a vote weighted by distance**-power, not a count of the neighbours."""

from __future__ import annotations

import numpy as np

from terralearn.graph.baselines import IDW

# one class-0 point at distance 1 of the query, two class-1 points at distance 2
XY = np.array([[1.0, 0.0], [-2.0, 0.0], [0.0, 2.0]])
CLASSES = np.array([0, 1, 1])
QUERY = np.array([[0.0, 0.0]])


def test_idw_classification_weighs_near_points_more():
    # power 2: class 0 weighs 1, class 1 weighs 2 * 1/4 = 0.5; a plain count (1 vs 2) says 1
    idw = IDW(task="classification", k=3, power=2.0).fit(XY, None, CLASSES)
    assert idw.predict(QUERY).tolist() == [0]


def test_idw_classification_vote_follows_the_power():
    # power 0.5: class 0 weighs 1, class 1 weighs 2 / sqrt(2) = 1.41
    idw = IDW(task="classification", k=3, power=0.5).fit(XY, None, CLASSES)
    assert idw.predict(QUERY).tolist() == [1]


def test_idw_classification_returns_the_class_at_an_observation():
    # a query on an observation takes its class (distance 0: no division by zero)
    idw = IDW(task="classification", k=3, power=2.0).fit(XY, None, CLASSES)
    assert idw.predict(np.array([[-2.0, 0.0], [1.0, 0.0]])).tolist() == [1, 0]
