"""Compute cycles equal SCALE-Sim's (the pip package ``scalesim`` 3.0.0, run here) for ws, os and is."""

import pytest

import quidam_fast as qf
from quidam_fast.workloads import parse_network_csv

scalesim = pytest.importorskip("scalesim", reason="pip install scalesim==3.0.0 (CI installs it)")
from scalesim_runner import scalesim_compute_cycles  # noqa: E402

# SCALE-Sim's own code trips numpy deprecations; they are not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::pytest.PytestUnraisableExceptionWarning")

# (H, W, R, S, C, K, stride, rows, cols): odd sizes, partial folds, strides that leave a remainder
CASES = [
    (5, 5, 3, 3, 2, 3, 1, 4, 4),
    (8, 8, 3, 3, 3, 5, 2, 4, 8),
    (6, 6, 1, 1, 7, 9, 1, 8, 4),
    (9, 7, 3, 2, 4, 6, 2, 5, 3),
    (1, 1, 1, 1, 33, 10, 1, 8, 8),   # fully connected
]


@pytest.mark.scalesim
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "H{}W{}R{}S{}C{}K{}s{}_{}x{}".format(*c))
def test_compute_cycles_equal_scalesim(tmp_path, case, dataflow):
    H, W, R, S, C, K, stride, rows, cols = case
    topology = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                f"L0, {H}, {W}, {R}, {S}, {C}, {K}, {stride},\n")
    network = parse_network_csv(topology, name="case")
    ours = qf.evaluate(network, {"rows": [rows], "cols": [cols], "dataflow": [dataflow]}, per_layer=True)
    expected = scalesim_compute_cycles(tmp_path, H, W, R, S, C, K, stride, rows, cols, dataflow)
    assert int(ours.compute_cycles.item()) == expected
