"""Utilities: labels to column indices (:func:`encode_labels`).

Test helpers live in the private ``skgate.utils._testing``.
"""

from ._labels import encode_labels

__all__ = ["encode_labels"]
