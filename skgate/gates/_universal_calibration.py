"""UniversalGate's per-expert calibrations, on labels or on the pool: their inputs, their
fit, and the scores they give."""

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..utils._seeding import torch_seeded
from ._universal_features import FEATURE_SETS, universal_features
from ._universal_modules import (
    _Calibration,
    _minimise,
    _penalty,
    _routing_loss,
    _rows,
    calibration_stats,
    calibration_tensors,
)


class CalibrationMixin:
    """The per-expert calibration fitted on labels or on the pool, which binds the gate to
    its experts, and the calibrated :meth:`scores`."""

    def _set_calibration(self, level, module, n_experts=None):
        self.calibration_ = level
        self._calibrator = module
        if level != "none" or self.pool_used_:
            self.n_experts_ = n_experts
        elif hasattr(self, "n_experts_"):
            del self.n_experts_

    def _calibration_inputs(self, outputs, *, fit=False):
        """Tensors of the calibration: scores, statistics, logits and (when read)
        activations, standardised with the fit data's statistics (kept for prediction)."""
        logits = outputs.logits
        scores = self._universal_scores(logits)
        f = universal_features(logits, FEATURE_SETS["default"])
        acts = outputs.layer(self.layer) if self._reads_activations(outputs) else None
        if not fit and acts is None and self._wants_activations() and self.layer is not None:
            raise ValueError(
                f"This UniversalGate's calibration reads the experts' {self.layer!r} "
                "activations, which these outputs lack: compute them with "
                "ExpertSet.outputs(X, layers=gate.expert_layers()), as a mixture does.")
        if fit:
            self._cal_stats = calibration_stats(scores, f, logits, acts)
        return calibration_tensors(self._cal_stats, scores, f, logits, acts)

    def _reads_activations(self, outputs):
        """Whether the activations levels can be used: asked for, and in the outputs."""
        if self.layer is None or not self._wants_activations():
            return False
        return bool(outputs.activations) and all(self.layer in a for a in outputs.activations)

    def _fit_calibration(self, level, inputs, owners, rows=None, weight=None):
        """Fit calibration ``level`` on the ``rows`` of ``inputs`` and ``owners`` (all by
        default), each row's loss weighted by ``weight`` (1 by default)."""
        if rows is not None:
            inputs, owners = _rows(inputs, rows), owners[rows]
        with torch_seeded(self._seed()):
            module = _Calibration(level, inputs, self.hidden_units)
        target = torch.as_tensor(owners)
        weight = torch.ones(len(target), dtype=torch.float64) if weight is None else \
            torch.as_tensor(weight, dtype=torch.float64)

        def loss():  # summed, not averaged: the fewer the labels, the closer to identity
            return (_routing_loss(module(inputs), target, weight)
                    + self.calibration_alpha * _penalty(module))

        return _minimise(module, loss, self.max_iter).requires_grad_(False)

    def scores(self, outputs):
        """The final scores of each expert: calibrated, if the gate is.

        Parameters
        ----------
        outputs : ExpertOutputs
            One forward pass of every expert.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_experts)
            The best-scored expert routes (``mixing="hard"``).
        """
        check_is_fitted(self)
        outputs = self._check_outputs(outputs, reset=False)
        pool = getattr(self, "_pool_calibrator", None)  # None in gates saved before pools
        if self._calibrator is None and pool is None:
            return self._universal_scores(outputs.logits)
        with torch.no_grad():
            inputs = self._calibration_inputs(outputs)
            if pool is not None:
                inputs = {**inputs, "scores": pool(inputs)}
            # in units of the fit data's spread: the scale the calibrations were fitted at
            return (inputs["scores"] if self._calibrator is None
                    else self._calibrator(inputs)).numpy()

    def _check_outputs(self, outputs, *, reset):
        outputs = super()._check_outputs(outputs, reset=reset)
        bound = getattr(self, "calibration_", "none") != "none" or getattr(
            self, "pool_used_", False)
        if not reset and bound and outputs.n_experts != self.n_experts_:
            raise ValueError(
                f"This UniversalGate was calibrated on {self.n_experts_} experts "
                f"(calibration_={self.calibration_!r}, pool_used_={self.pool_used_}) and is "
                f"bound to them; got the outputs "
                f"of {outputs.n_experts}. Only a gate with calibration='none' works with "
                "any experts."
            )
        if not reset and bound and getattr(self, "_cal_stats", None) is not None:
            self._check_widths(outputs)
        return outputs

    def _check_widths(self, outputs):
        """The calibration reads each expert's logits (and activations) column by column:
        other experts of the same number are not the ones it was fitted on."""
        widths = {"logits": [np.shape(z)[1] for z in outputs.logits]}
        if self._cal_stats.get("acts") is not None and self._reads_activations(outputs):
            widths[f"{self.layer!r} activations"] = [
                np.shape(a)[1] for a in outputs.layer(self.layer)]
        fitted = {"logits": [len(m) for m, _ in self._cal_stats["logits"]]}
        if self._cal_stats.get("acts") is not None:
            fitted[f"{self.layer!r} activations"] = [len(m) for m, _ in self._cal_stats["acts"]]
        for what, got in widths.items():
            if what in fitted and got != fitted[what]:
                raise ValueError(
                    f"This UniversalGate's calibration was fitted on experts whose {what} have "
                    f"{fitted[what]} columns; these experts' have {got}. A calibration binds "
                    "the gate to the experts it was fitted on: refit it on these experts, or "
                    "use calibration='none' (or pool='ignore' with no labels) for a gate that "
                    "works with any experts.")


class PoolMixin:
    """``UniversalGate``'s pool calibration: whether it learns from a pool, the level it
    fits there, and the calibration it keeps (the fit is ``PoolFitMixin._fit_pool``, in
    ``_universal_pool_fit.py``)."""

    def _uses_pool(self):
        """Whether fit learns from unlabelled samples: the pool is one of the calibrations
        ``"auto"`` chooses among (a fixed level is fitted on the labels alone)."""
        return self.pool != "ignore" and self.calibration == "auto"

    def _set_pool(self, module, report=None):
        self.pool_used_ = module is not None
        self.pool_report_ = report or {}
        self._pool_calibrator = module

    def _pool_level(self, inputs):
        """The pool's calibration: ``pool_calibration``, or ``"network"`` in place of
        ``"activations"`` when the activations are not read."""
        level = self.pool_calibration
        return "network" if level == "activations" and inputs["acts"] is None else level
