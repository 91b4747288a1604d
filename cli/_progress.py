"""Progress display of the long commands (``grid``, ``characterize``, ``quant train``): one rich bar on
stderr with the count, the rate and the time left, or a spinner with the elapsed time for a step of
unknown length (writing a large result).

Only on a terminal: when stderr is a file or a pipe (a log, a CI job, a test) nothing is drawn at all,
so logs get no bar fragments; the commands' own lines still go there. stdout is never touched, so it
holds only a command's answer.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


def shown(quiet: bool = False) -> bool:
    """Whether progress is drawn: not ``quiet`` and stderr is a terminal."""
    return not quiet and sys.stderr.isatty()


class _Rate(ProgressColumn):
    """Items per second (k/M suffixes), over rich's recent-speed window."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed and task.completed and task.elapsed:  # one update so far: the average since the start
            speed = task.completed / task.elapsed
        if not speed:
            return Text(f"-- {self.unit}/s", style="progress.data.speed")
        for scale, suffix in ((1e6, "M"), (1e3, "k"), (1.0, "")):
            if speed >= scale or scale == 1.0:
                value = speed / scale
                break
        text = f"{value:.3g} {suffix}{self.unit}/s" if speed >= 0.1 else f"{60 * speed:.3g} {self.unit}/min"
        return Text(text, style="progress.data.speed")


def _console() -> Console:
    return Console(file=sys.stderr, stderr=True)


class Bar:
    """What :func:`bar` yields: ``update`` the count, ``echo`` a line above the bar."""

    def __init__(self, progress: Progress | None = None, task=None):
        self._progress, self._task = progress, task

    def update(self, done: int | None = None, total: int | None = None, advance: int = 0) -> None:
        """Set the count (``done``), add to it (``advance``) or set the ``total`` (when it becomes known)."""
        if self._progress is not None:
            self._progress.update(self._task, completed=done, total=total, advance=advance or None)

    def echo(self, line: str) -> None:
        """Print ``line`` on stderr: above the bar when one is drawn, plainly otherwise (logs)."""
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def bar(description: str, total: int | None, unit: str, quiet: bool = False) -> Iterator[Bar]:
    """A progress bar for ``total`` items of ``unit`` (count, rate, elapsed and remaining time).

    Draws nothing when :func:`shown` is false: the :class:`Bar`'s ``update`` is then a no-op and its
    ``echo`` prints plain lines. The finished bar stays on screen.
    """
    if not shown(quiet):
        yield Bar()
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Rate(unit),
               TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
    with Progress(*columns, console=_console(), transient=False) as progress:
        yield Bar(progress, progress.add_task(description, total=total))


@contextlib.contextmanager
def spinner(description: str, quiet: bool = False) -> Iterator[None]:
    """A spinner with the elapsed time while a step of unknown length runs (e.g. writing a result);
    on a terminal only. Removed when the step ends (the command then prints its own line)."""
    if not shown(quiet):
        yield
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()]
    with Progress(*columns, console=_console(), transient=True) as progress:
        progress.add_task(description, total=None)
        yield
