"""A small CIFAR-style residual network built from torchvision's BasicBlock."""

from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1


class SmallResNet(nn.Module):
    """A small ResNet for 32 x 32 images, returning logits.

    ``conv3x3(in, w) - BN - ReLU``, then three stages of one
    :class:`torchvision.models.resnet.BasicBlock` each (widths ``w``, ``2w``,
    ``4w``; strides 1, 2, 2; a 1x1 convolution + BN shortcut where the shape
    changes), global average pooling, flatten and a final
    ``Linear(4w, n_classes)``. So the expert's ``"penultimate"`` layer (the
    input of the last linear layer) is the pooled ``4w``-d feature.

    Parameters
    ----------
    in_channels : int, default=3
        Number of input channels.
    n_classes : int, default=10
        Number of output logits.
    width : int, default=16
        Width ``w`` of the stem and of the first stage.

    Attributes
    ----------
    n_features : int
        Width of the pooled feature (``4 * width``).

    Examples
    --------
    >>> import torch
    >>> from skgate.models import SmallResNet
    >>> net = SmallResNet(width=8)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> net.n_features
    32
    """

    def __init__(self, in_channels=3, n_classes=10, width=16):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("n_classes", n_classes),
                            ("width", width)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        self.in_channels = int(in_channels)
        width = int(width)
        self.n_features = 4 * width
        self.stem = nn.Sequential(
            nn.Conv2d(self.in_channels, width, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        stages, inplanes = [], width
        for planes, stride in ((width, 1), (2 * width, 2), (4 * width, 2)):
            downsample = None
            if stride != 1 or inplanes != planes:
                downsample = nn.Sequential(conv1x1(inplanes, planes, stride),
                                           nn.BatchNorm2d(planes))
            stages.append(BasicBlock(inplanes, planes, stride=stride, downsample=downsample))
            inplanes = planes
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(self.n_features, int(n_classes))

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SmallResNet expects inputs of shape (n_samples, {self.in_channels}, H, W), "
                f"got {tuple(x.shape)}."
            )
        return self.head(self.pool(self.stages(self.stem(x))))
