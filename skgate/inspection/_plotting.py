"""Plotting helpers shared by the displays.

The displays follow scikit-learn's visualization API (as
:class:`sklearn.metrics.ConfusionMatrixDisplay`): the constructor stores the
data, the ``from_*`` class methods compute it and call ``plot``, and
``plot`` draws, stores the matplotlib artists as attributes ending in ``_`` and
returns the display. matplotlib is imported only when plotting.
"""

from itertools import product

import numpy as np


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
