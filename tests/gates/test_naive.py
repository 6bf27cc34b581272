"""NaiveConcatGate and expert_scores: every statistic checked against hand-computed values."""

import math
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skgate.experts import ExpertSet
from skgate.gates import NaiveConcatGate
from skgate.gates._naive import STATISTICS, expert_scores
from skgate.utils._param_validation import InvalidParameterError
from skgate.utils._testing import slice_expert

LN3, LN5, LN11 = math.log(3), math.log(5), math.log(11)
E35 = math.exp(3.5)


def _plogp(*p):
    return sum(q * math.log(q) for q in p)


# statistic -> (logits of expert A, logits of expert B, hand-computed scores, winners)
CASES = {
    "max_logit": (
        [[1, 2, 3], [0, 0, 5]],
        [[4, 0, 0], [1, 1, 1]],
        [[3, 4], [5, 1]],
        [1, 0],
    ),
    "ratio": (  # max / sum of the expert's own logits; 0/0 is undefined -> -inf
        [[1, 2, 3], [6, 1, 1], [0, 0, 0], [-1, -3, -4]],
        [[4, 0, 0], [2, 2, 0], [-1, -2, -3], [1, 1, 2]],
        [[0.5, 1.0], [0.75, 0.5], [-np.inf, 1 / 6], [0.125, 0.5]],
        [1, 0, 1, 1],
    ),
    "overall_ratio": (  # max / sum over all experts; totals 10, -21, -5, 8
        [[1, 2, 3], [-1, -2, -3], [2, -5, 0], [5, 0, 0]],
        [[4, 0, 0], [-4, -5, -6], [1, -3, 0], [1, 1, 1]],
        [[0.3, 0.4], [1 / 21, 4 / 21], [-0.4, -0.2], [5 / 8, 1 / 8]],
        [1, 1, 1, 0],
    ),
    "third_quartile": (  # 4 columns: q75 at position 2.25; 5 columns: position 3
        [[1, 2, 3, 10], [1, 2, 3, 10]],
        [[0, 0, 0, 0, 8], [0, 1, 2, 3, 4]],
        [[10 - 4.75, 8.0], [10 - 4.75, 1.0]],
        [1, 0],
    ),
    "std": (  # population std; the LOWEST wins
        [[0, 0, 0], [1, 5, 3]],
        [[0, 3, 0], [2, 3, 2.5]],
        [[0.0, -math.sqrt(2)], [-math.sqrt(8 / 3), -math.sqrt(1 / 6)]],
        [0, 1],
    ),
    "energy": (
        [[3, 3, 3], [0, 0, 0]],
        [[3.5, 0, 0], [1, 0, 0]],
        [[3 + LN3, math.log(E35 + 2)], [LN3, math.log(math.e + 2)]],
        [0, 1],
    ),
    "max_proba": (  # softmax: A row 0 = [5, 5, 1] / 11, B row 0 = [11, 3, 3, 3] / 20
        [[LN5, LN5, 0], [3, 3, 3]],
        [[LN11, LN3, LN3, LN3], [3.5, 0, 0, 0]],
        [[5 / 11 - 1, 11 / 20 - 1], [1 / 3 - 1, E35 / (E35 + 3) - 1]],  # minus 1
        [1, 1],
    ),
    "entropy": (  # sum p log p (minus the entropy); same rows as max_proba
        [[LN5, LN5, 0], [3, 3, 3]],
        [[LN11, LN3, LN3, LN3], [3.5, 0, 0, 0]],
        [
            [_plogp(5 / 11, 5 / 11, 1 / 11), _plogp(0.55, 0.15, 0.15, 0.15)],
            [-LN3, _plogp(E35 / (E35 + 3), *[1 / (E35 + 3)] * 3)],
        ],
        [0, 1],
    ),
}




def _outputs(*blocks):
    """ExpertOutputs of one sliced expert per block of logits, over X = hstack(blocks)."""
    blocks = [np.asarray(b, dtype=np.float32) for b in blocks]
    X = np.hstack(blocks)
    named, start, label = [], 0, 0
    for k, block in enumerate(blocks):
        width = block.shape[1]
        named.append(
            (f"e{k}", slice_expert(X.shape[1], start, list(range(label, label + width))))
        )
        start += width
        label += width
    return ExpertSet(named).outputs(X)


def test_cases_cover_every_statistic():
    assert set(CASES) == set(STATISTICS)


@pytest.mark.parametrize("statistic", sorted(CASES))
def test_expert_scores_hand_computed(statistic):
    a, b, expected, winners = CASES[statistic]
    scores = expert_scores([np.array(a, float), np.array(b, float)], statistic)
    assert scores.shape == (len(a), 2)
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(scores.argmax(axis=1), winners)


@pytest.mark.parametrize("statistic", sorted(CASES))
def test_gate_through_expert_outputs(statistic):
    a, b, expected, winners = CASES[statistic]
    outputs = _outputs(a, b)
    np.testing.assert_array_equal(outputs.logits[0], np.asarray(a, np.float32))  # logits = X slice
    gate = NaiveConcatGate(statistic=statistic).fit(outputs)
    assert gate.n_experts_ == 2
    np.testing.assert_allclose(gate.expert_scores(outputs), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(gate.route(outputs), winners)
    np.testing.assert_array_equal(gate.route_proba(outputs), np.eye(2)[winners])


def test_third_quartile_is_not_max_minus_min():
    # the original code's bug returned max - min = 9
    scores = expert_scores([np.array([[1.0, 2.0, 3.0, 10.0]])], "third_quartile")
    assert scores[0, 0] == pytest.approx(10 - 4.75)
    # and max - min would pick expert A (9 > 8) where the paper's statistic picks B (6 > 5.25)
    a, b, _, winners = CASES["third_quartile"]
    assert np.ptp(a[0]) > np.ptp(b[0]) and winners[0] == 1


def test_std_and_overall_ratio_reverse_max_logit():
    a, b, _, _ = CASES["std"]
    assert (
        expert_scores([np.array(a[1:], float), np.array(b[1:], float)], "max_logit").argmax() == 0
    )
    assert CASES["std"][3][1] == 1
    # overall_ratio: same as max_logit for a positive total, reversed for a negative one
    a = np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]])
    b = np.array([[4.0, 0.0, 0.0], [-4.0, -5.0, -6.0]])
    np.testing.assert_array_equal(expert_scores([a, b], "max_logit").argmax(axis=1), [1, 0])
    np.testing.assert_array_equal(expert_scores([a, b], "overall_ratio").argmax(axis=1), [1, 1])


def test_energy_and_max_logit_disagree():
    logits = [np.array([[3.0, 3.0, 3.0]]), np.array([[3.5, 0.0, 0.0]])]
    assert expert_scores(logits, "max_logit").argmax() == 1
    assert expert_scores(logits, "energy").argmax() == 0


def test_max_proba_and_entropy_agree_and_disagree():
    # row 0: B has the larger top probability (0.55 > 5/11) but also the larger entropy
    a, b, _, _ = CASES["max_proba"]
    logits = [np.array(a), np.array(b)]
    np.testing.assert_array_equal(expert_scores(logits, "max_proba").argmax(axis=1), [1, 1])
    np.testing.assert_array_equal(expert_scores(logits, "entropy").argmax(axis=1), [0, 1])


def test_max_proba_of_confident_experts_does_not_tie():
    # regression: both softmax maxima rounded to 1.0, so the first expert won whatever
    # the confidences (14% of the rows of three small MLP experts)
    a, b = np.array([[40.0, 0.0]]), np.array([[60.0, 0.0]])
    assert expert_scores([a, b], "max_proba").argmax() == 1
    assert expert_scores([b, a], "max_proba").argmax() == 0
    np.testing.assert_allclose(expert_scores([a, b], "max_proba"),
                               [[-math.exp(-40), -math.exp(-60)]], rtol=1e-12)


def test_entropy_with_a_saturated_softmax_is_finite():
    scores = expert_scores([np.array([[1000.0, 0.0]]), np.array([[0.0, 0.0]])], "entropy")
    np.testing.assert_allclose(scores, [[0.0, -math.log(2)]], atol=1e-12)


@pytest.mark.parametrize("statistic", sorted(STATISTICS))
def test_all_zero_logits_give_no_nan_and_the_first_expert(statistic):
    outputs = _outputs(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)))
    gate = NaiveConcatGate(statistic=statistic).fit(outputs)
    assert not np.isnan(gate.expert_scores(outputs)).any()
    np.testing.assert_array_equal(gate.route(outputs), [0, 0])


def test_ratio_zero_sum_is_minus_inf_and_never_chosen():
    logits = [np.array([[1.0, -1.0, 0.0]]), np.array([[1.0, 2.0, 3.0]])]
    scores = expert_scores(logits, "ratio")
    np.testing.assert_array_equal(scores, [[-np.inf, 0.5]])
    assert scores.argmax() == 1


def test_overall_ratio_zero_total_is_minus_inf():
    logits = [np.array([[1.0, -1.0]]), np.array([[-2.0, 2.0]])]
    np.testing.assert_array_equal(expert_scores(logits, "overall_ratio"), [[-np.inf, -np.inf]])


@pytest.mark.parametrize("statistic", sorted(STATISTICS))
def test_route_proba_one_hot_and_equal_to_argmax_of_scores(statistic):
    rng = np.random.RandomState(0)
    outputs = _outputs(
        rng.normal(size=(20, 3)), rng.normal(size=(20, 4)), rng.normal(size=(20, 2))
    )
    gate = NaiveConcatGate(statistic=statistic).fit(outputs)
    weights = gate.route_proba(outputs)
    assert weights.shape == (20, 3)
    assert set(np.unique(weights)) <= {0.0, 1.0}
    np.testing.assert_array_equal(weights.sum(axis=1), np.ones(20))
    np.testing.assert_array_equal(
        weights.argmax(axis=1), gate.expert_scores(outputs).argmax(axis=1)
    )


@pytest.mark.parametrize("statistic", sorted(STATISTICS))
def test_ties_go_to_the_first_expert(statistic):
    same = [[1.0, -2.0, 0.5], [3.0, 3.0, 1.0]]
    outputs = _outputs(same, same, same)
    np.testing.assert_array_equal(NaiveConcatGate(statistic).fit(outputs).route(outputs), [0, 0])
    # B and C are permutations of each other, so they tie under every statistic: C never wins
    outputs = _outputs(
        [[0.0, 1.0], [0.0, 0.0]], [[2.0, 0.0], [1.0, -1.0]], [[0.0, 2.0], [-1.0, 1.0]]
    )
    assert 2 not in NaiveConcatGate(statistic).fit(outputs).route(outputs)


def test_tie_among_later_experts_max_logit():
    outputs = _outputs([[0.0, 1.0]], [[2.0, 0.0]], [[0.0, 2.0]])
    np.testing.assert_array_equal(NaiveConcatGate("max_logit").fit(outputs).route(outputs), [1])


def test_fit_on_empty_outputs_then_route():
    # MixtureOfExperts fits a data-free gate on X[:0]
    outputs = _outputs(*CASES["energy"][:2])
    empty = outputs.expert_set.outputs(outputs.X[:0])
    gate = NaiveConcatGate().fit(empty)
    assert gate.statistic == "energy"
    np.testing.assert_array_equal(gate.route(outputs), CASES["energy"][3])


def test_unknown_statistic_raises_at_fit_naming_allowed_values():
    gate = NaiveConcatGate(statistic="median")  # no validation in __init__
    assert gate.statistic == "median"
    with pytest.raises(InvalidParameterError, match=r"statistic.*'max_logit'.*Got 'median'"):
        gate.fit(_outputs([[1.0, 2.0]], [[3.0, 4.0]]))


def test_route_proba_before_fit():
    with pytest.raises(NotFittedError):
        NaiveConcatGate().route_proba(_outputs([[1.0, 2.0]], [[3.0, 4.0]]))


def test_plain_array_is_a_type_error():
    X = np.array([[1.0, 2.0, 3.0, 4.0]])
    with pytest.raises(TypeError, match="ExpertOutputs"):
        NaiveConcatGate().fit(X)
    gate = NaiveConcatGate().fit(_outputs([[1.0, 2.0]], [[3.0, 4.0]]))
    with pytest.raises(TypeError, match=r"ExpertOutputs.*got ndarray"):
        gate.route_proba(X)


def test_fitted_on_two_experts_used_on_three():
    gate = NaiveConcatGate().fit(_outputs([[1.0, 2.0]], [[3.0, 4.0]]))
    with pytest.raises(ValueError, match="fitted on 2 experts, got the outputs of 3"):
        gate.route_proba(_outputs([[1.0, 2.0]], [[3.0, 4.0]], [[5.0, 6.0]]))


def test_clone_get_params_set_params():
    gate = NaiveConcatGate(statistic="std")
    assert NaiveConcatGate().get_params() == {"statistic": "energy"}
    assert gate.get_params() == {"statistic": "std"}
    gate.fit(_outputs([[1.0, 2.0]], [[3.0, 4.0]]))
    copy = clone(gate)
    assert copy is not gate and copy.get_params() == {"statistic": "std"}
    assert not hasattr(copy, "n_experts_")
    assert copy.set_params(statistic="ratio") is copy
    assert copy.statistic == "ratio" and gate.statistic == "std"


def test_energy_matches_scipy_logsumexp_on_infinite_and_extreme_logits():
    from scipy.special import logsumexp

    z = np.array([[np.inf, 0.0], [-np.inf, -np.inf], [1e4, -1e4], [3.0, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or divide-by-zero warning
        got = expert_scores([z], "energy")[:, 0]
    np.testing.assert_array_equal(got, logsumexp(z, axis=1))


def test_energy_of_read_only_and_reversed_logits():
    z = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    expected = expert_scores([z], "energy")
    z.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when it shares a read-only array
        np.testing.assert_array_equal(expert_scores([z], "energy"), expected)
    np.testing.assert_array_equal(expert_scores([z[::-1]], "energy"), expected[::-1])
