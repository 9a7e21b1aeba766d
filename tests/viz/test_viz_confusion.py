import numpy as np
import pytest

from conftest import expected_pixels, png_shape
from terralearn.errors import ConfigError
from terralearn.viz.confusion import confusion_figsize, normalize_confusion, plot_confusion_matrix


def test_normalize_confusion_rows_sum_to_one_and_empty_rows_nan():
    cm = np.array([[8, 2, 0], [0, 0, 0], [1, 1, 2]])
    norm = normalize_confusion(cm)
    np.testing.assert_allclose(norm[0], [0.8, 0.2, 0.0])
    np.testing.assert_allclose(norm[2], [0.25, 0.25, 0.5])
    assert np.isnan(norm[1]).all()


@pytest.mark.parametrize(("k", "normalize", "panels"), [(3, True, 2), (3, False, 1), (14, True, 1)])
def test_confusion_png_size(tmp_path, k, normalize, panels):
    cm = np.arange(k * k).reshape(k, k) + np.eye(k, dtype=int) * 50
    out = plot_confusion_matrix(cm, [f"c{i}" for i in range(k)], tmp_path / "cm.png",
                                normalize=normalize, dpi=40)  # fmt: skip
    assert png_shape(out) == expected_pixels(confusion_figsize(k, panels), 40)


def test_confusion_figsize_grows_with_classes():
    assert confusion_figsize(3, 1) == (4.5, 4.0)
    assert confusion_figsize(10, 2)[0] == pytest.approx(2 * 7.7 + 0.4)


def test_confusion_all_zero_matrix_draws(tmp_path):
    out = plot_confusion_matrix(np.zeros((2, 2)), ["a", "b"], tmp_path / "cm.png", dpi=30)
    assert png_shape(out) == expected_pixels(confusion_figsize(2, 2), 30)


def test_confusion_validation(tmp_path):
    with pytest.raises(ConfigError, match="expected a square"):
        plot_confusion_matrix(np.zeros((2, 3)), ["a", "b"], tmp_path / "cm.png")
    with pytest.raises(ConfigError, match="2 x 2 but 3 class names were given"):
        plot_confusion_matrix(np.zeros((2, 2)), ["a", "b", "c"], tmp_path / "cm.png")
    with pytest.raises(ConfigError, match="negative or non-finite"):
        plot_confusion_matrix(-np.ones((2, 2)), ["a", "b"], tmp_path / "cm.png")
    assert list(tmp_path.iterdir()) == []
