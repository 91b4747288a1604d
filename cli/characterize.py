"""``quidam-fast characterize``: generate, verify and synthesize the PEs and scratchpads, refit the models.

Regenerate the shipped technology table (from the repository root)::

    quidam-fast characterize --out core/data

Refit from the measurements already there (no synthesis; rewrites the fit report and the technology file)::

    quidam-fast characterize --refit-only --out core/data

Any other ``--out`` writes ``characterization/results.csv``, ``characterization/fit-report.md`` and
``tech/characterized-osu018.toml`` under that folder and leaves the shipped data alone. With another
liberty (``--liberty FILE --node-nm N``) the technology is named after its library,
``tech/characterized-<library>.toml``, and ``grid --tech`` takes that file's path.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from quidam_fast import characterize as qc
from quidam_fast.cli._progress import bar
from quidam_fast._files import check_output_path


def characterize(
    liberty: Annotated[
        Optional[Path],
        typer.Option(help="Standard-cell liberty; default OSU018 from Debian's qflow-tech-osu018."),
    ] = None,
    node_nm: Annotated[
        Optional[float],
        typer.Option("--node-nm", help="The liberty's process node in nm (scales the CACTI SRAM table); "
                     "needed with --liberty, known for OSU018 (180)."),
    ] = None,
    bits: Annotated[
        Optional[list[int]],
        typer.Option("--bits", help="PE widths to characterize (repeat the option); default 2 3 4 6 8 12 16 "
                     "24 32. 2 bits (ternary operands) is measured, not fitted."),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(help="Output folder; 'core/data' (from the repository root) regenerates the shipped files."),
    ] = Path("characterization-out"),
    reduced: Annotated[bool, typer.Option(help="Quick reduced sweep (a few small widths).")] = False,
    spad: Annotated[bool, typer.Option(help="Also characterize the scratchpads.")] = True,
    workdir: Annotated[
        Optional[Path], typer.Option(help="Keep netlists, scripts and logs here (default: a temporary folder).")
    ] = None,
    refit_only: Annotated[
        bool, typer.Option("--refit-only", help="Synthesize nothing: refit OUT/characterization/results.csv and "
                           "rewrite the fit report and the technology file.")
    ] = False,
) -> None:
    """Characterize the PE types and scratchpads by synthesis and fit the polynomial PPA models."""
    # Where the results and the logs go is checked before any synthesis (minutes to a quarter hour):
    # a file, /proc or a read-only folder is refused now, not when the outputs are written.
    check_output_path(out, "--out", folder=True, create_parents=True)
    if workdir is not None:
        check_output_path(workdir, "--workdir", folder=True, create_parents=True)
    if refit_only:
        if liberty is not None or bits or reduced or not spad or workdir is not None:
            raise qc.CharacterizationError("--refit-only takes only --out (and --node-nm): the measurements "
                                           "already in OUT/characterization/results.csv say what was synthesized")
        command = " ".join(["quidam-fast characterize --refit-only",
                            *([f"--node-nm {node_nm:g}"] if node_nm is not None else []), f"--out {shlex.quote(str(out))}"])
        for p in qc.refit(out, command=command, node_nm=node_nm).values():
            typer.echo(f"wrote {p}")
        return
    args = [f"--liberty {shlex.quote(str(liberty))}"] if liberty else []
    args += [f"--node-nm {node_nm:g}"] if node_nm is not None else []
    args += [f"--bits {b}" for b in bits or []]
    args += ["--reduced"] if reduced else []
    args += [] if spad else ["--no-spad"]
    command = " ".join(["quidam-fast characterize", *args, f"--out {shlex.quote(str(out))}"])
    sweep = qc.sweep_for(bits, reduced=reduced, spad=spad)
    # on a terminal: designs done, designs/min, elapsed and time left, a line per design above the bar
    with bar("characterizing", sweep.size, "designs") as shown:
        def progress(line: str) -> None:
            shown.echo(line)
            shown.update(advance=1)

        result = qc.run_flow(sweep, liberty=liberty, workdir=workdir, progress=progress, node_nm=node_nm)
    typer.echo(f"logs and netlists kept in {result.meta['workdir']}")
    paths = qc.write_outputs(result, out, command=command.strip())
    for p in paths.values():
        typer.echo(f"wrote {p}")
