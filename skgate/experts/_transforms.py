"""Input transforms: from the mixture's format to an expert's own format.

The mixture's input is a float32 batch ``(N, C, H, W)`` with values in [0, 1], where ``C`` is 1
or 3. Each expert sees it through a :class:`torchvision.transforms.v2.Compose` built here, which
converts the channels, then the size, then normalises.
"""

import numbers

import torch
from torch import nn
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

_RESIZE_MODES = ("pad", "resize")


class ConvertChannels(nn.Module):
    """Convert a batch of 1- or 3-channel images to ``channels`` channels.

    Grey to RGB replicates the channel (torchvision's ``grayscale_to_rgb``); RGB to grey uses
    the ITU-R 601 luminance weights 0.2989, 0.587, 0.114 (torchvision's ``rgb_to_grayscale``);
    the same channel count is returned unchanged. Other channel counts raise a ValueError.

    Parameters
    ----------
    channels : {1, 3}
        Number of output channels.

    Examples
    --------
    >>> import torch
    >>> ConvertChannels(3)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 3, 28, 28])
    """

    def __init__(self, channels):
        super().__init__()
        self.channels = _check_channels(channels)

    def forward(self, x):
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"Expected a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}; "
                "convert NumPy arrays with torch.from_numpy."
            )
        if x.ndim < 3 or x.shape[-3] not in (1, 3):
            raise ValueError(
                "Expected images of shape (N, C, H, W) with C = 1 or 3, "
                f"got shape {tuple(x.shape)}."
            )
        if x.shape[-3] == self.channels:
            return x
        return F.grayscale_to_rgb(x) if self.channels == 3 else F.rgb_to_grayscale(x)

    def extra_repr(self):
        return f"channels={self.channels}"


def _check_channels(channels):
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}.")
    return int(channels)


def _is_positive_int(n):
    return isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0


def _check_size(size):
    if size is None:
        return None
    if _is_positive_int(size):
        return (int(size), int(size))
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(map(_is_positive_int, size)):
        return tuple(int(s) for s in size)
    raise ValueError(f"size must be None, a positive int or a pair (height, width), got {size!r}.")


def _check_stats(mean, std, channels):
    if mean is None and std is None:
        return None, None
    if mean is None or std is None:
        raise ValueError("mean and std must be given together (or both left as None).")
    mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"mean and std must have one value per channel ({channels}), "
            f"got {len(mean)} and {len(std)} values."
        )
    if min(std) <= 0:
        raise ValueError(f"std values must be positive, got {std}.")
    return mean, std


def image_transform(channels, size=None, mean=None, std=None, resize="pad"):
    """Build the transform from the mixture's input to an expert's input format.

    The transform takes a float batch tensor ``(N, C, H, W)`` in [0, 1], with ``C`` = 1 or 3
    and any size, and applies, in this order:

    1. channel conversion to ``channels`` (grey to RGB by replication, RGB to grey by the
       ITU-R 601 luminance);
    2. size conversion to ``size``: ``resize="pad"`` centre-crops, which zero-pads smaller
       images (28 -> 32 adds 2 pixels on each side) and crops larger ones;
       ``resize="resize"`` interpolates (bilinear, antialiased);
    3. normalisation ``(x - mean) / std`` per channel, if ``mean`` and ``std`` are given.

    Converting the channels before normalising matters: normalising with one set of
    statistics and then converting mixes inputs from different formats.

    Parameters
    ----------
    channels : {1, 3}
        Number of channels the expert expects.
    size : int or (int, int), default=None
        Image size ``(height, width)`` the expert expects; an int means a square image.
        None keeps the input size.
    mean, std : sequence of float, default=None
        Per-channel statistics, one value per output channel. Give both or neither.
    resize : {"pad", "resize"}, default="pad"
        How to change the size: zero-pad / centre-crop, or interpolate.

    Returns
    -------
    transform : torchvision.transforms.v2.Compose
        A picklable callable mapping a tensor ``(N, C, H, W)`` to ``(N, channels, *size)``.

    Examples
    --------
    >>> import torch
    >>> t = image_transform(3, size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD)
    >>> t(torch.zeros(5, 1, 28, 28)).shape
    torch.Size([5, 3, 32, 32])
    """
    channels = _check_channels(channels)
    size = _check_size(size)
    mean, std = _check_stats(mean, std, channels)
    if resize not in _RESIZE_MODES:
        raise ValueError(f"resize must be one of {_RESIZE_MODES}, got {resize!r}.")

    steps = [ConvertChannels(channels)]
    if size is not None:
        steps.append(v2.CenterCrop(size) if resize == "pad" else v2.Resize(size, antialias=True))
    if mean is not None:
        steps.append(v2.Normalize(mean, std))
    return v2.Compose(steps)


def mnist_transform(size=32):
    """Transform to a 1-channel MNIST expert's format, normalised with MNIST statistics.

    Parameters
    ----------
    size : int or (int, int) or None, default=32
        Expert input size; 28 -> 32 zero-pads (the LeNet-5 convention). None keeps the size.

    Returns
    -------
    transform : torchvision.transforms.v2.Compose

    Examples
    --------
    >>> import torch
    >>> mnist_transform()(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 1, 32, 32])
    """
    return image_transform(1, size=size, mean=MNIST_MEAN, std=MNIST_STD)


def cifar10_transform():
    """Transform to a CIFAR-10 expert's format: 3 channels, 32 x 32, CIFAR-10 statistics.

    Returns
    -------
    transform : torchvision.transforms.v2.Compose

    Examples
    --------
    >>> import torch
    >>> cifar10_transform()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 3, 32, 32])
    """
    return image_transform(3, size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD)
