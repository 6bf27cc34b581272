"""AugmentedGate: the experts re-run on augmented views of the input, decisions aggregated.

The "multiple pass with post data augmentation" of Kang, Chua and Maul (section 4.3,
Algorithm 1): every expert sees the input and several augmented views of it; the gate
aggregates the passes by mean or by vote. Augmentations work in the mixture's input space
(float32 ``(N, C, H, W)`` in [0, 1]), before each expert's own input transform, on the whole
batch at once; only the random numbers are drawn sample by sample, from each sample's values,
so that a sample's views do not depend on its position in the batch.
"""
from dataclasses import replace
from numbers import Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..utils._arrays import one_hot
from ..utils._param_validation import Interval, StrOptions
from ._augmentations import (
    _AUGMENTATIONS,
    AUGMENTATION_SETS,
    _SampleRandom,
    resolve_augmentations,
)
from ._base import BaseGate
from ._naive import STATISTICS, expert_scores


# -- aggregation ----------------------------------------------------------------------------
def _prefer(primary, secondary):
    """Per row, the column with the largest ``primary``; ties go to the largest ``secondary``.

    Columns tied on both go to the first of them.
    """
    best = primary == primary.max(axis=1, keepdims=True)
    choice = np.where(best, secondary, -np.inf).argmax(axis=1)
    stuck = ~best[np.arange(len(choice)), choice]  # every tied secondary is -inf
    choice[stuck] = best[stuck].argmax(axis=1)
    return choice


#: samples augmented at once
_CHUNK = 2048

AGGREGATIONS = ("mean", "vote", "consistency", "agreement")


class AugmentedGate(BaseGate):
    """Data-free gate: experts re-run on augmented inputs, their decisions aggregated.

    The multi-pass augmentation of Kang, Chua and Maul (section 4.3): besides the
    input, every expert sees ``P`` augmented views of it; each expert gets a score
    from its logits (a :class:`~skgate.gates.NaiveConcatGate` statistic, as in
    :class:`NaiveConcatGate`) and the passes are aggregated; the chosen expert
    answers alone, from its output on the un-augmented input. Needs no data.

    Augmentations are applied in the mixture's input space (float32
    ``(N, C, H, W)`` in [0, 1]) before each expert's own input transform, to the
    whole batch at once: ``P`` passes cost about ``P`` forward passes.

    Parameters
    ----------
    augmentations : str or list of (str, dict), default="sharpen_5_alphas"
        The augmented passes: the name of a set of passes, one of the paper's
        Table 3 rows (``"sharpen"``, ``"sharpen_5_alphas"``, ``"gaussian"``,
        ``"gaussian_5"``, ``"gaussian_6_stds"``, ``"poisson"``, ``"poisson_5"``,
        ``"poisson_6_rates"``, ``"flips"``, ``"random_crop"``), or a list with
        one ``(name, params)`` pair per pass, for example
        ``[("gaussian_noise", {"std": 0.05}), ("gaussian_noise", {"std":
        0.1})]``; a bare name means its default parameters. The augmentations,
        with their default parameters:

        - ``"sharpen"`` (``alpha=0.5``, ``lightness=1``, ``clip=True``):
          imgaug's ``Sharpen(alpha, lightness)``: the image convolved with
          ``(1 - alpha) * identity + alpha * [[-1, -1, -1], [-1, 8 + lightness,
          -1], [-1, -1, -1]]`` per channel (borders replicated). ``alpha=0``
          leaves the image unchanged, ``alpha=1`` is the full sharpening. (The
          original code ignored ``alpha`` and used imgaug's random lightness.)
        - ``"gaussian_noise"`` (``std=1``, ``clip=True``): ``x + std * N(0, 1)``
          per value, as ``v2.GaussianNoise(sigma=std, clip=clip)``.
        - ``"poisson_noise"`` (``rate=0.5``, ``scale=1``, ``clip=True``): adds
          ``scale * min(k, 1)`` with ``k ~ Poisson(rate)`` per value, as the
          original code (with ``scale=1``); that is, each value gets ``+scale``
          with probability ``1 - exp(-rate)`` (clipped, with ``scale=1``: salt
          noise).
        - ``"horizontal_flip"``, ``"vertical_flip"``: ``v2.functional``'s flips.
        - ``"random_resized_crop"`` (``scale=(0.08, 1)``, ``ratio=(3/4, 4/3)``):
          ``v2.RandomResizedCrop`` to the input's own size, one random box per
          sample, resized bilinearly.

        Noise and sharpening are clipped to [0, 1] (the mixture's image range)
        unless ``clip=False``; flips and crops stay in range by construction. The
        defaults ``std=1`` and ``rate=0.5`` are the original code's, but they
        apply here to the [0, 1] input: the original added its noise, unclipped,
        to normalised inputs, which for an MNIST expert (std 0.3081) is
        ``std * 0.3081`` and ``scale=0.3081`` here with ``clip=False``.
    aggregation : {"mean", "vote", "consistency", "agreement"}, default="vote"
        How the passes (the un-augmented one first, if ``include_original``)
        decide:

        - ``"mean"``: average each expert's logits over the passes, then score
          (the paper's mean).
        - ``"vote"``: each pass picks an expert (the highest score); the expert
          with the most votes wins. **Ties** go to the tied expert with the best
          ``"mean"`` score, never simply to the first expert (the original code's
          ``torch.mode`` gave them to the lowest index).
        - ``"consistency"`` (not in the paper): the ``"mean"`` score minus
          ``penalty`` times the standard deviation of the expert's score across
          the passes, testing the paper's hypothesis that the owner's outputs vary
          less under augmentation.
        - ``"agreement"`` (not in the paper): the share of passes in which the
          expert's top class is the top class of its mean logits; ties go to the
          best ``"mean"`` score.

        Which aggregation suits which augmentations, and how the defaults were
        chosen, is measured in the benchmarks page of the documentation
        (``docs/benchmarks.md``, Table 3).
    statistic : str, default="energy"
        The score of an expert's logits, a statistic of
        :class:`~skgate.gates.NaiveConcatGate` (the paper used ``"max_logit"``, its
        "argmax"). Higher wins.
    penalty : float, default=1.0
        Weight of the across-pass standard deviation in ``"consistency"``.
    include_original : bool, default=True
        Whether the un-augmented pass counts as one of the passes (it always
        gives the prediction of the chosen expert).
    random_state : int, RandomState instance or None, default=None
        Seeds the random augmentations (one seed per pass), so that an int gives
        the same views, hence the same decisions, at every call. A sample's random
        numbers come from its own values and the pass's seed, not from its
        position in ``X``: its views and the decision for it are the same alone,
        in any order, subset, batch or ``chunk_size`` of the mixture (equal
        samples get equal views).

    Attributes
    ----------
    augmentations_ : list of (str, dict)
        The augmented passes with all their parameters.
    n_passes_ : int
        Number of passes, the un-augmented one included.
    n_experts_ : int
        Number of experts seen in ``fit``.

    See Also
    --------
    NaiveConcatGate : The same decision from the un-augmented pass only.
    skgate.MixtureOfExperts : Combines experts with a gate.

    Notes
    -----
    The original code voted on the predicted *class* of the concatenated
    logits; here each pass votes for an *expert*, the gate's decision, and the
    chosen expert's class comes from its un-augmented output (for the mean
    too). Within one pass, equal scores go to the first expert, as in
    :class:`NaiveConcatGate`.

    Examples
    --------
    Two experts read one pixel each of a 1 x 2 image; flipping it swaps which
    pixel each reads, and the vote between the two passes is a tie that the
    mean score settles:

    >>> import numpy as np
    >>> from skgate import MixtureOfExperts
    >>> from skgate.gates import AugmentedGate
    >>> import torch
    >>> from skgate import Expert
    >>> def frozen_linear(weight, classes):  # a frozen expert: logits = x @ weight.T
    ...     layer = torch.nn.Linear(len(weight[0]), len(weight), bias=False)
    ...     with torch.no_grad():
    ...         layer.weight.copy_(torch.tensor(weight, dtype=torch.float32))
    ...     return Expert.from_pretrained(torch.nn.Sequential(torch.nn.Flatten(), layer),
    ...                                   classes=classes)
    >>> left = frozen_linear([[3.0, 0.0], [0.0, 0.0]], classes=[0, 1])
    >>> right = frozen_linear([[0.0, 4.0], [0.0, 0.0]], classes=[2, 3])
    >>> X = np.array([[[[1.0, 0.5]]]], dtype=np.float32)  # (1, 1, 1, 2)
    >>> gate = AugmentedGate(["horizontal_flip"], aggregation="vote", statistic="max_logit")
    >>> moe = MixtureOfExperts([("left", left), ("right", right)], gate=gate).fit(X)
    >>> moe.route(X)  # pass 1: left 3 > 2; flipped: right 4 > 1.5; mean: right 3 > 2.25
    array([1])
    >>> moe.predict(X)
    array([2])
    """

    _parameter_constraints = {
        "augmentations": [StrOptions(set(AUGMENTATION_SETS)), list, tuple],
        "aggregation": [StrOptions(set(AGGREGATIONS))],
        "statistic": [StrOptions(set(STATISTICS))],
        "penalty": [Interval(Real, 0, None, closed="left")],
        "include_original": ["boolean"],
        "random_state": ["random_state"],
    }
    def gate_tags(self):
        return replace(super().gate_tags(), data_free=True)

    def __init__(self, augmentations="sharpen_5_alphas", aggregation="vote", statistic="energy",
                 penalty=1.0, include_original=True, random_state=None):
        self.augmentations = augmentations
        self.aggregation = aggregation
        self.statistic = statistic
        self.penalty = penalty
        self.include_original = include_original
        self.random_state = random_state

    def _fit(self, outputs, y):
        self.augmentations_ = resolve_augmentations(self.augmentations)
        if not self.augmentations_ and not self.include_original:
            raise ValueError(
                "AugmentedGate has no pass: augmentations is empty and include_original=False."
            )
        self.n_passes_ = len(self.augmentations_) + bool(self.include_original)
        self._check_images(outputs.X)
        return self

    def _check_images(self, X):
        spatial = sorted({n for n, _ in self.augmentations_ if _AUGMENTATIONS[n].spatial})
        if spatial and np.ndim(X) != 4:
            raise ValueError(
                f"The augmentations {spatial} need images of shape (n_samples, channels, "
                f"height, width); the mixture's samples have shape {np.shape(X)[1:]} "
                f"(X of {np.ndim(X)} dimensions). For samples that are not images, choose "
                f"augmentations without a spatial step, e.g. the sets {_flat_sets()}."
            )

    def augmented_views(self, X):
        """The augmented versions of ``X``, one per augmented pass, in order.

        Parameters
        ----------
        X : ndarray of shape (n_samples, ...)
            Input in the mixture's format.

        Yields
        ------
        X_aug : ndarray of float32, same shape as ``X``
        """
        check_is_fitted(self)
        self._check_images(X)
        X = np.require(X, np.float32, ["C", "W"])
        x = torch.from_numpy(X)
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=len(self.augmentations_)
        )
        for (name, params), seed in zip(self.augmentations_, seeds, strict=True):
            out = np.empty(x.shape, dtype=np.float32)
            with torch.inference_mode():  # in large chunks, which fit the CPU caches better
                for lo in range(0, len(x), _CHUNK):
                    rows = slice(lo, lo + _CHUNK)  # each sample's own numbers: any chunking
                    chunk = _AUGMENTATIONS[name].func(x[rows], _SampleRandom(X[rows], seed),
                                                      **params)
                    out[rows] = chunk.numpy()
            yield out

    def pass_logits(self, outputs):
        """Every expert's logits on every pass.

        Parameters
        ----------
        outputs : ExpertOutputs
            The experts' outputs on the un-augmented input.

        Returns
        -------
        passes : list of list of ndarray
            ``passes[p][k]``: expert ``k``'s logits on pass ``p``, shape
            ``(n_samples, n_classes_k)``; the un-augmented pass first if
            ``include_original``.
        """
        check_is_fitted(self)
        outputs = self._check_outputs(outputs, reset=False)
        passes = [list(outputs.logits)] if self.include_original else []
        for X_aug in self.augmented_views(outputs.X):
            passes.append(outputs.expert_set.outputs(X_aug).logits)
        return passes

    def aggregate(self, passes):
        """Route from the passes' logits (as :meth:`pass_logits` returns them).

        Parameters
        ----------
        passes : list of list of ndarray
            ``passes[p][k]``: expert ``k``'s logits on pass ``p``.

        Returns
        -------
        weights : ndarray of shape (n_samples, n_experts)
            One-hot rows: the chosen expert.
        """
        n_experts = len(passes[0])
        mean_logits = [np.mean([p[k] for p in passes], axis=0) for k in range(n_experts)]
        mean_score = expert_scores(mean_logits, self.statistic)
        if self.aggregation == "mean":
            choice = mean_score.argmax(axis=1)
        elif self.aggregation == "vote":
            decisions = [expert_scores(p, self.statistic).argmax(axis=1) for p in passes]
            votes = sum(one_hot(d, n_experts) for d in decisions)
            choice = _prefer(votes, mean_score)
        elif self.aggregation == "consistency":
            spread = np.std([expert_scores(p, self.statistic) for p in passes], axis=0)
            with np.errstate(invalid="ignore"):
                score = mean_score - self.penalty * spread
            choice = np.where(np.isfinite(score), score, -np.inf).argmax(axis=1)
        else:  # agreement
            top = [z.argmax(axis=1) for z in mean_logits]
            kept = np.stack([np.mean([p[k].argmax(axis=1) == top[k] for p in passes], axis=0)
                             for k in range(n_experts)], axis=1)
            choice = _prefer(kept, mean_score)
        return one_hot(choice, n_experts)

    def _route_proba(self, outputs):
        return self.aggregate(self.pass_logits(outputs))


def _flat_sets():
    """The named augmentation sets that need no images (no spatial step)."""
    return [name for name, passes in AUGMENTATION_SETS.items()
            if not any(_AUGMENTATIONS[n].spatial for n, _ in passes)]
