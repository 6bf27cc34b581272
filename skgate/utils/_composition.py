"""Parameters of named sub-estimators, vendored from scikit-learn 1.9.1.

``_BaseComposition`` (``sklearn/utils/metaestimators.py``), reduced to what
:class:`skgate.MixtureOfExperts` uses: ``<name>__<param>`` in ``get_params`` and
``set_params``, and the checks of the names. scikit-learn is BSD-3-Clause licensed,
Copyright (c) 2007-2026 The scikit-learn developers (the full text is in
``skgate/utils/_param_validation.py``).
"""

from contextlib import suppress

from sklearn.base import BaseEstimator

from ._param_validation import ParamValidationMixin


class _BaseComposition(ParamValidationMixin, BaseEstimator):
    """Base of estimators holding a list of ``(name, estimator)`` pairs in one attribute."""

    def _get_params(self, attr, deep=True):
        out = super().get_params(deep=deep)
        if not deep:
            return out
        estimators = getattr(self, attr)
        try:
            out.update(estimators)
        except (TypeError, ValueError):
            # not a list of (name, estimator): set_params calls get_params before the
            # estimators can be checked
            return out
        for name, estimator in estimators:
            if hasattr(estimator, "get_params"):
                for key, value in estimator.get_params(deep=True).items():
                    out[f"{name}__{key}"] = value
        return out

    def _set_params(self, attr, **params):
        # 1. the whole list; 2. single estimators by name; 3. their parameters and the rest
        if attr in params:
            setattr(self, attr, params.pop(attr))
        items = getattr(self, attr)
        if isinstance(items, list) and items:
            with suppress(TypeError):  # items that are not pairs
                item_names, _ = zip(*items)
                for name in list(params.keys()):
                    if "__" not in name and name in item_names:
                        self._replace_estimator(attr, name, params.pop(name))
        super().set_params(**params)
        return self

    def _replace_estimator(self, attr, name, new_val):
        new_estimators = list(getattr(self, attr))
        for i, (estimator_name, _) in enumerate(new_estimators):
            if estimator_name == name:
                new_estimators[i] = (name, new_val)
                break
        setattr(self, attr, new_estimators)

    def _validate_names(self, names):
        if len(set(names)) != len(names):
            raise ValueError(f"Names provided are not unique: {list(names)!r}")
        invalid_names = set(names).intersection(self.get_params(deep=False))
        if invalid_names:
            raise ValueError(
                f"Estimator names conflict with constructor arguments: {sorted(invalid_names)!r}"
            )
        invalid_names = [name for name in names if "__" in name]
        if invalid_names:
            raise ValueError(f"Estimator names must not contain __: got {invalid_names!r}")
