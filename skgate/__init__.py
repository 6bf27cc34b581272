"""skgate: combine separately trained neural networks into one scikit-learn classifier."""

from . import exceptions
from ._moe import MixtureOfExperts
from ._persistence import (
    MAX_LOAD_BYTES,
    TRUSTED_TYPES,
    FileTooLargeError,
    MalformedFileError,
    UntrustedTypeError,
    load,
    save,
    untrusted_types,
)
from .experts import Expert

__version__ = "0.1.0"

__all__ = [
    "Expert",
    "MixtureOfExperts",
    "exceptions",
    "save",
    "load",
    "untrusted_types",
    "UntrustedTypeError",
    "MalformedFileError",
    "FileTooLargeError",
    "MAX_LOAD_BYTES",
    "TRUSTED_TYPES",
    "__version__",
]
