"""The gates that train torch networks: shared constraints and skorch-style optimizer params."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skgate import MixtureOfExperts
from skgate.gates import PANGate, SoftMoE
from skgate.gates._torch import TorchGate
from skgate.utils._param_validation import InvalidParameterError
from skgate.utils._testing import frozen_linear


def _data(n=200):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    y = np.where(X[:, 0] > 0, 0, 2) + (X[:, 1] > 0)
    return X, y


def _experts():
    return [("pos", frozen_linear([[1, -1], [1, 1]], [0, 1])),
            ("neg", frozen_linear([[-1, -1], [-1, 1]], [2, 3]))]


def _optimizers(gate):
    if isinstance(gate, SoftMoE):
        return [gate.net_.optimizer_]
    return [pipe[-1].optimizer_ for pipe in gate.networks_]


@pytest.mark.parametrize("Gate", [PANGate, SoftMoE])
def test_both_share_the_torch_gate_constraints(Gate):
    assert issubclass(Gate, TorchGate)
    for name, constraint in TorchGate._parameter_constraints.items():
        assert Gate._parameter_constraints[name] == constraint
    assert Gate().optimizer is torch.optim.Adam


@pytest.mark.parametrize("Gate", [PANGate, SoftMoE])
def test_optimizer_and_its_prefixed_params_reach_the_optimizer(Gate):
    X, y = _data()
    gate = Gate(optimizer=torch.optim.SGD, optimizer__momentum=0.5,
                optimizer__weight_decay=0.25, max_epochs=1, random_state=0)
    moe = MixtureOfExperts(_experts(), gate=gate).fit(X, y)
    for optimizer in _optimizers(moe.gate_):
        assert isinstance(optimizer, torch.optim.SGD)
        assert optimizer.param_groups[0]["momentum"] == 0.5
        assert optimizer.param_groups[0]["weight_decay"] == 0.25


@pytest.mark.parametrize("Gate", [PANGate, SoftMoE])
def test_prefixed_params_are_params(Gate):
    gate = Gate(optimizer__weight_decay=0.1)
    assert gate.get_params()["optimizer__weight_decay"] == 0.1
    assert clone(gate).get_params()["optimizer__weight_decay"] == 0.1
    assert "optimizer__weight_decay=0.1" in repr(gate)
    gate.set_params(optimizer__weight_decay=0.2, lr=0.5)
    assert gate.get_params()["optimizer__weight_decay"] == 0.2 and gate.lr == 0.5
    assert "optimizer__weight_decay" not in Gate().get_params()


def test_prefixed_params_can_be_searched_through_the_mixture():
    X, y = _data()
    moe = MixtureOfExperts(_experts(), gate=SoftMoE("linear", max_epochs=1, random_state=0))
    search = GridSearchCV(moe, {"gate__optimizer__weight_decay": [0.0, 0.5]}, cv=2).fit(X, y)
    assert [p["gate__optimizer__weight_decay"] for p in search.cv_results_["params"]] == [
        0.0, 0.5]
    assert search.best_estimator_.gate_.net_.optimizer_.param_groups[0]["weight_decay"] in (
        0.0, 0.5)


@pytest.mark.parametrize("Gate", [PANGate, SoftMoE])
def test_unprefixed_unknown_keywords_are_refused_in_fit(Gate):
    X, y = _data()
    gate = Gate(weight_decy=0.1)  # scikit-learn estimators check their parameters in fit
    with pytest.raises(InvalidParameterError, match=r"\['weight_decy'\].*optimizer__"):
        MixtureOfExperts(_experts(), gate=gate).fit(X, y)


def test_soft_weight_decay_and_its_prefixed_twin_conflict():
    X, y = _data()
    gate = SoftMoE("linear", weight_decay=0.1, optimizer__weight_decay=0.2, max_epochs=1)
    with pytest.raises(ValueError, match="set one or the other"):
        MixtureOfExperts(_experts(), gate=gate).fit(X, y)


@pytest.mark.parametrize("Gate", [PANGate, SoftMoE])
def test_optimizer_must_be_callable(Gate):
    X, y = _data()
    with pytest.raises(InvalidParameterError, match="The 'optimizer' parameter"):
        MixtureOfExperts(_experts(), gate=Gate(optimizer="adam")).fit(X, y)
