"""Slow, obviously correct references, written from the equations and never from the kernels.

``systolic_reference`` walks every fold of a layer on a ``rows x cols`` systolic array, every stream
step and every PE: it timestamps each MAC with the skewed systolic schedule, counts each operand word
that enters the array from the global buffer and each partial sum that leaves or re-enters it, and
keeps an explicit set of operand blocks resident in the buffer to count DRAM transfers.

Schedule (Samajdar et al., SCALE-Sim): in a fold, element ``t`` of the stream reaches PE ``(i, j)`` at
cycle ``offset + t + i + j``; ``ws``/``is`` first shift their stationary operand in over ``rows``
cycles and drain results out of the bottom edge one cycle after the last row, so a fold lasts until
the last PE's last MAC plus the drain through the whole array. SCALE-Sim reports the index of the
last cycle (count - 1).

Buffer (the engine's stated policy, simulated here block by block): the blocks are the whole ifmap
(or its per-fold tile), each filter fold tile, the whole filter tensor, and per-column-fold partial-sum
tiles. A block is fetched from DRAM when a fold needs it and it is not resident; a block stays
resident only if it fits beside the blocks with priority (partial sums first, then the outer fold's
tile, then the swept operand).
"""

from __future__ import annotations



def _ceil_div(a, b):
    return -(-a // b)


def gemm_dims(layer):
    """Per-group GEMM of a layer: (Sr output pixels, T reduction, Sc filters, ifmap words per group)."""
    cg = layer.C // layer.groups
    return layer.N * layer.P * layer.Q, cg * layer.R * layer.S, layer.K // layer.groups, layer.N * cg * layer.H * layer.W


def _fold_span(dataflow, rows, cols, stream, rows_used, cols_used):
    """Cycles of one fold: the last MAC's timestamp (+1), plus the stationary load and the drain."""
    last = -1
    for t in range(stream):
        for i in range(rows_used):
            for j in range(cols_used):
                last = max(last, t + i + j)
    if dataflow == "os":
        # outputs are read out after the fold with the skew already absorbed (SCALE-Sim: T + R + C - 2)
        last = (stream - 1) + (rows - 1) + (cols - 1)
        return last + 1
    # ws / is: ``rows`` cycles to shift the stationary operand in; results leave the bottom edge after
    # passing every row, the last column's result leaving at the right edge
    last = rows + (stream - 1) + (rows - 1) + (cols - 1)
    return last + 1


def systolic_reference(layer, dataflow, rows, cols, glb_bits, act_bits, weight_bits, psum_bits):
    """Counts for one layer on a systolic array; keys match the engine's per-layer quantities."""
    Sr, T, Sc, ifmap_words = gemm_dims(layer)
    count = dict(compute_cycles=0, macs=0, glb_act=0, glb_weight=0, glb_psum_reads=0, glb_psum_writes=0,
                 glb_ofmap_writes=0, dram_act=0, dram_weight=0, dram_psum_reads=0, dram_psum_writes=0,
                 dram_ofmap=0)
    for _group in range(layer.groups):
        if dataflow == "os":
            per_group = _os_group(Sr, T, Sc, ifmap_words, rows, cols, glb_bits, act_bits, weight_bits)
        else:
            per_group = _stationary_group(dataflow, Sr, T, Sc, ifmap_words, rows, cols, glb_bits, act_bits,
                                          weight_bits, psum_bits)
        for key, value in per_group.items():
            count[key] += value
    count["compute_cycles"] -= 1
    return count


def _os_group(Sr, T, Sc, ifmap_words, rows, cols, glb_bits, a, w):
    """``os``: both fold orders walked; the one moving fewer DRAM bits is kept (as the engine does)."""
    n_row, n_col = _ceil_div(Sr, rows), _ceil_div(Sc, cols)
    filter_tile_bits = min(cols, Sc) * T * w
    ifmap_tile_bits = min(rows, Sr) * T * a
    results = []
    for filters_outer in (True, False):
        c = dict(compute_cycles=0, macs=0, glb_act=0, glb_weight=0, glb_psum_reads=0, glb_psum_writes=0,
                 glb_ofmap_writes=0, dram_act=0.0, dram_weight=0.0, dram_psum_reads=0, dram_psum_writes=0,
                 dram_ofmap=0)
        if filters_outer:
            outer_bits, swept_bits = filter_tile_bits, ifmap_words * a
            folds = [(fc, fr) for fc in range(n_col) for fr in range(n_row)]
        else:
            outer_bits, swept_bits = ifmap_tile_bits, Sc * T * w
            folds = [(fc, fr) for fr in range(n_row) for fc in range(n_col)]
        resident_outer = None      # which outer tile is in the buffer
        swept_resident = False     # the whole swept operand stays after its first sweep if it fits
        for index, (fc, fr) in enumerate(folds):
            rows_used = min(rows, Sr - fr * rows)
            cols_used = min(cols, Sc - fc * cols)
            share_ifmap = ifmap_words * rows_used / Sr   # this fold's part of each tensor
            share_filter = Sc * T * cols_used / Sc
            outer_id = fc if filters_outer else fr
            if resident_outer != outer_id:
                if filters_outer:
                    c["dram_weight"] += share_filter
                else:
                    c["dram_act"] += share_ifmap
                resident_outer = outer_id if outer_bits <= glb_bits else None
            if not swept_resident:
                if filters_outer:
                    c["dram_act"] += share_ifmap
                else:
                    c["dram_weight"] += share_filter
            first_sweep_done = index == (n_row if filters_outer else n_col) - 1
            if first_sweep_done and swept_bits + outer_bits <= glb_bits:
                swept_resident = True
            c["compute_cycles"] += _fold_span("os", rows, cols, T, rows_used, cols_used)
            c["macs"] += rows_used * cols_used * T
            c["glb_act"] += rows_used * T
            c["glb_weight"] += cols_used * T
            c["glb_ofmap_writes"] += rows_used * cols_used
            c["dram_ofmap"] += rows_used * cols_used
        c["dram_act"] = round(c["dram_act"])
        c["dram_weight"] = round(c["dram_weight"])
        results.append(c)
    cost = [c["dram_act"] * a + c["dram_weight"] * w for c in results]
    return results[0] if cost[0] <= cost[1] else results[1]


def _stationary_group(dataflow, Sr, T, Sc, ifmap_words, rows, cols, glb_bits, a, w, p):
    """``ws`` (weights stationary, pixels streamed) and ``is`` (inputs stationary, filters streamed):
    both buffer priorities (partial sums first, swept operand first) walked; the one moving fewer DRAM
    bits is kept, ties to partial sums first."""
    walks = [_stationary_walk(dataflow, Sr, T, Sc, ifmap_words, rows, cols, glb_bits, a, w, p, psums_first)
             for psums_first in (True, False)]
    swept_bits = a if dataflow == "ws" else w
    swept_key = "dram_act" if dataflow == "ws" else "dram_weight"
    cost = [c[swept_key] * swept_bits + (c["dram_psum_reads"] + c["dram_psum_writes"]) * p for c in walks]
    return walks[0] if cost[0] <= cost[1] else walks[1]


def _stationary_walk(dataflow, Sr, T, Sc, ifmap_words, rows, cols, glb_bits, a, w, p, psums_first):
    spatial = Sc if dataflow == "ws" else Sr      # mapped on the columns
    stream = Sr if dataflow == "ws" else Sc       # streamed through the array
    n_row, n_col = _ceil_div(T, rows), _ceil_div(spatial, cols)
    c = dict(compute_cycles=0, macs=0, glb_act=0, glb_weight=0, glb_psum_reads=0, glb_psum_writes=0,
             glb_ofmap_writes=0, dram_act=0, dram_weight=0, dram_psum_reads=0, dram_psum_writes=0, dram_ofmap=0)
    # the stationary tensor (ws: filters, is: ifmap) passes through the array once: one DRAM read
    if dataflow == "ws":
        c["dram_weight"] += Sc * T
    else:
        c["dram_act"] += ifmap_words
    # the operand swept once per column fold: ifmap for ws, filters for is
    swept_words = ifmap_words if dataflow == "ws" else Sc * T
    swept_bits = swept_words * (a if dataflow == "ws" else w)
    psum_tile_bits = stream * min(cols, spatial) * p if n_row > 1 else 0
    if psums_first:
        psum_fits = psum_tile_bits <= glb_bits
        swept_budget = glb_bits - (psum_tile_bits if psum_fits else 0)
    else:
        swept_budget = glb_bits
        psum_fits = psum_tile_bits + (swept_bits if swept_bits <= glb_bits else 0) <= glb_bits
    swept_resident = False
    for fc in range(n_col):
        cols_used = min(cols, spatial - fc * cols)
        for fr in range(n_row):
            rows_used = min(rows, T - fr * rows)
            # stationary operand: loaded once into the array registers, each word read from the buffer once
            stationary_words = rows_used * cols_used
            streamed_words = stream * rows_used
            if dataflow == "ws":
                c["glb_weight"] += stationary_words
                c["glb_act"] += streamed_words
            else:
                c["glb_act"] += stationary_words
                c["glb_weight"] += streamed_words
            if fr == 0 and not swept_resident:
                c["dram_act" if dataflow == "ws" else "dram_weight"] += swept_words
                swept_resident = swept_bits <= swept_budget
            outputs = stream * cols_used
            if fr > 0:
                c["glb_psum_reads"] += outputs
                if not psum_fits:
                    c["dram_psum_reads"] += outputs
            if fr < n_row - 1:
                c["glb_psum_writes"] += outputs
                if not psum_fits:
                    c["dram_psum_writes"] += outputs
            else:
                c["glb_ofmap_writes"] += outputs
                c["dram_ofmap"] += outputs
            c["compute_cycles"] += _fold_span(dataflow, rows, cols, stream, rows_used, cols_used)
            c["macs"] += stream * rows_used * cols_used
    return c
