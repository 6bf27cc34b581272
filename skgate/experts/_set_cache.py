"""ExpertSet's passes through a cache (``MixtureOfExperts(memory=...)``): each frozen
expert's outputs on an input, stored under what determines them, so that a refit with one
more expert, or a search over the gate's parameters, runs each expert once."""

import joblib
import torch

#: the expert's parameters that decide how its inference reads an input (besides the
#: module, its input transform, its classes, its device and its batch size)
_LOADING_PARAMS = ("dataset", "iterator_valid")


def _hash(value):
    """joblib's hash of ``value``, or of its repr when it cannot be pickled (a lambda in a
    transform: its repr names its address, so the key is never shared by mistake)."""
    try:
        return joblib.hash(value)
    except Exception:  # noqa: BLE001 - whatever pickling raises, the repr is the key
        return joblib.hash(repr(value))


def _tensor_bytes(tensor):
    """The exact bytes, dtype and shape of a tensor, on the CPU (any dtype: bfloat16 has
    no NumPy counterpart)."""
    tensor = tensor.detach().to("cpu").reshape(-1).contiguous()
    return str(tensor.dtype), tuple(tensor.shape), tensor.view(torch.uint8).numpy()


def expert_fingerprint(expert):
    """A stable key of everything that determines a fitted expert's outputs.

    The module's class and architecture (its repr) and the exact bytes of its
    state dict, the input transform, the classes, the device, the inference
    batch size and the parameters of its dataset and prediction iterator. Two
    experts with equal keys compute the same outputs on the same input;
    changing a weight changes the key.

    Parameters
    ----------
    expert : Expert
        A fitted expert.

    Returns
    -------
    key : str
        A hex digest (:func:`joblib.hash`).

    Examples
    --------
    >>> from skgate.experts._set_cache import expert_fingerprint
    >>> from skgate.utils._testing import slice_expert
    >>> a, b = slice_expert(4, 0, [0, 1]), slice_expert(4, 0, [0, 1])
    >>> expert_fingerprint(a) == expert_fingerprint(b)
    True
    >>> expert_fingerprint(a) == expert_fingerprint(slice_expert(4, 2, [0, 1]))
    False
    """
    module = expert.module_
    params = expert.get_params(deep=False)
    loading = {name: value for name, value in params.items()
               if name.startswith(_LOADING_PARAMS)}
    return joblib.hash((
        f"{type(module).__module__}.{type(module).__qualname__}", repr(module),
        [(name, *_tensor_bytes(tensor)) for name, tensor in module.state_dict().items()],
        _hash(expert.input_transform), _hash(list(expert.classes_)), str(expert.device),
        expert._inference_batch_size(), _hash(loading),
    ))


def _expert_pass(expert_set, k, X, layers, *, expert, data, together, block):
    """Expert ``k``'s raw logits and ``layers`` over ``X``, as ``ExpertSet.outputs``
    computes them. The cache's key is made of the other arguments: the expert's
    fingerprint, the input's hash, and how the pass cuts ``X`` into batches (every
    expert in turn on blocks of ``block`` rows, or the expert alone)."""
    del expert, data, block  # only the cache's key
    return expert_set._raw_one(k, X, {k: layers}, together)


class _CacheMixin:
    """``ExpertSet``'s passes through a cache."""

    def _cached_outputs(self, X, layers, memory, fingerprints):
        """:meth:`outputs` with each expert whose fingerprint is given computed through
        ``memory`` (a :class:`joblib.Memory`); the others (None) are run as usual.

        The outputs are those of :meth:`outputs` bit for bit: an expert's outputs are
        cached under how it cuts ``X`` into batches too (rounding depends on the
        batches' shapes)."""
        wanted = self._wanted(layers)
        together = self._together(X)
        block = self._block(X) if together else None
        cached = memory.cache(_expert_pass, ignore=["expert_set", "k", "X"])
        data = joblib.hash(X) if any(key is not None for key in fingerprints) else None

        def one(k):
            if fingerprints[k] is None:
                return self._raw_one(k, X, wanted, together)
            return cached(self, k, X, tuple(wanted[k]), expert=fingerprints[k], data=data,
                          together=together, block=block)

        return self._checked_outputs(X, self._map(one, range(len(self))))
