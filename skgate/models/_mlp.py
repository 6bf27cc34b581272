"""A small multilayer perceptron whose input size is inferred at the first batch."""

from torch import nn


class MLP(nn.Module):
    """Fully connected network returning logits; the input is flattened.

    The first layer is a :class:`torch.nn.LazyLinear`, so the number of input
    features is taken from the first batch.

    Parameters
    ----------
    n_classes : int, default=2
        Number of output logits.
    hidden_layer_sizes : tuple of int, default=(64,)
        Width of each hidden ReLU layer; ``()`` gives a linear model.
    dropout : float, default=0.0
        Dropout probability after each hidden layer.

    Examples
    --------
    >>> import torch
    >>> from skgate.models import MLP
    >>> MLP(n_classes=3, hidden_layer_sizes=(8,))(torch.zeros(4, 1, 5, 5)).shape
    torch.Size([4, 3])
    """

    def __init__(self, n_classes=2, hidden_layer_sizes=(64,), dropout=0.0):
        super().__init__()
        layers = [nn.Flatten()]
        for width in hidden_layer_sizes:
            layers += [nn.LazyLinear(int(width)), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.LazyLinear(int(n_classes)))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)
