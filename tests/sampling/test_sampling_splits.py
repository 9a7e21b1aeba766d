"""Tests for terralearn.sampling.splits: spatial block splits with a buffer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terralearn.errors import ConfigError
from terralearn.sampling import (
    block_kfold,
    block_split,
    box_gaps,
    buffer_violations,
    count_blocks,
    group_split,
    kfold_split,
    random_split,
)


def grid_boxes(n: int, size: float = 1.0, stride: float | None = None) -> np.ndarray:
    """``n x n`` square boxes of side ``size`` every ``stride`` (touching when stride == size)."""
    stride = size if stride is None else stride
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x0, y0 = c.ravel() * stride, r.ravel() * stride
    return np.stack([x0, y0, x0 + size, y0 + size], axis=1).astype(np.float64)


def brute_force_conflicts(boxes, splits, buffer) -> int:
    """Pairs of non-drop boxes in different splits with gap < buffer or overlapping interiors."""
    n = len(boxes)
    gaps = box_gaps(boxes, boxes)
    ox = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(
        boxes[:, None, 0], boxes[None, :, 0]
    )
    oy = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(
        boxes[:, None, 1], boxes[None, :, 1]
    )
    conflict = (gaps < buffer) | ((ox > 0) & (oy > 0))
    keep = splits != "drop"
    different = splits[:, None] != splits[None, :]
    mask = conflict & different & keep[:, None] & keep[None, :] & np.triu(np.ones((n, n), bool), 1)
    return int(mask.sum())


def test_box_gaps_exact():
    a = np.array([[0, 0, 1, 1]], dtype=float)
    b = np.array([[0.5, 0.5, 2, 2], [1, 0, 2, 1], [4, 5, 5, 6], [0, 3, 1, 4], [0.5, 0.5, 0.5, 0.5]])
    np.testing.assert_array_equal(box_gaps(a, b), [[0.0, 0.0, 5.0, 2.0, 0.0]])
    assert box_gaps(b, a).shape == (5, 1)


def test_box_shape_is_checked():
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\)"):
        block_split(np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match="minx <= maxx"):
        block_split(np.array([[1.0, 0, 0, 1]]), 1.0)


def test_block_split_exact_shares_with_equal_blocks():
    boxes = grid_boxes(100)  # 100 blocks of 10 x 10 boxes
    splits = block_split(boxes, 10.0, val=0.15, test=0.15, seed=3)
    assert splits.dtype == object
    assert (splits == "test").sum() == 1500
    assert (splits == "val").sum() == 1500
    assert (splits == "train").sum() == 7000
    assert (splits == "drop").sum() == 0  # touching boxes do not conflict at buffer 0


def test_block_split_whole_blocks():
    boxes = grid_boxes(40)
    splits = block_split(boxes, 7.0, buffer=1.5, seed=1)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    blocks = np.floor(centres / 7.0).astype(int)
    for block in np.unique(blocks, axis=0):
        inside = splits[(blocks == block).all(axis=1)]
        assert len(set(inside) - {"drop"}) <= 1


def test_block_split_is_deterministic_by_seed():
    boxes = grid_boxes(30)
    a = block_split(boxes, 5.0, buffer=1.0, seed=11)
    b = block_split(boxes, 5.0, buffer=1.0, seed=11)
    c = block_split(boxes, 5.0, buffer=1.0, seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_block_split_fractions_roughly_honoured_with_uneven_blocks():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1000, size=(5000, 2))
    boxes = np.concatenate([pts, pts], axis=1)
    splits = block_split(boxes, 50.0, val=0.2, test=0.1, seed=5)
    shares = {s: np.mean(splits == s) for s in ("train", "val", "test")}
    assert shares["test"] == pytest.approx(0.1, abs=0.01)
    assert shares["val"] == pytest.approx(0.2, abs=0.01)
    assert shares["train"] == pytest.approx(0.7, abs=0.01)


def test_buffer_drops_train_first_and_never_test():
    boxes = grid_boxes(40)
    plain = block_split(boxes, 8.0, seed=2)
    buffered = block_split(boxes, 8.0, buffer=2.5, seed=2)
    np.testing.assert_array_equal(buffered == "test", plain == "test")
    assert ((buffered == "val") <= (plain == "val")).all()
    assert ((buffered == "train") <= (plain == "train")).all()
    dropped = buffered == "drop"
    assert dropped.sum() > 0
    assert (plain[dropped] == "train").sum() > (plain[dropped] == "val").sum()
    assert buffer_violations(boxes, buffered, 2.5) == 0
    assert buffer_violations(boxes, plain, 2.5) > 0


def test_buffer_rule_protects_the_smallest_share():
    boxes = grid_boxes(40)
    plain = block_split(boxes, 8.0, val=0.5, test=0.4, seed=4)
    buffered = block_split(boxes, 8.0, buffer=2.0, val=0.5, test=0.4, seed=4)
    # train (share 0.1) is the most protected here, val (0.5) loses first
    np.testing.assert_array_equal(buffered == "train", plain == "train")
    assert buffer_violations(boxes, buffered, 2.0) == 0


def test_overlapping_boxes_never_straddle_splits_even_without_buffer():
    boxes = grid_boxes(30, size=2.0, stride=1.0)  # chips overlapping by half
    splits = block_split(boxes, 6.0, buffer=0.0, seed=0)
    assert (splits == "drop").sum() > 0
    assert brute_force_conflicts(boxes, splits, 0.0) == 0


def test_gap_equal_to_buffer_is_allowed():
    boxes = np.array([[0, 0, 1, 1], [2, 0, 3, 1], [1, 0, 2, 1]], dtype=float)
    splits = np.array(["train", "test", "drop"], dtype=object)
    assert buffer_violations(boxes, splits, 1.0) == 0
    assert buffer_violations(boxes, splits, 1.5) == 1
    splits[2] = "val"  # now touches both: gap 0 is not < buffer 0
    assert buffer_violations(boxes, splits, 0.0) == 0
    assert buffer_violations(boxes, splits, 0.1) == 2  # val touches train and test


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.floats(-50, 50), st.floats(-50, 50), st.floats(0, 8), st.floats(0, 8)),
        min_size=1,
        max_size=60,
    ),
    block_size=st.floats(2, 40),
    buffer=st.one_of(st.just(0.0), st.floats(0, 15)),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_box_within_buffer_of_another_split(data, block_size, buffer, seed):
    arr = np.array(data, dtype=np.float64)
    boxes = np.stack([arr[:, 0], arr[:, 1], arr[:, 0] + arr[:, 2], arr[:, 1] + arr[:, 3]], axis=1)
    splits = block_split(boxes, block_size, buffer=buffer, val=0.2, test=0.2, seed=seed)
    assert set(splits) <= {"train", "val", "test", "drop"}
    assert brute_force_conflicts(boxes, splits, buffer) == 0
    assert buffer_violations(boxes, splits, buffer) == 0
    # test has the smallest share (ties favour test): it never loses a box
    plain_test = block_split(boxes, block_size, buffer=0.0, val=0.2, test=0.2, seed=seed) == "test"
    if not ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).any():
        np.testing.assert_array_equal(splits == "test", plain_test)


def test_points_are_zero_size_boxes():
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 100, size=(400, 2))
    boxes = np.concatenate([pts, pts], axis=1)
    splits = block_split(boxes, 20.0, buffer=3.0, seed=0)
    assert brute_force_conflicts(boxes, splits, 3.0) == 0
    assert (splits == "drop").any() and (splits == "train").any()


def test_empty_input():
    assert block_split(np.empty((0, 4)), 1.0).shape == (0,)
    assert block_kfold(np.empty((0, 4)), 1.0).shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"val": 0.5, "test": 0.5},
            r"split fractions val=0.5 \+ test=0.5 must be < 1 to leave boxes for training; lower val or test",
        ),
        ({"val": -0.1}, r"split fractions must be >= 0, got val=-0.1, test=0.15"),
        ({"block_size": 0.0}, "split block size must be > 0, got 0.0"),
        ({"buffer": -1.0}, "split buffer must be >= 0, got -1.0; use 0 for no buffer"),
    ],
)
def test_block_split_errors(kwargs, message):
    args = {"block_size": 1.0, **kwargs}
    with pytest.raises(ConfigError, match=message):
        block_split(grid_boxes(3), **args)


def test_block_kfold_whole_blocks_and_balanced():
    boxes = grid_boxes(50)  # 25 blocks of 100 boxes
    folds = block_kfold(boxes, 10.0, k=5, seed=3)
    assert folds.dtype == np.int64
    assert np.bincount(folds).tolist() == [500] * 5
    blocks = np.floor((boxes[:, :2] + boxes[:, 2:]) / 2 / 10.0).astype(int)
    for block in np.unique(blocks, axis=0):
        assert len(np.unique(folds[(blocks == block).all(axis=1)])) == 1
    np.testing.assert_array_equal(folds, block_kfold(boxes, 10.0, k=5, seed=3))
    assert not np.array_equal(folds, block_kfold(boxes, 10.0, k=5, seed=4))


def test_block_kfold_uneven_blocks_are_balanced():
    rng = np.random.default_rng(2)
    pts = rng.uniform(0, 1000, size=(3000, 2))
    folds = block_kfold(np.concatenate([pts, pts], axis=1), 50.0, k=4)
    counts = np.bincount(folds, minlength=4)
    assert counts.max() - counts.min() <= 20  # largest block holds about 20 points


def test_block_kfold_errors():
    with pytest.raises(ConfigError, match="number of folds k must be >= 2, got 1"):
        block_kfold(grid_boxes(4), 1.0, k=1)
    with pytest.raises(ConfigError) as err:
        block_kfold(grid_boxes(4), 2.0, k=5)
    assert (
        str(err.value)
        == "only 4 spatial blocks for k=5 folds; use a smaller block size or fewer folds"
    )


def test_kfold_split_buffer_rule():
    boxes = grid_boxes(30)
    folds = block_kfold(boxes, 5.0, k=3)
    for fold in range(3):
        splits = kfold_split(boxes, folds, fold, buffer=1.5)
        np.testing.assert_array_equal(splits == "test", folds == fold)
        assert set(splits) == {"train", "test", "drop"}
        assert brute_force_conflicts(boxes, splits, 1.5) == 0
    assert set(kfold_split(boxes, folds, 0)) == {"train", "test"}
    with pytest.raises(ConfigError, match="fold must be between 0 and 2, got 3"):
        kfold_split(boxes, folds, 3)


def test_random_split_counts_and_determinism():
    splits = random_split(1000, val=0.2, test=0.1, seed=4)
    assert (splits == "test").sum() == 100 and (splits == "val").sum() == 200
    np.testing.assert_array_equal(splits, random_split(1000, val=0.2, test=0.1, seed=4))
    assert not np.array_equal(splits, random_split(1000, val=0.2, test=0.1, seed=5))
    with pytest.raises(ConfigError, match=r"val=0.7 \+ test=0.3 must be < 1"):
        random_split(10, val=0.7, test=0.3)


def _rare_class_scene() -> tuple[np.ndarray, np.ndarray]:
    """20 x 20 unit boxes (16 blocks of 5 x 5); class 0 everywhere, class 1 only in the centre
    box of three blocks."""
    boxes = grid_boxes(20)
    counts = np.zeros((400, 2))
    counts[:, 0] = 100
    block_x, block_y = boxes[:, 0] // 5, boxes[:, 1] // 5
    centre = (boxes[:, 0] % 5 == 2) & (boxes[:, 1] % 5 == 2)
    for bx, by in [(0, 0), (2, 3), (3, 1)]:
        counts[centre & (block_x == bx) & (block_y == by), 1] = 50
    return boxes, counts


def test_class_aware_block_split_puts_a_rare_class_in_every_split():
    boxes, counts = _rare_class_scene()
    plain = block_split(boxes, 5.0, buffer=1.0, seed=1)
    # the plain seeded shuffle puts all three blocks of class 1 in train for this seed
    assert [counts[plain == s, 1].sum() for s in ("train", "val", "test")] == [150, 0, 0]
    aware = block_split(boxes, 5.0, buffer=1.0, seed=1, class_counts=counts)
    assert [counts[aware == s, 1].sum() for s in ("train", "val", "test")] == [50, 50, 50]
    assert buffer_violations(boxes, aware, 1.0) == 0
    # whole blocks: every block's kept boxes are in one split
    blocks = (boxes[:, 0] // 5) * 4 + boxes[:, 1] // 5
    for block in np.unique(blocks):
        assert len(set(aware[(blocks == block) & (aware != "drop")])) == 1
    # two blocks of 25 boxes each for val and test: 50 of 400 boxes is 12.5 %, the closest
    # to 15 % in whole blocks; the buffer takes fewer train boxes than the plain split
    assert (aware == "val").sum() == 50 and (aware == "test").sum() == 50
    assert (aware == "train").sum() > (plain == "train").sum()
    np.testing.assert_array_equal(
        aware, block_split(boxes, 5.0, buffer=1.0, seed=1, class_counts=counts)
    )


def test_class_aware_block_split_without_classes_fills_every_split():
    boxes = grid_boxes(6)  # 4 equal blocks: the first block's middle (1/8) is past test's 10 %
    plain = block_split(boxes, 3.0, val=0.1, test=0.1, seed=0)
    assert [(plain == s).sum() for s in ("train", "val", "test")] == [27, 9, 0]
    aware = block_split(boxes, 3.0, val=0.1, test=0.1, seed=0, class_counts=np.zeros((36, 0)))
    assert [(aware == s).sum() for s in ("train", "val", "test")] == [18, 9, 9]


def test_group_split_balances_classes_and_is_seeded():
    rng = np.random.default_rng(0)
    sizes = rng.integers(5, 15, size=40)
    counts = rng.poisson(50, size=(40, 4)) * (rng.random((40, 4)) < 0.3)
    splits = group_split(sizes, counts, val=0.2, test=0.2, seed=7)
    np.testing.assert_array_equal(splits, group_split(sizes, counts, val=0.2, test=0.2, seed=7))
    for split, target in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
        assert sizes[splits == split].sum() / sizes.sum() == pytest.approx(target, abs=0.03)
        shares = counts[splits == split].sum(axis=0) / counts.sum(axis=0)
        np.testing.assert_allclose(shares, target, atol=0.06)


def test_group_split_without_a_share_never_uses_that_split():
    splits = group_split(np.ones(10), np.eye(10)[:, :2], val=0.0, test=0.3, seed=0)
    assert set(splits) == {"train", "test"} and (splits == "test").sum() == 3


def test_count_blocks():
    assert count_blocks(grid_boxes(20), 5.0) == 16
    assert count_blocks(grid_boxes(20), 6.0) == 16  # 20 / 6 -> 4 blocks a side, last one short
    assert count_blocks(np.empty((0, 4)), 5.0) == 0
