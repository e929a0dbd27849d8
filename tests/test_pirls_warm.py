"""PIRLS for GLMMs: warm starts, the one-term fast path, the work counts, and lme4's values.

Every deviance evaluation starts PIRLS from the previous evaluation's modes (as lme4 keeps ``u0``)
and a model with one random-effects term runs on a block-diagonal system of its own
(``multilevel.ml.pirls_one_term.OneTermSystem``). Neither may change a value: the deviance at given
parameters is the same from a warm or a cold start, and on the one-term or the general blocked
path, to 1e-10 relative (both iterate to the mode within rounding).

lme4 reference (lme4 1.1.31, R 4.2.2), on ``poisson_slopes()`` below written with
``poisson_slopes().to_csv("small.csv", index=False)``::

    d <- read.csv("small.csv"); d$g <- factor(d$g)
    tight <- glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5), tolPwrss = 1e-12)
    f <- glmer(y ~ x + (x | g), d, family = poisson, control = tight)
    -2 * logLik(f); getME(f, "theta"); fixef(f); sqrt(diag(vcov(f)))
    f0 <- glmer(y ~ x + (x | g), d, family = poisson)            # default controls: -2 logLik
    dev <- glmer(y ~ x + (x | g), d, family = poisson, control = glmerControl(tolPwrss = 1e-12),
                 devFunOnly = TRUE)                               # the Laplace deviance in (theta, beta)
    dev(c(0.5, 0.1, 0.2, 0.4, 0.25)); dev(c(0.45, 0.15, 0.25, 0.3, 0.3))
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.design import build_design
from multilevel.families import get_family
from multilevel.formula import parse_formula
from multilevel.ml.glmm import GLMMProblem

LME4 = {
    "m2loglik": 5339.294494164951,
    "m2loglik_default": 5339.304422846898,
    "theta": [0.4950621928, 0.1692214982, 0.2875069195],
    "fixef": [0.4053715819, 0.2281375248],
    "se": [0.0420545673, 0.0337409163],
    # devfun(pars) with tolPwrss = 1e-12, pars = (theta, beta)
    "devfun": [([0.5, 0.1, 0.2, 0.4, 0.25], 5357.353069462715), ([0.45, 0.15, 0.25, 0.3, 0.3], 5362.546240540160)],
}
FORMULA = "y ~ x + (x | g)"


def poisson_slopes(levels=200, per_level=8, seed=12):
    """Counts with a correlated random intercept and slope per level of g."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(levels), per_level)
    x = np.round(rng.normal(size=levels * per_level), 3)
    b0 = rng.normal(scale=0.5, size=levels)
    b1 = 0.3 * b0 + rng.normal(scale=0.25, size=levels)
    y = rng.poisson(np.exp(0.4 + 0.25 * x + b0[g] + b1[g] * x))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:03d}" for i in g]})


_CACHE = {}


def data():
    if "data" not in _CACHE:
        _CACHE["data"] = poisson_slopes()
    return _CACHE["data"]


def fitted():
    if "fit" not in _CACHE:
        _CACHE["fit"] = ml.glmer(FORMULA, data(), family="poisson")
    return _CACHE["fit"]


def problem(formula=FORMULA, frame=None, family="poisson", link=None, nagq=1, general=False):
    design = build_design(parse_formula(formula), data() if frame is None else frame, family=get_family(family, link))
    out = GLMMProblem(design, nagq=nagq)
    if general:  # the blocked machinery every multi-term model uses
        out.one_term = None
    return out


def relative(a, b):
    """Largest elementwise relative difference (entries that are 0 in both count as equal)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))


POINTS = [np.array([0.5, 0.1, 0.2, 0.4, 0.25]), np.array([0.45, 0.15, 0.25, 0.3, 0.3]),
          np.array([1.2, -0.3, 0.05, 0.2, 0.1]), np.array([0.05, 0.0, 0.6, 0.6, 0.4])]


def test_warm_and_cold_starts_give_the_same_deviance():
    warm = problem()
    for params in POINTS:  # each evaluation starts from the previous one's modes
        value = warm.objective(params)
        cold = problem().objective(params)
        assert relative(value, cold) < 1e-10
    # the nAGQ=0 criterion, where beta moves jointly with u from the previous beta
    warm = problem(nagq=0)
    for params in POINTS:
        theta = params[:3]
        assert relative(warm.theta_only_objective(theta), problem(nagq=0).theta_only_objective(theta)) < 1e-10


def test_one_term_path_matches_the_general_blocked_path():
    fast, general = problem(), problem(general=True)
    assert fast.one_term is not None
    for params in POINTS:
        assert relative(fast.objective(params), general.objective(params)) < 1e-10
        a, b = fast.pirls(params[:3], params[3:]), general.pirls(params[:3], params[3:])
        assert relative(a.u[0], b.u[0]) < 1e-8
        assert relative(np.diagonal(a.factor[0, 0].data, axis1=1, axis2=2),
                        np.diagonal(b.factor[0, 0].data, axis1=1, axis2=2)) < 1e-10
    for params in POINTS[:2]:
        assert relative(problem(nagq=0).theta_only_objective(params[:3]),
                        problem(nagq=0, general=True).theta_only_objective(params[:3])) < 1e-10
    state = fast.pirls(POINTS[0][:3], POINTS[0][3:])
    assert relative(fast.fixed_effects_factor(state), general.fixed_effects_factor(general.pirls(POINTS[0][:3], POINTS[0][3:]))) < 1e-10


@pytest.mark.parametrize("family,link", [("binomial", "probit"), ("poisson", "sqrt")])
def test_one_term_path_with_non_canonical_links(family, link):
    frame = data().assign(y=(data().y > 1).astype(float)) if family == "binomial" else data()
    params = np.array([0.6, 0.1, 0.3, 0.2, 0.1]) if family == "binomial" else np.array([0.3, 0.05, 0.1, 1.5, 0.2])
    fast = problem(frame=frame, family=family, link=link).objective(params)
    general = problem(frame=frame, family=family, link=link, general=True).objective(params)
    assert relative(fast, general) < 1e-10


def test_one_term_path_without_fixed_effects():
    for nagq in (0, 1):
        fast = problem("y ~ 0 + (x | g)", nagq=nagq)
        general = problem("y ~ 0 + (x | g)", nagq=nagq, general=True)
        theta = np.array([0.8, 0.2, 0.3])
        evaluate = (lambda prob: prob.theta_only_objective(theta)) if nagq == 0 else (lambda prob: prob.objective(theta))
        assert relative(evaluate(fast), evaluate(general)) < 1e-10


def test_adaptive_quadrature_on_the_one_term_path():
    frame = data()
    fast = problem("y ~ x + (1 | g)", frame, nagq=7)
    general = problem("y ~ x + (1 | g)", frame, nagq=7, general=True)
    for params in ([0.6, 0.4, 0.25], [0.3, 0.5, 0.2]):
        assert relative(fast.objective(np.array(params)), general.objective(np.array(params))) < 1e-10


def test_deviance_function_matches_lme4():
    laplace = problem()
    for params, value in LME4["devfun"]:
        assert relative(laplace.objective(np.array(params)), value) < 1e-10


def test_fit_matches_lme4_and_records_its_work():
    fit = fitted()
    assert relative(-2 * fit.loglik, LME4["m2loglik"]) < 1e-9
    assert -2 * fit.loglik <= LME4["m2loglik_default"]
    assert relative(fit.theta, LME4["theta"]) < 1e-5
    assert relative(fit.fixef().to_numpy(), LME4["fixef"]) < 1e-5
    assert relative(np.sqrt(np.diag(fit.vcov().to_numpy())), LME4["se"]) < 1e-3
    settings = fit.optimizer.settings
    for key in ("stage1_evaluations", "hessian_evaluations", "deviance_evaluations", "stage1_pirls_runs",
                "stage1_pirls_iterations", "pirls_runs", "pirls_iterations"):
        assert isinstance(settings[key], int) and settings[key] > 0, key
    # one PIRLS run per deviance evaluation, one to start stage 2, one for the final modes
    assert settings["pirls_runs"] == settings["deviance_evaluations"] + 2
    assert settings["deviance_evaluations"] == (settings["stage1_evaluations"] + fit.optimizer.n_evaluations
                                                + settings["hessian_evaluations"])
    assert settings["stage1_pirls_runs"] == settings["stage1_evaluations"]
    assert settings["pirls_runs"] <= settings["pirls_iterations"] <= 12 * settings["pirls_runs"]


def test_nagq0_fit_records_its_work():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.glmer(FORMULA, data(), family="poisson", nagq=0)
    settings = fit.optimizer.settings
    assert settings["stage1_pirls_runs"] == settings["deviance_evaluations"] == fit.optimizer.n_evaluations
    assert settings["pirls_runs"] == settings["deviance_evaluations"] + 1  # and the final modes
