"""Routing metrics and their scorers, on hand-built frozen experts."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skgate import MixtureOfExperts
from skgate.gates import NaiveConcatGate
from skgate.metrics import oracle_accuracy, oracle_proba, routing_accuracy, routing_accuracy_score
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
