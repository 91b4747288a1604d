"""``quidam-fast networks``: list the workload library, show one network's layers, or import a torch model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import quidam_fast as qf
from quidam_fast.errors import QuidamInputError
from quidam_fast._files import write_text_atomically


def networks(
    name: Annotated[
        Optional[str],
        typer.Argument(help="A library network name or a topology CSV path: print its layer table."),
    ] = None,
    from_torch: Annotated[
        Optional[str],
        typer.Option(
            "--from-torch",
            help="module:attr or path/to/file.py:attr naming an nn.Module or a callable returning one "
            "(modules in the current folder are found; needs torch): print its layer table.",
        ),
    ] = None,
    input_shape: Annotated[
        Optional[str],
        typer.Option(help="With --from-torch: input shape, batch first, e.g. 1,3,32,32 (default: the model's input_shape attribute)."),
    ] = None,
    network_name: Annotated[
        Optional[str], typer.Option("--name", help="With --from-torch: the network's name (default: the attribute's).")
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="With --from-torch: write the layer table as CSV to this path.")
    ] = None,
    save: Annotated[
        bool,
        typer.Option("--save", help="With --from-torch: write the CSV into the packaged library (data/networks/<name>.csv)."),
    ] = False,
) -> None:
    """List the networks of the library with layer count and total MACs."""
    if from_torch is not None:
        if name is not None:
            raise QuidamInputError("give either a network NAME or --from-torch, not both")
        net = _from_torch(from_torch, input_shape, network_name)
        targets = ([output] if output else []) + ([_library_path(net.name)] if save else [])
        text = net.to_csv()
        for path in targets:
            _write_atomically(path, text, hint="; write it elsewhere with --output FILE" if path is not output else "")
            typer.echo(f"wrote {path}", err=True)
        _print_layers(net)
        return
    if output is not None or save or input_shape is not None or network_name is not None:
        raise QuidamInputError("--input-shape, --name, --output and --save go with --from-torch")
    if name is None:
        typer.echo(f"{'network':<16}{'layers':>8}{'GMACs':>10}")
        for network_name in qf.network_names():
            net = qf.load_network(network_name)
            typer.echo(f"{network_name:<16}{len(net.layers):>8}{net.macs / 1e9:>10.3f}")
        return
    _print_layers(qf.load_network(name))


def _from_torch(spec: str, input_shape: str | None, network_name: str | None) -> qf.Network:
    try:
        from quidam_fast.quant.extract import layers_from_torch, resolve
    except ImportError as error:
        raise QuidamInputError(f"--from-torch needs torch ({error}); install the extra: pip install 'quidam-fast[quant]'") from None
    model, declared_shape, default_name = resolve(spec)
    if input_shape is not None:
        try:
            shape = tuple(int(s) for s in input_shape.split(","))
        except ValueError:
            raise QuidamInputError(f"--input-shape {input_shape!r} must be comma-separated integers, e.g. 1,3,32,32") from None
    elif declared_shape is not None:
        shape = declared_shape
    else:
        raise QuidamInputError(f"{spec} declares no input_shape; pass --input-shape, e.g. 1,3,32,32")
    return layers_from_torch(model, shape, network_name or default_name)


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


def _print_layers(net: qf.Network) -> None:
    typer.echo(f"{net.name}: {len(net.layers)} layers, {net.macs / 1e9:.3f} GMACs")
    typer.echo(f"{'layer':<22}{'kind':<10}{'H':>5}{'W':>5}{'C':>6}{'K':>6}{'R':>3}{'S':>3}{'str':>4}{'pad':>4}{'grp':>5}{'P':>5}{'Q':>5}{'MMACs':>10}")
    for layer in net.layers:
        typer.echo(
            f"{layer.name:<22}{layer.kind:<10}{layer.H:>5}{layer.W:>5}{layer.C:>6}{layer.K:>6}{layer.R:>3}{layer.S:>3}"
            f"{layer.stride:>4}{layer.padding:>4}{layer.groups:>5}{layer.P:>5}{layer.Q:>5}{layer.macs / 1e6:>10.2f}"
        )
