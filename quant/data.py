"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (IDX files, read by our own loader).

No download ever happens: the files are looked up in :data:`SEARCH_PATHS` (or the folder named by the
``QUIDAM_FASHION_MNIST`` environment variable); if they are missing the error says how to install them.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from quidam_fast.errors import QuidamInputError

SEARCH_PATHS = (Path("/usr/share/datasets/fashion-mnist"),)
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
#: Mean and standard deviation of the training images (pixel values / 255), used to normalize inputs.
MEAN, STD = 0.2860, 0.3530

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped): magic ``0 0 type ndim``, ``ndim`` big-endian sizes, data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise QuidamInputError(f"{path}: not an IDX file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise QuidamInputError(f"{path}: header says shape {shape} but the file holds {data.size} values")
    return data.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def _find(stem: str, folders) -> Path | None:
    for folder in folders:
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                return candidate
    return None


def dataset_folders() -> tuple[Path, ...]:
    env = os.environ.get("QUIDAM_FASHION_MNIST")
    return ((Path(env),) if env else ()) + SEARCH_PATHS


def load_fashion_mnist(split: str, folders=None) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 28, 28)`` uint8 and labels ``(n,)`` int64 of the ``train`` (60k) or ``test`` (10k) split."""
    if split not in FILES:
        raise QuidamInputError(f"unknown split {split!r}; allowed: train, test")
    folders = tuple(Path(f) for f in folders) if folders is not None else dataset_folders()
    paths = [_find(stem, folders) for stem in FILES[split]]
    missing = [stem for stem, p in zip(FILES[split], paths) if p is None]
    if missing:
        raise QuidamInputError(
            f"Fashion-MNIST files {', '.join(missing)} not found in {', '.join(map(str, folders))}; "
            "install Debian's package: sudo apt-get install dataset-fashion-mnist "
            "(or set QUIDAM_FASHION_MNIST to a folder holding the IDX files)"
        )
    images, labels = (read_idx(p) for p in paths)
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise QuidamInputError(f"{paths[0]}: unexpected shapes {images.shape} / {labels.shape}")
    return images, labels.astype(np.int64)


def to_tensors(images: np.ndarray, labels: np.ndarray):
    """Normalized float32 tensor ``(n, 1, 28, 28)`` and int64 labels."""
    import torch

    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return (x - MEAN) / STD, torch.from_numpy(labels)
