"""Design points per second of the engine on the default grid, side by side with numpy broadcasting.

Run: ``python bench/bench_engine.py [--repeats 5]``. Single core, JIT warmed up first; each figure is
the median of the repeats. Three timings:

* ``kernel``: the numba kernels alone over the whole default space (ResNet-18, 1,769,472 points);
* ``evaluate``: ``quidam_fast.evaluate`` end to end (flattening, kernels, labelled dataset);
* ``systolic``: the ``ws``/``os``/``is`` part of the space through the numba kernel and through
  ``bench/numpy_model.py`` (the same model as numpy broadcasting, checked equal in
  ``tests/test_numpy_model.py``), in the same chunks, with their ratio;
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
import statistics
import sys
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


def run_kernel(arrays, layers, tech, n_points):
    totals = np.empty((n_points, kernels.N_TOTALS))
    dummy = np.empty((1, 1, kernels.N_LAYER_RESULTS))
    for start in range(0, n_points, engine.CHUNK_POINTS):
        stop = min(start + engine.CHUNK_POINTS, n_points)
        engine.run_chunk(arrays, layers, arrays["w_used"], arrays["real_row_pairs"], tech, kernels.OBJECTIVE_ENERGY, start, stop,
                         totals[start:stop], dummy, False)
    return totals


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
    for start in range(0, n_points, engine.CHUNK_POINTS):
        stop = min(start + engine.CHUNK_POINTS, n_points)
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
    parser.add_argument("--coexploration-only", action="store_true", help="Only the co-exploration comparison.")
    args = parser.parse_args(argv)
    network, tech = qf.load_network("resnet18"), qf.load_tech()
    n_layers = len(network.layers)
    print(f"warm-up (JIT compile or cache load): {qf.warm_up():.2f} s")
    if args.coexploration_only:
        coexploration(tech, args.repeats)
        return

    space = qf.default_space()
    arrays, layers = kernel_inputs(network, space, tech)
    rows = []
    t_kernel = median_seconds(lambda: run_kernel(arrays, layers, tech, space.size), args.repeats)
    rows.append(("kernel, full default space", space.size, t_kernel))
    t_eval = median_seconds(lambda: qf.evaluate(network, space, tech, per_layer=False), args.repeats)
    rows.append(("evaluate(), full default space", space.size, t_eval))

    systolic = DesignSpace(axes={**space.axes, "dataflow": ("ws", "os", "is")})
    s_arrays, _ = kernel_inputs(network, systolic, tech)
    t_numba = median_seconds(lambda: run_kernel(s_arrays, layers, tech, systolic.size), args.repeats)
    t_numpy = median_seconds(lambda: run_numpy(s_arrays, layers, tech, systolic.size), max(1, args.repeats // 2))
    rows.append(("kernel, systolic part", systolic.size, t_numba))
    rows.append(("numpy broadcasting, systolic part", systolic.size, t_numpy))

    row_stationary = DesignSpace(axes={**space.axes, "dataflow": ("rs",)})
    r_arrays, _ = kernel_inputs(network, row_stationary, tech)
    rows.append(("kernel, rs part", row_stationary.size,
                 median_seconds(lambda: run_kernel(r_arrays, layers, tech, row_stationary.size), args.repeats)))
    # the rs search's counts are shared by points differing only in DRAM bandwidth and clock; with one
    # value of each nothing is shared, so this row is the search's cost per layer evaluation
    unshared = DesignSpace(axes={**row_stationary.axes, "dram_gbps": (25.6,), "clock_mhz": (200.0,)})
    u_arrays, _ = kernel_inputs(network, unshared, tech)
    rows.append(("kernel, rs part, no shared counts", unshared.size,
                 median_seconds(lambda: run_kernel(u_arrays, layers, tech, unshared.size), args.repeats)))

    print(f"\nResNet-18 ({n_layers} layers), technology {tech.name}, median of {args.repeats} runs, one core")
    print(f"{'what':<36}{'points':>10}{'seconds':>10}{'M points/s':>12}{'M layer-evals/s':>17}")
    for label, points, seconds in rows:
        print(f"{label:<36}{points:>10,}{seconds:>10.3f}{points / seconds / 1e6:>12.2f}{points * n_layers / seconds / 1e6:>17.1f}")
    print(f"\nnumba / numpy on the same systolic points: {t_numpy / t_numba:.1f}x")
    coexploration(tech, args.repeats)


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
