"""Reading: check every named type against the allowlist, then rebuild.

The archive's checks and reading are in ``_archive.py``, the rebuilding in ``_decode.py``.
"""

import warnings

import torch

from ..exceptions import SkgateWarning
from ._allowlist import (
    _ARRAYS,
    _TENSORS,
    MAX_LOAD_BYTES,
    TRUSTED_TYPES,
    UntrustedTypeError,
    _path,
)
from ._archive import (
    _check_size,
    _description,
    _entry,
    _max_bytes,
    _named_types,
    _npy,
    _open,
    _torch_tensors,
)
from ._decode import _Decoder


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
