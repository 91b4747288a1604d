"""quidam-fast: quantization-aware DNN-accelerator and model co-exploration.

>>> import quidam_fast as qf
>>> qf.load_network("alexnet").name
'alexnet'
"""

from . import _startup  # noqa: F401  (first: Ctrl-C while the command starts is one line, exit 130)
from .analysis import pareto, report
from .engine import evaluate, load_networks, warm_up
from .errors import QuidamInputError
from .results import open_result
from .stream import evaluate_to_store, open_reductions
from .space import AXES, DATAFLOWS, DesignSpace, Spec, default_space, load_spec
from .tech import PE_TYPES, Technology, load_tech, tech_names
from .workloads import Layer, Network, load_network, network_names, parse_network_csv

__all__ = [
    "AXES", "DATAFLOWS", "PE_TYPES", "DesignSpace", "Layer", "Network", "QuidamInputError", "Spec",
    "Technology", "default_space", "evaluate", "load_network", "load_networks", "load_spec", "load_tech", "network_names",
    "evaluate_to_store", "open_reductions", "open_result", "pareto", "parse_network_csv", "report", "tech_names", "warm_up",
]
