"""Smoke training: LeNet-5 on 10k training images, one epoch, full 10k test set; a real accuracy floor."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from quidam_fast.accuracy import attach_accuracy, load_accuracy_table  # noqa: E402
from quidam_fast.errors import QuidamInputError  # noqa: E402
from quidam_fast.quant import train as qt  # noqa: E402
from quidam_fast.quant.data import SEARCH_PATHS  # noqa: E402

pytestmark = pytest.mark.skipif(
    not any((p / "t10k-labels-idx1-ubyte.gz").is_file() for p in SEARCH_PATHS),
    reason="Debian package dataset-fashion-mnist is not installed",
)

SMOKE = qt.Schedule(epochs=1, qat_epochs=0.5, train_subset=10000)


@pytest.fixture(scope="module")
def smoke_records():
    torch.set_num_threads(1)
    cells = [("fp", 32), ("fp", 16), ("int", 8), ("lightpe2", 4)]
    return list(qt.iter_accuracy_records(["lenet5_fmnist"], cells, seeds=[0], schedules={"lenet5_fmnist": SMOKE}))


def test_smoke_accuracy_floor(smoke_records):
    acc = {(r["pe_type"], r["bits"]): r["accuracy"] for r in smoke_records}
    # Chance is 0.10. Measured with this schedule: FP32 ~0.80, int8 ~0.80, lightpe2/4 ~0.78 (10k images, 1 epoch).
    assert smoke_records[0]["base_accuracy"] > 0.70
    assert acc[("fp", 32)] > 0.72
    assert acc[("fp", 16)] > 0.72
    assert acc[("int", 8)] > 0.72
    assert acc[("lightpe2", 4)] > 0.65
    assert abs(acc[("int", 8)] - acc[("fp", 32)]) < 0.03


def test_training_is_deterministic(smoke_records):
    again = qt.finetune(qt.train_fp32("lenet5_fmnist", 0, SMOKE), "int", 8, 0, SMOKE)
    x, y = qt.fashion_mnist("test")
    assert qt.evaluate(again, x, y) == next(r["accuracy"] for r in smoke_records if r["pe_type"] == "int")


def test_table_round_trip_and_join(smoke_records, tmp_path):
    ds = qt.records_to_dataset(smoke_records, {"command": "test", "complete": "yes"})
    assert ds.accuracy.dims == ("network", "pe_type", "bits", "seed")
    assert all("units" in ds[v].attrs for v in ds.variables)  # every variable and coordinate
    path = tmp_path / "sub" / "table.nc"
    qt.write_table(ds, path)
    assert [p.name for p in path.parent.iterdir()] == ["table.nc"]  # no temporary left behind
    table = load_accuracy_table(path)
    assert table.attrs["command"] == "test"
    import xarray as xr

    results = xr.Dataset(coords={"pe_type": ["lightpe2", "int", "fp"], "bits": [4, 8, 16, 32]}, attrs={"network": "lenet5_fmnist"})
    from quidam_fast import load_network

    from quidam_fast.accuracy import AccuracyCoverageWarning

    with pytest.warns(AccuracyCoverageWarning, match="lenet5_fmnist .*int:4"):  # no `valid`: every cell counts
        out = attach_accuracy(results, table, network=load_network("lenet5_fmnist"))
    for r in smoke_records:
        assert float(out.accuracy.sel(pe_type=r["pe_type"], bits=r["bits"])) == r["accuracy"]
    assert np.isnan(out.accuracy.sel(pe_type="int", bits=4))


def test_bad_arguments():
    with pytest.raises(QuidamInputError, match="unknown network"):
        list(qt.iter_accuracy_records(["alexnet"], [("int", 8)], [0]))
    with pytest.raises(QuidamInputError, match="2 to 32"):
        list(qt.iter_accuracy_records(["lenet5_fmnist"], [("int", 33)], [0]))
    with pytest.raises(QuidamInputError, match="pe_type:bits"):
        qt.parse_cell("int8")
    with pytest.raises(QuidamInputError, match="epochs = 0"):
        qt.Schedule(epochs=0)


@pytest.mark.parametrize(
    "field,value",
    [("epochs", float("nan")), ("epochs", float("inf")), ("epochs", -1), ("qat_epochs", float("nan")), ("qat_epochs", -0.5),
     ("lr", 0.0), ("qat_lr", float("nan")), ("batch_size", 0), ("batch_size", 1.5),
     ("train_subset", 0), ("train_subset", -5), ("train_subset", 60_001), ("train_subset", 2.5), ("train_subset", True)],
)  # fmt: skip
def test_schedule_rejects_what_would_train_silently_wrong(field, value):
    with pytest.raises(QuidamInputError, match=f"^{field} = ") as error:
        qt.Schedule(**{field: value})
    assert "\n" not in str(error.value)


def test_schedule_accepts_its_edges():
    qt.Schedule(train_subset=1), qt.Schedule(train_subset=qt.TRAIN_IMAGES), qt.Schedule(qat_epochs=0, epochs=0.01)


@pytest.mark.slow
def test_packaged_table_regenerates():
    """One cell of the packaged table, retrained with the default schedule (about a minute)."""
    torch.set_num_threads(1)
    table = load_accuracy_table()
    (record,) = qt.iter_accuracy_records(["lenet5_fmnist"], [("int", 8)], seeds=[0])
    expected = float(table.accuracy.sel(network="lenet5_fmnist", pe_type="int", bits=8, seed=0))
    # bit for bit on the machine that made the table; other CPUs' kernels round differently
    assert abs(record["accuracy"] - expected) < 0.01
    assert abs(record["base_accuracy"] - float(table.base_accuracy.sel(network="lenet5_fmnist", seed=0))) < 0.01
