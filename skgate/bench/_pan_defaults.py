"""PANGate's defaults against the paper's settings (``python -m skgate bench pan --defaults``).

On every expert set of the universal bench (the paper's two, the four transfer sets and the
three held-out ones), with every gate label, ``PANGate(features="penultimate")`` under four
settings: the paper's (each network reads its own expert; energy decides where not exactly
one network claims), the attribution fallback alone, reading every expert alone, and both
(the defaults since 2026-12-08). The defaults were chosen on the model zoo's ``zoo10``
seed 0, so every row here is held out from that choice.
"""

import numpy as np

from ..gates import PANGate
from ..utils._evaluation import mean_std, timed
from ._cli import HELDOUT_PROBLEMS, PROBLEMS, TRANSFER_PROBLEMS
from ._universal import _scores, problem_outputs

#: the expert sets of the comparison
DEFAULTS_PROBLEMS = PROBLEMS + TRANSFER_PROBLEMS + HELDOUT_PROBLEMS
#: label: PANGate keywords beyond features="penultimate"
PAN_SETTINGS = {
    "paper (own, energy)": {"reads": "own", "fallback": None},
    "own, attribution": {"reads": "own", "fallback": "attribution"},
    "all, energy": {"reads": "all", "fallback": None},
    "default (all, attribution)": {},
}
_DEFAULT, _PAPER = "default (all, attribution)", "paper (own, energy)"


def run_pan_defaults(problem_name, seed, *, data_dir=None, cache_dir=None, **_):
    """Routing, accuracy and fit time of each of :data:`PAN_SETTINGS` on one set and seed."""
    data = problem_outputs(problem_name, seed, data_dir=data_dir, cache_dir=cache_dir,
                           layers=("penultimate",))
    result = {"problem": problem_name, "seed": seed, "settings": {}}
    for label, settings in PAN_SETTINGS.items():
        gate = PANGate(features="penultimate", random_state=seed, **settings)
        _, fit_s = timed(gate.fit, data.gate, data.y_gate)
        row = _scores(gate.route_proba(data.test), data)
        result["settings"][label] = {**row, "fit_s": fit_s}
    return result


def report_pan_defaults(results, print_fn=print):
    """One row per expert set: each setting's routing (mean ± std over the seeds), and the
    default's difference from the paper's settings (mean ± std of the per-seed differences)."""
    print_fn("\n### PANGate's defaults against the paper's settings: routing "
             "(every gate label; mean ± std over the seeds)\n")
    header = ["expert set", "seeds", *PAN_SETTINGS, "default - paper"]
    print_fn("| " + " | ".join(header) + " |")
    print_fn("|" + "---|" * len(header))
    differences = []
    for problem in dict.fromkeys(r["problem"] for r in results):
        runs = [r["settings"] for r in results if r["problem"] == problem]
        cells = [mean_std([run[label]["routing"] for run in runs]) for label in PAN_SETTINGS]
        gain = [run[_DEFAULT]["routing"] - run[_PAPER]["routing"] for run in runs]
        differences.append(np.mean(gain))
        print_fn(f"| {problem} | {len(runs)} | " + " | ".join(cells)
                 + f" | {np.mean(gain):+.4f} ± {np.std(gain):.4f} |")
    fit = {label: np.mean([r["settings"][label]["fit_s"] for r in results])
           for label in PAN_SETTINGS}
    print_fn(f"\nThe default's seed-mean routing minus the paper's settings', per set: lowest "
             f"{min(differences):+.4f}, highest {max(differences):+.4f}, average "
             f"{np.mean(differences):+.4f}. Mean fit time: " + ", ".join(
                 f"{label} {s:.1f} s" for label, s in fit.items()) + ".")
