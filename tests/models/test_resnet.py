import numpy as np
import pytest
import torch
from torchvision.models.resnet import BasicBlock

from skgate import Expert
from skgate.models import SmallResNet


@pytest.mark.parametrize("in_channels, n_classes, width", [(3, 10, 16), (1, 4, 8)])
def test_output_shape(in_channels, n_classes, width):
    net = SmallResNet(in_channels=in_channels, n_classes=n_classes, width=width).eval()
    assert net(torch.zeros(5, in_channels, 32, 32)).shape == (5, n_classes)
    assert net.n_features == 4 * width
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 3
    assert [b.conv2.out_channels for b in blocks] == [width, 2 * width, 4 * width]
    assert [b.conv1.stride[0] for b in blocks] == [1, 2, 2]


def test_penultimate_is_the_pooled_feature():
    torch.manual_seed(0)
    net = SmallResNet(width=8)
    expert = Expert.from_pretrained(net, classes=range(10))
    X = np.random.default_rng(0).random((7, 3, 32, 32), dtype=np.float32)
    logits, layers = expert.forward_outputs(X, layers=["penultimate"])
    assert logits.shape == (7, 10)
    assert layers["penultimate"].shape == (7, 32)
    with torch.no_grad():
        net.eval()
        pooled = net.pool(net.stages(net.stem(torch.from_numpy(X)))).numpy()
    np.testing.assert_allclose(layers["penultimate"], pooled, rtol=1e-5, atol=1e-6)
    # average-pooled ReLU outputs are non-negative
    assert (layers["penultimate"] >= 0).all()
    np.testing.assert_allclose(logits, pooled @ net.head.weight.detach().numpy().T
                               + net.head.bias.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"n_classes": 1.5}, {"in_channels": True}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SmallResNet(**kwargs)


def test_wrong_input_shape():
    with pytest.raises(ValueError, match="expects inputs"):
        SmallResNet()(torch.zeros(2, 1, 32, 32))
