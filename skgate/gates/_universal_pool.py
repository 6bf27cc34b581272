"""What ``UniversalGate`` learns from unlabelled inputs (the pool), as plain functions.

Two steps, each on the gate's calibration inputs of the pool:

1. :func:`confident_half`: the scores choose an expert for each input; the more
   confident half of the inputs each expert is chosen for are its pseudo-labels.
2. :func:`second_view`: a check with a second, independent view of the same inputs.
   A student (logistic regression on the experts' concatenated, standardised
   activations) learns the teacher's confident pseudo-labels on one half of the pool
   and predicts the other half. If it reproduces the teacher's confident choices on
   held-out inputs at least ``1 - SECOND_VIEW_TOLERANCE`` of the time (the same
   tolerance as ``FastRouter``'s check), the two views are taken to see the same
   owners, and the inputs on which they agree are the pool's pseudo-labels for the
   refit: co-training's agreement filter, which drops most of the inputs where an
   over-confident expert misleads the scores. A student that cannot reproduce its
   teacher says nothing about where the teacher is wrong, and the step is skipped.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

__all__ = ["MIN_POOL", "SECOND_VIEW_TOLERANCE", "confident_half", "second_view"]

#: the pool teaches the gate only if each expert is the most confident choice of this many
#: pool inputs (its pseudo-labels: the more confident half of the inputs it is chosen for)
MIN_POOL = 50
#: the second view is used if its student agrees with the teacher's confident choices on
#: held-out pool inputs at least 1 - this often (``FastRouter``'s ``tolerance``)
SECOND_VIEW_TOLERANCE = 0.05
#: at most this many pool inputs train each of the two students
MAX_STUDENT_ROWS = 5000
#: inverse regularisation strength of the student (standardised activations)
STUDENT_C = 0.1


def confident_half(scores):
    """Each input's highest-scoring expert, and the more confident half of each expert's.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_experts)

    Returns
    -------
    chosen : ndarray of shape (n_samples,)
        The highest-scoring expert of each input.
    confident : ndarray of bool, shape (n_samples,)
        Whether the input is in the more confident half (by the margin of the chosen
        expert's score over the runner-up's) of the inputs its expert is chosen for.
    counts : ndarray of shape (n_experts,)
        The number of confident inputs of each expert.

    Examples
    --------
    >>> import numpy as np
    >>> chosen, confident, counts = confident_half(np.array(
    ...     [[3.0, 0.0], [1.0, 0.5], [0.0, 2.0], [0.0, 0.1]]))
    >>> chosen.tolist(), confident.tolist(), counts.tolist()
    ([0, 0, 1, 1], [True, False, True, False], [1, 1])
    """
    scores = np.asarray(scores)
    chosen = scores.argmax(axis=1)
    top2 = np.sort(scores, axis=1)[:, -2:] if scores.shape[1] > 1 else scores
    margin = top2[:, -1] - top2[:, 0]
    confident = np.zeros(len(scores), bool)
    counts = np.zeros(scores.shape[1], int)
    for k in range(scores.shape[1]):
        mine = np.flatnonzero(chosen == k)
        if len(mine):
            keep = mine[margin[mine] >= np.median(margin[mine])]
            confident[keep] = True
            counts[k] = len(keep)
    return chosen, confident, counts


def second_view(activations, scores, seed):
    """The pool inputs on which a student on the activations agrees with the scores.

    Parameters
    ----------
    activations : list of ndarray of shape (n_samples, n_features_k)
        Each expert's standardised activations on the pool.
    scores : ndarray of shape (n_samples, n_experts)
        The teacher's scores on the pool.
    seed : int
        Seeds the split of the pool into the two halves.

    Returns
    -------
    agree : ndarray of bool, shape (n_samples,), or None
        Whether the held-out student chooses the teacher's expert, per input; None when
        the student is not faithful enough to be used.
    report : dict
        ``fidelity`` (how often the student reproduces the teacher's confident choices
        on held-out inputs), ``agreement`` (on every input) and ``used``.
    """
    chosen, confident, _ = confident_half(scores)
    features = np.hstack([np.asarray(a, np.float64) for a in activations])
    rng = np.random.default_rng(seed)
    first = rng.random(len(chosen)) < 0.5
    student = np.empty(len(chosen), chosen.dtype)
    for test in (first, ~first):
        train = np.flatnonzero(confident & ~test)
        if len(train) > MAX_STUDENT_ROWS:
            train = np.sort(rng.choice(train, size=MAX_STUDENT_ROWS, replace=False))
        if len(np.unique(chosen[train])) < 2:
            return None, {"used": False, "reason": "too few confident inputs in a half"}
        model = LogisticRegression(C=STUDENT_C, max_iter=300)
        with warnings.catch_warnings():  # a student short of convergence is still checked
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(features[train], chosen[train])
        student[test] = model.predict(features[test])
    agree = student == chosen
    fidelity = float(agree[confident].mean())
    report = {"fidelity": fidelity, "agreement": float(agree.mean()),
              "used": fidelity >= 1 - SECOND_VIEW_TOLERANCE}
    if not report["used"]:
        report["reason"] = (f"the student reproduces {fidelity:.3f} of the teacher's confident "
                            f"choices, under 1 - {SECOND_VIEW_TOLERANCE}")
    return (agree if report["used"] else None), report
