"""Model graph -> JAX log density on one unconstrained vector (sampled by the brm engine's NUTS).

Expressions are evaluated from their AST with jax.numpy; data indices are 1-based as in R.
"""
from __future__ import annotations

import numpy as np

from .graph import ModelGraph
from .parse import BinOp, Call, Index, Name, Neg, Num, UlamSyntaxError


def evaluate(node, env: dict):
    import jax.numpy as jnp
    import jax.scipy.special as jsp

    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        return env[node.id]
    if isinstance(node, Neg):
        return -evaluate(node.operand, env)
    if isinstance(node, BinOp):
        a, b = evaluate(node.left, env), evaluate(node.right, env)
        return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
                "^": lambda: a**b}[node.op]()
    if isinstance(node, Index):
        target = evaluate(node.target, env)
        indices = tuple(jnp.asarray(evaluate(i, env)).astype(int) - 1 for i in node.indices)
        return target[indices]
    if isinstance(node, Call):
        args = [evaluate(a, env) for a in node.args]
        f = node.func
        table = {
            "exp": jnp.exp, "log": jnp.log, "inv_logit": jsp.expit, "logit": jsp.logit, "sqrt": jnp.sqrt,
            "abs": jnp.abs, "log1p": jnp.log1p, "expm1": jnp.expm1, "inv": lambda x: 1.0 / x,
            "square": lambda x: x * x, "sum": jnp.sum, "mean": jnp.mean,
        }
        if f in table:
            return table[f](*args)
        if f == "c":
            return jnp.stack([jnp.asarray(a, dtype=float) for a in args], axis=-1)
        if f == "pow":
            return args[0] ** args[1]
        raise UlamSyntaxError(f"unknown function {f!r}")
    raise UlamSyntaxError(f"cannot evaluate {node!r}")  # pragma: no cover


def distribution(call: Call, env: dict, line: str = ""):
    """A NumPyro distribution from a call such as normal(mu, sigma), with rethinking's aliases."""
    import numpyro.distributions as dist

    a = [evaluate(x, env) for x in call.args]
    f = call.func
    try:
        if f in ("normal", "dnorm"):
            return dist.Normal(a[0], a[1])
        if f in ("half_normal", "dhalfnorm"):
            return dist.Normal(a[0], a[1])  # bounded below by the parameter's constraint
        if f in ("cauchy", "dcauchy", "half_cauchy", "dhalfcauchy"):
            return dist.Cauchy(a[0], a[1])
        if f in ("student_t", "dstudent"):
            return dist.StudentT(a[0], a[1], a[2])
        if f in ("exponential", "dexp"):
            return dist.Exponential(a[0])
        if f in ("gamma", "dgamma"):
            return dist.Gamma(a[0], a[1])
        if f in ("beta", "dbeta"):
            return dist.Beta(a[0], a[1])
        if f in ("lognormal", "dlnorm"):
            return dist.LogNormal(a[0], a[1])
        if f in ("binomial", "dbinom"):
            return dist.Binomial(total_count=a[0], probs=a[1])
        if f == "bernoulli":
            return dist.Bernoulli(probs=a[0])
        if f in ("poisson", "dpois"):
            return dist.Poisson(a[0])
        if f in ("gamma_poisson", "dgampois"):
            return dist.NegativeBinomial2(a[0], a[1])
        if f in ("beta_binomial", "dbetabinom"):
            return dist.BetaBinomial(a[1] * a[2], (1 - a[1]) * a[2], total_count=a[0])
    except IndexError:
        raise UlamSyntaxError(f"{f}() has too few arguments", line) from None
    raise UlamSyntaxError(f"distribution {f!r} is not supported here", line)  # pragma: no cover


class UlamDensity:
    """Packs the parameters into one unconstrained vector; log density; definitions for link()."""

    def __init__(self, graph: ModelGraph):
        self.graph = graph
        self.blocks = []
        for p in graph.parameters.values():
            if p.constraint == "corr":
                size = p.shape[0] * (p.shape[0] - 1) // 2
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
            else:
                value = raw
            values[p.name] = value.reshape(p.shape) if p.shape else value[0]
        return values, chols, log_jac

    def environment(self, values: dict, data: dict | None = None) -> dict:
        env = dict(self.data if data is None else data)
        env.update(values)
        for stmt in self.graph.definitions:
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
        import jax.numpy as jnp

        from ..bayes.lkj import lkj_cholesky_log_density

        total = 0.0
        for stmt in self.graph.priors:
            call = stmt.expr
            if call.func in ("lkj_corr", "dlkjcorr"):
                eta = evaluate(call.args[0], env)
                total = total + lkj_cholesky_log_density(chols[stmt.target.names[0]], eta)
                continue
            if call.func in ("multi_normal", "dmvnorm", "dmvnorm2"):
                total = total + self._multi_normal(stmt, env, chols)
                continue
            d = distribution(call, env, stmt.line)
            for name in stmt.target.names:
                total = total + jnp.sum(d.log_prob(env[name]))
        return total

    def _multi_normal(self, stmt, env, chols):
        import jax.numpy as jnp
        import numpyro.distributions as dist

        call = stmt.expr
        mean = evaluate(call.args[0], env)
        rho_node, scale = call.args[1], evaluate(call.args[2], env)
        chol = chols.get(rho_node.id) if isinstance(rho_node, Name) else None
        if chol is None:
            chol = jnp.linalg.cholesky(evaluate(rho_node, env))
        values = jnp.stack([env[n] for n in stmt.target.names], axis=-1)
        return jnp.sum(dist.MultivariateNormal(mean, scale_tril=scale[..., :, None] * chol).log_prob(values))

    def log_likelihood_terms(self, env: dict) -> list:
        """Pointwise log-likelihood arrays, one per likelihood statement."""
        out = []
        for stmt in self.graph.likelihoods:
            d = distribution(stmt.expr, env, stmt.line)
            for name in stmt.target.names:
                out.append(d.log_prob(env[name]))
        return out

    def model(self):
        import numpyro
        import numpyro.distributions as dist

        flat = numpyro.sample("params", dist.ImproperUniform(dist.constraints.real, (), (self.size,)))
        values, chols, log_jac = self.unpack(flat)
        env = self.environment(values)
        total = self.log_prior(env, chols) + log_jac
        for term in self.log_likelihood_terms(env):
            total = total + term.sum()
        numpyro.factor("log_density", total)
