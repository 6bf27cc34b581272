"""skorch callbacks for the gates that train networks."""

from .gates._soft_callbacks import EpochTestScoring

__all__ = ["EpochTestScoring"]
