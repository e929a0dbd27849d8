"""The errors and warnings multilevel raises, each naming the column, term or token at fault."""
from __future__ import annotations


class MultilevelError(ValueError):
    """Base class: bad input that the user can fix."""


class FormulaError(MultilevelError):
    """A formula that cannot be parsed; the message shows the formula with a caret under the fault."""

    def __init__(self, message: str, text: str = "", pos: int | None = None):
        self.reason, self.text, self.pos = message, text, pos
        if text and pos is not None:
            message = f"{message}\n  {text}\n  {' ' * pos}^"
        super().__init__(message)


class DataError(MultilevelError):
    """Data that do not fit the formula: a missing column, an unusable response, empty data."""


class ArgumentError(MultilevelError):
    """An option outside its allowed values (``nagq=-1``, ``chains=0``): the message names the option."""


class ModelError(MultilevelError):
    """A model that cannot be fitted as written (wrong engine, unsupported family, bad model text)."""


class ConvergenceWarning(UserWarning):
    """The optimizer stopped without the convergence checks passing."""


class SingularFitWarning(UserWarning):
    """The fit is on the boundary: a variance is zero or a correlation is +-1."""


class MissingValuesWarning(UserWarning):
    """Rows were dropped because a variable the model uses was missing."""


class DoubtWarning(UserWarning):
    """The library has a reason to doubt a number it returns (e.g. a scale parameter whose prior
    allows negative values, or a fit whose invariance to rescaling could not be guaranteed)."""


def is_own_exception(exc: BaseException) -> bool:
    """True for the errors this library raises on purpose (what the fuzz tests accept)."""
    return isinstance(exc, MultilevelError)
