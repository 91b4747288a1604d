"""``quidam-fast pareto``: the Pareto front of a result file as a table (:func:`quidam_fast.pareto`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import quidam_fast as qf
from quidam_fast.analysis import front_table, parse_objectives, parse_where
from quidam_fast.export import check_table_path, write_table


def pareto(
    result: Annotated[Path, typer.Argument(
        metavar="RESULT", help="A result file written by quidam-fast grid (.nc or .zarr).")],
    objectives: Annotated[str, typer.Option(
        metavar="NAME:min|max,...", help="VARIABLE:min or VARIABLE:max, comma-separated, e.g. energy_per_inference_j:min,perf_per_area:max.")],
    where: Annotated[Optional[list[str]], typer.Option(
        metavar="EXPR", help="Constraint VARIABLE OP VALUE (OP: <= >= < > == !=), e.g. area_mm2<=10; repeatable, all must hold.")] = None,
    out: Annotated[Optional[Path], typer.Option(
        metavar="FILE", help="Also write the front as a table: .csv or .parquet (columns NAME [UNITS]).")] = None,
) -> None:
    """Print the designs no other selected valid design beats in every objective: their axis values and
    objective values, best first in the first objective (designs equal in every objective share a row)."""
    # everything the user typed is checked before the file is read
    parse_objectives(objectives)
    constraints = parse_where(where)
    if out is not None:
        check_table_path(out)
    ds = qf.open_result(result)
    wanted = parse_objectives(objectives, ds)
    mask = qf.analysis.select(ds, constraints)
    front = qf.pareto(ds, wanted, where=constraints)
    if out is not None:
        write_table(front_table(ds, front, wanted, merge_ties=False), out)
    shown = front_table(ds, front, wanted)
    typer.echo(f"{int(front.sum()):,} designs on the Pareto front of {int(mask.sum()):,} selected valid designs ("
               + ", ".join(f"{name}: {'lower' if d == 'min' else 'higher'} is better" for name, d in wanted.items())
               + (f"; where {' and '.join(c.text for c in constraints)}" if constraints else "")
               + "); designs equal in every objective share a row, their axis values joined by |"
               + (", one row each in the --out table" if out is not None else "") + ":")
    typer.echo(shown.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
    if out is not None:
        typer.echo(f"wrote {out}", err=True)
