"""``ulam``: model text -> statements -> graph -> JAX log density -> NUTS -> :class:`UlamFit`.

Results follow rethinking: ``precis``, ``extract_samples``, ``link``, ``sim``, ``waic``/``psis``
and ``compare``.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..bayes.sampler import diagnose, prepare_devices, run_nuts
from ..errors import ModelError
from ..options import NOT_GIVEN, SamplerSettings, flag, sampler_settings, whole_number
from .graph import build_graph
from .logdensity import UlamDensity, distribution, trace_log_density
from .parse import parse_model

prepare_devices()
import jax  # noqa: E402

jax.devices()


def ulam(model, data, *, chains: int = 4, iter=NOT_GIVEN, warmup=NOT_GIVEN, draws=NOT_GIVEN, thin: int = 1,
         seed: int | None = None, cores: int | None = None, control: dict | None = None, refresh: int | None = None,
         log_lik: bool = True, target_accept=NOT_GIVEN, max_tree_depth=NOT_GIVEN,
         progress: bool | None = None) -> "UlamFit":
    """Fit a model written in rethinking's notation with NUTS.

    Parameters
    ----------
    model : str or list of str
        One statement a line: ``y ~ dnorm(mu, sigma)``, ``mu <- a[g] + b * x``, ``a[g] ~ dnorm(0, 1)``.
    data : DataFrame or dict of arrays
        rethinking's ``data=list(...)``: columns may differ in length. Text or categorical columns
        used as an index (``a[country]``) are coded 1..K in sorted level order (a categorical's own
        order); ``fit.index_levels["country"]`` keeps the levels.
    chains, iter, warmup, thin, seed, cores : int
        As in rethinking and brms: ``iter`` counts warm-up (``warmup`` defaults to ``iter // 2``).
        Without ``iter``: ``draws`` post-warm-up iterations after ``warmup`` (1000 each by default;
        rethinking's own default is ``chains=1, iter=1000``).
    control : dict, optional
        ``{"adapt_delta": 0.95, "max_treedepth": 10}`` (rethinking's default adapt_delta is 0.95);
        the same settings as ``target_accept`` and ``max_tree_depth``.
    refresh : int, optional
        0 is silent, as in Stan; another value shows progress.
    log_lik : bool
        Keep the pointwise log-likelihood (for WAIC and PSIS).

    Examples
    --------
    >>> fit = ml.ulam('''
    ...     surv ~ dbinom(density, p)
    ...     logit(p) <- a[tank]
    ...     a[tank] ~ dnorm(a_bar, sigma)
    ...     a_bar ~ dnorm(0, 1.5)
    ...     sigma ~ dexp(1)
    ... ''', frogs, chains=4, iter=2000)  # doctest: +SKIP
    """
    settings = check_options(chains=chains, iter=iter, warmup=warmup, draws=draws, thin=thin, seed=seed, cores=cores,
                             control=control, refresh=refresh, log_lik=log_lik, target_accept=target_accept,
                             max_tree_depth=max_tree_depth, progress=progress)
    statements = parse_model(model)
    graph = build_graph(statements, data)
    density = UlamDensity(graph)
    trace_log_density(density)  # a line that cannot be evaluated is named before NUTS compiles
    prepare_devices(settings.chains, settings.cores)
    run = _sample(density, settings)
    fit = UlamFit(statements, graph, density, run, log_lik=log_lik)
    table = fit.precis(depth=3)
    fit.messages = diagnose(run, table["Rhat"].to_dict(), table["n_eff"].to_dict(), {})
    return fit


def check_options(*, log_lik=True, **sampler) -> SamplerSettings:
    """ulam's options, checked before the model is parsed or compiled (each error names the option)."""
    settings = sampler_settings(default_adapt_delta=0.95, max_chains=1024, **sampler)
    flag("log_lik", log_lik)
    return settings


def _sample(density: UlamDensity, settings: SamplerSettings):
    try:
        return run_nuts(density.model, settings)
    except RuntimeError as exc:
        if "valid initial parameters" not in str(exc):
            raise
        lines = "\n  ".join(s.line.strip() for s in density.graph.priors + density.graph.likelihoods)
        raise ModelError("NUTS found no starting point where the log density is finite: check that every scale "
                         "is positive and every probability between 0 and 1 for all values the priors allow, "
                         f"in these lines:\n  {lines}") from None


class UlamFit:
    """Posterior draws of an ulam model, by name, with rethinking's tools."""

    bayesian = True

    def __init__(self, statements, graph, density: UlamDensity, run, log_lik: bool = True):
        self.statements, self.graph, self.density, self.run = statements, graph, density, run
        self.messages: list[str] = []
        flat = run.samples["params"]
        chains, n = flat.shape[:2]
        saved = graph.saved

        def unpack_one(f):
            values, _, _ = density.unpack(f)
            if saved:
                env = density.environment(values)
                values = dict(values, **{name: env[name] for name in saved})
            return values

        values = jax.jit(jax.vmap(unpack_one))(flat.reshape(chains * n, -1))
        self.samples = {k: np.asarray(v).reshape(chains, n, *np.shape(v)[1:]) for k, v in values.items()}
        self._log_lik = self._pointwise_log_likelihood(flat.reshape(chains * n, -1)).reshape(chains, n, -1) \
            if log_lik and graph.likelihoods else None

    # ---- draws ---------------------------------------------------------------------------------
    def draws_by_chain(self) -> dict:
        """Every parameter as (chains, draws, ...) arrays (what the plots read)."""
        return dict(self.samples)

    def extract_samples(self) -> dict:
        """Every parameter (and saved definition) as an array shaped (draws, ...)."""
        return {k: v.reshape(-1, *v.shape[2:]) for k, v in self.samples.items()}

    def precis(self, depth: int = 1, prob: float = 0.89, pars=None) -> pd.DataFrame:
        """mean, sd, interval, n_eff and Rhat per parameter; vectors at depth 2, matrices at depth 3."""
        from ..bayes.posterior import summarize_draws

        lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
        rows, index = [], []
        for name, values in self.samples.items():
            if pars is not None and name not in pars:
                continue
            dims = values.ndim - 2
            if (dims == 1 and depth < 2) or (dims >= 2 and depth < 3):
                continue
            for position in np.ndindex(*values.shape[2:]):
                series = values[(slice(None), slice(None)) + position]
                label = name + (f"[{','.join(str(i + 1) for i in position)}]" if position else "")
                if np.std(series) < 1e-12:  # e.g. the unit diagonal of a correlation matrix
                    continue
                mean, sd, _, _, rhat, bulk, _ = summarize_draws(series)
                flat = series.reshape(-1)
                rows.append([mean, sd, np.quantile(flat, lo), np.quantile(flat, hi), bulk, rhat])
                index.append(label)
        columns = ["mean", "sd", f"{100 * lo:.1f}%", f"{100 * hi:.1f}%", "n_eff", "Rhat"]
        return Precis(rows, index=index, columns=columns)

    # ---- link, sim, information criteria -------------------------------------------------------
    def _data_env(self, newdata):
        if newdata is None:
            return None
        import jax.numpy as jnp

        from .graph import _as_data

        env = {k: v for k, v in self.density.data.items()}
        env.update({k: jnp.asarray(v) for k, v in _as_data(newdata).items()})
        return env

    def link(self, newdata=None) -> dict:
        """Draws (draws, ...) of every definition (``p``, ``mu``...) for the data or ``newdata``."""
        data = self._data_env(newdata)
        flat = self.run.samples["params"].reshape(-1, self.density.size)
        names = [s.target.names[0] for s in self.graph.definitions]

        def one(f):
            values, _, _ = self.density.unpack(f)
            env = self.density.environment(values, data)
            return {n: env[n] for n in names}

        return {k: np.asarray(v) for k, v in jax.jit(jax.vmap(one))(flat).items()}

    def sim(self, newdata=None, seed: int | None = None) -> dict:
        """Posterior predictive draws of each observed variable, (draws, observations)."""
        if seed is not None:
            whole_number("seed", seed, 0, 2**32 - 1)
        data = self._data_env(newdata)
        flat = self.run.samples["params"].reshape(-1, self.density.size)
        key = jax.random.PRNGKey(0 if seed is None else int(seed))
        out = {}
        for stmt in self.graph.likelihoods:
            def one(f, k, stmt=stmt):
                values, _, _ = self.density.unpack(f)
                env = self.density.environment(values, data)
                return distribution(stmt.expr, env, stmt.line).sample(k)

            keys = jax.random.split(key, flat.shape[0])
            out[stmt.target.names[0]] = np.asarray(jax.jit(jax.vmap(one))(flat, keys))
        return out

    def _pointwise_log_likelihood(self, flat) -> np.ndarray:
        def one(f):
            values, _, _ = self.density.unpack(f)
            env = self.density.environment(values)
            import jax.numpy as jnp

            return jnp.concatenate([jnp.ravel(t) for t in self.density.log_likelihood_terms(env)])

        return np.asarray(jax.jit(jax.vmap(one))(flat))

    def log_likelihood(self) -> np.ndarray:
        if self._log_lik is None:
            raise ValueError("the fit was made with log_lik=False")
        return self._log_lik

    def extract_prior(self, draws: int = 1000, seed: int | None = None) -> dict:
        """Draws from the priors alone (the same model without its likelihood)."""
        import copy

        settings = check_options(chains=1, draws=draws, warmup=draws, seed=seed, progress=False)
        graph = copy.copy(self.graph)
        graph.likelihoods = []
        density = UlamDensity(graph)
        run = _sample(density, settings)
        values = jax.vmap(lambda f: density.unpack(f)[0])(run.samples["params"].reshape(draws, -1))
        return {k: np.asarray(v) for k, v in values.items()}

    def __str__(self) -> str:
        return str(self.precis(depth=2))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        table = self.precis(depth=2)
        return (f"<p><b>ulam fit</b>: {self.run.settings['chains']} chains x {self.run.settings['draws']} draws</p>"
                + pd.DataFrame(table).round(3).to_html(classes="multilevel"))


class Precis(pd.DataFrame):
    """rethinking's precis table; prints with 2 decimals, n_eff as whole numbers."""

    @property
    def _constructor(self):
        return Precis

    def __str__(self) -> str:
        shown = self.copy()
        for col in shown.columns[:4]:
            shown[col] = shown[col].map(lambda v: f"{v:.2f}")
        shown["n_eff"] = shown["n_eff"].map(lambda v: f"{v:.0f}")
        shown["Rhat"] = shown["Rhat"].map(lambda v: f"{v:.2f}")
        return pd.DataFrame(shown).to_string()

    __repr__ = __str__


def precis(fit, depth: int = 1, prob: float = 0.89, pars=None) -> pd.DataFrame:
    """rethinking's ``precis``: mean, sd, interval, n_eff, Rhat of each parameter."""
    return fit.precis(depth=depth, prob=prob, pars=pars)


def waic(fit, pointwise: bool = False):
    """WAIC (ours): -2 (lppd - pWAIC) with its standard error; pointwise values on request."""
    ll = fit.log_likelihood().reshape(-1, fit.log_likelihood().shape[-1])
    lppd = np.log(np.mean(np.exp(ll - ll.max(axis=0)), axis=0)) + ll.max(axis=0)
    penalty = ll.var(axis=0, ddof=1)
    points = -2 * (lppd - penalty)
    result = pd.Series({"WAIC": points.sum(), "lppd": lppd.sum(), "penalty": penalty.sum(),
                        "std_err": np.sqrt(len(points) * points.var(ddof=1))})
    if pointwise:
        return result, points
    return result


def psis(fit, pointwise: bool = False):
    """PSIS-LOO via ArviZ, on rethinking's deviance scale."""
    from ..bayes.posterior import _arviz

    az = _arviz()
    ll = fit.log_likelihood()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = az.from_dict(posterior={"dummy": np.zeros(ll.shape[:2])}, log_likelihood={"y": ll})
        loo = az.loo(idata, pointwise=True)
    points = -2 * np.asarray(loo.loo_i)
    result = pd.Series({"PSIS": points.sum(), "lppd": float(loo.elpd_loo + loo.p_loo), "penalty": float(loo.p_loo),
                        "std_err": np.sqrt(len(points) * points.var(ddof=1))})
    if pointwise:
        return result, points, np.asarray(loo.pareto_k)
    return result


def compare(*fits, func: str = "WAIC", names=None, **named_fits) -> pd.DataFrame:
    """rethinking's compare: WAIC (or PSIS), SE, dWAIC, dSE, pWAIC, weight; best first.

    Name the rows with keywords, ``compare(partial=m1, none=m2)``, or ``names=[...]``.
    """
    if named_fits:
        names = list(names or [f"m{i + 1}" for i in range(len(fits))]) + list(named_fits)
        fits = fits + tuple(named_fits.values())
    func = func.upper()
    if func not in ("WAIC", "PSIS"):
        raise ValueError("func must be 'WAIC' or 'PSIS'")
    names = list(names) if names is not None else [f"m{i + 1}" for i in range(len(fits))]
    scores, points = [], []
    for fit in fits:
        result = waic(fit, pointwise=True) if func == "WAIC" else psis(fit, pointwise=True)
        scores.append(result[0])
        points.append(result[1])
    values = np.array([s[func] for s in scores])
    best = int(np.argmin(values))
    d_se = [np.sqrt(len(p) * np.var(p - points[best], ddof=1)) if i != best else np.nan for i, p in enumerate(points)]
    weights = np.exp(-0.5 * (values - values.min()))
    table = pd.DataFrame({func: values, "SE": [s["std_err"] for s in scores], f"d{func}": values - values.min(),
                          "dSE": d_se, f"p{func}": [s["penalty"] for s in scores],
                          "weight": weights / weights.sum()}, index=names)
    return table.sort_values(func)



def _traceplot(fit: UlamFit, pars=None, max_parameters: int = 8):
    """rethinking's traceplot: :func:`multilevel.plots.trace` of this fit."""
    from ..plots import trace

    return trace(fit, pars, max_parameters)


def _trankplot(fit: UlamFit, pars=None, max_parameters: int = 8):
    """rethinking's trankplot: :func:`multilevel.plots.rank` of this fit."""
    from ..plots import rank

    return rank(fit, pars, max_parameters)


UlamFit.traceplot = _traceplot
UlamFit.trankplot = _trankplot
