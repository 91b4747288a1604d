"""Python reference models of the generated designs, and the operand streams that drive them.

The models are written from the arithmetic (two's complement products, shifts, IEEE-754 via numpy),
never from the Verilog. A stream is a list of input vectors (``{port: unsigned int}``), one per clock
cycle; :func:`expected_outputs` gives, for each cycle, the outputs sampled just before that cycle's
rising edge (``None`` where the state is still undefined).

Two kinds of stream:

- ``uniform``: operands drawn uniformly over their whole code space (plus IEEE specials for ``fp``),
  for verification;
- ``realistic``: operands shaped like a trained network's (activations post-ReLU: half zeros, the rest
  half-normal, clipped at 3 sigma or, where tighter (4 bits and fewer), at the range LSQ starts from,
  ``2 mean|x| sqrt(qmax)`` (Esser et al., ICLR 2020; the activation quantizer of
  :mod:`quidam_fast.quant`), so a 2-bit stream is not almost all zeros; weights normal with 3 sigma at full scale, as
  per-channel max scaling gives; LightPE weights the signed power-of-two codes of normal weights;
  reductions of 64 products between clears), for switching activity.

Scratchpads and pipeline registers store words of any width (up to 80-bit partial sums): their data
come from :func:`_data_words`, uniform codes or normal values with 3 sigma at full scale.
"""

from __future__ import annotations

import numpy as np

from .rtl import FP_FORMATS, Design

REDUCTION = 64  # products per reduction in the realistic stream (a clear every 64 cycles)
ACTIVATION_MEAN_ABS = 0.5 * np.sqrt(2.0 / np.pi)  # E|x| of the realistic activations: half zeros, half |N(0, 1)|


# ----------------------------------------------------------------------------- helpers


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _wrap(value: int, bits: int) -> int:
    return value & ((1 << bits) - 1)


def _fp_dtypes(bits: int):
    return (np.float16, np.uint16) if bits == 16 else (np.float32, np.uint32)


def fp_from_bits(code: int, bits: int) -> float:
    """The value of an IEEE-754 code (binary16 or binary32)."""
    ftype, utype = _fp_dtypes(bits)
    return float(np.array([code], dtype=utype).view(ftype)[0])


def _fp_ftz(code: int, bits: int) -> int:
    """Flush a subnormal code to signed zero and canonicalize NaN, as the hardware does."""
    E, F = FP_FORMATS[bits]
    exp = (code >> F) & ((1 << E) - 1)
    frac = code & ((1 << F) - 1)
    if exp == 0:
        return code & (1 << (bits - 1))
    if exp == (1 << E) - 1 and frac:
        return ((1 << E) - 1) << F | 1 << (F - 1)
    return code


def fp_mac(acc: int, a: int, w: int, clr: bool, bits: int) -> int:
    """One non-fused multiply-add ``acc + a*w`` (or ``a*w`` when ``clr``) on IEEE codes, flush-to-zero."""
    ftype, utype = _fp_dtypes(bits)

    def val(code):
        return np.array([_fp_ftz(code, bits)], dtype=utype).view(ftype)

    def code(x):
        return _fp_ftz(int(x.view(utype)[0]), bits)

    with np.errstate(all="ignore"):
        p = code(val(a) * val(w))
        if clr:
            return p
        return code(val(acc) + val(p))


# ----------------------------------------------------------------------------- reference models


def expected_outputs(design: Design, stream: list[dict]) -> list[tuple]:
    """Per cycle, the outputs just before the rising edge; ``None`` where undefined."""
    out = []
    if design.kind == "reg":
        return [(None,)] + [(v["d"],) for v in stream[:-1]]
    if design.kind == "spad":
        mem: dict[int, int] = {}
        for v in stream:
            r = v["raddr"]
            out.append((mem.get(r) if r < design.words else 0,))
            if v["we"] and v["waddr"] < design.words:
                mem[v["waddr"]] = v["wdata"]
        return out
    acc_bits = design.params["accumulator_bits"]
    bits = design.bits
    acc = None
    for v in stream:
        out.append((acc,))
        if design.kind == "fp":
            if acc is None and not v["clr"]:
                continue
            acc = fp_mac(acc or 0, v["a"], v["w"], v["clr"], bits)
            continue
        a = _signed(v["a"], bits)
        if design.kind == "int":
            p = a * _signed(v["w"], bits)
        elif design.kind == "lightpe1":
            p = _pow2_term(a, v["w"] & 0x1F)
        else:  # lightpe2
            p = _pow2_term(a, (v["w"] >> 5) & 0x1F) + _pow2_term(a, v["w"] & 0x1F)
        if v["clr"]:
            acc = _wrap(p, acc_bits)
        elif acc is not None:
            acc = _wrap(acc + p, acc_bits)
    return out


def _pow2_term(a: int, code: int) -> int:
    """0 or ``+-(a << e)`` for a code ``{zero, sign, e[2:0]}``."""
    if code & 16:
        return 0
    term = a << (code & 7)
    return -term if code & 8 else term


# ----------------------------------------------------------------------------- streams


def stream(design: Design, cycles: int, kind: str = "uniform", seed: int = 0) -> list[dict]:
    """An operand stream of ``cycles`` input vectors for ``design`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    if design.kind == "spad":
        return _spad_stream(design, cycles, kind, rng)
    if design.kind == "reg":
        return [{"d": int(x)} for x in _data_words(design.bits, cycles, kind, rng)]
    bits = design.bits
    n = cycles
    if kind == "uniform":
        clr = (rng.random(n) < 0.1).astype(int)
        clr[0] = 1
        if design.kind == "fp":
            a, w = _fp_uniform(bits, n, rng), _fp_uniform(bits, n, rng)
        else:
            a = rng.integers(0, 1 << bits, n)
            wb = design.params["weight_bits"]
            w = rng.integers(0, 1 << wb, n)
    elif kind == "realistic":
        clr = (np.arange(n) % REDUCTION == 0).astype(int)
        act = np.where(rng.random(n) < 0.5, 0.0, np.abs(rng.normal(0.0, 1.0, n)))
        wt = rng.normal(0.0, 1.0, n)
        if design.kind == "fp":
            ftype, utype = _fp_dtypes(bits)
            a = act.astype(ftype).view(utype).astype(np.int64)
            w = (0.05 * wt).astype(ftype).view(utype).astype(np.int64)
        else:
            top = (1 << (bits - 1)) - 1
            # clipping range: LSQ's initial one, 2 E|x| sqrt(qmax), where it is tighter than 3 sigma (4 bits
            # and fewer); beyond, LSQ's initial range grows without bound (9 sigma at 8 bits), far from
            # where trained step sizes settle, so 3 sigma as for the weights
            clip = min(2.0 * ACTIVATION_MEAN_ABS * np.sqrt(top), 3.0)
            a = np.clip(np.round(act / clip * top), 0, top).astype(np.int64)
            if design.kind == "int":
                w = np.clip(np.round(wt / 3.0 * top), -top - 1, top).astype(np.int64) & ((1 << bits) - 1)
            elif design.kind == "lightpe1":
                w = _pow2_code(wt / 3.0)
            else:
                first = _pow2_code(wt / 3.0)
                residual = wt / 3.0 - _pow2_value(first)
                w = (first << 5) | _pow2_code(residual)
    else:
        raise ValueError(f"unknown stream kind {kind!r}")
    return [{"clr": int(c), "a": int(x), "w": int(y)} for c, x, y in zip(clr, a, w)]


def _pow2_code(x: np.ndarray) -> np.ndarray:
    """Nearest of 0 and +-2**(e-7), e in 0..7, as codes ``{zero, sign, e}`` (the rounding of
    :func:`quidam_fast.quant.quantizers.round_pow2` with the channel's top exponent at 0)."""
    a = np.abs(x)
    floor = np.floor(np.log2(np.maximum(a, 1e-30)))
    nearest = np.where(a >= 1.5 * 2.0**floor, floor + 1, floor)  # nearest in the linear domain
    e = np.clip(nearest + 7, 0, 7).astype(np.int64)
    zero = a < 0.5 * 2.0**-7
    return np.where(zero, 16, np.where(x < 0, 8, 0) | e)


def _pow2_value(code: np.ndarray) -> np.ndarray:
    return np.where(code & 16, 0.0, np.where(code & 8, -1.0, 1.0) * 2.0 ** ((code & 7) - 7))


def _fp_uniform(bits: int, n: int, rng) -> np.ndarray:
    """Random normal numbers with exponents within +-6 of the bias; 2% zeros/subnormals, 0.5% inf/NaN, 1% huge."""
    E, F = FP_FORMATS[bits]
    bias = (1 << (E - 1)) - 1
    sign = rng.integers(0, 2, n)
    exp = rng.integers(bias - 6, bias + 7, n)
    frac = rng.integers(0, 1 << F, n)
    special = rng.random(n)
    exp = np.where(special < 0.02, 0, exp)  # zero (or subnormal when frac != 0: read as zero)
    exp = np.where((special >= 0.02) & (special < 0.025), (1 << E) - 1, exp)  # inf / NaN
    exp = np.where((special >= 0.025) & (special < 0.035), (1 << E) - 2, exp)  # huge: overflows
    frac = np.where((special >= 0.02) & (special < 0.0225), 0, frac)  # inf rather than NaN
    return (sign << (bits - 1)) | (exp << F) | frac


def _spad_stream(design: Design, cycles: int, kind: str, rng) -> list[dict]:
    words, bits = design.words, design.bits
    ab = design.params["address_bits"]
    n = cycles
    if kind == "uniform":
        # write every word first, then random mixed traffic (including out-of-range addresses)
        we = np.concatenate([np.ones(words, int), (rng.random(n) < 0.5).astype(int)])
        waddr = np.concatenate([np.arange(words), rng.integers(0, 1 << ab, n)])
        wdata = _data_words(bits, words + n, "uniform", rng)
        raddr = rng.integers(0, 1 << ab, words + n)
    elif kind in ("read", "write"):
        # realistic data: normal values, 3 sigma at full scale. Realistic addresses: a PE walks its
        # scratchpads in loop order (row-stationary: filter rows tap by tap, a sliding ifmap window, the
        # partial sums filter by filter), so consecutive accesses are to consecutive words, wrapping
        # around; uniform random addresses would charge every access a random walk of the decoder
        wdata = _data_words(bits, n, "realistic", rng)
        addr = (rng.integers(0, words) + np.arange(n)) % words
        if kind == "read":
            we, waddr, raddr = np.zeros(n, int), np.zeros(n, int), addr
            wdata = np.zeros(n, int)
        else:
            we, waddr, raddr = np.ones(n, int), addr, np.zeros(n, int)
    elif kind == "idle":
        # clock only: every input constant
        we = waddr = wdata = raddr = np.zeros(n, int)
    else:
        raise ValueError(f"unknown stream kind {kind!r}")
    return [
        {"we": int(a), "waddr": int(b), "wdata": int(c), "raddr": int(d)}
        for a, b, c, d in zip(we, waddr, wdata, raddr)
    ]


def _data_words(bits: int, n: int, kind: str, rng) -> np.ndarray:
    """Stored words of any width (Python ints): uniform codes, or (``realistic``) values normal with
    3 sigma at full scale, in two's complement."""
    if kind == "uniform":
        return np.array([int(x) | int(y) << 62 for x, y in zip(rng.integers(0, 1 << min(bits, 62), n),
                                                                 rng.integers(0, 1 << max(bits - 62, 0), n))],
                        dtype=object)
    if kind != "realistic":
        raise ValueError(f"unknown stream kind {kind!r}")
    # a float has 53 bits: beyond 48 bits, the top 48 are drawn normal and the rest uniform (the low
    # bits of wide partial sums are as good as random)
    high = min(bits, 48)
    top = (1 << (high - 1)) - 1 if high > 1 else 1
    values = np.clip(np.round(rng.normal(0.0, top / 3.0, n)), -top - 1, top)
    low = [int(x) for x in rng.integers(0, 1 << (bits - high), n)] if bits > high else [0] * n
    return np.array([((int(v) << (bits - high)) | x) & ((1 << bits) - 1) for v, x in zip(values, low)], dtype=object)


def bit_activity(values: list[int], bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per bit of a port: toggle rate (transitions per cycle) and duty (fraction of cycles at 1)."""
    v = np.asarray(values, dtype=object)
    mat = np.array([[(int(x) >> b) & 1 for b in range(bits)] for x in v], dtype=np.int8)
    duty = mat.mean(axis=0)
    toggles = np.abs(np.diff(mat, axis=0)).mean(axis=0) if len(mat) > 1 else np.zeros(bits)
    return toggles, duty
