"""Accuracy tables and their join onto hardware results (xarray only: this module never imports torch).

An accuracy table is an ``xr.Dataset`` with dims ``network, pe_type, bits, seed`` and a variable
``accuracy`` (fraction of the test set classified correctly, ``units = "1"``), as written by
``quidam-fast quant train`` (see :mod:`quidam_fast.quant.train`). The project ships one, trained on
Fashion-MNIST for the packaged networks ``lenet5_fmnist`` and ``vgg7_fmnist``
(``quant/data/accuracy.nc``; its command, runtime and gaps are in ``quant/data/accuracy.md``).

The join is by coordinate labels, never by position: a results dataset whose ``pe_type`` and ``bits``
coordinates come in any order, or as scalar or non-dimension coordinates, gets the accuracy of exactly
the cell each point names. It is also by *network*, and a name is not enough: the results' layer table
must equal that of the library network of the same name (:func:`quidam_fast.load_network`), so a user
topology that merely reuses the name ``lenet5_fmnist`` gets no accuracy.

The table, in turn, records which network each of its rows was trained on: a *fingerprint* per network
(:func:`network_fingerprint`, a hash of the layer table, with the layer count, MACs and weights beside
it), written by ``quidam-fast quant train``. A table whose fingerprint of a network differs from that of
the library network of the name -- a table relabelled to another network's name, or a library network
changed since the training -- is refused (:func:`load_accuracy_table`, :func:`attach_accuracy`). A table
written before fingerprints were recorded is joined with an :class:`AccuracyUncheckedWarning`;
``quidam-fast quant fingerprint TABLE`` (:func:`add_fingerprints`) stamps it from the library.
"""

from __future__ import annotations

import hashlib
import warnings
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from ._files import check_input_file, read_with_file_library
from .errors import QuidamInputError
from .tech import PE_TYPES
from .workloads import LAYER_COLUMNS, Network, load_network

#: Where the packaged table lives, inside the package ``quidam_fast.quant`` (whose ``__init__`` imports no torch).
PACKAGED_TABLE = ("quidam_fast.quant", "data/accuracy.nc")
_JOIN_COORDS = ("pe_type", "bits")
#: ``attrs["source"]`` of the packaged table, and its path in the source tree (what a command names).
PACKAGED_SOURCE = "packaged table quidam_fast.quant/data/accuracy.nc"
PACKAGED_SOURCE_PATH = "quant/data/accuracy.nc"


class AccuracyCoverageWarning(UserWarning):
    """Valid design points got NaN accuracy: the table lacks their network or ``(pe_type, bits)`` cell."""


class AccuracyUncheckedWarning(AccuracyCoverageWarning):
    """A network was joined from a table that records no fingerprint of the network it was trained on
    (a table written before fingerprints were recorded): that it is this network cannot be checked.

    A kind of coverage warning, so that code showing those as one line each (``quidam-fast grid``)
    shows this one too; ``quidam-fast quant fingerprint TABLE`` stamps such a table.
    """


#: The layer columns a fingerprint hashes, in this order: the shapes :meth:`Network.table` gives. Kept
#: here, not taken from LAYER_COLUMNS, so that a column added there later does not change fingerprints.
FINGERPRINT_COLUMNS = ("N", "K", "C", "H", "W", "R", "S", "P", "Q", "stride", "padding", "groups")
#: The per-network variables of a fingerprinted table: (units, description).
FINGERPRINT_VARIABLES = {
    "network_fingerprint": ("", "sha256 of the network's layer table (N K C H W R S P Q stride padding groups of every "
                                "layer, in order), first 16 hex digits: quidam_fast.accuracy.network_fingerprint"),
    "network_layers": ("1", "layers of the network the row was trained on"),
    "network_macs": ("MAC", "multiply-accumulates of one inference of the network the row was trained on"),
    "network_params": ("1", "weights (conv and FC) of the network the row was trained on"),
}


def network_fingerprint(network: Network) -> str:
    """A stable hash of ``network``'s layer table: 16 hex digits of the sha256 of its layers' shapes.

    Layer names do not count (as in the join's layer check); the order of the layers does.

    >>> network_fingerprint(load_network("lenet5_fmnist")) == network_fingerprint(load_network("lenet5_fmnist"))
    True
    >>> network_fingerprint(load_network("lenet5_fmnist")) == network_fingerprint(load_network("vgg7_fmnist"))
    False
    """
    text = ";".join(f"{column}=" + ",".join(str(int(getattr(layer, column))) for layer in network.layers)
                    for column in FINGERPRINT_COLUMNS)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint_variables(networks: Sequence[Network]) -> dict[str, xr.Variable]:
    """The fingerprint variables (:data:`FINGERPRINT_VARIABLES`) of ``networks``, along a ``network``
    dimension in their order: what ``quidam-fast quant train`` writes into its table, of the networks it
    trained (the layer tables of its torch modules)."""
    values = {
        "network_fingerprint": np.array([network_fingerprint(net) for net in networks], dtype=object),
        "network_layers": np.array([len(net.layers) for net in networks], dtype=np.int64),
        "network_macs": np.array([net.macs for net in networks], dtype=np.int64),
        "network_params": np.array([net.params for net in networks], dtype=np.int64),
    }
    # bare variables: assigned to a table, they take its network coordinate (and its attributes) as they are
    return {name: xr.Variable(("network",), values[name], {"units": units, "long_name": description})
            for name, (units, description) in FINGERPRINT_VARIABLES.items()}


def _library_networks(names: Sequence[str]) -> list[Network]:
    networks = []
    for name in names:
        try:
            networks.append(load_network(str(name)))
        except QuidamInputError:
            raise QuidamInputError(f"network {str(name)!r} is not a library network: there is no layer table to "
                                   "fingerprint it by") from None
    return networks


def add_fingerprints(table: xr.Dataset, *, force: bool = False) -> tuple[xr.Dataset, list[str]]:
    """``table`` with the fingerprints of its networks, taken from the library networks of their names.

    For a table trained before fingerprints were recorded: stamping says "these rows were trained on
    the library networks as they are now", which only whoever trained the table can vouch for (the
    table's ``fingerprinted`` attribute says it was stamped afterwards). A table whose recorded
    fingerprints differ from the library's is refused unless ``force``.

    Returns
    -------
    (xr.Dataset, list of str)
        The stamped table (a copy) and one line per network saying what was recorded.
    """
    source = table.attrs.get("source", "the table")
    names = [str(n) for n in table["network"].values]
    new = fingerprint_variables(_library_networks(names))
    fingerprints = dict(zip(names, new["network_fingerprint"].values.tolist()))
    if "network_fingerprint" in table.data_vars and not force:
        differ = [n for n in names if _recorded(table, n) not in (None, fingerprints[n])]
        if differ:
            raise QuidamInputError(
                f"{source}: the fingerprint recorded for network {differ[0]!r} differs from that of the library network "
                "of the name; the table was trained on another network (retrain it), or give --force to record the "
                "library's anyway"
            )
    out = table.drop_vars([v for v in FINGERPRINT_VARIABLES if v in table.variables]).assign(new)
    out.attrs.pop("source", None)
    out.attrs["fingerprinted"] = ("stamped from the library networks by quidam-fast quant fingerprint, after training"
                                  if "network_fingerprint" not in table.data_vars or force else
                                  table.attrs.get("fingerprinted", "recorded by quidam-fast quant train"))
    lines = [f"{n}: {int(out['network_layers'].sel(network=n))} layers, {int(out['network_macs'].sel(network=n)):,} MACs, "
             f"{int(out['network_params'].sel(network=n)):,} weights, fingerprint {fingerprints[n]}" for n in names]
    return out, lines


def _recorded(table: xr.Dataset, name: str) -> str | None:
    """The fingerprint ``table`` records for network ``name`` (None: none recorded)."""
    if "network_fingerprint" not in table.data_vars:
        return None
    value = table["network_fingerprint"].sel(network=name).item()
    return str(value) if isinstance(value, str) and value else None


def check_fingerprints(table: xr.Dataset, names: Sequence[str] | None = None) -> list[str]:
    """Check the fingerprints ``table`` records against the library networks of their names.

    ``names``: the networks to check (default: every network of the table that is a library network;
    one that is not cannot be joined anyway). Returns the names among them the table records no
    fingerprint for (they cannot be checked).

    Raises
    ------
    QuidamInputError
        One line naming the network and the table, for the first whose recorded fingerprint differs:
        the table's row is of another network (relabelled) or of an older version of the library one.
    """
    source = table.attrs.get("source", "given")
    names = [str(n) for n in table["network"].values] if names is None else [str(n) for n in names]
    unchecked = []
    for name in names:
        try:
            library = load_network(name)
        except QuidamInputError:
            continue
        recorded = _recorded(table, name)
        if recorded is None:
            unchecked.append(name)
            continue
        expected = network_fingerprint(library)
        if recorded != expected:
            trained = ", ".join(f"{int(table[v].sel(network=name)):,} {label}" for v, label in
                                (("network_layers", "layers"), ("network_macs", "MACs"), ("network_params", "weights"))
                                if v in table.data_vars)
            raise QuidamInputError(
                f"{source}: the accuracy table's network {name!r} was trained on a network with fingerprint {recorded}"
                f"{f' ({trained})' if trained else ''}, but the library network {name!r} has {expected} "
                f"({len(library.layers)} layers, {library.macs:,} MACs, {library.params:,} weights): the table's row is of "
                "another network (relabelled?) or of an older version of it; retrain the table (quidam-fast quant train)"
            )
    return unchecked


def load_accuracy_table(path: str | Path | None = None, *, verify: bool = True) -> xr.Dataset:
    """Read an accuracy table (netCDF); default: the packaged Fashion-MNIST table.

    ``verify=False`` skips the fingerprint check (:func:`check_fingerprints`), for a table about to be
    stamped (:func:`add_fingerprints`); every other check is made.

    Returns
    -------
    xr.Dataset
        ``accuracy`` (``network, pe_type, bits, seed``; fraction, units ``"1"``, NaN where no cell was
        trained) and whatever else the file holds (``train_s``, ``base_accuracy``, ...). ``attrs["source"]``
        names the file.

    Raises
    ------
    QuidamInputError
        If the file is missing or unreadable, is not an accuracy table, or is not a finished one: its
        ``complete`` attribute must be ``"yes"``, which ``quidam-fast quant train`` writes only when every
        run has finished (its checkpoints, ``FILE.partial.nc``, say ``"no ..."``); or if it records for a
        library network a fingerprint other than that network's (a table relabelled to another
        network's name, or trained on an older version of the network).

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
        table.attrs["source"] = PACKAGED_SOURCE
    else:
        path = check_input_file(path, "accuracy table")  # a folder, FIFO or device is refused unopened
        if path.stat().st_size > MAX_TABLE_BYTES:
            raise QuidamInputError(f"accuracy table {str(path)!r} is larger than {MAX_TABLE_BYTES >> 20} MiB; "
                                   "accuracy tables are kilobytes")
        table = _read_netcdf(path)
        table.attrs["source"] = str(path)
    _check_table(table, table.attrs["source"])
    complete = table.attrs.get("complete")
    if complete != "yes":
        raise QuidamInputError(
            f"{table.attrs['source']}: not a finished accuracy table (attribute complete = {complete!r}, not 'yes'); "
            "a checkpoint of an interrupted or running 'quidam-fast quant train' cannot be joined: finish or rerun it"
        )
    if verify:
        check_fingerprints(table)  # before any work: a relabelled table is refused now, not after an evaluation
    return table


#: The largest accuracy table read: tables are kilobytes (the packaged one 10 kB).
MAX_TABLE_BYTES = 64 << 20


def _read_netcdf(path: Path) -> xr.Dataset:
    """The dataset in netCDF file ``path``; corrupt bytes are one :class:`QuidamInputError`.

    h5py and h5netcdf report corrupt bytes as any of several exceptions (``KeyError`` "incorrect
    metadata checksum", ``RuntimeError``, ``AttributeError``, ...), and the half-opened file they leave
    prints "Exception ignored" tracebacks when it is collected:
    :func:`quidam_fast._files.read_with_file_library` contains both. Decoding warnings on odd files are
    ignored: the schema check decides.
    """
    table, reason = read_with_file_library(lambda: xr.load_dataset(path, engine="h5netcdf"))
    if reason is not None:
        raise QuidamInputError(f"{path}: not a readable netCDF accuracy table ({reason[:200]})")
    return table


def _check_table(table: xr.Dataset, source: str) -> None:
    """The whole schema of an accuracy table, one line naming the variable on the first failure.

    ``accuracy`` is a numeric variable over ``network, pe_type, bits`` (and optionally ``seed``), each
    a one-dimensional coordinate of distinct labels: networks and PE types strings (PE types from
    :data:`~quidam_fast.tech.PE_TYPES`), widths integers 1 to 64, seeds integers; its values are
    fractions in [0, 1] or NaN (a cell not trained), not all NaN. ``base_accuracy``, where present, is
    a fraction too.
    """
    missing = [name for name in ("network", "pe_type", "bits") if name not in table.coords]
    if "accuracy" not in table.data_vars or missing:
        raise QuidamInputError(
            f"{source}: not an accuracy table (needs an 'accuracy' variable and coordinates "
            f"network, pe_type, bits; missing {missing or ['accuracy']})"
        )
    accuracy = table["accuracy"]
    allowed = ("network", "pe_type", "bits", "seed")
    if not set(accuracy.dims) <= set(allowed) or not {"network", "pe_type", "bits"} <= set(accuracy.dims):
        raise QuidamInputError(f"{source}: variable 'accuracy' has dimensions {tuple(accuracy.dims)}; "
                               "allowed: network, pe_type, bits and optionally seed")
    for name, kinds, what in (("network", "USO", "strings"), ("pe_type", "USO", "strings"), ("bits", "iu", "integers"),
                              ("seed", "iu", "integers")):
        if name not in table.coords:
            continue
        labels = table[name]
        if labels.dims != (name,):
            raise QuidamInputError(f"{source}: coordinate {name!r} has dimensions {tuple(labels.dims)}; "
                                   f"it must be one-dimensional along {name!r}")
        values = labels.values.tolist()
        if labels.dtype.kind not in kinds or (what == "strings" and not all(isinstance(v, str) for v in values)):
            raise QuidamInputError(f"{source}: coordinate {name!r} holds {labels.dtype} values; it must hold {what}")
        if len(set(values)) != len(values):
            raise QuidamInputError(f"{source}: coordinate {name!r} repeats a label: {values}")
        if name == "pe_type" and not set(values) <= set(PE_TYPES):
            bad = sorted(set(values) - set(PE_TYPES))[0]
            raise QuidamInputError(f"{source}: coordinate 'pe_type' has {bad!r}; allowed: {', '.join(PE_TYPES)}")
        if name == "bits" and not all(1 <= v <= 64 for v in values):
            raise QuidamInputError(f"{source}: coordinate 'bits' has {min(values)}..{max(values)}; widths are 1 to 64")
    for name, (_, description) in FINGERPRINT_VARIABLES.items():
        if name not in table.data_vars:
            continue
        variable = table[name]
        if variable.dims != ("network",):
            raise QuidamInputError(f"{source}: variable {name!r} has dimensions {tuple(variable.dims)}; it must be "
                                   "one-dimensional along 'network'")
        values = variable.values.tolist()
        if name == "network_fingerprint":
            bad = [v for v in values if not (isinstance(v, str) and len(v) == 16 and all(c in "0123456789abcdef" for c in v))]
            if bad:
                raise QuidamInputError(f"{source}: variable 'network_fingerprint' holds {bad[0]!r}; it must hold 16 "
                                       "lowercase hex digits per network (quidam_fast.accuracy.network_fingerprint)")
        elif variable.dtype.kind not in "iu" or min(values) < 1:
            raise QuidamInputError(f"{source}: variable {name!r} holds {values[:4]!r}; it must hold positive integers "
                                   f"({description})")
    for name in ("accuracy", "base_accuracy"):
        if name not in table.data_vars:
            continue
        variable = table[name]
        if variable.dtype.kind not in "fiu":
            raise QuidamInputError(f"{source}: variable {name!r} holds {variable.dtype} values; it must hold numbers "
                                   "(fractions in [0, 1], NaN where a cell was not trained)")
        values = np.asarray(variable.values, dtype=np.float64)
        present = values[~np.isnan(values)]
        if name == "accuracy" and present.size == 0:
            raise QuidamInputError(f"{source}: variable 'accuracy' is NaN everywhere; the table holds no accuracy")
        if present.size and not (np.all(np.isfinite(present)) and present.min() >= 0 and present.max() <= 1):
            low, high = float(present.min()), float(present.max())
            hint = "; it looks like percent: accuracy is a fraction" if 1 < high <= 100 and low >= 0 else ""
            raise QuidamInputError(f"{source}: variable {name!r} ranges from {low:g} to {high:g}; it must be a "
                                   f"fraction in [0, 1] (NaN where a cell was not trained){hint}")


def attach_accuracy(results: xr.Dataset, table: xr.Dataset | None = None,
                    network: Network | Sequence[Network] | None = None) -> xr.Dataset:
    """Add ``accuracy``, ``accuracy_std`` and ``accuracy_seeds`` to hardware ``results``, matched by labels.

    Results with a ``network`` dimension (:func:`quidam_fast.evaluate` of a list of networks) join on
    ``(network, pe_type, bits)``, each network by its label; ``network`` is then the list of the
    evaluated :class:`~quidam_fast.Network` objects (any order; matched by name). A network the table
    does not cover, or whose layers differ from the library network of its name, is joined as NaN.
    In both forms, valid points left NaN -- a network or a ``(pe_type, bits)`` cell the table lacks
    -- are never silent: one :class:`AccuracyCoverageWarning` line names them, and the variables'
    ``missing`` attribute lists them.

    Parameters
    ----------
    results
        A results dataset with ``pe_type`` and ``bits`` coordinates (dimension, scalar or
        non-dimension coordinates) and ``attrs["network"]`` naming its network, or a ``network``
        dimension (with the ``network_layers`` and ``network_macs`` coordinates), as
        :func:`quidam_fast.evaluate` returns.
    table
        An accuracy table (see :func:`load_accuracy_table`); default: the packaged one.
    network
        The :class:`~quidam_fast.Network` the results were evaluated on (its name must be
        ``attrs["network"]``), or the list of them for results with a ``network`` dimension, checked
        layer by layer against the library network of that name.
        Default: the check uses what the results hold -- the per-layer coordinates ``layer_N``,
        ``layer_K``, ... (``per_layer=True``), else only the layer count and MACs
        (``attrs["network_layers"]``, ``attrs["network_macs"]``); ``accuracy.attrs["network_check"]``
        says which.

    Returns
    -------
    xr.Dataset
        A copy of ``results`` with

        - ``accuracy`` -- mean of the test accuracy of the network at each point's ``(pe_type, bits)``
          over the seeds the table holds for that cell; a fraction in [0, 1], ``units = "1"``;
        - ``accuracy_std`` -- its sample standard deviation over those seeds (``ddof = 1``; NaN when
          fewer than two), ``units = "1"``;
        - ``accuracy_seeds`` -- how many seeds that is, ``units = "1"``. A seed whose entry in the table
          is NaN (a cell that run did not train) is not counted, so a cell can be over fewer seeds than
          the table has; ``attrs["fewer_seeds"]`` lists such cells.

        Points whose ``(pe_type, bits)`` the table does not cover are NaN (and 0 seeds), and the
        variables' attrs list those cells (``missing``). Without a ``network`` dimension, a network the
        table does not cover, or whose layer table differs from the library network of that name (or
        cannot be checked), gets none of the variables: the results come back unchanged but for
        ``attrs["accuracy"]``, which says why (a hardware-only run, e.g. ResNet-18). With a ``network``
        dimension the variables are ``(network, pe_type, bits)`` arrays (broadcasting against the
        design dimensions), NaN for such a network, and ``accuracy.attrs["not_joined"]`` says why.

    Examples
    --------
    >>> from quidam_fast import load_network
    >>> results = xr.Dataset(coords={"pe_type": ["int", "fp"], "bits": [8, 32]}, attrs={"network": "lenet5_fmnist"})
    >>> results["valid"] = (results.pe_type != "fp") | (results.bits == 32)  # no 8-bit fp PE
    >>> out = attach_accuracy(results, network=load_network("lenet5_fmnist"))
    >>> bool(out.accuracy.sel(pe_type="int", bits=8) > 0.8), bool(np.isnan(out.accuracy.sel(pe_type="fp", bits=8)))
    (True, True)
    >>> int(out.accuracy_seeds.sel(pe_type="int", bits=8)), int(out.accuracy_seeds.sel(pe_type="fp", bits=8))
    (3, 0)
    """
    if table is None:
        table = load_accuracy_table()
    if "network" in results.dims:
        return _attach_networks(results, table, network)
    out = results.copy()
    name = results.attrs.get("network")
    if network is not None and not isinstance(network, Network):  # a list: only one network for these results
        given = list(network)
        if len(given) != 1 or not isinstance(given[0], Network):
            raise QuidamInputError(
                f"{len(given)} networks given, but the results have no network dimension (one network, {str(name)!r})")
        network = given[0]
    if network is not None:
        if name is not None and str(name) != network.name:
            raise QuidamInputError(f"network {network.name!r} given, but the results are of network {str(name)!r}")
        name = network.name
    source = table.attrs.get("source", "given")
    networks = [str(n) for n in table["network"].values]
    if name is None or str(name) not in networks:
        out.attrs["accuracy"] = (
            f"not attached: the accuracy table ({source}) covers networks {', '.join(networks)}, not {name!r}"
        )
        return out
    name = str(name)
    verdict, check = _check_network(results, name, network)
    if verdict is not None:
        out.attrs["accuracy"] = f"not attached: {verdict}; the accuracy table ({source}) is of the library network {name!r}"
        return out
    check += _fingerprint_check(table, [name], source)
    absent = [coord for coord in _JOIN_COORDS if coord not in results.coords]
    if absent:
        raise QuidamInputError(f"results have no {' or '.join(absent)} coordinate to join the accuracy table on")

    cells = table["accuracy"].sel(network=name).drop_vars("network")
    if "seed" in cells.dims:  # the mean's summation order by seed label: a reordered table gives the same bits
        cells = cells.sortby("seed")
    n_seeds = int(cells.sizes.get("seed", 1))
    mean, std, count = seed_statistics(cells)

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
    count = grid(count).fillna(0).astype(np.int64)
    missing = [f"{p}:{b}" for p, b in pairs if int(count.sel(pe_type=p, bits=b)) == 0]
    fewer = [f"{p}:{b} ({int(count.sel(pe_type=p, bits=b))} of {n_seeds})" for p, b in pairs
             if 0 < int(count.sel(pe_type=p, bits=b)) < n_seeds]  # fmt: skip
    common = {
        "units": "1",
        "table": source,
        "seeds": n_seeds,
        "missing": ("NaN at (pe_type:bits) " + ", ".join(missing) + ": not in the accuracy table") if missing else "none",
        "fewer_seeds": ("cells over fewer seeds than the table's " + str(n_seeds) + ": " + ", ".join(fewer)) if fewer else "none",
        "network_check": check,
    }
    over = f"over the seeds the table holds for the cell (accuracy_seeds; the table has {n_seeds})"
    out["accuracy"] = pick(mean).assign_attrs(long_name=f"test accuracy of {name} (fraction), mean {over}", **common)
    out["accuracy_std"] = pick(std).assign_attrs(
        long_name=f"sample standard deviation (ddof=1) of the test accuracy {over}; NaN below two seeds", **common
    )
    out["accuracy_seeds"] = pick(count).assign_attrs(
        long_name="number of seeds the accuracy mean and std are over (NaN table entries not counted)", **common
    )
    out.attrs["accuracy"] = (
        f"attached from {source}; missing cells: {common['missing']}; fewer seeds: {common['fewer_seeds']}; network check: {check}"
    )
    _warn_uncovered(results, out["accuracy_seeds"], source)
    return out


def _attach_networks(results: xr.Dataset, table: xr.Dataset, given) -> xr.Dataset:
    """:func:`attach_accuracy` for results with a ``network`` dimension: every cell found by its labels."""
    absent = [coord for coord in _JOIN_COORDS if coord not in results.coords]
    if absent:
        raise QuidamInputError(f"results have no {' or '.join(absent)} coordinate to join the accuracy table on")
    names = [str(n) for n in results["network"].values]
    given = {} if given is None else {net.name: net for net in ([given] if isinstance(given, Network) else given)}
    stray = sorted(set(given) - set(names))
    if stray:
        raise QuidamInputError(f"network {stray[0]!r} given, but the results are of networks {', '.join(names)}")
    source = table.attrs.get("source", "given")
    covered = {str(n) for n in table["network"].values}
    n_seeds = int(table["accuracy"].sizes.get("seed", 1))

    pe_type, bits = xr.broadcast(results["pe_type"], results["bits"])
    pairs = sorted({(str(p), int(b)) for p, b in zip(np.ravel(pe_type.values), np.ravel(bits.values))})
    wanted_pe, wanted_bits = sorted({p for p, _ in pairs}), sorted({b for _, b in pairs})
    shape = (len(names), len(wanted_pe), len(wanted_bits))
    mean, std, count = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, dtype=np.int64)
    checks, refused, joined = [], {}, []
    for i, name in enumerate(names):
        if name not in covered:
            refused[name] = "not in the table"
            continue
        verdict, check = _check_network(_one_network(results, name), name, given.get(name))
        if verdict is not None:
            refused[name] = verdict
            continue
        checks.append(f"{name}: {check}")
        joined.append(name)
        cells = table["accuracy"].sel(network=name).drop_vars("network")
        if "seed" in cells.dims:  # the mean's summation order by seed label: a reordered table gives the same bits
            cells = cells.sortby("seed")
        cells = cells.assign_coords(pe_type=cells["pe_type"].astype(str), bits=cells["bits"].astype(np.int64))
        m, s, c = (v.reindex(pe_type=wanted_pe, bits=wanted_bits) for v in seed_statistics(cells))
        mean[i], std[i] = m.transpose("pe_type", "bits").values, s.transpose("pe_type", "bits").values
        count[i] = c.fillna(0).transpose("pe_type", "bits").values.astype(np.int64)
    if joined:
        checks.append(_fingerprint_check(table, joined, source).removeprefix("; "))
    coords = {"network": names, "pe_type": wanted_pe, "bits": wanted_bits}

    def pick(values: np.ndarray) -> xr.DataArray:
        """Each point's cell by its own labels (the network by position along the shared dimension)."""
        grid = xr.DataArray(values, dims=("network", "pe_type", "bits"), coords=coords)
        return grid.isel(
            pe_type=_positions(wanted_pe, results["pe_type"], str),
            bits=_positions(wanted_bits, results["bits"], int),
        ).drop_vars(["pe_type", "bits"]).assign_coords(network=results["network"])

    fewer = [f"{names[i]} {wanted_pe[p]}:{wanted_bits[b]} ({count[i, p, b]} of {n_seeds})"
             for i, p, b in zip(*np.nonzero((count > 0) & (count < n_seeds)))]  # fmt: skip
    common = {
        "units": "1",
        "table": source,
        "seeds": n_seeds,
        "fewer_seeds": ("cells over fewer seeds than the table's " + str(n_seeds) + ": " + ", ".join(fewer)) if fewer else "none",
        "network_check": "; ".join(checks) or "none",
        "not_joined": "; ".join(f"{n}: {why}" for n, why in refused.items()) or "none",
    }
    over = f"over the seeds the table holds for the cell (accuracy_seeds; the table has {n_seeds})"
    out = results.copy()
    out["accuracy"] = pick(mean).assign_attrs(long_name=f"test accuracy of the point's network (fraction), mean {over}", **common)
    out["accuracy_std"] = pick(std).assign_attrs(
        long_name=f"sample standard deviation (ddof=1) of the test accuracy {over}; NaN below two seeds", **common
    )
    out["accuracy_seeds"] = pick(count).assign_attrs(
        long_name="number of seeds the accuracy mean and std are over (NaN table entries not counted)", **common
    )
    missing = _warn_uncovered(results, out["accuracy_seeds"], source, refused)
    for name in ("accuracy", "accuracy_std", "accuracy_seeds"):
        out[name].attrs["missing"] = missing
    out.attrs["accuracy"] = (
        f"attached from {source}; missing: {missing}; not joined: {common['not_joined']}; "
        f"fewer seeds: {common['fewer_seeds']}; network check: {common['network_check']}"
    )
    return out


def _fingerprint_check(table: xr.Dataset, names: list[str], source: str) -> str:
    """Check the table's fingerprints of the networks ``names`` about to be joined (a mismatch raises
    :class:`QuidamInputError`); warn once (:class:`AccuracyUncheckedWarning`) about those it records none
    for. Returns what to add to the ``network_check`` attribute."""
    unchecked = check_fingerprints(table, names)
    if unchecked:
        path = PACKAGED_SOURCE_PATH if source == PACKAGED_SOURCE else source
        warnings.warn(
            f"the accuracy table ({source}) records no fingerprint of the networks it was trained on (written before "
            f"fingerprints were recorded): that its rows for {', '.join(unchecked)} were trained on the library "
            f"network{'s' if len(unchecked) > 1 else ''} of {'those names' if len(unchecked) > 1 else 'that name'} "
            f"cannot be checked; stamp it with: quidam-fast quant fingerprint {path}", AccuracyUncheckedWarning, stacklevel=4)
        return f"; the table's fingerprint: none recorded for {', '.join(unchecked)} (not checked)"
    return "; the table's fingerprint equals that of the library network"


def _one_network(results: xr.Dataset, name: str) -> xr.Dataset:
    """What :func:`_check_network` reads, for one network of results with a ``network`` dimension: its
    layer count and MACs as attributes, and its per-layer coordinates cut to its own layers."""
    out = xr.Dataset()
    if "network_layers" not in results.coords or "network_macs" not in results.coords:
        return out
    n_layers = int(results["network_layers"].sel(network=name))
    out.attrs.update(network_layers=n_layers, network_macs=int(results["network_macs"].sel(network=name)))
    if all(f"layer_{column}" in results.coords for column in LAYER_COLUMNS):
        for column in LAYER_COLUMNS:
            out = out.assign_coords({f"layer_{column}": ("layer", results[f"layer_{column}"].sel(network=name).values[:n_layers])})
    return out


def _warn_uncovered(results: xr.Dataset, seeds: xr.DataArray, source: str, refused: dict | None = None) -> str:
    """Warn (one line) about the valid points whose accuracy is NaN; returns the list it names, or ``"none"``.

    Points that are invalid anyway (e.g. ``fp`` at 8 bits, which the technology does not have) are
    not designs, so their NaN is not reported.
    """
    missing = seeds == 0
    if "valid" in results:
        missing = missing & results["valid"]
    keep = [d for d in ("network", "pe_type", "bits") if d in missing.dims]
    if not keep:
        return "none"
    missing = missing.any([d for d in missing.dims if d not in keep]) if len(keep) < missing.ndim else missing
    if not bool(missing.any()):
        return "none"
    stacked = missing.stack(cell=keep) if len(keep) > 1 else missing.rename({keep[0]: "cell"})
    cells = [tuple(c) if isinstance(c, tuple) else (c,) for c, m in zip(stacked["cell"].values, stacked.values) if m]
    refused = refused or {}
    per_network: dict[str, list[str]] = {}
    for cell in cells:
        labels = dict(zip(keep, cell))
        network = str(labels.get("network", results.attrs.get("network", "")))
        per_network.setdefault(network, []).append(":".join(str(labels[d]) for d in ("pe_type", "bits") if d in labels))
    parts = [f"{network} {'every cell (' + refused[network] + ')' if network in refused else ', '.join(found)}"
             for network, found in per_network.items()]
    text = "; ".join(parts)
    warnings.warn(f"accuracy is NaN at valid points the accuracy table ({source}) does not cover: {text}",
                  AccuracyCoverageWarning, stacklevel=3)
    return text


def seed_statistics(accuracy: xr.DataArray, dim: str = "seed") -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Mean, sample standard deviation (``ddof = 1``) and count over ``dim`` of the non-NaN entries.

    A NaN entry is a seed that was not run for that cell: it is left out of the mean and the std, and
    the count says how many seeds remain. The mean is NaN for a count of 0 and the std for a count
    below 2, without a numpy warning. Without a ``dim`` dimension, ``accuracy`` is one seed.

    >>> acc = xr.DataArray([[0.8, 0.9, np.nan], [0.7, np.nan, np.nan]], dims=("bits", "seed"))
    >>> mean, std, count = seed_statistics(acc)
    >>> mean.values.round(3).tolist(), count.values.tolist(), bool(np.isnan(std[1]))
    ([0.85, 0.7], [2, 1], True)
    """
    if dim not in accuracy.dims:
        accuracy = accuracy.expand_dims(dim)
    count = accuracy.notnull().sum(dim)
    mean = accuracy.fillna(0.0).sum(dim) / count.where(count > 0)
    std = np.sqrt(((accuracy - mean) ** 2).sum(dim, skipna=True) / (count - 1).where(count > 1))
    return mean, std, count


def _check_network(results: xr.Dataset, name: str, network: Network | None) -> tuple[str | None, str]:
    """``(None, how it was checked)`` when the results' layers are those of library network ``name``,
    else ``(why not, "")``: the layer tables must be equal in every column of
    :data:`~quidam_fast.workloads.LAYER_COLUMNS` (layer names aside)."""
    try:
        library = load_network(name)
    except QuidamInputError:
        return f"there is no library network {name!r} to check the results' layers against", ""
    expected = library.table()
    if network is not None:
        got, how = network.table(), "the given network"
    elif all(f"layer_{column}" in results.coords for column in LAYER_COLUMNS):
        got = {column: np.asarray(results[f"layer_{column}"].values) for column in LAYER_COLUMNS}
        how = "the results' per-layer coordinates"
    else:
        try:
            layers, macs = int(results.attrs["network_layers"]), int(results.attrs["network_macs"])
        except (KeyError, TypeError, ValueError):
            return (
                "the results hold no layer table to check against the library network (per-layer coordinates "
                "layer_N, layer_K, ... or attrs network_layers and network_macs)", ""
            )  # fmt: skip
        if (layers, macs) != (len(library.layers), library.macs):
            return (
                f"the results' network {name!r} has {layers} layers and {macs:,} MACs, the library network of that "
                f"name {len(library.layers)} layers and {library.macs:,} MACs", ""
            )  # fmt: skip
        return None, (
            f"layer count and MACs equal those of library network {name!r} (the results hold no per-layer table; "
            "pass network= or evaluate with per_layer=True for a layer-by-layer check)"
        )
    n_got, n_expected = len(got[LAYER_COLUMNS[0]]), len(library.layers)
    if n_got != n_expected:
        return f"{how} has {n_got} layers, the library network {name!r} {n_expected}", ""
    for i in range(n_expected):
        differ = [f"{c} = {int(got[c][i])} (library {int(expected[c][i])})" for c in LAYER_COLUMNS if int(got[c][i]) != int(expected[c][i])]
        if differ:
            return f"layer {i} ({library.layers[i].name}) of {how} differs from that of library network {name!r}: {', '.join(differ)}", ""
    return None, f"layer table equals that of library network {name!r} (checked with {how})"


def _positions(labels: list, coordinate: xr.DataArray, cast):
    """Positions in ``labels`` of each value of ``coordinate``: an int, or an ``xr.Variable`` of its shape."""
    index = {label: i for i, label in enumerate(labels)}
    if coordinate.ndim == 0:
        return index[cast(coordinate.item())]
    positions = np.array([index[cast(v)] for v in np.ravel(coordinate.values)], dtype=np.int64)
    return xr.Variable(coordinate.dims, positions.reshape(coordinate.shape))
