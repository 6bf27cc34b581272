"""Evaluation helpers shared by the demo and the benchmarks.

Several gates over the same experts from one forward pass (:func:`evaluate_gates`), the
accuracy of a mixture's probabilities (:func:`proba_accuracy`), a timer (:func:`timed`), and
the tables' formatting (:func:`format_table`, :func:`mean_std`, :func:`per_seed`).
"""

import time

import numpy as np
from sklearn.base import clone

from ..gates import get_gate_tags
from ..metrics import oracle_proba, routing_accuracy_score


def timed(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), seconds it took)``, wall-clock."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def proba_accuracy(classes, proba, y):
    """Accuracy of the predictions ``classes[argmax(proba)]`` against ``y``."""
    return float(np.mean(np.asarray(classes)[np.asarray(proba).argmax(axis=1)] == y))


def mean_std(values, digits=4):
    """``"mean ± std"`` of per-seed values."""
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def per_seed(values, digits=4):
    """The per-seed values, ``"a / b / c"``."""
    return " / ".join(f"{v:.{digits}f}" for v in values)


def evaluate_gates(expert_set, X, y, gates, *, X_fit=None, y_fit=None):
    """Accuracy and routing accuracy of each gate over the same experts.

    The experts run once over ``X`` (and once over ``X_fit`` for gates that
    learn), with every layer any gate asks for; each gate then decides from
    those outputs.

    Parameters
    ----------
    expert_set : ExpertSet
    X, y : test inputs (mixture format) and labels (union label space)
    gates : dict of str to gate
    X_fit, y_fit : optional gate fit data, for gates that learn

    Returns
    -------
    rows : list of dict
        One per gate: ``gate``, ``accuracy``, ``routing``, ``fit_s``, ``route_s``;
        and a last row ``gate="oracle"``.
    """
    layers = sorted({layer for gate in gates.values() for layer in gate.expert_layers()})
    outputs = expert_set.outputs(X, layers=layers)
    fit_outputs = None
    if X_fit is not None:
        fit_outputs = expert_set.outputs(X_fit, layers=layers)
    owners = expert_set.owners(y)
    y = np.asarray(y)
    rows = []
    for name, gate in gates.items():
        gate = clone(gate)
        if get_gate_tags(gate).data_free or fit_outputs is None:
            _, fit_s = timed(gate.fit, outputs)
        else:
            _, fit_s = timed(gate.fit, fit_outputs, y_fit)
        weights, route_s = timed(gate.route_proba, outputs)
        proba = expert_set.combine(outputs.probas, weights)
        rows.append(
            {
                "gate": name,
                "accuracy": proba_accuracy(expert_set.classes_, proba, y),
                "routing": routing_accuracy_score(owners, weights),
                "fit_s": fit_s,
                "route_s": route_s,
            }
        )
    proba = oracle_proba(expert_set, outputs, owners)
    rows.append(
        {
            "gate": "oracle",
            "accuracy": proba_accuracy(expert_set.classes_, proba, y),
            "routing": 1.0,
            "fit_s": 0.0,
            "route_s": 0.0,
        }
    )
    return rows


def format_table(rows, columns, *, headers=None):
    """A plain-text (Markdown) table of ``rows`` (dicts) over ``columns``."""
    headers = headers or columns

    def cell(value):
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    body = [[cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in body]
    return "\n".join(lines)


def merge_runs(paths, table, key):
    """The rows of ``table`` saved by several benchmark runs (``--out`` JSON files) as one.

    A later file's row replaces an earlier one's with the same ``key(row)``: a rerun of
    some rows updates them and keeps the rest. Returns ``{table: rows, "seeds": seeds}``,
    the seeds in the order the files first give them.
    """
    import json

    rows, seeds = {}, []
    for path in paths:
        with open(path) as fh:
            part = json.load(fh)
        for row in part[table]:
            rows[key(row)] = row
        seeds += [s for s in part["seeds"] if s not in seeds]
    return {table: list(rows.values()), "seeds": seeds}
