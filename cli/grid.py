"""``quidam-fast grid``: evaluate a design space on a network, save the dataset, print its report
(:func:`quidam_fast.report`)."""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

import quidam_fast as qf
from quidam_fast.cli._progress import bar, spinner
from quidam_fast.accuracy import AccuracyCoverageWarning, attach_accuracy, load_accuracy_table
from quidam_fast.analysis import REPORT_VARIABLES, check_where, parse_objectives, parse_where
from quidam_fast.engine import _ARRAYS_PER_POINT
from quidam_fast.stream import DEFAULT_MEMORY, SCHEDULER_TIMEOUT_S, parse_memory
from quidam_fast import _files
from quidam_fast._files import check_output_path, write_netcdf_atomically, write_store_atomically
from quidam_fast.errors import QuidamInputError
from quidam_fast.outputs import INVALID_REASONS
from quidam_fast.results import file_encoding
from quidam_fast.workloads import parse_input_shape
from quidam_fast.space import AXES, DEFAULT_NETWORK, OBJECTIVES

OUTPUT_SUFFIXES = (".nc", ".zarr")
_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zattrs", ".zmetadata")  # zarr v3 and v2 store metadata


def grid(
    spec: Annotated[Optional[Path], typer.Option(help="TOML spec: network, tech and a [space] table of axes.")] = None,
    network: Annotated[Optional[list[str]], typer.Option(
        help="Library network (parameters after @, e.g. gpt2_small_decode@kv=4096), a topology .csv, an .onnx file, "
             "or a torch model path/to/model.py:attr (overrides the spec). Repeat it to co-explore networks: "
             "one result with a network dimension.")] = None,
    input_shape: Annotated[Optional[str], typer.Option(
        help="With an .onnx or torch network: the input shape, batch first (e.g. 1,3,32,32), or ONNX dynamic "
             "dimension sizes (e.g. batch=1,seq=128); overrides the spec's input_shape.")] = None,
    tech: Annotated[Optional[str], typer.Option(help="Technology name or TOML file (overrides the spec).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the dataset: .nc (netCDF) or .zarr.")] = Path("quidam-grid.nc"),
    per_layer: Annotated[bool, typer.Option("--per-layer/--totals-only", help="Also save per-layer variables.")] = False,
    objective: Annotated[Optional[str], typer.Option(help=f"What the mapping searches minimize (buffer level, row stationary): {', '.join(OBJECTIVES)} (overrides the spec).")] = None,
    accuracy: Annotated[Optional[Path], typer.Option(help="Accuracy table (netCDF) to join; default: the packaged one.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress display.")] = False,
    where: Annotated[Optional[list[str]], typer.Option(
        metavar="EXPR", help="Constraint on the printed report, VARIABLE OP VALUE (OP: <= >= < > == !=), e.g. area_mm2<=10; "
             "repeatable, all must hold. The saved dataset keeps every point.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out (never replaced without it).")] = False,
    memory: Annotated[Optional[str], typer.Option(
        metavar="SIZE", help=f"With --out *.zarr: the memory budget of the process (and of each Dask worker), e.g. 512MB, "
             f"2GB; chunks are sized to fit it. Default {DEFAULT_MEMORY}.")] = None,
    pareto: Annotated[Optional[str], typer.Option(
        metavar="OBJECTIVES", help="With --out *.zarr: the Pareto front kept on the fly, VARIABLE:min|max,... "
             "(as quidam-fast pareto); default perf_per_area:max,energy_per_inference_j:min.")] = None,
    reduce_only: Annotated[bool, typer.Option("--reduce-only", help="With --out *.zarr: keep only the reductions (Pareto "
             "front, best and worst design per PE type and bits, histograms), no per-point arrays.")] = False,
    workers: Annotated[Optional[int], typer.Option(
        help="With --out *.zarr: evaluate the chunks on a local Dask cluster of this many worker processes (loopback only).")] = None,
    scheduler: Annotated[Optional[str], typer.Option(
        metavar="tcp://HOST:PORT", help=f"With --out *.zarr: evaluate the chunks on this Dask scheduler's workers (they must "
             f"see --out at the same path); refused if it does not answer within {SCHEDULER_TIMEOUT_S} s.")] = None,
) -> None:
    """Evaluate every design point of a space on one network, or on several (a network dimension).

    Default: quidam_fast.space.DEFAULT_NETWORK (the Fashion-MNIST model family, with accuracy on every
    valid point) over the embedded default space; --network resnet18 for hardware-only exploration.
    """
    # Every input is checked before anything is printed or evaluated: a mistake costs no run.
    streamed = out.suffix == ".zarr"
    _check_stream_options(out, memory, pareto, reduce_only, workers, scheduler)
    _check_out(out, overwrite)
    constraints = parse_where(where)
    loaded = qf.load_spec(spec) if spec is not None else None
    objective = objective if objective is not None else (loaded.objective if loaded else "energy")  # '' is refused, not defaulted
    if objective not in OBJECTIVES:
        raise QuidamInputError(f"--objective {objective!r} is not allowed; allowed: {', '.join(OBJECTIVES)}")
    network_name = (network[0] if len(network) == 1 else tuple(network)) if network else (
        loaded.network if loaded else DEFAULT_NETWORK)  # a tuple: a network dimension
    tech_name = tech if tech is not None else (loaded.tech if loaded else None)
    space = loaded.space if loaded else qf.default_space()
    if input_shape is not None:
        shape = parse_input_shape(input_shape)
    else:  # the spec's input_shape goes with the spec's network only
        shape = loaded.input_shape if loaded is not None and network is None else None
    nets = qf.load_networks(network_name, input_shape=shape)
    several = not isinstance(network_name, str)
    technology = qf.load_tech(tech_name) if tech_name is not None else qf.load_tech()
    technology.check_glb_kib(space.axes["glb_kib"], source=str(spec) if spec is not None else "the default space")
    table = load_accuracy_table(accuracy)
    if constraints:
        # a constraint the result cannot answer (unknown variable, text for a number, a label no axis
        # has) is refused before the run: checked on a sample of the same result (every label of the
        # text axes, the first value of the others)
        sample = {name: list(values) if AXES[name][1] is str else [values[0]] for name, values in space.axes.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AccuracyCoverageWarning)
            check_where(attach_accuracy(qf.evaluate(nets if several else nets[0], sample, technology, per_layer=False,
                                                    objective=objective), table, network=nets if several else nets[0]),
                        constraints)
    for net in nets:
        typer.echo(f"{net.name}: {len(net.layers)} layers, {net.macs / 1e6:,.1f} MMACs, {net.params:,} weights", err=True)
        if net.notes:
            typer.echo(f"  {net.notes}", err=True)
    points = len(nets) * space.size
    if not streamed:
        _check_fits_in_memory(points, out)
    typer.echo(f"{space.size:,} design points{f' x {len(nets)} networks' if several else ''}; technology {technology.name}", err=True)
    if streamed:
        _grid_streamed(nets if several else nets[0], space, technology, out, per_layer=per_layer, objective=objective,
                       table=table, constraints=constraints, quiet=quiet, overwrite=overwrite,
                       memory=memory or DEFAULT_MEMORY, pareto=pareto, reduce_only=reduce_only, workers=workers,
                       scheduler=scheduler, layers="/".join(str(len(net.layers)) for net in nets))
        return

    started = time.perf_counter()
    with _progress(points, quiet) as update:
        results = qf.evaluate(nets if several else nets[0], space, technology, per_layer=per_layer, objective=objective,
                              progress=update)
    with warnings.catch_warnings(record=True) as caught:  # valid points left without accuracy: one line
        warnings.simplefilter("always", AccuracyCoverageWarning)
        results = attach_accuracy(results, table, network=nets if several else nets[0])
    for warning in caught:
        typer.echo(f"warning: {warning.message}", err=True)
    seconds = time.perf_counter() - started
    _require_a_valid_point(results)
    # before writing: a constraint naming no variable of the result, or leaving no point, writes nothing
    text = qf.report(results, where=constraints).to_text()
    with spinner(f"writing {out}", quiet):  # a large result takes seconds to encode and write
        _write(results, out)
    typer.echo(f"evaluated {points:,} points x {'/'.join(str(len(net.layers)) for net in nets)} layers in {seconds:.2f} s "
               f"({_rate(points / seconds)}); wrote {out}", err=True)
    typer.echo(text)


def _grid_streamed(network, space, technology, out: Path, *, per_layer, objective, table, constraints, quiet, overwrite,
                   memory, pareto, reduce_only, workers, scheduler, layers: str) -> None:
    """``--out *.zarr``: evaluate chunk by chunk into the store (:func:`quidam_fast.evaluate_to_store`:
    bounded memory, resumable, optionally on Dask), then print the report.

    The report is :func:`quidam_fast.report` of the store, read back, when its per-point values fit the
    memory budget -- the same text as an in-memory run; otherwise (or with ``--reduce-only``) the figures
    the reductions answer (:func:`quidam_fast.stream.reductions_text`), and ``--where`` is not applied.
    """
    points = space.size * (len(network) if isinstance(network, list) else 1)
    started = time.perf_counter()
    note = f"the same command resumes from the chunks of {out} completed so far"
    _files.NOTES.append(note)  # on the one line a Ctrl-C prints (quidam_fast.cli.main), should it come here
    try:
        with _progress(points, quiet) as update, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AccuracyCoverageWarning)
            reductions = qf.evaluate_to_store(network, space, out, technology, per_layer=per_layer, objective=objective,
                                              memory=memory, pareto=pareto, reduce_only=reduce_only, overwrite=overwrite,
                                              accuracy=table, workers=workers, scheduler=scheduler, progress=update)
    except BaseException as error:
        _files.NOTES.remove(note)
        if isinstance(error, KeyboardInterrupt):  # the interrupt's one line says what is left at --out
            counts = qf.stream.unfinished_chunks(out)
            if counts is None:  # not started, or an --overwrite's earlier output put back
                _files.UNFINISHED.append(str(out))
            else:
                _files.WRITTEN.append(f"{out} ({counts[0]:,} of {counts[1]:,} chunks; the same command resumes it)")
        raise
    _files.NOTES.remove(note)
    for warning in caught:
        if issubclass(warning.category, AccuracyCoverageWarning):
            typer.echo(f"warning: {warning.message}", err=True)
    seconds = time.perf_counter() - started
    if int(reductions["valid_points"].sum()) == 0:
        counts = dict(zip((int(c) for c in reductions["reason"].values), (int(n) for n in reductions["invalid_points"].values)))
        parts = [f"{INVALID_REASONS[code]}: {count:,}" for code, count in
                 sorted(counts.items(), key=lambda pair: -pair[1]) if count]
        raise QuidamInputError(f"no design point is valid; of {points:,} points, {'; '.join(parts)}; "
                               f"change the space or the technology (the store {str(out)!r} keeps them)")
    chunks, resumed = int(reductions.attrs["chunks"]), int(reductions.attrs.get("resumed_chunks", 0))
    evaluated = f"{chunks - resumed:,} of {chunks:,} chunks (the others were complete: resumed)" if resumed else f"{chunks:,} chunks"
    typer.echo(f"evaluated {points:,} points x {layers} layers in {evaluated} in {seconds:.2f} s "
               f"({_rate(points / seconds)}); wrote {out}", err=True)
    if qf.stream.fits_in_memory(out, memory):
        needed = [*REPORT_VARIABLES, *(c.variable for c in constraints)]
        text = qf.report(qf.open_result(out, variables=needed), where=constraints).to_text()
    else:
        if constraints:
            typer.echo("note: --where is not applied to a result too large to read back (or --reduce-only); "
                       f"the report below is from the reductions; quidam-fast report {out} --where ... on a subset", err=True)
        text = qf.stream.reductions_text(reductions)
    typer.echo(text)


def _check_stream_options(out: Path, memory, pareto, reduce_only, workers, scheduler) -> None:
    """Options of a streamed run: values checked, and refused with ``.nc`` (built in memory, at once)."""
    if workers is not None and workers < 1:
        raise QuidamInputError(f"--workers {workers} is not allowed; give 1 or more worker processes")
    given = [name for name, value in (("--memory", memory), ("--pareto", pareto), ("--reduce-only", reduce_only),
                                      ("--workers", workers), ("--scheduler", scheduler)) if value]
    if out.suffix != ".zarr" and given:
        raise QuidamInputError(f"{given[0]} streams the run into a zarr store; give --out NAME.zarr (a .nc file is "
                               "built in memory at once)")
    if memory is not None:
        parse_memory(memory)
    if pareto is not None:
        parse_objectives(pareto)


def _check_fits_in_memory(points: int, out: Path) -> None:
    """A .nc result is built in memory: refuse a space too large for it, with the way out."""
    needed = points * _ARRAYS_PER_POINT * 8
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return
    if needed > 0.8 * available:
        raise QuidamInputError(
            f"--out {str(out)!r}: {points:,} design points need about {needed / 2**30:.1f} GiB in memory, more than this "
            f"machine's {available / 2**30:.1f} GiB allow for a .nc file; write a zarr store instead (--out "
            f"{out.with_suffix('.zarr').name}), which is evaluated in chunks within --memory")


def _rate(points_per_s: float) -> str:
    """Points per second in units that keep three significant digits (a small space is not '0.00 M')."""
    for scale, prefix in ((1e6, "M "), (1e3, "k ")):
        if points_per_s >= scale:
            return f"{points_per_s / scale:.3g} {prefix}points/s"
    return f"{points_per_s:.3g} points/s"


def _check_out(out: Path, overwrite: bool = False) -> None:
    """Refuse an output path that cannot be written, or whose replacement would destroy something else
    (an existing .nc without ``overwrite``; an existing store is for :func:`quidam_fast.evaluate_to_store`
    to resume or refuse)."""
    if out.suffix not in OUTPUT_SUFFIXES:
        raise QuidamInputError(f"--out {str(out)!r}: unknown suffix {out.suffix!r}; allowed: {', '.join(OUTPUT_SUFFIXES)}")
    # first (a name too long makes every later look at the path fail): the folder exists and takes files
    # (a probe file: read-only mounts, /proc), the name fits beside its temporary, no folder, file or
    # device is in the way; stale temporaries of a killed run are removed
    check_output_path(out, "--out", store=out.suffix == ".zarr")
    if out.suffix == ".nc" and out.exists() and not overwrite:
        raise QuidamInputError(f"--out {str(out)!r} exists; it is not replaced without --overwrite (or choose another --out)")
    if out.suffix == ".zarr":
        if out.is_dir() and any(out.iterdir()) and not any((out / name).exists() for name in _ZARR_MARKERS):
            raise QuidamInputError(f"--out {str(out)!r} is an existing folder that is not a zarr store; "
                                   "it would be replaced: remove it or choose another name")
        try:
            import zarr  # noqa: F401
        except ImportError:
            raise QuidamInputError("--out *.zarr needs the zarr package (pip install zarr); use .nc otherwise") from None


def _require_a_valid_point(results) -> None:
    """A space without one valid point has nothing to summarize: say why, per invalid reason."""
    if bool(results.valid.any()):
        return
    reason = results.invalid_reason
    meanings = dict(zip((int(code) for code in reason.attrs["flag_values"]), reason.attrs["flag_meanings"].split()))
    codes, counts = np.unique(reason.values, return_counts=True)
    parts = [f"{meanings.get(int(code), f'reason {int(code)}').replace('_', ' ')}: {count:,}"
             for code, count in sorted(zip(codes, counts), key=lambda pair: -pair[1])]
    raise QuidamInputError(f"no design point is valid; of {reason.size:,} points, {'; '.join(parts)}; "
                           "change the space or the technology")


def _write(results, out: Path) -> None:
    """Write atomically (:mod:`quidam_fast._files`): no partial output is ever left at ``out``.

    ``.nc`` is built in memory, then written to a temporary sibling and renamed into place (a full disk
    is one error line, not a crash inside HDF5). A ``.zarr`` store is built in a temporary sibling
    folder and exchanged with the old store in one step, so ``out`` is never missing; the old store
    is removed only then. A failed write leaves an earlier ``out`` as it was.

    Either holds the stored variables only, compressed and chunked (:func:`quidam_fast.results.file_encoding`);
    :func:`quidam_fast.open_result` recomputes the derived ones.
    """
    stored, encoding = file_encoding(results, "nc" if out.suffix == ".nc" else "zarr")
    if out.suffix == ".nc":
        write_netcdf_atomically(stored, out, "--out", encoding=encoding)
    else:
        # Zarr format 2: its string dtypes and consolidated metadata are in the spec, so any zarr
        # reader opens the store; format 3 warns that both are not (zarr 3.1, UnstableSpecificationWarning).
        write_store_atomically(lambda temporary: stored.to_zarr(temporary, mode="w", zarr_format=2, encoding=encoding),
                               out, "--out")


@contextlib.contextmanager
def _progress(total: int, quiet: bool):
    """The evaluation's progress (points, points/s, time left) on stderr, on a terminal only; yields the
    ``progress(done, total)`` callback :func:`quidam_fast.evaluate` takes."""
    with bar("evaluating", total, "points", quiet) as shown:
        yield shown.update


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _help() -> str:
    """``grid --help``: the default space's axes and values are read from
    :data:`quidam_fast.space.DEFAULT_AXES`, so the help never disagrees with the code."""
    from quidam_fast.space import AXES, DEFAULT_AXES

    width = max(len(f"{name} ({AXES[name][0]})") for name in DEFAULT_AXES)
    rows = [f"  {(f'{name} ({AXES[name][0]})' if AXES[name][0] else name):<{width}}  "
            + ", ".join(_value(v) for v in values) for name, values in DEFAULT_AXES.items()]
    points = math.prod(len(values) for values in DEFAULT_AXES.values())
    return "\n\n".join([
        "Evaluate every design point of a space on a network, save the dataset (--out) and print its report.",
        f"Without --spec, the space is the embedded default, {points:,} design points: every combination of "
        "these axes' values (a spec's [space] table sets any axis; the axes it leaves out keep these values):",
        "\b\n" + "\n".join(rows),  # \b: click keeps these lines as they are
        "The report (stdout; progress and timings go to stderr) gives, for performance per area "
        "(inferences/s/mm2, higher is better) and energy per inference (mJ, lower is better): the best "
        "design of each PE type; the spread, best/worst over the valid designs, which says how much the "
        "choice of design matters; the best design of each PE type and precision as a factor over the best "
        "int 16-bit design (QUIDAM's baseline), with the direction in words (2.00x higher, 3.00x less), and "
        "the accuracy of each side where the accuracy table covers the network; and how many designs are on "
        "the Pareto front of the two. --where restricts the report; the dataset keeps every point. "
        "quidam-fast report, pareto, plot and export answer more from the saved file.",
    ])


grid.__doc__ = _help()
