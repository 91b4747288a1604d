"""Design spaces: named axes with value lists, from Python or a TOML spec file.

The Cartesian product of the axes is never materialized: the kernels walk the axes' positions and
write each design point's results at its flat index (C order, the last axis fastest), so memory is
bounded by the outputs.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import tomllib
from pathlib import Path

import numpy as np

from ._files import read_user_text
from .errors import QuidamInputError
from .tech import DEFAULT_TECH, PE_TYPES

DATAFLOWS = ("ws", "os", "is", "rs")

#: Axis name -> (unit, value type). The order is the order of the dataset's dimensions.
AXES = {
    "pe_type": ("", str),
    "bits": ("bit", int),
    "rows": ("PE", int),
    "cols": ("PE", int),
    "spad_ifmap": ("word", int),
    "spad_filter": ("word", int),
    "spad_psum": ("word", int),
    "glb_kib": ("KiB", int),
    "dataflow": ("", str),
    "batch": ("image", int),
    "dram_gbps": ("GB/s", float),
    "clock_mhz": ("MHz", float),
}

AXIS_DESCRIPTIONS = {
    "pe_type": "arithmetic of the processing element",
    "bits": "operand precision (activations; weights too for fp and int)",
    "rows": "PE array rows",
    "cols": "PE array columns",
    "spad_ifmap": "per-PE input feature map scratchpad capacity (row-stationary)",
    "spad_filter": "per-PE filter scratchpad capacity (row-stationary)",
    "spad_psum": "per-PE partial-sum scratchpad capacity (row-stationary)",
    "glb_kib": "global buffer (SRAM) capacity",
    "dataflow": "mapping family: ws, os, is (systolic) or rs (row-stationary spatial array)",
    "batch": "images processed together (filters fetched once per batch); results stay per image where named so",
    "dram_gbps": "off-chip bandwidth, gigabytes per second",
    "clock_mhz": "clock frequency",
}

#: The embedded default: 1,769,472 design points, every PE type, four dataflows. Clocks stop at 200 MHz
#: because the default technology is 180 nm: faster clocks exceed most PEs' critical paths (masked).
DEFAULT_AXES = {
    "pe_type": ("fp", "int", "lightpe1", "lightpe2"),
    "bits": (4, 6, 8, 12, 16, 32),
    "rows": (8, 12, 16, 24, 32, 48, 64, 128),
    "cols": (8, 12, 16, 24, 32, 48, 64, 128),
    "spad_ifmap": (12, 24),
    "spad_filter": (112, 224),
    "spad_psum": (16, 24),
    "glb_kib": (64, 128, 256, 512, 1024, 2048),
    "dataflow": DATAFLOWS,
    "batch": (1,),
    "dram_gbps": (12.8, 25.6),
    "clock_mhz": (50.0, 100.0, 200.0),
}

#: The model family QUIDAM co-explores with the hardware: Fashion-MNIST DNN configurations over a 13x range
#: of MACs, each a library network built from its torch module (``quidam_fast.quant.models.FAMILY``) and
#: trained by ``quidam-fast quant train`` for the packaged accuracy table (``quant/data/accuracy.md``).
MODEL_FAMILY = ("lenet5_fmnist", "vgg7_half_fmnist", "resnet8_fmnist", "vgg7_fmnist")

#: What ``quidam-fast grid`` and a spec without ``network`` evaluate: a name (one network, no ``network``
#: dimension) or a tuple (a ``network`` dimension). The model family: the packaged accuracy table covers
#: every valid point of MODEL_FAMILY x the default space over 3 seeds, so the default run is a
#: co-exploration with accuracy everywhere (``tests/test_coexploration.py`` guards it). ResNet-18 and the
#: other ImageNet networks are one option away (``--network resnet18``), hardware only: ImageNet cannot be
#: trained offline here.
DEFAULT_NETWORK: str | tuple[str, ...] = MODEL_FAMILY

#: One value per axis: what ``base="small"`` starts from (an Eyeriss-like INT8 design).
SINGLE_DESIGN = {
    "pe_type": ("int",), "bits": (8,), "rows": (16,), "cols": (16,), "spad_ifmap": (12,),
    "spad_filter": (224,), "spad_psum": (24,), "glb_kib": (128,), "dataflow": ("ws",),
    "batch": (1,), "dram_gbps": (25.6,), "clock_mhz": (100.0,),
}

_LIMITS = {"rows": 4096, "cols": 4096, "spad_ifmap": 1 << 20, "spad_filter": 1 << 20, "spad_psum": 1 << 20,
           "glb_kib": 1 << 20, "bits": 64,
           "batch": 4096}


#: Bounds of the real-valued axes: far beyond any real design (a 100 GHz clock, 1 PB/s of DRAM), and
#: bounded so that energies and latencies stay finite (clock_mhz = 1e308 gave infinite energies).
_FLOAT_LIMITS = {"dram_gbps": (1e-3, 1e6), "clock_mhz": (1e-3, 1e5)}


@dataclasses.dataclass(frozen=True)
class DesignSpace:
    """An ordered set of named axes; every axis of :data:`AXES` is present.

    Examples
    --------
    >>> space = DesignSpace.from_dict({"rows": [8, 16], "dataflow": ["ws"]}, base="small")
    >>> space.shape["rows"], space.size
    (2, 2)
    """

    axes: dict

    def __post_init__(self):
        # A space built directly (DesignSpace(axes=...)) is validated like one from a spec: there is no
        # unvalidated DesignSpace (rows = (-4,) would give negative energies). Values are normalized
        # (numpy integers to int, lists to tuples) and the axes put in the order of AXES.
        axes = self.axes
        if not isinstance(axes, dict):
            raise QuidamInputError(f"DesignSpace: axes must be a dict of axis name -> values, got {type(axes).__name__}")
        unknown = [name for name in axes if name not in AXES]
        if unknown:
            raise QuidamInputError(f"DesignSpace: unknown axis {unknown[0]!r}; allowed: {', '.join(AXES)}")
        missing = [name for name in AXES if name not in axes]
        if missing:
            raise QuidamInputError(f"DesignSpace: axis {missing[0]!r} is missing; every axis of AXES needs values "
                                   "(DesignSpace.from_dict fills the others from a base space)")
        object.__setattr__(self, "axes", {name: _validate_axis(name, axes[name], "DesignSpace") for name in AXES})

    @classmethod
    def from_dict(cls, values: dict, base: str = "default", source: str = "design space") -> "DesignSpace":
        """Validate ``values`` (axis name -> list); axes not given take the ``base`` space's values.

        ``base="default"`` is the embedded default space; ``base="small"`` starts from the single design
        :data:`SINGLE_DESIGN`, so a few given axes make a small space.
        """
        if not isinstance(values, dict):
            raise QuidamInputError(f"{source}: expected a table of axis = [values], got {type(values).__name__}")
        unknown = sorted(set(values) - set(AXES))
        if unknown:
            raise QuidamInputError(f"{source}: unknown axis {unknown[0]!r}; allowed: {', '.join(AXES)}")
        if base == "default":
            axes = dict(DEFAULT_AXES)
        elif base == "small":
            axes = dict(SINGLE_DESIGN)
        else:
            raise QuidamInputError(f"{source}: base must be 'default' or 'small', not {base!r}")
        for name, given in values.items():
            axes[name] = _validate_axis(name, given, source)
        return cls(axes=axes)

    @property
    def shape(self) -> dict[str, int]:
        return {name: len(values) for name, values in self.axes.items()}

    @property
    def size(self) -> int:
        """Number of design points (valid or not)."""
        return math.prod(len(values) for values in self.axes.values())


def default_space() -> DesignSpace:
    """The embedded default space (see :data:`DEFAULT_AXES`)."""
    return DesignSpace(axes=dict(DEFAULT_AXES))


def _validate_axis(name: str, given, source: str) -> tuple:
    unit, kind = AXES[name]
    if isinstance(given, (str, numbers.Number, np.generic)):
        given = [given]
    elif isinstance(given, np.ndarray) and given.ndim == 1:
        given = given.tolist()  # numpy scalars become Python ones
    if not isinstance(given, (list, tuple)):
        raise QuidamInputError(f"{source}: axis {name!r} must be a list of values, got {given!r}")
    if len(given) == 0:
        raise QuidamInputError(f"{source}: axis {name!r} is empty; give at least one value")
    values = []
    for value in given:
        if kind is str:
            allowed = PE_TYPES if name == "pe_type" else DATAFLOWS
            if value not in allowed:
                raise QuidamInputError(f"{source}: {name} = {value!r} is not allowed; allowed: {', '.join(allowed)}")
        elif kind is int:
            if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
                value = int(value)  # numpy integers (np.int64 from an array) are integers too
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > _LIMITS[name]:
                raise QuidamInputError(
                    f"{source}: {name} = {value!r} is not allowed; it must be an integer from 1 to {_LIMITS[name]}"
                )
        else:
            low, high = _FLOAT_LIMITS[name]
            if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
                    or not (0 < value < math.inf) or not low <= value <= high):
                raise QuidamInputError(
                    f"{source}: {name} = {value!r} is not allowed; it must be a positive number from {low:g} to {high:g} {unit}"
                )
            value = float(value)
        values.append(value)
    if len(set(values)) != len(values):
        raise QuidamInputError(f"{source}: axis {name!r} repeats a value: {list(given)}")
    return tuple(values)


@dataclasses.dataclass(frozen=True)
class Spec:
    """A spec file's content: the network(s), the technology and the design space.

    ``network`` is one name or path (a result without a ``network`` dimension) or a tuple of them (a
    co-exploration: a ``network`` dimension), as the spec wrote it.
    """

    network: str | tuple[str, ...]
    tech: str
    space: DesignSpace
    objective: str = "energy"

    def __post_init__(self):
        # built directly (Spec(...)), a spec is checked as load_spec checks a file's
        for name in ("network", "tech"):
            value = getattr(self, name)
            if name == "network" and isinstance(value, tuple) and value:  # a co-exploration: each a name or path
                if all(isinstance(v, str) and v for v in value):
                    continue
                raise QuidamInputError(f"Spec: network = {value!r} is not allowed; each network must be a non-empty string")
            if not isinstance(value, str) or not value:
                raise QuidamInputError(
                    f"Spec: {name} = {value!r} is not allowed; it must be a non-empty string"
                    + (" (or, for network, a non-empty tuple of them)" if name == "network" else ""))
        if not isinstance(self.space, DesignSpace):
            raise QuidamInputError(f"Spec: space must be a DesignSpace, got {type(self.space).__name__}")
        if not isinstance(self.objective, str) or self.objective not in OBJECTIVES:
            raise QuidamInputError(f"Spec: objective = {self.objective!r} is not allowed; allowed: {', '.join(OBJECTIVES)}")
    #: sizes for an ONNX network's dynamic dimensions or a torch model's input (``load_network``'s ``input_shape``)
    input_shape: tuple[int, ...] | dict[str, int] | None = None


OBJECTIVES = ("energy", "latency", "edp", "dram")  # what the mapping searches (buffer level, rs) minimize


def load_spec(path: str | Path) -> Spec:
    """Read a TOML spec: ``network``, ``tech``, optional ``objective`` and a ``[space]`` table.

    ``network`` is a string, or a list of strings to co-explore networks (``network = ["lenet5_fmnist",
    "vgg7_fmnist"]``: a result with a ``network`` dimension); without it, :data:`DEFAULT_NETWORK`.
    Axes omitted from ``[space]`` take the default space's values. Relative network paths (``.csv``,
    ``.onnx``, a torch model's ``file.py:attr``) are resolved against the spec file's folder. An
    optional ``input_shape`` (a list such as ``[1, 3, 32, 32]``, or a table of ONNX dimension sizes such
    as ``{batch = 1, seq = 128}``) goes with an ONNX or torch network (see :func:`~quidam_fast.load_network`).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise QuidamInputError(f"spec file must be a path, got {type(path).__name__}")
    path = Path(path)
    text = read_user_text(path, "spec file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise QuidamInputError(f"{path}: not valid TOML ({error})") from None
    allowed = {"network", "tech", "space", "objective", "input_shape"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise QuidamInputError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    network = data.get("network", DEFAULT_NETWORK)
    if isinstance(network, (list, tuple)):
        if not network or not all(isinstance(n, str) for n in network):
            raise QuidamInputError(f"{path}: network = {network!r} must be a non-empty list of strings (library names or paths)")
        repeated = sorted({n for n in network if list(network).count(n) > 1})
        if repeated:
            raise QuidamInputError(f"{path}: network {repeated[0]!r} is listed twice; each network of a co-exploration once")
        network = tuple(_beside_spec(n, path.parent) for n in network)
    elif isinstance(network, str):
        network = _beside_spec(network, path.parent)
    else:
        raise QuidamInputError(f"{path}: network = {network!r} must be a string or a list of strings (library names or paths)")
    tech = data.get("tech", DEFAULT_TECH)
    if not isinstance(tech, str):
        raise QuidamInputError(f"{path}: tech = {tech!r} must be a string")
    objective = data.get("objective", "energy")
    if objective not in OBJECTIVES:
        raise QuidamInputError(f"{path}: objective = {objective!r} is not allowed; allowed: {', '.join(OBJECTIVES)}")
    space = DesignSpace.from_dict(data.get("space", {}), source=str(path))
    input_shape = _spec_input_shape(data.get("input_shape"), path)
    return Spec(network=network, tech=tech, space=space, objective=objective, input_shape=input_shape)


def _beside_spec(network: str, folder: Path) -> str:
    """A relative ``.csv``/``.onnx`` path or torch ``file.py:attr`` of a spec, resolved against its folder."""
    file_part, colon, attribute = network.rpartition(":") if ":" in network else (network, "", "")
    if colon and file_part.lower().endswith(".py") and not Path(file_part).is_absolute():
        return f"{folder / file_part}:{attribute}"
    if network.lower().endswith((".csv", ".onnx")) and not Path(network).is_absolute():
        return str(folder / network)
    return network


def _spec_input_shape(value, path: Path) -> tuple[int, ...] | dict[str, int] | None:
    """A spec's ``input_shape``: a list of sizes, or a table of dimension name = size."""
    if value is None:
        return None
    sizes = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else None
    if (not sizes or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 or v > 2**31 - 1 for v in sizes)):
        raise QuidamInputError(
            f"{path}: input_shape = {value!r} is not allowed; it must be a list of positive integers, batch first "
            "(e.g. [1, 3, 32, 32]), or a table of ONNX dimension sizes (e.g. {batch = 1, seq = 128})"
        )
    return dict(value) if isinstance(value, dict) else tuple(value)
