"""``quidam-fast networks``: list the workload library, or show one network's layers."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

import quidam_fast as qf


def networks(
    name: Annotated[
        Optional[str],
        typer.Argument(help="A library network name or a topology CSV path: print its layer table."),
    ] = None,
) -> None:
    """List the networks of the library with layer count and total MACs."""
    if name is None:
        typer.echo(f"{'network':<16}{'layers':>8}{'GMACs':>10}")
        for network_name in qf.network_names():
            net = qf.load_network(network_name)
            typer.echo(f"{network_name:<16}{len(net.layers):>8}{net.macs / 1e9:>10.3f}")
        return
    net = qf.load_network(name)
    typer.echo(f"{net.name}: {len(net.layers)} layers, {net.macs / 1e9:.3f} GMACs")
    typer.echo(f"{'layer':<22}{'kind':<10}{'H':>5}{'W':>5}{'C':>6}{'K':>6}{'R':>3}{'S':>3}{'str':>4}{'pad':>4}{'grp':>5}{'P':>5}{'Q':>5}{'MMACs':>10}")
    for layer in net.layers:
        typer.echo(
            f"{layer.name:<22}{layer.kind:<10}{layer.H:>5}{layer.W:>5}{layer.C:>6}{layer.K:>6}{layer.R:>3}{layer.S:>3}"
            f"{layer.stride:>4}{layer.padding:>4}{layer.groups:>5}{layer.P:>5}{layer.Q:>5}{layer.macs / 1e6:>10.2f}"
        )
