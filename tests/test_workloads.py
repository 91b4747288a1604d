"""The workload library against published MAC counts, and the CSV formats."""

import pytest

import quidam_fast as qf
from quidam_fast.workloads import Layer, Network, parse_network_csv

# multiply-accumulates per 224 x 224 inference as published (torchvision model docs / the papers)
PUBLISHED_GMACS = {"alexnet": 0.714, "vgg16": 15.47, "resnet18": 1.814, "resnet50": 4.089, "mobilenetv2": 0.301}
PUBLISHED_LAYERS = {"alexnet": 8, "vgg16": 16, "resnet18": 21, "resnet50": 54, "mobilenetv2": 53}


@pytest.mark.parametrize("name", sorted(PUBLISHED_GMACS))
def test_library_networks_match_published_macs(name):
    network = qf.load_network(name)
    assert network.macs / 1e9 == pytest.approx(PUBLISHED_GMACS[name], rel=2e-3)
    assert len(network.layers) == PUBLISHED_LAYERS[name]


def test_mobilenet_depthwise_layers_are_grouped():
    dw = [layer for layer in qf.load_network("mobilenetv2").layers if layer.kind == "depthwise"]
    assert len(dw) == 17 and all(layer.groups == layer.C == layer.K for layer in dw)


def test_scalesim_topology_keeps_unpadded_ceil_convention():
    net = parse_network_csv(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "Conv1,224,224,7,7,3,64,2,\nFC,1,1,1,1,512,1000,1,\n", name="t")
    conv1 = net.layers[0]
    assert (conv1.P, conv1.padding) == (-(-(224 - 7 + 2) // 2), 0) == (110, 0)
    assert net.layers[1].kind == "fc" and net.layers[1].macs == 512_000


def test_own_csv_round_trips():
    network = Network("n", (Layer("a", H=9, W=7, C=4, K=8, R=3, S=3, stride=2, padding=1, groups=2),
                            Layer("b", H=5, W=5, C=8, K=8, R=3, S=3, ceil_mode=True)))
    assert parse_network_csv(network.to_csv(), name="n") == network


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("a,b,c\n1,2,3\n", "unrecognized header"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nL,8,8,3,3,0,4,1,\n", "C = 0"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nL,8,x,3,3,2,4,1,\n", "'x' is not an integer"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nL,8,8,3\n", "columns"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nL,2,2,3,3,2,4,1,\n", "larger than the padded input"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n", "no layers"),
])
def test_malformed_topologies_name_the_problem(text, message):
    with pytest.raises(qf.QuidamInputError, match=message):
        parse_network_csv(text, name="bad", source="bad.csv")
