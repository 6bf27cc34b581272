"""Reading the archive: its size and safety checks, its JSON description and the names
it holds, its arrays (``.npz``) and tensors (``tensors.pt``), all before anything is built."""

import binascii
import io
import json
import math
import numbers
import pickle
import struct
import zipfile
import zlib

import numpy as np
import torch

from ._allowlist import (
    _FORMAT,
    _JSON,
    _JSON_SHARE,
    _TENSORS,
    _VERSION,
    MAX_LOAD_BYTES,
    FileTooLargeError,
    MalformedFileError,
    UntrustedTypeError,
)

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
