"""Metrics of a mixture's routing.

Scorers ``(fitted mixture, X, y) -> float``, usable as ``scoring=`` in
:class:`~sklearn.model_selection.GridSearchCV`: :func:`routing_accuracy` and
:func:`oracle_accuracy`; and the pieces they are made of, for when the
experts' outputs are already at hand: :func:`routing_accuracy_score` (of
arrays) and :func:`oracle_proba` (of an ExpertSet and its outputs).
"""

import numpy as np

__all__ = [
    "routing_accuracy",
    "routing_accuracy_score",
    "oracle_accuracy",
    "oracle_proba",
]


def routing_accuracy_score(owners, weights):
    """Share of samples whose largest gate weight goes to an expert that owns the label.

    Parameters
    ----------
    owners : ndarray of bool, shape (n_samples, n_experts)
        ``owners[i, k]`` is true when expert ``k`` knows the label of sample
        ``i`` (:meth:`skgate.experts.ExpertSet.owners`).
    weights : ndarray of shape (n_samples, n_experts)
        The gate's weights (:meth:`skgate.MixtureOfExperts.route_proba`).

    Returns
    -------
    score : float

    Examples
    --------
    >>> import numpy as np
    >>> from skgate.metrics import routing_accuracy_score
    >>> owners = np.array([[True, False], [False, True], [True, True]])
    >>> weights = np.array([[1.0, 0.0], [1.0, 0.0], [0.2, 0.8]])
    >>> routing_accuracy_score(owners, weights)
    0.666...
    """
    owners = np.asarray(owners, dtype=bool)
    weights = np.asarray(weights)
    if owners.shape != weights.shape:
        raise ValueError(
            f"owners {owners.shape} and weights {weights.shape} must both be "
            "(n_samples, n_experts)."
        )
    chosen = weights.argmax(axis=1)
    return float(np.mean(owners[np.arange(len(chosen)), chosen]))


def oracle_proba(expert_set, outputs, owners):
    """Probabilities of the oracle mixture: each sample goes to the expert(s) owning its label.

    With several owners the sample is split evenly among them.
    """
    weights = owners / owners.sum(axis=1, keepdims=True)
    return expert_set.combine(outputs.probas, weights)


def routing_accuracy(moe, X, y):
    """Scorer: routing accuracy of a fitted mixture on ``(X, y)``.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV  # doctest: +SKIP
    >>> GridSearchCV(moe, {"gate__statistic": ["energy", "max_logit"]},
    ...              scoring={"accuracy": "accuracy", "routing": routing_accuracy},
    ...              refit="routing")  # doctest: +SKIP
    """
    return routing_accuracy_score(moe.expert_set_.owners(y), moe.route_proba(X))


def oracle_accuracy(moe, X, y):
    """Scorer: accuracy when every input is sent to the expert that owns its label.

    The upper bound of any hard gate over the same experts.
    """
    owners = moe.expert_set_.owners(y)
    proba = oracle_proba(moe.expert_set_, moe.expert_outputs(X), owners)
    return float(np.mean(moe.classes_[proba.argmax(axis=1)] == np.asarray(y)))
