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


def trained_experts(problem, *, cache_dir=None):
    """Train the problem's experts on its training part, or load them from ``cache_dir``.

    Returns frozen experts (``Expert.from_pretrained``) in the problem's order,
    so every table of one seed uses the very same experts. The cache holds the
    modules' state dicts, keyed by problem, seed and number of epochs.
    """
    import os
    from pathlib import Path

    import torch

    from .. import MixtureOfExperts
    from ..experts import Expert

    cache_dir = cache_dir or os.environ.get("SKGATE_CACHE_DIR")
    seed = problem.experts[0][1].random_state
    epochs = problem.experts[0][1].max_epochs
    path = None
    if cache_dir:
        path = Path(cache_dir) / f"{problem.name}_seed{seed}_epochs{epochs}.pt"
    if path is not None and path.exists():
        states = torch.load(path, weights_only=True)
        modules = []
        for name, expert in problem.experts:
            module = expert.initialize().module_
            module.load_state_dict(states[name])
            modules.append(module)
    else:
        moe = MixtureOfExperts(problem.experts).fit(problem.X_train, problem.y_train)
        modules = [expert.module_ for expert in moe.experts_]
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({name: m.state_dict() for (name, _), m in zip(problem.experts, modules)},
                       path)
    return [
        (name, Expert.from_pretrained(module, classes=expert.classes,
                                      input_transform=expert.input_transform,
                                      iterator_valid__batch_size=512))
        for (name, expert), module in zip(problem.experts, modules)
    ]  # rebuilt from the module alone, whether trained now or loaded from the cache
