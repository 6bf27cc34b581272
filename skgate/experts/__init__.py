"""Experts: skorch classifiers with global labels, an input transform and readable layers."""

from ._expert import Expert
from ._set import ExpertOutputs, ExpertSet
from ._transforms import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    MNIST_MEAN,
    MNIST_STD,
    cifar10_transform,
    image_transform,
    mnist_transform,
)

__all__ = [
    "Expert",
    "ExpertOutputs",
    "ExpertSet",
    "image_transform",
    "mnist_transform",
    "cifar10_transform",
    "MNIST_MEAN",
    "MNIST_STD",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
]
