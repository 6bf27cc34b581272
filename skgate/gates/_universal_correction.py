"""UniversalGate's shared correction: ``energy + correction(statistics)``, for any experts."""

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..utils._seeding import torch_seeded
from ._universal_features import FEATURE_SETS, UNIVERSAL_STATISTICS, universal_features
from ._universal_io import check_correction
from ._universal_modules import _correction_net, fit_correction


class SharedCorrectionMixin:
    """The correction shared by every expert: set, pre-trained on several problems, and
    applied (:meth:`universal_scores`)."""

    def _statistics(self):
        if isinstance(self.features, str):
            return FEATURE_SETS[self.features]
        unknown = sorted(set(self.features) - set(UNIVERSAL_STATISTICS))
        if unknown or not self.features:
            raise ValueError(
                f"features has unknown statistics {unknown}; expected a non-empty list of "
                f"{sorted(UNIVERSAL_STATISTICS)}, or one of {sorted(FEATURE_SETS)}."
            )
        return tuple(self.features)

    def _set_correction(self, correction):
        self.correction_ = correction
        self.statistics_ = () if correction is None else tuple(correction["statistics"])
        self._shared = None
        if correction is not None:
            check_correction(correction)  # a file's hidden_units must match its weights
            with torch_seeded(0):  # its weights are replaced: the user's generator is not moved
                net = _correction_net(correction["kind"], len(self.statistics_),
                                      max(correction["hidden_units"], 1)).double()
            net.load_state_dict({k: torch.as_tensor(v) for k, v in correction["state"].items()})
            self._shared = net.requires_grad_(False)

    def pretrain(self, problems):
        """Fit the shared correction on several problems at once, with no calibration.

        Each problem has its own experts (any number, any classes); the
        correction learns from all of them, so it depends on no expert and the
        gate works with any experts afterwards (``calibration_ == "none"``).

        Parameters
        ----------
        problems : list of (ExpertOutputs, array-like) pairs
            The experts' outputs on a problem's labelled data, and the labels.

        Returns
        -------
        self : UniversalGate
        """
        self._validate_params()
        if self.correction not in ("linear", "mlp"):
            raise ValueError(
                f"pretrain learns a correction: set correction='linear' or 'mlp', not "
                f"{self.correction!r}."
            )
        data = []
        for outputs, y in problems:
            outputs = self._check_outputs(outputs, reset=False)
            data.append((outputs.logits, outputs.expert_set.owners(np.asarray(y))))
        self._set_correction(None)
        self._fit_shared(data)
        self.cv_scores_ = {}
        self._set_pool(None)
        self._set_calibration("none", None)
        return self

    def _seed(self):
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _fit_shared(self, problems):
        """Learn the shared correction on [(logits, owners), ...], the loss averaged."""
        self._set_correction(fit_correction(
            problems, self._statistics(), kind=self.correction, hidden_units=self.hidden_units,
            alpha=self.alpha, max_iter=self.max_iter, seed=self._seed()))

    def universal_scores(self, outputs):
        """The shared scores ``energy + correction``, shape ``(n_samples, n_experts)``.

        These depend on no fitted expert: the same for any set of experts.

        Parameters
        ----------
        outputs : ExpertOutputs
            One forward pass of every expert.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_experts)
            Each expert's energy plus the shared correction of its statistics.
        """
        check_is_fitted(self)
        return self._universal_scores(outputs.logits)

    def _universal_scores(self, logits):
        energy = universal_features(logits, ("energy",))[..., 0]
        if self._shared is None:
            return energy
        c = self.correction_
        f = (universal_features(logits, self.statistics_) - c["feature_mean"]) / c[
            "feature_scale"]
        with torch.no_grad():
            return energy + self._shared(torch.as_tensor(f))[..., 0].numpy()
