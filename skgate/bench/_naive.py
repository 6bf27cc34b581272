"""Table 2 of the universal-gating paper: the data-free statistics, with timing."""


import numpy as np

from .. import MixtureOfExperts
from ..gates import NaiveConcatGate
from ..gates._naive import STATISTICS
from ..utils._evaluation import evaluate_gates, timed
from ._problems import make_problem, trained_experts
from ._timing import predict_overhead

#: Table 2 of Kang, Chua and Maul (accuracy, mean of 10 seeds)
PAPER_TABLE2 = {
    "disjoint_mnist": {"max_logit": 0.9288, "std": 0.0941, "ratio": 0.3565,
                       "overall_ratio": 0.5085, "third_quartile": 0.9014},
    "mnist_cifar10": {"max_logit": 0.8039, "std": 0.0026, "ratio": 0.2030,
                      "overall_ratio": 0.4396, "third_quartile": 0.8061},
}


def expert_accuracies(moe, X, y):
    """Each expert's accuracy on the test samples whose labels it owns."""
    owners = moe.expert_set_.owners(y)
    return {
        name: float(np.mean(expert.predict(X[owners[:, k]]) == y[owners[:, k]]))
        for k, (name, expert) in enumerate(moe.named_experts_.items())
    }


def run_naive(problem_name, seed, *, data_dir=None, max_epochs=10, timing_samples=10_000,
              repeats=5, verbose=0, cache_dir=None):
    """Train (or load) the experts of one problem and seed, and evaluate every statistic."""
    problem = make_problem(problem_name, seed, data_dir=data_dir, max_epochs=max_epochs,
                           verbose=verbose)
    experts, train_s = timed(trained_experts, problem, cache_dir=cache_dir)
    moe = MixtureOfExperts(experts, gate=NaiveConcatGate()).fit(problem.X_test[:1])
    gates = {stat: NaiveConcatGate(statistic=stat) for stat in STATISTICS}
    rows = evaluate_gates(moe.expert_set_, problem.X_test, problem.y_test, gates)
    rng = np.random.default_rng(seed)
    subset = rng.permutation(len(problem.X_test))[:timing_samples]
    timing = predict_overhead(moe, problem.X_test[subset], repeats=repeats)
    return {
        "problem": problem_name,
        "seed": seed,
        "train_s": train_s,  # expert training, or loading from the cache
        "experts": expert_accuracies(moe, problem.X_test, problem.y_test),
        "gates": rows,
        "timing": timing,
        "moe": moe,
        "problem_data": problem,
    }
