"""``quidam-fast quant``: train the accuracy table (``train``), print one (``show``), record which networks
a table was trained on (``fingerprint``).

torch is imported only when ``train`` runs, so the rest of the CLI works without it.
"""

from __future__ import annotations

import shlex
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from quidam_fast import _files
from quidam_fast._files import check_output_path
from quidam_fast.cli._progress import bar
from quidam_fast.errors import QuidamInputError

app = typer.Typer(help="Quantization-aware training: the accuracy table the hardware results join on.", no_args_is_help=True)


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def partial_path(output: Path) -> Path:
    """Where ``quant train -o OUTPUT`` checkpoints while it runs: ``OUTPUT`` with suffix ``.partial.nc``.

    >>> partial_path(Path("runs/acc.nc")).as_posix(), partial_path(Path("acc")).as_posix()
    ('runs/acc.partial.nc', 'acc.partial.nc')
    """
    return output.with_suffix(".partial.nc")


@app.command()
def train(
    output: Annotated[Path, typer.Option("--output", "-o", help="netCDF file to write (atomically, once every run has finished; checkpoints go to FILE.partial.nc).")],
    network: Annotated[Optional[list[str]], typer.Option("--network", "-n", help="Network(s) to train; comma-separated or repeated. Default: all.")] = None,
    cells: Annotated[Optional[list[str]], typer.Option("--cells", "-c", help="pe_type:bits cells, e.g. fp:32,int:8,lightpe1:4 (LightPE bits = activations). Default: the default table's.")] = None,
    seeds: Annotated[str, typer.Option(help="Seeds, comma-separated.")] = "0,1,2",
    epochs: Annotated[Optional[float], typer.Option(help="FP32 training epochs (default: per network, see quidam_fast.quant.train.DEFAULT_SCHEDULES).")] = None,
    qat_epochs: Annotated[Optional[float], typer.Option(help="Fine-tuning epochs per cell (fractions allowed).")] = None,
    train_subset: Annotated[Optional[int], typer.Option(help="Use only the first N training images (quick runs).")] = None,
    threads: Annotated[int, typer.Option(help="torch CPU threads (1 keeps runs bit-for-bit repeatable).")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUTPUT's checkpoint (FILE.partial.nc) of the same command: its cells are kept, the rest are trained.")] = False,
) -> None:
    """Train FP32 networks, fine-tune them at each (pe_type, bits) cell, and write the accuracy table.

    OUTPUT is written only when every run has finished (attribute complete = "yes"). After each
    cell, what is done so far is saved to OUTPUT with suffix .partial.nc (complete = "no ..."; the
    accuracy join refuses it), which the finished table then replaces. An interrupted run continues
    with the same command and --resume: the checkpoint's cells are kept (it must have been made by the
    same command), the FP32 model of an unfinished (network, seed) is retrained (seeded, so the same
    model) and the missing cells are trained. Without --resume an existing checkpoint is refused, so
    hours of training are never overwritten by mistake.
    """
    import dataclasses

    # The table and its checkpoint must be writable before any training (hours) starts: '' or a folder,
    # /proc, a read-only folder or a name too long are refused now.
    check_output_path(output, "--output")
    check_output_path(partial_path(output), "--output (its checkpoint)")

    import torch

    from quidam_fast.quant import train as qt

    if threads < 1:
        raise QuidamInputError(f"--threads {threads}: must be at least 1")
    torch.set_num_threads(threads)
    networks = _split(network) or list(qt.DEFAULT_SCHEDULES)
    cell_list = [qt.parse_cell(c) for c in _split(cells)] or list(qt.DEFAULT_CELLS)
    try:
        seed_list = [int(s) for s in _split([seeds])]
    except ValueError:
        raise QuidamInputError(f"--seeds {seeds!r} must be comma-separated integers") from None
    if not seed_list:
        raise QuidamInputError("--seeds is empty")
    if len(set(seed_list)) != len(seed_list):
        raise QuidamInputError(f"--seeds {seeds!r} repeats a seed")
    if len(set(cell_list)) != len(cell_list):
        raise QuidamInputError(f"--cells {','.join(_split(cells))!r} repeats a cell")
    overrides = {k: v for k, v in {"epochs": epochs, "qat_epochs": qat_epochs, "train_subset": train_subset}.items() if v is not None}
    schedules = {n: dataclasses.replace(qt.DEFAULT_SCHEDULES.get(n, qt.Schedule()), **overrides) for n in networks}

    # The canonical command that reproduces this table (what was asked, defaults spelled out).
    command = shlex.join(
        ["quidam-fast", "quant", "train", "-o", str(output), "-n", ",".join(networks), "-c", ",".join(f"{p}:{b}" for p, b in cell_list), "--seeds", ",".join(map(str, seed_list))]
        + [f"--{key.replace('_', '-')}={value}" for key, value in overrides.items()]
        + ([f"--threads={threads}"] if threads != 1 else [])
    )
    # Checkpoints never touch OUTPUT (an earlier finished table there stays valid until this run
    # finishes); they go to a sibling file that load_accuracy_table refuses (complete != "yes").
    partial = partial_path(output)
    records, done, before = _resume(partial, command, _schedules_text(schedules), resume)
    started, cpu_started = time.perf_counter(), time.process_time()
    state = {"done": 0, "total": 0}

    def progress(event: dict) -> None:
        """A line per finished step (above the bar on a terminal; plain lines in a log, no dots)."""
        elapsed = time.perf_counter() - started
        if event["kind"] == "start":
            state["total"] = event["cells"]
            shown.update(total=event["cells"])
            shown.echo(f"{event['runs']} FP32 runs, {event['cells']} cells")
        elif event["kind"] == "base":
            shown.echo(f"[{elapsed:7.0f} s] {event['network']} seed {event['seed']}: FP32 {event['accuracy']:.4f} ({event['seconds']:.0f} s)")
        elif event["kind"] == "cell":
            state["done"] += 1
            shown.update(done=state["done"])
            eta = elapsed / state["done"] * (state["total"] - state["done"])
            shown.echo(
                f"[{elapsed:7.0f} s] {state['done']}/{state['total']} {event['network']} seed {event['seed']} "
                f"{event['pe_type']}:{event['bits']} accuracy {event['accuracy']:.4f} ({event['train_s']:.0f} s, eta {eta / 60:.0f} min)"
            )
        # "tick" (a training step): the bar redraws itself; nothing to print

    attrs = {
        "command": command,
        "created": before.get("created", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")),
        "schedules": _schedules_text(schedules),
        "seeds": ",".join(map(str, seed_list)),
        "torch_threads": threads,
    }

    def times() -> dict:
        """Wall and CPU seconds of the whole table, summed over the sessions that trained it."""
        return {
            "runtime_s": round(before.get("runtime_s", 0.0) + time.perf_counter() - started, 1),
            "cpu_s": round(before.get("cpu_s", 0.0) + time.process_time() - cpu_started, 1),
            "sessions": before.get("sessions", 0) + 1,
        }

    checkpointed = bool(records)
    # on a terminal: cells done, cells per minute, elapsed and time left (progress() above draws on it)
    with bar("training", None, "cells") as shown:
        try:
            for record in qt.iter_accuracy_records(networks, cell_list, seed_list, schedules, progress, done=done):
                records.append(record)  # a cell finished: save what we have (a few ms next to minutes of training)
                qt.write_table(qt.records_to_dataset(records, {**attrs, **times(), "complete": "no (partial, still running)"}), partial)
                checkpointed = True
        except BaseException as error:
            if checkpointed:
                note = (f"the cells finished so far are in {partial} (not {output}; complete = no); "
                        "continue with the same command and --resume")
                if isinstance(error, KeyboardInterrupt):
                    _files.NOTES.append(note)  # on the one line a Ctrl-C prints (quidam_fast.cli.main)
                else:
                    shown.echo(f"stopped; {note}")
            raise
    spent = times()
    qt.write_table(qt.records_to_dataset(records, {**attrs, **spent, "complete": "yes"}), output)
    if checkpointed:
        partial.unlink(missing_ok=True)
    typer.echo(f"wrote {output} ({len(records)} cells, {spent['runtime_s'] / 60:.1f} min wall, "
               f"{spent['cpu_s'] / 60:.1f} min CPU over {spent['sessions']} session(s))", err=True)
    _print_summary(qt.records_to_dataset(records))


def _schedules_text(schedules: dict) -> str:
    """The schedules as the table's ``schedules`` attribute writes them (one ``name: {...}`` per network)."""
    import dataclasses

    return "; ".join(f"{n}: {dataclasses.asdict(s)}" for n, s in schedules.items())


def _resume(partial: Path, command: str, schedules: str, resume: bool) -> tuple[list[dict], set, dict]:
    """The records, done-cell keys and time attributes of the checkpoint to continue (none to start afresh)."""
    if not partial.exists():
        if resume:
            typer.echo(f"no checkpoint {partial} to resume: starting from the beginning", err=True)
        return [], set(), {}
    if not resume:
        raise QuidamInputError(
            f"checkpoint {partial} exists (an interrupted run): continue it with the same command and --resume, "
            "or delete it to start over"
        )
    import xarray as xr

    from quidam_fast.quant import train as qt

    try:
        ds = xr.load_dataset(partial, engine="h5netcdf")
    except (OSError, ValueError) as error:
        raise QuidamInputError(f"checkpoint {partial}: not a readable netCDF file ({error}); delete it to start over") from None
    made_by = ds.attrs.get("command")
    if made_by != command:
        raise QuidamInputError(
            f"checkpoint {partial} was made by {made_by!r}, not by this command ({command!r}); "
            "resume it with that command, or delete it to start over"
        )
    if ds.attrs.get("schedules") != schedules:  # the defaults of the code changed since the checkpoint
        raise QuidamInputError(
            f"checkpoint {partial} was trained with schedules {ds.attrs.get('schedules')!r}, this command's are "
            f"{schedules!r}; resume it with the code that made it, or delete it to start over"
        )
    records = qt.records_from_dataset(ds)
    done = {(r["network"], r["seed"], r["pe_type"], r["bits"]) for r in records}
    before = {key: ds.attrs[key] for key in ("created", "runtime_s", "cpu_s", "sessions") if key in ds.attrs}
    typer.echo(f"resuming {partial}: {len(records)} cells done", err=True)
    return records, done, before


def _seeds_note(count: int, n_seeds: int) -> str:
    """Empty when a cell has every seed of the table, else how many it has (never a silent mean over fewer)."""
    return "" if count == n_seeds else f"  [{count} of {n_seeds} seeds]"


def _print_summary(ds) -> None:
    from quidam_fast.accuracy import seed_statistics

    mean, std, count = seed_statistics(ds["accuracy"])
    n_seeds = ds.sizes.get("seed", 1)  # a table may have no seed dimension (one seed)
    for network in ds.network.values:
        ref = float(mean.sel(network=network, pe_type="fp", bits=32)) if ("fp" in ds.pe_type and 32 in ds.bits) else float("nan")
        typer.echo(f"{network}  (mean ± std over {n_seeds} seeds, gap to fp:32 in points)")
        for pe_type in ds.pe_type.values:
            for bits in ds.bits.values[::-1]:
                cell = {"network": network, "pe_type": pe_type, "bits": bits}
                m, n = float(mean.sel(cell)), int(count.sel(cell))
                if n:
                    s = float(std.sel(cell))
                    typer.echo(f"  {pe_type:>9}:{bits:<3} {100 * m:6.2f} ± {100 * s:4.2f} %   gap {100 * (m - ref):+6.2f}{_seeds_note(n, n_seeds)}")


@app.command()
def fingerprint(
    table: Annotated[Path, typer.Argument(help="A finished accuracy table (netCDF) to stamp.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the stamped table here (default: replace TABLE, atomically).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Record the library's fingerprints even where the table records others.")] = False,
) -> None:
    """Record in an accuracy table which network each of its rows was trained on.

    Per network: the fingerprint of the library network of its name (a hash of its layer table), its
    layer count, MACs and weights. quidam-fast quant train records them; this stamps a table trained
    before it did, without retraining. Whoever stamps a table vouches that it was trained on the library
    networks as they are now. The accuracy join then refuses the table for a network whose layer table
    differs (a table relabelled to another network's name). A table whose recorded fingerprints differ
    from the library's is refused unless --force; one that records the library's already is left as it is.
    """
    from quidam_fast.accuracy import add_fingerprints, load_accuracy_table

    out = output if output is not None else table
    check_output_path(out, "--output")  # before anything is read: a table that cannot be written costs nothing
    ds = load_accuracy_table(table, verify=False)
    try:  # the networks quant train trains are the library's: else a stamp would vouch for the wrong one
        from quidam_fast.quant.train import check_models_are_library
    except ImportError:  # no torch: the library is all there is to go by
        typer.echo("(torch is not installed: the quant models were not compared with the library networks)", err=True)
    else:
        check_models_are_library([str(n) for n in ds["network"].values])
    stamped, lines = add_fingerprints(ds, force=force)  # a table recording other fingerprints: refused unless --force
    if ("network_fingerprint" in ds.data_vars and out == table
            and ds["network_fingerprint"].values.tolist() == stamped["network_fingerprint"].values.tolist()):
        typer.echo(f"{table}: records the fingerprints of the library networks already; nothing to do", err=True)
        return
    _files.write_netcdf_atomically(stamped, out, "--output")
    for line in lines:
        typer.echo(f"  {line}", err=True)
    typer.echo(f"wrote {out}: the fingerprints of {len(lines)} networks", err=True)


@app.command()
def show(
    path: Annotated[Optional[Path], typer.Argument(help="An accuracy table (netCDF); default: the packaged one.")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a markdown table (as in quant/data/accuracy.md).")] = False,
) -> None:
    """Print an accuracy table: mean ± std per network and cell, and the gap to FP32."""
    from quidam_fast.accuracy import load_accuracy_table, seed_statistics

    ds = load_accuracy_table(path)
    if not markdown:
        typer.echo(f"{ds.attrs.get('command', '')}".strip() or "(no command recorded)")
        _print_summary(ds)
        return
    mean, std, count = seed_statistics(ds["accuracy"])
    n_seeds = ds.sizes.get("seed", 1)  # a table may have no seed dimension (one seed)
    networks = [str(n) for n in ds.network.values]
    typer.echo("| pe_type | bits | " + " | ".join(f"{n} (%) | gap to fp:32 (points)" for n in networks) + " |")
    typer.echo("|---|---|" + "---|---|" * len(networks))
    for pe_type in ds.pe_type.values:
        for bits in ds.bits.values[::-1]:
            cells = []
            for network in networks:
                cell = {"network": network, "pe_type": pe_type, "bits": bits}
                m, s, n = float(mean.sel(cell)), float(std.sel(cell)), int(count.sel(cell))
                # gap paired by seed: each seed's cell minus the same seed's fp:32 cell
                gap = ds["accuracy"].sel(cell) - ds["accuracy"].sel(network=network, pe_type="fp", bits=32)
                g, gs, _ = (100 * float(v) for v in seed_statistics(gap))
                note = _seeds_note(n, n_seeds).strip()
                cells += ["", ""] if not n else [f"{100 * m:.2f} ± {100 * s:.2f}" + (f" {note}" if note else ""), f"{g:+.2f} ± {gs:.2f}"]
            if any(cells):
                typer.echo(f"| {pe_type} | {bits} | " + " | ".join(cells) + " |")
    base_mean, base_std, base_count = seed_statistics(ds["base_accuracy"])
    typer.echo("")
    typer.echo(
        "FP32 model before fine-tuning: "
        + "; ".join(
            f"{n} {100 * float(base_mean.sel(network=n)):.2f} ± {100 * float(base_std.sel(network=n)):.2f} %"
            + _seeds_note(int(base_count.sel(network=n)), n_seeds).replace("  ", " ")
            for n in networks
        )
        + f" (mean ± std over {n_seeds} seeds)."
    )
