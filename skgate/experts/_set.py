"""ExpertSet: the fitted experts of one mixture, and their outputs on one input."""

from collections.abc import Mapping

import numpy as np
from scipy.special import softmax

from ..utils._labels import encode_labels


def _label_kind(classes):
    return "number" if classes.dtype.kind in "biuf" else "string"


class ExpertOutputs:
    """The result of one forward pass of every expert over the same input.

    This is what a gate sees: it never runs the experts itself unless it needs
    passes over other inputs (augmented views), for which it gets ``X`` and the
    :class:`ExpertSet`.

    Attributes
    ----------
    expert_set : ExpertSet
        The experts that produced the outputs.
    X : ndarray
        The input, in the mixture's format.
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
        return len(self.X)

    @property
    def probas(self):
        """Each expert's softmax probabilities, computed once."""
        if self._probas is None:
            self._probas = [softmax(z, axis=1) for z in self.logits]
        return self._probas

    def subset(self, rows):
        """The outputs of the samples ``rows`` only (an index array or a slice)."""
        out = ExpertOutputs(
            self.expert_set, self.X[rows],
            None if self.logits is None else [z[rows] for z in self.logits],
            None if self.activations is None else
            [{k: v[rows] for k, v in acts.items()} for acts in self.activations],
        )
        if self._probas is not None:
            out._probas = [p[rows] for p in self._probas]
        return out

    def layer(self, name):
        """The activation ``name`` of every expert, as a list of 2-D arrays."""
        if name == "logits":
            return self.logits
        try:
            return [acts[name] for acts in self.activations]
        except KeyError:
            raise ValueError(
                f"The experts' outputs hold no activation {name!r}; the gate must request it."
            ) from None


class ExpertSet:
    """The fitted experts of one mixture, seen as one object.

    Owns the label mapping: the union label space, where each expert's output
    columns go in it, and which experts own a label.

    Parameters
    ----------
    named_experts : list of (str, Expert)
        Fitted experts.

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

    def __init__(self, named_experts):
        self.names = [name for name, _ in named_experts]
        self.experts = [expert for _, expert in named_experts]
        expert_classes = [np.asarray(e.classes_) for e in self.experts]
        for name, classes in zip(self.names, expert_classes):
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

        Parameters
        ----------
        X : ndarray of shape (n_samples, ...)
        layers : sequence of str, or mapping of expert name to sequence of str
            Activations to capture, for every expert or per expert.

        Returns
        -------
        outputs : ExpertOutputs
        """
        logits, activations = [], []
        for k, name in enumerate(self.names):
            wanted = layers.get(name, ()) if isinstance(layers, Mapping) else layers
            z, acts = self._forward(k, X, wanted)
            logits.append(z)
            activations.append(acts)
        return ExpertOutputs(self, X, logits, activations)

    def proba(self, k, X):
        """Expert ``k``'s probabilities over ``X`` (in its own column order), running
        that expert only."""
        return softmax(self._forward(k, X, ())[0], axis=1)

    def _forward(self, k, X, layers):
        """Expert ``k``'s logits and ``layers`` over ``X``, checked."""
        name, expert = self.names[k], self.experts[k]
        try:  # unknown layer names fail here, before any forward pass
            expert.layer_modules(layers)
        except ValueError as exc:
            raise ValueError(f"Expert {name!r}: {exc}") from None
        try:
            z, acts = expert.forward_outputs(X, layers=layers)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(
                f"Expert {name!r} could not process the input of shape {np.shape(X)} "
                f"(sample shape {np.shape(X)[1:]}): {exc} Check that the mixture's X is in "
                "the format the expert's input_transform expects."
            ) from exc
        if z.ndim != 2 or z.shape[1] != len(expert.classes_):
            raise ValueError(
                f"Expert {name!r} returned outputs of shape {z.shape}, expected "
                f"(n_samples, {len(expert.classes_)}): one column per class."
            )
        for what, values in [("logits", z), *acts.items()]:
            bad = ~np.isfinite(values).all(axis=1)
            if bad.any():
                raise ValueError(
                    f"Expert {name!r} returned non-finite {what} (NaN or infinity) for "
                    f"{int(bad.sum())} of {len(bad)} samples (first: sample "
                    f"{int(np.flatnonzero(bad)[0])}); a gate cannot route on them. Check "
                    "the input for NaN or infinity, and the expert's weights."
                )
        return z, acts

    def inputs_only(self, X):
        """Outputs holding only the input, for a gate that runs the experts itself
        (one that trains them, when they cannot be run yet)."""
        return ExpertOutputs(self, X, None, None)

    def owners(self, y):
        """Which experts own each label: boolean array of shape (n_samples, n_experts).

        Raises a ``ValueError`` naming labels that no expert knows.
        """
        idx = encode_labels(y, self.classes_, who="mixture's experts")
        return np.stack([member[idx] for member in self._members], axis=1)

    def to_union(self, proba, k):
        """Place expert ``k``'s per-column values into the union label space."""
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
