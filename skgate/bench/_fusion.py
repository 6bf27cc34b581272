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
  MoE-Embedding, and the label-space embedding), when :class:`skgate.gates.SoftMoE` exists.

Unlike the paper, the experts' source task has the same ten labels as the target task,
so each expert's own logits are a strong reference; they are reported too.
"""

import os
import time
from pathlib import Path

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from ._evaluate import mean_std

#: every representation expert: name -> (description, the cifar10_train20k classes it
#: trains on)
REPRESENTATIONS = {
    "lenet5": ("LeNet-5 (SGD)", tuple(range(10))),
    "small_resnet": ("SmallResNet(width=16) (Adam, cosine)", tuple(range(10))),
    "mlp": ("MLP(512, 256) on pixels (Adam)", tuple(range(10))),
    "resnet_0_4": ("SmallResNet(width=16) on classes 0-4 only (Adam, cosine)",
                   tuple(range(5))),
    "resnet_5_9": ("SmallResNet(width=16) on classes 5-9 only (Adam, cosine)",
                   tuple(range(5, 10))),
}
#: the sets of representations the bench fuses: "same_task", every expert trained on all
#: ten classes (the issue's example); "split_task", two ResNets pre-trained on different
#: halves of the classes (different source tasks, as in the paper) and a LeNet-5 on all
EXPERT_SETS = {
    "same_task": ("lenet5", "small_resnet", "mlp"),
    "split_task": ("resnet_0_4", "resnet_5_9", "lenet5"),
}
#: the default set, in order
EXPERT_NAMES = EXPERT_SETS["same_task"]
#: how each expert is described in the report
EXPERT_LABELS = {name: label for name, (label, _) in REPRESENTATIONS.items()}
#: default training epochs of each expert on (its classes of) cifar10_train20k
DEFAULT_EPOCHS = {"lenet5": 20, "small_resnet": 10, "mlp": 10, "resnet_0_4": 10,
                  "resnet_5_9": 10}
#: the grid of inverse regularisation strengths searched by the inner cross-validation
C_GRID = (0.0001, 0.001, 0.01, 0.1, 1.0)
#: the grid of the linear SVM on the concatenation (larger C fit slowly and worse)
SVM_C_GRID = (0.00001, 0.0001, 0.001, 0.01)
#: the grid of the stacking's second stage (on averaged probabilities, not standardised)
FINAL_C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
#: the SoftMoE rows: label -> SoftMoE parameters (besides random_state); weight decay 1e-2 is
#: the default when no grid is searched (without weight decay the heads overfit the 2,000
#: images: embedding gate 0.687 vs 0.709 on seed 0 of the same-task set)
_WD = {"heads": "linear", "weight_decay": 1e-2}
#: the grid each SoftMoE row searches by 3-fold inner CV on the labelled images (GridSearchCV
#: over the mixture), as the scikit-learn rows choose C
SOFTMOE_GRID = {"gate__weight_decay": [1e-3, 1e-2, 1e-1]}
SOFTMOE_ROWS = {
    "SoftMoE embedding gate (MoE-Embedding)": {"gate_net": "embedding", **_WD},
    "SoftMoE thumbnail CNN gate (MoE-CNN(32))": {"gate_net": "thumbnail_cnn", **_WD},
    "SoftMoE MLP gate": {"gate_net": "mlp", **_WD},
    "SoftMoE embedding gate + label embedding 32 (LE)": {
        "gate_net": "embedding", "label_embedding": 32, **_WD},
}
STACKING = "stacking (eq. 9: averaged base probabilities + softmax regression)"


# -- the experts ------------------------------------------------------------------------
def _check_names(names):
    unknown = sorted(set(names) - set(REPRESENTATIONS))
    if unknown:
        raise ValueError(f"Unknown experts {unknown}; expected names among "
                         f"{sorted(REPRESENTATIONS)}.")


def _epochs(epochs):
    if epochs is None:
        return dict(DEFAULT_EPOCHS)
    if isinstance(epochs, dict):
        _check_names(epochs)
        return {**DEFAULT_EPOCHS, **epochs}
    return dict.fromkeys(REPRESENTATIONS, int(epochs))


def make_representation_experts(seed, *, names=EXPERT_NAMES, epochs=None, verbose=0):
    """The unfitted representation experts of one seed, as ``(name, Expert)`` pairs.

    Parameters
    ----------
    seed : int
        Seeds each expert's initialisation and shuffling.
    names : sequence of str, default=EXPERT_NAMES
        Which experts (keys of :data:`REPRESENTATIONS`), in order.
    epochs : int or dict of str to int, default=None
        Training epochs, for every expert (int) or per expert name (missing names
        keep :data:`DEFAULT_EPOCHS`).
    verbose : int, default=0
        skorch verbosity.

    Returns
    -------
    experts : list of (str, Expert)
        ``lenet5`` (SGD lr 0.01, momentum 0.9), the SmallResNets ``small_resnet``,
        ``resnet_0_4`` and ``resnet_5_9`` (Adam lr 2e-3, cosine annealing to 0, weight
        decay 5e-4) and ``mlp`` (Adam lr 1e-3); all with ``cifar10_transform()``,
        batch 128, no validation split; each expert's classes are its entry of
        :data:`REPRESENTATIONS`.
    """
    import torch
    from skorch.callbacks import LRScheduler

    from .._demo import lenet_expert
    from ..experts import Expert, cifar10_transform
    from ..models import MLP, SmallResNet

    _check_names(names)
    epochs = _epochs(epochs)
    common = {"batch_size": 128, "train_split": None, "iterator_train__shuffle": True,
              "iterator_valid__batch_size": 512, "input_transform": cifar10_transform(),
              "random_state": seed, "verbose": verbose}

    def build(name):
        classes, n_epochs = list(REPRESENTATIONS[name][1]), epochs[name]
        if name == "lenet5":
            return lenet_expert(classes, in_channels=3, input_transform=cifar10_transform(),
                                max_epochs=n_epochs, random_state=seed, verbose=verbose)
        if name == "mlp":
            return Expert(MLP, module__n_classes=len(classes),
                          module__hidden_layer_sizes=(512, 256), optimizer=torch.optim.Adam,
                          lr=1e-3, max_epochs=n_epochs, classes=classes, **common)
        return Expert(
            SmallResNet, module__n_classes=len(classes), module__width=16,
            optimizer=torch.optim.Adam, lr=2e-3, optimizer__weight_decay=5e-4,
            max_epochs=n_epochs, classes=classes,
            callbacks=[("cosine", LRScheduler(torch.optim.lr_scheduler.CosineAnnealingLR,
                                              T_max=max(n_epochs, 1)))],
            **common)

    return [(name, build(name)) for name in names]


def trained_representation_experts(seed, *, names=EXPERT_NAMES, data_dir=None, cache_dir=None,
                                   epochs=None, verbose=0):
    """Train the representation experts on ``cifar10_train20k``, or load them from the cache.

    Each expert trains on the images of its classes only (see :data:`REPRESENTATIONS`).

    Each expert's state dict (and its training time) is cached as
    ``fusion_<name>_seed<seed>_epochs<epochs>.pt`` in ``cache_dir`` (default: the
    ``SKGATE_CACHE_DIR`` environment variable; no cache if neither is set), as
    :func:`skgate.bench._problems.trained_experts` does.

    Returns
    -------
    experts : list of (str, Expert)
        Frozen experts (``Expert.from_pretrained``), rebuilt from the modules alone.
    train_s : dict of str to float
        Training time of each expert in seconds (as measured when it was trained).
    cached : dict of str to bool
        Whether each expert was loaded from the cache.
    """
    import torch

    from ..datasets import load_npz
    from ..experts import Expert

    cache_dir = cache_dir or os.environ.get("SKGATE_CACHE_DIR")
    epochs = _epochs(epochs)
    data = None
    experts, train_s, cached = [], {}, {}
    for name, expert in make_representation_experts(seed, names=names, epochs=epochs,
                                                    verbose=verbose):
        path = None
        if cache_dir:
            path = Path(cache_dir) / f"fusion_{name}_seed{seed}_epochs{epochs[name]}.pt"
        if path is not None and path.exists():
            module = expert.initialize().module_
            saved = torch.load(path, weights_only=True)
            module.load_state_dict(saved["state_dict"])
            train_s[name], cached[name] = float(saved["train_s"]), True
        else:
            if data is None:
                data = load_npz("cifar10_train20k", data_dir, return_X_y=True)
            mine = np.isin(data[1], expert.classes)
            start = time.perf_counter()
            module = expert.fit(data[0][mine], data[1][mine]).module_
            train_s[name], cached[name] = time.perf_counter() - start, False
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"state_dict": module.state_dict(), "train_s": train_s[name]}, path)
        module.eval()
        experts.append((name, Expert.from_pretrained(
            module, classes=expert.classes, input_transform=expert.input_transform,
            iterator_valid__batch_size=512)))
    return experts, train_s, cached


# -- the scikit-learn baselines ---------------------------------------------------------
def _inner_cv(random_state):
    return StratifiedKFold(3, shuffle=True, random_state=random_state)


def softmax_regression(C=None, *, random_state=None, max_iter=5000):
    """StandardScaler + multinomial LogisticRegression.

    ``C=None`` chooses C from :data:`C_GRID` by a 3-fold stratified inner
    cross-validation (``GridSearchCV``, accuracy) on the training data; a number fixes it.
    """
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=C or 1.0, max_iter=max_iter))
    if C is not None:
        return pipe
    return GridSearchCV(pipe, {"logisticregression__C": list(C_GRID)},
                        cv=_inner_cv(random_state))


def select_columns(columns, estimator):
    """A pipeline that feeds only ``columns`` (a slice or indices) of X to ``estimator``."""
    return Pipeline([
        ("select", ColumnTransformer([("representation", "passthrough", columns)])),
        ("classifier", estimator),
    ])


def concatenation_classifier(kind="svm", C=None, *, random_state=None):
    """The paper's "all + SVM": a linear classifier on all representations, concatenated.

    Parameters
    ----------
    kind : {"svm", "logreg"}, default="svm"
        StandardScaler + ``LinearSVC`` or StandardScaler + ``LogisticRegression``.
    C : float or None, default=None
        Inverse regularisation; None chooses it by a 3-fold stratified inner
        cross-validation, from :data:`C_GRID` (logreg) or :data:`SVM_C_GRID` (svm).
    """
    if kind == "logreg":
        return softmax_regression(C, random_state=random_state)
    if kind != "svm":
        raise ValueError(f"kind must be 'svm' or 'logreg', got {kind!r}.")
    pipe = make_pipeline(StandardScaler(), LinearSVC(C=C or 1.0, max_iter=20000))
    if C is not None:
        return pipe
    return GridSearchCV(pipe, {"linearsvc__C": list(SVM_C_GRID)}, cv=_inner_cv(random_state))


def average_probas(P, n_estimators):
    """Average the stacked probabilities of ``n_estimators`` classifiers.

    ``P`` is ``(n_samples, n_estimators * n_columns)``, one block of columns per
    classifier, as :class:`~sklearn.ensemble.StackingClassifier` concatenates them;
    the result is ``(n_samples, n_columns)``.
    """
    P = np.asarray(P)
    if P.ndim != 2 or P.shape[1] % n_estimators:
        raise ValueError(
            f"Expected a 2-d array with a multiple of {n_estimators} columns, got {P.shape}.")
    return P.reshape(len(P), n_estimators, -1).mean(axis=1)


def stacking_classifier(columns, *, C=None, final_C=None, cv=5, random_state=None):
    """Stacking as the paper's equation 9, with scikit-learn's ``StackingClassifier``.

    ``g(mean_k g_k(phi_k(x)))``: one softmax regression ``g_k`` per representation
    (its ``columns`` of the concatenated X), their out-of-fold predicted probabilities
    (``cv``-fold) averaged over k, then a second-stage softmax regression ``g``.

    Parameters
    ----------
    columns : dict of str to slice or array of int
        The columns of each representation in X.
    C : float, dict of str to float, or None, default=None
        Inverse regularisation of the first-stage regressions (one per name if a dict);
        None chooses it by inner cross-validation (see :func:`softmax_regression`).
    final_C : float or None, default=None
        Same for the second stage (on the averaged probabilities, not standardised).
    cv : int or cross-validation generator, default=5
        The out-of-fold scheme of the first stage; an int means a shuffled
        ``StratifiedKFold`` seeded with ``random_state``.

    Returns
    -------
    stack : StackingClassifier
    """
    if isinstance(cv, int):
        cv = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    Cs = C if isinstance(C, dict) else dict.fromkeys(columns, C)
    estimators = [
        (name, select_columns(cols, softmax_regression(Cs[name], random_state=random_state)))
        for name, cols in columns.items()
    ]
    average = FunctionTransformer(average_probas, kw_args={"n_estimators": len(columns)})
    final = LogisticRegression(C=final_C or 1.0, max_iter=5000)
    if final_C is None:
        final = GridSearchCV(final, {"C": list(FINAL_C_GRID)},
                             cv=_inner_cv(random_state))
    return StackingClassifier(
        estimators,
        final_estimator=Pipeline([("average", average), ("classifier", final)]),
        stack_method="predict_proba",
        cv=cv,
    )


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _chosen_C(model):
    if not hasattr(model, "best_params_"):
        return None
    return float(next(iter(model.best_params_.values())))


def run_baselines(Z_train, y_train, Z_eval, y_eval, columns, *, random_state=None):
    """Fit every scikit-learn baseline on the representations; accuracy on the eval part.

    BLAS and OpenMP run single-threaded here: these problems are small, and on a shared
    machine multi-threaded BLAS made each logistic regression several times slower.

    Parameters
    ----------
    Z_train, Z_eval : ndarray of shape (n_samples, n_features)
        All representations, concatenated (see ``columns``).
    columns : dict of str to slice
        The columns of each representation.

    Returns
    -------
    rows : dict of str to dict
        Label -> ``{"accuracy", "fit_s", "kind", "C"}``; kinds: ``"single"``,
        ``"concatenation"``, ``"stacking"``.
    """
    with threadpool_limits(limits=1):
        return _run_baselines(Z_train, y_train, Z_eval, y_eval, columns, random_state)


def _run_baselines(Z_train, y_train, Z_eval, y_eval, columns, random_state):
    rows, chosen = {}, {}
    for name, cols in columns.items():
        model, fit_s = _timed(lambda c=cols: softmax_regression(random_state=random_state)
                              .fit(Z_train[:, c], y_train))
        chosen[name] = _chosen_C(model)
        rows[f"{name} alone (softmax regression)"] = {
            "accuracy": float(model.score(Z_eval[:, cols], y_eval)), "fit_s": fit_s,
            "kind": "single", "C": chosen[name]}
    for kind, label in (("svm", "all concatenated + linear SVM (paper's all + SVM)"),
                        ("logreg", "all concatenated + softmax regression")):
        model, fit_s = _timed(lambda k=kind: concatenation_classifier(
            k, random_state=random_state).fit(Z_train, y_train))
        rows[label] = {"accuracy": float(model.score(Z_eval, y_eval)), "fit_s": fit_s,
                       "kind": "concatenation", "C": _chosen_C(model)}
    # the first stage reuses each representation's C chosen above (on the same labelled data)
    stack = stacking_classifier(columns, C=chosen, random_state=random_state)
    _, fit_s = _timed(lambda: stack.fit(Z_train, y_train))
    rows[STACKING] = {"accuracy": float(stack.score(Z_eval, y_eval)), "fit_s": fit_s,
                      "kind": "stacking", "C": _chosen_C(stack.final_estimator_[-1])}
    return rows


# -- the bench --------------------------------------------------------------------------
def _softmoe_class():
    try:
        from ..gates import SoftMoE
    except ImportError:
        return None
    return SoftMoE


def run_fusion(seeds=(0, 1, 2), data_dir=None, cache_dir=None, epochs=None, n_labelled=2000,
               verbose=0, softmoe_params=None, print_fn=None, representations=EXPERT_NAMES,
               softmoe_grid=SOFTMOE_GRID):
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
        The parameter grid of the mixture that each SoftMoE row searches by a 3-fold
        stratified inner CV on the labelled images (``GridSearchCV``, accuracy; the
        frozen experts are shared, never retrained); None fits each row once with its
        parameters.

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
    from .. import MixtureOfExperts
    from ..datasets import load_npz
    from ..metrics import activation_rate

    say = (print_fn or print) if verbose else (lambda *a, **k: None)
    X_test, y_test = load_npz("cifar10_test", data_dir, return_X_y=True)
    SoftMoE = _softmoe_class()
    results = []
    for seed in seeds:
        say(f"[fusion] seed {seed}: experts")
        experts, train_s, cached = trained_representation_experts(
            seed, names=representations, data_dir=data_dir, cache_dir=cache_dir,
            epochs=epochs, verbose=max(verbose - 1, 0))
        idx_lab, idx_eval = train_test_split(
            np.arange(len(y_test)), train_size=n_labelled, stratify=y_test, random_state=seed)
        epochs_used = _epochs(epochs)
        reps, expert_rows = [], {}
        for name, expert in experts:
            (logits, layers), features_s = _timed(
                lambda e=expert: e.forward_outputs(X_test, layers=["penultimate"]))
            pred = np.asarray(expert.classes)[logits.argmax(axis=1)]
            right = pred == y_test
            mine = np.isin(y_test, expert.classes)
            reps.append(layers["penultimate"])
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
        if SoftMoE is not None:
            for label, params in SOFTMOE_ROWS.items():
                say(f"[fusion] seed {seed}: {label}")
                gate = SoftMoE(**params, **(softmoe_params or {}), random_state=seed)
                model = MixtureOfExperts(experts, gate=gate)
                if softmoe_grid:
                    model = GridSearchCV(model, softmoe_grid, cv=_inner_cv(seed))
                _, fit_s = _timed(model.fit, X_test[idx_lab], y_test[idx_lab])
                moe = model.best_estimator_ if softmoe_grid else model
                outputs = moe.expert_outputs(X_test[idx_eval])  # one pass for both
                proba = moe.gate_.predict_proba(outputs)
                weights = moe.gate_.route_proba(outputs)
                methods[label] = {
                    "accuracy": float(np.mean(moe.classes_[proba.argmax(axis=1)]
                                              == y_test[idx_eval])),
                    "fit_s": fit_s, "kind": "softmoe",
                    "C": (float(model.best_params_["gate__weight_decay"])
                          if softmoe_grid and "gate__weight_decay" in model.best_params_
                          else None),
                    "gate_weights": weights.mean(axis=0).tolist(),
                    # ActivationRate(expert | images of a source task's classes)
                    "activation_rates": {} if groups is None else dict(zip(
                        np.unique(groups).tolist(),
                        activation_rate(weights, groups).tolist())),
                    "epochs_run": len(moe.gate_.history_),
                }
        results.append({"seed": seed, "n_labelled": len(idx_lab), "n_eval": len(idx_eval),
                        "experts": expert_rows, "methods": methods,
                        "softmoe": SoftMoE is not None})
    return results


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
    from ._evaluate import format_table

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
             f"{SOFTMOE_GRID['gate__weight_decay']} (GridSearchCV over the mixture) when the "
             "column shows it. Fit time of the scikit-learn rows: on precomputed "
             "representations; of the SoftMoE rows: from images, expert forward passes "
             "and the search included.")
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
