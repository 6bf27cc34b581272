"""How the mixture reads the gate contract: :func:`get_gate_tags` (what a gate declares, its
GateTags) and :func:`get_gate_fit` (what a fitted gate hands back, its GateFit), each
checked. The two dataclasses are defined with BaseGate in ``_base.py`` (where files saved by
``skgate.save`` name GateTags)."""

from collections.abc import Mapping
from dataclasses import replace

from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from ._base import BaseGate, GateFit, GateTags


def get_gate_tags(gate):
    """The :class:`GateTags` of a gate, checked for consistency.

    A gate wrapped in :class:`sklearn.frozen.FrozenEstimator` is used as it is:
    its ``fit`` does nothing, so it is data-free and needs no labels, whatever
    the gate inside would need to be fitted.

    Parameters
    ----------
    gate : BaseGate or sklearn.frozen.FrozenEstimator
        A gate, fitted or not, or a fitted gate wrapped in
        :class:`~sklearn.frozen.FrozenEstimator`.

    Returns
    -------
    tags : GateTags
        What the gate needs and does (for a frozen gate: data-free, no labels).

    Raises
    ------
    TypeError
        If ``gate`` is not a :class:`BaseGate` (or a frozen one).
    ValueError
        If the tags contradict each other.

    Examples
    --------
    A :class:`~skgate.gates.PANGate` learns from labels, unless it is fitted and frozen:

    >>> import numpy as np
    >>> from sklearn.frozen import FrozenEstimator
    >>> from skgate.gates import PANGate, get_gate_tags
    >>> get_gate_tags(PANGate()).requires_labels
    True
    >>> from skgate import MixtureOfExperts
    >>> from skgate.utils._testing import slice_expert
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)).astype(np.float32)
    >>> y = X.argmax(axis=1)
    >>> experts = [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]
    >>> pan = PANGate(features="logits", max_epochs=2, random_state=0)
    >>> fitted = MixtureOfExperts(experts, gate=pan).fit(X, y).gate_
    >>> tags = get_gate_tags(FrozenEstimator(fitted))
    >>> tags.requires_labels, tags.data_free
    (False, True)
    """
    inner = gate.estimator if isinstance(gate, FrozenEstimator) else gate
    if not isinstance(inner, BaseGate):
        raise TypeError(
            f"The gate must be a skgate gate (a subclass of skgate.gates.BaseGate), or one "
            f"wrapped in sklearn.frozen.FrozenEstimator; got {type(inner).__name__}."
        )
    tags = inner.gate_tags()
    if not isinstance(tags, GateTags):
        raise TypeError(
            f"{type(inner).__name__}.gate_tags() must return a GateTags, got "
            f"{type(tags).__name__}."
        )
    if tags.data_free and (tags.requires_labels or tags.trains_experts):
        raise ValueError(
            f"{type(inner).__name__} declares itself data-free but also that it "
            f"{'needs labels' if tags.requires_labels else 'trains the experts'}."
        )
    if tags.routes_inputs and tags.trains_experts:
        raise ValueError(
            f"{type(inner).__name__} declares that it routes from the input alone and also "
            "that it trains the experts; a router needs fitted experts."
        )
    layers = tags.expert_layers
    values = layers.values() if isinstance(layers, Mapping) else [layers]
    if not all(isinstance(v, tuple | list) and all(isinstance(n, str) for n in v)
               for v in values):
        raise TypeError(
            f"{type(inner).__name__}'s expert_layers must be a tuple of layer names or a "
            f"mapping of expert name to such tuples, got {layers!r}."
        )
    declared = inner.expert_layers()
    if tags.expert_layers != declared:
        raise ValueError(
            f"{type(inner).__name__}.gate_tags() says the gate reads the layers "
            f"{tags.expert_layers!r} but its expert_layers() returns {declared!r}: declare "
            "the layers by overriding expert_layers() only."
        )
    if isinstance(gate, FrozenEstimator):
        check_is_fitted(inner, msg=(
            f"The frozen {type(inner).__name__} is not fitted: fit a gate before wrapping it "
            "in FrozenEstimator."))
        if tags.trains_experts or tags.defines_label_space:
            raise ValueError(
                f"A frozen {type(inner).__name__} cannot be reused: it trains the experts or "
                "defines its own label space, which needs fitting."
            )
        tags = replace(tags, requires_labels=False, data_free=True)
    return tags


def get_gate_fit(gate, *, n_experts=None):
    """The :class:`GateFit` of a fitted gate, checked against its tags.

    Parameters
    ----------
    gate : BaseGate or sklearn.frozen.FrozenEstimator
        A fitted gate, or a fitted gate wrapped in
        :class:`~sklearn.frozen.FrozenEstimator`.
    n_experts : int or None, default=None
        The number of experts the gate is about to serve: a gate bound to
        another number raises. ``None`` checks nothing.

    Returns
    -------
    fit : GateFit
        What the mixture takes from the fitted gate.

    Raises
    ------
    ValueError
        If the gate is not fitted, its :class:`GateFit` lacks what its tags
        promise (classes for ``defines_label_space``, one module per expert for
        ``trains_experts``), or it is bound to another number of experts than
        ``n_experts``.

    Examples
    --------
    >>> import numpy as np
    >>> from skgate import MixtureOfExperts
    >>> from skgate.gates import PANGate, get_gate_fit
    >>> from skgate.utils._testing import slice_expert
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 4)).astype(np.float32)
    >>> y = X.argmax(axis=1)
    >>> experts = [("a", slice_expert(4, 0, [0, 1])), ("b", slice_expert(4, 2, [2, 3]))]
    >>> pan = PANGate(features="logits", max_epochs=2, random_state=0)
    >>> get_gate_fit(MixtureOfExperts(experts, gate=pan).fit(X, y).gate_).n_experts
    2
    """
    tags = get_gate_tags(gate)
    inner = gate.estimator if isinstance(gate, FrozenEstimator) else gate
    check_is_fitted(inner)
    fit = inner.gate_fit()
    name = type(inner).__name__
    if not isinstance(fit, GateFit):
        raise TypeError(f"{name}.gate_fit() must return a GateFit, got {type(fit).__name__}.")
    if tags.defines_label_space and fit.classes is None:
        raise ValueError(f"{name} defines its own label space but its GateFit has no classes.")
    if tags.trains_experts and (fit.expert_modules is None or (
            fit.n_experts is not None and len(fit.expert_modules) != fit.n_experts)):
        raise ValueError(
            f"{name} trains the experts but its GateFit does not hold one trained module per "
            "expert.")
    if n_experts is not None and fit.n_experts is not None and fit.n_experts != n_experts:
        frozen = "frozen " if isinstance(gate, FrozenEstimator) else ""
        raise ValueError(
            f"The {frozen}{name} was fitted on {fit.n_experts} experts and is bound to them; "
            f"this mixture has {n_experts}. Fit a gate on these experts, or use a gate that "
            "works with any experts (UniversalGate)."
        )
    return fit
