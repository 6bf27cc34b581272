"""Writing: the estimator tree as JSON, its arrays and its tensors."""

import base64
import io
import json
import types
import zipfile
from collections import OrderedDict, defaultdict

import numpy as np
import torch
from sklearn.utils import Bunch

from ._allowlist import (
    _ARRAYS,
    _FORMAT,
    _JSON,
    _SKORCH_INIT_ATTRS,
    _TENSORS,
    _VERSION,
    _has_own,
    _import,
    _is_skorch_net,
    _path,
)


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
        ) or callable(obj) and _import_path(obj) is not None:  # e.g. numpy's dispatchers
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
        path = _import_path(obj)
        if path is None:
            raise TypeError(f"{where}: {module}.{name} does not import back as {obj!r}.")
        return {"$global": path}

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




def _import_path(obj):
    """The path that imports back as ``obj``: ``module.qualname``, or else the name under
    which a public package re-exports it (``numpy.reshape``, defined in a private module
    whose name imports something else); None when there is none."""
    name = getattr(obj, "__qualname__", None)
    module = getattr(obj, "__module__", None)
    if not isinstance(name, str) or not isinstance(module, str) or "<" in name:
        return None
    parts = module.split(".")
    public = [".".join(parts[:cut]) for cut in range(len(parts), 0, -1)
              if not any(part.startswith("_") for part in parts[:cut])]
    for path in dict.fromkeys([module, *public]):
        try:
            if _import(f"{path}.{name}") is obj:
                return f"{path}.{name}"
        except (ImportError, AttributeError):
            continue
    return None
