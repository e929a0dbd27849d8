"""Priors as brms writes them: ``prior("normal(0, 1.5)", class_="Intercept")``.

The text is parsed (a distribution name and numeric arguments), never evaluated. Each prior maps
to a NumPyro distribution; classes follow brms: ``b`` (one coefficient with ``coef=``), ``Intercept``,
``sd`` (``group=`` and ``coef=``), ``sigma``, ``cor`` (LKJ), and the families' further parameters
(``shape``, ``nu``, ``phi``, ``zi``, ``hu``, ``beta``, ``alpha``, ``ndt``: :mod:`.distributions`).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..errors import MultilevelError

PRIOR_CLASSES = ("b", "Intercept", "sd", "sigma", "cor", "L", "shape", "nu", "phi", "zi", "hu", "beta", "alpha",
                 "ndt")
# classes whose parameter is positive (zi, hu and ndt also bounded above): the prior is truncated there
POSITIVE_CLASSES = ("sd", "sigma", "shape", "nu", "phi", "zi", "hu", "beta", "ndt")

# Each distribution's arguments, as brms names them, with the range each must lie in:
# "real" (any finite number), "positive" (finite and > 0) or "log" (a log-scale location: its
# exponential, lognormal's median, must be a double, so within +-700). uniform also needs lower < upper.
DISTRIBUTIONS = {
    "normal": (("mu", "real"), ("sigma", "positive")),
    "student_t": (("nu", "positive"), ("mu", "real"), ("sigma", "positive")),
    "cauchy": (("mu", "real"), ("sigma", "positive")),
    "exponential": (("rate", "positive"),),
    "gamma": (("shape", "positive"), ("rate", "positive")),
    "lognormal": (("mu", "log"), ("sigma", "positive")),
    "uniform": (("lower", "real"), ("upper", "real")),
    "beta": (("alpha", "positive"), ("beta", "positive")),
    "lkj": (("eta", "positive"),),
    "lkj_corr_cholesky": (("eta", "positive"),),
    "logistic": (("mu", "real"), ("sigma", "positive")),
    "double_exponential": (("mu", "real"), ("sigma", "positive")),
    "inv_gamma": (("alpha", "positive"), ("beta", "positive")),
    "weibull": (("alpha", "positive"), ("sigma", "positive")),
}
CORRELATION = ("lkj", "lkj_corr_cholesky")
# distributions on the whole line: (location, scale) argument positions; on a positive class they are
# truncated at zero, and a location far below zero leaves the positive half no representable density
_LOCATION_SCALE = {"normal": (0, 1), "student_t": (1, 2), "cauchy": (0, 1), "logistic": (0, 1),
                   "double_exponential": (0, 1)}
MAX_SCALES_BELOW_ZERO = 1e50
# Arguments beyond this size overflow the log density in double precision (uniform(-1e300, 1e300)
# has width inf, gamma(1e300, 1e-300) a mean of 1e600), and positive ones below MIN_POSITIVE may be
# subnormal, which XLA on CPU flushes to zero (exponential(1e-311) has log density -inf everywhere):
# no prior needs them.
MAX_ARGUMENT = 1e100
MIN_POSITIVE = 1e-100
MAX_LOG_ARGUMENT = 700.0
_ALLOWED = {"real": "a number in [-1e100, 1e100]", "positive": "a number in [1e-100, 1e100]",
            "log": "a number in [-700, 700]"}

_PRIOR_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.DOTALL)
_NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class PriorError(MultilevelError):
    """A prior that does not parse or does not fit the model."""


@dataclass(frozen=True)
class Prior:
    """One prior statement; ``text`` is empty for brms's flat (improper) prior."""

    text: str
    class_: str = "b"
    coef: str = ""
    group: str = ""
    source: str = "user"
    dpar: str = ""  # a distributional parameter with its own formula (bf(y ~ x, sigma ~ g)): "sigma"
    nlpar: str = ""  # a nonlinear parameter (bf(..., nl=True)): "a"

    @property
    def distribution(self) -> tuple[str, tuple[float, ...]] | None:
        return parse_prior_text(self.text) if self.text else None

    def matches(self, class_: str, coef: str = "", group: str = "") -> bool:
        """Whether this prior addresses the main formula's parameter (class, coef, group); priors with
        ``dpar``/``nlpar`` address the extra predictors (:mod:`.predictors`) only."""
        return (self.class_ == class_ and self.coef in ("", coef) and self.group in ("", group)
                and not (self.dpar or self.nlpar))

    def specificity(self) -> int:
        return (self.coef != "") * 2 + (self.group != "")


def prior(text: str, class_: str = "b", coef: str = "", group: str = "", *, dpar: str = "", nlpar: str = "") -> Prior:
    """A prior statement, as brms's ``prior()``: ``ml.prior("normal(0, 1.5)", class_="Intercept")``.

    The text is checked here, not when the model is sampled: the distribution must be known, take
    its number of arguments, each within its range (``normal(0, -1)`` is refused), and fit the class
    (an lkj prior only for ``cor``; a prior on a positive class such as ``sd`` must allow positive
    values). An empty text is brms's flat prior. ``nlpar=`` / ``dpar=`` address the coefficients of a
    nonlinear or distributional parameter's own formula (``ml.bf``): class ``b`` or ``Intercept``.
    """
    for option, value in (("text", text), ("class_", class_), ("coef", coef), ("group", group), ("dpar", dpar),
                          ("nlpar", nlpar)):
        if not isinstance(value, str):
            raise PriorError(f"prior(): {option} must be a string, not {type(value).__name__} {value!r}")
    if class_ not in PRIOR_CLASSES:
        raise PriorError(f"unknown prior class {class_!r}; valid classes: {', '.join(PRIOR_CLASSES)}")
    class_ = "cor" if class_ == "L" else class_
    if dpar and nlpar:
        raise PriorError("prior(): give dpar= or nlpar=, not both")
    if (dpar or nlpar) and class_ not in ("b", "Intercept", "sd", "cor"):
        raise PriorError(f"prior(): with dpar= or nlpar= the class is 'b', 'Intercept', 'sd' or 'cor', not {class_!r}")
    if text.strip():
        name, values = parse_prior_text(text)
        check_prior_fits_class(text.strip(), name, values, class_)
    return Prior(text.strip(), class_, coef, group, dpar=dpar, nlpar=nlpar)


def check_prior_fits_class(text: str, name: str, values: tuple[float, ...], class_: str) -> None:
    """An lkj prior only for correlations (and only lkj for them); positive classes need mass above 0."""
    if (class_ == "cor") != (name in CORRELATION):
        if class_ == "cor":
            raise PriorError(f"class 'cor' needs an lkj prior, e.g. 'lkj(2)', got {text!r}")
        raise PriorError(f"prior {text!r} is for correlation matrices (class 'cor'), not class {class_!r}")
    if class_ in POSITIVE_CLASSES and name in _LOCATION_SCALE:
        location, scale = (values[i] for i in _LOCATION_SCALE[name])
        if -location / scale > MAX_SCALES_BELOW_ZERO:
            raise PriorError(f"prior {text!r} for class {class_!r}: the parameter is positive, but the "
                             f"distribution's location lies {-location / scale:.3g} scales below zero, where its "
                             f"positive half has no density in double precision (at most "
                             f"{MAX_SCALES_BELOW_ZERO:g} scales)")
    if class_ in POSITIVE_CLASSES and name == "uniform" and values[1] < MIN_POSITIVE:
        raise PriorError(f"prior {text!r} for class {class_!r}: the parameter is positive, but "
                         f"uniform's upper bound {values[1]:g} leaves it no positive values "
                         f"(it must be at least {MIN_POSITIVE:g})")


def parse_prior_text(text: str) -> tuple[str, tuple[float, ...]]:
    """``"student_t(3, 0, 2.5)"`` -> ``("student_t", (3.0, 0.0, 2.5))``; a clear error otherwise.

    Every argument is checked against its range: finite (and at most ``MAX_ARGUMENT`` in size),
    at least ``MIN_POSITIVE`` where the distribution needs a positive value (scales, rates, shapes,
    degrees of freedom), and uniform's lower bound below its upper bound.

    Examples
    --------
    >>> parse_prior_text("normal(0, 1.5)")
    ('normal', (0.0, 1.5))
    """
    if not isinstance(text, str):
        raise PriorError(f"a prior must be a string such as 'normal(0, 1.5)', not {type(text).__name__}")
    match = _PRIOR_RE.match(text)
    if not match:
        raise PriorError(f"cannot parse prior {text!r}: write a distribution and its arguments, "
                         "e.g. 'normal(0, 1.5)'")
    name, inner = match.group(1), match.group(2)
    if name not in DISTRIBUTIONS:
        close = difflib.get_close_matches(name, list(DISTRIBUTIONS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PriorError(f"unknown distribution {name!r} in prior {text!r}.{hint} Known: {', '.join(DISTRIBUTIONS)}")
    arguments = DISTRIBUTIONS[name]
    parts = [p.strip() for p in inner.split(",")] if inner.strip() else []
    if len(parts) != len(arguments):
        expected = ", ".join(a for a, _ in arguments)
        raise PriorError(f"prior {text!r}: {name} takes {len(arguments)} argument(s) ({expected}), got {len(parts)}")
    values = []
    for part, (argument, kind) in zip(parts, arguments):
        allowed = _ALLOWED[kind]
        if not _NUMBER_RE.match(part):
            finite = part.lower().lstrip("+-") in ("nan", "inf", "infinity")
            raise PriorError(f"prior {text!r}: {name}'s argument {argument} = {part!r} is not "
                             f"{'finite' if finite else 'a number'}; it must be {allowed}")
        value = float(part)
        limit = MAX_LOG_ARGUMENT if kind == "log" else MAX_ARGUMENT
        if not abs(value) <= limit or (kind == "positive" and not value >= MIN_POSITIVE):
            raise PriorError(f"prior {text!r}: {name}'s argument {argument} = {part} is outside its range; "
                             f"it must be {allowed}")
        values.append(value)
    if name == "uniform" and not values[1] - values[0] >= MIN_POSITIVE:
        raise PriorError(f"prior {text!r}: uniform's lower bound ({parts[0]}) must be below its upper bound "
                         f"({parts[1]}), by at least {MIN_POSITIVE:g}")
    return name, tuple(values)


def numpyro_distribution(text: str):
    """The NumPyro distribution of a prior text (half distributions come from the parameter's bound)."""
    import numpyro.distributions as dist

    name, a = parse_prior_text(text)
    builders = {
        "normal": lambda: dist.Normal(a[0], a[1]),
        "student_t": lambda: dist.StudentT(a[0], a[1], a[2]),
        "cauchy": lambda: dist.Cauchy(a[0], a[1]),
        "exponential": lambda: dist.Exponential(a[0]),
        "gamma": lambda: dist.Gamma(a[0], a[1]),
        "lognormal": lambda: dist.LogNormal(a[0], a[1]),
        "uniform": lambda: dist.Uniform(a[0], a[1]),
        "beta": lambda: dist.Beta(a[0], a[1]),
        "logistic": lambda: dist.Logistic(a[0], a[1]),
        "double_exponential": lambda: dist.Laplace(a[0], a[1]),
        "inv_gamma": lambda: dist.InverseGamma(a[0], a[1]),
        "weibull": lambda: dist.Weibull(a[1], a[0]),
    }
    if name in CORRELATION:
        raise PriorError(f"prior {text!r} is for correlation matrices (class 'cor')")
    return builders[name]()
