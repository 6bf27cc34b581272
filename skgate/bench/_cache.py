"""One cache of trained experts for every bench: their modules' state dicts in a ``.pt`` file.

A cache file holds ``{expert name: state dict}`` and, when known, ``"_train_s"``: each
expert's training time in seconds. The folder is ``cache_dir`` or the ``SKGATE_CACHE_DIR``
environment variable; without either nothing is cached.
"""

import os
from pathlib import Path

import torch

from ..experts import Expert

_TRAIN_S = "_train_s"  # key of the training times in a cache file (never an expert's name)


def cache_path(cache_dir, filename):
    """``cache_dir / filename`` (``cache_dir`` defaults to ``SKGATE_CACHE_DIR``), or None."""
    cache_dir = cache_dir or os.environ.get("SKGATE_CACHE_DIR")
    return Path(cache_dir) / filename if cache_dir else None


def load_modules(path, experts):
    """The cached modules of ``experts`` (``(name, unfitted Expert)`` pairs) and their times.

    Returns ``(modules, train_s)``, ``train_s`` a dict holding the stored times only, or
    None when ``path`` is None or does not exist.
    """
    if path is None or not path.exists():
        return None
    states = torch.load(path, weights_only=True)
    if "state_dict" in states and len(experts) == 1:  # a single expert's file of old
        states = {experts[0][0]: states["state_dict"], _TRAIN_S: {
            experts[0][0]: float(states["train_s"])}}
    modules = []
    for name, expert in experts:
        module = expert.initialize().module_
        module.load_state_dict(states[name])
        modules.append(module)
    return modules, dict(states.get(_TRAIN_S, {}))


def save_modules(path, names, modules, train_s=None):
    """Write the modules' state dicts (and ``train_s`` unless None) to ``path``, if any."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    states = {name: module.state_dict() for name, module in zip(names, modules)}
    if train_s is not None:
        states[_TRAIN_S] = train_s
    torch.save(states, path)


def frozen_experts(experts, modules):
    """Frozen experts rebuilt from the modules alone, with each expert's classes and input
    transform: the same whether trained now or loaded from the cache."""
    return [
        (name, Expert.from_pretrained(module, classes=expert.classes,
                                      input_transform=expert.input_transform,
                                      iterator_valid__batch_size=512))
        for (name, expert), module in zip(experts, modules)
    ]
