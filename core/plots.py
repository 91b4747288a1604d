"""Figures of result datasets: the trade-off space, accuracy against energy, energy breakdowns, array sizes.

Every function takes a result dataset and optional ``where`` constraints (as
:func:`quidam_fast.analysis.select` takes them) and returns a :class:`matplotlib.figure.Figure` built
without pyplot, so no global figure state is created or leaked and nothing needs a display (the Agg
canvas renders PNG; SVG has its own). :func:`plot` picks one by name (:data:`KINDS`);
:func:`save_figure` writes one atomically.

Millions of points are never drawn as markers: :func:`tradeoff` bins them on log-spaced edges into a
2-D histogram drawn as one rasterized mesh, with each PE type's Pareto front (a few dozen points) on
top as lines.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ._files import check_output_path, write_bytes_atomically
from .analysis import pareto, select
from .errors import QuidamInputError
from .tech import PE_TYPES

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: it costs every CLI command ~0.8 s to start
    from matplotlib.figure import Figure

FIGURE_SUFFIXES = (".png", ".svg")
ENERGY_PARTS = ("mac", "spad", "noc", "glb", "dram", "leak")  # energy_<part>_pj, from the MAC out to leakage
_SIZE_IN, _DPI = (8.0, 5.0), 100  # 800 x 500 pixels in PNG

# One colour per PE type in every figure (matplotlib's tab10), so figures read side by side.
_COLOURS = dict(zip(PE_TYPES, ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e")))
_DATAFLOW_MARKERS = {"ws": "o", "os": "s", "is": "^", "rs": "D"}
_EPI_LABEL = "energy per inference (J)"
_PPA_LABEL = "performance per area (inferences/s/mm²)"


def _colour(pe_type: str) -> str:
    return _COLOURS.get(str(pe_type), "#7f7f7f")


def _selection(ds: xr.Dataset, where) -> xr.DataArray:
    return select(ds, where)  # the one place masks come from (valid and the constraints)


def _require(ds: xr.Dataset, names: tuple[str, ...], kind: str) -> None:
    missing = [n for n in names if n not in ds]
    if missing:
        raise QuidamInputError(f"--kind {kind} needs the variable(s) {', '.join(missing)}, which this dataset lacks; "
                               "is it a quidam-fast result?")


def _masked(ds: xr.Dataset, name: str, mask: xr.DataArray) -> np.ndarray:
    """The values of ``name`` at the True points of ``mask`` (flat, the mask's order)."""
    var = ds[name]
    return np.asarray(var.broadcast_like(mask).transpose(*mask.dims).values)[np.asarray(mask.values)]


def _figure(title: str) -> tuple[Figure, object]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=_SIZE_IN, dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=11)
    return figure, axes


def _network(ds: xr.Dataset) -> str:
    return f"{ds.attrs['network']}, " if "network" in ds.attrs else ""


def _where_note(where) -> str:
    if not where:
        return ""
    return "; where " + " and ".join([where] if isinstance(where, str) else [str(w) for w in where])


def _tidy_log(axes) -> None:
    """On a log axis spanning a decade or more, leave minor ticks unlabelled: matplotlib labels them up
    to about two decades, where 2, 3, 4 x 10^n run into each other."""
    from matplotlib.ticker import NullFormatter

    axes.autoscale_view()
    for axis, (low, high) in ((axes.xaxis, axes.get_xlim()), (axes.yaxis, axes.get_ylim())):
        if axis.get_scale() == "log" and low > 0 and np.log10(high / low) >= 1:
            axis.set_minor_formatter(NullFormatter())


def _log_edges(values: np.ndarray, bins: int) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high <= low * 1.0001:  # one value: a bin around it
        low, high = low / 1.1, high * 1.1
    return np.geomspace(low, high, bins + 1)


def _padded(edges: np.ndarray, fraction: float = 0.04) -> tuple[float, float]:
    """Log-axis limits ``fraction`` of the span beyond the first and last edge."""
    span = np.log10(edges[-1] / edges[0])
    return float(edges[0] / 10 ** (fraction * span)), float(edges[-1] * 10 ** (fraction * span))


def tradeoff(ds: xr.Dataset, where=None, bins: int = 120) -> Figure:
    """Performance per area against energy per inference over every selected point, as a density.

    The points are counted on a ``bins`` x ``bins`` grid of log-spaced bins (both axes span decades)
    and drawn as one mesh coloured by the count (log colour scale); each PE type's Pareto front
    (lowest energy, highest performance per area; :func:`quidam_fast.pareto`) is drawn on top as a
    line in that PE type's colour. Better designs lie to the upper left.

    Raises
    ------
    QuidamInputError
        Constraints that are malformed, name unknown variables, or leave no valid point.
    """
    from matplotlib.colors import LogNorm

    _require(ds, ("energy_per_inference_j", "perf_per_area"), "tradeoff")
    mask = _selection(ds, where)
    energy = _masked(ds, "energy_per_inference_j", mask)
    ppa = _masked(ds, "perf_per_area", mask)
    keep = np.isfinite(energy) & np.isfinite(ppa) & (energy > 0) & (ppa > 0)
    energy, ppa = energy[keep], ppa[keep]
    figure, axes = _figure(f"{_network(ds)}{energy.size:,} design points{_where_note(where)}")
    # about sqrt(n)/2 bins a side, within [16, bins]: a few hundred points still look like a density
    bins = int(np.clip(np.sqrt(energy.size) / 2, 16, bins))
    x_edges, y_edges = _log_edges(energy, bins), _log_edges(ppa, bins)
    counts, _, _ = np.histogram2d(energy, ppa, bins=(x_edges, y_edges))
    counts = np.ma.masked_equal(counts.T, 0)  # empty bins stay white
    # rasterized: in SVG the mesh is one embedded image, not bins x bins paths
    mesh = axes.pcolormesh(x_edges, y_edges, counts, cmap="Greys", norm=LogNorm(vmin=1, vmax=max(2.0, float(counts.max()))),
                           rasterized=True)
    figure.colorbar(mesh, ax=axes, label="design points per bin")
    objectives = {"energy_per_inference_j": "min", "perf_per_area": "max"}
    for pe_type in ds.pe_type.values if "pe_type" in ds.dims else []:
        if not bool(mask.sel(pe_type=pe_type).any()):
            continue
        part = ds.sel(pe_type=[pe_type])
        front = pareto(part, objectives, where=where)
        x = _masked(part, "energy_per_inference_j", front)
        y = _masked(part, "perf_per_area", front)
        order = np.argsort(x, kind="stable")
        axes.plot(x[order], y[order], "-o", color=_colour(pe_type), markersize=3, linewidth=1.5,
                  label=f"{pe_type} Pareto front")
    axes.set_xscale("log")
    axes.set_yscale("log")
    # the mesh pins the limits to its edges, where the fronts' end markers would be cut in half
    axes.set_xlim(*_padded(x_edges))
    axes.set_ylim(*_padded(y_edges))
    axes.set_xlabel(_EPI_LABEL)
    axes.set_ylabel(_PPA_LABEL)
    axes.grid(True, which="major", alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="lower left", fontsize=8, title="better: up and to the left", title_fontsize=8)
    _tidy_log(axes)
    return figure


def accuracy(ds: xr.Dataset, where=None) -> Figure:
    """Accuracy against energy per inference, one colour per PE type, with the Pareto front.

    Accuracy depends only on ``(pe_type, bits)``, so each such cell is drawn as its lowest-energy
    design (a marker, labelled with the bits) and a horizontal bar over the energy range of its
    selected designs; the front (lowest energy, highest accuracy) joins the cells no other beats on
    both.

    Raises
    ------
    QuidamInputError
        The dataset has no ``accuracy`` variable (the message says why, from ``attrs["accuracy"]``), no
        selected point has an accuracy, or the constraints are bad.
    """
    if "accuracy" not in ds:
        why = ds.attrs.get("accuracy", "no accuracy table was joined")
        raise QuidamInputError(f"--kind accuracy needs an accuracy variable, which this result lacks ({why}); "
                               "evaluate a network the accuracy table covers (quidam-fast quant show), or choose "
                               f"another kind: {', '.join(k for k in KINDS if k != 'accuracy')}")
    _require(ds, ("energy_per_inference_j",), "accuracy")
    mask = _selection(ds, where) & ds.accuracy.notnull().broadcast_like(ds.energy_per_inference_j)
    if not bool(mask.any()):
        raise QuidamInputError("--kind accuracy: no selected design point has an accuracy "
                               "(the accuracy table covers none of its pe_type and bits cells)")
    figure, axes = _figure(f"{_network(ds)}accuracy against energy{_where_note(where)}")
    energy = ds.energy_per_inference_j.where(mask)
    # a cell is a point of the accuracy's own dims: (pe_type, bits), and network in a co-exploration
    cell_dims = [d for d in ds.accuracy.dims if d in energy.dims]
    low = energy.min([d for d in energy.dims if d not in cell_dims]).transpose(*cell_dims)
    high = energy.max([d for d in energy.dims if d not in cell_dims]).transpose(*cell_dims)
    top1 = 100 * ds.accuracy.transpose(*cell_dims)
    present = np.isfinite(low.values)
    networks = [str(n) for n in low.network.values] if "network" in cell_dims else []
    # several networks selected: one marker shape per network, named in the legend
    several = bool(networks) and np.count_nonzero(
        present.any(axis=tuple(i for i, d in enumerate(cell_dims) if d != "network"))) > 1
    markers = ("o", "s", "^", "D", "v", "P", "X", "*")
    labelled = set()
    for index in zip(*np.nonzero(present)):
        cell = {d: low[d].values[i] for d, i in zip(cell_dims, index)}
        pe_type = str(cell.get("pe_type", ""))
        network = str(cell["network"]) if "network" in cell else ""
        e_low, e_high, y = float(low.values[index]), float(high.values[index]), float(top1.values[index])
        marker = markers[networks.index(network) % len(markers)] if several else "o"
        label = f"{pe_type}" + (f" {network}" if several else "")
        axes.plot([e_low, e_high], [y, y], "-", color=_colour(pe_type), alpha=0.35, linewidth=4, solid_capstyle="butt")
        axes.plot([e_low], [y], marker, color=_colour(pe_type), markersize=6, linestyle="none",
                  label=None if label in labelled else label)
        labelled.add(label)
        if "bits" in cell:
            axes.annotate(f"{int(cell['bits'])}b", (e_low, y), textcoords="offset points", xytext=(4, 4), fontsize=7,
                          color=_colour(pe_type))
    front = pareto(ds, {"energy_per_inference_j": "min", "accuracy": "max"}, where=where) & mask
    x = _masked(ds, "energy_per_inference_j", front)
    y = 100 * _masked(ds, "accuracy", front)
    order = np.lexsort((-y, x))
    axes.step(x[order], y[order], where="post", color="black", linewidth=1, label="Pareto front")
    axes.set_xscale("log")
    axes.set_xlabel(_EPI_LABEL)
    axes.set_ylabel("top-1 accuracy (%)")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(loc="lower right", fontsize=8, title="marker: lowest energy; bar: range", title_fontsize=8,
                ncols=2 if len(labelled) > 6 else 1)
    _tidy_log(axes)
    return figure


def _best_index(values: np.ndarray) -> tuple[int, ...] | None:
    if np.all(np.isnan(values)):
        return None
    return np.unravel_index(int(np.nanargmin(values)), values.shape)


def breakdown(ds: xr.Dataset, where=None) -> Figure:
    """The energy per inference of the lowest-energy selected design of each PE type, stacked by part.

    Parts are ``energy_mac_pj``, ``energy_spad_pj``, ``energy_noc_pj``, ``energy_glb_pj``,
    ``energy_dram_pj`` and ``energy_leak_pj`` (per inference; they sum to ``energy_pj``), in mJ on a
    linear axis (stacked bars on a log axis would misstate the parts). Each bar is labelled with its
    design.
    """
    parts = tuple(f"energy_{part}_pj" for part in ENERGY_PARTS)
    _require(ds, ("energy_pj", *parts), "breakdown")
    mask = _selection(ds, where)
    energy = ds.energy_pj.where(mask)
    figure, axes = _figure(f"{_network(ds)}energy of the lowest-energy design per PE type{_where_note(where)}")
    labels, stacks = [], []
    # one bar per PE type; per (network, PE type) when several networks are selected
    networks = _selected_networks(ds, mask)
    types = [str(p) for p in ds.pe_type.values] if "pe_type" in ds.dims else [None]
    groups = [{**({"network": n} if len(networks) > 1 else {}), **({"pe_type": p} if p is not None else {})}
              for n in (networks if len(networks) > 1 else [None]) for p in types]
    for group in groups:
        part = energy.sel(group) if group else energy
        index = _best_index(part.values)
        if index is None:
            continue
        design = {**group, **{d: part[d].values[i] for d, i in zip(part.dims, index)}}
        stacks.append([float(ds[name].sel({d: v for d, v in design.items() if d in ds[name].dims})) * 1e-9
                       for name in parts])
        labels.append(_design_label(group, design))
    positions = np.arange(len(stacks))
    bottom = np.zeros(len(stacks))
    cmap = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#e15759", "#9c755f")
    values = np.array(stacks).reshape(len(stacks), len(parts))
    for k, name in enumerate(ENERGY_PARTS):
        axes.bar(positions, values[:, k], bottom=bottom, color=cmap[k], label=name, width=0.6)
        bottom += values[:, k]
    for x, total in zip(positions, bottom):
        axes.annotate(f"{total:.3g} mJ", (x, total), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)
    axes.set_xticks(positions, labels, fontsize=8)
    axes.set_ylabel("energy per inference (mJ)")
    axes.set_ylim(0, max(bottom.max(), 1e-30) * 1.12)
    axes.legend(loc="upper left", fontsize=8, ncols=3, title="part", title_fontsize=8)
    return figure


def _design_label(group: dict, design: dict) -> str:
    bits = f"{int(design['bits'])}b " if "bits" in design else ""
    array = f"{int(design['rows'])}x{int(design['cols'])} " if "rows" in design and "cols" in design else ""
    dataflow = str(design.get("dataflow", ""))
    glb = f"\nglb {int(design['glb_kib'])} KiB" if "glb_kib" in design else ""
    return f"{' '.join(str(v) for v in group.values())}\n{bits}{array}{dataflow}{glb}".strip()


def _selected_networks(ds: xr.Dataset, mask: xr.DataArray) -> list[str]:
    """The networks with a selected point, in the dataset's order (none without a network dim)."""
    if "network" not in mask.dims:
        return []
    return [str(n) for n in ds.network.values if bool(mask.sel(network=n).any())]


def arrays(ds: xr.Dataset, where=None) -> Figure:
    """The lowest energy per inference at each number of PEs (rows x cols), one line per dataflow.

    Each point is the best selected design with that many PEs (over every other axis, every array
    shape with the same PE count included); both axes are logarithmic.
    """
    _require(ds, ("energy_per_inference_j",), "arrays")
    for axis in ("rows", "cols", "dataflow"):
        if axis not in ds.dims:
            raise QuidamInputError(f"--kind arrays needs the axis {axis!r}, which this dataset lacks")
    mask = _selection(ds, where)
    energy = ds.energy_per_inference_j.where(mask)
    networks = _selected_networks(ds, mask)
    kept = ("network", "dataflow", "rows", "cols") if len(networks) > 1 else ("dataflow", "rows", "cols")
    best = energy.min([d for d in energy.dims if d not in kept])
    pes = np.multiply.outer(ds.rows.values, ds.cols.values).astype(np.int64)
    counts = np.unique(pes)
    figure, axes = _figure(f"{_network(ds)}lowest energy per inference by array size{_where_note(where)}")
    # one line per dataflow; per (network, dataflow), a line style per network, when several are selected
    for k, network in enumerate(networks if len(networks) > 1 else [None]):
        for dataflow in best.dataflow.values:
            values = (best.sel(dataflow=dataflow) if network is None else best.sel(dataflow=dataflow, network=network))
            values = values.transpose("rows", "cols").values
            lowest = np.array([np.nanmin(values[pes == n]) if np.any(np.isfinite(values[pes == n])) else np.nan
                               for n in counts])
            keep = np.isfinite(lowest)
            if keep.any():
                axes.plot(counts[keep], lowest[keep], ("-", "--", ":", "-.")[k % 4],
                          marker=_DATAFLOW_MARKERS.get(str(dataflow), "o"), markersize=5,
                          color=f"C{list(best.dataflow.values).index(dataflow)}",
                          label=str(dataflow) if network is None else f"{dataflow} {network}")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("processing elements (rows x cols)")
    axes.set_ylabel("lowest " + _EPI_LABEL)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(title="dataflow", fontsize=8, title_fontsize=8, ncols=2 if len(networks) > 2 else 1)
    _tidy_log(axes)
    return figure


#: Plot kind -> function(ds, where) returning a Figure.
KINDS = {"tradeoff": tradeoff, "accuracy": accuracy, "breakdown": breakdown, "arrays": arrays}


def plot(ds: xr.Dataset, kind: str, where=None) -> Figure:
    """The figure of ``kind`` (one of :data:`KINDS`) for the points of ``ds`` that meet ``where``.

    >>> plot(None, "histogram")
    Traceback (most recent call last):
    ...
    quidam_fast.errors.QuidamInputError: --kind 'histogram' is not allowed; allowed: tradeoff, accuracy, breakdown, arrays
    """
    check_kind(kind)
    return KINDS[kind](ds, where)


def check_kind(kind: str) -> str:
    """Refuse an unknown plot kind in one line listing the kinds."""
    if kind not in KINDS:
        raise QuidamInputError(f"--kind {kind!r} is not allowed; allowed: {', '.join(KINDS)}")
    return kind


def check_figure_path(path: str | Path, option: str = "--out") -> Path:
    """Refuse, before any work, a path :func:`save_figure` could not write: its suffix, then what every
    output is checked for (:func:`quidam_fast._files.check_output_path`).

    >>> check_figure_path("tradeoff.pdf")
    Traceback (most recent call last):
    ...
    quidam_fast.errors.QuidamInputError: --out 'tradeoff.pdf': unknown suffix '.pdf'; allowed: .png, .svg
    """
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise QuidamInputError(f"{option} {str(path)!r}: unknown suffix {path.suffix!r}; allowed: {', '.join(FIGURE_SUFFIXES)}")
    return check_output_path(path, option)


def figure_bytes(figure: Figure, suffix: str) -> bytes:
    """``figure`` rendered as a ``.png`` or ``.svg`` file's bytes.

    The metadata has no date or software version, so rerunning a command gives an identical file.
    """
    fmt = suffix.lower().lstrip(".")
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=_DPI, metadata={"Date": None} if fmt == "svg" else {"Software": None})
    return buffer.getvalue()


def save_figure(figure: Figure, path: str | Path, option: str = "--out") -> None:
    """Write ``figure`` as PNG or SVG (by suffix) atomically: rendered in memory, written to a temporary
    sibling and renamed into place (:func:`quidam_fast._files.write_bytes_atomically`), which is
    removed on any failure (``KeyboardInterrupt`` included)."""
    path = check_figure_path(path, option)
    data = figure_bytes(figure, path.suffix)
    try:
        write_bytes_atomically(path, data)
    except OSError as error:
        raise QuidamInputError(f"{option} {str(path)!r}: cannot write ({error.strerror or error})") from None
