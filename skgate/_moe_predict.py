"""MixtureOfExperts' prediction machinery: X validated, then the gate's method run
``chunk_size`` samples at a time; a gate that routes inputs runs each expert on its rows
only."""

import numpy as np
from sklearn.utils import gen_batches
from sklearn.utils.validation import check_is_fitted, validate_data


class _PredictMixin:
    """The private steps of ``MixtureOfExperts``' predictions."""

    def _outputs(self, X):
        return self.expert_set_.outputs(X, layers=self.gate_tags_.expert_layers)

    def _validate_X(self, X):
        check_is_fitted(self)
        self.expert_set_.n_jobs = self.n_jobs  # an execution setting, changeable after fit
        shape = getattr(X, "shape", None)  # images: name the sample shape, not "features"
        # flat or 1-D X given to a flat mixture keeps scikit-learn's messages
        images = len(self.sample_shape_) > 1 or len(shape or ()) > 2
        if shape is not None and images and tuple(shape[1:]) != self.sample_shape_:
            raise ValueError(
                f"X has samples of shape {tuple(shape[1:])}, but the mixture was fitted on "
                f"samples of shape {self.sample_shape_}; give X in the same format."
            )
        return validate_data(self, X, allow_nd=True, dtype=np.float32, reset=False)

    def _chunked(self, X, method, reduce=None):
        """The gate's ``method`` over ``X``, one chunk of ``chunk_size`` samples at a time,
        each chunk's result passed through ``reduce`` if given."""
        X = self._validate_X(X)
        n_samples = len(X)
        result = None
        for rows in gen_batches(n_samples, self.chunk_size or n_samples):
            part = self._predict_chunk(X[rows], method)
            if reduce is not None:
                part = reduce(part)
            if result is None:  # filled in place: no list of parts, no concatenated copy
                result = np.empty((n_samples, *part.shape[1:]), dtype=part.dtype)
            result[rows] = part
        return result

    def _predict_chunk(self, X, method):
        tags = self.gate_tags_
        if tags.routes_inputs:  # the gate decides from X alone, before any expert runs
            return self._routed(X, method)
        if tags.trains_experts:  # the gate runs the experts inside its network
            outputs = self.expert_set_.inputs_only(X)
        else:
            outputs = self._outputs(X)
        return getattr(self.gate_, method)(outputs)

    def _routed(self, X, method):
        """Route from ``X``, then run each expert only on the samples it was given."""
        weights = self.gate_.route_proba(self.expert_set_.inputs_only(X))
        if method == "route_proba":
            return weights
        expert_set = self.expert_set_
        rows = [np.flatnonzero(weights[:, k] > 0) for k in range(len(expert_set))]
        probas = expert_set.probas_of_rows(X, rows)
        proba = np.zeros((len(X), len(expert_set.classes_)), dtype=np.float64)
        for k, expert_proba in enumerate(probas):
            if expert_proba is not None:  # the same sum, in the same order, as combine
                proba[np.ix_(rows[k], expert_set.columns_[k])] += (
                    weights[rows[k], k : k + 1] * expert_proba)
        return proba
