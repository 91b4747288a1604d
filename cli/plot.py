"""``quidam-fast plot``: a figure of a result (PNG or SVG), drawn headless."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import quidam_fast as qf
from quidam_fast.cli.export import WHERE_HELP
from quidam_fast.plots import KINDS, check_figure_path, check_kind, plot as make_plot, save_figure

KIND_HELP = (
    "What to draw: tradeoff (performance per area against energy per inference, every point as a density, "
    "each PE type's Pareto front on top); accuracy (accuracy against energy per inference by PE type, with "
    "the front; needs a result with accuracy); breakdown (the energy parts of the lowest-energy design of "
    "each PE type); arrays (the lowest energy at each number of PEs, per dataflow)."
)


def plot(
    result: Annotated[Path, typer.Argument(metavar="RESULT", help="A result file written by quidam-fast grid (.nc or .zarr).")],
    kind: Annotated[str, typer.Option("--kind", "-k", help=KIND_HELP, metavar="|".join(KINDS))],
    out: Annotated[Path, typer.Option("--out", "-o", help="The figure to write: .png or .svg (written atomically).")],
    where: Annotated[Optional[list[str]], typer.Option("--where", help=WHERE_HELP)] = None,
) -> None:
    """Draw a figure of a result: axes carry units, log scales where values span decades."""
    check_kind(kind)  # both checked before the result is read
    check_figure_path(out)
    figure = make_plot(qf.open_result(result), kind, where)
    save_figure(figure, out)
    typer.echo(f"wrote {out}", err=True)
