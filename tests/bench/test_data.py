"""``python -m skgate bench data`` on a fake torchvision folder, offline; the benches without
data say what to do in one line; ``bench perf --smoke`` needs no data."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torchvision

from skgate.bench import _data
from skgate.bench.__main__ import main
from skgate.datasets import load_npz

ROOT = Path(__file__).resolve().parents[2]
N_MNIST_TRAIN, N_MNIST_TEST = 50, 20
N_CIFAR_TRAIN, N_CIFAR_TEST = 100, 30  # per batch file: 20 (five batches)


def _mnist_images(n, offset):
    # image i is filled with (offset + i) % 256, its pixel (0, 0) is i % 251: each is unique
    X = np.empty((n, 28, 28), dtype=np.uint8)
    X[:] = ((offset + np.arange(n)) % 256)[:, None, None]
    X[:, 0, 0] = np.arange(n) % 251
    return X


def _write_idx(path, array):
    # the IDX format of the official MNIST files: magic (0, 0, dtype 0x08, ndim), big-endian
    # uint32 dimensions, then the bytes
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def _cifar_rows(n, offset):
    # the pickled batches' layout: one row of 3072 bytes per image, channels first (R, G, B)
    X = np.empty((n, 3, 32, 32), dtype=np.uint8)
    for c in range(3):
        X[:, c] = ((offset + np.arange(n) + 80 * c) % 256)[:, None, None]
    return X.reshape(n, 3072)


@pytest.fixture
def torchvision_root(tmp_path, monkeypatch):
    """A torchvision root with small MNIST and CIFAR-10 datasets in their raw formats."""
    root = tmp_path / "torchvision"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    mnist = {"train": (_mnist_images(N_MNIST_TRAIN, 0), rng.integers(0, 10, N_MNIST_TRAIN)),
             "t10k": (_mnist_images(N_MNIST_TEST, 100), rng.integers(0, 10, N_MNIST_TEST))}
    for prefix, (X, y) in mnist.items():
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", X)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", y.astype(np.uint8))
    batches = root / "cifar-10-batches-py"
    batches.mkdir()
    y_train = np.arange(N_CIFAR_TRAIN) % 10  # 10 images per class
    rng.shuffle(y_train)
    rows_train = _cifar_rows(N_CIFAR_TRAIN, 0)
    size = N_CIFAR_TRAIN // 5
    for b in range(5):
        part = slice(b * size, (b + 1) * size)
        with open(batches / f"data_batch_{b + 1}", "wb") as fh:
            pickle.dump({"data": rows_train[part], "labels": y_train[part].tolist()}, fh)
    y_test = rng.integers(0, 10, N_CIFAR_TEST)
    rows_test = _cifar_rows(N_CIFAR_TEST, 7)
    with open(batches / "test_batch", "wb") as fh:
        pickle.dump({"data": rows_test, "labels": y_test.tolist()}, fh)
    with open(batches / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                     "frog", "horse", "ship", "truck"]}, fh)
    # torchvision checks the official files' MD5s: these files have others, so check none
    cifar = torchvision.datasets.CIFAR10
    monkeypatch.setattr(cifar, "train_list", [[name, None] for name, _ in cifar.train_list])
    monkeypatch.setattr(cifar, "test_list", [[name, None] for name, _ in cifar.test_list])
    monkeypatch.setattr(cifar, "meta", {**cifar.meta, "md5": None})
    # the documented sizes, scaled to the fake datasets
    monkeypatch.setattr(_data, "MNIST_TRAIN_SIZE", 30)
    monkeypatch.setattr(_data, "CIFAR10_PER_CLASS", 4)
    rows = {"train": rows_train.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), "test":
            rows_test.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)}
    return root, mnist, {"train": (rows["train"], y_train), "test": (rows["test"], y_test)}


def _archive(folder, name):
    with np.load(folder / f"{name}.npz") as archive:
        assert sorted(archive.files) == ["X", "y"]
        return archive["X"], archive["y"]


def test_documented_sizes():
    assert (_data.MNIST_TRAIN_SIZE, _data.CIFAR10_PER_CLASS) == (20_000, 2_000)


def test_bench_data_builds_the_four_archives_offline(torchvision_root, tmp_path, capsys):
    root, mnist, cifar = torchvision_root
    out = tmp_path / "data"
    assert main(["data", "--out", str(out), "--root", str(root), "--no-download"]) == 0
    assert f"SKGATE_DATA_DIR={out}" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "cifar10_test.npz", "cifar10_train20k.npz", "mnist_test.npz", "mnist_train20k.npz"]

    # MNIST: the first images of the training set, the whole test set, in their order
    X, y = _archive(out, "mnist_train20k")
    assert X.dtype == np.uint8 and y.dtype == np.int64 and X.shape == (30, 28, 28)
    np.testing.assert_array_equal(X, mnist["train"][0][:30])
    np.testing.assert_array_equal(y, mnist["train"][1][:30])
    X, y = _archive(out, "mnist_test")
    np.testing.assert_array_equal(X, mnist["t10k"][0])
    np.testing.assert_array_equal(y, mnist["t10k"][1])

    # CIFAR-10 train: CIFAR10_PER_CLASS images of each class, each once, with its own label,
    # channels last, shuffled (not grouped by class)
    X_all, y_all = cifar["train"]
    X, y = _archive(out, "cifar10_train20k")
    assert X.dtype == np.uint8 and y.dtype == np.int64 and X.shape == (40, 32, 32, 3)
    assert np.bincount(y, minlength=10).tolist() == [4] * 10
    index = [int(np.flatnonzero((X_all == x).all(axis=(1, 2, 3)))[0]) for x in X]
    assert len(set(index)) == len(index)
    np.testing.assert_array_equal(y, y_all[index])
    assert not np.all(np.diff(y) >= 0)
    # channels last: channel c of image i is (i + 80 c) % 256
    i = index[0]
    assert X[0, 5, 5].tolist() == [i % 256, (i + 80) % 256, (i + 160) % 256]

    # CIFAR-10 test: every image once, with its label, not in the official order
    X_all, y_all = cifar["test"]
    X, y = _archive(out, "cifar10_test")
    index = [int(np.flatnonzero((X_all == x).all(axis=(1, 2, 3)))[0]) for x in X]
    assert sorted(index) == list(range(N_CIFAR_TEST)) and index != sorted(index)
    np.testing.assert_array_equal(y, y_all[index])

    # what the benches read: the package's format
    assert load_npz("cifar10_test", out).data.shape == (N_CIFAR_TEST, 3, 32, 32)
    assert load_npz("mnist_train20k", out).data.shape == (30, 1, 28, 28)

    # seeded: a second build writes the same arrays
    again = tmp_path / "again"
    assert main(["data", "--out", str(again), "--root", str(root), "--no-download",
                 "--datasets", "cifar10"]) == 0
    for name in ("cifar10_train20k", "cifar10_test"):
        for a, b in zip(_archive(out, name), _archive(again, name)):
            np.testing.assert_array_equal(a, b)


def test_bench_data_without_the_datasets_and_no_download_says_so(tmp_path, capsys):
    status = main(["data", "--out", str(tmp_path / "data"), "--root", str(tmp_path / "empty"),
                   "--no-download", "--datasets", "mnist"])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "No MNIST training set in torchvision's format" in err and "--no-download" in err


def _bench(*args, env=None):
    env = {k: v for k, v in (env or os.environ).items() if k != "SKGATE_DATA_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "skgate", "bench", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("bench", ["naive", "augmented", "pan", "timing", "soft", "fusion",
                                   "universal", "perf"])
def test_a_bench_without_data_says_what_to_do_in_one_line(bench):
    done = _bench(bench)
    assert done.returncode == 2 and done.stdout == ""
    line, = done.stderr.splitlines()
    assert "Traceback" not in done.stderr
    assert "set SKGATE_DATA_DIR" in line and "python -m skgate bench data --out DIR" in line


def test_a_missing_data_folder_or_archive_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SKGATE_DATA_DIR", raising=False)
    assert main(["naive", "--data-dir", str(tmp_path / "absent")]) == 2
    line, = capsys.readouterr().err.splitlines()
    assert "does not exist" in line and "bench data --out" in line
    # the folder exists but lacks the archive the bench reads first
    assert main(["timing", "--data-dir", str(tmp_path), "--problems", "disjoint_mnist"]) == 2
    line, = capsys.readouterr().err.splitlines()
    assert "No file 'mnist_train20k.npz'" in line and "bench data --out DIR" in line


def test_problems_on_random_images_read_no_data(monkeypatch):
    from skgate.bench._problems import make_problem

    monkeypatch.delenv("SKGATE_DATA_DIR", raising=False)
    problem = make_problem("mnist_cifar10", 0, random_samples=50)
    assert problem.X_train.shape == (80, 3, 32, 32)  # 80% of 50 images, of each archive
    assert problem.X_test.shape == (100, 3, 32, 32) and problem.X_test.dtype == np.float32
    assert sorted(np.unique(problem.y_test)) == list(range(20))


@pytest.mark.slow  # 3 minutes on a busy 2-core machine: each memory row in a fresh process
def test_bench_perf_smoke_needs_no_data(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SKGATE_DATA_DIR", raising=False)
    out = tmp_path / "perf.json"
    assert main(["perf", "--smoke", "--problems", "disjoint_mnist", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "no data folder, on random images" in captured.err
    assert "Predict time (s) and peak memory beyond X (MB" in captured.out
    result, = json.loads(out.read_text())
    assert result["problem"] == "disjoint_mnist" and not result["trained"]
