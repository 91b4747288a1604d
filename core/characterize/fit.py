"""Polynomial fits of the characterization results, degree chosen by leave-one-out error.

All fits minimize *relative* squared error (each point weighted by 1/y), because the values span two
orders of magnitude across bit widths and the bars are relative (5% area, 10% energy).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

# Terms (power of words, power of bits) a scratchpad model f(words, bits) = sum coef * words**pw * bits**pb
# may use. A register file is words x bits flops and read-mux inputs (w*b), a decoder (w), per-bit
# drivers (b) and fixed logic (1); the squares pick up fan-out buffering that grows faster than linearly
# (the write data and read address reach every word). Every subset holding w*b is a candidate (at most
# SPAD_MAX_TERMS terms): which of these effects is visible depends on the liberty and the synthesis
# script, so the data choose, by leave-one-out error.
SPAD_BASIS = ((1, 1), (0, 1), (1, 0), (0, 0), (2, 1), (1, 2), (2, 0), (0, 2))
SPAD_MAX_TERMS = 6


def spad_term_sets(max_terms: int = SPAD_MAX_TERMS) -> list[tuple[tuple[int, int], ...]]:
    """Every subset of :data:`SPAD_BASIS` that holds the storage term ``w*b``, smallest first.

    >>> sets = spad_term_sets(2)
    >>> sets[0], len(sets)
    (((1, 1),), 8)
    """
    rest = SPAD_BASIS[1:]
    return [((1, 1),) + tuple(extra)
            for k in range(max_terms) for extra in itertools.combinations(rest, k)]


@dataclass(frozen=True)
class Fit1D:
    """A polynomial in bits: ``value = sum coef[i] * bits**i``."""

    coef: tuple[float, ...]
    degree: int
    loo_rel_errors: tuple[float, ...]  # per fitted point, |pred - y| / y with that point left out
    fit_rel_errors: tuple[float, ...]  # per fitted point, in-sample

    def __call__(self, bits):
        return np.polynomial.polynomial.polyval(np.asarray(bits, dtype=float), self.coef)


@dataclass(frozen=True)
class Fit2D:
    """A polynomial in words and bits: terms ``(coef, pw, pb)``."""

    terms: tuple[tuple[float, int, int], ...]
    loo_rel_errors: tuple[float, ...]
    fit_rel_errors: tuple[float, ...]

    def __call__(self, words, bits):
        w, b = np.asarray(words, dtype=float), np.asarray(bits, dtype=float)
        return sum(c * w**pw * b**pb for c, pw, pb in self.terms)


def _wls(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    weights = 1.0 / np.abs(y)
    coef, *_ = np.linalg.lstsq(design * weights[:, None], y * weights, rcond=None)
    return coef


def _loo(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    errs = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        coef = _wls(design[keep], y[keep])
        errs.append(abs(design[i] @ coef - y[i]) / abs(y[i]))
    return np.array(errs)


def fit_bits(bits, values, max_degree: int = 3) -> Fit1D:
    """Fit ``values`` as a polynomial in ``bits``; the degree (1..max_degree) with the smallest RMS
    leave-one-out relative error over the *interior* widths wins. With two points the fit is the line
    through them (no LOO).

    Interior only, because the engine uses a fit only between its smallest and largest width (the
    technology's ``bits_range``): leaving out an end point measures extrapolation, which no design
    point needs and which punishes higher degrees hardest. ``loo_rel_errors`` still lists every point.

    >>> f = fit_bits([2, 4, 8, 16], [4 + 2 * b * b for b in (2, 4, 8, 16)])
    >>> f.degree, [round(c, 6) for c in f.coef]
    (2, [4.0, 0.0, 2.0])
    """
    order = np.argsort(np.asarray(bits, dtype=float))
    x = np.asarray(bits, dtype=float)[order]
    y = np.asarray(values, dtype=float)[order]
    if len(x) < 1:
        raise ValueError("need at least one width to fit")
    if len(x) == 1:  # one format (e.g. fp16 alone): the constant, valid only there
        return Fit1D((float(y[0]),), 0, (float("nan"),), (0.0,))
    if len(x) == 2:
        coef = np.polyfit(x, y, 1)[::-1]
        return Fit1D(tuple(float(c) for c in coef), 1, (float("nan"),) * 2, (0.0, 0.0))
    best = None
    for degree in range(1, min(max_degree, len(x) - 2) + 1):
        design = np.vander(x, degree + 1, increasing=True)
        loo = _loo(design, y)
        interior = loo[1:-1] if len(loo) > 2 else loo
        score = float(np.sqrt(np.mean(interior**2)))
        if best is None or score < best[0] - 1e-12:
            best = (score, degree, design, loo)
    _, degree, design, loo = best
    coef = _wls(design, y)
    fit_err = np.abs(design @ coef - y) / np.abs(y)
    return Fit1D(tuple(float(c) for c in coef), degree, tuple(map(float, loo)), tuple(map(float, fit_err)))


def fit_spad(words, bits, values) -> Fit2D:
    """Fit ``values`` over (words, bits) with the term set (:func:`spad_term_sets`) of smallest RMS
    leave-one-out relative error among those whose fit is positive and non-decreasing in words and in
    bits over the sampled range; ties go to the smaller set."""
    w = np.asarray(words, dtype=float)
    b = np.asarray(bits, dtype=float)
    y = np.asarray(values, dtype=float)
    # a larger or wider register file never costs less: candidates that fall anywhere in the sampled
    # region (every integer capacity and width below some sample: the samples need not fill a box) are
    # not physical and are skipped
    grid_w, grid_b = np.meshgrid(np.arange(w.min(), w.max() + 1), np.arange(b.min(), b.max() + 1), indexing="ij")
    inside = np.zeros(grid_w.shape, dtype=bool)
    for wi, bi in set(zip(w, b)):
        inside |= (grid_w <= wi) & (grid_b <= bi)
    best = None
    for terms in spad_term_sets():
        if len(terms) > len(y) - 2:
            continue
        design = np.stack([w**pw * b**pb for pw, pb in terms], axis=1)
        surface = sum(c * grid_w**pw * grid_b**pb for c, (pw, pb) in zip(_wls(design, y), terms))
        falls_in_words = (np.diff(surface, axis=0) < 0) & inside[1:, :]
        falls_in_bits = (np.diff(surface, axis=1) < 0) & inside[:, 1:]
        if np.any(surface[inside] <= 0) or falls_in_words.any() or falls_in_bits.any():
            continue
        loo = _loo(design, y)
        score = float(np.sqrt(np.mean(loo**2)))
        if best is None or score < best[0] - 1e-12:
            best = (score, terms, design, loo)
    if best is None:
        raise ValueError("no scratchpad term set gives a positive model that grows with words and bits")
    _, terms, design, loo = best
    coef = _wls(design, y)
    fit_err = np.abs(design @ coef - y) / np.abs(y)
    return Fit2D(
        tuple((float(c), pw, pb) for c, (pw, pb) in zip(coef, terms)),
        tuple(map(float, loo)), tuple(map(float, fit_err)),
    )
