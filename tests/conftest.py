import numpy as np
import pytest
import torch


def pytest_configure(config):
    # The tests' networks are tiny: one torch thread each is fastest, and torch's default
    # pool (a thread per core) oversubscribes a machine that runs other jobs
    # (README: the suite's times, quiet and under load).
    torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
