"""Architecture-agnostic statistics of one expert's logits, for the universal gate.

Every statistic is one number per sample, whatever the expert's architecture
and number of classes, so one network can score any expert.
"""

import numpy as np
from scipy.special import logsumexp


def _sorted_desc(z):
    return -np.sort(-z, axis=1)


def _energy(z):
    return logsumexp(z, axis=1)


def _max_logit(z):
    return z.max(axis=1)


def _log_max_proba(z):
    return z.max(axis=1) - logsumexp(z, axis=1)


def _entropy_ratio(z):
    """Softmax entropy over its maximum ``log C``: 0 (one-hot) to 1 (uniform)."""
    log_p = z - logsumexp(z, axis=1, keepdims=True)
    entropy = -np.sum(np.exp(log_p) * log_p, axis=1)
    return entropy / np.log(max(z.shape[1], 2))


def _margin(z):
    s = _sorted_desc(z)
    return s[:, 0] - s[:, 1] if z.shape[1] > 1 else np.zeros(len(z))


def _top_gap(i):
    """``(z_(1) - z_(i)) / std(z)``: the i-th logit below the top, in the row's own scale."""

    def gap(z):
        s = _sorted_desc(z)
        j = min(i, z.shape[1]) - 1
        std = z.std(axis=1)
        return np.divide(s[:, 0] - s[:, j], std, out=np.zeros(len(z)), where=std > 0)

    gap.__name__ = f"_top{i}_gap"
    return gap


def _log_n_classes(z):
    return np.full(len(z), np.log(z.shape[1]))


def _mean(z):
    return z.mean(axis=1)


def _std(z):
    return z.std(axis=1)


def _min(z):
    return z.min(axis=1)


def _median(z):
    return np.median(z, axis=1)


#: statistic name -> function of one expert's logits (n_samples, n_classes) -> (n_samples,)
UNIVERSAL_STATISTICS = {
    "energy": _energy,
    "max_logit": _max_logit,
    "log_max_proba": _log_max_proba,
    "entropy_ratio": _entropy_ratio,
    "margin": _margin,
    "top2_gap": _top_gap(2),
    "top3_gap": _top_gap(3),
    "log_n_classes": _log_n_classes,
    "mean": _mean,
    "std": _std,
    "min": _min,
    "median": _median,
}

#: named sets of statistics; "paper" is the universal network's input in Kang, Chua and Maul
#: "default": every statistic above that reads one expert's logits in its own scale;
#: "class_count_free": only those whose meaning does not change with the number of classes
FEATURE_SETS = {
    "default": ("energy", "max_logit", "log_max_proba", "entropy_ratio", "margin", "top2_gap",
                "top3_gap", "log_n_classes", "std"),
    "class_count_free": ("energy", "max_logit", "log_max_proba", "margin"),
    "paper": ("mean", "std", "max_logit", "min", "median"),
}


def universal_features(logits, statistics):
    """The statistics of each expert's logits, stacked: shape ``(n_samples, n_experts, F)``.

    Parameters
    ----------
    logits : list of ndarray of shape (n_samples, n_classes_k)
        Each expert's raw logits; the experts may have different numbers of classes.
    statistics : sequence of str
        Keys of :data:`UNIVERSAL_STATISTICS`.

    Returns
    -------
    features : ndarray of shape (n_samples, n_experts, len(statistics))

    Examples
    --------
    >>> import numpy as np
    >>> from skgate.gates._universal_features import universal_features
    >>> z = [np.array([[2.0, 0.0]]), np.array([[0.0, 0.0, 0.0]])]
    >>> universal_features(z, ["max_logit", "log_n_classes"]).round(3)
    array([[[2.   , 0.693],
            [0.   , 1.099]]])
    """
    columns = [
        np.stack([UNIVERSAL_STATISTICS[name](np.asarray(z, dtype=np.float64)) for name in
                  statistics], axis=1)
        for z in logits
    ]
    return np.stack(columns, axis=1)
