import numpy as np
import pytest

from conftest import expected_pixels, png_shape
from terralearn.errors import ConfigError
from terralearn.viz.panels import mask_classes, panels_figsize, plot_sample_panels


def test_panels_png_size_with_labels(tmp_path, chips, classes):
    images, labels, preds = chips
    out = plot_sample_panels(images, labels, preds, ["B2", "B3", "B4"], classes,
                             tmp_path / "p.png", dpi=40)  # fmt: skip
    assert out == tmp_path / "p.png"
    assert png_shape(out) == expected_pixels(panels_figsize(2, 3, 16, 16), 40)


def test_panels_without_labels_and_with_stats_and_valid(tmp_path, chips, classes):
    images, _, preds = chips
    valid = np.ones((2, 16, 16), bool)
    valid[1, :, :3] = False
    out = plot_sample_panels(images, None, preds, ["red", "green", "blue"], classes,
                             tmp_path / "p.png", stats_low=[0, 0, 0],
                             stats_high=[3000, 3000, 3000], valid=valid, dpi=40)  # fmt: skip
    assert png_shape(out) == expected_pixels(panels_figsize(2, 2, 16, 16), 40)


def test_panels_accept_torch_tensors(tmp_path, chips, classes):
    torch = pytest.importorskip("torch")
    images, labels, preds = (torch.from_numpy(a) for a in chips)
    out = plot_sample_panels(images[:1], labels[:1], preds[:1], ["B2", "B3", "B4"], classes,
                             tmp_path / "p.png", dpi=30)  # fmt: skip
    assert png_shape(out) == expected_pixels(panels_figsize(1, 3, 16, 16), 30)


def test_mask_classes_masks_ignored_and_unknown_ids():
    arr = np.array([[0, 1, 2], [3, 255, 1]])
    masked = mask_classes(arr, {0: "a", 1: "b", 3: "c"}, ignore=arr == 1)
    np.testing.assert_array_equal(
        np.ma.getmaskarray(masked), [[False, True, True], [False, True, True]]
    )


def test_panels_shape_mismatch(tmp_path, chips, classes):
    images, labels, preds = chips
    with pytest.raises(ConfigError, match=r"predictions has shape \(1, 16, 16\); expected"):
        plot_sample_panels(images, labels, preds[:1], ["B2", "B3", "B4"], classes,
                           tmp_path / "p.png")  # fmt: skip
    with pytest.raises(ConfigError, match="2 band names for images with 3 bands"):
        plot_sample_panels(images, labels, preds, ["B2", "B3"], classes, tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()
