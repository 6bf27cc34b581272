"""BaseGate, the small shared base of all gates, the contract's two dataclasses (GateTags,
GateFit; ``_contract.py`` reads them), and helpers of the gates that learn from labels."""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..experts._set import ExpertOutputs
from ..utils._device import (
    cpu_if_cuda_is_missing,
    dumps_portable,
    loads_portable,
    resolve_device,  # noqa: F401 (imported from here by gates)
)
from ..utils._labels import marker_is_a_class, unlabelled_mask
from ..utils._param_validation import ParamValidationMixin, fit_context
from ..utils._warnings import warn_user


def _device_dependent(value):
    """A torch module or tensor, or a list or tuple holding one."""
    if isinstance(value, list | tuple):
        return any(isinstance(item, torch.nn.Module | torch.Tensor) for item in value)
    return isinstance(value, torch.nn.Module | torch.Tensor)


def warn_unowned(gate, owners, names):
    """Warn when an expert owns none of the labelled samples: a gate that learns its routes
    from the labels' owners can then never learn to choose that expert."""
    unowned = [name for name, owns in zip(names, np.asarray(owners).any(axis=0)) if not owns]
    if unowned:
        warn_user(
            f"{type(gate).__name__}: no labelled sample belongs to the expert(s) {unowned}, "
            "so the gate cannot learn to route to them and sends their inputs to the other "
            "experts. Give labelled samples of every expert's classes, or use a gate that "
            "needs none (NaiveConcatGate, UniversalGate) or FloorGate."
        )


def no_labels_error(gate):
    """The error of a gate that learns from labelled samples only, given none."""
    return ValueError(
        f"{type(gate).__name__} learns from labelled samples only, and every label of y is "
        "-1 (unlabelled). Give some labelled samples, or use a gate that learns from "
        "unlabelled ones (UniversalGate, FastRouter).")


def unlabelled_samples(y, outputs):
    """Which samples of ``y`` are unlabelled (``-1``), unless ``-1`` is a class of the
    experts (an expert that learned its classes from ``y``): then none is."""
    mask = unlabelled_mask(y)
    if mask.any() and marker_is_a_class(outputs.expert_set.classes_):
        return np.zeros_like(mask)
    return mask


@dataclass(frozen=True)
class GateTags:
    """What a gate needs from the mixture and what it does: the whole gate contract.

    A gate declares its tags with :meth:`BaseGate.gate_tags`; the mixture reads
    them with :func:`get_gate_tags` (which also understands a gate wrapped in
    :class:`sklearn.frozen.FrozenEstimator`), and what the fitted gate hands
    back with :func:`get_gate_fit`: nothing else.

    Parameters
    ----------
    requires_labels : bool
        ``fit`` needs ``y``.
    data_free : bool
        ``fit`` learns nothing from data: the mixture fits it on one sample
        (to check the experts' input format) and without ``y``.
    trains_experts : bool
        The gate trains the experts' modules itself; the mixture only
        initialises the experts that are not frozen. The gate trains copies of
        the modules (it never changes the experts it is given) and exposes them,
        in the experts' order, in its :class:`GateFit`; the mixture puts them in
        its own experts and records them as trained.
    defines_label_space : bool
        The gate predicts its own label space (the ``classes`` of its
        :class:`GateFit`, from ``y``) instead of the union of the experts' classes.
    expert_layers : tuple of str, or mapping of expert name to tuple of str
        The expert activations the gate reads besides the logits. A gate declares
        them by overriding :meth:`BaseGate.expert_layers` (one way only:
        :func:`get_gate_tags` refuses tags that disagree with it).
    any_experts : bool
        The fitted gate works with any set of experts (any number, any label
        spaces), not only the ones it was fitted on, so it can be reused frozen.
    routes_inputs : bool
        At predict, the gate decides from the input alone (``outputs.X``), before
        any expert runs: the mixture asks it for the weights first and runs each
        expert only on the samples with a non-zero weight for it. ``fit`` still
        gets every expert's outputs.
    uses_unlabelled : bool
        ``fit`` learns from unlabelled samples (label ``-1``) too; a gate
        without the tag is fitted on the labelled samples only.
    max_unlabelled : int or None
        The most unlabelled samples the gate reads: the mixture passes a random
        subset of that size. ``None``: all of them.

    See Also
    --------
    GateFit : What a fitted gate hands back to the mixture.

    Examples
    --------
    >>> from skgate.gates import NaiveConcatGate, PANGate, get_gate_tags
    >>> get_gate_tags(NaiveConcatGate()).data_free
    True
    >>> tags = get_gate_tags(PANGate(features="logits"))
    >>> tags.requires_labels, tags.data_free
    (True, False)
    """

    requires_labels: bool = False
    data_free: bool = False
    trains_experts: bool = False
    defines_label_space: bool = False
    expert_layers: tuple | Mapping = ()
    any_experts: bool = False
    routes_inputs: bool = False
    uses_unlabelled: bool = False
    max_unlabelled: int | None = None


@dataclass(frozen=True, eq=False)
class GateFit:
    """What a fitted gate hands back to the mixture: the rest of the gate contract.

    :class:`GateTags` say what a gate needs and does; a fitted gate's
    :meth:`BaseGate.gate_fit` returns this, and the mixture reads it through
    :func:`get_gate_fit`, after ``fit``. Together with the gate's ``fit``,
    ``route_proba`` and ``predict_proba`` that is everything the mixture reads
    from a gate.

    Parameters
    ----------
    n_experts : int or None
        The number of experts the fitted gate is bound to (``n_experts_``,
        recorded by :meth:`BaseGate.fit`); ``None`` for a gate that works with
        any experts (the ``any_experts`` tag).
    classes : ndarray or None
        The gate's own label space (its ``classes_``), for a gate with the
        ``defines_label_space`` tag; ``None`` otherwise.
    expert_modules : tuple of torch.nn.Module or None
        The trained copies of the experts' modules (its ``expert_modules_``), in
        the experts' order, for a gate with the ``trains_experts`` tag; ``None``
        otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from skgate import MixtureOfExperts
    >>> from skgate.gates import NaiveConcatGate, get_gate_fit
    >>> from skgate.utils._testing import slice_expert
    >>> X = np.array([[3, 1, 0, 2], [0, 1, 5, 0]], dtype=np.float32)
    >>> experts = [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]
    >>> gate = MixtureOfExperts(experts, gate=NaiveConcatGate()).fit(X).gate_
    >>> get_gate_fit(gate)
    GateFit(n_experts=2, classes=None, expert_modules=None)
    """

    n_experts: int | None = None
    classes: np.ndarray | None = None
    expert_modules: tuple | None = None


class BaseGate(ParamValidationMixin, BaseEstimator):
    """Base class of the gates.

    A gate is a scikit-learn estimator whose input is not a plain array but an
    :class:`~skgate.experts.ExpertOutputs`: the outputs of one forward pass of
    every expert of a mixture over the same input (see ``docs/design.md`` for
    why). It never imports or knows the mixture.

    Subclasses implement ``_fit(outputs, y)`` and ``_route_proba(outputs)``,
    declare what they need in :meth:`gate_tags`, and may request activations
    through :meth:`expert_layers`.

    Examples
    --------
    A new data-free gate: the expert with the largest logit answers.

    >>> from dataclasses import replace
    >>> import numpy as np
    >>> from skgate import MixtureOfExperts
    >>> from skgate.gates import BaseGate
    >>> from skgate.utils._testing import slice_expert
    >>> class LargestLogitGate(BaseGate):
    ...     def gate_tags(self):
    ...         return replace(super().gate_tags(), data_free=True)
    ...
    ...     def _route_proba(self, outputs):
    ...         scores = np.stack([z.max(axis=1) for z in outputs.logits], axis=1)
    ...         return np.eye(outputs.n_experts)[scores.argmax(axis=1)]
    >>> X = np.array([[3, 1, 0, 2], [0, 1, 5, 0]], dtype=np.float32)
    >>> experts = [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]
    >>> moe = MixtureOfExperts(experts, gate=LargestLogitGate()).fit(X)
    >>> moe.route(X), moe.predict(X)
    (array([0, 1]), array([0, 2]))
    """

    _parameter_constraints: dict = {}

    def to(self, device):
        """Move the gate's fitted networks to ``device`` in place; set its ``device``.

        Gates that run no network of their own (:class:`NaiveConcatGate`,
        :class:`AugmentedGate`, :class:`UniversalGate`, which computes on the CPU)
        are left as they are; gates that wrap others move them.

        Parameters
        ----------
        device : str or torch.device

        Returns
        -------
        self : gate
        """
        return self

    def __reduce_ex__(self, protocol):
        # pickle (and copy) only: skgate.save reads __getstate__, and writes the modules
        # as tensors of its own
        reduced = list(super().__reduce_ex__(protocol))
        if len(reduced) > 2 and isinstance(reduced[2], dict):
            state = self._portable_state(dict(reduced[2]))  # never self.__dict__ itself
            # attributes holding torch modules or tensors outside a skorch network go
            # through torch's loader with a device mapping: a gate fitted on a GPU
            # unpickles on a machine without one (skorch does it for its networks)
            portable = {key: state.pop(key) for key in list(state)
                        if _device_dependent(state[key])}
            if portable:
                state["__skgate_portable__"] = dumps_portable(portable)
            reduced[2] = state
        return tuple(reduced)

    def _portable_state(self, state):
        """The state to pickle, before the portable attributes are packed (a subclass
        replaces what it can restore from elsewhere)."""
        return state

    def __setstate__(self, state):
        packed = state.pop("__skgate_portable__", None)
        if "device" in state:
            state["device"] = cpu_if_cuda_is_missing(state["device"], type(self).__name__)
        super().__setstate__(state)
        if packed is not None:
            self.__dict__.update(loads_portable(packed))
        self._restore_state()

    def _restore_state(self):
        """After unpickling: restore what :meth:`_portable_state` left out."""

    def expert_layers(self):
        """Names of the expert activations the gate needs besides the logits.

        The one place a gate declares them: :meth:`gate_tags` reports them as
        its ``expert_layers`` tag.

        Returns
        -------
        layers : tuple of str, or mapping of expert name to tuple of str
            ``"penultimate"`` or names of the experts' submodules; ``()`` (the
            default) for the logits only.
        """
        return ()

    def gate_tags(self):
        """The gate's :class:`GateTags`; subclasses ``replace`` what differs.

        Returns
        -------
        tags : GateTags
            What the gate needs from the mixture and what it does.
        """
        return GateTags(expert_layers=self.expert_layers())

    def gate_fit(self):
        """What the fitted gate hands back to the mixture.

        The default reads the attributes of the convention: ``n_experts_``
        (unless the gate works with any experts), ``classes_`` (with the
        ``defines_label_space`` tag) and ``expert_modules_`` (with the
        ``trains_experts`` tag). Override it only for another layout.

        Returns
        -------
        fit : GateFit
        """
        tags = self.gate_tags()
        modules = self.expert_modules_ if tags.trains_experts else None
        return GateFit(
            n_experts=None if tags.any_experts else getattr(self, "n_experts_", None),
            classes=self.classes_ if tags.defines_label_space else None,
            expert_modules=None if modules is None else tuple(modules),
        )

    def _check_outputs(self, outputs, *, reset):
        if not isinstance(outputs, ExpertOutputs):
            raise TypeError(
                f"{type(self).__name__} takes the experts' outputs (skgate.experts.ExpertOutputs, "
                f"from ExpertSet.outputs), got {type(outputs).__name__}. Use it inside a "
                "skgate.MixtureOfExperts."
            )
        if reset:
            if not self.gate_tags().any_experts:
                self.n_experts_ = outputs.n_experts
        elif hasattr(self, "n_experts_") and outputs.n_experts != self.n_experts_:
            raise ValueError(
                f"{type(self).__name__} was fitted on {self.n_experts_} experts, "
                f"got the outputs of {outputs.n_experts}."
            )
        return outputs

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, outputs, y=None):
        """Fit the gate on the experts' outputs.

        Parameters
        ----------
        outputs : ExpertOutputs
            One forward pass of every expert over the gate's fit data.
        y : array-like of shape (n_samples,) or None
            Labels in the mixture's label space; ``-1`` marks an unlabelled
            sample (:func:`skgate.utils.unlabelled_mask`). Data-free gates ignore
            ``y``; a gate whose tags do not say ``uses_unlabelled`` is fitted on
            the labelled samples only.

        Returns
        -------
        self : object
        """
        outputs = self._check_outputs(outputs, reset=True)
        tags = self.gate_tags()
        if y is not None and not (tags.uses_unlabelled or tags.defines_label_space):
            y = np.asarray(y)
            labelled = ~unlabelled_samples(y, outputs)
            if not labelled.any() and tags.requires_labels:
                raise no_labels_error(self)
            if not labelled.all():  # the pool is ignored: the labelled samples only
                outputs, y = outputs.subset(np.flatnonzero(labelled)), y[labelled]
            if not len(y):
                y = None
        if y is None and tags.requires_labels:
            raise ValueError(f"{type(self).__name__} needs labels y to be fitted.")
        self._fit(outputs, y)
        return self

    def _fit(self, outputs, y):
        """Learn from the outputs; ``outputs.expert_set.owners(y)`` says who owns what."""
        return self

    def route_proba(self, outputs):
        """Per-sample weights over the experts, shape ``(n_samples, n_experts)``.

        Rows sum to 1; hard gates return one-hot rows.

        Parameters
        ----------
        outputs : ExpertOutputs
            One forward pass of every expert (with the layers the gate reads).

        Returns
        -------
        weights : ndarray of shape (n_samples, n_experts)
            The weight of each expert for each sample.

        Raises
        ------
        ValueError
            If the gate's weights are not finite (NaN or infinity), as for an
            expert's non-finite outputs: a gate never routes on them silently.
        """
        check_is_fitted(self)
        weights = self._route_proba(self._check_outputs(outputs, reset=False))
        finite = np.isfinite(weights).all(axis=1)
        if not finite.all():
            raise ValueError(
                f"{type(self).__name__} returned non-finite routing weights (NaN or "
                f"infinity) for {np.count_nonzero(~finite)} of {len(finite)} samples (first: "
                f"sample {np.flatnonzero(~finite)[0]}). Check the gate's weights, and the "
                "input for extreme values."
            )
        return weights

    def predict_proba(self, outputs):
        """The mixture's probabilities: each expert's, in the union label space, weighted
        by :meth:`route_proba`.

        Parameters
        ----------
        outputs : ExpertOutputs
            One forward pass of every expert.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities over the union of the experts' classes
            (``outputs.expert_set.classes_``).
        """
        return outputs.expert_set.combine(outputs.probas, self.route_proba(outputs))

    def route(self, outputs):
        """Index of the expert with the largest weight for each sample.

        Parameters
        ----------
        outputs : ExpertOutputs
            One forward pass of every expert.

        Returns
        -------
        route : ndarray of shape (n_samples,)
            The argmax of :meth:`route_proba`.
        """
        return self.route_proba(outputs).argmax(axis=1)
