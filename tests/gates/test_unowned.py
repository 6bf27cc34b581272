"""A gate that learns routes from the labels' owners warns when an expert owns no label."""

import warnings

import numpy as np
import pytest

from skgate import MixtureOfExperts
from skgate.exceptions import SkgateWarning
from skgate.gates import FastRouter, FloorGate, PANGate, SoftMoE, UniversalGate
from skgate.utils._testing import slice_expert

X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
EXPERTS = [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]
LEARNED = [PANGate(features="logits", max_epochs=2, random_state=0),
           SoftMoE(max_epochs=2, random_state=0),
           FastRouter(max_epochs=2, validation_fraction=None, random_state=0)]


@pytest.mark.parametrize("gate", LEARNED, ids=lambda g: type(g).__name__)
def test_a_learned_gate_warns_at_the_users_line_when_an_expert_owns_no_label(gate):
    y = X[:, :2].argmax(axis=1)  # labels 0 and 1 only: expert "b" owns none
    with pytest.warns(SkgateWarning, match=r"no labelled sample belongs to the expert\(s\) "
                                           r"\['b'\]") as record:
        MixtureOfExperts(EXPERTS, gate=gate).fit(X, y)
    assert [w.filename for w in record if "labelled" in str(w.message)] == [__file__]


@pytest.mark.parametrize("gate", [*LEARNED, UniversalGate(random_state=0),
                                  FloorGate(PANGate(features="logits", max_epochs=2),
                                            random_state=0)],
                         ids=lambda g: type(g).__name__)
def test_no_warning_when_every_expert_owns_labels_or_the_gate_falls_back(gate):
    covered = isinstance(gate, tuple(type(g) for g in LEARNED))
    y = X.argmax(axis=1) if covered else X[:, :2].argmax(axis=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*no labelled sample", category=SkgateWarning)
        MixtureOfExperts(EXPERTS, gate=gate).fit(X, y)
