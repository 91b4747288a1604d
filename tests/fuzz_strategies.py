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
                  "slightly_over", "transpose", "no_seed"]


def packaged_table() -> xr.Dataset:
    from quidam_fast.accuracy import load_accuracy_table

    table = load_accuracy_table()
    table.attrs.pop("source", None)
    return table


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


def check_laws(results: xr.Dataset) -> None:
    """A result obeys the laws at every valid point: finite non-negative energies, 0 <= utilization <=
    1, cycles >= MACs / PEs, positive finite latency, accuracy in [0, 1] (NaN where the table has none)."""
    valid = results["valid"].values.astype(bool)
    if not valid.any():
        return
    for name in results.data_vars:
        if name.startswith("energy") or name.startswith("area") or name in ("cycles", "latency_s", "dram_bytes"):
            values = np.broadcast_to(results[name].values, valid.shape)[valid] if results[name].shape == valid.shape else None
            if values is not None:
                assert np.all(np.isfinite(values)) and np.all(values >= 0), f"{name}: {values[~(np.isfinite(values) & (values >= 0))][:3]}"
    utilization = results["utilization"].values[valid]
    assert np.all(utilization <= 1 + 1e-12) and np.all(utilization >= 0), f"utilization {utilization.max()}"
    assert np.all(results["latency_s"].values[valid] > 0)
    if "network_macs" in results.attrs and "batch" not in results.dims and "network" not in results.dims:
        pes = (results["rows"] * results["cols"]).broadcast_like(results["cycles"]).values[valid]
        cycles = results["cycles"].values[valid]
        assert np.all(cycles * pes >= int(results.attrs["network_macs"]) * (1 - 1e-12)), "cycles < MACs / PEs"
    if "accuracy" in results:
        accuracy = results["accuracy"].values
        present = accuracy[~np.isnan(accuracy)]
        assert np.all((present >= 0) & (present <= 1)), f"accuracy outside [0, 1]: {present.max()}"


def open_output(path: Path) -> xr.Dataset:
    if path.suffix == ".zarr":
        return xr.open_zarr(path).load()
    return xr.load_dataset(path, engine="h5netcdf")


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))
