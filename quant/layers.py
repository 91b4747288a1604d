"""Convolution and linear layers that run at a chosen (pe_type, bits).

:class:`QuantConv2d` and :class:`QuantLinear` are subclasses of ``nn.Conv2d`` and ``nn.Linear`` (so
:func:`quidam_fast.quant.extract.layers_from_torch` reads them like any other layer). Before each
multiply they fake-quantize their weights and their input activations as the PE type would; bias and
the accumulator stay in float32 (a PE's accumulator is wider than its operands). A batch norm after a
convolution is a per-output-channel affine map on the accumulator, which a PE array applies in the
same requantization step that applies the per-channel weight scale; it is therefore left unfolded.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import quantizers as qz


class _QuantMixin:
    """Holds the (pe_type, bits) setting and the learned activation step of one layer."""

    def _init_quant(self) -> None:
        self.pe_type = "fp"
        self.bits = 32
        # LSQ step for the input activations; initialized from the first batch after set_precision().
        self.act_step = nn.Parameter(torch.ones(()))
        self.register_buffer("act_step_ready", torch.zeros((), dtype=torch.bool))

    def set_precision(self, pe_type: str, bits: int) -> None:
        pe_type, bits = qz.validate(pe_type, bits)
        self.pe_type, self.bits = pe_type, bits
        self.act_step_ready.fill_(False)

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.pe_type == "fp":
            return x if self.bits == 32 else qz.quantize_fp16(x)
        q = qz.qmax(self.bits)
        if not bool(self.act_step_ready):
            with torch.no_grad():  # LSQ initialization: 2 mean|x| / sqrt(qmax)
                self.act_step.fill_(max(2 * x.abs().mean().item() / math.sqrt(q), 1e-8))
                self.act_step_ready.fill_(True)
        step = qz.lsq_grad_scale(self.act_step.abs() + 1e-12, 1.0 / math.sqrt(x[0].numel() * q))
        return qz.quantize_int(x, step, self.bits)

    def quantized_weight(self) -> torch.Tensor:
        return qz.quantize_weight(self.weight, self.pe_type, self.bits)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", pe_type={self.pe_type}, bits={self.bits}"


class QuantConv2d(_QuantMixin, nn.Conv2d):
    """``nn.Conv2d`` whose weights and inputs are fake-quantized to ``(pe_type, bits)``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_quant()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.quantize_input(x), self.quantized_weight(), self.bias)


class QuantLinear(_QuantMixin, nn.Linear):
    """``nn.Linear`` whose weights and inputs are fake-quantized to ``(pe_type, bits)``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_quant()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.quantize_input(x), self.quantized_weight(), self.bias)


def set_precision(model: nn.Module, pe_type: str, bits: int) -> nn.Module:
    """Set every quantizable layer of ``model`` to ``(pe_type, bits)``; returns ``model``."""
    qz.validate(pe_type, bits)
    found = False
    for module in model.modules():
        if isinstance(module, _QuantMixin):
            module.set_precision(pe_type, bits)
            found = True
    if not found:
        from quidam_fast.errors import QuidamInputError

        raise QuidamInputError(
            f"{type(model).__name__} has no QuantConv2d/QuantLinear layers; build it from quidam_fast.quant.layers"
        )
    return model
