"""bench perf: the report on hand-made results, and a smoke run of the command on real data."""

import json
import os
import warnings

import numpy as np
import pytest

from skgate.bench.__main__ import main
from skgate.bench._perf import GATES, report_perf
from skgate.exceptions import SkgateWarning


def _result():
    gate = {"fit_s": 1.0, "predict_s": 2.0, "forward_s": 1.0, "ratio": 2.0,
            "sizes": {1000: {"predict_s": 0.1, "peak_mb": 3.0, "exact_peak": True},
                      10000: {"predict_s": 1.0, "peak_mb": 10.0, "exact_peak": True},
                      100000: {"predict_s": 10.0, "peak_mb": 12.5, "exact_peak": True}}}
    return {"problem": "toy", "device": "cpu", "trained": True, "threads": 1,
            "n_overhead": 10000, "gates": {"energy": gate, "augmented": {**gate, "predict_s": 8}},
            "augmented_pass": {"passes": 3, "per_pass_s": 2.0, "per_pass_over_forward": 2.0},
            "router": {"router_routing": 0.97, "teacher_routing": 0.975, "agreement": 0.99,
                       "speedup": 2.0}}


def test_report_shows_every_measure():
    lines = []
    report_perf([_result()], print_fn=lines.append)
    out = "\n".join(lines)
    assert "## toy (cpu, 1 threads, trained experts)" in out
    # the growth column is the peak at the largest size minus the next: 12.5 - 10
    assert "| energy    | 0.1000 | 3.0000  | 1.0000  | 10.0000  | 10.0000  | 12.5000   | 2.5000" \
        in out
    assert "3 passes beyond the plain one, 2.000 s each" in out
    assert "routing 0.9700 against its teacher's (UniversalGate) 0.9750" in out
    assert "predict 0.500 x the experts' forward passes (speed-up 2.00)" in out


def test_the_gpu_memory_is_measured_and_reported(monkeypatch):
    # #25 item 13: the process's resident size does not hold GPU memory
    import pickle

    import torch

    from skgate import MixtureOfExperts
    from skgate.bench import _perf
    from skgate.utils._testing import slice_expert

    X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    moe = MixtureOfExperts([("a", slice_expert(4, 0, [0, 1])),
                            ("b", slice_expert(4, 2, [2, 3]))]).fit(X)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *a: None)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: 5 * 2**20)
    results = []

    class Queue:
        put = staticmethod(results.append)

    _perf._memory_child(pickle.dumps((moe, X)), 128, 1, Queue())
    assert results[0]["gpu_peak_mb"] == 4.0
    result = _result()
    for size in result["gates"]["energy"]["sizes"].values():
        size["gpu_peak_mb"] = 7.0
    lines = []
    report_perf([result], print_fn=lines.append)
    assert "GPU MB@1000" in "\n".join(lines) and "7.0000" in "\n".join(lines)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SKGATE_DATA_DIR"), reason="SKGATE_DATA_DIR unset")
def test_bench_perf_smoke(tmp_path, capsys):
    out = tmp_path / "perf.json"
    with warnings.catch_warnings():  # the smoke's few fit rows still cover every expert
        warnings.filterwarnings("error", message=".*no labelled sample", category=SkgateWarning)
        assert main(["perf", "--smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Predict time (s) and peak memory beyond X (MB" in printed
    results = json.loads(out.read_text())
    assert {r["problem"] for r in results} == {"disjoint_mnist", "mnist_cifar10"}
    for result in results:
        assert set(result["gates"]) == set(GATES)
        for gate in result["gates"].values():
            assert gate["ratio"] > 0 and np.isfinite(gate["fit_s"])
            assert all(np.isfinite(s["peak_mb"]) and s["peak_mb"] >= 0
                       for s in gate["sizes"].values())
        assert 0 <= result["router"]["agreement"] <= 1
