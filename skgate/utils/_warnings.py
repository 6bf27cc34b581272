"""Warnings that point at the user's line, not at skgate's or scikit-learn's internals."""

import os
import sys
import warnings

import sklearn

from ..exceptions import SkgateWarning

_INTERNAL = tuple(os.path.dirname(module.__file__) + os.sep
                  for module in (sys.modules["skgate"], sklearn))


def warn_user(message, category=SkgateWarning):
    """``warnings.warn`` with the stack level of the first caller outside skgate and
    scikit-learn (a mixture's ``fit`` reaches a gate through both)."""
    frame, level = sys._getframe(1), 2  # stacklevel 2: warn_user's caller
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
