"""FastRouter: route from the raw input, then run each expert only on its samples."""

import threading

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator

from skgate import MixtureOfExperts
from skgate.exceptions import SkgateWarning
from skgate.experts import ExpertSet
from skgate.gates import BaseGate, FastRouter, GateTags, NaiveConcatGate, PANGate, get_gate_tags
from skgate.utils._testing import slice_expert

RNG = np.random.default_rng(0)
X = RNG.normal(size=(600, 4)).astype(np.float32)
Y = X.argmax(axis=1)


def _experts():
    return [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]


class AlwaysFirst(BaseGate):
    """A (bad) gate that sends every sample to expert 0."""

    def _route_proba(self, outputs):
        weights = np.zeros((outputs.n_samples, outputs.n_experts))
        weights[:, 0] = 1
        return weights


def test_router_learns_its_teacher_and_the_mixture_runs_one_expert_per_sample(monkeypatch):
    teacher = MixtureOfExperts(_experts(), gate=NaiveConcatGate()).fit(X)
    moe = MixtureOfExperts(_experts(), gate=FastRouter(NaiveConcatGate(), max_epochs=30,
                                                       random_state=0)).fit(X)
    assert moe.gate_tags_.routes_inputs
    assert moe.gate_.teacher_agreement_ > 0.95
    assert np.mean(moe.route(X) == teacher.route(X)) > 0.95

    rows_run = []
    original = ExpertSet.proba

    def counting(self, k, X_k, rows=None):
        assert X_k is not None and rows is not None  # the whole array, and the expert's rows
        rows_run.append((k, len(rows)))
        return original(self, k, X_k, rows)

    monkeypatch.setattr(ExpertSet, "proba", counting)
    route = moe.route(X)
    proba = moe.predict_proba(X)
    # each expert ran once, on exactly the samples routed to it
    assert sorted(rows_run) == [(0, int(np.sum(route == 0))), (1, int(np.sum(route == 1)))]
    # the same probabilities as the gate's own combination of every expert's outputs
    np.testing.assert_array_equal(proba, moe.gate_.predict_proba(moe.expert_outputs(X)))


def test_top_k_weights_by_hand(monkeypatch):
    moe = MixtureOfExperts(
        [("a", slice_expert(6, 0, [0, 1])), ("b", slice_expert(6, 2, [2, 3])),
         ("c", slice_expert(6, 4, [4, 5]))],
        gate=FastRouter(NaiveConcatGate(), top_k=2, confidence=0.9, max_epochs=1,
                        validation_fraction=None, random_state=0),
    ).fit(RNG.normal(size=(30, 6)).astype(np.float32))
    router = np.array([[0.95, 0.03, 0.02], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    monkeypatch.setattr(FastRouter, "_router_proba", lambda self, X: router[: len(X)])
    weights = moe.route_proba(np.zeros((3, 6), np.float32))
    np.testing.assert_allclose(weights, [[1, 0, 0], [0.625, 0.375, 0], [0, 2 / 9, 7 / 9]])
    # top_k=1: hard routing whatever the confidence
    moe.gate_.set_params(top_k=1)
    np.testing.assert_array_equal(moe.route_proba(np.zeros((3, 6), np.float32)),
                                  [[1, 0, 0], [1, 0, 0], [0, 0, 1]])


def test_labels_teach_the_owners_not_the_teacher():
    # the teacher sends everything to expert 0; with labels the router learns the owners
    unlabelled = MixtureOfExperts(_experts(), gate=FastRouter(AlwaysFirst(), max_epochs=30,
                                                              random_state=0)).fit(X)
    assert np.all(unlabelled.route(X) == 0)
    labelled = MixtureOfExperts(_experts(), gate=FastRouter(AlwaysFirst(), max_epochs=30,
                                                            random_state=0)).fit(X, Y)
    owner = (Y >= 2).astype(int)
    assert np.mean(labelled.route(X) == owner) > 0.95
    assert labelled.gate_.teacher_agreement_ > 0.95


def test_frozen_teacher_is_used_as_it_is_and_the_given_teacher_is_not_fitted():
    fitted = MixtureOfExperts(_experts(), gate=NaiveConcatGate()).fit(X).gate_
    frozen = FrozenEstimator(fitted)
    moe = MixtureOfExperts(_experts(), gate=FastRouter(frozen, max_epochs=2,
                                                       validation_fraction=None,
                                                       random_state=0)).fit(X)
    assert moe.gate_.teacher_ is frozen
    pan = PANGate(features="logits", max_epochs=2)
    moe = MixtureOfExperts(_experts(), gate=FastRouter(pan, max_epochs=2,
                                                       validation_fraction=None,
                                                       random_state=0))
    moe.fit(X, Y)
    assert not hasattr(pan, "networks_") and hasattr(moe.gate_.teacher_, "networks_")


def test_tags_follow_the_teacher():
    assert get_gate_tags(FastRouter(PANGate())).requires_labels
    assert get_gate_tags(FastRouter(PANGate())).expert_layers == ("penultimate",)
    assert not get_gate_tags(FastRouter(NaiveConcatGate())).requires_labels
    with pytest.raises(ValueError, match="fit requires y"):
        MixtureOfExperts(_experts(), gate=FastRouter(PANGate())).fit(X)


def test_a_router_cannot_also_train_the_experts():
    class Both(BaseGate):
        def gate_tags(self):
            return GateTags(routes_inputs=True, trains_experts=True)

    with pytest.raises(ValueError, match="routes from the input alone"):
        get_gate_tags(Both())


def test_images_are_routed_from_a_thumbnail():
    images = RNG.random(size=(200, 1, 12, 12)).astype(np.float32)
    experts = [("a", slice_expert(144, 0, [0, 1])), ("b", slice_expert(144, 2, [2, 3]))]
    gate = FastRouter(NaiveConcatGate(), thumbnail=8, max_epochs=3,
                      validation_fraction=None, random_state=0)
    moe = MixtureOfExperts(experts, gate=gate).fit(images)
    assert type(moe.gate_.router_.module_).__name__ == "_Thumbnail"
    assert moe.gate_tags_.routes_inputs
    assert moe.predict(images).shape == (200,)


def test_same_random_state_same_router():
    fit = [MixtureOfExperts(_experts(), gate=FastRouter(NaiveConcatGate(), max_epochs=3,
                                                        validation_fraction=None,
                                                        random_state=3)).fit(X)
           for _ in range(2)]
    np.testing.assert_array_equal(fit[0].route_proba(X), fit[1].route_proba(X))


@pytest.mark.parametrize("augment", [False, True])
def test_cnn_router_learns_where_in_the_image_the_owner_is(augment):
    # a bright 2 x 2 blob: top half belongs to expert "a" (labels 0, 1), bottom to "b" (2, 3)
    import torch

    from skgate import Expert

    rng = np.random.default_rng(0)
    n = 400
    images = rng.normal(scale=0.1, size=(n, 1, 8, 8)).astype(np.float32)
    rows, cols = rng.integers(0, 7, size=n), rng.integers(0, 7, size=n)
    images[np.arange(n), 0, rows, cols] += 2
    images[np.arange(n), 0, rows + 1, cols + 1] += 2
    y = 2 * (rows >= 4) + (cols >= 4)

    def expert(classes):
        with torch.random.fork_rng():
            torch.manual_seed(len(classes) + classes[0])
            module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
        return Expert.from_pretrained(module, classes=classes)

    moe = MixtureOfExperts([("a", expert([0, 1])), ("b", expert([2, 3]))],
                           gate=FastRouter(NaiveConcatGate(), module="cnn", thumbnail=None,
                                           augment=augment, max_epochs=20, random_state=0))
    moe.fit(images[:300], y[:300])
    assert np.mean(moe.route(images[300:]) == (y[300:] >= 2)) > 0.95


def test_augment_moves_each_training_image_and_leaves_prediction_alone():
    import torch

    from skgate.gates._router import _Augment

    x = torch.rand(2, 1, 8, 8).expand(2, 1, 8, 8).clone()
    x[1] = x[0]  # two equal images in one batch
    augment = _Augment(torch.nn.Identity())
    augment.eval()
    assert torch.equal(augment(x), x)  # prediction: the images as they are
    augment.train()
    torch.manual_seed(0)
    moved = augment(x)
    assert moved.shape == x.shape
    assert not torch.allclose(moved[0], moved[1])  # one random map per image
    # the identity map resamples every pixel at its own centre
    still = _Augment(torch.nn.Identity(), degrees=0.0, scale=0.0, shift=0.0).train()
    torch.testing.assert_close(still(x), x, atol=1e-6, rtol=0)


def test_augment_is_for_images():
    moe = MixtureOfExperts(_experts(), gate=FastRouter(NaiveConcatGate(), augment=True,
                                                       max_epochs=1))
    with pytest.raises(ValueError, match="augment=True draws random affine maps of images"):
        moe.fit(X)


@pytest.mark.parametrize("n_samples, batch_size, epochs", [
    (900, 128, 188),     # 8 batches: ceil(1500 / 8) passes, for at least 1,500 steps
    (19_200, 128, 10),   # 150 batches: 10 passes already make 1,500 steps
    (100_000, 128, 10),  # never fewer than 10 passes
    (600, 600, 1500),    # one batch per pass
])
def test_auto_epochs_make_at_least_1500_steps_and_10_passes(n_samples, batch_size, epochs):
    assert FastRouter(batch_size=batch_size)._epochs(n_samples) == epochs
    assert FastRouter(max_epochs=3, batch_size=batch_size)._epochs(n_samples) == 3


def test_auto_epochs_train_a_small_fit_set_long_enough_to_follow_its_teacher():
    # 600 samples in batches of 100: 6 batches, 250 passes; 3 passes were too few
    few = MixtureOfExperts(_experts(), gate=FastRouter(NaiveConcatGate(), max_epochs=3,
                                                       validation_fraction=None,
                                                       batch_size=100, random_state=0))
    auto = MixtureOfExperts(_experts(), gate=FastRouter(NaiveConcatGate(), batch_size=100,
                                                        validation_fraction=None,
                                                        random_state=0))
    few.fit(X), auto.fit(X)
    assert len(auto.gate_.router_.history) == 250
    assert auto.gate_.teacher_agreement_ > max(0.97, few.gate_.teacher_agreement_)


def test_routed_experts_run_at_the_same_time_with_n_jobs_and_give_the_same_result(monkeypatch):
    sequential = MixtureOfExperts(_experts(), gate=FastRouter(
        NaiveConcatGate(), max_epochs=2, validation_fraction=None, random_state=0)).fit(X)
    parallel = MixtureOfExperts(_experts(), n_jobs=2,
                                gate=FastRouter(NaiveConcatGate(), max_epochs=2,
                                                validation_fraction=None,
                                                random_state=0)).fit(X)
    threads = []
    original = ExpertSet.proba

    def recording(self, k, X_k, rows=None):
        threads.append(threading.get_ident())
        return original(self, k, X_k, rows)

    expected = sequential.predict_proba(X)
    monkeypatch.setattr(ExpertSet, "proba", recording)
    proba = parallel.predict_proba(X)
    np.testing.assert_array_equal(proba, expected)
    assert len(threads) == 2 and threading.get_ident() not in threads


def test_a_router_that_cannot_follow_its_teacher_is_not_used(monkeypatch):
    # one pass at a vanishing learning rate: the router stays at its initialisation
    gate = FastRouter(NaiveConcatGate(), max_epochs=1, lr=1e-9, random_state=0)
    with pytest.warns(SkgateWarning, match="the teacher routes instead"):
        moe = MixtureOfExperts(_experts(), gate=gate).fit(X)
    assert moe.gate_.fallback_ and not moe.gate_tags_.routes_inputs
    scores = moe.gate_.validation_scores_
    assert scores["energy"] == 1.0 and scores["router"] < 0.95
    energy = MixtureOfExperts(_experts(), gate=NaiveConcatGate()).fit(X)
    np.testing.assert_array_equal(moe.route(X), energy.route(X))  # the teacher routes
    calls = []  # and every expert runs on every input
    original = ExpertSet.outputs
    monkeypatch.setattr(ExpertSet, "outputs", lambda self, X, layers=(): calls.append(
        len(X)) or original(self, X, layers))
    moe.predict(X[:7])
    assert calls == [7]


def test_a_router_that_follows_its_teacher_is_used():
    gate = FastRouter(NaiveConcatGate(), max_epochs=30, random_state=0)
    moe = MixtureOfExperts(_experts(), gate=gate).fit(X)
    scores = moe.gate_.validation_scores_
    assert not moe.gate_.fallback_ and moe.gate_tags_.routes_inputs
    assert scores["router"] >= scores["energy"] - gate.tolerance


def test_the_check_is_against_the_teacher_not_energy():
    # a teacher far from energy: energy agrees with few of its choices, so a router no
    # better than chance used to pass a check against energy's agreement
    gate = FastRouter(NaiveConcatGate("std"), max_epochs=1, lr=1e-9, random_state=0)
    with pytest.warns(SkgateWarning, match="less than its teacher"):
        moe = MixtureOfExperts(_experts(), gate=gate).fit(X)
    scores = moe.gate_.validation_scores_
    assert scores["teacher"] == 1.0 and scores["router"] < 0.95
    assert scores["router"] > scores["energy"] - gate.tolerance  # the old check passed it
    assert moe.gate_.fallback_
