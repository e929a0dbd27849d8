"""Simulation-based calibration of a brm model (Talts et al. 2018), as a map over seeds.

Replicate ``i`` (seed ``SeedSequence(seed).spawn(nsim)[i]``, :func:`multilevel.parallel.map_seeds`)
draws every parameter from its prior, simulates a response for the data's own design (covariates,
grouping and trials kept, only the response replaced), fits ``brm`` to it with the same priors,
and records the rank of each true value among ``thin_to`` posterior draws (0..thin_to). If brm's
posterior is calibrated, the ranks are uniform (see :class:`multilevel.results.sbc.SBCResult`).

The priors are resolved once, from ``data`` as given (brms's defaults read the response), and
handed to every fit as explicit statements: a default prior would otherwise follow each simulated
response. Prior draws are exact, from each prior's own NumPyro distribution (brm's density is the
same distribution, truncated at zero for positive classes: the first positive value of an
independent stream of its draws), not from ``sample_prior="only"``, which runs NUTS on the prior
and would calibrate the sampler against itself; its single ``params`` site with one ``factor``
leaves NumPyro's ``Predictive`` nothing to draw from.
"""
from __future__ import annotations

import difflib
import threading
import time
import warnings

import numpy as np
import pandas as pd

from .. import options
from ..errors import ArgumentError, DataError, MultilevelError
from ..formula import parse_formula, tokenize
from ..parallel import map_seeds
from ..results.sbc import FAILED, OK, SBCResult
from .priors import Prior, PriorError, numpyro_distribution, parse_prior_text

# what a failed replicate fit may raise (counted in the result, never dropped silently)
FIT_ERRORS = (ArithmeticError, np.linalg.LinAlgError, MultilevelError, RuntimeError)
# NumPyro's effect handlers are one stack per process: two models traced at once by threads of one
# process see each other's sites ("all sites must have unique names"), so the replicates of one
# process take turns (which also lets each clear JAX's caches safely); processes
# (scheduler="processes", a dask.distributed cluster) fit in parallel
_FIT_LOCK = threading.Lock()
CLEAR_CACHES_EVERY = 25
_fits_since_clear = 0
# draws of a positive parameter's prior per round, and rounds, before its truncation is refused
_POSITIVE_BATCH, _POSITIVE_ROUNDS = 256, 40


def sbc(formula, data: pd.DataFrame, *, family="gaussian", link=None, priors=None, nsim: int = 100, variables=None,
        thin_to: int = 99, chains: int = 1, iter=options.NOT_GIVEN, warmup=options.NOT_GIVEN,
        draws=options.NOT_GIVEN, target_accept=options.NOT_GIVEN, max_tree_depth=options.NOT_GIVEN,
        control: dict | None = None, seed=None, client=None, scheduler: str | None = None,
        progress: bool | None = None) -> SBCResult:
    """Simulation-based calibration of ``brm(formula, data, family=..., priors=...)``.

    Parameters
    ----------
    formula, data, family, link, priors
        As for :func:`multilevel.brm`. Every prior must be proper (a flat ``b`` prior cannot be
        drawn from). The response must be a column of ``data`` (``y`` or ``y | trials(n)``).
        ``ml.bf(...)`` formulas too, with population-level terms in their extra formulas.
    nsim : int
        Simulated data sets, one brm fit each.
    variables : list of str, optional
        brms names (``b_Intercept``, ``sd_g__Intercept``, ``cor_g__Intercept__x``, ``sigma``,
        ``r_g[level,Intercept]``); default: the population-level and hyper parameters.
    thin_to : int
        Posterior draws kept per fit (evenly thinned), so ranks run from 0 to ``thin_to``;
        ``chains * draws`` must be at least this.
    chains, iter, warmup, draws, target_accept, max_tree_depth, control
        brm's sampler settings for every fit.
    seed : int, numpy SeedSequence or None
        Replicate ``i`` uses ``SeedSequence(seed).spawn(nsim)[i]``: the same ranks on any scheduler
        or cluster. ``result.entropy`` reproduces a run started with ``seed=None``.
    client, scheduler, progress
        Where the fits run: see :func:`multilevel.parallel.map_seeds`.

    Examples
    --------
    >>> import multilevel as ml
    >>> priors = [ml.prior("normal(0, 1)", class_="Intercept"), ml.prior("exponential(1)", class_="sd"),
    ...           ml.prior("exponential(1)", class_="sigma")]
    >>> result = ml.sbc("y ~ 1 + (1 | g)", data, priors=priors, nsim=100, seed=1)  # doctest: +SKIP
    >>> print(result)  # doctest: +SKIP
    """
    nsim = options.whole_number("nsim", nsim, 1)
    thin_to = options.whole_number("thin_to", thin_to, 1)
    settings = options.sampler_settings(chains=chains, iter=iter, warmup=warmup, draws=draws, seed=0,
                                        control=control, target_accept=target_accept,
                                        max_tree_depth=max_tree_depth, refresh=0)
    kept = settings.chains * settings.draws
    if kept < thin_to:
        raise ArgumentError(f"thin_to={thin_to} needs at least that many posterior draws per fit, but "
                            f"chains * draws is {kept}; raise draws (or iter) or lower thin_to")
    simulator = Simulator.of(formula, data, family, priors, link=link)
    names = simulator.variable_names()
    chosen = _chosen_variables(variables, names)
    brm_options = {"chains": settings.chains, "warmup": settings.warmup, "draws": settings.iter - settings.warmup,
                   "target_accept": settings.adapt_delta, "max_tree_depth": settings.max_treedepth}
    task = Replicate(simulator, chosen, thin_to, brm_options)
    started = time.perf_counter()
    results, entropy = map_seeds(task, seed, nsim, client=client, scheduler=scheduler, progress=progress,
                                 description="brm: sbc")
    ranks = pd.DataFrame([r for r, *_ in results], columns=chosen, dtype=float)
    truth = pd.DataFrame([t for _, t, *_ in results], columns=chosen, dtype=float)
    ranks.index = truth.index = pd.RangeIndex(1, nsim + 1, name="replicate")
    status = np.array([s for _, _, s, _, _ in results])
    divergences = np.array([d for *_, d, _ in results], dtype=int)
    messages = sorted({m for *_, m in results if m})
    return SBCResult(ranks, truth, thin_to, status, divergences, entropy, seed=seed, messages=messages,
                     elapsed=time.perf_counter() - started,
                     settings={"formula": formula, "family": simulator.family_name, **brm_options})


def _chosen_variables(variables, names: list[str]) -> list[str]:
    default = [n for n in names if not n.startswith("r_")]
    if variables is None:
        return default
    if isinstance(variables, str):
        variables = [variables]
    if not isinstance(variables, (list, tuple)) or not all(isinstance(v, str) for v in variables) or not variables:
        raise ArgumentError(f"variables must be a non-empty list of brms names such as {default[0]!r}, "
                            f"not {variables!r}")
    unknown = [v for v in variables if v not in names]
    if unknown:
        hints = []
        for v in unknown:
            close = difflib.get_close_matches(v, names, n=3)
            hints.append(f"{v!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else ""))
        raise ArgumentError(f"unknown variable(s) {', '.join(hints)}; this model has "
                            f"{', '.join(default)} and group-level effects such as {_first_effect(names)}")
    return list(dict.fromkeys(variables))


def _first_effect(names: list[str]) -> str:
    effects = [n for n in names if n.startswith("r_")]
    return repr(effects[0]) if effects else "(none)"


class Simulator:
    """The generative model of one brm model: priors resolved once, the data's design kept.

    Picklable: only the formula, the complete rows of the data, the family and the resolved priors
    travel; the design and layout are rebuilt lazily where the replicates run.
    """

    def __init__(self, formula: str, data: pd.DataFrame, family, priors: list[Prior], response: str, link=None):
        self.formula, self.data, self.family, self.priors, self.response = formula, data, family, priors, response
        self.link = link
        self._built = None

    def __getstate__(self):
        return {**self.__dict__, "_built": None}

    @classmethod
    def of(cls, formula, data, family, priors, link=None) -> Simulator:
        from .fit import _check_options

        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        from .brmsformula import BrmsFormula

        user_priors = _check_options(sample_prior="no", data_name=None, priors=priors)
        if isinstance(formula, BrmsFormula):  # ml.bf(): the response of the main formula, rows of every formula
            return cls._of_bf(formula, data, family, user_priors, link)
        parsed = parse_formula(formula)
        response = [t.text for t in tokenize(parsed.response) if t.kind == "name"] if parsed.response else []
        if len(response) != 1 or parsed.response.strip() != response[0] or response[0] not in data.columns:
            raise DataError(f"sbc replaces the response with simulated values, so it must be a column of data "
                            f"(y, or y | trials(n) for binomial counts), not {parsed.response or '(none)'!r}")
        # rows a fit would drop stay dropped: a simulated response would otherwise bring them back
        complete = data[[v for v in parsed.variables if v in data.columns]].notna().all(axis=1)
        simulator = cls(formula, data.loc[complete].reset_index(drop=True), family, [], response[0], link)
        _design, likelihood, layout = simulator._build(user_priors)
        if likelihood.categorical:
            raise ArgumentError("sbc does not simulate categorical responses yet")
        if any(k in _design.additions for k in ("cens", "trunc_lb", "trunc_ub")):
            raise ArgumentError("sbc does not simulate censored or truncated responses (cens(), trunc()): its "
                                "simulated responses would be neither, unlike the data the model describes")
        from .model import has_improper_prior

        # a model without predictors still resolves brms's class-wide (flat) b row: no parameter has it
        flat = [n for n in has_improper_prior(layout) if layout.b_names or n != "b"]
        if flat:
            raise PriorError(f"sbc draws the parameters from their priors, but these are flat: {', '.join(flat)}; "
                             "give them proper priors, e.g. ml.prior('normal(0, 5)', class_='b')")
        # every parameter's prior, written out: brms's defaults would follow each simulated response
        simulator.priors = [Prior(p.text, c, coef, g) for (c, coef, g), p in layout.priors.items() if p.text]
        simulator._built = None
        return simulator

    @classmethod
    def _of_bf(cls, formula, data, family, user_priors, link) -> Simulator:
        """sbc of an ml.bf() model: its extra formulas' population-level effects drawn from their priors
        (group-level terms in those formulas are refused for now)."""
        from .model import has_improper_prior
        from .predictors import model_rows

        response = [t.text for t in tokenize(formula.response) if t.kind == "name"]
        if len(response) != 1 or formula.response != response[0] or response[0] not in data.columns:
            raise DataError(f"sbc replaces the response with simulated values, so it must be a column of data, "
                            f"not {formula.response!r}")
        simulator = cls(formula, model_rows(formula, data, "omit"), family, [], response[0], link)
        _design, likelihood, layout = simulator._build(user_priors)
        preds = layout.predictors
        if likelihood.ordinal or any(p.terms for p in preds.items):
            raise ArgumentError("sbc of ml.bf() models with group-level terms in the extra formulas is not "
                                "available yet")
        flat = [n for n in has_improper_prior(layout) if layout.b_names or n != "b"]
        if flat:
            raise PriorError(f"sbc draws the parameters from their priors, but these are flat: {', '.join(flat)}; "
                             "give them proper priors, e.g. ml.prior('normal(0, 5)', class_='b', nlpar='a')")
        simulator.priors = [Prior(p.text, c, coef, g) for (c, coef, g), p in layout.priors.items() if p.text] + [
            Prior(p.text, c, coef, g, **({"nlpar": name} if p.nlpar else {"dpar": name}))
            for (name, c, coef, g), p in preds.priors.items() if p.text]
        simulator._built = None
        return simulator

    @property
    def family_name(self) -> str:
        return self.built[1].name

    @property
    def built(self):
        if self._built is None:
            self._built = self._build(self.priors)
        return self._built

    def _build(self, priors):
        from .brmsformula import BrmsFormula
        from .fit import _bf_layout, design_and_likelihood
        from .model import build_layout

        if isinstance(self.formula, BrmsFormula):
            self._built = _bf_layout(self.formula, self.data, self.family, "omit", self.link, priors)
            return self._built

        design, likelihood = design_and_likelihood(self.formula, self.data, self.family, link=self.link)
        self._built = design, likelihood, build_layout(design, likelihood, priors)
        return self._built

    def variable_names(self) -> list[str]:
        """brms's names of everything drawn, in brms's order (scalars, then r_<group>[level,coef])."""
        return list(self.draw(np.random.default_rng(0))[0])

    def draw(self, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
        """One draw of every parameter from its prior (brms-named) and a response simulated from it."""
        import jax

        design, likelihood, layout = self.built
        key = jax.random.PRNGKey(int(rng.integers(2**31)))
        counter = iter(range(1 << 30))
        next_key = lambda: jax.random.fold_in(key, next(counter))
        prior = layout.priors
        truth, effects = {}, {}
        intercept = float(numpyro_distribution(prior["Intercept", "", ""].text).sample(next_key())) \
            if layout.intercept else 0.0
        b = np.array([float(numpyro_distribution(prior["b", c, ""].text).sample(next_key())) for c in layout.b_names])
        if layout.intercept:  # the prior is on the intercept of centered predictors, as in brms
            truth["b_Intercept"] = intercept - (float(b @ layout.x_means) if len(b) else 0.0)
        truth.update({f"b_{c}": float(v) for c, v in zip(layout.b_names, b)})
        if layout.thresholds:  # ordinal: brms's b_Intercept[k], the thresholds for uncentered predictors
            threshold_priors = [prior["Intercept", str(k + 1), ""] for k in range(layout.thresholds)]
            thresholds = (_ordered_draw(threshold_priors, next_key) if layout.ordered_thresholds else  # sratio, acat
                          np.array([float(numpyro_distribution(p.text).sample(next_key())) for p in threshold_priors]))
            thresholds = thresholds + (float(b @ layout.x_means) if len(b) else 0.0)
            truth.update({f"b_Intercept[{k + 1}]": float(v) for k, v in enumerate(thresholds)})
        cors = {}
        for g in layout.groups:
            sd = np.array([_positive_draw(prior["sd", c, g.group], next_key()) for c in g.columns])
            truth.update({f"sd_{g.group}__{c}": float(s) for c, s in zip(g.columns, sd)})
            chol = np.eye(len(g.columns))
            if g.correlated:
                import numpyro.distributions as dist

                eta = parse_prior_text(prior["cor", "", g.group].text)[1][0]
                chol = np.asarray(dist.LKJCholesky(len(g.columns), eta).sample(next_key()))
                corr = chol @ chol.T
                for i in range(len(g.columns)):
                    for j in range(i + 1, len(g.columns)):
                        cors[f"cor_{g.group}__{g.columns[i]}__{g.columns[j]}"] = float(corr[i, j])
            z = np.asarray(jax.random.normal(next_key(), (g.n_levels, len(g.columns))))
            effects[g.index] = z @ (sd[:, None] * chol).T  # r_j = diag(sd) L z_j
        truth.update(cors)
        extra = {p: _family_parameter_draw(p, prior[p, "", ""], layout, next_key()) for p in layout.family_params}
        truth.update(extra)
        predictor_values = None
        if layout.predictors is not None:  # ml.bf(): Intercept_sigma (centered) and b_<name> from their priors
            preds, predictor_values = layout.predictors, {}
            for p in preds.items:
                if p.intercept:
                    predictor_values[p.intercept_block] = np.array(
                        [float(numpyro_distribution(preds.priors[p.name, "Intercept", "", ""].text).sample(next_key()))])
                if p.coef_names:
                    predictor_values[p.b_block] = np.array([[float(numpyro_distribution(
                        preds.priors[p.name, "b", c, ""].text).sample(next_key())) for c in p.coef_names]])
            intercepts, coefs = preds.draws(predictor_values)
            truth.update({k: float(v[0]) for k, v in {**intercepts, **coefs}.items()})
        for g in layout.groups:
            levels = design.terms[g.index].levels
            for level_index, level in enumerate(levels):
                for i, c in enumerate(g.columns):
                    truth[f"r_{g.group}[{level},{c}]"] = float(effects[g.index][level_index, i])
        y = self._response(design, likelihood, layout, truth, effects, extra, next_key(), predictor_values)
        return truth, y

    @staticmethod
    def _response(design, likelihood, layout, truth, effects, extra, key, predictor_values=None) -> np.ndarray:
        import jax.numpy as jnp

        names = list(design.fixed.column_names)
        if layout.thresholds:  # ordinal: no intercept in eta, the thresholds go to the likelihood
            extra = {**extra, "thresholds": np.array([truth[f"b_Intercept[{k + 1}]"] for k in range(layout.thresholds)])}
        beta = np.array([(0.0 if layout.thresholds else truth["b_Intercept"]) if n == "(Intercept)" else truth[f"b_{n}"]
                         for n in names])
        eta = design.fixed.matrix @ beta if names else np.zeros(design.nobs)
        if design.offset is not None:
            eta = eta + design.offset
        for g in layout.groups:
            term = design.terms[g.index]
            eta = eta + np.sum(term.z * effects[g.index][term.codes], axis=1)
        if predictor_values is not None:  # ml.bf(): mu from the expression, per-row distributional parameters
            mu, per_row = layout.predictors.apply(predictor_values, eta[None, :], layout.predictors.inputs(), np)
            eta, extra = mu[0], {**extra, **{k: v[0] for k, v in per_row.items()}}
        # counts (binomial trials) as integers: NumPyro's samplers index tables with them
        data = {k: v.astype(int) if k == "trials" else v for k, v in likelihood.data(design).items()}
        distribution = likelihood.distribution(jnp.asarray(eta), {p: jnp.asarray(v) for p, v in extra.items()}, data)
        return np.asarray(distribution.sample(key))


def _ordered_draw(priors: list[Prior], next_key) -> np.ndarray:
    """An ordinal model's thresholds (for centered predictors) from their priors restricted to
    increasing values, as brm's ``ordered`` vector has them: with one prior for all, the sorted
    independent draws (their density is the product of the priors on the ordered region, times K!);
    with different priors, independent draws until they come out increasing."""
    distributions = [numpyro_distribution(p.text) for p in priors]
    if len({p.text for p in priors}) == 1:
        return np.sort([float(d.sample(next_key())) for d in distributions])
    for _ in range(_POSITIVE_BATCH * _POSITIVE_ROUNDS):
        values = np.array([float(d.sample(next_key())) for d in distributions])
        if np.all(np.diff(values) > 0):
            return values
    raise PriorError(f"the thresholds' priors ({', '.join(p.text for p in priors)}) almost never give increasing "
                     "values; sbc cannot draw from them")


def _positive_draw(prior: Prior, key) -> float:
    """A draw of a positive parameter: its prior truncated at zero, as brm's density (see the module)."""
    return _bounded_draw(prior, key, 0.0, np.inf)


def _family_parameter_draw(name: str, prior: Prior, layout, key) -> float:
    """A draw of a family parameter from its prior truncated to the parameter's range, as brm samples
    it (:data:`.distributions.DPARS`): sigma, shape, phi, beta above 0; zi, hu in (0, 1); ndt in
    (0, min(y)) of the data given to sbc; alpha anywhere."""
    from .distributions import DPARS

    kind = DPARS[name].kind
    if kind == "real":
        return float(numpyro_distribution(prior.text).sample(key))
    lower, upper = {"positive": (0.0, np.inf), "unit": (0.0, 1.0)}.get(kind) or layout.family_bounds[name]
    return _bounded_draw(prior, key, lower, upper)


def _bounded_draw(prior: Prior, key, lower: float, upper: float) -> float:
    """A draw of the prior truncated to (lower, upper), by rejection."""
    import jax

    distribution = numpyro_distribution(prior.text)
    for attempt in range(_POSITIVE_ROUNDS):
        values = np.asarray(distribution.sample(jax.random.fold_in(key, attempt), (_POSITIVE_BATCH,)))
        inside = values[(values > lower) & (values < upper)]
        if len(inside):
            return float(inside[0])
    where = "above zero" if upper == np.inf else f"in ({lower:g}, {upper:g})"
    raise PriorError(f"prior {prior.text!r} of {prior.class_} has almost no mass {where} (no such value in "
                     f"{_POSITIVE_BATCH * _POSITIVE_ROUNDS} draws); sbc cannot draw from it")


class Replicate:
    """One SBC replicate as a picklable callable of a SeedSequence ->
    (ranks, truth, status, divergent transitions, message)."""

    def __init__(self, simulator: Simulator, variables: list[str], thin_to: int, brm_options: dict):
        self.simulator, self.variables, self.thin_to, self.brm_options = simulator, variables, thin_to, brm_options

    def __call__(self, seed):
        with _FIT_LOCK:
            return self._run(seed)

    def _run(self, seed):
        from . import fit as brm_engine

        rng = np.random.default_rng(seed)
        truth, y = self.simulator.draw(rng)
        values = [truth[v] for v in self.variables]
        data = self.simulator.data.copy()
        data[self.simulator.response] = y
        nothing = [np.nan] * len(self.variables)
        _design, likelihood, layout = self.simulator.built
        if likelihood.ordinal and np.max(y) < layout.thresholds + 1:
            # the refit would have fewer thresholds (K is the largest category seen): counted, not hidden
            return nothing, values, FAILED, 0, f"the simulated response lacks the top category {layout.thresholds + 1}"
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                fit = brm_engine.brm(self.simulator.formula, data, family=self.simulator.family, link=self.simulator.link,
                                     priors=self.simulator.priors, seed=int(rng.integers(2**31)), refresh=0,
                                     progress=False, **self.brm_options)
            except FIT_ERRORS as error:
                return nothing, values, FAILED, 0, f"{type(error).__name__}: {error}"
            finally:
                _forget_compiled_models()
        frame = fit.draws(include_group_effects=any(v.startswith("r_") for v in self.variables))
        ranks = [rank_of(truth[v], frame[v].to_numpy(), self.thin_to, rng) for v in self.variables]
        divergent = int(np.sum(fit.run.stats["divergent__"]))
        return ranks, values, OK, divergent, ""


def _forget_compiled_models() -> None:
    """Clear JAX's in-memory caches every ``CLEAR_CACHES_EVERY`` fits of this process (under the lock).

    Every fit compiles its own model (its data are constants of the program), and JAX keeps them:
    ~30 MB a fit (RSS 1.9 GB after 60 fits of the slow test). Clearing after every fit also drops
    the NUTS machinery the fits share: 8 fits of the fast test's model (1 chain, 500 + 990) took
    83 s instead of 14 s; every 25 fits costs one such recompilation per 25.
    """
    global _fits_since_clear
    _fits_since_clear += 1
    if _fits_since_clear >= CLEAR_CACHES_EVERY:
        import jax

        jax.clear_caches()
        _fits_since_clear = 0


def rank_of(truth: float, draws: np.ndarray, thin_to: int, rng: np.random.Generator) -> int:
    """The number of ``thin_to`` evenly thinned draws below ``truth`` (0..thin_to); ties split at random,
    as the SBC package does, so that ties cannot pile up at one end."""
    step = len(draws) // thin_to
    kept = draws[::step][:thin_to]
    below, equal = int(np.sum(kept < truth)), int(np.sum(kept == truth))
    return below + (int(rng.integers(equal + 1)) if equal else 0)
