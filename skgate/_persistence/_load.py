"""Reading: check every named type against the allowlist, then rebuild."""

import base64
import io
import json
import warnings
import zipfile
from collections import OrderedDict, defaultdict

import numpy as np
import torch
from sklearn.utils import Bunch

from ..exceptions import SkgateWarning
from ._allowlist import (
    _ARRAYS,
    _FORMAT,
    _JSON,
    _TENSORS,
    _VERSION,
    TRUSTED_TYPES,
    UntrustedTypeError,
    _has_own,
    _import,
    _path,
)


# -- reading -----------------------------------------------------------------------------
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

