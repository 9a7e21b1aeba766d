"""`terralearn prepare` without --buffer keeps one chip between splits: exactly which chips drop."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from raster_helpers import write_raster
from terralearn.cli.main import cli
from terralearn.store import ChipStore

CHIP = 16  # px; blocks of 3 x 3 chips
ROWS, COLS = 12, 15  # chip grid of the 192 x 240 px scene: 4 x 5 blocks
PROTECTION = {"test": 2, "val": 1, "train": 0, "drop": -1}  # higher splits keep their chips


def _expected_kept(block_split: dict[tuple[int, int], str]) -> dict[tuple[int, int], str]:
    """The buffer rule at one chip, written out on the chip grid: chips of different splits may
    not touch (a gap below one chip means they share an edge or corner). Val chips touching a test
    chip drop, then train chips touching a remaining val or test chip."""
    split = {(r, c): block_split[r // 3, c // 3] for r in range(ROWS) for c in range(COLS)}

    def touches(cell: tuple[int, int], level: int) -> bool:
        r, c = cell
        return any(
            PROTECTION[split.get((r + dr, c + dc), "train")] > level
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
        )

    for name in ("val", "train"):  # in this order: a dropped val chip no longer costs train one
        doomed = [
            cell for cell, s in split.items() if s == name and touches(cell, PROTECTION[name])
        ]
        for cell in doomed:
            split[cell] = "drop"
    return {cell: s for cell, s in split.items() if s != "drop"}


def test_prepare_default_buffer_drops_exactly_the_chips_touching_another_split(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(100, 5000, size=(3, ROWS * CHIP, COLS * CHIP), dtype=np.uint16)
    labels = np.zeros((ROWS * CHIP, COLS * CHIP), np.uint8)
    labels[:, 80:160] = 1
    labels[96:, :] = 2
    img = write_raster(tmp_path / "image.tif", image, nodata=0)
    lbl = write_raster(tmp_path / "labels.tif", labels)
    out = tmp_path / "store"
    args = ["prepare", str(img), "--labels", str(lbl), "--out", str(out)]
    # no --buffer: the default (one chip) applies
    result = CliRunner().invoke(cli, [*args, "--chip-size", "16", "--block-size", "48", "--quiet"])
    assert result.exit_code == 0, result.output

    index = ChipStore(out).index
    kept = {(r // CHIP, c // CHIP): s for r, c, s in index[["row_off", "col_off", "split"]].values}
    # a block's centre chip only touches its own block, so it is never dropped: it names the split
    centres = {(br, bc): (3 * br + 1, 3 * bc + 1) for br in range(4) for bc in range(5)}
    assert set(centres.values()) <= kept.keys(), "a block centre dropped: buffer above one chip"
    block_split = {block: kept[centre] for block, centre in centres.items()}
    assert set(block_split.values()) == {"train", "val", "test"}
    expected = _expected_kept(block_split)
    assert kept == expected
    # the rule is not vacuous here: both val and train chips drop (with --buffer 0 none would)
    assert ROWS * COLS - len(kept) == 32
    assert index["split"].value_counts().to_dict() == {"train": 104, "val": 26, "test": 18}
