"""The report's figures against the same figures computed independently with plain xarray reductions,
and reading result files back (open_result)."""

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import quidam_fast as qf
from quidam_fast.accuracy import attach_accuracy
from quidam_fast.errors import QuidamInputError

SPACE = {"pe_type": ["int", "lightpe1", "fp"], "bits": [8, 16], "rows": [8, 16, 32], "cols": [8, 16],
         "dataflow": ["ws", "os", "rs"], "glb_kib": [64, 256], "spad_ifmap": [12, 24], "clock_mhz": [100.0, 200.0]}


@pytest.fixture(scope="module")
def result():
    return qf.evaluate("alexnet", SPACE, per_layer=False)


def with_accuracy(ds, table):
    """``ds`` with an ``accuracy`` on (pe_type, bits) from ``{(pe_type, bits): accuracy}`` (NaN elsewhere)."""
    values = np.full((ds.sizes["pe_type"], ds.sizes["bits"]), np.nan)
    for (pe_type, bits), accuracy in table.items():
        values[list(ds.pe_type.values).index(pe_type), list(ds.bits.values).index(bits)] = accuracy
    out = ds.copy()
    out["accuracy"] = xr.DataArray(values, dims=("pe_type", "bits"), coords={"pe_type": ds.pe_type, "bits": ds.bits},
                                   attrs={"units": "1"})
    return out


def test_spread_and_best_designs_equal_xarray_reductions(result):
    section = qf.report(result).sections[0]
    area = result.perf_per_area.where(result.valid)
    energy = result.energy_per_inference_j.where(result.valid)
    assert section["valid"] == int(result.valid.sum()) and section["points"] == result.valid.size
    metrics = section["metrics"]
    assert metrics["perf_per_area"]["spread"] == pytest.approx(float(area.max() / area.min()), rel=1e-12)
    assert metrics["energy_per_inference_j"]["spread"] == pytest.approx(float(energy.max() / energy.min()), rel=1e-12)
    for row in metrics["perf_per_area"]["best"]:
        part = area.sel(pe_type=row["pe_type"])
        if bool(part.isnull().all()):
            assert row["value"] is None  # fp has no valid point at these bits: said, not dropped
            continue
        assert row["value"] == pytest.approx(float(part.max()), rel=1e-12)
        assert float(result.perf_per_area.sel(row["design"])) == pytest.approx(float(part.max()), rel=1e-12)
        assert metrics["perf_per_area"]["spread_by_pe_type"][row["pe_type"]] == pytest.approx(
            float(part.max() / part.min()), rel=1e-12)
    for row in metrics["energy_per_inference_j"]["best"]:
        if row["value"] is not None:
            assert row["value"] == pytest.approx(1e3 * float(energy.sel(pe_type=row["pe_type"]).min()), rel=1e-12)


def test_gains_over_the_best_int16_design_without_accuracy(result):
    section = qf.report(result).sections[0]
    area = result.perf_per_area.where(result.valid)
    energy = result.energy_per_inference_j.where(result.valid)
    reference_area = float(area.sel(pe_type="int", bits=16).max())
    reference_energy = float(energy.sel(pe_type="int", bits=16).min())
    for (pe_type, bits), part in area.groupby(["pe_type", "bits"]):
        key = f"{pe_type}:{bits}"
        if bool(part.isnull().all()):
            assert key not in section["gains"]["perf_per_area"]
            continue
        assert section["gains"]["perf_per_area"][key]["gain"] == pytest.approx(float(part.max()) / reference_area)
        assert section["gains"]["energy_per_inference_j"][key]["gain"] == pytest.approx(
            reference_energy / float(energy.sel(pe_type=pe_type, bits=bits).min()))
        assert section["gains"]["perf_per_area"][key]["status"] == "no accuracy"
    text = qf.report(result).to_text()
    assert "no accuracy: the figures compare hardware only" in text
    assert "higher is better" in text and "lower is better" in text and "x less" in text


def test_matched_accuracy_decides_which_designs_count(result):
    # int8 within one point of int16 (matched); lightpe1 8b two points below (below); lightpe1 16b unknown
    ds = with_accuracy(result, {("int", 16): 0.90, ("int", 8): 0.892, ("lightpe1", 8): 0.88, ("fp", 16): 0.95})
    section = qf.report(ds, accuracy_tolerance=0.01).sections[0]
    area = section["gains"]["perf_per_area"]
    assert area["reference"]["accuracy"] == pytest.approx(0.90)
    assert area["int:8"]["status"] == "matched" and area["int:8"]["accuracy"] == pytest.approx(0.892)
    assert area["lightpe1:8"]["status"] == "below"
    assert area["lightpe1:16"]["status"] == "no accuracy" and area["lightpe1:16"]["accuracy"] is None
    # a wider tolerance lets lightpe1 8b count
    assert qf.report(ds, accuracy_tolerance=0.03).sections[0]["gains"]["perf_per_area"]["lightpe1:8"]["status"] == "matched"
    text = qf.report(ds).to_text()
    assert ("at matched accuracy: a precision counts where its accuracy is at most 1 percentage point below the "
            "int16 design's (0.900)") in text
    row = next(line for line in text.splitlines() if line.split()[:2] == ["lightpe1", "8"])
    assert row.split()[2:] == ["not", "matched", "not", "matched", "0.880"]  # no gain where accuracy is not matched
    assert "accuracy 0.900" in text


def test_where_without_int16_says_so_instead_of_the_table(result):
    r = qf.report(result, where=["bits<=8"])
    assert r.sections[0]["gains"] is None
    assert "Gain over the best int16 design: none (the selection has no valid int 16-bit design" in r.to_text()
    assert r.sections[0]["selected"] == int((result.valid & (result.bits <= 8)).sum())


def test_pareto_size_equals_the_front(result):
    section = qf.report(result, where="clock_mhz==100").sections[0]
    front = qf.pareto(result, {"perf_per_area": "max", "energy_per_inference_j": "min"}, where="clock_mhz==100")
    assert section["pareto"]["points"] == int(front.sum())
    area, energy = (result[name].broadcast_like(front).transpose(*front.dims).values[front.values]
                    for name in ("perf_per_area", "energy_per_inference_j"))
    pairs = {(float(a), float(e)) for a, e in zip(area, energy)}
    assert section["pareto"]["distinct"] == len(pairs)


def test_json_markdown_and_text_forms(result):
    ds = with_accuracy(result, {("int", 16): 0.9})
    r = qf.report(ds, where="area_mm2<=50")
    data = json.loads(json.dumps(r.to_dict(), allow_nan=False))  # NaN and numpy types converted
    assert data["where"] == ["area_mm2<=50"] and data["sections"][0]["metrics"]["perf_per_area"]["better"] == "higher"
    markdown = r.to_markdown()
    assert "| PE type | bits | performance per area | energy per inference | accuracy | int16 accuracy |" in markdown
    assert markdown.startswith("## alexnet on ")
    assert r.to_text().startswith("alexnet on ") and "selected (area_mm2<=50)" in r.to_text()


def test_one_section_per_network():
    nets = ["alexnet", "lenet5_fmnist"]
    parts = [qf.evaluate(name, {"pe_type": ["int", "lightpe1"], "bits": [8, 16], "rows": [8, 16]}, per_layer=False)
             for name in nets]
    combined = xr.concat(parts, dim=pd.Index(nets, name="network"), combine_attrs="drop_conflicts")
    r = qf.report(combined)
    assert [s["scope"] for s in r.sections] == [{"network": n} for n in nets]
    for section, part in zip(r.sections, parts):
        alone = qf.report(part).sections[0]
        assert section["metrics"] == alone["metrics"] and section["gains"] == alone["gains"]
    only = qf.report(combined, where="network==lenet5_fmnist").sections  # sections with a selected point only
    assert [s["scope"] for s in only] == [{"network": "lenet5_fmnist"}] and only[0]["selected"] == int(parts[1].valid.sum())
    assert "## lenet5_fmnist on " in r.to_markdown() and r.to_text().count(" on characterized-osu018:") == 2


def test_report_refusals(result):
    with pytest.raises(QuidamInputError, match="accuracy tolerance 2 is not a fraction"):
        qf.report(result, accuracy_tolerance=2)
    with pytest.raises(QuidamInputError, match="the report needs perf_per_area and energy_per_inference_j"):
        qf.report(result.drop_vars("perf_per_area"))


@pytest.mark.filterwarnings("ignore:accuracy is NaN at valid points")  # cells the packaged table lacks
def test_report_on_a_result_with_joined_accuracy():
    net = qf.load_network("lenet5_fmnist")
    ds = attach_accuracy(qf.evaluate(net, {"pe_type": ["int", "lightpe1"], "bits": [8, 16], "rows": [8, 16]},
                                     per_layer=False), network=net)
    section = qf.report(ds).sections[0]
    assert section["accuracy"] == "joined"
    cell = section["gains"]["perf_per_area"]["lightpe1:8"]
    assert cell["accuracy"] == pytest.approx(float(ds.accuracy.sel(pe_type="lightpe1", bits=8)))


# ---- open_result


@pytest.fixture(scope="module")
def files(result, tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    result.to_netcdf(folder / "r.nc", engine="h5netcdf")
    result.to_zarr(folder / "r.zarr", mode="w", zarr_format=2)
    return folder


def test_open_result_round_trips(result, files):
    for name in ("r.nc", "r.zarr"):
        xr.testing.assert_identical(qf.open_result(files / name).perf_per_area, result.perf_per_area)
        assert qf.open_result(files / name).valid.dtype == bool


def test_open_result_reads_only_the_variables_asked_for(result, files):
    ds = qf.open_result(files / "r.nc", variables=["perf_per_area", "accuracy", "perf_per_area"])
    assert sorted(ds.data_vars) == ["perf_per_area", "valid"]  # accuracy: not in this file, left out
    xr.testing.assert_identical(ds.perf_per_area, result.perf_per_area)
    assert set(ds.coords) == set(result.coords)


def test_open_result_refuses_bad_files_in_one_line(result, files, tmp_path):
    data = (files / "r.nc").read_bytes()
    (tmp_path / "truncated.nc").write_bytes(data[: len(data) // 3])
    (tmp_path / "garbage.nc").write_bytes(b"\x89HDF\r\n" + bytes(range(256)) * 4)
    (tmp_path / "text.nc").write_text("hello")
    xr.Dataset({"x": ("a", [1.0, 2.0])}).to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    result.drop_vars("valid").to_netcdf(tmp_path / "novalid.nc", engine="h5netcdf")
    (tmp_path / "folder.nc").mkdir()
    (tmp_path / "empty.zarr").mkdir()
    (tmp_path / "r.csv").write_text("a,b\n")
    cases = {
        "missing.nc": "result file '{}' does not exist",
        "truncated.nc": "result file '{}' cannot be read (truncated, corrupt or not netCDF)",
        "garbage.nc": "result file '{}' cannot be read (truncated, corrupt or not netCDF)",
        "text.nc": "result file '{}' cannot be read (truncated, corrupt or not netCDF)",
        "other.nc": "result file '{}' is not a quidam-fast result (attribute producer = 'absent'",
        "novalid.nc": "result file '{}' is not a complete quidam-fast result: it has no boolean 'valid' variable",
        "folder.nc": "result file '{}' is a folder, not a netCDF file",
        "empty.zarr": "result file '{}' cannot be read (truncated, corrupt or not zarr)",
        "r.csv": "result file '{}': unknown suffix '.csv'; allowed: .nc, .zarr",
    }
    for name, message in cases.items():
        with pytest.raises(QuidamInputError) as caught:
            qf.open_result(tmp_path / name)
        text = str(caught.value)
        assert message.format(tmp_path / name) in text and "\n" not in text, text


def test_open_result_refuses_a_corrupt_zarr_chunk(result, tmp_path):
    result.to_zarr(tmp_path / "c.zarr", mode="w", zarr_format=2)
    chunks = [p for p in (tmp_path / "c.zarr" / "perf_per_area").iterdir() if not p.name.startswith(".")]
    chunks[0].write_bytes(b"not a compressed chunk")
    with pytest.raises(QuidamInputError, match="cannot be read .truncated, corrupt or not zarr."):
        qf.open_result(tmp_path / "c.zarr")


def test_lightpe_answer_is_the_best_lightpe_cell_at_matched_accuracy(result):
    # lightpe1 8b within a point of int16 (it counts), lightpe1 16b two points below (it does not)
    ds = with_accuracy(result, {("int", 16): 0.90, ("int", 8): 0.85, ("lightpe1", 8): 0.895, ("lightpe1", 16): 0.88})
    answer = qf.report(ds, accuracy_tolerance=0.01).sections[0]["answer"]
    valid = ds.valid
    int16 = valid & (ds.pe_type == "int") & (ds.bits == 16)
    lightpe8 = valid & (ds.pe_type == "lightpe1") & (ds.bits == 8)
    area = answer["perf_per_area"]
    assert area["basis"] == "matched accuracy" and (area["best"]["pe_type"], area["best"]["bits"]) == ("lightpe1", 8)
    expected = float(ds.perf_per_area.where(lightpe8).max() / ds.perf_per_area.where(int16).max())
    assert area["best"]["gain"] == pytest.approx(expected)
    energy = answer["energy_per_inference_j"]
    expected = float(ds.energy_per_inference_j.where(int16).min() / ds.energy_per_inference_j.where(lightpe8).min())
    assert energy["best"]["gain"] == pytest.approx(expected) and energy["best"]["accuracy"] == pytest.approx(0.895)
    text = qf.report(ds).to_text()
    assert "The best LightPE design against the best int16 design, at matched accuracy" in text
    assert "accuracy 0.895 against 0.900" in text
    # no LightPE cell reaches int16's accuracy: said, not a gain
    below = with_accuracy(result, {("int", 16): 0.90, ("lightpe1", 8): 0.85, ("lightpe1", 16): 0.86})
    assert qf.report(below).sections[0]["answer"]["perf_per_area"]["best"] is None
    assert "no LightPE design reaches the int16 design's accuracy" in qf.report(below).to_text()
    # without accuracy: the best LightPE cell on hardware alone
    hardware = qf.report(result).sections[0]["answer"]["perf_per_area"]
    lightpe = valid & (result.pe_type == "lightpe1")
    assert hardware["basis"] == "hardware only"
    assert hardware["best"]["gain"] == pytest.approx(float(result.perf_per_area.where(lightpe).max()
                                                           / result.perf_per_area.where(int16).max()))


def test_across_networks_front_equals_a_brute_force_front():
    nets = ["alexnet", "lenet5_fmnist"]
    space = {"pe_type": ["int", "lightpe1"], "bits": [8, 16], "rows": [8, 16], "cols": [8, 16], "clock_mhz": [100.0, 200.0]}
    parts = [qf.evaluate(name, space, per_layer=False) for name in nets]
    ds = xr.concat(parts, dim=pd.Index(nets, name="network"), combine_attrs="drop_conflicts")
    # 0.80 twice: equal accuracy across networks
    accuracy = xr.DataArray([[[0.80, 0.81], [0.79, 0.805]], [[0.80, 0.72], [0.69, 0.715]]],
                            dims=("network", "pe_type", "bits"),
                            coords={"network": nets, "pe_type": ["int", "lightpe1"], "bits": [8, 16]})
    ds["accuracy"] = accuracy
    across = qf.report(ds).across
    # brute force: every valid point against every other, O(n^2)
    points = ds[["accuracy", "perf_per_area", "energy_per_inference_j"]].where(ds.valid).to_dataframe().dropna()
    values = np.stack([-points.accuracy, -points.perf_per_area, points.energy_per_inference_j], axis=1)
    dominated = [bool(((values <= v).all(axis=1) & (values < v).any(axis=1)).any()) for v in values]
    on = points[~np.array(dominated)]
    assert across["points"] == len(on) and across["of"] == len(points)
    per_network = on.reset_index().groupby("network").size()
    assert across["per_network"] == {n: int(per_network.get(n, 0)) for n in nets}
    assert across["extremes"]["accuracy"]["accuracy"] == pytest.approx(float(on.accuracy.max()))
    assert across["extremes"]["perf_per_area"]["perf_per_area"] == pytest.approx(float(on.perf_per_area.max()))
    assert "Across the networks (model co-exploration)" in qf.report(ds).to_text()
    assert qf.report(ds.drop_vars("accuracy")).across is None  # hardware only: the sections say it all
