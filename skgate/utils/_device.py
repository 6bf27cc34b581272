"""One device vocabulary for the experts and the gates: skorch's, plus ``"auto"``.

Also the helpers that move fitted networks between devices and let objects holding
modules on a GPU be unpickled where there is none.
"""

import inspect
import io
import pickle
import warnings

import torch

from ..exceptions import SkgateWarning


def resolve_device(device, owner="gate"):
    """The torch device of a ``device`` parameter: ``"auto"`` is CUDA when available.

    ``device`` is a string or a :class:`torch.device`, returned as given (``"auto"``
    resolved). Raises a ``ValueError`` naming ``owner``'s ``device`` parameter for a
    device torch does not know, for CUDA on a machine without it, and for a GPU index
    this machine does not have, before any training starts.
    """
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{owner}'s device={device!r} is not a torch device; expected 'auto', 'cpu', "
            "'cuda', 'cuda:<index>' or a torch.device."
        ) from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{owner}'s device={device!r} needs CUDA, which is not available on this "
                "machine; use device='auto' (CUDA when available) or 'cpu'."
            )
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(
                f"{owner}'s device={device!r} names GPU {parsed.index}, but this machine "
                f"has {count} GPU{'s' if count != 1 else ''} (cuda:0 to cuda:{count - 1}); "
                "use one of them, 'cuda' (the current GPU) or 'auto'."
            )
    return device


def module_placement(module, default_device=None):
    """The device and floating dtype of ``module``'s first floating parameter (or buffer):
    where its inputs must go. ``(default_device, float32)`` for a module without one."""
    if isinstance(module, torch.nn.Module):
        for tensor in _tensors_of(module):
            if tensor.is_floating_point():
                return tensor.device, tensor.dtype
    return default_device, torch.float32


def _tensors_of(module):
    yield from module.parameters()
    yield from module.buffers()


def move_module(module, device):
    """``module.to(device)`` in place, for a torch module; anything else is left alone."""
    if isinstance(module, torch.nn.Module):
        module.to(device)
    return module


def move_optimizer_state(optimizer, device):
    """The tensors of an optimizer's state (Adam's moments...) moved to ``device``: the
    parameters they belong to were moved in place (``Module.to`` keeps the objects)."""
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0:  # Adam's step stays
                state[key] = value.to(device)


def move_net(net, device):
    """Move an initialised skorch net (its modules, criteria, optimiser states, and a
    module given as an instance) to ``device``, and set its ``device``."""
    if getattr(net, "initialized_", False):
        for name in [*net._modules, *net._criteria]:
            move_module(getattr(net, name + "_", None), device)
        for name in net._optimizers:
            optimizer = getattr(net, name + "_", None)
            if optimizer is not None:
                move_optimizer_state(optimizer, device)
    move_module(net.__dict__.get("module"), device)
    object.__setattr__(net, "device", device)
    return net


# -- pickling across devices --------------------------------------------------------------
def restore_location(storage, location):
    """torch.load's ``map_location``: a storage saved on a GPU goes back to that GPU when
    this machine has it, to the current GPU when it has another one, to the CPU when it
    has none."""
    if not location.startswith("cuda"):
        return storage
    if not torch.cuda.is_available():
        return storage  # deserialised on the CPU
    index = torch.device(location).index or 0
    if index >= torch.cuda.device_count():
        index = torch.cuda.current_device()
    return storage.cuda(index)


class _MapLocationUnpickler(pickle.Unpickler):
    """Unpickles tensors through ``torch.load`` with :func:`restore_location` (skorch's
    ``_TorchLoadUnpickler`` does the same for its networks' modules)."""

    def find_class(self, module, name):
        if module == "torch.storage" and name == "_load_from_bytes":
            return _load_storage
        return super().find_class(module, name)


def _load_storage(data):
    return torch.load(io.BytesIO(data), map_location=restore_location, weights_only=True)


def dumps_portable(value):
    """``value`` pickled so that :func:`loads_portable` maps its tensors to the devices
    this machine has (a GPU-pickled module unpickles on a CPU-only machine)."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def loads_portable(data):
    """The value :func:`dumps_portable` pickled, its tensors on devices that exist here."""
    return _MapLocationUnpickler(io.BytesIO(data)).load()


def holds_tensors(value):
    """Whether pickling ``value`` may record a device: anything but ``None``, plain
    scalars and strings, classes and functions (pickled by name)."""
    return not (value is None or isinstance(value, (type, str, int, float, bool))
                or inspect.isfunction(value) or inspect.isbuiltin(value))


def cpu_if_cuda_is_missing(device, owner):
    """``device`` as it can be used here: ``"cpu"`` for a CUDA device on a machine
    without CUDA (with a warning naming ``owner``), else unchanged."""
    if device is None or isinstance(device, str) and device == "auto":
        return device
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        return device
    if parsed.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"{owner} was pickled with device={str(device)!r}, but CUDA is not available "
            "here: its tensors are loaded on the CPU and its device is set to 'cpu'.",
            SkgateWarning,
            stacklevel=3,
        )
        return "cpu"
    return device


class _IsModule:
    """Pickled in place of a skorch net's ``module`` parameter when it is ``module_``
    itself (a module given as an instance): restored as that one object."""


class PortableNet:
    """skorch mixin: a net holding modules on a GPU unpickles on a CPU-only machine.

    skorch sends ``module_``, ``criterion_`` and ``optimizer_`` through ``torch.load``
    with a ``map_location``, but not the ``module`` parameter, which holds the module
    itself when it was given as an instance (``Expert.from_pretrained``, the gates'
    networks), nor other parameters holding tensors (``_portable_params``, such as an
    expert's ``input_transform``): unpickling those needed the GPU. Here the ``module``
    parameter that is ``module_`` is pickled as a marker (one object after unpickling,
    as before), and the other parameters holding tensors through the same mapping.
    """

    _portable_params = ("module",)

    def __getstate__(self):
        state = super().__getstate__()
        portable = {}
        for key in self._portable_params:
            if key not in state:
                continue
            value = state[key]
            if key == "module" and value is not None and value is self.__dict__.get(
                    "module_"):
                state[key] = _IsModule
            elif holds_tensors(value):
                portable[key] = state.pop(key)
        if portable:
            state["__skgate_portable__"] = dumps_portable(portable)
        return state

    def __setstate__(self, state):
        packed = state.pop("__skgate_portable__", None)
        given = state.get("device")
        super().__setstate__(state)  # skorch maps a CUDA device to the CPU without CUDA
        if isinstance(given, str) and isinstance(self.__dict__.get("device"), torch.device):
            self.__dict__["device"] = str(self.__dict__["device"])  # a string as given
        if packed is not None:
            self.__dict__.update(loads_portable(packed))
        if self.__dict__.get("module") is _IsModule:
            self.__dict__["module"] = self.__dict__.get("module_")
