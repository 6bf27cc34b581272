"""The shared correction of UniversalGate as data: saved and loaded as JSON, never pickled."""

import json
from importlib import resources
from pathlib import Path

import numpy as np

from ._universal_features import UNIVERSAL_STATISTICS

#: the correction shipped with skgate (see skgate/gates/_data/README.md)
PRETRAINED = "universal_pretrained.json"
_FORMAT = "skgate.UniversalGate.correction"


def load_correction(path):
    """Read a correction saved by :meth:`UniversalGate.save_correction` (JSON, no pickle).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    correction : dict
        ``statistics``, ``kind``, ``feature_mean``, ``feature_scale``, ``state``
        (parameter name to ndarray) and ``provenance``.

    Raises
    ------
    ValueError
        If the file is not such a JSON file (a pickle is refused, never executed).

    Examples
    --------
    Save the correction of the gate shipped with skgate, and read it back
    (``UniversalGate(path)`` reads such a file too):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from skgate.gates import UniversalGate, load_correction
    >>> gate = UniversalGate.pretrained().estimator  # the fitted gate inside FrozenEstimator
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "correction.json"
    ...     gate.save_correction(path)
    ...     correction = load_correction(path)
    >>> correction["kind"], correction["statistics"] == gate.correction_["statistics"]
    ('linear', True)
    """
    raw = Path(path).read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(
            f"{path} is not a skgate correction file: it is not JSON. skgate loads gate "
            "weights only from JSON and never unpickles them."
        ) from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ValueError(f"{path} is JSON but not a skgate correction file ({_FORMAT!r}).")
    statistics = tuple(data["statistics"])
    unknown = sorted(set(statistics) - set(UNIVERSAL_STATISTICS))
    if unknown or data["kind"] not in ("linear", "mlp"):
        raise ValueError(
            f"{path}: unknown statistics {unknown} or kind {data['kind']!r}; this file needs "
            "another version of skgate."
        )
    state = {name: np.asarray(value, dtype=np.float64) for name, value in data["state"].items()}
    arrays = [np.asarray(data["feature_mean"]), np.asarray(data["feature_scale"]), *state.values()]
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise ValueError(f"{path} holds non-finite weights.")
    return {
        "statistics": statistics,
        "kind": data["kind"],
        "hidden_units": int(data.get("hidden_units", 0)),
        "feature_mean": np.asarray(data["feature_mean"], dtype=np.float64),
        "feature_scale": np.asarray(data["feature_scale"], dtype=np.float64),
        "state": state,
        "provenance": data.get("provenance", {}),
    }


def _pretrained_path():
    return resources.files("skgate.gates").joinpath("_data", PRETRAINED)


def write_correction(path, correction, provenance=None):
    """Write ``correction`` (a dict as :func:`load_correction` returns) to ``path`` as JSON."""
    c = correction
    data = {
        "format": _FORMAT, "version": 1, "statistics": list(c["statistics"]),
        "kind": c["kind"], "hidden_units": c["hidden_units"],
        "feature_mean": c["feature_mean"].tolist(),
        "feature_scale": c["feature_scale"].tolist(),
        "state": {k: np.asarray(v).tolist() for k, v in c["state"].items()},
        "provenance": provenance if provenance is not None else c.get("provenance", {}),
    }
    Path(path).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
