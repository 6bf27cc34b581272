import pickle

import pytest
import torch
from torchvision.transforms import v2

from skgate.experts._transforms import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    MNIST_MEAN,
    MNIST_STD,
    cifar10_transform,
    image_transform,
    mnist_transform,
)

LUMA = (0.2989, 0.587, 0.114)


def test_normalise_hand_computed():
    x = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])  # (1, 1, 2, 2)
    out = image_transform(1, mean=(0.5,), std=(0.25,))(x)
    assert isinstance(image_transform(1), v2.Compose)
    torch.testing.assert_close(out, torch.tensor([[[[-2.0, 0.0], [2.0, -1.0]]]]))


def test_grey_to_rgb_replicates_exactly():
    x = torch.rand(4, 1, 5, 6)
    out = image_transform(3)(x)
    assert out.shape == (4, 3, 5, 6)
    for c in range(3):
        assert torch.equal(out[:, c], x[:, 0])


def test_rgb_to_grey_luminance_weights():
    eye = torch.eye(3).reshape(3, 3, 1, 1)  # pure red, green, blue pixels
    out = image_transform(1)(eye)
    assert out.shape == (3, 1, 1, 1)
    torch.testing.assert_close(out.flatten(), torch.tensor(LUMA), atol=1e-6, rtol=0)
    x = torch.rand(5, 3, 4, 4)
    expected = sum(w * x[:, c] for c, w in enumerate(LUMA)).unsqueeze(1)
    torch.testing.assert_close(image_transform(1)(x), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("channels", [1, 3])
def test_same_channels_unchanged(channels):
    x = torch.rand(2, channels, 7, 7)
    assert torch.equal(image_transform(channels)(x), x)


def test_pad_places_image_in_centre():
    x = torch.rand(3, 1, 28, 28) + 0.1  # nonzero everywhere
    out = image_transform(1, size=32)(x)
    assert out.shape == (3, 1, 32, 32)
    assert torch.equal(out[..., 2:30, 2:30], x)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (out[..., border] == 0).all()


def test_pad_crops_larger_images_and_accepts_pairs():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert torch.equal(image_transform(1, size=4)(x), x[..., 1:5, 1:5])
    assert torch.equal(image_transform(1, size=(2, 4))(x), x[..., 2:4, 1:5])


def test_resize_interpolates():
    x = torch.full((2, 1, 28, 28), 0.5)
    out = image_transform(1, size=32, resize="resize")(x)
    assert out.shape == (2, 1, 32, 32)
    torch.testing.assert_close(out, torch.full_like(out, 0.5))
    wide = image_transform(1, size=32, resize="resize")(torch.rand(2, 1, 28, 40))
    assert wide.shape == (2, 1, 32, 32)


def test_channels_converted_before_normalising():
    # A grey image through a CIFAR-10 expert: every channel is x normalised with its own stats.
    x = torch.rand(2, 1, 32, 32)
    out = cifar10_transform()(x)
    for c in range(3):
        expected = (x[:, 0] - CIFAR10_MEAN[c]) / CIFAR10_STD[c]
        torch.testing.assert_close(out[:, c], expected)


def test_mnist_transform_from_rgb_and_grey():
    x = torch.rand(2, 3, 28, 28)
    grey = sum(w * x[:, c] for c, w in enumerate(LUMA)).unsqueeze(1)
    out = mnist_transform()(x)
    assert out.shape == (2, 1, 32, 32)
    torch.testing.assert_close(out[..., 2:30, 2:30], (grey - MNIST_MEAN[0]) / MNIST_STD[0])
    torch.testing.assert_close(
        out[..., 0, :], torch.full((2, 1, 32), -MNIST_MEAN[0] / MNIST_STD[0])
    )
    assert mnist_transform(size=None)(torch.rand(2, 1, 28, 28)).shape == (2, 1, 28, 28)


def test_batched_equals_per_sample():
    x = torch.rand(6, 1, 28, 28)
    t = cifar10_transform()
    batched = t(x)
    assert batched.shape == (6, 3, 32, 32)
    torch.testing.assert_close(batched, torch.cat([t(x[i : i + 1]) for i in range(6)]))


def test_picklable():
    t = image_transform(3, size=32, mean=CIFAR10_MEAN, std=CIFAR10_STD)
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(pickle.loads(pickle.dumps(t))(x), t(x))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"channels": 2}, "channels must be 1 or 3"),
        ({"channels": True}, "channels must be 1 or 3"),
        ({"channels": 1, "size": 0}, "size must be"),
        ({"channels": 1, "size": (32, 32, 1)}, "size must be"),
        ({"channels": 1, "size": 32.0}, "size must be"),
        ({"channels": 1, "resize": "crop"}, "resize must be one of"),
        ({"channels": 1, "mean": (0.5,)}, "mean and std must be given together"),
        ({"channels": 3, "mean": (0.5,), "std": (0.2,)}, r"one value per channel \(3\)"),
        ({"channels": 1, "mean": (0.5,), "std": (0.0,)}, "std values must be positive"),
    ],
)
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_transform(**kwargs)


def test_input_errors():
    t = image_transform(3)
    with pytest.raises(ValueError, match="C = 1 or 3, got shape"):
        t(torch.rand(2, 2, 4, 4))
    with pytest.raises(TypeError, match="torch.from_numpy"):
        t(torch.rand(2, 1, 4, 4).numpy())
