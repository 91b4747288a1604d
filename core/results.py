"""Reading result files back: a ``.nc`` (netCDF) or ``.zarr`` store as ``quidam-fast grid`` writes them.

Every way the read can fail because of the file (missing, a folder or a file of the wrong kind,
truncated, corrupt, another program's dataset) becomes one :class:`~quidam_fast.errors.QuidamInputError`
naming the file, never a traceback from the file libraries.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import QuidamInputError

#: What ``open_result`` reads: the suffixes ``quidam-fast grid --out`` writes.
RESULT_SUFFIXES = (".nc", ".zarr")
#: ``attrs["producer"]`` of every result (set by :func:`quidam_fast.evaluate`).
PRODUCER_PREFIX = "quidam_fast"

# The exceptions h5py, h5netcdf, zarr and xarray's decoders raise on a bad file (they differ by
# library and version: a truncated HDF5 file is an OSError, a corrupt zarr array a ValueError or
# KeyError, an undecodable attribute a TypeError or RuntimeError).
_FILE_ERRORS = (OSError, ValueError, KeyError, RuntimeError, TypeError, IndexError, AttributeError)


def open_result(path: str | Path, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Read a result file into memory, checking that it is one.

    Parameters
    ----------
    path
        A ``.nc`` file or ``.zarr`` store written by ``quidam-fast grid`` (or by ``Dataset.to_netcdf`` /
        ``to_zarr`` on a result of :func:`quidam_fast.evaluate`).
    variables
        Read only these data variables (with ``valid`` and every coordinate); names the file lacks are
        left out, for the caller's checks to name (e.g. :func:`quidam_fast.analysis.select`'s). Default:
        every variable. ``quidam-fast report`` reads the few it needs of a default result's forty.

    Returns
    -------
    xarray.Dataset
        The result, loaded (the file is closed again).

    Raises
    ------
    QuidamInputError
        One line naming the file: missing, not a .nc or .zarr, unreadable, truncated or corrupt, or not
        a quidam-fast result (no ``producer`` attribute from quidam_fast, no boolean ``valid``
        variable, or a design dim without coordinate values).

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
    try:
        opened = xr.open_dataset(path, engine="h5netcdf") if path.suffix == ".nc" else xr.open_zarr(path, consolidated=None)
    except _FILE_ERRORS as error:
        raise QuidamInputError(f"result file {name!r} cannot be read (truncated, corrupt or not {kind}): "
                               f"{_first_line(error)}") from None
    try:
        _check_result(opened, name)  # on the metadata: nothing large is read for a file that is not a result
        if variables is not None:
            opened = opened[["valid"] + [v for v in dict.fromkeys(variables) if v in opened.data_vars and v != "valid"]]
        return opened.load()
    except QuidamInputError:
        raise
    except _FILE_ERRORS as error:  # a truncated or corrupt variable shows only when its data are read
        raise QuidamInputError(f"result file {name!r} cannot be read (truncated, corrupt or not {kind}): "
                               f"{_first_line(error)}") from None
    finally:
        opened.close()


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _check_result(ds: xr.Dataset, name: str) -> None:
    """Refuse a readable dataset that is not a quidam-fast result."""
    producer = str(ds.attrs.get("producer", ""))
    if not producer.startswith(PRODUCER_PREFIX):
        raise QuidamInputError(f"result file {name!r} is not a quidam-fast result (attribute producer = "
                               f"{producer or 'absent'!r}; results from quidam-fast grid have 'quidam_fast.evaluate')")
    if "valid" not in ds.data_vars or ds["valid"].dtype != np.bool_ or ds["valid"].ndim == 0:
        raise QuidamInputError(f"result file {name!r} is not a complete quidam-fast result: it has no boolean "
                               "'valid' variable over the design dims")
    bare = [d for d in ds["valid"].dims if d not in ds.coords]
    if bare:
        raise QuidamInputError(f"result file {name!r} is not a complete quidam-fast result: design dims "
                               f"{', '.join(bare)} have no coordinate values")
