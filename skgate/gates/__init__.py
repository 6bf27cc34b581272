"""Gates: decide, per input, which expert to trust or how to mix them."""

from ._augmented import AUGMENTATION_SETS, AUGMENTATIONS, AugmentedGate
from ._base import BaseGate, GateTags, get_gate_tags
from ._naive import STATISTICS, NaiveConcatGate, expert_scores
from ._pan import PANGate, logit_stats

__all__ = ["BaseGate", "GateTags", "get_gate_tags"]
__all__ += ["NaiveConcatGate", "STATISTICS", "expert_scores"]
__all__ += ["PANGate", "logit_stats"]
__all__ += ["AugmentedGate", "AUGMENTATION_SETS", "AUGMENTATIONS"]
from ._soft import GATE_NETS, EpochTestScoring, SoftMixtureModule, SoftMoE  # noqa: E402

__all__ += ["SoftMoE", "GATE_NETS", "EpochTestScoring", "SoftMixtureModule"]
from ._universal import CALIBRATIONS, UniversalGate, load_correction  # noqa: E402
from ._universal_features import (  # noqa: E402
    FEATURE_SETS,
    UNIVERSAL_STATISTICS,
    universal_features,
)

__all__ += ["UniversalGate", "CALIBRATIONS", "load_correction", "FEATURE_SETS",
            "UNIVERSAL_STATISTICS", "universal_features"]
from ._floor import FloorGate  # noqa: E402

__all__ += ["FloorGate"]
from ._router import FastRouter  # noqa: E402

__all__ += ["FastRouter"]
