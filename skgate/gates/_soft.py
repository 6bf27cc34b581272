"""SoftMoE: the trained soft mixture Y = sum_k G(X)_k E_k(X) (second and third papers).

The torch modules are in ``_soft_modules.py``, the callbacks in ``_soft_callbacks.py``, the
checks of the parameters against the experts and the network's inputs in ``_soft_inputs.py``.
"""

import copy
from dataclasses import replace
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import EarlyStopping, EpochScoring, ProgressBar
from skorch.dataset import ValidSplit
from skorch.history import History
from torch import nn

from ..utils._device import move_module, move_net
from ..utils._labels import encode_labels
from ..utils._param_validation import Interval, StrOptions
from ..utils._seeding import torch_seeded
from ._base import warn_unowned
from ._soft_callbacks import EpochTestScoring
from ._soft_inputs import SoftInputsMixin
from ._soft_modules import (
    SoftMixtureModule,
    _SoftNet,
    gate_module,
    joint_expert_modules,
)
from ._torch import TorchGate

GATE_NETS = ("fixed", "linear", "mlp", "thumbnail_cnn", "embedding")


def _joint_modules(module):
    """The experts' modules inside a joint SoftMixtureModule (None in another mode)."""
    if module.mode != "joint":
        return None
    return [joint[0].module for joint in module.experts]


# -- the gate ---------------------------------------------------------------------------
class SoftMoE(SoftInputsMixin, TorchGate):
    """A trained soft mixture of experts: ``Y = sum_k G(X)_k E_k(X)``.

    The gate network ``G`` and (optionally) the experts' parts are trained
    together by gradient descent on the log-likelihood of the mixture, with
    skorch. Three ways to use the experts:

    - frozen experts, ``heads=None``: ``E_k`` is the expert's own softmax in
      the mixture's label space; only the gate learns (a soft, learned gate for
      pre-trained experts with different label sets);
    - frozen experts, ``heads="linear"``: the experts are pre-trained
      representations; a trainable linear head per expert reads its
      ``features`` layer and predicts the labels of ``y``, which need not be
      the experts' labels (third paper, "fusion of pre-trained
      representations");
    - ``train_experts=True``: the experts' own modules are trained jointly with
      the gate from their initialisation (second paper).

    Unlabelled samples (``-1`` in ``y``) are ignored: it learns from the labelled
    samples only (a mixture does not even run the experts over the others).

    Parameters
    ----------
    gate_net : {"fixed", "linear", "mlp", "thumbnail_cnn", "embedding"}, default="mlp"
        The gate network:

        - ``"fixed"``: a pre-designed gate sending each sample to the expert
          owning its label (the second paper's upper bound). In training, the
          owner comes from ``y``; at prediction, from ``owner``.
        - ``"linear"``: softmax of a linear map of the flattened input.
        - ``"mlp"``: one hidden ReLU layer of ``hidden_units`` units on the
          flattened input (second paper).
        - ``"thumbnail_cnn"``: two 3 x 3 convolution layers (32 and 64 filters)
          on a ``thumbnail_size`` thumbnail of the input image (third paper,
          3.2); the input must be images ``(N, C, H, W)`` or ``(N, H, W)``.
        - ``"embedding"``: each expert's ``features`` embedded linearly to
          ``embedding_dim``, ReLU, averaged over experts, then a linear layer
          and softmax over the experts (third paper, 3.3).
    heads : {"linear"} or None, default=None
        Trainable heads on frozen representations (see above).
    combine : {"probabilities", "logits"}, default="probabilities"
        How the heads are combined, with ``heads="linear"``:

        - ``"probabilities"``: the mixture of the heads' probabilities,
          ``Y = sum_k G(X)_k softmax(z_k(X))`` (the papers' soft mixture); per
          input it can at best follow one representation.
        - ``"logits"``: the gated product of experts,
          ``Y = softmax(sum_k G(X)_k z_k(X))`` with ``z_k`` the logits of head
          k: the gate weighs each representation's evidence and the evidence
          adds up. With a constant gate it is a linear model over the
          concatenated representations (softmax regression on the
          concatenation), which the gate makes input-dependent.

        ``"logits"`` needs ``heads="linear"``: without heads, frozen experts
        and jointly trained experts predict in their own label sets, where a
        product would give probability 0 to every label one expert lacks; a
        ``ValueError`` says so.
    features : str, default="penultimate"
        The expert layer the heads and the embedding gate read. Representations
        are standardised with the fit data's statistics.
    train_experts : bool, default=False
        Train the experts' modules jointly with the gate. Inside a
        :class:`~skgate.MixtureOfExperts` the experts are then initialised, not
        pre-trained, and must not be frozen.
    owner : callable or None, default=None
        For ``gate_net="fixed"`` at prediction: ``owner(X)`` gives the index of
        the expert to use for each sample.
    hidden_units : int, default=64
        Width of the hidden layer of the ``"mlp"`` gate.
    thumbnail_size : int, default=32
        Side of the thumbnail of the ``"thumbnail_cnn"`` gate.
    embedding_dim : int, default=100
        Width of the ``"embedding"`` gate (the paper's 100).
    label_embedding : int, dict or None, default=None
        Label-space embedding (third paper, 3.4), with ``heads="linear"``:
        the expert's top ``top_labels`` predictions in its own label space are
        embedded, averaged with their probabilities as weights, and
        concatenated with its representation. An int is the embedding size
        (trained from a random start); a dict maps expert names to arrays
        ``(n_classes_k, dim)`` to start from (for example word vectors of the
        class names), still trained.
    top_labels : int, default=5
        T, the number of top predictions the label embedding reads.
    max_epochs : int, default=30
    optimizer : torch optimizer class, default=torch.optim.Adam
        The optimizer of the network; its own parameters are given with the
        prefix ``optimizer__``, as in skorch (for example
        ``optimizer__momentum=0.9``).
    lr : float, default=1e-3
        The optimizer's learning rate.
    batch_size : int, default=128
    weight_decay : float, default=0.0
        The optimizer's weight decay (``optimizer__weight_decay`` gives the
        same; set one or the other).
    validation_fraction : float or None, default=None
        Hold out this stratified fraction of the fit data and record
        ``valid_loss`` / ``valid_acc`` per epoch.
    patience : int or None, default=None
        Early stopping: stop when the validation loss (the training loss
        without validation) has not improved for ``patience`` epochs, and keep
        the best epoch's weights.
    callbacks : list of skorch callbacks or None, default=None
        More callbacks, for example :class:`~skgate.callbacks.EpochTestScoring`.
    device : str or torch.device, default="cpu"
        Where the gate trains and runs; ``"auto"`` means CUDA when available.
        With ``train_experts=True`` the experts are trained there too, and stay
        there: the mixture sets their ``device`` to it. ``gate.to(device)``
        moves a fitted gate.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation and shuffling without touching the global torch
        random state.
    verbose : int, default=0
        1 prints skorch's per-epoch table; 2 adds a progress bar.

    **optimizer_params
        The optimizer's own parameters, prefixed with ``optimizer__`` (for
        example ``optimizer__weight_decay=1e-2``), as in skorch: see
        :class:`TorchGate`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The mixture's label space (the labels of ``y`` with heads, else the
        union of the experts' classes).
    net_ : skorch.NeuralNetClassifier or None
        The trained network; None when nothing is trainable (a fixed gate
        over frozen experts without heads).
    module_ : SoftMixtureModule
        The mixture's torch module.
    expert_modules_ : list of torch.nn.Module or None
        With ``train_experts=True``, the experts' modules trained jointly with
        the gate: copies, the experts given to ``fit`` are left unchanged (the
        mixture puts these in its own experts). None otherwise.
    history_ : skorch.History
        Per-epoch ``train_loss``, ``train_acc`` (and ``valid_*``, callbacks'
        scores).
    n_experts_ : int

    See Also
    --------
    PANGate : Hard routing by one attribution network per expert.

    Examples
    --------
    >>> import numpy as np
    >>> from skgate import Expert, MixtureOfExperts
    >>> from skgate.gates import SoftMoE
    >>> from skgate.models import MLP
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(200, 1, 4, 4).astype(np.float32)
    >>> y = (X[:, 0, 0, 0] > 0.5).astype(int) + 2 * (X[:, 0, 1, 1] > 0.5)
    >>> def linear(classes):
    ...     return Expert(MLP, module__n_classes=len(classes), module__hidden_layer_sizes=(),
    ...                   classes=classes, random_state=0)
    >>> moe = MixtureOfExperts([("a", linear([0, 1, 2, 3])), ("b", linear([0, 1, 2, 3]))],
    ...                        gate=SoftMoE("linear", train_experts=True, max_epochs=5,
    ...                                     random_state=0))
    >>> moe.fit(X, y).route_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        "gate_net": [StrOptions(set(GATE_NETS))],
        "heads": [StrOptions({"linear"}), None],
        "combine": [StrOptions({"probabilities", "logits"})],
        "features": [str],
        "train_experts": ["boolean"],
        "owner": [callable, None],
        "hidden_units": [Interval(Integral, 1, None, closed="left")],
        "thumbnail_size": [Interval(Integral, 4, None, closed="left")],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "label_embedding": [Interval(Integral, 1, None, closed="left"), dict, None],
        "top_labels": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "callbacks": [list, None],
        **TorchGate._parameter_constraints,
    }


    def __init__(
        self,
        gate_net="mlp",
        *,
        heads=None,
        combine="probabilities",
        features="penultimate",
        train_experts=False,
        owner=None,
        hidden_units=64,
        thumbnail_size=32,
        embedding_dim=100,
        label_embedding=None,
        top_labels=5,
        max_epochs=30,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=128,
        weight_decay=0.0,
        validation_fraction=None,
        patience=None,
        callbacks=None,
        device="cpu",
        random_state=None,
        verbose=0,
        **optimizer_params,
    ):
        self.gate_net = gate_net
        self.heads = heads
        self.combine = combine
        self.features = features
        self.train_experts = train_experts
        self.owner = owner
        self.hidden_units = hidden_units
        self.thumbnail_size = thumbnail_size
        self.embedding_dim = embedding_dim
        self.label_embedding = label_embedding
        self.top_labels = top_labels
        self.max_epochs = max_epochs
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self._set_optimizer_params(optimizer_params)

    def _portable_state(self, state):
        net = state.get("net_")
        if net is not None and state.get("module_") is getattr(net, "module_", None):
            # the network's own module: pickled once, with the network, and one object
            # again after unpickling
            state.pop("module_")
            state.pop("expert_modules_", None)
            state["__module_is_net_module__"] = True
        return state

    def _restore_state(self):
        if self.__dict__.pop("__module_is_net_module__", False):
            self.module_ = self.net_.module_
            self.expert_modules_ = _joint_modules(self.module_)

    def _move_networks(self, device):
        net = getattr(self, "net_", None)
        if net is not None:
            move_net(net, device)
        move_module(getattr(self, "module_", None), device)  # the net's module, or its own

    # -- what the mixture needs to know -------------------------------------------------
    def expert_layers(self):
        if self.heads is not None or self.gate_net == "embedding":
            return (self.features,)
        return ()

    def gate_tags(self):
        return replace(super().gate_tags(), requires_labels=True,
                       trains_experts=self.train_experts,
                       defines_label_space=self.heads is not None)

    def _optimizer_kwargs(self):
        kwargs = super()._optimizer_kwargs()
        if "optimizer__weight_decay" in kwargs and self.weight_decay != 0:
            raise ValueError(
                f"SoftMoE got weight_decay={self.weight_decay!r} and optimizer__weight_decay="
                f"{kwargs['optimizer__weight_decay']!r}; set one or the other."
            )
        return {"optimizer__weight_decay": self.weight_decay, **kwargs}

    # -- building and training ----------------------------------------------------------
    def _gate_module(self, inputs, n_experts):
        label_dims = [self._label_dim(k) for k in range(n_experts)]
        return gate_module(self.gate_net, inputs, n_experts, hidden_units=self.hidden_units,
                           embedding_dim=self.embedding_dim, label_dims=label_dims)

    def _expert_modules(self, inputs, expert_set):
        n_classes = len(self.classes_)
        if self.heads is not None:
            # "logits": the heads' logits, combined by the module before the softmax
            last = [nn.LogSoftmax(dim=1)] if self.combine == "probabilities" else []
            return "heads", [
                nn.Sequential(
                    nn.Linear(inputs[f"h{k}"].shape[1] + self._label_dim(k), n_classes),
                    *last,
                )
                for k in range(len(expert_set))
            ]
        if self.train_experts:
            # copies: the gate never changes the experts it is given; the mixture puts the
            # trained copies (expert_modules_) in its own experts
            return "joint", joint_expert_modules(expert_set, inputs["x"][:1], n_classes)
        return "frozen", [nn.Identity() for _ in expert_set.experts]

    def _callbacks(self, user_callbacks):
        callbacks = [
            ("train_acc", EpochScoring("accuracy", on_train=True, name="train_acc",
                                       lower_is_better=False)),
        ]
        # before early stopping, which ends training by raising in its on_epoch_end: the
        # user's scores (EpochTestScoring) are then recorded for the last epoch too
        for i, callback in enumerate(user_callbacks):
            callbacks.append((f"user_{i}", callback))
        if self.patience is not None:
            monitor = "valid_loss" if self.validation_fraction else "train_loss"
            callbacks.append(("early_stopping", EarlyStopping(
                monitor=monitor, patience=self.patience, load_best=True)))
        if self.verbose >= 2:
            callbacks.append(("progress", ProgressBar()))
        return callbacks

    def _fit(self, outputs, y):
        expert_set = outputs.expert_set
        self._check_params(expert_set)
        y = np.asarray(y)
        self.expert_names_ = list(expert_set.names)
        if self.heads is not None:
            self.classes_ = np.unique(y)
        else:
            warn_unowned(self, expert_set.owners(y), expert_set.names)  # and unknown labels
            self.classes_ = expert_set.classes_
        y_enc = encode_labels(y, self.classes_)
        if self.heads is not None or self.gate_net == "embedding":
            self.scalers_ = [StandardScaler().fit(h) for h in outputs.layer(self.features)]
        inputs = self._inputs(outputs, y)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        with torch_seeded(seed, self._device()):  # seeds initialisation and shuffling
            self._build_and_train(inputs, y_enc, expert_set, seed)
        self.history_ = History() if self.net_ is None else self.net_.history
        return self

    def _build_and_train(self, inputs, y_enc, expert_set, seed):
        # shallow copies: skorch initialises its callbacks and EpochTestScoring binds its
        # inputs, on these copies and not on the user's objects
        user_callbacks = [copy.copy(callback) for callback in self.callbacks or []]
        mode, experts = self._expert_modules(inputs, expert_set)
        module = SoftMixtureModule(
            mode, experts, self._gate_module(inputs, len(expert_set)),
            self._label_embeddings(expert_set), combine=self.combine,
        )
        split = None
        if self.validation_fraction is not None:
            # seeded like the network: the split must not follow numpy's global state
            split = ValidSplit(self.validation_fraction, stratified=True,
                               random_state=int(seed))
        self.net_ = _SoftNet(
            module,
            # the module returns log Y with sum(Y) = 1, so cross-entropy (log-softmax, then
            # NLL) is exactly -log Y[y]; skorch's NeuralNetClassifier would take the log of
            # the output again with NLLLoss
            criterion=nn.CrossEntropyLoss,
            **self._optimizer_kwargs(),
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__shuffle=True,
            train_split=split,
            callbacks=self._callbacks(user_callbacks),
            device=self._device(),
            verbose=int(self.verbose >= 1),
        )
        for callback in user_callbacks:
            if isinstance(callback, EpochTestScoring):
                callback.bind(self, expert_set)
        if any(p.requires_grad for p in module.parameters()):
            self.net_.fit(inputs, y_enc)
            losses = np.asarray([row.get("train_loss", 0.0) for row in self.net_.history],
                                dtype=float)
            if not np.isfinite(losses).all():
                epoch = int(np.flatnonzero(~np.isfinite(losses))[0]) + 1
                raise ValueError(
                    f"SoftMoE's training loss became {losses[epoch - 1]} at epoch {epoch}: "
                    "the mixture it learned predicts nothing meaningful. Check the experts' "
                    "outputs on X for NaN or infinity, or lower lr."
                )
        else:  # a fixed gate over frozen experts: nothing to learn, nothing to train
            self.net_ = None
        self.module_ = module if self.net_ is None else self.net_.module_
        self.expert_modules_ = _joint_modules(self.module_)

    # -- prediction ---------------------------------------------------------------------
    def _forward(self, outputs):
        check_is_fitted(self)
        outputs = self._check_outputs(outputs, reset=False)
        inputs = self._inputs(outputs)
        if self.net_ is not None:
            log_proba, weights = self.net_.forward(inputs)
        else:
            with torch.inference_mode():
                log_proba, weights = self.module_(
                    **{key: torch.as_tensor(value) for key, value in inputs.items()}
                )
        return log_proba.exp().double().numpy(), weights.double().numpy()

    def _route_proba(self, outputs):
        return self._forward(outputs)[1]

    def predict_proba(self, outputs):
        """The mixture's probabilities over ``classes_``: ``sum_k G(X)_k E_k(X)``.

        Parameters
        ----------
        outputs : ExpertOutputs
            One forward pass of every expert.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Over ``classes_`` (the experts' union, or the labels of ``y`` with heads).
        """
        proba = self._forward(outputs)[0]
        return proba / proba.sum(axis=1, keepdims=True)
