"""Streaming evaluation: a design space of any size in bounded memory, into a zarr store that a killed run
resumes, on one process or on Dask.

:func:`evaluate_to_store` splits the space into *chunks*, hyper-rectangles aligned with the design dims
(the leading axes -- ``network``, ``pe_type``, ``bits``, ``rows``, ... -- one value or a slice each, the
trailing axes whole; :func:`quidam_fast.results.file_chunks`), sized so that one chunk's evaluation fits
the memory budget. Each chunk is one :func:`quidam_fast.evaluate` of its sub-space: a design's result
does not depend on the rest of the space (``tests/test_engine_equality.py``), so the store holds exactly
the in-memory result. The zarr chunks are the evaluation chunks, and the store holds what
``quidam-fast grid --out *.zarr`` writes in one piece (:func:`quidam_fast.results.file_encoding`'s
stored variables, zarr format 2), so :func:`quidam_fast.open_result` and every command read it.

Alongside the per-point arrays (or instead of them, ``reduce_only``), reductions are computed chunk by
chunk and merged (:func:`open_reductions`): the Pareto front over chosen objectives (the front of the
union of the chunks' fronts is the front of the whole: a point a chunk's front dominates is dominated
in the whole), the best and worst design per ``(network,) pe_type, bits`` for performance per area and
energy per inference (ties: the first in flat order, as :func:`quidam_fast.report` takes), the valid
points per group and the points per invalid reason, and histograms of a few variables on fixed
log-spaced bins (:data:`HISTOGRAM_EDGES`).

Resume. ``<store>/quidam_stream/run.json`` holds the run's fingerprint (the space's axes, the networks'
layer tables, the technology file's text, the mapping objective, per-layer or not, reduce-only or not,
the Pareto objectives, the accuracy table's values) and the chunk shape. A chunk is complete when its
file ``quidam_stream/chunks/<i>.npz`` exists: its reductions, written by an atomic rename *after* the
chunk's arrays are written, so a chunk killed half-way never reads as complete and is computed again.
The run is complete when ``quidam_stream/reductions.nc`` (the merged reductions) exists. Running the
same call again resumes; a store of another run is refused, never mixed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import time
import warnings
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import xarray as xr

from . import kernels as k
from . import outputs
from ._files import temporary_sibling, write_netcdf_atomically
from ._pareto import front_mask_rows
from .analysis import REPORT_FRONT, describe_design, parse_objectives
from .engine import _ARRAYS_PER_POINT, _networks, evaluate
from .errors import QuidamInputError
from .results import file_chunks, file_encoding
from .space import AXES, DesignSpace, default_space
from .tech import Technology, load_tech
from .workloads import Network

#: The folder inside a store that records the run (fingerprint, completed chunks, reductions).
STREAM_FOLDER = "quidam_stream"
#: Version of the layout of :data:`STREAM_FOLDER`; part of the fingerprint.
STREAM_FORMAT = 1
#: ``--memory``'s default.
DEFAULT_MEMORY = "2GB"
#: What the process holds besides one chunk: measured after importing quidam_fast, xarray, zarr, dask
#: and distributed and one evaluate(), 273-285 MiB of RSS (/usr/bin/time -v: 296 MB); the rest is
#: margin for the compressor's buffers, the reductions and the Dask client.
PROCESS_BYTES = 512 << 20
#: The largest chunk, whatever the budget: a chunk of 2^20 points evaluates in about a second, so a
#: killed run loses little, a progress display moves, and Dask workers share a space of a few million
#: points; the per-chunk overhead (flattening, opening the arrays) is then a few % (bench/bench_scale.py).
MAX_CHUNK_POINTS = 1 << 20
#: Memory per design point of reading a store back for the report (``open_result`` of the report's
#: variables and their inputs, then ``report``): measured 1,269 MB peak RSS for ``quidam-fast report`` of
#: the default grid's store (7,077,888 points), about 140 bytes a point above the interpreter's.
REPORT_BYTES_PER_POINT = 160
#: The Pareto front kept when none is asked for: the report's (performance per area, energy).
DEFAULT_PARETO = dict(REPORT_FRONT)
#: Figures of merit whose best and worst design per group (``network``, ``pe_type``, ``bits``) are kept.
GROUP_METRICS = {"perf_per_area": "max", "energy_per_inference_j": "min"}
#: Variables whose histograms are kept (valid points with a finite value).
HISTOGRAM_VARIABLES = ("perf_per_area", "energy_per_inference_j", "latency_s", "area_mm2", "edp", "dram_bytes",
                       "utilization")
#: Histogram bins: 10 per decade from 1e-30 to 1e30 (every figure a design has is inside), plus one bin
#: below (zero and values < 1e-30) and one above; bin i >= 1 holds [1e-30 * 10^((i-1)/10), 1e-30 * 10^(i/10)).
HISTOGRAM_PER_DECADE = 10
HISTOGRAM_DECADES = (-30, 30)
HISTOGRAM_EDGES = 10.0 ** (HISTOGRAM_DECADES[0]
                           + np.arange((HISTOGRAM_DECADES[1] - HISTOGRAM_DECADES[0]) * HISTOGRAM_PER_DECADE + 1)
                           / HISTOGRAM_PER_DECADE)
#: How long ``scheduler=`` waits for a Dask scheduler to answer.
SCHEDULER_TIMEOUT_S = 10

_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}


def parse_memory(text: str | int) -> int:
    """A memory budget in bytes: an integer, or a number with a unit (``512MB``, ``2GB``, ``1.5GiB``;
    KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024).

    >>> parse_memory("2GB"), parse_memory("512MiB"), parse_memory(1000)
    (2000000000, 536870912, 1000)
    """
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        value, unit = float(text), "b"
    else:
        match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", str(text))
        unit = match.group(2).lower() if match else ""
        if not match or (unit or "b") not in _UNITS:
            raise QuidamInputError(f"--memory {text!r} is not a memory size; give a number and a unit, e.g. 512MB, "
                                   "2GB, 1.5GiB (KB/MB/GB/TB: powers of 1000; KiB/MiB/GiB/TiB: of 1024)")
        value = float(match.group(1))
    total = int(value * _UNITS[unit or "b"])
    if total <= 0:
        raise QuidamInputError(f"--memory {text!r}: the budget must be more than 0 bytes")
    return total


def bytes_per_point(per_layer: bool, n_layers: int) -> int:
    """Memory one design point of a chunk takes: evaluate()'s arrays and the writer's and reductions'
    temporaries (the margin :data:`quidam_fast.engine._ARRAYS_PER_POINT` allows for a whole grid run),
    and with ``per_layer`` the layer results three times over (the kernel's, the dataset's views made
    contiguous for the writer, the padding to the longest network)."""
    return _ARRAYS_PER_POINT * 8 + (3 * n_layers * k.N_LAYER_RESULTS * 8 if per_layer else 0)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The chunking: design dims, their sizes and the chunk shape (the last chunk along a dim is cut short)."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunk: tuple[int, ...]

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(-(-s // c) for s, c in zip(self.shape, self.chunk))

    @property
    def n_chunks(self) -> int:
        return math.prod(self.grid)

    def region(self, i: int) -> tuple[slice, ...]:
        position = np.unravel_index(i, self.grid)
        return tuple(slice(int(p) * c, min((int(p) + 1) * c, s)) for p, c, s in zip(position, self.chunk, self.shape))


@dataclasses.dataclass(frozen=True)
class _Run:
    """Everything a chunk's task needs (pickled to Dask workers once)."""

    store: str
    networks: tuple[Network, ...]
    several: bool
    space: DesignSpace
    tech: Technology
    objective: str
    per_layer: bool
    reduce_only: bool
    pareto: dict
    table: xr.Dataset | None
    plan: _Plan
    n_layers: int
    stored: tuple[str, ...]

    @property
    def group_dims(self) -> tuple[str, ...]:
        return self.plan.dims[: 3 if self.several else 2]  # (network,) pe_type, bits: the leading dims

    @property
    def group_shape(self) -> tuple[int, ...]:
        return self.plan.shape[: len(self.group_dims)]


# ------------------------------------------------------------------------------------------------
# the public entry
# ------------------------------------------------------------------------------------------------


def evaluate_to_store(
    network: Network | str | Sequence[Network | str],
    space: DesignSpace | dict | None,
    store: str | os.PathLike,
    tech: Technology | str | None = None,
    *,
    per_layer: bool = False,
    objective: str = "energy",
    memory: int | str = DEFAULT_MEMORY,
    pareto: Mapping[str, str] | str | None = None,
    reduce_only: bool = False,
    overwrite: bool = False,
    accuracy: xr.Dataset | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_points: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> xr.Dataset:
    """Evaluate ``space`` on ``network`` chunk by chunk into the zarr store ``store``; return the reductions.

    Parameters
    ----------
    network, space, tech, per_layer, objective
        As for :func:`quidam_fast.evaluate` (a list of networks: a ``network`` dimension).
    store
        A ``.zarr`` folder. Missing: created. An unfinished store of the same run (same fingerprint):
        resumed, with the chunking it was started with. Anything else that exists -- a store of another
        run, a complete one, another folder -- is refused unless ``overwrite``.
    memory
        The budget of this process (and of each Dask worker), bytes or text such as ``"2GB"``
        (:func:`parse_memory`); chunks are sized to fit it (:func:`bytes_per_point`,
        :data:`PROCESS_BYTES`, at most :data:`MAX_CHUNK_POINTS` points).
    pareto
        Objectives of the Pareto front kept, ``{variable: "min" | "max"}`` or text
        (:func:`quidam_fast.analysis.parse_objectives`); any variable of a result, ``accuracy`` too when
        ``accuracy`` is given. Default: :data:`DEFAULT_PARETO`.
    reduce_only
        Keep the reductions only, no per-point arrays: memory and disk stay small for any size.
    overwrite
        Replace whatever is at ``store`` (removed first) instead of refusing.
    accuracy
        An accuracy table (:func:`quidam_fast.accuracy.load_accuracy_table`) to join, as ``grid`` does;
        ``None``: none.
    workers, scheduler
        Run the chunks as Dask tasks: on a local cluster of ``workers`` processes (loopback only), or on
        the ``distributed`` scheduler at ``scheduler`` (``"tcp://HOST:PORT"``, answered within
        :data:`SCHEDULER_TIMEOUT_S` seconds; its workers must see ``store`` at the same path). The
        result is the same as in one process.
    chunk_points
        At most this many points per chunk (tests and tuning; the budget still applies).
    progress
        ``progress(points_done, points_total)``, called after each chunk.

    Returns
    -------
    xarray.Dataset
        The reductions (see :func:`open_reductions`).

    Raises
    ------
    QuidamInputError
        Bad input as :func:`quidam_fast.evaluate` says; a budget too small for one chunk; an existing
        ``store`` not to be resumed without ``overwrite``; ``workers`` < 1; a scheduler that does not
        answer; a write that fails (full disk, read-only folder: completed chunks stay, and the same
        call resumes).

    Examples
    --------
    >>> import quidam_fast as qf, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> reductions = qf.evaluate_to_store("alexnet", {"rows": [8, 16], "cols": [8, 16]},
    ...                                   os.path.join(folder, "run.zarr"), chunk_points=2)
    >>> int(reductions.attrs["chunks"]), int(reductions.valid_points.sum())
    (2, 4)
    >>> ds = qf.open_result(os.path.join(folder, "run.zarr"))
    >>> bool((qf.pareto(ds, qf.stream.DEFAULT_PARETO).values.reshape(-1).nonzero()[0]
    ...       == reductions.front_index.values).all())
    True
    """
    started = time.perf_counter()
    budget = parse_memory(memory)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1):
        raise QuidamInputError(f"--workers {workers!r} is not allowed; give 1 or more worker processes")
    if workers is not None and scheduler is not None:
        raise QuidamInputError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    if scheduler is not None and not re.fullmatch(r"(tcp|tls)://[^\s/:]+:[0-9]+", str(scheduler)):
        raise QuidamInputError(f"--scheduler {scheduler!r} is not a scheduler address; expected tcp://HOST:PORT")
    if chunk_points is not None and (isinstance(chunk_points, bool) or not isinstance(chunk_points, (int, np.integer))
                                     or chunk_points < 1):
        raise QuidamInputError(f"chunk_points = {chunk_points!r} is not allowed; it must be an integer >= 1")
    if not isinstance(reduce_only, (bool, np.bool_)) or not isinstance(overwrite, (bool, np.bool_)):
        raise QuidamInputError("reduce_only and overwrite must be True or False")
    networks, several = _networks(network)
    if space is None:
        space = default_space()
    elif isinstance(space, dict):
        space = DesignSpace.from_dict(space, base="small")
    elif not isinstance(space, DesignSpace):
        raise QuidamInputError(f"space = {type(space).__name__} is not allowed; give a DesignSpace, a dict or None")
    tech = tech if isinstance(tech, Technology) else load_tech(tech) if tech is not None else load_tech()
    store = Path(store)
    if store.suffix != ".zarr":
        raise QuidamInputError(f"store {str(store)!r}: a streamed result is a zarr store; give a name ending in .zarr")

    # one point per axis but pe_type and bits: the variables, their attributes and the objectives' names,
    # checked (like every other input of evaluate) before anything is written; and what evaluate checks
    # over the whole space (the technology's tables at every axis value, the networks at the largest
    # batch), so that no chunk refuses its part of the space after the store is started
    sample = _evaluate_sample(networks, several, space, tech, per_layer, objective, accuracy)
    _check_whole_space(networks, space, tech)
    objectives = parse_objectives(pareto if pareto is not None else DEFAULT_PARETO, sample)
    dims = (("network",) if several else ()) + tuple(space.axes)
    shape = ((len(networks),) if several else ()) + tuple(len(v) for v in space.axes.values())
    n_layers = max(len(net.layers) for net in networks)
    per_point = bytes_per_point(per_layer, n_layers)
    fingerprint = _fingerprint(networks, several, space, tech, objective, per_layer, reduce_only, objectives, accuracy)

    existing, replace = _existing_run(store, fingerprint, overwrite)
    if existing is not None:  # resume with the chunking the run started with
        chunk = tuple(existing["chunk"])
        needed = PROCESS_BYTES + math.prod(chunk) * per_point
        if needed > budget:
            raise QuidamInputError(
                f"store {str(store)!r} was started with chunks of {math.prod(chunk):,} points, which need about "
                f"{_size(needed)}, more than --memory {_size(budget)}; resume with --memory {_size(needed)} or more")
    else:
        largest = (budget - PROCESS_BYTES) // per_point
        if largest < 1:
            raise QuidamInputError(
                f"--memory {_size(budget)} is too small for one chunk: this run needs {_size(PROCESS_BYTES)} for the "
                f"program and {_size(per_point)} per design point; give --memory {_size(PROCESS_BYTES + per_point)} "
                "or more (a few GB runs chunks of a million points)")
        largest = min(largest, MAX_CHUNK_POINTS, chunk_points or MAX_CHUNK_POINTS)
        chunk = file_chunks(dims, shape, int(largest))
    plan = _Plan(dims, shape, chunk)
    stored = tuple(name for name, output in outputs.BY_NAME.items()
                   if output.stored and name in sample.data_vars and not reduce_only)
    run = _Run(str(store), tuple(networks), several, space, tech, objective, bool(per_layer), bool(reduce_only),
               objectives, accuracy, plan, n_layers, stored)
    with _dask_client(workers, scheduler) as client:  # a scheduler that does not answer: before anything is written
        # what --overwrite replaces is set aside, not removed, until the new run is complete: a failure or
        # an interrupt before then puts it back (a kill -9 leaves it aside, and the next command removes it)
        aside = temporary_sibling(store, "old") if replace else None
        if aside is not None:
            try:
                os.rename(store, aside)
            except OSError as error:
                raise _write_failed(store, error, _KEPT_EARLIER) from None
        try:
            result = _run(run, sample, fingerprint, existing is None, client, progress, started,
                          _KEPT_EARLIER if aside is not None else _KEPT_CHUNKS)
        except BaseException:
            if aside is not None:
                with contextlib.suppress(OSError):
                    _remove(store)
                    os.rename(aside, store)
            raise
        if aside is not None:
            with contextlib.suppress(OSError):
                _remove(aside)
        return result


def _run(run: _Run, sample: xr.Dataset, fingerprint: dict, create: bool, client, progress, started: float,
         kept: str) -> xr.Dataset:
    """Create the store (``create``) or resume it, evaluate the chunks not complete, merge, finish
    (``kept``: what a failed write says is left)."""
    store, plan = Path(run.store), run.plan
    if create:
        _create_store(run, sample, fingerprint)
    merged = _Merged(run)
    done = set()
    for i in _completed(run):  # one at a time: a run of thousands of chunks never holds them all
        reductions = _load_mark(run, i)
        if reductions is not None:
            merged.add(reductions)
            done.add(i)
    pending = [i for i in range(plan.n_chunks) if i not in done]
    total = math.prod(plan.shape)
    points_done = [sum(_region_points(plan.region(i)) for i in done)]
    if progress is not None and done:
        progress(points_done[0], total)

    def finished(i: int, reductions: dict) -> None:
        merged.add(reductions)
        points_done[0] += _region_points(plan.region(i))
        if progress is not None:
            progress(points_done[0], total)

    try:
        if client is None:
            for i in pending:
                finished(i, _run_chunk(run, i))
        elif pending:
            _run_on_dask(client, run, pending, finished)
        if progress is not None and not pending:
            progress(total, total)
        reductions = _finish(run, sample, merged, time.perf_counter() - started)
    except OSError as error:
        raise _write_failed(store, error, kept) from None
    reductions.attrs["resumed_chunks"] = len(done)  # complete when this call began (not in the file)
    return reductions


def open_reductions(store: str | os.PathLike) -> xr.Dataset:
    """The reductions of a complete streamed run (what :func:`evaluate_to_store` returned).

    Returns
    -------
    xarray.Dataset
        - on the group dims ``(network,) pe_type, bits``: ``valid_points``; per figure of merit of
          :data:`GROUP_METRICS`, ``best_<name>`` and ``worst_<name>`` (its units; NaN where the group
          has no valid design) and ``best_<name>_index``/``worst_<name>_index`` (flat index, C order
          over the design dims, -1 for none);
        - on ``front``: ``front_index`` (flat index of each design on the Pareto front of
          ``attrs["pareto"]``, ascending), ``front_<axis>`` (its label on each design dim) and
          ``front_<objective>`` (its values);
        - on ``reason``: ``invalid_points``, the points per ``invalid_reason`` code (0: valid);
        - on ``bin``: ``histogram_<variable>`` for :data:`HISTOGRAM_VARIABLES`, counts of valid points
          with a finite value, bins between ``bin_low`` and ``bin_high`` (log-spaced, attrs ``bins``).
    """
    store = Path(store)
    path = store / STREAM_FOLDER / "reductions.nc"
    if not path.exists():
        if (store / STREAM_FOLDER / "run.json").exists():
            raise QuidamInputError(f"store {str(store)!r} is an unfinished streamed run ({_progress_text(store)}); "
                                   "run the same grid command again to resume it")
        raise QuidamInputError(f"store {str(store)!r} holds no reductions of a streamed run (quidam-fast grid --out *.zarr)")
    with xr.open_dataset(path, engine="h5netcdf") as opened:
        return opened.load()


def unfinished_chunks(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(complete, total)`` chunks of the unfinished streamed run at ``path``; ``None`` if there is none
    (no store, another kind of output, or a finished run)."""
    path = Path(path)
    if not (path / STREAM_FOLDER / "run.json").exists() or (path / STREAM_FOLDER / "reductions.nc").exists():
        return None
    try:
        record = json.loads((path / STREAM_FOLDER / "run.json").read_text())
        done = sum(1 for name in os.listdir(path / STREAM_FOLDER / "chunks") if re.fullmatch(r"[0-9]+\.npz", name))
        return done, int(record["chunks"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def unreadable_store(path: str | os.PathLike) -> str | None:
    """Why :func:`quidam_fast.open_result` cannot read the streamed store ``path``, in words: an unfinished
    run, or one that kept the reductions only; ``None`` for a complete store (or no streamed one)."""
    path = Path(path)
    if not (path / STREAM_FOLDER / "run.json").exists():
        return None
    if not (path / STREAM_FOLDER / "reductions.nc").exists():
        return f"an unfinished streamed run ({_progress_text(path)}); run the same grid command again to resume it"
    try:
        if json.loads((path / STREAM_FOLDER / "run.json").read_text()).get("reduce_only"):
            return ("a streamed run that kept its reductions only (--reduce-only), no per-point values; read them with "
                    "quidam_fast.open_reductions")
    except (OSError, ValueError):
        return None
    return None


def fits_in_memory(store: str | os.PathLike, memory: int | str = DEFAULT_MEMORY) -> bool:
    """Whether a complete store's per-point arrays, read whole, fit the budget (the report is then read from them)."""
    path = Path(store)
    run = json.loads((path / STREAM_FOLDER / "run.json").read_text())
    if run["reduce_only"]:
        return False
    return PROCESS_BYTES + math.prod(run["shape"]) * REPORT_BYTES_PER_POINT <= parse_memory(memory)


# ------------------------------------------------------------------------------------------------
# the run's identity and the store's folder
# ------------------------------------------------------------------------------------------------


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=repr).encode()).hexdigest()[:32]


def _fingerprint(networks, several, space, tech, objective, per_layer, reduce_only, objectives, table) -> dict[str, str]:
    """What makes two runs the same, as digests per part (a refusal names the parts that differ)."""
    parts = {
        "space": {name: [repr(v) for v in values] for name, values in space.axes.items()},
        "network": [{"name": net.name, "several": several, "layers": [layer.name for layer in net.layers],
                     "table": {c: v.tolist() for c, v in net.table().items()}} for net in networks],
        "technology": tech.source_text,
        "objective": objective,
        "per-layer": bool(per_layer),
        "reduce-only": bool(reduce_only),
        "pareto": list(objectives.items()),
        "accuracy table": None if table is None else {
            "values": hashlib.sha256(np.ascontiguousarray(table["accuracy"].values).tobytes()).hexdigest(),
            "coords": {name: [repr(v) for v in table[name].values] for name in table["accuracy"].dims}},
        "format": [STREAM_FORMAT, HISTOGRAM_VARIABLES, list(GROUP_METRICS.items()), HISTOGRAM_PER_DECADE,
                   HISTOGRAM_DECADES],
    }
    return {name: _digest(value) for name, value in parts.items()}


def _existing_run(store: Path, fingerprint: dict, overwrite: bool) -> tuple[dict | None, bool]:
    """The run record of an unfinished store of this same run (to resume) or ``None`` (start afresh),
    and whether something at ``store`` is to be removed first (``overwrite``); refuses everything else,
    before anything is removed."""
    if not os.path.lexists(store):
        return None, False
    record_path = store / STREAM_FOLDER / "run.json"
    record = None
    if store.is_dir() and record_path.exists():
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            record = None
    if record is not None and record.get("fingerprint") == fingerprint:
        if not (store / STREAM_FOLDER / "reductions.nc").exists():
            if not overwrite:
                return record, False
        elif not overwrite:
            raise QuidamInputError(f"--out {str(store)!r} already holds the complete result of this run; it is not "
                                   "replaced without --overwrite (or choose another --out)")
    elif not overwrite:
        if record is not None:
            differ = [name for name in fingerprint if record.get("fingerprint", {}).get(name) != fingerprint[name]]
            raise QuidamInputError(
                f"--out {str(store)!r} holds a run of another {', '.join(differ)}; it is never mixed with this one: "
                "choose another --out, or --overwrite to replace it")
        raise QuidamInputError(f"--out {str(store)!r} exists; it is not replaced without --overwrite "
                               "(or choose another --out)")
    if store.is_dir() and not store.is_symlink() and any(store.iterdir()) \
            and not any((store / name).exists() for name in (".zgroup", "zarr.json")):
        raise QuidamInputError(f"--out {str(store)!r} is an existing folder that is not a zarr store; it is not "
                               "replaced even with --overwrite: remove it or choose another name")
    return None, True


def _remove(store: Path) -> None:
    """Remove what ``overwrite`` replaced: a zarr store (a folder holding zarr metadata) or a file."""
    if store.is_dir() and not store.is_symlink():
        shutil.rmtree(store)
    elif os.path.lexists(store):
        store.unlink()


def _create_store(run: _Run, sample: xr.Dataset, fingerprint: dict) -> None:
    """The store's metadata (coordinates, attributes, empty arrays chunked as the plan) and its run
    record, built in a temporary sibling folder and renamed into place: a store at ``run.store`` always
    has its record."""
    import dask.array as da

    store = Path(run.store)
    template = _template(run, sample)
    stored, encoding = file_encoding(template, "zarr")
    for name, variable in stored.data_vars.items():
        if name not in run.stored:  # the accuracy join's variables: written with the metadata
            continue
        chunk = run.plan.chunk + ((run.n_layers,) if "layer" in variable.dims else ())
        stored[name] = variable.variable.copy(data=da.empty(variable.shape, dtype=variable.dtype, chunks=chunk))
        encoding[name]["chunks"] = chunk
    record = {"fingerprint": fingerprint, "dims": list(run.plan.dims), "shape": list(run.plan.shape),
              "chunk": list(run.plan.chunk), "chunks": run.plan.n_chunks, "reduce_only": run.reduce_only,
              "pareto": run.pareto}
    temporary = temporary_sibling(store)
    try:
        os.mkdir(temporary)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zarr's notes on format 2's string dtypes
            stored.to_zarr(temporary, mode="w", zarr_format=2, encoding=encoding, compute=False)
        (temporary / STREAM_FOLDER / "chunks").mkdir(parents=True)
        (temporary / STREAM_FOLDER / "run.json").write_text(json.dumps(record, indent=1))  # renamed with the store
        os.rename(temporary, store)
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(error, OSError):
            raise _write_failed(store, error, "") from None
        raise


def _template(run: _Run, sample: xr.Dataset) -> xr.Dataset:
    """The whole result's skeleton: the sample's variables (attributes, types) over the full axes."""
    coords = {}
    for name, values in run.space.axes.items():
        unit, kind = AXES[name]
        coords[name] = xr.Variable(name, np.array(values, dtype=object if kind is str else None).astype(
            str if kind is str else type(values[0])), sample[name].attrs)
    sizes = dict(zip(run.plan.dims, run.plan.shape))
    if "layer" in sample.dims:
        sizes["layer"] = sample.sizes["layer"]
    data = {}
    for name in run.stored:
        variable = sample[name].variable
        data[name] = xr.Variable(variable.dims, np.broadcast_to(np.zeros((), variable.dtype),
                                                                tuple(sizes[d] for d in variable.dims)),
                                 variable.attrs)
    template = xr.Dataset(data, coords={**{name: sample.coords[name].variable for name in sample.coords
                                           if name not in coords}, **coords}, attrs=dict(sample.attrs))
    for name in ("accuracy", "accuracy_std", "accuracy_seeds"):  # (network,) pe_type, bits: small, known now
        if name in sample.data_vars:
            template[name] = sample[name].variable
    template.attrs.update({"space": "; ".join(f"{name}={list(values)}" for name, values in run.space.axes.items()),
                           "design_points": run.space.size})
    return template


def _completed(run: _Run) -> list[int]:
    """The chunks whose reductions file is in place (complete, unless it cannot be read: :func:`_load_mark`);
    the temporaries of files a killed process did not finish are removed."""
    from ._files import _alive

    folder = Path(run.store) / STREAM_FOLDER / "chunks"
    found = []
    for entry in os.listdir(folder):
        match = re.fullmatch(r"([0-9]+)\.npz", entry)
        if match and int(match.group(1)) < run.plan.n_chunks:
            found.append(int(match.group(1)))
        stale = re.fullmatch(r"\.[0-9]+\.npz\.~([0-9]+)-[0-9a-f]{8}\.tmp", entry)
        if stale and not _alive(int(stale.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(folder / entry)
    return sorted(found)


def _load_mark(run: _Run, i: int) -> dict | None:
    """Chunk ``i``'s reductions, or ``None`` if its file cannot be read (the chunk is computed again)."""
    try:
        with np.load(Path(run.store) / STREAM_FOLDER / "chunks" / f"{i}.npz", allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError):
        return None


def _write_mark(run: _Run, i: int, reductions: dict) -> None:
    """Chunk ``i``'s reductions file, put in place in one rename (the chunk's completion)."""
    buffer = io.BytesIO()
    np.savez(buffer, **reductions)
    _replace_file(Path(run.store) / STREAM_FOLDER / "chunks" / f"{i}.npz", buffer.getvalue())


def _replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` beside ``path``, flush it to the disk, rename it over ``path``. Not
    :func:`quidam_fast._files.write_bytes_atomically`: that lists each file on the line an interrupted
    command prints, thousands of them here (the command's line names the store instead)."""
    temporary = temporary_sibling(path)
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _progress_text(store: Path) -> str:
    counts = unfinished_chunks(store)
    return "its record cannot be read" if counts is None else f"{counts[0]:,} of {counts[1]:,} chunks complete"


#: What a failed write leaves, said after its reason: a started store's completed chunks (resumed by
#: the same command), or, with ``overwrite``, the earlier output put back.
_KEPT_CHUNKS = "; the chunks completed so far are kept, and the same command resumes"
_KEPT_EARLIER = "; the earlier output there is unchanged"


def _write_failed(store: Path, error: OSError, kept: str = _KEPT_CHUNKS) -> QuidamInputError:
    """A failed write (full disk, read-only folder) in one line, saying what is kept."""
    import errno

    reason = "No space left on device" if error.errno == errno.ENOSPC else (error.strerror or str(error))
    return QuidamInputError(f"--out {str(store)!r}: cannot write ({reason}){kept}")


def _size(n_bytes: int) -> str:
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n_bytes >= scale:
            return f"{math.ceil(n_bytes / scale * 10) / 10:g}{unit}"
    return f"{n_bytes}B"


def _region_points(region: tuple[slice, ...]) -> int:
    return math.prod(s.stop - s.start for s in region)


# ------------------------------------------------------------------------------------------------
# one chunk
# ------------------------------------------------------------------------------------------------


def _evaluate_sample(networks, several, space, tech, per_layer, objective, table) -> xr.Dataset:
    """Every network at every pe_type and bits, the first value of the other axes: the result's variables."""
    axes = {name: (values if name in ("pe_type", "bits") else values[:1]) for name, values in space.axes.items()}
    sample = evaluate(list(networks) if several else networks[0], DesignSpace(axes=axes), tech, per_layer=per_layer,
                      objective=objective)
    return _with_accuracy(sample, table, networks, several)


def _check_whole_space(networks, space: DesignSpace, tech: Technology) -> None:
    """What :func:`quidam_fast.evaluate` refuses about a space, checked on the whole one at once: the
    per-axis-value tables it flattens (cheap: no design point is formed), the scratchpad models, the
    networks at the largest batch."""
    from .engine import _check_spad_costs, _flatten

    arrays = _flatten(space, tech)
    if "rs" in space.axes["dataflow"]:
        _check_spad_costs(arrays, space, tech)
    largest_batch = max(space.axes["batch"])
    for net in networks:
        try:
            net.batched(largest_batch)
        except QuidamInputError as error:
            raise QuidamInputError(f"network {net.name!r} at batch = {largest_batch}: {error}") from None


def _with_accuracy(ds: xr.Dataset, table, networks, several) -> xr.Dataset:
    if table is None:
        return ds
    from .accuracy import AccuracyCoverageWarning, attach_accuracy

    with warnings.catch_warnings():  # said once for the whole run (_finish), not per chunk
        warnings.simplefilter("ignore", AccuracyCoverageWarning)
        return attach_accuracy(ds, table, network=list(networks) if several else networks[0])


def _chunk_dataset(run: _Run, i: int) -> tuple[xr.Dataset, tuple[slice, ...]]:
    region = run.plan.region(i)
    axes = dict(run.space.axes)
    offset = 1 if run.several else 0
    for name, part in zip(run.plan.dims[offset:], region[offset:]):
        axes[name] = axes[name][part]
    networks = run.networks[region[0]] if run.several else run.networks[:1]
    ds = evaluate(list(networks) if run.several else networks[0], DesignSpace(axes=axes), run.tech,
                  per_layer=run.per_layer, objective=run.objective)
    needs_accuracy = "accuracy" in run.pareto or any(name.startswith("accuracy") for name in run.pareto)
    if needs_accuracy:
        ds = _with_accuracy(ds, run.table, networks, run.several)
    return ds, region


def _run_chunk(run: _Run, i: int) -> dict:
    """Evaluate chunk ``i``, write its arrays, then its reductions file (the mark of a complete chunk)."""
    ds, region = _chunk_dataset(run, i)
    if not run.reduce_only:
        _write_region(run, ds, region)
    reductions = _reduce(run, ds, region)
    _write_mark(run, i, reductions)
    return reductions


def _write_region(run: _Run, ds: xr.Dataset, region: tuple[slice, ...]) -> None:
    """The chunk's stored variables into their zarr arrays (the region is one zarr chunk: no other task
    writes its files), in the disk types the store was created with."""
    import zarr

    for name in run.stored:
        array = zarr.open_array(store=os.path.join(run.store, name), mode="r+", zarr_format=2)
        values = ds[name].values
        where = region
        if "layer" in ds[name].dims:
            if values.shape[-1] < run.n_layers:  # a chunk of shorter networks: NaN past their last layer
                padded = np.full(values.shape[:-1] + (run.n_layers,), np.nan)
                padded[..., : values.shape[-1]] = values
                values = padded
            where = region + (slice(None),)
        array[where] = values.astype(array.dtype, copy=False)


def _global_index(run: _Run, region: tuple[slice, ...], local: np.ndarray) -> np.ndarray:
    """Flat indices (C order over the whole space) of flat positions ``local`` within ``region``."""
    sizes = tuple(s.stop - s.start for s in region)
    position = np.unravel_index(local, sizes)
    return np.ravel_multi_index(tuple(p + s.start for p, s in zip(position, region)), run.plan.shape).astype(np.int64)


def _reduce(run: _Run, ds: xr.Dataset, region: tuple[slice, ...]) -> dict[str, np.ndarray]:
    """The chunk's reductions as plain arrays (see :class:`_Merged` for how they combine)."""
    dims = run.plan.dims
    valid = ds["valid"].transpose(*dims).values.reshape(-1)

    def flat(name: str) -> np.ndarray:
        variable = ds[name]
        if variable.dims == dims:
            return np.asarray(variable.values, dtype=np.float64).reshape(-1)
        return np.asarray(variable.broadcast_like(ds["valid"]).transpose(*dims).values, dtype=np.float64).reshape(-1)

    reductions: dict[str, np.ndarray] = {}
    # Pareto front of the valid points with finite objectives
    values = np.stack([flat(name) * (1.0 if direction == "min" else -1.0) for name, direction in run.pareto.items()])
    usable = np.flatnonzero(valid & np.isfinite(values).all(axis=0))
    on = usable[front_mask_rows(values[:, usable])] if len(usable) else usable
    reductions["front_index"] = _global_index(run, region, on)
    reductions["front_values"] = values[:, on]
    # best and worst per group: the group dims lead, so each group of the chunk is one contiguous block
    n_group_dims = len(run.group_dims)
    block_shape = tuple(s.stop - s.start for s in region[:n_group_dims])
    n_blocks = math.prod(block_shape)
    inner = valid.size // n_blocks
    starts = np.arange(n_blocks) * inner
    group_position = np.unravel_index(np.arange(n_blocks), block_shape)
    reductions["group_index"] = np.ravel_multi_index(
        tuple(p + s.start for p, s in zip(group_position, region[:n_group_dims])), run.group_shape).astype(np.int64)
    reductions["valid_points"] = valid.reshape(n_blocks, inner).sum(axis=1).astype(np.int64)
    for name, direction in GROUP_METRICS.items():
        metric = flat(name).reshape(n_blocks, inner)
        ok = valid.reshape(n_blocks, inner) & np.isfinite(metric)
        some = ok.any(axis=1)
        for kind, larger in (("best", direction == "max"), ("worst", direction != "max")):
            masked = np.where(ok, metric, -np.inf if larger else np.inf)
            at = np.argmax(masked, axis=1) if larger else np.argmin(masked, axis=1)  # the first among equals
            reductions[f"{kind}_{name}"] = np.where(some, metric[np.arange(n_blocks), at], np.nan)
            reductions[f"{kind}_{name}_index"] = np.where(some, _global_index(run, region, starts + at), -1)
    reasons = ds["invalid_reason"].values.reshape(-1).astype(np.int64)
    reductions["invalid_points"] = np.bincount(reasons, minlength=len(outputs.INVALID_REASONS)).astype(np.int64)
    for name in HISTOGRAM_VARIABLES:
        reductions[f"histogram_{name}"] = _histogram(flat(name)[valid])
    return reductions


def _histogram(values: np.ndarray) -> np.ndarray:
    """Counts on :data:`HISTOGRAM_EDGES` (finite values only; bin 0 below, the last bin above)."""
    values = values[np.isfinite(values)]
    n_inner = len(HISTOGRAM_EDGES) - 1
    bins = np.searchsorted(HISTOGRAM_EDGES, values, side="right")  # 0 below the first edge, n_inner + 1 above the last
    return np.bincount(bins, minlength=n_inner + 2).astype(np.int64)


# ------------------------------------------------------------------------------------------------
# merging, and the end of a run
# ------------------------------------------------------------------------------------------------


class _Merged:
    """The reductions of the chunks seen so far, combined; the result does not depend on their order."""

    def __init__(self, run: _Run):
        self.run = run
        n_groups = math.prod(run.group_shape)
        self.front_index = np.zeros(0, dtype=np.int64)
        self.front_values = np.zeros((len(run.pareto), 0))
        self.valid_points = np.zeros(n_groups, dtype=np.int64)
        self.groups = {}
        for name in GROUP_METRICS:
            for kind in ("best", "worst"):
                self.groups[f"{kind}_{name}"] = np.full(n_groups, np.nan)
                self.groups[f"{kind}_{name}_index"] = np.full(n_groups, -1, dtype=np.int64)
        self.invalid_points = np.zeros(len(outputs.INVALID_REASONS), dtype=np.int64)
        self.histograms = {name: np.zeros(len(HISTOGRAM_EDGES) + 1, dtype=np.int64) for name in HISTOGRAM_VARIABLES}
        self.chunks = 0

    def add(self, r: dict) -> None:
        self.chunks += 1
        # the front of the union of fronts (exact, see the module's notes), in flat order
        index = np.concatenate([self.front_index, r["front_index"]])
        values = np.concatenate([self.front_values, r["front_values"]], axis=1)
        keep = front_mask_rows(values) if index.size else np.zeros(0, dtype=bool)
        order = np.argsort(index[keep], kind="stable")
        self.front_index, self.front_values = index[keep][order], values[:, keep][:, order]
        groups = r["group_index"]
        np.add.at(self.valid_points, groups, r["valid_points"])
        for name, direction in GROUP_METRICS.items():
            for kind, larger in (("best", direction == "max"), ("worst", direction != "max")):
                value, at = r[f"{kind}_{name}"], r[f"{kind}_{name}_index"]
                old_value, old_at = self.groups[f"{kind}_{name}"][groups], self.groups[f"{kind}_{name}_index"][groups]
                better = (value > old_value) if larger else (value < old_value)
                # ties: the first design in flat order, as the report's best design
                take = (at >= 0) & ((old_at < 0) | better | ((value == old_value) & (at < old_at)))
                self.groups[f"{kind}_{name}"][groups[take]] = value[take]
                self.groups[f"{kind}_{name}_index"][groups[take]] = at[take]
        self.invalid_points[: len(r["invalid_points"])] += r["invalid_points"][: len(self.invalid_points)]
        for name in HISTOGRAM_VARIABLES:
            self.histograms[name] += r[f"histogram_{name}"]

    def dataset(self, sample: xr.Dataset) -> xr.Dataset:
        run = self.run
        group_dims = run.group_dims
        # every design dim's labels (a front design's or a best design's, from its flat index)
        coords = {d: (d, np.asarray(_labels(run, d)), sample[d].attrs) for d in run.plan.dims}
        ds = xr.Dataset(coords=coords)
        ds["valid_points"] = (group_dims, self.valid_points.reshape(run.group_shape),
                              {"units": "1", "long_name": "valid design points of the group"})
        for name, direction in GROUP_METRICS.items():
            for kind in ("best", "worst"):
                what = {"best": "best", "worst": "worst"}[kind]
                ds[f"{kind}_{name}"] = (group_dims, self.groups[f"{kind}_{name}"].reshape(run.group_shape),
                                        {"units": outputs.BY_NAME[name].units,
                                         "long_name": f"{what} {name} ({'higher' if direction == 'max' else 'lower'} "
                                                      "is better) over the group's valid designs"})
                ds[f"{kind}_{name}_index"] = (group_dims, self.groups[f"{kind}_{name}_index"].reshape(run.group_shape),
                                              {"units": "1", "long_name": "flat index of that design (-1: none)"})
        ds["front_index"] = ("front", self.front_index,
                             {"units": "1", "long_name": "flat index (C order over the design dims) of a design on "
                                                         "the Pareto front"})
        position = np.unravel_index(self.front_index, run.plan.shape)
        for d, p in zip(run.plan.dims, position):
            ds[f"front_{d}"] = ("front", np.asarray(_labels(run, d))[p], {"units": sample[d].attrs.get("units", "")})
        for j, (name, direction) in enumerate(run.pareto.items()):
            ds[f"front_{name}"] = ("front", self.front_values[j] * (1.0 if direction == "min" else -1.0),
                                   {"units": sample[name].attrs.get("units", ""), "direction": direction})
        ds["invalid_points"] = ("reason", self.invalid_points, {"units": "1", "long_name": "points per invalid_reason"})
        ds = ds.assign_coords(reason=("reason", np.array(list(outputs.INVALID_REASONS), dtype=np.int8),
                                      {"units": "1", "long_name": "; ".join(f"{c}: {m}" for c, m in
                                                                             outputs.INVALID_REASONS.items())}))
        bins = f"{HISTOGRAM_PER_DECADE} per decade from 1e{HISTOGRAM_DECADES[0]} to 1e{HISTOGRAM_DECADES[1]}, log-spaced; " \
               "bin 0 holds values below (and zero), the last bin values above"
        ds = ds.assign_coords(bin_low=("bin", np.concatenate([[-np.inf], HISTOGRAM_EDGES])),
                              bin_high=("bin", np.concatenate([HISTOGRAM_EDGES, [np.inf]])))
        for name in HISTOGRAM_VARIABLES:
            ds[f"histogram_{name}"] = ("bin", self.histograms[name],
                                       {"units": "1", "variable_units": outputs.BY_NAME[name].units,
                                        "long_name": f"valid designs per bin of {name}", "bins": bins})
        ds.attrs.update({"pareto": ",".join(f"{n}:{d}" for n, d in run.pareto.items()), "chunks": self.chunks,
                         "design_points": math.prod(run.plan.shape), "dims": ",".join(run.plan.dims),
                         "shape": ",".join(str(s) for s in run.plan.shape), "bins": bins,
                         "network": sample.attrs.get("network", ""), "tech": sample.attrs.get("tech", ""),
                         "producer": "quidam_fast.evaluate_to_store"})
        return ds


def _update_root_attrs(store: Path, attrs: dict) -> None:
    """Set root attributes in ``.zattrs`` and in the consolidated ``.zmetadata`` (by hand: zarr's
    consolidation walks every folder of the store and warns about :data:`STREAM_FOLDER`)."""
    root = json.loads((store / ".zattrs").read_text())
    root.update(attrs)
    _replace_file(store / ".zattrs", json.dumps(root, indent=2).encode())
    consolidated = json.loads((store / ".zmetadata").read_text())
    consolidated["metadata"][".zattrs"] = root
    _replace_file(store / ".zmetadata", json.dumps(consolidated, indent=2).encode())


def _labels(run: _Run, dim: str) -> list:
    if dim == "network":
        return [net.name for net in run.networks]
    return list(run.space.axes[dim])


def _finish(run: _Run, sample: xr.Dataset, merged: _Merged, seconds: float) -> xr.Dataset:
    """Merge, join the accuracy table (once, on the (network,) pe_type, bits cells), store both, and mark
    the run complete (``reductions.nc`` last)."""
    import zarr

    reductions = merged.dataset(sample)
    store = Path(run.store)
    accuracy_note = sample.attrs.get("accuracy")
    if run.table is not None:
        from .accuracy import AccuracyCoverageWarning, attach_accuracy

        # the accuracy variables went into the store with its metadata (they depend on labels only);
        # the coverage warning depends on which cells have a valid point, known now: said once, as
        # attach_accuracy says it for an in-memory result (it looks at each cell's any-valid only)
        frame = sample[["valid"]].isel({d: slice(0, 1) for d in run.plan.dims if d not in run.group_dims})
        frame = frame.squeeze([d for d in run.plan.dims if d not in run.group_dims])
        frame["valid"] = (run.group_dims, reductions["valid_points"].values > 0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AccuracyCoverageWarning)
            joined = attach_accuracy(frame, run.table, network=list(run.networks) if run.several else run.networks[0])
        for warning in caught:
            warnings.warn(warning.message, warning.category, stacklevel=3)
        for name in ("accuracy", "accuracy_std", "accuracy_seeds"):
            if name in joined.data_vars:
                reductions[name] = joined[name].drop_vars([c for c in joined[name].coords if c not in run.group_dims])
    _update_root_attrs(store, {"evaluation_seconds": round(seconds, 3)})
    if accuracy_note is not None:
        reductions.attrs["accuracy"] = accuracy_note
    reductions.attrs["evaluation_seconds"] = round(seconds, 3)
    write_netcdf_atomically(reductions, store / STREAM_FOLDER / "reductions.nc", "--out")
    return reductions


# ------------------------------------------------------------------------------------------------
# Dask
# ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _dask_client(workers: int | None, scheduler: str | None):
    """A ``distributed`` client: of a new local cluster of ``workers`` processes on the loopback
    interface, or of the scheduler at ``scheduler``; ``None`` for neither (one process)."""
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s", set_as_default=False))
            except (OSError, TimeoutError) as error:
                raise QuidamInputError(f"--scheduler {scheduler!r}: no Dask scheduler answered within "
                                       f"{SCHEDULER_TIMEOUT_S} s ({type(error).__name__}); start one (dask scheduler) "
                                       "or check the address") from None
        else:
            # processes (the kernels hold the GIL), one thread each (a chunk's budget is per process);
            # no dashboard, and every listener on 127.0.0.1: nothing is reachable from outside
            cluster = stack.enter_context(LocalCluster(
                n_workers=int(workers), threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.ERROR, memory_limit=0))
            client = stack.enter_context(Client(cluster, set_as_default=False))
        yield client


def _run_on_dask(client, run: _Run, pending: list[int], finished) -> None:
    """The pending chunks as tasks (each writes its own region and file); ``finished(i, reductions)``
    in this process as each ends, so the merge happens here."""
    from distributed import as_completed

    shared = client.scatter(run, broadcast=True)
    futures = client.map(_run_chunk, [shared] * len(pending), pending, pure=False)
    position = {future.key: i for future, i in zip(futures, pending)}
    try:
        for future, reductions in as_completed(futures, with_results=True, loop=client.loop):
            finished(position[future.key], reductions)
    finally:
        client.cancel(futures)


# ------------------------------------------------------------------------------------------------
# the report of a run too large to read back
# ------------------------------------------------------------------------------------------------


def reductions_text(reductions: xr.Dataset) -> str:
    """The headline figures the reductions answer: per network, the valid points, the spread and the best
    design per PE type of each figure of merit, and the Pareto front's size and ends (what
    ``quidam-fast grid`` prints when the result is too large to read back for :func:`quidam_fast.report`).
    """
    networks = list(reductions["network"].values) if "network" in reductions.dims else [None]
    points = int(reductions.attrs["design_points"]) // len(networks)
    lines = []
    for net in networks:
        part = reductions.sel(network=net) if net is not None else reductions
        name = net if net is not None else reductions.attrs.get("network", "")
        valid = int(part["valid_points"].sum())
        lines.append(f"{name} on {reductions.attrs.get('tech', '')}: {valid:,} valid of {points:,} design points "
                     "(figures from the streamed run's reductions)")
        for metric, direction in GROUP_METRICS.items():
            best, worst = part[f"best_{metric}"], part[f"worst_{metric}"]
            larger = direction == "max"
            if not bool(np.isfinite(best).any()):
                continue
            top = float(best.max() if larger else best.min())
            bottom = float(worst.min() if larger else worst.max())
            scale, unit = (1e3, "mJ") if metric == "energy_per_inference_j" else (1.0, "inferences/s/mm2")
            spread = top / bottom if larger else bottom / top
            lines.append(f"  {metric} ({'higher' if larger else 'lower'} is better): spread {spread:.3g}x; best per PE type:")
            for pe in part["pe_type"].values:
                cell = best.sel(pe_type=pe).values.reshape(-1)
                if not np.isfinite(cell).any():
                    lines.append(f"    {pe}: no valid design")
                    continue
                # groups in flat order, each holding its first best design: the first best is the flat-first one
                b = int(np.nanargmax(cell) if larger else np.nanargmin(cell))
                design = _design_of(reductions, int(part[f"best_{metric}_index"].sel(pe_type=pe).values.reshape(-1)[b]))
                fixed = tuple(d for d in design if reductions.sizes.get(d, 0) == 1)
                lines.append(f"    {pe} {describe_design(design, skip=('pe_type', 'network', *fixed))}: "
                             f"{float(cell[b]) * scale:.4g} {unit}")
    front = int(reductions.sizes.get("front", 0))
    lines.append(f"Pareto front of {reductions.attrs['pareto']}: {front:,} designs")
    return "\n".join(lines)


def _design_of(reductions: xr.Dataset, flat: int) -> dict:
    """The axis labels of flat index ``flat`` (from the dims and shape the reductions record)."""
    dims = reductions.attrs["dims"].split(",")
    shape = tuple(int(s) for s in reductions.attrs["shape"].split(","))
    position = np.unravel_index(flat, shape)
    design = {}
    for d, p in zip(dims, position):
        if d in reductions.coords and reductions[d].ndim == 1 and reductions[d].dims == (d,):
            design[d] = reductions[d].values[p].item()
        else:
            design[d] = int(p)
    return design
