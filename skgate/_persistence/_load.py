"""Reading: check every named type against the allowlist, then rebuild."""

import base64
import binascii
import io
import json
import math
import numbers
import pickle
import struct
import warnings
import zipfile
import zlib
from collections import OrderedDict, defaultdict

import numpy as np
import torch
from sklearn.utils import Bunch

from ..exceptions import SkgateWarning
from ..utils._seeding import torch_seeded
from ._allowlist import (
    _ARRAYS,
    _FORMAT,
    _JSON,
    _JSON_SHARE,
    _TENSORS,
    _VERSION,
    MAX_LOAD_BYTES,
    TRUSTED_TYPES,
    FileTooLargeError,
    MalformedFileError,
    UntrustedTypeError,
    _has_own,
    _import,
    _path,
)

# -- reading -----------------------------------------------------------------------------
_MAX_DEPTH = 100  # nesting of the JSON description; files written by save stay below 50
_NAMED = ("$object", "$net", "$global", "$num", "$namedtuple")
# what broken input makes Python, zipfile, zlib, numpy and torch raise
_BROKEN = (KeyError, AttributeError, TypeError, IndexError, ValueError, RecursionError,
           OverflowError, MemoryError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error,
           struct.error, binascii.Error, UnicodeDecodeError)


class _Broken(ValueError):
    """A problem found by the checks here (its message says it all: no type name)."""


def _why(exc):
    text = str(exc)
    if isinstance(exc, _Broken):
        return text
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _malformed(path, where, problem):
    error = MalformedFileError(f"{path} is malformed: {where}: {problem}", where)
    error._located = True  # names the file and the place: passed on as it is
    return error


def _gib(n):
    return f"{n / 2**30:.3g} GiB" if n >= 2**20 else f"{n} bytes"


def _check_size(path, what, size, limit, share=1):
    if size > limit // share:
        allowed = (f"max_bytes={limit}" if share == 1 else
                   f"max_bytes / {share} = {limit // share} bytes for the description")
        raise FileTooLargeError(
            f"{path}: {what} declares {_gib(size)} of data, more than {allowed} "
            f"(max_bytes is {_gib(limit)}; the default is skgate.MAX_LOAD_BYTES). A file that "
            "inflates far beyond its size (a zip bomb) is refused before anything is read; "
            "if you trust this file to be this large, pass a larger max_bytes to skgate.load."
        )


def _max_bytes(max_bytes):
    if max_bytes is None:
        return MAX_LOAD_BYTES
    if not isinstance(max_bytes, numbers.Integral) or isinstance(max_bytes, bool) or (
        max_bytes < 1
    ):
        raise ValueError(f"max_bytes must be a positive integer (bytes), got {max_bytes!r}.")
    return int(max_bytes)


def _open(path):
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, struct.error, ValueError, EOFError, OverflowError) as exc:
        raise MalformedFileError(
            f"{path} is not a file written by skgate.save (not a zip archive, or a truncated "
            f"or corrupted one: {_why(exc)}). skgate.load never unpickles: load pickle or "
            "joblib files only from sources you trust, with pickle.load or joblib.load.",
            "the archive",
        ) from None


def _entry(archive, path, name, limit, where=None, share=1):
    """The bytes of one entry (a name or a ZipInfo) of ``archive``, its declared size
    checked (against ``limit / share``) before it is inflated."""
    info = name if isinstance(name, zipfile.ZipInfo) else archive.getinfo(name)
    where = where or info.filename
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _malformed(path, where, f"compressed with method {info.compress_type}, which "
                                      "skgate.save never uses.")
    _check_size(path, where, info.file_size, limit, share)
    try:
        data = archive.read(info)
    except _BROKEN as exc:
        raise _malformed(path, where, f"the entry is corrupted ({_why(exc)}).") from None
    if len(data) != info.file_size:
        raise _malformed(path, where, f"{len(data)} bytes instead of the {info.file_size} "
                                      "declared.")
    return data


def _description(archive, path, limit):
    """The JSON description of an open archive, checked; its declared size first."""
    names = set(archive.namelist())
    if _JSON not in names:
        raise MalformedFileError(
            f"{path} is a zip archive but not a file written by skgate.save (no {_JSON}).",
            _JSON)
    raw = _entry(archive, path, _JSON, limit, share=_JSON_SHARE)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _malformed(path, _JSON, f"not valid JSON ({_why(exc)}).") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise MalformedFileError(f"{path} is not a file written by skgate.save.", _JSON)
    if document.get("version") != _VERSION:
        raise MalformedFileError(
            f"{path} was written in format version {document.get('version')!r}; this "
            f"skgate reads version {_VERSION}.", f"{_JSON} version"
        )
    if "root" not in document:
        raise _malformed(path, _JSON, "no 'root' key (the estimator).")
    devices = document.get("devices", [])
    if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
        raise _malformed(path, f"{_JSON} devices", f"not a list of strings: {devices!r:.100}.")
    return document


def _named_types(path, root):
    """The import paths a description names; refuses nesting deeper than ``_MAX_DEPTH``
    and names that are not strings (iterative: a deep file cannot exhaust the stack)."""
    found = set()
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise _malformed(path, _JSON, f"nested deeper than {_MAX_DEPTH} levels.")
        if isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, dict):
            for key in _NAMED:
                if key in node:
                    if not isinstance(node[key], str):
                        raise _malformed(path, _JSON, f"{key} names {node[key]!r:.100}, not an "
                                                      "import path.")
                    found.add(node[key])
            stack.extend((value, depth + 1) for value in node.values())
    return found


def _npy(data, path, where, limit):
    """The arrays of an ``.npz`` archive (``data``), read without pickle: each member's
    declared size and ``.npy`` header are checked before its array is allocated."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, struct.error, ValueError, EOFError, OverflowError) as exc:
        raise _malformed(path, where, f"not an npz archive ({_why(exc)}).") from None
    arrays, total = {}, 0
    with archive:
        for info in archive.infolist():
            member = f"{where}/{info.filename}"
            if not info.filename.endswith(".npy") or info.compress_type not in (
                zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
            ):
                raise _malformed(path, member, "not an .npy member written by numpy.savez.")
            try:
                with archive.open(info) as fp:
                    version = np.lib.format.read_magic(fp)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(fp)
                    if dtype.hasobject:
                        raise UntrustedTypeError(
                            f"{path}: its arrays could not be read without pickle ({member} "
                            "holds Python objects, which numpy can only unpickle).")
                    nbytes = math.prod(shape) * dtype.itemsize
                    if nbytes != info.file_size - fp.tell():
                        raise _malformed(path, member, (
                            f"its header declares shape {shape} of {dtype} ({nbytes} bytes), "
                            f"but the entry declares {info.file_size - fp.tell()} bytes of "
                            "data."))
                    total += nbytes
                    _check_size(path, f"{where} (its arrays together)", total, limit)
                    fp.seek(0)  # read_array reads the header again, then fills the array
                    value = np.lib.format.read_array(fp, allow_pickle=False)
            except (MalformedFileError, UntrustedTypeError, FileTooLargeError):
                raise
            except _BROKEN as exc:
                raise _malformed(path, member, f"not a readable .npy array ({_why(exc)})."
                                 ) from None
            arrays[info.filename.removesuffix(".npy")] = value
    return arrays


def _torch_tensors(data, path, limit, map_location):
    """The ``{key: tensor}`` dict of ``tensors.pt`` (``data``), read with
    ``torch.load(weights_only=True)``, its storages' declared sizes checked first."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, struct.error, ValueError, EOFError, OverflowError):
        declared = len(data)  # not a zip (an old-style torch file): torch refuses it below
    _check_size(path, f"{_TENSORS} (its storages together)", declared, limit)
    try:
        tensors = torch.load(io.BytesIO(data), weights_only=True, map_location=map_location)
    except pickle.UnpicklingError as exc:
        raise UntrustedTypeError(
            f"{path}: its tensors could not be read with torch.load(weights_only=True), "
            f"which refuses anything but tensors: {exc}"
        ) from None
    except _BROKEN as exc:
        raise _malformed(path, _TENSORS, f"unreadable ({_why(exc)}).") from None
    if not isinstance(tensors, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()
    ):
        raise UntrustedTypeError(f"{path}: its tensor file holds something else than tensors.")
    for key, value in tensors.items():
        # an expanded view (stride 0) would take numel * itemsize bytes once computed on
        if value.numel() * value.element_size() > value.untyped_storage().nbytes():
            raise _malformed(path, f"{_TENSORS} {key}",
                             f"a tensor of shape {tuple(value.shape)} over a storage of "
                             f"{value.untyped_storage().nbytes()} bytes (overlapping "
                             "strides), which skgate.save never writes.")
    return tensors


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

    Reads only the file's JSON description: nothing is imported or executed, and the
    arrays and tensors are not read (the description's declared size is checked before it
    is inflated).

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

    Raises
    ------
    MalformedFileError
        If the file is not a well-formed file written by :func:`save` (its
        description is checked; its arrays and tensors are not read).
    FileTooLargeError
        If the description declares more than ``MAX_LOAD_BYTES / 64`` bytes.

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
    allowed = _trusted_names(trusted)
    with _open(path) as archive:
        document = _description(archive, path, MAX_LOAD_BYTES)
    names = _named_types(path, document["root"])
    return sorted(name for name in names if name not in allowed)


def _map_location(devices, path):
    """torch.load's ``map_location`` for tensors saved on ``devices``: None when every
    device exists here; the CPU without CUDA; a GPU index this machine does not have
    (saved on ``cuda:1``, loaded with one GPU) maps to the current GPU. Both warn."""
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        missing = sorted(d for d in devices if str(d).startswith("cuda")
                         and (torch.device(d).index or 0) >= count)
        if not missing:
            return None
        current = f"cuda:{torch.cuda.current_device()}"
        warnings.warn(
            f"{path} holds tensors saved on {', '.join(missing)}, but this machine has "
            f"{count} GPU{'s' if count != 1 else ''}: they are loaded on {current}, and the "
            f"networks' device {'is' if len(missing) == 1 else 'are'} set to it.",
            SkgateWarning,
            stacklevel=3,
        )
        return dict.fromkeys(missing, current)
    on_cuda = sorted(d for d in devices if str(d).startswith("cuda"))
    if on_cuda:
        warnings.warn(
            f"{path} holds tensors saved on {', '.join(on_cuda)}, but CUDA is not available "
            "here: they are loaded on the CPU, and the networks' device is set to 'cpu'.",
            SkgateWarning,
            stacklevel=3,
        )
    return "cpu"


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


def load(path, *, trusted=None, max_bytes=None):
    """Read an estimator written by :func:`save`, executing no code from the file.

    The file's description is checked first: if it names any class or function
    that is neither in the audited allowlist (:data:`TRUSTED_TYPES`: skgate's
    estimators, gates and modules, the scikit-learn, skorch and torch classes
    they are built from) nor in ``trusted``, the file is refused before anything
    is imported. Tensors are read with ``torch.load(weights_only=True)`` and
    arrays with ``numpy.load(allow_pickle=False)``. Tensors saved on a GPU are
    loaded on the CPU, with a warning, when CUDA is not available; the
    networks' ``device`` is then ``"cpu"``.

    Every size is checked as the file declares it, before anything is inflated
    or allocated: the archive's entries, the arrays' ``.npy`` headers, the
    tensors' storages (at most ``max_bytes`` each), and the shapes the
    networks' parameters declare against the stored weights (the networks are
    built on torch's ``"meta"`` device, which allocates nothing, before the
    saved modules replace them).

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    trusted : list of (type or str) or None, default=None
        Your own classes or functions (or their import paths,
        ``"package.module.Name"``) that the file may name, for example your
        torch module's class. Trust only code you would run.
    max_bytes : int or None, default=None
        The most memory, in bytes, the file may make ``load`` allocate (see
        :data:`MAX_LOAD_BYTES`, the default, 1 GiB). Raise it to load a larger
        model you trust.

    Returns
    -------
    estimator : object
        The estimator, as it was saved (see :func:`save` for what is not kept).

    Raises
    ------
    UntrustedTypeError
        If the file names a type that is not trusted (its ``types`` lists them),
        or its tensors or arrays hold anything but tensors and plain arrays.
    MalformedFileError
        If the file is not a well-formed file written by :func:`save` (a pickle
        is refused, never executed), is truncated or corrupted, holds
        non-finite weights, weights of other shapes than its networks'
        parameters declare, or torch hooks. The message says where.
    FileTooLargeError
        If the file declares more than ``max_bytes`` of data.

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
    limit = _max_bytes(max_bytes)
    allowed = _trusted_names(trusted)
    with _open(path) as archive:
        document = _description(archive, path, limit)
        refused = sorted(name for name in _named_types(path, document["root"])
                         if name not in allowed)
        if refused:
            raise UntrustedTypeError(
                f"{path} names types that are not trusted: {refused}. skgate.load rebuilds "
                "only skgate's own estimators and the library types they use "
                "(skgate.TRUSTED_TYPES). If you trust the source and these types, pass them "
                "in trusted=[...].",
                refused,
            )
        names = set(archive.namelist())
        for name in (_ARRAYS, _TENSORS):  # both declared sizes before either is inflated
            if name in names:
                _check_size(path, name, archive.getinfo(name).file_size, limit)
        map_location = _map_location(document.get("devices", ()), path)
        tensors = {}
        if _TENSORS in names:
            tensors = _torch_tensors(_entry(archive, path, _TENSORS, limit), path, limit,
                                     map_location)
        arrays = {}
        if _ARRAYS in names:
            arrays = _npy(_entry(archive, path, _ARRAYS, limit), path, _ARRAYS, limit)
    decoder = _Decoder(path, arrays, tensors, allowed, map_location)
    return decoder.decode(document["root"])
