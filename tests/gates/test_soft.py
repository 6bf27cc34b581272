"""SoftMoE: the trained soft mixture Y = sum_k G(X)_k E_k(X)."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.utils.validation import check_is_fitted

from skgate import Expert, MixtureOfExperts
from skgate.callbacks import EpochTestScoring
from skgate.experts import ExpertSet
from skgate.gates import SoftMoE
from skgate.metrics import routing_accuracy_score
from skgate.models import MLP
from skgate.utils._param_validation import InvalidParameterError
from skgate.utils._testing import frozen_linear, slice_expert, tiny_expert


# -- data and experts -----------------------------------------------------------------------
def _routing_problem(n=160, shape=(8,), seed=0):
    """Expert "a" (labels 0, 1) owns the dark inputs, "b" (labels 2, 3) the bright ones.

    Every feature is shifted by -1 (owner a) or +1 (owner b); the label is the argmax of
    features 1:3 (a) or 3:5 (b), exactly what the slice experts below predict, so a gate
    that routes right gives a perfect mixture.
    """
    rng = np.random.default_rng(seed)
    owner = rng.integers(0, 2, n)
    d = int(np.prod(shape))
    X = rng.normal(scale=0.5, size=(n, d)) + np.where(owner == 1, 1.0, -1.0)[:, None]
    y = np.where(owner == 0, X[:, 1:3].argmax(axis=1), 2 + X[:, 3:5].argmax(axis=1))
    return X.reshape((n, *shape)).astype(np.float32), y, owner


def _slice_experts(d=8):
    return [("a", slice_expert(d, 1, [0, 1])), ("b", slice_expert(d, 3, [2, 3]))]


def _overlapping_experts(d=8):
    # a: labels 0, 1, 2 from features 1:4; b: labels 2, 3 from features 3:5 (2 is shared)
    return [("a", slice_expert(d, 1, [0, 1, 2])), ("b", slice_expert(d, 3, [2, 3]))]


def _softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _bright_owner(X):
    """The fixed gate's owner at prediction: expert 1 for bright inputs, else expert 0."""
    return (np.asarray(X).reshape(len(X), -1).mean(axis=1) > 0).astype(int)


def _state(expert):
    return {k: v.detach().clone() for k, v in expert.module_.state_dict().items()}


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _joint_experts():
    return [("a", tiny_expert([0, 1], hidden=(8,))),
            ("b", tiny_expert([2, 3], hidden=(8,), random_state=1))]


# -- 1. the fixed gate over frozen experts --------------------------------------------------
@pytest.mark.parametrize("make_experts", [_slice_experts, _overlapping_experts])
def test_fixed_gate_is_the_owner_expert_softmax(make_experts):
    X, y, owner = _routing_problem(40)
    moe = MixtureOfExperts(make_experts(), gate=SoftMoE("fixed", owner=_bright_owner)).fit(X, y)
    assert moe.gate_.net_ is None  # nothing trainable
    assert len(moe.gate_.history_) == 0
    np.testing.assert_array_equal(_bright_owner(X), owner)
    # by hand: the owner's softmax over its own slice of X, zero on the other columns
    classes = moe.classes_
    expected = np.zeros((len(X), len(classes)))
    for k, (_, expert) in enumerate(make_experts()):
        start = 1 if k == 0 else 3
        cols = np.searchsorted(classes, expert.classes_)
        mine = owner == k
        expected[np.ix_(mine, cols)] = _softmax(X[mine, start:start + len(cols)])
    proba = moe.predict_proba(X)
    # the gate's zero weights are clamped at 1e-12 (finite gradients): leaks stay below it
    np.testing.assert_allclose(proba, expected, rtol=1e-6, atol=1e-11)
    np.testing.assert_array_equal(moe.route_proba(X), np.eye(2)[owner])
    np.testing.assert_array_equal(moe.predict(X), classes[expected.argmax(axis=1)])


def test_fixed_gate_without_owner_cannot_predict():
    X, y, _ = _routing_problem(20)
    moe = MixtureOfExperts(_slice_experts(), gate=SoftMoE("fixed")).fit(X, y)  # y gives the owner
    with pytest.raises(ValueError, match="owner"):
        moe.predict_proba(X)
    with pytest.raises(ValueError, match="owner"):
        moe.route_proba(X)


@pytest.mark.parametrize("owner", [
    lambda X: np.zeros((len(X), 1), int),  # wrong shape
    lambda X: np.zeros(len(X) + 1, int),  # wrong length
    lambda X: np.full(len(X), 2),  # only experts 0 and 1
    lambda X: np.full(len(X), -1),
], ids=["column", "length", "too-large", "negative"])
def test_fixed_gate_bad_owner_raises(owner):
    X, y, _ = _routing_problem(20)
    moe = MixtureOfExperts(_slice_experts(), gate=SoftMoE("fixed", owner=owner)).fit(X, y)
    with pytest.raises(ValueError, match=r"owner\(X\) must return one expert index in \[0, 2\)"):
        moe.predict_proba(X)


def test_fixed_gate_with_heads_trains_the_heads():
    X, y, owner = _routing_problem(80)
    gate = SoftMoE("fixed", heads="linear", owner=_bright_owner, max_epochs=3, random_state=0)
    moe = MixtureOfExperts(_slice_experts(), gate=gate).fit(X, y)
    assert moe.gate_.net_ is not None and len(moe.gate_.history_) == 3
    np.testing.assert_array_equal(moe.route_proba(X), np.eye(2)[owner])


# -- 2. frozen experts, a learned gate: Y = sum_k G_k E_k -----------------------------------
GATES = {
    "linear": dict(shape=(8,), params={}),
    "mlp": dict(shape=(8,), params={"hidden_units": 8}),
    "thumbnail_cnn": dict(shape=(1, 8, 8), params={"thumbnail_size": 8}),
    "embedding": dict(shape=(8,), params={"embedding_dim": 8}),
}


@pytest.mark.parametrize("gate_net", list(GATES))
def test_learned_gate_mixes_the_experts_softmaxes_and_learns_to_route(gate_net):
    shape, params = GATES[gate_net]["shape"], GATES[gate_net]["params"]
    X, y, _ = _routing_problem(120, shape)
    X_test, y_test, owner_test = _routing_problem(80, shape, seed=1)
    d = int(np.prod(shape))
    gate = SoftMoE(gate_net, max_epochs=8, lr=0.1, random_state=0, **params)
    moe = MixtureOfExperts(_slice_experts(d), gate=gate).fit(X, y)
    assert moe.gate_.net_ is not None
    weights = moe.route_proba(X_test)
    assert weights.shape == (len(X_test), 2)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    outputs = moe.expert_outputs(X_test)
    expected = outputs.expert_set.combine(outputs.probas, weights)
    np.testing.assert_allclose(moe.predict_proba(X_test), expected, atol=1e-5)
    # by hand as well: the slice experts' softmaxes, weighted
    flat = X_test.reshape(len(X_test), -1)
    by_hand = np.hstack([weights[:, :1] * _softmax(flat[:, 1:3]),
                         weights[:, 1:] * _softmax(flat[:, 3:5])])
    np.testing.assert_allclose(moe.predict_proba(X_test), by_hand, atol=1e-5)
    owners = moe.expert_set_.owners(y_test)
    np.testing.assert_array_equal(owners, np.eye(2, dtype=bool)[owner_test])
    assert routing_accuracy_score(owners, weights) > 0.9
    assert moe.score(X_test, y_test) > 0.9


def test_learned_gate_with_a_shared_label_sums_both_experts():
    X, y, _ = _routing_problem(80)
    gate = SoftMoE("linear", max_epochs=3, lr=0.02, random_state=0)
    moe = MixtureOfExperts(_overlapping_experts(), gate=gate).fit(X, y)
    np.testing.assert_array_equal(moe.classes_, [0, 1, 2, 3])
    weights = moe.route_proba(X)
    pa, pb = _softmax(X[:, 1:4]), _softmax(X[:, 3:5])
    expected = np.zeros((len(X), 4))
    expected[:, :3] += weights[:, :1] * pa
    expected[:, 2:] += weights[:, 1:] * pb  # label 2 gets both experts' mass
    np.testing.assert_allclose(moe.predict_proba(X), expected, atol=1e-5)


def test_gate_needs_labels_and_expert_outputs():
    X, y, _ = _routing_problem(20)
    outputs = ExpertSet(_slice_experts()).outputs(X)
    with pytest.raises(ValueError, match="SoftMoE needs labels y"):
        SoftMoE("linear").fit(outputs)
    with pytest.raises(TypeError, match="ExpertOutputs"):
        SoftMoE("linear").fit(X, y)


# -- 3. heads: the mixture's own label space ------------------------------------------------
def _string_problem(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = np.array(["x", "y", "z"])[X[:, :3].argmax(axis=1)]
    return X, y


def _binary_experts():
    # frozen representations with labels 0, 1 only: "x", "y", "z" are no expert's labels
    rng = np.random.default_rng(5)
    return [("a", frozen_linear(rng.normal(size=(2, 6)), [0, 1])),
            ("b", frozen_linear(rng.normal(size=(2, 6)), [0, 1]))]


@pytest.mark.parametrize("gate_net", ["linear", "embedding"])
def test_heads_predict_labels_no_expert_knows(gate_net):
    X, y = _string_problem()
    gate = SoftMoE(gate_net, heads="linear", embedding_dim=4, max_epochs=10, lr=0.1,
                   random_state=0)
    moe = MixtureOfExperts(_binary_experts(), gate=gate).fit(X, y)
    np.testing.assert_array_equal(moe.classes_, ["x", "y", "z"])
    np.testing.assert_array_equal(moe.gate_.classes_, ["x", "y", "z"])
    proba = moe.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    pred = moe.predict(X)
    assert set(pred) <= {"x", "y", "z"}
    np.testing.assert_array_equal(pred, moe.classes_[proba.argmax(axis=1)])
    assert np.mean(pred == y) > 0.85
    np.testing.assert_allclose(moe.route_proba(X).sum(axis=1), 1.0, rtol=1e-6)


def test_without_heads_labels_no_expert_knows_raise():
    X, y = _string_problem(30)
    moe = MixtureOfExperts(_binary_experts(), gate=SoftMoE("linear", max_epochs=1))
    with pytest.raises(ValueError, match=r"unknown to the mixture's experts: \['x', 'y', 'z'\]"):
        moe.fit(X, y)
    # the gate alone, on the experts' outputs, names them as well
    outputs = ExpertSet(_binary_experts()).outputs(X)
    with pytest.raises(ValueError, match=r"unknown to the mixture's experts: \[2\]"):
        SoftMoE("linear", max_epochs=1).fit(outputs, np.where(y == "z", 2, 0))


# -- 4. label embedding ---------------------------------------------------------------------
def test_int_label_embedding_widens_the_heads():
    X, y = _string_problem(60)
    gate = SoftMoE("linear", heads="linear", label_embedding=3, top_labels=1, max_epochs=2,
                   random_state=0)
    moe = MixtureOfExperts(_binary_experts(), gate=gate).fit(X, y)
    module = moe.gate_.module_
    for k in range(2):
        assert tuple(module.label_embeddings[k].bag.weight.shape) == (2, 3)
        assert module.experts[k][0].in_features == 6 + 3  # penultimate (6) + embedding (3)
    assert moe.predict(X).shape == (60,)


def test_dict_label_embedding_starts_from_the_given_vectors():
    X, y = _string_problem(60)
    init = {"a": np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]]),
            "b": np.array([[0.0, 1.0, 0.0], [4.0, 0.0, -2.0]])}
    gate = SoftMoE("linear", heads="linear", label_embedding=init, top_labels=2, max_epochs=0,
                   random_state=0)
    moe = MixtureOfExperts(_binary_experts(), gate=gate).fit(X, y)  # max_epochs=0: untrained
    assert len(moe.gate_.history_) == 0
    embeddings = moe.gate_.module_.label_embeddings
    for k, name in enumerate(["a", "b"]):
        np.testing.assert_array_equal(embeddings[k].bag.weight.detach().numpy(), init[name])
    # eq. 8 by hand: with T = 2 = n_classes, the probability-weighted sum of both rows
    outputs = moe.expert_outputs(X[:7])
    inputs = moe.gate_._inputs(outputs)
    for k, name in enumerate(["a", "b"]):
        got = embeddings[k](torch.as_tensor(inputs[f"top{k}"]), torch.as_tensor(inputs[f"topw{k}"]))
        np.testing.assert_allclose(got.detach().numpy(), outputs.probas[k] @ init[name], atol=1e-6)
    # and it is still trained
    gate.set_params(max_epochs=3, lr=0.05)
    trained = MixtureOfExperts(_binary_experts(), gate=gate).fit(X, y)
    assert not np.allclose(trained.gate_.module_.label_embeddings[0].bag.weight.detach().numpy(),
                           init["a"])


def test_dict_label_embedding_for_some_experts_only():
    X, y = _string_problem(40)
    init = {"b": [[1.0, 0.0], [0.0, 1.0]]}  # a list of lists is fine; "a" starts at random
    gate = SoftMoE("linear", heads="linear", label_embedding=init, max_epochs=0, random_state=0)
    moe = MixtureOfExperts(_binary_experts(), gate=gate).fit(X, y)
    embeddings = moe.gate_.module_.label_embeddings
    assert tuple(embeddings[0].bag.weight.shape) == (2, 2)
    np.testing.assert_array_equal(embeddings[1].bag.weight.detach().numpy(), np.eye(2))


@pytest.mark.parametrize("label_embedding, match", [
    ({"a": np.ones((3, 4))}, r"label_embedding\['a'\] must have one row per class.*\(2, dim\)"),
    ({"a": np.ones(4)}, r"label_embedding\['a'\] must be a 2-D array"),
    ({"c": np.ones((2, 4))}, r"unknown experts \['c'\]"),
    ({}, "empty dict"),
], ids=["rows", "1-D", "unknown-name", "empty"])
def test_bad_label_embedding_dict_raises(label_embedding, match):
    X, y = _string_problem(20)
    gate = SoftMoE("linear", heads="linear", label_embedding=label_embedding, max_epochs=1)
    with pytest.raises(ValueError, match=match):
        MixtureOfExperts(_binary_experts(), gate=gate).fit(X, y)


def test_label_embedding_needs_heads():
    X, y, _ = _routing_problem(20)
    with pytest.raises(ValueError, match="set heads='linear'"):
        MixtureOfExperts(_slice_experts(), gate=SoftMoE("linear", label_embedding=4)).fit(X, y)


# -- 4b. combine="logits": the gated product of the heads ----------------------------------
def _heads_logits(gate, X):
    """Each head's logits on X, by hand: its linear map of the standardised representation."""
    out = []
    for k, scaler in enumerate(gate.scalers_):
        linear = gate.module_.experts[k][0]
        h = scaler.transform(X).astype(np.float64)  # the frozen experts' penultimate is X
        out.append(h @ linear.weight.detach().double().numpy().T
                   + linear.bias.detach().double().numpy())
    return out


@pytest.mark.parametrize("gate_net", ["linear", "embedding"])
def test_logits_combine_is_the_softmax_of_the_gated_logit_sum(gate_net):
    X, y = _string_problem(60)
    gate = SoftMoE(gate_net, heads="linear", combine="logits", embedding_dim=4, max_epochs=3,
                   lr=0.05, random_state=0)
    moe = MixtureOfExperts(_binary_experts(), gate=gate).fit(X, y)
    for head in moe.gate_.module_.experts:  # logits, no log-softmax
        assert len(head) == 1 and isinstance(head[0], torch.nn.Linear)
    weights = moe.route_proba(X)
    z = _heads_logits(moe.gate_, X)
    expected = _softmax(sum(weights[:, k : k + 1] * z[k] for k in range(2)))
    np.testing.assert_allclose(moe.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    # not the mixture of the heads' probabilities
    mixture = sum(weights[:, k : k + 1] * _softmax(z[k]) for k in range(2))
    assert np.abs(moe.predict_proba(X) - mixture).max() > 1e-3


def test_logits_combine_with_the_fixed_gate_is_the_owner_head():
    X, y, owner = _routing_problem(80)
    gate = SoftMoE("fixed", heads="linear", combine="logits", owner=_bright_owner,
                   max_epochs=2, random_state=0)
    moe = MixtureOfExperts(_slice_experts(), gate=gate).fit(X, y)
    z = _heads_logits(moe.gate_, X)
    expected = np.where((owner == 1)[:, None], _softmax(z[1]), _softmax(z[0]))
    np.testing.assert_allclose(moe.predict_proba(X), expected, rtol=1e-5, atol=1e-6)


def test_logits_combine_by_hand_on_a_tiny_module():
    # a fixed gate (0.25, 0.75) and two heads of given logits: log_softmax(0.25 z0 + 0.75 z1)
    from skgate.gates._soft_modules import SoftMixtureModule

    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.log(torch.tensor([[0.25, 0.75]])).expand(len(x), 2)

    heads = [torch.nn.Linear(1, 3), torch.nn.Linear(1, 3)]
    with torch.no_grad():
        for head, w, b in zip(heads, ([1.0, 0.0, -1.0], [0.0, 2.0, 0.0]),
                              ([0.0, 0.0, 0.0], [1.0, 0.0, 0.0])):
            head.weight.copy_(torch.tensor(w)[:, None])
            head.bias.copy_(torch.tensor(b))
    module = SoftMixtureModule("heads", heads, Constant(), combine="logits")
    h = torch.tensor([[1.0], [2.0]])
    log_y, weights = module(h0=h, h1=h, gate_x=h)
    # row 1 (h=1): z0 = (1, 0, -1), z1 = (1, 2, 0) -> 0.25 z0 + 0.75 z1 = (1, 1.5, -0.25)
    # row 2 (h=2): z0 = (2, 0, -2), z1 = (1, 4, 0) -> (1.25, 3, -0.5)
    s = np.array([[1.0, 1.5, -0.25], [1.25, 3.0, -0.5]])
    expected = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(log_y.detach().numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(weights.detach().numpy(), [[0.25, 0.75]] * 2, rtol=1e-6)


@pytest.mark.parametrize("params", [{}, {"train_experts": True}])
def test_logits_combine_needs_heads(params):
    X, y, _ = _routing_problem(20)
    experts = _joint_experts() if params else _slice_experts()
    gate = SoftMoE("linear", combine="logits", max_epochs=1, **params)
    with pytest.raises(ValueError, match="combine='logits'.*needs heads='linear'"):
        MixtureOfExperts(experts, gate=gate).fit(X, y)


def test_probabilities_combine_is_the_default_mixture():
    X, y = _string_problem(60)
    probas = []
    for extra in ({}, {"combine": "probabilities"}):
        gate = SoftMoE("linear", heads="linear", max_epochs=2, random_state=0, **extra)
        probas.append(MixtureOfExperts(_binary_experts(), gate=gate).fit(X, y).predict_proba(X))
    np.testing.assert_array_equal(probas[0], probas[1])


# -- 5. training the experts jointly with the gate ------------------------------------------
def _joint_moe(max_epochs, **params):
    gate = SoftMoE("linear", train_experts=True, max_epochs=max_epochs, lr=0.05, batch_size=256,
                   random_state=0, **params)
    return MixtureOfExperts(_joint_experts(), gate=gate)


def test_train_experts_trains_the_experts_in_place():
    X, y, _ = _routing_problem(160)
    X_test, y_test, _ = _routing_problem(80, seed=1)
    init = _joint_moe(0).fit(X, y)  # the same seeds, no epoch: the initialisation
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no warning about the gate's data
        moe = _joint_moe(15).fit(X, y)
    assert len(moe.gate_.history_) == 15
    for k, expert in enumerate(moe.experts_):
        check_is_fitted(expert)
        assert expert.jointly_trained_
        assert moe.gate_.module_.experts[k][0].module is expert.module_  # trained in place
        before, after = _state(init.experts_[k]), _state(expert)
        assert before.keys() == after.keys()
        assert all(not torch.equal(before[name], after[name]) for name in before)
        assert set(expert.predict(X_test)) <= set(expert.classes_)
    # the experts' own predictions are the mixture's parts
    np.testing.assert_array_equal(moe.experts_[1].classes_, [2, 3])
    assert moe.score(X_test, y_test) > 0.85


def test_train_experts_with_the_fixed_gate_learns_from_the_owners():
    X, y, owner = _routing_problem(120)
    gate = SoftMoE("fixed", train_experts=True, owner=_bright_owner, max_epochs=10, lr=0.02,
                   random_state=0)
    moe = MixtureOfExperts(_joint_experts(), gate=gate).fit(X, y)
    np.testing.assert_array_equal(moe.route_proba(X), np.eye(2)[owner])
    assert moe.score(X, y) > 0.8


def test_train_experts_refuses_frozen_experts():
    X, y, _ = _routing_problem(20)
    with pytest.raises(ValueError, match=r"would change the frozen experts \['a', 'b'\]"):
        MixtureOfExperts(_slice_experts(), gate=SoftMoE("linear", train_experts=True)).fit(X, y)


@pytest.mark.parametrize("params, match", [
    ({"gate_net": "linear", "heads": "linear"}, "cannot be combined with train_experts"),
    ({"gate_net": "embedding"}, "gate_net='embedding'.*train_experts"),
])
def test_train_experts_incompatible_options(params, match):
    X, y, _ = _routing_problem(20)
    gate = SoftMoE(train_experts=True, max_epochs=1, **params)
    with pytest.raises(ValueError, match=match):
        MixtureOfExperts(_joint_experts(), gate=gate).fit(X, y)


def test_train_experts_wrong_output_width_names_the_expert():
    X, y, _ = _routing_problem(20)
    wide = Expert(MLP, module__n_classes=3, module__hidden_layer_sizes=(), classes=[0, 1],
                  train_split=None, random_state=0)
    experts = [("wide", wide), ("b", tiny_expert([2, 3]))]
    with pytest.raises(ValueError, match=r"Expert 'wide' returns 3 logits but has 2 classes"):
        MixtureOfExperts(experts, gate=SoftMoE("linear", train_experts=True)).fit(X, y)


# -- 6. history: test scores, validation, early stopping ------------------------------------
def test_epoch_test_scoring_records_every_epoch():
    X, y, _ = _routing_problem(120)
    X_test, y_test, _ = _routing_problem(60, seed=1)
    gate = SoftMoE("mlp", hidden_units=8, max_epochs=4, lr=0.02, random_state=0,
                   callbacks=[EpochTestScoring(X_test, y_test)])
    moe = MixtureOfExperts(_slice_experts(), gate=gate).fit(X, y)
    history = moe.gate_.history_
    assert len(history) == 4
    test_acc = history[:, "test_acc"]
    train_acc = history[:, "train_acc"]
    assert len(test_acc) == len(train_acc) == 4
    assert all(0.0 <= a <= 1.0 for a in test_acc + train_acc)
    # the last epoch's score is that of the final mixture
    assert test_acc[-1] == pytest.approx(moe.score(X_test, y_test))
    assert "valid_loss" not in history[-1]


def test_epoch_test_scoring_with_jointly_trained_experts():
    X, y, _ = _routing_problem(120)
    X_test, y_test, _ = _routing_problem(60, seed=1)
    moe = _joint_moe(3, callbacks=[EpochTestScoring(X_test, y_test, name="acc_on_test")])
    moe.fit(X, y)
    scores = moe.gate_.history_[:, "acc_on_test"]
    assert len(scores) == 3
    assert scores[-1] == pytest.approx(moe.score(X_test, y_test))


def test_validation_fraction_records_valid_scores():
    X, y, _ = _routing_problem(120)
    gate = SoftMoE("linear", max_epochs=3, validation_fraction=0.25, random_state=0)
    moe = MixtureOfExperts(_slice_experts(), gate=gate).fit(X, y)
    history = moe.gate_.history_
    for key in ("valid_loss", "valid_acc", "train_loss", "train_acc"):
        assert len(history[:, key]) == 3
    assert all(0.0 <= a <= 1.0 for a in history[:, "valid_acc"])
    assert history[0, "batches"][0]["train_batch_size"] == 90  # 75% of 120


def test_validation_split_follows_random_state_not_the_global_seed():
    # regression: the ValidSplit was built without a seed, so the split followed numpy's
    # global state and two fits with random_state=0 gave different validation scores
    X, y, _ = _routing_problem(120)

    def valid_acc(global_seed):
        np.random.seed(global_seed)  # noqa: NPY002 (the legacy global state on purpose)
        gate = SoftMoE("linear", max_epochs=3, validation_fraction=0.25, random_state=0)
        return MixtureOfExperts(_slice_experts(), gate=gate).fit(X, y).gate_.history_[
            :, "valid_loss"]

    np.testing.assert_array_equal(valid_acc(1), valid_acc(2))


@pytest.mark.parametrize("validation_fraction", [None, 0.25])
def test_patience_stops_on_a_plateau(validation_fraction):
    X, y, _ = _routing_problem(80)
    X_test, y_test, _ = _routing_problem(40, seed=1)
    # lr 1e-7: the loss moves by far less than EarlyStopping's relative threshold (1e-4), so
    # the second epoch is already no improvement
    gate = SoftMoE("linear", max_epochs=40, lr=1e-7, patience=1, random_state=0,
                   validation_fraction=validation_fraction,
                   callbacks=[EpochTestScoring(X_test, y_test)])
    moe = MixtureOfExperts(_slice_experts(), gate=gate).fit(X, y)
    history = moe.gate_.history_
    assert 2 <= len(history) < 40
    # the test score is recorded at every epoch, the one that stopped training too
    assert len(history[:, "test_acc"]) == len(history)


# -- 7. determinism, subset invariance ------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: MixtureOfExperts(_slice_experts(), gate=SoftMoE("mlp", hidden_units=8, max_epochs=3,
                                                            batch_size=40, random_state=7)),
    lambda: _joint_moe(3),
], ids=["frozen", "joint"])
def test_same_random_state_same_mixture(make):
    X, y, _ = _routing_problem(80)
    X_test, _, _ = _routing_problem(30, seed=1)
    a, b = make().fit(X, y), make().fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    np.testing.assert_array_equal(a.route_proba(X_test), b.route_proba(X_test))
    # fit leaves the global torch random state alone
    moe = make()  # building the frozen experts' torch modules draws from it
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    moe.fit(X, y)
    assert torch.equal(torch.rand(1), expected)


def test_other_random_state_other_gate():
    X, y, _ = _routing_problem(80)
    fits = [MixtureOfExperts(_slice_experts(), gate=SoftMoE("linear", max_epochs=1,
                                                            random_state=s)).fit(X, y)
            for s in (0, 1)]
    assert not np.allclose(fits[0].route_proba(X), fits[1].route_proba(X))


@pytest.mark.parametrize("gate_net, shape", [("mlp", (8,)), ("thumbnail_cnn", (1, 8, 8)),
                                             ("embedding", (8,))])
def test_subset_invariance(gate_net, shape):
    X, y, _ = _routing_problem(60, shape)
    gate = SoftMoE(gate_net, hidden_units=8, thumbnail_size=8, embedding_dim=8, max_epochs=2,
                   random_state=0)
    moe = MixtureOfExperts(_slice_experts(int(np.prod(shape))), gate=gate).fit(X, y)
    np.testing.assert_allclose(moe.predict_proba(X[:5]), moe.predict_proba(X)[:5], atol=1e-5)
    np.testing.assert_allclose(moe.route_proba(X[:5]), moe.route_proba(X)[:5], atol=1e-5)
    # two epochs: the weights are still far from one-hot, and Y = sum_k G_k E_k holds
    weights = moe.route_proba(X)
    assert weights.max() < 0.99
    outputs = moe.expert_outputs(X)
    expected = outputs.expert_set.combine(outputs.probas, weights)
    np.testing.assert_allclose(moe.predict_proba(X), expected, atol=1e-5)


# -- 8. grid search, pickle -----------------------------------------------------------------
def test_grid_search_leaves_frozen_experts_unchanged():
    X, y, _ = _routing_problem(80)
    experts = _slice_experts()
    before = [_state(e) for _, e in experts]
    moe = MixtureOfExperts(experts, gate=SoftMoE(hidden_units=8, lr=0.02, random_state=0))
    search = GridSearchCV(
        moe, {"gate__gate_net": ["linear", "mlp"], "gate__max_epochs": [1, 3]}, cv=2
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert 0.0 <= search.best_score_ <= 1.0
    assert search.best_estimator_.experts_[0] is experts[0][1]
    for (_, expert), state in zip(experts, before):
        assert _same_state(_state(expert), state)


@pytest.mark.parametrize("make", [
    lambda: MixtureOfExperts(_slice_experts(), gate=SoftMoE("mlp", hidden_units=8, max_epochs=2,
                                                            random_state=0)),
    lambda: MixtureOfExperts(_slice_experts(), gate=SoftMoE("fixed", owner=_bright_owner)),
    lambda: _joint_moe(2),
], ids=["frozen", "fixed", "joint"])
def test_pickle_round_trip(make):
    X, y, _ = _routing_problem(60)
    moe = make().fit(X, y)
    restored = pickle.loads(pickle.dumps(moe))
    np.testing.assert_array_equal(restored.predict_proba(X), moe.predict_proba(X))
    np.testing.assert_array_equal(restored.route_proba(X), moe.route_proba(X))
    np.testing.assert_array_equal(restored.predict(X), moe.predict(X))


# -- 9. devices -----------------------------------------------------------------------------
def test_device_cpu():
    X, y, _ = _routing_problem(40)
    moe = MixtureOfExperts(_slice_experts(), gate=SoftMoE("linear", max_epochs=1, device="cpu",
                                                          random_state=0)).fit(X, y)
    assert moe.gate_.net_.device == "cpu"
    assert all(p.device.type == "cpu" for p in moe.gate_.module_.parameters())
    assert moe.predict_proba(X).shape == (40, 4)


def test_device_auto():
    X, y, _ = _routing_problem(40)
    moe = MixtureOfExperts(_slice_experts(), gate=SoftMoE("linear", max_epochs=1, device="auto",
                                                          random_state=0)).fit(X, y)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert moe.gate_.net_.device == expected
    assert next(moe.gate_.module_.parameters()).device.type == expected
    assert moe.gate_.device == "auto"  # the parameter is left as given


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_device_cuda():
    X, y, _ = _routing_problem(40)
    X_test, y_test, _ = _routing_problem(20, seed=1)
    gate = SoftMoE("mlp", hidden_units=8, max_epochs=2, device="cuda", random_state=0,
                   callbacks=[EpochTestScoring(X_test, y_test)])
    moe = MixtureOfExperts(_slice_experts(), gate=gate).fit(X, y)
    assert next(moe.gate_.module_.parameters()).device.type == "cuda"
    proba = moe.predict_proba(X_test)
    assert proba.shape == (20, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert len(moe.gate_.history_[:, "test_acc"]) == 2


# -- 10. parameter validation ---------------------------------------------------------------
@pytest.mark.parametrize("params", [
    {"gate_net": "transformer"},
    {"lr": -0.1},
    {"lr": 0.0},
    {"heads": "mlp"},
    {"combine": "product"},
    {"max_epochs": -1},
    {"validation_fraction": 1.0},
    {"patience": 0},
])
def test_invalid_parameters(params):
    X, y, _ = _routing_problem(20)
    moe = MixtureOfExperts(_slice_experts(), gate=SoftMoE(**params))
    with pytest.raises(InvalidParameterError):
        moe.fit(X, y)
    with pytest.raises(InvalidParameterError):
        SoftMoE(**params).fit(ExpertSet(_slice_experts()).outputs(X), y)


def test_torchvision_model_layer_as_representation():
    # any torchvision model serves as a frozen representation through a named layer
    # (weights=None: no download); the heads read its 512-d "avgpool" output
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=3).eval()
    expert = Expert.from_pretrained(net, classes=[0, 1, 2])
    rng = np.random.default_rng(0)
    X = rng.random((24, 3, 32, 32), dtype=np.float32)
    y = np.repeat(["a", "b"], 12)
    moe = MixtureOfExperts(
        [("resnet", expert)],
        gate=SoftMoE("embedding", heads="linear", features="avgpool", embedding_dim=4,
                     max_epochs=2, random_state=0),
    ).fit(X, y)
    assert moe.gate_.module_.experts[0][0].in_features == 512
    assert moe.predict_proba(X[:5]).shape == (5, 2)
    assert set(moe.predict(X)) <= {"a", "b"}


class _NaNModule(torch.nn.Module):
    def __init__(self, n_classes=2):
        super().__init__()
        self.linear = torch.nn.Linear(8, n_classes)

    def forward(self, x):
        return self.linear(x) * torch.tensor(float("nan"))


def test_a_nan_training_loss_is_an_error():
    # regression: SoftMoE trained on a NaN loss, then predicted class 0 for every row
    X, y, _ = _routing_problem(80)
    experts = [("a", Expert(_NaNModule, classes=[0, 1], train_split=None, verbose=0)),
               ("b", Expert(_NaNModule, classes=[2, 3], train_split=None, verbose=0))]
    gate = SoftMoE("linear", train_experts=True, max_epochs=2, random_state=0)
    with pytest.raises(ValueError, match="training loss became nan at epoch 1"):
        MixtureOfExperts(experts, gate=gate).fit(X, y)


# -- the gate changes neither the experts nor the callbacks it is given ---------------------
def test_fit_leaves_the_given_experts_and_callbacks_unchanged():
    X, y, _ = _routing_problem(120)
    X_test, y_test, _ = _routing_problem(40, seed=1)
    experts = _joint_experts()
    for _, expert in experts:
        expert.initialize().module_(torch.as_tensor(X[:1]))  # sizes the lazy layers
    before = [_state(expert) for _, expert in experts]
    expert_set = ExpertSet(experts)
    callback = EpochTestScoring(X_test, y_test)
    callback_attributes = dict(vars(callback))
    gate = SoftMoE("linear", train_experts=True, max_epochs=3, lr=0.05, random_state=0,
                   callbacks=[callback])
    gate.fit(expert_set.inputs_only(X), y)
    for (_, expert), state, trained in zip(experts, before, gate.expert_modules_):
        assert _same_state(state, _state(expert))  # the expert's own parameters
        assert not hasattr(expert, "jointly_trained_")
        assert trained is not expert.module_
        assert not all(torch.equal(p, q) for p, q in zip(
            state.values(), trained.state_dict().values()))
    assert vars(callback) == callback_attributes  # skorch and bind worked on a copy
    assert len(gate.history_[:, "test_acc"]) == 3
    # in a mixture, the mixture's own experts get the trained modules
    moe = MixtureOfExperts(experts, gate=clone(gate)).fit(X, y)
    assert [e.module_ for e in moe.experts_] == moe.gate_.expert_modules_
    assert all(_same_state(state, _state(expert)) for (_, expert), state in zip(experts, before))
    assert vars(callback) == callback_attributes
