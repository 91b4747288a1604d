"""Design points per second of the engine on the default grid, side by side with numpy broadcasting.

Run: ``python bench/bench_engine.py [--repeats 5]``. Single core, JIT warmed up first; each figure is
the median of the repeats. The timings:

* ``side by side``: today's engine (a copy of the working tree) against the engine of ``--versus`` (default
  0767914, the engine when issue 13 was filed), on ResNet-18 over the default space (1,769,472 points):
  the kernel, ``evaluate()``, a warm ``quidam-fast grid`` and the JIT compile from an empty cache, each
  run a fresh process, the two engines alternating within each repeat (see :func:`side_by_side`).
  ``--side-by-side-only`` runs just this part;
* ``systolic``: the ``ws``/``os``/``is`` part of the space through the numba kernel and through
  ``bench/numpy_model.py`` (the same model as numpy broadcasting, checked equal in
  ``tests/test_numpy_model.py``; numpy in blocks of ``NUMPY_CHUNK_POINTS`` points), with their ratio;
* ``rs``: the row-stationary part (tiling search inside), on the default axes and on a space with one
  DRAM bandwidth and clock, where no point can reuse another's access counts;
* ``co-exploration``: the model family (``quidam_fast.space.MODEL_FAMILY``) over the default space,
  as one ``evaluate([...])`` with a ``network`` dimension and, side by side on the same designs, as
  one single-network ``evaluate`` per network (in one process, and each in its own, as separate
  ``grid`` runs are); every run is a fresh process and the variants alternate within each repeat, so a
  machine whose load drifts slows all alike. ``--coexploration-only`` runs just this part.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

import quidam_fast as qf  # noqa: E402
from quidam_fast import engine, kernels  # noqa: E402
from quidam_fast.space import DesignSpace  # noqa: E402
from quidam_fast.workloads import LAYER_COLUMNS  # noqa: E402
import numpy_model  # noqa: E402


def kernel_inputs(network, space, tech):
    arrays = engine._flatten(space, tech)
    layers = np.stack([network.table()[c] for c in LAYER_COLUMNS], axis=1)
    arrays["w_used"], arrays["real_row_pairs"] = engine._row_stationary_inputs(network)
    return arrays, layers


def run_kernel(arrays, network, tech, n_points):
    """The engine's kernels over every point, as ``evaluate()`` runs them (totals only)."""
    totals = np.empty((n_points, kernels.N_TOTALS))
    dummy = np.empty((1, 1, kernels.N_LAYER_RESULTS))
    engine.run_network(arrays, network, tech, kernels.OBJECTIVE_ENERGY, totals, dummy, False)
    return totals


# Points per numpy block: bounds the broadcast temporaries (layers x points x terms) to a few hundred MB.
NUMPY_CHUNK_POINTS = 1 << 16


def run_numpy(arrays, layers, tech, n_points):
    """The numpy model over the same flat indices and chunks; returns (cycles, energy_pj) per point."""
    shape = tuple(arrays["shape"])
    # per layer, the inputs the kernel derives from the layer table: input pixels some output reads
    # (one image and channel), and those of os pixel folds (per array-rows and batch value)
    touched = np.array([kernels._rows_in(-lay[10], lay[5], lay[9], lay[3], lay[7]) for lay in layers]) * arrays["w_used"]
    fold_touched = np.array([[[kernels._os_pixel_tiles_touched(lay[0] * b, lay[5], lay[6], lay[3], lay[4], lay[7], lay[8],
                                                               lay[9], lay[10], r) for b in arrays["batch_of"]]
                              for r in arrays["rows_of"]] for lay in layers])
    cycles = np.full(n_points, np.nan)
    energy = np.full(n_points, np.nan)
    for start in range(0, n_points, NUMPY_CHUNK_POINTS):
        stop = min(start + NUMPY_CHUNK_POINTS, n_points)
        idx = np.unravel_index(np.arange(start, stop), shape)
        pe_i, bits_i, glb_i = arrays["pe_index_of"][idx[0]], idx[1], idx[7]
        pe = arrays["pe_table"][pe_i, bits_i]
        glb = arrays["glb_table"][glb_i, pe_i, bits_i]
        clock_mhz = arrays["clock_mhz_of"][idx[11]]
        # the kernel's two masks: pe_type not characterized at these bits; clock beyond the critical path
        ok = ~np.isnan(pe[:, kernels.PE_ACT_BITS]) & ~(clock_mhz * pe[:, kernels.PE_CRITICAL_NS] > 1000.0)
        col = lambda v: v[ok][:, None]  # noqa: E731
        dataflow = arrays["dataflow_of"][idx[8]]
        # the operand registers loaded every MAC: ws the activation's, os both, is the weight's
        register_energy = (np.where(dataflow != kernels.IS, pe[:, kernels.PE_REG_ACT_ENERGY], 0.0)
                           + np.where(dataflow != kernels.WS, pe[:, kernels.PE_REG_WEIGHT_ENERGY], 0.0))
        rows, cols = col(arrays["rows_of"][idx[2]]), col(arrays["cols_of"][idx[3]])
        a, w, p = (col(pe[:, c]).astype(np.int64) for c in (kernels.PE_ACT_BITS, kernels.PE_WEIGHT_BITS, kernels.PE_PSUM_BITS))
        leak = ((rows * cols) * col(pe[:, kernels.PE_MAC_LEAK_UW] + pe[:, kernels.PE_REG_LEAK_UW])
                + col(glb[:, kernels.GLB_LEAK_MW]) * 1e3)
        # the wire each kind of transfer drives: the floorplan of kernels._network_mm, in numpy
        pitch = np.sqrt((pe[:, kernels.PE_MAC_AREA] + pe[:, kernels.PE_REG_AREA]) * 1e-6)
        width, height = arrays["cols_of"][idx[3]] * pitch, arrays["rows_of"][idx[2]] * pitch
        half_glb = 0.5 * np.sqrt(glb[:, kernels.GLB_AREA_MM2])
        feed_left, feed_top = half_glb + 0.25 * height, half_glb + 0.25 * width
        across, down, half_down = feed_left + width, feed_top + height, feed_top + 0.5 * height
        ws, os_ = dataflow == kernels.WS, dataflow == kernels.OS
        net_mm = np.stack([np.where(ws | os_, across, half_down), np.where(ws, half_down, np.where(os_, down, across)),
                           feed_top, down, np.where(os_, half_down, down)], axis=1)
        c, e = numpy_model.systolic_energy_and_cycles(
            col(arrays["dataflow_of"][idx[8]]), rows, cols, col(arrays["glb_kib_of"][glb_i]) * 8192, a, w, p,
            col(pe[:, kernels.PE_MAC_ENERGY]), col(register_energy),
            glb[ok][:, None, :6], leak, col(clock_mhz), col(arrays["dram_gbps_of"][idx[10]]),
            layers, net_mm[ok][:, None, :], tech.wire_energy_pj_per_bit_mm, tech.dram_energy_pj_per_bit,
            col(arrays["batch_of"][idx[9]]), touched, fold_touched[:, idx[2], idx[9]].T[ok])
        cycles[start:stop][ok] = c
        energy[start:stop][ok] = e
    return cycles, energy


def median_seconds(function, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--versus", default=BASELINE_COMMIT, metavar="COMMIT",
                        help=f"The engine to run side by side with the working tree's (default {BASELINE_COMMIT}).")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--side-by-side-only", action="store_true", help="Only the side-by-side comparison.")
    only.add_argument("--coexploration-only", action="store_true", help="Only the co-exploration comparison.")
    args = parser.parse_args(argv)
    network, tech = qf.load_network("resnet18"), qf.load_tech()
    n_layers = len(network.layers)
    print(f"warm-up (JIT compile or cache load): {qf.warm_up():.2f} s")
    if args.coexploration_only:
        coexploration(tech, args.repeats)
        return
    side_by_side(args.versus, args.repeats)
    if args.side_by_side_only:
        return

    space = qf.default_space()
    rows = []
    systolic = DesignSpace(axes={**space.axes, "dataflow": ("ws", "os", "is")})
    s_arrays, layers = kernel_inputs(network, systolic, tech)
    t_numba = median_seconds(lambda: run_kernel(s_arrays, network, tech, systolic.size), args.repeats)
    t_numpy = median_seconds(lambda: run_numpy(s_arrays, layers, tech, systolic.size), max(1, args.repeats // 2))
    rows.append(("kernel, systolic part", systolic.size, t_numba))
    rows.append(("numpy broadcasting, systolic part", systolic.size, t_numpy))

    row_stationary = DesignSpace(axes={**space.axes, "dataflow": ("rs",)})
    r_arrays, _ = kernel_inputs(network, row_stationary, tech)
    rows.append(("kernel, rs part", row_stationary.size,
                 median_seconds(lambda: run_kernel(r_arrays, network, tech, row_stationary.size), args.repeats)))
    # the rs search's counts are shared by points differing only in DRAM bandwidth and clock; with one
    # value of each nothing is shared, so this row is the search's cost per layer evaluation
    unshared = DesignSpace(axes={**row_stationary.axes, "dram_gbps": (25.6,), "clock_mhz": (200.0,)})
    u_arrays, _ = kernel_inputs(network, unshared, tech)
    rows.append(("kernel, rs part, no shared counts", unshared.size,
                 median_seconds(lambda: run_kernel(u_arrays, network, tech, unshared.size), args.repeats)))

    print(f"\nResNet-18 ({n_layers} layers), technology {tech.name}, median of {args.repeats} runs, one core")
    print(f"{'what':<36}{'points':>10}{'seconds':>10}{'M points/s':>12}{'M layer-evals/s':>17}")
    for label, points, seconds in rows:
        print(f"{label:<36}{points:>10,}{seconds:>10.3f}{points / seconds / 1e6:>12.2f}{points * n_layers / seconds / 1e6:>17.1f}")
    print(f"\nnumba / numpy on the same systolic points: {t_numpy / t_numba:.1f}x")
    coexploration(tech, args.repeats)


# The engine issue 13 measures against ("today's engine" when it was filed).
BASELINE_COMMIT = "0767914"
# The engine functions evaluate() calls to run the kernels, the first one an engine defines being its
# kernel entry: run_network (once per network; the factorized engine) or, at 0767914, run_chunk (once
# per chunk of points). The side by side times the entry inside evaluate(), so it needs no knowledge
# of its arguments; an engine whose evaluate() never calls it prints "not reachable" in the kernel row.
KERNEL_ENTRIES = ("run_network", "run_chunk")
# ws/os/is results do not depend on these axes (the arrays have registers, not scratchpads: checked on
# the default space, every ws/os/is variable is equal across the 8 scratchpad combinations), so
# "distinct designs" counts those points once per scratchpad combination; rs depends on every axis.
SCRATCHPAD_AXES = ("spad_ifmap", "spad_filter", "spad_psum")

# One measurement in a fresh process; the engine is whichever `import quidam_fast` finds (PYTHONPATH
# selects the old one). argv: what ("compile" or "evaluate"), then KERNEL_ENTRIES. Prints one JSON line.
_PROBE = """
import json, sys, time
import quidam_fast as qf
import quidam_fast.engine as engine
what = sys.argv[1]
entry_name = next((name for name in sys.argv[2:] if hasattr(engine, name)), None)
out = {"module": qf.__file__, "kernel_entry": entry_name}
if what == "compile":
    out["compile_s"] = qf.warm_up()
else:
    qf.warm_up()
    entry, inside = getattr(engine, entry_name or "", None), [0.0, 0]
    if entry is not None:
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return entry(*args, **kwargs)
            finally:
                inside[0] += time.perf_counter() - started
                inside[1] += 1
        setattr(engine, entry_name, timed)
    network, space = qf.load_network("resnet18"), qf.default_space()
    started = time.perf_counter()
    qf.evaluate(network, space, per_layer=False)
    out["evaluate_s"] = time.perf_counter() - started
    out["kernel_s"] = inside[0] if inside[1] else None
    out["axes"] = {name: list(values) for name, values in space.axes.items()}
print(json.dumps(out, default=float))
"""


def distinct_designs(axes: dict) -> int:
    """Points of a space whose results can differ: ws/os/is points once per scratchpad combination."""
    per_dataflow = math.prod(len(values) for name, values in axes.items() if name != "dataflow")
    scratchpads = math.prod(len(axes[name]) for name in SCRATCHPAD_AXES)
    return sum(per_dataflow if dataflow == "rs" else per_dataflow // scratchpads for dataflow in axes["dataflow"])


def _engine_copy(commit: str | None, folder: Path) -> Path:
    """A copy of an engine, not installed: ``commit``'s core/, cli/ and quant/ (``git archive``), or with
    ``commit`` None the working tree's as they are now (so that edits made while the bench runs, which
    would also make numba recompile, change nothing); laid out as the package maps them
    (``quidam_fast`` = core, ``quidam_fast.cli`` = cli, ``quidam_fast.quant`` = quant). Returns the
    folder to put on PYTHONPATH."""
    root = Path(__file__).resolve().parents[1]
    tree = folder / "tree"
    if commit is None:
        for part in ("core", "cli", "quant"):
            shutil.copytree(root / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "archive", "--format=tar", commit, "core", "cli", "quant"], cwd=root,
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
    (tree / "core/cli").symlink_to("../cli")
    (tree / "core/quant").symlink_to("../quant")
    (folder / "pkg").mkdir()
    (folder / "pkg/quidam_fast").symlink_to(tree / "core")
    return folder / "pkg"


def side_by_side(commit: str, repeats: int) -> None:
    """The working tree's engine against ``commit``'s, on ResNet-18 over each one's default space.

    Every measurement is a fresh process (the interpreter, imports and JIT cache load are in the grid
    row only), and the two engines alternate within each repeat, first one then the other, so that a
    shared machine whose load drifts slows both alike; each figure is the median of ``repeats`` runs.

    * kernel: seconds inside the engine's kernel entry (``KERNEL_ENTRIES``) during the ``evaluate()``
      below: each version's own loop over the kernels, with its own inputs;
    * ``evaluate(resnet18, default_space(), per_layer=False)`` after ``warm_up()``;
    * warm grid: the wall-clock of ``python -m quidam_fast.cli grid --network resnet18 --out X.nc
      --quiet`` with the JIT cache already filled (by an untimed grid run): start-up, evaluation,
      accuracy join, report and the netCDF write (the file is deleted after each run);
    * compile: ``warm_up()`` with ``NUMBA_CACHE_DIR`` a fresh empty folder (every kernel evaluate()
      runs compiled; not the report's Pareto kernels, which a first grid compiles).

    Design points per second count every point of the space, valid or not; distinct designs per
    second count them as :func:`distinct_designs` does.
    """
    with tempfile.TemporaryDirectory(prefix="quidam-bench-") as name:
        folder = Path(name)
        base_env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
        engines = {label: {**base_env, "PYTHONPATH": str(_engine_copy(source, folder / copy))}
                   for label, source, copy in ((commit, commit, "old"), ("working tree", None, "new"))}
        for (label, env), cache in zip(engines.items(), ("cache-old", "cache-new")):  # each engine's own
            env["NUMBA_CACHE_DIR"] = str(folder / cache)  # warm cache, filled once below, untimed
        samples = {label: {"kernel": [], "evaluate": [], "grid": [], "compile": []} for label in engines}
        axes, entry = {}, {}

        def probe(what, env):
            done = subprocess.run([sys.executable, "-c", _PROBE, what, *KERNEL_ENTRIES], cwd=folder, env=env,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"side by side: the probe ({what}) failed:\n{done.stderr[-3000:]}")
            return json.loads(done.stdout.strip().splitlines()[-1])

        def grid_seconds(label):
            out = folder / "grid.nc"
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "quidam_fast.cli", "grid", "--network", "resnet18",
                                   "--out", str(out), "--quiet"], cwd=folder, env=engines[label],
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"side by side: grid ({label}) failed:\n{done.stderr[-3000:]}")
            out.unlink()
            return seconds

        for label, env in engines.items():
            module = probe("compile", env)["module"]
            if not module.startswith(engines[label]["PYTHONPATH"]):  # each must load its own copy
                raise SystemExit(f"side by side: the {label} engine was imported from {module}")
            grid_seconds(label)  # also compiles what warm_up() does not (the report's Pareto kernels)
        for repeat in range(repeats):
            order = list(engines) if repeat % 2 == 0 else list(engines)[::-1]
            for label in order:
                with tempfile.TemporaryDirectory(dir=folder) as empty:
                    samples[label]["compile"].append(probe("compile", {**engines[label], "NUMBA_CACHE_DIR": empty})["compile_s"])
            for label in order:
                result = probe("evaluate", engines[label])
                samples[label]["evaluate"].append(result["evaluate_s"])
                samples[label]["kernel"].append(result["kernel_s"])
                axes[label], entry[label] = result["axes"], result["kernel_entry"]
            for label in order:
                samples[label]["grid"].append(grid_seconds(label))

    print_side_by_side(samples, axes, entry, commit, repeats)


def print_side_by_side(samples: dict, axes: dict, entry: dict, commit: str, repeats: int) -> None:
    """The table of :func:`side_by_side`: ``samples[version][what]`` the seconds of each run (None where
    the kernel entry was not reachable), ``axes[version]`` its default space, ``entry[version]`` the
    kernel entry's name; the versions are ``commit`` (old) and ``"working tree"`` (new)."""
    old, new = commit, "working tree"
    engines = (old, new)
    points = {label: math.prod(len(values) for values in axes[label].values()) for label in engines}
    designs = {label: distinct_designs(axes[label]) for label in engines}
    if points[old] != points[new] or designs[old] != designs[new]:
        print(f"note: the default spaces differ: {points[old]:,} / {designs[old]:,} points / designs ({old}) "
              f"against {points[new]:,} / {designs[new]:,} (working tree)")

    def median(label, what):
        values = samples[label][what]
        return None if None in values else statistics.median(values)

    def cell(value, fmt, width):
        return f"{'n/a' if value is None else format(value, fmt):>{width}}"

    print(f"\nside by side: ResNet-18 over the default space ({points[new]:,} points, {designs[new]:,} distinct designs: "
          f"ws/os/is once per scratchpad combination), {old} (old) against the working tree copied at the start (new), median of "
          f"{repeats} runs, each a fresh process, engines alternating, one core")
    print(f"{'what':<34}{'old s':>8}{'new s':>8}{'new/old s':>10}{'old M pts/s':>12}{'new M pts/s':>12}"
          f"{'speed new/old':>14}{'old M des/s':>12}{'new M des/s':>12}")
    for what, label in (("kernel", "kernel (entry inside evaluate)"), ("evaluate", "evaluate(per_layer=False)"),
                        ("grid", "warm grid --out .nc (wall)"), ("compile", "JIT compile, empty cache")):
        t_old, t_new = median(old, what), median(new, what)
        both = None not in (t_old, t_new)
        line = f"{label:<34}{cell(t_old, '.2f', 8)}{cell(t_new, '.2f', 8)}{cell(t_new / t_old if both else None, '.3f', 10)}"
        if what != "compile":  # millions of points (designs) per second; the speed-up is old s / new s
            per_second = {version: (None, None) if t is None else (points[version] / t / 1e6, designs[version] / t / 1e6)
                          for version, t in ((old, t_old), (new, t_new))}
            line += (f"{cell(per_second[old][0], '.3f', 12)}{cell(per_second[new][0], '.3f', 12)}"
                     f"{(f'{t_old / t_new:.2f}x' if both else 'n/a'):>14}"
                     f"{cell(per_second[old][1], '.3f', 12)}{cell(per_second[new][1], '.3f', 12)}")
        print(line)
    print("kernel entry: " + "; ".join(
        f"{label}: " + (f"engine.{entry[label]}" if median(label, "kernel") is not None else
                        f"not reachable (evaluate() never calls engine.{' or engine.'.join(KERNEL_ENTRIES)})")
        for label in engines))
    print("issue 13's targets (speed new/old): evaluate() >= 10x, warm grid >= 4x")
    print("runs (s), old | new: " + "; ".join(
        f"{what} {' '.join(cell(v, '.2f', 0) for v in samples[old][what])} | "
        f"{' '.join(cell(v, '.2f', 0) for v in samples[new][what])}" for what in ("kernel", "evaluate", "grid", "compile")))


def coexploration(tech, repeats):
    """The default co-exploration (the model family x the default space) three ways, on the same designs.

    Each run is a fresh process that times only its ``evaluate`` calls, as a ``quidam-fast grid`` run
    is, in wall-clock, user and system seconds. System time is the kernel handing the process fresh
    memory pages: one dataset of four networks holds four times the memory of one, and on this
    project's virtual machine a page the guest has not used lately costs far more to fault in than on
    bare metal (measured: 2.3 s of system time for a first 1.4 GB, 0.07 s for the next), so the
    system seconds vary from run to run with the machine's memory state; the user seconds are the
    engine's own work.
    """
    import subprocess

    from quidam_fast.space import MODEL_FAMILY

    def run(networks, together):
        code = (
            "import os, time, quidam_fast as qf\n"
            f"tech, space = qf.load_tech({tech.name!r}), qf.default_space()\n"
            f"nets = [qf.load_network(n) for n in {list(networks)!r}]\n"
            "qf.warm_up()\n"
            "before, started = os.times(), time.perf_counter()\n"
            + ("qf.evaluate(nets, space, tech, per_layer=False)\n" if together else
               "for net in nets:\n    qf.evaluate(net, space, tech, per_layer=False)\n")
            + "after = os.times()\n"
            + "print(time.perf_counter() - started, after.user - before.user, after.system - before.system)\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return np.array([float(v) for v in done.stdout.split()[-3:]])

    points = len(MODEL_FAMILY) * qf.default_space().size
    timings = {"together": [], "one process": [], "own processes": []}
    for _ in range(repeats):  # interleaved, so a drifting machine load slows every variant alike
        timings["together"].append(run(MODEL_FAMILY, True))
        timings["one process"].append(run(MODEL_FAMILY, False))
        timings["own processes"].append(sum(run([name], False) for name in MODEL_FAMILY))
    t = {key: np.median(np.array(values), axis=0) for key, values in timings.items()}  # wall, user, system
    print(f"\nco-exploration: {', '.join(MODEL_FAMILY)} x the default space, median of {repeats} runs, one core, "
          "each run a fresh process")
    print(f"{'what':<58}{'points':>11}{'wall s':>8}{'user s':>8}{'sys s':>8}{'M points/s':>12}{'M points/user s':>17}")
    for label, key in (("evaluate([family]): one dataset, a network dimension", "together"),
                       ("evaluate(network) per network, all in one process", "one process"),
                       ("evaluate(network) per network, each in its own process", "own processes")):
        wall, user, system = t[key]
        print(f"{label:<58}{points:>11,}{wall:>8.2f}{user:>8.2f}{system:>8.2f}{points / wall / 1e6:>12.2f}{points / user / 1e6:>17.2f}")
    for name, key in (("in their own processes (as separate grid runs)", "own processes"), ("all in one process", "one process")):
        print(f"one dataset against one per network {name}: points per second {t[key][0] / t['together'][0]:.2f}x, "
              f"per user second {t[key][1] / t['together'][1]:.2f}x")


if __name__ == "__main__":
    main()
