"""Synthesize one design with yosys onto a liberty, then time and power it with OpenSTA.

Flow and constraints (recorded in the results CSV header by :mod:`.flow`):

- yosys: ``synth -flatten``, ``dfflibmap`` and ``abc`` (:data:`ABC_SCRIPT`, ABC's structural mapper) against
  the liberty, ``opt_clean -purge``;
  area = yosys ``stat -liberty`` (sum of cell areas, no wiring, no placement utilization).
- OpenSTA: one clock on ``clk`` with period :data:`CLOCK_PERIOD_NS`, input and output delays 0,
  output load :data:`OUTPUT_LOAD_PF`, ideal input drivers, no wire-load model (the liberty has none).
  Critical path = period - worst setup slack (so it includes clock-to-q and setup time).
- Power: OpenSTA's leakage is used. Its dynamic estimate (``Power.dynamic_energy_pj``) propagates
  per-input-port toggle rates and duties measured on a realistic operand stream statistically through
  the netlist (OpenSTA 2.0.17 reads no VCD/SAIF and ``set_power_activity -pins`` fails with 'invalid
  command name get_pins_error'); it over-counts deep arithmetic and is not smooth in width, so the flow
  keeps it only for comparison (``energy_sta_pj``) and takes dynamic energy per operation from
  gate-level simulation instead (:mod:`quidam_fast.characterize.gatesim`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from .reference import bit_activity, stream
from .rtl import Design
from .tools import SynthesisError, find_tool, run_logged

CLOCK_PERIOD_NS = 10.0
OUTPUT_LOAD_PF = 0.01
ACTIVITY_CYCLES = 2048
# ABC's classic structural mapper (``map``) with the delay target, then buffering and gate sizing.
# Why not yosys's default choice-based script (``&fraig; dc2; &dch -f; &nf``): it finds netlists 0-20%
# smaller but scatters from one width to the next, so no smooth model in bit width can follow it. Measured
# on the accumulator alone (acc <= acc + x, cell area in um^2): widths 40/42/44/46 gave 12424/15823/16605/
# 14372 with the default script and 13803/14496/15358/16051 with ``map`` (rising by 690-860 per 2 bits from
# 26 to 56 bits, never falling); LightPE-1 at 2/3/4 bits gave 10847/10230/10741 and at 24/28/32 bits
# 22320/27354/26804. ``map`` keeps the front end's adder and shifter structure, so area follows the
# architecture's scaling. Buffering and sizing stay: without them a 256-word read mux keeps raddr's
# fanout unbuffered (92 ns path, 24 nJ per read, measured).
ABC_SCRIPT = "+strash;dretime;map,{D};buffer,-p;upsize,{D};dnsize,{D}"
ACTIVITY_SEED = 7


@dataclass(frozen=True)
class Synthesized:
    """A mapped netlist and its area."""

    netlist: Path
    area_um2: float
    cells: int
    flops: int
    seconds: float


@dataclass(frozen=True)
class Power:
    """One OpenSTA power run: per-cycle dynamic energy and leakage."""

    dynamic_energy_pj: float
    leakage_uw: float
    critical_path_ns: float
    seconds: float


def synthesize(design: Design, liberty: Path, workdir: Path) -> Synthesized:
    """Map ``design`` onto ``liberty`` with yosys in ``workdir`` (kept: Verilog, script, log, netlist)."""
    find_tool("yosys")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{design.name}.v").write_text(design.verilog)
    lib = str(Path(liberty).resolve())
    script = f"""\
read_verilog {design.name}.v
hierarchy -check -top {design.name}
synth -flatten -top {design.name}
dfflibmap -liberty {lib}
abc -D {int(CLOCK_PERIOD_NS * 1000)} -liberty {lib} -script {ABC_SCRIPT}
opt_clean -purge
setundef -zero
write_verilog -noattr -noexpr -nohex -nodec {design.name}.netlist.v
tee -q -o {design.name}.stat.txt stat -liberty {lib}
"""
    (workdir / f"{design.name}.ys").write_text(script)
    t0 = time.perf_counter()
    run_logged(["yosys", "-q", "-l", f"{design.name}.yosys.log", f"{design.name}.ys"],
               workdir / f"{design.name}.yosys.out", design.name, "yosys synthesis", workdir)
    seconds = time.perf_counter() - t0
    stat = (workdir / f"{design.name}.stat.txt").read_text()
    m = re.search(r"Chip area for module .*?:\s*([0-9.eE+-]+)", stat)
    n = re.search(r"Number of cells:\s*(\d+)", stat)
    if not m or not n:
        raise SynthesisError(f"yosys gave no area for design {design.name}; log kept at {workdir}")
    flops = sum(int(c) for c in re.findall(r"^\s+DFF\w*\s+(\d+)", stat, re.M))
    return Synthesized(workdir / f"{design.name}.netlist.v", float(m.group(1)), int(n.group(1)), flops, seconds)


def _activity_tcl(design: Design, vectors: list[dict]) -> str:
    lines = []
    for port, width in design.inputs:
        toggles, duty = bit_activity([v[port] for v in vectors], width)
        for b in range(width):
            name = port if width == 1 and port in ("clr", "we") else f"{port}[{b}]"
            lines.append(f"set_power_activity -input_ports [get_ports {{{name}}}] "
                         f"-activity {toggles[b]:.6f} -duty {duty[b]:.6f}")
    return "\n".join(lines) + "\n"


def power(design: Design, synthesized: Synthesized, liberty: Path, workdir: Path,
          mode: str = "realistic") -> Power:
    """Critical path, per-cycle dynamic energy and leakage of a netlist under ``mode``'s activity.

    ``mode`` is the stream kind: ``realistic`` for PEs, ``read`` or ``write`` for scratchpads.
    """
    find_tool("sta")
    vectors = stream(design, ACTIVITY_CYCLES, mode, ACTIVITY_SEED)
    lib = str(Path(liberty).resolve())
    tcl = f"""\
read_liberty {lib}
read_verilog {synthesized.netlist.name}
link_design {design.name}
create_clock -name clk -period {CLOCK_PERIOD_NS} [get_ports clk]
set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports clk]]
set_output_delay 0 -clock clk [all_outputs]
set_load {OUTPUT_LOAD_PF} [all_outputs]
{_activity_tcl(design, vectors)}report_worst_slack -digits 6
report_power -digits 8
"""
    script = workdir / f"{design.name}.{mode}.sta.tcl"
    script.write_text(tcl)
    t0 = time.perf_counter()
    out = run_logged(["sta", "-no_splash", "-exit", script.name], workdir / f"{design.name}.{mode}.sta.log",
                     design.name, "OpenSTA timing/power", workdir)
    seconds = time.perf_counter() - t0
    slack = re.search(r"worst slack\s+([-0-9.eE+]+)", out)
    total = re.search(r"^Total\s+([-0-9.eE+]+)\s+([-0-9.eE+]+)\s+([-0-9.eE+]+)\s+([-0-9.eE+]+)", out, re.M)
    if not slack or not total:
        raise SynthesisError(f"OpenSTA gave no slack/power for design {design.name}; log kept in {workdir}")
    internal, switching, leakage = (float(total.group(i)) for i in (1, 2, 3))
    return Power(
        dynamic_energy_pj=(internal + switching) * CLOCK_PERIOD_NS * 1e-9 * 1e12,
        leakage_uw=leakage * 1e6,
        critical_path_ns=CLOCK_PERIOD_NS - float(slack.group(1)),
        seconds=seconds,
    )
