"""UniversalGate: one attribution network for all experts (SC2), anchored on energy."""

from dataclasses import replace
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
from scipy.special import softmax
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..utils._arrays import one_hot
from ..utils._param_validation import Interval, StrOptions
from ..utils._seeding import torch_seeded
from ._base import (
    FEW_LABELS,
    BaseGate,
    clearly_better,
    held_out_hits,
    unlabelled_samples,
)
from ._universal_features import FEATURE_SETS, UNIVERSAL_STATISTICS, universal_features
from ._universal_io import (
    check_correction,
    load_correction,
    pretrained_path,
    write_correction,
)
from ._universal_modules import (
    _Calibration,
    _correction_net,
    _minimise,
    _penalty,
    _routing_loss,
    _rows,
    calibration_stats,
    calibration_tensors,
    fit_correction,
)
from ._universal_pool import MIN_POOL, confident_half, second_view

#: per-expert calibrations, from the simplest; "auto" chooses among them from the labels
CALIBRATIONS = ("none", "shift", "affine", "features", "network", "activations")
#: fewest labelled samples per expert from which "auto" considers each calibration
MIN_SAMPLES = {"none": 0, "shift": 1, "affine": 2, "features": 5, "network": 20,
               "activations": 20}
#: calibrations the pool may fit (``pool_calibration``)
POOL_CALIBRATIONS = ("affine", "features", "network", "activations")
#: at most this many pseudo-labels in each semi-supervised fit (with the labels)
MAX_PSEUDO = 2000
#: in a semi-supervised fit, the labels weigh this share of the pseudo-labels' total
LABEL_WEIGHT = 0.5


class UniversalGate(BaseGate):
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

    It also learns from unlabelled inputs (a pool): samples whose label is
    ``-1`` in ``y`` (scikit-learn's convention), or every sample when ``y`` is
    None, and the inputs of the labelled ones. The uncalibrated scores choose
    an expert for each pool input; the more confident half of the inputs each
    expert is chosen for become its pseudo-labels, and the ``pool_calibration``
    level is fitted on them, penalised toward the identity (by default a small
    network per expert on its logits and penultimate activations, added to
    its score). This corrects an expert whose energies run hot on the others'
    inputs. A second view then checks it: a logistic regression on the
    experts' concatenated activations learns its confident choices on half the
    pool and predicts the other half. If it reproduces them on held-out inputs
    at least 95% of the time (``FastRouter``'s tolerance), the pool
    calibration is refitted on every input where the two views agree (all of
    them, not the confident half), which leaves out most of the inputs where
    an over-confident expert misleads the scores; if not (a teacher or a
    student that is often wrong), the first fit stays. The rule that decides
    whether the pool moves the gate away from energy: with no labels, the pool
    calibration is used when every expert has at least 50 pseudo-labels
    (``MIN_POOL``); with labels, which neither fit reads, it is dropped if they
    show that the uncalibrated scores route clearly more of them right (a sign
    test at one standard deviation), and the second view's refit gives way to
    the first fit if that one routes clearly more of them right; the pool
    calibration is then refitted on the pseudo-labels and the labels together
    and the refit kept if it routes clearly more held-out labelled samples
    right; and a calibration fitted on the labels alone replaces either only if
    it routes clearly more held-out labelled samples right.
    ``docs/benchmarks.md`` has the evidence on six expert sets, and the choices
    made on them.

    Where a pretrained correction is used: the one shipped with skgate is very
    small (its weights are at most 0.015 on standardised statistics), so with
    no data at all the gate routes as energy does (within 0.0031 of energy's
    routing on every expert set of ``docs/benchmarks.md``); it is not a gain
    over energy, only a safe default.

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
            "activations"}, default="auto"
        The per-expert calibration fitted on the labels given to ``fit``.
        ``"auto"`` chooses by ``cv``-fold cross-validation of the routing
        accuracy among the levels the labels allow: ``"shift"`` (``s_k + b_k``)
        from one labelled sample per expert, ``"affine"`` from 2,
        ``"features"`` from 5, ``"network"`` and ``"activations"`` (a small
        network per expert on its logits and ``layer``) from 20. From the
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
        The expert activation read by the ``"activations"`` calibration (a
        name of :meth:`skgate.Expert.forward_outputs`); ``None`` never reads
        activations. Only read while fitting with ``calibration="auto"`` (or
        ``"activations"``) and, if a level that reads it is chosen (for the
        labels or for the pool), at prediction.
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
        """The activation the ``"activations"`` calibrations read, when they may be used:
        while fitting (``calibration="auto"``, or a pool calibrated on activations), and
        at prediction if one was chosen."""
        return (self.layer,) if self.layer is not None and self._wants_activations() else ()

    def _wants_activations(self):
        if hasattr(self, "calibration_"):  # fitted: what the chosen calibrations read
            pool = getattr(self, "pool_used_", False) and getattr(
                self, "pool_report_", {}).get("level") == "activations"
            return self.calibration_ == "activations" or pool
        return self.calibration in ("auto", "activations") or (
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

    @classmethod
    def pretrained(cls, *, mixing="hard"):
        """The correction shipped with skgate, fitted and frozen, for any experts.

        Returns a :class:`sklearn.frozen.FrozenEstimator`: a mixture uses it as
        it is, with no data and no labels, whatever its experts; ``clone``,
        ``fit`` and ``GridSearchCV`` leave it unchanged.

        Parameters
        ----------
        mixing : {"hard", "soft"}, default="hard"

        Returns
        -------
        gate : FrozenEstimator wrapping a fitted UniversalGate

        Examples
        --------
        >>> from skgate.gates import UniversalGate
        >>> gate = UniversalGate.pretrained()
        >>> gate.calibration_
        'none'
        """
        gate = cls(correction="pretrained", calibration="none", pool="ignore", mixing=mixing)
        gate._validate_params()
        gate._set_correction(gate._initial_correction())
        gate._set_pool(None)
        gate._set_calibration("none", None)
        return FrozenEstimator(gate)

    # -- fitting -----------------------------------------------------------------------
    def _statistics(self):
        if isinstance(self.features, str):
            return FEATURE_SETS[self.features]
        unknown = sorted(set(self.features) - set(UNIVERSAL_STATISTICS))
        if unknown or not self.features:
            raise ValueError(
                f"features has unknown statistics {unknown}; expected a non-empty list of "
                f"{sorted(UNIVERSAL_STATISTICS)}, or one of {sorted(FEATURE_SETS)}."
            )
        return tuple(self.features)

    def _initial_correction(self):
        """The correction before fitting: loaded, or None (zero)."""
        if self.correction is None or self.correction in ("linear", "mlp"):
            return None
        path = pretrained_path() if self.correction == "pretrained" else self.correction
        return load_correction(path)

    def _set_correction(self, correction):
        self.correction_ = correction
        self.statistics_ = () if correction is None else tuple(correction["statistics"])
        self._shared = None
        if correction is not None:
            check_correction(correction)  # a file's hidden_units must match its weights
            with torch_seeded(0):  # its weights are replaced: the user's generator is not moved
                net = _correction_net(correction["kind"], len(self.statistics_),
                                      max(correction["hidden_units"], 1)).double()
            net.load_state_dict({k: torch.as_tensor(v) for k, v in correction["state"].items()})
            self._shared = net.requires_grad_(False)

    def _set_calibration(self, level, module, n_experts=None):
        self.calibration_ = level
        self._calibrator = module
        if level != "none" or self.pool_used_:
            self.n_experts_ = n_experts
        elif hasattr(self, "n_experts_"):
            del self.n_experts_

    def _uses_pool(self):
        """Whether fit learns from unlabelled samples: the pool is one of the calibrations
        ``"auto"`` chooses among (a fixed level is fitted on the labels alone)."""
        return self.pool != "ignore" and self.calibration == "auto"

    def _set_pool(self, module, report=None):
        self.pool_used_ = module is not None
        self.pool_report_ = report or {}
        self._pool_calibrator = module

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

    def _pool_level(self, inputs):
        """The pool's calibration: ``pool_calibration``, or ``"network"`` in place of
        ``"activations"`` when the activations are not read."""
        level = self.pool_calibration
        return "network" if level == "activations" and inputs["acts"] is None else level

    def _fit_pool(self, inputs, labelled, owners):
        """Calibrate on the pool's pseudo-labels, then let the labels (if any) refute it.

        Every fit sample's input is in the pool (its label is not read here). The
        uncalibrated scores choose an expert for each; the more confident half of the
        inputs each expert is chosen for (by the margin of its score over the
        runner-up) are its pseudo-labels, and the ``pool_calibration`` level (penalised
        toward the identity) is fitted on them. It is used only if every expert has at
        least ``MIN_POOL`` pseudo-labels. When the activations are read, a second view
        checks it (:func:`~skgate.gates._universal_pool.second_view`): if a student on
        the activations reproduces its confident choices, it is refitted on the inputs
        where the two agree. Labelled samples, which neither fit reads, then test it: it
        is dropped if the uncalibrated scores route clearly more of them right (a sign
        test at one standard deviation), and the refit gives way to the first fit if
        that one routes clearly more of them right.

        Returns whether it routes each labelled sample right (None without labels, or
        when it is not used) and its pseudo-labels: the rows it was fitted on and every
        row's expert (None when it is not used).
        """
        n_experts = inputs["scores"].shape[1]
        chosen, confident, counts = confident_half(inputs["scores"].numpy())
        report = {"pool_size": len(chosen), "pseudo_labels": counts.tolist()}
        if n_experts < 2 or counts.min() < MIN_POOL:
            report["used"] = False
            report["reason"] = (f"too small: every expert needs {MIN_POOL} pseudo-labels, "
                                f"the fewest had {int(counts.min())}")
            self._set_pool(None, report)
            return None, None
        report["level"] = self._pool_level(inputs)

        def fit_on(rows, experts):  # (rows, pseudo-labels of every row, calibration)
            pseudo = one_hot(experts, n_experts).astype(bool)
            return rows, pseudo, self._fit_calibration(report["level"], inputs, pseudo, rows=rows)

        fits = [fit_on(np.flatnonzero(confident), chosen)]
        if inputs["acts"] is not None:
            with torch.no_grad():
                taught = fits[0][2](inputs).numpy()
            agree, report["second_view"] = second_view(
                [a.numpy() for a in inputs["acts"]], taught, self._seed())
            taught = taught.argmax(axis=1)
            if agree is not None and np.bincount(
                    taught[agree], minlength=n_experts).min() < MIN_POOL:
                agree = None
                report["second_view"].update(used=False, reason=(
                    f"fewer than {MIN_POOL} inputs of an expert where the two views agree"))
            if agree is not None:
                fits.append(fit_on(np.flatnonzero(agree), taught))
        rows, pseudo, module = fits[-1]
        pool_hits = None
        if owners is not None:
            labelled_rows = np.flatnonzero(labelled)
            subset = _rows(inputs, labelled_rows)

            def hits(fit):
                with torch.no_grad():
                    routed = fit[2](subset).numpy().argmax(axis=1)
                return owners[np.arange(len(labelled_rows)), routed].astype(float)

            plain_hits = owners[np.arange(len(labelled_rows)), chosen[labelled_rows]]
            pool_hits = hits(fits[-1])
            report["labelled_routing"] = {"none": float(plain_hits.mean()),
                                          "pool": float(pool_hits.mean())}
            first = hits(fits[0]) if len(fits) > 1 else pool_hits
            if clearly_better(first, pool_hits):  # the second view is refuted
                report["second_view"].update(used=False, reason=(
                    "the labelled samples route clearly better without it"))
                (rows, pseudo, module), pool_hits = fits[0], first
                report["labelled_routing"]["pool"] = float(pool_hits.mean())
            if clearly_better(plain_hits.astype(float), pool_hits, sigmas=1.0):
                report["used"] = False
                report["reason"] = "the labelled samples route clearly better without it"
                self._set_pool(None, report)
                return None, None
        report["used"] = True
        self._set_pool(module, report)
        return pool_hits, (rows, pseudo)

    def _semi_supervised(self, inputs, labelled_rows, owners, pool_right, pseudo_labels):
        """The pool calibration refitted on its pseudo-labels and the labels together, kept
        if it routes clearly more held-out labelled samples right than the pool's alone.

        The labels replace the pseudo-labels of their samples and weigh ``LABEL_WEIGHT``
        of the pseudo-labels' total (at most ``MAX_PSEUDO`` of them, drawn at random);
        the comparison is the sign test at one standard deviation, over the same
        repeated folds as the calibration levels (nothing to compare with one label
        per expert).
        """
        confident, pseudo = pseudo_labels  # rows of the pool, and every row's pseudo-label
        rng = np.random.default_rng(self._seed())
        confident = np.setdiff1d(confident, labelled_rows)
        if not len(confident):  # every sample is labelled: nothing to add to the labels
            return
        if len(confident) > MAX_PSEUDO:
            confident = np.sort(rng.choice(confident, size=MAX_PSEUDO, replace=False))
        level = self._pool_level(inputs)

        target = pseudo.copy()
        target[labelled_rows] = owners  # the labels replace their samples' pseudo-labels

        def fit(train):
            rows = np.concatenate([confident, labelled_rows[train]])
            weight = np.concatenate([np.ones(len(confident)), np.full(
                len(train), LABEL_WEIGHT * len(confident) / len(train))])
            return self._fit_calibration(level, inputs, target, rows=rows, weight=weight)

        def fit_and_route(train, test):
            with torch.no_grad():
                return fit(train)(_rows(inputs, labelled_rows[test])).numpy().argmax(axis=1)

        hits = held_out_hits(owners, fit_and_route, cv=self.cv, repeats=self.cv_repeats,
                             seed=self._seed())
        if hits is None:
            return
        self.cv_scores_["pool+labels"] = float(hits.mean() / self.cv_repeats)
        if clearly_better(hits, pool_right * self.cv_repeats, sigmas=1.0, floor=1):
            self.pool_report_["semi_supervised"] = True
            self._set_pool(fit(np.arange(len(owners))), self.pool_report_)

    def pretrain(self, problems):
        """Fit the shared correction on several problems at once, with no calibration.

        Each problem has its own experts (any number, any classes); the
        correction learns from all of them, so it depends on no expert and the
        gate works with any experts afterwards (``calibration_ == "none"``).

        Parameters
        ----------
        problems : list of (ExpertOutputs, array-like) pairs
            The experts' outputs on a problem's labelled data, and the labels.

        Returns
        -------
        self : UniversalGate
        """
        self._validate_params()
        if self.correction not in ("linear", "mlp"):
            raise ValueError(
                f"pretrain learns a correction: set correction='linear' or 'mlp', not "
                f"{self.correction!r}."
            )
        data = []
        for outputs, y in problems:
            outputs = self._check_outputs(outputs, reset=False)
            data.append((outputs.logits, outputs.expert_set.owners(np.asarray(y))))
        self._set_correction(None)
        self._fit_shared(data)
        self.cv_scores_ = {}
        self._set_pool(None)
        self._set_calibration("none", None)
        return self

    def _seed(self):
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _fit_shared(self, problems):
        """Learn the shared correction on [(logits, owners), ...], the loss averaged."""
        self._set_correction(fit_correction(
            problems, self._statistics(), kind=self.correction, hidden_units=self.hidden_units,
            alpha=self.alpha, max_iter=self.max_iter, seed=self._seed()))

    # -- scores ------------------------------------------------------------------------
    def universal_scores(self, outputs):
        """The shared scores ``energy + correction``, shape ``(n_samples, n_experts)``.

        These depend on no fitted expert: the same for any set of experts.
        """
        check_is_fitted(self)
        return self._universal_scores(outputs.logits)

    def _universal_scores(self, logits):
        energy = universal_features(logits, ("energy",))[..., 0]
        if self._shared is None:
            return energy
        c = self.correction_
        f = (universal_features(logits, self.statistics_) - c["feature_mean"]) / c[
            "feature_scale"]
        with torch.no_grad():
            return energy + self._shared(torch.as_tensor(f))[..., 0].numpy()

    def _calibration_inputs(self, outputs, *, fit=False):
        """Tensors of the calibration: scores, statistics, logits and (when read)
        activations, standardised with the fit data's statistics (kept for prediction)."""
        logits = outputs.logits
        scores = self._universal_scores(logits)
        f = universal_features(logits, FEATURE_SETS["default"])
        acts = outputs.layer(self.layer) if self._reads_activations(outputs) else None
        if not fit and acts is None and self._wants_activations() and self.layer is not None:
            raise ValueError(
                f"This UniversalGate's calibration reads the experts' {self.layer!r} "
                "activations, which these outputs lack: compute them with "
                "ExpertSet.outputs(X, layers=gate.expert_layers()), as a mixture does.")
        if fit:
            self._cal_stats = calibration_stats(scores, f, logits, acts)
        return calibration_tensors(self._cal_stats, scores, f, logits, acts)

    def _reads_activations(self, outputs):
        """Whether the activations levels can be used: asked for, and in the outputs."""
        if self.layer is None or not self._wants_activations():
            return False
        return bool(outputs.activations) and all(self.layer in a for a in outputs.activations)

    def _fit_calibration(self, level, inputs, owners, rows=None, weight=None):
        """Fit calibration ``level`` on the ``rows`` of ``inputs`` and ``owners`` (all by
        default), each row's loss weighted by ``weight`` (1 by default)."""
        if rows is not None:
            inputs, owners = _rows(inputs, rows), owners[rows]
        with torch_seeded(self._seed()):
            module = _Calibration(level, inputs, self.hidden_units)
        target = torch.as_tensor(owners)
        weight = torch.ones(len(target), dtype=torch.float64) if weight is None else \
            torch.as_tensor(weight, dtype=torch.float64)

        def loss():  # summed, not averaged: the fewer the labels, the closer to identity
            return (_routing_loss(module(inputs), target, weight)
                    + self.calibration_alpha * _penalty(module))

        return _minimise(module, loss, self.max_iter).requires_grad_(False)

    def _choose_calibration(self, inputs, owners, pool_right=None):
        """The calibration level for these labels; ``"pool"`` keeps the pool's calibration
        (``pool_right``: whether it routes each labelled sample right, or None)."""
        self.cv_scores_ = {}
        if self.calibration != "auto":
            return self.calibration
        counts = owners.sum(axis=0)
        levels = [lv for lv in CALIBRATIONS if counts.min() >= MIN_SAMPLES[lv]
                  and (lv != "activations" or inputs["acts"] is not None)]
        seed = self._seed()  # one seed: every level is validated on the same folds

        def route(level):
            def fit_and_route(train, test):
                if level == "none":
                    return inputs["scores"].numpy()[test].argmax(axis=1)
                module = self._fit_calibration(level, inputs, owners, rows=train)
                with torch.no_grad():
                    return module(_rows(inputs, test)).numpy().argmax(axis=1)

            return fit_and_route

        hits = {}  # per labelled sample: how often it was routed right when held out
        for level in levels:
            hits[level] = held_out_hits(owners, route(level), cv=self.cv,
                                        repeats=self.cv_repeats, seed=seed)
            if hits[level] is None:  # too few labels to validate
                if pool_right is not None:
                    return "pool"
                return self._shift_if_it_helps(inputs, owners) if "shift" in levels else "none"
            self.cv_scores_[level] = float(hits[level].mean() / self.cv_repeats)
        # each level, from the simplest, replaces the one chosen so far only if more
        # labelled samples are routed better by it than worse, by more than one standard
        # deviation of a sign test (and by more than one sample past the shift): CV on a
        # few labels is noisy, and one near miss that a calibration happens to fix is
        # no evidence that it will route better
        chosen = "none"
        if pool_right is not None:  # label-free, so every labelled sample is held out
            chosen, hits["pool"] = "pool", pool_right * self.cv_repeats
            self.cv_scores_["pool"] = float(pool_right.mean())
        for level in levels[1:]:
            # the shift (one number per expert) at one standard deviation; the richer
            # levels at two while there are few labels: on an unseen hard pair an affine
            # calibration chosen on 3-to-0 held-out samples routed 0.014 below energy
            shift = level == "shift"
            sigmas = 2.0 if not shift and counts.min() < FEW_LABELS else 1.0
            if clearly_better(hits[level], hits[chosen], sigmas=sigmas,
                              floor=0 if shift else 1):
                chosen = level
        return chosen

    def _shift_if_it_helps(self, inputs, owners):
        """With one label per expert, no validation: shift only if it routes more of the
        labelled samples right than no calibration does (energy may be right already)."""
        module = self._fit_calibration("shift", inputs, owners)
        rows = np.arange(len(owners))
        with torch.no_grad():
            shifted = owners[rows, module(inputs).numpy().argmax(axis=1)].sum()
        plain = owners[rows, inputs["scores"].numpy().argmax(axis=1)].sum()
        return "shift" if shifted > plain else "none"

    def scores(self, outputs):
        """The final scores of each expert (calibrated, if it is), ``(n_samples, n_experts)``."""
        check_is_fitted(self)
        outputs = self._check_outputs(outputs, reset=False)
        pool = getattr(self, "_pool_calibrator", None)  # None in gates saved before pools
        if self._calibrator is None and pool is None:
            return self._universal_scores(outputs.logits)
        with torch.no_grad():
            inputs = self._calibration_inputs(outputs)
            if pool is not None:
                inputs = {**inputs, "scores": pool(inputs)}
            # in units of the fit data's spread: the scale the calibrations were fitted at
            return (inputs["scores"] if self._calibrator is None
                    else self._calibrator(inputs)).numpy()

    def _route_proba(self, outputs):
        s = self.scores(outputs)
        if self.mixing == "soft":
            return softmax(s, axis=1)
        return one_hot(s.argmax(axis=1), outputs.n_experts)

    def _check_outputs(self, outputs, *, reset):
        outputs = super()._check_outputs(outputs, reset=reset)
        bound = getattr(self, "calibration_", "none") != "none" or getattr(
            self, "pool_used_", False)
        if not reset and bound and outputs.n_experts != self.n_experts_:
            raise ValueError(
                f"This UniversalGate was calibrated on {self.n_experts_} experts "
                f"(calibration_={self.calibration_!r}, pool_used_={self.pool_used_}) and is "
                f"bound to them; got the outputs "
                f"of {outputs.n_experts}. Only a gate with calibration='none' works with "
                "any experts."
            )
        if not reset and bound and getattr(self, "_cal_stats", None) is not None:
            self._check_widths(outputs)
        return outputs

    def _check_widths(self, outputs):
        """The calibration reads each expert's logits (and activations) column by column:
        other experts of the same number are not the ones it was fitted on."""
        widths = {"logits": [np.shape(z)[1] for z in outputs.logits]}
        if self._cal_stats.get("acts") is not None and self._reads_activations(outputs):
            widths[f"{self.layer!r} activations"] = [
                np.shape(a)[1] for a in outputs.layer(self.layer)]
        fitted = {"logits": [len(m) for m, _ in self._cal_stats["logits"]]}
        if self._cal_stats.get("acts") is not None:
            fitted[f"{self.layer!r} activations"] = [len(m) for m, _ in self._cal_stats["acts"]]
        for what, got in widths.items():
            if what in fitted and got != fitted[what]:
                raise ValueError(
                    f"This UniversalGate's calibration was fitted on experts whose {what} have "
                    f"{fitted[what]} columns; these experts' have {got}. A calibration binds "
                    "the gate to the experts it was fitted on: refit it on these experts, or "
                    "use calibration='none' (or pool='ignore' with no labels) for a gate that "
                    "works with any experts.")

    # -- persistence -------------------------------------------------------------------
    def save_correction(self, path, *, provenance=None):
        """Write the shared correction to ``path`` as JSON (loadable with no pickle).

        Parameters
        ----------
        path : str or path-like
        provenance : dict or None
            Free-form JSON-serialisable record of how it was fitted.
        """
        check_is_fitted(self)
        c = self.correction_
        if c is None:
            raise ValueError("This gate has no correction to save (it is plain energy).")
        write_correction(path, c, provenance)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_shared", None)  # rebuilt from correction_ (plain arrays)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "correction_" in state:
            self._set_correction(state["correction_"])
