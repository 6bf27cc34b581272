"""MixtureOfExperts end to end: real images, Pipeline, GridSearchCV, pickle, bad input."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skgate import Expert, MixtureOfExperts
from skgate.datasets import load_mnist_sample
from skgate.experts._reference import lenet_expert
from skgate.gates import NaiveConcatGate
from skgate.metrics import oracle_accuracy, routing_accuracy
from skgate.models import LeNet5
from skgate.utils._testing import frozen_linear, tiny_expert

LOW, HIGH = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
ADAM = {"optimizer": torch.optim.Adam, "lr": 2e-3}  # converges in few epochs


@pytest.fixture(scope="module")
def mnist():
    X, y = load_mnist_sample(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train, test = order[:3000], order[3000:4000]
    return X[train], y[train], X[test], y[test]


@pytest.fixture(scope="module")
def fitted_moe(mnist):
    """Two LeNet-5 experts trained by the mixture on their own digits of the MNIST sample."""
    X_train, y_train, _, _ = mnist
    experts = [
        ("low", lenet_expert(LOW, max_epochs=4, verbose=0, **ADAM)),
        ("high", lenet_expert(HIGH, max_epochs=4, verbose=0, **ADAM)),
    ]
    return MixtureOfExperts(experts).fit(X_train, y_train)


def _frozen_copies(moe):
    return [
        (name, Expert.from_pretrained(e.module_, classes=e.classes_,
                                      input_transform=e.input_transform))
        for name, e in moe.named_experts_.items()
    ]


def _state(expert):
    return {k: v.clone() for k, v in expert.module_.state_dict().items()}


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- end to end on real images -------------------------------------------------------------
def test_disjoint_mnist_end_to_end(mnist, fitted_moe):
    _, _, X_test, y_test = mnist
    moe = fitted_moe
    np.testing.assert_array_equal(moe.classes_, np.arange(10))
    for name, digits in [("low", LOW), ("high", HIGH)]:
        np.testing.assert_array_equal(moe.named_experts_[name].classes_, digits)
    proba = moe.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(moe.predict(X_test), moe.classes_[proba.argmax(axis=1)])
    # each expert alone is good on its own digits; the data-free gate routes most inputs right
    for k, digits in enumerate([LOW, HIGH]):
        mine = np.isin(y_test, digits)
        assert np.mean(moe.experts_[k].predict(X_test[mine]) == y_test[mine]) > 0.9
    routing = routing_accuracy(moe, X_test, y_test)
    oracle = oracle_accuracy(moe, X_test, y_test)
    accuracy = moe.score(X_test, y_test)
    assert 0.75 < routing <= 1.0
    assert accuracy <= oracle
    assert oracle > 0.9
    # the expert chosen by route answers: predictions come from that expert's labels
    routes = moe.route(X_test)
    assert np.all(np.isin(moe.predict(X_test)[routes == 0], LOW))
    assert np.all(np.isin(moe.predict(X_test)[routes == 1], HIGH))


def test_each_expert_runs_once_per_call(mnist, fitted_moe):
    _, _, X_test, _ = mnist
    calls = []
    handles = [e.module_.register_forward_hook(lambda m, a, o, k=k: calls.append((k, len(a[0]))))
               for k, e in enumerate(fitted_moe.experts_)]
    try:
        fitted_moe.predict_proba(X_test[:700])
    finally:
        for h in handles:
            h.remove()
    for k in range(2):
        sizes = [n for j, n in calls if j == k]
        assert sum(sizes) == 700  # every sample exactly once, in batches
        assert len(sizes) == 2  # batch size 512: two batches, not one call per sample


def test_forward_outputs_penultimate_of_lenet(mnist, fitted_moe):
    _, _, X_test, _ = mnist
    logits, layers = fitted_moe.experts_[0].forward_outputs(
        X_test[:5], layers=["penultimate", "features"]
    )
    assert logits.shape == (5, 5)
    assert layers["penultimate"].shape == (5, 84)
    assert layers["features"].shape == (5, 120)
    np.testing.assert_allclose(
        logits, fitted_moe.experts_[0].module_.head(torch.from_numpy(layers["penultimate"]))
        .detach().numpy(), rtol=1e-5, atol=1e-5,
    )


# -- frozen experts, clone, GridSearchCV ---------------------------------------------------
def test_frozen_expert_survives_clone_fit_and_grid_search(mnist, fitted_moe):
    X_train, y_train, X_test, y_test = mnist
    frozen = _frozen_copies(fitted_moe)
    before = [_state(e) for _, e in frozen]
    moe = MixtureOfExperts(frozen)
    assert clone(moe).experts[0][1] is frozen[0][1]
    search = GridSearchCV(
        moe,
        {"gate__statistic": ["max_logit", "energy", "std"]},
        cv=3,
        scoring={"accuracy": "accuracy", "routing": routing_accuracy},
        refit="accuracy",
    ).fit(X_test, y_test)
    assert search.best_params_["gate__statistic"] in ("max_logit", "energy")
    assert search.cv_results_["mean_test_routing"][2] < 0.5  # lowest std wins: mostly wrong
    for (_, expert), state in zip(frozen, before):
        assert _same_state(_state(expert), state)
    assert search.best_estimator_.experts_[0] is frozen[0][1]
    # fitting with labels does not retrain a frozen expert either
    MixtureOfExperts(frozen).fit(X_train, y_train)
    for (_, expert), state in zip(frozen, before):
        assert _same_state(_state(expert), state)


def test_grid_search_over_gates_and_expert_params(mnist):
    X_train, y_train, _, _ = mnist
    moe = MixtureOfExperts(
        [("low", lenet_expert(LOW, max_epochs=1, verbose=0)),
         ("high", lenet_expert(HIGH, max_epochs=1, verbose=0))]
    )
    params = moe.get_params()
    assert "low__max_epochs" in params and "gate" in params
    search = GridSearchCV(
        moe,
        {"gate": [NaiveConcatGate(), NaiveConcatGate(statistic="std")], "low__lr": [0.01]},
        cv=2,
    ).fit(X_train[:1000], y_train[:1000])
    assert isinstance(search.best_params_["gate"], NaiveConcatGate)
    assert search.best_params_["gate"].statistic == "energy"
    assert not hasattr(moe, "experts_")  # the search fitted clones, not the original


def test_frozen_expert_refuses_set_params_and_fit_leaves_it():
    expert = frozen_linear(np.eye(2), classes=[0, 1])
    state = _state(expert)
    with pytest.raises(ValueError, match="frozen expert"):
        expert.set_params(lr=0.1)
    assert expert.fit(np.ones((4, 2)), np.array([0, 1, 0, 1])) is expert
    assert _same_state(_state(expert), state)
    assert clone(expert) is expert


# -- pipeline, pickle -------------------------------------------------------------------------
def _to_images(X):
    return X.reshape(-1, 1, 28, 28)


def test_pipeline_with_flat_input(mnist, fitted_moe):
    X_train, y_train, X_test, y_test = mnist
    pipe = make_pipeline(FunctionTransformer(_to_images), MixtureOfExperts(_frozen_copies(fitted_moe)))
    pipe.fit(X_train.reshape(len(X_train), -1), y_train)
    flat = X_test.reshape(len(X_test), -1)
    np.testing.assert_array_equal(pipe.predict(flat), fitted_moe.predict(X_test))
    assert pipe.score(flat, y_test) == pytest.approx(fitted_moe.score(X_test, y_test))


def test_pickle_round_trip(mnist, fitted_moe):
    _, _, X_test, _ = mnist
    restored = pickle.loads(pickle.dumps(fitted_moe))
    np.testing.assert_array_equal(restored.predict_proba(X_test), fitted_moe.predict_proba(X_test))
    np.testing.assert_array_equal(restored.route(X_test), fitted_moe.route(X_test))


# -- labels --------------------------------------------------------------------------------------
def test_string_labels_trained_by_the_mixture(rng):
    X = rng.normal(size=(240, 4)).astype(np.float32)
    names = np.array(["cat", "dog", "car", "ship"])
    y = names[(X[:, 0] > 0) * 2 + (X[:, 1] > 0)]
    moe = MixtureOfExperts(
        [("animals", tiny_expert(["cat", "dog"], max_epochs=30)),
         ("vehicles", tiny_expert(["car", "ship"], max_epochs=30))]
    ).fit(X, y)
    np.testing.assert_array_equal(moe.classes_, ["car", "cat", "dog", "ship"])
    assert set(moe.predict(X)) <= set(names)
    # each expert was trained on its own labels only and predicts only them
    assert set(moe.named_experts_["animals"].predict(X)) <= {"cat", "dog"}


def test_data_free_gate_needs_no_labels():
    moe = MixtureOfExperts(
        [("a", frozen_linear([[2.0, 0.0], [0.0, 0.0]], ["x", "y"])),
         ("b", frozen_linear([[0.0, 0.0], [0.0, 2.0]], ["z", "w"]))],
        gate=NaiveConcatGate(statistic="max_logit"),
    ).fit(np.zeros((1, 2)))
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(moe.predict(X), ["x", "w"])


# -- bad input ------------------------------------------------------------------------------------
def test_wrong_channel_count_names_the_expert():
    lenet = Expert.from_pretrained(LeNet5(in_channels=1), classes=list(range(10)))
    moe = MixtureOfExperts([("mnist", lenet)])
    with pytest.raises(ValueError, match=r"Expert 'mnist' could not process.*\(3, 32, 32\)"
                       r".*LeNet5 expects inputs of shape \(n_samples, 1, 32, 32\)"):
        moe.fit(np.zeros((2, 3, 32, 32), np.float32))  # checked at fit, even data-free
    moe.fit(np.zeros((2, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"samples of shape \(3, 32, 32\), but the mixture "
                       r"was fitted on samples of shape \(1, 32, 32\)"):
        moe.predict(np.zeros((2, 3, 32, 32), np.float32))


def test_wrong_input_size_for_a_generic_module_names_the_expert():
    moe = MixtureOfExperts([("lin", frozen_linear(np.eye(3), [0, 1, 2]))])
    with pytest.raises(ValueError, match="Expert 'lin' could not process the input"):
        moe.fit(np.zeros((2, 5)))


def test_nan_in_X():
    moe = MixtureOfExperts([("lin", frozen_linear(np.eye(2), [0, 1]))])
    X = np.array([[np.nan, 1.0]])
    with pytest.raises(ValueError, match="NaN"):
        moe.fit(X)
    moe.fit(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="NaN"):
        moe.predict(X)


def test_labels_no_expert_knows():
    moe = MixtureOfExperts([("a", frozen_linear(np.eye(2), [0, 1])),
                            ("b", frozen_linear(np.eye(2), [2, 3]))])
    with pytest.raises(ValueError, match=r"unknown to the mixture's experts: \[7\]"):
        moe.fit(np.zeros((3, 2)), [0, 2, 7])


def test_expert_without_training_samples(rng):
    moe = MixtureOfExperts([("a", tiny_expert([0, 1])), ("b", tiny_expert([2, 3]))])
    with pytest.raises(ValueError, match="Expert 'b' has no training sample"):
        moe.fit(rng.normal(size=(6, 2)), [0, 1, 0, 1, 0, 1])


def test_untrained_expert_needs_y(rng):
    moe = MixtureOfExperts([("a", tiny_expert([0, 1]))])
    with pytest.raises(ValueError, match="Expert 'a' is not frozen.*requires y"):
        moe.fit(rng.normal(size=(6, 2)))


def test_duplicate_names_and_empty_list():
    expert = frozen_linear(np.eye(2), [0, 1])
    with pytest.raises(ValueError, match=r"unique; duplicated: \['a'\]"):
        MixtureOfExperts([("a", expert), ("a", expert)]).fit(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="experts is empty"):
        MixtureOfExperts([]).fit(np.zeros((1, 2)))


def test_experts_must_be_named_expert_instances():
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="Expert 'lr' is a LogisticRegression"):
        MixtureOfExperts([("lr", LogisticRegression())]).fit(np.zeros((1, 2)))
    with pytest.raises(TypeError, match=r"list of \(name, Expert\) tuples"):
        MixtureOfExperts([frozen_linear(np.eye(2), [0, 1])]).fit(np.zeros((1, 2)))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "route", "route_proba",
                                    "expert_outputs"])
def test_use_before_fit(method):
    moe = MixtureOfExperts([("a", frozen_linear(np.eye(2), [0, 1]))])
    with pytest.raises(NotFittedError):
        getattr(moe, method)(np.zeros((1, 2)))


def test_wrong_feature_count_after_fit():
    moe = MixtureOfExperts([("a", frozen_linear(np.eye(2), [0, 1]))]).fit(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="features"):
        moe.predict(np.zeros((1, 3)))


# -- devices -------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_expert_outputs_come_back_to_cpu():
    expert = Expert.from_pretrained(LeNet5(), classes=list(range(10)), device="cuda")
    moe = MixtureOfExperts([("a", expert)]).fit(np.zeros((1, 1, 32, 32), np.float32))
    assert moe.predict_proba(np.zeros((3, 1, 32, 32), np.float32)).shape == (3, 10)


def test_freeze_keeps_settings_and_frozen_without_training_is_an_error(rng):
    X = rng.normal(size=(60, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    expert = tiny_expert([0, 1], max_epochs=2, iterator_valid__batch_size=7).fit(X, y)
    state = _state(expert)
    assert expert.freeze() is expert and clone(expert) is expert
    assert expert.get_params()["iterator_valid__batch_size"] == 7
    expert.fit(X, 1 - y)
    assert _same_state(_state(expert), state)
    untrained = Expert(LeNet5, classes=list(range(10)), frozen=True)
    with pytest.raises(ValueError, match="frozen but holds no trained module"):
        untrained.fit(X, y)
    with pytest.raises(ValueError, match="Expert 'u': This expert is frozen but holds no"):
        MixtureOfExperts([("u", untrained)]).fit(X)


def test_image_input_to_a_flat_mixture_names_the_shapes():
    # regression: (n, 1, 8, 8) given to a mixture fitted on (n, 64) said "X has 1 features"
    from skgate.utils._testing import slice_expert

    X = np.random.default_rng(0).normal(size=(20, 64)).astype(np.float32)
    moe = MixtureOfExperts([("a", slice_expert(64, 0, [0, 1])),
                            ("b", slice_expert(64, 2, [2, 3]))]).fit(X)
    with pytest.raises(ValueError, match=r"samples of shape \(1, 8, 8\).*\(64,\)"):
        moe.predict(X.reshape(20, 1, 8, 8))


def test_string_labels_for_integer_classes_name_the_type_mismatch():
    # regression: the error said the expert "has no training sample", not why
    from skgate.utils._testing import tiny_expert

    X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    y = np.array(["0", "1"] * 10)
    moe = MixtureOfExperts([("a", tiny_expert([0, 1])), ("b", tiny_expert([2, 3]))])
    with pytest.raises(TypeError, match="Expert 'a' has classes of type int.*y holds <U1"):
        moe.fit(X, y)


def test_a_module_with_too_few_outputs_names_the_expert():
    # regression: "IndexError: Target 3 is out of bounds." without the expert's name
    from skgate import Expert
    from skgate.models import MLP

    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    y = np.arange(30) % 5
    small = Expert(MLP, module__n_classes=3, classes=[0, 1, 2, 3, 4], max_epochs=1,
                   train_split=None, verbose=0)
    with pytest.raises(ValueError, match=r"Expert 'small' could not be trained.*"
                                         r"module__n_classes=5"):
        MixtureOfExperts([("small", small)]).fit(X, y)


# -- chunked prediction ------------------------------------------------------------------
def _chunk_mixture(gate):
    from skgate.utils._testing import tiny_expert

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = np.argmax(X[:, :4], axis=1)
    experts = [("a", tiny_expert([0, 1], hidden=(8,))),
               ("b", tiny_expert([2, 3], hidden=(8,), random_state=1))]
    return MixtureOfExperts(experts, gate=gate, gate_split=0.3, random_state=0).fit(X, y), X


@pytest.mark.parametrize("gate", ["naive", "pan", "universal", "soft", "router"])
def test_chunk_size_changes_no_result_and_bounds_what_the_gate_sees(gate, monkeypatch):
    from skgate.gates import FastRouter, PANGate, SoftMoE, UniversalGate

    gate = {
        "naive": NaiveConcatGate(),
        "pan": PANGate(features="penultimate", max_epochs=2, random_state=0),
        "universal": UniversalGate(random_state=0),
        "soft": SoftMoE("embedding", max_epochs=2, random_state=0),
        "router": FastRouter(NaiveConcatGate(), max_epochs=2, validation_fraction=None,
                             random_state=0),
    }[gate]
    moe, X = _chunk_mixture(gate)
    whole = moe.set_params(chunk_size=None).predict_proba(X)
    labels = moe.predict(X)
    seen = []
    outputs = moe.expert_set_.outputs
    monkeypatch.setattr(moe.expert_set_, "outputs",
                        lambda X_, **kw: seen.append(len(X_)) or outputs(X_, **kw))
    inputs_only = moe.expert_set_.inputs_only
    monkeypatch.setattr(moe.expert_set_, "inputs_only",
                        lambda X_: seen.append(len(X_)) or inputs_only(X_))
    for chunk_size in (1, 7, 300, 1000):
        seen.clear()
        moe.set_params(chunk_size=chunk_size)
        # float32 products round differently with the batch shape (~1e-7), no more
        np.testing.assert_allclose(moe.predict_proba(X), whole, rtol=0, atol=1e-6)
        assert max(seen) == min(chunk_size, len(X))
        np.testing.assert_array_equal(moe.predict(X), labels)


def test_chunk_size_is_validated():
    moe, X = _chunk_mixture(NaiveConcatGate())
    with pytest.raises(ValueError, match="chunk_size"):
        moe.set_params(chunk_size=0).fit(X)


def test_predict_and_route_keep_one_chunk_of_probabilities_not_all_of_them():
    # 2 experts x 100 classes over 5,000 samples: the probabilities of all of X would take
    # 5,000 x 200 x 8 bytes = 8 MB; predict and route reduce each chunk of 100 rows at once
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 20)).astype(np.float32)
    experts = [(name, frozen_linear(rng.normal(size=(100, 20)), list(range(k, k + 100))))
               for name, k in [("a", 0), ("b", 100)]]
    moe = MixtureOfExperts(experts, chunk_size=100).fit(X[:10])
    expected = moe.classes_[moe.predict_proba(X).argmax(axis=1)]
    for method in ("predict", "route"):
        tracemalloc.start()
        result = getattr(moe, method)(X)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 2_000_000, (method, peak)
    np.testing.assert_array_equal(moe.predict(X), expected)
    np.testing.assert_array_equal(result, moe.route_proba(X).argmax(axis=1))


class _OutOfMemory(torch.nn.Module):
    """Runs out of (simulated) device memory on every batch."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 2)

    def forward(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")


def test_out_of_memory_reaches_the_caller_unchanged():
    # code that catches torch.OutOfMemoryError to shrink its batches must see it
    X = np.zeros((10, 6), dtype=np.float32)
    moe = MixtureOfExperts([("a", Expert.from_pretrained(_OutOfMemory(), classes=[0, 1]))])
    with pytest.raises(torch.OutOfMemoryError, match="simulated"):
        moe.fit(X).predict(X)
