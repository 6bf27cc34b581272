"""FloorGate: a learned gate is used only where it validates above the floor."""

from dataclasses import replace

import numpy as np
import pytest

from skgate import MixtureOfExperts
from skgate.experts import ExpertSet
from skgate.gates import BaseGate, FloorGate, NaiveConcatGate, PANGate, UniversalGate
from skgate.utils._testing import frozen_linear, slice_expert


class AlwaysFirst(BaseGate):
    """A 'learned' gate that sends everything to the first expert."""

    def gate_tags(self):
        return replace(super().gate_tags(), requires_labels=True)

    def _route_proba(self, outputs):
        weights = np.zeros((outputs.n_samples, outputs.n_experts))
        weights[:, 0] = 1
        return weights


def _shifted(n=300, seed=0):
    """Two experts; e1's logits are 3 higher everywhere, so energy routes badly."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    owner = rng.integers(2, size=n)
    label = np.where(owner == 0, rng.integers(3, size=n), 3 + rng.integers(3, size=n))
    X[np.arange(n), label] += 3.0
    w = np.zeros((3, 7), np.float32)
    w[:, 3:6] = np.eye(3)
    w[:, 6] = 3.0  # a constant input adds 3 to every logit of e1
    X = np.hstack([X, np.ones((n, 1), np.float32)])
    experts = [("e0", slice_expert(7, 0, [0, 1, 2])), ("e1", frozen_linear(w, [3, 4, 5]))]
    return experts, X, label


def _routing(moe, X, y):
    owners = moe.expert_set_.owners(y)
    return owners[np.arange(len(y)), moe.route(X)].mean()


def test_a_gate_that_beats_the_floor_is_kept():
    experts, X, y = _shifted()
    gate = FloorGate(UniversalGate(None, calibration="shift", random_state=0), random_state=0)
    moe = MixtureOfExperts(experts, gate=gate).fit(X, y)
    energy = MixtureOfExperts(experts).fit(X)
    assert moe.gate_.chosen_ == "gate"
    assert moe.gate_.cv_scores_["gate"] > moe.gate_.cv_scores_["floor"]
    assert _routing(moe, X, y) > _routing(energy, X, y) + 0.1


def test_a_gate_below_the_floor_falls_back_to_it():
    _, X, y = _shifted()
    experts = [("e0", slice_expert(7, 0, [0, 1, 2])), ("e1", slice_expert(7, 3, [3, 4, 5]))]
    gate = FloorGate(AlwaysFirst(), floor=UniversalGate(None, calibration="none"))
    moe = MixtureOfExperts(experts, gate=gate).fit(X, y)
    assert moe.gate_.chosen_ == "floor" and moe.gate_.gate_ is None
    floor = MixtureOfExperts(experts, gate=UniversalGate(None, calibration="none")).fit(X)
    np.testing.assert_array_equal(moe.route_proba(X), floor.route_proba(X))


def test_too_few_labels_keep_the_floor():
    experts, X, y = _shifted()
    owners = ExpertSet(experts).owners(y)
    one = np.concatenate([np.flatnonzero(owners[:, k])[:1] for k in range(2)])
    gate = FloorGate(PANGate(features="logits", max_epochs=1))
    moe = MixtureOfExperts(experts, gate=gate).fit(X[one], y[one])
    assert moe.gate_.chosen_ == "floor" and moe.gate_.cv_scores_ == {}


def test_the_floor_must_be_data_free_and_layers_are_joined():
    experts, X, y = _shifted()
    with pytest.raises(ValueError, match="floor must be a data-free gate"):
        MixtureOfExperts(experts, gate=FloorGate(AlwaysFirst(), floor=PANGate())).fit(X, y)
    gate = FloorGate(PANGate(), floor=NaiveConcatGate())
    assert gate.expert_layers() == ("penultimate",)
    assert gate.gate_tags().requires_labels
