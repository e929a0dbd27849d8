"""``glmer`` and ``glmer_nb``: formula -> design -> PIRLS/Laplace objective -> optimizer -> result.

As lme4: a first stage optimizes theta with beta found inside PIRLS (nAGQ=0), a second stage
optimizes (theta, beta) on the Laplace or adaptive Gauss-Hermite deviance, and the fixed-effects
covariance comes from a finite-difference Hessian of that deviance.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, special

from ..design import Design, build_design
from ..design.dask_source import is_out_of_core
from ..errors import ArgumentError, ConvergenceWarning, DataError, ModelError, SingularFitWarning
from ..options import flag, whole_number
from ..families import VALID_LINKS, get_family, negative_binomial
from ..formula import parse_formula
from ..results.glmerfit import GlmerFit
from ..progress import EvaluationCounter
from ..threads import blas_threads_for
from .glmm import GLMMProblem
from .optimize import bobyqa, finite_difference_hessian
from .services import GeneralizedMixedServices
from .lmer import refuse_out_of_core_options, require_grouping
from .standardize import standardize
from .update import remember_call
from .control import OptimizerControl, glmm_deviance_function

GRADIENT_TOL = 2e-3
# Gauss-Hermite rules beyond 25 nodes lose digits (nagq=1000 on cbpp: deviance 72.50 instead of
# 73.37); lme4 documents nAGQ up to 25 and so do we.
MAX_NAGQ = 25


class SeparationWarning(UserWarning):
    """Fitted probabilities of exactly 0 or 1: some fixed effects are not identified."""


def glmer(formula: str, data: pd.DataFrame, *, family="binomial", link: str | None = None, nagq: int = 1,
          weights=None, offset=None, na_action: str = "omit", start=None, data_name: str | None = None,
          progress: bool | None = None, client=None, contrasts: dict | None = None, control: dict | None = None,
          devfun_only: bool = False) -> GlmerFit:
    """Fit a generalized linear mixed model by Laplace (``nagq=1``) or adaptive Gauss-Hermite.

    Parameters
    ----------
    formula : str
        lme4 formula. Binomial responses: 0/1 (or a two-level factor/boolean),
        ``cbind(successes, failures)``, or a proportion with ``weights=`` trials.
        Offsets: ``offset(np.log(x))`` in the formula or ``offset=``.
    family : str or Family
        ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``, ``"gaussian"`` (with a
        link other than the identity: that model is :func:`lmer`'s) or a :mod:`multilevel.families`
        object; ``link`` picks another link (binomial ``"probit"``, ``"cauchit"``, ``"cloglog"``;
        poisson ``"sqrt"``, ``"identity"``; Gamma ``"log"``, ``"identity"``; ...). For the families
        with a dispersion the deviance is lme4's: the family's log density (``family$aic``) with the
        dispersion ``deviance / n`` at the conditional modes, and ``sigma()`` is
        ``sqrt((Pearson chi^2 + |u|^2) / n)``, which also scales ``varcorr`` as lme4's does. As in
        lme4, PIRLS and the log-determinant are those of unit dispersion, and ``nagq > 1`` sums
        deviance residuals without the dispersion (lme4's glmerAGQ): for these families its
        log-likelihood is not on the Laplace fit's scale (Gamma, log link: -55.0 against -384.0).
    nagq : int
        0 (theta only, beta from PIRLS: fast), 1 (Laplace) or 2..25 (adaptive Gauss-Hermite with
        that many nodes; a single scalar random-effects term only).
    contrasts : dict, optional
        Codings of factors of the fixed effects, as R's ``contrasts=`` (see :func:`multilevel.lmer`).
    control : dict, optional
        Optimizer settings, as lme4's ``glmerControl``: ``xtol_abs``, ``ftol_abs``, ``ftol_rel``, ``maxeval``
        (lme4's ``maxfun``) for the last stage, ``nagq0_init_step`` (lme4's ``nAGQ0initStep``; False: no
        theta-only first stage); recorded in ``fit.optimizer.settings`` (:mod:`multilevel.ml.control`).
    devfun_only : bool
        Return the objective instead of a fit (lme4's ``devFunOnly``): the Laplace/AGQ deviance as a
        function of (theta, beta), or of theta with nagq=0.
    data : pandas.DataFrame, dask.dataframe.DataFrame or str or Path
        A Dask DataFrame or a parquet file or directory is fitted out of core: each PIRLS step is one
        map-reduce over the partitions (:mod:`multilevel.ml.out_of_core_glmm`), on ``client`` (a
        ``dask.distributed.Client`` or a scheduler address) or Dask's local scheduler.

    Examples
    --------
    >>> import multilevel as ml
    >>> cbpp = ml.datasets.load("cbpp")
    >>> fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    >>> round(fit.loglik, 2)
    -92.03
    """
    arguments = dict(locals())  # the call, for fit.update() (as given: before any checks)
    nagq = whole_number("nagq", nagq, 0, MAX_NAGQ)
    progress = flag("progress", progress, allow_none=True)
    control, devfun_only = OptimizerControl.of(control, "glmer"), flag("devfun_only", devfun_only)
    fam = get_family(family, link)
    _check_family(fam)
    parsed = require_grouping(parse_formula(formula), "glmer")
    if is_out_of_core(data):  # a Dask DataFrame or a parquet path: PIRLS passes map-reduced over partitions
        if fam.scale_in_loglik:
            raise ModelError(f"out-of-core glmer fits families without a dispersion (binomial, poisson); the "
                             f"{fam.name} family's deviance needs the dispersion of all rows at every step: "
                             "fit in-memory data (a pandas DataFrame)")
        from .out_of_core_glmm import glmer_out_of_core

        refuse_out_of_core_options(contrasts=contrasts, control=control != OptimizerControl(),
                                   devfun_only=devfun_only)
        return remember_call(glmer_out_of_core(parsed, data, family=fam, nagq=int(nagq), weights=weights, offset=offset,
                                               na_action=na_action, start=start, data_name=data_name, progress=progress,
                                               client=client), "glmer", arguments)
    if client is not None:
        raise ArgumentError("client= is for out-of-core data (a Dask DataFrame or a parquet path); "
                            "in-memory data are fitted in this process")
    design = build_design(parsed, data, weights=weights, offset=offset, family=fam, na_action=na_action,
                          contrasts=contrasts)
    if devfun_only:
        _check_response_varies(design)
        devfun = glmm_deviance_function(GLMMProblem(design, nagq=int(nagq)), int(nagq), design.fixed.column_names)
        return remember_call(devfun, "glmer", arguments)
    return remember_call(fit_glmm_design(design, nagq=int(nagq), start=start, data_name=data_name or "data", progress=progress,
                                         control=control), "glmer", arguments)


def _check_family(fam) -> None:
    """The family/link pairs R offers; gaussian with the identity link is lmer's model."""
    allowed = VALID_LINKS.get(fam.name, ())
    if allowed and fam.link.name not in allowed:
        raise ModelError(f"link {fam.link.name!r} is not available for the {fam.name} family (as in R); "
                         f"available links: {', '.join(allowed)}")
    if fam.name == "gaussian" and fam.link.name == "identity":
        raise ModelError("glmer with the gaussian family and identity link is a linear mixed model: use ml.lmer "
                         "(REML or ML), as lme4's glmer hands gaussian identity-link models to lmer; "
                         "other gaussian links (log, inverse) are fitted here")


def fit_glmm_design(design: Design, *, nagq: int = 1, start=None, data_name: str = "data",
                    progress: bool | None = False, control: OptimizerControl = OptimizerControl()) -> GlmerFit:
    """Fit a prepared GLMM :class:`Design` (two stages as lme4's ``glmer``).

    Both stages search on the standardized design (:mod:`multilevel.ml.standardize`); the optimum
    is mapped back and the result computed on the design as given. The Hessian behind the
    fixed-effects covariance is taken in the standardized coordinates and carried to beta's.
    """
    _check_response_varies(design)
    standardized, standardization = standardize(design)
    search = GLMMProblem(standardized, nagq=nagq)  # checks that nagq suits the model
    problem = search if standardized is design else GLMMProblem(design, nagq=nagq)
    return fit_glmm_problems(design, search, problem, standardization, nagq=nagq, start=start, data_name=data_name,
                             progress=progress, control=control)


def fit_glmm_problems(design: Design, search: GLMMProblem, problem: GLMMProblem, standardization, *, nagq: int,
                      start=None, data_name: str = "data", progress: bool | None = False, fit_class=GlmerFit,
                      services=GeneralizedMixedServices, count_extreme=None,
                      control: OptimizerControl = OptimizerControl()) -> GlmerFit:
    """The two stages on prepared problems: ``search`` on the standardized design, ``problem`` on the
    design as given (the same object where standardizing changes nothing). Out-of-core fits hand in
    problems whose row work is map-reduced (:mod:`multilevel.ml.out_of_core_glmm`), their own
    ``fit_class`` and ``services``, and ``count_extreme(fit, tol)`` (fitted probabilities within tol
    of 0 or 1, for the separation check) where the fitted values are not at hand."""
    search.set_nagq(0)
    if start is None:
        theta0 = search.initial_theta()
    else:
        start = np.asarray(start, dtype=float)
        if start.ndim != 1 or len(start) < search.n_theta:
            raise ArgumentError(f"start must begin with the {search.n_theta} values of theta, got shape {start.shape}")
        theta0 = standardization.theta_to_standard(start[: search.n_theta])
    # small dense blocks: one BLAS thread (threads.py); errstate: PIRLS tries extreme parameters
    with blas_threads_for(search.cholesky) as blas, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if nagq == 0:
            stage1 = bobyqa(search.theta_only_objective, theta0, search.lower_bounds(),
                            **control.bobyqa_options(xtol_abs=1e-7))
        elif control.nagq0_init_step:  # stage 1 only gives stage 2 a start
            stage1 = bobyqa(search.theta_only_objective, theta0, search.lower_bounds(), xtol_abs=5e-2)
        else:  # lme4's nAGQ0initStep = FALSE: stage 2 starts at theta0 (one evaluation records it)
            stage1 = bobyqa(search.theta_only_objective, theta0, search.lower_bounds(), maxeval=1)
            stage1.final, stage1.messages = theta0, []
        if not np.isfinite(stage1.final_objective):
            raise DataError("the deviance is not finite at any parameter value tried: check the response "
                            "(e.g. perfect separation or counts too large for the link)")
        record, hessian = stage1, None
        stage1_pirls = (search.n_pirls_runs, search.n_pirls_iterations)
        theta_std, beta_std = stage1.final, None
        if nagq >= 1:
            state = search.pirls(stage1.final, None)
            search.set_nagq(nagq)
            x0 = np.concatenate([stage1.final, state.beta])
            lower = np.concatenate([search.lower_bounds(), np.full(search.p, -np.inf)])
            se0 = _rx_standard_errors(state, search)
            step = np.concatenate([np.full(search.n_theta, 0.1), np.maximum(se0, 1e-3)])
            counter = EvaluationCounter(progress, f"glmer: {'Laplace' if nagq == 1 else f'AGQ {nagq}'}")
            try:
                record = bobyqa(counter.wrap(search.objective), x0, lower, initial_step=step,
                                **control.bobyqa_options(xtol_abs=1e-6))
            finally:
                counter.close()
            record.messages = stage1.messages + record.messages
            record.settings["stage1_evaluations"] = stage1.n_evaluations
            theta_std, beta_std = record.final[: search.n_theta], record.final[search.n_theta:]
            before = search.n_evaluations
            hessian = standardization.hessian_to_original_beta(finite_difference_hessian(search.objective, record.final))
            record.settings["hessian_evaluations"] = search.n_evaluations - before
        record.settings["nagq0_init_step"] = control.nagq0_init_step
        problem.set_nagq(nagq)
        beta = None if beta_std is None else standardization.beta_to_original(beta_std)
        state = problem.pirls(standardization.theta_to_original(theta_std), beta)  # also leaves the modes here
        record.settings.update(blas.settings())
        _record_pirls_counts(record, search, problem, stage1_pirls)
    fit = fit_class(design, problem, state, record, nagq, hessian, services=services,
                    data_name=data_name, standardization=standardization)
    _check_glmm(fit, problem, record, hessian, count_extreme)
    standardization.record_in_original(record, n_theta=search.n_theta)
    return fit


def _record_pirls_counts(record, search: GLMMProblem, problem: GLMMProblem, stage1: tuple[int, int]) -> None:
    """How much PIRLS work the fit took: runs (one per deviance evaluation, plus the start of stage 2
    and the final modes) and their iterations, in all and in stage 1."""
    runs, iterations = search.n_pirls_runs, search.n_pirls_iterations
    if problem is not search:
        runs, iterations = runs + problem.n_pirls_runs, iterations + problem.n_pirls_iterations
    record.settings.update(stage1_pirls_runs=int(stage1[0]), stage1_pirls_iterations=int(stage1[1]),
                           pirls_runs=int(runs), pirls_iterations=int(iterations),
                           deviance_evaluations=int(search.n_evaluations))


def _check_response_varies(design: Design) -> None:
    """A binomial response with no successes (or no failures), or counts that are all zero, puts the
    optimum at infinity: name it instead of reporting a deviance that is not finite."""
    y, w = design.response, design.weights
    used = y if w is None else y[w > 0]
    if design.family.name == "binomial" and (np.all(used == 0) or np.all(used == 1)):
        outcome = "0 (no successes)" if np.all(used == 0) else "1 (only successes)"
        raise DataError(f"the response {design.response_name!r} is {outcome} in every row: the probability is "
                        "estimated on the boundary and the intercept runs to infinity; there is nothing to fit")
    if design.family.name in ("poisson", "negative.binomial") and np.all(used == 0):
        raise DataError(f"the response {design.response_name!r} is 0 in every row: the mean is estimated at 0 and "
                        "the intercept runs to -infinity; there is nothing to fit")


def _rx_standard_errors(state, problem: GLMMProblem) -> np.ndarray:
    """Standard errors from the joint PIRLS system (lme4's use.hessian=FALSE)."""
    inv = np.linalg.inv(problem.fixed_effects_factor(state))
    return np.sqrt(np.diag(inv.T @ inv))


def _check_glmm(fit: GlmerFit, problem: GLMMProblem, record, hessian, count_extreme=None) -> None:
    if fit.is_singular():
        message = "boundary (singular) fit: see help('isSingular')"
        fit.messages.append(message)
        warnings.warn(message, SingularFitWarning, stacklevel=5)
    if problem.family.name == "binomial":
        _check_separation(fit, count_extreme)
    if record.return_code < 0 or record.return_code == 5:
        message = f"Model failed to converge: optimizer {record.return_message}"
        fit.messages.append(message)
        warnings.warn(message, ConvergenceWarning, stacklevel=5)
    elif hessian is not None and not fit.is_singular():
        try:
            np.linalg.cholesky(hessian)
        except np.linalg.LinAlgError:
            message = "Model is nearly unidentifiable: the Hessian of the deviance is not positive definite"
            fit.messages.append(message)
            warnings.warn(message, ConvergenceWarning, stacklevel=5)


def _check_separation(fit: GlmerFit, count_extreme=None) -> None:
    """Perfect separation: probabilities that reach 0 or 1 and fixed effects that run away."""
    beta = fit.fixef()
    if fit.standardization is not None:  # judged per standard deviation of the predictor, not per unit
        beta = pd.Series(fit.standardization.beta_to_standard(beta.to_numpy()), index=beta.index)
    runaway = [name for name, value in beta.items() if abs(value) > 10]
    if not runaway:
        return
    if count_extreme is None:
        mu = fit.fitted()
        extreme = int((np.minimum(mu, 1 - mu) < 1e-6).sum())
    else:
        extreme = int(count_extreme(fit, 1e-6))
    message = (f"perfect separation: the estimates of {', '.join(runaway)} grow without bound (|estimate| > 10 "
               f"on the link scale) and {extreme} fitted probabilities are within 1e-6 of 0 or 1; "
               "these fixed effects are not identified")
    fit.messages.append(message)
    warnings.warn(message, SeparationWarning, stacklevel=6)


def glmer_nb(formula: str, data: pd.DataFrame, *, nagq: int = 1, weights=None, offset=None,
             na_action: str = "omit", data_name: str | None = None, tol: float = 1e-5,
             contrasts: dict | None = None) -> GlmerFit:
    """Negative binomial GLMM with the shape estimated, as lme4's ``glmer.nb``.

    A Poisson fit gives a start for the shape (its ML estimate given the fitted means); the
    shape is then chosen by Brent's method on log(theta), refitting the GLMM at each value.
    """
    arguments = dict(locals())  # the call, for fit.update() (as given: before any checks)
    nagq = whole_number("nagq", nagq, 0, MAX_NAGQ)
    parsed = require_grouping(parse_formula(formula), "glmer_nb")
    design = build_design(parsed, data, weights=weights, offset=offset, family=get_family("poisson"),
                          na_action=na_action, contrasts=contrasts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        poisson_fit = fit_glmm_design(design, nagq=nagq, data_name=data_name or "data")
    theta0 = _shape_given_means(design.response, poisson_fit.fitted(), design.weights)
    cache: dict = {}
    start = [np.concatenate([poisson_fit.theta, poisson_fit.fixef().to_numpy()])]

    def refit(log_shape: float) -> GlmerFit:
        if log_shape not in cache:
            nb_design = _with_family(design, negative_binomial(np.exp(log_shape)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[log_shape] = fit_glmm_design(nb_design, nagq=nagq, start=start[0], data_name=data_name or "data")
            start[0] = np.concatenate([cache[log_shape].theta, cache[log_shape].fixef().to_numpy()])
        return cache[log_shape]

    result = optimize.minimize_scalar(lambda s: -2 * refit(s).loglik, bounds=(np.log(theta0) - 3, np.log(theta0) + 3),
                                      method="bounded", options={"xatol": tol})
    best = refit(result.x)
    final = fit_glmm_design(best.design, nagq=nagq, start=np.concatenate([best.theta, best.fixef().to_numpy()]),
                            data_name=data_name or "data")
    final.optimizer.settings["nb_shape_evaluations"] = int(result.nfev)
    return remember_call(final, "glmer_nb", arguments)


def _with_family(design: Design, family) -> Design:
    import dataclasses

    return dataclasses.replace(design, family=family)


def _shape_given_means(y, mu, weights) -> float:
    """ML estimate of the negative binomial shape for fixed means (MASS::theta.ml)."""
    w = np.ones_like(y) if weights is None else weights

    def minus_loglik(log_theta):
        th = np.exp(log_theta)
        return -np.sum(w * (special.gammaln(th + y) - special.gammaln(th) + th * np.log(th / (th + mu))
                            + special.xlogy(y, mu / (th + mu))))

    res = optimize.minimize_scalar(minus_loglik, bounds=(-10, 10), method="bounded")
    return float(np.exp(res.x))

