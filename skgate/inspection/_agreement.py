"""AgreementDisplay: pairwise kappa of models and number of models right per sample."""

import numpy as np

from ..metrics import correct_count_distribution, pairwise_kappa
from ._plotting import _check_matplotlib_support, _heatmap, _labels_or_range


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
