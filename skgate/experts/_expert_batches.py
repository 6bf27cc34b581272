"""Expert's fast inference path: an array cut into float32 batches (shared with the array
when it can be) and run through ``infer`` under ``torch.inference_mode()``, skorch's
Dataset and DataLoader bypassed while they would do nothing else."""

import numpy as np
import torch
from skorch.dataset import Dataset
from torch.utils.data import DataLoader


class LaterBatchError(RuntimeError):
    """A module failed on a batch after the earlier batches of the same pass went through."""


def shareable_batch(chunk, writable=True):
    """``chunk`` as a float32 array that ``torch.from_numpy`` can share: copied when it has
    another dtype, is read-only (``writable`` False) or runs backwards (negative strides,
    which torch does not support: ``X[::-1]``)."""
    if chunk.dtype != np.float32 or not writable or min(chunk.strides, default=0) < 0:
        return np.array(chunk, dtype=np.float32)
    return chunk


def _as_float32(out):
    """Floating tensors of a module's output (a tensor or a tuple of them) as float32."""
    if isinstance(out, tuple):
        return tuple(_as_float32(part) for part in out)
    if isinstance(out, torch.Tensor) and out.is_floating_point() and out.dtype != torch.float32:
        return out.to(torch.float32)
    return out


class _ArrayInferenceMixin:
    """The private steps of ``Expert.forward_iter``'s fast path over arrays."""

    def _batches(self, X, batch_size=None, rows=None):
        """Yield float32 CPU tensors of consecutive batches of an array, without copies
        (of the expert's inference batch size, unless ``batch_size`` is given); with
        ``rows``, of ``X[rows]``, gathered one batch at a time."""
        X = np.asarray(X)
        n_samples = len(X) if rows is None else len(rows)
        batch_size = batch_size or self._inference_batch_size() or max(n_samples, 1)
        writable = X.flags.writeable
        for start in range(0, n_samples, batch_size):
            if rows is None:
                chunk = shareable_batch(X[start : start + batch_size], writable)
            else:  # fancy indexing copies: the batch is the expert's own
                chunk = np.asarray(X[rows[start : start + batch_size]], dtype=np.float32)
            yield torch.from_numpy(chunk)

    def _inference_batch_size(self):
        params = self.get_params_for("iterator_valid")
        size = params.get("batch_size", self.batch_size)
        return None if size == -1 else size

    def _default_loading(self):
        """Whether skorch's Dataset and DataLoader would only cut an array into batches:
        the default dataset and prediction iterator, with no parameter but the batch size."""
        return (self.dataset is Dataset and not self.get_params_for("dataset")
                and self.iterator_valid is DataLoader
                and set(self.get_params_for("iterator_valid")) <= {"batch_size"})

    def _reads_arrays(self, X):
        """Whether inference over ``X`` only cuts an array into batches (the fast path)."""
        return isinstance(X, np.ndarray) and self._default_loading()

    def _start_inference(self):
        self.check_is_fitted()
        self._set_training(False)

    def _array_forward_iter(self, X, batch_size=None, rows=None):
        """The module's outputs over consecutive batches of the array ``X`` (or of
        ``X[rows]``; fast path, call ``_start_inference`` first).

        A module that fails after earlier batches went through raises ``LaterBatchError``:
        the input's format is not what went wrong."""
        for index, batch in enumerate(self._batches(X, batch_size, rows)):
            try:
                with torch.inference_mode():
                    out = self.infer(batch)
            except (RuntimeError, ValueError) as exc:
                if index == 0 or isinstance(exc, torch.OutOfMemoryError):
                    raise
                raise LaterBatchError(
                    f"batch {index + 1} (of {len(batch)} samples, after {index} that went "
                    f"through), which raised {type(exc).__name__}: {str(exc).rstrip('.')}"
                ) from exc
            yield out  # outside inference mode: the caller's code between batches is not in it
