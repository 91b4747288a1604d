"""Systolic kernels against the loop-nest reference, SCALE-Sim, and the laws of the domain."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings, strategies as st

import quidam_fast as qf
from quidam_fast import kernels
from quidam_fast.workloads import Layer
from reference import systolic_reference

DATAFLOW_CODES = {"ws": kernels.WS, "os": kernels.OS, "is": kernels.IS}
KEYS = ("compute_cycles", "macs", "glb_act", "glb_weight", "glb_psum_reads", "glb_psum_writes", "glb_ofmap_writes",
        "dram_act", "dram_weight", "dram_psum_reads", "dram_psum_writes", "dram_ofmap")


@st.composite
def small_layers(draw):
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    C = groups * draw(st.integers(1, 4))
    K = groups * draw(st.integers(1, 5))
    R = draw(st.integers(1, 3))
    S = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 1))
    H = draw(st.integers(max(1, R - 2 * padding), 7))
    W = draw(st.integers(max(1, S - 2 * padding), 7))
    return Layer("L", H=H, W=W, C=C, K=K, R=R, S=S, stride=draw(st.integers(1, 2)), padding=padding,
                 groups=groups, N=draw(st.integers(1, 2)))


def kernel_counts(layer, dataflow, rows, cols, glb_bits, a, w, p):
    result = kernels._systolic_layer(DATAFLOW_CODES[dataflow], rows, cols, glb_bits, a, w, p, layer.N, layer.K,
                                     layer.C, layer.R, layer.S, layer.P, layer.Q, layer.H, layer.W, layer.groups)
    return dict(zip(KEYS, (int(v) for v in result)))


@settings(max_examples=300, deadline=None)
@given(layer=small_layers(), dataflow=st.sampled_from(["ws", "os", "is"]), rows=st.integers(1, 9),
       cols=st.integers(1, 9), glb_bits=st.integers(1, 6000), a=st.sampled_from([2, 4, 8, 16]),
       w=st.sampled_from([4, 8, 16]), p=st.sampled_from([16, 24, 32]))
def test_kernel_equals_loop_nest_reference(layer, dataflow, rows, cols, glb_bits, a, w, p):
    assert kernel_counts(layer, dataflow, rows, cols, glb_bits, a, w, p) == systolic_reference(
        layer, dataflow, rows, cols, glb_bits, a, w, p)


@settings(max_examples=200, deadline=None)
@given(layer=small_layers(), dataflow=st.sampled_from(["ws", "os", "is"]), rows=st.integers(1, 12),
       cols=st.integers(1, 12), glb_bits=st.integers(64, 20000), more=st.integers(1, 20000))
def test_more_buffer_never_adds_dram_traffic(layer, dataflow, rows, cols, glb_bits, more):
    def dram_bits(counts):
        return (8 * (counts["dram_act"] + counts["dram_ofmap"]) + 4 * counts["dram_weight"]
                + 24 * (counts["dram_psum_reads"] + counts["dram_psum_writes"]))

    small = kernel_counts(layer, dataflow, rows, cols, glb_bits, 8, 4, 24)
    large = kernel_counts(layer, dataflow, rows, cols, glb_bits + more, 8, 4, 24)
    assert dram_bits(large) <= dram_bits(small)


@settings(max_examples=200, deadline=None)
@given(layer=small_layers(), dataflow=st.sampled_from(["ws", "os", "is"]), rows=st.integers(1, 12),
       cols=st.integers(1, 12))
def test_cycles_at_least_macs_per_pe(layer, dataflow, rows, cols):
    counts = kernel_counts(layer, dataflow, rows, cols, 10**9, 8, 8, 24)
    assert counts["macs"] == layer.macs
    assert counts["compute_cycles"] + 1 >= layer.macs / (rows * cols)


def test_energy_is_the_sum_of_its_parts_and_units_everywhere():
    ds = qf.evaluate("mobilenetv2", {"pe_type": list(qf.PE_TYPES), "bits": [4, 8, 16], "dataflow": ["ws", "os", "is"],
                                     "glb_kib": [64, 2048]})
    parts = sum(ds[f"energy_{p}_pj"] for p in ("mac", "spad", "noc", "glb", "dram", "leak"))
    xr.testing.assert_allclose(ds.energy_pj, parts.assign_attrs(ds.energy_pj.attrs))
    np.testing.assert_allclose(ds.layer_energy_pj.sum("layer", skipna=False), ds.energy_pj, rtol=1e-12)
    np.testing.assert_allclose(ds.layer_cycles.sum("layer", skipna=False), ds.cycles, rtol=1e-12)
    for name, variable in ds.variables.items():
        assert "units" in variable.attrs, name
    assert bool(ds.valid.sel(pe_type="fp", bits=8).any()) is False
    assert np.isnan(ds.energy_pj.sel(pe_type="fp", bits=8)).all()
    assert ds.valid.sel(pe_type="int").all()


def test_sub_grid_equals_slice_of_full_grid_and_chunking_does_not_matter(monkeypatch):
    space = {"pe_type": ["int", "lightpe2"], "bits": [4, 8], "rows": [8, 16, 32], "cols": [8, 32],
             "dataflow": ["ws", "os", "is"], "glb_kib": [64, 256]}
    full = qf.evaluate("alexnet", space)
    sub = qf.evaluate("alexnet", {**space, "rows": [16], "glb_kib": [256]})
    expected = full.sel(rows=[16], glb_kib=[256])
    expected.attrs = sub.attrs
    xr.testing.assert_allclose(sub.drop_attrs(), expected.drop_attrs())
    monkeypatch.setattr("quidam_fast.engine.CHUNK_POINTS", 7)
    chunked = qf.evaluate("alexnet", space)
    xr.testing.assert_identical(chunked.drop_attrs(), full.drop_attrs())


def test_slower_dram_only_adds_stalls():
    ds = qf.evaluate("vgg16", {"dram_gbps": [1.0, 100.0], "rows": [64], "cols": [64], "dataflow": ["ws", "os", "is"]})
    slow, fast = ds.sel(dram_gbps=1.0), ds.sel(dram_gbps=100.0)
    np.testing.assert_array_equal(slow.compute_cycles, fast.compute_cycles)
    assert (slow.stall_cycles >= fast.stall_cycles).all() and (slow.stall_cycles > 0).any()
    np.testing.assert_array_equal(slow.dram_read_bytes, fast.dram_read_bytes)
