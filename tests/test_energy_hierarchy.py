"""The technology side of the energy model: per-bit hierarchy, network wires, buffer rows, measured timing.

Timing is checked against ``core/data/characterization/results.csv`` read here with the csv module
(not through the characterization code): at every synthesized width and every default clock, the
engine's validity is what the measured critical path says.
"""

import csv
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import quidam_fast as qf
from quidam_fast.space import default_space
from quidam_fast.workloads import Layer, Network

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "core" / "data" / "characterization" / "results.csv"
ONE_LAYER = Network("one", (Layer("conv", H=8, W=8, C=4, K=8, R=3, S=3, padding=1),))
CLOCK_INVALID = 4  # kernels.INVALID_CLOCK, named in the dataset's flag_meanings (checked below)

sys.path.insert(0, str(ROOT / "bench"))
import energy_hierarchy  # noqa: E402


def _measured_critical_paths() -> dict[tuple[str, int], float]:
    with open(RESULTS) as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {(r["kind"], int(r["bits"])): float(r["critical_path_ns"]) for r in rows
                if r["kind"] in qf.PE_TYPES}


def test_validity_at_every_synthesized_width_and_default_clock_is_the_measurement():
    tech = qf.load_tech("characterized-osu018")
    margin = tech.data["timing"]["margin_ns"]
    measured = _measured_critical_paths()
    clocks = list(default_space().axes["clock_mhz"])
    assert len(measured) >= 40 and clocks
    for pe_type in qf.PE_TYPES:
        widths = sorted(b for kind, b in measured if kind == pe_type)
        ds = qf.evaluate(ONE_LAYER, {"pe_type": [pe_type], "bits": widths, "clock_mhz": clocks}, tech, per_layer=False)
        assert "clock_faster_than" in ds.invalid_reason.attrs["flag_meanings"].split()[CLOCK_INVALID]
        for bits in widths:
            for clock in clocks:
                point = ds.sel(pe_type=pe_type, bits=bits, clock_mhz=clock)
                expected = measured[pe_type, bits] + margin <= 1000.0 / clock
                assert bool(point.valid.all()) == expected, (pe_type, bits, clock, measured[pe_type, bits])
                if not expected:
                    assert (point.invalid_reason == CLOCK_INVALID).all()


def test_between_synthesized_widths_a_clock_both_neighbours_clear_is_never_refused():
    tech = qf.load_tech("characterized-osu018")
    measured = _measured_critical_paths()
    for pe_type in ("int", "lightpe1", "lightpe2"):
        widths = sorted(b for kind, b in measured if kind == pe_type)
        for lo, hi in zip(widths, widths[1:]):
            for bits in range(lo + 1, hi):
                path = tech.pe_cost(pe_type, bits)["critical_path_ns"]
                assert min(measured[pe_type, lo], measured[pe_type, hi]) <= path <= max(measured[pe_type, lo],
                                                                                         measured[pe_type, hi])


def test_every_int8_design_at_200_mhz_is_valid():
    ds = qf.evaluate("alexnet", {"pe_type": ["int"], "bits": [8], "rows": [8, 32], "cols": [8, 32],
                                 "dataflow": ["ws", "os", "is", "rs"], "clock_mhz": [200.0]}, "characterized-osu018",
                     per_layer=False)
    assert bool(ds.valid.all())


@pytest.mark.parametrize("tech", ["characterized-osu018", "published-45nm"])
def test_energy_per_bit_is_register_then_network_then_buffer_then_dram(tech):
    """The issue's typical designs: INT8 output stationary, 8 x 8 to 32 x 32, 64 to 256 KiB."""
    rows = energy_hierarchy.hierarchy(qf.load_tech(tech))
    assert len(rows) == 9
    for row in rows:
        values = [row["pj_per_bit"][level] for level in energy_hierarchy.LEVELS]
        assert all(x < y for x, y in zip(values, values[1:])), (row["rows"], row["glb_kib"], values)


def test_a_buffer_word_is_its_share_of_a_row_access():
    tech = qf.load_tech("published-45nm")
    row = tech.glb_cost(131072, tech.glb_row_bits)
    for bits in (4, 8, 16, 48, 80):
        word = tech.glb_word_cost(131072, bits)
        assert float(word["read_energy_pj"]) == pytest.approx(float(row["read_energy_pj"]) * bits / 64)
        assert float(word["write_energy_pj"]) == pytest.approx(float(row["write_energy_pj"]) * bits / 64)
        assert (float(word["area_mm2"]), float(word["leakage_mw"])) == (float(row["area_mm2"]), float(row["leakage_mw"]))


def test_wire_energy_is_half_c_v_squared_per_toggle():
    for name, volts in (("characterized-osu018", 1.8), ("published-45nm", 0.9)):
        tech = qf.load_tech(name)
        assert tech.data["wire"]["vdd_v"] == volts
        assert tech.wire_energy_pj_per_bit_mm == pytest.approx(0.5 * 0.5 * 0.2 * volts**2)


def _with_wire(tmp_path, name, capacitance):
    text = qf.load_tech(name).source_text
    text = re.sub(r"^capacitance_pf_per_mm = [^\n]*$", f"capacitance_pf_per_mm = {capacitance!r}", text, flags=re.M)
    path = tmp_path / f"{name}-{capacitance}.toml"
    path.write_text(text)
    return qf.load_tech(path)


@pytest.mark.parametrize("dataflow", ["ws", "os", "is", "rs"])
def test_network_energy_is_wire_energy_times_the_distance_on_the_design(tmp_path, dataflow):
    """Linear in the wire's capacitance (nothing else moves), and longer wires on a larger array and a
    larger buffer: the bit-millimetres a layer moves grow with both."""
    space = {"rows": [8, 16], "cols": [8, 16], "glb_kib": [64, 512], "dataflow": [dataflow], "bits": [8],
             "pe_type": ["int"]}
    base = qf.evaluate(ONE_LAYER, space, _with_wire(tmp_path, "published-45nm", 0.2), per_layer=False)
    double = qf.evaluate(ONE_LAYER, space, _with_wire(tmp_path, "published-45nm", 0.4), per_layer=False)
    np.testing.assert_allclose(double.energy_noc_pj, 2 * base.energy_noc_pj, rtol=1e-12)
    for name in ("energy_mac_pj", "energy_spad_pj", "energy_glb_pj", "energy_dram_pj", "noc_words"):
        np.testing.assert_array_equal(double[name], base[name])
    per_word = base.energy_noc_pj / base.noc_words
    # same words, longer wires: a bigger buffer (farther feed) never costs less per word
    assert bool((per_word.sel(glb_kib=512) >= per_word.sel(glb_kib=64)).all())
    if dataflow == "os":  # every os word crosses the array (no partial sums change the mix of words)
        assert bool((per_word.sel(rows=16, cols=16) > per_word.sel(rows=8, cols=8)).all())


# --- the technology file's new keys ------------------------------------------------------------------

def _edited(tmp_path, pattern, replacement, name="characterized-osu018"):
    text = qf.load_tech(name).source_text
    new, count = re.subn(pattern, replacement, text, count=1, flags=re.M | re.S)
    assert count == 1, pattern
    path = tmp_path / "tech.toml"
    path.write_text(new)
    return path


@pytest.mark.parametrize("pattern, replacement, message", [
    (r"^\[wire\]\n.*?\n\n", "", r"\[top level\] lacks the key 'wire'"),
    (r"^capacitance_pf_per_mm = [^\n]*$", "capacitance_pf_per_mm = 0.0",
     r"\[wire\] capacitance_pf_per_mm = 0.0 is not allowed; it must be a finite number > 0"),
    (r"^capacitance_pf_per_mm = [^\n]*$", "capacitance_pf_per_mm = -0.2", r"\[wire\] capacitance_pf_per_mm = -0.2 is not allowed"),
    (r"^vdd_v = [^\n]*$", "vdd_v = -1.8", r"\[wire\] vdd_v = -1.8 is not allowed; it must be a finite number > 0"),
    (r"^toggle_probability = [^\n]*$", "toggle_probability = 1.5",
     r"\[wire\] toggle_probability = 1.5 is not allowed; it must be a probability in \(0, 1\]"),
    (r"^\[dram\]", "[noc]\nenergy_pj_per_bit = 19.8\n\n[dram]", r"\[noc\] is not read; the array network is priced from its wires"),
    (r"^row_bits = [^\n]*$", "row_bits = 256", r"\[glb\] row_bits = 256 is not allowed; it must be within the table's widths, 16 to 128 bits"),
    (r"^row_bits = [^\n]*\n", "", r"\[glb\] lacks the key 'row_bits'"),
    (r"^energy_pj_per_bit = [^\n]*$", "energy_pj_per_bit = 0.1",
     r"\[dram\] energy_pj_per_bit = 0.1 is not allowed; it must be more than a buffer row's read energy per bit"),
    (r"^margin_ns = [^\n]*$", "margin_ns = -0.5", r"\[timing\] margin_ns = -0.5 is not allowed; it must be a finite number >= 0"),
    (r"^\[timing\]\n.*?\n\n", "", r"\[top level\] lacks the key 'timing'"),
    (r"(\[pe\.int\.timing\]\nbits = )\[2, ", r"\1[3, ",
     r"\[pe.int.timing\] bits = \[3, 3, .* is not allowed; it must be a list of distinct integers"),
    (r"(\[pe\.int\]\n)", r"\1critical_path_ns = [2.8, 0.3]\n", r"\[pe.int\] critical_path_ns is not read; timing is a table"),
])
def test_technology_files_without_the_new_entries_or_with_unphysical_ones_are_refused(tmp_path, pattern, replacement,
                                                                                          message):
    path = _edited(tmp_path, pattern, replacement)
    with pytest.raises(qf.QuidamInputError, match=rf"^{re.escape(str(path))}: ({message})"):
        qf.load_tech(path)


def test_a_timing_table_must_cover_every_valid_width(tmp_path):
    path = _edited(tmp_path, r"(\[pe\.int\.timing\]\nbits = \[)2, (.*?)\ncritical_path_ns = \[[0-9.]+, ",
                   r"\g<1>\g<2>\ncritical_path_ns = [")
    with pytest.raises(qf.QuidamInputError, match=r"\[pe.int.timing\] bits = .* it must be a list covering every "
                                                  r"valid width \(2 to 32 bits\)"):
        qf.load_tech(path)
