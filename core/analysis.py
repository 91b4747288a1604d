"""Answers from result datasets: constraints (``where``), Pareto fronts and the headline report.

Everything here works on whatever dimensions a result has (the design axes of
:data:`~quidam_fast.space.AXES`, and any others such as ``network``): the *design dims* are those of
its ``valid`` variable. Computations run on flat numpy arrays (a default result has 1.8 M points);
labels are attached at the end.

- :func:`parse_where` / :func:`select`: ``VARIABLE OP VALUE`` constraints, all of which must hold.
- :func:`parse_objectives` / :func:`pareto`: the Pareto front over any objectives, each minimized or
  maximized (kernels in :mod:`quidam_fast._pareto`).
- :func:`report`: the spread, best designs, gains over the best int16 design at matched accuracy and
  the Pareto front size, as a :class:`Report` with text, Markdown and JSON forms.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ._pareto import front_mask_rows
from .errors import QuidamInputError

#: Variable -> True if larger is better (the direction the report and plots use).
METRIC_DIRECTIONS = {
    "perf_per_area": True,
    "throughput_ips": True,
    "utilization": True,
    "accuracy": True,
    "energy_per_inference_j": False,
    "energy_pj": False,
    "latency_s": False,
    "cycles": False,
    "edp": False,
    "area_mm2": False,
    "dram_bytes": False,
}

OPERATORS = ("<=", ">=", "==", "!=", "<", ">")
DIRECTIONS = ("min", "max")
_NOT_OBJECTIVES = ("valid", "invalid_reason")
_TEXT_KINDS = "USOT"  # numpy dtype kinds of text labels (T: numpy 2's StringDType, as pandas makes)
_EXPRESSION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*(\S(?:.*\S)?)\s*$")


# --------------------------------------------------------------------------------------------------
# constraints


@dataclasses.dataclass(frozen=True)
class Constraint:
    """One ``VARIABLE OP VALUE`` test, as parsed by :func:`parse_where`.

    ``value`` is a float when the text is a number, else the text itself (an axis label such as
    ``lightpe1``); whether the variable takes it is checked against a dataset by :meth:`mask`.
    """

    variable: str
    op: str
    value: float | str
    text: str

    def mask(self, ds: xr.Dataset) -> xr.DataArray:
        """Boolean ``DataArray`` on the variable's own dims: where the test holds (False at NaN)."""
        if self.variable not in ds.variables:
            why = (f" (accuracy {ds.attrs['accuracy']})" if self.variable == "accuracy" and "accuracy" in ds.attrs
                   else "")  # e.g. "not attached: the accuracy table covers networks ..., not 'resnet18'"
            raise QuidamInputError(
                f"where {self.text!r}: unknown variable {self.variable!r}{why}; allowed: {', '.join(constrainable(ds))}"
            )
        values = ds[self.variable]
        if values.dtype.kind in _TEXT_KINDS:
            if self.op not in ("==", "!="):
                raise QuidamInputError(f"where {self.text!r}: {self.variable} is text; compare it with == or != only")
            labels = sorted({str(v) for v in np.ravel(values.values)})
            label = _label_text(self.value)
            if label not in labels:
                raise QuidamInputError(
                    f"where {self.text!r}: {self.variable} has no value {label!r}; values: {', '.join(labels)}"
                )
            # compared as Python strings: text coordinates come as str, object or StringDType arrays
            # (numpy cannot cast the last to str), and they are short (one entry per axis value)
            equal = np.array([str(v) == label for v in np.ravel(values.values)], dtype=bool).reshape(values.shape)
            held = values.copy(data=equal)
            return held if self.op == "==" else ~held
        if values.dtype.kind not in "biuf":
            raise QuidamInputError(f"where {self.text!r}: {self.variable} ({values.dtype}) cannot be compared")
        if isinstance(self.value, str):
            raise QuidamInputError(f"where {self.text!r}: {self.variable} is numeric; {self.value!r} is not a number")
        number = self.value
        return {"<=": values <= number, ">=": values >= number, "<": values < number, ">": values > number,
                "==": values == number, "!=": (values != number) & values.notnull()}[self.op]


def _label_text(value: float | str) -> str:
    """An axis label as the user typed it (``bits==8`` parses 8 as a number; labels are text)."""
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else repr(value)


def parse_where(exprs: str | Sequence[str] | None) -> list[Constraint]:
    """Parse constraints ``VARIABLE OP VALUE``, ``OP`` one of ``<= >= < > == !=``.

    A string may hold several, separated by commas; all must hold. ``VALUE`` is a number (``1e-3``) or,
    for a text axis (``pe_type``, ``dataflow``, ``network``), one of its labels.

    >>> parse_where("area_mm2<=10, pe_type==lightpe1")
    [Constraint(variable='area_mm2', op='<=', value=10.0, text='area_mm2<=10'), Constraint(variable='pe_type', op='==', value='lightpe1', text='pe_type==lightpe1')]
    >>> parse_where("area_mm2 = 10")
    Traceback (most recent call last):
    ...
    quidam_fast.errors.QuidamInputError: where 'area_mm2 = 10' is not VARIABLE OP VALUE with OP one of <= >= == != < > (e.g. area_mm2<=10, pe_type==lightpe1)
    """
    if exprs is None:
        return []
    if isinstance(exprs, str):
        exprs = [exprs]
    constraints = []
    for expr in exprs:
        if isinstance(expr, Constraint):
            constraints.append(expr)
            continue
        if not isinstance(expr, str):
            raise QuidamInputError(f"where {expr!r} is not a text expression such as 'area_mm2<=10'")
        for part in expr.split(","):
            text = part.strip()
            if not text:
                if expr.strip():
                    continue  # a trailing comma
                raise QuidamInputError("where '' is empty; expected VARIABLE OP VALUE, e.g. area_mm2<=10")
            match = _EXPRESSION.match(text)
            if match is None or match.group(3)[:1] in "<>=!":
                raise QuidamInputError(
                    f"where {text!r} is not VARIABLE OP VALUE with OP one of {' '.join(OPERATORS)} "
                    "(e.g. area_mm2<=10, pe_type==lightpe1)"
                )
            variable, op, value = match.groups()
            try:
                number = float(value)
            except ValueError:
                parsed: float | str = value
            else:
                if math.isnan(number):
                    raise QuidamInputError(f"where {text!r}: NaN matches nothing; valid points have numbers")
                parsed = number
            constraints.append(Constraint(variable, op, parsed, text.replace(" ", "")))
    return constraints


def design_dims(ds: xr.Dataset) -> tuple[str, ...]:
    """The dims of one design point's variables: those of ``valid`` (every result has it)."""
    if "valid" not in ds.variables:
        raise QuidamInputError("the dataset has no 'valid' variable: not a quidam-fast result")
    return tuple(ds["valid"].dims)


def constrainable(ds: xr.Dataset) -> list[str]:
    """Variables and coordinates a constraint may name: those on (a subset of) the design dims."""
    dims = set(design_dims(ds))
    return sorted(str(name) for name, variable in ds.variables.items()
                  if set(variable.dims) <= dims and name not in _NOT_OBJECTIVES
                  and variable.dtype.kind in "biuf" + _TEXT_KINDS)


def select(ds: xr.Dataset, where: str | Sequence[str] | None = None) -> xr.DataArray:
    """Boolean ``DataArray`` on the design dims: ``valid`` and every constraint of ``where``.

    Raises
    ------
    QuidamInputError
        For an unknown variable, a malformed expression, a text value for a numeric variable, a label
        the axis does not have, or when no valid point satisfies the constraints (naming the one that
        emptied the selection and the range of its variable over the valid points).

    >>> import quidam_fast as qf
    >>> ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "rows": [8, 16]}, per_layer=False)
    >>> int(select(ds, "pe_type==int").sum()), int(select(ds, ["pe_type==int", "rows>8"]).sum())
    (2, 1)
    """
    dims = design_dims(ds)
    mask = ds["valid"].astype(bool)
    if not bool(mask.any()):
        raise QuidamInputError("the result has no valid design point")
    for constraint, held in zip(parse_where(where), _masks(ds, where)):
        narrowed = (mask & held).transpose(*dims)
        if not bool(narrowed.any()):
            raise QuidamInputError(f"where {constraint.text!r} leaves no valid design point"
                                   + _range_note(ds, constraint.variable, mask))
        mask = narrowed
    mask = mask.drop_vars([name for name in mask.coords if name not in dims])
    mask.name = "selected"
    mask.attrs = {"units": "1", "long_name": "valid and " + (" and ".join(c.text for c in parse_where(where)) or "unconstrained"),
                  "where": ", ".join(c.text for c in parse_where(where))}
    return mask


def check_where(ds: xr.Dataset, where: str | Sequence[str] | None) -> list[Constraint]:
    """The constraints of ``where``, checked against ``ds`` (variables, their dims and types, the labels
    of text axes) but not for leaving a point: what can be known from a small sample of a result
    before computing it (``quidam-fast grid`` checks ``--where`` so before its run)."""
    _masks(ds, where)
    return parse_where(where)


def _masks(ds: xr.Dataset, where) -> list[xr.DataArray]:
    """Each constraint's boolean mask on its variable's dims (within the design dims)."""
    dims = design_dims(ds)
    masks = []
    for constraint in parse_where(where):
        held = constraint.mask(ds)
        extra = [d for d in held.dims if d not in dims]
        if extra:
            raise QuidamInputError(f"where {constraint.text!r}: {constraint.variable} has dims {extra} beyond a "
                                   f"design point's ({', '.join(dims)})")
        masks.append(held)
    return masks


def _range_note(ds: xr.Dataset, variable: str, mask: xr.DataArray) -> str:
    """`` (over the points selected so far, VARIABLE spans a to b UNITS)``, or the labels of a text axis."""
    values, held = xr.broadcast(ds[variable], mask)
    data = values.values[held.values]
    if data.dtype.kind in "biuf":
        data = data[~np.isnan(data)] if data.dtype.kind == "f" else data
        if data.size == 0:
            return f" ({variable} is NaN at every point selected so far)"
        units = ds[variable].attrs.get("units", "")
        units = "" if units in ("", "1") else f" {units}"
        return f" (over the points selected so far, {variable} spans {data.min():.4g} to {data.max():.4g}{units})"
    return f" (over the points selected so far, {variable} takes {', '.join(sorted({str(v) for v in data}))})"


# --------------------------------------------------------------------------------------------------
# Pareto fronts


def objective_names(ds: xr.Dataset | None) -> list[str]:
    """Variables that can be objectives: numeric, on (a subset of) the design dims."""
    if ds is None:
        return sorted(METRIC_DIRECTIONS)
    dims = set(design_dims(ds)) if "valid" in ds.variables else None
    return sorted(str(name) for name, variable in ds.variables.items()
                  if name not in _NOT_OBJECTIVES and variable.dtype.kind in "biuf" and variable.ndim > 0
                  and (dims is None or set(variable.dims) <= dims) and name not in ds.dims)


def parse_objectives(text: str | Mapping[str, str], ds: xr.Dataset | None = None) -> dict[str, str]:
    """``"energy_per_inference_j:min,perf_per_area:max"`` -> ``{"energy_per_inference_j": "min", ...}``.

    Directions are ``min`` or ``max``. With ``ds``, every variable must be one of its objectives
    (:func:`objective_names`: numeric, one value per design point); without it, only the form is
    checked (a result file's variables are known once it is read; :func:`pareto` checks them).

    >>> parse_objectives("energy_per_inference_j:min, perf_per_area:max")
    {'energy_per_inference_j': 'min', 'perf_per_area': 'max'}
    >>> parse_objectives("perf_per_area:up")
    Traceback (most recent call last):
    ...
    quidam_fast.errors.QuidamInputError: objective 'perf_per_area:up': unknown direction 'up'; allowed: min, max
    """
    if isinstance(text, Mapping):
        pairs = [(str(name), str(direction), f"{name}:{direction}") for name, direction in text.items()]
    else:
        pairs = []
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            name, colon, direction = part.partition(":")
            if not colon:
                raise QuidamInputError(f"objective {part!r} is not VARIABLE:min or VARIABLE:max "
                                       "(e.g. energy_per_inference_j:min,perf_per_area:max)")
            pairs.append((name.strip(), direction.strip(), part))
    if not pairs:
        raise QuidamInputError("no objective given; expected VARIABLE:min or VARIABLE:max, comma-separated "
                               "(e.g. energy_per_inference_j:min,perf_per_area:max)")
    allowed = objective_names(ds) if ds is not None else []
    objectives: dict[str, str] = {}
    for name, direction, part in pairs:
        if direction not in DIRECTIONS:
            raise QuidamInputError(f"objective {part!r}: unknown direction {direction!r}; allowed: {', '.join(DIRECTIONS)}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise QuidamInputError(f"objective {part!r}: {name!r} is not a variable name (e.g. perf_per_area, "
                                   f"{', '.join(objective_names(None))})")
        if ds is not None and name not in allowed:
            what = "unknown variable" if name not in ds.variables else "not a numeric variable of the result on its design dims:"
            raise QuidamInputError(f"objective {part!r}: {what} {name!r}; allowed: {', '.join(allowed)}")
        if name in objectives:
            raise QuidamInputError(f"objective {name!r} is given twice")
        objectives[name] = direction
    return objectives


def pareto(ds: xr.Dataset, objectives: Mapping[str, str] | str,
           where: str | Sequence[str] | None = None) -> xr.DataArray:
    """The Pareto front of the selected valid designs: True where no other such design is at least as
    good in every objective and better in one.

    Parameters
    ----------
    ds
        A result (as from :func:`quidam_fast.evaluate` or :func:`quidam_fast.open_result`), or any
        dataset whose variables are the objectives (then every point with finite objectives counts).
    objectives
        ``{variable: "min" | "max"}`` (or the text form of :func:`parse_objectives`), in any number.
    where
        Constraints (see :func:`select`); only points satisfying all of them can be on the front.

    Returns
    -------
    xarray.DataArray
        Boolean, named ``pareto``, on the dataset's design dims with its coordinates (units ``"1"``).

    Notes
    -----
    Points with a NaN or infinite objective (invalid designs are NaN) are never on the front. Exact
    duplicates (equal in every objective) do not dominate each other: all of them are on the front or
    none is (e.g. ws/os/is designs that differ only in the scratchpad sizes they do not use). Two
    objectives take one sort and a sweep, three a sort and a Fenwick-tree sweep (both O(n log n)); four
    or more a divide and conquer, O(n log^(d-2) n) for d objectives
    (:mod:`quidam_fast._pareto`; timings in ``bench/bench_pareto.py``).

    Examples
    --------
    >>> import quidam_fast as qf
    >>> ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "rows": [8, 16, 32]}, per_layer=False)
    >>> front = qf.pareto(ds, {"energy_per_inference_j": "min", "perf_per_area": "max"})
    >>> front.dims == ds.valid.dims, bool(front.any())
    (True, True)
    """
    objectives = parse_objectives(objectives, ds)
    if "valid" in ds.variables:
        mask = select(ds, where)
    else:  # any dataset of objectives: every point counts (non-finite ones drop out below)
        if where:
            raise QuidamInputError("where= needs a result with a 'valid' variable")
        mask = xr.broadcast(*(ds[name].notnull() for name in objectives))[0]
    dims = mask.dims
    shape = tuple(mask.sizes[d] for d in dims)
    selected = mask.values.reshape(-1)
    everything = bool(selected.all())
    candidates = None if everything else np.flatnonzero(selected)
    # one contiguous row per objective (the kernels' layout), filled row by row; take's mode="clip"
    # (indices are in range) because out= is buffered with the default mode: 0.5 s for 10 M points
    values = np.empty((len(objectives), selected.size if everything else len(candidates)))
    for j, (name, direction) in enumerate(objectives.items()):
        flat = _flat_on(ds[name], dims, shape)
        if everything:
            values[j] = flat
        else:
            np.take(flat, candidates, out=values[j], mode="clip")
        if direction == "max":
            np.negative(values[j], out=values[j])
    finite = np.isfinite(values).all(axis=0)
    if finite.all():
        front = front_mask_rows(values)
    else:
        front = np.zeros(values.shape[1], dtype=bool)
        front[finite] = front_mask_rows(values[:, finite])
    if everything:
        on = front
    else:
        on = np.zeros(selected.size, dtype=bool)
        on[candidates] = front
    coords = {name: coord for name, coord in ds.coords.items() if set(coord.dims) <= set(dims)}
    return xr.DataArray(on.reshape(shape), dims=dims, coords=coords, name="pareto", attrs={
        "units": "1",
        "long_name": "on the Pareto front of " + ", ".join(f"{n} ({d})" for n, d in objectives.items()),
        "objectives": ",".join(f"{n}:{d}" for n, d in objectives.items()),
        "where": ", ".join(c.text for c in parse_where(where)),
    })


def front_table(ds: xr.Dataset, front: xr.DataArray, objectives: Mapping[str, str], merge_ties: bool = True):
    """The designs of ``front`` as a pandas table, best first in the first objective.

    Columns: the axes, then the objectives, named ``NAME [UNITS]``
    (:func:`quidam_fast.export.design_table`). With ``merge_ties``, designs equal in every objective
    (on a front they come in groups: ws/os/is designs that differ only in the scratchpads they do not
    use, DRAM bandwidths that never stall) are one row: each axis lists its values joined by ``|``,
    and a ``designs`` column counts them.

    >>> import quidam_fast as qf
    >>> ds = qf.evaluate("alexnet", {"rows": [8, 16], "spad_ifmap": [12, 24]}, per_layer=False)
    >>> objectives = {"energy_per_inference_j": "min", "area_mm2": "min"}
    >>> table = front_table(ds, qf.pareto(ds, objectives), objectives)
    >>> table[["rows [PE]", "spad_ifmap [word]", "designs"]].values.tolist()
    [['16', '12|24', 2], ['8', '12|24', 2]]
    """
    from .export import column_name, design_table  # the one table builder

    objectives = dict(objectives)
    table = design_table(ds, front, columns=list(objectives))
    keys = [column_name(name, ds[name].attrs.get("units")) for name in objectives]
    first, direction = keys[0], next(iter(objectives.values()))
    if merge_ties and len(table):
        axes = [c for c in table.columns if c not in keys]

        def values(column):
            unique = list(dict.fromkeys(column.astype(str)))  # first-seen order: the axis's order
            return "|".join(unique)

        grouped = table.groupby(keys, sort=False, observed=True)
        table = grouped[axes].agg(values).reset_index()
        table["designs"] = grouped.size().to_numpy()
        table = table[axes + keys + ["designs"]]
    return table.sort_values(first, ascending=direction == "min", kind="stable", ignore_index=True)


def _flat_on(variable: xr.DataArray, dims: Sequence[str], shape: tuple[int, ...]) -> np.ndarray:
    """``variable``'s values broadcast over ``dims`` (in that order), flattened; no copy when it has them all."""
    own = [d for d in dims if d in variable.dims]
    if len(own) != variable.ndim:
        raise QuidamInputError(f"{variable.name} has dims {[d for d in variable.dims if d not in dims]} beyond "
                               f"a design point's ({', '.join(dims)})")
    data = np.asarray(variable.transpose(*own).values)
    expanded = data.reshape(tuple(shape[i] if d in own else 1 for i, d in enumerate(dims)))
    return np.broadcast_to(expanded, shape).reshape(-1)


# --------------------------------------------------------------------------------------------------
# the report

# The two figures of merit of the report: (variable, title, display unit, scale to it, larger is better)
_REPORT_METRICS = (
    ("perf_per_area", "performance per area", "inferences/s/mm2", 1.0, True),
    ("energy_per_inference_j", "energy per inference", "mJ", 1e3, False),
)
#: Every variable :func:`report` reads (``accuracy`` where the result has it).
REPORT_VARIABLES = ("perf_per_area", "energy_per_inference_j", "accuracy")
#: The report's Pareto front: the two figures of merit, each in its better direction.
REPORT_FRONT = {"perf_per_area": "max", "energy_per_inference_j": "min"}
#: The reference design of the gain table: QUIDAM's baseline, the best 16-bit integer design.
REFERENCE = {"pe_type": "int", "bits": 16}
#: Dims the report treats as separate studies (one section each) rather than design choices.
SCOPE_DIMS = ("network",)


@dataclasses.dataclass
class Report:
    """The headline figures of a result (see :func:`report`); render with :meth:`to_text`,
    :meth:`to_markdown` or :meth:`to_dict` (JSON-serialisable: NaN becomes ``None``)."""

    where: list[str]
    accuracy_tolerance: float
    sections: list[dict]
    across: dict | None = None

    def to_dict(self) -> dict:
        """The figures as plain Python values (what ``report --format json`` prints)."""
        return _jsonable({"where": list(self.where), "accuracy_tolerance": self.accuracy_tolerance,
                          "sections": self.sections, "across": self.across})

    def to_text(self) -> str:
        """Plain text, every figure with what it is and which way is better (what ``grid`` prints)."""
        return "\n\n".join([_section_text(section, markdown=False) for section in self.sections]
                           + ([_across_text(self.across, markdown=False)] if self.across else []))

    def to_markdown(self) -> str:
        """The same as Markdown: a heading per section, tables for the best designs and the gains."""
        return "\n\n".join([_section_text(section, markdown=True) for section in self.sections]
                           + ([_across_text(self.across, markdown=True)] if self.across else []))


def report(ds: xr.Dataset, where: str | Sequence[str] | None = None, accuracy_tolerance: float = 0.01) -> Report:
    """The headline figures of a result, over its valid designs that satisfy ``where``.

    Parameters
    ----------
    ds
        A result with ``perf_per_area`` and ``energy_per_inference_j`` (optionally ``accuracy``).
    where
        Constraints (see :func:`select`).
    accuracy_tolerance
        Fraction (0.01 = one percentage point): in the gain table, a design counts against the best
        int16 design only if its accuracy is at most this much below that design's accuracy (more
        accurate designs count too: they are at least on par).

    Returns
    -------
    Report
        One section per value of the scope dims (:data:`SCOPE_DIMS`: ``network``) that has a selected
        point (one section when there is no such dim), each a dict with:

        - ``scope``, ``network``, ``tech``, ``points``, ``valid``, ``selected``, ``where``;
          ``distinct`` (designs, counting ws/os/is points that differ only in unused scratchpads once;
          ``None`` when that changes nothing), ``fixed`` (axes of one value), ``accuracy`` ("joined", or
          "no accuracy" and why);
        - ``metrics``: per figure of merit (``perf_per_area`` in inferences/s/mm2, higher is better;
          ``energy_per_inference_j`` in mJ, lower is better), its ``spread`` (the best value over the
          worst, a factor >= 1, over the selection and ``spread_by_pe_type``) and the ``best`` design
          per ``pe_type`` with its value and accuracy (``value`` ``None``: no valid selected design);
        - ``gains``: per figure of merit, the ``reference`` (the best int16 design) and per
          ``"pe_type:bits"`` the best design's ``gain`` over it (a factor, > 1 is better: times higher
          performance per area, times less energy), ``accuracy`` and ``status``: ``"matched"``,
          ``"below"`` (no design within the tolerance: its best design's gain is not a matched one)
          or ``"no accuracy"``; ``None`` with ``gains_note`` saying why when there is no table;
        - ``pareto``: the front of (performance per area max, energy min): ``points`` on it,
          ``distinct`` objective pairs among them, ``of`` selected.

    Examples
    --------
    >>> import quidam_fast as qf
    >>> ds = qf.evaluate("alexnet", {"pe_type": ["int", "lightpe1"], "bits": [8, 16]}, per_layer=False)
    >>> r = qf.report(ds)
    >>> r.sections[0]["gains"]["perf_per_area"]["int:16"]["gain"]
    1.0
    >>> "higher is better" in r.to_text()
    True
    """
    constraints = parse_where(where)
    if not (isinstance(accuracy_tolerance, (int, float)) and 0 <= accuracy_tolerance < 1):
        raise QuidamInputError(f"accuracy tolerance {accuracy_tolerance!r} is not a fraction in [0, 1) "
                               "(0.01 = one percentage point)")
    missing = [name for name, *_ in _REPORT_METRICS if name not in ds.variables]
    if missing:
        raise QuidamInputError(f"the result has no {', '.join(missing)}: the report needs perf_per_area and "
                               "energy_per_inference_j")
    selected = select(ds, constraints)
    scopes = [d for d in SCOPE_DIMS if d in selected.dims and selected.sizes[d] > 1]
    sections = []
    if scopes:
        labels = [ds[d].values for d in scopes]
        for position in np.ndindex(*(len(v) for v in labels)):
            index = dict(zip(scopes, position))
            part = selected.isel(index)
            if not bool(part.any()):  # e.g. where network==... picked another network
                continue
            scope = {d: _plain(labels[i][position[i]]) for i, d in enumerate(scopes)}
            sections.append(_section(ds.isel(index), part, constraints, accuracy_tolerance, scope))
    else:
        sections.append(_section(ds, selected, constraints, accuracy_tolerance, {}))
    across = _across_networks(ds, selected) if "network" in scopes and len(sections) > 1 else None
    return Report(where=[c.text for c in constraints], accuracy_tolerance=float(accuracy_tolerance), sections=sections,
                  across=across)


#: The co-exploration's front across networks: accuracy beside the report's two figures of merit.
ACROSS_FRONT = {"accuracy": "max", **REPORT_FRONT}


def _across_networks(ds: xr.Dataset, selected: xr.DataArray) -> dict | None:
    """The model co-exploration's answer: the Pareto front of :data:`ACROSS_FRONT` over the selected
    designs of every network together (``None`` without accuracy: the sections say it all)."""
    dims = tuple(selected.dims)
    if "accuracy" not in ds.variables or not set(ds["accuracy"].dims) <= set(dims):
        return None
    shape = tuple(selected.sizes[d] for d in dims)
    flats = {name: np.asarray(_flat_on(ds[name], dims, shape), dtype=np.float64) for name in ACROSS_FRONT}  # no copy of float64
    usable = selected.values.reshape(-1) & np.logical_and.reduce([np.isfinite(v) for v in flats.values()])
    index = np.flatnonzero(usable)
    if not len(index):
        return None
    # Accuracy takes few values (one per network, PE type and precision): a point on the front is on the
    # two-objective front of the points sharing its accuracy (within them, dominating in the other two
    # objectives is dominating), so those small fronts are the only candidates for the full sort.
    accuracy = flats["accuracy"][index]
    order = np.argsort(accuracy, kind="stable")
    candidates = []
    for group in np.split(index[order], np.flatnonzero(np.diff(accuracy[order])) + 1):
        candidates.append(group[front_mask_rows(np.stack([flats[name][group] * (1.0 if direction == "min" else -1.0)
                                                          for name, direction in REPORT_FRONT.items()]))])
    candidates = np.sort(np.concatenate(candidates))
    front = candidates[front_mask_rows(np.stack([flats[name][candidates] * (1.0 if direction == "min" else -1.0)
                                                 for name, direction in ACROSS_FRONT.items()]))]
    network_of = np.unravel_index(front, shape)[dims.index("network")]
    names = [_plain(v) for v in ds["network"].values]

    def design(flat: int) -> dict:
        return {"design": _design(ds, dims, shape, flat), **{name: float(flats[name][flat]) for name in ACROSS_FRONT}}

    extremes = {}
    for name, direction in ACROSS_FRONT.items():
        values = flats[name][front]
        extremes[name] = design(int(front[np.argmax(values) if direction == "max" else np.argmin(values)]))
    return {"objectives": dict(ACROSS_FRONT), "points": int(len(front)), "of": int(len(index)),
            "fixed": [d for d in dims if selected.sizes[d] == 1],
            "per_network": {name: int((network_of == i).sum()) for i, name in enumerate(names)},
            "extremes": extremes}


def _across_text(a: dict, markdown: bool) -> str:
    bullet = "- " if markdown else "  "
    per_network = ", ".join(f"{name} {count:,}" for name, count in a["per_network"].items())
    lines = [f"{'## ' if markdown else ''}Across the networks (model co-exploration)", *([""] if markdown else []),
             f"{bullet}Pareto front of accuracy (higher is better), performance per area (higher is better) and energy "
             f"per inference (lower is better): {_count(a['points'], 'design')} of {a['of']:,} selected with accuracy; "
             f"per network: {per_network}"]
    titles = {"accuracy": "the most accurate", "perf_per_area": "the highest performance per area",
              "energy_per_inference_j": "the lowest energy per inference"}
    for name, point in a["extremes"].items():
        lines.append(f"{bullet}{titles[name]} on it: {point['design'].get('network', '')} "
                     f"{point['design'].get('pe_type', '')} {describe_design(point['design'], skip=('network', 'pe_type', *a['fixed']))}: "
                     f"accuracy {point['accuracy']:.3f}, {point['perf_per_area']:.4g} inferences/s/mm2, "
                     f"{point['energy_per_inference_j'] * 1e3:.4g} mJ")
    return "\n".join(lines)


def _plain(value):
    """A numpy scalar as a Python one (for dicts and JSON)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _section(ds: xr.Dataset, selected: xr.DataArray, constraints: list[Constraint], tolerance: float, scope: dict) -> dict:
    dims = tuple(selected.dims)
    shape = tuple(selected.sizes[d] for d in dims)
    chosen = selected.values.reshape(-1)
    valid = ds["valid"].transpose(*dims).values.reshape(-1).astype(bool)
    has_accuracy = "accuracy" in ds.variables and set(ds["accuracy"].dims) <= set(dims)
    accuracy = _flat_on(ds["accuracy"], dims, shape) if has_accuracy else None
    if not chosen.any():
        raise QuidamInputError(f"no valid design point is selected{' for ' + str(scope) if scope else ''}")
    section: dict = {
        "scope": scope,
        "network": _plain(scope.get("network", ds.attrs.get("network", ""))),
        "tech": ds.attrs.get("tech", ""),
        "points": int(np.prod(shape)),
        "valid": int(valid.sum()),
        "selected": int(chosen.sum()),
        "where": [c.text for c in constraints],
        "distinct": _distinct(ds, selected),
        # axes of one value: said once in the header, left out of each design's description
        "fixed": {d: _plain(ds[d].values[0]) if d in ds.coords else 0 for d in dims if selected.sizes[d] == 1},
        "accuracy": ("joined" if has_accuracy and bool(np.isfinite(accuracy[chosen]).any()) else
                     "no accuracy" + (f" ({ds.attrs['accuracy']})" if "accuracy" in ds.attrs else "")),
        "accuracy_tolerance": tolerance,
        "metrics": {},
    }
    groups = _groups(ds, dims, shape, ["pe_type"])
    pairs = _groups(ds, dims, shape, ["pe_type", "bits"])
    flats = {}
    for name, title, unit, scale, larger in _REPORT_METRICS:
        values = np.asarray(_flat_on(ds[name], dims, shape), dtype=np.float64)  # read only: no copy of float64
        flats[name] = values
        usable = chosen & np.isfinite(values)
        best_overall = _best_index(values, usable, larger)
        worst_overall = _best_index(values, usable, not larger)
        metric = {
            "title": title, "variable": name, "unit": unit, "scale": scale,
            "units": ds[name].attrs.get("units", ""), "better": "higher" if larger else "lower",
            "spread": _ratio(values[best_overall], values[worst_overall], larger),
            "best_value": float(values[best_overall]) * scale, "worst_value": float(values[worst_overall]) * scale,
            "best": [], "spread_by_pe_type": {},
        }
        for label, members in groups:
            if not _any(usable, members):  # said in the report rather than silently left out
                metric["best"].append({"pe_type": label["pe_type"], "value": None, "design": None, "accuracy": None})
                continue
            best, worst = _best_in(values, usable, larger, members), _best_in(values, usable, not larger, members)
            metric["spread_by_pe_type"][label["pe_type"]] = _ratio(values[best], values[worst], larger)
            metric["best"].append({
                "pe_type": label["pe_type"], "value": float(values[best]) * scale,
                "design": _design(ds, dims, shape, best),
                "accuracy": float(accuracy[best]) if accuracy is not None else None,
            })
        section["metrics"][name] = metric
    section.update(_gains(ds, dims, shape, chosen, flats, accuracy, pairs, tolerance))
    section["pareto"] = _front_size(flats, chosen)
    return section


def _groups(ds: xr.Dataset, dims, shape, by: list[str]) -> list[tuple[dict, np.ndarray | slice]]:
    """``(labels, members)`` per combination of the ``by`` dims (scalar coordinates: one group; absent:
    none). ``members`` is a flat mask, or a slice of the flat arrays where the ``by`` dims lead ``dims``
    (a result's ``pe_type`` and ``bits`` do): each group is then one block, and its best design is
    found in the block alone (:func:`_best_in`), not by a pass over every point per group -- measured
    on the default result, 1.6 s of the report's 2-5 s went to 248 such passes and the masks."""
    present = [d for d in by if d in dims]
    scalar = {d: _plain(ds[d].values.item()) for d in by if d not in dims and d in ds.coords and ds[d].ndim == 0}
    if len(present) + len(scalar) < len(by):
        return []
    if not present:
        return [(scalar, slice(0, int(np.prod(shape))))]
    if list(dims[: len(present)]) == present:
        inner = int(np.prod(shape[len(present):]))
        groups = []
        for block, position in enumerate(np.ndindex(*(len(ds[d]) for d in present))):
            label = dict(scalar)
            label.update({d: _plain(ds[d].values[p]) for d, p in zip(present, position)})
            groups.append(({d: label[d] for d in by}, slice(block * inner, (block + 1) * inner)))
        return groups
    codes = [_flat_on(xr.DataArray(np.arange(len(ds[d])), dims=(d,), name=d), dims, shape) for d in present]
    groups = []
    for position in np.ndindex(*(len(ds[d]) for d in present)):
        members = np.ones(int(np.prod(shape)), dtype=bool)
        for code, p in zip(codes, position):
            members &= code == p
        label = dict(scalar)
        label.update({d: _plain(ds[d].values[p]) for d, p in zip(present, position)})
        groups.append(({d: label[d] for d in by}, members))
    return groups


def _any(mask: np.ndarray, members: np.ndarray | slice) -> bool:
    """Whether ``mask`` holds somewhere among ``members`` (a flat mask or slice, :func:`_groups`)."""
    return bool(mask[members].any() if isinstance(members, slice) else (mask & members).any())


def _local(values, usable, accuracy, members) -> tuple:
    """A group's ``values``, usable points and ``accuracy`` (``None`` stays ``None``), and the flat index
    of their first element: the block itself for a slice, the whole arrays (usable masked) for a mask."""
    if isinstance(members, slice):
        return values[members], usable[members], None if accuracy is None else accuracy[members], members.start
    return values, usable & members, accuracy, 0


def _best_in(values: np.ndarray, usable: np.ndarray, larger: bool, members: np.ndarray | slice) -> int:
    """:func:`_best_index` among ``members``: the flat index of the best usable value there, the first in
    flat order among equals (0 when none is usable, as :func:`_best_index` gives)."""
    values, usable, _, offset = _local(values, usable, None, members)
    if offset and not usable.any():
        return 0
    return offset + _best_index(values, usable, larger)


def _best_index(values: np.ndarray, usable: np.ndarray, larger: bool) -> int:
    """Flat index of the best usable value (the first in flat order among equals)."""
    masked = np.where(usable, values, -np.inf if larger else np.inf)
    return int(np.argmax(masked) if larger else np.argmin(masked))


def _ratio(best: float, worst: float, larger: bool) -> float:
    """best / worst as a factor >= 1 whatever the direction (higher: best/worst; lower: worst/best)."""
    low, high = (worst, best) if larger else (best, worst)
    return float(high / low) if low > 0 else math.inf


def _design(ds: xr.Dataset, dims, shape, flat: int) -> dict:
    position = np.unravel_index(flat, shape)
    return {d: _plain(ds[d].values[p]) if d in ds.coords else int(p) for d, p in zip(dims, position)}


def _distinct(ds: xr.Dataset, selected: xr.DataArray) -> dict | None:
    """Designs, counting ws/os/is points that differ only in the scratchpad axes (which they do not use) once."""
    spads = [d for d in ("spad_ifmap", "spad_filter", "spad_psum") if d in selected.dims]
    if "dataflow" not in selected.dims or not spads:
        return None
    labels = [str(v) for v in ds["dataflow"].values]
    spatial = [i for i, d in enumerate(labels) if d == "rs"]
    systolic = [i for i, d in enumerate(labels) if d != "rs"]
    count = int(selected.isel(dataflow=spatial).sum()) if spatial else 0
    if systolic:
        count += int(selected.isel(dataflow=systolic).isel({d: 0 for d in spads}).sum())
    if count == int(selected.sum()):  # one value per scratchpad axis, or no ws/os/is: nothing to say
        return None
    return {"designs": count, "note": "ws/os/is ignore the scratchpad axes"}


def _gains(ds, dims, shape, chosen, flats, accuracy, pairs, tolerance) -> dict:
    """The best design of each (pe_type, bits) against the best int16 design, per figure of merit."""
    if not pairs:
        return {"gains": None, "gains_note": "the result has no pe_type and bits axes"}
    members = {(label["pe_type"], label["bits"]): mask for label, mask in pairs}
    key = (REFERENCE["pe_type"], REFERENCE["bits"])
    reference_name = f"{REFERENCE['pe_type']}{REFERENCE['bits']}"
    if key not in members or not _any(chosen, members[key]):
        return {"gains": None, "gains_note": f"the selection has no valid {REFERENCE['pe_type']} {REFERENCE['bits']}-bit "
                                             "design to compare against"}
    gains = {}
    for name, title, unit, scale, larger in _REPORT_METRICS:
        values = flats[name]
        usable = chosen & np.isfinite(values)
        reference = _best_in(values, usable, larger, members[key])
        reference_accuracy = float(accuracy[reference]) if accuracy is not None else math.nan
        table = {"reference": {"value": float(values[reference]) * scale, "accuracy": _none_if_nan(reference_accuracy),
                               "design": _design(ds, dims, shape, reference)}}
        for (pe_type, bits), group in members.items():
            # the group's own block of the flat arrays (or the whole arrays, masked): indices are local
            local, inside, local_accuracy, offset = _local(values, usable, accuracy, group)
            if not inside.any():
                continue
            status = "no accuracy"
            if local_accuracy is not None and not math.isnan(reference_accuracy):
                known = inside & np.isfinite(local_accuracy)
                matched = known & (local_accuracy >= reference_accuracy - tolerance - 1e-12)
                if matched.any():
                    inside, status = matched, "matched"
                elif known.any():
                    status = "below"
            best = _best_index(local, inside, larger)
            gain = local[best] / values[reference] if larger else values[reference] / local[best]
            table[f"{pe_type}:{bits}"] = {
                "pe_type": pe_type, "bits": bits, "gain": float(gain), "value": float(local[best]) * scale,
                "accuracy": _none_if_nan(float(local_accuracy[best])) if local_accuracy is not None else None,
                "status": status, "design": _design(ds, dims, shape, offset + best),
            }
        gains[name] = table
    return {"gains": gains, "gains_note": "", "reference": reference_name, "answer": _answer(gains)}


def _answer(gains: dict) -> dict:
    """QUIDAM's question, per figure of merit: the best LightPE design (any LightPE type and precision)
    against the best int16 design, among the LightPE cells at matched accuracy when accuracy is joined
    (``basis`` "matched accuracy"; ``None`` when no LightPE cell reaches it), else on hardware alone
    (``basis`` "hardware only")."""
    answer = {}
    for name, table in gains.items():
        cells = [cell for key, cell in table.items() if key != "reference" and cell["pe_type"].startswith("lightpe")]
        matched = [cell for cell in cells if cell["status"] == "matched"]
        if any(cell["status"] in ("matched", "below") for cell in cells):
            basis, cells = "matched accuracy", matched
        else:
            basis = "hardware only"
        best = max(cells, key=lambda cell: cell["gain"]) if cells else None
        answer[name] = {"basis": basis, "best": best, "reference": table["reference"]}
    return answer


def _none_if_nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


def _front_size(flats: dict, chosen: np.ndarray) -> dict:
    values = np.stack([flats[name][chosen] * (1.0 if direction == "min" else -1.0)
                       for name, direction in REPORT_FRONT.items()])
    values = values[:, np.isfinite(values).all(axis=0)]
    on = front_mask_rows(values)
    return {"objectives": dict(REPORT_FRONT), "points": int(on.sum()),
            "distinct": int(len(np.unique(values[:, on], axis=1).T)), "of": int(values.shape[1])}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------------------------------
# rendering


def describe_design(design: Mapping, skip: Sequence[str] = ("pe_type",)) -> str:
    """A design point in one line: ``8b 32x64 os glb 64 KiB 12.8 GB/s 200 MHz`` (scratchpads for rs only;
    axes in ``skip`` left out; axes this function does not know as ``name=value``).

    >>> describe_design({"pe_type": "int", "bits": 8, "rows": 16, "cols": 32, "dataflow": "rs", "glb_kib": 64,
    ...                  "spad_ifmap": 12, "spad_filter": 224, "spad_psum": 24, "clock_mhz": 200.0, "batch": 4})
    '8b 16x32 rs glb 64 KiB spad 12/224/24 200 MHz batch=4'
    """
    d = {k: v for k, v in design.items() if k not in skip}
    formats = {"network": "{}", "pe_type": "{}", "bits": "{}b", "dataflow": "{}", "glb_kib": "glb {} KiB"}
    parts = [formats[k].format(d[k]) for k in ("network", "pe_type", "bits") if k in d]
    if "rows" in d and "cols" in d:
        parts.append(f"{d['rows']}x{d['cols']}")
    else:
        parts += [f"{k}={d[k]}" for k in ("rows", "cols") if k in d]
    parts += [formats[k].format(d[k]) for k in ("dataflow", "glb_kib") if k in d]
    spads = [name for name in ("spad_ifmap", "spad_filter", "spad_psum") if name in d]
    if spads and design.get("dataflow") == "rs":  # ws/os/is do not use them
        parts.append("spad " + "/".join(str(d[name]) for name in spads))
    parts += [f"{d[k]:g} {unit}" for k, unit in (("dram_gbps", "GB/s"), ("clock_mhz", "MHz")) if k in d]
    known = {"network", "pe_type", "bits", "rows", "cols", "dataflow", "glb_kib", "spad_ifmap", "spad_filter",
             "spad_psum", "dram_gbps", "clock_mhz"}
    parts += [f"{k}={v}" for k, v in d.items() if k not in known]
    return " ".join(parts)


def _count(number, noun: str, form: str = "{:,}") -> str:
    """``1 design``, ``104 designs``."""
    return f"{form.format(number)} {noun}{'' if number == 1 else 's'}"


def _accuracy_text(value) -> str:
    return "no accuracy" if value is None or (isinstance(value, float) and math.isnan(value)) else f"accuracy {value:.3f}"


def _factor(value: float, up: str, down: str) -> str:
    """``6.15x less`` / ``1.56x more``: a factor >= 1 and the word that says which way."""
    if not math.isfinite(value) or value <= 0:
        return "n/a"
    return f"{value:.2f}x {up}" if value >= 1 else f"{1 / value:.2f}x {down}"


def _section_text(s: dict, markdown: bool) -> str:
    lines: list[str] = []
    head = "## " if markdown else ""
    bullet = "- " if markdown else "  "
    title = f"{s['network']} on {s['tech']}" if s["network"] or s["tech"] else "result"
    distinct = (f" ({s['distinct']['designs']:,} distinct designs: {s['distinct']['note']})" if s["distinct"] else "")
    if s["where"]:
        lines.append(f"{head}{title}: {s['selected']:,} selected ({' and '.join(s['where'])}) of {s['valid']:,} valid "
                     f"of {s['points']:,} design points" + distinct)
    else:
        lines.append(f"{head}{title}: {s['valid']:,} valid of {s['points']:,} design points" + distinct)
    if s["fixed"]:
        lines.append("every design has " + ", ".join(f"{d} = {v}" for d, v in s["fixed"].items()))
    lines.append(f"accuracy: {s['accuracy']}")
    for metric in s["metrics"].values():
        larger = metric["better"] == "higher"
        lines.append("")
        lines.append(f"{'### ' if markdown else ''}Best {metric['title']} per PE type, {metric['unit']} "
                     f"({metric['better']} is better)")
        if markdown:
            lines.append("")
            lines.append(f"| PE type | {metric['unit']} | design | accuracy |")
            lines.append("|---|---:|---|---|")
        for row in metric["best"]:
            if row["value"] is None:
                lines.append(f"| {row['pe_type']} | | no valid selected design | |" if markdown
                             else f"  {row['pe_type']:<9} {'-':>10}  no valid selected design")
                continue
            if markdown:
                lines.append(f"| {row['pe_type']} | {row['value']:.4g} | {describe_design(row['design'], skip=('pe_type', *s['fixed']))} | "
                             f"{_accuracy_text(row['accuracy']).replace('accuracy ', '')} |")
            else:
                lines.append(f"  {row['pe_type']:<9} {row['value']:>10.4g}  {describe_design(row['design'], skip=('pe_type', *s['fixed']))}"
                             + (f"  {_accuracy_text(row['accuracy'])}" if s["accuracy"] == "joined" else ""))
        if markdown:
            lines.append("")
        per_type = ", ".join(f"{pe} {ratio:,.1f}x" for pe, ratio in metric["spread_by_pe_type"].items())
        what = ("the best selected design has {r} the {t} of the worst" if larger
                else "the worst selected design uses {r} the {t} of the best")
        lines.append(f"{bullet}spread (best/worst) {metric['spread']:,.1f}x: "
                     + what.format(r=f"{metric['spread']:,.1f} times", t=metric["title"])
                     + f" ({metric['best_value']:.4g} vs {metric['worst_value']:.4g} {metric['unit']}); "
                     f"within each PE type: {per_type}")
    lines.append(f"{bullet}the spread shows how much the choice of design matters: it spans array size, precision, "
                 "dataflow, buffers and clock over the selection; the per-PE-type figures hold the PE type fixed")
    lines.append("")
    lines.extend(_gains_text(s, markdown))
    front = s["pareto"]
    lines.append("")
    if markdown:
        lines += ["### Pareto front", ""]
    lines.append(f"Pareto front (performance per area: higher is better; energy per inference: "
                 f"lower is better): {_count(front['points'], 'design')} ({_count(front['distinct'], 'distinct trade-off')}) "
                 f"of {front['of']:,} selected; no other selected design is as good in both and better in one")
    return "\n".join(lines)


def _gains_text(s: dict, markdown: bool) -> list[str]:
    head = "### " if markdown else ""
    if s["gains"] is None:
        return [f"{head}Gain over the best int16 design: none ({s['gains_note']})"]
    area, energy = s["gains"]["perf_per_area"], s["gains"]["energy_per_inference_j"]
    ra, re_ = area["reference"], energy["reference"]
    tolerance = s["accuracy_tolerance"]
    matched = s["accuracy"] == "joined" and ra["accuracy"] is not None
    lines = [f"{head}Best design of each PE type and precision against the best int16 design",
             f"  performance per area: times higher than int16's best, {ra['value']:.4g} inferences/s/mm2 "
             f"({describe_design(ra['design'], skip=tuple(s['fixed']))}; {_accuracy_text(ra['accuracy'])}); higher is better",
             f"  energy per inference: times less than int16's best, {re_['value']:.4g} mJ "
             f"({describe_design(re_['design'], skip=tuple(s['fixed']))}; {_accuracy_text(re_['accuracy'])}); higher is better"]
    if matched:
        lines.append(f"  at matched accuracy: a precision counts where its accuracy is at most "
                     f"{_count(tolerance * 100, 'percentage point', '{:g}')} below the int16 design's "
                     f"({ra['accuracy']:.3f}); 'not matched' where it is lower (its accuracy is shown)")
    elif s["accuracy"] == "joined":
        lines.append("  no accuracy for the int16 design: the figures compare hardware only")
    else:
        lines.append("  no accuracy: the figures compare hardware only")
    if markdown:
        lines = [lines[0], ""] + [line.strip() for line in lines[1:]] + [""]
        lines.append("| PE type | bits | performance per area | energy per inference | accuracy | int16 accuracy |")
        lines.append("|---|---:|---|---|---|---|")
    else:
        lines.append(f"  {'PE type':<9} {'bits':>4}  {'perf/area':<16} {'energy':<16} accuracy")
    for key, cell in area.items():
        if key == "reference":
            continue
        other = energy.get(key)
        e_text = _factor(other["gain"], "less", "more") if other else "n/a"
        a_text = _factor(cell["gain"], "higher", "lower")
        status = cell["status"]
        if status == "below":  # at this precision no design reaches the int16 design's accuracy: no gain
            a_text = e_text = "not matched"
        acc = "no accuracy" if status == "no accuracy" or cell["accuracy"] is None else f"{cell['accuracy']:.3f}"
        if markdown:
            lines.append(f"| {cell['pe_type']} | {cell['bits']} | {a_text} | {e_text} | {acc} | "
                         f"{'n/a' if ra['accuracy'] is None else format(ra['accuracy'], '.3f')} |")
        else:
            lines.append(f"  {cell['pe_type']:<9} {cell['bits']:>4}  {a_text:<16} {e_text:<16} {acc}")
    return lines + _answer_text(s, markdown)


def _answer_text(s: dict, markdown: bool) -> list[str]:
    """The best LightPE design against the best int16 design, one line per figure of merit."""
    answers = s.get("answer") or {}
    if not answers:
        return []
    basis = next(iter(answers.values()))["basis"]
    what = (f"at matched accuracy (within {_count(s['accuracy_tolerance'] * 100, 'percentage point', '{:g}')} of "
            "int16's best)" if basis == "matched accuracy" else "on hardware alone (no accuracy)")
    lines = ["", f"{'### ' if markdown else ''}The best LightPE design against the best int16 design, {what}"]
    if markdown:
        lines.append("")
    bullet = "- " if markdown else "  "
    for name, title, _unit, _scale, larger in _REPORT_METRICS:
        best, reference = answers[name]["best"], answers[name]["reference"]
        if best is None:
            lines.append(f"{bullet}{title}: no LightPE design reaches the int16 design's accuracy "
                         f"({_accuracy_text(reference['accuracy'])})")
            continue
        factor = _factor(best["gain"], "higher", "lower") if larger else _factor(best["gain"], "less", "more")
        accuracies = ("" if basis != "matched accuracy" else
                      f"; accuracy {best['accuracy']:.3f} against {reference['accuracy']:.3f}")
        lines.append(f"{bullet}{title}: {factor} ({best['pe_type']} {describe_design(best['design'], skip=('pe_type', *s['fixed']))}"
                     f" against int {describe_design(reference['design'], skip=('pe_type', *s['fixed']))}{accuracies})")
    return lines
