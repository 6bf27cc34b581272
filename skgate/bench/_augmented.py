"""Table 3 of the universal-gating paper: multi-pass augmentation, with timing.

For one problem and seed: every augmentation set of :data:`AUGMENTATION_SETS`
with every aggregation of :class:`AugmentedGate`, under the paper's statistic
(max logit) and the package default (energy), next to the paper's numbers and to
:class:`NaiveConcatGate` over the same experts in the same run. The passes of a
set are computed once and shared by all its aggregations and statistics; the
gates' own ``route_proba`` does the same computation (a test checks it).
"""


import numpy as np
from sklearn.base import clone

from .. import MixtureOfExperts
from ..gates import AugmentedGate, NaiveConcatGate
from ..gates._augmentations import AUGMENTATION_SETS
from ..gates._augmented import AGGREGATIONS
from ..gates._naive import expert_scores
from ..metrics import routing_accuracy_score
from ..utils._evaluation import evaluate_gates, format_table, mean_std, proba_accuracy, timed
from ._naive import PAPER_TABLE2, expert_accuracies
from ._problems import PROBLEMS, make_problem, trained_experts

#: Table 3 of Kang, Chua and Maul: set -> (mean, voting) accuracy, mean of 10 seeds
PAPER_TABLE3 = {
    "disjoint_mnist": {
        "sharpen": (0.8874, 0.7388), "sharpen_5_alphas": (0.4044, 0.1156),
        "gaussian": (0.9183, 0.9134), "gaussian_5": (0.9119, 0.9108),
        "gaussian_6_stds": (0.9261, 0.9280), "poisson": (0.9193, 0.9194),
        "poisson_5": (0.9101, 0.9085), "poisson_6_rates": (0.9156, 0.9182),
        "flips": (0.7898, 0.1045), "random_crop": (0.8957, 0.7289),
    },
    "mnist_cifar10": {
        "sharpen": (0.7383, 0.5915), "sharpen_5_alphas": (0.4320, 0.0942),
        "gaussian": (0.7467, 0.7209), "gaussian_5": (0.6945, 0.6805),
        "gaussian_6_stds": (0.7794, 0.7951), "poisson": (0.7845, 0.7616),
        "poisson_5": (0.7663, 0.7583), "poisson_6_rates": (0.7781, 0.7777),
        "flips": (0.6765, 0.2654), "random_crop": (0.7538, 0.5295),
    },
}

STATISTICS = ("max_logit", "energy")
PENALTIES = (0.25, 0.5, 1.0, 2.0, 4.0)

_MNIST_STD = 0.3081
_LEVELS = (0.05, 0.1, 0.3, 0.5, 0.7, 1.0)
#: Not in the paper: its best noise rows at the original code's scale. The original added
#: noise, unclipped, to normalised inputs; for an MNIST expert that is std x 0.3081 (and
#: Poisson events of 0.3081) on the [0, 1] input.
EXTRA_SETS = {
    "gaussian_6_stds_orig_scale": [
        ("gaussian_noise", {"std": std * _MNIST_STD, "clip": False}) for std in _LEVELS],
    "poisson_6_rates_orig_scale": [
        ("poisson_noise", {"rate": rate, "scale": _MNIST_STD, "clip": False}) for rate in _LEVELS],
}


def _scores(expert_set, outputs, y, owners, weights):
    proba = expert_set.combine(outputs.probas, weights)
    return {"accuracy": proba_accuracy(expert_set.classes_, proba, y),
            "routing": routing_accuracy_score(owners, weights)}


def _seconds(fn):
    return timed(fn)[1]


def predict_time_per_pass(experts, X, sets, *, repeats=3, seed=0):
    """Predict time with each augmentation set against a plain (naive) predict.

    The plain mixture and one mixture per set (same experts, ``AugmentedGate``
    with the mean) are timed interleaved, ``repeats`` times, in this process.

    Returns
    -------
    result : dict
        ``plain_s`` (median seconds), and per set: ``extra_passes``,
        ``predict_s``, ``augment_s`` (building the augmented views alone),
        ``ratio`` (predict / plain) and ``per_extra_pass`` = ``(ratio - 1) /
        extra_passes``: the cost of one extra pass in plain predicts.
    """
    plain = MixtureOfExperts(experts, gate=NaiveConcatGate("max_logit")).fit(X[:1])
    mixtures = {
        name: MixtureOfExperts(experts, gate=AugmentedGate(name, aggregation="mean",
                                                           statistic="max_logit",
                                                           random_state=seed)).fit(X[:1])
        for name in sets
    }
    plain.predict(X[:512])  # warm-up
    times = {"plain": [], **{name: [] for name in sets}, **{name + "/aug": [] for name in sets}}
    for _ in range(repeats):
        times["plain"].append(_seconds(lambda: plain.predict(X)))
        for name, moe in mixtures.items():
            times[name].append(_seconds(lambda m=moe: m.predict(X)))
            times[name + "/aug"].append(_seconds(lambda m=moe: list(m.gate_.augmented_views(X))))
    plain_s = float(np.median(times["plain"]))
    result = {"plain_s": plain_s, "n_samples": len(X), "repeats": repeats, "sets": {}}
    for name, moe in mixtures.items():
        extra = moe.gate_.n_passes_ - 1
        predict_s = float(np.median(times[name]))
        result["sets"][name] = {
            "extra_passes": extra,
            "predict_s": predict_s,
            "augment_s": float(np.median(times[name + "/aug"])),
            "ratio": predict_s / plain_s,
            "per_extra_pass": (predict_s / plain_s - 1) / extra,
        }
    return result


def run_augmented(problem_name, seed, *, data_dir=None, max_epochs=10, cache_dir=None,
                  sets=None, repeats=3, timing_samples=10_000, verbose=0):
    """Evaluate every augmentation set and aggregation on one problem and seed.

    Parameters
    ----------
    problem_name : {"disjoint_mnist", "mnist_cifar10"}
    seed : int
        Seeds the split, the experts (see :func:`trained_experts`) and the
        augmentations.
    data_dir, max_epochs, cache_dir :
        As in :func:`make_problem` and :func:`trained_experts`.
    sets : list of str or None
        Keys of :data:`AUGMENTATION_SETS` (the paper's Table 3) or
        :data:`EXTRA_SETS`; None means all of both.
    repeats : int
        Timing repeats (median).
    timing_samples : int
        Test inputs used for timing.

    Returns
    -------
    result : dict
        JSON-able: ``experts`` (their own accuracies), ``naive`` (rows of
        :func:`evaluate_gates`, with the oracle), ``rows`` (one per set,
        statistic and aggregation: ``accuracy``, ``routing``), ``penalties``
        (the consistency penalty sweep), ``spread`` (how often the owner's score
        varies less across passes than the other experts'), ``timing``.

    Examples
    --------
    >>> result = run_augmented("disjoint_mnist", 0, sets=["flips"])  # doctest: +SKIP
    >>> report_augmented([result])  # doctest: +SKIP
    """
    sets = [*AUGMENTATION_SETS, *EXTRA_SETS] if sets is None else list(sets)
    problem = make_problem(problem_name, seed, data_dir=data_dir, max_epochs=max_epochs,
                           verbose=verbose)
    experts, train_s = timed(trained_experts, problem, cache_dir=cache_dir)
    moe = MixtureOfExperts(experts).fit(problem.X_test[:1])
    expert_set = moe.expert_set_
    X, y = problem.X_test, np.asarray(problem.y_test)
    naive = evaluate_gates(expert_set, X, y, {s: NaiveConcatGate(s) for s in STATISTICS})
    outputs = expert_set.outputs(X)
    owners = expert_set.owners(y)
    rows, penalties, spread = [], [], []
    for name in sets:
        base = AugmentedGate(EXTRA_SETS.get(name, name), random_state=seed).fit(outputs)
        passes, passes_s = timed(base.pass_logits, outputs)
        for statistic in STATISTICS:
            for aggregation in AGGREGATIONS:
                gate = clone(base).set_params(statistic=statistic, aggregation=aggregation)
                weights = gate.fit(outputs).aggregate(passes)
                rows.append({"set": name, "passes": base.n_passes_, "statistic": statistic,
                             "aggregation": aggregation, "passes_s": passes_s,
                             **_scores(expert_set, outputs, y, owners, weights)})
            for penalty in PENALTIES:
                gate = clone(base).set_params(statistic=statistic, aggregation="consistency",
                                              penalty=penalty)
                weights = gate.fit(outputs).aggregate(passes)
                penalties.append({"set": name, "statistic": statistic, "penalty": penalty,
                                  **_scores(expert_set, outputs, y, owners, weights)})
            # the paper's hypothesis alone: the expert whose score varies least wins
            std = np.std([expert_scores(p, statistic) for p in passes], axis=0)
            weights = np.eye(len(experts))[np.nan_to_num(std, nan=np.inf).argmin(axis=1)]
            spread.append({"set": name, "statistic": statistic,
                           **_scores(expert_set, outputs, y, owners, weights)})
    rng = np.random.default_rng(seed)
    subset = rng.permutation(len(X))[:timing_samples]
    paper_sets = [name for name in sets if name in AUGMENTATION_SETS]  # the extras cost the same
    timing = predict_time_per_pass(experts, X[subset], paper_sets, repeats=repeats, seed=seed)
    return {
        "problem": problem_name,
        "seed": seed,
        "train_s": train_s,
        "n_test": len(X),
        "experts": expert_accuracies(moe, X, y),
        "naive": naive,
        "rows": rows,
        "penalties": penalties,
        "spread": spread,
        "timing": timing,
    }


def _cell(runs, key, match, field="accuracy"):
    return mean_std([next(r[field] for r in run[key] if all(r[k] == v for k, v in
                                                                 match.items())) for run in runs])


def report_augmented(results, print_fn=print):
    """Print the Table 3 reproduction (Markdown) from results of :func:`run_augmented`."""
    for problem in PROBLEMS:
        runs = [r for r in results if r["problem"] == problem]
        if not runs:
            continue
        seeds = [r["seed"] for r in runs]
        sets = list(dict.fromkeys(row["set"] for row in runs[0]["rows"]))
        print_fn(f"\n### {problem} (seeds {seeds}, {runs[0]['n_test']} test images)\n")
        names = list(runs[0]["experts"])
        print_fn("experts on their own test parts: " + ", ".join(
            f"{n} {mean_std([r['experts'][n] for r in runs])}" for n in names)
            + f"; oracle accuracy {_cell(runs, 'naive', {'gate': 'oracle'})}\n")
        for statistic in STATISTICS:
            paper = statistic == "max_logit"
            table = [{
                "set": "none (NaiveConcatGate)", "passes": "1",
                **{a: _cell(runs, "naive", {"gate": statistic}) for a in AGGREGATIONS},
                "paper_mean": f"{PAPER_TABLE2[problem]['max_logit']:.4f}" if paper else "-",
                "paper_vote": "-",
            }]
            for name in sets:
                row = {"set": name, "passes": str(next(
                    r["passes"] for r in runs[0]["rows"] if r["set"] == name))}
                for aggregation in AGGREGATIONS:
                    row[aggregation] = _cell(runs, "rows", {"set": name, "statistic": statistic,
                                                            "aggregation": aggregation})
                known = paper and name in PAPER_TABLE3[problem]
                row["paper_mean"] = f"{PAPER_TABLE3[problem][name][0]:.4f}" if known else "-"
                row["paper_vote"] = f"{PAPER_TABLE3[problem][name][1]:.4f}" if known else "-"
                table.append(row)
            print_fn(f"\naccuracy, statistic {statistic}"
                     + (" (the paper's argmax)" if paper else " (the package default)") + "\n")
            columns = ["set", "passes", *AGGREGATIONS, "paper_mean", "paper_vote"]
            print_fn(format_table(table, columns, headers=[
                "augmentation set", "passes", "mean", "vote", "consistency (penalty 1)",
                "agreement", "paper mean", "paper vote"]))
        table = [{"set": "none (NaiveConcatGate)", **{
            f"{st}/{a}": _cell(runs, "naive", {"gate": st}, "routing")
            for st in STATISTICS for a in AGGREGATIONS}}]
        for name in sets:
            table.append({"set": name, **{
                f"{st}/{a}": _cell(runs, "rows", {"set": name, "statistic": st, "aggregation": a},
                                   "routing")
                for st in STATISTICS for a in AGGREGATIONS}})
        columns = [f"{st}/{a}" for st in STATISTICS for a in AGGREGATIONS]
        print_fn("\nrouting accuracy (share of images sent to the expert owning their label)\n")
        print_fn(format_table(table, ["set", *columns], headers=["augmentation set", *columns]))
        for statistic in STATISTICS:
            table = []
            for name in sets:
                row = {"set": name}
                for penalty in PENALTIES:
                    row[str(penalty)] = _cell(runs, "penalties", {
                        "set": name, "statistic": statistic, "penalty": penalty})
                row["spread"] = _cell(runs, "spread", {"set": name, "statistic": statistic},
                                      "routing")
                table.append(row)
            print_fn(f"\nconsistency, statistic {statistic}: accuracy of mean score - penalty x "
                     "across-pass std of the score; last column: routing accuracy of the lowest "
                     "std alone (the paper's hypothesis)\n")
            print_fn(format_table(table, ["set", *map(str, PENALTIES), "spread"], headers=[
                "augmentation set", *(f"penalty {p}" for p in PENALTIES), "lowest std routing"]))
        t = [r["timing"] for r in runs]
        print_fn(f"\npredict time over {t[0]['n_samples']} test images (mean aggregation, "
                 f"median of {t[0]['repeats']} interleaved repeats); plain predict "
                 f"(NaiveConcatGate): {mean_std([x['plain_s'] for x in t])} s\n")
        table = [{
            "set": name,
            "extra": str(t[0]["sets"][name]["extra_passes"]),
            "predict": mean_std([x["sets"][name]["predict_s"] for x in t]),
            "augment": mean_std([x["sets"][name]["augment_s"] for x in t]),
            "ratio": mean_std([x["sets"][name]["ratio"] for x in t]),
            "per_pass": mean_std([x["sets"][name]["per_extra_pass"] for x in t]),
        } for name in t[0]["sets"]]
        print_fn(format_table(table, ["set", "extra", "predict", "augment", "ratio", "per_pass"],
                              headers=["augmentation set", "extra passes", "predict (s)",
                                       "augmentation alone (s)", "predict / plain",
                                       "per extra pass (plain predicts)"]))
