"""Reference torch modules: the experts of the papers' experiments."""

from ._lenet import LeNet5
from ._mlp import MLP

__all__ = ["LeNet5", "MLP"]
