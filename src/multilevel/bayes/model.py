"""Design + family + priors -> a NumPyro model, laid out as brms lays out its Stan program.

Fixed effects act on predictors centered at their means, with a separate ``Intercept`` (brms's
``Intercept``; ``b_Intercept`` is recovered after sampling). Group-level effects are non-centered:
``r = (diag(sd) L z)'`` with ``z ~ N(0, 1)``, ``L`` the Cholesky factor of the correlation matrix
(LKJ prior), gathered per observation by group index: no dense Z.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..design import Design
from .likelihood import Likelihood
from .lkj import lkj_cholesky_log_density
from .priors import Prior, PriorError, numpyro_distribution, parse_prior_text


@dataclass(frozen=True)
class GroupBlock:
    """One group-level term as the sampler sees it."""

    index: int
    group: str
    columns: tuple[str, ...]
    n_levels: int
    correlated: bool


@dataclass
class ModelLayout:
    """Names and sizes of everything sampled, with the priors resolved for each."""

    intercept: bool
    b_names: tuple[str, ...]
    x_means: np.ndarray
    groups: tuple[GroupBlock, ...]
    priors: dict = field(default_factory=dict)  # (class, coef, group) -> Prior
    family_params: tuple[str, ...] = ()


def _mad(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def default_priors(design: Design, likelihood: Likelihood) -> dict:
    """brms's defaults: student_t(3, location, max(2.5, mad)) for Intercept, sd and sigma."""
    y = likelihood.response_for_defaults(design)
    if likelihood.identity_link:
        location, scale = round(float(np.median(y)), 1), max(2.5, round(_mad(y), 1))
    else:
        link_median = likelihood.link_of_median(design)
        location = round(link_median, 1) if np.isfinite(link_median) else 0.0
        scale = 2.5
    fmt = lambda v: f"{v:g}"  # noqa: E731
    defaults = {
        "Intercept": f"student_t(3, {fmt(location)}, {fmt(scale)})",
        "sd": f"student_t(3, 0, {fmt(scale)})",
        "sigma": f"student_t(3, 0, {fmt(scale)})",
        "cor": "lkj_corr_cholesky(1)",
        "shape": "gamma(0.01, 0.01)",
        "nu": "gamma(2, 0.1)",
        "b": "",
    }
    return defaults


def build_layout(design: Design, likelihood: Likelihood, user_priors) -> ModelLayout:
    names = list(design.fixed.column_names)
    intercept = "(Intercept)" in names
    b_names = tuple(n for n in names if n != "(Intercept)")
    x = design.fixed.matrix[:, [names.index(n) for n in b_names]] if b_names else np.zeros((design.nobs, 0))
    x_means = x.mean(axis=0) if intercept else np.zeros(len(b_names))
    groups = tuple(
        GroupBlock(k, t.group_name, tuple(_brms_coef(c) for c in t.column_names), t.n_levels,
                   len(t.column_names) > 1)
        for k, t in enumerate(design.terms)
    )
    layout = ModelLayout(intercept, tuple(_brms_coef(n) for n in b_names), x_means, groups,
                         family_params=likelihood.parameters)
    layout.priors = resolve_priors(layout, default_priors(design, likelihood), user_priors or [])
    return layout


def _brms_coef(name: str) -> str:
    return "Intercept" if name == "(Intercept)" else name


def valid_targets(layout: ModelLayout) -> dict[str, list[tuple[str, str]]]:
    """Every (coef, group) each prior class can address."""
    targets: dict[str, list[tuple[str, str]]] = {"b": [("", "")] + [(c, "") for c in layout.b_names]}
    if layout.intercept:
        targets["Intercept"] = [("", "")]
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
        if p.class_ == "cor" and p.text and parse_prior_text(p.text)[0] not in ("lkj", "lkj_corr_cholesky"):
            raise PriorError(f"class 'cor' needs an lkj prior, got {p.text!r}")
    resolved = {}
    for class_, entries in targets.items():
        for coef, group in entries:
            if class_ in ("b", "sd") and coef == "" and entries != [("", "")]:
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
    return numpyro_distribution(prior.text).log_prob(value)


class ParameterVector:
    """Every sampled quantity packed into one unconstrained vector.

    NUTS then carries a single array instead of a dict of many (XLA compiles a state with one
    leaf about a second faster for a brms-sized model); the transforms to positive values and to
    correlation Cholesky factors are applied here, with their log-Jacobians.
    """

    def __init__(self, layout: ModelLayout):
        blocks = []
        if layout.intercept:
            blocks.append(("Intercept", (), "real"))
        if layout.b_names:
            blocks.append(("b", (len(layout.b_names),), "real"))
        for g in layout.groups:
            p = len(g.columns)
            blocks.append((f"sd_{g.index}", (p,), "positive"))
            blocks.append((f"z_{g.index}", (p, g.n_levels), "real"))
            if g.correlated:
                blocks.append((f"L_{g.index}", (p * (p - 1) // 2,), f"corr{p}"))
        for param in layout.family_params:
            blocks.append((param, (), "positive"))
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
            elif kind.startswith("corr"):
                chol, jac = cholesky_corr_from_unconstrained(raw, int(kind[4:]))
                values[name] = chol
                log_jac = log_jac + jac
            else:
                values[name] = raw.reshape(shape)
        return values, log_jac

    def unpack_draws(self, flat_draws: np.ndarray) -> dict:
        """(chains, draws, size) -> dict of (chains, draws, ...) constrained arrays (numpy, no JIT)."""
        from .lkj import cholesky_corr_numpy

        chains, n = flat_draws.shape[:2]
        values, start = {}, 0
        for (name, shape, kind), size in zip(self.blocks, self.sizes):
            raw = flat_draws[..., start : start + size]
            start += size
            if kind == "positive":
                values[name] = np.exp(raw).reshape(chains, n, *shape)
            elif kind.startswith("corr"):
                values[name] = cholesky_corr_numpy(raw, int(kind[4:]))
            else:
                values[name] = raw.reshape(chains, n, *shape)
        return values


def make_model(design: Design, layout: ModelLayout, likelihood: Likelihood):
    """The NumPyro model ``model(prior_only=False)`` (one site, ``params``) and its :class:`ParameterVector`."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    names = list(design.fixed.column_names)
    b_cols = [i for i, n in enumerate(names) if n != "(Intercept)"]
    xc = jnp.asarray(design.fixed.matrix[:, b_cols] - layout.x_means) if b_cols else None
    codes = [jnp.asarray(t.codes) for t in design.terms]
    zs = [jnp.asarray(t.z) for t in design.terms]
    offset = jnp.asarray(design.offset) if design.offset is not None else 0.0
    data = likelihood.data(design)
    priors = layout.priors
    vector = ParameterVector(layout)

    def log_prior(v) -> float:
        total = 0.0
        if layout.intercept:
            total = total + prior_log_density(priors["Intercept", "", ""], v["Intercept"])
        for i, c in enumerate(layout.b_names):
            total = total + prior_log_density(priors["b", c, ""], v["b"][i])
        for g in layout.groups:
            sd = v[f"sd_{g.index}"]
            for i, c in enumerate(g.columns):
                total = total + prior_log_density(priors["sd", c, g.group], sd[i])
            total = total - 0.5 * jnp.sum(v[f"z_{g.index}"] ** 2)
            if g.correlated:
                eta_lkj = parse_prior_text(priors["cor", "", g.group].text)[1][0]
                total = total + lkj_cholesky_log_density(v[f"L_{g.index}"], eta_lkj)
        for param in layout.family_params:
            total = total + prior_log_density(priors[param, "", ""], v[param])
        return total

    def linear_predictor(v):
        eta = offset
        if layout.intercept:
            eta = eta + v["Intercept"]
        if layout.b_names:
            eta = eta + xc @ v["b"]
        for g, code, z_obs in zip(layout.groups, codes, zs):
            sd, z = v[f"sd_{g.index}"], v[f"z_{g.index}"]
            scaled = sd[:, None] * v[f"L_{g.index}"] if g.correlated else sd[:, None]
            r = (scaled @ z).T if g.correlated else (scaled * z).T
            eta = eta + jnp.sum(z_obs * r[code], axis=1)
        return eta

    def model(prior_only: bool = False):
        flat = numpyro.sample("params", dist.ImproperUniform(dist.constraints.real, (), (vector.size,)))
        values, log_jac = vector.unpack(flat)
        numpyro.factor("prior", log_prior(values) + log_jac)
        if not prior_only:
            extra = {p: values[p] for p in layout.family_params}
            numpyro.sample("y", likelihood.distribution(linear_predictor(values), extra, data), obs=data["y"])

    return model, vector


def has_improper_prior(layout: ModelLayout) -> list[str]:
    return [f"{c}{' ' + coef if coef else ''}" for (c, coef, g), p in layout.priors.items() if not p.text]
