"""The scikit-learn baselines of the fusion bench: each representation alone, their
concatenation with a linear classifier, and stacking (the paper's equation 9)."""

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from ..utils._evaluation import timed

#: the grid of inverse regularisation strengths searched by the inner cross-validation
C_GRID = (0.0001, 0.001, 0.01, 0.1, 1.0)
#: the grid of the linear SVM on the concatenation (larger C fit slowly and worse)
SVM_C_GRID = (0.00001, 0.0001, 0.001, 0.01)
#: the grid of the stacking's second stage (on averaged probabilities, not standardised)
FINAL_C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
STACKING = "stacking (eq. 9: averaged base probabilities + softmax regression)"


def _inner_cv(random_state):
    return StratifiedKFold(3, shuffle=True, random_state=random_state)


def softmax_regression(C=None, *, random_state=None, max_iter=5000):
    """StandardScaler + multinomial LogisticRegression.

    ``C=None`` chooses C from :data:`C_GRID` by a 3-fold stratified inner
    cross-validation (``GridSearchCV``, accuracy) on the training data; a number fixes it.
    """
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=C or 1.0, max_iter=max_iter))
    if C is not None:
        return pipe
    return GridSearchCV(pipe, {"logisticregression__C": list(C_GRID)},
                        cv=_inner_cv(random_state))


def select_columns(columns, estimator):
    """A pipeline that feeds only ``columns`` (a slice or indices) of X to ``estimator``."""
    return Pipeline([
        ("select", ColumnTransformer([("representation", "passthrough", columns)])),
        ("classifier", estimator),
    ])


def concatenation_classifier(kind="svm", C=None, *, random_state=None):
    """The paper's "all + SVM": a linear classifier on all representations, concatenated.

    Parameters
    ----------
    kind : {"svm", "logreg"}, default="svm"
        StandardScaler + ``LinearSVC`` or StandardScaler + ``LogisticRegression``.
    C : float or None, default=None
        Inverse regularisation; None chooses it by a 3-fold stratified inner
        cross-validation, from :data:`C_GRID` (logreg) or :data:`SVM_C_GRID` (svm).
    """
    if kind == "logreg":
        return softmax_regression(C, random_state=random_state)
    if kind != "svm":
        raise ValueError(f"kind must be 'svm' or 'logreg', got {kind!r}.")
    pipe = make_pipeline(StandardScaler(), LinearSVC(C=C or 1.0, max_iter=20000))
    if C is not None:
        return pipe
    return GridSearchCV(pipe, {"linearsvc__C": list(SVM_C_GRID)}, cv=_inner_cv(random_state))


def average_probas(P, n_estimators):
    """Average the stacked probabilities of ``n_estimators`` classifiers.

    ``P`` is ``(n_samples, n_estimators * n_columns)``, one block of columns per
    classifier, as :class:`~sklearn.ensemble.StackingClassifier` concatenates them;
    the result is ``(n_samples, n_columns)``.
    """
    P = np.asarray(P)
    if P.ndim != 2 or P.shape[1] % n_estimators:
        raise ValueError(
            f"Expected a 2-d array with a multiple of {n_estimators} columns, got {P.shape}.")
    return P.reshape(len(P), n_estimators, -1).mean(axis=1)


def stacking_classifier(columns, *, C=None, final_C=None, cv=5, random_state=None):
    """Stacking as the paper's equation 9, with scikit-learn's ``StackingClassifier``.

    ``g(mean_k g_k(phi_k(x)))``: one softmax regression ``g_k`` per representation
    (its ``columns`` of the concatenated X), their out-of-fold predicted probabilities
    (``cv``-fold) averaged over k, then a second-stage softmax regression ``g``.

    Parameters
    ----------
    columns : dict of str to slice or array of int
        The columns of each representation in X.
    C : float, dict of str to float, or None, default=None
        Inverse regularisation of the first-stage regressions (one per name if a dict);
        None chooses it by inner cross-validation (see :func:`softmax_regression`).
    final_C : float or None, default=None
        Same for the second stage (on the averaged probabilities, not standardised).
    cv : int or cross-validation generator, default=5
        The out-of-fold scheme of the first stage; an int means a shuffled
        ``StratifiedKFold`` seeded with ``random_state``.

    Returns
    -------
    stack : StackingClassifier
    """
    if isinstance(cv, int):
        cv = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    Cs = C if isinstance(C, dict) else dict.fromkeys(columns, C)
    estimators = [
        (name, select_columns(cols, softmax_regression(Cs[name], random_state=random_state)))
        for name, cols in columns.items()
    ]
    average = FunctionTransformer(average_probas, kw_args={"n_estimators": len(columns)})
    final = LogisticRegression(C=final_C or 1.0, max_iter=5000)
    if final_C is None:
        final = GridSearchCV(final, {"C": list(FINAL_C_GRID)},
                             cv=_inner_cv(random_state))
    return StackingClassifier(
        estimators,
        final_estimator=Pipeline([("average", average), ("classifier", final)]),
        stack_method="predict_proba",
        cv=cv,
    )


def _chosen_C(model):
    if not hasattr(model, "best_params_"):
        return None
    return float(next(iter(model.best_params_.values())))


def run_baselines(Z_train, y_train, Z_eval, y_eval, columns, *, random_state=None):
    """Fit every scikit-learn baseline on the representations; accuracy on the eval part.

    BLAS and OpenMP run single-threaded here: these problems are small, and on a shared
    machine multi-threaded BLAS made each logistic regression several times slower.

    Parameters
    ----------
    Z_train, Z_eval : ndarray of shape (n_samples, n_features)
        All representations, concatenated (see ``columns``).
    columns : dict of str to slice
        The columns of each representation.

    Returns
    -------
    rows : dict of str to dict
        Label -> ``{"accuracy", "fit_s", "kind", "C"}``; kinds: ``"single"``,
        ``"concatenation"``, ``"stacking"``.
    """
    with threadpool_limits(limits=1):
        return _run_baselines(Z_train, y_train, Z_eval, y_eval, columns, random_state)


def _run_baselines(Z_train, y_train, Z_eval, y_eval, columns, random_state):
    rows, chosen = {}, {}
    for name, cols in columns.items():
        model, fit_s = timed(lambda c=cols: softmax_regression(random_state=random_state)
                              .fit(Z_train[:, c], y_train))
        chosen[name] = _chosen_C(model)
        rows[f"{name} alone (softmax regression)"] = {
            "accuracy": float(model.score(Z_eval[:, cols], y_eval)), "fit_s": fit_s,
            "kind": "single", "C": chosen[name]}
    for kind, label in (("svm", "all concatenated + linear SVM (paper's all + SVM)"),
                        ("logreg", "all concatenated + softmax regression")):
        model, fit_s = timed(lambda k=kind: concatenation_classifier(
            k, random_state=random_state).fit(Z_train, y_train))
        rows[label] = {"accuracy": float(model.score(Z_eval, y_eval)), "fit_s": fit_s,
                       "kind": "concatenation", "C": _chosen_C(model)}
    # the first stage reuses each representation's C chosen above (on the same labelled data)
    stack = stacking_classifier(columns, C=chosen, random_state=random_state)
    _, fit_s = timed(lambda: stack.fit(Z_train, y_train))
    rows[STACKING] = {"accuracy": float(stack.score(Z_eval, y_eval)), "fit_s": fit_s,
                      "kind": "stacking", "C": _chosen_C(stack.final_estimator_[-1])}
    return rows
