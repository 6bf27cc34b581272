"""``python -m skgate selftest``: one PASS/FAIL line per check, status 1 on any failure.

CI runs the whole command (``.ci/run``); here the checks' reporting is tested with a broken
gate and a loading process that fails, which keeps the test fast."""

import io

import torch

from skgate import _selftest
from skgate.__main__ import main
from skgate.gates import NaiveConcatGate, SoftMoE


class _BrokenGate(NaiveConcatGate):
    def _fit(self, outputs, y):
        raise RuntimeError("broken on purpose")


def test_every_check_reports_and_a_failure_sets_the_status(monkeypatch):
    monkeypatch.setattr(_selftest, "_gates", lambda device: [
        ("NaiveConcatGate", NaiveConcatGate()),
        ("SoftMoE", SoftMoE("linear", max_epochs=1, device=device, random_state=0)),
        ("Broken", _BrokenGate()),
    ])
    monkeypatch.setattr(_selftest, "_LOADER", "import sys; sys.exit(3)")
    out = io.StringIO()
    assert _selftest.run_selftest("cpu", out) == 1
    lines = out.getvalue().splitlines()
    status = {line.split(":")[0][6:]: line[:4] for line in lines if line[:4] in ("PASS", "FAIL")}
    assert status == {
        "device": "PASS", "experts": "PASS", "gate NaiveConcatGate": "PASS",
        "gate SoftMoE": "PASS", "gate Broken": "FAIL",
        "joint training (SoftMoE train_experts=True)": "PASS",
        "n_jobs": "PASS", "mixed devices": "FAIL", "MixtureOfExperts.to": "PASS",
        "save on the device, load without a GPU": "FAIL",
    }
    assert any("broken on purpose" in line for line in lines)
    assert any(line.startswith("FAIL  mixed devices: AssertionError: Broken: broken on purpose")
               for line in lines)  # the mixed-devices check names the gate that failed
    assert lines[-1].startswith("selftest on cpu: 7 passed, 3 failed")


def test_a_device_that_is_not_here_fails_at_once(capsys):
    if torch.cuda.is_available():
        assert main(["selftest", "--device", "cuda:99"]) == 1
    else:
        assert main(["selftest", "--device", "cuda"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  device: ValueError" in out
    assert "0 passed, 1 failed" in out
