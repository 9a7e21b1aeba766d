"""The mapped vs error-adjusted area figure."""

from __future__ import annotations

import pytest
from matplotlib.collections import PathCollection
from PIL import Image

import terralearn.viz.area as area
from terralearn.errors import ConfigError


def test_area_figure_scale_labels_and_unmapped_note(monkeypatch):
    saved = {}
    monkeypatch.setattr(area, "save_figure", lambda fig, out, dpi: saved.update(fig=fig) or out)
    classes = {1: "forest", 2: "water", 9: "sediment"}
    area.plot_area_estimates(classes, [9000, 800, 0], [8500, 1100, 40], [400, 200, 30], "ha", "x")
    ax = saved["fig"].axes[0]
    assert ax.get_xscale() == "log"  # 40 .. 9000 ha: over two decades
    assert ax.get_xlabel() == "area (ha, log scale)"
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    assert ticks == {"forest": 2, "water": 1, "sediment": 0}  # first class on top
    assert [t.get_text() for t in ax.texts] == ["not mapped"]
    area.plot_area_estimates(classes, [90, 80, 10], [85, 70, 20], [4, 2, 3], "pixels", "y")
    assert saved["fig"].axes[0].get_xscale() == "linear"
    assert saved["fig"].axes[0].get_xlabel() == "area (pixels)"


def test_area_figure_written_at_its_size(tmp_path):
    path = area.plot_area_estimates({0: "a", 1: "b", 2: "c"}, [1, 2, 3], [1, 2, 3], [0, 0, 0],
                                    "ha", tmp_path / "area.png")  # fmt: skip
    with Image.open(path) as png:
        assert png.size == (1125, round((1.2 + 0.55 * 3) * 150))
    with pytest.raises(ConfigError, match="one mapped, adjusted and CI value per class"):
        area.plot_area_estimates({0: "a"}, [1, 2], [1, 2], [0, 0], "ha", tmp_path / "b.png")
    assert not (tmp_path / "b.png").exists()


def test_area_figure_marks_the_true_area(monkeypatch, tmp_path):
    saved = {}
    monkeypatch.setattr(area, "save_figure", lambda fig, out, dpi: saved.update(fig=fig) or out)
    classes = {0: "water", 1: "forest"}
    area.plot_area_estimates(classes, [50, 40], [45, 48], [3, 4], "ha", "x", truth=[44, 51])
    ax = saved["fig"].axes[0]
    (marks,) = [c for c in ax.collections if isinstance(c, PathCollection)]  # the scatter
    assert marks.get_offsets().tolist() == [[44, 1 - 0.19], [51, 0 - 0.19]]  # on adjusted bars
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "mapped",
        "error-adjusted ± 95 % CI",
        "true area",
    ]
    area.plot_area_estimates(classes, [50, 40], [45, 48], [3, 4], "ha", "y")
    assert not [c for c in saved["fig"].axes[0].collections if isinstance(c, PathCollection)]
    assert len(saved["fig"].axes[0].get_legend().get_texts()) == 2


def test_area_figure_with_truth_written_at_its_size(tmp_path):
    path = area.plot_area_estimates({0: "a", 1: "b"}, [1, 2], [1, 2], [0.1, 0.2], "ha",
                                    tmp_path / "area.png", truth=[1.05, 1.9])  # fmt: skip
    with Image.open(path) as png:
        assert png.size == (1125, round((1.2 + 0.55 * 2) * 150))
    with pytest.raises(ConfigError, match="one truth value per class"):
        area.plot_area_estimates({0: "a"}, [1], [1], [0], "ha", tmp_path / "b.png", truth=[1, 2])
    assert not (tmp_path / "b.png").exists()
