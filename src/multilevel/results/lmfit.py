"""The results of ``ml.lm`` and ``ml.glm``: R's ``lm`` / ``glm`` objects with the fit protocol.

Coefficients keep every column of the model matrix; those dropped for rank deficiency are NaN
(R's NA), as ``coef(lm)`` shows them. Standard errors, tests and intervals are over the estimable
ones. Numbers follow R's stats package (``summary.lm``, ``summary.glm``, ``predict.lm``,
``predict.glm``, ``logLik``, ``confint``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..design import encode_fixed, encode_offset, newdata_frame, r_names
from ..errors import ArgumentError, DataError
from ..options import choice, flag, open_probability, whole_number
from .protocol import Fit, FormulaFit
from .influence import cooks_distance


class _FixedEffectsFit(FormulaFit):
    """What lm and glm fits share: the design, coefficients with NA for aliased columns, prediction."""

    grouping = Fit.grouping  # no grouping factors: the protocol's default answer (MissingCapability)

    def __init__(self, design, coef, unscaled, *, services, data_name: str, call: dict, messages=None):
        self.services = services  # the engine's anova tables (multilevel.ml.services)
        self.design = design
        self.data_name = data_name
        self.call = dict(call)
        self.messages = list(messages or [])
        self._beta = np.asarray(coef, dtype=float)
        self._unscaled = unscaled  # (X'WX)^-1 over the estimable columns
        weights = design.weights
        self._used = np.ones(design.nobs, dtype=bool) if weights is None else weights != 0

    # ---- names and sizes -------------------------------------------------------------------------
    @property
    def nobs(self) -> int:
        """Observations that count (R's ``nobs``: rows with non-zero weight)."""
        return int(self._used.sum())

    @property
    def rank(self) -> int:
        return len(self._beta)

    @property
    def aliased(self) -> tuple[str, ...]:
        """Columns dropped as linear combinations of earlier ones (NA coefficients)."""
        return tuple(self.design.fixed.dropped_columns)

    @property
    def has_intercept(self) -> bool:
        return "(Intercept)" in self.all_column_names

    @property
    def all_column_names(self) -> list[str]:
        """Every model-matrix column, aliased ones included, in the formula's order."""
        spec_names = r_names(self.design, [str(c) for c in self.design.fixed.spec.column_names])
        kept = set(self.design.fixed.column_names) | set(self.aliased)
        return [c for c in spec_names if c in kept] if kept <= set(spec_names) else list(self.design.fixed.column_names)

    # ---- coefficients ----------------------------------------------------------------------------
    def coef(self) -> pd.Series:
        """Coefficients as R's ``coef()``: NaN for columns dropped as aliased."""
        values = dict(zip(self.design.fixed.column_names, self._beta))
        names = self.all_column_names
        return pd.Series([values.get(n, np.nan) for n in names], index=names, name="Estimate")

    def fixef(self) -> pd.Series:
        """The same as :meth:`coef` (every coefficient of a model without random effects is fixed)."""
        return self.coef()

    @property
    def scale(self) -> float:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def vcov(self, complete: bool = True) -> pd.DataFrame:
        """Covariance of the coefficients (R's ``vcov``; ``complete=True`` keeps NaN rows for aliased ones)."""
        names = list(self.design.fixed.column_names)
        cov = pd.DataFrame(self.scale * self._unscaled, index=names, columns=names)
        if complete and self.aliased:
            full = self.all_column_names
            cov = cov.reindex(index=full, columns=full)
        return cov

    def _std_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(self.scale * self._unscaled))

    def coef_table(self) -> pd.DataFrame:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def _interval_quantile(self, level: float) -> float:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def confint(self, level: float = 0.95, method: str = "wald", parm=None) -> pd.DataFrame:
        """Intervals for the coefficients: lm's use the t distribution (R's ``confint.lm``); glm's are
        Wald intervals on the normal (R's ``confint.default``), not the profile intervals that
        R 4.4's ``confint.glm`` computes. Columns named as R's ("2.5 %", "97.5 %")."""
        method = choice("method", method, ["wald"])
        level = open_probability("level", level)
        q = self._interval_quantile(level)
        est = self._beta
        se = self._std_errors()
        lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
        names = list(self.design.fixed.column_names)
        frame = pd.DataFrame({_percent(lo): est - q * se, _percent(hi): est + q * se}, index=names)
        frame = frame.reindex(self.all_column_names)
        if parm is not None:
            wanted = [parm] if isinstance(parm, str) else list(parm)
            unknown = [p for p in wanted if p not in frame.index]
            if unknown:
                raise ArgumentError(f"parm names no coefficient of this model: {unknown}; they are {list(frame.index)}")
            frame = frame.loc[wanted]
        return frame

    def fixed_effect_table(self) -> pd.DataFrame:
        """Estimate, lower, upper (95%) per estimable coefficient (the intervals of :meth:`confint`)."""
        ci = self.confint().loc[list(self.design.fixed.column_names)]
        return pd.DataFrame({"estimate": self._beta, "lower": ci.iloc[:, 0].to_numpy(),
                             "upper": ci.iloc[:, 1].to_numpy()}, index=list(self.design.fixed.column_names))

    # ---- the data and the fit --------------------------------------------------------------------
    def observed(self) -> np.ndarray:
        """The response as fitted (binomial: the proportion of successes)."""
        return np.asarray(self.design.response, dtype=float).copy()

    def _offset(self) -> np.ndarray:
        return self.design.offset if self.design.offset is not None else np.zeros(self.design.nobs)

    def linear_predictor(self) -> np.ndarray:
        return self.design.fixed.matrix @ self._beta + self._offset()

    def update(self, formula: str | None = None, newdata=None, **changes):
        """R's ``update(fit, formula., ...)``: the call that made this fit made again with the changes."""
        return self.services.update(self, formula, newdata, **changes)

    def hatvalues(self) -> np.ndarray:
        """Leverages, R's ``hatvalues``: ``w_i x_i' (X'WX)^{-1} x_i`` (glm: W the final IRLS weights)."""
        return self.services.leverage(self)

    def cooks_distance(self) -> np.ndarray:
        """Cook's distances, R's ``cooks.distance``: ``(r / (1 - h))^2 h / (dispersion * p)``, r the Pearson
        residuals (lm: weighted residuals, dispersion sigma^2)."""
        return cooks_distance(self.residuals("pearson"), self.hatvalues(), self.scale, self.rank)

    def fitted_mean(self) -> np.ndarray:
        return self.fitted()

    def _new_linear_predictor(self, newdata) -> tuple[np.ndarray, np.ndarray]:
        """(x, eta) of new data, encoded as at fit time (new factor levels raise a DataError)."""
        newdata = newdata_frame(newdata)
        x = encode_fixed(self.design, newdata)
        eta = x @ self._beta
        offset = encode_offset(self.design, newdata)
        extra = self.call.get("offset")
        if self.design.offset is not None and not self.design.formula.offsets and not isinstance(extra, str):
            raise DataError("the model's offset was given as an array; to predict new data put it in the formula "
                            "as offset(...) or pass offset= a column name")
        if isinstance(extra, str):
            if extra not in newdata.columns:
                raise DataError(f"newdata lacks the offset column {extra!r}")
            offset = newdata[extra].to_numpy(dtype=float) + (0 if offset is None else offset)
        return x, (eta if offset is None else eta + offset)

    def _se_link(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(np.einsum("ij,jk,ik->i", x, self.scale * self._unscaled, x))

    def refit_ml(self):
        """Already a maximum-likelihood fit (what :func:`multilevel.anova` compares)."""
        return self

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def _percent(p: float) -> str:
    """R's interval column names: '2.5 %', '97.5 %'."""
    return f"{100 * p:.3g} %"


class LmFit(_FixedEffectsFit):
    """A linear model fitted by least squares (R's ``lm``). Created by :func:`multilevel.lm`."""

    engine = "lm"

    def __init__(self, design, solution, *, unscaled, services, data_name: str = "data", call: dict | None = None,
                 messages=None):
        super().__init__(design, solution.coef, unscaled, services=services, data_name=data_name, call=call or {},
                         messages=messages)
        self.solution = solution

    # ---- criteria ------------------------------------------------------------------------------
    @property
    def df_residual(self) -> int:
        return self.solution.df_residual

    @property
    def deviance(self) -> float:
        """The (weighted) residual sum of squares, R's ``deviance(lm)``."""
        return self.solution.rss

    @property
    def sigma(self) -> float:
        return float(np.sqrt(self.solution.rss / self.df_residual)) if self.df_residual > 0 else float("nan")

    @property
    def scale(self) -> float:
        return self.sigma**2

    @property
    def n_parameters(self) -> int:
        """Parameters counted by logLik's df: the coefficients and sigma."""
        return self.rank + 1

    @property
    def loglik(self) -> float:
        """R's ``logLik.lm`` (ML, with the weights' Jacobian term)."""
        n = self.nobs
        w = np.ones(n) if self.design.weights is None else self.design.weights[self._used]
        return float(0.5 * np.sum(np.log(w)) - n / 2 * (np.log(2 * np.pi) + 1 - np.log(n) + np.log(self.solution.rss)))

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        return -2 * self.loglik + np.log(self.nobs) * self.n_parameters

    def _mean_part(self) -> np.ndarray:
        """The fitted values R's R-squared and F-statistic read: R 4.2.2's summary.lm (our reference)
        takes them with the offset included."""
        return self.fitted()

    @property
    def r_squared(self) -> float:
        mss = self._model_sum_of_squares()
        return mss / (mss + self.deviance)

    @property
    def adj_r_squared(self) -> float:
        df_int = 1 if self.has_intercept else 0
        return 1 - (1 - self.r_squared) * ((self.nobs - df_int) / self.df_residual)

    def _model_sum_of_squares(self) -> float:
        """R's ``mss``: the weighted sum of squares of the fitted values about their mean (about 0
        without an intercept)."""
        f = self._mean_part()[self._used]
        w = np.ones(len(f)) if self.design.weights is None else self.design.weights[self._used]
        centre = np.sum(w * f) / np.sum(w) if self.has_intercept else 0.0
        return float(np.sum(w * (f - centre) ** 2))

    def fstatistic(self) -> tuple[float, int, int] | None:
        """(value, numerator df, denominator df), or None for a model with only an intercept.
        An exact fit (no residual variance) gives an infinite F, as R."""
        numdf = self.rank - (1 if self.has_intercept else 0)
        if numdf <= 0 or self.df_residual <= 0:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.float64(self._model_sum_of_squares() / numdf) / np.float64(self.deviance / self.df_residual)
        return float(value), numdf, self.df_residual

    def f_pvalue(self) -> float:
        from scipy import stats

        f = self.fstatistic()
        return float("nan") if f is None else float(stats.f.sf(*f))

    # ---- tables and inference ------------------------------------------------------------------
    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, t value, Pr(>|t|), as R's ``summary(lm)$coefficients``."""
        from scipy import stats

        se = self._std_errors()
        t = self._beta / se
        return pd.DataFrame({"Estimate": self._beta, "Std. Error": se, "t value": t,
                             "Pr(>|t|)": 2 * stats.t.sf(np.abs(t), self.df_residual)},
                            index=list(self.design.fixed.column_names))

    def _interval_quantile(self, level: float) -> float:
        from scipy import stats

        return float(stats.t.ppf(1 - (1 - level) / 2, self.df_residual))

    # ---- fitted values, residuals, prediction --------------------------------------------------
    def fitted(self) -> np.ndarray:
        return self.linear_predictor()

    def residuals(self, type: str = "response") -> np.ndarray:
        """``"response"`` (y - fitted, R's default) or ``"pearson"``/``"deviance"`` (times sqrt(weights))."""
        type = choice("type", type, ["response", "working", "pearson", "deviance"])
        res = self.design.response - self.fitted()
        if type in ("pearson", "deviance") and self.design.weights is not None:
            res = res * np.sqrt(self.design.weights)
        return res

    def predict(self, newdata=None, *, se_fit: bool = False, interval: str | None = None, level: float = 0.95,
                type: str = "response"):
        """Predictions as R's ``predict.lm``.

        Without ``se_fit`` or ``interval`` an array of fitted values; otherwise a DataFrame with
        ``fit``, ``lwr``/``upr`` (``interval="confidence"`` or ``"prediction"``, t quantiles on the
        residual degrees of freedom) and ``se_fit``. New factor levels raise a DataError.
        """
        choice("type", type, ["response", "link"])
        se_fit, level = flag("se_fit", se_fit), open_probability("level", level)
        if interval is not None:
            interval = choice("interval", interval, ["confidence", "prediction"])
        if newdata is None:
            x, fit = self.design.fixed.matrix, self.fitted()
        else:
            x, fit = self._new_linear_predictor(newdata)
        if not se_fit and interval is None:
            return fit
        se = self._se_link(x)
        out = pd.DataFrame({"fit": fit})
        if interval is not None:
            q = self._interval_quantile(level)
            spread = se if interval == "confidence" else np.sqrt(se**2 + self.scale)
            out["lwr"], out["upr"] = fit - q * spread, fit + q * spread
        if se_fit:
            out["se_fit"] = se
        return out

    def replicated_data(self, ndraws: int = 50, seed=None) -> np.ndarray:
        """(ndraws, observations) responses simulated at the estimates (R's ``simulate.lm``)."""
        ndraws = whole_number("ndraws", ndraws, 1)
        rng = np.random.default_rng(seed)
        w = np.ones(self.design.nobs) if self.design.weights is None else self.design.weights
        sd = self.sigma / np.sqrt(np.where(w > 0, w, np.inf))
        return self.fitted() + rng.standard_normal((ndraws, self.design.nobs)) * sd

    def inverse_link(self, eta):
        return np.asarray(eta, dtype=float)

    # ---- display and anova ---------------------------------------------------------------------
    def summary(self):
        from .lm_summary import LmSummary

        return LmSummary(self)

    def anova(self):
        """Sequential (type I) analysis of variance, as R's ``anova(lm)``."""
        return self.services.anova(self)

    def __str__(self) -> str:
        from .lm_summary import short_text

        return short_text(self)
