"""ExpertScalingDisplay: a measure of each gate against the number of experts."""

from collections.abc import Mapping

import numpy as np

from ._plotting import _check_matplotlib_support


class ExpertScalingDisplay:
    """A measure of each gate (routing, accuracy, predict cost...) against the number of
    experts: one line per gate, the spread over seeds as error bars.

    Build it from measurements with :meth:`from_results` (one row per gate, number of
    experts and seed, as ``python -m skgate bench zoo --out`` writes them under
    ``"zoo"``); the constructor takes the curves as arrays.

    Parameters
    ----------
    n_experts : array-like of shape (n_points,)
        The numbers of experts, increasing.
    values : dict of str to array-like of shape (n_points,)
        ``values[gate][i]`` is the measure of ``gate`` with ``n_experts[i]`` experts
        (its mean over seeds); NaN where it was not measured.
    errors : dict of str to array-like of shape (n_points,), default=None
        The error bar of each value (the standard deviation over seeds), or None.
    metric : str, default="routing"
        The measure's name, the y axis label.

    Attributes
    ----------
    lines_ : dict of str to matplotlib ErrorbarContainer
        The curve of each gate.
    ax_ : matplotlib Axes
        The axes of the curves.
    figure_ : matplotlib Figure
        The figure of the axes.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skgate.inspection import ExpertScalingDisplay
    >>> rows = [{"n": n, "seed": seed, "gate": gate, "routing": value + 0.01 * seed}
    ...         for seed in (0, 1) for gate, values in
    ...         [("energy", {2: 0.9, 10: 0.3}), ("UniversalGate()", {2: 0.98, 10: 0.7})]
    ...         for n, value in values.items()]
    >>> disp = ExpertScalingDisplay.from_results(rows)
    >>> disp.n_experts.tolist(), disp.values["energy"].round(3).tolist()
    ([2, 10], [0.905, 0.305])
    >>> disp.errors["energy"].round(3).tolist()
    [0.005, 0.005]
    >>> sorted(disp.lines_)
    ['UniversalGate()', 'energy']
    >>> plt.close(disp.figure_)
    """

    def __init__(self, n_experts, values, *, errors=None, metric="routing"):
        self.n_experts = n_experts
        self.values = values
        self.errors = errors
        self.metric = metric

    def plot(self, *, logx=True, line_kw=None, ax=None):
        """Plot one line per gate against the number of experts.

        Parameters
        ----------
        logx : bool, default=True
            A logarithmic x axis (zoos grow by factors), ticks at the numbers measured.
        line_kw : dict, default=None
            Keywords for :meth:`matplotlib.axes.Axes.errorbar`, for every line.
        ax : matplotlib Axes, default=None
            Axes to plot on; ``None`` creates a figure and axes.

        Returns
        -------
        display : ExpertScalingDisplay
            This display, with its artists stored as attributes.
        """
        _check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        n = np.asarray(self.n_experts, dtype=float)
        if ax is None:
            _, ax = plt.subplots()
        self.lines_ = {}
        for gate, values in self.values.items():
            values = np.asarray(values, dtype=float)
            if values.shape != n.shape:
                raise ValueError(f"values[{gate!r}] has shape {values.shape}; expected one "
                                 f"value per number of experts, shape {n.shape}.")
            err = None if self.errors is None else np.asarray(self.errors[gate], dtype=float)
            kw = {"marker": "o", "capsize": 3, "label": gate, **(line_kw or {})}
            self.lines_[gate] = ax.errorbar(n, values, yerr=err, **kw)
        if logx:
            ax.set_xscale("log")
            ax.set_xticks(n, [f"{v:g}" for v in n])
            ax.minorticks_off()
        ax.set(xlabel="Number of experts", ylabel=self.metric)
        ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_results(cls, results, *, metric="routing", gates=None, logx=True, line_kw=None,
                     ax=None):
        """Plot a measure from one row per gate, number of experts and seed.

        Parameters
        ----------
        results : list of dict
            Each row holds ``"n"`` (the number of experts), ``"gate"``, the measure
            ``metric`` and, optionally, ``"seed"``: the rows of several seeds of one
            gate and number are averaged, their standard deviation is the error bar.
        metric : str, default="routing"
            The key of the measure in each row.
        gates : sequence of str, default=None
            The gates to plot, in this order; ``None`` means every gate of ``results``,
            in the order they first appear.
        logx, line_kw, ax
            See :meth:`plot`.

        Returns
        -------
        display : ExpertScalingDisplay
        """
        _check_matplotlib_support(f"{cls.__name__}.from_results")
        rows = list(results)
        bad = [i for i, row in enumerate(rows) if not isinstance(row, Mapping) or
               not {"n", "gate", metric} <= set(row)]
        if bad:
            raise ValueError(f"Each row of results needs the keys 'n', 'gate' and {metric!r}; "
                             f"row {bad[0]} is {rows[bad[0]]!r}.")
        names = list(dict.fromkeys(row["gate"] for row in rows))
        if gates is not None:
            unknown = [g for g in gates if g not in names]
            if unknown:
                raise ValueError(f"gates {unknown} are not in results; its gates are {names}.")
            names = list(gates)
        sizes = sorted({int(row["n"]) for row in rows})
        values, errors = {}, {}
        for gate in names:
            cells = [[float(r[metric]) for r in rows if r["gate"] == gate and int(r["n"]) == n]
                     for n in sizes]
            values[gate] = np.array([np.mean(c) if c else np.nan for c in cells])
            errors[gate] = np.array([np.std(c) if c else np.nan for c in cells])
        return cls(np.array(sizes), values, errors=errors, metric=metric).plot(
            logx=logx, line_kw=line_kw, ax=ax)
