"""Reference torch modules: the experts of the papers' experiments."""

from ._lenet import LeNet5

__all__ = ["LeNet5"]
