"""Segment classification: majority labels, superpixels with invalid pixels, the GNN classifier."""

from __future__ import annotations

import numpy as np
import pytest

from terralearn.errors import ConfigError
from terralearn.graph.objects import SegmentClassifier, describe, pixel_report, superpixels
from terralearn.graph.segments import segment_labels, to_raster


def two_regions(size=48, seed=0):
    """A 2-band image: left half dark, right half bright (with noise); classes 0 / 1."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 0.3, (2, size, size)).astype(np.float32)
    image[0, :, size // 2 :] += 5.0
    image[1, :, size // 2 :] -= 3.0
    classes = np.zeros((size, size), np.uint8)
    classes[:, size // 2 :] = 1
    return image, classes


def test_segment_label_is_the_majority_of_labelled_pixels():
    seg = np.array(
        [
            [0, 0, 0, 1, 1],
            [0, 0, 2, 1, 1],
            [3, 3, 2, 2, -1],
        ]
    )
    pixels = np.array(
        [
            [1, 1, 0, 4, 255],
            [255, 1, 255, 4, 2],
            [255, 255, 255, 255, 3],
        ],
        dtype=np.uint8,
    )
    # segment 0: 1,1,0,1 -> 1; segment 1: 4,4,2 (255 skipped) -> 4; segment 2: all unlabelled;
    # segment 3: unlabelled; the -1 pixel (labelled 3) belongs to no segment
    np.testing.assert_array_equal(segment_labels(seg, pixels), [1, 4, -1, -1])
    ties = np.array([[0, 0, 1, 1]])
    assert segment_labels(ties, np.array([[2, 1, 0, 0]], np.uint8)).tolist() == [1, 0]


def test_superpixels_never_mix_valid_and_invalid_pixels():
    image, _ = two_regions(40)
    valid = np.ones((40, 40), bool)
    valid[:, :7] = False
    valid[30:, 20:] = False
    image[:, ~valid] = 0.0  # nodata close to the valid values of the left half
    sg = superpixels(image, valid, n_segments=16)
    labels = sg.segments.labels
    assert (labels[~valid] == -1).all() and (labels[valid] >= 0).all()
    np.testing.assert_array_equal(np.unique(labels[valid]), np.arange(sg.num_nodes))
    np.testing.assert_array_equal(sg.segments.sizes, np.bincount(labels[valid]))
    assert sg.graph.num_nodes == sg.num_nodes
    assert sg.segments.features.shape == (sg.num_nodes, 4)
    # no segment straddles the bright/dark edge
    for s in range(sg.num_nodes):
        cols = np.nonzero(labels == s)[1]
        assert cols.max() < 20 or cols.min() >= 20


def test_a_three_band_image_is_not_taken_for_rgb():
    image, _ = two_regions(40)
    three = np.concatenate([image, image[:1] * 2])
    # scikit-image converts 3-channel input to Lab unless told not to; that merged everything
    counts = [superpixels(x, n_segments=16).num_nodes for x in (image, three)]
    assert counts[1] == counts[0] >= 12


def test_segment_features_of_integer_bands_are_exact():
    labels = np.array([[0, 0, 1], [0, 1, 1]])
    image = np.array([[[60000, 60002, 5], [60004, 7, 9]]], np.uint16)
    seg = describe(image, labels)
    np.testing.assert_allclose(seg.features, [[60002, np.sqrt(8 / 3)], [7, np.sqrt(8 / 3)]])
    np.testing.assert_allclose(seg.centroids, [[2.5 / 3, 3.5 / 3], [6.5 / 3, 2.5 / 3]])
    np.testing.assert_array_equal(seg.sizes, [3, 3])


def test_boxes_are_the_pixel_extents_of_segments():
    image, _ = two_regions(40)
    sg = superpixels(image, n_segments=8)
    boxes = sg.boxes()
    for s in (0, sg.num_nodes - 1):
        rows, cols = np.nonzero(sg.segments.labels == s)
        assert boxes[s].tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]


@pytest.mark.parametrize("model", ["sage", "gcn", "gat"])
def test_classifier_learns_a_two_region_image_perfectly(model):
    image, classes = two_regions()
    sg = superpixels(image, n_segments=36)
    y = segment_labels(sg.segments.labels, classes)
    # train on the top half only; every segment must come out right
    top = sg.segments.centroids[:, 1] > 24
    clf = SegmentClassifier(model, epochs=60, model_kwargs={"hidden": 16}, seed=0)
    clf.fit(sg, y, train=top, num_classes=2)
    pred = clf.predict(sg)
    np.testing.assert_array_equal(pred, y)
    np.testing.assert_array_equal(to_raster(sg.segments.labels, pred.astype(np.uint8)), classes)
    assert clf.history_[-1] < clf.history_[0]


def test_classifier_state_round_trip_and_feature_check():
    image, classes = two_regions()
    sg = superpixels(image, n_segments=20)
    y = segment_labels(sg.segments.labels, classes)
    clf = SegmentClassifier("sage", epochs=10, seed=0).fit(sg, y)
    meta, tensors = clf.get_state()
    again = SegmentClassifier.from_state(meta, tensors)
    np.testing.assert_allclose(again.predict_proba(sg), clf.predict_proba(sg), rtol=1e-6)
    three_bands = superpixels(np.concatenate([image, image[:1]]), n_segments=20)
    with pytest.raises(ConfigError, match="takes 4 segment features .* but 6 were given"):
        clf.predict(three_bands)
    with pytest.raises(ConfigError, match="no labelled segment to train on"):
        SegmentClassifier(epochs=2).fit(sg, np.full(sg.num_nodes, -1))


def test_pixel_report_counts_only_kept_labelled_pixels():
    truth = np.array([[0, 0, 1, 1], [0, 255, 1, 1]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [255, 0, 0, 1]], np.uint8)
    report = pixel_report(pred, truth, 2)
    # kept: (0,0)=0/0, (0,1)=0/1, (0,2)=1/1, (0,3)=1/1, (1,2)=1/0, (1,3)=1/1
    assert report["num_pixels"] == 6
    assert report["overall_accuracy"] == pytest.approx(4 / 6)
    assert report["per_class"]["class_0"]["iou"] == pytest.approx(1 / 3)
    assert report["per_class"]["class_1"]["iou"] == pytest.approx(3 / 5)
    left = np.zeros_like(truth, bool)
    left[:, :2] = True
    assert pixel_report(pred, truth, 2, where=left)["num_pixels"] == 2
