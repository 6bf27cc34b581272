"""Scale-out with dask (the ``skgate[dask]`` extra): prediction and grid search on a cluster.

The cluster is a ``dask.distributed.LocalCluster`` with two single-threaded workers in this
process (``processes=False``): starting worker processes means importing torch and skgate in
each, which takes longer than these tests. The code under test is the same for a cluster of
processes or machines (docs/scaling.md).
"""

import numpy as np
import pytest
import torch

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")

import joblib  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

from skgate import Expert, MixtureOfExperts  # noqa: E402
from skgate.datasets import load_mnist_sample  # noqa: E402
from skgate.experts import mnist_transform  # noqa: E402
from skgate.gates import NaiveConcatGate, PANGate  # noqa: E402
from skgate.models import LeNet5  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def mnist():
    X, y = load_mnist_sample(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))[:400]
    return X[order], y[order]


def _experts():
    torch.manual_seed(0)
    return [
        ("low", Expert.from_pretrained(LeNet5(n_classes=5), classes=[0, 1, 2, 3, 4],
                                       input_transform=mnist_transform())),
        ("high", Expert.from_pretrained(LeNet5(n_classes=5), classes=[5, 6, 7, 8, 9],
                                        input_transform=mnist_transform())),
    ]


@pytest.fixture(scope="module")
def mixture(mnist):
    X, y = mnist
    return MixtureOfExperts(_experts(), gate=PANGate(max_epochs=2, random_state=0)).fit(
        X[:200], y[:200])


def test_parallel_post_fit_predicts_a_chunked_dask_array(client, mnist, mixture):
    X, _ = mnist
    # dask-ml's wrappers map blocks of rows (2-D): the pipeline turns rows into images
    to_images = FunctionTransformer(np.reshape, kw_args={"shape": (-1, 1, 28, 28)})
    model = dask_ml_wrappers.ParallelPostFit(make_pipeline(to_images, mixture))
    rows = da.from_array(X.reshape(len(X), -1), chunks=(100, -1))  # chunked along samples
    assert rows.numblocks == (4, 1)

    y_pred = model.predict(rows)
    proba = model.predict_proba(rows)
    assert isinstance(y_pred, da.Array) and isinstance(proba, da.Array)
    np.testing.assert_array_equal(y_pred.compute(), mixture.predict(X))
    np.testing.assert_array_equal(proba.compute(), mixture.predict_proba(X))


def test_map_blocks_over_image_chunks(client, mnist, mixture):
    X, _ = mnist
    images = da.from_array(X, chunks=(100, 1, 28, 28))
    model = client.scatter(mixture, broadcast=True)  # sent to each worker once
    proba = images.map_blocks(
        lambda block, model: model.predict_proba(block), model,
        drop_axis=[2, 3], chunks=(100, len(mixture.classes_)), dtype=np.float64,
    )
    np.testing.assert_array_equal(proba.compute(), mixture.predict_proba(X))


def test_grid_search_through_joblibs_dask_backend(client, mnist):
    X, y = mnist
    X, y = X[:200], y[:200]
    search = GridSearchCV(
        MixtureOfExperts(_experts(), gate=NaiveConcatGate()),
        {"gate__statistic": ["max_logit", "energy", "max_proba"]}, cv=2,
    )
    sequential = search.fit(X, y)
    expected = sequential.best_params_, sequential.cv_results_["mean_test_score"].copy()
    with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        on_cluster = GridSearchCV(search.estimator, search.param_grid, cv=2, n_jobs=-1)
        on_cluster.fit(X, y)
    assert len(tasks.data) >= 6  # 3 candidates x 2 folds ran on the cluster's workers
    assert on_cluster.best_params_ == expected[0]
    np.testing.assert_array_equal(on_cluster.cv_results_["mean_test_score"], expected[1])
    for key in ("split0_test_score", "split1_test_score", "rank_test_score"):
        np.testing.assert_array_equal(on_cluster.cv_results_[key], sequential.cv_results_[key])
