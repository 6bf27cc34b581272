"""The warnings skgate raises.

All derive from :class:`SkgateWarning`, itself a :class:`UserWarning`, so that they can be
filtered together without silencing other libraries' warnings::

    import warnings
    from skgate.exceptions import SkgateWarning

    warnings.filterwarnings("ignore", category=SkgateWarning)
"""

__all__ = ["SkgateWarning"]


class SkgateWarning(UserWarning):
    """Base class of skgate's own warnings (a :class:`UserWarning`).

    Examples
    --------
    >>> import warnings
    >>> from skgate.exceptions import SkgateWarning
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", category=SkgateWarning)
    ...     warnings.warn("silenced", SkgateWarning)
    """
