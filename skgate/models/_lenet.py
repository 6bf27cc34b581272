"""Reference torch modules used as experts in the papers' experiments."""

from torch import nn


class LeNet5(nn.Module):
    """LeNet-5, the expert architecture of the universal-gating paper.

    ``conv(in, 6, 5) - ReLU - maxpool(2) - conv(6, 16, 5) - ReLU - maxpool(2) -
    conv(16, 120, 5) - ReLU - fc(120, 84) - ReLU - fc(84, n_classes)``. The
    module returns logits; use it with ``torch.nn.CrossEntropyLoss``.

    Parameters
    ----------
    in_channels : {1, 3}, default=1
        Number of input channels (1 for MNIST, 3 for CIFAR-10).
    n_classes : int, default=10
        Number of output logits.
    input_size : {28, 32}, default=32
        Height and width of the input. With 28 the first convolution pads by
        2 pixels, which is the same as padding the image to 32.

    Examples
    --------
    >>> import torch
    >>> from skgate.models import LeNet5
    >>> LeNet5(in_channels=3, n_classes=5)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 5])
    """

    def __init__(self, in_channels=1, n_classes=10, input_size=32):
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels!r}.")
        if input_size not in (28, 32):
            raise ValueError(f"input_size must be 28 or 32, got {input_size!r}.")
        if int(n_classes) < 1:
            raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}.")
        self.in_channels = in_channels
        self.input_size = input_size
        padding = 2 if input_size == 28 else 0
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 120, kernel_size=5),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(120, 84), nn.ReLU())
        self.head = nn.Linear(84, int(n_classes))

    def forward(self, x):
        expected = (self.in_channels, self.input_size, self.input_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"LeNet5 expects inputs of shape (n_samples, {', '.join(map(str, expected))}), "
                f"got {tuple(x.shape)}."
            )
        return self.head(self.fc(self.features(x)))
