"""The numpy-broadcasting model in bench/ computes what the kernels compute (so its speed ratio is fair)."""

import sys
from pathlib import Path

import numpy as np

import quidam_fast as qf
from quidam_fast.space import DesignSpace

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import bench_engine  # noqa: E402


def test_numpy_model_equals_kernel_on_a_grid():
    network, tech = qf.load_network("mobilenetv2"), qf.load_tech()
    space = DesignSpace.from_dict({"pe_type": list(qf.PE_TYPES), "bits": [4, 8, 16], "rows": [8, 32], "cols": [16, 64],
                                   "glb_kib": [64, 512], "dataflow": ["ws", "os", "is"], "dram_gbps": [1.0, 25.6]},
                                  base="small")
    arrays, layers = bench_engine.kernel_inputs(network, space, tech)
    totals = bench_engine.run_kernel(arrays, network, tech, space.size)
    cycles, energy = bench_engine.run_numpy(arrays, layers, tech, space.size)
    ds = qf.evaluate(network, space, tech, per_layer=False)
    np.testing.assert_array_equal(cycles, ds.cycles.values.ravel())
    np.testing.assert_allclose(energy, ds.energy_pj.values.ravel(), rtol=1e-12)
    assert np.isfinite(cycles).sum() > 0 and np.isnan(cycles).sum() > 0  # fp at 4/8 bits is masked
    np.testing.assert_array_equal(totals[:, 0], ds.cycles.values.ravel())
