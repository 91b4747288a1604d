"""ONNX graphs as layer tables (the ``onnx`` package and its shape inference).

:func:`load_onnx` reads a model, inlines its model-local functions, runs the ONNX checker and shape
inference (with data propagation, so shapes computed from ``Shape``/``Reshape`` chains are known) and
turns every operator with multiply-accumulates into a :class:`~quidam_fast.workloads.Layer`, in graph
order. Only shapes are used: weights may be placeholders, or in external data files that are absent.

``Conv``, ``ConvInteger``, ``QLinearConv`` (1-D and 2-D)
    ``X (N, C, H, W)`` with ``W (K, C/group, R, S)``: a layer with those letters and ``groups = group``
    (depthwise: ``groups == C == K``). The layer model has one stride and one symmetric padding, so:

    * **asymmetric padding** (``pads = [top, left, bottom, right]`` or ``auto_pad = SAME_*``): the
      layer's ``padding`` is the smallest of the four pads and the rest is folded into the input,
      ``H' = H + top + bottom - 2 padding`` (likewise ``W'``): the padded extent, hence the output size
      ``P x Q`` and the MACs, are exact; the extra zero rows count as input words;
    * **dilation** ``d``: the filter keeps its ``R x S`` taps (the MACs and the ``(N P Q) x (C R S) x K``
      GEMM a systolic array runs are exact) and the input extent loses the ``(d - 1)(R - 1)`` rows
      the holes span, ``H' = H + top + bottom - 2 padding - (d - 1)(R - 1)``, so ``P`` is exact; the
      input footprint is that of an undilated window over the same outputs;
    * **strides** must agree between height and width, unless one axis has a single output (its
      stride then moves nothing); a 1-D convolution ``X (N, C, L)`` is ``H = R = 1``, ``W = L``;
    * 3-D convolutions are refused.

``Gemm``
    ``A (M, K) x B (K, N)`` (``transA``/``transB`` honoured): a fully connected layer with ``N = M``
    rows, ``C = K``, ``K = N``. ``alpha``, ``beta`` and the bias are element-wise (no MACs).

``MatMul``, ``MatMulInteger``, ``QLinearMatMul`` (numpy semantics: 1-D operands, broadcast batch dims)
    ``A (..., M, K) x B (..., K, N)``. If ``B`` has no batch (a weight matrix, or a shared operand)
    it is one GEMM over every row of ``A``: a fully connected layer (``A`` 2-D: ``N = M``; otherwise
    ``N`` = the first dim of ``A`` and ``H`` = the product of the others but the last). If ``B`` has a
    batch (both operands activations, as attention's ``Q K^T`` and ``softmax(.) V`` per head) it is a
    **grouped 1 x 1 convolution with one group per batch element** (``groups = G``, the product of
    the broadcast batch dims; ``H = M``, ``C = G K``, ``K = G N``): the array runs the ``G`` GEMMs one
    after another, each group's inputs and "filters" its own (a broadcast operand is read once per
    group).

MACs are therefore exactly those of the graph: ``N K (C/g) R S P Q`` per convolution, ``M K N`` per
``Gemm``, ``G M K N`` per ``MatMul``.

Every other operator of the standard ONNX domain that has no weighted reduction (element-wise
arithmetic, activations, normalization, pooling, shape and data movement) is **MAC-free**: it is not a
layer, and :attr:`Network.notes <quidam_fast.workloads.Network.notes>` lists it by name and count.
Operators whose MACs the importer cannot count (:data:`MAC_UNSUPPORTED`: ``ConvTranspose``, the
recurrent layers, ``Einsum``, ``Attention``, control flow with subgraphs ...), an operator of another
domain, a corrupt file and a shape that inference cannot make concrete (a dynamic dimension: fix it
with ``input_shape``) are refused with one line; no partial table is ever returned.
"""

from __future__ import annotations

import collections
import math
from pathlib import Path

from ._files import read_user_bytes
from .errors import QuidamInputError
from .workloads import Layer, Network, parse_input_shape

#: The largest ONNX file read: protobuf's 2 GiB message limit (larger models keep their weights in
#: external data files, which the importer does not need).
MAX_ONNX_BYTES = 2**31 - 1

#: Operators that become layers, with the positions of their activation and weight (or second) input.
MAC_OPERATORS = {
    "Conv": (0, 1), "ConvInteger": (0, 1), "QLinearConv": (0, 3),
    "Gemm": (0, 1),
    "MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3),
}  # fmt: skip

#: Standard operators with MACs (or subgraphs that may hold them) that the layer model cannot express:
#: refused by name.
MAC_UNSUPPORTED = frozenset({
    "Attention", "CausalConvWithState", "ConvTranspose", "DeformConv", "DFT", "Det", "Einsum", "GRU", "If",
    "LinearAttention", "Loop", "LSTM", "RNN", "Scan", "SequenceMap", "STFT",
})  # fmt: skip

#: Standard operators without a weighted reduction: listed in the notes, not layers. Kept explicit (not
#: "everything else") so that an operator added to ONNX later is refused until someone decides; a test
#: checks that every operator of the installed onnx is in exactly one of the three sets.
MAC_FREE = frozenset({
    "Abs", "Acos", "Acosh", "Add", "AffineGrid", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh",
    "AveragePool", "BatchNormalization", "Bernoulli", "BitCast", "BitShift", "BitwiseAnd", "BitwiseNot",
    "BitwiseOr", "BitwiseXor", "BlackmanWindow", "Cast", "CastLike", "Ceil", "Celu", "CenterCropPad", "Clip",
    "Col2Im", "Compress", "Concat", "ConcatFromSequence", "Constant", "ConstantOfShape", "Cos", "Cosh",
    "CumProd", "CumSum", "DepthToSpace", "DequantizeLinear", "Div", "Dropout", "DynamicQuantizeLinear", "Elu",
    "Equal", "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor", "Gather", "GatherElements", "GatherND",
    "Gelu", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "GridSample",
    "GroupNormalization", "HammingWindow", "HannWindow", "HardSigmoid", "HardSwish", "Hardmax", "Identity",
    "ImageDecoder", "InstanceNormalization", "IsInf", "IsNaN", "LRN", "LayerNormalization", "LeakyRelu",
    "Less", "LessOrEqual", "Log", "LogSoftmax", "LpNormalization", "LpPool", "Max", "MaxPool", "MaxRoiPool",
    "MaxUnpool", "Mean", "MeanVarianceNormalization", "MelWeightMatrix", "Min", "Mish", "Mod", "Mul",
    "Multinomial", "Neg", "NegativeLogLikelihoodLoss", "NonMaxSuppression", "NonZero", "Not", "OneHot",
    "Optional", "OptionalGetElement", "OptionalHasElement", "Or", "PRelu", "Pad", "Pow", "QuantizeLinear",
    "RMSNormalization", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Range",
    "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
    "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "RegexFullMatch", "Relu", "Reshape", "Resize",
    "ReverseSequence", "RoiAlign", "RotaryEmbedding", "Round", "Scatter", "ScatterElements", "ScatterND",
    "Selu", "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase", "SequenceInsert",
    "SequenceLength", "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Softmax",
    "SoftmaxCrossEntropyLoss", "Softplus", "Softsign", "SpaceToDepth", "Split", "SplitToSequence", "Sqrt",
    "Squeeze", "StringConcat", "StringNormalizer", "StringSplit", "Sub", "Sum", "SwiGLU", "Swish", "Tan",
    "Tanh", "TensorScatter", "TfIdfVectorizer", "ThresholdedRelu", "Tile", "TopK", "Transpose", "Trilu",
    "Unique", "Unsqueeze", "Upsample", "Where", "Xor",
})  # fmt: skip

_STANDARD_DOMAINS = ("", "ai.onnx")


def load_onnx(path: str | Path, *, input_shape=None, name: str | None = None) -> Network:
    """The layer table of the ONNX model at ``path`` (see the module docstring for the mapping).

    Parameters
    ----------
    path
        An ``.onnx`` file. Weights may be placeholders or external: only shapes are used.
    input_shape
        Sizes for dynamic dimensions: the whole shape of the graph's only input (a tuple, or text such
        as ``"1,3,224,224"``), or sizes by dimension name (a dict, or ``"batch=1,seq=128"``).
    name
        The network's name (default: the file name without ``.onnx``).

    Returns
    -------
    quidam_fast.workloads.Network
        One layer per MAC operator, named after its node (``#2``, ``#3`` ... where node names repeat);
        ``notes`` lists the MAC-free operators by name and count.

    Raises
    ------
    QuidamInputError
        One line naming the file and the problem: unreadable or not ONNX, a model the checker or
        shape inference rejects, an input with a dimension of unknown size (which input, which
        dimension, and the ``input_shape`` that fixes it), an operator whose MACs the importer does not
        know, a layer the layer model cannot express or over the size limits.

    Examples
    --------
    >>> import os, onnx
    >>> light = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
    >>> net = load_onnx(os.path.join(light, "light_bvlc_alexnet.onnx"))
    >>> len(net.layers), net.notes.split(": ")[1].split(", ")[0]
    (8, 'ConstantOfShape x 16')
    """
    try:
        import onnx
        import onnx.inliner
        from onnx import shape_inference
    except ImportError as error:
        raise QuidamInputError(f"{path}: reading ONNX files needs the onnx package ({error}); pip install onnx") from None
    source = str(path)
    data = read_user_bytes(path, "ONNX file", max_bytes=MAX_ONNX_BYTES)
    try:
        model = onnx.load_model_from_string(data)
    except Exception as error:  # protobuf's DecodeError and friends: not an ONNX model
        raise QuidamInputError(f"{source}: not an ONNX model (the file does not parse: {_one_line(error)})") from None
    if not model.graph.node or model.ir_version < 1:
        raise QuidamInputError(f"{source}: not an ONNX model (no graph nodes or no IR version)")
    if model.functions:  # model-local functions (an exporter's custom blocks): their bodies are standard ops
        try:
            model = onnx.inliner.inline_local_functions(model)
        except Exception as error:
            raise QuidamInputError(f"{source}: the model's local functions cannot be inlined: {_one_line(error)}") from None
    weights = _external_weights_as_inputs(model)
    try:
        onnx.checker.check_model(model)
    except Exception as error:  # ValidationError; a model too large for the checker's proto copy
        raise QuidamInputError(f"{source}: the ONNX checker rejects the model: {_one_line(error)}") from None
    _fix_input_dims(model, input_shape, source, weights)
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as error:  # InferenceError: inconsistent shapes, an operator inference does not know
        raise QuidamInputError(f"{source}: ONNX shape inference failed: {_one_line(error)}") from None
    shapes = _known_shapes(inferred.graph)
    return _layer_table(inferred.graph, shapes, source, name or Path(source).stem)


def _one_line(error: Exception, limit: int = 300) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _external_weights_as_inputs(model) -> set[str]:
    """Turn initializers stored in external data files into graph inputs of the same shape.

    Only shapes are needed, and the weights' files may be absent (a model shared without its weights)
    or relative to a folder the checker does not look in; as graph inputs with their dims, shape
    inference sees the same shapes. Returns their names (they are not the user's inputs).
    """
    from onnx import TensorProto, helper

    external = [t for t in model.graph.initializer if t.data_location == TensorProto.EXTERNAL]
    listed = {value.name for value in model.graph.input}
    for tensor in external:
        if tensor.name not in listed:
            model.graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    kept = [t for t in model.graph.initializer if t.data_location != TensorProto.EXTERNAL]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return {tensor.name for tensor in external}


def _graph_inputs(graph, weights: set[str] = frozenset()) -> list:
    """The graph's real inputs (old IRs list initializers among the inputs too; ``weights`` are
    external initializers made inputs)."""
    initializers = {tensor.name for tensor in graph.initializer} | set(weights)
    return [value for value in graph.input if value.name not in initializers]


def _fix_input_dims(model, input_shape, source: str, weights: set[str] = frozenset()) -> None:
    """Give the graph inputs' dynamic dimensions the sizes of ``input_shape``; refuse any left unknown."""
    inputs = _graph_inputs(model.graph, weights)
    if isinstance(input_shape, str):
        input_shape = parse_input_shape(input_shape)
    if isinstance(input_shape, dict):
        used = set()
        for value in inputs:
            for dim in value.type.tensor_type.shape.dim:
                if dim.HasField("dim_param") and dim.dim_param in input_shape:
                    used.add(dim.dim_param)
                    dim.dim_value = int(input_shape[dim.dim_param])
        unused = sorted(set(input_shape) - used)
        if unused:
            names = sorted({d.dim_param for v in inputs for d in v.type.tensor_type.shape.dim if d.HasField("dim_param")})
            raise QuidamInputError(
                f"{source}: no input has a dimension named {unused[0]!r}; its dynamic dimensions are "
                f"{', '.join(names) if names else 'none'}"
            )
    elif input_shape is not None:
        shape = tuple(int(size) for size in input_shape)
        if len(inputs) != 1:
            raise QuidamInputError(
                f"{source}: the graph has {len(inputs)} inputs ({', '.join(v.name for v in inputs)}); give sizes by "
                "dimension name instead of one shape, e.g. batch=1,seq=128"
            )
        dims = inputs[0].type.tensor_type.shape.dim
        if len(dims) != len(shape):
            raise QuidamInputError(f"{source}: input {inputs[0].name!r} has {len(dims)} dimensions; the input shape {shape} has {len(shape)}")
        for i, (dim, size) in enumerate(zip(dims, shape)):
            if dim.HasField("dim_value") and dim.dim_value != size:
                raise QuidamInputError(
                    f"{source}: input {inputs[0].name!r} has size {dim.dim_value} in dimension {i}; the input shape says {size}"
                )
            dim.dim_value = size
    for value in inputs:
        if not value.type.HasField("tensor_type"):
            continue  # sequences, maps: no tensor shape to fix; a MAC operator on them is refused below
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            raise QuidamInputError(
                f"{source}: input {value.name!r} has no shape (not even its rank); give its shape with an input shape, "
                "e.g. --input-shape 1,3,224,224"
            )
        for i, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value < 1:  # a size written in the file, not a missing one
                raise QuidamInputError(
                    f"{source}: input {value.name!r} has size {dim.dim_value} in dimension {i}; sizes must be positive"
                )
            if not dim.HasField("dim_value"):
                label = f"{dim.dim_param!r}" if dim.HasField("dim_param") else "(unnamed)"
                fix = (f"--input-shape {dim.dim_param}=SIZE (Python: input_shape={{{dim.dim_param!r}: SIZE}})"
                       if dim.HasField("dim_param") and dim.dim_param
                       else "--input-shape with the whole input's shape, e.g. 1,3,224,224")
                raise QuidamInputError(
                    f"{source}: input {value.name!r} has a dynamic dimension {i} {label} with no size; give it one with {fix}"
                )


def _known_shapes(graph) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, for every tensor whose every dimension inference made concrete."""
    shapes = {}
    for tensor in graph.initializer:
        shapes[tensor.name] = tuple(int(d) for d in tensor.dims)
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        tensor_type = value.type.tensor_type
        if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
            continue
        dims = tensor_type.shape.dim
        if all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    return shapes


def _layer_table(graph, shapes: dict, source: str, network_name: str) -> Network:
    layers: list[Layer] = []
    mac_free: collections.Counter = collections.Counter()
    seen_names: collections.Counter = collections.Counter()
    for index, node in enumerate(graph.node):
        op = node.op_type
        label = f"node {node.name!r} ({op})" if node.name else f"node {index} ({op})"
        if node.domain not in _STANDARD_DOMAINS:
            raise QuidamInputError(
                f"{source}: {label} is an operator of domain {node.domain!r}, not standard ONNX; the importer cannot "
                "count its MACs (export with standard operators only)"
            )
        if op in MAC_UNSUPPORTED:
            raise QuidamInputError(
                f"{source}: {label} has multiply-accumulates the importer does not support; supported: "
                f"{', '.join(MAC_OPERATORS)} (MAC-free operators are listed in the notes)"
            )
        if op in MAC_FREE:
            mac_free[op] += 1
            continue
        if op not in MAC_OPERATORS:
            raise QuidamInputError(f"{source}: {label} is an operator the importer does not know; it cannot tell its MACs")
        base = node.name or f"{op.lower()}{index}"
        seen_names[base] += 1
        layer_name = base if seen_names[base] == 1 else f"{base}#{seen_names[base]}"
        first, second = (_shape(node, position, shapes, source, label) for position in MAC_OPERATORS[op])
        # (outside the try below: its error names the file already)
        output = _shape(node, None, shapes, source, label) if op in ("Conv", "ConvInteger", "QLinearConv") else None
        try:
            if op in ("Conv", "ConvInteger", "QLinearConv"):
                layer = _conv_layer(layer_name, node, first, second, output, label)
            elif op == "Gemm":
                layer = _gemm_layer(layer_name, node, first, second, label)
            else:
                layer = _matmul_layer(layer_name, first, second, label)
        except QuidamInputError as error:
            raise QuidamInputError(f"{source}: {error}") from None
        layers.append(layer)
    if not layers:
        raise QuidamInputError(f"{source}: the graph has no operator with MACs ({', '.join(MAC_OPERATORS)}); nothing to evaluate")
    notes = ("MAC-free operators, not in the layer table: "
             + ", ".join(f"{op} x {count}" for op, count in sorted(mac_free.items(), key=lambda item: (-item[1], item[0])))
             if mac_free else "")
    return Network(network_name, tuple(layers), notes)


def _shape(node, position, shapes: dict, source: str, label: str) -> tuple[int, ...]:
    """The inferred shape of input ``position`` of ``node`` (``None``: its first output)."""
    if position is None:
        tensor = node.output[0]
        what = f"its output {tensor!r}"
    else:
        tensor = node.input[position] if position < len(node.input) else ""
        what = f"its input {position} {tensor!r}"
    if tensor not in shapes:
        raise QuidamInputError(
            f"{source}: {label}: shape inference could not make the shape of {what} concrete; fix the model's dynamic "
            "dimensions with an input shape (e.g. --input-shape batch=1,seq=128) or export it with static shapes"
        )
    return shapes[tensor]


def _attribute(node, name: str, default):
    for attribute in node.attribute:
        if attribute.name == name:
            from onnx import helper

            value = helper.get_attribute_value(attribute)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _conv_layer(name: str, node, x: tuple, w: tuple, y: tuple, label: str) -> Layer:
    spatial = len(x) - 2
    if spatial not in (1, 2) or len(w) != len(x):
        raise QuidamInputError(
            f"{label}: input of shape {x} and weights {w}; the layer model takes 1-D and 2-D convolutions only"
        )
    N, C = x[0], x[1]
    K, kernel = w[0], list(w[2:])
    group = int(_attribute(node, "group", 1))
    if group < 1 or C % group or K % group or w[1] * group != C:
        raise QuidamInputError(f"{label}: group = {group} does not fit input channels {C}, weights {w}")
    strides = list(_attribute(node, "strides", [1] * spatial))
    dilations = list(_attribute(node, "dilations", [1] * spatial))
    sizes = list(x[2:])
    auto_pad = _attribute(node, "auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else large)
            ends.append(large if auto_pad == "SAME_UPPER" else small)
    elif auto_pad == "VALID":
        begins, ends = [0] * spatial, [0] * spatial
    else:
        pads = list(_attribute(node, "pads", [0] * (2 * spatial)))
        begins, ends = pads[:spatial], pads[spatial:]
    outputs = [(size + b + e - ((k - 1) * d + 1)) // s + 1
               for size, k, s, d, b, e in zip(sizes, kernel, strides, dilations, begins, ends)]
    if tuple(y) != (N, K, *outputs):
        raise QuidamInputError(f"{label}: output shape {y} disagrees with the convolution's {(N, K, *outputs)}")
    if spatial == 1:  # (N, C, L): one row of height 1 under a 1 x S filter
        sizes, kernel, strides, dilations = [1] + sizes, [1] + kernel, [strides[0]] + strides, [1] + dilations
        begins, ends, outputs = [0] + begins, [0] + ends, [1] + outputs
    moving = [s for s, out in zip(strides, outputs) if out > 1]
    if len(set(moving)) > 1:
        raise QuidamInputError(
            f"{label}: strides {strides[0]} x {strides[1]} differ between height and width; the layer model has one stride"
        )
    stride = moving[0] if moving else strides[-1]
    # The extent the undilated R x S window slides over, per axis (see the module docstring), and the
    # largest symmetric padding it allows; the rest of the padding is folded into the input.
    extents = []
    for size, k, s, d, b, e, out in zip(sizes, kernel, strides, dilations, begins, ends, outputs):
        extent = size + b + e - (d - 1) * (k - 1)
        if s != stride:  # an axis with one output: any extent from k to k + stride - 1 gives it
            extent = k
        extents.append(extent)
    padding = min(min(b, e) for b, e in zip(begins, ends))
    while padding > 0 and min(extent - 2 * padding for extent in extents) < 1:
        padding -= 1
    layer = Layer(name, H=extents[0] - 2 * padding, W=extents[1] - 2 * padding, C=C, K=K, R=kernel[0], S=kernel[1],
                  stride=stride, padding=padding, groups=group, N=N)
    assert (layer.P, layer.Q) == tuple(outputs), (name, layer, outputs)  # the mapping keeps the output size
    return layer


def _gemm_layer(name: str, node, a: tuple, b: tuple, label: str) -> Layer:
    if len(a) != 2 or len(b) != 2:
        raise QuidamInputError(f"{label}: Gemm operands of shapes {a} and {b}; Gemm takes matrices")
    M, K = (a[1], a[0]) if _attribute(node, "transA", 0) else a
    K2, N = (b[1], b[0]) if _attribute(node, "transB", 0) else b
    if K != K2:
        raise QuidamInputError(f"{label}: Gemm operands of shapes {a} and {b} do not chain (K = {K} and {K2})")
    return Layer(name, H=1, W=1, C=K, K=N, N=M)


def _matmul_layer(name: str, a: tuple, b: tuple, label: str) -> Layer:
    if not a or not b:
        raise QuidamInputError(f"{label}: a MatMul operand is a scalar (shapes {a} and {b})")
    a_matrix = a if len(a) > 1 else (1, a[0])
    b_matrix = b if len(b) > 1 else (b[0], 1)
    M, K = a_matrix[-2:]
    K2, N = b_matrix[-2:]
    if K != K2:
        raise QuidamInputError(f"{label}: MatMul operands of shapes {a} and {b} do not chain (K = {K} and {K2})")
    try:
        batch = _broadcast(a_matrix[:-2], b_matrix[:-2])
    except ValueError:
        raise QuidamInputError(f"{label}: MatMul operands of shapes {a} and {b} do not broadcast") from None
    if math.prod(b_matrix[:-2]) == 1:  # one B for every row of A: a weight matrix, one GEMM
        if len(a_matrix) == 2:
            return Layer(name, H=1, W=1, C=K, K=N, N=M)
        rows = math.prod(batch[1:]) * M
        return Layer(name, H=rows, W=1, C=K, K=N, N=batch[0])
    groups = math.prod(batch)
    return Layer(name, H=M, W=1, C=groups * K, K=groups * N, groups=groups)


def _broadcast(a: tuple, b: tuple) -> tuple[int, ...]:
    """numpy's broadcast of two batch shapes (``ValueError`` if they do not broadcast)."""
    length = max(len(a), len(b))
    a, b = (1,) * (length - len(a)) + tuple(a), (1,) * (length - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ValueError((a, b))
        out.append(max(x, y) if 0 not in (x, y) else 0)
    return tuple(out)
