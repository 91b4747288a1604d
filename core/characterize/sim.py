"""Simulate a generated design with iverilog and compare it against its Python reference model."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from .reference import expected_outputs, stream
from .rtl import Design
from .tools import SynthesisError, find_tool, run_logged


@dataclass(frozen=True)
class BenchPorts:
    """The pieces of a test bench that drives ``design`` from one packed input vector ``cur``."""

    total: int  # packed input width
    wires: str  # output wire declarations
    conns: str  # the port connections of the instance (without clk)
    outs: str  # output names for $fdisplay
    fmt: str  # $fdisplay format


def bench_ports(design: Design) -> BenchPorts:
    """Port plumbing shared by the RTL test bench here and the gate-level one of :mod:`.gatesim`."""
    total = sum(w for _, w in design.inputs)
    conns, hi = [], total
    for port, width in design.inputs:
        conns.append(f".{port}(cur[{hi - 1}:{hi - width}])")
        hi -= width
    wires = "".join(f"  wire [{w - 1}:0] {p};\n" for p, w in design.outputs)
    conns += [f".{p}({p})" for p, _ in design.outputs]
    return BenchPorts(total, wires, ", ".join(conns), ", ".join(p for p, _ in design.outputs),
                      " ".join("%h" for _ in design.outputs))


def pack(design: Design, vector: dict) -> int:
    """One input vector as the packed word the test benches read (ports in ``design.inputs`` order)."""
    word = 0
    for port, width in design.inputs:
        word = (word << width) | (vector[port] & ((1 << width) - 1))
    return word


def stimulus(design: Design, vectors: list[dict]) -> str:
    """The ``stim.hex`` text for ``$readmemh``: one packed vector per line."""
    digits = (sum(w for _, w in design.inputs) + 3) // 4
    return "".join(f"{pack(design, v):0{digits}x}\n" for v in vectors)


def testbench(design: Design, cycles: int) -> str:
    """A test bench that applies ``stim.hex`` one vector per cycle and writes outputs to ``out.txt``.

    Outputs are sampled 4 ns after the inputs change and 1 ns before the rising edge.
    """
    b = bench_ports(design)
    return f"""\
`timescale 1ns/1ps
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
      #4 $fdisplay(f, "{b.fmt}", {b.outs});
      #1 clk = 1'b1;
      #5 clk = 1'b0;
    end
    $fclose(f);
    $finish;
  end
endmodule
"""


def simulate(design: Design, vectors: list[dict], workdir: Path | None = None) -> list[tuple]:
    """Run ``vectors`` through the design in iverilog; per cycle, the sampled outputs (``None`` = x/z)."""
    find_tool("iverilog")
    find_tool("vvp")
    with tempfile.TemporaryDirectory(prefix=f"qf-sim-{design.name}-") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        (work / "stim.hex").write_text(stimulus(design, vectors))
        (work / "dut.v").write_text(design.verilog)
        (work / "tb.v").write_text(testbench(design, len(vectors)))
        run_logged(["iverilog", "-g2005", "-o", "sim.vvp", "tb.v", "dut.v"], work / "iverilog.log",
                   design.name, "iverilog compile", work)
        run_logged(["vvp", "-n", "sim.vvp"], work / "vvp.log", design.name, "iverilog simulation", work)
        lines = (work / "out.txt").read_text().split("\n")
    result = []
    for line in lines[: len(vectors)]:
        fields = line.split()
        result.append(tuple(None if any(c in f for c in "xXzZ") else int(f, 16) for f in fields))
    return result


def verify(design: Design, cycles: int = 400, seed: int = 1, workdir: Path | None = None) -> int:
    """Simulate ``cycles`` uniform random vectors and compare with the reference model.

    Returns the number of checked output samples; raises :class:`SynthesisError` (naming the design and
    the first mismatching cycle) when the design disagrees with the model.
    """
    vectors = stream(design, cycles, "uniform", seed)
    got = simulate(design, vectors, workdir)
    want = expected_outputs(design, vectors)
    if len(got) != len(want):
        raise SynthesisError(f"simulation of {design.name} returned {len(got)} samples, expected {len(want)}")
    checked = 0
    for cycle, (g, w) in enumerate(zip(got, want)):
        for port, gv, wv in zip(design.outputs, g, w):
            if wv is None:
                continue
            if gv != wv:
                raise SynthesisError(
                    f"design {design.name} disagrees with its reference at cycle {cycle}: {port[0]} = "
                    f"{'x' if gv is None else hex(gv)}, expected {hex(wv)} (inputs {vectors[cycle]}, "
                    f"previous {vectors[cycle - 1] if cycle else None})"
                )
            checked += 1
    return checked
