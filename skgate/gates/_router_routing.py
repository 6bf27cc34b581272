"""FastRouter's routing: the router's probabilities from the input alone, and the weights
(hard, or its ``top_k`` experts where it is unsure)."""

import numpy as np
import torch
from scipy.special import softmax
from sklearn.utils.validation import check_is_fitted

from ..utils._arrays import one_hot
from ..utils._device import module_placement


class RoutingMixin:
    """How a fitted :class:`FastRouter` routes (or, having failed its check, its teacher)."""

    def _router_proba(self, X):
        # the module directly, in inference mode and large batches: skorch's predict
        # indexes its Dataset one sample at a time, which cost more than the router itself
        module = self.router_.module_
        # where the module is (in a thread, a bare "cuda" would be that thread's GPU)
        device, dtype = module_placement(module, self.router_.device or "cpu")
        X = np.asarray(X, dtype=np.float32)
        step = max(self.batch_size, 1024)
        with torch.inference_mode():
            logits = [module(torch.from_numpy(np.ascontiguousarray(X[i : i + step]))
                             .to(device, dtype)).float().cpu().numpy()
                      for i in range(0, len(X), step)]
        return softmax(np.concatenate(logits), axis=1)

    def router_proba(self, outputs):
        """The router's probability of each expert, from ``outputs.X`` alone.

        Parameters
        ----------
        outputs : ExpertOutputs
            Its ``X`` is read; the experts' outputs need not be there
            (``ExpertSet.inputs_only``).

        Returns
        -------
        proba : ndarray of shape (n_samples, n_experts)
            The softmax of the router's logits.
        """
        check_is_fitted(self)
        self._check_outputs(outputs, reset=False)
        return self._router_proba(outputs.X)

    def _route_proba(self, outputs):
        if self.fallback_:  # the router failed its check: the teacher routes
            return self.teacher_.route_proba(outputs)
        proba = self._router_proba(outputs.X)
        weights = one_hot(proba.argmax(axis=1), proba.shape[1])
        k = min(self.top_k, proba.shape[1])
        unsure = proba.max(axis=1) < self.confidence
        if k > 1 and unsure.any():
            rows = np.flatnonzero(unsure)
            top = np.argsort(-proba[rows], axis=1, kind="stable")[:, :k]
            kept = np.zeros((len(rows), proba.shape[1]))
            np.put_along_axis(kept, top, np.take_along_axis(proba[rows], top, axis=1), axis=1)
            weights[rows] = kept / kept.sum(axis=1, keepdims=True)
        return weights
