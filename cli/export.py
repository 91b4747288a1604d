"""``quidam-fast export``: selected design points of a result as a CSV or Parquet table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import quidam_fast as qf
from quidam_fast.analysis import parse_objectives, select
from quidam_fast.export import check_table_path, design_table, write_table

WHERE_HELP = ("Constraint VARIABLE OP VALUE, OP one of <= >= < > == !=, e.g. area_mm2<=10, "
              "throughput_ips>=30, pe_type==lightpe1; repeat it or separate with commas: all must hold.")


def export(
    result: Annotated[Path, typer.Argument(metavar="RESULT", help="A result file written by quidam-fast grid (.nc or .zarr).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The table to write: .csv or .parquet (written atomically).")],
    where: Annotated[Optional[list[str]], typer.Option("--where", help=WHERE_HELP)] = None,
    pareto: Annotated[
        Optional[str],
        typer.Option("--pareto", help="Only the Pareto front over these objectives, VARIABLE:min|max comma-separated, "
                     "e.g. energy_per_inference_j:min,perf_per_area:max."),
    ] = None,
    columns: Annotated[
        Optional[str],
        typer.Option("--columns", help="Variables to write after the design axes, comma-separated "
                     "(default: every variable with one value per design point)."),
    ] = None,
) -> None:
    """Write one row per selected valid design point: its axis values, then the variables.

    Column names carry units as NAME [UNITS] (e.g. "area_mm2 [mm2]", "perf_per_area [1/(s mm2)]");
    dimensionless and text columns are the bare name. Per-layer variables are left out.
    """
    check_table_path(out)  # before the result is read: a mistake costs no work
    names = [name.strip() for name in columns.split(",") if name.strip()] if columns is not None else None
    ds = qf.open_result(result)
    mask = qf.pareto(ds, parse_objectives(pareto, ds), where=where) if pareto is not None else select(ds, where)
    frame = design_table(ds, mask, columns=names)
    write_table(frame, out)
    typer.echo(f"wrote {out}: {len(frame):,} design points x {frame.shape[1]} columns", err=True)
