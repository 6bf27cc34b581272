"""Expert's fast inference path: an array cut into float32 batches (shared with the array
when it can be), sent to the module's device (a GPU through pinned memory, asynchronously)
and run through ``infer`` under ``torch.inference_mode()``, skorch's Dataset and DataLoader
bypassed while they would do nothing else."""

import numpy as np
import torch
from skorch.dataset import Dataset
from torch.utils.data import DataLoader

from ..utils._device import module_placement


class LaterBatchError(RuntimeError):
    """A module failed on a batch after the earlier batches of the same pass went through."""


def shareable_batch(chunk, writable=True):
    """``chunk`` as a float32 array that ``torch.from_numpy`` can share: copied when it has
    another dtype, is read-only (``writable`` False) or runs backwards (negative strides,
    which torch does not support: ``X[::-1]``)."""
    if chunk.dtype != np.float32 or not writable or min(chunk.strides, default=0) < 0:
        return np.array(chunk, dtype=np.float32)
    return chunk


def to_module_device(batch, device):
    """A CPU batch tensor on ``device`` (None or a CPU: the batch itself).

    To a GPU it goes through page-locked ("pinned") memory with an asynchronous copy, as
    ``DataLoader(pin_memory=True)`` and ``.to(device, non_blocking=True)`` would: the copy of
    one batch overlaps the kernels of the previous one, on the same stream, so nothing reads
    the batch before it has arrived."""
    if device is None:
        return batch
    device = torch.device(device)
    if device.type == "cpu":
        return batch
    if device.type == "cuda":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch.to(device)


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
        """Yield float32 tensors of consecutive batches of an array, without copies on the
        CPU (of the expert's inference batch size, unless ``batch_size`` is given), on the
        module's device; with ``rows``, of ``X[rows]``, gathered one batch at a time.

        ``X`` may be a tensor already on the module's device (a block that several
        experts share, ``ExpertSet``): its batches are views of it."""
        if isinstance(X, torch.Tensor):
            size = batch_size or max(len(X), 1)
            for start in range(0, len(X), size):
                yield X[start : start + size]
            return
        X = np.asarray(X)
        n_samples = len(X) if rows is None else len(rows)
        batch_size = batch_size or self._inference_batch_size() or max(n_samples, 1)
        writable = X.flags.writeable
        device = self._input_device()
        for start in range(0, n_samples, batch_size):
            if rows is None:
                chunk = shareable_batch(X[start : start + batch_size], writable)
            else:  # fancy indexing copies: the batch is the expert's own
                chunk = np.asarray(X[rows[start : start + batch_size]], dtype=np.float32)
            yield to_module_device(torch.from_numpy(chunk), device)

    def _input_device(self):
        """Where the module's parameters are: where its input batches go (in a thread of
        ``n_jobs``, a bare ``"cuda"`` would be that thread's current GPU)."""
        return module_placement(self.module_, self.device)[0]

    def _inference_batch_size(self):
        params = self.get_params_for("iterator_valid")
        size = params.get("batch_size", self.batch_size)
        return None if size == -1 else size

    def _default_loading(self):
        """Whether skorch's Dataset and DataLoader would only cut an array into batches:
        the default dataset and prediction iterator, with no parameter but the batch size
        and ``pin_memory`` (the fast path pins every batch it sends to a GPU)."""
        return (self.dataset is Dataset and not self.get_params_for("dataset")
                and self.iterator_valid is DataLoader
                and set(self.get_params_for("iterator_valid")) <= {"batch_size", "pin_memory"})

    def _reads_arrays(self, X):
        """Whether inference over ``X`` only cuts an array into batches (the fast path)."""
        return isinstance(X, np.ndarray) and self._default_loading()

    def _start_inference(self):
        self.check_is_fitted()
        self._set_training(False)

    def _array_forward_iter(self, X, batch_size=None, rows=None):
        """The module's outputs over consecutive batches of the array ``X`` (or of
        ``X[rows]``, or of a tensor already on the module's device; fast path, call
        ``_start_inference`` first).

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
