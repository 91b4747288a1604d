"""Eyeriss's own configuration on AlexNet's convolutions, side by side with what Eyeriss reports.

Run: ``python bench/eyeriss_check.py``. Configuration (Chen et al., ISCA 2016 / JSSC 2017): 12 x 14 PEs,
12/224/24-word ifmap/filter/psum scratchpads, 108 KiB global buffer, 16-bit operands, row-stationary.

Reported by Eyeriss (JSSC 2017, AlexNet CONV1-5 on the chip): active PEs 154, 135, 156, 156, 156 of
168; ISCA 2016: with RS, DRAM and global-buffer accesses are a minority of the energy, the register
files and array network taking most of the data-movement energy. ``tests/test_row_stationary.py``
guards both (utilization within 0.05 below the active-PE fraction, DRAM + buffer under half the dynamic
energy). Leakage is shown apart: the cited CACTI rows are high-performance (itrs-hp) cells at 360 K,
which leak far more than Eyeriss's 65 nm low-power process.
"""

import quidam_fast as qf
from quidam_fast.workloads import Network

EYERISS_ACTIVE_PES = {"conv1": 154, "conv2": 135, "conv3": 156, "conv4": 156, "conv5": 156}


def main():
    alexnet = qf.load_network("alexnet")
    conv = Network("alexnet-conv", alexnet.layers[:5])
    # Eyeriss is a 65 nm chip at 200 MHz: the cited 45 nm table is the closer technology
    ds = qf.evaluate(conv, {"dataflow": ["rs"], "rows": [12], "cols": [14], "bits": [16], "spad_ifmap": [12],
                            "spad_filter": [224], "spad_psum": [24], "glb_kib": [108], "clock_mhz": [200.0]},
                     "published-45nm").squeeze()
    print(f"technology {ds.attrs['tech']}; AlexNet (torchvision shapes) CONV1-5 on Eyeriss's configuration\n")
    print(f"{'layer':<8}{'ours: utilization':>18}{'Eyeriss active PEs':>20}{'filters/PE':>12}{'channels/PE':>13}")
    for i, layer in enumerate(conv.layers):
        print(f"{layer.name:<8}{float(ds.layer_utilization[i]):>18.3f}"
              f"{EYERISS_ACTIVE_PES[layer.name] / 168:>14.3f} ({EYERISS_ACTIVE_PES[layer.name]})"
              f"{int(ds.layer_rs_filters_per_pe[i]):>12}{int(ds.layer_rs_channels_per_pe[i]):>13}")
    print(f"\nenergy split (ours), total {float(ds.energy_pj) * 1e-6:.2f} uJ:")
    for part in ("mac", "spad", "noc", "glb", "dram", "leak"):
        print(f"  {part:<5}{float(ds[f'energy_{part}_pj'] / ds.energy_pj):>7.1%}")
    share = float((ds.energy_dram_pj + ds.energy_glb_pj) / ds.energy_pj)
    dynamic_share = float((ds.energy_dram_pj + ds.energy_glb_pj) / (ds.energy_pj - ds.energy_leak_pj))
    print(f"  DRAM + global buffer: {share:.1%} of all energy, {dynamic_share:.1%} of the dynamic energy "
          f"(Eyeriss, ISCA 2016: a minority with RS, access energy only)")


if __name__ == "__main__":
    main()
