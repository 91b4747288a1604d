"""Analysis of result datasets: best design per group, spread across the space, Pareto front."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .errors import QuidamInputError

#: metric -> True if larger is better
METRIC_DIRECTIONS = {
    "perf_per_area": True,
    "throughput_ips": True,
    "energy_per_inference_j": False,
    "energy_pj": False,
    "latency_s": False,
    "edp": False,
    "area_mm2": False,
    "accuracy": True,
}


def best_design(results: xr.Dataset, metric: str, by: str | None = "pe_type") -> list[dict]:
    """The best valid design (per value of ``by``) for ``metric``.

    Returns one dict per group with the metric's value and the design's coordinates; groups whose
    points are all invalid are left out.

    >>> import quidam_fast as qf
    >>> ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "rows": [8, 16]})
    >>> [row["pe_type"] for row in best_design(ds, "perf_per_area")]
    ['int', 'lightpe1']
    """
    if metric not in results:
        raise QuidamInputError(f"metric {metric!r} is not in the results; allowed: {', '.join(sorted(METRIC_DIRECTIONS))}")
    maximize = METRIC_DIRECTIONS.get(metric, True)
    groups = [(None, results)] if by is None else [(value, results.sel({by: value})) for value in results[by].values]
    rows = []
    for value, part in groups:
        data = part[metric].values
        if np.all(np.isnan(data)):
            continue
        flat = np.nanargmax(data) if maximize else np.nanargmin(data)
        position = np.unravel_index(flat, data.shape)
        row = {dim: part[metric][dim].values[i].item() for dim, i in zip(part[metric].dims, position)}
        if by is not None:
            row[by] = value.item() if hasattr(value, "item") else value
        row[metric] = float(data[position])
        rows.append(row)
    return rows


def spread(results: xr.Dataset, metric: str, by: str | None = None) -> dict:
    """Ratio of the best to the worst valid value of ``metric`` (overall or per ``by`` value)."""
    def ratio(array):
        lo, hi = float(np.nanmin(array)), float(np.nanmax(array))
        return hi / lo if lo > 0 else float("inf")

    if by is None:
        return {"all": ratio(results[metric].values)}
    return {value.item(): ratio(results[metric].sel({by: value}).values) for value in results[by].values
            if not np.all(np.isnan(results[metric].sel({by: value}).values))}


def relative_to(results: xr.Dataset, metric: str, pe_type: str = "int", bits: int = 16) -> dict:
    """Best ``metric`` of each (``pe_type``, ``bits``) over the rest of the space, as a multiple of the
    best design of the reference (``int`` at 16 bits by default; QUIDAM's baseline). Ratios > 1 are
    better whatever the metric's direction.

    >>> import quidam_fast as qf
    >>> ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "bits": [8, 16]})
    >>> relative_to(ds, "perf_per_area")[("int", 16)]
    1.0
    """
    maximize = METRIC_DIRECTIONS.get(metric, True)
    others = [d for d in results[metric].dims if d not in ("pe_type", "bits")]
    best = results[metric].max(others) if maximize else results[metric].min(others)
    reference = float(best.sel(pe_type=pe_type, bits=bits))
    ratios = {}
    for p in best.pe_type.values:
        for b in best.bits.values:
            value = float(best.sel(pe_type=p, bits=b))
            if value == value:
                ratios[(str(p), int(b))] = value / reference if maximize else reference / value
    return ratios


def pareto_front(results: xr.Dataset, objectives=("perf_per_area", "energy_per_inference_j")) -> xr.Dataset:
    """Valid design points not dominated in ``objectives`` (directions from :data:`METRIC_DIRECTIONS`),
    as a dataset with one dimension ``point`` and the design coordinates as variables."""
    stacked = results[list(objectives)].stack(point=[d for d in results[objectives[0]].dims])
    keep = np.all([np.isfinite(stacked[m].values) for m in objectives], axis=0)
    stacked = stacked.isel(point=np.flatnonzero(keep))
    # minimize every objective: negate the ones to maximize
    values = np.stack([stacked[m].values * (-1.0 if METRIC_DIRECTIONS.get(m, True) else 1.0) for m in objectives], axis=1)
    order = np.lexsort(values.T[::-1])
    front, best_second = [], np.inf
    if len(objectives) != 2:
        raise QuidamInputError("pareto_front takes exactly two objectives")
    for index in order:  # sorted by the first objective; keep strict improvements of the second
        if values[index, 1] < best_second:
            front.append(index)
            best_second = values[index, 1]
    return stacked.isel(point=np.array(front, dtype=int)).reset_index("point")
