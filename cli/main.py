"""The ``quidam-fast`` command: one file per subcommand, composed here.

The CLI owns file I/O, progress display and error messages; it calls only the public Python API.
A :class:`quidam_fast.QuidamInputError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys

import typer

from quidam_fast.errors import QuidamInputError

app = typer.Typer(
    name="quidam-fast",
    help="Quantization-aware DNN-accelerator and model co-exploration.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Quantization-aware DNN-accelerator and model co-exploration."""


def _register_commands() -> None:
    # Imported here so each command module can import the app's helpers without a cycle.
    from quidam_fast.cli import grid, networks, quant

    app.command("grid")(grid.grid)
    app.command("networks")(networks.networks)
    app.add_typer(quant.app, name="quant")
    from quidam_fast.cli import characterize

    app.command("characterize")(characterize.characterize)


_register_commands()


def main() -> None:
    """Console entry point: user mistakes exit 2 with one line, never a traceback."""
    try:
        app()  # click's own usage errors already exit 2 with a message
    except QuidamInputError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)
