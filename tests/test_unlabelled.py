"""Unlabelled samples (y == -1): the mixture, every gate, and UniversalGate's pool."""

import pickle

import numpy as np
import pytest
import torch
from scipy.special import softmax
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold

import skgate
from skgate import Expert, MixtureOfExperts
from skgate.experts import ExpertSet
from skgate.gates import (
    FastRouter,
    FloorGate,
    NaiveConcatGate,
    PANGate,
    SoftMoE,
    UniversalGate,
    get_gate_tags,
)
from skgate.metrics import routing_accuracy_score
from skgate.utils import unlabelled_mask
from skgate.utils._testing import frozen_linear

BIAS = 3.0  # how much hotter the second expert's logits run
TRUSTED = ["skgate.utils._testing.Scale"]  # the test experts' module


def _hot_pair(n=1000, seed=0, owners=(0, 1), bias=BIAS, classes=(0, 1, 2, 3)):
    """Two frozen experts over 5 features: "a" reads columns 0-1 (classes 0, 1), "b"
    columns 2-3 (classes 2, 3) plus ``bias`` through the constant column 4, so energy
    sends many of a's inputs to b. Each input gets a bump on one column of its owner."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    X[:, 4] = 1.0
    owner = rng.choice(owners, size=n)
    y = 2 * owner + rng.integers(2, size=n)
    X[np.arange(n), y] += 3.0
    a = np.zeros((2, 5))
    a[:, :2] = np.eye(2)
    b = np.zeros((2, 5))
    b[:, 2:4] = np.eye(2)
    b[:, 4] = bias
    experts = [("a", frozen_linear(a, list(classes[:2]))),
               ("b", frozen_linear(b, list(classes[2:])))]
    return experts, X, np.asarray(classes, dtype=object if isinstance(classes[0], str)
                                  else None)[y]


def _routing(moe, X, y):
    return routing_accuracy_score(moe.expert_set_.owners(y), moe.route_proba(X))


# -- the marker -------------------------------------------------------------------------
def test_unlabelled_mask_numbers_strings_and_the_string_minus_one():
    np.testing.assert_array_equal(unlabelled_mask([2, -1, 0]), [False, True, False])
    np.testing.assert_array_equal(unlabelled_mask([2.0, -1.0]), [False, True])
    y = np.array(["cat", -1, "-1", np.int64(-1), True], dtype=object)
    np.testing.assert_array_equal(unlabelled_mask(y), [False, True, False, True, False])
    np.testing.assert_array_equal(unlabelled_mask(np.array(["a", "-1"])), [False, False])


# -- the mixture --------------------------------------------------------------------------
class _Recording(Expert):
    """An expert that keeps the labels it was trained on."""

    def fit(self, X, y=None, **fit_params):
        self.seen_ = np.asarray(y).copy()
        return super().fit(X, y, **fit_params)


def _linear_expert(classes):
    return _Recording(torch.nn.Linear, module__in_features=4, module__out_features=2,
                      classes=classes, criterion=torch.nn.CrossEntropyLoss, max_epochs=1,
                      train_split=None, verbose=0, random_state=0)


def test_trained_experts_see_only_labelled_samples():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = X[:, :2].argmax(axis=1)
    y[::3] = -1
    moe = MixtureOfExperts([("e", _linear_expert([0, 1]))], gate=NaiveConcatGate()).fit(X, y)
    seen = moe.experts_[0].seen_
    assert len(seen) == 80 and set(seen) == {0, 1}
    np.testing.assert_array_equal(moe.classes_, [0, 1])


def test_minus_one_is_a_label_for_an_expert_that_learns_its_classes_from_y():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.where(X[:, 0] > 0, 1, -1)  # binary labels -1 / 1, as scikit-learn's checks use
    moe = MixtureOfExperts([("e", _linear_expert(None))], gate=NaiveConcatGate()).fit(X, y)
    np.testing.assert_array_equal(moe.classes_, [-1, 1])
    assert len(moe.experts_[0].seen_) == 60
    # score counts the -1 samples too: they are labelled
    assert moe.score(X, y) == pytest.approx(np.mean(moe.predict(X) == y))
    assert moe.score(X.tolist(), y) == pytest.approx(moe.score(X, y))  # a list works too


def test_all_minus_one_with_experts_to_train_names_them():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    with pytest.raises(ValueError, match=r"Experts \['e'\] are not frozen .* every label"):
        MixtureOfExperts([("e", _linear_expert([0, 1]))], gate=NaiveConcatGate()).fit(
            X, np.full(30, -1))


def test_string_labels_with_minus_one():
    names = ("a0", "a1", "b0", "b1")
    experts, X, y = _hot_pair(n=400, classes=names)
    y_str = y.copy()
    y_str[np.arange(len(y)) % 10 != 0] = -1
    moe = MixtureOfExperts(experts, gate=UniversalGate(cv_repeats=1, random_state=0)).fit(
        X, y_str)
    assert set(moe.predict(X)) <= set(names)
    assert moe.gate_.pool_report_["pool_size"] == len(X)
    assert moe.score(X, y_str) == pytest.approx(moe.score(X[::10], y[::10].astype(str)))


def test_minus_one_that_is_a_class_is_refused():
    experts, X, y = _hot_pair(n=200)
    clash = [("a", frozen_linear(np.eye(2, 5), [-1, 0])), experts[1]]
    y = np.where(y < 2, y - 1, y)  # classes -1, 0, 2, 3
    with pytest.raises(ValueError, match="-1 is also a class of expert 'a'"):
        MixtureOfExperts(clash, gate=UniversalGate()).fit(X, y)
    # a class -1 that y never holds is no ambiguity
    MixtureOfExperts(clash, gate=NaiveConcatGate()).fit(X, np.where(y == -1, 0, y))
    # nor is a float class -1.0 missed
    floats = [("a", frozen_linear(np.eye(2, 5), [-1.0, 0.0])), experts[1]]
    with pytest.raises(ValueError, match="-1 is also a class of expert 'a'"):
        MixtureOfExperts(floats, gate=UniversalGate()).fit(X, y.astype(float))


def test_a_gate_learning_from_labels_only_gets_the_labelled_samples():
    experts, X, y = _hot_pair(n=300)
    y_pool = y.copy()
    y_pool[1::2] = -1
    pan = PANGate(features="logits", max_epochs=3, random_state=0)
    with_pool = MixtureOfExperts(experts, gate=pan).fit(X, y_pool)
    labelled = MixtureOfExperts(experts, gate=clone(pan)).fit(X[::2], y[::2])
    np.testing.assert_array_equal(with_pool.route_proba(X), labelled.route_proba(X))
    # the gate itself, given the -1 directly, drops them too
    outputs = ExpertSet(experts).outputs(X)
    direct = clone(pan).fit(outputs, y_pool)
    np.testing.assert_array_equal(direct.route_proba(outputs), labelled.gate_.route_proba(
        outputs))


@pytest.mark.parametrize("gate", [PANGate(max_epochs=2), SoftMoE(max_epochs=2),
                                  FloorGate(PANGate(max_epochs=2))])
def test_no_labels_for_a_gate_that_needs_them_is_a_clear_error(gate):
    experts, X, y = _hot_pair(n=100)
    with pytest.raises(ValueError, match="every label of y is -1"):
        MixtureOfExperts(experts, gate=gate).fit(X, np.full(len(X), -1))


def test_data_free_gate_accepts_all_minus_one():
    experts, X, _ = _hot_pair(n=100)
    moe = MixtureOfExperts(experts, gate=NaiveConcatGate()).fit(X, np.full(len(X), -1))
    assert moe.route(X).shape == (100,)


def test_tags_say_who_uses_the_pool():
    assert get_gate_tags(UniversalGate()).uses_unlabelled
    assert get_gate_tags(UniversalGate()).max_unlabelled == 10_000
    assert not get_gate_tags(UniversalGate(pool="ignore")).uses_unlabelled
    assert not get_gate_tags(UniversalGate(calibration="none")).uses_unlabelled
    assert get_gate_tags(FastRouter()).uses_unlabelled
    for gate in (NaiveConcatGate(), PANGate(), SoftMoE(), FloorGate(PANGate())):
        assert not get_gate_tags(gate).uses_unlabelled


# -- UniversalGate and the pool --------------------------------------------------------
def test_a_pool_corrects_a_hot_expert_without_labels():
    experts, X, y = _hot_pair(n=1500)
    energy = MixtureOfExperts(experts, gate=NaiveConcatGate("energy")).fit(X)
    pooled = MixtureOfExperts(experts, gate=UniversalGate(random_state=0)).fit(
        X, np.full(len(X), -1))
    assert pooled.gate_.pool_used_ and pooled.gate_.calibration_ == "none"
    before, after = _routing(energy, X, y), _routing(pooled, X, y)
    assert before < 0.9  # the hot expert takes many of a's inputs
    assert after > before + 0.05
    # y=None is the same pool with no labels
    same = MixtureOfExperts(experts, gate=UniversalGate(random_state=0)).fit(X)
    np.testing.assert_array_equal(same.route(X), pooled.route(X))
    # the labels-only gate with no labels (and no shipped correction) is energy
    plain = MixtureOfExperts(experts, gate=UniversalGate(None, pool="ignore")).fit(X)
    np.testing.assert_array_equal(plain.route(X), energy.route(X))


def test_a_pool_of_one_experts_inputs_does_not_move_the_gate():
    experts, X, y = _hot_pair(n=1500, owners=(0,), bias=0.0)
    energy = MixtureOfExperts(experts, gate=UniversalGate(pool="ignore")).fit(X)
    pooled = MixtureOfExperts(experts, gate=UniversalGate(random_state=0)).fit(X)
    report = pooled.gate_.pool_report_
    assert not pooled.gate_.pool_used_ and "too small" in report["reason"]
    assert min(report["pseudo_labels"]) < 50
    np.testing.assert_array_equal(pooled.route(X), energy.route(X))
    assert get_gate_tags(pooled.gate_).any_experts  # it stayed energy: reusable


def test_labels_refute_a_pool_calibration_that_routes_them_worse(monkeypatch):
    experts, X, y = _hot_pair(n=1500)
    gate = UniversalGate(random_state=0)
    outputs = ExpertSet(experts).outputs(X)
    y_pool = np.full(len(y), -1)
    y_pool[:60] = y[:60]
    # sabotage: the pool's pseudo-labels are the opposite expert
    import skgate.gates._universal_pool_fit as universal  # the pool's fit

    real = universal.one_hot
    monkeypatch.setattr(universal, "one_hot", lambda index, n: real(1 - index, n))
    gate.fit(outputs, y_pool)
    assert not gate.pool_used_
    assert gate.pool_report_["reason"].startswith("the labelled samples route clearly")


def test_a_fixed_calibration_and_every_sample_labelled_leave_the_pool_alone():
    experts, X, y = _hot_pair(n=600)
    outputs = ExpertSet(experts).outputs(X)
    y_pool = np.full(len(y), -1)
    y_pool[:60] = y[:60]
    fixed = UniversalGate(calibration="affine", random_state=0).fit(outputs, y_pool)
    assert not fixed.pool_used_ and fixed.pool_report_ == {}  # fitted on the labels only
    full = UniversalGate(cv_repeats=1, random_state=0).fit(outputs, y)
    assert "pool+labels" not in full.cv_scores_  # no pseudo-label is left to add
    assert not hasattr(full, "_pseudo")  # nor kept with the fitted gate


def test_max_pool_in_a_direct_fit():
    experts, X, y = _hot_pair(n=1500)
    outputs = ExpertSet(experts).outputs(X)
    gate = UniversalGate(max_pool=400, random_state=0).fit(outputs, np.full(len(y), -1))
    assert gate.pool_report_["pool_size"] == 400


def test_max_pool_subsamples_the_unlabelled_samples():
    experts, X, y = _hot_pair(n=1500)
    y_pool = np.full(len(y), -1)
    y_pool[:40] = y[:40]
    moe = MixtureOfExperts(experts, gate=UniversalGate(max_pool=300, random_state=0),
                           random_state=0).fit(X, y_pool)
    assert moe.gate_.pool_report_["pool_size"] == 340  # 40 labelled + 300 of the pool
    again = MixtureOfExperts(experts, gate=UniversalGate(max_pool=300, random_state=0),
                             random_state=0).fit(X, y_pool)
    np.testing.assert_array_equal(moe.route(X), again.route(X))


def test_clone_and_grid_search_over_a_semi_supervised_gate():
    experts, X, y = _hot_pair(n=900)
    y_pool = y.copy()
    y_pool[np.arange(len(y)) % 20 != 0] = -1
    gate = UniversalGate(pool="ignore", max_pool=500, random_state=0)
    assert clone(gate).get_params() == gate.get_params()
    moe = MixtureOfExperts(experts, gate=UniversalGate(cv_repeats=1, random_state=0))
    search = GridSearchCV(moe, {"gate__pool": ["pseudo_labels", "ignore"]},
                          cv=StratifiedKFold(3, shuffle=True, random_state=0))
    search.fit(X, y_pool)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_ == {"gate__pool": "pseudo_labels"}


def test_score_counts_labelled_samples_only():
    experts, X, y = _hot_pair(n=300)
    moe = MixtureOfExperts(experts, gate=NaiveConcatGate()).fit(X)
    y_pool = y.copy()
    y_pool[::2] = -1
    assert moe.score(X, y_pool) == pytest.approx(moe.score(X[1::2], y[1::2]))
    with pytest.raises(ValueError, match="no labelled sample"):
        moe.score(X, np.full(len(y), -1))


def test_a_pool_calibrated_gate_round_trips(tmp_path):
    experts, X, _ = _hot_pair(n=1000)
    moe = MixtureOfExperts(experts, gate=UniversalGate(random_state=0)).fit(X)
    assert moe.gate_.pool_used_
    skgate.save(moe, tmp_path / "moe.skgate")
    for copy in (pickle.loads(pickle.dumps(moe)), skgate.load(tmp_path / "moe.skgate",
                                                                   trusted=TRUSTED)):
        assert copy.gate_.pool_used_
        np.testing.assert_array_equal(copy.route(X), moe.route(X))


def test_a_gate_saved_before_pools_routes_as_it_did():
    experts, X, y = _hot_pair(n=600)
    gate = UniversalGate(calibration="affine", pool="ignore", mixing="soft", random_state=0)
    moe = MixtureOfExperts(experts, gate=gate).fit(X, y)
    expected = moe.route_proba(X)
    for name in ("pool", "max_pool", "pool_used_", "pool_report_", "_pool_calibrator"):
        moe.gate_.__dict__.pop(name, None)  # as unpickled from an older skgate
    np.testing.assert_array_equal(moe.route_proba(X), expected)
    # the soft weights are the softmax of the calibrated scores, as before pools
    np.testing.assert_allclose(expected, softmax(moe.gate_.scores(moe.expert_outputs(X)),
                                                  axis=1))
    assert moe.gate_.get_params()["pool"] == "ignore"


def test_fast_router_learns_from_the_pool_through_its_teacher():
    experts, X, y = _hot_pair(n=1500)
    router = FastRouter(max_epochs=20, random_state=0)
    moe = MixtureOfExperts(experts, gate=router).fit(X, np.full(len(X), -1))
    teacher = moe.gate_.teacher_
    assert teacher.pool_used_ and not moe.gate_.fallback_
    outputs = moe.expert_set_.outputs(X, layers=teacher.expert_layers())
    # the router follows its pool-taught teacher, not plain energy
    assert np.mean(moe.route(X) == teacher.route(outputs)) > 0.9
    energy = NaiveConcatGate().fit(outputs).route(outputs)
    assert _routing(moe, X, y) > routing_accuracy_score(moe.expert_set_.owners(y),
                                                        np.eye(2)[energy]) + 0.03


# -- the second view: a student on the activations ---------------------------------------
def _views(n=2000, seed=0, signal=1.5):
    """Owners, noisy teacher scores (wrong on 11% of the inputs, almost only where
    they are unsure) and per-expert activations that show each input's owner (with
    ``signal``)."""
    rng = np.random.default_rng(seed)
    owner = rng.integers(2, size=n)
    scores = np.eye(2)[owner] + rng.normal(scale=0.6, size=(n, 2))
    acts = [rng.normal(size=(n, 4)) + signal * (owner == k)[:, None] for k in range(2)]
    return owner, scores, acts


def test_second_view_keeps_the_inputs_where_a_faithful_student_agrees():
    from skgate.gates._universal_pool import second_view

    owner, scores, acts = _views()
    teacher = scores.argmax(axis=1)
    agree, report = second_view(acts, scores, seed=0)
    assert report["used"] and report["fidelity"] >= 0.95
    assert report["agreement"] == pytest.approx(agree.mean())
    # the teacher's mistakes are mostly dropped: it is right on most inputs kept
    assert np.mean(teacher == owner) < 0.9
    assert np.mean(teacher[agree] == owner[agree]) > 0.97
    again, _ = second_view(acts, scores, seed=0)
    np.testing.assert_array_equal(agree, again)


def test_second_view_is_skipped_when_the_student_cannot_reproduce_its_teacher():
    from skgate.gates._universal_pool import second_view

    owner, scores, acts = _views(signal=0.0)  # activations that say nothing of the owner
    agree, report = second_view(acts, scores, seed=0)
    assert agree is None and not report["used"]
    assert report["fidelity"] < 0.95 and "under 1 - 0.05" in report["reason"]


def _hot_pair_with_activations(n=2000, signal=1.5):
    """The hot pair's outputs, with per-expert activations that show the owner."""
    experts, X, y = _hot_pair(n=n)
    outputs = ExpertSet(experts).outputs(X)
    owner = outputs.expert_set.owners(y).argmax(axis=1)
    rng = np.random.default_rng(1)
    outputs.activations = [{"penultimate": (rng.normal(size=(n, 4)) + signal * (
        owner == k)[:, None]).astype(np.float32)} for k in range(2)]
    return outputs, y


def test_a_second_view_on_the_activations_refines_the_pool(monkeypatch):
    outputs, y = _hot_pair_with_activations()
    owners = outputs.expert_set.owners(y)
    pool = np.full(len(y), -1)
    energy = UniversalGate(None, pool="ignore").fit(outputs).route_proba(outputs)
    gate = UniversalGate(random_state=0).fit(outputs, pool)
    assert gate.pool_report_["second_view"]["used"]
    import skgate.gates._universal_pool_fit as universal  # the pool's fit

    monkeypatch.setattr(universal, "second_view", lambda *args: (None, {"used": False}))
    first = UniversalGate(random_state=0).fit(outputs, pool)
    routing = [routing_accuracy_score(owners, g) for g in (
        energy, first.route_proba(outputs), gate.route_proba(outputs))]
    assert routing[0] + 0.1 < routing[1] < routing[2] - 0.05  # energy < pool < both views


def test_labels_refute_a_second_view_that_routes_them_worse(monkeypatch):
    outputs, y = _hot_pair_with_activations()
    owner = outputs.expert_set.owners(y).argmax(axis=1)
    y_pool = np.full(len(y), -1)
    y_pool[:80] = y[:80]
    import skgate.gates._universal_pool_fit as universal  # the pool's fit

    def sabotaged(acts, scores, seed):  # "agrees" where the teacher is wrong, mostly
        agree = (scores.argmax(axis=1) != owner) | (np.arange(len(owner)) % 10 == 0)
        return agree, {"used": True}

    monkeypatch.setattr(universal, "second_view", sabotaged)
    report = UniversalGate(random_state=0).fit(outputs, y_pool).pool_report_
    assert not report["second_view"]["used"]
    assert report["second_view"]["reason"].startswith("the labelled samples route clearly")
