"""UniversalGate: energy with no data, reuse on any experts, calibration, safe weights."""

import json
import pickle

import numpy as np
import pytest
import torch
from scipy.special import logsumexp, softmax
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV

from skgate import MixtureOfExperts
from skgate.experts import ExpertSet
from skgate.gates import NaiveConcatGate, UniversalGate
from skgate.gates._level_selection import CALIBRATIONS
from skgate.gates._universal_features import universal_features
from skgate.gates._universal_io import load_correction
from skgate.gates._universal_modules import _Calibration
from skgate.utils._testing import frozen_linear, ring_outputs, slice_expert

RNG = np.random.default_rng(0)


def _blocks(n_classes, n=240, scale=3.0, seed=0):
    """Inputs whose logits are a slice per expert; the owner's block gets a bump."""
    rng = np.random.default_rng(seed)
    width = sum(n_classes)
    owner = rng.integers(len(n_classes), size=n)
    X = rng.normal(size=(n, width)).astype(np.float32)
    starts = np.cumsum([0, *n_classes[:-1]])
    labels = []
    for i, k in enumerate(owner):
        c = rng.integers(n_classes[k])
        X[i, starts[k] + c] += scale
        labels.append(starts[k] + c)
    experts = [(f"e{k}", slice_expert(width, int(s), list(range(s, s + c))))
               for k, (s, c) in enumerate(zip(starts, n_classes))]
    return experts, X, np.asarray(labels)


def _outputs(experts, X):
    return ExpertSet(experts).outputs(X)


# -- the statistics ---------------------------------------------------------------------
def test_universal_features_by_hand():
    z = np.array([[3.0, 1.0, 0.0, 0.0]])
    names = ["energy", "max_logit", "log_max_proba", "margin", "top2_gap", "top3_gap",
             "log_n_classes", "mean", "min", "median", "entropy_ratio"]
    f = universal_features([z], names)[0, 0]
    energy = np.log(np.exp(3) + np.exp(1) + 2)
    std = z.std()
    expected = [energy, 3.0, 3.0 - energy, 2.0, 2.0 / std, 3.0 / std, np.log(4), 1.0, 0.0,
                0.5]
    np.testing.assert_allclose(f[:-1], expected)
    uniform = universal_features([np.zeros((1, 5))], ["entropy_ratio", "top2_gap"])[0, 0]
    np.testing.assert_allclose(uniform, [1.0, 0.0])  # a flat row: no division by zero


def test_universal_features_any_number_of_classes():
    logits = [RNG.normal(size=(4, c)) for c in (1, 2, 3, 10)]
    f = universal_features(logits, ["margin", "top3_gap", "entropy_ratio"])
    assert f.shape == (4, 4, 3) and np.all(np.isfinite(f))


# -- energy when there is no data ------------------------------------------------------
@pytest.mark.parametrize("params", [
    {"correction": None},
    {"correction": "linear"},
    {"correction": "mlp", "calibration": "network"},
])
def test_zero_data_routes_exactly_as_energy(params):
    experts, X, _ = _blocks([3, 5, 10])
    outputs = _outputs(experts, X)
    gate = UniversalGate(**params).fit(outputs)  # no labels
    energy = NaiveConcatGate("energy").fit(outputs)
    np.testing.assert_array_equal(gate.route_proba(outputs), energy.route_proba(outputs))
    np.testing.assert_allclose(gate.scores(outputs), np.column_stack(
        [logsumexp(z.astype(np.float64), axis=1) for z in outputs.logits]))
    assert gate.calibration_ == "none" and gate.cv_scores_ == {}


def test_an_untrained_correction_is_zero():
    experts, X, y = _blocks([2, 4])
    outputs = _outputs(experts, X)
    gate = UniversalGate("mlp", calibration="none", max_iter=1, alpha=1e9).fit(outputs, y)
    np.testing.assert_allclose(gate.universal_scores(outputs),
                               np.column_stack([logsumexp(z.astype(np.float64), axis=1) for z in outputs.logits]),
                               atol=1e-6)


def test_soft_energy_mixing_is_the_softmax_of_the_concatenated_logits():
    experts, X, _ = _blocks([3, 4])
    moe = MixtureOfExperts(experts, gate=UniversalGate(None, calibration="none",
                                                      mixing="soft")).fit(X)
    outputs = moe.expert_outputs(X)
    np.testing.assert_allclose(moe.predict_proba(X), softmax(np.hstack(outputs.logits), 1),
                               rtol=1e-6)
    np.testing.assert_allclose(moe.route_proba(X).sum(axis=1), 1.0)


# -- learning --------------------------------------------------------------------------
def test_a_learned_correction_fixes_an_overconfident_expert():
    experts, X, y = _blocks([4, 4], scale=2.0)
    # expert e1 is over-confident: its logits are three times larger everywhere
    w = np.zeros((4, 8))
    w[:, 4:] = 3 * np.eye(4)
    experts[1] = ("e1", frozen_linear(w, list(range(4, 8))))
    outputs = _outputs(experts, X)
    owners = ExpertSet(experts).owners(y)
    energy = NaiveConcatGate().fit(outputs).route(outputs)
    gate = UniversalGate("linear", calibration="none", alpha=1e-3,
                         random_state=0).fit(outputs, y)
    routed = gate.route(outputs)
    assert owners[np.arange(len(y)), routed].mean() > owners[np.arange(len(y)), energy].mean()


def test_the_activations_level_reads_the_layer_only_when_chosen():
    experts, X, y = _blocks([3, 3], n=300)
    gate = UniversalGate(None, calibration="auto", random_state=0)
    assert gate.expert_layers() == ("penultimate",)
    moe = MixtureOfExperts(experts, gate=gate).fit(X, y)
    chosen = moe.gate_.calibration_
    pool_reads = moe.gate_.pool_used_ and moe.gate_.pool_report_["level"] == "activations"
    reads = chosen == "activations" or pool_reads
    assert moe.gate_tags_.expert_layers == (("penultimate",) if reads else ())
    plain = MixtureOfExperts(experts, gate=UniversalGate(None, pool_calibration="affine",
                                                         random_state=0)).fit(X, y)
    if plain.gate_.calibration_ != "activations":  # an affine pool reads no activations
        assert plain.gate_tags_.expert_layers == ()
    forced = MixtureOfExperts(experts, gate=UniversalGate(None, calibration="activations",
                                                          random_state=0)).fit(X, y)
    assert forced.gate_tags_.expert_layers == ("penultimate",)
    assert forced.score(X, y) > 0.8
    assert UniversalGate(layer=None).expert_layers() == ()


def test_the_joint_level_lets_one_experts_outputs_route_another():
    (outputs, y, _), (test, _, test_owner) = ring_outputs(n=400), ring_outputs(n=400, seed=1)
    gate = UniversalGate(None, pool="ignore", calibration="joint", random_state=0)
    routed = {level: (UniversalGate(None, pool="ignore", calibration=level, random_state=0)
                      .fit(outputs, y).route(test) == test_owner).mean()
              for level in ("activations", "joint")}
    # per expert, an input marked "the next one's" is not mine, and the other two tie
    assert routed["activations"] < 0.8 < 0.95 < routed["joint"]
    assert gate.fit(outputs, y).expert_layers() == ("penultimate",)
    auto = UniversalGate(None, pool="ignore", random_state=0).fit(outputs, y)
    assert auto.calibration_ == "joint" and auto.cv_scores_["joint"] > 0.95


def test_the_joint_level_starts_at_the_identity_with_one_map_over_every_expert():
    rng = np.random.default_rng(0)
    inputs = {"scores": torch.as_tensor(rng.normal(size=(5, 3))),
              "features": torch.as_tensor(rng.normal(size=(5, 3, 4))),
              "logits": [torch.as_tensor(rng.normal(size=(5, c))) for c in (2, 3, 4)],
              "acts": [torch.as_tensor(rng.normal(size=(5, a))) for a in (6, 1, 2)]}
    module = _Calibration("joint", inputs, hidden_units=16).double()
    torch.testing.assert_close(module(inputs), inputs["scores"])
    assert module.joint.weight.shape == (3, 2 + 3 + 4 + 6 + 1 + 2)  # every expert's outputs


def test_calibration_auto_follows_the_number_of_labels():
    experts, X, y = _blocks([3, 3], n=400)
    outputs = _outputs(experts, X)
    owners = ExpertSet(experts).owners(y)
    one = np.concatenate([np.flatnonzero(owners[:, k])[:1] for k in range(2)])
    gate = UniversalGate(None, random_state=0).fit(_subset(outputs, one), y[one])
    assert gate.calibration_ in ("none", "shift") and gate.cv_scores_ == {}  # unvalidated
    gate = UniversalGate(None, pool="ignore", random_state=0).fit(outputs, y)
    assert set(gate.cv_scores_) == set(CALIBRATIONS) - {"activations", "joint"}  # no layer
    pooled = UniversalGate(None, random_state=0).fit(outputs, y)  # the pool is compared too
    compared = set(CALIBRATIONS) - {"activations", "joint"} | {"pool"}
    assert set(pooled.cv_scores_) - {"pool+labels"} == compared
    # with 200 labels per expert a shift wins the sign test against no calibration; its
    # cross-validated routing is above that of none
    assert gate.calibration_ == "shift"
    assert gate.cv_scores_["shift"] > gate.cv_scores_["none"]
    assert gate.n_experts_ == 2


def _subset(outputs, rows):
    return outputs.subset(rows)


def test_one_label_per_expert_shifts_only_when_energy_misroutes_one():
    experts, X, y = _blocks([3, 3], n=300, scale=2.0)
    outputs = _outputs(experts, X)
    outputs.logits[1] = outputs.logits[1] + 2.0  # e1 wins too often
    owners = ExpertSet(experts).owners(y)
    energy = NaiveConcatGate().fit(outputs).route(outputs)
    right = owners[np.arange(len(y)), energy]
    mine0, mine1 = owners[:, 0], owners[:, 1]
    gap = np.subtract(*NaiveConcatGate().fit(outputs).expert_scores(outputs).T[::-1])
    wrong = np.flatnonzero(mine0 & ~right)  # inputs of e0 that energy gives e1
    wrong0 = wrong[np.argsort(gap[wrong])[:1]]  # the nearest miss: a shift can fix it
    right1 = np.flatnonzero(mine1 & right)[:1]
    right0 = np.flatnonzero(mine0 & right)[:1]
    gate = UniversalGate(None, random_state=0)
    rows = np.concatenate([wrong0, right1])
    assert gate.fit(_subset(outputs, rows), y[rows]).calibration_ == "shift"
    rows = np.concatenate([right0, right1])  # energy routes both right: nothing to fix
    assert gate.fit(_subset(outputs, rows), y[rows]).calibration_ == "none"


@pytest.mark.parametrize("level", [lv for lv in CALIBRATIONS[1:] if lv not in
                                   ("activations", "joint")])  # these read activations
def test_each_calibration_fixes_a_shifted_expert(level):
    experts, X, y = _blocks([3, 3], n=300, scale=2.0)
    # e1's logits are all raised by 2: energy sends it most inputs
    experts[1] = ("e1", frozen_linear(np.eye(6)[3:], [3, 4, 5]))
    X_shifted = X.copy()
    outputs = _outputs(experts, X_shifted)
    outputs.logits[1] = outputs.logits[1] + 2.0
    owners = ExpertSet(experts).owners(y)

    def routing(routed):
        return owners[np.arange(len(y)), routed].mean()

    energy = routing(NaiveConcatGate().fit(outputs).route(outputs))
    gate = UniversalGate(None, calibration=level, random_state=0).fit(outputs, y)
    assert routing(gate.route(outputs)) > energy + 0.05
    assert gate.calibration_ == level and gate.n_experts_ == 2


# -- reuse on other experts ---------------------------------------------------------------
def _fitted_universal():
    experts, X, y = _blocks([3, 5], n=300)
    return MixtureOfExperts(experts, gate=UniversalGate("linear", calibration="none",
                                                       random_state=0)).fit(X, y).gate_


@pytest.mark.parametrize("n_classes", [[3, 5], [10, 3, 5], [3, 5, 10, 3, 10]])
def test_a_frozen_gate_serves_any_experts(n_classes):
    gate = _fitted_universal()
    experts, X, y = _blocks(n_classes, seed=1)
    moe = MixtureOfExperts(experts, gate=FrozenEstimator(gate)).fit(X)
    weights = moe.route_proba(X)
    assert weights.shape == (len(X), len(n_classes))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert moe.gate_.estimator is gate
    assert moe.score(X, y) > 0.8


@pytest.mark.parametrize("n_experts", [2, 3, 5])
def test_pretrained_gate_with_experts_of_3_5_10_classes(n_experts):
    n_classes = [3, 5, 10, 5, 3][:n_experts]
    experts, X, y = _blocks(n_classes, seed=2, scale=6.0)
    moe = MixtureOfExperts(experts, gate=UniversalGate.pretrained()).fit(X)
    assert moe.route_proba(X).shape == (len(X), n_experts)
    assert moe.score(X, y) > 0.8
    # it needs no labels, and a calibrating gate learns from a few
    calibrated = MixtureOfExperts(experts, gate=UniversalGate(random_state=0)).fit(X, y)
    # every level routes (nearly) every held-out sample right: none is clearly better, none
    # is kept (the joint level, fitted on every expert's outputs at once, misses one of 1,200)
    scores = calibrated.gate_.cv_scores_
    assert scores["none"] == 1.0 and min(scores.values()) > 0.99
    assert calibrated.gate_.calibration_ == "none"
    assert calibrated.score(X, y) > 0.8


def _state(frozen):
    gate = frozen.estimator
    return {k: v.copy() for k, v in gate.correction_["state"].items()}


def test_pretrained_survives_clone_fit_search_and_pickle():
    frozen = UniversalGate.pretrained()
    before = _state(frozen)
    assert clone(frozen) is frozen
    experts, X, y = _blocks([3, 5], n=120)
    moe = MixtureOfExperts(experts, gate=frozen).fit(X, y)
    assert moe.gate_ is frozen
    search = GridSearchCV(MixtureOfExperts(experts, gate=frozen),
                          {"gate": [frozen, NaiveConcatGate()]}, cv=2).fit(X, y)
    assert search.best_estimator_.gate_ is not None
    for key, value in _state(frozen).items():
        np.testing.assert_array_equal(value, before[key])
    restored = pickle.loads(pickle.dumps(moe))
    np.testing.assert_array_equal(restored.route_proba(X), moe.route_proba(X))
    np.testing.assert_array_equal(restored.predict_proba(X), moe.predict_proba(X))


def test_pretrained_is_not_energy_and_records_its_provenance():
    frozen = UniversalGate.pretrained()
    c = frozen.estimator.correction_
    assert c["provenance"]["command"].startswith("SKGATE_DATA_DIR=")
    # weights that matter (about 0.015, docs/benchmarks.md), not merely non-zero: the
    # shared scores move away from energy by more than float noise
    assert np.abs(np.asarray(c["state"]["weight"])).max() > 1e-3
    experts, X, _ = _blocks([3, 3])
    outputs = MixtureOfExperts(experts, gate=frozen).fit(X).expert_outputs(X)
    energy = NaiveConcatGate("energy").fit(outputs).expert_scores(outputs)
    assert np.abs(frozen.estimator.universal_scores(outputs) - energy).max() > 1e-2


def test_a_calibrated_gate_is_bound_to_its_experts():
    experts, X, y = _blocks([3, 3], n=200)
    gate = UniversalGate(None, calibration="affine", random_state=0)
    gate = MixtureOfExperts(experts, gate=gate).fit(X, y).gate_
    assert not gate.gate_tags().any_experts
    three, X3, _ = _blocks([3, 3, 3])
    with pytest.raises(ValueError, match="fitted on 2 experts and is bound to them"):
        MixtureOfExperts(three, gate=FrozenEstimator(gate)).fit(X3)


def test_an_unfitted_frozen_gate_is_refused():
    experts, X, _ = _blocks([3, 3])
    with pytest.raises(Exception, match="not fitted"):
        MixtureOfExperts(experts, gate=FrozenEstimator(UniversalGate())).fit(X)


# -- the weights file ---------------------------------------------------------------------
def test_save_and_load_a_correction(tmp_path):
    gate = _fitted_universal()
    path = tmp_path / "gate.json"
    gate.save_correction(path, provenance={"by": "test"})
    assert load_correction(path)["provenance"] == {"by": "test"}
    experts, X, _ = _blocks([5, 3, 10], seed=3)
    outputs = _outputs(experts, X)
    loaded = UniversalGate(path, calibration="none").fit(outputs)
    np.testing.assert_allclose(loaded.scores(outputs), gate.scores(outputs))


class _Boom:
    def __reduce__(self):
        return (print, ("executed",))


def test_the_loader_refuses_a_pickle(tmp_path, capsys):
    path = tmp_path / "evil.json"
    path.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ValueError, match="not JSON.*never unpickles"):
        load_correction(path)
    experts, X, _ = _blocks([3, 3])
    with pytest.raises(ValueError, match="not JSON"):
        UniversalGate(path).fit(_outputs(experts, X))
    assert "executed" not in capsys.readouterr().out


def test_the_loader_refuses_other_json(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"weights": [1, 2]}))
    with pytest.raises(ValueError, match="not a skgate correction file"):
        load_correction(path)
    gate = _fitted_universal()
    gate.save_correction(path)
    data = json.loads(path.read_text())
    data["feature_mean"][0] = float("nan")
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="non-finite"):
        load_correction(path)


def test_bad_parameters_are_named():
    experts, X, y = _blocks([3, 3])
    outputs = _outputs(experts, X)
    with pytest.raises(ValueError, match="unknown statistics"):
        UniversalGate("linear", features=["energy", "bogus"]).fit(outputs, y)
    with pytest.raises(ValueError, match="pretrain learns a correction"):
        UniversalGate(None).pretrain([(outputs, y)])
    with pytest.raises(ValueError, match="calibration"):
        UniversalGate(calibration="huge").fit(outputs, y)
    with pytest.raises(ValueError, match="no correction to save"):
        UniversalGate(None).fit(outputs).save_correction("x.json")


def test_pretrain_pools_problems_with_different_experts():
    a_experts, Xa, ya = _blocks([3, 5], seed=4)
    b_experts, Xb, yb = _blocks([10, 2, 4], seed=5)
    gate = UniversalGate("linear", random_state=0).pretrain(
        [(_outputs(a_experts, Xa), ya), (_outputs(b_experts, Xb), yb)])
    assert gate.calibration_ == "none" and gate.gate_tags().any_experts
    assert not hasattr(gate, "n_experts_")


def test_levels_are_validated_when_an_expert_is_no_samples_first_owner():
    # three experts on overlapping pairs of three classes, {0, 1}, {1, 2}, {2, 0}: the last
    # owns classes 2 and 0, whose first owners are the others; it still owns a third of the
    # samples, and cross-validation must still compare the levels
    from skgate.gates._level_selection import held_out_hits

    y = np.arange(90) % 3
    owners = np.stack([np.isin(y, pair) for pair in ([0, 1], [1, 2], [2, 0])], axis=1)
    assert not (owners.argmax(axis=1) == 2).any() and owners[:, 2].sum() == 60
    hits = held_out_hits(owners, lambda train, test: np.full(len(test), 2), cv=3, repeats=2,
                         seed=0)
    # routed to the third expert, a sample is right when it owns it: classes 2 and 0
    np.testing.assert_array_equal(hits, 2.0 * np.isin(y, [2, 0]))
    assert held_out_hits(owners[:1], lambda train, test: test, cv=3, repeats=1,
                         seed=0) is None  # one sample: nothing to validate
