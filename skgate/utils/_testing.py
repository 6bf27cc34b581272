"""Small experts for tests, examples and the estimator checks."""

import numpy as np
import torch

from ..experts import Expert
from ..models import MLP


class SizedExpert(Expert):
    """Test expert whose module gets one output per class seen in fit (classes=None)."""

    def fit(self, X, y, **fit_params):
        if not self.frozen:
            n_classes = len(self.classes) if self.classes is not None else len(np.unique(y))
            self.set_params(module__n_classes=n_classes)
        return super().fit(X, y, **fit_params)

    def initialize(self):
        # a gate that trains the expert jointly only initialises it, with classes set
        if not self.frozen and self.classes is not None:
            self.set_params(module__n_classes=len(self.classes))
        return super().initialize()


def tiny_expert(classes=None, *, hidden=(8,), max_epochs=15, random_state=0, **kwargs):
    """A small, fast MLP expert for generic tabular X (input and output sizes inferred)."""
    return SizedExpert(
        MLP,
        module__n_classes=len(classes) if classes is not None else 2,
        module__hidden_layer_sizes=hidden,
        classes=classes,
        optimizer=torch.optim.Adam,
        lr=0.05,
        max_epochs=max_epochs,
        batch_size=64,
        train_split=None,
        verbose=0,
        random_state=random_state,
        **kwargs,
    )


class Scale(torch.nn.Module):
    """logits = x @ weight.T: a module whose outputs are known by hand."""

    def __init__(self, weight):
        super().__init__()
        self.linear = torch.nn.Linear(*np.shape(weight)[::-1], bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.as_tensor(np.asarray(weight), dtype=torch.float32))

    def forward(self, x):
        return self.linear(x.flatten(1))


class Counting(Scale):
    """``x @ weight.T``, counting the samples that go through it (not a weight: the
    count is in neither the state dict nor the repr)."""

    def __init__(self, weight):
        super().__init__(weight)
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        return super().forward(x)


def frozen_linear(weight, classes, **kwargs):
    """A frozen expert computing ``x @ weight.T`` with the given output labels."""
    return Expert.from_pretrained(Scale(weight), classes=classes, **kwargs)


def slice_expert(n_in, start, classes):
    """A frozen expert whose logits are ``X[:, start:start + len(classes)]``."""
    weight = np.zeros((len(classes), n_in))
    weight[:, start : start + len(classes)] = np.eye(len(classes))
    return frozen_linear(weight, classes)


def ring_outputs(n=600, seed=0):
    """Three experts' outputs, equally confident on every input, whose activations each
    tell only whether the *next* expert owns it: no expert's own outputs say whether it
    owns an input, but all of them together do.

    Returns
    -------
    outputs : ExpertOutputs
    y : ndarray of shape (n,)
        Labels; expert ``k`` owns ``2k`` and ``2k + 1``.
    owner : ndarray of shape (n,)
    """
    from ..experts import ExpertSet
    from ..experts._set import ExpertOutputs

    rng = np.random.default_rng(seed)
    owner = rng.integers(3, size=n)
    experts = ExpertSet([(f"e{k}", frozen_linear(np.zeros((2, 1)), [2 * k, 2 * k + 1]))
                         for k in range(3)])
    logits = [rng.normal(size=(n, 2)) + [4.0, 0.0] for _ in range(3)]
    acts = [{"penultimate": np.c_[(owner == (k + 1) % 3) + 0.1 * rng.normal(size=n),
                                  rng.normal(size=n)]} for k in range(3)]
    y = 2 * owner + rng.integers(2, size=n)
    return ExpertOutputs(experts, None, logits, acts), y, owner
