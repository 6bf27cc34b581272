"""skgate: combine separately trained neural networks into one scikit-learn classifier."""

from . import exceptions
from ._moe import MixtureOfExperts
from .experts import Expert

__version__ = "0.1.0"

__all__ = ["Expert", "MixtureOfExperts", "exceptions", "__version__"]
