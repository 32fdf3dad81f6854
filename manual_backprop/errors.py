"""One exception family for every kind of bad input.

Each error names the argument, the layer (numbered from 1, as in the notes)
where there is one, what was expected and what was received, and how to fix
it. All of them derive from ``ValueError`` so that callers who do not care
about the kind can catch that.
"""

from __future__ import annotations


class ManualBackpropError(ValueError):
    """Base class of every error this package raises for bad input."""


class SpecError(ManualBackpropError):
    """A network description is malformed or names something unknown."""


class ShapeError(ManualBackpropError):
    """An array does not have the shape the network description needs."""


class DTypeError(ManualBackpropError):
    """Arrays of different or unsupported dtypes were mixed."""


class LabelError(ManualBackpropError):
    """Labels are out of range or do not fit the loss."""


class InputTypeError(ManualBackpropError, TypeError):
    """An argument is of the wrong kind: not an array, an array of another
    library than the one the computation runs on, or not a bool where a
    flag is needed.  It is a ``TypeError`` as well."""


class NonFiniteError(ManualBackpropError):
    """An array holds NaN or infinite values where finite numbers are needed."""
