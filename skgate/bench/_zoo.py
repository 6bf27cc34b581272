"""The model zoo (``python -m skgate bench zoo``): how the gates hold up from 2 to 20 experts.

Expert sets ``"zoo<n>"`` (see :mod:`skgate.bench._problems`): n experts, half on MNIST
digits and half on CIFAR-10 classes, each on a group of consecutive classes (pairs at
n = 10; overlapping pairs at n = 20), with the bench's protocol (experts on 80% of the
training images of their classes, gates on the other 20%, the official test sets).
Every gate is fitted on the gate images with every label unless its row says otherwise:

- ``energy``: the data-free floor;
- ``UniversalGate() + pool, k = 5`` and ``k = 20``: ``UniversalGate()`` with k labelled
  images per expert and the rest of the gate images as its unlabelled pool (one draw);
- ``UniversalGate()``, ``PANGate(features='penultimate')`` (each expert's network reads
  every expert's activations, and the most confident network decides where not exactly one
  claims), ``FloorGate(PANGate)``, the paper's PAN ``PANGate(reads='own', fallback=None)``
  (the defaults until 2026-12-08) and ``FastRouter()`` (taught by ``UniversalGate()``,
  routing the raw images);
- two references that are not gates: ``linear probe``, a logistic regression on the
  experts' concatenated, standardised penultimate activations that predicts the owner
  (the first owner where two experts own a class), and ``small CNN``, a LeNet-5 trained
  from scratch on the gate images to predict the owner (10 epochs, Adam).

Each row gives routing (an owner of the label gets the largest weight), accuracy of the
mixture, and fit time; the oracle (the owners' averaged prediction) is the ceiling.
"""

import warnings

import numpy as np
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

from ..gates import FastRouter, FloorGate, NaiveConcatGate, PANGate, UniversalGate
from ..models import LeNet5
from ..utils._arrays import one_hot
from ..utils._evaluation import format_table, mean_std, merge_runs, timed
from ..utils._seeding import torch_seeded
from ._cli import ZOO_PROBLEMS, ZOO_SIZES
from ._universal import _scores, draw, oracle_weights, problem_outputs

#: the paper's PAN: each network reads its own expert, energy decides the rest
PAN_PAPER = "PANGate(reads='own', fallback=None)"
#: the rows of every zoo table, in order
ZOO_GATES = ("energy", "UniversalGate() + pool, k = 5", "UniversalGate() + pool, k = 20",
             "UniversalGate()", "PANGate", "FloorGate(PANGate)", PAN_PAPER, "FastRouter",
             "linear probe (reference)", "small CNN (reference)")


class _LinearProbe:
    """A reference, not a gate: logistic regression from the experts' concatenated
    penultimate activations to the owner."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    @staticmethod
    def _features(outputs):
        return np.hstack([a["penultimate"] for a in outputs.activations])

    def fit(self, outputs, owner):
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(
            max_iter=1000, random_state=self.random_state))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_.fit(self._features(outputs), owner)
        return self

    def route_proba(self, outputs):
        owner = self.model_.predict(self._features(outputs))
        return one_hot(owner, outputs.n_experts)


class _SmallCNN:
    """A reference, not a gate: a LeNet-5 trained from scratch on the raw gate images to
    predict the owner (Adam, lr 1e-3, batch 128, 10 epochs)."""

    def __init__(self, random_state=0, max_epochs=10):
        self.random_state = random_state
        self.max_epochs = max_epochs

    def fit(self, outputs, owner):
        X = np.asarray(outputs.X, dtype=np.float32)
        self.net_ = NeuralNetClassifier(
            LeNet5, module__in_channels=X.shape[1], module__n_classes=outputs.n_experts,
            criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=1e-3,
            batch_size=128, max_epochs=self.max_epochs, train_split=None,
            iterator_train__shuffle=True, verbose=0)
        with torch_seeded(self.random_state):
            self.net_.fit(X, owner.astype(np.int64))
        return self

    def route_proba(self, outputs):
        owner = self.net_.predict(np.asarray(outputs.X, dtype=np.float32))
        return one_hot(owner, outputs.n_experts)


def _fit(name, data, seed):
    """Fit row ``name`` on the gate data; the fitted router and its fit time."""
    owners = data.expert_set.owners(data.y_gate)
    if name == "energy":
        return timed(NaiveConcatGate("energy").fit, data.gate)
    if name.startswith("UniversalGate() + pool"):
        rows = draw(owners, int(name.rsplit("=", 1)[1]), np.random.default_rng(seed))
        y = np.full(len(data.y_gate), -1, dtype=np.int64)
        y[rows] = data.y_gate[rows]
        return timed(UniversalGate(random_state=seed).fit, data.gate, y)
    if name in ("linear probe (reference)", "small CNN (reference)"):
        reference = (_LinearProbe if name.startswith("linear") else _SmallCNN)(seed)
        return timed(reference.fit, data.gate, owners.argmax(axis=1))
    gate = {"UniversalGate()": UniversalGate(random_state=seed),
            "PANGate": PANGate(features="penultimate", random_state=seed),
            "FloorGate(PANGate)": FloorGate(PANGate(features="penultimate",
                                                    random_state=seed), random_state=seed),
            PAN_PAPER: PANGate(features="penultimate", reads="own", fallback=None,
                               random_state=seed),
            "FastRouter": FastRouter(random_state=seed)}[name]
    return timed(clone(gate).fit, data.gate, data.y_gate)


def zoo_rows(data, seed, *, gates=ZOO_GATES, print_fn=None):
    """Routing, accuracy and fit time of every row on one zoo and seed."""
    rows = [{"gate": "oracle", **_scores(oracle_weights(data), data), "fit_s": 0.0}]
    for name in gates:
        router, fit_s = _fit(name, data, seed)
        rows.append({"gate": name, **_scores(router.route_proba(data.test), data),
                     "fit_s": fit_s})
        if print_fn:
            print_fn(f"  {data.name} seed {seed} {name}: routing {rows[-1]['routing']:.4f}, "
                     f"accuracy {rows[-1]['accuracy']:.4f} ({fit_s:.1f} s)")
    return rows


def run_zoo(sizes=ZOO_SIZES, seeds=(0, 1, 2), *, data_dir=None, cache_dir=None, rows=None,
            print_fn=print):
    """:func:`zoo_rows` for every zoo size and seed; ``rows``: only the rows whose name
    contains one of these strings (case-insensitive), and energy."""
    gates = [g for g in ZOO_GATES if g == "energy" or rows is None or
             any(r.lower() in g.lower() for r in rows)]
    results = {"zoo": [], "seeds": list(seeds)}
    for seed in seeds:
        for n in sizes:
            name = ZOO_PROBLEMS[ZOO_SIZES.index(n)]
            data = problem_outputs(name, seed, data_dir=data_dir, cache_dir=cache_dir,
                                   layers=("penultimate",))
            for row in zoo_rows(data, seed, gates=gates, print_fn=print_fn):
                results["zoo"].append({"n": n, "seed": seed, **row})
    return results


def merge_zoo_runs(paths):
    """The results saved by several runs (``--out``) as one; a later file's rows replace an
    earlier one's for the same zoo size, seed and row."""
    return merge_runs(paths, "zoo", lambda row: (row["n"], row["seed"], row["gate"]))


def report_zoo(results, print_fn=print):
    """One table per zoo size (mean ± std over seeds), then routing against n."""
    runs = results["zoo"]
    sizes = sorted({r["n"] for r in runs})
    order = ("oracle", *ZOO_GATES)  # the bench's order, then rows it no longer has
    names = sorted(dict.fromkeys(r["gate"] for r in runs),
                   key=lambda g: order.index(g) if g in order else len(order))

    def values(n, gate, metric):
        return [r[metric] for r in runs if (r["n"], r["gate"]) == (n, gate)]

    for n in sizes:
        seeds = sorted({r["seed"] for r in runs if r["n"] == n})
        spread = ", mean ± std" if len(seeds) > 1 else ""
        print_fn(f"\n#### {n} experts (seeds {seeds}{spread})\n")
        def cell(vals):  # one seed has no spread to show
            return mean_std(vals) if len(vals) > 1 else f"{vals[0]:.4f}"

        table = [{"gate": gate, **{m: cell(values(n, gate, m)) for m in
                                   ("routing", "accuracy")},
                  "fit_s": f"{np.mean(values(n, gate, 'fit_s')):.1f}"}
                 for gate in names if values(n, gate, "routing")]
        print_fn(format_table(table, ["gate", "routing", "accuracy", "fit_s"],
                              headers=["gate", "routing", "accuracy", "fit (s)"]))
    print_fn("\n#### Routing against the number of experts (seed means)\n")
    table = [{"gate": gate, **{str(n): (f"{np.mean(values(n, gate, 'routing')):.4f}"
                                        if values(n, gate, "routing") else "-")
                               for n in sizes}}
             for gate in names if gate != "oracle"]
    print_fn(format_table(table, ["gate"] + [str(n) for n in sizes],
                          headers=["gate"] + [f"n = {n}" for n in sizes]))


def plot_zoo(results, path):
    """Save the routing of every row (not the oracle) against the number of experts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..inspection import ExpertScalingDisplay

    rows = [r for r in results["zoo"] if r["gate"] != "oracle"]
    _, ax = plt.subplots(figsize=(7, 4.5))
    disp = ExpertScalingDisplay.from_results(rows, ax=ax)
    disp.ax_.legend(fontsize="small")
    disp.figure_.tight_layout()
    disp.figure_.savefig(path, dpi=100)
    plt.close(disp.figure_)
