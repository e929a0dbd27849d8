"""The result of ``ml.glm``: R's ``glm`` object with the fit protocol (shared parts in :mod:`.lmfit`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ArgumentError
from ..options import choice, flag, whole_number
from .lmfit import _FixedEffectsFit


class GlmFit(_FixedEffectsFit):
    """A generalized linear model fitted by IRLS (R's ``glm``). Created by :func:`multilevel.glm`."""

    engine = "glm"

    def __init__(self, design, result, null_deviance: float, has_intercept: bool, *, unscaled, services,
                 data_name: str = "data", call: dict | None = None, messages=None):
        super().__init__(design, result.coef, unscaled, services=services, data_name=data_name, call=call or {},
                         messages=messages)
        self.family = design.family
        self.irls = result
        self.null_deviance = float(null_deviance)
        self._intercept = has_intercept

    @property
    def converged(self) -> bool:
        return self.irls.converged

    @property
    def iterations(self) -> int:
        """Fisher scoring iterations (R's ``iter``)."""
        return self.irls.iterations

    @property
    def deviance(self) -> float:
        return self.irls.deviance

    @property
    def df_residual(self) -> int:
        return self.nobs - self.rank

    @property
    def df_null(self) -> int:
        return self.nobs - (1 if self._intercept else 0)

    @property
    def dispersion(self) -> float:
        """1 for binomial and Poisson; else Pearson chi-square over residual df (R's ``summary.glm``)."""
        if self.family.fixed_dispersion:
            return 1.0
        if self.df_residual <= 0:
            return float("nan")
        w = self.irls.working_weights
        working = self.residuals("working")
        return float(np.sum((w * working**2)[w > 0]) / self.df_residual)

    @property
    def scale(self) -> float:
        return self.dispersion

    @property
    def sigma(self) -> float:
        """R's ``sigma(glm)``: sqrt(deviance / residual df) (the summary's dispersion is Pearson-based)."""
        return float(np.sqrt(self.deviance / self.df_residual)) if self.df_residual > 0 else float("nan")

    @property
    def n_parameters(self) -> int:
        """logLik's df: the coefficients, plus the scale for gaussian, Gamma and inverse.gaussian."""
        return self.rank + (1 if self.family.scale_in_loglik else 0)

    def _family_aic(self) -> float:
        y, w = self.design.response, self._prior_weights()
        return self.family.aic(y, self.irls.mu, w, self.deviance)

    @property
    def loglik(self) -> float:
        """R's ``logLik.glm``: df - AIC / 2."""
        return self.n_parameters - self.aic / 2

    @property
    def aic(self) -> float:
        return self._family_aic() + 2 * self.rank

    @property
    def bic(self) -> float:
        """R's ``BIC(glm)``: logLik.glm counts every row, zero-weight ones too (unlike ``nobs(glm)``)."""
        return -2 * self.loglik + np.log(self.design.nobs) * self.n_parameters

    def _prior_weights(self) -> np.ndarray:
        return self.design.weights if self.design.weights is not None else np.ones(self.design.nobs)

    def observation_weights(self):
        """Binomial trials (the prior weights), else None."""
        return self._prior_weights().copy() if self.family.name == "binomial" else None

    # ---- tables and inference ------------------------------------------------------------------
    @property
    def uses_t(self) -> bool:
        """Whether tests use t on the residual df (estimated dispersion) instead of z."""
        return not self.family.fixed_dispersion

    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, z (or t) value and p-value, as R's ``summary(glm)$coefficients``."""
        from scipy import stats

        se = self._std_errors()
        stat = self._beta / se
        if self.uses_t:
            p = 2 * stats.t.sf(np.abs(stat), self.df_residual)
            columns = ("t value", "Pr(>|t|)")
        else:
            p = 2 * stats.norm.sf(np.abs(stat))
            columns = ("z value", "Pr(>|z|)")
        return pd.DataFrame({"Estimate": self._beta, "Std. Error": se, columns[0]: stat, columns[1]: p},
                            index=list(self.design.fixed.column_names))

    def _interval_quantile(self, level: float) -> float:
        from scipy import stats

        return float(stats.norm.ppf(1 - (1 - level) / 2))

    # ---- fitted values, residuals, prediction --------------------------------------------------
    def fitted(self) -> np.ndarray:
        """Fitted means on the response scale (probabilities for binomial, rates for Poisson)."""
        return self.irls.mu.copy()

    def linear_predictor(self) -> np.ndarray:
        return self.irls.eta.copy()

    def residuals(self, type: str = "deviance") -> np.ndarray:
        """``"deviance"`` (default, as R), ``"pearson"``, ``"working"`` or ``"response"`` residuals."""
        type = choice("type", type, ["deviance", "pearson", "working", "response"])
        y, mu, w = self.design.response, self.irls.mu, self._prior_weights()
        if type == "deviance":
            unit = self.family.deviance_residuals(y, mu, w)
            return np.sign(y - mu) * np.sqrt(np.maximum(unit, 0.0))
        if type == "pearson":
            return (y - mu) * np.sqrt(w) / np.sqrt(self.family.variance(mu))
        if type == "working":
            return (y - mu) / self.family.link.mu_eta(self.irls.eta)
        return y - mu

    def predict(self, newdata=None, *, type: str = "link", se_fit: bool = False, interval=None,
                level: float = 0.95):
        """Predictions as R's ``predict.glm``: on the ``"link"`` scale (default) or the ``"response"``
        scale. With ``se_fit=True`` a DataFrame with ``fit`` and ``se_fit`` (the response-scale
        standard error by the delta method, as R)."""
        type = choice("type", type, ["link", "response"])
        se_fit = flag("se_fit", se_fit)
        if interval is not None:
            raise ArgumentError("interval= is for lm predictions; a glm gives se_fit=True (R's predict.glm has no "
                                "intervals): build a Wald interval on the link scale and transform it")
        if newdata is None:
            x, eta = self.design.fixed.matrix, self.linear_predictor()
        else:
            x, eta = self._new_linear_predictor(newdata)
        fit = self.family.link.inverse(eta) if type == "response" else eta
        if not se_fit:
            return fit
        se = self._se_link(x)
        if type == "response":
            se = se * np.abs(self.family.link.mu_eta(eta))
        return pd.DataFrame({"fit": fit, "se_fit": se})

    def inverse_link(self, eta):
        return self.family.link.inverse(np.asarray(eta, dtype=float))

    def replicated_data(self, ndraws: int = 50, seed=None) -> np.ndarray:
        """(ndraws, observations) responses simulated at the estimates, on the scale of :meth:`observed`."""
        ndraws = whole_number("ndraws", ndraws, 1)
        rng = np.random.default_rng(seed)
        mu, w = self.fitted(), self._prior_weights()
        if self.family.name == "gaussian":  # the family object has no scale to simulate with
            return mu + rng.standard_normal((ndraws, len(mu))) * np.sqrt(self.dispersion) / np.sqrt(np.where(w > 0, w, np.inf))
        return np.stack([self.family.simulate(mu, w, rng) for _ in range(ndraws)])

    # ---- display and anova ---------------------------------------------------------------------
    def summary(self):
        from .lm_summary import GlmSummary

        return GlmSummary(self)

    def anova(self, test: str | None = "Chisq"):
        """Analysis of deviance, terms added sequentially (R's ``anova(glm, test=)``): ``"Chisq"``
        (default here), ``"F"`` or None."""
        return self.services.anova(self, test=test)

    def __str__(self) -> str:
        from .lm_summary import short_text

        return short_text(self)
