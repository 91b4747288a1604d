"""What a new user trips on: --help texts, --version, MAC units, the README's command lines, progress."""

from __future__ import annotations

import importlib.metadata
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import quidam_fast as qf
from quidam_fast.cli import _progress
from quidam_fast.cli.main import app
from quidam_fast.space import AXES, DEFAULT_AXES

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
COMMANDS = [["grid"], ["networks"], ["plot"], ["export"], ["characterize"], ["quant", "train"], ["quant", "show"],
            ["report"], ["pareto"]]


def help_of(*command, columns=100):
    outcome = runner.invoke(app, [*command, "--help"], env={"COLUMNS": str(columns)})
    assert outcome.exit_code == 0, outcome.output
    return outcome.output


def test_version_is_the_installed_packages():
    outcome = runner.invoke(app, ["--version"])
    assert outcome.exit_code == 0
    assert outcome.output.strip() == f"quidam-fast {importlib.metadata.version('quidam-fast')}"


def test_grid_help_lists_every_default_axis_with_its_values_and_explains_the_report():
    text = help_of("grid")
    for name, values in DEFAULT_AXES.items():
        shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
        unit = f" ({AXES[name][0]})" if AXES[name][0] else ""
        assert re.search(rf"^\s+{re.escape(name + unit)}\s+{re.escape(shown)}$", text, re.M), name
    points = 1
    for values in DEFAULT_AXES.values():
        points *= len(values)
    assert f"{points:,} design points" in text
    for phrase in ("higher is better", "lower is better", "spread, best/worst", "best int 16-bit design", "Pareto front"):
        assert phrase in " ".join(text.split()), phrase
    assert "[space]" in text  # printed as typed, not swallowed as markup


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_flags_show_no_type_placeholder(command):
    text = help_of(*command)
    assert "<bool>" not in text
    assert re.search(r"^\s+--help\s+Show this message and exit\.$", text, re.M)


def test_quant_train_help_wraps_to_the_terminal():
    text = help_of("quant", "train", columns=80)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    # paragraphs are rewrapped, not broken where the docstring's lines ended: no short line in the middle
    # of a paragraph, and no option's help cut short with an ellipsis
    paragraph = []
    for line in lines[2:]:
        if not line.strip() or line.startswith("Options"):
            break
        paragraph.append(line)
    assert all(len(line) > 50 for line in paragraph[:-1] if paragraph and not line.rstrip().endswith("."))
    assert "…" not in text and "DEFAULT_SCHEDULES" in text


def test_networks_lists_small_networks_in_mmacs_and_large_ones_in_gmacs():
    outcome = runner.invoke(app, ["networks"])
    assert outcome.exit_code == 0
    rows = {line.split()[0]: line for line in outcome.output.splitlines()[1:]}
    lenet = qf.load_network("lenet5_fmnist").macs
    assert rows["lenet5_fmnist"].endswith(f"{lenet / 1e6:.3f} MMACs") and "0.000" not in rows["lenet5_fmnist"]
    assert rows["resnet50"].endswith(f"{qf.load_network('resnet50').macs / 1e9:.3f} GMACs")
    one = runner.invoke(app, ["networks", "lenet5_fmnist"])
    assert one.output.splitlines()[0] == f"lenet5_fmnist: 5 layers, {lenet / 1e6:.3f} MMACs"


def readme_command(prefix: str) -> list[str]:
    """The README's command line starting with ``prefix``, as written (the comment cut off)."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith(prefix):
            return shlex.split(line.split("#")[0])
    raise AssertionError(f"README.md has no line starting {prefix!r}")


def test_readmes_from_torch_line_works_as_written(tmp_path):
    pytest.importorskip("torch")
    # a user's model as a new user writes it: no input_shape attribute
    (tmp_path / "mymodel.py").write_text(
        "import torch.nn as nn\n"
        "net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 32 * 32, 10))\n")
    command = readme_command("quidam-fast networks --from-torch")
    assert command[0] == "quidam-fast"
    done = subprocess.run([sys.executable, "-P", "-m", "quidam_fast.cli", *command[1:]], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("net: 2 layers")


def test_progress_is_silent_when_stderr_is_not_a_terminal(capsys):
    with _progress.bar("evaluating", 10, "points") as shown:
        shown.update(done=10)
        shown.echo("a line for the log")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "a line for the log\n"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_shows_count_rate_and_time_left(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("COLUMNS", "120")
    with _progress.bar("evaluating", 1000, "points") as shown:
        for done in range(0, 1001, 250):
            shown.update(done=done)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())
    assert "evaluating" in text and "1000/1000" in text and "points/s" in text and "left" in text
    assert not _progress.shown(quiet=True)
