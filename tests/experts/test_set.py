"""ExpertSet: label mapping, combination, outputs and layers; a mixture end to end."""

import math
import re
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from skgate import Expert, MixtureOfExperts
from skgate.experts import ExpertSet
from skgate.gates import BaseGate, NaiveConcatGate
from skgate.utils._testing import frozen_linear, slice_expert


def _expert(classes, n_in=2):
    return Expert.from_pretrained(torch.nn.Linear(n_in, len(classes)), classes=classes)




def _two_layer_expert(**kwargs):
    """Linear(4, 3) -> ReLU -> Linear(3, 2): first layer keeps x0, x1 and x2 - x3."""
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    with torch.no_grad():
        module[0].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, -1]]))
        module[0].bias.zero_()
        module[2].weight.copy_(torch.tensor([[1.0, 1, 1], [0, 0, 2]]))
        module[2].bias.zero_()
    return Expert.from_pretrained(module, classes=[0, 1], **kwargs)


X4 = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 2.0, 1.0]], dtype=np.float32)


# -- label mapping ---------------------------------------------------------------------
def test_string_labels():
    s = ExpertSet([("pets", _expert(["dog", "cat"])), ("vehicles", _expert(["car", "ship"]))])
    assert len(s) == 2 and s.names == ["pets", "vehicles"]
    np.testing.assert_array_equal(s.classes_, ["car", "cat", "dog", "ship"])
    # the expert's own column order is kept: its column 0 is "dog"
    np.testing.assert_array_equal(s.columns_[0], [2, 1])
    np.testing.assert_array_equal(s.columns_[1], [0, 3])
    np.testing.assert_array_equal(
        s.owners(["ship", "cat", "dog"]), [[False, True], [True, False], [True, False]]
    )
    np.testing.assert_array_equal(
        s.combine([np.array([[0.9, 0.1]]), np.array([[0.3, 0.7]])], np.array([[1.0, 0.0]])),
        [[0.0, 0.1, 0.9, 0.0]],
    )


def test_integer_labels_union_sorted():
    s = ExpertSet([("high", _expert([9, 5, 7])), ("low", _expert([0, 3]))])
    np.testing.assert_array_equal(s.classes_, [0, 3, 5, 7, 9])
    assert s.classes_.dtype.kind == "i"
    np.testing.assert_array_equal(s.columns_[0], [4, 2, 3])
    np.testing.assert_array_equal(s.columns_[1], [0, 1])


def _overlapping_set():
    return ExpertSet([("a", _expert([0, 1, 2])), ("b", _expert([2, 3]))])


def test_overlapping_owners():
    s = _overlapping_set()
    np.testing.assert_array_equal(s.classes_, [0, 1, 2, 3])
    np.testing.assert_array_equal(s.columns_[1], [2, 3])
    owners = s.owners(np.array([0, 2, 3, 1, 2]))
    assert owners.dtype == bool
    np.testing.assert_array_equal(
        owners, [[True, False], [True, True], [False, True], [True, False], [True, True]]
    )


def test_combine_hand_computed_sums_the_shared_class():
    s = _overlapping_set()
    pa = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    pb = np.array([[0.4, 0.6], [0.9, 0.1]])
    weights = np.array([[0.5, 0.5], [0.25, 0.75]])
    expected = [
        [0.5 * 0.2, 0.5 * 0.3, 0.5 * 0.5 + 0.5 * 0.4, 0.5 * 0.6],  # 0.1, 0.15, 0.45, 0.3
        [0.25 * 0.6, 0.25 * 0.3, 0.25 * 0.1 + 0.75 * 0.9, 0.75 * 0.1],  # ..., 0.7, 0.075
    ]
    out = s.combine([pa, pb], weights)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    np.testing.assert_allclose(out.sum(axis=1), [1.0, 1.0])


def test_to_union():
    s = _overlapping_set()
    np.testing.assert_array_equal(s.to_union(np.array([[0.4, 0.6]]), 1), [[0.0, 0.0, 0.4, 0.6]])
    np.testing.assert_array_equal(
        s.to_union(np.array([[0.2, 0.3, 0.5]]), 0), [[0.2, 0.3, 0.5, 0.0]]
    )


def test_class_listed_twice():
    with pytest.raises(ValueError, match=r"Expert 'b' lists a class twice in \[2, 3, 2\]"):
        ExpertSet([("a", _expert([0, 1])), ("b", _expert([2, 3, 2]))])


def test_mixed_int_and_str_classes_is_a_clear_type_error():
    with pytest.raises(TypeError, match="mix label types"):
        ExpertSet([("digits", _expert([0, 1])), ("pets", _expert(["cat", "dog"]))])


def test_owners_unknown_label():
    s = _overlapping_set()
    with pytest.raises(ValueError, match=r"unknown to the mixture\'s experts: \[7\]; the known classes are \[0, 1, 2, 3\]"):
        s.owners([0, 7, 2])
    s = ExpertSet([("pets", _expert(["cat", "dog"]))])
    with pytest.raises(ValueError, match=r"\['bird'\]"):
        s.owners(["cat", "bird"])


# -- outputs and layers -----------------------------------------------------------------
def test_outputs_logits_and_penultimate():
    s = ExpertSet([("deep", _two_layer_expert()), ("flat", slice_expert(4, 1, [2, 3]))])
    out = s.outputs(X4, layers=["penultimate"])
    assert out.n_experts == 2 and out.n_samples == 2 and out.X is X4
    relu = [[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]]  # relu([x0, x1, x2 - x3])
    np.testing.assert_array_equal(out.activations[0]["penultimate"], relu)
    np.testing.assert_array_equal(out.logits[0], [[3.0, 0.0], [1.0, 2.0]])
    # a single Linear: the penultimate activation is the input itself
    np.testing.assert_array_equal(out.layer("penultimate")[1], X4)
    np.testing.assert_array_equal(out.logits[1], X4[:, 1:3])
    assert out.layer("logits") is out.logits
    e = math.e
    np.testing.assert_allclose(out.probas[0][0], [e**3 / (e**3 + 1), 1 / (e**3 + 1)], rtol=1e-6)


def test_outputs_without_layers():
    out = ExpertSet([("deep", _two_layer_expert())]).outputs(X4)
    assert out.activations == [{}]
    with pytest.raises(ValueError, match="no activation 'penultimate'"):
        out.layer("penultimate")


def test_unknown_layer_lists_available_layers():
    s = ExpertSet([("deep", _two_layer_expert())])
    with pytest.raises(ValueError, match=re.escape("Unknown layer 'fc9'")) as info:
        s.outputs(X4, layers=["fc9"])
    assert "'penultimate' or one of ['0', '1', '2']" in str(info.value)
    assert "'deep'" in str(info.value)


def test_per_expert_layers_mapping():
    s = ExpertSet(
        [
            ("deep", _two_layer_expert()),
            ("flat", slice_expert(4, 0, [0, 1, 2])),
            ("none", slice_expert(4, 0, [0, 1])),
        ]
    )
    out = s.outputs(X4, layers={"deep": ["0"], "flat": ["penultimate"]})
    assert [sorted(a) for a in out.activations] == [["0"], ["penultimate"], []]
    np.testing.assert_array_equal(out.activations[0]["0"], [[1.0, 2.0, -1.0], [-1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(out.activations[1]["penultimate"], X4)
    with pytest.raises(ValueError, match="no activation '0'"):
        out.layer("0")


def test_wrong_output_width_and_wrong_input():
    bad = Expert.from_pretrained(torch.nn.Linear(4, 3), classes=[0, 1])
    with pytest.raises(ValueError, match=r"Expert 'bad' returned outputs of shape \(2, 3\)"):
        ExpertSet([("bad", bad)]).outputs(X4)
    with pytest.raises(ValueError, match=r"Expert 'deep' could not process the input of shape"):
        ExpertSet([("deep", _two_layer_expert())]).outputs(np.ones((2, 5), np.float32))


# -- the mixture end to end -------------------------------------------------------------
class FixedGate(BaseGate):
    """Test gate: the same soft weights for every sample."""

    def __init__(self, weights=(0.5, 0.5)):
        self.weights = weights

    def gate_tags(self):
        return replace(super().gate_tags(), data_free=True)

    def _route_proba(self, outputs):
        return np.tile(np.asarray(self.weights, dtype=float), (outputs.n_samples, 1))


# logits are log-probabilities, so each expert's softmax is known exactly
PA = np.array([[0.2, 0.1, 0.7], [0.4, 0.2, 0.4], [0.1, 0.1, 0.8]])  # expert a: classes 0, 1, 2
PB = np.array([[0.4, 0.6], [0.4, 0.6], [0.9, 0.1]])  # expert b: classes 2, 3
X_MOE = np.log(np.hstack([PA, PB])).astype(np.float32)


def _overlapping_moe(gate):
    experts = [("a", slice_expert(5, 0, [0, 1, 2])), ("b", slice_expert(5, 3, [2, 3]))]
    return MixtureOfExperts(experts, gate=gate).fit(X_MOE)


def test_mixture_soft_weights_equal_hand_computed_sum():
    moe = _overlapping_moe(FixedGate((0.25, 0.75)))
    np.testing.assert_array_equal(moe.classes_, [0, 1, 2, 3])
    expected = [
        [0.05, 0.025, 0.175 + 0.3, 0.45],
        [0.1, 0.05, 0.1 + 0.3, 0.45],
        [0.025, 0.025, 0.2 + 0.675, 0.075],
    ]
    proba = moe.predict_proba(X_MOE)
    np.testing.assert_allclose(proba, expected, rtol=1e-5)
    np.testing.assert_array_equal(moe.predict(X_MOE), [2, 3, 2])
    # equal weights: row 1 is won by the shared class only because both experts add to it
    moe = _overlapping_moe(FixedGate((0.5, 0.5)))
    np.testing.assert_allclose(moe.predict_proba(X_MOE)[1], [0.2, 0.1, 0.4, 0.3], rtol=1e-5)
    np.testing.assert_array_equal(moe.predict(X_MOE), [2, 2, 2])
    np.testing.assert_array_equal(
        moe.predict(X_MOE), moe.classes_[moe.predict_proba(X_MOE).argmax(axis=1)]
    )


def test_mixture_hard_gate_equals_routed_expert():
    moe = _overlapping_moe(NaiveConcatGate("max_logit"))
    # max log-probability: a 0.7 vs b 0.6 -> a; a 0.4 vs b 0.6 -> b; a 0.8 vs b 0.9 -> b
    np.testing.assert_array_equal(moe.route(X_MOE), [0, 1, 1])
    expected = np.zeros((3, 4))
    expected[0, :3] = PA[0]
    expected[1:, 2:] = PB[1:]
    np.testing.assert_allclose(moe.predict_proba(X_MOE), expected, rtol=1e-5)
    np.testing.assert_array_equal(moe.predict(X_MOE), [2, 3, 2])
    np.testing.assert_array_equal(
        moe.predict(X_MOE), moe.classes_[moe.predict_proba(X_MOE).argmax(axis=1)]
    )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_expert_outputs_name_the_expert(bad):
    # regression: NaN logits passed silently and the gates predicted a label anyway
    X = np.ones((3, 4), np.float32)
    weight = np.eye(4)[:2].copy()
    weight[1, 0] = bad
    experts = ExpertSet([("fine", slice_expert(4, 2, [2, 3])),
                         ("broken", frozen_linear(weight, [0, 1]))])
    with pytest.raises(ValueError, match=r"Expert 'broken' returned non-finite logits .* 3 of 3"):
        experts.outputs(X)
    moe = MixtureOfExperts([("fine", slice_expert(4, 2, [2, 3])),
                            ("ok", slice_expert(4, 0, [0, 1]))]).fit(X)
    X_nan = X.copy()
    X_nan[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        moe.predict(X_nan)


# -- one read of X for all the experts -------------------------------------------------
class _Recorder(torch.nn.Module):
    """An input transform that logs which expert saw how many rows, in call order."""

    def __init__(self, name, log):
        super().__init__()
        self.name, self.log = name, log

    def forward(self, x):
        self.log.append((self.name, len(x)))
        return x


def test_experts_take_turns_on_each_block_of_an_array():
    # batch sizes 4 and 2: blocks of 4 rows, which the second expert cuts into two batches
    log = []
    X = np.arange(40, dtype=np.float32).reshape(10, 4)
    s = ExpertSet([
        ("a", frozen_linear(np.eye(2, 4), [0, 1], input_transform=_Recorder("a", log),
                            iterator_valid__batch_size=4)),
        ("b", frozen_linear(np.eye(2, 4, k=2), [2, 3], input_transform=_Recorder("b", log),
                            iterator_valid__batch_size=2)),
    ])
    out = s.outputs(X)
    assert log == [("a", 4), ("b", 2), ("b", 2), ("a", 4), ("b", 2), ("b", 2),
                   ("a", 2), ("b", 2)]
    np.testing.assert_array_equal(out.logits[0], X[:, :2])
    np.testing.assert_array_equal(out.logits[1], X[:, 2:])


@pytest.mark.parametrize("writeable", [True, False])
def test_block_pass_equals_each_expert_alone(writeable):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(23, 4)).astype(np.float32)
    X.flags.writeable = writeable
    experts = [
        ("deep", _two_layer_expert(iterator_valid__batch_size=5)),
        ("flat", frozen_linear(np.eye(2, 4, k=1), [2, 3], iterator_valid__batch_size=3)),
        ("whole", frozen_linear(np.eye(2, 4), [4, 5], iterator_valid__batch_size=-1)),
    ]
    s = ExpertSet(experts)
    out = s.outputs(X, layers=["penultimate"])
    for k, (_, expert) in enumerate(experts):
        z, acts = expert.forward_outputs(X, layers=["penultimate"])
        np.testing.assert_allclose(out.logits[k], z, rtol=1e-6)
        np.testing.assert_allclose(out.activations[k]["penultimate"], acts["penultimate"],
                                   rtol=1e-6)


def test_block_pass_names_the_expert_that_fails():
    X = np.ones((6, 4), dtype=np.float32)
    s = ExpertSet([("fine", slice_expert(4, 0, [0, 1])),
                   ("narrow", frozen_linear(np.eye(2, 3), [2, 3]))])
    with pytest.raises(ValueError, match=r"Expert 'narrow' could not process the input "
                                         r"of shape \(6, 4\)"):
        s.outputs(X)


def test_experts_sharing_a_module_capture_only_their_own_passes():
    # two heads on one backbone: during the block pass each expert's hooks are open only
    # for its own turn, so the shared layer's activations are not recorded twice
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU())

    class Head(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone, self.head = backbone, torch.nn.Linear(6, 2)

        def forward(self, x):
            return self.head(self.backbone(x))

    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    experts = [("a", Expert.from_pretrained(Head(), classes=[0, 1], batch_size=8)),
               ("b", Expert.from_pretrained(Head(), classes=[2, 3], batch_size=8,
                                            input_transform=lambda x: -x))]
    out = ExpertSet(experts).outputs(X, layers=["backbone", "penultimate"])
    for k, (_, expert) in enumerate(experts):
        _, alone = expert.forward_outputs(X, layers=["backbone", "penultimate"])
        for layer in ["backbone", "penultimate"]:
            assert out.activations[k][layer].shape == (30, 6)
            np.testing.assert_allclose(out.activations[k][layer], alone[layer], rtol=1e-6)


def test_a_smaller_batch_size_cuts_a_block_into_equal_batches():
    log = []
    X = np.zeros((10, 4), dtype=np.float32)
    s = ExpertSet([
        ("a", frozen_linear(np.eye(2, 4), [0, 1], iterator_valid__batch_size=5)),
        ("b", frozen_linear(np.eye(2, 4), [2, 3], input_transform=_Recorder("b", log),
                            iterator_valid__batch_size=4)),
    ])
    s.outputs(X)
    assert log == [("b", 3), ("b", 2), ("b", 3), ("b", 2)]  # not 4, 1, 4, 1


@pytest.mark.parametrize("writeable", [True, False])
def test_proba_of_some_rows_gathers_them_batch_by_batch(writeable):
    log = []
    X = np.random.default_rng(1).normal(size=(11, 4))  # float64: converted per batch
    X.flags.writeable = writeable
    rows = np.array([9, 0, 4, 4, 7])
    s = ExpertSet([("a", frozen_linear(np.eye(2, 4), [0, 1], iterator_valid__batch_size=2,
                                       input_transform=_Recorder("a", log)))])
    expected = s.proba(0, X[rows])
    log.clear()

    class Spy(np.ndarray):  # records the rows asked of the array as a whole
        taken = []

        def __getitem__(self, index):
            Spy.taken.append(np.size(index))
            return super().__getitem__(index)

    spy = X.view(Spy)
    np.testing.assert_allclose(s.proba(0, spy, rows), expected, rtol=1e-6)
    assert 5 not in Spy.taken  # X[rows] is never built at once
    assert log == [("a", 2), ("a", 2), ("a", 1)]


# -- experts at the same time (n_jobs) -------------------------------------------------
class _Rendezvous(torch.nn.Module):
    """An input transform that waits until ``parties`` experts are inside it at once, and
    logs the thread it ran in: run one after the other, the experts break the barrier."""

    def __init__(self, barrier, threads):
        super().__init__()
        self.barrier, self.threads = barrier, threads

    def forward(self, x):
        self.threads.add(threading.get_ident())
        self.barrier.wait()
        return x


def _rendezvous_experts(n_experts, barrier, threads, **kwargs):
    return [(f"e{k}", frozen_linear(np.eye(2, 4, k=k), [2 * k, 2 * k + 1],
                                    input_transform=_Rendezvous(barrier, threads), **kwargs))
            for k in range(n_experts)]


def test_n_jobs_runs_the_experts_at_the_same_time_in_their_own_threads():
    barrier, threads = threading.Barrier(3, timeout=10), set()
    X = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    s = ExpertSet(_rendezvous_experts(3, barrier, threads), n_jobs=3)
    out = s.outputs(X)  # one batch per expert: each passes the barrier once
    assert len(threads) == 3 and threading.get_ident() not in threads
    for k in range(3):
        np.testing.assert_array_equal(out.logits[k], X[:, k : k + 2])


def test_without_n_jobs_the_experts_run_one_after_the_other():
    barrier = threading.Barrier(2, timeout=0.5)
    s = ExpertSet(_rendezvous_experts(2, barrier, set()))
    with pytest.raises(ValueError, match="Expert 'e0' could not process") as info:
        s.outputs(np.zeros((3, 4), dtype=np.float32))
    assert isinstance(info.value.__cause__, threading.BrokenBarrierError)


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_n_jobs_gives_the_sequential_pass_bit_for_bit(n_jobs):
    # batch sizes 64, 32 and all on 97 rows: each expert's thread cuts the same blocks into
    # the same batches as the sequential pass, so not even the float32 rounding moves
    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(97, 20)).astype(np.float32)

    def mlp(classes, **kwargs):
        module = torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.ReLU(),
                                     torch.nn.Linear(30, len(classes)))
        return Expert.from_pretrained(module, classes=classes, **kwargs)

    experts = [("a", mlp([0, 1], iterator_valid__batch_size=64)),
               ("b", mlp([2, 3, 4], iterator_valid__batch_size=32)),
               ("c", mlp([5, 6], iterator_valid__batch_size=-1))]
    sequential = ExpertSet(experts).outputs(X, layers=["penultimate"])
    together = ExpertSet(experts, n_jobs=n_jobs).outputs(X, layers=["penultimate"])
    for k, (_, expert) in enumerate(experts):
        np.testing.assert_array_equal(together.logits[k], sequential.logits[k])
        np.testing.assert_array_equal(together.activations[k]["penultimate"],
                                      sequential.activations[k]["penultimate"])
        z, acts = expert.forward_outputs(X, layers=["penultimate"])  # its own batches
        np.testing.assert_allclose(together.logits[k], z, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(together.activations[k]["penultimate"], acts["penultimate"],
                                   rtol=1e-5, atol=1e-6)


def test_n_jobs_experts_sharing_a_module_capture_only_their_own_passes():
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU())
    barrier = threading.Barrier(2, timeout=10)

    class Head(torch.nn.Module):  # both experts are inside the shared backbone at once
        def __init__(self):
            super().__init__()
            self.backbone, self.head = backbone, torch.nn.Linear(6, 2)

        def forward(self, x):
            barrier.wait()
            return self.head(self.backbone(x))

    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    experts = [("a", Expert.from_pretrained(Head(), classes=[0, 1], batch_size=8)),
               ("b", Expert.from_pretrained(Head(), classes=[2, 3], batch_size=8,
                                            input_transform=lambda x: -x))]
    out = ExpertSet(experts, n_jobs=2).outputs(X, layers=["backbone"])
    barrier = threading.Barrier(1)  # the experts alone need not wait
    for k, (_, expert) in enumerate(experts):
        _, alone = expert.forward_outputs(X, layers=["backbone"])
        np.testing.assert_allclose(out.activations[k]["backbone"], alone["backbone"], rtol=1e-6)


def test_n_jobs_names_the_expert_that_fails():
    X = np.ones((6, 4), dtype=np.float32)
    s = ExpertSet([("fine", slice_expert(4, 0, [0, 1])),
                   ("narrow", frozen_linear(np.eye(2, 3), [2, 3]))], n_jobs=2)
    with pytest.raises(ValueError, match=r"Expert 'narrow' could not process the input"):
        s.outputs(X)


def test_mixture_n_jobs_set_after_fit_takes_effect_in_predict():
    barrier, threads = threading.Barrier(2, timeout=10), set()
    X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    moe = MixtureOfExperts(_rendezvous_experts(2, barrier, threads), n_jobs=2).fit(X)
    proba = moe.predict_proba(X)  # the barrier: both experts at once, or a timeout
    moe.set_params(n_jobs=None)
    for _, expert in moe.named_experts_.items():
        expert.input_transform.barrier = threading.Barrier(1)  # alone, nobody to wait for
    threads.clear()
    np.testing.assert_allclose(moe.predict_proba(X), proba, rtol=1e-6)
    assert threads == {threading.get_ident()}


@pytest.mark.parametrize("n_experts", [1, 2])
def test_an_array_running_backwards_is_predicted_like_its_copy(n_experts):
    # negative strides (X[::-1]): torch cannot share such an array, so each batch is copied
    X = np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32)
    experts = [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]
    moe = MixtureOfExperts(experts[:n_experts]).fit(X)
    np.testing.assert_array_equal(moe.predict_proba(X[::-1]), moe.predict_proba(X[::-1].copy()))
    np.testing.assert_array_equal(moe.experts_[0].predict(X[::-1, ::-1]),
                                  moe.experts_[0].predict(X[::-1, ::-1].copy()))
