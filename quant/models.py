"""The torch networks trained for the accuracy table (Fashion-MNIST, 1 x 28 x 28 inputs, 10 classes).

Each factory returns a fresh, untrained ``nn.Module`` built from :class:`~quidam_fast.quant.layers.QuantConv2d`
and :class:`~quidam_fast.quant.layers.QuantLinear`, and carries ``input_shape`` (batch 1) and
``network_name`` attributes. Their layer tables, produced from these modules by
:func:`quidam_fast.quant.extract.layers_from_torch`, are the packaged workload-library networks of the
same names (``core/data/networks/<name>.csv``), so accuracy and hardware results describe the same
network.

:data:`FAMILY` is the model family QUIDAM co-explores with the hardware: DNN configurations that
trade accuracy for cost over a 13x range of MACs (weights: conv and FC weights, the words a PE array
stores; biases and batch-norm parameters are applied in the requantization step and not counted):

====================== ========== ========= ==================================================
network                MMACs      weights   structure
====================== ========== ========= ==================================================
``lenet5_fmnist``      0.42       61,470    LeNet-5: 2 conv 5 x 5 + 3 FC
``vgg7_half_fmnist``   1.43       27,784    ``vgg7_fmnist`` at width multiplier 0.5
``resnet8_fmnist``     2.64       77,072    stem + 3 basic residual blocks (16-32-64) + FC
``vgg7_fmnist``        5.61       109,712   5 conv 3 x 3 (16-16-32-32-64) + 2 FC
====================== ========== ========= ==================================================

Regenerate the library's layer tables with (one per network)::

    quidam-fast networks --from-torch quidam_fast.quant.models:lenet5_fmnist --save
    quidam-fast networks --from-torch quidam_fast.quant.models:vgg7_half_fmnist --save
    quidam-fast networks --from-torch quidam_fast.quant.models:resnet8_fmnist --save
    quidam-fast networks --from-torch quidam_fast.quant.models:vgg7_fmnist --save
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from .layers import QuantConv2d, QuantLinear

INPUT_SHAPE = (1, 1, 28, 28)


def _tag(factory):
    factory.input_shape = INPUT_SHAPE
    factory.network_name = factory.__name__
    return factory


@_tag
def lenet5_fmnist() -> nn.Module:
    """LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling: 2 conv + 3 FC layers, 0.42 MMACs, 61k weights."""
    return nn.Sequential(
        OrderedDict(
            conv1=QuantConv2d(1, 6, 5, padding=2),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv2=QuantConv2d(6, 16, 5),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc3=QuantLinear(16 * 5 * 5, 120),
            relu3=nn.ReLU(),
            fc4=QuantLinear(120, 84),
            relu4=nn.ReLU(),
            fc5=QuantLinear(84, 10),
        )
    )


def _conv_bn(index: int, c_in: int, c_out: int) -> list[tuple[str, nn.Module]]:
    return [
        (f"conv{index}", QuantConv2d(c_in, c_out, 3, padding=1, bias=False)),
        (f"bn{index}", nn.BatchNorm2d(c_out)),
        (f"relu{index}", nn.ReLU()),
    ]


def _vgg7(width: float) -> nn.Module:
    """VGG-7 with every layer's width (channels, FC units) scaled by ``width``."""
    c1, c2, c3, fc = (round(n * width) for n in (16, 32, 64, 128))
    return nn.Sequential(
        OrderedDict(
            [
                *_conv_bn(1, 1, c1),
                *_conv_bn(2, c1, c1),
                ("pool2", nn.MaxPool2d(2)),
                *_conv_bn(3, c1, c2),
                *_conv_bn(4, c2, c2),
                ("pool4", nn.MaxPool2d(2)),
                *_conv_bn(5, c2, c3),
                ("pool5", nn.MaxPool2d(2)),
                ("flatten", nn.Flatten()),
                ("fc6", QuantLinear(c3 * 3 * 3, fc)),
                ("relu6", nn.ReLU()),
                ("fc7", QuantLinear(fc, 10)),
            ]
        )
    )


@_tag
def vgg7_fmnist() -> nn.Module:
    """A VGG-style CNN: 5 conv 3 x 3 (16-16-32-32-64, batch norm) + 2 FC layers, 5.6 MMACs, 0.11 M weights."""
    return _vgg7(1.0)


@_tag
def vgg7_half_fmnist() -> nn.Module:
    """``vgg7_fmnist`` at width multiplier 0.5: 5 conv 3 x 3 (8-8-16-16-32) + 2 FC, 1.4 MMACs, 28k weights."""
    return _vgg7(0.5)


class _BasicBlock(nn.Module):
    """A ResNet basic block (He et al. 2016): two 3 x 3 conv + batch norm, identity or 1 x 1 projection shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = QuantConv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = QuantConv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.proj = None
        if stride != 1 or c_in != c_out:
            self.proj = nn.Sequential(QuantConv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.proj is None else self.proj(x)))


class _ResNet8(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(QuantConv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))
        self.block1 = _BasicBlock(16, 16, 1)  # 14 x 14
        self.block2 = _BasicBlock(16, 32, 2)  # 7 x 7
        self.block3 = _BasicBlock(32, 64, 2)  # 4 x 4
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = QuantLinear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.stem(x))))
        return self.fc(self.flatten(self.pool(x)))


@_tag
def resnet8_fmnist() -> nn.Module:
    """A small ResNet: 3 x 3 stem (16) + 2 x 2 max-pool, 3 basic blocks (16, 32/2, 64/2) + FC, 2.6 MMACs, 77k weights."""
    return _ResNet8()


#: The table's networks by name, smallest first: the model family (see the module docstring).
MODELS = {f.network_name: f for f in (lenet5_fmnist, vgg7_half_fmnist, resnet8_fmnist, vgg7_fmnist)}

#: The model family's names, in order of MACs.
FAMILY = tuple(MODELS)
