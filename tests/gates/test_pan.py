import warnings

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from skgate import MixtureOfExperts
from skgate.exceptions import SkgateWarning
from skgate.experts import ExpertSet
from skgate.gates import NaiveConcatGate, PANGate
from skgate.gates._pan import logit_stats
from skgate.utils._testing import frozen_linear, ring_outputs, slice_expert, tiny_expert


def _quadrants(n=400, seed=0):
    """x0 > 0 belongs to expert "pos" (labels 0, 1), x0 < 0 to "neg" (labels 2, 3)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    y = np.where(X[:, 0] > 0, 0, 2) + (X[:, 1] > 0)
    return X, y


def _experts():
    # both experts see the same input; logits are linear in x, so ownership (the sign of
    # x0) is readable from either expert's logits, but not from their max
    return [
        ("pos", frozen_linear([[1.0, -1.0], [1.0, 1.0]], [0, 1])),
        ("neg", frozen_linear([[-1.0, -1.0], [-1.0, 1.0]], [2, 3])),
    ]


def _outputs(X, layers=()):
    return ExpertSet(_experts()).outputs(X, layers=layers)


def test_logit_stats_by_hand():
    z = np.array([[1.0, 2.0, 6.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(logit_stats(z), [[3.0, np.sqrt(14 / 3), 6.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("features", ["logits", "penultimate", "linear", "logit_stats"])
def test_pan_learns_who_owns_the_input(features):
    X, y = _quadrants()
    X_test, y_test = _quadrants(seed=1)
    gate = PANGate(features=features, max_epochs=40, random_state=0)
    moe = MixtureOfExperts(_experts(), gate=gate).fit(X, y)
    owner = (y_test >= 2).astype(int)
    routing = np.mean(moe.route(X_test) == owner)
    # logit_stats sees [mean, std, max]: the sign of x0 is in the mean of both experts
    assert routing > 0.9
    proba = moe.gate_.attribution_proba(moe.expert_outputs(X_test))
    assert proba.shape == (len(X_test), 2)
    assert np.all((proba >= 0) & (proba <= 1))
    assert np.mean((proba[:, 0] > 0.5) == (owner == 0)) > 0.9


def test_expert_layers_follow_features():
    assert PANGate(features="logits").expert_layers() == ()
    assert PANGate(features="logit_stats").expert_layers() == ()
    assert PANGate(features="penultimate").expert_layers() == ("penultimate",)
    assert PANGate(features="features").expert_layers() == ("features",)


def _fitted_gate(**params):
    X, y = _quadrants()
    return PANGate(features="logits", max_epochs=30, random_state=0, **params).fit(
        _outputs(X), y
    ), X


def test_none_claim_falls_back_to_the_fallback_gate():
    gate, X = _fitted_gate(threshold=1 - 1e-12, fallback=None)  # no network is that sure
    outputs = _outputs(X)
    assert not (gate.attribution_proba(outputs) > gate.threshold).any()
    expected = NaiveConcatGate().fit(outputs).route_proba(outputs)
    np.testing.assert_array_equal(gate.route_proba(outputs), expected)


def test_several_claim_falls_back_to_the_fallback_gate():
    gate, X = _fitted_gate(threshold=1e-12, fallback=NaiveConcatGate(statistic="std"))
    outputs = _outputs(X)
    assert (gate.attribution_proba(outputs) > gate.threshold).all()
    expected = NaiveConcatGate(statistic="std").fit(outputs).route_proba(outputs)
    np.testing.assert_array_equal(gate.route_proba(outputs), expected)


def test_attribution_fallback_takes_the_most_confident_network():
    gate, X = _fitted_gate(threshold=1 - 1e-12, fallback="attribution")
    outputs = _outputs(X)
    expected = gate.attribution_proba(outputs).argmax(axis=1)
    np.testing.assert_array_equal(gate.route(outputs), expected)


def test_soft_attribution_fallback_weighs_experts_by_their_networks():
    gate, X = _fitted_gate(threshold=1 - 1e-12, fallback="soft_attribution")
    outputs = _outputs(X)
    proba = gate.attribution_proba(outputs)
    expected = proba / proba.sum(axis=1, keepdims=True)  # nobody claims: every row falls back
    np.testing.assert_allclose(gate.route_proba(outputs), expected)
    np.testing.assert_allclose(gate.route_proba(outputs).sum(axis=1), 1.0)


def test_soft_attribution_with_no_probability_at_all_is_uniform():
    gate, X = _fitted_gate(fallback="soft_attribution")
    outputs = _outputs(X[:3])
    gate.attribution_proba = lambda outputs: np.zeros((3, 2))
    np.testing.assert_array_equal(gate.route_proba(outputs), np.full((3, 2), 0.5))


def test_soft_attribution_keeps_single_claims_hard():
    gate, X = _fitted_gate(fallback="soft_attribution")
    outputs = _outputs(X)
    proba = gate.attribution_proba(outputs)
    single = (proba > 0.5).sum(axis=1) == 1
    weights = gate.route_proba(outputs)
    np.testing.assert_array_equal(weights[single], np.eye(2)[proba[single].argmax(axis=1)])


def test_several_networks_per_expert_average_their_probabilities():
    X, y = _quadrants()
    outputs = _outputs(X)
    gate = PANGate(features="logits", n_networks=3, max_epochs=5, random_state=0).fit(
        outputs, y)
    features = gate._features(outputs)[0].astype(np.float32)  # what network 0 reads
    vote = gate.networks_[0]
    members = [est.predict_proba(features) for est in vote.estimators_]
    # different initialisations and shuffles: the members differ
    assert not np.allclose(members[0], members[1])
    np.testing.assert_allclose(gate.attribution_proba(outputs)[:, 0],
                               np.mean(members, axis=0)[:, 1], rtol=1e-6)
    # and each member is the network the same seed gives alone
    seed = vote.estimators_[1][-1].random_state
    alone = PANGate(features="logits", max_epochs=5)._network(seed).fit(features, (y < 2).astype(np.int64))
    np.testing.assert_allclose(alone.predict_proba(features), members[1], rtol=1e-6)


def test_one_network_per_expert_is_a_plain_pipeline():
    X, y = _quadrants()
    gate = PANGate(features="logits", max_epochs=2, random_state=0).fit(_outputs(X), y)
    assert [type(net).__name__ for net in gate.networks_] == ["Pipeline", "Pipeline"]


def test_exactly_one_claim_decides_without_the_fallback():
    gate, X = _fitted_gate(fallback=NaiveConcatGate(statistic="std"))
    outputs = _outputs(X)
    claims = gate.attribution_proba(outputs) > 0.5
    single = claims.sum(axis=1) == 1
    assert single.mean() > 0.8
    np.testing.assert_array_equal(gate.route(outputs)[single], claims[single].argmax(axis=1))


def test_expert_owning_every_fit_sample_always_claims():
    X, y = _quadrants()
    mine = y < 2
    expert_set = ExpertSet([("pos", _experts()[0][1])])
    gate = PANGate(features="logits", max_epochs=2).fit(expert_set.outputs(X[mine]), y[mine])
    np.testing.assert_array_equal(gate.attribution_proba(expert_set.outputs(X)), 1.0)


def test_pan_needs_labels():
    X, _ = _quadrants()
    with pytest.raises(ValueError, match="PANGate needs labels y"):
        PANGate().fit(_outputs(X))


def test_unknown_feature_layer_is_a_clear_error():
    X, y = _quadrants()
    with pytest.raises(ValueError, match="Unknown layer 'conv9'"):
        MixtureOfExperts(_experts(), gate=PANGate(features="conv9")).fit(X, y)


def test_same_random_state_same_decisions():
    X, y = _quadrants()
    a = MixtureOfExperts(_experts(), gate=PANGate(features="logits", max_epochs=5,
                                                  random_state=3)).fit(X, y)
    b = MixtureOfExperts(_experts(), gate=PANGate(features="logits", max_epochs=5,
                                                  random_state=3)).fit(X, y)
    np.testing.assert_array_equal(a.route_proba(X), b.route_proba(X))
    np.testing.assert_array_equal(a.gate_.attribution_proba(a.expert_outputs(X)),
                                  b.gate_.attribution_proba(b.expert_outputs(X)))


def test_grid_search_over_features_and_hidden_layers():
    X, y = _quadrants()
    moe = MixtureOfExperts(_experts(), gate=PANGate(max_epochs=30, random_state=0))
    search = GridSearchCV(
        moe,
        {"gate__features": ["logits", "logit_stats"], "gate__hidden_layer_sizes": [(8,), (16, 8)]},
        cv=2,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ > 0.8


def test_gate_split_keeps_data_away_from_the_experts():
    X, y = _quadrants(300)
    experts = [("pos", tiny_expert([0, 1], max_epochs=2)), ("neg", tiny_expert([2, 3], max_epochs=2))]
    gate = PANGate(features="logits", max_epochs=2, random_state=0)
    with pytest.warns(UserWarning, match="fitted on the data the experts were trained on"):
        MixtureOfExperts(experts, gate=gate).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        moe = MixtureOfExperts(experts, gate=gate, gate_split=0.3, random_state=0).fit(X, y)
    # the gate saw 30% of the samples: the scaler of each network counts them
    assert moe.gate_.networks_[0][0].n_samples_seen_ == 90
    # the experts saw the other 70% (210 samples), each only its own labels
    y_experts = moe._split(X, y)[2]
    assert len(y_experts) == 210
    trained_on = sum(b["train_batch_size"] for b in moe.experts_[0].history[0]["batches"])
    assert trained_on == np.sum(np.isin(y_experts, [0, 1]))


def test_frozen_experts_and_a_learned_gate_use_all_data_without_warning():
    X, y = _quadrants(200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        moe = MixtureOfExperts(_experts(), gate=PANGate(features="logits", max_epochs=2),
                               gate_split=0.5).fit(X, y)
    assert moe.gate_.networks_[0][0].n_samples_seen_ == 200


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_pan_on_cuda():
    X, y = _quadrants()
    gate = PANGate(features="logits", max_epochs=2, device="cuda").fit(_outputs(X), y)
    assert gate.networks_[0][-1].device == "cuda"
    assert gate.route_proba(_outputs(X)).shape == (len(X), 2)


def test_device_on_cpu():
    X, y = _quadrants()
    gate = PANGate(features="logits", max_epochs=1, device="auto").fit(_outputs(X), y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert gate.networks_[0][-1].device == expected
    assert next(gate.networks_[0][-1].module_.parameters()).device.type == expected


def test_negatives_make_each_network_independent_of_the_other_experts():
    # the "pos" network learns pos-quadrant inputs against other data (far-away points),
    # never against the "neg" expert's samples: adding a third expert leaves it unchanged
    X, y = _quadrants()
    rng = np.random.default_rng(5)
    negatives = (rng.normal(size=(200, 2)) + [0.0, 8.0]).astype(np.float32)
    third = ("far", frozen_linear([[0.0, 1.0], [0.0, -1.0]], [4, 5]))
    gate = PANGate(features="logits", negatives=negatives, max_epochs=5, random_state=0)
    two = MixtureOfExperts(_experts(), gate=gate).fit(X, y)
    with pytest.warns(SkgateWarning, match=r"no labelled sample belongs to .*'far'"):
        three = MixtureOfExperts(_experts() + [third], gate=gate).fit(X, y)  # owns no sample
    X_test, _ = _quadrants(seed=1)
    for k in range(2):
        features = two.expert_outputs(X_test).logits[k]
        np.testing.assert_array_equal(
            two.gate_.networks_[k].predict_proba(features),
            three.gate_.networks_[k].predict_proba(features),
        )
    # without negatives, the "pos" network's negatives are the other experts' samples
    dependent = PANGate(features="logits", reads="own", max_epochs=5, random_state=0)
    a = MixtureOfExperts(_experts(), gate=dependent).fit(X, y)
    with pytest.warns(SkgateWarning, match="no labelled sample"):
        b = MixtureOfExperts(_experts() + [third], gate=dependent).fit(X[:300], y[:300])
    features = a.expert_outputs(X_test).logits[0]
    assert not np.array_equal(a.gate_.networks_[0].predict_proba(features),
                              b.gate_.networks_[0].predict_proba(features))


def test_negatives_are_what_the_network_learns_against():
    X, y = _quadrants()
    negatives = np.full((100, 2), 9.0, dtype=np.float32)
    moe = MixtureOfExperts(
        _experts(), gate=PANGate(features="logits", negatives=negatives, max_epochs=30,
                                 random_state=0)).fit(X, y)
    proba = moe.gate_.attribution_proba(moe.expert_outputs(negatives[:5]))
    assert np.all(proba < 0.5)  # nobody claims the other data


def test_negatives_in_another_format_raise():
    X, y = _quadrants()
    gate = PANGate(features="logits", negatives=np.zeros((10, 3), np.float32))
    with pytest.raises(ValueError, match=r"negatives has samples of shape \(3,\)"):
        MixtureOfExperts(_experts(), gate=gate).fit(X, y)


def test_several_networks_per_expert_pickle_and_clone():
    import pickle

    from sklearn.base import clone

    X, y = _quadrants()
    moe = MixtureOfExperts(_experts(), gate=PANGate(features="logits", n_networks=2,
                                                    max_epochs=3, random_state=0)).fit(X, y)
    again = pickle.loads(pickle.dumps(moe))
    np.testing.assert_array_equal(again.predict_proba(X), moe.predict_proba(X))
    refit = clone(moe).fit(X, y)  # same random_state: the same networks
    np.testing.assert_allclose(refit.predict_proba(X), moe.predict_proba(X), rtol=1e-6)


@pytest.mark.parametrize("sizes", [(0,), (2.7,), (-5,), (8, True), ("8",)])
def test_hidden_layer_sizes_must_be_positive_integers(sizes):
    # regression: (0,) was accepted, (2.7,) truncated to 2 and (-5,) a torch RuntimeError
    X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    y = np.argmax(X, axis=1)
    experts = [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]
    with pytest.raises(ValueError, match="hidden_layer_sizes must hold positive integers"):
        MixtureOfExperts(experts, gate=PANGate(features="logits",
                                               hidden_layer_sizes=sizes)).fit(X, y)


def test_networks_that_read_every_expert_route_where_their_own_expert_cannot_tell():
    # each expert's activations say only whether the *next* expert owns the input
    (outputs, y, _), (test, _, owner) = ring_outputs(n=600), ring_outputs(n=600, seed=1)
    routed = {}
    for reads in ("own", "all"):
        gate = PANGate(reads=reads, fallback="attribution", max_epochs=30, random_state=0)
        routed[reads] = np.mean(gate.fit(outputs, y).route(test) == owner)
    # alone, a network knows "not mine" for a third of the inputs and ties on the rest
    assert routed["own"] < 0.8 < 0.95 < routed["all"]


def test_reading_every_expert_gives_each_network_the_same_concatenated_features():
    outputs, _, _ = ring_outputs(n=5)
    own = PANGate(reads="own")._features(outputs)
    every = PANGate(reads="all")._features(outputs)
    assert [f.shape for f in own] == [(5, 2)] * 3
    assert [f.shape for f in every] == [(5, 6)] * 3
    np.testing.assert_array_equal(every[1], np.hstack(own))


def test_by_default_every_network_reads_every_expert_unless_negatives_are_given():
    X, y = _quadrants()
    negatives = np.full((100, 2), 9.0, dtype=np.float32)
    default = MixtureOfExperts(_experts(), gate=PANGate(features="logits", max_epochs=2))
    assert default.fit(X, y).gate_.reads_ == "all"
    assert default.gate_.networks_[0][0].n_features_in_ == 4  # both experts' two logits
    independent = MixtureOfExperts(_experts(), gate=PANGate(
        features="logits", negatives=negatives, max_epochs=2)).fit(X, y)
    assert independent.gate_.reads_ == "own"
    assert independent.gate_.networks_[0][0].n_features_in_ == 2
    paper = PANGate(features="logits", reads="own", negatives=None, max_epochs=2)
    assert MixtureOfExperts(_experts(), gate=paper).fit(X, y).gate_.reads_ == "own"


def test_the_default_fallback_is_the_most_confident_network():
    gate, X = _fitted_gate(threshold=1 - 1e-12)  # no network claims: all fall back
    outputs = _outputs(X)
    assert gate.fallback_ == "attribution"
    np.testing.assert_array_equal(gate.route(outputs),
                                  gate.attribution_proba(outputs).argmax(axis=1))


def test_a_gate_saved_before_reads_existed_routes_as_it_did():
    # gates pickled before ``reads`` (and ``reads_``) existed: every network read its own
    # expert, which the class attribute keeps
    gate, X = _fitted_gate(reads="own")
    outputs = _outputs(X)
    routed = gate.route_proba(outputs)
    state = gate.__getstate__()
    del state["reads"], state["reads_"]
    old = PANGate.__new__(PANGate)
    old.__setstate__(state)
    assert old._reads() == "own"
    np.testing.assert_array_equal(old.route_proba(outputs), routed)
