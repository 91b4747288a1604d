"""Figures of results (quidam_fast.plots) and the ``quidam-fast plot`` command."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ElementTree

import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.patches import Rectangle
from typer.testing import CliRunner

import quidam_fast as qf
from quidam_fast import plots
from quidam_fast.accuracy import attach_accuracy
from quidam_fast.analysis import pareto, select
from quidam_fast.cli.main import app
from quidam_fast.errors import QuidamInputError

SPACE = {"pe_type": ["int", "lightpe1", "lightpe2", "fp"], "bits": [4, 8, 16], "rows": [8, 16, 32],
         "cols": [8, 16], "dataflow": ["ws", "os", "rs"], "glb_kib": [64, 256], "spad_ifmap": [12],
         "spad_filter": [224], "spad_psum": [24], "dram_gbps": [25.6], "clock_mhz": [100.0, 200.0]}
SPEC = """network = "lenet5_fmnist"
tech = "published-45nm"
[space]
pe_type = ["int", "lightpe1", "fp"]
bits = [8, 16]
rows = [8, 16]
cols = [8]
dataflow = ["ws", "rs"]
glb_kib = [64]
spad_ifmap = [12]
spad_filter = [224]
spad_psum = [24]
dram_gbps = [25.6]
clock_mhz = [200]
"""
runner = CliRunner()


@pytest.fixture(scope="module")
def result():
    """A result of a network the packaged accuracy table covers: accuracy joined, fp at 4 bits invalid."""
    net = qf.load_network("lenet5_fmnist")
    return joined(qf.evaluate(net, SPACE, "published-45nm"), net)


def joined(results, network):
    """Accuracy attached; cells the packaged table lacks stay NaN (the warning that says so is expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return attach_accuracy(results, network=network)


@pytest.fixture(scope="module")
def files(result, tmp_path_factory):
    """The result as files: with accuracy (r.nc) and without (noacc.nc)."""
    folder = tmp_path_factory.mktemp("results")
    result.to_netcdf(folder / "r.nc", engine="h5netcdf")
    result.drop_vars(["accuracy", "accuracy_std", "accuracy_seeds"]).to_netcdf(folder / "noacc.nc", engine="h5netcdf")
    return folder


def pixels(data: bytes) -> np.ndarray:
    return matplotlib.image.imread(io.BytesIO(data), format="png")


def assert_drawn(image: np.ndarray, size=(500, 800)) -> None:
    """The PNG has the figure's pixel size and is not blank: varied pixels, several colours."""
    assert image.shape[:2] == size
    assert float(image[..., :3].var()) > 0
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 10


@pytest.mark.parametrize("kind", list(plots.KINDS))
def test_every_kind_renders_a_png_of_the_right_size_that_is_not_blank(result, kind):
    figure = plots.plot(result, kind)
    assert_drawn(pixels(plots.figure_bytes(figure, ".png")))


def test_svg_is_an_svg_document(result):
    root = ElementTree.fromstring(plots.figure_bytes(plots.tradeoff(result), ".svg"))
    assert root.tag.endswith("svg") and root.attrib["width"].startswith("576")  # 8 in at 72 pt/in
    # the density is one embedded raster image, not a path per bin
    assert len([e for e in root.iter() if e.tag.endswith("image")]) >= 1


def test_no_pyplot_figure_is_left_open(result):
    from matplotlib import _pylab_helpers

    before = _pylab_helpers.Gcf.get_num_fig_managers()
    for kind in plots.KINDS:
        plots.plot(result, kind)
    assert _pylab_helpers.Gcf.get_num_fig_managers() == before


def test_tradeoff_counts_every_selected_point_once_and_draws_each_pe_types_front(result):
    where = ["area_mm2<=0.5"]
    figure = plots.tradeoff(result, where=where)
    axes = figure.axes[0]
    mesh = next(c for c in axes.collections if isinstance(c, QuadMesh))
    mask = select(result, where)
    assert float(np.ma.sum(mesh.get_array())) == int(mask.sum())
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"
    assert "(J)" in axes.get_xlabel() and "mm²" in axes.get_ylabel()
    lines = {line.get_label().split()[0]: line for line in axes.get_lines()}
    present = [p for p in result.pe_type.values if bool(mask.sel(pe_type=p).any())]
    assert sorted(lines) == sorted(present)
    for pe_type in present:
        part = result.sel(pe_type=[pe_type])
        front = pareto(part, {"energy_per_inference_j": "min", "perf_per_area": "max"}, where=where)
        on = front.values
        expected = sorted(zip(part.energy_per_inference_j.transpose(*front.dims).values[on],
                              part.perf_per_area.transpose(*front.dims).values[on]))
        drawn = sorted(zip(*lines[pe_type].get_data()))
        np.testing.assert_allclose(np.array(drawn, dtype=float), np.array(expected, dtype=float))
        # on the front, more energy buys more performance per area
        x, y = lines[pe_type].get_data()
        assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) >= 0)


def test_breakdown_bars_are_the_parts_of_each_pe_types_lowest_energy_design(result):
    figure = plots.breakdown(result, where="bits>=8")
    bars = [p for p in figure.axes[0].patches if isinstance(p, Rectangle) and p.get_width() < 1]
    mask = select(result, "bits>=8")
    present = [p for p in result.pe_type.values if bool(mask.sel(pe_type=p).any())]
    assert len(bars) == 6 * len(present)
    for position, pe_type in enumerate(present):
        # the reference picks the design by label, through pandas
        series = result.energy_pj.where(mask).sel(pe_type=pe_type).to_series().dropna()
        labels = dict(zip(series.index.names, series.idxmin()))
        stack = [bar for bar in bars if abs(bar.get_x() + bar.get_width() / 2 - position) < 1e-9]
        heights = [bar.get_height() for bar in sorted(stack, key=lambda b: b.get_y())]
        expected = [float(result[f"energy_{part}_pj"].sel(pe_type=pe_type, **labels)) * 1e-9 for part in plots.ENERGY_PARTS]
        np.testing.assert_allclose(heights, expected, rtol=1e-12)
        np.testing.assert_allclose(sum(heights), float(result.energy_pj.sel(pe_type=pe_type, **labels)) * 1e-9, rtol=1e-9)


def test_arrays_lines_are_the_lowest_energy_at_each_pe_count(result):
    figure = plots.arrays(result)
    axes = figure.axes[0]
    frame = result.energy_per_inference_j.where(result.valid).to_dataframe().dropna().reset_index()
    frame["pes"] = frame["rows"] * frame["cols"]
    for line in axes.get_lines():
        best = frame[frame["dataflow"] == line.get_label()].groupby("pes")["energy_per_inference_j"].min()
        x, y = line.get_data()
        np.testing.assert_array_equal(x, best.index.values)
        np.testing.assert_allclose(y, best.values, rtol=1e-12)
    assert sorted(line.get_label() for line in axes.get_lines()) == ["os", "rs", "ws"]
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"


def test_accuracy_marks_the_lowest_energy_of_each_cell_and_the_front(result):
    figure = plots.accuracy(result)
    axes = figure.axes[0]
    markers = [line for line in axes.get_lines() if line.get_marker() == "o"]
    cells = result.accuracy.notnull() & result.valid.any([d for d in result.valid.dims if d not in ("pe_type", "bits")])
    assert len(markers) == int(cells.sum())
    for line in markers:
        (x,), (y,) = line.get_data()
        cell = np.isclose(100 * result.accuracy, y) & cells
        lowest = float(result.energy_per_inference_j.where(result.valid & cell).min())
        assert x == lowest
    front = next(line for line in axes.get_lines() if line.get_label() == "Pareto front")
    mask = pareto(result, {"energy_per_inference_j": "min", "accuracy": "max"})
    assert len(front.get_xdata()) == int(mask.sum())
    assert "accuracy (%)" in axes.get_ylabel() and axes.get_xscale() == "log"


def test_accuracy_is_refused_without_an_accuracy_variable(result):
    bare = result.drop_vars(["accuracy", "accuracy_std", "accuracy_seeds"])
    bare.attrs["accuracy"] = "not attached: the table covers lenet5_fmnist, vgg7_fmnist, not 'alexnet'"
    with pytest.raises(QuidamInputError, match=r"--kind accuracy needs an accuracy variable.*not 'alexnet'.*tradeoff"):
        plots.accuracy(bare)


def test_unknown_kind_and_bad_paths_are_one_line_errors(tmp_path):
    with pytest.raises(QuidamInputError, match="--kind 'pie' is not allowed; allowed: tradeoff, accuracy, breakdown, arrays"):
        plots.check_kind("pie")
    with pytest.raises(QuidamInputError, match=r"unknown suffix '\.pdf'; allowed: \.png, \.svg"):
        plots.check_figure_path(tmp_path / "f.pdf")
    with pytest.raises(QuidamInputError, match="does not exist"):
        plots.check_figure_path(tmp_path / "missing" / "f.png")
    with pytest.raises(QuidamInputError, match="cannot write in folder '/proc'"):
        plots.check_figure_path("/proc/f.png")


def test_constraints_that_leave_nothing_are_refused(result):
    with pytest.raises(QuidamInputError, match="leaves no valid design point"):
        plots.tradeoff(result, where="area_mm2<0")


class Interrupted(BaseException):
    """Stands for KeyboardInterrupt without stopping pytest."""


def test_save_is_atomic(result, tmp_path, monkeypatch):
    path = tmp_path / "f.png"
    path.write_bytes(b"old")

    def fail(source, target):
        raise Interrupted

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(Interrupted):
        plots.save_figure(plots.arrays(result), path)
    assert os.listdir(tmp_path) == ["f.png"] and path.read_bytes() == b"old"


# ---------------------------------------------------------------------------------------------------
# the command


@pytest.mark.parametrize("kind, suffix", [("tradeoff", ".png"), ("accuracy", ".svg"), ("breakdown", ".png"),
                                          ("arrays", ".svg")])
def test_plot_command_writes_the_figure(files, tmp_path, kind, suffix):
    out = tmp_path / f"f{suffix}"
    outcome = runner.invoke(app, ["plot", str(files / "r.nc"), "--kind", kind, "--out", str(out),
                                  "--where", "bits>=8"])
    assert outcome.exit_code == 0, outcome.output
    if suffix == ".png":
        assert_drawn(matplotlib.image.imread(out))
    else:
        assert ElementTree.parse(out).getroot().tag.endswith("svg")
    assert os.listdir(tmp_path) == [out.name]


@pytest.mark.parametrize("args, message", [
    (["missing.nc", "--kind", "tradeoff"], "result file 'missing.nc' does not exist"),
    (["corrupt.nc", "--kind", "tradeoff"], "cannot be read"),
    (["r.nc", "--kind", "pie"], "--kind 'pie' is not allowed; allowed: tradeoff, accuracy, breakdown, arrays"),
    (["noacc.nc", "--kind", "accuracy"], "--kind accuracy needs an accuracy variable"),
    (["r.nc", "--kind", "tradeoff", "--where", "aera_mm2<=1"], "unknown variable 'aera_mm2'"),
])
def test_plot_command_refuses_bad_input_and_writes_nothing(files, tmp_path, monkeypatch, args, message):
    (files / "corrupt.nc").write_bytes((files / "r.nc").read_bytes()[:2000])
    monkeypatch.chdir(files)
    out = tmp_path / "f.png"
    outcome = runner.invoke(app, ["plot", *args, "--out", str(out)])
    assert isinstance(outcome.exception, QuidamInputError) and message in str(outcome.exception)
    assert "\n" not in str(outcome.exception)
    assert os.listdir(tmp_path) == []


def test_plot_command_refuses_an_unwritable_out_before_reading(files):
    outcome = runner.invoke(app, ["plot", str(files / "missing.nc"), "--kind", "tradeoff", "--out", "/proc/f.png"])
    assert isinstance(outcome.exception, QuidamInputError) and "/proc" in str(outcome.exception)


def run(*args, cwd):
    # -P: like the installed console script, do not put the current folder on sys.path (python -m would)
    return subprocess.run([sys.executable, "-P", "-m", "quidam_fast.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_end_to_end_grid_then_plot_and_export(tmp_path):
    (tmp_path / "small.toml").write_text(SPEC)
    grid = run("grid", "--spec", "small.toml", "--out", "r.nc", "--quiet", cwd=tmp_path)
    assert grid.returncode == 0, grid.stderr
    done = run("plot", "r.nc", "--kind", "accuracy", "--out", "acc.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert_drawn(matplotlib.image.imread(tmp_path / "acc.png"))
    done = run("export", "r.nc", "--out", "front.csv", "--pareto", "energy_per_inference_j:min,accuracy:max",
               "--where", "pe_type!=fp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    header = (tmp_path / "front.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "pe_type" and "energy_per_inference_j [J]" in header and "accuracy" in header
    bad = run("plot", "r.nc", "--kind", "pie", "--out", "pie.png", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == ["error: --kind 'pie' is not allowed; allowed: tradeoff, accuracy, breakdown, arrays"]
    bad = run("export", "r.nc", "--out", "t.csv", "--columns", "area", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "column 'area'" in bad.stderr
    assert sorted(os.listdir(tmp_path)) == ["acc.png", "front.csv", "r.nc", "small.toml"]


def test_docstring_examples():
    import doctest

    failed, attempted = doctest.testmod(plots, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failed == 0 and attempted > 0


def test_several_networks_are_told_apart(tmp_path):
    nets = [qf.load_network("lenet5_fmnist"), qf.load_network("vgg7_fmnist")]
    space = {**SPACE, "pe_type": ["int", "fp"], "bits": [8, 16], "dataflow": ["ws", "rs"], "clock_mhz": [200.0]}
    both = joined(qf.evaluate(nets, space, "published-45nm"), nets)
    assert both.accuracy.dims[0] == "network"
    axes = plots.accuracy(both).axes[0]
    labels = {line.get_label() for line in axes.get_lines() if not line.get_label().startswith("_")}
    assert {"int lenet5_fmnist", "int vgg7_fmnist", "fp vgg7_fmnist", "Pareto front"} <= labels
    cells = both.accuracy.notnull() & both.valid.any([d for d in both.valid.dims if d not in both.accuracy.dims])
    assert len([line for line in axes.get_lines() if line.get_marker() in ("o", "s")]) == int(cells.sum())
    lines = plots.arrays(both).axes[0].get_lines()
    assert sorted(line.get_label() for line in lines) == sorted(f"{d} {n.name}" for d in ("ws", "rs") for n in nets)
    for line in lines:  # each line is its own network's lowest energy, not the pool's
        dataflow, network = line.get_label().split()
        x, y = line.get_data()
        part = both.energy_per_inference_j.where(both.valid).sel(network=network, dataflow=dataflow)
        assert y[0] == float(part.where(part.rows * part.cols == x[0]).min())
    bars = [p for p in plots.breakdown(both).axes[0].patches if isinstance(p, Rectangle) and p.get_width() < 1]
    assert len(bars) == 6 * 2 * 2
    # one network selected: the figures are that network's alone
    one = plots.arrays(both, where="network==vgg7_fmnist").axes[0].get_lines()
    assert sorted(line.get_label() for line in one) == ["rs", "ws"]
