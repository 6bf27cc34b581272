"""The Display objects of skgate.inspection, on hand-made data and a tiny fitted mixture."""

import sys
from types import SimpleNamespace

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from skorch.history import History  # noqa: E402

from skgate import MixtureOfExperts  # noqa: E402
from skgate.inspection import (  # noqa: E402
    ActivationRateDisplay,
    AgreementDisplay,
    ExpertScalingDisplay,
    TrainingCurveDisplay,
)
from skgate.utils._testing import slice_expert  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _texts(texts):
    return [[t.get_text() for t in row] for row in texts]


# -- ActivationRateDisplay -------------------------------------------------------------
WEIGHTS = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
GROUPS = np.array(["mnist", "mnist", "cifar"])


def test_activation_rate_display_from_weights():
    disp = ActivationRateDisplay.from_weights(
        WEIGHTS, GROUPS, labels=["mnist", "cifar"], expert_names=["lenet", "resnet"]
    )
    assert isinstance(disp, ActivationRateDisplay)
    np.testing.assert_allclose(disp.rates, [[0.75, 0.25], [0.0, 1.0]])
    assert list(disp.group_labels) == ["mnist", "cifar"]
    assert disp.ax_.figure is disp.figure_
    assert isinstance(disp.ax_, matplotlib.axes.Axes)
    np.testing.assert_allclose(disp.im_.get_array(), disp.rates)
    assert disp.im_.get_clim() == (0.0, 1.0)
    assert _texts(disp.text_) == [["0.75", "0.25"], ["0.00", "1.00"]]
    assert [t.get_text() for t in disp.ax_.get_xticklabels()] == ["lenet", "resnet"]
    assert [t.get_text() for t in disp.ax_.get_yticklabels()] == ["mnist", "cifar"]
    assert disp.colorbar_ is not None
    assert len(disp.figure_.axes) == 2  # the heatmap and its colour bar


def test_activation_rate_display_defaults_and_options():
    # default rows: np.unique(groups), sorted; default columns: 0 .. n_experts - 1
    fig, ax = plt.subplots()
    disp = ActivationRateDisplay.from_weights(
        WEIGHTS, GROUPS, ax=ax, colorbar=False, values_format=".1f"
    )
    assert disp.ax_ is ax and disp.figure_ is fig
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cifar", "mnist"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
    assert _texts(disp.text_) == [["0.0", "1.0"], ["0.8", "0.2"]]
    assert disp.colorbar_ is None and len(fig.axes) == 1
    disp.plot(include_values=False, colorbar=False)
    assert disp.text_ is None


def test_activation_rate_display_checks():
    with pytest.raises(ValueError, match="expert_names has 3 items, expected 2"):
        ActivationRateDisplay([[0.5, 0.5]], ["a"], expert_names=["x", "y", "z"]).plot()
    with pytest.raises(ValueError, match="group_labels has 2 items, expected 1"):
        ActivationRateDisplay([[0.5, 0.5]], ["a", "b"]).plot()
    with pytest.raises(ValueError, match="have no sample"):
        ActivationRateDisplay.from_weights(WEIGHTS, GROUPS, labels=["svhn"])


def test_activation_rate_display_from_estimator():
    # expert "a" reads columns 0-1, expert "b" columns 2-3; the largest logit wins
    moe = MixtureOfExperts([("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))])
    X = np.array([[5, 0, 0, 0], [0, 0, 0, 6], [0, 0, 7, 0], [0, 0, 0, 5]], dtype=np.float32)
    groups = ["first", "first", "second", "second"]
    moe.fit(X)
    np.testing.assert_array_equal(moe.route(X), [0, 1, 1, 1])
    disp = ActivationRateDisplay.from_estimator(moe, X, groups)
    np.testing.assert_allclose(disp.rates, [[0.5, 0.5], [0.0, 1.0]])
    assert disp.expert_names == ["a", "b"]
    assert [t.get_text() for t in disp.ax_.get_xticklabels()] == ["a", "b"]
    assert _texts(disp.text_) == [["0.50", "0.50"], ["0.00", "1.00"]]


def test_activation_rate_display_from_estimator_not_fitted():
    from sklearn.exceptions import NotFittedError

    moe = MixtureOfExperts([("a", slice_expert(2, 0, [0, 1]))])
    with pytest.raises(NotFittedError):
        ActivationRateDisplay.from_estimator(moe, np.zeros((1, 2), np.float32), ["g"])


# -- AgreementDisplay ------------------------------------------------------------------
Y_TRUE = np.array([0, 1, 1, 0])
# model a: [0, 0, 1, 1], b: [0, 1, 1, 1], c: [1, 1, 0, 0] (kappas: see test_metrics)
PREDICTIONS = np.array([[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 1, 0]])


def test_agreement_display_from_predictions():
    disp = AgreementDisplay.from_predictions(Y_TRUE, PREDICTIONS, model_names=["a", "b", "c"])
    np.testing.assert_allclose(disp.kappa, [[1, 0.5, -1], [0.5, 1, -0.5], [-1, -0.5, 1]])
    # right per sample: 2 (a, b), 2 (b, c), 2 (a, b), 1 (c) -> k=1: 0.25, k=2: 0.75
    np.testing.assert_allclose(disp.correct_share, [0.0, 0.25, 0.75, 0.0])
    assert disp.ax_.shape == (2,)
    assert all(ax.figure is disp.figure_ for ax in disp.ax_)
    assert _texts(disp.text_) == [
        ["1.00", "0.50", "-1.00"],
        ["0.50", "1.00", "-0.50"],
        ["-1.00", "-0.50", "1.00"],
    ]
    assert [t.get_text() for t in disp.ax_[0].get_xticklabels()] == ["a", "b", "c"]
    heights = [bar.get_height() for bar in disp.bars_]
    np.testing.assert_allclose(heights, disp.correct_share)
    assert [bar.get_x() + bar.get_width() / 2 for bar in disp.bars_] == [0, 1, 2, 3]
    bar_texts = [t.get_text() for t in disp.ax_[1].texts]
    assert bar_texts == ["0.00", "0.25", "0.75", "0.00"]
    assert disp.colorbar_ is not None


def test_agreement_display_given_axes():
    fig, axes = plt.subplots(2, 1)
    disp = AgreementDisplay.from_predictions(
        Y_TRUE, list(PREDICTIONS.T), ax=axes, colorbar=False, include_values=False
    )
    assert disp.figure_ is fig
    assert disp.ax_[0] is axes[0] and disp.ax_[1] is axes[1]
    assert disp.text_ is None and disp.colorbar_ is None
    assert len(disp.ax_[1].texts) == 0
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["0", "1", "2"]


def test_agreement_display_checks():
    _, axes = plt.subplots(1, 3)
    with pytest.raises(ValueError, match="ax must hold 2 matplotlib Axes.*got 3"):
        AgreementDisplay.from_predictions(Y_TRUE, PREDICTIONS, ax=axes)
    with pytest.raises(ValueError, match=r"correct_share must have n_models \+ 1 = 3 values"):
        AgreementDisplay(np.eye(2), [0.5, 0.5]).plot()
    with pytest.raises(ValueError, match="kappa must be a square matrix"):
        AgreementDisplay(np.ones((2, 3)), [0.5, 0.5, 0.0]).plot()
    with pytest.raises(ValueError, match="model_names has 1 items, expected 2"):
        AgreementDisplay(np.eye(2), [0.5, 0.5, 0.0], model_names=["a"]).plot()


# -- TrainingCurveDisplay ----------------------------------------------------------------
def _history(train, valid):
    history = History()
    for t, v in zip(train, valid):
        history.new_epoch()
        history.record("train_acc", t)
        history.record("valid_acc", v)
        history.record("train_loss", 1 - t)
    return history


def test_training_curve_display_four_models():
    histories = {
        "mlp": _history([0.5, 0.6, 0.7], [0.4, 0.5, 0.55]),
        "cnn": _history([0.6, 0.8, 0.9], [0.5, 0.7, 0.75]),
        "gate": SimpleNamespace(history_=_history([0.7, 0.9], [0.6, 0.8])),
        "list": [{"train_acc": 0.3, "valid_acc": 0.2}, {"train_acc": 0.4, "valid_acc": 0.3}],
    }
    disp = TrainingCurveDisplay.from_histories(histories)
    assert disp.keys == ("train_acc", "valid_acc")
    assert disp.lines_.shape == (4, 2)
    assert len(disp.ax_.get_lines()) == 8
    assert disp.ax_.figure is disp.figure_
    np.testing.assert_allclose(disp.curves["cnn"]["valid_acc"], [0.5, 0.7, 0.75])
    np.testing.assert_allclose(disp.curves["gate"]["train_acc"], [0.7, 0.9])
    # x is the epoch, from 1; y the values
    np.testing.assert_array_equal(disp.lines_[0, 0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(disp.lines_[0, 1].get_ydata(), [0.4, 0.5, 0.55])
    np.testing.assert_array_equal(disp.lines_[2, 1].get_xdata(), [1, 2])
    # one line style per key (train solid, valid dashed), one colour per model
    assert [line.get_linestyle() for line in disp.lines_[:, 0]] == ["-"] * 4
    assert [line.get_linestyle() for line in disp.lines_[:, 1]] == ["--"] * 4
    colors = [line.get_color() for line in disp.lines_[:, 0]]
    assert len(set(colors)) == 4
    assert [line.get_color() for line in disp.lines_[:, 1]] == colors
    legend = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert legend[:3] == ["mlp (train_acc)", "mlp (valid_acc)", "cnn (train_acc)"]
    assert len(legend) == 8
    assert disp.ax_.get_xlabel() == "Epoch"


def test_training_curve_display_options():
    # a single key as a string; a missing epoch value is NaN; a skorch net's history
    history = History()
    for loss in [0.9, 0.5]:
        history.new_epoch()
        history.record("train_loss", loss)
    history[-1]["valid_loss"] = 0.7
    fig, ax = plt.subplots()
    net = SimpleNamespace(history=history)
    disp = TrainingCurveDisplay.from_histories(
        {"net": net}, keys="valid_loss", ax=ax, linestyles=[":"], ylabel="loss"
    )
    assert disp.ax_ is ax and disp.figure_ is fig
    assert disp.lines_.shape == (1, 1) and disp.lines_[0, 0].get_linestyle() == ":"
    np.testing.assert_allclose(disp.curves["net"]["valid_loss"], [np.nan, 0.7])
    assert ax.get_ylabel() == "loss"


def test_training_curve_display_missing_key():
    histories = {"mlp": _history([0.5], [0.4])}
    with pytest.raises(
        ValueError,
        match=r"Key 'test_acc' is not in the history of 'mlp'; available keys: "
        r"\['train_acc', 'valid_acc', 'train_loss'\]",
    ):
        TrainingCurveDisplay.from_histories(histories, keys=("train_acc", "test_acc"))
    with pytest.raises(ValueError, match=r"curves\['m'\] has no key 'b'"):
        TrainingCurveDisplay({"m": {"a": [1.0]}}, ["a", "b"]).plot()


def test_training_curve_display_bad_histories():
    with pytest.raises(TypeError, match="histories must be a dict"):
        TrainingCurveDisplay.from_histories([_history([0.5], [0.4])])
    with pytest.raises(TypeError, match=r"histories\['x'\] must be a skorch History.*got int"):
        TrainingCurveDisplay.from_histories({"x": 3})
    with pytest.raises(TypeError, match=r"one dict per epoch.*\['float'\]"):
        TrainingCurveDisplay.from_histories({"x": [0.5, 0.6]})


# -- without matplotlib --------------------------------------------------------------------
def test_plot_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"ActivationRateDisplay.plot requires matplotlib"):
        ActivationRateDisplay([[1.0]], ["a"]).plot()
    with pytest.raises(
        ImportError, match=r"AgreementDisplay.from_predictions requires matplotlib"
    ):
        AgreementDisplay.from_predictions(Y_TRUE, PREDICTIONS)
    with pytest.raises(ImportError, match=r"TrainingCurveDisplay.from_histories requires"):
        TrainingCurveDisplay.from_histories({"m": [{"train_acc": 1.0, "valid_acc": 1.0}]})


def test_expert_scaling_display_by_hand():
    rows = [{"n": n, "seed": s, "gate": g, "routing": v, "cost": 0.1 * n}
            for g, n, s, v in [("energy", 2, 0, 0.9), ("energy", 2, 1, 0.7),
                               ("energy", 10, 0, 0.3), ("probe", 10, 0, 0.6)]]
    disp = ExpertScalingDisplay.from_results(rows)
    np.testing.assert_array_equal(disp.n_experts, [2, 10])
    np.testing.assert_allclose(disp.values["energy"], [0.8, 0.3])
    np.testing.assert_allclose(disp.errors["energy"], [0.1, 0.0])  # std over the two seeds
    assert np.isnan(disp.values["probe"][0])  # not measured at n = 2
    assert disp.ax_.get_xscale() == "log" and disp.ax_.get_ylabel() == "routing"
    assert [t.get_text() for t in disp.ax_.get_xticklabels()] == ["2", "10"]
    plt.close(disp.figure_)
    cost = ExpertScalingDisplay.from_results(rows, metric="cost", gates=["probe"], logx=False)
    assert list(cost.lines_) == ["probe"] and cost.ax_.get_xscale() == "linear"
    plt.close(cost.figure_)


def test_expert_scaling_display_checks():
    with pytest.raises(ValueError, match="needs the keys 'n', 'gate' and 'routing'"):
        ExpertScalingDisplay.from_results([{"n": 2, "gate": "energy"}])
    with pytest.raises(ValueError, match=r"gates \['pan'\] are not in results"):
        ExpertScalingDisplay.from_results([{"n": 2, "gate": "energy", "routing": 1.0}],
                                          gates=["pan"])
    with pytest.raises(ValueError, match="one value per number of experts"):
        ExpertScalingDisplay([2, 10], {"energy": [0.5]}).plot()
    plt.close("all")
