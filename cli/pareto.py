"""``quidam-fast pareto``: the Pareto front of a result file as a table (:func:`quidam_fast.pareto`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import quidam_fast as qf
from quidam_fast.analysis import parse_objectives, parse_where
from quidam_fast.export import check_table_path, column_name, design_table, write_table


def pareto(
    result: Annotated[Path, typer.Argument(help="A result file written by quidam-fast grid (.nc or .zarr).")],
    objectives: Annotated[str, typer.Option(
        help="VARIABLE:min or VARIABLE:max, comma-separated, e.g. energy_per_inference_j:min,perf_per_area:max.")],
    where: Annotated[Optional[list[str]], typer.Option(
        help="Constraint VARIABLE OP VALUE (OP: <= >= < > == !=), e.g. area_mm2<=10; repeatable, all must hold.")] = None,
    out: Annotated[Optional[Path], typer.Option(
        help="Also write the front as a table: .csv or .parquet (columns NAME [UNITS]).")] = None,
) -> None:
    """Print the designs no other selected valid design beats in every objective: each design's axis
    values and objective values, best first in the first objective."""
    # everything the user typed is checked before the file is read
    parse_objectives(objectives)
    constraints = parse_where(where)
    if out is not None:
        check_table_path(out)
    ds = qf.open_result(result)
    wanted = parse_objectives(objectives, ds)
    front = qf.pareto(ds, wanted, where=constraints)
    table = design_table(ds, front, columns=list(wanted))
    first, direction = next(iter(wanted.items()))
    table = table.sort_values(column_name(first, ds[first].attrs.get("units")), ascending=direction == "min",
                              kind="stable", ignore_index=True)
    if out is not None:
        write_table(table, out)
    selected = int(qf.analysis.select(ds, constraints).sum())
    typer.echo(f"{len(table):,} designs on the Pareto front of {selected:,} selected valid designs ("
               + ", ".join(f"{name}: {'lower' if d == 'min' else 'higher'} is better" for name, d in wanted.items())
               + (f"; where {' and '.join(c.text for c in constraints)}" if constraints else "") + ")")
    typer.echo(table.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
    if out is not None:
        typer.echo(f"wrote {out}", err=True)
