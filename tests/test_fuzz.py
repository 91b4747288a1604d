"""Fuzz suite: generated bad and edge-case inputs of every kind the tool reads, through the command (in
process) and the Python API. Each case must end in a refusal -- exit status 2 and one ``error:`` line
(``QuidamInputError`` in Python) -- or in a result that obeys the laws; never a traceback, a warning
beside a refusal, or a file left at or beside the output. Generators: tests/fuzz_strategies.py.

Two profiles. The default suite runs a bounded, derandomized few cases per family (well under a
minute). The large profile is behind ``-m slow``, random, with ``QUIDAM_FUZZ_EXAMPLES`` cases per family
(default 1000)::

    QUIDAM_FUZZ_EXAMPLES=1000 nice -n 19 python -m pytest tests/test_fuzz.py -m slow -q -p no:randomly \\
        --hypothesis-show-statistics

Interruptions, full disks and killed runs are tested without hypothesis at the end of this file.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings, strategies as st

import fuzz_strategies as fz
import quidam_fast as qf
from quidam_fast import _files
from quidam_fast.errors import QuidamInputError

SMALL = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))
LARGE = settings(max_examples=int(os.environ.get("QUIDAM_FUZZ_EXAMPLES", "1000")), deadline=None, database=None,
                 suppress_health_check=list(HealthCheck))

TINY_SPEC = {"network": "lenet5_fmnist", "tech": "published-45nm", "space": fz.TINY}
#: The name of a temporary of the tool (quidam_fast._files): .<output>.~<pid>-<token>.<kind>
TEMPORARY = re.compile(r"\.~\d+-[0-9a-f]{8}\.(tmp|old|probe)$")


def _tally(kind: str) -> None:
    """Count a passed case in the file ``QUIDAM_FUZZ_TALLY`` names (one line per case), if it is set:
    how many cases a long run got through, even one stopped before its end."""
    path = os.environ.get("QUIDAM_FUZZ_TALLY")
    if path:
        with open(path, "a") as file:
            file.write(kind + "\n")


def both_profiles(body, small_examples: int | None = None, **strategies):
    """``body`` as a test under the bounded default profile, and a ``slow`` twin under the large one.
    ``small_examples``: more cases in the default profile, for a family whose cases take milliseconds."""

    def copy(name):  # a fresh function object of the same code: each takes its own hypothesis settings
        return types.FunctionType(body.__code__, body.__globals__, name, body.__defaults__, body.__closure__)

    small_settings = SMALL if small_examples is None else settings(SMALL, max_examples=small_examples)
    small = small_settings(given(**strategies)(copy(body.__name__.lstrip("_"))))
    large = pytest.mark.slow(LARGE(given(**strategies)(copy(body.__name__.lstrip("_") + "_large"))))
    return small, large


def run_in_folder(args_of, files: dict[str, bytes], out_name: str = "out.nc", before=None):
    """Write ``files`` to a fresh folder, run the command with ``args_of(folder)``, check the promise.

    Returns the outcome. A refusal is one line and leaves the folder as it was; a success writes the
    output (whose laws are checked) and nothing else.
    """
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for file_name, data in files.items():
            (folder / file_name).write_bytes(data)
        if before is not None:
            before(folder)
        listed = fz.listing(folder)
        outcome = fz.run_cli(*args_of(folder))
        assert outcome.code in (0, 2), f"exit {outcome.code}: {outcome.stderr!r}"
        if outcome.code == 2:
            fz.refusal_line(outcome)
            assert fz.listing(folder) == listed, f"a refusal changed the folder: {fz.listing(folder)} (was {listed})"
        else:
            out = folder / out_name
            assert fz.listing(folder) == sorted(set(listed) | {out_name}), fz.listing(folder)
            fz.check_laws(fz.open_output(out))
            bad = [w for w in outcome.warnings if "overflow" in w or "invalid value" in w or "divide" in w]
            assert not bad, bad
        return outcome


# --- spec files ---------------------------------------------------------------------------------


def _spec_case(data):
    files = {"spec.toml": fz.toml_text(data).encode()}
    if isinstance(data.get("network"), str) and data["network"] == "net.csv":
        files["net.csv"] = f"{fz.OWN_HEADER}\nc,8,8,2,4,3,3,1,1,1,1\n".encode()
    if isinstance(data.get("tech"), str) and data["tech"] == "t.toml":
        files["t.toml"] = qf.load_tech("published-45nm").source_text.encode()
    run_in_folder(lambda f: ["grid", "--spec", f / "spec.toml", "--out", f / "out.nc", "--quiet"], files)
    _tally("spec file")


test_spec_files, test_spec_files_large = both_profiles(_spec_case, data=fz.spec_tables())


def _spec_bytes_case(raw):
    run_in_folder(lambda f: ["grid", "--spec", f / "spec.toml", "--out", f / "out.nc", "--quiet"], {"spec.toml": raw})
    _tally("spec bytes")


test_spec_bytes, test_spec_bytes_large = both_profiles(
    _spec_bytes_case, raw=fz.mutated_bytes(fz.toml_text(TINY_SPEC)))


# --- topology CSVs ------------------------------------------------------------------------------


def _topology_case(csv, dataflow):
    spec = fz.toml_text({**TINY_SPEC, "space": {**fz.TINY, "dataflow": [dataflow]}}).encode()
    run_in_folder(lambda f: ["grid", "--spec", f / "spec.toml", "--network", f / "net.csv", "--out", f / "out.nc", "--quiet"],
                  {"spec.toml": spec, "net.csv": csv})
    _tally("topology")


test_topologies, test_topologies_large = both_profiles(
    _topology_case, csv=fz.topology_csv(), dataflow=st.sampled_from(["ws", "os", "is", "rs"]))


# --- technology files ---------------------------------------------------------------------------


def _tech_case(tech, dataflow, bits):
    spec = fz.toml_text({**TINY_SPEC, "space": {**fz.TINY, "dataflow": [dataflow], "bits": [bits]}}).encode()
    run_in_folder(lambda f: ["grid", "--spec", f / "spec.toml", "--tech", f / "t.toml", "--out", f / "out.nc", "--quiet"],
                  {"spec.toml": spec, "t.toml": tech})
    _tally("technology")


test_technologies, test_technologies_large = both_profiles(
    _tech_case, tech=fz.tech_text(), dataflow=st.sampled_from(["ws", "os", "rs"]), bits=st.sampled_from([4, 8, 16]))


# --- accuracy tables ----------------------------------------------------------------------------


def _accuracy_case(table):
    spec = fz.toml_text({**TINY_SPEC, "space": {**fz.TINY, "pe_type": ["int", "lightpe1"], "bits": [4, 8]}}).encode()
    run_in_folder(lambda f: ["grid", "--spec", f / "spec.toml", "--accuracy", f / "acc.nc", "--out", f / "out.nc", "--quiet"],
                  {"spec.toml": spec, "acc.nc": table})
    _tally("accuracy table")


test_accuracy_tables, test_accuracy_tables_large = both_profiles(_accuracy_case, table=fz.accuracy_bytes())


@SMALL
@given(table=fz.accuracy_bytes())
def test_quant_show_reads_any_table_safely(table):
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "acc.nc"
        path.write_bytes(table)
        outcome = fz.run_cli("quant", "show", path)
        assert outcome.code in (0, 2), outcome.stderr
        if outcome.code == 2:
            fz.refusal_line(outcome)
        else:  # every percentage printed is a fraction of 100 at most
            numbers = [float(word) for line in outcome.stdout.splitlines() for word in line.split()[1:2]
                       if word.replace(".", "", 1).isdigit()]
            assert all(0 <= n <= 100 for n in numbers), outcome.stdout


# --- result files (report, pareto, plot, export, open_result) ----------------------------------

RESULT_COMMANDS = ["report", "report_json", "pareto", "export", "plot", "api"]
PLOT_KINDS = ["tradeoff", "accuracy", "breakdown", "arrays"]


def _result_args(command: str, path: Path, folder: Path, kind: str) -> list:
    return {"report": ["report", path], "report_json": ["report", path, "--format", "json"],
            "pareto": ["pareto", path, "--objectives", "energy_per_inference_j:min,perf_per_area:max"],
            "export": ["export", path, "--out", folder / "t.csv"],
            "plot": ["plot", path, "--kind", kind, "--out", folder / "p.png"]}[command]


def _independent_read(path: Path) -> xr.Dataset | None:
    """The file as xarray reads it without the tool (None if it cannot: damaged bytes the tool may not
    have touched because the command reads only some variables)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fz.open_output(path)
    except Exception:  # noqa: BLE001 -- any failure of the file libraries: no independent view
        return None


def _result_case(case, command, kind):
    reference = fz.base_result(case.base)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / f"r{case.suffix}"
        case.write(path)
        listed = fz.listing(folder)
        if command == "api":
            try:
                ds = qf.open_result(path)
            except QuidamInputError as error:
                assert "\n" not in str(error) and str(path) in str(error), str(error)
                _tally("result file")
                return
            try:
                qf.report(ds)
            except QuidamInputError as error:  # e.g. a variable the report needs was dropped: says which
                assert "\n" not in str(error), str(error)
            fz.check_laws(ds)
            fz.check_units(ds, reference)
            _tally("result file")
            return
        outcome = fz.run_cli(*_result_args(command, path, folder, kind))
        assert outcome.code in (0, 2), f"exit {outcome.code}: {outcome.stderr!r}"
        if outcome.code == 2:
            fz.refusal_line(outcome)
            assert fz.listing(folder) == listed, fz.listing(folder)
            _tally("result file")
            return
        made = {"export": ["t.csv"], "plot": ["p.png"]}.get(command, [])
        assert fz.listing(folder) == sorted(listed + made), fz.listing(folder)
        # no number printed as nan or inf (report's "accuracy:" line quotes the result's own note, text)
        figures = "\n".join(line for line in outcome.stdout.splitlines() if not line.startswith("accuracy: "))
        for token in ("nan", "inf"):
            assert not re.search(rf"\b{token}\b", figures, re.IGNORECASE), outcome.stdout[-2000:]
        read = _independent_read(path)
        if read is not None:  # what the command read obeys the laws and carries the engine's units
            if command.startswith("report"):
                read = read[["valid"] + [v for v in ("perf_per_area", "energy_per_inference_j", "accuracy") if v in read]]
            fz.check_laws(read)
            fz.check_units(read, reference)
        if command == "report_json":
            _check_report_numbers(json.loads(outcome.stdout))
        if command == "export":
            _check_table_numbers(folder / "t.csv")
    _tally("result file")


def _check_report_numbers(figures) -> None:
    """Every number of the report is finite; values, spreads and gains positive; accuracies fractions."""
    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, float) or (isinstance(node, int) and not isinstance(node, bool)):
            assert math.isfinite(node), (key, node)
            if key in ("value", "best_value", "worst_value", "spread", "gain", "reference_value"):
                assert node > 0, (key, node)
            if key.startswith("accuracy") and key != "accuracy_tolerance":
                assert 0 <= node <= 1, (key, node)
    walk(figures)


def _check_table_numbers(path: Path) -> None:
    import pandas as pd

    table = pd.read_csv(path)
    for column in table.columns:
        name = column.split(" [")[0]
        if table[column].dtype.kind not in "fiu":
            continue
        values = table[column].to_numpy(dtype=np.float64)
        if fz.NON_NEGATIVE.match(name) or name in fz.FRACTIONS:
            present = values[~np.isnan(values)] if name.startswith("accuracy") else values
            assert np.all(np.isfinite(present)) and np.all(present >= 0), (column, present[:3])
            if name in fz.FRACTIONS:
                assert np.all(present <= 1 + 1e-12), (column, present.max())


test_result_files, test_result_files_large = both_profiles(
    _result_case, small_examples=10, case=fz.result_cases(), command=st.sampled_from(RESULT_COMMANDS), kind=st.sampled_from(PLOT_KINDS))


# --- ONNX models (networks, grid --network, load_network) ----------------------------------------

ONNX_COMMANDS = ["networks", "networks_csv", "grid", "api"]


def _concrete(model, input_shape):
    """``model`` with the input shape applied as the importer's ``input_shape`` would (for the independent
    count, which needs every dimension)."""
    from quidam_fast.workloads import parse_input_shape

    if input_shape is None:
        return model
    shape = parse_input_shape(input_shape)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for i, dim in enumerate(dims):
        if isinstance(shape, dict):
            if dim.HasField("dim_param") and dim.dim_param in shape:
                dim.dim_value = shape[dim.dim_param]
        else:
            dim.dim_value = shape[i]
    return model


def _onnx_case(case, command):
    import onnx
    from test_onnx import independent_macs

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / "model.onnx"
        path.write_bytes(case.data)
        (folder / "spec.toml").write_text(fz.toml_text(TINY_SPEC))
        shape = ["--input-shape", case.input_shape] if case.input_shape is not None else []
        listed = fz.listing(folder)
        if command == "api":
            try:
                net = qf.load_network(path, input_shape=case.input_shape)
            except QuidamInputError as error:
                assert "\n" not in str(error), str(error)
                _tally("onnx model")
                return
        else:
            args = {"networks": ["networks", path, *shape], "networks_csv": ["networks", path, "--output", folder / "net.csv", *shape],
                    "grid": ["grid", "--spec", folder / "spec.toml", "--network", path, "--out", folder / "out.nc", "--quiet", *shape]}
            outcome = fz.run_cli(*args[command])
            assert outcome.code in (0, 2), f"exit {outcome.code}: {outcome.stderr!r}"
            if outcome.code == 2:
                fz.refusal_line(outcome)
                assert fz.listing(folder) == listed, fz.listing(folder)
                _tally("onnx model")
                return
            made = {"networks_csv": ["net.csv"], "grid": ["out.nc"]}.get(command, [])
            assert fz.listing(folder) == sorted(listed + made), fz.listing(folder)
            net = qf.load_network(path, input_shape=case.input_shape)  # what the command accepted, Python accepts
            if command == "grid":
                results = fz.open_output(folder / "out.nc")
                fz.check_laws(results)
                assert int(results.attrs["network_macs"]) == net.macs
        # every layer's MACs are those of the ONNX operator definitions, counted from onnx's own shape inference
        expected = independent_macs(_concrete(onnx.load_model_from_string(case.data), case.input_shape))
        assert [layer.macs for layer in net.layers] == expected, (case.edits, [layer.macs for layer in net.layers], expected)
        assert all(layer.P >= 1 and layer.Q >= 1 and layer.macs > 0 for layer in net.layers)
    _tally("onnx model")


test_onnx_models, test_onnx_models_large = both_profiles(
    _onnx_case, small_examples=30, case=fz.onnx_cases(), command=st.sampled_from(ONNX_COMMANDS))


# --- torch module files (networks NAME / --from-torch, grid --network, load_network) -------------

TORCH_COMMANDS = ["networks", "from_torch", "grid", "api"]


def _torch_case(case, command):
    pytest.importorskip("torch")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = folder / "model.py"
        path.write_text(case.text)
        (folder / "spec.toml").write_text(fz.toml_text(TINY_SPEC))
        model = f"{path}:{case.attr}"
        shape = ["--input-shape", case.input_shape] if case.input_shape is not None else []
        listed = fz.listing(folder)
        if command == "api":
            try:
                net = qf.load_network(model, input_shape=case.input_shape)
            except QuidamInputError as error:
                assert "\n" not in str(error), str(error)
                _tally("torch module")
                return
        else:
            args = {"networks": ["networks", model, *shape],
                    "from_torch": ["networks", "--from-torch", model, "--output", folder / "net.csv", *shape],
                    "grid": ["grid", "--spec", folder / "spec.toml", "--network", model, "--out", folder / "out.nc", "--quiet", *shape]}
            outcome = fz.run_cli(*args[command])
            assert outcome.code in (0, 2), f"exit {outcome.code}: {outcome.stderr!r}"
            files = [f for f in fz.listing(folder) if f != "__pycache__"]
            if outcome.code == 2:
                fz.refusal_line(outcome)
                assert files == listed, files
                _tally("torch module")
                return
            made = {"from_torch": ["net.csv"], "grid": ["out.nc"]}.get(command, [])
            assert files == sorted(listed + made), files
            if command == "grid":
                fz.check_laws(fz.open_output(folder / "out.nc"))
            else:
                assert " layers, " in outcome.stdout, outcome.stdout  # a success printed the layer table
            net = qf.load_network(model, input_shape=case.input_shape)  # what the command accepted, Python accepts
        assert all(layer.P >= 1 and layer.Q >= 1 and layer.macs > 0 for layer in net.layers)
        if case.expected_macs is not None:  # from the generator's own parameters, not from the hooks
            assert [layer.macs for layer in net.layers] == case.expected_macs, (case.edits, net.layers)
    _tally("torch module")


test_torch_modules, test_torch_modules_large = both_profiles(
    _torch_case, small_examples=20, case=fz.torch_cases(), command=st.sampled_from(TORCH_COMMANDS))


# --- output paths -------------------------------------------------------------------------------

NAME_PARTS = st.text(st.sampled_from("abcé -_.~+\u2603"), min_size=1, max_size=12)


@st.composite
def output_cases(draw):
    """(path relative to a fresh folder, what is already there)."""
    length = draw(st.sampled_from([None, None, None, 200, 214, 215, 216, 254, 255, 256, 300]))
    stem = draw(NAME_PARTS) if length is None else "n" * length
    suffix = draw(st.sampled_from([".nc", ".nc", ".zarr", ".zarr", ".NC", ".csv", "", ".nc.tmp", ".partial.nc"]))
    parent = draw(st.sampled_from(["", "", "sub/", "missing/", "afile/", "deep/er/"]))
    existing = draw(st.sampled_from([None, None, "file", "folder", "folder_with_file", "zarr_store", "fifo", "stale_tmp"]))
    return parent + stem + suffix, existing


@SMALL
@given(case=output_cases())
def test_output_paths(case):
    _output_case(case)


@pytest.mark.slow
@LARGE
@given(case=output_cases())
def test_output_paths_large(case):
    _output_case(case)


def _output_case(case):
    relative, existing = case
    spec = fz.toml_text(TINY_SPEC).encode()

    def prepare(folder):
        (folder / "sub").mkdir()
        (folder / "deep" / "er").mkdir(parents=True)
        (folder / "afile").write_bytes(b"x")
        target = folder / relative
        if not target.parent.is_dir() or len(os.fsencode(target.name)) > 255:
            return
        if existing == "file":
            target.write_bytes(b"old")
        elif existing == "folder":
            target.mkdir()
        elif existing == "folder_with_file":
            target.mkdir()
            (target / "keep.txt").write_bytes(b"keep")
        elif existing == "zarr_store" and target.suffix == ".zarr":
            xr.Dataset({"a": ("x", [1.0])}).to_zarr(target, zarr_format=2)
        elif existing == "fifo":
            os.mkfifo(target)
        elif existing == "stale_tmp" and len(os.fsencode(target.name)) < 200:
            dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
            (target.parent / f".{target.name}.~{int(dead.stdout)}-0123abcd.tmp").write_bytes(b"partial")

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "spec.toml").write_bytes(spec)
        prepare(folder)
        target = folder / relative
        snapshot = _tree(folder)
        outcome = fz.run_cli("grid", "--spec", folder / "spec.toml", "--out", target, "--quiet")
        assert outcome.code in (0, 2), outcome.stderr
        after = _tree(folder)
        if outcome.code == 2:
            fz.refusal_line(outcome)
            # nothing written; only stale temporaries of a dead run may have been removed
            assert {k: v for k, v in after.items() if not TEMPORARY.search(k)} == {k: v for k, v in snapshot.items() if not TEMPORARY.search(k)}
        else:
            fz.check_laws(fz.open_output(target))
            new = sorted(set(after) - set(snapshot))
            stray = [p for p in after if TEMPORARY.search(p)]
            assert not stray, f"temporaries left: {stray}"
            assert all(p == relative or p.startswith(relative + "/") for p in new), new
    _tally("output path")


def _tree(folder: Path) -> dict[str, bytes | None]:
    found = {}
    for root, dirs, files in os.walk(folder):
        for entry in dirs + files:
            path = Path(root) / entry
            key = str(path.relative_to(folder))
            found[key] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return found


# --- option values ------------------------------------------------------------------------------

OPTION_VALUES = st.one_of(st.sampled_from(["", " ", "energy", "latency", "edp", "dram", "ENERGY", "x", "-", "--quiet",
                                           "lenet5_fmnist", "alexnet", "resnet19", "published-45nm", "nosuch.toml",
                                           "nosuch.csv", "/dev/zero", "/proc", "area_mm2<=10", "bits>=x"]),
                          st.text(max_size=12))


@st.composite
def option_lists(draw):
    args = []
    for _ in range(draw(st.integers(0, 3))):
        option = draw(st.sampled_from(["--objective", "--network", "--tech", "--accuracy", "--where", "--out",
                                       "--spec", "--per-layer", "--totals-only", "--bogus", "-x"]))
        args.append(option)
        if option not in ("--per-layer", "--totals-only") or draw(st.integers(0, 4)) == 0:
            args.append(draw(OPTION_VALUES))
    return args


def _options_case(args):
    spec = fz.toml_text(TINY_SPEC).encode()

    def arguments(folder):
        # the spec and --out first: a later repeat of either overrides them (click takes the last)
        return ["grid", "--spec", folder / "spec.toml", "--out", folder / "out.nc", "--quiet", *args]

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "spec.toml").write_bytes(spec)
        before = _tree(folder)
        outcome = fz.run_cli(*arguments(folder))
        assert outcome.code in (0, 2), outcome.stderr
        if outcome.code == 2:
            fz.refusal_line(outcome)
            assert _tree(folder) == before
        stray = [p for p in _tree(folder) if TEMPORARY.search(p)]
        assert not stray, stray
    _tally("option values")


test_option_values, test_option_values_large = both_profiles(_options_case, args=option_lists())


# --- the Python API -----------------------------------------------------------------------------

_EDGE_INTS = st.sampled_from(fz.EDGE_INTS)
NUMPY_OR_PLAIN = st.one_of(_EDGE_INTS, _EDGE_INTS.filter(lambda v: -2**63 <= v < 2**63).map(np.int64),
                           _EDGE_INTS.filter(lambda v: -2**31 <= v < 2**31).map(np.int32),
                           st.sampled_from(fz.EDGE_FLOATS).map(np.float64), st.sampled_from(fz.EDGE_FLOATS))


@st.composite
def api_spaces(draw):
    space = {}
    for name in draw(st.sets(st.sampled_from(list(fz.TINY)), max_size=4)):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            space[name] = draw(st.lists(st.sampled_from(fz.GOOD.get(name, [1])), min_size=1, max_size=2, unique=True))
        elif kind == 1:
            space[name] = draw(st.lists(NUMPY_OR_PLAIN, min_size=1, max_size=2))
        elif kind == 2:
            space[name] = np.array(draw(st.lists(st.sampled_from(fz.GOOD.get(name, [1])), min_size=1, max_size=2, unique=True)))
        else:
            space[name] = draw(fz.any_value())
    return space


@st.composite
def api_calls(draw):
    """A call of the public API with arguments of every kind, good and bad."""
    which = draw(st.sampled_from(["evaluate", "evaluate", "evaluate", "DesignSpace", "from_dict", "load_network",
                                  "load_tech", "load_spec", "Spec", "parse_network_csv", "Layer"]))
    if which == "evaluate":
        network = draw(st.one_of(st.sampled_from(["lenet5_fmnist", "alexnet", "", "nosuch"]), fz.any_scalar()))
        space = draw(st.one_of(api_spaces(), st.none().map(lambda _: {}), fz.any_value()))
        kwargs = {}
        if draw(st.booleans()):
            kwargs["tech"] = draw(st.one_of(st.sampled_from(["published-45nm", "characterized-osu018", ""]), fz.any_scalar()))
        if draw(st.booleans()):
            kwargs["objective"] = draw(st.one_of(st.sampled_from(["energy", "dram"]), fz.any_scalar()))
        if draw(st.integers(0, 3)) == 0:
            kwargs["rs_mapping"] = draw(st.one_of(st.tuples(NUMPY_OR_PLAIN, NUMPY_OR_PLAIN), fz.any_value()))
        if draw(st.integers(0, 3)) == 0:
            kwargs["per_layer"] = draw(st.one_of(st.booleans(), fz.any_scalar()))
        if draw(st.integers(0, 5)) == 0:
            kwargs["progress"] = draw(st.one_of(st.just(lambda done, total: None), fz.any_scalar()))
        return lambda: qf.evaluate(network, space, **kwargs)
    if which == "DesignSpace":
        axes = {**fz.TINY, **draw(api_spaces())}
        if draw(st.integers(0, 5)) == 0:
            axes.pop(draw(st.sampled_from(list(axes))))
        return lambda: qf.DesignSpace(axes=axes)
    if which == "from_dict":
        values, base = draw(st.one_of(api_spaces(), fz.any_value())), draw(st.sampled_from(["small", "small", "x"]))
        return lambda: qf.DesignSpace.from_dict(values, base=base)
    if which == "Spec":
        network, tech = draw(fz.any_scalar()), draw(fz.any_scalar())
        objective = draw(st.one_of(st.sampled_from(["energy"]), fz.any_scalar()))
        space = draw(st.sampled_from([None, "space"]))
        return lambda: qf.Spec(network=network, tech=tech, space=qf.DesignSpace(axes=fz.TINY) if space else None,
                               objective=objective)
    if which == "parse_network_csv":
        text = draw(st.one_of(fz.topology_csv().map(lambda b: b.decode("utf-8", "replace")), fz.any_scalar()))
        return lambda: qf.parse_network_csv(text, "net")
    if which == "Layer":
        fields = {f: draw(st.one_of(st.integers(1, 8), NUMPY_OR_PLAIN)) for f in ("H", "W", "C", "K", "R", "S")}
        return lambda: qf.Layer("L", **fields)
    argument = draw(st.one_of(fz.any_scalar(), st.sampled_from(["/dev/zero", "/proc", "/", "x.toml", "x.csv"])))
    return lambda: getattr(qf, which)(argument)


def _api_case(call):
    try:
        result = call()
    except QuidamInputError as error:
        assert "\n" not in str(error), str(error)
        _tally("api call")
        return
    if isinstance(result, xr.Dataset):
        fz.check_laws(result)
    _tally("api call")


test_python_api, test_python_api_large = both_profiles(_api_case, call=api_calls())


# --- interruptions, full disks, killed runs -----------------------------------------------------

#: (the step that fails, how, whether an earlier output is at --out): every step of a .nc and a .zarr
#: write, each failure mode at least once with and without an earlier output.
FAULTS = [("evaluate", KeyboardInterrupt, True), ("netcdf", KeyboardInterrupt, False), ("netcdf", "enospc", True),
          ("bytes", "enospc", False), ("bytes", KeyboardInterrupt, True), ("replace", "enospc", True),
          ("replace", KeyboardInterrupt, False), ("zarr", KeyboardInterrupt, True), ("zarr", "enospc", False),
          ("exchange", KeyboardInterrupt, True), ("exchange", "enospc", True)]


@pytest.mark.parametrize("where, fault, earlier", FAULTS)
def test_a_fault_anywhere_is_one_line_and_leaves_the_earlier_output(where, fault, earlier, tmp_path, monkeypatch):
    """Ctrl-C (exit 130) or a full disk (exit 2) at each step of a run: one line, nothing half-written,
    no temporary left, and an earlier output at --out exactly as it was."""
    out = tmp_path / ("out.zarr" if where in ("zarr", "exchange") else "out.nc")
    (tmp_path / "spec.toml").write_text(fz.toml_text(TINY_SPEC))
    if earlier:
        assert fz.run_cli("grid", "--spec", tmp_path / "spec.toml", "--out", out, "--quiet").code == 0
        old = _tree(tmp_path)

    def fail(*args, **kwargs):
        if fault == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
        raise KeyboardInterrupt

    targets = {"evaluate": (qf, "evaluate"), "netcdf": (xr.Dataset, "to_netcdf"), "bytes": (_files, "_ordinary_mode"),
               "replace": (_files.os, "replace"), "zarr": (xr.Dataset, "to_zarr"), "exchange": (_files, "_exchange")}
    monkeypatch.setattr(*targets[where], fail)
    # replacing the earlier output takes --overwrite (issue 14)
    outcome = fz.run_cli("grid", "--spec", tmp_path / "spec.toml", "--out", out, "--quiet", *(["--overwrite"] if earlier else []))
    lines = [line for line in outcome.stderr.splitlines() if line.strip() and not fz.INFO_LINES.match(line)]
    if outcome.code == 0:  # the fault was on a path this write does not take: a .zarr is streamed into place,
        assert where == "exchange"  # never exchanged (an earlier one is set aside until the new one is complete)
        return
    if fault == "enospc":
        assert outcome.code == 2 and len(lines) == 1 and "No space left on device" in lines[0], outcome.stderr
    else:
        assert outcome.code == 130 and len(lines) == 1 and lines[0].startswith("interrupted: "), outcome.stderr
        expected = "nothing was written" if where == "evaluate" else f"did not write {out} (any earlier file there is unchanged)"
        assert lines[0] == f"interrupted: {expected}", lines[0]
    after = _tree(tmp_path)
    assert not [p for p in after if TEMPORARY.search(p)], after
    if earlier:
        assert after == old
    else:
        assert sorted(after) == ["spec.toml"]


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_stale_temporaries_of_a_killed_run_are_removed_and_a_set_aside_store_restored(tmp_path):
    out = tmp_path / "out.zarr"
    dead = _dead_pid()
    (tmp_path / f".out.zarr.~{dead}-0123abcd.tmp").mkdir()  # a store half-built by a killed run
    (tmp_path / f".out.nc.~{dead}-0123abcd.tmp").write_bytes(b"half")
    (tmp_path / f".out.nc.~{os.getpid()}-0123abcd.tmp").write_bytes(b"mine, still running")
    (tmp_path / ".out.nc.unrelated.tmp").write_bytes(b"not ours")
    aside = tmp_path / f".out.zarr.~{dead}-89abcdef.old"  # killed between the two renames of a swap
    xr.Dataset({"a": ("x", [1.0])}).to_zarr(aside, zarr_format=2)
    _files.check_output_path(out, "--out", store=True)
    _files.check_output_path(tmp_path / "out.nc", "--out")
    assert sorted(fz.listing(tmp_path)) == sorted([f".out.nc.~{os.getpid()}-0123abcd.tmp", ".out.nc.unrelated.tmp", "out.zarr"])
    assert float(xr.open_zarr(out).a[0]) == 1.0  # the set-aside store is back at --out


def test_a_store_replacement_exchanges_in_one_step(tmp_path, monkeypatch):
    """With an atomic exchange, no moment exists where --out is missing: os.rename is never called."""
    out = tmp_path / "out.zarr"
    xr.Dataset({"a": ("x", [1.0])}).to_zarr(out, zarr_format=2)
    monkeypatch.setattr(_files.os, "rename", lambda *a: pytest.fail("a two-step rename"))
    _files.write_store_atomically(lambda t: xr.Dataset({"a": ("x", [2.0])}).to_zarr(t, mode="w", zarr_format=2), out)
    assert float(xr.open_zarr(out).a[0]) == 2.0 and fz.listing(tmp_path) == ["out.zarr"]


@pytest.mark.parametrize("delay_s", [0.3, 0.8])
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(tmp_path, delay_s):
    # (the first tens of milliseconds, before the package's first line runs, belong to Python itself)
    process = subprocess.Popen([sys.executable, "-P", "-m", "quidam_fast.cli", "grid", "--out", tmp_path / "o.nc", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    time.sleep(delay_s)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == -signal.SIGINT:  # before Python installed its handler: the default action, silent
        return
    lines = [line for line in stderr.splitlines() if line.strip()]
    progress = [line for line in lines if not line.startswith("interrupted: ")]
    assert process.returncode == 130 and lines[-1].startswith("interrupted: ") and "Traceback" not in stderr, stderr
    assert all(" layers, " in line or "design points" in line for line in progress), stderr
    assert fz.listing(tmp_path) == []


@pytest.mark.slow
def test_sigkill_during_a_large_write_leaves_only_what_the_next_run_removes(tmp_path):
    """A run killed at random moments of a large write leaves at most its own temporaries, which the next
    run removes; --out is always either absent, the old file, or the new file, never partial."""
    spec = {**TINY_SPEC, "network": "alexnet", "space": {**fz.TINY, "rows": [4, 8, 16, 32], "cols": [4, 8, 16, 32],
                                                         "glb_kib": [64, 128, 256], "bits": [4, 8, 16]}}
    (tmp_path / "spec.toml").write_text(fz.toml_text(spec))
    for delay_s in (1.5, 2.0, 2.5, 3.0, 3.5):
        process = subprocess.Popen([sys.executable, "-P", "-m", "quidam_fast.cli", "grid", "--spec", "spec.toml",
                                    "--out", "out.nc", "--per-layer", "--quiet"], cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay_s)
        process.kill()
        process.wait()
        if (tmp_path / "out.nc").exists():
            xr.load_dataset(tmp_path / "out.nc", engine="h5netcdf")  # complete, or it would not open
    outcome = fz.run_cli("grid", "--spec", tmp_path / "spec.toml", "--out", tmp_path / "out.nc", "--quiet")
    assert outcome.code == 0
    assert fz.listing(tmp_path) == ["out.nc", "spec.toml"]


def test_a_ctrl_c_a_file_library_swallows_is_still_heard(tmp_path, monkeypatch):
    """h5py reports a KeyboardInterrupt raised inside its callbacks as "Exception ignored" and carries on:
    the run went on to exit 0 as if nothing had happened. The signal is remembered and raised after."""
    real = xr.Dataset.to_netcdf

    def swallowing(self, *args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
        except KeyboardInterrupt:
            pass  # what a library's callback does with it
        return real(self, *args, **kwargs)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", swallowing)
    (tmp_path / "spec.toml").write_text(fz.toml_text(TINY_SPEC))
    outcome = fz.run_cli("grid", "--spec", tmp_path / "spec.toml", "--out", tmp_path / "out.nc", "--quiet")
    lines = [line for line in outcome.stderr.splitlines() if line.strip() and not fz.INFO_LINES.match(line)]
    assert outcome.code == 130 and lines == [f"interrupted: did not write {tmp_path / 'out.nc'} (any earlier file there is unchanged)"]
    assert fz.listing(tmp_path) == ["spec.toml"]


# --- the named cases, one by one ---------------------------------------------------------


def _grid(tmp_path, *args, spec=None):
    (tmp_path / "spec.toml").write_text(fz.toml_text(spec or TINY_SPEC))
    return fz.run_cli("grid", "--spec", tmp_path / "spec.toml", "--out", tmp_path / "out.nc", "--quiet", *args)


def _refused(outcome, *fragments):
    line = fz.refusal_line(outcome)
    assert outcome.code == 2 and all(fragment in line for fragment in fragments), line
    return line


@pytest.mark.parametrize("edit, fragments", [
    ("scale100", ["variable 'accuracy' ranges from", "it looks like percent"]),
    ("negate", ["variable 'accuracy' ranges from -"]),
    ("all_nan", ["variable 'accuracy' is NaN everywhere"]),
    ("strings", ["variable 'accuracy' holds <U", "it must hold numbers"]),
    ("extra_dim", ["variable 'accuracy' has dimensions ('extra'"]),
    ("scalar_pe_type", ["variable 'accuracy' has dimensions ('network', 'bits', 'seed')"]),
    ("pe_labels", ["coordinate 'pe_type' has 'bf16'"]),
    ("duplicate_bits", ["coordinate 'bits' repeats a label"]),
    ("bits_float", ["coordinate 'bits' holds float64 values"]),
    ("inf", ["variable 'accuracy' ranges from inf to inf"]),
    ("incomplete", ["not a finished accuracy table"]),
    ("relabel", ["network 'resnet8_fmnist' was trained on a network with fingerprint d8dd0ccd48748bf0 (5 layers", "(relabelled?)"]),
    ("bad_fingerprint", ["variable 'network_fingerprint' holds 'bf16'; it must hold 16 lowercase hex digits"]),
    ("fingerprint_dims", ["variable 'network_macs' has dimensions ('seed', 'network')"]),
    ("fingerprint_counts", ["variable 'network_layers' holds [-1, -1, -1, -1]; it must hold positive integers"]),
])
def test_odd_accuracy_tables_are_one_line_naming_file_and_variable(tmp_path, edit, fragments):
    table = fz.edit_table(fz.packaged_table(), edit, "bf16")
    table.to_netcdf(tmp_path / "acc.nc", engine="h5netcdf")
    _refused(_grid(tmp_path, "--accuracy", tmp_path / "acc.nc"), str(tmp_path / "acc.nc"), *fragments)
    _refused(fz.run_cli("quant", "show", tmp_path / "acc.nc"), *fragments)  # quant show printed 9047.00 %
    assert fz.listing(tmp_path) == ["acc.nc", "spec.toml"]


@pytest.mark.parametrize("damage", ["checksum", "truncated", "empty", "not_hdf5"])
def test_corrupt_accuracy_bytes_are_one_line(tmp_path, damage):
    data = bytearray(fz.packaged_table().to_netcdf(engine="h5netcdf"))
    if damage == "checksum":  # an object header: h5py said KeyError "incorrect metadata checksum"
        data[data.find(b"OHDR") + 10] ^= 0xFF
    data = {"checksum": data, "truncated": data[: len(data) // 2], "empty": b"", "not_hdf5": b"CDF\x01" + b"\x00" * 100}[damage]
    (tmp_path / "acc.nc").write_bytes(bytes(data))
    line = _refused(_grid(tmp_path, "--accuracy", tmp_path / "acc.nc"), "not a readable netCDF accuracy table")
    assert damage != "checksum" or "incorrect metadata checksum" in line, line


@pytest.mark.parametrize("section, key, value, fragments", [
    ("pe.int", "mac_energy_pj", [-5.0], ["[pe.int] mac_energy_pj = -5 at bits ="]),
    ("pe.int", "weight_bits", 1000000, ["[pe.int] weight_bits = 1000000 is not allowed"]),
    ("pe.int", "accumulator_bits", [-3.0], ["[pe.int] accumulator_bits = -3"]),
    ("pe.int", "bits_range", [1, 1000000000], ["bits_range = [1, 1000000000] is not allowed; widths go up to 64"]),
    ("", "summary", {"a": 1}, ["summary = {'a': 1} must be a string"]),
    ("dram", "energy_pj_per_bitt", 3.0, ["[dram] has unknown key 'energy_pj_per_bitt'"]),
    ("pe.int", "mac_energy", [1.0], ["[pe.int] has unknown key 'mac_energy'"]),
])
def test_technology_values_are_checked_before_any_work(tmp_path, section, key, value, fragments):
    data = fz.shipped_tech()
    table = data
    for part in filter(None, section.split(".")):
        table = table[part]
    table[key] = value
    (tmp_path / "t.toml").write_text(fz.toml_text(data))
    outcome = _grid(tmp_path, "--tech", tmp_path / "t.toml")
    _refused(outcome, str(tmp_path / "t.toml"), *fragments)
    assert not any(fz.INFO_LINES.match(line) for line in outcome.stderr.splitlines()[:-1])  # before any work
    with pytest.raises(QuidamInputError):
        qf.load_tech(tmp_path / "t.toml")


@pytest.mark.parametrize("axis, value, fragment", [
    ("clock_mhz", 1e308, "clock_mhz = 1e+308 is not allowed; it must be a positive number from 0.001 to 100000 MHz"),
    ("dram_gbps", math.inf, "dram_gbps = inf is not allowed"),
    ("rows", -4, "rows = -4 is not allowed"),
])
def test_space_values_out_of_range_are_refused(tmp_path, axis, value, fragment):
    _refused(_grid(tmp_path, spec={**TINY_SPEC, "space": {**fz.TINY, axis: [value]}}), fragment)
    with pytest.raises(QuidamInputError, match=re.escape(fragment)):
        qf.DesignSpace(axes={**fz.TINY, axis: (value,)})


@pytest.mark.parametrize("option", ["--objective", "--network", "--tech"])
def test_empty_option_values_are_refused_not_defaulted(tmp_path, option):
    line = _refused(_grid(tmp_path, option, ""))
    assert "''" in line, line


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "folder"])
@pytest.mark.parametrize("option", ["--spec", "--tech", "--network"])
def test_special_files_as_inputs_are_refused_unopened(tmp_path, kind, option):
    """A FIFO blocked forever; /dev/zero raised MemoryError."""
    suffix = {"--spec": ".toml", "--tech": ".toml", "--network": ".csv"}[option]
    path = tmp_path / f"input{suffix}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    (tmp_path / "base.toml").write_text(fz.toml_text(TINY_SPEC))
    args = ["grid", "--out", tmp_path / "out.nc", "--quiet"] + (["--spec", tmp_path / "base.toml"] if option != "--spec" else [])
    line = _refused(fz.run_cli(*args, option, path), str(path))
    assert ("FIFO" in line) if kind == "fifo" else ("character device" in line) if kind == "dev_zero" else ("folder" in line)


def test_extra_csv_columns_are_refused(tmp_path):
    (tmp_path / "net.csv").write_text(f"{fz.OWN_HEADER}\nc,8,8,2,4,3,3,1,1,1,1,7\n")
    _refused(_grid(tmp_path, "--network", tmp_path / "net.csv"), "line 2: 12 columns, expected 11")
    (tmp_path / "net.csv").write_text(fz.SCALESIM_HEADER + " Sparsity,\nc, 8, 8, 3, 3, 2, 4, 1, 0.5,\n")
    _refused(_grid(tmp_path, "--network", tmp_path / "net.csv"), "unknown column 'Sparsity'")


@pytest.mark.parametrize("args, fragment", [
    (["grid", "--out", "n" * 256 + ".nc"], "a name of 259 bytes; at most 215 bytes"),
    (["grid", "--out", "/proc/out.nc"], "cannot write in folder '/proc'"),
    (["grid", "--out", "afile/out.nc"], "'afile' is not a folder"),
    (["grid", "--out", "afolder.nc"], "is an existing folder"),
    (["grid", "--out", "afile.zarr"], "is an existing file, not a folder"),
    (["quant", "train", "-o", ""], "--output '.' names no file"),
    (["quant", "train", "-o", "afolder.nc"], "is an existing folder"),
    (["quant", "train", "-o", "/proc/acc.nc"], "cannot write in folder '/proc'"),
    (["characterize", "--out", "afile"], "--out 'afile' is an existing file, not a folder"),
    (["characterize", "--workdir", "afile"], "--workdir 'afile' is an existing file, not a folder"),
    (["characterize", "--out", "/proc/char"], "cannot write in folder '/proc'"),
])
def test_output_paths_are_checked_before_any_work(tmp_path, monkeypatch, args, fragment):
    """An unwritable output was found only after the evaluation (24 s lost), the training or the synthesis."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "afile.zarr").write_text("x")
    (tmp_path / "afolder.nc").mkdir()
    before = _tree(tmp_path)
    outcome = fz.run_cli(*args)
    _refused(outcome, fragment)
    assert not any(fz.INFO_LINES.match(line) for line in outcome.stderr.splitlines()[:-1])
    assert _tree(tmp_path) == before


def test_the_api_takes_numpy_integers_and_validates_direct_construction():
    space = qf.DesignSpace(axes={**fz.TINY, "rows": (np.int64(4), np.int32(8)), "bits": np.array([8])})
    assert space.axes["rows"] == (4, 8) and all(type(v) is int for v in space.axes["rows"])
    with pytest.raises(QuidamInputError, match="DesignSpace: rows = -4 is not allowed"):
        qf.DesignSpace(axes={**fz.TINY, "rows": (-4,)})  # gave negative energy and utilization -23
    for bad in (lambda: qf.evaluate("lenet5_fmnist", space="x"), lambda: qf.evaluate("lenet5_fmnist", {}, rs_mapping=5),
                lambda: qf.evaluate("lenet5_fmnist", {}, progress=5), lambda: qf.load_spec(None),
                lambda: qf.parse_network_csv(5, "x"), lambda: qf.Network("x", (1,)),
                lambda: qf.DesignSpace.from_dict({}, base="x"),
                lambda: qf.Technology(name="x", node_nm=1, summary="", data={}, source_text="")):
        with pytest.raises(QuidamInputError):
            bad()


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs all but 16 KiB full (needs root; skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        (mount / "filler").write_bytes(b"\0" * ((1 << 20) - (16 << 10)))
        yield mount
    finally:
        subprocess.run(["umount", mount], check=True)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_a_real_full_disk_is_one_line_and_exit_2(full_disk, tmp_path, suffix):
    """Writing .nc to a 2 MiB tmpfs printed the ENOSPC error over three lines, then crashed (exit 139)."""
    (tmp_path / "spec.toml").write_text(fz.toml_text({**TINY_SPEC, "network": "alexnet", "space": {**fz.TINY, "rows": [4, 8, 16]}}))
    outcome = fz.run_cli("grid", "--spec", tmp_path / "spec.toml", "--out", full_disk / f"out{suffix}", "--per-layer", "--quiet")
    _refused(outcome, f"--out '{full_disk / ('out' + suffix)}': cannot write (No space left on device)")
    assert fz.listing(full_disk) == ["filler"]


@SMALL
@given(R=st.integers(1, 6), S=st.integers(1, 6), padding=st.integers(0, 4), stride=st.integers(1, 7),
       H=st.integers(1, 24), W=st.integers(1, 24))
def test_row_stationary_inputs_in_closed_form(R, S, padding, stride, H, W):
    """The real input columns and (output row, filter row) pairs, counted in closed form, equal a walk over
    every output row and column (the walk itself took minutes for H = 2^31 - 1)."""
    from quidam_fast.engine import _row_stationary_inputs
    from quidam_fast.workloads import Layer, Network

    try:
        layer = Layer("L", H=H, W=W, C=1, K=1, R=R, S=S, stride=stride, padding=padding)
    except QuidamInputError:
        return
    touched = set()
    for q in range(layer.Q):
        first = q * stride - padding
        touched.update(range(max(first, 0), min(first + S, W)))
    pairs = sum(1 for e in range(layer.P) for r in range(R) if 0 <= e * stride + r - padding < H)
    columns, counted = _row_stationary_inputs(Network("n", (layer,)))
    assert (int(columns[0]), int(counted[0])) == (len(touched), pairs)


def test_a_layer_of_the_largest_height_is_evaluated_not_walked():
    layer = qf.Layer("tall", H=2**31 - 1, W=1, C=1, K=1, R=1, S=1)
    results = qf.evaluate(qf.Network("tall", (layer,)), {**fz.TINY, "dataflow": ["ws", "rs"]}, "published-45nm",
                          per_layer=False)
    fz.check_laws(results)


# --- result files, ONNX models and torch modules: the cases the fuzz suite found, one by one --------


def test_the_result_schema_names_every_variable_evaluate_writes_with_its_units():
    """open_result checks units against its own table: it must be the engine's, variable for variable."""
    from quidam_fast.results import _result_units

    expected = _result_units()
    for kind in ("per_layer", "networks"):
        written = fz.base_result(kind)
        assert set(written.data_vars) == set(expected), set(written.data_vars) ^ set(expected)
        assert {name: written[name].attrs["units"] for name in written.data_vars} == expected


def _first_valid(ds, name, value):
    """``ds`` with ``name`` set to ``value`` at its first valid point."""
    values = ds[name].astype(np.float64)
    mask = ds["valid"].broadcast_like(values).transpose(*values.dims).values
    data = values.values.copy()
    data[np.unravel_index(np.flatnonzero(mask)[0], data.shape)] = value
    return ds.assign({name: values.copy(data=data).assign_attrs(ds[name].attrs)})


#: (edit, what the refusal says, whether report sees it: it reads the values of perf_per_area,
#: energy_per_inference_j and accuracy only, and the metadata of every variable)
RESULT_CASES = [
    (lambda d: _first_valid(d, "energy_per_inference_j", -1e-4), "variable 'energy_per_inference_j' ranges from -0.0001 to ", True),
    (lambda d: _first_valid(d, "throughput_ips", np.nan), "variable 'throughput_ips' is NaN at 1 valid design points", False),
    (lambda d: _first_valid(d, "latency_s", np.inf), "variable 'latency_s' ranges from ", False),
    (lambda d: _first_valid(d, "area_mm2", 0.0), "it must be positive and finite", False),
    (lambda d: d.assign(utilization=d.utilization + 1), "variable 'utilization' ranges from 1.", False),
    (lambda d: d.assign(accuracy=d.accuracy * 100), "variable 'accuracy' ranges from 88.", True),
    (lambda d: d.assign(energy_pj=d.energy_pj.assign_attrs(units="mJ")), "variable 'energy_pj' has units 'mJ'; the engine writes energy_pj in 'pJ'", True),
    (lambda d: d.assign(energy_pj=d.energy_pj.copy().assign_attrs(units=None).drop_attrs(deep=False)),
     "variable 'energy_pj' has units 'absent'", True),
    (lambda d: d.assign(area_mm2=d.area_mm2.astype(str)), "variable 'area_mm2' holds <U", True),
    (lambda d: d.assign(edp=d.edp.expand_dims(extra=2)), "variable 'edp' has dimensions ('extra',", True),
    (lambda d: d.isel(bits=slice(0, 0)), "dimension 'bits' has no labels (size 0)", True),
    (lambda d: d.assign_coords(bits=[4, 0]), "coordinate: bits = 0 is not allowed", True),
    (lambda d: d.assign_coords(rows=[4, 4]), "coordinate: axis 'rows' repeats a value: [4, 4]", True),  # through pareto
    (lambda d: d.assign_coords(pe_type=["int", "lightpe1", "bf16"]), "coordinate: pe_type = 'bf16' is not allowed", True),
    (lambda d: d.assign(valid=d.valid | True), "variable 'valid' disagrees with 'invalid_reason'", False),
    (lambda d: d.assign_coords(layer_macs=d.layer_macs.assign_attrs(units="GMAC")),
     "coordinate 'layer_macs' has units 'GMAC'; the engine writes it in 'MAC'", True),
    (lambda d: d.assign(cycles=d.cycles / 1e6), "variable 'cycles' is below MACs / PEs at valid design points", False),
]


@pytest.mark.parametrize("index", range(len(RESULT_CASES)))
def test_result_files_with_impossible_values_or_a_broken_schema_are_one_line(tmp_path, index):
    """Before, these exited 0 with the numbers printed (negative energies, NaN throughput, utilization
    above 1, accuracy 88), or read wrong units as right ones; duplicate labels gave pareto a traceback.
    Each case through report (where it reads the variable), one of pareto / export / plot in turn, and
    open_result; as .nc and .zarr in turn (the schema check is the same for both)."""
    edit, fragment, report_sees = RESULT_CASES[index]
    path = tmp_path / ("r.nc", "r.zarr")[index % 2]
    base = "per_layer" if "'layer_" in fragment else "accuracy"  # the layer table is in per-layer results only
    fz.ResultCase(edit(fz.base_result(base)), path.suffix, (), base, []).write(path)
    command = [["pareto", path, "--objectives", "energy_per_inference_j:min,perf_per_area:max"],
               ["export", path, "--out", tmp_path / "t.csv"], ["plot", path, "--kind", "tradeoff", "--out", tmp_path / "p.png"]][index % 3]
    for args in [command] + ([["report", path]] if report_sees else []):
        line = _refused(fz.run_cli(*args), f"result file '{path}'")
        assert fragment in line, line
    with pytest.raises(QuidamInputError, match=re.escape(fragment)):
        qf.open_result(path)
    assert sorted(os.listdir(tmp_path)) == [path.name]


def test_a_corrupt_result_file_is_one_line_without_the_file_librarys_tracebacks(tmp_path):
    """A flipped byte in an HDF5 object header printed "Exception ignored ..." tracebacks after the error
    line, when the half-opened file was collected."""
    data = bytearray(fz.base_result("networks").to_netcdf(engine="h5netcdf"))
    for at in range(data.find(b"OHDR") + 6, data.find(b"OHDR") + 14):
        data[at] ^= 0xFF
    (tmp_path / "r.nc").write_bytes(bytes(data))
    outcome = fz.run_cli("report", tmp_path / "r.nc")
    line = _refused(outcome, "cannot be read (truncated, corrupt or not netCDF)")
    assert outcome.stderr.strip() == line and "Exception ignored" not in outcome.stderr


def test_a_zarr_chunk_whose_header_lies_is_one_line(tmp_path):
    """Byte 7 of a blosc chunk header flipped: numcodecs raised SystemError ("Negative size passed to
    PyBytes_FromStringAndSize"), which no list of the file libraries' exceptions had; flipped string
    bytes gave pyarrow's ArrowException. Every exception of the read is the file's now."""
    path = tmp_path / "r.zarr"
    fz.ResultCase(fz.base_result("accuracy"), ".zarr", (), "accuracy", []).write(path)
    chunk = path / "pe_type" / "0"
    data = bytearray(chunk.read_bytes())
    data[7] ^= 0xFF
    chunk.write_bytes(bytes(data))
    line = _refused(fz.run_cli("report", path), f"result file '{path}' cannot be read (truncated, corrupt or not zarr)")
    assert line.isprintable(), line
    with pytest.raises(QuidamInputError, match="cannot be read"):
        qf.open_result(path)


@pytest.mark.parametrize("value, fragment", [(0, "has size 0 in dimension 2; sizes must be positive"),
                                             (-3, "has size -3 in dimension 2; sizes must be positive")])
def test_an_onnx_input_of_zero_or_negative_size_says_so(tmp_path, value, fragment):
    """It said the dimension was dynamic, "with no size", and told the user to give one."""
    _onnx_conv(tmp_path / "m.onnx", [1, 1, value, 4], [1, 2, value, 4])
    _refused(fz.run_cli("networks", tmp_path / "m.onnx"), f"{tmp_path / 'm.onnx'}: input 'x' {fragment}")


def _onnx_conv(path, x_shape, y_shape):
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 1, 1], [0.0, 0.0])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], "g", [x], [y], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_an_onnx_convolution_whose_output_shape_is_unknown_names_the_file_once(tmp_path, monkeypatch):
    """The error of a convolution whose output shape inference left unknown was wrapped twice:
    "m.onnx: m.onnx: node 'c' (Conv): ..." (found with a huge input dim)."""
    from quidam_fast import onnx_import

    _onnx_conv(tmp_path / "m.onnx", [1, 1, 4, 4], [1, 2, 4, 4])
    known = onnx_import._known_shapes
    monkeypatch.setattr(onnx_import, "_known_shapes", lambda graph: {k: v for k, v in known(graph).items() if k != "y"})
    line = _refused(fz.run_cli("networks", tmp_path / "m.onnx"), "node 'c' (Conv): shape inference could not make the shape of its output")
    assert line.count(str(tmp_path / "m.onnx")) == 1, line


TORCH_MODULE = """import torch.nn as nn

class Net(nn.Module):
    input_shape = (1, 1, 8, 8)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        {forward}

def model():
    {factory}
{extra}"""


@pytest.mark.parametrize("forward, factory, extra, fragment", [
    ("return self.conv(x)", "return Net()", "import sys\nsys.exit(3)", "failed: it calls sys.exit(3)"),
    ("return self.conv(x)", "return Net()", "raise GeneratorExit", "failed: GeneratorExit"),
    ("return self.conv(x)", "raise SystemExit(1)", "", "calling it without arguments failed (it calls sys.exit(1))"),
    ("raise SystemExit(0)", "return Net()", "", "failed: it calls sys.exit(0)"),
    ("return self.conv(x)", "return Net()", "Net.input_shape = property(lambda self: 1 / 0)",
     "reading its attribute 'input_shape' failed (ZeroDivisionError: division by zero)"),
    ("return self.conv(x)", "return Net()", "Net.network_name = 5", "network_name = 5 must be a non-empty string"),
    ("return self.conv(x)", "return Net()", "Net.input_shape = (1, 1, 2**40, 8)", "must be a tuple of positive integers (at most 2147483647)"),
])
def test_a_torch_module_that_exits_or_raises_anything_is_one_line(tmp_path, forward, factory, extra, fragment):
    """sys.exit in the file, its factory or its forward ended the command with that status (0: "success"
    with nothing printed); a raising property or a BaseException gave a traceback."""
    pytest.importorskip("torch")
    (tmp_path / "m.py").write_text(TORCH_MODULE.format(forward=forward, factory=factory, extra=extra))
    for args in (["networks", f"{tmp_path / 'm.py'}:model"], ["networks", "--from-torch", f"{tmp_path / 'm.py'}:model"]):
        _refused(fz.run_cli(*args), fragment)
    with pytest.raises(QuidamInputError, match=re.escape(fragment)):
        qf.load_network(f"{tmp_path / 'm.py'}:model")


def test_a_huge_torch_input_is_traced_on_shapes_alone(tmp_path):
    """A forward pass on real zeros of 4096 x 3 x 4096 x 4096 would have needed 800 GiB; on shape-only
    tensors the layer table comes at once, and a model that needs real values is refused, not run."""
    pytest.importorskip("torch")
    (tmp_path / "m.py").write_text(TORCH_MODULE.format(forward="return self.conv(x)", factory="return Net()", extra=""))
    net = qf.load_network(f"{tmp_path / 'm.py'}:model", input_shape=(4096, 1, 4096, 4096))
    assert [(layer.N, layer.P, layer.Q, layer.macs) for layer in net.layers] == [(4096, 4094, 4094, 4096 * 2 * 9 * 4094 * 4094)]
    (tmp_path / "v.py").write_text(TORCH_MODULE.format(forward="return self.conv(x) if x.sum() >= 0 else x",
                                                        factory="return Net()", extra=""))
    assert len(qf.load_network(f"{tmp_path / 'v.py'}:model").layers) == 1  # small: the real-zeros pass after all
    _refused(fz.run_cli("networks", f"{tmp_path / 'v.py'}:model", "--input-shape", "4096,1,4096,4096"),
             "on shape-only tensors of shape (4096, 1, 4096, 4096) failed", "too large for a pass on real zeros")
