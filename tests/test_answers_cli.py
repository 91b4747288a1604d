"""``quidam-fast report``, ``pareto`` and ``grid --where`` as a user runs them: typer's CliRunner for each
option and refusal, and once end to end as subprocesses on a result file written by ``quidam-fast grid``."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import quidam_fast as qf
from quidam_fast.cli.main import app
from quidam_fast.errors import QuidamInputError

SMALL_SPEC = """network = "alexnet"
[space]
pe_type = ["int", "lightpe1", "fp"]
bits = [8, 16]
rows = [8, 16]
cols = [8, 16]
dataflow = ["ws", "os", "rs"]
glb_kib = [64, 128]
spad_ifmap = [12, 24]
spad_filter = [224]
spad_psum = [24]
dram_gbps = [25.6]
clock_mhz = [100]
"""
OBJECTIVES = "energy_per_inference_j:min,perf_per_area:max"
runner = CliRunner()


@pytest.fixture(scope="module")
def result_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("answers")
    (folder / "small.toml").write_text(SMALL_SPEC)
    outcome = runner.invoke(app, ["grid", "--spec", str(folder / "small.toml"), "--out", str(folder / "x.nc"), "--quiet"])
    assert outcome.exit_code == 0, outcome.output
    return folder / "x.nc"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_report_text_markdown_json(result_file):
    ds = qf.open_result(result_file)
    text = invoke("report", result_file)
    assert text.exit_code == 0 and text.stdout.strip() == qf.report(ds).to_text()
    markdown = invoke("report", result_file, "--format", "markdown", "--where", "pe_type==int", "--where", "rows>=16")
    assert markdown.exit_code == 0
    assert markdown.stdout.strip() == qf.report(ds, where=["pe_type==int", "rows>=16"]).to_markdown()
    data = json.loads(invoke("report", result_file, "--format", "json", "--accuracy-tolerance", "0.02").stdout)
    assert data["accuracy_tolerance"] == 0.02 and data["sections"][0]["network"] == "alexnet"


def test_pareto_prints_the_front_best_first_and_writes_tables(result_file, tmp_path):
    ds = qf.open_result(result_file)
    front = qf.pareto(ds, {"energy_per_inference_j": "min", "perf_per_area": "max"}, where="area_mm2<=40")
    outcome = invoke("pareto", result_file, "--objectives", OBJECTIVES, "--where", "area_mm2<=40",
                     "--out", tmp_path / "front.csv")
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.stdout.strip().splitlines()
    assert lines[0].startswith(f"{int(front.sum())} designs on the Pareto front of ")
    assert "energy_per_inference_j [J]" in lines[1] and "perf_per_area [1/(s mm2)]" in lines[1]
    table = pd.read_csv(tmp_path / "front.csv")  # one row per design
    assert len(table) == int(front.sum())
    objectives = ["energy_per_inference_j [J]", "perf_per_area [1/(s mm2)]"]
    merged = table.drop_duplicates(objectives)  # printed: one row per distinct trade-off, counted
    assert len(lines) == 2 + len(merged) and len(merged) < len(table)
    assert sum(int(line.split()[-1]) for line in lines[2:]) == len(table)
    energy = table["energy_per_inference_j [J]"].to_numpy()
    assert (np.diff(energy) >= 0).all()  # sorted by the first objective, best (lowest) first
    expected = np.sort(ds.energy_per_inference_j.broadcast_like(front).transpose(*front.dims).values[front.values])
    np.testing.assert_allclose(energy, expected, rtol=1e-15)
    parquet = invoke("pareto", result_file, "--objectives", "perf_per_area:max,area_mm2:min", "--out", tmp_path / "f.parquet")
    assert parquet.exit_code == 0, parquet.output
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert (np.diff(frame["perf_per_area [1/(s mm2)]"].to_numpy()) <= 0).all()  # max: highest first


def test_grid_where_restricts_the_printed_report(result_file, tmp_path):
    (tmp_path / "small.toml").write_text(SMALL_SPEC)
    outcome = invoke("grid", "--spec", tmp_path / "small.toml", "--out", tmp_path / "y.nc", "--quiet",
                     "--where", "area_mm2<=40", "--where", "dataflow==os")
    assert outcome.exit_code == 0, outcome.output
    ds = qf.open_result(tmp_path / "y.nc")
    assert int(ds.valid.sum()) > int(qf.analysis.select(ds, ["area_mm2<=40", "dataflow==os"]).sum())  # file keeps all
    assert outcome.stdout.strip() == qf.report(ds, where=["area_mm2<=40", "dataflow==os"]).to_text()


@pytest.mark.parametrize("args, message", [
    (["report", "{r}", "--where", "bogus<=1"], "where 'bogus<=1': unknown variable 'bogus'; allowed: "),
    (["report", "{r}", "--where", "area_mm2=<1"], "where 'area_mm2=<1' is not VARIABLE OP VALUE"),
    (["report", "{r}", "--where", "area_mm2<=0.00001"], "where 'area_mm2<=0.00001' leaves no valid design point"),
    (["report", "{r}", "--format", "xml"], "--format 'xml' is not allowed; allowed: text, markdown, json"),
    (["report", "{r}", "--accuracy-tolerance", "5"], "accuracy tolerance 5.0 is not a fraction"),
    (["report", "missing.nc"], "result file 'missing.nc' does not exist"),
    (["pareto", "{r}", "--objectives", "energy:min"], "objective 'energy:min': unknown variable 'energy'; allowed: "),
    (["pareto", "{r}", "--objectives", "perf_per_area:up"], "unknown direction 'up'; allowed: min, max"),
    (["pareto", "{r}", "--objectives", OBJECTIVES, "--out", "front.xlsx"], "unknown suffix '.xlsx'; allowed: .csv, .parquet"),
    (["pareto", "{r}", "--objectives", OBJECTIVES, "--out", "/proc/front.csv"], "/proc"),
    (["grid", "--where", "area_mm2 < ten"], "area_mm2<ten"),
])
def test_refusals_are_input_errors_and_write_nothing(result_file, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    outcome = invoke(*[a.replace("{r}", str(result_file)) for a in args])
    assert isinstance(outcome.exception, QuidamInputError), outcome.output
    assert message in str(outcome.exception) and "\n" not in str(outcome.exception)
    assert list(tmp_path.iterdir()) == []


def run(*args, cwd):
    # -P: like the installed console script, the current folder is not on sys.path
    return subprocess.run([sys.executable, "-P", "-m", "quidam_fast.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)


def test_end_to_end_on_a_real_result_file(tmp_path):
    (tmp_path / "small.toml").write_text(SMALL_SPEC)
    grid = run("grid", "--spec", "small.toml", "--out", "x.nc", "--quiet", cwd=tmp_path)
    assert grid.returncode == 0, grid.stderr
    report = run("report", "x.nc", "--where", "pe_type!=fp", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "Best performance per area per PE type" in report.stdout and "higher is better" in report.stdout
    pareto = run("pareto", "x.nc", "--objectives", OBJECTIVES, "--where", "area_mm2<=40", "--out", "front.csv", cwd=tmp_path)
    assert pareto.returncode == 0, pareto.stderr
    assert len(pd.read_csv(tmp_path / "front.csv")) == int(pareto.stdout.split()[0].replace(",", ""))
    # refusals: one line on stderr, exit 2, nothing written
    (tmp_path / "trunc.nc").write_bytes((tmp_path / "x.nc").read_bytes()[:4000])
    for args, message in ((["report", "trunc.nc"], "error: result file 'trunc.nc' cannot be read"),
                          (["report", "small.toml"], "error: result file 'small.toml': unknown suffix '.toml'"),
                          (["pareto", "x.nc", "--objectives", "area_mm2:lowest", "--out", "f.csv"],
                           "error: objective 'area_mm2:lowest': unknown direction 'lowest'"),
                          (["report", "x.nc", "--format", "yaml"], "error: --format 'yaml' is not allowed"),
                          # checked on a sample before the run: nothing evaluated, printed or written
                          (["grid", "--spec", "small.toml", "--out", "z.nc", "--where", "pe_type==bf16"],
                           "error: where 'pe_type==bf16': pe_type has no value 'bf16'; values: fp, int, lightpe1"),
                          (["grid", "--spec", "small.toml", "--out", "z.nc", "--where", "accuracy>=0.9"],
                           "error: where 'accuracy>=0.9': unknown variable 'accuracy' (accuracy not attached: ")):
        refused = run(*args, cwd=tmp_path)
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.startswith(message) and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["front.csv", "small.toml", "trunc.nc", "x.nc"]
