"""Numba kernels: tiling, cycles, traffic and energy of design points x layers. numpy and numba only.

Every technology lookup is precomputed per unique axis value by the engine. The kernels count, for
each layer, the cycles and accesses of a mapping (the physics below), cost them with per-access
energies, and sum the layers into design points, each quantity once per combination of the axes it
depends on (:func:`evaluate_rows`, the driver): access counts per *group* (dataflow, array rows and
columns, buffer, operand widths, batch) and distinct layer shape, energies per hardware design,
cycles and leakage per DRAM bandwidth and clock; points that differ only in axes a result does not
read (a systolic design's scratchpads) are copies. Records (:data:`Layer`, :data:`Design`,
:data:`Counts`, :data:`Space`, :data:`Workload`, :data:`Settings`) name what is passed around. Outputs
are written into preallocated 2-D/3-D arrays whose columns are named by the ``TOTAL_*``/``LAYER_*``
constants (:mod:`quidam_fast.outputs` gives them names and units).

Systolic dataflows (SCALE-Sim's model; Samajdar et al., ISPASS 2020). A layer (per group) is the GEMM
of ``Sr = N P Q`` output pixels x ``T = (C/g) R S`` reduction x ``Sc = K/g`` filters:

======== ============= ============= =========== =================================================
dataflow array rows    array cols    streamed    compute cycles (SCALE-Sim, exact)
======== ============= ============= =========== =================================================
``ws``   T (weights)   Sc            Sr          ``folds (2 rows + cols + Sr - 2) - 1``
``os``   Sr (pixels)   Sc            T           ``folds (rows + cols + T - 2) - 1``
``is``   T (inputs)    Sr            Sc          ``folds (2 rows + cols + Sc - 2) - 1``
======== ============= ============= =========== =================================================

with ``folds = g ceil(dim_rows / rows) ceil(dim_cols / cols)``; ``N`` counts every image of the
batch. Global-buffer traffic counts operand words as the array consumes them (SCALE-Sim's SRAM reads),
whatever order the folds run in. DRAM traffic comes from the buffer-level mapper: the fold order and
what the buffer keeps for systolic arrays (:func:`_systolic_layer`), the loop order above the array,
tiles, residency and what the spare buffer pins for row stationary (:func:`_rs_buffer`); an operand
fetched again and again keeps (pins) as much of itself as the buffer spares, in every dataflow. Each
is chosen for the objective (:func:`_dram_word_prices`); only input words some output reads are
fetched.

Energy is accesses x energy per access. The array network is priced by the wire each transfer drives
(:func:`_network_mm`): the technology's energy per bit per mm of wire times the distance on this design,
from its floorplan (PE pitch from the PE's area, the array's sides from rows and columns, the buffer's
side from its area); a multicast or broadcast bus is charged once for the wire it drives, whatever
the number of PEs listening.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ._jit import borrowed, jit

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
def _pinned_reads(words, word_bits, sweeps, budget_bits):
    """DRAM reads of an operand of ``words`` words read ``sweeps`` times in the same order, through a
    buffer that keeps (pins) as many of its words as ``budget_bits`` hold: the first sweep reads every
    word, each later sweep only the words not pinned. Pinning is what a cyclic sweep larger than the
    buffer can reuse (LRU would miss every word); it makes traffic fall smoothly as the buffer grows
    instead of jumping where the whole operand stops fitting."""
    if sweeps <= 1:
        return words
    resident = min(words, max(budget_bits, 0) // word_bits)
    return words + (sweeps - 1) * (words - resident)


@jit
def _allocate(swept_words, swept_bits, sweeps, tile_words, last_tile_words, n_row, psum_bits, glb_bits, price_swept,
              price_psum):
    """Share the buffer between the swept operand and the partial sums (``ws``/``is``).

    The partial sums of a column fold (``tile_words``; the last fold's ``last_tile_words``) are
    written after every row fold but the last and read back by the next; the buffer keeps (pins) as
    many of them as it can spare and the rest go to DRAM and back. Two plans: partial sums first (the
    rest of the buffer pins the swept operand) and swept operand first (the rest pins partial sums).
    The plan with the lower price wins (``price_*``: the objective's cost of one DRAM word of that
    operand, partial sums one way; ties: partial sums first). Each plan's DRAM bits do not grow with
    the buffer (a partial-sum word pinned saves at least ``2 psum_bits`` per extra row fold, more than
    the at most ``psum_bits`` of swept operand it displaces costs), so the chosen plan's do not either
    when prices are bits (``test_more_buffer_never_adds_dram_traffic``).
    Returns ``(swept operand DRAM reads, partial-sum words spilled per direction)``.
    """
    n_col = sweeps
    psum_1 = min(tile_words, glb_bits // psum_bits) if n_row > 1 else 0
    swept_1 = _pinned_reads(swept_words, swept_bits, sweeps, glb_bits - psum_1 * psum_bits)
    spill_1 = _spilled(tile_words, last_tile_words, n_col, n_row, psum_1)
    swept_pinned = min(swept_words, glb_bits // swept_bits)
    psum_2 = min(tile_words, (glb_bits - swept_pinned * swept_bits) // psum_bits) if n_row > 1 else 0
    swept_2 = _pinned_reads(swept_words, swept_bits, sweeps, glb_bits)
    spill_2 = _spilled(tile_words, last_tile_words, n_col, n_row, psum_2)
    if swept_1 * price_swept + 2 * spill_1 * price_psum <= swept_2 * price_swept + 2 * spill_2 * price_psum:
        return swept_1, spill_1
    return swept_2, spill_2


@jit
def _spilled(tile_words, last_tile_words, n_col, n_row, pinned):
    """Partial-sum words moved to DRAM (each way) when ``pinned`` of a column fold's stay on chip."""
    if n_row <= 1:
        return 0
    return (n_row - 1) * ((n_col - 1) * max(tile_words - pinned, 0) + max(last_tile_words - pinned, 0))


@jit
def _columns_touched(q_lo, q_hi, stride, S, padding, W):
    """Distinct real input columns the windows of outputs ``q_lo <= q < q_hi`` read."""
    if q_hi <= q_lo:
        return 0
    return _rows_in(q_lo * stride - padding, q_hi - q_lo, stride, S, W)


@jit
def _pixel_range_touched(P, Q, R, S, H, W, stride, padding, first, last):
    """Distinct real input pixels (one channel, one image) read by raster-order outputs ``first`` to
    ``last - 1`` of an image: a partial first row, full rows, a partial last row, merged per input row."""
    p0, qa = first // Q, first % Q
    p1, qb = (last - 1) // Q, (last - 1) % Q + 1
    full = _columns_touched(0, Q, stride, S, padding, W)
    y_lo = max(p0 * stride - padding, 0)
    y_hi = min(p1 * stride - padding + R, H)
    total = 0
    for y in range(y_lo, y_hi):
        # output rows whose window covers input row y: p stride - padding <= y < p stride - padding + R
        lo = max(p0, _ceil_div(y + padding - R + 1, stride))
        hi = min(p1, (y + padding) // stride)
        if lo > hi:
            continue
        if p0 == p1:
            total += _columns_touched(qa, qb, stride, S, padding, W)
            continue
        middle = max(lo, p0 + 1) <= min(hi, p1 - 1)
        covers_first = lo == p0
        covers_last = hi == p1
        if middle or (covers_first and qa == 0) or (covers_last and qb == Q) or (covers_first and covers_last
                                                                                 and qb >= qa):
            total += full
        elif covers_first and covers_last:  # the partial first row's tail and the last row's head
            overlap = 0
            if stride <= S:  # both column spans are contiguous and may meet
                overlap = max(0, min((qb - 1) * stride - padding + S, W) - max(qa * stride - padding, 0))
            total += (_columns_touched(0, qb, stride, S, padding, W) + _columns_touched(qa, Q, stride, S, padding, W)
                      - overlap)
        elif covers_first:
            total += _columns_touched(qa, Q, stride, S, padding, W)
        else:
            total += _columns_touched(0, qb, stride, S, padding, W)
    return total


@jit
def _os_pixel_tiles_touched(N, P, Q, R, S, H, W, stride, padding, rows):
    """Input pixels (one channel) that ``os`` pixel folds of ``rows`` outputs read, summed over folds:
    a word two folds share (the halo of their windows) counts in both."""
    per_image = P * Q
    total = 0
    start = 0
    while start < N * per_image:
        stop = min(start + rows, N * per_image)
        position = start
        while position < stop:  # the part of the fold in each image
            image_end = (position // per_image + 1) * per_image
            part_end = min(stop, image_end)
            base = (position // per_image) * per_image
            total += _pixel_range_touched(P, Q, R, S, H, W, stride, padding, position - base, part_end - base)
            position = part_end
        start = stop
    return total


@jit
def _systolic_layer(dataflow, rows, cols, glb_bits, act_bits, weight_bits, psum_bits,
                    N, K, C, R, S, P, Q, groups, ifmap_touched, ifmap_fold_touched, price_act, price_weight, price_psum):
    """Cycles and word counts of one layer on a systolic array with a global buffer of ``glb_bits``.

    ``N`` counts every image of the batch; ``ifmap_touched`` is the input words of one group the layer
    reads (rows and columns some output reads, all images: padding and skipped pixels of a strided
    layer are never fetched), ``ifmap_fold_touched`` the same summed over ``os`` pixel folds (a word two
    folds' windows share counts in both: :func:`_os_pixel_tiles_touched`). ``price_*`` is the objective's cost of one DRAM word of each operand
    (``price_psum``: one word moved one way); it picks the buffer plan.

    Buffer model (per group; groups run one after another). Footprints in words: ifmap
    ``I = ifmap_touched``, filters ``F = Sc T``, outputs ``O = Sr Sc``. Folds keep SCALE-Sim's
    array-level schedule (so its compute cycles and buffer-side operand reads), and the buffer-level
    mapper chooses the order of the fold loops above the array and what the buffer keeps:

    * the operand swept by the inner fold loop is read from DRAM once per sweep, less the part of it
      the buffer pins beside the outer fold's tile and the on-chip partial sums (:func:`_pinned_reads`);
    * the outer fold's tile is read when the outer fold changes, and the part of it the buffer does
      not keep is read again by every inner fold (``os`` only: in ``ws``/``is`` it is the array's
      stationary operand, held in the PE registers, and read from DRAM once). ``os`` filter tiles are
      kept in part, as far as the buffer holds them; an ``os`` ifmap tile is kept whole (the tile as
      the array reads it, ``rows x T`` words, is reserved) or not at all;
    * partial sums of a reduction split over row folds stay on chip as far as the buffer holds them
      (the rest are written to DRAM by every row fold but the last and read back by the next); the
      buffer goes to the partial sums or to the swept operand first, whichever the objective prices
      lower (:func:`_allocate`);
    * ``os`` has no partial sums and takes the cheapest of four plans: filter folds outer, the buffer
      serving the filter tile or the swept ifmap first, or pixel folds outer, the ifmap tile kept or
      not; ``ws``/``is`` keep column folds outer, which
      keeps the partial-sum tile one column fold wide (row folds outer would need every output's
      partial sum on chip).

    Returns ``(compute_cycles, macs, glb_act_reads, glb_weight_reads, glb_psum_reads, glb_psum_writes,
    glb_ofmap_writes, dram_act_reads, dram_weight_reads, dram_psum_reads, dram_psum_writes,
    dram_ofmap_writes)`` (word counts).
    """
    Cg = C // groups
    Sr = N * P * Q
    Sc = K // groups
    T = Cg * R * S
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
        ifmap_tile_bits = min(rows, Sr) * T * act_bits
        # four plans, first of equal price wins. Filter folds outer (the ifmap swept n_col times): the
        # buffer keeps as much of a column fold's filter tile as it holds, the rest is fetched again by
        # every pixel fold, and pins the ifmap in what is left -- or pins the ifmap first and the
        # filter tile in what is left. Pixel folds outer (the filters swept n_row times): the pixel
        # fold's ifmap tile kept (where it fits) or fetched by every filter fold, the filters pinned in
        # the rest of the buffer.
        filter_tile = min(cols, Sc) * T
        last_filter_tile = (Sc - (n_col - 1) * cols) * T
        best = np.inf
        dram_act = 0
        dram_weight = 0
        for plan in range(4):
            if plan == 0:
                pinned = min(filter_tile, glb_bits // weight_bits)
                act = _pinned_reads(ifmap_touched, act_bits, n_col, glb_bits - pinned * weight_bits)
                weight = filter_words + _spilled(filter_tile, last_filter_tile, n_col, n_row, pinned)
            elif plan == 1:
                swept = min(ifmap_touched, glb_bits // act_bits)
                pinned = min(filter_tile, (glb_bits - swept * act_bits) // weight_bits)
                act = _pinned_reads(ifmap_touched, act_bits, n_col, glb_bits)
                weight = filter_words + _spilled(filter_tile, last_filter_tile, n_col, n_row, pinned)
            elif plan == 2:
                if ifmap_tile_bits > glb_bits:
                    continue
                act = ifmap_fold_touched
                weight = _pinned_reads(filter_words, weight_bits, n_row, glb_bits - ifmap_tile_bits)
            else:
                act = ifmap_fold_touched * n_col
                weight = _pinned_reads(filter_words, weight_bits, n_row, glb_bits)
            price = act * price_act + weight * price_weight
            if price < best:
                best, dram_act, dram_weight = price, act, weight
    elif dataflow == WS:
        n_row = _ceil_div(T, rows)
        n_col = _ceil_div(Sc, cols)
        per_fold = 2 * rows + cols + Sr - 2
        glb_act = Sr * T * n_col
        glb_weight = T * Sc
        glb_psum_writes = out_words * (n_row - 1)
        glb_psum_reads = out_words * (n_row - 1)
        dram_weight = filter_words
        dram_act, dram_psum = _allocate(ifmap_touched, act_bits, n_col, Sr * min(cols, Sc), Sr * (Sc - (n_col - 1) * cols),
                                        n_row, psum_bits, glb_bits, price_act, price_psum)
    else:  # IS
        n_row = _ceil_div(T, rows)
        n_col = _ceil_div(Sr, cols)
        per_fold = 2 * rows + cols + Sc - 2
        glb_act = T * Sr
        glb_weight = Sc * T * n_col
        glb_psum_writes = out_words * (n_row - 1)
        glb_psum_reads = out_words * (n_row - 1)
        dram_act = ifmap_touched
        dram_weight, dram_psum = _allocate(filter_words, weight_bits, n_col, min(cols, Sr) * Sc,
                                           (Sr - (n_col - 1) * cols) * Sc, n_row, psum_bits, glb_bits, price_weight,
                                           price_psum)
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
    """Distinct real input rows that row-stationary tiles touch (padding rows are zeros made in the PE).

    A PE set is ``h = min(R, rows)`` filter rows x ``e_t = min(P, cols)`` output rows; PE ``(r, e)``
    of strip ``s`` and fold ``f`` reads input row ``(s e_t + e) stride + f h + r - padding``. Returns
    the rows, for one image and one channel, of every kind of tile the buffer-level mapper can keep:
    ``(sum over strips and folds of a pass's rows, sum over strips of a whole strip's rows, the
    largest strip's rows, the largest pass's rows, the image's rows, sum over folds of the rows a fold
    reads in the whole image, the largest of those)``.
    """
    h = min(R, rows)
    e_t = min(P, cols)
    n_fold = _ceil_div(R, h)
    n_strip = _ceil_div(P, e_t)
    pass_rows = 0
    strip_rows = 0
    largest_strip = 0
    largest_pass = 0
    for strip in range(n_strip):
        e_s = min(e_t, P - strip * e_t)
        first = strip * e_t * stride - padding
        # the whole strip (all folds): rows first + e stride + r for r < R
        strip_count = _rows_in(first, e_s, stride, R, H)
        strip_rows += strip_count
        largest_strip = max(largest_strip, strip_count)
        for fold in range(n_fold):
            h_f = min(h, R - fold * h)
            count = _rows_in(first + fold * h, e_s, stride, h_f, H)
            pass_rows += count
            largest_pass = max(largest_pass, count)
    image_fold_rows = 0
    largest_image_fold = 0
    for fold in range(n_fold):
        count = _rows_in(fold * h - padding, P, stride, min(h, R - fold * h), H)
        image_fold_rows += count
        largest_image_fold = max(largest_image_fold, count)
    return (pass_rows, strip_rows, largest_strip, largest_pass, _rows_in(-padding, P, stride, R, H), image_fold_rows,
            largest_image_fold)


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
               real_row_pairs, ifmap_rows, p, q, price_act, price_weight, price_psum):
    """Accesses of one layer under a row-stationary mapping with ``p`` filters and ``q`` channels per PE.

    Array level (fixed): per group, a *pass* is one image, one strip of ``e_t`` output rows, one block
    of ``p t`` filters (``t`` replicated PE sets, one filter group each), one filter-row fold and one
    block of ``q`` channels. In a pass every PE runs 1-D convolutions: for each of ``Q`` outputs, ``q``
    channels, ``S`` taps and its filters (at most ``p``), one MAC per cycle, with its filter rows in
    the filter scratchpad (``p q S`` words), its ifmap row window in the ifmap scratchpad (``q S``)
    and ``p`` partial sums in the psum scratchpad. Filter rows are multicast along set rows, ifmap
    rows along diagonals (one buffer read each; a PE whose input row is padding gets nothing and
    multiplies zeros), partial sums flow up the set's columns and leave for the buffer after each
    pass, coming back for the next channel block or fold. ``W_used`` is the real input columns a row
    reads, ``real_row_pairs`` the (output row, filter row) pairs whose input row is real and
    ``ifmap_rows`` what :func:`_rs_ifmap_rows` returns.

    Buffer level (searched, :func:`_rs_buffer`): the order of the loops over image strips, filter
    blocks and accumulation steps, the tile the buffer keeps, which operands it keeps, and which one
    it pins in what the tiles leave.

    Returns ``(compute_cycles, macs, glb_act_reads, glb_weight_reads, glb_psum_reads, glb_psum_writes,
    glb_ofmap_writes, dram_act, dram_weight, dram_psum_each_way, dram_ofmap, noc_act, noc_weight,
    noc_psum, spad_filter_writes, spad_ifmap_writes, buffer plan)`` over all groups, and the PE sets ``t``.
    """
    invariants = _rs_invariants(rows, cols, N, K, C, R, S, P, Q, groups, W_used, real_row_pairs, ifmap_rows,
                                act_bits, weight_bits)
    return (_rs_mapping_counts(invariants, glb_bits, act_bits, weight_bits, psum_bits, groups, p, q, price_act,
                               price_weight, price_psum), invariants[4])


@jit
def _rs_invariants(rows, cols, N, K, C, R, S, P, Q, groups, W_used, real_row_pairs, ifmap_rows, act_bits,
                   weight_bits):
    """The parts of :func:`_rs_counts` that do not depend on the mapping (computed once per layer)."""
    pass_rows, strip_rows, largest_strip, largest_pass, image_rows, image_fold_rows, largest_image_fold = ifmap_rows
    Cg = C // groups
    Kg = K // groups
    h = min(R, rows)
    e_t = min(P, cols)
    n_fold = _ceil_div(R, h)
    n_strip = _ceil_div(P, e_t)
    sets = (rows // h) * (cols // e_t)
    filter_words = Kg * Cg * R * S
    out_words = N * Kg * P * Q
    column_words = N * Cg * W_used  # ifmap words of one input row, every channel and image
    return (Cg, Kg, e_t, n_fold, sets, filter_words, out_words,
            N * n_strip * n_fold * Q * S * Cg,             # cycles per filter of the busiest PE
            N * Kg * Cg * R * S * P * Q,                   # MACs
            N * n_strip * filter_words,                    # filter buffer reads
            column_words * pass_rows,                      # ifmap buffer reads per filter block
            N * P * filter_words,                          # filter deliveries
            column_words * real_row_pairs,                 # ifmap deliveries per set in use
            N * (R - n_fold) * P * Q * Kg,                 # psum hops per channel block
            Q, N, n_strip, h, R, S, P, W_used,
            # ifmap DRAM words of one sweep, by tile: (strip, image) x (one step, every step)
            column_words * pass_rows, column_words * strip_rows, column_words * image_fold_rows,
            column_words * image_rows,
            # rows of the largest tile of each kind (one image, one channel)
            largest_pass, largest_strip, largest_image_fold, image_rows)


# Buffer-level plans of the row-stationary mapper: (loop order, filters, ifmap, partial sums). Loops
# above the array: m = image strips, f = filter blocks, c = accumulation steps; the order code indexes
# _DEPTH (each loop's depth, 0 outermost). Filters: 0 one-step tile, 1 tile of every step, 2 bypass
# (fetched by each pass), 3 whole tensor kept; ifmap: 0 one-step tile, 1 tile of every step, 2 bypass;
# partial sums: 0 kept in the tile, 1 bypass (to DRAM and back between steps). Each plan also pins, in
# the buffer its tiles leave, words of the operand that saves most. The full space (6 orders x 4 x 3
# x 2, any filter blocks per tile, any operand pinned) holds no cheaper plan than these 17 (why:
# _rs_buffer's docstring; tests/test_loopnest.py checks it against the loop-nest simulator over the
# full space).
_DEPTH = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1], [0, 2, 1]], dtype=np.int64)  # (m f c), (f m c), (f c m), (m c f)
_PLANS = np.array([
    # (m f c), partial sums kept: filters one-step / bypass x ifmap one-step / every step / bypass (whole
    # filters beside kept partial sums cost no less than the bypassed ones pinned whole, or than (f m c)'s
    # tile of every step, which holds no more than the whole tensor: they are left out)
    [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 2, 0], [0, 2, 0, 0], [0, 2, 1, 0], [0, 2, 2, 0],
    # (f m c), partial sums kept: filters of every step (fetched once) x ifmap one-step / every step / bypass
    [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 2, 0],
    # partial sums bypass: (f c m) keeps a one-step filter tile once; (m c f) a one-step ifmap tile once
    # beside filters kept or bypassed; (m f c) an ifmap tile of every step once beside filters kept,
    # bypassed or whole (whole filters leave the pinning to the partial sums)
    [2, 0, 0, 1], [2, 0, 2, 1], [3, 0, 0, 1], [3, 2, 0, 1], [3, 2, 2, 1], [0, 0, 1, 1], [0, 2, 1, 1], [0, 3, 1, 1],
], dtype=np.int64)


@jit
def _rs_mapping_counts(invariants, glb_bits, act_bits, weight_bits, psum_bits, groups, p, q, price_act,
                       price_weight, price_psum, at_floor=False, tile_q=0):
    """The mapping-dependent part of :func:`_rs_counts` (called once per candidate mapping). Bounds:
    ``at_floor`` skips the buffer-level search and counts every touched input word and every filter
    word once, no partial sums (no plan moves less); ``tile_q > 0`` sizes the buffer's one-step tiles
    for ``tile_q`` channels instead of ``q`` (with ``tile_q = 1``: no fewer channels per PE moves fewer
    DRAM words, priced, than that -- more channel blocks never save any)."""
    (Cg, Kg, e_t, n_fold, sets, filter_words, out_words, cycles_per_filter, macs, glb_weight, act_per_block,
     noc_weight, act_per_set, hops_per_cblock, Q, N, n_strip, h, R, S, P, W_used, sweep_pass, sweep_strip,
     sweep_image_fold, sweep_image, largest_pass, largest_strip, largest_image_fold, image_rows) = invariants
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
    if at_floor:
        dram_act, dram_weight, dram_psum, plan = sweep_image, filter_words, 0, -1
    else:
        tile_channels = q
        if tile_q > 0:
            tile_channels = tile_q
        dram_act, dram_weight, dram_psum, plan = _rs_buffer(
            glb_bits, act_bits, weight_bits, psum_bits, N, n_strip, n_kblock, accumulations, min(p * sets, Kg), Kg,
            Cg, tile_channels, h, R, S, P, Q, e_t, W_used, filter_words, out_words, glb_act, glb_weight, glb_psum,
            sweep_pass, sweep_strip, sweep_image_fold, sweep_image, largest_pass, largest_strip, largest_image_fold,
            image_rows, price_act, price_weight, price_psum)
    return (groups * compute_cycles, groups * macs, groups * glb_act, groups * glb_weight, groups * glb_psum,
            groups * glb_psum, groups * out_words, groups * dram_act, groups * dram_weight, groups * dram_psum,
            groups * out_words, groups * noc_act, groups * noc_weight, groups * noc_psum,
            groups * noc_weight, groups * noc_act, plan)


@jit
def _rs_buffer(glb_bits, a, w, pb, N, n_strip, n_kblock, n_acc, block_filters, Kg, Cg, q, h, R, S, P, Q, e_t, W_used,
               filter_words, out_words, pass_act, pass_weight, pass_psum, sweep_pass, sweep_strip, sweep_image_fold,
               sweep_image, largest_pass, largest_strip, largest_image_fold, image_rows, price_act, price_weight,
               price_psum):
    """The buffer-level mapping of one row-stationary layer: DRAM words ``(act, weight, psum each way)``.

    Three loops run above the array: image strips (``m``: ``N`` images x ``n_strip`` strips), filter
    blocks (``f``: ``n_kblock`` blocks of ``block_filters``) and accumulation steps (``c``: ``n_acc``
    filter-row folds x channel blocks). The buffer keeps a tile of ``tm`` strips (one strip, one image
    or the whole batch) x ``tf`` filter blocks x one step. Each operand keeps its part of the tile, or
    the part of every step (the tile spans ``c``), or bypasses the buffer (fetched by every pass,
    ``pass_*``); the filters may also stay whole; and what the tiles leave of the buffer pins words
    of one operand.

    Traffic of a kept operand: its words per sweep (filters ``filter_words``; ifmap ``sweep_*``, only
    rows some output reads) times the trips of every loop it does not depend on (or spans) that runs
    outside the innermost loop it depends on (with more than one trip) -- the tile is fetched again
    each time that loop comes round. Partial sums stay on chip while the step loop runs innermost and
    otherwise bypass (``pass_psum`` each way).

    Pinning: what the tiles leave of the buffer keeps, for good, words of one operand, which are then
    fetched once: the operand whose pinned words save the most (:func:`_pinned_saving`), among those
    whose tiles share no words, so that each of its words is fetched equally often: the filters, the
    partial sums where they bypass (each leaves ``n_acc - 1`` times), the ifmap where its tiles (or,
    bypassed, its passes) share no input rows. Where tiles overlap (the rows of neighbouring strips'
    or folds' windows) the words in the overlap are fetched more often than the others, and choosing
    which to pin is left out. This is the systolic dataflows' pinning (:func:`_pinned_reads`) for the
    row-stationary plans; without it the buffer a tile leaves (up to one filter block's worth) is idle.

    The plans (:data:`_PLANS`): with partial sums kept the step loop must run innermost, so the order
    is (m f c) or (f m c); in (m f c) a filter tile of every step costs more and saves nothing over
    one step (filter words of different steps are disjoint); (f m c) differs from (m f c) only for a
    filter tile of every step (fetched once instead of once per strip tile; any other filter choice
    costs the same or more in (f m c), whose ifmap tiles come round once per filter tile). An ifmap
    tile of every step can save words over one step's (folds share input rows), so both are tried.
    Whole filters beside kept partial sums are left out: bypassed filters pinned whole move the same
    words with the same buffer, and (f m c)'s filter tile of every step is fetched once too and holds
    no more than the whole tensor. With partial sums bypassing, whole filters beside a one-step ifmap
    tile in (m c f) cost what a one-step filter tile costs in (f c m) (whole filters fitting, every
    filter block fits one tile), so that plan is left out. With partial sums bypassing, (f c m)
    fetches a filter tile once, (m c f) a one-step ifmap tile once and (m f c) an ifmap tile of every
    step once (beside whole filters too, which leave the pinning to the partial sums); the other
    orders add nothing. Each plan left out fetches every operand at least as often as a plan kept,
    from tiles at least as large, so pinning (which saves more the more often a word is fetched and
    the more buffer is left) does not bring it back; ``tests/test_loopnest.py`` checks the 17 against
    the simulator's whole space.

    Tiles: the largest number of filter blocks that fits moves the fewest words before pinning; a
    smaller tile leaves more buffer to pin. Each distinct number of filter-tile trips is tried with
    the smallest tile that gives it (it leaves the most buffer), from the largest tile down, until a
    bound on this and every smaller tile (each operand fetched at least as often as at this tile, the
    pinned one less what the most buffer any tile leaves could keep) is no cheaper than the best plan
    so far; the same bound at one filter-tile trip skips a plan before its tiles are sized (measured:
    1.17 tiles priced per plan sized, on ResNet-18 at 8 x 8 to 32 x 32 PEs and 32 to 256 KiB and
    AlexNet on Eyeriss's configuration, batch 1 and 4, every filter count). The plan with the lowest
    price (``price_*`` per DRAM word) wins; the first found wins ties. Also returns the plan taken,
    ``(pin x 3 + tm) x 17 + row of _PLANS`` (``pin``: 0 none, 1 filters, 2 ifmap, 3 partial sums).
    """
    best = np.inf
    best_act = pass_act
    best_weight = pass_weight
    best_psum = pass_psum
    best_plan = -1
    n_plans = _PLANS.shape[0]
    # no plan moves less than every touched input word and every filter word once: a plan that does
    # ends the search (measured: most plans of large buffers stop at the first tile tried)
    floor = sweep_image * price_act + filter_words * price_weight + 2.0 * 0 * price_psum
    # the most partial sums pinning can keep on chip, and what the rest move at the least
    least_psum = 2.0 * price_psum * (n_acc - 1) * max(out_words - glb_bits // pb, 0)
    for tm in range(2, -1, -1):  # the largest tile first: it is the one that reaches the floor
        if (tm == 1 and n_strip == 1) or (tm == 2 and N == 1):
            continue  # the same tile as the smaller one
        trips_m = N * n_strip if tm == 0 else (N if tm == 1 else 1)
        m_outputs = e_t * Q if tm == 0 else (P * Q if tm == 1 else N * P * Q)
        images = N if tm == 2 else 1
        sweep_one = sweep_pass if tm == 0 else sweep_image_fold
        sweep_every = sweep_strip if tm == 0 else sweep_image
        ifmap_one_bits = images * (largest_pass if tm == 0 else largest_image_fold) * W_used * q * a
        ifmap_every_bits = images * (largest_strip if tm == 0 else image_rows) * W_used * Cg * a
        if sweep_every * price_act + filter_words * price_weight >= best:
            continue  # no plan of this tile moves less than its ifmap sweep and the filters once
        for plan in range(n_plans):
            order = _PLANS[plan, 0]
            filter_mode = _PLANS[plan, 1]
            ifmap_mode = _PLANS[plan, 2]
            psum_mode = _PLANS[plan, 3]
            if n_acc == 1 and psum_mode == 1:
                continue  # nothing to accumulate: no partial sums to move
            # ifmap words per sweep; its tiles share no words when they equal the distinct words
            per_sweep = sweep_one if ifmap_mode == 0 else (sweep_every if ifmap_mode == 1 else sweep_pass)
            act_pinnable = per_sweep == sweep_image and sweep_image > 0
            # what this plan moves at the least, its tiles fetched once: no cheaper than the best so far,
            # it cannot win (a tie keeps the first found), so its tiles are not sized -- unless pinning
            # takes an operand fetched by every pass below that (a kept tile pinned still moves its
            # words once)
            least = ((per_sweep if ifmap_mode != 2 else pass_act) * price_act
                     + (pass_weight if filter_mode == 2 else filter_words) * price_weight
                     + (2.0 * pass_psum * price_psum if psum_mode == 1 else 0.0))
            passes_pin = filter_mode == 2 or (ifmap_mode == 2 and act_pinnable) or psum_mode == 1
            if least >= best and not passes_pin:
                continue
            dm = _DEPTH[order, 0]
            df = _DEPTH[order, 1]
            dc = _DEPTH[order, 2]
            fixed = 0
            if ifmap_mode == 0:
                fixed += ifmap_one_bits
            elif ifmap_mode == 1:
                fixed += ifmap_every_bits
            if filter_mode == 3:
                fixed += filter_words * w
            if fixed > glb_bits:
                continue
            per_filter = 0
            if filter_mode == 0:
                per_filter += q * h * S * w
            elif filter_mode == 1:
                per_filter += Cg * R * S * w
            if psum_mode == 0 and n_acc > 1:
                per_filter += m_outputs * pb
            # the most buffer any tile leaves (one filter block's); negative: no tile fits
            spare_most = glb_bits - fixed - per_filter * min(block_filters, Kg)
            if spare_most < 0:
                continue
            # the most words of each operand any tile leaves room to pin
            weight_room = _pinned_count(spare_most, filter_words, w) if filter_mode != 3 else 0
            act_room = _pinned_count(spare_most, sweep_image, a) if act_pinnable else 0
            psum_room = _pinned_count(spare_most, out_words, pb) if psum_mode == 1 else 0
            # the same bound with each operand fetched as often as the largest tile could (one trip of
            # the filter loop) and each one pinned in the most buffer any tile leaves: no tile is cheaper
            weight_sweeps = 1
            if filter_mode == 2:
                weight_sweeps = N * n_strip
            elif filter_mode != 3:
                weight_sweeps = _refetch(2 if filter_mode == 1 else 6, dm, df, dc, trips_m, 1, n_acc)
            act_sweeps = n_kblock
            if ifmap_mode != 2:
                act_sweeps = _refetch(1 if ifmap_mode == 1 else 5, dm, df, dc, trips_m, 1, n_acc)
            psum_again = n_acc - 1 if psum_mode == 1 else 0
            least = ((pass_act if ifmap_mode == 2 else per_sweep * act_sweeps) * price_act
                     + filter_words * weight_sweeps * price_weight
                     + (2.0 * pass_psum * price_psum if psum_mode == 1 else 0.0))
            if least - max(max((weight_sweeps - 1) * weight_room * price_weight,
                               (act_sweeps - 1) * act_room * price_act),
                           2.0 * psum_again * psum_room * price_psum) >= best:
                continue
            tf = _blocks_that_fit(glb_bits - fixed, per_filter, block_filters, Kg, n_kblock)
            while tf >= 1:
                trips_f = _ceil_div(n_kblock, tf)
                tf = _ceil_div(n_kblock, trips_f)  # the smallest tile with these trips leaves the most buffer
                # each operand's sweeps (every filter word is fetched weight_sweeps times; every ifmap
                # word act_sweeps times where its tiles share no words)
                if filter_mode == 2:
                    weight_sweeps = N * n_strip  # pass_weight: every pass of a filter block's words
                elif filter_mode == 3:
                    weight_sweeps = 1
                else:  # depends on f, and on c unless the tile spans every step
                    weight_sweeps = _refetch(2 if filter_mode == 1 else 6, dm, df, dc, trips_m, trips_f, n_acc)
                weight = filter_words * weight_sweeps
                if ifmap_mode == 2:
                    act_sweeps = n_kblock  # pass_act: every filter block's passes
                    act = pass_act
                elif ifmap_mode == 1:
                    act_sweeps = _refetch(1, dm, df, dc, trips_m, trips_f, n_acc)
                    act = sweep_every * act_sweeps
                else:
                    act_sweeps = _refetch(5, dm, df, dc, trips_m, trips_f, n_acc)
                    act = sweep_one * act_sweeps
                psum = pass_psum if psum_mode == 1 else 0
                weight_again = weight_sweeps - 1
                act_again = act_sweeps - 1 if act_pinnable else 0
                psum_again = n_acc - 1 if psum_mode == 1 else 0
                # no cheaper than the best so far, neither this tile nor a smaller one can win: each
                # operand is fetched at least as often; pinned, an operand moves at least its words once
                # plus, each further time, those the most buffer any tile leaves cannot keep
                unpinned = act * price_act + weight * price_weight + 2.0 * psum * price_psum
                bound = unpinned - max(max(weight_again * weight_room * price_weight, act_again * act_room * price_act),
                                       2.0 * psum_again * psum_room * price_psum)
                if bound >= best:
                    break
                # what pinning saves, with what this tile leaves, for each operand it could pin
                spare = glb_bits - fixed - per_filter * min(tf * block_filters, Kg)
                save_weight = _pinned_saving(spare, filter_words, w, weight_again)
                save_act = _pinned_saving(spare, sweep_image, a, act_again)
                save_psum = _pinned_saving(spare, out_words, pb, psum_again)
                pin = 0
                saved = 0.0
                if save_weight * price_weight > saved:
                    pin, saved = 1, save_weight * price_weight
                if save_act * price_act > saved:
                    pin, saved = 2, save_act * price_act
                if 2.0 * save_psum * price_psum > saved:
                    pin, saved = 3, 2.0 * save_psum * price_psum
                price = unpinned - saved
                if price < best:
                    best = price
                    best_act, best_weight, best_psum = act, weight, psum
                    if pin == 1:
                        best_weight -= save_weight
                    elif pin == 2:
                        best_act -= save_act
                    elif pin == 3:
                        best_psum -= save_psum
                    best_plan = (pin * 3 + tm) * n_plans + plan
                    if price <= floor:
                        return best_act, best_weight, best_psum, best_plan
                if per_filter == 0:
                    break  # a tile costing nothing per filter leaves the same buffer whatever its size
                tf -= 1
    return best_act, best_weight, best_psum, best_plan


@jit
def _pinned_count(spare_bits, words, word_bits):
    """Words of an operand ``spare_bits`` of buffer can keep."""
    if spare_bits >= words * word_bits:  # (skips a 64-bit division, the slowest step of the tile search)
        return words
    return max(spare_bits, 0) // word_bits


@jit
def _pinned_saving(spare_bits, words, word_bits, again):
    """DRAM words saved by keeping (pinning), in ``spare_bits`` of buffer, words of an operand each of whose
    ``words`` words a plan fetches ``1 + again`` times: a pinned word is fetched once."""
    if again <= 0:
        return 0
    return _pinned_count(spare_bits, words, word_bits) * again


@jit
def _refetch(depends, dm, df, dc, trips_m, trips_f, trips_c):
    """How many times a kept tile sweeps its operand: the product of the trips of the loops it does
    not depend on that run outside the innermost loop it depends on. ``depends``: bit 1 = m, 2 = f,
    4 = c; loops of one trip change nothing."""
    inner = -1
    if depends & 1 and trips_m > 1:
        inner = max(inner, dm)
    if depends & 2 and trips_f > 1:
        inner = max(inner, df)
    if depends & 4 and trips_c > 1:
        inner = max(inner, dc)
    factor = 1
    if not depends & 1 and dm < inner:
        factor *= trips_m
    if not depends & 2 and df < inner:
        factor *= trips_f
    if not depends & 4 and dc < inner:
        factor *= trips_c
    return factor


@jit
def _blocks_that_fit(free_bits, bits_per_filter, block_filters, Kg, n_kblock):
    """Filter blocks a tile can hold in ``free_bits`` (all of them when a tile costs nothing per filter)."""
    if bits_per_filter == 0:
        return n_kblock
    filters = free_bits // bits_per_filter
    if filters >= Kg:
        return n_kblock
    return filters // block_filters


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
# Costing a layer: per-access energies x counts
# --------------------------------------------------------------------------------------------------

OBJECTIVE_ENERGY, OBJECTIVE_LATENCY, OBJECTIVE_EDP, OBJECTIVE_DRAM = 0, 1, 2, 3

#: What one layer moves and does on one design, whatever the mapping family: the counts the energy
#: and cycle models take (word counts; ``noc_words``, ``spad_*`` as the totals of the same names count).
Counts = namedtuple("Counts", (
    "compute_cycles", "macs", "glb_act_reads", "glb_weight_reads", "glb_psum_reads", "glb_psum_writes",
    "glb_ofmap_writes", "dram_act_reads", "dram_weight_reads", "dram_psum_reads", "dram_psum_writes",
    "dram_ofmap_writes", "noc_words", "spad_reads", "spad_writes"))

#: What one layer costs on one design before the DRAM bandwidth and the clock are known (pJ, bits,
#: words): stored as the columns ``COST_*`` of a ``(layer, N_COST)`` table.
(COST_COMPUTE_CYCLES, COST_MACS, COST_ENERGY_MAC, COST_ENERGY_SPAD, COST_ENERGY_NOC, COST_ENERGY_GLB,
 COST_ENERGY_DRAM, COST_DRAM_READ_BITS, COST_DRAM_WRITE_BITS, COST_GLB_READS, COST_GLB_WRITES, COST_SPAD_READS,
 COST_SPAD_WRITES, COST_NOC_WORDS, COST_RS_FILTERS_PER_PE, COST_RS_CHANNELS_PER_PE) = range(16)
N_COST = 16


@jit
def _store_cost(cost, u, k, c, energy_noc, energy_spad, d, dram_pj_per_bit, filters_per_pe, channels_per_pe):
    """Write ``cost[u, k]``, a ``COST_*`` row (distinct layer ``u``, mapping ``k``): the energy parts of
    counts ``c`` (:data:`Counts`) on design ``d`` (:data:`Design`).

    The expressions and their order are those of the energy model (a buffer access per word it
    stores or serves, DRAM per bit moved): every design point of the same hardware reads this row,
    whatever its DRAM bandwidth and clock.
    """
    dram_read_bits = (c.dram_act_reads * d.act_bits + c.dram_weight_reads * d.weight_bits
                      + c.dram_psum_reads * d.psum_bits)
    dram_write_bits = c.dram_psum_writes * d.psum_bits + c.dram_ofmap_writes * d.act_bits
    cost[u, k, COST_COMPUTE_CYCLES] = c.compute_cycles
    cost[u, k, COST_MACS] = c.macs
    cost[u, k, COST_ENERGY_MAC] = c.macs * d.mac_energy_pj
    cost[u, k, COST_ENERGY_SPAD] = energy_spad
    cost[u, k, COST_ENERGY_NOC] = energy_noc
    cost[u, k, COST_ENERGY_GLB] = _glb_energy(c, d)
    cost[u, k, COST_ENERGY_DRAM] = (dram_read_bits + dram_write_bits) * dram_pj_per_bit
    cost[u, k, COST_DRAM_READ_BITS] = dram_read_bits
    cost[u, k, COST_DRAM_WRITE_BITS] = dram_write_bits
    # the buffer also serves DRAM write-backs and takes DRAM fills
    cost[u, k, COST_GLB_READS] = (c.glb_act_reads + c.glb_weight_reads + c.glb_psum_reads + c.dram_psum_writes
                                   + c.dram_ofmap_writes)
    cost[u, k, COST_GLB_WRITES] = (c.glb_psum_writes + c.glb_ofmap_writes + c.dram_act_reads + c.dram_weight_reads
                                    + c.dram_psum_reads)
    cost[u, k, COST_SPAD_READS] = c.spad_reads
    cost[u, k, COST_SPAD_WRITES] = c.spad_writes
    cost[u, k, COST_NOC_WORDS] = c.noc_words
    cost[u, k, COST_RS_FILTERS_PER_PE] = filters_per_pe
    cost[u, k, COST_RS_CHANNELS_PER_PE] = channels_per_pe


@jit
def _glb_energy(c, d):
    """Global-buffer energy (pJ) of counts ``c`` on design ``d``: written by DRAM fills and by the array,
    read by the array and by DRAM write-backs."""
    return (c.glb_act_reads * d.glb_read_act_pj + c.glb_weight_reads * d.glb_read_weight_pj
            + (c.glb_psum_reads + c.dram_psum_writes) * d.glb_read_psum_pj + c.dram_ofmap_writes * d.glb_read_act_pj
            + c.glb_psum_writes * d.glb_write_psum_pj + c.glb_ofmap_writes * d.glb_write_act_pj
            + c.dram_act_reads * d.glb_write_act_pj + c.dram_weight_reads * d.glb_write_weight_pj
            + c.dram_psum_reads * d.glb_write_psum_pj)


@jit
def _stalled_cycles(compute_cycles, dram_bits, bytes_per_cycle):
    """Cycles of a layer that moves ``dram_bits`` at ``bytes_per_cycle``: the longer of its compute
    and its DRAM transfer (double buffering overlaps the two)."""
    return max(float(compute_cycles), np.ceil(dram_bits / 8.0 / bytes_per_cycle))


@jit
def _dram_word_prices(objective, a, w, p, glb, dram_pj_per_bit):
    """What the buffer-level mapper minimizes, per DRAM word of each operand (partial sums: one way);
    ``glb`` is a row of the buffer's cost table (``GLB_*``).

    ``energy`` and ``edp``: the word's DRAM energy and the buffer access that goes with it (the fill,
    or for a partial sum half its write-back read and its fill); ``latency`` and ``dram``: its bits
    (compute cycles do not depend on the buffer-level mapping, and stalls fall with DRAM bits).
    """
    if objective == OBJECTIVE_ENERGY or objective == OBJECTIVE_EDP:
        return (a * dram_pj_per_bit + glb[GLB_WRITE_ACT], w * dram_pj_per_bit + glb[GLB_WRITE_WEIGHT],
                p * dram_pj_per_bit + 0.5 * (glb[GLB_READ_PSUM] + glb[GLB_WRITE_PSUM]))
    return float(a), float(w), float(p)


# --------------------------------------------------------------------------------------------------
# Records the driver passes around
# --------------------------------------------------------------------------------------------------

#: One layer's shape, ``N`` the images of the whole batch (``workloads.LAYER_COLUMNS`` otherwise).
Layer = namedtuple("Layer", ("N", "K", "C", "R", "S", "P", "Q", "H", "W", "stride", "padding", "groups"))

#: The space as the driver reads it: per axis, its values (``*_of``) and the stride of its position in
#: a flat design index (``strides``, in :data:`quidam_fast.space.AXES` order); the technology's costs
#: per unique axis value, by axis position: ``pe_table`` ``[pe_type, bits, PE_*]``, ``glb_table``
#: ``[glb_kib, pe_type, bits, GLB_*]`` and each scratchpad's ``[capacity, pe_type, bits, SPAD_*]``.
Space = namedtuple("Space", (
    "strides", "rows_of", "cols_of", "spad_ifmap_of", "spad_filter_of", "spad_psum_of", "glb_kib_of",
    "dataflow_of", "batch_of", "dram_gbps_of", "clock_mhz_of", "pe_table", "glb_table", "spad_ifmap_table",
    "spad_filter_table", "spad_psum_table"))

#: The network as the driver reads it: ``layers`` ``(n_layers, 12)`` in ``LAYER_COLUMNS`` order; per
#: layer the real input columns one output row reads (``w_used``) and rows some output reads
#: (``h_used``), the (output row, filter row) pairs on real input rows (``real_row_pairs``), and the
#: input pixels ``os`` pixel folds read (``fold_touched[layer, rows position, batch position]``); the
#: first layer of each distinct shape (``distinct``: everything above equal) and, per layer, the
#: position in ``distinct`` of its shape (``layer_of``): a network's repeated blocks are evaluated once.
Workload = namedtuple("Workload", ("layers", "w_used", "h_used", "real_row_pairs", "fold_touched", "distinct",
                                   "layer_of"))

#: What the user chose: the objective of the mapping searches (``OBJECTIVE_*``), a forced row-stationary
#: mapping (``forced_p, forced_q``; 0: search), the technology's wire and DRAM energies, and whether
#: per-layer results are wanted.
Settings = namedtuple("Settings", ("objective", "forced_p", "forced_q", "wire_pj_per_bit_mm", "dram_pj_per_bit",
                                   "want_per_layer"))

#: One hardware design (everything but the DRAM bandwidth and the clock) with its per-access costs, all
#: scalars (pJ per access or per MAC; ``net`` the wire lengths of :func:`_network_mm`; ``price_*`` the
#: DRAM word prices of :func:`_dram_word_prices`; ``leak_uw`` the whole design's leakage; areas of the
#: whole array and buffer). Scalars, not rows of the tables: reading an array out of a record in the
#: hot loops costs a reference count each time (measured: half the row-stationary search's time).
Design = namedtuple("Design", (
    "dataflow", "rows", "cols", "n_pe", "glb_bits", "act_bits", "weight_bits", "psum_bits", "spad_ifmap",
    "spad_filter", "spad_psum", "critical_ns", "mac_energy_pj", "reg_act_energy_pj", "reg_weight_energy_pj",
    "glb_read_act_pj", "glb_read_weight_pj", "glb_read_psum_pj", "glb_write_act_pj", "glb_write_weight_pj",
    "glb_write_psum_pj", "spad_ifmap_read_pj", "spad_ifmap_write_pj", "spad_filter_read_pj", "spad_filter_write_pj",
    "spad_psum_read_pj", "spad_psum_write_pj", "net", "price_act", "price_weight", "price_psum", "leak_uw",
    "area_mac_mm2", "area_pe_storage_mm2", "area_glb_mm2"))


@jit
def _layer_shape(layers, layer, batch):
    """Row ``layer`` of the layer table as a :data:`Layer`, its ``N`` times ``batch``."""
    row = layers[layer]
    return Layer(row[0] * batch, row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10],
                 row[11])


@jit
def _decode_design(space, settings, pe_i, bits_i, rows_i, cols_i, spad_ifmap_i, spad_filter_i, spad_psum_i, glb_i,
                   dataflow):
    """The :data:`Design` at these axis positions (its PE type and precision characterized)."""
    pe = space.pe_table[pe_i, bits_i]
    glb = space.glb_table[glb_i, pe_i, bits_i]
    sp_ifmap = space.spad_ifmap_table[spad_ifmap_i, pe_i, bits_i]
    sp_filter = space.spad_filter_table[spad_filter_i, pe_i, bits_i]
    sp_psum = space.spad_psum_table[spad_psum_i, pe_i, bits_i]
    a = np.int64(pe[PE_ACT_BITS])
    w = np.int64(pe[PE_WEIGHT_BITS])
    p = np.int64(pe[PE_PSUM_BITS])
    rows = space.rows_of[rows_i]
    cols = space.cols_of[cols_i]
    n_pe = rows * cols
    if dataflow == RS:  # scratchpads; systolic PEs hold an activation and a weight register
        pe_storage_area = sp_ifmap[SPAD_AREA] + sp_filter[SPAD_AREA] + sp_psum[SPAD_AREA]
        pe_leak = pe[PE_MAC_LEAK_UW] + sp_ifmap[SPAD_LEAK_UW] + sp_filter[SPAD_LEAK_UW] + sp_psum[SPAD_LEAK_UW]
    else:
        pe_storage_area = pe[PE_REG_AREA]
        pe_leak = pe[PE_MAC_LEAK_UW] + pe[PE_REG_LEAK_UW]
    price_act, price_weight, price_psum = _dram_word_prices(settings.objective, a, w, p, glb, settings.dram_pj_per_bit)
    return Design(dataflow, rows, cols, n_pe, space.glb_kib_of[glb_i] * 8192, a, w, p,
                  space.spad_ifmap_of[spad_ifmap_i], space.spad_filter_of[spad_filter_i],
                  space.spad_psum_of[spad_psum_i], pe[PE_CRITICAL_NS],
                  pe[PE_MAC_ENERGY], pe[PE_REG_ACT_ENERGY], pe[PE_REG_WEIGHT_ENERGY], glb[GLB_READ_ACT],
                  glb[GLB_READ_WEIGHT], glb[GLB_READ_PSUM], glb[GLB_WRITE_ACT], glb[GLB_WRITE_WEIGHT],
                  glb[GLB_WRITE_PSUM], sp_ifmap[SPAD_READ], sp_ifmap[SPAD_WRITE], sp_filter[SPAD_READ],
                  sp_filter[SPAD_WRITE], sp_psum[SPAD_READ], sp_psum[SPAD_WRITE],
                  _network_mm(dataflow, rows, cols, pe[PE_MAC_AREA] + pe_storage_area, glb[GLB_AREA_MM2]),
                  price_act, price_weight, price_psum, n_pe * pe_leak + glb[GLB_LEAK_MW] * 1e3,
                  n_pe * pe[PE_MAC_AREA] * 1e-6, n_pe * pe_storage_area * 1e-6, glb[GLB_AREA_MM2])


# --------------------------------------------------------------------------------------------------
# Systolic layers: counts once per group, costs once per design
# --------------------------------------------------------------------------------------------------


@jit
def _systolic_counts(d, shape, workload, layer, rows_i, batch_i):
    """:data:`Counts` of one layer on a systolic design ``d`` (:func:`_systolic_layer`; the PE loads,
    every MAC, the register of each operand that moves through it -- ws: the activation; os:
    activation and weight; is: the weight -- and reads both operand registers by wire)."""
    groups = shape.groups
    cg = shape.C // groups
    (compute_cycles, macs, glb_act, glb_weight, glb_psum_reads, glb_psum_writes, glb_ofmap, dram_act, dram_weight,
     dram_psum_reads, dram_psum_writes, dram_ofmap) = _systolic_layer(
        d.dataflow, d.rows, d.cols, d.glb_bits, d.act_bits, d.weight_bits, d.psum_bits, shape.N, shape.K, shape.C,
        shape.R, shape.S, shape.P, shape.Q, groups, shape.N * cg * workload.h_used[layer] * workload.w_used[layer],
        cg * workload.fold_touched[layer, rows_i, batch_i], d.price_act, d.price_weight, d.price_psum)
    registers_loaded = 2 if d.dataflow == OS else 1
    return Counts(compute_cycles, macs, glb_act, glb_weight, glb_psum_reads, glb_psum_writes, glb_ofmap, dram_act,
                  dram_weight, dram_psum_reads, dram_psum_writes, dram_ofmap,
                  glb_act + glb_weight + glb_psum_reads + glb_psum_writes + glb_ofmap, 2 * macs,
                  registers_loaded * macs)


@jit
def _cost_systolic(cost, layer, c, d, settings):
    """``cost[layer, 0]``, the ``COST_*`` row of distinct layer ``layer`` on systolic design ``d``, from its
    counts ``c``."""
    energy_noc = _systolic_network_energy(c.glb_act_reads, c.glb_weight_reads, c.glb_psum_reads, c.glb_psum_writes,
                                          c.glb_ofmap_writes, d.act_bits, d.weight_bits, d.psum_bits, d.net,
                                          settings.wire_pj_per_bit_mm)
    if d.dataflow == WS:
        energy_spad = c.macs * d.reg_act_energy_pj
    elif d.dataflow == OS:
        energy_spad = c.macs * (d.reg_act_energy_pj + d.reg_weight_energy_pj)
    else:
        energy_spad = c.macs * d.reg_weight_energy_pj
    _store_cost(cost, layer, 0, c, energy_noc, energy_spad, d, settings.dram_pj_per_bit, np.nan, np.nan)


# --------------------------------------------------------------------------------------------------
# Row-stationary layers: candidate mappings searched per design, their counts memoized per group
# --------------------------------------------------------------------------------------------------

# columns of the row-stationary candidate cache: the 17 counts of _rs_counts, then the candidate's dynamic
# energy (pJ), its DRAM bits, whether it never stalls (1.0) at the space's fewest DRAM bytes per cycle
# (RS_CALM), and its filters and channels per PE
RS_ENERGY, RS_BITS, RS_CALM, RS_FILTERS, RS_CHANNELS = 17, 18, 19, 20, 21
RS_COLUMNS = 22

#: Counts of row-stationary candidate mappings, shared by every design of a *group* (same rows,
#: columns, buffer, operand widths, batch; the scratchpads only bound which candidates exist and price
#: them): ``counts[layer, p, q]`` the 17 of :func:`_rs_mapping_counts`, ``floor[layer, p, q]`` the DRAM
#: words of its ``tile_q = 1`` bound; a ``*_group`` entry equal to the current group marks a value as
#: computed. ``enabled`` is False where the table would be too large (a space with huge scratchpads):
#: every count is then computed where it is needed. Layers are the workload's distinct layers.
RsMemo = namedtuple("RsMemo", ("counts", "counts_group", "floor", "floor_group", "enabled"))

#: Most entries (layers x filters x channels) the memo holds (17 int64 each: 36 MB at most).
RS_MEMO_ENTRIES = 1 << 18

#: Length of the tuple :func:`_rs_invariants` returns.
N_RS_INVARIANTS = 30


@jit
def _rs_memo(space, workload, forced_p, forced_q):
    """An empty :data:`RsMemo` for the largest filter and channel counts any design of the space may try."""
    layers = workload.layers
    n_distinct = workload.distinct.shape[0]
    most_filters = 1
    most_channels = 1
    spad_psum = space.spad_psum_of.max()
    spad_filter = space.spad_filter_of.max()
    spad_ifmap = space.spad_ifmap_of.max()
    for u in range(n_distinct):
        layer = workload.distinct[u]
        S = layers[layer, 4]
        groups = layers[layer, 11]
        most_filters = max(most_filters, min(spad_psum, layers[layer, 1] // groups, spad_filter // S))
        most_channels = max(most_channels, min(layers[layer, 2] // groups, spad_ifmap // S, spad_filter // S))
    if forced_p > 0:
        most_filters = min(most_filters, forced_p)
        most_channels = min(most_channels, forced_q)
    enabled = n_distinct * (most_filters + 1) * (most_channels + 1) <= RS_MEMO_ENTRIES
    if not enabled:
        most_filters = 0
        most_channels = 0
    shape = (n_distinct, most_filters + 1, most_channels + 1)
    return RsMemo(np.empty(shape + (17,), dtype=np.int64), np.full(shape, -1, dtype=np.int64),
                  np.empty(shape + (3,), dtype=np.int64), np.full(shape, -1, dtype=np.int64), enabled)


@jit(inline=True)
def _rs_memo_read(counts, u, p, q):
    """The 17 counts memoized for mapping ``(p, q)`` of distinct layer ``u`` (straight-line: numba
    then passes the array without reference counting)."""
    return (counts[u, p, q, 0], counts[u, p, q, 1], counts[u, p, q, 2], counts[u, p, q, 3], counts[u, p, q, 4],
            counts[u, p, q, 5], counts[u, p, q, 6], counts[u, p, q, 7], counts[u, p, q, 8], counts[u, p, q, 9],
            counts[u, p, q, 10], counts[u, p, q, 11], counts[u, p, q, 12], counts[u, p, q, 13], counts[u, p, q, 14],
            counts[u, p, q, 15], counts[u, p, q, 16])


@jit(inline=True)
def _rs_memo_write(counts, counts_group, u, p, q, c, group):
    for j in range(17):
        counts[u, p, q, j] = c[j]
    counts_group[u, p, q] = group


@jit
def _rs_invariants_row(table, u):
    """Row ``u`` of a table of :func:`_rs_invariants` tuples, as the tuple."""
    return (table[u, 0], table[u, 1], table[u, 2], table[u, 3], table[u, 4], table[u, 5], table[u, 6], table[u, 7],
            table[u, 8], table[u, 9], table[u, 10], table[u, 11], table[u, 12], table[u, 13], table[u, 14],
            table[u, 15], table[u, 16], table[u, 17], table[u, 18], table[u, 19], table[u, 20], table[u, 21],
            table[u, 22], table[u, 23], table[u, 24], table[u, 25], table[u, 26], table[u, 27], table[u, 28],
            table[u, 29])


@jit
def _rs_dynamic_energy(c, d, settings):
    """Dynamic energy (pJ: MACs, scratchpads, network, buffer, DRAM) and DRAM bits of a row-stationary
    candidate from its counts ``c`` (:func:`_rs_counts` order): what does not depend on the DRAM
    bandwidth and clock."""
    a, w, p = d.act_bits, d.weight_bits, d.psum_bits
    energy_spad = _rs_spad_energy(c, d)
    energy_noc = _rs_network_energy(c, a, w, p, d.rows, d.net, settings.wire_pj_per_bit_mm)
    dram_read_bits = c[7] * a + c[8] * w + c[9] * p
    dram_write_bits = c[9] * p + c[10] * a
    counts = _rs_as_counts(c)
    return (c[1] * d.mac_energy_pj + energy_spad + energy_noc + _glb_energy(counts, d)
            + (dram_read_bits + dram_write_bits) * settings.dram_pj_per_bit), dram_read_bits + dram_write_bits


@jit
def _rs_spad_energy(c, d):
    """Scratchpad energy (pJ) of a row-stationary candidate: every MAC reads a filter, an ifmap and a
    partial-sum word and writes the partial sum; deliveries write the filter and ifmap scratchpads."""
    return (c[1] * (d.spad_filter_read_pj + d.spad_ifmap_read_pj + d.spad_psum_read_pj + d.spad_psum_write_pj)
            + c[14] * d.spad_filter_write_pj + c[15] * d.spad_ifmap_write_pj)


@jit
def _rs_as_counts(c):
    """A row-stationary candidate's counts (:func:`_rs_counts` order) as :data:`Counts`: partial sums
    move to and from DRAM alike; the network carries deliveries and partial-sum hops; the
    scratchpads are read three times per MAC and written per MAC and per delivery."""
    return Counts(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[9], c[10], c[11] + c[12] + c[13],
                  3 * c[1], c[1] + c[14] + c[15])


@jit(inline=True)
def _rs_dominated(cache, u, first, stop, energy, bits):
    """Whether a cached candidate ``first <= k < stop`` of distinct layer ``u`` has no more dynamic energy
    than ``energy`` and no more DRAM bits than ``bits`` or no stall that counts (its ``RS_CALM``)."""
    for k in range(first, stop):
        if cache[u, k, RS_ENERGY] <= energy and (cache[u, k, RS_BITS] <= bits or cache[u, k, RS_CALM] > 0):
            return True
    return False


@jit
def _rs_search(cache, memo, group, u, invariants, shape, d, settings, least_bytes_per_cycle):
    """Fill ``cache[u]`` with the candidate mappings of distinct layer ``u`` on row-stationary design ``d``
    that some DRAM bandwidth and clock may choose; returns how many (0: the scratchpads hold none; -1:
    the cache is too small: call again with a larger one). ``invariants`` is :func:`_rs_invariants`'
    tuple for this layer and group.

    Fewer channels per PE cost at least as much everywhere but in DRAM (more channel blocks: more
    partial sums to and from the buffer; the same cycles) and can save DRAM words (smaller one-step
    tiles leave more buffer to tile and pin). Every q is tried, the most first, and kept unless a kept
    q of this p dominates it: no more dynamic energy, and no more DRAM bits or no stall at the space's
    fewest DRAM bytes per cycle (no objective at any point prefers it then; a tie keeps the first).
    The energy and EDP objectives do not weigh stalls here, as the buffer-level mapper prices a DRAM
    word by its energy (:func:`_dram_word_prices`): a smaller q is kept where it saves dynamic energy.
    A q's on-chip energy with DRAM at the floor bounds every smaller q's (more channel blocks cost
    more), so once it is no cheaper than a kept q that does not stall or moves the floor, the smaller
    q are not searched. Measured on ResNet-18, the default space's rs part: 20.0 candidates per layer
    (one per filter count) under the energy objective, 21.9 under the DRAM one; 1.23 buffer searches
    per filter count under energy and EDP, 2.14 under DRAM, 1.86 under latency (8- and 16-bit, 8 x 16
    to 64 x 128 PEs, 64 KiB to 2 MiB).
    """
    counts_memo, counts_group, floor_memo, floor_group, enabled = memo
    objective = settings.objective
    forced_p = settings.forced_p
    forced_q = settings.forced_q
    a, w, p = d.act_bits, d.weight_bits, d.psum_bits
    groups = shape.groups
    S = shape.S
    n_cand = 0
    p_max = min(d.spad_psum, shape.K // groups, d.spad_filter // S)
    for cand_p in range(1, p_max + 1):
        q_top = _rs_max_channels(cand_p, S, shape.C // groups, d.spad_ifmap, d.spad_filter)
        q_low = 1
        if forced_p > 0:
            if cand_p != forced_p or forced_q > q_top:
                continue
            q_top = forced_q
            q_low = forced_q
        first_of_p = n_cand
        bound_act = -1.0  # DRAM words no smaller q moves fewer of (priced), once computed
        bound_weight = 0.0
        bound_psum = 0.0
        for cand_q in range(q_top, q_low - 1, -1):
            if cand_q < q_top:
                # this q's on-chip counts with DRAM at the floor bound its energy and bits; where they
                # do not rule it out, DRAM words no smaller q moves fewer of (priced) tighten them: for
                # the DRAM and latency objectives (prices are bits) the bits, for energy and EDP
                # (prices are energy) the energy
                x = _rs_mapping_counts(invariants, d.glb_bits, a, w, p, groups, cand_p, cand_q, d.price_act,
                                       d.price_weight, d.price_psum, True)
                lb_energy, lb_bits = _rs_dynamic_energy(x, d, settings)
                pruned = _rs_dominated(cache, u, first_of_p, n_cand, lb_energy, lb_bits)
                if not pruned:
                    if bound_act < 0.0:
                        if enabled and floor_group[u, cand_p, q_top] == group:
                            bound_act = floor_memo[u, cand_p, q_top, 0]
                            bound_weight = floor_memo[u, cand_p, q_top, 1]
                            bound_psum = floor_memo[u, cand_p, q_top, 2]
                        else:
                            lb = _rs_mapping_counts(invariants, d.glb_bits, a, w, p, groups, cand_p, q_top, d.price_act,
                                                    d.price_weight, d.price_psum, False, 1)
                            bound_act, bound_weight, bound_psum = lb[7], lb[8], lb[9]
                            if enabled:
                                floor_memo[u, cand_p, q_top, 0] = lb[7]
                                floor_memo[u, cand_p, q_top, 1] = lb[8]
                                floor_memo[u, cand_p, q_top, 2] = lb[9]
                                floor_group[u, cand_p, q_top] = group
                    if objective == OBJECTIVE_ENERGY or objective == OBJECTIVE_EDP:
                        lb_energy += ((bound_act - x[7]) * d.price_act + (bound_weight - x[8]) * d.price_weight
                                      + 2.0 * bound_psum * d.price_psum)
                    else:
                        lb_bits = (bound_act + x[10]) * a + bound_weight * w + 2.0 * bound_psum * p
                    pruned = _rs_dominated(cache, u, first_of_p, n_cand, lb_energy, lb_bits)
                if pruned:
                    break
            if enabled and counts_group[u, cand_p, cand_q] == group:
                c = _rs_memo_read(counts_memo, u, cand_p, cand_q)
            else:
                c = _rs_mapping_counts(invariants, d.glb_bits, a, w, p, groups, cand_p, cand_q, d.price_act,
                                       d.price_weight, d.price_psum)
                if enabled:
                    _rs_memo_write(counts_memo, counts_group, u, cand_p, cand_q, c, group)
            energy, bits = _rs_dynamic_energy(c, d, settings)
            if _rs_dominated(cache, u, first_of_p, n_cand, energy, bits):
                continue
            if n_cand == cache.shape[1]:
                return -1
            _rs_keep(cache, u, n_cand, c, energy, bits, cand_p, cand_q, objective, least_bytes_per_cycle)
            n_cand += 1
            if c[7] <= groups * invariants[25] and c[8] <= groups * invariants[5] and c[9] == 0:
                break  # every word once: a smaller q moves no fewer and costs more on chip
    return n_cand


@jit(inline=True)
def _rs_keep(cache, u, k, c, energy, bits, cand_p, cand_q, objective, least_bytes_per_cycle):
    """Store candidate ``k`` of distinct layer ``u`` in ``cache``: its counts, energy, bits, calm flag and
    mapping."""
    for j in range(17):
        cache[u, k, j] = c[j]
    cache[u, k, RS_ENERGY] = energy
    cache[u, k, RS_BITS] = bits
    # never stalls (its DRAM transfer fits in its compute cycles at every point), or stalls do not
    # count (see _rs_search); the DRAM objective counts bits, not cycles
    calm = np.ceil(bits / 8.0 / least_bytes_per_cycle) <= c[0]
    cache[u, k, RS_CALM] = 1.0 if objective != OBJECTIVE_DRAM and (calm or objective != OBJECTIVE_LATENCY) else 0.0
    cache[u, k, RS_FILTERS] = cand_p
    cache[u, k, RS_CHANNELS] = cand_q


@jit
def _rs_cost(candidate_cost, cache, u, k, d, settings):
    """``candidate_cost[u, k]``: the ``COST_*`` row of candidate ``k`` of distinct layer ``u`` from its
    counts in ``cache``."""
    c = (np.int64(cache[u, k, 0]), np.int64(cache[u, k, 1]), np.int64(cache[u, k, 2]), np.int64(cache[u, k, 3]),
         np.int64(cache[u, k, 4]), np.int64(cache[u, k, 5]), np.int64(cache[u, k, 6]), np.int64(cache[u, k, 7]),
         np.int64(cache[u, k, 8]), np.int64(cache[u, k, 9]), np.int64(cache[u, k, 10]), np.int64(cache[u, k, 11]),
         np.int64(cache[u, k, 12]), np.int64(cache[u, k, 13]), np.int64(cache[u, k, 14]), np.int64(cache[u, k, 15]),
         np.int64(cache[u, k, 16]))
    _store_cost(candidate_cost, u, k, _rs_as_counts(c),
                _rs_network_energy(c, d.act_bits, d.weight_bits, d.psum_bits, d.rows, d.net,
                                   settings.wire_pj_per_bit_mm),
                _rs_spad_energy(c, d), d, settings.dram_pj_per_bit, cache[u, k, RS_FILTERS], cache[u, k, RS_CHANNELS])


@jit
def _rs_contenders(cache, u, n_cand, contenders):
    """Write to ``contenders[u]`` the candidates of distinct layer ``u`` that some DRAM bandwidth and
    clock may choose, in order; returns how many.

    A candidate with no less dynamic energy, no fewer compute cycles and no fewer DRAM bits than an
    earlier one is never chosen, at any bandwidth and clock, by any objective: its cycles (the longer
    of compute and transfer), its energy (dynamic plus leakage over those cycles), their product and
    its bits are each no smaller -- rounding preserves these orders, since every step is monotone in
    non-negative values -- and the earlier one wins a tie (:func:`_rs_choose`). Dropping it changes no
    choice (``tests/test_engine_equality.py`` checks the choices against engine v1, which keeps every
    candidate); the search's own pruning (:func:`_rs_search`) compares only the channel counts of one
    filter count, by dynamic energy.
    """
    n = 0
    for cand in range(n_cand):
        energy = cache[u, cand, RS_ENERGY]
        bits = cache[u, cand, RS_BITS]
        compute_cycles = cache[u, cand, 0]
        dominated = False
        for j in range(n):
            earlier = contenders[u, j]
            if (cache[u, earlier, RS_ENERGY] <= energy and cache[u, earlier, RS_BITS] <= bits
                    and cache[u, earlier, 0] <= compute_cycles):
                dominated = True
                break
        if not dominated:
            contenders[u, n] = cand
            n += 1
    return n


@jit
def _rs_choose(cache, u, contenders, n_contenders, objective, leak_uw, bytes_per_cycle, clock_mhz):
    """The candidate (row of ``cache[u]``, one of ``contenders[u, :n_contenders]``) the objective prefers
    at this DRAM bandwidth and clock; energy breaks ties of the latency and DRAM objectives, the first
    candidate ties of energy."""
    best = np.inf
    best_tie = np.inf
    best_cand = 0
    for j in range(n_contenders):
        cand = contenders[u, j]
        cycles = _stalled_cycles(cache[u, cand, 0], cache[u, cand, RS_BITS], bytes_per_cycle)
        energy = cache[u, cand, RS_ENERGY] + leak_uw * cycles / clock_mhz
        if objective == OBJECTIVE_LATENCY:
            score = cycles
        elif objective == OBJECTIVE_EDP:
            score = cycles * energy
        elif objective == OBJECTIVE_DRAM:
            score = cache[u, cand, RS_BITS]
        else:
            score = energy
        if score < best or (score == best and energy < best_tie):
            best, best_tie, best_cand = score, energy, cand
    return best_cand


# --------------------------------------------------------------------------------------------------
# Summing a design's layers into its points (one per DRAM bandwidth and clock)
# --------------------------------------------------------------------------------------------------


@jit
def _sum_costs(totals, out, cost, chosen, layer_of):
    """The totals that do not depend on the DRAM bandwidth and clock, into ``totals[out]``: the sum over
    the network's layers, in order, of ``cost[distinct layer, chosen[distinct layer]]``. The other
    totals are :func:`_sum_timing`'s (or :func:`_mark_invalid`'s)."""
    # summed in locals and stored once: ``totals`` is column-major, so each column of a point is its own
    # cache line, and the stores could alias ``cost`` (measured: 12 % of the row-stationary time before)
    compute_cycles = macs = energy_mac = energy_spad = energy_noc = energy_glb = energy_dram = 0.0
    dram_read_bytes = dram_write_bytes = glb_reads = glb_writes = spad_reads = spad_writes = noc_words = 0.0
    for layer in range(layer_of.shape[0]):
        u = layer_of[layer]
        k = chosen[u]
        compute_cycles += cost[u, k, COST_COMPUTE_CYCLES]
        macs += cost[u, k, COST_MACS]
        energy_mac += cost[u, k, COST_ENERGY_MAC]
        energy_spad += cost[u, k, COST_ENERGY_SPAD]
        energy_noc += cost[u, k, COST_ENERGY_NOC]
        energy_glb += cost[u, k, COST_ENERGY_GLB]
        energy_dram += cost[u, k, COST_ENERGY_DRAM]
        dram_read_bytes += cost[u, k, COST_DRAM_READ_BITS] / 8.0
        dram_write_bytes += cost[u, k, COST_DRAM_WRITE_BITS] / 8.0
        glb_reads += cost[u, k, COST_GLB_READS]
        glb_writes += cost[u, k, COST_GLB_WRITES]
        spad_reads += cost[u, k, COST_SPAD_READS]
        spad_writes += cost[u, k, COST_SPAD_WRITES]
        noc_words += cost[u, k, COST_NOC_WORDS]
    totals[out, TOTAL_COMPUTE_CYCLES] = compute_cycles
    totals[out, TOTAL_MACS] = macs
    totals[out, TOTAL_ENERGY_MAC] = energy_mac
    totals[out, TOTAL_ENERGY_SPAD] = energy_spad
    totals[out, TOTAL_ENERGY_NOC] = energy_noc
    totals[out, TOTAL_ENERGY_GLB] = energy_glb
    totals[out, TOTAL_ENERGY_DRAM] = energy_dram
    totals[out, TOTAL_DRAM_READ_BYTES] = dram_read_bytes
    totals[out, TOTAL_DRAM_WRITE_BYTES] = dram_write_bytes
    totals[out, TOTAL_GLB_READS] = glb_reads
    totals[out, TOTAL_GLB_WRITES] = glb_writes
    totals[out, TOTAL_SPAD_READS] = spad_reads
    totals[out, TOTAL_SPAD_WRITES] = spad_writes
    totals[out, TOTAL_NOC_WORDS] = noc_words


@jit
def _copy_costs(totals, source, out):
    """The DRAM bandwidth- and clock-independent totals of point ``source`` into point ``out``."""
    for column in (TOTAL_COMPUTE_CYCLES, TOTAL_MACS, TOTAL_ENERGY_MAC, TOTAL_ENERGY_SPAD, TOTAL_ENERGY_NOC,
                   TOTAL_ENERGY_GLB, TOTAL_ENERGY_DRAM, TOTAL_DRAM_READ_BYTES, TOTAL_DRAM_WRITE_BYTES, TOTAL_GLB_READS,
                   TOTAL_GLB_WRITES, TOTAL_SPAD_READS, TOTAL_SPAD_WRITES, TOTAL_NOC_WORDS):
        totals[out, column] = totals[source, column]


@jit
def _sum_timing(totals, per_layer, out, cost, chosen, layer_of, d, bytes_per_cycle, clock_mhz, want_per_layer):
    """Cycles (stalls included), stalls and leakage of point ``out`` at this DRAM bandwidth and clock
    (a layer takes the longer of its compute and its DRAM transfer: double buffering overlaps them),
    its areas and reason; and its per-layer results if wanted."""
    cycles_total = 0.0
    stall_total = 0.0
    leak_total = 0.0
    for layer in range(layer_of.shape[0]):
        u = layer_of[layer]
        k = chosen[u]
        compute_cycles = cost[u, k, COST_COMPUTE_CYCLES]
        read_bits = cost[u, k, COST_DRAM_READ_BITS]
        write_bits = cost[u, k, COST_DRAM_WRITE_BITS]
        cycles = _stalled_cycles(compute_cycles, read_bits + write_bits, bytes_per_cycle)
        energy_leak = d.leak_uw * cycles / clock_mhz
        cycles_total += cycles
        stall_total += cycles - compute_cycles
        leak_total += energy_leak
        if want_per_layer:
            per_layer[out, layer, LAYER_CYCLES] = cycles
            per_layer[out, layer, LAYER_STALL_CYCLES] = cycles - compute_cycles
            per_layer[out, layer, LAYER_UTILIZATION] = cost[u, k, COST_MACS] / (cycles * d.n_pe)
            per_layer[out, layer, LAYER_ENERGY] = (cost[u, k, COST_ENERGY_MAC] + cost[u, k, COST_ENERGY_SPAD]
                                                   + cost[u, k, COST_ENERGY_NOC] + cost[u, k, COST_ENERGY_GLB]
                                                   + cost[u, k, COST_ENERGY_DRAM] + energy_leak)
            per_layer[out, layer, LAYER_DRAM_READ_BYTES] = read_bits / 8.0
            per_layer[out, layer, LAYER_DRAM_WRITE_BYTES] = write_bits / 8.0
            per_layer[out, layer, LAYER_GLB_READS] = cost[u, k, COST_GLB_READS]
            per_layer[out, layer, LAYER_GLB_WRITES] = cost[u, k, COST_GLB_WRITES]
            per_layer[out, layer, LAYER_RS_FILTERS_PER_PE] = cost[u, k, COST_RS_FILTERS_PER_PE]
            per_layer[out, layer, LAYER_RS_CHANNELS_PER_PE] = cost[u, k, COST_RS_CHANNELS_PER_PE]
    totals[out, TOTAL_CYCLES] = cycles_total
    totals[out, TOTAL_STALL_CYCLES] = stall_total
    totals[out, TOTAL_ENERGY_LEAK] = leak_total
    totals[out, TOTAL_AREA_MAC] = d.area_mac_mm2
    totals[out, TOTAL_AREA_PE_STORAGE] = d.area_pe_storage_mm2
    totals[out, TOTAL_AREA_GLB] = d.area_glb_mm2
    totals[out, TOTAL_REASON] = VALID


@jit
def _mark_invalid(totals, per_layer, out, reason, want_per_layer):
    for column in range(N_TOTALS):
        totals[out, column] = np.nan
    totals[out, TOTAL_REASON] = reason
    if want_per_layer:
        for layer in range(per_layer.shape[1]):
            for column in range(N_LAYER_RESULTS):
                per_layer[out, layer, column] = np.nan


@jit
def _copy_point(totals, per_layer, source, out, want_per_layer):
    """A point whose results equal another's (a systolic design's scratchpads change nothing)."""
    for column in range(N_TOTALS):
        totals[out, column] = totals[source, column]
    if want_per_layer:
        for layer in range(per_layer.shape[1]):
            for column in range(N_LAYER_RESULTS):
                per_layer[out, layer, column] = per_layer[source, layer, column]


@jit
def _clock_valid(critical_ns, clock_mhz):
    """Whether a PE's critical path (NaN: not timed) fits in a clock period."""
    return not (critical_ns == critical_ns and clock_mhz * critical_ns > 1000.0)


# --------------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------------


#: A row-stationary design's working arrays, per distinct layer: the kept candidates (``cache``,
#: ``RS_COLUMNS``), the contenders among them (``contenders``, ``n_contenders``) and their ``COST_*``
#: rows (``candidate_cost``), and the candidate each point chooses (``chosen``).
RsWork = namedtuple("RsWork", ("cache", "candidate_cost", "contenders", "n_contenders", "chosen"))


@jit
def _rs_work(space, workload):
    """Empty :data:`RsWork`: at least one candidate per filter count, at most min(spad_psum, K / groups);
    a layer may keep more (several channel counts of one filter count): :func:`_rs_grown` then."""
    layers = workload.layers
    distinct = workload.distinct
    n_distinct = distinct.shape[0]
    largest_filter_count = 1
    for u in range(n_distinct):
        largest_filter_count = max(largest_filter_count, layers[distinct[u], 1] // layers[distinct[u], 11])
    capacity = max(1, min(space.spad_psum_of.max(), largest_filter_count))
    return RsWork(np.empty((n_distinct, capacity, RS_COLUMNS)), np.empty((n_distinct, capacity, N_COST)),
                  np.empty((n_distinct, capacity), dtype=np.int64), np.zeros(n_distinct, dtype=np.int64),
                  np.zeros(n_distinct, dtype=np.int64))


@jit
def _rs_grown(work):
    """``work`` with room for twice the candidates per layer, what it holds kept."""
    n_distinct, capacity = work.contenders.shape
    cache = np.empty((n_distinct, 2 * capacity, RS_COLUMNS))
    candidate_cost = np.empty((n_distinct, 2 * capacity, N_COST))
    contenders = np.empty((n_distinct, 2 * capacity), dtype=np.int64)
    # element loops, not slice assignments: numba compiles those 3-D slice copies slowly (seconds)
    for u in range(n_distinct):
        for k in range(capacity):
            for j in range(RS_COLUMNS):
                cache[u, k, j] = work.cache[u, k, j]
            for j in range(N_COST):
                candidate_cost[u, k, j] = work.candidate_cost[u, k, j]
            contenders[u, k] = work.contenders[u, k]
    return RsWork(cache, candidate_cost, contenders, work.n_contenders, work.chosen)


@jit
def _systolic_design(totals, per_layer, space, workload, settings, d, corner, counts, cost, only_row, rows_i, batch_i,
                     count_now):
    """Every point of systolic hardware design ``d``.

    Parameters
    ----------
    totals, per_layer
        The outputs, by flat design index (``per_layer`` only if ``settings.want_per_layer``).
    space, workload, settings
        :data:`Space`, :data:`Workload`, :data:`Settings`.
    d
        The :data:`Design` (its scratchpad positions 0: the others are copies of its points).
    corner
        Flat index of its point at the first scratchpads, DRAM bandwidth and clock.
    counts
        ``(distinct layer, 15)`` int64: the group's :data:`Counts`, computed here if ``count_now``
        (the group's first PE type), otherwise read.
    cost
        ``(distinct layer, 1, N_COST)`` scratch: the design's ``COST_*`` rows.
    only_row
        Zeros, one per distinct layer: the row of ``cost`` each layer uses (:func:`_sum_costs`).
    rows_i, batch_i
        Positions of the array rows and batch (tables of ``workload`` are indexed by them).
    """
    strides = space.strides
    layers = workload.layers
    distinct = workload.distinct
    want_per_layer = settings.want_per_layer
    n_bandwidths = space.dram_gbps_of.shape[0]
    n_clocks = space.clock_mhz_of.shape[0]
    batch = space.batch_of[batch_i]
    for u in range(distinct.shape[0]):
        if count_now:
            c = _systolic_counts(d, _layer_shape(layers, distinct[u], batch), workload, distinct[u], rows_i, batch_i)
            for j in range(15):
                counts[u, j] = c[j]
        _cost_systolic(cost, u, Counts(counts[u, 0], counts[u, 1], counts[u, 2], counts[u, 3], counts[u, 4],
                                       counts[u, 5], counts[u, 6], counts[u, 7], counts[u, 8], counts[u, 9],
                                       counts[u, 10], counts[u, 11], counts[u, 12], counts[u, 13], counts[u, 14]),
                       d, settings)
    _sum_costs(totals, corner, cost, only_row, workload.layer_of)
    for bw_i in range(n_bandwidths):
        for clock_i in range(n_clocks):
            out = corner + bw_i * strides[10] + clock_i * strides[11]
            clock_mhz = space.clock_mhz_of[clock_i]
            if not _clock_valid(d.critical_ns, clock_mhz):
                continue  # marked below, once the sums are copied
            if out != corner:
                _copy_costs(totals, corner, out)
            _sum_timing(totals, per_layer, out, cost, only_row, workload.layer_of, d,
                        space.dram_gbps_of[bw_i] * 1e3 / clock_mhz, clock_mhz, want_per_layer)
    for bw_i in range(n_bandwidths):
        for clock_i in range(n_clocks):
            if not _clock_valid(d.critical_ns, space.clock_mhz_of[clock_i]):
                _mark_invalid(totals, per_layer, corner + bw_i * strides[10] + clock_i * strides[11], INVALID_CLOCK,
                              want_per_layer)
    # the scratchpads are not used: their other positions copy the first
    for si in range(space.spad_ifmap_of.shape[0]):
        for sf in range(space.spad_filter_of.shape[0]):
            for sp in range(space.spad_psum_of.shape[0]):
                offset = si * strides[4] + sf * strides[5] + sp * strides[6]
                if offset == 0:
                    continue
                for bw_i in range(n_bandwidths):
                    for clock_i in range(n_clocks):
                        source = corner + bw_i * strides[10] + clock_i * strides[11]
                        _copy_point(totals, per_layer, source, source + offset, want_per_layer)


@jit
def _rs_group_invariants(invariants, d, workload, batch):
    """Row ``u`` of ``invariants``: :func:`_rs_invariants` of distinct layer ``u`` on the group of ``d``."""
    layers = workload.layers
    distinct = workload.distinct
    for u in range(distinct.shape[0]):
        layer = distinct[u]
        shape = _layer_shape(layers, layer, batch)
        inv = _rs_invariants(d.rows, d.cols, shape.N, shape.K, shape.C, shape.R, shape.S, shape.P, shape.Q,
                             shape.groups, workload.w_used[layer], workload.real_row_pairs[layer],
                             _rs_ifmap_rows(d.rows, d.cols, shape.R, shape.P, shape.H, shape.stride, shape.padding),
                             d.act_bits, d.weight_bits)
        for j in range(N_RS_INVARIANTS):
            invariants[u, j] = inv[j]


@jit
def _rs_design(work, memo, group, invariants, workload, settings, d, batch, least_bytes_per_cycle):
    """Search every distinct layer of row-stationary hardware design ``d`` and cost its contenders.

    Parameters
    ----------
    work
        :data:`RsWork`, filled for ``d``.
    memo, group
        The group's :data:`RsMemo` and its number.
    invariants
        ``(distinct layer, N_RS_INVARIANTS)``: :func:`_rs_group_invariants` of the group.
    workload, settings
        :data:`Workload`, :data:`Settings`.
    d
        The :data:`Design`.
    batch
        Images per batch.
    least_bytes_per_cycle
        The space's fewest DRAM bytes per cycle (a mapping that does not stall there stalls nowhere).

    Returns
    -------
    tuple
        ``(reason, work)``: ``VALID`` or ``INVALID_SPAD_TOO_SMALL`` (a scratchpad cannot hold a layer's
        filter row or ifmap window, or the forced mapping), and ``work`` (a larger one if it grew).
    """
    layers = workload.layers
    layer_of = workload.layer_of
    distinct = workload.distinct
    for layer in range(layer_of.shape[0]):  # in network order
        if layers[layer, 4] > d.spad_filter or layers[layer, 4] > d.spad_ifmap:
            return INVALID_SPAD_TOO_SMALL, work
        u = layer_of[layer]
        if distinct[u] != layer:
            continue  # searched at its first occurrence
        shape = _layer_shape(layers, layer, batch)
        found = _rs_search(work.cache, memo, group, u, _rs_invariants_row(invariants, u), shape, d, settings,
                           least_bytes_per_cycle)
        while found < 0:  # the cache is full: double it, search again
            work = _rs_grown(work)
            found = _rs_search(work.cache, memo, group, u, _rs_invariants_row(invariants, u), shape, d, settings,
                               least_bytes_per_cycle)
        if found == 0:  # a forced mapping the scratchpads cannot hold
            return INVALID_SPAD_TOO_SMALL, work
        n = _rs_contenders(work.cache, u, found, work.contenders)
        work.n_contenders[u] = n
        for j in range(n):  # only contenders are ever costed
            _rs_cost(work.candidate_cost, work.cache, u, work.contenders[u, j], d, settings)
    return VALID, work


@jit
def _rs_points(totals, per_layer, space, workload, settings, d, base, reason, work):
    """Every point of row-stationary hardware design ``d`` (flat index ``base`` at the first DRAM
    bandwidth and clock): each chooses its candidate per layer (:func:`_rs_choose`) and sums them."""
    strides = space.strides
    want_per_layer = settings.want_per_layer
    summed = -1  # the last point whose bandwidth- and clock-independent totals were summed
    for bw_i in range(space.dram_gbps_of.shape[0]):
        for clock_i in range(space.clock_mhz_of.shape[0]):
            out = base + bw_i * strides[10] + clock_i * strides[11]
            clock_mhz = space.clock_mhz_of[clock_i]
            if not _clock_valid(d.critical_ns, clock_mhz):
                _mark_invalid(totals, per_layer, out, INVALID_CLOCK, want_per_layer)
                continue
            if reason != VALID:
                _mark_invalid(totals, per_layer, out, reason, want_per_layer)
                continue
            bytes_per_cycle = space.dram_gbps_of[bw_i] * 1e3 / clock_mhz
            same = summed >= 0
            for u in range(workload.distinct.shape[0]):
                chosen = _rs_choose(work.cache, u, work.contenders, work.n_contenders[u], settings.objective,
                                    d.leak_uw, bytes_per_cycle, clock_mhz)
                same = same and chosen == work.chosen[u]
                work.chosen[u] = chosen
            if same:  # every layer chose what the last point summed: the same sums
                _copy_costs(totals, summed, out)
            else:
                _sum_costs(totals, out, work.candidate_cost, work.chosen, workload.layer_of)
                summed = out
            _sum_timing(totals, per_layer, out, work.candidate_cost, work.chosen, workload.layer_of, d,
                        bytes_per_cycle, clock_mhz, want_per_layer)


@jit
def evaluate_rows(space, workload, settings, members, rows_i, totals, per_layer):
    """Evaluate every design point at array-rows position ``rows_i`` whose PE type and precision are one
    of ``members``.

    The factorization: a layer's counts depend on the dataflow, rows, columns, buffer, operand widths
    and batch (and the objective, which prices DRAM words by widths and buffer energies): a *group*.
    Layers of the same shape are evaluated once (``workload.distinct``). Systolic counts are computed
    once per group and distinct layer and costed once per PE type (:func:`_systolic_design`); their
    scratchpad axes change nothing, so those points are copies. Row-stationary candidates are
    searched per design (the scratchpads bound and price them; :func:`_rs_design`), their counts
    memoized per group (:data:`RsMemo`). The totals that depend on the DRAM bandwidth and clock
    (cycles, stalls, leakage) are summed per point; the others once per design, or per chosen
    row-stationary mapping (:func:`_rs_points`).

    Parameters
    ----------
    space, workload, settings
        :data:`Space`, :data:`Workload`, :data:`Settings`.
    members
        ``(m, 2)`` int64: ``(pe_type position, bits position)`` of PE types and precisions that are
        characterized and share operand widths and buffer costs per word (a *width class*).
    rows_i
        Position of the array-rows value.
    totals
        ``(points, N_TOTALS)``: written at each point's flat index.
    per_layer
        ``(points, layers, N_LAYER_RESULTS)``, written if ``settings.want_per_layer``.
    """
    n_distinct = workload.distinct.shape[0]
    counts = np.empty((n_distinct, 15), dtype=np.int64)  # one group's systolic Counts, per distinct layer
    cost = np.empty((n_distinct, 1, N_COST))  # a systolic design's COST_* rows
    only_row = np.zeros(n_distinct, dtype=np.int64)  # the row of cost each distinct layer uses: its only one
    memo = _rs_memo(space, workload, settings.forced_p, settings.forced_q)
    invariants = np.empty((n_distinct, N_RS_INVARIANTS), dtype=np.int64)
    work = _rs_work(space, workload)
    # The driver below sees every array as a borrowed view (:func:`quidam_fast._jit.borrowed`): passing
    # an array to a function otherwise increments and decrements its reference count atomically, which
    # took 30 % of the row-stationary time (perf). The owners -- the caller's arrays and these -- are
    # passed along too, so that they live until the driver returns.
    owners = (counts, cost, only_row, memo, invariants, work)
    _evaluate_rows(_borrowed_space(space), _borrowed_workload(workload), settings, borrowed(members), rows_i,
                   borrowed(totals), borrowed(per_layer), borrowed(counts), borrowed(cost), borrowed(only_row),
                   RsMemo(borrowed(memo.counts), borrowed(memo.counts_group), borrowed(memo.floor),
                          borrowed(memo.floor_group), memo.enabled),
                   borrowed(invariants), _borrowed_work(work), owners)


@jit
def _borrowed_space(space):
    """:data:`Space` of borrowed views."""
    return Space(borrowed(space.strides), borrowed(space.rows_of), borrowed(space.cols_of),
                 borrowed(space.spad_ifmap_of), borrowed(space.spad_filter_of), borrowed(space.spad_psum_of),
                 borrowed(space.glb_kib_of), borrowed(space.dataflow_of), borrowed(space.batch_of),
                 borrowed(space.dram_gbps_of), borrowed(space.clock_mhz_of), borrowed(space.pe_table),
                 borrowed(space.glb_table), borrowed(space.spad_ifmap_table), borrowed(space.spad_filter_table),
                 borrowed(space.spad_psum_table))


@jit
def _borrowed_workload(workload):
    """:data:`Workload` of borrowed views."""
    return Workload(borrowed(workload.layers), borrowed(workload.w_used), borrowed(workload.h_used),
                    borrowed(workload.real_row_pairs), borrowed(workload.fold_touched), borrowed(workload.distinct),
                    borrowed(workload.layer_of))


@jit
def _borrowed_work(work):
    """:data:`RsWork` of borrowed views."""
    return RsWork(borrowed(work.cache), borrowed(work.candidate_cost), borrowed(work.contenders),
                  borrowed(work.n_contenders), borrowed(work.chosen))


@jit
def _evaluate_rows(space, workload, settings, members, rows_i, totals, per_layer, counts, cost, only_row, memo,
                   invariants, work, owners):
    """:func:`evaluate_rows`' loops, on borrowed views (``owners`` keeps the arrays alive; ``grown`` the
    candidate tables once they grow, to the end)."""
    grown = work
    strides = space.strides
    least_bytes_per_cycle = space.dram_gbps_of.min() * 1e3 / space.clock_mhz_of.max()
    group = 0
    for cols_i in range(space.cols_of.shape[0]):
        for glb_i in range(space.glb_kib_of.shape[0]):
            for batch_i in range(space.batch_of.shape[0]):
                batch = space.batch_of[batch_i]
                for dataflow_i in range(space.dataflow_of.shape[0]):
                    dataflow = space.dataflow_of[dataflow_i]
                    group += 1
                    for member in range(members.shape[0]):
                        pe_i = members[member, 0]
                        bits_i = members[member, 1]
                        corner = (pe_i * strides[0] + bits_i * strides[1] + rows_i * strides[2] + cols_i * strides[3]
                                  + glb_i * strides[7] + dataflow_i * strides[8] + batch_i * strides[9])
                        if dataflow != RS:
                            d = _decode_design(space, settings, pe_i, bits_i, rows_i, cols_i, 0, 0, 0, glb_i,
                                               dataflow)
                            _systolic_design(totals, per_layer, space, workload, settings, d, corner, counts, cost,
                                             only_row, rows_i, batch_i, member == 0)
                            continue
                        if member == 0:
                            _rs_group_invariants(invariants, _decode_design(space, settings, pe_i, bits_i, rows_i,
                                                                            cols_i, 0, 0, 0, glb_i, RS),
                                                 workload, batch)
                        for si in range(space.spad_ifmap_of.shape[0]):
                            for sf in range(space.spad_filter_of.shape[0]):
                                for sp in range(space.spad_psum_of.shape[0]):
                                    d = _decode_design(space, settings, pe_i, bits_i, rows_i, cols_i, si, sf, sp,
                                                       glb_i, RS)
                                    reason = VALID
                                    for clock_i in range(space.clock_mhz_of.shape[0]):
                                        if _clock_valid(d.critical_ns, space.clock_mhz_of[clock_i]):
                                            # some point is valid: search (once for every bandwidth and clock)
                                            reason, searched = _rs_design(work, memo, group, invariants,
                                                                          workload, settings, d, batch,
                                                                          least_bytes_per_cycle)
                                            if searched.cache.shape[1] != work.cache.shape[1]:  # it grew
                                                grown = searched
                                                work = _borrowed_work(grown)
                                            break
                                    _rs_points(totals, per_layer, space, workload, settings, d,
                                               corner + si * strides[4] + sf * strides[5] + sp * strides[6], reason,
                                               work)
    return grown.cache.shape[1]  # keeps the grown tables alive while their views are used


@jit
def workload_tables(layers, rows_of, batch_of, has_os):
    """Per layer: input rows some output reads (``h_used``), and the input pixels (one channel) ``os``
    pixel folds read at each array-rows and batch value (zeros unless ``has_os``)."""
    n_layers = layers.shape[0]
    h_used = np.empty(n_layers, dtype=np.int64)
    for layer in range(n_layers):
        h_used[layer] = _rows_in(-layers[layer, 10], layers[layer, 5], layers[layer, 9], layers[layer, 3],
                                 layers[layer, 7])
    fold_touched = np.zeros((n_layers, rows_of.shape[0], batch_of.shape[0]), dtype=np.int64)
    if has_os:
        for layer in range(n_layers):
            for ri in range(rows_of.shape[0]):
                for bi in range(batch_of.shape[0]):
                    fold_touched[layer, ri, bi] = _os_pixel_tiles_touched(
                        layers[layer, 0] * batch_of[bi], layers[layer, 5], layers[layer, 6], layers[layer, 3],
                        layers[layer, 4], layers[layer, 7], layers[layer, 8], layers[layer, 9], layers[layer, 10],
                        rows_of[ri])
    return h_used, fold_touched
