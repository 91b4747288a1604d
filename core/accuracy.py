"""Accuracy tables and their join onto hardware results (xarray only: this module never imports torch).

An accuracy table is an ``xr.Dataset`` with dims ``network, pe_type, bits, seed`` and a variable
``accuracy`` (fraction of the test set classified correctly, ``units = "1"``), as written by
``quidam-fast quant train`` (see :mod:`quidam_fast.quant.train`). The project ships one, trained on
Fashion-MNIST for the packaged networks ``lenet5_fmnist`` and ``vgg7_fmnist``
(``quant/data/accuracy.nc``; its command, runtime and gaps are in ``quant/data/accuracy.md``).

The join is by coordinate labels, never by position: a results dataset whose ``pe_type`` and ``bits``
coordinates come in any order, or as scalar or non-dimension coordinates, gets the accuracy of exactly
the cell each point names.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import QuidamInputError

#: Where the packaged table lives, inside the package ``quidam_fast.quant`` (whose ``__init__`` imports no torch).
PACKAGED_TABLE = ("quidam_fast.quant", "data/accuracy.nc")
_JOIN_COORDS = ("pe_type", "bits")


def load_accuracy_table(path: str | Path | None = None) -> xr.Dataset:
    """Read an accuracy table (netCDF); default: the packaged Fashion-MNIST table.

    Returns
    -------
    xr.Dataset
        ``accuracy`` (``network, pe_type, bits, seed``; fraction, units ``"1"``, NaN where no cell was
        trained) and whatever else the file holds (``train_s``, ``base_accuracy``, ...). ``attrs["source"]``
        names the file.

    Examples
    --------
    >>> table = load_accuracy_table()
    >>> sorted(table.accuracy.dims)
    ['bits', 'network', 'pe_type', 'seed']
    """
    if path is None:
        package, relative = PACKAGED_TABLE
        entry = resources.files(package).joinpath(relative)
        if not entry.is_file():
            raise QuidamInputError(
                "the packaged accuracy table is missing; regenerate it with the command in quant/data/accuracy.md "
                "(quidam-fast quant train -o quant/data/accuracy.nc)"
            )
        with resources.as_file(entry) as real:
            table = xr.load_dataset(real, engine="h5netcdf")
        table.attrs["source"] = "packaged table quidam_fast.quant/data/accuracy.nc"
    else:
        path = Path(path)
        if not path.is_file():
            raise QuidamInputError(f"accuracy table {str(path)!r} does not exist")
        try:
            table = xr.load_dataset(path, engine="h5netcdf")
        except (OSError, ValueError) as error:
            raise QuidamInputError(f"{path}: not a readable netCDF accuracy table ({error})") from None
        table.attrs["source"] = str(path)
    missing = [name for name in ("network", "pe_type", "bits") if name not in table.coords]
    if "accuracy" not in table.data_vars or missing:
        raise QuidamInputError(
            f"{table.attrs['source']}: not an accuracy table (needs an 'accuracy' variable and coordinates "
            f"network, pe_type, bits; missing {missing or ['accuracy']})"
        )
    return table


def attach_accuracy(results: xr.Dataset, table: xr.Dataset | None = None) -> xr.Dataset:
    """Add ``accuracy`` and ``accuracy_std`` to hardware ``results``, matched by coordinate labels.

    Parameters
    ----------
    results
        A results dataset with ``pe_type`` and ``bits`` coordinates (dimension, scalar or
        non-dimension coordinates) and ``attrs["network"]`` naming its network.
    table
        An accuracy table (see :func:`load_accuracy_table`); default: the packaged one.

    Returns
    -------
    xr.Dataset
        A copy of ``results`` with

        - ``accuracy`` -- mean over the table's seeds of the test accuracy of the network at each
          point's ``(pe_type, bits)``; a fraction in [0, 1], ``units = "1"``;
        - ``accuracy_std`` -- its sample standard deviation over seeds (``ddof = 1``), ``units = "1"``.

        Points whose ``(pe_type, bits)`` the table does not cover are NaN, and the variables' attrs
        list those cells (``missing``). A network the table does not cover gets neither variable: the
        results come back unchanged but for ``attrs["accuracy"]``, which says so.

    Examples
    --------
    >>> results = xr.Dataset(coords={"pe_type": ["int", "fp"], "bits": [8, 32]}, attrs={"network": "lenet5_fmnist"})
    >>> out = attach_accuracy(results)
    >>> bool(out.accuracy.sel(pe_type="int", bits=8) > 0.8), bool(np.isnan(out.accuracy.sel(pe_type="fp", bits=8)))
    (True, True)
    """
    if table is None:
        table = load_accuracy_table()
    out = results.copy()
    network = results.attrs.get("network")
    networks = [str(n) for n in table["network"].values]
    if network is None or str(network) not in networks:
        out.attrs["accuracy"] = (
            f"not attached: the accuracy table ({table.attrs.get('source', 'given')}) covers networks "
            f"{', '.join(networks)}, not {network!r}"
        )
        return out
    absent = [name for name in _JOIN_COORDS if name not in results.coords]
    if absent:
        raise QuidamInputError(f"results have no {' or '.join(absent)} coordinate to join the accuracy table on")

    cells = table["accuracy"].sel(network=str(network)).drop_vars("network")
    if "seed" in cells.dims:
        n_seeds = int(cells.sizes["seed"])
        mean = cells.mean("seed", skipna=True)
        std = cells.std("seed", ddof=1, skipna=True) if n_seeds > 1 else xr.full_like(mean, np.nan)
    else:
        n_seeds, mean, std = 1, cells, xr.full_like(cells, np.nan)

    # Every (pe_type, bits) pair the results contain, whatever the coordinates' shape.
    pe_type, bits = xr.broadcast(results["pe_type"], results["bits"])
    pairs = sorted({(str(p), int(b)) for p, b in zip(np.ravel(pe_type.values), np.ravel(bits.values))})
    wanted_pe = sorted({p for p, _ in pairs})
    wanted_bits = sorted({b for _, b in pairs})

    def grid(values: xr.DataArray) -> xr.DataArray:
        """The table's cells at the labels the results use, NaN where the table has none."""
        values = values.assign_coords(pe_type=values["pe_type"].astype(str), bits=values["bits"].astype(np.int64))
        return values.reindex(pe_type=wanted_pe, bits=wanted_bits)

    def pick(values: xr.DataArray) -> xr.DataArray:
        """Each point's cell, found by its own coordinate labels (vectorized, label to position)."""
        return values.isel(
            pe_type=_positions(wanted_pe, results["pe_type"], str),
            bits=_positions(wanted_bits, results["bits"], int),
        ).drop_vars(["pe_type", "bits"])

    mean, std = grid(mean), grid(std)
    missing = [f"{p}:{b}" for p, b in pairs if np.isnan(float(mean.sel(pe_type=p, bits=b)))]
    common = {
        "units": "1",
        "table": table.attrs.get("source", "given table"),
        "seeds": n_seeds,
        "missing": ("NaN at (pe_type:bits) " + ", ".join(missing) + ": not in the accuracy table") if missing else "none",
    }
    out["accuracy"] = pick(mean).assign_attrs(
        long_name=f"test accuracy of {network} (fraction), mean over {n_seeds} seeds", **common
    )
    out["accuracy_std"] = pick(std).assign_attrs(
        long_name=f"sample standard deviation (ddof=1) over {n_seeds} seeds of the test accuracy", **common
    )
    out.attrs["accuracy"] = f"attached from {common['table']}; missing cells: {common['missing']}"
    return out


def _positions(labels: list, coordinate: xr.DataArray, cast):
    """Positions in ``labels`` of each value of ``coordinate``: an int, or an ``xr.Variable`` of its shape."""
    index = {label: i for i, label in enumerate(labels)}
    if coordinate.ndim == 0:
        return index[cast(coordinate.item())]
    positions = np.array([index[cast(v)] for v in np.ravel(coordinate.values)], dtype=np.int64)
    return xr.Variable(coordinate.dims, positions.reshape(coordinate.shape))
