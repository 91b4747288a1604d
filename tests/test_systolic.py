"""Systolic kernels against the array walk and the loop-nest simulator (tests/reference.py), and the laws
of the domain (SCALE-Sim's cycles: tests/test_scalesim.py)."""

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings, strategies as st

import quidam_fast as qf
from quidam_fast import engine, kernels, outputs
from quidam_fast.workloads import Layer, Network
from reference import systolic_array, systolic_dram, systolic_plans

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


def kernel_counts(layer, dataflow, rows, cols, glb_bits, a, w, p, batch=1, prices=None):
    """The kernel on one layer; ``prices`` per DRAM word (act, weight, psum one way), DRAM bits by default."""
    w_used, _pairs = engine._row_stationary_inputs(Network("n", (layer,)))
    h_used = kernels._rows_in(-layer.padding, layer.P, layer.stride, layer.R, layer.H)
    n, cg = layer.N * batch, layer.C // layer.groups
    folds = kernels._os_pixel_tiles_touched(n, layer.P, layer.Q, layer.R, layer.S, layer.H, layer.W, layer.stride,
                                            layer.padding, rows)
    result = kernels._systolic_layer(DATAFLOW_CODES[dataflow], rows, cols, glb_bits, a, w, p, n, layer.K, layer.C,
                                     layer.R, layer.S, layer.P, layer.Q, layer.groups, n * cg * h_used * w_used[0],
                                     cg * folds, *(prices or (float(a), float(w), float(p))))
    return dict(zip(KEYS, (int(v) for v in result)))


def reference_counts(layer, dataflow, rows, cols, glb_bits, a, w, p, batch=1, prices=None):
    """The array walk's counts and the DRAM counts of the cheapest buffer plan the simulator walks (the
    first of equal price, as the plans are listed)."""
    prices = prices or (a, w, p)
    best = None
    for plan in systolic_plans(dataflow):
        dram = systolic_dram(layer, dataflow, rows, cols, glb_bits, a, w, p, plan, batch)
        if dram is None:  # the plan's tiles do not fit
            continue
        price = (dram["dram_act"] * prices[0] + dram["dram_weight"] * prices[1]
                 + (dram["dram_psum_reads"] + dram["dram_psum_writes"]) * prices[2])
        if best is None or price < best[0]:
            best = (price, dram)
    return {**systolic_array(layer, dataflow, rows, cols, batch), **best[1]}


@settings(max_examples=300, deadline=None)
@given(layer=small_layers(), dataflow=st.sampled_from(["ws", "os", "is"]), rows=st.integers(1, 9),
       cols=st.integers(1, 9), glb_bits=st.integers(1, 6000), a=st.sampled_from([2, 4, 8, 16]),
       w=st.sampled_from([4, 8, 16]), p=st.sampled_from([16, 24, 32]))
def test_kernel_equals_loop_nest_reference(layer, dataflow, rows, cols, glb_bits, a, w, p):
    assert kernel_counts(layer, dataflow, rows, cols, glb_bits, a, w, p) == reference_counts(
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
    assert counts["compute_cycles"] >= layer.macs / (rows * cols)  # no slack: one MAC per PE per cycle at most


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_os_on_one_pe_takes_a_cycle_per_mac(dataflow):
    # one PE does one MAC a cycle: SCALE-Sim's "- 1" gave os on a 1 x 1 array cycles = MACs - 1
    layer = Layer("L", H=6, W=5, C=3, K=4, R=3, S=2, stride=1, padding=0, groups=1, N=2)
    counts = kernel_counts(layer, dataflow, 1, 1, 10**9, 8, 8, 24)
    assert counts["compute_cycles"] >= layer.macs
    if dataflow == "os":  # no fill or drain on one PE: exactly one cycle per MAC
        assert counts["compute_cycles"] == layer.macs
    results = qf.evaluate(Network("one", (layer,)), {"rows": [1], "cols": [1], "dataflow": [dataflow]})
    assert float(results.utilization.max()) <= 1.0


def test_energy_is_the_sum_of_its_parts_and_units_everywhere():
    ds = qf.evaluate("mobilenetv2", {"pe_type": list(qf.PE_TYPES), "bits": [4, 8, 16], "dataflow": ["ws", "os", "is"],
                                     "glb_kib": [64, 2048]})
    parts = sum(ds[f"energy_{p}_pj"] for p in ("mac", "spad", "noc", "glb", "dram", "leak"))
    xr.testing.assert_allclose(ds.energy_pj, parts.assign_attrs(ds.energy_pj.attrs))
    np.testing.assert_allclose(ds.layer_energy_pj.sum("layer", skipna=False), ds.energy_pj, rtol=1e-12)
    np.testing.assert_allclose(ds.layer_cycles.sum("layer", skipna=False), ds.cycles, rtol=1e-12)
    # the table of outputs names every data variable, in order, with its units, description and type
    assert list(ds.data_vars) == [output.name for output in outputs.OUTPUTS]
    for output in outputs.OUTPUTS:
        variable = ds[output.name]
        assert (variable.attrs["units"], variable.attrs["long_name"]) == (output.units, output.long_name), output.name
        assert variable.dtype == output.dtype, output.name
        assert variable.dims == ds.valid.dims + (("layer",) if output.per_layer else ()), output.name
    for name, variable in ds.variables.items():  # and the coordinates carry units too
        assert "units" in variable.attrs, name
    assert bool(ds.valid.sel(pe_type="fp", bits=8).any()) is False
    assert np.isnan(ds.energy_pj.sel(pe_type="fp", bits=8)).all()
    assert ds.valid.sel(pe_type="int").all()


def test_sub_grid_equals_slice_of_full_grid():
    space = {"pe_type": ["int", "lightpe2"], "bits": [4, 8], "rows": [8, 16, 32], "cols": [8, 32],
             "dataflow": ["ws", "os", "is"], "glb_kib": [64, 256]}
    full = qf.evaluate("alexnet", space)
    sub = qf.evaluate("alexnet", {**space, "rows": [16], "glb_kib": [256]})
    expected = full.sel(rows=[16], glb_kib=[256])
    expected.attrs = sub.attrs
    xr.testing.assert_identical(sub.drop_attrs(), expected.drop_attrs())


def test_slower_dram_only_adds_stalls():
    ds = qf.evaluate("vgg16", {"dram_gbps": [1.0, 100.0], "rows": [64], "cols": [64], "dataflow": ["ws", "os", "is"]})
    slow, fast = ds.sel(dram_gbps=1.0), ds.sel(dram_gbps=100.0)
    np.testing.assert_array_equal(slow.compute_cycles, fast.compute_cycles)
    assert (slow.stall_cycles >= fast.stall_cycles).all() and (slow.stall_cycles > 0).any()
    np.testing.assert_array_equal(slow.dram_read_bytes, fast.dram_read_bytes)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("pe_type, bits", [("int", 8), ("lightpe2", 6)])
def test_energy_parts_equal_reference_counts_times_technology_costs(dataflow, pe_type, bits):
    """Each energy part rebuilt from the loop-nest reference's access counts and the technology's public
    cost functions (DESIGN.md: accesses x energy per access, MACs x energy per MAC, leakage x time)."""
    from quidam_fast.workloads import Network

    layer = Layer("conv", H=9, W=8, C=6, K=10, R=3, S=3, padding=1)
    rows, cols, glb_kib, clock_mhz = 4, 5, 1, 100.0
    tech = qf.load_tech()
    ds = qf.evaluate(Network("one", (layer,)), {"pe_type": [pe_type], "bits": [bits], "rows": [rows], "cols": [cols],
                                                "glb_kib": [glb_kib], "dataflow": [dataflow], "dram_gbps": [1000.0],
                                                "clock_mhz": [clock_mhz]}, tech, objective="dram").squeeze()
    cost = tech.pe_cost(pe_type, bits)
    a, w, p = (int(cost[key]) for key in ("act_bits", "weight_bits", "psum_bits"))
    c = reference_counts(layer, dataflow, rows, cols, glb_kib * 8192, a, w, p)  # the plan moving fewest DRAM bits
    assert c["dram_act"] > 0 and float(ds.stall_cycles) == 0
    reg = {width: tech.register_cost(width) for width in (a, w)}
    # a buffer row serves row_bits / width words streamed in order: a word is its share of a row access
    row = tech.glb_cost(glb_kib * 1024.0, tech.glb_row_bits)

    def rd(width):
        return float(row["read_energy_pj"]) * width / tech.glb_row_bits

    def wr(width):
        return float(row["write_energy_pj"]) * width / tech.glb_row_bits

    # the registers of the operands that move through a PE every MAC (the psum's is the MAC accumulator)
    moving = {"ws": (a,), "os": (a, w), "is": (w,)}[dataflow]
    register_energy_per_mac = sum(float(reg[x]["write_energy_pj"]) for x in moving)
    # the network: each word drives the wire from the buffer (half its side) along the array's edge (a
    # quarter of it) and then across the array (a streamed operand), half of it (a preloaded or drained
    # one), or none (a partial sum entering its column); PE pitch from the PE's area
    pitch_mm = ((cost["mac_area_um2"] + sum(float(reg[x]["area_um2"]) for x in (a, w))) * 1e-6) ** 0.5
    width_mm, height_mm, half_glb = cols * pitch_mm, rows * pitch_mm, 0.5 * float(row["area_mm2"]) ** 0.5
    left, top = half_glb + height_mm / 4, half_glb + width_mm / 4
    act_mm, weight_mm, out_mm = {"ws": (left + width_mm, top + height_mm / 2, top + height_mm),
                                 "os": (left + width_mm, top + height_mm, top + height_mm / 2),
                                 "is": (top + height_mm / 2, left + width_mm, top + height_mm)}[dataflow]
    noc_bit_mm = (c["glb_act"] * a * act_mm + c["glb_weight"] * w * weight_mm + c["glb_psum_reads"] * p * top
                  + c["glb_psum_writes"] * p * (top + height_mm) + c["glb_ofmap_writes"] * a * out_mm)
    glb_energy = (c["glb_act"] * rd(a) + c["glb_weight"] * rd(w) + (c["glb_psum_reads"] + c["dram_psum_writes"]) * rd(p)
                  + c["dram_ofmap"] * rd(a) + c["glb_psum_writes"] * wr(p) + c["glb_ofmap_writes"] * wr(a)
                  + c["dram_act"] * wr(a) + c["dram_weight"] * wr(w) + c["dram_psum_reads"] * wr(p))
    dram_bits = ((c["dram_act"] + c["dram_ofmap"]) * a + c["dram_weight"] * w
                 + (c["dram_psum_reads"] + c["dram_psum_writes"]) * p)
    leakage_uw = (rows * cols * (cost["mac_leakage_uw"] + sum(float(reg[x]["leakage_uw"]) for x in (a, w)))
                  + 1e3 * float(row["leakage_mw"]))
    expected = {
        "energy_mac_pj": c["macs"] * cost["mac_energy_pj"],
        "energy_spad_pj": c["macs"] * register_energy_per_mac,
        "energy_noc_pj": noc_bit_mm * 0.5 * 0.5 * tech.data["wire"]["capacitance_pf_per_mm"] * tech.data["wire"]["vdd_v"] ** 2,
        "energy_glb_pj": glb_energy,
        "energy_dram_pj": dram_bits * tech.dram_energy_pj_per_bit,
        # cycles as SCALE-Sim counts them (the engine's latency keeps its convention); uW x us = pJ
        "energy_leak_pj": leakage_uw * c["compute_cycles"] / clock_mhz,
    }
    for name, value in expected.items():
        assert float(ds[name]) == pytest.approx(value, rel=1e-9), name
    assert float(ds.energy_pj) == pytest.approx(sum(expected.values()), rel=1e-9)


def test_a_space_too_large_for_memory_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr("os.sysconf", lambda name: {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 1000}[name])  # 4 MB
    with pytest.raises(qf.QuidamInputError, match=r"needs about .* GiB .* split it along an axis"):
        qf.evaluate("alexnet", {"rows": list(range(1, 101)), "cols": list(range(1, 101))})
