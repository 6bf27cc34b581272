"""Table 6 of the universal-gating paper, new expert sets, and the data-budget curve.

- Transfer: a gate fitted on one problem's gate data routes another problem's
  test data (Table 6: disjoint MNIST -> MNIST + CIFAR-10 and the reverse), and
  the pre-trained gate shipped with skgate routes expert sets it never saw
  (other architectures, class counts, three experts, CIFAR-10 split in two).
  Every row has max logit, energy, the paper's UPAN rebuilt faithfully and
  ``UniversalGate``.
- Budget: routing and accuracy with k labelled examples per expert, for energy,
  ``UniversalGate(calibration="auto")`` over the pre-trained correction,
  ``PANGate`` and ``SoftMoE`` over the frozen experts.
"""

import warnings
from datetime import date

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.neural_network import MLPClassifier
from sklearn.utils import Bunch

from .. import __version__
from ..experts import ExpertSet
from ..gates import FloorGate, NaiveConcatGate, PANGate, SoftMoE, UniversalGate, get_gate_tags
from ..gates._universal_features import universal_features
from ..metrics import routing_accuracy_score
from ..utils._arrays import one_hot
from ..utils._evaluation import mean_std, proba_accuracy, timed
from ._pan import PAPER_PAN
from ._problems import PROBLEMS, make_problem, trained_experts

#: Table 6 of the paper (attribution accuracy of the universal network), by (fit, test)
PAPER_TABLE6 = {
    ("disjoint_mnist", "disjoint_mnist"): 0.9386,
    ("disjoint_mnist", "mnist_cifar10"): 0.8859,
    ("mnist_cifar10", "disjoint_mnist"): 0.8238,
}
#: the problems the pre-trained correction is fitted on, and its seeds
PRETRAIN_PROBLEMS = PROBLEMS
PRETRAIN_SEEDS = (0, 1, 2)
#: labelled examples per expert of the budget curve (None: all the gate data)
BUDGETS = (0, 1, 5, 20, 50, 100, None)


def problem_outputs(name, seed, *, data_dir=None, cache_dir=None, layers=()):
    """The frozen experts of one problem and seed, and their outputs on its gate and
    test data (computed once, shared by every gate)."""
    problem = make_problem(name, seed, data_dir=data_dir)
    expert_set = ExpertSet(trained_experts(problem, cache_dir=cache_dir))
    return Bunch(
        name=name, seed=seed, expert_set=expert_set,
        gate=expert_set.outputs(problem.X_gate, layers=layers), y_gate=problem.y_gate,
        test=expert_set.outputs(problem.X_test, layers=layers), y_test=problem.y_test,
    )


def _scores(weights, data):
    owners = data.expert_set.owners(data.y_test)
    proba = data.expert_set.combine(data.test.probas, weights)
    return {
        "routing": routing_accuracy_score(owners, weights),
        "accuracy": proba_accuracy(data.expert_set.classes_, proba, data.y_test),
    }


class PaperUPAN:
    """The paper's universal network, rebuilt faithfully (not a skgate gate).

    The five statistics of an expert's raw logits (mean, std, max, min,
    median), an MLP 5-80-50-20-2 on the pooled (expert, input) pairs labelled
    "belongs" or not, and the expert with the highest log-probability of
    "belongs" answers; no normalisation, no fallback (as the original code).
    """

    def __init__(self, random_state=None):
        self.random_state = random_state

    @staticmethod
    def _features(logits):
        return universal_features(logits, ("mean", "std", "max_logit", "min", "median"))

    def fit(self, problems):
        X = np.concatenate([self._features(lg).reshape(-1, 5) for lg, _ in problems])
        y = np.concatenate([o.reshape(-1) for _, o in problems]).astype(int)
        self.net_ = MLPClassifier((80, 50, 20), max_iter=50, random_state=self.random_state)
        with warnings.catch_warnings():  # a fixed number of epochs, as the original
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.net_.fit(X, y)
        return self

    def route_proba(self, logits):
        f = self._features(logits)
        log_p = self.net_.predict_log_proba(f.reshape(-1, 5))[:, 1].reshape(f.shape[:2])
        return one_hot(log_p.argmax(axis=1), f.shape[1])


def _owners(data):
    return data.expert_set.owners(data.y_gate)


def transfer_row(fit_on, test_on, seed, *, shipped=None):
    """Every gate of one transfer row: fitted on the problems ``fit_on``, tested on
    ``test_on`` (``Bunch`` from :func:`problem_outputs`)."""
    problems = [(d.gate.logits, _owners(d)) for d in fit_on]
    row = {"oracle": _scores(oracle_weights(test_on), test_on)}
    for statistic in ("max_logit", "energy"):
        gate = NaiveConcatGate(statistic).fit(test_on.test)
        row[statistic] = _scores(gate.route_proba(test_on.test), test_on)
    upan = PaperUPAN(random_state=seed).fit(problems)
    row["paper UPAN"] = _scores(upan.route_proba(test_on.test.logits), test_on)
    gate = UniversalGate(correction="linear", calibration="none", random_state=seed)
    gate.pretrain([(d.gate, d.y_gate) for d in fit_on])
    row["UniversalGate"] = _scores(FrozenEstimator(gate).route_proba(test_on.test), test_on)
    if shipped is not None:
        row["UniversalGate.pretrained()"] = _scores(shipped.route_proba(test_on.test), test_on)
    return row


def oracle_weights(data):
    owners = data.expert_set.owners(data.y_test)
    return owners / owners.sum(axis=1, keepdims=True)


def draw(owners, k, rng):
    """Indices of ``k`` labelled samples per expert (all of them when ``k`` is None)."""
    if k is None:
        return np.arange(len(owners))
    rows = [rng.choice(np.flatnonzero(owners[:, j]), size=k, replace=False)
            for j in range(owners.shape[1])]
    return np.unique(np.concatenate(rows))


BUDGET_GATES = {
    "energy": lambda seed: NaiveConcatGate("energy"),
    "UniversalGate (auto)": lambda seed: UniversalGate(random_state=seed),
    "PANGate": lambda seed: PANGate(features="penultimate", random_state=seed, **PAPER_PAN),
    "SoftMoE": lambda seed: SoftMoE(gate_net="embedding", random_state=seed),
}


#: the learned gates with and without an energy floor (bench universal --floor)
FLOOR_GATES = {
    "energy": BUDGET_GATES["energy"],
    "UniversalGate (auto)": BUDGET_GATES["UniversalGate (auto)"],
    "PANGate": BUDGET_GATES["PANGate"],
    "FloorGate(PANGate)": lambda seed: FloorGate(BUDGET_GATES["PANGate"](seed),
                                                 random_state=seed),
    "SoftMoE": BUDGET_GATES["SoftMoE"],
    "FloorGate(SoftMoE)": lambda seed: FloorGate(BUDGET_GATES["SoftMoE"](seed),
                                                 random_state=seed),
}
#: labelled examples per expert of the floor rows
FLOOR_BUDGETS = (5, 20, 100)


def budget_rows(data, seed, *, budgets=BUDGETS, draws=3, gates=BUDGET_GATES, print_fn=None):
    """Routing and accuracy of each gate at each budget, averaged over ``draws`` draws."""
    owners = _owners(data)
    rng = np.random.default_rng(seed)
    rows = []
    for k in budgets:
        n_draws = 1 if k in (0, None) else draws
        picks = [None] if k == 0 else [draw(owners, k, rng) for _ in range(n_draws)]
        for name, make in gates.items():
            if k == 0 and get_gate_tags(make(seed)).requires_labels:
                continue  # a learned gate needs labels
            scores, chosen, fit_s = [], [], []
            for rows_ in picks:
                gate = clone(make(seed))
                if rows_ is None or name == "energy":
                    fit_s.append(timed(gate.fit, data.gate)[1])
                else:
                    fit_s.append(timed(gate.fit, data.gate.subset(rows_), data.y_gate[rows_])[1])
                scores.append(_scores(gate.route_proba(data.test), data))
                chosen.append(getattr(gate, "calibration_", None))
            rows.append({
                "k": "all" if k is None else k, "gate": name,
                "routing": float(np.mean([s["routing"] for s in scores])),
                "accuracy": float(np.mean([s["accuracy"] for s in scores])),
                "fit_s": float(np.mean(fit_s)), "calibration": chosen,
            })
            if print_fn:
                print_fn(f"  {data.name} seed {seed} k={rows[-1]['k']} {name}: "
                         f"routing {rows[-1]['routing']:.4f}")
    return rows


def train_pretrained(path, *, data_dir=None, cache_dir=None, seeds=PRETRAIN_SEEDS,
                     correction="linear", print_fn=print):
    """Fit the shared correction on the gate data of ``PRETRAIN_PROBLEMS`` and save it."""
    data = [problem_outputs(p, s, data_dir=data_dir, cache_dir=cache_dir)
            for p in PRETRAIN_PROBLEMS for s in seeds]
    gate = UniversalGate(correction=correction, calibration="none", random_state=0)
    gate.pretrain([(d.gate, d.y_gate) for d in data])
    seed_list = " ".join(map(str, seeds))
    gate.save_correction(path, provenance={
        "command": "SKGATE_DATA_DIR=<shared data> python -m skgate bench universal "
                   f"--train-pretrained --weights <path> --seeds {seed_list}",
        "problems": list(PRETRAIN_PROBLEMS), "seeds": list(seeds),
        "data": "the gate data (20% stratified split) of mnist_train20k and "
                "cifar10_train20k, per seed; LeNet-5 experts trained on the other 80%",
        "skgate_version": __version__, "date": date.today().isoformat(),
    })
    print_fn(f"wrote {path}")
    return gate


def run_floor(problems, seeds=(0, 1, 2), *, data_dir=None, cache_dir=None,
              budgets=FLOOR_BUDGETS, draws=2, print_fn=print):
    """Budget rows of the learned gates with and without an energy floor, per seed."""
    results = {"transfer": [], "budget": [], "seeds": list(seeds), "pretrained": {}}
    for seed in seeds:
        for name in problems:
            data = problem_outputs(name, seed, data_dir=data_dir, cache_dir=cache_dir,
                                   layers=("penultimate",))
            for row in budget_rows(data, seed, budgets=budgets, draws=draws,
                                   gates=FLOOR_GATES, print_fn=print_fn):
                results["budget"].append({"problem": name, "seed": seed, **row})
    return results


def run_universal(seeds=(0, 1, 2), *, data_dir=None, cache_dir=None, transfer_problems=(),
                  budget=True, budgets=BUDGETS, draws=3, print_fn=print):
    """Every transfer row and the budget curve, per seed (see the module docstring)."""
    shipped = UniversalGate.pretrained()
    results = {"transfer": [], "budget": [], "seeds": list(seeds),
               "pretrained": shipped.estimator.correction_["provenance"]}
    layers = ("penultimate",) if budget else ()
    for seed in seeds:
        print_fn(f"seed {seed}: experts and their outputs ...")
        base = {p: problem_outputs(p, seed, data_dir=data_dir, cache_dir=cache_dir,
                                   layers=layers) for p in PROBLEMS}
        for fit_name in PROBLEMS:
            for test_name in PROBLEMS:
                row = transfer_row([base[fit_name]], base[test_name], seed, shipped=shipped)
                results["transfer"].append({"fit": fit_name, "test": test_name,
                                            "seed": seed, "gates": row})
        for name in transfer_problems:
            data = problem_outputs(name, seed, data_dir=data_dir, cache_dir=cache_dir)
            row = transfer_row(list(base.values()), data, seed, shipped=shipped)
            results["transfer"].append({"fit": "+".join(PROBLEMS), "test": name,
                                        "seed": seed, "gates": row})
        if budget:
            for name, data in base.items():
                for row in budget_rows(data, seed, budgets=budgets, draws=draws,
                                       print_fn=print_fn):
                    results["budget"].append({"problem": name, "seed": seed, **row})
    return results


def _cell(values):
    return mean_std(values, digits=4) if values else "-"


TRANSFER_GATES = ("max_logit", "energy", "paper UPAN", "UniversalGate",
                  "UniversalGate.pretrained()")


def report_universal(results, print_fn=print):
    """Markdown tables of :func:`run_universal` results."""
    from ..utils._evaluation import format_table

    if results["pretrained"]:
        print_fn(f"\nseeds {results['seeds']}; pre-trained correction: "
                 f"{results['pretrained'].get('command', '?')}\n")
    keys = []
    for r in results["transfer"]:
        if (r["fit"], r["test"]) not in keys:
            keys.append((r["fit"], r["test"]))
    for metric in ("routing", "accuracy") if keys else ():
        rows = []
        for fit, test in keys:
            runs = [r["gates"] for r in results["transfer"]
                    if (r["fit"], r["test"]) == (fit, test)]
            paper = PAPER_TABLE6.get((fit, test))
            row = {"fit": fit, "test": test, "paper": "-" if paper is None or
                   metric != "routing" else f"{paper:.4f}",
                   "oracle": _cell([g["oracle"]["accuracy"] for g in runs])
                   if metric == "accuracy" else "1"}
            energy = np.array([g["energy"][metric] for g in runs])
            for gate in TRANSFER_GATES:
                row[gate] = _cell([g[gate][metric] for g in runs if gate in g])
            for gate in ("UniversalGate", "UniversalGate.pretrained()"):
                diff = np.array([g[gate][metric] for g in runs]) - energy
                row[f"{gate} - energy"] = f"{diff.mean():+.4f} ± {diff.std():.4f}"
            # the shipped correction was fitted and selected on PRETRAIN_PROBLEMS' gate data
            row["seen"] = "in-sample" if test in PRETRAIN_PROBLEMS else "never seen"
            rows.append(row)
        rows.sort(key=lambda r: r["seen"] != "in-sample")
        columns = ["fit", "test", "seen", "paper", *TRANSFER_GATES, "UniversalGate - energy",
                   "UniversalGate.pretrained() - energy", "oracle"]
        print_fn(f"\n#### Transfer: {metric}\n")
        print_fn(format_table(rows, columns, headers=[
            "fitted on", "tested on", "pre-trained correction", "paper (attribution)",
            "max logit", "energy", "paper's UPAN", "UniversalGate fitted on 'fitted on'",
            "pre-trained", "fitted - energy (± seed std)", "pre-trained - energy (± seed std)",
            "oracle"]))
    if not results["budget"]:
        return
    if not keys:
        print_fn(f"\nseeds {results['seeds']}")
    for problem in dict.fromkeys(r["problem"] for r in results["budget"]):
        runs = [r for r in results["budget"] if r["problem"] == problem]
        gates = list(dict.fromkeys(r["gate"] for r in runs))
        for metric in ("routing", "accuracy"):
            rows = []
            for k in dict.fromkeys(r["k"] for r in runs):
                row = {"k": str(k)}
                for gate in gates:
                    row[gate] = _cell([r[metric] for r in runs
                                       if r["k"] == k and r["gate"] == gate])
                chosen = [c for r in runs if r["k"] == k and r["gate"] ==
                          "UniversalGate (auto)" for c in r["calibration"]]
                row["chosen"] = ", ".join(f"{c} {chosen.count(c)}" for c in
                                          dict.fromkeys(chosen))
                rows.append(row)
            print_fn(f"\n#### Budget, {problem}: {metric} (k labelled per expert)\n")
            print_fn(format_table(rows, ["k", *gates, "chosen"],
                                  headers=["k", *gates, "calibrations chosen (auto)"]))
