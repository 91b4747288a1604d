"""The whole characterization flow: generate, verify, synthesize, power, fit, write the technology file.

``run_flow`` does everything in a scratch folder and returns the results; ``write_outputs`` then puts
the raw CSV, the fit report and the technology TOML in place, each written to a temporary file and
moved over the old one with ``os.replace`` only after every design of the sweep succeeded.

Output layout under ``out``: ``characterization/results.csv``, ``characterization/fit-report.md``,
``tech/characterized-osu018.toml`` (``tech/characterized-<library>.toml`` for another liberty) -- so ``quidam-fast characterize --out core/data`` (from the
repository root) regenerates exactly what ships.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import math
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .._files import write_text_atomically
from . import fit as _fit
from .rtl import accumulator_bits, pe_design, register_design, spad_design, weight_bits
from .gatesim import gate_energy
from .reference import REDUCTION, stream
from .sim import verify
from .synth import ABC_SCRIPT, ACTIVITY_CYCLES, ACTIVITY_SEED, CLOCK_PERIOD_NS, OUTPUT_LOAD_PF, power, synthesize
from .tools import CharacterizationError, check_liberty, liberty_name, tool_versions

SHIPPED_COMMAND = "quidam-fast characterize --out core/data"
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CACTI_CSV = DATA_DIR / "cacti-sram.csv"  # the engine's CACTI table (45 and 90 nm rows)

# The CACTI rows the global buffer is scaled from (itrs-hp cells): Stillmaker & Baas 2017 style
# first-order node factors take them to the liberty's node and supply (OSU018: 180 nm, 1.8 V): area ~ L^2,
# dynamic energy ~ C V^2 ~ L V^2.
CACTI_NODE_NM, CACTI_VDD_V = 90, 1.2
OSU018_NODE_NM = 180  # the OSU018 cells are drawn for TSMC's 0.18 um process (the library says no node)


@dataclass(frozen=True)
class Process:
    """What a technology file says of the cells it was characterized on."""

    tech_name: str  # the technology file's name (``characterized-osu018`` for the default liberty)
    label: str  # the cells, as the sources name them
    node_nm: float
    vdd_v: float  # the liberty's nom_voltage

    @property
    def sram_area_factor(self) -> float:
        return (self.node_nm / CACTI_NODE_NM) ** 2

    @property
    def sram_energy_factor(self) -> float:
        return (self.node_nm / CACTI_NODE_NM) * (self.vdd_v / CACTI_VDD_V) ** 2


def process_for(liberty: Path, node_nm: float | None = None) -> Process:
    """The :class:`Process` of a liberty. Its node is not in the liberty: OSU018's is known, any other
    liberty needs ``node_nm`` (the CLI's ``--node-nm``)."""
    text = Path(liberty).read_text(errors="replace")
    volts = re.search(r"\bnom_voltage\s*:\s*([0-9.eE+-]+)", text)
    if not volts or not float(volts.group(1)) > 0:
        raise CharacterizationError(f"liberty {str(liberty)!r} gives no supply voltage (nom_voltage)")
    library = liberty_name(Path(liberty))
    is_osu018 = library == "osu018_stdcells"
    if node_nm is None:
        if not is_osu018:
            raise CharacterizationError(
                f"liberty {str(liberty)!r} (library {library}) does not say its process node: pass --node-nm "
                f"(it scales the {CACTI_NODE_NM} nm CACTI SRAM table to the cells)")
        node_nm = OSU018_NODE_NM
    if not (isinstance(node_nm, (int, float)) and math.isfinite(node_nm) and 1 <= node_nm <= 1000):
        raise CharacterizationError(f"--node-nm {node_nm!r} out of range; allowed: a number of nanometres, 1..1000")
    if is_osu018:
        return Process("characterized-osu018", "OSU018", node_nm, float(volts.group(1)))
    slug = re.sub(r"[^a-z0-9]+", "-", library.lower()).strip("-") or "liberty"
    return Process(f"characterized-{slug}", library, node_nm, float(volts.group(1)))
HOROWITZ_DRAM_PJ_PER_64BIT = 1300.0  # ISSCC 2014, 45 nm table: DRAM 1300-2600 pJ per 64-bit access
# The global buffer's physical row: 64 bits, as Eyeriss's buffer banks (Chen et al., JSSC 2017); the
# engine prices a narrow word as its share of a row access (quidam_fast.tech.Technology.glb_word_cost)
GLB_ROW_BITS = 64
# The array network's wires: a minimum-pitch signal wire in a bus has about 0.2 fF/um, ground and both
# neighbours together, nearly independent of the node (Weste & Harris, CMOS VLSI Design, 4th ed., 2011,
# sec. 6.2.2; Ho, Mai & Horowitz, "The future of wires", Proc. IEEE 89(4), 2001), so the node enters
# through the supply only. The liberty's LEF gives a lower bound, a lone wire to ground (no neighbours:
# a LEF has no coupling term), quoted beside it (metal3, the layer OpenROAD's flows estimate signal
# wires on). A bit toggles the wire with probability 1/2 (uncorrelated data).
WIRE_PF_PER_MM = 0.2
WIRE_LAYER = "metal3"
WIRE_TOGGLE_PROBABILITY = 0.5
# Timing: the clock is ideal in the characterization (no clock tree, skew or jitter), so no margin is
# added to the measured critical path; a user derates by editing [timing] margin_ns
TIMING_MARGIN_NS = 0.0


def wire_capacitance(liberty: Path, layer: str = WIRE_LAYER) -> tuple[float, str]:
    """Capacitance (pF/mm) of a minimum-width wire on ``layer``, from the LEF beside the liberty.

    The LEF (same folder and stem as the liberty, as Debian's ``qflow-tech-osu018`` ships them) gives
    per routing layer ``WIDTH`` (um), ``CAPACITANCE CPERSQDIST`` (pF/um^2, to the substrate) and
    ``EDGECAPACITANCE`` (pF/um per edge); a wire of width ``w`` has ``CPERSQDIST w + 2 EDGECAPACITANCE``
    per um. Returns the capacitance and a sentence saying where it came from.
    """
    lef = Path(liberty).with_suffix(".lef")
    if not lef.is_file():
        raise CharacterizationError(
            f"no LEF {str(lef)!r} beside the liberty: the array network's wire capacitance is read from its "
            f"{layer} layer (put the library's LEF there, with the liberty's name)")
    text = lef.read_text(errors="replace")
    block = re.search(rf"^\s*LAYER\s+{re.escape(layer)}\s*$(.*?)^\s*END\s+{re.escape(layer)}\b", text, re.M | re.S)
    values = {}
    for key, pattern in (("width", r"\bWIDTH\s+([0-9.eE+-]+)"), ("area", r"CPERSQDIST\s+([0-9.eE+-]+)"),
                         ("edge", r"EDGECAPACITANCE\s+([0-9.eE+-]+)")):
        found = re.search(pattern, block.group(1)) if block else None
        if not found:
            raise CharacterizationError(f"LEF {str(lef)!r}: layer {layer} gives no {key} (WIDTH, CAPACITANCE "
                                        "CPERSQDIST and EDGECAPACITANCE are needed for the wire capacitance)")
        values[key] = float(found.group(1))
    pf_per_mm = (values["area"] * values["width"] + 2 * values["edge"]) * 1000.0
    if not pf_per_mm > 0:
        raise CharacterizationError(f"LEF {str(lef)!r}: layer {layer} has no positive wire capacitance")
    return pf_per_mm, (
        f"{lef.name} layer {layer}: WIDTH {values['width']:g} um x CPERSQDIST {values['area']:g} pF/um2 + 2 x "
        f"EDGECAPACITANCE {values['edge']:g} pF/um = {pf_per_mm:.4g} pF/mm (minimum-width wire, no neighbours' "
        "coupling)")


@dataclass(frozen=True)
class Sweep:
    """Which designs to characterize. ``pe_bits`` are fitted, except ``measured_bits`` among them, whose
    measured values the technology file carries as they are; ``holdout_bits`` are only checked."""

    pe_types: tuple[str, ...] = ("int", "lightpe1", "lightpe2")
    # 3 is fitted, not held out: the operand statistics change fastest from 2 to 4 bits (per-channel max
    # scaling zeroes 87%, 38%, 17% of int weights at 2, 3, 4 bits), so the curve is sampled densest there
    pe_bits: tuple[int, ...] = (2, 3, 4, 6, 8, 12, 16, 24, 32)
    holdout_bits: tuple[int, ...] = (5, 10, 20, 28)
    # Two-bit operands are ternary (a symmetric signed 2-bit code is -1, 0 or +1) and, with per-channel
    # max scaling, 87% of int2 weights are zero: a regime of its own that no polynomial through the wider
    # widths follows (int2 measured 5.6 pJ beside 16.8 at 3 bits and 22.5 at 4; a cubic through 2..32
    # missed 3 bits by 22%). So 2 bits is characterized like every width but not fitted.
    measured_bits: tuple[int, ...] = (2,)
    fp_bits: tuple[int, ...] = (16, 32)
    # capacities the design space uses are rarely powers of two (Eyeriss: 12, 24, 224), and a read mux
    # or decoder of n words costs as one of 2**ceil(log2 n): sample both kinds (held-out pairs excluded)
    spad_words: tuple[int, ...] = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
    spad_bits: tuple[int, ...] = (4, 8, 16, 32)
    spad_holdout: tuple[tuple[int, int], ...] = ((12, 16), (24, 16), (224, 16), (48, 8))
    # partial-sum scratchpads hold accumulator-wide words (int16: 48 bits, int32: 80) in few words:
    # sampled there too, so the engine never extrapolates the model in width (words x bits pairs)
    spad_wide: tuple[tuple[int, int], ...] = ((8, 48), (16, 48), (24, 48), (32, 48),
                                              (8, 80), (16, 80), (24, 80), (32, 80))
    # pipeline registers of a systolic PE: activation and weight widths, and partial sums up to int32's
    # 80-bit accumulator
    reg_bits: tuple[int, ...] = (4, 8, 16, 24, 32, 48, 64, 80)
    reg_holdout: tuple[int, ...] = (12, 40)
    verify_cycles: int = 1000
    activity_cycles: int = ACTIVITY_CYCLES  # PE gate-level power stream (the first reduction not counted)
    spad_activity_cycles: int = 512  # scratchpad gate-level power stream, per mode

    @property
    def size(self) -> int:
        """How many designs :func:`run_flow` characterizes: the total of a progress display.

        >>> REDUCED_SWEEP.size == sum(1 for _ in _designs(REDUCED_SWEEP))
        True
        """
        return sum(1 for _ in _designs(self))


FULL_SWEEP = Sweep()
REDUCED_SWEEP = Sweep(pe_bits=(2, 3, 4, 8), holdout_bits=(6,), fp_bits=(16,), spad_words=(4, 8, 16),
                      spad_bits=(2, 4, 8), spad_holdout=((12, 4),), spad_wide=((4, 16), (8, 16)),
                      reg_bits=(4, 8, 16), reg_holdout=(12,),
                      verify_cycles=300,
                      activity_cycles=512, spad_activity_cycles=128)

PE_METRICS = ("area_um2", "energy_pj", "leakage_uw", "critical_path_ns")
SPAD_METRICS = ("area_um2", "read_energy_pj", "write_energy_pj", "leakage_uw")
REG_METRICS = ("area_um2", "energy_pj", "leakage_uw")  # energy_pj: per cycle written


def metrics_of(kind: str) -> tuple[str, ...]:
    """The fitted metrics of a design kind."""
    return {"spad": SPAD_METRICS, "reg": REG_METRICS}.get(kind, PE_METRICS)


@dataclass
class FlowResult:
    rows: list[dict]
    fits: dict = field(default_factory=dict)  # (kind, metric) -> Fit1D / Fit2D
    meta: dict = field(default_factory=dict)


def sweep_for(bits: list[int] | None, reduced: bool = False, spad: bool = True) -> Sweep:
    """The sweep for the CLI's ``--bits``: those PE widths are characterized and (but for 2 bits, a
    measured point: see :class:`Sweep`) fitted; the default held-out widths inside the fitted range
    (and not among them) are checked; fp keeps 16 and/or 32 where listed."""
    base = REDUCED_SWEEP if reduced else FULL_SWEEP
    if bits:
        bad = [b for b in bits if not isinstance(b, int) or b < 2 or b > 64]
        if bad:
            raise CharacterizationError(f"--bits {bad} out of range; allowed: integers 2..64")
        pe_bits = tuple(sorted(set(bits)))
        fitted = [b for b in pe_bits if b not in base.measured_bits]
        if len(fitted) < 3:
            raise CharacterizationError(
                f"--bits needs at least 3 distinct widths to fit, got {list(pe_bits)} "
                f"({', '.join(map(str, base.measured_bits))} bits is a measured point, not fitted)")
        held = tuple(b for b in FULL_SWEEP.holdout_bits + base.holdout_bits
                     if fitted[0] < b < fitted[-1] and b not in pe_bits)
        fp = tuple(b for b in (16, 32) if b in pe_bits) or base.fp_bits
        base = dataclasses.replace(base, pe_bits=pe_bits, holdout_bits=tuple(sorted(set(held))), fp_bits=fp)
    if not spad:
        base = dataclasses.replace(base, spad_words=(), spad_bits=(), spad_holdout=(), spad_wide=(), reg_bits=(),
                                   reg_holdout=())
    return base


def _designs(sweep: Sweep):
    for t in sweep.pe_types:
        for b in sweep.pe_bits:
            yield pe_design(t, b), "measured" if b in sweep.measured_bits else "fit"
        for b in sweep.holdout_bits:
            yield pe_design(t, b), "holdout"
    for b in sweep.fp_bits:
        yield pe_design("fp", b), "fit"
    for w in sweep.spad_words:
        for b in sweep.spad_bits:
            if (w, b) in sweep.spad_holdout:
                continue
            yield spad_design(w, b), "fit"
    for w, b in sweep.spad_wide:
        yield spad_design(w, b), "fit"
    for w, b in sweep.spad_holdout:
        yield spad_design(w, b), "holdout"
    for b in sweep.reg_bits:
        yield register_design(b), "fit"
    for b in sweep.reg_holdout:
        yield register_design(b), "holdout"


def characterize_design(design, role: str, liberty: Path, workdir: Path, verify_cycles: int,
                        activity_cycles: int = ACTIVITY_CYCLES, spad_activity_cycles: int = 512) -> dict:
    """Verify one design in simulation, synthesize it, and measure it; one row of the results CSV."""
    wd = workdir / design.name
    wd.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    checked = verify(design, cycles=verify_cycles, seed=1, workdir=wd / "sim")
    sim_s = time.perf_counter() - t0
    syn = synthesize(design, liberty, wd)
    row = {
        "kind": design.kind, "bits": design.bits, "words": design.words, "role": role,
        "accumulator_bits": design.params.get("accumulator_bits", ""),
        "weight_bits": design.params.get("weight_bits", ""),
        "verified_samples": checked, "area_um2": syn.area_um2, "cells": syn.cells, "flops": syn.flops,
    }
    if design.kind == "spad":
        # timing and leakage from OpenSTA; dynamic energy from gate-level simulation of each stream
        sta = power(design, syn, liberty, wd, "read")
        e = {mode: gate_energy(design, syn.netlist, liberty, _spad_vectors(design, mode, spad_activity_cycles),
                               design.words,
                               wd, mode, OUTPUT_LOAD_PF) for mode in ("read", "write", "idle")}
        read, write, idle = (e[m].energy_per_cycle_pj for m in ("read", "write", "idle"))
        # Clock-gated register file: an idle word's flops are not clocked. The idle run (clock only)
        # is subtracted; a write adds back the clock energy of the one word it clocks.
        clock_per_flop = idle / max(syn.flops, 1)
        row.update(
            read_energy_pj=read - idle,
            write_energy_pj=write - idle + clock_per_flop * design.bits,
            idle_clock_energy_pj=idle,
            energy_pj="", leakage_uw=sta.leakage_uw,
            critical_path_ns=max(sta.critical_path_ns, 0.0),
            sta_s=sta.seconds, gatesim_s=sum(x.seconds for x in e.values()),
        )
    else:
        sta = power(design, syn, liberty, wd, "realistic")
        vectors = stream(design, activity_cycles, "realistic", ACTIVITY_SEED)
        warmup = 1 if design.kind == "reg" else PE_WARMUP_CYCLES
        g = gate_energy(design, syn.netlist, liberty, vectors, warmup, wd, "realistic", OUTPUT_LOAD_PF)
        row.update(read_energy_pj="", write_energy_pj="", idle_clock_energy_pj="",
                   energy_pj=g.energy_per_cycle_pj, energy_sta_pj=sta.dynamic_energy_pj,
                   leakage_uw=sta.leakage_uw, critical_path_ns=sta.critical_path_ns, sta_s=sta.seconds,
                   gatesim_s=g.seconds)
    row.update(synth_s=syn.seconds, sim_s=sim_s)
    return row


PE_WARMUP_CYCLES = REDUCTION  # the first reduction is not counted (state settles; whole reductions counted)


def _spad_vectors(design, mode: str, cycles: int) -> list[dict]:
    """A scratchpad stream for gate-level power: first every word written with realistic data (so that
    reads see defined values; not counted), then ``cycles`` cycles of ``mode``."""
    init = stream(design, design.words, "write", ACTIVITY_SEED + 1)
    for i, v in enumerate(init):
        v["waddr"] = i
    return init + stream(design, cycles, mode, ACTIVITY_SEED)


def run_flow(sweep: Sweep = FULL_SWEEP, liberty: Path | str | None = None, workdir: Path | None = None,
             progress: Callable[[str], None] | None = None, node_nm: float | None = None) -> FlowResult:
    """Characterize every design of ``sweep`` and fit the models.

    Parameters
    ----------
    sweep : the designs (:data:`FULL_SWEEP` is what ships; :data:`REDUCED_SWEEP` is the quick one)
    liberty : a liberty file; default the OSU018 one from Debian's ``qflow-tech-osu018``
    workdir : where logs, netlists and scripts go (kept); default a fresh temporary folder
    progress : called with one line per finished design
    node_nm : the liberty's process node (needed for any liberty but OSU018; see :func:`process_for`)

    Returns
    -------
    FlowResult with ``rows`` (one dict per design, the CSV columns), ``fits`` and ``meta``.
    """
    lib = check_liberty(liberty)
    process = process_for(lib, node_nm)
    versions = tool_versions()
    workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="qf-characterize-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    t_all = time.perf_counter()
    for design, role in _designs(sweep):
        row = characterize_design(design, role, lib, workdir, sweep.verify_cycles, sweep.activity_cycles,
                                  sweep.spad_activity_cycles)
        rows.append(row)
        if progress:
            progress(f"{design.name:<18} {role:<8} area {row['area_um2']:>11.0f} um2  synth {row['synth_s']:5.2f} s")
    meta = {
        "date": _dt.date.today().isoformat(),
        "liberty": str(lib), "liberty_name": liberty_name(lib),
        "tools": versions, "workdir": str(workdir), "seconds": time.perf_counter() - t_all,
        "sweep": sweep, "process": process,
    }
    result = FlowResult(rows, {}, meta)
    result.fits = fit_rows(rows)
    return result


def fit_rows(rows: list[dict]) -> dict:
    """Fit every metric of every kind on the rows whose role is ``fit``."""
    fits = {}
    kinds = sorted({r["kind"] for r in rows if r["kind"] != "spad"})
    for kind in kinds:
        rs = sorted((r for r in rows if r["kind"] == kind and r["role"] == "fit"), key=lambda r: r["bits"])
        if not rs:
            continue
        for m in metrics_of(kind):
            fits[kind, m] = _fit.fit_bits([r["bits"] for r in rs], [float(r[m]) for r in rs])
    rs = [r for r in rows if r["kind"] == "spad" and r["role"] == "fit"]
    if len(rs) >= 5:
        for m in SPAD_METRICS:
            fits["spad", m] = _fit.fit_spad([r["words"] for r in rs], [r["bits"] for r in rs],
                                            [float(r[m]) for r in rs])
    return fits


def holdout_errors(result: FlowResult) -> list[dict]:
    """Relative error of every fit on every held-out design: ``(pred - measured) / measured``."""
    out = []
    for r in result.rows:
        if r["role"] != "holdout":
            continue
        for m in metrics_of(r["kind"]):
            f = result.fits.get((r["kind"], m))
            if f is None:
                continue
            pred = float(f(r["words"], r["bits"]) if r["kind"] == "spad" else f(r["bits"]))
            meas = float(r[m])
            out.append({"kind": r["kind"], "bits": r["bits"], "words": r["words"], "metric": m,
                        "measured": meas, "predicted": pred, "rel_error": (pred - meas) / meas})
    return out


# ----------------------------------------------------------------------------- outputs

CSV_COLUMNS = ("kind", "bits", "words", "role", "accumulator_bits", "weight_bits", "verified_samples",
               "area_um2", "cells", "flops", "critical_path_ns", "energy_pj", "read_energy_pj",
               "write_energy_pj", "idle_clock_energy_pj", "energy_sta_pj", "leakage_uw", "synth_s", "sta_s",
               "sim_s", "gatesim_s")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def results_csv(result: FlowResult, command: str) -> str:
    m = result.meta
    sw = m.get("sweep", FULL_SWEEP)
    buf = io.StringIO()
    buf.write(
        f"# quidam-fast characterization results: one row per generated design (role fit: used in the fits;\n"
        f"#   role measured: not fitted, its values used as they are (2-bit ternary operands);\n"
        f"#   role holdout: only used to measure interpolation error).\n"
        f"# produced by: {command}\n"
        f"# date: {m['date']}\n"
        f"# tools: {'; '.join(f'{k}: {v}' for k, v in m['tools'].items())}\n"
        f"# liberty: {m['liberty_name']} ({m['liberty']}), nominal corner {m['process'].vdd_v:g} V\n"
        f"# synthesis: yosys synth -flatten; dfflibmap; abc -D {CLOCK_PERIOD_NS * 1000:.0f} -script {ABC_SCRIPT}\n"
        f"#   (structural mapping, buffering, sizing; see quidam_fast.characterize.synth); area = yosys stat -liberty (cell area only)\n"
        f"# constraints (OpenSTA): clock clk period {CLOCK_PERIOD_NS} ns; input/output delay 0; output load\n"
        f"#   {OUTPUT_LOAD_PF} pF; ideal input drivers; no wire load. critical_path_ns = period - worst setup slack.\n"
        f"# energy (energy_pj, read/write_energy_pj): gate-level simulation of the mapped netlist (iverilog\n"
        f"#   -gspecify with the liberty package's Verilog cell models, typical intrinsic delays, so glitches\n"
        f"#   count) on a realistic operand stream ({sw.activity_cycles} cycles for PEs, first {PE_WARMUP_CYCLES} not counted;\n"
        f"#   scratchpads: every word written first, then {sw.spad_activity_cycles} cycles per mode at consecutive addresses), the netlist's outputs checked\n"
        f"#   against the Python reference; per net transition 0.5 C Vdd^2 (C = fan-out pin caps + {OUTPUT_LOAD_PF} pF on\n"
        f"#   outputs) + the liberty internal_power energy of the transition (see quidam_fast.characterize.gatesim).\n"
        f"#   Energy per operation = per clock cycle (one MAC / one access per cycle). Scratchpads: read/write\n"
        f"#   energy per access with the idle (clock-only) energy subtracted, a write adding back the clock\n"
        f"#   energy of one word (clock-gated register file); idle_clock_energy_pj = ungated clock energy per cycle.\n"
        f"#   energy_sta_pj: OpenSTA 2.0.17's estimate from input-port activity propagated statistically (kept for\n"
        f"#   comparison, not fitted). gatesim_s: gate-level simulation + energy time.\n"
        f"# verified_samples: output samples checked against the Python reference in iverilog before synthesis.\n"
        f"# units: um2, ns, pJ, uW, seconds.\n"
    )
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in result.rows:
        w.writerow({k: _fmt(r.get(k, "")) for k in CSV_COLUMNS})
    return buf.getvalue()


def read_results_csv(path: Path) -> list[dict]:
    """Read a results CSV back into rows (numbers as numbers), e.g. to refit without synthesizing."""
    with open(path) as f:
        lines = [line for line in f if not line.startswith("#")]
    rows = []
    for r in csv.DictReader(lines):
        row = {}
        for k, v in r.items():
            if k in ("kind", "role") or v == "":
                row[k] = v
            elif k in ("bits", "words", "cells", "flops", "verified_samples", "accumulator_bits", "weight_bits"):
                row[k] = int(v)
            else:
                row[k] = float(v)
        rows.append(row)
    return rows


def _poly_str(coef) -> str:
    return "[" + ", ".join(f"{c:.6g}" for c in coef) + "]"


def _terms_str(terms) -> str:
    return "[" + ", ".join(f"[{c:.6g}, {pw}, {pb}]" for c, pw, pb in terms) + "]"


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}%"


def fit_report(result: FlowResult, command: str) -> str:
    m = result.meta
    held = holdout_errors(result)
    lines = [
        "# Characterization fit report (generated; do not edit)",
        "",
        (f"Produced by `{command}` on {m['date']} with {', '.join(m['tools'].values())}; liberty "
         f"`{m['liberty_name']}`. Raw data: `results.csv` (same folder). Flow wall time {m['seconds']:.0f} s."
         if m.get("seconds") is not None else
         f"Refit by `{command}` on {m['date']} from the measurements in `results.csv` (same folder), made by "
         f"`{m['measured_by']}` on {m['measured_date']} with {', '.join(m['tools'].values())}; liberty "
         f"`{m['liberty_name']}`. No design was resynthesized."),
        "",
        "Fits minimize relative squared error; the degree (PEs: 1..3 in bits) or term set (scratchpads) "
        "with the smallest RMS leave-one-out (LOO) relative error is chosen (PEs: over the interior widths, "
        "since a fit is only used between its end widths; the LOO columns below list every width). Held-out "
        "designs are never used in a fit: their error is the interpolation error. Measured-point designs "
        "(2 bits) are not fitted either: the technology file carries their values as they are.",
        "",
        "## How dynamic energy is measured",
        "",
        "Gate-level simulation, not OpenSTA: OpenSTA 2.0.17 cannot read VCD/SAIF or per-pin activities and "
        "propagates input-port activity statistically, which over-counted deep logic (its LightPE-1 came out "
        "above INT8) and was not smooth in bit width (column `energy_sta_pj` of the CSV keeps its figures for "
        "comparison). Each mapped netlist is simulated in iverilog with the liberty package's Verilog cell "
        "models and their typical intrinsic path delays (`-gspecify`, so glitches are simulated) on the "
        "realistic operand stream, its outputs checked against the Python reference; every rising and "
        "falling transition of every net is counted from a VCD. Energy = sum over transitions of "
        "0.5 x C x Vdd^2 (C = fan-out input-pin capacitances from the liberty, + the output load on primary "
        "outputs, no wire capacitance) + the liberty `internal_power` energy of that transition (rise or "
        "fall table, averaged over related pins, at the net's load and the related input's slew; passive "
        "tables for flip-flop CLK/D pins), divided by the counted clock cycles (one operation per cycle). "
        "Primary-input nets and the clock net are included (charging the PE's own input pins and clock "
        "pins is the PE's energy); there is no clock tree. Slews come from the liberty transition tables "
        "iterated to a fixed point; table look-ups clamp at the table edges. Cell delays are load-"
        "independent in the Verilog models, so the amount of glitching is an approximation. Leakage and "
        "critical path still come from OpenSTA. Validation (tests/test_characterize_gatesim.py): an "
        "inverter chain's energy grows exactly linearly with its length, and its switching part equals "
        "OpenSTA's within 0.2%; OpenSTA 2.0.17's internal energy there is twice the per-transition table value "
        "(it charges rise + fall energy per transition), which this method does not copy.",
        "",
    ]
    lines += _pe_energy_table(result.rows)
    lines += [
        "## PE and register models (polynomials in bits, ascending powers)",
        "",
        "`reg` is a systolic PE's pipeline register (`q <= d` every cycle; its `energy_pj` is per cycle "
        "written; it is read by wire).",
        "",
        "| kind | metric | degree | coefficients | in-sample max | LOO RMS | LOO max | held-out max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (kind, metric), f in sorted(result.fits.items()):
        if kind == "spad":
            continue
        loo = np.array(f.loo_rel_errors)
        hmax = [abs(h["rel_error"]) for h in held if h["kind"] == kind and h["metric"] == metric]
        lines.append(
            f"| {kind} | {metric} | {f.degree} | {_poly_str(f.coef)} | {_pct(max(f.fit_rel_errors))} | "
            f"{_pct(float(np.sqrt(np.nanmean(loo**2))) if not np.all(np.isnan(loo)) else float('nan'))} | "
            f"{_pct(float(np.nanmax(loo)) if not np.all(np.isnan(loo)) else float('nan'))} | "
            f"{_pct(max(hmax)) if hmax else 'n/a'} |"
        )
    fp_bits = sorted(r["bits"] for r in result.rows if r["kind"] == "fp")
    lines += ["", f"fp is characterized at {', '.join(map(str, fp_bits))} bits only: its model passes through "
              "those formats (a line through two, a constant at one); no LOO is possible.", ""]
    lines += _measured_table(result)
    lines += _timing_section(result)
    lines += _network_section(result)
    lines += ["## Scratchpad models (terms [coef, power of words, power of bits])", "",
              "| metric | terms | in-sample max | LOO RMS | LOO max | held-out max |", "|---|---|---|---|---|---|"]
    for (kind, metric), f in sorted(result.fits.items()):
        if kind != "spad":
            continue
        loo = np.array(f.loo_rel_errors)
        hmax = [abs(h["rel_error"]) for h in held if h["kind"] == kind and h["metric"] == metric]
        lines.append(f"| {metric} | {_terms_str(f.terms)} | {_pct(max(f.fit_rel_errors))} | "
                     f"{_pct(float(np.sqrt(np.mean(loo**2))))} | {_pct(float(loo.max()))} | "
                     f"{_pct(max(hmax)) if hmax else 'n/a'} |")
    lines += ["", "## Held-out designs (interpolation error = (predicted - measured) / measured)", "",
              "| kind | bits | words | metric | measured | predicted | error |", "|---|---|---|---|---|---|---|"]
    for h in held:
        lines.append(f"| {h['kind']} | {h['bits']} | {h['words'] or ''} | {h['metric']} | {h['measured']:.5g} | "
                     f"{h['predicted']:.5g} | {_pct(h['rel_error'])} |")
    lines += ["", "## Bars (issue 3): area within 5%, energy within 10% on held-out widths", ""]
    for kind in sorted({h["kind"] for h in held}):
        for metric, bar in (("area_um2", 0.05), ("energy_pj", 0.10), ("read_energy_pj", 0.10), ("write_energy_pj", 0.10)):
            cases = [h for h in held if h["kind"] == kind and h["metric"] == metric]
            if not cases:
                continue
            worst = max(cases, key=lambda h: abs(h["rel_error"]))
            line = (f"- {kind} {metric}: worst held-out error {_pct(abs(worst['rel_error']))} "
                    f"({'meets' if abs(worst['rel_error']) <= bar else 'MISSES'} the {bar:.0%} bar)")
            if abs(worst["rel_error"]) > bar:
                line += f"; at {_design_label(worst)}, measured {worst['measured']:.4g}, beside " + _neighbours(result.rows, worst)
            lines.append(line)
    lines += ["", "## Time per design (seconds: yosys, OpenSTA, RTL check, gate-level power)", "",
              "| design | role | synth_s | sta_s | sim_s | gatesim_s |", "|---|---|---|---|---|---|"]
    for r in result.rows:
        name = f"spad {r['words']}x{r['bits']}" if r["kind"] == "spad" else f"{r['kind']} {r['bits']}"
        lines.append(f"| {name} | {r['role']} | {r['synth_s']:.2f} | {r['sta_s']:.2f} | {r['sim_s']:.2f} | "
                     f"{r.get('gatesim_s') or 0:.2f} |")
    return "\n".join(lines) + "\n"


def _measured_table(result: FlowResult) -> list[str]:
    """The designs carried as measured points, beside what the fitted polynomial would extrapolate."""
    measured = [r for r in result.rows if r["role"] == "measured"]
    if not measured:
        return []
    widths = ", ".join(map(str, sorted({r["bits"] for r in measured})))
    out = [f"## Measured points ({widths} bits: used as they are, not fitted)", "",
           "Two-bit operands are ternary (-1, 0, +1) and per-channel max scaling zeroes 87% of int2 weights: "
           "a regime of its own. These designs are characterized like every other but the technology file "
           "carries their measured values (`[pe.<type>.measured]`) instead of fitting them. The last column "
           "is what the fitted polynomial would extrapolate there.", "",
           "| pe_type | bits | metric | measured | polynomial | polynomial error |", "|---|---|---|---|---|---|"]
    for r in sorted(measured, key=lambda r: (r["kind"], r["bits"])):
        for metric in PE_METRICS:
            f = result.fits.get((r["kind"], metric))
            if f is None:
                continue
            meas, poly = float(r[metric]), float(f(r["bits"]))
            out.append(f"| {r['kind']} | {r['bits']} | {metric} | {meas:.5g} | {poly:.5g} | {_pct((poly - meas) / meas)} |")
    return out + [""]


TIMING_CHECK_CLOCKS_MHZ = (50.0, 100.0, 200.0)  # the default design space's clocks


def _timing_section(result: FlowResult) -> list[str]:
    """Why timing is carried as measured, and where the former polynomial would have decided otherwise."""
    out = ["## Timing: the measured critical path at every synthesized width", "",
           "The technology file carries OpenSTA's critical path of every synthesized width (fitted, held-out and "
           "measured designs) in `[pe.<type>.timing]`, and the engine interpolates linearly between widths, so at a "
           "synthesized width a design's validity at a clock is what the measurement says, and between two widths "
           "the model never refuses a clock period that both clear. The polynomial fits of `critical_path_ns` in the "
           "table above are kept for comparison only: the critical path of a synthesized netlist is not smooth in "
           f"width, and the fit decided validity wrongly at the widths below (clocks {', '.join(f'{c:g}' for c in TIMING_CHECK_CLOCKS_MHZ)} MHz). "
           f"Timing margin: {TIMING_MARGIN_NS:g} ns (`[timing] margin_ns`; the characterization's clock is ideal).", "",
           "| pe_type | bits | role | measured (ns) | former polynomial (ns) | clock where the polynomial was wrong |",
           "|---|---|---|---|---|---|"]
    wrong_rows = 0
    for r in sorted(result.rows, key=lambda r: (r["kind"], r["bits"])):
        f = result.fits.get((r["kind"], "critical_path_ns"))
        if r["kind"] in ("spad", "reg") or f is None:
            continue
        measured, poly = float(r["critical_path_ns"]), float(f(r["bits"]))
        wrong = [c for c in TIMING_CHECK_CLOCKS_MHZ
                 if (measured + TIMING_MARGIN_NS <= 1000.0 / c) != (poly + TIMING_MARGIN_NS <= 1000.0 / c)]
        if wrong:
            wrong_rows += 1
            out.append(f"| {r['kind']} | {r['bits']} | {r['role']} | {measured:.4g} | {poly:.4g} | "
                       + ", ".join(f"{c:g} MHz ({'valid' if measured <= 1000.0 / c else 'invalid'} as measured)" for c in wrong)
                       + " |")
    if not wrong_rows:
        out.append("| (none) | | | | | |")
    return out + [""]


def _network_section(result: FlowResult) -> list[str]:
    """The entries of the technology file that are not fitted, and what they replaced (issue 11)."""
    process: Process = result.meta["process"]
    wire_pj = WIRE_TOGGLE_PROBABILITY * 0.5 * WIRE_PF_PER_MM * process.vdd_v ** 2
    glb, _ = _glb_points(result.fits.get(("spad", "leakage_uw")), process)
    at = {(c, w): e for c, w, e in zip(glb["capacity_bytes"], glb["width_bits"], glb["read_energy_pj"])}
    row_64k = at[65536, GLB_ROW_BITS]
    out = ["## Array network, buffer rows and DRAM (not fitted)", "",
           f"- Array network: the wire each transfer drives, {WIRE_PF_PER_MM:g} pF/mm (a minimum-pitch bus wire with "
           f"its neighbours) at the liberty's {process.vdd_v:g} V, toggling with probability {WIRE_TOGGLE_PROBABILITY:g}: "
           f"{wire_pj:.4g} pJ per bit per mm, times the distance on each design (the engine's floorplan: PE pitch from "
           "the PE's area, array sides from rows and columns, the buffer's side from its area; quidam_fast.kernels."
           "_network_mm)."]
    int_energy = result.fits.get(("int", "energy_pj"))
    if int_energy is not None:
        former = 2.0 * float(int_energy(16)) / 16
        out[-1] += (f" It replaces a price of {former:.3g} pJ/bit (Eyeriss's 'network = 2x a 16-bit MAC' applied to "
                    "this 180 nm MAC), as much as DRAM per bit and far above a buffer access per bit.")
    out += [f"- Global buffer: rows of {GLB_ROW_BITS} bits; a word of b bits costs b/{GLB_ROW_BITS} of a row access "
            f"(words packed in the order the array streams them): at 64 KiB a {GLB_ROW_BITS}-bit row read is "
            f"{row_64k:.4g} pJ, {row_64k / GLB_ROW_BITS:.3g} pJ/bit. Before, a narrow word was priced as a whole access "
            "at its own width (extrapolated below the table's 16 bits), several times its share of a row.",
            f"- DRAM: {HOROWITZ_DRAM_PJ_PER_64BIT / 64:.4g} pJ/bit (Horowitz ISSCC 2014, the low end), unchanged.",
            "- Refitting from the CSV (6 significant digits) moves fitted coefficients in their 5th-6th digit.", ""]
    return out


def _pe_energy_table(rows: list[dict]) -> list[str]:
    """Measured energy per MAC by PE type at 8 and 16 bits (gate-level, and OpenSTA's for comparison)."""
    e = {(r["kind"], r["bits"]): r for r in rows if r["kind"] != "spad"}
    out = ["Measured dynamic energy per MAC (pJ), gate-level simulation (OpenSTA's propagated estimate in "
           "parentheses):", "", "| bits | int | lightpe1 | lightpe2 | fp |", "|---|---|---|---|---|"]
    for bits in (4, 8, 16, 32):
        cells = []
        for kind in ("int", "lightpe1", "lightpe2", "fp"):
            r = e.get((kind, bits))
            if r is None or r.get("energy_pj") in ("", None):
                cells.append("")
                continue
            sta = r.get("energy_sta_pj")
            cells.append(f"{float(r['energy_pj']):.4g}" + (f" ({float(sta):.4g})" if sta not in ("", None) else ""))
        if any(cells):
            out.append(f"| {bits} | " + " | ".join(cells) + " |")
    return out + [""]


def _glb_points(spad_leak_fit, process: Process) -> tuple[dict, str]:
    """The SRAM global-buffer table at the liberty's node from CACTI's 90 nm rows (see :class:`Process`)."""
    rows = []
    with open(CACTI_CSV) as f:
        for r in csv.DictReader(line for line in f if not line.startswith("#")):
            if int(r["tech_nm"]) == CACTI_NODE_NM:
                rows.append(r)
    rows.sort(key=lambda r: (int(r["capacity_bytes"]), int(r["width_bits"])))
    # Leakage: Stillmaker & Baas model delay/energy, not leakage, and 90 nm itrs-hp at 360 K leaks far
    # more per bit than an older node; so CACTI's leakage shape is kept and calibrated to this liberty's
    # own measured leakage per stored bit (the fitted w*b term of the register-file leakage model).
    per_bit_uw_here = None
    if spad_leak_fit is not None:
        per_bit_uw_here = sum(c for c, pw, pb in spad_leak_fit.terms if (pw, pb) == (1, 1)) or None
    ref = next(r for r in rows if int(r["capacity_bytes"]) == 65536 and int(r["width_bits"]) == 64)
    per_bit_uw_cacti = float(ref["leakage_mw"]) * 1000 / (65536 * 8)
    leak_factor = per_bit_uw_here / per_bit_uw_cacti if per_bit_uw_here else 1.0
    area_factor, energy_factor = process.sram_area_factor, process.sram_energy_factor
    pts = {
        "capacity_bytes": [int(r["capacity_bytes"]) for r in rows],
        "width_bits": [int(r["width_bits"]) for r in rows],
        "read_energy_pj": [float(r["read_energy_pj"]) * energy_factor for r in rows],
        "write_energy_pj": [float(r["write_energy_pj"]) * energy_factor for r in rows],
        "leakage_mw": [float(r["leakage_mw"]) * leak_factor for r in rows],
        "area_mm2": [float(r["area_mm2"]) * area_factor for r in rows],
    }
    node, label = f"{process.node_nm:g}", process.label
    source = (
        f"CACTI 7 (HewlettPackard/cacti 1ffd8dfb, single-bank scratch RAM, itrs-hp, 360 K) {CACTI_NODE_NM} nm rows of "
        f"cacti-sram.csv (the engine's data folder), scaled to {node} nm with first-order node factors in the form of "
        f"Stillmaker & Baas, Integration 58 (2017): area x ({node}/{CACTI_NODE_NM})^2 = {area_factor:.1f}; energy per "
        f"access x ({node}/{CACTI_NODE_NM}) x ({process.vdd_v:g} V / {CACTI_VDD_V:g} V)^2 = {energy_factor:.1f} (their "
        "fitted per-node curves were not available offline; these are the constant-field factors). Leakage: "
        f"CACTI's shape calibrated to the {label} register-file leakage per bit measured here (x {leak_factor:.4g}), "
        f"because {CACTI_NODE_NM} nm itrs-hp leaks far more per bit than {node} nm. No SRAM compiler is available "
        f"for {label}."
    )
    return pts, source


def tech_toml(result: FlowResult, command: str) -> str:
    """The technology file the engine loads (schema: see quidam_fast.tech)."""
    f = result.fits
    m = result.meta
    sweep: Sweep = m["sweep"]
    process: Process = m["process"]
    node, label = f"{process.node_nm:g}", process.label
    out = [
        f'name = "{process.tech_name}"',
        f"node_nm = {node}",
        'summary = "PPA models fitted to open-tool synthesis (yosys + OpenSTA) of generated PE and scratchpad '
        f'RTL on the {label} {node} nm liberty; SRAM from CACTI scaled to {node} nm; wires from the library LEF; cited DRAM energy"',
        f'provenance = "{command} on {m["date"]}; {"; ".join(m["tools"].values())}; liberty {m["liberty_name"]}; '
        f'raw data characterization/results.csv, fit errors characterization/fit-report.md"',
        "",
    ]
    lines_src = (
        f"synthesis of quidam_fast.characterize.rtl designs (iverilog-verified) with yosys onto {label}, "
        "OpenSTA at a 10 ns clock for timing and leakage; energy per MAC from gate-level simulation of the "
        "netlist on realistic operand streams (per-net transitions x liberty capacitance and internal energy); "
        "degree by leave-one-out; see characterization/fit-report.md"
    )
    for kind in ("int", "lightpe1", "lightpe2", "fp"):
        if (kind, "area_um2") not in f:
            continue
        out.append(f"[pe.{kind}]")
        if kind == "fp":
            out.append(f"bits_values = {list(sweep.fp_bits)}")
            out.append("weight_bits = 0")
            out.append("accumulator_bits = [0.0, 1.0]")
        else:
            bits = sorted(r["bits"] for r in result.rows if r["kind"] == kind and r["role"] == "fit")
            out.append(f"bits_range = [{bits[0]}, {bits[-1]}]")
            out.append(f"weight_bits = {0 if kind == 'int' else weight_bits(kind, 8)}")
            a2, a3 = accumulator_bits(kind, 2), accumulator_bits(kind, 3)
            slope = a3 - a2
            out.append(f"accumulator_bits = [{float(a2 - 2 * slope)}, {float(slope)}]")
        out.append(f'source = "{lines_src}"')
        out.append(f"mac_area_um2 = {_poly_str(f[kind, 'area_um2'].coef)}")
        out.append(f"mac_energy_pj = {_poly_str(f[kind, 'energy_pj'].coef)}")
        out.append(f"mac_leakage_uw = {_poly_str(f[kind, 'leakage_uw'].coef)}")
        out.append("")
        measured = sorted((r for r in result.rows if r["kind"] == kind and r["role"] == "measured"),
                          key=lambda r: r["bits"])
        if measured:
            out.append(f"[pe.{kind}.measured]")
            out.append(f"bits = {[r['bits'] for r in measured]}")
            for key, column in (("mac_area_um2", "area_um2"), ("mac_energy_pj", "energy_pj"),
                                ("mac_leakage_uw", "leakage_uw")):
                out.append(f"{key} = [" + ", ".join(f"{float(r[column]):.6g}" for r in measured) + "]")
            out.append('source = "measured as they are, not fitted: ternary 2-bit operands are a regime of their '
                       'own (see Sweep.measured_bits in quidam_fast.characterize.flow)"')
            out.append("")
        timed = sorted((r for r in result.rows if r["kind"] == kind), key=lambda r: r["bits"])
        out.append(f"[pe.{kind}.timing]")
        out.append(f"bits = {[r['bits'] for r in timed]}")
        out.append("critical_path_ns = [" + ", ".join(f"{float(r['critical_path_ns']):.6g}" for r in timed) + "]")
        out.append('source = "OpenSTA critical path of every synthesized width (fitted, held-out and measured designs), '
                   'as measured; the engine interpolates linearly between widths. Not a polynomial: the critical path of a '
                   'synthesized netlist is not smooth in width (a fit missed measured widths by up to 15%); see '
                   'characterization/fit-report.md"')
        out.append("")
    if ("reg", "area_um2") in f:
        out += [
            "[register]",
            f"area_um2 = {_poly_str(f['reg', 'area_um2'].coef)}",
            f"write_energy_pj = {_poly_str(f['reg', 'energy_pj'].coef)}",
            f"leakage_uw = {_poly_str(f['reg', 'leakage_uw'].coef)}",
            'source = "synthesized pipeline registers (q <= d every cycle, quidam_fast.characterize.rtl.register_design) '
            f'on {label} at {min(sweep.reg_bits)}..{max(sweep.reg_bits)} bits; energy per cycle written from gate-level '
            'simulation on normal data; see characterization/fit-report.md"',
            "",
        ]
    spad_leak = f.get(("spad", "leakage_uw"))
    if ("spad", "area_um2") in f:
        out += [
            "[spad]",
            f"area_um2 = {_terms_str(f['spad', 'area_um2'].terms)}",
            f"read_energy_pj = {_terms_str(f['spad', 'read_energy_pj'].terms)}",
            f"write_energy_pj = {_terms_str(f['spad', 'write_energy_pj'].terms)}",
            f"leakage_uw = {_terms_str(f['spad', 'leakage_uw'].terms)}",
            f'source = "synthesized flip-flop register files (one write port, one read mux) on {label}; '
            "energies per access from gate-level simulation, assuming a clock-gated file (idle clock energy subtracted, a write adds one "
            'word of clock energy); see characterization/fit-report.md"',
            "",
        ]
    out += ["[timing]", f"margin_ns = {TIMING_MARGIN_NS:g}",
            'source = "no margin: the critical paths are OpenSTA\'s at the liberty\'s typical corner with an ideal '
            'clock (no clock tree, skew or jitter in the characterization), so a design is valid when the clock period '
            'is at least the measured critical path; raise margin_ns to derate"', ""]
    glb, glb_source = _glb_points(spad_leak, process)
    out.append("[glb]")
    for k in ("capacity_bytes", "width_bits"):
        out.append(f"{k} = {glb[k]}")
    for k in ("read_energy_pj", "write_energy_pj", "leakage_mw", "area_mm2"):
        out.append(f"{k} = [" + ", ".join(f"{v:.6g}" for v in glb[k]) + "]")
    out.append(f"row_bits = {GLB_ROW_BITS}")
    out += [f'source = "{glb_source} Rows of {GLB_ROW_BITS} bits (Eyeriss\'s buffer banks, JSSC 2017): a narrow word '
            'costs its share of a row access, words being packed in the order the array streams them"', ""]
    try:
        _, lef_note = wire_capacitance(Path(m["liberty"]))
        lef_note = f" The library's LEF, for a lone wire to ground (a lower bound): {lef_note}."
    except CharacterizationError:
        lef_note = ""
    out += ["[wire]", f"capacitance_pf_per_mm = {WIRE_PF_PER_MM:g}", f"vdd_v = {process.vdd_v:g}",
            f"toggle_probability = {WIRE_TOGGLE_PROBABILITY:g}",
            f'source = "a minimum-pitch signal wire in a bus, ground and both neighbours: about 0.2 fF/um, nearly the '
            'same at every node (Weste and Harris, CMOS VLSI Design, 4th ed., 2011, sec. 6.2.2; Ho, Mai and Horowitz, '
            'The future of wires, Proc. IEEE 89(4), 2001), so the node enters through Vdd, the liberty nom_voltage; a bit '
            f'toggles the wire with probability {WIRE_TOGGLE_PROBABILITY:g} (uncorrelated data). Energy per bit per mm = '
            f'toggle x C Vdd^2 / 2 = {WIRE_TOGGLE_PROBABILITY * 0.5 * WIRE_PF_PER_MM * process.vdd_v ** 2:.4g} pJ; '
            f'repeaters not counted.{lef_note}"', ""]
    out += ["[dram]", f"energy_pj_per_bit = {HOROWITZ_DRAM_PJ_PER_64BIT / 64:.6g}",
            'source = "Horowitz, ISSCC 2014: DRAM 1300-2600 pJ per 64-bit access (45 nm table); the low end, '
            'per bit. Not scaled: DRAM access energy is set by the DRAM device and interface, not the logic node"',
            ""]
    return "\n".join(out)


def output_paths(out: Path, tech_name: str = "characterized-osu018") -> dict[str, Path]:
    """Where :func:`write_outputs` puts the raw CSV, the fit report and the technology file."""
    out = Path(out)
    return {
        "csv": out / "characterization" / "results.csv",
        "report": out / "characterization" / "fit-report.md",
        "toml": out / "tech" / f"{tech_name}.toml",
    }


def _design_label(h: dict) -> str:
    return f"{h['bits']} bits" + (f" x {h['words']} words" if h.get("words") else "")


def _neighbours(rows: list[dict], h: dict) -> str:
    """The fitted designs nearest to a held-out one and their measured values: shows whether a miss is
    the model's or a step in the data itself."""
    same = [r for r in rows if r["kind"] == h["kind"] and r["role"] == "fit"
            and (not h.get("words") or r["bits"] == h["bits"])]
    axis = "words" if h.get("words") else "bits"
    below = [r for r in same if r[axis] < h[axis]]
    above = [r for r in same if r[axis] > h[axis]]
    near = ([max(below, key=lambda r: r[axis])] if below else []) + ([min(above, key=lambda r: r[axis])] if above else [])
    return ", ".join(f"{r[axis]} {axis}: {float(r[h['metric']]):.4g}" for r in near) + " (fitted, measured)"


REFIT_COMMAND = "quidam-fast characterize --refit-only --out core/data"


def refit(out: Path, command: str = REFIT_COMMAND, node_nm: float | None = None) -> dict[str, Path]:
    """Refit the models from ``<out>/characterization/results.csv`` without synthesizing anything.

    Rewrites the fit report and the technology file (the measurements, ``results.csv``, stay as they
    are); the liberty named in the CSV's header must still be installed (its supply and its LEF's wire
    capacitance go into the technology file). Returns the paths written.
    """
    csv_path = output_paths(out)["csv"]
    if not csv_path.is_file():
        raise CharacterizationError(f"--refit-only: no measurements at {str(csv_path)!r}; run the full "
                                    "characterization first (quidam-fast characterize --out FOLDER)")
    header = {}
    with open(csv_path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            key, _, value = line[1:].strip().partition(": ")
            header.setdefault(key, value)
    found = re.match(r"(\S+) \((.*)\), ", header.get("liberty", ""))
    if not found or "date" not in header or "tools" not in header:
        raise CharacterizationError(f"{str(csv_path)!r}: its header lacks the liberty, date or tools lines the "
                                    "characterization writes; regenerate it with quidam-fast characterize")
    liberty = check_liberty(found.group(2))
    rows = read_results_csv(csv_path)
    by_role = {role: sorted({r["bits"] for r in rows if r["kind"] in FULL_SWEEP.pe_types and r["role"] == role})
               for role in ("fit", "holdout", "measured")}
    sweep = dataclasses.replace(
        FULL_SWEEP, pe_bits=tuple(by_role["fit"] + by_role["measured"]), holdout_bits=tuple(by_role["holdout"]),
        measured_bits=tuple(by_role["measured"]),
        fp_bits=tuple(sorted(r["bits"] for r in rows if r["kind"] == "fp")),
        reg_bits=tuple(sorted(r["bits"] for r in rows if r["kind"] == "reg" and r["role"] == "fit")),
        reg_holdout=tuple(sorted(r["bits"] for r in rows if r["kind"] == "reg" and r["role"] == "holdout")))
    tools = dict(part.split(": ", 1) for part in header["tools"].split("; ") if ": " in part)
    meta = {"date": _dt.date.today().isoformat(), "measured_date": header["date"],
            "measured_by": header.get("produced by", "quidam-fast characterize"), "liberty": str(liberty),
            "liberty_name": found.group(1), "tools": tools, "workdir": None, "seconds": None, "sweep": sweep,
            "process": process_for(liberty, node_nm)}
    result = FlowResult(rows, fit_rows(rows), meta)
    texts = {"report": fit_report(result, command), "toml": tech_toml(result, command)}
    paths = output_paths(out, meta["process"].tech_name)
    for key, text in texts.items():
        write_text_atomically(paths[key], text)
    return {key: paths[key] for key in texts}


def write_outputs(result: FlowResult, out: Path, command: str = SHIPPED_COMMAND) -> dict[str, Path]:
    """Render all three outputs first, then move each into place (temp file + ``os.replace``)."""
    texts = {
        "csv": results_csv(result, command),
        "report": fit_report(result, command),
        "toml": tech_toml(result, command),
    }
    paths = output_paths(out, result.meta["process"].tech_name)
    for key in ("csv", "report", "toml"):
        write_text_atomically(paths[key], texts[key])
    return paths
