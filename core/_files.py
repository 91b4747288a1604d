"""Reading the files users give and writing the files the tool makes, with one error line for every way
either can fail.

Reading (spec TOMLs, topology CSVs, technology TOMLs): every way a read can fail because of the file
(missing, a folder, a FIFO or device, too large, unreadable, not UTF-8) becomes one
:class:`~quidam_fast.errors.QuidamInputError` naming the file, never a traceback, a hang (a FIFO blocks
an ``open`` forever) or a ``MemoryError`` (``/dev/zero`` never ends).

Writing: an output is checked before any work starts (:func:`check_output_path`), built under a
temporary name beside it and renamed into place, so a reader never sees a partial file. Temporary names
carry the writer's process id, ``.<name>.~<pid>-<token>.tmp`` (``.old`` for a replaced store set
aside), so the next run that writes the same output recognises and removes those a killed run left
(:func:`remove_stale_temporaries`) without touching those of a run still going. A store (a folder) is
swapped into place with one atomic exchange where the system has it (Linux ``renameat2``), so ``--out``
is never missing, not even for a moment. What this process has written is recorded (:data:`WRITTEN`,
:data:`PENDING`) so that an interrupted command can say what was and was not written.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import threading
import warnings
from pathlib import Path

from .errors import QuidamInputError

#: The largest text file (spec, topology CSV, technology TOML) read: far above any real one (the
#: largest shipped file is under 100 kB), far below what would exhaust memory.
MAX_TEXT_BYTES = 16 << 20

#: The longest output file name, in bytes: the file system's limit (255 on Linux) less what the
#: temporary sibling adds (``.``, ``.~``, a process id, a token and ``.tmp``).
_NAME_MAX = 255
_TEMPORARY_EXTRA = 40
MAX_OUTPUT_NAME_BYTES = _NAME_MAX - _TEMPORARY_EXTRA

#: Outputs this process has finished writing, in order, and the one being written (for the line an
#: interrupted command prints).
WRITTEN: list[str] = []
PENDING: list[str] = []
UNFINISHED: list[str] = []  # outputs whose write was stopped (an exception, a Ctrl-C): left as they were
NOTES: list[str] = []  # what a command adds to that line (where its checkpoint is, how to resume)


# ------------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------------


def check_input_file(path: str | Path, what: str) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it names an existing regular file (symlinks followed).

    A folder, a FIFO, a device or a socket is refused before anything opens it.

    >>> check_input_file("/dev/null", "spec file")
    Traceback (most recent call last):
    ...
    quidam_fast.errors.QuidamInputError: spec file '/dev/null' is a character device, not a regular file
    """
    path = Path(path)
    if str(path) in ("", "."):
        raise QuidamInputError(f"{what}: an empty path names no file")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise QuidamInputError(f"{what} {str(path)!r} does not exist") from None
    except OSError as error:  # a name too long, a loop of links, a folder we may not enter
        raise QuidamInputError(f"{what} {str(path)!r} cannot be read: {error.strerror or error}") from None
    if stat.S_ISDIR(mode):
        raise QuidamInputError(f"{what} {str(path)!r} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise QuidamInputError(f"{what} {str(path)!r} is a {_kind(mode)}, not a regular file")
    return path


def read_user_bytes(path: str | Path, what: str, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of the user's regular file ``path``, refused above ``max_bytes``."""
    path = check_input_file(path, what)
    try:
        with _open_for_reading(path) as file:
            data = file.read(max_bytes + 1)
    except OSError as error:  # unreadable: permissions, an I/O error
        raise QuidamInputError(f"{what} {str(path)!r} cannot be read: {error.strerror or error}") from None
    if len(data) > max_bytes:
        raise QuidamInputError(f"{what} {str(path)!r} is larger than {max_bytes >> 20} MiB; it cannot be a {what}")
    return data


def _open_for_reading(path: Path):
    # O_NONBLOCK: should the name turn into a FIFO after the check, the open still returns
    return open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb")


def read_user_text(path: str | Path, what: str, encoding: str = "utf-8") -> str:
    """The text of the user's file ``path``; ``what`` names it in errors (``"spec file"``).

    ``encoding="utf-8-sig"`` also accepts (and drops) a byte-order mark, as spreadsheet programs write
    in CSV files. NUL bytes are refused: no text format the tool reads has them.

    >>> read_user_text("/nonexistent/spec.toml", "spec file")
    Traceback (most recent call last):
    ...
    quidam_fast.errors.QuidamInputError: spec file '/nonexistent/spec.toml' does not exist
    """
    data = read_user_bytes(path, what)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise QuidamInputError(
            f"{what} {str(path)!r} is not UTF-8 text (byte 0x{error.object[error.start]:02x} on line {line}); "
            "save it as UTF-8"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise QuidamInputError(f"{what} {str(path)!r} is not text (a NUL byte on line {line})")
    return text


def read_with_file_library(read):
    """``(read(), None)``, or ``(None, reason)`` when the file libraries fail on the file.

    What h5py, h5netcdf, zarr, numcodecs, pandas, pyarrow and xarray's decoders raise on a corrupt or odd
    file differs by library and version, and is open-ended: a truncated HDF5 file is an OSError, a bad
    metadata checksum a KeyError, a corrupt zarr chunk a ValueError or RuntimeError, an undecodable
    attribute a TypeError, a chunk header claiming terabytes a MemoryError, flipped bytes in a zarr
    string array a pyarrow ``ArrowException`` (found by tests/test_fuzz.py). So every ``Exception`` of
    ``read`` counts as the file's, except a :class:`QuidamInputError` (a schema check), which
    propagates; ``reason`` is its message on one line, non-printable characters (bytes of the file)
    replaced. The libraries' warnings on odd files are ignored (the caller's schema check decides), and
    a half-opened corrupt file, which prints "Exception ignored" tracebacks when it is collected, is
    collected here, quietly, before the reason is returned.
    """
    reason, hook = None, sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return read(), None
        except QuidamInputError:
            raise
        except Exception as error:  # noqa: BLE001 -- see above: the file libraries' failures are open-ended
            text = " ".join(str(error).split()) or type(error).__name__
            reason = "".join(c if c.isprintable() else "?" for c in text)
        gc.collect()  # the exception and its frames are gone: the half-opened file goes now, silently
    finally:
        sys.unraisablehook = hook
    return None, reason


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


# ------------------------------------------------------------------------------------------------
# output paths, checked before any work
# ------------------------------------------------------------------------------------------------


def check_output_path(path: str | Path, what: str, *, folder: bool = False, store: bool = False,
                      create_parents: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work starts; return it as a Path.

    ``what`` names the option in errors (``"--out"``). A file output (``folder=False``) must not be an
    existing folder or special file; a folder output (files are written into it) and a store (a folder
    replaced as a whole, :func:`write_store_atomically`) must not be an existing file. The folder that
    will hold the output (with ``create_parents``, the nearest one that exists; for an existing folder
    output, that folder) must be a folder this process
    can create files in: a temporary file is made there and removed, which catches read-only mounts,
    ``/proc`` and permissions alike (a check of the mode bits would not: root passes those). Stale
    temporaries of the output left by a killed run are removed (:func:`remove_stale_temporaries`).
    """
    text = str(path)
    path = Path(path)
    folder = folder or store
    if text == "" or text.endswith("/.") or text == "." or (not folder and text.endswith("/")):
        raise QuidamInputError(f"{what} {text!r} names no {'folder' if folder else 'file'}")
    for part in path.parts:
        size = len(os.fsencode(part))
        limit = _NAME_MAX if part != path.name else MAX_OUTPUT_NAME_BYTES
        if size > limit:
            shown = part if len(part) <= 40 else part[:37] + "..."
            raise QuidamInputError(
                f"{what} {shown!r}: a name of {size} bytes; at most {limit} bytes"
                + (" (the temporary file written beside it needs the rest of the system's 255)" if limit < _NAME_MAX else "")
            )
    try:
        mode = path.stat().st_mode  # through a link: what a write would replace or fill
    except FileNotFoundError:
        mode = None
    except NotADirectoryError:  # a file where a folder of the path should be
        blocker = next((parent for parent in reversed(path.parents) if parent.exists() and not parent.is_dir()), path.parent)
        raise QuidamInputError(f"{what} {text!r}: {str(blocker)!r} is not a folder") from None
    except OSError as error:
        raise QuidamInputError(f"{what} {text!r}: cannot be used ({error.strerror or error})") from None
    if mode is not None:
        if folder and not stat.S_ISDIR(mode):
            raise QuidamInputError(f"{what} {text!r} is an existing file, not a folder; give a folder")
        if not folder and stat.S_ISDIR(mode):
            raise QuidamInputError(f"{what} {text!r} is an existing folder; give a file name, or remove the folder")
        if not folder and not stat.S_ISREG(mode):
            raise QuidamInputError(f"{what} {text!r} is a {_kind(mode)}; give the name of a regular file")
    holder = path if (folder and not store and mode is not None) else (path.parent if str(path.parent) else Path("."))
    if create_parents:
        while not holder.exists() and holder != holder.parent:
            holder = holder.parent
    try:
        holder_mode = holder.stat().st_mode
    except FileNotFoundError:
        raise QuidamInputError(f"{what} {text!r}: folder {str(holder)!r} does not exist") from None
    except OSError as error:
        raise QuidamInputError(f"{what} {text!r}: folder {str(holder)!r} cannot be used ({error.strerror or error})") from None
    if not stat.S_ISDIR(holder_mode):
        raise QuidamInputError(f"{what} {text!r}: {str(holder)!r} is not a folder")
    probe = holder / f".{path.name or 'out'}.~{os.getpid()}-{secrets.token_hex(4)}.probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as error:
        raise QuidamInputError(
            f"{what} {text!r}: cannot write in folder {str(holder)!r} ({error.strerror or error})"
        ) from None
    if mode is None or not folder or store:
        remove_stale_temporaries(path)
    return path


# ------------------------------------------------------------------------------------------------
# temporaries: named after the output and the process writing it
# ------------------------------------------------------------------------------------------------


def temporary_sibling(path: Path, kind: str = "tmp") -> Path:
    """A fresh name beside ``path`` for a temporary of this process: ``.<name>.~<pid>-<token>.<kind>``."""
    return path.parent / f".{path.name}.~{os.getpid()}-{secrets.token_hex(4)}.{kind}"


def _temporaries(path: Path) -> list[tuple[Path, int, str]]:
    pattern = re.compile(rf"\.{re.escape(path.name)}\.~(\d+)-[0-9a-f]{{8}}\.(tmp|old|probe)")
    folder = path.parent if str(path.parent) else Path(".")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in names:
        match = pattern.fullmatch(name)
        if match:
            found.append((folder / name, int(match.group(1)), match.group(2)))
    return found


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or a pid we cannot ask about: leave its files alone
    return True


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporaries of output ``path`` whose writing process is gone; return what was removed.

    A store set aside (``.old``) while the output itself is missing is the previous output, left by a
    run killed between the two renames of a swap without an atomic exchange: it is renamed back instead.
    """
    path = Path(path)
    removed = []
    for temporary, pid, kind in _temporaries(path):
        if _alive(pid):
            continue
        try:
            if kind == "old" and not os.path.lexists(path):
                os.rename(temporary, path)
                continue
            if temporary.is_dir() and not temporary.is_symlink():
                shutil.rmtree(temporary)
            else:
                temporary.unlink()
            removed.append(temporary)
        except OSError:
            pass  # not ours to fight over: the next run tries again
    return removed


def _discard(temporary: Path) -> None:
    with contextlib.suppress(OSError):
        if temporary.is_dir() and not temporary.is_symlink():
            shutil.rmtree(temporary, ignore_errors=True)
        elif os.path.lexists(temporary):
            temporary.unlink()


def _ordinary_mode(path: Path, folder: bool) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if folder else 0o666) & ~umask)


# ------------------------------------------------------------------------------------------------
# interruption: a Ctrl-C never half-replaces an output, and never goes unheard
# ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _interrupts(defer: bool):
    """Within the block, a SIGINT is remembered; with ``defer`` it waits for the block's end.

    Without ``defer``, it raises :class:`KeyboardInterrupt` at once as usual, and again when the block
    ends in case a file library swallowed the first one (h5py reports it as "Exception ignored" and
    carries on). Outside the main thread, signals cannot be handled: nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    heard = []

    def handler(signum, frame):
        heard.append(signum)
        if not defer:
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if heard:
        raise KeyboardInterrupt


def _write_error(what: str, path: Path, error: OSError) -> QuidamInputError:
    reason = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        reason = "No space left on device"
    return QuidamInputError(f"{what} {str(path)!r}: cannot write ({reason})")


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------


def write_atomically(path: str | Path, write) -> None:
    """Call ``write(temporary)`` on a temporary sibling of ``path``, then rename it over ``path``.

    The one atomic file writer of the package: text files, tables (pandas' writers), figures
    (matplotlib's ``savefig``) and netCDF bytes all go through it, so no reader ever sees a partial file
    at ``path``. The file gets an ordinary file's mode. Whatever happens (an ``OSError``, an exception
    in ``write``, a ``KeyboardInterrupt``) the temporary file is removed and the exception propagates;
    an existing ``path`` is then left as it was. A Ctrl-C during the rename waits for it to finish.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    PENDING.append(str(path))
    try:
        with _interrupts(defer=False):
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            write(str(temporary))
            _ordinary_mode(temporary, folder=False)
        with _interrupts(defer=True):
            os.replace(temporary, path)
            WRITTEN.append(str(path))
    except BaseException:
        _discard(temporary)
        if str(path) not in WRITTEN:
            UNFINISHED.append(str(path))
        raise
    finally:
        PENDING.remove(str(path))


def write_bytes_atomically(path: str | Path, data) -> None:
    """Write ``data`` (bytes) atomically (see :func:`write_atomically`), flushed to the disk before the
    rename, so a full disk is an ``OSError`` here, never a truncated file later."""

    def write(temporary: str) -> None:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())

    write_atomically(path, write)


def write_text_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically (see :func:`write_bytes_atomically`)."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_netcdf_atomically(dataset, path: str | Path, what: str = "--out", encoding: dict | None = None) -> None:
    """Write an ``xr.Dataset`` to netCDF (h5netcdf) at ``path`` atomically.

    The file is built in memory and then written with plain file I/O: the HDF5 library never writes to
    the disk itself, where a full disk made it crash the process (a segmentation fault after ENOSPC on
    a 2 MiB tmpfs). The dataset is in memory already, so the copy at most doubles it for the write
    (a compressed result: a few % of it). ``encoding`` is ``to_netcdf``'s (per variable: dtype,
    chunks, filters; :func:`quidam_fast.results.file_encoding` for a result). A failed write
    (``OSError``: a full disk, a read-only folder) is one :class:`QuidamInputError`.
    """
    path = Path(path)
    PENDING.append(str(path))
    try:
        with _interrupts(defer=False):
            data = dataset.to_netcdf(engine="h5netcdf", encoding=encoding)
    except BaseException:
        UNFINISHED.append(str(path))
        raise
    finally:
        PENDING.remove(str(path))
    try:
        write_bytes_atomically(path, data)
    except OSError as error:
        raise _write_error(what, path, error) from None


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if the
    system or the file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def write_store_atomically(build, path: str | Path, what: str = "--out") -> None:
    """Build a store (a folder, e.g. zarr) with ``build(temporary_path)`` and put it at ``path``.

    An existing store at ``path`` is exchanged with the new one in one atomic step where the system
    has it, so ``path`` is never missing; elsewhere, the old store is renamed aside first and the new one
    renamed into place (a run killed between the two leaves the old store aside, under a name the next
    run recognises and renames back). The old store is removed only once the new one is in place. A
    failed write (``OSError``) is one :class:`QuidamInputError`; the old store stays.
    """
    path = Path(path)
    temporary = temporary_sibling(path)
    PENDING.append(str(path))
    try:
        try:
            with _interrupts(defer=False):
                os.mkdir(temporary, 0o700)
                build(temporary)
                _ordinary_mode(temporary, folder=True)
            with _interrupts(defer=True):
                if path.is_dir() and not path.is_symlink():
                    if _exchange(temporary, path):
                        aside = temporary  # the old store now has the temporary's name
                    else:
                        aside = temporary_sibling(path, "old")
                        os.rename(path, aside)
                        try:
                            os.rename(temporary, path)
                        except BaseException:
                            os.rename(aside, path)
                            raise
                    WRITTEN.append(str(path))
                    shutil.rmtree(aside, ignore_errors=True)
                else:
                    os.rename(temporary, path)
                    WRITTEN.append(str(path))
        except BaseException:
            _discard(temporary)
            if str(path) not in WRITTEN:
                UNFINISHED.append(str(path))
            raise
    except OSError as error:
        raise _write_error(what, path, error) from None
    finally:
        PENDING.remove(str(path))


def interrupted_message() -> str:
    """The line an interrupted command prints: what this process wrote, and what it did not finish."""
    parts = []
    if WRITTEN:
        parts.append("wrote " + ", ".join(dict.fromkeys(WRITTEN)))
    unfinished = [path for path in dict.fromkeys(PENDING + UNFINISHED) if path not in WRITTEN]
    if unfinished:
        parts.append("did not write " + ", ".join(unfinished) + " (any earlier file there is unchanged)")
    if not parts:
        parts.append("nothing was written")
    return "interrupted: " + "; ".join(parts + NOTES)
