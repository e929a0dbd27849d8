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


class ConvergenceWarning(UserWarning):
    """The optimizer stopped without the convergence checks passing."""


class SingularFitWarning(UserWarning):
    """The fit is on the boundary: a variance is zero or a correlation is +-1."""


class MissingValuesWarning(UserWarning):
    """Rows were dropped because a variable the model uses was missing."""
