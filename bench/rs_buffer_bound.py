"""The least DRAM traffic of a row-stationary layer on a global buffer, by brute force over loop nests.

Run: ``python bench/rs_buffer_bound.py [--layers conv3 conv4 conv5] [--mappings kernel|every-p|every]
[--variants plain pin halo pin+halo]`` on Eyeriss's configuration (``bench/eyeriss_check.py``: 12 x 14
PEs, 108 KiB = 55,296 16-bit words of buffer, the chip's 16-bit partial sums), Caffe's AlexNet, batch 4.
``--mappings kernel`` (default, half a minute) searches at the ``(p, q)`` the kernel picks; ``every``
at every filter and channel count per PE the scratchpads hold (about 20 minutes for CONV3-5 with two
variants). Written from the loop nest, independently of ``core/kernels.py`` (it imports none of it);
the kernel's figure is ``quidam_fast.evaluate`` with ``objective="dram"``.

The array's passes are fixed by the mapping (``p`` filters and ``q`` channels per PE: one image, one
strip of ``min(P, cols)`` output rows, one block of ``p x sets`` filters, one fold of ``min(R, rows)``
filter rows, one block of ``q`` channels). Above the array this walks a larger plan space than the
kernel's mapper searches:

* every tile size of each of the five pass loops (images ``n``, strips ``s``, filter blocks ``b``,
  folds ``r``, channel blocks ``c``), not only one strip / one image / the batch, one step / every step;
* every order of the loops that run more than once;
* for each operand, any residency level: the tile of the loops inside any point of the nest (from the
  whole tensor down to the buffer tile), or none (each pass fetches its own words); partial sums may
  be held at any level, spilling to DRAM and back whenever an accumulation loop runs outside them;
* ``pin``: buffer left over by the tiles keeps (pins), for good, words fetched more than once, the
  operands saving most per word first (several operands where the spare holds them; a word in two
  tiles counted as saving only its tile's sweeps);
* ``halo``: when a kept ifmap tile moves to the next, the words the two share (the rows of
  neighbouring strips' windows) stay and only the new ones are fetched.

Counts: an operand kept at a level is fetched whole each time its tile changes: its tiles' words (every
distinct tile, the words counted from the convolution's geometry) times the trips of the loops outside
the innermost loop its tile depends on that it does not depend on; its footprint is its largest tile.
A plan fits when the footprints fit. Prices are DRAM words (every operand 16-bit here).

Measured (``--mappings every --variants plain pin``): CONV3 2,007,616 words (0.00336 per MAC), CONV4
1,656,064 (0.00369), CONV5 1,111,680 (0.00372), each equal to the kernel's; every word once is
1,317,376, 1,182,720 and 875,008. Without pinning the least is 2,009,600, 1,701,888 and 1,134,592 (the
kernel before pinning and fewer channels per PE: 2,182,656, 1,701,888, 1,134,592 -- CONV3 needs one
channel per PE so that 80 filters' partial sums for the batch fit, five ifmap sweeps instead of six).
``halo`` changes none of CONV3-5 (one strip each) and saves 57,204 ifmap words (2.6 %) on CONV1 (run
``--layers conv1 --mappings every-p``), which the kernel does not model.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import quidam_fast as qf  # noqa: E402
import eyeriss_check  # noqa: E402

DIMS = ("n", "s", "b", "r", "c")  # images, output-row strips, filter blocks, filter-row folds, channel blocks
RELEVANT = {"W": {"b", "r", "c"}, "I": {"n", "s", "r", "c"}, "O": {"n", "s", "b"}}
REDUCTION = {"r", "c"}


def _ceil_div(a, b):
    return -(-a // b)


@dataclasses.dataclass(frozen=True)
class Grid:
    """The passes of one group of a layer under a mapping, and the words each range of them touches."""
    layer: object
    batch: int
    rows: int
    cols: int
    p: int
    q: int

    def __post_init__(self):
        L = self.layer
        h, e_t = min(L.R, self.rows), min(L.P, self.cols)
        sets = (self.rows // h) * (self.cols // e_t)
        object.__setattr__(self, "h", h)
        object.__setattr__(self, "e_t", e_t)
        object.__setattr__(self, "block", self.p * sets)
        object.__setattr__(self, "Kg", L.K // L.groups)
        object.__setattr__(self, "Cg", L.C // L.groups)
        extent = {"n": L.N * self.batch, "s": _ceil_div(L.P, e_t), "b": _ceil_div(L.K // L.groups, self.p * sets),
                  "r": _ceil_div(L.R, h), "c": _ceil_div(L.C // L.groups, self.q)}
        object.__setattr__(self, "extent", extent)
        columns = {x for col in range(L.Q) for x in range(col * L.stride - L.padding, col * L.stride - L.padding + L.S)
                   if 0 <= x < L.W}
        object.__setattr__(self, "w_used", len(columns))

    # sizes of index ranges (half-open ranges of pass indices)
    def filters(self, b):
        return sum(min(self.block, self.Kg - i * self.block) for i in range(*b))

    def channels(self, c):
        return sum(min(self.q, self.Cg - i * self.q) for i in range(*c))

    def filter_rows(self, r):
        return sum(min(self.h, self.layer.R - i * self.h) for i in range(*r))

    def out_rows(self, s):
        return sum(min(self.e_t, self.layer.P - i * self.e_t) for i in range(*s))

    def input_rows(self, s, r):
        """Real input rows read by output rows of strips ``s`` through filter rows of folds ``r``."""
        cache = self.__dict__.setdefault("_rows", {})
        if (s, r) not in cache:
            cache[(s, r)] = self._input_rows(s, r)
        return cache[(s, r)]

    def _input_rows(self, s, r):
        L = self.layer
        out = [e for i in range(*s) for e in range(i * self.e_t, min((i + 1) * self.e_t, L.P))]
        taps = [t for i in range(*r) for t in range(i * self.h, min((i + 1) * self.h, L.R))]
        return frozenset(y for e in out for t in taps for y in (e * L.stride + t - L.padding,) if 0 <= y < L.H)

    def words(self, operand, ranges):
        n, s, b, r, c = (ranges[d] for d in DIMS)
        if operand == "W":
            return self.filters(b) * self.channels(c) * self.filter_rows(r) * self.layer.S
        if operand == "I":
            return (n[1] - n[0]) * self.channels(c) * len(self.input_rows(s, r)) * self.w_used
        return (n[1] - n[0]) * self.out_rows(s) * self.layer.Q * self.filters(b)


def _ranges(extent, tile, index):
    return (index * tile, min((index + 1) * tile, extent))


class Search:
    """Every plan of one layer under one mapping: ``best(glb_words)``."""

    def __init__(self, grid, pin=False, halo=False):
        self.g, self.pin, self.halo = grid, pin, halo
        self.cache = {}
        self.distinct = {x: grid.words(x, {d: (0, grid.extent[d]) for d in DIMS}) for x in ("W", "I", "O")}

    def tiles(self):
        """Tile sizes per dim: every size giving a distinct trip count."""
        choices = {}
        for d in DIMS:
            e = self.g.extent[d]
            choices[d] = sorted({_ceil_div(e, trips) for trips in range(1, e + 1)})
        return choices

    def operand(self, operand, tile, order, level):
        """(DRAM words, footprint words, fetches of each word) of an operand kept at ``level`` of ``order``
        (``None``: each pass fetches its own)."""
        key = (operand, tuple(tile[d] for d in DIMS), order, level) if level is not None else (operand,)
        if key in self.cache:
            return self.cache[key]
        g = self.g
        trips = {d: _ceil_div(g.extent[d], tile[d]) for d in DIMS}
        if level is None:  # each pass's own words, fetched by every pass (nothing kept)
            total = 0
            for index in itertools.product(*(range(g.extent[d]) for d in DIMS)):
                ranges = {d: (i, i + 1) for d, i in zip(DIMS, index)}
                total += g.words(operand, ranges)
            # each word is fetched equally often where the passes' words overlap only across the loops
            # the operand does not depend on (filters always; inputs where strips and folds share no row)
            distinct = g.words(operand, {d: (0, g.extent[d]) for d in DIMS})
            result = (total, 0, total // distinct if total % distinct == 0 and (
                operand != "I" or self._passes_disjoint()) else 1)
            self.cache[key] = result
            return result
        outer = order[:level]
        keyed = [d for d in outer if d in RELEVANT[operand]]
        sweep, footprint, tiles_seen = 0, 0, []
        for index in itertools.product(*(range(trips[d]) for d in keyed)):
            at = dict(zip(keyed, index))
            ranges = {d: _ranges(g.extent[d], tile[d], at[d]) if d in at else (0, g.extent[d]) for d in DIMS}
            words = g.words(operand, ranges)
            sweep += words
            footprint = max(footprint, words)
            tiles_seen.append(ranges)
        inner = max((i for i, d in enumerate(outer) if d in RELEVANT[operand]), default=-1)
        factor = 1
        for i in range(inner):
            if outer[i] not in RELEVANT[operand]:
                factor *= trips[outer[i]]
        total = sweep * factor
        if self.halo and operand == "I" and keyed:
            total = self._halo_walk(tile, outer, trips)
        result = (total, footprint, factor)
        self.cache[key] = result
        return result

    def _passes_disjoint(self):
        """Whether no input row is read by two (strip, fold) passes."""
        g, seen = self.g, set()
        for s in range(g.extent["s"]):
            for r in range(g.extent["r"]):
                rows = g.input_rows((s, s + 1), (r, r + 1))
                if seen & rows:
                    return False
                seen |= rows
        return True

    def _halo_walk(self, tile, outer, trips):
        """Ifmap words fetched walking the outer loops when words shared with the previous tile stay."""
        g = self.g
        previous, total = None, 0
        for index in itertools.product(*(range(trips[d]) for d in outer)):
            at = dict(zip(outer, index))
            ranges = {d: _ranges(g.extent[d], tile[d], at[d]) if d in at and d in RELEVANT["I"] else (0, g.extent[d])
                      for d in DIMS}
            current = (ranges["n"], ranges["c"], g.input_rows(ranges["s"], ranges["r"]))
            if current == previous:
                continue
            words = (ranges["n"][1] - ranges["n"][0]) * g.channels(ranges["c"]) * len(current[2]) * g.w_used
            if previous is not None:
                n_overlap = max(0, min(current[0][1], previous[0][1]) - max(current[0][0], previous[0][0]))
                c_overlap = g.channels((max(current[1][0], previous[1][0]), min(current[1][1], previous[1][1]))) if (
                    min(current[1][1], previous[1][1]) > max(current[1][0], previous[1][0])) else 0
                words -= n_overlap * c_overlap * len(current[2] & previous[2]) * g.w_used
            total += words
            previous = current
        return total

    def outputs(self, tile, order, level):
        """(partial-sum words each way, footprint words, visits of each output) of outputs held at ``level``."""
        g = self.g
        out_words = g.words("O", {d: (0, g.extent[d]) for d in DIMS})
        steps = g.extent["r"] * g.extent["c"]
        if level is None:  # each pass's outputs to DRAM and back between steps
            return out_words * (steps - 1), 0, steps
        total, footprint, factor = self.operand("O", tile, order, level)
        accumulates = steps > 1
        return out_words * (factor - 1), footprint if accumulates else 0, factor

    def best(self, glb_words):
        g = self.g
        out_words = g.words("O", {d: (0, g.extent[d]) for d in DIMS})
        best = (float("inf"), None)
        tile_choices = self.tiles()
        for sizes in itertools.product(*(tile_choices[d] for d in DIMS)):
            tile = dict(zip(DIMS, sizes))
            looping = [d for d in DIMS if _ceil_div(g.extent[d], tile[d]) > 1]
            for order in itertools.permutations(looping):
                levels = list(range(len(order) + 1)) + [None]
                options = {x: [(lv,) + self.operand(x, tile, order, lv) for lv in levels] for x in ("W", "I")}
                psum_options = [(lv,) + self.outputs(tile, order, lv) for lv in levels]
                for (lw, w_words, w_fp, w_f), (li, i_words, i_fp, i_f), (lo, o_words, o_fp, o_f) in itertools.product(
                        options["W"], options["I"], psum_options):
                    used = w_fp + i_fp + o_fp
                    if used > glb_words:
                        continue
                    words = w_words + i_words + 2 * o_words + out_words
                    if self.pin:
                        words -= self._pinned_savings(glb_words - used, (w_words, w_f, lw), (i_words, i_f, li),
                                                      (o_words, o_f, lo))
                    if words < best[0]:
                        best = (words, dict(tile=tile, order="".join(order), W=lw, I=li, O=lo, dram=dict(
                            W=w_words, I=i_words, psum=o_words, ofmap=out_words)))
        return best

    def _pinned_savings(self, spare, w, i, o):
        """Words saved when ``spare`` buffer words keep, for good, words fetched more than once: an operand
        whose tiles are swept ``f`` times saves ``f - 1`` per word pinned (at least: a word two tiles share
        saves more), partial sums written out ``f - 1`` times ``2 (f - 1)``; the greediest first, several
        operands if the spare holds more than one (the kernel pins one)."""
        gains = []
        distinct = self.distinct
        for name, (_words, factor, _level), per_word in (("W", w, 1), ("I", i, 1), ("O", o, 2)):
            if factor > 1:
                gains.append((per_word * (factor - 1), distinct[name]))
        saved = 0
        for gain, words in sorted(gains, reverse=True):
            take = min(words, spare)
            saved += gain * take
            spare -= take
        return saved


def mappings(layer, spad_ifmap, spad_filter, spad_psum, channels="most"):
    """The (p, q) the scratchpads hold: every q for each p (``channels="every"``) or the most."""
    Kg, Cg = layer.K // layer.groups, layer.C // layer.groups
    for p in range(1, min(spad_psum, Kg, spad_filter // layer.S) + 1):
        q_most = min(Cg, spad_ifmap // layer.S, spad_filter // (p * layer.S))
        for q in range(q_most, 0 if channels == "every" else q_most - 1, -1):
            yield p, q


VARIANTS = {"plain": (False, False), "pin": (True, False), "halo": (False, True), "pin+halo": (True, True)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", nargs="*", default=["conv3", "conv4", "conv5"])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--mappings", choices=["kernel", "every-p", "every"], default="kernel",
                        help="the kernel's (p, q) (seconds per layer), every p with the most channels, or every "
                             "(p, q) (minutes per layer)")
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    space = eyeriss_check.EYERISS_SPACE
    rows, cols = space["rows"][0], space["cols"][0]
    glb_words = space["glb_kib"][0] * 1024 // 2
    tech = eyeriss_check.with_16_bit_psums(qf.load_tech("published-45nm"))
    net = eyeriss_check.eyeriss_conv_layers()
    ds = qf.evaluate(net, {**space, "batch": [args.batch]}, tech, objective="dram").squeeze()
    print(f"Eyeriss's configuration, {glb_words:,} 16-bit words of buffer, batch {args.batch}, 16-bit partial sums; "
          f"DRAM words per layer (kernel: objective='dram'); mappings: {args.mappings}")
    for i, layer in enumerate(net.layers):
        if layer.name not in args.layers:
            continue
        kernel_words = float(ds.layer_dram_read_bytes[i] + ds.layer_dram_write_bytes[i]) / 2
        macs = float(ds.layer_macs[i]) * args.batch
        p_kernel, q_kernel = int(ds.layer_rs_filters_per_pe[i]), int(ds.layer_rs_channels_per_pe[i])
        whole = Grid(layer, args.batch, rows, cols, 1, 1)
        compulsory = (layer.K * (layer.C // layer.groups) * layer.R * layer.S
                      + args.batch * layer.C * len(whole.input_rows((0, 10**6), (0, 10**6))) * whole.w_used
                      + args.batch * layer.K * layer.P * layer.Q)
        print(f"\n{layer.name}: kernel {kernel_words:,.0f} ({kernel_words / macs:.5f}/MAC, p={p_kernel} q={q_kernel}); "
              f"every word once {compulsory:,.0f} ({compulsory / macs:.5f}/MAC)")
        if args.mappings == "kernel":
            candidates = [(p_kernel, q_kernel)]
        else:
            candidates = list(mappings(layer, space["spad_ifmap"][0], space["spad_filter"][0], space["spad_psum"][0],
                                       "every" if args.mappings == "every" else "most"))
        started = time.perf_counter()
        for variant in args.variants:
            pin, halo = VARIANTS[variant]
            best = (float("inf"), None, None)
            for p, q in candidates:
                words, plan = Search(Grid(layer, args.batch, rows, cols, p, q), pin=pin, halo=halo).best(glb_words)
                if words * layer.groups < best[0]:
                    best = (words * layer.groups, (p, q), plan)
            words, (p, q), plan = best
            print(f"  {variant:<9} best {words:>11,.0f} ({words / macs:.5f}/MAC, {words / kernel_words - 1:+.1%} vs "
                  f"kernel) at p={p} q={q}: tiles {plan['tile']}, order {plan['order']}, kept at W {plan['W']} "
                  f"I {plan['I']} O {plan['O']} (None: each pass's own), before pinning {plan['dram']}")
        print(f"  [{time.perf_counter() - started:.0f} s]")


if __name__ == "__main__":
    main()
