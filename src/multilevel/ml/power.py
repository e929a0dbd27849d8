"""Power by simulation, as R's simr (``powerSim``, ``powerCurve`` with ``extend``).

Each replicate simulates a response from the fit (new random effects; fixed effects as fitted or
as changed with ``fixef=``, simr's ``fixef(fit)["x"] <- 5``), refits the model and tests one fixed
term. The default test is a likelihood-ratio test of the model against the model without the
term's columns, both fitted by ML (simr's ``fixed(x, "lr")``, what ``anova`` does). simr's own
default is Kenward-Roger for a numeric predictor of an lmer fit (pbkrtest) and a z-test for glmer;
``method="z"`` gives the z-test (for lmer, simr's reading of the t value as a z value).

``along=`` with ``data=`` (the data the fit was made from) gives a power curve: the data are first
extended to ``extend`` levels (or values) of ``along`` by copying the rows of existing ones in turn
(simr's ``extend``), then power is found on the first k levels for every k in ``breaks``. One
simulated response per replicate serves every k (common random numbers: a smoother curve).
"""
from __future__ import annotations

import copy
import dataclasses
import time
import warnings

import numpy as np
import pandas as pd

from ..design import build_design
from ..errors import ArgumentError, DataError, MultilevelError
from ..options import choice, open_probability, whole_number
from ..parallel import map_seeds
from ..results.bootstrap import FAILED, NONCONVERGED, OK
from ..results.power import PowerResult
from ..threads import blas_threads_for
from .lm_anova import term_columns
from .lmm import LMMProblem
from .optimize import bobyqa
from .standardize import standardize

REFIT_ERRORS = (ArithmeticError, np.linalg.LinAlgError, MultilevelError)


def power(fit, test: str | None = None, nsim: int = 100, *, method: str = "lr", fixef: dict | None = None,
          along: str | None = None, extend: int | None = None, breaks=None, data: pd.DataFrame | None = None,
          alpha: float = 0.05, seed=None, client=None, scheduler: str | None = None,
          progress: bool | None = None) -> PowerResult:
    """Power to detect the fixed term ``test`` by simulation from ``fit`` (simr's powerSim/powerCurve).

    Parameters
    ----------
    fit : LmerFit or GlmerFit
    test : str, optional
        A fixed term (``"Days"``, ``"period"`` for all of a factor's columns) or one column
        (``"period2"``); by default the first term after the intercept, as simr.
    method : {"lr", "z"}
        Likelihood-ratio test against the model without the term (ML refits), or a z-test of one column.
    fixef : dict, optional
        Fixed effects to simulate with instead of the estimates, e.g. ``{"Days": 5}``.
    along, extend, breaks, data
        A power curve along a variable of ``data``: extended to ``extend`` levels, power at ``breaks``
        levels (default: up to 10 sizes from 3 to all).
    alpha : float
        Significance level of each test.
    seed, client, scheduler, progress
        As for ``fit.bootstrap``: replicate i has ``SeedSequence(seed).spawn(nsim)[i]``; the map
        runs on Dask's local scheduler or on ``client``.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> result = ml.power(fit, "Days", nsim=20, fixef={"Days": 5}, seed=1)
    >>> print(result)  # doctest: +SKIP
    Power for predictor 'Days', (95% confidence interval):
          100.0% (83.16, 100.0)
    """
    nsim = whole_number("nsim", nsim, 1)
    alpha = open_probability("alpha", alpha)
    method = choice("method", method, ["lr", "z"])
    test, columns = _test_columns(fit, test)
    if method == "z" and len(columns) != 1:
        raise ArgumentError(f"method='z' tests one column; {test!r} has {len(columns)} ({', '.join(columns)}): "
                            "use method='lr'")
    beta = _changed_fixef(fit, fixef)
    design, frames, sizes = _designs(fit, along, extend, breaks, data)
    task = PowerReplicate(_simulation_model(fit, design, beta), frames, columns, method, fit.reml, getattr(fit, "nagq", 1))
    started = time.perf_counter()
    with blas_threads_for(fit.problem.cholesky):  # as in ml.bootstrap: the fit's BLAS thread policy
        results, entropy = map_seeds(task, seed, nsim, client=client, scheduler=scheduler, progress=progress,
                                     description=f"{fit.engine}: power")
    rows = []
    for k, (size, sub) in enumerate(zip(sizes, frames)):
        p = np.array([np.nan if r[k][0] is None else r[k][0] for r in results])
        status = np.array([r[k][1] for r in results])
        ok = status != FAILED
        successes, trials = int(np.sum(p[ok] < alpha)), int(ok.sum())
        lower, upper = clopper_pearson(successes, trials)
        rows.append({along or "size": size, "nrow": sub.nobs, "successes": successes, "trials": trials,
                     "failed": int((~ok).sum()), "nonconverged": int(np.sum(status == NONCONVERGED)),
                     "power": successes / trials if trials else np.nan, "lower": lower, "upper": upper})
    frame = pd.DataFrame(rows)
    if along is None:
        frame = frame.drop(columns="size")
    messages = sorted({r[k][2] for r in results for k in range(len(frames)) if r[k][2]})
    effect = float(beta[list(fit.design.fixed.column_names).index(columns[0])]) if len(columns) == 1 else None
    return PowerResult(frame, test, method, alpha, effect, along, nsim, entropy, messages, time.perf_counter() - started)


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """The exact binomial interval simr prints (binom.test's)."""
    from scipy import stats

    if trials == 0:
        return np.nan, np.nan
    ci = stats.binomtest(successes, trials).proportion_ci(level, method="exact")
    return float(ci.low), float(ci.high)


def _test_columns(fit, test) -> tuple[str, list[str]]:
    terms = [(label, [fit.design.fixed.column_names[j] for j in cols]) for label, cols in term_columns(fit)
             if label != "(Intercept)" and cols]
    if test is None:
        if not terms:
            raise ArgumentError("the model has no fixed effect besides the intercept to test")
        return terms[0]
    for label, cols in terms:
        if test == label:
            return label, cols
    if test in fit.design.fixed.column_names and test != "(Intercept)":
        return test, [test]
    raise ArgumentError(f"test names no fixed term or column of this model: {test!r}; the terms are "
                        f"{[t for t, _ in terms]}, the columns {list(fit.design.fixed.column_names)}")


def _changed_fixef(fit, fixef) -> np.ndarray:
    beta = fit.fixef()
    for name, value in (fixef or {}).items():
        if name not in beta.index:
            raise ArgumentError(f"fixef names no fixed effect of this model: {name!r}; they are {list(beta.index)}")
        beta[name] = float(value)
    return beta.to_numpy()


def _simulation_model(fit, design, beta):
    """The fitted covariance parameters with ``beta`` on ``design`` (simr's extended model): a copy of
    the fit that is only simulated from."""
    theta = {}
    for term, lam_theta in zip(fit.design.terms, np.split(fit.theta, np.cumsum([t.covariance.n_theta for t in fit.design.terms])[:-1])):
        theta[(term.group_name, tuple(term.column_names))] = lam_theta
    model = copy.copy(fit)
    model.design, model._beta, model._problem = design, np.asarray(beta, dtype=float), None
    model._theta = np.concatenate([theta[(t.group_name, tuple(t.column_names))] for t in design.terms])
    return model


def _designs(fit, along, extend, breaks, data):
    """The design to simulate on, the (sub)designs to refit at every size, and the sizes."""
    if along is None:
        if extend is not None or breaks is not None:
            raise ArgumentError("extend= and breaks= need along= (the variable to extend)")
        return fit.design, [dataclasses.replace(fit.design, row_index=None)], [None]
    if data is None:
        raise ArgumentError("along= needs data= (the data the fit was made from) to extend and subset")
    if along not in data.columns:
        raise ArgumentError(f"along names no column of data: {along!r}")
    if fit.design.weights is not None and fit.design.family is None:
        raise ArgumentError("along= rebuilds the design from data; an lmer fit with prior weights is not supported")
    used = [v for v in fit.design.formula.variables if v in data.columns]
    frame = data.dropna(subset=used).reset_index(drop=True)
    values = pd.unique(frame[along])
    n = len(values) if extend is None else whole_number("extend", extend, len(values))
    grouping = any(along in term.group_vars for term in fit.design.terms)
    frame, values = _extend(frame, along, values, n, grouping)
    def build(rows):
        return build_design(fit.design.formula, rows, family=fit.design.family,
                            contrasts=fit.design.fixed.codings.as_argument())

    design = build(frame)
    if breaks is None:
        breaks = np.unique(np.round(np.linspace(min(3, n), n, min(n, 10))).astype(int))
    breaks = [whole_number("breaks", b, 1, n) for b in np.atleast_1d(breaks)]
    subsets = []
    for k in breaks:
        rows = np.flatnonzero(frame[along].isin(values[:k]).to_numpy())
        try:
            sub = build(frame.iloc[rows].reset_index(drop=True))
        except MultilevelError as error:
            raise DataError(f"the first {k} values of {along!r} do not make a model to fit: {error}") from error
        subsets.append(dataclasses.replace(sub, row_index=rows))
    return design, subsets, breaks


def _extend(frame, along, values, n, grouping: bool):
    """simr's extend: new levels (or values) n0+1..n copy the rows of existing ones in turn.

    New levels of a grouping factor coded by numbers continue after the largest code; a numeric
    predictor continues its equally spaced values."""
    if n == len(values):
        return frame, values
    numeric = pd.api.types.is_numeric_dtype(frame[along])
    if numeric and grouping:
        new_values = np.max(values) + np.arange(1, n - len(values) + 1)
    elif numeric:
        steps = np.diff(np.sort(values))
        if len(values) < 2 or not np.allclose(steps, steps[0]):
            raise ArgumentError(f"extend= continues an equally spaced numeric {along!r}; its values are not")
        new_values = np.sort(values)[-1] + steps[0] * np.arange(1, n - len(values) + 1)
    else:
        new_values = np.array([f"{along}{i}" for i in range(len(values) + 1, n + 1)], dtype=object)
    pieces = [frame]
    for i, value in enumerate(new_values):
        copy_rows = frame[frame[along] == values[i % len(values)]].copy()
        copy_rows[along] = value
        pieces.append(copy_rows)
    extended = pd.concat(pieces, ignore_index=True)
    if not numeric and isinstance(frame[along].dtype, pd.CategoricalDtype):
        extended[along] = extended[along].astype(str)
    return extended, np.concatenate([np.asarray(values, dtype=object if not numeric else float), new_values])


class PowerReplicate:
    """One simulated response, the test at every size: [(p-value or None, status, message), ...]."""

    def __init__(self, model, designs, columns, method, reml, nagq):
        self.model, self.designs, self.columns = model, designs, columns
        self.method, self.reml, self.nagq = method, reml, nagq

    def __call__(self, seed):
        y = self.model.simulate(1, seed=np.random.default_rng(seed)).to_numpy()[:, 0]
        out = []
        for design in self.designs:
            rows = design.row_index
            response = y if rows is None else y[rows]
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    out.append(self.test(dataclasses.replace(design, response=response)) + ("",))
                except REFIT_ERRORS as error:
                    out.append((None, FAILED, f"{type(error).__name__}: {error}"))
        return out

    def test(self, design):
        from scipy import stats

        names = list(design.fixed.column_names)
        missing = [c for c in self.columns if c not in names]
        if missing:
            raise DataError(f"column(s) {missing} are not estimable in this data (dropped as aliased)")
        glmm = design.family is not None
        if self.method == "z":
            from .glmer import fit_glmm_design
            from .lmer import fit_design

            fit = fit_glmm_design(design, nagq=self.nagq) if glmm else fit_design(design, reml=self.reml)
            z = fit.coef_table().iloc[:, 2][self.columns[0]]
            return float(2 * stats.norm.sf(abs(z))), OK if fit.converged else NONCONVERGED
        keep = [j for j, name in enumerate(names) if name not in self.columns]
        reduced = dataclasses.replace(design, fixed=dataclasses.replace(
            design.fixed, matrix=design.fixed.matrix[:, keep], column_names=tuple(names[j] for j in keep)))
        (full, ok_full), (small, ok_small) = (self._deviance(d, glmm) for d in (design, reduced))
        p = float(stats.chi2.sf(max(small - full, 0.0), len(self.columns)))
        return p, OK if ok_full and ok_small else NONCONVERGED

    def _deviance(self, design, glmm: bool) -> tuple[float, bool]:
        """-2 log-likelihood at the ML estimates, and whether the optimizer converged."""
        if glmm:
            from .glmer import fit_glmm_design

            fit = fit_glmm_design(design, nagq=self.nagq)
            return -2.0 * fit.loglik, fit.converged
        searched, standardization = standardize(design)
        problem = LMMProblem(searched, reml=False)
        record = bobyqa(problem.objective, problem.initial_theta(), problem.lower_bounds(), ftol_abs=1e-9, xtol_abs=1e-7)
        converged = not (record.return_code < 0 or record.return_code == 5)
        return record.final_objective + standardization.criterion_shift(reml=False), converged
