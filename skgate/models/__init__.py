"""Reference torch modules: the experts of the papers' experiments."""

from ._lenet import LeNet5
from ._mlp import MLP
from ._resnet import SmallResNet
from ._thumbnail import ThumbnailCNN

__all__ = ["LeNet5", "MLP", "SmallResNet", "ThumbnailCNN"]
