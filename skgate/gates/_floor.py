"""FloorGate: a learned gate that is used only where it validates above a data-free floor."""

from dataclasses import replace
from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from ..utils._param_validation import HasMethods, Interval
from ._base import BaseGate
from ._contract import get_gate_tags
from ._level_selection import FEW_LABELS, clearly_better, held_out_hits
from ._naive import NaiveConcatGate


class FloorGate(BaseGate):
    """A learned gate, kept only if internal validation shows it routes above a floor.

    A gate that learns from labels (:class:`PANGate`, :class:`SoftMoE` over frozen
    experts) can end up below the data-free energy gate when it has few labels, a
    hard pair of experts or an unlucky split. ``FloorGate`` cross-validates the
    learned gate on the labels it is given and compares, sample by sample, how
    often it and the floor route each held-out sample right. The learned gate
    (refitted on all the labels) is used only if it wins on clearly more samples
    than it loses: by more than two standard deviations of a sign test with
    fewer than 20 labelled samples per expert, by one from 20 on. Otherwise the
    floor routes.

    Unlabelled samples (``-1`` in ``y``) are ignored: it learns from the labelled
    samples only (a mixture does not even run the experts over the others).

    Parameters
    ----------
    gate : gate estimator
        The learned gate (it must need labels).
    floor : gate estimator or None, default=None
        A data-free gate; ``None`` means ``NaiveConcatGate("energy")``.
    cv : int, default=3
        Folds of the internal cross-validation (fewer if an expert owns fewer
        labelled samples; with fewer than two per expert the floor is kept).
    cv_repeats : int, default=1
        Repeats of the cross-validation with other folds.
    random_state : int, RandomState instance or None, default=None
        Seeds the folds.

    Attributes
    ----------
    gate_ : gate estimator
        The fitted learned gate, or None when the floor was kept.
    floor_ : gate estimator
        The fitted floor.
    chosen_ : {"gate", "floor"}
        Which one routes.
    cv_scores_ : dict of str to float
        The cross-validated routing accuracy of ``"gate"`` and ``"floor"`` (empty
        when there were too few labels to validate).
    n_experts_ : int

    See Also
    --------
    UniversalGate : Anchored on energy by construction, with the same validation rule.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skgate import Expert, MixtureOfExperts
    >>> from skgate.gates import FloorGate, PANGate
    >>> def slice_expert(start, classes):  # a frozen expert: two columns of X as logits
    ...     module = torch.nn.Linear(4, 2, bias=False)
    ...     module.weight.data = torch.eye(4)[start : start + 2]
    ...     return Expert.from_pretrained(module, classes=classes)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 4)).astype(np.float32)
    >>> y = X.argmax(axis=1)
    >>> experts = [("a", slice_expert(0, [0, 1])), ("b", slice_expert(2, [2, 3]))]
    >>> gate = FloorGate(PANGate(features="logits", max_epochs=2, random_state=0),
    ...                  random_state=0)
    >>> moe = MixtureOfExperts(experts, gate=gate).fit(X, y)

    Two epochs of PAN on 20 samples route the held-out samples worse than
    energy, so the floor is kept and the learned gate dropped:

    >>> moe.gate_.cv_scores_
    {'gate': 0.7, 'floor': 0.9}
    >>> moe.gate_.chosen_, moe.gate_.gate_ is None
    ('floor', True)
    """

    _parameter_constraints = {
        "gate": [HasMethods(["fit", "route_proba"])],
        "floor": [HasMethods(["fit", "route_proba"]), None],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "cv_repeats": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, gate, floor=None, *, cv=3, cv_repeats=1, random_state=None):
        self.gate = gate
        self.floor = floor
        self.cv = cv
        self.cv_repeats = cv_repeats
        self.random_state = random_state

    def to(self, device):
        """Move the wrapped gates (``gate``, ``floor`` and their fitted copies) to
        ``device`` in place, as the gates that train networks do.

        Parameters
        ----------
        device : str or torch.device

        Returns
        -------
        self : FloorGate
        """
        for gate in (self.gate, self.floor, getattr(self, "gate_", None),
                     getattr(self, "floor_", None)):
            if hasattr(gate, "to"):
                gate.to(device)
        return self

    def _floor(self):
        return NaiveConcatGate("energy") if self.floor is None else self.floor

    def expert_layers(self):
        layers = [*get_gate_tags(self.gate).expert_layers,
                  *get_gate_tags(self._floor()).expert_layers]
        return tuple(dict.fromkeys(layers))

    def gate_tags(self):
        return replace(super().gate_tags(), requires_labels=True)

    def _check_params(self):
        inner, floor = get_gate_tags(self.gate), get_gate_tags(self._floor())
        if not floor.data_free:
            raise ValueError(
                f"The floor must be a data-free gate (a NaiveConcatGate, say); "
                f"{type(self._floor()).__name__} learns from data."
            )
        if inner.trains_experts or inner.defines_label_space:
            raise ValueError(
                "FloorGate compares routings over the same experts: its gate cannot train "
                "the experts or predict its own label space."
            )

    def _fit(self, outputs, y):
        self._check_params()
        owners = outputs.expert_set.owners(y)
        self.floor_ = clone(self._floor()).fit(outputs)
        self.cv_scores_ = {}
        self.gate_, self.chosen_ = None, "floor"
        y = np.asarray(y)

        def fit_and_route(train, test):
            gate = clone(self.gate).fit(outputs.subset(train), y[train])
            return gate.route_proba(outputs.subset(test)).argmax(axis=1)

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        hits = held_out_hits(owners, fit_and_route, cv=self.cv, repeats=self.cv_repeats,
                             seed=seed)
        if hits is None:  # too few labels to validate
            return self
        rows = np.arange(len(owners))
        floor_right = owners[rows, self.floor_.route_proba(outputs).argmax(axis=1)]
        floor_hits = floor_right * self.cv_repeats
        self.cv_scores_ = {"gate": float(hits.mean() / self.cv_repeats),
                           "floor": float(floor_right.mean())}
        sigmas = 2.0 if owners.sum(axis=0).min() < FEW_LABELS else 1.0
        if clearly_better(hits, floor_hits, sigmas=sigmas):
            self.gate_, self.chosen_ = clone(self.gate).fit(outputs, y), "gate"
        return self

    def _route_proba(self, outputs):
        return (self.gate_ if self.chosen_ == "gate" else self.floor_).route_proba(outputs)
