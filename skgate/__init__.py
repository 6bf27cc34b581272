"""skgate: combine separately trained neural networks into one scikit-learn classifier."""

import importlib

from . import exceptions

__version__ = "0.1.0"

# The public names are imported on first use (PEP 562), so that importing skgate, and so
# ``python -m skgate --help``, does not import torch.
_LAZY = {
    "Expert": ".experts",
    "MixtureOfExperts": "._moe",
    "save": "._persistence",
    "load": "._persistence",
    "untrusted_types": "._persistence",
    "UntrustedTypeError": "._persistence",
    "MalformedFileError": "._persistence",
    "FileTooLargeError": "._persistence",
    "MAX_LOAD_BYTES": "._persistence",
    "TRUSTED_TYPES": "._persistence",
}
_SUBMODULES = ("bench", "callbacks", "datasets", "experts", "gates", "inspection", "metrics",
               "models", "utils")

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


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
