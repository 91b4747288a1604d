"""Reading result files back: a ``.nc`` (netCDF) or ``.zarr`` store as ``quidam-fast grid`` writes them.

Every way the read can fail because of the file (missing, a folder or a file of the wrong kind,
truncated, corrupt, another program's dataset) becomes one :class:`~quidam_fast.errors.QuidamInputError`
naming the file, never a traceback from the file libraries. A readable file is checked as a whole
before anything is computed from it: its schema (the variables the engine writes: numbers over the
design dims, in the engine's units; axis coordinates with allowed, distinct labels; no empty dims) from
the metadata, then the values it is read for (finite, non-negative energies, areas, counts and times at
valid points, fractions in [0, 1], cycles at least MACs / PEs), so a result edited or damaged outside
the tool is refused rather than reported with impossible numbers.

Files hold the variables :data:`quidam_fast.outputs.OUTPUTS` marks as stored, in its disk types,
compressed and chunked (:func:`file_encoding`); :func:`open_result` recomputes the others from them
and returns every variable in its in-memory type, so a result read back is the one ``evaluate``
returned: the float32 ones (energies, per-layer utilization) and what is derived from them within a few
2**-24 = 6e-8 relative, every other value bit for bit. A file that holds derived
variables too (``Dataset.to_netcdf`` of a whole result, or a file written before this) is read as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from . import outputs
from ._files import read_with_file_library
from .errors import QuidamInputError

#: What ``open_result`` reads: the suffixes ``quidam-fast grid --out`` writes.
RESULT_SUFFIXES = (".nc", ".zarr")
#: ``attrs["producer"]`` of every result (set by :func:`quidam_fast.evaluate`).
PRODUCER_PREFIX = "quidam_fast"


def _result_units() -> dict[str, str]:
    """Every data variable :func:`quidam_fast.evaluate` and the accuracy join write, with its units.

    The engine's come from its table of outputs (:data:`quidam_fast.outputs.OUTPUTS`).
    ``tests/test_fuzz.py`` checks that this equals the variables and units of a fresh evaluation.
    """
    units = {output.name: output.units for output in outputs.OUTPUTS}
    units.update({"accuracy": "1", "accuracy_std": "1", "accuracy_seeds": "1"})  # quidam_fast.accuracy.attach_accuracy
    return units


def _coordinate_units(ds: xr.Dataset) -> dict[str, str]:
    """The units the engine writes on the non-axis coordinates ``ds`` has: the layer table
    (``layer_N`` ... ``layer_groups``, ``layer_macs``, ``layer_name``), the networks' sizes, and
    ``layer`` itself (names, ``""``, for one network; positions, ``"1"``, along a network dimension)."""
    from .workloads import LAYER_COLUMNS

    units = {f"layer_{column}": "1" for column in LAYER_COLUMNS}
    units.update(layer_macs="MAC", layer_name="", network_layers="1", network_macs="MAC", network_params="1")
    if "layer" in ds.coords:
        units["layer"] = "1" if ds["layer"].dtype.kind in "iu" else ""
    return {name: unit for name, unit in units.items() if name in ds.coords}


#: The largest value a result may hold at a valid point: far beyond any figure a design can have (a
#: layer's MACs are bounded at 2^45, quidam_fast.workloads.MAX_COUNT), far below float64's overflow
#: (1.8e308) in the sums, products and ratios the analysis takes.
MAX_RESULT_VALUE = 1e200
#: Result variables whose valid points must be > 0, not only >= 0 (a design takes time and area).
_POSITIVE = ("cycles", "latency_s", "throughput_ips", "perf_per_area", "area_mm2", "area_pe_array_mm2", "energy_pj",
             "energy_per_inference_j", "edp", "macs")
#: Fractions: in [0, 1] at valid points (the accuracy ones NaN where the table has no cell).
_FRACTIONS = ("utilization", "layer_utilization", "accuracy", "accuracy_std")


def open_result(path: str | Path, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Read a result file into memory, checking that it is one.

    Parameters
    ----------
    path
        A ``.nc`` file or ``.zarr`` store written by ``quidam-fast grid`` (or by ``Dataset.to_netcdf`` /
        ``to_zarr`` on a result of :func:`quidam_fast.evaluate`).
    variables
        Read only these data variables (with ``valid`` and every coordinate); names the file lacks and
        cannot be computed from are left out, for the caller's checks to name (e.g.
        :func:`quidam_fast.analysis.select`'s). Default: every variable. ``quidam-fast report`` reads the
        few it needs of a default result's forty.

    Returns
    -------
    xarray.Dataset
        The result, loaded (the file is closed again): the variables the file holds, in their in-memory
        types (:data:`quidam_fast.outputs.OUTPUTS`' ``dtype``), and the derived ones it lacks, computed
        from them.

    Raises
    ------
    QuidamInputError
        One line naming the file: missing, not a .nc or .zarr, unreadable, truncated or corrupt, not
        a quidam-fast result (no ``producer`` attribute from quidam_fast, no boolean ``valid``
        variable, or a design dim without coordinate values), a schema the engine does not write (a
        variable of other dims, dtype or units; bad or repeated axis labels; an empty dim), or a value
        no design can have at a valid point of a variable read.

    >>> open_result("missing.nc")
    Traceback (most recent call last):
    ...
    quidam_fast.errors.QuidamInputError: result file 'missing.nc' does not exist
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise QuidamInputError(f"result file {name!r} does not exist")
    if path.suffix not in RESULT_SUFFIXES:
        raise QuidamInputError(f"result file {name!r}: unknown suffix {path.suffix!r}; allowed: {', '.join(RESULT_SUFFIXES)} "
                               "(as written by quidam-fast grid --out)")
    if path.suffix == ".nc" and path.is_dir():
        raise QuidamInputError(f"result file {name!r} is a folder, not a netCDF file")
    if path.suffix == ".zarr" and not path.is_dir():
        raise QuidamInputError(f"result file {name!r} is a file, not a zarr store (a folder)")
    kind = "netCDF" if path.suffix == ".nc" else "zarr"
    if path.suffix == ".zarr":
        from .stream import unreadable_store  # (stream imports this module)

        why = unreadable_store(path)
        if why is not None:
            raise QuidamInputError(f"result file {name!r} is {why}")

    def read() -> xr.Dataset:
        opened = xr.open_dataset(path, engine="h5netcdf") if path.suffix == ".nc" else xr.open_zarr(path, consolidated=None)
        try:
            _check_result(opened, name)  # on the metadata: nothing large is read for a file that is not a result
            if variables is not None:  # and what the derived ones among them are computed from
                wanted = outputs.needed(variables)
                opened = opened[["valid"] + [v for v in opened.data_vars if v in wanted and v != "valid"]]
            return opened.load()  # a truncated or corrupt variable shows only when its data are read
        finally:
            opened.close()

    loaded, reason = read_with_file_library(read)
    if reason is not None:
        raise QuidamInputError(f"result file {name!r} cannot be read (truncated, corrupt or not {kind}): {_first_line(reason)}")
    loaded = _in_memory_types(loaded)
    _check_values(loaded, name)  # the stored variables, before anything is computed from them
    read_from_file = set(loaded.data_vars)
    loaded = outputs.add_derived(loaded, variables)
    if variables is not None:
        loaded = loaded[["valid"] + [v for v in dict.fromkeys(variables) if v in loaded.data_vars and v != "valid"]]
    computed = [v for v in loaded.data_vars if v not in read_from_file]
    if computed:  # from values checked above, but a ratio of two allowed values may still be none a design has
        _check_values(loaded[["valid", *computed]], name)
    return _in_table_order(loaded)


def _in_memory_types(ds: xr.Dataset) -> xr.Dataset:
    """The table's variables widened back to their in-memory types (a float32 energy to float64: exact)."""
    widen = {name: ds[name].astype(outputs.BY_NAME[name].dtype) for name in ds.data_vars
             if name in outputs.BY_NAME and ds[name].dtype.kind == "f" and ds[name].dtype != outputs.BY_NAME[name].dtype}
    return ds.assign(widen) if widen else ds


def _in_table_order(ds: xr.Dataset) -> xr.Dataset:
    """Data variables in :data:`~quidam_fast.outputs.OUTPUTS`' order (as ``evaluate`` returns them),
    then the others (accuracy) in the file's order."""
    order = [o.name for o in outputs.OUTPUTS if o.name in ds.data_vars]
    order += [name for name in ds.data_vars if name not in outputs.BY_NAME]
    return ds if order == list(ds.data_vars) else ds[order]


#: Elements per chunk of a result variable in files: about 2 MiB of float64 (see :func:`file_encoding`).
CHUNK_ELEMENTS = 1 << 18
#: netCDF filters: shuffle + zlib level 1. Measured on the default result (bench/bench_grid_pipeline.py):
#: level 1 is within 7 % of level 4's size at two thirds of its time; h5py's lzf, faster still, left a
#: file 1.6x larger; shuffle (bytes grouped by significance) gains 5-40 % on the kernel's columns.
NETCDF_FILTERS = {"zlib": True, "complevel": 1, "shuffle": True}
#: zarr's compressor: zstd level 1, no shuffle. Measured on the stored variables of ``grid --network
#: resnet18`` (one core): 6.8 MB in 0.31 s, where zarr's default (blosc lz4, shuffle) gave 14.5 MB in
#: 0.16 s and netCDF's zlib 1 + shuffle 8.9 MB in 0.79 s; the codec ``numcodecs.Zstd`` every zarr reader has.
ZARR_COMPRESSOR_LEVEL = 1


def file_chunks(dims: tuple[str, ...], shape: tuple[int, ...], target: int = CHUNK_ELEMENTS) -> tuple[int, ...]:
    """A chunk shape for a result variable: whole along the trailing dims, as many as fit in ``target``
    elements, then part of the next one, 1 along the rest.

    The trailing axes (the scratchpads, ``glb_kib``, ``dataflow``, ``batch``, ``dram_gbps``,
    ``clock_mhz``, and ``layer``) are the ones along which values repeat (a systolic design's counts do
    not depend on its scratchpads; areas on bandwidth or clock): inside one chunk, the compressor sees
    the repeats.

    >>> file_chunks(("rows", "cols", "clock_mhz"), (64, 8, 3), target=100)
    (4, 8, 3)
    """
    chunks = [1] * len(shape)
    inside = 1
    for axis in range(len(shape) - 1, -1, -1):
        if inside * shape[axis] <= target:
            chunks[axis] = shape[axis]
            inside *= shape[axis]
        else:
            chunks[axis] = max(1, target // inside)
            break
    return tuple(chunks)


def file_encoding(ds: xr.Dataset, kind: str) -> tuple[xr.Dataset, dict]:
    """What a result file holds, and how: ``ds`` without the variables recomputed on load, and the
    encoding (disk type, chunks, compression) of each variable, for ``to_netcdf`` (``kind`` ``"nc"``,
    engine h5netcdf) or ``to_zarr`` (``"zarr"``, zarr format 2, zstd).

    >>> import quidam_fast as qf
    >>> stored, encoding = file_encoding(qf.evaluate("alexnet", {"rows": [8, 16]}), "nc")
    >>> "perf_per_area" in stored, encoding["energy_mac_pj"]["dtype"], encoding["cycles"]["dtype"]
    (False, 'float32', 'float64')
    """
    stored = ds.drop_vars([o.name for o in outputs.OUTPUTS if not o.stored and o.name in ds.data_vars])
    if kind == "zarr":
        import numcodecs  # zarr's own dependency

        compressor = {"compressors": (numcodecs.Zstd(level=ZARR_COMPRESSOR_LEVEL),)}
    encoding = {}
    for name, variable in stored.data_vars.items():
        entry = {}
        if name in outputs.BY_NAME:
            entry["dtype"] = outputs.BY_NAME[name].disk_dtype
        if variable.ndim:
            chunks = file_chunks(variable.dims, variable.shape)
            entry.update({"chunksizes": chunks, **NETCDF_FILTERS} if kind == "nc" else {"chunks": chunks, **compressor})
        encoding[name] = entry
    return stored, encoding


def _first_line(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_result(ds: xr.Dataset, name: str) -> None:
    """Refuse a readable dataset that is not a whole quidam-fast result, from its metadata alone.

    The producer attribute; a boolean ``valid`` over design dims (the axes of
    :data:`~quidam_fast.space.AXES`, and ``network``) that all have labels; every axis coordinate
    (dimension or scalar) holding allowed, distinct values (:func:`quidam_fast.space._validate_axis`,
    the spec's own check); and every variable the engine writes holding numbers over those dims (and
    ``layer``) with the engine's units. Variables the tool does not know are left as they are.
    """
    from .space import AXES, _validate_axis

    producer = ds.attrs.get("producer", "")
    producer = producer if isinstance(producer, str) else repr(producer)
    if not producer.startswith(PRODUCER_PREFIX):
        raise QuidamInputError(f"result file {name!r} is not a quidam-fast result (attribute producer = "
                               f"{producer or 'absent'!r}; results from quidam-fast grid have 'quidam_fast.evaluate')")
    if "valid" not in ds.data_vars or ds["valid"].dtype != np.bool_ or ds["valid"].ndim == 0:
        raise QuidamInputError(f"result file {name!r} is not a complete quidam-fast result: it has no boolean "
                               "'valid' variable over the design dims")
    design = ds["valid"].dims
    bare = [d for d in design if d not in ds.coords]
    if bare:
        raise QuidamInputError(f"result file {name!r} is not a complete quidam-fast result: design dims "
                               f"{', '.join(bare)} have no coordinate values")
    stray = [d for d in design if d not in AXES and d != "network"]
    if stray:
        raise QuidamInputError(f"result file {name!r}: 'valid' has dimension {stray[0]!r}, which is no design axis; "
                               f"allowed: network, {', '.join(AXES)}")
    empty = [d for d, size in ds.sizes.items() if size == 0]
    if empty:
        raise QuidamInputError(f"result file {name!r}: dimension {empty[0]!r} has no labels (size 0); a result has at "
                               "least one value along every dimension")
    for axis in [a for a in (*AXES, "network") if a in ds.coords]:
        labels = ds[axis]
        if labels.dims not in ((), (axis,)):
            raise QuidamInputError(f"result file {name!r}: coordinate {axis!r} has dimensions {tuple(labels.dims)}; "
                                   f"it must be one-dimensional along {axis!r} (or a scalar)")
        values = np.atleast_1d(labels.values).tolist()
        if axis == "network":
            if not all(isinstance(v, str) and v for v in values) or len(set(values)) != len(values):
                raise QuidamInputError(f"result file {name!r}: coordinate 'network' holds {values[:4]!r}; it must hold "
                                       "distinct network names")
            if labels.attrs.get("units") != "":
                raise QuidamInputError(f"result file {name!r}: coordinate 'network' has units "
                                       f"{labels.attrs.get('units', 'absent')!r}; network names have units ''")
            continue
        _validate_axis(axis, values, f"result file {name!r}, coordinate")
        if labels.attrs.get("units") != AXES[axis][0]:
            raise QuidamInputError(f"result file {name!r}: coordinate {axis!r} has units {labels.attrs.get('units', 'absent')!r}; "
                                   f"a result's {axis} is in {AXES[axis][0]!r}")
    for coordinate, units in _coordinate_units(ds).items():
        labels = ds[coordinate]
        if labels.attrs.get("units") != units:
            raise QuidamInputError(f"result file {name!r}: coordinate {coordinate!r} has units "
                                   f"{labels.attrs.get('units', 'absent')!r}; the engine writes it in {units!r}")
        if coordinate not in ("layer", "layer_name") and labels.dtype.kind not in "iu":
            raise QuidamInputError(f"result file {name!r}: coordinate {coordinate!r} holds {labels.dtype} values; "
                                   "it must hold integers")
    allowed_dims = set(design) | {"layer"}
    for variable_name, units in _result_units().items():
        if variable_name not in ds.data_vars or variable_name == "valid":
            continue
        variable = ds[variable_name]
        if not set(variable.dims) <= allowed_dims or ("layer" in variable.dims) != variable_name.startswith("layer_"):
            raise QuidamInputError(
                f"result file {name!r}: variable {variable_name!r} has dimensions {tuple(variable.dims)}; a result's "
                f"variables span its design dims {tuple(design)}" + (" and 'layer'" if variable_name.startswith("layer_") else ""))
        if variable.dtype.kind not in "fiu":
            raise QuidamInputError(f"result file {name!r}: variable {variable_name!r} holds {variable.dtype} values; "
                                   "it must hold numbers")
        if variable.attrs.get("units") != units:
            raise QuidamInputError(f"result file {name!r}: variable {variable_name!r} has units "
                                   f"{variable.attrs.get('units', 'absent')!r}; the engine writes {variable_name} in {units!r}")


def _check_values(ds: xr.Dataset, name: str) -> None:
    """Refuse values no design can have, at the valid points of the variables read: NaN, infinite or
    negative energies, areas, counts and times (zero where a design needs some), utilization or
    accuracy outside [0, 1], cycles below MACs / PEs, and ``valid`` that disagrees with
    ``invalid_reason``. Per-layer variables may be NaN (past a network's last layer; the row-stationary
    mapping of other dataflows), and the accuracy ones NaN where the table has no cell."""
    valid = ds["valid"]
    if "invalid_reason" in ds.data_vars and set(ds["invalid_reason"].dims) == set(valid.dims):
        if not bool(((ds["invalid_reason"] == 0) == valid).all()):
            raise QuidamInputError(f"result file {name!r}: variable 'valid' disagrees with 'invalid_reason' "
                                   "(valid exactly where the reason is 0)")
    if not bool(valid.any()):
        return
    units = _result_units()
    masks: dict[tuple, np.ndarray] = {}  # the valid points in each variable's dims (one per dims tuple)
    for variable_name in ds.data_vars:
        if variable_name not in units or variable_name in ("valid", "invalid_reason"):
            continue
        variable = ds[variable_name]
        if variable.dims not in masks:
            masks[variable.dims] = (valid.broadcast_like(variable).transpose(*variable.dims).values
                                    if set(valid.dims) <= set(variable.dims) else np.ones(variable.shape, dtype=bool))
        mask = masks[variable.dims]
        values = np.asarray(variable.values, dtype=np.float64)[mask]
        nan_allowed = variable_name.startswith("layer_") or variable_name.startswith("accuracy")
        present = values[~np.isnan(values)] if nan_allowed else values
        if present.size == 0:
            continue
        low, high = float(present.min()), float(present.max())
        floor = 0.0 if variable_name not in _POSITIVE else math.ulp(0.0)
        ceiling = 1.0 if variable_name in _FRACTIONS else MAX_RESULT_VALUE
        if not (np.isfinite(low) and np.isfinite(high)) or low < floor or high > ceiling:
            what = (f"is NaN at {int(np.isnan(values).sum()):,} valid design points" if np.isnan(values).any() and not nan_allowed
                    else f"ranges from {low:g} to {high:g} at valid design points")
            allowed = ("a fraction in [0, 1]" if variable_name in _FRACTIONS else
                       f"{'positive' if floor > 0 else 'non-negative'} and finite (at most {MAX_RESULT_VALUE:g})")
            raise QuidamInputError(f"result file {name!r}: variable {variable_name!r} {what}; it must be {allowed} there")
    if all(v in ds.variables for v in ("cycles", "macs", "rows", "cols")):
        slack = (ds["cycles"] * ds["rows"] * ds["cols"] - ds["macs"] * (1 - 1e-12)).where(valid)
        if bool((slack < 0).any()):
            raise QuidamInputError(f"result file {name!r}: variable 'cycles' is below MACs / PEs at valid design points; "
                                   "no array does more than one MAC per PE per cycle")
