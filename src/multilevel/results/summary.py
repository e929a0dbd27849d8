"""lme4-style summary of a linear mixed model, as text for terminals and HTML for notebooks."""
from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from .format import (abbreviate, coefficient_decimals, decimals_for, format_column, format_fixed, html_messages,
                     html_table, text_table)


def _title(fit) -> str:
    method = "REML" if fit.reml else "maximum likelihood "
    return f"Linear mixed model fit by {method} ['lmerMod']"


def _fit_lines(fit) -> list[str]:
    lines = [_title(fit), f"Formula: {fit.formula}", f"   Data: {fit.data_name}"]
    w = fit.design.weights
    if w is not None:
        lines.append("Weights: supplied")
    if fit.design.n_dropped:
        detail = ", ".join(f"{k}: {v}" for k, v in fit.design.dropped_by_column.items())
        lines.append(f"Rows dropped for missing values: {fit.design.n_dropped} ({detail})")
    return lines


def _criterion_block(fit) -> list[str]:
    if fit.reml:
        return [f"REML criterion at convergence: {fit.reml_criterion:.1f}"]
    header = ["AIC", "BIC", "logLik", "deviance", "df.resid"]
    values = [f"{fit.aic:.1f}", f"{fit.bic:.1f}", f"{fit.loglik:.1f}", f"{fit.deviance:.1f}", f"{fit.df_resid}"]
    return text_table(header, [values], align=["r"] * 5).splitlines()


def _scaled_residuals(fit) -> tuple[list[str], list[str]]:
    q = np.quantile(fit.residuals(scaled=True), [0, 0.25, 0.5, 0.75, 1.0])
    return ["Min", "1Q", "Median", "3Q", "Max"], format_column(q, 4)


def random_effects_rows(fit, with_variance: bool = True, varcorr=None, digits: int = 4) -> tuple[list[str], list[list[str]]]:
    """Rows of the 'Random effects' table: Groups, Name, Variance, Std.Dev., Corr...

    ``digits`` as R's ``format(, digits)`` (lme4: 4 in summaries, 5 in ``print(VarCorr(fit))``);
    correlations get ``digits - 2`` decimals, as lme4 prints them.
    """
    from .lmerfit import unique_group_names

    vc = pd.DataFrame(fit.varcorr() if varcorr is None else varcorr)
    variances = vc[vc.var2.isna()]
    # R formats each column to a common width, then left-aligns it under its header
    var_text = dict(zip(variances.index, _common_width(format_column(variances.vcov, digits))))
    sd_text = dict(zip(variances.index, _common_width(format_column(variances.sdcor, digits))))
    rows, max_corr = [], 0
    names = unique_group_names([t.group_name for t in fit.design.terms])
    for name, term in zip(names, fit.design.terms):
        block = vc[(vc.grp == name)]
        diag = block[block.var2.isna()]
        corr = block[block.var2.notna()]
        cols = list(term.column_names)
        max_corr = max(max_corr, len(cols) - 1 if term.covariance.correlated else 0)
        # R formats each term's correlation matrix to one width (a negative value widens them all)
        width = max([len(f"{v:.{digits - 2}f}") for v in corr.sdcor] + [digits - 1])
        for i, (idx, row) in enumerate(diag.iterrows()):
            corr_cells = []
            for j in range(i if term.covariance.correlated else 0):
                value = corr[(corr.var1 == cols[j]) & (corr.var2 == cols[i])].sdcor.iloc[0]
                corr_cells.append(f"{value:.{digits - 2}f}".rjust(width))
            structure = term.covariance.structure
            label = name if structure == "us" else f"{name} ({structure})"  # glmmTMB's "Subject (ar1)"
            cells = [label if i == 0 else "", row.var1]
            cells += [var_text[idx], sd_text[idx]] if with_variance else [sd_text[idx]]
            rows.append(cells + corr_cells)
    if fit.has_residual_variance:
        resid = vc.index[-1]
        rows.append(["Residual", ""] + ([var_text[resid], sd_text[resid]] if with_variance else [sd_text[resid]]))
    header = ["Groups", "Name"] + (["Variance", "Std.Dev."] if with_variance else ["Std.Dev."])
    if max_corr:
        header += ["Corr"] + [""] * (max_corr - 1)
    rows = [r + [""] * (len(header) - len(r)) for r in rows]
    return header, rows


class VarCorrTable(pd.DataFrame):
    """lme4's ``as.data.frame(VarCorr(fit))`` (grp, var1, var2, vcov, sdcor) that prints as ``VarCorr(fit)``:
    Groups, Name, Std.Dev. and correlations. Filtering or slicing it gives a plain DataFrame."""

    _metadata = ["_text", "_html"]

    @property
    def _constructor(self):
        return pd.DataFrame

    @classmethod
    def of(cls, frame: pd.DataFrame, fit) -> "VarCorrTable":
        table = cls(frame)
        header, rows = random_effects_rows(fit, with_variance=False, varcorr=frame, digits=5)
        table._text = text_table(header, rows, align=["l"] * len(header), indent=" ")
        table._html = html_table(header, rows, caption="Random effects")
        return table

    def __str__(self) -> str:
        return self._text

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self._html


def _common_width(cells: list[str]) -> list[str]:
    width = max((len(c) for c in cells), default=0)
    return [c.rjust(width) for c in cells]


def _groups_line(fit) -> str:
    groups = "; ".join(f"{g}, {n}" for g, n in fit.ngroups.items())
    return f"Number of obs: {fit.nobs}, groups:  {groups}"


def fixed_effects_rows(fit) -> tuple[list[str], list[list[str]]]:
    table = fit.coef_table()
    decimals = coefficient_decimals(table["Estimate"], table["Std. Error"])
    est = format_fixed(table["Estimate"], decimals)
    se = format_fixed(table["Std. Error"], decimals)
    tval = format_fixed(table["t value"], 3)
    rows = [[name, e, s, t] for name, e, s, t in zip(table.index, est, se, tval)]
    return ["", "Estimate", "Std. Error", "t value"], rows


def _correlation_block(fit) -> list[str]:
    cov = fit.vcov().to_numpy()
    names = list(fit.vcov().index)
    if len(names) < 2:
        return []
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    short = [abbreviate(n) for n in names[:-1]]
    rows = []
    for i, name in enumerate(names[1:], start=1):
        rows.append([name] + [f"{corr[i, j]:.3f}" for j in range(i)] + [""] * (len(names) - 1 - i))
    return ["Correlation of Fixed Effects:"] + text_table([""] + short, rows).splitlines()


class LmerSummary:
    """What ``fit.summary()`` returns: prints like lme4's ``summary()``, renders as HTML in Jupyter."""

    def __init__(self, fit):
        self.fit = fit

    def __str__(self) -> str:
        fit = self.fit
        lines = _fit_lines(fit) + [""] + _criterion_block(fit) + [""]
        header, values = _scaled_residuals(fit)
        lines += ["Scaled residuals: "] + text_table(header, [values], align=["r"] * 5).splitlines() + [""]
        header, rows = random_effects_rows(fit)
        lines += ["Random effects:"] + text_table(header, rows, align=["l"] * 12, indent=" ").splitlines()
        lines += [_groups_line(fit), ""]
        header, rows = fixed_effects_rows(fit)
        lines += ["Fixed effects:"] + text_table(header, rows).splitlines()
        corr = _correlation_block(fit)
        if corr:
            lines += [""] + corr
        if fit.design.fixed.dropped_columns:
            lines += ["", f"fixed-effect model matrix is rank deficient so dropped: "
                      f"{', '.join(fit.design.fixed.dropped_columns)}"]
        for message in fit.messages:
            lines += ["", message]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        # every piece of user text (formula, data name, group names, messages) is escaped where it
        # enters the HTML: a column or file named "<script>..." must show as text, not run
        fit = self.fit
        lines = [f"<b>{escape(_title(fit))}</b>", f"Formula: <code>{escape(str(fit.formula))}</code>",
                 f"Data: {escape(str(fit.data_name))}"] + [escape(line) for line in _fit_lines(fit)[3:]]
        lines.append(f"Number of obs: {fit.nobs}; groups: "
                     + escape("; ".join(f"{g}, {n}" for g, n in fit.ngroups.items())))
        parts = ["<p>" + "<br>".join(lines) + "</p>"]
        if fit.reml:
            parts.append(f"<p>REML criterion at convergence: {fit.reml_criterion:.1f}</p>")
        else:
            parts.append(html_table(["AIC", "BIC", "logLik", "deviance", "df.resid"],
                                    [[f"{fit.aic:.1f}", f"{fit.bic:.1f}", f"{fit.loglik:.1f}",
                                      f"{fit.deviance:.1f}", str(fit.df_resid)]]))
        header, rows = random_effects_rows(fit)
        parts.append(html_table(header, rows, caption="Random effects"))
        header, rows = fixed_effects_rows(fit)
        parts.append(html_table(["Term"] + header[1:], rows, caption="Fixed effects"))
        parts += html_messages(fit.messages)
        return "<div class='multilevel-summary'>" + "".join(parts) + "</div>"


def short_text(fit) -> str:
    """``print(fit)``: lme4's short display."""
    lines = _fit_lines(fit)
    if fit.reml:
        lines.append(f"REML criterion at convergence: {fit.reml_criterion:.3f}")
    else:
        lines += _criterion_block(fit)
    header, rows = random_effects_rows(fit, with_variance=False)
    lines += ["Random effects:"] + text_table(header, rows, align=["l"] * 12, indent=" ").splitlines()
    lines += [_groups_line(fit), "Fixed Effects:"]
    beta = fit.fixef()
    dec = decimals_for(beta.to_numpy(), 4)
    values = [f"{v:.{dec}f}" for v in beta]
    lines += text_table(list(beta.index), [values], align=["r"] * len(values), gap="  ").splitlines()
    for message in fit.messages:
        lines.append(message)
    return "\n".join(lines)
