"""Metrics of a mixture's routing.

Scorers ``(fitted mixture, X, y) -> float``, usable as ``scoring=`` in
:class:`~sklearn.model_selection.GridSearchCV`: :func:`routing_accuracy` and
:func:`oracle_accuracy`; and the pieces they are made of, for when the
experts' outputs are already at hand: :func:`routing_accuracy_score` (of
arrays) and :func:`oracle_proba` (of an ExpertSet and its outputs).

Analysis of a mixture and of its experts, on arrays: :func:`activation_rate`
(mean gate weight of each expert per data set), :func:`pairwise_kappa`
(agreement of every pair of models) and :func:`correct_count_distribution`
(share of the samples that exactly ``k`` models get right). Their plots are in
:mod:`skgate.inspection`.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "routing_accuracy",
    "routing_accuracy_score",
    "oracle_accuracy",
    "oracle_proba",
    "activation_rate",
    "pairwise_kappa",
    "correct_count_distribution",
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

    Parameters
    ----------
    expert_set : ExpertSet
        The experts (a fitted mixture's ``expert_set_``).
    outputs : ExpertOutputs
        Their outputs on the samples.
    owners : ndarray of bool of shape (n_samples, n_experts)
        ``expert_set.owners(y)``.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes)

    Examples
    --------
    >>> import numpy as np
    >>> from skgate import MixtureOfExperts
    >>> from skgate.metrics import oracle_proba
    >>> from skgate.utils._testing import slice_expert
    >>> X = np.array([[3, 1, 0, 2], [0, 1, 5, 0]], dtype=np.float32)
    >>> moe = MixtureOfExperts([("a", slice_expert(4, 0, [0, 1])),
    ...                         ("b", slice_expert(4, 2, [2, 3]))]).fit(X)
    >>> owners = moe.expert_set_.owners([3, 1])  # the labels the gate should route by
    >>> oracle_proba(moe.expert_set_, moe.expert_outputs(X), owners).round(3)
    array([[0.   , 0.   , 0.119, 0.881],
           [0.269, 0.731, 0.   , 0.   ]])
    """
    weights = owners / owners.sum(axis=1, keepdims=True)
    return expert_set.combine(outputs.probas, weights)


def routing_accuracy(moe, X, y):
    """Scorer: routing accuracy of a fitted mixture on ``(X, y)``.

    Parameters
    ----------
    moe : MixtureOfExperts
        A fitted mixture.
    X : array-like of shape (n_samples, ...)
        Input in the mixture's format.
    y : array-like of shape (n_samples,)
        True labels, in the mixture's label space.

    Returns
    -------
    score : float
        The share of samples routed to an expert that owns their label.

    Examples
    --------
    Two experts whose logits are columns 0-1 and 2-3 of ``X``, so that the
    expert owning each label is known:

    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skgate import MixtureOfExperts
    >>> from skgate.metrics import routing_accuracy
    >>> from skgate.utils._testing import slice_expert
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(90, 4)).astype(np.float32)
    >>> y = X.argmax(axis=1)
    >>> moe = MixtureOfExperts([("a", slice_expert(4, 0, [0, 1])),
    ...                         ("b", slice_expert(4, 2, [2, 3]))])
    >>> round(routing_accuracy(moe.fit(X), X, y), 3)  # energy, the default statistic
    0.911
    >>> search = GridSearchCV(moe, {"gate__statistic": ["energy", "max_logit"]},
    ...                       scoring={"accuracy": "accuracy", "routing": routing_accuracy},
    ...                       refit="routing", cv=3).fit(X, y)
    >>> search.best_params_  # the largest logit is the label here: max_logit routes all
    {'gate__statistic': 'max_logit'}
    """
    X, mixture = _through_pipeline(moe, X)
    return routing_accuracy_score(mixture.expert_set_.owners(y), mixture.route_proba(X))


def oracle_accuracy(moe, X, y):
    """Scorer: accuracy when every input is sent to the expert that owns its label.

    The upper bound of any hard gate over the same experts (with disjoint label
    sets). It does not depend on the gate.

    Parameters
    ----------
    moe : MixtureOfExperts
        A fitted mixture.
    X : array-like of shape (n_samples, ...)
        Input in the mixture's format.
    y : array-like of shape (n_samples,)
        True labels, in the mixture's label space.

    Returns
    -------
    score : float
        The accuracy of the owners' predictions.

    Examples
    --------
    The inputs with label 1 have their largest logit in the other expert, so
    the mixture routes them wrong; the oracle does not:

    >>> import numpy as np
    >>> from skgate import MixtureOfExperts
    >>> from skgate.metrics import oracle_accuracy
    >>> from skgate.utils._testing import slice_expert
    >>> X = np.array([[3, 1, 0, 2], [0, 2, 5, 0], [1, 2, 0, 0]], dtype=np.float32)
    >>> y = np.array([0, 1, 1])
    >>> moe = MixtureOfExperts([("a", slice_expert(4, 0, [0, 1])),
    ...                         ("b", slice_expert(4, 2, [2, 3]))]).fit(X)
    >>> moe.predict(X)
    array([0, 2, 1])
    >>> round(moe.score(X, y), 3), oracle_accuracy(moe, X, y)
    (0.667, 1.0)
    """
    X, mixture = _through_pipeline(moe, X)
    owners = mixture.expert_set_.owners(y)
    proba = oracle_proba(mixture.expert_set_, mixture.expert_outputs(X), owners)
    return float(np.mean(mixture.classes_[proba.argmax(axis=1)] == np.asarray(y)))


def _through_pipeline(estimator, X):
    """The mixture, and ``X`` as it reaches it: a ``Pipeline`` that ends in a mixture
    transforms ``X`` with its other steps first."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        for _, step in estimator.steps[:-1]:
            if step is not None and step != "passthrough":
                X = step.transform(X)
        estimator = estimator.steps[-1][1]
    from ._moe import MixtureOfExperts

    if isinstance(estimator, MixtureOfExperts):
        check_is_fitted(estimator)  # "not fitted yet", not "not a mixture"
    if not hasattr(estimator, "expert_set_"):
        raise TypeError(
            "routing_accuracy and oracle_accuracy score a fitted MixtureOfExperts, or a "
            f"Pipeline that ends in one; got {type(estimator).__name__}."
        )
    return X, estimator


# -- analysis of the gate's weights and of the experts' agreement --------------------
def activation_rate(weights, groups, *, labels=None):
    """Mean gate weight of each expert over the samples of each group.

    ``ActivationRate(i | D)`` is the mean of ``G(X)_i``, the gate's weight for
    expert ``i``, over the samples ``X`` of group (data set) ``D``. With a hard
    gate it is the share of the group's samples sent to expert ``i``; it shows
    whether the gate specialises the experts by data set.

    Parameters
    ----------
    weights : array-like of shape (n_samples, n_experts)
        The gate's weights (:meth:`skgate.MixtureOfExperts.route_proba`).
    groups : array-like of shape (n_samples,)
        The group of each sample, for example the data set it comes from
        (``"mnist"``, ``"cifar"``). Any labels that :func:`numpy.unique` sorts.
    labels : array-like of shape (n_labels,), default=None
        The groups to report, in the order of the rows of the result. ``None``
        means every group present, sorted (``np.unique(groups)``). Each must
        have at least one sample.

    Returns
    -------
    rates : ndarray of shape (n_labels, n_experts)
        ``rates[d, i]`` is the mean weight of expert ``i`` over group
        ``labels[d]``. When each row of ``weights`` sums to 1, so does each row
        of ``rates``.

    See Also
    --------
    skgate.inspection.ActivationRateDisplay : Plot of the activation rates.

    Examples
    --------
    >>> from skgate.metrics import activation_rate
    >>> weights = [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    >>> activation_rate(weights, ["a", "a", "b"])
    array([[0.75, 0.25],
           [0.  , 1.  ]])
    >>> activation_rate(weights, ["a", "a", "b"], labels=["b", "a"])
    array([[0.  , 1.  ],
           [0.75, 0.25]])
    """
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2:
        raise ValueError(
            f"weights must be a 2-D array of shape (n_samples, n_experts), got shape "
            f"{weights.shape}."
        )
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(
            f"groups must be a 1-D array of shape (n_samples,), got shape {groups.shape}."
        )
    if len(groups) != len(weights):
        raise ValueError(
            f"weights has {len(weights)} samples but groups has {len(groups)}; expected "
            "one group per row of weights."
        )
    n_bad = int(np.sum(~np.isfinite(weights).all(axis=1)))
    if n_bad:
        raise ValueError(
            f"weights contains NaN or infinite values (in {n_bad} of {len(weights)} "
            "samples); expected finite gate weights."
        )
    labels = np.unique(groups) if labels is None else np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}.")
    masks = [groups == label for label in labels]
    empty = [label for label, mask in zip(labels.tolist(), masks) if not mask.any()]
    if empty:
        raise ValueError(
            f"labels {empty} have no sample in groups; expected labels among the groups "
            f"present: {np.unique(groups).tolist()}."
        )
    rates = np.empty((len(labels), weights.shape[1]))
    for row, mask in zip(rates, masks):
        row[:] = weights[mask].mean(axis=0)
    return rates


def _check_predictions(predictions):
    """Predictions as an array of shape (n_samples, n_models).

    A list or tuple of 1-D ndarrays (or pandas Series) holds one array per
    model; anything else is read as an array of shape (n_samples, n_models).
    """
    if isinstance(predictions, (list, tuple)) and all(
        hasattr(p, "ndim") and p.ndim == 1 for p in predictions
    ):
        lengths = [len(p) for p in predictions]
        if len(set(lengths)) > 1:
            raise ValueError(
                f"The models' predictions have different lengths {lengths}; expected "
                "one prediction per sample for every model."
            )
        predictions = np.column_stack(predictions) if predictions else np.empty((0, 0))
    predictions = np.asarray(predictions)
    if predictions.ndim != 2:
        raise ValueError(
            "predictions must be an array of shape (n_samples, n_models) or a list of 1-D "
            f"arrays (one per model), got shape {predictions.shape}."
        )
    if predictions.shape[1] == 0:
        raise ValueError("predictions must hold at least one model, got none.")
    if predictions.shape[0] == 0:
        raise ValueError("predictions must hold at least one sample, got none.")
    return predictions


def pairwise_kappa(predictions):
    """Cohen's kappa between the predictions of every pair of models.

    Kappa measures how often two models predict the same label, corrected for
    the agreement expected by chance from how often each predicts each label:
    1 for identical predictions, 0 for agreement at chance level, negative
    below it (:func:`sklearn.metrics.cohen_kappa_score`).

    Parameters
    ----------
    predictions : array-like of shape (n_samples, n_models), or list of 1-D ndarrays
        The labels predicted by each model: one column per model, or a list
        (or tuple) of 1-D ndarrays of shape (n_samples,), one per model.

    Returns
    -------
    kappa : ndarray of shape (n_models, n_models)
        Symmetric, with 1.0 on the diagonal. Kappa is undefined (NaN, with a
        warning from scikit-learn) between two models that both predict one
        same label for every sample.

    See Also
    --------
    skgate.inspection.AgreementDisplay : Plot of the kappas and of
        :func:`correct_count_distribution`.

    Examples
    --------
    Model ``b`` agrees with ``a`` on 3 samples out of 4 (observed agreement
    0.75); ``a`` predicts each label half of the time and ``b`` predicts 1
    three times out of 4, so chance agreement is 0.5 * 0.25 + 0.5 * 0.75 = 0.5
    and kappa is (0.75 - 0.5) / (1 - 0.5) = 0.5. Model ``c`` always disagrees
    with ``a``.

    >>> import numpy as np
    >>> from skgate.metrics import pairwise_kappa
    >>> a, b, c = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), np.array([1, 1, 0, 0])
    >>> pairwise_kappa([a, b, c])
    array([[ 1. ,  0.5, -1. ],
           [ 0.5,  1. , -0.5],
           [-1. , -0.5,  1. ]])
    """
    from sklearn.metrics import cohen_kappa_score

    predictions = _check_predictions(predictions)
    n_models = predictions.shape[1]
    kappa = np.eye(n_models)
    for i in range(n_models):
        for j in range(i + 1, n_models):
            kappa[i, j] = kappa[j, i] = cohen_kappa_score(predictions[:, i], predictions[:, j])
    return kappa


def correct_count_distribution(y_true, predictions):
    """Share of the samples that exactly ``k`` models get right, for ``k`` from 0 to ``n_models``.

    The share at ``k = 0`` is the samples no model gets right (out of reach of
    any combination of them), the share at ``k = n_models`` the samples every
    model gets right; the shares in between are where combining the models
    can help.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        The true labels.
    predictions : array-like of shape (n_samples, n_models), or list of 1-D ndarrays
        The labels predicted by each model: one column per model, or a list
        (or tuple) of 1-D ndarrays of shape (n_samples,), one per model.

    Returns
    -------
    shares : ndarray of shape (n_models + 1,)
        ``shares[k]`` is the share of samples that exactly ``k`` models
        predict right; the shares sum to 1.

    See Also
    --------
    skgate.inspection.AgreementDisplay : Plot of the shares and of
        :func:`pairwise_kappa`.

    Examples
    --------
    Sample 0 is right for models 0 and 1 (2 models), sample 1 for all three,
    sample 2 for model 0 only, sample 3 for models 0 and 2 (2 models):

    >>> import numpy as np
    >>> from skgate.metrics import correct_count_distribution
    >>> y_true = [0, 1, 1, 0]
    >>> predictions = np.array([[0, 0, 1], [1, 1, 1], [1, 0, 0], [0, 1, 0]])
    >>> correct_count_distribution(y_true, predictions)
    array([0.  , 0.25, 0.5 , 0.25])
    """
    predictions = _check_predictions(predictions)
    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(f"y_true must be 1-D of shape (n_samples,), got shape {y_true.shape}.")
    if len(y_true) != len(predictions):
        raise ValueError(
            f"y_true has {len(y_true)} samples but predictions has {len(predictions)}; "
            "expected one prediction per sample for every model."
        )
    n_right = (predictions == y_true[:, None]).sum(axis=1)
    n_models = predictions.shape[1]
    return np.bincount(n_right, minlength=n_models + 1) / len(y_true)
