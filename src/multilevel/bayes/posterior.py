"""The result of ``ml.brm``: draws with brms's names and the brms post-processing toolkit."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..results.protocol import FormulaFit
from .sampler import SamplerRun

SUMMARY_COLUMNS = ["Estimate", "Est.Error", "l-95% CI", "u-95% CI", "Rhat", "Bulk_ESS", "Tail_ESS"]
# Stan's sampler columns (fit.sampler_stats()) -> ArviZ's sample_stats names
_ARVIZ_SAMPLE_STATS = {"lp__": "lp", "accept_stat__": "acceptance_rate", "stepsize__": "step_size",
                       "treedepth__": "tree_depth", "n_leapfrog__": "n_steps", "divergent__": "diverging",
                       "energy__": "energy"}


def summarize_draws(values: np.ndarray) -> list[float]:
    """(chains, draws) -> mean, sd, 2.5% and 97.5% quantiles, R-hat, bulk and tail ESS.

    R-hat and the ESSs are the rank-normalized ones of Vehtari et al. (2021), from arviz-stats (as
    brms/posterior); tail ESS is the smaller of the 5% and 95% quantile ESSs.
    """
    import arviz_stats

    values = np.asarray(values, dtype=np.float64)  # float32 draws (brm's draws_dtype): float64 sums
    flat = values.reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):  # constant draws: nan, as posterior gives NA
        rhat = float(arviz_stats.rhat(values)) if values.shape[0] > 1 else np.nan
        bulk = float(arviz_stats.ess(values, method="bulk"))
        tail = float(arviz_stats.ess(values, method="tail", prob=0.05))
    return [float(flat.mean()), float(flat.std(ddof=1)), float(np.quantile(flat, 0.025)),
            float(np.quantile(flat, 0.975)), rhat, bulk, tail]


class BrmFit(FormulaFit):
    """A Bayesian multilevel model sampled with NUTS: brms's interface on NumPyro draws."""

    engine = "brm"
    bayesian = True
    prior_draws = None  # draws from the priors (a DataFrame) when fitted with sample_prior="yes"

    def __init__(self, design, likelihood, layout, run: SamplerRun, priors_used, *, data_name="data",
                 sample_prior="no"):
        self.design = design
        self.likelihood = likelihood
        self.layout = layout
        self.run = run
        self.priors_used = priors_used
        self.data_name = data_name
        self.sample_prior = sample_prior
        self._draws = self._brms_draws()
        self._summary_cache = None
        self.messages: list[str] = []

    # ---- draws -------------------------------------------------------------------------------
    def _brms_draws(self) -> dict:
        """Sampled sites -> brms-named arrays of shape (chains, draws[, ...])."""
        s, lay = self.run.samples, self.layout
        out = {}
        extra_intercepts, extra_coefs = lay.predictors.draws(s) if lay.predictors is not None else ({}, {})
        if lay.intercept:
            intercept = s["Intercept"]
            if lay.b_names:
                intercept = intercept - np.tensordot(s["b"], lay.x_means, axes=([-1], [0]))
            out["b_Intercept"] = intercept
        out.update(extra_intercepts)  # bf(): b_sigma_Intercept after b_Intercept, as brms
        if lay.thresholds:  # brms's b_Intercept[k]: the thresholds for uncentered predictors
            from .ordinal import threshold_draws

            thresholds = threshold_draws(s, lay)
            for k in range(lay.thresholds):
                out[f"b_Intercept[{k + 1}]"] = thresholds[..., k]
        for i, name in enumerate(lay.b_names):
            out[f"b_{name}"] = s["b"][..., i]
        out.update(extra_coefs)  # bf(): b_sigma_gb, b_a_id.f6
        for g in lay.groups:
            sd = s[f"sd_{g.index}"]
            for i, c in enumerate(g.columns):
                out[f"sd_{g.group}__{c}"] = sd[..., i]
            if g.correlated:
                chol = s[f"L_{g.index}"]
                corr = chol @ np.swapaxes(chol, -1, -2)
                for i in range(len(g.columns)):
                    for j in range(i + 1, len(g.columns)):
                        out[f"cor_{g.group}__{g.columns[i]}__{g.columns[j]}"] = corr[..., i, j]
        if lay.predictors is not None:  # bf(): sd_id__a_Intercept, cor_id__a_Intercept__a_x
            out.update(lay.predictors.group_draws(s))
        for param in lay.family_params:
            out[param] = s[param]
        return out

    def draws_by_chain(self) -> dict:
        """brms-named parameters as (chains, draws) arrays (what the plots read)."""
        return dict(self._draws)

    def sampler_stats(self) -> dict:
        """Stan's per-iteration sampler columns (lp__, accept_stat__, stepsize__, treedepth__,
        n_leapfrog__, divergent__, energy__), each (chains, draws): brms's ``nuts_params``."""
        return dict(self.run.stats)

    def group_effects(self) -> list[np.ndarray]:
        """r for every term: (chains, draws, levels, p)."""
        return [self.run.samples[f"r_{g.index}"] for g in self.layout.groups]

    def draws(self, include_group_effects: bool = True) -> pd.DataFrame:
        """One row per draw, brms's column names, plus ``.chain``, ``.iteration``, ``.draw``."""
        chains, n = next(iter(self._draws.values())).shape[:2]
        columns = {k: v.reshape(-1) for k, v in self._draws.items()}
        if include_group_effects:
            for g, r in zip(self.layout.groups, self.group_effects()):
                term = self.design.terms[g.index]
                for level_index, level in enumerate(term.levels):
                    for i, c in enumerate(g.columns):
                        columns[f"r_{g.group}[{level},{c}]"] = r[:, :, level_index, i].reshape(-1)
            if self.layout.predictors is not None:  # bf(): brms's r_id__a[1,Intercept]
                for group, names, levels, r in self.layout.predictors.level_effects(self.run.samples):
                    for level_index, level in enumerate(levels):
                        for i, c in enumerate(names):
                            nlpar, coef = c.split("_", 1)
                            columns[f"r_{group}__{nlpar}[{level},{coef}]"] = r[:, level_index, i]
        frame = pd.DataFrame(columns)
        frame[".chain"] = np.repeat(np.arange(1, chains + 1), n)
        frame[".iteration"] = np.tile(np.arange(1, n + 1), chains)
        frame[".draw"] = np.arange(1, chains * n + 1)
        return frame

    def posterior_variables(self) -> dict:
        """brms-named variables (``b_Intercept`` ... ``r_Subject`` with dims Subject x term), brms's order."""
        from .variables import brm_posterior_variables

        return brm_posterior_variables(self)

    # ---- summaries ---------------------------------------------------------------------------
    def _table(self, names: list[str], labels: list[str] | None = None) -> pd.DataFrame:
        rows = [summarize_draws(self._draws[n]) for n in names]
        return pd.DataFrame(rows, index=labels or names, columns=SUMMARY_COLUMNS)

    def parameter_summary(self) -> pd.DataFrame:
        """Every named parameter (no group-level effects), brms's columns."""
        if self._summary_cache is None:
            self._summary_cache = self._table(list(self._draws))
        return self._summary_cache

    def fixed_names(self) -> list[str]:
        """brms's population-level parameters in its order: ``b_Intercept`` (ordinal models:
        ``b_Intercept[1]``..``b_Intercept[K-1]``, the thresholds), then ``b_<coef>``."""
        lay = self.layout
        intercepts = ["b_Intercept"] if lay.intercept else [f"b_Intercept[{k}]" for k in range(1, lay.thresholds + 1)]
        if lay.predictors is None:
            return intercepts + [f"b_{n}" for n in lay.b_names]
        extra_intercepts, extra_coefs = lay.predictors.draws(self.run.samples)  # bf(): sigma_Intercept, a_id.f6
        return intercepts + list(extra_intercepts) + [f"b_{n}" for n in lay.b_names] + list(extra_coefs)

    def fixef(self) -> pd.DataFrame:
        names = self.fixed_names()
        return self._table(names, [n[2:] for n in names]).iloc[:, :4]

    def varcorr(self) -> pd.DataFrame:
        """sd and cor of every group, and the family's sigma, as posterior summaries."""
        names = [n for n in self._draws if n.startswith(("sd_", "cor_"))] + \
                [p for p in self.layout.family_params if p == "sigma"]
        return self._table(names).iloc[:, :4]

    def ranef(self) -> dict[str, pd.DataFrame]:
        """Group-level effects per level: posterior mean, sd and 95% interval (brms's 3-d array as long frames)."""
        out: dict[str, list] = {}
        for g, r in zip(self.layout.groups, self.group_effects()):
            term = self.design.terms[g.index]
            flat = r.reshape(-1, *r.shape[2:])
            for i, c in enumerate(g.columns):
                out.setdefault(g.group, []).append(_level_table(flat[:, :, i], c, term.levels, g.group))
        if self.layout.predictors is not None:  # bf(): columns a_Intercept, sigma_Intercept as brms's ranef
            for group, names, levels, r in self.layout.predictors.level_effects(self.run.samples):
                for i, c in enumerate(names):
                    out.setdefault(group, []).append(_level_table(r[:, :, i], c, levels, group))
        return {k: pd.concat(v, axis=1) for k, v in out.items()}

    def coef(self) -> dict[str, pd.DataFrame]:
        """Population plus group-level effects per level, summarized as :meth:`ranef`. Ordinal
        models: a varying intercept gives each level's thresholds ``Intercept[k]``, ``b_Intercept[k] - r``
        (the group effect adds to mu, which the thresholds are compared with)."""
        fixed = {n: self._draws[f"b_{n}"].reshape(-1) for n in (["Intercept"] if self.layout.intercept else [])
                 + list(self.layout.b_names)}
        thresholds = self.layout.thresholds
        out: dict[str, list] = {}
        for g, r in zip(self.layout.groups, self.group_effects()):
            term = self.design.terms[g.index]
            flat = r.reshape(-1, *r.shape[2:])
            for i, c in enumerate(g.columns):
                if c == "Intercept" and thresholds:
                    # ordinal: the level's thresholds, b_Intercept[k] - r (r adds to mu, and
                    # P(y <= k) = F(threshold_k - mu)); one column block per threshold
                    for k in range(1, thresholds + 1):
                        values = self._draws[f"b_Intercept[{k}]"].reshape(-1)[:, None] - flat[:, :, i]
                        out.setdefault(g.group, []).append(_level_table(values, f"Intercept[{k}]", term.levels,
                                                                        g.group))
                    continue
                values = flat[:, :, i] + (fixed[c][:, None] if c in fixed else 0.0)
                out.setdefault(g.group, []).append(_level_table(values, c, term.levels, g.group))
        return {k: pd.concat(v, axis=1) for k, v in out.items()}

    def math(self, style: str = "rethinking", numbers: bool = False):
        """The model as equations (LaTeX), its priors included (brms's defaults too): ``style="rethinking"``
        (line by line), ``"levels"`` or ``"matrix"``; ``numbers=True`` fills in posterior means
        (:mod:`multilevel.equations`)."""
        from ..equations import formula_equations

        return formula_equations(self, style=style, numbers=numbers)

    def diagram(self, format: str | None = None, ax=None):
        """The plate diagram of the model: a matplotlib Figure, or SVG text with ``format="svg"``."""
        from ..equations.graphs import formula_graph
        from ..plots.diagram import show

        return show(formula_graph(self), format=format, ax=ax)

    def prior_summary(self) -> pd.DataFrame:
        """The priors, as brms's ``prior_summary()``: its rows (class-wide, group-wide, per coefficient),
        columns prior, class, coef, group, resp, dpar, nlpar, lb, ub, source, and printed layout."""
        from .prior_table import COLUMNS, PriorSummary, prior_rows

        return PriorSummary(prior_rows(self.layout, self.priors_used), columns=COLUMNS)

    def model_code(self) -> str:
        """The log density the sampler runs, written out to be read (brms's ``stancode``): see
        :mod:`multilevel.bayes.model_code`."""
        from .model_code import model_code

        return model_code(self)

    def update(self, formula: str | None = None, newdata=None, **changes) -> "BrmFit":
        """brms's ``update()``: this fit's call refitted with a new formula (``"~ . + x"``), new data or
        other options; see :mod:`multilevel.bayes.update`."""
        from .update import update

        return update(self, formula, newdata, **changes)

    def hypothesis(self, hypothesis, class_: str = "b", group: str = "", alpha: float = 0.05, robust: bool = False,
                   seed=None):
        """brms's ``hypothesis(fit, "Days > 0")``: see :func:`multilevel.bayes.hypothesis.hypothesis`."""
        from .hypothesis import hypothesis as _hypothesis

        return _hypothesis(self, hypothesis, class_=class_, group=group, alpha=alpha, robust=robust, seed=seed)

    def summary(self):
        from .summary_text import BrmSummary

        return BrmSummary(self)

    def __str__(self) -> str:
        return str(self.summary())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    # ---- the fit protocol (what plots, precis and comparisons read) ------------------------------
    def inverse_link(self, eta):
        return np.asarray(self.likelihood.inverse_link(np.asarray(eta)))

    def fixed_effect_draws(self) -> pd.DataFrame:
        """Draws x fixed effects, columns with lme4's names ("(Intercept)", "Days"). Ordinal models
        have thresholds (``b_Intercept[k]`` in :meth:`draws`) instead of an intercept: their frame has
        the coefficients only, which act on the linear predictor ``X b`` without an intercept column."""
        names = [n for n in self.design.fixed.column_names if not (self.layout.thresholds and n == "(Intercept)")]
        return pd.DataFrame({n: self._draws["b_Intercept" if n == "(Intercept)" else f"b_{n}"].reshape(-1)
                             for n in names})

    def _design_coefficient_draws(self) -> np.ndarray:
        """(draws, columns of the design's fixed matrix): :meth:`fixed_effect_draws` with a zero
        intercept column for ordinal models (their thresholds are applied by the likelihood)."""
        frame = self.fixed_effect_draws()
        if not len(self.design.fixed.column_names):  # bf(nl = TRUE): mu comes from the expression alone
            first = next(iter(self.run.samples.values()))
            return np.zeros((first.shape[0] * first.shape[1], 0))
        return np.column_stack([frame[n].to_numpy() if n in frame else np.zeros(len(frame))
                                for n in self.design.fixed.column_names])

    def family_draws(self) -> dict:
        """The likelihood's parameters besides the linear predictor, one row per draw (chains x
        draws flattened): the family parameters (sigma, shape...) and, for ordinal models,
        ``thresholds`` (draws, K - 1), brms's ``b_Intercept`` (for uncentered predictors)."""
        out = {p: self.run.samples[p].reshape(-1) for p in self.layout.family_params}
        if self.layout.thresholds:
            from .ordinal import threshold_draws

            out["thresholds"] = threshold_draws(self.run.samples, self.layout).reshape(-1, self.layout.thresholds)
        return out

    def response_categories(self):
        """A categorical model's category labels, the reference first (None for other families)."""
        return list(self.likelihood.categories) if self.likelihood.categorical else None

    def prior_samples(self, ndraws: int = 2000, seed=None) -> dict:
        """Draws from the priors, brms-named (needs ``sample_prior="yes"`` when fitting)."""
        frame = self.prior_draws
        if frame is None:
            raise self._missing("prior_samples", "fit with sample_prior='yes' to keep draws from the priors")
        return {c: frame[c].to_numpy() for c in frame.columns}

    def replicated_data(self, ndraws: int = 50, seed=None) -> np.ndarray:
        """(ndraws, observations) posterior predictive data sets, on the scale of :meth:`observed`."""
        replicated = self.posterior_predict(ndraws=ndraws, seed=seed)
        if self.likelihood.categorical:  # labels -> the codes 1..K that observed() holds
            codes = {label: k + 1.0 for k, label in enumerate(self.likelihood.categories)}
            return np.vectorize(codes.__getitem__, otypes=[float])(replicated)
        if self.likelihood.name == "binomial" and self.design.weights is not None:
            replicated = replicated / self.design.weights
        return replicated

    def fitted_mean(self) -> np.ndarray:
        """Posterior mean of the expected response per observation, on the scale of :meth:`observed`
        (ordinal models: the expected category, sum_k k P(y = k); categorical models the same on
        the codes 1..K, which observed() holds)."""
        epred = self.posterior_epred().mean(axis=0)
        if self.layout.thresholds or self.likelihood.categorical:
            return epred @ np.arange(1, epred.shape[-1] + 1)
        if self.likelihood.name == "binomial" and self.design.weights is not None:
            epred = epred / self.design.weights
        return epred

    def group_effect_table(self, group=None, term=None) -> pd.DataFrame:
        """Posterior mean and 95% interval of one group-level effect per level (brms's ranef)."""
        from ..errors import ArgumentError

        _, _, name = self.grouping(group)
        table = self.ranef()[name]
        key = "Intercept" if term in (None, "(Intercept)") else term
        if key not in table.columns.get_level_values(0):
            raise ArgumentError(f"no group-level term {term!r} for {name!r}; terms: "
                                f"{', '.join(dict.fromkeys(table.columns.get_level_values(0)))}")
        part = table[key]
        return pd.DataFrame({"estimate": part["Estimate"], "lower": part["Q2.5"], "upper": part["Q97.5"]})

    def fixed_effect_table(self) -> pd.DataFrame:
        table = self.fixef()
        return pd.DataFrame({"estimate": table["Estimate"], "lower": table["l-95% CI"],
                             "upper": table["u-95% CI"]})

    def varying_effects(self, group=None, slope=None):
        """Intercepts and slopes per level (posterior means), with the population's mean and covariance."""
        from ..results.varying import formula_varying_effects, two_by_two

        def covariance(name, slope):
            table = self.varcorr()["Estimate"]
            return two_by_two(table[f"sd_{name}__Intercept"], table[f"sd_{name}__{slope}"],
                              table.get(f"cor_{name}__Intercept__{slope}", 0.0))

        return formula_varying_effects(self, group, slope, covariance)

    # ---- prediction and model checking -----------------------------------------------------------
    def posterior_linpred(self, newdata=None, re_formula=None, allow_new_levels=False,
                          sample_new_levels="uncertainty", ndraws=None, seed=None) -> np.ndarray:
        from .predict import category_linear_predictors, linear_predictor

        # categorical: (draws, rows, K - 1), one predictor mu<k> per non-reference category, as brms
        predictor = category_linear_predictors if self.likelihood.categorical else linear_predictor
        return predictor(self, newdata, re_formula, allow_new_levels, sample_new_levels, ndraws, seed)

    def posterior_epred(self, newdata=None, re_formula=None, allow_new_levels=False,
                        sample_new_levels="uncertainty", ndraws=None, seed=None) -> np.ndarray:
        from .predict import expected_value

        return expected_value(self, newdata, re_formula, allow_new_levels, sample_new_levels, ndraws, seed)

    def posterior_predict(self, newdata=None, re_formula=None, allow_new_levels=False,
                          sample_new_levels="uncertainty", ndraws=None, seed=None) -> np.ndarray:
        from .predict import predictive_draws

        return predictive_draws(self, newdata, re_formula, allow_new_levels, sample_new_levels, ndraws, seed)

    def linpred_draws(self, newdata=None, *, ndraws=None, seed=None, re_formula=None, allow_new_levels=False,
                      sample_new_levels="uncertainty") -> np.ndarray:
        """(draws, rows) linear predictor: the protocol's name for :meth:`posterior_linpred`."""
        from ..draws.tidy import in_draw_order  # the protocol's order: chosen draws as they were sampled

        values = self.posterior_linpred(newdata, re_formula, allow_new_levels, sample_new_levels, ndraws, seed)
        return in_draw_order(self, values, ndraws, seed)

    def epred_draws(self, newdata=None, *, ndraws=None, seed=None, re_formula=None, allow_new_levels=False,
                    sample_new_levels="uncertainty") -> np.ndarray:
        """(draws, rows) expected response: the protocol's name for :meth:`posterior_epred`."""
        from ..draws.tidy import in_draw_order  # the protocol's order: chosen draws as they were sampled

        values = self.posterior_epred(newdata, re_formula, allow_new_levels, sample_new_levels, ndraws, seed)
        return in_draw_order(self, values, ndraws, seed)

    def predicted_draws(self, newdata=None, *, ndraws=None, seed=None, re_formula=None, allow_new_levels=False,
                        sample_new_levels="uncertainty") -> np.ndarray:
        """(draws, rows) posterior predictive draws: the protocol's name for :meth:`posterior_predict`."""
        from ..draws.tidy import in_draw_order  # the protocol's order: chosen draws as they were sampled

        values = self.posterior_predict(newdata, re_formula, allow_new_levels, sample_new_levels, ndraws, seed)
        return in_draw_order(self, values, ndraws, seed)

    def log_likelihood(self) -> np.ndarray:
        """Pointwise log-likelihood, (chains, draws, observations): one column per original row.

        Computed in chunks of draws (:data:`LOG_LIK_CHUNK_ELEMENTS` numbers at a time), and once per
        distinct row where rows repeat: rows with the same linear-predictor inputs (the patterns the
        likelihood was summed over while sampling, :func:`.likelihood.find_patterns`) and the same
        response (and trials) have the same log-likelihood, so at 1e5 bernoulli rows over 120
        patterns it is evaluated for at most 240 columns and copied out to the rows; only the result
        itself, not (draws, rows, terms) temporaries, is held in memory. The distinct columns
        themselves: :meth:`log_likelihood_distinct`.
        """
        values, inverse = self.log_likelihood_distinct()
        if values.shape[-1] == len(inverse) and np.array_equal(inverse, np.arange(len(inverse))):
            return values
        return np.take(values, inverse, axis=-1)

    def log_likelihood_distinct(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct columns of :meth:`log_likelihood`: ``(values, inverse)`` with ``values``
        (chains, draws, K) and ``inverse`` (observations,) the column of every row, so
        ``log_likelihood() == values[..., inverse]``. K is the number of distinct (pattern, response,
        trials) rows where the rows compress into patterns (at most a few hundred for binary
        covariates), else the number of rows (``inverse`` is then ``arange(n)``). PSIS-LOO and WAIC
        (:mod:`.criteria`) run on these columns and copy the pointwise results out to the rows.
        """
        from .likelihood import distinct_rows, find_patterns

        first = next(iter(self.run.samples.values()))
        chains, n_draws, n = first.shape[0], first.shape[1], self.nobs
        data = {k: np.asarray(v) for k, v in self.likelihood.data(self.design).items()}
        patterns = find_patterns(self.design) if self.layout.predictors is None else None
        if patterns is not None:
            rows, inverse = distinct_rows([patterns.inverse, *data.values()])
        else:
            rows, inverse = np.arange(n), np.arange(n)
        inputs = self._row_inputs(rows)
        data = {k: v[rows] for k, v in data.items()}
        extra = self.family_draws()
        fixed = self._design_coefficient_draws()
        effects = [r.reshape(-1, *r.shape[2:]) for r in self.group_effects()]
        out = np.empty((chains * n_draws, len(rows)))
        predictor_inputs = self.layout.predictors.inputs() if self.layout.predictors is not None else None
        step = max(1, LOG_LIK_CHUNK_ELEMENTS // max(len(rows), 1))
        for start in range(0, chains * n_draws, step):
            part = slice(start, min(start + step, chains * n_draws))
            eta = _linear_predictor(inputs, fixed[part], [r[part] for r in effects])
            chunk = {k: v[part, None] for k, v in extra.items()}
            if self.layout.predictors is not None:  # bf(): mu from the expression, per-row sigma...
                eta, per_row = self.layout.predictors.apply(self._predictor_samples(part), eta, predictor_inputs, np)
                chunk.update(per_row)
            out[part] = np.asarray(self.likelihood.log_prob(eta, chunk, data))
        return out.reshape(chains, n_draws, len(rows)), inverse

    def _predictor_samples(self, pick) -> dict:
        """A bf() model's predictor blocks (``b_sigma``, ``Intercept_sigma``, ``b_a``) at draws ``pick``
        of the flattened chains."""
        names = {n for n, _, _ in self.layout.predictors.blocks()}
        return {k: v.reshape(-1, *v.shape[2:])[pick] for k, v in self.run.samples.items() if k in names}

    def _row_inputs(self, rows) -> tuple:
        """The fixed-effects matrix, (codes, z) of each term and the offset, at ``rows``."""
        d = self.design
        return (d.fixed.matrix[rows], [(t.codes[rows], t.z[rows]) for t in d.terms],
                d.offset[rows] if d.offset is not None else None)

    def to_arviz(self):
        """ArviZ 1.x data (an xarray ``DataTree``) with groups ``posterior`` (brms's names; ``r_<group>``
        with dims (chain, draw, <group>, <group>_term) and the levels and terms as coordinates),
        ``log_likelihood`` and ``observed_data`` (``y``, binomial trials in ``constant_data``) and
        ``sample_stats`` (Stan's sampler columns under ArviZ's names: lp, acceptance_rate, step_size,
        tree_depth, n_steps, diverging, energy)."""
        import arviz_base

        posterior, dims, coords = dict(self._draws), {}, {}
        for g, r in zip(self.layout.groups, self.group_effects()):
            levels, name, term_dim = list(self.design.terms[g.index].levels), f"r_{g.group}", f"{g.group}_term"
            if name in posterior and coords.get(g.group) == levels:  # (1 | g) + (0 + x | g): one r_g, as brms
                r, columns = np.concatenate([posterior[name], r], axis=-1), coords[term_dim] + list(g.columns)
            else:
                columns = list(g.columns)
            posterior[name], dims[name] = r, [g.group, term_dim]
            coords[g.group], coords[term_dim] = levels, columns
        stats = {_ARVIZ_SAMPLE_STATS[k]: np.asarray(v) for k, v in self.sampler_stats().items()
                 if k in _ARVIZ_SAMPLE_STATS}
        stats.setdefault("diverging", self.run.diverging)
        stats.setdefault("energy", self.run.energy)
        stats["diverging"] = np.asarray(stats["diverging"], dtype=bool)
        observed = {k: np.asarray(v) for k, v in self.likelihood.data(self.design).items()}
        groups = {"posterior": posterior, "log_likelihood": {"y": self.log_likelihood()},
                  "observed_data": {"y": observed.pop("y")}, "sample_stats": stats}
        if observed:
            groups["constant_data"] = observed
        dims.update({k: ["obs_id"] for k in ["y", *observed]})
        return arviz_base.from_dict(groups, dims=dims, coords=coords)

    def loo(self):
        """PSIS-LOO as R's loo (elpd_loo, p_loo, looic, Pareto k): :func:`multilevel.bayes.criteria.loo`."""
        from .criteria import loo

        return loo(self)

    def waic(self):
        """WAIC as R's loo::waic (elpd_waic, p_waic, waic): :func:`multilevel.bayes.criteria.waic`."""
        from .criteria import waic

        return waic(self)

    def bayes_r2(self) -> pd.DataFrame:
        """Bayesian R^2 (Gelman et al. 2019): var(fit) / (var(fit) + var(residual)) per draw."""
        if self.layout.thresholds or self.likelihood.categorical:
            from ..errors import ArgumentError

            raise ArgumentError("bayes_r2 is not defined for ordinal or categorical models (brms: 'bayes_R2' is not defined "
                                "for ordinal or categorical models): their expected value is a probability per category")
        epred = self.posterior_epred().reshape(-1, self.nobs)
        y = self.likelihood.data(self.design)["y"]
        resid = np.asarray(y)[None, :] - epred
        var_fit, var_res = epred.var(axis=1, ddof=1), resid.var(axis=1, ddof=1)
        r2 = var_fit / (var_fit + var_res)
        return pd.DataFrame({"Estimate": [r2.mean()], "Est.Error": [r2.std(ddof=1)],
                             "Q2.5": [np.quantile(r2, 0.025)], "Q97.5": [np.quantile(r2, 0.975)]}, index=["R2"])


LOG_LIK_CHUNK_ELEMENTS = 1 << 22  # pointwise log-likelihood: ~4M numbers (32 MB) per (draws, rows) temporary


def _linear_predictor(inputs, fixed: np.ndarray, effects: list[np.ndarray]) -> np.ndarray:
    """(draws, rows) eta from :meth:`BrmFit._row_inputs`, fixed-effect draws (draws, k) in the
    design's column order and group-level effects (draws, levels, p) per term."""
    x, codes_z, offset = inputs
    eta = fixed @ x.T
    if offset is not None:
        eta = eta + offset[None, :]
    for (codes, z), r in zip(codes_z, effects):
        eta = eta + np.einsum("dnp,np->dn", r[:, codes], z)
    return eta


def _level_table(values: np.ndarray, coef: str, levels, group: str) -> pd.DataFrame:
    """(draws, levels) -> Estimate, Est.Error, Q2.5, Q97.5 per level, columns under ``coef``."""
    values = np.asarray(values, dtype=np.float64)
    frame = pd.DataFrame({"Estimate": values.mean(0), "Est.Error": values.std(0, ddof=1),
                          "Q2.5": np.quantile(values, 0.025, axis=0), "Q97.5": np.quantile(values, 0.975, axis=0)},
                         index=pd.Index(levels, name=group))
    frame.columns = pd.MultiIndex.from_product([[coef], frame.columns])
    return frame


def loo_compare(*fits, names=None) -> pd.DataFrame:
    """Compare fits by PSIS-LOO as R's loo_compare: :func:`multilevel.bayes.criteria.loo_compare`."""
    from .criteria import loo_compare as _loo_compare

    return _loo_compare(*fits, names=names)
