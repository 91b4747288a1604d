"""Model co-exploration: networks as a dimension of one result, and the accuracy join on
(network, pe_type, bits) by label.

References are independent of the multi-network code path: each network's slice is compared with the
single-network evaluation (itself checked against SCALE-Sim and the numpy model elsewhere), and joined
accuracies with values computed from the synthetic table's formula.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr

import quidam_fast as qf
from quidam_fast.accuracy import AccuracyCoverageWarning, attach_accuracy, fingerprint_variables, load_accuracy_table
from quidam_fast.engine import load_networks
from quidam_fast.errors import QuidamInputError
from quidam_fast.space import DEFAULT_AXES, DEFAULT_NETWORK, MODEL_FAMILY, load_spec

SPACE = {"pe_type": ["int", "lightpe1", "fp"], "bits": [4, 8, 16], "rows": [8, 16], "cols": [8, 32],
         "dataflow": ["ws", "os", "rs"], "glb_kib": [64, 256]}
FAMILY = list(MODEL_FAMILY)


def _totals_equal(a: xr.Dataset, b: xr.Dataset) -> None:
    """Every variable of ``b`` equal in ``a`` (NaN where NaN), labels and units included."""
    for name in b.data_vars:
        xr.testing.assert_identical(a[name].reset_coords(drop=True), b[name].reset_coords(drop=True))


@pytest.fixture(scope="module")
def whole():
    return qf.evaluate(FAMILY, SPACE, per_layer=True)


def test_a_list_gives_a_network_dimension_with_macs_and_params(whole):
    assert whole.cycles.dims[0] == "network" and list(whole.network.values) == FAMILY
    for name in FAMILY:
        net = qf.load_network(name)
        assert int(whole.network_macs.sel(network=name)) == net.macs == sum(layer.macs for layer in net.layers)
        assert int(whole.network_layers.sel(network=name)) == len(net.layers)
        # weights from the layer shapes, written out: K * C / groups * R * S per layer
        assert int(whole.network_params.sel(network=name)) == sum(
            layer.K * layer.C // layer.groups * layer.R * layer.S for layer in net.layers)
    assert whole.network_macs.attrs["units"] == "MAC" and whole.network_params.attrs["units"] == "1"
    assert max(whole.network_macs.values) / min(whole.network_macs.values) >= 10  # a 10x range of MACs


def test_each_network_slice_equals_its_single_network_evaluation(whole):
    for name in FAMILY:
        single = qf.evaluate(name, SPACE, per_layer=True)
        assert "network" not in single.dims and single.attrs["network"] == name  # one network: today's shape
        n = len(qf.load_network(name).layers)
        part = whole.sel(network=name)
        totals = [v for v in single.data_vars if "layer" not in single[v].dims]
        _totals_equal(part[totals], single[totals])
        for variable in (v for v in single.data_vars if "layer" in single[v].dims):
            np.testing.assert_array_equal(part[variable].isel(layer=slice(0, n)).values, single[variable].values)
            assert bool(part[variable].isel(layer=slice(n, None)).isnull().all())  # padding past the last layer
        assert list(part.layer_name.values[:n]) == list(single.layer.values)
        assert set(part.layer_name.values[n:]) <= {""} and set(part.layer_K.values[n:]) <= {-1}
        np.testing.assert_array_equal(part.layer_K.values[:n], single.layer_K.values)


def test_a_sub_selection_of_networks_equals_the_same_slice_of_the_whole(whole):
    chosen = [FAMILY[2], FAMILY[0]]
    part = qf.evaluate(chosen, SPACE, per_layer=False)
    _totals_equal(whole.sel(network=chosen)[list(part.data_vars)], part)
    xr.testing.assert_equal(whole.network_macs.sel(network=chosen), part.network_macs)


def test_a_list_of_one_keeps_the_network_dimension():
    ds = qf.evaluate(["lenet5_fmnist"], {"rows": [8, 16]}, per_layer=False)
    assert ds.sizes["network"] == 1 and int(ds.network_macs[0]) == qf.load_network("lenet5_fmnist").macs


@pytest.mark.parametrize("networks,message", [
    (["lenet5_fmnist", "lenet5_fmnist"], "network 'lenet5_fmnist' is given twice"),
    (["lenet5_fmnist", "no_such_net"], "unknown network 'no_such_net'"),
    ([], "the list of networks is empty"),
    (["lenet5_fmnist", 3], "network 3 in the list is not a Network"),
])
def test_bad_network_lists_are_one_line(networks, message):
    with pytest.raises(QuidamInputError, match=message) as error:
        qf.evaluate(networks, {"rows": [8]})
    assert "\n" not in str(error.value)


def test_a_library_name_and_a_file_of_the_same_name_are_refused(tmp_path):
    path = tmp_path / "lenet5_fmnist.csv"
    path.write_text(qf.load_network("vgg7_fmnist").to_csv())
    with pytest.raises(QuidamInputError, match=r"'lenet5_fmnist' and '.*lenet5_fmnist.csv' both load as network 'lenet5_fmnist'"):
        load_networks(["lenet5_fmnist", str(path)])


# --- the accuracy join ------------------------------------------------------------------------------

CELLS = [("fp", 16), ("fp", 32)] + [(p, b) for p in ("int", "lightpe1", "lightpe2") for b in (4, 6, 8, 12, 16, 32)]
SEEDS = [0, 1, 2]


def _value(network: str, pe_type: str, bits: int, seed: int) -> float:
    """A distinct accuracy per cell and seed: its labels decoded from the value."""
    return 0.5 + FAMILY.index(network) / 10 + ("fp", "int", "lightpe1", "lightpe2").index(pe_type) / 100 + bits / 1e4 + seed / 1e6


def _table(networks=FAMILY, drop=()) -> xr.Dataset:
    pe_types, bits = ["fp", "int", "lightpe1", "lightpe2"], [4, 6, 8, 12, 16, 32]
    acc = np.full((len(networks), len(pe_types), len(bits), len(SEEDS)), np.nan)
    for i, n in enumerate(networks):
        for p, b in CELLS:
            if (n, p, b) not in drop:
                acc[i, pe_types.index(p), bits.index(b)] = [_value(n, p, b, s) for s in SEEDS]
    table = xr.Dataset({"accuracy": (("network", "pe_type", "bits", "seed"), acc, {"units": "1"})},
                       coords={"network": list(networks), "pe_type": pe_types, "bits": bits, "seed": SEEDS},
                       attrs={"source": "test table", "complete": "yes"})
    # trained (as it were) on the library networks of these names, as quant train records
    return table.assign(fingerprint_variables([qf.load_network(n) for n in networks]))


def _shuffled(table: xr.Dataset, seed: int = 7) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    return table.isel({dim: rng.permutation(table.sizes[dim]) for dim in ("network", "pe_type", "bits", "seed")})


@pytest.fixture(scope="module")
def results():
    return qf.evaluate(FAMILY[::-1], {**SPACE, "bits": [16, 4, 8, 32]}, per_layer=False)  # labels out of order


def test_join_is_by_label_and_a_shuffled_table_gives_the_same_result(results):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every valid point covered: no warning
        joined = attach_accuracy(results, _table())
        again = attach_accuracy(results, _shuffled(_table()))
    xr.testing.assert_identical(joined.accuracy, again.accuracy)
    xr.testing.assert_identical(joined.accuracy_std, again.accuracy_std)
    for n in results.network.values:
        for p in results.pe_type.values:
            for b in results.bits.values:
                got = float(joined.accuracy.sel(network=n, pe_type=p, bits=b))
                if (str(p), int(b)) in CELLS:
                    expected = np.mean([_value(str(n), str(p), int(b), s) for s in SEEDS])
                    assert got == pytest.approx(expected, abs=1e-12), (n, p, b)
                    assert int(joined.accuracy_seeds.sel(network=n, pe_type=p, bits=b)) == 3
                else:  # fp at 4 and 8 bits: not a design
                    assert np.isnan(got) and not bool(results.valid.sel(pe_type=p, bits=b).any())
    std = float(joined.accuracy_std.sel(network="vgg7_fmnist", pe_type="int", bits=8))
    assert std == pytest.approx(np.std([s / 1e6 for s in SEEDS], ddof=1), rel=1e-6)


def test_a_sub_selection_joins_like_the_slice_of_the_whole(results):
    whole = attach_accuracy(results, _table())
    part = attach_accuracy(results.sel(network=["vgg7_fmnist", "lenet5_fmnist"]), _table())
    for name in ("accuracy", "accuracy_std", "accuracy_seeds"):  # values and labels (attrs list the networks)
        xr.testing.assert_equal(whole[name].sel(network=["vgg7_fmnist", "lenet5_fmnist"]), part[name])


def test_a_network_or_cell_the_table_lacks_is_nan_with_one_warning_naming_it(results):
    table = _table(networks=[n for n in FAMILY if n != "resnet8_fmnist"], drop={("vgg7_fmnist", "int", 8)})
    with pytest.warns(AccuracyCoverageWarning) as caught:
        joined = attach_accuracy(results, table)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message and "resnet8_fmnist every cell (not in the table)" in message
    assert "vgg7_fmnist int:8" in message and "lenet5_fmnist" not in message and "fp:4" not in message
    assert bool(joined.accuracy.sel(network="resnet8_fmnist").isnull().all())
    assert np.isnan(float(joined.accuracy.sel(network="vgg7_fmnist", pe_type="int", bits=8)))
    assert int(joined.accuracy_seeds.sel(network="vgg7_fmnist", pe_type="int", bits=8)) == 0
    assert float(joined.accuracy.sel(network="vgg7_fmnist", pe_type="int", bits=16)) > 0.5
    assert "resnet8_fmnist" in joined.attrs["accuracy"] and "vgg7_fmnist int:8" in joined.accuracy.attrs["missing"]


def test_a_network_whose_layers_differ_from_the_library_is_not_joined(tmp_path):
    impostor = qf.Network("lenet5_fmnist", qf.load_network("vgg7_fmnist").layers)
    ds = qf.evaluate([impostor, qf.load_network("vgg7_fmnist")], {"rows": [8, 16]}, per_layer=False)
    with pytest.warns(AccuracyCoverageWarning, match="lenet5_fmnist every cell"):
        joined = attach_accuracy(ds, _table(), network=[impostor, qf.load_network("vgg7_fmnist")])
    assert bool(joined.accuracy.sel(network="lenet5_fmnist").isnull().all())
    assert float(joined.accuracy.sel(network="vgg7_fmnist", pe_type="int", bits=8)) > 0.5
    with pytest.warns(AccuracyCoverageWarning, match="lenet5_fmnist every cell"):  # the results' own MACs tell too
        assert bool(attach_accuracy(ds, _table()).accuracy.sel(network="lenet5_fmnist").isnull().all())


# --- specs and the command line -----------------------------------------------------------------------


def test_spec_network_list(tmp_path):
    (tmp_path / "net.csv").write_text(qf.load_network("lenet5_fmnist").to_csv())
    (tmp_path / "s.toml").write_text('network = ["vgg7_fmnist", "net.csv"]\n[space]\nrows = [8]\n')
    assert load_spec(tmp_path / "s.toml").network == ("vgg7_fmnist", str(tmp_path / "net.csv"))
    (tmp_path / "s.toml").write_text('network = "vgg7_fmnist"\n')
    assert load_spec(tmp_path / "s.toml").network == "vgg7_fmnist"
    for line, message in (('network = ["a", "a"]', "network 'a' is listed twice"), ("network = []", "non-empty list"),
                          ("network = [1]", "non-empty list of strings"), ("network = 3", "a string or a list")):
        (tmp_path / "s.toml").write_text(line + "\n")
        with pytest.raises(QuidamInputError, match=message):
            load_spec(tmp_path / "s.toml")


def _grid(*args, cwd):
    return subprocess.run([sys.executable, "-P", "-m", "quidam_fast.cli", "grid", *args, "--quiet"], cwd=cwd,
                          capture_output=True, text=True)


SMALL = '[space]\npe_type = ["int", "lightpe2"]\nbits = [8, 16]\nrows = [8, 16]\ncols = [8]\ndataflow = ["ws", "rs"]\n'


def test_repeated_network_option_gives_one_result_with_a_network_dimension(tmp_path):
    (tmp_path / "s.toml").write_text(SMALL)
    done = _grid("--spec", "s.toml", "--network", "vgg7_fmnist", "--network", "lenet5_fmnist", "--out", "o.nc", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ds = qf.open_result(tmp_path / "o.nc")
    assert list(ds.network.values) == ["vgg7_fmnist", "lenet5_fmnist"] and ds.energy_pj.dims[0] == "network"
    assert "accuracy" in ds and bool(ds.accuracy.where(ds.valid).notnull().sum() > 0)
    once = _grid("--spec", "s.toml", "--network", "vgg7_fmnist", "--out", "one.nc", cwd=tmp_path)
    assert once.returncode == 0 and "network" not in xr.load_dataset(tmp_path / "one.nc").dims


def test_grid_refuses_duplicate_networks_with_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "s.toml").write_text(SMALL)
    (tmp_path / "lenet5_fmnist.csv").write_text(qf.load_network("vgg7_fmnist").to_csv())
    done = _grid("--spec", "s.toml", "--network", "lenet5_fmnist", "--network", "lenet5_fmnist.csv", "--out", "o.nc", cwd=tmp_path)
    assert done.returncode == 2 and not (tmp_path / "o.nc").exists()
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: network 'lenet5_fmnist' and 'lenet5_fmnist.csv'")


def test_grid_warns_in_one_line_about_points_without_accuracy(tmp_path):
    (tmp_path / "s.toml").write_text(SMALL)
    done = _grid("--spec", "s.toml", "--network", "vgg7_fmnist", "--network", "alexnet", "--out", "o.nc", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and "alexnet every cell (not in the table)" in lines[0]


# --- the model family and its table -----------------------------------------------------------------


def _valid_cells():
    tech = qf.load_tech()
    return [(p, b) for p in DEFAULT_AXES["pe_type"] for b in DEFAULT_AXES["bits"] if tech.valid_bits(p, b)]


def test_the_default_table_cells_are_every_valid_cell_of_the_default_space():
    train = pytest.importorskip("quidam_fast.quant.train")
    assert sorted(train.DEFAULT_CELLS) == sorted(_valid_cells())
    assert list(train.DEFAULT_SCHEDULES) == FAMILY and len(train.DEFAULT_SEEDS) >= 3


def test_the_family_networks_are_their_torch_modules():
    pytest.importorskip("torch")
    from quidam_fast.quant.extract import layers_from_torch
    from quidam_fast.quant.models import FAMILY as TORCH_FAMILY
    from quidam_fast.quant.models import MODELS

    assert list(TORCH_FAMILY) == FAMILY
    for name in FAMILY:
        module = MODELS[name]()
        assert layers_from_torch(module, MODELS[name].input_shape, name).layers == qf.load_network(name).layers
        weights = sum(p.numel() for n, p in module.named_parameters() if n.endswith("weight") and p.dim() > 1)
        assert qf.load_network(name).params == weights  # conv and linear weights; batch norm's are 1-D


def _covers(table: xr.Dataset, networks, cells, seeds: int = 3) -> bool:
    names = {str(n) for n in table.network.values}
    if not set(networks) <= names:
        return False
    count = table.accuracy.notnull().sum("seed")
    return all(p in table.pe_type.values and b in table.bits.values and int(count.sel(network=n, pe_type=p, bits=b)) >= seeds
               for n in networks for p, b in cells)


def test_default_network_has_accuracy_everywhere():
    """The README's first command co-explores the family exactly when the packaged table covers it.

    Fails when the regenerated table lands without the one-line switch of ``DEFAULT_NETWORK`` to
    ``MODEL_FAMILY`` (core/space.py), or the switch without the table."""
    table = load_accuracy_table()
    if _covers(table, FAMILY, _valid_cells()):
        assert DEFAULT_NETWORK == MODEL_FAMILY, "the packaged table covers the family: set DEFAULT_NETWORK = MODEL_FAMILY"
        for key in ("schedules", "seeds", "command"):  # the table says how it was made
            assert key in table.attrs
        assert all(n in table.attrs["schedules"] for n in FAMILY)
    else:
        assert DEFAULT_NETWORK == "resnet18", "the packaged table does not cover the family: the default must stay hardware-only"


def test_table_attrs_record_schedule_and_seeds(tmp_path, monkeypatch):
    """``quant train`` writes the schedule of every network and the seeds into the table's attrs."""
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from quidam_fast.cli.main import app
    from quidam_fast.quant import train as qt

    def fake(networks, cells, seeds, schedules, progress, done=()):
        for n in networks:
            for s in seeds:
                for p, b in cells:
                    yield {"network": n, "seed": s, "pe_type": p, "bits": b, "accuracy": 0.9, "base_accuracy": 0.9,
                           "train_s": 1.0, "base_train_s": 1.0}

    monkeypatch.setattr(qt, "iter_accuracy_records", fake)
    out = tmp_path / "t.nc"
    result = CliRunner().invoke(app, ["quant", "train", "-o", str(out), "-n", "resnet8_fmnist,lenet5_fmnist", "-c", "int:8",
                                      "--seeds", "3,5,8", "--qat-epochs", "0.25"])
    assert result.exit_code == 0, result.output
    table = load_accuracy_table(out)
    assert table.attrs["seeds"] == "3,5,8" and list(table.seed.values) == [3, 5, 8]
    schedules = table.attrs["schedules"]
    assert schedules.startswith("resnet8_fmnist: {'epochs': 5,") and "lenet5_fmnist: {'epochs': 8," in schedules
    assert schedules.count("'qat_epochs': 0.25") == 2
    assert "--seeds 3,5,8" in table.attrs["command"] and table.attrs["runtime_s"] >= 0 and "cpu_s" in table.attrs


def test_once_switched_the_default_run_co_explores_the_family_with_accuracy_everywhere(tmp_path, monkeypatch):
    """The one-line switch, rehearsed: DEFAULT_NETWORK = MODEL_FAMILY and a table covering the family
    give a default result with the family's network dimension, finite accuracy (3 seeds) at every valid
    point and no warning (the real table replaces the synthetic one when its training has finished)."""
    from typer.testing import CliRunner

    from quidam_fast import space as space_module
    from quidam_fast.cli import grid as grid_module
    from quidam_fast.cli.main import app

    monkeypatch.setattr(space_module, "DEFAULT_NETWORK", MODEL_FAMILY)
    monkeypatch.setattr(grid_module, "DEFAULT_NETWORK", MODEL_FAMILY)
    table = _table()
    table.attrs = {"complete": "yes"}
    table.to_netcdf(tmp_path / "t.nc", engine="h5netcdf")
    # every PE type and bit width of the default space, a few array shapes; no network key: the default
    (tmp_path / "s.toml").write_text('[space]\npe_type = ["fp", "int", "lightpe1", "lightpe2"]\nbits = [4, 6, 8, 12, 16, 32]\n'
                                     'rows = [8, 16]\ncols = [8]\ndataflow = ["ws", "rs"]\nglb_kib = [128]\n')
    result = CliRunner().invoke(app, ["grid", "--spec", str(tmp_path / "s.toml"), "--accuracy", str(tmp_path / "t.nc"),
                                      "--out", str(tmp_path / "o.nc"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "warning:" not in result.output
    ds = xr.load_dataset(tmp_path / "o.nc")
    assert list(ds.network.values) == FAMILY
    accuracy = ds.accuracy.broadcast_like(ds.valid)
    assert bool(accuracy.where(ds.valid).notnull().sum() == ds.valid.sum()) and int(ds.valid.sum()) > 0
    assert int(ds.accuracy_seeds.broadcast_like(ds.valid).where(ds.valid).min()) == 3
