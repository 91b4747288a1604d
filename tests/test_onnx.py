"""ONNX import: every light model of the onnx wheel against an independent MAC count, the layer model's
mapping of padding, dilation, groups and batched products, and one-line errors for what it refuses.

The independent count reads the graph with onnx's own shape inference and applies the operators'
definitions (ONNX operator specification): a convolution does ``C/group x prod(kernel)`` MACs per
output element, ``Gemm`` ``M K N``, ``MatMul`` ``K`` per output element. It never calls the importer.
"""

import glob
import math
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper, shape_inference

import quidam_fast as qf
from quidam_fast.onnx_import import MAC_FREE, MAC_OPERATORS, MAC_UNSUPPORTED

LIGHT = sorted(glob.glob(os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_*.onnx")))


def independent_macs(model) -> list[int]:
    """MACs of every Conv, Gemm and MatMul node, in graph order, from the ONNX operator definitions."""
    graph = shape_inference.infer_shapes(model, data_prop=True).graph
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        shapes[value.name] = tuple(d.dim_value for d in value.type.tensor_type.shape.dim)
    macs = []
    for node in graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            weights, output = shapes[node.input[1]], shapes[node.output[0]]
            macs.append(math.prod(output) * weights[1] * math.prod(weights[2:]))  # weights[1] = C / group
        elif node.op_type == "Gemm":
            a, b = shapes[node.input[0]], shapes[node.input[1]]
            m, k = a[::-1] if attributes.get("transA") else a
            n = b[0] if attributes.get("transB") else b[1]
            macs.append(m * k * n)
        elif node.op_type == "MatMul":
            macs.append(math.prod(shapes[node.output[0]]) * shapes[node.input[0]][-1])
    return macs


def test_the_wheel_ships_the_nine_light_models():
    names = {os.path.basename(path) for path in LIGHT}
    assert len(names) == 9 and {"light_resnet50.onnx", "light_vgg19.onnx", "light_bvlc_alexnet.onnx"} <= names


@pytest.mark.parametrize("path", LIGHT, ids=os.path.basename)
def test_light_models_match_the_independent_count_and_evaluate(path):
    net = qf.load_network(path)
    expected = independent_macs(onnx.load(path))
    assert [layer.macs for layer in net.layers] == expected
    assert net.macs == sum(expected)
    # every other node is named, with its count, in the notes
    model = onnx.load(path)
    others = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            others[node.op_type] = others.get(node.op_type, 0) + 1
    for op, count in others.items():
        assert f"{op} x {count}" in net.notes
    results = qf.evaluate(net, {"dataflow": ["ws", "os", "is", "rs"], "rows": [8, 16]}, tech="published-45nm",
                          per_layer=False)
    assert bool(results.valid.all()) and results.attrs["network_notes"] == net.notes
    np.testing.assert_array_equal(results.macs.values, float(net.macs))


def test_resnet50_of_the_wheel_is_the_library_resnet50():
    # the same layers (the graph orders a block's projection shortcut differently): padding, strides and
    # input sizes as the library writes them from the paper
    light = qf.load_network(next(p for p in LIGHT if p.endswith("light_resnet50.onnx")))
    library = qf.load_network("resnet50")

    def geometry(net):
        fields = ("N", "K", "C", "H", "W", "R", "S", "stride", "padding", "groups")
        return sorted(tuple(getattr(layer, f) for f in fields) for layer in net.layers)

    assert geometry(light) == geometry(library) and light.macs == library.macs


def test_every_standard_operator_is_classified_once():
    standard = {s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain in ("", "ai.onnx")}
    sets = (set(MAC_OPERATORS), set(MAC_UNSUPPORTED), set(MAC_FREE))
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert standard - set().union(*sets) == set(), "a new ONNX operator: decide whether it has MACs"


# --- the mapping onto the layer model, on one-node graphs -----------------------------------------

def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    # inference fills in the outputs' shapes, which the checker requires
    return shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]))


def _tensor(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _weights(name, shape):
    return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)


def _save(tmp_path, model, name="m.onnx"):
    path = tmp_path / name
    onnx.save(model, path)
    return path


def _conv_model(x_shape, w_shape, **attributes):
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", **attributes)
    model = _model([node], [_tensor("x", x_shape)], [_tensor("y", None)], [_weights("w", w_shape)])
    return shape_inference.infer_shapes(model)


@pytest.mark.parametrize("x_shape, w_shape, attributes", [
    ((1, 8, 17, 13), (16, 8, 3, 3), {"pads": [1, 1, 1, 1]}),                           # symmetric
    ((1, 8, 17, 13), (16, 8, 3, 3), {"pads": [0, 1, 2, 1], "strides": [2, 2]}),        # asymmetric
    ((2, 8, 16, 16), (16, 8, 4, 4), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),    # TF 'SAME'
    ((1, 8, 15, 15), (16, 8, 4, 2), {"auto_pad": "SAME_LOWER"}),
    ((1, 8, 12, 12), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1]}),                # depthwise
    ((1, 8, 12, 12), (12, 2, 3, 3), {"group": 4, "strides": [3, 3]}),                  # grouped
    ((1, 4, 20, 20), (8, 4, 3, 3), {"dilations": [2, 3], "pads": [2, 3, 2, 3]}),      # dilation
    ((1, 4, 9, 9), (8, 4, 3, 3), {"dilations": [4, 4]}),
    ((1, 4, 50), (8, 4, 5), {"pads": [2, 2], "strides": [2]}),                        # 1-D
    ((1, 4, 7, 7), (8, 4, 7, 3), {"strides": [2, 1], "pads": [0, 1, 0, 1]}),          # one output row: stride moot
])
def test_convolutions_keep_output_size_and_macs(tmp_path, x_shape, w_shape, attributes):
    model = _conv_model(x_shape, w_shape, **attributes)
    y = tuple(d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim)
    net = qf.load_network(_save(tmp_path, model))
    (layer,) = net.layers
    spatial_out = y[2:] if len(y) == 4 else (1, y[2])
    assert (layer.N, layer.K, layer.P, layer.Q) == (y[0], y[1], *spatial_out)
    assert (layer.C, layer.groups) == (x_shape[1], attributes.get("group", 1))
    assert layer.macs == independent_macs(model)[0] == math.prod(y) * w_shape[1] * math.prod(w_shape[2:])


def test_symmetric_padding_is_kept_and_asymmetric_folded_into_the_input(tmp_path):
    (same,) = qf.load_network(_save(tmp_path, _conv_model((1, 8, 17, 13), (16, 8, 3, 3), pads=[1, 1, 1, 1]))).layers
    assert (same.H, same.W, same.padding) == (17, 13, 1)
    (folded,) = qf.load_network(_save(tmp_path, _conv_model((1, 8, 17, 13), (16, 8, 3, 3), pads=[0, 1, 2, 1]))).layers
    assert (folded.padding, folded.H, folded.W) == (0, 17 + 0 + 2, 13 + 1 + 1)


def test_anisotropic_strides_are_refused(tmp_path):
    with pytest.raises(qf.QuidamInputError, match=r"node 'conv' \(Conv\): strides 2 x 1 differ between height and width"):
        qf.load_network(_save(tmp_path, _conv_model((1, 4, 16, 16), (8, 4, 3, 3), strides=[2, 1])))


def test_three_d_convolutions_are_refused(tmp_path):
    with pytest.raises(qf.QuidamInputError, match=r"1-D and 2-D convolutions only"):
        qf.load_network(_save(tmp_path, _conv_model((1, 4, 8, 8, 8), (8, 4, 3, 3, 3))))


def test_gemm_and_weight_matmuls_are_fully_connected_layers(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "w1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2")]
    model = _model(nodes, [_tensor("x", (4, 32))], [_tensor("y", None)],
                   [_weights("w1", (64, 32)), _weights("w2", (64, 10))])
    net = qf.load_network(_save(tmp_path, model))
    assert [(l.name, l.kind, l.N, l.C, l.K, l.macs) for l in net.layers] == [
        ("fc1", "fc", 4, 32, 64, 4 * 32 * 64), ("fc2", "fc", 4, 64, 10, 4 * 64 * 10)]
    assert net.notes == "MAC-free operators, not in the layer table: Relu x 1"


def test_attention_products_are_one_group_per_batch_and_head(tmp_path):
    b, h, s, d = 2, 4, 6, 8
    nodes = [helper.make_node("MatMul", ["q", "kt"], ["scores"], name="qk"),
             helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "v"], ["ctx"], name="pv"),
             helper.make_node("MatMul", ["ctx2d", "w"], ["out"], name="proj")]
    inputs = [_tensor("q", (b, h, s, d)), _tensor("kt", (b, h, d, s)), _tensor("v", (b, h, s, d)),
              _tensor("ctx2d", (b, s, h * d))]
    model = _model(nodes, inputs, [_tensor("ctx", None), _tensor("out", None)], [_weights("w", (h * d, h * d))])
    net = qf.load_network(_save(tmp_path, model))
    qk, pv, proj = net.layers
    assert (qk.groups, qk.H, qk.C // qk.groups, qk.K // qk.groups) == (b * h, s, d, s)
    assert (pv.groups, pv.H, pv.C // pv.groups, pv.K // pv.groups) == (b * h, s, s, d)
    assert qk.macs == pv.macs == b * h * s * s * d
    assert (proj.groups, proj.N, proj.H, proj.macs) == (1, b, s, b * s * (h * d) ** 2)


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 1, 5, 6), (4, 6, 7)),   # broadcast batch (3, 4)
    ((6,), (6, 7)),              # vector x matrix
    ((5, 6), (6,)),              # matrix x vector
    ((2, 5, 6), (1, 6, 7)),      # B with a batch of one: a weight shared by the batch
])
def test_matmul_broadcasting_counts_every_product(tmp_path, a_shape, b_shape):
    node = helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")
    model = shape_inference.infer_shapes(_model([node], [_tensor("a", a_shape), _tensor("b", b_shape)], [_tensor("y", None)]))
    expected = math.prod(np.matmul(np.zeros(a_shape), np.zeros(b_shape)).shape) * a_shape[-1]
    assert qf.load_network(_save(tmp_path, model)).macs == expected == independent_macs(model)[0]


# --- what is refused -------------------------------------------------------------------------------

def _single(op, inputs, **attributes):
    node = helper.make_node(op, [name for name, _ in inputs], ["y"], name="n1", **attributes)
    return _model([node], [_tensor(name, shape) for name, shape in inputs], [_tensor("y", None)])


@pytest.mark.parametrize("op, inputs, attributes", [
    ("ConvTranspose", [("x", (1, 4, 8, 8)), ("w", (4, 8, 3, 3))], {}),
    ("Einsum", [("a", (3, 4)), ("b", (4, 5))], {"equation": "ij,jk->ik"}),
])
def test_operators_with_unknown_macs_are_refused_by_name(tmp_path, op, inputs, attributes):
    path = _save(tmp_path, _single(op, inputs, **attributes))
    with pytest.raises(qf.QuidamInputError, match=rf"m.onnx: node 'n1' \({op}\) has multiply-accumulates the importer does not support"):
        qf.load_network(path)


def test_other_domains_are_refused(tmp_path):
    node = helper.make_node("FusedMatMul", ["a", "b"], ["y"], name="f", domain="com.microsoft")
    graph = helper.make_graph([node], "g", [_tensor("a", (2, 3)), _tensor("b", (3, 4))], [_tensor("y", (2, 4))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(qf.QuidamInputError, match=r"node 'f' \(FusedMatMul\) is an operator of domain 'com.microsoft'"):
        qf.load_network(path)


@pytest.mark.parametrize("content, message", [
    (b"this is not a model at all\n" * 5, r"bad.onnx: not an ONNX model"),
    (b"", r"bad.onnx: not an ONNX model"),
    (b"\x08\x07\x12\x04test", r"bad.onnx: not an ONNX model \(no graph nodes"),
])
def test_corrupt_files_are_one_line(tmp_path, content, message):
    (tmp_path / "bad.onnx").write_bytes(content)
    with pytest.raises(qf.QuidamInputError, match=message):
        qf.load_network(tmp_path / "bad.onnx")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(qf.QuidamInputError, match=r"ONNX file '.*nope.onnx' does not exist"):
        qf.load_network(tmp_path / "nope.onnx")
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(qf.QuidamInputError, match=r"ONNX file '.*dir.onnx' is a folder"):
        qf.load_network(tmp_path / "dir.onnx")


def _dynamic_model():
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    return _model([node], [_tensor("x", ("batch", "seq", 16))], [_tensor("y", None)], [_weights("w", (16, 32))])


def test_dynamic_dimensions_name_the_input_and_the_fix(tmp_path):
    path = _save(tmp_path, _dynamic_model())
    with pytest.raises(qf.QuidamInputError,
                       match=r"input 'x' has a dynamic dimension 0 'batch' with no size; give it one with --input-shape batch=SIZE"):
        qf.load_network(path)
    net = qf.load_network(path, input_shape="batch=2,seq=5")
    assert (net.layers[0].N, net.layers[0].H, net.macs) == (2, 5, 2 * 5 * 16 * 32)
    assert qf.load_network(path, input_shape=(3, 4, 16)).macs == 3 * 4 * 16 * 32
    with pytest.raises(qf.QuidamInputError, match=r"no input has a dimension named 'tokens'; its dynamic dimensions are batch, seq"):
        qf.load_network(path, input_shape={"tokens": 4})
    with pytest.raises(qf.QuidamInputError, match=r"input 'x' has size 16 in dimension 2; the input shape says 8"):
        qf.load_network(path, input_shape=(1, 4, 8))


def test_shapes_inference_cannot_make_concrete_are_refused(tmp_path):
    # a Reshape to a shape computed from a graph input's values: inference cannot know it
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"], name="mm")]
    inputs = [_tensor("x", (4, 16)), helper.make_tensor_value_info("shape", TensorProto.INT64, (2,))]
    path = _save(tmp_path, _model(nodes, inputs, [_tensor("y", None)], [_weights("w", (16, 8))]))
    with pytest.raises(qf.QuidamInputError, match=r"node 'mm' \(MatMul\): shape inference could not make the shape of its input 0 'r' concrete"):
        qf.load_network(path)


# --- the command line -------------------------------------------------------------------------------

def _cli(*args, cwd):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-P", "-m", "quidam_fast.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_networks_prints_and_saves_an_onnx_layer_table(tmp_path):
    path = next(p for p in LIGHT if p.endswith("light_squeezenet.onnx"))
    done = _cli("networks", path, "--output", "sq.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("light_squeezenet: 26 layers, ")
    assert lines[1].startswith("MAC-free operators, not in the layer table: ConstantOfShape x 39, Relu x 26")
    assert qf.load_network(tmp_path / "sq.csv").macs == qf.load_network(path).macs


def test_bad_onnx_files_are_one_line_exit_2_and_write_nothing(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not a model\n")
    _save(tmp_path, _dynamic_model(), "dynamic.onnx")
    grid = _cli("grid", "--network", "bad.onnx", "--out", "out.nc", "--quiet", cwd=tmp_path)
    assert grid.returncode == 2 and grid.stderr.strip().splitlines() == [
        "error: bad.onnx: not an ONNX model (the file does not parse: Error parsing message with type "
        "'onnx.ModelProto': Wire format was corrupt)"]
    saved = _cli("networks", "dynamic.onnx", "--output", "table.csv", cwd=tmp_path)
    assert saved.returncode == 2 and saved.stderr.strip().splitlines() == [
        "error: dynamic.onnx: input 'x' has a dynamic dimension 0 'batch' with no size; give it one with "
        "--input-shape batch=SIZE (Python: input_shape={'batch': SIZE})"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx", "dynamic.onnx"]
    fixed = _cli("networks", "dynamic.onnx", "--input-shape", "batch=2,seq=3", cwd=tmp_path)
    assert fixed.returncode == 0 and fixed.stdout.startswith("dynamic: 1 layers")


def test_module_examples():
    import doctest

    import quidam_fast.onnx_import

    assert doctest.testmod(quidam_fast.onnx_import).failed == 0


def test_integer_variants_and_constant_weights(tmp_path):
    nodes = [helper.make_node("MatMulInteger", ["x", "w"], ["y"], name="mi"),
             helper.make_node("ConvInteger", ["img", "k"], ["z"], name="ci", pads=[1, 1, 1, 1]),
             helper.make_node("Constant", [], ["w2"], value=_weights("v", (16, 4))),
             helper.make_node("Cast", ["y"], ["yf"], to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["yf", "w2"], ["out"], name="mm")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.UINT8, (4, 64)),
              helper.make_tensor_value_info("img", TensorProto.UINT8, (1, 3, 8, 8))]
    initializers = [numpy_helper.from_array(np.ones((64, 16), dtype=np.uint8), "w"),
                    numpy_helper.from_array(np.ones((5, 3, 3, 3), dtype=np.uint8), "k")]
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, None),
               helper.make_tensor_value_info("z", TensorProto.INT32, None)]
    net = qf.load_network(_save(tmp_path, _model(nodes, inputs, outputs, initializers)))
    assert [(l.name, l.macs) for l in net.layers] == [("mi", 4 * 64 * 16), ("ci", 5 * 3 * 9 * 8 * 8), ("mm", 4 * 16 * 4)]
    assert net.notes == "MAC-free operators, not in the layer table: Cast x 1, Constant x 1"


def test_weights_in_a_missing_external_file_are_not_needed(tmp_path):
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    model = _model([node], [_tensor("x", ("n", 64))], [_tensor("y", None)],
                   [numpy_helper.from_array(np.ones((64, 32), dtype=np.float32), "w")])
    (tmp_path / "model").mkdir()
    onnx.save(model, tmp_path / "model" / "m.onnx", save_as_external_data=True, location="m.data", size_threshold=0)
    (tmp_path / "model" / "m.data").unlink()  # shared without its weights: only shapes matter
    net = qf.load_network(tmp_path / "model" / "m.onnx", input_shape=(3, 64))  # the weight is not an input
    assert net.macs == 3 * 64 * 32


def test_local_functions_are_inlined(tmp_path):
    body = [helper.make_node("MatMul", ["a", "b"], ["c"], name="inner"), helper.make_node("Relu", ["c"], ["d"])]
    function = helper.make_function("custom", "LinearRelu", ["a", "b"], ["d"], body,
                                    opset_imports=[helper.make_opsetid("", 17)])
    node = helper.make_node("LinearRelu", ["x", "w"], ["y"], name="block", domain="custom")
    graph = helper.make_graph([node], "g", [_tensor("x", (2, 8))], [_tensor("y", (2, 4))], initializer=[_weights("w", (8, 4))])
    model = helper.make_model(graph, functions=[function],
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)])
    net = qf.load_network(_save(tmp_path, model))
    assert net.macs == 2 * 8 * 4 and net.notes.endswith("Relu x 1")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning")
def test_a_torch_exported_attention_block_with_dynamic_axes(tmp_path):
    """A transformer block as torch exports it (Reshape/Transpose chains, dynamic batch and sequence):
    the sizes given by name flow through shape inference; MACs equal the block's equations."""
    torch = pytest.importorskip("torch")
    d, heads, hidden, batch, tokens = 64, 4, 256, 2, 10

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv, self.proj = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
            self.fc1, self.fc2 = torch.nn.Linear(d, hidden), torch.nn.Linear(hidden, d)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = (z.reshape(b, t, heads, d // heads).transpose(1, 2) for z in self.qkv(x).split(d, dim=-1))
            attention = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
            x = x + self.proj(attention.transpose(1, 2).reshape(b, t, d))
            return x + self.fc2(torch.relu(self.fc1(x)))

    path = tmp_path / "block.onnx"
    torch.onnx.export(Block().eval(), (torch.zeros(1, 3, d),), path, dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {0: "batch", 1: "seq"}})
    with pytest.raises(qf.QuidamInputError, match=r"input 'x' has a dynamic dimension 0 'batch' with no size"):
        qf.load_network(path)
    net = qf.load_network(path, input_shape=f"batch={batch},seq={tokens}")
    weights = batch * tokens * (3 * d * d + d * d + 2 * d * hidden)
    attention = 2 * batch * tokens * tokens * d
    assert net.macs == weights + attention
    assert [layer.groups for layer in net.layers] == [1, batch * heads, batch * heads, 1, 1, 1]
