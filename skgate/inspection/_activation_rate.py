"""ActivationRateDisplay: the mean gate weight of each expert per data set."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..metrics import activation_rate
from ._plotting import _check_matplotlib_support, _heatmap, _labels_or_range


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
