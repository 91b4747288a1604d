"""Ctrl-C while the ``quidam-fast`` command starts: one line and exit status 130, never a traceback.

Importing the package (numba, xarray) takes most of a second; a SIGINT then would print a
``KeyboardInterrupt`` traceback from inside an import. This module is imported first by the package:
when the process is the command (the console script, or ``python -m quidam_fast.cli``), it installs a
SIGINT handler that says nothing was written and exits 130 at once; :func:`quidam_fast.cli.main.main`
puts Python's own handler back when the command starts, and from then on turns a
:class:`KeyboardInterrupt` into its own line. Imported as a library, the package changes nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def _is_the_command() -> bool:
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    if argv0.startswith("quidam-fast"):  # the console script (quidam-fast, quidam-fast-script.py)
        return True
    orig = list(getattr(sys, "orig_argv", ()))
    return any(a == "-m" and b in ("quidam_fast.cli", "quidam_fast.cli.__main__") for a, b in zip(orig, orig[1:]))


def _interrupted_during_start_up(signum, frame) -> None:
    os.write(2, b"interrupted: during start-up; nothing was written\n")
    os._exit(130)  # mid-import, nothing to flush or clean: no exception that an import could report


if _is_the_command() and threading.current_thread() is threading.main_thread():
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not if SIGINT is ignored (nohup, &)
        signal.signal(signal.SIGINT, _interrupted_during_start_up)
