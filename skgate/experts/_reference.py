"""Reference experts: the papers' LeNet-5 expert, used by the demo and the benchmarks."""

import re
import sys

import torch
from skorch.callbacks import ProgressBar

from ..models import LeNet5
from ._expert import Expert
from ._transforms import mnist_transform

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
