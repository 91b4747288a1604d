"""Pareto-front kernels: plain loops over bare arrays (numpy and numba only; labels live in
:mod:`quidam_fast.analysis`).

Every kernel takes objectives already turned into "smaller is better" (the wrapper negates those to
maximize) and free of NaN and infinities (the wrapper leaves those points out), and returns a boolean
mask, True on the front.

Dominance is the usual one: ``q`` dominates ``p`` when ``q`` is no worse in every objective and strictly
better in at least one. So points equal in every objective never dominate each other: **exact duplicates
are all on the front, or all off it** (the one tie rule; ``tests/test_pareto.py`` checks it against an
independent brute force).

Methods (``n`` points, ``h`` of them on the front):

- 2 objectives: sort by the first, then one sweep keeping a running minimum of the second:
  O(n log n), the sort dominating (numpy's ``argsort``; measured in ``bench/bench_pareto.py``).
- 3 objectives: lexicographic order, then a sweep whose state is a Fenwick tree over the ranks of the
  second objective holding the minimum third objective of the front so far (Kung, Luccio & Preparata's
  O(n log n) bound for three dimensions, with a prefix-minimum tree in place of their balanced tree).
- 4 or more: divide and conquer on the first objective (Kung, Luccio & Preparata, J. ACM 1975: the
  fronts of the lower and upper halves, then the upper front's points some lower front point is no
  worse than in the other objectives, itself split the same way down to a sweep in two),
  O(n log^(d-2) n); subsets of up to a thousand points by a sort-filter skyline (Chomicki et al., ICDE
  2003: increasing rank sum, an order in which a dominating point always comes first, each point
  compared with the front so far).

Above ten thousand points, one linear pass first drops the points a few pivots dominate (exact: a pivot
is a point); on design-space data that leaves a small fraction for the sorts.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit


def front_mask(values: np.ndarray) -> np.ndarray:
    """Mask of the Pareto front of ``values`` (``n`` points x ``d`` objectives, all minimized, finite).

    >>> front_mask(np.array([[1.0, 3.0], [2.0, 2.0], [2.0, 3.0], [1.0, 3.0]])).tolist()
    [True, True, False, True]
    """
    values = np.asarray(values, dtype=np.float64)
    return front_mask_rows(np.ascontiguousarray(values.T))


def front_mask_rows(objectives: np.ndarray) -> np.ndarray:
    """:func:`front_mask` on ``d`` x ``n`` values (one contiguous row per objective: the layout the
    kernels read, built without a strided copy by :func:`quidam_fast.pareto`)."""
    objectives = np.ascontiguousarray(objectives, dtype=np.float64)
    d, n = objectives.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if d == 1:
        return objectives[0] == objectives[0].min()
    if n > _PREFILTER_MIN_POINTS:
        # drop, in one linear pass, the points a few good points (pivots) dominate, before any sort:
        # exact (a pivot is a point), and on typical data it leaves a small fraction to sort (10 M
        # uniform points x 2: 300 left, 0.25 s CPU in all instead of 0.7 s for the sort alone)
        keep = _undominated_by(objectives, _pivots(objectives))
        if keep.mean() < 0.5:
            on = np.zeros(n, dtype=bool)
            on[np.flatnonzero(keep)] = front_mask_rows(objectives[:, keep])
            return on
    if d == 2:
        # quicksort: measured 0.67 s for 10 M float64 on the target machine, the stable sort 1.75 s; the
        # kernel handles runs of equal first objectives itself, so the order within a run does not matter
        order = np.argsort(objectives[0], kind="quicksort")
        return _front_two(objectives[0], objectives[1], order)
    ranks = _dense_ranks(objectives)
    if d == 3:
        order = np.lexsort((ranks[2], ranks[1], ranks[0]))
        return _front_three(ranks, order, int(ranks[1].max()) + 1)
    return _front_many_objectives(ranks)


#: Subsets at most this large go to the sort-filter-skyline kernel, O(n h) <= O(n^2), small here.
_SKYLINE_POINTS = 1024
#: Pairs (A x B) at most this many are compared all at once in the filter step.
_BRUTE_PAIRS = 1 << 14


def _front_many_objectives(ranks: np.ndarray) -> np.ndarray:
    """4 or more objectives: divide and conquer (Kung, Luccio & Preparata, J. ACM 1975) on the distinct
    rank vectors, O(n log^(d-2) n) worst case; subsets of up to :data:`_SKYLINE_POINTS` by the
    sort-filter skyline. Duplicates share their vector's verdict."""
    unique, inverse = np.unique(ranks.T, axis=0, return_inverse=True)
    unique = np.ascontiguousarray(unique.T)  # distinct vectors: dominance is "no worse everywhere"
    keep = _maxima(unique, np.arange(unique.shape[1]), tuple(range(unique.shape[0])))
    on_unique = np.zeros(unique.shape[1], dtype=bool)
    on_unique[keep] = True
    return on_unique[inverse.reshape(-1)]


def _split(values: np.ndarray):
    """A threshold t with values < t and values >= t both non-empty (None when all are equal)."""
    low = values.min()
    middle = np.partition(values, len(values) // 2)[len(values) // 2]
    if middle > low:
        return middle
    above = values[values > low]
    return above.min() if len(above) else None


def _maxima(ranks: np.ndarray, points: np.ndarray, dims: tuple) -> np.ndarray:
    """The points (indices into ``ranks``' columns, distinct vectors on ``dims``) no other of them
    dominates on ``dims``."""
    if len(points) <= _SKYLINE_POINTS or len(dims) <= 3:
        sub = ranks[np.array(dims)][:, points]
        if len(dims) == 1:
            return points[sub[0] == sub[0].min()]
        if len(dims) == 3:  # distinct vectors are already in runs of one: lexicographic order suffices
            order = np.lexsort((sub[2], sub[1], sub[0]))
            return points[_front_three(sub, order, int(sub[1].max()) + 1)]
        if len(dims) == 2:
            order = np.argsort(sub[0], kind="quicksort")
            return points[_front_two(sub[0].astype(np.float64), sub[1].astype(np.float64), order)]
        order = np.lexsort(tuple(sub[::-1]) + (sub.sum(axis=0),))
        return points[_front_many(sub, order)]
    first = ranks[dims[0], points]
    threshold = _split(first)
    if threshold is None:  # all equal in this objective: it decides nothing among them
        return _maxima(ranks, points, dims[1:])
    low, high = points[first < threshold], points[first >= threshold]
    front_low, front_high = _maxima(ranks, low, dims), _maxima(ranks, high, dims)
    # a low point beats a high one in dims[0]: it dominates it if no worse in the others
    beaten = _dominated(ranks, front_low, front_high, dims[1:])
    return np.concatenate([front_low, front_high[~beaten]])


def _dominated(ranks: np.ndarray, a: np.ndarray, b: np.ndarray, dims: tuple) -> np.ndarray:
    """For each point of ``b``: is some point of ``a`` no worse on every one of ``dims``?"""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(b), dtype=bool)
    if len(dims) == 1:
        return ranks[dims[0], b] >= ranks[dims[0], a].min()
    if len(dims) == 2:  # sweep: the smallest second value among a's no larger in the first
        order = np.argsort(ranks[dims[0], a], kind="stable")
        firsts = ranks[dims[0], a][order]
        prefix = np.minimum.accumulate(ranks[dims[1], a][order])
        count = np.searchsorted(firsts, ranks[dims[0], b], side="right")
        beaten = np.zeros(len(b), dtype=bool)
        some = count > 0
        beaten[some] = prefix[count[some] - 1] <= ranks[dims[1], b[some]]
        return beaten
    if len(a) * len(b) <= _BRUTE_PAIRS:
        sub_a, sub_b = ranks[np.array(dims)][:, a], ranks[np.array(dims)][:, b]
        return (sub_a[:, :, None] <= sub_b[:, None, :]).all(axis=0).any(axis=0)
    values = np.concatenate([ranks[dims[0], a], ranks[dims[0], b]])
    threshold = _split(values)
    if threshold is None:
        return _dominated(ranks, a, b, dims[1:])
    a_low, a_high = a[ranks[dims[0], a] < threshold], a[ranks[dims[0], a] >= threshold]
    b_is_low = ranks[dims[0], b] < threshold
    beaten = np.zeros(len(b), dtype=bool)
    beaten[b_is_low] = _dominated(ranks, a_low, b[b_is_low], dims)
    high = b[~b_is_low]
    # a high b: by a high a on all dims, or by a low a (already better in dims[0]) on the rest
    beaten[~b_is_low] = _dominated(ranks, a_high, high, dims) | _dominated(ranks, a_low, high, dims[1:])
    return beaten


#: Below this many points the pivot pass is not worth its cost.
_PREFILTER_MIN_POINTS = 10_000
#: How many pivots the linear pass compares each point with.
_N_PIVOTS = 8


def _pivots(objectives: np.ndarray) -> np.ndarray:
    """Indices of points minimizing weighted sums of the min-max-normalized objectives (one per
    weight vector: each is on the front, and together they spread along it)."""
    low, high = objectives.min(axis=1), objectives.max(axis=1)
    scale = np.where(high > low, high - low, 1.0)
    d = objectives.shape[0]
    weights = np.random.default_rng(0).dirichlet(np.ones(d), size=_N_PIVOTS)  # fixed: results do not vary
    weights[0] = 1.0 / d
    return _argmin_weighted(objectives, low, scale, weights)


def _dense_ranks(objectives: np.ndarray) -> np.ndarray:
    """Per objective, each value's rank among its distinct values (0 = smallest); ranks compare
    exactly as the values do, so dominance on ranks is dominance on values."""
    ranks = np.empty(objectives.shape, dtype=np.int64)
    for j in range(objectives.shape[0]):
        _, inverse = np.unique(objectives[j], return_inverse=True)
        ranks[j] = inverse.reshape(-1)
    return ranks


@jit
def _front_two(first, second, order):
    n = first.shape[0]
    on = np.zeros(n, dtype=np.bool_)
    best_second = np.inf  # smallest second objective among points with a strictly smaller first one
    i = 0
    while i < n:
        value = first[order[i]]
        j = i
        lowest = np.inf
        while j < n and first[order[j]] == value:  # a run of equal first objectives
            if second[order[j]] < lowest:
                lowest = second[order[j]]
            j += 1
        # within the run only the points at its lowest second objective survive (equal ones are
        # duplicates); they are on the front unless an earlier run reached as low or lower
        if lowest < best_second:
            for t in range(i, j):
                if second[order[t]] == lowest:
                    on[order[t]] = True
            best_second = lowest
        i = j
    return on


@jit
def _front_three(ranks, order, n_second):
    n = ranks.shape[1]
    on = np.zeros(n, dtype=np.bool_)
    # tree[r]: smallest third rank among front points whose second rank is in the Fenwick range of r
    tree = np.full(n_second + 1, np.iinfo(np.int64).max, dtype=np.int64)
    i = 0
    while i < n:
        p = order[i]
        j = i + 1
        while j < n and ranks[0, order[j]] == ranks[0, p] and ranks[1, order[j]] == ranks[1, p] \
                and ranks[2, order[j]] == ranks[2, p]:
            j += 1  # exact duplicates of p: the same verdict
        # every point processed before is lexicographically smaller, hence no larger in the first
        # objective and not equal to p: one of them with second <= p's and third <= p's dominates p
        r = ranks[1, p] + 1
        lowest_third = np.iinfo(np.int64).max
        while r > 0:
            if tree[r] < lowest_third:
                lowest_third = tree[r]
            r -= r & -r
        if lowest_third > ranks[2, p]:
            for t in range(i, j):
                on[order[t]] = True
            # only front points go in: a dominated point's dominator answers every query it would
            r = ranks[1, p] + 1
            while r <= n_second:
                if ranks[2, p] < tree[r]:
                    tree[r] = ranks[2, p]
                r += r & -r
        i = j
    return on


@jit
def _front_many(ranks, order):
    d, n = ranks.shape
    on = np.zeros(n, dtype=np.bool_)
    front = np.empty((min(n, 1024), d), dtype=np.int64)  # the front so far, grown by doubling
    h = 0
    i = 0
    while i < n:
        p = order[i]
        j = i + 1
        while j < n:
            same = True
            for c in range(d):
                if ranks[c, order[j]] != ranks[c, p]:
                    same = False
                    break
            if not same:
                break
            j += 1
        # every dominator of p has a strictly smaller rank sum, so it was processed already, and it is
        # on the front or dominated by a front point, which then dominates p too
        dominated = False
        for f in range(h):
            c = 0
            while c < d and front[f, c] <= ranks[c, p]:
                c += 1
            if c == d:  # no worse anywhere, and not equal (duplicates are in the same run)
                dominated = True
                break
        if not dominated:
            for t in range(i, j):
                on[order[t]] = True
            if h == front.shape[0]:
                grown = np.empty((2 * h, d), dtype=np.int64)
                grown[:h] = front
                front = grown
            for c in range(d):
                front[h, c] = ranks[c, p]
            h += 1
        i = j
    return on


@jit
def _argmin_weighted(objectives, low, scale, weights):
    d, n = objectives.shape
    k = weights.shape[0]
    # weights over the scale once: a multiply-add per weight and objective in the loop
    scaled = np.empty((k, d))
    for w in range(k):
        for c in range(d):
            scaled[w, c] = weights[w, c] / scale[c]
    best = np.full(k, np.inf)
    index = np.zeros(k, dtype=np.int64)
    for i in range(n):
        for w in range(k):
            total = 0.0
            for c in range(d):
                total += scaled[w, c] * (objectives[c, i] - low[c])
            if total < best[w]:
                best[w] = total
                index[w] = i
    return index


@jit
def _undominated_by(objectives, pivots):
    """False where one of the ``pivots`` (point indices) dominates the point."""
    d, n = objectives.shape
    keep = np.ones(n, dtype=np.bool_)
    for i in range(n):
        for p in pivots:
            no_worse, better = True, False
            for c in range(d):
                if objectives[c, p] > objectives[c, i]:
                    no_worse = False
                    break
                if objectives[c, p] < objectives[c, i]:
                    better = True
            if no_worse and better:
                keep[i] = False
                break
    return keep
