"""Images stored as ``.npz`` archives (``X`` uint8 images, ``y`` int64 labels)."""

import os
from pathlib import Path

import numpy as np

from ._base import CIFAR10_CLASSES, MNIST_CLASSES, finish, to_labels, to_package_format

ENV_VAR = "SKGATE_DATA_DIR"


def get_data_dir(data_dir=None):
    """Return the folder holding the ``.npz`` image archives.

    Parameters
    ----------
    data_dir : str or path-like, default=None
        The folder. If None, the ``SKGATE_DATA_DIR`` environment variable is used.

    Returns
    -------
    data_dir : pathlib.Path

    Raises
    ------
    ValueError
        If ``data_dir`` is None and ``SKGATE_DATA_DIR`` is unset or empty.
    FileNotFoundError
        If the folder does not exist.

    Examples
    --------
    >>> from skgate.datasets import get_data_dir
    >>> get_data_dir("/tmp")
    PosixPath('/tmp')
    """
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or None
        if data_dir is None:
            raise ValueError(
                f"No data folder given: pass data_dir=... or set the {ENV_VAR} environment "
                "variable to the folder holding the .npz files."
            )
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"Data folder {str(data_dir)!r} does not exist.")
    return data_dir


def load_npz(name, data_dir=None, *, return_X_y=False):
    """Load an ``.npz`` image archive, such as ``mnist_train20k`` or ``cifar10_test``.

    The archive holds ``X``, uint8 images, 0-255, shaped ``(N, H, W)`` (grey, e.g. MNIST) or
    ``(N, H, W, 3)`` (RGB, channels last, e.g. CIFAR-10), and ``y``, integer labels.

    Parameters
    ----------
    name : str
        File name, with or without the ``.npz`` suffix.
    data_dir : str or path-like, default=None
        Folder holding the file; defaults to the ``SKGATE_DATA_DIR`` environment variable.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data``: float32 array ``(N, C, H, W)`` in [0, 1] (``(N, 1, 28, 28)`` for MNIST,
        ``(N, 3, 32, 32)`` for CIFAR-10); ``target``: int64 array ``(N,)``;
        ``target_names`` (digits for ``mnist*`` files, class names for ``cifar10*`` files,
        else the labels present); ``DESCR``; ``filename``.
    (data, target) : tuple if ``return_X_y`` is True.

    Raises
    ------
    ValueError
        If no folder is given, or the archive lacks ``X`` or ``y`` or has bad shapes.
    FileNotFoundError
        If the folder or file does not exist; the message lists the ``.npz`` files present.

    Examples
    --------
    >>> from skgate.datasets import load_npz
    >>> X, y = load_npz("mnist_test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((10000, 1, 28, 28), dtype('float32'))
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(
            f"name must be a file name such as 'mnist_test', got {type(name).__name__}."
        )
    stem = str(name).removesuffix(".npz")
    folder = get_data_dir(data_dir)
    path = folder / f"{stem}.npz"
    if not path.is_file():
        present = sorted(p.name for p in folder.glob("*.npz"))
        raise FileNotFoundError(
            f"No file {path.name!r} in {str(folder)!r}; .npz files present: {present or 'none'}."
        )
    with np.load(path) as archive:
        missing = {"X", "y"} - set(archive.files)
        if missing:
            raise ValueError(
                f"{path.name} must hold arrays 'X' and 'y'; missing {sorted(missing)}, "
                f"found {archive.files}."
            )
        X, y = to_package_format(archive["X"]), archive["y"]
    y = to_labels(y, len(X))

    base = Path(stem).name.lower()
    if base.startswith("cifar10"):
        names = CIFAR10_CLASSES.copy()
    elif base.startswith("mnist"):
        names = MNIST_CLASSES.copy()
    else:
        names = np.unique(y).astype(str)
    descr = (
        f"{path.name}: {len(X)} images {X.shape[1:]} (C, H, W), float32 in [0, 1], "
        f"read from {path}."
    )
    return finish(X, y, return_X_y, target_names=names, DESCR=descr, filename=str(path))
