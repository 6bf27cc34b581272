"""NaiveConcatGate: a data-free statistic of each expert's logits picks the expert."""

from dataclasses import replace

import numpy as np
import torch
from scipy.special import softmax

from ..utils._arrays import one_hot
from ..utils._param_validation import StrOptions
from ._base import BaseGate


def _max_logit(z, total):
    return z.max(axis=1)


def _safe_ratio(numerator, denominator):
    """``numerator / denominator``, and ``-inf`` (never chosen) where the denominator is 0."""
    out = np.full(numerator.shape, -np.inf)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _ratio(z, total):
    return _safe_ratio(z.max(axis=1), z.sum(axis=1))


def _overall_ratio(z, total):
    return _safe_ratio(z.max(axis=1), total)


def _third_quartile(z, total):
    return z.max(axis=1) - np.percentile(z, 75, axis=1)


def _std(z, total):
    return -z.std(axis=1)


def _energy(z, total):
    # torch's logsumexp, on a copy (any array: read-only, strided): scipy.special.logsumexp's
    # array-API dispatch costs 4x more on 10,000 x 10 logits; both give +inf for +inf and
    # -inf for rows of -inf
    return torch.logsumexp(torch.from_numpy(np.array(z)), dim=1).numpy()


def _max_proba(z, total):
    # max(softmax(z)) - 1, computed as -others / (1 + others) with others the sum of the
    # other classes' exp(z_j - max z): the probability's order, but a confident expert's
    # 1 - 1e-20 does not round to 1 (confident experts tied, and the first one won)
    others = np.exp(z - z.max(axis=1, keepdims=True))
    others[np.arange(len(z)), z.argmax(axis=1)] = 0.0
    others = others.sum(axis=1)
    return -others / (1.0 + others)


def _entropy(z, total):
    p = softmax(z, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=1)


#: statistic name -> score(logits of one expert, sum of all experts' logits); higher wins
STATISTICS = {
    "max_logit": _max_logit,
    "ratio": _ratio,
    "overall_ratio": _overall_ratio,
    "third_quartile": _third_quartile,
    "std": _std,
    "energy": _energy,
    "max_proba": _max_proba,
    "entropy": _entropy,
}


def expert_scores(logits, statistic):
    """Score each expert with a statistic of its logits (higher: more likely its input).

    Parameters
    ----------
    logits : list of ndarray of shape (n_samples, n_classes_k)
        Each expert's raw logits.
    statistic : str
        A key of :data:`STATISTICS`.

    Returns
    -------
    scores : ndarray of shape (n_samples, n_experts)
        Undefined values (a ratio over a zero sum) are ``-inf``.

    Examples
    --------
    >>> import numpy as np
    >>> from skgate.gates._naive import expert_scores
    >>> logits = [np.array([[3.0, 1.0], [0.0, 1.0]]),        # expert 0: 2 classes
    ...           np.array([[0.0, 2.0, 1.0], [5.0, 0.0, 0.0]])]  # expert 1: 3 classes
    >>> expert_scores(logits, "max_logit")
    array([[3., 2.],
           [1., 5.]])
    >>> expert_scores(logits, "energy").round(3)  # logsumexp of each expert's logits
    array([[3.127, 2.408],
           [1.313, 5.013]])
    """
    total = sum(z.sum(axis=1) for z in logits)
    scores = np.stack([STATISTICS[statistic](z, total) for z in logits], axis=1)
    return np.where(np.isnan(scores), -np.inf, scores)


class NaiveConcatGate(BaseGate):
    """Data-free gate: a statistic of each expert's logits picks one expert.

    The "naive concatenation" of Kang, Chua and Maul: every expert sees the
    input, each expert gets a score from its raw logits, and the expert with
    the highest score answers alone (ties go to the first such expert). Needs
    no data and no labels.

    Parameters
    ----------
    statistic : str, default="energy"
        How an expert's logits ``z`` (one row, ``C`` values) are scored:

        - ``"max_logit"``: ``max(z)``; the paper's "argmax" (the argmax of the
          concatenated logits falls in the expert with the largest logit).
        - ``"ratio"``: ``max(z) / sum(z)``, the paper's ratio of a logit to the
          sum of that expert's logits. Logits are signed, so the sum can be near
          zero or negative; as in the paper, no correction is made.
        - ``"overall_ratio"``: ``max(z) / S`` with ``S`` the sum of all experts'
          logits: the same as ``max_logit`` when ``S > 0`` and its reverse when
          ``S < 0``, as the paper defines it.
        - ``"third_quartile"``: ``max(z) - q75(z)``, the paper's third-quartile
          difference (with linear interpolation). The original code computed
          ``max - min`` by mistake; this follows the paper.
        - ``"std"``: the expert with the *lowest* standard deviation wins, as the
          paper defines it on purpose, as a contrast.
        - ``"energy"``: ``logsumexp(z)``, the (negative) free energy of the
          out-of-distribution literature.
        - ``"max_proba"``: the largest softmax probability, minus 1 (computed
          so that a confident expert's probability does not round to 1: the
          scores of confident experts would tie).
        - ``"entropy"``: the lowest softmax entropy wins.

        The default, ``"energy"``, is the best or tied-best statistic in skgate's
        benchmark on disjoint MNIST and MNIST + CIFAR-10 (see
        ``docs/benchmarks.md``): it equals ``max_logit`` when one logit
        dominates and adds the evidence of the others when it does not.

    Attributes
    ----------
    n_experts_ : int
        Number of experts seen in ``fit``.

    See Also
    --------
    skgate.MixtureOfExperts : Combines experts with a gate.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skgate import Expert, MixtureOfExperts
    >>> from skgate.gates import NaiveConcatGate
    >>> def expert(weight, classes):
    ...     module = torch.nn.Linear(2, 2, bias=False)
    ...     module.weight.data = torch.tensor(weight)
    ...     return Expert.from_pretrained(module, classes=classes)
    >>> moe = MixtureOfExperts(
    ...     [("low", expert([[5.0, 0.0], [0.0, 0.0]], [0, 1])),
    ...      ("high", expert([[0.0, 0.0], [0.0, 5.0]], [2, 3]))],
    ...     gate=NaiveConcatGate(statistic="max_logit"))
    >>> X = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> moe.fit(X).route(X)
    array([0, 1])
    >>> moe.predict(X)
    array([0, 3])
    """

    _parameter_constraints = {"statistic": [StrOptions(set(STATISTICS))]}
    def gate_tags(self):
        return replace(super().gate_tags(), data_free=True)

    def __init__(self, statistic="energy"):
        self.statistic = statistic

    def expert_scores(self, outputs):
        """The statistic of each expert's logits, shape ``(n_samples, n_experts)``.

        Parameters
        ----------
        outputs : ExpertOutputs
            One forward pass of every expert.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_experts)
            Higher: the more likely the input is the expert's.
        """
        return expert_scores(outputs.logits, self.statistic)

    def _route_proba(self, outputs):
        return one_hot(self.expert_scores(outputs).argmax(axis=1), outputs.n_experts)
