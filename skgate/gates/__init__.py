"""Gates: decide, per input, which expert to trust or how to mix them.

The gates are scikit-learn estimators over the experts' outputs; the gate contract
(:class:`BaseGate`, :class:`TorchGate`, :class:`GateTags`, :class:`GateFit`,
:func:`get_gate_tags`, :func:`get_gate_fit`) is what a new gate implements.
"""

from ._augmented import AugmentedGate
from ._base import BaseGate, GateFit, GateTags
from ._contract import get_gate_fit, get_gate_tags
from ._floor import FloorGate
from ._naive import NaiveConcatGate
from ._pan import PANGate
from ._router import FastRouter
from ._soft import SoftMoE
from ._torch import TorchGate
from ._universal import UniversalGate

__all__ = [
    # the gates
    "NaiveConcatGate", "AugmentedGate", "PANGate", "UniversalGate", "FloorGate", "SoftMoE",
    "FastRouter",
    # the contract, for writing a gate
    "BaseGate", "TorchGate", "GateTags", "GateFit", "get_gate_tags", "get_gate_fit",
]
