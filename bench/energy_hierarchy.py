"""Energy per bit moved at each level of the memory hierarchy, measured through the engine.

Run: ``python bench/energy_hierarchy.py`` (add ``--tech NAME`` for another technology). For INT8
output-stationary designs on ResNet-18 (8 x 8 to 32 x 32 PEs, 64 to 256 KiB of global buffer, 100 MHz),
every level's energy is divided by the bits it moved, from the dataset's own counters:

* register: ``energy_spad_pj / spad_writes`` (an ``os`` PE loads its activation and weight registers
  every MAC);
* network: ``energy_noc_pj / noc_words`` (words between the buffer and the PEs, and PE to PE);
* global buffer: ``energy_glb_pj / (glb_reads + glb_writes)``;
* DRAM: ``energy_dram_pj / dram_bytes``.

An INT8 ``os`` design moves only 8-bit words at every level (no partial sums leave the PEs; outputs
are written back at the activation width), so each word is 8 bits. Beside the per-bit figures, each
level's energy per word access is shown relative to one MAC, next to Eyeriss's normalized costs
(Chen, Emer & Sze, ISCA 2016: register file 1x, array network 2x, global buffer 6x, DRAM 200x a MAC),
and the share of DRAM in the total energy of each design and of the best (lowest-energy) one.
"""

from __future__ import annotations

import argparse

import numpy as np

import quidam_fast as qf

EYERISS_NORMALIZED = {"register": 1.0, "network": 2.0, "global buffer": 6.0, "DRAM": 200.0}
LEVELS = tuple(EYERISS_NORMALIZED)
WORD_BITS = 8


def hierarchy(tech: str | None = None, network: str = "resnet18") -> list[dict]:
    """Per design: energy per bit at each level, per word access over one MAC, and the DRAM share."""
    sizes = [8, 16, 32]
    ds = qf.evaluate(network, {"pe_type": ["int"], "bits": [WORD_BITS], "rows": sizes, "cols": sizes,
                               "glb_kib": [64, 128, 256], "dataflow": ["os"], "clock_mhz": [100.0]},
                     tech, per_layer=False)
    ds = ds.squeeze(drop=False)
    out = []
    for rows in sizes:
        for glb_kib in (64, 128, 256):
            d = ds.sel(rows=rows, cols=rows, glb_kib=glb_kib).squeeze()
            words = {
                "register": float(d.spad_writes),
                "network": float(d.noc_words),
                "global buffer": float(d.glb_reads + d.glb_writes),
                "DRAM": float(d.dram_bytes) * 8 / WORD_BITS,
            }
            energy = {"register": float(d.energy_spad_pj), "network": float(d.energy_noc_pj),
                      "global buffer": float(d.energy_glb_pj), "DRAM": float(d.energy_dram_pj)}
            mac_pj = float(d.energy_mac_pj / d.macs)
            out.append({
                "rows": rows, "cols": rows, "glb_kib": glb_kib,
                "pj_per_bit": {level: energy[level] / (words[level] * WORD_BITS) for level in LEVELS},
                "over_mac": {level: energy[level] / words[level] / mac_pj for level in LEVELS},
                "dram_share": float(d.energy_dram_pj / d.energy_pj),
                "energy_pj": float(d.energy_pj),
            })
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tech", default=None, help="technology name or TOML path (default: the default one)")
    args = parser.parse_args(argv)
    tech = qf.load_tech(args.tech) if args.tech else qf.load_tech()
    rows = hierarchy(tech)
    print(f"technology {tech.name}; INT8 os designs on ResNet-18 at 100 MHz; energy per bit moved (pJ/bit)\n")
    print(f"{'design':<16}" + "".join(f"{level:>15}" for level in LEVELS) + f"{'ordered':>9}{'DRAM share':>12}")
    for r in rows:
        values = [r["pj_per_bit"][level] for level in LEVELS]
        ordered = all(x < y for x, y in zip(values, values[1:]))
        print(f"{r['rows']:>2} x {r['cols']:<2} {r['glb_kib']:>3} KiB "
              + "".join(f"{v:>15.4g}" for v in values) + f"{'yes' if ordered else 'NO':>9}{r['dram_share']:>12.1%}")
    median = {level: float(np.median([r["over_mac"][level] for r in rows])) for level in LEVELS}
    print("\nenergy of one 8-bit word access relative to one INT8 MAC (median over these designs), "
          "beside Eyeriss's normalized costs (ISCA 2016, 16-bit words):")
    print(f"{'':<16}" + "".join(f"{level:>15}" for level in LEVELS))
    print(f"{'this model':<16}" + "".join(f"{median[level]:>14.3g}x" for level in LEVELS))
    print(f"{'Eyeriss':<16}" + "".join(f"{EYERISS_NORMALIZED[level]:>14.3g}x" for level in LEVELS))
    best = min(rows, key=lambda r: r["energy_pj"])
    print(f"\nlowest-energy design here: {best['rows']} x {best['cols']}, {best['glb_kib']} KiB; "
          f"DRAM {best['dram_share']:.1%} of its energy")


if __name__ == "__main__":
    main()
