"""bench timing: the keys and ratios of predict_overhead, and its table (no timing asserted)."""

import numpy as np

from skgate import MixtureOfExperts
from skgate.bench.__main__ import report_timing
from skgate.bench._timing import predict_overhead
from skgate.utils._testing import slice_expert


def test_predict_overhead_reports_every_measurement_and_its_ratio():
    X = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    moe = MixtureOfExperts([("a", slice_expert(4, 0, [0, 1])),
                            ("b", slice_expert(4, 2, [2, 3]))]).fit(X)
    result = predict_overhead(moe, X, repeats=2)
    for key in ["predict_s", "predict_parallel_s", "modules_s", "forward_s",
                "forward_transform_s"]:
        assert result[key] > 0
    assert result["ratio_modules"] == result["predict_s"] / result["modules_s"]
    assert result["ratio"] == result["predict_s"] / result["forward_s"]
    assert result["ratio_transform"] == result["predict_s"] / result["forward_transform_s"]
    assert result["ratio_parallel"] == result["predict_parallel_s"] / result["predict_s"]
    assert result["n_samples"] == 50
    assert moe.n_jobs is None  # the parallel predict's setting is undone

    lines = []
    report_timing([{**result, "problem": "toy", "threads": 1}], print_fn=lines.append)
    table = "\n".join(lines)
    assert "experts' modules alone" in table and "predict / modules" in table
    assert f"{result['ratio_modules']:.3f}" in table and "| toy " in table
    assert "n_jobs=-1 / predict" in table and f"{result['ratio_parallel']:.3f}" in table


def test_the_forward_passes_wait_for_the_gpu(monkeypatch):
    # #25 item 13: GPU kernels run asynchronously; the clock stopped before they ran
    from skgate.bench import _timing

    X = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    experts = [slice_expert(4, 0, [0, 1]), slice_expert(4, 2, [2, 3])]
    calls = []
    monkeypatch.setattr(_timing.torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(_timing.torch.cuda, "synchronize", lambda *a: calls.append(a))
    for transform in (False, True):
        calls.clear()
        _timing._expert_passes(experts, X, 16, transform=transform)
        assert len(calls) == 2  # before the clock starts and before it stops
