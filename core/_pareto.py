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
- 4 or more: sort-filter-skyline (Chomicki et al., ICDE 2003): points in increasing order of the sum of
  their per-objective ranks, an order in which a dominating point always comes first (its rank sum is
  strictly smaller, in exact integers), each compared with the front found so far: O(n log n + n h).
  Design-space fronts are small (h << n); a front of most points makes it quadratic.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit


def front_mask(values: np.ndarray) -> np.ndarray:
    """Mask of the Pareto front of ``values`` (``n`` points x ``d`` objectives, all minimized, finite).

    >>> front_mask(np.array([[1.0, 3.0], [2.0, 2.0], [2.0, 3.0], [1.0, 3.0]])).tolist()
    [True, True, False, True]
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    n, d = values.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if d == 1:
        return values[:, 0] == values[:, 0].min()
    if d == 2:
        # quicksort: measured 0.67 s for 10 M float64 on the target machine, the stable sort 1.75 s; the
        # kernel handles runs of equal first objectives itself, so the order within a run does not matter
        order = np.argsort(values[:, 0], kind="quicksort")
        return _front_two(values[:, 0].copy(), values[:, 1].copy(), order)
    ranks = _dense_ranks(values)
    if d == 3:
        order = np.lexsort((ranks[:, 2], ranks[:, 1], ranks[:, 0]))
        return _front_three(ranks, order, int(ranks[:, 1].max()) + 1)
    # rank sum first, then the ranks themselves: duplicates end up next to each other
    keys = tuple(ranks[:, j] for j in range(d - 1, -1, -1)) + (ranks.sum(axis=1),)
    order = np.lexsort(keys)
    return _front_many(ranks, order)


def _dense_ranks(values: np.ndarray) -> np.ndarray:
    """Per column, each value's rank among the column's distinct values (0 = smallest); ranks compare
    exactly as the values do, so dominance on ranks is dominance on values."""
    ranks = np.empty(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        _, inverse = np.unique(values[:, j], return_inverse=True)
        ranks[:, j] = inverse.reshape(-1)
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
    n = ranks.shape[0]
    on = np.zeros(n, dtype=np.bool_)
    # tree[r]: smallest third rank among front points whose second rank is in the Fenwick range of r
    tree = np.full(n_second + 1, np.iinfo(np.int64).max, dtype=np.int64)
    i = 0
    while i < n:
        p = order[i]
        j = i + 1
        while j < n and ranks[order[j], 0] == ranks[p, 0] and ranks[order[j], 1] == ranks[p, 1] \
                and ranks[order[j], 2] == ranks[p, 2]:
            j += 1  # exact duplicates of p: the same verdict
        # every point processed before is lexicographically smaller, hence no larger in the first
        # objective and not equal to p: one of them with second <= p's and third <= p's dominates p
        r = ranks[p, 1] + 1
        lowest_third = np.iinfo(np.int64).max
        while r > 0:
            if tree[r] < lowest_third:
                lowest_third = tree[r]
            r -= r & -r
        if lowest_third > ranks[p, 2]:
            for t in range(i, j):
                on[order[t]] = True
            # only front points go in: a dominated point's dominator answers every query it would
            r = ranks[p, 1] + 1
            while r <= n_second:
                if ranks[p, 2] < tree[r]:
                    tree[r] = ranks[p, 2]
                r += r & -r
        i = j
    return on


@jit
def _front_many(ranks, order):
    n, d = ranks.shape
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
                if ranks[order[j], c] != ranks[p, c]:
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
            while c < d and front[f, c] <= ranks[p, c]:
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
            front[h] = ranks[p]
            h += 1
        i = j
    return on
