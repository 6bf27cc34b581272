"""The thumbnail CNN gate of the adaptive-fusion paper (section 3.2)."""

from torch import nn


class ThumbnailCNN(nn.Module):
    """Two 3 x 3 convolution layers on a small image, then a linear layer.

    The gating network of Resheff et al., "All Together Now!" (section 3.2):
    "only two layers with very few filters" on a thumbnail (32 x 32 or
    64 x 64) of the input. Each convolution is followed by ReLU and 2 x 2 max
    pooling; the feature map is averaged over space before the last layer.

    Parameters
    ----------
    in_channels : int, default=3
    n_outputs : int, default=2
        Number of output logits (the number of experts, for a gate).
    filters : tuple of (int, int), default=(32, 64)
        Filters of the two convolution layers (the paper's 32 and 64).

    Examples
    --------
    >>> import torch
    >>> from skgate.models import ThumbnailCNN
    >>> ThumbnailCNN(in_channels=1, n_outputs=3)(torch.zeros(4, 1, 32, 32)).shape
    torch.Size([4, 3])
    """

    def __init__(self, in_channels=3, n_outputs=2, filters=(32, 64)):
        super().__init__()
        first, second = (int(f) for f in filters)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, first, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(first, second, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(second, int(n_outputs))

    def forward(self, x):
        return self.head(self.features(x))
