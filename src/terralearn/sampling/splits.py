"""Spatial train/val/test splits of axis-aligned boxes, with a buffer against leakage.

Everything works on ``(N, 4)`` arrays of ``[minx, miny, maxx, maxy]`` in any unit (pixels or
metres); points are zero-size boxes. Two boxes *conflict* when they are in different splits and
either their gap (Euclidean distance between the rectangles, 0 when they touch or overlap) is
``< buffer`` or their interiors overlap. The overlap clause means that even with ``buffer=0`` no
pixel is shared between splits (overlapping chips from a ``stride < size`` grid would otherwise
leak); touching boxes do not conflict at ``buffer=0``.

Given per-box class counts, :func:`block_split` assigns blocks class-aware (a seeded local search
on the blocks' chip and class counts, see :func:`group_split`), so that every split gets its share
of every class; :func:`group_split` does the same for whole images or folders.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from terralearn.errors import ConfigError

SPLITS = ("train", "val", "test")
_NAMES = np.array([*SPLITS, "drop"], dtype=object)
_DROP = 3
# A class found in at least this many groups (blocks or images) must reach every split.
MIN_GROUPS_FOR_PRESENCE = 3
# Class-aware search: costs of a missing class and of an empty split, far above any share
# deviation (which is at most 1 / smallest share per column).
_MISSING_COST = 1e3
_EMPTY_COST = 1e6
_MAX_PASSES = 25
_MAX_SWAPS = 256  # swap partners tried per group and pass (all of them when fewer)
# Groups visited per search, at most: with very many small blocks the seeded shuffle is already
# balanced and the search only polishes it, in bounded time.
_MAX_VISITS = 4_000
# Smaller gains are noise (a squared share deviation of 1e-6 is 0.1 % of a split).
_MIN_GAIN = 1e-6
# Exact search after the buffer rule: only this small, and this many evaluations at most.
_POLISH_MAX_BLOCKS = 200
_POLISH_MAX_BOXES = 20_000
_POLISH_MAX_EVALUATIONS = 3_000


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
    return pairs[_in_conflict(boxes, pairs, buffer)]


def _in_conflict(boxes: np.ndarray, pairs: np.ndarray, buffer: float) -> np.ndarray:
    """``(P,)`` True where the boxes of a pair are closer than ``buffer`` or overlap."""
    a, b = boxes[pairs[:, 0]], boxes[pairs[:, 1]]
    dx = np.maximum(b[:, 0] - a[:, 2], a[:, 0] - b[:, 2])  # < 0 means the x ranges overlap
    dy = np.maximum(b[:, 1] - a[:, 3], a[:, 1] - b[:, 3])
    gap = np.hypot(np.maximum(dx, 0.0), np.maximum(dy, 0.0))
    return (gap < buffer) | ((dx < 0) & (dy < 0))


def _drop_conflicts(
    boxes: np.ndarray, codes: np.ndarray, buffer: float, order: list[int]
) -> np.ndarray:
    """Mark conflicting boxes as drop; ``order`` lists split codes from most to least protected.

    Splits are settled one at a time from the second most protected on: a box of that split is
    dropped if it conflicts with a kept box of a more protected split. So the most protected split
    never loses a box, and a box is only dropped for a conflict that still exists.
    """
    pairs = _conflicting_pairs(boxes, codes, buffer, codes == _DROP)
    return _apply_drops(codes, pairs, order)


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


def count_blocks(
    boxes: np.ndarray, block_size: float, origin: tuple[float, float] | None = None
) -> int:
    """Number of non-empty blocks of :func:`block_split` for these boxes and block size."""
    boxes = _as_boxes(boxes)
    return len(_block_ids(boxes, block_size, origin)[1]) if len(boxes) else 0


def _check_shares(val: float, test: float, what: str) -> None:
    if val < 0 or test < 0:
        raise ConfigError(f"split fractions must be >= 0, got val={val}, test={test}")
    if val + test >= 1:
        raise ConfigError(
            f"split fractions val={val} + test={test} must be < 1 to leave {what} for training; "
            "lower val or test"
        )


def _lay_out(sizes: np.ndarray, val: float, test: float, order: np.ndarray) -> np.ndarray:
    """Split code per group: groups in ``order`` laid end to end by size, cut at the shares."""
    ends = np.cumsum(sizes[order])
    middles = (ends - sizes[order] / 2) / ends[-1]
    codes = np.empty(len(sizes), dtype=np.int64)
    codes[order] = np.where(middles < test, 2, np.where(middles < test + val, 1, 0))
    return codes


class _Balance:
    """Cost of a split of groups whose columns are ``[chips, class 0 pixels, class 1 pixels...]``.

    For every column the share going to each split should equal the split's target share; the
    cost is ``sum_columns w * sum_splits (share - target)^2 / target`` (the chip column weighs as
    much as all classes together), plus :data:`_MISSING_COST` for every required class missing
    from a split and :data:`_EMPTY_COST` for every empty split.
    """

    def __init__(self, columns: np.ndarray, val: float, test: float):
        columns = np.asarray(columns, dtype=np.float64)
        self.totals = columns.sum(axis=0)
        self.keep = self.totals > 0
        self.keep[0] = True
        self.columns = columns[:, self.keep]
        self.totals = np.maximum(self.totals[self.keep], 1.0)
        self.targets = np.array([1 - val - test, val, test])
        self.active = np.flatnonzero(self.targets > 0)
        n_classes = self.columns.shape[1] - 1
        self.weights = np.array([max(1, n_classes)] + [1] * n_classes, dtype=np.float64)
        self.required = (self.columns > 0).sum(axis=0) >= MIN_GROUPS_FOR_PRESENCE
        self.required[0] = False

    def sums(self, codes: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """``(3, J)`` column sums per split of the rows of ``columns`` (default: the groups)."""
        columns = self.columns if columns is None else columns
        one_hot = np.zeros((len(codes), 3))
        kept = codes < 3
        one_hot[np.flatnonzero(kept), codes[kept]] = 1.0
        return one_hot.T @ columns

    def cost(self, sums: np.ndarray) -> np.ndarray:
        """Cost of each of ``(M, 3, J)`` split sums."""
        sums = sums[:, self.active]
        targets = self.targets[self.active, None]
        deviation = ((sums / self.totals - targets) ** 2 / targets).sum(axis=1) @ self.weights
        missing = ((sums == 0) & self.required).sum(axis=(1, 2))
        empty = (sums[:, :, 0] == 0).sum(axis=1)
        return deviation + _MISSING_COST * missing + _EMPTY_COST * empty

    def improve(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Local search from ``codes``: move a group to another split or swap two groups of
        different splits while that lowers the cost (best move per group, groups in random order).
        """
        codes = codes.copy()
        x_all = self.columns
        sums = self.sums(codes)
        cost = self.cost(sums[None])[0]
        visits = 0
        for _ in range(_MAX_PASSES):
            improved = False
            for g in rng.permutation(len(codes))[: _MAX_VISITS - visits]:
                visits += 1
                here, x = codes[g], x_all[g]
                targets = self.active[self.active != here]
                if len(codes) <= _MAX_SWAPS:
                    partners = np.flatnonzero(codes != here)
                else:  # a random sample, drawn in O(_MAX_SWAPS) rather than O(groups)
                    partners = np.unique(rng.integers(0, len(codes), _MAX_SWAPS))
                    partners = partners[codes[partners] != here]
                there = np.concatenate([targets, codes[partners]])
                delta = np.concatenate([np.broadcast_to(-x, (len(targets), len(x))),
                                        x_all[partners] - x])  # fmt: skip
                trial = np.repeat(sums[None], len(there), axis=0)
                trial[:, here] += delta
                trial[np.arange(len(there)), there] -= delta
                costs = self.cost(trial)
                best = int(np.argmin(costs))
                if costs[best] < cost - _MIN_GAIN:
                    codes[g] = there[best]
                    if best >= len(targets):
                        codes[partners[best - len(targets)]] = here
                    sums, cost, improved = trial[best], costs[best], True
            if not improved or visits >= _MAX_VISITS:
                break
        return codes

    def candidates(self, seed: int, restarts: int) -> list[np.ndarray]:
        """``restarts`` locally optimal assignments; the first starts from the plain seeded
        shuffle (:func:`_lay_out`), the others from reshuffles."""
        sizes = self.columns[:, 0]
        found = []
        for restart in range(restarts):
            rng = np.random.default_rng(seed if restart == 0 else [seed, restart])
            start = _lay_out(sizes, self.targets[1], self.targets[2], rng.permutation(len(sizes)))
            found.append(self.improve(start, np.random.default_rng([seed, restart, 1])))
        return found


def _group_columns(sizes: np.ndarray, class_counts: np.ndarray | None) -> np.ndarray:
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 1)
    if class_counts is None:
        return sizes
    class_counts = np.asarray(class_counts, dtype=np.float64).reshape(len(sizes), -1)
    if (class_counts < 0).any() or (sizes < 0).any():
        raise ValueError("sizes and class counts must be >= 0")
    return np.concatenate([sizes, class_counts], axis=1)


def _restarts(groups: int) -> int:
    return 8 if groups <= 500 else 2 if groups <= 5000 else 1  # 10^5 chips: a few seconds


def group_split(
    sizes: np.ndarray,
    class_counts: np.ndarray | None = None,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
) -> np.ndarray:
    """Class-aware split of whole groups (images, folders, blocks) into train/val/test.

    Each split should get its target share of the items (``sizes``) and of every class's pixels
    (``class_counts``), so that class shares in each split stay close to the whole set's; a class
    found in at least :data:`MIN_GROUPS_FOR_PRESENCE` groups is put in every split and no split
    with a positive share is left empty whenever the groups allow it. A seeded local search
    (moves and swaps of groups, a few restarts) minimises the cost of :class:`_Balance`.

    Args:
        sizes: ``(G,)`` items (chips) per group.
        class_counts: ``(G, K)`` labelled pixels per class and group, or None.
        val: Target share for validation.
        test: Target share for testing.
        seed: Seed of the search (same inputs and seed, same split).

    Returns:
        ``(G,)`` object array of ``"train"``, ``"val"`` or ``"test"``.
    """
    _check_shares(val, test, "groups")
    columns = _group_columns(sizes, class_counts)
    if len(columns) == 0:
        return _NAMES[np.empty(0, dtype=np.int64)]
    balance = _Balance(columns, val, test)
    found = balance.candidates(seed, _restarts(len(columns)))
    costs = [balance.cost(balance.sums(codes)[None])[0] for codes in found]
    return _NAMES[found[int(np.argmin(costs))]]


def block_split(
    boxes: np.ndarray,
    block_size: float,
    buffer: float = 0.0,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    origin: tuple[float, float] | None = None,
    class_counts: np.ndarray | None = None,
) -> np.ndarray:
    """Spatial block split into train/val/test, dropping boxes too close to another split.

    1. Space is cut into square blocks of side ``block_size`` starting at ``origin`` (default: the
       lower-left corner of all boxes); each box belongs to the block holding its centre.
    2. Blocks are shuffled with ``seed`` and laid end to end, weighted by their box counts; a block
       whose middle falls in the first ``test`` share of boxes goes to test, in the next ``val``
       share to val, else to train. Shares are thus honoured to within about half a block; with
       few blocks a small split can end up empty.
       With ``class_counts`` (class-aware): that layout is only the start of the search of
       :func:`group_split` on the blocks' chip and class counts (a few restarts); of the results,
       the one whose splits are best balanced *after* the buffer rule is kept. Every class in at
       least three blocks then reaches every split (unless the buffer removes it everywhere), and
       no split is empty if there are enough blocks.
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
        class_counts: ``(N, K)`` labelled pixels per class of each box, for a class-aware split
            (``(N, 0)`` balances box counts only, still keeping every split non-empty).

    Returns:
        ``(N,)`` object array of ``"train"``, ``"val"``, ``"test"`` or ``"drop"``.

    Raises:
        ConfigError: if ``val`` or ``test`` is negative, ``val + test >= 1``, ``block_size <= 0``
            or ``buffer < 0``.
    """
    _check_shares(val, test, "boxes")
    _check_buffer(buffer)
    boxes = _as_boxes(boxes)
    if len(boxes) == 0:
        return _NAMES[np.empty(0, dtype=np.int64)]
    block_of, counts = _block_ids(boxes, block_size, origin)
    shares = {0: 1 - val - test, 1: val, 2: test}
    # most protected first: smaller share, then test before val before train
    protected = sorted(shares, key=lambda c: (shares[c], -c))
    if class_counts is None:
        order = np.random.default_rng(seed).permutation(len(counts))
        codes = _lay_out(counts, val, test, order)[block_of]
        return _NAMES[_drop_conflicts(boxes, codes, buffer, protected)]
    box_columns = _group_columns(np.ones(len(boxes)), class_counts)
    block_columns = np.zeros((len(counts), box_columns.shape[1]))
    np.add.at(block_columns, block_of, box_columns)
    balance = _Balance(block_columns, val, test)
    box_columns = box_columns[:, balance.keep]
    best_blocks, best, best_cost = None, None, np.inf
    for block_codes in balance.candidates(seed, _restarts(len(counts))):
        codes = _drop_conflicts(boxes, block_codes[block_of], buffer, protected)
        cost = balance.cost(balance.sums(codes, box_columns)[None])[0]
        if cost < best_cost:
            best_blocks, best, best_cost = block_codes, codes, cost
    if len(counts) <= _POLISH_MAX_BLOCKS and len(boxes) <= _POLISH_MAX_BOXES:
        pairs = _block_conflicts(boxes, block_of, buffer)
        best = _polish(balance, best_blocks, block_of, pairs, box_columns, protected, seed)
    return _NAMES[best]


def _block_conflicts(boxes: np.ndarray, block_of: np.ndarray, buffer: float) -> np.ndarray:
    """``(P, 2)`` pairs of boxes in different blocks that conflict if their splits differ."""
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    diagonal = np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).max()
    radius = (buffer + diagonal) * (1 + 1e-9) + 1e-12  # as in _conflicting_pairs
    pairs = cKDTree(centres).query_pairs(radius, output_type="ndarray").astype(np.int64)
    pairs = pairs[block_of[pairs[:, 0]] != block_of[pairs[:, 1]]]
    return pairs[_in_conflict(boxes, pairs, buffer)]


def _apply_drops(codes: np.ndarray, pairs: np.ndarray, order: list[int]) -> np.ndarray:
    """The buffer rule of :func:`_drop_conflicts` on precomputed candidate ``pairs``."""
    codes = codes.copy()
    pairs = pairs[codes[pairs[:, 0]] != codes[pairs[:, 1]]]
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


def _polish(
    balance: _Balance,
    block_codes: np.ndarray,
    block_of: np.ndarray,
    pairs: np.ndarray,
    box_columns: np.ndarray,
    order: list[int],
    seed: int,
) -> np.ndarray:
    """Local search on the cost *after* the buffer rule (exact, so only for small scenes): moves
    and swaps of blocks while they lower it. Returns box codes (drops included)."""
    rng = np.random.default_rng([seed, 2])

    def after_buffer(candidate: np.ndarray) -> tuple[np.ndarray, float]:
        codes = _apply_drops(candidate[block_of], pairs, order)
        return codes, balance.cost(balance.sums(codes, box_columns)[None])[0]

    block_codes = block_codes.copy()
    codes, cost = after_buffer(block_codes)
    evaluations = 0
    for _ in range(_MAX_PASSES):
        improved = False
        for g in rng.permutation(len(block_codes)):
            here = block_codes[g]
            trials = []
            for there in balance.active[balance.active != here]:
                trial = block_codes.copy()
                trial[g] = there
                trials.append(trial)
            for partner in np.flatnonzero(block_codes != here):
                trial = block_codes.copy()
                trial[g], trial[partner] = block_codes[partner], here
                trials.append(trial)
            results = [after_buffer(trial) for trial in trials]
            evaluations += len(trials)
            best = int(np.argmin([c for _, c in results])) if results else 0
            if results and results[best][1] < cost - _MIN_GAIN:
                block_codes, (codes, cost), improved = trials[best], results[best], True
            if evaluations >= _POLISH_MAX_EVALUATIONS:
                return codes
        if not improved:
            break
    return codes


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
    _check_shares(val, test, "items")
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
