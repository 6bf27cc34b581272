"""Expert: a skorch classifier that knows its labels, its input format and its layers."""

from collections.abc import Mapping

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import EpochScoring, EpochTimer, PassthroughScoring, PrintLog
from skorch.dataset import ValidSplit
from skorch.utils import is_dataset, to_device, to_tensor

from ..utils._device import (
    PortableNet,
    module_placement,
    move_module,
    move_net,
    resolve_device,
)
from ..utils._labels import encode_labels
from ..utils._seeding import RNGSafeIterators, torch_seed, torch_seeded
from ._expert_batches import _ArrayInferenceMixin, _as_float32
from ._expert_hooks import PENULTIMATE, _HooksMixin, _last_linear


def _encoded_accuracy(net, X, y):
    """Accuracy of the output column indices against encoded targets (skorch scoring)."""
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == np.asarray(y)))


class Expert(_HooksMixin, _ArrayInferenceMixin, PortableNet, RNGSafeIterators,
             NeuralNetClassifier):
    """A skorch classifier that can serve as an expert in a :class:`MixtureOfExperts`.

    On top of :class:`skorch.NeuralNetClassifier` an expert knows

    - ``classes``: the global label of each of its output columns (any labels,
      integers or strings); the mixture's label space is the union of its
      experts' classes;
    - ``input_transform``: a callable applied to every float32 batch tensor
      (on the expert's device) before the module, turning the mixture's input
      format into the expert's own (for example a torchvision ``transforms.v2``
      pipeline that converts channels, pads and normalises);
    - its activations: :meth:`forward_outputs` returns the logits and any
      named layer (``"penultimate"``: the input of the last linear layer) from
      one forward pass.

    An expert built with :meth:`from_pretrained` is *frozen*: ``clone`` returns
    it unchanged, ``fit`` does nothing and ``set_params`` refuses, as with
    :class:`sklearn.frozen.FrozenEstimator`, so that a grid search over a
    mixture never retrains it.

    Parameters
    ----------
    module : torch module class or instance
        Returns logits, shape ``(n_samples, n_classes)``.
    *args
        skorch's positional arguments after ``module``.
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Loss on the module's logits.
    train_split : callable or None, default=ValidSplit(5, stratified=True)
        skorch's validation split (a stratified fifth); ``None`` trains on all of
        ``(X, y)``.
    classes : array-like of labels or None, default=None
        The label of each output column, in column order. ``None`` learns them
        from ``y`` in ``fit`` (sorted); in a mixture such an expert is trained on
        every label.
    input_transform : callable or None, default=None
        Applied to each float32 batch tensor before the module, for training
        and prediction alike.
    frozen : bool, default=False
        Whether the expert is already trained and must not change. Set by
        :meth:`from_pretrained`.
    random_state : int, RandomState instance or None, default=None
        Seeds torch (weights initialisation, shuffling, dropout) during ``fit``
        without touching the global torch random state.
    device : str, torch.device or None, default="cpu"
        skorch's ``device``, and ``"auto"`` as for the gates: CUDA when available,
        else the CPU (resolved when set, so ``get_params`` shows the device
        chosen). Checked when the expert is initialised: a ``ValueError`` names
        the parameter for a device torch does not know or CUDA without CUDA.
    **kwargs
        Any other :class:`skorch.NeuralNetClassifier` argument (``max_epochs``,
        ``lr``, ``optimizer``, ``batch_size``, ``callbacks``, ``train_split``,
        ``iterator_valid__collate_fn``, ``dataset``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels of the output columns.
    module_ : torch.nn.Module
        The trained module.

    See Also
    --------
    MixtureOfExperts : Combines experts with a gate.

    Notes
    -----
    Inputs go where the module's parameters are, in their floating dtype (a module
    already on a GPU with ``device=None``, a half-precision module), and the logits
    come back as float32. ``expert.to(device)`` moves a fitted expert to another device.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skgate import Expert
    >>> module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> expert = Expert.from_pretrained(module, classes=["cat", "dog"])
    >>> expert.predict(np.ones((3, 4), dtype=np.float32)).shape
    (3,)
    >>> logits, layers = expert.forward_outputs(np.ones((3, 4)), layers=["penultimate"])
    >>> logits.shape, layers["penultimate"].shape
    ((3, 2), (3, 4))
    """

    #: pickled through torch's loader with a device mapping, as skorch does for module_
    _portable_params = ("module", "input_transform")

    def __init__(
        self,
        module,
        *args,
        criterion=torch.nn.CrossEntropyLoss,
        train_split=ValidSplit(5, stratified=True),
        classes=None,
        input_transform=None,
        frozen=False,
        random_state=None,
        **kwargs,
    ):
        super().__init__(
            module, *args, criterion=criterion, train_split=train_split, classes=classes, **kwargs
        )
        self.input_transform = input_transform
        self.frozen = frozen
        self.random_state = random_state

    def __setattr__(self, name, value):
        # torchvision transforms are torch modules; skorch would treat one as a trainable
        # component and refuse it outside `initialize`. It is a plain parameter here.
        if name == "input_transform":
            object.__setattr__(self, name, value)
        elif name == "device" and isinstance(value, str) and value == "auto":
            super().__setattr__(name, resolve_device(value, type(self).__name__))
        else:
            super().__setattr__(name, value)

    @classmethod
    def from_pretrained(cls, module, *, classes, input_transform=None, **kwargs):
        """Build a frozen expert from an already trained torch module.

        Parameters
        ----------
        module : torch.nn.Module instance
            The trained module; it is used as is (not copied, never trained).
        classes : array-like of labels
            The global label of each of the module's output columns.
        input_transform : callable or None, default=None
            See :class:`Expert`.
        **kwargs
            Other :class:`Expert` arguments (``device``, ``batch_size``...).

        Returns
        -------
        expert : Expert
            An initialised, frozen expert.
        """
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                "from_pretrained expects a trained torch.nn.Module instance, "
                f"got {type(module).__name__}."
            )
        if classes is None or len(classes) == 0:
            raise ValueError("from_pretrained needs `classes`: the label of each output column.")
        kwargs.setdefault("verbose", 0)
        expert = cls(
            module, classes=list(classes), input_transform=input_transform, frozen=True, **kwargs
        )
        return expert.initialize()

    # -- frozen behaviour ---------------------------------------------------------------
    def freeze(self):
        """Freeze this trained expert in place, keeping all its settings.

        From then on ``clone`` returns it, ``fit`` leaves it unchanged and
        ``set_params`` refuses, as for :meth:`from_pretrained`.

        Returns
        -------
        self : Expert
        """
        check_is_fitted(self)
        object.__setattr__(self, "frozen", True)
        return self

    def _check_frozen_is_trained(self):
        if not getattr(self, "initialized_", False):
            raise ValueError(
                "This expert is frozen but holds no trained module: build frozen experts with "
                "Expert.from_pretrained(module, classes=...) or call freeze() after fit."
            )
        return self

    def __sklearn_clone__(self):
        if self.frozen:
            return self
        return super().__sklearn_clone__()

    def set_params(self, **kwargs):
        initialized = getattr(self, "initialized_", False)
        if "device" in kwargs and initialized:
            # where it runs, not what it computes: allowed on a frozen expert too, and its
            # module, criterion, optimiser state and input transform follow
            self.to(kwargs.pop("device"))
            if not kwargs:
                return self
        if getattr(self, "frozen", False) and initialized:
            raise ValueError(
                f"Cannot set {sorted(kwargs)} on a frozen expert: it is already trained and "
                "must not change (only its device may: expert.to(device)). Build a new "
                "expert to change it."
            )
        return super().set_params(**kwargs)

    def to(self, device):
        """Move the expert to ``device`` in place and set its ``device`` parameter.

        The module (``module_``, and the ``module`` parameter when it is a module
        instance), the criterion, the optimiser's state and an ``input_transform``
        that is a torch module go to ``device``. Allowed on a frozen expert: the
        device changes where it runs, not what it computes (a frozen expert shared
        by several mixtures moves for all of them).

        Parameters
        ----------
        device : str or torch.device
            ``"cpu"``, ``"cuda"``, ``"cuda:<index>"``, ``"auto"`` or a
            :class:`torch.device`.

        Returns
        -------
        self : Expert

        Examples
        --------
        >>> import torch
        >>> from skgate import Expert
        >>> expert = Expert.from_pretrained(torch.nn.Linear(4, 2), classes=[0, 1])
        >>> expert.to("cpu").device
        'cpu'
        """
        if device is not None:
            device = resolve_device(device, type(self).__name__)
        move_net(self, device)
        move_module(self.input_transform, device)
        return self

    def __sklearn_is_fitted__(self):
        return bool(getattr(self, "initialized_", False)) and (
            self.frozen
            or bool(getattr(self, "history_", None))
            or getattr(self, "jointly_trained_", False)  # trained by a gate (SoftMoE)
        )

    # -- training -----------------------------------------------------------------------
    @property
    def _default_callbacks(self):
        # skorch's default 'accuracy' scoring would compare labels with the encoded
        # targets the module is trained on; score the column indices instead.
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            (
                "valid_acc",
                EpochScoring(_encoded_accuracy, name="valid_acc", lower_is_better=False),
            ),
            ("print_log", PrintLog()),
        ]

    def fit(self, X, y, **fit_params):
        """Train the module from scratch on ``(X, y)``; ``y`` holds labels from ``classes``.

        A frozen expert is returned unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format.
        y : array-like of shape (n_samples,)
            Labels from ``classes`` (any labels when ``classes`` is None).
        **fit_params : dict
            Passed to skorch's ``fit``.

        Returns
        -------
        self : Expert
        """
        if self.frozen:
            return self._check_frozen_is_trained()
        self.__dict__.pop("classes_inferred_", None)  # a fit starts afresh
        with torch_seeded(torch_seed(self.random_state), self.device):
            return super().fit(X, y, **fit_params)  # initialises, then calls partial_fit

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Continue training on ``(X, y)``; a frozen expert is returned unchanged.

        The label of each output column comes from the ``classes`` parameter, else
        from the ``classes`` argument of the first call, else from the labels of the
        first batch; later batches may hold only some of them, and keep their columns.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format.
        y : array-like of shape (n_samples,)
            Labels; required.
        classes : array-like of labels or None, default=None
            The label of each output column, on the first call, when the
            ``classes`` parameter is None.
        **fit_params : dict
            Passed to skorch's ``partial_fit``.

        Returns
        -------
        self : Expert
        """
        if self.frozen:
            return self._check_frozen_is_trained()
        if y is None:
            raise ValueError(f"{type(self).__name__}.fit needs labels y.")
        y = np.asarray(y)
        check_classification_targets(y)
        classes = self._partial_fit_classes(y, classes)
        y_enc = encode_labels(y, classes)
        if isinstance(X, np.ndarray) and np.issubdtype(X.dtype, np.floating):
            X = X.astype(np.float32, copy=False)
        super().partial_fit(X, y_enc, **fit_params)
        self.classes_inferred_ = classes
        return self

    def _partial_fit_classes(self, y, classes):
        known = getattr(self, "classes_inferred_", None)  # from an earlier batch
        given = None if classes is None else np.asarray(classes)
        settled = np.asarray(self.classes) if self.classes is not None else known
        if given is not None and settled is not None and not np.array_equal(given, settled):
            raise ValueError(
                f"partial_fit got classes={given.tolist()}, but the expert's output columns "
                f"are {settled.tolist()} (from its classes parameter or an earlier batch)."
            )
        if settled is not None:
            return settled
        return given if given is not None else np.unique(y)

    def initialize(self):
        if self.device is None:  # skorch's None: leave the data and module where they are
            return super().initialize()
        resolve_device(self.device, type(self).__name__)  # a clear error, naming device
        super().initialize()
        move_module(self.input_transform, self.device)  # a transform holding tensors
        return self

    def infer(self, x, **fit_params):
        """The module's output on a batch, after the input transform.

        A tensor is converted to float32; a dict (a module taking several inputs) goes to
        the module as keyword arguments, merged with ``fit_params``, as in skorch; the
        input transform then receives the whole dict.

        Parameters
        ----------
        x : torch.Tensor, ndarray or dict
            A batch.
        **fit_params : dict
            Extra keyword arguments of the module (dict inputs only).

        Returns
        -------
        logits : torch.Tensor
            The module's output.
        """
        # where the module's parameters are, in their dtype: with device=None the module may
        # be on a GPU already; in a thread of n_jobs a bare "cuda" would be that thread's
        # current GPU, not necessarily the module's; a half-precision module takes halves
        device, dtype = module_placement(self.module_, self.device)
        x = to_tensor(x, device=device if device is not None else "cpu")
        if isinstance(x, Mapping):
            if self.input_transform is not None:
                x = self.input_transform(x)
            return self.module_(**self._merge_x_and_fit_params(x, fit_params))
        if isinstance(x, torch.Tensor):
            if x.dtype != torch.float32:
                x = x.to(torch.float32)  # the transform's input is float32, as documented
            if self.input_transform is not None:
                x = self.input_transform(x)
            if x.is_floating_point() and x.dtype != dtype:
                x = x.to(dtype)  # a half-precision module (or float64) takes its own dtype
        return self.module_(x, **fit_params)

    # -- inference ----------------------------------------------------------------------
    def forward_iter(self, X, training=False, device="cpu"):
        # Arrays are sliced into batches directly: skorch's Dataset + DataLoader path
        # collates sample by sample, which costs more than a LeNet forward pass. Only while
        # that path would do nothing else: a custom dataset, collate_fn, num_workers...
        # take skorch's path, as in training.
        if training:
            yield from super().forward_iter(X, training=training, device=device)
            return
        if is_dataset(X) or not self._reads_arrays(X):
            outputs = super().forward_iter(X, training=training, device=device)
        else:
            self._start_inference()
            outputs = (to_device(out, device) for out in self._array_forward_iter(X))
        for out in outputs:
            yield _as_float32(out)  # a half-precision module's logits: NumPy has no bfloat16

    def forward_outputs(self, X, layers=()):
        """Logits and requested activations of one forward pass over ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format (the expert applies its
            ``input_transform``).
        layers : sequence of str, default=()
            ``"penultimate"`` (the input of the module's last linear layer) or
            names of submodules (``dict(module.named_modules())``), whose output
            is returned. Activations are flattened to ``(n_samples, n_features)``.

        Returns
        -------
        logits : ndarray of shape (n_samples, n_classes)
        activations : dict of str to ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        with self._capturing(layers) as captured:
            chunks = [self._logits_of(y) for y in self.forward_iter(np.asarray(X), training=False)]
        return self._collect(chunks, captured)

    def layer_modules(self, layers):
        """The submodule behind each layer name; a clear error for unknown names.

        Parameters
        ----------
        layers : iterable of str
            ``"penultimate"`` or names of ``module_.named_modules()``.

        Returns
        -------
        modules : dict of str to torch.nn.Module
            For ``"penultimate"``, the module's last ``torch.nn.Linear`` (whose
            input is read).
        """
        check_is_fitted(self)
        named = dict(self.module_.named_modules())
        found = {}
        for name in layers:
            if name == PENULTIMATE:
                found[name] = _last_linear(self.module_)
                if found[name] is None:
                    raise ValueError(
                        f"The expert's module {type(self.module_).__name__} has no "
                        "torch.nn.Linear layer, so it has no 'penultimate' activation; "
                        "name a layer instead."
                    )
            elif name in named and name != "":
                found[name] = named[name]
            else:
                raise ValueError(
                    f"Unknown layer {name!r} for expert module {type(self.module_).__name__}; "
                    f"expected 'penultimate' or one of {[n for n in named if n]}."
                )
        return found

    def predict(self, X):
        """Predict the label (from ``classes_``) of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
