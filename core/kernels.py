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
 TOTAL_NOC_WORDS, TOTAL_AREA_PE_ARRAY, TOTAL_AREA_GLB, TOTAL_REASON) = range(20)
N_TOTALS = 20

# columns of the per-layer results
(LAYER_CYCLES, LAYER_STALL_CYCLES, LAYER_UTILIZATION, LAYER_ENERGY, LAYER_DRAM_READ_BYTES,
 LAYER_DRAM_WRITE_BYTES, LAYER_GLB_READS, LAYER_GLB_WRITES) = range(8)
N_LAYER_RESULTS = 8

# columns of the precomputed per-(pe_type, bits) table
(PE_ACT_BITS, PE_WEIGHT_BITS, PE_PSUM_BITS, PE_MAC_ENERGY, PE_MAC_AREA, PE_MAC_LEAK_UW, PE_CRITICAL_NS,
 PE_REG_ENERGY, PE_REG_AREA, PE_REG_LEAK_UW) = range(10)
N_PE = 10

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
    compute_cycles = groups * folds * per_fold - 1
    return (compute_cycles, groups * macs, groups * glb_act, groups * glb_weight, groups * glb_psum_reads,
            groups * glb_psum_writes, groups * out_words, groups * dram_act, groups * dram_weight,
            groups * dram_psum, groups * dram_psum, groups * out_words)


@jit
def evaluate_chunk(start, stop, shape, pe_index_of, bits_of, rows_of, cols_of, glb_kib_of, dataflow_of,
                   dram_gbps_of, clock_mhz_of, pe_table, glb_table, layers, noc_pj_per_bit,
                   dram_pj_per_bit, totals, per_layer, want_per_layer):
    """Evaluate flat design indices ``start <= i < stop`` on every layer.

    ``shape`` holds the axis lengths in :data:`quidam_fast.space.AXES` order; the ``*_of`` arrays map
    an axis position to its value (``pe_index_of`` to the row of ``pe_table``). ``pe_table`` is indexed
    ``[pe_type, bits]``, ``glb_table`` ``[glb_kib, pe_type, bits]``. ``layers`` is ``(n_layers, 12)``
    int64 in ``workloads.LAYER_COLUMNS`` order. Results go to ``totals[i - start]`` and, if
    ``want_per_layer``, ``per_layer[i - start, layer]``.
    """
    n_axes = shape.shape[0]
    position = np.zeros(n_axes, dtype=np.int64)
    n_layers = layers.shape[0]
    for i in range(start, stop):
        out = i - start
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
        e_mac = pe[PE_MAC_ENERGY]
        # a systolic PE forwards activations and partial sums through registers every MAC:
        # reads act, weight, psum; writes act, psum
        reg_energy_per_mac = pe[PE_REG_ENERGY]
        leak_power_uw = n_pe * (pe[PE_MAC_LEAK_UW] + pe[PE_REG_LEAK_UW]) + glb[GLB_LEAK_MW] * 1e3
        for layer in range(n_layers):
            (compute_cycles, macs, glb_act, glb_weight, glb_psum_reads, glb_psum_writes, glb_ofmap_writes,
             dram_act, dram_weight, dram_psum_reads, dram_psum_writes, dram_ofmap) = _systolic_layer(dataflow, rows, cols, glb_bits, a, w, p, layers[layer, 0], layers[layer, 1],
                                layers[layer, 2], layers[layer, 3], layers[layer, 4], layers[layer, 5],
                                layers[layer, 6], layers[layer, 7], layers[layer, 8], layers[layer, 11])
            dram_read_bits = dram_act * a + dram_weight * w + dram_psum_reads * p
            dram_write_bits = dram_psum_writes * p + dram_ofmap * a
            dram_cycles = np.int64(np.ceil((dram_read_bits + dram_write_bits) / 8.0 / bytes_per_cycle))
            cycles = max(compute_cycles, dram_cycles)
            # the buffer is written by DRAM fills and by the array, read by the array and by DRAM write-back
            glb_reads = glb_act + glb_weight + glb_psum_reads + dram_psum_writes + dram_ofmap
            glb_writes = glb_psum_writes + glb_ofmap_writes + dram_act + dram_weight + dram_psum_reads
            energy_glb = (glb_act * glb[GLB_READ_ACT] + glb_weight * glb[GLB_READ_WEIGHT]
                          + (glb_psum_reads + dram_psum_writes) * glb[GLB_READ_PSUM] + dram_ofmap * glb[GLB_READ_ACT]
                          + glb_psum_writes * glb[GLB_WRITE_PSUM] + glb_ofmap_writes * glb[GLB_WRITE_ACT]
                          + dram_act * glb[GLB_WRITE_ACT] + dram_weight * glb[GLB_WRITE_WEIGHT]
                          + dram_psum_reads * glb[GLB_WRITE_PSUM])
            noc_bits = (glb_act * a + glb_weight * w + glb_psum_reads * p + glb_psum_writes * p
                        + glb_ofmap_writes * a)
            energy_noc = noc_bits * noc_pj_per_bit
            energy_mac = macs * e_mac
            energy_spad = macs * reg_energy_per_mac
            energy_dram = (dram_read_bits + dram_write_bits) * dram_pj_per_bit
            energy_leak = leak_power_uw * cycles / clock_mhz  # uW * us = pJ
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
            totals[out, TOTAL_SPAD_READS] += 3 * macs
            totals[out, TOTAL_SPAD_WRITES] += 2 * macs
            totals[out, TOTAL_NOC_WORDS] += glb_act + glb_weight + glb_psum_reads + glb_psum_writes + glb_ofmap_writes
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
        totals[out, TOTAL_AREA_PE_ARRAY] = n_pe * (pe[PE_MAC_AREA] + pe[PE_REG_AREA]) * 1e-6
        totals[out, TOTAL_AREA_GLB] = glb[GLB_AREA_MM2]
        totals[out, TOTAL_REASON] = VALID


@jit
def _mark_invalid(totals, per_layer, out, reason, want_per_layer):
    for column in range(N_TOTALS):
        totals[out, column] = np.nan
    totals[out, TOTAL_REASON] = reason
    if want_per_layer:
        per_layer[out, :, :] = np.nan
