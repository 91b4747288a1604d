"""quidam-fast: quantization-aware DNN-accelerator and model co-exploration.

>>> import quidam_fast as qf
>>> qf.load_network("alexnet").name
'alexnet'
"""

from .errors import QuidamInputError
from .workloads import Layer, Network, load_network, network_names, parse_network_csv

__all__ = ["QuidamInputError", "Layer", "Network", "load_network", "network_names", "parse_network_csv"]
