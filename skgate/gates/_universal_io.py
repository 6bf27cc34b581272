"""The shared correction of UniversalGate as data: saved and loaded as JSON, never pickled."""

import json
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from .._persistence._allowlist import (
    _JSON_SHARE,
    MAX_LOAD_BYTES,
    FileTooLargeError,
    MalformedFileError,
)
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
    MalformedFileError
        If the file is not such a JSON file (a pickle is refused, never executed),
        or a key is missing or malformed: the message names it. The weights must
        be finite and of the shapes ``kind``, ``statistics`` and ``hidden_units``
        declare, so that nothing is allocated beyond what the file holds.
    FileTooLargeError
        If the file is larger than ``skgate.MAX_LOAD_BYTES / 64`` (16 MiB).

    Examples
    --------
    Save the correction of the gate shipped with skgate, and read it back
    (``UniversalGate(path)`` reads such a file too):

    >>> import tempfile
    >>> from pathlib import Path
    >>> from skgate.gates import UniversalGate
    >>> from skgate.gates._universal_io import load_correction
    >>> gate = UniversalGate.pretrained().estimator  # the fitted gate inside FrozenEstimator
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "correction.json"
    ...     gate.save_correction(path)
    ...     correction = load_correction(path)
    >>> correction["kind"], correction["statistics"] == gate.correction_["statistics"]
    ('linear', True)
    """
    limit = MAX_LOAD_BYTES // _JSON_SHARE
    size = Path(path).stat().st_size
    if size > limit:
        raise FileTooLargeError(
            f"{path} holds {size} bytes, more than a correction file may "
            f"(skgate.MAX_LOAD_BYTES / {_JSON_SHARE} = {limit}); a correction is a few kB."
        )
    raw = Path(path).read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedFileError(
            f"{path} is not a skgate correction file: it is not JSON. skgate loads gate "
            "weights only from JSON and never unpickles them.", "the file"
        ) from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise MalformedFileError(
            f"{path} is JSON but not a skgate correction file ({_FORMAT!r}).", "format")
    missing = sorted({"statistics", "kind", "feature_mean", "feature_scale", "state"} - set(data))
    if missing:
        raise MalformedFileError(f"{path} is malformed: no key {missing[0]!r}.", missing[0])
    statistics = data["statistics"]
    if not isinstance(statistics, list) or not all(isinstance(s, str) for s in statistics):
        raise MalformedFileError(
            f"{path} is malformed: 'statistics' is not a list of names.", "statistics")
    unknown = sorted(set(statistics) - set(UNIVERSAL_STATISTICS))
    if unknown or data["kind"] not in ("linear", "mlp"):
        raise MalformedFileError(
            f"{path}: unknown statistics {unknown} or kind {data['kind']!r:.100}; this file "
            "needs another version of skgate.", "statistics" if unknown else "kind"
        )
    if not isinstance(data["state"], dict):
        raise MalformedFileError(f"{path} is malformed: 'state' is not an object.", "state")
    try:
        correction = {
            "statistics": tuple(statistics),
            "kind": data["kind"],
            "hidden_units": data.get("hidden_units", 0),
            "feature_mean": _floats(data["feature_mean"], "feature_mean"),
            "feature_scale": _floats(data["feature_scale"], "feature_scale"),
            "state": {name: _floats(value, f"state[{name!r}]")
                      for name, value in data["state"].items()},
            "provenance": data.get("provenance", {}),
        }
        check_correction(correction)
    except MalformedFileError as exc:
        raise MalformedFileError(f"{path} is malformed: {exc}", exc.where) from None
    correction["hidden_units"] = int(correction["hidden_units"])
    return correction


def _floats(value, where):
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise MalformedFileError(f"{where} is not an array of numbers.", where) from None
    return array


def check_correction(correction):
    """Refuse a correction (from a file) whose weights are not finite or not of the shapes
    its ``kind``, ``statistics`` and ``hidden_units`` declare (the correction network is
    built from them: a file declaring 20 million hidden units must hold their weights).

    Raises
    ------
    MalformedFileError
        Naming the key (its ``where``); no path (the caller adds it).
    """
    if not isinstance(correction, dict):
        raise MalformedFileError(f"the correction is a {type(correction).__name__}, not a "
                                 "dict.", "correction")
    statistics, kind = correction.get("statistics"), correction.get("kind")
    if not isinstance(statistics, (list, tuple)) or not statistics or not all(
        isinstance(s, str) and s in UNIVERSAL_STATISTICS for s in statistics
    ):
        raise MalformedFileError(f"statistics {statistics!r:.100} are not names of "
                                 "UniversalGate's statistics.", "statistics")
    if kind not in ("linear", "mlp"):
        raise MalformedFileError(f"kind {kind!r:.100} is not 'linear' or 'mlp'.", "kind")
    hidden = correction.get("hidden_units")
    if not isinstance(hidden, (int, np.integer)) or isinstance(hidden, bool) or hidden < 0 or (
        kind == "mlp" and hidden < 1
    ):
        raise MalformedFileError(f"hidden_units {hidden!r:.100} is not a number of units.",
                                 "hidden_units")
    n, h = len(statistics), int(hidden)
    expected = {"feature_mean": (n,), "feature_scale": (n,)}
    shapes = ({"weight": (1, n), "bias": (1,)} if kind == "linear" else
              {"0.weight": (h, n), "0.bias": (h,), "2.weight": (1, h), "2.bias": (1,)})
    state = correction.get("state")
    if not isinstance(state, dict) or set(state) != set(shapes):
        keys = sorted(state) if isinstance(state, dict) else state
        raise MalformedFileError(f"state holds {keys!r:.200}; a {kind} correction holds "
                                 f"{sorted(shapes)}.", "state")
    expected.update({f"state[{k!r}]": v for k, v in shapes.items()})
    arrays = {"feature_mean": correction.get("feature_mean"),
              "feature_scale": correction.get("feature_scale"),
              **{f"state[{k!r}]": v for k, v in state.items()}}
    for where, shape in expected.items():
        array = arrays[where]
        if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
            raise MalformedFileError(f"{where} is not an array of numbers.", where)
        if array.shape != shape:
            raise MalformedFileError(
                f"{where} has shape {array.shape}, but a {kind} correction on {n} statistics"
                + (f" with {h} hidden units" if kind == "mlp" else "")
                + f" needs {shape}.", where)
        if not np.all(np.isfinite(array)):
            raise MalformedFileError(f"{where} holds non-finite weights (NaN or infinity).",
                                     where)


def pretrained_path():
    """Where the correction shipped with skgate is (``UniversalGate.pretrained()`` reads it);
    a resource of the installed package, read-only for the benchmarks."""
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


class CorrectionIOMixin:
    """``UniversalGate``'s correction read from and written to files: the shipped one
    (:meth:`pretrained`), a saved one, and the gate's own state for pickling."""

    @classmethod
    def pretrained(cls, *, mixing="hard"):
        """The correction shipped with skgate, fitted and frozen, for any experts.

        Returns a :class:`sklearn.frozen.FrozenEstimator`: a mixture uses it as
        it is, with no data and no labels, whatever its experts; ``clone``,
        ``fit`` and ``GridSearchCV`` leave it unchanged.

        Parameters
        ----------
        mixing : {"hard", "soft"}, default="hard"

        Returns
        -------
        gate : FrozenEstimator wrapping a fitted UniversalGate

        Examples
        --------
        >>> from skgate.gates import UniversalGate
        >>> gate = UniversalGate.pretrained()
        >>> gate.calibration_
        'none'
        """
        gate = cls(correction="pretrained", calibration="none", pool="ignore", mixing=mixing)
        gate._validate_params()
        gate._set_correction(gate._initial_correction())
        gate._set_pool(None)
        gate._set_calibration("none", None)
        return FrozenEstimator(gate)

    def _initial_correction(self):
        """The correction before fitting: loaded, or None (zero)."""
        if self.correction is None or self.correction in ("linear", "mlp"):
            return None
        path = pretrained_path() if self.correction == "pretrained" else self.correction
        return load_correction(path)

    def save_correction(self, path, *, provenance=None):
        """Write the shared correction to ``path`` as JSON (loadable with no pickle).

        Parameters
        ----------
        path : str or path-like
        provenance : dict or None
            Free-form JSON-serialisable record of how it was fitted.
        """
        check_is_fitted(self)
        c = self.correction_
        if c is None:
            raise ValueError("This gate has no correction to save (it is plain energy).")
        write_correction(path, c, provenance)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_shared", None)  # rebuilt from correction_ (plain arrays)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)  # BaseGate: modules pickled with a device mapping
        if "correction_" in self.__dict__:
            self._set_correction(self.correction_)
