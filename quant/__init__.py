"""Quantization-aware training for quidam-fast (needs torch: ``pip install 'quidam-fast[quant]'``).

Submodules: :mod:`~quidam_fast.quant.quantizers` (fake quantizers per PE type), :mod:`~quidam_fast.quant.layers`
(quantized Conv2d/Linear), :mod:`~quidam_fast.quant.models` (the trained networks),
:mod:`~quidam_fast.quant.data` (Fashion-MNIST IDX loader), :mod:`~quidam_fast.quant.train` (protocol and
table) and :mod:`~quidam_fast.quant.extract` (``layers_from_torch``).

This file imports nothing: :func:`quidam_fast.accuracy.load_accuracy_table` locates the packaged table
(``data/accuracy.nc``) through this package without importing torch.
"""
