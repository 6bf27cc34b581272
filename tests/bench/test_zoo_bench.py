"""The zoo bench: its expert sets, every row on small synthetic experts, the report."""

import json
import os

import numpy as np
import pytest
import torch
from test_universal_bench import _data  # the same synthetic problem

from skgate.bench._problems import _specs, zoo_groups
from skgate.bench._zoo import (
    PAN_PAPER,
    ZOO_GATES,
    _SmallCNN,
    merge_zoo_runs,
    report_zoo,
    run_zoo,
    zoo_rows,
)
from skgate.experts import ExpertSet
from skgate.utils._testing import frozen_linear


@pytest.mark.parametrize("n", [2, 4, 6, 10, 20])
def test_every_zoo_covers_every_class_with_n_experts(n):
    files, specs = _specs(f"zoo{n}")
    experts = [factory(max_epochs=1) for _, factory in specs]
    assert len(experts) == n and len(files) == 2  # MNIST and CIFAR-10
    counts = np.bincount(np.concatenate([e.classes for e in experts]), minlength=20)
    assert counts.tolist() == [2 if n == 20 else 1] * 20  # overlapping pairs only at 20
    names = [name for name, _ in specs]
    assert len(set(names)) == n
    assert any(name.startswith("mlp") for name in names) == (n > 2)  # mixed architectures
    assert any(name.startswith("resnet") for name in names) == (n > 2)


def test_zoo_groups_refuse_sizes_they_cannot_split():
    assert zoo_groups(4) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    for n in (3, 12, 22):
        with pytest.raises(ValueError, match="2, 4, 6, 8, 10 or 20 experts"):
            zoo_groups(n)


def test_zoo_rows_fit_a_row_of_each_kind():
    data = _data((3, 4, 2), n=300)  # flat inputs: no CNN and no router over images
    # each way _fit builds a row: data-free, a pool with k labels, a gate, a reference
    gates = ["energy", "UniversalGate() + pool, k = 5", "PANGate", PAN_PAPER,
             "linear probe (reference)"]
    assert set(gates) <= set(ZOO_GATES)
    rows = {r["gate"]: r for r in zoo_rows(data, 0, gates=gates)}
    assert set(rows) == {"oracle", *gates}
    assert rows["oracle"]["routing"] == 1.0
    for row in rows.values():
        assert 0 <= row["routing"] <= 1 and 0 <= row["accuracy"] <= 1 and row["fit_s"] >= 0
    # the synthetic owner's block carries a bump of 3: energy and the probe route well
    # above chance (1/3)
    assert rows["energy"]["routing"] > 0.8 and rows["linear probe (reference)"]["routing"] > 0.6


def test_the_small_cnn_reference_learns_the_owner_from_raw_images():
    rng = np.random.default_rng(0)
    X = rng.random((120, 3, 32, 32), dtype=np.float32)
    owner = np.arange(120) % 2
    X[owner == 1, :, :16] += 1.0  # the second owner's images are bright at the top
    experts = ExpertSet([(f"e{k}", frozen_linear(np.zeros((2, 3 * 32 * 32)), [2 * k, 2 * k + 1],
                                                 input_transform=torch.nn.Flatten()))
                         for k in range(2)])
    outputs = experts.outputs(X)
    cnn = _SmallCNN(random_state=0, max_epochs=30).fit(outputs, owner)  # a batch an epoch
    assert (cnn.route_proba(outputs).argmax(axis=1) == owner).mean() > 0.9


def _runs():
    return [{"n": n, "seed": seed, "gate": gate, "routing": value + 0.02 * seed,
             "accuracy": value, "fit_s": 1.0}
            for n in (2, 10) for seed in (0, 1)
            for gate, value in [("oracle", 1.0), ("energy", 0.5 if n == 10 else 0.9),
                                ("UniversalGate()", 0.8)]]


def test_the_report_by_hand():
    lines = []
    report_zoo({"zoo": _runs(), "seeds": [0, 1]}, print_fn=lines.append)
    text = "\n".join(lines)
    assert "#### 10 experts (seeds [0, 1], mean ± std)" in text
    # energy at n = 10: seeds 0.50 and 0.52, mean 0.51, std 0.01
    assert "| energy          | 0.5100 ± 0.0100 |" in text
    last = text.split("Routing against the number of experts")[1]
    assert "| energy          | 0.9100 | 0.5100 |" in last and "oracle" not in last


def test_the_figure_is_saved(tmp_path):
    pytest.importorskip("matplotlib")
    from skgate.bench._zoo import plot_zoo

    plot_zoo({"zoo": _runs(), "seeds": [0, 1]}, tmp_path / "zoo.png")
    assert (tmp_path / "zoo.png").read_bytes()[:4] == b"\x89PNG"


def test_merge_lets_a_later_run_replace_rows(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({"zoo": _runs(), "seeds": [0, 1]}))
    second.write_text(json.dumps({"zoo": [{"n": 2, "seed": 0, "gate": "energy",
                                           "routing": 0.1, "accuracy": 0.1, "fit_s": 0}],
                                  "seeds": [0]}))
    merged = merge_zoo_runs([first, second])
    assert len(merged["zoo"]) == len(_runs()) and merged["seeds"] == [0, 1]
    assert [r["routing"] for r in merged["zoo"] if (r["n"], r["seed"], r["gate"]) ==
            (2, 0, "energy")] == [0.1]


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SKGATE_DATA_DIR"), reason="SKGATE_DATA_DIR unset")
def test_the_zoo_on_real_data():
    results = run_zoo(sizes=(4,), seeds=(0,), rows=["linear probe"], print_fn=lambda *a: None)
    routing = {r["gate"]: r["routing"] for r in results["zoo"]}
    assert routing["oracle"] == 1.0
    assert routing["linear probe (reference)"] > routing["energy"]
