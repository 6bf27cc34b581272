"""The fusion bench: scikit-learn baselines on small random representations, and a slow run."""

import os

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from skgate.bench._fusion import (
    _PRODUCT_GRID,
    EXPERT_NAMES,
    EXPERT_SETS,
    SOFTMOE_ROWS,
    _inner_cv,
    _source_groups,
    average_probas,
    concatenation_classifier,
    make_representation_experts,
    report_fusion,
    run_baselines,
    run_fusion,
    search_gate,
    select_columns,
    select_softmoe_rows,
    softmax_regression,
    stacking_classifier,
    trained_representation_experts,
)

COLUMNS = {"a": slice(0, 4), "b": slice(4, 7), "c": slice(7, 12)}


def _representations(n=120, n_classes=3, seed=0):
    """Three random representations (4, 3 and 5 columns); "a" and "c" carry the label."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    Z = rng.normal(size=(n, 12))
    Z[:, 0] += 3.0 * y
    Z[:, 8] -= 1.5 * y
    return Z, y


def test_average_probas_by_hand():
    P = np.array([[0.2, 0.8, 0.4, 0.6], [1.0, 0.0, 0.0, 1.0]])
    np.testing.assert_allclose(average_probas(P, 2), [[0.3, 0.7], [0.5, 0.5]])
    np.testing.assert_allclose(average_probas(P, 1), P)
    with pytest.raises(ValueError, match="multiple of 3"):
        average_probas(P, 3)


def test_select_columns_feeds_only_its_columns():
    Z, y = _representations()
    model = select_columns(COLUMNS["c"], LogisticRegression()).fit(Z, y)
    assert model[-1].n_features_in_ == 5
    np.testing.assert_allclose(model.predict_proba(Z),
                               LogisticRegression().fit(Z[:, 7:12], y).predict_proba(Z[:, 7:12]))


def test_stacking_is_equation_9():
    Z, y = _representations()
    stack = stacking_classifier(COLUMNS, C=1.0, final_C=1.0, cv=4, random_state=0).fit(Z, y)
    # each first-stage regression sees only its representation
    assert [est[-1][-1].n_features_in_ for est in stack.estimators_] == [4, 3, 5]
    # StackingClassifier concatenates the K probability blocks (n, K * C) ...
    assert stack.transform(Z).shape == (len(Z), 3 * 3)
    # ... and the final stage receives their average: (n, C)
    average, final = stack.final_estimator_.named_steps.values()
    assert average.transform(stack.transform(Z)).shape == (len(Z), 3)
    assert final.n_features_in_ == 3
    # by hand: out-of-fold probabilities of each regression, averaged, then a softmax regression
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    oof = [cross_val_predict(clone(est), Z, y, cv=cv, method="predict_proba")
           for _, est in stack.estimators]
    second = LogisticRegression(max_iter=5000).fit(np.mean(oof, axis=0), y)
    np.testing.assert_allclose(final.coef_, second.coef_, rtol=1e-4, atol=1e-6)
    full = np.mean([est.predict_proba(Z) for est in stack.estimators_], axis=0)
    np.testing.assert_allclose(stack.predict_proba(Z), second.predict_proba(full), atol=1e-6)


def test_stacking_chooses_C_by_inner_cv_when_not_given():
    Z, y = _representations()
    stack = stacking_classifier(COLUMNS, C={"a": 0.1, "b": 1.0, "c": 10.0}, cv=3,
                                random_state=0).fit(Z, y)
    assert [est[-1][-1].C for est in stack.estimators_] == [0.1, 1.0, 10.0]
    assert isinstance(stack.final_estimator_[-1], GridSearchCV)
    assert stack.predict(Z).shape == (len(Z),)


@pytest.mark.parametrize("kind", ["svm", "logreg"])
def test_concatenation_classifier(kind):
    Z, y = _representations()
    fixed = concatenation_classifier(kind, C=1.0)
    assert isinstance(fixed, Pipeline)
    assert fixed.fit(Z, y).score(Z, y) > 0.8
    tuned = concatenation_classifier(kind, random_state=0).fit(Z, y)
    assert isinstance(tuned, GridSearchCV)
    assert tuned.best_estimator_[-1].n_features_in_ == 12
    with pytest.raises(ValueError, match="kind"):
        concatenation_classifier("tree")


def test_softmax_regression_fixed_or_tuned():
    assert isinstance(softmax_regression(0.5), Pipeline)
    assert isinstance(softmax_regression(), GridSearchCV)


def test_split_task_experts_own_their_half_of_the_classes():
    experts = dict(make_representation_experts(0, names=EXPERT_SETS["split_task"], epochs=1))
    assert list(experts) == ["resnet_0_4", "resnet_5_9", "lenet5"]
    assert list(experts["resnet_0_4"].classes) == [0, 1, 2, 3, 4]
    assert list(experts["resnet_5_9"].classes) == [5, 6, 7, 8, 9]
    assert list(experts["lenet5"].classes) == list(range(10))
    # each network has as many outputs as its expert has classes
    module = experts["resnet_5_9"].initialize().module_
    assert module.head.out_features == 5


def test_unknown_representation_names_raise():
    with pytest.raises(ValueError, match=r"Unknown experts \['vgg'\]"):
        make_representation_experts(0, names=["lenet5", "vgg"])
    with pytest.raises(ValueError, match="Unknown experts"):
        make_representation_experts(0, epochs={"vgg": 3})


def test_run_baselines_rows():
    Z, y = _representations(n=150)
    rows = run_baselines(Z[:90], y[:90], Z[90:], y[90:], COLUMNS, random_state=0)
    kinds = [row["kind"] for row in rows.values()]
    assert kinds == ["single"] * 3 + ["concatenation"] * 2 + ["stacking"]
    for row in rows.values():
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["fit_s"] >= 0
    # "b" is pure noise; "a" carries the label
    assert rows["a alone (softmax regression)"]["accuracy"] > 0.7
    assert rows["b alone (softmax regression)"]["accuracy"] < 0.55


def _fake_results():
    def result(seed, shift):
        methods = {
            "a alone (softmax regression)": {"accuracy": 0.5 + shift, "fit_s": 1.0,
                                             "kind": "single", "C": 0.1},
            "b alone (softmax regression)": {"accuracy": 0.6 + shift, "fit_s": 1.0,
                                             "kind": "single", "C": 1.0},
            "stack": {"accuracy": 0.65, "fit_s": 2.0, "kind": "stacking", "C": 10.0},
            "soft": {"accuracy": 0.7, "fit_s": 5.0, "kind": "softmoe",
                     "gate_weights": [0.25 + shift, 0.75 - shift],
                     "activation_rates": {"classes 0-4": [0.9 - shift, 0.1 + shift],
                                          "classes 5-9": [0.2, 0.8]}},
        }
        experts = {"lenet5": {"epochs": 1, "train_s": 3.0 + 2 * seed, "cached": True, "dim": 84,
                              "test_accuracy": 0.4, "eval_accuracy": 0.41},
                   "mlp": {"epochs": 1, "train_s": 1.0, "cached": True, "dim": 256,
                           "test_accuracy": 0.3, "eval_accuracy": 0.31}}
        return {"seed": seed, "n_labelled": 20, "n_eval": 80, "experts": experts,
                "methods": methods, "softmoe": False}
    return [result(0, 0.0), result(1, 0.02)]


def test_report_fusion_marks_best_single_and_stacking():
    lines = []
    report_fusion(_fake_results(), print_fn=lines.append)
    text = "\n".join(lines)
    best = next(line for line in text.splitlines() if line.startswith("| b alone"))
    assert "best single" in best and "0.6100 ± 0.0100" in best
    assert "stacking baseline" in next(line for line in text.splitlines()
                                       if line.startswith("| stack"))
    soft = next(line for line in text.splitlines() if line.startswith("| soft"))
    assert "0.26 / 0.74" in soft and "above best single, above stacking" in soft
    assert "0.0900 ± 0.0100" in soft  # minus the best single, paired per seed
    assert "| 4 ± 1 s" in text and "SoftMoE rows missing" in text
    rates = [line for line in text.splitlines() if line.startswith("| soft ")
             and "classes" in line]
    assert [line.split("|")[2].strip() for line in rates] == ["classes 0-4", "classes 5-9"]
    assert "0.89" in rates[0] and "0.11" in rates[0] and "0.80" in rates[1]


def test_source_groups_name_the_expert_owning_each_label():
    experts = [(name, e) for name, e in make_representation_experts(
        0, names=EXPERT_SETS["split_task"], epochs=1)]
    groups = _source_groups(experts, np.array([0, 4, 5, 9]))
    assert list(groups) == ["classes 0-4", "classes 0-4", "classes 5-9", "classes 5-9"]
    same = make_representation_experts(0, names=EXPERT_NAMES, epochs=1)
    assert _source_groups(same, np.array([0, 9])) is None


def test_search_gate_is_grid_search_over_the_mixture_without_rerunning_the_experts():
    from skgate import MixtureOfExperts
    from skgate.experts import ExpertSet
    from skgate.gates import SoftMoE
    from skgate.utils._testing import frozen_linear

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 6)).astype(np.float32)
    y = X[:, :3].argmax(axis=1)
    experts = [("a", frozen_linear(rng.normal(size=(2, 6)), [0, 1])),
               ("b", frozen_linear(rng.normal(size=(2, 6)), [0, 1]))]
    gate = SoftMoE("embedding", heads="linear", combine="logits", embedding_dim=4,
                   max_epochs=3, lr=0.05, random_state=0)
    grid = {"weight_decay": [1e-3, 1e-1, 1.0]}
    outputs = ExpertSet(experts).outputs(X, layers=["penultimate"])
    fitted, best, scores = search_gate(gate, outputs, y, grid, cv=_inner_cv(0))
    search = GridSearchCV(MixtureOfExperts(experts, gate=gate),
                          {"gate__weight_decay": grid["weight_decay"]}, cv=_inner_cv(0)).fit(X, y)
    np.testing.assert_allclose(scores, search.cv_results_["mean_test_score"], rtol=1e-12)
    assert best == {"weight_decay": search.best_params_["gate__weight_decay"]}
    np.testing.assert_allclose(fitted.predict_proba(outputs),
                               search.best_estimator_.predict_proba(X), rtol=1e-5, atol=1e-7)
    single, none, no_scores = search_gate(gate, outputs, y, None, cv=_inner_cv(0))
    assert none == {} and no_scores == [] and single.weight_decay == 0.0


def test_select_softmoe_rows():
    assert select_softmoe_rows() == SOFTMOE_ROWS
    chosen = select_softmoe_rows(["EMBEDDING"])
    assert chosen and all("embedding" in label.lower() for label in chosen)
    assert not any("thumbnail" in label for label in chosen)
    with pytest.raises(ValueError, match="No SoftMoE row matches"):
        select_softmoe_rows(["transformer"])


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SKGATE_DATA_DIR"), reason="SKGATE_DATA_DIR unset")
def test_run_fusion_on_real_data(tmp_path):
    results = run_fusion(seeds=(0,), epochs=1, n_labelled=500, cache_dir=tmp_path,
                         softmoe_params={"max_epochs": 3},
                         softmoe_grid={"weight_decay": [1e-3, 1e-1]})
    (result,) = results
    assert result["n_labelled"] == 500 and result["n_eval"] == 9500
    assert list(result["experts"]) == list(EXPERT_NAMES)
    assert {r["dim"] for r in result["experts"].values()} == {84, 64, 256}
    for row in result["experts"].values():
        assert row["train_s"] > 0 and not row["cached"]
        assert row["test_accuracy"] > 0.15  # chance is 0.1
    for row in result["methods"].values():
        assert 0.1 < row["accuracy"] <= 1.0
        if row["kind"] == "softmoe":  # the weight decay chosen by the inner CV
            assert row["C"] in (1e-3, 1e-1) or row["C"] in _PRODUCT_GRID["weight_decay"]
    # the experts are cached: a second build loads them
    _, train_s, cached = trained_representation_experts(0, cache_dir=tmp_path, epochs=1)
    assert cached == dict.fromkeys(EXPERT_NAMES, True)
    assert train_s == {name: row["train_s"] for name, row in result["experts"].items()}
    assert len(list(tmp_path.glob("fusion_*_seed0_epochs1.pt"))) == 3
    lines = []
    report_fusion(results, print_fn=lines.append)
    assert "best single representation" in "\n".join(lines)
