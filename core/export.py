"""Result datasets as flat tables: one row per selected design point, written as CSV or Parquet.

A table has the design axes' values first, then the variables defined per design point (network
totals such as ``energy_per_inference_j``, and variables on a subset of the axes such as ``accuracy``,
on ``(pe_type, bits)``, repeated on every point they cover). Per-layer variables (``layer_*``, on the
``layer`` dimension) have no single value per point and are left out.

**Column names carry units**, one rule for every column: ``NAME [UNITS]``, where ``NAME`` is the
axis or variable name (the vocabulary of ``--where``, ``--columns`` and Python) and ``UNITS`` its
``units`` attribute (the axis unit for axes, :data:`quidam_fast.space.AXES`); dimensionless and
categorical columns (units ``""`` or ``"1"``: ``pe_type``, ``dataflow``, ``utilization``,
``accuracy``) are the bare name. E.g. ``bits [bit]``, ``glb_kib [KiB]``, ``area_mm2 [mm2]``,
``perf_per_area [1/(s mm2)]``, ``energy_per_inference_j [J]``. :func:`column_name` applies it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ._files import check_output_path, write_bytes_atomically
from .errors import QuidamInputError
from .space import AXES

TABLE_SUFFIXES = (".csv", ".parquet")

#: Bookkeeping variables left out of a table unless named in ``columns``: every exported point is
#: normally valid (``valid`` is all true, ``invalid_reason`` all "none").
_HIDDEN = ("valid", "invalid_reason")


def column_name(name: str, units: str | None) -> str:
    """The table column of axis or variable ``name`` with ``units``: ``"NAME [UNITS]"``, or the bare
    name when dimensionless (``""``, ``"1"`` or none).

    >>> column_name("area_mm2", "mm2"), column_name("utilization", "1"), column_name("pe_type", "")
    ('area_mm2 [mm2]', 'utilization', 'pe_type')
    """
    return name if units in (None, "", "1") else f"{name} [{units}]"


def _units(ds: xr.Dataset, name: str) -> str:
    """Units of a variable or axis: its ``units`` attribute, else the axis table's unit."""
    units = ds[name].attrs.get("units")
    if units is None and name in AXES:
        units = AXES[name][0]
    return str(units) if units is not None else ""


def _check_mask(ds: xr.Dataset, mask: xr.DataArray) -> tuple[str, ...]:
    """The design dims of ``mask`` (in the dataset's dimension order), after checking that it is a
    boolean array on dimensions and coordinates of ``ds``."""
    if not isinstance(mask, xr.DataArray) or mask.dtype != bool:
        raise QuidamInputError("mask must be a boolean xarray.DataArray (from quidam_fast.analysis.select or qf.pareto)")
    unknown = [d for d in mask.dims if d not in ds.dims]
    if unknown:
        raise QuidamInputError(f"mask dimension(s) {', '.join(map(repr, unknown))} are not dimensions of the dataset; "
                               f"allowed: {', '.join(map(str, ds.dims))}")
    for dim in mask.dims:
        if dim in ds.coords and dim in mask.coords and not np.array_equal(mask[dim].values, ds[dim].values):
            raise QuidamInputError(f"mask coordinate {dim!r} differs from the dataset's; compute the mask on this dataset")
        if mask.sizes[dim] != ds.sizes[dim]:
            raise QuidamInputError(f"mask has {mask.sizes[dim]} {dim!r} values, the dataset {ds.sizes[dim]}")
    return tuple(d for d in ds.dims if d in mask.dims)


def table_variables(ds: xr.Dataset, dims: tuple[str, ...]) -> list[str]:
    """Variables of ``ds`` with one value per design point of ``dims`` (their dims a non-empty subset
    of ``dims``), in the dataset's order; what a table may hold besides the axes."""
    return [name for name, var in ds.data_vars.items() if var.dims and set(var.dims) <= set(dims)]


def design_table(ds: xr.Dataset, mask: xr.DataArray, columns: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per ``True`` point of ``mask``: the design axes' values, then the variables.

    Parameters
    ----------
    ds : xarray.Dataset
        A result dataset (:func:`quidam_fast.evaluate`, :func:`quidam_fast.open_result`) or any
        dataset whose variables are on the mask's dimensions.
    mask : xarray.DataArray of bool
        Which design points become rows, on dimensions (and coordinates) of ``ds``; e.g.
        ``quidam_fast.analysis.select(ds, where)`` or ``qf.pareto(ds, objectives)``.
    columns : sequence of str, optional
        Variables to include after the axes, in this order (axis names given here are ignored: the
        axes are always there, they say which design a row is). Default: every variable with one
        value per design point except ``valid`` and ``invalid_reason``.

    Returns
    -------
    pandas.DataFrame
        Rows in the dataset's flat (C) order of the mask's dimensions, a fresh ``RangeIndex``. Columns
        are named ``NAME [UNITS]`` (see :func:`column_name`); string axes (``pe_type``, ``dataflow``)
        and flag variables (``invalid_reason``, as its meanings) are categoricals.

    Raises
    ------
    QuidamInputError
        A name in ``columns`` that is not such a variable (the message lists the allowed ones), or a
        mask that is not boolean on the dataset's dimensions.

    Notes
    -----
    Built by flat numpy indexing (:func:`numpy.flatnonzero` on the mask, one gather per column), never
    by stacking the dataset: a variable on every design dim in the dataset's order is read as
    ``values.ravel()[flat]``. Exporting every point of the 1.8 M-point default result is a few hundred
    MB of columns.

    Examples
    --------
    >>> import quidam_fast as qf
    >>> ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "bits": [8], "rows": [8, 16]})
    >>> frame = design_table(ds, ds.valid, columns=["area_mm2"])
    >>> list(frame.columns[:3]), list(frame.columns[-1:]), len(frame) == int(ds.valid.sum())
    (['pe_type', 'bits [bit]', 'rows [PE]'], ['area_mm2 [mm2]'], True)
    """
    dims = _check_mask(ds, mask)
    allowed = table_variables(ds, dims)
    if columns is None:
        names = [name for name in allowed if name not in _HIDDEN]
    else:
        names = []
        for name in columns:
            if name in dims:
                continue
            if name not in allowed:
                raise QuidamInputError(f"column {name!r} is not a variable with one value per design point; "
                                       f"allowed: {', '.join(allowed)}")
            if name not in names:
                names.append(name)
    shape = tuple(ds.sizes[d] for d in dims)
    flat = np.flatnonzero(np.asarray(mask.transpose(*dims).values).ravel())
    position = np.unravel_index(flat, shape) if flat.size else tuple(np.zeros(0, dtype=np.intp) for _ in dims)
    columns_data: list[tuple[str, object]] = []
    for axis, index in zip(dims, position):
        values = ds[axis].values if axis in ds.coords else np.arange(ds.sizes[axis])
        label = column_name(axis, _units(ds, axis) if axis in ds.coords else "")
        if values.dtype.kind in "UOS":
            columns_data.append((label, pd.Categorical.from_codes(index, categories=[str(v) for v in values])))
        else:
            columns_data.append((label, values[index]))
    for name in names:
        var = ds[name]
        if var.dims == dims:  # the common case: on every design dim, in order; one flat gather
            values = np.asarray(var.values).ravel()[flat]
        else:
            order = tuple(d for d in dims if d in var.dims)
            values = np.asarray(var.transpose(*order).values)[tuple(position[dims.index(d)] for d in order)]
        if "flag_values" in var.attrs and "flag_meanings" in var.attrs:
            values = _flag_meanings(values, var.attrs["flag_values"], str(var.attrs["flag_meanings"]).split())
        columns_data.append((column_name(name, _units(ds, name)), values))
    return _frame(columns_data, flat.size)


def _frame(columns: list[tuple[str, object]], rows: int) -> pd.DataFrame:
    """A DataFrame of ``columns`` in order, its float64 columns handed to pandas as one 2-D block.

    A dict of 40 float columns makes pandas copy them into one block (consolidation): on the 1.28 M
    valid points of the default result that copy was 2.0 of the table's 3.6 s. Stacking them here,
    once, into the block's own layout (a row per column) leaves pandas nothing to copy; the other
    columns (categoricals, integers) are inserted at their places.
    """
    floats = [i for i, (_, values) in enumerate(columns) if isinstance(values, np.ndarray) and values.dtype == np.float64]
    block = np.empty((len(floats), rows))
    for row, i in enumerate(floats):
        block[row] = columns[i][1]
    frame = pd.DataFrame(block.T, columns=[columns[i][0] for i in floats], copy=False)
    for i, (label, values) in enumerate(columns):
        if i not in floats:
            frame.insert(i, label, values)
    return frame


def _flag_meanings(values: np.ndarray, flag_values, meanings: list[str]) -> pd.Categorical:
    """CF flag codes -> a categorical of their meanings (a code without one becomes missing)."""
    codes = np.atleast_1d(np.asarray(flag_values)).astype(np.int64)
    order = np.argsort(codes)
    where = np.clip(np.searchsorted(codes[order], values), 0, codes.size - 1)
    known = codes[order][where] == values
    return pd.Categorical.from_codes(np.where(known, order[where], -1), categories=meanings)


def check_table_path(path: str | Path, option: str = "--out") -> Path:
    """Refuse, before any work, a table path that :func:`write_table` could not write.

    Checks the suffix (``.csv`` or ``.parquet``), then what every output is checked for
    (:func:`quidam_fast._files.check_output_path`: the folder exists and takes files, the path is not a
    folder), and that pyarrow is there for Parquet. ``option`` names the path in messages. Returns the
    path.

    >>> check_table_path("front.xlsx")
    Traceback (most recent call last):
    ...
    quidam_fast.errors.QuidamInputError: --out 'front.xlsx': unknown suffix '.xlsx'; allowed: .csv, .parquet
    """
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise QuidamInputError(f"{option} {str(path)!r}: unknown suffix {path.suffix!r}; allowed: {', '.join(TABLE_SUFFIXES)}")
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise QuidamInputError(f"{option} {str(path)!r}: Parquet needs pyarrow (pip install pyarrow); use .csv otherwise") from None
    return check_output_path(path, option)


def table_bytes(frame: pd.DataFrame, suffix: str) -> bytes:
    """``frame`` as the bytes of a ``.csv`` (header row, no index column, UTF-8) or ``.parquet`` file
    (pyarrow; categoricals as dictionary columns)."""
    if suffix.lower() == ".csv":
        return frame.to_csv(index=False).encode("utf-8")
    return frame.to_parquet(None, engine="pyarrow", index=False)


def write_table(frame: pd.DataFrame, path: str | Path, option: str = "--out") -> None:
    """Write ``frame`` to ``path`` as CSV or Parquet (by suffix), atomically.

    The table is encoded in memory (:func:`table_bytes`; a CSV of every point of the 1.8 M-point
    default result is about 0.8 GB, so select first), written to a temporary sibling and renamed over
    ``path`` (:func:`quidam_fast._files.write_bytes_atomically`); on any failure, ``KeyboardInterrupt``
    included, the temporary file is removed and ``path`` is left as it was.

    Raises
    ------
    QuidamInputError
        An unknown suffix, a missing or unwritable folder (checked first, :func:`check_table_path`),
        or an ``OSError`` while writing (a full disk), naming ``path``.
    """
    path = check_table_path(path, option)
    data = table_bytes(frame, path.suffix)
    try:
        write_bytes_atomically(path, data)
    except OSError as error:
        raise QuidamInputError(f"{option} {str(path)!r}: cannot write ({error.strerror or error})") from None
