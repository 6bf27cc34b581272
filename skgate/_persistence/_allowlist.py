"""The file format's constants and the audited allowlist of types ``load`` rebuilds."""

import importlib

_FORMAT = "skgate-estimator"
_VERSION = 1
_JSON, _ARRAYS, _TENSORS = "skgate.json", "arrays.npz", "tensors.pt"


class UntrustedTypeError(ValueError):
    """A file names types that :func:`skgate.load` was not told to trust.

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
