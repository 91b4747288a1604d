"""Fake quantizers with straight-through estimators, one per PE type.

Every function takes and returns float tensors of the same shape: the values a PE of that type would
see, stored in float32 so that training runs on the CPU. Gradients pass straight through the rounding
(the straight-through estimator of Bengio et al. 2013), so the same functions serve quantization-aware
training and evaluation.

============ ================================================= ===========================
pe_type      weights                                           activations (layer inputs)
============ ================================================= ===========================
``fp``       float32 (``bits=32``) or IEEE half (``bits=16``)  same as weights
``int``      uniform symmetric, per output channel, ``bits``   uniform symmetric, ``bits``
``lightpe1`` one term, 0 or ``±2**e`` (LightNN-1), per channel uniform symmetric, ``bits``
``lightpe2`` sum of two such terms (LightNN-2), per channel    uniform symmetric, ``bits``
============ ================================================= ===========================

Notes
-----
*Integer* quantization has zero point 0 and ``2**(bits-1) - 1`` positive levels, the same number of
negative ones (the most negative code is unused, so the grid is symmetric): a signed ``bits`` x
``bits`` MAC, the PE the characterization flow synthesizes. Weight scales are per output channel,
``max|w_c| / (2**(bits-1) - 1)``; activation scales are learned (LSQ, Esser et al. 2020). Activations
are signed even after a ReLU, so a b-bit layer input has ``2**(b-1) - 1`` positive levels: this is the
honest cost of a signed MAC, and it is visible at 2 and 4 bits.
The fake quantization computes in float32, whose 24-bit significand holds every code up to
``2**24``: from 25 bits on (the default space's ``int``/32) the rounding error is below float32's own,
so an ``int`` cell that wide trains and scores as float32 arithmetic would -- which is what a 32-bit
integer PE with a per-channel scale computes to within its accumulator's rounding.

*LightPE* weights (Ding et al., "LightNN", 2017; QUIDAM's LightPE-1/-2) are made of *terms*, each
either zero or a signed power of two ``±2**e`` with ``e`` in a window of :data:`POW2_EXPONENTS` (8)
exponents ending at the channel's top exponent ``t`` (:func:`pow2_max_exponent`):
``t - 7 <= e <= t``. The PE stores a term as the 5-bit code ``{zero, sign, exponent[2:0]}`` of the
characterization RTL (:mod:`quidam_fast.characterize.rtl`): 0 when ``zero`` is set, else
``(-1)**sign * 2**exponent`` in units of the channel's ``2**(t - 7)``, with ``exponent`` = ``e - t + 7``
in 0..7. A LightPE-1 weight is one term (5 bits), so a multiply is one shift; a LightPE-2 weight is the
sum of two terms (10 bits, each with its own zero, sign and exponent), two shifts and an add. ``bits``
is the activation width only. Rounding is to the nearest term value in the linear domain; LightPE-2
rounds the residual of LightPE-1 again in the same window (greedy, as LightNN does).
"""

from __future__ import annotations

import torch

#: Number of exponents (shift amounts) a power-of-two weight term can take per output channel: the
#: 3-bit ``exponent`` field of a term's 5-bit code ``{zero, sign, exponent[2:0]}``.
POW2_EXPONENTS = 8

#: ``pe_type`` values and the ``bits`` each accepts.
PE_TYPES = ("fp", "int", "lightpe1", "lightpe2")
INT_BITS = range(2, 33)  # 32: as wide as the technology's integer PEs go (the default space's int32)
FP_BITS = (16, 32)


def validate(pe_type: str, bits: int) -> tuple[str, int]:
    """Check a (pe_type, bits) pair; raise :class:`quidam_fast.QuidamInputError` naming what is allowed."""
    from quidam_fast.errors import QuidamInputError

    if pe_type not in PE_TYPES:
        raise QuidamInputError(f"unknown pe_type {pe_type!r}; allowed: {', '.join(PE_TYPES)}")
    if isinstance(bits, bool) or not isinstance(bits, int):
        try:
            bits = int(bits)
        except (TypeError, ValueError):
            raise QuidamInputError(f"bits = {bits!r} is not an integer") from None
    if pe_type == "fp" and bits not in FP_BITS:
        raise QuidamInputError(f"pe_type 'fp' takes bits 16 or 32, not {bits}")
    if pe_type != "fp" and bits not in INT_BITS:
        raise QuidamInputError(f"pe_type {pe_type!r} takes bits {INT_BITS.start} to {INT_BITS.stop - 1}, not {bits}")
    return pe_type, bits


def ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``q`` in the forward pass, the identity's gradient for ``x`` in the backward pass."""
    return x + (q - x).detach()


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half to even, with a straight-through gradient."""
    return ste(x, torch.round(x))


def qmax(bits: int) -> int:
    """Largest code of a signed symmetric ``bits``-bit integer: ``2**(bits-1) - 1``."""
    return 2 ** (bits - 1) - 1


def int_weight_scale(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel scale ``max|w_c| / qmax(bits)``, shaped to broadcast against ``w``.

    A channel of zeros gets scale 1 (its codes are all zero anyway).
    """
    peak = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1)
    scale = torch.where(peak > 0, peak / qmax(bits), torch.ones_like(peak))
    return scale.reshape((-1,) + (1,) * (w.dim() - 1))


def quantize_int(x: torch.Tensor, scale: torch.Tensor, bits: int) -> torch.Tensor:
    """``clamp(round(x / scale), -qmax, qmax) * scale`` with straight-through rounding.

    The gradient for ``x`` is 1 inside the clipping range and 0 outside; ``scale`` receives the LSQ
    gradient when it requires one.
    """
    q = qmax(bits)
    return torch.clamp(round_ste(x / scale), -q, q) * scale


def quantize_int_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Uniform symmetric per-output-channel weight quantization (gradient passes straight through)."""
    return ste(w, quantize_int(w.detach(), int_weight_scale(w, bits), bits))


def _nearest_pow2_exponent(a: torch.Tensor) -> torch.Tensor:
    """Exponent ``e`` of the power of two nearest to ``a > 0`` in the linear domain (ties go up)."""
    e = torch.floor(torch.log2(a))
    return torch.where(a >= 1.5 * torch.exp2(e), e + 1, e)


def pow2_max_exponent(w: torch.Tensor) -> torch.Tensor:
    """Per-output-channel top exponent: that of the power of two nearest to ``max|w_c|``."""
    peak = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1)
    top = torch.where(peak > 0, _nearest_pow2_exponent(torch.where(peak > 0, peak, torch.ones_like(peak))), torch.zeros_like(peak))
    return top.reshape((-1,) + (1,) * (w.dim() - 1))


def round_pow2(x: torch.Tensor, top: torch.Tensor, exponents: int = POW2_EXPONENTS) -> torch.Tensor:
    """Nearest element of ``{0} ∪ {±2**e : top - exponents < e <= top}`` (no gradient).

    These are the values of one LightPE weight term, code ``{zero, sign, exponent[2:0]}`` for the
    default ``exponents = 8`` (see the module notes).
    """
    a = x.abs()
    safe = torch.where(a > 0, a, torch.ones_like(a))
    e = torch.minimum(_nearest_pow2_exponent(safe), top)
    low = top - (exponents - 1)
    below = e < low
    # below the window the choice is between 0 and the smallest code 2**low
    magnitude = torch.where(below, torch.where(a >= 0.5 * torch.exp2(low), torch.exp2(low), torch.zeros_like(a)), torch.exp2(e))
    magnitude = torch.where(a > 0, magnitude, torch.zeros_like(a))
    return torch.sign(x) * magnitude


def quantize_lightpe_weight(w: torch.Tensor, terms: int) -> torch.Tensor:
    """LightNN weights: a sum of ``terms`` (1 or 2) terms, each 0 or ``±2**e`` with ``e`` in the
    channel's window of :data:`POW2_EXPONENTS` exponents (a 5-bit code per term), greedy, per output
    channel."""
    if terms not in (1, 2):
        raise ValueError(f"terms must be 1 or 2, not {terms}")
    wd = w.detach()
    top = pow2_max_exponent(wd)
    q = round_pow2(wd, top)
    if terms == 2:
        q = q + round_pow2(wd - q, top)
    return ste(w, q)


def quantize_fp16(x: torch.Tensor) -> torch.Tensor:
    """Round to IEEE half (torch's round-to-nearest-even cast) and back, straight-through."""
    return ste(x, x.detach().half().float())


def quantize_weight(w: torch.Tensor, pe_type: str, bits: int) -> torch.Tensor:
    """The weights a ``pe_type`` PE at ``bits`` multiplies with (fake-quantized, STE)."""
    if pe_type == "fp":
        return w if bits == 32 else quantize_fp16(w)
    if pe_type == "int":
        return quantize_int_weight(w, bits)
    if pe_type == "lightpe1":
        return quantize_lightpe_weight(w, 1)
    if pe_type == "lightpe2":
        return quantize_lightpe_weight(w, 2)
    raise ValueError(f"unknown pe_type {pe_type!r}")


def lsq_grad_scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` in the forward pass; its gradient multiplied by ``factor`` (LSQ's step-size gradient scale)."""
    scaled = x * factor
    return (x - scaled).detach() + scaled
