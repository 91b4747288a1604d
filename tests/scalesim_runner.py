"""Run the real SCALE-Sim (pip package ``scalesim``) on one layer and read back its compute cycles.

SCALE-Sim 3.0.0 needs a config file (with ``[layout]`` and ``[sparsity]`` sections, off here), a topology
CSV and a layout CSV; it writes ``COMPUTE_REPORT.csv`` whose ``Total Cycles`` column is the compute
cycle count we compare against (stalls are reported separately and are zero with ``CALC`` bandwidth).
"""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path

_CONFIG = """[general]
run_name = qf

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 1024
FilterSramSzkB: 1024
OfmapSramSzkB: 1024
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

_DATAFLOW_NAMES = {"ws": "ws", "os": "os", "is": "is"}


def scalesim_compute_cycles(workdir: Path, H, W, R, S, C, K, stride, rows, cols, dataflow) -> int:
    """SCALE-Sim's ``Total Cycles`` for one unpadded convolution layer on a ``rows x cols`` array."""
    from scalesim.scale_sim import scalesim

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "qf.cfg"
    config.write_text(_CONFIG.format(rows=rows, cols=cols, dataflow=_DATAFLOW_NAMES[dataflow]))
    topology = workdir / "layer.csv"
    topology.write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        f"L0, {H}, {W}, {R}, {S}, {C}, {K}, {stride},\n"
    )
    layout = workdir / "layout.csv"
    layout.write_text(
        "Layer name, a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t,\n"
        "L0, 1, 1, 1, 1, 1, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3,\n"
    )
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=str(config), topology=str(topology), layout=str(layout))
        sim.run_scale(top_path=str(workdir))
    report = next(workdir.rglob("COMPUTE_REPORT.csv"))
    with report.open() as handle:
        rows_read = [dict((k.strip(), v.strip()) for k, v in row.items() if k) for row in csv.DictReader(handle)]
    return int(float(rows_read[0]["Total Cycles"]))
