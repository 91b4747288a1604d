"""Seeded CPU training, quantization-aware fine-tuning and the accuracy table.

Protocol (one *run* per network and seed):

1. Train the FP32 network from scratch for ``epochs`` epochs (Adam, cosine learning rate from
   ``lr`` to 0, batch ``batch_size``, no augmentation).
2. For every cell ``(pe_type, bits)`` -- FP32 included, as the control -- start from that FP32 model,
   set every layer to the cell's precision and fine-tune for ``qat_epochs`` epochs (Adam, cosine from
   ``qat_lr`` to 0) with straight-through gradients. Every cell thus sees the same amount of training,
   so a gap to ``fp``/32 is the cost of the arithmetic, not of a shorter schedule.
3. Test accuracy on all 10,000 test images, batch norm in inference mode.

Everything is seeded: the initial weights and the batch order of step 1 by ``seed``; those of step 2 by
``seed`` and the cell. On the CPU with one thread (``torch.set_num_threads(1)``, which the CLI sets) a
run repeats bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import zlib
from typing import Callable, Collection, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from quidam_fast._files import write_netcdf_atomically
from quidam_fast.errors import QuidamInputError
from quidam_fast.workloads import Network, load_network

from . import quantizers as qz
from .data import load_fashion_mnist, to_tensors
from .extract import layers_from_torch
from .layers import set_precision
from .models import MODELS

#: The cells of the default table: (pe_type, bits); for LightPE, ``bits`` is the activation width.
#: Every (pe_type, bits) the default design space evaluates and the default technology characterizes
#: (:data:`quidam_fast.space.DEFAULT_AXES`; ``fp`` exists only as binary16 and binary32), so every valid
#: point of the default co-exploration has an accuracy (``tests/test_coexploration.py`` checks it).
DEFAULT_CELLS = (
    ("fp", 32), ("fp", 16),
    ("int", 32), ("int", 16), ("int", 12), ("int", 8), ("int", 6), ("int", 4),
    ("lightpe1", 32), ("lightpe1", 16), ("lightpe1", 12), ("lightpe1", 8), ("lightpe1", 6), ("lightpe1", 4),
    ("lightpe2", 32), ("lightpe2", 16), ("lightpe2", 12), ("lightpe2", 8), ("lightpe2", 6), ("lightpe2", 4),
)  # fmt: skip

#: The seeds of the default table.
DEFAULT_SEEDS = (0, 1, 2)


#: Images in the Fashion-MNIST training split: the largest ``train_subset``.
TRAIN_IMAGES = 60_000


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Training hyperparameters of one network (see the module docstring).

    ``epochs`` (FP32 training) is a finite number > 0; ``qat_epochs`` (fine-tuning per cell) a finite
    number >= 0, where 0 means no fine-tuning (post-training quantization of the FP32 model); both may
    be fractions. ``lr`` and ``qat_lr`` are finite and > 0, ``batch_size`` a positive integer, and
    ``train_subset`` -- the first n training images only, for quick runs -- ``None`` (all) or an integer
    from 1 to :data:`TRAIN_IMAGES`. Anything else raises :class:`~quidam_fast.QuidamInputError`.
    """

    epochs: float = 4
    qat_epochs: float = 1
    lr: float = 2e-3
    qat_lr: float = 5e-4
    batch_size: int = 128
    train_subset: int | None = None  # first n training images only (smoke tests)

    def __post_init__(self):
        def number(value) -> bool:
            return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and math.isfinite(value)

        def integer(value) -> bool:
            return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

        for field in ("epochs", "lr", "qat_lr"):
            value = getattr(self, field)
            if not number(value) or value <= 0:
                raise QuidamInputError(f"{field} = {value!r} is not allowed: it must be a finite number > 0")
        if not number(self.qat_epochs) or self.qat_epochs < 0:
            raise QuidamInputError(
                f"qat_epochs = {self.qat_epochs!r} is not allowed: it must be a finite number >= 0 (0: no fine-tuning)"
            )
        if not integer(self.batch_size) or self.batch_size < 1:
            raise QuidamInputError(f"batch_size = {self.batch_size!r} is not allowed: it must be a positive integer")
        if self.train_subset is not None and (not integer(self.train_subset) or not 1 <= self.train_subset <= TRAIN_IMAGES):
            raise QuidamInputError(
                f"train_subset = {self.train_subset!r} is not allowed: it must be a whole number of training images "
                f"from 1 to {TRAIN_IMAGES:,}"
            )


#: Schedules of the default table (the model family, :data:`~quidam_fast.quant.models.FAMILY`), chosen
#: so that the whole table -- 4 networks x 20 cells x 3 seeds -- trains in about 82 minutes of one CPU
#: core (measured per epoch on this project's machine, torch 2.13.0, one thread; quant/data/accuracy.md).
DEFAULT_SCHEDULES = {
    "lenet5_fmnist": Schedule(epochs=8, qat_epochs=1, lr=2e-3, qat_lr=5e-4),
    "vgg7_half_fmnist": Schedule(epochs=6, qat_epochs=0.5, lr=2e-3, qat_lr=5e-4),
    "resnet8_fmnist": Schedule(epochs=5, qat_epochs=0.5, lr=2e-3, qat_lr=5e-4),
    "vgg7_fmnist": Schedule(epochs=4, qat_epochs=0.5, lr=2e-3, qat_lr=5e-4),
}


def parse_cell(text: str) -> tuple[str, int]:
    """``"int:8"`` -> ``("int", 8)``, validated."""
    pe_type, sep, bits = text.strip().partition(":")
    if not sep:
        raise QuidamInputError(f"cell {text!r} must be written pe_type:bits, e.g. int:8")
    return qz.validate(pe_type, bits)


_DATA: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def fashion_mnist(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized tensors of a split, read once per process."""
    if split not in _DATA:
        _DATA[split] = to_tensors(*load_fashion_mnist(split))
    return _DATA[split]


def _fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: float, lr: float, batch_size: int, generator: torch.Generator, tick: Callable[[], None] | None = None) -> None:
    steps_per_epoch = math.ceil(len(x) / batch_size)
    total = max(1, round(epochs * steps_per_epoch))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * i / total)))
    model.train()
    step = 0
    while step < total:
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            if step == total:
                break
            idx = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if tick is not None and step % 50 == 0:
                tick()


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``x`` classified correctly (model in inference mode)."""
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        correct += int((model(x[start : start + batch_size]).argmax(1) == y[start : start + batch_size]).sum())
    return correct / len(x)


def _cell_seed(seed: int, pe_type: str, bits: int) -> int:
    return zlib.crc32(f"{seed}:{pe_type}:{bits}".encode()) & 0x7FFFFFFF


def train_fp32(network: str, seed: int, schedule: Schedule, tick=None) -> nn.Module:
    """Train a fresh FP32 ``network`` (a name in :data:`~quidam_fast.quant.models.MODELS`)."""
    if network not in MODELS:
        raise QuidamInputError(f"unknown network {network!r}; allowed: {', '.join(MODELS)}")
    x, y = fashion_mnist("train")
    if schedule.train_subset is not None:
        x, y = x[: schedule.train_subset], y[: schedule.train_subset]
    torch.manual_seed(seed)
    model = MODELS[network]()
    _fit(model, x, y, schedule.epochs, schedule.lr, schedule.batch_size, torch.Generator().manual_seed(seed), tick)
    return model


def finetune(fp32_model: nn.Module, pe_type: str, bits: int, seed: int, schedule: Schedule, tick=None) -> nn.Module:
    """A copy of ``fp32_model`` at ``(pe_type, bits)``, fine-tuned with straight-through gradients."""
    import copy

    pe_type, bits = qz.validate(pe_type, bits)
    model = set_precision(copy.deepcopy(fp32_model), pe_type, bits)
    if schedule.qat_epochs > 0:
        x, y = fashion_mnist("train")
        if schedule.train_subset is not None:
            x, y = x[: schedule.train_subset], y[: schedule.train_subset]
        cell_seed = _cell_seed(seed, pe_type, bits)
        torch.manual_seed(cell_seed)
        _fit(model, x, y, schedule.qat_epochs, schedule.qat_lr, schedule.batch_size, torch.Generator().manual_seed(cell_seed), tick)
    return model


def iter_accuracy_records(
    networks: Sequence[str],
    cells: Iterable[tuple[str, int]] = DEFAULT_CELLS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    schedules: dict[str, Schedule] | None = None,
    progress: Callable[[dict], None] | None = None,
    done: Collection[tuple[str, int, str, int]] = (),
) -> Iterator[dict]:
    """Run the protocol and yield one record per (network, seed, cell) as it completes.

    Each record holds ``network``, ``seed``, ``pe_type``, ``bits``, ``accuracy`` (fraction of the 10k
    test images), ``base_accuracy`` (the FP32 model before fine-tuning), ``train_s`` (fine-tuning +
    evaluation seconds, wall clock), ``train_cpu_s`` (the same in CPU seconds of this process: on a
    shared machine, the time the work itself took), ``base_train_s`` and ``base_train_cpu_s``.
    ``progress`` receives event dicts (``kind`` = ``start``, ``tick``, ``base``, ``cell``) for a display.

    ``done`` holds ``(network, seed, pe_type, bits)`` keys of cells already trained (resuming a run
    from its checkpoint): they are skipped, and a (network, seed) whose cells are all done skips its
    FP32 training too. Every cell's fine-tuning is seeded by the seed and the cell alone and starts
    from the seeded FP32 model, so a resumed table equals an uninterrupted one.
    """
    cells = [qz.validate(p, b) for p, b in cells]
    schedules = {**DEFAULT_SCHEDULES, **(schedules or {})}
    for network in networks:
        if network not in MODELS:
            raise QuidamInputError(f"unknown network {network!r}; allowed: {', '.join(MODELS)}")
    done = {(str(n), int(s), str(p), int(b)) for n, s, p, b in done}
    todo = {(n, s): [c for c in cells if (n, s, *c) not in done] for n in networks for s in seeds}
    x_test, y_test = fashion_mnist("test")
    emit = progress or (lambda event: None)
    emit({"kind": "start", "runs": sum(1 for left in todo.values() if left), "cells": sum(map(len, todo.values()))})
    tick = lambda: emit({"kind": "tick"})  # noqa: E731
    for network in networks:
        schedule = schedules.get(network, Schedule())
        for seed in seeds:
            if not todo[network, seed]:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            base = train_fp32(network, seed, schedule, tick)
            base_accuracy = evaluate(base, x_test, y_test)
            base_s, base_cpu_s = time.perf_counter() - t0, time.process_time() - c0
            emit({"kind": "base", "network": network, "seed": seed, "accuracy": base_accuracy, "seconds": base_s})
            for pe_type, bits in todo[network, seed]:
                t0, c0 = time.perf_counter(), time.process_time()
                model = finetune(base, pe_type, bits, seed, schedule, tick)
                accuracy = evaluate(model, x_test, y_test)
                record = {
                    "network": network, "seed": seed, "pe_type": pe_type, "bits": bits,
                    "accuracy": accuracy, "base_accuracy": base_accuracy,
                    "train_s": time.perf_counter() - t0, "train_cpu_s": time.process_time() - c0,
                    "base_train_s": base_s, "base_train_cpu_s": base_cpu_s,
                }  # fmt: skip
                emit({"kind": "cell", **record})
                yield record


def records_from_dataset(ds) -> list[dict]:
    """The records of a table (a checkpoint being resumed): one per trained (non-NaN) cell.

    The inverse of :func:`records_to_dataset`; a table written before CPU times were recorded reads
    them as NaN.
    """
    records = []
    accuracy = ds["accuracy"].transpose("network", "pe_type", "bits", "seed")

    def value(name, **where):
        return float(ds[name].sel(**where)) if name in ds else float("nan")

    for n in ds["network"].values:
        for p in ds["pe_type"].values:
            for b in ds["bits"].values:
                for s in ds["seed"].values:
                    cell = {"network": n, "pe_type": p, "bits": b, "seed": s}
                    a = float(accuracy.sel(cell))
                    if a != a:
                        continue
                    records.append({
                        "network": str(n), "seed": int(s), "pe_type": str(p), "bits": int(b), "accuracy": a,
                        "base_accuracy": value("base_accuracy", network=n, seed=s),
                        "train_s": value("train_s", **cell), "train_cpu_s": value("train_cpu_s", **cell),
                        "base_train_s": value("base_train_s", network=n, seed=s),
                        "base_train_cpu_s": value("base_train_cpu_s", network=n, seed=s),
                    })  # fmt: skip
    return records


def records_to_dataset(records: Sequence[dict], attrs: dict | None = None):
    """The accuracy table: an ``xr.Dataset`` with dims ``network, pe_type, bits, seed``.

    Variables: ``accuracy`` (fraction correct on the 10k test images, NaN where no cell was run),
    ``train_s`` and ``train_cpu_s`` (seconds of fine-tuning and evaluation per cell, wall clock and
    CPU), ``base_accuracy``, ``base_train_s`` and ``base_train_cpu_s`` (the FP32 model before
    fine-tuning, per network and seed), and per network the fingerprint of the network trained
    (``network_fingerprint``, ``network_layers``, ``network_macs``, ``network_params``:
    :func:`quidam_fast.accuracy.fingerprint_variables`; the networks of
    :data:`~quidam_fast.quant.models.MODELS` are the library networks of the same names), which the
    accuracy join checks against the library network it joins. Every variable and
    coordinate has a ``units`` attribute (``""`` for the labels ``network`` and ``pe_type``, as the
    hardware results' ``pe_type`` has). ``attrs`` are copied into the dataset; a table is a finished
    one for :func:`quidam_fast.accuracy.load_accuracy_table` only with ``attrs["complete"] == "yes"``.
    """
    import xarray as xr

    from quidam_fast.accuracy import fingerprint_variables

    if not records:
        raise QuidamInputError("no accuracy records to tabulate")
    networks = sorted({r["network"] for r in records})
    pe_types = [p for p in qz.PE_TYPES if any(r["pe_type"] == p for r in records)]
    bits = sorted({int(r["bits"]) for r in records})
    seeds = sorted({int(r["seed"]) for r in records})
    shape = (len(networks), len(pe_types), len(bits), len(seeds))
    accuracy, train_s, train_cpu_s = (np.full(shape, np.nan) for _ in range(3))
    base_accuracy, base_s, base_cpu_s = (np.full(shape[:1] + shape[3:], np.nan) for _ in range(3))
    for r in records:
        n, p, b, s = networks.index(r["network"]), pe_types.index(r["pe_type"]), bits.index(int(r["bits"])), seeds.index(int(r["seed"]))
        accuracy[n, p, b, s], train_s[n, p, b, s] = r["accuracy"], r["train_s"]
        train_cpu_s[n, p, b, s] = r.get("train_cpu_s", np.nan)
        base_accuracy[n, s], base_s[n, s] = r["base_accuracy"], r["base_train_s"]
        base_cpu_s[n, s] = r.get("base_train_cpu_s", np.nan)
    dims = ("network", "pe_type", "bits", "seed")
    ds = xr.Dataset(
        {
            "accuracy": (dims, accuracy, {"units": "1", "long_name": "test accuracy (fraction of the 10,000 Fashion-MNIST test images)"}),
            "train_s": (dims, train_s, {"units": "s", "long_name": "fine-tuning and evaluation time of the cell (wall clock)"}),
            "train_cpu_s": (dims, train_cpu_s, {"units": "s", "long_name": "fine-tuning and evaluation time of the cell (CPU time of the training process)"}),
            "base_accuracy": (("network", "seed"), base_accuracy, {"units": "1", "long_name": "test accuracy of the FP32 model before fine-tuning"}),
            "base_train_s": (("network", "seed"), base_s, {"units": "s", "long_name": "FP32 training and evaluation time (wall clock)"}),
            "base_train_cpu_s": (("network", "seed"), base_cpu_s, {"units": "s", "long_name": "FP32 training and evaluation time (CPU time of the training process)"}),
        },
        coords={
            "network": ("network", np.array(networks, dtype=object), {"units": "", "long_name": "network (a quidam_fast.load_network name)"}),
            "pe_type": ("pe_type", np.array(pe_types, dtype=object), {"units": "", "long_name": "arithmetic of the processing element"}),
            "bits": ("bits", np.array(bits, dtype=np.int64), {"units": "bit", "long_name": "activation precision (weights too for fp and int)"}),
            "seed": ("seed", np.array(seeds, dtype=np.int64), {"units": "1"}),
        },
        attrs={
            "title": "quidam-fast accuracy table",
            "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist), 60k train / 10k test",
            "protocol": "FP32 training, then per cell the same quantization-aware fine-tuning (STE) from it; see quidam_fast.quant.train",
            "torch_version": str(torch.__version__),
            **(attrs or {}),
        },
    )
    return ds.assign(fingerprint_variables([trained_network(n) for n in networks]))


@functools.lru_cache(maxsize=None)
def trained_network(name: str) -> Network:
    """The layer table of the network ``quant train`` trains under ``name``: its torch module
    (:data:`~quidam_fast.quant.models.MODELS`) at its input shape, as the table's fingerprint records it;
    a name outside MODELS, the library network of that name."""
    if name not in MODELS:
        try:
            return load_network(name)
        except QuidamInputError:
            raise QuidamInputError(f"network {name!r} is neither a quant model ({', '.join(MODELS)}) nor a library "
                                   "network: there is no layer table to fingerprint it by") from None
    factory = MODELS[name]
    return layers_from_torch(factory(), factory.input_shape, name)


def check_models_are_library(names: Sequence[str]) -> None:
    """Refuse (one line) if, for a name of ``names`` in :data:`~quidam_fast.quant.models.MODELS`, the torch
    module ``quant train`` trains has another layer table than the library network of that name: a table
    of that name could then be of either, and stamping it from the library would vouch for the wrong one."""
    from quidam_fast.accuracy import network_fingerprint

    for name in names:
        if name in MODELS:
            trained, library = trained_network(name), load_network(name)
            if network_fingerprint(trained) != network_fingerprint(library):
                raise QuidamInputError(
                    f"the torch module quidam_fast.quant.models.{name} ({len(trained.layers)} layers, {trained.macs:,} MACs) "
                    f"differs from the library network {name!r} ({len(library.layers)} layers, {library.macs:,} MACs): which "
                    "one a table was trained on cannot be told from the library; retrain the table"
                )


def write_table(ds, path) -> None:
    """Write ``ds`` to netCDF atomically, through the package's one netCDF writer
    (:func:`quidam_fast._files.write_netcdf_atomically`: built in memory, so a full disk is one
    ``QuidamInputError`` line rather than a crash inside HDF5, and the file gets an ordinary mode)."""
    write_netcdf_atomically(ds, path, what="-o")
