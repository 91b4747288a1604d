"""The systolic model of ``quidam_fast.kernels`` written as plain numpy broadcasting.

Used by ``bench/bench_engine.py`` as the side-by-side speed reference and by
``tests/test_numpy_model.py`` to show it computes the same numbers (so the speed ratio compares equal
work). Arrays are ``(points, layers)``; every branch of the kernel becomes an ``np.where``.
"""

from __future__ import annotations

import numpy as np

WS, OS, IS = 0, 1, 2


def _ceil_div(a, b):
    return -(-a // b)


def _pinned_reads(words, word_bits, sweeps, budget_bits):
    resident = np.minimum(words, np.maximum(budget_bits, 0) // word_bits)
    return np.where(sweeps <= 1, words, words + (sweeps - 1) * (words - resident))


def _spilled(tile_words, last_tile_words, n_col, n_row, pinned):
    return np.where(n_row <= 1, 0, (n_row - 1) * ((n_col - 1) * np.maximum(tile_words - pinned, 0)
                                                  + np.maximum(last_tile_words - pinned, 0)))


def _allocate(swept_words, swept_bits, sweeps, tile_words, last_tile_words, n_row, psum_bits, glb_bits, price_swept,
              price_psum):
    psum_1 = np.where(n_row > 1, np.minimum(tile_words, glb_bits // psum_bits), 0)
    swept_1 = _pinned_reads(swept_words, swept_bits, sweeps, glb_bits - psum_1 * psum_bits)
    spill_1 = _spilled(tile_words, last_tile_words, sweeps, n_row, psum_1)
    swept_pinned = np.minimum(swept_words, glb_bits // swept_bits)
    psum_2 = np.where(n_row > 1, np.minimum(tile_words, (glb_bits - swept_pinned * swept_bits) // psum_bits), 0)
    swept_2 = _pinned_reads(swept_words, swept_bits, sweeps, glb_bits)
    spill_2 = _spilled(tile_words, last_tile_words, sweeps, n_row, psum_2)
    first = swept_1 * price_swept + 2 * spill_1 * price_psum <= swept_2 * price_swept + 2 * spill_2 * price_psum
    return np.where(first, swept_1, swept_2), np.where(first, spill_1, spill_2)


def systolic_energy_and_cycles(dataflow, rows, cols, glb_bits, a, w, p, e_mac, e_reg, glb_energy, leak_uw,
                               clock_mhz, dram_gbps, layers, net_mm, wire_pj_per_bit_mm, dram_pj_per_bit, batch,
                               touched_per_channel, fold_touched):
    """Per-point ``(cycles, energy_pj)`` summed over layers.

    Point arrays have shape ``(points, 1)``; ``layers`` is ``(n_layers, 12)`` (LAYER_COLUMNS order);
    ``glb_energy`` is ``(points, 1, 6)`` read/write energies per word for act, weight, psum; ``net_mm`` is
    ``(points, 1, 5)``: the wire (mm) an activation read, weight read, partial-sum read, partial-sum write
    and output write drive (``kernels._network_mm``). ``batch`` is ``(points, 1)``;
    ``touched_per_channel`` ``(n_layers,)``: input pixels of one image and channel some output reads;
    ``fold_touched`` ``(points, n_layers)``: the same, all images, summed over ``os`` pixel folds
    (``kernels._os_pixel_tiles_touched``). Buffer plans are chosen for the energy objective
    (``kernels._dram_word_prices``).
    """
    N, K, C, R, S, P, Q, H, W, _stride, _padding, groups = (layers[:, i][None, :] for i in range(12))
    N = N * batch
    Cg = C // groups
    Sr, Sc, T = N * P * Q, K // groups, Cg * R * S
    I, F, O = N * Cg * touched_per_channel[None, :], Sc * T, Sr * Sc
    I_folds = Cg * fold_touched
    g = glb_energy
    price_a = a * dram_pj_per_bit + g[..., 1]
    price_w = w * dram_pj_per_bit + g[..., 3]
    price_p = p * dram_pj_per_bit + 0.5 * (g[..., 4] + g[..., 5])
    is_os, is_ws = dataflow == OS, dataflow == WS
    n_row = np.where(is_os, _ceil_div(Sr, rows), _ceil_div(T, rows))
    n_col = np.where(is_os | is_ws, _ceil_div(Sc, cols), _ceil_div(Sr, cols))
    per_fold = np.where(is_os, T + rows + cols - 2, 2 * rows + cols + np.where(is_ws, Sr, Sc) - 2)
    compute = groups * n_row * n_col * per_fold - 1
    glb_act = np.where(is_os | is_ws, Sr * T * n_col, T * Sr)
    glb_weight = np.where(is_os, Sc * T * n_row, np.where(is_ws, T * Sc, Sc * T * n_col))
    psum_rw = np.where(is_os, 0, O * (n_row - 1))
    # os: two fold orders
    ifmap_tile = np.minimum(rows, Sr) * T * a
    # four plans (the kernel's order; the first of equal price wins): filter folds outer, the buffer
    # serving the filter tile or the ifmap first; pixel folds outer, the ifmap tile kept or not
    tile, last = np.minimum(cols, Sc) * T, (Sc - (n_col - 1) * cols) * T
    pinned_0 = np.minimum(tile, glb_bits // w)
    swept_1 = np.minimum(I, glb_bits // a)
    pinned_1 = np.minimum(tile, (glb_bits - swept_1 * a) // w)
    plans = [(F + _spilled(tile, last, n_col, n_row, pinned_0), _pinned_reads(I, a, n_col, glb_bits - pinned_0 * w), True),
             (F + _spilled(tile, last, n_col, n_row, pinned_1), _pinned_reads(I, a, n_col, glb_bits), True),
             (_pinned_reads(F, w, n_row, glb_bits - ifmap_tile), I_folds, ifmap_tile <= glb_bits),
             (_pinned_reads(F, w, n_row, glb_bits), I_folds * n_col, True)]
    os_weight, os_act = plans[0][0] * 0, plans[0][1] * 0
    best = np.full(np.broadcast(os_act, price_a).shape, np.inf)
    for weight, act, feasible in plans:
        price = np.where(feasible, act * price_a + weight * price_w, np.inf)
        better = price < best
        best = np.where(better, price, best)
        os_weight, os_act = np.where(better, weight, os_weight), np.where(better, act, os_act)
    # ws / is: partial sums against the swept operand
    ws_act, ws_spill = _allocate(I, a, n_col, Sr * np.minimum(cols, Sc), Sr * (Sc - (n_col - 1) * cols), n_row, p,
                                 glb_bits, price_a, price_p)
    is_weight, is_spill = _allocate(F, w, n_col, np.minimum(cols, Sr) * Sc, (Sr - (n_col - 1) * cols) * Sc, n_row, p,
                                    glb_bits, price_w, price_p)
    dram_act = groups * np.where(is_os, os_act, np.where(is_ws, ws_act, I))
    dram_weight = groups * np.where(is_os, os_weight, np.where(is_ws, F, is_weight))
    spill = groups * np.where(is_os, 0, np.where(is_ws, ws_spill, is_spill))
    glb_act, glb_weight, psum_rw, out_words = groups * glb_act, groups * glb_weight, groups * psum_rw, groups * O
    macs = groups * Sr * Sc * T
    dram_read_bits = dram_act * a + dram_weight * w + spill * p
    dram_write_bits = spill * p + out_words * a
    bytes_per_cycle = dram_gbps * 1e3 / clock_mhz
    cycles = np.maximum(compute, np.ceil((dram_read_bits + dram_write_bits) / 8.0 / bytes_per_cycle))
    energy_glb = (glb_act * g[..., 0] + glb_weight * g[..., 2] + (psum_rw + spill) * g[..., 4] + out_words * g[..., 0]
                  + psum_rw * g[..., 5] + out_words * g[..., 1] + dram_act * g[..., 1] + dram_weight * g[..., 3]
                  + spill * g[..., 5])
    energy_noc = wire_pj_per_bit_mm * (glb_act * a * net_mm[..., 0] + glb_weight * w * net_mm[..., 1]
                                       + psum_rw * p * (net_mm[..., 2] + net_mm[..., 3]) + out_words * a * net_mm[..., 4])
    energy = (macs * (e_mac + e_reg) + energy_glb + energy_noc
              + (dram_read_bits + dram_write_bits) * dram_pj_per_bit + leak_uw * cycles / clock_mhz)
    return cycles.sum(axis=1), energy.sum(axis=1)
