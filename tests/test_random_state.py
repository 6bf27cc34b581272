"""The user's random generators: nothing skgate does moves them unless the user asked.

A gate with a ``random_state`` draws from generators of its own; prediction draws from
none; loading a file or the pre-trained correction builds modules without drawing from the
user's generator, and under the package's seeding lock, so a seeded fit in another thread
gives what it gives alone.
"""

import threading

import numpy as np
import pytest
import torch

import skgate
from skgate import MixtureOfExperts
from skgate.gates import (
    AugmentedGate,
    FastRouter,
    FloorGate,
    NaiveConcatGate,
    PANGate,
    SoftMoE,
    UniversalGate,
)
from skgate.utils._testing import SizedExpert, tiny_expert

RNG = np.random.default_rng(0)
X = RNG.normal(size=(300, 6)).astype(np.float32)
Y = np.argmax(X[:, :4], axis=1)
TRUSTED = [SizedExpert]

GATES = {
    "naive": lambda: NaiveConcatGate(),
    "pan": lambda: PANGate(features="penultimate", max_epochs=2, random_state=0),
    "soft": lambda: SoftMoE("embedding", max_epochs=2, random_state=0),
    "universal": lambda: UniversalGate(random_state=0),
    "universal-pool": lambda: UniversalGate(random_state=0),
    "floor": lambda: FloorGate(PANGate(features="logits", max_epochs=2, random_state=0),
                               random_state=0),
    "router": lambda: FastRouter(max_epochs=2, random_state=0),
    "augmented": lambda: AugmentedGate(augmentations="gaussian", random_state=0),
}


def _experts():
    return [("a", tiny_expert([0, 1], hidden=(8,))),
            ("b", tiny_expert([2, 3], hidden=(8,), random_state=1))]


def _states():
    return torch.get_rng_state(), np.random.get_state()[1].copy()  # noqa: NPY002 - the legacy global one is what users seed


def _assert_unmoved(before, what):
    after = _states()
    assert torch.equal(before[0], after[0]), f"{what} moved torch's global generator"
    assert np.array_equal(before[1], after[1]), f"{what} moved numpy's global generator"


@pytest.mark.parametrize("name", GATES)
def test_a_seeded_fit_and_any_predict_leave_the_global_generators_alone(name):
    moe = MixtureOfExperts(_experts(), gate=GATES[name](), gate_split=0.4, random_state=0)
    y = Y.copy()
    if name == "universal-pool":  # a pool: the mixture subsamples it, the gate learns from it
        y[::3] = -1
    before = _states()
    moe.fit(X, y)
    _assert_unmoved(before, "fit")
    before = _states()
    moe.predict(X)
    moe.predict_proba(X)
    moe.route_proba(X)
    _assert_unmoved(before, "predict")


def test_loading_leaves_the_global_generators_alone(tmp_path):
    moe = MixtureOfExperts(_experts(), gate=SoftMoE(max_epochs=2, random_state=0),
                           random_state=0).fit(X, Y)
    skgate.save(moe, tmp_path / "moe.skgate")
    before = _states()
    skgate.load(tmp_path / "moe.skgate", trusted=TRUSTED)
    UniversalGate.pretrained()
    _assert_unmoved(before, "loading")


def test_a_seeded_fit_is_the_same_while_another_thread_loads(tmp_path):
    def fit():
        return MixtureOfExperts(_experts(), gate=SoftMoE(max_epochs=4, random_state=0),
                                random_state=0).fit(X, Y).predict_proba(X)

    alone = fit()
    skgate.save(MixtureOfExperts(_experts(), gate=NaiveConcatGate()).fit(X, Y),
                tmp_path / "moe.skgate")
    stop, loads, errors = threading.Event(), [], []

    def load_forever():
        try:
            while not stop.is_set():
                skgate.load(tmp_path / "moe.skgate", trusted=TRUSTED)
                UniversalGate.pretrained()
                loads.append(1)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    loader = threading.Thread(target=load_forever)
    loader.start()
    try:
        beside = fit()
    finally:
        stop.set()
        loader.join()
    assert not errors and len(loads) > 1  # the other thread kept loading all along
    np.testing.assert_array_equal(beside, alone)
