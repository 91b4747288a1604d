"""Each quantizer against a direct, independent computation of what it must produce (numpy, codebooks)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from quidam_fast.errors import QuidamInputError  # noqa: E402
from quidam_fast.quant import quantizers as qz  # noqa: E402
from quidam_fast.quant.layers import QuantConv2d, QuantLinear, set_precision  # noqa: E402


def _weights(seed=0, shape=(6, 3, 3, 3)):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=rng.uniform(0.01, 2.0, size=(shape[0],) + (1,) * (len(shape) - 1)), size=shape).astype(np.float32)


@pytest.mark.parametrize("bits", [2, 3, 4, 8, 16])
def test_int_weights_match_per_channel_numpy(bits):
    w = _weights(bits)
    expected = np.empty_like(w)
    levels = 2 ** (bits - 1) - 1
    for c in range(w.shape[0]):  # one output channel at a time, written from the definition
        scale = np.abs(w[c]).max() / levels
        expected[c] = np.clip(np.round(w[c] / scale), -levels, levels) * scale
    got = qz.quantize_int_weight(torch.from_numpy(w), bits).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    for c in range(w.shape[0]):  # at most 2 levels - 1 distinct values per channel, symmetric
        assert len(np.unique(got[c])) <= 2 * levels + 1


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
def test_int_activations_match_numpy(bits):
    x = np.random.default_rng(1).normal(size=1000).astype(np.float32) * 3
    scale = np.float32(0.37)
    levels = 2 ** (bits - 1) - 1
    expected = np.clip(np.round(x / scale), -levels, levels) * scale
    got = qz.quantize_int(torch.from_numpy(x), torch.tensor(scale), bits).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def _codebook(top, exponents=qz.POW2_EXPONENTS):
    mags = [2.0**e for e in range(int(top) - exponents + 1, int(top) + 1)]
    return np.array(sorted({0.0} | set(mags) | {-m for m in mags}))


def _nearest(values, book):
    return book[np.argmin(np.abs(values[:, None] - book[None, :]), axis=1)]


def _top_exponent(peak):
    es = np.arange(-60, 20)
    return es[np.argmin(np.abs(peak - 2.0 ** es))]


@pytest.mark.parametrize("terms", [1, 2])
def test_lightpe_weights_are_nearest_codebook_sums(terms):
    w = _weights(7, shape=(5, 40))
    w[0, :3] = 0.0  # zeros stay zero
    got = qz.quantize_lightpe_weight(torch.from_numpy(w), terms).numpy()
    for c in range(w.shape[0]):
        book = _codebook(_top_exponent(np.abs(w[c]).max()))
        first = _nearest(w[c].astype(np.float64), book)
        expected = first if terms == 1 else first + _nearest(w[c] - first, book)
        np.testing.assert_allclose(got[c], expected, rtol=1e-6)
    assert np.all(got[0, :3] == 0)
    if terms == 1:  # every nonzero weight is a signed power of two: one shift
        nz = got[got != 0]
        np.testing.assert_array_equal(np.log2(np.abs(nz)), np.round(np.log2(np.abs(nz))))


def test_lightpe2_is_closer_than_lightpe1():
    w = torch.from_numpy(_weights(3, shape=(8, 64)))
    e1 = (qz.quantize_lightpe_weight(w, 1) - w).abs().mean()
    e2 = (qz.quantize_lightpe_weight(w, 2) - w).abs().mean()
    assert e2 < 0.5 * e1


def test_fp16_matches_numpy_half():
    x = np.random.default_rng(2).normal(size=1000).astype(np.float32) * np.float32(1e3)
    x[:3] = [1e5, 1 + 2**-11, 6e-8]  # overflow to inf, a tie (rounds to even), a subnormal
    got = qz.quantize_fp16(torch.from_numpy(x)).numpy()
    with np.errstate(over="ignore"):
        expected = x.astype(np.float16).astype(np.float32)
    assert np.isinf(got[0]) and got[1] == 1.0
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("pe_type,bits", [("int", 4), ("lightpe1", 8), ("lightpe2", 8), ("fp", 16)])
def test_weight_gradient_is_straight_through(pe_type, bits):
    w = torch.from_numpy(_weights(4)).requires_grad_()
    qz.quantize_weight(w, pe_type, bits).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.ones(w.shape, dtype=np.float32))


def test_activation_gradient_is_zero_outside_the_clipping_range():
    x = torch.tensor([-5.0, -0.2, 0.0, 0.3, 5.0], requires_grad=True)
    qz.quantize_int(x, torch.tensor(0.5), 2).sum().backward()  # range [-0.5, 0.5]
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 0])


@pytest.mark.parametrize("pe_type,bits,message", [("posit", 8, "unknown pe_type"), ("int", 1, "2 to 32"), ("int", 33, "2 to 32"), ("fp", 8, "16 or 32"), ("lightpe1", "x", "not an integer")])
def test_bad_precision_is_a_clear_error(pe_type, bits, message):
    with pytest.raises(QuidamInputError, match=message):
        qz.validate(pe_type, bits)
    with pytest.raises(QuidamInputError, match=message):
        set_precision(torch.nn.Sequential(QuantLinear(4, 2)), pe_type, bits)


def test_quant_layers_compute_with_quantized_operands():
    torch.manual_seed(0)
    conv = set_precision(QuantConv2d(3, 4, 3, padding=1), "int", 4)
    x = torch.randn(2, 3, 6, 6)
    y = conv(x)  # first call initializes the activation step
    step = conv.act_step.detach()
    xq = torch.clamp(torch.round(x / step), -7, 7) * step
    wq = qz.quantize_int_weight(conv.weight, 4)
    expected = torch.nn.functional.conv2d(xq, wq, conv.bias, padding=1)
    torch.testing.assert_close(y, expected)
    fp = set_precision(QuantLinear(5, 3), "fp", 32)
    v = torch.randn(4, 5)
    torch.testing.assert_close(fp(v), torch.nn.functional.linear(v, fp.weight, fp.bias))


def _term_code(value, top):
    """The RTL's 5-bit term ``{zero, sign, exponent[2:0]}`` of a term value, or None if none encodes it."""
    if value == 0:
        return (1, 0, 0)
    k = np.log2(abs(value)) - (top - (qz.POW2_EXPONENTS - 1))  # exponent in units of 2**(top - 7)
    if k != np.round(k) or not 0 <= k < 2**3:
        return None
    return (0, int(value < 0), int(k))


@pytest.mark.parametrize("terms", [1, 2])
def test_lightpe_weights_fit_the_rtl_term_code(terms):
    """Every LightPE weight is ``terms`` terms, each encodable as {zero, sign, exponent[2:0]} (5 bits)."""
    w = _weights(11, shape=(6, 50))
    w[1, :5] = 0.0
    w[2, 0] = w[2].max() * 1e-4  # far below the window: a zero term
    wt = torch.from_numpy(w)
    top = qz.pow2_max_exponent(wt).reshape(-1).numpy()
    first = qz.round_pow2(wt, qz.pow2_max_exponent(wt))
    second = qz.round_pow2(wt - first, qz.pow2_max_exponent(wt)) if terms == 2 else torch.zeros_like(first)
    np.testing.assert_array_equal((first + second).numpy(), qz.quantize_lightpe_weight(wt, terms).numpy())
    for c in range(w.shape[0]):
        for part in (first, second)[:terms]:
            codes = [_term_code(float(v), top[c]) for v in part[c].numpy()]
            assert None not in codes, c
    assert _term_code(float(first[2, 0]), top[2]) == (1, 0, 0)


def test_lightpe_docs_state_the_rtl_weight_code():
    """The quantizer docs describe the hardware's code exactly, and nothing in quant/ claims another width."""
    import pathlib
    import re

    from quidam_fast.characterize import rtl

    assert rtl.POW2_TERM_BITS == 1 + 1 + int(np.log2(qz.POW2_EXPONENTS))  # zero + sign + exponent field
    assert rtl.weight_bits("lightpe1", 8) == 5 and rtl.weight_bits("lightpe2", 4) == 10
    doc = " ".join(qz.__doc__.split())
    assert "5-bit code ``{zero, sign, exponent[2:0]}``" in doc
    assert "LightPE-1 weight is one term (5 bits)" in doc and "sum of two terms (10 bits" in doc
    assert "window of :data:`POW2_EXPONENTS` (8) exponents" in doc and "0 when ``zero`` is set" in doc
    for name in ("quantize_lightpe_weight", "round_pow2"):
        assert "5-bit code" in " ".join(getattr(qz, name).__doc__.split()) or "{zero, sign, exponent[2:0]}" in getattr(qz, name).__doc__
    quant = pathlib.Path(qz.__file__).parent
    for path in sorted(quant.glob("*.py")):
        text = " ".join(path.read_text().split())
        wrong = re.findall(r"\b[48][- ]bits? (?:weight )?code", text)
        assert not wrong, (path.name, wrong)
