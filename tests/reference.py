"""Slow, obviously correct references, written from loop nests and never from the kernels.

Two kinds of reference live here:

* **Array walks** (``systolic_array``, ``rs_array``): every fold or pass of a layer, every stream step,
  PE, output column, channel, tap and filter; they timestamp MACs (systolic: the skewed schedule of
  SCALE-Sim, Samajdar et al., ISPASS 2020) and count each word that moves between the buffer, the
  array network and the PEs.
* **A tile-level loop-nest simulator** (``systolic_dram``, ``rs_dram``): it takes a *buffer plan* -- the
  order of the loops above the array, the tile sizes, and what the buffer keeps -- walks that loop
  nest, and names every word each fold or pass reads (``('I', n, channel, y, x)`` for an input pixel,
  ``('W', k, channel, r, s)`` for a weight, ``('O', n, k, p, q)`` for an output), so only words some
  output touches are ever fetched. Residency is explicit: a buffer keeps, per operand, the current
  tile (fetched whole when the walk moves it to another tile, its size the number of distinct words
  in it), a pinned set (the first words of a swept operand, as many as the buffer spares; row
  stationary pins, beside its tiles, one operand whose tiles do not overlap) or nothing (the words
  of each fold or pass fetched as it runs); partial sums evicted before their last accumulation go
  to DRAM and come back when their tile returns. Footprints are the largest tile's distinct words,
  and a plan is feasible when they fit. The simulator does not know which
  plan is best: tests enumerate every plan (``rs_plans``, ``systolic_plans``) and compare the
  kernels' choice with the cheapest.
"""

from __future__ import annotations

import itertools


def _ceil_div(a, b):
    return -(-a // b)


# --------------------------------------------------------------------------------------------------
# Words a layer reads, from the convolution's definition
# --------------------------------------------------------------------------------------------------


def ifmap_word(layer, group, n, c, p, q, r, s):
    """The input word output pixel ``(p, q)`` of image ``n`` multiplies by tap ``(r, s)`` of channel
    ``c`` (of ``group``), or ``None`` where the tap falls on padding (a zero made in the array)."""
    y = p * layer.stride + r - layer.padding
    x = q * layer.stride + s - layer.padding
    if 0 <= y < layer.H and 0 <= x < layer.W:
        return ("I", n, group * (layer.C // layer.groups) + c, y, x)
    return None


def gemm_dims(layer, batch=1):
    """Per-group GEMM: (Sr output pixels of every image, T reduction, Sc filters)."""
    return layer.N * batch * layer.P * layer.Q, (layer.C // layer.groups) * layer.R * layer.S, layer.K // layer.groups


def _pixel(layer, i):
    """GEMM row ``i`` -> (image, p, q)."""
    n, rest = divmod(i, layer.P * layer.Q)
    return (n,) + divmod(rest, layer.Q)


def _tap(layer, t):
    """GEMM reduction index ``t`` -> (channel within the group, r, s)."""
    c, rest = divmod(t, layer.R * layer.S)
    return (c,) + divmod(rest, layer.S)


# --------------------------------------------------------------------------------------------------
# Systolic arrays: the array walk
# --------------------------------------------------------------------------------------------------


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


def _folds(dataflow, layer, rows, cols, batch=1):
    """The folds of one group: ``(row fold, col fold, pixels, taps, filters)`` index ranges."""
    Sr, T, Sc = gemm_dims(layer, batch)
    row_dim, col_dim = {"ws": (T, Sc), "os": (Sr, Sc), "is": (T, Sr)}[dataflow]
    folds = []
    for fr in range(_ceil_div(row_dim, rows)):
        for fc in range(_ceil_div(col_dim, cols)):
            row_range = range(fr * rows, min((fr + 1) * rows, row_dim))
            col_range = range(fc * cols, min((fc + 1) * cols, col_dim))
            if dataflow == "ws":
                folds.append((fr, fc, range(Sr), row_range, col_range))
            elif dataflow == "os":
                folds.append((fr, fc, row_range, range(T), col_range))
            else:
                folds.append((fr, fc, col_range, row_range, range(Sc)))
    return folds


def systolic_array(layer, dataflow, rows, cols, batch=1):
    """Cycles and buffer-side counts of one layer on a systolic array (every group), by walking folds."""
    Sr, T, Sc = gemm_dims(layer, batch)
    count = dict(compute_cycles=0, macs=0, glb_act=0, glb_weight=0, glb_psum_reads=0, glb_psum_writes=0,
                 glb_ofmap_writes=0)
    n_row_folds = _ceil_div(T, rows) if dataflow != "os" else 1
    for _group in range(layer.groups):
        for fr, fc, pixels, taps, filters in _folds(dataflow, layer, rows, cols, batch):
            rows_used, cols_used = {"ws": (len(taps), len(filters)), "os": (len(pixels), len(filters)),
                                    "is": (len(taps), len(pixels))}[dataflow]
            stream = {"ws": Sr, "os": T, "is": Sc}[dataflow]
            count["compute_cycles"] += _fold_span(dataflow, rows, cols, stream, rows_used, cols_used)
            count["macs"] += len(pixels) * len(taps) * len(filters)
            if dataflow == "os":
                # each PE row takes its pixel's T operands, each column its filter's T weights
                count["glb_act"] += len(pixels) * T
                count["glb_weight"] += len(filters) * T
                count["glb_ofmap_writes"] += len(pixels) * len(filters)
                continue
            # ws: weights loaded once into the PEs, every pixel streamed through the used rows;
            # is: inputs loaded once, every filter streamed
            stationary = rows_used * cols_used
            streamed = stream * rows_used
            count["glb_weight" if dataflow == "ws" else "glb_act"] += stationary
            count["glb_act" if dataflow == "ws" else "glb_weight"] += streamed
            outputs = len(pixels) * len(filters)
            if fr > 0:
                count["glb_psum_reads"] += outputs
            if fr < n_row_folds - 1:
                count["glb_psum_writes"] += outputs
            else:
                count["glb_ofmap_writes"] += outputs
    # SCALE-Sim reports the last cycle's index (one less than the count) ...
    count["compute_cycles"] -= 1
    # ... which cannot undercut the law: one PE does at most one MAC per cycle
    count["compute_cycles"] = max(count["compute_cycles"], -(-count["macs"] // (rows * cols)))
    return count


# --------------------------------------------------------------------------------------------------
# Systolic arrays: the buffer plans and the loop-nest simulator
# --------------------------------------------------------------------------------------------------


def systolic_plans(dataflow):
    """Buffer plans of a systolic dataflow: ``os`` walks filter folds outer, the buffer serving the
    filter tile or the swept ifmap first, or pixel folds outer, the ifmap tile kept in the buffer (where
    it fits) or fetched by every fold;
    ``ws``/``is`` walk column folds outer (SCALE-Sim's order) and give the buffer to the partial-sum
    tile first or to the swept operand first."""
    if dataflow == "os":
        return [("filters_outer", "tile_first"), ("filters_outer", "swept_first"), ("pixels_outer", "kept"),
                ("pixels_outer", "streamed")]
    return [("psums_first",), ("swept_first",)]


def systolic_dram(layer, dataflow, rows, cols, glb_bits, a, w, p, plan, batch=1):
    """DRAM words of one layer (every group) under ``plan`` (one of :func:`systolic_plans`).

    The walk visits folds in the plan's order. The operand the inner fold loop sweeps again for every
    outer fold is read into the buffer once per sweep (a word two folds of one sweep share is fetched
    once), except its *pinned* words -- the first ones the first sweep reads, as many as the buffer
    spares -- which stay; the outer fold's tile is fetched when the outer fold changes, and the part of
    it the buffer does not keep again by every inner fold (``os`` filter tiles: kept as far as the
    plan's share of the buffer holds them; ``os`` ifmap tiles: whole, ``None`` where they do not fit,
    or not at all); the stationary operand of ``ws``/``is`` is fetched once (its words are
    the folds' own). Of a column fold's partial sums, the buffer keeps the first ones it can spare
    (after the swept operand's pinned words or before them, by the plan); the others are written
    out after every row fold but the last and read back by the next.
    """
    Sr, T, Sc = gemm_dims(layer, batch)
    if dataflow == "os" and plan[1] == "kept" and min(rows, Sr) * T * a > glb_bits:
        return None  # the ifmap tile as the array reads it (rows x T words) is reserved
    total = dict(dram_act=0, dram_weight=0, dram_psum_reads=0, dram_psum_writes=0, dram_ofmap=0)
    for group in range(layer.groups):
        folds = _folds(dataflow, layer, rows, cols, batch)

        def act_words(fold):
            _fr, _fc, pixels, taps, _filters = fold
            words = set()
            for i in pixels:
                n, pp, qq = _pixel(layer, i)
                for t in taps:
                    c, r, s = _tap(layer, t)
                    word = ifmap_word(layer, group, n, c, pp, qq, r, s)
                    if word is not None:
                        words.add(word)
            return words

        def weight_words(fold):
            _fr, _fc, _pixels, taps, filters = fold
            return {("W", group * Sc + k) + _tap(layer, t) for k in filters for t in taps}

        if dataflow == "os":
            n_row, n_col = _ceil_div(Sr, rows), _ceil_div(Sc, cols)
            filters_outer = plan[0] == "filters_outer"
            order = sorted(folds, key=(lambda f: (f[1], f[0])) if filters_outer else (lambda f: (f[0], f[1])))
            if filters_outer:  # a column fold's filter tile kept in part, beside the pinned ifmap
                tile = min(cols, Sc) * T
                touched = set().union(*(act_words(f) for f in folds))
                if plan[1] == "tile_first":
                    outer_capacity = min(tile, glb_bits // w)
                    budget = glb_bits - outer_capacity * w
                else:
                    budget = glb_bits
                    outer_capacity = min(tile, (glb_bits - min(len(touched), glb_bits // a) * a) // w)
            else:  # the pixel fold's ifmap tile kept whole (its rows x T words reserved) or not at all
                outer_capacity = float("inf") if plan[1] == "kept" else 0
                budget = glb_bits - min(rows, Sr) * T * a if plan[1] == "kept" else glb_bits
            outer_of, swept_of = (weight_words, act_words) if filters_outer else (act_words, weight_words)
            outer_key = (lambda f: f[1]) if filters_outer else (lambda f: f[0])
            swept_bits = a if filters_outer else w
            outer_count, swept_count = _walk_outer_and_swept(order, outer_of, outer_key, outer_capacity, swept_of,
                                                            budget // swept_bits)
            act, weight = (swept_count, outer_count) if filters_outer else (outer_count, swept_count)
            total["dram_act"] += act
            total["dram_weight"] += weight
            total["dram_ofmap"] += Sr * Sc
            continue
        # ws / is: column folds outer, row folds inner; the swept operand is read once per column fold
        n_row = _ceil_div(T, rows)
        spatial = Sc if dataflow == "ws" else Sr
        stream = Sr if dataflow == "ws" else Sc
        swept_of, stationary_of = (act_words, weight_words) if dataflow == "ws" else (weight_words, act_words)
        swept_bits = a if dataflow == "ws" else w
        swept_words = set().union(*(swept_of(f) for f in folds))
        psum_tile = stream * min(cols, spatial) if n_row > 1 else 0  # a column fold's partial sums
        if plan[0] == "psums_first":
            psum_capacity = min(psum_tile, glb_bits // p)
            budget = glb_bits - psum_capacity * p
        else:
            budget = glb_bits
            psum_capacity = min(psum_tile, (glb_bits - min(len(swept_words), glb_bits // swept_bits) * swept_bits) // p)
        order = sorted(folds, key=lambda f: (f[1], f[0]))
        swept_count = _walk_swept(order, swept_of, lambda f: f[1], budget // swept_bits)
        stationary = set().union(*(stationary_of(f) for f in folds))  # each stationary word fetched once
        total["dram_act" if dataflow == "ws" else "dram_weight"] += swept_count
        total["dram_weight" if dataflow == "ws" else "dram_act"] += len(stationary)
        for fr, _fc, pixels, _taps, filters in order:
            outputs = len(pixels) * len(filters)
            spilled = max(outputs - psum_capacity, 0)  # the first psum_capacity of a fold's stay on chip
            if fr < n_row - 1:
                total["dram_psum_writes"] += spilled
            if fr > 0:
                total["dram_psum_reads"] += spilled
            if fr == n_row - 1:
                total["dram_ofmap"] += outputs
    return total


def _walk_swept(folds, words_of, sweep_key, pinned_capacity):
    """DRAM reads of a swept operand: staged for one sweep, its first ``pinned_capacity`` words kept."""
    pinned, staged, fetched, sweep = [], set(), 0, None
    pinned_set = set()
    for fold in folds:
        if sweep_key(fold) != sweep:
            sweep, staged = sweep_key(fold), set()
        for word in sorted(words_of(fold)):
            if word in pinned_set or word in staged:
                continue
            fetched += 1
            staged.add(word)
            if len(pinned) < pinned_capacity:
                pinned.append(word)
                pinned_set.add(word)
    return fetched


def _walk_outer_and_swept(folds, outer_of, outer_key, outer_capacity, swept_of, pinned_capacity):
    """``os``: the outer tile fetched whole when the outer fold changes, of which the buffer keeps the
    first ``outer_capacity`` words while the inner folds run (each fetches the rest again); the swept
    operand as :func:`_walk_swept`, one sweep per outer fold."""
    outer_count, current, kept = 0, None, set()
    for fold in folds:
        words = sorted(outer_of(fold))
        if outer_key(fold) != current:
            current = outer_key(fold)
            kept = set(words[:outer_capacity] if outer_capacity != float("inf") else words)
            outer_count += len(words)
        else:
            outer_count += sum(1 for word in words if word not in kept)
    return outer_count, _walk_swept(folds, swept_of, outer_key, pinned_capacity)


# --------------------------------------------------------------------------------------------------
# Row stationary: the array walk
# --------------------------------------------------------------------------------------------------


def _rs_shape(layer, rows, cols, p, q, batch=1):
    R, P = layer.R, layer.P
    Cg, Kg = layer.C // layer.groups, layer.K // layer.groups
    h, e_t = min(R, rows), min(P, cols)
    sets = (rows // h) * (cols // e_t)
    return dict(Cg=Cg, Kg=Kg, h=h, e_t=e_t, sets=sets, n_fold=_ceil_div(R, h), n_strip=_ceil_div(P, e_t),
                n_kblock=_ceil_div(Kg, p * sets), n_cblock=_ceil_div(Cg, q), N=layer.N * batch)


def rs_passes(layer, rows, cols, p, q, batch=1):
    """Passes of one group in the array's order: (image, strip, filter block, fold, channel block)."""
    sh = _rs_shape(layer, rows, cols, p, q, batch)
    return [(n, strip, block, fold, cblock) for n in range(sh["N"]) for strip in range(sh["n_strip"])
            for block in range(sh["n_kblock"]) for fold in range(sh["n_fold"]) for cblock in range(sh["n_cblock"])]


def _rs_pass_words(layer, rows, cols, p, q, group, pass_, batch=1):
    """The words one pass reads: (filters, ifmap, outputs)."""
    sh = _rs_shape(layer, rows, cols, p, q, batch)
    n, strip, block, fold, cblock = pass_
    filters = range(block * p * sh["sets"], min((block + 1) * p * sh["sets"], sh["Kg"]))
    channels = range(cblock * q, min((cblock + 1) * q, sh["Cg"]))
    filter_rows = range(fold * sh["h"], min((fold + 1) * sh["h"], layer.R))
    out_rows = range(strip * sh["e_t"], min((strip + 1) * sh["e_t"], layer.P))
    k0 = group * sh["Kg"]
    weights = {("W", k0 + k, group * sh["Cg"] + c, r, s) for k in filters for c in channels for r in filter_rows
               for s in range(layer.S)}
    inputs = set()
    for c in channels:
        for e in out_rows:
            for r in filter_rows:
                for col in range(layer.Q):
                    for s in range(layer.S):
                        word = ifmap_word(layer, group, n, c, e, col, r, s)
                        if word is not None:
                            inputs.add(word)
    outputs = {("O", n, k0 + k, e, col) for k in filters for e in out_rows for col in range(layer.Q)}
    return weights, inputs, outputs


def rs_array(layer, rows, cols, p, q, batch=1):
    """Row-stationary counts of the array level for one mapping (``p`` filters, ``q`` channels per PE).

    Walks, per group, every pass, and inside a pass every PE of every set, every output column,
    channel, tap and filter: a PE set is ``min(R, rows)`` filter rows x ``min(P, cols)`` output rows,
    replicated ``sets`` times across the array with one block of ``p`` filters each.
    """
    R, S, P, Q, H, U, pad = layer.R, layer.S, layer.P, layer.Q, layer.H, layer.stride, layer.padding
    sh = _rs_shape(layer, rows, cols, p, q, batch)
    Kg, Cg, h, e_t, sets = sh["Kg"], sh["Cg"], sh["h"], sh["e_t"], sh["sets"]
    real_columns = len({x for col in range(Q) for x in range(col * U - pad, col * U - pad + S) if 0 <= x < layer.W})
    count = dict(compute_cycles=0, macs=0, glb_act=0, glb_weight=0, glb_psum_reads=0, glb_psum_writes=0,
                 glb_ofmap_writes=0, noc_act=0, noc_weight=0, noc_psum=0, spad_filter_writes=0, spad_ifmap_writes=0)
    for n, strip, block, fold, cblock in rs_passes(layer, rows, cols, p, q, batch):
        block_filters = min(p * sets, Kg - block * p * sets)
        channels = min(q, Cg - cblock * q)
        e_s, h_f = min(e_t, P - strip * e_t), min(h, R - fold * h)
        first = fold == 0 and cblock == 0
        last = fold == sh["n_fold"] - 1 and cblock == sh["n_cblock"] - 1
        per_set = [min(p, block_filters - j * p) for j in range(sets) if block_filters - j * p > 0]
        busiest = 0
        for filters in per_set:
            for r in range(h_f):
                for e in range(e_s):
                    y = (strip * e_t + e) * U + fold * h + r - pad
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
                    if 0 <= y < H:
                        count["noc_act"] += real_columns * channels      # its ifmap row, multicast diagonally
                        count["spad_ifmap_writes"] += real_columns * channels
                    if r > 0:
                        count["noc_psum"] += Q * filters                 # psums move up one PE
        count["compute_cycles"] += busiest
        count["glb_weight"] += block_filters * channels * h_f * S        # one buffer read per unique word
        distinct_rows = {(strip * e_t + e) * U + fold * h + r - pad for e in range(e_s) for r in range(h_f)}
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
    return {key: value * layer.groups for key, value in count.items()}


# --------------------------------------------------------------------------------------------------
# Row stationary: the buffer plans and the loop-nest simulator
# --------------------------------------------------------------------------------------------------

RS_ORDERS = tuple("".join(order) for order in itertools.permutations("mfc"))
RS_TILES = ("strip", "image", "batch")
RS_FILTER_MODES = ("step", "every", "bypass", "whole")
RS_IFMAP_MODES = ("step", "every", "bypass")
RS_PSUM_MODES = ("keep", "bypass")
RS_PINS = ("none", "W", "I", "O")


def rs_plans(layer, rows, cols, p, q, batch=1):
    """Every buffer plan: loop order over (m: image strips, f: filter blocks, c: accumulation steps),
    strips per tile, filter blocks per tile, what the buffer keeps of each operand, and which operand
    the buffer the tiles leave free pins."""
    n_kblock = _rs_shape(layer, rows, cols, p, q, batch)["n_kblock"]
    return [(order, tm, tf, fm, im, om, pin) for order in RS_ORDERS for tm in RS_TILES for tf in range(1, n_kblock + 1)
            for fm in RS_FILTER_MODES for im in RS_IFMAP_MODES for om in RS_PSUM_MODES for pin in RS_PINS]


class _RsWords:
    """Each pass's words, computed once per (layer, mapping), and the walks of the plans already walked."""

    def __init__(self, layer, rows, cols, p, q, batch):
        self.shape = _rs_shape(layer, rows, cols, p, q, batch)
        self.words = {(g, pass_): _rs_pass_words(layer, rows, cols, p, q, g, pass_, batch)
                      for g in range(layer.groups) for pass_ in rs_passes(layer, rows, cols, p, q, batch)}
        self.groups = layer.groups
        self.walks = {}


def rs_dram(layer, rows, cols, glb_bits, a, w, pb, p, q, plan, batch=1, words=None):
    """DRAM words of one row-stationary layer under a buffer ``plan`` (see :func:`rs_plans`), or
    ``None`` where the plan's tiles do not fit in ``glb_bits`` or its pin is not one of the family.

    The walk (:func:`_rs_walk`) gives the counts of the plan's tiles. Pinning: the buffer the tiles
    leave (``glb_bits`` less their footprint) keeps, for good, the first words of operand ``pin`` the
    walk fetches (``O``: of the first outputs whose partial sums it writes out), as many as it holds;
    a pinned word is fetched once (a pinned output's partial sums never leave). Groups run one after
    another, each pinning its own words. The family pins an operand whose tiles share no words (a
    bypassed operand: whose passes share none, counting a pass by the loops the operand depends on);
    where tiles overlap (the input rows of neighbouring strips or folds) some words are fetched more
    often than others, and which to pin is a choice of its own, left out (``None``).
    """
    order, tm, tf, filter_mode, ifmap_mode, psum_mode, pin = plan
    words = words or _RsWords(layer, rows, cols, p, q, batch)
    walked = words.walks.get(plan[:6])
    if walked is None:
        walked = words.walks[plan[:6]] = _rs_walk(layer, rows, cols, p, q, plan[:6], batch, words)
    dram, footprint, fetches, overlapping = walked
    bits = footprint["W"] * w + footprint["I"] * a + footprint["O"] * pb
    if bits > glb_bits:
        return None
    dram = dict(dram)
    if pin != "none":
        if pin in overlapping:
            return None
        capacity = (glb_bits - bits) // {"W": w, "I": a, "O": pb}[pin]
        for group in fetches:  # groups run one after another: each pins its own words
            if pin == "O":
                pinned = list(group["O"])[:capacity]  # the first written out first
                saved = sum(group["O"][word] for word in pinned)  # partial sums written out, each read back
                dram["psum_reads"] -= saved
                dram["psum_writes"] -= saved
                continue
            left = capacity
            for count, size in group[pin].values():  # the first tile fetched first
                take = min(size, left)
                dram["weight" if pin == "W" else "act"] -= take * (count - 1)
                left -= take
    assert dram["psum_reads"] == dram["psum_writes"]
    return dict(dram_act=dram["act"], dram_weight=dram["weight"], dram_psum=dram["psum_reads"],
                dram_ofmap=dram["ofmap"])


def _rs_walk(layer, rows, cols, p, q, plan, batch, words):
    """Walk a plan's tiles (no pinning): ``(DRAM words, footprint words per operand, fetches, overlapping)``.

    The three loops in the plan's order, outer to inner, over tiles of ``tm`` strips (``strip``: one
    (image, strip); ``image``: an image's strips; ``batch``: all), ``tf`` filter blocks and one
    accumulation step (fold, channel block); the passes of a tile run inside it. Filters: ``step``
    keeps the tile's filters of the current step, ``every`` of every step, ``whole`` the whole tensor,
    ``bypass`` fetches each pass's own; ifmap: ``step`` keeps the tile's input words of the current
    step, ``every`` of every step, ``bypass`` fetches each pass's own; a kept tile is fetched whole
    when the walk reaches a tile with different words. Partial sums: ``keep`` holds the output tile of
    the current (strips, filters) tile, which is written to DRAM when the walk leaves it and read back
    if it returns before its last step; ``bypass`` sends each pass's outputs to DRAM and back between
    steps. Footprint: the largest tile of each kept operand (partial sums only where a layer
    accumulates over more than one step). ``fetches``: per group, for filters and ifmap each tile's
    ``[fetches, words]`` in the order the walk first fetches them (a bypassed operand's tiles: its
    passes, by the loops the operand depends on), for outputs each output's partial-sum write-outs in
    the order the walk first writes them out; ``overlapping``: the operands two of whose tiles share
    words.
    """
    order, tm, tf, filter_mode, ifmap_mode, psum_mode = plan
    sh = words.shape
    n_acc = sh["n_fold"] * sh["n_cblock"]
    units = [(n, strip) for n in range(sh["N"]) for strip in range(sh["n_strip"])]
    m_tiles = {"strip": [[u] for u in units], "image": [[u for u in units if u[0] == n] for n in range(sh["N"])],
               "batch": [units]}[tm]
    blocks = list(range(sh["n_kblock"]))
    f_tiles = [blocks[i:i + tf] for i in range(0, len(blocks), tf)]
    steps = [(fold, cblock) for fold in range(sh["n_fold"]) for cblock in range(sh["n_cblock"])]
    loops = {"m": range(len(m_tiles)), "f": range(len(f_tiles)), "c": range(len(steps))}
    dram = dict(act=0, weight=0, psum_reads=0, psum_writes=0, ofmap=0)
    footprint = dict(W=0, I=0, O=0)
    fetches = [dict(W={}, I={}, O={}) for _ in range(words.groups)]
    overlapping = set()

    for g in range(words.groups):
        seen = dict(W=set(), I=set())  # the words of the tiles fetched so far

        def fetch(operand, tile, key):
            tiles = fetches[g][operand]
            if key in tiles:
                tiles[key][0] += 1
            else:
                tiles[key] = [1, len(tile)]
                if not seen[operand].isdisjoint(tile):
                    overlapping.add(operand)
                seen[operand] |= tile
            dram["weight" if operand == "W" else "act"] += len(tile)

        def tile_words(kind, mi, fi, ci):
            """Distinct words of operand ``kind`` (0 filters, 1 ifmap) over the passes of a tile."""
            result = set()
            for (n, strip) in (m_tiles[mi] if mi is not None else units):
                for block in (f_tiles[fi] if fi is not None else blocks):
                    for fold, cblock in ([steps[ci]] if ci is not None else steps):
                        result |= words.words[(g, (n, strip, block, fold, cblock))][kind]
            return result

        resident = {"W": None, "I": None}
        psum_tile, psum_done, accumulated, in_dram = None, None, {}, set()
        if filter_mode == "whole":
            all_filters = tile_words(0, None, None, None)
            fetch("W", all_filters, "whole")
            footprint["W"] = max(footprint["W"], len(all_filters))
        for index in itertools.product(*(loops[x] for x in order)):
            at = dict(zip(order, index))
            mi, fi, ci = at["m"], at["f"], at["c"]
            # filters
            if filter_mode in ("step", "every"):
                key = (fi, ci) if filter_mode == "step" else (fi,)
                if resident["W"] != key:
                    resident["W"] = key
                    tile = tile_words(0, None, fi, ci if filter_mode == "step" else None)
                    fetch("W", tile, key)
                    footprint["W"] = max(footprint["W"], len(tile))
            elif filter_mode == "bypass":
                for (n, strip) in m_tiles[mi]:
                    for block in f_tiles[fi]:
                        fetch("W", words.words[(g, (n, strip, block) + steps[ci])][0], (block,) + steps[ci])
            # ifmap
            if ifmap_mode in ("step", "every"):
                key = (mi, ci) if ifmap_mode == "step" else (mi,)
                if resident["I"] != key:
                    resident["I"] = key
                    tile = tile_words(1, mi, None, ci if ifmap_mode == "step" else None)
                    fetch("I", tile, key)
                    footprint["I"] = max(footprint["I"], len(tile))
            else:
                for (n, strip) in m_tiles[mi]:
                    for block in f_tiles[fi]:
                        fetch("I", words.words[(g, (n, strip, block) + steps[ci])][1], (n, strip) + steps[ci])
            # partial sums and outputs
            outputs = set()
            for (n, strip) in m_tiles[mi]:
                for block in f_tiles[fi]:
                    outputs |= words.words[(g, (n, strip, block) + steps[ci])][2]
            if psum_mode == "keep":
                if psum_tile != (mi, fi):
                    _evict(psum_done, accumulated, n_acc, dram, in_dram, fetches[g]["O"])
                    psum_tile, psum_done = (mi, fi), set()
                for word in outputs:
                    if word in in_dram:  # comes back for its next accumulation
                        dram["psum_reads"] += 1
                        in_dram.discard(word)
                    accumulated[word] = accumulated.get(word, 0) + 1
                psum_done |= outputs
                if n_acc > 1:
                    footprint["O"] = max(footprint["O"], len(psum_done))
            else:
                for word in outputs:
                    if accumulated.get(word, 0) > 0:
                        dram["psum_reads"] += 1
                    accumulated[word] = accumulated.get(word, 0) + 1
                    if accumulated[word] == n_acc:
                        dram["ofmap"] += 1
                    else:
                        dram["psum_writes"] += 1
                        fetches[g]["O"][word] = fetches[g]["O"].get(word, 0) + 1
        if psum_mode == "keep":
            _evict(psum_done, accumulated, n_acc, dram, in_dram, fetches[g]["O"])
    return dram, footprint, fetches, overlapping


def _evict(tile, accumulated, n_acc, dram, in_dram, written_out):
    """Write a partial-sum tile out of the buffer: finished outputs to the ofmap, the rest to wait."""
    for word in tile or ():
        if accumulated[word] == n_acc:
            dram["ofmap"] += 1
        else:
            dram["psum_writes"] += 1
            written_out[word] = written_out.get(word, 0) + 1
            in_dram.add(word)
