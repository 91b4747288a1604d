"""The buffer-level mapper against the tile-level loop-nest simulator (tests/reference.py).

The simulator walks a buffer plan -- loop order, tiles, what the buffer keeps -- naming every word each
pass or fold reads, and counts DRAM transfers under explicit residency. It does not know which plan
the kernels pick: for row stationary it walks the whole plan space (6 loop orders x 3 strip tiles x
every number of filter blocks per tile x 4 filter x 3 ifmap x 2 partial-sum choices x 4 pinned
operands: none, or the filters, ifmap or partial sums kept for good in the buffer the tiles leave),
and the kernel must cost exactly the cheapest feasible plan there (it searches 17 plans x 3 strip
tiles, filter tiles from the largest that fits down while a bound says a smaller one could still be
cheaper, each with the operand whose pinning saves most, and claims no other plan is cheaper) and
count what that plan moves. Systolic plans are the fold orders and buffer priorities of
tests/test_systolic.py.

Strategies draw the buffer as a fraction of the layer's footprint, so that every branch of the mapper
is taken: ``hypothesis.event`` records the plan of each draw (``pytest --hypothesis-show-statistics``),
and ``test_strategies_reach_every_buffer_branch`` measures the coverage on a seeded sample of the same
draws.
"""

import collections
import random

import numpy as np
import pytest
import xarray as xr
from hypothesis import event, given, settings, strategies as st

import quidam_fast as qf
from quidam_fast import engine, kernels
from quidam_fast.workloads import Layer, Network
from reference import (RS_FILTER_MODES, RS_IFMAP_MODES, RS_PINS, RS_TILES, _RsWords, rs_array, rs_dram, rs_plans,
                       systolic_dram, systolic_plans)
from test_row_stationary import kernel_rs
from test_systolic import kernel_counts, reference_counts

DRAM_KEYS = ("dram_act", "dram_weight", "dram_psum", "dram_ofmap")
FRACTIONS = (0.0, 0.01, 0.05, 0.15, 0.3, 0.5, 0.8, 1.0, 1.3, 2.0)  # of the layer's footprint


def _layer(integers, sampled):
    groups = sampled([1, 1, 2])
    C = groups * integers(1, 4)
    K = groups * integers(1, 6)
    R, S, padding = integers(1, 4), integers(1, 3), integers(0, 1)
    H = integers(max(1, R - 2 * padding), 7)
    W = integers(max(1, S - 2 * padding), 6)
    return Layer("L", H=H, W=W, C=C, K=K, R=R, S=S, stride=integers(1, 3), padding=padding, groups=groups,
                 N=1)


def _footprint_bits(layer, batch, a, w, pb):
    """Every word of the layer once: what a buffer holding everything would need."""
    return (layer.K * (layer.C // layer.groups) * layer.R * layer.S * w + batch * layer.C * layer.H * layer.W * a
            + batch * layer.K * layer.P * layer.Q * pb)


def rs_case(integers, sampled):
    """(layer, batch, rows, cols, glb_bits, p, q): the draw shared by the strategy and the coverage sample.
    One draw in three is filter-heavy (many filters, a small input, a batch): where filter tiles that
    stay while images pass pay off."""
    if sampled(["any", "any", "filter-heavy"]) == "any":
        layer = _layer(integers, sampled)
        batch = sampled([1, 1, 2, 3])
    else:
        R, S = integers(1, 3), integers(1, 3)
        layer = Layer("L", H=integers(2, 4), W=integers(2, 4), C=integers(2, 4), K=integers(4, 9), R=R, S=S,
                      padding=1)
        batch = sampled([2, 3])
    rows, cols = integers(1, 6), integers(1, 6)
    p, q = integers(1, layer.K // layer.groups), integers(1, layer.C // layer.groups)
    glb_bits = int(sampled(FRACTIONS) * _footprint_bits(layer, batch, 8, 4, 24)) + sampled([0, 7, 40])
    return layer, batch, rows, cols, glb_bits, p, q


@st.composite
def rs_cases(draw):
    return rs_case(lambda lo, hi: draw(st.integers(lo, hi)), lambda values: draw(st.sampled_from(values)))


# what the mapper minimizes per DRAM word (act, weight, psum one way); None: DRAM bits
PRICE_CHOICES = [None, (1.0, 1.0, 1.0), (8.0, 4.0, 40.0), (3.0, 11.0, 2.0), (10.0, 1.0, 0.5), (1.0, 10.0, 0.5)]
PRICES = st.sampled_from(PRICE_CHOICES)


def _price(counts, prices):
    return counts["dram_act"] * prices[0] + counts["dram_weight"] * prices[1] + 2 * counts["dram_psum"] * prices[2]


def simulated_optimum(layer, batch, rows, cols, glb_bits, a, w, pb, p, q, prices):
    """The cheapest feasible plans of the whole space and their DRAM counts."""
    words = _RsWords(layer, rows, cols, p, q, batch)
    priced = []
    for plan in rs_plans(layer, rows, cols, p, q, batch):
        counts = rs_dram(layer, rows, cols, glb_bits, a, w, pb, p, q, plan, batch, words)
        if counts is not None:
            priced.append((_price(counts, prices), counts, plan))
    best = min(price for price, _, _ in priced)
    return best, [(counts, plan) for price, counts, plan in priced if price == best]


def check_rs_mapper(case, prices):
    layer, batch, rows, cols, glb_bits, p, q = case
    a, w, pb = 8, 4, 24
    prices = prices or (float(a), float(w), float(pb))
    ours = kernel_rs(layer, rows, cols, glb_bits, a, w, pb, p, q, batch, prices)
    best, tied = simulated_optimum(layer, batch, rows, cols, glb_bits, a, w, pb, p, q, prices)
    dram = {key: ours[key] for key in DRAM_KEYS}
    assert _price(dram, prices) == pytest.approx(best, rel=1e-12)
    assert dram in [counts for counts, _plan in tied]
    row, tile, pin = decode_rs_plan(ours["buffer_plan"])
    plan = kernels._PLANS[row]
    event(f"rs plan: order {'mfc fmc fcm mcf'.split()[plan[0]]}, tile {RS_TILES[tile]}, "
          f"filters {RS_FILTER_MODES[plan[1]]}, ifmap {RS_IFMAP_MODES[plan[2]]}, psums {('keep', 'bypass')[plan[3]]}, "
          f"pinned {RS_PINS[pin]}")


def decode_rs_plan(code):
    """The kernel's plan code -> (row of kernels._PLANS, tile: index of RS_TILES, pinned: index of RS_PINS)."""
    n_plans = kernels._PLANS.shape[0]
    return code % n_plans, code // n_plans % len(RS_TILES), code // (n_plans * len(RS_TILES))


@settings(max_examples=45, deadline=None)
@given(case=rs_cases(), prices=PRICES)
def test_rs_mapper_costs_the_cheapest_plan_of_the_whole_space(case, prices):
    check_rs_mapper(case, prices)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(case=rs_cases(), prices=PRICES)
def test_rs_mapper_costs_the_cheapest_plan_of_the_whole_space_many_draws(case, prices):
    check_rs_mapper(case, prices)


def systolic_case(integers, sampled):
    """(layer, batch, dataflow, rows, cols, glb_bits): few columns, so that operands are swept again."""
    layer = _layer(integers, sampled)
    batch = sampled([1, 1, 2, 3])
    glb_bits = int(sampled(FRACTIONS) * _footprint_bits(layer, batch, 8, 4, 24)) + sampled([0, 7, 40])
    return layer, batch, sampled(["ws", "os", "is"]), integers(1, 7), sampled([1, 1, 2, 3, 4, 7]), glb_bits


@st.composite
def systolic_cases(draw):
    return systolic_case(lambda lo, hi: draw(st.integers(lo, hi)), lambda values: draw(st.sampled_from(values)))


def systolic_branch(layer, batch, dataflow, rows, cols, glb_bits, prices):
    """The branch a systolic draw takes: the cheapest plan (first of equal price), whether partial sums
    spill, and whether the swept operand is read once, in part again (pinned) or wholly again."""
    a, w, p = 8, 4, 24
    prices = prices or (a, w, p)
    priced = []
    for plan in systolic_plans(dataflow):
        d = systolic_dram(layer, dataflow, rows, cols, glb_bits, a, w, p, plan, batch)
        if d is None:
            continue
        priced.append((d["dram_act"] * prices[0] + d["dram_weight"] * prices[1]
                       + (d["dram_psum_reads"] + d["dram_psum_writes"]) * prices[2], plan, d))
    _price, plan, d = min(priced, key=lambda item: item[0])
    name = plan[0] + ("" if dataflow != "os" else f", tile {plan[1]}")
    once = systolic_dram(layer, dataflow, rows, cols, 10**12, a, w, p, plan, batch)
    swept = {"ws": "dram_act", "is": "dram_weight", "os": "dram_act" if plan[0] == "filters_outer" else "dram_weight"}[dataflow]
    sweeps = {"ws": -(-layer.K // layer.groups // cols), "is": -(-(layer.N * batch * layer.P * layer.Q) // cols),
              "os": -(-layer.K // layer.groups // cols) if plan[0] == "filters_outer"
              else -(-(layer.N * batch * layer.P * layer.Q) // rows)}[dataflow]
    reread = "read once" if d[swept] == once[swept] else (
        "wholly re-read" if d[swept] == once[swept] * sweeps else "pinned in part")
    return dataflow, name, "psums spilled" if d["dram_psum_reads"] else "psums on chip", f"swept {reread}"


@settings(max_examples=80, deadline=None)
@given(case=systolic_cases(), prices=PRICES)
def test_systolic_mapper_costs_the_cheapest_plan_with_a_batch(case, prices):
    layer, batch, dataflow, rows, cols, glb_bits = case
    a, w, p = 8, 4, 24
    ours = kernel_counts(layer, dataflow, rows, cols, glb_bits, a, w, p, batch, prices)
    assert ours == reference_counts(layer, dataflow, rows, cols, glb_bits, a, w, p, batch, prices)
    event(f"systolic: {' / '.join(systolic_branch(layer, batch, dataflow, rows, cols, glb_bits, prices))}")


def test_strategies_reach_every_buffer_branch():
    """Coverage of the row-stationary mapper's plans by the draws of ``rs_case`` (the function the
    hypothesis strategy draws with), measured on a seeded sample of 1,500 draws with the strategy's
    prices: every plan wins some draws, and every tile size (the kernel returns the plan it took)."""
    rng = random.Random(11)
    taken = collections.Counter()
    for _ in range(1500):
        layer, batch, rows, cols, glb_bits, p, q = rs_case(rng.randint, rng.choice)
        prices = rng.choice(PRICE_CHOICES)
        taken[kernel_rs(layer, rows, cols, glb_bits, 8, 4, 24, p, q, batch, prices)["buffer_plan"]] += 1
    n_plans = kernels._PLANS.shape[0]
    plans = collections.Counter()
    tiles = collections.Counter()
    pins = collections.Counter()
    for code, count in taken.items():
        row, tile, pin = decode_rs_plan(code)
        plans[row] += count
        tiles[tile] += count
        pins[pin] += count
    assert set(plans) == set(range(n_plans)), sorted(set(range(n_plans)) - set(plans))
    assert set(tiles) == {0, 1, 2}
    assert set(pins) == set(range(len(RS_PINS))), pins


@pytest.mark.slow
def test_systolic_strategy_reaches_every_buffer_branch():
    """Coverage of the systolic plans by ``systolic_case`` on a seeded sample of 600 draws (measured:
    swept operand first about 1 % of ws/is draws, pixel folds outer about 3 % of os draws)."""
    rng = random.Random(3)
    taken = collections.Counter(systolic_branch(*systolic_case(rng.randint, rng.choice), rng.choice(PRICE_CHOICES))
                                for _ in range(600))
    reached = {(branch[0], branch[1]) for branch in taken} | {(branch[0], branch[2]) for branch in taken} | {
        (branch[0], branch[3]) for branch in taken}
    for dataflow in ("ws", "is"):
        assert {(dataflow, "psums_first"), (dataflow, "swept_first"), (dataflow, "psums spilled"),
                (dataflow, "psums on chip"), (dataflow, "swept pinned in part"),
                (dataflow, "swept wholly re-read"), (dataflow, "swept read once")} <= reached
    assert {("os", "filters_outer, tile tile_first"), ("os", "filters_outer, tile swept_first"),
            ("os", "pixels_outer, tile kept"), ("os", "swept pinned in part"), ("os", "swept wholly re-read")} <= reached


def test_only_touched_inputs_are_fetched():
    """A strided 1 x 1 layer reads one pixel in four: its compulsory input traffic is those pixels,
    for every dataflow, with a buffer that holds everything."""
    layer = Layer("s2", H=8, W=8, C=16, K=8, stride=2)
    ds = qf.evaluate(Network("one", (layer,)), {"dataflow": ["ws", "os", "is", "rs"], "glb_kib": [1024], "bits": [8],
                                                "rows": [4], "cols": [4]}, objective="dram")
    touched = 16 * 4 * 4  # channels x rows read x columns read
    outputs = 8 * 4 * 4
    filters = 8 * 16
    np.testing.assert_array_equal(ds.dram_read_bytes.values.ravel(), [touched + filters] * 4)
    np.testing.assert_array_equal(ds.dram_write_bytes.values.ravel(), [outputs] * 4)


def test_a_batch_shares_filter_reads():
    """On AlexNet four images move less than four times one image's DRAM bytes with os, is and rs (the
    filters, most of AlexNet's traffic, are shared), and per-image results are per image. ws is left
    out: its partial-sum tile is a column fold's outputs for every pixel of the batch (SCALE-Sim's
    schedule streams all of them through each fold), so a batch can spill what one image kept."""
    space = {"dataflow": ["ws", "os", "is", "rs"], "batch": [1, 4], "glb_kib": [64], "bits": [8]}
    ds = qf.evaluate("alexnet", space, objective="dram")
    one, four = ds.sel(batch=1), ds.sel(batch=4)
    assert (four.dram_bytes < 2.5 * one.dram_bytes).sel(dataflow=["os", "is", "rs"]).all()
    np.testing.assert_allclose(four.macs, 4 * one.macs)
    xr.testing.assert_allclose(ds.energy_per_inference_j,
                               (ds.energy_pj * 1e-12 / ds.batch).transpose(*ds.energy_per_inference_j.dims))
    xr.testing.assert_allclose(ds.throughput_ips, (ds.batch / ds.latency_s).transpose(*ds.throughput_ips.dims))


@pytest.mark.parametrize("dataflow", ["ws", "os", "is", "rs"])
def test_a_design_does_not_depend_on_the_rest_of_the_space(dataflow):
    """The engine shares work between designs (counts per group of equal widths and hardware, row-stationary
    candidates memoized across scratchpads and PE types, repeated layers, copies across unused axes):
    every design evaluated in a space of its own must equal its slice of the whole."""
    space = {"pe_type": ["int", "lightpe2", "fp"], "bits": [8, 16], "rows": [8, 14], "cols": [12],
             "dataflow": [dataflow], "glb_kib": [16, 108], "batch": [1, 3], "dram_gbps": [1.0, 25.6],
             "clock_mhz": [50.0, 100.0], "spad_psum": [16, 24], "spad_ifmap": [12, 24]}
    whole = qf.evaluate("resnet8_fmnist", space)
    for pe_type, bits, rows, glb_kib, batch, spad_psum, spad_ifmap in (
            ("int", 8, 14, 108, 3, 24, 12), ("lightpe2", 16, 8, 16, 1, 16, 24), ("fp", 16, 14, 16, 3, 16, 24)):
        alone = qf.evaluate("resnet8_fmnist", {**space, "pe_type": [pe_type], "bits": [bits], "rows": [rows],
                                                "glb_kib": [glb_kib], "batch": [batch], "spad_psum": [spad_psum],
                                                "spad_ifmap": [spad_ifmap]})
        part = whole.sel(pe_type=[pe_type], bits=[bits], rows=[rows], glb_kib=[glb_kib], batch=[batch],
                         spad_psum=[spad_psum], spad_ifmap=[spad_ifmap])
        xr.testing.assert_identical(alone.drop_attrs(), part.drop_attrs())


def test_rs_energy_equals_simulated_counts_times_technology_costs():
    """Row-stationary energy rebuilt from the array walk's and the simulator's counts (the cheapest plan
    by DRAM bits, as ``objective="dram"`` picks it) and the technology's public costs. The network's
    wire lengths are the engine's floorplan function (``kernels._network_mm``), applied to the reference
    counts."""
    layer = Layer("conv", H=7, W=6, C=4, K=6, R=3, S=3, padding=1)
    rows, cols, glb_kib, clock_mhz, batch, p, q = 3, 4, 1, 100.0, 2, 2, 2
    spads = {"spad_ifmap": 12, "spad_filter": 48, "spad_psum": 8}
    tech = qf.load_tech()
    ds = qf.evaluate(Network("one", (layer,)), {"dataflow": ["rs"], "rows": [rows], "cols": [cols], "bits": [8],
                                                "glb_kib": [glb_kib], "batch": [batch], "dram_gbps": [1000.0],
                                                "clock_mhz": [clock_mhz], **{k: [v] for k, v in spads.items()}},
                     tech, objective="dram", rs_mapping=(p, q)).squeeze()
    cost = tech.pe_cost("int", 8)
    a, w, pb = (int(cost[key]) for key in ("act_bits", "weight_bits", "psum_bits"))
    c = rs_array(layer, rows, cols, p, q, batch)
    bits = lambda d: (d["dram_act"] + d["dram_ofmap"]) * a + d["dram_weight"] * w + 2 * d["dram_psum"] * pb  # noqa: E731
    _best, tied = simulated_optimum(layer, batch, rows, cols, glb_kib * 8192, a, w, pb, p, q, (a, w, pb))
    assert float(ds.stall_cycles) == 0
    sp = {name: tech.spad_cost(float(size), width) for (name, size), width in zip(spads.items(), (a, w, pb))}
    glb = {width: tech.glb_word_cost(glb_kib * 1024.0, width) for width in (a, w, pb)}
    rd = lambda x: float(glb[x]["read_energy_pj"])  # noqa: E731
    wr = lambda x: float(glb[x]["write_energy_pj"])  # noqa: E731
    pe_area = cost["mac_area_um2"] + sum(float(v["area_um2"]) for v in sp.values())
    macro = tech.glb_word_cost(glb_kib * 1024.0, tech.glb_row_bits)
    net = kernels._network_mm(kernels.RS, rows, cols, pe_area, float(macro["area_mm2"]))
    candidates = []
    for d, _plan in tied:
        noc = kernels._rs_network_energy(
            np.array([c["compute_cycles"], c["macs"], c["glb_act"], c["glb_weight"], c["glb_psum_reads"],
                      c["glb_psum_writes"], c["glb_ofmap_writes"], 0, 0, 0, 0, c["noc_act"], c["noc_weight"],
                      c["noc_psum"], 0, 0], dtype=float), a, w, pb, rows, net, tech.wire_energy_pj_per_bit_mm)
        leak_uw = (rows * cols * (cost["mac_leakage_uw"] + sum(float(v["leakage_uw"]) for v in sp.values()))
                   + 1e3 * float(macro["leakage_mw"]))
        candidates.append({
            "energy_mac_pj": c["macs"] * cost["mac_energy_pj"],
            "energy_spad_pj": (c["macs"] * (float(sp["spad_filter"]["read_energy_pj"]) + float(sp["spad_ifmap"]["read_energy_pj"])
                                            + float(sp["spad_psum"]["read_energy_pj"]) + float(sp["spad_psum"]["write_energy_pj"]))
                               + c["spad_filter_writes"] * float(sp["spad_filter"]["write_energy_pj"])
                               + c["spad_ifmap_writes"] * float(sp["spad_ifmap"]["write_energy_pj"])),
            "energy_noc_pj": noc,
            "energy_glb_pj": (c["glb_act"] * rd(a) + c["glb_weight"] * rd(w) + (c["glb_psum_reads"] + d["dram_psum"]) * rd(pb)
                              + d["dram_ofmap"] * rd(a) + c["glb_psum_writes"] * wr(pb) + c["glb_ofmap_writes"] * wr(a)
                              + d["dram_act"] * wr(a) + d["dram_weight"] * wr(w) + d["dram_psum"] * wr(pb)),
            "energy_dram_pj": bits(d) * tech.dram_energy_pj_per_bit,
            "energy_leak_pj": leak_uw * c["compute_cycles"] / clock_mhz,
        })
    assert any(all(float(ds[name]) == pytest.approx(value, rel=1e-9) for name, value in expected.items())
               for expected in candidates)


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "4", 5000])
def test_batch_is_validated_like_the_other_integer_axes(value):
    with pytest.raises(qf.QuidamInputError, match=r"batch = .* is not allowed; it must be an integer from 1 to 4096"):
        qf.DesignSpace.from_dict({"batch": [value]}, base="small")
