"""One fit protocol: what every fit (lm, glm, lmer, glmer, brm, ulam) can be asked, by name.

Each fit class derives from :class:`Fit` and overrides the questions it can answer. The shared
tools (``ml.precis``, ``ml.compare``, ``ml.loo_compare``, the tidy-draws verbs, every plot in
``ml.plots``) read fits only through these methods; asking a fit a question it cannot answer raises
:class:`MissingCapability` naming the question, the fit and what would answer it.

Questions (all optional; ``capabilities(fit)`` lists those a fit answers):

- ``summary()``, ``nobs``, ``model_text`` (the formula or the model code), ``fixef()``, ``coef()``,
  ``predict(newdata=None)``;
- ``observed()``: the response on its natural scale (binomial: proportions) and
  ``observation_weights()`` (binomial: trials; else None);
- ``response_name``: the name of the response (axis labels);
- ``fitted_mean()``: fitted mean per observation (posterior mean for Bayesian fits), on the scale
  of ``observed()``;
- ``replicated_data(ndraws, seed)``: (ndraws, observations) data sets simulated from the fit, on
  the scale of ``observed()`` (posterior predictive draws, or lme4's ``simulate``);
- ``fixed_columns()``: the fixed-effects design columns (formula models) as a DataFrame;
  ``inverse_link(eta)`` maps the linear predictor to the mean; ``vcov()`` (ML fits) and
  ``fixed_effect_draws()`` (Bayesian fits: a draws x coefficients DataFrame with lme4's names)
  describe the uncertainty of the fixed effects; ``prior_samples(ndraws, seed)``: a dict of draws
  from the priors;
- ``grouping(group=None)``: (codes, levels, name) of a grouping factor or index;
- ``group_effect_table(group=None, term=None)``: estimate, lower, upper (95%) per level;
- ``fixed_effect_table()``: estimate, lower, upper (95%) per fixed effect;
- ``varying_effects(group=None, slope=None)``: a :class:`~multilevel.results.varying.VaryingEffects`
  (per-level intercepts and slopes, the population's mean and covariance, the data per row);
- Bayesian fits: ``draws_by_chain()``, ``posterior_variables()`` (dict of
  :class:`multilevel.draws.Variable`), ``sampler_stats()`` (Stan's lp__, accept_stat__, ...),
  ``log_likelihood()`` (chains, draws, observations), ``to_arviz()``, and
  ``linpred_draws``/``epred_draws``/``predicted_draws(newdata=None, *, ndraws=None, seed=None,
  re_formula=None, allow_new_levels=False)`` -> arrays (draws, rows).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import MultilevelError

QUESTIONS = (
    "summary", "fixef", "coef", "predict", "observed", "observation_weights", "fitted_mean", "replicated_data",
    "fixed_columns", "inverse_link", "vcov", "fixed_effect_draws", "prior_samples", "grouping",
    "group_effect_table", "fixed_effect_table", "varying_effects", "draws_by_chain", "posterior_variables", "sampler_stats",
    "log_likelihood", "to_arviz", "linpred_draws", "epred_draws", "predicted_draws",
)


class MissingCapability(MultilevelError, AttributeError):
    """A fit was asked a question its engine cannot answer (e.g. draws of a maximum-likelihood fit)."""


_BAYESIAN_QUESTIONS = {"draws_by_chain", "posterior_variables", "sampler_stats", "log_likelihood", "to_arviz",
                       "linpred_draws", "epred_draws", "predicted_draws", "fixed_effect_draws"}
_DRAWS_HINT = "it holds no posterior draws; fit the model with ml.brm or ml.ulam"


def _a(engine: str) -> str:
    return f"an {engine}" if engine[:1] in "aeiou" or engine in ("lm", "lmer") else f"a {engine}"


class Fit:
    """Base of every fit. ``engine`` names the function that made it; ``bayesian`` says whether it holds draws."""

    engine: str = "fit"
    bayesian: bool = False

    def _missing(self, question: str, hint: str = ""):
        return MissingCapability(f"{_a(self.engine)} fit cannot answer {question}()" + (f": {hint}" if hint else ""))

    @property
    def model_text(self) -> str:
        raise self._missing("model_text")

    def summary(self):
        raise self._missing("summary")

    def fixef(self):
        raise self._missing("fixef")

    def coef(self):
        raise self._missing("coef")

    def predict(self, newdata=None, **options):
        raise self._missing("predict")

    def observed(self):
        raise self._missing("observed")

    def observation_weights(self):
        return None

    def response_categories(self):
        """The labels of an unordered categorical response, reference first (the ``.category`` of
        ``add_epred_draws``); None where the response is not categorical (ordinal: categories 1..K)."""
        return None

    @property
    def response_name(self) -> str:
        return "response"

    def replicated_data(self, ndraws: int = 50, seed=None):
        raise self._missing("replicated_data")

    def fixed_columns(self):
        raise self._missing("fixed_columns", "the model has no fixed-effects design matrix (a formula model has)")

    def inverse_link(self, eta):
        raise self._missing("inverse_link")

    def vcov(self):
        raise self._missing("vcov")

    def fixed_effect_draws(self):
        raise self._needs_draws("fixed_effect_draws")

    def prior_samples(self, ndraws: int = 2000, seed=None):
        raise self._missing("prior_samples", "a brm fit needs sample_prior='yes'; an ulam fit draws them")

    def fitted_mean(self):
        raise self._missing("fitted_mean")

    def grouping(self, group=None):
        raise self._missing("grouping", "the model has no grouping factor or indexed parameter")

    def group_effect_table(self, group=None, term=None):
        raise self._missing("group_effect_table", "the model has no group-level effects")

    def fixed_effect_table(self):
        raise self._missing("fixed_effect_table")

    def varying_effects(self, group=None, slope=None):
        raise self._missing("varying_effects", "the model needs a varying intercept and a varying slope")

    # ---- Bayesian fits ---------------------------------------------------------------------------
    def _needs_draws(self, question: str):
        return self._missing(question, _DRAWS_HINT)

    def draws_by_chain(self):
        raise self._needs_draws("draws_by_chain")

    def posterior_variables(self):
        raise self._needs_draws("posterior_variables")

    def sampler_stats(self):
        raise self._needs_draws("sampler_stats")

    def log_likelihood(self):
        raise self._needs_draws("log_likelihood")

    def to_arviz(self):
        raise self._needs_draws("to_arviz")

    def linpred_draws(self, newdata=None, **options):
        raise self._needs_draws("linpred_draws")

    def epred_draws(self, newdata=None, **options):
        raise self._needs_draws("epred_draws")

    def predicted_draws(self, newdata=None, **options):
        raise self._needs_draws("predicted_draws")

    # ---- tidybayes's verbs, for every fit (they ask posterior_variables and the *_draws questions) ----
    def spread_draws(self, *specs: str, regex: bool = False, ndraws=None, seed=None):
        """tidybayes's ``spread_draws(fit, "r_Subject[Subject, term]")``: see :func:`multilevel.spread_draws`."""
        from ..draws import spread_draws

        return spread_draws(self, *specs, regex=regex, ndraws=ndraws, seed=seed)

    def gather_draws(self, *specs: str, regex: bool = False, ndraws=None, seed=None):
        """tidybayes's ``gather_draws``: see :func:`multilevel.gather_draws`."""
        from ..draws import gather_draws

        return gather_draws(self, *specs, regex=regex, ndraws=ndraws, seed=seed)

    def get_variables(self) -> list[str]:
        """tidybayes's ``get_variables``: see :func:`multilevel.get_variables`."""
        from ..draws import get_variables

        return get_variables(self)

    def add_epred_draws(self, newdata, **options):
        """tidybayes's ``add_epred_draws(newdata, fit)``: see :func:`multilevel.add_epred_draws`."""
        from ..draws import add_epred_draws

        return add_epred_draws(newdata, self, **options)

    def add_predicted_draws(self, newdata, **options):
        """tidybayes's ``add_predicted_draws``: see :func:`multilevel.add_predicted_draws`."""
        from ..draws import add_predicted_draws

        return add_predicted_draws(newdata, self, **options)

    def add_linpred_draws(self, newdata, **options):
        """tidybayes's ``add_linpred_draws``: see :func:`multilevel.add_linpred_draws`."""
        from ..draws import add_linpred_draws

        return add_linpred_draws(newdata, self, **options)


def answers(fit, question: str) -> bool:
    """Whether ``fit`` answers ``question`` (its class overrides the protocol's default)."""
    if question not in QUESTIONS and question not in ("model_text", "response_name"):
        raise ValueError(f"unknown question {question!r}")
    if not isinstance(fit, Fit):
        return callable(getattr(fit, question, None))
    return getattr(type(fit), question, None) is not getattr(Fit, question)


def capabilities(fit) -> list[str]:
    """The protocol questions a fit answers, in the protocol's order."""
    return [q for q in QUESTIONS if answers(fit, q)]


def require(fit, question: str, purpose: str) -> None:
    """MissingCapability naming ``purpose`` when ``fit`` cannot answer ``question``."""
    if not isinstance(fit, Fit):
        raise MultilevelError(f"{purpose} needs a fit from ml.lm, ml.glm, ml.lmer, ml.glmer, ml.brm or ml.ulam, "
                              f"not {type(fit).__name__}")
    if not answers(fit, question):
        hint = f": {_DRAWS_HINT}" if question in _BAYESIAN_QUESTIONS else ""
        raise MissingCapability(f"{purpose} needs {question}(), which {_a(fit.engine)} fit does not answer{hint}")


class FormulaFit(Fit):
    """The answers every formula model (lm, glm, lmer, glmer, brm) reads off its shared design."""

    @property
    def formula(self) -> str:
        """The model formula, spaced as lme4 prints it."""
        return self.design.formula.display

    @property
    def model_text(self) -> str:
        return self.formula

    @property
    def response_name(self) -> str:
        return self.design.response_name

    @property
    def nobs(self) -> int:
        return self.design.nobs

    @property
    def contrasts(self) -> dict:
        """The codings given by ``contrasts=`` (R's ``attr(model.matrix(fit), "contrasts")`` for those):
        variable -> ``"contr.sum"`` etc., or ``"matrix"`` for a coding of one's own."""
        return self.design.fixed.codings.recorded()

    def observed(self):
        """The response as the design holds it (binomial: the proportion of successes)."""
        return np.asarray(self.design.response, dtype=float).copy()

    def observation_weights(self):
        return self.design.weights

    def fixed_columns(self):
        return pd.DataFrame(self.design.fixed.matrix, columns=list(self.design.fixed.column_names))

    def grouping(self, group=None):
        return design_grouping(self.design, group)


def design_grouping(design, group=None):
    """(codes per row, levels, name) of a formula model's grouping factor (the first when ``group`` is None)."""
    terms = design.terms
    if not terms:
        raise MissingCapability("the model has no grouping factor")
    if group is None:
        term = terms[0]
    else:
        matches = [t for t in terms if t.group_name == group]
        if not matches:
            raise MultilevelError(f"no grouping factor {group!r} in the model; it has: "
                                  f"{', '.join(sorted({t.group_name for t in terms}))}")
        term = matches[0]
    return term.codes, term.levels, term.group_name
