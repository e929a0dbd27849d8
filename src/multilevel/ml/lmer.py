"""``lmer``: formula -> design -> objective -> optimizer -> result, in a few lines of glue."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..design import Design, build_design
from ..design.dask_source import is_out_of_core
from ..errors import ArgumentError, ConvergenceWarning, DataError, ModelError, SingularFitWarning
from ..options import flag
from ..formula import parse_formula
from ..results.lmerfit import LmerFit
from ..progress import EvaluationCounter
from ..threads import blas_threads_for
from .lmm import LMMProblem
from .optimize import bobyqa, finite_difference_gradient, finite_difference_hessian
from .services import LinearMixedServices
from .standardize import standardize
from .update import remember_call
from .control import OptimizerControl, lmm_deviance_function

GRADIENT_TOL = 2e-3  # lme4's check.conv.grad tolerance


def lmer(formula: str, data: pd.DataFrame | str, *, reml: bool = True, weights=None, na_action: str = "omit",
         start=None, data_name: str | None = None, progress: bool | None = None, client=None,
         contrasts: dict | None = None, control: dict | None = None, devfun_only: bool = False) -> LmerFit:
    """Fit a linear mixed model by REML (default) or maximum likelihood, as lme4's ``lmer``.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas.DataFrame, dask.dataframe.DataFrame or str / pathlib.Path
        The data; a Dask DataFrame or a parquet path (file or directory) is fitted out of core: the
        cross-products are map-reduced over its partitions (:mod:`multilevel.ml.out_of_core`).
    reml : bool
        REML (True) or ML (False).
    weights : str or array, optional
        Prior weights (a column name or one value per row).
    na_action : {"omit", "raise"}
        Drop rows with missing values (counted and reported) or raise.
    start : array, optional
        Starting theta (lme4's order); defaults to identity factors.
    contrasts : dict, optional
        Codings of factors of the fixed effects, as lme4's ``contrasts=``: ``{"x": "sum"}`` (or
        ``"contr.sum"``), ``"treatment"``, ``"helmert"``, ``"poly"``, ``"sdif"``, or a levels x (levels - 1)
        matrix; R's column names (``x1``, ``x.L``, ``x2-1``). Random-effects terms keep treatment
        coding, as in lme4 (:mod:`multilevel.design.contrasts`). ``fit.contrasts`` records them.
    control : dict, optional
        Optimizer settings, as lme4's ``lmerControl``: ``xtol_abs``, ``ftol_abs``, ``ftol_rel``, ``maxeval``
        (lme4's ``maxfun``); recorded in ``fit.optimizer.settings`` (:mod:`multilevel.ml.control`).
    devfun_only : bool
        Return the objective instead of a fit (lme4's ``devFunOnly``): a function of theta giving the
        REML criterion (or the ML deviance) on the design as given.
    progress : bool, optional
        Count optimizer evaluations on screen; by default only in a terminal or notebook.
    client : dask.distributed.Client or str, optional
        Out-of-core data only: the cluster (or its scheduler's address) that reduces the partitions;
        Dask's local scheduler without it.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> round(fit.reml_criterion, 3)
    1743.628
    """
    arguments = dict(locals())  # the call, for fit.update() (as given: before any checks)
    reml, progress = flag("reml", reml), flag("progress", progress, allow_none=True)
    control, devfun_only = OptimizerControl.of(control, "lmer"), flag("devfun_only", devfun_only)
    parsed = require_grouping(parse_formula(formula), "lmer")
    if is_out_of_core(data):
        from .out_of_core import lmer_out_of_core

        refuse_out_of_core_options(contrasts=contrasts, control=control != OptimizerControl(),
                                   devfun_only=devfun_only)
        return remember_call(lmer_out_of_core(parsed, data, reml=reml, weights=weights, na_action=na_action, start=start,
                                              data_name=data_name, progress=progress, client=client), "lmer", arguments)
    if client is not None:
        raise ArgumentError("client= is for out-of-core data (a Dask DataFrame or a parquet path); "
                            "an in-memory DataFrame is fitted in this process")
    design = build_design(parsed, data, weights=weights, na_action=na_action, contrasts=contrasts)
    if devfun_only:
        return remember_call(lmm_deviance_function(LMMProblem(design, reml=reml), reml), "lmer", arguments)
    return remember_call(fit_design(design, reml=reml, start=start, data_name=data_name or "data", progress=progress,
                                    control=control), "lmer", arguments)


def refuse_out_of_core_options(**given) -> None:
    """contrasts=, control= and devfun_only= are for in-memory data (so far): say so, naming the argument."""
    for name, value in given.items():
        if value:
            raise ArgumentError(f"{name}= is not available for out-of-core data yet; fit an in-memory DataFrame"
                                + (" or code the factor in the data (numeric contrast columns)"
                                   if name == "contrasts" else ""))


def require_grouping(parsed, engine: str):
    """A mixed model needs at least one random-effects term; say so before any data are read."""
    if not parsed.bars:
        raise ModelError(
            f"{engine} needs at least one random-effects term such as (1 | group) in the formula "
            f"{parsed.text!r}; a model without grouping terms is an ordinary "
            f"{'linear' if engine == 'lmer' else 'generalized linear'} model: fit it with "
            f"{'ml.lm' if engine == 'lmer' else 'ml.glm'}(formula, data"
            f"{'' if engine == 'lmer' else ', family=...'}) (the complete-pooling baseline)")
    return parsed


def fit_design(design: Design, *, reml: bool = True, start=None, data_name: str = "data",
               progress: bool | None = False, control: OptimizerControl = OptimizerControl()) -> LmerFit:
    """Fit a prepared :class:`Design` (the stage after ``build_design``).

    The optimizer works on the standardized design (:mod:`multilevel.ml.standardize`), so the fit
    does not depend on the units of the predictors; the optimum is mapped back and the result is
    computed on the design as given. ``fit.optimizer`` records theta in the coordinates it searched.
    """
    standardized, standardization = standardize(design)
    search = LMMProblem(standardized, reml=reml)
    constant = bool(np.ptp(design.response) == 0)
    _check_residual_variation(search, design.response_name, constant)
    problem = search if standardized is design else LMMProblem(design, reml=reml, like=search)
    return fit_problems(design, search, problem, standardization, reml=reml, start=start, data_name=data_name,
                        progress=progress, constant_response=constant, control=control)


def fit_problems(design: Design, search: LMMProblem, problem: LMMProblem, standardization, *, reml: bool,
                 start=None, data_name: str = "data", progress: bool | None = False, constant_response: bool,
                 fit_class=LmerFit, services=LinearMixedServices, settings: dict | None = None,
                 control: OptimizerControl = OptimizerControl()) -> LmerFit:
    """Optimize and build the result from the problems (cross-products): ``search`` on the standardized
    design, ``problem`` on the design as given (the same object when the standardization is the identity).

    Everything from here on reads cross-products only, so in-memory fits (:func:`fit_design`) and fits
    whose blocks were reduced over partitions (:mod:`multilevel.ml.out_of_core`) share it.
    """
    _check_residual_variation(search, design.response_name, constant_response)
    if start is None:
        initial = search.initial_theta()
    else:
        start = np.asarray(start, dtype=float)
        if start.shape != (problem.n_theta,):
            raise ArgumentError(f"start must have {problem.n_theta} values (theta), got shape {start.shape}")
        initial = standardization.theta_to_standard(start)
    counter = EvaluationCounter(progress, "lmer: REML" if reml else "lmer: ML")
    with blas_threads_for(search.cholesky) as blas:  # small dense blocks: one BLAS thread (threads.py)
        try:
            record = bobyqa(counter.wrap(search.objective), initial, search.lower_bounds(), **control.bobyqa_options())
        finally:
            counter.close()
        record.settings.update(blas.settings())
        record.settings.update(settings or {})
        if search.cholesky.fill_strategy:  # crossed terms: how their fill-in was formed (linalg/fill.py)
            record.settings["fill_in"] = search.cholesky.fill_in()
        theta_std = record.final
        solution = problem.solve(standardization.theta_to_original(theta_std))
        if search is not problem:
            solution = standardization.lmm_solution_to_original(solution, search.solve(theta_std), reml)
        fit = fit_class(design, solution, record, reml, services=services, data_name=data_name,
                        messages=list(record.messages), problem=problem, standardization=standardization)
        fit._search = search if search is not problem else None
        if reml and search is not problem:  # the ML deviance, without the original design's cancellation
            fit._ml_deviance = float(search.objective(theta_std, reml=False))
        _check_fit(fit, search, record)
    standardization.record_in_original(record, standardization.criterion_shift(reml))
    return fit


def _check_residual_variation(problem: LMMProblem, response_name: str, constant: bool) -> None:
    """A response that the fixed effects fit exactly leaves no residual variance to estimate."""
    if problem.residual_norm <= 1e-10 * problem.response_norm:
        what = "is constant" if constant else "is an exact linear function of the fixed effects"
        raise DataError(f"the response {response_name!r} {what}: there is no residual variation for a "
                        "linear mixed model to describe")


def _check_fit(fit: LmerFit, problem: LMMProblem, record) -> None:
    """lme4's post-fit checks: singular fit, then the gradient at the optimum."""
    if fit.is_singular():
        message = "boundary (singular) fit: see help('isSingular')"
        fit.messages.append(message)
        warnings.warn(message, SingularFitWarning, stacklevel=3)
        return
    if record.return_code < 0 or record.return_code == 5:
        message = f"Model failed to converge: optimizer {record.return_message}"
        fit.messages.append(message)
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
        return
    if problem.n_theta <= 20:
        grad = finite_difference_gradient(problem.objective, record.final, record.lower_bounds)
        record.settings["gradient"] = grad.tolist()
        if np.max(np.abs(grad)) > GRADIENT_TOL:
            # as lme4: scale by the Hessian's Cholesky factor before judging the size
            hessian = finite_difference_hessian(problem.objective, record.final)
            try:
                grad = np.linalg.solve(np.linalg.cholesky(hessian).T, grad)
            except np.linalg.LinAlgError:
                pass
        if np.max(np.abs(grad)) > GRADIENT_TOL:
            message = f"Model failed to converge with max|grad| = {np.max(np.abs(grad)):.6g} (tol = {GRADIENT_TOL})"
            fit.messages.append(message)
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
