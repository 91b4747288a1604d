"""Characterization flow: generated RTL against Python references, a reduced synthesis sweep, fits,
the shipped technology table, and the error paths.

These tests need yosys, iverilog, OpenSTA (``sta``) and the OSU018 liberty: Debian packages
``yosys iverilog opensta qflow-tech-osu018`` (installed by .ci/run). The full sweep is
``pytest -m slow tests/test_characterize.py`` (several minutes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from quidam_fast import characterize as qc
from quidam_fast.characterize import fit as qfit
from quidam_fast.characterize import flow
from quidam_fast.characterize.reference import fp_from_bits, fp_mac
from quidam_fast.characterize.rtl import register_design
from quidam_fast.errors import QuidamInputError

SHIPPED = Path(qc.flow.DATA_DIR)
BAR_WIDTHS = (2, 4, 6, 8, 12, 16, 24, 32)

_MISSING = [t for t in ("yosys", "iverilog", "vvp", "sta") if shutil.which(t) is None]
if _MISSING:  # CI installs them; a bare machine gets one clear message instead of many failures
    pytest.fail(
        f"characterization tests need {', '.join(_MISSING)}: apt-get install yosys iverilog opensta qflow-tech-osu018",
        pytrace=False,
    )


# ----------------------------------------------------------------------------- RTL vs reference


@pytest.mark.parametrize("pe_type", ["int", "lightpe1", "lightpe2"])
@pytest.mark.parametrize("bits", [2, 5, 8, 16, 32])
def test_pe_matches_reference(pe_type, bits):
    design = qc.pe_design(pe_type, bits)
    assert qc.verify(design, cycles=500, seed=bits) > 400


@pytest.mark.parametrize("bits", [16, 32])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fp_matches_reference(bits, seed):
    assert qc.verify(qc.pe_design("fp", bits), cycles=1500, seed=seed) > 1400


@pytest.mark.parametrize("words,bits", [(2, 1), (12, 16), (24, 8), (33, 5)])
def test_spad_matches_reference(words, bits):
    assert qc.verify(qc.spad_design(words, bits), cycles=500, seed=words) > 400


@pytest.mark.parametrize("bits", [1, 8, 80])
def test_register_matches_reference(bits):
    assert qc.verify(register_design(bits), cycles=300, seed=bits) > 250


def test_fp_reference_known_values():
    one, two, three = 0x3C00, 0x4000, 0x4200  # binary16 1.0, 2.0, 3.0
    assert fp_from_bits(fp_mac(one, two, three, False, 16), 16) == 7.0  # 1 + 2*3
    assert fp_mac(0, 0x7C00, 0x0000, True, 16) == 0x7E00  # inf * 0 -> canonical NaN
    assert fp_mac(0, 0x0001, 0x3C00, True, 16) == 0x0000  # subnormal input reads as zero
    assert fp_mac(0, 0x7BFF, 0x4000, True, 16) == 0x7C00  # overflow -> inf
    assert fp_from_bits(fp_mac(0x3F800000, 0x40000000, 0x40400000, False, 32), 32) == 7.0


def test_verification_catches_a_wrong_design():
    good = qc.pe_design("fp", 16)
    bad = dataclasses.replace(good, verilog=good.verilog.replace(
        "wire rup = n[2] & (n[1] | n[0] | rmant[0]);", "wire rup = n[2];"))  # round half up, not to even
    assert bad.verilog != good.verilog
    with pytest.raises(qc.SynthesisError, match="pe_fp_w16 disagrees"):
        qc.verify(bad, cycles=1000)
    good = qc.pe_design("int", 6)
    bad = dataclasses.replace(good, verilog=good.verilog.replace("$signed(w)", "w"))  # unsigned weight
    with pytest.raises(qc.SynthesisError, match="pe_int_w6"):
        qc.verify(bad)


def test_accumulator_widths():
    # 2**16 products of the most negative operands must not overflow the accumulator
    for bits in BAR_WIDTHS:
        acc = qc.accumulator_bits("int", bits)
        assert (2**16) * (2 ** (2 * bits - 2)) <= 2 ** (acc - 1) - 1 or acc == 2 * bits + 16
        assert acc == 2 * bits + 16
        assert 2**16 * 2 ** (bits - 1) * 2**7 < 2 ** (qc.accumulator_bits("lightpe1", bits) - 1)
        assert 2**16 * 2 ** (bits - 1) * 2**8 < 2 ** (qc.accumulator_bits("lightpe2", bits) - 1)


# ----------------------------------------------------------------------------- fits


def test_fit_bits_recovers_polynomial_and_degree():
    bits = np.array(BAR_WIDTHS, dtype=float)
    f = qfit.fit_bits(bits, 100 + 30 * bits + 5 * bits**2)
    assert f.degree == 2
    np.testing.assert_allclose(f.coef, [100, 30, 5], rtol=1e-8)
    assert max(f.loo_rel_errors) < 1e-9
    line = qfit.fit_bits([16, 32], [10.0, 30.0])
    np.testing.assert_allclose(line([16, 32, 24]), [10, 30, 20])
    assert qfit.fit_bits([16], [7.0])(16) == 7.0  # one format: the constant


def test_fit_spad_skips_unphysical_term_sets():
    """Data that a falling surface would fit best still get a model that grows with words and bits."""
    w, b = np.meshgrid([8, 16, 32, 64, 128], [4, 8, 16], indexing="ij")
    y = 2.0 * w * b - 0.012 * w**2 * b + 40.0  # falls beyond 83 words
    f = qfit.fit_spad(w.ravel(), b.ravel(), y.ravel())
    grid = f(*np.meshgrid(np.arange(8, 129), np.arange(4, 17), indexing="ij"))
    assert np.all(grid > 0) and np.all(np.diff(grid, axis=0) >= 0) and np.all(np.diff(grid, axis=1) >= 0)


def test_fit_spad_recovers_terms():
    w, b = np.meshgrid([8, 16, 32, 64], [4, 8, 16], indexing="ij")
    y = 200 * w * b + 50 * b + 30 * w + 10
    f = qfit.fit_spad(w.ravel(), b.ravel(), y.ravel())
    np.testing.assert_allclose(f(w, b), y, rtol=1e-9)


# ----------------------------------------------------------------------------- reduced sweep


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    return qc.run_flow(qc.REDUCED_SWEEP, workdir=work)


def test_reduced_sweep_rows(reduced):
    rows = reduced.rows
    kinds = {r["kind"] for r in rows}
    assert kinds == {"int", "lightpe1", "lightpe2", "fp", "spad", "reg"}
    roles = {(r["kind"], r["bits"]): r["role"] for r in rows if r["kind"] in ("int", "lightpe1", "lightpe2")}
    assert {key for key, role in roles.items() if role == "measured"} == {("int", 2), ("lightpe1", 2), ("lightpe2", 2)}
    assert all(r["verified_samples"] > 0 for r in rows)
    assert all(r["area_um2"] > 0 and r["leakage_uw"] > 0 and r["synth_s"] > 0 for r in rows)
    ints = sorted((r for r in rows if r["kind"] == "int" and r["role"] == "fit"), key=lambda r: r["bits"])
    assert [r["area_um2"] for r in ints] == sorted(r["area_um2"] for r in ints)  # wider costs more
    spads = [r for r in rows if r["kind"] == "spad"]
    assert all(r["flops"] == r["words"] * r["bits"] for r in spads)  # one flop per stored bit
    assert all(r["read_energy_pj"] > 0 and r["write_energy_pj"] > 0 for r in spads)
    regs = {r["bits"]: r for r in rows if r["kind"] == "reg"}
    assert all(r["flops"] == bits for bits, r in regs.items())
    assert regs[16]["energy_pj"] == pytest.approx(2 * regs[8]["energy_pj"], rel=0.1)  # per bit loaded
    # an INT8 MAC costs more area than a LightPE-1 with 8-bit activations (no multiplier)
    area = {(r["kind"], r["bits"]): r["area_um2"] for r in rows}
    assert area["int", 8] > area["lightpe1", 8]
    # gate-level energy: positive, growing with width, and no multiplier -> far cheaper
    energy = {(r["kind"], r["bits"]): r["energy_pj"] for r in rows if r["kind"] != "spad"}
    assert all(e > 0 for e in energy.values())
    assert energy["int", 4] < energy["int", 6] < energy["int", 8]
    assert energy["lightpe1", 8] < energy["int", 8]  # measured 0.67x on this reduced sweep
    assert all(r["gatesim_s"] > 0 for r in rows)


def test_reduced_sweep_area_interpolates(reduced):
    errs = [h for h in qc.holdout_errors(reduced) if h["metric"] == "area_um2"]
    assert errs
    assert max(abs(h["rel_error"]) for h in errs) < 0.05


def test_write_outputs_schema_and_shipped_data_untouched(reduced, tmp_path):
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in SHIPPED.rglob("*") if p.is_file()}
    paths = qc.write_outputs(reduced, tmp_path / "out", command="test")
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in SHIPPED.rglob("*") if p.is_file()}
    assert before == after
    tech = tomllib.loads(paths["toml"].read_text())
    _check_tech_schema(tech)
    report = paths["report"].read_text()
    assert "held-out" in report and "LOO" in report
    rows = qc.read_results_csv(paths["csv"])
    assert len(rows) == len(reduced.rows)
    # the CSV alone reproduces the fits
    refit = qc.fit_rows(rows)
    np.testing.assert_allclose(refit["int", "area_um2"].coef, reduced.fits["int", "area_um2"].coef, rtol=1e-5)


def test_failed_render_replaces_nothing(reduced, tmp_path, monkeypatch):
    out = tmp_path / "out"
    paths = qc.write_outputs(reduced, out, command="first")
    old = {k: p.read_text() for k, p in paths.items()}

    def boom(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(flow, "tech_toml", boom)
    with pytest.raises(RuntimeError):
        qc.write_outputs(reduced, out, command="second")
    assert {k: p.read_text() for k, p in paths.items()} == old
    assert not list(out.rglob("*.tmp"))


def test_another_liberty_names_its_technology_and_node(reduced, tmp_path):
    """A liberty other than OSU018 needs its node; the technology is named after its library and the
    CACTI SRAM table is scaled to that node and the liberty's supply."""
    from quidam_fast.tech import load_tech

    osu = qc.check_liberty(None)
    other = tmp_path / "mylib.lib"
    other.write_text(osu.read_text().replace("library(osu018_stdcells)", "library(My_Lib)", 1))
    with pytest.raises(qc.CharacterizationError, match="pass --node-nm"):
        flow.process_for(other)
    with pytest.raises(qc.CharacterizationError, match="--node-nm 0 out of range"):
        flow.process_for(other, 0)
    process = flow.process_for(other, 90)
    assert (process.tech_name, process.label, process.node_nm, process.vdd_v) == ("characterized-my-lib", "My_Lib", 90, 1.8)
    result = dataclasses.replace(reduced, meta={**reduced.meta, "process": process})
    paths = qc.write_outputs(result, tmp_path / "out", command="test")
    assert paths["toml"].name == "characterized-my-lib.toml"
    tech, osu018 = load_tech(paths["toml"]), load_tech(qc.write_outputs(reduced, tmp_path / "osu", command="t")["toml"])
    assert (tech.name, tech.node_nm, osu018.name, osu018.node_nm) == ("characterized-my-lib", 90, "characterized-osu018", 180)
    assert "My_Lib" in tech.data["glb"]["source"] and "OSU018" not in tech.source_text
    # at CACTI's own node only the supply scales: (1.8 V / 1.2 V)^2 = 2.25, against 4.5 at 180 nm
    ratio = tech.glb_cost(65536.0, 64.0)["read_energy_pj"] / osu018.glb_cost(65536.0, 64.0)["read_energy_pj"]
    assert ratio == pytest.approx(2.25 / 4.5)


def _check_tech_schema(tech: dict) -> None:
    for key in ("name", "node_nm", "summary", "provenance"):
        assert key in tech
    for pe_type, table in tech["pe"].items():
        assert pe_type in ("int", "fp", "lightpe1", "lightpe2")
        assert ("bits_range" in table) != ("bits_values" in table)
        for key in ("weight_bits", "accumulator_bits", "source", "mac_area_um2", "mac_energy_pj", "mac_leakage_uw"):
            assert key in table, (pe_type, key)
        if "measured" in table:
            n = len(table["measured"]["bits"])
            for key in ("mac_area_um2", "mac_energy_pj", "mac_leakage_uw"):
                assert len(table["measured"][key]) == n, (pe_type, key)
        if "timing" in table:
            assert len(table["timing"]["bits"]) == len(table["timing"]["critical_path_ns"]) >= 1, pe_type
    for key in ("area_um2", "write_energy_pj", "leakage_uw"):
        assert tech["register"][key]
    for key in ("area_um2", "read_energy_pj", "write_energy_pj", "leakage_uw"):
        assert all(len(term) == 3 for term in tech["spad"][key])
    n = len(tech["glb"]["capacity_bytes"])
    for key in ("width_bits", "read_energy_pj", "write_energy_pj", "leakage_mw", "area_mm2"):
        assert len(tech["glb"][key]) == n
    assert "noc" not in tech and tech["wire"]["capacitance_pf_per_mm"] > 0 and tech["dram"]["energy_pj_per_bit"] > 0
    assert tech["glb"]["row_bits"] in tech["glb"]["width_bits"] and tech["timing"]["margin_ns"] >= 0


# ----------------------------------------------------------------------------- shipped data


def test_shipped_table_covers_the_bars():
    tech = tomllib.loads((SHIPPED / "tech" / "characterized-osu018.toml").read_text())
    _check_tech_schema(tech)
    assert "quidam-fast characterize --refit-only --out core/data" in tech["provenance"]
    assert tech["pe"]["int"]["accumulator_bits"] == [16.0, 2.0]
    assert tech["pe"]["fp"]["bits_values"] == [16, 32]
    rows = qc.read_results_csv(SHIPPED / "characterization" / "results.csv")
    for pe_type in ("int", "lightpe1", "lightpe2"):
        got = {r["bits"] for r in rows if r["kind"] == pe_type and r["role"] in ("fit", "measured")}
        assert got >= set(BAR_WIDTHS)
        measured = [r for r in rows if r["kind"] == pe_type and r["role"] == "measured"]
        assert tech["pe"][pe_type]["measured"]["bits"] == [r["bits"] for r in measured] == [2]
        assert tech["pe"][pe_type]["measured"]["mac_energy_pj"] == pytest.approx([r["energy_pj"] for r in measured], rel=1e-5)
        assert tech["pe"][pe_type]["bits_range"] == [3, 32]
    assert {r["bits"] for r in rows if r["kind"] == "fp"} == {16, 32}
    assert all(r["verified_samples"] > 0 for r in rows)
    # the shipped coefficients are the fits of the shipped CSV (which keeps 6 significant digits; a cubic
    # fit moves by ~1e-5 relative under that rounding)
    fits = qc.fit_rows(rows)
    for pe_type in ("int", "lightpe1", "lightpe2", "fp"):
        np.testing.assert_allclose(tech["pe"][pe_type]["mac_area_um2"], fits[pe_type, "area_um2"].coef, rtol=1e-4)
        np.testing.assert_allclose(tech["pe"][pe_type]["mac_energy_pj"], fits[pe_type, "energy_pj"].coef, rtol=1e-4)


def test_shipped_fits_meet_the_bars_on_held_out_designs():
    """Refitted from the shipped CSV: every held-out design within 5% (area) and 10% (energy)."""
    rows = qc.read_results_csv(SHIPPED / "characterization" / "results.csv")
    held = qc.holdout_errors(qc.FlowResult(rows, qc.fit_rows(rows), {}))
    assert {h["kind"] for h in held} == {"int", "lightpe1", "lightpe2", "spad", "reg"}
    for metric, bar in (("area_um2", 0.05), ("energy_pj", 0.10), ("read_energy_pj", 0.10), ("write_energy_pj", 0.10)):
        worst = max(held, key=lambda h: abs(h["rel_error"]) if h["metric"] == metric else -1)
        assert abs(worst["rel_error"]) <= bar, worst


# ----------------------------------------------------------------------------- error paths


def test_missing_liberty_names_the_package(tmp_path):
    with pytest.raises(qc.ToolMissingError, match="qflow-tech-osu018"):
        qc.check_liberty(tmp_path / "nope.lib")
    bogus = tmp_path / "bogus.lib"
    bogus.write_text("not a liberty\n")
    with pytest.raises(qc.CharacterizationError, match="not a liberty"):
        qc.check_liberty(bogus)


def test_missing_tool_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(qc.ToolMissingError, match="apt-get install iverilog"):
        qc.verify(qc.pe_design("int", 4))
    with pytest.raises(qc.ToolMissingError, match="apt-get install yosys"):
        qc.run_flow(qc.REDUCED_SWEEP)


@pytest.mark.parametrize("bits", [[1, 4, 8], [4, 8], [2, 4, 100], [2, 4, 8]])
def test_bad_bits(bits):
    with pytest.raises(QuidamInputError):
        qc.sweep_for(bits)


def test_bad_design_parameters():
    with pytest.raises(QuidamInputError, match="fp PE width 8"):
        qc.pe_design("fp", 8)
    with pytest.raises(QuidamInputError, match="unknown pe_type"):
        qc.pe_design("bf16", 16)
    with pytest.raises(QuidamInputError):
        qc.spad_design(1, 8)
    with pytest.raises(QuidamInputError, match="register width 0"):
        register_design(0)


def test_synthesis_failure_names_design_and_keeps_log(tmp_path):
    from quidam_fast.characterize.synth import synthesize

    good = qc.pe_design("int", 4)
    broken = dataclasses.replace(good, verilog=good.verilog.replace("endmodule", "  wire oops = ;\nendmodule"))
    with pytest.raises(qc.SynthesisError, match="pe_int_w4") as info:
        synthesize(broken, qc.check_liberty(None), tmp_path)
    log = Path(str(info.value).split("log kept at ")[1].strip())
    assert log.exists() and "oops" in log.read_text() or log.exists()


def test_cli_bad_bits_is_a_user_error():
    from typer.testing import CliRunner

    from quidam_fast.cli.main import app

    result = CliRunner().invoke(app, ["characterize", "--bits", "1", "--bits", "4", "--bits", "8", "--out", "x"])
    assert isinstance(result.exception, QuidamInputError)


def test_cli_reduced_run(tmp_path):
    from typer.testing import CliRunner

    from quidam_fast.cli.main import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["characterize", "--reduced", "--no-spad", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "tech" / "characterized-osu018.toml").exists()
    assert "--reduced --no-spad" in (out / "characterization" / "results.csv").read_text()


# ----------------------------------------------------------------------------- full sweep (slow)


@pytest.mark.slow
def test_full_sweep_reproduces_shipped_data(tmp_path):
    """The shipped CSV is what the full sweep produces (synthesis and gate-level simulation are
    deterministic), and the issue's bars hold on every held-out design: 5% area, 10% energy (measured
    figures: core/data/characterization/fit-report.md)."""
    result = qc.run_flow(qc.FULL_SWEEP, workdir=tmp_path)
    shipped = qc.read_results_csv(SHIPPED / "characterization" / "results.csv")
    key = lambda r: (r["kind"], r["bits"], r["words"])  # noqa: E731
    shipped_area = {key(r): r["area_um2"] for r in shipped}
    shipped_energy = {key(r): (r["energy_pj"], r["read_energy_pj"]) for r in shipped}
    for r in result.rows:
        assert r["area_um2"] == pytest.approx(shipped_area[key(r)], rel=1e-5)
        for got, want in zip((r["energy_pj"], r["read_energy_pj"]), shipped_energy[key(r)]):
            if want != "":
                assert got == pytest.approx(want, rel=1e-4)
    held = qc.holdout_errors(result)
    for metric, bar in (("area_um2", 0.05), ("energy_pj", 0.10), ("read_energy_pj", 0.10), ("write_energy_pj", 0.10)):
        assert max(abs(h["rel_error"]) for h in held if h["metric"] == metric) <= bar, metric


def test_refit_only_reproduces_the_shipped_technology_from_the_measurements(tmp_path):
    """``quidam-fast characterize --refit-only --out core/data`` wrote the shipped technology file: the
    same command on a copy of the measurements gives the same file, but for the date it ran."""
    (tmp_path / "characterization").mkdir()
    shutil.copy(SHIPPED / "characterization" / "results.csv", tmp_path / "characterization" / "results.csv")
    paths = qc.refit(tmp_path, command=flow.REFIT_COMMAND)
    assert set(paths) == {"report", "toml"}

    def undated(text):
        return re.sub(r"\d{4}-\d{2}-\d{2}", "DATE", text)

    assert undated(paths["toml"].read_text()) == undated((SHIPPED / "tech" / "characterized-osu018.toml").read_text())
    report = paths["report"].read_text()
    assert "No design was resynthesized" in report and "## Timing: the measured critical path" in report
    with pytest.raises(qc.CharacterizationError, match="no measurements at"):
        qc.refit(tmp_path / "empty")
