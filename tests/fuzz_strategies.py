"""Generators of bad and edge-case inputs for the fuzz suite (tests/test_fuzz.py), and the harness that
runs the ``quidam-fast`` command in-process and checks what it promises.

Every input kind the tool reads has a strategy here: spec files (generated tables and mutated bytes),
topology CSVs, technology TOMLs (the shipped file with one key changed, deleted or added), accuracy
tables (the packaged table transformed, or its bytes corrupted), output paths and option values. The
values come from pools of edge cases (0, -1, the limits and one past them, 2^31, 2^63, NaN, infinities,
empty strings and lists, wrong types) mixed with valid ones, so that both refusals and successful runs
are exercised; spaces stay tiny (a few design points) so that each case takes milliseconds.

The checks (:func:`check_outcome`) are the issue's: exit status 2 with exactly one ``error:`` line on
stderr, or success (0) whose dataset obeys the laws; never a traceback, a hang, a warning on an error
path, or a file left beside the output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import re
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
from hypothesis import strategies as st

import quidam_fast as qf

# --- values -------------------------------------------------------------------------------------

EDGE_INTS = [0, -1, -4, 1, 2, 3, 64, 65, 4095, 4096, 4097, 1 << 20, (1 << 20) + 1, 2**31 - 1, 2**31, 2**62, 2**63 - 1]
EDGE_FLOATS = [0.0, -0.0, -1.0, 1e-300, 1e-3, 9e-4, 0.5, 25.6, 100.0, 200.0, 1e5, 1.00001e5, 1e6, 1e308,
               math.inf, -math.inf, math.nan]
EDGE_STRINGS = ["", " ", "int", "fp", "ws", "rs", "bf16", "WS", " int", "x" * 300, "é", "a\tb", "1"]


def any_scalar() -> st.SearchStrategy:
    """One TOML-representable value of any type, edge cases first."""
    return st.one_of(st.sampled_from(EDGE_INTS), st.sampled_from(EDGE_FLOATS), st.sampled_from(EDGE_STRINGS),
                     st.booleans(), st.integers(-10, 300), st.floats(allow_nan=True, allow_infinity=True))


def any_value() -> st.SearchStrategy:
    """A scalar, a (possibly nested or empty) list, or a small table."""
    return st.one_of(any_scalar(), st.lists(any_scalar(), max_size=3), st.lists(st.lists(any_scalar(), max_size=2), max_size=2),
                     st.dictionaries(st.sampled_from(["a", "b"]), any_scalar(), max_size=2))


# --- TOML writing (tomllib reads only) ----------------------------------------------------------


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_text(data: dict) -> str:
    """A TOML document of ``data``: scalars and inline values first, then one ``[table]`` per dict."""
    lines, tables = [], []

    for key, value in data.items():
        if isinstance(value, dict) and value:  # a non-empty table gets its own header; {} stays inline
            tables.append((str(key), value))
        else:
            lines.append(f"{json.dumps(str(key))} = {toml_value(value)}")
    while tables:
        name, table = tables.pop(0)
        lines.append(f"\n[{name}]")
        scalars = {k: v for k, v in table.items() if not (isinstance(v, dict) and v)}
        for key, value in scalars.items():
            lines.append(f"{json.dumps(str(key))} = {toml_value(value)}")
        tables[0:0] = [(f"{name}.{key}", value) for key, value in table.items() if isinstance(value, dict) and value]
    return "\n".join(lines) + "\n"


# --- spec files ---------------------------------------------------------------------------------

#: One valid value per axis: a single design, an Eyeriss-like INT8 array (valid in both technologies).
TINY = {"pe_type": ["int"], "bits": [8], "rows": [4], "cols": [4], "spad_ifmap": [12], "spad_filter": [224],
        "spad_psum": [24], "glb_kib": [64], "dataflow": ["ws"], "batch": [1], "dram_gbps": [25.6], "clock_mhz": [100.0]}

GOOD = {"pe_type": ["fp", "int", "lightpe1", "lightpe2"], "bits": [4, 8, 16, 32], "rows": [1, 2, 4, 8], "cols": [1, 3, 4, 8],
        "spad_ifmap": [1, 12, 24], "spad_filter": [1, 112, 224], "spad_psum": [1, 16, 24], "glb_kib": [1, 64, 128],
        "dataflow": ["ws", "os", "is", "rs"], "batch": [1, 2, 4], "dram_gbps": [0.001, 12.8, 25.6], "clock_mhz": [50.0, 100.0, 200.0]}
NETWORKS = ["lenet5_fmnist", "alexnet"]


@st.composite
def axis_values(draw, name: str):
    """Mostly one or two good values; sometimes edge values, wrong types, empty or nested lists."""
    kind = draw(st.integers(0, 9))
    good = GOOD.get(name, [1])
    if kind <= 5:
        return draw(st.lists(st.sampled_from(good), min_size=1, max_size=2, unique=True))
    if kind <= 7:
        return draw(st.lists(st.one_of(st.sampled_from(good), any_scalar()), min_size=1, max_size=2))
    return draw(any_value())


@st.composite
def spec_tables(draw, network=None):
    """A spec as a dict: every axis present (bar at most one, which takes the default's few values)."""
    axes = [name for name in qf.AXES if name in TINY]
    dropped = draw(st.sampled_from([None] * 6 + ["dataflow", "bits", "clock_mhz", "pe_type"]))
    space = {}
    mutated = draw(st.sets(st.sampled_from(axes), max_size=3))
    for name in axes:
        if name == dropped:
            continue
        space[name] = draw(axis_values(name)) if name in mutated else list(TINY[name])
    data = {}
    if draw(st.integers(0, 9)) > 0:
        data["network"] = network if network is not None else draw(st.one_of(st.sampled_from(NETWORKS), st.sampled_from(["", "resnet19", "net.csv"]), any_scalar()))
    if draw(st.booleans()):
        data["tech"] = draw(st.one_of(st.sampled_from(["published-45nm", "characterized-osu018"]), st.sampled_from(["", "x", "t.toml"]), any_scalar()))
    if draw(st.booleans()):
        data["objective"] = draw(st.one_of(st.sampled_from(["energy", "latency", "edp", "dram"]), any_scalar()))
    if draw(st.integers(0, 9)) == 0:
        data[draw(st.sampled_from(["netwrk", "space2", "Tech"]))] = draw(any_value())
    data["space"] = space if draw(st.integers(0, 19)) else draw(any_value())
    return data


@st.composite
def mutated_bytes(draw, text: str) -> bytes:
    """``text`` with bytes flipped, inserted (NUL, invalid UTF-8) or cut."""
    data = bytearray(text.encode())
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "insert", "cut", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.sampled_from([b"\x00", b"\xff\xfe", b"\n", b"[", b"]", b"=", b'"', b"\xc3", b"[space]\n"]))
        elif action == "cut":
            del data[at:at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


# --- topology CSVs ------------------------------------------------------------------------------

OWN_HEADER = "name,H,W,C,K,R,S,stride,padding,groups,N"
SCALESIM_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
CELL_EDGES = ["0", "-1", "", "a", "1.5", "1e3", "2147483647", "2147483648", "4611686018427387904", "9223372036854775808",
              "10000000000", " 3", "0x10", "٣"]


@st.composite
def topology_csv(draw) -> bytes:
    """A topology CSV: own or SCALE-Sim format, 1-3 layers of small valid shapes with edge-case cells,
    extra or missing columns, and mangled headers now and then."""
    scalesim = draw(st.booleans())
    header = SCALESIM_HEADER if scalesim else OWN_HEADER + draw(st.sampled_from(["", "", ",ceil_mode", ",extra"]))
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.sampled_from(["", "foo,bar", OWN_HEADER.upper(), OWN_HEADER.replace("H,", "", 1)]))
    rows = [header]
    for i in range(draw(st.integers(0, 3))):
        H = draw(st.integers(1, 12))
        R = draw(st.integers(1, min(H, 3)))
        C, K = draw(st.integers(1, 8)), draw(st.integers(1, 8))
        cells = ([f"L{i}", H, H, R, R, C, K, 1] if scalesim else
                 [f"L{i}", H, H, C, K, R, R, draw(st.integers(1, 2)), draw(st.integers(0, 1)), 1, 1])
        cells = [str(c) for c in cells]
        if "ceil_mode" in header:
            cells.append(draw(st.sampled_from(["0", "1", "2"])))
        for _ in range(draw(st.integers(0, 2))):
            at = draw(st.integers(1, len(cells) - 1))
            cells[at] = draw(st.sampled_from(CELL_EDGES))
        extra = draw(st.integers(0, 9))
        if extra == 0:
            cells.append("7")
        elif extra == 1:
            cells.pop()
        rows.append(",".join(cells) + ("," if scalesim else ""))
    text = "\n".join(rows) + "\n"
    if draw(st.integers(0, 9)) == 0:
        return draw(mutated_bytes(text))
    return (b"\xef\xbb\xbf" if draw(st.integers(0, 9)) == 0 else b"") + text.encode()


# --- technology TOMLs ---------------------------------------------------------------------------


def shipped_tech(name: str = "published-45nm") -> dict:
    return tomllib.loads(qf.load_tech(name).source_text)


def _paths(table: dict, prefix=()) -> list[tuple]:
    found = []
    for key, value in table.items():
        found.append(prefix + (key,))
        if isinstance(value, dict):
            found += _paths(value, prefix + (key,))
    return found


TECH_VALUE_EDGES = [[-5.0], [1e300], [math.nan], [math.inf], [], [0.0], [-1e-9, 0.0, 1.0], 1000000, -1, 0, "x", True,
                    [1, 1000000000], [3, 2], [[1.0, 0, 0]], [[-1.0, 1, 0]], [[1.0, -1, 0]], {}]


@st.composite
def tech_text(draw) -> bytes:
    """The shipped published-45nm technology with one to three keys set to an edge value, deleted, or
    joined by an unknown key; now and then its bytes mutated."""
    data = shipped_tech()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        action = draw(st.sampled_from(["set", "set", "set", "scale", "delete", "unknown"]))
        if action == "set":
            parent[path[-1]] = draw(st.one_of(st.sampled_from(TECH_VALUE_EDGES), any_value()))
        elif action == "scale" and isinstance(parent[path[-1]], list):
            factor = draw(st.sampled_from([-1.0, 0.0, 1e6, 1e300, -1e-6]))
            parent[path[-1]] = [v * factor if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                                for v in parent[path[-1]]]
        elif action == "delete":
            del parent[path[-1]]
        elif action == "unknown":
            parent[draw(st.sampled_from(["energy_pj_per_bitt", "mac_energy", "extra"]))] = draw(any_scalar())
    text = toml_text(data)
    if draw(st.integers(0, 9)) == 0:
        return draw(mutated_bytes(text))
    return text.encode()


# --- accuracy tables ----------------------------------------------------------------------------

ACCURACY_EDITS = ["scale100", "negate", "all_nan", "strings", "extra_dim", "scalar_pe_type", "pe_labels", "bits_labels",
                  "drop_accuracy", "drop_coord", "incomplete", "inf", "bits_float", "ints", "duplicate_bits", "identity",
                  "slightly_over", "transpose", "no_seed", "relabel", "unstamped", "bad_fingerprint", "fingerprint_dims",
                  "fingerprint_counts"]


_PACKAGED: list[xr.Dataset] = []


def packaged_table() -> xr.Dataset:
    """The packaged table, with the fingerprints of its networks (stamped from the library if it has none);
    read once per process, a copy each call."""
    from quidam_fast.accuracy import add_fingerprints, load_accuracy_table

    if not _PACKAGED:
        table = load_accuracy_table(verify=False)
        if "network_fingerprint" not in table.data_vars:
            table = add_fingerprints(table)[0]
        table.attrs.pop("source", None)
        _PACKAGED.append(table)
    return _PACKAGED[0].copy(deep=True)


def edit_table(table: xr.Dataset, edit: str, value) -> xr.Dataset:
    acc = table["accuracy"]
    if edit == "scale100":
        return table.assign(accuracy=acc * 100)
    if edit == "negate":
        return table.assign(accuracy=-acc)
    if edit == "all_nan":
        return table.assign(accuracy=acc * np.nan)
    if edit == "strings":
        return table.assign(accuracy=acc.astype(str))
    if edit == "extra_dim":
        return table.assign(accuracy=acc.expand_dims(extra=2))
    if edit == "scalar_pe_type":
        return table.isel(pe_type=0)
    if edit == "pe_labels":
        labels = list(table.pe_type.values)
        labels[0] = value if isinstance(value, str) else "bf16"
        return table.assign_coords(pe_type=labels)
    if edit == "bits_labels":
        labels = [int(b) for b in table.bits.values]
        labels[0] = value if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62 else 0
        return table.assign_coords(bits=labels)
    if edit == "drop_accuracy":
        return table.drop_vars("accuracy")
    if edit == "drop_coord":
        return table.drop_vars("pe_type")
    if edit == "incomplete":
        return table.assign_attrs(complete="no (partial, still running)")
    if edit == "inf":
        return table.assign(accuracy=acc.where(acc.isnull(), np.inf))
    if edit == "bits_float":
        return table.assign_coords(bits=table.bits.astype(float) + 0.5)
    if edit == "ints":
        return table.assign(accuracy=(acc.fillna(0) > 0.5).astype(np.int64))
    if edit == "duplicate_bits":
        labels = [int(b) for b in table.bits.values]
        labels[1] = labels[0]
        return table.assign_coords(bits=labels)
    if edit == "slightly_over":
        return table.assign(accuracy=acc + 0.2)
    if edit == "transpose":
        return table.transpose("seed", "bits", "pe_type", "network")
    if edit == "no_seed":
        return table.isel(seed=0, drop=True)
    if edit == "relabel":  # another network's rows under this network's name (the labels turned by one)
        labels = [str(n) for n in table.network.values]
        return table.assign_coords(network=labels[1:] + labels[:1])
    if edit == "unstamped":  # as written before fingerprints were recorded
        return table.drop_vars(["network_fingerprint", "network_layers", "network_macs", "network_params"])
    if edit == "bad_fingerprint":
        fingerprints = [str(f) for f in table.network_fingerprint.values]
        fingerprints[0] = value if isinstance(value, str) else "0123456789abcdeF"
        return table.assign(network_fingerprint=("network", np.array(fingerprints, dtype=object), table.network_fingerprint.attrs))
    if edit == "fingerprint_dims":
        return table.assign(network_macs=table.network_macs.expand_dims(seed=table.seed))
    if edit == "fingerprint_counts":
        return table.assign(network_layers=table.network_layers * 0 - 1)
    return table


@st.composite
def accuracy_bytes(draw) -> bytes:
    """An accuracy table as the bytes of a netCDF file: the packaged table transformed, or corrupted."""
    table = edit_table(packaged_table(), draw(st.sampled_from(ACCURACY_EDITS)), draw(any_scalar()))
    data = bytes(table.to_netcdf(engine="h5netcdf"))
    damage = draw(st.integers(0, 5))
    if damage == 0:  # flipped bytes: corrupt metadata, checksums, chunks
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 16))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        data = bytes(data)
    elif damage == 1:
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == 2 and draw(st.booleans()):
        data = draw(st.binary(max_size=64))
    return data


# --- the command, run in-process ----------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    warnings: list


def run_cli(*args) -> Outcome:
    """``quidam-fast ARGS`` through :func:`quidam_fast.cli.main.main` in this process.

    Warnings are recorded as a user's Python would show them (not turned into errors); any exception
    other than ``SystemExit`` escapes: that is a traceback, which the suite counts as a failure.
    """
    from quidam_fast import _files
    from quidam_fast.cli import main as cli_main

    for record in (_files.WRITTEN, _files.UNFINISHED, _files.NOTES):
        record.clear()
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["quidam-fast", *[str(a) for a in args]]
    code = 0
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("always")
            try:
                cli_main.main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = argv
    return Outcome(code, out.getvalue(), err.getvalue(), [str(w.message) for w in caught])


#: What ``grid`` says on stderr before it evaluates (the network, the space): not part of a refusal.
INFO_LINES = re.compile(r"^(.+: \d+ layers, .*|  .*|[\d,]+ design points.*|warning: .*)$")


def refusal_line(outcome: Outcome) -> str:
    """The one line of a refusal (exit 2): asserts there is exactly one ``error:`` line, last, after at
    most the command's informational lines, and no warning beside it."""
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), f"refusal without an error line: {outcome.stderr!r}"
    assert all(INFO_LINES.match(line) for line in lines[:-1]), f"refusal not one error line: {outcome.stderr!r}"
    assert not outcome.warnings, f"warnings beside a refusal: {outcome.warnings}"
    assert "Traceback" not in outcome.stderr
    return lines[-1]


#: Result variables that are counts, energies, areas, times or rates: finite and >= 0 at every valid
#: point (per-layer variables may be NaN past a network's last layer, and the row-stationary mapping NaN
#: for other dataflows); the second set must also be > 0.
NON_NEGATIVE = re.compile(r"^(layer_)?(cycles|compute_cycles|stall_cycles|macs|energy_.*|area_.*|dram_.*|glb_.*|spad_.*|"
                          r"noc_words|edp|latency_s|throughput_ips|perf_per_area|rs_filters_per_pe|rs_channels_per_pe)$")
POSITIVE = ("cycles", "latency_s", "throughput_ips", "perf_per_area", "area_mm2", "energy_pj", "energy_per_inference_j")
FRACTIONS = ("utilization", "layer_utilization", "accuracy", "accuracy_std")


def check_laws(results: xr.Dataset) -> None:
    """A result obeys the laws at every valid point: finite non-negative energies, areas, counts and
    times (positive latency, throughput and area), 0 <= utilization <= 1, cycles >= MACs / PEs,
    accuracy in [0, 1] (NaN where the table has none). Checks the variables the dataset has."""
    valid = results["valid"]
    assert valid.dtype == bool, valid.dtype
    if not bool(valid.any()):
        return
    for name in results.data_vars:
        variable = results[name]
        if name == "valid" or not set(valid.dims) <= set(variable.dims):
            continue
        mask = valid.broadcast_like(variable).transpose(*variable.dims).values
        values = variable.values[mask]
        if NON_NEGATIVE.match(name) or name in FRACTIONS:
            assert variable.dtype.kind in "fiu", f"{name}: dtype {variable.dtype}"
            values = values.astype(np.float64)
            nan_allowed = name.startswith("layer_") or name.startswith("accuracy")
            present = values[~np.isnan(values)] if nan_allowed else values
            assert np.all(np.isfinite(present)) and np.all(present >= 0), f"{name}: {present[~(np.isfinite(present) & (present >= 0))][:3]}"
            if name in POSITIVE:
                assert np.all(present > 0), f"{name}: {present[present <= 0][:3]}"
            if name in FRACTIONS:
                assert np.all(present <= 1 + 1e-12), f"{name} above 1: {present.max()}"
    if all(name in results.variables for name in ("cycles", "macs", "rows", "cols")):
        slack = (results["cycles"] * results["rows"] * results["cols"] - results["macs"] * (1 - 1e-12)).where(valid)
        assert not bool((slack < 0).any()), "cycles < MACs / PEs"


def check_units(results: xr.Dataset, reference: xr.Dataset) -> None:
    """Every variable of ``results`` that ``reference`` (a fresh evaluation) has carries its units."""
    for name in results.variables:
        if name in reference.variables and "units" in reference[name].attrs:
            assert results[name].attrs.get("units") == reference[name].attrs["units"], (
                f"{name}: units {results[name].attrs.get('units')!r}, the engine writes {reference[name].attrs['units']!r}")


def open_output(path: Path) -> xr.Dataset:
    if path.suffix == ".zarr":
        return xr.open_zarr(path).load()
    return xr.load_dataset(path, engine="h5netcdf")


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# --- result datasets (.nc and .zarr, as quidam-fast grid writes them) ---------------------------

#: Small results of each shape ``grid`` writes: one network with accuracy (totals only, or per layer),
#: a network dimension (co-exploration), and a hardware-only network. Each has invalid points (``fp``
#: at 4 bits), whose values are NaN, next to valid ones.
RESULT_BASES = ("accuracy", "per_layer", "networks", "hardware")
_RESULT_SPACE = {"pe_type": ["int", "lightpe1", "fp"], "bits": [4, 8], "rows": [2, 4], "cols": [4], "dataflow": ["ws", "rs"]}
_BASE_RESULTS: dict[str, xr.Dataset] = {}


def base_result(kind: str) -> xr.Dataset:
    """A small, valid result of shape ``kind`` (:data:`RESULT_BASES`), evaluated once per process."""
    if kind not in _BASE_RESULTS:
        from quidam_fast.accuracy import attach_accuracy

        space = qf.DesignSpace.from_dict(_RESULT_SPACE, base="small")
        network = {"networks": ["lenet5_fmnist", "vgg7_half_fmnist"], "hardware": "alexnet"}.get(kind, "lenet5_fmnist")
        result = qf.evaluate(network, space, "published-45nm", per_layer=kind in ("per_layer", "networks"))
        if kind != "hardware":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the packaged table's coverage and fingerprint lines: not the point here
                result = attach_accuracy(result)
        _BASE_RESULTS[kind] = result
    return _BASE_RESULTS[kind]


RESULT_EDITS = ["identity", "identity", "drop_var", "drop_coord", "nan", "nan_all", "negative", "negative_one", "inf",
                "zero", "huge", "over_one", "strings", "bools", "ints", "units", "no_units", "extra_dim", "scalar_dim",
                "transpose", "zero_size", "labels", "duplicate_labels", "valid_type", "valid_false", "producer",
                "attrs", "percent", "complex", "tiny"]
UNIT_EDGES = ["", "mJ", "nJ", "W", "percent", "%", "1", "s", "pJ", "mm2", "byte", 5, 1.5, [1, 2]]
LABEL_EDGES = ["bf16", "", "INT", 0, -1, 1000, 2.5, "8", "xx", math.nan, math.inf, -3.5, 2**40, True]


def _valid_points(ds: xr.Dataset, name: str) -> xr.DataArray:
    """A mask over ``ds[name]`` that is True at valid design points (broadcast), False elsewhere."""
    valid = ds["valid"]
    return valid.broadcast_like(ds[name]) if set(valid.dims) <= set(ds[name].dims) else xr.ones_like(ds[name], dtype=bool)


def edit_result(ds: xr.Dataset, edit: str, name: str, value, pick: int = 0) -> xr.Dataset:
    """``ds`` with one variable or coordinate ``name`` (or the dataset's attributes) changed by ``edit``;
    ``pick`` chooses among the dims, coordinates or attributes an edit could touch."""
    variable = ds[name]
    numeric = variable.dtype.kind in "fiub"
    where_valid = _valid_points(ds, name) if numeric else None
    if edit == "drop_var":
        return ds.drop_vars(name)
    if edit == "drop_coord":
        coords = [c for c in ds.coords if c not in ds.dims] or list(ds.coords)
        return ds.drop_vars(coords[pick % len(coords)]) if coords else ds
    if edit in ("nan", "nan_all", "negative", "negative_one", "inf", "zero", "huge", "over_one", "percent",
                "tiny") and numeric:
        values = variable.astype(np.float64)
        if edit == "nan":  # one valid point
            first = np.zeros(values.shape, dtype=bool)
            flat = np.flatnonzero(where_valid.values)
            if flat.size:
                first.flat[flat[0]] = True
            values = values.where(~xr.DataArray(first, dims=values.dims), np.nan)
        elif edit == "nan_all":
            values = values.where(~where_valid, np.nan)
        elif edit == "negative":
            values = -values
        elif edit == "negative_one":
            values = values.where(~where_valid, -1.0)
        elif edit == "inf":
            values = values.where(~where_valid, np.inf)
        elif edit == "zero":
            values = values.where(~where_valid, 0.0)
        elif edit == "huge":
            values = values.where(~where_valid, 1e308)
        elif edit == "over_one":
            values = values + 1.0
        elif edit == "percent":
            values = values * 100
        else:
            values = values * 1e-30
        return ds.assign({name: values.assign_attrs(variable.attrs)}) if name in ds.data_vars else ds.assign_coords({name: values.assign_attrs(variable.attrs)})
    if edit == "strings":
        new = variable.astype(str).assign_attrs(variable.attrs)
    elif edit == "bools":
        new = (variable.astype(np.float64) > 0).assign_attrs(variable.attrs) if numeric else variable
    elif edit == "ints":
        new = variable.fillna(0).astype(np.int64).assign_attrs(variable.attrs) if variable.dtype.kind == "f" else variable
    elif edit == "complex":
        new = (variable.astype(np.complex128) * 1j).assign_attrs(variable.attrs) if numeric else variable
    elif edit == "units":
        new = variable.copy()
        new.attrs["units"] = value if value is not None else "mJ"
    elif edit == "no_units":
        new = variable.copy()
        new.attrs.pop("units", None)
    elif edit == "extra_dim":
        return ds.assign({name: variable.expand_dims(extra=2)}) if name in ds.data_vars else ds
    elif edit == "scalar_dim":  # one design dim cut to its first label, kept as a scalar coordinate
        dims = [d for d in ds["valid"].dims]
        return ds.isel({dims[pick % len(dims)]: 0}) if dims else ds
    elif edit == "transpose":
        return ds.transpose(*reversed(list(ds.dims)))
    elif edit == "zero_size":
        dims = list(ds.dims)
        return ds.isel({dims[pick % len(dims)]: slice(0, 0)})
    elif edit in ("labels", "duplicate_labels"):
        dims = [d for d in ds["valid"].dims if d in ds.coords]
        if not dims:
            return ds
        dim = dims[pick % len(dims)]
        labels = list(ds[dim].values)
        if edit == "duplicate_labels":
            if len(labels) < 2:
                return ds
            labels[1] = labels[0]
        else:
            labels[0] = value
        try:
            return ds.assign_coords({dim: (dim, np.array(labels), ds[dim].attrs)})
        except (ValueError, TypeError):
            return ds
    elif edit == "valid_type":
        return ds.assign(valid=ds["valid"].astype(np.float64 if value is None else type(value) if isinstance(value, (int, float, str)) else np.int8))
    elif edit == "valid_false":
        return ds.assign(valid=ds["valid"] & False)
    elif edit == "producer":
        out = ds.copy()
        out.attrs["producer"] = value if isinstance(value, str) else "someone else"
        return out
    elif edit == "attrs":
        out = ds.copy()
        out.attrs[["network_macs", "network_layers", "network", "design_points", "tech"][pick % 5]] = value if value is not None else -1
        return out
    else:
        return ds
    return ds.assign({name: new}) if name in ds.data_vars else ds.assign_coords({name: new})


@dataclasses.dataclass
class ResultCase:
    """A result file to write: ``dataset`` as ``suffix`` (``.nc``/``.zarr``), then ``damage`` done to it."""
    dataset: xr.Dataset
    suffix: str
    damage: tuple  # (kind, positions, bytes) or ()
    base: str  # the RESULT_BASES entry it was made from
    edits: list  # what was done to it, for the report of a failing case

    def write(self, path: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zarr's and xarray's encoding notes on odd datasets
            if self.suffix == ".nc":
                path.write_bytes(bytes(self.dataset.to_netcdf(engine="h5netcdf")))
            else:
                self.dataset.to_zarr(path, mode="w", zarr_format=2)
        if not self.damage:
            return
        kind, positions, junk = self.damage
        files = sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
        target = files[positions[0] % len(files)]
        data = bytearray(target.read_bytes())
        if kind == "remove":
            target.unlink()
        elif kind == "truncate":
            target.write_bytes(bytes(data[: positions[1] % (len(data) + 1)]))
        elif kind == "junk":
            target.write_bytes(junk)
        elif data:
            for at in positions:
                data[at % len(data)] ^= 0xFF
            target.write_bytes(bytes(data))


@st.composite
def result_cases(draw) -> ResultCase:
    """A result written by ``grid``, with one edit (a variable dropped, retyped, given NaN / negative /
    infinite values, wrong units or dims, bad coordinate labels, zero-size dims ...) and sometimes damage
    to its bytes (flipped, truncated, a file of a store removed or replaced by junk)."""
    base = draw(st.sampled_from(RESULT_BASES))
    ds = base_result(base)
    names = sorted(ds.data_vars) + sorted(ds.coords)
    edits = []
    for _ in range(draw(st.integers(0, 9)) // 8 + 1):  # now and then two edits
        edit, name = draw(st.sampled_from(RESULT_EDITS)), draw(st.sampled_from(names))
        value = draw(st.one_of(st.sampled_from(UNIT_EDGES if edit == "units" else LABEL_EDGES), st.none()))
        name = name if name in ds.variables else sorted(ds.data_vars)[0]
        try:
            ds = edit_result(ds, edit, name, value, draw(st.integers(0, 1000)))
        except (ValueError, TypeError, KeyError, IndexError):
            continue  # an edit xarray itself refuses to make: the file stays as it was
        edits.append(f"{edit}:{name}={value!r}")
    suffix = draw(st.sampled_from([".nc", ".nc", ".zarr"]))
    damage = ()
    if draw(st.integers(0, 5)) == 0:
        damage = (draw(st.sampled_from(["flip", "truncate", "remove", "junk"])),
                  draw(st.lists(st.integers(0, 1 << 30), min_size=2, max_size=8)),
                  draw(st.sampled_from([b"", b"{", b"\x00" * 16, b'{"zarr_format": 2}', b"not a chunk"])))
    return ResultCase(ds, suffix, damage, base, edits)


# --- ONNX models --------------------------------------------------------------------------------

ONNX_EDITS = ["identity", "identity", "opset", "ir_version", "drop_initializer", "dynamic_dim", "zero_dim",
              "negative_dim", "huge_dim", "huge_weight", "zero_weight_dims", "kernel_bigger", "strides", "dilations",
              "pads", "group", "auto_pad", "unknown_op", "custom_domain", "unsupported_op", "drop_input",
              "duplicate_output", "cycle", "no_nodes", "elem_type", "rank", "no_shape", "bytes"]
ONNX_DIM_EDGES = [0, -1, -7, 1, 2**31 - 1, 2**31, 2**40, 2**62, 2**63 - 1]
INPUT_SHAPE_OPTIONS = [None, None, "1,1,8,8", "1,2,6,6", "N=1", "batch=2", "N=0", "x", "1,2", "", "2147483648,1,1,1",
                       "N=1,N=2", "1,1,1,1,1"]


@dataclasses.dataclass
class OnnxCase:
    """An ONNX file's bytes (maybe not a valid model), the ``--input-shape`` to give (or None), and the
    edits that made it, for the report of a failing case."""
    data: bytes
    input_shape: str | None
    edits: list


@st.composite
def onnx_cases(draw) -> OnnxCase:
    """A small CNN (Conv, Relu, a second Conv now and then, Flatten, Gemm or MatMul) built with
    ``onnx.helper``, then changed by one or two edits: bad opsets or IR versions, a missing initializer,
    dynamic, zero, negative or huge dims, attributes out of range, unknown, custom-domain or unsupported
    operators, a broken graph (a cycle, a repeated output, no nodes), odd element types and ranks, or
    damaged bytes."""
    from onnx import TensorProto, helper

    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    H = draw(st.integers(3, 9))
    K, R = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    stride, pad = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    group = C if (draw(st.booleans()) and K % C == 0) else 1
    second = draw(st.booleans())
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", kernel_shape=[R, R], strides=[stride, stride],
                              pads=[pad] * 4, group=group),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1")]
    initializers = [helper.make_tensor("w1", TensorProto.FLOAT, [K, C // group, R, R], [0.0] * (K * (C // group) * R * R))]
    last, channels = "r1", K
    if second:
        nodes.append(helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", kernel_shape=[1, 1]))
        initializers.append(helper.make_tensor("w2", TensorProto.FLOAT, [2, K, 1, 1], [0.0] * (2 * K)))
        last, channels = "c2", 2
    # global pooling: the classifier's input does not depend on H, so edits of H reach the conv layers
    nodes.append(helper.make_node("GlobalAveragePool", [last], ["g"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["g"], ["f"], name="flatten"))
    if draw(st.booleans()):
        nodes.append(helper.make_node("Gemm", ["f", "w3"], ["y"], name="fc"))
    else:
        nodes.append(helper.make_node("MatMul", ["f", "w3"], ["y"], name="fc"))
    initializers.append(helper.make_tensor("w3", TensorProto.FLOAT, [channels, 3], [0.0] * (channels * 3)))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, C, H, H])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [N, 3])
    graph = helper.make_graph(nodes, "fuzz", [x], [y], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", draw(st.sampled_from([11, 13, 17, 21])))])
    model.ir_version = 8
    input_shape = draw(st.sampled_from(INPUT_SHAPE_OPTIONS)) if draw(st.integers(0, 4)) == 0 else None
    edits = []
    for _ in range(draw(st.integers(0, 9)) // 8 + 1):
        edit = draw(st.sampled_from(ONNX_EDITS))
        edits.append(edit)
        node = model.graph.node[draw(st.integers(0, len(model.graph.node) - 1))] if model.graph.node else None
        convs = [n for n in model.graph.node if n.op_type == "Conv"]
        if edit in ("strides", "dilations", "pads", "group", "auto_pad") and convs and draw(st.integers(0, 3)):
            node = convs[draw(st.integers(0, len(convs) - 1))]  # mostly a convolution's own attribute
        dims = model.graph.input[0].type.tensor_type.shape.dim if model.graph.input else []
        if edit == "opset":
            choice = draw(st.sampled_from(["version", "domain", "none", "extra"]))
            if choice == "version":
                model.opset_import[0].version = draw(st.sampled_from([0, 1, 6, 9, 29, 999, -1]))
            elif choice == "domain":
                model.opset_import[0].domain = draw(st.sampled_from(["com.example", "ai.onnx.ml", "x"]))
            elif choice == "none":
                del model.opset_import[:]
            else:
                model.opset_import.append(helper.make_opsetid("", 9))
        elif edit == "ir_version":
            model.ir_version = draw(st.sampled_from([0, 1, 3, 99, -1, 2**40]))
        elif edit == "drop_initializer" and model.graph.initializer:
            del model.graph.initializer[draw(st.integers(0, len(model.graph.initializer) - 1))]
        elif edit == "dynamic_dim" and dims:
            dim = dims[draw(st.integers(0, len(dims) - 1))]
            name = draw(st.sampled_from(["N", "batch", "", None]))
            if name is None:
                dim.Clear()
            else:
                dim.dim_param = name
            input_shape = draw(st.sampled_from(INPUT_SHAPE_OPTIONS))
        elif edit in ("zero_dim", "negative_dim", "huge_dim") and dims:
            value = {"zero_dim": 0, "negative_dim": draw(st.sampled_from([-1, -7])),
                     "huge_dim": draw(st.sampled_from([2**31 - 1, 2**31, 2**40, 2**62, 2**63 - 1]))}[edit]
            dims[draw(st.integers(0, len(dims) - 1))].dim_value = value
        elif edit in ("huge_weight", "zero_weight_dims") and model.graph.initializer:
            tensor = model.graph.initializer[draw(st.integers(0, len(model.graph.initializer) - 1))]
            at = draw(st.integers(0, len(tensor.dims) - 1))
            tensor.dims[at] = draw(st.sampled_from(ONNX_DIM_EDGES)) if edit == "huge_weight" else 0
            if draw(st.booleans()):  # weights kept in an external file that is not there: only shapes are read
                del tensor.float_data[:]
                tensor.data_location = TensorProto.EXTERNAL
                tensor.external_data.add(key="location", value="weights.bin")
        elif edit == "kernel_bigger" and model.graph.initializer:
            tensor = model.graph.initializer[0]
            tensor.dims[2] = tensor.dims[3] = H + 5
            del tensor.float_data[:]
            tensor.float_data.extend([0.0] * math.prod(tensor.dims))
        elif edit in ("strides", "dilations", "pads", "group", "auto_pad") and node is not None:
            for attribute in list(node.attribute):
                if attribute.name == edit:
                    node.attribute.remove(attribute)
            value = {"strides": draw(st.sampled_from([[0, 0], [-1, -1], [1, 2], [2**40, 1], [1]])),
                     "dilations": draw(st.sampled_from([[0, 0], [2, 2], [-1, 1], [1, 3]])),
                     "pads": draw(st.sampled_from([[-1] * 4, [0, 1, 2, 3], [2**40] * 4, [1, 1]])),
                     "group": draw(st.sampled_from([0, -1, 3, 2**40])),
                     "auto_pad": draw(st.sampled_from(["SAME_UPPER", "VALID", "FOO", ""]))}[edit]
            node.attribute.append(helper.make_attribute(edit, value))
        elif edit == "unknown_op" and node is not None:
            node.op_type = draw(st.sampled_from(["Foo", "conv", "", "Conv2d"]))
        elif edit == "custom_domain" and node is not None:
            node.domain = "com.example"
            model.opset_import.append(helper.make_opsetid("com.example", 1))
        elif edit == "unsupported_op" and node is not None:
            node.op_type = draw(st.sampled_from(["LSTM", "ConvTranspose", "Einsum", "Loop", "Attention"]))
        elif edit == "drop_input" and node is not None and node.input:
            del node.input[-1]
        elif edit == "duplicate_output" and len(model.graph.node) > 1:
            model.graph.node[1].output[0] = model.graph.node[0].output[0]
        elif edit == "cycle" and node is not None and node.input:
            node.input[0] = node.output[0]
        elif edit == "no_nodes":
            del model.graph.node[:]
        elif edit == "elem_type" and model.graph.input:
            model.graph.input[0].type.tensor_type.elem_type = draw(st.sampled_from([0, TensorProto.STRING, 999, TensorProto.INT8]))
        elif edit == "rank" and dims:
            if draw(st.booleans()):
                del dims[-1]
            else:
                dims.add().dim_value = 2
        elif edit == "no_shape" and model.graph.input:
            model.graph.input[0].type.tensor_type.ClearField("shape")
    data = model.SerializeToString()
    if "bytes" in edits:
        data = draw(mutated_onnx_bytes(data))
    return OnnxCase(data, input_shape, edits)


@st.composite
def mutated_onnx_bytes(draw, data: bytes) -> bytes:
    data = bytearray(data)
    action = draw(st.sampled_from(["flip", "truncate", "junk", "empty"]))
    if action == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    elif action == "truncate":
        del data[draw(st.integers(0, len(data) - 1)):]
    elif action == "junk":
        data = bytearray(draw(st.binary(max_size=200)))
    else:
        data = bytearray()
    return bytes(data)


# --- torch module files -------------------------------------------------------------------------

TORCH_EDITS = ["identity", "identity", "identity", "syntax", "no_factory", "input_shape", "input_shape_option",
               "no_layers", "import_error", "raise_at_import", "exit_at_import", "factory_raises", "factory_returns",
               "factory_args", "forward_raises", "property_raises", "network_name", "unsupported_leaf", "dilated",
               "anisotropic", "linear_positions", "huge_input", "functional_only", "called_twice", "shape_mismatch",
               "instance", "nested_attr"]
DECLARED_SHAPES = ["5", "'1,1,8,8'", "()", "(1,)", "(0, {C}, {H}, {H})", "(1, -1, {H}, {H})", "(1.5, {C}, {H}, {H})",
                   "[1, {C}, {H}, {H}]", "(True, {C}, {H}, {H})", "None", "(1, {C}, {H}, {H}, 1)", "((1,), {C})",
                   "(2**31, {C}, {H}, {H})", "(1, {C}, 2**20, 2**20)", "(1, {C}, 2**40, {H})", "(1, {C}, 3000, 3000)",
                   "{{'N': 1}}", "(1, {C}, float('nan'), {H})"]
SHAPE_OPTIONS = ["1,{C},{H},{H}", "2,{C},{H},{H}", "0", "x", "batch=1", "1,2", "1,{C},{H}", "1,{C},1048576,1048576",
                 "1,{C},2147483647,1", ""]


@dataclasses.dataclass
class TorchCase:
    """A model file's text, the ``file.py:attr`` attribute to name, the ``--input-shape`` to give (or
    None), the MACs per layer its modules do (written from the generator's own parameters; None where an
    edit makes them unknown), and the edits that made it."""
    text: str
    attr: str
    input_shape: str | None
    expected_macs: list | None
    edits: list


@st.composite
def torch_cases(draw) -> TorchCase:
    """A model file: a convolution (stride, padding, groups), a ReLU, a mean over positions and a linear
    classifier, with a factory function and a declared ``input_shape``; then one or two edits: syntax
    errors, a missing factory, declared or given input shapes of wrong types or sizes (huge ones
    included), modules without Conv2d/Linear, exceptions (and sys.exit) at import, in the factory or
    in forward, properties that raise, odd network names, unsupported or dilated layers."""
    N, C, H = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(3, 8))
    K, R = draw(st.sampled_from([c for c in (1, 2, 3, 4, 6) if c % C == 0 or c == 2])), draw(st.integers(1, 3))
    stride, pad, out = draw(st.integers(1, 2)), draw(st.integers(0, 1)), draw(st.integers(1, 4))
    groups = C if (K % C == 0 and draw(st.booleans())) else 1
    P = (H + 2 * pad - R) // stride + 1
    expected = [N * K * (C // groups) * R * R * P * P, N * K * out]
    parts = {
        "header": "import torch\nimport torch.nn as nn\n",
        "declared": f"    input_shape = ({N}, {C}, {H}, {H})\n",
        "name": "",
        "layers": (f"        self.conv = nn.Conv2d({C}, {K}, {R}, stride={stride}, padding={pad}, groups={groups})\n"
                   f"        self.act = nn.ReLU()\n        self.fc = nn.Linear({K}, {out})\n"),
        "forward": "        x = self.act(self.conv(x))\n        return self.fc(x.mean(dim=(2, 3)))\n",
        "factory": "def model():\n    return Net()\n",
        "extra": "",
    }
    attr, input_shape = "model", None
    edits = []
    for _ in range(draw(st.integers(0, 9)) // 8 + 1):
        edit = draw(st.sampled_from(TORCH_EDITS))
        edits.append(edit)
        if edit == "no_factory":
            attr = draw(st.sampled_from(["missing", "Net.nothing", "torch", "nn", "_private"]))
            expected = None
        elif edit == "input_shape":
            parts["declared"] = "    input_shape = " + draw(st.sampled_from(DECLARED_SHAPES)).format(C=C, H=H) + "\n"
            expected = None
        elif edit == "input_shape_option":
            input_shape = draw(st.sampled_from(SHAPE_OPTIONS)).format(C=C, H=H)
            expected = None
        elif edit == "no_layers":
            parts["layers"] = "        self.act = nn.ReLU()\n"
            parts["forward"] = "        return self.act(x)\n"
            expected = None
        elif edit == "import_error":
            parts["header"] += "import quidam_no_such_module_xyz\n"
        elif edit == "raise_at_import":
            parts["extra"] += draw(st.sampled_from(["raise RuntimeError('boom')\n", "1 / 0\n", "raise Exception\n",
                                                    "raise GeneratorExit\n", "assert False, 'no'\n", "undefined_name\n"]))
        elif edit == "exit_at_import":
            parts["extra"] += draw(st.sampled_from(["import sys\nsys.exit(3)\n", "raise SystemExit\n", "exit(0)\n",
                                                    "raise SystemExit('bye')\n"]))
        elif edit == "factory_raises":
            parts["factory"] = "def model():\n    " + draw(st.sampled_from(
                ["raise ValueError('no')", "raise SystemExit(1)", "return 1 / 0", "raise RecursionError",
                 "raise MemoryError"])) + "\n"
        elif edit == "factory_returns":
            parts["factory"] = "def model():\n    return " + draw(st.sampled_from(
                ["5", "None", "nn.ReLU", "'text'", "[Net()]", "Net", "nn.Sequential()"])) + "\n"
            expected = None
        elif edit == "factory_args":
            parts["factory"] = "def model(width):\n    return Net()\n"
        elif edit == "forward_raises":
            parts["forward"] = "        " + draw(st.sampled_from(
                ["raise RuntimeError('forward')", "raise SystemExit(2)", "return None", "return x.item()",
                 "return self.fc(x)", "raise KeyError('k')", "return self.conv(x[:, :0])"])) + "\n"
            expected = None
        elif edit == "property_raises":
            parts["declared"] = draw(st.sampled_from([
                "    @property\n    def input_shape(self):\n        raise ValueError('no shape')\n",
                "    @property\n    def input_shape(self):\n        return 1 / 0\n",
                "    def __getattr__(self, name):\n        raise RuntimeError(name)\n",
                "    @property\n    def network_name(self):\n        raise KeyError('name')\n"]))
            expected = None
        elif edit == "network_name":
            parts["name"] = "    network_name = " + draw(st.sampled_from(["5", "''", "'x' * 300", "'a/b'", "None", "'ok'",
                                                                          "b'bytes'", "'é \\t'"])) + "\n"
        elif edit == "unsupported_leaf":
            parts["layers"] += "        self.extra = " + draw(st.sampled_from(
                ["nn.Conv1d(1, 1, 1)", "nn.LSTM(2, 2)", "nn.ConvTranspose2d(1, 1, 1)", "nn.MultiheadAttention(2, 1)",
                 "nn.Embedding(3, 2)", "nn.Conv3d(1, 1, 1)"])) + "\n"
            expected = None
        elif edit == "dilated":
            parts["layers"] = parts["layers"].replace(f"groups={groups})", f"groups={groups}, dilation=2)")
            expected = None
        elif edit == "anisotropic":
            parts["layers"] = parts["layers"].replace(f"stride={stride}", draw(st.sampled_from(
                ["stride=(1, 2)", "padding=(0, 1), stride=1", f"stride={stride}, padding_mode='reflect'"])))
            expected = None
        elif edit == "linear_positions":
            parts["forward"] = "        x = self.act(self.conv(x))\n        return self.fc(x.flatten(2).transpose(1, 2))\n"
            expected = None if expected is None else [expected[0], N * P * P * K * out]
        elif edit == "huge_input":
            input_shape = draw(st.sampled_from(["1,{C},65536,65536", "4096,{C},4096,4096", "1,{C},2147483647,2",
                                                "1,{C},3000,3000"])).format(C=C)
            expected = None
        elif edit == "functional_only":
            parts["forward"] = "        x = torch.nn.functional.conv2d(x, torch.zeros(1, x.shape[1], 1, 1))\n        return x\n"
            parts["layers"] = "        self.w = nn.Parameter(torch.zeros(1))\n"
            expected = None
        elif edit == "called_twice":
            parts["layers"] = parts["layers"].replace(f"nn.Linear({K}, {out})", f"nn.Linear({K}, {K})")
            parts["forward"] = "        x = self.act(self.conv(x)).mean(dim=(2, 3))\n        return self.fc(self.fc(x))\n"
            expected = None if expected is None else [expected[0], N * K * K, N * K * K]
        elif edit == "shape_mismatch":
            parts["declared"] = f"    input_shape = ({N}, {C + 1}, {H}, {H})\n"
            expected = None
        elif edit == "instance":
            parts["factory"] += "instance = Net()\n"
            attr = "instance"
        elif edit == "nested_attr":
            parts["factory"] += "class Holder:\n    inner = staticmethod(model)\n"
            attr = "Holder.inner"
        elif edit == "syntax":
            pass  # applied to the text below
    text = (parts["header"] + parts["extra"] + "\n\nclass Net(nn.Module):\n" + parts["declared"] + parts["name"]
            + "\n    def __init__(self):\n        super().__init__()\n" + parts["layers"]
            + "\n    def forward(self, x):\n" + parts["forward"] + "\n\n" + parts["factory"])
    if "syntax" in edits:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["", "def (", "\x00", "  ", ")", "\\", "'''"])) + text[at + draw(st.integers(0, 9)):]
        expected = None
    if input_shape is not None and expected is not None:
        expected = None  # the shape given replaces the declared one: the counts above are for that one
    return TorchCase(text, attr, input_shape, expected, edits)
