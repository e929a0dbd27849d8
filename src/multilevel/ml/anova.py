"""Likelihood-ratio comparison of nested linear mixed models, as lme4's ``anova(m1, m2, ...)``."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ArgumentError, MultilevelError
from ..results.format import format_pvalue, significance_stars, text_table


class AnovaTable(pd.DataFrame):
    """A DataFrame (npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)) that prints like R's."""

    _metadata = ["models"]

    @property
    def _constructor(self):
        return AnovaTable

    def __str__(self) -> str:
        header = ["", "npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)", ""]
        rows = []
        for name, row in self.iterrows():
            has_test = np.isfinite(row["Chisq"])
            rows.append([
                str(name), f"{int(row['npar'])}", f"{row['AIC']:.1f}", f"{row['BIC']:.1f}",
                f"{row['logLik']:.2f}", f"{row['deviance']:.1f}",
                f"{row['Chisq']:.3f}" if has_test else "", f"{int(row['Df'])}" if has_test else "",
                format_pvalue(row["Pr(>Chisq)"]) if has_test else "",
                significance_stars(row["Pr(>Chisq)"]) if has_test else "",
            ])
        lines = ["Models:"] + [f"{n}: {f}" for n, f in getattr(self, "models", [])]
        lines += text_table(header, rows, align=["l"] + ["r"] * 8 + ["l"]).splitlines()
        lines += ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
        return "\n".join(lines)

    __repr__ = __str__


def anova(*fits, names: list[str] | None = None) -> AnovaTable:
    """Compare nested models by likelihood ratio, refitting REML fits by ML as lme4 does.

    Models are ordered by their number of parameters; each row's test is against the row above.
    """
    if len(fits) < 2:
        raise MultilevelError("anova needs at least two fitted models to compare")
    from ..results import LmerFit  # GlmerFit is one too

    for i, fit in enumerate(fits):
        if not isinstance(fit, LmerFit):
            raise ArgumentError(f"anova compares lmer/glmer fits; argument {i + 1} is a {type(fit).__name__}"
                                + (" (Bayesian fits compare with ml.loo_compare)" if getattr(fit, "bayesian", False) else ""))
    names = list(names) if names is not None else [f"m{i + 1}" for i in range(len(fits))]
    if len(names) != len(fits):
        raise MultilevelError("give one name per model")
    nobs = {f.nobs for f in fits}
    if len(nobs) > 1:
        raise MultilevelError(f"models were fitted to different numbers of observations: {sorted(nobs)}")
    responses = {f.design.response_name for f in fits}
    if len(responses) > 1:
        raise MultilevelError(f"models have different responses: {sorted(responses)}")
    ml_fits = [f.refit_ml() for f in fits]
    order = sorted(range(len(fits)), key=lambda i: ml_fits[i].n_parameters)
    rows, previous = [], None
    for i in order:
        f = ml_fits[i]
        row = {"npar": f.n_parameters, "AIC": f.aic, "BIC": f.bic, "logLik": f.loglik,
               "deviance": -2 * f.loglik, "Chisq": np.nan, "Df": np.nan, "Pr(>Chisq)": np.nan}
        if previous is not None:
            chisq = max(2 * (f.loglik - previous.loglik), 0.0)
            df = f.n_parameters - previous.n_parameters
            row.update({"Chisq": chisq, "Df": df, "Pr(>Chisq)": stats.chi2.sf(chisq, df) if df > 0 else np.nan})
        rows.append(row)
        previous = f
    table = AnovaTable(rows, index=[names[i] for i in order])
    table.models = [(names[i], fits[i].formula) for i in order]
    return table
