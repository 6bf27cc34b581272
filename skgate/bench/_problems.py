"""The problems of the benchmarks, built from ``SKGATE_DATA_DIR``.

Protocol (as in skgate's earlier prototype measurements, see the benchmarks page): per seed, a
stratified 80/20 split of each training file; each expert trains on the 80% of
the images of its own classes, gates that learn are fitted on the other 20%
("gate data"); everything is tested on the official test sets.

The two problems of the universal-gating paper (:data:`PROBLEMS`):

- ``"disjoint_mnist"`` (A): LeNet-5 on digits 0-4 and on 5-9 of
  ``mnist_train20k``; tested on ``mnist_test``. Mixture input: (N, 1, 28, 28).
- ``"mnist_cifar10"`` (B): LeNet-5 on ``mnist_train20k`` and on
  ``cifar10_train20k``; 20 classes (CIFAR-10 labels + 10); tested on
  ``mnist_test`` + ``cifar10_test``. Mixture input: (N, 3, 32, 32), MNIST
  zero-padded and replicated to 3 channels.

Expert sets for a gate that must work on experts it never saw
(:data:`TRANSFER_PROBLEMS`), with the same protocol:

- ``"mlp_lenet_mnist"``: different architectures. An MLP (256, 128) on the
  28 x 28 pixels of digits 0-4 and a LeNet-5 on digits 5-9 of
  ``mnist_train20k``; tested on ``mnist_test``. Mixture input: (N, 1, 28, 28).
- ``"mnist_3_7"``: different class counts. LeNet-5 on digits 0-2 and on 3-9;
  as A otherwise.
- ``"cifar10_split"``: LeNet-5 on CIFAR-10 classes 0-4 and SmallResNet(width=16)
  on 5-9 of ``cifar10_train20k`` (labels kept 0-9); tested on ``cifar10_test``.
  Mixture input: (N, 3, 32, 32).
- ``"three_experts"``: LeNet-5 on MNIST digits 0-4, an MLP on digits 5-9 and
  LeNet-5 on CIFAR-10 (labels + 10); data and mixture input as in B.

Held-out expert sets (:data:`HELDOUT_PROBLEMS`), same protocol, added after the pool's
settings were chosen on the six above, to test them on sets no setting was chosen on:

- ``"mnist_even_odd"``: an MLP on the even digits and a LeNet-5 on the odd ones of
  ``mnist_train20k``; as ``mlp_lenet_mnist`` otherwise.
- ``"cifar_vehicles_animals"``: a SmallResNet on CIFAR-10's vehicles (classes 0, 1, 8,
  9) and a LeNet-5 on its animals (2-7); as ``cifar10_split`` otherwise.
- ``"four_experts"``: LeNet-5 on MNIST digits 0-4, an MLP on 5-9, LeNet-5 on CIFAR-10
  classes 0-4 and a SmallResNet on 5-9 (labels + 10); data and input as in B.

Model zoos (:data:`ZOO_PROBLEMS`, ``python -m skgate bench zoo``): ``"zoo<n>"`` has n
experts, half on MNIST digits and half on CIFAR-10 classes (labels + 10); data and input
as in B. Each half splits its ten classes into n / 2 groups of consecutive classes
(:func:`zoo_groups`: ten classes for n = 2, five for 4, 3-3-4 for 6, pairs for 10); for
n = 20 the groups are the ten overlapping pairs {c, c + 1 mod 10}, so every class has two
experts. The MNIST experts alternate LeNet-5 and an MLP, the CIFAR-10 ones LeNet-5 and a
SmallResNet.

Every expert sees the mixture's input through its ``input_transform``: LeNet-5
on MNIST through ``mnist_transform(32)`` (grey, 28 -> 32 zero-padding), the MLP
through ``mnist_transform(28)`` (grey; in a 32 x 32 mixture the centre crop to 28
removes exactly the padding), CIFAR-10 experts through ``cifar10_transform()``.
"""

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch
from skorch.callbacks import LRScheduler

from ..datasets import load_npz, merge_datasets
from ..experts import Expert, cifar10_transform, mnist_transform
from ..experts._reference import lenet_expert
from ..models import MLP, SmallResNet
from ._cache import cache_path, frozen_experts, load_modules, save_modules

# PROBLEMS: the paper's two problems; TRANSFER_PROBLEMS: expert sets for benchmarking a gate on
# experts it never saw (not in PROBLEMS, which the paper's benches iterate over);
# HELDOUT_PROBLEMS: expert sets on which no setting of the pool was chosen (``bench universal
# --pool --heldout``). Their names live in _cli, which the command line imports without torch.
from ._cli import HELDOUT_PROBLEMS, PROBLEMS, TRANSFER_PROBLEMS, ZOO_PROBLEMS

#: training epochs of an expert that ``max_epochs`` (given as a dict) does not name
DEFAULT_EPOCHS = 10
_MNIST = ("mnist_train20k", "mnist_test")
_CIFAR10 = ("cifar10_train20k", "cifar10_test")


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


# -- the experts -------------------------------------------------------------------------
def mlp_expert(classes, *, hidden_layer_sizes=(256, 128), max_epochs=10, lr=1e-3,
               random_state=0, verbose=0, **kwargs):
    """An MLP expert on flattened pixels: Adam (lr 1e-3), batch 128, no validation split.

    By default it reads 28 x 28 grey images normalised with MNIST statistics
    (``mnist_transform(28)``), from a (N, 1, 28, 28) or a padded (N, 3, 32, 32) mixture.
    """
    kwargs.setdefault("input_transform", mnist_transform(28))
    kwargs.setdefault("optimizer", torch.optim.Adam)
    return _expert(MLP, classes, module__hidden_layer_sizes=tuple(hidden_layer_sizes), lr=lr,
                   max_epochs=max_epochs, verbose=verbose, random_state=random_state,
                   **kwargs)


def resnet_expert(classes, *, width=16, max_epochs=10, lr=2e-3, random_state=0, verbose=0,
                  **kwargs):
    """A SmallResNet expert on CIFAR-10-format input, trained as in the fusion bench.

    Adam (lr 2e-3, weight decay 5e-4), learning rate annealed to 0 over ``max_epochs``
    (cosine), batch 128, no validation split; ``cifar10_transform()`` by default.
    """
    kwargs.setdefault("input_transform", cifar10_transform())
    kwargs.setdefault("optimizer", torch.optim.Adam)
    kwargs.setdefault("optimizer__weight_decay", 5e-4)
    kwargs.setdefault("callbacks", [("cosine", LRScheduler(
        torch.optim.lr_scheduler.CosineAnnealingLR, T_max=max(max_epochs, 1)))])
    return _expert(SmallResNet, classes, module__in_channels=3, module__width=width, lr=lr,
                   max_epochs=max_epochs, verbose=verbose, random_state=random_state,
                   **kwargs)


def _expert(module, classes, **kwargs):
    """An expert with the bench's training settings: batch 128, shuffled, no validation
    split (the last epoch is kept), inference in batches of 512."""
    return Expert(module, module__n_classes=len(classes), classes=list(classes),
                  batch_size=128, train_split=None, iterator_train__shuffle=True,
                  iterator_valid__batch_size=512, **kwargs)


def zoo_groups(n):
    """The class groups of one domain's experts in ``"zoo<n>"`` (classes 0-9).

    Examples
    --------
    >>> from skgate.bench._problems import zoo_groups
    >>> zoo_groups(6)
    [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    >>> zoo_groups(20)[-1]
    [9, 0]
    """
    if n % 2 or not 2 <= n <= 20 or (n < 20 and n // 2 > 5):
        raise ValueError(f"A zoo has 2, 4, 6, 8, 10 or 20 experts, got {n}.")
    if n == 20:
        return [[c, (c + 1) % 10] for c in range(10)]
    return [group.tolist() for group in np.array_split(np.arange(10), n // 2)]


def _zoo_specs(n):
    cifar_lenet = {"in_channels": 3, "input_transform": cifar10_transform()}
    specs = []
    for k, group in enumerate(zoo_groups(n)):
        tag = "_".join(map(str, group))
        specs.append((f"lenet_mnist_{tag}", partial(
            lenet_expert, group, input_transform=mnist_transform(32))) if k % 2 == 0 else
            (f"mlp_mnist_{tag}", partial(mlp_expert, group)))
    for k, group in enumerate(zoo_groups(n)):
        classes = [10 + c for c in group]
        tag = "_".join(map(str, group))
        specs.append((f"lenet_cifar10_{tag}", partial(lenet_expert, classes, **cifar_lenet))
                     if k % 2 == 0 else
                     (f"resnet_cifar10_{tag}", partial(resnet_expert, classes)))
    return [_MNIST, _CIFAR10], specs


def _specs(name):
    """The data files and the ``(expert name, factory)`` pairs of problem ``name``.

    Each factory takes the remaining expert arguments (``max_epochs``, ``random_state``...).
    """
    cifar_lenet = {"in_channels": 3, "input_transform": cifar10_transform()}
    if name == "disjoint_mnist":
        return [_MNIST], [("mnist_0_4", partial(lenet_expert, range(5))),
                          ("mnist_5_9", partial(lenet_expert, range(5, 10)))]
    if name == "mnist_cifar10":
        return [_MNIST, _CIFAR10], [
            ("mnist", partial(lenet_expert, range(10), input_transform=mnist_transform(32))),
            ("cifar10", partial(lenet_expert, range(10, 20), **cifar_lenet)),
        ]
    if name == "mlp_lenet_mnist":
        return [_MNIST], [("mlp_0_4", partial(mlp_expert, range(5))),
                          ("lenet_5_9", partial(lenet_expert, range(5, 10)))]
    if name == "mnist_3_7":
        return [_MNIST], [("lenet_0_2", partial(lenet_expert, range(3))),
                          ("lenet_3_9", partial(lenet_expert, range(3, 10)))]
    if name == "cifar10_split":
        return [_CIFAR10], [("lenet_0_4", partial(lenet_expert, range(5), **cifar_lenet)),
                            ("resnet_5_9", partial(resnet_expert, range(5, 10)))]
    if name == "three_experts":
        return [_MNIST, _CIFAR10], [
            ("lenet_mnist_0_4", partial(lenet_expert, range(5),
                                        input_transform=mnist_transform(32))),
            ("mlp_mnist_5_9", partial(mlp_expert, range(5, 10))),
            ("lenet_cifar10", partial(lenet_expert, range(10, 20), **cifar_lenet)),
        ]
    if name == "mnist_even_odd":
        return [_MNIST], [("mlp_even", partial(mlp_expert, [0, 2, 4, 6, 8])),
                          ("lenet_odd", partial(lenet_expert, [1, 3, 5, 7, 9]))]
    if name == "cifar_vehicles_animals":
        return [_CIFAR10], [("resnet_vehicles", partial(resnet_expert, [0, 1, 8, 9])),
                            ("lenet_animals", partial(lenet_expert, range(2, 8), **cifar_lenet))]
    if name == "four_experts":
        return [_MNIST, _CIFAR10], [
            ("lenet_mnist_0_4", partial(lenet_expert, range(5),
                                        input_transform=mnist_transform(32))),
            ("mlp_mnist_5_9", partial(mlp_expert, range(5, 10))),
            ("lenet_cifar10_0_4", partial(lenet_expert, range(10, 15), **cifar_lenet)),
            ("resnet_cifar10_5_9", partial(resnet_expert, range(15, 20))),
        ]
    if name in ZOO_PROBLEMS:
        return _zoo_specs(int(name[len("zoo"):]))
    raise ValueError(f"Unknown problem {name!r}; expected one of "
                     f"{PROBLEMS + TRANSFER_PROBLEMS + HELDOUT_PROBLEMS + ZOO_PROBLEMS}.")


def _epochs(max_epochs, names, problem):
    if not isinstance(max_epochs, Mapping):
        return dict.fromkeys(names, max_epochs)
    unknown = sorted(set(max_epochs) - set(names))
    if unknown:
        raise ValueError(f"max_epochs names {unknown}, which are not experts of {problem!r}; "
                         f"its experts are {list(names)}.")
    return {name: max_epochs.get(name, DEFAULT_EPOCHS) for name in names}


# -- the data ----------------------------------------------------------------------------
def random_images(name, n_samples):
    """``n_samples`` random images in the format of archive ``name``, ten balanced labels.

    A stand-in for the real archive where no data is needed (``bench perf --smoke``):
    ``(n, 1, 28, 28)`` for ``mnist*``, else ``(n, 3, 32, 32)``, float32 in [0, 1], drawn
    from a generator seeded by the name.
    """
    shape = (1, 28, 28) if name.startswith("mnist") else (3, 32, 32)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return Bunch(data=rng.random((n_samples, *shape), dtype=np.float32),
                 target=np.arange(n_samples, dtype=np.int64) % 10)


def _data(files, seed, data_dir, random_samples=None):
    """``X_train, y_train, X_gate, y_gate, X_test, y_test`` of ``(train, test)`` file pairs.

    Each training file is split 80/20 (stratified, ``seed``). One pair is used as it is;
    several are merged into a (N, 3, 32, 32) mixture (:func:`merge_datasets`, MNIST
    zero-padded), the labels of pair ``k`` shifted by ``10 * k``. With ``random_samples``,
    every file is that many random images (:func:`random_images`), and nothing is read.
    """
    def load(name):
        if random_samples is not None:
            return random_images(name, random_samples)
        return load_npz(name, data_dir)

    parts = []
    for train_file, test_file in files:
        X_tr, X_gate, y_tr, y_gate = _split(load(train_file), seed)
        test = load(test_file)
        parts.append([(X_tr, y_tr), (X_gate, y_gate), (test.data, test.target)])
    if len(parts) == 1:
        return [array for pair in parts[0] for array in pair]
    merge = {"label_offsets": [10 * k for k in range(len(parts))], "return_X_y": True}
    return [array for k in range(3)
            for array in merge_datasets([part[k] for part in parts], **merge)]


def make_problem(name, seed, *, data_dir=None, max_epochs=10, verbose=0, random_samples=None,
                 **expert_kwargs):
    """Build problem ``name`` (one of :data:`PROBLEMS` or :data:`TRANSFER_PROBLEMS`) for one seed.

    ``max_epochs`` is the training epochs of every expert (int), or per expert name (dict;
    experts it does not name train :data:`DEFAULT_EPOCHS`). ``expert_kwargs`` go to every
    expert (for example another ``optimizer`` and ``lr``). Every expert is seeded with
    ``seed``. With ``random_samples``, each archive is replaced by that many random images
    of its format (:func:`random_images`): no data is read.
    """
    files, specs = _specs(name)
    epochs = _epochs(max_epochs, [expert for expert, _ in specs], name)
    X_tr, y_tr, X_gate, y_gate, X_test, y_test = _data(files, seed, data_dir, random_samples)
    experts = [
        (expert, factory(max_epochs=epochs[expert], random_state=seed, verbose=verbose,
                         **expert_kwargs))
        for expert, factory in specs
    ]
    return Problem(name, experts, X_tr, y_tr, X_gate, y_gate, X_test, y_test)


# -- the trained experts -----------------------------------------------------------------
def cache_file(problem):
    """Name of the file caching the trained experts of ``problem``.

    ``<problem>_seed<seed>_epochs<epochs>.pt``, where ``<epochs>`` is the experts' common
    number of epochs or, when they differ, their numbers in expert order joined by ``-``
    (for example ``three_experts_seed0_epochs10-10-5.pt``); the seed likewise.
    """
    def tag(values):
        values = [str(value) for value in values]
        return values[0] if len(set(values)) == 1 else "-".join(values)

    experts = [expert for _, expert in problem.experts]
    return (f"{problem.name}_seed{tag(e.random_state for e in experts)}"
            f"_epochs{tag(e.max_epochs for e in experts)}.pt")


def trained_experts(problem, *, cache_dir=None, return_train_s=False):
    """Train the problem's experts on its training part, or load them from ``cache_dir``.

    Returns frozen experts (``Expert.from_pretrained``) in the problem's order,
    so every table of one seed uses the very same experts. The cache
    (:func:`cache_file`, in ``cache_dir``, default the ``SKGATE_CACHE_DIR`` environment
    variable) holds the modules' state dicts, keyed by problem, seed and number of epochs;
    for the sets other than :data:`PROBLEMS` also each expert's training time.

    With ``return_train_s=True``, also returns a dict: expert name -> training time in
    seconds (the sum of its epochs' durations), None where unknown (a cache file of
    :data:`PROBLEMS`, which holds no times).
    """
    from .. import MixtureOfExperts

    path = cache_path(cache_dir, cache_file(problem))
    train_s = dict.fromkeys(name for name, _ in problem.experts)
    cached = load_modules(path, problem.experts)
    if cached is not None:
        modules, stored_s = cached
        train_s.update(stored_s)
    else:
        moe = MixtureOfExperts(problem.experts).fit(problem.X_train, problem.y_train)
        modules = [expert.module_ for expert in moe.experts_]
        train_s = {name: float(np.sum(expert.history_[:, "dur"]))
                   for (name, _), expert in zip(problem.experts, moe.experts_)}
        save_modules(path, [name for name, _ in problem.experts], modules,
                     train_s if problem.name not in PROBLEMS else None)
    experts = frozen_experts(problem.experts, modules)
    return (experts, train_s) if return_train_s else experts
