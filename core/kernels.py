"""Numba kernels: tiling, cycles, traffic and energy of design points x layers. numpy and numba only.

Every technology lookup is precomputed per unique axis value by the engine; the kernels only decode a
flat design index, tile each layer onto the array and buffers, count cycles and accesses, and multiply
by per-access energies. Outputs are written into preallocated 2-D/3-D arrays whose columns are named
by the ``TOTAL_*``/``LAYER_*`` constants (the engine gives them names and units).

Systolic dataflows (SCALE-Sim's model; Samajdar et al., ISPASS 2020). A layer (per group) is the GEMM
of ``Sr = N P Q`` output pixels x ``T = (C/g) R S`` reduction x ``Sc = K/g`` filters:

======== ============= ============= =========== =================================================
dataflow array rows    array cols    streamed    compute cycles (SCALE-Sim, exact)
======== ============= ============= =========== =================================================
``ws``   T (weights)   Sc            Sr          ``folds (2 rows + cols + Sr - 2) - 1``
``os``   Sr (pixels)   Sc            T           ``folds (rows + cols + T - 2) - 1``
``is``   T (inputs)    Sr            Sc          ``folds (2 rows + cols + Sc - 2) - 1``
======== ============= ============= =========== =================================================

with ``folds = g ceil(dim_rows / rows) ceil(dim_cols / cols)``; the loop order is SCALE-Sim's (column
folds outer). Global-buffer traffic counts operand words as the array consumes them (SCALE-Sim's SRAM
reads); DRAM traffic comes from the buffer model in :func:`_systolic_layer`.

Energy is accesses x energy per access. The array network is priced by the wire each transfer drives
(:func:`_network_mm`): the technology's energy per bit per mm of wire times the distance on this design,
from its floorplan (PE pitch from the PE's area, the array's sides from rows and columns, the buffer's
side from its area); a multicast or broadcast bus is charged once for the wire it drives, whatever
the number of PEs listening.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit

# dataflow codes (order of space.DATAFLOWS)
WS, OS, IS, RS = 0, 1, 2, 3

# invalid-design reasons (0 = valid); the engine names them in the dataset's attrs
VALID, INVALID_BITS, INVALID_GLB_TOO_SMALL, INVALID_SPAD_TOO_SMALL, INVALID_CLOCK = 0, 1, 2, 3, 4

# columns of the per-design totals
(TOTAL_CYCLES, TOTAL_COMPUTE_CYCLES, TOTAL_STALL_CYCLES, TOTAL_MACS, TOTAL_ENERGY_MAC, TOTAL_ENERGY_SPAD,
 TOTAL_ENERGY_NOC, TOTAL_ENERGY_GLB, TOTAL_ENERGY_DRAM, TOTAL_ENERGY_LEAK, TOTAL_DRAM_READ_BYTES,
 TOTAL_DRAM_WRITE_BYTES, TOTAL_GLB_READS, TOTAL_GLB_WRITES, TOTAL_SPAD_READS, TOTAL_SPAD_WRITES,
 TOTAL_NOC_WORDS, TOTAL_AREA_MAC, TOTAL_AREA_PE_STORAGE, TOTAL_AREA_GLB, TOTAL_REASON) = range(21)
N_TOTALS = 21

# columns of the per-layer results
(LAYER_CYCLES, LAYER_STALL_CYCLES, LAYER_UTILIZATION, LAYER_ENERGY, LAYER_DRAM_READ_BYTES,
 LAYER_DRAM_WRITE_BYTES, LAYER_GLB_READS, LAYER_GLB_WRITES, LAYER_RS_FILTERS_PER_PE,
 LAYER_RS_CHANNELS_PER_PE) = range(10)
N_LAYER_RESULTS = 10

# columns of the precomputed per-(pe_type, bits) table
(PE_ACT_BITS, PE_WEIGHT_BITS, PE_PSUM_BITS, PE_MAC_ENERGY, PE_MAC_AREA, PE_MAC_LEAK_UW, PE_CRITICAL_NS,
 PE_REG_ACT_ENERGY, PE_REG_WEIGHT_ENERGY, PE_REG_AREA, PE_REG_LEAK_UW) = range(11)
N_PE = 11

# columns of the precomputed per-(glb_kib, pe_type, bits) table: energy per word access by operand
(GLB_READ_ACT, GLB_WRITE_ACT, GLB_READ_WEIGHT, GLB_WRITE_WEIGHT, GLB_READ_PSUM, GLB_WRITE_PSUM,
 GLB_LEAK_MW, GLB_AREA_MM2) = range(8)
N_GLB = 8

# columns of the per-(spad capacity, pe_type, bits) tables (one table per scratchpad)
SPAD_READ, SPAD_WRITE, SPAD_AREA, SPAD_LEAK_UW = range(4)
N_SPAD = 4


@jit
def _ceil_div(a, b):
    return (a + b - 1) // b


@jit
def _allocate(swept_words, swept_bits, sweeps, psum_tile_bits, spill_words, psum_bits, glb_bits):
    """Share the buffer between the swept operand and the partial-sum tile (``ws``/``is``).

    Two priorities are tried, partial sums first and swept operand first; the one moving fewer DRAM
    bits wins (ties: partial sums first). Each option's traffic is non-increasing in the buffer size, so
    the minimum is too (guarded by ``test_more_buffer_never_adds_dram_traffic``).
    Returns ``(swept operand DRAM reads, partial-sum words spilled per direction)``.
    """
    footprint = swept_words * swept_bits
    psum_first_on_chip = psum_tile_bits <= glb_bits
    swept_1 = swept_words if footprint + (psum_tile_bits if psum_first_on_chip else 0) <= glb_bits else swept_words * sweeps
    spill_1 = 0 if psum_first_on_chip else spill_words
    swept_fits = footprint <= glb_bits
    swept_2 = swept_words if swept_fits else swept_words * sweeps
    spill_2 = 0 if psum_tile_bits + (footprint if swept_fits else 0) <= glb_bits else spill_words
    if swept_1 * swept_bits + 2 * spill_1 * psum_bits <= swept_2 * swept_bits + 2 * spill_2 * psum_bits:
        return swept_1, spill_1
    return swept_2, spill_2


@jit
def _systolic_layer(dataflow, rows, cols, glb_bits, act_bits, weight_bits, psum_bits,
                    N, K, C, R, S, P, Q, H, W, groups):
    """Cycles and word counts of one layer on a systolic array with a global buffer of ``glb_bits``.

    Buffer model (per group; groups run one after another). Unique footprints in words: ifmap
    ``I = N (C/g) H W``, filters ``F = Sc T``, outputs ``O = Sr Sc``; operands are streamed from DRAM
    through the buffer, so nothing has to fit for the design to work, but reuse needs residency:

    * the operand swept by the inner fold loop is read from DRAM once if all of it fits in the buffer
      beside the outer fold's tile (and the on-chip partial sums), otherwise once per outer fold (a
      cyclic sweep larger than the buffer misses every time);
    * the outer fold's tile is read once if it fits, otherwise once per inner fold (``os`` only: in
      ``ws``/``is`` it is the array's stationary operand, held in the PE registers);
    * partial sums of a reduction split over row folds stay on chip if their tile fits, otherwise every
      extra row fold writes them to DRAM and reads them back; where the partial sums and the swept
      operand do not both fit, the cheaper of the two priorities is taken (:func:`_allocate`);
    * ``os`` has no partial sums and takes the cheaper of its two fold orders; ``ws``/``is`` keep
      SCALE-Sim's order (column folds outer), which keeps the partial-sum tile small.

    Returns ``(compute_cycles, macs, glb_act_reads, glb_weight_reads, glb_psum_reads, glb_psum_writes,
    glb_ofmap_writes, dram_act_reads, dram_weight_reads, dram_psum_reads, dram_psum_writes,
    dram_ofmap_writes)`` (word counts).
    """
    Cg = C // groups
    Sr = N * P * Q
    Sc = K // groups
    T = Cg * R * S
    ifmap_words = N * Cg * H * W
    filter_words = Sc * T
    out_words = Sr * Sc
    macs = Sr * Sc * T
    glb_psum_reads = 0
    glb_psum_writes = 0
    dram_psum = 0
    if dataflow == OS:
        n_row = _ceil_div(Sr, rows)
        n_col = _ceil_div(Sc, cols)
        per_fold = T + rows + cols - 2
        glb_act = Sr * T * n_col
        glb_weight = Sc * T * n_row
        filter_tile_bits = min(cols, Sc) * T * weight_bits
        ifmap_tile_bits = min(rows, Sr) * T * act_bits
        # order A: filter tiles outer, pixel tiles inner
        weight_a = filter_words if filter_tile_bits <= glb_bits else filter_words * n_row
        act_a = ifmap_words if ifmap_words * act_bits + filter_tile_bits <= glb_bits else ifmap_words * n_col
        # order B: pixel tiles outer, filter tiles inner
        act_b = ifmap_words if ifmap_tile_bits <= glb_bits else ifmap_words * n_col
        weight_b = filter_words if filter_words * weight_bits + ifmap_tile_bits <= glb_bits else filter_words * n_row
        if act_a * act_bits + weight_a * weight_bits <= act_b * act_bits + weight_b * weight_bits:
            dram_act, dram_weight = act_a, weight_a
        else:
            dram_act, dram_weight = act_b, weight_b
    elif dataflow == WS:
        n_row = _ceil_div(T, rows)
        n_col = _ceil_div(Sc, cols)
        per_fold = 2 * rows + cols + Sr - 2
        glb_act = Sr * T * n_col
        glb_weight = T * Sc
        glb_psum_writes = out_words * (n_row - 1)
        glb_psum_reads = out_words * (n_row - 1)
        psum_tile_bits = Sr * min(cols, Sc) * psum_bits if n_row > 1 else 0
        dram_weight = filter_words
        dram_act, dram_psum = _allocate(ifmap_words, act_bits, n_col, psum_tile_bits, out_words * (n_row - 1),
                                        psum_bits, glb_bits)
    else:  # IS
        n_row = _ceil_div(T, rows)
        n_col = _ceil_div(Sr, cols)
        per_fold = 2 * rows + cols + Sc - 2
        glb_act = T * Sr
        glb_weight = Sc * T * n_col
        glb_psum_writes = out_words * (n_row - 1)
        glb_psum_reads = out_words * (n_row - 1)
        psum_tile_bits = min(cols, Sr) * Sc * psum_bits if n_row > 1 else 0
        dram_act = ifmap_words
        dram_weight, dram_psum = _allocate(filter_words, weight_bits, n_col, psum_tile_bits, out_words * (n_row - 1),
                                           psum_bits, glb_bits)
    folds = n_row * n_col
    # SCALE-Sim's "- 1" (the last cycle's index, not a count) holds only where a fold has a pipeline fill
    # to overlap it: an os fold on a 1 x 1 array is T MACs in T cycles (per_fold = T), and the "- 1"
    # there gave cycles = MACs - 1, below MACs / PEs (test_os_on_one_pe_takes_a_cycle_per_mac).
    compute_cycles = groups * folds * per_fold - (0 if dataflow == OS and rows == 1 and cols == 1 else 1)
    return (compute_cycles, groups * macs, groups * glb_act, groups * glb_weight, groups * glb_psum_reads,
            groups * glb_psum_writes, groups * out_words, groups * dram_act, groups * dram_weight,
            groups * dram_psum, groups * dram_psum, groups * out_words)


# --------------------------------------------------------------------------------------------------
# Row-stationary spatial array (Chen, Emer & Sze, ISCA 2016)
# --------------------------------------------------------------------------------------------------


@jit
def _rs_ifmap_rows(rows, cols, R, P, H, stride, padding):
    """Distinct real input rows a row-stationary pass touches, summed over strips and filter-row folds.

    A PE set is ``h = min(R, rows)`` filter rows x ``e_t = min(P, cols)`` output rows; PE ``(r, e)``
    of strip ``s`` and fold ``f`` reads input row ``(s e_t + e) stride + f h + r - padding`` (padding
    rows are zeros made in the PE, not read). Returns ``(sum over strips and folds of the rows a pass
    reads, sum over strips of the rows the whole strip reads, the largest strip's rows)``.
    """
    h = min(R, rows)
    e_t = min(P, cols)
    n_fold = _ceil_div(R, h)
    n_strip = _ceil_div(P, e_t)
    pass_rows = 0
    strip_rows = 0
    largest = 0
    for strip in range(n_strip):
        e_s = min(e_t, P - strip * e_t)
        first = strip * e_t * stride - padding
        # the whole strip (all folds): rows first + e stride + r for r < R
        strip_count = _rows_in(first, e_s, stride, R, H)
        strip_rows += strip_count
        largest = max(largest, strip_count)
        for fold in range(n_fold):
            h_f = min(h, R - fold * h)
            pass_rows += _rows_in(first + fold * h, e_s, stride, h_f, H)
    return pass_rows, strip_rows, largest


@jit
def _rows_in(first, count, stride, height, H):
    """How many distinct rows ``first + e stride + r`` (``e < count``, ``r < height``) lie in ``[0, H)``."""
    if stride <= height:  # windows overlap or touch: one contiguous span
        lo = max(first, 0)
        hi = min(first + (count - 1) * stride + height, H)
        return max(hi - lo, 0)
    total = 0
    for e in range(count):
        lo = max(first + e * stride, 0)
        hi = min(first + e * stride + height, H)
        total += max(hi - lo, 0)
    return total


@jit
def _rs_counts(rows, cols, glb_bits, act_bits, weight_bits, psum_bits, N, K, C, R, S, P, Q, groups, W_used,
               real_row_pairs, pass_rows, strip_rows, largest_strip_rows, p, q):
    """Accesses of one layer under a row-stationary mapping with ``p`` filters and ``q`` channels per PE.

    Loop nest per group, outer to inner: image ``n``, strip of ``e_t`` output rows, block of
    ``p t`` filters (``t`` replicated PE sets, one filter group each), filter-row fold, block of ``q``
    channels. In a pass every PE runs 1-D convolutions: for each of ``Q`` outputs, ``q`` channels,
    ``S`` taps and its filters (at most ``p``), one MAC per cycle, with its filter rows in the filter
    scratchpad (``p q S`` words), its ifmap row window in the ifmap scratchpad (``q S``) and ``p``
    partial sums in the psum scratchpad. Filter rows are multicast along set rows, ifmap rows along
    diagonals (one buffer read each; a PE whose input row is padding gets nothing and multiplies
    zeros), partial sums flow up the set's columns and leave for the buffer after each pass, coming
    back for the next channel block or fold. ``W_used`` is the real input columns a row reads and
    ``real_row_pairs`` the (output row, filter row) pairs whose input row is real.

    The buffer keeps the subset of {partial-sum tile, the current strip's ifmap, all filters} that fits
    and moves the fewest DRAM bits (every subset is tried; more buffer never adds traffic).

    Returns ``(compute_cycles, macs, glb_act_reads, glb_weight_reads, glb_psum_reads, glb_psum_writes,
    glb_ofmap_writes, dram_act, dram_weight, dram_psum_each_way, dram_ofmap, noc_act, noc_weight,
    noc_psum, spad_filter_writes, spad_ifmap_writes)`` over all groups, and the PE sets ``t``.
    """
    invariants = _rs_invariants(rows, cols, N, K, C, R, S, P, Q, groups, W_used, real_row_pairs, pass_rows,
                                strip_rows, largest_strip_rows, act_bits, weight_bits)
    return _rs_mapping_counts(invariants, glb_bits, act_bits, weight_bits, psum_bits, groups, p, q), invariants[4]


@jit
def _rs_invariants(rows, cols, N, K, C, R, S, P, Q, groups, W_used, real_row_pairs, pass_rows, strip_rows,
                   largest_strip_rows, act_bits, weight_bits):
    """The parts of :func:`_rs_counts` that do not depend on the mapping (computed once per layer)."""
    Cg = C // groups
    Kg = K // groups
    h = min(R, rows)
    e_t = min(P, cols)
    n_fold = _ceil_div(R, h)
    n_strip = _ceil_div(P, e_t)
    sets = (rows // h) * (cols // e_t)
    filter_words = Kg * Cg * R * S
    out_words = N * Kg * P * Q
    return (Cg, Kg, e_t, n_fold, sets, filter_words, out_words,
            N * n_strip * n_fold * Q * S * Cg,             # cycles per filter of the busiest PE
            N * Kg * Cg * R * S * P * Q,                   # MACs
            N * n_strip * filter_words,                    # filter buffer reads
            N * Cg * W_used * pass_rows,                   # ifmap buffer reads per filter block
            N * P * filter_words,                          # filter deliveries
            N * Cg * W_used * real_row_pairs,              # ifmap deliveries per set in use
            N * (R - n_fold) * P * Q * Kg,                 # psum hops per channel block
            N * Cg * W_used * strip_rows,                  # ifmap DRAM reads with the strip resident
            largest_strip_rows * W_used * Cg * act_bits,   # the largest strip's bits
            filter_words * weight_bits, Q)


@jit
def _rs_mapping_counts(invariants, glb_bits, act_bits, weight_bits, psum_bits, groups, p, q):
    """The mapping-dependent part of :func:`_rs_counts` (called once per candidate mapping)."""
    (Cg, Kg, e_t, n_fold, sets, filter_words, out_words, cycles_per_filter, macs, glb_weight, act_per_block,
     noc_weight, act_per_set, hops_per_cblock, strip_act, strip_bits, filter_bits, Q) = invariants
    n_kblock = _ceil_div(Kg, p * sets)
    n_cblock = _ceil_div(Cg, q)
    last_block = Kg - (n_kblock - 1) * p * sets
    busiest_filters = (n_kblock - 1) * p + min(p, last_block)      # sum over blocks of the busiest PE's filters
    sets_used = (n_kblock - 1) * sets + _ceil_div(last_block, p)     # sum over blocks of the sets in use
    accumulations = n_fold * n_cblock
    compute_cycles = cycles_per_filter * busiest_filters
    glb_act = n_kblock * act_per_block
    glb_psum = out_words * (accumulations - 1)
    noc_act = act_per_set * sets_used
    noc_psum = hops_per_cblock * n_cblock + 2 * glb_psum + out_words
    # the buffer: the resident subset that fits and moves the fewest DRAM bits
    psum_tile_bits = e_t * Q * min(p * sets, Kg) * psum_bits if accumulations > 1 else 0
    best_bits = -1.0
    dram_act = 0
    dram_weight = 0
    dram_psum = 0
    # keeping more never moves more bits, so when everything fits the search is over at once
    first_subset = 7 if psum_tile_bits + strip_bits + filter_bits <= glb_bits else 0
    for subset in range(first_subset, 8):
        keep_psum = (subset & 1) != 0
        keep_strip = (subset & 2) != 0
        keep_filters = (subset & 4) != 0
        used = ((psum_tile_bits if keep_psum else 0) + (strip_bits if keep_strip else 0)
                + (filter_bits if keep_filters else 0))
        if used > glb_bits:
            continue
        act = strip_act if keep_strip else glb_act
        weight = filter_words if keep_filters else glb_weight
        spill = 0 if (keep_psum or accumulations == 1) else glb_psum
        bits = act * act_bits + weight * weight_bits + 2.0 * spill * psum_bits
        if best_bits < 0 or bits < best_bits:
            best_bits = bits
            dram_act, dram_weight, dram_psum = act, weight, spill
    return (groups * compute_cycles, groups * macs, groups * glb_act, groups * glb_weight, groups * glb_psum,
            groups * glb_psum, groups * out_words, groups * dram_act, groups * dram_weight, groups * dram_psum,
            groups * out_words, groups * noc_act, groups * noc_weight, groups * noc_psum,
            groups * noc_weight, groups * noc_act)


@jit
def _rs_max_channels(p, S, Cg, spad_ifmap, spad_filter):
    """Most channels per PE the scratchpads allow with ``p`` filters (0: not even one)."""
    return min(Cg, spad_ifmap // S, spad_filter // (p * S))


# --------------------------------------------------------------------------------------------------
# The array network: wire driven per transfer
# --------------------------------------------------------------------------------------------------

# positions in the tuple of :func:`_network_mm`
NET_ACT_READ, NET_WEIGHT_READ, NET_PSUM_READ, NET_PSUM_WRITE, NET_OFMAP, NET_ROW_BUS, NET_HOP = range(7)


@jit
def _network_mm(dataflow, rows, cols, pe_area_um2, glb_area_mm2):
    """Wire length (mm) one word drives on this design, by kind of transfer.

    Floorplan: square PEs of the PE's area (MACs and PE storage; control and wiring are not modelled,
    so the pitch is a lower bound) in ``rows x cols``, and a square buffer macro abutting the edge a
    word enters by. From the buffer to the array a word runs half the macro's side (from its centre,
    where its H-tree delivers the word) and then along the array's edge to its row or column port, a
    quarter of the edge on average (ports spread along an edge centred on the macro).

    Systolic arrays (``ws``/``os``/``is``): a streamed operand enters a row (left edge) or a column
    (top edge) and crosses the whole array, hop by hop between neighbouring PEs; a preloaded operand
    (``ws`` weights, ``is`` inputs) or a drained output (``os``) travels half a column on average; a
    partial sum read back enters the top of its column, and one written back (or an output) has
    crossed the column. Row stationary (Eyeriss's buses): every buffer transfer drives the vertical
    bus (the array's height); a filter row is multicast along one PE row (one horizontal bus); an
    ifmap row drives the horizontal bus of every PE row it reaches (:func:`_rs_network_energy`);
    partial sums move up one PE per hop.

    Returns ``(act_read, weight_read, psum_read, psum_write, ofmap, row_bus, hop)`` in mm (positions
    ``NET_*``).
    """
    pitch = np.sqrt(pe_area_um2 * 1e-6)
    width = cols * pitch
    height = rows * pitch
    half_glb = 0.5 * np.sqrt(glb_area_mm2)
    feed_left = half_glb + 0.25 * height  # to a row's port on the left edge
    feed_top = half_glb + 0.25 * width    # to a column's port on the top edge
    if dataflow == RS:
        vertical = feed_top + height
        return (vertical, vertical + width, vertical, vertical, vertical, width, pitch)
    across_row = feed_left + width
    down_column = feed_top + height
    half_column = feed_top + 0.5 * height
    if dataflow == WS:
        return (across_row, half_column, feed_top, down_column, down_column, 0.0, pitch)
    if dataflow == OS:
        return (across_row, down_column, feed_top, down_column, half_column, 0.0, pitch)
    return (half_column, across_row, feed_top, down_column, down_column, 0.0, pitch)  # IS


@jit
def _systolic_network_energy(glb_act, glb_weight, glb_psum_reads, glb_psum_writes, glb_ofmap, a, w, p, net,
                             wire_pj_per_bit_mm):
    """Network energy (pJ) of a systolic layer: every buffer word times the wire it drives."""
    return wire_pj_per_bit_mm * (glb_act * a * net[NET_ACT_READ] + glb_weight * w * net[NET_WEIGHT_READ]
                                 + glb_psum_reads * p * net[NET_PSUM_READ] + glb_psum_writes * p * net[NET_PSUM_WRITE]
                                 + glb_ofmap * a * net[NET_OFMAP])


@jit
def _rs_network_energy(c, a, w, p, rows, net, wire_pj_per_bit_mm):
    """Network energy (pJ) of a row-stationary layer from its counts ``c`` (:func:`_rs_counts` order).

    Each buffer read drives the vertical bus; a filter read also one horizontal bus (multicast along a
    PE row); an ifmap read drives the horizontal bus of each PE row it reaches, at most one per
    delivery and ``rows`` per read. Partial sums: hops between neighbouring PEs, and buffer transfers
    over the vertical bus; outputs leave at the activation width, as the buffer stores them.
    """
    act_reads, weight_reads, psum_reads, psum_writes, ofmap = c[2], c[3], c[4], c[5], c[6]
    act_rows = min(c[11], act_reads * rows)
    hops = c[13] - psum_reads - psum_writes - ofmap
    return wire_pj_per_bit_mm * (a * (act_reads * net[NET_ACT_READ] + act_rows * net[NET_ROW_BUS])
                                 + w * weight_reads * net[NET_WEIGHT_READ]
                                 + p * (psum_reads * net[NET_PSUM_READ] + psum_writes * net[NET_PSUM_WRITE]
                                        + hops * net[NET_HOP])
                                 + a * ofmap * net[NET_OFMAP])


# --------------------------------------------------------------------------------------------------
# The driver: one design point x every layer
# --------------------------------------------------------------------------------------------------

OBJECTIVE_ENERGY, OBJECTIVE_LATENCY, OBJECTIVE_EDP, OBJECTIVE_DRAM = 0, 1, 2, 3


@jit
def _layer_energy(macs, glb_act, glb_weight, glb_psum_reads, glb_psum_writes, glb_ofmap, dram_act, dram_weight,
                  dram_psum_reads, dram_psum_writes, dram_ofmap, energy_noc, spad_energy, compute_cycles,
                  a, w, p, e_mac, glb, dram_pj_per_bit, leak_uw, bytes_per_cycle, clock_mhz):
    """Cycles (stalls included) and the energy parts of one layer from its access counts."""
    dram_read_bits = dram_act * a + dram_weight * w + dram_psum_reads * p
    dram_write_bits = dram_psum_writes * p + dram_ofmap * a
    dram_cycles = np.ceil((dram_read_bits + dram_write_bits) / 8.0 / bytes_per_cycle)
    cycles = max(float(compute_cycles), dram_cycles)
    # the buffer is written by DRAM fills and by the array, read by the array and by DRAM write-back
    energy_glb = (glb_act * glb[GLB_READ_ACT] + glb_weight * glb[GLB_READ_WEIGHT]
                  + (glb_psum_reads + dram_psum_writes) * glb[GLB_READ_PSUM] + dram_ofmap * glb[GLB_READ_ACT]
                  + glb_psum_writes * glb[GLB_WRITE_PSUM] + glb_ofmap * glb[GLB_WRITE_ACT]
                  + dram_act * glb[GLB_WRITE_ACT] + dram_weight * glb[GLB_WRITE_WEIGHT]
                  + dram_psum_reads * glb[GLB_WRITE_PSUM])
    return (cycles, macs * e_mac, spad_energy, energy_noc, energy_glb,
            (dram_read_bits + dram_write_bits) * dram_pj_per_bit, leak_uw * cycles / clock_mhz,
            dram_read_bits, dram_write_bits)


@jit
def evaluate_chunk(start, stop, shape, pe_index_of, rows_of, cols_of, spad_ifmap_of, spad_filter_of, spad_psum_of,
                   glb_kib_of, dataflow_of, dram_gbps_of, clock_mhz_of, pe_table, glb_table, spad_ifmap_table,
                   spad_filter_table, spad_psum_table, layers, w_used, real_row_pairs, wire_pj_per_bit_mm,
                   dram_pj_per_bit, objective, forced_p, forced_q,
                   totals, per_layer, want_per_layer):
    """Evaluate flat design indices ``start <= i < stop`` on every layer.

    ``shape`` holds the axis lengths in :data:`quidam_fast.space.AXES` order; the ``*_of`` arrays map
    an axis position to its value (``pe_index_of`` to the row of ``pe_table``). ``pe_table`` is indexed
    ``[pe_type, bits]``, ``glb_table`` ``[glb_kib, pe_type, bits]``, ``spad_*_table``
    ``[capacity, pe_type, bits]``. ``layers`` is ``(n_layers, 12)`` int64 in
    ``workloads.LAYER_COLUMNS`` order; ``w_used`` and ``real_row_pairs`` are per-layer inputs of
    :func:`_rs_counts`. ``wire_pj_per_bit_mm`` prices the array network (:func:`_network_mm`).
    ``objective`` picks the row-stationary mapping (``OBJECTIVE_*``); ``forced_p, forced_q > 0`` skip
    the search and evaluate that mapping (invalid where the scratchpads cannot hold it). Results go to
    ``totals[i - start]`` and, if ``want_per_layer``, ``per_layer[i - start, layer]``.
    """
    n_axes = shape.shape[0]
    position = np.zeros(n_axes, dtype=np.int64)
    n_layers = layers.shape[0]
    # row-stationary candidates per layer: one per filter count, at most min(spad_psum, K / groups)
    largest_filter_count = 1
    for layer in range(n_layers):
        largest_filter_count = max(largest_filter_count, layers[layer, 1] // layers[layer, 11])
    max_candidates = max(1, min(spad_psum_of.max(), largest_filter_count))
    rs_cache = np.empty((n_layers, max_candidates, 16))
    rs_cache_pq = np.empty((n_layers, max_candidates, 2), dtype=np.int64)
    rs_n_cand = np.zeros(n_layers, dtype=np.int64)
    same_hardware = shape[n_axes - 1] * shape[n_axes - 2]  # points differing only in DRAM bandwidth / clock
    cached_key = -1
    for i in range(start, stop):
        out = i - start
        key = i // same_hardware
        reuse = key == cached_key
        rest = i
        for axis in range(n_axes - 1, -1, -1):
            position[axis] = rest % shape[axis]
            rest //= shape[axis]
        pe_i = pe_index_of[position[0]]
        bits_i = position[1]
        rows = rows_of[position[2]]
        cols = cols_of[position[3]]
        glb_i = position[7]
        dataflow = dataflow_of[position[8]]
        dram_gbps = dram_gbps_of[position[9]]
        clock_mhz = clock_mhz_of[position[10]]
        pe = pe_table[pe_i, bits_i]
        glb = glb_table[glb_i, pe_i, bits_i]
        for column in range(N_TOTALS):
            totals[out, column] = 0.0
        act_bits = pe[PE_ACT_BITS]
        reason = VALID
        if not act_bits == act_bits:  # NaN: pe_type not characterized at these bits
            reason = INVALID_BITS
        elif pe[PE_CRITICAL_NS] == pe[PE_CRITICAL_NS] and clock_mhz * pe[PE_CRITICAL_NS] > 1000.0:
            reason = INVALID_CLOCK
        if reason != VALID:
            _mark_invalid(totals, per_layer, out, reason, want_per_layer)
            continue
        a = np.int64(act_bits)
        w = np.int64(pe[PE_WEIGHT_BITS])
        p = np.int64(pe[PE_PSUM_BITS])
        glb_bits = glb_kib_of[glb_i] * 8192
        bytes_per_cycle = dram_gbps * 1e3 / clock_mhz
        n_pe = rows * cols
        spad_ifmap = spad_ifmap_of[position[4]]
        spad_filter = spad_filter_of[position[5]]
        spad_psum = spad_psum_of[position[6]]
        sp_i = spad_ifmap_table[position[4], pe_i, bits_i]
        sp_f = spad_filter_table[position[5], pe_i, bits_i]
        sp_p = spad_psum_table[position[6], pe_i, bits_i]
        if dataflow == RS:
            pe_storage_area = sp_i[SPAD_AREA] + sp_f[SPAD_AREA] + sp_p[SPAD_AREA]
            pe_leak = pe[PE_MAC_LEAK_UW] + sp_i[SPAD_LEAK_UW] + sp_f[SPAD_LEAK_UW] + sp_p[SPAD_LEAK_UW]
        else:
            pe_storage_area = pe[PE_REG_AREA]
            pe_leak = pe[PE_MAC_LEAK_UW] + pe[PE_REG_LEAK_UW]
        leak_uw = n_pe * pe_leak + glb[GLB_LEAK_MW] * 1e3
        net = _network_mm(dataflow, rows, cols, pe[PE_MAC_AREA] + pe_storage_area, glb[GLB_AREA_MM2])
        for layer in range(n_layers):
            N = layers[layer, 0]
            K = layers[layer, 1]
            C = layers[layer, 2]
            R = layers[layer, 3]
            S = layers[layer, 4]
            P = layers[layer, 5]
            Q = layers[layer, 6]
            groups = layers[layer, 11]
            filters_per_pe = np.nan
            channels_per_pe = np.nan
            if dataflow == RS:
                if spad_filter < S or spad_ifmap < S:
                    reason = INVALID_SPAD_TOO_SMALL
                    break
                if not reuse:
                    # the access counts of every candidate mapping depend on the hardware, not on the DRAM
                    # bandwidth and clock (the two fastest axes): computed once, reused for those points
                    pass_rows, strip_rows, largest = _rs_ifmap_rows(rows, cols, R, P, layers[layer, 7],
                                                                    layers[layer, 9], layers[layer, 10])
                    invariants = _rs_invariants(rows, cols, N, K, C, R, S, P, Q, groups, w_used[layer],
                                                real_row_pairs[layer], pass_rows, strip_rows, largest, a, w)
                    n_cand = 0
                    p_max = min(spad_psum, K // groups, spad_filter // S)
                    for cand_p in range(1, p_max + 1):
                        cand_q = _rs_max_channels(cand_p, S, C // groups, spad_ifmap, spad_filter)
                        if forced_p > 0:
                            if cand_p != forced_p or forced_q > cand_q:
                                continue
                            cand_q = forced_q
                        c = _rs_mapping_counts(invariants, glb_bits, a, w, p, groups, cand_p, cand_q)
                        for j in range(16):
                            rs_cache[layer, n_cand, j] = c[j]
                        rs_cache_pq[layer, n_cand, 0] = cand_p
                        rs_cache_pq[layer, n_cand, 1] = cand_q
                        n_cand += 1
                    rs_n_cand[layer] = n_cand
                if rs_n_cand[layer] == 0:  # a forced mapping the scratchpads cannot hold
                    reason = INVALID_SPAD_TOO_SMALL
                    break
                best = np.inf
                best_tie = np.inf  # energy breaks ties of the latency and DRAM objectives
                best_cand = 0
                for cand in range(rs_n_cand[layer]):
                    c = rs_cache[layer, cand]
                    spad_energy = (c[1] * (sp_f[SPAD_READ] + sp_i[SPAD_READ] + sp_p[SPAD_READ] + sp_p[SPAD_WRITE])
                                   + c[14] * sp_f[SPAD_WRITE] + c[15] * sp_i[SPAD_WRITE])
                    e = _layer_energy(c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[9], c[10],
                                      _rs_network_energy(c, a, w, p, rows, net, wire_pj_per_bit_mm), spad_energy,
                                      c[0], a, w, p, pe[PE_MAC_ENERGY], glb, dram_pj_per_bit, leak_uw,
                                      bytes_per_cycle, clock_mhz)
                    energy = e[1] + e[2] + e[3] + e[4] + e[5] + e[6]
                    if objective == OBJECTIVE_LATENCY:
                        score = e[0]
                    elif objective == OBJECTIVE_EDP:
                        score = e[0] * energy
                    elif objective == OBJECTIVE_DRAM:
                        score = e[7] + e[8]  # DRAM bits
                    else:
                        score = energy
                    if score < best or (score == best and energy < best_tie):
                        best, best_tie, best_cand = score, energy, cand
                c = rs_cache[layer, best_cand]
                filters_per_pe = rs_cache_pq[layer, best_cand, 0]
                channels_per_pe = rs_cache_pq[layer, best_cand, 1]
                (compute_cycles, macs, glb_act, glb_weight, glb_psum_reads, glb_psum_writes, glb_ofmap, dram_act,
                 dram_weight, dram_psum_reads, dram_ofmap) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8],
                                                              c[9], c[10])
                dram_psum_writes = dram_psum_reads
                noc_words = c[11] + c[12] + c[13]
                energy_noc = _rs_network_energy(c, a, w, p, rows, net, wire_pj_per_bit_mm)
                spad_energy = (macs * (sp_f[SPAD_READ] + sp_i[SPAD_READ] + sp_p[SPAD_READ] + sp_p[SPAD_WRITE])
                               + c[14] * sp_f[SPAD_WRITE] + c[15] * sp_i[SPAD_WRITE])
                spad_reads = 3 * macs
                spad_writes = macs + c[14] + c[15]
            else:
                (compute_cycles, macs, glb_act, glb_weight, glb_psum_reads, glb_psum_writes, glb_ofmap,
                 dram_act, dram_weight, dram_psum_reads, dram_psum_writes, dram_ofmap) = _systolic_layer(
                    dataflow, rows, cols, glb_bits, a, w, p, N, K, C, R, S, P, Q, layers[layer, 7],
                    layers[layer, 8], groups)
                noc_words = glb_act + glb_weight + glb_psum_reads + glb_psum_writes + glb_ofmap
                energy_noc = _systolic_network_energy(glb_act, glb_weight, glb_psum_reads, glb_psum_writes, glb_ofmap,
                                                      a, w, p, net, wire_pj_per_bit_mm)
                # a systolic PE loads, every MAC, the register of each operand that moves through it
                # (ws: the activation; os: activation and weight; is: the weight) and reads the
                # activation and weight registers by wire (no energy); the partial sum's register is the
                # MAC's own accumulator, in the MAC energy
                if dataflow == WS:
                    spad_energy = macs * pe[PE_REG_ACT_ENERGY]
                    spad_writes = macs
                elif dataflow == OS:
                    spad_energy = macs * (pe[PE_REG_ACT_ENERGY] + pe[PE_REG_WEIGHT_ENERGY])
                    spad_writes = 2 * macs
                else:
                    spad_energy = macs * pe[PE_REG_WEIGHT_ENERGY]
                    spad_writes = macs
                spad_reads = 2 * macs
            (cycles, energy_mac, energy_spad, energy_noc, energy_glb, energy_dram, energy_leak, dram_read_bits,
             dram_write_bits) = _layer_energy(
                macs, glb_act, glb_weight, glb_psum_reads, glb_psum_writes, glb_ofmap, dram_act, dram_weight,
                dram_psum_reads, dram_psum_writes, dram_ofmap, energy_noc, spad_energy, compute_cycles, a, w, p,
                pe[PE_MAC_ENERGY], glb, dram_pj_per_bit, leak_uw, bytes_per_cycle, clock_mhz)
            glb_reads = glb_act + glb_weight + glb_psum_reads + dram_psum_writes + dram_ofmap
            glb_writes = glb_psum_writes + glb_ofmap + dram_act + dram_weight + dram_psum_reads
            totals[out, TOTAL_CYCLES] += cycles
            totals[out, TOTAL_COMPUTE_CYCLES] += compute_cycles
            totals[out, TOTAL_STALL_CYCLES] += cycles - compute_cycles
            totals[out, TOTAL_MACS] += macs
            totals[out, TOTAL_ENERGY_MAC] += energy_mac
            totals[out, TOTAL_ENERGY_SPAD] += energy_spad
            totals[out, TOTAL_ENERGY_NOC] += energy_noc
            totals[out, TOTAL_ENERGY_GLB] += energy_glb
            totals[out, TOTAL_ENERGY_DRAM] += energy_dram
            totals[out, TOTAL_ENERGY_LEAK] += energy_leak
            totals[out, TOTAL_DRAM_READ_BYTES] += dram_read_bits / 8.0
            totals[out, TOTAL_DRAM_WRITE_BYTES] += dram_write_bits / 8.0
            totals[out, TOTAL_GLB_READS] += glb_reads
            totals[out, TOTAL_GLB_WRITES] += glb_writes
            totals[out, TOTAL_SPAD_READS] += spad_reads
            totals[out, TOTAL_SPAD_WRITES] += spad_writes
            totals[out, TOTAL_NOC_WORDS] += noc_words
            if want_per_layer:
                per_layer[out, layer, LAYER_CYCLES] = cycles
                per_layer[out, layer, LAYER_STALL_CYCLES] = cycles - compute_cycles
                per_layer[out, layer, LAYER_UTILIZATION] = macs / (cycles * n_pe)
                per_layer[out, layer, LAYER_ENERGY] = (energy_mac + energy_spad + energy_noc + energy_glb
                                                       + energy_dram + energy_leak)
                per_layer[out, layer, LAYER_DRAM_READ_BYTES] = dram_read_bits / 8.0
                per_layer[out, layer, LAYER_DRAM_WRITE_BYTES] = dram_write_bits / 8.0
                per_layer[out, layer, LAYER_GLB_READS] = glb_reads
                per_layer[out, layer, LAYER_GLB_WRITES] = glb_writes
                per_layer[out, layer, LAYER_RS_FILTERS_PER_PE] = filters_per_pe
                per_layer[out, layer, LAYER_RS_CHANNELS_PER_PE] = channels_per_pe
        if reason != VALID:
            _mark_invalid(totals, per_layer, out, reason, want_per_layer)
            continue
        if dataflow == RS:
            cached_key = key
        totals[out, TOTAL_AREA_MAC] = n_pe * pe[PE_MAC_AREA] * 1e-6
        totals[out, TOTAL_AREA_PE_STORAGE] = n_pe * pe_storage_area * 1e-6
        totals[out, TOTAL_AREA_GLB] = glb[GLB_AREA_MM2]
        totals[out, TOTAL_REASON] = VALID


@jit
def _mark_invalid(totals, per_layer, out, reason, want_per_layer):
    for column in range(N_TOTALS):
        totals[out, column] = np.nan
    totals[out, TOTAL_REASON] = reason
    if want_per_layer:
        per_layer[out, :, :] = np.nan
