"""The file format's constants and the audited allowlist of types ``load`` rebuilds."""

import importlib

_FORMAT = "skgate-estimator"
_VERSION = 1
_JSON, _ARRAYS, _TENSORS = "skgate.json", "arrays.npz", "tensors.pt"

MAX_LOAD_BYTES = 2**30
"""The most memory, in bytes, that :func:`skgate.load` lets one file make it allocate.

The limit is checked on the sizes the file declares, before anything is inflated: each
entry of the archive, the arrays and the tensors (each set in total) may take at most this
many bytes, and the JSON description at most a 64th of it (parsing JSON takes many times its
size). 1 GiB by default; pass ``max_bytes=`` to :func:`skgate.load` for a larger model.
"""
_JSON_SHARE = 64


class UntrustedTypeError(ValueError):
    """A file names types that :func:`skgate.load` was not told to trust.

    Parameters
    ----------
    message : str
        The error message.
    types : iterable of str, default=()
        The import paths that are neither in the allowlist nor trusted.

    Attributes
    ----------
    types : list of str
        The import paths that are neither in the allowlist nor trusted.

    Examples
    --------
    Your own torch module is not on skgate's allowlist: ``load`` refuses the
    file, before importing anything, until you trust the class.

    >>> import os, tempfile, torch
    >>> import skgate
    >>> from skgate import Expert, UntrustedTypeError
    >>> class Net(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.linear = torch.nn.Linear(4, 2)
    ...
    ...     def forward(self, x):
    ...         return self.linear(x)
    >>> path = os.path.join(tempfile.mkdtemp(), "expert.skgate")
    >>> skgate.save(Expert.from_pretrained(Net(), classes=[0, 1]), path)
    >>> try:
    ...     skgate.load(path)
    ... except UntrustedTypeError as exc:
    ...     print(exc.types)  # doctest: +ELLIPSIS
    ['....Net']
    >>> skgate.load(path, trusted=[Net]).module_  # doctest: +ELLIPSIS
    Net(...)
    """

    def __init__(self, message, types=()):
        super().__init__(message)
        self.types = list(types)


class MalformedFileError(ValueError):
    """A file is not a well-formed file written by :func:`skgate.save`.

    Raised by :func:`skgate.load`, :func:`skgate.untrusted_types` and, for correction
    files, ``UniversalGate(path)``, for every file that is not such a file, is
    truncated, corrupted or edited into something ``save`` does not write: a broken zip
    archive, JSON that does not describe an estimator, a missing or mistyped key, an array
    or tensor whose declared size does not match its data, non-finite weights, a weight
    whose shape disagrees with the network's parameters, non-empty torch hook
    dictionaries. The message says where in the file the problem is.

    It is separate from :class:`UntrustedTypeError` (a well-formed file that names classes
    or functions you have not trusted, which ``trusted=`` resolves); both are
    :class:`ValueError` subclasses, so ``except ValueError`` catches every refused file.

    Parameters
    ----------
    message : str
        The error message.
    where : str or None, default=None
        Where in the file the problem was found.

    Attributes
    ----------
    where : str or None
        Where in the file the problem was found (the entry, and the path in the
        estimator tree or the key), when known.

    Examples
    --------
    >>> import os, tempfile
    >>> import skgate
    >>> from skgate import MalformedFileError
    >>> path = os.path.join(tempfile.mkdtemp(), "broken.skgate")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"PK\x03\x04 not really a zip archive")
    >>> try:
    ...     skgate.load(path)
    ... except MalformedFileError as exc:
    ...     print(type(exc).__name__, isinstance(exc, ValueError))
    MalformedFileError True
    """

    def __init__(self, message, where=None):
        super().__init__(message)
        self.where = where


class FileTooLargeError(ValueError):
    """A file declares more data than ``max_bytes`` (:data:`skgate.MAX_LOAD_BYTES`).

    Raised by :func:`skgate.load` before anything is inflated (a zip bomb is refused this
    way). A :class:`ValueError`; pass a larger ``max_bytes`` to load a file you trust to be
    this large.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> import skgate
    >>> from skgate import Expert, FileTooLargeError
    >>> path = os.path.join(tempfile.mkdtemp(), "expert.skgate")
    >>> skgate.save(Expert.from_pretrained(torch.nn.Linear(4, 2), classes=[0, 1]), path)
    >>> try:
    ...     skgate.load(path, max_bytes=1024)
    ... except FileTooLargeError as exc:
    ...     print("refused:", "max_bytes" in str(exc))
    refused: True
    >>> skgate.load(path).classes_  # within the default, skgate.MAX_LOAD_BYTES
    array([0, 1])
    """


# -- the audited allowlist ---------------------------------------------------------------
# Each entry is a class or function that `load` may import and rebuild. A class is rebuilt
# with `cls.__new__(cls)` and its saved attributes (its own `__setstate__` when it defines
# one); no constructor, `__reduce__` or other code named by the file runs, except:
# skorch networks, which are constructed from their saved parameters and `initialize()`d
# (then given their saved modules). Classes whose methods would call a stored callable
# only get callables that are themselves on this list. Audit any addition for: code run
# by `__new__`/`__setstate__`/`__init__`/`initialize`, and attributes used as code.
_TRUSTED = {
    # skgate: the estimators, gates, their networks and modules
    "skgate._moe": ["MixtureOfExperts"],
    "skgate.experts._expert": ["Expert", "_encoded_accuracy"],
    "skgate.experts._set": ["ExpertSet"],
    "skgate.gates._base": ["GateTags"],
    "skgate.gates._naive": ["NaiveConcatGate"],
    "skgate.gates._augmented": ["AugmentedGate"],
    "skgate.gates._pan": ["PANGate", "_SeededNetClassifier"],
    "skgate.experts._transforms": ["ConvertChannels"],
    "skgate.gates._soft": ["SoftMoE"],
    "skgate.gates._soft_modules": ["SoftMixtureModule", "_SoftNet", "_Scatter", "_JointExpert",
                                   "_LabelEmbedding", "_EmbeddingGate"],
    "skgate.gates._soft_callbacks": ["EpochTestScoring"],
    "skgate.gates._universal": ["UniversalGate"],
    "skgate.gates._universal_modules": ["_Calibration"],
    "skgate.gates._floor": ["FloorGate"],
    "skgate.gates._router": ["FastRouter", "_SeededNet", "_Thumbnail", "_RouterCNN", "_Augment"],
    "skgate.models._lenet": ["LeNet5"],
    "skgate.models._mlp": ["MLP"],
    "skgate.models._resnet": ["SmallResNet"],
    "skgate.models._thumbnail": ["ThumbnailCNN"],
    # scikit-learn
    "sklearn.frozen._frozen": ["FrozenEstimator"],
    "sklearn.pipeline": ["Pipeline"],
    "sklearn.preprocessing._data": ["StandardScaler"],
    "sklearn.preprocessing._label": ["LabelEncoder"],
    "sklearn.ensemble._voting": ["VotingClassifier"],
    "sklearn.dummy": ["DummyClassifier"],
    "sklearn.linear_model._logistic": ["LogisticRegression"],
    # skorch: networks' parts (the callbacks hold settings; their callables are checked)
    "skorch.dataset": ["Dataset", "ValidSplit"],
    # pure functions: skorch's default target extractor and its indexing helpers
    "skorch.utils": ["to_numpy", "_indexing_dict", "_indexing_list_tuple_of_data",
                     "_indexing_ndframe", "_indexing_none", "_indexing_other"],
    "skorch.history": ["History"],
    "skorch.callbacks.logging": ["EpochTimer", "PrintLog", "ProgressBar"],
    "skorch.callbacks.scoring": ["EpochScoring", "PassthroughScoring", "BatchScoring"],
    "skorch.callbacks.training": ["EarlyStopping"],
    # torch: layers, losses, optimizers (as parameters), data loaders (as parameters)
    "torch.nn.modules.container": ["Sequential", "ModuleList", "ModuleDict"],
    "torch.nn.modules.linear": ["Linear", "Identity", "Bilinear"],
    "torch.nn.modules.conv": ["Conv1d", "Conv2d"],
    "torch.nn.modules.pooling": ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"],
    "torch.nn.modules.activation": ["ReLU", "Tanh", "Sigmoid", "GELU", "Softmax",
                                    "LogSoftmax", "LeakyReLU"],
    "torch.nn.modules.batchnorm": ["BatchNorm1d", "BatchNorm2d"],
    "torch.nn.modules.normalization": ["LayerNorm"],
    "torch.nn.modules.dropout": ["Dropout"],
    "torch.nn.modules.flatten": ["Flatten"],
    "torch.nn.modules.sparse": ["Embedding", "EmbeddingBag"],
    "torch.nn.modules.loss": ["CrossEntropyLoss", "NLLLoss"],
    "torch.optim.adam": ["Adam"],
    "torch.optim.adamw": ["AdamW"],
    "torch.optim.sgd": ["SGD"],
    "torch.utils.data.dataloader": ["DataLoader"],
    "torchvision.models.resnet": ["BasicBlock"],
    # torchvision transforms v2 (input transforms): parameters only
    "torchvision.transforms.v2._container": ["Compose"],
    "torchvision.transforms.v2._geometry": ["Pad", "Resize", "CenterCrop"],
    "torchvision.transforms.v2._color": ["Grayscale", "RGB"],
    "torchvision.transforms.v2._misc": ["Normalize", "ToDtype", "Lambda"],
    # builtins used as parameters (PrintLog's sink, defaultdict factories)
    "builtins": ["print", "list", "dict", "int", "float"],
}
TRUSTED_TYPES = frozenset(
    f"{module}.{name}" for module, names in _TRUSTED.items() for name in names
)
"""The import paths :func:`skgate.load` rebuilds without being told to trust them."""
# Lambda wraps an arbitrary callable, which would have to be trusted itself
TRUSTED_TYPES = TRUSTED_TYPES - {"torchvision.transforms.v2._misc.Lambda"}

_SKORCH_INIT_ATTRS = {
    "module_", "criterion_", "optimizer_", "callbacks_", "history_", "initialized_",
    "virtual_params_", "init_context_", "prefixes_", "cuda_dependent_attributes_",
    "_modules", "_criteria", "_optimizers",
}


def _path(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def _is_skorch_net(obj):
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        return False
    return isinstance(obj, NeuralNet)


def _has_own(cls, name):
    return getattr(cls, name, None) is not getattr(object, name, None)


def _import(path):
    """The class or function at ``path`` (``module.qualname``), importing the module."""
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import {path}")
