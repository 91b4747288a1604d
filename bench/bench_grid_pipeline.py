"""Where a warm ``quidam-fast grid`` spends its time: evaluate, dataset, accuracy, summary, write.

Run: ``python bench/bench_grid_pipeline.py [--repeats 3] [--out /tmp/d.nc] [-- grid options]``, e.g.
``python bench/bench_grid_pipeline.py --out /tmp/r.nc -- --network resnet18``. Each repeat runs the
``grid`` command in this process (the JIT warmed up first, as a warm command finds the on-disk cache)
with timers around its pieces:

* evaluate: :func:`quidam_fast.evaluate` less the dataset step (flatten, kernels);
* dataset: ``engine._to_dataset`` (labelling the kernel's arrays, derived variables);
* accuracy: ``attach_accuracy`` (the accuracy table's join);
* summary: :func:`quidam_fast.report` and its text;
* write: ``cli.grid._write`` (encoding, compressing and writing the file);
* open: :func:`quidam_fast.open_result` of the written file, every variable (what export and pareto read).

Each figure is the median of the repeats; the file's size is printed with them. Peak memory is the
command's, measured outside (``/usr/bin/time -v quidam-fast grid ...``): one process here holds several
results over its repeats.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import time
from pathlib import Path

PHASES = ("evaluate", "dataset", "accuracy", "summary", "write")


def _size_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="/tmp/quidam-bench-grid.nc", help="the result file (.nc or .zarr)")
    parser.add_argument("grid_args", nargs="*", help="options passed to grid (after --)")
    args = parser.parse_args()

    import quidam_fast as qf
    import quidam_fast.cli.grid as grid_module
    import quidam_fast.engine as engine
    from quidam_fast.cli.main import app

    seconds: dict[str, float] = {}

    def timed(phase, function):
        def wrapper(*a, **kw):
            started = time.perf_counter()
            try:
                return function(*a, **kw)
            finally:
                seconds[phase] = seconds.get(phase, 0.0) + time.perf_counter() - started
        return wrapper

    # evaluate's own time includes the dataset's: the difference is the kernels and the flattening
    engine._to_dataset = timed("dataset", engine._to_dataset)
    qf.evaluate = timed("evaluate+dataset", qf.evaluate)
    grid_module.attach_accuracy = timed("accuracy", grid_module.attach_accuracy)
    qf.report = timed("summary", qf.report)
    grid_module._write = timed("write", grid_module._write)

    qf.warm_up()
    out = Path(args.out)
    runs: list[dict[str, float]] = []
    for _ in range(args.repeats):
        seconds.clear()
        started = time.perf_counter()
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            app(["grid", "--quiet", "--out", str(out), *args.grid_args], standalone_mode=False)
        seconds["total"] = time.perf_counter() - started
        seconds["evaluate"] = seconds.pop("evaluate+dataset") - seconds["dataset"]
        opened = time.perf_counter()
        qf.open_result(out)
        seconds["open"] = time.perf_counter() - opened
        runs.append(dict(seconds))
    medians = {name: statistics.median(run[name] for run in runs) for name in (*PHASES, "total", "open")}
    print(f"grid {' '.join(args.grid_args) or '(default)'} --out {out}: median of {args.repeats} runs (warm, in-process)")
    for name in (*PHASES, "total", "open"):
        print(f"  {name:<9} {medians[name]:7.2f} s   (runs: {', '.join(f'{run[name]:.2f}' for run in runs)})")
    print(f"  file      {_size_bytes(out) / 1e6:,.1f} MB ({out})")
    if out.is_dir():
        shutil.rmtree(out)
    else:
        os.remove(out)


if __name__ == "__main__":
    main()
