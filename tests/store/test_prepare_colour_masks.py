"""Colour-coded masks (RGB and paletted PNGs) through ``--classes``, end to end in ``prepare``."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from tests.pixel_grid_helpers import DUBAI, decode_colours

from terralearn.cli.main import cli
from terralearn.io.pairs import read_colour_mask
from terralearn.store import open_store

CLASSES = """value,name,color
#8429F6,land,#8429F6
#E2A929,water,#E2A929
#3C1098,building,#3C1098
#FEDD3A,vegetation,#FEDD3A
#6EC1E4,road,#6EC1E4
#9B9B9B,ignore,
#000000,ignore,
"""


def test_rgb_and_paletted_masks_decode_to_the_table_indices(tmp_path):
    classes = tmp_path / "classes.csv"
    classes.write_text(CLASSES)
    out = tmp_path / "store"
    result = CliRunner().invoke(cli, [
        "prepare", str(DUBAI / "Tile *" / "images" / "*.jpg"),
        "--labels", str(DUBAI / "Tile *" / "masks" / "*.png"),
        "--classes", str(classes), "--chip-size", "32", "--split", "random", "--quiet",
        "--out", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    store = open_store(out)
    assert store.class_names == ["land", "water", "building", "vegetation", "road"]
    masks = sorted((DUBAI).glob("Tile */masks/*.png"))
    index = store.index
    arrays = store.read(index["chip_id"].to_numpy())
    for chip, source, row, col in zip(
        arrays["mask"], index["source"], index["row_off"], index["col_off"], strict=True
    ):
        # Tile 2's mask is paletted, its palette differs from the other files': colours decide
        expected = decode_colours(read_colour_mask(masks[source]))[row : row + 32, col : col + 32]
        np.testing.assert_array_equal(chip, expected)


def test_a_mask_colour_missing_from_classes_is_one_line_and_nothing_written(tmp_path):
    classes = tmp_path / "classes.csv"
    classes.write_text(CLASSES.replace("#8429F6,land,#8429F6\n", ""))  # no 'land' row
    out = tmp_path / "store"
    result = CliRunner().invoke(cli, [
        "prepare", str(DUBAI / "Tile *" / "images" / "*.jpg"),
        "--labels", str(DUBAI / "Tile *" / "masks" / "*.png"),
        "--classes", str(classes), "--chip-size", "32", "--split", "random", "--quiet",
        "--out", str(out),
    ])  # fmt: skip
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    land = (
        (
            read_colour_mask(sorted(DUBAI.glob("Tile */masks/*.png"))[0])
            == [[[0x84]], [[0x29]], [[0xF6]]]
        )
        .all(0)
        .sum()
    )
    assert lines[0].startswith("error: ") and "Tile 1" in lines[0]
    assert f"#8429F6 ({land} px)" in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".store*"))
