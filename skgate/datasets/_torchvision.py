"""Datasets in torchvision's format (downloaded at home with ``download=True``)."""

import os

import numpy as np
import torchvision

from ._base import finish, to_labels, to_package_format

# public name -> torchvision.datasets class name (looked up at call time)
_DATASETS = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "kmnist": "KMNIST",
    "cifar10": "CIFAR10",
}


def load_torchvision(name, root, *, train=True, download=False, return_X_y=False):
    """Load an image dataset stored in torchvision's format, in the package's format.

    Parameters
    ----------
    name : {"mnist", "fashion_mnist", "kmnist", "cifar10"}
        Dataset name.
    root : str or path-like
        torchvision's ``root`` folder.
    train : bool, default=True
        Training set if True, else test set.
    download : bool, default=False
        Download the files into ``root`` if absent (needs internet).
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data``: float32 array ``(N, C, H, W)`` in [0, 1] (``(N, 1, 28, 28)`` for the MNIST
        family, ``(N, 3, 32, 32)`` for CIFAR-10); ``target``: int64 array ``(N,)``;
        ``target_names``: the dataset's ``classes``; ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True.

    Examples
    --------
    >>> from skgate.datasets import load_torchvision
    >>> X, y = load_torchvision("mnist", "~/data", download=True,
    ...                         return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (60000, 1, 28, 28)
    """
    if name not in _DATASETS:
        raise ValueError(f"name must be one of {sorted(_DATASETS)}, got {name!r}.")
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path, got {type(root).__name__}.")
    dataset_cls = getattr(torchvision.datasets, _DATASETS[name])
    dataset = dataset_cls(
        root=os.path.expanduser(root), train=bool(train), download=bool(download)
    )
    X = to_package_format(dataset.data)  # MNIST family: uint8 tensor; CIFAR-10: uint8 ndarray
    y = to_labels(dataset.targets, len(X))  # tensor or list of ints
    descr = (
        f"torchvision {_DATASETS[name]} ({'train' if train else 'test'}): {len(X)} images "
        f"{X.shape[1:]} (C, H, W), float32 in [0, 1]."
    )
    names = np.asarray(getattr(dataset, "classes", []))
    return finish(X, y, return_X_y, target_names=names, DESCR=descr)
