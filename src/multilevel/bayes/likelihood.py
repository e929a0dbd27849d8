"""Response distributions for the Bayesian engine, keyed by the shared ``ml.families`` objects.

Each :class:`Likelihood` says which extra parameters it has (``sigma``, ``shape``, ``nu``), builds
the NumPyro distribution of the response from the linear predictor, gives the mean on the
response scale (``posterior_epred``) and the pointwise log-likelihood for LOO and WAIC.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..families import Family, get_family

BAYES_FAMILIES = ("gaussian", "student", "bernoulli", "binomial", "poisson", "negbinomial", "gamma", "lognormal")


@dataclass(frozen=True)
class Likelihood:
    """Contract: ``parameters``, ``distribution(eta, extra, data)``, ``mean(eta, extra, data)``."""

    name: str
    family: Family
    parameters: tuple[str, ...] = ()

    @property
    def identity_link(self) -> bool:
        return self.family.link.name == "identity"

    @property
    def link_name(self) -> str:
        return self.family.link.name

    def data(self, design) -> dict:
        import jax.numpy as jnp

        y = design.response
        if self.name == "binomial":
            trials = design.weights if design.weights is not None else np.ones_like(y)
            return {"y": jnp.asarray(np.round(y * trials)), "trials": jnp.asarray(np.round(trials))}
        return {"y": jnp.asarray(y)}

    def response_for_defaults(self, design) -> np.ndarray:
        return design.response

    def link_of_median(self, design) -> float:
        median = float(np.median(design.response))
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(self.family.link.link(np.asarray(median)))

    def inverse_link(self, eta):
        import jax.numpy as jnp
        import jax.scipy.special as jsp

        return {"identity": lambda e: e, "log": jnp.exp, "logit": jsp.expit,
                "probit": lambda e: jsp.ndtr(e), "cloglog": lambda e: -jnp.expm1(-jnp.exp(e))}[self.link_name](eta)

    def distribution(self, eta, extra: dict, data: dict):
        import numpyro.distributions as dist

        mu = self.inverse_link(eta)
        if self.name == "gaussian":
            return dist.Normal(mu, extra["sigma"])
        if self.name == "student":
            return dist.StudentT(extra["nu"], mu, extra["sigma"])
        if self.name == "bernoulli":
            return dist.Bernoulli(logits=eta) if self.link_name == "logit" else dist.Bernoulli(probs=mu)
        if self.name == "binomial":
            if self.link_name == "logit":
                return dist.Binomial(total_count=data["trials"], logits=eta)
            return dist.Binomial(total_count=data["trials"], probs=mu)
        if self.name == "poisson":
            return dist.Poisson(mu)
        if self.name == "negbinomial":
            return dist.NegativeBinomial2(mu, extra["shape"])
        if self.name == "gamma":
            return dist.Gamma(extra["shape"], extra["shape"] / mu)
        if self.name == "lognormal":
            return dist.LogNormal(eta, extra["sigma"])
        raise ValueError(self.name)  # pragma: no cover - guarded by make_likelihood

    def mean(self, eta, extra: dict, data: dict):
        """E[y | eta] on the response scale (brms's posterior_epred; binomial: successes)."""
        import jax.numpy as jnp

        mu = self.inverse_link(eta)
        if self.name == "binomial":
            return mu * data["trials"]
        if self.name == "lognormal":
            return jnp.exp(eta + extra["sigma"] ** 2 / 2)
        return mu


def make_likelihood(family, link: str | None = None) -> Likelihood:
    """brms family name (or an ``ml.families`` object) -> Likelihood."""
    import difflib

    from ..errors import ArgumentError

    if not isinstance(family, (str, Family)):
        raise ArgumentError(f"family must be a family name such as 'gaussian' (or an ml.families object), "
                            f"not {type(family).__name__} {family!r}")
    name = family.name if isinstance(family, Family) else family
    aliases = {"negative.binomial": "negbinomial", "negative_binomial": "negbinomial"}
    name = aliases.get(name, name)
    if name not in BAYES_FAMILIES:
        close = difflib.get_close_matches(name, list(BAYES_FAMILIES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ArgumentError(f"unknown family {name!r} for brm;{hint} valid families: {', '.join(BAYES_FAMILIES)}")
    default_links = {"gaussian": "identity", "student": "identity", "bernoulli": "logit", "binomial": "logit",
                     "poisson": "log", "negbinomial": "log", "gamma": "log", "lognormal": "identity"}
    shared = {"bernoulli": "binomial", "negbinomial": "negative.binomial", "student": "gaussian",
              "lognormal": "gaussian", "gamma": "poisson"}.get(name, name)
    fam = family if isinstance(family, Family) else get_family(shared, link or default_links[name])
    params = {"gaussian": ("sigma",), "student": ("sigma", "nu"), "negbinomial": ("shape",),
              "gamma": ("shape",), "lognormal": ("sigma",)}.get(name, ())
    return Likelihood(name, fam, params)
