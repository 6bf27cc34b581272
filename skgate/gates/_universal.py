"""UniversalGate: one attribution network for all experts (SC2), anchored on energy.

The gate's parameters and its fit live here; its parts live in their own modules: the
shared correction (``_universal_correction.py``), the per-expert calibration
(``_universal_calibration.py``), the choice of a calibration level
(``_level_selection.py``, shared with FloorGate), the correction's files
(``_universal_io.py``), the pool (``_universal_pool.py``) and its fit
(``_universal_pool_fit.py``).
"""

from dataclasses import replace
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from scipy.special import softmax

from ..utils._arrays import one_hot
from ..utils._param_validation import Interval, StrOptions
from ._base import BaseGate, unlabelled_samples
from ._level_selection import (
    CALIBRATIONS,
    READS_ACTIVATIONS,
    LevelSelectionMixin,
)
from ._universal_calibration import CalibrationMixin, PoolMixin
from ._universal_correction import SharedCorrectionMixin
from ._universal_features import FEATURE_SETS
from ._universal_io import CorrectionIOMixin
from ._universal_modules import _rows
from ._universal_pool_fit import PoolFitMixin

#: calibrations the pool may fit (``pool_calibration``)
POOL_CALIBRATIONS = ("affine", "features", "network", "activations")


class UniversalGate(CorrectionIOMixin, SharedCorrectionMixin, CalibrationMixin,
                    LevelSelectionMixin, PoolMixin, PoolFitMixin, BaseGate):
    """One attribution network for every expert, anchored on energy (SC2).

    The smart coordinator SC2 of Kang, Chua and Maul, made safe to reuse. Each
    expert gets a score from statistics of its own logits that do not depend
    on its architecture (energy, max logit, max probability, entropy, margins,
    normalised top logits, the number of classes; or the paper's five
    statistics), through one network shared by all experts:

        score_k = energy_k + correction(statistics_k)

    and the routing is the softmax (or argmax) of the scores over the experts.
    The correction starts at zero and is penalised toward zero, so a gate with
    no data routes exactly as the energy statistic does, and a learned
    correction can only move away from energy as far as the labels justify.

    Because it scores each expert separately, a fitted gate works with any
    number of experts of any kind: wrap it in
    :class:`sklearn.frozen.FrozenEstimator` and give it to a mixture of other
    experts, or use :meth:`pretrained`, a correction shipped with skgate.

    With labels from the mixture's own problem it also calibrates itself per
    expert (which binds it to these experts): a scale and a shift of each
    expert's score, then a linear correction of its statistics, then a small
    network on its logits or on its activations, chosen by internal
    cross-validation among those the number of labels allows
    (``calibration="auto"``).

    It also learns from unlabelled inputs (a pool): samples labelled ``-1``
    in ``y`` (scikit-learn's convention), or every sample when ``y`` is None,
    and the inputs of the labelled ones. The uncalibrated scores choose an
    expert for each pool input; the more confident half of each expert's
    choices become its pseudo-labels, on which the ``pool_calibration`` level
    is fitted, penalised toward the identity. This corrects an expert whose
    energies run hot on the others' inputs. A second view (a logistic
    regression on the experts' activations) checks the choices; when it
    reproduces them, the calibration is refitted where the two views agree.
    With no labels the pool calibration is used when every expert has at
    least 50 pseudo-labels (``MIN_POOL``); labels drop it, refit it with
    them, or replace it only where they show clearly (a sign test) that this
    routes more of them right. ``docs/design.md`` states the rule in full and
    ``docs/benchmarks.md`` has the evidence on six expert sets.

    The correction shipped with skgate (``"pretrained"``) is very small (its
    weights are at most 0.015 on standardised statistics): with no data the
    gate routes as energy does (within 0.0031 of energy's routing on every
    expert set of ``docs/benchmarks.md``), a safe default, not a gain.

    Parameters
    ----------
    correction : {"pretrained", "linear", "mlp"}, path-like or None, default="pretrained"
        The shared correction. ``"pretrained"``: the one shipped with skgate
        (fitted on LeNet-5 experts of disjoint MNIST and MNIST + CIFAR-10; see
        ``docs/benchmarks.md``), used as it is. ``"linear"`` or ``"mlp"``:
        learned in ``fit`` from the labels (without labels it stays zero). A
        path: a correction saved by :meth:`save_correction`. ``None``: none,
        the scores are the experts' energies.
    features : {"default", "class_count_free", "paper"} or list of str, default="default"
        The statistics a learned correction reads (keys of
        ``UNIVERSAL_STATISTICS``). ``"default"``: energy, max logit, log of the
        max probability, entropy over its maximum, the top-two margin, the
        gaps of the second and third logits in the row's spread, the standard
        deviation and ``log C``. ``"class_count_free"``: only the first four
        and the margin, whose meaning does not change with the number of
        classes ``C``, for corrections fitted on experts of equal class
        counts. ``"paper"`` is the paper's five: mean, std, max, min and
        median of the logits.
    calibration : {"auto", "none", "shift", "affine", "features", "network", \
            "activations", "joint"}, default="auto"
        The per-expert calibration fitted on the labels given to ``fit``.
        ``"auto"`` chooses by ``cv``-fold cross-validation of the routing
        accuracy among the levels the labels allow: ``"shift"`` (``s_k + b_k``)
        from one labelled sample per expert, ``"affine"`` from 2,
        ``"features"`` from 5, ``"network"`` and ``"activations"`` (a small
        network per expert on its logits and ``layer``) from 20, and
        ``"joint"`` from 20: one linear map from every expert's logits and
        ``layer``, concatenated, to every expert's score, the only level in
        which one expert's outputs can lower another's score (where each of
        many experts is over-confident on the others' inputs). From the
        simplest, each level replaces the one chosen so far only if clearly
        more labelled samples are routed better than worse by it when held
        out: the difference above the square root of their sum (for the
        richer levels also above one, and above twice the square root with
        fewer than 20 labels per expert). With
        one sample per expert there is no validation: it shifts only if that
        routes more of the labelled samples right. With no labels, ``"none"``.
    pool : {"pseudo_labels", "ignore"}, default="pseudo_labels"
        What ``fit`` does with unlabelled samples (``-1`` in ``y``, or every
        sample when ``y`` is None) and with the inputs of the labelled ones:
        ``"pseudo_labels"`` calibrates on the pool's pseudo-labels as described
        above; ``"ignore"`` fits on the labelled samples only (with none, the
        gate routes as its uncalibrated scores). Used with
        ``calibration="auto"`` only: a fixed level is fitted on the labels.
    pool_calibration : {"affine", "features", "network", "activations"}, \
            default="activations"
        The calibration fitted on the pool's pseudo-labels (the levels of
        ``calibration``): ``"affine"`` is a scale and a shift per expert;
        ``"activations"`` (``"network"`` when ``layer`` is None) adds a small
        network per expert on its logits and activations. The default was
        chosen on the six expert sets of ``docs/benchmarks.md``, where it
        routed above ``"affine"`` on five of six with no labels.
    max_pool : int or None, default=10_000
        The most unlabelled samples ``fit`` reads, a random subset: inside a
        mixture the mixture draws it (seeded by its ``random_state``) and the
        experts run over no more, so a pool of any size fits in bounded
        memory; fitted directly, the gate draws it (seeded by its own).
        ``None`` reads them all.
    mixing : {"hard", "soft"}, default="hard"
        ``"hard"``: the best-scored expert answers alone; ``"soft"``: the
        experts are mixed with the softmax of their scores.
    layer : str or None, default="penultimate"
        The expert activation read by the ``"activations"`` and ``"joint"``
        calibrations (a name of :meth:`skgate.Expert.forward_outputs`); ``None``
        never reads activations. Only read while fitting with
        ``calibration="auto"`` (or a level that reads it) and, if such a level is
        chosen (for the labels or for the pool), at prediction.
    alpha : float, default=1.0
        Penalty on the squared weights of a learned shared correction (against
        the mean routing cross-entropy). Strong on purpose: weaker penalties
        fit the problems the correction was fitted on a little better and
        transfer worse to expert sets it never saw (``docs/benchmarks.md``).
    calibration_alpha : float, default=2.0
        Penalty on the squared calibration parameters (pulling them to the
        identity), against the routing cross-entropy summed over the labelled
        samples: the fewer the labels, the closer the calibration stays to
        the identity.
    hidden_units : int, default=16
        Width of the hidden layer of ``correction="mlp"`` and of the
        calibration networks.
    cv : int, default=3
        Folds of the internal cross-validation of ``calibration="auto"``.
    cv_repeats : int, default=5
        Repeats of that cross-validation with other folds (a few labels make
        one split noisy).
    max_iter : int, default=100
        L-BFGS iterations of each full-batch fit.
    random_state : int, RandomState instance or None, default=None
        Seeds the networks' initialisation and the cross-validation folds.

    Attributes
    ----------
    statistics_ : tuple of str
        The statistics the correction reads (empty without a correction).
    correction_ : dict or None
        The shared correction (``kind``, ``feature_mean``, ``feature_scale``,
        ``state``); None when there is none or it was not learned.
    calibration_ : str
        The calibration in use; anything but ``"none"`` binds the gate to
        the experts it was fitted on.
    cv_scores_ : dict of str to float
        The cross-validated routing accuracy of each level ``"auto"`` compared
        (empty if it compared none); ``"pool"`` is the pool calibration's
        routing of the labelled samples, which it never saw.
    pool_used_ : bool
        Whether the pool calibration routes (it binds the gate to its experts).
    pool_report_ : dict
        How the pool was used: ``pool_size``, ``pseudo_labels`` (per expert),
        ``level`` (the calibration fitted on them), ``used``, the ``reason``
        when it was not, ``second_view`` (the student's ``fidelity`` to the
        pool calibration's confident choices, its ``agreement`` on every
        input, whether the refit on the agreeing inputs is ``used``, and the
        ``reason`` when not), with labels ``labelled_routing`` (with and
        without it), and ``semi_supervised`` when the refit with the labels
        was kept.
    n_experts_ : int
        Number of experts, set only when a calibration binds the gate to them.

    See Also
    --------
    NaiveConcatGate : The data-free energy gate, this gate with no correction.
    PANGate : One attribution network per expert (SC1).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.frozen import FrozenEstimator
    >>> from skgate import MixtureOfExperts
    >>> from skgate.gates import UniversalGate
    >>> import torch
    >>> from skgate import Expert
    >>> def frozen_linear(weight, classes):  # a frozen expert: logits = x @ weight.T
    ...     layer = torch.nn.Linear(len(weight[0]), len(weight), bias=False)
    ...     with torch.no_grad():
    ...         layer.weight.copy_(torch.tensor(weight, dtype=torch.float32))
    ...     return Expert.from_pretrained(torch.nn.Sequential(torch.nn.Flatten(), layer),
    ...                                   classes=classes)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2)).astype(np.float32)
    >>> y = np.where(X[:, 0] > 0, 0, 2) + (X[:, 1] > 0)
    >>> experts = [("pos", frozen_linear([[1, -1], [1, 1]], [0, 1])),
    ...            ("neg", frozen_linear([[-1, -1], [-1, 1]], [2, 3]))]
    >>> gate = UniversalGate(correction="linear", calibration="none")
    >>> moe = MixtureOfExperts(experts, gate=gate).fit(X, y)
    >>> moe.score(X, y) > 0.9
    True

    Unlabelled samples are marked ``-1``. Here the expert "neg" has logits
    that run 1.5 higher, so energy sends it many of the other's inputs; a pool
    of unlabelled inputs alone moves the gate toward the right expert:

    >>> hot = [("pos", frozen_linear([[1, -1, 0], [1, 1, 0]], [0, 1])),
    ...        ("neg", frozen_linear([[-1, -1, 1.5], [-1, 1, 1.5]], [2, 3]))]
    >>> X3 = np.hstack([rng.normal(size=(1000, 2)), np.ones((1000, 1))]).astype(np.float32)
    >>> y3 = np.where(X3[:, 0] > 0, 0, 2) + (X3[:, 1] > 0)
    >>> energy = MixtureOfExperts(hot, gate=UniversalGate(None, pool="ignore")).fit(X3)
    >>> pooled = MixtureOfExperts(hot, gate=UniversalGate(None)).fit(X3, np.full(1000, -1))
    >>> pooled.gate_.pool_used_
    True
    >>> bool(pooled.score(X3, y3) > energy.score(X3, y3) + 0.03)
    True

    The fitted gate, frozen, serves a mixture of other experts with no data:

    >>> other = [("a", frozen_linear([[2, 0], [0, 2]], ["x", "y"])),
    ...          ("b", frozen_linear([[-2, 0], [0, -2], [1, 1]], ["u", "v", "w"])),
    ...          ("c", frozen_linear([[0, 1], [1, 0]], ["p", "q"]))]
    >>> reused = MixtureOfExperts(other, gate=FrozenEstimator(moe.gate_)).fit(X)
    >>> reused.route_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints = {
        "correction": [StrOptions({"pretrained", "linear", "mlp"}), str, Path, None],
        "features": [StrOptions(set(FEATURE_SETS)), list, tuple],
        "calibration": [StrOptions({"auto", *CALIBRATIONS})],
        "pool": [StrOptions({"pseudo_labels", "ignore"})],
        "pool_calibration": [StrOptions(set(POOL_CALIBRATIONS))],
        "max_pool": [Interval(Integral, 1, None, closed="left"), None],
        "mixing": [StrOptions({"hard", "soft"})],
        "layer": [str, None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "calibration_alpha": [Interval(Real, 0, None, closed="left")],
        "hidden_units": [Interval(Integral, 1, None, closed="left")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "cv_repeats": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    # gates saved before pools existed (skgate.save, pickle) ignore them, as they did
    pool, pool_calibration, max_pool, pool_used_ = "ignore", "affine", None, False

    def __init__(
        self,
        correction="pretrained",
        *,
        features="default",
        calibration="auto",
        pool="pseudo_labels",
        pool_calibration="activations",
        max_pool=10_000,
        mixing="hard",
        layer="penultimate",
        alpha=1.0,
        calibration_alpha=2.0,
        hidden_units=16,
        cv=3,
        cv_repeats=5,
        max_iter=100,
        random_state=None,
    ):
        self.correction = correction
        self.features = features
        self.calibration = calibration
        self.pool = pool
        self.pool_calibration = pool_calibration
        self.max_pool = max_pool
        self.mixing = mixing
        self.layer = layer
        self.alpha = alpha
        self.calibration_alpha = calibration_alpha
        self.hidden_units = hidden_units
        self.cv = cv
        self.cv_repeats = cv_repeats
        self.max_iter = max_iter
        self.random_state = random_state

    # -- the contract ------------------------------------------------------------------
    def expert_layers(self):
        """The activation the ``"activations"`` and ``"joint"`` calibrations read, when used:
        while fitting (``calibration="auto"``, or a pool calibrated on activations), and
        at prediction if one was chosen.

        Returns
        -------
        layers : tuple of str
            ``(layer,)`` or ``()``.
        """
        return (self.layer,) if self.layer is not None and self._wants_activations() else ()

    def _wants_activations(self):
        if hasattr(self, "calibration_"):  # fitted: what the chosen calibrations read
            pool = getattr(self, "pool_used_", False) and getattr(
                self, "pool_report_", {}).get("level") == "activations"
            return self.calibration_ in READS_ACTIVATIONS or pool
        return self.calibration in ("auto", *READS_ACTIVATIONS) or (
            self._uses_pool() and self.pool_calibration == "activations")

    def gate_tags(self):
        learns_correction = self.correction in ("linear", "mlp")
        uses_pool = self._uses_pool()
        fitted = hasattr(self, "calibration_")
        unbound = self.calibration == "none"
        return replace(
            super().gate_tags(),
            data_free=not learns_correction and unbound,
            any_experts=(self.calibration_ == "none" and not self.pool_used_) if fitted
            else unbound,
            uses_unlabelled=uses_pool, max_unlabelled=self.max_pool if uses_pool else None,
        )

    def _fit(self, outputs, y):
        for fitted in ("calibration_", "_cal_stats", "pool_used_"):  # a refit starts afresh
            self.__dict__.pop(fitted, None)
        self._set_correction(self._initial_correction())
        self._set_pool(None)
        labelled = (np.ones(outputs.n_samples, bool) if y is None
                    else ~unlabelled_samples(y, outputs))
        if y is None or not labelled.any():
            y, labelled = None, np.zeros(outputs.n_samples, bool)
        pool = np.flatnonzero(~labelled)
        if self._uses_pool() and self.max_pool is not None and len(pool) > self.max_pool:
            # fitted directly (a mixture gives at most max_pool): a random subset
            rng = np.random.default_rng(self._seed())
            keep = np.sort(np.concatenate([np.flatnonzero(labelled), rng.choice(
                pool, size=self.max_pool, replace=False)]))
            outputs, labelled = outputs.subset(keep), labelled[keep]
            y = None if y is None else np.asarray(y)[keep]
        if y is None and not self._uses_pool():
            self.cv_scores_ = {}
            self._set_calibration("none", None)
            return self
        rows = np.flatnonzero(labelled)
        owners = None if y is None else outputs.expert_set.owners(np.asarray(y)[rows])
        if self.correction in ("linear", "mlp") and owners is not None:
            self._fit_shared([([z[rows] for z in outputs.logits], owners)])
        inputs = self._calibration_inputs(outputs, fit=True)
        pool_right = pseudo_labels = None
        if self._uses_pool():
            pool_right, pseudo_labels = self._fit_pool(inputs, labelled, owners)
        if owners is None:
            self.cv_scores_ = {}
            self._set_calibration("none", None, outputs.n_experts)
            return self
        pool_inputs, inputs = inputs, _rows(inputs, rows)
        level = self._choose_calibration(inputs, owners, pool_right)
        if level == "pool":
            level = "none"
            self._semi_supervised(pool_inputs, rows, owners, pool_right, pseudo_labels)
        elif self.pool_used_:  # a calibration on the labels routes clearly better
            self.pool_report_.update(used=False, reason=f"the labelled calibration {level!r} "
                                     "routes the held-out labelled samples clearly better")
            self._set_pool(None, self.pool_report_)
        module = None if level == "none" else self._fit_calibration(level, inputs, owners)
        self._set_calibration(level, module, outputs.n_experts)
        return self

    def _route_proba(self, outputs):
        s = self.scores(outputs)
        if self.mixing == "soft":
            return softmax(s, axis=1)
        return one_hot(s.argmax(axis=1), outputs.n_experts)
