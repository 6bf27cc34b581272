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
reads without pickle and torch's ``weights_only`` unpickler only rebuilds tensors.
"""

import base64
import importlib
import io
import json
import types
import warnings
import zipfile
from collections import OrderedDict, defaultdict

import numpy as np
import torch
from sklearn.utils import Bunch

from .exceptions import SkgateWarning

__all__ = ["save", "load", "untrusted_types", "UntrustedTypeError", "TRUSTED_TYPES"]

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
    ...     print(exc.types)
    ['skgate._persistence.Net']
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
    "skgate.gates._router": ["FastRouter", "_SeededNet", "_Thumbnail", "_RouterCNN"],
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


# -- writing -----------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.memo = {}
        self.keep = []  # keeps memoised objects alive, so that ids are not reused
        self.arrays = {}
        self.tensors = {}
        self.devices = set()

    def ref(self, obj):
        key = id(obj)
        if key in self.memo:
            return {"$ref": self.memo[key]}
        return None

    def remember(self, obj):
        self.memo[id(obj)] = len(self.memo)
        self.keep.append(obj)
        return self.memo[id(obj)]

    def encode(self, obj, where="estimator"):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if type(obj) is int or type(obj) is float:
            return obj
        if isinstance(obj, np.generic):
            return {"$np": np.dtype(type(obj)).str, "value": self.encode(obj.item(), where)}
        if isinstance(obj, (int, float)) and not isinstance(obj, bool):
            return {"$num": _path(type(obj)), "value": type(obj).__mro__[-2](obj)}
        if isinstance(obj, list) and type(obj) is list:
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if type(obj) is tuple:
            return {"$tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if type(obj) in (set, frozenset):
            items = sorted(obj, key=repr)
            return {"$set": [self.encode(v, where) for v in items],
                    "frozen": type(obj) is frozenset}
        if type(obj) is Bunch:
            return {"$dict": [[self.encode(k, where), self.encode(v, f"{where}.{k}")]
                              for k, v in obj.items()], "bunch": True}
        if isinstance(obj, tuple) and hasattr(type(obj), "_fields"):  # a named tuple
            return {"$namedtuple": _path(type(obj)),
                    "items": [self.encode(v, f"{where}.{f}") for f, v in zip(obj._fields, obj)]}
        if isinstance(obj, dict) and type(obj) in (dict, OrderedDict, defaultdict):
            items = [[self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")]
                     for k, v in obj.items()]
            node = {"$dict": items}
            if type(obj) is OrderedDict:
                node["ordered"] = True
            if type(obj) is defaultdict:
                node["default"] = self.encode(obj.default_factory, f"{where} default")
            return node
        if type(obj) is bytes:
            return {"$bytes": base64.b64encode(obj).decode("ascii")}
        if type(obj) is slice:
            return {"$slice": [self.encode(obj.start), self.encode(obj.stop),
                               self.encode(obj.step)]}
        if isinstance(obj, np.dtype):
            if obj.kind == "V" or obj.fields is not None:
                raise TypeError(f"{where}: structured dtypes cannot be saved ({obj}).")
            return {"$dtype": obj.str}
        if isinstance(obj, torch.dtype):
            return {"$torch_dtype": str(obj).removeprefix("torch.")}
        if isinstance(obj, torch.device):
            return {"$device": str(obj)}
        if isinstance(obj, torch.Size):
            return {"$size": list(obj)}
        ref = self.ref(obj)
        if ref is not None:
            return ref
        if isinstance(obj, np.ndarray):
            return self._array(obj, where)
        if isinstance(obj, torch.Tensor):
            return self._tensor(obj, where)
        if isinstance(obj, np.random.RandomState):
            node = {"$random_state": self.remember(obj)}
            name, keys, pos, has_gauss, gauss = obj.get_state(legacy=True)
            node["state"] = [name, self.encode(keys), pos, has_gauss, gauss]
            return node
        if isinstance(obj, types.MethodType):
            raise TypeError(
                f"{where} is a bound method ({obj!r}), which skgate.save cannot write; "
                "use pickle or joblib for trusted use."
            )
        if isinstance(obj, type) or callable(obj) and not hasattr(obj, "__dict__") or (
            type(obj).__name__ in ("function", "builtin_function_or_method")
        ):
            return self._global(obj, where)
        if _is_skorch_net(obj):
            return self._net(obj, where)
        from skorch.history import History

        if type(obj) is History:
            return {"$history": self.remember(obj),
                    "rows": self.encode(list(obj), f"{where} history")}
        return self._object(obj, where)

    def _global(self, obj, where):
        name = getattr(obj, "__qualname__", None)
        module = getattr(obj, "__module__", None)
        if name is None or module is None or "<" in name:
            raise TypeError(
                f"{where} is {obj!r}, which skgate.save cannot write: only classes and "
                "functions importable by name can be saved (not lambdas, local functions "
                "or bound methods). Use a named function, or pickle for trusted use."
            )
        found = _import(f"{module}.{name}")
        if found is not obj:
            raise TypeError(f"{where}: {module}.{name} does not import back as {obj!r}.")
        return {"$global": f"{module}.{name}"}

    def _array(self, obj, where):
        index = self.remember(obj)
        if obj.dtype.hasobject:
            return {"$array": index, "shape": list(obj.shape),
                    "object": [self.encode(v, where) for v in obj.ravel()]}
        if obj.dtype.fields is not None or obj.dtype.kind == "V":
            raise TypeError(f"{where}: arrays of structured dtype cannot be saved.")
        key = f"a{index}"
        self.arrays[key] = obj
        return {"$array": index, "key": key}

    def _tensor(self, obj, where):
        index = self.remember(obj)
        key = f"t{index}"
        location = torch.serialization.location_tag(obj.untyped_storage())
        self.devices.add(location)
        data = obj.detach()
        self.tensors[key] = data
        node = {"$tensor": index, "key": key, "device": location}
        if isinstance(obj, torch.nn.Parameter):
            node["parameter"] = True
            node["requires_grad"] = obj.requires_grad
        elif obj.requires_grad:
            node["requires_grad"] = True
        return node

    def _state(self, obj):
        cls = type(obj)
        if _has_own(cls, "__getstate__"):
            state = obj.__getstate__()
        else:
            state = getattr(obj, "__dict__", None)
        if not isinstance(state, dict) or getattr(cls, "__slots__", None):
            raise TypeError(
                f"{_path(cls)} keeps its state outside a dict of attributes; skgate.save "
                "cannot write it. Use pickle or joblib for trusted use."
            )
        return state

    def _object(self, obj, where):
        cls = type(obj)
        if "<" in cls.__qualname__:
            raise TypeError(f"{where}: local class {_path(cls)} cannot be saved.")
        node = {"$object": _path(cls), "id": self.remember(obj)}
        state = self._state(obj)
        node["state"] = {k: self.encode(v, f"{where}.{k}") for k, v in state.items()}
        return node

    def _net(self, net, where):
        cls = type(net)
        node = {"$net": _path(cls), "id": self.remember(net)}
        params = {k: v for k, v in net.get_params(deep=False).items() if not k.startswith("_")}
        node["params"] = {k: self.encode(v, f"{where}.{k}") for k, v in params.items()}
        extra = {k: v for k, v in vars(net).items()
                 if k not in params and k not in _SKORCH_INIT_ATTRS
                 and k != "_params_to_validate"}
        node["extra"] = {k: self.encode(v, f"{where}.{k}") for k, v in extra.items()}
        initialized = bool(getattr(net, "initialized_", False))
        node["initialized"] = initialized
        if initialized:
            names = [*net._modules, *net._criteria]
            node["modules"] = {f"{n}_": self.encode(getattr(net, f"{n}_"), f"{where}.{n}_")
                               for n in names}
            node["history"] = self.encode(net.history_, f"{where}.history_")
        return node


def save(estimator, path):
    """Write a fitted (or unfitted) estimator to ``path`` without pickle.

    The file is a zip archive: a JSON description of the estimator tree, the
    numpy arrays (``.npz``) and the torch tensors (read back with
    ``torch.load(weights_only=True)``). :func:`load` reads it without executing
    code from the file. Unlike pickle, the optimisers' internal state and the
    skorch callbacks' run-time state are not saved: a loaded estimator
    predicts identically, and a network continued with ``partial_fit`` starts
    a fresh optimiser.

    Parameters
    ----------
    estimator : object
        Usually a fitted :class:`~skgate.MixtureOfExperts`, or a
        :class:`~sklearn.pipeline.Pipeline` holding one; any object built from
        classes, named functions, containers, scalars, numpy arrays and torch
        tensors.
    path : str or path-like
        The file to write (conventionally ending in ``.skgate``).

    Raises
    ------
    TypeError
        If the estimator holds something that cannot be written without pickle:
        a lambda, a local function or class, an object without a ``__dict__``.

    See Also
    --------
    load : Read such a file back.
    untrusted_types : The types a file names that are not trusted by default.

    Examples
    --------
    >>> import numpy as np, torch
    >>> import skgate
    >>> from skgate import Expert, MixtureOfExperts
    >>> X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    >>> experts = [(name, Expert.from_pretrained(torch.nn.Linear(4, 2), classes=classes))
    ...            for name, classes in [("a", [0, 1]), ("b", [2, 3])]]
    >>> moe = MixtureOfExperts(experts).fit(X)
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "moe.skgate")
    >>> skgate.save(moe, path)
    >>> loaded = skgate.load(path)
    >>> np.array_equal(loaded.predict_proba(X), moe.predict_proba(X))
    True
    """
    encoder = _Encoder()
    root = encoder.encode(estimator)
    document = {
        "format": _FORMAT, "version": _VERSION, "root": root,
        "devices": sorted(encoder.devices),
    }
    try:
        text = json.dumps(document, allow_nan=True)
    except (TypeError, ValueError) as exc:  # pragma: no cover - every value is encoded
        raise TypeError(f"skgate.save could not write the description: {exc}") from exc
    arrays = io.BytesIO()
    np.savez(arrays, **encoder.arrays)
    tensors = io.BytesIO()
    torch.save(encoder.tensors, tensors)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_JSON, text)
        archive.writestr(_ARRAYS, arrays.getvalue())
        archive.writestr(_TENSORS, tensors.getvalue())


# -- reading -----------------------------------------------------------------------------
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


def _read(path):
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(
            f"{path} is not a file written by skgate.save (not a zip archive). skgate.load "
            "never unpickles: load pickle or joblib files only from sources you trust, "
            "with pickle.load or joblib.load."
        ) from None
    with archive:
        names = set(archive.namelist())
        if _JSON not in names:
            raise ValueError(f"{path} is a zip archive but not a file written by skgate.save.")
        try:
            document = json.loads(archive.read(_JSON).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: its description is not valid JSON ({exc}).") from None
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a file written by skgate.save.")
        if document.get("version") != _VERSION:
            raise ValueError(
                f"{path} was written in format version {document.get('version')}; this "
                f"skgate reads version {_VERSION}."
            )
        payload = {name: archive.read(name) for name in (_ARRAYS, _TENSORS) if name in names}
    return document, payload


def _named_types(node, found):
    if isinstance(node, list):
        for item in node:
            _named_types(item, found)
    elif isinstance(node, dict):
        for key in ("$object", "$net", "$global", "$num", "$namedtuple"):
            if key in node:
                found.add(node[key])
        for value in node.values():
            _named_types(value, found)
    return found


def _trusted_names(trusted):
    """Import path -> the object given in ``trusted`` (or None: import it by name)."""
    if isinstance(trusted, (str, type)):
        trusted = [trusted]
    names = dict.fromkeys(TRUSTED_TYPES)
    for item in trusted or ():
        if isinstance(item, str):
            names.setdefault(item, None)
        elif isinstance(item, type) or callable(item) and hasattr(item, "__qualname__"):
            names[_path(item)] = item
        else:
            raise TypeError(
                f"trusted holds {item!r}; give classes, functions or their import paths."
            )
    return names


def untrusted_types(path, *, trusted=None):
    """The classes and functions named in a saved file that are not trusted.

    Reads only the file's JSON description: nothing is imported or executed.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    trusted : list of (type or str) or None, default=None
        Classes, functions or import paths to trust besides :data:`TRUSTED_TYPES`.

    Returns
    -------
    types : list of str
        Sorted import paths; :func:`load` refuses the file unless each is trusted.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> import skgate
    >>> from skgate import Expert
    >>> path = os.path.join(tempfile.mkdtemp(), "expert.skgate")
    >>> skgate.save(Expert.from_pretrained(torch.nn.Linear(4, 2), classes=[0, 1]), path)
    >>> skgate.untrusted_types(path)
    []
    """
    document, _ = _read(path)
    names = _named_types(document.get("root"), set())
    allowed = _trusted_names(trusted)
    return sorted(name for name in names if not isinstance(name, str) or name not in allowed)


def _map_location(devices, path):
    if torch.cuda.is_available():
        return None
    on_cuda = sorted(d for d in devices if str(d).startswith("cuda"))
    if on_cuda:
        warnings.warn(
            f"{path} holds tensors saved on {', '.join(on_cuda)}, but CUDA is not available "
            "here: they are loaded on the CPU, and the networks' device is set to 'cpu'.",
            SkgateWarning,
            stacklevel=3,
        )
    return "cpu"


class _Decoder:
    def __init__(self, arrays, tensors, allowed, to_cpu):
        self.arrays = arrays
        self.tensors = tensors
        self.allowed = allowed
        self.to_cpu = to_cpu
        self.memo = {}

    def resolve(self, name):
        if name not in self.allowed:  # checked for the whole file before; kept as a guard
            raise UntrustedTypeError(f"Untrusted type {name!r}.", [name])
        obj = self.allowed[name]
        if obj is None:
            try:
                obj = _import(name)
            except (ImportError, AttributeError) as exc:
                raise ValueError(
                    f"The file names {name!r}, which cannot be imported here ({exc}). "
                    "Pass the class itself in trusted=[...], or make it importable."
                ) from None
        if not (isinstance(obj, type) or callable(obj)) or (
            getattr(obj, "__module__", None) and _path(obj) != name
        ):
            raise UntrustedTypeError(f"{name!r} does not name a class or function.", [name])
        return obj

    def device(self, value):
        if self.to_cpu and isinstance(value, str) and value.startswith("cuda"):
            return "cpu"
        return value

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            raise ValueError(f"Malformed skgate file: unexpected {type(node).__name__}.")
        if "$ref" in node:
            return self.memo[node["$ref"]]
        if "$tuple" in node:
            return tuple(self.decode(v) for v in node["$tuple"])
        if "$set" in node:
            items = [self.decode(v) for v in node["$set"]]
            return frozenset(items) if node.get("frozen") else set(items)
        if "$dict" in node:
            items = [(self.decode(k), self.decode(v)) for k, v in node["$dict"]]
            if node.get("bunch"):
                return Bunch(**dict(items))
            if "default" in node:
                return defaultdict(self.decode(node["default"]), items)
            return OrderedDict(items) if node.get("ordered") else dict(items)
        if "$np" in node:
            return np.dtype(node["$np"]).type(self.decode(node["value"]))
        if "$num" in node:
            cls = self.resolve(node["$num"])
            if not (isinstance(cls, type) and issubclass(cls, (int, float))):
                raise UntrustedTypeError(f"{node['$num']!r} is not a number type.")
            return cls(float(node["value"]) if issubclass(cls, float) else int(node["value"]))
        if "$namedtuple" in node:
            cls = self.resolve(node["$namedtuple"])
            if not (isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")):
                raise UntrustedTypeError(f"{node['$namedtuple']!r} is not a named tuple.")
            return cls(*(self.decode(v) for v in node["items"]))
        if "$bytes" in node:
            return base64.b64decode(node["$bytes"])
        if "$slice" in node:
            return slice(*(self.decode(v) for v in node["$slice"]))
        if "$dtype" in node:
            return np.dtype(node["$dtype"])
        if "$torch_dtype" in node:
            dtype = getattr(torch, str(node["$torch_dtype"]), None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(
                    f"Malformed skgate file: no torch dtype {node['$torch_dtype']!r}.")
            return dtype
        if "$device" in node:
            return torch.device(self.device(node["$device"]))
        if "$size" in node:
            return torch.Size(node["$size"])
        if "$global" in node:
            return self.resolve(node["$global"])
        if "$array" in node:
            if "object" in node:
                items = node["object"]
                value = np.empty(len(items), dtype=object)
                for i, item in enumerate(items):
                    value[i] = self.decode(item)
                value = value.reshape(node["shape"])
            else:
                value = self.arrays[node["key"]]
            self.memo[node["$array"]] = value
            return value
        if "$tensor" in node:
            value = self.tensors[node["key"]]
            if node.get("parameter"):
                value = torch.nn.Parameter(value, requires_grad=node.get("requires_grad", True))
            elif node.get("requires_grad"):
                value.requires_grad_(True)
            self.memo[node["$tensor"]] = value
            return value
        if "$random_state" in node:
            name, keys, pos, has_gauss, gauss = node["state"]
            value = np.random.RandomState()
            value.set_state((name, self.decode(keys), pos, has_gauss, gauss))
            self.memo[node["$random_state"]] = value
            return value
        if "$history" in node:
            from skorch.history import History

            value = History()
            self.memo[node["$history"]] = value
            value.extend(self.decode(node["rows"]))
            return value
        if "$object" in node:
            return self._object(node)
        if "$net" in node:
            return self._net(node)
        raise ValueError(f"Malformed skgate file: unknown node {sorted(node)[:3]}.")

    def _object(self, node):
        cls = self.resolve(node["$object"])
        if not isinstance(cls, type):
            raise UntrustedTypeError(f"{node['$object']!r} is not a class.", [node["$object"]])
        obj = cls.__new__(cls)
        self.memo[node["id"]] = obj
        state = {k: self.decode(v) for k, v in node["state"].items()}
        if self.to_cpu and "device" in state:
            state["device"] = self.device(state["device"])
        if _has_own(cls, "__setstate__"):
            obj.__setstate__(state)
        else:
            obj.__dict__.update(state)
        return obj

    def _net(self, node):
        cls = self.resolve(node["$net"])
        from skorch import NeuralNet

        if not (isinstance(cls, type) and issubclass(cls, NeuralNet)):
            raise UntrustedTypeError(f"{node['$net']!r} is not a skorch network.")
        params = {k: self.decode(v) for k, v in node["params"].items()}
        if "device" in params:
            params["device"] = self.device(params["device"])
        net = cls(**params)
        self.memo[node["id"]] = net
        for key, value in node["extra"].items():
            object.__setattr__(net, key, self.decode(value))
        if node.get("initialized"):
            frozen = net.__dict__.get("frozen")
            object.__setattr__(net, "frozen", False)  # Expert refuses set_params once frozen
            with torch.random.fork_rng(devices=[]):
                net.initialize()
            if frozen is not None:
                object.__setattr__(net, "frozen", frozen)
            for name, value in node["modules"].items():
                module = self.decode(value)
                if self.to_cpu and isinstance(module, torch.nn.Module):
                    module.to("cpu")
                object.__setattr__(net, name, module)
            net.initialize_optimizer()
            net.history_ = self.decode(node["history"])
        return net


def load(path, *, trusted=None):
    """Read an estimator written by :func:`save`, executing no code from the file.

    The file's description is checked first: if it names any class or function
    that is neither in the audited allowlist (:data:`TRUSTED_TYPES`: skgate's
    estimators, gates and modules, the scikit-learn, skorch and torch classes
    they are built from) nor in ``trusted``, the file is refused before anything
    is imported. Tensors are read with ``torch.load(weights_only=True)`` and
    arrays with ``numpy.load(allow_pickle=False)``. Tensors saved on a GPU are
    loaded on the CPU, with a warning, when CUDA is not available; the
    networks' ``device`` is then ``"cpu"``.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    trusted : list of (type or str) or None, default=None
        Your own classes or functions (or their import paths,
        ``"package.module.Name"``) that the file may name, for example your
        torch module's class. Trust only code you would run.

    Returns
    -------
    estimator : object
        The estimator, as it was saved (see :func:`save` for what is not kept).

    Raises
    ------
    UntrustedTypeError
        If the file names a type that is not trusted (its ``types`` lists them),
        or its tensors hold anything but tensors.
    ValueError
        If the file is not a file written by :func:`save` (a pickle is refused,
        never executed).

    See Also
    --------
    save : Write such a file.
    untrusted_types : Inspect the types a file names before loading it.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> import skgate
    >>> from skgate import Expert
    >>> path = os.path.join(tempfile.mkdtemp(), "expert.skgate")
    >>> skgate.save(Expert.from_pretrained(torch.nn.Linear(4, 2), classes=[0, 1]), path)
    >>> skgate.load(path).classes_
    array([0, 1])

    A file naming your own classes (here a module class ``mypackage.nets.Net``)
    is refused unless you trust them:
    ``skgate.load(path, trusted=[mypackage.nets.Net])``.
    """
    document, payload = _read(path)
    allowed = _trusted_names(trusted)
    refused = sorted(
        name for name in _named_types(document.get("root"), set())
        if not isinstance(name, str) or name not in allowed
    )
    if refused:
        raise UntrustedTypeError(
            f"{path} names types that are not trusted: {refused}. skgate.load rebuilds only "
            "skgate's own estimators and the library types they use (skgate.TRUSTED_TYPES). "
            "If you trust the source and these types, pass them in trusted=[...].",
            refused,
        )
    map_location = _map_location(document.get("devices", ()), path)
    tensors = {}
    if _TENSORS in payload:
        try:
            tensors = torch.load(io.BytesIO(payload[_TENSORS]), weights_only=True,
                                 map_location=map_location)
        except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError and others
            raise UntrustedTypeError(
                f"{path}: its tensors could not be read with torch.load(weights_only=True), "
                f"which refuses anything but tensors: {exc}"
            ) from None
        if not isinstance(tensors, dict) or not all(
            isinstance(v, torch.Tensor) for v in tensors.values()
        ):
            raise UntrustedTypeError(f"{path}: its tensor file holds something else than tensors.")
    arrays = {}
    if _ARRAYS in payload:
        try:
            with np.load(io.BytesIO(payload[_ARRAYS]), allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except ValueError as exc:
            raise UntrustedTypeError(
                f"{path}: its arrays could not be read without pickle ({exc})."
            ) from None
    decoder = _Decoder(arrays, tensors, allowed, to_cpu=map_location == "cpu")
    return decoder.decode(document["root"])
