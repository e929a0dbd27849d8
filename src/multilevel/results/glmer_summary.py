"""glmer-style summary: family and link, information criteria, z tests."""
from __future__ import annotations

from html import escape

import numpy as np

from .format import (coefficient_decimals, format_column, format_fixed, format_pvalue, html_messages, html_table,
                     significance_stars, text_table)
from .summary import _correlation_block, _groups_line, random_effects_rows


def _title(fit) -> str:
    method = "Laplace Approximation" if fit.nagq <= 1 else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {fit.nagq}"
    return f"Generalized linear mixed model fit by maximum likelihood ({method}) ['glmerMod']"


def _header(fit) -> list[str]:
    lines = [_title(fit), f" Family: {fit.family.display}  ( {fit.family.link.name} )",
             f"Formula: {fit.formula}", f"   Data: {fit.data_name}"]
    if fit.design.n_dropped:
        detail = ", ".join(f"{k}: {v}" for k, v in fit.design.dropped_by_column.items())
        lines.append(f"Rows dropped for missing values: {fit.design.n_dropped} ({detail})")
    return lines


def _criteria(fit) -> tuple[list[str], list[str]]:
    header = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    values = [f"{fit.aic:.1f}", f"{fit.bic:.1f}", f"{fit.loglik:.1f}", f"{-2 * fit.loglik:.1f}", f"{fit.df_resid}"]
    return header, values


NO_FIXED = "No fixed effect coefficients"  # lme4's line for y ~ 0 + (...)


def fixed_effects_rows(fit):
    table = fit.coef_table()
    decimals = coefficient_decimals(table["Estimate"], table["Std. Error"])
    est = format_fixed(table["Estimate"], decimals)
    se = format_fixed(table["Std. Error"], decimals)
    ratio = table.columns[2]  # "z value", or lme4's "t value" for the families with a dispersion
    zval = format_fixed(table[ratio], 3)
    rows = []
    for name, e, s, zv, p in zip(table.index, est, se, zval, table["Pr(>|z|)"]):
        rows.append([name, e, s, zv, format_pvalue(p, digits=3), significance_stars(p)])
    return ["", "Estimate", "Std. Error", ratio, "Pr(>|z|)", ""], rows


class GlmerSummary:
    """What ``fit.summary()`` returns for a GLMM: prints like lme4's, renders as HTML in Jupyter."""

    def __init__(self, fit):
        self.fit = fit

    def __str__(self) -> str:
        fit = self.fit
        lines = _header(fit) + [""]
        header, values = _criteria(fit)
        lines += text_table(header, [values], align=["r"] * 5).splitlines() + [""]
        q = np.quantile(fit.residuals("pearson", scaled=True), [0, 0.25, 0.5, 0.75, 1])
        lines += ["Scaled residuals: "]
        lines += text_table(["Min", "1Q", "Median", "3Q", "Max"], [format_column(q, 4)], align=["r"] * 5).splitlines()
        header, rows = random_effects_rows(fit)
        lines += ["", "Random effects:"] + text_table(header, rows, align=["l"] * 12, indent=" ").splitlines()
        lines += [_groups_line(fit), ""]
        header, rows = fixed_effects_rows(fit)
        if rows:
            lines += ["Fixed effects:"] + text_table(header, rows, align=["l"] + ["r"] * 4 + ["l"]).splitlines()
            lines += ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
        else:
            lines += [NO_FIXED]
        corr = _correlation_block(fit)
        if corr:
            lines += [""] + corr
        for message in fit.messages:
            lines += ["", message]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        fit = self.fit
        header, values = _criteria(fit)
        lines = [f"<b>{escape(_title(fit))}</b>", escape(f"Family: {fit.family.display} ({fit.family.link.name})"),
                 f"Formula: <code>{escape(str(fit.formula))}</code>", f"Data: {escape(str(fit.data_name))}"]
        lines += [escape(line) for line in _header(fit)[4:]]  # rows dropped for missing values
        parts = ["<p>" + "<br>".join(lines) + "</p>", html_table(header, [values])]
        header, rows = random_effects_rows(fit)
        parts.append(html_table(header, rows, caption="Random effects"))
        header, rows = fixed_effects_rows(fit)
        parts.append(html_table(["Term"] + header[1:], rows, caption="Fixed effects") if rows else f"<p>{NO_FIXED}</p>")
        parts += html_messages(fit.messages)
        return "<div class='multilevel-summary'>" + "".join(parts) + "</div>"


def short_text(fit) -> str:
    lines = _header(fit)
    header, values = _criteria(fit)
    lines += text_table(header, [values], align=["r"] * 5).splitlines()
    header, rows = random_effects_rows(fit, with_variance=False)
    lines += ["Random effects:"] + text_table(header, rows, align=["l"] * 12, indent=" ").splitlines()
    lines.append(_groups_line(fit))
    beta = fit.fixef()
    if beta.empty:
        lines.append(NO_FIXED)
    else:
        values = format_column(beta.to_numpy(), 4)
        lines += ["Fixed Effects:"] + text_table(list(beta.index), [values], align=["r"] * len(values),
                                                 gap="  ").splitlines()
    lines += fit.messages
    return "\n".join(lines)
