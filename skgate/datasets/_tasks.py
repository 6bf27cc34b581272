"""Building tasks: label-disjoint splits and multi-format mixtures."""

from collections.abc import Mapping

import numpy as np
import torch

from ..experts._transforms import image_transform
from ._base import finish


def _check_X_y(X, y):
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be a 1-d array of integer labels, got {y.dtype} {y.shape}.")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}.")
    return y


def split_by_labels(X, y, groups, *, strict=True):
    """Split a dataset into label-disjoint tasks, keeping the global labels.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples (NumPy array or torch tensor), indexed along the first axis.
    y : array-like of shape (n_samples,)
        Integer labels.
    groups : sequence of sequences of int
        The labels of each task, e.g. ``[[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]``. Groups must not
        overlap, and each must select at least one sample.
    strict : bool, default=True
        If True, a label of ``y`` that is in no group is an error; if False, its samples are
        dropped.

    Returns
    -------
    tasks : list of (X_k, y_k) tuples
        One per group, in order, each keeping the original order of the samples and their
        original (global) labels.

    Examples
    --------
    >>> import numpy as np
    >>> X, y = np.arange(6).reshape(6, 1), np.array([0, 1, 2, 0, 1, 2])
    >>> [yk.tolist() for _, yk in split_by_labels(X, y, [[0], [1, 2]])]
    [[0, 0], [1, 2, 1, 2]]
    """
    y = _check_X_y(X, y)
    groups = [np.asarray(g) for g in groups]
    if not groups or any(g.ndim != 1 or g.size == 0 for g in groups):
        raise ValueError(
            "groups must be a non-empty sequence of non-empty label sequences, "
            "e.g. [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]."
        )
    groups = [np.unique(g.astype(np.int64)) for g in groups]
    labels = np.concatenate(groups)
    values, counts = np.unique(labels, return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"groups must be disjoint; labels in several groups: {values[counts > 1].tolist()}."
        )
    unassigned = np.setdiff1d(y, labels)
    if strict and unassigned.size:
        raise ValueError(
            f"labels {unassigned.tolist()} are in no group; add them to a group or pass "
            "strict=False to drop their samples."
        )
    tasks = []
    for k, group in enumerate(groups):
        idx = np.flatnonzero(np.isin(y, group))
        if idx.size == 0:
            raise ValueError(f"group {k} ({group.tolist()}) selects no samples.")
        tasks.append((X[idx], y[idx]))
    return tasks


def make_disjoint_mnist(X, y):
    """Split digits into the two tasks of the paper: digits 0-4 and digits 5-9.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Images.
    y : array-like of shape (n_samples,)
        Digit labels, 0 to 9.

    Returns
    -------
    tasks : list of two (X_k, y_k) tuples
        ``[(X_0to4, y_0to4), (X_5to9, y_5to9)]``, with the original labels.

    Examples
    --------
    >>> from skgate.datasets import load_mnist_sample, make_disjoint_mnist
    >>> (Xa, ya), (Xb, yb) = make_disjoint_mnist(*load_mnist_sample(return_X_y=True))
    >>> sorted(set(ya.tolist())), len(Xb)
    ([0, 1, 2, 3, 4], 2500)
    """
    return split_by_labels(X, y, [range(5), range(5, 10)])


def merge_datasets(
    datasets, *, size=32, channels=3, label_offsets=None, resize="pad", return_X_y=False
):
    """Merge image datasets of different formats into one mixture input.

    Every dataset is converted to ``channels`` channels, then to ``size`` (see
    :func:`skgate.experts.image_transform`, without normalisation), and the labels are shifted
    so that datasets do not share labels.

    Parameters
    ----------
    datasets : sequence of (X, y) pairs or Bunches with ``data`` and ``target``
        ``X``: float images ``(N, C, H, W)`` in [0, 1], C = 1 or 3; ``y``: integer labels.
    size : int or (int, int), default=32
        Common image size; with ``resize="pad"`` smaller images are zero-padded
        (MNIST 28 -> 32 by 2 pixels on each side) and larger ones centre-cropped.
    channels : {1, 3}, default=3
        Common channel count: grey images are replicated to RGB, RGB images converted to grey
        with luminance weights.
    label_offsets : sequence of int, default=None
        Added to each dataset's labels. By default the offsets are cumulative: 0 for the first
        dataset, and for each next one the previous offset plus the previous dataset's largest
        label plus 1 (MNIST + CIFAR-10 -> 0 and 10).
    resize : {"pad", "resize"}, default="pad"
        Size conversion, as in :func:`skgate.experts.image_transform`.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data``: float32 array ``(N_total, channels, *size)``; ``target``: int64 array of
        shifted labels; ``source``: int64 array, the index in ``datasets`` of each sample.
    (data, target) : tuple if ``return_X_y`` is True.

    Examples
    --------
    >>> import numpy as np
    >>> mnist = (np.zeros((2, 1, 28, 28), np.float32), np.array([0, 9]))
    >>> cifar = (np.zeros((3, 3, 32, 32), np.float32), np.array([0, 1, 2]))
    >>> mix = merge_datasets([mnist, cifar])
    >>> mix.data.shape, mix.target.tolist(), mix.source.tolist()
    ((5, 3, 32, 32), [0, 9, 10, 11, 12], [0, 0, 1, 1, 1])
    """
    pairs = [(d["data"], d["target"]) if isinstance(d, Mapping) else tuple(d) for d in datasets]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise ValueError("datasets must be a non-empty sequence of (X, y) pairs or Bunches.")
    if label_offsets is not None and len(label_offsets) != len(pairs):
        raise ValueError(
            f"label_offsets must have one offset per dataset ({len(pairs)}), "
            f"got {len(label_offsets)}."
        )
    transform = image_transform(channels, size=size, resize=resize)
    Xs, ys, offset = [], [], 0
    for k, (X, y) in enumerate(pairs):
        X = np.asarray(X)
        if X.ndim != 4 or not np.issubdtype(X.dtype, np.floating):
            raise ValueError(
                f"dataset {k}: X must be float images (N, C, H, W) in [0, 1], got {X.dtype} "
                f"{X.shape}; the skgate.datasets loaders return this format."
            )
        X = X.astype(np.float32, copy=False)
        y = _check_X_y(X, y).astype(np.int64)
        if label_offsets is not None:
            offset = int(label_offsets[k])
        Xs.append(transform(torch.from_numpy(X)).numpy())
        ys.append(y + offset)
        offset = int(ys[-1].max(initial=offset - 1)) + 1
    source = np.repeat(np.arange(len(pairs), dtype=np.int64), [len(y) for y in ys])
    return finish(np.concatenate(Xs), np.concatenate(ys), return_X_y, source=source)
