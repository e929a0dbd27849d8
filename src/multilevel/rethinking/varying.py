"""Varying intercepts and slopes of an ulam model, read off its lines (the cafés picture).

In ``mu <- a_cafe[cafe] + b_cafe[cafe] * afternoon`` the parameter multiplied by a data column is
the slope (``b_cafe``, predictor ``afternoon``) and the other parameter indexed by the same column is
the intercept (``a_cafe``). The population is the distribution that pools them, evaluated at every
draw: ``c(a_cafe, b_cafe)[cafe] ~ multi_normal(c(a, b), Rho, sigma_cafe)`` gives its mean and
covariance; two separate priors give a diagonal covariance. Both are averaged over the posterior.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ..results.varying import VaryingEffects
from .logdensity import distribution, evaluate
from .parse import BinOp, Index, Name


def _products(node):
    """(parameter, index column, data column) for every ``p[g] * x`` or ``x * p[g]`` in an expression."""
    if isinstance(node, BinOp):
        if node.op == "*":
            for side, other in ((node.left, node.right), (node.right, node.left)):
                if isinstance(side, Index) and isinstance(side.target, Name) and len(side.indices) == 1 \
                        and isinstance(side.indices[0], Name) and isinstance(other, Name):
                    yield side.target.id, side.indices[0].id, other.id
        yield from _products(node.left)
        yield from _products(node.right)
    for child in getattr(node, "args", ()):
        yield from _products(child)


def varying_effects(fit, group=None, slope=None) -> VaryingEffects:
    codes, levels, name = fit.grouping(group)
    terms = [p for p, column in fit._indices.items() if column == name and p in fit.graph.parameters]
    statements = list(fit.graph.definitions) + list(fit.graph.likelihoods)
    products = [(p, x) for stmt in statements for p, g, x in _products(stmt.expr)
                if g == name and p in terms and x in fit.graph.data and x != name]
    if slope is not None:
        products = [(p, x) for p, x in products if x == slope]
    if not products:
        raise ArgumentError(f"no parameter indexed by {name!r} multiplies a data column"
                            + (f" named {slope!r}" if slope else "") + "; a varying slope is written like "
                            f"b[{name}] * x")
    slope_param, predictor = products[0]
    intercepts = [p for p in terms if p != slope_param]
    if not intercepts:
        raise ArgumentError(f"no varying intercept indexed by {name!r} next to the slope {slope_param!r}")
    intercept_param = intercepts[0]
    draws = {p: fit.samples[p].reshape(-1, fit.samples[p].shape[2]) for p in (intercept_param, slope_param)}
    model = np.column_stack([draws[intercept_param].mean(0), draws[slope_param].mean(0)])
    mean, covariance = _population(fit, intercept_param, slope_param)
    return VaryingEffects(name, pd.Index(levels), np.asarray(codes), np.asarray(fit.graph.data[predictor], float),
                          np.asarray(fit.observed(), float), model, mean, covariance,
                          (intercept_param, slope_param), predictor)


def _prior_of(fit, parameter: str):
    return next(s for s in fit.graph.priors if parameter in s.target.names)


def _population(fit, intercept: str, slope: str) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean of the pooling distribution's mean vector and covariance matrix."""
    from .predict import evaluate_draws, parameter_draws

    values = parameter_draws(fit)
    first, second = _prior_of(fit, intercept), _prior_of(fit, slope)
    if first is second:  # c(a, b)[g] ~ multi_normal(...)
        order = [first.target.names.index(intercept), first.target.names.index(slope)]

        call = first.expr  # multi_normal(Mu, Rho, sigma): covariance diag(sigma) Rho diag(sigma)

        def moments(env):
            import jax.numpy as jnp

            k = len(first.target.names)
            mean = jnp.broadcast_to(evaluate(call.args[0], env), (k,))
            rho = evaluate(call.args[1], env)
            scale = jnp.broadcast_to(jnp.atleast_1d(evaluate(call.args[2], env)), (k,))
            return mean, scale[:, None] * rho * scale[None, :]

        means, covs = evaluate_draws(fit, values, fit.density.data, moments)
        means, covs = np.asarray(means).reshape(-1, means.shape[-1]), np.asarray(covs)
        covs = covs.reshape(-1, *covs.shape[-2:])
        return means.mean(0)[order], covs.mean(0)[np.ix_(order, order)]

    def moments(env):
        a = distribution(first.expr, env, first.line)
        b = distribution(second.expr, env, second.line)
        return a.mean, a.variance, b.mean, b.variance

    ma, va, mb, vb = (np.asarray(v).reshape(np.asarray(v).shape[0], -1)[:, 0]
                      for v in evaluate_draws(fit, values, fit.density.data, moments))
    return np.array([ma.mean(), mb.mean()]), np.diag([va.mean(), vb.mean()])
