"""One way to seed torch: fork its global random state, seed it, restore it after."""

import threading
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.utils import check_random_state

#: torch's global generators are process-wide: blocks that draw from them hold this lock,
#: so that threads (GridSearchCV on the threading backend) do not interleave their draws
TORCH_RNG_LOCK = threading.RLock()


def torch_seed(random_state):
    """The torch seed of a ``random_state`` parameter (int, RandomState or None)."""
    if random_state is None:
        return None
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextmanager
def torch_seeded(seed, device=None):
    """Run the block with torch's random state seeded with ``seed``, restored afterwards.

    The CPU generator and, where CUDA is initialised, every CUDA device's are forked
    (``torch.random.fork_rng``) and seeded, so the caller's random state is left as it
    was. Before CUDA is initialised only the CPU generator is seeded
    (``torch.manual_seed`` would queue a seed of every GPU's generator for when CUDA
    starts, which no fork restores); a block that runs on a GPU (``device``) first
    initialises CUDA, so its GPU generators are forked and seeded too. The block
    holds a process-wide lock, also with ``seed=None`` (then the state is not touched):
    another thread's training cannot draw from the same generators in between, so a
    seeded fit gives the same result whatever runs beside it.

    Parameters
    ----------
    seed : int or None
    device : str, torch.device or None, default=None
        Where the block runs; a CUDA device initialises CUDA first.

    Examples
    --------
    >>> import torch
    >>> from skgate.utils._seeding import torch_seeded
    >>> with torch_seeded(0):
    ...     a = torch.rand(2)
    >>> with torch_seeded(0):
    ...     b = torch.rand(2)
    >>> bool((a == b).all())
    True
    """
    with TORCH_RNG_LOCK:
        if seed is None:
            yield
            return
        if _on_cuda(device) and torch.cuda.is_available():
            torch.cuda.init()  # the block's GPU draws (dropout) are seeded too
        devices = (list(range(torch.cuda.device_count()))
                   if torch.cuda.is_available() and torch.cuda.is_initialized() else [])
        with torch.random.fork_rng(devices=devices):
            torch.random.default_generator.manual_seed(int(seed))
            for index in devices:  # forked above, restored after the block
                torch.cuda.default_generators[index].manual_seed(int(seed))
            yield


def _on_cuda(device):
    try:
        return device is not None and torch.device(device).type == "cuda"
    except (RuntimeError, TypeError):
        return False


class _LockedIterable:
    """A DataLoader whose iterators are created holding :data:`TORCH_RNG_LOCK`."""

    def __init__(self, loader):
        self.loader = loader

    def __iter__(self):
        with TORCH_RNG_LOCK:
            return iter(self.loader)

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)


class RNGSafeIterators:
    """skorch mixin: data loaders start their iterators holding :data:`TORCH_RNG_LOCK`.

    Every ``DataLoader`` iterator draws its base seed from torch's global generator, even
    for sequential prediction batches: a predict in one thread would otherwise move the
    random state of a seeded fit running in another.
    """

    def get_iterator(self, dataset, training=False):
        loader = super().get_iterator(dataset, training=training)
        if not training and getattr(loader, "generator", True) is None:
            # the base seed of a prediction iterator comes from a generator of its own:
            # predict does not move the user's global random state
            loader.generator = torch.Generator()
        return _LockedIterable(loader)
