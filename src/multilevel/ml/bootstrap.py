"""Parametric bootstrap of lmer and glmer fits (lme4's ``bootMer``) as a map over seeds.

Replicate ``i`` simulates a response with ``SeedSequence(seed).spawn(nsim)[i]`` (new random
effects, or the fitted ones with ``use_u=True``), refits the same design to it and returns the
statistic. The default statistic is lme4's for ``confint(method="boot")``: the standard
deviations and correlations of the random effects (``.sig01, ...``), ``.sigma`` where the family
has one, then the fixed effects. Both ``confint("boot")`` and ``fit.bootstrap`` run through here.
"""
from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np
import pandas as pd

from ..errors import ArgumentError, MultilevelError
from ..options import choice, flag, whole_number
from ..parallel import map_seeds
from ..results.bootstrap import FAILED, NONCONVERGED, OK, BootResult
from ..threads import blas_threads_for
from .inference import VarianceScaleDeviance, _param_names
from .lmm import LMMProblem
from .optimize import bobyqa
from .standardize import standardize

REFIT_ERRORS = (ArithmeticError, np.linalg.LinAlgError, MultilevelError)


class Replicate:
    """One bootstrap replicate as a picklable callable of a SeedSequence -> (values, status, message).

    What it builds from the fit (problems, starts) is rebuilt lazily in each worker, never pickled.
    """

    def __init__(self, fit, use_u: bool, statistic):
        self.fit, self.use_u, self.statistic = fit, use_u, statistic
        self._prepared = None

    def __getstate__(self):
        return {**self.__dict__, "_prepared": None}

    def simulate(self, seed) -> np.ndarray:
        return self.fit.simulate(1, seed=np.random.default_rng(seed), use_u=self.use_u).to_numpy()[:, 0]

    def __call__(self, seed):
        y = self.simulate(seed)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                if self.statistic is None:
                    values, converged = self.default(y)
                else:
                    refit = self.refit(y)
                    values, converged = statistic_values(self.statistic, refit), refit.converged
            except REFIT_ERRORS as error:
                return None, FAILED, f"{type(error).__name__}: {error}"
        return values, (OK if converged else NONCONVERGED), ""


class LinearReplicate(Replicate):
    """lmer: the default statistic from one optimizer run on the standardized problem (no fit object)."""

    def default(self, y):
        if self._prepared is None:
            fit = self.fit
            searched, standardization = standardize(fit.design)
            self._prepared = (LMMProblem(searched, reml=fit.reml), standardization,
                              standardization.theta_to_standard(fit.theta), VarianceScaleDeviance(fit.problem, fit.reml))
        problem, standardization, start, deviance = self._prepared
        boot_problem = problem.with_response(y)
        record = bobyqa(boot_problem.objective, start, boot_problem.lower_bounds(), ftol_abs=1e-7, xtol_abs=1e-6)
        solution = boot_problem.solve(record.final)
        theta = standardization.theta_to_original(solution.theta)
        beta = standardization.beta_to_original(solution.beta)
        sigma = standardization.sigma_to_original(solution.sigma)
        converged = not (record.return_code < 0 or record.return_code == 5)
        return np.concatenate([deviance.psi_from_theta(theta, sigma), beta]), converged

    def refit(self, y):
        fit = self.fit
        return fit.services.refit(dataclasses.replace(fit.design, response=y), reml=fit.reml, start=fit.theta,
                                  data_name=fit.data_name)


class GeneralizedReplicate(Replicate):
    """glmer: both stages refitted from the fit's estimates (as ``confint("boot")`` did before)."""

    def default(self, y):
        from .glmm_inference import SdCorDeviance

        refit = self.refit(y)
        if self._prepared is None:
            self._prepared = SdCorDeviance(self.fit)
        return (self._prepared.reported(refit.theta, refit.fixef().to_numpy(), refit.sigma, refit.has_residual_variance),
                refit.converged)

    def refit(self, y):
        from .glmer import fit_glmm_design

        fit = self.fit
        start = np.concatenate([fit.theta, fit.fixef().to_numpy()])
        return fit_glmm_design(dataclasses.replace(fit.design, response=y), nagq=fit.nagq, start=start,
                               data_name=fit.data_name)


def statistic_values(statistic, fit) -> np.ndarray:
    values = np.atleast_1d(np.asarray(statistic(fit), dtype=float))
    if values.ndim != 1:
        raise ArgumentError(f"statistic must return one number or a 1-d array of numbers, got shape {values.shape}")
    return values


def statistic_names(statistic, fit, t0) -> list[str]:
    if statistic is None:
        return _param_names(fit) + list(fit.fixef().index)
    value = statistic(fit)
    if isinstance(value, pd.Series):
        return [str(i) for i in value.index]
    return [f"t{i + 1}" for i in range(len(t0))]


def default_t0(fit) -> np.ndarray:
    if fit.engine == "glmer":
        from .glmm_inference import SdCorDeviance

        return SdCorDeviance(fit).reported(fit.theta, fit.fixef().to_numpy(), fit.sigma, fit.has_residual_variance)
    psi = VarianceScaleDeviance(fit.problem, fit.reml).psi_from_theta(fit.theta, fit.sigma)
    return np.concatenate([psi, fit.fixef().to_numpy()])


def bootstrap(fit, nsim: int, *, seed=None, type: str = "parametric", use_u: bool = False, statistic=None,
              client=None, scheduler: str | None = None, progress: bool | None = None,
              replicate: type[Replicate] = LinearReplicate) -> BootResult:
    """Simulate ``nsim`` responses from ``fit``, refit each, and collect ``statistic`` (see the module).

    ``replicate`` is the engine's refit (:class:`LinearReplicate`, :class:`GeneralizedReplicate`).
    """
    nsim = whole_number("nsim", nsim, 1)
    choice("type", type, ["parametric"])
    use_u = flag("use_u", use_u)
    if statistic is not None and not callable(statistic):
        raise ArgumentError(f"statistic must be a function of a fit returning numbers, not {statistic!r}")
    t0 = default_t0(fit) if statistic is None else statistic_values(statistic, fit)
    names = statistic_names(statistic, fit, t0)
    task = replicate(fit, use_u, statistic)
    started = time.perf_counter()
    # the BLAS thread policy of the fit's problem (multilevel.threads) for the local schedulers, which
    # run in this process; on a cluster, full refits apply it themselves
    with blas_threads_for(fit.problem.cholesky):
        results, entropy = map_seeds(task, seed, nsim, client=client, scheduler=scheduler, progress=progress,
                                     description=f"{fit.engine}: bootstrap")
    rows = np.full((nsim, len(t0)), np.nan)
    status = np.array([s for _, s, _ in results])
    for i, (values, _, _) in enumerate(results):
        if values is not None:
            if len(values) != len(t0):
                raise ArgumentError(f"statistic returned {len(values)} values on replicate {i + 1} and {len(t0)} "
                                    "on the data; it must return the same number every time")
            rows[i] = values
    messages = sorted({m for _, _, m in results if m})
    return BootResult(pd.Series(t0, index=names), pd.DataFrame(rows, columns=names), status, use_u, entropy,
                      messages, time.perf_counter() - started)
