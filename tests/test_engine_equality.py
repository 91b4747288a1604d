"""The factorized engine against engine v1, the kernels it replaced (``tests/engine_v1_kernels.py``).

Engine v2 computes each quantity once per combination of the axes it depends on and fills the rest;
v1 evaluated every design point on every layer. Same model, so the results must be the same numbers:
every total and per-layer value, every invalid reason, bit for bit (stronger than the issue's 1e-12
relative for energies: v2 sums the same terms in the same order). Checked on generated spaces --
every axis drawn, networks with groups, strides and repeated blocks, every objective, forced
row-stationary mappings, per-layer results -- and on the whole default space.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine_v1_kernels as v1
import quidam_fast as qf
from quidam_fast import engine
from quidam_fast import kernels as k
from quidam_fast.space import DATAFLOWS, DesignSpace
from quidam_fast.tech import PE_TYPES
from quidam_fast.workloads import LAYER_COLUMNS

OBJECTIVES = {"energy": v1.OBJECTIVE_ENERGY, "latency": v1.OBJECTIVE_LATENCY, "edp": v1.OBJECTIVE_EDP,
              "dram": v1.OBJECTIVE_DRAM}


def evaluate_v1(network, space, tech, objective, rs_mapping, per_layer, arrays=None):
    """Engine v1 over a whole space: ``(totals, per_layer)`` in flat design-index order (its chunk loop)."""
    arrays = engine._flatten(space, tech) if arrays is None else arrays
    layers = np.stack([network.table()[column] for column in LAYER_COLUMNS], axis=1)
    w_used, real_row_pairs = engine._row_stationary_inputs(network)
    n_points = space.size
    totals = np.empty((n_points, v1.N_TOTALS))
    layer_out = np.empty((n_points, len(network.layers), v1.N_LAYER_RESULTS) if per_layer
                         else (1, 1, v1.N_LAYER_RESULTS))
    chunk = 1 << 16
    for start in range(0, n_points, chunk):
        stop = min(start + chunk, n_points)
        v1.evaluate_chunk(
            start, stop, arrays["shape"], arrays["pe_index_of"], arrays["rows_of"], arrays["cols_of"],
            arrays["spad_ifmap_of"], arrays["spad_filter_of"], arrays["spad_psum_of"], arrays["glb_kib_of"],
            arrays["dataflow_of"], arrays["batch_of"], arrays["dram_gbps_of"], arrays["clock_mhz_of"],
            arrays["pe_table"], arrays["glb_table"], arrays["spad_ifmap_table"], arrays["spad_filter_table"],
            arrays["spad_psum_table"], layers, w_used, real_row_pairs, tech.wire_energy_pj_per_bit_mm,
            tech.dram_energy_pj_per_bit, OBJECTIVES[objective], *(rs_mapping or (0, 0)), totals[start:stop],
            layer_out[start:stop] if per_layer else layer_out, per_layer)
    return totals, layer_out


def evaluate_v2(network, space, tech, objective, rs_mapping, per_layer, arrays=None):
    """Engine v2's kernels over the same space, into the same arrays."""
    arrays = engine._flatten(space, tech) if arrays is None else arrays
    totals = np.empty((k.N_TOTALS, space.size)).T  # column-major, as evaluate allocates it
    layer_out = np.empty((space.size, len(network.layers), k.N_LAYER_RESULTS) if per_layer
                         else (1, 1, k.N_LAYER_RESULTS))
    engine.run_network(arrays, network, tech, engine._OBJECTIVE_CODES[objective], totals, layer_out, per_layer,
                       rs_mapping=rs_mapping)
    return totals, layer_out


def assert_same(network, space, objective="energy", rs_mapping=None, per_layer=False, tech=None, arrays=None):
    tech = tech or qf.load_tech()
    old_totals, old_layers = evaluate_v1(network, space, tech, objective, rs_mapping, per_layer, arrays)
    new_totals, new_layers = evaluate_v2(network, space, tech, objective, rs_mapping, per_layer, arrays)
    differ = ~((old_totals == new_totals) | (np.isnan(old_totals) & np.isnan(new_totals)))
    if differ.any():
        point, column = np.argwhere(differ)[0]
        position = np.unravel_index(point, tuple(len(v) for v in space.axes.values()))
        raise AssertionError(f"{differ.any(axis=1).sum()} of {space.size} points differ; first: "
                             f"{dict(zip(space.axes, position))}, column {column}: v1 {old_totals[point, column]!r}, "
                             f"v2 {new_totals[point, column]!r}")
    if per_layer:
        np.testing.assert_array_equal(new_layers, old_layers)


def _subset(values, draw, at_most=None):
    chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=at_most or len(values), unique=True))
    return tuple(sorted(chosen, key=list(values).index))


@st.composite
def spaces(draw):
    """A small space with every axis drawn: sizes in the range the default space spans and beyond
    (odd array sides, tiny buffers that make designs invalid, batches, slow DRAM that stalls)."""
    axes = {
        "pe_type": _subset(PE_TYPES, draw, 3),
        "bits": _subset((4, 6, 8, 12, 16, 32), draw, 2),
        "rows": _subset((1, 3, 8, 12, 16, 64), draw, 2),
        "cols": _subset((1, 5, 8, 16, 32, 128), draw, 2),
        "spad_ifmap": _subset((3, 12, 24, 64), draw, 2),
        "spad_filter": _subset((9, 48, 112, 224), draw, 2),
        "spad_psum": _subset((1, 4, 16, 24), draw, 2),
        "glb_kib": _subset((1, 8, 64, 512), draw, 2),
        "dataflow": _subset(DATAFLOWS, draw),
        "batch": _subset((1, 2, 4), draw, 2),
        "dram_gbps": _subset((0.5, 12.8, 25.6), draw, 2),
        "clock_mhz": _subset((50.0, 100.0, 200.0), draw, 2),
    }
    return DesignSpace(axes=axes)


NETWORKS = ("lenet5_fmnist", "resnet8_fmnist", "alexnet", "mobilenetv2")  # repeated blocks, groups, strides


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(space=spaces(), network=st.sampled_from(NETWORKS), objective=st.sampled_from(tuple(OBJECTIVES)),
       per_layer=st.booleans())
def test_equal_to_engine_v1_on_generated_spaces(space, network, objective, per_layer):
    assert_same(qf.load_network(network), space, objective, per_layer=per_layer)


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(space=spaces(), filters=st.integers(1, 6), channels=st.integers(1, 8))
def test_equal_to_engine_v1_with_a_forced_row_stationary_mapping(space, filters, channels):
    space = DesignSpace(axes={**space.axes, "dataflow": ("rs",)})
    assert_same(qf.load_network("resnet8_fmnist"), space, "energy", rs_mapping=(filters, channels), per_layer=True)


@pytest.mark.parametrize("objective", ["energy", "latency"])
def test_equal_to_engine_v1_on_the_default_space(objective):
    """ResNet-18 (21 layers, 12 distinct) over all 1,769,472 points of the default space."""
    assert_same(qf.load_network("resnet18"), qf.default_space(), objective)


def test_equal_to_engine_v1_on_the_model_family_with_per_layer_results():
    space = DesignSpace(axes={**qf.default_space().axes, "rows": (8, 24, 128), "cols": (12, 64),
                              "glb_kib": (64, 2048)})
    for name in qf.space.MODEL_FAMILY:
        assert_same(qf.load_network(name), space, "edp", per_layer=True)


@pytest.mark.parametrize("objective", ["energy", "dram"])
def test_equal_to_engine_v1_where_pe_types_share_operand_widths(objective):
    """No shipped technology has two PE types with the same operand widths, so this one is made: lightpe1
    takes int's widths and buffer costs per word (its MAC, register and scratchpad costs stay its own).
    The two then form one width class, whose counts v2 computes once and costs per PE type."""
    space = DesignSpace(axes={**qf.default_space().axes, "pe_type": ("int", "lightpe1", "fp"), "bits": (8, 16),
                              "rows": (8,), "cols": (12, 64), "glb_kib": (64,), "spad_filter": (224,)})
    tech = qf.load_tech()
    arrays = engine._flatten(space, tech)
    widths = [k.PE_ACT_BITS, k.PE_WEIGHT_BITS, k.PE_PSUM_BITS]
    arrays["pe_table"][1][:, widths] = arrays["pe_table"][0][:, widths]
    arrays["glb_table"][:, 1, :, : k.GLB_LEAK_MW] = arrays["glb_table"][:, 0, :, : k.GLB_LEAK_MW]
    classes, _ = engine._width_classes(arrays)
    assert sorted(len(members) for members in classes) == [1, 2, 2]  # fp16 alone (fp8 is not characterized)
    assert_same(qf.load_network("lenet5_fmnist"), space, objective, per_layer=True, tech=tech, arrays=arrays)


def test_equal_to_engine_v1_where_the_memo_would_be_too_large():
    """Scratchpads so large that a group's memo of candidate counts would pass ``RS_MEMO_ENTRIES``: the
    counts are then computed where needed, with the same results."""
    space = DesignSpace(axes={**qf.default_space().axes, "pe_type": ("int",), "bits": (8,), "rows": (12,),
                              "cols": (14,), "glb_kib": (128,), "dataflow": ("rs",), "spad_ifmap": (24, 4096),
                              "spad_filter": (224, 8192), "spad_psum": (24, 512)})
    network = qf.load_network("alexnet")
    tech = qf.load_tech()
    records, workload, _ = engine.kernel_records(engine._flatten(space, tech), network, tech, 0, True)
    assert not k._rs_memo(records, workload, 0, 0).enabled
    assert_same(network, space, "energy", per_layer=True)
