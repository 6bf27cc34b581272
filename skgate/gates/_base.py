"""The small shared base of all gates."""

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils.validation import check_is_fitted

from ..experts._set import ExpertOutputs


def one_hot(index, n_columns):
    """Rows of the identity: ``out[i, index[i]] = 1``."""
    out = np.zeros((len(index), n_columns), dtype=np.float64)
    out[np.arange(len(index)), index] = 1.0
    return out


def resolve_device(device):
    """The torch device of a gate's ``device`` parameter: ``"auto"`` is CUDA when available."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class BaseGate(BaseEstimator):
    """Base class of the gates.

    A gate is a scikit-learn estimator whose input is not a plain array but an
    :class:`~skgate.experts.ExpertOutputs`: the outputs of one forward pass of
    every expert of a mixture over the same input (see ``docs/design.md`` for
    why). It never imports or knows the mixture.

    Subclasses implement ``_fit(outputs, y)`` and ``_route_proba(outputs)``
    and may request activations through ``expert_layers``.
    """

    _parameter_constraints: dict = {}

    #: Whether ``fit`` needs ``y`` (a data-free gate does not).
    _requires_labels = False

    def expert_layers(self):
        """Names of the expert activations the gate needs besides the logits."""
        return ()

    def _trains_experts(self):
        """Whether the gate trains the experts' modules itself (the mixture then only
        initialises the experts that are not frozen)."""
        return False

    def _defines_label_space(self):
        """Whether the gate predicts its own label space (``classes_``, from ``y``)
        rather than the union of the experts' classes."""
        return False

    def _check_outputs(self, outputs, *, reset):
        if not isinstance(outputs, ExpertOutputs):
            raise TypeError(
                f"{type(self).__name__} takes the experts' outputs (skgate.experts.ExpertOutputs, "
                f"from ExpertSet.outputs), got {type(outputs).__name__}. Use it inside a "
                "skgate.MixtureOfExperts."
            )
        if reset:
            self.n_experts_ = outputs.n_experts
        elif outputs.n_experts != self.n_experts_:
            raise ValueError(
                f"{type(self).__name__} was fitted on {self.n_experts_} experts, "
                f"got the outputs of {outputs.n_experts}."
            )
        return outputs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, outputs, y=None):
        """Fit the gate on the experts' outputs.

        Parameters
        ----------
        outputs : ExpertOutputs
            One forward pass of every expert over the gate's fit data.
        y : array-like of shape (n_samples,) or None
            Labels in the mixture's label space; data-free gates ignore them.

        Returns
        -------
        self : object
        """
        outputs = self._check_outputs(outputs, reset=True)
        if y is None and self._requires_labels:
            raise ValueError(f"{type(self).__name__} needs labels y to be fitted.")
        self._fit(outputs, y)
        return self

    def _fit(self, outputs, y):
        """Learn from the outputs; ``outputs.expert_set.owners(y)`` says who owns what."""
        return self

    def route_proba(self, outputs):
        """Per-sample weights over the experts, shape ``(n_samples, n_experts)``.

        Rows sum to 1; hard gates return one-hot rows.
        """
        check_is_fitted(self)
        return self._route_proba(self._check_outputs(outputs, reset=False))

    def predict_proba(self, outputs):
        """The mixture's probabilities: each expert's, in the union label space, weighted
        by :meth:`route_proba`."""
        return outputs.expert_set.combine(outputs.probas, self.route_proba(outputs))

    def route(self, outputs):
        """Index of the expert with the largest weight for each sample."""
        return self.route_proba(outputs).argmax(axis=1)
