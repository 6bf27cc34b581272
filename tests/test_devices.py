"""Devices (issue #25): moving fitted mixtures, unpickling GPU-fitted ones without a GPU,
inputs that follow the module, device validation, seeding.

There is no GPU here: torch's ``meta`` device stands in for one where only placement
matters (a module there computes shapes, not values), files and pickles are made to look
GPU-saved by patching ``torch.serialization.location_tag`` while they are written (torch
then records ``cuda:0`` for every storage, and plain unpickling fails on this machine as it
would on a CPU-only one), and the tests that need a real GPU carry the ``cuda`` marker.
"""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from torch import nn

from skgate import Expert, MixtureOfExperts
from skgate.experts import ExpertSet
from skgate.gates import FastRouter, PANGate, SoftMoE
from skgate.gates._soft_modules import joint_expert_modules
from skgate.utils._device import resolve_device
from skgate.utils._testing import tiny_expert

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    y = X[:, :4].argmax(axis=1)
    return X, y


def _pretrained(classes, seed, **kwargs):
    torch.manual_seed(seed)
    module = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    return Expert.from_pretrained(module, classes=classes, **kwargs)


def _frozen_moe(gate=None):
    return MixtureOfExperts([("a", _pretrained([0, 1], 0)), ("b", _pretrained([2, 3], 1))],
                            gate=gate)


def _joint_moe():
    experts = [("a", tiny_expert([0, 1, 2, 3])), ("b", tiny_expert([0, 1, 2, 3]))]
    return MixtureOfExperts(experts, gate=SoftMoE("linear", train_experts=True, max_epochs=3,
                                                  random_state=0))


def _as_if_fitted_on_gpu(moe):
    """Every ``device`` a GPU fit would have left on the mixture's networks."""
    devices = []
    for expert in moe.experts_:
        devices.append((expert, expert.device))
        object.__setattr__(expert, "device", "cuda")
    gate = moe.gate_
    for net in [getattr(gate, "net_", None), getattr(gate, "router_", None)]:
        if net is not None:
            devices.append((net, net.device))
            object.__setattr__(net, "device", "cuda")
    if hasattr(gate, "device"):
        devices.append((gate, gate.device))
        gate.device = "cuda"
    return devices


def _gpu_pickled(obj, monkeypatch, dumps=pickle.dumps):
    """``obj`` pickled as on a GPU: every storage recorded as on ``cuda:0``."""
    restore = _as_if_fitted_on_gpu(obj) if isinstance(obj, MixtureOfExperts) else []
    try:
        with monkeypatch.context() as patch:
            patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
            return dumps(obj)
    finally:
        for owner, device in restore:
            object.__setattr__(owner, "device", device)


def _joblib_dumps(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def _joblib_loads(data):
    return joblib.load(io.BytesIO(data))


# -- #25 item 3: a mixture fitted on a GPU unpickles without one ---------------------------
def test_plain_torch_cannot_unpickle_a_gpu_pickled_module(monkeypatch):
    # the stand-in works: what a CPU-only machine does with a GPU-pickled module
    data = _gpu_pickled(nn.Linear(2, 2), monkeypatch)
    with pytest.raises(RuntimeError, match="CUDA"):
        pickle.loads(data)


@pytest.mark.parametrize("serializer", ["pickle", "joblib"])
@pytest.mark.parametrize("gate", ["soft", "joint", "router", "pan"])
def test_a_gpu_fitted_mixture_unpickles_on_the_cpu(data, monkeypatch, serializer, gate):
    X, y = data
    if gate == "joint":
        moe = _joint_moe()
    else:
        net = {"soft": SoftMoE("linear", max_epochs=2, random_state=0),
               "router": FastRouter(max_epochs=2, random_state=0),
               "pan": PANGate(max_epochs=2, random_state=0)}[gate]
        moe = _frozen_moe(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moe.fit(X, y)
    expected = moe.predict_proba(X)
    dumps, loads = ((pickle.dumps, pickle.loads) if serializer == "pickle"
                    else (_joblib_dumps, _joblib_loads))
    payload = _gpu_pickled(moe, monkeypatch, dumps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skorch's and skgate's "loaded on the CPU"
        loaded = loads(payload)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    assert all(expert.device == "cpu" for expert in loaded.experts_)
    if gate in ("soft", "joint"):
        assert loaded.gate_.module_ is loaded.gate_.net_.module_  # one module, as before
    for expert in loaded.experts_:
        if expert.frozen:
            assert expert.module is expert.module_


def test_an_unpickled_gpu_gate_says_it_now_runs_on_the_cpu(data, monkeypatch):
    X, y = data
    moe = _frozen_moe(SoftMoE("linear", max_epochs=1, random_state=0)).fit(X, y)
    payload = _gpu_pickled(moe, monkeypatch)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        loaded = pickle.loads(payload)
    assert loaded.gate_.device == "cpu"
    assert loaded.gate_.net_.device == "cpu"


def test_an_expert_with_a_gpu_input_transform_unpickles_on_the_cpu(monkeypatch):
    transform = _Shift()
    expert = Expert.from_pretrained(nn.Linear(3, 2), classes=[0, 1], input_transform=transform)
    X = np.ones((2, 3), np.float32)
    expected = expert.predict_proba(X)
    payload = _gpu_pickled(expert, monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = pickle.loads(payload)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


# -- #25 item 4: moving a fitted mixture -------------------------------------------------
def _placements(moe):
    """The device type of every tensor of the mixture's experts, transforms and gate."""
    found = set()
    for expert in moe.experts_:
        for module in (expert.module_, expert.criterion_, expert.input_transform):
            if isinstance(module, nn.Module):
                found |= {t.device.type for t in [*module.parameters(), *module.buffers()]}
    net = moe.gate_.net_
    found |= {t.device.type for t in net.module_.parameters()}
    return found


def test_to_moves_every_module_and_sets_the_devices(data):
    X, y = data
    moe = _frozen_moe(SoftMoE("linear", max_epochs=1, random_state=0)).fit(X, y)
    expected = moe.predict_proba(X)
    assert moe.to("cpu") is moe
    np.testing.assert_array_equal(moe.predict_proba(X), expected)
    moe.to("meta")  # the stand-in for a GPU
    assert _placements(moe) == {"meta"}
    assert [expert.device for expert in moe.experts_] == ["meta", "meta"]
    assert moe.gate_.device == "meta" and moe.gate_.net_.device == "meta"
    assert moe.gate.device == "meta"  # a refit trains there too


def test_to_moves_the_jointly_trained_experts_and_the_optimiser_state(data):
    X, y = data
    moe = _joint_moe().fit(X, y)
    moe.to("meta")
    assert _placements(moe) == {"meta"}
    for expert in moe.experts_:
        states = expert.optimizer_.state.values()
        assert all(v.device.type == "meta" for s in states for v in s.values() if v.dim())


def test_set_params_device_moves_an_expert(data):
    X, y = data
    frozen = _pretrained([0, 1], 0)
    frozen.set_params(device="meta")  # refused before: the device is not what it computes
    assert frozen.device == "meta" and frozen.module_[1].weight.is_meta
    with pytest.raises(ValueError, match="only its device"):
        frozen.set_params(lr=1.0)
    trained = tiny_expert([0, 1, 2, 3], max_epochs=1).fit(X, y)
    trained.set_params(device="meta")
    assert trained.module_.fc_out.weight.is_meta if hasattr(trained.module_, "fc_out") else \
        all(p.is_meta for p in trained.module_.parameters())


def test_to_validates_the_device(data):
    X, y = data
    moe = _frozen_moe().fit(X, y)
    with pytest.raises(ValueError, match="is not a torch device"):
        moe.to("gpu")


# -- #25 item 2: jointly trained experts live where they were trained ----------------------
def test_jointly_trained_experts_take_the_device_of_their_trained_modules(data):
    X, y = data
    experts = [("a", tiny_expert([0, 1, 2, 3], device=None)),
               ("b", tiny_expert([0, 1, 2, 3], device=None))]
    moe = MixtureOfExperts(experts, gate=SoftMoE("linear", train_experts=True, max_epochs=1,
                                                 random_state=0)).fit(X, y)
    # the gate trained them on its device: the experts say so (None left it unknown)
    assert [expert.device for expert in moe.experts_] == ["cpu", "cpu"]
    moe.expert_outputs(X[:5])
    moe.experts_[0].predict(X[:5])


# -- #25 item 1: the joint module's width is probed where the expert's module is -----------
def test_the_joint_width_probe_runs_on_the_experts_device(data):
    X, _ = data
    expert = _pretrained([0, 1], 0, device="meta")  # an expert on a "GPU", the gate elsewhere
    expert_set = ExpertSet([("a", expert)])
    (joint,) = joint_expert_modules(expert_set, X[:1], 2)
    assert all(p.is_meta for p in joint.parameters())


# -- #25 items 5, 6 and 12: inputs follow the module --------------------------------------
def test_inputs_go_where_the_module_is_with_device_none():
    module = nn.Linear(3, 2).to("meta")  # already on a "GPU"
    expert = Expert.from_pretrained(module, classes=[0, 1], device=None)
    out = expert.infer(torch.ones(4, 3))
    assert out.is_meta and out.shape == (4, 2)


class _Shift(nn.Module):
    """An input transform holding a tensor."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.full((3,), 0.5))

    def forward(self, x):
        return x - self.shift


def test_the_input_transform_moves_with_the_expert():
    transform = _Shift()
    expert = Expert(nn.Linear(3, 2), classes=[0, 1], input_transform=transform,
                    device="meta").initialize()
    assert transform.shift.is_meta
    assert expert.infer(torch.ones(4, 3)).is_meta  # runs: transform and module together
    other = Expert.from_pretrained(nn.Linear(3, 2), classes=[0, 1], input_transform=_Shift())
    other.to("meta")
    assert other.input_transform.shift.is_meta


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_an_expert_of_another_precision_predicts(data, dtype):
    X, y = data
    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(6, 2))
    reference = Expert.from_pretrained(module, classes=[0, 1]).predict_proba(X)
    low = Expert.from_pretrained(module.to(dtype), classes=[0, 1])
    proba = low.predict_proba(X)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba, reference, atol=2e-2)
    moe = MixtureOfExperts([("low", low), ("b", _pretrained([2, 3], 1))]).fit(X)
    assert moe.predict(X).shape == (len(X),)


# -- #25 item 9: device validation ---------------------------------------------------------
def test_a_gpu_index_this_machine_lacks_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0", "Expert") == "cuda:0"
    with pytest.raises(ValueError, match=r"device='cuda:7' names GPU 7, but this machine has 1 GPU"):
        resolve_device("cuda:7", "Expert")
    with pytest.raises(ValueError, match="names GPU 7"):
        Expert(nn.Linear(3, 2), classes=[0, 1], device="cuda:7").initialize()
    with pytest.raises(ValueError, match="SoftMoE's device"):
        SoftMoE(device=torch.device("cuda", 7))._device()


def test_gates_take_a_torch_device(data):
    X, y = data
    moe = _frozen_moe(SoftMoE("linear", max_epochs=1, device=torch.device("cpu"),
                              random_state=0)).fit(X, y)
    assert moe.predict(X).shape == (len(X),)


# -- #25 performance: pinned, asynchronous copies; one copy of a block per device ----------
def test_a_batch_goes_to_a_gpu_through_pinned_memory_asynchronously():
    from unittest import mock

    from skgate.experts._expert_batches import to_module_device

    batch = mock.Mock()
    on_gpu = to_module_device(batch, "cuda:1")
    batch.pin_memory.assert_called_once_with()
    batch.pin_memory.return_value.to.assert_called_once_with(torch.device("cuda:1"),
                                                             non_blocking=True)
    assert on_gpu is batch.pin_memory.return_value.to.return_value
    cpu_batch = torch.ones(2, 3)
    assert to_module_device(cpu_batch, "cpu") is cpu_batch  # no copy on the CPU
    assert to_module_device(cpu_batch, None) is cpu_batch
    assert to_module_device(cpu_batch, "meta").is_meta  # another device: a plain copy


def test_each_block_is_copied_once_to_each_device_the_experts_are_on(data, monkeypatch):
    from skgate.experts import _set_passes

    X, _ = data
    experts = [("a", _pretrained([0, 1], 0, batch_size=50)),
               ("b", _pretrained([2, 3], 1, batch_size=50)),
               ("c", _pretrained([4, 5], 2, batch_size=50))]
    expert_set = ExpertSet(experts)
    # as if "a" and "c" were on one GPU and "b" on another (their modules stay on the CPU)
    for (_, expert), device in zip(experts, ["cuda:0", "cuda:1", "cuda:0"]):
        monkeypatch.setattr(expert, "_input_device", lambda device=device: device)
    copies = []

    def copy(batch, device):
        copies.append((len(batch), device))
        return batch

    monkeypatch.setattr(_set_passes, "to_module_device", copy)
    outputs = expert_set.outputs(X)  # 120 samples: blocks of 50, 50 and 20
    assert copies == [(50, "cuda:0"), (50, "cuda:1")] * 2 + [(20, "cuda:0"), (20, "cuda:1")]
    monkeypatch.undo()
    reference = ExpertSet(experts).outputs(X)  # the same outputs as without the staging
    for got, expected in zip(outputs.logits, reference.logits):
        np.testing.assert_array_equal(got, expected)


def test_the_rows_of_one_expert_go_to_its_modules_device(data, monkeypatch):
    from skgate.experts import _expert_batches

    X, _ = data
    expert = _pretrained([0, 1], 0, batch_size=16)
    seen = []

    def copy(batch, device):
        seen.append((len(batch), device))
        return batch

    monkeypatch.setattr(_expert_batches, "to_module_device", copy)
    ExpertSet([("a", expert)]).proba(0, X, rows=np.arange(0, 40, 2))  # 20 rows
    assert seen == [(16, torch.device("cpu")), (4, torch.device("cpu"))]


def test_pin_memory_keeps_the_fast_path(data):
    X, _ = data
    plain = _pretrained([0, 1], 0)
    pinned = _pretrained([0, 1], 0, iterator_valid__pin_memory=True)
    assert pinned._reads_arrays(X)  # not skorch's per-sample Dataset and DataLoader
    np.testing.assert_array_equal(pinned.predict_proba(X), plain.predict_proba(X))


# -- on a real GPU -------------------------------------------------------------------------
@pytest.mark.cuda
@needs_cuda
def test_on_a_gpu_a_mixture_moves_and_keeps_its_predictions(data):
    X, y = data
    moe = _frozen_moe(SoftMoE("linear", max_epochs=2, device="cuda", random_state=0))
    moe.fit(X, y)
    on_gpu = moe.predict_proba(X)
    np.testing.assert_allclose(moe.to("cpu").predict_proba(X), on_gpu, atol=1e-5)
    np.testing.assert_allclose(moe.to("cuda").predict_proba(X), on_gpu, atol=1e-5)


@pytest.mark.cuda
@needs_cuda
def test_on_a_gpu_joint_training_with_experts_on_the_cpu(data):
    X, y = data
    experts = [("a", tiny_expert([0, 1, 2, 3])), ("b", tiny_expert([0, 1, 2, 3]))]
    moe = MixtureOfExperts(experts, gate=SoftMoE("linear", train_experts=True, max_epochs=2,
                                                 device="cuda", random_state=0)).fit(X, y)
    assert all(str(expert.device).startswith("cuda") for expert in moe.experts_)
    outputs = moe.expert_outputs(X)
    assert outputs.n_samples == len(X)
    moe.experts_[0].predict(X)
    moe.predict(X)


@pytest.mark.cuda
@needs_cuda
def test_on_a_gpu_threads_use_the_modules_gpu(data):
    X, y = data
    moe = _frozen_moe().fit(X, y).to("cuda")
    np.testing.assert_allclose(moe.set_params(n_jobs=2).predict_proba(X),
                               moe.set_params(n_jobs=1).predict_proba(X), atol=1e-6)
