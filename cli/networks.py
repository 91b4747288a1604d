"""``quidam-fast networks``: list the workload library, show one network's layers (library, CSV, ONNX or torch),
or save a layer table as CSV."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

import quidam_fast as qf
from quidam_fast.errors import QuidamInputError
from quidam_fast._files import write_text_atomically
from quidam_fast.workloads import parse_input_shape


def networks(
    name: Annotated[
        Optional[str],
        typer.Argument(
            help="A library network (parameters after @, e.g. gpt2_small_decode@kv=4096), a topology .csv, an .onnx "
            "file or a torch model path/to/model.py:attr: print its layer table."
        ),
    ] = None,
    from_torch: Annotated[
        Optional[str],
        typer.Option(
            "--from-torch",
            help="module:attr or path/to/file.py:attr naming an nn.Module or a callable returning one "
            "(modules in the current folder are found; needs torch): print its layer table (same as NAME).",
        ),
    ] = None,
    input_shape: Annotated[
        Optional[str],
        typer.Option(
            help="With a torch model: input shape, batch first, e.g. 1,3,32,32 (default: the model's input_shape "
            "attribute). With an .onnx file: sizes of dynamic dimensions, e.g. batch=1,seq=128, or the input's shape."
        ),
    ] = None,
    network_name: Annotated[
        Optional[str], typer.Option("--name", help="With --from-torch or an .onnx/torch NAME: the network's name.")
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="With --from-torch or an .onnx/torch NAME: write the layer table as CSV to this path.")
    ] = None,
    save: Annotated[
        bool,
        typer.Option("--save", help="With --from-torch or an .onnx/torch NAME: write the CSV into the packaged library (data/networks/<name>.csv)."),
    ] = False,
) -> None:
    """List the networks of the library with layer count and total MACs, or show one network's layers."""
    if from_torch is not None and name is not None:
        raise QuidamInputError("give either a network NAME or --from-torch, not both")
    source = from_torch if from_torch is not None else name
    if source is None:
        if output is not None or save or input_shape is not None or network_name is not None:
            raise QuidamInputError("--input-shape, --name, --output and --save go with a network NAME or --from-torch")
        typer.echo(f"{'network':<20}{'layers':>8}{'MACs':>15}")
        for library_name in qf.network_names():
            net = qf.load_network(library_name)
            typer.echo(f"{library_name:<20}{len(net.layers):>8}{format_macs(net.macs):>15}")
        return
    imported = from_torch is not None or source.lower().endswith(".onnx") or ":" in source
    if not imported and (output is not None or save or network_name is not None):
        raise QuidamInputError("--name, --output and --save go with --from-torch or an imported model (.onnx, file.py:attr)")
    if from_torch is not None and ":" not in from_torch:
        raise QuidamInputError(f"--from-torch {from_torch!r} must be written package.module:attribute or path/to/file.py:attribute")
    # Every input is checked before anything is written: the whole table is built first, so a model
    # that fails half-way (an unsupported operator) leaves no partial CSV behind.
    net = qf.load_network(source, input_shape=parse_input_shape(input_shape) if input_shape is not None else None)
    if network_name is not None:
        net = dataclasses.replace(net, name=network_name)
    targets = ([output] if output else []) + ([_library_path(net.name)] if save else [])
    text = net.to_csv()
    for path in targets:
        _write_atomically(path, text, hint="; write it elsewhere with --output FILE" if path is not output else "")
        typer.echo(f"wrote {path}", err=True)
    _print_layers(net)


def _library_path(name: str) -> Path:
    from importlib import resources

    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise QuidamInputError(f"network name {name!r} cannot be a file name in the library")
    folder = resources.files("quidam_fast").joinpath("data", "networks")
    return Path(str(folder)) / f"{name}.csv"


def _write_atomically(path: Path, text: str, hint: str = "") -> None:
    """:func:`write_text_atomically`, with an ``OSError`` (a read-only installed package, a missing
    permission, a full disk) turned into a :class:`QuidamInputError` naming the path, ``hint`` appended."""
    if path.is_dir():
        raise QuidamInputError(f"cannot write {str(path)!r}: it is a folder; give a file name such as net.csv")
    try:
        write_text_atomically(path, text)
    except OSError as error:
        raise QuidamInputError(f"cannot write {str(path)!r}: {error.strerror or error}{hint}") from None


def format_macs(macs: float) -> str:
    """A MAC count in the unit that keeps three or four significant digits visible (a LeNet is not
    "0.000 GMACs").

    >>> format_macs(1_814_073_344), format_macs(422_000), format_macs(6_210)
    ('1.814 GMACs', '0.422 MMACs', '6.21 kMACs')
    """
    if macs >= 1e9:
        return f"{macs / 1e9:.3f} GMACs"
    if macs >= 1e5:
        return f"{macs / 1e6:.3f} MMACs"
    return f"{macs / 1e3:.3g} kMACs"


def _print_layers(net: qf.Network) -> None:
    typer.echo(f"{net.name}: {len(net.layers)} layers, {format_macs(net.macs)}")
    if net.notes:
        typer.echo(net.notes)
    typer.echo(f"{'layer':<22}{'kind':<10}{'H':>5}{'W':>5}{'C':>6}{'K':>6}{'R':>3}{'S':>3}{'str':>4}{'pad':>4}{'grp':>5}{'P':>5}{'Q':>5}{'MMACs':>10}")
    for layer in net.layers:
        typer.echo(
            f"{layer.name:<22}{layer.kind:<10}{layer.H:>5}{layer.W:>5}{layer.C:>6}{layer.K:>6}{layer.R:>3}{layer.S:>3}"
            f"{layer.stride:>4}{layer.padding:>4}{layer.groups:>5}{layer.P:>5}{layer.Q:>5}{layer.macs / 1e6:>10.2f}"
        )
