"""PANGate: one pattern attribution network per expert (SC1 of the universal-gating paper)."""

from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import VotingClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from skorch import NeuralNetClassifier

from ..models import MLP
from ..utils._arrays import one_hot
from ..utils._device import PortableNet, move_net
from ..utils._param_validation import HasMethods, Interval, StrOptions
from ._base import warn_unowned
from ._naive import NaiveConcatGate
from ._seeded_net import SeededFitMixin
from ._torch import TorchGate

#: features computed from the logits rather than read from a layer
LOGIT_FEATURES = ("logits", "logit_stats")


def logit_stats(logits):
    """The paper's output statistics of each row of logits: ``[mean, std, max]``.

    ``PANGate(features="logit_stats")`` reads them.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_classes)

    Returns
    -------
    stats : ndarray of shape (n_samples, 3)

    Examples
    --------
    >>> import numpy as np
    >>> from skgate.gates._pan import logit_stats
    >>> logit_stats(np.array([[1.0, 3.0], [2.0, 2.0]]))
    array([[2., 1., 3.],
           [2., 0., 2.]])
    """
    return np.column_stack([logits.mean(axis=1), logits.std(axis=1), logits.max(axis=1)])


class _SeededNetClassifier(PortableNet, SeededFitMixin, NeuralNetClassifier):
    """A skorch classifier whose ``fit`` seeds torch: PANGate's networks (portable
    between devices, :class:`~skgate.utils._device.PortableNet`)."""


class PANGate(TorchGate):
    """One pattern attribution network (PAN) per expert decides "this input is mine".

    The smart coordinator SC1 of Kang, Chua and Maul: for each expert a small
    binary network is trained, with the samples whose labels the expert owns as
    positives and the others as negatives. At prediction, if exactly one network
    claims an input its expert answers; if none or several claim it, the
    ``fallback`` decides.

    Two defaults depart from the paper, whose PAN is
    ``PANGate(reads="own", fallback=None)``: each network reads every expert's
    activations, not its own expert's only (unless ``negatives`` are given), and
    the inputs that not exactly one
    network claims go to the most confident network, not to energy. With two or
    three experts they route as well as or better than the paper's settings; with
    ten they route 0.76 where the paper's settings route 0.57 (the benchmarks'
    model zoo).

    The gate learns, so fit it on data the experts did not train on: logits
    on an expert's own training data are over-confident. A
    :class:`~skgate.MixtureOfExperts` that trains its experts keeps part of the
    data for the gate with ``gate_split``.

    Unlabelled samples (``-1`` in ``y``) are ignored: it learns from the labelled
    samples only (a mixture does not even run the experts over the others).

    Parameters
    ----------
    features : str, default="penultimate"
        What each network reads: ``"logits"``; ``"penultimate"`` (the input of
        the expert's last linear layer, the paper's "final FC"); the name of any
        submodule of the expert; or ``"logit_stats"`` (``[mean, std, max]`` of
        the logits, the paper's output statistics). Features are standardised
        with the fit data's mean and standard deviation.
    reads : {"auto", "own", "all"}, default="auto"
        Whose ``features`` each expert's network reads. ``"own"``: its expert's
        only, as in the paper; each network then depends on its expert alone
        (with ``negatives``, adding an expert leaves the other networks
        unchanged). ``"all"``: every expert's, concatenated, so that one
        expert's activations can tell another's network "not yours". With many
        experts whose binary label sets look alike to their own networks (ten
        experts on class pairs), a network that sees only its own expert
        cannot tell its inputs from the look-alikes. Still one network per
        expert, each deciding for its expert. ``"auto"``: ``"own"`` when
        ``negatives`` are given (the independence they are for), ``"all"``
        otherwise. Use ``reads="own", fallback=None`` for the paper's PAN.
    hidden_layer_sizes : tuple of int, default=(80, 60)
        Hidden ReLU layers of each network (the paper's 80 and 60).
    fallback : gate, "attribution", "soft_attribution" or None, \
            default="attribution"
        Decides when not exactly one network claims an input: ``"attribution"``:
        the expert whose network gives the highest probability;
        ``"soft_attribution"``: every expert, weighted by its network's
        probability (normalised to sum to 1; equal weights if every probability
        is 0); a gate (fitted with the PANs on the same outputs); or ``None``:
        ``NaiveConcatGate()`` (energy), as the paper falls back to naive
        concatenation. Energy sends the inputs no network or several networks
        claim to the expert with the hottest logits, which are the wrong one
        more often the more experts there are. Networks trained on a few dozen
        samples, or for a few epochs, are unsure everywhere and leave most
        inputs to the fallback: energy is then often the safer choice, and
        :class:`FloorGate` checks it on held-out labels.
    threshold : float, default=0.5
        A network claims an input when its probability of "mine" exceeds this.
    negatives : array-like of shape (n_negatives, ...) or None, default=None
        Inputs, in the mixture's format, from outside every expert's task (the
        issue's "other data"). When given, each network is trained on its
        expert's own samples of the fit data (positives) against these inputs
        (negatives) only, so it depends neither on the other experts nor on
        their data: adding an expert to the mixture leaves the other networks
        bit-for-bit unchanged (with the same ``random_state``), unless
        ``reads="all"`` is asked for explicitly (each network then reads every
        expert's features; ``"auto"`` reads its own expert's). When None, the
        negatives are the fit samples the expert does not own.
    n_networks : int, default=1
        Networks per expert, each from its own initialisation and shuffling;
        their probabilities are averaged (a soft ``VotingClassifier``, a deep
        ensemble). The paper trains one. More networks cost proportionally more
        fit and predict time and lower the variance of the attribution.
    max_epochs : int, default=20
    optimizer : torch optimizer class, default=torch.optim.Adam
        The networks' optimizer; its own parameters are given with the prefix
        ``optimizer__``, as in skorch (for example ``optimizer__weight_decay=1e-4``).
    lr : float, default=1e-3
        The optimizer's learning rate.
    batch_size : int, default=128
    device : str or torch.device, default="cpu"
        Where the networks train and run; ``"auto"`` means CUDA when available.
    random_state : int or None, default=None
        Seeds the networks' initialisation and shuffling.
    verbose : int, default=0
        skorch's training log.

    **optimizer_params
        The optimizer's own parameters, prefixed with ``optimizer__`` (for
        example ``optimizer__weight_decay=1e-2``), as in skorch: see
        :class:`TorchGate`.

    Attributes
    ----------
    networks_ : list of classifiers
        For each expert, a ``Pipeline`` of a ``StandardScaler`` and a skorch
        classifier, or with ``n_networks > 1`` a soft ``VotingClassifier`` of
        such pipelines; class 1 means "mine". An expert that owns every fit
        sample (or none) gets a constant ``DummyClassifier`` instead: it always
        (never) claims.
    fallback_ : gate or str
        The fitted fallback.
    reads_ : {"own", "all"}
        Whose features each network reads (``reads``, with ``"auto"`` resolved).
    n_experts_ : int

    See Also
    --------
    NaiveConcatGate : The data-free fallback.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skgate import Expert, MixtureOfExperts
    >>> from skgate.gates import PANGate
    >>> def frozen_linear(weight, classes):  # a frozen expert computing x @ weight.T
    ...     module = torch.nn.Linear(2, 2, bias=False)
    ...     module.weight.data = torch.tensor(weight, dtype=torch.float32)
    ...     return Expert.from_pretrained(module, classes=classes)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)).astype(np.float32)
    >>> y = np.where(X[:, 0] > 0, 0, 2) + (X[:, 1] > 0)
    >>> moe = MixtureOfExperts(
    ...     [("pos", frozen_linear([[1, -1], [1, 1]], [0, 1])),
    ...      ("neg", frozen_linear([[-1, -1], [-1, 1]], [2, 3]))],
    ...     gate=PANGate(features="logits", max_epochs=30, random_state=0))
    >>> moe.fit(X, y).score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        "features": [str],
        "reads": [StrOptions({"auto", "own", "all"})],
        "hidden_layer_sizes": [tuple, list],
        "fallback": [HasMethods(["fit", "route_proba"]),
                     StrOptions({"attribution", "soft_attribution"}), None],
        "threshold": [Interval(Real, 0, 1, closed="neither")],
        "negatives": ["array-like", None],
        "n_networks": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        **TorchGate._parameter_constraints,
    }
    #: for gates saved before the parameter existed: every network read its own expert
    reads = "own"

    def gate_tags(self):
        return replace(super().gate_tags(), requires_labels=True)

    def __init__(
        self,
        features="penultimate",
        reads="auto",
        hidden_layer_sizes=(80, 60),
        fallback="attribution",
        threshold=0.5,
        negatives=None,
        n_networks=1,
        max_epochs=20,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=128,
        device="cpu",
        random_state=None,
        verbose=0,
        **optimizer_params,
    ):
        self.features = features
        self.reads = reads
        self.hidden_layer_sizes = hidden_layer_sizes
        self.fallback = fallback
        self.threshold = threshold
        self.negatives = negatives
        self.n_networks = n_networks
        self.max_epochs = max_epochs
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self._set_optimizer_params(optimizer_params)

    def expert_layers(self):
        return () if self.features in LOGIT_FEATURES else (self.features,)

    def _features(self, outputs):
        """What each expert's network reads: its expert's features, or every expert's."""
        if self.features == "logit_stats":
            features = [logit_stats(z) for z in outputs.logits]
        else:
            features = outputs.layer(self.features)
        if self._reads() == "all":
            every = np.hstack(features)
            return [every] * len(features)
        return features

    def _reads(self, fitted=True):
        """``reads`` with ``"auto"`` resolved: the fitted ``reads_`` once there is one."""
        if fitted and hasattr(self, "reads_"):
            return self.reads_
        if self.reads != "auto":
            return self.reads
        return "own" if self.negatives is not None else "all"

    def _training_sets(self, outputs, owners):
        """For each expert: (features, target) its network is trained on."""
        features = self._features(outputs)
        if self.negatives is None:
            return [(f, owners[:, k].astype(np.int64)) for k, f in enumerate(features)]
        negatives = np.asarray(self.negatives, dtype=np.float32)
        if negatives.shape[1:] != np.shape(outputs.X)[1:]:
            raise ValueError(
                f"negatives has samples of shape {negatives.shape[1:]}, but the mixture's "
                f"samples have shape {np.shape(outputs.X)[1:]}; give them in the same format."
            )
        negative_features = self._features(
            outputs.expert_set.outputs(negatives, layers=self.expert_layers())
        )
        sets = []
        for k, (f, f_neg) in enumerate(zip(features, negative_features)):
            mine = owners[:, k]
            sets.append((
                np.concatenate([f[mine], f_neg]),
                np.concatenate([np.ones(mine.sum(), np.int64), np.zeros(len(f_neg), np.int64)]),
            ))
        return sets

    def _network(self, seed):
        net = _SeededNetClassifier(
            MLP,
            module__n_classes=2,
            module__hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            criterion=torch.nn.CrossEntropyLoss,
            **self._optimizer_kwargs(),
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            train_split=None,
            device=self._device(),
            verbose=self.verbose,
            random_state=int(seed),
        )
        return make_pipeline(StandardScaler(), net)

    def _networks(self, seeds):
        """One expert's classifier: a network, or the soft vote of ``n_networks``."""
        if len(seeds) == 1:
            return self._network(seeds[0])
        return VotingClassifier(
            [(f"network_{i}", self._network(seed)) for i, seed in enumerate(seeds)],
            voting="soft",
        )

    def _fit(self, outputs, y):
        sizes = tuple(self.hidden_layer_sizes)
        if not all(isinstance(w, Integral) and not isinstance(w, bool) and w >= 1
                   for w in sizes):
            raise ValueError(
                "hidden_layer_sizes must hold positive integers (the width of each hidden "
                f"layer), got {self.hidden_layer_sizes!r}."
            )
        owners = outputs.expert_set.owners(y)
        warn_unowned(self, owners, outputs.expert_set.names)
        self.reads_ = self._reads(fitted=False)
        # drawn row by row: an expert's seeds do not depend on the experts after it
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=(outputs.n_experts, self.n_networks)
        )
        self.networks_ = []
        for k, (features, target) in enumerate(self._training_sets(outputs, owners)):
            if target.min() == target.max():
                # every fit sample is (or none is) the expert's: it always (never) claims
                self.networks_.append(DummyClassifier(strategy="prior").fit(features, target))
                continue
            self.networks_.append(
                self._networks(seeds[k]).fit(features.astype(np.float32), target)
            )
        if isinstance(self.fallback, str):
            self.fallback_ = self.fallback
        else:
            fallback = NaiveConcatGate() if self.fallback is None else self.fallback
            self.fallback_ = clone(fallback).fit(outputs, y)
        return self

    def _move_networks(self, device):
        for network in getattr(self, "networks_", []):
            pipelines = (network.estimators_ if isinstance(network, VotingClassifier)
                         else [network])
            for pipeline in pipelines:
                if isinstance(pipeline, Pipeline):
                    move_net(pipeline[-1], device)
        fallback = getattr(self, "fallback_", None)
        if hasattr(fallback, "to"):
            fallback.to(device)

    def attribution_proba(self, outputs):
        """Each network's probability that the input is its expert's, ``(n_samples, n_experts)``.

        Rows do not sum to 1: every network answers for its own expert.

        Parameters
        ----------
        outputs : ExpertOutputs
            One forward pass of every expert.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            Column ``k``: network ``k``'s probability that the input is expert ``k``'s.
        """
        self._check_outputs(outputs, reset=False)
        columns = []
        for net, features in zip(self.networks_, self._features(outputs)):
            proba = net.predict_proba(features.astype(np.float32))
            mine = np.flatnonzero(net.classes_ == 1)
            columns.append(proba[:, mine[0]] if len(mine) else np.zeros(len(features)))
        return np.column_stack(columns)

    def _route_proba(self, outputs):
        proba = self.attribution_proba(outputs)
        claims = proba > self.threshold
        single = claims.sum(axis=1) == 1
        weights = one_hot(proba.argmax(axis=1), outputs.n_experts)
        if single.all() or self.fallback_ == "attribution":
            return weights
        if self.fallback_ == "soft_attribution":
            total = proba.sum(axis=1, keepdims=True)
            fallback = np.divide(proba, total, out=np.full_like(proba, 1 / proba.shape[1]),
                                 where=total > 0)
        else:
            fallback = self.fallback_.route_proba(outputs)
        weights[~single] = fallback[~single]
        return weights
