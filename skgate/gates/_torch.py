"""TorchGate: the shared base of the gates that train torch networks with skorch."""

from numbers import Integral, Real

import torch

from ..utils._device import resolve_device
from ..utils._param_validation import Interval, InvalidParameterError
from ._base import BaseGate

#: the prefix of the optimizer's own parameters, as in skorch
OPTIMIZER_PREFIX = "optimizer__"


class TorchGate(BaseGate):
    """Base of the gates that train networks with skorch (:class:`PANGate`, :class:`SoftMoE`).

    It holds the parameter constraints these gates share (``optimizer``, ``lr``,
    ``batch_size``, ``device``, ``random_state``, ``verbose``) and, as skorch does, the
    optimizer's own parameters given with the prefix ``optimizer__`` (for example
    ``optimizer__weight_decay=1e-2`` or ``optimizer__momentum=0.9``): they are passed to
    the optimizer, appear in ``get_params``, can be set with ``set_params`` and searched
    (``{"gate__optimizer__weight_decay": [...]}`` over a mixture).

    A subclass passes its ``**optimizer_params`` to ``_set_optimizer_params`` in
    ``__init__`` and builds its skorch nets with ``_optimizer_kwargs()`` (the
    optimizer and its prefixed parameters, as skorch takes them) and ``_device()``
    (the ``device`` parameter resolved, ``"auto"`` included); the rest of the
    contract is :class:`BaseGate`'s.

    Examples
    --------
    >>> from skgate.gates import PANGate, TorchGate
    >>> issubclass(PANGate, TorchGate)
    True
    >>> gate = PANGate(optimizer__weight_decay=1e-2)
    >>> gate.get_params()["optimizer__weight_decay"]
    0.01
    >>> gate._optimizer_kwargs()["optimizer__weight_decay"]  # for a skorch net
    0.01
    """

    _parameter_constraints = {
        "optimizer": [callable],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def _set_optimizer_params(self, params):
        # stored as given; checked in fit, as scikit-learn estimators check their parameters
        self._optimizer_params = dict(params)

    def _validate_params(self):
        super()._validate_params()
        unknown = sorted(key for key in getattr(self, "_optimizer_params", {})
                         if not key.startswith(OPTIMIZER_PREFIX) or key == OPTIMIZER_PREFIX)
        if unknown:
            raise InvalidParameterError(
                f"{type(self).__name__} got unexpected parameters {unknown}; besides its "
                "named parameters it takes only the optimizer's, prefixed with "
                f"{OPTIMIZER_PREFIX!r} (for example optimizer__weight_decay=1e-2)."
            )

    def _optimizer_kwargs(self):
        """The optimizer and its prefixed parameters, as skorch nets take them."""
        return {"optimizer": self.optimizer, **getattr(self, "_optimizer_params", {})}

    def _device(self):
        return resolve_device(self.device, type(self).__name__)

    def to(self, device):
        """Move the gate's fitted networks to ``device`` in place and set its ``device``
        parameter (a refit trains there too).

        Parameters
        ----------
        device : str or torch.device
            ``"cpu"``, ``"cuda"``, ``"cuda:<index>"``, ``"auto"`` or a
            :class:`torch.device`.

        Returns
        -------
        self : gate
        """
        device = resolve_device(device, type(self).__name__)
        self.device = device
        self._move_networks(device)
        return self

    def _move_networks(self, device):
        """Move the fitted networks (a subclass knows them) to ``device``."""

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(getattr(self, "_optimizer_params", {}))
        return params

    def set_params(self, **params):
        extra = getattr(self, "_optimizer_params", {})
        prefixed = {key: params.pop(key) for key in list(params)
                    if key.startswith(OPTIMIZER_PREFIX) or key in extra}
        if prefixed:
            self._set_optimizer_params({**extra, **prefixed})
        return super().set_params(**params)
