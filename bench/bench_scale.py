"""Streamed grids against their size: throughput and peak memory from 10^6 to 10^9 design points.

Run: ``python bench/bench_scale.py [--max-points 1e7] [--modes totals,reduce-only] [--memory 2GB]
[--folder /tmp]``. For each size (powers of ten from 10^6 up to ``--max-points``) and mode, one fresh
Python process evaluates ResNet-18 over the space :func:`space_for` gives with
:func:`quidam_fast.evaluate_to_store` into a zarr store under ``--folder`` (removed afterwards) and
reports its wall time and its peak RSS (``resource.getrusage``'s ``ru_maxrss`` of that process: the
interpreter, the imports, the JIT's on-disk cache and every chunk). Modes:

* ``totals``: network totals stored per point (no per-layer values) and the Pareto front of
  (perf_per_area max, energy_per_inference_j min) kept;
* ``reduce-only``: the reductions alone (front, best per group, histograms), no per-point arrays.

With ``--resume-check``, each size also runs a second time, is killed (SIGKILL) at a random moment and
resumed, and the resumed store is compared with the uninterrupted one, zarr chunk by zarr chunk.

Each process first evaluates a tiny space (untimed) so the kernels are loaded from the on-disk cache
before the clock starts; the time is :func:`quidam_fast.evaluate_to_store`'s, from the first chunk to
the merged reductions, writing included.

The spaces (reproducible; the printed table says how many points each one has): from the embedded
default space (1,769,472 points), ``clock_mhz`` keeps 100 and 200 MHz for 10^6 (1,179,648 points);
above it, axes grow one value at a time in the order dram_gbps, clock_mhz, glb_kib, rows, cols, each
new list geometric between the axis's default extremes (rounded to integers for integer axes) with one
value more, until the space has at least the target's points.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

#: The axes grown, in turn, above the default space (their default extremes bound the new values).
GROWN = ("dram_gbps", "clock_mhz", "glb_kib", "rows", "cols")

_CHILD = r"""
import json, resource, sys, time
import quidam_fast as qf
from quidam_fast.space import DesignSpace
axes, store, mode, memory = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
qf.evaluate("resnet18", {"rows": [8, 16]}, per_layer=False)  # the kernels from the on-disk cache, untimed
started = time.perf_counter()
reductions = qf.evaluate_to_store("resnet18", DesignSpace(axes={k: tuple(v) for k, v in axes.items()}), store,
                                  memory=memory, reduce_only=mode == "reduce-only")
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "chunks": int(reductions.attrs["chunks"]), "front": int(reductions.sizes["front"]),
                  "valid": int(reductions.valid_points.sum())}))
"""


def space_for(target: int) -> dict[str, list]:
    """The axes of the benchmark's space for ``target`` points (see the module's docstring)."""
    from quidam_fast.space import AXES, DEFAULT_AXES

    axes = {name: list(values) for name, values in DEFAULT_AXES.items()}
    if target < math.prod(len(v) for v in axes.values()):
        axes["clock_mhz"] = [100.0, 200.0]
        return axes
    turn = 0
    while math.prod(len(v) for v in axes.values()) < target:
        name = GROWN[turn % len(GROWN)]
        turn += 1
        low, high = min(DEFAULT_AXES[name]), max(DEFAULT_AXES[name])
        count = len(axes[name]) + 1
        values = [low * (high / low) ** (i / (count - 1)) for i in range(count)]
        if AXES[name][1] is int:
            values = _spread_integers(low, high, count)
        else:
            values = [float(f"{v:.4g}") for v in values]
        axes[name] = values
    return axes


def _spread_integers(low: int, high: int, count: int) -> list[int]:
    """``count`` distinct integers from ``low`` to ``high``, as evenly spread in log scale as rounding allows."""
    chosen: set[int] = set()
    for i in range(count):
        value = int(round(low * (high / low) ** (i / (count - 1))))
        while value in chosen:
            value += 1
        chosen.add(value)
    return sorted(chosen)


def _child(axes: dict, store: Path, mode: str, memory: str) -> dict | str:
    """One run in a fresh process: its figures, or why it failed."""
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(axes), str(store), mode, memory],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def _resume_check(axes: dict, whole: Path, mode: str, memory: str, seconds: float) -> str:
    """Run again into a second store, SIGKILL it after a random delay (start-up, about 3 s, plus up to
    the uninterrupted run's time), resume it, and compare it with ``whole``: every zarr chunk of every
    array, one at a time (bounded memory), and the reductions."""
    import random

    import numpy as np
    import xarray as xr
    import zarr

    other = whole.parent / "resumed.zarr"
    delay = random.uniform(3.0, 3.0 + seconds)
    process = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(axes), str(other), mode, memory],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
    chunks_dir = other / "quidam_stream" / "chunks"
    done_before = len(list(chunks_dir.glob("*.npz"))) if chunks_dir.exists() else 0
    figures = _child(axes, other, mode, memory)
    if isinstance(figures, str):
        return f"resume failed: {figures}"
    record = json.loads((whole / "quidam_stream" / "run.json").read_text())
    grid = [-(-s // c) for s, c in zip(record["shape"], record["chunk"])]
    a, b = zarr.open_group(str(whole), mode="r", zarr_format=2), zarr.open_group(str(other), mode="r", zarr_format=2)
    compared = 0
    for name in sorted(a.array_keys()):
        if name in record["dims"] or name == "network":
            continue
        for position in np.ndindex(*grid):
            region = tuple(slice(p * c, min((p + 1) * c, s)) for p, c, s in zip(position, record["chunk"], record["shape"]))
            x, y = a[name][region], b[name][region]
            if not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                return f"killed after {delay:.1f} s, resumed: DIFFERS in {name} at {region}"
            compared += 1
    ra = xr.load_dataset(whole / "quidam_stream" / "reductions.nc")
    rb = xr.load_dataset(other / "quidam_stream" / "reductions.nc")
    for reductions in (ra, rb):
        reductions.attrs.pop("evaluation_seconds", None)
    if not ra.identical(rb):
        return f"killed after {delay:.1f} s, resumed: the reductions DIFFER"
    return (f"killed after {delay:.1f} s with {done_before:,} of {record['chunks']:,} chunks complete, resumed in "
            f"{figures['seconds']:.1f} s: identical ({compared:,} array chunks and the reductions compared)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-points", type=float, default=1e9, help="largest size (a power of ten; default 1e9)")
    parser.add_argument("--min-points", type=float, default=1e6, help="smallest size (default 1e6)")
    parser.add_argument("--modes", default="totals,reduce-only", help="comma-separated: totals, reduce-only")
    parser.add_argument("--memory", default="2GB", help="the runs' --memory (default 2GB)")
    parser.add_argument("--folder", default=tempfile.gettempdir(), help="where the stores are written (and removed)")
    parser.add_argument("--resume-check", action="store_true",
                        help="also run each size again, kill it (SIGKILL) at a random moment, resume it, and compare "
                             "the resumed store with the uninterrupted one chunk by chunk")
    args = parser.parse_args()
    sizes = [10**e for e in range(round(math.log10(args.min_points)), round(math.log10(args.max_points)) + 1)]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    print(f"ResNet-18, totals only, --memory {args.memory}; one fresh process per row (peak RSS: its ru_maxrss)")
    print(f"{'target':>7} {'points':>14} {'mode':<12} {'chunks':>6} {'seconds':>9} {'M points/s':>11} "
          f"{'peak RSS MB':>12} {'store MB':>9}")
    for size in sizes:
        axes = space_for(size)
        points = math.prod(len(v) for v in axes.values())
        label = f"1e{round(math.log10(size))}"
        for mode in modes:
            folder = Path(tempfile.mkdtemp(dir=args.folder, prefix="bench-scale-"))
            store = folder / "scale.zarr"
            try:
                figures = _child(axes, store, mode, args.memory)
                if isinstance(figures, str):
                    print(f"{label:>7} {points:>14,} {mode:<12} failed: {figures}")
                    continue
                stored = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
                print(f"{label:>7} {points:>14,} {mode:<12} {figures['chunks']:>6,} "
                      f"{figures['seconds']:>9.1f} {points / figures['seconds'] / 1e6:>11.2f} "
                      f"{figures['peak_rss_bytes'] / 1e6:>12.0f} {stored / 1e6:>9.1f}", flush=True)
                if args.resume_check:
                    print(f"{'':>7} {'':>14} {'':<12} {_resume_check(axes, store, mode, args.memory, figures['seconds'])}",
                          flush=True)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    print("axes of each space: python -c 'import bench_scale; print(bench_scale.space_for(N))' (in bench/)")


if __name__ == "__main__":
    main()
