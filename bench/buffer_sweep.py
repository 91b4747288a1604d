"""How smoothly DRAM traffic falls as the global buffer grows, per dataflow.

Run: ``python bench/buffer_sweep.py``. ResNet-18 on a 16 x 16 INT8 array, buffers from 16 to 512 KiB in
steps of 1.33-1.5x, the buffer-level mapper minimizing DRAM bits (``objective="dram"``, where more buffer
never adds traffic). Prints, per dataflow, the largest factor by which one layer's DRAM traffic drops
between neighbouring buffer sizes (a tile that fits or not all at once shows as a large factor) and the
network's DRAM traffic at both ends of the sweep.
"""

from __future__ import annotations

import numpy as np

import quidam_fast as qf

BUFFERS_KIB = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
DATAFLOWS = ["ws", "os", "is", "rs"]


def main():
    ds = qf.evaluate("resnet18", {"dataflow": DATAFLOWS, "glb_kib": BUFFERS_KIB, "bits": [8], "rows": [16],
                                  "cols": [16]}, objective="dram")
    traffic = (ds.layer_dram_read_bytes + ds.layer_dram_write_bytes).squeeze().transpose("dataflow", "glb_kib", "layer")
    print(f"ResNet-18, 16 x 16 INT8, {ds.attrs['tech']}, buffers {BUFFERS_KIB[0]}-{BUFFERS_KIB[-1]} KiB, objective dram")
    print(f"{'dataflow':<10}{'largest per-layer drop':>24}{'DRAM MB at ' + str(BUFFERS_KIB[0]) + ' KiB':>20}"
          f"{'at ' + str(BUFFERS_KIB[-1]) + ' KiB':>12}")
    for i, dataflow in enumerate(DATAFLOWS):
        per_layer = traffic.values[i]
        drop = np.max(per_layer[:-1] / per_layer[1:])
        print(f"{dataflow:<10}{drop:>23.1f}x{per_layer[0].sum() / 1e6:>20.1f}{per_layer[-1].sum() / 1e6:>12.1f}")


if __name__ == "__main__":
    main()
