"""An ulam model evaluated at its draws: definitions (``link``), simulated data (``sim``), and the
first likelihood's linear predictor and mean, for the fit's data or new data.

Every result is (draws, rows): a definition that is one number a draw (``logit(p) <- a``) is
repeated over the rows, so that the shape never depends on how the model is written. Rows are
the observations (old data) or the rows of ``newdata`` (a DataFrame's length; for a dict, its
longest column).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ArgumentError, DataError
from ..options import whole_number
from ..results.protocol import MissingCapability
from .graph import CUSTOM, _columns, encode_index
from .logdensity import distribution, evaluate
from .parse import Call, Name, names_in

BINOMIAL = {"binomial", "dbinom", "beta_binomial", "dbetabinom"}
# which argument of a likelihood is its mean (or location): what linpred_draws reports on the link scale
MEAN_ARGUMENT = {"normal": 0, "dnorm": 0, "student_t": 1, "dstudent": 1, "cauchy": 0, "dcauchy": 0,
                 "binomial": 1, "dbinom": 1, "bernoulli": 0, "poisson": 0, "dpois": 0, "gamma_poisson": 0,
                 "dgampois": 0, "beta_binomial": 1, "dbetabinom": 1, "lognormal": 0, "dlnorm": 0}
_INVERSE_LINKS = {"inv_logit", "exp"}


def parameter_draws(fit, n=None, post: dict | None = None, positions=None) -> dict:
    """Parameters (constrained) as name -> (draws, ...): all draws, ``n`` evenly spaced ones, the
    draws at ``positions``, or rethinking's ``post`` (a dict as ``extract_samples`` returns)."""
    from .helpers import pick_draws

    names = list(fit.graph.parameters)
    if post is not None:
        if not isinstance(post, dict):
            raise ArgumentError(f"post must be a dict of draws (name -> (draws, ...)), not {type(post).__name__}")
        missing = [name for name in names if name not in post]
        if missing:
            raise ArgumentError(f"post lacks draws of {', '.join(map(repr, missing))}")
        values = {name: np.asarray(post[name], dtype=float) for name in names}
        sizes = {v.shape[0] if v.ndim else 0 for v in values.values()}
        for name, v in values.items():
            if v.shape[1:] != tuple(fit.graph.parameters[name].shape):
                raise ArgumentError(f"post[{name!r}] has shape {v.shape}, but {name!r} is "
                                    f"{fit.graph.parameters[name].shape or 'a single number'} a draw")
        if len(sizes) != 1 or 0 in sizes:
            raise ArgumentError("post's arrays must all have the same number of draws (first axis)")
    else:
        values = {name: fit.samples[name].reshape(-1, *fit.samples[name].shape[2:]) for name in names}
    total = next(iter(values.values())).shape[0] if values else 0
    keep = positions if positions is not None else pick_draws(total, n)
    return {name: v[keep] for name, v in values.items()}


def random_positions(total: int, ndraws, seed) -> np.ndarray | None:
    """brms's ``ndraws``: that many draws chosen at random (with ``seed``), in their original order."""
    if ndraws is None:
        return None
    ndraws = whole_number("ndraws", ndraws, 1, total)
    return np.sort(np.random.default_rng(seed).choice(total, ndraws, replace=False))


def data_environment(fit, newdata, statements) -> tuple[dict, int]:
    """(data for the model, rows): the fit's data, or ``newdata`` with text index columns coded as
    when fitting. Columns of one value per observation that ``statements`` use must be in
    ``newdata``; single numbers and other constants fall back to the fit's data."""
    import jax.numpy as jnp

    graph = fit.graph
    if newdata is None:
        return dict(fit.density.data), graph.nobs
    columns = _columns(newdata)
    for name, levels in graph.index_levels.items():
        if name in columns:
            columns[name] = encode_index(columns[name], levels, name)
    used = set().union(*[names_in(s.expr) | (names_in(s.target.index) if s.target.index is not None else set())
                         for s in statements])
    for name in sorted(used & set(columns)):
        if columns[name].dtype.kind not in "biuf":
            raise DataError(f"newdata column {name!r} holds {columns[name].dtype} values, but the model uses it "
                            "as a number")
    for stmt in statements:
        for name in sorted(names_in(stmt.expr)):
            per_row = name in graph.data and np.ndim(graph.data[name]) == 1 and len(graph.data[name]) == graph.nobs
            if per_row and name not in columns and graph.nobs > 1:
                raise DataError(f"newdata lacks column {name!r}, which has one value per observation "
                                f"(line {stmt.line_no}: {stmt.line.strip()})")
    env = dict(fit.density.data)
    env.update({name: jnp.asarray(values) for name, values in columns.items() if values.dtype.kind in "biuf"})
    if isinstance(newdata, pd.DataFrame):
        rows = len(newdata)
    else:
        lengths = [len(v) for v in columns.values() if np.ndim(v) == 1]
        rows = max(lengths) if lengths else 1
    return env, rows


def by_rows(values: np.ndarray, rows: int) -> np.ndarray:
    """(draws,) -> (draws, rows): one number a draw repeated over the rows; other shapes kept."""
    values = np.asarray(values)
    if values.ndim == 1:
        return np.repeat(values[:, None], rows, axis=1)
    return values


def evaluate_draws(fit, values: dict, env: dict, function, keys=None):
    """``function(model environment[, key])`` at every draw (vectorized and compiled with JAX)."""
    import jax

    density = fit.density

    def one(v, *key):
        return function(density.environment(v, env), *key)

    args = (values,) if keys is None else (values, keys)
    return jax.tree_util.tree_map(np.asarray, jax.jit(jax.vmap(one))(*args))


def definitions(fit, values: dict, env: dict, rows: int, names: list[str]) -> dict:
    out = evaluate_draws(fit, values, env, lambda e: {name: e[name] for name in names})
    return {name: by_rows(out[name], rows) for name in names}


def simulate(fit, values: dict, env: dict, rows: int, seed, statements=None) -> dict:
    """Posterior predictive draws of each observed variable of ``statements`` (all likelihoods)."""
    import jax

    statements = fit.graph.likelihoods if statements is None else statements
    for stmt in statements:
        can_simulate(stmt)
    count = next(iter(values.values())).shape[0]
    key = jax.random.PRNGKey(0 if seed is None else whole_number("seed", seed, 0, 2**63 - 1))
    out = {}
    for stmt in statements:
        for name in stmt.target.names:
            key, sub = jax.random.split(key)

            def draw(e, k, stmt=stmt):
                d = distribution(stmt.expr, e, stmt.line)
                return d.sample(k, (rows,)) if d.batch_shape == () else d.sample(k)

            out[name] = evaluate_draws(fit, values, env, draw, jax.random.split(sub, count))
    return out


def can_simulate(stmt) -> None:
    """custom() lines and lines on some rows only (``y|y>0 ~ ...``) cannot be simulated, as in rethinking."""
    if stmt.expr.func in CUSTOM:
        raise MissingCapability(f"cannot simulate line {stmt.line_no} ({stmt.line.strip()}): custom() is a log density "
                                "written out, not a distribution to draw from (rethinking's sim cannot simulate it "
                                "either); link() still gives the model's definitions")
    if stmt.target.condition is not None:
        raise MissingCapability(f"cannot simulate line {stmt.line_no} ({stmt.line.strip()}): its condition makes it "
                                "hold for some rows only; write the model with one distribution for all rows "
                                "(e.g. dzipois for a zero-inflated count) to simulate it")


# ---- the first likelihood: linear predictor, mean, trials ------------------------------------------
def first_likelihood(fit, question: str):
    if not fit.graph.likelihoods:
        raise MissingCapability(f"an ulam fit without a likelihood (data ~ ...) cannot answer {question}()")
    return fit.graph.likelihoods[0]


def linear_predictor(fit, stmt):
    """A function of the model environment: the likelihood's mean argument on its link scale
    (``logit(p) <- eta`` or ``p <- inv_logit(eta)``: eta; an identity link: the argument itself)."""
    func = stmt.expr.func
    if func not in MEAN_ARGUMENT:
        raise MissingCapability(f"linpred_draws needs a likelihood with a mean argument ({', '.join(sorted(MEAN_ARGUMENT))}); "
                                f"line {stmt.line_no} uses {func}()")
    node = stmt.expr.args[MEAN_ARGUMENT[func]]
    defined = {s.target.names[0]: s for s in fit.graph.definitions}
    linked = None
    if isinstance(node, Name) and node.id in defined:
        definition = defined[node.id]
        if definition.target.link is not None:
            linked = definition.expr
        elif isinstance(definition.expr, Call) and definition.expr.func in _INVERSE_LINKS and len(definition.expr.args) == 1:
            linked = definition.expr.args[0]
    elif isinstance(node, Call) and node.func in _INVERSE_LINKS and len(node.args) == 1:
        linked = node.args[0]
    target = node if linked is None else linked
    return lambda env: evaluate(target, env)


def expected_value(stmt):
    """A function of the model environment: the likelihood's mean on the response scale (binomial: n p)."""
    if stmt.expr.func in CUSTOM or stmt.target.condition is not None:
        raise MissingCapability(f"epred_draws needs a distribution with a mean; line {stmt.line_no} "
                                f"({stmt.line.strip()}) is {'custom()' if stmt.expr.func in CUSTOM else 'conditional'}")
    return lambda env: distribution(stmt.expr, env, stmt.line).mean


def trials(fit, stmt, env: dict, rows: int) -> np.ndarray | None:
    """Binomial trials per row (the size argument evaluated on the data); None for other likelihoods."""
    if stmt.expr.func not in BINOMIAL:
        return None
    size = stmt.expr.args[0]
    missing = names_in(size) - set(env)
    if missing:
        raise DataError(f"the binomial size {', '.join(sorted(missing))} is not in the data "
                        f"(line {stmt.line_no}: {stmt.line.strip()})")
    return np.broadcast_to(np.asarray(evaluate(size, env), dtype=float), (rows,)).copy()
