"""Model graph -> JAX log density on one unconstrained vector (sampled by the brm engine's NUTS).

Expressions are evaluated from their AST with jax.numpy; data indices are 1-based as in R.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..errors import ModelError, MultilevelError
from .graph import CUSTOM, STAN_DENSITIES, ModelGraph
from .parse import FLAT, BinOp, Call, Compare, Index, Name, Neg, Num, UlamSyntaxError


def evaluate(node, env: dict):
    """An expression's value from ``env`` (data, parameters, definitions), with jax.numpy.

    Parts that depend on data alone are computed while tracing (``ensure_compile_time_eval``), so
    indices are concrete and are checked against the shape they index, even for ``link(newdata)``.
    """
    import jax

    with jax.ensure_compile_time_eval():
        return _evaluate(node, env)


def _evaluate(node, env: dict):
    import jax.numpy as jnp

    if isinstance(node, Num):
        return jnp.asarray(node.value, dtype=float)  # IEEE arithmetic: 1/0 is inf, never ZeroDivisionError
    if isinstance(node, Name):
        return env[node.id]
    if isinstance(node, Neg):
        return -_evaluate(node.operand, env)
    if isinstance(node, BinOp):
        a, b = _evaluate(node.left, env), _evaluate(node.right, env)
        if node.op == "^":
            return jnp.power(jnp.asarray(a, dtype=float), b)
        if node.op == "%*%":  # R's matrix product: data matrix %*% coefficient vector
            return jnp.matmul(jnp.asarray(a, dtype=float), jnp.asarray(b, dtype=float))
        return {"+": jnp.add, "-": jnp.subtract, "*": jnp.multiply, "/": jnp.true_divide}[node.op](a, b)
    if isinstance(node, Index):
        target = jnp.asarray(_evaluate(node.target, env))
        if len(node.indices) > target.ndim:
            raise IndexError(f"{node.target.id if isinstance(node.target, Name) else 'the value'} has "
                             f"{target.ndim} dimension{'' if target.ndim == 1 else 's'} but is indexed with "
                             f"{len(node.indices)}")
        indices = tuple(_index(_evaluate(i, env), target.shape[axis], node)
                        for axis, i in enumerate(node.indices))
        return target[indices]
    if isinstance(node, Compare):
        a, b = _evaluate(node.left, env), _evaluate(node.right, env)
        return {"==": jnp.equal, "!=": jnp.not_equal, ">": jnp.greater, "<": jnp.less, ">=": jnp.greater_equal,
                "<=": jnp.less_equal}[node.op](a, b)
    if isinstance(node, Call):
        args = [_evaluate(a, env) for a in node.args]
        if node.func in STAN_DENSITIES:  # normal_lpdf(y | mu, sigma): one log density per element
            return stan_density(node.func, args[1:]).log_prob(args[0])
        if node.func == "c":
            return jnp.stack(jnp.broadcast_arrays(*[jnp.asarray(a, dtype=float) for a in args]), axis=-1)
        if node.func == "rep_vector":  # its length is a whole number written in the model (checks.py)
            return jnp.full(int(node.args[1].value), args[0], dtype=float)
        if node.func in _functions():
            return _functions()[node.func](*args)
        raise UlamSyntaxError(f"unknown function {node.func!r}")  # checked when the graph is built
    raise UlamSyntaxError(f"cannot evaluate {node!r}")  # pragma: no cover


def _index(values, size: int, node):
    """1-based index values -> 0-based; concrete ones (data) must be whole numbers 1..size (JAX would
    clamp or wrap the others silently). checks.py has rejected indices that depend on parameters."""
    import jax
    import jax.numpy as jnp

    if not isinstance(values, jax.core.Tracer):
        concrete = np.asarray(values)
        if concrete.dtype.kind not in "biuf" or concrete.size and not (
                np.all(np.isfinite(concrete)) and np.all(concrete == np.round(concrete))
                and concrete.min() >= 1 and concrete.max() <= size):
            shown = concrete.ravel()[:1]
            raise IndexError(f"an index of {_label(node)} holds values outside 1..{size} "
                             f"(e.g. {shown[0] if shown.size else ''}); indices are whole numbers from 1")
    return jnp.asarray(values).astype(int) - 1


def _label(node) -> str:
    return repr(node.target.id) if isinstance(node.target, Name) else "an expression"


def _functions() -> dict:
    import jax
    import jax.numpy as jnp
    import jax.scipy.special as jsp

    return {
        "exp": jnp.exp, "log": jnp.log, "inv_logit": jsp.expit, "logit": jsp.logit, "sqrt": jnp.sqrt,
        "abs": jnp.abs, "log1p": jnp.log1p, "expm1": jnp.expm1, "inv": lambda x: 1.0 / x,
        "square": lambda x: x * x, "sum": jnp.sum, "mean": jnp.mean, "pow": lambda x, y: jnp.power(x * 1.0, y),
        "softmax": jax.nn.softmax, "log_sum_exp": _log_sum_exp, "cumulative_sum": jnp.cumsum,
        "dot": _dot, "dot_product": _dot, "log1m": lambda x: jnp.log1p(-x), "log_mix": _log_mix,
        "log_inv_logit": jax.nn.log_sigmoid, "log1m_inv_logit": lambda x: jax.nn.log_sigmoid(-x),
        "log1m_exp": _log1m_exp,
    }


def _log_sum_exp(*args):
    """Stan's log_sum_exp: of one vector, over its elements; of two or more values, elementwise
    (``log_sum_exp(lp1, lp2)`` per row, as custom() lines use it)."""
    import jax.numpy as jnp
    import jax.scipy.special as jsp

    if len(args) == 1:
        return jsp.logsumexp(args[0])
    out = jnp.asarray(args[0], dtype=float)
    for arg in args[1:]:
        out = jnp.logaddexp(out, arg)
    return out


def _log_mix(theta, lp1, lp2):
    """Stan's log_mix(theta, lp1, lp2) = log(theta exp(lp1) + (1 - theta) exp(lp2)), computed as
    log_sum_exp(log(theta) + lp1, log1m(theta) + lp2)."""
    import jax.numpy as jnp

    return jnp.logaddexp(jnp.log(theta) + lp1, jnp.log1p(-theta) + lp2)


def _log1m_exp(x):
    """log(1 - exp(x)) for x < 0, accurate near 0 and far below it (Stan's log1m_exp)."""
    import jax.numpy as jnp

    return jnp.where(x > -0.6931471805599453, jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def stan_density(func: str, a: list):
    """The NumPyro distribution of one of Stan's density calls (:data:`graph.STAN_DENSITIES`), in
    Stan's parameterisation; ``a`` are the arguments after the bar."""
    import jax.numpy as jnp
    import numpyro.distributions as dist

    builders = {
        "normal_lpdf": lambda: dist.Normal(a[0], a[1], validate_args=False),
        "cauchy_lpdf": lambda: dist.Cauchy(a[0], a[1], validate_args=False),
        "student_t_lpdf": lambda: dist.StudentT(a[0], a[1], a[2], validate_args=False),
        "lognormal_lpdf": lambda: dist.LogNormal(a[0], a[1], validate_args=False),
        "exponential_lpdf": lambda: dist.Exponential(a[0], validate_args=False),
        "gamma_lpdf": lambda: dist.Gamma(a[0], a[1], validate_args=False),
        "beta_lpdf": lambda: dist.Beta(a[0], a[1], validate_args=False),
        "uniform_lpdf": lambda: dist.Uniform(a[0], a[1], validate_args=False),
        "binomial_lpmf": lambda: dist.Binomial(total_count=a[0], probs=a[1], validate_args=False),
        "binomial_logit_lpmf": lambda: dist.Binomial(total_count=a[0], logits=a[1], validate_args=False),
        "bernoulli_lpmf": lambda: dist.Bernoulli(probs=a[0], validate_args=False),
        "bernoulli_logit_lpmf": lambda: dist.Bernoulli(logits=a[0], validate_args=False),
        "poisson_lpmf": lambda: dist.Poisson(a[0], validate_args=False),
        "poisson_log_lpmf": lambda: dist.Poisson(jnp.exp(a[0]), validate_args=False),
        "neg_binomial_2_lpmf": lambda: dist.NegativeBinomial2(a[0], a[1], validate_args=False),
        "neg_binomial_2_log_lpmf": lambda: dist.NegativeBinomial2(jnp.exp(a[0]), a[1], validate_args=False),
        "beta_binomial_lpmf": lambda: dist.BetaBinomial(a[1], a[2], total_count=a[0], validate_args=False),
    }
    return builders[func]()


def _dot(a, b):
    """Stan's dot_product: the sum of elementwise products over the last axis (a row of a matrix
    with a vector, or two vectors)."""
    import jax.numpy as jnp

    return jnp.sum(jnp.asarray(a, dtype=float) * jnp.asarray(b, dtype=float), axis=-1)


def distribution(call: Call, env: dict, line: str = ""):
    """A NumPyro distribution from a call such as normal(mu, sigma), with rethinking's aliases.

    The number of arguments is checked when the graph is built (:func:`graph.check_arity`). Arguments
    are not validated: a negative scale drawn by the sampler gives a NaN density (a rejected step), as
    in Stan, rather than NumPyro's ValueError on concrete values; :mod:`checks` warns about such priors.
    """
    import numpyro.distributions as dist

    a = [evaluate(x, env) for x in call.args]
    f = call.func
    if f in ("normal", "dnorm"):
        return dist.Normal(a[0], a[1], validate_args=False)
    if f in ("half_normal", "dhalfnorm"):
        return dist.Normal(a[0], a[1], validate_args=False)  # bounded below by the parameter's constraint
    if f in ("cauchy", "dcauchy", "half_cauchy", "dhalfcauchy"):
        return dist.Cauchy(a[0], a[1], validate_args=False)
    if f in ("student_t", "dstudent"):
        return dist.StudentT(a[0], a[1], a[2], validate_args=False)
    if f in ("exponential", "dexp"):
        return dist.Exponential(a[0], validate_args=False)
    if f in ("gamma", "dgamma"):
        return dist.Gamma(a[0], a[1], validate_args=False)
    if f in ("beta", "dbeta"):
        return dist.Beta(a[0], a[1], validate_args=False)
    if f in ("lognormal", "dlnorm"):
        return dist.LogNormal(a[0], a[1], validate_args=False)
    if f in ("binomial", "dbinom"):
        return dist.Binomial(total_count=a[0], probs=a[1], validate_args=False)
    if f == "bernoulli":
        return dist.Bernoulli(probs=a[0], validate_args=False)
    if f in ("poisson", "dpois"):
        return dist.Poisson(a[0], validate_args=False)
    if f in ("gamma_poisson", "dgampois"):
        return dist.NegativeBinomial2(a[0], a[1], validate_args=False)
    if f in ("beta_binomial", "dbetabinom"):
        return dist.BetaBinomial(a[1] * a[2], (1 - a[1]) * a[2], total_count=a[0], validate_args=False)
    if f in ("uniform", "dunif"):  # the parameter's bounds come from the arguments (graph._constraint)
        return dist.Uniform(a[0], a[1], validate_args=False)
    if f in ("dirichlet", "ddirichlet"):
        return dist.Dirichlet(a[0], validate_args=False)
    if f in ("zero_inflated_poisson", "dzipois"):  # rethinking's dzipois(p, lambda): p the zero share
        return dist.ZeroInflatedPoisson(a[0], a[1], validate_args=False)
    if f in CUSTOM:
        raise ModelError(f"{f}() is a log density written out, not a distribution: it cannot be simulated and has "
                         f"no mean (rethinking's sim cannot simulate it either)\n  {line.strip()}")
    if f in ("ordered_logistic", "dordlogit"):  # Stan's ordered_logistic(phi, c) on outcomes 1..K
        return OneBased(dist.OrderedLogistic(a[0], a[1], validate_args=False))
    if f in ("categorical", "dcategorical"):
        return OneBased(dist.Categorical(probs=a[0], validate_args=False))
    raise UlamSyntaxError(f"distribution {f!r} is not supported here", line)


@contextmanager
def on_line(stmt):
    """Errors JAX or NumPyro raise while a line is evaluated (shapes that do not broadcast, a vector
    used where a matrix is needed) become a ModelError that quotes the line."""
    try:
        yield
    except MultilevelError:
        raise
    except (TypeError, ValueError, IndexError, ArithmeticError) as exc:  # ArithmeticError: JAX's shape code
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"line {stmt.line_no} cannot be evaluated: {reason}\n  {stmt.line.strip()}") from exc


def OneBased(base):  # noqa: N802 - reads as the distribution it wraps
    """A distribution on 0..K-1 read on R's 1..K (rethinking's ordered and categorical outcomes)."""
    import numpyro.distributions as dist

    class _OneBased(dist.Distribution):
        def __init__(self, inner):
            self.inner = inner
            self.k = inner.probs.shape[-1] if isinstance(inner, dist.CategoricalProbs) else inner.cutpoints.shape[-1] + 1
            super().__init__(inner.batch_shape, inner.event_shape, validate_args=False)

        def sample(self, key, sample_shape=()):
            return self.inner.sample(key, sample_shape) + 1

        def log_prob(self, value):
            import jax

            if not isinstance(value, jax.core.Tracer):  # data: JAX would clamp an outcome out of range
                v = np.asarray(value, dtype=float)
                if v.size and (np.any(v != np.round(v)) or v.min() < 1 or v.max() > self.k):
                    raise ValueError(f"outcomes must be whole numbers 1..{self.k} (the model has {self.k} "
                                     f"categories), but range from {v.min():g} to {v.max():g}")
            return self.inner.log_prob(value - 1)

    return _OneBased(base)


BOUNDED = ("lower", "upper", "interval", "ordered", "simplex")  # constraints through NumPyro's bijections


def _transform(p):
    """The unconstrained -> constrained bijection of a bounded, ordered or simplex parameter: NumPyro's
    (``biject_to``: exp shifted by the bound, scaled logistic, cumulative exp, Stan's stick breaking)."""
    from numpyro.distributions import constraints
    from numpyro.distributions.transforms import biject_to

    support = {"lower": lambda: constraints.greater_than(p.lower), "upper": lambda: constraints.less_than(p.upper),
               "interval": lambda: constraints.interval(p.lower, p.upper),
               "ordered": lambda: constraints.ordered_vector, "simplex": lambda: constraints.simplex}[p.constraint]()
    return biject_to(support)


class UlamDensity:
    """Packs the parameters into one unconstrained vector; log density; definitions for link()."""

    def __init__(self, graph: ModelGraph):
        self.graph = graph
        self.blocks = []
        for p in graph.parameters.values():
            if p.constraint == "corr":
                size = p.shape[0] * (p.shape[0] - 1) // 2
            elif p.constraint == "simplex":
                size = p.shape[0] - 1  # K - 1 free values (stick breaking)
            else:
                size = int(np.prod(p.shape)) if p.shape else 1
            self.blocks.append((p, size))
        self.size = sum(size for _, size in self.blocks)
        import jax.numpy as jnp

        self.data = {k: jnp.asarray(v) for k, v in graph.data.items()}

    def unpack(self, flat):
        """(values, cholesky factors of correlation parameters, log |Jacobian|)."""
        import jax.numpy as jnp
        import jax.scipy.special as jsp

        from ..bayes.lkj import cholesky_corr_from_unconstrained

        values, chols, log_jac, start = {}, {}, 0.0, 0
        for p, size in self.blocks:
            raw = flat[start : start + size]
            start += size
            if p.constraint == "positive":
                value = jnp.exp(raw)
                log_jac = log_jac + jnp.sum(raw)
            elif p.constraint == "unit":
                value = jsp.expit(raw)
                log_jac = log_jac + jnp.sum(jnp.log(value) + jnp.log1p(-value))
            elif p.constraint == "corr":
                chol, jac = cholesky_corr_from_unconstrained(raw, p.shape[0])
                chols[p.name] = chol
                value = chol @ chol.T
                log_jac = log_jac + jac
                values[p.name] = value
                continue
            elif p.constraint in BOUNDED:
                transform = _transform(p)
                value = transform(raw)
                log_jac = log_jac + jnp.sum(transform.log_abs_det_jacobian(raw, value))
            else:
                value = raw
            values[p.name] = value.reshape(p.shape) if p.shape else value[0]
        return values, chols, log_jac

    def environment(self, values: dict, data: dict | None = None) -> dict:
        env = dict(self.data if data is None else data)
        env.update(values)
        for stmt in self.graph.definitions:
            with on_line(stmt):
                value = evaluate(stmt.expr, env)
            link = stmt.target.link
            if link == "logit":
                import jax.scipy.special as jsp

                value = jsp.expit(value)
            elif link == "log":
                import jax.numpy as jnp

                value = jnp.exp(value)
            env[stmt.target.names[0]] = value
        return env

    def log_prior(self, env: dict, chols: dict):
        total = 0.0
        for stmt in self.graph.priors:
            with on_line(stmt):
                total = total + self._log_prior(stmt, env, chols)
        return total

    def _log_prior(self, stmt, env, chols):
        import jax.numpy as jnp

        from ..bayes.lkj import lkj_cholesky_log_density

        call = stmt.expr
        if call.func == FLAT:  # declared without a prior: constant over the parameter's support
            return 0.0
        if call.func in ("lkj_corr", "dlkjcorr"):
            eta = evaluate(call.args[0], env)
            if jnp.ndim(eta) != 0:
                raise ModelError(f"the eta of {call.func}() must be a single number (line {stmt.line_no}: "
                                 f"{stmt.line.strip()})")
            return lkj_cholesky_log_density(chols[stmt.target.names[0]], eta)
        if call.func in ("multi_normal", "dmvnorm", "dmvnorm2"):
            return self._multi_normal(stmt, env, chols)
        d = distribution(call, env, stmt.line)
        return sum(jnp.sum(_log_prob(d, env[name], name, stmt)) for name in stmt.target.names)

    def _multi_normal(self, stmt, env, chols):
        import jax.numpy as jnp
        import numpyro.distributions as dist

        call = stmt.expr
        mean = evaluate(call.args[0], env)
        rho_node, scale = call.args[1], jnp.atleast_1d(evaluate(call.args[2], env))
        chol = chols.get(rho_node.id) if isinstance(rho_node, Name) else None
        if chol is None:
            rho = evaluate(rho_node, env)
            if jnp.ndim(rho) != 2:
                raise ModelError(f"the Rho of {call.func}() must be a correlation matrix (a parameter with an "
                                 f"lkj_corr prior), not {jnp.ndim(rho)}-dimensional (line {stmt.line_no}: "
                                 f"{stmt.line.strip()})")
            chol = jnp.linalg.cholesky(rho)
        k = len(stmt.target.names)
        for what, shape in (("Mu", jnp.shape(mean)), ("sigma", scale.shape)):
            if shape and shape[-1] not in (1, k):
                raise ModelError(f"the {what} of {call.func}() has {shape[-1]} elements along its last axis, but "
                                 f"the left side has {k} name{'' if k == 1 else 's'} (line {stmt.line_no}: "
                                 f"{stmt.line.strip()})")
        if scale.ndim > 1:
            raise ModelError(f"the sigma of {call.func}() must be a vector of {k} scales, not an array shaped "
                             f"{scale.shape} (line {stmt.line_no}: {stmt.line.strip()})")
        if chol.shape != (k, k):
            raise ModelError(f"the Rho of {call.func}() is {chol.shape[0]} x {chol.shape[1]}, but the left side has "
                             f"{k} name{'' if k == 1 else 's'} (line {stmt.line_no}: {stmt.line.strip()})")
        values = jnp.stack([env[n] for n in stmt.target.names], axis=-1)
        normal = dist.MultivariateNormal(mean, scale_tril=scale[..., :, None] * chol, validate_args=False)
        return jnp.sum(normal.log_prob(values))

    def log_likelihood_terms(self, env: dict) -> list:
        """Pointwise log-likelihood arrays, one per observed variable of each likelihood statement.

        Lines with a condition (``y|y==0 ~ ...``, ``y|y>0 ~ ...``) add their terms on the rows they
        select (0 elsewhere), and the lines on one variable are summed: one term per row of ``y``,
        as rethinking's log_lik is.
        """
        import jax.numpy as jnp

        conditional = {stmt.target.names[0] for stmt in self.graph.likelihoods if stmt.target.condition is not None}
        terms = {}
        for stmt in self.graph.likelihoods:
            with on_line(stmt):
                for name in stmt.target.names:
                    term = _likelihood_term(stmt, env, name)
                    if stmt.target.condition is not None:
                        term = jnp.where(evaluate(stmt.target.condition, env), term, 0.0)
                    key = name if name in conditional else (stmt.line_no, name)
                    terms[key] = term + terms[key] if key in terms else term
        return list(terms.values())

    def log_density(self, flat):
        """The log posterior density (up to a constant) at one unconstrained vector, Jacobian included."""
        values, chols, log_jac = self.unpack(flat)
        env = self.environment(values)
        total = self.log_prior(env, chols) + log_jac
        for term in self.log_likelihood_terms(env):
            total = total + term.sum()
        return total

    def model(self):
        import numpyro
        import numpyro.distributions as dist

        flat = numpyro.sample("params", dist.ImproperUniform(dist.constraints.real, (), (self.size,)))
        numpyro.factor("log_density", self.log_density(flat))


def _likelihood_term(stmt, env: dict, name: str):
    """The log density of each element of the observed ``name`` on a likelihood line: the
    distribution's, or custom()'s expression (one value a row, or one for all, repeated)."""
    import jax.numpy as jnp

    if stmt.expr.func not in CUSTOM:
        return _log_prob(distribution(stmt.expr, env, stmt.line), env[name], name, stmt)
    value = env[name]
    term = jnp.asarray(evaluate(stmt.expr.args[0], env), dtype=float)
    try:
        fits = np.broadcast_shapes(jnp.shape(term), jnp.shape(value)) == jnp.shape(value)
    except ValueError:
        fits = False
    if not fits:
        raise ModelError(f"custom() on line {stmt.line_no} gives a log density shaped {jnp.shape(term)}, but {name!r} "
                         f"has shape {jnp.shape(value)}: it needs one value for each row (or one for all)\n  "
                         f"{stmt.line.strip()}")
    return jnp.broadcast_to(term, jnp.shape(value))


def _log_prob(d, value, name: str, stmt):
    """One log density per element of ``value``: arguments shaped otherwise would broadcast silently
    (``y`` of 2 rows against a 2 x 2 mean gives 4 terms), so they are an error."""
    import jax.numpy as jnp

    log_prob = d.log_prob(value)
    events = len(d.event_shape)  # a Dirichlet scores a whole vector: one density, not one per element
    if jnp.shape(log_prob) != jnp.shape(value)[: jnp.ndim(value) - events]:
        raise ModelError(f"{name!r} has shape {jnp.shape(value)} but the arguments of {stmt.expr.func}() have shape "
                         f"{tuple(d.batch_shape)} (line {stmt.line_no}: {stmt.line.strip()}): each element needs "
                         "one argument value, or one for all")
    return log_prob


def trace_log_density(density: UlamDensity, flat=None):
    """Trace the log density once, as the sampler will (no compilation): a model that cannot be
    evaluated fails here, with its line quoted, before NUTS is compiled."""
    import jax
    import jax.numpy as jnp

    flat = jnp.zeros(density.size) if flat is None else jnp.asarray(flat, dtype=float)
    shape = jax.eval_shape(density.log_density, flat)
    if shape.shape != ():
        raise ModelError(f"the log density is not a single number but has shape {shape.shape}: "
                         "a likelihood or prior line has arguments whose shapes do not match")
    return flat


def initial_log_density(density: UlamDensity, flat=None, gradient: bool = False):
    """The log density (and its gradient) at ``flat`` (all zeros: the middle of every constraint).

    Traced first (:func:`trace_log_density`), then evaluated op by op, which for one point is far
    quicker than compiling. Invalid arguments give NaN, as in the sampler. Returns a float, or
    (float, numpy gradient).

    Examples
    --------
    >>> graph = build_graph(parse_model("y ~ dnorm(mu, 1)\\nmu ~ dnorm(0, 1)"), {"y": [0.5]})
    >>> initial_log_density(UlamDensity(graph))  # doctest: +SKIP
    """
    import jax

    import numpyro

    flat = trace_log_density(density, flat)
    with numpyro.validation_enabled(False):  # NumPyro checks concrete arguments; the sampler never does
        if gradient:
            value, grad = jax.value_and_grad(density.log_density)(flat)
            return float(value), np.asarray(grad)
        return float(density.log_density(flat))
