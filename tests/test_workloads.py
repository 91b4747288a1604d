"""The workload library against published MAC counts, and the CSV formats."""

import re

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


OWN_CSV = "name,H,W,C,K,R,S,stride,padding,groups,N\nconv,8,8,2,4,3,3,1,1,1,1\n"


@pytest.mark.parametrize("content, message", [
    (b"name,H,W,C,K,R,S,stride,padding,groups,N\ncaf\xe9,8,8,2,4,3,3,1,1,1,1\n",
     r"network file '.*net.csv' is not UTF-8 text \(byte 0xe9 on line 2\); save it as UTF-8"),
    (OWN_CSV.encode() + b"x" * 200_000 + b",1\n", r"net.csv: not a readable CSV file \(field larger than field limit"),
])
def test_unreadable_topology_files_are_input_errors(tmp_path, content, message):
    (tmp_path / "net.csv").write_bytes(content)
    with pytest.raises(qf.QuidamInputError, match=message):
        qf.load_network(tmp_path / "net.csv")


def test_topology_file_errors_from_the_file_system(tmp_path, monkeypatch):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(qf.QuidamInputError, match=r"network file '.*folder.csv' is a folder, not a file"):
        qf.load_network(tmp_path / "folder.csv")
    (tmp_path / "net.csv").write_text(OWN_CSV)

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("quidam_fast._files._open_for_reading", unreadable)  # root reads any file: simulate the denial
    with pytest.raises(qf.QuidamInputError, match=r"network file '.*net.csv' cannot be read: Permission denied"):
        qf.load_network(tmp_path / "net.csv")
    with pytest.raises(qf.QuidamInputError, match=r"spec file '.*net.csv' cannot be read: Permission denied"):
        qf.load_spec(tmp_path / "net.csv")


def test_topology_with_a_byte_order_mark_loads(tmp_path):
    (tmp_path / "net.csv").write_bytes(b"\xef\xbb\xbf" + OWN_CSV.encode())
    assert qf.load_network(tmp_path / "net.csv").layers[0].name == "conv"


# --- technology files: values, not only keys, are checked ----------------------------------------

def _tech_with(tmp_path, section, key, value):
    """The shipped published-45nm technology with ``[section] key`` set to the TOML text ``value``."""
    import re
    from importlib import resources

    text = resources.files("quidam_fast").joinpath("data", "tech", "published-45nm.toml").read_text()
    header = text.index(f"[{section}]\n") if section != "top level" else 0
    match = re.compile(rf"^{key} = .*$", re.M).search(text, header)
    assert match, (section, key)
    path = tmp_path / "tech.toml"
    path.write_text(text[:match.start()] + f"{key} = {value}" + text[match.end():])
    return path


def _toml_list(values):
    return "[" + ", ".join(repr(v) for v in values) + "]"


def _glb_column(key):
    import tomllib
    from importlib import resources

    text = resources.files("quidam_fast").joinpath("data", "tech", "published-45nm.toml").read_text()
    return tomllib.loads(text)["glb"][key]


@pytest.mark.parametrize("section, key, value, message", [
    ("top level", "name", '""', r"\[top level\] name = '' is not allowed; it must be a non-empty string"),
    ("top level", "node_nm", "0", r"\[top level\] node_nm = 0 is not allowed; it must be a finite number > 0"),
    ("pe.int", "mac_energy_pj", '["a", 1.0]', r"\[pe.int\] mac_energy_pj = \['a', 1.0\] is not allowed; it must be a list of one or more finite numbers"),
    ("pe.int", "mac_area_um2", "3.0", r"\[pe.int\] mac_area_um2 = 3.0 is not allowed; it must be a list"),
    ("pe.int", "mac_leakage_uw", "[nan]", r"\[pe.int\] mac_leakage_uw = \[nan\] is not allowed"),
    ("pe.int", "accumulator_bits", "[]", r"\[pe.int\] accumulator_bits = \[\] is not allowed"),
    ("pe.int", "bits_range", "[8, 4]", r"\[pe.int\] bits_range = \[8, 4\] is not allowed; it must be \[lo, hi\] with 1 <= lo <= hi"),
    ("pe.int", "bits_range", "[0, 4]", r"\[pe.int\] bits_range = \[0, 4\] is not allowed; it must be a list of integers >= 1"),
    ("pe.fp", "bits_values", "[16.5]", r"\[pe.fp\] bits_values = \[16.5\] is not allowed; it must be a list of integers >= 1"),
    ("pe.int", "weight_bits", "-1", r"\[pe.int\] weight_bits = -1 is not allowed; it must be an integer >= 0"),
    ("pe.int", "weight_bits", "true", r"\[pe.int\] weight_bits = True is not allowed"),
    ("spad", "area_um2", "[[1.0, -1, 1]]", r"\[spad\] area_um2 = \[\[1.0, -1, 1\]\] is not allowed; it must be a list of \[coefficient, power_of_words, power_of_bits\]"),
    ("spad", "read_energy_pj", "[[1.0, 1]]", r"\[spad\] read_energy_pj = .* is not allowed"),
    ("register", "write_energy_pj", '"x"', r"\[register\] write_energy_pj = 'x' is not allowed; it must be a list of one or more finite numbers"),
    ("glb", "read_energy_pj", _toml_list([-1.0] + _glb_column("read_energy_pj")[1:]),
     r"\[glb\] read_energy_pj = \[-1.0, .*\.\.\. is not allowed; it must be a list of one or more finite numbers >= 0"),
    ("glb", "area_mm2", _toml_list([float("inf")] + _glb_column("area_mm2")[1:]), r"\[glb\] area_mm2 = \[inf, .* is not allowed"),
    ("glb", "capacity_bytes", _toml_list([0] + _glb_column("capacity_bytes")[1:]), r"\[glb\] capacity_bytes = .* it must be a list of finite numbers > 0"),
    ("glb", "width_bits", _toml_list([16] * len(_glb_column("width_bits"))), r"\[glb\] capacity_bytes x width_bits must be a full grid"),
    ("glb", "leakage_mw", "[1.0, 2.0]", r"\[glb\] columns have different lengths"),
    ("wire", "capacitance_pf_per_mm", '"cheap"', r"\[wire\] capacitance_pf_per_mm = 'cheap' is not allowed; it must be a finite number > 0"),
    ("dram", "energy_pj_per_bit", "-30.0", r"\[dram\] energy_pj_per_bit = -30.0 is not allowed"),
])
def test_technology_values_are_checked(tmp_path, section, key, value, message):
    path = _tech_with(tmp_path, section, key, value)
    with pytest.raises(qf.QuidamInputError, match=rf"^{re.escape(str(path))}: {message}"):
        qf.load_tech(path)


_MEASURED = """
[pe.int.measured]
bits = [2]
mac_area_um2 = [10.0]
mac_energy_pj = [0.5]
mac_leakage_uw = [0.0]
"""


def _tech_with_measured(tmp_path, section):
    from importlib import resources

    text = resources.files("quidam_fast").joinpath("data", "tech", "published-45nm.toml").read_text()
    path = tmp_path / "tech.toml"
    path.write_text(text + section)
    return path


def test_measured_points_replace_the_polynomials_at_their_widths(tmp_path):
    tech = qf.load_tech(_tech_with_measured(tmp_path, _MEASURED.replace("bits = [2]", "bits = [1]")))
    published = qf.load_tech("published-45nm")
    assert tech.valid_bits("int", 1) and not published.valid_bits("int", 1)
    at_1 = tech.pe_cost("int", 1)
    assert (at_1["mac_area_um2"], at_1["mac_energy_pj"], at_1["mac_leakage_uw"]) == (10.0, 0.5, 0.0)
    assert at_1["psum_bits"] == published.pe_cost("int", 2)["psum_bits"] - 2  # still the polynomial
    assert tech.pe_cost("int", 3) == published.pe_cost("int", 3)


@pytest.mark.parametrize("edit, message", [
    (("mac_energy_pj = [0.5]", "mac_energy_pj = [0.5, 0.6]"),
     r"\[pe.int.measured\] mac_energy_pj = \[0.5, 0.6\] is not allowed; it must be a list of 1 finite numbers >= 0"),
    (("mac_area_um2 = [10.0]", "mac_area_um2 = [-10.0]"), r"\[pe.int.measured\] mac_area_um2 = \[-10.0\] is not allowed"),
    (("bits = [2]", "bits = [2, 2]"), r"\[pe.int.measured\] bits = \[2, 2\] is not allowed; it must be a list of distinct"),
    (("mac_leakage_uw = [0.0]", "mac_leakage_uw = [0.0]\nspeed = [1.0]"), r"\[pe.int.measured\] has unknown keys \['speed'\]"),
    (("mac_leakage_uw = [0.0]\n", ""), r"\[pe.int.measured\] lacks the key 'mac_leakage_uw'"),
])
def test_measured_points_are_checked(tmp_path, edit, message):
    path = _tech_with_measured(tmp_path, _MEASURED.replace(*edit))
    with pytest.raises(qf.QuidamInputError, match=rf"^{re.escape(str(path))}: {message}"):
        qf.load_tech(path)


def test_shipped_technologies_pass_the_checks():
    for name in qf.tech_names():
        assert qf.load_tech(name).name == name


# --- size limits: what would overflow the kernels' 64-bit counts is refused when the layer is built ---

@pytest.mark.parametrize("fields, message", [
    ({"C": 2**63 - 1}, r"layer 'big': C = 9223372036854775807 is too large; .* at most 2\^31 - 1 = 2147483647"),
    ({"padding": 2**62}, r"layer 'big': padding = 4611686018427387904 is too large"),
    ({"C": 3 * 10**9, "K": 3 * 10**9}, r"layer 'big': C = 3000000000 is too large"),
    ({"C": 2**30, "K": 2**30}, r"layer 'big': MACs \(N K C/groups R S P Q\) = 1.15e\+18 is too large; one layer may count at most 2\^45"),
    ({"H": 2**20, "W": 2**20, "C": 2**6, "K": 1, "R": 1, "S": 1, "stride": 2**20},
     r"layer 'big': input words \(N C H W\) = 7.04e\+13 is too large"),
    ({"H": 2**16, "W": 2**16, "C": 1, "K": 2**14, "stride": 2**8},  # few MACs: the stride skips most inputs
     r"layer 'big': input re-reads \(N C H W K/groups\) = 7.04e\+13 is too large"),
])
def test_layers_beyond_the_kernels_counting_range_are_refused(fields, message):
    values = {"H": 1, "W": 1, "C": 1, "K": 1, **fields}
    with pytest.raises(qf.QuidamInputError, match=message):
        Layer("big", **values)


def test_the_largest_allowed_layer_evaluates_with_exact_macs():
    from quidam_fast.workloads import MAX_COUNT

    # a 2^45-MAC matrix product: every count the kernels form stays in int64, the MAC total exact in float64
    layer = Layer("edge", H=2**13, W=1, C=2**16, K=2**16)
    assert layer.macs == MAX_COUNT
    results = qf.evaluate(Network("edge", (layer,)), {"dataflow": ["ws", "os", "is", "rs"], "rows": [1, 128]},
                          tech="published-45nm", per_layer=False)
    assert bool(results.valid.all()) and (results.macs.values == float(2**45)).all()
    assert bool((results.cycles >= 2**45 / (results.rows * results.cols)).all())
    assert bool((results.energy_pj > 0).all() and (results.dram_bytes > 0).all())


def test_a_topology_csv_with_an_overflowing_layer_is_one_line(tmp_path):
    (tmp_path / "net.csv").write_text(f"name,H,W,C,K,R,S,stride,padding,groups,N\nhuge,8,8,{2**63 - 1},4,3,3,1,1,1,1\n")
    with pytest.raises(qf.QuidamInputError, match=r"net.csv, line 2: layer 'huge': C = 9223372036854775807 is too large"):
        qf.load_network(tmp_path / "net.csv")


# --- where networks come from: library names with parameters, files, torch models ------------------

def test_batch_parameter_scales_every_library_network():
    for name in ("alexnet", "mobilenetv2", "lenet5_fmnist"):
        single, four = qf.load_network(name), qf.load_network(f"{name}@batch=4")
        assert four.macs == 4 * single.macs and four.name == f"{name}@batch=4"
        assert [layer.N for layer in four.layers] == [4 * layer.N for layer in single.layers]


def test_input_shape_goes_only_with_imported_models():
    with pytest.raises(qf.QuidamInputError, match=r"an input shape applies only to an .onnx file or a torch model"):
        qf.load_network("resnet18", input_shape=(1, 3, 224, 224))


@pytest.mark.parametrize("text, expected", [
    ("1,3,32,32", (1, 3, 32, 32)), (" 2, 8 ", (2, 8)), ("batch=1,seq=128", {"batch": 1, "seq": 128}),
])
def test_input_shapes_parse(text, expected):
    from quidam_fast.workloads import parse_input_shape

    assert parse_input_shape(text) == expected


@pytest.mark.parametrize("text", ["", "1,x", "0,3", "batch=0", "=4", "1,seq=2", f"{2**31}"])
def test_bad_input_shapes_are_one_line(text):
    from quidam_fast.workloads import parse_input_shape

    with pytest.raises(qf.QuidamInputError, match=r"must be comma-separated positive integers"):
        parse_input_shape(text)
    with pytest.raises(qf.QuidamInputError, match=r"input shape 'seq=1,seq=2' names a dimension twice"):
        parse_input_shape("seq=1,seq=2")


TORCH_MODEL = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 16 * 16, 10)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))
"""


def test_torch_models_load_by_file_and_attribute(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "model.py").write_text(TORCH_MODEL)
    net = qf.load_network(f"{tmp_path / 'model.py'}:Net", input_shape=(2, 3, 16, 16))
    assert [(l.name, l.N, l.macs) for l in net.layers] == [
        ("conv", 2, 2 * 8 * 3 * 9 * 16 * 16), ("fc", 2, 2 * 8 * 16 * 16 * 10)]
    with pytest.raises(qf.QuidamInputError, match=r"model.py:Net declares no input_shape; give one, batch first"):
        qf.load_network(f"{tmp_path / 'model.py'}:Net")


def test_spec_network_and_input_shape_resolve_beside_the_spec(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "spec.toml").write_text('network = "model.py:Net"\ninput_shape = [1, 3, 16, 16]\n')
    spec = qf.load_spec(tmp_path / "sub" / "spec.toml")
    assert spec.network == f"{tmp_path / 'sub' / 'model.py'}:Net" and spec.input_shape == (1, 3, 16, 16)
    (tmp_path / "sub" / "spec.toml").write_text('network = "m.onnx"\ninput_shape = {batch = 2}\n')
    spec = qf.load_spec(tmp_path / "sub" / "spec.toml")
    assert spec.network == str(tmp_path / "sub" / "m.onnx") and spec.input_shape == {"batch": 2}
    (tmp_path / "sub" / "spec.toml").write_text('network = "m.onnx"\ninput_shape = [1, 0]\n')
    with pytest.raises(qf.QuidamInputError, match=r"spec.toml: input_shape = \[1, 0\] is not allowed; it must be a list of positive integers"):
        qf.load_spec(tmp_path / "sub" / "spec.toml")


def test_grid_takes_a_torch_model_and_an_input_shape(tmp_path):
    pytest.importorskip("torch")
    import subprocess
    import sys

    import xarray as xr

    (tmp_path / "model.py").write_text(TORCH_MODEL)
    space = ('[space]\nrows = [8]\ncols = [8]\ndataflow = ["ws", "os"]\npe_type = ["int"]\nbits = [8]\nglb_kib = [64]\n'
             'spad_ifmap = [12]\nspad_filter = [224]\nspad_psum = [24]\ndram_gbps = [25.6]\nclock_mhz = [100]\n')
    (tmp_path / "spec.toml").write_text('tech = "published-45nm"\n' + space)
    command = [sys.executable, "-P", "-m", "quidam_fast.cli", "grid", "--spec", "spec.toml", "--quiet"]
    done = subprocess.run(command + ["--network", "model.py:Net", "--input-shape", "1,3,16,16", "--out", "a.nc"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert xr.load_dataset(tmp_path / "a.nc").attrs["network_macs"] == 8 * 3 * 9 * 16 * 16 + 8 * 16 * 16 * 10
    refused = subprocess.run(command + ["--network", "model.py:Net", "--out", "b.nc"], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "error: model.py:Net declares no input_shape; give one, batch first (--input-shape 1,3,32,32)"]
    assert not (tmp_path / "b.nc").exists()


def test_a_network_beyond_exact_float64_totals_is_refused():
    from quidam_fast.workloads import MAX_NETWORK_MACS

    layers = [Layer(f"l{i}", H=2**13, W=1, C=2**16, K=2**16) for i in range(257)]  # 2^45 MACs each
    assert Network("edge", tuple(layers[:256])).macs == MAX_NETWORK_MACS
    with pytest.raises(qf.QuidamInputError, match=r"network 'big': 9.04e\+15 MACs in all is too large; .* at most 2\^53"):
        Network("big", tuple(layers))


def test_a_batch_axis_that_would_push_a_layer_over_the_limits_is_refused():
    network = Network("edge", (Layer("l", H=2**13, W=1, C=2**16, K=2**16),))  # 2^45 MACs at batch 1
    with pytest.raises(qf.QuidamInputError, match=r"network 'edge' at batch = 2: layer 'l': MACs .* is too large"):
        qf.evaluate(network, {"batch": [1, 2]}, tech="published-45nm")
