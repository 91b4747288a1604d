"""Streamed runs (``quidam_fast.evaluate_to_store``, ``quidam-fast grid --out *.zarr``): chunked, resumed
and Dask runs hold exactly the in-memory result; their reductions equal the same figures taken from
the in-memory result by plain numpy; a killed run resumes; bad input is one line and exit 2."""

from __future__ import annotations

import errno
import json
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import quidam_fast as qf
from quidam_fast import stream
from quidam_fast.accuracy import load_accuracy_table
from quidam_fast.errors import QuidamInputError

SPACE = {"pe_type": ["int", "lightpe1", "fp"], "bits": [8, 16], "rows": [8, 16], "cols": [8, 16, 32],
         "dataflow": ["ws", "rs"], "glb_kib": [64, 128]}

SPEC = """
network = "alexnet"
tech = "published-45nm"
[space]
pe_type = ["int", "lightpe1"]
bits = [8, 16]
rows = [8, 16, 32]
cols = [8, 16]
dataflow = ["ws", "os", "rs"]
glb_kib = [64, 128]
spad_ifmap = [12]
spad_filter = [224]
spad_psum = [24]
dram_gbps = [12.8, 25.6]
clock_mhz = [200]
"""


def in_memory(network, space, tmp_path: Path, per_layer=False, table=None, name="memory.zarr") -> xr.Dataset:
    """The in-memory run as ``grid`` writes it (evaluate, the accuracy join, one zarr write), read back."""
    import quidam_fast.cli.grid as grid_cli
    from quidam_fast.accuracy import attach_accuracy

    results = qf.evaluate(network, space, per_layer=per_layer)
    if table is not None:
        nets = qf.load_networks(network) if isinstance(network, list) else qf.load_network(network)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the coverage warning: checked elsewhere
            results = attach_accuracy(results, table, network=nets)
    grid_cli._write(results, tmp_path / name)
    return without_timing(qf.open_result(tmp_path / name))


def without_timing(ds: xr.Dataset) -> xr.Dataset:
    ds.attrs.pop("evaluation_seconds", None)  # the one attribute that differs between two runs
    return ds


def expected_reductions(ds: xr.Dataset, objectives: dict) -> dict:
    """The reductions, from a whole in-memory result, by plain numpy (no chunks)."""
    dims = ds["valid"].dims
    valid = ds["valid"].values.reshape(-1)
    group_dims = [d for d in ("network", "pe_type", "bits") if d in dims]
    n_groups = int(np.prod([ds.sizes[d] for d in group_dims]))
    expected = {"front": np.flatnonzero(qf.pareto(ds, objectives).transpose(*dims).values.reshape(-1))
                if valid.any() else np.zeros(0, dtype=np.int64)}
    for name, direction in stream.GROUP_METRICS.items():
        values = ds[name].transpose(*dims).values.reshape(n_groups, -1)
        ok = valid.reshape(n_groups, -1) & np.isfinite(values)
        inner = values.shape[1]
        for kind, larger in (("best", direction == "max"), ("worst", direction != "max")):
            found = []
            for g in range(n_groups):  # one group at a time, the first best in flat order
                candidates = np.flatnonzero(ok[g])
                if not len(candidates):
                    found.append(-1)
                    continue
                target = values[g, candidates].max() if larger else values[g, candidates].min()
                found.append(g * inner + int(candidates[values[g, candidates] == target][0]))
            expected[f"{kind}_{name}_index"] = np.array(found)
    expected["valid_points"] = valid.reshape(n_groups, -1).sum(axis=1)
    for name in stream.HISTOGRAM_VARIABLES:
        values = ds[name].transpose(*dims).values.reshape(-1)[valid]
        values = values[np.isfinite(values)]
        edges = stream.HISTOGRAM_EDGES
        counts = [int((values < edges[0]).sum())]
        counts += [int(((values >= lo) & (values < hi)).sum()) for lo, hi in zip(edges[:-1], edges[1:])]
        counts.append(int((values >= edges[-1]).sum()))
        expected[f"histogram_{name}"] = np.array(counts)
    return expected


def assert_reductions(reductions: xr.Dataset, ds: xr.Dataset, objectives: dict) -> None:
    expected = expected_reductions(ds, objectives)
    np.testing.assert_array_equal(reductions["front_index"].values, expected.pop("front"))
    for name, values in expected.items():
        np.testing.assert_array_equal(reductions[name].values.reshape(-1), values, err_msg=name)


# no shrinking: each example is a few runs of a second (a failure prints its draws all the same)
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(data=st.data())
def test_chunked_runs_equal_the_in_memory_run(tmp_path_factory, data):
    tmp_path = tmp_path_factory.mktemp("chunked")
    several = data.draw(st.booleans(), label="several networks")
    network = ["lenet5_fmnist", "alexnet"] if several else data.draw(st.sampled_from(["alexnet", "lenet5_fmnist"]))
    space = {name: data.draw(st.lists(st.sampled_from(values), min_size=1, max_size=len(values), unique=True), label=name)
             for name, values in SPACE.items()}
    per_layer = data.draw(st.booleans(), label="per_layer")
    chunk_points = data.draw(st.integers(1, 200), label="chunk_points")
    objectives = data.draw(st.sampled_from([dict(stream.DEFAULT_PARETO), {"area_mm2": "min", "latency_s": "min",
                                                                          "energy_pj": "min"}]), label="pareto")
    size = (2 if several else 1) * int(np.prod([len(v) for v in space.values()]))
    chunk_points = max(chunk_points, size // 8 + 1)  # at most 8 chunks (0.1 s each): the test stays fast
    reductions = qf.evaluate_to_store(network, space, tmp_path / "s.zarr", per_layer=per_layer, pareto=objectives,
                                      chunk_points=chunk_points)
    expected = in_memory(network, space, tmp_path, per_layer=per_layer)
    streamed = without_timing(qf.open_result(tmp_path / "s.zarr"))
    xr.testing.assert_identical(streamed, expected)
    assert_reductions(reductions, expected, objectives)
    xr.testing.assert_identical(qf.open_reductions(tmp_path / "s.zarr").drop_attrs(), reductions.drop_attrs())


def test_per_layer_values_of_networks_of_different_lengths_in_separate_chunks(tmp_path):
    network = ["lenet5_fmnist", "alexnet"]  # 5 and 8 layers: lenet's chunks are padded with NaN
    space = {"rows": [8, 16], "dataflow": ["ws", "rs"]}
    reductions = qf.evaluate_to_store(network, space, tmp_path / "s.zarr", per_layer=True, chunk_points=2)
    assert int(reductions.attrs["chunks"]) == 4
    expected = in_memory(network, space, tmp_path, per_layer=True)
    xr.testing.assert_identical(without_timing(qf.open_result(tmp_path / "s.zarr")), expected)


def test_accuracy_and_a_pareto_front_over_it(tmp_path):
    table = load_accuracy_table(None)
    network = ["lenet5_fmnist", "vgg7_half_fmnist"]
    space = {"pe_type": ["int", "lightpe2"], "bits": [4, 8], "rows": [8, 16], "cols": [8, 16]}
    objectives = {"accuracy": "max", "energy_per_inference_j": "min"}
    reductions = qf.evaluate_to_store(network, space, tmp_path / "s.zarr", accuracy=table, pareto=objectives,
                                      chunk_points=4)
    expected = in_memory(network, space, tmp_path, table=table)
    xr.testing.assert_identical(without_timing(qf.open_result(tmp_path / "s.zarr")), expected)
    assert_reductions(reductions, expected, objectives)


def test_dask_runs_equal_the_single_process_run(tmp_path):
    space = dict(SPACE, pe_type=["int", "lightpe1"])
    single = qf.evaluate_to_store("alexnet", space, tmp_path / "one.zarr", chunk_points=10)
    on_dask = qf.evaluate_to_store("alexnet", space, tmp_path / "dask.zarr", chunk_points=10, workers=2)
    assert int(on_dask.attrs["chunks"]) == int(single.attrs["chunks"]) > 2
    xr.testing.assert_identical(without_timing(qf.open_result(tmp_path / "dask.zarr")),
                                without_timing(qf.open_result(tmp_path / "one.zarr")))
    xr.testing.assert_identical(on_dask.drop_attrs(), single.drop_attrs())


def test_a_half_written_chunk_is_computed_again(tmp_path, monkeypatch):
    store = tmp_path / "s.zarr"
    real_write = stream._write_mark
    calls = []

    def killed_at_the_fourth_mark(run, i, reductions):
        calls.append(i)
        if len(calls) == 4:  # chunk 3's data are written, its mark is not: as if killed between the two
            raise KeyboardInterrupt
        real_write(run, i, reductions)

    monkeypatch.setattr(stream, "_write_mark", killed_at_the_fourth_mark)
    with pytest.raises(KeyboardInterrupt):
        qf.evaluate_to_store("alexnet", SPACE, store, chunk_points=8)
    monkeypatch.setattr(stream, "_write_mark", real_write)
    marks = sorted(int(p.stem) for p in (store / "quidam_stream" / "chunks").glob("*.npz"))
    assert marks == [0, 1, 2]
    # the unfinished chunk's arrays hold garbage (a write cut short): they must not survive the resume
    import zarr

    record = json.loads((store / "quidam_stream" / "run.json").read_text())
    plan = stream._Plan(tuple(record["dims"]), tuple(record["shape"]), tuple(record["chunk"]))
    array = zarr.open_array(store=str(store / "cycles"), mode="r+", zarr_format=2)
    array[plan.region(3)] = -1.0
    with pytest.raises(QuidamInputError, match=r"unfinished streamed run \(3 of \d+ chunks complete\); run the same"):
        qf.open_result(store)
    qf.evaluate_to_store("alexnet", SPACE, store, chunk_points=8)
    xr.testing.assert_identical(without_timing(qf.open_result(store)), in_memory("alexnet", SPACE, tmp_path))


def test_a_full_disk_keeps_the_completed_chunks_and_the_same_call_resumes(tmp_path, monkeypatch):
    store = tmp_path / "s.zarr"
    real_write = stream._write_mark
    calls = []

    def disk_full_at_the_third_mark(run, i, reductions):
        calls.append(i)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(store))
        real_write(run, i, reductions)

    monkeypatch.setattr(stream, "_write_mark", disk_full_at_the_third_mark)
    with pytest.raises(QuidamInputError, match=r"--out .*s\.zarr.*: cannot write \(No space left on device\); the chunks "
                                               "completed so far are kept, and the same command resumes"):
        qf.evaluate_to_store("alexnet", SPACE, store, chunk_points=8)
    assert len(list((store / "quidam_stream" / "chunks").glob("*.npz"))) == 2
    monkeypatch.setattr(stream, "_write_mark", real_write)
    qf.evaluate_to_store("alexnet", SPACE, store, chunk_points=8)
    xr.testing.assert_identical(without_timing(qf.open_result(store)), in_memory("alexnet", SPACE, tmp_path))


def test_an_overwrite_that_fails_puts_the_earlier_store_back(tmp_path, monkeypatch):
    store = tmp_path / "s.zarr"
    qf.evaluate_to_store("alexnet", {"rows": [8, 16]}, store)
    earlier = qf.open_result(store)
    real_write = stream._write_mark

    def disk_full_at_the_second_mark(run, i, reductions):
        if i == 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(store))
        real_write(run, i, reductions)

    monkeypatch.setattr(stream, "_write_mark", disk_full_at_the_second_mark)
    with pytest.raises(QuidamInputError, match=r"cannot write \(No space left on device\); the earlier output there is "
                                               "unchanged"):
        qf.evaluate_to_store("alexnet", SPACE, store, chunk_points=8, overwrite=True)
    xr.testing.assert_identical(qf.open_result(store), earlier)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]  # nothing set aside is left


def test_reduce_only_keeps_the_reductions_alone(tmp_path):
    reductions = qf.evaluate_to_store("alexnet", SPACE, tmp_path / "r.zarr", reduce_only=True, chunk_points=30)
    assert_reductions(reductions, in_memory("alexnet", SPACE, tmp_path), stream.DEFAULT_PARETO)
    assert not (tmp_path / "r.zarr" / "cycles").exists()
    with pytest.raises(QuidamInputError, match="kept its reductions only"):
        qf.open_result(tmp_path / "r.zarr")


@pytest.mark.parametrize("text, expected", [("2GB", 2 * 10**9), ("512MiB", 512 << 20), ("1.5 GiB", 3 << 29),
                                            ("4096", 4096)])
def test_memory_sizes(text, expected):
    assert stream.parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "2 GBs", "-1GB", "0"])
def test_memory_sizes_refused(text):
    with pytest.raises(QuidamInputError, match="--memory"):
        stream.parse_memory(text)


# --- the command ----------------------------------------------------------------------------------


def run(*args, cwd, **kwargs):
    return subprocess.run([sys.executable, "-P", "-m", "quidam_fast.cli", *args], cwd=cwd, capture_output=True, text=True,
                          **kwargs)


def memory_for(points: int) -> str:
    """A ``--memory`` whose chunks hold at most ``points`` design points (totals only)."""
    return str(stream.PROCESS_BYTES + points * stream.bytes_per_point(False, 0))


def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, command):
    (tmp_path / "spec.toml").write_text(SPEC)
    reference = run("grid", "--spec", "spec.toml", "--out", "whole.nc", "--quiet", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    args = ["grid", "--spec", "spec.toml", "--out", "s.zarr", "--quiet", "--memory", memory_for(8)]  # 18 chunks
    delay = random.Random().uniform(1.0, 4.0)  # start-up is about 2 s: killed before, during or after the chunks
    process = subprocess.Popen([sys.executable, "-P", "-m", "quidam_fast.cli", *args], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed = run(*args, cwd=tmp_path)
    assert resumed.returncode == 0, f"killed after {delay:.2f} s: {resumed.stderr}"
    # a budget this small prints the reductions' figures; the report of the store is the in-memory run's
    assert "figures from the streamed run's reductions" in resumed.stdout
    monkeypatch.chdir(tmp_path)
    assert command("report", "s.zarr") == command("report", "whole.nc")
    whole = without_timing(qf.open_result(tmp_path / "whole.nc"))
    streamed = without_timing(qf.open_result(tmp_path / "s.zarr"))
    xr.testing.assert_identical(streamed, whole)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr", "spec.toml", "whole.nc"]  # no temporaries left


@pytest.fixture
def command(monkeypatch, capsys):
    """``quidam-fast ARGS`` in this process (no start-up of a second): ``(exit status, stdout, stderr)``."""
    from quidam_fast.cli.main import main

    def call(*args):
        monkeypatch.setattr(sys, "argv", ["quidam-fast", *args])
        previous = signal.getsignal(signal.SIGINT)
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        finally:
            signal.signal(signal.SIGINT, previous)  # main() installs its own handler
        out, err = capsys.readouterr()
        return code, out, err

    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # main() replaces it: restored after the test
    return call


def test_refusals_are_one_line_and_exit_2(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text(SPEC)
    assert command("grid", "--spec", "spec.toml", "--out", "s.zarr", "--quiet")[0] == 0
    assert command("grid", "--spec", "spec.toml", "--out", "s.nc", "--quiet")[0] == 0
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "s.zarr", tmp_path / "s.nc", tmp_path / "s.zarr" / ".zattrs")}
    (tmp_path / "other.toml").write_text(SPEC.replace("rows = [8, 16, 32]", "rows = [8, 16]"))
    cases = [
        (["--spec", "spec.toml", "--out", "s.nc"], "--out 's.nc' exists; it is not replaced without --overwrite"),
        (["--spec", "spec.toml", "--out", "s.zarr"], "already holds the complete result of this run; it is not replaced "
                                                      "without --overwrite"),
        (["--spec", "other.toml", "--out", "s.zarr"], "--out 's.zarr' holds a run of another space; it is never mixed"),
        (["--spec", "spec.toml", "--out", "s.zarr", "--network", "lenet5_fmnist"], "holds a run of another network"),
        (["--spec", "spec.toml", "--out", "s.zarr", "--tech", "characterized-osu018"], "holds a run of another technology"),
        (["--spec", "spec.toml", "--out", "n.zarr", "--memory", "100MB"], "--memory 100MB is too small for one chunk"),
        (["--spec", "spec.toml", "--out", "n.zarr", "--workers", "0"], "--workers 0 is not allowed"),
        (["--spec", "spec.toml", "--out", "n.nc", "--workers", "2"], "--workers streams the run into a zarr store"),
        (["--spec", "spec.toml", "--out", "n.zarr", "--scheduler", "localhost"], "is not a scheduler address"),
        (["--spec", "spec.toml", "--out", "n.zarr", "--pareto", "area_mm2:up"], "unknown direction 'up'"),
    ]
    for args, message in cases:
        code, _, err = command("grid", *args, "--quiet")
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert code == 2 and len(lines) == 1 and message in lines[0], (args, err)
        assert "Traceback" not in err
    assert before == {p: p.stat().st_mtime_ns for p in before}  # nothing replaced
    assert not (tmp_path / "n.zarr").exists() and not (tmp_path / "n.nc").exists()
    # the console script itself: one line, exit 2
    result = run("grid", "--spec", "spec.toml", "--out", "s.nc", "--quiet", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith("error: --out 's.nc' exists")
    # --overwrite replaces a store of another run
    assert command("grid", "--spec", "other.toml", "--out", "s.zarr", "--quiet", "--overwrite")[0] == 0
    assert qf.open_result(tmp_path / "s.zarr").sizes["rows"] == 2


def test_a_scheduler_that_does_not_answer_is_refused_before_anything_is_written(tmp_path, monkeypatch, command):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(stream, "SCHEDULER_TIMEOUT_S", 1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text(SPEC)
    code, _, err = command("grid", "--spec", "spec.toml", "--out", "s.zarr", "--quiet", "--scheduler",
                           f"tcp://127.0.0.1:{port}")
    assert code == 2
    error = err.strip().splitlines()[-1]
    assert error.startswith(f"error: --scheduler 'tcp://127.0.0.1:{port}': no Dask scheduler answered within 1 s"), error
    assert not (tmp_path / "s.zarr").exists()


def test_a_space_too_large_for_memory_as_nc_points_to_zarr(tmp_path, monkeypatch, command):
    import quidam_fast.cli.grid as grid_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text(SPEC)
    monkeypatch.setattr(grid_cli.os, "sysconf", lambda name: 16 if name == "SC_PHYS_PAGES" else 4096)  # 64 KiB
    code, _, err = command("grid", "--spec", "spec.toml", "--out", "big.nc", "--quiet")
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1, err
    assert "more than this machine's 0.0 GiB allow for a .nc file; write a zarr store instead (--out big.zarr)" in lines[0]
    assert not (tmp_path / "big.nc").exists()


def test_a_reduce_only_run_prints_the_reductions(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").write_text(SPEC)
    code, out, err = command("grid", "--spec", "spec.toml", "--out", "r.zarr", "--quiet", "--reduce-only", "--pareto",
                             "area_mm2:min,latency_s:min")
    assert code == 0, err
    assert "figures from the streamed run's reductions" in out
    assert "Pareto front of area_mm2:min,latency_s:min:" in out
    code, _, err = command("report", "r.zarr")
    assert code == 2 and "kept its reductions only (--reduce-only)" in err
