"""The result of ``ml.glmer``: the lmer interface with a family, z tests and response-scale output."""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ..design import encode_offset
from ..errors import ConvergenceWarning, ModelError
from ..options import choice, flag, whole_number
from .lmerfit import LmerFit


class GlmerFit(LmerFit):
    """A generalized linear mixed model fitted by Laplace or adaptive Gauss-Hermite quadrature.

    Shares :class:`LmerFit`'s methods (``fixef``, ``ranef``, ``coef``, ``varcorr``, ``predict``...).
    ``loglik`` is the approximate marginal log-likelihood; ``deviance`` is lme4's ``deviance()``,
    the sum of squared deviance residuals (the summary's "deviance" column is ``-2 * loglik``).
    """

    engine = "glmer"
    has_residual_variance = False

    def __init__(self, design, problem, state, record, nagq: int, hessian, *, services, data_name: str = "data",
                 standardization=None):
        self.family = design.family
        self.nagq = nagq
        lambdas = problem.lambdas(state.theta)
        u = [uk.reshape(t.n_levels, t.dim) for uk, t in zip(state.u, design.terms)]
        b = [ub @ lam.T for ub, lam in zip(u, lambdas)]
        objective = problem.agq(state) if nagq > 1 else problem.laplace(state)
        # lme4 (useSc): families with a dispersion report it, and their varcorr is scaled by its square
        self.has_residual_variance = bool(self.family.scale_in_loglik)
        sigma = _dispersion_sigma(design, problem, state) if self.has_residual_variance else 1.0
        solution = SimpleNamespace(theta=state.theta, beta=state.beta, u=u, b=b, sigma=sigma, factor=state.factor,
                                   objective=objective)
        super().__init__(design, solution, record, reml=False, services=services, data_name=data_name,
                         problem=problem, standardization=standardization)
        self._mu = state.mu
        self._eta = state.eta
        self._vcov = self._covariance(hessian, problem, state)

    def _covariance(self, hessian, problem, state) -> np.ndarray:
        """lme4's default: from the Hessian of the deviance in (theta, beta); else from PIRLS's R_X."""
        p = len(self._beta)
        if p == 0:  # y ~ 0 + (...): nothing to cover (lme4's vcov is 0 x 0); [-0:, -0:] would be all of theta's
            return np.zeros((0, 0))
        if hessian is not None:
            try:
                cov = 2.0 * np.linalg.inv((hessian + hessian.T) / 2)[-p:, -p:]
                if np.all(np.diag(cov) > 0):
                    return cov
            except np.linalg.LinAlgError:
                pass
            message = ("fixed-effects covariance from the PIRLS factor (beta given theta): the Hessian of the "
                       "deviance is not invertible, so the standard errors ignore the uncertainty in theta")
            self.messages.append(message)
            warnings.warn(message, ConvergenceWarning, stacklevel=5)
        inv = np.linalg.inv(problem.fixed_effects_factor(state))
        return self._sigma**2 * (inv.T @ inv)  # lme4's vcov: sigma^2 * unscaled (sigma 1 without a dispersion)

    # ---- parameters and criteria ---------------------------------------------------------------
    @property
    def n_parameters(self) -> int:
        """theta, beta, and the dispersion (lme4's npar: useSc) or the negative binomial shape."""
        extra = 1 if self.family.name == "negative.binomial" or self.has_residual_variance else 0
        return len(self._theta) + len(self._beta) + extra

    @property
    def deviance(self) -> float:
        """Sum of squared deviance residuals at the conditional modes (lme4's ``deviance()``)."""
        return float(np.sum(self.residuals("deviance") ** 2))

    @property
    def reml_criterion(self) -> float:
        return float("nan")

    def vcov(self) -> pd.DataFrame:
        names = list(self.design.fixed.column_names)
        return pd.DataFrame(self._vcov, index=names, columns=names)

    def coef_table(self) -> pd.DataFrame:
        from scipy import stats

        se = np.sqrt(np.diag(self._vcov))
        z = self._beta / se
        # lme4 names the ratio "t value" for the families with a dispersion, still with normal p-values
        return pd.DataFrame({"Estimate": self._beta, "Std. Error": se,
                             "t value" if self.has_residual_variance else "z value": z,
                             "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))}, index=list(self.design.fixed.column_names))

    def refit_ml(self) -> "GlmerFit":
        return self

    # ---- fitted values, residuals, prediction --------------------------------------------------
    def _offset(self) -> np.ndarray:
        return self.design.offset if self.design.offset is not None else np.zeros(self.nobs)

    def fitted(self) -> np.ndarray:
        """Fitted means on the response scale (probabilities, rates)."""
        return self._mu.copy()

    def linear_predictor(self) -> np.ndarray:
        return self._eta.copy()

    def hatvalues(self) -> np.ndarray:
        """lme4's leverages of a GLMM: the factor at the final PIRLS weights, rows scaled by the prior
        weights; lme4 warns that the hat matrix may not make sense for GLMMs, and so does this."""
        warnings.warn("the hat matrix may not make sense for GLMMs (lme4's definition: the factor at the "
                      "final PIRLS weights, rows scaled by the prior weights)", UserWarning, stacklevel=2)
        return self.services.leverage(self)

    def residuals(self, type: str = "deviance", scaled: bool = False) -> np.ndarray:
        """Residuals of type ``"deviance"`` (default, as lme4), ``"pearson"``, ``"response"`` or ``"working"``;
        ``scaled=True`` divides them by sigma, as lme4 (1 for the families without a dispersion)."""
        type = choice("type", type, ["deviance", "pearson", "response", "working"])
        scaled = flag("scaled", scaled)
        res = self._residuals(type)
        return res / self._sigma if scaled and self.has_residual_variance else res

    def _residuals(self, type: str) -> np.ndarray:
        y, mu = self.design.response, self._mu
        w = self.design.weights if self.design.weights is not None else np.ones_like(y)
        if type == "deviance":
            unit = self.family.deviance_residuals(y, mu, w)
            return np.sign(y - mu) * np.sqrt(np.maximum(unit, 0.0))
        if type == "pearson":
            return (y - mu) * np.sqrt(w) / np.sqrt(self.family.variance(mu))
        if type == "response":
            return y - mu
        return (y - mu) / self.family.link.mu_eta(self._eta)  # working

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False, type: str = "link"):
        """Predictions on the ``"link"`` scale (default, as lme4) or the ``"response"`` scale."""
        type = choice("type", type, ["link", "response"])
        eta = super().predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels)
        if newdata is None:
            eta = eta + self._offset()
        else:
            offset = encode_offset(self.design, newdata)
            eta = eta if offset is None else eta + offset
        return self.family.link.inverse(eta) if type == "response" else eta

    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False) -> pd.DataFrame:
        """Responses simulated with new random effects (or the fitted modes, ``use_u=True``);
        binomial ones as proportions, as lme4. New random effects are drawn with ``varcorr``'s covariance (for
        the families with a dispersion: sigma^2 Lambda Lambda', as lme4). Those families draw with dispersion
        ``sigma**2`` (variance ``sigma**2 * V(mu) / weight``); lme4 1.1-31 differs there: its Gamma
        shape is ``sigma * weight`` and its inverse Gaussian shape ``weight / sigma``."""
        nsim = whole_number("nsim", nsim, 1)
        use_u = flag("use_u", use_u)
        rng = np.random.default_rng(seed)
        w = self.design.weights if self.design.weights is not None else np.ones(self.nobs)
        fixed = self.design.fixed.matrix @ self._beta + self._offset()
        out = np.empty((self.nobs, nsim))
        for s in range(nsim):
            eta = fixed.copy()
            for k, (term, lam) in enumerate(zip(self.design.terms, self._lambdas())):
                # new random effects with sd theta * sigma, lme4's varcorr (lme4's .simulateFun: sigma * Lambda u)
                b = self._b[k] if use_u else rng.standard_normal((term.n_levels, term.dim)) @ lam.T * self._sigma
                eta += np.einsum("np,np->n", term.z, b[term.codes])
            out[:, s] = self.family.simulate_with_dispersion(self.family.link.inverse(eta), w, self._sigma**2, rng)
        return pd.DataFrame(out, columns=[f"sim_{i + 1}" for i in range(nsim)])

    def confint(self, method: str = "wald", level: float = 0.95, *, nsim: int = 200, seed=None, parm=None):
        """``"wald"`` intervals for the fixed effects, or a parametric ``"boot"``strap of all parameters.

        For the families with a dispersion (Gamma, inverse Gaussian, gaussian with a link) the bootstrap
        simulates as lme4 does (random effects with ``varcorr``'s sds), but lme4's Laplace deviance for
        these families is not the likelihood of that model (its penalty ignores the dispersion), so
        the ``.sig01`` intervals need not cover the estimate (Gamma log-link example: 0.273, interval
        0.150 to 0.250 from 20 simulations); lme4's own are further off (its Gamma simulation uses
        shape sigma). Profile intervals are refused for these families, as in lme4."""
        method, level = self._check_confint(method, level, nsim, parm)
        return self.services.confint(self, method, level, nsim=nsim, seed=seed, parm=parm)

    def icc(self) -> pd.Series:
        """Latent-scale ICC: intercept variance over (intercept variances + link variance pi^2/3 or 1)."""
        latent = {"logit": np.pi**2 / 3, "probit": 1.0}.get(self.family.link.name)
        if latent is None or self.family.name != "binomial":
            raise ModelError("a latent-scale ICC is defined for binomial models with logit or probit links, "
                             f"not for the {self.family.name} family with the {self.family.link.name} link")
        vc = self.varcorr()
        intercepts = vc[(vc.var1 == "(Intercept)") & vc.var2.isna()]
        return pd.Series(intercepts.vcov.to_numpy() / (intercepts.vcov.sum() + latent),
                         index=intercepts.grp.to_numpy(), name="ICC")

    # ---- display -----------------------------------------------------------------------------
    def summary(self):
        from .glmer_summary import GlmerSummary

        return GlmerSummary(self)

    def __str__(self) -> str:
        from .glmer_summary import short_text

        return short_text(self)

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def _dispersion_sigma(design, problem, state) -> float:
    """lme4's sigma() for a GLMM with a dispersion: sqrt(pwrss / n), where pwrss is the Pearson
    chi-square at the conditional modes plus |u|^2 (mkMerMod's sigmaML)."""
    y = design.response
    w = problem.prior_weights
    pearson = float(np.sum(w * (y - state.mu) ** 2 / problem.family.variance(state.mu)))
    return float(np.sqrt((pearson + sum(float(uk @ uk) for uk in state.u)) / len(y)))
