"""Shared helpers: conversion to the package's image format and result packaging."""

import numpy as np
from sklearn.utils import Bunch

MNIST_CLASSES = np.array([str(d) for d in range(10)])
CIFAR10_CLASSES = np.array(
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
)


def to_package_format(X):
    """Convert 0-255 images ``(N, H, W)`` or ``(N, H, W, C)`` to float32 ``(N, C, H, W)``, [0, 1].

    Accepts NumPy arrays and torch tensors (anything :func:`numpy.asarray` reads).
    """
    X = np.asarray(X)
    if X.ndim == 3:
        X = X[:, None]
    elif X.ndim == 4 and X.shape[-1] in (1, 3):
        X = X.transpose(0, 3, 1, 2)
    else:
        raise ValueError(
            "Expected images of shape (N, H, W) (grey) or (N, H, W, C) with C = 1 or 3 "
            f"(channels last), got shape {X.shape}."
        )
    X = np.ascontiguousarray(X).astype(np.float32)
    X /= 255
    return X


def to_labels(y, n_samples):
    """Return ``y`` as a 1-d int64 array of length ``n_samples``."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n_samples or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"Expected {n_samples} integer labels in a 1-d array, got dtype {y.dtype} and "
            f"shape {y.shape}."
        )
    return y.astype(np.int64)


def finish(X, y, return_X_y, **extra):
    """Return ``(X, y)``, or a :class:`~sklearn.utils.Bunch` of ``data``, ``target`` and extras."""
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, **extra)
