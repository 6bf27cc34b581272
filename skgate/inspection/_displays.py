"""Display objects for the analysis of a mixture and of its experts.

They follow scikit-learn's visualization API (as
:class:`sklearn.metrics.ConfusionMatrixDisplay`): the constructor stores the
data, the ``from_*`` class methods compute it and call :meth:`plot`, and
``plot`` draws, stores the matplotlib artists as attributes ending in ``_`` and
returns the display. matplotlib is imported only when plotting.
"""

from collections.abc import Mapping
from itertools import product

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..metrics import activation_rate, correct_count_distribution, pairwise_kappa

__all__ = ["ActivationRateDisplay", "AgreementDisplay", "TrainingCurveDisplay"]


def _check_matplotlib_support(caller_name):
    """Raise an ImportError naming the caller when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"{caller_name} requires matplotlib, an optional dependency of skgate. Install "
            "it with `pip install matplotlib` (or `pip install skgate[examples]`)."
        ) from e


def _labels_or_range(labels, n, what):
    """Tick labels: ``labels`` (checked to have ``n`` items), or 0 .. n - 1 when None."""
    if labels is None:
        return np.arange(n)
    labels = list(labels)
    if len(labels) != n:
        raise ValueError(f"{what} has {len(labels)} items, expected {n}.")
    return labels


def _heatmap(
    ax,
    values,
    *,
    row_labels,
    col_labels,
    include_values,
    values_format,
    xticks_rotation,
    colorbar,
    im_kw,
    text_kw,
):
    """Draw ``values`` as an annotated heatmap; return (image, texts, colorbar)."""
    import matplotlib.pyplot as plt

    im = ax.imshow(values, **im_kw)
    texts = None
    if include_values:
        cmap_min, cmap_max = im.cmap(0.0), im.cmap(1.0)
        texts = np.empty(values.shape, dtype=object)
        for i, j in product(range(values.shape[0]), range(values.shape[1])):
            # light text on the dark half of the colour map, dark text on the light half
            color = cmap_max if im.norm(values[i, j]) < 0.5 else cmap_min
            kw = {"ha": "center", "va": "center", "color": color, **(text_kw or {})}
            texts[i, j] = ax.text(j, i, format(values[i, j], values_format), **kw)
    cbar = ax.figure.colorbar(im, ax=ax) if colorbar else None
    ax.set(
        xticks=np.arange(values.shape[1]),
        yticks=np.arange(values.shape[0]),
        xticklabels=col_labels,
        yticklabels=row_labels,
    )
    ax.set_ylim((values.shape[0] - 0.5, -0.5))
    plt.setp(ax.get_xticklabels(), rotation=xticks_rotation)
    return im, texts, cbar


class ActivationRateDisplay:
    """Heatmap of the activation rate of each expert on each group of samples.

    ``ActivationRate(i | D)``, the mean gate weight of expert ``i`` over the
    samples of group (data set) ``D`` (:func:`skgate.metrics.activation_rate`),
    as a table with one row per group and one column per expert. Build it with
    :meth:`from_estimator` or :meth:`from_weights`; the constructor takes rates
    already computed.

    Parameters
    ----------
    rates : ndarray of shape (n_groups, n_experts)
        The activation rates.
    group_labels : array-like of shape (n_groups,)
        The name of each group (row).
    expert_names : array-like of shape (n_experts,), default=None
        The name of each expert (column). ``None`` means 0 .. n_experts - 1.

    Attributes
    ----------
    im_ : matplotlib AxesImage
        The heatmap.
    text_ : ndarray of shape (n_groups, n_experts) of matplotlib Text, or None
        The annotations; None when ``include_values=False``.
    colorbar_ : matplotlib Colorbar or None
        The colour bar; None when ``colorbar=False``.
    ax_ : matplotlib Axes
        The axes of the heatmap.
    figure_ : matplotlib Figure
        The figure of the axes.

    See Also
    --------
    skgate.metrics.activation_rate : The rates, as an array.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skgate.inspection import ActivationRateDisplay
    >>> weights = [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    >>> disp = ActivationRateDisplay.from_weights(
    ...     weights, ["mnist", "mnist", "cifar"], labels=["mnist", "cifar"],
    ...     expert_names=["lenet", "resnet"])
    >>> disp.rates
    array([[0.75, 0.25],
           [0.  , 1.  ]])
    >>> disp.text_[0, 0].get_text()
    '0.75'
    >>> plt.close(disp.figure_)
    """

    def __init__(self, rates, group_labels, expert_names=None):
        self.rates = rates
        self.group_labels = group_labels
        self.expert_names = expert_names

    def plot(
        self,
        *,
        include_values=True,
        values_format=".2f",
        cmap="viridis",
        xticks_rotation="horizontal",
        colorbar=True,
        im_kw=None,
        text_kw=None,
        ax=None,
    ):
        """Plot the activation rates as an annotated heatmap.

        Parameters
        ----------
        include_values : bool, default=True
            Write each rate in its cell.
        values_format : str, default=".2f"
            Format specification of the written rates.
        cmap : str or matplotlib Colormap, default="viridis"
            The colour map.
        xticks_rotation : {"vertical", "horizontal"} or float, default="horizontal"
            Rotation of the expert names.
        colorbar : bool, default=True
            Add a colour bar.
        im_kw : dict, default=None
            Keywords for :meth:`matplotlib.axes.Axes.imshow`. The colour scale
            spans [0, 1] unless ``vmin`` / ``vmax`` are given here.
        text_kw : dict, default=None
            Keywords for :meth:`matplotlib.axes.Axes.text`.
        ax : matplotlib Axes, default=None
            Axes to plot on; ``None`` creates a figure and axes.

        Returns
        -------
        display : ActivationRateDisplay
            This display, with its artists stored as attributes.
        """
        _check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        rates = np.asarray(self.rates, dtype=float)
        if rates.ndim != 2:
            raise ValueError(
                f"rates must be 2-D of shape (n_groups, n_experts), got shape {rates.shape}."
            )
        group_labels = _labels_or_range(self.group_labels, rates.shape[0], "group_labels")
        expert_names = _labels_or_range(self.expert_names, rates.shape[1], "expert_names")
        if ax is None:
            _, ax = plt.subplots()
        im_kw = {
            "interpolation": "nearest",
            "cmap": cmap,
            "vmin": 0.0,
            "vmax": 1.0,
            **(im_kw or {}),
        }
        self.im_, self.text_, self.colorbar_ = _heatmap(
            ax,
            rates,
            row_labels=group_labels,
            col_labels=expert_names,
            include_values=include_values,
            values_format=values_format,
            xticks_rotation=xticks_rotation,
            colorbar=colorbar,
            im_kw=im_kw,
            text_kw=text_kw,
        )
        ax.set(xlabel="Expert", ylabel="Group", title="Activation rate")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_weights(
        cls,
        weights,
        groups,
        *,
        labels=None,
        expert_names=None,
        include_values=True,
        values_format=".2f",
        cmap="viridis",
        xticks_rotation="horizontal",
        colorbar=True,
        im_kw=None,
        text_kw=None,
        ax=None,
    ):
        """Plot the activation rates of gate weights already computed.

        Parameters
        ----------
        weights : array-like of shape (n_samples, n_experts)
            The gate's weights (:meth:`skgate.MixtureOfExperts.route_proba`).
        groups : array-like of shape (n_samples,)
            The group (data set) of each sample.
        labels : array-like of shape (n_groups,), default=None
            The groups to show, in the order of the rows; ``None`` means
            ``np.unique(groups)``.
        expert_names : array-like of shape (n_experts,), default=None
            The name of each expert; ``None`` means 0 .. n_experts - 1.
        include_values, values_format, cmap, xticks_rotation, colorbar, im_kw, text_kw, ax
            See :meth:`plot`.

        Returns
        -------
        display : ActivationRateDisplay
        """
        _check_matplotlib_support(f"{cls.__name__}.from_weights")
        rates = activation_rate(weights, groups, labels=labels)
        group_labels = np.unique(groups) if labels is None else labels
        return cls(rates, group_labels, expert_names).plot(
            include_values=include_values,
            values_format=values_format,
            cmap=cmap,
            xticks_rotation=xticks_rotation,
            colorbar=colorbar,
            im_kw=im_kw,
            text_kw=text_kw,
            ax=ax,
        )

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        groups,
        *,
        labels=None,
        include_values=True,
        values_format=".2f",
        cmap="viridis",
        xticks_rotation="horizontal",
        colorbar=True,
        im_kw=None,
        text_kw=None,
        ax=None,
    ):
        """Plot the activation rates of a fitted mixture on ``X``.

        Parameters
        ----------
        estimator : fitted skgate.MixtureOfExperts
            The mixture; its gate's weights are ``estimator.route_proba(X)`` and
            the columns are named after its experts.
        X : array-like
            The input, in the mixture's format.
        groups : array-like of shape (n_samples,)
            The group (data set) of each sample of ``X``.
        labels : array-like of shape (n_groups,), default=None
            The groups to show, in the order of the rows; ``None`` means
            ``np.unique(groups)``.
        include_values, values_format, cmap, xticks_rotation, colorbar, im_kw, text_kw, ax
            See :meth:`plot`.

        Returns
        -------
        display : ActivationRateDisplay
        """
        _check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        return cls.from_weights(
            estimator.route_proba(X),
            groups,
            labels=labels,
            expert_names=[name for name, _ in estimator.experts],
            include_values=include_values,
            values_format=values_format,
            cmap=cmap,
            xticks_rotation=xticks_rotation,
            colorbar=colorbar,
            im_kw=im_kw,
            text_kw=text_kw,
            ax=ax,
        )


class AgreementDisplay:
    """How much models agree: pairwise kappa and number of models right per sample.

    Two axes side by side: the heatmap of Cohen's kappa between every pair of
    models (:func:`skgate.metrics.pairwise_kappa`), and a bar chart of the
    share of samples that exactly ``k`` models get right, ``k = 0 ..
    n_models`` (:func:`skgate.metrics.correct_count_distribution`). Models
    that agree little and are rarely all wrong are worth combining.

    Parameters
    ----------
    kappa : ndarray of shape (n_models, n_models)
        The pairwise kappas.
    correct_share : ndarray of shape (n_models + 1,)
        The share of samples that exactly ``k`` models get right.
    model_names : array-like of shape (n_models,), default=None
        The name of each model; ``None`` means 0 .. n_models - 1.

    Attributes
    ----------
    im_ : matplotlib AxesImage
        The kappa heatmap.
    text_ : ndarray of shape (n_models, n_models) of matplotlib Text, or None
        The annotations of the heatmap; None when ``include_values=False``.
    colorbar_ : matplotlib Colorbar or None
        The colour bar of the heatmap; None when ``colorbar=False``.
    bars_ : matplotlib BarContainer
        The bars of the shares.
    ax_ : ndarray of shape (2,) of matplotlib Axes
        The kappa heatmap's axes, then the bar chart's.
    figure_ : matplotlib Figure
        The figure of the axes.

    See Also
    --------
    skgate.metrics.pairwise_kappa : The kappas, as an array.
    skgate.metrics.correct_count_distribution : The shares, as an array.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skgate.inspection import AgreementDisplay
    >>> y_true = [0, 1, 1, 0]
    >>> predictions = [[0, 0, 1], [1, 1, 1], [1, 0, 0], [0, 1, 0]]
    >>> disp = AgreementDisplay.from_predictions(
    ...     y_true, predictions, model_names=["a", "b", "c"])
    >>> disp.correct_share
    array([0.  , 0.25, 0.5 , 0.25])
    >>> disp.ax_.shape
    (2,)
    >>> plt.close(disp.figure_)
    """

    def __init__(self, kappa, correct_share, model_names=None):
        self.kappa = kappa
        self.correct_share = correct_share
        self.model_names = model_names

    def plot(
        self,
        *,
        include_values=True,
        values_format=".2f",
        cmap="viridis",
        xticks_rotation="horizontal",
        colorbar=True,
        im_kw=None,
        text_kw=None,
        bar_kw=None,
        ax=None,
    ):
        """Plot the kappa heatmap and the bar chart of the shares.

        Parameters
        ----------
        include_values : bool, default=True
            Write each kappa in its cell and each share above its bar.
        values_format : str, default=".2f"
            Format specification of the written values.
        cmap : str or matplotlib Colormap, default="viridis"
            The colour map of the heatmap.
        xticks_rotation : {"vertical", "horizontal"} or float, default="horizontal"
            Rotation of the model names under the heatmap.
        colorbar : bool, default=True
            Add a colour bar to the heatmap.
        im_kw : dict, default=None
            Keywords for :meth:`matplotlib.axes.Axes.imshow`. The colour scale
            spans the kappas unless ``vmin`` / ``vmax`` are given here (for
            instance -1 and 1).
        text_kw : dict, default=None
            Keywords for :meth:`matplotlib.axes.Axes.text` (heatmap values).
        bar_kw : dict, default=None
            Keywords for :meth:`matplotlib.axes.Axes.bar`.
        ax : array-like of 2 matplotlib Axes, default=None
            The axes of the heatmap and of the bar chart; ``None`` creates a
            figure with two axes side by side.

        Returns
        -------
        display : AgreementDisplay
            This display, with its artists stored as attributes.
        """
        _check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        kappa = np.asarray(self.kappa, dtype=float)
        if kappa.ndim != 2 or kappa.shape[0] != kappa.shape[1]:
            raise ValueError(
                f"kappa must be a square matrix (n_models, n_models), got shape {kappa.shape}."
            )
        n_models = kappa.shape[0]
        share = np.asarray(self.correct_share, dtype=float)
        if share.shape != (n_models + 1,):
            raise ValueError(
                f"correct_share must have n_models + 1 = {n_models + 1} values (k = 0 .. "
                f"{n_models} models right), got shape {share.shape}."
            )
        names = _labels_or_range(self.model_names, n_models, "model_names")
        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
        axes = np.asarray(ax, dtype=object).ravel()
        if axes.size != 2:
            raise ValueError(
                f"ax must hold 2 matplotlib Axes (the kappa heatmap's, then the bar chart's), "
                f"got {axes.size}."
            )
        ax_kappa, ax_share = axes
        im_kw = {"interpolation": "nearest", "cmap": cmap, **(im_kw or {})}
        self.im_, self.text_, self.colorbar_ = _heatmap(
            ax_kappa,
            kappa,
            row_labels=names,
            col_labels=names,
            include_values=include_values,
            values_format=values_format,
            xticks_rotation=xticks_rotation,
            colorbar=colorbar,
            im_kw=im_kw,
            text_kw=text_kw,
        )
        ax_kappa.set(xlabel="Model", ylabel="Model", title="Cohen's kappa")

        ks = np.arange(n_models + 1)
        self.bars_ = ax_share.bar(ks, share, **(bar_kw or {}))
        if include_values:
            ax_share.bar_label(self.bars_, labels=[format(v, values_format) for v in share])
        ax_share.set(
            xticks=ks,
            xlabel="Number of models right",
            ylabel="Share of samples",
            title="Models right per sample",
        )
        ax_share.set_ylim(bottom=0)
        self.ax_ = axes
        self.figure_ = ax_kappa.figure
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true,
        predictions,
        *,
        model_names=None,
        include_values=True,
        values_format=".2f",
        cmap="viridis",
        xticks_rotation="horizontal",
        colorbar=True,
        im_kw=None,
        text_kw=None,
        bar_kw=None,
        ax=None,
    ):
        """Plot the agreement of models from their predictions.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            The true labels.
        predictions : array-like of shape (n_samples, n_models), or list of 1-D ndarrays
            The labels predicted by each model: one column per model, or a list
            of 1-D ndarrays of shape (n_samples,), one per model.
        model_names : array-like of shape (n_models,), default=None
            The name of each model; ``None`` means 0 .. n_models - 1.
        include_values, values_format, cmap, xticks_rotation, colorbar, im_kw, text_kw, \
bar_kw, ax
            See :meth:`plot`.

        Returns
        -------
        display : AgreementDisplay
        """
        _check_matplotlib_support(f"{cls.__name__}.from_predictions")
        kappa = pairwise_kappa(predictions)
        share = correct_count_distribution(y_true, predictions)
        return cls(kappa, share, model_names).plot(
            include_values=include_values,
            values_format=values_format,
            cmap=cmap,
            xticks_rotation=xticks_rotation,
            colorbar=colorbar,
            im_kw=im_kw,
            text_kw=text_kw,
            bar_kw=bar_kw,
            ax=ax,
        )


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
