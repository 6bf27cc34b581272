"""Decoding: the JSON description and its arrays and tensors rebuilt into objects, the
types it names resolved against the allowlist, skorch networks and torch modules rebuilt
and checked (shapes, containers, hooks)."""

import base64
from collections import OrderedDict, defaultdict

import numpy as np
import torch
from sklearn.utils import Bunch

from ..utils._seeding import torch_seeded
from ._allowlist import (
    _JSON,
    _TENSORS,
    FileTooLargeError,
    MalformedFileError,
    UntrustedTypeError,
    _has_own,
    _import,
    _path,
)
from ._archive import _BROKEN, _Broken, _malformed, _why


def _key(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _shapes(module):
    """Parameter and buffer name -> shape (lazy, uninitialised parameters left out)."""
    found = {}
    for name, value in [*module.named_parameters(), *module.named_buffers()]:
        if not isinstance(value, torch.nn.parameter.UninitializedTensorMixin):
            found[name] = tuple(value.shape)
    return found


def _check_module(module):
    """A torch module read from a file: its containers hold what torch puts there, and its
    hook dictionaries are empty (a hook would run a function named by the file)."""
    for key in ("_parameters", "_buffers", "_modules"):
        container = vars(module).get(key)
        if not isinstance(container, dict):
            raise _Broken(f"{key} is a {type(container).__name__}, not a dict.")
        kind = {"_parameters": torch.nn.Parameter, "_buffers": torch.Tensor,
                "_modules": torch.nn.Module}[key]
        for name, value in container.items():
            if not isinstance(name, str) or not (value is None or isinstance(value, kind)):
                raise _Broken(f"{key}[{_key(name)}] is a {type(value).__name__}, "
                                 f"not a {kind.__name__}.")


class _Decoder:
    def __init__(self, path, arrays, tensors, allowed, map_location):
        self.path = path
        self.arrays = arrays
        self.tensors = tensors
        self.allowed = allowed
        self.to_cpu = map_location == "cpu"
        # a GPU this machine lacks -> the GPU its tensors were loaded on
        self.gpu_map = map_location if isinstance(map_location, dict) else {}
        self.memo = {}

    def resolve(self, name):
        if name not in self.allowed:  # checked for the whole file before; kept as a guard
            raise UntrustedTypeError(f"Untrusted type {name!r}.", [name])
        obj = self.allowed[name]
        if obj is None:
            try:
                obj = _import(name)
            except (ImportError, AttributeError) as exc:
                raise _Broken(
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
        if self.gpu_map and isinstance(value, str | torch.device):
            mapped = self.gpu_map.get(str(value))
            if mapped is not None:
                return mapped if isinstance(value, str) else torch.device(mapped)
        return value

    def decode(self, node, where="root"):
        """The object ``node`` describes; anything broken raises MalformedFileError, naming
        the innermost place in the tree (``where``) where decoding failed."""
        try:
            return self._decode(node, where)
        except MalformedFileError as exc:
            if not getattr(exc, "_located", False):  # a class's own check: add the place
                raise _malformed(self.path, f"{_JSON}, at {where}", str(exc)) from None
            raise
        except (UntrustedTypeError, FileTooLargeError):
            raise
        except ImportError as exc:  # a trusted import path that does not import
            raise _malformed(self.path, f"{_JSON}, at {where}", _why(exc)) from None
        except _BROKEN as exc:
            raise _malformed(self.path, f"{_JSON}, at {where}", _why(exc)) from None

    def _decode(self, node, where):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, dict):  # pragma: no cover - json gives no other type
            raise _Broken(f"unexpected {type(node).__name__}.")
        if "$ref" in node:
            return self.memo[node["$ref"]]
        if "$tuple" in node:
            return tuple(self.decode(v, f"{where}[{i}]") for i, v in enumerate(node["$tuple"]))
        if "$set" in node:
            items = [self.decode(v, where) for v in node["$set"]]
            return frozenset(items) if node.get("frozen") else set(items)
        if "$dict" in node:
            items = []
            for i, (k, v) in enumerate(node["$dict"]):
                key = self.decode(k, f"{where} key {i}")
                items.append((key, self.decode(v, f"{where}[{_key(key)}]")))
            if node.get("bunch"):
                return Bunch(**dict(items))
            if "default" in node:
                return defaultdict(self.decode(node["default"], f"{where} default"), items)
            return OrderedDict(items) if node.get("ordered") else dict(items)
        if "$np" in node:
            dtype, value = np.dtype(node["$np"]), self.decode(node["value"], where)
            # np.bytes_(10**9) and np.void(10**9) would allocate a gigabyte of zeros
            if dtype.kind in "OV" or dtype.kind in "SU" and not isinstance(value, (str, bytes)):
                raise _Broken(f"a NumPy scalar of dtype {dtype} from {_key(value)}.")
            return dtype.type(value)
        if "$num" in node:
            cls = self.resolve(node["$num"])
            if not (isinstance(cls, type) and issubclass(cls, (int, float))):
                raise UntrustedTypeError(f"{node['$num']!r} is not a number type.")
            return cls(float(node["value"]) if issubclass(cls, float) else int(node["value"]))
        if "$namedtuple" in node:
            cls = self.resolve(node["$namedtuple"])
            if not (isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")):
                raise UntrustedTypeError(f"{node['$namedtuple']!r} is not a named tuple.")
            return cls(*(self.decode(v, f"{where}[{i}]") for i, v in enumerate(node["items"])))
        if "$bytes" in node:
            return base64.b64decode(node["$bytes"], validate=True)
        if "$slice" in node:
            return slice(*(self.decode(v, where) for v in node["$slice"]))
        if "$dtype" in node:
            return np.dtype(node["$dtype"])
        if "$torch_dtype" in node:
            dtype = getattr(torch, str(node["$torch_dtype"]), None)
            if not isinstance(dtype, torch.dtype):
                raise _Broken(f"no torch dtype {node['$torch_dtype']!r}.")
            return dtype
        if "$device" in node:
            return torch.device(self.device(node["$device"]))
        if "$size" in node:
            if not all(isinstance(n, int) and not isinstance(n, bool) for n in node["$size"]):
                raise _Broken(f"a torch.Size of {node['$size']!r:.100}.")
            return torch.Size(node["$size"])
        if "$global" in node:
            return self.resolve(node["$global"])
        if "$array" in node:
            return self._array(node, where)
        if "$tensor" in node:
            return self._tensor(node, where)
        if "$random_state" in node:
            name, keys, pos, has_gauss, gauss = node["state"]
            value = np.random.RandomState()
            value.set_state((name, self.decode(keys, f"{where} state"), pos, has_gauss, gauss))
            self.memo[node["$random_state"]] = value
            return value
        if "$history" in node:
            from skorch.history import History

            value = History()
            self.memo[node["$history"]] = value
            value.extend(self.decode(node["rows"], f"{where} history"))
            return value
        if "$object" in node:
            return self._object(node, where)
        if "$net" in node:
            return self._net(node, where)
        raise _Broken(f"unknown node {sorted(node)[:3]}.")

    def _array(self, node, where):
        if "object" in node:
            items = node["object"]
            value = np.empty(len(items), dtype=object)
            for i, item in enumerate(items):
                value[i] = self.decode(item, f"{where}[{i}]")
            value = value.reshape(node["shape"])
        else:
            value = self.arrays[node["key"]]
            if value.dtype.kind in "fc" and not np.isfinite(value).all():
                raise _Broken(f"array {node['key']!r} (arrays.npz) holds non-finite values "
                                 "(NaN or infinity); skgate.save never writes such weights.")
        self.memo[node["$array"]] = value
        return value

    def _tensor(self, node, where):
        value = self.tensors[node["key"]]
        if (value.is_floating_point() or value.is_complex()) and not bool(
            torch.isfinite(value).all()
        ):
            raise _Broken(f"tensor {node['key']!r} ({_TENSORS}) holds non-finite values "
                             "(NaN or infinity); a gate or expert cannot compute with them.")
        if node.get("parameter"):
            value = torch.nn.Parameter(value, requires_grad=node.get("requires_grad", True))
        elif node.get("requires_grad"):
            value.requires_grad_(True)
        self.memo[node["$tensor"]] = value
        return value

    def _object(self, node, where):
        cls = self.resolve(node["$object"])
        if not isinstance(cls, type):
            raise UntrustedTypeError(f"{node['$object']!r} is not a class.", [node["$object"]])
        obj = cls.__new__(cls)
        self.memo[node["id"]] = obj
        state = {}
        for key, value in node["state"].items():
            state[key] = value = self.decode(value, f"{where}.{key}")
            if "hook" in key and not (value is None or isinstance(value, bool) or (
                isinstance(value, (dict, list, tuple, set, frozenset)) and not value
            )):
                # torch's _forward_pre_hooks and the like: save only ever writes them empty
                raise _Broken(f"{key} is not empty; hooks (functions torch calls "
                                 "around a module) read from a file are refused.")
        if (self.to_cpu or self.gpu_map) and "device" in state:
            state["device"] = self.device(state["device"])
        if _has_own(cls, "__setstate__"):
            obj.__setstate__(state)
        else:
            obj.__dict__.update(state)
        if isinstance(obj, torch.nn.Module):
            _check_module(obj)
        return obj

    def _net(self, node, where):
        cls = self.resolve(node["$net"])
        from skorch import NeuralNet

        if not (isinstance(cls, type) and issubclass(cls, NeuralNet)):
            raise UntrustedTypeError(f"{node['$net']!r} is not a skorch network.")
        params = {k: self.decode(v, f"{where}.{k}") for k, v in node["params"].items()}
        if "device" in params:
            params["device"] = self.device(params["device"])
        net = cls(**params)
        self.memo[node["id"]] = net
        for key, value in node["extra"].items():
            object.__setattr__(net, key, self.decode(value, f"{where}.{key}"))
        if node.get("initialized"):
            self._initialize(net, where)
            for name, value in node["modules"].items():
                module = self.decode(value, f"{where}.{name}")
                built = net.__dict__.get(name)
                if isinstance(built, torch.nn.Module) and isinstance(module, torch.nn.Module) \
                        and built is not module:
                    self._check_shapes(built, module, f"{where}.{name}")
                if self.to_cpu and isinstance(module, torch.nn.Module):
                    module.to("cpu")
                object.__setattr__(net, name, module)
            net.initialize_optimizer()
            net.history_ = self.decode(node["history"], f"{where}.history_")
        return net

    @staticmethod
    def _initialize(net, where):
        """``net.initialize()`` with its modules built on torch's meta device: nothing is
        allocated for them, whatever sizes the file's parameters declare (the saved modules
        replace them, after their shapes are compared)."""
        frozen, device = net.__dict__.get("frozen"), net.__dict__.get("device")
        object.__setattr__(net, "frozen", False)  # Expert refuses set_params once frozen
        object.__setattr__(net, "device", None)  # skorch leaves None-device modules in place
        try:
            # under the package's seeding lock: a seeded fit in another thread draws
            # nothing from the generators in between
            with torch_seeded(0), torch.device("meta"):
                net.initialize()
        finally:
            object.__setattr__(net, "device", device)
            if frozen is not None:
                object.__setattr__(net, "frozen", frozen)

    def _check_shapes(self, built, module, where):
        expected, stored = _shapes(built), _shapes(module)
        for name in sorted(expected.keys() & stored.keys()):
            if expected[name] != stored[name]:
                raise _malformed(
                    self.path, f"{_JSON}, at {where}",
                    f"the network's parameters build a module whose {name} has shape "
                    f"{expected[name]}, but the file stores a tensor of shape {stored[name]}.")
