"""The ``quidam-fast`` command as a user runs it: exit codes, one-line errors, atomic outputs."""

import subprocess
import sys

import pytest
import xarray as xr

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
    return subprocess.run([sys.executable, "-m", "quidam_fast.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_grid_with_spec_writes_dataset_and_summary(tmp_path):
    (tmp_path / "spec.toml").write_text(SMALL_SPEC)
    result = run("grid", "--spec", "spec.toml", "--out", "out.nc", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "best performance per area" in result.stdout and "lightpe1" in result.stdout
    ds = xr.load_dataset(tmp_path / "out.nc")
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
])
def test_bad_files_and_options_exit_2(tmp_path, files, args, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = run("grid", *args, "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)


def test_networks_lists_the_library(tmp_path):
    result = run("networks", cwd=tmp_path)
    assert result.returncode == 0
    assert "resnet50" in result.stdout and "4.089" in result.stdout
