"""Transformer and LLM layer tables against the architectures' MAC equations, parameters after ``@``, and
matrix-vector (decode) layers on every dataflow against a hand count of the systolic fold equations.

The equations are written here from the papers' hyper-parameters (d = 768, 12 layers, 12 heads, a
3,072-wide feed-forward, GPT-2's 50,257-word vocabulary), not from quidam_fast.transformers: a layer
of ``t`` tokens attending to ``ctx`` positions does ``12 d^2 t`` MACs in its weight products (Q, K,
V and output projections ``4 d^2``, feed-forward ``2 x 4 d^2``) and ``2 t ctx d`` in attention
(scores and values, all heads together).
"""

import doctest

import numpy as np
import pytest

import quidam_fast as qf
import quidam_fast.transformers
from quidam_fast.workloads import network_parameters

D, L, VOCAB = 768, 12, 50257


def encoder_macs(tokens, context, batch=1):
    return batch * L * (12 * D * D * tokens + 2 * tokens * context * D)


@pytest.mark.parametrize("name, expected", [
    ("bert_base", encoder_macs(128, 128) + D * D + D * 2),
    ("bert_base@seq=256,batch=4", encoder_macs(256, 256, batch=4) + 4 * (D * D + D * 2)),
    ("vit_b16", 196 * D * 3 * 16 * 16 + encoder_macs(197, 197) + D * 1000),
    ("vit_b16@image=384", 576 * D * 3 * 16 * 16 + encoder_macs(577, 577) + D * 1000),
    ("gpt2_small_prefill", encoder_macs(1024, 1024) + D * VOCAB),
    ("gpt2_small_prefill@seq=64,batch=2", encoder_macs(64, 64, batch=2) + 2 * D * VOCAB),
    ("gpt2_small_decode", encoder_macs(1, 1024) + D * VOCAB),
    ("gpt2_small_decode@kv=4096", encoder_macs(1, 4096) + D * VOCAB),
    ("gpt2_small_decode@batch=8,kv=100", encoder_macs(1, 100, batch=8) + 8 * D * VOCAB),
])
def test_macs_equal_the_architecture_equations(name, expected):
    net = qf.load_network(name)
    assert net.macs == expected
    assert net.name == name or sorted(net.name.split("@")[1].split(",")) == sorted(name.split("@")[1].split(","))


def test_published_figures():
    # ViT-B/16 at 224: 17.6 G(multiply-add) "FLOPs" (Touvron et al. 2021, DeiT, Table 1); BERT-base at
    # 128 tokens: 11.2 GMACs; GPT-2 small decoding: about its 124 M parameters (85 M in the blocks,
    # 38.6 M in the tied LM head) plus attention
    assert qf.load_network("vit_b16").macs / 1e9 == pytest.approx(17.6, rel=5e-3)
    assert qf.load_network("bert_base").macs / 1e9 == pytest.approx(11.2, rel=5e-3)
    block_weights = L * (4 * D * D + 2 * D * 3072)
    assert qf.load_network("gpt2_small_decode").macs == block_weights + D * VOCAB + L * 2 * 1024 * D


def test_vit_has_197_tokens_and_a_patch_convolution():
    net = qf.load_network("vit_b16")
    patch = net.layers[0]
    assert (patch.R, patch.S, patch.stride, patch.P * patch.Q) == (16, 16, 16, 196)
    assert {layer.H for layer in net.layers[1:-1]} == {197}
    assert net.layers[-1].H == 1 and net.layers[-1].K == 1000  # the head reads the class token only


def test_attention_is_one_group_per_head_and_sequence():
    net = qf.load_network("bert_base@batch=2")
    scores = next(layer for layer in net.layers if layer.name.endswith("scores"))
    context = next(layer for layer in net.layers if layer.name.endswith("context"))
    assert scores.groups == context.groups == 2 * 12 and scores.N == context.N == 1
    assert (scores.H, scores.C // scores.groups, scores.K // scores.groups) == (128, 64, 128)
    assert (context.H, context.C // context.groups, context.K // context.groups) == (128, 128, 64)


def test_decode_is_matrix_vector_and_prefill_logits_only_for_the_last_token():
    decode = qf.load_network("gpt2_small_decode")
    assert {layer.H for layer in decode.layers} == {1}
    assert {layer.kind for layer in decode.layers if layer.groups == 1} == {"fc"}
    assert {layer.kind for layer in decode.layers if layer.groups > 1} == {"grouped"}  # attention, per head
    prefill = qf.load_network("gpt2_small_prefill")
    assert prefill.layers[-1].name == "lm_head" and prefill.layers[-1].H == 1 and prefill.layers[-2].H == 1024
    # the decode step's attention row is the prefill's last row: same context
    assert decode.layers[1].K == prefill.layers[1].K


def test_parameters_are_documented_and_checked():
    assert network_parameters("gpt2_small_decode") == {"kv": 1024, "batch": 1}
    assert network_parameters("bert_base") == {"seq": 128, "batch": 1}
    assert network_parameters("resnet18") == {"batch": 1}
    assert qf.load_network("resnet18@batch=4").macs == 4 * qf.load_network("resnet18").macs
    assert qf.load_network("gpt2_small_decode@kv=1024").name == "gpt2_small_decode"


@pytest.mark.parametrize("name, message", [
    ("bert_base@kv=4", r"'kv=4' is not a parameter of bert_base; write bert_base@key=value\[,key=value\] with keys seq, batch"),
    ("gpt2_small_decode@kv=0", r"kv = '0' is not allowed; it must be an integer from 1 to 2147483647"),
    ("gpt2_small_decode@kv=many", r"kv = 'many' is not allowed"),
    ("gpt2_small_decode@kv", r"'kv' must be key=value"),
    ("gpt2_small_decode@kv=2,kv=3", r"kv is given twice"),
    ("vit_b16@image=200", r"image = 200 is not allowed; it must be a multiple of the 16-pixel patch"),
    ("gpt2@kv=4", r"unknown network 'gpt2'"),
])
def test_bad_parameters_are_one_line(name, message):
    with pytest.raises(qf.QuidamInputError, match=message):
        qf.load_network(name)


def test_notes_name_what_is_left_out():
    for name in ("bert_base", "vit_b16", "gpt2_small_prefill", "gpt2_small_decode"):
        notes = qf.load_network(name).notes
        assert "layer norms x 25" in notes and "softmax x 12" in notes and "embedding" in notes


@pytest.mark.parametrize("name", ["bert_base", "vit_b16", "gpt2_small_prefill", "gpt2_small_decode"])
def test_transformers_evaluate_on_every_dataflow(name):
    net = qf.load_network(name)
    # ViT's 16-wide patch filter rows need a 16-word ifmap scratchpad under rs: 24 words
    results = qf.evaluate(net, {"dataflow": ["ws", "os", "is", "rs"], "rows": [16, 64], "cols": [16, 64],
                                "spad_ifmap": [24]}, tech="published-45nm", per_layer=False)
    assert bool(results.valid.all())
    np.testing.assert_array_equal(results.macs.values, float(net.macs))
    assert float(results.utilization.max()) <= 1.0


def test_module_examples():
    assert doctest.testmod(quidam_fast.transformers).failed == 0


# --- matrix-vector layers (decode, one token) on every dataflow ---------------------------------------

def test_gemv_cycles_utilization_and_ranking_by_hand():
    """A 16-input, 12-output GEMV (one token) on a 4 x 4 array.

    SCALE-Sim's fold equations (Samajdar et al., ISPASS 2020), GEMM of Sr = 1 row, T = 16 reduction and
    Sc = 12 columns; folds = ceil(mapped rows / 4) ceil(mapped columns / 4):

    * ws: T on rows, Sc on columns: 4 x 3 folds of 2 x 4 (fill) + 4 + 1 - 2 cycles -> 12 x 11 - 1 = 131;
    * os: Sr on rows, Sc on columns: 1 x 3 folds of T + 4 + 4 - 2 -> 3 x 22 - 1 = 65 (one PE row busy);
    * is: T on rows, Sr on columns: 4 x 1 folds of 2 x 4 + 4 + 12 - 2 -> 4 x 22 - 1 = 87 (one PE column);
    * rs (latency objective): each of the 12 filters on its own PE, one 1 x 1 PE set each, and the 16
      channels in sequence: 16 cycles, 12 of 16 PEs busy.
    """
    gemv = qf.Network("gemv", (qf.Layer("fc", H=1, W=1, C=16, K=12),))
    space = {"rows": [4], "cols": [4], "dataflow": ["ws", "os", "is", "rs"], "dram_gbps": [1e6],
             "glb_kib": [1024], "spad_psum": [24], "spad_filter": [224], "spad_ifmap": [24]}
    results = qf.evaluate(gemv, space, tech="published-45nm", objective="latency")
    expected_cycles = {"ws": 4 * 3 * (2 * 4 + 4 + 1 - 2) - 1, "os": 1 * 3 * (16 + 4 + 4 - 2) - 1,
                       "is": 4 * 1 * (2 * 4 + 4 + 12 - 2) - 1, "rs": 16}
    macs = 16 * 12
    for dataflow, cycles in expected_cycles.items():
        point = results.sel(dataflow=dataflow).squeeze()
        assert int(point.compute_cycles) == int(point.cycles) == cycles, dataflow
        assert float(point.utilization) == pytest.approx(macs / (cycles * 16)), dataflow
        assert float(point.layer_utilization) == pytest.approx(macs / (cycles * 16)), dataflow
    ranking = sorted(expected_cycles, key=expected_cycles.get)
    assert ranking == ["rs", "os", "is", "ws"]
    assert list(results.dataflow.values[np.argsort(results.latency_s.squeeze().values)]) == ranking


def test_decode_keeps_arrays_idle_on_systolic_dataflows():
    """On one token, ws streams one row through each fold: its utilization is at most 1 / (2 rows + cols - 1)."""
    results = qf.evaluate("gpt2_small_decode", {"rows": [32], "cols": [32], "dataflow": ["ws", "os", "is"],
                                                "dram_gbps": [1e6]}, tech="published-45nm", per_layer=False)
    ws = float(results.sel(dataflow="ws").utilization.squeeze())
    assert ws <= 1 / (2 * 32 + 32 - 1) + 1e-12
    prefill = qf.evaluate("gpt2_small_prefill@seq=256", {"rows": [32], "cols": [32], "dataflow": ["ws"],
                                                         "dram_gbps": [1e6]}, tech="published-45nm", per_layer=False)
    assert float(prefill.utilization.squeeze()) > 10 * ws


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bert_base", "vit_b16", "gpt2_small_prefill", "gpt2_small_decode"])
def test_transformers_evaluate_on_the_default_space(name):
    results = qf.evaluate(name, None, per_layer=False)
    assert int(results.valid.sum()) > 0
    valid = results.macs.where(results.valid)
    assert float(valid.min()) == float(valid.max()) == float(qf.load_network(name).macs)


@pytest.mark.scalesim
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_gemv_cycles_equal_scalesim(tmp_path, dataflow):
    """The hand count above, against the SCALE-Sim package itself (16 x 12 GEMV, 4 x 4 array)."""
    pytest.importorskip("scalesim", reason="pip install scalesim==3.0.0 (CI installs it)")
    from scalesim_runner import scalesim_compute_cycles

    gemv = qf.Network("gemv", (qf.Layer("fc", H=1, W=1, C=16, K=12),))
    ours = qf.evaluate(gemv, {"rows": [4], "cols": [4], "dataflow": [dataflow]}, tech="published-45nm")
    assert int(ours.compute_cycles.item()) == scalesim_compute_cycles(tmp_path, 1, 1, 1, 1, 16, 12, 1, 4, 4, dataflow)
