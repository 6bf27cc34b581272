"""Adaptive fusion of pre-trained representations (Resheff, Lieder and Hope), on CIFAR-10.

The paper fuses the frozen representations of several ImageNet networks on small
labelled data sets (Table 2). Here, on the data available offline:

- three *representation experts* of different architectures are trained on all
  20,000 images of ``cifar10_train20k``: LeNet-5 (84-d penultimate layer),
  :class:`~skgate.models.SmallResNet` (64-d pooled feature) and an MLP on pixels
  (256-d last hidden layer); they are then frozen;
- the small-sample task, per seed: a stratified split of ``cifar10_test`` into
  ``n_labelled`` (2,000) labelled images and the remaining 8,000 for evaluation;
- the representation of expert k is its ``"penultimate"`` activation;
- baselines (scikit-learn): each representation alone (standardised softmax
  regression), the concatenation of all representations with a linear classifier
  (the paper's "all + SVM"), and stacking as the paper's equation 9 (per-representation
  softmax regressions, their out-of-fold probabilities averaged, a second-stage softmax
  regression);
- SoftMoE gates with a trainable linear head per frozen expert (the paper's MoE-CNN,
  MoE-Embedding, and the label-space embedding).

Unlike the paper, the experts' source task has the same ten labels as the target task,
so each expert's own logits are a strong reference; they are reported too.

The experts are in ``_fusion_experts.py``, the scikit-learn baselines in
``_fusion_baselines.py``; this module runs the protocol and reports it.
"""

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid, train_test_split

from ..utils._evaluation import format_table, mean_std, proba_accuracy, timed
from ._fusion_baselines import (  # noqa: F401
    C_GRID,
    FINAL_C_GRID,
    STACKING,
    SVM_C_GRID,
    _inner_cv,
    average_probas,
    concatenation_classifier,
    run_baselines,
    select_columns,
    softmax_regression,
    stacking_classifier,
)
from ._fusion_experts import (  # noqa: F401
    DEFAULT_EPOCHS,
    EXPERT_LABELS,
    EXPERT_NAMES,
    EXPERT_SETS,
    REPRESENTATIONS,
    _epochs,
    make_representation_experts,
    trained_representation_experts,
)

#: the SoftMoE rows: label -> SoftMoE parameters (besides random_state); weight decay 1e-2 is
#: the default when no grid is searched (without weight decay the heads overfit the 2,000
#: images: embedding gate 0.687 vs 0.709 on seed 0 of the same-task set)
_WD = {"heads": "linear", "weight_decay": 1e-2}
#: the grid each SoftMoE row searches by 3-fold inner CV on the labelled images (the gate's
#: parameters, fitted on the experts' outputs computed once), as the scikit-learn rows choose C
SOFTMOE_GRID = {"weight_decay": [1e-3, 1e-2, 1e-1]}
#: the gated products' own grid: on seed 0 of the split-task set, their inner-CV accuracy
#: peaks between 1e-2 and 1e-1 (the heads' logits are scaled by gate weights near 1/K, so
#: their penalty is K^2 times that of the same linear model on the concatenation)
_PRODUCT_GRID = {"weight_decay": [1e-2, 3e-2, 1e-1, 3e-1]}
#: label -> SoftMoE parameters; a "grid" entry replaces ``softmoe_grid`` for that row
SOFTMOE_ROWS = {
    "SoftMoE embedding gate (MoE-Embedding)": {"gate_net": "embedding", **_WD},
    "SoftMoE thumbnail CNN gate (MoE-CNN(32))": {"gate_net": "thumbnail_cnn", **_WD},
    "SoftMoE MLP gate": {"gate_net": "mlp", **_WD},
    "SoftMoE embedding gate + label embedding 32 (LE)": {
        "gate_net": "embedding", "label_embedding": 32, **_WD},
    "SoftMoE embedding gate, gated product (combine='logits')": {
        "gate_net": "embedding", "combine": "logits", **_WD, "grid": _PRODUCT_GRID},
    "SoftMoE embedding gate + label embedding 32, gated product (combine='logits')": {
        "gate_net": "embedding", "label_embedding": 32, "combine": "logits", **_WD,
        "grid": _PRODUCT_GRID},
}


def run_fusion(seeds=(0, 1, 2), data_dir=None, cache_dir=None, epochs=None, n_labelled=2000,
               verbose=0, softmoe_params=None, print_fn=None, representations=EXPERT_NAMES,
               softmoe_grid=SOFTMOE_GRID, softmoe_rows=None):
    """The fusion protocol on CIFAR-10, one result dict per seed.

    Parameters
    ----------
    seeds : sequence of int, default=(0, 1, 2)
        Each seed trains (or loads) its own experts and draws its own split.
    data_dir : path-like, default=None
        Folder of the ``.npz`` files (default: ``SKGATE_DATA_DIR``).
    cache_dir : path-like, default=None
        Where trained experts are cached (default: ``SKGATE_CACHE_DIR``; none if unset).
    epochs : int or dict of str to int, default=None
        Expert training epochs (see :func:`make_representation_experts`).
    n_labelled : int, default=2000
        Labelled images of ``cifar10_test`` (stratified); the rest is the evaluation set.
    verbose : int, default=0
        Progress messages (and skorch's training log when > 1).
    softmoe_params : dict, default=None
        Extra parameters for every SoftMoE row (for example ``max_epochs``).
    print_fn : callable, default=None
        Where progress goes when ``verbose``; default ``print``.
    representations : sequence of str, default=EXPERT_NAMES
        The experts fused (keys of :data:`REPRESENTATIONS`), for example
        ``EXPERT_SETS["split_task"]``.
    softmoe_grid : dict or None, default=SOFTMOE_GRID
        The grid of gate parameters that each SoftMoE row searches by a 3-fold stratified
        inner CV on the labelled images (accuracy; the folds of ``GridSearchCV`` with
        :func:`_inner_cv`, the first best candidate on ties); None fits each row once with
        its parameters. A row's own ``"grid"`` entry (see :data:`SOFTMOE_ROWS`) replaces a
        grid given here (not None).
        The frozen experts run once per seed over ``cifar10_test``; every candidate gate is
        fitted on those outputs (:meth:`ExpertOutputs.subset
        <skgate.experts.ExpertOutputs.subset>`), as ``MixtureOfExperts.fit`` would fit it on
        the same experts' outputs.
    softmoe_rows : sequence of str or None, default=None
        The SoftMoE rows to run: a row runs when one of these strings is in its label
        (case-insensitive); None runs every row of :data:`SOFTMOE_ROWS`.

    Returns
    -------
    results : list of dict
        Per seed: ``seed``, ``n_labelled``, ``n_eval``, ``experts`` (name ->
        ``classes``, ``epochs``, ``train_s``, ``dim``, ``test_accuracy`` on the images
        of ``cifar10_test`` in its classes, ``eval_accuracy`` on the evaluation images in
        its classes, ``features_s``), ``methods`` (label ->
        ``accuracy``, ``fit_s``, ``kind``, ...; SoftMoE rows add ``gate_weights``, the mean
        gate weight of each expert on the evaluation images), ``softmoe`` (whether SoftMoE
        rows ran).
    """
    from ..datasets import load_npz
    from ..experts import ExpertOutputs, ExpertSet
    from ..gates import SoftMoE
    from ..metrics import activation_rate

    say = (print_fn or print) if verbose else (lambda *a, **k: None)
    rows = select_softmoe_rows(softmoe_rows)
    X_test, y_test = load_npz("cifar10_test", data_dir, return_X_y=True)
    results = []
    for seed in seeds:
        say(f"[fusion] seed {seed}: experts")
        experts, train_s, cached = trained_representation_experts(
            seed, names=representations, data_dir=data_dir, cache_dir=cache_dir,
            epochs=epochs, verbose=max(verbose - 1, 0))
        idx_lab, idx_eval = train_test_split(
            np.arange(len(y_test)), train_size=n_labelled, stratify=y_test, random_state=seed)
        epochs_used = _epochs(epochs)
        reps, all_logits, expert_rows = [], [], {}
        for name, expert in experts:
            (logits, layers), features_s = timed(
                lambda e=expert: e.forward_outputs(X_test, layers=["penultimate"]))
            pred = np.asarray(expert.classes)[logits.argmax(axis=1)]
            right = pred == y_test
            mine = np.isin(y_test, expert.classes)
            reps.append(layers["penultimate"])
            all_logits.append(logits)
            expert_rows[name] = {
                "classes": [int(c) for c in expert.classes],
                "epochs": epochs_used[name], "train_s": train_s[name], "cached": cached[name],
                "dim": layers["penultimate"].shape[1], "features_s": features_s,
                "test_accuracy": float(right[mine].mean()),
                "eval_accuracy": float(right[idx_eval][mine[idx_eval]].mean()),
            }
        bounds = np.cumsum([0] + [r.shape[1] for r in reps])
        columns = {name: slice(int(a), int(b))
                   for (name, _), a, b in zip(experts, bounds[:-1], bounds[1:])}
        Z = np.hstack(reps)
        groups = _source_groups(experts, y_test[idx_eval])
        say(f"[fusion] seed {seed}: baselines on {Z.shape[1]}-d representations")
        methods = run_baselines(Z[idx_lab], y_test[idx_lab], Z[idx_eval], y_test[idx_eval],
                                columns, random_state=seed)
        # the experts' outputs over cifar10_test, from the pass above: every SoftMoE
        # candidate is fitted on them, the experts never rerun
        outputs = ExpertOutputs(ExpertSet(experts), X_test, all_logits,
                                [{"penultimate": r} for r in reps])
        out_lab, out_eval = outputs.subset(idx_lab), outputs.subset(idx_eval)
        for label, params in rows.items():
            say(f"[fusion] seed {seed}: {label}")
            params = dict(params)
            grid = params.pop("grid", softmoe_grid) if softmoe_grid else None
            gate = SoftMoE(**params, **(softmoe_params or {}), random_state=seed)
            (gate, best, cv_scores), fit_s = timed(
                search_gate, gate, out_lab, y_test[idx_lab], grid, cv=_inner_cv(seed))
            proba = gate.predict_proba(out_eval)
            weights = gate.route_proba(out_eval)
            methods[label] = {
                "accuracy": proba_accuracy(gate.classes_, proba, y_test[idx_eval]),
                "fit_s": fit_s, "kind": "softmoe",
                "C": float(best["weight_decay"]) if "weight_decay" in best else None,
                "cv_scores": cv_scores,
                "gate_weights": weights.mean(axis=0).tolist(),
                # ActivationRate(expert | images of a source task's classes)
                "activation_rates": {} if groups is None else dict(zip(
                    np.unique(groups).tolist(),
                    activation_rate(weights, groups).tolist())),
                "epochs_run": len(gate.history_),
            }
        results.append({"seed": seed, "n_labelled": len(idx_lab), "n_eval": len(idx_eval),
                        "experts": expert_rows, "methods": methods,
                        "softmoe": True})
    return results


def select_softmoe_rows(patterns=None):
    """The rows of :data:`SOFTMOE_ROWS` whose label contains one of ``patterns``
    (case-insensitive); all of them for None. A pattern matching no row is an error."""
    if patterns is None:
        return dict(SOFTMOE_ROWS)
    patterns = [p.lower() for p in patterns]
    unmatched = [p for p in patterns if not any(p in label.lower() for label in SOFTMOE_ROWS)]
    if unmatched:
        raise ValueError(f"No SoftMoE row matches {unmatched}; the rows are "
                         f"{list(SOFTMOE_ROWS)}.")
    return {label: params for label, params in SOFTMOE_ROWS.items()
            if any(p in label.lower() for p in patterns)}


def search_gate(gate, outputs, y, grid, cv):
    """Choose ``gate``'s parameters from ``grid`` by cross-validated accuracy, then refit.

    The gate is fitted on the experts' outputs (``outputs.subset`` of each fold), so the
    experts run once for every candidate and fold; the folds are ``cv.split(outputs.X, y)``,
    and ties go to the first best candidate, as in ``GridSearchCV``.

    Returns
    -------
    gate : the gate refitted on all of ``outputs`` with the best parameters
    best : dict, the best parameters (empty without a grid)
    scores : list of float, the mean inner-CV accuracy of each candidate (empty without grid)
    """
    y = np.asarray(y)
    if not grid:
        return clone(gate).fit(outputs, y), {}, []
    candidates = list(ParameterGrid(grid))
    folds = list(cv.split(np.zeros((len(y), 1)), y))
    scores = []
    for params in candidates:
        fold_scores = []
        for train, test in folds:
            fitted = clone(gate).set_params(**params).fit(outputs.subset(train), y[train])
            pred = fitted.classes_[fitted.predict_proba(outputs.subset(test)).argmax(axis=1)]
            fold_scores.append(float(np.mean(pred == y[test])))
        scores.append(float(np.mean(fold_scores)))
    best = candidates[int(np.argmax(scores))]
    return clone(gate).set_params(**best).fit(outputs, y), best, scores


def _source_groups(experts, y):
    """Per sample, ``"classes a-b"`` of the expert whose source task owns its label.

    Only experts trained on part of the classes define groups; None when none is.
    """
    partial = [np.asarray(e.classes) for _, e in experts if len(e.classes) < 10]
    if not partial:
        return None
    groups = np.full(len(y), "other", dtype=object)
    for classes in partial[::-1]:  # the first expert owning a label names its group
        groups[np.isin(y, classes)] = f"classes {classes.min()}-{classes.max()}"
    return groups.astype(str)


def _versus(results, label, reference):
    """"above", "below" or "tied with": the per-seed paired difference against its std."""
    diff = np.array([r["methods"][label]["accuracy"] - r["methods"][reference]["accuracy"]
                     for r in results])
    if abs(diff.mean()) <= diff.std():
        return "tied with"
    return "above" if diff.mean() > 0 else "below"


def report_fusion(results, print_fn=print):
    """Print the fusion tables (mean ± std over seeds) from :func:`run_fusion` results."""
    if not results:
        raise ValueError("No results to report.")
    seeds = [r["seed"] for r in results]
    first = results[0]
    print_fn(f"\n### Fusion of pre-trained representations on CIFAR-10 (seeds {seeds})\n")
    print_fn(f"{first['n_labelled']} labelled images of cifar10_test (stratified, per seed); "
             f"accuracy on the other {first['n_eval']}. Experts trained on the images of "
             "their classes in cifar10_train20k, then frozen; representation = penultimate "
             "activation.\n")

    rows = []
    for name in first["experts"]:
        got = [r["experts"][name] for r in results]
        classes = got[0].get("classes", list(range(10)))
        rows.append({
            "expert": EXPERT_LABELS.get(name, name), "dim": str(got[0]["dim"]),
            "classes": f"{min(classes)}-{max(classes)}" if classes else "-",
            "epochs": str(got[0]["epochs"]),
            "train": mean_std([g["train_s"] for g in got], 0) + " s",
            "test": mean_std([g["test_accuracy"] for g in got]),
            "eval": mean_std([g["eval_accuracy"] for g in got]),
        })
    print_fn(format_table(rows, ["expert", "classes", "dim", "epochs", "train", "test", "eval"],
                          headers=["expert (its own logits)", "trained on classes",
                                   "representation dim", "epochs", "training time",
                                   "accuracy on cifar10_test (its classes)",
                                   "accuracy on the eval images (its classes)"]))

    labels = list(first["methods"])
    mean = {lab: np.mean([r["methods"][lab]["accuracy"] for r in results]) for lab in labels}
    singles = [lab for lab in labels if first["methods"][lab]["kind"] == "single"]
    best_single = max(singles, key=mean.get) if singles else None
    stacking = [lab for lab in labels if first["methods"][lab]["kind"] == "stacking"]
    rows = []
    for lab in labels:
        got = [r["methods"][lab] for r in results]
        note = ""
        if lab == best_single:
            note = "**best single representation**"
        elif got[0]["kind"] == "stacking":
            note = "**stacking baseline**"
        elif got[0]["kind"] == "softmoe" and best_single is not None:
            note = ", ".join(f"{_versus(results, lab, ref)} {what}" for ref, what in
                             [(best_single, "best single")] + [(st, "stacking")
                                                               for st in stacking])
        Cs = [g.get("C") for g in got if g.get("C") is not None]
        weights = [g["gate_weights"] for g in got if "gate_weights" in g]
        diff = "-"
        if best_single is not None and lab != best_single:
            diff = mean_std([r["methods"][lab]["accuracy"] - r["methods"][best_single]["accuracy"]
                        for r in results])
        rows.append({
            "method": lab, "accuracy": mean_std([g["accuracy"] for g in got]), "diff": diff,
            "fit": mean_std([g["fit_s"] for g in got], 1) + " s",
            "C": "/".join(f"{c:g}" for c in Cs) if Cs else "-",
            "gate": " / ".join(f"{w:.2f}" for w in np.mean(weights, axis=0))
            if weights else "-",
            "note": note,
        })
    print_fn("")
    print_fn(format_table(
        rows, ["method", "accuracy", "diff", "fit", "C", "gate", "note"],
        headers=["method", "accuracy (mean ± std)", "minus best single (paired)", "fit time",
                 "C (SoftMoE: weight decay) per seed",
                 f"mean gate weight ({' / '.join(first['experts'])})", "note"]))
    print_fn("\nminus best single: the per-seed difference of accuracy with the best single "
             "representation, mean ± std over seeds; a SoftMoE row is \"tied with\" a baseline "
             "when that mean is within one std.")
    print_fn("\nC: inverse regularisation chosen per seed by 3-fold inner CV on the labelled "
             f"images, over {list(C_GRID)} (linear SVM: {list(SVM_C_GRID)}; stacking: C of "
             f"the second stage, over {list(FINAL_C_GRID)}, its first stage reusing each "
             "representation's C); SoftMoE rows: weight decay chosen the same way over "
             f"{SOFTMOE_GRID['weight_decay']} (gated products: over "
             f"{_PRODUCT_GRID['weight_decay']}) when the "
             "column shows it. Fit time of the scikit-learn rows: on precomputed "
             "representations; of the SoftMoE rows: on the experts' outputs (computed once "
             "per seed), the search included.")
    rated = [lab for lab in labels if first["methods"][lab].get("activation_rates")]
    if rated:
        names = list(first["experts"])
        print_fn("\nActivation rates of the SoftMoE gates, ActivationRate(expert | D) = the "
                 "mean gate weight of the expert over the evaluation images D of one source "
                 "task's classes (mean over seeds):\n")
        rows = []
        for lab in rated:
            for group in first["methods"][lab]["activation_rates"]:
                rates = np.mean([r["methods"][lab]["activation_rates"][group]
                                 for r in results], axis=0)
                rows.append({"method": lab, "D": group,
                             **{n: f"{v:.2f}" for n, v in zip(names, rates)}})
        print_fn(format_table(rows, ["method", "D", *names]))
    if not all(r.get("softmoe") for r in results):
        print_fn("\nSoftMoE rows missing: skgate.gates.SoftMoE was not available.")
