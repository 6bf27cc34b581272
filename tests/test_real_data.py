"""Slow end-to-end tests on the real MNIST and CIFAR-10 images of SKGATE_DATA_DIR."""

import os

import numpy as np
import pytest
import torch

from skgate import MixtureOfExperts
from skgate.bench._problems import make_problem
from skgate.metrics import oracle_accuracy, routing_accuracy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("SKGATE_DATA_DIR"), reason="SKGATE_DATA_DIR unset"),
]
ADAM = {"optimizer": torch.optim.Adam, "lr": 2e-3}


def _subsample(problem, n_train, n_test, seed=0):
    rng = np.random.default_rng(seed)
    train = rng.permutation(len(problem.X_train))[:n_train]
    test = rng.permutation(len(problem.X_test))[:n_test]
    return (problem.X_train[train], problem.y_train[train],
            problem.X_test[test], problem.y_test[test])


@pytest.mark.parametrize(
    "name, n_train, max_epochs, min_routing, min_oracle",
    [("disjoint_mnist", 6000, 3, 0.85, 0.95), ("mnist_cifar10", 32000, 5, 0.8, 0.65)],
)
def test_energy_gate_on_real_problems(name, n_train, max_epochs, min_routing, min_oracle):
    problem = make_problem(name, seed=0, max_epochs=max_epochs, **ADAM)
    X_train, y_train, X_test, y_test = _subsample(problem, n_train, 4000)
    moe = MixtureOfExperts(problem.experts).fit(X_train, y_train)
    routing = routing_accuracy(moe, X_test, y_test)
    oracle = oracle_accuracy(moe, X_test, y_test)
    assert routing >= min_routing
    assert oracle >= min_oracle
    assert moe.score(X_test, y_test) <= oracle + 1e-9


def test_soft_mixture_experiment_on_real_data():
    # the second paper's experiment, one epoch: every model learns well above chance (1/20),
    # the curves have one point per epoch and the activation rates are distributions
    from skgate.bench._soft import MODELS, run_soft

    (run,) = run_soft(seeds=(0,), max_epochs=1, print_fn=lambda *a: None)
    assert list(run["models"]) == list(MODELS)
    for name, model in run["models"].items():
        assert len(model["train_acc"]) == len(model["test_acc"]) == 1
        assert model["test_acc"][0] > 0.4, name
        if name != "single expert":
            for part in ("train", "test"):
                np.testing.assert_allclose(np.sum(model["activation_rate"][part], axis=1), 1)
    designed = np.asarray(run["models"]["pre-designed gate"]["activation_rate"]["test"])
    np.testing.assert_array_equal(designed, np.eye(2))  # MNIST to expert 1, CIFAR-10 to 2
