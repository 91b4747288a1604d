"""What the workload does to the best dataflow: an ONNX file of the onnx wheel, GPT-2 small's prefill and
decode phases, each evaluated on the INT8 slice of the default space (every array, buffer, dataflow,
bandwidth and clock of the default space at ``pe_type = int``, ``bits = 8``).

Run from the repository root: ``python bench/workload_phases.py`` (``--space default`` for every PE
type and precision: about 25 times longer). For each network and dataflow it prints the best latency
over the slice, that design's utilization (MACs / (cycles x PEs)) and array, and the lowest energy per
inference; README.md's figures come from this output (``python bench/readme_figures.py``).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import onnx

import quidam_fast as qf
from quidam_fast.space import DEFAULT_AXES

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
NETWORKS = (os.path.join(LIGHT, "light_squeezenet.onnx"), "gpt2_small_prefill", "gpt2_small_decode",
            "gpt2_small_decode@kv=4096")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", choices=("int8", "default"), default="int8")
    args = parser.parse_args()
    axes = {name: list(values) for name, values in DEFAULT_AXES.items()}
    if args.space == "int8":
        axes.update(pe_type=["int"], bits=[8])
    space = qf.DesignSpace.from_dict(axes)
    qf.warm_up()
    print(f"space: {args.space} ({space.size:,} points); technology {qf.load_tech().name}")
    print(f"{'network':<27}{'GMACs':>8}  {'dataflow':<9}{'best latency ms':>16}{'utilization':>12}  "
          f"{'array':<8}{'lowest energy mJ':>17}")
    for name in NETWORKS:
        net = qf.load_network(name)
        started = time.perf_counter()
        results = qf.evaluate(net, space, per_layer=False)
        seconds = time.perf_counter() - started
        latency = results.latency_s.where(results.valid)
        energy = results.energy_per_inference_j.where(results.valid)
        for dataflow in results.dataflow.values:
            best = latency.sel(dataflow=dataflow).argmin(...)
            point = results.sel(dataflow=dataflow).isel(best)
            print(f"{net.name:<27}{net.macs / 1e9:>8.3f}  {dataflow:<9}{float(point.latency_s) * 1e3:>16.3f}"
                  f"{float(point.utilization):>12.4f}  {f'{int(point.rows)}x{int(point.cols)}':<8}"
                  f"{float(energy.sel(dataflow=dataflow).min()) * 1e3:>17.3f}")
        others = [dim for dim in latency.dims if dim != "dataflow"]
        fastest = str(results.dataflow.values[int(np.nanargmin(latency.min(others).values))])
        frugal = str(results.dataflow.values[int(np.nanargmin(energy.min(others).values))])
        print(f"{'':<27}{'':>8}  fastest {fastest}, most frugal {frugal} ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
