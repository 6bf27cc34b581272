"""Gates: decide, per input, which expert to trust or how to mix them."""

from ._base import BaseGate
from ._naive import STATISTICS, NaiveConcatGate, expert_scores

__all__ = ["BaseGate", "NaiveConcatGate", "STATISTICS", "expert_scores"]
