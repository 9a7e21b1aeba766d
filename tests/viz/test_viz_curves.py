import csv

import pytest

from conftest import expected_pixels, png_shape
from terralearn.errors import InputNotFoundError
from terralearn.viz.curves import PANEL_SIZE, plot_training_curves, read_epoch_metrics


def _write(path, columns, rows):
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def lightning_csv(tmp_path):
    """Lightning CSVLogger layout: step rows, lr rows, validation rows, epoch-end rows."""
    cols = ["epoch", "step", "train_loss_step", "lr-AdamW", "val_loss", "val_miou", "val_acc",
            "train_loss_epoch"]  # fmt: skip
    rows = []
    for e in range(3):
        rows += [{"epoch": e, "step": 2 * e, "train_loss_step": 1.0 - e / 10},
                 {"epoch": e, "step": 2 * e + 1, "train_loss_step": 0.8 - e / 10},
                 {"epoch": e, "step": 2 * e + 1, "lr-AdamW": 10.0 ** -(e + 2)},
                 {"epoch": e, "step": 2 * e + 1, "val_loss": 0.9 - e / 5,
                  "val_miou": 0.5 + e / 10, "val_acc": 0.7 + e / 10},
                 {"epoch": e, "step": 2 * e + 1, "train_loss_epoch": 0.9 - e / 10}]  # fmt: skip
    return _write(tmp_path / "metrics.csv", cols, rows)


def test_read_epoch_metrics_reduces_rows_per_epoch(lightning_csv):
    series = read_epoch_metrics(lightning_csv)
    assert set(series) == {
        "train_loss_step", "lr-AdamW", "val_loss", "val_miou", "val_acc", "train_loss_epoch"
    }  # fmt: skip
    assert series["train_loss_step"] == pytest.approx({0: 0.9, 1: 0.8, 2: 0.7})
    assert series["val_miou"] == pytest.approx({0: 0.5, 1: 0.6, 2: 0.7})
    assert series["lr-AdamW"][2] == pytest.approx(1e-4)


def test_curves_png_size_with_lr_panel(lightning_csv, tmp_path):
    out = plot_training_curves(lightning_csv, tmp_path / "curves.png", dpi=60)
    assert out == tmp_path / "curves.png"
    assert png_shape(out) == expected_pixels((3 * PANEL_SIZE[0], PANEL_SIZE[1]), 60)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_curves_with_missing_columns(tmp_path):
    path = _write(tmp_path / "m.csv", ["epoch", "step", "train_loss_step"],
                  [{"epoch": 0, "step": 0, "train_loss_step": 1.0},
                   {"epoch": 1, "step": 1, "train_loss_step": float("nan")},
                   {"epoch": 1, "step": 2, "train_loss_step": 0.5}])  # fmt: skip
    assert read_epoch_metrics(path) == {"train_loss_step": {0: 1.0, 1: 0.5}}
    out = plot_training_curves(path, tmp_path / "c.png", dpi=50)
    assert png_shape(out) == expected_pixels((2 * PANEL_SIZE[0], PANEL_SIZE[1]), 50)


def test_curves_with_only_a_header(tmp_path):
    path = _write(tmp_path / "m.csv", ["epoch", "step", "val_loss"], [])
    out = plot_training_curves(path, tmp_path / "c.png", dpi=40)
    assert png_shape(out) == expected_pixels((2 * PANEL_SIZE[0], PANEL_SIZE[1]), 40)


def test_curves_overwrite_existing_file(lightning_csv, tmp_path):
    out = tmp_path / "c.png"
    out.write_bytes(b"old")
    plot_training_curves(lightning_csv, out, dpi=30)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_curves_missing_file(tmp_path):
    with pytest.raises(InputNotFoundError, match="metrics file .*nope.csv' does not exist"):
        plot_training_curves(tmp_path / "nope.csv", tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_no_pyplot_figures_left(lightning_csv, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_training_curves(lightning_csv, tmp_path / "c.png", dpi=30)
    assert plt.get_fignums() == before
