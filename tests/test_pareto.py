"""Pareto fronts and constraints against independent brute force: every pair of points compared."""

import doctest
import itertools

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import quidam_fast as qf
from quidam_fast import _pareto, results
from quidam_fast.analysis import parse_objectives, parse_where, select
from quidam_fast.errors import QuidamInputError


def brute_front(values, directions, usable=None):
    """O(n^2) reference, from the definition: a usable point is on the front unless another usable point
    is at least as good in every objective and strictly better in one. Usable: finite objectives (and
    ``usable``, when given)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    usable = np.isfinite(values).all(axis=1) & (np.ones(n, bool) if usable is None else np.asarray(usable))
    sign = np.array([1.0 if d == "min" else -1.0 for d in directions])
    cost = values * sign
    on = np.zeros(n, dtype=bool)
    for i in range(n):
        if not usable[i]:
            continue
        dominated = False
        for j in range(n):
            if j != i and usable[j] and all(cost[j] <= cost[i]) and any(cost[j] < cost[i]):
                dominated = True
                break
        on[i] = not dominated
    return on


def as_dataset(values, valid=None, shape=None):
    """Objective columns as variables o0, o1, ... on dims (a, b), with a valid mask."""
    n, d = values.shape
    shape = shape or (n, 1)
    data = {f"o{j}": (("a", "b"), values[:, j].reshape(shape), {"units": "1"}) for j in range(d)}
    data["valid"] = (("a", "b"), (np.ones(n, bool) if valid is None else valid).reshape(shape))
    return xr.Dataset(data, coords={"a": np.arange(shape[0]), "b": np.arange(shape[1])})


values_strategy = st.integers(2, 4).flatmap(lambda d: st.lists(
    st.lists(st.one_of(st.integers(0, 4).map(float), st.just(np.nan)), min_size=d, max_size=d),
    min_size=1, max_size=40))


@settings(max_examples=300, deadline=None)
@given(values_strategy, st.data())
def test_pareto_equals_brute_force(rows, data):
    # small integer values: many ties and exact duplicates; NaN: invalid points
    values = np.array(rows, dtype=float)
    n, d = values.shape
    directions = data.draw(st.lists(st.sampled_from(["min", "max"]), min_size=d, max_size=d))
    valid = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    valid[0] = True  # a result has a valid point (select refuses one without)
    objectives = {f"o{j}": direction for j, direction in enumerate(directions)}
    front = qf.pareto(as_dataset(values, valid), objectives)
    np.testing.assert_array_equal(front.values.ravel(), brute_front(values, directions, valid))


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("kind", ["random", "anticorrelated", "coarse"])
def test_kernel_on_larger_sets(d, kind):
    rng = np.random.default_rng(d)
    n = 1500
    values = rng.random((n, d))
    if kind == "anticorrelated":  # most points on the front
        values[:, -1] = 1.0 - values[:, :-1].mean(axis=1) + 0.01 * rng.random(n)
    if kind == "coarse":  # ties everywhere
        values = np.round(values * 6)
    np.testing.assert_array_equal(_pareto.front_mask(values), brute_front(values, ["min"] * d))


def brute_front_vectorized(values):
    """The definition again, numpy over the other points for each point (for sets too large to loop)."""
    on = np.empty(len(values), dtype=bool)
    for i, point in enumerate(values):
        on[i] = not ((values <= point).all(axis=1) & (values < point).any(axis=1)).any()
    return on


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("kind", ["random", "anticorrelated", "coarse"])
def test_large_sets_take_the_pivot_pass(d, kind, monkeypatch):
    # above _PREFILTER_MIN_POINTS (lowered here): points the pivots dominate are dropped before the sort
    monkeypatch.setattr(_pareto, "_PREFILTER_MIN_POINTS", 300)
    rng = np.random.default_rng(10 + d)
    n = 2500
    values = rng.random((n, d))
    if kind == "anticorrelated":
        values[:, -1] = 1.0 - values[:, :-1].mean(axis=1) + 0.01 * rng.random(n)
    if kind == "coarse":
        values = np.round(values * 20)
    np.testing.assert_array_equal(_pareto.front_mask(values), brute_front_vectorized(values))


@settings(max_examples=150, deadline=None)
@given(st.integers(4, 6), st.integers(1, 300), st.integers(2, 8), st.sampled_from(["random", "anti", "flat"]),
       st.integers(0, 2**32 - 1))
def test_divide_and_conquer_equals_brute_force(d, n, levels, kind, seed):
    # thresholds lowered so that small sets go through every branch of the recursion
    rng = np.random.default_rng(seed)
    values = np.round(rng.random((n, d)) * levels)
    if kind == "anti":  # most points on the front
        values[:, -1] = -values[:, :-1].sum(axis=1) + rng.integers(0, 2, n)
    if kind == "flat":  # one objective equal everywhere: it decides nothing
        values[:, 0] = 1.0
    skyline, pairs = _pareto._SKYLINE_POINTS, _pareto._BRUTE_PAIRS
    try:
        _pareto._SKYLINE_POINTS, _pareto._BRUTE_PAIRS = 4, 8
        got = _pareto.front_mask(values)
    finally:
        _pareto._SKYLINE_POINTS, _pareto._BRUTE_PAIRS = skyline, pairs
    np.testing.assert_array_equal(got, brute_front(values, ["min"] * d))


def test_duplicates_are_all_on_the_front_or_all_off():
    values = np.array([[1.0, 5.0], [1.0, 5.0], [2.0, 2.0], [2.0, 2.0], [3.0, 3.0], [3.0, 3.0], [0.0, 9.0]])
    np.testing.assert_array_equal(_pareto.front_mask(values), [True, True, True, True, False, False, True])
    three = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 2.0], [0.0, 2.0, 2.0]])
    np.testing.assert_array_equal(_pareto.front_mask(three), [True, True, False, True])


def test_nan_and_invalid_are_never_on_the_front():
    values = np.array([[np.nan, 0.0], [0.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])
    valid = np.array([True, True, True, False])  # the best point is invalid
    front = qf.pareto(as_dataset(values, valid), {"o0": "min", "o1": "min"})
    assert front.values.ravel().tolist() == [False, True, False, False]
    inf = np.array([[np.inf, -1.0], [0.0, 0.0]])
    assert qf.pareto(as_dataset(inf), "o0:min,o1:min").values.ravel().tolist() == [False, True]


def test_front_on_a_real_result_is_nondominated_and_keeps_its_labels():
    ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "bits": [8, 16], "rows": [8, 16, 32],
                                 "cols": [8, 16], "dataflow": ["ws", "os", "rs"], "spad_ifmap": [12, 24]},
                     per_layer=False)
    objectives = {"energy_per_inference_j": "min", "perf_per_area": "max", "area_mm2": "min"}
    front = qf.pareto(ds, objectives, where="bits==8")
    assert front.dims == ds.valid.dims and front.dtype == bool and front.name == "pareto"
    xr.testing.assert_equal(front.pe_type, ds.pe_type)
    columns = np.stack([ds[name].values.ravel() for name in objectives], axis=1)
    usable = ds.valid.values.ravel() & (ds.bits == 8).broadcast_like(ds.valid).values.ravel()
    np.testing.assert_array_equal(front.values.ravel(), brute_front(columns, list(objectives.values()), usable))
    # ws designs differ only in scratchpads they do not use: duplicates, all on the front together
    ws = front.sel(dataflow="ws")
    assert (ws.isel(spad_ifmap=0).values == ws.isel(spad_ifmap=1).values).all()


def test_select_combines_constraints_and_broadcasts_lower_dim_variables():
    ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "bits": [8, 16], "rows": [8, 16]}, per_layer=False)
    ds["accuracy"] = xr.DataArray([[0.9, 0.95], [0.8, np.nan]], dims=("pe_type", "bits"),
                                  coords={"pe_type": ds.pe_type, "bits": ds.bits}, attrs={"units": "1"})
    mask = select(ds, ["accuracy>=0.85", "rows==16"])
    assert mask.dims == ds.valid.dims
    expected = ds.valid & (ds.accuracy >= 0.85) & (ds.rows == 16)
    np.testing.assert_array_equal(mask.values, expected.transpose(*ds.valid.dims).values)
    # NaN accuracy satisfies no accuracy constraint; != on text labels
    assert not bool(select(ds, "accuracy<=2").sel(pe_type="lightpe1", bits=16).any())
    assert set(np.unique(ds.pe_type.broadcast_like(ds.valid).values[select(ds, "pe_type!=int").values])) == {"lightpe1"}
    area = ds.area_mm2.where(ds.valid)
    limit = float(area.median())
    assert int(select(ds, f"area_mm2<={limit!r}").sum()) == int((area <= limit).sum())


@pytest.mark.parametrize("where, message", [
    ("bogus<=3", "where 'bogus<=3': unknown variable 'bogus'; allowed: "),
    ("area_mm2 = 3", "where 'area_mm2 = 3' is not VARIABLE OP VALUE"),
    ("area_mm2<=", "where 'area_mm2<=' is not VARIABLE OP VALUE"),
    ("area_mm2<=<=3", "is not VARIABLE OP VALUE"),
    ("area_mm2<=ten", "where 'area_mm2<=ten': area_mm2 is numeric; 'ten' is not a number"),
    ("pe_type<=3", "pe_type is text; compare it with == or != only"),
    ("pe_type==bf16", "pe_type has no value 'bf16'; values: int, lightpe1"),
    ("area_mm2<=0.000001", "where 'area_mm2<=0.000001' leaves no valid design point (over the points selected so far, "
                           "area_mm2 spans"),
    ("layer_cycles>0", "where 'layer_cycles>0': layer_cycles has dims ['layer'] beyond a design point's (pe_type, "),
])
def test_bad_constraints_are_one_line_naming_the_expression(where, message):
    ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "rows": [8, 16]}, per_layer=True)
    with pytest.raises(QuidamInputError) as caught:
        select(ds, where)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_parse_where_forms():
    assert parse_where(None) == []
    assert [c.text for c in parse_where(["bits<=8,dataflow==rs", " network == vgg7_fmnist "])] == \
        ["bits<=8", "dataflow==rs", "network==vgg7_fmnist"]
    assert parse_where("x>=1e-3")[0].value == 1e-3
    with pytest.raises(QuidamInputError, match="NaN matches nothing"):
        parse_where("x<=nan")


@pytest.mark.parametrize("text, message", [
    ("perf_per_area:best", "unknown direction 'best'; allowed: min, max"),
    ("perf_per_area", "is not VARIABLE:min or VARIABLE:max"),
    ("", "no objective given"),
    ("perf_per_area:max,perf_per_area:min", "given twice"),
    ("speed up:max", "'speed up' is not a variable name"),
])
def test_bad_objectives(text, message):
    with pytest.raises(QuidamInputError, match=message):
        parse_objectives(text)


def test_objectives_checked_against_the_result():
    ds = qf.evaluate("alexnet", {"rows": [8, 16]}, per_layer=True)
    assert parse_objectives("edp:min,utilization:max", ds) == {"edp": "min", "utilization": "max"}
    for bad in ("layer_cycles:min", "valid:max", "pe_type:min"):
        with pytest.raises(QuidamInputError, match="not a numeric variable of the result on its design dims"):
            qf.pareto(ds, bad)
    with pytest.raises(QuidamInputError, match="objective 'speed:max': unknown variable 'speed'; allowed: area_glb_mm2, "):
        qf.pareto(ds, {"speed": "max"})


def test_one_objective_keeps_every_tie_of_the_best():
    values = np.array([[3.0], [1.0], [1.0], [np.nan]])
    assert qf.pareto(as_dataset(values), {"o0": "min"}).values.ravel().tolist() == [False, True, True, False]


@pytest.mark.parametrize("module", [_pareto, results])
def test_doctests(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


def test_many_objective_kernel_uses_every_objective():
    # a point worse in only the fourth objective is dominated; better in only the fourth, it is not
    base = np.array(list(itertools.product([0.0, 1.0], repeat=4)))
    on = _pareto.front_mask(base)
    assert on.tolist() == brute_front(base, ["min"] * 4).tolist() and int(on.sum()) == 1
