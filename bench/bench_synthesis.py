"""Synthesis vs the fitted model: how much faster is evaluating a design with the PPA model?

QUIDAM (Inci et al., TECS 2022) claims its polynomial models evaluate a design 3-4 orders of magnitude
faster than synthesizing it. This times, on this machine:

1. characterizing one PE configuration (``int`` at 8 and 16 bits: yosys synthesis, OpenSTA timing and
   leakage, gate-level simulation for energy -- the per-design cost of
   :func:`quidam_fast.characterize.flow.characterize_design` without the RTL simulation check);
2. evaluating the fitted polynomials of that PE (area, energy, leakage, critical path);
3. evaluating one whole design point (the PE array on ResNet-18, every layer) with the engine,
   ``quidam_fast.evaluate`` with the characterized technology: once as a single call (Python and
   dataset-building overhead included) and amortized over a grid of points.

Run: ``python bench/bench_synthesis.py`` (about a minute; needs yosys, OpenSTA, the OSU018 liberty).
"""

from __future__ import annotations

import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

import quidam_fast as qf
from quidam_fast import characterize as qc
from quidam_fast.characterize.flow import PE_WARMUP_CYCLES
from quidam_fast.characterize.gatesim import gate_energy
from quidam_fast.characterize.reference import stream
from quidam_fast.characterize.synth import ACTIVITY_CYCLES, ACTIVITY_SEED, OUTPUT_LOAD_PF, power, synthesize

TECH = Path(qc.flow.DATA_DIR) / "tech" / "characterized-osu018.toml"


def time_synthesis(pe_type: str, bits: int, repeats: int = 2) -> float:
    lib = qc.check_liberty(None)
    best = float("inf")
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            design = qc.pe_design(pe_type, bits)
            t0 = time.perf_counter()
            syn = synthesize(design, lib, Path(tmp))
            power(design, syn, lib, Path(tmp), "realistic")
            vectors = stream(design, ACTIVITY_CYCLES, "realistic", ACTIVITY_SEED)
            gate_energy(design, syn.netlist, lib, vectors, PE_WARMUP_CYCLES, Path(tmp), "realistic", OUTPUT_LOAD_PF)
            best = min(best, time.perf_counter() - t0)
    return best


def time_polynomials(tech, pe_type: str, bits: int) -> float:
    n = 20000
    return min(timeit.repeat(lambda: tech.pe_cost(pe_type, bits), number=n, repeat=3)) / n


def time_engine(tech, pe_type: str, bits: int) -> tuple[float, float, int]:
    one = {"pe_type": [pe_type], "bits": [bits], "rows": [16], "cols": [16], "dataflow": ["ws"]}
    qf.evaluate("resnet18", one, tech=tech)  # warm the JIT
    single = min(timeit.repeat(lambda: qf.evaluate("resnet18", one, tech=tech), number=5, repeat=3)) / 5
    grid = {"pe_type": [pe_type], "bits": [bits], "rows": [8, 16, 32, 64], "cols": [8, 16, 32, 64],
            "glb_kib": [64, 128, 256, 512], "dataflow": ["ws", "os", "is", "rs"],
            "spad_filter": [64, 224], "dram_gbps": [12.8, 25.6]}
    qf.evaluate("resnet18", grid, tech=tech, per_layer=False)
    t0 = time.perf_counter()
    ds = qf.evaluate("resnet18", grid, tech=tech, per_layer=False)
    elapsed = time.perf_counter() - t0
    points = int(np.prod([ds.sizes[d] for d in grid]))
    return single, elapsed / points, points


def main() -> None:
    tech = qf.load_tech(TECH)
    print(f"technology: {TECH.name}")
    print(f"{'PE':<10}{'synthesis s':>13}{'poly us':>10}{'ratio':>12}{'1 point s':>12}{'ratio':>10}"
          f"{'grid us/pt':>12}{'ratio':>12}")
    for pe_type, bits in (("int", 8), ("int", 16)):
        syn = time_synthesis(pe_type, bits)
        poly = time_polynomials(tech, pe_type, bits)
        single, per_point, points = time_engine(tech, pe_type, bits)
        print(f"{pe_type + str(bits):<10}{syn:>13.3f}{poly * 1e6:>10.2f}{syn / poly:>12.3g}{single:>12.4f}"
              f"{syn / single:>10.3g}{per_point * 1e6:>12.2f}{syn / per_point:>12.3g}")
    print("ratios = synthesis time / model time (QUIDAM claims 1e3-1e4); 'grid' amortizes over "
          f"{points} design points of one evaluate() call on ResNet-18.")


if __name__ == "__main__":
    main()
