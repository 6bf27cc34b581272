"""UniversalGate's fit on the pool: the calibration fitted on the pool's pseudo-labels
(checked by a second view and refuted by the labels), and its semi-supervised refit on the
pseudo-labels and the labels together."""

import numpy as np
import torch

from ..utils._arrays import one_hot
from ._level_selection import clearly_better, held_out_hits
from ._universal_modules import _rows
from ._universal_pool import MIN_POOL, confident_half, second_view

#: at most this many pseudo-labels in each semi-supervised fit (with the labels)
MAX_PSEUDO = 2000
#: in a semi-supervised fit, the labels weigh this share of the pseudo-labels' total
LABEL_WEIGHT = 0.5


class PoolFitMixin:
    """``UniversalGate``'s fit on the pool (``_fit_pool``) and with the labels
    (``_semi_supervised``); the pool's level and calibration are in ``PoolMixin``."""

    def _fit_pool(self, inputs, labelled, owners):
        """Calibrate on the pool's pseudo-labels, then let the labels (if any) refute it.

        Every fit sample's input is in the pool (its label is not read here). The
        uncalibrated scores choose an expert for each; the more confident half of the
        inputs each expert is chosen for (by the margin of its score over the
        runner-up) are its pseudo-labels, and the ``pool_calibration`` level (penalised
        toward the identity) is fitted on them. It is used only if every expert has at
        least ``MIN_POOL`` pseudo-labels. When the activations are read, a second view
        checks it (:func:`~skgate.gates._universal_pool.second_view`): if a student on
        the activations reproduces its confident choices, it is refitted on the inputs
        where the two agree. Labelled samples, which neither fit reads, then test it: it
        is dropped if the uncalibrated scores route clearly more of them right (a sign
        test at one standard deviation), and the refit gives way to the first fit if
        that one routes clearly more of them right.

        Returns whether it routes each labelled sample right (None without labels, or
        when it is not used) and its pseudo-labels: the rows it was fitted on and every
        row's expert (None when it is not used).
        """
        n_experts = inputs["scores"].shape[1]
        chosen, confident, counts = confident_half(inputs["scores"].numpy())
        report = {"pool_size": len(chosen), "pseudo_labels": counts.tolist()}
        if n_experts < 2 or counts.min() < MIN_POOL:
            report["used"] = False
            report["reason"] = (f"too small: every expert needs {MIN_POOL} pseudo-labels, "
                                f"the fewest had {int(counts.min())}")
            self._set_pool(None, report)
            return None, None
        report["level"] = self._pool_level(inputs)

        def fit_on(rows, experts):  # (rows, pseudo-labels of every row, calibration)
            pseudo = one_hot(experts, n_experts).astype(bool)
            return rows, pseudo, self._fit_calibration(report["level"], inputs, pseudo, rows=rows)

        fits = [fit_on(np.flatnonzero(confident), chosen)]
        if inputs["acts"] is not None:
            with torch.no_grad():
                taught = fits[0][2](inputs).numpy()
            agree, report["second_view"] = second_view(
                [a.numpy() for a in inputs["acts"]], taught, self._seed())
            taught = taught.argmax(axis=1)
            if agree is not None and np.bincount(
                    taught[agree], minlength=n_experts).min() < MIN_POOL:
                agree = None
                report["second_view"].update(used=False, reason=(
                    f"fewer than {MIN_POOL} inputs of an expert where the two views agree"))
            if agree is not None:
                fits.append(fit_on(np.flatnonzero(agree), taught))
        rows, pseudo, module = fits[-1]
        pool_hits = None
        if owners is not None:
            labelled_rows = np.flatnonzero(labelled)
            subset = _rows(inputs, labelled_rows)

            def hits(fit):
                with torch.no_grad():
                    routed = fit[2](subset).numpy().argmax(axis=1)
                return owners[np.arange(len(labelled_rows)), routed].astype(float)

            plain_hits = owners[np.arange(len(labelled_rows)), chosen[labelled_rows]]
            pool_hits = hits(fits[-1])
            report["labelled_routing"] = {"none": float(plain_hits.mean()),
                                          "pool": float(pool_hits.mean())}
            first = hits(fits[0]) if len(fits) > 1 else pool_hits
            if clearly_better(first, pool_hits):  # the second view is refuted
                report["second_view"].update(used=False, reason=(
                    "the labelled samples route clearly better without it"))
                (rows, pseudo, module), pool_hits = fits[0], first
                report["labelled_routing"]["pool"] = float(pool_hits.mean())
            if clearly_better(plain_hits.astype(float), pool_hits, sigmas=1.0):
                report["used"] = False
                report["reason"] = "the labelled samples route clearly better without it"
                self._set_pool(None, report)
                return None, None
        report["used"] = True
        self._set_pool(module, report)
        return pool_hits, (rows, pseudo)

    def _semi_supervised(self, inputs, labelled_rows, owners, pool_right, pseudo_labels):
        """The pool calibration refitted on its pseudo-labels and the labels together, kept
        if it routes clearly more held-out labelled samples right than the pool's alone.

        The labels replace the pseudo-labels of their samples and weigh ``LABEL_WEIGHT``
        of the pseudo-labels' total (at most ``MAX_PSEUDO`` of them, drawn at random);
        the comparison is the sign test at one standard deviation, over the same
        repeated folds as the calibration levels (nothing to compare with one label
        per expert).
        """
        confident, pseudo = pseudo_labels  # rows of the pool, and every row's pseudo-label
        rng = np.random.default_rng(self._seed())
        confident = np.setdiff1d(confident, labelled_rows)
        if not len(confident):  # every sample is labelled: nothing to add to the labels
            return
        if len(confident) > MAX_PSEUDO:
            confident = np.sort(rng.choice(confident, size=MAX_PSEUDO, replace=False))
        level = self._pool_level(inputs)

        target = pseudo.copy()
        target[labelled_rows] = owners  # the labels replace their samples' pseudo-labels

        def fit(train):
            rows = np.concatenate([confident, labelled_rows[train]])
            weight = np.concatenate([np.ones(len(confident)), np.full(
                len(train), LABEL_WEIGHT * len(confident) / len(train))])
            return self._fit_calibration(level, inputs, target, rows=rows, weight=weight)

        def fit_and_route(train, test):
            with torch.no_grad():
                return fit(train)(_rows(inputs, labelled_rows[test])).numpy().argmax(axis=1)

        hits = held_out_hits(owners, fit_and_route, cv=self.cv, repeats=self.cv_repeats,
                             seed=self._seed())
        if hits is None:
            return
        self.cv_scores_["pool+labels"] = float(hits.mean() / self.cv_repeats)
        if clearly_better(hits, pool_right * self.cv_repeats, sigmas=1.0, floor=1):
            self.pool_report_["semi_supervised"] = True
            self._set_pool(fit(np.arange(len(owners))), self.pool_report_)
