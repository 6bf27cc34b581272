"""The pool bench: every row on small synthetic experts, the report's gap summary."""

import os

import pytest
from test_universal_bench import _data  # the same synthetic problem

from skgate.bench._pool import POOL_GATES, _report_gaps, pool_rows, report_pool, run_pool


def test_pool_rows_fit_every_gate_at_every_budget():
    data = _data(n=300)
    rows = pool_rows(data, 0, budgets=(0, 5), draws=1, router_budgets=())
    by = {(r["k"], r["gate"]): r for r in rows}
    assert not any(gate.startswith("FastRouter") for _, gate in by)  # not at these budgets
    assert (0, "UniversalGate (labels only)") not in by  # a labelled gate needs labels
    assert (0, "UniversalGate(pool_calibration='affine') + pool") in by
    assert (5, "UniversalGate(pool_calibration='affine') + pool") not in by  # k = 0 only
    assert {(0, "UniversalGate() + pool"), (5, "LabelSpreading (logits)"),
            (5, "FloorGate(PANGate)")} <= set(by)
    for row in rows:
        assert 0 <= row["routing"] <= 1 and row["fit_s"] >= 0
    assert by[0, "energy"]["routing"] == by[5, "energy"]["routing"]  # energy needs nothing


def test_the_gap_summary_by_hand():
    runs = [{"problem": "p", "seed": 0, "k": k, "gate": gate, "routing": value,
             "pool_used": [True]}
            for k, gate, value in [(0, "energy", 0.80), ("all", "UniversalGate (labels only)",
                                                          1.00),
                                   (0, "UniversalGate() + pool", 0.90),
                                   (5, "UniversalGate() + pool", 0.95)]]
    lines = []
    _report_gaps(runs, ["p"], [0, 5, "all"], lines.append)
    table = "\n".join(lines)
    assert "0.9000 (+0.1000; 50%)" in table and "0.9500 (+0.1500; 75%)" in table
    report_pool({"pool": runs, "seeds": [0]}, print_fn=lines.append)
    assert any("#### p: routing" in line for line in lines)
    assert set(POOL_GATES) >= {"energy", "UniversalGate() + pool", "FastRouter + pool"}


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SKGATE_DATA_DIR"), reason="SKGATE_DATA_DIR unset")
def test_the_pool_on_real_data():
    # MNIST + CIFAR-10: the CIFAR-10 expert's energies run hot on digits, and the pool of
    # unlabelled gate images alone corrects it (0.86 -> 0.99 on seed 0, docs/benchmarks.md)
    results = run_pool(problems=("mnist_cifar10",), seeds=(0,), budgets=(0, 5), draws=1,
                       rows=["UniversalGate() + pool"], print_fn=lambda *a: None)
    routing = {(r["k"], r["gate"]): r["routing"] for r in results["pool"]}
    energy = routing[0, "energy"]
    assert routing[0, "UniversalGate() + pool"] > energy + 0.05
    assert routing[5, "UniversalGate() + pool"] > energy + 0.05


def test_merge_lets_a_later_run_replace_some_gates_rows(tmp_path):
    import json

    from skgate.bench._pool import merge_pool_runs

    def row(seed, gate, routing):
        return {"problem": "p", "seed": seed, "k": 0, "gate": gate, "routing": routing}

    first = {"pool": [row(0, "energy", 0.8), row(0, "UniversalGate() + pool", 0.85)],
             "seeds": [0]}
    second = {"pool": [row(1, "energy", 0.7)], "seeds": [1]}
    rerun = {"pool": [row(0, "energy", 0.8), row(0, "UniversalGate() + pool", 0.9)],
             "seeds": [0]}
    paths = []
    for i, part in enumerate((first, second, rerun)):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(part))
    merged = merge_pool_runs(paths)
    assert merged["seeds"] == [0, 1]
    assert [(r["seed"], r["gate"], r["routing"]) for r in merged["pool"]] == [
        (0, "energy", 0.8), (0, "UniversalGate() + pool", 0.9), (1, "energy", 0.7)]
