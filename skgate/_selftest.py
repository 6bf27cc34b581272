"""``python -m skgate selftest --device DEVICE``: every gate end to end on one device.

On scikit-learn's digits (8 x 8 images, shipped with scikit-learn: no download), two small
experts (digits 0-4 and 5-9) are trained on the device, then each check prints one line,
``PASS`` or ``FAIL``, with what it did; the status is 1 if any check failed. The checks:

- the experts train on the device and their modules are there;
- every gate (NaiveConcatGate, AugmentedGate, UniversalGate, PANGate, SoftMoE, FloorGate,
  FastRouter) is fitted in a mixture, which predicts, routes and gives the experts' outputs,
  better than chance;
- joint training: ``SoftMoE(train_experts=True)`` on the device over experts created on the
  CPU; the trained experts then live on the device and predict alone;
- ``n_jobs=2`` (the experts in threads) predicts what ``n_jobs=1`` does;
- mixed devices: one expert on the device and one on the CPU, every gate fitted on the
  device over them, predicting (with ``n_jobs=2`` too);
- ``MixtureOfExperts.to``: moved to the CPU and back, a mixture keeps its predictions;
- persistence: mixtures saved on the device with ``skgate.save`` and with pickle are loaded
  in a new Python process that sees no GPU (``CUDA_VISIBLE_DEVICES=""``) and give the same
  probabilities there.

It takes well under a minute on a CPU.
"""

import copy
import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

#: probabilities computed on another device (or a CPU) agree to float32 rounding, summed
#: over a few layers; on the same device they are identical
TOLERANCE = 1e-4

_LOADER = """
import pickle, sys, warnings
import numpy as np
import torch
import skgate
warnings.simplefilter("ignore")
folder = sys.argv[1]
data = np.load(folder + "/X.npy")
results = {"cuda_available": np.array(torch.cuda.is_available())}
for name in sys.argv[2:]:
    if name.endswith(".skgate"):
        moe = skgate.load(folder + "/" + name)
    else:
        with open(folder + "/" + name, "rb") as fp:
            moe = pickle.load(fp)
    results[name] = moe.predict_proba(data)
np.savez(folder + "/loaded.npz", **results)
"""


class _Report:
    """Prints one PASS/FAIL line per check and counts the failures."""

    def __init__(self, out):
        self.out = out
        self.failed = 0
        self.passed = 0

    def check(self, name, run):
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                detail = run()
        except Exception as exc:  # a check that raises fails; the others still run
            self.failed += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self._line("FAIL", name, f"{type(exc).__name__}: {exc} "
                       f"[{Path(where.filename).name}:{where.lineno}]", start)
            return None
        self.passed += 1
        self._line("PASS", name, detail, start)
        return detail

    def _line(self, status, name, detail, start):
        seconds = time.perf_counter() - start
        text = f"{status}  {name}: {detail}" if detail else f"{status}  {name}"
        print(f"{text} ({seconds:.1f} s)", file=self.out, flush=True)


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    X, y = X[order], y[order]
    return (X[:800], y[:800]), (X[800:1300], y[800:1300]), (X[1300:], y[1300:])


def _expert(digits, device, **kwargs):
    import torch

    from .experts import Expert
    from .models import MLP

    return Expert(MLP, module__n_classes=len(digits), module__hidden_layer_sizes=(32,),
                  classes=list(digits), max_epochs=15, lr=0.01,
                  optimizer=torch.optim.Adam, batch_size=64,
                  train_split=None, verbose=0, random_state=0, device=device, **kwargs)


def _on(module, device):
    """The device type of the module's parameters, checked to be ``device``'s."""
    import torch

    types = {p.device.type for p in module.parameters()}
    expected = torch.device(device).type
    if types != {expected}:
        raise AssertionError(f"the module's parameters are on {sorted(types)}, not {device}")
    return expected


def _gates(device):
    from .gates import (
        AugmentedGate,
        FastRouter,
        FloorGate,
        NaiveConcatGate,
        PANGate,
        SoftMoE,
        UniversalGate,
    )

    return [
        ("NaiveConcatGate", NaiveConcatGate("energy")),
        ("AugmentedGate", AugmentedGate(random_state=0)),
        ("UniversalGate", UniversalGate(calibration="shift", random_state=0)),
        ("PANGate", PANGate(max_epochs=10, device=device, random_state=0)),
        ("SoftMoE", SoftMoE("mlp", max_epochs=10, device=device, random_state=0)),
        ("FloorGate", FloorGate(PANGate(max_epochs=5, device=device, random_state=0),
                                random_state=0)),
        ("FastRouter", FastRouter(NaiveConcatGate("energy"), max_epochs=10, device=device,
                                  random_state=0)),
    ]


def _exercise(moe, X, y):
    """predict, predict_proba, route, route_proba and the experts' outputs; accuracy."""
    proba = moe.predict_proba(X)
    labels = moe.predict(X)
    routes = moe.route(X)
    weights = moe.route_proba(X)
    outputs = moe.expert_outputs(X[:50])
    if not np.allclose(proba.sum(axis=1), 1, atol=1e-4):
        raise AssertionError("the probabilities do not sum to 1")
    if not np.array_equal(labels, moe.classes_[proba.argmax(axis=1)]):
        raise AssertionError("predict is not the argmax of predict_proba")
    if routes.shape != (len(X),) or weights.shape != (len(X), len(moe.experts_)):
        raise AssertionError(f"route shapes {routes.shape} and {weights.shape}")
    if outputs.n_samples != 50 or outputs.n_experts != len(moe.experts_):
        raise AssertionError("expert_outputs returned the wrong shape")
    accuracy = float(np.mean(labels == y))
    if accuracy < 0.5:  # ten classes: chance is 0.1
        raise AssertionError(f"accuracy {accuracy:.3f}, below 0.5")
    return accuracy


def run_selftest(device="cpu", out=None):
    """Run every check on ``device``; print a PASS/FAIL line each.

    Parameters
    ----------
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:<index>"`` or ``"auto"``.
    out : file-like or None, default=None
        Where the lines go (default: standard output).

    Returns
    -------
    status : int
        0 if every check passed, 1 otherwise.
    """
    out = sys.stdout if out is None else out
    report = _Report(out)
    start = time.perf_counter()
    import torch

    from . import MixtureOfExperts, save
    from .gates import SoftMoE
    from .utils._device import resolve_device

    print(f"skgate selftest on {device!r} (torch {torch.__version__}, CUDA available: "
          f"{torch.cuda.is_available()})", file=out, flush=True)
    resolved = report.check("device", lambda: str(resolve_device(device, "selftest")))
    if resolved is None:
        return _summary(report, device, start, out)
    device = resolved
    (X_fit, y_fit), (X_gate, y_gate), (X_test, y_test) = _digits()
    low, high = range(5), range(5, 10)
    experts = {}

    def train_experts():
        for name, digits in (("low", low), ("high", high)):
            mine = np.isin(y_fit, list(digits))
            expert = _expert(digits, device).fit(X_fit[mine], y_fit[mine]).freeze()
            _on(expert.module_, device)
            experts[name] = expert
        scores = [experts[name].score(X_test[np.isin(y_test, list(digits))],
                                      y_test[np.isin(y_test, list(digits))])
                  for name, digits in (("low", low), ("high", high))]
        if min(scores) < 0.7:
            raise AssertionError(f"experts' accuracy on their own digits {scores}")
        return f"digits 0-4 and 5-9 on {device}, accuracy {scores[0]:.3f} and {scores[1]:.3f}"

    if report.check("experts: fit on the device", train_experts) is None:
        return _summary(report, device, start, out)
    named = [("low", experts["low"]), ("high", experts["high"])]
    fitted = {}
    for name, gate in _gates(device):
        def fit_gate(gate=gate, name=name):
            moe = MixtureOfExperts(named, gate=gate, random_state=0).fit(X_gate, y_gate)
            fitted[name] = moe
            accuracy = _exercise(moe, X_test, y_test)
            return f"fit, predict, route, expert outputs; accuracy {accuracy:.3f}"

        report.check(f"gate {name}", fit_gate)

    def joint():
        gate = SoftMoE("mlp", train_experts=True, max_epochs=15, lr=0.01, device=device,
                       random_state=0)
        moe = MixtureOfExperts([("low", _expert(range(10), "cpu")),
                                ("high", _expert(range(10), "cpu"))], gate=gate)
        moe.fit(X_fit, y_fit)
        for expert in moe.experts_:  # trained on the gate's device: they live there now
            _on(expert.module_, device)
            if torch.device(expert.device).type != torch.device(device).type:
                raise AssertionError(f"expert.device is {expert.device!r}, its module on "
                                     f"{device}")
        moe.experts_[0].predict(X_test[:20])
        fitted["SoftMoE-joint"] = moe
        return (f"experts created on cpu, trained with the gate on {device}; accuracy "
                f"{_exercise(moe, X_test, y_test):.3f}")

    report.check("joint training (SoftMoE train_experts=True)", joint)

    def threads():
        moe = fitted["NaiveConcatGate"]
        one = moe.set_params(n_jobs=1).predict_proba(X_test)
        two = moe.set_params(n_jobs=2).predict_proba(X_test)
        moe.set_params(n_jobs=None)
        if not np.array_equal(one.argmax(axis=1), two.argmax(axis=1)) or not np.allclose(
                one, two, atol=TOLERANCE):
            raise AssertionError("n_jobs=2 predicts differently")
        return "n_jobs=2 predicts what n_jobs=1 does"

    report.check("n_jobs: experts in threads", threads)

    def mixed():
        # the "high" expert on the CPU, "low" on the device, every gate on the device
        high = copy.deepcopy(experts["high"]).to("cpu")
        _on(high.module_, "cpu")
        pair = [("low", experts["low"]), ("high", high)]
        for name, gate in _gates(device):
            try:
                moe = MixtureOfExperts(pair, gate=gate, random_state=0).fit(X_gate, y_gate)
                _exercise(moe, X_test, y_test)
            except Exception as exc:
                raise AssertionError(f"{name}: {exc}") from exc
            if name == "NaiveConcatGate":  # data-free: what the one-device mixture predicts
                threaded = moe.set_params(n_jobs=2).predict_proba(X_test)
                gap = np.abs(threaded - fitted[name].predict_proba(X_test)).max()
                if gap > TOLERANCE:
                    raise AssertionError(f"{name} with n_jobs=2 moved by {gap:.2e}")
        return (f"experts on {device} and cpu, gates on {device}: every gate fits and "
                f"predicts, n_jobs=2 too")

    report.check("mixed devices", mixed)

    def move():
        moe = fitted["SoftMoE"]
        before = moe.predict_proba(X_test)
        moe.to("cpu")
        on_cpu = moe.predict_proba(X_test)
        _on(moe.experts_[0].module_, "cpu")
        moe.to(device)
        back = moe.predict_proba(X_test)
        _on(moe.experts_[0].module_, device)
        gap = max(np.abs(on_cpu - before).max(), np.abs(back - before).max())
        if gap > TOLERANCE:
            raise AssertionError(f"the probabilities moved by {gap:.2e}")
        return f"to('cpu') and back to {device}: probabilities within {gap:.1e}"

    report.check("MixtureOfExperts.to", move)

    def persistence():
        names = [name for name in ("SoftMoE", "SoftMoE-joint", "PANGate", "FastRouter",
                                   "UniversalGate") if name in fitted]
        if not names:
            raise AssertionError("no fitted mixture to save")
        with tempfile.TemporaryDirectory(prefix="skgate-selftest-") as folder:
            np.save(os.path.join(folder, "X.npy"), X_test)
            files, expected = [], {}
            for name in names:
                moe = fitted[name]
                expected[f"{name}.skgate"] = expected[f"{name}.pkl"] = moe.predict_proba(X_test)
                save(moe, os.path.join(folder, f"{name}.skgate"))
                with open(os.path.join(folder, f"{name}.pkl"), "wb") as fp:
                    pickle.dump(moe, fp)
                files += [f"{name}.skgate", f"{name}.pkl"]
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
            source = str(Path(__file__).resolve().parents[1])
            env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH"))
                                                if p)
            done = subprocess.run([sys.executable, "-c", _LOADER, folder, *files], env=env,
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise AssertionError("the process without a GPU failed:\n"
                                     + done.stderr.strip()[-2000:])
            with np.load(os.path.join(folder, "loaded.npz")) as loaded:
                if bool(loaded["cuda_available"]):
                    raise AssertionError("the loading process saw a GPU")
                gaps = {name: float(np.abs(loaded[name] - expected[name]).max())
                        for name in files}
        worst = max(gaps, key=gaps.get)
        if gaps[worst] > TOLERANCE:
            raise AssertionError(f"{worst} predicts differently there (by {gaps[worst]:.2e})")
        return (f"{len(names)} mixtures saved on {device} (skgate.save and pickle), loaded in "
                f"a process without a GPU: probabilities within {gaps[worst]:.1e}")

    report.check("save on the device, load without a GPU", persistence)
    return _summary(report, device, start, out)


def _summary(report, device, start, out):
    print(f"selftest on {device}: {report.passed} passed, {report.failed} failed "
          f"({time.perf_counter() - start:.0f} s)", file=out, flush=True)
    return 1 if report.failed else 0
