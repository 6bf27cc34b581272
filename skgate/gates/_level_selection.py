"""Choosing among levels from held-out labelled samples, shared by UniversalGate and FloorGate.

A richer level (a calibration of :class:`UniversalGate`, the learned gate of
:class:`FloorGate`) replaces a simpler one only if, under repeated stratified
cross-validation, clearly more labelled samples are routed right by it than wrong:
:func:`held_out_hits` counts, :func:`clearly_better` is the sign test, and
:class:`LevelSelectionMixin` is ``UniversalGate(calibration="auto")``'s choice.
"""

import numpy as np
import torch
from sklearn.model_selection import RepeatedStratifiedKFold

from ._universal_modules import _rows

#: per-expert calibrations, from the simplest; "auto" chooses among them from the labels
CALIBRATIONS = ("none", "shift", "affine", "features", "network", "activations", "joint")
#: the calibrations that read the experts' activations
READS_ACTIVATIONS = ("activations", "joint")
#: fewest labelled samples per expert from which "auto" considers each calibration
MIN_SAMPLES = {"none": 0, "shift": 1, "affine": 2, "features": 5, "network": 20,
               "activations": 20, "joint": 20}
def held_out_hits(owners, route, *, cv, repeats, seed):
    """How often each labelled sample is routed to an owner when it is held out.

    Repeated stratified ``cv``-fold cross-validation (stratified by the first owner;
    fewer folds when an expert, or a first owner, has fewer samples). Where experts
    share classes, an expert may be no sample's first owner: it owns samples all the
    same, and the folds are counted over the first owners there are.
    ``route(train, test)`` fits on the rows ``train`` and returns the expert chosen for
    each row of ``test``. The same
    ``seed`` gives the same folds, so hits of several gates compare sample by sample.

    Returns
    -------
    hits : ndarray of shape (n_samples,), or None when an expert owns fewer than two
        samples (nothing to validate).
    """
    strata = owners.argmax(axis=1)
    per_stratum = np.bincount(strata)
    n_splits = min(cv, per_stratum[per_stratum > 0].min(), owners.sum(axis=0).min())
    if n_splits < 2:
        return None
    folds = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=repeats, random_state=seed)
    hits = np.zeros(len(strata))
    for train, test in folds.split(strata, strata):
        hits[test] += owners[test, route(train, test)]
    return hits


#: fewer labelled samples per expert than this, and cross-validation holds a handful per
#: fold: a richer choice must then win by two standard deviations instead of one
FEW_LABELS = 20


def clearly_better(hits, than, *, sigmas=1.0, floor=0):
    """Whether one gate routes clearly more held-out samples right than another.

    ``hits`` and ``than`` count, per labelled sample, how often each gate routed it
    right when it was held out. The first wins if the samples it routes better
    outnumber those it routes worse by more than ``sigmas`` standard deviations of a
    sign test (``sigmas`` times the square root of their sum) and by more than
    ``floor``: a few labels make cross-validation noisy, and one near miss fixed is
    no evidence.
    """
    wins, losses = np.sum(hits > than), np.sum(hits < than)
    return bool(wins - losses > max(sigmas * np.sqrt(wins + losses), floor))


class LevelSelectionMixin:
    """``UniversalGate``'s choice of its calibration level from the labels."""

    def _choose_calibration(self, inputs, owners, pool_right=None):
        """The calibration level for these labels; ``"pool"`` keeps the pool's calibration
        (``pool_right``: whether it routes each labelled sample right, or None)."""
        self.cv_scores_ = {}
        if self.calibration != "auto":
            return self.calibration
        counts = owners.sum(axis=0)
        levels = [lv for lv in CALIBRATIONS if counts.min() >= MIN_SAMPLES[lv]
                  and (lv not in READS_ACTIVATIONS or inputs["acts"] is not None)]
        seed = self._seed()  # one seed: every level is validated on the same folds

        def route(level):
            def fit_and_route(train, test):
                if level == "none":
                    return inputs["scores"].numpy()[test].argmax(axis=1)
                module = self._fit_calibration(level, inputs, owners, rows=train)
                with torch.no_grad():
                    return module(_rows(inputs, test)).numpy().argmax(axis=1)

            return fit_and_route

        hits = {}  # per labelled sample: how often it was routed right when held out
        for level in levels:
            hits[level] = held_out_hits(owners, route(level), cv=self.cv,
                                        repeats=self.cv_repeats, seed=seed)
            if hits[level] is None:  # too few labels to validate
                if pool_right is not None:
                    return "pool"
                return self._shift_if_it_helps(inputs, owners) if "shift" in levels else "none"
            self.cv_scores_[level] = float(hits[level].mean() / self.cv_repeats)
        # each level, from the simplest, replaces the one chosen so far only if more
        # labelled samples are routed better by it than worse, by more than one standard
        # deviation of a sign test (and by more than one sample past the shift): CV on a
        # few labels is noisy, and one near miss that a calibration happens to fix is
        # no evidence that it will route better
        chosen = "none"
        if pool_right is not None:  # label-free, so every labelled sample is held out
            chosen, hits["pool"] = "pool", pool_right * self.cv_repeats
            self.cv_scores_["pool"] = float(pool_right.mean())
        for level in levels[1:]:
            # the shift (one number per expert) at one standard deviation; the richer
            # levels at two while there are few labels: on an unseen hard pair an affine
            # calibration chosen on 3-to-0 held-out samples routed 0.014 below energy
            shift = level == "shift"
            sigmas = 2.0 if not shift and counts.min() < FEW_LABELS else 1.0
            if clearly_better(hits[level], hits[chosen], sigmas=sigmas,
                              floor=0 if shift else 1):
                chosen = level
        return chosen

    def _shift_if_it_helps(self, inputs, owners):
        """With one label per expert, no validation: shift only if it routes more of the
        labelled samples right than no calibration does (energy may be right already)."""
        module = self._fit_calibration("shift", inputs, owners)
        rows = np.arange(len(owners))
        with torch.no_grad():
            shifted = owners[rows, module(inputs).numpy().argmax(axis=1)].sum()
        plain = owners[rows, inputs["scores"].numpy().argmax(axis=1)].sum()
        return "shift" if shifted > plain else "none"
