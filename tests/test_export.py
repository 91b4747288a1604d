"""Tables of design points (quidam_fast.export) and the ``quidam-fast export`` command."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import quidam_fast as qf
from quidam_fast.errors import QuidamInputError
from quidam_fast.export import check_table_path, column_name, design_table, write_table


@pytest.fixture(scope="module")
def small():
    """A small result with invalid points (fp at 8 bits), every dataflow, and accuracy on (pe_type, bits)."""
    ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1", "fp"], "bits": [8, 16], "rows": [8, 16],
                                 "cols": [8], "dataflow": ["ws", "rs"], "glb_kib": [64, 128],
                                 "spad_ifmap": [12], "spad_filter": [224], "spad_psum": [24],
                                 "dram_gbps": [25.6], "clock_mhz": [200.0]}, "published-45nm")
    accuracy = xr.DataArray(np.array([[0.90, 0.91], [0.88, 0.90], [np.nan, 0.92]]),
                            dims=("pe_type", "bits"), coords={"pe_type": ds.pe_type, "bits": ds.bits},
                            attrs={"units": "1"})
    return ds.assign(accuracy=accuracy)


def reference_rows(ds, mask, names):
    """Rows built one design point at a time by label (independent of the flat indexing under test)."""
    dims = [d for d in ds.dims if d in mask.dims]
    rows = []
    for index in itertools.product(*(range(ds.sizes[d]) for d in dims)):
        point = dict(zip(dims, index))
        if not bool(mask.isel(point)):
            continue
        row = {d: ds[d].values[i].item() for d, i in point.items()}
        for name in names:
            var = ds[name]
            row[name] = var.isel({d: i for d, i in point.items() if d in var.dims}).item()
        rows.append(row)
    return rows


def test_rows_and_values_equal_a_point_by_point_reference(small):
    mask = small.valid & (small.area_mm2 < float(small.area_mm2.median()))
    frame = design_table(small, mask)
    names = [n for n, v in small.data_vars.items()
             if v.dims and "layer" not in v.dims and n not in ("valid", "invalid_reason")]
    expected = reference_rows(small, mask, names)
    assert len(frame) == len(expected) == int(mask.sum()) > 0
    units = {n: small[n].attrs.get("units", qf.AXES.get(n, ("",))[0]) for n in [*small.dims, *names] if n != "layer"}
    for position, row in enumerate(expected):
        for name, value in row.items():
            got = frame[column_name(name, units[name])].iloc[position]
            if isinstance(value, str):
                assert got == value
            else:
                np.testing.assert_equal(float(got), float(value))


def test_columns_are_axes_then_variables_with_units_and_no_per_layer_variables(small):
    frame = design_table(small, small.valid)
    columns = list(frame.columns)
    dims = small.valid.dims
    assert columns[:len(dims)] == [column_name(d, small[d].attrs.get("units", qf.AXES[d][0])) for d in dims]
    assert {"pe_type", "bits [bit]", "rows [PE]", "glb_kib [KiB]", "dataflow", "dram_gbps [GB/s]",
            "clock_mhz [MHz]"} <= set(columns[:len(dims)])
    assert {"area_mm2 [mm2]", "energy_per_inference_j [J]", "perf_per_area [1/(s mm2)]", "utilization",
            "accuracy"} <= set(columns)
    assert not [c for c in columns if c.startswith(("layer", "valid", "invalid_reason"))]
    assert frame["pe_type"].dtype == "category" and frame["dataflow"].dtype == "category"


def test_columns_select_variables_in_the_given_order_and_unknown_names_list_the_allowed(small):
    frame = design_table(small, small.valid, columns=["energy_pj", "bits", "area_mm2", "energy_pj"])
    assert list(frame.columns[small.valid.ndim:]) == ["energy_pj [pJ]", "area_mm2 [mm2]"]
    with pytest.raises(QuidamInputError, match=r"column 'area' is not .* allowed: cycles, .*area_mm2"):
        design_table(small, small.valid, columns=["area"])
    with pytest.raises(QuidamInputError, match="column 'layer_cycles'"):
        design_table(small, small.valid, columns=["layer_cycles"])


def test_invalid_reason_is_exported_as_its_meaning_when_asked(small):
    everything = xr.ones_like(small.valid)
    frame = design_table(small, everything, columns=["invalid_reason"])
    assert len(frame) == small.valid.size
    fp8 = (frame["pe_type"] == "fp") & (frame["bits [bit]"] == 8)
    assert (frame.loc[fp8, "invalid_reason"].astype(str).str.startswith("pe_type_not_available")).all()


def test_empty_mask_gives_an_empty_table_with_the_columns(small):
    frame = design_table(small, xr.zeros_like(small.valid), columns=["area_mm2"])
    assert len(frame) == 0 and list(frame.columns)[-1] == "area_mm2 [mm2]"


def test_mask_must_be_boolean_on_the_datasets_dims(small):
    with pytest.raises(QuidamInputError, match="boolean"):
        design_table(small, small.area_mm2)
    with pytest.raises(QuidamInputError, match="'seed'"):
        design_table(small, xr.DataArray(np.ones(2, bool), dims="seed"))
    with pytest.raises(QuidamInputError, match="differs"):
        design_table(small, small.valid.assign_coords(bits=[4, 6]))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_table_round_trips(small, tmp_path, suffix):
    frame = design_table(small, small.valid)
    path = tmp_path / f"t{suffix}"
    write_table(frame, path)
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert list(back.columns) == list(frame.columns) and len(back) == len(frame)
    np.testing.assert_allclose(back["energy_pj [pJ]"], frame["energy_pj [pJ]"], rtol=1e-15)
    assert list(back["pe_type"].astype(str)) == list(frame["pe_type"].astype(str))
    assert sorted(os.listdir(tmp_path)) == [path.name]


@pytest.mark.parametrize("name, message", [
    ("t.xlsx", "unknown suffix '.xlsx'; allowed: .csv, .parquet"),
    ("missing/t.csv", "folder '.*missing' does not exist"),
    ("folder.csv", "is an existing folder"),
])
def test_bad_paths_are_refused_before_work(tmp_path, name, message):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(QuidamInputError, match=message):
        check_table_path(tmp_path / name)
    with pytest.raises(QuidamInputError, match=message):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / name)


def test_unwritable_folder_is_refused():
    # /proc takes no new files, not even root's (a mode-bit check would pass root)
    with pytest.raises(QuidamInputError, match="cannot write in folder '/proc'"):
        check_table_path("/proc/t.csv")


class Interrupted(BaseException):
    """Stands for KeyboardInterrupt without stopping pytest."""


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), Interrupted()])
def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch, error):
    path = tmp_path / "t.csv"
    path.write_text("old\n")

    def fail(source, target):  # the rename of the finished temporary file fails
        raise error

    monkeypatch.setattr(os, "replace", fail)
    expected = (QuidamInputError, "No space left") if isinstance(error, OSError) else (Interrupted, None)
    with pytest.raises(expected[0], match=expected[1]):
        write_table(pd.DataFrame({"a": [1]}), path)
    assert os.listdir(tmp_path) == ["t.csv"] and path.read_text() == "old\n"


def test_docstring_examples():
    import doctest

    import quidam_fast.export

    result = doctest.testmod(quidam_fast.export, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


# ---------------------------------------------------------------------------------------------------
# the command


@pytest.fixture(scope="module")
def result_file(small, tmp_path_factory):
    path = tmp_path_factory.mktemp("result") / "r.nc"
    small.to_netcdf(path, engine="h5netcdf")
    return path


def invoke(*args):
    from typer.testing import CliRunner

    from quidam_fast.cli.main import app

    return CliRunner().invoke(app, ["export", *map(str, args)])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_command_writes_the_selected_points(small, result_file, tmp_path, suffix):
    out = tmp_path / f"t{suffix}"
    outcome = invoke(result_file, "--out", out, "--where", "pe_type==int", "--where", "area_mm2<=1",
                     "--columns", "area_mm2,energy_per_inference_j")
    assert outcome.exit_code == 0, outcome.output
    table = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    expected = small.valid & (small.pe_type == "int") & (small.area_mm2 <= 1)
    assert len(table) == int(expected.sum()) > 0
    assert list(table.columns[-2:]) == ["area_mm2 [mm2]", "energy_per_inference_j [J]"]
    assert set(table["pe_type"].astype(str)) == {"int"} and (table["area_mm2 [mm2]"] <= 1).all()
    assert os.listdir(tmp_path) == [out.name]


def test_export_pareto_writes_the_front(small, result_file, tmp_path):
    out = tmp_path / "front.csv"
    outcome = invoke(result_file, "--out", out, "--pareto", "energy_per_inference_j:min,perf_per_area:max")
    assert outcome.exit_code == 0, outcome.output
    table = pd.read_csv(out)
    energy, ppa = table["energy_per_inference_j [J]"].values, table["perf_per_area [1/(s mm2)]"].values
    # brute force: no valid point of the whole result dominates a row, and no row dominates another
    dims = small.valid.dims
    all_e = small.energy_per_inference_j.transpose(*dims).values[small.valid.values]
    all_p = small.perf_per_area.transpose(*dims).values[small.valid.values]
    for e, p in zip(energy, ppa):
        assert not np.any((all_e <= e) & (all_p >= p) & ((all_e < e) | (all_p > p)))
    assert len(table) >= 1


@pytest.mark.parametrize("args, message", [
    (["missing.nc", "--out", "t.csv"], "result file 'missing.nc' does not exist"),
    (["corrupt.nc", "--out", "t.csv"], "cannot be read"),
    (["r.nc", "--out", "t.xlsx"], "unknown suffix '.xlsx'; allowed: .csv, .parquet"),
    (["r.nc", "--out", "/proc/t.csv"], "cannot write in folder '/proc'"),
    (["r.nc", "--out", "t.csv", "--columns", "area,energy_pj"], "column 'area' is not"),
    (["r.nc", "--out", "t.csv", "--pareto", "energy_pj:lowest"], "unknown direction 'lowest'"),
    (["r.nc", "--out", "t.csv", "--where", "area_mm2<=-1"], "leaves no valid design point"),
])
def test_export_command_refuses_bad_input_and_writes_nothing(result_file, tmp_path, monkeypatch, args, message):
    (tmp_path / "r.nc").write_bytes(result_file.read_bytes())
    (tmp_path / "corrupt.nc").write_bytes(result_file.read_bytes()[:3000])
    monkeypatch.chdir(tmp_path)
    outcome = invoke(*args)
    assert isinstance(outcome.exception, QuidamInputError), outcome.output
    assert message in str(outcome.exception) and "\n" not in str(outcome.exception)
    assert sorted(os.listdir(tmp_path)) == ["corrupt.nc", "r.nc"]
