"""Parameter validation, vendored from scikit-learn so that skgate uses no private sklearn API.

Only what skgate uses: the constraints of ``_parameter_constraints`` (``Interval``,
``StrOptions``, ``HasMethods``, types, ``None``, ``callable``, ``"array-like"``,
``"boolean"``, ``"random_state"``, ``"verbose"``), :func:`validate_parameter_constraints`
(same messages as scikit-learn's), :func:`fit_context` (``sklearn.base._fit_context``
without its callback support) and :class:`ParamValidationMixin` (``_validate_params``).
Constraint objects from ``sklearn.utils._param_validation`` are accepted as they are (any
object with ``is_satisfied_by``).

Copied from scikit-learn 1.9.1 (``sklearn/utils/_param_validation.py``,
``sklearn/base.py``, ``sklearn/utils/validation.py``), with changes: fewer constraints,
no ``validate_params`` decorator, foreign constraints accepted, and an ``Interval`` does
not take a bool (``chunk_size=True`` is a mistake, not a chunk of one), and
``StrOptions`` lists its options sorted (the same message in every run).

scikit-learn's license:

    BSD 3-Clause License

    Copyright (c) 2007-2026 The scikit-learn developers.
    All rights reserved.

    Redistribution and use in source and binary forms, with or without
    modification, are permitted provided that the following conditions are met:

    * Redistributions of source code must retain the above copyright notice, this
      list of conditions and the following disclaimer.

    * Redistributions in binary form must reproduce the above copyright notice,
      this list of conditions and the following disclaimer in the documentation
      and/or other materials provided with the distribution.

    * Neither the name of the copyright holder nor the names of its
      contributors may be used to endorse or promote products derived from
      this software without specific prior written permission.

    THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
    AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
    IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
    DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
    FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
    DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
    SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
    CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
    OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
    OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
"""

import functools
import operator
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
from scipy.sparse import issparse
from sklearn import config_context, get_config

__all__ = ["HasMethods", "Interval", "InvalidParameterError", "ParamValidationMixin",
           "StrOptions", "fit_context", "validate_parameter_constraints"]


class InvalidParameterError(ValueError, TypeError):
    """A parameter of a class or method does not have a valid type or value.

    Inherits from ``ValueError`` and ``TypeError``, as scikit-learn's.
    """


def validate_parameter_constraints(parameter_constraints, params, caller_name):
    """Check ``params`` against ``parameter_constraints`` (``name: list of constraints``).

    A parameter is valid if it satisfies one of its constraints; parameters without
    constraints, or with ``"no_validation"``, are not checked.

    Raises
    ------
    InvalidParameterError
        Naming the parameter, ``caller_name``, the constraints and the value.
    """
    for param_name, param_val in params.items():
        if param_name not in parameter_constraints:
            continue
        constraints = parameter_constraints[param_name]
        if constraints == "no_validation":
            continue
        constraints = [make_constraint(constraint) for constraint in constraints]
        if any(constraint.is_satisfied_by(param_val) for constraint in constraints):
            continue
        constraints = [c for c in constraints if not getattr(c, "hidden", False)]
        if len(constraints) == 1:
            constraints_str = f"{constraints[0]}"
        else:
            constraints_str = (
                f"{', '.join([str(c) for c in constraints[:-1]])} or {constraints[-1]}"
            )
        raise InvalidParameterError(
            f"The {param_name!r} parameter of {caller_name} must be"
            f" {constraints_str}. Got {param_val!r} instead."
        )


def make_constraint(constraint):
    """The constraint object of one entry of a constraints list."""
    if isinstance(constraint, str) and constraint == "array-like":
        return _ArrayLikes()
    if isinstance(constraint, str) and constraint == "random_state":
        return _RandomStates()
    if constraint is callable:
        return _Callables()
    if constraint is None:
        return _NoneConstraint()
    if isinstance(constraint, type):
        return _InstancesOf(constraint)
    if isinstance(constraint, str) and constraint == "boolean":
        return _Booleans()
    if isinstance(constraint, str) and constraint == "verbose":
        return _VerboseHelper()
    if isinstance(constraint, _Constraint) or callable(
        getattr(constraint, "is_satisfied_by", None)
    ):  # ours, or scikit-learn's own constraint objects
        return constraint
    raise ValueError(f"Unknown constraint type: {constraint}")


def _type_name(t):
    """Convert type into human readable string."""
    module = t.__module__
    qualname = t.__qualname__
    if module == "builtins":
        return qualname
    elif t == Real:
        return "float"
    elif t == Integral:
        return "int"
    return f"{module}.{qualname}"


class _Constraint(ABC):
    """Base class for the constraint objects."""

    def __init__(self):
        self.hidden = False

    @abstractmethod
    def is_satisfied_by(self, val):
        """Whether ``val`` satisfies the constraint."""

    @abstractmethod
    def __str__(self):
        """A human readable representational string of the constraint."""


class _InstancesOf(_Constraint):
    def __init__(self, type):
        super().__init__()
        self.type = type

    def is_satisfied_by(self, val):
        return isinstance(val, self.type)

    def __str__(self):
        return f"an instance of {_type_name(self.type)!r}"


class _NoneConstraint(_Constraint):
    def is_satisfied_by(self, val):
        return val is None

    def __str__(self):
        return "None"


class StrOptions(_Constraint):
    """Constraint representing a finite set of strings.

    Parameters
    ----------
    options : set of str
        The set of valid strings.
    """

    def __init__(self, options):
        super().__init__()
        self.type = str
        self.options = options

    def is_satisfied_by(self, val):
        return isinstance(val, self.type) and val in self.options

    def __str__(self):
        options_str = f"{', '.join([f'{o!r}' for o in sorted(self.options)])}"  # stable
        return f"a {_type_name(self.type)} among {{{options_str}}}"


class Interval(_Constraint):
    """Constraint representing a typed interval.

    Parameters
    ----------
    type : {numbers.Integral, numbers.Real}
        The set of numbers in which to set the interval.
    left, right : float, int or None
        The bounds of the interval; None means -inf / +inf.
    closed : {"left", "right", "both", "neither"}
        Which bounds belong to the interval.
    """

    def __init__(self, type, left, right, *, closed):
        super().__init__()
        self.type = type
        self.left = left
        self.right = right
        self.closed = closed
        self._check_params()

    def _check_params(self):
        if self.type not in (Integral, Real):
            raise ValueError(
                f"type must be either numbers.Integral or numbers.Real. Got {self.type} instead."
            )
        if self.closed not in ("left", "right", "both", "neither"):
            raise ValueError(
                "closed must be either 'left', 'right', 'both' or 'neither'. "
                f"Got {self.closed} instead."
            )
        if self.type is Integral:
            suffix = "for an interval over the integers."
            if self.left is not None and not isinstance(self.left, Integral):
                raise TypeError(f"Expecting left to be an int {suffix}")
            if self.right is not None and not isinstance(self.right, Integral):
                raise TypeError(f"Expecting right to be an int {suffix}")
            if self.left is None and self.closed in ("left", "both"):
                raise ValueError(f"left can't be None when closed == {self.closed} {suffix}")
            if self.right is None and self.closed in ("right", "both"):
                raise ValueError(f"right can't be None when closed == {self.closed} {suffix}")
        else:
            if self.left is not None and not isinstance(self.left, Real):
                raise TypeError("Expecting left to be a real number.")
            if self.right is not None and not isinstance(self.right, Real):
                raise TypeError("Expecting right to be a real number.")
        if self.right is not None and self.left is not None and self.right <= self.left:
            raise ValueError(
                f"right can't be less than left. Got left={self.left} and right={self.right}"
            )

    def __contains__(self, val):
        if not isinstance(val, Integral) and np.isnan(val):
            return False
        left_cmp = operator.lt if self.closed in ("left", "both") else operator.le
        right_cmp = operator.gt if self.closed in ("right", "both") else operator.ge
        left = -np.inf if self.left is None else self.left
        right = np.inf if self.right is None else self.right
        if left_cmp(val, left):
            return False
        if right_cmp(val, right):
            return False
        return True

    def is_satisfied_by(self, val):
        if not isinstance(val, self.type) or isinstance(val, (bool, np.bool_)):
            return False  # a bool is not a number here (scikit-learn takes True for 1)
        return val in self

    def __str__(self):
        type_str = "an int" if self.type is Integral else "a float"
        left_bracket = "[" if self.closed in ("left", "both") else "("
        left_bound = "-inf" if self.left is None else self.left
        right_bound = "inf" if self.right is None else self.right
        right_bracket = "]" if self.closed in ("right", "both") else ")"
        # better repr if the bounds were given as integers
        if not self.type == Integral and isinstance(self.left, Real):
            left_bound = float(left_bound)
        if not self.type == Integral and isinstance(self.right, Real):
            right_bound = float(right_bound)
        return f"{type_str} in the range {left_bracket}{left_bound}, {right_bound}{right_bracket}"


def _is_arraylike_not_scalar(array):
    if issparse(array):
        return False
    arraylike = (hasattr(array, "__len__") or hasattr(array, "shape")
                 or hasattr(array, "__array__"))
    return arraylike and not np.isscalar(array)


class _ArrayLikes(_Constraint):
    def is_satisfied_by(self, val):
        return _is_arraylike_not_scalar(val)

    def __str__(self):
        return "an array-like"


class _Callables(_Constraint):
    def is_satisfied_by(self, val):
        return callable(val)

    def __str__(self):
        return "a callable"


class _AnyOf(_Constraint):
    """A named union of constraints (random states, booleans, verbose)."""

    _constraints = ()

    def is_satisfied_by(self, val):
        return any(c.is_satisfied_by(val) for c in self._constraints)

    def __str__(self):
        return (
            f"{', '.join([str(c) for c in self._constraints[:-1]])} or"
            f" {self._constraints[-1]}"
        )


class _RandomStates(_AnyOf):
    def __init__(self):
        super().__init__()
        self._constraints = [
            Interval(Integral, 0, 2**32 - 1, closed="both"),
            _InstancesOf(np.random.RandomState),
            _NoneConstraint(),
        ]


class _Booleans(_AnyOf):
    def __init__(self):
        super().__init__()
        self._constraints = [_InstancesOf(bool), _InstancesOf(np.bool_)]


class _VerboseHelper(_AnyOf):
    def __init__(self):
        super().__init__()
        self._constraints = [
            Interval(Integral, 0, None, closed="left"),
            _InstancesOf(bool),
            _InstancesOf(np.bool_),
        ]


class HasMethods(_Constraint):
    """Constraint representing objects that expose specific methods.

    Parameters
    ----------
    methods : str or list of str
        The method(s) that the object is expected to expose.
    """

    def __init__(self, methods):
        super().__init__()
        validate_parameter_constraints({"methods": [str, list]}, {"methods": methods},
                                       caller_name="HasMethods")
        if isinstance(methods, str):
            methods = [methods]
        self.methods = methods

    def is_satisfied_by(self, val):
        return all(callable(getattr(val, method, None)) for method in self.methods)

    def __str__(self):
        if len(self.methods) == 1:
            methods = f"{self.methods[0]!r}"
        else:
            methods = (
                f"{', '.join([repr(m) for m in self.methods[:-1]])} and"
                f" {self.methods[-1]!r}"
            )
        return f"an object implementing {methods}"


class ParamValidationMixin:
    """``_validate_params`` with the vendored validation (mix in before BaseEstimator)."""

    def _validate_params(self):
        """Check ``get_params(deep=False)`` against ``_parameter_constraints``."""
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=self.__class__.__name__,
        )


def fit_context(*, prefer_skip_nested_validation):
    """Decorator of ``fit``: validate the parameters, then fit in a config context.

    Parameters are validated unless scikit-learn's ``skip_parameter_validation`` is set;
    inside ``fit``, nested validation (of inner estimators and functions) is skipped when
    ``prefer_skip_nested_validation`` is True (for estimators not given other estimators).
    """

    def decorator(fit_method):
        @functools.wraps(fit_method)
        def wrapper(estimator, *args, **kwargs):
            global_skip_validation = get_config()["skip_parameter_validation"]
            if not global_skip_validation:
                estimator._validate_params()
            with config_context(
                skip_parameter_validation=prefer_skip_nested_validation or global_skip_validation
            ):
                return fit_method(estimator, *args, **kwargs)

        return wrapper

    return decorator
