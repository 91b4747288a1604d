"""The table of output variables (quidam_fast.outputs) drives the dataset, the docs and the files."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import quidam_fast as qf
from quidam_fast import outputs
from quidam_fast.results import file_chunks, file_encoding

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"pe_type": ["int", "lightpe1", "fp"], "bits": [4, 8, 16], "rows": [8, 16], "dataflow": ["ws", "os", "rs"],
         "glb_kib": [64, 256], "batch": [1, 2], "clock_mhz": [100, 200]}


@pytest.fixture(scope="module")
def several():
    return qf.evaluate(["alexnet", "lenet5_fmnist"], SPACE)


def test_evaluate_returns_exactly_the_table_in_its_order_types_and_dims(several):
    assert list(several.data_vars) == [output.name for output in outputs.OUTPUTS]
    for output in outputs.OUTPUTS:
        variable = several[output.name]
        assert variable.dtype == output.dtype and variable.attrs["units"] == output.units, output.name
        # every total on the design dims in one order (throughput_ips and perf_per_area were on (batch, ...))
        assert variable.dims == several.valid.dims + (("layer",) if output.per_layer else ()), output.name


def test_derived_variables_equal_their_definitions_from_the_kernel_columns(several):
    """Written from the meanings (DESIGN.md), not from the formulas' text: latency = cycles / clock,
    utilization = MACs / (cycles x PEs), energy per inference = batch energy / batch, ..."""
    ds = several
    seconds = ds.cycles / (ds.clock_mhz * 1e6)
    energy = sum(ds[f"energy_{p}_pj"] for p in ("leak", "dram", "glb", "noc", "spad", "mac"))
    area = ds.area_glb_mm2 + ds.area_pe_storage_mm2 + ds.area_mac_mm2
    expected = {
        "latency_s": seconds,
        "utilization": ds.macs / ds.cycles / (ds.rows * ds.cols),
        "energy_pj": energy,
        "area_pe_array_mm2": ds.area_pe_storage_mm2 + ds.area_mac_mm2,
        "area_mm2": area,
        "dram_bytes": ds.dram_write_bytes + ds.dram_read_bytes,
        "throughput_ips": ds.batch / seconds,
        "perf_per_area": ds.batch / seconds / area,
        "energy_per_inference_j": energy / ds.batch * 1e-12,
        "edp": energy / ds.batch * 1e-12 * seconds,
    }
    assert set(expected) == {o.name for o in outputs.OUTPUTS if o.formula is not None and o.name != "valid"}
    for name, value in expected.items():
        np.testing.assert_allclose(ds[name].values, value.transpose(*ds[name].dims).values, rtol=1e-12, err_msg=name)
    assert (ds.valid == (ds.invalid_reason == 0)).all()


def test_evaluate_docstring_lists_exactly_the_tables_variables():
    doc = qf.evaluate.__doc__
    listed = doc[doc.index("Network totals:"):doc.index("A single network (not in a list)")]
    names = re.findall(r"``([a-z0-9_]+)``", listed)
    assert len(names) == len(set(names)), names
    assert set(names) == set(outputs.BY_NAME), set(names) ^ set(outputs.BY_NAME)


def test_readme_table_is_the_tables():
    text = (ROOT / "README.md").read_text()
    block = text[text.index("<!-- outputs table: begin -->\n") + 30:text.index("\n<!-- outputs table: end -->")]
    assert block == outputs.markdown_table(), "regenerate: python -m quidam_fast.outputs"


def test_a_formula_reading_an_unknown_name_or_a_column_and_a_formula_are_refused():
    with pytest.raises(ValueError, match="a kernel column or a formula"):
        outputs.Output("x", "1", "x", column="TOTAL_CYCLES", formula="cycles")
    with pytest.raises(ValueError, match="only a derived variable"):
        outputs.Output("x", "1", "x", column="TOTAL_CYCLES", stored=False)
    assert outputs.BY_NAME["perf_per_area"].inputs == ("throughput_ips", "area_mm2")
    assert outputs.needed(["edp"]) >= {"edp", "energy_pj", "energy_leak_pj", "cycles", "clock_mhz", "batch"}


def test_chunks_keep_the_trailing_axes_whole():
    assert file_chunks(("a", "b", "c"), (10, 6, 4), target=48) == (2, 6, 4)
    assert file_chunks(("a", "b", "c"), (10, 6, 4), target=10) == (1, 2, 4)
    assert file_chunks(("a",), (3,)) == (3,)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_a_file_holds_the_stored_variables_and_opens_as_the_evaluated_result(several, tmp_path, suffix):
    from quidam_fast.cli.grid import _write

    path = tmp_path / f"r{suffix}"
    _write(several, path)
    raw = xr.open_zarr(path).load() if suffix == ".zarr" else xr.load_dataset(path, engine="h5netcdf")
    assert set(raw.data_vars) == {o.name for o in outputs.OUTPUTS if o.stored}
    for output in outputs.OUTPUTS:
        if output.stored:
            assert raw[output.name].dtype == output.disk_dtype, output.name
    back = qf.open_result(path)
    assert list(back.data_vars) == list(several.data_vars)
    float32 = {o.name for o in outputs.OUTPUTS if o.disk_dtype == "float32"}
    for name in several.data_vars:
        a, b = several[name], back[name]
        assert (a.dims, a.dtype, a.attrs["units"]) == (b.dims, b.dtype, b.attrs["units"]), name
        # a float32 energy is within 2**-24 of its value; sums and ratios of them within a few of those
        if name in float32 or outputs.needed([name]) & float32:
            np.testing.assert_allclose(b.values, a.values, rtol=3 * 2.0**-24, err_msg=name)
        else:  # counts, areas, cycles and everything derived from them only: bit for bit
            np.testing.assert_array_equal(b.values, a.values, err_msg=name)
    xr.testing.assert_identical(back.coords.to_dataset(), several.coords.to_dataset())
    subset = qf.open_result(path, variables=["perf_per_area", "edp"])
    assert list(subset.data_vars) == ["valid", "perf_per_area", "edp"]
    xr.testing.assert_identical(subset.perf_per_area, back.perf_per_area)


def test_float32_on_disk_is_only_where_it_is_exact_enough():
    """Energies (a float32 is within 6e-8 of the value, the models are a few % off at best), utilization
    (a fraction: 6e-8 absolute) and the row-stationary mapping (small integers, exact); counts, cycles,
    bytes and areas stay float64 (a count above 2**24 would be rounded)."""
    narrowed = {o.name for o in outputs.OUTPUTS if o.disk_dtype == "float32"}
    assert narrowed == {f"energy_{p}_pj" for p in ("mac", "spad", "noc", "glb", "dram", "leak")} | {
        "layer_energy_pj", "layer_utilization", "layer_rs_filters_per_pe", "layer_rs_channels_per_pe"}
    assert int(np.float32(2**24 + 1)) == 2**24  # why counts are not among them: rounded above 2**24


def test_file_encoding_of_a_dataset_without_the_tables_variables_keeps_them():
    ds = xr.Dataset({"a": ("x", np.arange(3.0))})
    stored, encoding = file_encoding(ds, "nc")
    assert list(stored.data_vars) == ["a"] and encoding["a"]["chunksizes"] == (3,) and "dtype" not in encoding["a"]


def _grid_file(ds, tmp_path, edit):
    """``ds`` as ``grid --out`` writes it (the stored variables), then edited with xarray alone."""
    from quidam_fast.cli.grid import _write

    _write(ds, tmp_path / "g.nc")
    stored = xr.load_dataset(tmp_path / "g.nc", engine="h5netcdf")
    edit(stored).to_netcdf(tmp_path / "r.nc", engine="h5netcdf")
    return tmp_path / "r.nc"


def _report(path):
    """``quidam-fast report path`` as a user runs it (the command's own error handling: one line, exit 2)."""
    return subprocess.run([sys.executable, "-P", "-m", "quidam_fast.cli", "report", str(path)], capture_output=True, text=True)


def test_a_stored_input_of_a_derived_variable_is_checked_when_only_the_derived_one_is_asked_for(tmp_path):
    ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "bits": [8, 16]}, per_layer=False)

    def negative_leakage(stored):
        values = stored.energy_leak_pj.values.copy()
        values[np.unravel_index(np.flatnonzero(stored.valid.values)[0], values.shape)] = -1.0
        return stored.assign(energy_leak_pj=stored.energy_leak_pj.copy(data=values))

    path = _grid_file(ds, tmp_path, negative_leakage)
    with pytest.raises(qf.QuidamInputError, match="variable 'energy_leak_pj' ranges from -1 "):
        qf.open_result(path, variables=["energy_per_inference_j"])
    outcome = _report(path)  # reads energy_per_inference_j, computed from it
    assert outcome.returncode == 2 and "variable 'energy_leak_pj' ranges from -1 " in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1 and not outcome.stdout


def test_a_file_without_the_inputs_of_a_derived_variable_lacks_it_and_the_report_says_so(tmp_path):
    ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "bits": [8, 16]}, per_layer=False)
    path = _grid_file(ds, tmp_path, lambda stored: stored.drop_vars("cycles"))
    back = qf.open_result(path)
    assert "cycles" not in back and "perf_per_area" not in back and "energy_per_inference_j" in back
    outcome = _report(path)
    assert outcome.returncode == 2 and "the result has no perf_per_area" in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1 and not outcome.stdout
