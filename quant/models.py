"""The torch networks trained for the accuracy table (Fashion-MNIST, 1 x 28 x 28 inputs, 10 classes).

Each factory returns a fresh, untrained ``nn.Module`` built from :class:`~quidam_fast.quant.layers.QuantConv2d`
and :class:`~quidam_fast.quant.layers.QuantLinear`, and carries ``input_shape`` (batch 1) and
``network_name`` attributes. Their layer tables, produced from these modules by
:func:`quidam_fast.quant.extract.layers_from_torch`, are the packaged workload-library networks of the
same names (``core/data/networks/<name>.csv``), so accuracy and hardware results describe the same
network. Regenerate them with::

    quidam-fast networks --from-torch quidam_fast.quant.models:lenet5_fmnist --save
    quidam-fast networks --from-torch quidam_fast.quant.models:vgg7_fmnist --save
"""

from __future__ import annotations

from collections import OrderedDict

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


@_tag
def vgg7_fmnist() -> nn.Module:
    """A VGG-style CNN: 5 conv 3 x 3 (16-16-32-32-64, batch norm) + 2 FC layers, 5.6 MMACs, 0.11 M weights."""
    return nn.Sequential(
        OrderedDict(
            [
                *_conv_bn(1, 1, 16),
                *_conv_bn(2, 16, 16),
                ("pool2", nn.MaxPool2d(2)),
                *_conv_bn(3, 16, 32),
                *_conv_bn(4, 32, 32),
                ("pool4", nn.MaxPool2d(2)),
                *_conv_bn(5, 32, 64),
                ("pool5", nn.MaxPool2d(2)),
                ("flatten", nn.Flatten()),
                ("fc6", QuantLinear(64 * 3 * 3, 128)),
                ("relu6", nn.ReLU()),
                ("fc7", QuantLinear(128, 10)),
            ]
        )
    )


#: The table's networks by name.
MODELS = {f.network_name: f for f in (lenet5_fmnist, vgg7_fmnist)}
