"""skgate: combine separately trained neural networks into one scikit-learn classifier."""

from . import exceptions
from ._moe import MixtureOfExperts
from ._persistence import TRUSTED_TYPES, UntrustedTypeError, load, save, untrusted_types
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
    "TRUSTED_TYPES",
    "__version__",
]
