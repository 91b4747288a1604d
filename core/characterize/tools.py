"""Finding the open tools and the liberty, and the errors of the characterization flow."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from quidam_fast.errors import QuidamInputError

# tool command -> Debian package that provides it
TOOL_PACKAGES = {"yosys": "yosys", "iverilog": "iverilog", "vvp": "iverilog", "sta": "opensta"}
LIBERTY_PACKAGE = "qflow-tech-osu018"
DEFAULT_LIBERTY_GLOBS = ("/usr/share/qflow/tech/osu018/osu018_stdcells.lib",)


class CharacterizationError(QuidamInputError):
    """The characterization flow cannot run or a design failed: the message says what to do."""


class ToolMissingError(CharacterizationError):
    """A tool or the liberty is not installed; the message names the Debian package."""


class SynthesisError(CharacterizationError):
    """A design failed to synthesize, simulate or time; the message names it and the kept log."""


def find_tool(name: str) -> str:
    """The path of ``name`` on PATH, or :class:`ToolMissingError` naming its Debian package."""
    path = shutil.which(name)
    if path is None:
        pkg = TOOL_PACKAGES.get(name, name)
        raise ToolMissingError(f"'{name}' not found on PATH; install the Debian package: apt-get install {pkg}")
    return path


def default_liberty() -> Path:
    """The OSU018 liberty of Debian's ``qflow-tech-osu018``, or :class:`ToolMissingError`."""
    for pattern in DEFAULT_LIBERTY_GLOBS:
        for hit in sorted(glob.glob(pattern)):
            return Path(hit)
    raise ToolMissingError(
        f"OSU018 liberty not found ({DEFAULT_LIBERTY_GLOBS[0]}); install the Debian package: "
        f"apt-get install {LIBERTY_PACKAGE}, or pass --liberty FILE"
    )


def check_liberty(path: Path | str | None) -> Path:
    """Validate a user-given liberty (or find the default): it must exist and look like a liberty."""
    if path is None:
        return default_liberty()
    path = Path(path)
    if not path.is_file():
        raise ToolMissingError(
            f"liberty file {str(path)!r} does not exist; pass an existing .lib, or install the Debian "
            f"package {LIBERTY_PACKAGE} and omit --liberty"
        )
    with open(path, errors="replace") as f:
        head = f.read(20000)
    if not re.search(r"\blibrary\s*\(", head):
        raise CharacterizationError(f"{str(path)!r} is not a liberty file (no 'library (' group in its first 20 kB)")
    return path


def liberty_name(path: Path) -> str:
    with open(path, errors="replace") as f:
        m = re.search(r"\blibrary\s*\(\s*([^)\s]+)\s*\)", f.read(20000))
    return m.group(1) if m else path.stem


def tool_versions() -> dict[str, str]:
    """One line per tool, as the tools report themselves."""
    out = {}
    for name, cmd in (("yosys", ["yosys", "-V"]), ("iverilog", ["iverilog", "-V"]), ("sta", ["sta", "-version"])):
        find_tool(name)
        res = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        text = (res.stdout or res.stderr).strip().splitlines()
        out[name] = text[0].strip() if text else "unknown"
    return out


def run_logged(cmd: list[str], log: Path, design: str, step: str, cwd: Path, timeout: float = 1800) -> str:
    """Run a tool, write its output to ``log`` (kept), raise :class:`SynthesisError` on failure."""
    env = dict(os.environ)
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        log.write_text(f"$ {' '.join(cmd)}\n(timed out after {timeout} s)\n{exc.stdout or ''}{exc.stderr or ''}")
        raise SynthesisError(f"{step} of design {design} timed out after {timeout:.0f} s; log kept at {log}") from None
    log.write_text(f"$ {' '.join(cmd)}\n{res.stdout}\n{res.stderr}")
    if res.returncode != 0 or re.search(r"^ERROR:|^Error:", res.stdout + res.stderr, re.M):
        raise SynthesisError(f"{step} of design {design} failed (exit {res.returncode}); log kept at {log}")
    return res.stdout
