"""Expert: training across batches keeps its output columns."""

import numpy as np
import pytest
import torch

from skgate import Expert
from skgate.models import MLP

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4)).astype(np.float32)
Y = np.argmax(X[:, :3], axis=1) * 10  # labels 0, 10, 20


def _expert(**kwargs):
    return Expert(MLP, module__n_classes=3, module__hidden_layer_sizes=(8,),
                  optimizer=torch.optim.Adam, lr=0.05, max_epochs=2, train_split=None,
                  verbose=0, random_state=0, **kwargs)


def test_partial_fit_keeps_the_columns_of_the_first_batch():
    # regression: with classes=None each batch re-inferred the classes, so a batch with
    # only some labels re-encoded them (20 became column 1)
    expert = _expert().partial_fit(X, Y)
    np.testing.assert_array_equal(expert.classes_, [0, 10, 20])
    some = Y != 0
    expert.partial_fit(X[some], Y[some])
    np.testing.assert_array_equal(expert.classes_, [0, 10, 20])
    assert set(expert.predict(X)) <= {0, 10, 20}


def test_partial_fit_takes_its_classes_argument():
    # regression: the classes argument was ignored
    first = Y != 20
    expert = _expert().partial_fit(X[first], Y[first], classes=[0, 10, 20])
    np.testing.assert_array_equal(expert.classes_, [0, 10, 20])
    with pytest.raises(ValueError, match=r"got classes=\[0, 10\], but the expert's output"):
        expert.partial_fit(X, Y, classes=[0, 10])
    with pytest.raises(ValueError, match="got classes"):
        _expert(classes=[0, 10, 20]).partial_fit(X, Y, classes=[20, 10, 0])


def test_fit_starts_afresh():
    expert = _expert().partial_fit(X[Y != 20], Y[Y != 20], classes=[0, 10, 20])
    relabelled = np.where(Y == 0, 5, Y)
    expert.fit(X, relabelled)  # a new fit infers its classes again
    np.testing.assert_array_equal(expert.classes_, [5, 10, 20])
