"""Dynamic energy against ZigZag (the pip package ``zigzag-dse`` 3.9.1, run here) on a weight-stationary array.

ZigZag (Mei et al., IEEE TC 2021) searches its own temporal mapping over a memory hierarchy it is given
and prices every access; it models no array network ("TODO: Interconnection energy" in its cost model).
The hierarchy given to it is this engine's on the same design, with the engine's own per-access costs
(taken from the tables the kernels receive): a MAC (its accumulator register inside), a one-word weight
register and a one-word activation register per PE (the activation register's write is what the engine
charges per MAC on ``ws``; reading it, and the stationary weight, costs nothing), a one-word partial-sum
register per PE (the MAC's accumulator: free), the global buffer of the design's capacity, priced per
bit, and DRAM per bit. Weights are spread over the array's columns (K) and the reduction over its rows
(C), as ``ws`` does; the layers are 1 x 1 (so the reduction is the channels, as in ZigZag's spatial
mapping) and unpadded. The engine's energy without its network and leakage must be within 15 % of
ZigZag's.
"""

import logging

import numpy as np
import pytest
import yaml

import quidam_fast as qf
from quidam_fast import engine, kernels
from quidam_fast.space import DesignSpace
from quidam_fast.workloads import Layer, Network

zigzag_api = pytest.importorskip("zigzag.api", reason="pip install zigzag-dse six (the test extra)")

# ZigZag's own code trips deprecations and configures logging; neither is ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore::UserWarning")

WIDE = 8192  # bits per buffer/DRAM access given to ZigZag: it charges a cost per access of its widest port
LAYERS = (
    Layer("pointwise", H=14, W=14, C=64, K=128),
    Layer("pointwise_wide", H=7, W=7, C=256, K=96),
    Layer("fc", H=1, W=1, C=512, K=200, N=4),
)


def engine_costs(design, tech):
    """Per-access costs the kernels receive for ``design`` (one point): MAC, activation register write,
    buffer read/write per bit, DRAM per bit, and the operand widths."""
    space = DesignSpace.from_dict({name: [value] for name, value in design.items()}, base="small")
    arrays = engine._flatten(space, tech)
    pe, glb = arrays["pe_table"][0, 0], arrays["glb_table"][0, 0, 0]
    a, w, p = (int(pe[c]) for c in (kernels.PE_ACT_BITS, kernels.PE_WEIGHT_BITS, kernels.PE_PSUM_BITS))
    per_bit = {kind: [glb[getattr(kernels, f"GLB_{kind}_{op}")] / bits for op, bits in (("ACT", a), ("WEIGHT", w), ("PSUM", p))]
               for kind in ("READ", "WRITE")}
    for kind, values in per_bit.items():  # the buffer costs a bit the same whatever operand it holds
        np.testing.assert_allclose(values, values[0], rtol=1e-9, err_msg=kind)
    return dict(mac=float(pe[kernels.PE_MAC_ENERGY]), reg_act=float(pe[kernels.PE_REG_ACT_ENERGY]),
                glb_read_bit=float(per_bit["READ"][0]), glb_write_bit=float(per_bit["WRITE"][0]),
                dram_bit=float(tech.dram_energy_pj_per_bit), a=a, w=w, p=p)


def zigzag_accelerator(rows, cols, glb_kib, cost):
    def port(name, kind, bits, allocation, widest=None):
        return {"name": name, "type": kind, "bandwidth_min": bits, "bandwidth_max": widest or bits,
                "allocation": allocation}

    def register(operand, bits, write_cost, reads, writes):
        return {"size": bits, "r_cost": 0.0, "w_cost": write_cost, "area": 0, "latency": 1, "operands": [operand],
                "ports": [port(f"r_port_{i + 1}", "read", bits, [r]) for i, r in enumerate(reads)]
                + [port(f"w_port_{i + 1}", "write", bits, [x]) for i, x in enumerate(writes)],
                "served_dimensions": []}

    every = ["I1", "I2", "O"]
    memories = {  # lowest level first: ZigZag takes the hierarchy from the order
        "reg_weight": register("I2", cost["w"], 0.0, ["I2, tl"], ["I2, fh"]),
        "reg_act": register("I1", cost["a"], cost["reg_act"], ["I1, tl"], ["I1, fh"]),
        "reg_psum": register("O", cost["p"], 0.0, ["O, tl", "O, th"], ["O, fh", "O, fl"]),
        "glb": {"size": glb_kib * 8192, "r_cost": cost["glb_read_bit"] * WIDE, "w_cost": cost["glb_write_bit"] * WIDE,
                "area": 0, "latency": 1, "operands": every,
                "ports": [port("r_port_1", "read", 8, ["I1, tl", "I2, tl", "O, tl", "O, th"], WIDE),
                          port("w_port_1", "write", 8, ["I1, fh", "I2, fh", "O, fh", "O, fl"], WIDE)],
                "served_dimensions": ["D1", "D2"]},
        "dram": {"size": 10**13, "r_cost": cost["dram_bit"] * WIDE, "w_cost": cost["dram_bit"] * WIDE, "area": 0,
                 "latency": 1, "operands": every,
                 "ports": [port("rw_port_1", "read_write", 8, [f"{op}, {d}" for op in ("I1", "I2") for d in ("fh", "tl")]
                                + ["O, fh", "O, tl", "O, fl", "O, th"], WIDE)],
                 "served_dimensions": ["D1", "D2"]},
    }
    return {"name": "quidam_ws", "memories": memories,
            "operational_array": {"unit_energy": cost["mac"], "unit_area": 1, "dimensions": ["D1", "D2"],
                                  "sizes": [cols, rows]}}


def zigzag_workload(layer, cost):
    return [{"id": 0, "name": layer.name, "operator_type": "Conv",
             "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
             "dimension_relations": [f"ix={layer.stride}*ox+1*fx", f"iy={layer.stride}*oy+1*fy"],
             "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
             "loop_sizes": [layer.N, layer.K, layer.C, layer.P, layer.Q, layer.R, layer.S],
             "operand_precision": {"I": cost["a"], "W": cost["w"], "O": cost["p"], "O_final": cost["a"]},
             "operand_source": {"I": 0, "W": 0}}]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_dynamic_energy_within_15_percent_of_zigzag(tmp_path, layer):
    rows, cols, glb_kib = 16, 16, 64
    design = {"rows": rows, "cols": cols, "glb_kib": glb_kib, "dataflow": "ws", "pe_type": "int", "bits": 8}
    tech = qf.load_tech()
    cost = engine_costs(design, tech)
    (tmp_path / "accelerator.yaml").write_text(yaml.safe_dump(zigzag_accelerator(rows, cols, glb_kib, cost),
                                                              sort_keys=False))
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(
        [{"name": "default", "spatial_mapping": {"D1": [f"K, {cols}"], "D2": [f"C, {rows}"]},
          "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}], sort_keys=False))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        zigzag_energy, _latency, _cmes = zigzag_api.get_hardware_performance_zigzag(
            zigzag_workload(layer, cost), str(tmp_path / "accelerator.yaml"), str(tmp_path / "mapping.yaml"),
            opt="energy", dump_folder=str(tmp_path / "out"), loma_show_progress_bar=False)
    finally:  # ZigZag calls logging.basicConfig: leave the root logger as it was
        root.handlers[:], root.level = handlers, level
    ds = qf.evaluate(Network("one", (layer,)), {name: [value] for name, value in design.items()}, tech).squeeze()
    ours = sum(float(ds[f"energy_{part}_pj"]) for part in ("mac", "spad", "glb", "dram"))
    assert ours == pytest.approx(zigzag_energy, rel=0.15)
