"""ExpertSet: the fitted experts of one mixture, and their outputs on one input."""

from collections.abc import Mapping
from numbers import Number

import numpy as np
from scipy.special import softmax

from ..utils._labels import encode_labels
from ._set_cache import _CacheMixin
from ._set_passes import _PassMixin


def _label_kind(classes):
    return "number" if classes.dtype.kind in "biuf" else "string"


def _check_classes(name, classes):
    """Each of an expert's classes is one label: a number or a string."""
    if classes.ndim != 1:
        raise ValueError(
            f"Expert {name!r} has classes of shape {classes.shape}: each class must be one "
            "label (a number or a string), not a tuple or a list.")
    for label in classes.tolist():
        if not isinstance(label, (Number, str)):
            raise TypeError(
                f"Expert {name!r} has the class {label!r} of type {type(label).__name__}; "
                "labels must be numbers or strings.")


class ExpertOutputs:
    """The result of one forward pass of every expert over the same input.

    This is what a gate sees: it never runs the experts itself unless it needs
    passes over other inputs (augmented views), for which it gets ``X`` and the
    :class:`ExpertSet`. The parameters are kept as attributes of the same names.

    Parameters
    ----------
    expert_set : ExpertSet
        The experts that produced the outputs.
    X : ndarray or None
        The input, in the mixture's format; None for outputs joined from
        several passes by :meth:`concatenate` (a gate's pool, which the
        mixture runs the experts over a chunk at a time rather than copy it).
    logits : list of ndarray of shape (n_samples, n_classes_k) or None
        Each expert's logits, in its own column order; None when the experts
        were not run (:meth:`ExpertSet.inputs_only`).
    activations : list of dict of str to ndarray
        Each expert's requested activations, flattened to 2-D.

    Examples
    --------
    Two experts whose logits are columns 0-1 and 2-3 of ``X``:

    >>> import numpy as np
    >>> from skgate import MixtureOfExperts
    >>> from skgate.utils._testing import slice_expert
    >>> X = np.array([[3, 1, 0, 2], [0, 1, 5, 0]], dtype=np.float32)
    >>> moe = MixtureOfExperts([("a", slice_expert(4, 0, [0, 1])),
    ...                         ("b", slice_expert(4, 2, [2, 3]))]).fit(X)
    >>> outputs = moe.expert_outputs(X)
    >>> outputs.n_experts, outputs.n_samples
    (2, 2)
    >>> outputs.logits[1]
    array([[0., 2.],
           [5., 0.]], dtype=float32)
    >>> outputs.probas[1].round(3)
    array([[0.119, 0.881],
           [0.993, 0.007]], dtype=float32)
    """

    def __init__(self, expert_set, X, logits, activations):
        self.expert_set = expert_set
        self.X = X
        self.logits = logits
        self.activations = activations
        self._probas = None

    @property
    def n_experts(self):
        return len(self.expert_set)

    @property
    def n_samples(self):
        return len(self.X) if self.X is not None else len(self.logits[0])

    @classmethod
    def concatenate(cls, parts):
        """The outputs of several passes of the same experts, one after the other.

        The result holds no input (``X`` is None): only the experts' outputs.

        Parameters
        ----------
        parts : list of ExpertOutputs
            Passes of one :class:`ExpertSet` with the same activations.

        Returns
        -------
        outputs : ExpertOutputs
        """
        first = parts[0]
        logits = [np.concatenate([p.logits[k] for p in parts]) for k in
                  range(first.n_experts)]
        activations = [{name: np.concatenate([p.activations[k][name] for p in parts])
                        for name in first.activations[k]} for k in range(first.n_experts)]
        return cls(first.expert_set, None, logits, activations)

    @property
    def probas(self):
        """Each expert's softmax probabilities, computed once."""
        if self._probas is None:
            self._probas = [softmax(z, axis=1) for z in self.logits]
        return self._probas

    def subset(self, rows):
        """The outputs of the samples ``rows`` only.

        Parameters
        ----------
        rows : ndarray of int or slice
            The samples kept, in this order.

        Returns
        -------
        outputs : ExpertOutputs
        """
        out = ExpertOutputs(
            self.expert_set, None if self.X is None else self.X[rows],
            None if self.logits is None else [z[rows] for z in self.logits],
            None if self.activations is None else
            [{k: v[rows] for k, v in acts.items()} for acts in self.activations],
        )
        if self._probas is not None:
            out._probas = [p[rows] for p in self._probas]
        return out

    def layer(self, name):
        """The activation ``name`` of every expert.

        Parameters
        ----------
        name : str
            ``"logits"``, or a layer the gate requested.

        Returns
        -------
        activations : list of ndarray of shape (n_samples, n_features_k)
            One 2-D array per expert.
        """
        if name == "logits":
            return self.logits
        try:
            return [acts[name] for acts in self.activations]
        except KeyError:
            raise ValueError(
                f"The experts' outputs hold no activation {name!r}; the gate must request it."
            ) from None


class ExpertSet(_CacheMixin, _PassMixin):
    """The fitted experts of one mixture, seen as one object.

    Owns the label mapping: the union label space, where each expert's output
    columns go in it, and which experts own a label.

    Parameters
    ----------
    named_experts : list of (str, Expert)
        Fitted experts.
    n_jobs : int or None, default=None
        How many experts run at the same time, each in its own thread (torch
        releases the GIL): ``None`` means 1 unless in a
        :func:`joblib.parallel_config` context, ``-1`` all the CPUs. An execution
        setting, not learned: the mixture sets its own ``n_jobs`` here.

    Attributes
    ----------
    names : list of str
    experts : list of Expert
    classes_ : ndarray of shape (n_classes,)
        The union of the experts' classes, sorted.
    columns_ : list of ndarray of int
        For each expert, the index in ``classes_`` of each of its output columns.

    Examples
    --------
    A fitted mixture holds its experts as an ``ExpertSet`` (``expert_set_``):

    >>> import numpy as np
    >>> from skgate import MixtureOfExperts
    >>> from skgate.utils._testing import slice_expert
    >>> X = np.array([[3, 1, 0, 2], [0, 1, 5, 0]], dtype=np.float32)
    >>> moe = MixtureOfExperts([("a", slice_expert(4, 0, [0, 1])),
    ...                         ("b", slice_expert(4, 2, [2, 3]))]).fit(X)
    >>> expert_set = moe.expert_set_
    >>> expert_set.names, expert_set.classes_
    (['a', 'b'], array([0, 1, 2, 3]))
    >>> expert_set.owners([1, 2])
    array([[ True, False],
           [False,  True]])
    >>> outputs = expert_set.outputs(X)
    >>> weights = np.array([[1.0, 0.0], [0.0, 1.0]])  # the first input to a, the second to b
    >>> expert_set.combine(outputs.probas, weights).round(3)
    array([[0.881, 0.119, 0.   , 0.   ],
           [0.   , 0.   , 0.993, 0.007]])
    """

    n_jobs = None  # for sets saved before the setting existed

    def __init__(self, named_experts, n_jobs=None):
        self.n_jobs = n_jobs
        self.names = [name for name, _ in named_experts]
        self.experts = [expert for _, expert in named_experts]
        expert_classes = [np.asarray(e.classes_) for e in self.experts]
        for name, classes in zip(self.names, expert_classes):
            _check_classes(name, classes)
            if len(np.unique(classes)) != len(classes):
                raise ValueError(
                    f"Expert {name!r} lists a class twice in {classes.tolist()}; each output "
                    "column must have its own label."
                )
        kinds = {name: _label_kind(c) for name, c in zip(self.names, expert_classes)}
        if len(set(kinds.values())) > 1:
            raise TypeError(
                f"The experts' classes mix label types: {kinds}; use one type for all experts "
                "(all numbers or all strings)."
            )
        self.classes_ = np.unique(np.concatenate(expert_classes))
        self.columns_ = [encode_labels(c, self.classes_) for c in expert_classes]
        self._members = [np.isin(self.classes_, c) for c in expert_classes]

    def __len__(self):
        return len(self.experts)

    def outputs(self, X, layers=()):
        """Run each expert once over ``X``, batched, and collect logits and layers.

        Over an array, and when every expert only cuts it into batches (no custom
        dataset or loader), the experts take turns on each block of ``X`` while it
        is in the cache: ``X`` is read from memory once, not once per expert. With
        ``n_jobs`` above 1, up to ``n_jobs`` experts run at the same time, each in
        its own thread over the same blocks, so the results are the same.

        Parameters
        ----------
        X : ndarray of shape (n_samples, ...)
        layers : sequence of str, or mapping of expert name to sequence of str
            Activations to capture, for every expert or per expert.

        Returns
        -------
        outputs : ExpertOutputs
        """
        wanted = self._wanted(layers)
        experts = range(len(self))
        together = self._together(X)
        if together and self._workers() == 1:
            raw = self._forward_together(X, wanted, experts)
        else:  # the same blocks and batches in each expert's thread: the same results
            raw = self._map(lambda k: self._raw_one(k, X, wanted, together), experts)
        return self._checked_outputs(X, raw)

    def _checked_outputs(self, X, raw):
        """The :class:`ExpertOutputs` of each expert's raw ``(logits, activations)``
        over ``X``, checked."""
        checked = [self._check(k, z, acts) for k, (z, acts) in enumerate(raw)]
        return ExpertOutputs(self, X, [z for z, _ in checked], [acts for _, acts in checked])

    def _wanted(self, layers):
        """Each expert's layers to capture; unknown names fail here, before any pass."""
        wanted = [layers.get(name, ()) if isinstance(layers, Mapping) else layers
                  for name in self.names]
        for k in range(len(self)):
            self._layer_modules(k, wanted[k])
        return wanted

    def probas_of_rows(self, X, rows):
        """Each expert ``k``'s probabilities over ``X[rows[k]]``, running only those experts,
        up to ``n_jobs`` at the same time.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format.
        rows : list of ndarray of int
            For each expert, the rows of ``X`` it runs on.

        Returns
        -------
        probas : list of ndarray of shape (len(rows[k]), n_classes_k) or None
            None where ``rows[k]`` is empty.
        """
        wanted = [k for k in range(len(self)) if len(rows[k])]
        probas = dict(zip(wanted, self._map(lambda k: self.proba(k, X, rows[k]), wanted)))
        return [probas.get(k) for k in range(len(self))]

    def proba(self, k, X, rows=None):
        """Expert ``k``'s probabilities over ``X``, or ``X[rows]`` (in its own column
        order), running that expert only. The rows of an array are gathered one batch at
        a time, not copied at once.

        Parameters
        ----------
        k : int
            The expert's index.
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format.
        rows : ndarray of int or None, default=None
            The rows of ``X`` to run on; None for all of them.

        Returns
        -------
        proba : ndarray of shape (n_rows, n_classes_k)
        """
        self._layer_modules(k, ())
        expert = self.experts[k]
        if rows is None or not expert._reads_arrays(X):
            raw = self._forward_one(k, X if rows is None else X[rows], ())
        else:
            with self._reporting(k, X):
                expert._start_inference()
                raw = expert._collect([expert._logits_of(out) for out in
                                       expert._array_forward_iter(X, rows=rows)], {})
        return softmax(self._check(k, *raw)[0], axis=1)

    def inputs_only(self, X):
        """Outputs holding only the input, for a gate that runs the experts itself
        (one that trains them, when they cannot be run yet) or routes from the input.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Input in the mixture's format.

        Returns
        -------
        outputs : ExpertOutputs
            With ``X`` and no logits.
        """
        return ExpertOutputs(self, X, None, None)

    def owners(self, y):
        """Which experts own each label.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Labels in the union label space.

        Returns
        -------
        owners : ndarray of bool of shape (n_samples, n_experts)
            ``owners[i, k]``: expert ``k`` knows the label of sample ``i``.

        Raises
        ------
        ValueError
            Naming the labels that no expert knows.
        """
        idx = encode_labels(y, self.classes_, who="mixture's experts")
        return np.stack([member[idx] for member in self._members], axis=1)

    def to_union(self, proba, k):
        """Place expert ``k``'s per-column values into the union label space.

        Parameters
        ----------
        proba : ndarray of shape (n_samples, n_classes_k)
            Values in expert ``k``'s column order.
        k : int
            The expert's index.

        Returns
        -------
        union : ndarray of shape (n_samples, n_classes)
            Zero in the columns of classes expert ``k`` does not know.
        """
        out = np.zeros((len(proba), len(self.classes_)), dtype=np.float64)
        out[:, self.columns_[k]] = proba
        return out

    def combine(self, probas, weights):
        """Sum of each expert's probabilities, in the union space, weighted per sample.

        Parameters
        ----------
        probas : list of ndarray of shape (n_samples, n_classes_k)
        weights : ndarray of shape (n_samples, n_experts)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        out = np.zeros((len(weights), len(self.classes_)), dtype=np.float64)
        for k, proba in enumerate(probas):
            # an expert's columns are distinct, so fancy-indexed += does not drop terms
            out[:, self.columns_[k]] += weights[:, k : k + 1] * proba
        return out
