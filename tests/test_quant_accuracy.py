"""The accuracy join: by coordinate labels, never by position; NaN and attrs where the table has no entry;
only onto the network the table was trained on (same layer table, not just the same name)."""

import dataclasses
import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr

import quidam_fast as qf
from quidam_fast.accuracy import attach_accuracy, load_accuracy_table, seed_statistics
from quidam_fast.errors import QuidamInputError
from quidam_fast.workloads import LAYER_COLUMNS, Network

NETWORKS = ["lenet5_fmnist", "vgg7_fmnist"]  # library networks, so the join's layer check can pass

# These results are bare coordinates without a ``valid`` variable, so every uncovered cell counts as a
# design and warns; the warning itself is tested in test_coexploration.py.
pytestmark = pytest.mark.filterwarnings("ignore::quidam_fast.accuracy.AccuracyCoverageWarning")


def _table():
    """A small table with distinct values per cell: accuracy = network index + pe index / 10 + bits / 1000 + seed / 1e5."""
    networks, pe_types, bits, seeds = NETWORKS, ["fp", "int", "lightpe1"], [4, 8, 16, 32], [0, 1, 2]
    n, p, b, s = np.meshgrid(range(2), range(3), bits, seeds, indexing="ij")
    acc = 0.5 + n / 10 + p / 100 + b / 1e4 + s / 1e5
    acc[:, 0, :2, :] = np.nan  # fp at 4 and 8 bits does not exist
    acc[:, 1, 3, :] = np.nan  # int at 32: not trained
    return xr.Dataset(
        {"accuracy": (("network", "pe_type", "bits", "seed"), acc, {"units": "1"})},
        coords={"network": networks, "pe_type": pe_types, "bits": bits, "seed": seeds},
        attrs={"source": "test table", "complete": "yes"},
    )


def _expected(network_index, pe_index, bits):
    return 0.5 + network_index / 10 + pe_index / 100 + bits / 1e4 + 1 / 1e5  # mean of seeds 0, 1, 2


def _results(pe_types=("int", "fp", "lightpe1"), bits=(16, 8, 32, 4), network="vgg7_fmnist", layers=None):
    """Totals-only results as quidam_fast.evaluate labels them; ``layers`` (a Network) sets the layer count
    and MACs it records (default: those of the library network of that name)."""
    shape = (len(pe_types), len(bits), 2)
    layers = layers or (qf.load_network(network) if network in qf.network_names() else None)
    fingerprint = {"network_layers": len(layers.layers), "network_macs": layers.macs} if layers else {}
    return xr.Dataset(
        {"energy_pj": (("pe_type", "bits", "rows"), np.arange(np.prod(shape), dtype=float).reshape(shape), {"units": "pJ"})},
        coords={"pe_type": list(pe_types), "bits": list(bits), "rows": [8, 16]},
        attrs={"network": network, **fingerprint},
    )


def _with_layer_coords(results, net: Network):
    """``results`` with the per-layer coordinates quidam_fast.evaluate(per_layer=True) gives."""
    table = net.table()
    return results.assign_coords(
        layer=("layer", [layer.name for layer in net.layers]),
        **{f"layer_{c}": ("layer", table[c], {"units": "1"}) for c in LAYER_COLUMNS},
    )


def _changed(net: Network, index: int, **shape) -> Network:
    """``net`` with one layer's shape changed, under the same name."""
    layers = list(net.layers)
    layers[index] = dataclasses.replace(layers[index], **shape)
    return Network(net.name, tuple(layers))


def test_values_are_the_cells_named_by_the_coordinates():
    out = attach_accuracy(_results(), _table())
    pe_index = {"fp": 0, "int": 1, "lightpe1": 2}
    for pe_type in ("int", "lightpe1"):
        for bits in (4, 8, 16):
            got = out.accuracy.sel(pe_type=pe_type, bits=bits)
            assert got.dims == ()  # no 'rows' dim: accuracy does not depend on the array shape
            assert float(got) == pytest.approx(_expected(1, pe_index[pe_type], bits))
    assert float(out.accuracy.sel(pe_type="fp", bits=32)) == pytest.approx(_expected(1, 0, 32))
    std = float(out.accuracy_std.sel(pe_type="int", bits=8))
    assert std == pytest.approx(np.std([0, 1e-5, 2e-5], ddof=1))
    assert out.accuracy.attrs["units"] == "1" and out.accuracy_std.attrs["units"] == "1"
    xr.testing.assert_identical(out.energy_pj, _results().energy_pj)


def test_missing_cells_are_nan_and_listed():
    out = attach_accuracy(_results(), _table())
    for pe_type, bits in [("fp", 4), ("fp", 8), ("int", 32)]:
        assert np.isnan(out.accuracy.sel(pe_type=pe_type, bits=bits)), (pe_type, bits)
    assert "fp:4" in out.accuracy.attrs["missing"] and "int:32" in out.accuracy.attrs["missing"]
    assert "int:8" not in out.accuracy.attrs["missing"]
    # a pe_type or a width the table never saw is NaN too
    out = attach_accuracy(_results(pe_types=("int", "lightpe2"), bits=(8, 12)), _table())
    assert np.isnan(out.accuracy.sel(pe_type="lightpe2")).all() and np.isnan(out.accuracy.sel(bits=12)).all()
    assert float(out.accuracy.sel(pe_type="int", bits=8)) == pytest.approx(_expected(1, 1, 8))
    assert "lightpe2:8" in out.attrs["accuracy"]


def test_order_of_coordinates_does_not_matter():
    table = _table()
    a = attach_accuracy(_results(), table)
    b = attach_accuracy(_results(pe_types=("lightpe1", "int", "fp"), bits=(4, 32, 8, 16)), table)
    shuffled_table = table.isel(pe_type=[2, 0, 1], bits=[3, 1, 0, 2], seed=[2, 0, 1])
    c = attach_accuracy(_results(), shuffled_table)
    xr.testing.assert_allclose(a.accuracy, b.accuracy.sel(pe_type=a.pe_type, bits=a.bits))
    xr.testing.assert_allclose(a.accuracy, c.accuracy)
    xr.testing.assert_allclose(a.accuracy_std, c.accuracy_std)


def test_scalar_and_non_dimension_coordinates():
    table = _table()
    full = attach_accuracy(_results(), table)
    one = attach_accuracy(_results().sel(pe_type="int", bits=8), table)  # scalar coordinates
    assert float(one.accuracy) == pytest.approx(float(full.accuracy.sel(pe_type="int", bits=8)))
    stacked = _results().stack(point=("pe_type", "bits")).reset_index("point")  # pe_type, bits along 'point'
    flat = attach_accuracy(stacked, table)
    assert flat.accuracy.dims == ("point",)
    for i in range(flat.sizes["point"]):
        p, b = str(stacked.pe_type.values[i]), int(stacked.bits.values[i])
        np.testing.assert_allclose(float(flat.accuracy[i]), float(full.accuracy.sel(pe_type=p, bits=b)))


def test_network_without_table_is_returned_unchanged_and_says_so():
    results = _results(network="resnet18")
    out = attach_accuracy(results, _table())
    assert "accuracy" not in out
    assert "not attached" in out.attrs["accuracy"] and "resnet18" in out.attrs["accuracy"]
    xr.testing.assert_identical(out.drop_attrs() if hasattr(out, "drop_attrs") else out, results.drop_attrs() if hasattr(results, "drop_attrs") else results)


def test_results_without_join_coordinates_is_an_error():
    with pytest.raises(QuidamInputError, match="bits"):
        attach_accuracy(_results().drop_vars("bits"), _table())


def test_load_errors(tmp_path):
    with pytest.raises(QuidamInputError, match="does not exist"):
        load_accuracy_table(tmp_path / "nope.nc")
    bad = tmp_path / "bad.nc"
    xr.Dataset({"x": ("a", [1.0])}).to_netcdf(bad, engine="h5netcdf")
    with pytest.raises(QuidamInputError, match="not an accuracy table"):
        load_accuracy_table(bad)


def test_round_trip_through_netcdf(tmp_path):
    path = tmp_path / "table.nc"
    _table().to_netcdf(path, engine="h5netcdf")
    loaded = load_accuracy_table(path)
    xr.testing.assert_allclose(attach_accuracy(_results(), loaded).accuracy, attach_accuracy(_results(), _table()).accuracy)


def test_packaged_table_loads_without_torch():
    code = (
        "import sys; from quidam_fast.accuracy import load_accuracy_table; t = load_accuracy_table(); "
        "assert 'torch' not in sys.modules, 'torch was imported'; print(sorted(t.accuracy.dims))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "network" in done.stdout


def test_packaged_table_covers_the_issue_cells():
    table = load_accuracy_table()
    acc = table.accuracy
    assert {"lenet5_fmnist", "vgg7_fmnist"} <= set(map(str, acc.network.values))
    assert acc.sizes["seed"] >= 3
    for pe_type, bits in [("fp", 32), ("fp", 16), ("int", 16), ("int", 8), ("int", 4), ("lightpe1", 8), ("lightpe2", 8)]:
        assert acc.sel(pe_type=pe_type, bits=bits).notnull().all(), (pe_type, bits)
    assert float(acc.sel(network="vgg7_fmnist", pe_type="fp", bits=32).mean()) >= 0.90
    assert table.attrs.get("complete") == "yes"


# --- a finished table only (finding 1) ---------------------------------------------------------------


@pytest.mark.parametrize("complete", ["no (partial, still running)", None, "YES"])
def test_unfinished_table_is_refused_with_one_line_naming_the_file(tmp_path, complete):
    table = _table()
    if complete is None:
        del table.attrs["complete"]
    else:
        table.attrs["complete"] = complete
    path = tmp_path / "acc.partial.nc"
    table.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(QuidamInputError, match="not a finished accuracy table") as error:
        load_accuracy_table(path)
    message = str(error.value)
    assert str(path) in message and "complete" in message and "\n" not in message


# --- the same network, not just the same name (finding 2) ------------------------------------------


def test_same_name_other_layer_count_or_macs_gets_no_accuracy():
    lenet, vgg = qf.load_network("lenet5_fmnist"), qf.load_network("vgg7_fmnist")
    impostor = Network("lenet5_fmnist", vgg.layers)  # e.g. a user CSV saved as lenet5_fmnist.csv
    results = _results(network="lenet5_fmnist", layers=impostor)
    out = attach_accuracy(results, _table())
    assert "accuracy" not in out and "accuracy_std" not in out and "accuracy_seeds" not in out
    assert out.attrs["accuracy"].startswith("not attached") and "lenet5_fmnist" in out.attrs["accuracy"]
    assert f"{lenet.macs:,}" in out.attrs["accuracy"]
    xr.testing.assert_identical(out.energy_pj, results.energy_pj)
    # the genuine network's totals-only results are joined, and say how they were checked
    genuine = attach_accuracy(_results(network="lenet5_fmnist"), _table())
    assert "layer count and MACs" in genuine.accuracy.attrs["network_check"]


def test_same_name_other_layer_shapes_gets_no_accuracy():
    lenet = qf.load_network("lenet5_fmnist")
    # conv2 on a 23 x 23 input with stride 2: the same output size, so the same layer count and MACs
    other = _changed(lenet, 1, stride=2, H=23, W=23)
    assert other.macs == lenet.macs and len(other.layers) == len(lenet.layers) and other.layers[1] != lenet.layers[1]
    # the totals alone cannot tell (and say so in network_check) ...
    weak = attach_accuracy(_results(network="lenet5_fmnist", layers=other), _table())
    assert "layer count and MACs" in weak.accuracy.attrs["network_check"]
    # ... but checked through the per-layer coordinates ...
    out = attach_accuracy(_with_layer_coords(_results(network="lenet5_fmnist", layers=other), other), _table())
    assert "accuracy" not in out
    assert "layer 1 (conv2)" in out.attrs["accuracy"] and "stride = 2 (library 1)" in out.attrs["accuracy"]
    # ... or through the network the caller evaluated, it gets no accuracy
    out = attach_accuracy(_results(network="lenet5_fmnist"), _table(), network=other)
    assert "accuracy" not in out and "H = 23 (library 14)" in out.attrs["accuracy"]
    # the library network itself passes both ways
    for joined in (
        attach_accuracy(_with_layer_coords(_results(network="lenet5_fmnist"), lenet), _table()),
        attach_accuracy(_results(network="lenet5_fmnist"), _table(), network=lenet),
    ):
        assert "layer table equals" in joined.accuracy.attrs["network_check"]
        assert float(joined.accuracy.sel(pe_type="int", bits=8)) == pytest.approx(_expected(0, 1, 8))


def test_network_argument_must_be_the_results_network():
    with pytest.raises(QuidamInputError, match="vgg7_fmnist"):
        attach_accuracy(_results(network="vgg7_fmnist"), _table(), network=qf.load_network("lenet5_fmnist"))


def test_results_that_cannot_be_checked_or_a_name_outside_the_library_get_no_accuracy():
    bare = xr.Dataset(coords={"pe_type": ["int"], "bits": [8]}, attrs={"network": "lenet5_fmnist"})
    out = attach_accuracy(bare, _table())
    assert "accuracy" not in out and "no layer table" in out.attrs["accuracy"]
    table = _table().assign_coords(network=["lenet5_fmnist", "mynet"])
    out = attach_accuracy(_results(network="mynet", layers=qf.load_network("lenet5_fmnist")), table)
    assert "accuracy" not in out and "no library network 'mynet'" in out.attrs["accuracy"]


def test_evaluated_topology_csv_with_a_library_name(tmp_path):
    """The grid's own path: a user CSV saved as lenet5_fmnist.csv with other layers, evaluated for real."""
    vgg = qf.load_network("vgg7_fmnist")
    path = tmp_path / "lenet5_fmnist.csv"
    path.write_text(vgg.to_csv())
    user = qf.load_network(str(path))
    assert user.name == "lenet5_fmnist"
    space = {"pe_type": ["int"], "bits": [8], "rows": [8], "cols": [8], "dataflow": ["ws"]}
    for per_layer in (False, True):
        out = attach_accuracy(qf.evaluate(user, space, per_layer=per_layer), _table())
        assert "accuracy" not in out and out.attrs["accuracy"].startswith("not attached"), per_layer
        genuine = attach_accuracy(qf.evaluate("lenet5_fmnist", space, per_layer=per_layer), _table())
        assert float(genuine.accuracy.sel(pe_type="int", bits=8)) == pytest.approx(_expected(0, 1, 8))


# --- seeds counted, never silently dropped (finding 3) ---------------------------------------------


def test_nan_seeds_are_counted_not_silently_dropped():
    table = _table()
    table["accuracy"].loc[{"network": "vgg7_fmnist", "pe_type": "int", "bits": 8, "seed": 2}] = np.nan
    table["accuracy"].loc[{"network": "vgg7_fmnist", "pe_type": "int", "bits": 16, "seed": [1, 2]}] = np.nan
    out = attach_accuracy(_results(), table)
    seeds = out.accuracy_seeds
    assert seeds.attrs["units"] == "1" and seeds.dtype.kind == "i"
    assert int(seeds.sel(pe_type="int", bits=4)) == 3
    assert int(seeds.sel(pe_type="int", bits=8)) == 2 and int(seeds.sel(pe_type="int", bits=16)) == 1
    assert int(seeds.sel(pe_type="fp", bits=4)) == 0 and np.isnan(out.accuracy.sel(pe_type="fp", bits=4))
    two = 0.5 + 1 / 10 + 1 / 100 + 8 / 1e4 + np.array([0, 1e-5])
    assert float(out.accuracy.sel(pe_type="int", bits=8)) == pytest.approx(two.mean())
    assert float(out.accuracy_std.sel(pe_type="int", bits=8)) == pytest.approx(two.std(ddof=1))
    assert np.isnan(out.accuracy_std.sel(pe_type="int", bits=16))  # one seed: no spread to report
    assert "int:8 (2 of 3)" in out.accuracy.attrs["fewer_seeds"] and "int:16 (1 of 3)" in out.accuracy.attrs["fewer_seeds"]
    assert "int:4" not in out.accuracy.attrs["fewer_seeds"]
    assert attach_accuracy(_results(), _table()).accuracy.attrs["fewer_seeds"] == "none"


def test_seed_statistics_match_numpy_without_warnings():
    rng = np.random.default_rng(0)
    values = rng.uniform(0.5, 0.9, size=(4, 5))
    values[1, 3:] = np.nan
    values[2, 1:] = np.nan
    values[3, :] = np.nan
    mean, std, count = seed_statistics(xr.DataArray(values, dims=("bits", "seed")))
    assert count.values.tolist() == [5, 3, 1, 0]
    for i, n in enumerate(count.values):
        kept = values[i][~np.isnan(values[i])]
        assert (float(mean[i]) == pytest.approx(kept.mean())) if n else np.isnan(mean[i])
        assert (float(std[i]) == pytest.approx(kept.std(ddof=1))) if n > 1 else np.isnan(std[i])


@pytest.mark.parametrize("name", ["quidam_fast.accuracy", "quidam_fast.cli.quant"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


# --- fingerprints: which network a table's row was trained on ---------------------------------------

from quidam_fast.accuracy import (  # noqa: E402
    AccuracyUncheckedWarning, add_fingerprints, check_fingerprints, fingerprint_variables, network_fingerprint)


def _stamped(networks=NETWORKS) -> xr.Dataset:
    """_table() as quant train writes it now: with the fingerprints of the networks trained."""
    return _table().assign(fingerprint_variables([qf.load_network(n) for n in networks]))


def _relabelled(table: xr.Dataset) -> xr.Dataset:
    """Each network's rows under the other network's name, fingerprints carried along (as a label edit does)."""
    return table.assign_coords(network=list(table.network.values[::-1]))


def test_a_fingerprint_is_the_layer_shapes_in_order_not_the_names():
    lenet = qf.load_network("lenet5_fmnist")
    renamed = Network("other", tuple(dataclasses.replace(layer, name=f"x{i}") for i, layer in enumerate(lenet.layers)))
    assert network_fingerprint(renamed) == network_fingerprint(lenet)
    assert len(network_fingerprint(lenet)) == 16 and int(network_fingerprint(lenet), 16) >= 0
    changed = {network_fingerprint(_changed(lenet, 1, K=lenet.layers[1].K + 1)),
               network_fingerprint(_changed(lenet, 0, padding=lenet.layers[0].padding + 1)),
               network_fingerprint(Network("r", lenet.layers[::-1])),
               network_fingerprint(Network("short", lenet.layers[:-1]))}
    assert len(changed) == 4 and network_fingerprint(lenet) not in changed


def test_the_fingerprint_variables_record_the_layer_count_macs_and_weights():
    variables = fingerprint_variables([qf.load_network(n) for n in NETWORKS])
    for i, name in enumerate(NETWORKS):
        net = qf.load_network(name)
        # written out from the layers' own fields, not from Network.macs / .params
        macs = sum(layer.N * layer.K * (layer.C // layer.groups) * layer.R * layer.S * layer.P * layer.Q for layer in net.layers)
        weights = sum(layer.K * (layer.C // layer.groups) * layer.R * layer.S for layer in net.layers)
        assert int(variables["network_layers"].values[i]) == len(net.layers)
        assert int(variables["network_macs"].values[i]) == macs and int(variables["network_params"].values[i]) == weights
    assert {v.attrs["units"] for v in variables.values()} == {"", "1", "MAC"}


def test_a_table_relabelled_to_another_networks_name_is_refused_at_load_and_at_the_join(tmp_path):
    _relabelled(_stamped()).to_netcdf(tmp_path / "t.nc", engine="h5netcdf")
    with pytest.raises(QuidamInputError) as caught:
        load_accuracy_table(tmp_path / "t.nc")
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "t.nc") in message and "(relabelled?)" in message
    assert "network 'vgg7_fmnist' was trained on a network with fingerprint" in message
    lenet = qf.load_network("lenet5_fmnist")
    assert f"({len(lenet.layers)} layers, {lenet.macs:,} MACs, {lenet.params:,} weights)" in message  # what it was trained on
    results = _results(network="lenet5_fmnist")
    with pytest.raises(QuidamInputError, match="network 'lenet5_fmnist' was trained on a network with fingerprint"):
        attach_accuracy(results, _relabelled(_stamped()))  # a table built in memory is checked at the join
    assert "accuracy" in attach_accuracy(results, _stamped())  # the same table, rightly labelled, joins


def test_a_table_without_fingerprints_joins_with_one_warning_that_it_cannot_be_checked():
    results = _results(network="lenet5_fmnist", bits=(16, 8, 4), pe_types=("int", "lightpe1"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        joined = attach_accuracy(results, _table())
    unchecked = [w for w in caught if issubclass(w.category, AccuracyUncheckedWarning)]
    assert len(unchecked) == 1 and "\n" not in str(unchecked[0].message)
    assert "records no fingerprint" in str(unchecked[0].message) and "lenet5_fmnist" in str(unchecked[0].message)
    assert "quidam-fast quant fingerprint test table" in str(unchecked[0].message)
    xr.testing.assert_identical(joined.accuracy, attach_accuracy(results, _stamped()).accuracy.assign_attrs(joined.accuracy.attrs))
    assert "none recorded for lenet5_fmnist (not checked)" in joined.accuracy.attrs["network_check"]
    assert check_fingerprints(_table()) == NETWORKS and check_fingerprints(_stamped()) == []


def test_stamping_adds_the_library_fingerprints_and_refuses_to_overwrite_others_unless_forced():
    stamped, lines = add_fingerprints(_table())
    xr.testing.assert_identical(stamped.accuracy, _table().accuracy)
    assert [str(f) for f in stamped.network_fingerprint.values] == [network_fingerprint(qf.load_network(n)) for n in NETWORKS]
    assert len(lines) == 2 and lines[0].startswith("lenet5_fmnist: ") and "after training" in stamped.attrs["fingerprinted"]
    with pytest.raises(QuidamInputError, match="test table: the fingerprint recorded for network 'vgg7_fmnist' differs .* --force"):
        add_fingerprints(_relabelled(_stamped()))
    forced, _ = add_fingerprints(_relabelled(_stamped()), force=True)
    assert check_fingerprints(forced) == []
    with pytest.raises(QuidamInputError, match="network 'alexnet_x' is not a library network"):
        add_fingerprints(_table().assign_coords(network=["lenet5_fmnist", "alexnet_x"]))


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.assign(network_fingerprint=("network", np.array(["xyz", "0" * 16], dtype=object))),
     "variable 'network_fingerprint' holds 'xyz'; it must hold 16 lowercase hex digits"),
    (lambda t: t.assign(network_macs=t.network_macs.astype(float)), "variable 'network_macs' holds [416520.0, "),
    (lambda t: t.assign(network_params=t.network_params.expand_dims(seed=t.seed)), "variable 'network_params' has dimensions"),
])
def test_odd_fingerprint_variables_are_one_line(tmp_path, edit, message):
    edit(_stamped()).to_netcdf(tmp_path / "t.nc", engine="h5netcdf")
    with pytest.raises(QuidamInputError) as caught:
        load_accuracy_table(tmp_path / "t.nc")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_packaged_table_records_the_fingerprints_of_its_networks():
    """Stamped with quidam-fast quant fingerprint quant/data/accuracy.nc (it was trained before they were
    recorded); a retrained table records them itself."""
    table = load_accuracy_table()
    assert check_fingerprints(table) == []
    assert [str(f) for f in table.network_fingerprint.values] == [
        network_fingerprint(qf.load_network(str(n))) for n in table.network.values]
