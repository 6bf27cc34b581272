"""Routing metrics and their scorers, on hand-built frozen experts."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skgate import MixtureOfExperts
from skgate.gates import NaiveConcatGate
from skgate.metrics import (
    activation_rate,
    correct_count_distribution,
    oracle_accuracy,
    oracle_proba,
    pairwise_kappa,
    routing_accuracy,
    routing_accuracy_score,
)
from skgate.utils._testing import slice_expert


def _moe(classes_a, classes_b, statistic="max_logit"):
    """Expert a reads the first len(classes_a) columns of X, expert b the next ones."""
    n_in = len(classes_a) + len(classes_b)
    experts = [
        ("a", slice_expert(n_in, 0, classes_a)),
        ("b", slice_expert(n_in, len(classes_a), classes_b)),
    ]
    return MixtureOfExperts(experts, gate=NaiveConcatGate(statistic))


# -- routing_accuracy_score ----------------------------------------------------------
def test_routing_accuracy_score_hand_made():
    owners = np.array([[True, False], [False, True], [True, True], [False, True]])
    weights = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    # chosen experts 0, 0, 1, 1: right, wrong, right (shared label), right
    assert routing_accuracy_score(owners, weights) == pytest.approx(0.75)
    assert routing_accuracy_score(owners.astype(int), weights) == pytest.approx(0.75)


def test_routing_accuracy_score_three_experts_and_ties():
    owners = np.array([[False, True, True], [False, False, True], [True, False, False]])
    weights = np.array([[0.0, 0.0, 1.0], [0.2, 0.4, 0.4], [0.5, 0.5, 0.0]])
    # row 1: a tie between experts 1 and 2 goes to 1 (wrong); row 2: a tie goes to 0 (right)
    assert routing_accuracy_score(owners, weights) == pytest.approx(2 / 3)
    assert routing_accuracy_score(owners[[0]], weights[[0]]) == 1.0
    assert routing_accuracy_score(owners[[1]], weights[[1]]) == 0.0


def test_routing_accuracy_score_shape_mismatch():
    with pytest.raises(ValueError, match=r"owners \(2, 2\) and weights \(2, 3\) must both be"):
        routing_accuracy_score(np.ones((2, 2), bool), np.ones((2, 3)))
    with pytest.raises(ValueError, match="must both be"):
        routing_accuracy_score(np.ones((3, 2), bool), np.ones((2, 2)))


# -- scorers on a fitted mixture -----------------------------------------------------
# columns: a's logits for classes 0, 1 | b's logits for classes 2, 3; gate max_logit
X_DISJOINT = np.array(
    [
        [5, 0, 1, 0],  # y=0: routed to a (5 > 1), a predicts 0; oracle a -> 0
        [0, 5, 1, 0],  # y=1: routed to a, a predicts 1; oracle a -> 1
        [4, 0, 0, 3],  # y=3: routed to a (4 > 3) wrongly, predicts 0; oracle b -> 3
        [0, 1, 2, 6],  # y=2: routed to b (right) but b predicts 3; oracle b -> 3
    ],
    dtype=np.float32,
)
Y_DISJOINT = np.array([0, 1, 3, 2])


def test_scorers_on_disjoint_experts():
    moe = _moe([0, 1], [2, 3]).fit(X_DISJOINT)
    np.testing.assert_array_equal(moe.route(X_DISJOINT), [0, 0, 0, 1])
    assert routing_accuracy(moe, X_DISJOINT, Y_DISJOINT) == pytest.approx(0.75)
    assert oracle_accuracy(moe, X_DISJOINT, Y_DISJOINT) == pytest.approx(0.75)
    assert moe.score(X_DISJOINT, Y_DISJOINT) == pytest.approx(0.5)


def test_scorers_with_overlapping_owners():
    # a: classes 0, 1, 2; b: classes 2, 3; logits are log-probabilities
    pa = np.array([[0.1, 0.45, 0.45], [0.7, 0.2, 0.1], [0.6, 0.3, 0.1]])
    pb = np.array([[0.3, 0.7], [0.5, 0.5], [0.2, 0.8]])
    X = np.log(np.hstack([pa, pb])).astype(np.float32)
    y = np.array([2, 0, 3])
    moe = _moe([0, 1, 2], [2, 3]).fit(X)
    # max log-probability: b (0.7 > 0.45), a (0.7 > 0.5), b (0.8 > 0.6); label 2 is owned by both
    np.testing.assert_array_equal(moe.route(X), [1, 0, 1])
    assert routing_accuracy(moe, X, y) == 1.0
    # oracle: row 0 is split evenly -> [0.05, 0.225, 0.225 + 0.15, 0.35] -> 2 (right);
    # row 1 -> a -> 0 (right); row 2 -> b -> 3 (right)
    owners = moe.expert_set_.owners(y)
    proba = oracle_proba(moe.expert_set_, moe.expert_outputs(X), owners)
    np.testing.assert_allclose(proba[0], [0.05, 0.225, 0.375, 0.35], rtol=1e-5)
    np.testing.assert_allclose(proba[1], [0.7, 0.2, 0.1, 0.0], rtol=1e-5)
    assert oracle_accuracy(moe, X, y) == 1.0
    # the mixture picks b for row 0 and predicts 3: wrong, where the oracle is right
    assert moe.score(X, y) == pytest.approx(2 / 3)


def test_scorers_reject_unknown_labels():
    moe = _moe([0, 1], [2, 3]).fit(X_DISJOINT)
    with pytest.raises(ValueError, match=r"\[9\]"):
        routing_accuracy(moe, X_DISJOINT, [0, 1, 9, 2])


# -- as scoring= in a grid search -----------------------------------------------------
# every label appears twice. With max_logit the owner always has the largest logit; the
# other expert has flat logits, so "std" (lowest std wins) always routes to the wrong one.
X_GRID = np.array(
    [
        [4, 0, 0, 0],
        [4, 0, 1, 1],  # y=0
        [0, 4, 0, 0],
        [0, 4, 2, 2],  # y=1
        [0, 0, 4, 0],
        [1, 1, 4, 0],  # y=2
        [0, 0, 0, 4],
        [3, 3, 0, 4],  # y=3
    ],
    dtype=np.float32,
)
Y_GRID = np.array([0, 0, 1, 1, 2, 2, 3, 3])


def test_scorers_in_grid_search():
    grid = GridSearchCV(
        _moe([0, 1], [2, 3], statistic="std"),
        {"gate__statistic": ["std", "max_logit"]},
        scoring={"routing": routing_accuracy, "acc": "accuracy", "oracle": oracle_accuracy},
        refit="routing",
        cv=2,
    ).fit(X_GRID, Y_GRID)
    np.testing.assert_allclose(grid.cv_results_["mean_test_routing"], [0.0, 1.0])
    np.testing.assert_allclose(grid.cv_results_["mean_test_acc"], [0.0, 1.0])
    np.testing.assert_allclose(grid.cv_results_["mean_test_oracle"], [1.0, 1.0])
    assert grid.best_params_ == {"gate__statistic": "max_logit"}
    assert grid.best_score_ == 1.0
    assert grid.best_estimator_.gate_.statistic == "max_logit"
    assert grid.score(X_GRID, Y_GRID) == 1.0  # the refit scorer


# -- activation_rate ---------------------------------------------------------------------
WEIGHTS = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])


def test_activation_rate_hand_made():
    # group a: mean of [1, 0] and [0.5, 0.5]; group b: [0, 1] alone
    rates = activation_rate(WEIGHTS, ["a", "a", "b"])
    np.testing.assert_allclose(rates, [[0.75, 0.25], [0.0, 1.0]])
    assert rates.shape == (2, 2)
    # rows follow labels, as in confusion_matrix; a subset of the groups is allowed
    np.testing.assert_allclose(
        activation_rate(WEIGHTS, ["a", "a", "b"], labels=["b", "a"]), [[0.0, 1.0], [0.75, 0.25]]
    )
    np.testing.assert_allclose(
        activation_rate(WEIGHTS, ["a", "a", "b"], labels=["a"]), [[0.75, 0.25]]
    )


def test_activation_rate_integer_groups_three_experts():
    weights = [[0.2, 0.3, 0.5], [0.4, 0.1, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    groups = np.array([1, 0, 1, 0])
    # sorted groups: 0 -> rows 1 and 3, 1 -> rows 0 and 2
    np.testing.assert_allclose(
        activation_rate(weights, groups), [[0.2, 0.05, 0.75], [0.6, 0.15, 0.25]]
    )


def test_activation_rate_errors():
    with pytest.raises(
        ValueError, match="weights has 3 samples but groups has 2; expected one group"
    ):
        activation_rate(WEIGHTS, ["a", "b"])
    with pytest.raises(ValueError, match=r"weights must be a 2-D array .* got shape \(3,\)"):
        activation_rate([0.1, 0.2, 0.7], ["a", "a", "b"])
    with pytest.raises(ValueError, match=r"weights must be a 2-D array .* got shape \(1, 3, 2\)"):
        activation_rate(WEIGHTS[None], ["a", "a", "b"])
    with pytest.raises(ValueError, match=r"groups must be a 1-D array .* got shape \(3, 1\)"):
        activation_rate(WEIGHTS, [["a"], ["a"], ["b"]])
    nan_weights = WEIGHTS.copy()
    nan_weights[1, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"weights contains NaN .*in 1 of 3 samples.*expected finite"
    ):
        activation_rate(nan_weights, ["a", "a", "b"])
    with pytest.raises(
        ValueError,
        match=r"labels \['c'\] have no sample in groups; expected labels among the groups present: \['a', 'b'\]",
    ):
        activation_rate(WEIGHTS, ["a", "a", "b"], labels=["a", "c"])


# -- pairwise_kappa --------------------------------------------------------------------
def test_pairwise_kappa_identical_predictions():
    a = np.array([0, 1, 2, 1, 0])
    np.testing.assert_allclose(pairwise_kappa(np.column_stack([a, a, a])), np.ones((3, 3)))


def test_pairwise_kappa_hand_made():
    # observed agreement 3/6; each model predicts each of 3 labels 1/3 of the time, so the
    # chance agreement is 3 * 1/9 = 1/3 and kappa = (1/2 - 1/3) / (1 - 1/3) = 1/4
    a = np.array([0, 1, 2, 0, 1, 2])
    b = np.array([0, 1, 2, 1, 2, 0])
    kappa = pairwise_kappa(np.column_stack([a, b]))
    np.testing.assert_allclose(kappa, [[1.0, 0.25], [0.25, 1.0]])
    # the same from a list of 1-D arrays, and from string labels
    np.testing.assert_allclose(pairwise_kappa([a, b]), kappa)
    names = np.array(["x", "y", "z"])
    np.testing.assert_allclose(pairwise_kappa([names[a], names[b]]), kappa)


def test_pairwise_kappa_three_models_symmetric():
    # kappa(a, b) = 0.5 (see the docstring), c is the opposite of a (kappa -1),
    # kappa(b, c): observed 1/4, chance 0.5 -> -0.5
    predictions = np.array([[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 1, 0]])
    kappa = pairwise_kappa(predictions)
    np.testing.assert_allclose(kappa, [[1.0, 0.5, -1.0], [0.5, 1.0, -0.5], [-1.0, -0.5, 1.0]])
    np.testing.assert_array_equal(kappa, kappa.T)
    assert pairwise_kappa(predictions[:, :1]).tolist() == [[1.0]]


def test_pairwise_kappa_errors():
    with pytest.raises(ValueError, match=r"different lengths \[3, 2\]"):
        pairwise_kappa([np.array([0, 1, 0]), np.array([0, 1])])
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_models\).*got shape \(3,\)"):
        pairwise_kappa([0, 1, 0])
    with pytest.raises(ValueError, match="at least one model"):
        pairwise_kappa(np.empty((3, 0)))


# -- correct_count_distribution ----------------------------------------------------------
def test_correct_count_distribution_hand_made():
    y_true = np.array([1, 2, 3, 4])
    predictions = np.array(
        [
            [1, 1, 1],  # all 3 right
            [2, 0, 0],  # 1 right
            [0, 0, 0],  # none right
            [0, 0, 0],  # none right
        ]
    )
    shares = correct_count_distribution(y_true, predictions)
    np.testing.assert_allclose(shares, [0.5, 0.25, 0.0, 0.25])
    assert shares.shape == (4,)
    assert shares.sum() == pytest.approx(1.0)
    # the same from a list of 1-D arrays (one per model) and with string labels
    np.testing.assert_allclose(correct_count_distribution(y_true, list(predictions.T)), shares)
    np.testing.assert_allclose(
        correct_count_distribution(y_true.astype(str), predictions.astype(str)), shares
    )


def test_correct_count_distribution_errors():
    with pytest.raises(ValueError, match="y_true has 3 samples but predictions has 2"):
        correct_count_distribution([0, 1, 1], [[0, 1], [1, 1]])
    with pytest.raises(ValueError, match=r"y_true must be 1-D"):
        correct_count_distribution([[0], [1]], [[0, 1], [1, 1]])
    with pytest.raises(ValueError, match="at least one sample"):
        correct_count_distribution([], np.empty((0, 2)))


def test_scorers_reach_the_mixture_at_the_end_of_a_pipeline():
    # regression: the scorers read expert_set_ on the Pipeline itself (AttributeError)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skgate.metrics import oracle_accuracy, routing_accuracy

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    y = np.argmax(X, axis=1)
    experts = [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]
    double = FunctionTransformer(lambda Z: 2 * Z)
    pipe = make_pipeline(double, MixtureOfExperts(experts)).fit(X, y)
    moe = MixtureOfExperts(experts).fit(2 * X, y)
    assert routing_accuracy(pipe, X, y) == routing_accuracy(moe, 2 * X, y)
    assert oracle_accuracy(pipe, X, y) == oracle_accuracy(moe, 2 * X, y)
    with pytest.raises(TypeError, match="score a fitted MixtureOfExperts"):
        routing_accuracy(make_pipeline(double), X, y)
