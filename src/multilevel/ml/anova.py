"""Likelihood-ratio comparison of nested linear mixed models, as lme4's ``anova(m1, m2, ...)``."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ArgumentError, MultilevelError


class AnovaTable(pd.DataFrame):
    """A DataFrame (npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)) that prints like lme4's
    ``anova``: 'Data:', 'Models:', then R's ``print.anova`` (digits 5, the Chisq column as a test
    statistic, the others zapped, p-values by ``format.pval``)."""

    _metadata = ["models", "data_name"]

    @property
    def _constructor(self):
        return AnovaTable

    def __str__(self) -> str:
        from ..results.rprint import coefmat_lines

        data_name = getattr(self, "data_name", None)
        lines = [f"Data: {data_name}"] if data_name else []
        lines += ["Models:"] + [f"{n}: {f}" for n, f in (getattr(self, "models", None) or [])]
        columns = list(self.columns)
        tst = [columns.index("Chisq")]
        zap = [j for j, c in enumerate(columns) if c not in ("Chisq", "Df", "Pr(>Chisq)")]
        lines += coefmat_lines(pd.DataFrame(self), digits=5, tst=tst, zap=zap, has_p=True, na_print="")
        return "\n".join(lines)

    __repr__ = __str__


def anova(*fits, names: list[str] | None = None, test: str | None = None):
    """Compare nested models, as R's ``anova``.

    - lmer/glmer fits, alone or with lm/glm fits (the complete-pooling baselines): likelihood-ratio
      tests as lme4's ``anova(merMod, ...)``, REML fits refitted by ML; models are ordered by their
      number of parameters and each row's test is against the row above (:class:`AnovaTable`).
    - lm fits only: R's ``anova(lm1, lm2, ...)`` F tests, in the order given (``test="F"``).
    - glm fits only: R's analysis of deviance ``anova(glm1, glm2, ..., test="Chisq")``.
    - one lm or glm fit: its sequential table (``fit.anova()``).
    """
    from scipy import stats

    from ..results import LmerFit  # GlmerFit is one too
    from ..results.glmfit import GlmFit
    from ..results.lmfit import LmFit

    for i, fit in enumerate(fits):
        if not isinstance(fit, (LmerFit, LmFit, GlmFit)):
            raise ArgumentError(f"anova compares lm, glm, lmer and glmer fits; argument {i + 1} is a "
                                f"{type(fit).__name__}"
                                + (" (Bayesian fits compare with ml.loo_compare)" if getattr(fit, "bayesian", False) else ""))
    if len(fits) == 1 and isinstance(fits[0], LmFit):
        return fits[0].anova()
    if len(fits) == 1 and isinstance(fits[0], GlmFit):
        return fits[0].anova(test="Chisq" if test is None else test)
    if len(fits) < 2:
        raise MultilevelError("anova needs at least two fitted models to compare (or one lm or glm fit)")
    from .lm_anova import anova_glmlist, anova_lmlist

    if all(isinstance(f, LmFit) for f in fits):
        return anova_lmlist(fits, test="F" if test is None else test)
    if all(isinstance(f, GlmFit) for f in fits):
        return anova_glmlist(fits, test="Chisq" if test is None else test)
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
    data_names = {getattr(f, "data_name", None) for f in fits}
    table.data_name = data_names.pop() if len(data_names) == 1 else None
    return table
