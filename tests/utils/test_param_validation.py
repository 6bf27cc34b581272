"""The vendored parameter validation: scikit-learn's messages, config and composition."""

from numbers import Integral, Real

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator
from sklearn.utils import _param_validation as sk

from skgate import MixtureOfExperts
from skgate.utils._composition import _BaseComposition
from skgate.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    ParamValidationMixin,
    StrOptions,
    fit_context,
    validate_parameter_constraints,
)

CONSTRAINTS = {
    "a": [Interval(Integral, 1, None, closed="left")],
    "b": [Interval(Real, 0, 1, closed="neither"), None],
    "c": [StrOptions({"x"}), callable],
    "d": ["boolean"],
    "e": ["random_state"],
    "f": ["verbose"],
    "g": [HasMethods(["fit", "predict"]), list, dict],
    "h": ["array-like", None],
}
SK_CONSTRAINTS = {
    "a": [sk.Interval(Integral, 1, None, closed="left")],
    "b": [sk.Interval(Real, 0, 1, closed="neither"), None],
    "c": [sk.StrOptions({"x"}), callable],
    "d": ["boolean"],
    "e": ["random_state"],
    "f": ["verbose"],
    "g": [sk.HasMethods(["fit", "predict"]), list, dict],
    "h": ["array-like", None],
}
VALID = {"a": 3, "b": 0.5, "c": "x", "d": True, "e": np.random.RandomState(0), "f": 2,
         "g": [], "h": np.zeros(2)}
INVALID = {"a": 0, "b": 1.0, "c": "y", "d": 1, "e": -1, "f": -1, "g": object(), "h": 3}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_same_errors_as_scikit_learn(name):
    validate_parameter_constraints(CONSTRAINTS, VALID, caller_name="Est")
    bad = {**VALID, name: INVALID[name]}
    with pytest.raises(sk.InvalidParameterError) as expected:
        sk.validate_parameter_constraints(SK_CONSTRAINTS, bad, caller_name="Est")
    with pytest.raises(InvalidParameterError) as got:
        validate_parameter_constraints(CONSTRAINTS, bad, caller_name="Est")
    assert str(got.value) == str(expected.value)
    assert isinstance(got.value, ValueError) and isinstance(got.value, TypeError)
    # scikit-learn's own constraint objects are accepted as they are
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of Est"):
        validate_parameter_constraints(SK_CONSTRAINTS, bad, caller_name="Est")


def test_bad_constraints_are_refused():
    with pytest.raises(ValueError, match="Unknown constraint type"):
        validate_parameter_constraints({"a": ["nothing"]}, {"a": 1}, caller_name="Est")
    with pytest.raises(TypeError, match="Expecting left to be an int"):
        Interval(Integral, 0.5, None, closed="left")
    with pytest.raises(InvalidParameterError):
        HasMethods(3)


class _Est(ParamValidationMixin, BaseEstimator):
    _parameter_constraints = {"alpha": [Interval(Real, 0, None, closed="left")]}

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None):
        self.nested_skip_ = sklearn.get_config()["skip_parameter_validation"]
        return self


def test_fit_context_validates_unless_scikit_learn_skips_validation():
    assert _Est().fit().nested_skip_ is True
    with pytest.raises(InvalidParameterError, match="The 'alpha' parameter of _Est"):
        _Est(alpha=-1).fit()
    with sklearn.config_context(skip_parameter_validation=True):
        assert _Est(alpha=-1).fit().alpha == -1


class _Composition(_BaseComposition):
    def __init__(self, items, alpha=1.0):
        self.items = items
        self.alpha = alpha

    def get_params(self, deep=True):
        return self._get_params("items", deep=deep)

    def set_params(self, **params):
        return self._set_params("items", **params)


def test_composition_nests_parameters_and_checks_names():
    comp = _Composition([("a", _Est(1.0)), ("b", _Est(2.0))])
    params = comp.get_params()
    assert params["a__alpha"] == 1.0 and params["b"] is comp.items[1][1]
    comp.set_params(a__alpha=5.0, b=_Est(7.0), alpha=3.0)
    assert comp.items[0][1].alpha == 5.0 and comp.items[1][1].alpha == 7.0
    assert comp.alpha == 3.0
    for names, message in [(["a", "a"], "not unique"), (["alpha"], "conflict"),
                           (["a__b"], "must not contain __")]:
        with pytest.raises(ValueError, match=message):
            comp._validate_names(names)


def test_the_mixture_uses_the_vendored_validation():
    with pytest.raises(InvalidParameterError, match="The 'chunk_size' parameter"):
        MixtureOfExperts([], chunk_size=0).fit(np.zeros((2, 2), np.float32))
