"""The public evaluation API: flatten a design space, run the kernels, label the result.

This is the one place where arrays become an :class:`xarray.Dataset`.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import xarray as xr

from . import kernels as k
from . import outputs
from .errors import QuidamInputError
from .space import AXES, AXIS_DESCRIPTIONS, DATAFLOWS, OBJECTIVES, DesignSpace, default_space
from .tech import PE_TYPES, Technology, load_tech
from .workloads import LAYER_COLUMNS, Network, load_network

#: Meanings of ``invalid_reason``'s codes (:data:`quidam_fast.outputs.INVALID_REASONS`).
INVALID_REASONS = outputs.INVALID_REASONS

_OBJECTIVE_CODES = {"energy": k.OBJECTIVE_ENERGY, "latency": k.OBJECTIVE_LATENCY, "edp": k.OBJECTIVE_EDP,
                    "dram": k.OBJECTIVE_DRAM}
assert tuple(_OBJECTIVE_CODES) == OBJECTIVES


def evaluate(
    network: Network | str | Sequence[Network | str] = "resnet18",
    space: DesignSpace | dict | None = None,
    tech: Technology | str | None = None,
    *,
    per_layer: bool = True,
    objective: str = "energy",
    rs_mapping: tuple[int, int] | None = None,
    progress=None,
) -> xr.Dataset:
    """Evaluate every design point of ``space`` on ``network``.

    Parameters
    ----------
    network
        A :class:`~quidam_fast.workloads.Network` or a name/path for :func:`~quidam_fast.load_network`;
        or a list of them, to co-explore DNN configurations with the hardware: one dataset with a
        ``network`` dimension (see Returns). Names must be distinct: a duplicate, or a library name
        and a file that load as the same name, raise :class:`~quidam_fast.QuidamInputError`. Default:
        ResNet-18 alone (``quidam-fast grid``'s default is the model family,
        :data:`~quidam_fast.space.DEFAULT_NETWORK`: ``qf.evaluate(list(DEFAULT_NETWORK), ...)``).
    space
        A :class:`~quidam_fast.space.DesignSpace`, a dict of axis lists (other axes take the value of
        :data:`~quidam_fast.space.SINGLE_DESIGN`), or ``None`` for the embedded default space.
    tech
        A :class:`~quidam_fast.tech.Technology` or a name/path for :func:`~quidam_fast.load_tech`.
    per_layer
        Also return per-layer variables (dimension ``layer``); memory grows with points x layers.
    objective
        What the mapping searches minimize per layer -- the buffer-level mapper of every dataflow (loop
        order above the array, tiles, what the buffer keeps) and the row-stationary mapping:
        ``"energy"``, ``"latency"``, ``"edp"`` or ``"dram"`` (DRAM bits). Only with ``"dram"`` is
        DRAM traffic guaranteed never to grow with a scratchpad or the global buffer: the others may
        trade DRAM bytes for cheaper on-chip accesses, which is what they are for.
    rs_mapping
        ``(filters_per_pe, channels_per_pe)``: evaluate this row-stationary mapping on every layer
        instead of searching (points whose scratchpads or layers cannot hold it are invalid).
    progress
        Optional callable ``progress(points_done, points_total)``, called after each kernel run (one
        per PE-type width class and array-rows value).

    Returns
    -------
    xarray.Dataset
        One dimension per design axis (``pe_type``, ``bits``, ``rows``, ``cols``, ``spad_ifmap``,
        ``spad_filter``, ``spad_psum``, ``glb_kib``, ``dataflow``, ``batch``, ``dram_gbps``,
        ``clock_mhz``), plus ``layer`` for per-layer variables. The variables are those of
        :data:`quidam_fast.outputs.OUTPUTS` (units, description and formula of each there; every
        variable has ``units`` and ``long_name`` attributes), all float64 but ``invalid_reason`` (int8)
        and ``valid`` (bool). Invalid points are NaN. Network totals:

        - from the kernel: ``cycles``, ``compute_cycles``, ``stall_cycles`` (cycle), ``macs`` (MAC),
          ``energy_mac_pj``, ``energy_spad_pj``, ``energy_noc_pj``, ``energy_glb_pj``,
          ``energy_dram_pj``, ``energy_leak_pj`` (pJ), ``dram_read_bytes``, ``dram_write_bytes`` (byte),
          ``glb_reads``, ``glb_writes``, ``spad_reads``, ``spad_writes``, ``noc_words`` (word),
          ``area_mac_mm2``, ``area_pe_storage_mm2``, ``area_glb_mm2`` (mm2), ``invalid_reason`` (code;
          meanings in its attrs) and ``valid``;
        - derived: ``latency_s`` (s), ``utilization`` (1), ``energy_pj`` (pJ, the sum of the parts),
          ``area_pe_array_mm2``, ``area_mm2`` (mm2), ``dram_bytes`` (byte), ``throughput_ips``
          (inferences/s), ``perf_per_area`` (inferences/s/mm2), ``energy_per_inference_j`` (J) and
          ``edp`` (J s).

        Per layer (``per_layer=True``): ``layer_cycles``, ``layer_stall_cycles`` (cycle),
        ``layer_utilization`` (1), ``layer_energy_pj`` (pJ), ``layer_dram_read_bytes``,
        ``layer_dram_write_bytes`` (byte), ``layer_glb_reads``, ``layer_glb_writes`` (word),
        ``layer_rs_filters_per_pe`` (filter) and ``layer_rs_channels_per_pe`` (channel).

        A single network (not in a list) gives exactly these dimensions, its name, layer count, MACs
        and weight count in ``attrs`` (``network``, ``network_layers``, ``network_macs``,
        ``network_params``). A *list* of networks -- even of one -- adds a leading dimension
        ``network`` (labels: the networks' names, in the order given), on which every total and
        ``valid`` live, with the coordinates ``network_layers``, ``network_macs`` and
        ``network_params`` (units ``1``, ``MAC``, ``1``): a sub-selection of networks equals the same
        slice of the whole. Per-layer variables then have a ``layer`` dimension of the longest
        network's length, indexed by position (``layer`` = 0, 1, ...): a network's layers fill the
        first ``network_layers`` positions, the rest are NaN; the layer-table coordinates
        (``layer_name``, ``layer_N``, ``layer_K``, ..., ``layer_macs``) are on ``(network, layer)``,
        ``""`` and ``-1`` past a network's last layer.

    Notes
    -----
    Systolic cycle counts equal SCALE-Sim's compute cycles (Samajdar et al., ISPASS 2020); energy =
    sum over levels of accesses x energy per access + MACs x energy per MAC + leakage x latency
    (the accounting of Chen, Emer & Sze, ISCA 2016). See :mod:`quidam_fast.kernels`.

    Examples
    --------
    >>> import quidam_fast as qf
    >>> ds = qf.evaluate("alexnet", {"rows": [16, 32], "dataflow": ["ws", "os"]})
    >>> ds.cycles.sizes["rows"], ds.cycles.attrs["units"]
    (2, 'cycle')
    """
    started = time.perf_counter()
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        raise QuidamInputError(f"objective {objective!r} is not allowed; allowed: {', '.join(OBJECTIVES)}")
    if rs_mapping is not None:
        if (not isinstance(rs_mapping, (tuple, list)) or len(rs_mapping) != 2
                or not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 1
                           for v in rs_mapping)):
            raise QuidamInputError(f"rs_mapping = {rs_mapping!r}: expected (filters_per_pe, channels_per_pe), "
                                   "two integers >= 1")
        rs_mapping = (int(rs_mapping[0]), int(rs_mapping[1]))
    if not isinstance(per_layer, (bool, np.bool_)):
        raise QuidamInputError(f"per_layer = {per_layer!r} is not allowed; it must be True or False")
    if progress is not None and not callable(progress):
        raise QuidamInputError(f"progress = {progress!r} is not allowed; it must be a callable progress(done, total) or None")
    if not (space is None or isinstance(space, (dict, DesignSpace))):
        raise QuidamInputError(f"space = {_short(space)} is not allowed; it must be a DesignSpace, a dict of axis "
                               "name -> values, or None (the default space)")
    if not (tech is None or isinstance(tech, (str, Path, Technology))):
        raise QuidamInputError(f"tech = {_short(tech)} is not allowed; it must be a Technology, a technology name "
                               "or a path to a .toml file")
    networks, several = _networks(network)
    if space is None:
        space = default_space()
    elif isinstance(space, dict):
        space = DesignSpace.from_dict(space, base="small")
    tech = tech if isinstance(tech, Technology) else load_tech(tech) if tech is not None else load_tech()
    arrays = _flatten(space, tech)
    if "rs" in space.axes["dataflow"]:
        _check_spad_costs(arrays, space, tech)
    n_points, n_layers = space.size, max(len(net.layers) for net in networks)
    if per_layer and len(networks) * n_points * n_layers * k.N_LAYER_RESULTS * 8 > 8 << 30:
        raise QuidamInputError(
            f"per-layer results of {len(networks)} network(s) x {n_points} points x {n_layers} layers would take "
            "over 8 GiB; evaluate without per-layer results or on a smaller space"
        )
    _check_memory(len(networks) * n_points)
    largest_batch = max(space.axes["batch"])
    for net in networks:  # the kernels multiply N by the batch: the layers' size limits must hold at it
        try:
            net.batched(largest_batch)
        except QuidamInputError as error:
            raise QuidamInputError(f"network {net.name!r} at batch = {largest_batch}: {error}") from None
    # one block of rows per network, in order: reshaped, the leading axis is the network dimension
    # column-major: each kernel column is contiguous, so the dataset's variables (views of it), the derived
    # arithmetic and the file writer read only their own bytes (default grid: dataset 0.85-2.0 -> 0.22 s,
    # write 3.6-4.1 -> 2.4 s; the kernel as fast, results identical)
    totals = np.empty((k.N_TOTALS, len(networks) * n_points)).T
    if per_layer and len(networks) > 1:  # padded to the longest network (NaN past each one's last layer)
        layer_out = np.full((len(networks) * n_points, n_layers, k.N_LAYER_RESULTS), np.nan)
    else:
        layer_out = np.empty((n_points, n_layers, k.N_LAYER_RESULTS) if per_layer else (1, 1, k.N_LAYER_RESULTS))
    for i, net in enumerate(networks):
        offset = i * n_points
        # with several networks, each one's layers fill the first positions of the padded array
        block = layer_out[offset:offset + n_points, : len(net.layers)] if per_layer else layer_out
        shown = None if progress is None else (
            lambda done, offset=offset: progress(offset + done, len(networks) * n_points))
        run_network(arrays, net, tech, _OBJECTIVE_CODES[objective], totals[offset:offset + n_points], block, per_layer,
                    rs_mapping=rs_mapping, progress=shown)
    results = _to_dataset(totals, layer_out if per_layer else None, space, networks if several else networks[0], tech,
                          seconds=time.perf_counter() - started)
    results.attrs["rs_objective"] = objective
    return results


def _networks(network) -> tuple[list[Network], bool]:
    """The networks to evaluate and whether a list was given (a ``network`` dimension)."""
    if isinstance(network, (Network, str, os.PathLike)):
        return [network if isinstance(network, Network) else load_network(network)], False
    return load_networks(network), True


def load_networks(items, *, input_shape=None) -> list[Network]:
    """Networks to co-explore: each item a :class:`~quidam_fast.Network` or a name/path for
    :func:`~quidam_fast.load_network` (``input_shape`` is passed on to those); their names must differ.

    Raises
    ------
    QuidamInputError
        An empty list, an item that is no network, an unknown name or bad file (from
        :func:`~quidam_fast.load_network`), or two items with the same name -- given twice, or a library
        name and a file that load as the same name -- in one line naming both.
    """
    if isinstance(items, (Network, str, os.PathLike)):
        items = [items]
    try:
        given = list(items)
    except TypeError:
        raise QuidamInputError(f"network = {items!r}: give a Network, a library name or path, or a list of them") from None
    if not given:
        raise QuidamInputError("the list of networks is empty; give at least one network")
    networks, first = [], {}
    for item in given:
        if not isinstance(item, (Network, str, os.PathLike)):
            raise QuidamInputError(f"network {item!r} in the list is not a Network, a library name or a path")
        if isinstance(item, Network):
            net, label = item, item.name
        else:
            net = load_network(item) if input_shape is None else load_network(item, input_shape=input_shape)
            label = str(item)
        if net.name in first:
            again = "is given twice" if first[net.name] == label else f"and {label!r} both load as network {net.name!r}"
            raise QuidamInputError(
                f"network {first[net.name]!r} {again}; each network of a co-exploration must appear once, under its "
                "own name (rename the file or the Network)"
            )
        first[net.name] = label
        networks.append(net)
    return networks


def _check_spad_costs(arrays: dict, space: DesignSpace, tech: Technology) -> None:
    """Refuse scratchpad capacities where the technology's scratchpad model is not physical.

    The model is a polynomial in capacity and width, fitted over the capacities characterized; far
    outside them it can turn negative (characterized-osu018's write energy does at 2^20 words), which
    gave negative energies. Only row-stationary points use scratchpads, so only then is it checked.
    """
    keys = {k.SPAD_READ: "read_energy_pj", k.SPAD_WRITE: "write_energy_pj", k.SPAD_AREA: "area_um2",
            k.SPAD_LEAK_UW: "leakage_uw"}
    for name in ("spad_ifmap", "spad_filter", "spad_psum"):
        table = arrays[f"{name}_table"]  # (capacity, pe_type, bits, cost); NaN where the PE is not valid
        bad = np.argwhere(~np.isnan(table) & ~((table >= 0) & np.isfinite(table)))
        if bad.size:
            c, i, j, q = bad[0]
            raise QuidamInputError(
                f"{name} = {space.axes[name][c]} words: the scratchpad model of technology {tech.name!r} gives "
                f"{keys[int(q)]} = {table[c, i, j, q]:.4g} there ({space.axes['pe_type'][i]} at {space.axes['bits'][j]} "
                f"bits), outside the capacities its fit holds; choose another {name}, or drop 'rs' from dataflow"
            )


def _short(value) -> str:
    """``repr`` of a value, cut to one readable line for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def run_network(arrays, network: Network, tech: Technology, objective_code: int, totals: np.ndarray,
                layer_out: np.ndarray, per_layer: bool, rs_mapping=None, progress=None) -> None:
    """Evaluate every point of a space on ``network`` (used by :func:`evaluate` and ``bench/``).

    ``arrays`` is :func:`_flatten`'s; results go to ``totals[flat index]`` and, if ``per_layer``, to
    ``layer_out[flat index, layer]`` (otherwise ``layer_out`` is any ``(1, 1, N_LAYER_RESULTS)`` array).
    The kernel runs once per *width class* (PE types and precisions with the same operand widths and
    buffer costs, whose access counts are shared: :func:`quidam_fast.kernels.evaluate_rows`) and array-rows
    value; ``progress(points_done)`` is called after each run.
    """
    space, workload, settings = kernel_records(arrays, network, tech, objective_code, per_layer, rs_mapping)
    strides = space.strides
    shape = [int(n) for n in arrays["shape"]]
    classes, uncharacterized = _width_classes(arrays)
    done = 0
    for pe_i, bits_i in uncharacterized:  # a contiguous block of the flat index
        first = pe_i * strides[0] + bits_i * strides[1]
        totals[first:first + strides[1]] = np.nan
        totals[first:first + strides[1], k.TOTAL_REASON] = k.INVALID_BITS
        if per_layer:
            layer_out[first:first + strides[1]] = np.nan
        done += int(strides[1])
    for members in classes:
        for rows_i in range(shape[2]):
            k.evaluate_rows(space, workload, settings, members, rows_i, totals, layer_out)
            done += len(members) * int(strides[2])
            if progress is not None:
                progress(done)


def kernel_records(arrays, network: Network, tech: Technology, objective_code: int, per_layer: bool,
                   rs_mapping=None):
    """The kernels' :data:`~quidam_fast.kernels.Space`, :data:`~quidam_fast.kernels.Workload` and
    :data:`~quidam_fast.kernels.Settings` records for :func:`run_network`."""
    layers = np.stack([network.table()[column] for column in LAYER_COLUMNS], axis=1)
    w_used, real_row_pairs = _row_stationary_inputs(network)
    h_used, fold_touched = k.workload_tables(layers, arrays["rows_of"], arrays["batch_of"],
                                             bool((arrays["dataflow_of"] == k.OS).any()))
    # layers of the same shape (every input of the kernels equal) are evaluated once
    signature = np.concatenate([layers, w_used[:, None], real_row_pairs[:, None]], axis=1)
    _, distinct, layer_of = np.unique(signature, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(distinct)  # distinct layers in network order: the first occurrence of each
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    workload = k.Workload(layers, w_used, h_used, real_row_pairs, fold_touched, distinct[order].astype(np.int64),
                          rank[layer_of.ravel()].astype(np.int64))
    shape = [int(n) for n in arrays["shape"]]
    strides = np.array([math.prod(shape[axis + 1:]) for axis in range(len(shape))], dtype=np.int64)
    space = k.Space(strides, *(arrays[name] for name in k.Space._fields[1:]))
    forced_p, forced_q = rs_mapping or (0, 0)
    settings = k.Settings(int(objective_code), int(forced_p), int(forced_q), float(tech.wire_energy_pj_per_bit_mm),
                          float(tech.dram_energy_pj_per_bit), bool(per_layer))
    return space, workload, settings


def _width_classes(arrays) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """The characterized ``(pe_type, bits)`` positions grouped by operand widths and buffer costs per
    word (what a layer's access counts depend on besides the hardware axes), each group an ``(m, 2)``
    int64 array; and the positions whose PE type is not characterized at those bits."""
    pe_table, glb_table = arrays["pe_table"], arrays["glb_table"]
    classes: dict[bytes, list[tuple[int, int]]] = {}
    uncharacterized = []
    for pe_i in range(pe_table.shape[0]):
        for bits_i in range(pe_table.shape[1]):
            row = pe_table[pe_i, bits_i]
            if np.isnan(row[k.PE_ACT_BITS]):
                uncharacterized.append((pe_i, bits_i))
                continue
            key = (row[[k.PE_ACT_BITS, k.PE_WEIGHT_BITS, k.PE_PSUM_BITS]].tobytes()
                   + glb_table[:, pe_i, bits_i, :k.GLB_LEAK_MW].tobytes())
            classes.setdefault(key, []).append((pe_i, bits_i))
    return [np.array(members, dtype=np.int64) for members in classes.values()], uncharacterized


def _row_stationary_inputs(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """Per layer: the real (not padding) input columns one output row reads, and the number of
    (output row, filter row) pairs whose input row is real."""
    # Counted per filter offset in closed form, O(R + S) per layer: the loops over every output row and
    # column took minutes for a layer of H = 2^31 - 1 (test_row_stationary_inputs_in_closed_form).
    columns, pairs = [], []
    for layer in network.layers:
        if layer.stride >= layer.S:  # windows disjoint: each offset s reads its own columns
            columns.append(sum(_steps_inside(layer.Q, layer.stride, s - layer.padding, layer.W) for s in range(layer.S)))
        else:  # windows overlap: one run from the first window's start to the last one's end
            start, stop = -layer.padding, (layer.Q - 1) * layer.stride - layer.padding + layer.S
            columns.append(max(0, min(stop, layer.W) - max(start, 0)))
        pairs.append(sum(_steps_inside(layer.P, layer.stride, r - layer.padding, layer.H) for r in range(layer.R)))
    return np.array(columns, dtype=np.int64), np.array(pairs, dtype=np.int64)


def _steps_inside(count: int, stride: int, offset: int, size: int) -> int:
    """How many of ``offset + i stride`` for ``i`` in ``[0, count)`` lie in ``[0, size)``."""
    low = (-offset + stride - 1) // stride if offset < 0 else 0  # the first i at or after 0
    high = min(count - 1, (size - 1 - offset) // stride) if offset <= size - 1 else -1  # the last before size
    return max(0, high - low + 1)


def _flatten(space: DesignSpace, tech: Technology) -> dict[str, np.ndarray]:
    """Per-axis value arrays and the technology tables over the unique axis values."""
    axes = space.axes
    pe_types, bits = axes["pe_type"], axes["bits"]
    pe_table = np.full((len(pe_types), len(bits), k.N_PE), np.nan)
    glb_table = np.full((len(axes["glb_kib"]), len(pe_types), len(bits), k.N_GLB), np.nan)
    glb_bytes = np.array(axes["glb_kib"], dtype=float) * 1024
    spad_tables = {name: np.full((len(axes[name]), len(pe_types), len(bits), k.N_SPAD), np.nan)
                   for name in ("spad_ifmap", "spad_filter", "spad_psum")}
    for i, pe_type in enumerate(pe_types):
        for j, b in enumerate(bits):
            cost = tech.pe_cost(pe_type, b)
            if math.isnan(cost["act_bits"]):
                continue
            a, w, p = cost["act_bits"], cost["weight_bits"], cost["psum_bits"]
            register = {width: tech.register_cost(width) for width in (a, w)}
            row = pe_table[i, j]
            row[k.PE_ACT_BITS], row[k.PE_WEIGHT_BITS], row[k.PE_PSUM_BITS] = a, w, p
            row[k.PE_MAC_ENERGY] = cost["mac_energy_pj"]
            row[k.PE_MAC_AREA] = cost["mac_area_um2"]
            row[k.PE_MAC_LEAK_UW] = cost["mac_leakage_uw"]
            row[k.PE_CRITICAL_NS] = cost["min_clock_period_ns"]  # the critical path plus the file's margin
            # systolic PE: an activation and a weight register (the partial sum's is the MAC's own
            # accumulator, in the MAC costs); which of them is loaded every MAC depends on the dataflow
            row[k.PE_REG_ACT_ENERGY] = register[a]["write_energy_pj"]
            row[k.PE_REG_WEIGHT_ENERGY] = register[w]["write_energy_pj"]
            row[k.PE_REG_AREA] = register[a]["area_um2"] + register[w]["area_um2"]
            row[k.PE_REG_LEAK_UW] = register[a]["leakage_uw"] + register[w]["leakage_uw"]
            # per word at the SRAM's physical row width: a narrow word is its share of a row access
            for operand, width in (("ACT", a), ("WEIGHT", w), ("PSUM", p)):
                cost_glb = tech.glb_word_cost(glb_bytes, width)
                glb_table[:, i, j, getattr(k, f"GLB_READ_{operand}")] = cost_glb["read_energy_pj"]
                glb_table[:, i, j, getattr(k, f"GLB_WRITE_{operand}")] = cost_glb["write_energy_pj"]
            for name, width in (("spad_ifmap", a), ("spad_filter", w), ("spad_psum", p)):
                cost_spad = tech.spad_cost(np.array(axes[name], dtype=float), width)
                table = spad_tables[name][:, i, j]
                table[:, k.SPAD_READ] = cost_spad["read_energy_pj"]
                table[:, k.SPAD_WRITE] = cost_spad["write_energy_pj"]
                table[:, k.SPAD_AREA] = cost_spad["area_um2"]
                table[:, k.SPAD_LEAK_UW] = cost_spad["leakage_uw"]
            # the macro's leakage and area: an SRAM of that capacity with rows of the file's row_bits
            macro = tech.glb_word_cost(glb_bytes, tech.glb_row_bits)
            glb_table[:, i, j, k.GLB_LEAK_MW] = macro["leakage_mw"]
            glb_table[:, i, j, k.GLB_AREA_MM2] = macro["area_mm2"]
    return {
        "shape": np.array([len(v) for v in axes.values()], dtype=np.int64),
        "pe_index_of": np.arange(len(pe_types), dtype=np.int64),
        "rows_of": np.array(axes["rows"], dtype=np.int64),
        "cols_of": np.array(axes["cols"], dtype=np.int64),
        "glb_kib_of": np.array(axes["glb_kib"], dtype=np.int64),
        "spad_ifmap_of": np.array(axes["spad_ifmap"], dtype=np.int64),
        "spad_filter_of": np.array(axes["spad_filter"], dtype=np.int64),
        "spad_psum_of": np.array(axes["spad_psum"], dtype=np.int64),
        "dataflow_of": np.array([DATAFLOWS.index(d) for d in axes["dataflow"]], dtype=np.int64),
        "batch_of": np.array(axes["batch"], dtype=np.int64),
        "dram_gbps_of": np.array(axes["dram_gbps"], dtype=np.float64),
        "clock_mhz_of": np.array(axes["clock_mhz"], dtype=np.float64),
        "pe_table": pe_table,
        "glb_table": glb_table,
        "spad_ifmap_table": spad_tables["spad_ifmap"],
        "spad_filter_table": spad_tables["spad_filter"],
        "spad_psum_table": spad_tables["spad_psum"],
    }


def _to_dataset(totals, per_layer, space: DesignSpace, network: Network | list[Network], tech: Technology,
                seconds: float) -> xr.Dataset:
    networks = network if isinstance(network, list) else None  # a list: the ``network`` dimension
    dims = (("network",) if networks else ()) + tuple(space.axes)
    shape = ((len(networks),) if networks else ()) + tuple(len(v) for v in space.axes.values())
    coords = {}
    if networks:
        coords["network"] = xr.Variable("network", np.array([net.name for net in networks], dtype=str),
                                        {"units": "", "long_name": "network (DNN configuration)"})
    for name, values in space.axes.items():
        unit, kind = AXES[name]
        coords[name] = xr.Variable(name, np.array(values, dtype=object if kind is str else None).astype(
            str if kind is str else type(values[0])), {"units": unit, "long_name": AXIS_DESCRIPTIONS[name]})
    # the kernel's columns, then the derived variables, in the table's order (quidam_fast.outputs)
    data = {output.name: xr.Variable(dims, totals[:, output.index].reshape(shape).astype(output.dtype, copy=False),
                                     outputs.attrs(output))
            for output in outputs.TOTALS if output.column is not None}
    ds = xr.Dataset(data, coords=coords)
    ds = outputs.add_derived(ds)  # every derived total; per-layer variables have no formulas
    if per_layer is not None:
        layer_dims = dims + ("layer",)
        for output in outputs.PER_LAYER:
            ds[output.name] = xr.Variable(layer_dims, per_layer[:, :, output.index].reshape(shape + (per_layer.shape[1],)),
                                          outputs.attrs(output))
    if networks:
        return _label_networks(ds, networks, per_layer is not None, space, tech, seconds)
    if per_layer is not None:
        table = network.table()
        ds = ds.assign_coords(layer=("layer", [layer.name for layer in network.layers],
                                       {"units": "", "long_name": "layer name"}))
        for column in LAYER_COLUMNS:
            ds = ds.assign_coords({f"layer_{column}": ("layer", table[column], {"units": "1"})})
        ds = ds.assign_coords(layer_macs=("layer", np.array([layer.macs for layer in network.layers]), {"units": "MAC"}))
    ds.attrs.update({
        "network": network.name,
        "network_layers": len(network.layers),
        "network_macs": network.macs,
        "network_params": network.params,
        "network_notes": network.notes,  # what the layer table leaves out (an ONNX graph's MAC-free operators)
        "tech": tech.name,
        "tech_node_nm": tech.node_nm,
        "tech_summary": tech.summary,
        "space": "; ".join(f"{name}={list(values)}" for name, values in space.axes.items()),
        "design_points": space.size,
        "evaluation_seconds": round(seconds, 3),
        "producer": "quidam_fast.evaluate",
    })
    return ds


def _label_networks(ds: xr.Dataset, networks: list[Network], per_layer: bool, space: DesignSpace, tech: Technology,
                    seconds: float) -> xr.Dataset:
    """Coordinates and attributes of a dataset with a ``network`` dimension (see :func:`evaluate`)."""
    ds = ds.assign_coords(
        network_layers=("network", np.array([len(net.layers) for net in networks], dtype=np.int64),
                        {"units": "1", "long_name": "number of layers"}),
        network_macs=("network", np.array([net.macs for net in networks], dtype=np.int64),
                      {"units": "MAC", "long_name": "multiply-accumulates of one inference"}),
        network_params=("network", np.array([net.params for net in networks], dtype=np.int64),
                        {"units": "1", "long_name": "weights of the conv and FC layers (biases and batch norm excluded)"}),
    )
    if per_layer:
        n_layers = ds.sizes["layer"]
        names = np.full((len(networks), n_layers), "", dtype=object)
        columns = {column: np.full((len(networks), n_layers), -1, dtype=np.int64) for column in LAYER_COLUMNS + ("macs",)}
        for i, net in enumerate(networks):
            table = net.table()
            names[i, : len(net.layers)] = [layer.name for layer in net.layers]
            for column in LAYER_COLUMNS:
                columns[column][i, : len(net.layers)] = table[column]
            columns["macs"][i, : len(net.layers)] = [layer.macs for layer in net.layers]
        ds = ds.assign_coords(layer=("layer", np.arange(n_layers, dtype=np.int64),
                                     {"units": "1", "long_name": "layer position in its network (0: first)"}))
        ds = ds.assign_coords(layer_name=(("network", "layer"), names.astype(str),
                                          {"units": "", "long_name": "layer name (empty past the network's last layer)"}))
        for column in LAYER_COLUMNS + ("macs",):
            ds = ds.assign_coords({f"layer_{column}": (("network", "layer"), columns[column],
                                                       {"units": "MAC" if column == "macs" else "1",
                                                        "long_name": "-1 past the network's last layer"})})
    ds.attrs.update({
        "network": ", ".join(net.name for net in networks),
        "tech": tech.name,
        "tech_node_nm": tech.node_nm,
        "tech_summary": tech.summary,
        "space": "; ".join(f"{name}={list(values)}" for name, values in space.axes.items()),
        "design_points": space.size,
        "networks": len(networks),
        "evaluation_seconds": round(seconds, 3),
        "producer": "quidam_fast.evaluate",
    })
    return ds


#: float64 arrays of one value per design point to allow for: evaluate()'s peak holds the kernel's 21
#: totals (the dataset's variables are views of them) and the 10 derived variables -- measured at
#: 8dd7e4b, 1,688 MiB above the start for the default grid's 7.08 M points, 31 arrays -- and
#: ``quidam-fast grid`` adds the report's and the file writer's temporaries: its peak RSS, 2.34 GB
#: (/usr/bin/time -v), is 41 arrays a point with the interpreter (3.73 GB, 66, while it built an
#: uncompressed netCDF in memory).
_ARRAYS_PER_POINT = 56


def _check_memory(n_points: int) -> None:
    """Refuse a space whose results cannot fit in this machine's memory, before allocating anything."""
    needed = n_points * _ARRAYS_PER_POINT * 8
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no check
        return
    if needed > 0.8 * available:
        raise QuidamInputError(
            f"a space of {n_points:,} design points needs about {needed / 2**30:.1f} GiB for its results, more "
            f"than this machine's {available / 2**30:.1f} GiB allow; split it along an axis (e.g. one spec per "
            "pe_type) and evaluate the parts one after the other"
        )


def warm_up() -> float:
    """Compile (or load from the on-disk cache) every kernel; returns the seconds it took."""
    started = time.perf_counter()
    evaluate("alexnet", {"dataflow": list(DATAFLOWS), "pe_type": list(PE_TYPES)})
    return time.perf_counter() - started
