"""The second paper's experiment: a jointly trained soft mixture on MNIST + CIFAR-10.

20 classes (MNIST 0-9, CIFAR-10 10-19), every image resized to 32 x 32 grey.
Four models, each trained with Adam on all 40,000 training images
(``mnist_train20k`` + ``cifar10_train20k``) and tested on the 20,000 test
images after every epoch:

- ``single expert``: one linear softmax expert over the 20 classes, no gate;
- ``pre-designed gate``: two linear experts, MNIST images to the first and
  CIFAR-10 images to the second (the gate routes by the dataset of the label);
- ``linear gate``: two linear 20-class experts and a linear gate, trained jointly;
- ``1-hidden-layer gate``: the same with a gate of 64 ReLU units.

Under the pre-designed gate each expert only ever sees (and is only ever
asked about) its own dataset, so it is built with that dataset's 10 classes;
the paper's experts output all 20, which under this gate only changes where
zeros go.
"""


import numpy as np

from .. import Expert, MixtureOfExperts
from ..callbacks import EpochTestScoring
from ..datasets import load_npz, merge_datasets
from ..gates import SoftMoE
from ..metrics import activation_rate
from ..models import MLP
from ..utils._evaluation import mean_std, timed

#: the paper's activation-rate table (Figure 2), rows (model, dataset), columns
#: train expert 1, train expert 2, test expert 1, test expert 2
PAPER_ACTIVATION = {
    ("pre-designed gate", "mnist"): (1.00, 0.00, 1.00, 0.00),
    ("pre-designed gate", "cifar10"): (0.00, 1.00, 0.00, 1.00),
    ("linear gate", "mnist"): (0.63, 0.37, 0.63, 0.37),
    ("linear gate", "cifar10"): (0.01, 0.99, 0.01, 0.99),
    ("1-hidden-layer gate", "mnist"): (0.45, 0.55, 0.44, 0.55),
    ("1-hidden-layer gate", "cifar10"): (1.00, 0.00, 1.00, 0.00),
}
MODELS = ("single expert", "pre-designed gate", "linear gate", "1-hidden-layer gate")
SOURCES = ("mnist", "cifar10")


def load_mnist_cifar10_grey(data_dir=None):
    """Train and test sets of the experiment: (N, 1, 32, 32) grey images in [0, 1], 20 classes.

    Returns ``(X_train, y_train, source_train, X_test, y_test, source_test)``;
    ``source`` is 0 for MNIST and 1 for CIFAR-10.
    """
    parts = []
    for split in (("mnist_train20k", "cifar10_train20k"), ("mnist_test", "cifar10_test")):
        bunch = merge_datasets(
            [load_npz(name, data_dir) for name in split],
            size=32, channels=1, resize="resize", label_offsets=[0, 10],
        )
        parts.append((bunch.data, bunch.target, bunch.source))
    return (*parts[0], *parts[1])


def _linear_expert(classes, seed):
    return Expert(
        MLP, module__n_classes=len(classes), module__hidden_layer_sizes=(),
        classes=list(classes), random_state=seed, verbose=0,
    )


def make_models(seed, *, X_test, y_test, max_epochs=20, lr=1e-3, batch_size=128):
    """The four models of the experiment, as unfitted mixtures."""
    def gate(net):
        return SoftMoE(
            net, train_experts=True, max_epochs=max_epochs, lr=lr, batch_size=batch_size,
            callbacks=[EpochTestScoring(X_test, y_test)], random_state=seed,
        )
    all_classes = range(20)
    return {
        "single expert": MixtureOfExperts(
            [("expert", _linear_expert(all_classes, seed))], gate("fixed")),
        "pre-designed gate": MixtureOfExperts(
            [("mnist", _linear_expert(range(10), seed)),
             ("cifar10", _linear_expert(range(10, 20), seed + 1))], gate("fixed")),
        "linear gate": MixtureOfExperts(
            [("expert_1", _linear_expert(all_classes, seed)),
             ("expert_2", _linear_expert(all_classes, seed + 1))], gate("linear")),
        "1-hidden-layer gate": MixtureOfExperts(
            [("expert_1", _linear_expert(all_classes, seed)),
             ("expert_2", _linear_expert(all_classes, seed + 1))], gate("mlp")),
    }


def _weights(moe, name, X, y, source):
    if name == "pre-designed gate":
        return np.eye(2)[source]  # IsMnist(X), known from the data set
    return moe.route_proba(X)


def run_soft(*, seeds=(0, 1, 2), data_dir=None, max_epochs=20, print_fn=print):
    """Train the four models for each seed; return per-seed curves and activation rates."""
    X_train, y_train, s_train, X_test, y_test, s_test = load_mnist_cifar10_grey(data_dir)
    results = []
    for seed in seeds:
        run = {"seed": seed, "models": {}}
        for name, moe in make_models(seed, X_test=X_test, y_test=y_test,
                                     max_epochs=max_epochs).items():
            fit_time = timed(moe.fit, X_train, y_train)[1]
            history = moe.gate_.history_
            entry = {
                "train_acc": [float(v) for v in history[:, "train_acc"]],
                "test_acc": [float(v) for v in history[:, "test_acc"]],
                "fit_time": fit_time,
            }
            if len(moe.experts_) == 2:
                rates = {}
                for part, (X, y, source) in {"train": (X_train, y_train, s_train),
                                             "test": (X_test, y_test, s_test)}.items():
                    weights = _weights(moe, name, X, y, source)
                    rates[part] = activation_rate(weights, source, labels=[0, 1]).tolist()
                entry["activation_rate"] = rates
            run["models"][name] = entry
            print_fn(f"seed {seed} {name}: train {entry['train_acc'][-1]:.4f} "
                     f"test {entry['test_acc'][-1]:.4f} ({fit_time:.0f} s)")
        results.append(run)
    return results


def report_soft(results, print_fn=print, *, figure=None):
    """Markdown tables: final accuracies, best test epoch, activation rates next to the paper's.

    ``figure``: a path to save the accuracy curves of the first seed to (PNG).
    """
    print_fn(f"Accuracy after the last epoch, mean ± std over seeds "
             f"{[r['seed'] for r in results]}:\n")
    print_fn("| model | train | test | best test epoch | fit time (s) |")
    print_fn("| --- | --- | --- | --- | --- |")
    for name in MODELS:
        runs = [r["models"][name] for r in results]
        best = [int(np.argmax(m["test_acc"])) + 1 for m in runs]
        print_fn(f"| {name} | {mean_std([m['train_acc'][-1] for m in runs])} | "
                 f"{mean_std([m['test_acc'][-1] for m in runs])} | "
                 f"{', '.join(map(str, best))} | {mean_std([m['fit_time'] for m in runs])} |")
    # which of two symmetric experts takes a data set is arbitrary: one table row per seed
    print_fn("\nActivation rate per seed (the paper's Figure 2 in brackets):\n")
    print_fn("| model | seed | data | train expert 1 | train expert 2 | test expert 1 | "
             "test expert 2 |")
    print_fn("| --- | --- | --- | --- | --- | --- | --- |")
    for name in MODELS[1:]:
        for r in results:
            rates = np.asarray([r["models"][name]["activation_rate"][part]
                                for part in ("train", "test")])  # (part, source, expert)
            for i, source in enumerate(SOURCES):
                ours = [rates[0, i, 0], rates[0, i, 1], rates[1, i, 0], rates[1, i, 1]]
                paper = PAPER_ACTIVATION[(name, source)]
                cells = " | ".join(f"{o:.2f} ({p:.2f})" for o, p in zip(ours, paper))
                print_fn(f"| {name} | {r['seed']} | {source} | {cells} |")
    if figure is not None:
        plot_curves(results[0], figure)
        print_fn(f"\nAccuracy curves of seed {results[0]['seed']}: {figure}")


def plot_curves(run, path):
    """Save the paper's Figure 1 (8 curves: train solid, test dashed) for one seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..inspection import TrainingCurveDisplay

    curves = {name: {"train_acc": np.asarray(m["train_acc"]),
                     "test_acc": np.asarray(m["test_acc"])}
              for name, m in run["models"].items()}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    TrainingCurveDisplay(curves, keys=("train_acc", "test_acc")).plot(ax=ax)
    ax.set_ylabel("accuracy")
    ax.set_title("MNIST + CIFAR-10 (20 classes, grey 32x32): accuracy per epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
