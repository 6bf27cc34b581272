"""The universal bench: its helpers on small synthetic experts, and a slow real-data run."""

import os

import numpy as np
import pytest
from sklearn.utils import Bunch

from skgate.bench._universal import (
    BUDGET_GATES,
    PaperUPAN,
    budget_rows,
    draw,
    report_universal,
    run_universal,
    transfer_row,
)
from skgate.experts import ExpertSet
from skgate.utils._testing import slice_expert


def _data(n_classes=(3, 4), n=300, seed=0):
    """A problem whose logits are slices of X: the owner's block carries a bump."""
    rng = np.random.default_rng(seed)
    width = sum(n_classes)
    starts = np.cumsum([0, *n_classes[:-1]])
    experts = ExpertSet([(f"e{k}", slice_expert(width, int(s), list(range(s, s + c))))
                         for k, (s, c) in enumerate(zip(starts, n_classes))])

    def sample(n):
        owner = rng.integers(len(n_classes), size=n)
        label = np.array([starts[k] + rng.integers(n_classes[k]) for k in owner])
        X = rng.normal(size=(n, width)).astype(np.float32)
        X[np.arange(n), label] += 3.0
        return X, label

    (X_gate, y_gate), (X_test, y_test) = sample(n), sample(n)
    return Bunch(name="synthetic", seed=seed, expert_set=experts,
                 gate=experts.outputs(X_gate, layers=("penultimate",)), y_gate=y_gate,
                 test=experts.outputs(X_test, layers=("penultimate",)), y_test=y_test)


def test_draw_takes_k_per_expert():
    owners = np.zeros((20, 2), bool)
    owners[:12, 0] = owners[12:, 1] = True
    rows = draw(owners, 3, np.random.default_rng(0))
    assert owners[rows, 0].sum() == 3 and owners[rows, 1].sum() == 3
    np.testing.assert_array_equal(draw(owners, None, None), np.arange(20))


def test_subset_keeps_logits_and_activations_aligned():
    data = _data()
    part = data.gate.subset([4, 1])
    np.testing.assert_array_equal(part.logits[1], data.gate.logits[1][[4, 1]])
    np.testing.assert_array_equal(part.layer("penultimate")[0],
                                  data.gate.layer("penultimate")[0][[4, 1]])
    assert part.n_samples == 2


def test_paper_upan_routes_per_expert_whatever_their_number():
    a, b = _data((3, 4)), _data((5, 2, 3), seed=1)
    owners = a.expert_set.owners(a.y_gate)
    upan = PaperUPAN(random_state=0).fit([(a.gate.logits, owners)])
    weights = upan.route_proba(b.test.logits)
    assert weights.shape == (len(b.y_test), 3)
    np.testing.assert_array_equal(weights.sum(axis=1), 1.0)


def test_transfer_row_and_report(capsys):
    a, b = _data((3, 4)), _data((5, 2, 3), seed=1)
    row = transfer_row([a], b, seed=0)
    assert set(row) == {"oracle", "max_logit", "energy", "paper UPAN", "UniversalGate"}
    assert row["oracle"]["routing"] == 1.0
    assert all(0 <= r["routing"] <= 1 for r in row.values())
    budget = budget_rows(a, 0, budgets=(0, 5), draws=1,
                         gates={k: BUDGET_GATES[k] for k in ("energy", "UniversalGate (auto)")})
    assert [(r["k"], r["gate"]) for r in budget] == [
        (0, "energy"), (0, "UniversalGate (auto)"), (5, "energy"), (5, "UniversalGate (auto)")]
    results = {"seeds": [0], "pretrained": {"command": "cmd"},
               "transfer": [{"fit": "a", "test": "b", "seed": 0,
                             "gates": {**row, "UniversalGate.pretrained()": row["energy"]}}],
               "budget": [{"problem": "a", "seed": 0, **r} for r in budget]}
    report_universal(results)
    out = capsys.readouterr().out
    assert "#### Transfer: routing" in out and "#### Budget, a: routing" in out
    assert "+0.0000" in out  # the pre-trained column is energy here


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SKGATE_DATA_DIR"), reason="SKGATE_DATA_DIR unset")
def test_universal_bench_on_real_data():
    results = run_universal(seeds=(0,), transfer_problems=("mnist_3_7",), budgets=(0, None),
                            draws=1, print_fn=lambda *a: None)
    for row in results["transfer"]:
        gates = row["gates"]
        energy = gates["energy"]["routing"]
        assert gates["UniversalGate.pretrained()"]["routing"] >= energy - 0.005, row["test"]
    budget = {(r["problem"], r["k"], r["gate"]): r["routing"] for r in results["budget"]}
    for problem in ("disjoint_mnist", "mnist_cifar10"):
        energy = budget[problem, 0, "energy"]
        assert budget[problem, 0, "UniversalGate (auto)"] >= energy - 0.005
        # with all the gate data (4,000 / 8,000 labels) the calibration learns: 0.97 / 0.998
        assert budget[problem, "all", "UniversalGate (auto)"] > energy + 0.04
        assert budget[problem, "all", "PANGate"] > energy + 0.04
