"""The accuracy join: by coordinate labels, never by position; NaN and attrs where the table has no entry."""

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from quidam_fast.accuracy import attach_accuracy, load_accuracy_table
from quidam_fast.errors import QuidamInputError


def _table():
    """A small table with distinct values per cell: accuracy = network index + pe index / 10 + bits / 1000 + seed / 1e5."""
    networks, pe_types, bits, seeds = ["netA", "netB"], ["fp", "int", "lightpe1"], [4, 8, 16, 32], [0, 1, 2]
    n, p, b, s = np.meshgrid(range(2), range(3), bits, seeds, indexing="ij")
    acc = 0.5 + n / 10 + p / 100 + b / 1e4 + s / 1e5
    acc[:, 0, :2, :] = np.nan  # fp at 4 and 8 bits does not exist
    acc[:, 1, 3, :] = np.nan  # int at 32: not trained
    return xr.Dataset(
        {"accuracy": (("network", "pe_type", "bits", "seed"), acc, {"units": "1"})},
        coords={"network": networks, "pe_type": pe_types, "bits": bits, "seed": seeds},
        attrs={"source": "test table"},
    )


def _expected(network_index, pe_index, bits):
    return 0.5 + network_index / 10 + pe_index / 100 + bits / 1e4 + 1 / 1e5  # mean of seeds 0, 1, 2


def _results(pe_types=("int", "fp", "lightpe1"), bits=(16, 8, 32, 4), network="netB"):
    shape = (len(pe_types), len(bits), 2)
    return xr.Dataset(
        {"energy_pj": (("pe_type", "bits", "rows"), np.arange(np.prod(shape), dtype=float).reshape(shape), {"units": "pJ"})},
        coords={"pe_type": list(pe_types), "bits": list(bits), "rows": [8, 16]},
        attrs={"network": network},
    )


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
