"""The representation experts of the fusion bench: trained on CIFAR-10, or loaded from the
cache."""

import numpy as np

from ..utils._evaluation import timed
from ._cache import cache_path, frozen_experts, load_modules, save_modules

#: every representation expert: name -> (description, the cifar10_train20k classes it
#: trains on)
REPRESENTATIONS = {
    "lenet5": ("LeNet-5 (SGD)", tuple(range(10))),
    "small_resnet": ("SmallResNet(width=16) (Adam, cosine)", tuple(range(10))),
    "mlp": ("MLP(512, 256) on pixels (Adam)", tuple(range(10))),
    "resnet_0_4": ("SmallResNet(width=16) on classes 0-4 only (Adam, cosine)",
                   tuple(range(5))),
    "resnet_5_9": ("SmallResNet(width=16) on classes 5-9 only (Adam, cosine)",
                   tuple(range(5, 10))),
}
#: the sets of representations the bench fuses: "same_task", every expert trained on all
#: ten classes (the default); "split_task", two ResNets pre-trained on different
#: halves of the classes (different source tasks, as in the paper) and a LeNet-5 on all
EXPERT_SETS = {
    "same_task": ("lenet5", "small_resnet", "mlp"),
    "split_task": ("resnet_0_4", "resnet_5_9", "lenet5"),
}
#: the default set, in order
EXPERT_NAMES = EXPERT_SETS["same_task"]
#: how each expert is described in the report
EXPERT_LABELS = {name: label for name, (label, _) in REPRESENTATIONS.items()}
#: default training epochs of each expert on (its classes of) cifar10_train20k
DEFAULT_EPOCHS = {"lenet5": 20, "small_resnet": 10, "mlp": 10, "resnet_0_4": 10,
                  "resnet_5_9": 10}


def _check_names(names):
    unknown = sorted(set(names) - set(REPRESENTATIONS))
    if unknown:
        raise ValueError(f"Unknown experts {unknown}; expected names among "
                         f"{sorted(REPRESENTATIONS)}.")


def _epochs(epochs):
    if epochs is None:
        return dict(DEFAULT_EPOCHS)
    if isinstance(epochs, dict):
        _check_names(epochs)
        return {**DEFAULT_EPOCHS, **epochs}
    return dict.fromkeys(REPRESENTATIONS, int(epochs))


def make_representation_experts(seed, *, names=EXPERT_NAMES, epochs=None, verbose=0):
    """The unfitted representation experts of one seed, as ``(name, Expert)`` pairs.

    Parameters
    ----------
    seed : int
        Seeds each expert's initialisation and shuffling.
    names : sequence of str, default=EXPERT_NAMES
        Which experts (keys of :data:`REPRESENTATIONS`), in order.
    epochs : int or dict of str to int, default=None
        Training epochs, for every expert (int) or per expert name (missing names
        keep :data:`DEFAULT_EPOCHS`).
    verbose : int, default=0
        skorch verbosity.

    Returns
    -------
    experts : list of (str, Expert)
        ``lenet5`` (SGD lr 0.01, momentum 0.9), the SmallResNets ``small_resnet``,
        ``resnet_0_4`` and ``resnet_5_9`` (Adam lr 2e-3, cosine annealing to 0, weight
        decay 5e-4) and ``mlp`` (Adam lr 1e-3); all with ``cifar10_transform()``,
        batch 128, no validation split; each expert's classes are its entry of
        :data:`REPRESENTATIONS`.
    """
    import torch
    from skorch.callbacks import LRScheduler

    from ..experts import Expert, cifar10_transform
    from ..experts._reference import lenet_expert
    from ..models import MLP, SmallResNet

    _check_names(names)
    epochs = _epochs(epochs)
    common = {"batch_size": 128, "train_split": None, "iterator_train__shuffle": True,
              "iterator_valid__batch_size": 512, "input_transform": cifar10_transform(),
              "random_state": seed, "verbose": verbose}

    def build(name):
        classes, n_epochs = list(REPRESENTATIONS[name][1]), epochs[name]
        if name == "lenet5":
            return lenet_expert(classes, in_channels=3, input_transform=cifar10_transform(),
                                max_epochs=n_epochs, random_state=seed, verbose=verbose)
        if name == "mlp":
            return Expert(MLP, module__n_classes=len(classes),
                          module__hidden_layer_sizes=(512, 256), optimizer=torch.optim.Adam,
                          lr=1e-3, max_epochs=n_epochs, classes=classes, **common)
        return Expert(
            SmallResNet, module__n_classes=len(classes), module__width=16,
            optimizer=torch.optim.Adam, lr=2e-3, optimizer__weight_decay=5e-4,
            max_epochs=n_epochs, classes=classes,
            callbacks=[("cosine", LRScheduler(torch.optim.lr_scheduler.CosineAnnealingLR,
                                              T_max=max(n_epochs, 1)))],
            **common)

    return [(name, build(name)) for name in names]


def trained_representation_experts(seed, *, names=EXPERT_NAMES, data_dir=None, cache_dir=None,
                                   epochs=None, verbose=0):
    """Train the representation experts on ``cifar10_train20k``, or load them from the cache.

    Each expert trains on the images of its classes only (see :data:`REPRESENTATIONS`).

    Each expert's state dict (and its training time) is cached as
    ``fusion_<name>_seed<seed>_epochs<epochs>.pt`` in ``cache_dir`` (default: the
    ``SKGATE_CACHE_DIR`` environment variable; no cache if neither is set), as
    the benches of the papers do.

    Returns
    -------
    experts : list of (str, Expert)
        Frozen experts (``Expert.from_pretrained``), rebuilt from the modules alone.
    train_s : dict of str to float
        Training time of each expert in seconds (as measured when it was trained).
    cached : dict of str to bool
        Whether each expert was loaded from the cache.
    """
    from ..datasets import load_npz

    epochs = _epochs(epochs)
    data = None
    experts, train_s, cached = [], {}, {}
    for name, expert in make_representation_experts(seed, names=names, epochs=epochs,
                                                    verbose=verbose):
        path = cache_path(cache_dir, f"fusion_{name}_seed{seed}_epochs{epochs[name]}.pt")
        loaded = load_modules(path, [(name, expert)])
        if loaded is not None:
            (module,), stored_s = loaded
            train_s[name], cached[name] = float(stored_s[name]), True
        else:
            if data is None:
                data = load_npz("cifar10_train20k", data_dir, return_X_y=True)
            mine = np.isin(data[1], expert.classes)
            fitted, train_s[name] = timed(expert.fit, data[0][mine], data[1][mine])
            module, cached[name] = fitted.module_, False
            save_modules(path, [name], [module], {name: train_s[name]})
        module.eval()
        experts += frozen_experts([(name, expert)], [module])
    return experts, train_s, cached
