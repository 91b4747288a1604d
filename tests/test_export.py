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
    assert columns[:11] == ["pe_type", "bits [bit]", "rows [PE]", "cols [PE]", "spad_ifmap [word]",
                            "spad_filter [word]", "spad_psum [word]", "glb_kib [KiB]", "dataflow",
                            "dram_gbps [GB/s]", "clock_mhz [MHz]"]
    assert {"area_mm2 [mm2]", "energy_per_inference_j [J]", "perf_per_area [1/(s mm2)]", "utilization",
            "accuracy"} <= set(columns)
    assert not [c for c in columns if c.startswith(("layer", "valid", "invalid_reason"))]
    assert frame["pe_type"].dtype == "category" and frame["dataflow"].dtype == "category"


def test_columns_select_variables_in_the_given_order_and_unknown_names_list_the_allowed(small):
    frame = design_table(small, small.valid, columns=["energy_pj", "bits", "area_mm2", "energy_pj"])
    assert list(frame.columns[11:]) == ["energy_pj [pJ]", "area_mm2 [mm2]"]
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
