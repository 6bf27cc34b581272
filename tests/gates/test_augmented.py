"""AugmentedGate: augmentations, aggregations and the vote tie rule on hand-built experts."""

import math

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from torchvision.transforms.v2 import functional as F

from skgate import Expert, MixtureOfExperts
from skgate.experts import ExpertSet
from skgate.gates import AugmentedGate, NaiveConcatGate
from skgate.gates._augmentations import (
    AUGMENTATION_SETS,
    AUGMENTATIONS,
    _crop_boxes,
    _random_resized_crop,
    resolve_augmentations,
)
from skgate.utils._param_validation import InvalidParameterError
from skgate.utils._testing import frozen_linear

# Two experts over a 1 x 2 image [a, b]: "left" gives logits [3a, 0], "right" [4b, 0].
# On [1, 0.5]: left 3 > right 2; flipped ([0.5, 1]): left 1.5 < right 4; mean: left
# (3 + 1.5) / 2 = 2.25 < right (2 + 4) / 2 = 3. So the vote of the two passes is a tie.
LEFT = [[3.0, 0.0], [0.0, 0.0]]
RIGHT = [[0.0, 4.0], [0.0, 0.0]]
X_TIE = np.array([[[[1.0, 0.5]]]], dtype=np.float32)


def _pixel_experts(left=LEFT, right=RIGHT):
    return ExpertSet([("left", frozen_linear(left, [0, 1])),
                      ("right", frozen_linear(right, [2, 3]))])


def _route(gate, X, experts=None):
    outputs = (experts or _pixel_experts()).outputs(X)
    return gate.fit(outputs).route(outputs)


class Constant(torch.nn.Module):
    """Logits that do not depend on the input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits), requires_grad=False)

    def forward(self, x):
        return self.logits.expand(len(x), -1)


def _sum_vs_constant():
    """Expert "sum": logits [sum of 100 values, 0]; expert "constant": logits [5, 0]."""
    total = np.vstack([np.ones(100), np.zeros(100)])
    return ExpertSet([("sum", frozen_linear(total, [0, 1])),
                      ("constant", Expert.from_pretrained(Constant([5.0, 0.0]), classes=[2, 3]))])


# -- the augmentations ----------------------------------------------------------------------
def test_sets_are_the_papers_table3_rows():
    counts = {name: len(passes) for name, passes in AUGMENTATION_SETS.items()}
    assert counts == {"sharpen": 1, "sharpen_5_alphas": 5, "gaussian": 1, "gaussian_5": 5,
                      "gaussian_6_stds": 6, "poisson": 1, "poisson_5": 5, "poisson_6_rates": 6,
                      "flips": 2, "random_crop": 1}
    alphas = [p["alpha"] for _, p in resolve_augmentations("sharpen_5_alphas")]
    assert alphas == [0.1, 0.3, 0.5, 0.7, 1.0]
    stds = [p["std"] for _, p in resolve_augmentations("gaussian_6_stds")]
    assert stds == [0.05, 0.1, 0.3, 0.5, 0.7, 1.0]
    rates = [p["rate"] for _, p in resolve_augmentations("poisson_6_rates")]
    assert rates == [0.05, 0.1, 0.3, 0.5, 0.7, 1.0]
    assert AUGMENTATIONS["gaussian_noise"]["std"] == 1.0
    assert AUGMENTATIONS["poisson_noise"]["rate"] == 0.5


def _views(augmentations, X, **kwargs):
    """The augmented views of X, from a gate fitted over one expert reading every value."""
    outputs = ExpertSet([("e", frozen_linear(np.ones((1, X[0].size)), [0]))]).outputs(X[:1])
    return list(AugmentedGate(augmentations, **kwargs).fit(outputs).augmented_views(X))


def test_sharpen_applies_alpha():
    # 1 x 2 image [p0, p1], borders replicated: the 3 x 3 neighbours of p0 sum to 5 p0 + 3 p1,
    # so p0' = (1 - alpha) p0 + alpha (9 p0 - 5 p0 - 3 p1) = p0 + 3 alpha (p0 - p1)
    X = np.array([[[[0.5, 0.3]]]], dtype=np.float32)
    for alpha in (0.0, 0.02, 0.1, 0.5):
        (view,) = _views([("sharpen", {"alpha": alpha})], X)
        expected = [0.5 + 3 * alpha * 0.2, 0.3 - 3 * alpha * 0.2]
        np.testing.assert_allclose(view[0, 0, 0], expected, rtol=1e-6, atol=1e-7)
    # the lightness adds lightness * alpha * x; clipping keeps [0, 1] unless clip=False
    (view,) = _views([("sharpen", {"alpha": 1.0, "lightness": 2.0, "clip": False})], X)
    np.testing.assert_allclose(view[0, 0, 0], [0.5 + 0.6 + 0.5, 0.3 - 0.6 + 0.3], rtol=1e-6)
    (view,) = _views([("sharpen", {"alpha": 1.0, "lightness": 2.0})], X)
    np.testing.assert_allclose(view[0, 0, 0], [1.0, 0.0])


def test_sharpen_alpha_changes_the_decision():
    # [0.5, 0.3]: left reads 2 * p0, right 4 * p1. Un-augmented: 1.0 < 1.2 (right).
    # alpha 0.02: 1.024 < 1.152 (right); alpha 0.5: 1.6 > 0 (left). The original code
    # ignored alpha and could not tell these apart.
    experts = _pixel_experts([[2.0, 0.0], [0.0, 0.0]], [[0.0, 4.0], [0.0, 0.0]])
    X = np.array([[[[0.5, 0.3]]]], dtype=np.float32)
    assert _route(NaiveConcatGate("max_logit"), X, experts) == [1]
    routes = [
        _route(AugmentedGate([("sharpen", {"alpha": a})], statistic="max_logit",
                             include_original=False), X, experts)[0]
        for a in (0.02, 0.5)
    ]
    assert routes == [1, 0]


def test_flips_are_torchvisions_and_swap_the_winner():
    X = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2) / 24
    h, v = _views("flips", X)
    np.testing.assert_array_equal(h, F.horizontal_flip(torch.from_numpy(X)).numpy())
    np.testing.assert_array_equal(v, F.vertical_flip(torch.from_numpy(X)).numpy())
    # on [1, 0.1] left wins (3 > 0.4), flipped ([0.1, 1]) right wins (0.3 < 4)
    X = np.array([[[[1.0, 0.1]]]], dtype=np.float32)
    assert _route(NaiveConcatGate("max_logit"), X) == [0]
    only_flip = AugmentedGate(["horizontal_flip"], statistic="max_logit", include_original=False)
    assert _route(only_flip, X) == [1]
    # a vertical flip of a one-row image changes nothing
    only_vflip = AugmentedGate(["vertical_flip"], statistic="max_logit", include_original=False)
    assert _route(only_vflip, X) == [0]


def test_gaussian_noise_adds_std_times_a_standard_normal():
    # distinct samples: a sample's noise is drawn from its own values (equal samples get
    # equal noise)
    X = np.random.default_rng(0).uniform(0.4, 0.6, (2000, 1, 4, 4)).astype(np.float32)
    (view,) = _views([("gaussian_noise", {"std": 0.2, "clip": False})], X, random_state=0)
    noise = view - X
    assert abs(noise.mean()) < 0.01 and noise.std() == pytest.approx(0.2, rel=0.02)
    (clipped,) = _views([("gaussian_noise", {"std": 0.2})], X, random_state=0)
    np.testing.assert_allclose(clipped, np.clip(view, 0, 1))


def test_a_samples_views_do_not_depend_on_its_position_in_X():
    # regression: the noise was drawn per position in the batch, so the same sample got
    # other views (and another expert) in another chunk of the mixture, subset or order
    rng = np.random.default_rng(0)
    X = rng.random((50, 1, 6, 6), dtype=np.float32)
    augmentations = [("gaussian_noise", {"std": 0.3}), "poisson_noise", "random_resized_crop"]
    experts = [("a", frozen_linear(rng.normal(size=(2, 36)), [0, 1])),
               ("b", frozen_linear(rng.normal(size=(3, 36)), [2, 3, 4]))]
    gate = AugmentedGate(augmentations, random_state=0).fit(ExpertSet(experts).outputs(X[:1]))
    whole = list(gate.augmented_views(X))
    order = rng.permutation(50)
    for rows in [order, order[:7], [3], [3, 3]]:
        for view, part in zip(whole, gate.augmented_views(X[rows]), strict=True):
            np.testing.assert_array_equal(part, view[rows])
    moe = MixtureOfExperts(experts, gate=AugmentedGate(augmentations, random_state=0)).fit(X)
    routes = moe.set_params(chunk_size=None).route(X)
    for chunk_size in (1, 7, 49):
        np.testing.assert_array_equal(moe.set_params(chunk_size=chunk_size).route(X), routes)


def test_poisson_noise_adds_one_with_probability_one_minus_exp_minus_rate():
    X = np.full((4000, 1, 5, 5), 0.25, dtype=np.float32)
    # distinct samples (equal samples get equal noise); v + 1 - v == 1 exactly for these
    X[:, 0, 0, 0], X[:, 0, 0, 1] = np.arange(4000) % 64 / 256, np.arange(4000) // 64 / 256
    for rate in (0.05, 0.5, 1.0):
        (view,) = _views([("poisson_noise", {"rate": rate, "clip": False})], X, random_state=1)
        added = view - X
        assert set(np.unique(added)) <= {0.0, 1.0}
        assert added.mean() == pytest.approx(1 - math.exp(-rate), abs=0.01)
    (clipped,) = _views([("poisson_noise", {"rate": 0.5})], X, random_state=1)
    assert set(np.unique(clipped[:, :, 1:])) == {0.25, 1.0}
    (scaled,) = _views([("poisson_noise", {"rate": 0.5, "scale": 0.5})], X, random_state=1)
    np.testing.assert_array_equal(scaled != X, clipped != X)  # the same events


def test_noise_changes_the_decision_in_the_expected_direction():
    # "sum" reads the sum of 100 black pixels (0); "constant" always scores 5. Clipped noise
    # of std 1 brightens about 50 pixels by 0.8 on average (sum about 40); Poisson noise of
    # rate 0.5 whitens about 39; rate 0.001 whitens about 0.1
    X = np.zeros((20, 1, 10, 10), dtype=np.float32)
    experts = _sum_vs_constant()
    assert (_route(NaiveConcatGate("max_logit"), X, experts) == 1).all()
    for augmentation, winner in [(("gaussian_noise", {"std": 1.0}), 0),
                                 (("gaussian_noise", {"std": 0.001}), 1),
                                 (("poisson_noise", {"rate": 0.5}), 0),
                                 (("poisson_noise", {"rate": 0.001}), 1)]:
        gate = AugmentedGate([augmentation] * 3, aggregation="vote", statistic="max_logit",
                             random_state=0)
        assert (_route(gate, X, experts) == winner).all(), augmentation


def test_random_resized_crop_matches_torchvision_per_sample():
    x = torch.rand(200, 3, 12, 10)
    for scale, ratio in [((0.08, 1.0), (3 / 4, 4 / 3)), ((0.01, 0.02), (3.0, 4.0))]:
        out = _random_resized_crop(x, torch.Generator().manual_seed(3), scale=scale, ratio=ratio)
        top, left, h, w = _crop_boxes(200, 12, 10, scale, ratio, torch.Generator().manual_seed(3))
        assert (top >= 0).all() and (left >= 0).all()
        assert (top + h <= 12).all() and (left + w <= 10).all() and (h > 0).all() and (w > 0).all()
        reference = torch.stack([
            F.resized_crop(x[i], int(top[i]), int(left[i]), int(h[i]), int(w[i]), [12, 10])
            for i in range(200)
        ])
        torch.testing.assert_close(out, reference, atol=1e-5, rtol=0)
    # boxes of the whole image leave it unchanged
    whole = _random_resized_crop(x, torch.Generator(), scale=(1.0, 1.0), ratio=(10 / 12, 10 / 12))
    torch.testing.assert_close(whole, x, atol=1e-6, rtol=0)


def test_crop_boxes_differ_per_sample_and_follow_the_scale():
    top, left, h, w = _crop_boxes(5000, 32, 32, (0.25, 0.5), (3 / 4, 4 / 3),
                                  torch.Generator().manual_seed(0))
    area = (h * w).float() / 1024
    assert area.min() > 0.2 and area.max() < 0.56  # rounding of the sides
    assert len(set(zip(*(t.tolist() for t in (top, left, h, w)), strict=True))) > 500


# -- aggregation and the vote tie rule --------------------------------------------------------
def test_vote_tie_goes_to_the_best_mean_score_not_the_first_expert():
    gate = AugmentedGate(["horizontal_flip"], aggregation="vote", statistic="max_logit")
    assert _route(gate, X_TIE) == [1]
    # the original rule (mode of the decisions, ties to the lowest index) would say 0
    assert _route(gate.set_params(aggregation="mean"), X_TIE) == [1]
    # with the experts' order reversed the same expert ("right") wins: no index favoured
    reversed_experts = ExpertSet([("right", frozen_linear(RIGHT, [2, 3])),
                                  ("left", frozen_linear(LEFT, [0, 1]))])
    assert _route(gate.set_params(aggregation="vote"), X_TIE, reversed_experts) == [0]


def _passes(*per_pass):
    """passes[p][k] from rows of per-expert logits, one sample."""
    return [[np.array([z], dtype=float) for z in experts] for experts in per_pass]


def _aggregate(passes, **kwargs):
    gate = AugmentedGate([], statistic="max_logit", **kwargs)
    return gate.aggregate(passes).argmax(axis=1)[0]


def test_vote_majority_beats_the_mean():
    # expert 1 wins 2 of 3 passes by a little; expert 0 wins one pass by a lot
    passes = _passes([[10, 0], [1, 0]], [[1, 0], [2, 0]], [[1, 0], [2, 0]])
    assert _aggregate(passes, aggregation="mean") == 0  # 4 > 5 / 3
    assert _aggregate(passes, aggregation="vote") == 1


def test_vote_tie_among_three_experts():
    # votes 1, 1, 0: experts 0 and 1 tie; expert 2 has the best mean score but no vote
    passes = _passes([[5, 0], [1, 0], [4, 0]], [[0, 0], [6, 0], [4, 0]])
    assert _aggregate(passes, aggregation="vote") == 1  # mean scores 2.5 < 3.5
    passes = _passes([[6, 0], [1, 0], [4, 0]], [[0, 0], [5, 0], [4, 0]])
    assert _aggregate(passes, aggregation="vote") == 0  # 3 = 3: exact tie, the first
    assert _aggregate(passes, aggregation="mean") == 2


def test_consistency_penalises_the_spread_of_the_score():
    # expert 0: scores 9 and 1 (mean 5, std 4); expert 1: 4 and 4 (mean 4, std 0)
    passes = _passes([[9, 0], [4, 0]], [[1, 0], [4, 0]])
    assert _aggregate(passes, aggregation="mean") == 0
    assert _aggregate(passes, aggregation="consistency", penalty=0.2) == 0  # 4.2 > 4
    assert _aggregate(passes, aggregation="consistency", penalty=0.5) == 1  # 3 < 4
    assert _aggregate(passes, aggregation="consistency", penalty=0.0) == 0


def test_agreement_counts_the_passes_keeping_the_top_class():
    # expert 0 keeps its top class in 2 of 3 passes, expert 1 in 3 of 3
    passes = _passes([[9, 0], [1, 0]], [[9, 0], [1, 0]], [[0, 9], [1, 0]])
    assert _aggregate(passes, aggregation="mean") == 0
    assert _aggregate(passes, aggregation="agreement") == 1


def test_without_augmentation_it_is_the_naive_gate():
    rng = np.random.default_rng(0)
    X = rng.random((50, 1, 1, 2), dtype=np.float32)
    for aggregation in ("mean", "vote", "consistency", "agreement"):
        gate = AugmentedGate([], aggregation=aggregation, statistic="max_logit")
        np.testing.assert_array_equal(_route(gate, X), _route(NaiveConcatGate("max_logit"), X))


def test_passes_cost_one_expert_call_each_over_the_whole_batch(monkeypatch):
    calls = []
    experts = _pixel_experts()
    original = ExpertSet.outputs

    def spy(self, X, layers=()):
        calls.append(len(X))
        return original(self, X, layers)

    outputs = experts.outputs(np.zeros((300, 1, 1, 2), dtype=np.float32))
    gate = AugmentedGate("gaussian_5", random_state=0).fit(outputs)
    monkeypatch.setattr(ExpertSet, "outputs", spy)
    passes = gate.pass_logits(outputs)
    assert len(passes) == 6 == gate.n_passes_ and calls == [300] * 5
    np.testing.assert_array_equal(passes[0][0], outputs.logits[0])


# -- randomness -------------------------------------------------------------------------------
def test_same_random_state_same_views_and_decisions():
    rng = np.random.default_rng(1)
    X = rng.random((200, 1, 1, 2), dtype=np.float32)
    outputs = _pixel_experts().outputs(X)
    sets = [[("gaussian_noise", {"std": 0.3})] * 3, "poisson_5", ["random_resized_crop"] * 2]
    for augmentations in sets:
        gate = AugmentedGate(augmentations, aggregation="vote", random_state=7).fit(outputs)
        views = list(gate.augmented_views(X))
        again = list(clone(gate).fit(outputs).augmented_views(X))
        for a, b in zip(views, again, strict=True):
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(views[0], views[1])  # every pass draws its own noise
        np.testing.assert_array_equal(gate.route(outputs), clone(gate).fit(outputs).route(outputs))
        other = list(clone(gate).set_params(random_state=8).fit(outputs).augmented_views(X))
        assert not np.array_equal(views[0], other[0])


def test_random_state_instance_draws_new_views_each_call():
    X = np.random.default_rng(0).random((100, 1, 1, 2), dtype=np.float32)
    gate = AugmentedGate("gaussian", random_state=np.random.RandomState(0))
    gate.fit(_pixel_experts().outputs(X))
    (a,), (b,) = gate.augmented_views(X), gate.augmented_views(X)
    assert not np.array_equal(a, b)


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("augmentations, message", [
    (["blur"], r"Unknown augmentation 'blur'.*gaussian_noise\(std=1.0, clip=True\)"),
    ([("gaussian_noise", {"sigma": 0.1})],
     r"Unknown parameter 'sigma' for augmentation 'gaussian_noise'; its parameters are: std"),
    ([("horizontal_flip", {"p": 0.5})], r"parameters are: none"),
    ([("gaussian_noise", {"std": -1})], r"'std' of augmentation 'gaussian_noise' must be a real "
                                        r"number >= 0, got -1"),
    ([("sharpen", {"alpha": 1.5})], r"'alpha'.*must be a real number in \[0, 1\], got 1.5"),
    ([("poisson_noise", {"rate": float("nan")})], r"'rate'.*>= 0, got nan"),
    ([("random_resized_crop", {"scale": (0.5, 0.2)})], r"'scale'.*0 < low <= high <= 1"),
    ([("gaussian_noise", {"clip": "yes"})], r"'clip'.*must be a bool"),
    ([("gaussian_noise", 0.1)], r"\(name, params dict\) pair or a name, got \('gaussian_noise'"),
])
def test_bad_augmentations_raise_clear_errors_at_fit(augmentations, message):
    gate = AugmentedGate(augmentations)  # no validation in __init__
    with pytest.raises(ValueError, match=message):
        gate.fit(_pixel_experts().outputs(X_TIE))


def test_bad_parameters_raise_at_fit():
    outputs = _pixel_experts().outputs(X_TIE)
    with pytest.raises(InvalidParameterError, match=r"augmentations.*'gaussian_6_stds'"):
        AugmentedGate("gauss").fit(outputs)
    with pytest.raises(InvalidParameterError, match=r"aggregation.*'vote'.*Got 'median'"):
        AugmentedGate(aggregation="median").fit(outputs)
    with pytest.raises(InvalidParameterError, match="statistic"):
        AugmentedGate(statistic="max").fit(outputs)
    with pytest.raises(InvalidParameterError, match="penalty"):
        AugmentedGate(penalty=-1.0).fit(outputs)
    with pytest.raises(ValueError, match="no pass"):
        AugmentedGate([], include_original=False).fit(outputs)


def test_spatial_augmentations_need_images():
    tabular = ExpertSet([("e", frozen_linear(np.eye(2), [0, 1]))]).outputs(
        np.ones((3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"'horizontal_flip', 'sharpen'\] need images.*\(2,\)"):
        AugmentedGate(["sharpen", "horizontal_flip", "gaussian_noise"]).fit(tabular)
    # regression: inside a mixture the gate is fitted on one probe sample, whose shape
    # (1, 64) the message named instead of the samples' (64,)
    from skgate import MixtureOfExperts

    moe = MixtureOfExperts([("e", frozen_linear(np.eye(2), [0, 1]))],
                           gate=AugmentedGate(["sharpen"]))
    with pytest.raises(ValueError, match=r"samples have shape \(2,\) \(X of 2 dimensions\)"):
        moe.fit(np.ones((5, 2), dtype=np.float32))
    gate = AugmentedGate("gaussian_5", random_state=0).fit(tabular)  # noise works on any shape
    assert gate.route_proba(tabular).shape == (3, 1)


def test_route_before_fit():
    with pytest.raises(NotFittedError):
        AugmentedGate().route_proba(_pixel_experts().outputs(X_TIE))


# -- in a mixture: fit, predict, clone, grid search -------------------------------------------
def _mixture(gate):
    return MixtureOfExperts([("left", frozen_linear(LEFT, [0, 1])),
                             ("right", frozen_linear(RIGHT, [2, 3]))], gate=gate)


def test_in_a_mixture_fit_predict_clone():
    # a vertical flip of a one-row image is the image: left wins 2 votes of 3, but the mean
    # of the logits, (3 + 1.5 + 3) / 3 = 2.5 against (2 + 4 + 2) / 3 = 2.67, goes to right
    gate = AugmentedGate("flips", aggregation="mean", statistic="max_logit", random_state=0)
    moe = _mixture(gate).fit(X_TIE)
    assert moe.gate_.n_passes_ == 3 and moe.gate_ is not gate
    np.testing.assert_array_equal(moe.route(X_TIE), [1])
    np.testing.assert_array_equal(moe.predict(X_TIE), [2])
    proba = moe.predict_proba(X_TIE)
    assert proba.shape == (1, 4) and proba[0, :2].sum() == 0
    np.testing.assert_array_equal(moe.set_params(gate__aggregation="vote").fit(X_TIE).route(X_TIE),
                                  [0])
    copy = clone(moe)
    assert copy.gate is not moe.gate and copy.gate.get_params() == moe.gate.get_params()
    assert copy.get_params()["gate__augmentations"] == "flips"


def test_clone_keeps_list_settings_equal_not_shared():
    augmentations = [("gaussian_noise", {"std": 0.05}), ("gaussian_noise", {"std": 0.1})]
    gate = AugmentedGate(augmentations, random_state=3)
    copy = clone(gate)
    assert copy.augmentations == augmentations and copy.augmentations is not augmentations
    assert AugmentedGate().get_params() == {
        "augmentations": "sharpen_5_alphas", "aggregation": "vote", "statistic": "energy",
        "penalty": 1.0, "include_original": True, "random_state": None}


def test_grid_search_chooses_among_augmentation_sets():
    # labels are those that the horizontal-flip vote gives; the search must find that set
    rng = np.random.default_rng(0)
    X = rng.random((120, 1, 1, 2), dtype=np.float32)
    flip = [("horizontal_flip", {})]
    y = _mixture(AugmentedGate(flip, aggregation="vote", statistic="max_logit")).fit(X).predict(X)
    plain = _mixture(NaiveConcatGate("max_logit")).fit(X)
    assert 0.2 < plain.score(X, y) < 0.95  # the flip changes many decisions
    moe = _mixture(AugmentedGate(aggregation="vote", statistic="max_logit", random_state=0))
    candidates = [[], "sharpen", flip, "gaussian_5"]
    search = GridSearchCV(moe, {"gate__augmentations": candidates}, cv=3).fit(X, y)
    assert search.best_params_["gate__augmentations"] == flip
    assert search.best_score_ == 1.0
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] == pytest.approx(plain.score(X, y), abs=0.1) and max(scores[[0, 1, 3]]) < 1


def test_route_proba_is_the_aggregate_of_the_passes():
    rng = np.random.default_rng(2)
    outputs = _pixel_experts().outputs(rng.random((80, 1, 1, 2), dtype=np.float32))
    for aggregation in ("mean", "vote", "consistency", "agreement"):
        gate = AugmentedGate("gaussian_5", aggregation=aggregation, random_state=4).fit(outputs)
        weights = gate.route_proba(outputs)
        np.testing.assert_array_equal(weights, gate.aggregate(gate.pass_logits(outputs)))
        assert set(np.unique(weights)) <= {0.0, 1.0} and (weights.sum(axis=1) == 1).all()


# -- the bench, on a toy problem --------------------------------------------------------------
def test_bench_runs_and_reports_on_a_toy_problem(monkeypatch):
    from skgate.bench import _augmented as bench
    from skgate.bench._problems import Problem

    rng = np.random.default_rng(0)
    X = rng.random((60, 1, 4, 4), dtype=np.float32)
    y = rng.integers(0, 10, 60)
    experts = [("mnist_0_4", frozen_linear(rng.normal(size=(5, 16)), list(range(5)))),
               ("mnist_5_9", frozen_linear(rng.normal(size=(5, 16)), list(range(5, 10))))]

    def make_problem(name, seed, **kwargs):
        return Problem(name, experts, X, y, X, y, X, y)

    monkeypatch.setattr(bench, "make_problem", make_problem)
    monkeypatch.setattr(bench, "trained_experts", lambda problem, cache_dir=None: experts)
    result = bench.run_augmented("disjoint_mnist", 0, sets=["flips", "gaussian"], repeats=1)
    import json

    json.dumps(result)
    assert {r["set"] for r in result["rows"]} == {"flips", "gaussian"}
    assert len(result["rows"]) == 2 * 2 * 4  # sets x statistics x aggregations
    assert result["timing"]["sets"]["flips"]["extra_passes"] == 2
    lines = []
    bench.report_augmented([result], print_fn=lines.append)
    text = "\n".join(lines)
    assert "| flips" in text and "0.7898" in text and "none (NaiveConcatGate)" in text


def test_the_docstring_names_every_augmentation_set():
    # the sets are not exported: AugmentedGate's docstring lists them
    from skgate.gates._augmentations import AUGMENTATION_SETS, AUGMENTATIONS

    doc = AugmentedGate.__doc__
    for name in [*AUGMENTATION_SETS, *AUGMENTATIONS]:
        assert f'``"{name}"``' in doc, name
