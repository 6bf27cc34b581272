"""MixtureOfExperts: the meta-estimator that combines experts with a gate."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._moe_fit import _FitMixin
from ._moe_predict import _PredictMixin
from .exceptions import SkgateWarning
from .experts import ExpertSet
from .gates import NaiveConcatGate, get_gate_fit, get_gate_tags
from .gates._base import no_labels_error
from .utils._composition import _BaseComposition
from .utils._device import module_placement, resolve_device
from .utils._labels import marker_is_a_class, unlabelled_mask
from .utils._param_validation import HasMethods, Interval, fit_context


class MixtureOfExperts(_FitMixin, _PredictMixin, ClassifierMixin, _BaseComposition):
    """One classifier from several experts and a gate.

    Every expert sees each input; the gate turns their outputs into per-sample
    weights over the experts, and the prediction is the weighted sum of the
    experts' probabilities placed in the union of their label spaces. Experts
    may have different, overlapping or disjoint label sets and different input
    formats (each converts the mixture's input with its ``input_transform``).

    Parameters
    ----------
    experts : list of (str, Expert) tuples
        The experts. Frozen experts (:meth:`Expert.from_pretrained`) are used as
        they are; the others are trained in ``fit`` on the samples whose labels
        are in their ``classes`` (on every sample if ``classes`` is None).
    gate : gate estimator or None, default=None
        Decides how much to trust each expert per sample, for example
        :class:`~skgate.gates.NaiveConcatGate`. ``None`` means
        ``NaiveConcatGate()``.
    gate_split : float in (0, 1) or None, default=None
        When ``fit`` trains experts and the gate learns from data, the share of
        ``(X, y)`` kept away from the experts to fit the gate on (a stratified
        split). An expert's outputs on its own training data are over-confident
        and mislead a learned gate; with ``None`` the gate is fitted on the
        experts' training data, with a warning. Ignored for data-free gates and
        when every expert is frozen (then the gate uses all of ``(X, y)``).
    chunk_size : int >= 1 or None, default=4096
        ``predict``, ``predict_proba``, ``route_proba`` and ``route`` process
        ``X`` this many samples at a time: the experts' outputs, their
        activations and the gate's work arrays exist for one chunk only, so
        the memory they take beyond ``X`` and the result does not grow with
        the number of samples. ``None`` processes ``X`` in one piece. It changes
        no predicted label or hard route; probabilities and soft weights may
        move by float32 rounding (~1e-7), because the experts' last batch in a
        chunk takes another shape (each expert runs in its own ``batch_size``
        batches within a chunk).
    n_jobs : int or None, default=None
        How many experts run at the same time, each in its own thread (torch
        releases the GIL while it computes), wherever the experts' outputs are
        computed: at prediction, and for the gate's ``fit``. Experts that ``fit``
        trains are trained one after another, and a gate that trains the experts
        (:class:`~skgate.gates.SoftMoE` over unfrozen experts) runs them itself,
        without it. ``None`` means 1 unless in a :func:`joblib.parallel_config`
        context; ``-1`` means all the CPUs. Each running expert also uses torch's
        own threads (``torch.set_num_threads``), so the gain depends on how well
        one expert keeps the cores busy alone: on 2 cores, two LeNet-5 experts
        predict in 0.55-0.58 of the sequential time with one torch thread, and
        gain at most 9 % with two (``docs/benchmarks.md``, "Experts at the same
        time"). The results are the same: each expert's thread cuts ``X`` into
        the same batches as the sequential pass.
    memory : str, object with the joblib.Memory interface, or None, default=None
        Used to cache the frozen experts' outputs on the gate's data in ``fit``
        (logits and the layers the gate reads, labelled samples and pool), as
        :class:`sklearn.pipeline.Pipeline` caches its transformers. By default,
        no caching is performed. If a string is given, it is the path to the
        caching directory. The key hashes the expert (module, weights, input
        transform, classes, device, batch size) and the input, so a refit with
        one more expert (``set_params(experts=[..., new])``) or other gate
        parameters runs only the experts not stored yet. Experts that ``fit``
        trains, and predictions, are never cached.
    random_state : int, RandomState instance or None, default=None
        Controls the ``gate_split`` split and which unlabelled samples a gate
        with ``max_unlabelled`` gets.

    Attributes
    ----------
    experts_ : list of Expert
        The fitted experts (frozen experts are the very objects given).
    named_experts_ : Bunch
        The fitted experts by name.
    expert_set_ : ExpertSet
        The fitted experts as one object: label mapping and batched outputs.
    gate_ : gate estimator
        The fitted gate (a gate given wrapped in
        :class:`sklearn.frozen.FrozenEstimator` is used as it is, not refitted).
    gate_tags_ : GateTags
        What the gate declared it needs and does (:func:`skgate.gates.get_gate_tags`).
    classes_ : ndarray of shape (n_classes,)
        The union of the experts' classes.
    n_features_in_ : int
        ``X.shape[1]`` seen in ``fit`` (the channels, for images).
    sample_shape_ : tuple of int
        ``X.shape[1:]`` seen in ``fit``: the format ``predict`` expects.

    See Also
    --------
    Expert : A skorch classifier that can serve as an expert.
    skgate.gates.NaiveConcatGate : The data-free gate.

    Examples
    --------
    >>> import numpy as np
    >>> from skgate import Expert, MixtureOfExperts
    >>> from skgate.datasets import load_mnist_sample
    >>> from skgate.models import LeNet5
    >>> X, y = load_mnist_sample(return_X_y=True)
    >>> def lenet(digits):
    ...     return Expert(LeNet5, module__n_classes=5, module__input_size=28,
    ...                   classes=digits, max_epochs=2, lr=0.05, train_split=None,
    ...                   verbose=0, random_state=0)
    >>> moe = MixtureOfExperts([("low", lenet([0, 1, 2, 3, 4])),
    ...                         ("high", lenet([5, 6, 7, 8, 9]))])
    >>> moe.fit(X[::2], y[::2]).predict(X[1:6:2]).shape
    (3,)
    >>> moe.route_proba(X[1:6:2]).shape
    (3, 2)

    With ``memory``, a refit with one more frozen expert runs only the new one:

    >>> from tempfile import mkdtemp
    >>> from skgate.utils._testing import slice_expert
    >>> experts = [("a", slice_expert(6, 0, [0, 1])), ("b", slice_expert(6, 2, [2, 3]))]
    >>> moe = MixtureOfExperts(experts, memory=mkdtemp()).fit(np.eye(6, dtype=np.float32))
    >>> moe.set_params(experts=[*experts, ("c", slice_expert(6, 4, [4, 5]))]).fit(np.eye(6))
    MixtureOfExperts(...)
    """

    _parameter_constraints = {
        "experts": [list],
        "gate": [HasMethods(["fit", "route_proba"]), None],
        "gate_split": [Interval(Real, 0, 1, closed="neither"), None],
        "chunk_size": [Interval(Integral, 1, None, closed="left"), None],
        # joblib's: -1 is every core, -2 all but one...; 0 has no meaning
        "n_jobs": [Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left"), None],
        "memory": [None, str, HasMethods(["cache"])],
        "random_state": ["random_state"],
    }

    n_jobs = None  # for mixtures saved before the parameter existed (skgate.save, pickle)
    memory = None  # likewise

    def __init__(self, experts, gate=None, *, gate_split=None, chunk_size=4096,
                 n_jobs=None, memory=None, random_state=None):
        self.experts = experts
        self.gate = gate
        self.gate_split = gate_split
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.memory = memory
        self.random_state = random_state

    # -- parameters (as in scikit-learn's VotingClassifier) -----------------------------
    @property
    def named_experts(self):
        """The experts by name, as a Bunch."""
        return Bunch(**dict(self.experts))

    def get_params(self, deep=True):
        """Parameters, with ``<expert name>__<param>`` and ``gate__<param>`` when deep.

        Parameters
        ----------
        deep : bool, default=True
            Also the parameters of the experts and of the gate.

        Returns
        -------
        params : dict
        """
        return self._get_params("experts", deep=deep)

    def set_params(self, **params):
        """Set parameters, including ``<expert name>__<param>`` and ``gate__<param>``.

        With ``gate=None``, setting a ``gate__<param>`` first puts the default
        ``NaiveConcatGate()`` in place, so ``{"gate__statistic": [...]}`` can be
        searched without naming the gate.

        Parameters
        ----------
        **params : dict
            Parameter names and values.

        Returns
        -------
        self : MixtureOfExperts
        """
        if self.gate is None and "gate" not in params and any(
            key.startswith("gate__") for key in params
        ):
            self.gate = NaiveConcatGate()
        self._set_params("experts", **params)
        return self

    # -- fitting ------------------------------------------------------------------------
    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Train the experts that are not frozen, then fit the gate.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format (for images: float32 NCHW in [0, 1]).
        y : array-like of shape (n_samples,) or None
            Labels in the union label space. Only needed when an expert must be
            trained or the gate learns from labels. ``-1`` marks an unlabelled
            sample, as in :mod:`sklearn.semi_supervised` (for string labels, ``y``
            of dtype object holding the integer ``-1``): experts are trained on
            the labelled samples only; unlabelled ones go to a gate whose tags
            say ``uses_unlabelled`` (:class:`~skgate.gates.UniversalGate`,
            :class:`~skgate.gates.FastRouter`), at most its ``max_unlabelled``
            of them, drawn at random with ``random_state``, and other gates
            ignore them. ``-1`` may not also be a class of an expert; with an
            expert whose ``classes`` is None (it learns every label of ``y``) or a
            gate that defines its own label space (``SoftMoE(heads="linear")``),
            ``-1`` is a label like any other and no sample is unlabelled.

        Returns
        -------
        self : MixtureOfExperts
        """
        self._check_experts()
        if y is None:
            X = validate_data(self, X, allow_nd=True, dtype=np.float32)
            unlabelled = np.zeros(len(X), dtype=bool)
        else:
            X, y = validate_data(self, X, y, allow_nd=True, dtype=np.float32)
            y = column_or_1d(y)
            unlabelled = self._unlabelled(y)
        self.sample_shape_ = tuple(X.shape[1:])

        gate = NaiveConcatGate() if self.gate is None else self.gate
        self.gate_ = clone(gate)  # a FrozenEstimator clones to itself
        self.gate_tags_ = tags = get_gate_tags(self.gate_)
        data_free, joint = tags.data_free, tags.trains_experts
        if y is None and tags.requires_labels:
            raise ValueError(
                f"{type(self.gate_).__name__} learns from labels: fit requires y to be passed, "
                "but the target y is None."
            )
        # the unlabelled samples (y == -1) go to a gate that learns from them, a random
        # subset of at most max_unlabelled; nowhere else
        X_all = X
        pool_rows = self._pool_rows(unlabelled, tags) if tags.uses_unlabelled else []
        if unlabelled.all():
            untrained = [name for name, expert in self.experts if not expert.frozen]
            if untrained:
                raise ValueError(
                    f"Experts {untrained} are not frozen and must be trained on labelled "
                    "samples, but every label of y is -1 (unlabelled)."
                )
        if unlabelled.any():
            X, y = X[~unlabelled], y[~unlabelled]
            if not len(y):
                y = None
        if y is None and tags.requires_labels:
            raise no_labels_error(self.gate_)
        trains = [not expert.frozen for _, expert in self.experts]
        X_experts, y_experts, X_gate, y_gate = X, y, X, y
        if any(trains) and not data_free and not joint and y is not None:
            if self.gate_split is not None:
                X_experts, X_gate, y_experts, y_gate = self._split(X, y)
            else:
                warnings.warn(
                    "The gate is fitted on the data the experts were trained on; their outputs "
                    "there are over-confident. Set gate_split to keep part of the data for "
                    "the gate, or fit frozen experts on separate data.",
                    SkgateWarning,
                    stacklevel=3,
                )

        fitted = []
        for (name, expert), train in zip(self.experts, trains):
            expert = clone(expert)  # a frozen expert clones to itself
            if train and joint:
                self._init_expert(name, expert, y)  # the gate trains it
            elif train:
                self._fit_expert(name, expert, X_experts, y_experts)
            fitted.append((name, expert))
        self.expert_set_ = ExpertSet(fitted, n_jobs=self.n_jobs)
        self.experts_ = self.expert_set_.experts
        self.named_experts_ = Bunch(**dict(fitted))
        own_labels = tags.defines_label_space
        self._check_gate_fits_experts()
        if y is not None and not own_labels:
            self.expert_set_.owners(y)  # every label must belong to some expert

        # a data-free gate learns nothing from X; one sample still checks that every
        # expert accepts the input format, here rather than at the first predict
        outputs_of = self._fit_outputs()  # through the memory, if any
        if joint:
            outputs = self.expert_set_.inputs_only(X_gate)
        elif data_free:
            outputs = outputs_of(X_gate[:1])
        elif len(pool_rows):  # the pool joins the gate's data, -1 its labels
            outputs, y_gate = self._pool_outputs(X_gate, y_gate, X_all, pool_rows,
                                                 outputs_of)
        else:
            outputs = outputs_of(X_gate)
        self.gate_.fit(outputs, None if data_free else y_gate)
        self.gate_tags_ = get_gate_tags(self.gate_)  # what the fitted gate reads at predict
        gate_fit = get_gate_fit(self.gate_)
        if joint:  # the gate trained copies of the modules: they go into the mixture's experts
            for expert, train, module in zip(self.experts_, trains, gate_fit.expert_modules):
                if train:
                    expert.module_ = module
                    # the module is the gate's network's, on the gate's device, and so is
                    # the input transform (a submodule of that network): the expert moves
                    # there, all of it (criterion, device parameter), and runs there
                    device = module_placement(module, None)[0]
                    if device is not None:
                        expert.to(str(device))
                    expert.initialize_optimizer()  # on the trained module's parameters
                    expert.jointly_trained_ = True
        self.classes_ = gate_fit.classes if own_labels else self.expert_set_.classes_
        return self

    # -- devices ------------------------------------------------------------------------
    def to(self, device):
        """Move the mixture to ``device`` in place: every expert and the gate.

        Each expert's module, criterion, optimiser state and input transform, and
        the gate's networks go to ``device``, and their ``device`` parameters are set
        to it, in the fitted experts and gate and in the ``experts`` and ``gate``
        parameters (so a refit trains there). Predictions are unchanged, up to the
        arithmetic of the other device. Frozen experts are shared, not copied: one
        used by several mixtures moves for all of them.

        Use it to fit on a GPU and predict on CPUs (dask workers, a web service)
        or the reverse; :func:`skgate.load`, pickle and joblib also map a mixture
        fitted on a GPU to the CPU on a machine without one.

        Parameters
        ----------
        device : str or torch.device
            ``"cpu"``, ``"cuda"``, ``"cuda:<index>"``, ``"auto"`` (CUDA when
            available) or a :class:`torch.device`.

        Returns
        -------
        self : MixtureOfExperts

        Examples
        --------
        >>> import numpy as np
        >>> from skgate import MixtureOfExperts
        >>> from skgate.utils._testing import slice_expert
        >>> X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
        >>> moe = MixtureOfExperts([("a", slice_expert(4, 0, [0, 1])),
        ...                         ("b", slice_expert(4, 2, [2, 3]))]).fit(X)
        >>> moe.to("cpu").experts_[0].device
        'cpu'
        """
        device = resolve_device(device, type(self).__name__)
        moved = set()
        for expert in [*(expert for _, expert in self.experts),
                       *getattr(self, "experts_", [])]:
            if id(expert) not in moved:  # a frozen expert is in both lists
                moved.add(id(expert))
                expert.to(device)
        for gate in (self.gate, getattr(self, "gate_", None)):
            gate = getattr(gate, "estimator", gate)  # a gate wrapped in FrozenEstimator
            if gate is not None and hasattr(gate, "to"):
                gate.to(device)
        return self

    # -- prediction ---------------------------------------------------------------------
    def expert_outputs(self, X):
        """One forward pass of every expert over ``X``, with what the gate needs.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format.

        Returns
        -------
        outputs : ExpertOutputs
        """
        return self._outputs(self._validate_X(X))

    def predict_proba(self, X):
        """Probabilities over ``classes_``: the gate-weighted sum of the experts'.

        ``X`` is processed ``chunk_size`` samples at a time.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self._chunked(X, "predict_proba")

    def predict(self, X):
        """Predicted labels: ``classes_[argmax(predict_proba(X))]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        # the argmax of each chunk: no (n_samples, n_classes) array of probabilities
        return self.classes_[self._chunked(X, "predict_proba",
                                           reduce=lambda proba: proba.argmax(axis=1))]

    def score(self, X, y, sample_weight=None):
        """Accuracy on the labelled samples: those labelled ``-1`` (unlabelled) are left out.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
            True labels; ``-1`` marks an unlabelled sample, as in ``fit``.
        sample_weight : array-like of shape (n_samples,) or None

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        y = column_or_1d(y)
        labelled = ~unlabelled_mask(y)
        if marker_is_a_class(self.classes_):
            labelled[:] = True  # -1 is one of the mixture's classes, not a marker
        if not labelled.any():
            raise ValueError("score needs labels: y holds no labelled sample (every label "
                             "is -1, unlabelled).")
        if not labelled.all():
            rows = np.flatnonzero(labelled)
            X, y = _safe_indexing(X, rows), y[rows]
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight)[rows]
        return super().score(X, y, sample_weight=sample_weight)

    def route_proba(self, X):
        """The gate's weights over the experts.

        ``X`` is processed ``chunk_size`` samples at a time.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format.

        Returns
        -------
        weights : ndarray of shape (n_samples, n_experts)
            Rows sum to 1; one-hot for a hard gate.
        """
        return self._chunked(X, "route_proba")

    def route(self, X):
        """Index (in ``experts_``) of the expert with the largest weight per sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format.

        Returns
        -------
        route : ndarray of shape (n_samples,)
        """
        return self._chunked(X, "route_proba", reduce=lambda weights: weights.argmax(axis=1))

