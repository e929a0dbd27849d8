"""Response distributions for the Bayesian engine, keyed by the shared ``ml.families`` objects.

Each :class:`Likelihood` says which extra parameters it has (``sigma``, ``shape``, ``nu``; the
further families' ``zi``, ``hu``, ``phi``, ``beta``, ``alpha``, ``ndt``), builds the distribution of
the response from the linear predictor, gives the mean on the response scale (``posterior_epred``)
and the pointwise log-likelihood for LOO and WAIC. gaussian, student, bernoulli/binomial (logit),
poisson, negbinomial, gamma and lognormal are NumPyro's distributions; brms's further families and
the probit/cloglog links of bernoulli/binomial are written out from brms's Stan code in
:mod:`.distributions`, which also holds every family's links, parameters and response support.

Sufficient statistics stay with bernoulli, binomial (any link: ``K log p + (M - K) log(1 - p)``
holds for every link) and poisson; the further families need each row's response.

Sufficient statistics (issue 12): bernoulli, binomial and poisson rows that share their linear
predictor's inputs (fixed-effects row, group codes, z rows, offset: a :class:`Patterns`) share
eta, so their summed log-likelihood depends on the data only through per-pattern sums.
Bernoulli/binomial: ``sum_i k_i log p + (m_i - k_i) log(1 - p) = K log p + (M - K) log(1 - p)``;
poisson: ``sum_i y_i log mu - mu = Y log mu - m mu``. NUTS then evaluates the likelihood and its
gradient once per pattern, not once per row. The parts that do not depend on the parameters (the
binomial coefficients, ``-log y!``) are added back as one number, so the log density (``lp__``)
is the uncompressed one to rounding. Pointwise log-likelihoods (LOO, WAIC) stay per row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..families import Family, get_family
from . import censoring, distributions
from .distributions import FAMILIES, NEW_FAMILIES

# families whose summed log-likelihood depends on the rows of a pattern only through sums (no extra parameter)
COMPRESSIBLE_FAMILIES = ("bernoulli", "binomial", "poisson")
# compress only where it pays: at most this share of distinct patterns per row (else nothing changes)
MAX_PATTERN_SHARE = 0.5

BAYES_FAMILIES = tuple(FAMILIES)  # brms's names; see .distributions for the families after lognormal


@dataclass(frozen=True)
class Likelihood:
    """Contract: ``parameters``, ``distribution(eta, extra, data)``, ``mean(eta, extra, data)``."""

    name: str
    family: Family
    parameters: tuple[str, ...] = ()
    categories: tuple = ()  # categorical: the response's category labels, the reference first (.categorical)

    @property
    def identity_link(self) -> bool:
        return self.family.link.name == "identity"

    @property
    def link_name(self) -> str:
        return self.family.link.name

    @property
    def ordinal(self) -> bool:
        """An ordinal family (cumulative): thresholds in ``extra["thresholds"]``, see :mod:`.ordinal`."""
        return self.spec.response == "ordinal"

    @property
    def categorical(self) -> bool:
        """The categorical family: one predictor ``mu<k>`` per non-reference category in ``extra``,
        see :mod:`.categorical`."""
        return self.spec.response == "categorical"

    @property
    def category_predictors(self) -> tuple[str, ...]:
        """brms's names of the categorical family's predictors (``muB``, ``muC``...)."""
        from .categorical import predictor_names

        return predictor_names(self.categories) if self.categorical else ()

    def category_logits(self, eta, extra: dict):
        """(..., K) logits of a categorical model: the reference's 0, then each ``mu<k>`` (plus eta,
        which holds only an offset); JAX inside the sampler, NumPy on NumPy draws."""
        import jax
        import jax.numpy as jnp

        from .categorical import category_logits

        names = self.category_predictors
        traced = any(isinstance(v, jax.Array) for v in [eta, *(extra[n] for n in names)])
        return category_logits(eta, extra, names, jnp if traced else np)

    @property
    def spec(self) -> distributions.FamilySpec:
        """The family's links, parameters, response support and prior rules (:mod:`.distributions`)."""
        return FAMILIES[self.name]

    def data(self, design) -> dict:
        """The response (binomial: successes and ``trials``) and the response additions brm reads:
        ``se`` (known standard errors, gaussian and student) and ``weights`` (each row's
        log-likelihood multiplied by its weight, as brms)."""
        import jax.numpy as jnp

        y = design.response
        if self.name == "binomial":
            trials = design.weights if design.weights is not None else np.ones_like(y)
            out = {"y": jnp.asarray(np.round(y * trials)), "trials": jnp.asarray(np.round(trials))}
        else:
            out = {"y": jnp.asarray(y)}
        return out | {k: jnp.asarray(v) for k, v in design.additions.items() if k in ROW_DATA}

    def log_prob(self, eta, extra: dict, data: dict):
        """log p(y_i | eta_i) row by row, times the row's weight where the model has ``weights()``;
        censored and truncated rows as brms (:mod:`.censoring`)."""
        distribution = self.distribution(eta, extra, data)
        if censoring.active(data):
            main, trunc = censoring.log_likelihood(self.name, distribution.log_prob,
                                                   self.family_parameters(eta, extra, data), data)
            return censoring.weighted(main, trunc, data)
        values = distribution.log_prob(data["y"])
        return values * data["weights"] if "weights" in data else values

    def family_parameters(self, eta, extra: dict, data: dict) -> dict:
        """``mu`` (the rate applied: brms's ``mu * denom``) and the family's other parameters per row
        (gaussian/student ``sigma`` with any known standard errors; negbinomial ``shape * denom``)."""
        mu = self.inverse_link(eta)
        out = dict(extra)
        if "rate" in data:
            mu = mu * data["rate"]
            if "shape" in out:
                out["shape"] = out["shape"] * data["rate"]
        if self.name in ("gaussian", "student"):
            out["sigma"] = self.scale(extra, data)
        out["mu"] = eta if self.name == "lognormal" else mu
        return out

    @property
    def compressible(self) -> bool:
        """Whether rows with equal linear predictors can be summed into one pattern (see the module)."""
        return self.name in COMPRESSIBLE_FAMILIES

    def pattern_data(self, design, patterns: Patterns) -> dict:
        """Per-pattern sufficient statistics and the parameter-free remainder of the log-likelihood.

        bernoulli/binomial: ``y`` successes K and ``trials`` M per pattern, ``constant`` the sum of
        the rows' log binomial coefficients; poisson: ``y`` the sum of y and ``count`` the rows per
        pattern, ``constant`` ``-sum log y_i!``. Read by :meth:`summed_log_likelihood`.
        """
        import jax.numpy as jnp
        from scipy.special import gammaln

        rows = {k: np.asarray(v, dtype=float) for k, v in self.data(design).items()}
        y, n_patterns = rows["y"], patterns.n_patterns
        sums = lambda v: np.bincount(patterns.inverse, weights=v, minlength=n_patterns)  # noqa: E731
        if self.name == "poisson":
            return {"y": jnp.asarray(sums(y)), "count": jnp.asarray(sums(np.ones_like(y))),
                    "constant": float(-np.sum(gammaln(y + 1)))}
        trials = rows.get("trials", np.ones_like(y))
        constant = np.sum(gammaln(trials + 1) - gammaln(y + 1) - gammaln(trials - y + 1))
        return {"y": jnp.asarray(sums(y)), "trials": jnp.asarray(sums(trials)), "constant": float(constant)}

    def summed_log_likelihood(self, eta, extra: dict, data: dict):
        """sum_i log p(y_i | eta_i): over rows (``data`` from :meth:`data`) or over patterns (``data``
        from :meth:`pattern_data`, ``eta`` one value per pattern); the two agree to rounding."""
        import jax.numpy as jnp

        if "constant" not in data:
            return jnp.sum(self.log_prob(eta, extra, data))
        from jax.scipy.special import xlogy

        y = data["y"]
        if self.name == "poisson":
            mu = self.inverse_link(eta)
            return jnp.sum(xlogy(y, mu) - data["count"] * mu) + data["constant"]
        trials = data["trials"]
        if self.link_name == "logit":  # K eta - M log(1 + e^eta), as numpyro's Binomial(logits)
            softplus = jnp.clip(eta, 0) + jnp.log1p(jnp.exp(-jnp.abs(eta)))
            return jnp.sum(y * eta - trials * softplus) + data["constant"]
        log_p, log_q = distributions.log_probabilities(eta, self.link_name)  # probit, cloglog: exact tails
        return jnp.sum(jnp.where(y > 0, y * log_p, 0.0) + jnp.where(trials > y, (trials - y) * log_q, 0.0)) \
            + data["constant"]

    def pattern_design(self, design, patterns: Patterns):
        """The design with one row per pattern and the same likelihood up to a constant, for the
        pilot lme4-style fit (:mod:`.parameterization`): binomial proportions K/M with weights M
        (as lme4 fits aggregated binomial data), poisson sums Y with ``log(count)`` added to the
        offset. Its estimates and conditional variances are those of the full design."""
        import dataclasses

        data = self.pattern_data(design, patterns)
        rows = patterns.rows
        offset = design.offset[rows] if design.offset is not None else None
        if self.name == "poisson":
            response, weights = np.asarray(data["y"]), None
            offset = (0.0 if offset is None else offset) + np.log(np.asarray(data["count"]))
        else:
            weights = np.asarray(data["trials"])
            response = np.asarray(data["y"]) / weights
        terms = tuple(dataclasses.replace(t, codes=t.codes[rows], z=t.z[rows]) for t in design.terms)
        fixed = dataclasses.replace(design.fixed, matrix=design.fixed.matrix[rows])
        return dataclasses.replace(design, response=response, fixed=fixed, terms=terms, weights=weights,
                                   offset=offset, row_index=None)

    def inverse_link(self, eta):
        import jax.numpy as jnp
        import jax.scipy.special as jsp

        return {"identity": lambda e: e, "log": jnp.exp, "logit": jsp.expit,
                "probit": lambda e: jsp.ndtr(e), "cloglog": lambda e: -jnp.expm1(-jnp.exp(e))}[self.link_name](eta)

    def distribution(self, eta, extra: dict, data: dict):
        import numpyro.distributions as dist

        if self.ordinal:
            from .ordinal import OrdinalDistribution

            return OrdinalDistribution(eta, extra["thresholds"], self.link_name, self.name)
        if self.categorical:
            from .categorical import CategoricalDistribution

            return CategoricalDistribution(self.category_logits(eta, extra))
        mu = self.inverse_link(eta)
        if "rate" in data:  # brms's rate(): mu * denom, and for negbinomial shape * denom too
            mu = mu * data["rate"]
            extra = {k: v * data["rate"] if k == "shape" else v for k, v in extra.items()}
        if self.name in NEW_FAMILIES:
            return distributions.distribution(self.name, eta, mu, extra, data, self.link_name)
        if self.name in ("bernoulli", "binomial") and self.link_name != "logit":
            return distributions.distribution("binomial_link", eta, mu, extra, data, self.link_name)
        if self.name == "gaussian":
            return dist.Normal(mu, self.scale(extra, data))
        if self.name == "student":
            return dist.StudentT(extra["nu"], mu, self.scale(extra, data))
        if self.name == "bernoulli":
            return dist.Bernoulli(logits=eta)
        if self.name == "binomial":
            return dist.Binomial(total_count=data["trials"], logits=eta)
        if self.name == "poisson":
            return dist.Poisson(mu)
        if self.name == "negbinomial":
            return dist.NegativeBinomial2(mu, extra["shape"])
        if self.name == "gamma":
            return dist.Gamma(extra["shape"], extra["shape"] / mu)
        if self.name == "lognormal":
            return dist.LogNormal(eta, extra["sigma"])
        raise ValueError(self.name)  # pragma: no cover - guarded by make_likelihood

    @staticmethod
    def scale(extra: dict, data: dict):
        """gaussian/student scale: sigma; with known standard errors ``se(s)`` only ``s`` (brms's
        default ``sigma = FALSE``: the model has no sigma), or ``sqrt(sigma^2 + s^2)`` with
        ``se(s, sigma = TRUE)``."""
        import jax.numpy as jnp

        if "se" not in data:
            return extra["sigma"]
        if "sigma" not in extra:
            return data["se"]
        return jnp.sqrt(extra["sigma"] ** 2 + data["se"] ** 2)

    def mean(self, eta, extra: dict, data: dict):
        """E[y | eta] on the response scale (brms's posterior_epred; binomial: successes; ordinal:
        the probability of each category, an extra last axis of length K, as brms)."""
        import jax.numpy as jnp

        if self.ordinal:
            from .ordinal import category_probabilities

            return category_probabilities(eta, extra["thresholds"], self.link_name, self.name)
        if self.categorical:  # the probability of each category, as brms
            from .categorical import category_probabilities as softmax

            return softmax(self.category_logits(eta, extra))

        mu = self.inverse_link(eta)
        if "rate" in data and data["rate"] is not None:  # brms's posterior_epred: mu * denom
            mu = mu * data["rate"]
        if self.name in NEW_FAMILIES:
            return distributions.mean(self.name, eta, mu, extra, jnp)
        if self.name == "binomial":
            return mu * data["trials"]
        if self.name == "lognormal":
            return jnp.exp(eta + extra["sigma"] ** 2 / 2)
        return mu


@dataclass(frozen=True)
class Patterns:
    """Rows grouped by identical linear-predictor inputs (fixed-effects row, group codes, z rows, offset).

    ``rows`` (patterns,) is one row of each pattern; ``inverse`` (n,) the pattern of every row, so
    ``eta_rows = eta_patterns[inverse]``.
    """

    rows: np.ndarray
    inverse: np.ndarray

    @property
    def n_patterns(self) -> int:
        return len(self.rows)

    @property
    def n_rows(self) -> int:
        return len(self.inverse)

    def describe(self) -> str:
        return f"sufficient statistics: {self.n_patterns:,} patterns for {self.n_rows:,} rows"


def find_patterns(design, max_share: float = MAX_PATTERN_SHARE) -> Patterns | None:
    """The rows' distinct linear-predictor inputs, or None where they do not compress to at most
    ``max_share`` of the rows (continuous covariates: every row its own pattern).

    Column by column (each column's values -> codes, folded into one integer key per row and
    renumbered), not ``np.unique(axis=0)`` on the float rows, which sorts row tuples (10x slower at
    1e5 rows); a column with more distinct values than allowed patterns stops the search at once.
    """
    n = design.nobs
    limit = int(max_share * n)
    if n == 0 or limit < 1:
        return None
    columns = list(np.asarray(design.fixed.matrix, dtype=float).reshape(n, -1).T)
    for t in design.terms:
        columns += [np.asarray(t.codes)] + list(np.asarray(t.z, dtype=float).reshape(n, -1).T)
    if design.offset is not None:
        columns.append(np.asarray(design.offset, dtype=float))
    found = distinct_rows(columns, limit)
    return Patterns(*found) if found is not None else None


def distinct_rows(columns, limit: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows (one per distinct combination of the columns' values) and each row's combination,
    ``(rows, inverse)``; None as soon as there are more than ``limit`` combinations."""
    n = len(columns[0])
    limit = n if limit is None else limit
    key = np.zeros(n, dtype=np.int64)
    for column in columns:
        values, codes = np.unique(column, return_inverse=True)  # -0.0 and 0.0 are one value
        if len(values) > limit:
            return None
        if len(values) > 1:
            _, key = np.unique(key * len(values) + codes.reshape(-1), return_inverse=True)
            if key.max() >= limit:
                return None
    _, rows, inverse = np.unique(key, return_index=True, return_inverse=True)
    return rows.astype(np.int64), inverse.reshape(-1).astype(np.int64)


def make_likelihood(family, link: str | None = None) -> Likelihood:
    """brms family name (or an ``ml.families`` object) and brms's link -> Likelihood.

    ``link`` is brms's link of mu (``family="bernoulli", link="probit"``); None is the family's
    default (the object's own link for an ``ml.families`` object). Unknown names and links are our
    ArgumentError listing the valid ones.
    """
    import difflib

    from ..errors import ArgumentError

    if not isinstance(family, (str, Family)):
        raise ArgumentError(f"family must be a family name such as 'gaussian' (or an ml.families object), "
                            f"not {type(family).__name__} {family!r}")
    if link is not None and not isinstance(link, str):
        raise ArgumentError(f"link must be a link name such as 'probit', not {type(link).__name__} {link!r}")
    name = family.name if isinstance(family, Family) else family
    aliases = {"negative.binomial": "negbinomial", "negative_binomial": "negbinomial"}
    name = aliases.get(name, name)
    if name not in BAYES_FAMILIES:
        close = difflib.get_close_matches(name, list(BAYES_FAMILIES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ArgumentError(f"unknown family {name!r} for brm;{hint} valid families: {', '.join(BAYES_FAMILIES)}")
    spec = FAMILIES[name]
    if isinstance(family, Family):
        if link is not None and link != family.link.name:
            raise ArgumentError(f"link={link!r} contradicts the {family.link.name!r} link of the family object; "
                                "give the link once")
        link = family.link.name
    link = spec.links[0] if link is None else link
    if link not in spec.links:
        raise ArgumentError(f"unknown link {link!r} for the {name} family in brm; valid links: {', '.join(spec.links)}")
    # the shared ml.families object carries the link (its inverse, its name) for the summaries
    shared = {"identity": "gaussian", "log": "poisson"}.get(link, "binomial")
    fam = family if isinstance(family, Family) else get_family(shared, link)
    return Likelihood(name, fam, spec.parameters)


# the response additions brm reads itself (``Design.additions``; cens, trunc, rate: design.censoring)
ADDITIONS = ("se", "weights", "cens", "trunc", "rate")
# what those become in the row data of the likelihood
ROW_DATA = ("se", "weights", "cens", "cens_y2", "trunc_lb", "trunc_ub", "rate")
SE_FAMILIES = ("gaussian", "student")


def with_additions(likelihood: Likelihood, parsed) -> Likelihood:
    """The likelihood for a formula's response additions: ``se(s)`` only for gaussian and student
    (as brms), and without ``sigma`` unless ``se(s, sigma = TRUE)``."""
    import dataclasses

    from ..errors import ArgumentError

    given = dict(parsed.response_additions)
    for addition in ("cens", "trunc"):
        if addition in given and likelihood.name not in censoring.CENSORABLE:
            raise ArgumentError(f"{addition}() in the response is not available for the {likelihood.name} family in brm: "
                                f"it needs the family's CDF, which brm has for {', '.join(censoring.CENSORABLE)}")
    if "rate" in given and likelihood.name not in censoring.RATE_FAMILIES:
        raise ArgumentError(f"rate() in the response is for the {' and '.join(censoring.RATE_FAMILIES)} families "
                            f"(as brms 2.18), not {likelihood.name}")
    if "se" not in given:
        return likelihood
    if likelihood.name not in SE_FAMILIES:
        raise ArgumentError(f"se() in the response is for the {' and '.join(SE_FAMILIES)} families "
                            f"(known standard errors of the response), not {likelihood.name}")
    if given.get("se.sigma", "FALSE") == "TRUE":
        return likelihood
    return dataclasses.replace(likelihood, parameters=tuple(p for p in likelihood.parameters if p != "sigma"))
