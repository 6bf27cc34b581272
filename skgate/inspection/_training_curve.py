"""TrainingCurveDisplay: per-epoch curves of several models."""

from collections.abc import Mapping

import numpy as np

from ._plotting import _check_matplotlib_support


def _history_rows(name, history):
    """The per-epoch dicts of a History, a list of dicts or an object holding a history."""
    if not isinstance(history, (list, tuple)):
        if hasattr(history, "history_"):  # e.g. a fitted gate
            history = history.history_
        elif hasattr(history, "history") and not hasattr(history, "to_list"):  # a skorch net
            history = history.history
    if hasattr(history, "to_list"):  # skorch History and DistributedHistory
        rows = history.to_list()
    elif isinstance(history, (list, tuple)):
        rows = list(history)
    else:
        raise TypeError(
            f"histories[{name!r}] must be a skorch History, a list of per-epoch dicts, or an "
            f"object with a history_ attribute holding one; got {type(history).__name__}."
        )
    not_dicts = sorted({type(row).__name__ for row in rows if not isinstance(row, Mapping)})
    if not_dicts:
        raise TypeError(
            f"histories[{name!r}] must hold one dict per epoch, got items of type {not_dicts}."
        )
    return rows


class TrainingCurveDisplay:
    """Per-epoch curves of several models: one colour per model, one line style per key.

    For example the training and test accuracy of each model after every epoch
    (training solid, test dashed). Build it from skorch histories with
    :meth:`from_histories`; the constructor takes the curves as arrays.

    Parameters
    ----------
    curves : dict of str to dict of str to array-like of shape (n_epochs,)
        ``curves[model][key]`` is the value of ``key`` after each epoch of
        ``model``; NaN where it was not recorded.
    keys : sequence of str
        The keys to plot, in the order of the line styles.

    Attributes
    ----------
    lines_ : ndarray of shape (n_models, n_keys) of matplotlib Line2D
        The curves, ``lines_[m, k]`` for model ``m`` (in the order of
        ``curves``) and key ``keys[k]``.
    ax_ : matplotlib Axes
        The axes of the curves.
    figure_ : matplotlib Figure
        The figure of the axes.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skorch.history import History
    >>> from skgate.inspection import TrainingCurveDisplay
    >>> history = History()
    >>> for train_acc, valid_acc in [(0.6, 0.5), (0.8, 0.7)]:
    ...     history.new_epoch()
    ...     history.record("train_acc", train_acc)
    ...     history.record("valid_acc", valid_acc)
    >>> disp = TrainingCurveDisplay.from_histories(
    ...     {"mlp": history, "cnn": [{"train_acc": 0.7, "valid_acc": 0.6}]})
    >>> disp.curves["mlp"]["valid_acc"]
    array([0.5, 0.7])
    >>> [line.get_label() for line in disp.lines_.ravel()]
    ['mlp (train_acc)', 'mlp (valid_acc)', 'cnn (train_acc)', 'cnn (valid_acc)']
    >>> plt.close(disp.figure_)
    """

    def __init__(self, curves, keys):
        self.curves = curves
        self.keys = keys

    def plot(self, *, linestyles=None, ylabel=None, line_kw=None, ax=None):
        """Plot one line per model and key against the epoch (from 1).

        Parameters
        ----------
        linestyles : sequence of str, default=None
            The line style of each key, cycled; ``None`` means solid, dashed,
            dotted, dash-dotted.
        ylabel : str, default=None
            Label of the y axis; ``None`` means the keys joined by commas.
        line_kw : dict, default=None
            Keywords for :meth:`matplotlib.axes.Axes.plot`, for every line.
        ax : matplotlib Axes, default=None
            Axes to plot on; ``None`` creates a figure and axes.

        Returns
        -------
        display : TrainingCurveDisplay
            This display, with its artists stored as attributes.
        """
        _check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        keys = [self.keys] if isinstance(self.keys, str) else list(self.keys)
        linestyles = ["-", "--", ":", "-."] if linestyles is None else list(linestyles)
        if ax is None:
            _, ax = plt.subplots()
        colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
        self.lines_ = np.empty((len(self.curves), len(keys)), dtype=object)
        for m, (name, model_curves) in enumerate(self.curves.items()):
            for k, key in enumerate(keys):
                if key not in model_curves:
                    raise ValueError(
                        f"curves[{name!r}] has no key {key!r}; available keys: "
                        f"{list(model_curves)}."
                    )
                values = np.asarray(model_curves[key], dtype=float)
                kw = {
                    "color": colors[m % len(colors)],
                    "linestyle": linestyles[k % len(linestyles)],
                    "label": f"{name} ({key})",
                    **(line_kw or {}),
                }
                (self.lines_[m, k],) = ax.plot(np.arange(1, len(values) + 1), values, **kw)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set(xlabel="Epoch", ylabel=", ".join(keys) if ylabel is None else ylabel)
        ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_histories(
        cls,
        histories,
        *,
        keys=("train_acc", "valid_acc"),
        linestyles=None,
        ylabel=None,
        line_kw=None,
        ax=None,
    ):
        """Plot the per-epoch values recorded in training histories.

        Parameters
        ----------
        histories : dict of str to history
            One history per model name. A history is a skorch
            :class:`~skorch.history.History` (``net.history``), a list of
            per-epoch dicts, or an object holding one in its ``history_``
            attribute (as a fitted gate) or, for a fitted skorch net (as an
            :class:`~skgate.Expert`), in its ``history`` attribute. The value of
            a key at an epoch that did not record it is NaN.
        keys : str or sequence of str, default=("train_acc", "valid_acc")
            The keys to plot, in the order of the line styles.
        linestyles, ylabel, line_kw, ax
            See :meth:`plot`.

        Returns
        -------
        display : TrainingCurveDisplay

        Raises
        ------
        ValueError
            When a key is recorded at no epoch of a history.
        """
        _check_matplotlib_support(f"{cls.__name__}.from_histories")
        if not isinstance(histories, Mapping):
            raise TypeError(
                "histories must be a dict of model name to history, got "
                f"{type(histories).__name__}."
            )
        keys = (keys,) if isinstance(keys, str) else tuple(keys)
        curves = {}
        for name, history in histories.items():
            rows = _history_rows(name, history)
            available = list(dict.fromkeys(k for row in rows for k in row if k != "batches"))
            for key in keys:
                if key not in available:
                    raise ValueError(
                        f"Key {key!r} is not in the history of {name!r}; available keys: "
                        f"{available}."
                    )
            curves[name] = {
                key: np.array([row.get(key, np.nan) for row in rows], dtype=float) for key in keys
            }
        return cls(curves, keys).plot(linestyles=linestyles, ylabel=ylabel, line_kw=line_kw, ax=ax)
