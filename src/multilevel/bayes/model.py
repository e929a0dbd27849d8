"""Design + family + priors -> a NumPyro model, laid out as brms lays out its Stan program.

Fixed effects act on predictors centered at their means, with a separate ``Intercept`` (brms's
``Intercept``; ``b_Intercept`` is recovered after sampling). Group-level effects have brms's prior,
``r_j = diag(sd) L z_j`` with ``z_j ~ N(0, I)`` and ``L`` the Cholesky factor of the correlation matrix
(LKJ prior), gathered per observation by group index (no dense Z), but are sampled in whichever of
three equivalent forms mixes best:

* gaussian models with one grouping factor, or crossed/nested ones whose smaller factors have few
  levels: integrated out exactly (:mod:`.marginal`), drawn afterwards;
* scalar terms (``(1 | g)``, pieces of ``||``): partially centered level by level, the weights read
  from a quick lme4-style fit (:mod:`.parameterization`);
* correlated terms whose every level the data pin down (the pilot fit's conditional variances all
  below ``CENTER_CORRELATED_BELOW`` of the prior variances, as 1e5 bernoulli rows over 60
  districts): centered, ``theta_j = mean + r_j ~ N(mean, S S')``, where the non-centered form puts
  a ridge between each ``u_j``, the sds and the fixed effects (tree depth 5 and a bulk ESS of ~100
  per 4,000 draws for the fixed effects);
* correlated terms otherwise: non-centered, as brms.

The posterior is brms's in every case; ``fit.run.settings["parameterization"]`` records which form ran.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..design import Design
from .likelihood import Likelihood, find_patterns
from .lkj import lkj_cholesky_log_density
from .ordinal import ORDERED_THRESHOLDS
from .parameterization import centering_weights
from .priors import Prior, PriorError, check_prior_fits_class, numpyro_distribution, parse_prior_text


@dataclass(frozen=True)
class GroupBlock:
    """One group-level term as the sampler sees it.

    ``centering`` holds, level by level, the partial-centering weight c_j in [0, 1] of a scalar
    term (see :mod:`.parameterization`; all 0 is brms's non-centered form); a correlated term has
    all 0 or, where the data pin every level down, all 1 (centered). ``mean_map`` (p, 1 + n_b)
    turns ``[Intercept, b]`` into the population mean of the level's coefficients (``b_Intercept``
    for a varying intercept, ``b_x`` for a varying slope of ``x``).
    """

    index: int
    group: str
    columns: tuple[str, ...]
    n_levels: int
    correlated: bool
    centering: tuple[float, ...] = ()
    mean_map: tuple[tuple[float, ...], ...] = ()

    @property
    def any_centered(self) -> bool:
        return any(c > 0 for c in self.centering)

    @property
    def mean_matrix(self) -> np.ndarray:
        """``mean_map`` as a (p, 1 + n_b) array."""
        return np.asarray(self.mean_map).reshape(len(self.columns), -1)


# a correlated term is sampled centered when, at every level and in every column, the pilot fit's
# conditional variance is below this share of the prior variance (a scalar term's centering weight
# c_j > 0.9); with less data per level the centered form has funnels at sd -> 0 and
# correlations near +-1 (sleepstudy: 0.17 for the Days slopes, stays non-centered)
CENTER_CORRELATED_BELOW = 0.1
CENTER_CORRELATED_MAX_CORRELATION = 0.95  # nor when the pilot's correlation is near +-1


@dataclass
class ModelLayout:
    """Names and sizes of everything sampled, with the priors resolved for each."""

    intercept: bool
    b_names: tuple[str, ...]
    x_means: np.ndarray
    groups: tuple[GroupBlock, ...]
    priors: dict = field(default_factory=dict)  # (class, coef, group) -> Prior
    family_params: tuple[str, ...] = ()
    integrate_out_effects: bool = False  # gaussian: see .marginal
    patterns: object = None  # .likelihood.Patterns: rows summed for the likelihood (bernoulli, binomial, poisson)
    family_bounds: dict = field(default_factory=dict)  # "interval" parameters -> (lower, upper): ndt
    thresholds: int = 0  # ordinal families: K - 1 thresholds (brms's ordered Intercept) in place of an intercept
    ordered_thresholds: bool = True  # cumulative's are Stan's ordered vector; sratio's and acat's a plain one
    predictors: object = None  # .predictors.Predictors: a bf() model's nonlinear/distributional predictors

    def for_prior_only(self) -> "ModelLayout":
        """The same model in brms's non-centered form: without data, centering would only add funnels."""
        import dataclasses

        groups = tuple(dataclasses.replace(g, centering=(0.0,) * g.n_levels) for g in self.groups)
        return dataclasses.replace(self, groups=groups, integrate_out_effects=False)

    @property
    def parameterization(self) -> str:
        """How the group-level effects are sampled (recorded with the fit)."""
        if not self.groups:
            extra = [p.name for p in self.predictors.items if p.terms] if self.predictors is not None else []
            # the further formulas' terms (bf(), categorical's mu<k>) are sampled in brms's form
            return f"{', '.join(extra)}: non-centered" if extra else "no group-level effects"
        if self.integrate_out_effects:
            factors = ", ".join(dict.fromkeys(g.group for g in self.groups))
            return f"effects of {factors} integrated out in NUTS, drawn from their exact conditional"
        parts = []
        for g in self.groups:
            if g.any_centered and g.correlated:
                parts.append(f"{g.group} {'+'.join(g.columns)}: centered")
            elif g.any_centered:
                parts.append(f"{g.group} {'+'.join(g.columns)}: partially centered (mean weight "
                             f"{np.mean(g.centering):.2f})")
            else:
                parts.append(f"{g.group} {'+'.join(g.columns)}: non-centered")
        return "; ".join(parts)


def _mad(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def default_priors(design: Design, likelihood: Likelihood) -> dict:
    """brms's default priors (``R/priors.R``, ``def_scale_prior`` and ``def_dprior``), class -> text.

    Intercept ``student_t(3, location, scale)``, sd and sigma ``student_t(3, 0, scale)``: where mu's
    link is identity or log (log for the lognormal families, brms's ``has_logscale``), from the
    response on that scale (zeros as 0.1 before the log): ``location = round(median, 1)`` less the
    mean offset, ``scale = max(2.5, round(mad, 1))``; location 0 and scale 2.5 otherwise (logit,
    probit, cloglog). The other family parameters have brms's fixed defaults
    (:data:`.distributions.DPARS`); ndt's ``uniform(0, min_Y)`` is written with the smallest response.
    """
    from .distributions import DPARS

    link = "log" if likelihood.spec.log_scale else likelihood.link_name
    location, scale = 0.0, 2.5
    if link in ("identity", "log"):
        y = np.asarray(design.response, dtype=float)
        if link == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.log(np.where(y == 0, y + 0.1, y))
        spread = round(_mad(y), 1)
        if np.isfinite(spread):
            scale = max(scale, spread)
        median = round(float(np.median(y)), 1)
        if np.isfinite(median):
            location = median - (float(np.mean(design.offset)) if design.offset is not None else 0.0)
    fmt = lambda v: f"{v + 0.0:.15g}"  # noqa: E731 - as R prints a number (15 digits, no negative zero)
    defaults = {
        "Intercept": f"student_t(3, {fmt(location)}, {fmt(scale)})",
        "sd": f"student_t(3, 0, {fmt(scale)})",
        "cor": "lkj_corr_cholesky(1)",
        "b": "",
    }
    for name in likelihood.parameters:
        text = DPARS[name].prior
        if name == "ndt":
            text = f"uniform(0, {float(np.min(design.response))!r})"
        defaults[name] = text if text is not None else defaults["sd"]
    return defaults


def family_bounds(design: Design, likelihood: Likelihood) -> dict:
    """The bounds of "interval" parameters: ndt in (0, min(y)), as brms's ``real<lower=0, upper=min_Y>``."""
    return {"ndt": (0.0, float(np.min(design.response)))} if "ndt" in likelihood.parameters else {}


def build_layout(design: Design, likelihood: Likelihood, user_priors, predictors=None) -> ModelLayout:
    """``predictors`` (:mod:`.predictors`, a bf() model): its distributional parameters vary by row, so
    they lose their scalar draw; rows are then neither summed into patterns nor integrated over."""
    names = list(design.fixed.column_names)
    intercept = "(Intercept)" in names
    thresholds = _ordinal_thresholds(design) if likelihood.ordinal else 0
    b_names = tuple(n for n in names if n != "(Intercept)")
    x = design.fixed.matrix[:, [names.index(n) for n in b_names]] if b_names else np.zeros((design.nobs, 0))
    x_means = x.mean(axis=0) if intercept else np.zeros(len(b_names))
    intercept = intercept and not thresholds  # ordinal: the thresholds stand in for the intercept
    integrate_out = can_integrate_out_effects(design, likelihood) and predictors is None
    # weighted, censored, truncated or rate rows are not summed into patterns (the sums know none of them)
    compress = (likelihood.compressible and not integrate_out and not design.additions
                and predictors is None)
    patterns = find_patterns(design) if compress else None
    # the pilot fit behind the centering runs on the patterns too (same estimates, ~1000x fewer rows at 1e5)
    pilot_design = likelihood.pattern_design(design, patterns) if patterns is not None else design
    # the pilot lmer fit knows no se(): with known standard errors brms's non-centered form is kept
    # ordinal: brms's non-centered form (no pilot fit for the family)
    center = not integrate_out and "se" not in design.additions and not thresholds
    groups = _group_blocks(pilot_design, likelihood, intercept, b_names, x_means, with_centering=center)
    layout = ModelLayout(intercept, tuple(_brms_coef(n) for n in b_names), x_means, groups,
                         family_params=tuple(p for p in likelihood.parameters
                                             if predictors is None or p not in predictors.dpars),
                         integrate_out_effects=integrate_out, patterns=patterns,
                         family_bounds=family_bounds(design, likelihood), thresholds=thresholds, predictors=predictors,
                         ordered_thresholds=likelihood.name in ORDERED_THRESHOLDS)
    layout.priors = resolve_priors(layout, default_priors(design, likelihood), user_priors or [])
    return layout


def _ordinal_thresholds(design: Design) -> int:
    """K - 1 for a response coded 1..K (our DataError otherwise); the model needs its intercept
    column, which the thresholds replace (brms centers the predictors for them)."""
    from ..errors import ArgumentError
    from .ordinal import check_ordinal_response

    k = check_ordinal_response(design.response, design.response_name)
    if "(Intercept)" not in design.fixed.column_names:
        raise ArgumentError("an ordinal model's thresholds take the place of the intercept: keep the intercept "
                            f"in the formula ({design.formula.display} removes it)")
    return k - 1


def can_integrate_out_effects(design: Design, likelihood: Likelihood) -> bool:
    """Gaussian, unweighted, one factor or crossed/nested ones with few effects: see :mod:`.marginal`.
    Not with ``se()`` or ``weights()`` (rows of unequal variance or weight): the effects are sampled."""
    from .marginal import can_integrate_out

    return (likelihood.name == "gaussian" and bool(design.terms) and not design.additions
            and (design.weights is None or bool(np.all(design.weights == 1)))
            and can_integrate_out(design.terms))


def _group_blocks(design: Design, likelihood: Likelihood, intercept: bool, b_names, x_means,
                  with_centering: bool = True) -> tuple[GroupBlock, ...]:
    """Group blocks with the population mean of each column and, for scalar terms, their centering."""
    n_fixed = int(intercept) + len(b_names)
    column_uses: dict[str, int] = {}
    for t in design.terms:
        for c in t.column_names:
            column_uses[c] = column_uses.get(c, 0) + 1
    mean_maps, candidates, correlated = [], [], []
    for k, t in enumerate(design.terms):
        rows = []
        for c in t.column_names:
            row = np.zeros(n_fixed)
            if c == "(Intercept)" and intercept:
                row[0], row[1:] = 1.0, -x_means
            elif c in b_names:
                row[int(intercept) + list(b_names).index(c)] = 1.0
            rows.append(tuple(row))
        # a column shared with another term (crossed or nested intercepts) keeps brms's form: centering
        # one factor on the intercept leaves the others' ridge and slows the intercept (penicillin, pastes)
        if len(t.column_names) == 1 and column_uses[t.column_names[0]] == 1 and any(rows[0]):
            candidates.append(k)
        elif len(t.column_names) > 1 and all(column_uses[c] == 1 for c in t.column_names):
            correlated.append(k)
        mean_maps.append(tuple(rows))
    weights = centering_weights(design, likelihood.name, candidates) if with_centering else {}
    if with_centering:
        weights.update({k: np.ones(design.terms[k].n_levels)
                        for k in _well_informed_terms(design, likelihood.name, correlated)})
    return tuple(
        GroupBlock(k, t.group_name, tuple(_brms_coef(c) for c in t.column_names), t.n_levels,
                   len(t.column_names) > 1, tuple(float(c) for c in weights.get(k, np.zeros(t.n_levels))),
                   mean_maps[k])
        for k, t in enumerate(design.terms)
    )


def _well_informed_terms(design: Design, likelihood_name: str, terms: list[int]) -> list[int]:
    """The correlated terms (indices) to sample centered: see ``CENTER_CORRELATED_BELOW``."""
    from .parameterization import _PILOT_FAMILY, _pilot_fit

    if not terms or likelihood_name not in _PILOT_FAMILY:
        return []
    try:
        fit = _pilot_fit(design, _PILOT_FAMILY[likelihood_name])
        condvar, lambdas, sigma = fit._condvar_blocks(), fit._lambdas(), float(fit._sigma)
    except Exception:  # noqa: BLE001 - a failed pilot only costs sampling efficiency
        return []
    chosen = []
    for k in terms:
        prior = (sigma**2) * lambdas[k] @ lambdas[k].T
        variances = np.diag(prior)
        if not np.all(np.isfinite(prior)) or np.any(variances <= 1e-12):
            continue  # singular pilot: effects shrunk to zero, the non-centered form suits
        corr = prior / np.sqrt(np.outer(variances, variances))
        if np.max(np.abs(corr - np.eye(len(variances)))) > CENTER_CORRELATED_MAX_CORRELATION:
            continue
        shrinkage = np.diagonal(condvar[k], axis1=1, axis2=2) / variances
        if np.all(np.isfinite(shrinkage)) and np.max(shrinkage) < CENTER_CORRELATED_BELOW:
            chosen.append(k)
    return chosen


def _brms_coef(name: str) -> str:
    return "Intercept" if name == "(Intercept)" else name


def valid_targets(layout: ModelLayout) -> dict[str, list[tuple[str, str]]]:
    """Every (coef, group) each prior class can address."""
    targets: dict[str, list[tuple[str, str]]] = {"b": [("", "")] + [(c, "") for c in layout.b_names]}
    if layout.intercept:
        targets["Intercept"] = [("", "")]
    if layout.thresholds:  # brms's per-threshold rows: coef "1".."K-1" under the class-wide row
        targets["Intercept"] = [("", "")] + [(str(k), "") for k in range(1, layout.thresholds + 1)]
    if layout.groups:
        targets["sd"] = [("", "")]
        for g in layout.groups:
            targets["sd"] += [("", g.group)] + [(c, g.group) for c in g.columns]
        if any(g.correlated for g in layout.groups):
            targets["cor"] = [("", "")] + [("", g.group) for g in layout.groups if g.correlated]
    for param in layout.family_params:
        targets[param] = [("", "")]
    return targets


def resolve_priors(layout: ModelLayout, defaults: dict, user_priors) -> dict:
    """The prior of every parameter: the most specific user prior that matches, else brms's default."""
    targets = valid_targets(layout)
    for p in user_priors:
        if not isinstance(p, Prior):
            raise PriorError(f"priors must be made with ml.prior(...), got {p!r}")
        if p.class_ not in targets:
            raise PriorError(f"this model has no parameters of class {p.class_!r}; "
                             f"valid classes: {', '.join(targets)}")
        if (p.coef, p.group) not in targets[p.class_]:
            valid = sorted({c for c, _ in targets[p.class_] if c} | {f"group={g}" for _, g in targets[p.class_] if g})
            raise PriorError(f"no {p.class_!r} parameter with coef={p.coef!r} group={p.group!r}; "
                             f"valid: {', '.join(valid) or '(class-wide only)'}")
        if p.text:  # a Prior made directly rather than by ml.prior() is checked here
            check_prior_fits_class(p.text, *parse_prior_text(p.text), p.class_)
    resolved = {}
    for class_, entries in targets.items():
        for coef, group in entries:
            if class_ in ("b", "sd", "Intercept") and coef == "" and entries != [("", "")]:
                continue  # class-wide rows are not parameters themselves
            matching = [p for p in user_priors if p.matches(class_, coef, group)]
            if matching:
                resolved[class_, coef, group] = max(matching, key=lambda p: p.specificity())
            else:
                resolved[class_, coef, group] = Prior(defaults[class_], class_, coef, group, source="default")
    return resolved


def prior_log_density(prior: Prior, value):
    """log p(value) under one prior, up to a constant (0 for brms's flat prior).

    For parameters bounded below by zero (sd, sigma) this is the half distribution without its
    normalizing constant, as Stan drops it: the posterior is the same, and XLA is spared the
    compilation of a CDF (incomplete beta for student_t) that would only add a constant.
    """
    if not prior.text:
        return 0.0
    distribution = numpyro_distribution(prior.text)
    if parse_prior_text(prior.text)[0] == "uniform":  # -inf outside its bounds, as Stan's uniform_lpdf
        import jax.numpy as jnp

        inside = (value >= distribution.low) & (value <= distribution.high)
        return jnp.where(inside, distribution.log_prob(value), -jnp.inf)
    return distribution.log_prob(value)


class ParameterVector:
    """Every sampled quantity packed into one unconstrained vector.

    NUTS then carries a single array instead of a dict of many (XLA compiles a state with one
    leaf about a second faster for a brms-sized model); the transforms are applied here, with their
    log-Jacobians. Kinds: "real"; "ordered" (Stan's ordered vector: the first element free, each
    next one the one before plus ``exp`` of a free number: an ordinal model's thresholds,
    :func:`.ordinal.ordered_from_unconstrained`); "positive" (``exp``: sd, sigma, shape, phi, beta); "unit"
    (logistic, in (0, 1): zi, hu); "interval" (``lower + (upper - lower) logistic``: ndt in
    (0, min(y)), bounds in ``layout.family_bounds``); "corr<p>" (Cholesky factors of correlation
    matrices).
    """

    patterns = None  # the likelihood's row patterns (.likelihood.Patterns) where rows were summed

    def __init__(self, layout: ModelLayout, marginal=None):
        self.layout, self.marginal = layout, marginal  # marginal: see .marginal, when effects are integrated out
        blocks = []
        if layout.intercept:
            blocks.append(("Intercept", (), "real"))
        if layout.thresholds:
            blocks.append(("Intercept", (layout.thresholds,), "ordered" if layout.ordered_thresholds else "real"))
        if layout.b_names:
            blocks.append(("b", (len(layout.b_names),), "real"))
        for g in layout.groups:
            p = len(g.columns)
            blocks.append((f"sd_{g.index}", (p,), "positive"))
            if not layout.integrate_out_effects:
                blocks.append((f"u_{g.index}", (p, g.n_levels), "real"))
            if g.correlated:
                blocks.append((f"L_{g.index}", (p * (p - 1) // 2,), f"corr{p}"))
        from .distributions import DPARS

        if layout.predictors is not None:
            blocks += layout.predictors.blocks()
        for param in layout.family_params:
            blocks.append((param, (), DPARS[param].kind))
        self.blocks = blocks
        self.sizes = [int(np.prod(shape)) if shape else 1 for _, shape, _ in blocks]
        self.size = int(sum(self.sizes))

    def unpack(self, flat):
        """Unconstrained vector -> (dict of constrained values, log |Jacobian|)."""
        import jax.numpy as jnp

        from .lkj import cholesky_corr_from_unconstrained

        values, log_jac, start = {}, 0.0, 0
        for (name, shape, kind), size in zip(self.blocks, self.sizes):
            raw = flat[start : start + size]
            start += size
            if kind == "positive":
                values[name] = jnp.exp(raw).reshape(shape)
                log_jac = log_jac + jnp.sum(raw)
            elif kind in ("unit", "interval"):
                import jax

                lower, upper = self.layout.family_bounds.get(name, (0.0, 1.0))
                values[name] = (lower + (upper - lower) * jax.nn.sigmoid(raw)).reshape(shape)
                # d/draw of logistic(raw) = logistic(raw) (1 - logistic(raw)), times the interval's width
                log_jac = log_jac + jnp.sum(jax.nn.log_sigmoid(raw) + jax.nn.log_sigmoid(-raw)) + np.log(upper - lower)
            elif kind.startswith("corr"):
                chol, jac = cholesky_corr_from_unconstrained(raw, int(kind[4:]))
                values[name] = chol
                log_jac = log_jac + jac
            elif kind == "ordered":
                from .ordinal import ordered_from_unconstrained

                values[name], jac = ordered_from_unconstrained(raw, jnp)
                log_jac = log_jac + jac
            else:
                values[name] = raw.reshape(shape)
        return values, log_jac

    def unpack_draws(self, flat_draws: np.ndarray, *, seed=None, dtype="float64") -> dict:
        """(chains, draws, size) -> dict of (chains, draws, ...) constrained arrays (numpy, no JIT).

        Group-level effects come out as ``r_<term>`` (chains, draws, levels, p); where they were
        integrated out they are drawn here from their conditional, with a generator seeded by ``seed``.
        Everything is computed in float64 and stored as ``dtype`` (brm's ``draws_dtype``).
        """
        from .lkj import cholesky_corr_numpy

        chains, n = flat_draws.shape[:2]
        values, start = {}, 0
        for (name, shape, kind), size in zip(self.blocks, self.sizes):
            raw = flat_draws[..., start : start + size]
            start += size
            if kind == "positive":
                values[name] = np.exp(raw).reshape(chains, n, *shape)
            elif kind in ("unit", "interval"):
                from scipy.special import expit

                lower, upper = self.layout.family_bounds.get(name, (0.0, 1.0))
                values[name] = (lower + (upper - lower) * expit(raw)).reshape(chains, n, *shape)
            elif kind.startswith("corr"):
                values[name] = cholesky_corr_numpy(raw, int(kind[4:]))
            elif kind == "ordered":
                from .ordinal import ordered_from_unconstrained

                values[name] = ordered_from_unconstrained(raw, np)[0]
            else:
                values[name] = raw.reshape(chains, n, *shape)
        lay = self.layout
        fixed = fixed_effects_vector(values, lay, np, lead=(chains, n))
        if lay.integrate_out_effects:
            rng = np.random.default_rng([0 if seed is None else int(seed), 7])
            effects = self.marginal.draw_effects(fixed, [_term_scale(g, values, np) for g in lay.groups],
                                                 values["sigma"], rng, dtype=dtype)
            for g, r in zip(lay.groups, effects):
                values[f"r_{g.index}"] = r
        else:
            for g in lay.groups:
                mean = fixed @ g.mean_matrix.T if g.any_centered else None
                values[f"r_{g.index}"] = group_coefficients(g, values[f"u_{g.index}"], _term_scale(g, values, np),
                                                            mean, np)
        return {k: v.astype(dtype, copy=False) for k, v in values.items()}


def make_model(design: Design, layout: ModelLayout, likelihood: Likelihood, *, compress: bool = True):
    """The NumPyro model ``model(prior_only=False)`` (one sampled site, ``params``, and one factor
    with the whole log density) and its :class:`ParameterVector`.

    bernoulli, binomial and poisson rows with equal linear-predictor inputs are summed into patterns
    (:func:`.likelihood.find_patterns`, recorded as ``vector.patterns``): the same log density,
    evaluated once per pattern (``compress=False``: once per row, as before; the tests compare the two)."""
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    names = list(design.fixed.column_names)
    b_cols = [i for i, n in enumerate(names) if n != "(Intercept)"]
    # bernoulli/binomial/poisson: the likelihood runs on the distinct linear predictors (see .likelihood)
    patterns = layout.patterns if compress else None
    rows = patterns.rows if patterns is not None else slice(None)
    xc = jnp.asarray(design.fixed.matrix[rows][:, b_cols] - layout.x_means) if b_cols else None
    codes = [jnp.asarray(t.codes[rows]) for t in design.terms]
    zs = [jnp.asarray(t.z[rows]) for t in design.terms]
    offset = jnp.asarray(design.offset[rows]) if design.offset is not None else 0.0
    data = likelihood.pattern_data(design, patterns) if patterns is not None else likelihood.data(design)
    priors = layout.priors
    marginal = None
    if layout.integrate_out_effects:
        from .marginal import marginal_for

        xfull = np.column_stack(([np.ones(design.nobs)] if layout.intercept else []) +
                                ([design.fixed.matrix[:, b_cols] - layout.x_means] if b_cols else []) +
                                [np.zeros((design.nobs, 0))])
        y = design.response - (design.offset if design.offset is not None else 0.0)
        marginal = marginal_for(design.terms, xfull, y)
    vector = ParameterVector(layout, marginal)
    vector.patterns = patterns
    if layout.predictors is not None:  # a bf() model: its predictors' matrices, as JAX arrays
        inputs = layout.predictors.inputs()
        inputs = {"X": {k: jnp.asarray(v) for k, v in inputs["X"].items()},
                  "columns": {k: jnp.asarray(v) for k, v in inputs["columns"].items()},
                  "groups": {k: [(jnp.asarray(c), jnp.asarray(z)) for c, z in v] for k, v in inputs["groups"].items()}}

    def fixed_vector(v):
        return fixed_effects_vector(v, layout, jnp)

    def group_terms(v):
        """Per term: r (levels, p) and the log density of its sampled coefficients u."""
        if layout.integrate_out_effects:
            return [(None, 0.0) for _ in layout.groups]
        fixed = fixed_vector(v)
        out = []
        for g in layout.groups:
            scale = _term_scale(g, v, jnp)
            mean = jnp.asarray(g.mean_matrix) @ fixed if g.any_centered else None
            r = group_coefficients(g, v[f"u_{g.index}"], scale, mean, jnp)
            out.append((r, group_log_density(g, v[f"u_{g.index}"], scale, mean)))
        return out

    def log_prior(v, terms) -> float:
        total = 0.0
        if layout.intercept:
            total = total + prior_log_density(priors["Intercept", "", ""], v["Intercept"])
        for k in range(layout.thresholds):
            total = total + prior_log_density(priors["Intercept", str(k + 1), ""], v["Intercept"][k])
        for i, c in enumerate(layout.b_names):
            total = total + prior_log_density(priors["b", c, ""], v["b"][i])
        for g, (_, log_density) in zip(layout.groups, terms):
            sd = v[f"sd_{g.index}"]
            for i, c in enumerate(g.columns):
                total = total + prior_log_density(priors["sd", c, g.group], sd[i])
            total = total + log_density
            if g.correlated:
                eta_lkj = parse_prior_text(priors["cor", "", g.group].text)[1][0]
                total = total + lkj_cholesky_log_density(v[f"L_{g.index}"], eta_lkj)
        for param in layout.family_params:
            total = total + prior_log_density(priors[param, "", ""], v[param])
        if layout.predictors is not None:
            total = total + layout.predictors.log_prior(v)
        return total

    def linear_predictor(v, terms):
        eta = offset
        if layout.intercept:
            eta = eta + v["Intercept"]
        if layout.b_names:
            eta = eta + xc @ v["b"]
        for (r, _), code, z_obs in zip(terms, codes, zs):
            eta = eta + jnp.sum(z_obs * r[code], axis=1)
        return eta

    def log_density(flat, prior_only: bool):
        """log prior + log |Jacobian| (+ log likelihood) at one unconstrained vector."""
        values, log_jac = vector.unpack(flat)
        terms = group_terms(values)
        total = log_prior(values, terms) + log_jac
        if prior_only:
            return total
        if layout.integrate_out_effects:
            scales = [_term_scale(g, values, jnp) for g in layout.groups]
            return total + marginal.log_likelihood(fixed_vector(values), scales, values["sigma"])
        extra = {p: values[p] for p in layout.family_params}
        if layout.thresholds:
            extra["thresholds"] = values["Intercept"]
        eta = linear_predictor(values, terms)
        if layout.predictors is not None:  # mu from the nonlinear expression; per-row distributional parameters
            eta, per_row = layout.predictors.apply(values, eta, inputs, jnp)
            extra.update(per_row)
        return total + likelihood.summed_log_likelihood(eta, extra, data)

    # jitted on its own: NumPyro evaluates the model once outside any jit to find its sites, and
    # op by op that costs ~200 small compilations (3-6 s for a one-chain fit); inside NUTS the inner
    # jit is inlined
    log_density = jax.jit(log_density, static_argnums=1)

    def model(prior_only: bool = False):
        flat = numpyro.sample("params", dist.ImproperUniform(dist.constraints.real, (), (vector.size,)))
        numpyro.factor("log_density", log_density(flat, prior_only))

    return model, vector


def fixed_effects_vector(values: dict, layout: ModelLayout, xp, lead: tuple = ()):
    """``[Intercept, b]`` (..., 1 + n_b): what ``mean_map`` and the marginal likelihood act on."""
    parts = ([values["Intercept"][..., None]] if layout.intercept else []) + ([values["b"]] if layout.b_names else [])
    return xp.concatenate(parts, axis=-1) if parts else xp.zeros(lead + (0,))


def _term_scale(g: GroupBlock, values: dict, xp):
    """diag(sd) L (..., p, p): r_j = scale @ z_j for a non-centered level."""
    sd = values[f"sd_{g.index}"]
    if g.correlated:
        return sd[..., :, None] * values[f"L_{g.index}"]
    return sd[..., :, None] * xp.ones((1, 1))


def group_coefficients(g: GroupBlock, u, scale, mean, xp):
    """The group-level effects r (..., levels, p) from the sampled u (..., p, levels).

    Non-centered: ``r_j = scale u_j``; partially centered (scalar terms, weight c_j):
    ``r_j = sd^(1 - c_j) (u_j - c_j mean)``; centered (correlated terms): ``r_j = u_j - mean``.
    Works on one draw in JAX and on all draws at once in numpy (leading axes broadcast).
    """
    if not g.any_centered:
        return xp.swapaxes(scale @ u, -1, -2)
    if g.correlated:  # centered: u_j is the level's coefficient, mean + r_j
        return xp.swapaxes(u - mean[..., :, None], -1, -2)
    c = xp.asarray(g.centering)
    sd = scale[..., 0, :]  # (..., 1): scalar term
    r = sd[..., :, None] ** (1.0 - c) * (u - c * mean[..., :, None])
    return xp.swapaxes(r, -1, -2)


def group_log_density(g: GroupBlock, u, scale, mean):
    """log density of one term's u (up to a constant): N(0, I) non-centered, N(c mean, sd^(2c)) partially
    centered (scalar terms), N(mean, S S') centered (correlated terms)."""
    import jax.numpy as jnp

    if not g.any_centered:
        return -0.5 * jnp.sum(u**2)
    if g.correlated:  # centered: u_j ~ N(mean, S S'), S = scale = diag(sd) L, log|S| from its diagonal
        from jax.scipy.linalg import solve_triangular

        standardized = solve_triangular(scale, u - mean[:, None], lower=True)
        return -0.5 * jnp.sum(standardized**2) - u.shape[-1] * jnp.sum(jnp.log(jnp.diagonal(scale)))
    c = jnp.asarray(g.centering)
    log_sd = jnp.log(scale[0, 0])
    standardized = (u[0] - c * mean[0]) * jnp.exp(-c * log_sd)
    return -0.5 * jnp.sum(standardized**2) - jnp.sum(c) * log_sd


def has_improper_prior(layout: ModelLayout) -> list[str]:
    flat = [f"{c}{' ' + coef if coef else ''}" for (c, coef, g), p in layout.priors.items() if not p.text]
    return flat + (layout.predictors.improper() if layout.predictors is not None else [])
