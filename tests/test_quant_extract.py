"""layers_from_torch against shapes written by hand, its errors, and the packaged networks it produced."""

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from quidam_fast import Layer, load_network  # noqa: E402
from quidam_fast.errors import QuidamInputError  # noqa: E402
from quidam_fast.quant.extract import layers_from_torch, resolve  # noqa: E402
from quidam_fast.quant.models import MODELS  # noqa: E402


class Block(nn.Module):
    """Depthwise-separable residual block that calls one module twice (non-sequential forward)."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.pw = nn.Conv2d(8, 8, 1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        y = torch.relu(self.bn(self.pw(self.dw(x))))
        return x + self.pw(y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.block = Block()
        self.grouped = nn.Conv2d(8, 16, (3, 3), padding="same", groups=4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.grouped(self.block(self.stem(x)))
        return self.head(torch.flatten(self.pool(x), 1))


def test_shapes_match_hand_written_layers():
    net = layers_from_torch(Net(), (2, 3, 32, 32), "net")
    assert net.name == "net"
    assert net.layers == (
        Layer("stem", H=32, W=32, C=3, K=8, R=3, S=3, stride=2, padding=1, N=2),
        Layer("block.dw", H=16, W=16, C=8, K=8, R=3, S=3, padding=1, groups=8, N=2),
        Layer("block.pw", H=16, W=16, C=8, K=8, N=2),
        Layer("block.pw#2", H=16, W=16, C=8, K=8, N=2),
        Layer("grouped", H=16, W=16, C=8, K=16, R=3, S=3, padding=1, groups=4, N=2),
        Layer("head", H=1, W=1, C=16, K=10, N=2),
    )
    assert [layer.kind for layer in net.layers] == ["conv", "depthwise", "conv", "conv", "grouped", "fc"]


def test_lenet_macs_by_hand():
    net = layers_from_torch(MODELS["lenet5_fmnist"](), (1, 1, 28, 28), "lenet")
    # conv1 28*28*6*1*25, conv2 10*10*16*6*25, fc 400*120 + 120*84 + 84*10
    assert net.macs == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10


def test_linear_over_positions_is_a_pointwise_layer():
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(12, 6)

        def forward(self, x):
            return self.proj(x)

    (layer,) = layers_from_torch(Tokens(), (1, 5, 12), "t").layers
    assert (layer.H, layer.W, layer.C, layer.K, layer.macs) == (5, 1, 12, 6, 5 * 12 * 6)


@pytest.mark.parametrize(
    "module,shape,message",
    [
        (nn.Sequential(nn.Conv1d(3, 4, 3)), (1, 3, 10), "Conv1d, which is not supported"),
        (nn.Sequential(nn.ConvTranspose2d(3, 4, 3)), (1, 3, 8, 8), "ConvTranspose2d"),
        (nn.Sequential(nn.Linear(4, 4), nn.LSTM(4, 4)), (1, 4), "LSTM"),
        (nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2)), (1, 3, 8, 8), "dilat"),
        (nn.Sequential(nn.Conv2d(3, 4, 3, stride=(1, 2))), (1, 3, 8, 8), "stride"),
        (nn.Sequential(nn.ReLU()), (1, 3), "no Conv2d or Linear"),
        (nn.Sequential(nn.Linear(4, 4)), (1, 5), "forward pass .* failed"),
        (nn.Sequential(nn.Linear(4, 4)), (4,), "batch dimension"),
        ("not a module", (1, 4), "not a torch.nn.Module"),
    ],
)
def test_unsupported_models_are_clear_errors(module, shape, message):
    with pytest.raises(QuidamInputError, match=message):
        layers_from_torch(module, shape, "bad")


def test_hooks_are_removed_and_mode_restored():
    model = MODELS["vgg7_fmnist"]().train()
    layers_from_torch(model, (1, 1, 28, 28), "v")
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_packaged_networks_are_what_the_torch_modules_give_now(name):
    factory = MODELS[name]
    fresh = layers_from_torch(factory(), factory.input_shape, name)
    assert load_network(name) == fresh  # the library network is the torch network, layer for layer


def test_resolve():
    model, shape, name = resolve("quidam_fast.quant.models:vgg7_fmnist")
    assert isinstance(model, nn.Module) and shape == (1, 1, 28, 28) and name == "vgg7_fmnist"
    for spec, message in [("nocolon", "package.module:attribute"), ("no_such_module_xyz:f", "cannot import"), ("quidam_fast.quant.models:nope", "no attribute"), ("quidam_fast.quant.models:INPUT_SHAPE", "not an nn.Module")]:
        with pytest.raises(QuidamInputError, match=message):
            resolve(spec)


@pytest.mark.parametrize("declared", ["28", "(1, 1, 28)[0]", "(1, 0, 28, 28)", "()", "(1, 1, 28.0, 28)", "'1,1,28,28'", "(True, 1, 28, 28)"])
def test_a_declared_input_shape_that_is_not_positive_integers_is_one_line(tmp_path, declared):
    module = tmp_path / f"declared_{abs(hash(declared))}.py"
    module.write_text("import torch.nn as nn\n"
                      f"net = nn.Sequential(nn.Conv2d(1, 4, 3))\nnet.input_shape = {declared}\n")
    with pytest.raises(QuidamInputError, match="input_shape = .* must be a tuple of positive integers"):
        resolve(f"{module}:net")


def test_a_declared_input_shape_of_numpy_integers_is_taken(tmp_path):
    module = tmp_path / "numpy_shape.py"
    module.write_text("import numpy as np\nimport torch.nn as nn\n"
                      "net = nn.Sequential(nn.Conv2d(1, 4, 3))\nnet.input_shape = tuple(np.array([1, 1, 28, 28]))\n")
    _, shape, _ = resolve(f"{module}:net")
    assert shape == (1, 1, 28, 28) and all(type(size) is int for size in shape)
