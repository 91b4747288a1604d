"""Dynamic energy per operation from gate-level simulation of the mapped netlist.

OpenSTA 2.0.17 cannot read VCD/SAIF or per-pin activities; it propagates input-port activity
statistically through the netlist, which over-estimates activity in deep arithmetic (an 8-bit
LightPE-1 came out above an INT8 MAC) and is not smooth in bit width. So the flow measures activity
instead:

1. **Simulate** the yosys netlist (``write_verilog -noattr``) with iverilog against the liberty
   package's own Verilog cell models (``osu018_stdcells.v`` next to the ``.lib``), compiled with
   ``-gspecify`` so the cells' typical intrinsic path delays apply and glitches (spurious transitions
   inside a cycle, a large part of a multiplier's energy) are simulated. The clock period of the
   simulation is long (:data:`SIM_PERIOD_NS`) so that every cycle settles: dynamic energy per operation
   does not depend on the clock. The outputs are checked against the Python reference on the same
   stream: the netlist itself is verified, not only the RTL.
2. **Count** the rising and falling transitions of every net of the netlist after a warm-up, from a
   VCD dump of the design's scope (:func:`toggle_counts`).
3. **Energy** (liberty units: pF, V, energies in pJ = pF x V^2):

   - switching: each transition of a net costs ``0.5 x C x Vdd^2``, C = the sum of the input-pin
     capacitances the net drives (liberty ``capacitance``) plus :data:`OUTPUT_LOAD_PF` on each
     primary output; no wire capacitance (the liberty has no wire-load model, as in the OpenSTA runs).
     Primary input nets (operands, ``clr``, the clock) count too: charging the PE's own input pins is
     the PE's energy.
   - internal: each transition of a cell output costs that output's ``internal_power`` energy
     (``rise_power`` for a rising output, ``fall_power`` for a falling one), averaged over the arcs'
     related pins, looked up at the net's actual load and the related input net's slew; each transition
     of an input pin with its own (passive) ``internal_power`` table (flip-flop ``CLK`` and ``D``) costs
     that table's energy at the pin's slew.
   - slews: a net's slew is its driver's ``rise_transition``/``fall_transition`` (mean of rise and fall,
     averaged over arcs) at the net's load and the driver's input slews, iterated to a fixed point;
     primary inputs are ideal. Table look-ups are bilinear and clamp at the table edges (no
     extrapolation: an ideal input uses the table's smallest slew).

   Energy per operation = total over the counted window / number of clock cycles in it (one operation
   per cycle). Leakage and timing still come from OpenSTA.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .reference import expected_outputs
from .rtl import Design
from .sim import bench_ports, stimulus
from .tools import SynthesisError, find_tool, run_logged

SIM_PERIOD_NS = 40  # inputs change at 0, clock rises at CLOCK_RISE_NS, falls at CLOCK_FALL_NS
CLOCK_RISE_NS = 30
CLOCK_FALL_NS = 35
SLEW_ITERATIONS = 8


# ----------------------------------------------------------------------------- liberty


@dataclass
class Group:
    kind: str
    args: list[str]
    attrs: dict = field(default_factory=dict)
    groups: list = field(default_factory=list)

    def find(self, kind: str) -> list:
        return [g for g in self.groups if g.kind == kind]


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[(){}:;,]|[^\s(){}:;,"\\]+')


def _tokens(text: str) -> list[str]:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = text.replace("\\\n", " ")
    return _TOKEN.findall(text)


def _parse_group(tok: list[str], i: int, group: Group) -> int:
    n = len(tok)
    while i < n:
        t = tok[i]
        if t == "}":
            return i + 1
        if t == ";":
            i += 1
            continue
        if i + 1 < n and tok[i + 1] == ":":
            j = i + 2
            vals = []
            while tok[j] != ";" and tok[j] != "}":
                vals.append(tok[j])
                j += 1
            group.attrs[t] = " ".join(v.strip('"') for v in vals)
            i = j
            continue
        if i + 1 < n and tok[i + 1] == "(":
            j = i + 2
            args = []
            while tok[j] != ")":
                if tok[j] != ",":
                    args.append(tok[j].strip('"'))
                j += 1
            j += 1
            if j < n and tok[j] == "{":
                sub = Group(t, args)
                group.groups.append(sub)
                i = _parse_group(tok, j + 1, sub)
            else:  # complex attribute: name (args);
                group.attrs[t] = args
                i = j
            continue
        i += 1  # stray token
    return i


def _floats(s) -> np.ndarray:
    if isinstance(s, list):
        return np.array([[float(x) for x in item.split(",")] for item in s], dtype=float)
    return np.array([float(x) for x in s.split(",")], dtype=float)


@dataclass
class Table:
    """A liberty look-up table over (load capacitance, input slew); 1-D tables vary with slew only."""

    cap_index: np.ndarray | None
    slew_index: np.ndarray
    values: np.ndarray  # shape (len(cap), len(slew)) or (len(slew),)

    def __call__(self, cap: float, slew: float) -> float:
        s = float(np.clip(slew, self.slew_index[0], self.slew_index[-1]))
        if self.cap_index is None:
            return float(np.interp(s, self.slew_index, self.values))
        c = float(np.clip(cap, self.cap_index[0], self.cap_index[-1]))
        row = np.array([np.interp(s, self.slew_index, self.values[k]) for k in range(len(self.cap_index))])
        return float(np.interp(c, self.cap_index, row))


@dataclass
class PinModel:
    direction: str
    capacitance: float = 0.0
    # output pins: related pin -> (rise energy table, fall energy table)
    energy: dict = field(default_factory=dict)
    # output pins: related pin -> (rise transition table, fall transition table)
    transition: dict = field(default_factory=dict)
    # input pins: passive (rise, fall) energy table, or None
    passive: tuple | None = None


@dataclass
class LibertyModel:
    name: str
    vdd: float
    cells: dict  # cell name -> {pin name -> PinModel}


def _table(group: Group, templates: dict) -> Table:
    tmpl = templates.get(group.args[0] if group.args else "", {})
    variables = [tmpl.get("variable_1"), tmpl.get("variable_2")]
    idx1 = _floats(group.attrs["index_1"][0]) if "index_1" in group.attrs else None
    idx2 = _floats(group.attrs["index_2"][0]) if "index_2" in group.attrs else None
    values = _floats(group.attrs["values"])
    if idx2 is None:  # one variable: input slew
        if variables[0] not in ("input_transition_time", "input_net_transition"):
            raise SynthesisError(f"liberty table template {group.args} varies with {variables[0]}; not supported")
        return Table(None, idx1, values.ravel())
    if variables[0] == "total_output_net_capacitance":
        return Table(idx1, idx2, values)
    if variables[1] == "total_output_net_capacitance":
        return Table(idx2, idx1, values.T)
    raise SynthesisError(f"liberty table template {group.args} has variables {variables}; not supported")


@lru_cache(maxsize=4)
def load_liberty(path: str) -> LibertyModel:
    """Parse the pin capacitances, internal-energy and transition tables of a liberty file."""
    root = Group("root", [])
    _parse_group(_tokens(Path(path).read_text(errors="replace")), 0, root)
    lib = root.find("library")
    if not lib:
        raise SynthesisError(f"{path} has no library group")
    lib = lib[0]
    templates = {g.args[0]: g.attrs for g in lib.groups if g.kind in ("lu_table_template", "power_lut_template")}
    cap_unit = lib.attrs.get("capacitive_load_unit", ["1", "pf"])
    if [c.lower() for c in cap_unit] != ["1", "pf"]:
        raise SynthesisError(f"liberty {path}: capacitive_load_unit {cap_unit} not supported (expected 1 pf)")
    vdd = float(lib.attrs.get("nom_voltage", 0) or 0)
    for oc in lib.find("operating_conditions"):
        vdd = float(oc.attrs.get("voltage", vdd))
    if vdd <= 0:
        raise SynthesisError(f"liberty {path} gives no supply voltage (nom_voltage)")
    cells = {}
    for cell in lib.find("cell"):
        pins = {}
        for pin in cell.find("pin"):
            pm = PinModel(pin.attrs.get("direction", ""), float(pin.attrs.get("capacitance", 0) or 0))
            for ip in pin.find("internal_power"):
                rise, fall = ip.find("rise_power"), ip.find("fall_power")
                if not rise or not fall:
                    continue
                pair = (_table(rise[0], templates), _table(fall[0], templates))
                related = ip.attrs.get("related_pin")
                if related is None:
                    pm.passive = pair
                else:
                    pm.energy.setdefault(related, []).append(pair)
            for tg in pin.find("timing"):
                rt, ft = tg.find("rise_transition"), tg.find("fall_transition")
                if rt and ft and "related_pin" in tg.attrs:
                    pm.transition[tg.attrs["related_pin"]] = (_table(rt[0], templates), _table(ft[0], templates))
            pins[pin.args[0]] = pm
        cells[cell.args[0]] = pins
    return LibertyModel(lib.args[0] if lib.args else Path(path).stem, vdd, cells)


def cell_models(liberty: Path) -> Path:
    """The Verilog cell models shipped next to the liberty (``<name>.v``), or a clear error."""
    liberty = Path(liberty)
    candidate = liberty.with_suffix(".v")
    if candidate.is_file():
        return candidate
    raise SynthesisError(
        f"no Verilog cell models {candidate} next to liberty {liberty}: gate-level power needs them "
        f"(Debian's qflow-tech-osu018 ships osu018_stdcells.v beside osu018_stdcells.lib)"
    )


# ----------------------------------------------------------------------------- netlist


@dataclass
class Netlist:
    module: str
    widths: dict  # wire name -> (msb, lsb) for vectors, None for scalars
    inputs: list
    outputs: list
    cells: list  # (cell type, instance, {pin: net bit name or None for a constant})

    def bits(self, name: str) -> list[str]:
        r = self.widths.get(name)
        if r is None:
            return [name]
        msb, lsb = r
        step = -1 if msb >= lsb else 1
        return [f"{name}[{i}]" for i in range(msb, lsb + step, step)]


_DECL = re.compile(r"^\s*(input|output|wire|inout)\s+(?:\[(\d+):(\d+)\]\s+)?([\w$\\.\[\]]+)\s*;", re.M)
_CELL = re.compile(r"^\s*(\w+)\s+([\w$\\.\[\]]+)\s*\((.*?)\);", re.M | re.S)
_CONN = re.compile(r"\.(\w+)\(([^()]*)\)")


def parse_netlist(path: Path) -> Netlist:
    """Parse a flat yosys ``write_verilog -noattr -noexpr`` netlist (one module, cell instances)."""
    text = Path(path).read_text()
    m = re.search(r"^module\s+(\w+)", text, re.M)
    if not m:
        raise SynthesisError(f"no module in netlist {path}")
    body = text[m.end():]
    body = body[body.index(";") + 1: body.rindex("endmodule")]
    widths, inputs, outputs = {}, [], []
    for kind, msb, lsb, name in _DECL.findall(body):
        widths[name] = (int(msb), int(lsb)) if msb else None
        if kind == "input":
            inputs.append(name)
        elif kind == "output":
            outputs.append(name)
    if re.search(r"^\s*assign\b", body, re.M):
        raise SynthesisError(f"netlist {path} has assign statements; gate-level power expects a pure cell netlist")
    cells = []
    for ctype, inst, conns in _CELL.findall(body):
        if ctype in ("input", "output", "wire", "inout", "assign"):
            continue
        pins = {}
        for pin, expr in _CONN.findall(conns):
            expr = expr.strip()
            pins[pin] = None if re.fullmatch(r"\d*'[bBhHdD][0-9a-fA-FxXzZ]+", expr) or not expr else expr
        cells.append((ctype, inst, pins))
    return Netlist(m.group(1), widths, inputs, outputs, cells)


# ----------------------------------------------------------------------------- simulation


def _testbench(design: Design, cycles: int, warmup: int) -> str:
    b = bench_ports(design)
    return f"""\
`timescale 1ns/10ps
module tb;
  reg clk = 1'b0;
  reg [{b.total - 1}:0] vec [0:{cycles - 1}];
  reg [{b.total - 1}:0] cur;
{b.wires}  {design.name} dut (.clk(clk), {b.conns});
  integer i, f;
  initial begin
    $readmemh("stim.hex", vec);
    f = $fopen("out.txt", "w");
    for (i = 0; i < {cycles}; i = i + 1) begin
      cur = vec[i];
      #{CLOCK_RISE_NS - 1} $fdisplay(f, "{b.fmt}", {b.outs});
      #1 clk = 1'b1;
      #{CLOCK_FALL_NS - CLOCK_RISE_NS} clk = 1'b0;
      #1;
      if (i == {warmup - 1}) begin  // start counting with the next cycle's input change, all settled
        $dumpfile("act.vcd");
        $dumpvars(1, tb.dut);
      end
      #{SIM_PERIOD_NS - CLOCK_FALL_NS - 1};
    end
    $fclose(f);
    $finish;
  end
endmodule
"""


def toggle_counts(vcd: Path) -> tuple[dict, dict]:
    """Rising and falling transitions per net bit (``name`` or ``name[i]``) of the dumped scope.

    The initial ``$dumpvars`` values are the starting state, not transitions; changes to or from
    ``x``/``z`` are not counted.
    """
    data = Path(vcd).read_bytes()
    head, sep, rest = data.partition(b"$enddefinitions")
    if not sep:
        raise SynthesisError(f"{vcd} is not a VCD file")
    ids: dict[bytes, list] = {}  # id -> [(name, width, msb, lsb)]
    for m in re.finditer(rb"\$var\s+\w+\s+(\d+)\s+(\S+)\s+(\S+)(?:\s+\[(\d+)(?::(\d+))?\])?\s+\$end", head):
        width, code, name = int(m.group(1)), m.group(2), m.group(3).decode()
        if width == 1:
            bit = f"{name}[{m.group(4).decode()}]" if m.group(4) is not None else name
            ids.setdefault(code, []).append((bit, 1, 0, 0))
        else:
            msb = int(m.group(4)) if m.group(4) else width - 1
            lsb = int(m.group(5)) if m.group(5) else 0
            ids.setdefault(code, []).append((name, width, msb, lsb))
    rest = rest.partition(b"$end")[2]  # past "$enddefinitions $end"
    init_start = rest.find(b"$dumpvars")
    init = b""
    if init_start >= 0:
        init_end = rest.index(b"$end", init_start)
        init = rest[init_start + len(b"$dumpvars"): init_end]
        rest = rest[init_end + 4:]
    lines = rest.split(b"\n")
    counts = Counter(lines)
    rise: dict[str, int] = defaultdict(int)
    fall: dict[str, int] = defaultdict(int)
    scalar_codes = {c for c, v in ids.items() if v[0][1] == 1}
    for line, n in counts.items():
        if not line:
            continue
        c0 = line[:1]
        if c0 in (b"0", b"1"):
            code = line[1:].strip()
            if code in scalar_codes:
                for bit, *_ in ids[code]:
                    (rise if c0 == b"1" else fall)[bit] += n
    # scalars: a change to 0 after x is not a transition; the dump starts after warm-up, so x only
    # precedes the first value. Subtract changes whose previous value was x.
    prev_x = _x_preceded(lines, init, scalar_codes)
    for code, (to1, to0) in prev_x.items():
        for bit, *_ in ids[code]:
            rise[bit] -= to1
            fall[bit] -= to0
    # vectors: per bit, in order
    vec_codes = {c for c, v in ids.items() if v[0][1] > 1}
    if vec_codes:
        last: dict[bytes, str] = {}
        for line in init.split(b"\n"):
            line = line.strip()
            if line[:1] in (b"b", b"B"):
                val, _, code = line[1:].partition(b" ")
                last[code] = val.decode()
        seq: dict[bytes, list] = defaultdict(list)
        for line in lines:
            if line[:1] in (b"b", b"B"):
                val, _, code = line[1:].partition(b" ")
                code = code.strip()
                if code in vec_codes:
                    seq[code].append(val.decode())
        for code, vals in seq.items():
            for name, width, msb, lsb in ids[code]:
                start = last.get(code, "x")
                mat = np.array([list(_extend(v, width)) for v in [start, *vals]])
                before, after = mat[:-1], mat[1:]
                r = ((before == "0") & (after == "1")).sum(axis=0)
                f_ = ((before == "1") & (after == "0")).sum(axis=0)
                step = -1 if msb >= lsb else 1
                for k, idx in enumerate(range(msb, lsb + step, step)):
                    rise[f"{name}[{idx}]"] += int(r[k])
                    fall[f"{name}[{idx}]"] += int(f_[k])
    return dict(rise), dict(fall)


def _extend(v: str, width: int) -> str:
    if len(v) >= width:
        return v[-width:]
    pad = v[0] if v[0] in "xXzZ" else "0"
    return pad * (width - len(v)) + v


def _x_preceded(lines: list[bytes], init: bytes, scalar_codes: set) -> dict:
    """Per scalar code, the number of 0/1 changes whose previous value was x or z (usually none)."""
    state = {}
    for line in init.split(b"\n"):
        line = line.strip()
        if line[:1] in (b"0", b"1", b"x", b"z", b"X", b"Z") and line[1:] in scalar_codes:
            state[line[1:]] = line[:1]
    xs = {c for c, v in state.items() if v not in (b"0", b"1")}
    if not xs and not any(line[:1] in (b"x", b"z", b"X", b"Z") for line in lines):
        return {}
    out: dict = defaultdict(lambda: [0, 0])
    for line in lines:
        c0 = line[:1]
        if c0 in (b"0", b"1", b"x", b"z", b"X", b"Z"):
            code = line[1:].strip()
            if code not in scalar_codes:
                continue
            if state.get(code, b"x") not in (b"0", b"1") and c0 in (b"0", b"1"):
                out[code][0 if c0 == b"1" else 1] += 1
            state[code] = c0
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True)
class GateEnergy:
    """Gate-level dynamic energy of one stream."""

    energy_per_cycle_pj: float
    switching_pj: float  # per cycle
    internal_pj: float  # per cycle
    cycles: int
    toggles_per_cycle: float  # net transitions per cycle (all nets)
    seconds: float


def simulate_netlist(design: Design, netlist: Path, liberty: Path, vectors: list[dict], warmup: int,
                     workdir: Path, tag: str, check: bool = True) -> tuple[dict, dict, int]:
    """Simulate the netlist on ``vectors`` (timed, cell models from the liberty package); per net bit,
    rising and falling transitions counted from cycle ``warmup`` on, and the number of counted cycles.
    With ``check``, the sampled outputs must match the Python reference from cycle ``warmup`` on."""
    if not 1 <= warmup < len(vectors):
        raise ValueError(f"warmup {warmup} must be in 1..{len(vectors) - 1}")
    find_tool("iverilog")
    find_tool("vvp")
    cells_v = cell_models(liberty)
    work = Path(workdir) / f"gatesim-{tag}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "stim.hex").write_text(stimulus(design, vectors))
    (work / "tb.v").write_text(_testbench(design, len(vectors), warmup))
    run_logged(["iverilog", "-g2005", "-gspecify", "-o", "gsim.vvp", "tb.v", str(cells_v),
                str(Path(netlist).resolve())], work / "iverilog.log", design.name, "iverilog gate-level compile", work)
    run_logged(["vvp", "-n", "gsim.vvp"], work / "vvp.log", design.name, "iverilog gate-level simulation", work)
    if check:
        got = (work / "out.txt").read_text().split("\n")[: len(vectors)]
        want = expected_outputs(design, vectors)
        for cycle in range(warmup, len(vectors)):
            fields = got[cycle].split()
            for (port, _), g, w in zip(design.outputs, fields, want[cycle]):
                if w is None:
                    continue
                if any(c in g for c in "xXzZ") or int(g, 16) != w:
                    raise SynthesisError(
                        f"gate-level netlist of {design.name} disagrees with its reference at cycle {cycle} "
                        f"({tag} stream): {port} = {g}, expected {w:x}; files kept in {work}")
    rise, fall = toggle_counts(work / "act.vcd")
    (work / "act.vcd").unlink()  # large; the counts are what matter
    return rise, fall, len(vectors) - warmup


def net_energy(netlist: Netlist, lib: LibertyModel, rise: dict, fall: dict, cycles: int,
               output_load_pf: float) -> GateEnergy:
    """Energy per cycle from per-net transition counts (see the module docstring for the model)."""
    load = defaultdict(float)
    sinks = defaultdict(list)  # net -> [(cell type, pin)]
    drivers = {}  # net -> (cell type, pin, {pin: net})
    for ctype, inst, pins in netlist.cells:
        model = lib.cells.get(ctype)
        if model is None:
            raise SynthesisError(f"cell {ctype} of the netlist is not in liberty {lib.name}")
        for pin, net in pins.items():
            if net is None:
                continue
            pm = model.get(pin)
            if pm is None:
                raise SynthesisError(f"cell {ctype} has no pin {pin} in liberty {lib.name}")
            if pm.direction == "output":
                drivers[net] = (ctype, pin, pins)
            else:
                load[net] += pm.capacitance
                sinks[net].append((ctype, pin))
    for port in netlist.outputs:
        for b in netlist.bits(port):
            load[b] += output_load_pf
    # slews: fixed point over driver transition tables
    slew = defaultdict(float)  # primary inputs: ideal (clamped to the tables' smallest slew)
    for _ in range(SLEW_ITERATIONS):
        new = defaultdict(float)
        for net, (ctype, pin, pins) in drivers.items():
            arcs = lib.cells[ctype][pin].transition
            vals = [0.5 * (rt(load[net], slew[pins.get(rel)]) + ft(load[net], slew[pins.get(rel)]))
                    for rel, (rt, ft) in arcs.items() if pins.get(rel) is not None]
            new[net] = float(np.mean(vals)) if vals else 0.0
        slew = new
    half_cv2 = 0.5 * lib.vdd**2
    switching = sum(load[n] * (rise.get(n, 0) + fall.get(n, 0)) for n in set(rise) | set(fall)) * half_cv2
    internal = 0.0
    for net, (ctype, pin, pins) in drivers.items():
        r, f = rise.get(net, 0), fall.get(net, 0)
        if not (r or f):
            continue
        arcs = lib.cells[ctype][pin].energy
        er, ef = [], []
        for rel, pairs in arcs.items():
            if pins.get(rel) is None:
                continue
            s = slew[pins[rel]]
            for rt, ft in pairs:
                er.append(rt(load[net], s))
                ef.append(ft(load[net], s))
        if er:
            internal += r * float(np.mean(er)) + f * float(np.mean(ef))
    for net, pins_in in sinks.items():
        r, f = rise.get(net, 0), fall.get(net, 0)
        if not (r or f):
            continue
        for ctype, pin in pins_in:
            passive = lib.cells[ctype][pin].passive
            if passive is not None:
                internal += r * passive[0](0.0, slew[net]) + f * passive[1](0.0, slew[net])
    toggles = sum(rise.values()) + sum(fall.values())
    return GateEnergy((switching + internal) / cycles, switching / cycles, internal / cycles, cycles,
                      toggles / cycles, 0.0)


def gate_energy(design: Design, netlist: Path, liberty: Path, vectors: list[dict], warmup: int,
                workdir: Path, tag: str, output_load_pf: float, check: bool = True) -> GateEnergy:
    """Simulate ``vectors`` on the netlist and return the dynamic energy per cycle."""
    t0 = time.perf_counter()
    rise, fall, cycles = simulate_netlist(design, netlist, liberty, vectors, warmup, workdir, tag, check)
    e = net_energy(parse_netlist(netlist), load_liberty(str(Path(liberty).resolve())), rise, fall, cycles,
                   output_load_pf)
    return GateEnergy(e.energy_per_cycle_pj, e.switching_pj, e.internal_pj, e.cycles, e.toggles_per_cycle,
                      time.perf_counter() - t0)
