"""The two problems of the universal-gating paper, built from ``SKGATE_DATA_DIR``.

Protocol (as in ``shared/reference/prototype-measurements.md``): per seed, a
stratified 80/20 split of each training file; experts train on the 80%, gates
that learn are fitted on the other 20% ("gate data"); everything is tested on
the official test sets.

- ``"disjoint_mnist"`` (A): LeNet-5 on digits 0-4 and on 5-9 of
  ``mnist_train20k``; tested on ``mnist_test``. Mixture input: (N, 1, 28, 28).
- ``"mnist_cifar10"`` (B): LeNet-5 on ``mnist_train20k`` and on
  ``cifar10_train20k``; 20 classes (CIFAR-10 labels + 10); tested on
  ``mnist_test`` + ``cifar10_test``. Mixture input: (N, 3, 32, 32), MNIST
  zero-padded and replicated to 3 channels.
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import train_test_split

from .._demo import lenet_expert
from ..datasets import load_npz, merge_datasets
from ..experts import cifar10_transform, mnist_transform

PROBLEMS = ("disjoint_mnist", "mnist_cifar10")


@dataclass
class Problem:
    """Data and (unfitted) experts of one problem for one seed."""

    name: str
    experts: list
    X_train: np.ndarray
    y_train: np.ndarray
    X_gate: np.ndarray
    y_gate: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    extra: dict = field(default_factory=dict)


def _split(bunch, seed):
    return train_test_split(
        bunch.data, bunch.target, test_size=0.2, stratify=bunch.target, random_state=seed
    )


def make_problem(name, seed, *, data_dir=None, max_epochs=10, verbose=0, **expert_kwargs):
    """Build problem ``name`` ("disjoint_mnist" or "mnist_cifar10") for one seed.

    ``expert_kwargs`` go to every expert (for example another ``optimizer`` and ``lr``).
    """
    expert_kw = {"max_epochs": max_epochs, "random_state": seed, "verbose": verbose,
                 **expert_kwargs}
    mnist_train = load_npz("mnist_train20k", data_dir)
    mnist_test = load_npz("mnist_test", data_dir)
    if name == "disjoint_mnist":
        X_tr, X_gate, y_tr, y_gate = _split(mnist_train, seed)
        experts = [
            ("mnist_0_4", lenet_expert(range(5), **expert_kw)),
            ("mnist_5_9", lenet_expert(range(5, 10), **expert_kw)),
        ]
        return Problem(name, experts, X_tr, y_tr, X_gate, y_gate,
                       mnist_test.data, mnist_test.target)
    if name == "mnist_cifar10":
        cifar_train = load_npz("cifar10_train20k", data_dir)
        cifar_test = load_npz("cifar10_test", data_dir)
        m_tr, m_gate, my_tr, my_gate = _split(mnist_train, seed)
        c_tr, c_gate, cy_tr, cy_gate = _split(cifar_train, seed)
        # fixed offsets: MNIST labels stay 0-9, CIFAR-10 labels become 10-19
        merge = dict(label_offsets=[0, 10], return_X_y=True)
        X_tr, y_tr = merge_datasets([(m_tr, my_tr), (c_tr, cy_tr)], **merge)
        X_gate, y_gate = merge_datasets([(m_gate, my_gate), (c_gate, cy_gate)], **merge)
        X_test, y_test = merge_datasets(
            [(mnist_test.data, mnist_test.target), (cifar_test.data, cifar_test.target)],
            **merge,
        )
        experts = [
            ("mnist", lenet_expert(range(10), input_transform=mnist_transform(32), **expert_kw)),
            ("cifar10", lenet_expert(range(10, 20), in_channels=3,
                                     input_transform=cifar10_transform(), **expert_kw)),
        ]
        return Problem(name, experts, X_tr, y_tr, X_gate, y_gate, X_test, y_test)
    raise ValueError(f"Unknown problem {name!r}; expected one of {PROBLEMS}.")
