"""The label budget with an unlabelled pool (``python -m skgate bench universal --pool``).

On every expert set of the universal-gating bench (the paper's two and the four
transfer sets), k labelled images per expert are drawn from the gate data; the rest
of the gate data is the unlabelled pool (label ``-1``). Each gate is fitted as a user
would fit it:

- ``energy``: the data-free floor;
- ``UniversalGate (labels only)``: ``UniversalGate(pool="ignore")`` on the k labelled
  images per expert, the gate as it was before pools;
- ``UniversalGate() + pool``: the default ``UniversalGate()`` on the whole gate data,
  the unlabelled part marked ``-1``;
- ``UniversalGate(pool_calibration='affine') + pool``: the same with the simplest pool
  calibration (a scale and a shift per expert), at k = 0 only: the default's richer pool
  calibration was chosen on these rows, and this row shows what it adds;
- ``FloorGate(PANGate)``: on the labelled images (it uses no pool);
- ``FastRouter + pool``: the default ``FastRouter()`` (taught by ``UniversalGate()``) on
  the whole gate data, the pool marked ``-1`` (only at the budgets of
  :data:`ROUTER_BUDGETS`, one draw: it trains a network on the gate images), and the
  same with ``validation_fraction=None`` (the router always used, as before its check);
- ``LabelSpreading (logits)``: a reference row, scikit-learn's ``LabelSpreading``
  (k-nearest-neighbour graph) on the experts' concatenated, standardised logits over
  the whole gate data, predicting the owner of each test image.

All are tested on the full test set; routing and accuracy are the mean over draws.
"""

import multiprocessing
import pickle
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

from ..gates import FastRouter, FloorGate, NaiveConcatGate, PANGate, UniversalGate
from ..utils._arrays import one_hot
from ..utils._evaluation import format_table, mean_std, merge_runs, timed
from ._pan import PAPER_PAN
from ._problems import PROBLEMS, TRANSFER_PROBLEMS
from ._universal import _owners, _scores, draw, problem_outputs

#: the six expert sets
POOL_PROBLEMS = PROBLEMS + TRANSFER_PROBLEMS
#: labelled images per expert (None: every gate image labelled)
POOL_BUDGETS = (0, 1, 5, 20, 50, None)
#: the budgets at which the fast router is trained (it costs a network's training)
ROUTER_BUDGETS = (0, 20)


class _LabelSpreadingRouter:
    """The reference row: label spreading over the pool, on concatenated logits."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, outputs, y_owner):
        self.model_ = make_pipeline(StandardScaler(), LabelSpreading(kernel="knn",
                                                                     n_neighbors=10))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(np.hstack(outputs.logits), y_owner)
        return self

    def route_proba(self, outputs):
        owner = self.model_.predict(np.hstack(outputs.logits))
        return one_hot(owner, outputs.n_experts)


POOL_GATES = ("energy", "UniversalGate (labels only)", "UniversalGate() + pool",
              "UniversalGate(pool_calibration='affine') + pool", "FloorGate(PANGate)",
              "FastRouter + pool", "FastRouter(validation_fraction=None) + pool",
              "LabelSpreading (logits)")
#: the gates measured at some budgets only, and those budgets
ONLY_AT = {"FastRouter + pool": ROUTER_BUDGETS,
           "FastRouter(validation_fraction=None) + pool": ROUTER_BUDGETS,
           "UniversalGate(pool_calibration='affine') + pool": (0,)}


def _gate(name, seed):
    return {
        "UniversalGate (labels only)": lambda: UniversalGate(pool="ignore", random_state=seed),
        "UniversalGate() + pool": lambda: UniversalGate(random_state=seed),
        "FloorGate(PANGate)": lambda: FloorGate(
            PANGate(features="penultimate", random_state=seed, **PAPER_PAN),
            random_state=seed),
        "FastRouter + pool": lambda: FastRouter(random_state=seed),
        "FastRouter(validation_fraction=None) + pool": lambda: FastRouter(
            validation_fraction=None, random_state=seed),
        "UniversalGate(pool_calibration='affine') + pool": lambda: UniversalGate(
            pool_calibration="affine", random_state=seed),
    }[name]()


def _fit_route(name, data, rows, seed):
    """Fit gate ``name`` with the labelled gate images ``rows``; its test routing and fit
    time, or None when it does not apply at this budget."""
    y_pool = np.full(len(data.y_gate), -1, dtype=np.int64)
    y_pool[rows] = data.y_gate[rows]
    if name == "energy":
        gate, fit_s = timed(NaiveConcatGate("energy").fit, data.gate)
    elif name == "LabelSpreading (logits)":
        if not len(rows):
            return None
        owner = np.full(len(y_pool), -1)
        owner[rows] = _owners(data)[rows].argmax(axis=1)
        gate, fit_s = timed(_LabelSpreadingRouter().fit, data.gate, owner)
    elif name in ("UniversalGate (labels only)", "FloorGate(PANGate)"):
        if not len(rows):
            return None
        gate, fit_s = timed(clone(_gate(name, seed)).fit, data.gate.subset(rows),
                            data.y_gate[rows])
    else:  # the whole gate data, the pool marked -1
        gate, fit_s = timed(clone(_gate(name, seed)).fit, data.gate, y_pool)
    second_view = (getattr(gate, "pool_report_", None) or {}).get("second_view")
    info = {"fit_s": fit_s, "pool_used": getattr(gate, "pool_used_", None),
            "second_view": None if second_view is None else bool(second_view["used"]),
            "calibration": getattr(gate, "calibration_", None),
            "fallback": getattr(gate, "fallback_", None)}
    return {**_scores(gate.route_proba(data.test), data), **info}


def pool_rows(data, seed, *, budgets=POOL_BUDGETS, draws=3, gates=POOL_GATES,
              router_budgets=ROUTER_BUDGETS, print_fn=None):
    """Routing and accuracy of every gate at every budget on one expert set and seed."""
    owners = _owners(data)
    rng = np.random.default_rng(seed)
    rows = []
    for k in budgets:
        n_draws = 1 if k in (0, None) else draws
        picks = [np.array([], dtype=int)] if k == 0 else [draw(owners, k, rng)
                                                          for _ in range(n_draws)]
        for name in gates:
            router = name.startswith("FastRouter")
            if name in ONLY_AT and k not in (router_budgets if router else ONLY_AT[name]):
                continue
            runs = [_fit_route(name, data, pick, seed)
                    for pick in picks[:1 if router else None]]  # one draw: a network each
            runs = [r for r in runs if r is not None]
            if not runs:
                continue
            row = {"k": "all" if k is None else k, "gate": name,
                   **{m: float(np.mean([r[m] for r in runs]))
                      for m in ("routing", "accuracy", "fit_s")},
                   "pool_used": [r["pool_used"] for r in runs],
                   "calibration": [r["calibration"] for r in runs],
                   "fallback": [r.get("fallback") for r in runs],
                   "second_view": [r.get("second_view") for r in runs]}
            rows.append(row)
            if print_fn:
                print_fn(f"  {data.name} seed {seed} k={row['k']} {name}: "
                         f"routing {row['routing']:.4f} ({row['fit_s']:.1f} s)")
    return rows


def run_pool(problems=POOL_PROBLEMS, seeds=(0, 1, 2), *, data_dir=None, cache_dir=None,
             budgets=POOL_BUDGETS, draws=3, rows=None, print_fn=print):
    """:func:`pool_rows` for every expert set and seed; ``rows``: only the gates whose
    name contains one of these strings (case-insensitive), and energy."""
    gates = [g for g in POOL_GATES if g == "energy" or rows is None or
             any(r.lower() in g.lower() for r in rows)]
    results = {"pool": [], "seeds": list(seeds), "draws": draws}
    for seed in seeds:
        for name in problems:
            data = problem_outputs(name, seed, data_dir=data_dir, cache_dir=cache_dir,
                                   layers=("penultimate",))
            for row in pool_rows(data, seed, budgets=budgets, draws=draws, gates=gates,
                                 print_fn=print_fn):
                results["pool"].append({"problem": name, "seed": seed, **row})
    return results


def merge_pool_runs(paths):
    """The results saved by several runs (``--out``) as one.

    A later file's rows replace an earlier one's for the same expert set, seed, budget
    and gate: a rerun of some gates (``--rows``) updates their rows and keeps the rest.
    """
    merged = merge_runs(paths, "pool",
                        lambda row: (row["problem"], row["seed"], str(row["k"]), row["gate"]))
    return {**merged, "draws": None}


def _seed_means(runs, problem, k, gate, metric="routing"):
    return [r[metric] for r in runs if (r["problem"], r["k"], r["gate"]) == (problem, k, gate)]


def report_pool(results, print_fn=print):
    """One routing table per expert set, then the summary against the issue's targets:
    the share of the gap between energy and ``UniversalGate()`` with every label that
    the pool closes at each budget."""
    runs = results["pool"]
    problems = list(dict.fromkeys(r["problem"] for r in runs))
    ks = list(dict.fromkeys(r["k"] for r in runs))
    for problem in problems:
        gates = [g for g in POOL_GATES if any(r["gate"] == g and r["problem"] == problem
                                               for r in runs)]
        table = []
        for k in ks:
            row = {"k": str(k)}
            for gate in gates:
                values = _seed_means(runs, problem, k, gate)
                row[gate] = mean_std(values) if values else "-"
            used = [u for r in runs if (r["problem"], r["k"], r["gate"]) ==
                    (problem, k, "UniversalGate() + pool") for u in r["pool_used"]]
            row["used"] = f"{sum(map(bool, used))}/{len(used)}" if used else "-"
            views = [v for r in runs if (r["problem"], r["k"], r["gate"]) ==
                     (problem, k, "UniversalGate() + pool") for v in r.get("second_view", [])
                     if v is not None]
            row["view"] = f"{sum(views)}/{len(views)}" if views else "-"
            fell = [f for r in runs if (r["problem"], r["k"], r["gate"]) ==
                    (problem, k, "FastRouter + pool") for f in r.get("fallback", [])
                    if f is not None]
            row["fell"] = f"{sum(map(bool, fell))}/{len(fell)}" if fell else "-"
            if any(row[g] != "-" for g in gates if g != "energy"):  # else energy alone
                table.append(row)
        print_fn(f"\n#### {problem}: routing (k labelled per expert; seeds "
                 f"{results['seeds']}, mean ± std of the seed means)\n")
        print_fn(format_table(table, ["k", *gates, "used", "view", "fell"],
                              headers=["k", *gates, "pool calibration used (fits)",
                                       "second view used (fits)",
                                       "router fell back to its teacher (fits)"]))
    _report_gaps(runs, problems, ks, print_fn)


def _report_gaps(runs, problems, ks, print_fn):
    pool, ref = "UniversalGate() + pool", "UniversalGate (labels only)"
    table = []
    for problem in problems:
        energy = np.mean(_seed_means(runs, problem, 0, "energy"))
        full = _seed_means(runs, problem, "all", ref)
        if not full:
            continue
        gap = np.mean(full) - energy
        row = {"problem": problem, "energy": f"{energy:.4f}", "all": f"{np.mean(full):.4f}"}
        for k in ks:
            if k == "all":
                continue
            mean = np.mean(_seed_means(runs, problem, k, pool))
            row[f"k{k}"] = f"{mean:.4f} ({mean - energy:+.4f}; " + (
                f"{(mean - energy) / gap:.0%})" if gap > 0 else "-)")
        table.append(row)
    if not table:
        return
    average = {"problem": "average", "energy": "", "all": ""}
    for k in ks:
        if k == "all":
            continue
        gains, gaps = [], []
        for problem in problems:
            energy = np.mean(_seed_means(runs, problem, 0, "energy"))
            full = _seed_means(runs, problem, "all", ref)
            mine = _seed_means(runs, problem, k, pool)
            if full and mine:
                gains.append(np.mean(mine) - energy)
                gaps.append(np.mean(full) - energy)
        if gains:
            average[f"k{k}"] = (f"{np.mean(gains):+.4f}; " + (
                f"{np.mean(gains) / np.mean(gaps):.0%}" if np.mean(gaps) > 0 else "-"))
    table.append(average)
    columns = ["problem", "energy", "all", *[f"k{k}" for k in ks if k != "all"]]
    print_fn("\n#### UniversalGate() + pool against energy: seed-mean routing (difference; "
             "share of the gap between energy and the labels-only gate with every label)\n")
    print_fn(format_table(table, columns, headers=[
        "expert set", "energy", "labels-only gate, all labels",
        *[f"k = {k}" for k in ks if k != "all"]]))


# -- fit time and peak memory with a large pool, each in a fresh process ------------------
def _pool_fit_child(payload, n_pool, queue):
    """Fit ``UniversalGate()`` inside a mixture on ``X_labelled`` plus ``n_pool`` unlabelled
    rows (the gate images repeated) in this fresh process: seconds, and the peak memory
    above what the process held with ``X`` allocated."""
    import torch

    from .. import MixtureOfExperts
    from ._perf import _status

    torch.set_num_threads(1)
    experts, X_labelled, y_labelled, X_images = pickle.loads(payload)
    X = np.concatenate([X_labelled, np.resize(X_images, (n_pool, *X_images.shape[1:]))])
    y = np.concatenate([y_labelled, np.full(n_pool, -1, dtype=y_labelled.dtype)])
    moe = MixtureOfExperts(experts, gate=UniversalGate(random_state=0), random_state=0)
    moe.fit(X[:2000], y[:2000])  # warm-up: kernels, lazy buffers, imports
    exact = Path("/proc/self/clear_refs").exists()
    if exact:
        Path("/proc/self/clear_refs").write_text("5")
    before = _status("VmRSS") if exact else 0
    fit_s = timed(moe.fit, X, y)[1]
    peak = (_status("VmHWM") - before) if exact else float("nan")
    queue.put({"n_pool": n_pool, "fit_s": fit_s, "peak_mb": peak / 2**20,
               "X_mb": X.nbytes / 2**20, "pool_used": bool(moe.gate_.pool_used_),
               "gate_pool_size": moe.gate_.pool_report_["pool_size"]})


def measure_pool_fit(problem, seed=0, *, sizes=(10_000, 100_000), k=5, data_dir=None,
                     cache_dir=None):
    """Fit time and peak memory beyond ``X`` of the default ``UniversalGate()`` with ``k``
    labelled images per expert and pools of ``sizes`` unlabelled inputs."""
    data = problem_outputs(problem, seed, data_dir=data_dir, cache_dir=cache_dir)
    owners = _owners(data)
    rows = draw(owners, k, np.random.default_rng(seed))
    X_images = np.asarray(data.gate.X, dtype=np.float32)
    experts = list(zip(data.expert_set.names, data.expert_set.experts))
    payload = pickle.dumps((experts, X_images[rows],
                            data.y_gate[rows], X_images))
    context = multiprocessing.get_context("spawn")
    results = []
    for n_pool in sizes:
        queue = context.Queue()
        child = context.Process(target=_pool_fit_child, args=(payload, n_pool, queue))
        child.start()
        results.append({"problem": problem, **queue.get()})
        child.join()
    return results


def report_pool_fit(results, print_fn=print):
    rows = [{"problem": r["problem"], "n_pool": f"{r['n_pool']:,}",
             "read": f"{r['gate_pool_size']:,}", "fit_s": f"{r['fit_s']:.1f} s",
             "X": f"{r['X_mb']:.0f} MB", "peak": f"{r['peak_mb']:.0f} MB",
             "used": str(r["pool_used"])} for r in results]
    print_fn("\n#### UniversalGate() with a large pool: fit time and peak memory beyond X\n")
    print_fn(format_table(rows, ["problem", "n_pool", "read", "fit_s", "X", "peak", "used"],
                          headers=["expert set", "unlabelled inputs", "read by the gate "
                                   "(labelled + pool)", "fit time", "X", "peak memory beyond X",
                                   "pool calibration used"]))
