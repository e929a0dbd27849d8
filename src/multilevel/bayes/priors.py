"""Priors as brms writes them: ``prior("normal(0, 1.5)", class_="Intercept")``.

The text is parsed (a distribution name and numeric arguments), never evaluated. Each prior maps
to a NumPyro distribution; classes follow brms: ``b`` (one coefficient with ``coef=``), ``Intercept``,
``sd`` (``group=`` and ``coef=``), ``sigma``, ``cor`` (LKJ), ``shape``, ``nu``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import MultilevelError

PRIOR_CLASSES = ("b", "Intercept", "sd", "sigma", "cor", "L", "shape", "nu")

# name -> number of arguments accepted
DISTRIBUTIONS = {
    "normal": (2,), "student_t": (3,), "cauchy": (2,), "exponential": (1,), "gamma": (2,),
    "lognormal": (2,), "uniform": (2,), "beta": (2,), "lkj": (1,), "lkj_corr_cholesky": (1,),
    "logistic": (2,), "double_exponential": (2,), "inv_gamma": (2,), "weibull": (2,),
}

_PRIOR_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$")
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

    @property
    def distribution(self) -> tuple[str, tuple[float, ...]] | None:
        return parse_prior_text(self.text) if self.text else None

    def matches(self, class_: str, coef: str = "", group: str = "") -> bool:
        return (self.class_ == class_ and self.coef in ("", coef) and self.group in ("", group))

    def specificity(self) -> int:
        return (self.coef != "") * 2 + (self.group != "")


def prior(text: str, class_: str = "b", coef: str = "", group: str = "") -> Prior:
    """A prior statement, as brms's ``prior()``: ``ml.prior("normal(0, 1.5)", class_="Intercept")``."""
    if class_ not in PRIOR_CLASSES:
        raise PriorError(f"unknown prior class {class_!r}; valid classes: {', '.join(PRIOR_CLASSES)}")
    if text:
        parse_prior_text(text)
    return Prior(text.strip(), "cor" if class_ == "L" else class_, coef, group)


def parse_prior_text(text: str) -> tuple[str, tuple[float, ...]]:
    """``"student_t(3, 0, 2.5)"`` -> ``("student_t", (3.0, 0.0, 2.5))``; a clear error otherwise."""
    match = _PRIOR_RE.match(text)
    if not match:
        raise PriorError(f"cannot parse prior {text!r}: write a distribution and its arguments, "
                         "e.g. 'normal(0, 1.5)'")
    name, inner = match.group(1), match.group(2)
    if name not in DISTRIBUTIONS:
        raise PriorError(f"unknown distribution {name!r} in prior {text!r}; known: {', '.join(DISTRIBUTIONS)}")
    parts = [p.strip() for p in inner.split(",")] if inner.strip() else []
    for part in parts:
        if not _NUMBER_RE.match(part):
            raise PriorError(f"prior {text!r}: argument {part!r} is not a number")
    values = tuple(float(p) for p in parts)
    if len(values) not in DISTRIBUTIONS[name]:
        raise PriorError(f"prior {text!r}: {name} takes {DISTRIBUTIONS[name][0]} argument(s), got {len(values)}")
    return name, values


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
    if name in ("lkj", "lkj_corr_cholesky"):
        raise PriorError(f"prior {text!r} is for correlation matrices (class 'cor')")
    return builders[name]()
