"""MixtureOfExperts' fitting helpers: the experts' checks, the experts' training, the
gate's data split, its pool of unlabelled samples and the experts' outputs through memory."""

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_memory

from .experts import Expert, ExpertOutputs
from .experts._set_cache import expert_fingerprint
from .gates import NaiveConcatGate, get_gate_fit, get_gate_tags
from .utils._labels import marker_is_a_class, unlabelled_mask
from .utils._seeding import torch_seed, torch_seeded

#: the most bytes of a gate's pool gathered from X at a time in fit
_POOL_CHUNK_BYTES = 16 * 2**20


class _FitMixin:
    """The private steps of ``MixtureOfExperts.fit``."""

    def _check_experts(self):
        if len(self.experts) == 0:
            raise ValueError("experts is empty: a MixtureOfExperts needs at least one expert.")
        for position, item in enumerate(self.experts):
            if not (isinstance(item, tuple) and len(item) == 2):
                raise TypeError(
                    "experts must be a list of (name, Expert) tuples, got an item of type "
                    f"{type(item).__name__}."
                )
            if not isinstance(item[0], str):
                raise TypeError(
                    f"Expert names must be strings; the expert at position {position} is "
                    f"named {item[0]!r} of type {type(item[0]).__name__}."
                )
        names = [name for name, _ in self.experts]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"Expert names must be unique; duplicated: {duplicates}.")
        self._validate_names(names)
        for name, expert in self.experts:
            if not isinstance(expert, Expert):
                raise TypeError(
                    f"Expert {name!r} is a {type(expert).__name__}; experts must be "
                    "skgate.Expert instances (wrap a trained module with Expert.from_pretrained)."
                )
            if expert.frozen:
                try:
                    expert._check_frozen_is_trained()
                except ValueError as exc:
                    raise ValueError(f"Expert {name!r}: {exc}") from None

    def _unlabelled(self, y):
        """The samples ``y`` marks unlabelled (-1), checked. An expert with classes=None
        learns every label of y, and a gate that defines its own label space predicts
        them: -1 is then one of them, and no sample is unlabelled."""
        learns_labels = any(expert.classes is None and not expert.frozen
                            for _, expert in self.experts) or \
            get_gate_tags(NaiveConcatGate() if self.gate is None else
                          self.gate).defines_label_space
        unlabelled = np.zeros(len(y), bool) if learns_labels else unlabelled_mask(y)
        if not unlabelled.all():
            check_classification_targets(y[~unlabelled])
        self._check_unlabelled_marker(y, unlabelled)
        return unlabelled

    def _check_unlabelled_marker(self, y, unlabelled):
        """-1 marks unlabelled samples; it must not also be a class of an expert."""
        if not unlabelled.any():
            return
        for name, expert in self.experts:
            classes = getattr(expert, "classes_", None) if expert.frozen else expert.classes
            if classes is not None and marker_is_a_class(classes):
                raise ValueError(
                    f"y marks {int(unlabelled.sum())} samples as unlabelled with -1 "
                    f"(scikit-learn's convention), but -1 is also a class of expert {name!r}. "
                    "Give that class another label, in y and in the expert's classes."
                )

    def _pool_rows(self, unlabelled, tags):
        """Indices of the unlabelled samples the gate gets: all of them, or a random
        subset of ``tags.max_unlabelled`` (in their order in X)."""
        rows = np.flatnonzero(unlabelled)
        cap = tags.max_unlabelled
        if cap is not None and len(rows) > cap:
            rng = check_random_state(self.random_state)
            rows = np.sort(rng.choice(rows, size=cap, replace=False))
        return rows

    def _fit_outputs(self):
        """The function giving the experts' outputs on the gate's data in ``fit``: through
        ``memory`` for the frozen experts (each one's fingerprint computed once per
        fit), or the plain pass when ``memory`` is None."""
        memory = check_memory(self.memory)  # None gives a Memory that stores nothing
        if getattr(memory, "location", True) is None:
            return self._outputs
        fingerprints = [expert_fingerprint(expert) if expert.frozen else None
                        for expert in self.experts_]
        layers = self.gate_tags_.expert_layers
        return lambda X: self.expert_set_._cached_outputs(X, layers, memory, fingerprints)

    def _pool_outputs(self, X_gate, y_gate, X, pool_rows, outputs_of):
        """The experts' outputs on the gate's data followed by the pool's rows of ``X``,
        and their labels followed by ``-1``. A gate that routes inputs trains on them, so
        they are copied into one array; for any other the experts run over the pool a
        chunk at a time (``chunk_size`` rows, fewer if they take over 16 MB) and only their
        outputs are kept."""
        numeric = y_gate is None or y_gate.dtype.kind in "iuf"
        marker = np.full(len(pool_rows), -1, dtype=np.int64 if numeric else object)
        labels = marker if y_gate is None else np.concatenate(
            [y_gate if numeric else y_gate.astype(object), marker])
        if self.gate_tags_.routes_inputs:
            joined = np.empty((len(labels), *X.shape[1:]), dtype=X.dtype)
            joined[:len(X_gate)] = X_gate
            # mode="clip" writes straight into `out` (the default buffers a whole copy)
            np.take(X, pool_rows, axis=0, out=joined[len(X_gate):], mode="clip")
            return outputs_of(joined), labels
        parts = [outputs_of(X_gate)] if len(X_gate) else []
        # the pool's rows are copied (gathered) a chunk at a time, at most _POOL_CHUNK_BYTES
        step = max(1, min(self.chunk_size or len(pool_rows),
                          _POOL_CHUNK_BYTES // max(X[:1].nbytes, 1)))
        for rows in gen_batches(len(pool_rows), step):
            parts.append(outputs_of(X[pool_rows[rows]]))
            parts[-1].X = None  # the chunk's copy of X goes now, not with the last chunk
        return ExpertOutputs.concatenate(parts), labels

    def _check_gate_fits_experts(self):
        """A gate fitted beforehand (frozen) and bound to its experts must get as many."""
        if isinstance(self.gate_, FrozenEstimator):
            get_gate_fit(self.gate_, n_experts=len(self.experts_))

    @staticmethod
    def _init_expert(name, expert, y):
        if y is None:
            raise ValueError(
                f"Expert {name!r} is trained jointly with the gate: fit requires y to be "
                "passed, but the target y is None."
            )
        if expert.classes is None:
            expert.set_params(classes=list(np.unique(y)))
        with torch_seeded(torch_seed(expert.random_state), expert.device):
            expert.initialize()

    def _split(self, X, y):
        _, counts = np.unique(y, return_counts=True)
        return train_test_split(
            X, y, test_size=self.gate_split, random_state=self.random_state,
            stratify=y if counts.min() >= 2 else None,
        )

    @staticmethod
    def _fit_expert(name, expert, X, y):
        if y is None:
            raise ValueError(
                f"Expert {name!r} is not frozen and must be trained: fit requires y to "
                "be passed, but the target y is None."
            )
        mine = np.ones(len(y), bool) if expert.classes is None else np.isin(
            y, np.asarray(expert.classes)
        )
        classes = np.asarray(expert.classes)
        numeric = classes.dtype.kind in "biuf", np.asarray(y).dtype.kind in "biuf"
        if not mine.any() and len(y) and numeric[0] != numeric[1]:
            raise TypeError(
                f"Expert {name!r} has classes of type {classes.dtype} "
                f"({list(expert.classes)[:3]}...) but y holds {np.asarray(y).dtype} labels "
                f"({list(np.unique(y))[:3]}...); give y and the experts' classes the same type."
            )
        if not mine.any():
            raise ValueError(
                f"Expert {name!r} has no training sample: none of y's labels is in its "
                f"classes {list(expert.classes)}."
            )
        try:
            expert.fit(X[mine], y[mine])
        except IndexError as exc:  # cross-entropy: a target past the module's outputs
            if "out of bounds" not in str(exc):
                raise
            n_classes = len(expert.classes) if expert.classes is not None else len(
                np.unique(y[mine]))
            raise ValueError(
                f"Expert {name!r} could not be trained: its module has fewer outputs than "
                f"its {n_classes} classes ({exc}). Build the module with one output per "
                f"class, e.g. module__n_classes={n_classes}."
            ) from exc
