"""``quidam-fast quant`` and ``quidam-fast networks --from-torch`` through typer's CliRunner."""

import subprocess
import sys

import pytest
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
        (["quant", "train", "-o", "x.nc", "-c", "int:1"], "2 to 16"),
        (["quant", "train", "-o", "x.nc", "-c", "posit:8"], "unknown pe_type"),
        (["quant", "train", "-o", "x.nc", "-n", "alexnet", "-c", "int:8"], "unknown network"),
        (["quant", "train", "-o", "x.nc", "--seeds", "a"], "comma-separated integers"),
    ],
)
def test_bad_input_is_a_clear_error(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert isinstance(result.exception, QuidamInputError), result.output
    assert message in str(result.exception)
    assert not (tmp_path / "x.nc").exists()


def test_console_script_exits_2_with_one_line():
    done = subprocess.run(
        [sys.executable, "-c", "from quidam_fast.cli.main import main; main()", "quant", "train", "-o", "x.nc", "-c", "fp:8"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "error: pe_type 'fp' takes bits 16 or 32, not 8"


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
