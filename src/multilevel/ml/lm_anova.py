"""Analysis of variance and deviance for lm and glm fits, as R's ``anova.lm``, ``anova.lmlist``,
``anova.glm`` and ``anova.glmlist`` (the tables print as R's ``print.anova``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ArgumentError, MultilevelError
from ..options import choice
from ..results.rprint import RTable
from .glm import irls


def term_columns(fit) -> list[tuple[str, list[int]]]:
    """(term label, indices of its estimable columns) in the formula's order, the intercept first as
    ``"(Intercept)"`` (R's ``assign``); a term whose columns were all aliased keeps an empty list."""
    spec = fit.design.fixed.spec
    from ..design import r_names

    full = r_names(fit.design, [str(c) for c in spec.column_names])
    kept = {name: j for j, name in enumerate(fit.design.fixed.column_names)}
    out = []
    for term, indices in spec.term_indices.items():
        label = "(Intercept)" if str(term) == "1" else r_names(fit.design, [str(term)])[0]
        out.append((label, [kept[full[i]] for i in indices if full[i] in kept]))
    return out


def anova_lm(fit) -> RTable:
    """Sequential sums of squares from the QR effects (R's ``anova(lm)``)."""
    from scipy import stats

    effects = fit.solution.effects[: fit.rank]
    rss, dfr = fit.deviance, fit.df_residual
    rows, names = [], []
    for label, columns in term_columns(fit):
        if not columns or label == "(Intercept)":
            continue
        ss = float(np.sum(effects[columns] ** 2))
        rows.append((len(columns), ss))
        names.append(label)
    rows.append((dfr, rss))
    names.append("Residuals")
    df = np.array([r[0] for r in rows], dtype=float)
    ss = np.array([r[1] for r in rows])
    ms = ss / df
    f = ms / (rss / dfr)
    p = stats.f.sf(f, df, dfr)
    f[-1], p[-1] = np.nan, np.nan
    table = RTable({"Df": df, "Sum Sq": ss, "Mean Sq": ms, "F value": f, "Pr(>F)": p}, index=names)
    table.heading = ["Analysis of Variance Table", "", f"Response: {fit.response_name}"]
    return table


def _stat_anova(table: pd.DataFrame, test: str | None, scale: float, df_scale: float, dev_col: str) -> pd.DataFrame:
    """R's ``stat.anova`` for ``"Chisq"`` (alias ``"LRT"``) and ``"F"``."""
    from scipy import stats

    if test is None:
        return table
    dfs = table["Df"].to_numpy(dtype=float)
    dev = table[dev_col].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if test in ("Chisq", "LRT"):
            values = dev / scale * np.sign(dfs)
            values[(dfs == 0) | (values < 0)] = np.nan
            table["Pr(>Chi)"] = stats.chi2.sf(values, np.abs(dfs))
        else:
            fvalue = dev / dfs / scale
            fvalue[(dfs == 0) | (fvalue < 0)] = np.nan
            table["F"] = fvalue
            table["Pr(>F)"] = stats.f.sf(fvalue, np.abs(dfs), df_scale)
    return table


def _check_test(test):
    return None if test is None else choice("test", test, ["Chisq", "LRT", "F"])


def anova_glm(fit, test: str | None = "Chisq") -> RTable:
    """Analysis of deviance with terms added sequentially (R's ``anova(glm, test=)``)."""
    test = _check_test(test)
    terms = [(label, cols) for label, cols in term_columns(fit) if label != "(Intercept)"]
    x, y = fit.design.fixed.matrix, fit.design.response
    weights, offset = fit._prior_weights(), fit._offset()
    intercept = [j for label, cols in term_columns(fit) if label == "(Intercept)" for j in cols]
    resdf, resdev = [fit.df_null], [fit.null_deviance]
    used = list(intercept)
    for label, cols in terms[:-1]:
        used += cols
        sub = irls(x[:, sorted(used)], y, weights, offset, fit.family)
        resdf.append(fit.nobs - len(used))
        resdev.append(sub.deviance)
    if terms:
        resdf.append(fit.df_residual)
        resdev.append(fit.deviance)
    resdf, resdev = np.array(resdf, dtype=float), np.array(resdev)
    table = pd.DataFrame({"Df": np.r_[np.nan, -np.diff(resdf)], "Deviance": np.r_[np.nan, np.maximum(0, -np.diff(resdev))],
                          "Resid. Df": resdf, "Resid. Dev": resdev}, index=["NULL"] + [t[0] for t in terms])
    dispersion = fit.dispersion
    table = _stat_anova(table, test, dispersion, np.inf if dispersion == 1 else fit.df_residual, "Deviance")
    out = RTable(table)
    out.heading = ["Analysis of Deviance Table", "", f"Model: {fit.family.name}, link: {fit.family.link.name}", "",
                   f"Response: {fit.response_name}", "", "Terms added sequentially (first to last)", "", ""]
    return out


def _model_notes(fits) -> list[str]:
    width = len(str(len(fits)))
    return [f"Model {str(i + 1).rjust(width)}: {f.formula}" for i, f in enumerate(fits)]


def _same_data(fits) -> None:
    nobs = {f.nobs for f in fits}
    if len(nobs) > 1:
        raise MultilevelError(f"models were fitted to different numbers of observations: {sorted(nobs)}")
    responses = {f.response_name for f in fits}
    if len(responses) > 1:
        raise MultilevelError(f"models have different responses: {sorted(responses)}")


def anova_lmlist(fits, test: str | None = "F") -> RTable:
    """F tests between nested linear models, in the order given (R's ``anova(lm1, lm2, ...)``)."""
    test = _check_test(test)
    _same_data(fits)
    resdf = np.array([f.df_residual for f in fits], dtype=float)
    rss = np.array([f.deviance for f in fits])
    table = pd.DataFrame({"Res.Df": resdf, "RSS": rss, "Df": np.r_[np.nan, -np.diff(resdf)],
                          "Sum of Sq": np.r_[np.nan, -np.diff(rss)]}, index=[str(i + 1) for i in range(len(fits))])
    big = int(np.argmin(resdf))
    table = _stat_anova(table, test, rss[big] / resdf[big], resdf[big], "Sum of Sq")
    out = RTable(table)
    out.heading = ["Analysis of Variance Table", ""] + _model_notes(fits)
    return out


def anova_glmlist(fits, test: str | None = "Chisq") -> RTable:
    """Deviance tests between nested GLMs, in the order given (R's ``anova(glm1, glm2, test=)``)."""
    test = _check_test(test)
    _same_data(fits)
    families = {(f.family.name, f.family.link.name) for f in fits}
    if len(families) > 1:
        raise ArgumentError(f"the models have different families or links: {sorted(families)}")
    resdf = np.array([f.df_residual for f in fits], dtype=float)
    resdev = np.array([f.deviance for f in fits])
    table = pd.DataFrame({"Resid. Df": resdf, "Resid. Dev": resdev, "Df": np.r_[np.nan, -np.diff(resdf)],
                          "Deviance": np.r_[np.nan, -np.diff(resdev)]}, index=[str(i + 1) for i in range(len(fits))])
    big = int(np.argmin(resdf))
    dispersion = fits[big].dispersion
    table = _stat_anova(table, test, dispersion, np.inf if dispersion == 1 else resdf.min(), "Deviance")
    out = RTable(table)
    out.heading = ["Analysis of Deviance Table", ""] + _model_notes(fits)
    return out
