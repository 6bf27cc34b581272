"""The evaluation helpers of the benchmarks (they live in :mod:`skgate.utils._evaluation`)."""

from ..utils._evaluation import (  # noqa: F401
    evaluate_gates,
    format_table,
    mean_std,
    per_seed,
    proba_accuracy,
    timed,
)
