"""Networks as layer tables: the built-in library, SCALE-Sim topology CSVs and the project's own CSVs.

A layer is a (possibly grouped) convolution; a fully connected layer is a 1 x 1 convolution on a 1 x 1
input. Shapes use the usual accelerator letters:

====== ==========================================================
``N``  batch size
``C``  input channels (all groups together)
``K``  output channels (filters, all groups together)
``H``  ``W`` input height and width, unpadded
``R``  ``S`` filter height and width
``P``  ``Q`` output height and width, ``floor((H + 2 padding - R) / stride) + 1``
``groups`` ``C`` and ``K`` split into this many independent convolutions (depthwise: ``groups == C == K``)
====== ==========================================================

A network loaded from a SCALE-Sim topology keeps SCALE-Sim's convention of unpadded inputs
(``padding = 0``), so its output size is ``ceil((H - R + stride) / stride)``, the same formula.

Where networks come from (:func:`load_network`): a library name, optionally with parameters
(``gpt2_small_decode@kv=4096``, ``bert_base@seq=256,batch=4``, ``resnet50@batch=8``; see
:func:`network_parameters`), a layer CSV, an ONNX file (:mod:`quidam_fast.onnx_import`) or a torch
model named ``path/to/model.py:attr`` or ``package.module:attr`` (``quidam_fast.quant.extract``).
The transformer and LLM networks are in :mod:`quidam_fast.transformers`.

Size limits
-----------
The kernels count in int64 and total in float64. So that no count can overflow and every MAC total is
exact, a layer is refused when it is built if any integer field exceeds :data:`MAX_DIMENSION`
(``2**31 - 1``) or if one of the products the kernels scale their counts from exceeds
:data:`MAX_COUNT` (``2**45``, about 3.5e13): its MACs, its input ``N C H W``, filter ``K (C/groups) R S``
and output ``N K P Q`` footprints in words, and the input words re-read once per filter of a group
(``N C H W K/groups`` and, row-stationary, ``N C W P R K/groups``). Kernel counts are these products
times fold counts and operand widths, so they stay far below ``2**63``, and counts up to ``2**53`` are
exact in float64; a network's total MACs stay below ``2**53`` (:data:`MAX_NETWORK_MACS`).
:func:`quidam_fast.evaluate` checks the layers again at the space's largest ``batch`` (which multiplies
``N``). The largest layers of today's LLMs (a 70 B model's feed-forward layer at 8,192 tokens: 1.9e12
MACs) are well inside the bound.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from importlib import resources
from pathlib import Path

import numpy as np

from ._files import read_user_text
from .errors import QuidamInputError

#: The integer columns of a layer table, in the order the kernels receive them.
LAYER_COLUMNS = ("N", "K", "C", "R", "S", "P", "Q", "H", "W", "stride", "padding", "groups")

#: Largest value of any integer field of a layer (int32's largest: sums such as ``H + 2 padding`` stay exact).
MAX_DIMENSION = 2**31 - 1
#: Largest MAC count, footprint or input re-read product of one layer (see "Size limits" above).
MAX_COUNT = 2**45
#: Largest MAC count of a whole network: float64 totals are exact below it.
MAX_NETWORK_MACS = 2**53


@dataclasses.dataclass(frozen=True)
class Layer:
    """One convolution or fully connected layer (see the module docstring for the letters)."""

    name: str
    H: int
    W: int
    C: int
    K: int
    R: int = 1
    S: int = 1
    stride: int = 1
    padding: int = 0
    groups: int = 1
    N: int = 1
    #: round the output size up (SCALE-Sim's convention, like PyTorch pooling's ``ceil_mode``)
    ceil_mode: bool = False

    def __post_init__(self):
        for field in ("H", "W", "C", "K", "R", "S", "stride", "groups", "N"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise QuidamInputError(
                    f"layer {self.name!r}: {field} = {value!r} is not allowed; it must be a positive integer"
                )
        if (
            isinstance(self.padding, bool)
            or not isinstance(self.padding, (int, np.integer))
            or self.padding < 0
        ):
            raise QuidamInputError(
                f"layer {self.name!r}: padding = {self.padding!r} is not allowed; it must be an integer >= 0"
            )
        for field in ("H", "W", "C", "K", "R", "S", "stride", "padding", "groups", "N"):
            value = int(getattr(self, field))
            if value > MAX_DIMENSION:
                raise QuidamInputError(
                    f"layer {self.name!r}: {field} = {value} is too large; the kernels count in 64-bit integers "
                    f"and allow at most 2^31 - 1 = {MAX_DIMENSION}"
                )
        if self.C % self.groups or self.K % self.groups:
            raise QuidamInputError(
                f"layer {self.name!r}: groups = {self.groups} must divide both C = {self.C} and K = {self.K}"
            )
        if self.R > self.H + 2 * self.padding or self.S > self.W + 2 * self.padding:
            raise QuidamInputError(
                f"layer {self.name!r}: filter {self.R} x {self.S} is larger than the padded input "
                f"{self.H + 2 * self.padding} x {self.W + 2 * self.padding}"
            )
        self._check_counts()

    def _check_counts(self) -> None:
        """Refuse a layer whose MACs, footprints or input re-reads exceed :data:`MAX_COUNT` (Python
        integers: the products are formed exactly, whatever their size)."""
        N, C, K, H, W, R, S = (int(getattr(self, f)) for f in ("N", "C", "K", "H", "W", "R", "S"))
        filters_per_group = K // int(self.groups)
        P, Q = self.P, self.Q
        products = (
            ("MACs (N K C/groups R S P Q)", self.macs),
            ("input words (N C H W)", N * C * H * W),
            ("filter words (K C/groups R S)", K * (C // int(self.groups)) * R * S),
            ("output words (N K P Q)", N * K * P * Q),
            ("input re-reads (N C H W K/groups)", N * C * H * W * filters_per_group),
            ("row-stationary input reads (N C W P R K/groups)", N * C * W * P * R * filters_per_group),
        )
        for what, value in products:
            if value > MAX_COUNT:
                raise QuidamInputError(
                    f"layer {self.name!r}: {what} = {value:.3g} is too large; one layer may count at most "
                    f"2^45 = {MAX_COUNT:.3g} so that the kernels' 64-bit counts cannot overflow"
                )

    @property
    def P(self) -> int:
        """Output height."""
        return _output_size(self.H + 2 * self.padding - self.R, self.stride, self.ceil_mode)

    @property
    def Q(self) -> int:
        """Output width."""
        return _output_size(self.W + 2 * self.padding - self.S, self.stride, self.ceil_mode)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer."""
        return self.N * self.K * (self.C // self.groups) * self.R * self.S * self.P * self.Q

    @property
    def params(self) -> int:
        """Weights of the layer: ``K * (C / groups) * R * S`` (biases, applied with requantization, excluded)."""
        return self.K * (self.C // self.groups) * self.R * self.S

    @property
    def kind(self) -> str:
        """``depthwise``, ``grouped`` (also a batch of matrix products, as attention's per head),
        ``fc`` or ``conv``."""
        if self.groups > 1:
            return "depthwise" if self.groups == self.C == self.K else "grouped"
        if self.H == self.W == self.R == self.S == 1:
            return "fc"
        return "conv"


def _output_size(span: int, stride: int, ceil_mode: bool) -> int:
    return (-(-span // stride) if ceil_mode else span // stride) + 1


@dataclasses.dataclass(frozen=True)
class Network:
    """A named sequence of layers; ``table()`` gives the arrays the kernels take.

    ``notes`` says what the layer table leaves out, e.g. an imported ONNX graph's MAC-free operators by
    name and count (``"MAC-free operators, not in the layer table: Relu x 49, MaxPool x 1"``), or the
    conventions of a library network; empty when nothing is left out.
    """

    name: str
    layers: tuple[Layer, ...]
    notes: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise QuidamInputError(f"network name {self.name!r} is not allowed; it must be a non-empty string")
        if not isinstance(self.layers, (tuple, list)) or not all(isinstance(layer, Layer) for layer in self.layers):
            raise QuidamInputError(f"network {self.name!r}: layers must be a tuple of Layer objects, "
                                   f"got {repr(self.layers)[:60]}")
        object.__setattr__(self, "layers", tuple(self.layers))  # a list given: the network stays hashable
        if not self.layers:
            raise QuidamInputError(f"network {self.name!r} has no layers")
        names = [layer.name for layer in self.layers]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise QuidamInputError(f"network {self.name!r}: duplicated layer names {duplicated}")
        if self.macs > MAX_NETWORK_MACS:  # the kernels total MACs in float64: exact below 2^53
            raise QuidamInputError(
                f"network {self.name!r}: {self.macs:.3g} MACs in all is too large; a network may count at most "
                f"2^53 = {MAX_NETWORK_MACS:.3g} so that its float64 totals stay exact"
            )

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one inference."""
        return sum(layer.macs for layer in self.layers)

    @property
    def params(self) -> int:
        """Weights of the conv and FC layers (:attr:`Layer.params`): the words a PE array stores."""
        return sum(layer.params for layer in self.layers)

    def table(self) -> dict[str, np.ndarray]:
        """Column arrays (``int64``, one entry per layer) keyed by :data:`LAYER_COLUMNS`."""
        return {
            column: np.array([getattr(layer, column) for layer in self.layers], dtype=np.int64)
            for column in LAYER_COLUMNS
        }

    def batched(self, batch: int) -> tuple[Layer, ...]:
        """The layers with ``N`` multiplied by ``batch``, each checked against the size limits.

        Whatever multiplies ``N`` in the kernels (a batch axis) must stay within :data:`MAX_COUNT`:
        this raises the one-line :class:`QuidamInputError` naming the layer and the field if not.
        """
        return tuple(dataclasses.replace(layer, N=layer.N * int(batch)) for layer in self.layers)

    def to_csv(self) -> str:
        """The project's own CSV format (read back by :func:`load_network`)."""
        out = io.StringIO()
        fields = list(_OWN_HEADER) + (["ceil_mode"] if any(layer.ceil_mode for layer in self.layers) else [])
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(fields)
        for layer in self.layers:
            writer.writerow([int(getattr(layer, f)) if f == "ceil_mode" else getattr(layer, f) for f in fields])
        return out.getvalue()


# --------------------------------------------------------------------------------------------------
# The built-in library (ImageNet resolution, batch 1, true layer shapes)
# --------------------------------------------------------------------------------------------------


def _conv(name, H, C, K, R, stride=1, padding=None, groups=1):
    padding = R // 2 if padding is None else padding
    return Layer(name, H=H, W=H, C=C, K=K, R=R, S=R, stride=stride, padding=padding, groups=groups)


def _fc(name, C, K):
    return Layer(name, H=1, W=1, C=C, K=K)


def alexnet() -> Network:
    """AlexNet as in torchvision / Krizhevsky 2014 "one weird trick" (single-tower, 224 x 224)."""
    return Network(
        "alexnet",
        (
            _conv("conv1", 224, 3, 64, 11, stride=4, padding=2),
            _conv("conv2", 27, 64, 192, 5, padding=2),
            _conv("conv3", 13, 192, 384, 3),
            _conv("conv4", 13, 384, 256, 3),
            _conv("conv5", 13, 256, 256, 3),
            _fc("fc6", 256 * 6 * 6, 4096),
            _fc("fc7", 4096, 4096),
            _fc("fc8", 4096, 1000),
        ),
    )


def alexnet_caffe() -> Network:
    """AlexNet as in Caffe's BVLC reference model (Krizhevsky et al. 2012, two towers as groups, 227 x 227):
    the network Eyeriss ran (Chen et al., JSSC 2017)."""
    return Network(
        "alexnet_caffe",
        (
            _conv("conv1", 227, 3, 96, 11, stride=4, padding=0),
            _conv("conv2", 27, 96, 256, 5, padding=2, groups=2),
            _conv("conv3", 13, 256, 384, 3),
            _conv("conv4", 13, 384, 384, 3, groups=2),
            _conv("conv5", 13, 384, 256, 3, groups=2),
            _fc("fc6", 256 * 6 * 6, 4096),
            _fc("fc7", 4096, 4096),
            _fc("fc8", 4096, 1000),
        ),
    )


def vgg16() -> Network:
    """VGG-16 (Simonyan & Zisserman 2015, configuration D), 224 x 224."""
    layers, size, channels = [], 224, 3
    for stage, (width, repeats) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for i in range(1, repeats + 1):
            layers.append(_conv(f"conv{stage}_{i}", size, channels, width, 3))
            channels = width
        size //= 2  # 2 x 2 max-pool
    layers += [_fc("fc6", 512 * 7 * 7, 4096), _fc("fc7", 4096, 4096), _fc("fc8", 4096, 1000)]
    return Network("vgg16", tuple(layers))


def _resnet(name, block_counts, bottleneck) -> Network:
    """ResNet-18/50 (He et al. 2016) as in torchvision: stride on the 3 x 3 conv of each stage's first block."""
    layers = [_conv("conv1", 224, 3, 64, 7, stride=2, padding=3)]
    size, channels = 56, 64  # after the 3 x 3 / 2 max-pool
    expansion = 4 if bottleneck else 1
    for stage, blocks in enumerate(block_counts, 2):
        width = 64 * 2 ** (stage - 2)
        for block in range(1, blocks + 1):
            stride = 2 if (block == 1 and stage > 2) else 1
            prefix = f"conv{stage}_{block}"
            out_size = size // stride
            if bottleneck:
                layers += [
                    _conv(f"{prefix}a", size, channels, width, 1),
                    _conv(f"{prefix}b", size, width, width, 3, stride=stride),
                    _conv(f"{prefix}c", out_size, width, width * expansion, 1),
                ]
            else:
                layers += [
                    _conv(f"{prefix}a", size, channels, width, 3, stride=stride),
                    _conv(f"{prefix}b", out_size, width, width, 3),
                ]
            if block == 1 and (stride != 1 or channels != width * expansion):
                layers.append(_conv(f"{prefix}_proj", size, channels, width * expansion, 1, stride=stride))
            channels, size = width * expansion, out_size
    layers.append(_fc("fc", channels, 1000))
    return Network(name, tuple(layers))


def resnet18() -> Network:
    """ResNet-18, 224 x 224 (torchvision layout)."""
    return _resnet("resnet18", (2, 2, 2, 2), bottleneck=False)


def resnet50() -> Network:
    """ResNet-50, 224 x 224 (torchvision v1.5 layout: stride on the 3 x 3 conv)."""
    return _resnet("resnet50", (3, 4, 6, 3), bottleneck=True)


def mobilenet_v2() -> Network:
    """MobileNetV2 (Sandler et al. 2018, Table 2), width 1.0, 224 x 224."""
    layers = [_conv("conv1", 224, 3, 32, 3, stride=2)]
    size, channels = 112, 32
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    for stage, (expand, width, repeats, first_stride) in enumerate(settings, 1):
        for i in range(1, repeats + 1):
            stride = first_stride if i == 1 else 1
            hidden = channels * expand
            prefix = f"block{stage}_{i}"
            if expand != 1:
                layers.append(_conv(f"{prefix}_expand", size, channels, hidden, 1))
            layers.append(_conv(f"{prefix}_dw", size, hidden, hidden, 3, stride=stride, groups=hidden))
            size //= stride
            layers.append(_conv(f"{prefix}_project", size, hidden, width, 1))
            channels = width
    layers += [_conv("conv_last", size, channels, 1280, 1), _fc("fc", 1280, 1000)]
    return Network("mobilenetv2", tuple(layers))


_BUILDERS = {
    "alexnet": alexnet,
    "alexnet_caffe": alexnet_caffe,
    "vgg16": vgg16,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenetv2": mobilenet_v2,
}


def _packaged_csv_networks() -> dict[str, resources.abc.Traversable]:
    folder = resources.files("quidam_fast").joinpath("data", "networks")
    return {entry.name[: -len(".csv")]: entry for entry in folder.iterdir() if entry.name.endswith(".csv")}


def _transformer_builders() -> dict:
    from .transformers import BUILDERS  # imported here: transformers.py builds on Layer and Network

    return BUILDERS


def network_names() -> list[str]:
    """Names of the networks in the library (built-in ImageNet networks, transformers and LLM phases,
    packaged CSV tables)."""
    return sorted(set(_BUILDERS) | set(_transformer_builders()) | set(_packaged_csv_networks()))


def network_parameters(name: str) -> dict[str, int]:
    """The parameters a library network takes after ``@`` in :func:`load_network`, with their defaults.

    Every library network takes ``batch`` (images or sequences per inference; ``N`` of every layer is
    multiplied by it). The transformers take more: ``bert_base`` ``seq`` (tokens, 128),
    ``vit_b16`` ``image`` (pixels per side, 224), ``gpt2_small_prefill`` ``seq`` (prompt tokens, 1,024),
    ``gpt2_small_decode`` ``kv`` (positions the new token attends to, its own included, 1,024).

    Examples
    --------
    >>> network_parameters("gpt2_small_decode")
    {'kv': 1024, 'batch': 1}
    """
    import inspect

    transformers = _transformer_builders()
    if name in transformers:
        return {key: p.default for key, p in inspect.signature(transformers[name]).parameters.items()}
    if name in _BUILDERS or name in _packaged_csv_networks():
        return {"batch": 1}
    raise QuidamInputError(f"unknown network {name!r}; allowed: {', '.join(network_names())}")


def _parse_parameters(key: str) -> tuple[str, dict[str, int]]:
    """``"name@a=1,b=2"`` -> ``("name", {"a": 1, "b": 2})``, checked against :func:`network_parameters`."""
    base, _, text = key.partition("@")
    allowed = network_parameters(base)
    parameters: dict[str, int] = {}
    for item in text.split(","):
        name, equals, value = (part.strip() for part in item.partition("="))
        if not equals:
            raise QuidamInputError(f"network {key!r}: {item.strip()!r} must be key=value, e.g. {base}@batch=4")
        if name not in allowed:
            raise QuidamInputError(
                f"network {key!r}: {item.strip()!r} is not a parameter of {base}; write {base}@key=value[,key=value] "
                f"with keys {', '.join(allowed)}"
            )
        if name in parameters:
            raise QuidamInputError(f"network {key!r}: {name} is given twice")
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number < 1 or number > MAX_DIMENSION:
            raise QuidamInputError(f"network {key!r}: {name} = {value!r} is not allowed; it must be an integer from 1 to {MAX_DIMENSION}")
        parameters[name] = number
    return base, parameters


def _with_batch(network: Network, batch: int) -> Network:
    """``network`` with every layer's batch ``N`` multiplied by ``batch``."""
    if batch == 1:
        return network
    return Network(f"{network.name}@batch={batch}", network.batched(batch), network.notes)


def load_network(name_or_path: str | Path, *, input_shape=None) -> Network:
    """A library network by name (parameters after ``@``), or a network from a file or a torch model.

    ``name_or_path`` is one of:

    * a library name (:func:`network_names`), optionally with parameters: ``bert_base@seq=256,batch=4``,
      ``gpt2_small_decode@kv=4096``, ``resnet50@batch=8`` (:func:`network_parameters`);
    * a ``.csv`` layer table: a SCALE-Sim topology (header ``Layer name, IFMAP Height, IFMAP Width,
      Filter Height, Filter Width, Channels, Num Filter, Strides``; unpadded inputs) or the project's own
      format (header ``name,H,W,C,K,R,S,stride,padding,groups,N`` and an optional ``ceil_mode`` column,
      as written by :meth:`Network.to_csv`);
    * an ``.onnx`` file (:func:`quidam_fast.onnx_import.load_onnx`; needs the ``onnx`` package);
    * a torch model, ``path/to/model.py:attr`` or ``package.module:attr`` naming an ``nn.Module`` or a
      callable returning one (needs torch; the layer table of ``quidam-fast networks --from-torch``).

    Parameters
    ----------
    name_or_path
        See above.
    input_shape
        Torch models: the input shape, batch first (e.g. ``(1, 3, 32, 32)``; default: the model's
        ``input_shape`` attribute). ONNX files: sizes for dynamic dimensions, either the whole shape of
        the graph's one input (``(1, 3, 224, 224)``) or by dimension name (``{"batch": 1, "seq": 128}``,
        or the text ``"batch=1,seq=128"``). Not allowed for other networks.

    Examples
    --------
    >>> net = load_network("resnet18")
    >>> len(net.layers), net.macs
    (21, 1814073344)
    >>> load_network("gpt2_small_decode@kv=4096").name
    'gpt2_small_decode@kv=4096'
    """
    key = str(name_or_path)
    suffix = Path(key).suffix.lower()
    if suffix == ".onnx":
        from .onnx_import import load_onnx

        return load_onnx(key, input_shape=input_shape)
    if suffix != ".csv" and ":" in key:  # file.py:attr or package.module:attr
        return _load_torch(key, input_shape)
    if input_shape is not None:
        raise QuidamInputError(f"network {key!r}: an input shape applies only to an .onnx file or a torch model (file.py:attr)")
    if suffix == ".csv":
        text = read_user_text(Path(key), "network file", encoding="utf-8-sig")  # a spreadsheet's byte-order mark is fine
        return parse_network_csv(text, name=Path(key).stem, source=key)
    base, parameters = _parse_parameters(key) if "@" in key else (key, {})
    transformers = _transformer_builders()
    if base in transformers:
        return transformers[base](**parameters)
    batch = parameters.get("batch", 1)
    if base in _BUILDERS:
        return _with_batch(_BUILDERS[base](), batch)
    packaged = _packaged_csv_networks()
    if base in packaged:
        network = parse_network_csv(packaged[base].read_text(), name=base, source=f"packaged network {base!r}")
        return _with_batch(network, batch)
    raise QuidamInputError(
        f"unknown network {key!r}; allowed: {', '.join(network_names())} (parameters after @, e.g. "
        "gpt2_small_decode@kv=4096), a .csv or .onnx file, or a torch model path/to/model.py:attr"
    )


def parse_input_shape(text: str) -> tuple[int, ...] | dict[str, int]:
    """``"1,3,32,32"`` -> ``(1, 3, 32, 32)``; ``"batch=1,seq=128"`` -> ``{"batch": 1, "seq": 128}``
    (ONNX dimension names). Every size is an integer >= 1."""
    items = [item.strip() for item in str(text).split(",")]
    named = all("=" in item for item in items)
    sizes = [item.partition("=")[2].strip() if named else item for item in items]
    try:
        values = [int(size) for size in sizes]
    except ValueError:
        values = []
    if not values or min(values) < 1 or max(values) > MAX_DIMENSION or (named and any(not i.partition("=")[0].strip() for i in items)):
        raise QuidamInputError(
            f"input shape {text!r} must be comma-separated positive integers, batch first (e.g. 1,3,32,32), "
            "or ONNX dimension names with sizes (e.g. batch=1,seq=128)"
        )
    if named:
        names = [item.partition("=")[0].strip() for item in items]
        if len(set(names)) != len(names):
            raise QuidamInputError(f"input shape {text!r} names a dimension twice")
        return dict(zip(names, values))
    return tuple(values)


def _load_torch(spec: str, input_shape) -> Network:
    """The layer table of the torch model ``spec`` (``file.py:attr`` or ``module:attr``)."""
    try:
        from quidam_fast.quant.extract import layers_from_torch, resolve
    except ImportError as error:
        raise QuidamInputError(
            f"network {spec!r} is a torch model, which needs torch ({error}); install the extra: pip install 'quidam-fast[quant]'"
        ) from None
    model, declared_shape, default_name = resolve(spec)
    if isinstance(input_shape, str):
        input_shape = parse_input_shape(input_shape)
    if isinstance(input_shape, dict):
        raise QuidamInputError(f"{spec}: a torch model takes a whole input shape, batch first (e.g. 1,3,32,32), not dimension names")
    shape = input_shape if input_shape is not None else declared_shape
    if shape is None:
        raise QuidamInputError(f"{spec} declares no input_shape; give one, batch first (--input-shape 1,3,32,32)")
    return layers_from_torch(model, tuple(shape), default_name)


_SCALESIM_HEADER = ["layer name", "ifmap height", "ifmap width", "filter height", "filter width", "channels", "num filter", "strides"]
_OWN_HEADER = ["name", "H", "W", "C", "K", "R", "S", "stride", "padding", "groups", "N"]


def parse_network_csv(text: str, name: str, source: str = "<string>") -> Network:
    """Parse a SCALE-Sim topology or the project's own layer CSV (see :func:`load_network`)."""
    if not isinstance(text, str):
        raise QuidamInputError(f"{source}: the CSV text must be a str, got {type(text).__name__}")
    try:
        rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    except csv.Error as error:  # e.g. a field over csv's size limit: not a layer table
        raise QuidamInputError(f"{source}: not a readable CSV file ({error})") from None
    rows = [row[:-1] if row and row[-1] == "" else row for row in rows]  # SCALE-Sim's trailing comma
    rows = [row for row in rows if any(row)]
    if not rows:
        raise QuidamInputError(f"{source}: the file is empty; expected a header row and one row per layer")
    header = rows[0]
    if [h.lower() for h in header[:8]] == _SCALESIM_HEADER:
        if len(header) > 8:  # a column the tool would ignore is refused, not silently dropped
            raise QuidamInputError(f"{source}: unknown column {header[8]!r} after the SCALE-Sim topology header "
                                   f"({', '.join(_SCALESIM_HEADER)})")
        fields = ["name", "H", "W", "R", "S", "C", "K", "stride"]
        fixed = {"padding": 0, "ceil_mode": True}  # SCALE-Sim: unpadded, output ceil((H - R + s) / s)
    elif header in (_OWN_HEADER, _OWN_HEADER + ["ceil_mode"]):
        fields, fixed = header, {}
    else:
        raise QuidamInputError(
            f"{source}: unrecognized header {','.join(header)!r}; expected a SCALE-Sim topology header "
            f"({', '.join(_SCALESIM_HEADER)}) or {','.join(_OWN_HEADER)}"
        )
    layers = []
    for line_number, row in enumerate(rows[1:], start=2):
        if len(row) != len(fields):  # too few, or extra cells the tool would ignore
            raise QuidamInputError(
                f"{source}, line {line_number}: {len(row)} columns, expected {len(fields)} ({', '.join(fields)})"
            )
        values = {"name": row[0], **fixed}
        for field, cell in zip(fields[1:], row[1:len(fields)]):
            try:
                values[field] = int(cell)
            except ValueError:
                raise QuidamInputError(
                    f"{source}, line {line_number}: {field} = {cell!r} is not an integer"
                ) from None
        if "ceil_mode" in values:
            if values["ceil_mode"] not in (0, 1):
                raise QuidamInputError(f"{source}, line {line_number}: ceil_mode = {values['ceil_mode']} must be 0 or 1")
            values["ceil_mode"] = bool(values["ceil_mode"])
        try:
            layers.append(Layer(**values))
        except QuidamInputError as error:
            raise QuidamInputError(f"{source}, line {line_number}: {error}") from None
    if not layers:
        raise QuidamInputError(f"{source}: no layers after the header")
    return Network(name, tuple(layers))

