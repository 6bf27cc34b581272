"""Safe persistence: ``save`` and ``load`` a fitted estimator without pickle.

A file written by :func:`save` is a zip archive holding

- ``skgate.json``: the estimator tree. Every object is named by the import path of its
  class and described by its state (its attributes, recursively); skorch networks by
  their constructor parameters and their modules; containers, scalars, numpy dtypes and
  torch dtypes and devices by tagged JSON values;
- ``arrays.npz``: the numpy arrays, read back with ``allow_pickle=False``;
- ``tensors.pt``: the torch tensors (a flat dict of tensors), read back with
  ``torch.load(weights_only=True)``.

:func:`load` reads the JSON first and refuses the file, before importing or creating
anything, when it names a class or function outside the audited allowlist
(:data:`TRUSTED_TYPES`) and the ``trusted`` argument. No pickle is ever executed: numpy
reads without pickle and torch's ``weights_only`` unpickler only rebuilds tensors. Sizes are
checked as declared before anything is inflated (at most :data:`MAX_LOAD_BYTES` by default);
a malformed or corrupted file raises :class:`MalformedFileError`.
"""

from ._allowlist import (
    MAX_LOAD_BYTES,
    TRUSTED_TYPES,
    FileTooLargeError,
    MalformedFileError,
    UntrustedTypeError,
)
from ._load import load, untrusted_types
from ._save import save

__all__ = ["save", "load", "untrusted_types", "UntrustedTypeError", "MalformedFileError",
           "FileTooLargeError", "TRUSTED_TYPES", "MAX_LOAD_BYTES"]
