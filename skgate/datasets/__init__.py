"""Datasets: offline MNIST sample, ``.npz`` and torchvision loaders, and task builders.

All loaders return images in the package's format: float32 ``(N, C, H, W)`` in [0, 1].
"""

from ._embedded import load_mnist_sample
from ._npz import get_data_dir, load_npz
from ._tasks import make_disjoint_mnist, merge_datasets, split_by_labels
from ._torchvision import load_torchvision

__all__ = [
    "load_mnist_sample",
    "load_npz",
    "get_data_dir",
    "load_torchvision",
    "split_by_labels",
    "make_disjoint_mnist",
    "merge_datasets",
]
