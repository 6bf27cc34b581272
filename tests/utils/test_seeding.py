"""torch_seeded: seeds, restores the caller's random state, and keeps threads apart."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from skgate.utils._seeding import torch_seed, torch_seeded


def test_the_block_is_seeded_and_the_caller_state_restored():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    with torch_seeded(7):
        inside = torch.rand(3)
    np.testing.assert_array_equal(torch.rand(3), expected_next)  # as if nothing happened
    with torch_seeded(7):
        np.testing.assert_array_equal(torch.rand(3), inside)


def test_no_seed_leaves_the_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    with torch_seeded(None):
        pass
    np.testing.assert_array_equal(torch.rand(2), expected)
    assert torch_seed(None) is None
    assert torch_seed(0) == torch_seed(0)


def test_seeded_blocks_in_threads_draw_what_they_draw_alone():
    def draws(seed):
        with torch_seeded(seed):
            return torch.cat([torch.rand(50) for _ in range(20)]).numpy()

    alone = [draws(s) for s in range(8)]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(draws, range(8)))
    for a, b in zip(alone, threaded):
        np.testing.assert_array_equal(a, b)


def test_seeding_queues_no_gpu_seed_before_cuda_starts():
    # #25 item 11: torch.manual_seed queued a seed of every GPU for when CUDA starts
    if torch.cuda.is_initialized():
        pytest.skip("CUDA is initialised: there is no queue of seeds to watch")
    tracker = torch.cuda._lazy_seed_tracker
    before = tracker.get_calls()
    with torch_seeded(0):
        a = torch.rand(3)
    with torch_seeded(0):
        b = torch.rand(3)
    assert torch.equal(a, b)
    assert tracker.get_calls() == before  # no manual_seed_all waiting for CUDA to start
