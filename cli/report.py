"""``quidam-fast report``: the headline figures of a result file (:func:`quidam_fast.report`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

import quidam_fast as qf
from quidam_fast.analysis import REPORT_VARIABLES, parse_where
from quidam_fast.errors import QuidamInputError


FORMATS = ("text", "markdown", "json")


def report(
    result: Annotated[Path, typer.Argument(
        metavar="RESULT", help="A result file written by quidam-fast grid (.nc or .zarr).")],
    where: Annotated[Optional[list[str]], typer.Option(
        metavar="EXPR", help="Constraint VARIABLE OP VALUE (OP: <= >= < > == !=), e.g. area_mm2<=10, pe_type==lightpe1; "
             "repeatable, all must hold.")] = None,
    format: Annotated[str, typer.Option("--format", metavar="FORMAT", help="text, markdown or json.")] = "text",
    accuracy_tolerance: Annotated[float, typer.Option(
        metavar="FRACTION", help="Matched accuracy in the gain table: at most this fraction below the int16 design's accuracy "
             "(0.01 = one point).")] = 0.01,
) -> None:
    """Spread, best design per PE type, gain over the best int16 design at matched accuracy, Pareto front size.

    Every figure says what it is and which way is better; --where restricts them to the valid designs
    that satisfy every constraint.
    """
    # what the user typed is checked before the file is read (a text option, not a click Choice: one
    # error line in the package's form, not click's usage block)
    if format not in FORMATS:
        raise QuidamInputError(f"--format {format!r} is not allowed; allowed: {', '.join(FORMATS)}")
    constraints = parse_where(where)
    # only what the report reads (the default result holds forty variables: the rest would double the
    # time); a constraint on a variable the file lacks reads it all, for select to say what is allowed
    needed = [*REPORT_VARIABLES, *(c.variable for c in constraints)]
    ds = qf.open_result(result, variables=needed)
    if any(c.variable not in ds.variables for c in constraints):
        ds = qf.open_result(result)
    figures = qf.report(ds, where=constraints, accuracy_tolerance=accuracy_tolerance)
    if format == "json":
        typer.echo(json.dumps(figures.to_dict(), indent=2))
    elif format == "markdown":
        typer.echo(figures.to_markdown())
    else:
        typer.echo(figures.to_text())
