"""Labels to column indices."""

from numbers import Real

import numpy as np


def encode_labels(y, classes, *, who="expert"):
    """Return the column index of each label of ``y`` in ``classes``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels.
    classes : array-like of shape (n_classes,)
        The label of each column (any order, labels of one kind).
    who : str, default="expert"
        Who owns ``classes``, named in the error messages.

    Returns
    -------
    index : ndarray of shape (n_samples,), dtype int64

    Raises
    ------
    ValueError
        Naming the labels of ``y`` that are not in ``classes``.
    TypeError
        If the labels cannot be compared with the classes.

    Examples
    --------
    >>> from skgate.utils import encode_labels
    >>> encode_labels(["b", "a", "b"], ["a", "b", "c"])
    array([1, 0, 1])
    """
    y = np.asarray(y)
    classes = np.asarray(classes)
    try:
        sorter = np.argsort(classes, kind="stable")
        pos = np.searchsorted(classes, y, sorter=sorter)
    except TypeError as exc:
        raise TypeError(
            f"The labels of y ({y.dtype}) cannot be compared with the classes of the {who} "
            f"({classes.dtype}); use labels of one type."
        ) from exc
    pos = np.clip(pos, 0, len(classes) - 1)
    idx = sorter[pos]
    unknown = classes[idx] != y
    if np.any(unknown):
        missing = np.unique(y[unknown])
        raise ValueError(
            f"y contains labels unknown to the {who}: {missing[:10].tolist()}"
            f"{' ...' if len(missing) > 10 else ''}; the known classes are {classes.tolist()}."
        )
    return idx.astype(np.int64)


#: the label of an unlabelled sample, as in :mod:`sklearn.semi_supervised`
UNLABELLED = -1


def unlabelled_mask(y):
    """Which samples of ``y`` are unlabelled: marked ``-1``, scikit-learn's convention.

    Numeric labels are unlabelled where they equal ``-1``; labels of dtype object
    (strings, say) where they hold the number ``-1`` (as
    :class:`sklearn.semi_supervised.SelfTrainingClassifier` asks); the string
    ``"-1"`` is a label like any other (a list such as ``["cat", -1]`` becomes an
    array of strings: give ``np.array(["cat", -1], dtype=object)``).

    Parameters
    ----------
    y : array-like of shape (n_samples,)

    Returns
    -------
    mask : ndarray of bool, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skgate.utils import unlabelled_mask
    >>> unlabelled_mask([3, -1, 0])
    array([False,  True, False])
    >>> unlabelled_mask(np.array(["cat", -1, "-1"], dtype=object))
    array([False,  True, False])
    """
    y = np.asarray(y)
    if y.dtype.kind in "iuf":
        return y == UNLABELLED
    if y.dtype.kind == "O":
        return np.fromiter(
            (isinstance(v, Real) and not isinstance(v, bool | np.bool_) and v == UNLABELLED
             for v in y.ravel()), dtype=bool, count=y.size)
    return np.zeros(y.shape, dtype=bool)


def marker_is_a_class(classes):
    """Whether ``-1``, the unlabelled marker, is one of ``classes`` (then it is a label)."""
    return bool(unlabelled_mask(np.asarray(classes, dtype=object)).any())
