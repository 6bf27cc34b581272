"""Utilities: labels to column indices (:func:`encode_labels`), unlabelled samples
(:func:`unlabelled_mask`).

Test helpers live in the private ``skgate.utils._testing``.
"""

from ._labels import encode_labels, unlabelled_mask

__all__ = ["encode_labels", "unlabelled_mask"]
