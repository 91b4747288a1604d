"""The ``quidam-fast`` command as a user runs it: exit codes, one-line errors, atomic outputs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

import quidam_fast as qf
from quidam_fast.errors import QuidamInputError

SMALL_SPEC = """
network = "alexnet"
tech = "published-45nm"
[space]
pe_type = ["int", "lightpe1", "fp"]
bits = [8, 16]
rows = [8, 16]
cols = [8, 16]
dataflow = ["ws", "os", "is"]
glb_kib = [64, 128]
spad_ifmap = [12]
spad_filter = [224]
spad_psum = [24]
dram_gbps = [25.6]
clock_mhz = [200]
"""


def run(*args, cwd):
    # -P: like the installed console script, do not put the current folder on sys.path (python -m would)
    return subprocess.run([sys.executable, "-P", "-m", "quidam_fast.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_grid_with_spec_writes_dataset_and_summary(tmp_path):
    (tmp_path / "spec.toml").write_text(SMALL_SPEC)
    result = run("grid", "--spec", "spec.toml", "--out", "out.nc", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Best performance per area" in result.stdout and "lightpe1" in result.stdout
    ds = qf.open_result(tmp_path / "out.nc")  # the derived variables (perf_per_area) are recomputed on load
    assert ds.attrs["network"] == "alexnet" and ds.attrs["tech"] == "published-45nm"
    assert dict(ds.sizes)["pe_type"] == 3 and ds.perf_per_area.attrs["units"] == "1/(s mm2)"
    assert ds.valid.sel(pe_type="fp", bits=8).sum() == 0


def test_network_option_overrides_spec_and_reads_topologies(tmp_path):
    (tmp_path / "spec.toml").write_text(SMALL_SPEC)
    (tmp_path / "net.csv").write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "C1, 16, 16, 3, 3, 8, 16, 1,\n")
    result = run("grid", "--spec", "spec.toml", "--network", "net.csv", "--out", "o.nc", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert xr.load_dataset(tmp_path / "o.nc").attrs["network"] == "net"


@pytest.mark.parametrize("space_line, message", [
    ("rows = [-8]", "rows = -8 is not allowed"),
    ("rows = [0, 8]", "rows = 0 is not allowed"),
    ("colums = [8]", "unknown axis 'colums'"),
    ('pe_type = ["int", "bf16"]', "pe_type = 'bf16' is not allowed"),
    ('dataflow = ["ws", "xs"]', "dataflow = 'xs' is not allowed"),
    ("glb_kib = []", "axis 'glb_kib' is empty"),
    ("bits = [8, 8]", "repeats a value"),
    ("dram_gbps = [0]", "dram_gbps = 0 is not allowed"),
])
def test_bad_space_exits_2_with_one_line_and_no_output(tmp_path, space_line, message):
    (tmp_path / "spec.toml").write_text(f'network = "alexnet"\n[space]\n{space_line}\n')
    result = run("grid", "--spec", "spec.toml", "--out", "out.nc", "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "spec.toml"]


@pytest.mark.parametrize("files, args, message", [
    ({"spec.toml": "network = [\n"}, ["--spec", "spec.toml"], "not valid TOML"),
    ({"spec.toml": 'netwrk = "alexnet"\n'}, ["--spec", "spec.toml"], "unknown key 'netwrk'"),
    ({}, ["--spec", "missing.toml"], "does not exist"),
    ({}, ["--network", "resnet19"], "unknown network 'resnet19'"),
    ({"t.csv": "foo,bar\n1,2\n"}, ["--network", "t.csv"], "unrecognized header"),
    ({}, ["--out", "x.parquet"], "unknown suffix '.parquet'"),
    ({}, ["--tech", "nope"], "unknown technology 'nope'"),
    ({"spec.toml": b'network = "caf\xe9"\n'}, ["--spec", "spec.toml"], "spec file 'spec.toml' is not UTF-8 text"),
    ({"t.csv": b"name,H,W,C,K,R,S,stride,padding,groups,N\ncaf\xe9,8,8,2,2,1,1,1,0,1,1\n"}, ["--network", "t.csv"],
     "network file 't.csv' is not UTF-8 text"),
    ({"t.toml": b'name = "\xff"\n'}, ["--tech", "t.toml"], "technology file 't.toml' is not UTF-8 text"),
    ({"t.toml": 'name = "t"\nnode_nm = -7\n'}, ["--tech", "t.toml"], "t.toml: [top level] node_nm = -7 is not allowed"),
    ({"spec.toml": SMALL_SPEC}, ["--spec", "spec.toml", "--objective", "fastest"], "--objective 'fastest' is not allowed"),
    ({"spec.toml": SMALL_SPEC}, ["--spec", "spec.toml", "--accuracy", "missing.nc"], "accuracy table 'missing.nc' does not exist"),
    ({"spec.toml": SMALL_SPEC.replace("glb_kib = [64, 128]", "glb_kib = [64, 4096]")}, ["--spec", "spec.toml"],
     "spec.toml: glb_kib = 4096 is outside the SRAM table of technology 'published-45nm'; allowed with it: 0.5 to 2048 KiB"),
])
def test_bad_files_and_options_exit_2(tmp_path, files, args, message):
    for name, text in files.items():
        (tmp_path / name).write_bytes(text) if isinstance(text, bytes) else (tmp_path / name).write_text(text)
    result = run("grid", *args, "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)


def test_networks_lists_the_library(tmp_path):
    result = run("networks", cwd=tmp_path)
    assert result.returncode == 0
    assert "resnet50" in result.stdout and "4.089" in result.stdout


def test_folders_given_as_files_exit_2(tmp_path):
    (tmp_path / "spec.toml").mkdir()
    (tmp_path / "net.csv").mkdir()
    for args, message in ((["--spec", "spec.toml"], "spec file 'spec.toml' is a folder, not a file"),
                          (["--network", "net.csv"], "network file 'net.csv' is a folder, not a file")):
        result = run("grid", *args, "--quiet", cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.strip() == f"error: {message}", result.stderr


def test_progress_goes_to_stderr_and_stdout_is_the_summary(tmp_path):
    (tmp_path / "spec.toml").write_text(SMALL_SPEC)
    result = run("grid", "--spec", "spec.toml", "--out", "out.nc", cwd=tmp_path)  # no --quiet
    assert result.returncode == 0, result.stderr
    assert "evaluating" not in result.stdout
    assert re.match(r"alexnet on published-45nm: \d+ valid of 144 design points\n", result.stdout), result.stdout


def test_space_without_a_valid_point_exits_2_with_the_reasons(tmp_path):
    # fp exists only at 16 and 32 bits in published-45nm: every point of this space is invalid
    (tmp_path / "spec.toml").write_text(SMALL_SPEC.replace('pe_type = ["int", "lightpe1", "fp"]', 'pe_type = ["fp"]')
                                        .replace("bits = [8, 16]", "bits = [4, 8]"))
    result = run("grid", "--spec", "spec.toml", "--out", "out.nc", "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last == ("error: no design point is valid; of 48 points, pe type not available at these bits in the "
                    "technology: 48; change the space or the technology"), result.stderr
    assert "Warning" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_out_naming_an_existing_folder_is_refused_and_kept(tmp_path):
    (tmp_path / "spec.toml").write_text(SMALL_SPEC)
    (tmp_path / "out.nc").mkdir()
    (tmp_path / "out.nc" / "precious.txt").write_text("keep me")
    result = run("grid", "--spec", "spec.toml", "--out", "out.nc", "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "--out 'out.nc' is an existing folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (tmp_path / "out.nc" / "precious.txt").read_text() == "keep me"
    # a folder named *.zarr that is not a zarr store is not replaced either
    (tmp_path / "data.zarr").mkdir()
    (tmp_path / "data.zarr" / "precious.txt").write_text("keep me")
    result = run("grid", "--spec", "spec.toml", "--out", "data.zarr", "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "not a zarr store" in result.stderr
    assert (tmp_path / "data.zarr" / "precious.txt").read_text() == "keep me"


def test_zarr_output_is_written_replaced_and_read_back(tmp_path):
    (tmp_path / "spec.toml").write_text(SMALL_SPEC)
    result = run("grid", "--spec", "spec.toml", "--out", "out.zarr", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    first = qf.open_result(tmp_path / "out.zarr")
    assert dict(first.sizes)["pe_type"] == 3 and first.perf_per_area.attrs["units"] == "1/(s mm2)"
    # replacing an existing store (only with --overwrite, issue 14): the new content, and no temporary or
    # old sibling left behind
    (tmp_path / "spec.toml").write_text(SMALL_SPEC.replace('pe_type = ["int", "lightpe1", "fp"]', 'pe_type = ["int"]'))
    result = run("grid", "--spec", "spec.toml", "--out", "out.zarr", "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and "--overwrite" in result.stderr
    result = run("grid", "--spec", "spec.toml", "--out", "out.zarr", "--quiet", "--overwrite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    second = qf.open_result(tmp_path / "out.zarr")
    assert second.pe_type.values.tolist() == ["int"]
    xr.testing.assert_allclose(second.perf_per_area, first.perf_per_area.sel(pe_type=["int"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr", "spec.toml"]


def test_zarr_swap_keeps_the_old_store_when_the_new_one_cannot_be_put_in_place(tmp_path, monkeypatch):
    import os

    import quidam_fast.cli.grid as grid_cli
    from quidam_fast import _files

    out = tmp_path / "out.zarr"
    old = xr.Dataset({"a": ("x", [1.0, 2.0])})
    old.to_zarr(out, zarr_format=2)
    real_rename = os.rename

    def failing_rename(source, target):
        if Path(target) == out and str(source).endswith(".tmp"):  # the new store into place
            raise OSError(28, "No space left on device")
        return real_rename(source, target)

    # the two-rename swap of systems without an atomic exchange
    monkeypatch.setattr(_files, "_exchange", lambda a, b: False)
    monkeypatch.setattr(_files.os, "rename", failing_rename)
    with pytest.raises(QuidamInputError, match="--out .*out.zarr.*: cannot write \\(No space left on device\\)"):
        grid_cli._write(xr.Dataset({"a": ("x", [3.0])}), out)
    xr.testing.assert_identical(xr.open_zarr(out).load(), old)
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


TINY_MODEL = """
import torch.nn as nn

net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
net.input_shape = (1, 1, 8, 8)
"""


def test_from_torch_finds_modules_in_the_current_folder_and_py_files(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "mymodel.py").write_text(TINY_MODEL)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny.py").write_text(TINY_MODEL)
    result = run("networks", "--from-torch", "mymodel:net", "-o", "net.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("net: 2 layers") and "wrote net.csv" in result.stderr
    assert (tmp_path / "net.csv").read_text().splitlines()[1:] == ["0,8,8,1,4,3,3,1,1,1,1", "2,1,1,256,10,1,1,1,0,1,1"]
    result = run("networks", "--from-torch", "models/tiny.py:net", "--name", "tiny", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tiny: 2 layers")
    result = run("networks", "--from-torch", "models/absent.py:net", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip() == "error: --from-torch: model file 'models/absent.py' does not exist"


def test_networks_output_errors_are_one_line_and_leave_no_partial_file(tmp_path, monkeypatch, capsys, request):
    pytest.importorskip("torch")
    request.addfinalizer(lambda: sys.modules.pop("mymodel", None))
    from quidam_fast.cli import main as cli_main
    from quidam_fast.cli import networks as networks_cli

    (tmp_path / "mymodel.py").write_text(TINY_MODEL)
    (tmp_path / "a_file").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])

    def invoke(*args):
        monkeypatch.setattr(sys, "argv", ["quidam-fast", *args])
        with pytest.raises(SystemExit) as exit_info:
            cli_main.main()
        return exit_info.value.code, capsys.readouterr()

    # --save into a library folder that cannot be written (a read-only install): one line, exit 2
    monkeypatch.setattr(networks_cli, "_library_path", lambda name: tmp_path / "a_file" / f"{name}.csv")
    code, captured = invoke("networks", "--from-torch", "mymodel:net", "--save")
    assert code == 2 and captured.err.startswith("error: cannot write ") and "--output FILE" in captured.err
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    # -o naming a folder
    (tmp_path / "out.csv").mkdir()
    code, captured = invoke("networks", "--from-torch", "mymodel:net", "-o", "out.csv")
    assert code == 2 and captured.err.strip() == "error: cannot write 'out.csv': it is a folder; give a file name such as net.csv"
    # a write that fails half-way leaves neither a partial file nor a temporary one
    from quidam_fast import _files

    monkeypatch.setattr(_files.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    code, captured = invoke("networks", "--from-torch", "mymodel:net", "-o", "net.csv")
    assert code == 2 and captured.err.strip() == "error: cannot write 'net.csv': No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "mymodel.py", "out.csv"]
