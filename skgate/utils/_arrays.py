"""Small array helpers shared by the gates, the benchmarks and the metrics."""

import numpy as np


def one_hot(index, n_columns):
    """Rows of the identity: ``out[i, index[i]] = 1``, float64.

    A hard gate's routing weights from the index of the chosen expert per sample.

    Examples
    --------
    >>> import numpy as np
    >>> from skgate.utils._arrays import one_hot
    >>> one_hot(np.array([1, 0]), 3)
    array([[0., 1., 0.],
           [1., 0., 0.]])
    """
    out = np.zeros((len(index), n_columns), dtype=np.float64)
    out[np.arange(len(index)), index] = 1.0
    return out
