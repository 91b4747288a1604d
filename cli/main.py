"""The ``quidam-fast`` command: one file per subcommand, composed here.

The CLI owns file I/O, progress display and error messages; it calls only the public Python API.
A :class:`quidam_fast.QuidamInputError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
from typing import Annotated

import typer

from quidam_fast import _files
from quidam_fast.errors import QuidamInputError

app = typer.Typer(
    name="quidam-fast",
    help="Quantization-aware DNN-accelerator and model co-exploration.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: paragraphs rewrapped to the terminal, flags without a <bool> placeholder,
    # and "[space]" in a help text printed as typed (rich markup would swallow it)
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"quidam-fast {version('quidam-fast')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("quidam-fast (not installed: no version metadata)")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Quantization-aware DNN-accelerator and model co-exploration."""


def _register_commands() -> None:
    # Imported here so each command module can import the app's helpers without a cycle.
    from quidam_fast.cli import grid, networks, quant

    app.command("grid")(grid.grid)
    app.command("networks")(networks.networks)
    app.add_typer(quant.app, name="quant")
    from quidam_fast.cli import characterize

    app.command("characterize")(characterize.characterize)
    from quidam_fast.cli import export, plot

    app.command("plot")(plot.plot)
    app.command("export")(export.export)
    from quidam_fast.cli import pareto, report

    app.command("report")(report.report)
    app.command("pareto")(pareto.pareto)


_register_commands()


def main() -> None:
    """Console entry point: user mistakes exit 2 with one line, never a traceback.

    A Ctrl-C (SIGINT) anywhere prints one line saying what was and was not written, and exits 130; a
    full disk or a read-only file system met while writing is one ``error:`` line and exit 2.
    """
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _heard_interrupt)  # start-up is over (see quidam_fast._startup)
    _HEARD.clear()
    sys.unraisablehook = _quiet_about_interrupts
    try:
        # not standalone: click's usage errors come here, to be one line like every other mistake
        code = app(standalone_mode=False)
    except _click.NoArgsIsHelpError as error:  # a bare command prints its help, as asked
        error.show()
        sys.exit(error.exit_code)
    except _click.UsageError as error:
        where = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
        _say(f"error: {' '.join(error.format_message().split())}{where}")
        sys.exit(2)
    except _click.ClickException as error:
        _say(f"error: {' '.join(error.format_message().split())}")
        sys.exit(error.exit_code)
    except _ABORTS:  # end of input at a prompt
        _say("error: aborted; " + _files.interrupted_message().removeprefix("interrupted: "))
        sys.exit(1)
    except QuidamInputError as error:
        _say(f"error: {error}")
        sys.exit(2)
    except KeyboardInterrupt:
        _say(_files.interrupted_message())
        sys.exit(130)
    except SystemExit as exit_:
        if exit_.code == 130 and _caused_by_interrupt(exit_):
            _say(_files.interrupted_message())
        raise
    except OSError as error:
        if error.errno not in _USER_OS_ERRORS:
            raise  # anything else is a bug: keep its traceback
        where = f"{error.filename}: " if error.filename else ""
        _say(f"error: {where}{error.strerror or error}")
        sys.exit(2)
    if code == 130 or _HEARD:  # typer turns a KeyboardInterrupt inside a command into exit status 130
        _say(_files.interrupted_message())
        sys.exit(130)
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:  # --help and --version return 0
        sys.exit(code)


try:  # typer 0.2x carries its own copy of click
    from typer._click import exceptions as _click
except ImportError:  # older typer: click itself
    from click import exceptions as _click

_ABORTS = tuple({typer.Abort, getattr(_click, "Abort", typer.Abort)})

#: Errors of the machine, not of the program: a full disk or quota, a read-only file system.
_USER_OS_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


#: The SIGINTs the command received: a KeyboardInterrupt raised where Python only reports it ("Exception
#: ignored in" a weakref or finalizer callback) and carries on must still end the command with 130.
_HEARD: list[int] = []


def _heard_interrupt(signum, frame) -> None:
    _HEARD.append(signum)
    raise KeyboardInterrupt


def _quiet_about_interrupts(unraisable) -> None:
    """No "Exception ignored ... KeyboardInterrupt" traceback: the interrupt is heard (:data:`_HEARD`)
    and said in one line at the end; any other unraisable exception is reported as Python does."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)


def _caused_by_interrupt(error: BaseException) -> bool:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _say(line: str) -> None:
    """One line on stderr, even when a Ctrl-C lands while it is written."""
    try:
        typer.echo(line, err=True)
    except KeyboardInterrupt:
        typer.echo(line, err=True)
