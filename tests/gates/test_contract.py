"""The gate contract: GateTags, get_gate_tags, and frozen gates inside a mixture."""

from dataclasses import replace

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from skgate import MixtureOfExperts
from skgate.gates import (
    AugmentedGate,
    BaseGate,
    GateFit,
    GateTags,
    NaiveConcatGate,
    PANGate,
    SoftMoE,
    UniversalGate,
    get_gate_fit,
    get_gate_tags,
)
from skgate.utils._testing import slice_expert

X = np.random.default_rng(0).normal(size=(60, 6)).astype(np.float32)
Y = np.argmax(X, axis=1)


def _experts(n=2):
    width = 6 // n
    return [(f"e{k}", slice_expert(6, k * width, list(range(k * width, (k + 1) * width))))
            for k in range(n)]


@pytest.mark.parametrize("gate, expected", [
    (NaiveConcatGate(), GateTags(data_free=True)),
    (AugmentedGate(), GateTags(data_free=True)),
    (PANGate(features="logits"), GateTags(requires_labels=True)),
    (PANGate(), GateTags(requires_labels=True, expert_layers=("penultimate",))),
    (SoftMoE("linear", train_experts=True),
     GateTags(requires_labels=True, trains_experts=True)),
    (SoftMoE("embedding", heads="linear"),
     GateTags(requires_labels=True, defines_label_space=True, expert_layers=("penultimate",))),
    (UniversalGate(calibration="none"), GateTags(data_free=True, any_experts=True)),
    (UniversalGate(), GateTags(expert_layers=("penultimate",), uses_unlabelled=True,
                               max_unlabelled=10_000)),
    (UniversalGate(pool="ignore"), GateTags(expert_layers=("penultimate",))),
])
def test_every_gate_declares_its_tags(gate, expected):
    assert get_gate_tags(gate) == expected


def test_only_gates_are_accepted():
    with pytest.raises(TypeError, match="subclass of skgate.gates.BaseGate.*LogisticRegression"):
        get_gate_tags(LogisticRegression())
    with pytest.raises(TypeError, match="got LogisticRegression"):
        get_gate_tags(FrozenEstimator(LogisticRegression()))


class _Contradiction(BaseGate):
    def gate_tags(self):
        return replace(super().gate_tags(), data_free=True, requires_labels=True)


class _BadLayers(BaseGate):
    def expert_layers(self):
        return "penultimate"  # a string, not a tuple of names


class _NoTags(BaseGate):
    def gate_tags(self):
        return {"data_free": True}


@pytest.mark.parametrize("gate, error, match", [
    (_Contradiction(), ValueError, "data-free but also that it needs labels"),
    (_BadLayers(), TypeError, "expert_layers must be a tuple"),
    (_NoTags(), TypeError, "must return a GateTags, got dict"),
])
def test_inconsistent_tags_are_refused_by_the_mixture(gate, error, match):
    with pytest.raises(error, match=match):
        MixtureOfExperts(_experts(), gate=gate).fit(X, Y)


def test_a_frozen_gate_is_data_free_and_used_as_it_is():
    pan = MixtureOfExperts(_experts(), gate=PANGate(features="logits", max_epochs=3,
                                                    random_state=0)).fit(X, Y).gate_
    frozen = FrozenEstimator(pan)
    assert get_gate_tags(frozen).data_free and not get_gate_tags(frozen).requires_labels
    assert clone(frozen) is frozen
    moe = MixtureOfExperts(_experts(), gate=frozen).fit(X)  # no labels needed
    assert moe.gate_.estimator is pan
    np.testing.assert_array_equal(moe.route_proba(X), pan.route_proba(moe.expert_outputs(X)))
    with pytest.raises(ValueError, match="PANGate was fitted on 2 experts and is bound"):
        MixtureOfExperts(_experts(3), gate=frozen).fit(X)


def test_frozen_gates_that_need_fitting_are_refused():
    with pytest.raises(Exception, match="not fitted"):
        MixtureOfExperts(_experts(), gate=FrozenEstimator(PANGate())).fit(X, Y)
    soft = MixtureOfExperts(_experts(), gate=SoftMoE("embedding", heads="linear",
                                                     max_epochs=1)).fit(X, Y).gate_
    with pytest.raises(ValueError, match="cannot be reused"):
        MixtureOfExperts(_experts(), gate=FrozenEstimator(soft)).fit(X, Y)


def test_a_gate_that_needs_labels_says_so_in_the_mixture():
    with pytest.raises(ValueError, match="PANGate learns from labels: fit requires y"):
        MixtureOfExperts(_experts(), gate=PANGate()).fit(X)


def test_joint_training_is_recorded_by_the_mixture():
    from skgate.utils._testing import tiny_expert

    experts = [("a", tiny_expert([0, 1, 2])), ("b", tiny_expert([3, 4, 5]))]
    gate = SoftMoE("linear", train_experts=True, max_epochs=2, random_state=0)
    moe = MixtureOfExperts(experts, gate=gate).fit(X, Y)
    assert all(getattr(e, "jointly_trained_", False) for e in moe.experts_)
    assert not any(hasattr(e, "jointly_trained_") for _, e in experts)  # inputs untouched
    standalone = SoftMoE("linear", train_experts=True, max_epochs=1)
    assert not hasattr(standalone, "jointly_trained_")


@pytest.mark.parametrize("gate", [PANGate(features="logits", device="bogus"),
                                  SoftMoE("linear", device="bogus")])
def test_a_bad_device_is_named_before_training(gate):
    with pytest.raises(ValueError, match=r"device='bogus' is not a torch device"):
        MixtureOfExperts(_experts(), gate=gate).fit(X, Y)


def test_cuda_without_a_gpu_is_named():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="PANGate's device='cuda' needs CUDA"):
        MixtureOfExperts(_experts(), gate=PANGate(features="logits", device="cuda")).fit(X, Y)


class _LayersOnTheTags(NaiveConcatGate):
    """Declares its layers on the tags instead of with expert_layers(): refused."""

    def gate_tags(self):
        return replace(super().gate_tags(), expert_layers=("penultimate",))


def test_layers_are_declared_one_way_only():
    with pytest.raises(ValueError, match="declare the layers by overriding expert_layers"):
        get_gate_tags(_LayersOnTheTags())
    with pytest.raises(ValueError, match="declare the layers"):
        MixtureOfExperts(_experts(), gate=_LayersOnTheTags()).fit(X)


class _OwnLabels(BaseGate):
    """A gate with its own label space, kept under another name than classes_: the mixture
    takes it from the GateFit, not from an attribute."""

    def gate_tags(self):
        return replace(super().gate_tags(), requires_labels=True, defines_label_space=True)

    def _fit(self, outputs, y):
        self.labels_ = np.unique(y)
        self.model_ = LogisticRegression().fit(np.hstack(outputs.logits), y)

    def gate_fit(self):
        return GateFit(n_experts=self.n_experts_, classes=self.labels_)

    def _route_proba(self, outputs):
        return np.full((outputs.n_samples, outputs.n_experts), 1 / outputs.n_experts)

    def predict_proba(self, outputs):
        return self.model_.predict_proba(np.hstack(outputs.logits))


def test_the_mixture_takes_what_a_fitted_gate_hands_back_from_its_gate_fit():
    parity = np.where(Y % 2 == 0, "even", "odd")
    moe = MixtureOfExperts(_experts(), gate=_OwnLabels()).fit(X, parity)
    assert list(moe.classes_) == ["even", "odd"]
    assert set(moe.predict(X)) <= {"even", "odd"}
    fit = get_gate_fit(moe.gate_)
    assert fit.n_experts == 2 and fit.expert_modules is None


def test_get_gate_fit_checks_what_the_tags_promise():
    class NoClasses(_OwnLabels):
        def gate_fit(self):
            return GateFit(n_experts=self.n_experts_)

    with pytest.raises(ValueError, match="defines its own label space but its GateFit"):
        MixtureOfExperts(_experts(), gate=NoClasses()).fit(X, Y)
    gate = MixtureOfExperts(_experts(), gate=NaiveConcatGate()).fit(X).gate_
    with pytest.raises(ValueError, match="NaiveConcatGate was fitted on 2 experts"):
        get_gate_fit(gate, n_experts=3)
    soft = MixtureOfExperts(_experts(), gate=UniversalGate()).fit(X).gate_
    assert get_gate_fit(soft, n_experts=3).n_experts is None  # any experts


def test_the_mixture_reads_no_gate_attribute_outside_the_contract():
    # _moe.py (and its helpers _moe_fit.py, _moe_predict.py) calls the gate's fit,
    # route_proba and predict_proba (through getattr with the method's name) and reads the
    # rest through get_gate_tags and get_gate_fit
    import re
    from pathlib import Path

    import skgate._moe

    paths = sorted(Path(skgate._moe.__file__).parent.glob("_moe*.py"))
    assert len(paths) == 3, paths
    source = "\n".join(path.read_text() for path in paths)
    read = set(re.findall(r"\bgate_\.(\w+)", source))
    assert read <= {"fit", "route_proba"}, read
    assert not re.search(r"\bgate_\.estimator\b|getattr\(self\.gate_, \"", source)
