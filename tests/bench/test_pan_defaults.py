"""``bench pan --defaults``: PANGate's defaults against the paper's settings."""

import pytest
from test_universal_bench import _data  # the same synthetic problem

from skgate.bench import _pan_defaults
from skgate.bench._pan_defaults import PAN_SETTINGS, report_pan_defaults, run_pan_defaults
from skgate.gates import PANGate


def _result(problem, seed, routing):
    return {"problem": problem, "seed": seed, "settings": {
        label: {"routing": r, "accuracy": r, "fit_s": 1.0}
        for label, r in zip(PAN_SETTINGS, routing)}}


def test_the_settings_are_the_papers_and_the_defaults():
    paper, *_, default = PAN_SETTINGS.values()
    assert paper == {"reads": "own", "fallback": None}
    assert default == {}  # the defaults themselves
    assert PANGate().reads == "auto" and PANGate().fallback == "attribution"


def test_the_report_gives_the_defaults_gain_per_set_with_its_seed_spread():
    lines = []
    report_pan_defaults([_result("a", 0, [0.90, 0.91, 0.92, 0.95]),
                         _result("a", 1, [0.80, 0.81, 0.82, 0.81]),
                         _result("b", 0, [0.70, 0.70, 0.70, 0.69])], print_fn=lines.append)
    rows = {line.split(" | ")[0]: line for line in lines if line.startswith("| a |")
            or line.startswith("| b |")}
    # set a: gains +0.05 and +0.01 -> +0.03 ± 0.02; set b: one seed, -0.01 ± 0
    assert rows["| a"].endswith("| +0.0300 ± 0.0200 |")
    assert "| 2 |" in rows["| a"] and "0.8800 ± 0.0700" in rows["| a"]
    assert rows["| b"].endswith("| -0.0100 ± 0.0000 |")
    assert "lowest -0.0100, highest +0.0300, average +0.0100" in lines[-1]


def test_an_unknown_expert_set_is_a_clear_error():
    with pytest.raises(ValueError, match="no_such_set"):
        run_pan_defaults("no_such_set", 0)


def test_every_setting_is_fitted_and_scored_on_the_same_outputs(monkeypatch):
    data = _data()
    monkeypatch.setattr(_pan_defaults, "problem_outputs", lambda *a, **k: data)
    result = run_pan_defaults("disjoint_mnist", 0)
    assert list(result["settings"]) == list(PAN_SETTINGS)
    for row in result["settings"].values():
        assert 0 <= row["routing"] <= 1 and 0 <= row["accuracy"] <= 1 and row["fit_s"] > 0
