"""The transfer problems (expert sets a universal gate never saw), on tiny synthetic files."""

import numpy as np
import pytest
import torch

from skgate import Expert
from skgate.bench._problems import (
    HELDOUT_PROBLEMS,
    PROBLEMS,
    TRANSFER_PROBLEMS,
    cache_file,
    make_problem,
    trained_experts,
)
from skgate.experts import ExpertSet, mnist_transform
from skgate.models import MLP, LeNet5, SmallResNet

N_TRAIN, N_TEST = 10, 3  # images per class in each fake training / test file
#: problem -> (expert name -> (module class, classes), sample shape of the mixture input)
EXPECTED = {
    "mlp_lenet_mnist": ({"mlp_0_4": (MLP, range(5)), "lenet_5_9": (LeNet5, range(5, 10))},
                        (1, 28, 28)),
    "mnist_3_7": ({"lenet_0_2": (LeNet5, range(3)), "lenet_3_9": (LeNet5, range(3, 10))},
                  (1, 28, 28)),
    "cifar10_split": ({"lenet_0_4": (LeNet5, range(5)),
                       "resnet_5_9": (SmallResNet, range(5, 10))}, (3, 32, 32)),
    "three_experts": ({"lenet_mnist_0_4": (LeNet5, range(5)),
                       "mlp_mnist_5_9": (MLP, range(5, 10)),
                       "lenet_cifar10": (LeNet5, range(10, 20))}, (3, 32, 32)),
    # the held-out sets
    "mnist_even_odd": ({"mlp_even": (MLP, range(0, 10, 2)), "lenet_odd": (LeNet5, range(1, 10, 2))},
                       (1, 28, 28)),
    "cifar_vehicles_animals": ({"resnet_vehicles": (SmallResNet, [0, 1, 8, 9]),
                                "lenet_animals": (LeNet5, range(2, 8))}, (3, 32, 32)),
    "four_experts": ({"lenet_mnist_0_4": (LeNet5, range(5)),
                      "mlp_mnist_5_9": (MLP, range(5, 10)),
                      "lenet_cifar10_0_4": (LeNet5, range(10, 15)),
                      "resnet_cifar10_5_9": (SmallResNet, range(15, 20))}, (3, 32, 32)),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Fake mnist_train20k, mnist_test, cifar10_train20k and cifar10_test files."""
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for stem, shape in (("mnist", (28, 28)), ("cifar10", (32, 32, 3))):
        for split, per_class in (("train20k", N_TRAIN), ("test", N_TEST)):
            y = rng.permutation(np.repeat(np.arange(10), per_class)).astype(np.int64)
            X = rng.integers(0, 256, (len(y), *shape), dtype=np.uint8)
            np.savez_compressed(folder / f"{stem}_{split}.npz", X=X, y=y)
    return folder


def _untrained(problem):
    """The problem's experts, initialised (untrained) and frozen, as trained_experts returns."""
    return [(name, Expert.from_pretrained(expert.initialize().module_, classes=expert.classes,
                                          input_transform=expert.input_transform))
            for name, expert in problem.experts]


def test_transfer_problems_are_separate_from_the_paper_problems():
    assert PROBLEMS == ("disjoint_mnist", "mnist_cifar10")
    assert set(TRANSFER_PROBLEMS + HELDOUT_PROBLEMS) == set(EXPECTED)
    assert not set(PROBLEMS) & set(TRANSFER_PROBLEMS)
    assert not set(PROBLEMS + TRANSFER_PROBLEMS) & set(HELDOUT_PROBLEMS)


@pytest.mark.parametrize("name", TRANSFER_PROBLEMS + HELDOUT_PROBLEMS)
def test_transfer_problem_experts_labels_and_shapes(name, data_dir):
    experts, sample_shape = EXPECTED[name]
    problem = make_problem(name, 3, data_dir=data_dir, max_epochs=2)
    assert problem.name == name
    assert [n for n, _ in problem.experts] == list(experts)
    for expert_name, expert in problem.experts:
        module, classes = experts[expert_name]
        assert expert.classes == list(classes)
        assert (expert.random_state, expert.max_epochs) == (3, 2)
        assert isinstance(expert.initialize().module_, module)
    n_sources = 2 if name in ("three_experts", "four_experts") else 1
    for X, y, per_class in ((problem.X_train, problem.y_train, 8),
                            (problem.X_gate, problem.y_gate, 2),
                            (problem.X_test, problem.y_test, N_TEST)):
        assert X.dtype == np.float32 and X.shape == (10 * per_class * n_sources, *sample_shape)
        assert len(y) == len(X)
        # stratified split: every label, N per class
        assert np.array_equal(np.unique(y, return_counts=True)[1],
                              np.full(10 * n_sources, per_class))
    # every gate and test label belongs to an expert, and every expert has training images
    experts = _untrained(problem)
    expert_set = ExpertSet(experts)
    assert np.isin(np.concatenate([problem.y_gate, problem.y_test]), expert_set.classes_).all()
    assert expert_set.owners(problem.y_gate).any(axis=1).all()
    assert expert_set.owners(problem.y_test).any(axis=1).all()
    for _, expert in problem.experts:
        assert np.isin(problem.y_train, expert.classes).any()
    # every expert accepts the mixture's input
    for X in (problem.X_gate, problem.X_test):
        outputs = expert_set.outputs(X[:2], layers=["penultimate"])
        assert [z.shape for z in outputs.logits] == [(2, len(e.classes)) for _, e in experts]


def test_three_experts_mixture_holds_padded_mnist_and_cifar(data_dir):
    problem = make_problem("three_experts", 0, data_dir=data_dir)
    mnist = problem.y_test < 10
    assert problem.X_test[mnist][:, :, :2].max() == 0  # MNIST zero-padded 28 -> 32
    assert np.array_equal(problem.X_test[mnist][:, 0], problem.X_test[mnist][:, 2])  # grey
    assert set(np.unique(problem.y_test[~mnist])) == set(range(10, 20))
    # the MLP reads exactly the 28 x 28 MNIST image back from the padded 3-channel mixture
    mlp = dict(problem.experts)["mlp_mnist_5_9"]
    X = torch.from_numpy(problem.X_test[mnist][:4])
    seen = mlp.input_transform(X)
    assert seen.shape == (4, 1, 28, 28)
    original = mnist_transform(None)(X[:, :1, 2:30, 2:30])
    torch.testing.assert_close(seen, original, atol=1e-3, rtol=0)


def test_make_problem_validates_names_and_per_expert_epochs(data_dir):
    with pytest.raises(ValueError, match="Unknown problem 'svhn'"):
        make_problem("svhn", 0, data_dir=data_dir)
    with pytest.raises(ValueError, match=r"max_epochs names \['vgg'\]"):
        make_problem("mnist_3_7", 0, data_dir=data_dir, max_epochs={"vgg": 1})
    problem = make_problem("three_experts", 1, data_dir=data_dir,
                           max_epochs={"lenet_cifar10": 5})
    assert [e.max_epochs for _, e in problem.experts] == [10, 10, 5]
    assert cache_file(problem) == "three_experts_seed1_epochs10-10-5.pt"
    assert cache_file(make_problem("cifar10_split", 2, data_dir=data_dir, max_epochs=7)) == (
        "cifar10_split_seed2_epochs7.pt")
    # the paper's problems keep their cache files
    assert cache_file(make_problem("mnist_cifar10", 0, data_dir=data_dir)) == (
        "mnist_cifar10_seed0_epochs10.pt")


def test_resnet_learning_rate_anneals_over_its_epochs(data_dir):
    problem = make_problem("cifar10_split", 0, data_dir=data_dir, max_epochs=3)
    resnet = dict(problem.experts)["resnet_5_9"]
    (name, scheduler), = resnet.callbacks
    assert name == "cosine" and scheduler.kwargs == {"T_max": 3}
    assert resnet.optimizer is torch.optim.Adam and resnet.optimizer__weight_decay == 5e-4


@pytest.mark.parametrize("name, max_epochs, file", [
    ("three_experts", {"lenet_mnist_0_4": 1, "mlp_mnist_5_9": 1, "lenet_cifar10": 2},
     "three_experts_seed0_epochs1-1-2.pt"),
    ("cifar10_split", 1, "cifar10_split_seed0_epochs1.pt"),
    ("mlp_lenet_mnist", 1, "mlp_lenet_mnist_seed0_epochs1.pt"),
])
def test_trained_experts_train_once_then_load_from_the_cache(name, max_epochs, file, data_dir,
                                                             tmp_path):
    problem = make_problem(name, 0, data_dir=data_dir, max_epochs=max_epochs)
    experts, train_s = trained_experts(problem, cache_dir=tmp_path, return_train_s=True)
    assert [p.name for p in tmp_path.iterdir()] == [file]
    assert list(train_s) == [n for n, _ in problem.experts]
    assert all(t > 0 for t in train_s.values())
    X = problem.X_test[:5]
    again, cached_s = trained_experts(make_problem(name, 0, data_dir=data_dir,
                                                   max_epochs=max_epochs),
                                      cache_dir=tmp_path, return_train_s=True)
    assert cached_s == train_s  # the times are stored with the weights
    for (n, expert), (m, loaded) in zip(experts, again):
        assert n == m and loaded.frozen and list(loaded.classes_) == list(expert.classes_)
        np.testing.assert_allclose(loaded.predict_proba(X), expert.predict_proba(X), atol=1e-6)


def test_paper_problem_cache_holds_only_the_state_dicts(data_dir, tmp_path):
    problem = make_problem("disjoint_mnist", 0, data_dir=data_dir, max_epochs=1)
    experts, train_s = trained_experts(problem, cache_dir=tmp_path, return_train_s=True)
    path = tmp_path / "disjoint_mnist_seed0_epochs1.pt"
    assert set(torch.load(path, weights_only=True)) == {"mnist_0_4", "mnist_5_9"}
    assert len(trained_experts(problem, cache_dir=tmp_path)) == 2
    _, cached_s = trained_experts(problem, cache_dir=tmp_path, return_train_s=True)
    assert cached_s == {"mnist_0_4": None, "mnist_5_9": None}
