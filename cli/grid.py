"""``quidam-fast grid``: evaluate a design space on a network, save the dataset, print a summary."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

import quidam_fast as qf
from quidam_fast.accuracy import attach_accuracy, load_accuracy_table
from quidam_fast.analysis import best_design, relative_to, spread
from quidam_fast.errors import QuidamInputError

OUTPUT_SUFFIXES = (".nc", ".zarr")


def grid(
    spec: Annotated[Optional[Path], typer.Option(help="TOML spec: network, tech and a [space] table of axes.")] = None,
    network: Annotated[Optional[str], typer.Option(help="Library network name or topology CSV (overrides the spec).")] = None,
    tech: Annotated[Optional[str], typer.Option(help="Technology name or TOML file (overrides the spec).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the dataset: .nc (netCDF) or .zarr.")] = Path("quidam-grid.nc"),
    per_layer: Annotated[bool, typer.Option("--per-layer/--totals-only", help="Also save per-layer variables.")] = False,
    objective: Annotated[Optional[str], typer.Option(help="Row-stationary mapping objective: energy, latency or edp (overrides the spec).")] = None,
    accuracy: Annotated[Optional[Path], typer.Option(help="Accuracy table (netCDF) to join; default: the packaged one.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress display.")] = False,
) -> None:
    """Evaluate every design point of a space (default: ResNet-18 over the embedded default space)."""
    if out.suffix not in OUTPUT_SUFFIXES:
        raise QuidamInputError(f"--out {str(out)!r}: unknown suffix {out.suffix!r}; allowed: {', '.join(OUTPUT_SUFFIXES)}")
    if not out.parent.exists():
        raise QuidamInputError(f"--out {str(out)!r}: folder {str(out.parent)!r} does not exist")
    if out.suffix == ".zarr":
        try:
            import zarr  # noqa: F401
        except ImportError:
            raise QuidamInputError("--out *.zarr needs the zarr package (pip install zarr); use .nc otherwise") from None
    loaded = qf.load_spec(spec) if spec is not None else None
    network_name = network or (loaded.network if loaded else "resnet18")
    tech_name = tech or (loaded.tech if loaded else None)
    space = loaded.space if loaded else qf.default_space()
    net = qf.load_network(network_name)
    technology = qf.load_tech(tech_name) if tech_name else qf.load_tech()
    typer.echo(f"{net.name}: {len(net.layers)} layers, {net.macs / 1e6:,.1f} MMACs; {space.size:,} design points; "
               f"technology {technology.name}", err=True)

    started = time.perf_counter()
    with _progress(space.size, quiet) as update:
        results = qf.evaluate(net, space, technology, per_layer=per_layer,
                              objective=objective or (loaded.objective if loaded else "energy"), progress=update)
    results = attach_accuracy(results, load_accuracy_table(accuracy))
    seconds = time.perf_counter() - started
    _write(results, out)
    typer.echo(f"evaluated {space.size:,} points x {len(net.layers)} layers in {seconds:.2f} s "
               f"({space.size / seconds / 1e6:.2f} M points/s); wrote {out}", err=True)
    typer.echo(summary(results))


def summary(results) -> str:
    """Best design per PE type by performance per area and by energy, and the spread of each."""
    lines = []
    n_valid = int(results.valid.sum())
    lines.append(f"{n_valid:,} valid of {results.attrs['design_points']:,} design points; "
                 f"accuracy: {'joined' if 'accuracy' in results else results.attrs.get('accuracy', 'none')}")
    for metric, label, fmt in (("perf_per_area", "best performance per area (inferences/s/mm2)", "{:.4g}"),
                               ("energy_per_inference_j", "lowest energy per inference (mJ)", "{:.4g}")):
        lines.append("")
        lines.append(label)
        for row in best_design(results, metric, by="pe_type"):
            value = row[metric] * (1e3 if metric.startswith("energy") else 1)
            design = (f"{row['bits']:>2}b {row['rows']}x{row['cols']} {row['dataflow']} glb {row['glb_kib']} KiB"
                      + (f" spad {row['spad_ifmap']}/{row['spad_filter']}/{row['spad_psum']}" if row["dataflow"] == "rs" else "")
                      + f" {row['dram_gbps']:g} GB/s {row['clock_mhz']:g} MHz")
            if "accuracy" in results:
                top1 = float(results.accuracy.sel(pe_type=row["pe_type"], bits=row["bits"]).max())
                design += f"  accuracy {top1:.3f}" if top1 == top1 else "  accuracy n/a"
            lines.append(f"  {row['pe_type']:<9} {fmt.format(value):>10}  {design}")
        ratios = spread(results, metric, by="pe_type")
        overall = spread(results, metric)["all"]
        lines.append("  spread (best/worst): all " + f"{overall:.1f}x; "
                     + ", ".join(f"{pe} {ratio:.1f}x" for pe, ratio in ratios.items()))
    if "int" in results.pe_type.values and 16 in results.bits.values and bool(results.valid.sel(pe_type="int", bits=16).any()):
        lines.append("")
        lines.append("best of each PE type and precision relative to the best int16 design (perf/area, energy)")
        area, energy = relative_to(results, "perf_per_area"), relative_to(results, "energy_per_inference_j")
        for pe_type in results.pe_type.values:
            cells = [f"{b}b {area[(pe_type, b)]:.2f}x/{energy[(pe_type, b)]:.2f}x" for b in results.bits.values
                     if (pe_type, int(b)) in area]
            lines.append(f"  {pe_type:<9} " + ", ".join(cells))
    return "\n".join(lines)


def _write(results, out: Path) -> None:
    """Write atomically: a temporary sibling, then rename, so no partial file is ever left at ``out``."""
    folder = out.parent if str(out.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix, dir=folder)
    os.close(handle)
    try:
        if out.suffix == ".nc":
            results.to_netcdf(temporary, engine="h5netcdf")
        else:
            os.unlink(temporary)
            results.to_zarr(temporary, mode="w")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask if out.suffix == ".nc" else 0o777 & ~umask)  # mkstemp made it 0600
        if out.is_dir():
            import shutil

            shutil.rmtree(out)
        os.replace(temporary, out)
    except BaseException:
        if os.path.isdir(temporary):
            import shutil

            shutil.rmtree(temporary, ignore_errors=True)
        elif os.path.exists(temporary):
            os.unlink(temporary)
        raise


class _progress:
    """A one-line progress display on stderr (silent when quiet or not a terminal)."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet = total, quiet
        self.bar = None

    def __enter__(self):
        if not self.quiet:
            self.bar = typer.progressbar(length=self.total, label="evaluating", file=None)
            self.bar.__enter__()
            self.done = 0
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.done = done

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False
