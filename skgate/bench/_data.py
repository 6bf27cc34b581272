"""``bench data``: build the benchmarks' ``.npz`` archives from torchvision's datasets.

The four archives of ``SKGATE_DATA_DIR`` (see the benchmarks page):

- ``mnist_train20k.npz``: the first 20,000 images of the official MNIST training set;
- ``mnist_test.npz``: the full official MNIST test set, in its order;
- ``cifar10_train20k.npz``: 2,000 images per class of the CIFAR-10 training set, drawn at
  random (seed 0) and shuffled;
- ``cifar10_test.npz``: the full CIFAR-10 test set, shuffled (seed 1).

Each holds ``X``, uint8, ``(N, 28, 28)`` (MNIST) or ``(N, 32, 32, 3)`` (CIFAR-10, channels
last), and ``y``, int64 labels. Built from the official files, the MNIST archives are the
very arrays the project's benchmarks were measured on. The CIFAR-10 ones are the same kind of
subset, not the same images in the same order (:data:`CIFAR10_DRAW` says how they are drawn).
"""

import os
from pathlib import Path

import numpy as np

#: archive name -> (torchvision dataset, training set?, what it holds)
ARCHIVES = {
    "mnist_train20k": ("MNIST", True, "the first 20,000 images of the MNIST training set"),
    "mnist_test": ("MNIST", False, "the full MNIST test set"),
    "cifar10_train20k": ("CIFAR10", True, "2,000 images per class of the CIFAR-10 training "
                         "set (seed 0), shuffled"),
    "cifar10_test": ("CIFAR10", False, "the full CIFAR-10 test set, shuffled (seed 1)"),
}
#: images kept of the MNIST training set (the first ones)
MNIST_TRAIN_SIZE = 20_000
#: images drawn per class of the CIFAR-10 training set
CIFAR10_PER_CLASS = 2_000
#: how the CIFAR-10 archives draw their images
CIFAR10_DRAW = (
    "numpy.random.default_rng(seed): per class 0-9 in turn, rng.choice of 2,000 of its "
    "indices in the official order without replacement, then rng.permutation of the 20,000 "
    "(seed 0); the test set: default_rng(1).permutation of the official order"
)
#: the datasets that ``bench data`` can build, and their archives
DATASETS = {"mnist": ("mnist_train20k", "mnist_test"),
            "cifar10": ("cifar10_train20k", "cifar10_test")}


class DatasetNotFoundError(FileNotFoundError):
    """torchvision's files are absent from ``root`` and downloading was not allowed."""


def _torchvision_arrays(dataset, root, train, download):
    """``X`` (uint8, torchvision's layout) and ``y`` (int64) of a torchvision dataset."""
    import torchvision

    cls = getattr(torchvision.datasets, dataset)
    try:
        data = cls(root=str(root), train=train, download=download)
    except RuntimeError as exc:  # torchvision: "Dataset not found ..." (or corrupted)
        if download:
            raise
        raise DatasetNotFoundError(
            f"No {dataset} {'training' if train else 'test'} set in torchvision's format "
            f"under {str(root)!r} ({exc}); pass --root a folder that holds it, or leave out "
            "--no-download to download it."
        ) from exc
    X = np.asarray(data.data, dtype=np.uint8)  # MNIST: uint8 tensor; CIFAR-10: ndarray
    y = np.asarray(data.targets, dtype=np.int64)  # MNIST: tensor; CIFAR-10: list
    return np.ascontiguousarray(X), y


def make_archive(name, root, *, download=True):
    """The arrays of one benchmark archive, from torchvision's files under ``root``.

    Parameters
    ----------
    name : {"mnist_train20k", "mnist_test", "cifar10_train20k", "cifar10_test"}
        The archive (see :data:`ARCHIVES`).
    root : str or path-like
        torchvision's ``root`` folder (it holds ``MNIST/raw/`` and ``cifar-10-batches-py/``).
    download : bool, default=True
        Download the dataset into ``root`` when it is absent (needs the internet).

    Returns
    -------
    X : ndarray of uint8
        ``(N, 28, 28)`` for MNIST, ``(N, 32, 32, 3)`` (channels last) for CIFAR-10.
    y : ndarray of int64, shape (N,)

    Raises
    ------
    DatasetNotFoundError
        If the dataset is absent from ``root`` and ``download`` is False.
    """
    if name not in ARCHIVES:
        raise ValueError(f"name must be one of {sorted(ARCHIVES)}, got {name!r}.")
    dataset, train, _ = ARCHIVES[name]
    X, y = _torchvision_arrays(dataset, root, train, download)
    if name == "mnist_train20k":
        keep = np.arange(min(MNIST_TRAIN_SIZE, len(y)))
    elif name == "cifar10_train20k":
        rng = np.random.default_rng(0)
        keep = np.concatenate([rng.choice(np.flatnonzero(y == c), CIFAR10_PER_CLASS,
                                          replace=False) for c in range(10)])
        keep = rng.permutation(keep)
    elif name == "cifar10_test":
        keep = np.random.default_rng(1).permutation(len(y))
    else:
        keep = np.arange(len(y))
    return X[keep], y[keep]


def build_archives(out, *, root=None, download=True, datasets=("mnist", "cifar10"),
                   print_fn=None):
    """Write the benchmarks' ``.npz`` archives into ``out``.

    Parameters
    ----------
    out : str or path-like
        The folder to write (created if absent); use it as ``SKGATE_DATA_DIR``.
    root : str or path-like, default=None
        torchvision's ``root`` folder, where the datasets are (or are downloaded to).
        Default: ``out/torchvision``.
    download : bool, default=True
        Download a dataset absent from ``root`` (MNIST about 12 MB, CIFAR-10 about 170 MB).
    datasets : sequence of {"mnist", "cifar10"}, default=("mnist", "cifar10")
        The datasets whose archives to write (:data:`DATASETS`).
    print_fn : callable, default=None
        Called with a line of progress per archive.

    Returns
    -------
    paths : list of pathlib.Path
        The archives written.
    """
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise ValueError(f"datasets must be among {sorted(DATASETS)}, got {unknown}.")
    log = print_fn or (lambda message: None)
    out = Path(os.path.expanduser(out))
    root = Path(os.path.expanduser(root)) if root is not None else out / "torchvision"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for dataset in datasets:
        for name in DATASETS[dataset]:
            X, y = make_archive(name, root, download=download)
            path = out / f"{name}.npz"
            np.savez_compressed(path, X=X, y=y)
            log(f"{path}: {ARCHIVES[name][2]}, X {X.shape} {X.dtype}, y {y.shape} {y.dtype}")
            paths.append(path)
    return paths
