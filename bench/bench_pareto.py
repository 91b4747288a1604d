"""Pareto fronts per second, side by side with references, and the report's time on a result.

Run: ``python bench/bench_pareto.py [--repeats 3] [--result quidam-grid.nc]``. Single core, JIT warmed
up first; each figure is the median of the repeats.

* 10 M points x 2 objectives, random (uniform) and anti-correlated (points near a line, a large front):
  ``qf.pareto`` on a dataset end to end, its kernel (``quidam_fast._pareto.front_mask``) alone, and a numpy
  reference (lexicographic sort, running minimum, duplicates handled by runs), fronts checked equal;
* 1 M points x 3 objectives, the same two kinds: ``qf.pareto`` and the kernel; the reference is the brute
  force (every pair compared, numpy-vectorized per point) on a subset, fronts checked equal there;
* 4 objectives: 1 M random points and 100 k anti-correlated ones (nearly all on the front: the divide
  and conquer's worst case), with the brute force on a subset;
* with ``--result``: ``qf.open_result`` (every variable, and only the report's, as ``quidam-fast report``
  reads it) and ``qf.report`` on that file (the default ``quidam-fast grid`` result: 1.8 M points).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import xarray as xr

import quidam_fast as qf
from quidam_fast._pareto import front_mask
from quidam_fast.analysis import REPORT_VARIABLES


def points(n: int, d: int, kind: str, seed: int = 0) -> np.ndarray:
    """``n`` x ``d`` objectives to minimize: uniform, or anti-correlated (the last objective falls as the
    others rise, plus 0.1% noise: most points near the front)."""
    rng = np.random.default_rng(seed)
    values = rng.random((n, d))
    if kind == "anti-correlated":
        values[:, -1] = 1.0 - values[:, :-1].mean(axis=1) + 1e-3 * rng.random(n)
    return values


def as_dataset(values: np.ndarray) -> xr.Dataset:
    """The objectives as variables on two dims (what ``qf.pareto`` takes); the second maximized."""
    n, d = values.shape
    shape = (n // 1000, 1000)
    data = {f"o{j}": (("a", "b"), np.ascontiguousarray(-values[:, j] if j == 1 else values[:, j]).reshape(shape))
            for j in range(d)}  # contiguous, as a result's variables are
    return xr.Dataset(data)


def objectives(d: int) -> dict[str, str]:
    return {f"o{j}": "max" if j == 1 else "min" for j in range(d)}


def numpy_sweep(values: np.ndarray) -> np.ndarray:
    """2-D reference: lexicographic sort, exclusive running minimum of the second objective; the first
    of each run of identical points decides for the run (duplicates do not dominate each other)."""
    order = np.lexsort((values[:, 1], values[:, 0]))
    first, second = values[order, 0], values[order, 1]
    before = np.concatenate(([np.inf], np.minimum.accumulate(second)[:-1]))
    starts = np.concatenate(([True], (first[1:] != first[:-1]) | (second[1:] != second[:-1])))
    run = np.cumsum(starts) - 1
    on_sorted = (second < before)[starts][run]
    on = np.empty(len(values), dtype=bool)
    on[order] = on_sorted
    return on


def brute_force(values: np.ndarray) -> np.ndarray:
    """Every pair compared (numpy over the others, one point at a time): O(n^2)."""
    on = np.empty(len(values), dtype=bool)
    for i, point in enumerate(values):
        no_worse = (values <= point).all(axis=1)
        better = (values < point).any(axis=1)
        on[i] = not (no_worse & better).any()
    return on


def median_seconds(function, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        out = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--result", help="a result file to time open_result and report on")
    args = parser.parse_args()

    started = time.perf_counter()
    for d in (2, 3, 4):
        front_mask(points(200, d, "random"))
        qf.pareto(as_dataset(points(2000, d, "random")), objectives(d))
    print(f"warm-up (JIT compile or cache load): {time.perf_counter() - started:.2f} s")
    print()
    print(f"median of {args.repeats} runs, one core")
    print(f"{'what':<44} {'points':>11} {'front':>9} {'seconds':>8} {'M points/s':>11}")
    rows = []

    def row(what, n, front, seconds):
        rows.append(seconds)
        print(f"{what:<44} {n:>11,} {front:>9,} {seconds:>8.3f} {n / seconds / 1e6:>11.2f}")

    ratios = []
    for kind in ("random", "anti-correlated"):
        values = points(10_000_000, 2, kind)
        ds = as_dataset(values)
        seconds, front = median_seconds(lambda: qf.pareto(ds, objectives(2)), args.repeats)
        row(f"qf.pareto, 2 objectives, {kind}", len(values), int(front.sum()), seconds)
        kernel, on = median_seconds(lambda: front_mask(values), args.repeats)
        row("  kernel alone", len(values), int(on.sum()), kernel)
        reference, expected = median_seconds(lambda: numpy_sweep(values), args.repeats)
        row("  numpy sort-based sweep", len(values), int(expected.sum()), reference)
        assert np.array_equal(on, expected) and np.array_equal(front.values.ravel(), on), "fronts differ"
        ratios.append((f"2 objectives, {kind}: numpy sweep / kernel", reference / kernel))
    for kind in ("random", "anti-correlated"):
        values = points(1_000_000, 3, kind)
        ds = as_dataset(values)
        seconds, front = median_seconds(lambda: qf.pareto(ds, objectives(3)), args.repeats)
        row(f"qf.pareto, 3 objectives, {kind}", len(values), int(front.sum()), seconds)
        kernel, on = median_seconds(lambda: front_mask(values), args.repeats)
        row("  kernel alone", len(values), int(on.sum()), kernel)
        assert np.array_equal(front.values.ravel(), on), "fronts differ"
        subset = values[:20_000]
        brute, expected = median_seconds(lambda: brute_force(subset), 1)
        row("  brute force O(n^2), subset", len(subset), int(expected.sum()), brute)
        small, on_subset = median_seconds(lambda: front_mask(subset), args.repeats)
        row("  kernel on the same subset", len(subset), int(on_subset.sum()), small)
        assert np.array_equal(on_subset, expected), "fronts differ from the brute force"
        ratios.append((f"3 objectives, {kind}, 20,000 points: brute force / kernel", brute / small))
    for n, kind in ((1_000_000, "random"), (100_000, "anti-correlated")):
        values = points(n, 4, kind)
        ds = as_dataset(values)
        seconds, front = median_seconds(lambda: qf.pareto(ds, objectives(4)), args.repeats)
        row(f"qf.pareto, 4 objectives, {kind}", len(values), int(front.sum()), seconds)
        subset = values[:5_000]
        brute, expected = median_seconds(lambda: brute_force(subset), 1)
        row("  brute force O(n^2), subset", len(subset), int(expected.sum()), brute)
        small, on_subset = median_seconds(lambda: front_mask(subset), args.repeats)
        row("  kernel on the same subset", len(subset), int(on_subset.sum()), small)
        assert np.array_equal(on_subset, expected), "fronts differ from the brute force"
    print()
    for what, ratio in ratios:
        print(f"{what}: {ratio:,.0f}x")

    if args.result:
        print()
        opened, ds = median_seconds(lambda: qf.open_result(args.result), args.repeats)
        subset, _ = median_seconds(lambda: qf.open_result(args.result, variables=REPORT_VARIABLES), args.repeats)
        seconds, figures = median_seconds(lambda: qf.report(ds), args.repeats)
        print(f"result {args.result}: {ds.valid.size:,} design points ({int(ds.valid.sum()):,} valid)")
        print(f"  qf.open_result (read and check): {opened:.2f} s; only the report's variables: {subset:.2f} s")
        print(f"  qf.report: {seconds:.2f} s (Pareto front of "
              f"{figures.sections[0]['pareto']['of']:,} designs: {figures.sections[0]['pareto']['points']:,} on it)")


if __name__ == "__main__":
    main()
