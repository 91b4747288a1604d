"""Build the cited ``published-45nm`` technology file from published figures.

Regenerate the shipped file with::

    python -m quidam_fast.published            # writes quidam_fast/data/tech/published-45nm.toml

Sources (see ``shared/reference/published-costs.md`` in the project workspace):

* M. Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm 0.9 V: integer add/multiply and float
  add/multiply energy and area; DRAM access 1300-2600 pJ per 64 bits.
* Y.-H. Chen, J. Emer, V. Sze, ISCA 2016 (Eyeriss): register-file access (0.5 kB) = 1x a 16-bit MAC,
  array-network transfer = 2x a 16-bit MAC.
* CACTI 7 SRAM table at 45 nm (``cacti-sram.csv``, generated for this project) for the global buffer,
  accessed in 64-bit rows (Eyeriss's buffer banks, JSSC 2017; a narrow word costs its share of a row).
* The array network's wires: a minimum-pitch signal wire in a bus has about 0.2 fF/um, ground and
  neighbours together, nearly independent of the node (Weste & Harris, CMOS VLSI Design, 4th ed., 2011,
  sec. 6.2.2; Ho, Mai & Horowitz, "The future of wires", Proc. IEEE 2001); at Horowitz's 0.9 V,
  toggling with probability 1/2 per bit. (FreePDK45's metal3, as OpenROAD-flow-scripts estimates signal
  wires, ``flow/platforms/nangate45/setRC.tcl``, is 0.105 fF/um: the same order.)

How PE costs are composed from parts (no guessed totals):

* ``int`` at ``b`` bits: ``b x b`` multiplier + adder of the accumulator width ``2 b + 16`` (a 16-bit
  guard covers reductions of up to 65 536 products: VGG-16's largest, fc6, has 25 088).
* ``fp`` at 16/32 bits: float multiply + float add at the same width (accumulation in that format).
* ``lightpe1``: the weight is one 5-bit term ``{zero, sign, exponent[2:0]}`` (shifts 0..7); a logarithmic
  barrel shifter of 3 stages of ``b + 7`` 2:1 muxes plus one such stage gating the zero code, then the
  accumulator adder (``b + 7 + 16`` bits).
* ``lightpe2``: two such shifters, an adder of ``b + 8`` bits joining them, the accumulator adder
  (``b + 8 + 16`` bits); the weight is two 5-bit terms (10 bits).

Every PE also holds its accumulator (the partial-sum register of a systolic PE): flip-flops of the
accumulator width, costed as below. Horowitz gives adders and multipliers but no mux; a static 2:1 mux (12 transistors with its select
inverter) is costed at 12/28 of a mirror full adder (28 transistors) per bit, the adder's per-bit
energy and area being the slope of Horowitz's 8/16/32-bit adders. Register-file cells are costed the
same way (flip-flop 24 transistors + read mux 12 per bit), which is the stated assumption of this table;
a systolic PE's pipeline register is the flip-flops alone (24/28 of a full-adder bit, energy per bit
loaded likewise).
Logic leakage is not published by Horowitz and is zero here; SRAM leakage comes from CACTI.
"""

from __future__ import annotations

import csv
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from ._files import write_text_atomically

# Horowitz ISSCC 2014, 45 nm: (bits, energy_pj, area_um2)
INT_ADD = [(8, 0.03, 36.0), (16, 0.05, 67.0), (32, 0.1, 137.0)]
INT_MULTIPLY = [(8, 0.2, 282.0), (32, 3.1, 3495.0)]
FLOAT_ADD = {16: (0.4, 1360.0), 32: (0.9, 4184.0)}
FLOAT_MULTIPLY = {16: (1.1, 1640.0), 32: (3.7, 7700.0)}
DRAM_PJ_PER_64_BITS = (1300.0, 2600.0)
# Eyeriss (ISCA 2016) normalized access energies, relative to one 16-bit MAC
EYERISS_RF_OVER_MAC = 1.0
EYERISS_RF_BYTES = 512
# a minimum-pitch bus wire, about 0.2 fF/um at any node (Weste & Harris sec. 6.2.2), and Horowitz's supply
WIRE_PF_PER_MM = 0.2
VDD_V = 0.9
WIRE_TOGGLE_PROBABILITY = 0.5
GLB_ROW_BITS = 64
MUX2_OVER_FULL_ADDER = 12 / 28
FLIP_FLOP_OVER_FULL_ADDER = 24 / 28
LIGHTPE_SHIFT_STAGES = 3  # exponents 0..7
ACCUMULATOR_GUARD_BITS = 16


def _fit(points, powers):
    """Least-squares coefficients of ``sum c_p x**p`` over the given powers."""
    x = np.array([p[0] for p in points], dtype=float)
    design = np.stack([x**p for p in powers], axis=1)
    return np.linalg.lstsq(design, np.array([p[1] for p in points]), rcond=None)[0]


def _parts():
    add_energy = _fit([(b, e) for b, e, _ in INT_ADD], (0, 1))          # pJ = a0 + a1 b
    add_area = _fit([(b, a) for b, _, a in INT_ADD], (0, 1))            # um2
    mul_energy = _fit([(b, e) for b, e, _ in INT_MULTIPLY], (2,))[0]    # pJ = m b^2
    mul_area = _fit([(b, a) for b, _, a in INT_MULTIPLY], (2,))[0]
    return add_energy, add_area, mul_energy, mul_area


def _adder_of(width_poly, add):
    """Adder cost polynomial in ``b`` when the adder is ``width_poly = [w0, w1]`` bits wide."""
    return [add[0] + add[1] * width_poly[0], add[1] * width_poly[1]]


def _register_of(width_poly, add):
    """Flip-flop register cost polynomial in ``b``, ``width_poly = [w0, w1]`` bits wide: a flip-flop per
    bit = 24/28 of a full-adder bit (its transistors), in energy per load and in area."""
    per_bit = add[1] * FLIP_FLOP_OVER_FULL_ADDER
    return [per_bit * width_poly[0], per_bit * width_poly[1]]


def _add(*polys):
    out = np.zeros(max(len(p) for p in polys))
    for p in polys:
        out[: len(p)] += p
    return [float(round(v, 10)) for v in out]


def build() -> str:
    """The TOML text of the ``published-45nm`` technology."""
    add_energy, add_area, mul_energy, mul_area = _parts()
    mux_energy_per_bit = add_energy[1] * MUX2_OVER_FULL_ADDER
    mux_area_per_bit = add_area[1] * MUX2_OVER_FULL_ADDER
    mac16_energy = mul_energy * 16**2 + add_energy[0] + add_energy[1] * (2 * 16 + ACCUMULATOR_GUARD_BITS)

    def shifter(extra_bits, count):  # ``count`` barrel shifters of (b + extra_bits) wide, 3 stages
        stages = (LIGHTPE_SHIFT_STAGES + 1) * count  # + 1: the zero code gating the term, a mux-like stage
        return ([stages * mux_energy_per_bit * extra_bits, stages * mux_energy_per_bit],
                [stages * mux_area_per_bit * extra_bits, stages * mux_area_per_bit])

    pe = {}
    acc_int = [ACCUMULATOR_GUARD_BITS, 2]
    pe["int"] = dict(
        bits_range=[2, 32], weight_bits=0, accumulator_bits=acc_int,
        mac_energy_pj=_add([0, 0, mul_energy], _adder_of(acc_int, add_energy), _register_of(acc_int, add_energy)),
        mac_area_um2=_add([0, 0, mul_area], _adder_of(acc_int, add_area), _register_of(acc_int, add_area)),
        mac_leakage_uw=[0.0],
        source="Horowitz ISSCC 2014 45 nm: b x b multiplier (fit m b^2 to 8/32-bit) + adder of 2b+16 bits (linear fit to 8/16/32-bit adds) + accumulator register of 2b+16 flip-flops",
    )
    e16, e32 = (FLOAT_MULTIPLY[b][0] + FLOAT_ADD[b][0] for b in (16, 32))
    a16, a32 = (FLOAT_MULTIPLY[b][1] + FLOAT_ADD[b][1] for b in (16, 32))
    pe["fp"] = dict(
        bits_values=[16, 32], weight_bits=0, accumulator_bits=[0, 1],
        mac_energy_pj=_add([e16 - 16 * (e32 - e16) / 16, (e32 - e16) / 16], _register_of([0, 1], add_energy)),
        mac_area_um2=_add([a16 - 16 * (a32 - a16) / 16, (a32 - a16) / 16], _register_of([0, 1], add_area)),
        mac_leakage_uw=[0.0],
        source="Horowitz ISSCC 2014 45 nm: float multiply + float add at 16 and 32 bits (line through the two points; valid only there) + accumulator register of b flip-flops",
    )
    for name, count, extra, weight_bits in (("lightpe1", 1, 7, 5), ("lightpe2", 2, 8, 10)):
        shift_energy, shift_area = shifter(7, count)
        acc = [extra + ACCUMULATOR_GUARD_BITS, 1]
        energy = _add(shift_energy, _adder_of(acc, add_energy), _register_of(acc, add_energy))
        area = _add(shift_area, _adder_of(acc, add_area), _register_of(acc, add_area))
        if count == 2:  # the adder joining the two shifted terms, b + 8 bits
            energy = _add(energy, _adder_of([extra, 1], add_energy))
            area = _add(area, _adder_of([extra, 1], add_area))
        pe[name] = dict(
            bits_range=[2, 32], weight_bits=weight_bits, accumulator_bits=acc,
            mac_energy_pj=energy, mac_area_um2=area, mac_leakage_uw=[0.0],
            source=(f"composed from parts: {count} barrel shifter(s) of 3 stages x (b+7) 2:1 muxes, plus one such stage gating the zero code "
                    f"(mux = 12/28 of a Horowitz full-adder bit)" + (", a (b+8)-bit adder" if count == 2 else "")
                    + f", accumulator adder and register of b+{extra + ACCUMULATOR_GUARD_BITS} bits (Horowitz 45 nm adds)"),
        )

    # Register file: Eyeriss's 0.5 kB RF access = 1 MAC (16-bit); energy grows as sqrt(capacity)
    # (word/bit-line length) and linearly in width.
    rf_words = EYERISS_RF_BYTES * 8 / 16
    rf_coef = EYERISS_RF_OVER_MAC * mac16_energy / (16 * rf_words**0.5)
    cell_area = add_area[1] * (FLIP_FLOP_OVER_FULL_ADDER + MUX2_OVER_FULL_ADDER)
    spad = dict(
        area_um2=[[float(cell_area), 1, 1]],
        read_energy_pj=[[float(rf_coef), 0.5, 1]],
        write_energy_pj=[[float(rf_coef), 0.5, 1]],
        leakage_uw=[[0.0, 0, 0]],
        source=("Eyeriss ISCA 2016: 0.5 kB RF access = 1x a 16-bit MAC (this table's int16 MAC), scaled as "
                "sqrt(words) x bits; area per bit = flip-flop (24/28) + read mux (12/28) of a Horowitz full-adder bit"),
    )
    register = dict(
        area_um2=[float(c) for c in _register_of([0, 1], add_area)],
        write_energy_pj=[float(c) for c in _register_of([0, 1], add_energy)],
        leakage_uw=[0.0],
        source="pipeline register: a flip-flop per bit = 24/28 of a Horowitz full-adder bit (area and energy "
               "per bit loaded: the slope of his 8/16/32-bit adders); no published leakage",
    )
    glb = {key: [] for key in ("capacity_bytes", "width_bits", "read_energy_pj", "write_energy_pj", "leakage_mw", "area_mm2")}
    table = resources.files("quidam_fast").joinpath("data", "cacti-sram.csv").read_text().splitlines()
    for row in csv.DictReader(line for line in table if not line.startswith("#")):
        if row["tech_nm"] == "45":
            for key in glb:
                glb[key].append(float(row[key]) if "." in row[key] else int(row[key]))
    glb["row_bits"] = GLB_ROW_BITS
    glb["source"] = ("CACTI 7 at 45 nm, itrs-hp cells, 360 K, single-bank RAM (quidam_fast/data/cacti-sram.csv); rows "
                     f"of {GLB_ROW_BITS} bits (Eyeriss's buffer banks, JSSC 2017): a narrow word costs its share of a row access")
    wire = dict(capacitance_pf_per_mm=WIRE_PF_PER_MM, vdd_v=VDD_V, toggle_probability=WIRE_TOGGLE_PROBABILITY,
                source="a minimum-pitch signal wire in a bus, about 0.2 fF/um with its neighbours at any node (Weste and "
                       "Harris, CMOS VLSI Design, 4th ed., 2011, sec. 6.2.2; FreePDK45 metal3 as OpenROAD-flow-scripts "
                       "estimates it, flow/platforms/nangate45/setRC.tcl: 0.105 fF/um); Horowitz's 0.9 V; toggling with "
                       "probability 1/2 per bit (uncorrelated data); repeaters not counted")
    dram = dict(energy_pj_per_bit=float(sum(DRAM_PJ_PER_64_BITS) / 2 / 64),
                source="Horowitz ISSCC 2014: DRAM 1300-2600 pJ per 64-bit access; midpoint")

    lines = [
        "# Generated by `python -m quidam_fast.published` from cited figures; do not edit by hand.",
        'name = "published-45nm"',
        "node_nm = 45",
        'summary = "Horowitz ISSCC 2014 (45 nm) arithmetic, Eyeriss ratio for the RF, CACTI 7 SRAM at 45 nm, Nangate45 wires"',
        'provenance = "python -m quidam_fast.published (core/published.py): parts and assumptions in its docstring"',
    ]
    for name in ("fp", "int", "lightpe1", "lightpe2"):
        lines += ["", f"[pe.{name}]"] + [f"{key} = {_toml(value)}" for key, value in pe[name].items()]
    for section, table_ in (("spad", spad), ("register", register), ("glb", glb), ("wire", wire), ("dram", dram)):
        lines += ["", f"[{section}]"] + [f"{key} = {_toml(value)}" for key, value in table_.items()]
    return "\n".join(lines) + "\n"


def _toml(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def main(argv=None) -> None:
    target = Path(str(resources.files("quidam_fast").joinpath("data", "tech", "published-45nm.toml")))
    write_text_atomically(target, build())
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
