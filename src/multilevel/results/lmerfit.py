"""The result of ``ml.lmer``: estimates, inference, prediction, and how the fit was produced."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..covariance import covariance_from_factor
from ..design import Design, encode_fixed, encode_term, newdata_frame, terms_in_re_form
from ..errors import ArgumentError, DataError
from ..options import choice, flag, open_probability, whole_number
from ..formula import tokenize
from . import summary as summary_text
from .protocol import FormulaFit
from .influence import cooks_distance


def unique_group_names(names: list[str]) -> list[str]:
    """R's make.unique: Subject, Subject.1, ... for repeated grouping factors (``||`` terms)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            out.append(f"{name}.{seen[name]}")
        else:
            seen[name] = 0
            out.append(name)
    return out


class LmerFit(FormulaFit):
    """A linear mixed model fitted by REML or ML.

    Created by :func:`multilevel.lmer`; every number in it comes from one optimizer run, recorded
    in :attr:`optimizer`. Methods follow lme4's names (``fixef``, ``ranef``, ``varcorr``...).
    ``services`` is the engine that made it (:mod:`multilevel.ml.services`): the fit calls it for
    its problem object, refits, conditional variances and intervals, so ``results`` imports no engine.
    """

    engine = "lmer"
    has_residual_variance = True  # GLMMs of the binomial and Poisson families have none

    def __init__(self, design: Design, solution, record, reml: bool, *, services, data_name: str = "data",
                 messages: list | None = None, problem=None, standardization=None):
        self.services = services
        self.design = design
        self.reml = reml
        self.optimizer = record
        self.data_name = data_name
        self.messages = list(messages or [])
        self._theta = np.asarray(solution.theta, dtype=float)
        self._beta = solution.beta
        self._b = solution.b
        self._u = solution.u
        self._factor = solution.factor
        self._sigma = solution.sigma
        self._criterion = solution.objective
        self._problem = problem
        self._ml_deviance = None
        # the recoding of the predictors the optimizer worked in (multilevel.ml.standardize)
        self.standardization = standardization

    # ---- pickling: the problem (cross-products) is rebuilt on demand ---------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_problem"] = None
        state.pop("_search", None)
        return state

    _search = None  # the problem the optimizer searched (standardized design), kept for refit()

    @property
    def search_problem(self):
        """The :class:`~multilevel.ml.lmm.LMMProblem` of the standardized design the optimizer searched
        (None after unpickling)."""
        return self._search

    @property
    def problem(self):
        """The :class:`~multilevel.ml.lmm.LMMProblem` behind the fit (rebuilt after unpickling)."""
        if self._problem is None:
            self._problem = self.services.problem(self)
        return self._problem

    # ---- basic quantities ------------------------------------------------------------------------
    @property
    def theta(self) -> np.ndarray:
        """Relative covariance parameters in lme4's order (terms by decreasing number of levels)."""
        return self._theta.copy()

    @property
    def sigma(self) -> float:
        return float(self._sigma)

    @property
    def ngroups(self) -> dict[str, int]:
        out = {}
        for term in self.design.terms:
            out.setdefault(term.group_name, term.n_levels)
        return out

    @property
    def n_parameters(self) -> int:
        """Parameters counted by AIC: theta, fixed effects and sigma."""
        return len(self._theta) + len(self._beta) + 1

    @property
    def reml_criterion(self) -> float:
        """REML criterion at the optimum (NaN for an ML fit)."""
        return float(self._criterion) if self.reml else float("nan")

    @property
    def deviance(self) -> float:
        """-2 log-likelihood (ML). For a REML fit: the ML deviance profiled at the REML theta."""
        if not self.reml:
            return float(self._criterion)
        if self._ml_deviance is None:
            self._ml_deviance = float(self.problem.objective(self._theta, reml=False))
        return self._ml_deviance

    @property
    def loglik(self) -> float:
        """Log-likelihood; for a REML fit the restricted log-likelihood, as lme4's ``logLik``."""
        return -0.5 * float(self._criterion)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_parameters

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + self.n_parameters * np.log(self.nobs)

    @property
    def df_resid(self) -> int:
        return self.nobs - self.n_parameters

    @property
    def converged(self) -> bool:
        return not any(m.startswith("Model failed to converge") for m in self.messages)

    def is_singular(self, tol: float = 1e-4) -> bool:
        """A variance parameter on its bound (a zero variance or a correlation of +-1), as lme4.

        Judged on theta in standardized coordinates, so that the answer does not depend on the
        units of the predictors (lme4's tolerance is in absolute units of theta).
        """
        theta = self._theta if self.standardization is None else self.standardization.theta_to_standard(self._theta)
        edges = np.cumsum([0] + [t.covariance.n_theta for t in self.design.terms])
        return any(t.covariance.on_boundary(theta[a:b], tol)
                   for t, a, b in zip(self.design.terms, edges[:-1], edges[1:]))

    # ---- fixed effects -----------------------------------------------------------------------
    def fixef(self) -> pd.Series:
        return pd.Series(self._beta, index=list(self.design.fixed.column_names), name="Estimate")

    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed-effects estimates: sigma^2 (R_X' R_X)^-1."""
        p = len(self._beta)
        fixed = self._factor[len(self.design.terms), len(self.design.terms)][:p, :p]
        inv = np.linalg.inv(fixed)
        cov = self._sigma**2 * inv.T @ inv
        names = list(self.design.fixed.column_names)
        return pd.DataFrame(cov, index=names, columns=names)

    def coef_table(self) -> pd.DataFrame:
        se = np.sqrt(np.diag(self.vcov().to_numpy()))
        return pd.DataFrame({"Estimate": self._beta, "Std. Error": se, "t value": self._beta / se},
                            index=list(self.design.fixed.column_names))

    # ---- random effects ----------------------------------------------------------------------
    def _term_thetas(self) -> list[np.ndarray]:
        edges = np.cumsum([0] + [t.covariance.n_theta for t in self.design.terms])
        return [self._theta[a:b] for a, b in zip(edges[:-1], edges[1:])]

    def _lambdas(self) -> list[np.ndarray]:
        return [t.covariance.factor(theta) for t, theta in zip(self.design.terms, self._term_thetas())]

    def varcorr(self) -> pd.DataFrame:
        """Variance components as lme4's ``as.data.frame(VarCorr(fit))``: grp, var1, var2, vcov, sdcor.

        Printed, it reads as ``print(VarCorr(fit))``: Groups, Name, Std.Dev., Corr.
        """
        rows = []
        names = unique_group_names([t.group_name for t in self.design.terms])
        for name, term, theta in zip(names, self.design.terms, self._term_thetas()):
            cov, sd, _ = covariance_from_factor(term.covariance.factor(theta))
            corr = term.covariance.correlation(theta)  # a structure's correlation, also beside a zero sd
            cov, sd = cov * self._sigma**2, sd * self._sigma
            cols = term.column_names
            for i, col in enumerate(cols):
                rows.append((name, col, None, cov[i, i], sd[i]))
            for i in range(len(cols) if term.covariance.correlated else 0):
                for j in range(i + 1, len(cols)):
                    rows.append((name, cols[i], cols[j], cov[j, i], corr[j, i]))
        if self.has_residual_variance:
            rows.append(("Residual", None, None, self._sigma**2, self._sigma))
        frame = pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
        return summary_text.VarCorrTable.of(frame, self)

    def ranef(self, condvar: bool = True) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects, one DataFrame per grouping factor.

        With ``condvar=True`` each frame carries ``attrs["condvar"]``: (levels, p, p) conditional
        covariances given the data at the estimates (terms of one factor written with ``||`` are
        stacked block-diagonally), and ``attrs["condsd"]``, their square-rooted diagonals.
        """
        out: dict[str, pd.DataFrame] = {}
        variances = self._condvar_blocks() if condvar else None
        for k, term in enumerate(self.design.terms):
            frame = pd.DataFrame(self._b[k], index=pd.Index(term.levels, name=term.group_name),
                                 columns=list(term.column_names))
            if term.group_name in out:
                previous = out[term.group_name]
                merged = pd.concat([previous, frame], axis=1)
                if condvar:
                    merged.attrs["condvar"] = _block_diag_stack(previous.attrs["condvar"], variances[k])
                out[term.group_name] = merged
            else:
                if condvar:
                    frame.attrs["condvar"] = variances[k]
                out[term.group_name] = frame
        if condvar:
            for frame in out.values():
                frame.attrs["condsd"] = np.sqrt(np.diagonal(frame.attrs["condvar"], axis1=1, axis2=2))
        return out

    def _condvar_blocks(self) -> list[np.ndarray]:
        return self.services.conditional_variances(self._factor, self.design.terms, self._lambdas(), self._sigma)

    def coef(self) -> dict[str, pd.DataFrame]:
        """Fixed plus random effects per level, as lme4's ``coef()``."""
        fixed = self.fixef()
        out = {}
        for group, frame in self.ranef(condvar=False).items():
            table = pd.DataFrame(np.tile(fixed.to_numpy(), (len(frame), 1)), index=frame.index,
                                 columns=fixed.index)
            for col in frame.columns:
                table[col] = (table[col] if col in table else 0.0) + frame[col]
            out[group] = table
        return out

    # ---- fitted values, residuals, prediction --------------------------------------------------
    def _random_part(self, codes_list, z_list, terms_used) -> np.ndarray:
        total = np.zeros(len(codes_list[0]) if codes_list else 0)
        for k, (codes, z) in enumerate(zip(codes_list, z_list)):
            if k not in terms_used:
                continue
            known = codes >= 0
            contrib = np.zeros(len(codes))
            contrib[known] = np.einsum("np,np->n", z[known], self._b[k][codes[known]])
            total += contrib
        return total

    def fitted(self) -> np.ndarray:
        terms = self.design.terms
        fixed = self.design.fixed.matrix @ self._beta
        return fixed + self._random_part([t.codes for t in terms], [t.z for t in terms], set(range(len(terms))))

    def math(self, style: str = "levels", numbers: bool = False):
        """The model as equations (LaTeX): ``style="levels"`` (Level 1 / Level 2, gamma for fixed
        effects), ``"rethinking"`` (line by line, indexed parameters) or ``"matrix"``; ``numbers=True``
        fills in the estimates. ``.latex`` is an ``align*`` block; Jupyter renders it
        (:mod:`multilevel.equations`)."""
        from ..equations import formula_equations

        return formula_equations(self, style=style, numbers=numbers)

    def diagram(self, format: str | None = None, ax=None):
        """The plate diagram (Bayesian network) of the model: a matplotlib Figure, or SVG text with
        ``format="svg"`` (:mod:`multilevel.plots.diagram`)."""
        from ..equations.graphs import formula_graph
        from ..plots.diagram import show

        return show(formula_graph(self), format=format, ax=ax)

    def objective(self, params=None):
        """The criterion the fit minimized, as a function (lme4's ``devfun``, MixedModels.jl's ``objective!``):
        ``fit.objective(theta)`` is the REML criterion (ML: the deviance) at ``theta``, on the design as
        given; glmer's takes ``(theta, beta)`` (nagq = 0: theta). Without ``params``: the function itself
        (:class:`~multilevel.ml.control.DevianceFunction`), with its bounds and parameter names."""
        function = self.services.objective(self)
        return function if params is None else function(params)

    def refit(self, newresponse) -> "LmerFit":
        """lme4's ``refit(object, newresp)``: the same model fitted to another response (one value per row
        used), from this fit's estimates; lmer reuses the cross-products of Z and X and the symbolic
        factorization, recomputing only the blocks that involve y (:mod:`multilevel.ml.update`)."""
        return self.services.refit_response(self, newresponse)

    def update(self, formula: str | None = None, newdata=None, **changes) -> "LmerFit":
        """R's ``update(fit, formula., ...)``: the call that made this fit made again with the changes,
        e.g. ``fit.update("~ . - Days")``, ``fit.update(data=other)``, ``fit.update(reml=False)``."""
        return self.services.update(self, formula, newdata, **changes)

    def hatvalues(self) -> np.ndarray:
        """Leverages, the diagonal of the hat matrix that maps y to the fitted values (lme4's ``hatvalues``,
        MixedModels.jl's ``leverage``); their sum is the effective number of parameters, between p and
        p + q (:mod:`multilevel.ml.influence`)."""
        return self.services.leverage(self)

    def cooks_distance(self) -> np.ndarray:
        """Cook's distances, as lme4's ``cooks.distance``: ``(r / (1 - h))^2 h / (sigma^2 p)`` with Pearson
        residuals r, the leverages h and p fixed effects."""
        return cooks_distance(self.residuals("pearson"), self.hatvalues(), self.sigma ** 2, len(self._beta))

    def residuals(self, type: str = "response", scaled: bool = False) -> np.ndarray:
        """Residuals y - fitted. For a linear mixed model lme4's ``"response"``, ``"working"`` and
        ``"deviance"`` types agree; ``"pearson"`` multiplies by the square root of the weights;
        ``scaled=True`` gives Pearson residuals over sigma."""
        type = choice("type", type, ["response", "working", "deviance", "pearson"])
        scaled = flag("scaled", scaled)
        res = self.design.response - self.fitted()
        if type == "pearson" and self.design.weights is not None and not scaled:
            res = res * np.sqrt(self.design.weights)
        if scaled:
            w = self.design.weights
            res = (res if w is None else res * np.sqrt(w)) / self._sigma
        return res

    def predict(self, newdata: pd.DataFrame | None = None, re_form=None, allow_new_levels: bool = False) -> np.ndarray:
        """Predictions; ``re_form="~0"`` for the population level, or a formula naming the bars to use.

        Levels not seen when fitting get zero random effects when ``allow_new_levels`` is true and
        raise a :class:`DataError` naming them otherwise.
        """
        terms_used = terms_in_re_form(self.design, re_form)
        if newdata is None:
            fixed = self.design.fixed.matrix @ self._beta
            terms = self.design.terms
            return fixed + self._random_part([t.codes for t in terms], [t.z for t in terms], terms_used)
        newdata = newdata_frame(newdata)
        response_vars = {t.text for t in tokenize(self.design.formula.response) if t.kind == "name"}
        needed = [v for v in self.design.formula.variables if v not in response_vars]
        needed_fixed = [v for v in needed if not any(v in t.group_vars for t in self.design.terms)]
        missing = [v for v in needed_fixed if v not in newdata.columns]
        if missing:
            raise DataError(f"newdata lacks column(s) the model uses: {missing}")
        x_new = encode_fixed(self.design, newdata)
        codes_list, z_list = [], []
        for k, term in enumerate(self.design.terms):
            if k not in terms_used:
                codes_list.append(np.full(len(newdata), -1))
                z_list.append(np.zeros((len(newdata), term.dim)))
                continue
            for v in term.group_vars:
                if v not in newdata.columns:
                    raise DataError(f"newdata lacks grouping column {v!r}; use re_form='~0' for population predictions")
            codes, z = encode_term(term, newdata, allow_new_levels=allow_new_levels)
            if (codes < 0).any() and not allow_new_levels:
                new = pd.unique(np.asarray(newdata[list(term.group_vars)].astype(str).agg(":".join, axis=1))[codes < 0])
                raise DataError(
                    f"new levels of grouping factor {term.group_name!r}: {', '.join(map(str, new[:5]))}"
                    f"{' ...' if len(new) > 5 else ''}; pass allow_new_levels=True to predict them with "
                    "zero random effects"
                )
            codes_list.append(codes)
            z_list.append(z)
        return x_new @ self._beta + self._random_part(codes_list, z_list, terms_used)

    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False) -> pd.DataFrame:
        """Responses simulated from the fitted model with new random effects (lme4's default), or
        with the fitted conditional modes held fixed (``use_u=True``, lme4's ``use.u``)."""
        nsim = whole_number("nsim", nsim, 1)
        use_u = flag("use_u", use_u)
        rng = np.random.default_rng(seed)
        terms = self.design.terms
        fixed = self.design.fixed.matrix @ self._beta
        w = self.design.weights
        noise_scale = self._sigma / (np.sqrt(w) if w is not None else 1.0)
        out = np.empty((self.nobs, nsim))
        for s in range(nsim):
            y = fixed.copy()
            for k, (term, lam) in enumerate(zip(terms, self._lambdas())):
                b = self._b[k] if use_u else rng.standard_normal((term.n_levels, term.dim)) @ lam.T * self._sigma
                y += np.einsum("np,np->n", term.z, b[term.codes])
            out[:, s] = y + noise_scale * rng.standard_normal(self.nobs)
        return pd.DataFrame(out, columns=[f"sim_{i + 1}" for i in range(nsim)])

    # ---- inference ---------------------------------------------------------------------------
    def confint(self, method: str = "profile", level: float = 0.95, *, nsim: int = 500, seed=None,
                parm=None) -> pd.DataFrame:
        """Confidence intervals: ``"wald"`` (fixed effects), ``"profile"`` (likelihood) or ``"boot"``.

        Rows are lme4's: ``.sig01, .sig02, ...`` (standard deviations and correlations of the
        random effects, in :meth:`varcorr` order), ``.sigma``, then the fixed effects.
        """
        method, level = self._check_confint(method, level, nsim, parm)
        return self.services.confint(self, method, level, nsim=nsim, seed=seed, parm=parm)

    def bootstrap(self, nsim: int, seed=None, type: str = "parametric", use_u: bool = False, statistic=None,
                  client=None, progress: bool | None = None, scheduler: str | None = None):
        """Parametric bootstrap, as lme4's ``bootMer``: simulate, refit the same design, collect a statistic.

        Replicate ``i`` is seeded by ``numpy.random.SeedSequence(seed).spawn(nsim)[i]``: the numbers
        are the same whatever runs them. The map runs on Dask's local scheduler (``scheduler=``:
        ``"threads"`` by default, ``"synchronous"``, ``"processes"``) or on a cluster
        (``client=``: a ``dask.distributed.Client`` or its address).

        Parameters
        ----------
        statistic : callable, optional
            A function of a refitted model returning numbers (a Series keeps its names). By default
            lme4's for ``confint(method="boot")``: ``.sig01, ...``, ``.sigma``, the fixed effects.
        use_u : bool
            Keep the fitted random effects (simulate only the residual noise), lme4's ``use.u``.

        Returns
        -------
        multilevel.results.bootstrap.BootResult
            ``t0``, ``t`` (one row per replicate), ``confint(level, type="perc"|"basic"|"norm")``,
            ``failed`` and ``nonconverged`` counts.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> boot = fit.bootstrap(20, seed=1)
        >>> boot.t.shape, boot.failed
        ((20, 6), 0)
        """
        return self.services.bootstrap(self, nsim, seed=seed, type=type, use_u=use_u, statistic=statistic,
                                       client=client, scheduler=scheduler, progress=progress)

    def _check_confint(self, method, level, nsim, parm) -> tuple[str, float]:
        method = choice("method", method, ["wald", "profile", "boot"])
        level = open_probability("level", level)
        whole_number("nsim", nsim, 1)
        if parm is not None:
            known = list(self.confint_names())
            unknown = [p for p in ([parm] if isinstance(parm, str) else parm) if p not in known]
            if unknown:
                raise ArgumentError(f"parm names no parameter of this model: {unknown}; the parameters are {known}")
        return method, level

    def confint_names(self) -> list[str]:
        """Row names of :meth:`confint`: .sig01, ... (and .sigma), then the fixed effects."""
        return self.services.variance_parameter_names(self) + list(self.design.fixed.column_names)

    def icc(self) -> pd.Series:
        """Intraclass correlation per grouping factor: intercept variance over total variance.

        Total variance is the sum of all random-intercept variances plus the residual variance;
        terms without an intercept (pure slopes) do not enter.
        """
        vc = self.varcorr()
        intercepts = vc[(vc.var1 == "(Intercept)") & vc.var2.isna()]
        total = intercepts.vcov.sum() + self._sigma**2
        return pd.Series(intercepts.vcov.to_numpy() / total, index=intercepts.grp.to_numpy(), name="ICC")

    def refit_ml(self) -> "LmerFit":
        """The same model fitted by maximum likelihood (what :func:`anova` compares)."""
        if not self.reml:
            return self
        return self.services.refit(self.design, reml=False, start=self._theta, data_name=self.data_name)

    # ---- the fit protocol (what plots, precis and comparisons read) ------------------------------
    def fitted_mean(self) -> np.ndarray:
        return np.asarray(self.fitted(), dtype=float)

    def replicated_data(self, ndraws: int = 50, seed=None) -> np.ndarray:
        """(ndraws, observations) responses simulated with new random effects (lme4's simulate)."""
        return self.simulate(ndraws, seed=seed).to_numpy().T

    def inverse_link(self, eta):
        family = getattr(self, "family", None)  # GlmerFit sets it; a linear mixed model's link is the identity
        return np.asarray(eta) if family is None else family.link.inverse(np.asarray(eta))

    def group_effect_table(self, group=None, term=None) -> pd.DataFrame:
        """Conditional mode and 95% interval (+-1.96 conditional sd) of one random effect per level."""
        term = "(Intercept)" if term is None else term
        _, _, name = self.grouping(group)
        frame = self.ranef(condvar=True)[name]
        if term not in frame.columns:
            raise ArgumentError(f"no group-level term {term!r} for {name!r}; terms: {', '.join(frame.columns)}")
        sd = frame.attrs["condsd"][:, list(frame.columns).index(term)]
        est = frame[term].to_numpy()
        return pd.DataFrame({"estimate": est, "lower": est - 1.96 * sd, "upper": est + 1.96 * sd}, index=frame.index)

    def fixed_effect_table(self) -> pd.DataFrame:
        """Estimate and 95% Wald interval of each fixed effect."""
        ci = self.confint("wald")
        beta = self.fixef()
        return pd.DataFrame({"estimate": beta, "lower": ci.loc[beta.index].iloc[:, 0],
                             "upper": ci.loc[beta.index].iloc[:, 1]})

    def varying_effects(self, group=None, slope=None):
        """Intercepts and slopes per level, with the population's mean and covariance (varcorr)."""
        from .varying import formula_varying_effects, two_by_two

        def covariance(name, slope):
            vc = pd.DataFrame(self.varcorr())
            rows = vc[vc.grp == name]
            sd = {r.var1: r.sdcor for r in rows[rows.var2.isna()].itertuples()}
            if "(Intercept)" not in sd or slope not in sd:
                raise ArgumentError(f"{name!r} needs a varying intercept and a varying slope of {slope!r}")
            corr = rows[rows.var2.notna() & rows.var1.isin(["(Intercept)", slope]) & rows.var2.isin(["(Intercept)", slope])]
            return two_by_two(sd["(Intercept)"], sd[slope], corr.sdcor.iloc[0] if len(corr) else 0.0)

        return formula_varying_effects(self, group, slope, covariance)

    # ---- display -----------------------------------------------------------------------------
    def summary(self) -> "summary_text.LmerSummary":
        return summary_text.LmerSummary(self)

    def __str__(self) -> str:
        return summary_text.short_text(self)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        return summary_text.LmerSummary(self)._repr_html_()


def _block_diag_stack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n, p, _ = a.shape
    q = b.shape[1]
    out = np.zeros((n, p + q, p + q))
    out[:, :p, :p] = a
    out[:, p:, p:] = b
    return out

