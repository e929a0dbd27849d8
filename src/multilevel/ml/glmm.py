"""Laplace and adaptive Gauss-Hermite deviance of a generalized linear mixed model.

For given theta (and beta), penalized iteratively reweighted least squares (PIRLS) finds the
conditional mode u of the spherical random effects, on the same blocked Cholesky factor as the
linear model with the working weights ``w = prior * mu_eta^2 / V(mu)``. Then, as lme4:

    Laplace:  -2 log p(y | u) + |u|^2 + log|L|^2

(for families with a dispersion -- gaussian with a non-identity link, Gamma, inverse Gaussian --
lme4 takes -2 log p(y | u) as the family's ``aic``: the dispersion is deviance / n at the modes and
2 is added for it; PIRLS and log|L| are those of the unit-dispersion problem, as in lme4)
    AGQ:      sum_g [ d_g(u_g) + |u_g|^2 + 2 log L_gg - 2 log sum_k w_k exp(z_k^2/2 - (D_gk - D_g0)/2) ]

where for AGQ (one scalar term) ``d_g`` sums the deviance residuals of group g and ``D_gk`` is
``d_g + u^2`` at ``u_g + z_k / L_gg``. ``nagq=0`` optimizes theta only, with beta found jointly by
PIRLS; ``nagq>=1`` optimizes (theta, beta).

Each PIRLS run starts from the previous run's modes. A model with one random-effects term runs on
:class:`multilevel.ml.pirls_one_term.OneTermSystem` (a block-diagonal system, Newton/Fisher-scoring
steps); models with more terms on the general blocked Cholesky here, by a chord method.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from ..design import Design
from ..errors import ArgumentError
from ..linalg import BlockedCholesky, NotPositiveDefinite, logdet_lower
from ..linalg.blocks import solve_upper_block, transpose_times_block
from ..linalg.cholesky import solve_blocked
from ..linalg.crossprod import CrossProducts

PIRLS_MAX_ITER = 60
# Stop when the last step in u (and beta) is this small relative to |u|. With a canonical link
# PIRLS is Newton's method: a step of 1e-6 leaves an error of order 1e-12, so one more iteration
# would only confirm it. Fisher scoring for other links converges linearly: go to rounding.
PIRLS_STEP_TOL = {"canonical": 1e-6, "other": 1e-11}
CANONICAL = {("binomial", "logit"), ("poisson", "log"), ("gaussian", "identity")}


class PirlsFailure(ArithmeticError):
    """PIRLS could not reduce the penalized deviance (non-finite values, separation)."""


@dataclass
class PirlsState:
    theta: np.ndarray
    beta: np.ndarray
    u: list  # per term (levels * p,)
    eta: np.ndarray
    mu: np.ndarray
    factor: dict
    iterations: int


def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[f(Z)], Z ~ N(0, 1) (lme4's GHrule)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return nodes, weights / np.sqrt(2 * np.pi)


class GLMMProblem:
    """Cross-product structure, PIRLS and the Laplace/AGQ objectives for one GLMM design."""

    def __init__(self, design: Design, nagq: int = 1):
        self.design = design
        self.x = design.fixed.matrix
        self.y = design.response
        self.n, self.p = self.x.shape
        self.prior_weights = design.weights if design.weights is not None else np.ones(self.n)
        self.offset = design.offset if design.offset is not None else np.zeros(self.n)
        self._set_up(design.terms, design.family, nagq)
        self.cross = CrossProducts([(t.codes, t.z, t.n_levels) for t in self.terms])
        start = self.cross.compute(np.ones(self.n), np.zeros((self.n, 1)))
        self.cholesky = BlockedCholesky(start, [(t.n_levels, t.dim) for t in self.terms])
        # imported here: that module builds on this one's PirlsState and PirlsFailure
        from .pirls_one_term import OneTermSystem

        self.one_term = OneTermSystem(self) if len(self.terms) == 1 else None

    def _set_up(self, terms, family, nagq: int) -> None:
        """What every GLMM problem holds, whoever does its row work (here: arrays in memory; out of
        core: map-reduces, :mod:`multilevel.ml.out_of_core_glmm`): parameters, warm starts, counts."""
        self.family = family
        self.terms = terms
        self.set_nagq(nagq)
        self.canonical = (self.family.name, self.family.link.name) in CANONICAL
        self.step_tol = PIRLS_STEP_TOL["canonical" if self.canonical else "other"]
        sizes = [t.covariance.n_theta for t in self.terms]
        edges = np.concatenate([[0], np.cumsum(sizes)])
        self.theta_slices = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]
        self.n_theta = int(edges[-1])
        self.u_start = [np.zeros(t.n_levels * t.dim) for t in self.terms]
        self.lambda_start = None  # Lambda of u_start (one term: the start keeps b = Lambda u)
        self.beta_start = None
        self.n_evaluations = 0
        self.n_pirls_runs = 0  # PIRLS calls and their iterations, for fit.optimizer.settings
        self.n_pirls_iterations = 0

    def set_nagq(self, nagq: int) -> None:
        """Choose the objective: 0 (theta only), 1 (Laplace) or the number of quadrature nodes."""
        if nagq > 1 and (len(self.terms) != 1 or self.terms[0].dim != 1):
            raise ArgumentError("nagq > 1 (adaptive Gauss-Hermite) needs a single scalar random-effects term, "
                             f"as in lme4; this model has {sum(t.dim for t in self.terms)} random effects per "
                             f"observation in {len(self.terms)} term(s)")
        self.nagq = nagq

    # ---- parameters -------------------------------------------------------------------------
    def lower_bounds(self) -> np.ndarray:
        return np.concatenate([t.covariance.lower_bounds() for t in self.terms])

    def initial_theta(self) -> np.ndarray:
        return np.concatenate([t.covariance.initial_theta() for t in self.terms])

    def lambdas(self, theta) -> list[np.ndarray]:
        return [t.covariance.factor(theta[s]) for t, s in zip(self.terms, self.theta_slices)]

    def least_squares_start(self) -> np.ndarray:
        """beta from the least-squares fit of glm's starting linear predictor (link of the family's
        initial means, less the offset): a start inside the link's range where PIRLS's first
        weighted step from those means leaves it."""
        eta = self.family.link.link(self.family.initial_mu(self.y, self.prior_weights)) - self.offset
        return np.linalg.lstsq(self.x, eta, rcond=None)[0] if self.p else np.zeros(0)

    # ---- linear predictor pieces --------------------------------------------------------------
    def random_part(self, u: list, lambdas: list) -> np.ndarray:
        total = np.zeros(self.n)
        for term, uk, lam in zip(self.terms, u, lambdas):
            if term.dim == 1:
                total += term.z[:, 0] * (lam[0, 0] * uk)[term.codes]
            else:
                b = uk.reshape(term.n_levels, term.dim) @ lam.T
                total += np.einsum("np,np->n", term.z, b[term.codes])
        return total

    def _weights(self, eta: np.ndarray):
        link = self.family.link
        mu = link.inverse(eta)
        if self.canonical:  # mu_eta = V(mu): the weights are prior * V(mu)
            var = self.family.variance(mu)
            return mu, var, self.prior_weights * var
        mu_eta = link.mu_eta(eta)
        var = self.family.variance(mu)
        return mu, mu_eta, self.prior_weights * mu_eta**2 / var

    def penalized_deviance(self, mu: np.ndarray, u: list) -> float:
        dev = float(np.sum(self.family.deviance_residuals(self.y, mu, self.prior_weights)))
        return dev + sum(float(uk @ uk) for uk in u)

    # ---- PIRLS ------------------------------------------------------------------------------
    def pirls(self, theta: np.ndarray, beta: np.ndarray | None) -> PirlsState:
        """Conditional modes at theta; with ``beta=None`` beta is updated jointly (nAGQ=0 stage).

        Each call starts from the previous call's modes (u, and beta in the joint stage), as lme4
        keeps ``u0`` between evaluations: the optimizer's next theta is close, so a few steps do.
        """
        self.n_pirls_runs += 1
        if self.one_term is not None:
            return self.one_term.pirls(self, np.asarray(theta, dtype=float), None if beta is None else
                                       np.asarray(beta, dtype=float))
        if beta is not None:
            return self._pirls_chord(np.asarray(theta, dtype=float), np.asarray(beta, dtype=float))
        if self.beta_start is not None:  # warm: the joint modes by the same chord method
            return self._pirls_chord(np.asarray(theta, dtype=float), None)
        lambdas = self.lambdas(theta)
        joint = beta is None
        u = [uk.copy() for uk in self.u_start]
        if joint:
            beta = self.beta_start.copy() if self.beta_start is not None else None
        if beta is None:  # first joint call: start from the family's initial means, as glm does
            mu0 = self.family.initial_mu(self.y, self.prior_weights)
            eta = self.family.link.link(mu0)
            beta = np.zeros(self.p)
            u = [np.zeros_like(uk) for uk in u]
            start_eta = eta
        else:
            start_eta = None
        eta = start_eta if start_eta is not None else self.offset + self.x @ beta + self.random_part(u, lambdas)
        mu = self.family.link.inverse(eta)
        old = np.inf if start_eta is not None else self.penalized_deviance(mu, u)
        for iteration in range(1, PIRLS_MAX_ITER + 1):
            mu, mu_eta, w = self._weights(eta)
            if not np.all(np.isfinite(w)):
                raise PirlsFailure("non-finite working weights")
            resid = (self.y - mu) / mu_eta
            fixed_eta = self.x @ beta
            random_eta = eta - self.offset - fixed_eta
            if joint:
                xy = np.column_stack([self.x, fixed_eta + random_eta + resid])
            else:
                xy = (random_eta + resid)[:, None]
            self.cholesky.update_blocks(self.cross.compute(w, xy))
            factor = self.cholesky.factor(lambdas)
            new_beta, new_u = self._solve(factor, joint)
            if not joint:
                new_beta = beta
            # step halving on the penalized deviance, as lme4's stepFac; a step already tiny
            # relative to u (Newton's final steps) cannot overshoot, so it skips the check
            full_move = max([float(np.max(np.abs(nk - uk), initial=0.0)) for uk, nk in zip(u, new_u)]
                            + [float(np.max(np.abs(new_beta - beta), initial=0.0))])
            tiny = np.isfinite(old) and full_move < 1e-4 * (1.0 + max(float(np.max(np.abs(uk), initial=0.0)) for uk in u))
            taken = self._step_halving(beta, u, new_beta - beta, [nk - uk for uk, nk in zip(u, new_u)],
                                       lambdas, old, tiny)
            if taken is None:
                if not np.isfinite(old) and start_eta is not None and iteration == 1:
                    # the first step from glm's start left the link's range (poisson identity: mu <= 0):
                    # go on from the least-squares fit of that start instead
                    beta, u = self.least_squares_start(), [np.zeros_like(uk) for uk in u]
                    eta = self.offset + self.x @ beta
                    mu = self.family.link.inverse(eta)
                    old = self.penalized_deviance(mu, u)
                    continue
                if not np.isfinite(old):
                    raise PirlsFailure("the penalized deviance is not finite")
                break  # no further decrease: at the mode within rounding
            cand_beta, cand_u, cand_eta, cand_mu, pdev, _ = taken
            # converged when the step itself is negligible: Fisher scoring converges only linearly
            # for non-canonical links, and the log-determinant depends on u to first order
            moved = max([float(np.max(np.abs(c - o), initial=0.0)) for c, o in zip(cand_u, u)]
                        + [float(np.max(np.abs(cand_beta - beta), initial=0.0))])
            scale = 1.0 + max(float(np.max(np.abs(c), initial=0.0)) for c in cand_u)
            beta, u, eta, mu = cand_beta, cand_u, cand_eta, cand_mu
            old = pdev
            if moved < self.step_tol * scale:
                break
        # the factor at the final mode's weights (lme4 decomposes at the converged point)
        mu, mu_eta, w = self._weights(eta)
        resid = (self.y - mu) / mu_eta
        xy = np.column_stack([self.x, eta - self.offset + resid]) if joint else \
            (eta - self.offset - self.x @ beta + resid)[:, None]
        self.cholesky.update_blocks(self.cross.compute(w, xy))
        factor = self.cholesky.factor(lambdas)
        self.u_start = [uk.copy() for uk in u]
        if joint:
            self.beta_start = beta.copy()
        self.n_pirls_iterations += iteration
        return PirlsState(theta, beta, u, eta, mu, factor, iteration)

    def _working_residual(self, mu, mu_eta) -> np.ndarray:
        """prior * (y - mu) * mu_eta / V(mu): the score of the linear predictor."""
        r = self.prior_weights * (self.y - mu)
        if not self.canonical:  # canonical links have mu_eta = V(mu)
            r = r * mu_eta / self.family.variance(mu)
        return r

    def _gradient(self, r: np.ndarray, u: list, lambdas: list) -> list:
        """Gradient of -pdev/2 in u: Lambda' Z' r - u."""
        out = []
        for term, uk, lam in zip(self.terms, u, lambdas):
            zr = np.empty((term.n_levels, term.dim))
            for a in range(term.dim):
                zr[:, a] = np.bincount(term.codes, weights=term.z[:, a] * r, minlength=term.n_levels)
            out.append((zr @ lam).reshape(-1) - uk)
        return out

    def _step_halving(self, beta, u, d_beta, d_u, lambdas, old: float, tiny: bool):
        """Steps 1, 1/2, ... (12 tries) along (d_beta, d_u) until the penalized deviance does not rise,
        as lme4's stepFac; a tiny step cannot overshoot and is taken unchecked. ``d_beta`` None keeps
        beta. Returns (beta, u, eta, mu, pdev, step), or None when no step decreases it."""
        step = 1.0
        for _ in range(12):
            cand_beta = beta if d_beta is None else beta + step * d_beta
            cand_u = [uk + step * dk for uk, dk in zip(u, d_u)]
            cand_eta = self.offset + self.x @ cand_beta + self.random_part(cand_u, lambdas)
            cand_mu = self.family.link.inverse(cand_eta)
            if tiny:
                return cand_beta, cand_u, cand_eta, cand_mu, old, step
            pdev = self.penalized_deviance(cand_mu, cand_u)
            if np.isfinite(pdev) and pdev <= old * (1 + 1e-15) + 1e-12:
                return cand_beta, cand_u, cand_eta, cand_mu, pdev, step
            step /= 2
        return None

    def _factor_at(self, eta, lambdas, joint: bool = False):
        mu, mu_eta, w = self._weights(eta)
        if not np.all(np.isfinite(w)):
            raise PirlsFailure("non-finite working weights")
        self.cholesky.update_blocks(self.cross.compute(w, self.x if joint else None))
        return mu, mu_eta, self.cholesky.factor(lambdas, with_fixed=joint)

    def _pirls_chord(self, theta: np.ndarray, beta: np.ndarray | None) -> PirlsState:
        """Conditional modes (and beta too when ``beta is None``) by a chord method.

        The Fisher matrix ``[Lambda'Z'WZ Lambda + I, Lambda'Z'WX; X'WZ Lambda, X'WX]`` (its first
        block alone for fixed beta) is factored at the starting point and reused while the steps
        shrink fast, so a step costs a few bincounts and triangular solves; it is refreshed when
        they do not, and once more at the mode, where the Laplace log-determinant needs it. The
        fixed point is the mode that Newton's PIRLS finds.
        """
        joint = beta is None
        lambdas = self.lambdas(theta)
        beta = (self.beta_start if joint else beta).copy()
        u = [uk.copy() for uk in self.u_start]
        eta = self.offset + self.x @ beta + self.random_part(u, lambdas)
        mu, mu_eta, factor = self._factor_at(eta, lambdas, joint)
        old = self.penalized_deviance(mu, u)
        previous_move, iterations = np.inf, 0
        tol = PIRLS_STEP_TOL["other"] if not joint else self.step_tol
        for iterations in range(1, 4 * PIRLS_MAX_ITER):
            r = self._working_residual(mu, mu_eta)
            rhs = self._gradient(r, u, lambdas) + ([self.x.T @ r] if joint else [])
            delta = solve_blocked(factor, rhs)
            move = max(float(np.max(np.abs(d), initial=0.0)) for d in delta)
            scale = 1.0 + max(float(np.max(np.abs(uk), initial=0.0)) for uk in u)
            taken = self._step_halving(beta, u, delta[-1] if joint else None, delta[: len(u)], lambdas, old,
                                       tiny=move < 1e-4 * scale)
            if taken is None:
                break  # no decrease possible: at the mode within rounding
            cand_beta, cand_u, cand_eta, cand_mu, pdev, step = taken
            u, beta, eta, old = cand_u, cand_beta, cand_eta, pdev
            if move < tol * scale:
                break
            if move > 0.25 * previous_move or step < 1:  # slow: refresh the factor (Newton step)
                mu, mu_eta, factor = self._factor_at(eta, lambdas, joint)
            else:
                mu, mu_eta = cand_mu, (None if self.canonical else self.family.link.mu_eta(eta))
            previous_move = move
        mu, mu_eta, factor = self._factor_at(eta, lambdas, joint)
        self.u_start = [uk.copy() for uk in u]
        if joint:
            self.beta_start = beta.copy()
        self.n_pirls_iterations += iterations
        return PirlsState(theta, beta, u, eta, mu, factor, iterations)

    def fixed_effects_factor(self, state: PirlsState) -> np.ndarray:
        """R_X (lower) at the mode's weights: the fixed-effects block of the joint system."""
        if self.one_term is not None:
            return self.one_term.fixed_effects_factor(state.eta, self.lambdas(state.theta)[0])
        mu, mu_eta, w = self._weights(state.eta)
        self.cholesky.update_blocks(self.cross.compute(w, self.x))
        factor = self.cholesky.factor(self.lambdas(state.theta))
        return factor[len(self.terms), len(self.terms)]

    def _solve(self, factor: dict, joint: bool):
        K = len(self.terms)
        fixed = factor[K, K]
        if joint:
            p = self.p
            beta = solve_triangular(fixed[:p, :p], fixed[p, :p], lower=True, trans="T") if p else np.zeros(0)
        else:
            p, beta = 0, np.zeros(0)
        u = [None] * K
        for j in reversed(range(K)):
            rows = factor[K, j]
            rhs = rows[p, :] - rows[:p, :].T @ beta
            for i in range(j + 1, K):
                rhs = rhs - transpose_times_block(factor[i, j], u[i])
            u[j] = solve_upper_block(factor[j, j], rhs)
        return beta, u

    # ---- objectives -------------------------------------------------------------------------
    def laplace(self, state: PirlsState) -> float:
        logdet = 2.0 * sum(logdet_lower(state.factor[j, j]) for j in range(len(self.terms)))
        if self.family.scale_in_loglik:  # lme4's glmResp::Laplace: family$aic with dispersion dev / n (+ 2)
            return float(self.conditional_aic(state.mu) + sum(float(uk @ uk) for uk in state.u) + logdet)
        if getattr(self, "_loglik_constant", None) is None or self._loglik_family is not self.family:
            self._loglik_constant = self.family.minus_twice_loglik_constant(self.y, self.prior_weights)
            self._loglik_family = self.family
        cond = self.family.minus_twice_loglik_kernel(self.y, state.mu, self.prior_weights) + self._loglik_constant
        return float(cond + sum(float(uk @ uk) for uk in state.u) + logdet)

    def conditional_aic(self, mu: np.ndarray) -> float:
        """R's ``family$aic`` at ``mu`` with the deviance there: -2 log p(y | u) for the families with a
        dispersion, which is estimated as deviance / sum(weights), plus 2 (lme4's glmResp::aic)."""
        dev = float(np.sum(self.family.deviance_residuals(self.y, mu, self.prior_weights)))
        return self.family.aic(self.y, mu, self.prior_weights, dev)

    def agq(self, state: PirlsState) -> float:
        term = self.terms[0]
        diag = state.factor[0, 0].data[:, 0, 0]
        sd = 1.0 / diag
        lam = self.lambdas(state.theta)[0][0, 0]
        fixed_eta = self.offset + self.x @ state.beta
        z = term.z[:, 0]
        u0 = state.u[0]

        def group_deviance(u):
            mu = self.family.link.inverse(fixed_eta + z * lam * u[term.codes])
            dev = self.family.deviance_residuals(self.y, mu, self.prior_weights)
            return np.bincount(term.codes, weights=dev, minlength=term.n_levels) + u**2

        base = group_deviance(u0)
        nodes, weights = gauss_hermite(self.nagq)
        total = np.zeros(term.n_levels)
        for node, weight in zip(nodes, weights):
            if node == 0:
                total += weight
            else:
                total += weight * np.exp(node**2 / 2 - 0.5 * (group_deviance(u0 + node * sd) - base))
        return float(base.sum() + 2 * np.log(diag).sum() - 2 * np.log(total).sum())

    def objective(self, params: np.ndarray) -> float:
        """nagq >= 1: deviance at (theta, beta); nagq = 0: at theta with beta from PIRLS."""
        self.n_evaluations += 1
        theta = np.asarray(params[: self.n_theta], dtype=float)
        beta = None if self.nagq == 0 else np.asarray(params[self.n_theta :], dtype=float)
        try:
            state = self.pirls(theta, beta)
        except (PirlsFailure, NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError):
            return np.inf
        return self.agq(state) if self.nagq > 1 else self.laplace(state)

    def theta_only_objective(self, theta: np.ndarray) -> float:
        """The nAGQ=0 criterion: Laplace deviance with beta updated jointly in PIRLS."""
        self.n_evaluations += 1
        try:
            state = self.pirls(np.asarray(theta, dtype=float), None)
        except (PirlsFailure, NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError):
            return np.inf
        return self.laplace(state)

