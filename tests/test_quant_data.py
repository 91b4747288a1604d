"""The IDX reader against files written here, and the installed Fashion-MNIST against its published facts."""

import gzip
import struct

import numpy as np
import pytest

from quidam_fast.errors import QuidamInputError
from quidam_fast.quant.data import SEARCH_PATHS, load_fashion_mnist, read_idx

HAVE_DATA = any((p / "t10k-labels-idx1-ubyte.gz").is_file() for p in SEARCH_PATHS)
needs_data = pytest.mark.skipif(not HAVE_DATA, reason="Debian package dataset-fashion-mnist is not installed")


def _write_idx(path, array, code, compress):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(payload)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("x.idx.gz" if compress else "x.idx")
    _write_idx(path, images, 0x08, compress)
    np.testing.assert_array_equal(read_idx(path), images)
    ints = np.array([-5, 70000, 3], dtype=np.int32)
    _write_idx(tmp_path / "i.idx", ints, 0x0C, False)
    np.testing.assert_array_equal(read_idx(tmp_path / "i.idx"), ints)


def test_read_idx_rejects_garbage(tmp_path):
    (tmp_path / "bad").write_bytes(b"GIF89a....")
    with pytest.raises(QuidamInputError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"abc")
    with pytest.raises(QuidamInputError, match="holds 3 values"):
        read_idx(tmp_path / "short")


def test_missing_files_name_the_debian_package(tmp_path):
    with pytest.raises(QuidamInputError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("test", folders=[tmp_path])
    with pytest.raises(QuidamInputError, match="unknown split"):
        load_fashion_mnist("validation")


@needs_data
def test_fashion_mnist_matches_its_published_facts():
    for split, n in [("train", 60000), ("test", 10000)]:
        images, labels = load_fashion_mnist(split)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        np.testing.assert_array_equal(np.bincount(labels), [n // 10] * 10)  # balanced classes
    assert abs(images.mean() / 255 - 0.2860) < 0.005  # the normalization constant in quidam_fast.quant.data
