"""Technology tables: PPA models of the building blocks, loaded from cited data files.

A technology is a TOML file in ``quidam_fast/data/tech/`` (or any path) with this schema:

``[pe.<pe_type>]`` for ``fp``, ``int``, ``lightpe1``, ``lightpe2``
    ``bits_range = [lo, hi]`` (contiguous valid operand widths) or ``bits_values = [...]``;
    ``weight_bits`` (0: same as ``bits``; otherwise the stored weight code width);
    polynomials in ``bits`` as ascending coefficient lists: ``accumulator_bits``, ``mac_area_um2``,
    ``mac_energy_pj`` (dynamic energy per MAC), ``mac_leakage_uw``.
    Optional ``[pe.<pe_type>.measured]``: widths where measured values are used as they are instead of
    the polynomials (a regime no smooth model in bits follows, e.g. ternary 2-bit integers): ``bits``
    and, one value per width, ``mac_area_um2``, ``mac_energy_pj``, ``mac_leakage_uw``. These widths are
    valid besides the range.
    Optional ``[pe.<pe_type>.timing]``: the critical path measured at synthesized widths, ``bits`` and
    ``critical_path_ns`` (one value per width), interpolated linearly between them (so between two
    widths it lies between their measurements: a clock both clear is never refused). It must cover
    every valid width. Without it the PE type has no timing and any clock is allowed.
``[timing]`` (required with any ``[pe.<type>.timing]``)
    ``margin_ns``: what a clock period must leave beyond the critical path (valid when
    ``critical_path_ns + margin_ns <= 1000 / clock_mhz``).
``[spad]``
    per-PE register-file scratchpad, 2-D polynomials in capacity ``w`` (words) and width ``b`` (bits),
    as terms ``[coef, power_of_w, power_of_b]``: ``area_um2``, ``read_energy_pj``, ``write_energy_pj``,
    ``leakage_uw``.
``[register]``
    a systolic PE's pipeline register (loaded every cycle the PE works, read by wire), polynomials in
    its width ``bits``: ``area_um2``, ``write_energy_pj`` (per cycle written), ``leakage_uw``.
``[glb]``
    SRAM global buffer as a table of points (``capacity_bytes``, ``width_bits``, ``read_energy_pj``,
    ``write_energy_pj``, ``leakage_mw``, ``area_mm2``), interpolated bilinearly in log capacity and log
    width (linear extrapolation in log-log beyond the table's widths); ``row_bits``: the physical width
    of the buffer's rows (within the table's widths), at which its area, leakage and access energy are
    taken (:meth:`Technology.glb_word_cost`).
``[wire]``
    on-chip signal wires of the array network: ``capacitance_pf_per_mm`` (> 0), ``vdd_v`` (> 0) and
    ``toggle_probability`` (in (0, 1]: how often a wire changes per bit sent);
    energy per bit per mm = ``toggle_probability x 0.5 x C x Vdd^2`` (:attr:`Technology.wire_energy_pj_per_bit_mm`).
``[dram]``
    ``energy_pj_per_bit``; more than a buffer row's energy per bit at the table's smallest capacity
    (otherwise no buffer saves energy and the file supports no memory hierarchy).

Every section carries a ``source`` string. The engine evaluates these models once per unique axis value
(a few hundred numbers), never per design point.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
from importlib import resources
from pathlib import Path

import numpy as np

from ._files import read_user_text
from .errors import QuidamInputError

PE_TYPES = ("fp", "int", "lightpe1", "lightpe2")
DEFAULT_TECH = "characterized-osu018"  # the project's own synthesis flow (quidam-fast characterize)
_PE_KEYS = ("accumulator_bits", "mac_area_um2", "mac_energy_pj", "mac_leakage_uw")
_MEASURED_KEYS = ("mac_area_um2", "mac_energy_pj", "mac_leakage_uw")
_WIRE_KEYS = ("capacitance_pf_per_mm", "vdd_v", "toggle_probability")
_REGISTER_KEYS = ("area_um2", "write_energy_pj", "leakage_uw")
_SPAD_KEYS = ("area_um2", "read_energy_pj", "write_energy_pj", "leakage_uw")
_GLB_KEYS = ("capacity_bytes", "width_bits", "read_energy_pj", "write_energy_pj", "leakage_mw", "area_mm2")


@dataclasses.dataclass(frozen=True)
class Technology:
    """A loaded technology file (see the module docstring for the schema)."""

    name: str
    node_nm: float
    summary: str
    data: dict
    source_text: str

    def __post_init__(self):
        # built directly (Technology(...)), a technology is checked as load_tech checks a file
        if not isinstance(self.data, dict):
            raise QuidamInputError(f"Technology: data must be the dict of a technology file, got {type(self.data).__name__}")
        source = f"technology {self.name!r}"
        _check_schema(self.data, source)
        _check_values(self.data, source)
        if self.name != self.data["name"] or self.node_nm != self.data["node_nm"]:
            raise QuidamInputError(f"{source}: name and node_nm must be those of its data "
                                   f"({self.data['name']!r}, {self.data['node_nm']!r})")

    # --- processing elements ------------------------------------------------------------------

    def valid_bits(self, pe_type: str, bits: int) -> bool:
        """Whether ``pe_type`` is characterized at operand width ``bits``."""
        pe = self.data["pe"][pe_type]
        if bits in pe.get("measured", {}).get("bits", ()):
            return True
        if "bits_values" in pe:
            return int(bits) in pe["bits_values"]
        lo, hi = pe["bits_range"]
        return lo <= bits <= hi

    def pe_cost(self, pe_type: str, bits: int) -> dict[str, float]:
        """MAC costs and word widths of one PE type at ``bits`` (NaN where not ``valid_bits``).

        Returns ``mac_area_um2``, ``mac_energy_pj``, ``mac_leakage_uw``, ``critical_path_ns`` (the
        measured critical path, interpolated linearly between measured widths; NaN if the PE type has no
        timing), ``min_clock_period_ns`` (``critical_path_ns`` plus the file's timing margin: a clock is
        valid when its period is at least this), ``act_bits``, ``weight_bits`` and ``psum_bits``.

        >>> tech = load_tech("characterized-osu018")
        >>> round(tech.pe_cost("int", 8)["critical_path_ns"], 5)  # measured at 8 bits, as it is
        4.79262
        """
        pe = self.data["pe"][pe_type]
        cost = {key: _poly1(pe[key], bits) for key in ("mac_area_um2", "mac_energy_pj", "mac_leakage_uw")}
        timing = pe.get("timing")
        if timing is not None:
            order = np.argsort(timing["bits"])
            cost["critical_path_ns"] = float(np.interp(bits, np.asarray(timing["bits"], dtype=float)[order],
                                                       np.asarray(timing["critical_path_ns"], dtype=float)[order]))
        else:
            cost["critical_path_ns"] = math.nan
        cost["min_clock_period_ns"] = cost["critical_path_ns"] + self.timing_margin_ns if timing is not None else math.nan
        cost["act_bits"] = float(bits)
        cost["weight_bits"] = float(pe["weight_bits"] or bits)
        cost["psum_bits"] = float(math.ceil(_poly1(pe["accumulator_bits"], bits)))
        measured = pe.get("measured", {})
        if bits in measured.get("bits", ()):
            at = measured["bits"].index(bits)
            for key in _MEASURED_KEYS:
                cost[key] = float(measured[key][at])
        if not self.valid_bits(pe_type, bits):
            cost = {key: math.nan for key in cost}
        return cost

    @property
    def timing_margin_ns(self) -> float:
        """What a clock period must leave beyond the critical path (``[timing] margin_ns``; 0 without timing)."""
        return float(self.data.get("timing", {}).get("margin_ns", 0.0))

    # --- storage ------------------------------------------------------------------------------

    def register_cost(self, width_bits: float) -> dict[str, float]:
        """Pipeline register of ``width_bits``: ``area_um2``, ``write_energy_pj``, ``leakage_uw``."""
        return {key: _poly1(self.data["register"][key], width_bits) for key in _REGISTER_KEYS}

    def spad_cost(self, words, width_bits) -> dict[str, np.ndarray]:
        """Register-file scratchpad: ``area_um2``, ``read_energy_pj``, ``write_energy_pj``, ``leakage_uw``."""
        words = np.asarray(words, dtype=np.float64)
        width_bits = np.asarray(width_bits, dtype=np.float64)
        return {key: _poly2(self.data["spad"][key], words, width_bits) for key in _SPAD_KEYS}

    @property
    def glb_kib_range(self) -> tuple[float, float]:
        """The smallest and largest global-buffer capacity (KiB) the SRAM table covers.

        >>> load_tech("published-45nm").glb_kib_range
        (0.5, 2048.0)
        """
        capacities = self.data["glb"]["capacity_bytes"]
        return min(capacities) / 1024, max(capacities) / 1024

    def check_glb_kib(self, glb_kib, source: str = "design space") -> None:
        """Raise :class:`QuidamInputError` if a ``glb_kib`` value lies outside the SRAM table.

        :meth:`glb_cost` refuses such capacities (it interpolates, never extrapolates, in capacity);
        this check lets a caller refuse them before any evaluation starts.
        """
        lo, hi = self.glb_kib_range
        outside = [value for value in glb_kib if not lo <= value <= hi]
        if outside:
            raise QuidamInputError(
                f"{source}: glb_kib = {outside[0]!r} is outside the SRAM table of technology {self.name!r}; "
                f"allowed with it: {lo:g} to {hi:g} KiB"
            )

    def glb_cost(self, capacity_bytes, width_bits) -> dict[str, np.ndarray]:
        """SRAM global buffer per access and per macro: ``read_energy_pj``, ``write_energy_pj``,
        ``leakage_mw``, ``area_mm2`` at the given capacity and word width (broadcast)."""
        glb = self.data["glb"]
        capacities = np.unique(glb["capacity_bytes"]).astype(float)
        widths = np.unique(glb["width_bits"]).astype(float)
        capacity_bytes = np.asarray(capacity_bytes, dtype=np.float64)
        width_bits = np.asarray(width_bits, dtype=np.float64)
        if np.any(capacity_bytes < capacities[0]) or np.any(capacity_bytes > capacities[-1]):
            raise QuidamInputError(
                f"technology {self.name!r}: global buffer capacity outside its SRAM table "
                f"({capacities[0]:.0f} to {capacities[-1]:.0f} bytes); got {np.unique(capacity_bytes).tolist()}"
            )
        out = {}
        for key in ("read_energy_pj", "write_energy_pj", "leakage_mw", "area_mm2"):
            grid = np.empty((capacities.size, widths.size))
            for c, w, v in zip(glb["capacity_bytes"], glb["width_bits"], glb[key]):
                grid[np.searchsorted(capacities, c), np.searchsorted(widths, w)] = v
            if np.all(grid > 0):  # power laws: interpolate in log-log
                out[key] = np.exp(_bilinear(np.log(capacities), np.log(widths), np.log(grid),
                                            np.log(capacity_bytes), np.log(width_bits)))
            else:  # a zero (e.g. no leakage) has no logarithm: interpolate the values themselves
                out[key] = _bilinear(np.log(capacities), np.log(widths), grid, np.log(capacity_bytes), np.log(width_bits))
        return out

    @property
    def glb_row_bits(self) -> float:
        """The physical width of the global buffer's rows (``[glb] row_bits``)."""
        return float(self.data["glb"]["row_bits"])

    def glb_word_cost(self, capacity_bytes, word_bits) -> dict[str, np.ndarray]:
        """Global buffer per word of ``word_bits`` accessed in sequence, and per macro.

        The buffer is an SRAM of ``row_bits``-wide rows; a row access costs :meth:`glb_cost` at that
        width. Words are packed into rows in the order the array streams them (every stream of the
        modelled dataflows walks consecutive words of an operand tile: an activation or filter row, a
        partial-sum row), so one row access serves ``row_bits / word_bits`` words and a word costs
        ``row energy x word_bits / row_bits`` (a word wider than a row spans ``word_bits / row_bits``
        rows). This is Timeloop's ``block-size`` accounting (Parashar et al., ISPASS 2019). Returns
        ``read_energy_pj`` and ``write_energy_pj`` per word, ``leakage_mw`` and ``area_mm2`` of the
        macro.

        >>> tech = load_tech("published-45nm")
        >>> row = float(tech.glb_cost(65536, 64)["read_energy_pj"])
        >>> bool(np.isclose(tech.glb_word_cost(65536, 8)["read_energy_pj"], row / 8))
        True
        """
        row_bits = self.glb_row_bits
        row = self.glb_cost(capacity_bytes, row_bits)
        share = np.asarray(word_bits, dtype=np.float64) / row_bits
        return {"read_energy_pj": row["read_energy_pj"] * share, "write_energy_pj": row["write_energy_pj"] * share,
                "leakage_mw": row["leakage_mw"], "area_mm2": row["area_mm2"]}

    @property
    def wire_energy_pj_per_bit_mm(self) -> float:
        """Energy of sending one bit over 1 mm of on-chip wire: ``toggle_probability x C V^2 / 2``.

        A wire's capacitance ``C`` (per mm) is charged to ``Vdd`` on a rising transition and discharged
        on a falling one; each transition dissipates ``C Vdd^2 / 2``; a bit changes the wire with
        probability ``toggle_probability`` (1/2 for uncorrelated data).

        >>> round(load_tech("published-45nm").wire_energy_pj_per_bit_mm, 5)  # 0.5 x 0.2 pF x (0.9 V)^2 / 2
        0.0405
        """
        wire = self.data["wire"]
        return float(wire["toggle_probability"] * 0.5 * wire["capacitance_pf_per_mm"] * wire["vdd_v"] ** 2)

    @property
    def dram_energy_pj_per_bit(self) -> float:
        return float(self.data["dram"]["energy_pj_per_bit"])


def _poly1(coefficients, x):
    return float(sum(c * float(x) ** i for i, c in enumerate(coefficients)))


def _poly2(terms, w, b):
    return sum(coef * w**pw * b**pb for coef, pw, pb in terms) + np.zeros(np.broadcast(w, b).shape)


def _bilinear(xs, ys, grid, x, y):
    """Bilinear interpolation on a rectilinear grid; linear extrapolation along ``y`` outside it."""
    i = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, xs.size - 2)
    j = np.clip(np.searchsorted(ys, y, side="right") - 1, 0, ys.size - 2)
    tx = (x - xs[i]) / (xs[i + 1] - xs[i])
    ty = (y - ys[j]) / (ys[j + 1] - ys[j])
    return (
        grid[i, j] * (1 - tx) * (1 - ty)
        + grid[i + 1, j] * tx * (1 - ty)
        + grid[i, j + 1] * (1 - tx) * ty
        + grid[i + 1, j + 1] * tx * ty
    )


def tech_names() -> list[str]:
    """Technologies shipped with the package."""
    folder = resources.files("quidam_fast").joinpath("data", "tech")
    return sorted(entry.name[: -len(".toml")] for entry in folder.iterdir() if entry.name.endswith(".toml"))


def load_tech(name_or_path: str | Path = DEFAULT_TECH) -> Technology:
    """Load a shipped technology by name (see :func:`tech_names`) or a TOML file by path.

    >>> load_tech("published-45nm").node_nm
    45
    """
    key = str(name_or_path)
    if key in tech_names():
        text = resources.files("quidam_fast").joinpath("data", "tech", f"{key}.toml").read_text()
        source = f"technology {key!r}"
    else:
        path = Path(key)
        if path.suffix != ".toml" or not path.exists():
            raise QuidamInputError(
                f"unknown technology {key!r}; allowed: {', '.join(tech_names())}, or a path to a .toml technology file"
            )
        text, source = read_user_text(path, "technology file"), str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise QuidamInputError(f"{source}: not valid TOML ({error})") from None
    _check_schema(data, source)
    _check_values(data, source)
    return Technology(name=data["name"], node_nm=data["node_nm"], summary=data.get("summary", ""),
                      data=data, source_text=text)


def _is_number(value) -> bool:
    """A finite TOML number (``bool`` is not a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_schema(data: dict, source: str) -> None:
    """Every key the engine reads is present and of the type and sign it needs.

    Polynomial coefficients may be negative (fits); table values (energies, areas, leakage) may not.
    """

    def need(table, key, where):
        if not isinstance(table, dict):
            raise QuidamInputError(f"{source}: [{where}] must be a table, got {table!r}")
        if key not in table:
            raise QuidamInputError(f"{source}: [{where}] lacks the key {key!r}")
        return table[key]

    def bad(where, key, value, allowed):
        return QuidamInputError(f"{source}: [{where}] {key} = {_short(value)} is not allowed; it must be {allowed}")

    def number(table, key, where, minimum=0.0, strict=False):
        value = need(table, key, where)
        if not _is_number(value) or value < minimum or (strict and value == minimum):
            raise bad(where, key, value, f"a finite number {'>' if strict else '>='} {minimum:g}")
        return value

    def number_list(table, key, where, minimum=None, length=None):
        values = need(table, key, where)
        if (not isinstance(values, list) or not values or (length is not None and len(values) != length)
                or not all(_is_number(v) and (minimum is None or v >= minimum) for v in values)):
            what = f"a list of {length or 'one or more'} finite numbers" + (f" >= {minimum:g}" if minimum is not None else "")
            raise bad(where, key, values, what)
        return values

    def int_list(table, key, where, minimum=1):
        values = need(table, key, where)
        if not isinstance(values, list) or not values or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values):
            raise bad(where, key, values, f"a list of integers >= {minimum}")
        return values

    if not isinstance(need(data, "name", "top level"), str) or not data["name"]:
        raise bad("top level", "name", data["name"], "a non-empty string")
    number(data, "node_nm", "top level", strict=True)
    pes = need(data, "pe", "top level")
    has_timing = False
    for pe_type in PE_TYPES:
        where = f"pe.{pe_type}"
        pe = need(pes, pe_type, "pe")
        if not isinstance(pe, dict):
            raise QuidamInputError(f"{source}: [{where}] must be a table, got {_short(pe)}")
        if ("bits_range" in pe) == ("bits_values" in pe):
            raise QuidamInputError(f"{source}: [{where}] needs exactly one of bits_range, bits_values")
        if "bits_range" in pe:
            bits_range = int_list(pe, "bits_range", where)
            if len(bits_range) != 2 or bits_range[0] > bits_range[1]:
                raise bad(where, "bits_range", bits_range, "[lo, hi] with 1 <= lo <= hi")
        else:
            int_list(pe, "bits_values", where)
        weight_bits = need(pe, "weight_bits", where)
        if not isinstance(weight_bits, int) or isinstance(weight_bits, bool) or weight_bits < 0:
            raise bad(where, "weight_bits", weight_bits, "an integer >= 0 (0: the same as bits)")
        for key in _PE_KEYS:
            number_list(pe, key, where)  # ascending polynomial coefficients in bits; fits may have negative terms
        if "critical_path_ns" in pe:
            raise QuidamInputError(
                f"{source}: [{where}] critical_path_ns is not read; timing is a table of measured widths: "
                f"[{where}.timing] bits = [...], critical_path_ns = [...]")
        if "measured" in pe:
            _check_measured(pe, f"{where}.measured", source, bad, number_list, int_list)
        if "timing" in pe:
            _check_timing(pe, f"{where}.timing", source, bad, number_list, int_list)
            has_timing = True
    spad = need(data, "spad", "top level")
    for key in _SPAD_KEYS:
        terms = need(spad, key, "spad")
        if not isinstance(terms, list) or not terms or not all(
                isinstance(t, list) and len(t) == 3 and all(_is_number(v) for v in t) and t[1] >= 0 and t[2] >= 0
                for t in terms):
            raise bad("spad", key, terms, "a list of [coefficient, power_of_words, power_of_bits] terms of finite "
                      "numbers, powers >= 0")
    register = need(data, "register", "top level")
    for key in _REGISTER_KEYS:
        number_list(register, key, "register")  # ascending polynomial coefficients in bits
    glb = need(data, "glb", "top level")
    columns = {}
    for key in _GLB_KEYS:
        positive = key in ("capacity_bytes", "width_bits")
        columns[key] = number_list(glb, key, "glb", minimum=0.0)
        if positive and min(columns[key]) <= 0:
            raise bad("glb", key, columns[key], "a list of finite numbers > 0")
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise QuidamInputError(f"{source}: [glb] columns have different lengths {sorted(lengths)}")
    points = list(zip(columns["capacity_bytes"], columns["width_bits"]))
    capacities, widths = sorted(set(columns["capacity_bytes"])), sorted(set(columns["width_bits"]))
    if len(capacities) < 2 or len(widths) < 2 or len(set(points)) != len(points) or len(points) != len(capacities) * len(widths):
        raise QuidamInputError(
            f"{source}: [glb] capacity_bytes x width_bits must be a full grid, each pair once, of at least 2 "
            f"capacities and 2 widths (got {len(capacities)} capacities, {len(widths)} widths, {len(points)} points)"
        )
    row_bits = number(glb, "row_bits", "glb", strict=True)
    if not widths[0] <= row_bits <= widths[-1]:
        raise bad("glb", "row_bits", row_bits, f"within the table's widths, {widths[0]:g} to {widths[-1]:g} bits")
    if has_timing:
        number(need(data, "timing", "top level"), "margin_ns", "timing")
    if "noc" in data:
        raise QuidamInputError(f"{source}: [noc] is not read; the array network is priced from its wires: "
                               f"[wire] {', '.join(_WIRE_KEYS)}")
    wire = need(data, "wire", "top level")
    number(wire, "capacitance_pf_per_mm", "wire", strict=True)
    number(wire, "vdd_v", "wire", strict=True)
    toggle = number(wire, "toggle_probability", "wire", strict=True)
    if toggle > 1:
        raise bad("wire", "toggle_probability", toggle, "a probability in (0, 1]")
    dram = number(need(data, "dram", "top level"), "energy_pj_per_bit", "dram", strict=True)
    # the cheapest buffer row per bit: a file whose DRAM costs no more supports no memory hierarchy
    at = [i for i, (c, w) in enumerate(points) if c == capacities[0]]
    row_pj_per_bit = float(np.interp(np.log(row_bits), np.log([points[i][1] for i in at]),
                                     [columns["read_energy_pj"][i] for i in at])) / row_bits
    if dram <= row_pj_per_bit:
        raise bad("dram", "energy_pj_per_bit", dram,
                  f"more than a buffer row's read energy per bit at the smallest capacity ({row_pj_per_bit:.4g} pJ/bit at "
                  f"{capacities[0]:g} bytes, [glb] row_bits = {row_bits:g}): otherwise no buffer saves energy")


def _check_timing(pe: dict, where: str, source: str, bad, number_list, int_list) -> None:
    """``[pe.<type>.timing]``: distinct widths, a positive critical path at each, covering every valid width."""
    timing = pe["timing"]
    if not isinstance(timing, dict):
        raise QuidamInputError(f"{source}: [{where}] must be a table, got {_short(timing)}")
    bits = int_list(timing, "bits", where)
    if len(set(bits)) != len(bits):
        raise bad(where, "bits", bits, "a list of distinct integers >= 1")
    values = number_list(timing, "critical_path_ns", where, minimum=0.0, length=len(bits))
    if min(values) <= 0:
        raise bad(where, "critical_path_ns", values, f"a list of {len(bits)} finite numbers > 0")
    valid = list(pe.get("measured", {}).get("bits", []))
    valid += list(pe["bits_range"]) if "bits_range" in pe else list(pe["bits_values"])
    if min(valid) < min(bits) or max(valid) > max(bits):
        raise bad(where, "bits", bits, f"a list covering every valid width ({min(valid)} to {max(valid)} bits): "
                  "timing is interpolated, never extrapolated")
    unknown = sorted(set(timing) - {"bits", "critical_path_ns", "source"})
    if unknown:
        raise QuidamInputError(f"{source}: [{where}] has unknown keys {unknown}; allowed: bits, critical_path_ns, source")


#: The widest operand a technology may claim: the ``bits`` axis's limit (quidam_fast.space).
MAX_BITS = 64
#: The widest accumulator (partial sum) a technology may give: wider than any real one, and small enough
#: that word counts times widths stay far inside the kernels' integers.
MAX_ACCUMULATOR_BITS = 256
#: The largest value a cost model may give: per event (pJ), per PE (um2, uW), per path (ns) or per
#: macro (mW, mm2). Far above any circuit; bounded so that counts up to 1e19 times costs stay finite.
MAX_COST = 1e9

#: Every key a technology file may have, per table; ``source`` strings everywhere. A key not listed is
#: refused (a misspelt key would otherwise be silently ignored). Extend this table with the schema.
_ALLOWED_KEYS = {
    "top level": {"name", "node_nm", "summary", "provenance", "pe", "timing", "spad", "register", "glb", "wire", "dram"},
    "pe": {"bits_range", "bits_values", "weight_bits", "source", "measured", "timing", *_PE_KEYS},
    "timing": {"source", "margin_ns"},
    "spad": {"source", *_SPAD_KEYS},
    "register": {"source", *_REGISTER_KEYS},
    "glb": {"source", "row_bits", *_GLB_KEYS},
    "wire": {"source", *_WIRE_KEYS},
    "dram": {"source", "energy_pj_per_bit"},
}


def _check_values(data: dict, source: str) -> None:
    """The values a schema-valid technology gives are physical over everything it claims.

    Unknown keys and non-string ``name``/``summary``/``provenance``/``source`` are refused; every PE
    type's widths (range, values and measured widths) lie in 1..:data:`MAX_BITS`, ``weight_bits`` too;
    at every claimed width the MAC's area, energy, leakage and critical path (polynomials, or the
    measured values) are finite, non-negative (the critical path positive) and at most
    :data:`MAX_COST`, and the accumulator is 1..:data:`MAX_ACCUMULATOR_BITS` bits; the pipeline
    register and the SRAM table are the same at every word width the PEs use. (Scratchpad models depend
    on capacities too, which the design space gives: the engine checks them there.) A fitted polynomial
    may have negative terms, but not negative values where it is used.
    """

    def refuse(where, message):
        return QuidamInputError(f"{source}: [{where}] {message}")

    def known(table, where, allowed):
        unknown = sorted(str(key) for key in set(table) - allowed)
        if unknown:
            raise refuse(where, f"has unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
        for key in ("source", "summary", "provenance"):
            if key in table and not isinstance(table[key], str):
                raise refuse(where, f"{key} = {_short(table[key])} must be a string")

    def physical(value, where, what, at, positive=False, limit=MAX_COST):
        if not (math.isfinite(value) and (value > 0 if positive else value >= 0) and value <= limit):
            raise refuse(where, f"{what} = {value:.6g}{' at ' + at if at else ''}: it must be finite, {'> 0' if positive else '>= 0'} "
                                f"and at most {limit:g}" + (" over every width the technology claims" if at else ""))

    known(data, "top level", _ALLOWED_KEYS["top level"])
    known(data["pe"], "pe", set(PE_TYPES))
    if data["node_nm"] > 1e6:
        raise refuse("top level", f"node_nm = {data['node_nm']!r} is not allowed; it must be at most 1e6 nm")
    used_widths = set()
    for pe_type in PE_TYPES:
        where, pe = f"pe.{pe_type}", data["pe"][pe_type]
        known(pe, where, _ALLOWED_KEYS["pe"])
        measured = pe.get("measured", {})
        if measured:
            known(measured, f"{where}.measured", {"bits", "source", *_MEASURED_KEYS})
        widths = set(measured.get("bits", ()))
        if "bits_range" in pe:
            lo, hi = pe["bits_range"]
            if hi > MAX_BITS:
                raise refuse(where, f"bits_range = {_short(pe['bits_range'])} is not allowed; widths go up to {MAX_BITS}")
            widths |= set(range(lo, hi + 1))
        else:
            widths |= set(pe["bits_values"])
        if max(widths) > MAX_BITS:
            raise refuse(where, f"width {max(widths)} is not allowed; widths go up to {MAX_BITS}")
        if pe["weight_bits"] > MAX_BITS:
            raise refuse(where, f"weight_bits = {pe['weight_bits']} is not allowed; it must be 0 to {MAX_BITS} (0: the same as bits)")
        for bits in sorted(widths):
            at = f"bits = {bits}"
            values = {key: _poly1(pe[key], bits) for key in ("mac_area_um2", "mac_energy_pj", "mac_leakage_uw")}
            if "timing" in pe:  # measured values, interpolated: positive wherever the measurements are
                values["critical_path_ns"] = float(np.interp(bits, sorted(pe["timing"]["bits"]), [
                    v for _, v in sorted(zip(pe["timing"]["bits"], pe["timing"]["critical_path_ns"]))]))
            if bits in measured.get("bits", ()):
                index = measured["bits"].index(bits)
                values.update({key: float(measured[key][index]) for key in _MEASURED_KEYS if key in measured})
            for key, value in values.items():
                physical(value, where, key, at, positive=key == "critical_path_ns", limit=MAX_COST * 1e3 if "area" in key else MAX_COST)
            accumulator = _poly1(pe["accumulator_bits"], bits)
            if not (math.isfinite(accumulator) and 1 <= math.ceil(accumulator) <= MAX_ACCUMULATOR_BITS):
                raise refuse(where, f"accumulator_bits = {accumulator:.6g} at {at}: it must be from 1 to "
                                    f"{MAX_ACCUMULATOR_BITS} bits over every width the technology claims")
            used_widths |= {bits, pe["weight_bits"] or bits, math.ceil(accumulator)}
    for section in ("spad", "register", "glb", "wire", "dram") + (("timing",) if "timing" in data else ()):
        known(data[section], section, _ALLOWED_KEYS[section])
    for width in sorted(used_widths):
        for key in _REGISTER_KEYS:
            physical(_poly1(data["register"][key], width), "register", key, f"a width of {width} bits",
                     limit=MAX_COST * 1e3 if "area" in key else MAX_COST)
    glb = data["glb"]
    for key in ("read_energy_pj", "write_energy_pj", "leakage_mw", "area_mm2"):
        if max(glb[key]) > MAX_COST:
            raise refuse("glb", f"{key} = {max(glb[key]):.6g}: it must be at most {MAX_COST:g}")
    capacities = np.unique(glb["capacity_bytes"]).astype(float)
    table = types.SimpleNamespace(name=data["name"], data=data)  # what Technology.glb_cost reads
    for width in (glb["row_bits"],):  # the engine costs the buffer at its row width only (Technology.glb_word_cost)
        for key, values in Technology.glb_cost(table, capacities, width).items():
            worst = float(np.min(values)) if np.all(np.isfinite(values)) else math.nan
            physical(worst, "glb", key, f"a width of {width} bits (extrapolated from the table's widths)")
    physical(float(data["dram"]["energy_pj_per_bit"]), "dram", "energy_pj_per_bit", "")
    for key in _WIRE_KEYS:
        physical(float(data["wire"][key]), "wire", key, "")
    if "timing" in data:
        physical(float(data["timing"]["margin_ns"]), "timing", "margin_ns", "")


def _check_measured(pe: dict, where: str, source: str, bad, number_list, int_list) -> None:
    """``[pe.<type>.measured]``: distinct widths, and one non-negative value per width for every cost."""
    measured = pe["measured"]
    if not isinstance(measured, dict):
        raise QuidamInputError(f"{source}: [{where}] must be a table, got {_short(measured)}")
    bits = int_list(measured, "bits", where)
    if len(set(bits)) != len(bits):
        raise bad(where, "bits", bits, "a list of distinct integers >= 1")
    keys = _MEASURED_KEYS
    for key in keys:
        number_list(measured, key, where, minimum=0.0, length=len(bits))
    unknown = sorted(set(measured) - {"bits", "source", *keys})
    if unknown:
        raise QuidamInputError(f"{source}: [{where}] has unknown keys {unknown}; allowed: bits, source, {', '.join(keys)}")


def _short(value) -> str:
    """``repr`` of a value, cut to one readable line for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
