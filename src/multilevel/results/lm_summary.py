"""R's ``summary.lm`` and ``summary.glm`` as text (line for line) and as escaped HTML tables."""
from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from .format import html_messages, html_table
from .rprint import (
    coefmat_lines,
    format_pvalues,
    r_format,
    r_formatC,
    r_signif,
    zapsmall,
)

DIGITS = 4  # max(3, getOption("digits") - 3), what print.summary.lm and print.summary.glm use


def _family_call(fit) -> str:
    family = fit.family
    from ..families import DEFAULT_LINKS

    if DEFAULT_LINKS.get(family.name) == family.link.name:
        return family.name
    return f'{family.name}(link = "{family.link.name}")'


def call_line(fit) -> str:
    """R's ``Call:`` line: ``lm(formula = y ~ x, data = d)``, with the family and weights where given."""
    parts = [f"formula = {fit.formula}"]
    if fit.engine == "glm":
        parts.append(f"family = {_family_call(fit)}")
    parts.append(f"data = {fit.data_name}")
    if isinstance(fit.call.get("weights"), str):
        parts.append(f"weights = {fit.call['weights']}")
    if isinstance(fit.call.get("offset"), str):
        parts.append(f"offset = {fit.call['offset']}")
    return f"{fit.engine}({', '.join(parts)})"


def _missing_line(fit) -> list[str]:
    n = fit.design.n_dropped
    if not n:
        return []
    detail = ", ".join(f"{k}: {v}" for k, v in fit.design.dropped_by_column.items())
    return [f"  ({n} observation{'s' if n > 1 else ''} deleted due to missingness; {detail})"]


def _coefficient_block(fit, digits: int = DIGITS) -> list[str]:
    """'Coefficients:' with R's printCoefmat layout; aliased coefficients as NA rows."""
    table = fit.coef_table().reindex(fit.all_column_names)
    head = "Coefficients:"
    if fit.aliased:
        head += f" ({len(fit.aliased)} not defined because of singularities)"
    return [head] + coefmat_lines(table, digits=digits, cs=[0, 1], tst=[2], has_p=True)


def _residual_block(fit) -> list[str]:
    weights = fit.design.weights
    weighted = weights is not None and np.ptp(weights) > 0  # R says "Weighted" only for varying weights
    res = fit.residuals("pearson" if fit.engine == "lm" else "deviance")  # zero-weight rows show as 0, as R
    title = ("Weighted Residuals:" if weighted else "Residuals:") if fit.engine == "lm" else "Deviance Residuals: "
    if fit.engine == "lm" and fit.df_residual <= 5:
        if fit.df_residual <= 0:
            return [f"ALL {fit.nobs} residuals are 0: no residual degrees of freedom!"]
        names = [str(i + 1) for i in range(len(res))]
        values = [s.strip() for s in r_format(res, DIGITS)]
    else:
        names = ["Min", "1Q", "Median", "3Q", "Max"]
        quantiles = zapsmall(np.quantile(res, [0, 0.25, 0.5, 0.75, 1]), DIGITS + 1)
        values = [s.strip() for s in r_format(quantiles, DIGITS)]
    width = max(len(c) for c in names + values)  # R prints a named vector in one common width
    return [title, " ".join(n.rjust(width) for n in names) + " ", " ".join(v.rjust(width) for v in values) + " "]


def lm_lines(fit) -> list[str]:
    lines = ["", "Call:", call_line(fit), ""]
    lines += _residual_block(fit) + [""]
    lines += _coefficient_block(fit) + [""]
    fitted = fit.fitted()
    if fit.df_residual > 0 and fit.sigma**2 < (np.mean(fitted) ** 2 + np.var(fitted, ddof=1)) * 1e-30:
        lines.append("(essentially perfect fit: summary may be unreliable, as R warns)")
    lines.append(f"Residual standard error: {r_signif(fit.sigma, DIGITS)} on {fit.df_residual} degrees of freedom")
    lines += _missing_line(fit)
    f = fit.fstatistic()
    if f is not None:
        lines.append(f"Multiple R-squared:  {r_formatC(fit.r_squared, DIGITS)},\tAdjusted R-squared:  "
                     f"{r_formatC(fit.adj_r_squared, DIGITS)} ")
        lines.append(f"F-statistic: {r_formatC(f[0], DIGITS)} on {f[1]} and {f[2]} DF,  p-value: "
                     f"{format_pvalues([fit.f_pvalue()], DIGITS)[0]}")
    lines += fit.messages
    return lines + [""]


def glm_lines(fit) -> list[str]:
    """R >= 4.3's summary.glm (no deviance-residual quantiles; R 4.2 printed them after Call:)."""
    lines = ["", "Call:", call_line(fit), ""]
    lines += _coefficient_block(fit) + [""]
    lines.append(f"(Dispersion parameter for {fit.family.name} family taken to be "
                 f"{r_format([fit.dispersion], 7)[0].strip()})")
    lines.append("")
    deviances = [s.strip() for s in r_format([fit.null_deviance, fit.deviance], max(5, DIGITS + 1))]
    dfs = [str(fit.df_null), str(fit.df_residual)]
    width = max(map(len, dfs))
    for label, dev, df in zip(("    Null", "Residual"), deviances, dfs):
        lines.append(f"{label} deviance: {dev}  on {df.rjust(width)}  degrees of freedom")
    lines += _missing_line(fit)
    lines.append(f"AIC: {r_format([fit.aic], max(4, DIGITS + 1))[0].strip()}")
    lines += ["", f"Number of Fisher Scoring iterations: {fit.iterations}"]
    lines += fit.messages
    return lines + [""]


class _Summary:
    def __init__(self, fit):
        self.fit = fit

    def lines(self) -> list[str]:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def __str__(self) -> str:
        return "\n".join(self.lines())

    __repr__ = __str__

    @property
    def coefficients(self) -> pd.DataFrame:
        """The coefficient table (R's ``summary(fit)$coefficients``), estimable rows only."""
        return self.fit.coef_table()

    def _stats_lines(self) -> list[str]:  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    def _repr_html_(self) -> str:
        fit = self.fit
        table = fit.coef_table().reindex(fit.all_column_names)
        rows = [[name] + ["NA" if not np.isfinite(v) else f"{v:.6g}" for v in row]
                for name, row in zip(table.index, table.to_numpy(dtype=float))]
        title = "Linear model" if fit.engine == "lm" else f"Generalized linear model ({fit.family.name}, {fit.family.link.name} link)"
        head = [f"<b>{escape(title)}</b>", f"Call: <code>{escape(call_line(fit))}</code>"]
        parts = ["<p>" + "<br>".join(head) + "</p>",
                 html_table(["Term"] + list(table.columns), rows, caption="Coefficients")]
        parts.append("<p>" + "<br>".join(escape(line) for line in self._stats_lines()) + "</p>")
        parts += html_messages(fit.messages)
        return "<div class='multilevel-summary'>" + "".join(parts) + "</div>"


class LmSummary(_Summary):
    """What ``lm_fit.summary()`` returns: prints as R's ``summary(lm)``, renders as HTML in Jupyter."""

    def lines(self) -> list[str]:
        return lm_lines(self.fit)

    def _stats_lines(self) -> list[str]:
        lines = lm_lines(self.fit)
        start = next(i for i, line in enumerate(lines) if line.startswith("Residual standard error"))
        return [line for line in lines[start:] if line]


class GlmSummary(_Summary):
    """What ``glm_fit.summary()`` returns: prints as R's ``summary(glm)``, renders as HTML in Jupyter."""

    def lines(self) -> list[str]:
        return glm_lines(self.fit)

    def _stats_lines(self) -> list[str]:
        lines = glm_lines(self.fit)
        start = next(i for i, line in enumerate(lines) if line.startswith("(Dispersion"))
        return [line for line in lines[start:] if line]


def short_text(fit) -> str:
    """R's ``print(lm)`` / ``print(glm)``: the call and the coefficients."""
    coef = fit.coef()
    values = [s.strip() for s in r_format(coef.to_numpy(), DIGITS)]
    lines = ["", "Call:", call_line(fit), "", "Coefficients:"]
    width = max(len(c) for c in list(coef.index) + values)  # R pads names and values to one width
    lines.append("  ".join(n.rjust(width) for n in coef.index))
    lines.append("  ".join(v.rjust(width) for v in values))
    if fit.engine == "glm":
        lines += ["", f"Degrees of Freedom: {fit.df_null} Total (i.e. Null);  {fit.df_residual} Residual",
                  f"Null Deviance:\t    {r_format([fit.null_deviance], DIGITS)[0].strip()} ",
                  (f"Residual Deviance: {r_format([fit.deviance], DIGITS)[0].strip()} \tAIC: "
                   f"{r_format([fit.aic], DIGITS)[0].strip()}")]
    lines += fit.messages
    return "\n".join(lines)
