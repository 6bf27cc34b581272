"""skgate's warnings derive from SkgateWarning, which users can filter."""

import warnings

import numpy as np
import pytest

import skgate
from skgate import MixtureOfExperts
from skgate.exceptions import SkgateWarning
from skgate.gates import PANGate
from skgate.utils._testing import tiny_expert


def _fit_with_the_gate_on_the_experts_data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 2)).astype(np.float32)
    y = np.where(X[:, 0] > 0, 0, 2) + (X[:, 1] > 0)
    experts = [("pos", tiny_expert([0, 1], max_epochs=1)),
               ("neg", tiny_expert([2, 3], max_epochs=1))]
    MixtureOfExperts(experts, gate=PANGate(features="logits", max_epochs=1,
                                           random_state=0)).fit(X, y)


def test_skgate_warning_is_a_public_user_warning():
    assert issubclass(SkgateWarning, UserWarning)
    assert skgate.exceptions.SkgateWarning is SkgateWarning


def test_the_mixture_warns_with_skgate_warning():
    with pytest.warns(SkgateWarning, match="fitted on the data the experts were trained on"):
        _fit_with_the_gate_on_the_experts_data()


def test_filtering_skgate_warning_silences_skgate_only():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=SkgateWarning)
        _fit_with_the_gate_on_the_experts_data()
        warnings.warn("another library's warning", UserWarning, stacklevel=1)
    assert not [w for w in caught if issubclass(w.category, SkgateWarning)]
    assert [str(w.message) for w in caught if w.category is UserWarning] == [
        "another library's warning"]
