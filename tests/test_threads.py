"""Concurrent prediction: threads sharing one fitted mixture get what one thread gets."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skgate import MixtureOfExperts
from skgate.gates import PANGate, SoftMoE, UniversalGate
from skgate.utils._testing import tiny_expert

RNG = np.random.default_rng(0)
X = RNG.normal(size=(400, 6)).astype(np.float32)
Y = np.argmax(X[:, :4], axis=1)


def _mixture(gate):
    experts = [("a", tiny_expert([0, 1], hidden=(16,))),
               ("b", tiny_expert([2, 3], hidden=(16,), random_state=1))]
    return MixtureOfExperts(experts, gate=gate, gate_split=0.3, random_state=0).fit(X, Y)


@pytest.mark.parametrize("gate", [
    PANGate(features="penultimate", max_epochs=3, random_state=0),
    SoftMoE("embedding", max_epochs=3, random_state=0),
    SoftMoE("linear", heads="linear", max_epochs=3, random_state=0),
    UniversalGate(None, calibration="activations", random_state=0),
], ids=["pan-penultimate", "soft-embedding", "soft-heads", "universal-activations"])
def test_four_threads_predict_what_one_thread_predicts(gate):
    # regression: the activation hooks of one thread also recorded the other threads'
    # batches, so concurrent predicts failed with shape errors or mixed up samples
    moe = _mixture(gate)
    chunks = [X[i::4] for i in range(4)]
    expected = [moe.predict_proba(c) for c in chunks]
    for _ in range(3):
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(moe.predict_proba, chunks * 4))
        for i, proba in enumerate(got):
            np.testing.assert_array_equal(proba, expected[i % 4])


def test_grid_search_on_threads_with_activation_gates():
    from joblib import parallel_backend

    moe = MixtureOfExperts(
        [("a", tiny_expert([0, 1], hidden=(16,))), ("b", tiny_expert([2, 3], hidden=(16,)))],
        gate=PANGate(features="penultimate", max_epochs=2, random_state=0),
        gate_split=0.3, random_state=0)
    grid = {"gate__hidden_layer_sizes": [(4,), (8,)]}
    with parallel_backend("threading", n_jobs=2):
        threaded = GridSearchCV(moe, grid, cv=2).fit(X, Y)
    sequential = GridSearchCV(moe, grid, cv=2, n_jobs=1).fit(X, Y)
    np.testing.assert_allclose(threaded.cv_results_["mean_test_score"],
                               sequential.cv_results_["mean_test_score"])
