"""FastRouter: a small network routes each raw input before any expert runs (fast PAN)."""

import math
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from skorch import NeuralNet
from torch import nn
from torch.nn import functional as F
from torchvision.transforms.v2 import functional as TF

from ..models import MLP
from ..utils._device import PortableNet, move_net
from ..utils._param_validation import HasMethods, Interval, StrOptions
from ..utils._seeding import torch_seed
from ..utils._warnings import warn_user
from ._base import unlabelled_samples, warn_unowned
from ._contract import get_gate_tags
from ._naive import NaiveConcatGate
from ._router_routing import RoutingMixin
from ._seeded_net import SeededFitMixin
from ._torch import TorchGate


class _Thumbnail(nn.Module):
    """Resize images to ``size`` x ``size`` (antialiased), then run ``module``."""

    def __init__(self, module, size):
        super().__init__()
        self.module = module
        self.size = size

    def forward(self, x):
        if x.shape[-2:] != (self.size, self.size):
            x = TF.resize(x, [self.size, self.size], antialias=True)
        return self.module(x)


class _Augment(nn.Module):
    """In training only: a random affine map per image (rotation up to ``degrees``, scale
    within ``1 +- scale``, shift up to ``shift`` of the side), then ``module``."""

    def __init__(self, module, degrees=10.0, scale=0.1, shift=0.09):
        super().__init__()
        self.module = module
        self.degrees, self.scale, self.shift = degrees, scale, shift

    def forward(self, x):
        if self.training:
            n = len(x)
            draw = torch.rand(n, 4, device=x.device) * 2 - 1  # the global torch generator
            angle = draw[:, 0] * math.radians(self.degrees)
            zoom = 1 + draw[:, 1] * self.scale
            cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
            shift = draw[:, 2:] * 2 * self.shift  # affine_grid's coordinates span [-1, 1]
            theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                                 torch.stack([sin, cos, shift[:, 1]], 1)], 1)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, align_corners=False)
        return self.module(x)


class _RouterCNN(nn.Module):
    """Two 3 x 3 convolutions (ReLU, 2 x 2 max pooling), then a hidden layer on the
    flattened map: where the strokes are, not only which (global pooling forgets it)."""

    def __init__(self, in_channels, height, width, n_outputs, filters=(8, 16), hidden_units=64):
        super().__init__()
        first, second = filters
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, first, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(first, second, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(second * (height // 4) * (width // 4), hidden_units), nn.ReLU(),
            nn.Linear(hidden_units, n_outputs),
        )

    def forward(self, x):
        return self.net(x)


class _SeededNet(PortableNet, SeededFitMixin, NeuralNet):
    """A skorch net whose ``fit`` seeds torch: FastRouter's router (portable between
    devices)."""


class FastRouter(RoutingMixin, TorchGate):
    """A small network sends each raw input to an expert; only that expert runs.

    The "fast PAN" of Kang, Chua and Maul: every other gate reads the outputs of
    all experts, so every prediction runs every expert. This gate learns to
    imitate a ``teacher`` gate from the raw input alone. At prediction the
    router runs first, and :class:`~skgate.MixtureOfExperts` then runs each
    expert only on the samples sent to it, grouped by expert: with ``n``
    equal experts, a prediction costs about ``1 / n`` of theirs plus the
    router's.

    In ``fit`` the mixture runs every expert once over the fit data; the
    teacher is fitted there (unless it is wrapped in
    :class:`sklearn.frozen.FrozenEstimator`, when it is used as it is) and the
    router is trained to reproduce its routing weights (soft targets, cross
    entropy). Where labels are given, the router learns the experts that own
    each label instead (the teacher's weights among the owners, when several
    own it): labelled data can make the student better than its teacher. To
    train the router on a large unlabelled set, fit the teacher on the
    labelled data first and pass it frozen, then fit the mixture on the
    unlabelled inputs without ``y``.

    It learns from unlabelled samples (``-1`` in ``y``): its teacher is fitted on
    them as the teacher's tags allow (the default ``UniversalGate()`` uses them as a
    pool), and the router learns the teacher's routing of every sample, the owners
    of the labelled ones.

    A small router cannot follow every teacher (two experts on halves of the
    same natural images, say). With ``validation_fraction``, the router is
    trained on the rest of the fit samples and checked on that share: if it
    agrees with its targets there (the teacher's choice, or an owner of the
    label) less often than the teacher does, by more than ``tolerance`` (the
    teacher agrees with its own choices, so without labels the router may miss
    at most ``tolerance`` of them), it is not used: the teacher routes instead,
    every expert runs on every input, and a warning says so (``fallback_``).
    The tolerance is the routing a user trades for running one expert per
    input. (Compared with energy's agreement instead, a router taught by a
    pool-calibrated teacher passed the check on ``disjoint_mnist`` while
    routing 0.0065 below energy: energy's own agreement with such a teacher
    is low, and so was the bar.)

    Parameters
    ----------
    teacher : gate or None, default=None
        The gate whose routing the router learns, e.g.
        :class:`~skgate.gates.PANGate` or a fitted gate in
        ``FrozenEstimator``. ``None`` means
        :class:`~skgate.gates.UniversalGate` ``()``: the energy statistic with
        a shared correction, calibrated on the labels when given.
    module : {"mlp", "cnn"} or torch.nn.Module, default="mlp"
        The router network, mapping a batch of inputs to one logit per
        expert. ``"mlp"``: an :class:`~skgate.models.MLP` with one hidden
        layer of ``hidden_units``. ``"cnn"``, for images only: two 3 x 3
        convolution layers (8 and 16 filters, ReLU, 2 x 2 max pooling) and a
        hidden layer of ``hidden_units`` on the flattened map; more accurate
        where the layout of the image decides the expert (digits), and
        slower than the MLP. (The fusion paper's
        :class:`~skgate.models.ThumbnailCNN` averages its map over space,
        which loses that layout.) A module instance is trained as it is
        given (it must output ``n_experts`` logits).
    hidden_units : int, default=128
        Width of the router's hidden layer.
    thumbnail : int or None, default=16
        Images (``X`` of shape ``(n, channels, height, width)``) are resized
        to ``thumbnail`` x ``thumbnail`` pixels (antialiased) before the
        router sees them, so its cost does not grow with the image size.
        ``None`` keeps the size. Ignored for inputs that are not images.
    augment : bool, default=False
        Images only: in training, each image of a batch is moved by its own
        random affine map (rotation up to 10 degrees, scale within 10%, shift
        up to 9% of the side), so the router learns from more than the fit
        images themselves. At prediction the images are used as they are.
        It took the CNN router taught the owners of the experts' training and
        gate images from 0.9866 to 0.9910 routing on disjoint MNIST (3 seeds,
        ``python -m skgate bench pan --variants``; ``docs/benchmarks.md``).
    top_k : int >= 1, default=1
        How many experts a sample goes to when the router is unsure of it.
        ``1`` is hard routing: each sample runs exactly one expert.
    confidence : float in [0, 1], default=0.9
        With ``top_k > 1``, a sample whose largest router probability reaches
        ``confidence`` still goes to that expert alone; the others go to their
        ``top_k`` most likely experts, weighted by the router's probabilities
        renormalised over them.
    max_epochs : int or "auto", default="auto"
        Passes over the fit data. ``"auto"`` makes at least 10 passes and at least
        1,500 optimisation steps (batches), so that a small fit set gets as many
        updates as 10 passes over 19,200 samples: with 900 samples and batches
        of 128 (8 batches), 188 passes; from 19,200 samples on, 10.
    optimizer : torch optimizer class, default=torch.optim.Adam
        The router's optimizer; its own parameters are given with the prefix
        ``optimizer__`` (for example ``optimizer__weight_decay=1e-4``), as in
        skorch.
    lr : float, default=2e-3
        The optimizer's learning rate.
    batch_size : int, default=128
    device : str or torch.device, default="cpu"
        Where the router trains and runs: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"``
        or ``"auto"`` (CUDA when available).
    validation_fraction : float in (0, 1) or None, default=0.2
        The share of the fit samples held out (stratified by their target expert) to
        check the router against its targets and against energy; the router
        trains on the rest. ``None`` trains it on every sample and always uses it.
    tolerance : float in [0, 1], default=0.05
        How much less often than its teacher the router may agree with its
        targets on the held-out samples and still be used.
    random_state : int, RandomState instance or None, default=None
        Seeds the teacher (when it has a ``random_state`` left at None, it is
        not touched), the validation split and the router's initialisation and
        shuffling.
    verbose : int, default=0
        skorch's training log.

    **optimizer_params
        The optimizer's own parameters, prefixed with ``optimizer__`` (for
        example ``optimizer__weight_decay=1e-2``), as in skorch: see
        :class:`TorchGate`.

    Attributes
    ----------
    teacher_ : gate
        The fitted teacher.
    router_ : skorch.NeuralNet
        The trained router.
    teacher_agreement_ : float
        Share of the fit samples on which the router's top expert is the
        teacher's (or, with labels, an owner of the label).
    validation_scores_ : dict of str to float
        On the held-out samples, how often the router's, the teacher's and
        energy's top experts agree with the targets (empty without
        ``validation_fraction``).
    fallback_ : bool
        Whether the router failed that check, so that the teacher routes.
    n_experts_ : int
        Number of experts the gate was fitted on.

    See Also
    --------
    PANGate : A teacher that reads the experts' activations.
    UniversalGate : The default teacher.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skgate import MixtureOfExperts
    >>> from skgate.gates import FastRouter, NaiveConcatGate
    >>> from skgate import Expert
    >>> from torch import nn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)).astype(np.float32)
    >>> def expert(start, classes):  # a frozen expert whose logits are two columns of X
    ...     module = nn.Linear(4, 2, bias=False)
    ...     module.weight.data = torch.eye(4)[start : start + 2]
    ...     return Expert.from_pretrained(module, classes=classes)
    >>> experts = [("a", expert(0, [0, 1])), ("b", expert(2, [2, 3]))]
    >>> gate = FastRouter(NaiveConcatGate(), random_state=0)
    >>> moe = MixtureOfExperts(experts, gate=gate).fit(X)
    >>> moe.route(X[:5]).shape
    (5,)
    """

    _parameter_constraints = {
        **TorchGate._parameter_constraints,
        "teacher": [HasMethods(["fit", "route_proba"]), None],
        "module": [StrOptions({"mlp", "cnn"}), nn.Module],
        "hidden_units": [Interval(Integral, 1, None, closed="left")],
        "thumbnail": [Interval(Integral, 4, None, closed="left"), None],
        "augment": ["boolean"],
        "top_k": [Interval(Integral, 1, None, closed="left")],
        "confidence": [Interval(Real, 0, 1, closed="both")],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "tolerance": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        teacher=None,
        module="mlp",
        *,
        hidden_units=128,
        thumbnail=16,
        augment=False,
        top_k=1,
        confidence=0.9,
        max_epochs="auto",
        optimizer=torch.optim.Adam,
        lr=2e-3,
        batch_size=128,
        device="cpu",
        validation_fraction=0.2,
        tolerance=0.05,
        random_state=None,
        verbose=0,
        **optimizer_params,
    ):
        self.teacher = teacher
        self.module = module
        self.hidden_units = hidden_units
        self.thumbnail = thumbnail
        self.augment = augment
        self.top_k = top_k
        self.confidence = confidence
        self.max_epochs = max_epochs
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.device = device
        self.validation_fraction = validation_fraction
        self.tolerance = tolerance
        self.random_state = random_state
        self.verbose = verbose
        self._set_optimizer_params(optimizer_params)

    def _teacher(self):
        if self.teacher is not None:
            return self.teacher
        from ._universal import UniversalGate  # the default teacher; imported late (cycle)

        return UniversalGate()

    #: routers saved before the check existed were always used
    validation_fraction, tolerance, fallback_ = None, 0.05, False

    def _teacher_tags(self):
        return get_gate_tags(getattr(self, "teacher_", None) or self._teacher())

    def expert_layers(self):
        """The layers the teacher reads (the router itself reads the input only).

        Returns
        -------
        layers : tuple of str, or mapping of expert name to tuple of str
        """
        return self._teacher_tags().expert_layers

    def gate_tags(self):
        return replace(
            super().gate_tags(), requires_labels=self._teacher_tags().requires_labels,
            routes_inputs=not self.fallback_, uses_unlabelled=True,
        )

    # -- fitting ------------------------------------------------------------------------
    def _fit(self, outputs, y):
        teacher = self._teacher()
        if isinstance(teacher, FrozenEstimator):
            self.teacher_ = teacher
        else:
            self.teacher_ = clone(teacher)
            if "random_state" in self.teacher_.get_params() and \
                    self.teacher_.get_params()["random_state"] is None:
                self.teacher_.set_params(random_state=self.random_state)
            tags = get_gate_tags(self.teacher_)
            self.teacher_.fit(outputs, None if tags.data_free else y)
        target = self.teacher_.route_proba(outputs).astype(np.float32)
        teacher_choice = target.argmax(axis=1)
        labelled = (np.zeros(len(target), bool) if y is None
                    else ~unlabelled_samples(y, outputs))
        if labelled.any():  # labels: the owners (the teacher's choice among several)
            owners = outputs.expert_set.owners(np.asarray(y)[labelled])
            warn_unowned(self, owners, outputs.expert_set.names)
            among = target[labelled] * owners
            total = among.sum(axis=1, keepdims=True)
            target[labelled] = np.where(total > 0, among / np.where(total > 0, total, 1),
                                        owners / owners.sum(axis=1, keepdims=True))

        X = np.asarray(outputs.X, dtype=np.float32)
        self.__dict__.pop("fallback_", None)  # a refit starts afresh
        train, held = self._validation_split(target)
        self.router_ = _SeededNet(
            self._module(X, outputs.n_experts),
            criterion=nn.CrossEntropyLoss,  # probability targets: soft cross entropy
            **self._optimizer_kwargs(),
            lr=self.lr,
            max_epochs=self._epochs(len(train)),
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            train_split=None,
            device=self._device(),
            verbose=self.verbose,
            random_state=torch_seed(self.random_state),
        ).fit(X[train], target[train])
        self.router_.module_.eval()  # routing runs the module directly (_router_proba)

        def agrees(chosen):  # the teacher's choice, or an owner of the label
            return np.where(labelled, target[np.arange(len(X)), chosen] > 0,
                            chosen == target.argmax(axis=1))

        router_agrees = agrees(self._router_proba(X).argmax(axis=1))
        self.teacher_agreement_ = float(np.mean(router_agrees))
        self.validation_scores_, self.fallback_ = {}, False
        if len(held):
            energy = NaiveConcatGate("energy").fit(outputs).route(outputs)
            self.validation_scores_ = {
                "router": float(router_agrees[held].mean()),
                "teacher": float(agrees(teacher_choice)[held].mean()),
                "energy": float(agrees(energy)[held].mean())}
            scores = self.validation_scores_
            if scores["router"] < scores["teacher"] - self.tolerance:
                self.fallback_ = True
                warn_user(
                    f"FastRouter: on {len(held)} held-out fit samples the router agrees with "
                    f"its targets on {scores['router']:.3f} of them, less than its teacher "
                    f"({scores['teacher']:.3f}) by more than tolerance={self.tolerance}; the "
                    "teacher routes instead, and every expert runs on every input. A larger "
                    "router (module='cnn', augment=True) or more fit samples may help."
                )
        return self

    def _validation_split(self, target):
        """Rows to train the router on and rows held out to check it (stratified by the
        target expert where every expert has two rows)."""
        rows = np.arange(len(target))
        if self.validation_fraction is None or len(rows) < 10:
            return rows, rows[:0]
        strata = target.argmax(axis=1)
        counts = np.bincount(strata)
        stratify = strata if counts[counts > 0].min() >= 2 else None
        train, held = train_test_split(rows, test_size=self.validation_fraction,
                                       stratify=stratify, random_state=torch_seed(
                                           self.random_state))
        return np.sort(train), np.sort(held)

    #: "auto" epochs: at least this many passes and this many optimisation steps
    _MIN_EPOCHS, _MIN_STEPS = 10, 1500

    def _epochs(self, n_samples):
        if self.max_epochs != "auto":
            return self.max_epochs
        batches = math.ceil(n_samples / self.batch_size) if self.batch_size > 0 else 1
        return max(self._MIN_EPOCHS, math.ceil(self._MIN_STEPS / max(batches, 1)))

    def _module(self, X, n_experts):
        images = X.ndim == 4
        if isinstance(self.module, nn.Module):
            module = self.module
        elif self.module == "cnn":
            if not images:
                raise ValueError(
                    f"module='cnn' routes images of shape (n, channels, height, width); X has "
                    f"shape {X.shape}. Use module='mlp'."
                )
            height, width = X.shape[2:]
            if self.thumbnail is not None:
                height = width = int(self.thumbnail)
            if min(height, width) < 4:
                raise ValueError(
                    f"module='cnn' needs images of at least 4 x 4 pixels; they are {height} x "
                    f"{width}. Use a larger thumbnail or module='mlp'."
                )
            module = _RouterCNN(X.shape[1], height, width, n_experts,
                                hidden_units=int(self.hidden_units))
        else:
            module = MLP(n_classes=n_experts, hidden_layer_sizes=(int(self.hidden_units),))
        if images and self.thumbnail is not None:
            module = _Thumbnail(module, int(self.thumbnail))
        if self.augment:
            if not images:
                raise ValueError(
                    f"augment=True draws random affine maps of images of shape (n, channels, "
                    f"height, width); X has shape {X.shape}. Use augment=False."
                )
            module = _Augment(module)
        return module

    def _move_networks(self, device):
        router = getattr(self, "router_", None)
        if router is not None:
            move_net(router, device)
        teacher = getattr(self, "teacher_", None)
        teacher = getattr(teacher, "estimator", teacher)  # a FrozenEstimator's gate
        if hasattr(teacher, "to"):
            teacher.to(device)

