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
    """Cycles of one fold, from the timestamp of its last MAC.

    SCALE-Sim pads a partial fold's operands to the whole array, so data still passes every row and
    column: the skew is that of the full ``rows x cols`` array whatever ``rows_used, cols_used`` are.
    ``os`` reads its outputs out once the last MAC is done; ``ws``/``is`` first spend ``rows`` cycles
    shifting the stationary operand in (their drain is the skew through the array, already in the
    last PE's timestamp).
    """
    assert 0 < rows_used <= rows and 0 < cols_used <= cols
    last = -1
    for t in range(stream):
        for i in range(rows):
            for j in range(cols):
                last = max(last, t + i + j)  # element t reaches PE (i, j) at cycle t + i + j
    load = 0 if dataflow == "os" else rows
    return load + last + 1


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
    # SCALE-Sim reports the last cycle's index (one less than the count) ...
    count["compute_cycles"] -= 1
    # ... which cannot undercut the law: one PE does at most one MAC per cycle
    count["compute_cycles"] = max(count["compute_cycles"], -(-count["macs"] // (rows * cols)))
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


def rs_reference(layer, rows, cols, glb_bits, a, w, pbits, p, q):
    """Row-stationary counts for one layer and one mapping (``p`` filters, ``q`` channels per PE).

    Walks, per group, image ``n`` -> strip of output rows -> block of filters -> filter-row fold ->
    block of channels (one *pass*), and inside a pass every PE of every set, every output column,
    channel, tap and filter. The buffer's resident subset of {partial-sum tile, strip ifmap, filters}
    is the one of the eight that fits and moves the fewest DRAM bits, each simulated pass by pass.
    """
    R, S, P, Q, H, U, pad = layer.R, layer.S, layer.P, layer.Q, layer.H, layer.stride, layer.padding
    Cg, Kg = layer.C // layer.groups, layer.K // layer.groups
    h, e_t = min(R, rows), min(P, cols)
    sets = (rows // h) * (cols // e_t)
    n_fold, n_strip = _ceil_div(R, h), _ceil_div(P, e_t)
    n_kblock, n_cblock = _ceil_div(Kg, p * sets), _ceil_div(Cg, q)
    real_columns = len({x for col in range(Q) for x in range(col * U - pad, col * U - pad + S) if 0 <= x < layer.W})

    def input_row(strip, e, fold, r):
        return (strip * e_t + e) * U + fold * h + r - pad

    def strip_shape(strip):
        return min(e_t, P - strip * e_t)

    def fold_rows(fold):
        return min(h, R - fold * h)

    count = dict(compute_cycles=0, macs=0, glb_act=0, glb_weight=0, glb_psum_reads=0, glb_psum_writes=0,
                 glb_ofmap_writes=0, noc_act=0, noc_weight=0, noc_psum=0, spad_filter_writes=0, spad_ifmap_writes=0)
    passes = []   # (strip, filters in block, fold, channels in block, first accumulation, last accumulation)
    for n in range(layer.N):
        for strip in range(n_strip):
            for block in range(n_kblock):
                block_filters = min(p * sets, Kg - block * p * sets)
                for fold in range(n_fold):
                    for cblock in range(n_cblock):
                        channels = min(q, Cg - cblock * q)
                        first = fold == 0 and cblock == 0
                        last = fold == n_fold - 1 and cblock == n_cblock - 1
                        passes.append((n, strip, block, block_filters, fold, channels, first, last))
    for n, strip, block, block_filters, fold, channels, first, last in passes:
        e_s, h_f = strip_shape(strip), fold_rows(fold)
        per_set = [min(p, block_filters - j * p) for j in range(sets) if block_filters - j * p > 0]
        busiest = 0
        for filters in per_set:
            for r in range(h_f):
                for e in range(e_s):
                    real = 0 <= input_row(strip, e, fold, r) < H
                    work = 0
                    for _col in range(Q):
                        for _c in range(channels):
                            for _tap in range(S):
                                for _k in range(filters):
                                    work += 1
                    count["macs"] += work
                    busiest = max(busiest, work)
                    count["noc_weight"] += S * channels * filters        # its filter rows, multicast along the set row
                    count["spad_filter_writes"] += S * channels * filters
                    if real:
                        count["noc_act"] += real_columns * channels      # its ifmap row, multicast diagonally
                        count["spad_ifmap_writes"] += real_columns * channels
                    if r > 0:
                        count["noc_psum"] += Q * filters                 # psums move up one PE
        count["compute_cycles"] += busiest
        count["glb_weight"] += block_filters * channels * h_f * S        # one buffer read per unique word
        distinct_rows = {input_row(strip, e, fold, r) for e in range(e_s) for r in range(h_f)}
        count["glb_act"] += sum(1 for y in distinct_rows if 0 <= y < H) * real_columns * channels
        outputs = e_s * Q * block_filters
        if not first:
            count["glb_psum_reads"] += outputs
            count["noc_psum"] += outputs
        if last:
            count["glb_ofmap_writes"] += outputs
        else:
            count["glb_psum_writes"] += outputs
        count["noc_psum"] += outputs

    # DRAM: try the eight resident subsets, simulating each pass by pass
    accumulations = n_fold * n_cblock
    psum_tile_bits = e_t * Q * min(p * sets, Kg) * pbits if accumulations > 1 else 0
    strip_rows = [len({y for e in range(strip_shape(s)) for r in range(R)
                       for y in [(s * e_t + e) * U + r - pad] if 0 <= y < H}) for s in range(n_strip)]
    strip_bits = max(strip_rows) * real_columns * Cg * a
    filter_bits = Kg * Cg * R * S * w
    best = None
    for subset in range(8):
        keep_psum, keep_strip, keep_filters = bool(subset & 1), bool(subset & 2), bool(subset & 4)
        if (psum_tile_bits if keep_psum else 0) + (strip_bits if keep_strip else 0) + (filter_bits if keep_filters else 0) > glb_bits:
            continue
        dram = dict(act=0, weight=0, psum=0)
        filters_loaded = False
        loaded_strip = None
        for n, strip, block, block_filters, fold, channels, first, last in passes:
            e_s, h_f = strip_shape(strip), fold_rows(fold)
            if keep_filters:
                if not filters_loaded:
                    dram["weight"] += Kg * Cg * R * S
                    filters_loaded = True
            else:
                dram["weight"] += block_filters * channels * h_f * S
            if keep_strip:
                if loaded_strip != (n, strip):
                    dram["act"] += strip_rows[strip] * real_columns * Cg
                    loaded_strip = (n, strip)
            else:
                rows_read = {input_row(strip, e, fold, r) for e in range(e_s) for r in range(h_f)}
                dram["act"] += sum(1 for y in rows_read if 0 <= y < H) * real_columns * channels
            if not keep_psum and not last:
                dram["psum"] += e_s * Q * block_filters
        bits = dram["act"] * a + dram["weight"] * w + 2 * dram["psum"] * pbits
        if best is None or bits < best[0]:
            best = (bits, dram)
    dram = best[1]
    count.update(dram_act=dram["act"], dram_weight=dram["weight"], dram_psum=dram["psum"],
                 dram_ofmap=layer.N * Kg * P * Q)
    return {key: value * layer.groups for key, value in count.items()}
