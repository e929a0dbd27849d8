"""multilevel: multilevel (mixed-effects) models for Python.

>>> import multilevel as ml
>>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
>>> print(fit.summary())  # doctest: +SKIP
"""
from . import datasets, families, plots
from .bayes.brmsformula import bf, brmsformula
from .bayes.priors import Prior, PriorError, prior
from .design import build_design
from .draws import (
    add_epred_draws,
    add_linpred_draws,
    add_predicted_draws,
    gather_draws,
    get_variables,
    mean_hdi,
    mean_qi,
    median_hdi,
    median_qi,
    mode_hdi,
    mode_qi,
    point_interval,
    spread_draws,
)
from .errors import (
    ConvergenceWarning,
    DataError,
    FormulaError,
    MissingValuesWarning,
    MultilevelError,
    SingularFitWarning,
)
from .formula import parse_formula
from .ml import SeparationWarning, anova, glm, glmer, glmer_nb, lm, lmer, power
from .results import GlmerFit, GlmFit, LmerFit, LmFit
from .results.conditional_effects import conditional_effects
from .results.protocol import MissingCapability, capabilities
from .rethinking.helpers import HPDI, PI, extract_samples, link, rlkjcorr, rmvnorm, sim, traceplot, trankplot

__version__ = "0.1.0"


def brm(*args, **kwargs):
    """Bayesian multilevel model (NUTS via NumPyro): see :func:`multilevel.bayes.brm`.

    JAX is imported on first use only, so ``import multilevel`` stays light.
    """
    from .bayes.fit import brm as _brm

    return _brm(*args, **kwargs)


def sbc(*args, **kwargs):
    """Simulation-based calibration of a brm model: see :func:`multilevel.bayes.sbc.sbc`."""
    from .bayes.sbc import sbc as _sbc

    return _sbc(*args, **kwargs)


def ulam(*args, **kwargs):
    """A model in rethinking's notation, sampled with NUTS: see :func:`multilevel.rethinking.fit.ulam`."""
    from .rethinking.fit import ulam as _ulam

    return _ulam(*args, **kwargs)


def precis(fit, depth: int = 1, pars=None, prob: float = 0.89, digits: int = 2, regex: bool = False):
    """rethinking's precis table of a Bayesian fit (ulam or brm): see :func:`multilevel.rethinking.helpers.precis`."""
    from .rethinking.helpers import precis as _precis

    return _precis(fit, depth=depth, pars=pars, prob=prob, digits=digits, regex=regex)



def compare(*fits, func: str = "WAIC", names=None, **named_fits):
    """rethinking's compare table (WAIC or PSIS) of Bayesian fits (ulam or brm); keywords name the rows."""
    from .bayes.criteria import rethinking_compare

    return rethinking_compare(*fits, func=func, names=names, **named_fits)


def waic(fit, pointwise: bool = False):
    """rethinking's WAIC of a Bayesian fit (ulam or brm): WAIC, lppd, penalty, std_err."""
    from .bayes.criteria import rethinking_waic

    return rethinking_waic(fit, pointwise=pointwise)


def psis(fit, pointwise: bool = False):
    """rethinking's PSIS of a Bayesian fit (ulam or brm): PSIS, lppd, penalty, std_err."""
    from .bayes.criteria import rethinking_psis

    return rethinking_psis(fit, pointwise=pointwise)


def hypothesis(fit, hypothesis, class_: str = "b", group: str = "", alpha: float = 0.05, robust: bool = False,
               seed=None):
    """brms's hypothesis tests on a brm fit (or a data frame of draws with ``class_=""``):
    see :func:`multilevel.bayes.hypothesis.hypothesis`."""
    from .bayes.hypothesis import hypothesis as _hypothesis

    return _hypothesis(fit, hypothesis, class_=class_, group=group, alpha=alpha, robust=robust, seed=seed)


def update(fit, formula: str | None = None, newdata=None, **changes):
    """R's ``update(fit, formula., newdata, ...)``: the fit's call made again with the changes
    (brm fits: :mod:`multilevel.bayes.update`; lmer, glmer, lm, glm: :mod:`multilevel.ml.update`)."""
    if not hasattr(fit, "update"):
        raise MissingCapability(f"{type(fit).__name__} cannot be updated yet")
    return fit.update(formula, newdata, **changes)


def loo_compare(*fits, names=None):
    """Compare Bayesian fits (brm, ulam) by PSIS-LOO as R's loo_compare: see :func:`multilevel.bayes.criteria.loo_compare`."""
    from .bayes.criteria import loo_compare as _loo_compare

    return _loo_compare(*fits, names=names)

__all__ = ["spread_draws", "gather_draws", "get_variables", "add_epred_draws", "add_predicted_draws",
           "add_linpred_draws", "point_interval", "mean_qi", "median_qi", "mode_qi", "mean_hdi", "median_hdi",
           "mode_hdi", "plots", "lmer", "glmer", "glmer_nb", "brm", "ulam", "precis", "PI", "HPDI", "rlkjcorr", "rmvnorm",
           "extract_samples", "link", "sim", "traceplot", "trankplot", "compare", "waic", "psis", "prior", "Prior", "PriorError", "loo_compare", "anova", "datasets", "families", "GlmerFit", "SeparationWarning", "parse_formula", "build_design", "LmerFit", "FormulaError",
           "DataError", "MultilevelError", "ConvergenceWarning", "SingularFitWarning",
           "MissingValuesWarning", "__version__"]
__all__ += ["lm", "glm", "LmFit", "GlmFit", "capabilities", "MissingCapability", "power", "sbc", "hypothesis", "update",
            "conditional_effects", "bf", "brmsformula"]
