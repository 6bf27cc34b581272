"""MixtureOfExperts(memory=...): the frozen experts' outputs on the gate's data cached, so
that adding an expert or searching the gate's parameters runs each expert once."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from joblib import Memory
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from skgate import MixtureOfExperts
from skgate.experts import Expert
from skgate.experts._set_cache import expert_fingerprint
from skgate.gates import NaiveConcatGate, UniversalGate, get_gate_tags
from skgate.utils._testing import Counting, tiny_expert

N_FEATURES = 8


def _experts(n, seed=0, start=0, **kwargs):
    """``n`` frozen counting experts with random weights, expert k owning classes 2k and
    2k + 1."""
    rng = np.random.default_rng(seed)
    return [(f"e{k}", Expert.from_pretrained(
        Counting(rng.normal(size=(2, N_FEATURES))), classes=[2 * k, 2 * k + 1], **kwargs))
        for k in range(start, start + n)]


def _data(n_samples, n_experts, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, N_FEATURES)).astype(np.float32)
    return X, rng.integers(2 * n_experts, size=n_samples)


def _seen(experts):
    return [expert.module_.seen for _, expert in experts]


def _gate():
    return UniversalGate(calibration="shift", random_state=0)


def test_adding_an_expert_runs_only_the_new_one(tmp_path):
    X, y = _data(60, 10)
    old = _experts(10)
    moe = MixtureOfExperts(old, _gate(), memory=str(tmp_path)).fit(X, y)
    assert _seen(old) == [60] * 10  # one pass over the gate's data each
    new = _experts(1, seed=1, start=10)
    moe.set_params(experts=[*old, *new]).fit(X, y)
    assert _seen(old) == [60] * 10  # read from the cache
    assert _seen(new) == [60]
    assert len(moe.experts_) == 11
    moe.fit(X, y)  # nothing new: no expert runs
    assert _seen(old + new) == [60] * 11


def test_without_memory_every_expert_runs_again():
    X, y = _data(60, 10)
    old = _experts(10)
    moe = MixtureOfExperts(old, _gate()).fit(X, y)
    moe.set_params(experts=[*old, *_experts(1, seed=1, start=10)]).fit(X, y)
    assert _seen(old) == [120] * 10


def test_grid_search_runs_each_expert_once_per_split(tmp_path):
    """3 candidates x 3 folds of 60 samples: each fold's training part (40 samples) is run
    once (the first candidate), the other candidates read it; the test parts are
    predicted (not cached) for every candidate; the refit on all 60 runs once."""
    X, y = _data(60, 4)
    experts = _experts(4)
    moe = MixtureOfExperts(experts, _gate(), memory=Memory(tmp_path, verbose=0))
    search = GridSearchCV(moe, {"gate__calibration_alpha": [0.5, 1.0, 2.0]},
                          cv=KFold(3)).fit(X, y)
    fits = 3 * 40  # once per split
    scores = 3 * 3 * 20  # every candidate predicts every split's test part
    refit = 60
    assert _seen(experts) == [fits + scores + refit] * 4
    assert search.best_estimator_.memory.location == moe.memory.location


def test_grid_search_without_memory_runs_every_candidate():
    X, y = _data(60, 4)
    experts = _experts(4)
    moe = MixtureOfExperts(experts, _gate())
    GridSearchCV(moe, {"gate__calibration_alpha": [0.5, 1.0, 2.0]}, cv=KFold(3)).fit(X, y)
    assert _seen(experts) == [3 * 3 * 40 + 3 * 3 * 20 + 60] * 4


def _batch_sizes():
    """Experts with different batch sizes (the pass cuts X into blocks of the largest),
    and one reading its penultimate layer."""
    return [*_experts(2, iterator_valid__batch_size=7),
            *_experts(1, seed=2, start=2, iterator_valid__batch_size=16)]


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_cached_outputs_are_the_computed_ones(tmp_path, n_jobs):
    X, y = _data(50, 3)
    gate = UniversalGate(calibration="activations", random_state=0)
    plain = MixtureOfExperts(_batch_sizes(), gate, n_jobs=n_jobs).fit(X, y)
    cached = MixtureOfExperts(_batch_sizes(), gate, n_jobs=n_jobs,
                              memory=str(tmp_path)).fit(X, y)
    layers = get_gate_tags(gate).expert_layers  # what the gate reads in fit
    assert layers  # the penultimate layer of every expert
    reference = plain.expert_set_.outputs(X, layers)
    fingerprints = [expert_fingerprint(e) for e in cached.experts_]
    memory = Memory(str(tmp_path), verbose=0)
    for _ in range(2):  # computed, then read
        outputs = cached.expert_set_._cached_outputs(X, layers, memory, fingerprints)
        for k in range(3):
            assert outputs.logits[k].tobytes() == reference.logits[k].tobytes()
            assert outputs.activations[k].keys() == reference.activations[k].keys()
            for name, values in reference.activations[k].items():
                assert outputs.activations[k][name].tobytes() == values.tobytes()
    assert _seen(cached.experts) == [50] * 3  # the fit's pass only: the rest was read
    cached.fit(X, y)  # from the cache: the same gate
    np.testing.assert_array_equal(cached.predict_proba(X), plain.predict_proba(X))


def test_changed_weights_miss_the_cache(tmp_path):
    X, y = _data(30, 3)
    experts = _experts(3)
    moe = MixtureOfExperts(experts, _gate(), memory=str(tmp_path)).fit(X, y)
    before = expert_fingerprint(experts[1][1])
    with torch.no_grad():
        experts[1][1].module_.linear.weight[0, 0] += 1.0
    assert expert_fingerprint(experts[1][1]) != before
    moe.fit(X, y)
    assert _seen(experts) == [30, 60, 30]
    plain = MixtureOfExperts(experts, _gate()).fit(X, y)
    np.testing.assert_array_equal(moe.predict_proba(X), plain.predict_proba(X))


def test_other_data_misses_the_cache(tmp_path):
    X, y = _data(30, 3)
    experts = _experts(3)
    moe = MixtureOfExperts(experts, _gate(), memory=str(tmp_path)).fit(X, y)
    X2 = X.copy()
    X2[0, 0] += 1.0
    moe.fit(X2, y)
    assert _seen(experts) == [60] * 3


def test_unlabelled_pool_goes_through_the_cache(tmp_path):
    """The pool (y == -1) is run in chunks of chunk_size; each chunk is cached."""
    X, y = _data(80, 3)
    y[30:] = -1
    experts = _experts(3)
    moe = MixtureOfExperts(experts, UniversalGate(random_state=0), chunk_size=20, memory=str(tmp_path), random_state=0)
    moe.fit(X, y)
    assert _seen(experts) == [80] * 3  # 30 labelled, 50 in the pool
    proba = moe.predict_proba(X)
    moe.fit(X, y)
    assert _seen(experts) == [160] * 3  # the predict only
    np.testing.assert_array_equal(moe.predict_proba(X), proba)


def test_trained_experts_are_not_cached(tmp_path):
    X, y = _data(60, 2)
    trained = ("t", tiny_expert([0, 1], max_epochs=2))
    frozen = _experts(1, start=1)
    moe = MixtureOfExperts([trained, *frozen], _gate(), gate_split=0.5,
                           memory=str(tmp_path), random_state=0).fit(X, y)
    stored = list(Path(tmp_path).rglob("output.pkl"))
    assert len(stored) == 1  # the frozen expert's outputs on the gate's half only
    assert moe.experts_[0] is not trained[1]


def test_clone_get_params_and_pickle_keep_a_memory(tmp_path):
    X, y = _data(30, 3)
    memory = Memory(str(tmp_path), verbose=0)
    moe = MixtureOfExperts(_experts(3), _gate(), memory=memory)
    assert moe.get_params()["memory"] is memory
    copy = clone(moe)
    assert isinstance(copy.memory, Memory) and copy.memory.location == memory.location
    moe.fit(X, y)
    restored = pickle.loads(pickle.dumps(moe))
    assert restored.memory.location == memory.location
    np.testing.assert_array_equal(restored.predict_proba(X), moe.predict_proba(X))
    restored.fit(X, y)  # the copies' experts have the same weights: read from the cache
    assert _seen(restored.experts) == [30 + 30] * 3  # the fit (pickled count), the predict


def test_data_free_gate_with_memory(tmp_path):
    X, _ = _data(30, 3)
    experts = _experts(3)
    moe = MixtureOfExperts(experts, NaiveConcatGate(), memory=str(tmp_path)).fit(X)
    plain = MixtureOfExperts(experts, NaiveConcatGate()).fit(X)
    np.testing.assert_array_equal(moe.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize("memory", [3, object()])
def test_bad_memory(memory):
    X, y = _data(10, 2)
    with pytest.raises(ValueError, match="'memory' parameter of MixtureOfExperts must be"):
        MixtureOfExperts(_experts(2), memory=memory).fit(X, y)
