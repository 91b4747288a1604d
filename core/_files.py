"""Reading the text files users give (spec TOMLs, topology CSVs, technology TOMLs), and writing text
files atomically.

Every way such a read can fail because of the file (missing, a folder, unreadable, not UTF-8) becomes
one :class:`~quidam_fast.errors.QuidamInputError` naming the file, never a traceback.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import QuidamInputError


def read_user_text(path: str | Path, what: str, encoding: str = "utf-8") -> str:
    """The text of the user's file ``path``; ``what`` names it in errors (``"spec file"``).

    ``encoding="utf-8-sig"`` also accepts (and drops) a byte-order mark, as spreadsheet programs write
    in CSV files.

    >>> read_user_text("/nonexistent/spec.toml", "spec file")
    Traceback (most recent call last):
    ...
    quidam_fast.errors.QuidamInputError: spec file '/nonexistent/spec.toml' does not exist
    """
    path = Path(path)
    if path.is_dir():
        raise QuidamInputError(f"{what} {str(path)!r} is a folder, not a file")
    if not path.exists():
        raise QuidamInputError(f"{what} {str(path)!r} does not exist")
    try:
        return path.read_text(encoding=encoding)
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise QuidamInputError(
            f"{what} {str(path)!r} is not UTF-8 text (byte 0x{error.object[error.start]:02x} on line {line}); "
            "save it as UTF-8"
        ) from None
    except OSError as error:  # unreadable: permissions, a special file, an I/O error
        raise QuidamInputError(f"{what} {str(path)!r} cannot be read: {error.strerror or error}") from None


def write_text_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary sibling, then rename it over ``path``: never a partial file there.

    The file gets an ordinary file's mode (``mkstemp`` makes it private). ``OSError`` propagates; the
    temporary file is removed whatever happens.
    """
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8", newline="") as file:
            file.write(text)

    write_atomically(path, write)


def write_atomically(path: str | Path, write) -> None:
    """Call ``write(temporary)`` on a temporary sibling of ``path``, then rename it over ``path``.

    The one atomic writer of the package: text files, tables (pandas' writers) and figures
    (matplotlib's ``savefig``) all go through it, so no reader ever sees a partial file at ``path``.
    The file gets an ordinary file's mode (``mkstemp`` makes it private). Whatever happens (an
    ``OSError``, an exception in ``write``, a ``KeyboardInterrupt``) the temporary file is removed and
    the exception propagates; an existing ``path`` is then left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.close(handle)
        write(temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
