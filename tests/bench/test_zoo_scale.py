"""The zoo at scale (bench zoo --memory and --grow) on small synthetic experts."""

import numpy as np
import pytest

from skgate import MixtureOfExperts
from skgate.bench import _zoo_scale
from skgate.bench.__main__ import main
from skgate.bench._zoo_scale import (
    grow_row,
    memory_rows,
    report_grow,
    report_memory,
    same_probabilities,
)
from skgate.experts import Expert
from skgate.gates import NaiveConcatGate, UniversalGate
from skgate.utils._testing import Counting


def _experts(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(f"e{k}", Expert.from_pretrained(Counting(rng.normal(size=(2, 6))),
                                             classes=[2 * k, 2 * k + 1])) for k in range(n)]


def test_grow_row_runs_only_the_new_expert_with_memory():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)).astype(np.float32)
    y = rng.integers(6, size=40)  # the classes of the old experts (the zoos: every class)
    X_check = X[:10]
    *old, new = _experts(4)
    row = grow_row(old, new, X, y, gate=UniversalGate(calibration="shift", random_state=0),
                   X_check=X_check)
    assert row["n"] == 3 and row["gate_inputs"] == 40 and row["same"] is True
    for key in ("plain_s", "first_s", "grow_s", "again_s"):
        assert row[key] >= 0
    # the old experts: the fit without memory, the first fit with it, two predictions;
    # the new one: the fit without memory, the refit after adding it, two predictions;
    # the refit with nothing new runs none of them
    assert [e.module_.seen for _, e in old] == [40 + 40 + 2 * 10] * 3
    assert new[1].module_.seen == 40 + 40 + 2 * 10


def test_memory_rows_and_report(monkeypatch, capsys):
    calls = []

    def fake(moe, X, n):  # the fresh process is the perf bench's, tested there
        calls.append((moe.n_jobs, n))
        return {"predict_s": 1.0, "peak_mb": 100.0 + n / 1000, "exact_peak": True}

    monkeypatch.setattr(_zoo_scale, "measure_memory", fake)
    X = np.zeros((5, 6), dtype=np.float32)
    moe = MixtureOfExperts(_experts(2), NaiveConcatGate()).fit(X)
    rows = memory_rows(moe, X, (10, 1000))
    assert calls == [(None, 10), (None, 1000), (2, 10), (2, 1000)]
    assert rows[1]["X_mb"] == 1000 * 6 * 4 / 2**20
    report_memory({"n": 2, "seed": 0, "same_probabilities": True, "rows": rows})
    out = capsys.readouterr().out
    assert "peak memory beyond X" in out and "| 1,000 " in out
    assert "n_jobs=None: +1 MB from 10 to 1,000 inputs" in out  # 101.0 - 100.01
    assert "the same probabilities on 1,000 inputs: True" in out


def test_same_probabilities_with_two_threads():
    X = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    moe = MixtureOfExperts(_experts(3), NaiveConcatGate()).fit(X)
    assert same_probabilities(moe, X) is True
    assert moe.n_jobs is None


def test_report_grow(capsys):
    report_grow([{"n": 10, "gate_inputs": 8000, "plain_s": 20.0, "first_s": 19.0,
                  "grow_s": 4.0, "again_s": 2.0, "same": True}])
    out = capsys.readouterr().out
    assert "| 10 + 1 " in out and "| 0.20 " in out and "| 8,000 " in out


def test_grow_needs_the_other_zoo_in_the_cache(tmp_path):
    with pytest.raises(FileNotFoundError, match="zoo20_seed0_epochs10.pt"):
        _zoo_scale._donor(10, 0, str(tmp_path))


def test_the_command_parses_memory_and_grow(monkeypatch, capsys, tmp_path):
    seen = {}
    memory_row = {"n_jobs": None, "inputs": 100, "X_mb": 1.0, "predict_s": 1.0, "peak_mb": 5.0}
    grow = {"n": 10, "gate_inputs": 80, "plain_s": 2.0, "first_s": 2.0, "grow_s": 1.0,
            "again_s": 0.5}

    def run_memory(n, seed, **kwargs):
        seen["memory"] = (n, seed, kwargs["inputs"])
        return {"n": n, "seed": seed, "same_probabilities": True, "rows": [memory_row]}

    def run_grow(sizes, seed, **kwargs):
        seen["grow"] = (list(sizes), seed)
        return [grow]

    monkeypatch.setattr(_zoo_scale, "run_memory", run_memory)
    monkeypatch.setattr(_zoo_scale, "run_grow", run_grow)
    assert main(["zoo", "--memory", "--grow", "--inputs", "100", "200", "--seeds", "1",
                 "--data-dir", str(tmp_path)]) == 0
    assert seen == {"memory": (20, 1, [100, 200]), "grow": ([10, 20], 1)}
    out = capsys.readouterr().out
    assert "zoo20 seed 1" in out and "| 10 + 1 " in out
