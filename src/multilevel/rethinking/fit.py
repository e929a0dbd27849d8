"""``ulam``: model text -> statements -> graph -> JAX log density -> NUTS -> :class:`UlamFit`.

Results follow rethinking (``precis``, ``extract_samples``, ``link``, ``sim``, ``waic``/``psis``,
``compare``) and the fit protocol (:mod:`multilevel.results.protocol`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..bayes.sampler import diagnose, preload_diagnostics, prepare_devices, run_nuts
from ..errors import ArgumentError, ModelError
from ..options import NOT_GIVEN, SamplerSettings, flag, sampler_settings
from ..results.protocol import Fit
from . import predict
from .graph import build_graph, indexed_by
from .logdensity import UlamDensity, trace_log_density
from .parse import names_in, parse_model

prepare_devices()
preload_diagnostics()  # arviz-stats loads while the first model compiles
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
        ``y ~ custom(expr)`` adds a log density written out for each row of ``y`` (rethinking's
        custom()), with Stan's density calls ``normal_lpdf(y | mu, sigma)``, ``poisson_lpmf(y |
        lambda)``... (Stan's parameterisation) and ``log_mix(theta, lp1, lp2)``, ``log_sum_exp(a, b)``,
        ``log1m``; ``y|y==0 ~ ...`` applies a line to the rows whose condition (data alone) holds.
        Such lines give pointwise log-likelihoods and ``link``, but ``sim`` cannot simulate them.
        See docs/ulam_examples.md, "Mixtures and custom()".
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


class UlamFit(Fit):
    """Posterior draws of an ulam model, by name, with rethinking's tools and the fit protocol.

    Indexed parameters (``a[tank]``) are labelled by their index column: ``posterior_variables()``
    names the dimension after it (``tank``) with its levels as labels (the mapped levels of a text
    or categorical column, else 1..K); a vector or matrix without a data index gets dimensions
    ``{name}_index`` or ``{name}_row``/``{name}_col`` labelled 1..K.
    """

    engine = "ulam"
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
        order = list(graph.parameters) + [name for name in saved if name not in graph.parameters]
        # in the model's order (JAX returns dicts sorted by key)
        self.samples = {k: np.asarray(values[k]).reshape(chains, n, *np.shape(values[k])[1:]) for k in order}
        self._log_lik = self._pointwise_log_likelihood(flat.reshape(chains * n, -1)).reshape(chains, n, -1) \
            if log_lik and graph.likelihoods else None
        self._indices = indexed_by(statements, graph, {k for k, v in self.samples.items() if v.ndim == 3})

    # ---- what was fitted -----------------------------------------------------------------------
    @property
    def model_text(self) -> str:
        return "\n".join(s.line.strip() for s in self.statements)

    @property
    def nobs(self) -> int:
        return self.graph.nobs

    @property
    def index_levels(self) -> dict:
        """Text or categorical index columns -> their levels (code k is ``levels[k - 1]``)."""
        return dict(self.graph.index_levels)

    @property
    def response_name(self) -> str:
        return predict.first_likelihood(self, "response_name").target.names[0]

    def summary(self):
        """The precis table (rethinking's ``precis``)."""
        return self.precis()

    # ---- draws ---------------------------------------------------------------------------------
    def draws_by_chain(self) -> dict:
        """Every parameter (and saved definition) as (chains, draws, ...) arrays."""
        return dict(self.samples)

    def sampler_stats(self) -> dict:
        """Stan's sampler columns (lp__, accept_stat__, stepsize__, treedepth__, n_leapfrog__,
        divergent__, energy__), each (chains, draws)."""
        return dict(self.run.stats)

    def posterior_variables(self) -> dict:
        """Every parameter and saved definition as a :class:`multilevel.draws.Variable`."""
        from ..draws import Variable

        out = {}
        for name, values in self.samples.items():
            shape = values.shape[2:]
            column = self._indices.get(name)
            if len(shape) == 1 and column is not None:
                labels = self._levels_of(column)
                dims, coords = ((column,), (labels,)) if len(labels) == shape[0] else \
                    ((column,), (pd.Index(np.arange(1, shape[0] + 1)),))
            elif len(shape) == 1:
                dims, coords = (f"{name}_index",), (pd.Index(np.arange(1, shape[0] + 1)),)
            elif len(shape) == 2:
                dims = (f"{name}_row", f"{name}_col")
                coords = tuple(pd.Index(np.arange(1, k + 1)) for k in shape)
            else:
                dims = tuple(f"{name}_dim{i + 1}" for i in range(len(shape)))
                coords = tuple(pd.Index(np.arange(1, k + 1)) for k in shape)
            out[name] = Variable(name, values, dims, coords)
        return out

    def to_arviz(self):
        """ArviZ 1.x data (an xarray ``DataTree``): ``posterior`` with the dims of
        :meth:`posterior_variables`, ``log_likelihood`` (if kept), ``observed_data`` and
        ``sample_stats`` (Stan's columns under ArviZ's names)."""
        import arviz_base

        from ..bayes.posterior import _ARVIZ_SAMPLE_STATS

        posterior, dims, coords = {}, {}, {}
        for name, variable in self.posterior_variables().items():
            posterior[name], dims[name] = variable.values, list(variable.dims)
            coords.update({dim: list(labels) for dim, labels in zip(variable.dims, variable.coords)})
        stats = {_ARVIZ_SAMPLE_STATS[k]: np.asarray(v) for k, v in self.sampler_stats().items()}
        stats["diverging"] = stats["diverging"].astype(bool)
        observed = {n: np.asarray(self.graph.data[n]) for s in self.graph.likelihoods for n in s.target.names}
        groups = {"posterior": posterior, "sample_stats": stats}
        if observed:
            groups["observed_data"] = observed
        if self._log_lik is not None:
            name = next(iter(observed)) if len(observed) == 1 else "log_lik"
            groups["log_likelihood"] = {name: self._log_lik}
            dims[name] = ["obs_id"]
        dims.update({n: ["obs_id"] for n, v in observed.items() if np.ndim(v) == 1 and len(observed) == 1})
        return arviz_base.from_dict(groups, dims=dims, coords=coords)

    def extract_samples(self, n: int | None = None) -> dict:
        """Every parameter (and saved definition) as an array shaped (draws, ...)."""
        from .helpers import extract_samples

        return extract_samples(self, n)

    def diagram(self, format: str | None = None, ax=None):
        """The plate diagram of the model (data shaded, definitions dashed, one plate per index column
        and one for the observations): a matplotlib Figure, or SVG text with ``format="svg"``."""
        from ..equations.graphs import ulam_graph
        from ..plots.diagram import show

        return show(ulam_graph(self), format=format, ax=ax)

    def math(self, style: str = "rethinking", numbers: bool = False):
        """The model as equations (LaTeX), one line per statement as *Statistical Rethinking* writes
        them; ``numbers=True`` puts posterior means in place of the scalar parameters
        (:mod:`multilevel.equations.ulam_model`)."""
        from ..equations.ulam_model import ulam_equations
        from ..errors import ArgumentError

        if style != "rethinking":
            raise ArgumentError(f"an ulam model is written line by line: style='rethinking', not {style!r}")
        return ulam_equations(self, numbers=numbers)

    def precis(self, depth: int = 1, pars=None, prob: float = 0.89, digits: int = 2, regex: bool = False):
        """mean, sd, interval, n_eff and Rhat per parameter: :func:`multilevel.rethinking.helpers.precis`."""
        from .helpers import precis

        return precis(self, depth=depth, pars=pars, prob=prob, digits=digits, regex=regex)

    def fixed_effect_table(self) -> pd.DataFrame:
        """Posterior mean and 95% interval of each single-number parameter."""
        names = [n for n, p in self.graph.parameters.items() if p.shape == ()]
        return _interval_table([self.samples[n].reshape(-1) for n in names], pd.Index(names))

    # ---- groups: index columns -----------------------------------------------------------------
    def _levels_of(self, column: str) -> pd.Index:
        if column in self.graph.index_levels:
            return self.graph.index_levels[column]
        sizes = [self.samples[n].shape[2] for n, c in self._indices.items() if c == column]
        size = max(sizes) if sizes else int(np.max(self.graph.data[column]))
        return pd.Index(np.arange(1, size + 1))

    def _group(self, group):
        groups = list(dict.fromkeys(self._indices.values()))
        if not groups:
            raise self._missing("grouping", "the model has no parameter indexed by a data column")
        if group is None:
            return groups[0]
        if group not in groups:
            raise ArgumentError(f"no index column {group!r} indexes a parameter; index columns: {', '.join(groups)}")
        return group

    def grouping(self, group=None):
        """(codes 0-based per row, levels, name) of an index column (the first one by default)."""
        name = self._group(group)
        return np.asarray(self.graph.data[name], dtype=np.int64) - 1, self._levels_of(name), name

    def group_effect_table(self, group=None, term=None) -> pd.DataFrame:
        """Posterior mean and 95% interval of a parameter indexed by ``group`` (``term``: which one,
        e.g. "a" or "b"; the first by default), one row per level."""
        name = self._group(group)
        terms = [n for n, c in self._indices.items() if c == name]
        if term in (None, "(Intercept)"):
            term = terms[0]
        if term not in terms:
            raise ArgumentError(f"no parameter {term!r} indexed by {name!r}; parameters: {', '.join(terms)}")
        values = self.samples[term]
        draws = values.reshape(-1, values.shape[2])
        levels = self._levels_of(name)
        index = levels if len(levels) == draws.shape[1] else pd.Index(np.arange(1, draws.shape[1] + 1))
        table = _interval_table(list(draws.T), index)
        table.attrs["term"] = term  # the parameter shown (plots label their axis with it)
        return table

    def varying_effects(self, group=None, slope=None):
        """Per-level intercepts and slopes and the population that pools them (the cafés picture):
        :func:`multilevel.rethinking.varying.varying_effects`."""
        from .varying import varying_effects

        return varying_effects(self, group, slope)

    # ---- data and predictions ------------------------------------------------------------------
    def _size(self, stmt, env=None, rows=None):
        env = self.density.data if env is None else env
        return predict.trials(self, stmt, env, self.nobs if rows is None else rows)

    def observed(self) -> np.ndarray:
        """The first likelihood's observed variable (binomial: the proportion of successes)."""
        stmt = predict.first_likelihood(self, "observed")
        y = np.asarray(self.graph.data[stmt.target.names[0]], dtype=float)
        size = self._size(stmt)
        return y if size is None else y / size

    def observation_weights(self):
        """Binomial trials when the first likelihood is binomial with a data column as its size, else None."""
        stmt = predict.first_likelihood(self, "observation_weights")
        if stmt.expr.func not in predict.BINOMIAL or not (names_in(stmt.expr.args[0]) & set(self.graph.data)):
            return None
        return self._size(stmt)

    def fitted_mean(self) -> np.ndarray:
        """Posterior mean of the first likelihood's mean per row, on the scale of :meth:`observed` (binomial: p)."""
        stmt = predict.first_likelihood(self, "fitted_mean")
        mean = self.epred_draws().mean(axis=0)
        size = self._size(stmt)
        return mean if size is None else mean / size

    def replicated_data(self, ndraws: int = 50, seed=None) -> np.ndarray:
        """(ndraws, rows) data sets simulated from the posterior, on the scale of :meth:`observed`."""
        stmt = predict.first_likelihood(self, "replicated_data")
        replicated = self.predicted_draws(ndraws=ndraws, seed=seed)
        size = self._size(stmt)
        return replicated if size is None else replicated / size

    def prior_samples(self, ndraws: int = 2000, seed=None) -> dict:
        return self.extract_prior(draws=ndraws, seed=seed)

    def _protocol_draws(self, newdata, ndraws, seed, options, question):
        for key, value in options.items():
            if (key, value) not in (("re_formula", None), ("allow_new_levels", False)):
                raise ArgumentError(f"{question}() of an ulam fit takes newdata, ndraws and seed, not {key}={value!r}")
        stmt = predict.first_likelihood(self, question)
        total = next(iter(self.samples.values())).shape[:2]
        positions = predict.random_positions(total[0] * total[1], ndraws, seed)
        values = predict.parameter_draws(self, positions=positions)
        env, rows = predict.data_environment(self, newdata, self.graph.definitions + [stmt])
        return stmt, values, env, rows

    def linpred_draws(self, newdata=None, *, ndraws=None, seed=None, **options) -> np.ndarray:
        """(draws, rows): the first likelihood's mean argument on its link scale (``logit(p) <- eta``: eta)."""
        stmt, values, env, rows = self._protocol_draws(newdata, ndraws, seed, options, "linpred_draws")
        return predict.by_rows(predict.evaluate_draws(self, values, env, predict.linear_predictor(self, stmt)), rows)

    def epred_draws(self, newdata=None, *, ndraws=None, seed=None, **options) -> np.ndarray:
        """(draws, rows): the first likelihood's mean on the response scale (binomial: the expected count n p)."""
        predict.expected_value(predict.first_likelihood(self, "epred_draws"))  # custom(): no mean
        stmt, values, env, rows = self._protocol_draws(newdata, ndraws, seed, options, "epred_draws")
        return predict.by_rows(predict.evaluate_draws(self, values, env, predict.expected_value(stmt)), rows)

    def predicted_draws(self, newdata=None, *, ndraws=None, seed=None, **options) -> np.ndarray:
        """(draws, rows): data simulated from the first likelihood (rethinking's ``sim``)."""
        predict.can_simulate(predict.first_likelihood(self, "predicted_draws"))
        stmt, values, env, rows = self._protocol_draws(newdata, ndraws, seed, options, "predicted_draws")
        return predict.simulate(self, values, env, rows, seed, [stmt])[stmt.target.names[0]]

    def link(self, newdata=None, n: int | None = None, post: dict | None = None, var=None):
        """rethinking's ``link``: draws (draws, rows) of every definition (``p``, ``mu``...) for the
        fit's data or ``newdata`` (text index columns coded as when fitting).

        Returns a dict name -> array; ``var="p"`` returns that array alone (a list: a dict of those).
        A definition that is one number a draw is repeated over the rows. ``n`` uses that many
        draws, evenly spaced over the chains; ``post`` evaluates at other draws (a dict as
        :meth:`extract_samples` returns).
        """
        names = [s.target.names[0] for s in self.graph.definitions]
        wanted = _wanted(var, names, "definitions")
        values = predict.parameter_draws(self, n, post)
        env, rows = predict.data_environment(self, newdata, self.graph.definitions)
        out = predict.definitions(self, values, env, rows, names)
        return out[var] if isinstance(var, str) else {k: out[k] for k in wanted}

    def sim(self, newdata=None, n: int | None = None, post: dict | None = None, var=None, seed: int | None = None):
        """rethinking's ``sim``: posterior predictive draws (draws, rows) of each observed variable.

        As :meth:`link`: a dict name -> array, or the array alone for ``var="y"``.
        """
        names = [name for s in self.graph.likelihoods for name in s.target.names]
        _wanted(var, names, "observed variables")
        for stmt in self.graph.likelihoods:  # before new data are read: custom() and conditional lines
            predict.can_simulate(stmt)
        values = predict.parameter_draws(self, n, post)
        env, rows = predict.data_environment(self, newdata, self.graph.definitions + self.graph.likelihoods)
        out = predict.simulate(self, values, env, rows, seed)
        if var is None:
            return out
        return out[var] if isinstance(var, str) else {k: out[k] for k in var}

    # ---- information criteria ------------------------------------------------------------------
    def _pointwise_log_likelihood(self, flat) -> np.ndarray:
        def one(f):
            values, _, _ = self.density.unpack(f)
            env = self.density.environment(values)
            import jax.numpy as jnp

            return jnp.concatenate([jnp.ravel(t) for t in self.density.log_likelihood_terms(env)])

        return np.asarray(jax.jit(jax.vmap(one))(flat))

    def log_likelihood(self) -> np.ndarray:
        """Pointwise log-likelihood (chains, draws, observations)."""
        if self._log_lik is None:
            raise self._missing("log_likelihood", "the fit was made with log_lik=False")
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

    def traceplot(self, pars=None, max_parameters: int = 8):
        """rethinking's traceplot: :func:`multilevel.plots.trace` of this fit."""
        from .helpers import traceplot

        return traceplot(self, pars, max_parameters)

    def trankplot(self, pars=None, max_parameters: int = 8):
        """rethinking's trankplot: :func:`multilevel.plots.rank` of this fit."""
        from .helpers import trankplot

        return trankplot(self, pars, max_parameters)

    def __str__(self) -> str:
        return str(self.precis(depth=2))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return (f"<p><b>ulam fit</b>: {self.run.settings['chains']} chains x {self.run.settings['draws']} draws</p>"
                + self.precis(depth=2)._repr_html_())


def _interval_table(draws: list, index: pd.Index) -> pd.DataFrame:
    """estimate (posterior mean), lower and upper (2.5% and 97.5% quantiles), one row per series."""
    rows = [[float(np.mean(d)), float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975))] for d in draws]
    return pd.DataFrame(rows, index=index, columns=["estimate", "lower", "upper"])


def _wanted(var, names: list[str], what: str) -> list[str]:
    if var is None:
        return names
    wanted = [var] if isinstance(var, str) else list(var) if isinstance(var, (list, tuple)) else None
    if wanted is None or not all(isinstance(v, str) for v in wanted):
        raise ArgumentError(f"var must be a name or a list of names, not {var!r}")
    unknown = [v for v in wanted if v not in names]
    if unknown:
        raise ArgumentError(f"no {what[:-1]} named {unknown[0]!r}; {what}: {', '.join(names) or 'none'}")
    return wanted


def precis(fit, depth: int = 1, pars=None, prob: float = 0.89, digits: int = 2, regex: bool = False):
    """rethinking's ``precis``: :func:`multilevel.rethinking.helpers.precis`."""
    from .helpers import precis as _precis

    return _precis(fit, depth=depth, pars=pars, prob=prob, digits=digits, regex=regex)


def waic(fit, pointwise: bool = False):
    """rethinking's WAIC of any fit with pointwise log-likelihoods: :func:`multilevel.bayes.criteria.rethinking_waic`."""
    from ..bayes.criteria import rethinking_waic

    return rethinking_waic(fit, pointwise=pointwise)


def psis(fit, pointwise: bool = False):
    """rethinking's PSIS (ArviZ's PSIS-LOO, deviance scale): :func:`multilevel.bayes.criteria.rethinking_psis`."""
    from ..bayes.criteria import rethinking_psis

    return rethinking_psis(fit, pointwise=pointwise)


def compare(*fits, func: str = "WAIC", names=None, **named_fits) -> pd.DataFrame:
    """rethinking's compare (WAIC or PSIS, best first): :func:`multilevel.bayes.criteria.rethinking_compare`."""
    from ..bayes.criteria import rethinking_compare

    return rethinking_compare(*fits, func=func, names=names, **named_fits)
