"""Spatial train/val/test splits of axis-aligned boxes, with a buffer against leakage.

Everything works on ``(N, 4)`` arrays of ``[minx, miny, maxx, maxy]`` in any unit (pixels or
metres); points are zero-size boxes. Two boxes *conflict* when they are in different splits and
either their gap (Euclidean distance between the rectangles, 0 when they touch or overlap) is
``< buffer`` or their interiors overlap. The overlap clause means that even with ``buffer=0`` no
pixel is shared between splits (overlapping chips from a ``stride < size`` grid would otherwise
leak); touching boxes do not conflict at ``buffer=0``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from terralearn.errors import ConfigError

SPLITS = ("train", "val", "test")
_NAMES = np.array([*SPLITS, "drop"], dtype=object)
_DROP = 3


def _as_boxes(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"boxes must have shape (N, 4) [minx, miny, maxx, maxy], got {boxes.shape}"
        )
    if not np.isfinite(boxes).all():
        raise ValueError("boxes contain NaN or infinite coordinates")
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise ValueError("boxes must have minx <= maxx and miny <= maxy")
    return boxes


def _check_buffer(buffer: float) -> None:
    if not buffer >= 0:
        raise ConfigError(f"split buffer must be >= 0, got {buffer}; use 0 for no buffer")


def box_gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean gaps ``(len(a), len(b))`` between boxes (0 if they touch or overlap)."""
    a, b = _as_boxes(a), _as_boxes(b)
    dx = np.maximum(0.0, np.maximum(b[None, :, 0] - a[:, None, 2], a[:, None, 0] - b[None, :, 2]))
    dy = np.maximum(0.0, np.maximum(b[None, :, 1] - a[:, None, 3], a[:, None, 1] - b[None, :, 3]))
    return np.hypot(dx, dy)


def _conflicting_pairs(
    boxes: np.ndarray, codes: np.ndarray, buffer: float, dropped: np.ndarray
) -> np.ndarray:
    """``(P, 2)`` index pairs of boxes not ``dropped``, with different ``codes``, that conflict."""
    active = ~dropped
    if active.sum() < 2:
        return np.empty((0, 2), dtype=np.int64)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sub = boxes[active]
    diagonal = np.hypot(sub[:, 2] - sub[:, 0], sub[:, 3] - sub[:, 1]).max()
    # centre distance <= gap + half of each diagonal, so this radius finds every conflict;
    # a hair more so rounding in the centres cannot lose a pair at exactly the radius
    radius = (buffer + diagonal) * (1 + 1e-9) + 1e-12
    # one tree per split and only cross-split queries: pairs exist only near block edges
    members = [np.flatnonzero(active & (codes == code)) for code in np.unique(codes[active])]
    trees = [cKDTree(centres[m]) for m in members]
    found = []
    for u in range(len(members)):
        for v in range(u + 1, len(members)):
            near = trees[u].sparse_distance_matrix(trees[v], radius, output_type="ndarray")
            found.append(np.stack([members[u][near["i"]], members[v][near["j"]]], axis=1))
    pairs = np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)
    if len(pairs) == 0:
        return pairs
    a, b = boxes[pairs[:, 0]], boxes[pairs[:, 1]]
    dx = np.maximum(b[:, 0] - a[:, 2], a[:, 0] - b[:, 2])  # < 0 means the x ranges overlap
    dy = np.maximum(b[:, 1] - a[:, 3], a[:, 1] - b[:, 3])
    gap = np.hypot(np.maximum(dx, 0.0), np.maximum(dy, 0.0))
    conflict = (gap < buffer) | ((dx < 0) & (dy < 0))
    return pairs[conflict]


def _drop_conflicts(
    boxes: np.ndarray, codes: np.ndarray, buffer: float, order: list[int]
) -> np.ndarray:
    """Mark conflicting boxes as drop; ``order`` lists split codes from most to least protected.

    Splits are settled one at a time from the second most protected on: a box of that split is
    dropped if it conflicts with a kept box of a more protected split. So the most protected split
    never loses a box, and a box is only dropped for a conflict that still exists.
    """
    codes = codes.copy()
    pairs = _conflicting_pairs(boxes, codes, buffer, codes == _DROP)
    if len(pairs) == 0:
        return codes
    rank = np.full(_DROP + 1, -1)
    rank[order] = np.arange(len(order))
    pair_rank = rank[codes[pairs]]  # (P, 2), fixed: only ranks >= the current one change below
    for level in range(1, len(order)):
        loser_first = pair_rank[:, 0] == level
        loser = np.where(loser_first, pairs[:, 0], pairs[:, 1])
        winner = np.where(loser_first, pairs[:, 1], pairs[:, 0])
        at_level = (pair_rank.max(axis=1) == level) & (codes[winner] != _DROP)
        codes[loser[at_level]] = _DROP
    return codes


def _block_ids(boxes: np.ndarray, block_size: float, origin) -> tuple[np.ndarray, np.ndarray]:
    """Block index of each box (by centre) and the number of boxes per block."""
    if not block_size > 0:
        raise ConfigError(f"split block size must be > 0, got {block_size}")
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    if origin is None:
        origin = (boxes[:, 0].min(), boxes[:, 1].min())
    cells = np.floor((centres - np.asarray(origin, dtype=np.float64)) / block_size).astype(np.int64)
    cells -= cells.min(axis=0)
    key = cells[:, 0] * (cells[:, 1].max() + 1) + cells[:, 1]  # 1-D key: faster than axis=0
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return inverse.ravel(), counts


def block_split(
    boxes: np.ndarray,
    block_size: float,
    buffer: float = 0.0,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    origin: tuple[float, float] | None = None,
) -> np.ndarray:
    """Spatial block split into train/val/test, dropping boxes too close to another split.

    1. Space is cut into square blocks of side ``block_size`` starting at ``origin`` (default: the
       lower-left corner of all boxes); each box belongs to the block holding its centre.
    2. Blocks are shuffled with ``seed`` and laid end to end, weighted by their box counts; a block
       whose middle falls in the first ``test`` share of boxes goes to test, in the next ``val``
       share to val, else to train. Shares are thus honoured to within about half a block; with
       few blocks a small split can end up empty.
    3. Buffer rule: conflicting boxes (see module docstring) are dropped from the split with the
       larger target share first (ties: train, then val, then test): val boxes that conflict with
       test are dropped, then train boxes that conflict with a remaining val or test box. With the
       usual shares, test never loses a box and train loses the most.

    Args:
        boxes: ``(N, 4)`` ``[minx, miny, maxx, maxy]``.
        block_size: Block side, in the unit of ``boxes`` (> 0).
        buffer: Smallest allowed gap between boxes of different splits (>= 0).
        val: Target share of boxes for validation.
        test: Target share of boxes for testing.
        seed: Seed of the block shuffle.
        origin: ``(x, y)`` of a block corner.

    Returns:
        ``(N,)`` object array of ``"train"``, ``"val"``, ``"test"`` or ``"drop"``.

    Raises:
        ConfigError: if ``val`` or ``test`` is negative, ``val + test >= 1``, ``block_size <= 0``
            or ``buffer < 0``.
    """
    if val < 0 or test < 0:
        raise ConfigError(f"split fractions must be >= 0, got val={val}, test={test}")
    if val + test >= 1:
        raise ConfigError(
            f"split fractions val={val} + test={test} must be < 1 to leave boxes for training; "
            "lower val or test"
        )
    _check_buffer(buffer)
    boxes = _as_boxes(boxes)
    if len(boxes) == 0:
        return _NAMES[np.empty(0, dtype=np.int64)]
    block_of, counts = _block_ids(boxes, block_size, origin)
    order = np.random.default_rng(seed).permutation(len(counts))
    ends = np.cumsum(counts[order])
    middles = (ends - counts[order] / 2) / ends[-1]
    shuffled_codes = np.where(middles < test, 2, np.where(middles < test + val, 1, 0))
    block_codes = np.empty(len(counts), dtype=np.int64)
    block_codes[order] = shuffled_codes
    codes = block_codes[block_of]
    shares = {0: 1 - val - test, 1: val, 2: test}
    # most protected first: smaller share, then test before val before train
    protected = sorted(shares, key=lambda c: (shares[c], -c))
    codes = _drop_conflicts(boxes, codes, buffer, protected)
    return _NAMES[codes]


def block_kfold(
    boxes: np.ndarray,
    block_size: float,
    k: int = 5,
    seed: int = 0,
    origin: tuple[float, float] | None = None,
) -> np.ndarray:
    """Assign whole spatial blocks to ``k`` folds with balanced box counts.

    Blocks (as in :func:`block_split`) are shuffled with ``seed``, then taken from largest to
    smallest (stable, so the shuffle breaks ties) and each is given to the fold with the fewest
    boxes so far (lowest fold id on ties).

    Returns:
        ``(N,)`` int64 fold id in ``0 .. k - 1`` per box.

    Raises:
        ConfigError: if ``k < 2``, ``block_size <= 0`` or there are fewer blocks than folds.
    """
    if k < 2:
        raise ConfigError(f"number of folds k must be >= 2, got {k}")
    boxes = _as_boxes(boxes)
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64)
    block_of, counts = _block_ids(boxes, block_size, origin)
    if len(counts) < k:
        raise ConfigError(
            f"only {len(counts)} spatial blocks for k={k} folds; "
            "use a smaller block size or fewer folds"
        )
    order = np.random.default_rng(seed).permutation(len(counts))
    order = order[np.argsort(-counts[order], kind="stable")]
    totals = np.zeros(k, dtype=np.int64)
    block_fold = np.empty(len(counts), dtype=np.int64)
    for block in order:
        fold = int(np.argmin(totals))
        block_fold[block] = fold
        totals[fold] += counts[block]
    return block_fold[block_of]


def kfold_split(boxes: np.ndarray, folds: np.ndarray, fold: int, buffer: float = 0.0) -> np.ndarray:
    """Train/test split for one fold of :func:`block_kfold`, with the buffer rule.

    Boxes of ``fold`` are test, the others train; train boxes that conflict with a test box are
    dropped (the test fold never loses a box).

    Returns:
        ``(N,)`` object array of ``"train"``, ``"test"`` or ``"drop"``.
    """
    boxes = _as_boxes(boxes)
    folds = np.asarray(folds)
    if folds.shape != (len(boxes),):
        raise ValueError(f"folds must have shape ({len(boxes)},), got {folds.shape}")
    n_folds = int(folds.max()) + 1 if len(folds) else 0
    if not 0 <= fold < n_folds:
        raise ConfigError(f"fold must be between 0 and {n_folds - 1}, got {fold}")
    _check_buffer(buffer)
    codes = np.where(folds == fold, 2, 0)
    codes = _drop_conflicts(boxes, codes, buffer, [2, 0])
    return _NAMES[codes]


def random_split(n: int, val: float = 0.15, test: float = 0.15, seed: int = 0) -> np.ndarray:
    """Non-spatial random split: ``round(test * n)`` test, ``round(val * n)`` val, rest train.

    Returns:
        ``(n,)`` object array of ``"train"``, ``"val"`` or ``"test"``.
    """
    if val < 0 or test < 0:
        raise ConfigError(f"split fractions must be >= 0, got val={val}, test={test}")
    if val + test >= 1:
        raise ConfigError(
            f"split fractions val={val} + test={test} must be < 1 to leave items for training; "
            "lower val or test"
        )
    n_test, n_val = round(test * n), round(val * n)
    codes = np.zeros(n, dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(n)
    codes[perm[:n_test]] = 2
    codes[perm[n_test : n_test + n_val]] = 1
    return _NAMES[codes]


def buffer_violations(boxes: np.ndarray, splits: np.ndarray, buffer: float) -> int:
    """Number of conflicting pairs: boxes of different non-drop splits closer than ``buffer`` or
    with overlapping interiors."""
    boxes = _as_boxes(boxes)
    splits = np.asarray(splits).astype(str)
    if splits.shape != (len(boxes),):
        raise ValueError(f"splits must have shape ({len(boxes)},), got {splits.shape}")
    _check_buffer(buffer)
    _, codes = np.unique(splits, return_inverse=True)
    return len(_conflicting_pairs(boxes, codes.ravel(), buffer, splits == "drop"))
