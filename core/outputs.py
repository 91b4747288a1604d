"""The output variables of a result: one declarative table.

:data:`OUTPUTS` names every data variable :func:`quidam_fast.evaluate` returns, in the dataset's order:
its units and description, where its values come from -- a column of the kernel's ``totals`` or
``per_layer`` array (:mod:`quidam_fast.kernels`' ``TOTAL_*``/``LAYER_*``), or a formula over other
variables and the axis coordinates -- its type in memory and in files, and whether files store it or
:func:`quidam_fast.open_result` recomputes it on load. The table drives the dataset
(``engine._to_dataset``), the file schema and its encoding (:mod:`quidam_fast.results`), the docs (the
list in :func:`quidam_fast.evaluate`'s docstring and README's table, both checked against it by
``tests/test_outputs.py``) and the units test.

Formulas are Python expressions over variable and coordinate names, evaluated with xarray's
broadcasting (:func:`derive`); a formula's inputs are the names it reads, so a subset of variables can
be computed from a file holding only the stored ones.

Why files hold only the kernel's columns and store energies as float32 (measured with
``bench/bench_grid_pipeline.py`` and per variable on ``grid --network resnet18``'s result, 1,769,472
points; zlib 1 + shuffle): the derived variables are ratios and products whose float64 bits do not
repeat, so they compress 3-10x worse than the counts they come from -- with them, 33 MB; without, 13 MB;
with the energies in float32 as well, 9.0 MB (the default result, four networks: 1,713 MB uncompressed,
21.8 MB). Recomputing them on load costs about what decompressing the stored ones does (1.4 s and 1.5 s
for the default result). An energy in float32 is within 2**-24 = 6e-8 relative of its float64 value,
far inside the models' own accuracy (polynomial PPA fits, a few % at best), and the energies are the
least compressible stored columns; per layer, utilization (a fraction: 6e-8 absolute) and the
row-stationary mapping (small integers: exact) are float32 too. Counts (cycles, MACs, bytes, words)
stay float64: above 2**24 float32 would round them, and cycles >= MACs / PEs is checked exactly on
load. Areas stay float64: they repeat across the bandwidth and clock axes and cost little, and kept
exact they make ``perf_per_area`` read from a file bit-identical to the in-memory one. (Energies a few
6e-8 apart could in principle trade places in a ranking; on the default result, ``report`` and
``pareto`` of the file print the same text as from the float64 file of before.)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from . import kernels as k

#: Meanings of ``invalid_reason`` (the kernel's codes), written in its ``flag_values``/``flag_meanings``.
INVALID_REASONS = {
    k.VALID: "valid",
    k.INVALID_BITS: "pe_type not available at these bits in the technology",
    k.INVALID_GLB_TOO_SMALL: "global buffer cannot hold one fold's operand tiles",
    k.INVALID_SPAD_TOO_SMALL: "a scratchpad cannot hold one filter row, ifmap window or psum row",
    k.INVALID_CLOCK: "clock faster than the PE's critical path allows",
}


@dataclass(frozen=True)
class Output:
    """One data variable of a result.

    Parameters
    ----------
    name
        The variable's name (units in the name where they fit: ``energy_pj``).
    units
        Its ``units`` attribute (UDUNITS-style text; ``"1"`` for counts of nothing and fractions).
    long_name
        Its ``long_name`` attribute: what it is, in words.
    column
        The name of the kernel column it is read from (a ``TOTAL_*`` constant of
        :mod:`quidam_fast.kernels`, or a ``LAYER_*`` one when ``per_layer``); ``None`` for a derived
        variable.
    formula
        A derived variable's expression over other variables and axis coordinates; ``None`` for a
        kernel column.
    per_layer
        A per-layer variable (dimension ``layer`` after the design dims), from the ``per_layer`` array.
    dtype
        Its type in memory (what :func:`quidam_fast.evaluate` returns).
    disk_dtype
        Its type in files; ``open_result`` returns ``dtype`` again (a float32 widens exactly).
    stored
        Written to files; otherwise recomputed from ``formula`` when a file is opened.
    """

    name: str
    units: str
    long_name: str
    column: str | None = None
    formula: str | None = None
    per_layer: bool = False
    dtype: str = "float64"
    disk_dtype: str = "float64"
    stored: bool = True
    inputs: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        if (self.column is None) == (self.formula is None):
            raise ValueError(f"output {self.name!r}: give a kernel column or a formula, not both or neither")
        if not self.stored and self.formula is None:
            raise ValueError(f"output {self.name!r}: only a derived variable can be recomputed on load")
        names = () if self.formula is None else tuple(dict.fromkeys(
            node.id for node in ast.walk(ast.parse(self.formula, mode="eval")) if isinstance(node, ast.Name)))
        object.__setattr__(self, "inputs", names)

    @property
    def index(self) -> int:
        """The kernel column's index in ``totals`` (or ``per_layer``'s last axis)."""
        return getattr(k, self.column)

    @property
    def source(self) -> str:
        """Where the values come from, in words (the docs' column)."""
        if self.formula is not None:
            return self.formula
        return f"kernel {'per_layer' if self.per_layer else 'totals'}[{self.column}]"


_ENERGY_PARTS = ("mac", "spad", "noc", "glb", "dram", "leak")

#: Every data variable of a result, in the dataset's order; a formula reads only variables above it.
OUTPUTS: tuple[Output, ...] = (
    # network totals: the kernel's columns
    Output("cycles", "cycle", "cycles of one batch (one inference at batch 1), stalls included", "TOTAL_CYCLES"),
    Output("compute_cycles", "cycle", "cycles with unlimited DRAM bandwidth (SCALE-Sim's compute cycles for ws/os/is)",
           "TOTAL_COMPUTE_CYCLES"),
    Output("stall_cycles", "cycle", "cycles waiting for DRAM", "TOTAL_STALL_CYCLES"),
    Output("macs", "MAC", "multiply-accumulates of one batch", "TOTAL_MACS"),
    Output("energy_mac_pj", "pJ", "arithmetic energy", "TOTAL_ENERGY_MAC", disk_dtype="float32"),
    Output("energy_spad_pj", "pJ", "PE scratchpad / register energy", "TOTAL_ENERGY_SPAD", disk_dtype="float32"),
    Output("energy_noc_pj", "pJ", "array network energy (buffer <-> PEs, PE <-> PE)", "TOTAL_ENERGY_NOC",
           disk_dtype="float32"),
    Output("energy_glb_pj", "pJ", "global buffer energy", "TOTAL_ENERGY_GLB", disk_dtype="float32"),
    Output("energy_dram_pj", "pJ", "off-chip DRAM energy", "TOTAL_ENERGY_DRAM", disk_dtype="float32"),
    Output("energy_leak_pj", "pJ", "leakage energy over the latency", "TOTAL_ENERGY_LEAK", disk_dtype="float32"),
    Output("dram_read_bytes", "byte", "bytes read from DRAM", "TOTAL_DRAM_READ_BYTES"),
    Output("dram_write_bytes", "byte", "bytes written to DRAM", "TOTAL_DRAM_WRITE_BYTES"),
    Output("glb_reads", "word", "global buffer word reads", "TOTAL_GLB_READS"),
    Output("glb_writes", "word", "global buffer word writes", "TOTAL_GLB_WRITES"),
    Output("spad_reads", "word", "PE scratchpad (rs) / operand register (ws/os/is) word reads", "TOTAL_SPAD_READS"),
    Output("spad_writes", "word", "PE scratchpad (rs) / operand register (ws/os/is) word writes", "TOTAL_SPAD_WRITES"),
    Output("noc_words", "word", "words moved over the array network", "TOTAL_NOC_WORDS"),
    Output("area_mac_mm2", "mm2", "area of the PE array's MACs", "TOTAL_AREA_MAC"),
    Output("area_pe_storage_mm2", "mm2", "area of the PEs' scratchpads (rs) or operand registers (ws/os/is)",
           "TOTAL_AREA_PE_STORAGE"),
    Output("area_glb_mm2", "mm2", "global buffer area", "TOTAL_AREA_GLB"),
    Output("invalid_reason", "1", "why the design is invalid (0: valid)", "TOTAL_REASON", dtype="int8",
           disk_dtype="int8"),
    # stored although derived: a result file is recognised by its boolean ``valid`` (results._check_result)
    Output("valid", "1", "design point is valid", formula=f"invalid_reason == {k.VALID}", dtype="bool",
           disk_dtype="bool"),
    # derived network totals: recomputed on load; the operations and their order are the engine's
    # since its first release, so values are bit-identical to those of earlier results
    Output("latency_s", "s", "latency of one batch (every image's result is ready at its end)",
           formula="cycles / (clock_mhz * 1e6)", stored=False),
    Output("utilization", "1", "MACs / (cycles x PEs)", formula="macs / (cycles * (rows * cols))", stored=False),
    Output("energy_pj", "pJ", "energy of one batch (sum of the energy_*_pj parts)",
           formula=" + ".join(f"energy_{part}_pj" for part in _ENERGY_PARTS), stored=False),
    Output("area_pe_array_mm2", "mm2", "PE array area (MACs + PE storage)",
           formula="area_mac_mm2 + area_pe_storage_mm2", stored=False),
    Output("area_mm2", "mm2", "accelerator area (PE array + global buffer; control and wiring not modeled)",
           formula="area_pe_array_mm2 + area_glb_mm2", stored=False),
    Output("dram_bytes", "byte", "DRAM bytes moved (read + write)", formula="dram_read_bytes + dram_write_bytes",
           stored=False),
    Output("throughput_ips", "1/s", "inferences (images) per second", formula="batch / latency_s", stored=False),
    Output("perf_per_area", "1/(s mm2)", "inferences per second per mm2", formula="throughput_ips / area_mm2",
           stored=False),
    Output("energy_per_inference_j", "J", "energy of one inference (one image)", formula="energy_pj * 1e-12 / batch",
           stored=False),
    Output("edp", "J s", "energy of one inference x latency of its batch", formula="energy_per_inference_j * latency_s",
           stored=False),
    # per layer (``grid --per-layer``; ``evaluate(per_layer=True)``)
    Output("layer_cycles", "cycle", "cycles of the layer", "LAYER_CYCLES", per_layer=True),
    Output("layer_stall_cycles", "cycle", "cycles of the layer waiting for DRAM", "LAYER_STALL_CYCLES", per_layer=True),
    Output("layer_utilization", "1", "MACs / (cycles x PEs) of the layer", "LAYER_UTILIZATION", per_layer=True,
           disk_dtype="float32"),
    Output("layer_energy_pj", "pJ", "energy of the layer", "LAYER_ENERGY", per_layer=True, disk_dtype="float32"),
    Output("layer_dram_read_bytes", "byte", "DRAM bytes read by the layer", "LAYER_DRAM_READ_BYTES", per_layer=True),
    Output("layer_dram_write_bytes", "byte", "DRAM bytes written by the layer", "LAYER_DRAM_WRITE_BYTES",
           per_layer=True),
    Output("layer_glb_reads", "word", "global buffer reads of the layer", "LAYER_GLB_READS", per_layer=True),
    Output("layer_glb_writes", "word", "global buffer writes of the layer", "LAYER_GLB_WRITES", per_layer=True),
    # small integers (at most a scratchpad's words, < 2**21 by the axis limits): exact in float32
    Output("layer_rs_filters_per_pe", "filter", "row-stationary mapping: filters per PE pass (NaN for ws/os/is)",
           "LAYER_RS_FILTERS_PER_PE", per_layer=True, disk_dtype="float32"),
    Output("layer_rs_channels_per_pe", "channel", "row-stationary mapping: channels per PE pass (NaN for ws/os/is)",
           "LAYER_RS_CHANNELS_PER_PE", per_layer=True, disk_dtype="float32"),
)

#: The outputs by name.
BY_NAME: dict[str, Output] = {output.name: output for output in OUTPUTS}
#: Network totals (design dims only) and per-layer variables, each in the dataset's order.
TOTALS = tuple(output for output in OUTPUTS if not output.per_layer)
PER_LAYER = tuple(output for output in OUTPUTS if output.per_layer)


def _check_table() -> None:
    """Import-time checks of the table: every kernel column named once; formulas read only names above
    them (variables) or axis coordinates."""
    from .space import AXES

    assert all(o.column.startswith("LAYER_" if o.per_layer else "TOTAL_") for o in OUTPUTS if o.column), "a column's family"
    assert sorted(o.index for o in TOTALS if o.column) == list(range(k.N_TOTALS)), "a totals column unnamed or repeated"
    assert sorted(o.index for o in PER_LAYER) == list(range(k.N_LAYER_RESULTS)), "a per-layer column unnamed or repeated"
    assert len(BY_NAME) == len(OUTPUTS), "a name repeated"
    above: set[str] = set()
    for output in OUTPUTS:
        unknown = [name for name in output.inputs if name not in above and name not in AXES]
        assert not unknown, f"{output.name}'s formula reads {unknown}, neither a variable above it nor an axis"
        above.add(output.name)


_check_table()


def attrs(output: Output) -> dict:
    """The attributes a result gives the variable: ``units``, ``long_name`` (and for ``invalid_reason``
    the CF flags naming each code)."""
    result = {"units": output.units, "long_name": output.long_name}
    if output.name == "invalid_reason":
        result["flag_values"] = np.array(list(INVALID_REASONS), dtype=np.int8)
        result["flag_meanings"] = " ".join(v.replace(" ", "_") for v in INVALID_REASONS.values())
    return result


#: The operators a formula may use, as numpy ufuncs (each can write into one of its operands).
_OPERATORS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide}


def derive(ds: xr.Dataset, output: Output) -> xr.Variable:
    """Compute a derived variable from ``ds`` (which holds its inputs), with its attributes.

    The result has the dims of the formula's widest input, in their order; narrower inputs (axis
    coordinates, ``rows * cols``) broadcast along them by name, as in xarray's arithmetic. Each
    operation is numpy's, on the same operands in the same order as the formula reads, so the values
    are those ``ds[a] / (ds[b] * 1e6)`` gives, bit for bit; but an operation whose operand is the fresh
    result of another writes into it rather than into a new array: ``energy_pj``'s five additions make
    one full-size array, not five (fresh pages cost system time on large results: measured 0.04-0.24 s
    per 57 MB array of the default result against 0.015 s for an addition in place).
    """
    inputs = {name: ds[name] for name in output.inputs}
    widest = max(inputs.values(), key=lambda a: a.ndim)  # the first of the widest
    dims = widest.dims
    arrays = {}
    for name, array in inputs.items():
        if not set(array.dims) <= set(dims):
            raise ValueError(f"{output.name}: input {name!r} has dims {array.dims} beyond {dims}")
        own = [d for d in dims if d in array.dims]
        data = np.asarray(array.transpose(*own).values if tuple(own) != array.dims else array.values)
        arrays[name] = data.reshape([array.sizes[d] if d in array.dims else 1 for d in dims])
    value, _ = _evaluate(ast.parse(output.formula, mode="eval").body, arrays)
    return xr.Variable(dims, np.broadcast_to(value, widest.shape) if value.shape != widest.shape else value,
                       attrs(output))


def _evaluate(node: ast.AST, arrays: dict) -> tuple[np.ndarray, bool]:
    """The value of a formula's node, and whether it is a fresh array this evaluation may overwrite."""
    if isinstance(node, ast.Name):
        return arrays[node.id], False
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return np.asarray(node.value), False
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        (left, left_fresh), (right, right_fresh) = _evaluate(node.left, arrays), _evaluate(node.right, arrays)
        ufunc = _OPERATORS[type(node.op)]
        shape = np.broadcast_shapes(left.shape, right.shape)
        kind = np.result_type(left, right)
        for operand, fresh in ((left, left_fresh), (right, right_fresh)):
            if fresh and operand.shape == shape and operand.dtype == kind:
                return ufunc(left, right, out=operand), True
        return ufunc(left, right), True
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
        (left, _), (right, _) = _evaluate(node.left, arrays), _evaluate(node.comparators[0], arrays)
        return np.equal(left, right), True
    raise ValueError(f"formula element {ast.dump(node)} is not one a formula may use (names, numbers, + - * /, ==)")


def add_derived(ds: xr.Dataset, names=None) -> xr.Dataset:
    """``ds`` with the derived variables it lacks and can compute (their inputs present), in table order.

    ``names`` restricts them to those (and what they need); default: every derived variable. A variable
    ``ds`` already holds is kept as it is.
    """
    wanted = None if names is None else needed(names)
    for output in OUTPUTS:
        if (output.formula is None or output.name in ds.data_vars or (wanted is not None and output.name not in wanted)
                or not all(name in ds.variables for name in output.inputs)):
            continue
        ds[output.name] = derive(ds, output)
    return ds


def needed(names) -> set[str]:
    """``names`` and every output their formulas read, directly or through other derived outputs."""
    result: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in result:
            continue
        result.add(name)
        if name in BY_NAME:
            pending.extend(BY_NAME[name].inputs)
    return result


def markdown_table() -> str:
    """The table as Markdown (README's "Output variables"; ``python -m quidam_fast.outputs`` prints it)."""
    lines = ["| variable | units | what | from | in files |", "|---|---|---|---|---|"]
    for output in OUTPUTS:
        kept = f"{output.disk_dtype}" if output.stored else "recomputed on load"
        lines.append(f"| `{output.name}` | {output.units} | {output.long_name} | `{output.source}` | {kept} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
