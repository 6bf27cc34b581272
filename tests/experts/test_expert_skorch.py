"""Expert keeps skorch's behaviour: dict inputs, custom data loading at predict, devices."""

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from skgate import Expert, MixtureOfExperts
from skgate.gates import PANGate


class _TwoInputs(torch.nn.Module):
    """A module with two named inputs, as skorch feeds a dict X."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(2, 2)
        self.b = torch.nn.Linear(3, 2)

    def forward(self, a, b):
        return self.a(a) + self.b(b)


def _linear():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))


def _data(n=64):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


def test_dict_inputs_reach_a_multi_input_module():
    rng = np.random.RandomState(0)
    X = {"a": rng.normal(size=(40, 2)).astype(np.float32),
         "b": rng.normal(size=(40, 3)).astype(np.float32)}
    y = (X["a"][:, 0] > 0).astype(int)
    seen = []

    def transform(x):  # the input transform gets the whole dict
        seen.append(sorted(x))
        return {"a": x["a"] * 2, "b": x["b"]}

    expert = Expert(_TwoInputs, classes=[0, 1], max_epochs=2, train_split=None,
                    input_transform=transform, random_state=0, verbose=0)
    expert.fit(X, y)
    assert expert.predict(X).shape == (40,)
    assert expert.predict_proba(X).shape == (40, 2)
    assert seen and all(keys == ["a", "b"] for keys in seen)
    module = expert.module_
    with torch.no_grad():
        expected = module(a=torch.as_tensor(X["a"]) * 2, b=torch.as_tensor(X["b"]))
    np.testing.assert_allclose(expert.forward(X).numpy(), expected.numpy(), rtol=1e-6)


def test_prediction_uses_a_custom_collate_fn():
    X, _ = _data()
    calls = []

    def collate(batch):
        calls.append(len(batch))
        Xb, yb = default_collate(batch)
        return Xb * 0, yb  # every input becomes zero

    module = _linear()
    plain = Expert.from_pretrained(module, classes=[0, 1])
    custom = Expert.from_pretrained(module, classes=[0, 1], iterator_valid__collate_fn=collate,
                                    iterator_valid__batch_size=16)
    zeros = plain.forward_outputs(np.zeros_like(X))[0]
    logits, layers = custom.forward_outputs(X, layers=["penultimate"])
    assert calls == [16, 16, 16, 16]
    np.testing.assert_allclose(logits, zeros)
    np.testing.assert_array_equal(layers["penultimate"], 0)
    np.testing.assert_allclose(custom.predict_proba(X), plain.predict_proba(np.zeros_like(X)))
    assert not np.allclose(plain.forward_outputs(X)[0], zeros)  # the fast path, unchanged


@pytest.mark.parametrize("params", [{"iterator_valid__num_workers": 0},
                                    {"dataset__length": None}])
def test_non_default_loading_takes_skorch_path_with_the_same_result(params):
    X, _ = _data()
    module = _linear()
    fast = Expert.from_pretrained(module, classes=[0, 1])
    assert fast._default_loading()
    slow = Expert.from_pretrained(module, classes=[0, 1], **params)
    assert not slow._default_loading()
    np.testing.assert_allclose(slow.predict_proba(X), fast.predict_proba(X), rtol=1e-6)


def test_device_auto_is_the_gates_vocabulary():
    X, y = _data()
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    expert = Expert(_linear, classes=[0, 1], device="auto", max_epochs=1, train_split=None,
                    verbose=0)
    assert expert.device == expected
    assert expert.fit(X, y).predict(X).shape == (len(X),)
    assert next(expert.module_.parameters()).device.type == expected
    expert.set_params(device="auto")
    assert expert.device == expected
    frozen = Expert.from_pretrained(_linear(), classes=[0, 1], device="auto")
    moe = MixtureOfExperts([("a", frozen), ("b", Expert.from_pretrained(
        _linear(), classes=[2, 3]))], gate=PANGate(device="auto", max_epochs=1)).fit(
        X, np.where(y == 1, 1, 2))
    assert moe.predict(X).shape == (len(X),)


@pytest.mark.parametrize("device, message", [
    ("gpu", "Expert's device='gpu' is not a torch device"),
    pytest.param("cuda", "Expert's device='cuda' needs CUDA", marks=pytest.mark.skipif(
        torch.cuda.is_available(), reason="CUDA is available")),
])
def test_bad_devices_are_named(device, message):
    X, y = _data()
    with pytest.raises(ValueError, match=message):
        Expert(_linear, classes=[0, 1], device=device, max_epochs=1, verbose=0).fit(X, y)
    with pytest.raises(ValueError, match=message):
        Expert.from_pretrained(_linear(), classes=[0, 1], device=device)
