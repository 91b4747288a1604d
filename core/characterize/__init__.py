"""Characterization flow: generate each PE's RTL, verify it, synthesize it with open tools, fit PPA models.

>>> from quidam_fast.characterize import pe_design
>>> pe_design("lightpe1", 8).params["accumulator_bits"]
32

The shipped technology file ``data/tech/characterized-osu018.toml`` and its raw data
``data/characterization/`` are regenerated from the repository root with one command::

    quidam-fast characterize --out core/data

(any other ``--out`` leaves the shipped files alone); ``--refit-only`` redoes the fits, the fit report
and the technology file from the measurements already in ``characterization/results.csv``.
"""

from .flow import (
    FULL_SWEEP,
    REDUCED_SWEEP,
    SHIPPED_COMMAND,
    FlowResult,
    Sweep,
    fit_rows,
    holdout_errors,
    output_paths,
    read_results_csv,
    refit,
    run_flow,
    sweep_for,
    write_outputs,
)
from .rtl import PE_TYPES, Design, accumulator_bits, pe_design, register_design, spad_design, weight_bits
from .sim import simulate, verify
from .tools import CharacterizationError, SynthesisError, ToolMissingError, check_liberty

__all__ = [
    "FULL_SWEEP", "REDUCED_SWEEP", "SHIPPED_COMMAND", "FlowResult", "Sweep", "fit_rows", "holdout_errors",
    "output_paths", "read_results_csv", "refit", "run_flow", "sweep_for", "write_outputs", "PE_TYPES", "Design",
    "accumulator_bits", "pe_design", "register_design", "spad_design", "weight_bits", "simulate", "verify",
    "CharacterizationError", "SynthesisError", "ToolMissingError", "check_liberty",
]
