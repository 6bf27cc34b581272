"""Expert's forward-output hooks: the activations of named layers (``"penultimate"``, the
input of the module's last linear layer, or a submodule's output) captured during a pass."""

import threading
from contextlib import contextmanager

import numpy as np
import torch
from skorch.utils import to_device

from ._expert_batches import _as_float32

PENULTIMATE = "penultimate"


def _last_linear(module):
    last = None
    for sub in module.modules():
        if isinstance(sub, torch.nn.Linear):
            last = sub
    return last


class _HooksMixin:
    """The private steps of ``Expert.forward_outputs``: hooks and their captures."""

    @contextmanager
    def _capturing(self, layers, captured=None):
        """While open, hooks append the activations of ``layers`` to ``captured`` (name ->
        list of batches; a new dict unless given), which the context yields."""
        if captured is None:
            captured = {name: [] for name in layers}
        modules = self.layer_modules(layers) if layers else {}
        handles = []
        try:
            for name in layers:
                handles.append(self._hook(name, modules[name], captured[name]))
            yield captured
        finally:
            for handle in handles:
                handle.remove()

    def _logits_of(self, out):
        """A batch's logits on the CPU: the module's output, or the first of a tuple (the
        rest is dropped at once, not kept for the whole pass)."""
        return _as_float32(to_device(out[0] if isinstance(out, tuple) else out, "cpu"))

    def _collect(self, chunks, captured):
        """Logits and activations as arrays, from per-batch logits and captures."""
        logits = torch.cat(chunks).numpy() if chunks else np.empty((0, len(self.classes_)))
        activations = {name: torch.cat(parts).numpy() for name, parts in captured.items()}
        return logits, activations

    @staticmethod
    def _hook(name, module, store):
        # the module is shared: a hook sees every thread's forward passes, and keeps only
        # those of the thread that registered it (torch runs a module's forward, and so
        # its hooks, in the calling thread)
        owner = threading.get_ident()

        def keep(tensor):
            if threading.get_ident() == owner:
                store.append(tensor.detach().flatten(1).to("cpu", torch.float32))

        if name == PENULTIMATE:  # the input of the last linear layer
            return module.register_forward_pre_hook(lambda mod, args: keep(args[0]))
        return module.register_forward_hook(lambda mod, args, out: keep(out))
