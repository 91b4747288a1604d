"""``quidam-fast quant`` and ``quidam-fast networks --from-torch`` through typer's CliRunner."""

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from quidam_fast import load_network  # noqa: E402
from quidam_fast.accuracy import load_accuracy_table  # noqa: E402
from quidam_fast.cli.main import app  # noqa: E402
from quidam_fast.errors import QuidamInputError  # noqa: E402
from quidam_fast.quant.data import SEARCH_PATHS  # noqa: E402

runner = CliRunner()


def test_networks_from_torch_writes_the_library_csv(tmp_path):
    out = tmp_path / "lenet.csv"
    result = runner.invoke(app, ["networks", "--from-torch", "quidam_fast.quant.models:lenet5_fmnist", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "conv1" in result.output and "fc5" in result.output
    assert load_network(str(out)).layers == load_network("lenet5_fmnist").layers


def test_networks_from_torch_with_explicit_shape_and_name(tmp_path):
    result = runner.invoke(app, ["networks", "--from-torch", "torch.nn:Identity", "--input-shape", "1,3"])
    assert isinstance(result.exception, QuidamInputError)  # no Conv2d/Linear
    result = runner.invoke(app, ["networks", "--from-torch", "quidam_fast.quant.models:vgg7_fmnist", "--input-shape", "2,1,28,28", "--name", "v2"])
    assert result.exit_code == 0 and result.output.startswith("v2: 7 layers")


@pytest.mark.parametrize(
    "args,message",
    [
        (["networks", "--from-torch", "nocolon"], "package.module:attribute"),
        (["networks", "--from-torch", "torch.nn:Linear"], "nn.Module"),  # needs constructor arguments
        (["networks", "--from-torch", "quidam_fast.quant.models:lenet5_fmnist", "--input-shape", "1,x"], "comma-separated"),
        (["networks", "alexnet", "--save"], "go with --from-torch"),
        (["quant", "train", "-o", "x.nc", "-c", "int:1"], "2 to 32"),
        (["quant", "train", "-o", "x.nc", "-c", "posit:8"], "unknown pe_type"),
        (["quant", "train", "-o", "x.nc", "-n", "alexnet", "-c", "int:8"], "unknown network"),
        (["quant", "train", "-o", "x.nc", "--seeds", "a"], "comma-separated integers"),
        (["quant", "train", "-o", "x.nc", "--seeds", "0,1,0"], "repeats a seed"),
        (["quant", "train", "-o", "x.nc", "-c", "int:8,fp:32,int:8"], "repeats a cell"),
        (["quant", "train", "-o", "x.nc", "--train-subset", "-5"], "train_subset = -5"),  # was: all but the last 5 images
        (["quant", "train", "-o", "x.nc", "--train-subset", "0"], "train_subset = 0"),  # was: the full set
        (["quant", "train", "-o", "x.nc", "--train-subset", "60001"], "from 1 to 60,000"),
        (["quant", "train", "-o", "x.nc", "--epochs", "nan"], "epochs = nan"),
        (["quant", "train", "-o", "x.nc", "--epochs", "0"], "epochs = 0"),
        (["quant", "train", "-o", "x.nc", "--qat-epochs", "inf"], "qat_epochs = inf"),
        (["quant", "train", "-o", "x.nc", "--qat-epochs", "nan"], "qat_epochs = nan"),
        (["quant", "train", "-o", "x.nc", "--threads", "0"], "--threads 0"),  # was: a torch traceback
        (["quant", "train", "-o", "x.nc", "--threads", "-2"], "at least 1"),
    ],
)
def test_bad_input_is_a_clear_error(args, message, tmp_path, monkeypatch):
    from quidam_fast.quant import train as qt

    def no_training(*args, **kwargs):
        raise AssertionError("bad input reached training")

    monkeypatch.setattr(qt, "train_fp32", no_training)  # a missed check fails fast instead of training
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert isinstance(result.exception, QuidamInputError), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception)
    assert not (tmp_path / "x.nc").exists() and not (tmp_path / "x.partial.nc").exists()


@pytest.mark.parametrize(
    "args,line",
    [
        (["-c", "fp:8"], "error: pe_type 'fp' takes bits 16 or 32, not 8"),
        (["--threads", "0"], "error: --threads 0: must be at least 1"),
    ],
)
def test_console_script_exits_2_with_one_line(args, line, tmp_path):
    # only inputs that fail before any training, even without their check (the schedule's checks are
    # covered through CliRunner above, where a missed one cannot start a real run)
    done = subprocess.run(
        [sys.executable, "-c", "from quidam_fast.cli.main import main; main()", "quant", "train", "-o", str(tmp_path / "x.nc"), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == line


@pytest.mark.skipif(not any((p / "t10k-labels-idx1-ubyte.gz").is_file() for p in SEARCH_PATHS), reason="dataset-fashion-mnist missing")
def test_quant_train_and_show(tmp_path):
    out = tmp_path / "acc.nc"
    args = ["quant", "train", "-o", str(out), "-n", "lenet5_fmnist", "-c", "fp:32,int:4", "--seeds", "0,1", "--epochs", "0.2", "--qat-epochs", "0.05", "--train-subset", "5000"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = load_accuracy_table(out)
    assert table.accuracy.sizes == {"network": 1, "pe_type": 2, "bits": 2, "seed": 2}
    assert table.attrs["complete"] == "yes" and "quant train" in table.attrs["command"]
    assert float(table.accuracy.sel(pe_type="int", bits=4).min()) > 0.3  # a few steps, far above chance (0.1)
    shown = runner.invoke(app, ["quant", "show", str(out)])
    assert shown.exit_code == 0 and "int:4" in shown.output and "gap" in shown.output


# --- checkpoints never land on -o FILE (finding 1); fake training, real CLI and table code -----------


def _fake_training(monkeypatch, output, fail_in_run=None):
    """Replace the training loop by one that yields made-up records at once and notes, before each run,
    what FILE and FILE.partial.nc hold; with ``fail_in_run=i`` it dies after the first cell of run i."""
    from quidam_fast.quant import train as qt

    seen = []

    def records(networks, cells, seeds, schedules, progress, done=()):
        for run, (network, seed) in enumerate((n, s) for n in networks for s in seeds):
            seen.append({
                "run": run,
                "output": load_accuracy_table(output).attrs["command"] if output.exists() else None,
                "partial_complete": xr.load_dataset(output.with_suffix(".partial.nc"), engine="h5netcdf").attrs["complete"]
                if output.with_suffix(".partial.nc").exists() else None,
            })  # fmt: skip
            for i, (pe_type, bits) in enumerate(cells):
                if run == fail_in_run and i == 1:
                    raise RuntimeError("killed")
                if (network, seed, pe_type, bits) in done:
                    continue
                yield {"network": network, "seed": seed, "pe_type": pe_type, "bits": bits, "accuracy": 0.8 + seed / 100 + i / 1000,
                       "base_accuracy": 0.85, "train_s": 1.0, "base_train_s": 2.0}  # fmt: skip

    monkeypatch.setattr(qt, "iter_accuracy_records", records)
    return seen


def _earlier_table(path):
    """A finished table from an earlier run, already at -o FILE."""
    ds = xr.Dataset(
        {"accuracy": (("network", "pe_type", "bits", "seed"), np.full((1, 1, 1, 1), 0.9), {"units": "1"})},
        coords={"network": ["lenet5_fmnist"], "pe_type": ["fp"], "bits": [32], "seed": [0]},
        attrs={"command": "earlier", "complete": "yes"},
    )
    ds.to_netcdf(path, engine="h5netcdf")


TRAIN = ["quant", "train", "-n", "lenet5_fmnist", "-c", "fp:32,int:8", "--seeds", "0,1,2"]


def test_checkpoints_go_to_a_sibling_and_the_finished_table_replaces_file(tmp_path, monkeypatch):
    out = tmp_path / "acc.nc"
    _earlier_table(out)
    seen = _fake_training(monkeypatch, out)
    result = runner.invoke(app, TRAIN + ["-o", str(out)])
    assert result.exit_code == 0, result.output
    # while it ran, FILE kept the earlier finished table and the checkpoints went to FILE.partial.nc
    assert [s["output"] for s in seen] == ["earlier"] * 3
    assert [s["partial_complete"] for s in seen] == [None] + ["no (partial, still running)"] * 2
    table = load_accuracy_table(out)
    assert table.attrs["complete"] == "yes" and "quant train" in table.attrs["command"]
    assert table.accuracy.sizes == {"network": 1, "pe_type": 2, "bits": 2, "seed": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc.nc"]  # checkpoint and temporaries gone


def test_interrupted_run_leaves_file_alone_and_its_checkpoint_is_refused(tmp_path, monkeypatch):
    out = tmp_path / "acc.nc"
    _earlier_table(out)
    _fake_training(monkeypatch, out, fail_in_run=2)
    result = runner.invoke(app, TRAIN + ["-o", str(out)])
    assert isinstance(result.exception, RuntimeError)
    assert load_accuracy_table(out).attrs["command"] == "earlier"  # not overwritten by a partial table
    partial = tmp_path / "acc.partial.nc"
    assert f"in {partial}" in result.output
    checkpoint = xr.load_dataset(partial, engine="h5netcdf")
    assert checkpoint.attrs["complete"].startswith("no")  # runs 0 and 1, and the first cell of run 2
    assert int(checkpoint.accuracy.notnull().sum()) == 5 and np.isnan(float(checkpoint.accuracy.sel(seed=2, pe_type="int", bits=8).squeeze()))
    with pytest.raises(QuidamInputError, match="acc.partial.nc: not a finished accuracy table"):
        load_accuracy_table(partial)


def test_resume_keeps_the_checkpoint_and_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    whole = tmp_path / "whole" / "acc.nc"
    whole.parent.mkdir()
    _fake_training(monkeypatch, whole)
    assert runner.invoke(app, TRAIN + ["-o", str(whole)]).exit_code == 0
    out = tmp_path / "acc.nc"
    _fake_training(monkeypatch, out, fail_in_run=1)
    assert isinstance(runner.invoke(app, TRAIN + ["-o", str(out)]).exception, RuntimeError)
    # an existing checkpoint is never overwritten by a fresh start, nor resumed by another command
    refused = runner.invoke(app, TRAIN + ["-o", str(out)])
    assert isinstance(refused.exception, QuidamInputError) and "acc.partial.nc exists" in str(refused.exception)
    assert "--resume" in str(refused.exception)
    other = runner.invoke(app, ["quant", "train", "-n", "lenet5_fmnist", "-c", "fp:32", "--seeds", "0,1,2", "-o", str(out), "--resume"])
    assert isinstance(other.exception, QuidamInputError) and "was made by" in str(other.exception)
    other = runner.invoke(app, TRAIN + ["-o", str(out), "--resume", "--epochs", "1"])
    assert isinstance(other.exception, QuidamInputError) and "was made by" in str(other.exception)
    seen = _fake_training(monkeypatch, out)
    resumed = runner.invoke(app, TRAIN + ["-o", str(out), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.output and "3 cells done" in resumed.output
    table, reference = load_accuracy_table(out), load_accuracy_table(whole)
    xr.testing.assert_equal(table.accuracy, reference.accuracy)
    assert table.attrs["sessions"] == 2 and table.attrs["runtime_s"] >= 0 and table.attrs["seeds"] == "0,1,2"
    assert len(seen) == 3  # the fake loop was handed the done cells; the real one skips them (test below)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc.nc", "whole"]


def test_resume_without_a_checkpoint_starts_afresh(tmp_path, monkeypatch):
    out = tmp_path / "acc.nc"
    _fake_training(monkeypatch, out)
    result = runner.invoke(app, TRAIN + ["-o", str(out), "--resume"])
    assert result.exit_code == 0 and "starting from the beginning" in result.output
    assert int(load_accuracy_table(out).accuracy.notnull().sum()) == 6  # fp:32 and int:8, 3 seeds


def test_real_loop_skips_done_cells_and_runs(monkeypatch):
    """iter_accuracy_records trains only what ``done`` lacks, and no FP32 model for a finished run."""
    import torch

    from quidam_fast.quant import train as qt

    trained = []
    monkeypatch.setattr(qt, "fashion_mnist", lambda split: (torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.int64)))
    monkeypatch.setattr(qt, "train_fp32", lambda network, seed, schedule, tick=None: trained.append((network, seed)) or object())
    monkeypatch.setattr(qt, "finetune", lambda base, p, b, seed, schedule, tick=None: base)
    monkeypatch.setattr(qt, "evaluate", lambda model, x, y: 0.5)
    done = {("lenet5_fmnist", 0, "fp", 32), ("lenet5_fmnist", 0, "int", 8), ("lenet5_fmnist", 1, "fp", 32)}
    records = list(qt.iter_accuracy_records(["lenet5_fmnist"], [("fp", 32), ("int", 8)], [0, 1], done=done))
    assert trained == [("lenet5_fmnist", 1)]
    assert [(r["seed"], r["pe_type"], r["bits"]) for r in records] == [(1, "int", 8)]


def test_records_round_trip_through_the_table():
    from quidam_fast.quant import train as qt

    records = [{"network": n, "seed": s, "pe_type": p, "bits": b, "accuracy": 0.8 + s / 100 + b / 1000, "base_accuracy": 0.85 + s / 100,
                "train_s": 1.0 + b, "train_cpu_s": 0.5 + b, "base_train_s": 2.0 + s, "base_train_cpu_s": 1.5 + s}
               for n in ("lenet5_fmnist", "vgg7_fmnist") for s in (0, 1) for p, b in (("fp", 32), ("int", 8))
               if (n, s, p) != ("vgg7_fmnist", 1, "int")]  # fmt: skip
    back = qt.records_from_dataset(qt.records_to_dataset(records))
    key = lambda r: (r["network"], r["seed"], r["pe_type"], r["bits"])  # noqa: E731
    assert sorted(back, key=key) == sorted(records, key=key)


def test_written_table_has_units_on_every_variable_and_coordinate(tmp_path):
    from quidam_fast.quant import train as qt

    records = [{"network": "lenet5_fmnist", "seed": s, "pe_type": p, "bits": b, "accuracy": 0.8, "base_accuracy": 0.85,
                "train_s": 1.0, "base_train_s": 2.0} for s in (0, 1) for p, b in (("fp", 32), ("lightpe1", 4))]  # fmt: skip
    path = tmp_path / "t.nc"
    qt.write_table(qt.records_to_dataset(records, {"complete": "yes"}), path)
    table = load_accuracy_table(path)
    missing = [name for name in table.variables if "units" not in table[name].attrs]
    assert missing == []
    assert table.network.attrs["units"] == table.pe_type.attrs["units"] == ""  # labels, as the results' pe_type


def test_show_marks_cells_over_fewer_seeds(tmp_path):
    from quidam_fast.quant import train as qt

    records = [{"network": "lenet5_fmnist", "seed": s, "pe_type": p, "bits": b, "accuracy": 0.8 + s / 100, "base_accuracy": 0.85,
                "train_s": 1.0, "base_train_s": 2.0} for s in (0, 1, 2) for p, b in (("fp", 32), ("int", 8)) if (p, s) != ("int", 2)]  # fmt: skip
    path = tmp_path / "t.nc"
    qt.write_table(qt.records_to_dataset(records, {"complete": "yes"}), path)
    for args in ([], ["--markdown"]):
        shown = runner.invoke(app, ["quant", "show", str(path), *args])
        assert shown.exit_code == 0, shown.output
        rows = [line for line in shown.output.splitlines() if ("%" in line or line.startswith("| ")) and "pe_type" not in line]
        int8 = next(line for line in rows if " int:8 " in line or line.startswith("| int | 8 |"))
        fp32 = next(line for line in rows if " fp:32 " in line or line.startswith("| fp | 32 |"))
        assert "[2 of 3 seeds]" in int8 and "seeds" not in fp32


def test_extracted_torch_model_under_a_library_name_gets_no_accuracy(tmp_path):
    """``networks --from-torch ... --name vgg7_fmnist`` of another model: the join must not trust the name."""
    import quidam_fast as qf
    from quidam_fast.accuracy import attach_accuracy

    out = tmp_path / "vgg7_fmnist.csv"
    result = runner.invoke(app, ["networks", "--from-torch", "quidam_fast.quant.models:lenet5_fmnist", "--name", "vgg7_fmnist", "-o", str(out)])
    assert result.exit_code == 0, result.output
    impostor = qf.load_network(str(out))
    assert impostor.name == "vgg7_fmnist"
    space = {"pe_type": ["int"], "bits": [8], "rows": [8], "cols": [8], "dataflow": ["ws"]}
    joined = attach_accuracy(qf.evaluate(impostor, space, per_layer=False))
    assert "accuracy" not in joined and joined.attrs["accuracy"].startswith("not attached")
    joined = attach_accuracy(qf.evaluate(impostor, space, per_layer=False), network=impostor)
    assert "accuracy" not in joined and "layers" in joined.attrs["accuracy"]


# --- fingerprints: quant train records them, quant fingerprint stamps an older table ---------------

from fuzz_strategies import INFO_LINES, refusal_line, run_cli  # noqa: E402


def test_train_records_the_fingerprint_of_the_module_it_trained(tmp_path, monkeypatch):
    from quidam_fast.accuracy import network_fingerprint
    from quidam_fast.quant import train as qt
    from quidam_fast.quant.extract import layers_from_torch
    from quidam_fast.quant.models import MODELS

    out = tmp_path / "acc.nc"
    _fake_training(monkeypatch, out)
    assert runner.invoke(app, TRAIN + ["-o", str(out)]).exit_code == 0
    table = load_accuracy_table(out)
    trained = layers_from_torch(MODELS["lenet5_fmnist"](), (1, 1, 28, 28), "lenet5_fmnist")
    assert table.network_fingerprint.values.tolist() == [network_fingerprint(trained)]
    assert table.network_macs.values.tolist() == [trained.macs] and table.network_macs.attrs["units"] == "MAC"
    assert qt.check_models_are_library(["lenet5_fmnist"]) is None  # the module is the library network


def test_resuming_a_checkpoint_written_before_fingerprints_finishes_with_them(tmp_path, monkeypatch):
    out = tmp_path / "acc.nc"
    _fake_training(monkeypatch, out, fail_in_run=1)
    assert isinstance(runner.invoke(app, TRAIN + ["-o", str(out)]).exception, RuntimeError)
    partial = tmp_path / "acc.partial.nc"
    old = xr.load_dataset(partial, engine="h5netcdf")
    old.drop_vars(["network_fingerprint", "network_layers", "network_macs", "network_params"]).to_netcdf(partial, engine="h5netcdf")
    _fake_training(monkeypatch, out)
    resumed = runner.invoke(app, TRAIN + ["-o", str(out), "--resume"])
    assert resumed.exit_code == 0 and "3 cells done" in resumed.output, resumed.output
    assert load_accuracy_table(out).network_fingerprint.values.tolist() == old.network_fingerprint.values.tolist()


def _unstamped(path):
    """A finished table of two library networks as written before fingerprints were recorded."""
    networks = ["lenet5_fmnist", "vgg7_fmnist"]
    xr.Dataset(
        {"accuracy": (("network", "pe_type", "bits", "seed"), np.array([0.9, 0.8]).reshape(2, 1, 1, 1), {"units": "1"})},
        coords={"network": networks, "pe_type": ["int"], "bits": [8], "seed": [0]},
        attrs={"command": "earlier", "complete": "yes"},
    ).to_netcdf(path, engine="h5netcdf")


def test_quant_fingerprint_stamps_a_table_without_retraining(tmp_path):
    from quidam_fast.accuracy import network_fingerprint

    table = tmp_path / "acc.nc"
    _unstamped(table)
    before = xr.load_dataset(table, engine="h5netcdf")
    copy = tmp_path / "copy.nc"
    done = run_cli("quant", "fingerprint", table, "-o", copy)
    assert done.code == 0 and done.stderr.splitlines()[-1] == f"wrote {copy}: the fingerprints of 2 networks", done.stderr
    assert xr.load_dataset(table, engine="h5netcdf").identical(before)  # -o: the table itself untouched
    done = run_cli("quant", "fingerprint", table)
    assert done.code == 0, done.stderr
    stamped = load_accuracy_table(table)
    xr.testing.assert_identical(stamped.accuracy, before.accuracy)
    assert stamped.network_fingerprint.values.tolist() == [network_fingerprint(load_network(n)) for n in ("lenet5_fmnist", "vgg7_fmnist")]
    assert "lenet5_fmnist: 5 layers, 416,520 MACs, 61,470 weights, fingerprint " in done.stderr
    data = table.read_bytes()
    again = run_cli("quant", "fingerprint", table)
    assert again.code == 0 and "records the fingerprints of the library networks already; nothing to do" in again.stderr
    assert table.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc.nc", "copy.nc"]


def test_a_relabelled_table_is_one_line_and_exit_2_before_any_work(tmp_path):
    table = tmp_path / "acc.nc"
    _unstamped(table)
    assert run_cli("quant", "fingerprint", table).code == 0
    relabelled = load_accuracy_table(table)
    relabelled.attrs.pop("source")
    relabelled.assign_coords(network=["vgg7_fmnist", "lenet5_fmnist"]).to_netcdf(table, engine="h5netcdf")
    (tmp_path / "s.toml").write_text('network = "lenet5_fmnist"\n[space]\nrows = [8]\ncols = [8]\n')
    for args in (["grid", "--spec", tmp_path / "s.toml", "--accuracy", table, "--out", tmp_path / "o.nc", "--quiet"],
                 ["quant", "show", table], ["quant", "fingerprint", table]):
        outcome = run_cli(*args)
        line = refusal_line(outcome)
        assert outcome.code == 2 and str(table) in line and "'vgg7_fmnist'" in line, line
        assert not any(INFO_LINES.match(text) for text in outcome.stderr.splitlines()[:-1])  # before any work
    assert "--force" in line  # quant fingerprint: restamping would hide it, unless asked
    assert run_cli("quant", "fingerprint", table, "--force").code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc.nc", "s.toml"]


def test_grid_joins_a_table_without_fingerprints_with_one_warning_line(tmp_path):
    table = tmp_path / "acc.nc"
    _unstamped(table)
    (tmp_path / "s.toml").write_text('network = "lenet5_fmnist"\n[space]\npe_type = ["int"]\nbits = [8]\nrows = [8]\ncols = [8]\n')
    outcome = run_cli("grid", "--spec", tmp_path / "s.toml", "--accuracy", table, "--out", tmp_path / "o.nc", "--quiet")
    assert outcome.code == 0, outcome.stderr
    warned = [line for line in outcome.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "records no fingerprint" in warned[0] and "cannot be checked" in warned[0]
    assert f"quidam-fast quant fingerprint {table}" in warned[0]
    assert float(xr.load_dataset(tmp_path / "o.nc").accuracy.sel(pe_type="int", bits=8)) == pytest.approx(0.9)
