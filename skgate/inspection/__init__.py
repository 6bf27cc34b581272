"""Plots for the analysis of a mixture and of its experts.

scikit-learn-style Display objects (``from_*`` class methods that compute and
plot, ``plot`` returning the display with its artists as attributes):
:class:`ActivationRateDisplay` (mean gate weight of each expert per data set),
:class:`AgreementDisplay` (pairwise kappa of models and number of models right
per sample), :class:`TrainingCurveDisplay` (per-epoch curves of several
models) and :class:`ExpertScalingDisplay` (a measure of each gate against the number
of experts). They need matplotlib, imported only when plotting.
"""

from ._activation_rate import ActivationRateDisplay
from ._agreement import AgreementDisplay
from ._scaling import ExpertScalingDisplay
from ._training_curve import TrainingCurveDisplay

__all__ = ["ActivationRateDisplay", "AgreementDisplay", "ExpertScalingDisplay",
           "TrainingCurveDisplay"]
